-- spec/support/hostile_sender.lua: an attacker for spec/hostile_spec.lua, run as its own
-- process:
--
--   rumor run spec/support/hostile_sender.lua --targets 127.0.0.1:7001,127.0.0.1:7002
--     --cluster NAME --seconds 30 --rate 3000 [--oversize 65000] [--tcp 6]
--     [--victim ID,GENERATION,MAX_SEQ,ADDRESS,KEY] [--forge seq,generation,future]
--     [--seed N] [--kinds a,b] [--secret KEY_B64]
--
-- Sends --rate datagrams a second for --seconds, round-robin over the targets and over
-- the attack kinds of spec/support/hostile.lua (each kind reaches each target), from
-- one UDP socket that also keeps what the cluster sends it, for replays. Holds --tcp
-- half-open connections to each target's TCP port (the same number): silent, 2 bytes
-- of a length prefix, or a prefix announcing 1 GiB; one the node closes is reopened.
-- Prints one JSON line at the end: {"sent":{kind:n},"send_errors":n,"captured":n,
-- "tcp":{"opened":{style:n},"closed_by_peer":{style:n},"failed":{style:n}},"seconds":s,
-- "seed":n}, and exits 0.
-- Uses luv alone (no rumor node); --kinds limits the mix to the kinds named;
-- --send HEX,... sends only those datagrams, once to each target (--cluster is then
-- not needed). With
-- --secret (a keyed cluster's key) every datagram is sealed with it, unless its kind
-- says sealed = false, and the sealed kinds join the mix (spec/support/hostile.lua).
local uv = require("luv")

-- The repository root, so that spec.support.* load wherever we are started from.
local script = arg and arg[0] or ""
local root = script:match("^(.*)/spec/support/[^/]*$") or (script:match("^spec/support/") and ".")
if root then package.path = root .. "/?.lua;" .. package.path end
local hostile = require("spec.support.hostile")
local json = require("rumor.json")

local function usage(msg)
  io.stderr:write("hostile_sender: ", msg, "\n")
  os.exit(2)
end

local opts = { seconds = 30, rate = 3000, oversize = 65000, tcp = 6, seed = os.time() }
do
  local i = 1
  while arg[i] do
    local name, value = arg[i]:match("^%-%-([%w_]+)$"), arg[i + 1]
    if not name or value == nil then usage("bad argument " .. tostring(arg[i])) end
    opts[name] = tonumber(value) or value
    i = i + 2
  end
end
if type(opts.targets) ~= "string" then usage("--targets host:port,... is required") end
if type(opts.cluster) ~= "string" and not opts.send then usage("--cluster NAME is required") end

local targets = {}
for address in opts.targets:gmatch("[^,]+") do
  local host, port = address:match("^(.+):(%d+)$")
  if not host then usage("bad target " .. address) end
  targets[#targets + 1] = { host = host, port = tonumber(port), address = address }
end

math.randomseed(opts.seed)
local udp = uv.new_udp()
assert(udp:bind("127.0.0.1", 0))
udp:send_buffer_size(4 * 1024 * 1024)

-- --send HEX[,HEX...]: those datagrams, once each to every target, in order; nothing
-- else. For specs that must not load luv themselves.
if opts.send then
  local n = 0
  for hex in tostring(opts.send):gmatch("[^,]+") do
    local d = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    for _, t in ipairs(targets) do
      assert(udp:try_send(d, t.host, t.port))
      n = n + 1
    end
  end
  udp:close()
  uv.run()
  io.stdout:write(json.encode{ sent = { given = n } }, "\n")
  return
end

local ctx = {
  cluster = opts.cluster,
  me = "127.0.0.1:" .. udp:getsockname().port,
  oversize = opts.oversize,
  phantom = "hostile-" .. opts.seed,
  captured = {},
  random = math.random,
  forge = {},
}
if opts.secret then
  local internal = require("rumor")._internal
  if type(internal.seal) ~= "function" then usage("--secret needs a rumor with rumor._internal.seal") end
  local counter = 0
  ctx.now_ms = function()
    local sec, usec = uv.gettimeofday()
    return sec * 1000 + usec // 1000
  end
  ctx.seal = function(plaintext, key, wall_ms)
    counter = counter + 1
    return internal.seal(key or opts.secret, plaintext, wall_ms or ctx.now_ms(), counter)
  end
  ctx.other_key = require("rumor").keygen()
end
for how in tostring(opts.forge or "seq,generation"):gmatch("[^,]+") do ctx.forge[#ctx.forge + 1] = how end
if opts.victim then
  local id, gen, seq, address, key = tostring(opts.victim):match("^([^,]+),(%d+),(%d+),([^,]+),([^,]+)$")
  if not id then usage("--victim ID,GENERATION,MAX_SEQ,ADDRESS,KEY") end
  ctx.victim = { id = id, generation = math.tointeger(tonumber(gen)), max_seq = math.tointeger(tonumber(seq)),
                 address = address, key = key }
end

-- The rotation: each kind weight times, in one list.
local wanted
if opts.kinds then
  wanted = {}
  for name in tostring(opts.kinds):gmatch("[^,]+") do
    if not hostile.by_name(name) then usage("unknown kind " .. name) end
    wanted[name] = true
  end
end
local rotation, sent = {}, {}
for _, k in ipairs(hostile.active(ctx.seal ~= nil)) do
  local usable = (not wanted or wanted[k.name]) and (k.at == nil or ctx.victim ~= nil)
  if usable then
    sent[k.name] = 0
    for _ = 1, k.weight do rotation[#rotation + 1] = k end
  end
end
if #rotation == 0 then usage("no kind to send") end

-- What the cluster sends us (its members gossip to the phantom, which has our address).
local MAX_CAPTURED = 64
udp:recv_start(function(err, data)
  if err or not data or data:sub(1, 2) ~= "RM" then return end
  local c = ctx.captured
  if #c < MAX_CAPTURED then c[#c + 1] = data else c[math.random(1, MAX_CAPTURED)] = data end
end)

local send_errors, count = 0, 0
local function send_one()
  local target = targets[count % #targets + 1]
  local kind = rotation[(count // #targets) % #rotation + 1]
  count = count + 1
  local d = kind.make(ctx, target)
  if ctx.seal and kind.sealed ~= false then d = ctx.seal(d) end
  local n = udp:try_send(d, target.host, target.port)
  if n then sent[kind.name] = sent[kind.name] + 1 else send_errors = send_errors + 1 end
end

-- Half-open TCP connections, reopened when the node closes them.
local STYLES = { "silent", "prefix2", "huge" }
local tcp = { opened = {}, closed_by_peer = {}, failed = {} }
for _, counts in pairs(tcp) do
  for _, style in ipairs(STYLES) do counts[style] = 0 end
end
local stopping = false
local conns = {}
local function open_conn(target, style)
  if stopping then return end
  local c = uv.new_tcp()
  conns[c] = true
  local function again()
    conns[c] = nil
    if not c:is_closing() then c:close() end
    if stopping then return end
    local t = uv.new_timer()
    t:start(50, 0, function() t:close() open_conn(target, style) end)
  end
  c:connect(target.host, target.port, function(err)
    if err then
      tcp.failed[style] = tcp.failed[style] + 1
      return again()
    end
    tcp.opened[style] = tcp.opened[style] + 1
    if style == "prefix2" then c:write("\0\0")
    elseif style == "huge" then c:write(string.pack(">I4", 1 << 30)) end
    c:read_start(function(rerr, data)
      if rerr or not data then
        tcp.closed_by_peer[style] = tcp.closed_by_peer[style] + 1
        again()
      end
    end)
  end)
end
for _, target in ipairs(targets) do
  for i = 1, opts.tcp do open_conn(target, STYLES[(i - 1) % #STYLES + 1]) end
end

-- Sends what the rate asks for by now, every 5 ms (at most 50 ms' worth at once, so a
-- stalled sender does not burst).
local start = uv.hrtime()
local ticker = uv.new_timer()
local function elapsed() return (uv.hrtime() - start) / 1e9 end
ticker:start(5, 5, function()
  local t = elapsed()
  if t >= opts.seconds then
    ticker:stop()
    ticker:close()
    stopping = true
    for c in pairs(conns) do if not c:is_closing() then c:close() end end
    udp:recv_stop()
    udp:close()
    return
  end
  local due = math.floor(t * opts.rate) - count
  local most = math.max(1, opts.rate // 20)
  for _ = 1, math.min(due, most) do send_one() end
  if due > most then count = math.floor(t * opts.rate) end   -- skipped, not owed
end)

uv.run()
io.stdout:write(json.encode{ sent = sent, send_errors = send_errors, captured = #ctx.captured, tcp = tcp,
                             seconds = elapsed(), seed = opts.seed }, "\n")
io.stdout:flush()

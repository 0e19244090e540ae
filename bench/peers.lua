-- peers.lua: the figures of shared/research/PEERS.md, taken again on this machine in
-- this run, for Serf (Debian `serf`) and Tarantool's `swim` module, so that a report can
-- put them beside rumor's own bench lines.
--   rumor run bench/peers.lua [--systems serf,swim] [--nodes 10,100] [--repeats R]
--       [--trials T] [--only convergence,idle,failure] [--seconds 30] [--settle S]
-- One OS process per node (a `serf agent`, or a `tarantool bench/peers/swim_node.lua`),
-- every one at its system's defaults except where a line says otherwise. All of them
-- run inside one private network namespace (`unshare -n`, lo up), so that lo's
-- counters see nothing but the cluster under test and no port can clash with anything
-- else on the machine. Prints one JSON line per figure:
--   convergence  one member changes its own data (Serf: `serf tags -set`; swim:
--                set_payload) until every other member's handler saw it; p50/p99/max
--                over receivers and repeats, stamped by the receiving process's wall
--                clock, from the moment the changing member applied it. Serf's event
--                handler only runs once its coalescer flushes (>= 1 s), so Serf lines
--                also carry *_protocol: the same change timed by the agents'
--                "EventMemberUpdate" log lines, stamped here on arrival.
--   idle         a settled cluster, left alone for --seconds: lo's tx bytes and packets
--                (IP level, /proc/<pid in the namespace>/net/dev, the same counters as
--                that namespace's /sys/class/net/lo/statistics), CPU from /proc/PID/stat
--                and VmRSS from /proc/PID/status, per node.
--   failure      SIGKILL one member; time until every survivor reported it failed
--                (Serf: its member-failed event, also *_protocol from the log; swim: its
--                on_member_event saw it dead or dropped), stamped here on arrival.
--                p50/max over trials of the LAST survivor's report.
-- Defaults: convergence and idle at N = 10 and 100, failure at N = 10 and 50; --nodes
-- sets the sizes of all three. Installs serf/tarantool with apt-get when missing (as
-- root). Every child is reaped, also on error or Ctrl-C; each is started under
-- `setpriv --pdeathsig KILL`, so not even a killed harness leaves one behind.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")
local core = require("rumor.core")
local rumor = require("rumor")
local process = require("rumor.process")

---------------------------------------------------------------------------
-- Options.

local USAGE = "usage: rumor run bench/peers.lua [--systems serf,swim] [--nodes 10,100] [--repeats R]\n"
  .. "    [--trials T] [--only convergence,idle,failure] [--seconds 30] [--settle S]\n"

local opts = { systems = "serf,swim", only = "convergence,idle,failure", seconds = 30 }
do
  local i = 1
  while arg[i] do
    local name, v = arg[i]:match("^%-%-(.+)$"), arg[i + 1]
    if not name or not v then io.stderr:write(USAGE) os.exit(2) end
    if name == "systems" or name == "only" or name == "nodes" then
      opts[name] = v
    elseif (name == "repeats" or name == "trials" or name == "seconds" or name == "settle")
        and math.tointeger(tonumber(v)) and tonumber(v) >= (name == "settle" and 0 or 1) then
      opts[name] = math.tointeger(tonumber(v))
    else
      io.stderr:write(USAGE) os.exit(2)
    end
    i = i + 2
  end
end

local function set_of(list, allowed, what)
  local set, order = {}, {}
  for w in list:gmatch("[^,]+") do
    if not allowed[w] then
      io.stderr:write(("peers: unknown %s '%s'\n"):format(what, w)) os.exit(2)
    end
    if not set[w] then set[w] = true order[#order + 1] = w end
  end
  return set, order
end
local _, systems = set_of(opts.systems, { serf = true, swim = true }, "system")
local only = set_of(opts.only, { convergence = true, idle = true, failure = true }, "figure")

local function sizes(default)
  if not opts.nodes then return default end
  local list = {}
  for w in opts.nodes:gmatch("[^,]+") do
    local n = math.tointeger(tonumber(w))
    if not n or n < 2 then io.stderr:write("peers: --nodes wants sizes >= 2\n") os.exit(2) end
    list[#list + 1] = n
  end
  return list
end
local CLUSTER_SIZES = sizes{ 10, 100 }   -- convergence and idle: PEERS.md's sizes
local FAILURE_SIZES = sizes{ 10, 50 }    -- 50, not 100: Serf needs ~10 s per trial at 100,
                                         -- and the whole default run must fit in ~12 min

-- Convergence repeats: 10 as in PEERS.md; 5 above 50 nodes, where one Serf change runs
-- 100 event-handler processes and one swim change takes ~6 s (keeps the run < 12 min).
local function repeats_for(n) return opts.repeats or (n <= 50 and 10 or 5) end
-- Failure trials: each costs detection (6-12 s) plus a rejoin and a pause; 5 at 10
-- nodes, 3 at 50, for the same time budget.
local function trials_for(n) return opts.trials or (n <= 10 and 5 or 3) end

-- Before the idle window: Serf retransmits each join 4*ceil(log10(N+1)) gossip rounds
-- of 200 ms (2.4 s at N=100) and push/pulls on join; swim spreads its member-new
-- events for log2(N)+1 one-second steps (8 s at N=100). 20 s covers both, twice.
local SETTLE_IDLE_MS = (opts.settle or 20) * 1000
-- Before convergence or failure runs without an idle window first: the joins are
-- spread by then (same reasoning, a few rounds).
local SETTLE_MS = math.min(SETTLE_IDLE_MS, 5000)
-- Between convergence repeats: Serf's agent flushes coalesced member events after a
-- 1 s quiet period (QuiescentPeriod), so the next change starts with none pending.
local GAP_MS = 1000
-- Between failure trials, after the victim has rejoined: lets Serf's Lifeguard
-- awareness and swim's round queue (which lost and regained a member) calm down.
local TRIAL_PAUSE_MS = 3000
-- swim's defaults never detect a crash (ack_timeout 30 s >= heartbeat_rate 1 s keeps
-- restarting the ack check; PEERS.md): the failure figure uses ack_timeout 0.5 s, as
-- PEERS.md's did, and says so in its line. Everything else stays at the defaults.
local SWIM_FAILURE_ACK_TIMEOUT_S = 0.5

-- Deadlines (failures, not measurements): generous, a 2-core machine running 100
-- processes is slow to start them.
local function form_deadline_ms(n) return 60000 + 1000 * n end
local CHANGE_DEADLINE_MS = 60000   -- PEERS.md's worst is 5.4 s (swim, N=100)
local DETECT_DEADLINE_MS = 60000   -- PEERS.md's worst is 11.8 s (Serf, N=100)

-- Ports: below Linux's ephemeral range (32768-60999), a fresh block per cluster; in the
-- private namespace nothing else listens anyway, on the host they keep clear of it.
local PORT_BASE = 21000

local SCRIPT_DIR = (function()
  local p = arg[0] or "bench/peers.lua"
  if p:sub(1, 1) ~= "/" then p = (os.getenv("PWD") or ".") .. "/" .. p end
  return p:match("^(.*)/[^/]*$") or "."
end)()
local SERF_HANDLER = SCRIPT_DIR .. "/peers/serf_event.sh"
local SWIM_NODE = SCRIPT_DIR .. "/peers/swim_node.lua"
local TMP = os.getenv("TMPDIR") or "/tmp"

---------------------------------------------------------------------------
-- Small things.

local function now() return core.hrtime_ms() end
local function sleep(ms) rumor.sleep(ms) end
local function wait(pred, ms) return process.eventually(pred, ms, 5) end
local function log(fmt, ...) io.stderr:write("peers: ", fmt:format(...), "\n") io.stderr:flush() end
-- Numbers, JSON lines and /proc readings as the other benches make them (bench/lib.lua).
local round, pct, median, emit = lib.round, lib.pct, lib.median, lib.emit
local cpu_s, rss_kib = lib.cpu_s, lib.rss_kib


local function sh_ok(cmd) return os.execute(cmd) == true end
local function have(cmd) return sh_ok("command -v " .. cmd .. " >/dev/null 2>&1") end

local function find_ip()
  for _, p in ipairs{ "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" } do
    local f = io.open(p, "r")
    if f then f:close() return p end
  end
  return have("ip") and "ip" or nil
end

---------------------------------------------------------------------------
-- Children: every process started is in `children` until reaped.

local children = {}
local ENV = {}
for _, name in ipairs{ "PATH", "HOME", "LANG", "LC_ALL", "USER", "TMPDIR" } do
  local v = os.getenv(name)
  if v then ENV[#ENV + 1] = name .. "=" .. v end
end

-- Starts argv; on_line(child, line, arrival_ms) gets each stdout line. The last lines of
-- both streams are kept for error messages.
local function spawn(name, argv, on_line)
  local c = { name = name, exited = false, tail = {} }
  local proc, err = core.spawn{
    file = argv[1], args = table.move(argv, 2, #argv, 1, {}), env = ENV, cwd = TMP,
    on_line = function(stream, line)
      local at = now()
      c.tail[#c.tail + 1] = line
      if #c.tail > 6 then table.remove(c.tail, 1) end
      if stream == "stdout" and on_line then on_line(c, line, at) end
    end,
    on_exit = function(code, signal) c.exited, c.code, c.signal = true, code, signal end,
  }
  if not proc then error(("cannot start %s (%s): %s"):format(name, argv[1], tostring(err)), 0) end
  c.proc, c.pid = proc, proc:pid()
  children[#children + 1] = c
  return c
end

local function describe(c)
  return ("%s (%s): %s"):format(c.name,
    c.exited and ("exited, code " .. tostring(c.code) .. ", signal " .. tostring(c.signal)) or "running",
    table.concat(c.tail, " | "))
end

local function all_exited(list)
  for _, c in pairs(list) do if not c.exited then return false end end
  return true
end

-- SIGKILL whatever of list still runs and wait for every exit. True when all are gone.
local function reap(list)
  for _, c in pairs(list) do
    if not c.exited then pcall(c.proc.kill, c.proc, "SIGKILL") end
  end
  wait(function() return all_exited(list) end, 10000)
  local left = {}
  for _, c in ipairs(children) do if not c.exited then left[#left + 1] = c end end
  children = left
  return all_exited(list)
end

-- The private network namespace: a holder process (sleep) that lives in it; the nodes
-- join it with nsenter. nil and a reason when it cannot be made (not root, no `ip`).
local ns, ns_error
local function start_namespace()
  local ip = find_ip()
  if not ip then return nil, "no `ip` command to bring lo up (apt-get install iproute2)" end
  local h = spawn("netns", { "unshare", "-n", "--", "setpriv", "--pdeathsig", "KILL", "--",
    "sh", "-c", ip .. " link set lo up && echo ready && exec sleep infinity" },
    function(c, line) if line == "ready" then c.ready = true end end)
  wait(function() return h.ready or h.exited end, 10000)
  if not h.ready then
    reap{ h }
    return nil, "cannot make a private network namespace: " .. table.concat(h.tail, " | ")
  end
  return h
end

-- argv run inside the namespace (when there is one), killed if this process dies.
local function wrap(argv)
  local pre = { "setpriv", "--pdeathsig", "KILL", "--" }
  if ns then pre = { "nsenter", "--net=/proc/" .. ns.pid .. "/ns/net", "--", table.unpack(pre) } end
  return table.move(argv, 1, #argv, #pre + 1, pre)
end

-- lo's tx bytes and packets in the namespace.
local function lo_tx()
  local f = assert(io.open("/proc/" .. ns.pid .. "/net/dev", "r"))
  for line in f:lines() do
    local rest = line:match("^%s*lo:%s*(.*)$")
    if rest then
      f:close()
      local v = {}
      for x in rest:gmatch("%d+") do v[#v + 1] = tonumber(x) end
      return v[9], v[10]
    end
  end
  f:close()
  error("no lo in /proc/" .. ns.pid .. "/net/dev")
end

---------------------------------------------------------------------------
-- Clusters. Both kinds keep, per observer, what it last said of every member
-- (view[obs][member] = "alive", "failed"/"dead"/..., nil when unknown or dropped), and
-- call the measuring code's hooks (on_log, on_event) for every line.

local next_port = PORT_BASE
local function port_block(n)
  local base = next_port
  next_port = next_port + 2 * n + 20
  return base
end

local function check_running(cl)
  for _, c in pairs(cl.nodes) do
    if c.exited and not c.killed then error("node died: " .. describe(c), 0) end
  end
end

local function formed(cl)
  check_running(cl)
  for i = 0, cl.n - 1 do
    if not cl.nodes[i].killed then
      local v = cl.view[cl:name(i)]
      for j = 0, cl.n - 1 do
        if j ~= i and not cl.nodes[j].killed and v[cl:name(j)] ~= "alive" then return false end
      end
    end
  end
  return true
end

local function pids(cl)
  local list = {}
  for i = 0, cl.n - 1 do list[#list + 1] = cl.nodes[i].pid end
  return list
end

local function avg_rss(cl)
  local sum = 0
  for _, pid in ipairs(pids(cl)) do sum = sum + rss_kib(pid) end
  return sum / cl.n
end

---- Serf ------------------------------------------------------------------

local Serf = { system = "serf" }
Serf.__index = Serf

function Serf:name(i) return ("s%03d"):format(i) end

-- Agent i: gossip on base+i, RPC on base+n+10+i (each agent needs its own: the
-- default 7373 would clash). The handler only for member-update and member-failed,
-- the two events measured: a handler per join would cost 100x100 process starts at
-- N=100 for nothing. Everything else at `serf agent`'s defaults (LAN profile).
function Serf:spawn(i)
  local name = self:name(i)
  local argv = { "serf", "agent", "-node=" .. name, "-bind=127.0.0.1:" .. (self.base + i),
    "-rpc-addr=" .. self:rpc(i),
    "-event-handler=member-update,member-failed='" .. SERF_HANDLER .. "' '" .. self.events .. "'",
    "-log-level=info" }
  if i > 0 then argv[#argv + 1] = "-join=127.0.0.1:" .. self.base end
  self.view[name] = {}
  local c = spawn(name, wrap(argv), function(_, line, at)
    local kind, member = line:match("serf: EventMember(%a+): (%S+)")
    if not kind then return end
    local v = self.view[name]
    if kind == "Join" then v[member] = "alive"
    elseif kind == "Failed" then v[member] = "failed"
    elseif kind == "Leave" then v[member] = "left"
    elseif kind == "Reap" then v[member] = nil end
    if self.on_log then self.on_log(name, kind, member, at) end
  end)
  self.nodes[i] = c
  return c
end

function Serf:rpc(i) return "127.0.0.1:" .. (self.base + self.n + 10 + i) end

-- A cluster of n agents, not started yet; stop() is safe on it at any point.
function Serf.new(n)
  return setmetatable({ n = n, base = port_block(n), nodes = {}, view = {} }, Serf)
end

function Serf:start()
  local n = self.n
  self.events = os.tmpname()   -- the handlers append here; `tail -F` hands it to us
  self.tail = spawn("tail", { "setpriv", "--pdeathsig", "KILL", "--", "tail", "-n", "+1", "-F", self.events },
    function(_, line, at)
      local wall, obs, event, member, tags = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
      if wall and self.on_event then self.on_event(obs, event, member, tags, tonumber(wall), at) end
    end)
  local t0 = now()
  self:spawn(0)
  local ok = wait(function()
    check_running(self)
    return self.view[self:name(0)][self:name(0)] == "alive"
  end, 30000)
  if not ok then error("serf agent 0 did not start: " .. describe(self.nodes[0]), 0) end
  for i = 1, n - 1 do self:spawn(i) end
  if not wait(function() return formed(self) end, form_deadline_ms(n)) then
    error(("serf: %d agents did not all see each other within %d ms"):format(n, form_deadline_ms(n)), 0)
  end
  log("serf N=%d: every agent saw every other after %.1f s", n, (now() - t0) / 1000)
end

function Serf:restart(i)
  self.nodes[i].killed = nil
  self:spawn(i)
end

function Serf:stop()
  local list = {}
  for _, c in pairs(self.nodes) do list[#list + 1] = c end
  list[#list + 1] = self.tail
  local ok = reap(list)
  if self.events then os.remove(self.events) end
  return ok
end

---- swim ------------------------------------------------------------------

local Swim = { system = "swim" }
Swim.__index = Swim

function Swim:name(i) return i end

function Swim:spawn(i)
  local argv = { "tarantool", SWIM_NODE, tostring(i), tostring(self.base) }
  if self.ack_timeout then argv[#argv + 1] = tostring(self.ack_timeout) end
  self.view[i] = {}
  local c
  c = spawn("swim" .. i, wrap(argv), function(_, line, at)
    local kind, wall, rest = line:match("^(%S+) (%S+) ?(.*)$")
    if kind == "ready" then
      c.ready = true
    elseif kind == "set" then
      self.set_wall, self.set_value = tonumber(wall), rest
    elseif kind == "ev" then
      local obs, member, status, payload, flags = rest:match("^(%d+) (%d+) (%S+) (%S+) (%S+)$")
      obs, member = tonumber(obs), tonumber(member)
      if not obs then return end
      if flags:find("d", 1, true) then self.view[obs][member] = nil else self.view[obs][member] = status end
      if self.on_event then self.on_event(obs, member, status, payload, flags, tonumber(wall), at) end
    end
  end)
  self.nodes[i] = c
  return c
end

function Swim:send(i, line)
  local ok, err = self.nodes[i].proc:write(line .. "\n")
  if not ok then error("swim" .. i .. ": cannot write: " .. tostring(err), 0) end
end

-- All instances first, then every one add_member()s all the others (swim has no
-- join-through-a-seed; add_member is its way to know a member): nobody is pinged
-- before it listens.
function Swim.new(n, ack_timeout)
  return setmetatable({ n = n, base = port_block(n), nodes = {}, view = {},
                        ack_timeout = ack_timeout }, Swim)
end

function Swim:start()
  local n = self.n
  local t0 = now()
  for i = 0, n - 1 do self:spawn(i) end
  local ok = wait(function()
    check_running(self)
    for i = 0, n - 1 do if not self.nodes[i].ready then return false end end
    return true
  end, form_deadline_ms(n))
  if not ok then error("swim: instances did not start", 0) end
  for i = 0, n - 1 do self:send(i, "join " .. n) end
  if not wait(function() return formed(self) end, form_deadline_ms(n)) then
    error(("swim: %d instances did not all see each other"):format(n), 0)
  end
  log("swim N=%d: all up and joined after %.1f s", n, (now() - t0) / 1000)
end

function Swim:restart(i)
  self.nodes[i].killed = nil
  local c = self:spawn(i)
  if not wait(function() return c.ready or c.exited end, 30000) or not c.ready then
    error("swim: restarted instance did not start: " .. describe(c), 0)
  end
  self:send(i, "join " .. self.n)
end

function Swim:stop()
  local list = {}
  for _, c in pairs(self.nodes) do list[#list + 1] = c end
  return reap(list)
end

---------------------------------------------------------------------------
-- Convergence: one change, until every other member's handler saw it.

-- Serf: `serf tags -set bench=R` on a random agent, through its RPC. t0 is when that
-- agent applied the change: the arrival here of its own EventMemberUpdate log line (the
-- CLI's start, up to then, is reported apart as cli_ms; swim's t0 and rumor's are
-- taken inside the process that makes the change, too). Handler level: the handler's
-- wall-clock stamp, against t0 on the wall clock (the shell that execs the CLI prints
-- its wall clock first; its arrival here maps one clock onto the other). Protocol
-- level: the arrival here of every other agent's EventMemberUpdate log line.
local function serf_change(cl, r, handler_ms, protocol_ms, cli_ms)
  local o = math.random(0, cl.n - 1)
  local oname, value = cl:name(o), "bench=" .. r
  local first_h, first_p, nh, np = {}, {}, 0, 0
  local t_spawn, t0, origin_at = now(), {}, nil
  cl.on_event = function(obs, event, member, tags, wall)
    if event == "member-update" and member == oname and obs ~= oname and not first_h[obs]
        and ("," .. tags .. ","):find("," .. value .. ",", 1, true) then
      first_h[obs], nh = wall, nh + 1
    end
  end
  cl.on_log = function(obs, kind, member, at)
    if kind ~= "Update" or member ~= oname or at < t_spawn then return end
    if obs == oname then
      origin_at = origin_at or at
    elseif not first_p[obs] then
      first_p[obs], np = at, np + 1
    end
  end
  local cli = spawn("serf tags", wrap{ "bash", "-c",
    'echo "T0 $EPOCHREALTIME"; exec serf tags -rpc-addr=' .. cl:rpc(o) .. " -set " .. value },
    function(_, line, at)
      local w = line:match("^T0 (%S+)")
      if w then t0.wall, t0.at = tonumber(w) * 1000, at end
    end)
  wait(function()
    check_running(cl)
    return nh == cl.n - 1 and np == cl.n - 1 and origin_at
  end, CHANGE_DEADLINE_MS)
  wait(function() return cli.exited end, 10000)
  cl.on_event, cl.on_log = nil, nil
  if cli.code ~= 0 or not t0.wall then error("serf tags failed: " .. describe(cli), 0) end
  if not origin_at then error("serf: " .. oname .. " never logged its own tag change", 0) end
  cli_ms[#cli_ms + 1] = origin_at - t0.at
  local applied_wall = t0.wall + (origin_at - t0.at)
  for _, w in pairs(first_h) do handler_ms[#handler_ms + 1] = w - applied_wall end
  for _, a in pairs(first_p) do protocol_ms[#protocol_ms + 1] = a - origin_at end
  return (cl.n - 1 - nh) + (cl.n - 1 - np)
end

-- swim: set_payload("rR") on a random instance, which stamps its wall clock just
-- before; each other instance's trigger stamps its own when it sees the new payload.
local function swim_change(cl, r, handler_ms)
  local o = math.random(0, cl.n - 1)
  local value = "r" .. r
  local first, nh = {}, 0
  cl.set_wall = nil
  cl.on_event = function(obs, member, _, payload, flags, wall)
    if member == o and obs ~= o and payload == value and flags:find("p", 1, true) and not first[obs] then
      first[obs], nh = wall, nh + 1
    end
  end
  cl:send(o, "payload " .. value)
  wait(function() check_running(cl) return nh == cl.n - 1 and cl.set_wall end, CHANGE_DEADLINE_MS)
  cl.on_event = nil
  if not cl.set_wall then error("swim: the origin never set its payload", 0) end
  for _, w in pairs(first) do handler_ms[#handler_ms + 1] = w - cl.set_wall end
  return cl.n - 1 - nh
end

local function convergence(cl)
  local R = repeats_for(cl.n)
  local handler_ms, protocol_ms, cli_ms, missed = {}, {}, {}, 0
  for r = 1, R do
    if cl.system == "serf" then
      missed = missed + serf_change(cl, r, handler_ms, protocol_ms, cli_ms)
    else
      missed = missed + swim_change(cl, r, handler_ms)
    end
    sleep(GAP_MS)
  end
  table.sort(handler_ms)
  table.sort(protocol_ms)
  local serf = cl.system == "serf"
  emit{ { "bench", "convergence" }, { "system", cl.system }, { "procs", true }, { "nodes", cl.n },
    { "repeats", R }, { "p50_ms", round(pct(handler_ms, 0.5)) }, { "p99_ms", round(pct(handler_ms, 0.99)) },
    { "max_ms", round(handler_ms[#handler_ms]) }, { "rss_kib_per_node", round(avg_rss(cl), 0) },
    { "p50_ms_protocol", serf and round(pct(protocol_ms, 0.5)) or nil },
    { "p99_ms_protocol", serf and round(pct(protocol_ms, 0.99)) or nil },
    { "max_ms_protocol", serf and round(protocol_ms[#protocol_ms]) or nil },
    { "cli_ms", serf and round(median(cli_ms)) or nil },
    { "change", serf and "serf tags -set" or "set_payload" },
    { "seen_by", serf and "member-update event handler" or "on_member_event" },
    { "missed", missed }, { "clock", "receiver wall clock" } }
end

---------------------------------------------------------------------------
-- Idle traffic, CPU and memory of a settled cluster.

local function idle(cl)
  local seconds = opts.seconds
  local list = pids(cl)
  local b0, p0 = lo_tx()
  local c0, t0 = 0, now()
  for _, pid in ipairs(list) do c0 = c0 + cpu_s(pid) end
  sleep(seconds * 1000)
  check_running(cl)
  local b1, p1 = lo_tx()
  local c1, t1 = 0, now()
  for _, pid in ipairs(list) do c1 = c1 + cpu_s(pid) end
  local s, n = (t1 - t0) / 1000, cl.n
  emit{ { "bench", "idle" }, { "system", cl.system }, { "nodes", n }, { "seconds", seconds },
    { "bytes_per_node_s", round((b1 - b0) / n / s) }, { "datagrams_per_node_s", round((p1 - p0) / n / s, 2) },
    { "cpu_pct_per_node", round((c1 - c0) / s / n * 100, 3) }, { "rss_kib_per_node", round(avg_rss(cl), 0) },
    { "measured_by", "lo" }, { "settle_s", SETTLE_IDLE_MS / 1000 },
    { "note", "lo tx counters of the cluster's own network namespace (IP packets, TCP included)" } }
end

---------------------------------------------------------------------------
-- Failure detection: SIGKILL one member, until every survivor reported it.

local function failure(cl)
  local T = trials_for(cl.n)
  local serf = cl.system == "serf"
  local last, first, last_p, missed = {}, {}, {}, 0
  for trial = 1, T do
    local v = math.random(1, cl.n - 1)   -- not 0: restarted Serf agents join through it
    local vname = cl:name(v)
    local seen, seen_p, nh, np = {}, {}, 0, 0
    if serf then
      cl.on_event = function(obs, event, member, _, _, at)
        if event == "member-failed" and member == vname and obs ~= vname and not seen[obs] then
          seen[obs], nh = at, nh + 1
        end
      end
      cl.on_log = function(obs, kind, member, at)
        if kind == "Failed" and member == vname and obs ~= vname and not seen_p[obs] then
          seen_p[obs], np = at, np + 1
        end
      end
    else
      np = cl.n - 1
      cl.on_event = function(obs, member, status, _, flags, _, at)
        if member == v and obs ~= v and not seen[obs]
            and (status == "dead" or flags:find("d", 1, true)) then
          seen[obs], nh = at, nh + 1
        end
      end
    end
    local victim = cl.nodes[v]
    victim.killed = true
    local t_kill = now()
    victim.proc:kill("SIGKILL")
    local ok = wait(function() check_running(cl) return nh == cl.n - 1 and np == cl.n - 1 end, DETECT_DEADLINE_MS)
    cl.on_event, cl.on_log = nil, nil
    if ok then
      local lo, hi, hi_p = math.huge, 0, 0
      for _, at in pairs(seen) do lo, hi = math.min(lo, at - t_kill), math.max(hi, at - t_kill) end
      for _, at in pairs(seen_p) do hi_p = math.max(hi_p, at - t_kill) end
      last[#last + 1], first[#first + 1] = hi, lo
      if serf then last_p[#last_p + 1] = hi_p end
      log("%s N=%d trial %d: every survivor reported %s after %.0f ms", cl.system, cl.n, trial, vname, hi)
    else
      missed = missed + 1
      log("%s N=%d trial %d: %d of %d survivors reported %s within %d ms", cl.system, cl.n, trial,
        nh, cl.n - 1, vname, DETECT_DEADLINE_MS)
    end
    -- Back to N members before the next trial.
    wait(function() return victim.exited end, 10000)
    cl:restart(v)
    if not wait(function() return formed(cl) end, form_deadline_ms(cl.n)) then
      error(("%s: %s did not rejoin"):format(cl.system, vname), 0)
    end
    sleep(TRIAL_PAUSE_MS)
  end
  local rounded = {}
  for k, x in ipairs(last) do rounded[k] = round(x, 0) end
  local sorted = table.move(last, 1, #last, 1, {})
  table.sort(sorted)
  emit{ { "bench", "failure" }, { "system", cl.system }, { "nodes", cl.n }, { "trials", T },
    { "p50_ms", round(median(last)) }, { "max_ms", round(sorted[#sorted]) },
    { "first_ms", round(median(first)) }, { "last_ms", rounded },
    { "p50_ms_protocol", serf and round(median(last_p)) or nil },
    { "max_ms_protocol", serf and (function()
        local m = 0 for _, x in ipairs(last_p) do m = math.max(m, x) end return round(m) end)() or nil },
    { "seen_by", serf and "member-failed event handler" or "on_member_event (dead or dropped)" },
    { "ack_timeout_s", (not serf) and SWIM_FAILURE_ACK_TIMEOUT_S or nil },
    { "defaults", serf },
    { "note", (not serf) and "ack_timeout 0.5 s instead of 30 s: at the defaults swim never declares a crashed member dead" or nil },
    { "missed_trials", missed }, { "clock", "harness, on arrival of the line" } }
end

---------------------------------------------------------------------------
-- Installing the systems.

local function installed(system)
  return have(system == "serf" and "serf" or "tarantool")
end

local function install(system)
  if installed(system) then return true end
  local pkg = system == "serf" and "serf" or "tarantool"
  local p = io.popen("id -u")
  local uid = p:read("l")
  p:close()
  if uid ~= "0" then
    return false, ("%s is missing; run: sudo apt-get install -y %s"):format(pkg, pkg)
  end
  local cmd = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " .. pkg .. " >/dev/null 2>&1"
  if not sh_ok(cmd) then
    sh_ok("apt-get update -qq >/dev/null 2>&1")   -- an old package list is the usual cause
    sh_ok(cmd)
  end
  if installed(system) then return true end
  return false, "apt-get install -y " .. pkg .. " failed"
end

---------------------------------------------------------------------------
-- Main.

local function is_interrupt(err) return tostring(err):find("interrupted!", 1, true) ~= nil end

-- Starts cl, runs body(cl) and stops cl, also on errors. An error is printed as
-- {"bench":bench,...,"error"} and the run goes on; Ctrl-C stops it (after the stop).
local function with_cluster(bench, cl, body)
  local ok, err = xpcall(function() cl:start() body(cl) end, debug.traceback)
  cl:stop()
  if ok then return end
  if is_interrupt(err) then error(err, 0) end
  log("%s %s N=%d: %s", bench, cl.system, cl.n, tostring(err))
  emit{ { "bench", bench }, { "system", cl.system }, { "nodes", cl.n },
    { "error", tostring(err):match("^[^\n]*") } }
end

local function run_system(system)
  local new = system == "serf" and Serf.new or Swim.new
  -- One cluster per size for both: the idle window first, on a cluster that has seen
  -- no change yet, then the changes.
  local do_idle = only.idle and ns ~= nil
  for _, n in ipairs(CLUSTER_SIZES) do
    if only.idle and not ns then
      emit{ { "bench", "idle" }, { "system", system }, { "nodes", n }, { "error", ns_error } }
    end
    if do_idle or only.convergence then
      with_cluster(do_idle and "idle" or "convergence", new(n), function(cl)
        if do_idle then
          sleep(SETTLE_IDLE_MS)
          idle(cl)
        else
          sleep(SETTLE_MS)
        end
        if only.convergence then convergence(cl) end
      end)
    end
  end
  if only.failure then
    for _, n in ipairs(FAILURE_SIZES) do
      -- swim with the ack_timeout that lets it detect a crash at all (see above).
      with_cluster("failure", new(n, system == "swim" and SWIM_FAILURE_ACK_TIMEOUT_S or nil), function(cl)
        sleep(SETTLE_MS)
        failure(cl)
      end)
    end
  end
end

local t_begin = now()
local ok, err = xpcall(function()
  local err
  ns, err = start_namespace()
  if not ns then
    ns_error = err
    log("%s; convergence and failure run on the host's loopback", err)
  end
  for _, system in ipairs(systems) do
    local yes, why = install(system)
    if yes then
      run_system(system)
    else
      emit{ { "bench", "peers" }, { "system", system }, { "error", why } }
    end
  end
end, debug.traceback)
local clean = reap(children)
log("done in %.0f s%s", (now() - t_begin) / 1000, clean and "" or "; SOME CHILDREN COULD NOT BE REAPED")
if not ok then
  if is_interrupt(err) then
    io.stderr:write("peers: interrupted; every child reaped\n")
    os.exit(130, true)
  end
  error(err, 0)
end

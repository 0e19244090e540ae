-- swim_node.lua: one Tarantool `swim` member, run by bench/peers.lua as
--   tarantool swim_node.lua INDEX BASE_PORT [ACK_TIMEOUT_S]
-- It listens on 127.0.0.1:BASE_PORT+INDEX with uuid ...-<INDEX as 12 digits>, prints
-- what its on_member_event trigger sees as lines on stdout, each stamped with this
-- process's wall clock in ms, and takes commands on stdin (one per line):
--   join N        add_member the members 0..N-1 (all but itself)
--   payload V     print "set <ms> V", then set_payload(V)
--   exit          exit; so does end of stdin, so it never outlives the harness
-- Lines out:
--   ready <ms> INDEX
--   set <ms> V
--   ev <ms> OBSERVER MEMBER STATUS PAYLOAD|- FLAGS   (FLAGS: n=new, s=status,
--       p=payload, d=drop, i=incarnation; MEMBER is the peer's INDEX)
-- Everything else is at swim's defaults (heartbeat_rate 1 s, ack_timeout 30 s,
-- gc_mode on) unless ACK_TIMEOUT_S is given (bench/peers.lua does so for failure
-- detection only: see there).
local swim = require('swim')
local fiber = require('fiber')
local clock = require('clock')
local socket = require('socket')
local ffi = require('ffi')

local index = assert(tonumber(arg[1]), 'INDEX')
local base = assert(tonumber(arg[2]), 'BASE_PORT')
local ack_timeout = tonumber(arg[3])

local function uuid(i) return string.format('00000000-0000-1000-8000-%012d', i) end
local function ms() return string.format('%.3f', clock.realtime() * 1000) end
local function out(...)
  io.stdout:write(table.concat({...}, ' '), '\n')
  io.stdout:flush()
end

local s = swim.new()
local cfg = { uri = '127.0.0.1:' .. (base + index), uuid = uuid(index) }
if ack_timeout then cfg.ack_timeout = ack_timeout end
assert(s:cfg(cfg))

s:on_member_event(function(m, e)
  local who = tonumber(tostring(m:uuid()):sub(-12))
  local flags = (e:is_new() and 'n' or '') .. (e:is_new_status() and 's' or '')
    .. (e:is_new_payload() and 'p' or '') .. (e:is_drop() and 'd' or '')
    .. (e:is_new_incarnation() and 'i' or '')
  local p = m:payload()
  out('ev', ms(), index, who, m:status(), type(p) == 'string' and p or '-', flags == '' and '-' or flags)
end)

local function command(line)
  local cmd, rest = line:match('^(%S+)%s*(.*)$')
  if cmd == 'join' then
    for i = 0, tonumber(rest) - 1 do
      if i ~= index then s:add_member{ uri = '127.0.0.1:' .. (base + i), uuid = uuid(i) } end
    end
  elseif cmd == 'payload' then
    out('set', ms(), rest)
    s:set_payload(rest)
  elseif cmd == 'exit' then
    os.exit(0)
  end
end

-- stdin, read without blocking the event loop (io.read would stop swim meanwhile).
ffi.cdef('ssize_t read(int fd, void *buf, size_t count);')
fiber.create(function()
  local buf, pending = ffi.new('char[4096]'), ''
  while true do
    socket.iowait(0, 'R')
    local n = tonumber(ffi.C.read(0, buf, 4096))
    if n <= 0 then os.exit(0) end
    pending = pending .. ffi.string(buf, n)
    while true do
      local line, tail = pending:match('^([^\n]*)\n(.*)$')
      if not line then break end
      pending = tail
      command(line)
    end
  end
end)

out('ready', ms(), index)

-- bench/lib.lua: what the bench scripts share: options, percentiles, JSON lines,
-- a private network namespace with lo's counters, /proc readings (CPU, RSS), and
-- clusters of `rumor agent` processes. A script loads it from its own directory:
--   package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
--   local lib = require("lib")
local rumor = require("rumor")
local core = require("rumor.core")
local process = require("rumor.process")
local cjson = require("cjson")

local M = {}

---------------------------------------------------------------------------
-- Options: --name value pairs (and bare --flag for flags).
--   spec = { nodes = { "ints", {50} }, repeats = { "int" }, procs = { "flag", false }, ... }
-- kinds: int (>= 0), ints (comma list of ints >= 1), number, string, flag.
-- Prints usage and exits 2 on anything else.

function M.options(usage, spec)
  local opts = {}
  for name, s in pairs(spec) do opts[name] = s[2] end
  local function bad(why)
    io.stderr:write(why and (why .. "\n") or "", usage)
    os.exit(2)
  end
  local i = 1
  while arg[i] do
    local name = arg[i]:match("^%-%-(.+)$")
    local s = name and spec[name]
    if not s then bad("unknown argument '" .. arg[i] .. "'") end
    if s[1] == "flag" then
      opts[name] = true
      i = i + 1
    else
      local v = arg[i + 1]
      if v == nil then bad("--" .. name .. " needs a value") end
      if s[1] == "int" then
        v = math.tointeger(tonumber(v))
        if not v or v < 0 then bad("--" .. name .. " wants an integer >= 0") end
      elseif s[1] == "ints" then
        local list = {}
        for w in v:gmatch("[^,]+") do
          local n = math.tointeger(tonumber(w))
          if not n or n < 1 then bad("--" .. name .. " wants integers >= 1, comma-separated") end
          list[#list + 1] = n
        end
        if #list == 0 then bad("--" .. name .. " wants integers >= 1, comma-separated") end
        v = list
      elseif s[1] == "number" then
        v = tonumber(v)
        if not v or v < 0 then bad("--" .. name .. " wants a number >= 0") end
      end
      opts[name] = v
      i = i + 2
    end
  end
  return opts
end

---------------------------------------------------------------------------
-- Numbers and output.

function M.round(x, places)
  if x == nil then return nil end
  local m = 10 ^ (places or 1)
  local r = math.floor(x * m + 0.5) / m
  return math.tointeger(r) or r
end

-- Nearest-rank percentile of a sorted list.
function M.pct(sorted, p)
  if #sorted == 0 then return nil end
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

function M.median(list)
  local s = table.move(list, 1, #list, 1, {})
  table.sort(s)
  return M.pct(s, 0.5)
end

-- JSON text of v; "/" is not escaped (cjson 2.1.0 escapes it as "\/": in its output
-- a "\/" is always that escape, since a backslash of the text comes out doubled).
function M.json(v)
  return (cjson.encode(v):gsub("\\/", "/"))
end

-- One JSON line, keys in the order given: { {"bench", "idle"}, {"nodes", 10}, ... };
-- pairs whose value is nil are left out.
function M.emit(pairs_in_order)
  local parts = {}
  for _, kv in ipairs(pairs_in_order) do
    if kv[2] ~= nil then parts[#parts + 1] = M.json(kv[1]) .. ":" .. M.json(kv[2]) end
  end
  io.stdout:write("{", table.concat(parts, ","), "}\n")
  io.stdout:flush()
end

function M.log(fmt, ...)
  io.stderr:write(fmt:format(...), "\n")
  io.stderr:flush()
end

-- The first line of an error, without the "(known: ...)" list of a config error.
function M.reason(err)
  local s = tostring(err):match("^[^\n]*")
  s = s:gsub("^[^%s:]+%.lua:%d+: ", "")
  return (s:gsub(" %(known: [^)]*%)", ""))
end

function M.is_interrupt(err)
  return tostring(err):find("interrupted!", 1, true) ~= nil
end

---------------------------------------------------------------------------
-- Time. now() is the monotonic clock in ms (fractional); sleep and wait drive the
-- loop, inside a coroutine or not.

M.now = core.hrtime_ms

function M.wait(pred, ms, step_ms)
  return process.eventually(pred, ms, step_ms or 5)
end

function M.sleep(ms)
  process.eventually(function() return false end, ms, 5)
end

---------------------------------------------------------------------------
-- /proc.

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local CLK_TCK = (function()
  local p = io.popen("getconf CLK_TCK 2>/dev/null")
  local v = p and tonumber(p:read("l") or "")
  if p then p:close() end
  return v or 100
end)()

-- utime + stime of pid in seconds (fields 14 and 15 of /proc/PID/stat), 0 when gone.
function M.cpu_s(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  local rest = s and s:match("%) (.*)$")
  if not rest then return 0 end
  local f = {}
  for x in rest:gmatch("%S+") do f[#f + 1] = x end
  return (tonumber(f[12]) + tonumber(f[13])) / CLK_TCK
end

-- VmRSS of pid in KiB, 0 when gone.
function M.rss_kib(pid)
  local s = read_file("/proc/" .. pid .. "/status")
  return s and tonumber(s:match("VmRSS:%s*(%d+)")) or 0
end

-- A check to call often: raises once this process's RSS passes limit_kib (default:
-- a quarter of the machine's memory), so that a run gone wrong ends with an error line
-- rather than taking the machine down. Reads /proc at most every 200 ms.
function M.memory_guard(limit_kib)
  if not limit_kib then
    local total = tonumber((read_file("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)"))
    limit_kib = total and total // 4 or math.huge
  end
  local last = 0
  return function()
    local t = core.hrtime_ms()
    if t - last < 200 then return end
    last = t
    local rss = M.rss_kib("self")
    if rss > limit_kib then
      error(("this process's RSS reached %d MiB (limit %d MiB): stopped"):format(rss // 1024, limit_kib // 1024), 0)
    end
  end
end

-- The machine: cores and CPU model.
function M.machine()
  local p = io.popen("nproc 2>/dev/null")
  local cores = p and tonumber(p:read("l") or "")
  if p then p:close() end
  local info = read_file("/proc/cpuinfo") or ""
  return cores, info:match("model name%s*:%s*([^\n]+)")
end

---------------------------------------------------------------------------
-- A private network namespace: a holder process (sleep) lives in it, and agents join
-- it through nsenter (group option wrap). lo's counters there see nothing but the
-- cluster under test. Root only; RUMOR_BENCH_NO_NETNS=1 refuses it (to try the
-- fallback).

local function find_ip()
  for _, p in ipairs{ "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" } do
    local f = io.open(p, "r")
    if f then f:close() return p end
  end
  return nil
end

local Namespace = {}
Namespace.__index = Namespace

-- lo's tx bytes and packets in the namespace (/proc/PID/net/dev shows the counters of
-- PID's namespace; /sys/class/net would show the host's without a mount namespace).
function Namespace:lo_tx()
  local s = read_file("/proc/" .. self.pid .. "/net/dev")
  for line in (s or ""):gmatch("[^\n]+") do
    local rest = line:match("^%s*lo:%s*(.*)$")
    if rest then
      local v = {}
      for x in rest:gmatch("%d+") do v[#v + 1] = tonumber(x) end
      return v[9], v[10]
    end
  end
  error("no lo in /proc/" .. self.pid .. "/net/dev (the namespace holder is gone)")
end

function Namespace:close()
  if self.exited then return end
  pcall(self.proc.kill, self.proc, "SIGKILL")
  M.wait(function() return self.exited end, 5000)
end

-- Returns the namespace, or nil and why not.
function M.namespace()
  if os.getenv("RUMOR_BENCH_NO_NETNS") == "1" then return nil, "RUMOR_BENCH_NO_NETNS=1" end
  local ip = find_ip()
  if not ip then return nil, "no `ip` command to bring lo up (apt-get install iproute2)" end
  local ns = setmetatable({ exited = false, tail = {} }, Namespace)
  local proc, err = core.spawn{
    file = "unshare", args = { "-n", "--", "sh", "-c", ip .. " link set lo up && echo ready && exec sleep infinity" },
    on_line = function(_, line)
      if line == "ready" then ns.ready = true else ns.tail[#ns.tail + 1] = line end
    end,
    on_exit = function() ns.exited = true end,
  }
  if not proc then return nil, "cannot run unshare: " .. tostring(err) end
  ns.proc, ns.pid = proc, proc:pid()
  M.wait(function() return ns.ready or ns.exited end, 10000)
  if not ns.ready then
    ns:close()
    return nil, "cannot make a private network namespace (unshare -n): " .. table.concat(ns.tail, " | ")
  end
  ns.wrap = { "nsenter", "--net=/proc/" .. ns.pid .. "/ns/net", "--" }
  return ns
end

---------------------------------------------------------------------------
-- A cluster of `rumor agent` processes, one per node, joined through the first.
--   local cl = lib.agent_cluster{ n = 10, config = function(k, seed) return {...} end,
--                                 ns = ns_or_nil, deadline_ms = 60000 }
-- Raises (after closing what it started) when an agent fails to start or the
-- cluster does not form: every agent has seen every other one "alive".

local Cluster = {}
Cluster.__index = Cluster

-- One line: what went wrong and the last thing the first dead agent said.
local function describe_failure(cl, what)
  for _, a in ipairs(cl.agents) do
    if not a:alive() and not a.killed then
      local said = a.stderr[#a.stderr]
      return ("%s: agent %s exited (code %s, signal %s)%s"):format(what, a.name, tostring(a.exit_code),
        tostring(a.exit_signal), said and (": " .. said) or "")
    end
  end
  return what
end

function Cluster:check_running()
  for _, a in ipairs(self.agents) do
    if not a:alive() and not a.killed then error(describe_failure(self, "an agent died"), 0) end
  end
end

-- Every agent (but the killed) sees every other live one alive.
function Cluster:formed()
  local live = 0
  for _, a in ipairs(self.agents) do if not a.killed then live = live + 1 end end
  for _, a in ipairs(self.agents) do
    if not a.killed and (a.alive_count or 0) < live - 1 then return false end
  end
  return true
end

-- Sends cmd to every agent at once and waits for all replies; returns them in order.
function Cluster:call_all(cmd, timeout_ms)
  local ids = {}
  for k, a in ipairs(self.agents) do
    local c = {}
    for key, v in pairs(cmd) do c[key] = v end
    ids[k] = a:send(c)
  end
  local ok = M.wait(function()
    self:check_running()
    for k, a in ipairs(self.agents) do if not a.by_id[ids[k]] then return false end end
    return true
  end, timeout_ms or 10000)
  if not ok then error("no reply to " .. tostring(cmd.cmd) .. " from every agent", 0) end
  local replies = {}
  for k, a in ipairs(self.agents) do
    replies[k] = a.by_id[ids[k]]
    a.by_id[ids[k]] = nil
  end
  return replies
end

-- What the cluster has sent so far: bytes, datagrams, and how it was measured. In a
-- namespace lo's tx counters (IP packets, TCP included); else the engines' metrics
-- (UDP payload bytes plus TCP bytes; datagrams plus TCP frames).
function Cluster:traffic()
  if self.ns then
    local b, p = self.ns:lo_tx()
    return b, p, "lo"
  end
  local b, d = 0, 0
  for _, r in ipairs(self:call_all{ cmd = "metrics" }) do
    local m = r.metrics
    b = b + m.bytes_sent + (m.tcp_bytes_sent or 0)
    d = d + m.datagrams_sent + (m.frames_sent or 0)
  end
  return b, d, "metrics"
end

function Cluster:pids()
  local list = {}
  for _, a in ipairs(self.agents) do
    if not a.killed then list[#list + 1] = a.pid end
  end
  return list
end

function Cluster:cpu_s()
  local sum = 0
  for _, pid in ipairs(self:pids()) do sum = sum + M.cpu_s(pid) end
  return sum
end

function Cluster:avg_rss_kib()
  local list, sum = self:pids(), 0
  for _, pid in ipairs(list) do sum = sum + M.rss_kib(pid) end
  return sum / #list
end

function Cluster:close()
  if self.group then self.group:close() end
end

local function on_member_message(a, msg)
  if msg.event ~= "member" then return end
  a.alive_set = a.alive_set or {}
  local was = a.alive_set[msg.member]
  if msg.type == "alive" or msg.type == "rejoined" then
    a.alive_set[msg.member] = true
  elseif msg.type == "blocked" or msg.type == "removed" then
    a.alive_set[msg.member] = nil
  end
  if was ~= a.alive_set[msg.member] then
    a.alive_count = (a.alive_count or 0) + (was and -1 or 1)
  end
end

function M.agent_cluster(o)
  local cl = setmetatable({ n = o.n, ns = o.ns, agents = {} }, Cluster)
  local user = o.on_message
  cl.group = process.group{
    wrap = o.ns and o.ns.wrap or nil,
    on_message = function(a, msg)
      on_member_message(a, msg)
      if user then user(a, msg) end
    end,
  }
  local ok, err = xpcall(function()
    local first = cl.group:agent(o.config(1, nil))
    cl.agents[1] = first
    local started = M.wait(function() return first.address or not first:alive() end, 30000)
    if not started or not first.address then
      error(describe_failure(cl, "the first agent did not start"), 0)
    end
    for k = 2, o.n do cl.agents[k] = cl.group:agent(o.config(k, first.address)) end
    local formed = M.wait(function()
      cl:check_running()
      return cl:formed()
    end, o.deadline_ms or (60000 + 1000 * o.n))
    if not formed then
      local least = math.huge
      for _, a in ipairs(cl.agents) do least = math.min(least, a.alive_count or 0) end
      error(("the cluster did not form (an agent sees %d of %d others alive)"):format(least, o.n - 1), 0)
    end
  end, debug.traceback)
  if not ok then
    cl:close()
    error(err, 0)
  end
  return cl
end

-- Runs fn() and returns true; on an error prints a JSON line of head + {"error": ...}
-- and returns false. Ctrl-C is passed on. cleanup() runs either way.
function M.guarded(head, fn, cleanup)
  local ok, err = xpcall(fn, debug.traceback)
  if cleanup then pcall(cleanup) end
  if ok then return true end
  if M.is_interrupt(err) then error(err, 0) end
  io.stderr:write(os.getenv("RUMOR_VERBOSE") and tostring(err) or M.reason(err), "\n")
  local line = table.move(head, 1, #head, 1, {})
  line[#line + 1] = { "error", M.reason(err) }
  M.emit(line)
  return false
end

return M

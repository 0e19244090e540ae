-- failure_detection.lua: how long a crashed node goes unnoticed, with each detector.
--   rumor run bench/failure_detection.lua [--nodes N] [--trials T] [--interval MS]
--       [--expiration MS] [--phi-threshold X] [--settle MS] [--detectors expiration,phi]
-- Each trial starts N `rumor agent` processes on loopback (joined through the first),
-- waits until every one has seen every other's heartbeat, lets them run --settle ms
-- more (so phi has a history of arrivals), SIGKILLs one at random and times, on this
-- process's clock, when each of the N-1 others prints its "blocked" member event for
-- it (the line's arrival here, so pipe latency is included). Prints one JSON line per
-- detector (DESIGN.md "Benchmarks"):
--   p50_ms / max_ms   the median / worst over trials of kill -> LAST observer's block
--   first_ms          the median over trials of kill -> FIRST observer's block
--   last_ms           every trial's kill -> last observer's block
--   bound_ms          heartbeat_expiration_ms + 2 rounds, the target of issue 4
--   false_blocks      blocks of members that were not killed (should be 0)
local core = require("rumor.core")
local process = require("rumor.process")
local json = require("cjson")

local USAGE = "usage: rumor run bench/failure_detection.lua [--nodes N] [--trials T] [--interval MS]\n"
  .. "    [--expiration MS] [--phi-threshold X] [--settle MS] [--detectors expiration,phi]\n"

local opts = { nodes = 10, trials = 5, interval = 100, expiration = 1000,
               ["phi-threshold"] = 8.0, settle = nil, detectors = "expiration,phi" }
local i = 1
while arg[i] do
  local name, v = arg[i]:match("^%-%-(.+)$"), arg[i + 1]
  local ok = name ~= nil and v ~= nil
  if ok and name == "detectors" then
    opts.detectors = v
  elseif ok and name == "phi-threshold" and tonumber(v) and tonumber(v) > 0 then
    opts[name] = tonumber(v) + 0.0
  elseif ok and (opts[name] ~= nil or name == "settle") and math.tointeger(tonumber(v))
      and math.tointeger(tonumber(v)) >= 0 then
    opts[name] = math.tointeger(tonumber(v))
  else
    io.stderr:write(USAGE)
    os.exit(2)
  end
  i = i + 2
end
if opts.nodes < 2 or opts.trials < 1 or opts.interval < 1 or opts.expiration < 1 then
  io.stderr:write("failure_detection: need --nodes >= 2, --trials >= 1, --interval and --expiration >= 1\n")
  os.exit(2)
end
opts.settle = opts.settle or 20 * opts.interval
local detectors = {}
for d in opts.detectors:gmatch("[^,]+") do
  if d ~= "expiration" and d ~= "phi" then
    io.stderr:write("failure_detection: unknown detector '", d, "' (expiration, phi)\n")
    os.exit(2)
  end
  detectors[#detectors + 1] = d
end

local N = opts.nodes
local JOIN_DEADLINE_MS = 60000
local DETECT_DEADLINE_MS = 10 * opts.expiration + 60000

local function blocked_event(a, id)
  return a:find(function(e)
    return e.event == "member" and e.type == "blocked" and (id == nil or e.member == id)
  end)
end

local function fail(group, what)
  for _, a in ipairs(group.agents) do
    if not a:alive() then io.stderr:write(a:describe(), "\n") end
  end
  group:close()
  error("failure_detection: " .. what, 0)
end

-- One trial: returns the delays (ms) from the kill to each observer's block, sorted,
-- and the number of blocks of members that were not killed.
local function trial(detector)
  local group = process.group()
  local function cfg(id, seed)
    return { id = id, cluster = "bench-fd", seeds = seed and { seed } or {},
             gossip_interval_ms = opts.interval, heartbeat_expiration_ms = opts.expiration,
             failure_detector = detector,
             phi_threshold = detector == "phi" and opts["phi-threshold"] or nil }
  end
  local agents = { group:agent(cfg("n01")) }
  local first = process.eventually(function()
    return agents[1]:find(function(e) return e.event == "started" end) or not agents[1]:alive()
  end, JOIN_DEADLINE_MS)
  if type(first) ~= "table" then fail(group, "the first agent did not start") end
  for k = 2, N do agents[k] = group:agent(cfg(("n%02d"):format(k), first.address)) end

  local ok = process.eventually(function()
    for _, a in ipairs(agents) do
      if not a.id then return false end
    end
    for _, a in ipairs(agents) do
      for _, b in ipairs(agents) do
        if b ~= a and not a:find(function(e)
          return e.event == "member" and e.type == "alive" and e.member == b.id and e.generation == b.generation
        end) then
          return false
        end
      end
    end
    return true
  end, JOIN_DEADLINE_MS)
  if not ok then fail(group, "the cluster did not form") end
  process.eventually(function() return false end, opts.settle)

  local victim = agents[math.random(N)]
  local observers = {}
  for _, a in ipairs(agents) do
    if a ~= victim then observers[#observers + 1] = a end
  end
  local t_kill = core.hrtime_ms()
  victim:kill("SIGKILL")
  ok = process.eventually(function()
    for _, a in ipairs(observers) do
      if not blocked_event(a, victim.id) then return false end
    end
    return true
  end, DETECT_DEADLINE_MS)
  if not ok then fail(group, "not every observer blocked the killed node") end

  local delays, false_blocks = {}, 0
  for _, a in ipairs(observers) do
    delays[#delays + 1] = blocked_event(a, victim.id).at_ms - t_kill
    for _, e in ipairs(a:find_all(function(e) return e.event == "member" and e.type == "blocked" end)) do
      if e.member ~= victim.id then false_blocks = false_blocks + 1 end
    end
  end
  group:close()
  table.sort(delays)
  return delays, false_blocks
end

local function median(sorted)
  local n = #sorted
  if n % 2 == 1 then return sorted[(n + 1) // 2] end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

local function round1(x) return math.floor(x * 10 + 0.5) / 10 end

math.randomseed(os.time())
for _, detector in ipairs(detectors) do
  local lasts, firsts, false_blocks = {}, {}, 0
  for t = 1, opts.trials do
    local delays, fb = trial(detector)
    firsts[t], lasts[t] = delays[1], delays[#delays]
    false_blocks = false_blocks + fb
  end
  local last_ms = {}
  for t, v in ipairs(lasts) do last_ms[t] = round1(v) end
  table.sort(lasts)
  table.sort(firsts)
  local result = {
    bench = "failure_detection", detector = detector, nodes = N, trials = opts.trials,
    gossip_interval_ms = opts.interval, heartbeat_expiration_ms = opts.expiration,
    phi_threshold = detector == "phi" and opts["phi-threshold"] or nil,
    settle_ms = opts.settle,
    p50_ms = round1(median(lasts)), max_ms = round1(lasts[#lasts]),
    first_ms = round1(median(firsts)), last_ms = last_ms,
    bound_ms = opts.expiration + 2 * opts.interval, false_blocks = false_blocks,
  }
  print(json.encode(result))
  io.stdout:flush()
end

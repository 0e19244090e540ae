-- failure.lua: how long a crashed node goes unnoticed.
--   rumor run bench/failure.lua [--nodes 10,50] [--trials T] [--detectors expiration[,phi]]
--       [--interval MS] [--expiration MS] [--phi-threshold X] [--settle MS]
-- Each trial starts N `rumor agent` processes on loopback (joined through the first)
-- at the engine's defaults (gossip_interval_ms 500, heartbeat_expiration_ms 10000,
-- unless --interval / --expiration say otherwise), waits until every one has seen
-- every other alive, lets them run --settle ms more (2 s; 20 rounds for phi, so it has
-- a history of arrivals), SIGKILLs one at random and times, on this process's clock,
-- when each of the N-1 others prints its "blocked" member event for it (the line's
-- arrival here, so pipe latency is included). One JSON line per size and detector:
--   p50_ms / max_ms   the median / worst over trials of kill -> LAST observer's block
--   first_ms          the median over trials of kill -> FIRST observer's block
--   last_ms           every trial's kill -> last observer's block
--   bound_ms          heartbeat_expiration_ms + 2 rounds
--   false_blocks      blocks of members that were not killed (should be 0)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")

local USAGE = "usage: rumor run bench/failure.lua [--nodes 10,50] [--trials T] [--detectors expiration[,phi]]\n"
  .. "    [--interval MS] [--expiration MS] [--phi-threshold X] [--settle MS]\n"

local opts = lib.options(USAGE, {
  nodes = { "ints", { 10, 50 } }, trials = { "int", 3 }, detectors = { "string", "expiration" },
  interval = { "int" }, expiration = { "int" }, ["phi-threshold"] = { "number" }, settle = { "int" },
})
for _, n in ipairs(opts.nodes) do
  if n < 2 then io.stderr:write("failure: --nodes wants sizes >= 2\n") os.exit(2) end
end
if opts.trials < 1 or opts.interval == 0 or opts.expiration == 0 or opts["phi-threshold"] == 0 then
  io.stderr:write("failure: --trials, --interval, --expiration and --phi-threshold want values >= 1\n")
  os.exit(2)
end
local detectors = {}
for d in opts.detectors:gmatch("[^,]+") do
  if d ~= "expiration" and d ~= "phi" then
    io.stderr:write("failure: unknown detector '", d, "' (expiration, phi)\n")
    os.exit(2)
  end
  detectors[#detectors + 1] = d
end

-- The engine's defaults, for the bound and the deadlines.
local INTERVAL = opts.interval or 500
local EXPIRATION = opts.expiration or 10000
local DETECT_DEADLINE_MS = 10 * EXPIRATION + 60000
local function settle_ms(detector)
  return opts.settle or (detector == "phi" and 20 * INTERVAL or 2000)
end

-- One trial: returns the delays (ms) from the kill to each observer's block, sorted,
-- and the number of blocks of members that were not killed.
local function trial(n, detector)
  local hook
  local cl = lib.agent_cluster{
    n = n,
    config = function(k, seed)
      return { id = ("n%02d"):format(k), cluster = "bench-failure", seeds = seed and { seed } or nil,
               gossip_interval_ms = opts.interval, heartbeat_expiration_ms = opts.expiration,
               failure_detector = detector,
               phi_threshold = detector == "phi" and opts["phi-threshold"] or nil }
    end,
    on_message = function(a, msg) if hook then hook(a, msg) end end,
  }
  local ok, delays, false_blocks = xpcall(function()
    local victim
    local blocked_at, false_blocks = {}, 0
    hook = function(a, msg)
      if msg.event == "member" and msg.type == "blocked" then
        if victim and msg.member == victim.id then
          blocked_at[a] = blocked_at[a] or msg.at_ms
        else
          false_blocks = false_blocks + 1
        end
      end
    end
    lib.sleep(settle_ms(detector))
    cl:check_running()
    victim = cl.agents[math.random(n)]
    local t_kill = lib.now()
    victim.killed = true
    victim:kill("SIGKILL")
    local function observers_done()
      local k = 0
      for _ in pairs(blocked_at) do k = k + 1 end
      return k
    end
    if not lib.wait(function()
      cl:check_running()
      return observers_done() == n - 1
    end, DETECT_DEADLINE_MS) then
      error(("%d of %d observers blocked the killed node within %d ms")
        :format(observers_done(), n - 1, DETECT_DEADLINE_MS), 0)
    end
    local delays = {}
    for _, at in pairs(blocked_at) do delays[#delays + 1] = at - t_kill end
    table.sort(delays)
    return delays, false_blocks
  end, debug.traceback)
  cl:close()
  if not ok then error(delays, 0) end
  return delays, false_blocks
end

math.randomseed(os.time())
for _, n in ipairs(opts.nodes) do
  for _, detector in ipairs(detectors) do
    local head = { { "bench", "failure" }, { "system", "rumor" }, { "nodes", n } }
    lib.guarded(head, function()
      local lasts, firsts, false_blocks = {}, {}, 0
      for t = 1, opts.trials do
        local delays, fb = trial(n, detector)
        firsts[t], lasts[t] = delays[1], delays[#delays]
        false_blocks = false_blocks + fb
      end
      local last_ms = {}
      for t, v in ipairs(lasts) do last_ms[t] = lib.round(v) end
      local sorted = table.move(lasts, 1, #lasts, 1, {})
      table.sort(sorted)
      local line = table.move(head, 1, #head, 1, {})
      for _, kv in ipairs{
        { "trials", opts.trials }, { "p50_ms", lib.round(lib.median(lasts)) }, { "max_ms", lib.round(sorted[#sorted]) },
        { "detector", detector }, { "first_ms", lib.round(lib.median(firsts)) }, { "last_ms", last_ms },
        { "gossip_interval_ms", INTERVAL }, { "heartbeat_expiration_ms", EXPIRATION },
        { "phi_threshold", detector == "phi" and (opts["phi-threshold"] or 8.0) or nil },
        { "settle_ms", settle_ms(detector) }, { "bound_ms", EXPIRATION + 2 * INTERVAL },
        { "false_blocks", false_blocks }, { "defaults", not (opts.interval or opts.expiration or opts["phi-threshold"]) },
        { "clock", "harness, on arrival of the line" },
      } do line[#line + 1] = kv end
      lib.emit(line)
    end)
  end
end

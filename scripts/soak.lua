-- scripts/soak.lua: a long run of a 30-process cluster under churn, writes, partitions
-- and light loss, on rumor.testing, ending with identical state on every survivor and
-- no leak. `make soak` runs it against the ASan build (build-asan's module, the ASan
-- runtime preloaded, ASAN_OPTIONS=detect_leaks=1 and scripts/lsan.supp), which every
-- agent inherits, so an agent that leaks exits non-zero with a LeakSanitizer report
-- when it is stopped, and the soak fails on it. Not part of `make test` or CI.
--
--   SOAK_MINUTES=10 (default)  how long the churn goes on
--   SOAK_NODES=30              agents at the start (up to 3 more are added on the way)
--   SOAK_SEED=N                the random choices (default: the clock; printed)
--
-- The loop: a random write every 200 ms on a random running node (set, delete, a map
-- entry set or removed, over 20 keys and a map of 10 fields); every 15-25 s a churn
-- event (kill -9 and a restart under the same id, a graceful leave and a restart, a
-- pause of 4-8 s, or a new node); every 50-70 s a partition into two random groups for
-- 15-20 s, then a heal, and one more over the last 15 s; sometimes 5 % loss on three
-- nodes for 10-20 s. At the end: every pending restart and resume is done, everything
-- is healed (convergence_ms counts from this heal), and the soak waits
-- until every survivor holds the same state: each agent runs a script that prints a
-- digest of what it holds (every alive member's generation, max_seq, key and tombstone
-- counts, and every value with its seq of the soak's keys and map) when it changes,
-- and all of them must print the same one, covering every survivor; the values are
-- then compared once more through `get` (cluster:same_state). Every agent is then
-- stopped gracefully and its exit and stderr are checked (a leak report, an ASan or
-- UBSan error, or a non-zero exit fails the soak; processes it killed itself are not
-- counted). One JSON line on stdout sums it up; the exit code is 0 or 1. Progress goes
-- to stderr.
local testing = require("rumor.testing")
local process = require("rumor.process")
local core = require("rumor.core")
local json = require("rumor.json")

local function env_number(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = tonumber(v)
  if not n or n <= 0 then
    io.stderr:write("soak: ", name, " must be a positive number, got ", v, "\n")
    os.exit(2)
  end
  return n
end

local MINUTES = env_number("SOAK_MINUTES", 10)
local NODES = math.floor(env_number("SOAK_NODES", 30))
local SEED = math.floor(env_number("SOAK_SEED", os.time()))
local MAX_NODES = NODES + 3
local WRITE_EVERY_MS = 200
local CHURN_MS = { 15000, 25000 }
local PARTITION_EVERY_MS = { 50000, 70000 }
local PARTITION_MS = { 15000, 20000 }
local LOSS_EVERY_MS = { 30000, 60000 }
local LOSS_MS = { 10000, 20000 }
local DEADLINE_MS = 120000       -- per wait of the harness: 30+ ASan agents on 2 cores
local CONVERGE_MS = 300000       -- for identical state after the last heal
local CONFIG = {
  gossip_interval_ms = 200,
  heartbeat_expiration_ms = 3000,  -- a 4-8 s pause is a block and a rejoin
}
local KEYS, MAP, FIELDS = {}, "m", {}
for i = 1, 20 do KEYS[i] = "k" .. i end
for i = 1, 10 do FIELDS[i] = "f" .. i end

math.randomseed(SEED)

-- What each agent runs: a digest of what it holds, printed when it changes (checked
-- every 500 ms). FNV-1a 64 over a canonical text: alive members sorted by id, each
-- with generation, max_seq, keys and tombstones, then each soak key's value and seq,
-- then each map field's.
local DIGEST_SCRIPT = ([=[
local rumor = require("rumor")
local KEYS, MAP = %s, %q
return function(node, agent)
  local core = node._core
  local function fnv(h, s)
    for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
    return h
  end
  local function digest()
    local h, members, entries = -3750763034362895579, 0, 0   -- the FNV offset basis
    local list = node:members()
    table.sort(list, function(a, b) return a.id < b.id end)
    for _, m in ipairs(list) do
      if m.status == "alive" then
        members = members + 1
        h = fnv(h, ("%%s|%%d|%%d|%%d|%%d\n"):format(m.id, m.generation, m.max_seq, m.keys, m.tombstones))
        for _, k in ipairs(KEYS) do
          local v, seq = core:get_entry(m.id, k)
          if v then
            entries = entries + 1
            h = fnv(h, ("%%s=%%s@%%d\n"):format(k, v, seq))
          end
        end
        for _, f in ipairs(core:map_keys(MAP, m.id)) do
          local v, seq = core:map_get_entry(m.id, MAP, f)
          if v then
            entries = entries + 1
            h = fnv(h, ("%%s.%%s=%%s@%%d\n"):format(MAP, f, v, seq))
          end
        end
      end
    end
    return ("%%016x"):format(h), members, entries
  end
  local last
  local function tick()
    local ok, hash, members, entries = pcall(digest)
    if not ok then return end   -- the node is closed: stop
    if hash ~= last then
      last = hash
      agent.emit{ event = "soak_digest", hash = hash, members = members, entries = entries }
    end
    rumor.after(500, tick)
  end
  rumor.after(500, tick)
end
]=]):format(("{ %q" .. (", %q"):rep(#KEYS - 1) .. " }"):format(table.unpack(KEYS)), MAP)

local t0 = core.hrtime_ms()
local function now() return math.floor(core.hrtime_ms() - t0) end
local function log(fmt, ...)
  io.stderr:write(("[soak %7.1f s] "):format(now() / 1000), fmt:format(...), "\n")
end
local function between(r) return math.random(r[1], r[2]) end
local function pick(list) return list[math.random(1, #list)] end
local function sleep(ms) process.eventually(function() return false end, ms) end

local stats = {
  minutes = MINUTES, seed = SEED, nodes_at_start = NODES, processes_started = 0,
  kills = 0, restarts = 0, leaves = 0, pauses = 0, adds = 0, partitions = 0,
  loss_periods = 0, writes = 0, final_members = 0, convergence_ms = nil,
  max_rss_kb = {}, leaks_found = 0, sanitizer_errors = 0, bad_exits = setmetatable({}, json.array),
  module = package.searchpath("rumor.core", package.cpath),
}

local c
local busy = {}         -- node id -> what is pending for it
local scheduled = {}    -- { at = ms, fn = function, what = text }
local partitioned = false
local failure

local function later(ms, what, fn)
  scheduled[#scheduled + 1] = { at = now() + ms, what = what, fn = fn }
end

local function run_due(all)
  local i = 1
  while i <= #scheduled do
    local s = scheduled[i]
    if all or now() >= s.at then
      table.remove(scheduled, i)
      log("%s", s.what)
      s.fn()
    else
      i = i + 1
    end
  end
end

-- Running nodes nothing is pending for.
local function available()
  local out = {}
  for _, n in ipairs(c:live()) do
    if not busy[n.id] then out[#out + 1] = n end
  end
  return out
end

local function write()
  local list = available()
  if #list == 0 then return end
  local n = pick(list)
  local r = math.random()
  stats.writes = stats.writes + 1
  local value = ("%s-%d"):format(n.id, stats.writes)
  if r < 0.5 then
    n:set(pick(KEYS), value)
  elseif r < 0.65 then
    n:delete(pick(KEYS))
  elseif r < 0.9 then
    n:call{ cmd = "set_map", key = MAP, map_key = pick(FIELDS), value = value }
  else
    n:call{ cmd = "remove_map", key = MAP, map_key = pick(FIELDS) }
  end
end

local function restart(n)
  n:restart()
  stats.restarts = stats.restarts + 1
  busy[n.id] = nil
  log("%s restarted as generation %d", n.id, n.generation)
end

local CHURN = {
  kill = function(n)
    n:kill()
    stats.kills = stats.kills + 1
    busy[n.id] = "killed"
    later(math.random(2000, 6000), "restart " .. n.id .. " after kill -9", function() restart(n) end)
  end,
  leave = function(n)
    local ok, err = n:leave(5000)
    stats.leaves = stats.leaves + 1
    busy[n.id] = "left"
    if not ok then log("%s left without hearing enough peers (%s)", n.id, tostring(err)) end
    later(math.random(2000, 5000), "restart " .. n.id .. " after leave", function() restart(n) end)
  end,
  pause = function(n)
    n:pause()
    stats.pauses = stats.pauses + 1
    busy[n.id] = "paused"
    later(math.random(4000, 8000), "resume " .. n.id, function()
      n:resume()
      busy[n.id] = nil
    end)
  end,
}

local function churn()
  local list = available()
  local kinds = {}
  if #list > NODES * 2 // 3 then kinds = { "kill", "leave", "pause" } end
  if #c.nodes < MAX_NODES and not partitioned then kinds[#kinds + 1] = "add" end
  if #kinds == 0 then return end
  local kind = pick(kinds)
  if kind == "add" then
    local n = c:add()
    stats.adds = stats.adds + 1
    log("added %s", n.id)
    return
  end
  local n = pick(list)
  log("%s %s", kind, n.id)
  CHURN[kind](n)
end

local function partition()
  local ids = {}
  for _, n in ipairs(c.nodes) do ids[#ids + 1] = n.id end
  for i = #ids, 2, -1 do
    local j = math.random(1, i)
    ids[i], ids[j] = ids[j], ids[i]
  end
  local cut = math.random(#ids // 4, #ids // 2)
  local a, b = {}, {}
  for i, id in ipairs(ids) do
    if i <= cut then a[#a + 1] = id else b[#b + 1] = id end
  end
  c:partition(a, b)
  partitioned = true
  stats.partitions = stats.partitions + 1
  log("partition %d | %d", #a, #b)
end

local function loss()
  local list = available()
  local lossy = {}
  for _ = 1, math.min(3, #list) do
    local i = math.random(1, #list)
    lossy[#lossy + 1] = table.remove(list, i)
  end
  for _, n in ipairs(lossy) do n:fault{ loss = 0.05 } end
  stats.loss_periods = stats.loss_periods + 1
  local names = {}
  for i, n in ipairs(lossy) do names[i] = n.id end
  log("5 %% loss on %s", table.concat(names, ", "))
  local agents = {}
  for i, n in ipairs(lossy) do agents[i] = n.agent end
  later(between(LOSS_MS), "loss off", function()
    for i, n in ipairs(lossy) do
      if n.agent == agents[i] and n:running() then n:fault{} end   -- no fields: the default goes
    end
  end)
end

-- The driver keeps every event the agents print; update events are only counted.
local function prune_events()
  for _, n in ipairs(c.nodes) do
    local a = n.agent
    local kept = {}
    for _, e in ipairs(a.events) do
      if e.event ~= "update" then kept[#kept + 1] = e end
    end
    a.events = kept
  end
end

local function sample_rss()
  for _, n in ipairs(c.nodes) do
    local kb = n:rss_kb()
    if kb and kb > (stats.max_rss_kb[n.id] or 0) then stats.max_rss_kb[n.id] = kb end
  end
end

-- A node whose process ended by itself is a crash.
local function check_crashes()
  for _, n in ipairs(c.nodes) do
    if n:status() == "exited" then error(n.id .. " exited on its own: " .. n:describe(), 0) end
  end
end

-- The latest digest each survivor printed: all the same, covering every survivor?
local function converged()
  local live = c:live()
  local first
  for _, n in ipairs(live) do
    local d
    for i = #n.agent.events, 1, -1 do
      local e = n.agent.events[i]
      if e.event == "soak_digest" then d = e break end
    end
    if not d then return false, n.id .. " printed no digest" end
    if d.members ~= #live then return false, ("%s holds %d alive members of %d"):format(n.id, d.members, #live) end
    if not first then
      first = { id = n.id, d = d }
    elseif d.hash ~= first.d.hash then
      return false, ("%s and %s differ (%d and %d entries)"):format(first.id, n.id, first.d.entries, d.entries)
    end
  end
  if not first then return false, "no survivor" end
  return first.d
end

local function soak()
  log("%d nodes, %s minutes, seed %d, module %s", NODES, tostring(MINUTES), SEED, tostring(stats.module))
  c = testing.cluster{ nodes = NODES, config = CONFIG, script = DIGEST_SCRIPT, deadline_ms = DEADLINE_MS }
  -- Whether the leak check is on: the agents run with the ASan runtime mapped.
  local maps = io.open("/proc/" .. c:node(1).agent.pid .. "/maps", "r")
  stats.asan = maps ~= nil and maps:read("a"):find("libasan", 1, true) ~= nil
  if maps then maps:close() end
  log("%d nodes joined; agents %s the ASan runtime", NODES, stats.asan and "run with" or "run WITHOUT")
  local stop_at = now() + math.floor(MINUTES * 60000)
  local next_write, next_churn = now(), now() + between(CHURN_MS)
  local next_partition, heal_at = now() + between(PARTITION_EVERY_MS), nil
  local next_loss, next_sample = now() + between(LOSS_EVERY_MS), now()
  while now() < stop_at do
    if now() >= next_write then
      write()
      next_write = now() + WRITE_EVERY_MS
    end
    run_due(false)
    if now() >= next_churn then
      churn()
      next_churn = now() + between(CHURN_MS)
    end
    if now() >= stop_at - PARTITION_MS[1] then
      -- The last partition lasts to the end: the final heal is a real one.
      if not partitioned then partition() end
      heal_at = math.huge
    elseif not partitioned and now() >= next_partition then
      partition()
      heal_at = now() + between(PARTITION_MS)
    elseif partitioned and now() >= heal_at then
      c:heal()
      partitioned = false
      log("healed")
      next_partition = now() + between(PARTITION_EVERY_MS)
    end
    if now() >= next_loss then
      loss()
      next_loss = now() + between(LOSS_EVERY_MS)
    end
    if now() >= next_sample then
      sample_rss()
      prune_events()
      check_crashes()
      next_sample = now() + 10000
    end
    sleep(20)
  end

  log("churn over after %d writes: finishing what is pending, healing", stats.writes)
  run_due(true)
  check_crashes()
  c:heal()
  partitioned = false
  local healed = now()
  c:wait_joined("every survivor sees every other alive after the last heal")
  local digest = c:eventually(converged, CONVERGE_MS, "the same digest on every survivor")
  stats.convergence_ms = now() - healed
  log("identical state on %d survivors (%d entries each) %d ms after the last heal",
    #c:live(), digest.entries, stats.convergence_ms)
  local same, diff = c:eventually(function() return c:same_state(KEYS) end, DEADLINE_MS, "the same values through get")
  assert(same, diff)
  stats.final_members = #c:live()
  sample_rss()
end

-- Stops every agent gracefully and checks how each process of the run ended.
local function finish()
  if not c then return end
  for _, n in ipairs(c.nodes) do
    if n:status() == "paused" then n.agent:kill("SIGCONT") end
  end
  for _, a in ipairs(c.group.agents) do a:stop() end
  process.eventually(function() return c.group:all_exited() end, DEADLINE_MS)
  c:close()
  stats.processes_started = #c.group.agents
  for _, a in ipairs(c.group.agents) do
    local text = table.concat(a.stderr, "\n")
    if text:find("LeakSanitizer", 1, true) then stats.leaks_found = stats.leaks_found + 1 end
    if text:find("ERROR: AddressSanitizer", 1, true) or text:find("runtime error:", 1, true) then
      stats.sanitizer_errors = stats.sanitizer_errors + 1
    end
    local killed = a.by_harness and a.exit_signal == 9
    if not a.exited or (not killed and (a.exit_code ~= 0 or (a.exit_signal or 0) ~= 0)) then
      stats.bad_exits[#stats.bad_exits + 1] = a:describe()
      io.stderr:write(a.name, " stderr:\n", text, "\n")
    end
  end
end

local ok, err = xpcall(soak, debug.traceback)
if not ok then
  failure = tostring(err)
  log("failed: %s", failure)
  if c then io.stderr:write(c:describe(), "\n") end
end
local fok, ferr = xpcall(finish, debug.traceback)
if not fok then failure = (failure and failure .. "\n" or "") .. tostring(ferr) end

stats.ok = failure == nil and stats.leaks_found == 0 and stats.sanitizer_errors == 0 and #stats.bad_exits == 0
stats.error = failure
if next(stats.max_rss_kb) == nil then stats.max_rss_kb = nil end
io.stdout:write(json.encode(stats), "\n")
io.stdout:flush()
os.exit(stats.ok and 0 or 1, true)

-- health.lua: health monitoring with heartbeat stats and a block policy. Four nodes in
-- one process. Each node
--   * publishes its (simulated) load and error count in its heartbeat with
--     node:set_heartbeat_stats; the others read them in node:members();
--   * runs a block policy that blocks a member whose load goes over 80% or whose errors
--     go over 10, and says why in words (node:why shows them).
-- The script shows what a sees of the others, then d's load rises to 95% and everyone
-- blocks d. d's load falls back, but a block holds for the member's generation: d stays
-- blocked until it restarts (a new node object with the same id, so a new generation),
-- and then it joins again. Run it with `rumor run examples/health.lua`: it prints each
-- step and ends by itself.
local rumor = require("rumor")

local DEADLINE_MS = 10000   -- far more than loopback gossip needs
local MAX_LOAD, MAX_ERRORS = 80, 10
local IDS = { "a", "b", "c", "d" }

-- The simulated figures each node reports; the script changes them.
local load = { a = 20, b = 35, c = 25, d = 30 }
local errors = { a = 0, b = 2, c = 0, d = 1 }

local function policy(_, info)
  local stats = info.stats or {}
  if stats.load and stats.load > MAX_LOAD then
    return ("load %d%% over %d%%"):format(stats.load, MAX_LOAD)
  end
  if stats.errors and stats.errors > MAX_ERRORS then
    return ("%d errors, more than %d"):format(stats.errors, MAX_ERRORS)
  end
end

local nodes = {}   -- by id; d is replaced when it restarts

local function start(id)
  local node = rumor.new{ id = id, cluster = "health", gossip_interval_ms = 50,
                          seeds = nodes.a and { nodes.a:address() } or {} }
  node:set_heartbeat_stats(function() return { load = load[id], errors = errors[id] } end)
  node:set_block_policy(policy)
  node:start()
  nodes[id] = node
  return node
end

-- Waits (yielding: this runs in rumor.spawn) until pred() holds, or gives up.
local function wait_until(what, pred)
  local deadline = rumor.now() + DEADLINE_MS
  while not pred() do
    if rumor.now() > deadline then
      error(("health: %s did not happen within %d ms"):format(what, DEADLINE_MS), 0)
    end
    rumor.sleep(10)
  end
end

-- observer's record of id, or nil.
local function record(observer, id)
  for _, m in ipairs(observer:members()) do
    if m.id == id then return m end
  end
end

-- observer sees id alive with the figures it reports now, of generation gen if given.
local function sees_alive(observer, id, gen)
  local m = record(observer, id)
  return m and m.status == "alive" and (gen == nil or m.generation == gen)
    and m.stats.load == load[id] and m.stats.errors == errors[id]
end

local function figures(m)
  return ("%s load %d%% errors %d"):format(m.id, m.stats.load, m.stats.errors)
end

local function why(observer, id)
  return (observer:why(id).text:gsub(", [%d.]+ s ago$", ""))   -- the age varies
end

rumor.spawn(function()
  local ok, err = pcall(function()
    for _, id in ipairs(IDS) do start(id) end
    wait_until("every node seeing the others' stats", function()
      for _, observer in pairs(nodes) do
        for _, id in ipairs(IDS) do
          if id ~= observer:id() and not sees_alive(observer, id) then return false end
        end
      end
      return true
    end)
    local seen = {}
    for _, id in ipairs{ "b", "c", "d" } do seen[#seen + 1] = figures(record(nodes.a, id)) end
    print("a sees: " .. table.concat(seen, ", "))

    load.d = 95
    wait_until("a, b and c blocking d", function()
      for _, id in ipairs{ "a", "b", "c" } do
        if nodes[id]:why("d").status ~= "blocked" then return false end
      end
      return true
    end)
    print("d's load rises to 95%: a, b and c block it")
    print("a: d is " .. why(nodes.a, "d"))

    load.d = 30
    local old_d = nodes.d
    wait_until("d publishing its lower load", function()
      return old_d:members()[1].stats.load == 30
    end)
    rumor.sleep(500)   -- ten rounds more: time enough for a lifted block to show
    for _, id in ipairs{ "a", "b", "c" } do
      if nodes[id]:why("d").status ~= "blocked" then
        error("health: " .. id .. " let d's old generation back in", 0)
      end
    end
    print("d's load falls to 30%; the block holds for d's generation, so a still says: d is "
      .. why(nodes.a, "d"))

    old_d:stop()
    local d = start("d")   -- the same id, a new node object: a newer generation
    wait_until("d's new generation joining", function()
      for _, id in ipairs{ "a", "b", "c" } do
        if not sees_alive(nodes[id], "d", d:generation()) then return false end
      end
      return true
    end)
    print("d restarts as a new generation: a, b and c see it alive again, "
      .. figures(record(nodes.a, "d")))
    print("a: d is " .. why(nodes.a, "d"))
  end)
  for _, node in pairs(nodes) do node:stop() end
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
end)

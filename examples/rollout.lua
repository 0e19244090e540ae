-- rollout.lua: a configuration rollout guarded by Lua. Four nodes in one process.
-- Each node
--   * validates the "config" values it receives (JSON with an integer "version" and a
--     positive "workers"): a bad one stays out of its view and is logged;
--   * watches a consensus check on the config's version: "reached" once every live
--     member runs the same one;
--   * blocks, by policy, a member whose heartbeat stats say it is draining, and can say
--     why (node:why).
-- The script rolls version 2 out, watches consensus come, then d publishes a broken
-- config (refused by everyone), then d starts draining and is blocked; consensus is
-- reached again without it. Run it with `rumor run examples/rollout.lua`: it prints
-- what happened, step by step, and ends by itself.
local rumor = require("rumor")

local DEADLINE_MS = 10000   -- far more than loopback gossip needs
local IDS = { "a", "b", "c", "d" }

-- A config is acceptable when it parses and says what a worker needs.
local function check_config(_, _, value)
  if value == nil then return true end          -- a delete is always fine
  local ok, cfg = pcall(require("cjson").decode, value)
  if not ok or type(cfg) ~= "table" then return false, "not JSON" end
  if not math.tointeger(cfg.version) then return false, "no integer version" end
  if type(cfg.workers) ~= "number" or cfg.workers < 1 then return false, "workers must be >= 1" end
  return true
end

local nodes, checks, draining, refused = {}, {}, {}, 0
for i, id in ipairs(IDS) do
  local node = rumor.new{ id = id, cluster = "rollout", gossip_interval_ms = 50,
                          seeds = i > 1 and { nodes[1]:address() } or {} }
  node:on_log(function(r)
    if r.message:find("^rejected") then refused = refused + 1 end
  end)
  node:validate("config", check_config)
  node:set_heartbeat_stats(function() return { draining = draining[id] and 1 or 0 } end)
  node:set_block_policy(function(_, info)
    if info.stats and info.stats.draining == 1 then return "draining for maintenance" end
  end)
  checks[i] = node:register_consensus_check("config", function(value)
    local ok, cfg = pcall(require("cjson").decode, value)
    return ok and type(cfg) == "table" and math.tointeger(cfg.version) or nil
  end)
  node:start()
  nodes[i] = node
end

-- Waits (yielding: this runs in rumor.spawn) until pred() holds, or gives up.
local function wait_until(what, pred)
  local deadline = rumor.now() + DEADLINE_MS
  while not pred() do
    if rumor.now() > deadline then error("rollout: " .. what .. " did not happen", 0) end
    rumor.sleep(20)
  end
end

local function everyone_agrees_on(version)
  for _, c in ipairs(checks) do
    local reached, value = c:result()
    if not reached or value ~= version then return false end
  end
  return true
end

rumor.spawn(function()
  local ok, err = pcall(function()
    -- A node counts the members it knows: publish once all four know each other.
    wait_until("the cluster forms", function()
      for _, node in ipairs(nodes) do if #node:members() ~= #IDS then return false end end
      return true
    end)
    for _, node in ipairs(nodes) do
      node:set_json("config", { version = 2, workers = 4 })
    end
    print("version 2 published on every node")
    assert(checks[1]:wait(DEADLINE_MS) == 2)
    wait_until("consensus on 2 everywhere", function() return everyone_agrees_on(2) end)
    print("consensus: every node runs version 2")

    nodes[4]:set_state("config", '{"version": 3, "workers": 0}')
    wait_until("d's bad config refused by the others", function()
      for i = 1, 3 do if nodes[i]:metrics().entries_rejected < 1 then return false end end
      return refused >= 3   -- and each refusal reached its node's log
    end)
    print("d's config with 0 workers was refused by a, b and c; they still see version "
      .. nodes[1]:get_json("config").d.version)

    draining.d = true
    wait_until("d blocked by everyone", function()
      for i = 1, 3 do if nodes[i]:why("d").status ~= "blocked" then return false end end
      return true
    end)
    print("a: d is " .. nodes[1]:why("d").text:gsub(", [%d.]+ s ago$", ""))
    wait_until("consensus without d", function()
      for i = 1, 3 do
        local reached, value = checks[i]:result()
        if not reached or value ~= 2 then return false end
      end
      return true
    end)
    print("consensus again on a, b and c without d: version 2")
  end)
  for _, node in ipairs(nodes) do node:stop() end
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
end)

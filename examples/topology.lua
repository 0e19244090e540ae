-- topology.lua: topology-hash consensus, as Proto.Actor's cluster does it. Every node
-- publishes under "topology" a hash of the member ids it sees alive (sorted, hashed with
-- 32-bit FNV-1a, followed by the list itself so a person can read it), republishes it
-- from its on_member events, and registers a consensus check on "topology" whose
-- extractor keeps only the hash. The check is reached when every live member publishes
-- the same hash: when every node sees the same members.
-- The script forms a cluster of four nodes, lets a fifth join, then lets one leave; each
-- change costs the consensus until every node has republished its view, then it is
-- reached again on the new hash. Run it with `rumor run examples/topology.lua`: it
-- prints each step and ends by itself.
local rumor = require("rumor")

local DEADLINE_MS = 10000   -- far more than loopback gossip needs

-- 32-bit FNV-1a of a string, as 8 hex digits.
local function fnv1a(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return ("%08x"):format(h)
end

-- "HASH a,b,c": this node's view of the members alive (those a check counts: status
-- alive, generation known), sorted so that every node hashes the same view alike.
local function view_of(node)
  local ids = {}
  for _, m in ipairs(node:members()) do
    if m.status == "alive" and m.generation > 0 then ids[#ids + 1] = m.id end
  end
  table.sort(ids)
  local list = table.concat(ids, ",")
  return fnv1a(list) .. " " .. list
end

local nodes, checks = {}, {}   -- by id

-- Publishes node's view under "topology" when it changed.
local function publish(node)
  local view = view_of(node)
  local held = node:get_state("topology")[node:id()]
  if held ~= view then node:set_state("topology", view) end
end

local function add(id, seed)
  local node = rumor.new{ id = id, cluster = "topology", gossip_interval_ms = 50,
                          seeds = seed and { seed:address() } or {} }
  node:on_member(function() publish(node) end)   -- joined, left, blocked, ...: a new view
  checks[id] = node:register_consensus_check("topology", function(value)
    return value:match("^(%x+) ")                 -- the hash, like protoactor's topology_hash
  end)
  node:start()
  publish(node)                                   -- alone so far: a view of itself
  nodes[id] = node
  return node
end

-- Waits (yielding: this runs in rumor.spawn) until pred() holds, or gives up.
local function wait_until(what, pred)
  local deadline = rumor.now() + DEADLINE_MS
  while not pred() do
    if rumor.now() > deadline then
      error(("topology: %s did not happen within %d ms"):format(what, DEADLINE_MS), 0)
    end
    rumor.sleep(10)
  end
end

-- Waits until the check of each of ids is reached on the hash of exactly those ids.
local function consensus_on(ids)
  local list = table.concat(ids, ",")
  local hash = fnv1a(list)
  wait_until("consensus on " .. list, function()
    for _, id in ipairs(ids) do
      local reached, value = checks[id]:result()
      if not reached or value ~= hash then return false end
    end
    return true
  end)
  return ("consensus on topology %s (%s) on every node"):format(hash, list)
end

-- Waits until a's check reports a loss of consensus (on_change with reached = false).
local function a_loses_consensus()
  local lost = false
  local watch = checks.a:on_change(function(reached) if not reached then lost = true end end)
  return function()
    wait_until("a's check losing consensus", function() return lost end)
    watch:cancel()
  end
end

rumor.spawn(function()
  local ok, err = pcall(function()
    local a = add("a")
    for _, id in ipairs{ "b", "c", "d" } do add(id, a) end
    print("a, b, c and d: " .. consensus_on{ "a", "b", "c", "d" })

    local lost = a_loses_consensus()
    add("e", a)
    lost()
    print("e joins through a: a's check loses consensus while the views differ")
    print("every node republished its view: " .. consensus_on{ "a", "b", "c", "d", "e" })

    lost = a_loses_consensus()
    local left = nodes.c:leave({ timeout_ms = DEADLINE_MS })
    if not left then error("topology: c's leave was not acknowledged", 0) end
    lost()
    print("c leaves: a's check loses consensus while the views differ")
    print("every node republished its view: " .. consensus_on{ "a", "b", "d", "e" })
  end)
  for _, node in pairs(nodes) do node:stop() end
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
end)

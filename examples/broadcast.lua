-- broadcast.lua: recursive broadcast (Riak's recursive gossip) against the default
-- epidemic push. Fifteen nodes a..o in one process, first with broadcast = "tree" and
-- broadcast_branching = 2, then a fresh cluster of the same size with the default
-- broadcast = "epidemic". In each, f writes one key once; the script waits until every
-- node has it and prints how many pushes each node sent for it (the difference of
-- node:metrics().pushes_sent).
-- In tree mode every node sorts the live members by id and rotates the list so the
-- writer comes first; position i pushes to positions 2i+1 and 2i+2, and a node passes
-- news on only down that tree: each node sends at most 2 pushes, N-1 in all, and the
-- write is log2(N) hops deep. In epidemic mode every node that learns the news passes it
-- to gossip_fan_out (3) random peers and its ring successor.
-- Run it with `rumor run examples/broadcast.lua`: it prints both and ends by itself.
local rumor = require("rumor")

local DEADLINE_MS = 10000   -- far more than loopback gossip needs
local BRANCHING = 2
local IDS = {}
for i = 1, 15 do IDS[i] = string.char(("a"):byte() + i - 1) end   -- a..o, sorted
local WRITER = "f"

-- Waits (yielding: this runs in rumor.spawn) until pred() holds, or gives up.
local function wait_until(what, pred)
  local deadline = rumor.now() + DEADLINE_MS
  while not pred() do
    if rumor.now() > deadline then
      error(("broadcast: %s did not happen within %d ms"):format(what, DEADLINE_MS), 0)
    end
    rumor.sleep(5)
  end
end

-- The writer's tree by the rule above (README, "Broadcast modes"): "f > g h, ..." and
-- its depth in hops.
local function tree_of(writer)
  local n, root = #IDS, nil
  for k, id in ipairs(IDS) do if id == writer then root = k - 1 end end
  local function at(pos) return IDS[(root + pos) % n + 1] end
  local lines, depth = {}, 0
  for pos = 0, n - 1 do
    local kids = {}
    for c = BRANCHING * pos + 1, math.min(BRANCHING * pos + BRANCHING, n - 1) do
      kids[#kids + 1] = at(c)
    end
    if #kids > 0 then lines[#lines + 1] = at(pos) .. " > " .. table.concat(kids, " ") end
  end
  for pos = n - 1, 1, -1 do   -- the last position is the deepest
    local d, p = 0, pos
    while p > 0 do p, d = (p - 1) // BRANCHING, d + 1 end
    if d > depth then depth = d end
  end
  return table.concat(lines, ", "), depth
end

local nodes = {}

-- Starts a cluster of IDS in mode, waits until each node knows them all alive, has
-- WRITER write once, waits until every node holds the write, and returns the pushes
-- each node sent for it, by id.
local function one_write(mode)
  for i, id in ipairs(IDS) do
    nodes[i] = rumor.new{ id = id, cluster = "broadcast-" .. mode, gossip_interval_ms = 50,
                          broadcast = mode, broadcast_branching = BRANCHING,
                          seeds = i > 1 and { nodes[1]:address() } or {} }:start()
  end
  wait_until(mode .. ": every node seeing all " .. #IDS .. ", settled", function()
    for _, node in ipairs(nodes) do
      local members = node:members()
      if #members ~= #IDS then return false end
      -- Settled too: each heartbeat entry already counts everyone (the engine rewrites
      -- it once, 10 rounds after start), so no heartbeat push falls into the count.
      for _, m in ipairs(members) do
        if m.status ~= "alive" or m.generation == 0 or m.members_alive ~= #IDS then return false end
      end
    end
    return true
  end)
  local before, writer = {}, nil
  for _, node in ipairs(nodes) do
    before[node:id()] = node:metrics().pushes_sent
    if node:id() == WRITER then writer = node end
  end
  writer:set_state("news", "hello")
  wait_until(mode .. ": every node getting " .. WRITER .. "'s write", function()
    for _, node in ipairs(nodes) do
      if node:get_state("news")[WRITER] ~= "hello" then return false end
    end
    return true
  end)
  -- A node passes news on as it receives it, so the pushes are all counted by now.
  local sent = {}
  for _, node in ipairs(nodes) do sent[node:id()] = node:metrics().pushes_sent - before[node:id()] end
  for _, node in ipairs(nodes) do node:stop() end
  nodes = {}
  return sent
end

rumor.spawn(function()
  local ok, err = pcall(function()
    local sent = one_write("tree")
    local shape, depth = tree_of(WRITER)
    local list, total, most = {}, 0, 0
    for _, id in ipairs(IDS) do
      list[#list + 1] = id .. " " .. sent[id]
      total, most = total + sent[id], math.max(most, sent[id])
    end
    print(("tree (broadcast_branching = %d): %d nodes; %s writes once and every node gets it")
      :format(BRANCHING, #IDS, WRITER))
    print(("  %s's tree, %d hops deep: %s"):format(WRITER, depth, shape))
    print("  pushes sent: " .. table.concat(list, ", "))
    print(("  %d in all (N-1), no node more than %d"):format(total, most))

    sent = one_write("epidemic")
    local least, total_e = math.huge, 0
    most = 0
    for _, id in ipairs(IDS) do
      least, most = math.min(least, sent[id]), math.max(most, sent[id])
      total_e = total_e + sent[id]
    end
    print(("epidemic (gossip_fan_out = 3): %d nodes; %s writes once and every node gets it")
      :format(#IDS, WRITER))
    local each = least == most and tostring(least) or ("%d or %d"):format(least, most)
    print(("  every node passed it on, %s pushes each (3 random peers and its ring successor):"
      .. " %d or more in all, against the tree's %d"):format(each, least * #IDS, total))
  end)
  for _, node in ipairs(nodes) do node:stop() end
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
end)

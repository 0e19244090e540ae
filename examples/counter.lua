-- counter.lua: a cluster-wide counter. Three nodes in one process each publish how
-- many requests they served under "requests"; every node keeps the total with
-- node:aggregate("requests", "sum"), which follows the counts as they spread.
-- Run it with `rumor run examples/counter.lua`: it prints the total once every node
-- has it, stops the nodes and ends.
local rumor = require("rumor")

local SERVED = { a = 3, b = 5, c = 9 }   -- each node's own count
local EXPECTED = 17                      -- 3 + 5 + 9
local DEADLINE_MS = 10000                -- far more than loopback gossip needs

local nodes, totals = {}, {}
local finished = false

local function finish(problem)
  if finished then return end
  finished = true
  for _, node in ipairs(nodes) do node:stop() end
  if problem then
    io.stderr:write("counter: ", problem, "\n")
    os.exit(1)
  end
  print(("every node counts %d requests (a %d + b %d + c %d)")
    :format(totals[1]:value(), SERVED.a, SERVED.b, SERVED.c))
end

local deadline = rumor.after(DEADLINE_MS, function()
  finish(("the nodes did not all count %d within %d ms"):format(EXPECTED, DEADLINE_MS))
end)

-- Called whenever one node's total changes: done once all of them show the sum.
local function on_total()
  for _, total in ipairs(totals) do
    if total:value() ~= EXPECTED then return end
  end
  deadline:cancel()
  rumor.after(0, finish)   -- stop the nodes outside the update being delivered
end

for _, id in ipairs{ "a", "b", "c" } do
  local node = rumor.new{ id = id, cluster = "counter", gossip_interval_ms = 100,
                          seeds = nodes[1] and { nodes[1]:address() } or {} }
  node:start()
  local total = node:aggregate("requests", "sum")
  total:on_change(on_total)
  nodes[#nodes + 1], totals[#totals + 1] = node, total
  node:set_state("requests", tostring(SERVED[id]))
end

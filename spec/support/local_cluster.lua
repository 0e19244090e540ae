-- spec/support/local_cluster.lua: nodes of one process on loopback for the specs, made,
-- joined, waited on and closed in one place. Waits poll through rumor.process.eventually
-- (rumor.sleep inside rumor.spawn, the loop driven otherwise) under a deadline, never a
-- fixed delay.
--
--   local local_cluster = require("spec.support.local_cluster")
--   describe("x", function()
--     local cluster = local_cluster.new{ cluster = "spec-x", gossip_interval_ms = 50,
--                                        deadline_ms = 10000, quiet_log = true }
--     after_each(function() cluster:close() end)   -- closes and forgets the test's nodes
--     it("...", function()
--       local a, b, c = cluster:trio()              -- started, each sees the three
--       a:set_state("k", "v")
--       cluster:until_("b has a's write", function() return b:get_state("k").a end)
--     end)
--   end)
--
-- Options of new: deadline_ms (10000) bounds every wait; quiet_log = true keeps the nodes'
-- log records in cluster.log instead of printing them; every other field is a default of
-- each node's rumor.new config. cluster.nodes lists the nodes made since the last close(),
-- in order, and cluster.log their records (with quiet_log); close() empties both in place.
local rumor = require("rumor")
local process = require("rumor.process")

local M = {}

local Cluster = {}
Cluster.__index = Cluster

function M.new(opts)
  local self = setmetatable({ nodes = {}, log = {}, defaults = {}, deadline_ms = 10000 }, Cluster)
  for k, v in pairs(opts or {}) do
    if k == "deadline_ms" then self.deadline_ms = v
    elseif k == "quiet_log" then self.quiet_log = v
    else self.defaults[k] = v end
  end
  return self
end

-- A node of id, not started, kept for close(). extra's fields override the defaults.
function Cluster:add(id, extra)
  local cfg = { id = id }
  for k, v in pairs(self.defaults) do cfg[k] = v end
  for k, v in pairs(extra or {}) do cfg[k] = v end
  local n = rumor.new(cfg)
  if self.quiet_log then
    local log = self.log
    n:on_log(function(record) log[#log + 1] = record end)
  end
  self.nodes[#self.nodes + 1] = n
  return n
end

-- add(id, extra) with seeds (a list of addresses), started.
function Cluster:start(id, seeds, extra)
  local cfg = { seeds = seeds }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  local n = self:add(id, cfg)
  n:start()
  return n
end

-- Polls pred until it gives a true value, which is returned; raises "not within N ms:
-- what" at the caller's line once the deadline passes.
function Cluster:until_(what, pred)
  local v = process.eventually(pred, self.deadline_ms)
  if not v then error(("not within %d ms: %s"):format(self.deadline_ms, what), 2) end
  return v
end

-- Waits until every node lists n members, each alive and with a generation.
function Cluster:joined(n)
  self:until_(("every node sees %d members alive"):format(n), function()
    for _, node in ipairs(self.nodes) do
      local members = node:members()
      if #members ~= n then return false end
      for _, m in ipairs(members) do
        if m.status ~= "alive" or m.generation == 0 then return false end
      end
    end
    return true
  end)
end

-- Starts a node of each id, the first with no seeds and the others seeded by it, waits
-- until every node of the cluster sees them all, and returns them.
function Cluster:join(ids, extra)
  local first = self:start(ids[1], {}, extra)
  local out = { first }
  for i = 2, #ids do out[i] = self:start(ids[i], { first:address() }, extra) end
  self:joined(#ids)
  return table.unpack(out)
end

-- a, b and c joined.
function Cluster:trio(extra)
  return self:join({ "a", "b", "c" }, extra)
end

local function empty(list)
  for i = #list, 1, -1 do list[i] = nil end
end

-- Closes every node, forgets them and their log records (cluster.nodes and cluster.log
-- are emptied in place), and runs the loop until their handles are gone. The cluster can
-- be used again.
function Cluster:close()
  for _, n in ipairs(self.nodes) do n:close() end
  empty(self.nodes)
  empty(self.log)
  rumor.run()
end

-- Live refs in the registry. A freed ref's slot stays, holding the next free slot's
-- index (an integer), so those are not counted: two refs held at once leave two.
function M.registry_size()
  local n = 0
  for _, v in pairs(debug.getregistry()) do
    if math.type(v) ~= "integer" then n = n + 1 end
  end
  return n
end

-- The refs closing a node gives back by itself (its own hooks), to tell them from a
-- leak: registry_size() drops by this much when a node is closed.
function M.node_refs()
  local probe = rumor.new{ id = "probe" }
  collectgarbage()
  local with_probe = M.registry_size()
  probe:close()
  collectgarbage()
  return with_probe - M.registry_size()
end

return M

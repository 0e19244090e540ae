-- consensus.lua: how fast a consensus check follows the cluster.
--   rumor run bench/consensus.lua [--nodes 50[,200...]] [--repeats R] [--interval MS]
-- N nodes in this process on loopback, joined through node 1 at the engine's defaults
-- (--interval is gossip_interval_ms). Every node registers a consensus check on
-- "version" and a "sum" aggregate on "count", and all publish version v0. Each repeat
-- then has one random node write a new version (consensus lost) and the others follow
-- (consensus reached again), timing on every node when its check said so:
--   lost_p50_ms / lost_max_ms        from the one write to each node's "lost"
--   reached_p50_ms / reached_max_ms  from the last of the other writes to "reached"
--   cpu_s_plain / cpu_s_hooks        this process's CPU time over the repeats, in a run
--                                    without the checks and aggregates and in one with
--                                    them (one loop carries every node: noisy; a rough
--                                    bound on what the hooks add)
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")
local rumor = require("rumor")

local USAGE = "usage: rumor run bench/consensus.lua [--nodes 50[,200...]] [--repeats R] [--interval MS]\n"
local opts = lib.options(USAGE, { nodes = { "ints", { 50 } }, repeats = { "int", 10 },
                                  interval = { "int" } })
local DEADLINE_MS = 60000

-- One cluster of n nodes; with_hooks adds the check and the aggregate on each.
local function run(n, with_hooks)
  local nodes, checks, seen = {}, {}, {}
  local updates = 0
  for i = 1, n do
    local node = rumor.new{ id = ("c%04d"):format(i), cluster = "bench-consensus",
                            gossip_interval_ms = opts.interval,
                            seeds = i > 1 and { nodes[1]:address() } or nil }
    node:on_log(function() end)
    node:on_update(function() updates = updates + 1 end)
    node:start()
    nodes[i] = node
  end
  assert(lib.wait(function()
    for _, node in ipairs(nodes) do if #node:members() ~= n then return false end end
    return true
  end, DEADLINE_MS), "the cluster did not form")
  if with_hooks then
    for i, node in ipairs(nodes) do
      checks[i] = node:register_consensus_check("version")
      checks[i]:on_change(function(reached) seen[i] = { reached = reached, at = lib.now() } end)
      node:aggregate("count", "sum")
    end
  end
  for i, node in ipairs(nodes) do
    node:set_state("version", "v0")
    node:set_state("count", tostring(i))
  end
  assert(lib.wait(function()
    for i = 1, n do
      for j = 1, n do if nodes[i]:get_state("version")[nodes[j]:id()] ~= "v0" then return false end end
    end
    return true
  end, DEADLINE_MS), "v0 did not reach every node")
  local lost, reached = {}, {}
  local cpu0, updates0 = os.clock(), updates
  for r = 1, opts.repeats do
    local version = "v" .. r
    local writer = math.random(n)
    seen = {}
    local t0 = lib.now()
    nodes[writer]:set_state("version", version)
    nodes[writer]:set_state("count", tostring(r))
    assert(lib.wait(function()
      for i = 1, n do
        if nodes[i]:get_state("version")[nodes[writer]:id()] ~= version then return false end
      end
      if not with_hooks then return true end
      for i = 1, n do if not seen[i] or seen[i].reached then return false end end
      return true
    end, DEADLINE_MS), "the change did not reach every node")
    for i = 1, n do if with_hooks then lost[#lost + 1] = seen[i].at - t0 end end
    seen = {}
    for i = 1, n do if i ~= writer then nodes[i]:set_state("version", version) end end
    local t1 = lib.now()
    assert(lib.wait(function()
      for i = 1, n do
        for j = 1, n do if nodes[i]:get_state("version")[nodes[j]:id()] ~= version then return false end end
      end
      if not with_hooks then return true end
      for i = 1, n do if not (seen[i] and seen[i].reached) then return false end end
      return true
    end, DEADLINE_MS), "the cluster did not agree again")
    for i = 1, n do if with_hooks then reached[#reached + 1] = seen[i].at - t1 end end
  end
  local cpu, count = os.clock() - cpu0, updates - updates0
  for _, node in ipairs(nodes) do node:close() end
  rumor.run()
  return lost, reached, cpu, count
end

for _, n in ipairs(opts.nodes) do
  lib.guarded({ { "bench", "consensus" }, { "nodes", n } }, function()
    local _, _, cpu_plain, updates_plain = run(n, false)
    local lost, reached, cpu_hooks, updates_hooks = run(n, true)
    table.sort(lost)
    table.sort(reached)
    lib.emit{
      { "bench", "consensus" }, { "nodes", n }, { "repeats", opts.repeats },
      { "lost_p50_ms", lib.round(lib.pct(lost, 0.5), 1) }, { "lost_max_ms", lib.round(lost[#lost], 1) },
      { "reached_p50_ms", lib.round(lib.pct(reached, 0.5), 1) },
      { "reached_max_ms", lib.round(reached[#reached], 1) },
      { "updates", updates_hooks }, { "updates_plain", updates_plain },
      { "cpu_s_plain", lib.round(cpu_plain, 2) }, { "cpu_s_hooks", lib.round(cpu_hooks, 2) },
    }
  end)
end

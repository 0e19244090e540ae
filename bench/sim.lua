-- sim.lua: one write spreading through a simulated cluster (rumor.sim), reproducible
-- from its seed.
--   rumor run bench/sim.lua [--nodes 100] [--seed 1] [--broadcast epidemic|tree]
--       [--loss P] [--latency-min MS] [--latency-max MS] [--interval MS] [--join]
-- The world's N nodes start as a cluster whose membership has converged (rumor.sim's
-- converged: each member's record shared until a node changes it, so 10,000 nodes fit
-- one machine), or with --join join through n1 (O(N^2) work: minutes past ~2,000
-- nodes); the engine's defaults hold unless a flag says otherwise. After one round, a
-- node picked from the seed writes one value, and the world runs until every node
-- holds it. One JSON line:
--   trace            hash of every event of the run (equal for equal seeds and flags)
--   virtual_ms       from the write to the last node holding it, in virtual time
--   rounds           that time in gossip rounds
--   start            "converged" or "join"
--   join_virtual_ms  virtual time the cluster took to form (to the round; 0 converged)
--   datagrams_per_node / bytes_per_node
--                    sent while the write spread, per node (the world's counters)
--   wall_s           real time of the whole run
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")
local rumor = require("rumor")
local core = require("rumor.core")

local USAGE = "usage: rumor run bench/sim.lua [--nodes N] [--seed S] [--broadcast epidemic|tree]\n"
  .. "    [--loss P] [--latency-min MS] [--latency-max MS] [--interval MS] [--join]\n"
local opts = lib.options(USAGE, {
  nodes = { "int", 100 }, seed = { "int", 1 }, broadcast = { "string", "epidemic" },
  loss = { "number", 0 }, ["latency-min"] = { "int", 1 }, ["latency-max"] = { "int", 20 },
  interval = { "int", 500 }, join = { "flag", false },
})
if opts.broadcast ~= "epidemic" and opts.broadcast ~= "tree" then
  io.stderr:write("sim: --broadcast is epidemic or tree\n", USAGE)
  os.exit(2)
end
local N = opts.nodes
-- Virtual time allowed to join and to spread: generous, as it costs nothing when
-- unused (the world jumps between events).
local JOIN_MS, SPREAD_MS = 600000, 600000
-- Rounds to wait after a join before the write: one more than a node stays active.
local SETTLE_ROUNDS = 4

local t0 = core.hrtime_ms()
local world = rumor.sim{
  seed = opts.seed, nodes = N, latency_ms = { opts["latency-min"], opts["latency-max"] },
  loss = opts.loss, converged = not opts.join,
  config = { broadcast = opts.broadcast, gossip_interval_ms = opts.interval },
}

-- Joined: every node sees N members alive. Checked once a round (members() at every
-- node every 10 virtual ms would cost more than the simulation).
local function everyone_joined(w)
  for _, n in ipairs(w.nodes) do
    if n:metrics().members.alive < N then return false end
  end
  return true
end
local joined, join_ms = not opts.join, 0
if joined then world:run(opts.interval) end -- one round: every node's timers running
while not joined and join_ms < JOIN_MS do
  world:run(opts.interval)
  join_ms = join_ms + opts.interval
  joined = everyone_joined(world)
end
-- Joined, the cluster settles: the news of the join keeps nodes in full exchanges for
-- a few rounds (gossip.c's ACTIVE_ROUNDS, 3), which would carry the write ahead of its
-- push. bench/convergence.lua waits the same way on live nodes.
if opts.join and joined then world:run(SETTLE_ROUNDS * opts.interval) end

local head = {
  { "bench", "sim" }, { "nodes", N }, { "seed", opts.seed }, { "broadcast", opts.broadcast },
  { "loss", opts.loss }, { "latency_ms", { opts["latency-min"], opts["latency-max"] } },
  { "gossip_interval_ms", opts.interval }, { "start", opts.join and "join" or "converged" },
}
if not joined then
  head[#head + 1] = { "error", ("not joined after %d virtual ms"):format(JOIN_MS) }
  head[#head + 1] = { "trace", world:trace() }
  lib.emit(head)
  world:close()
  os.exit(1)
end

-- The writer: the seed's choice, so equal seeds write from equal nodes.
local writer = world.nodes[opts.seed % N + 1]
local holding, last_at = 1, nil
for _, n in ipairs(world.nodes) do
  if n ~= writer then
    n:on_update(function(u)
      if u.member == writer:id() and u.key == "bench" then
        holding = holding + 1
        -- To the virtual ms: run_until only looks every 10.
        if holding >= N then last_at = world:now() end
      end
    end)
  end
end
local before = world:stats()
local t_write = world:now()
writer:set_state("bench", "v")
local spread, took = world:run_until(function() return holding >= N end, SPREAD_MS)
if spread and last_at then took = last_at - t_write end
local after = world:stats()

for _, kv in ipairs{
  { "join_virtual_ms", join_ms },
  { "writer", writer:id() },
  { "converged", spread },
  { "virtual_ms", took },
  { "rounds", lib.round(took / opts.interval, 2) },
  { "datagrams_per_node", lib.round((after.datagrams - before.datagrams) / N, 2) },
  { "bytes_per_node", lib.round((after.bytes - before.bytes) / N) },
  { "events", after.events },
  { "trace", world:trace() },
  { "wall_s", lib.round((core.hrtime_ms() - t0) / 1000, 2) },
} do head[#head + 1] = kv end
lib.emit(head)
world:close()
if not spread then os.exit(1) end

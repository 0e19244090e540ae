-- Specs of the dissemination options in one process on loopback: broadcast = "tree"
-- (Riak's recursive gossip) and the rate limit, through rumor.new and metrics().
-- Waits use a deadline, never a fixed delay.
local local_cluster = require("spec.support.local_cluster")

describe("broadcast and rate_limit", function()
  local cluster = local_cluster.new{ cluster = "spec-broadcast", gossip_interval_ms = 50, deadline_ms = 10000 }
  local nodes = cluster.nodes
  after_each(function() cluster:close() end)

  it("lists sends_deferred and sends_dropped in metrics", function()
    local n = cluster:start("solo", {})
    local m = n:metrics()
    assert.equal(0, m.sends_deferred)
    assert.equal(0, m.sends_dropped)
    assert.equal("integer", math.type(m.sends_deferred))
    assert.equal("integer", math.type(m.sends_dropped))
  end)

  it("a tree cluster converges, each node sending at most two pushes per write", function()
    local tree = { broadcast = "tree", broadcast_branching = 2 }
    cluster:join({ "t1", "t2", "t3", "t4", "t5", "t6", "t7" }, tree)
    local before = {}
    for i, n in ipairs(nodes) do before[i] = n:metrics().pushes_sent end
    nodes[4]:set_state("color", "blue")
    cluster:until_("the write on t4 reached every node", function()
      for _, n in ipairs(nodes) do
        if n:get_state("color").t4 ~= "blue" then return false end
      end
      return true
    end)
    local total = 0
    for i, n in ipairs(nodes) do
      local sent = n:metrics().pushes_sent - before[i]
      assert.is_true(sent <= 2, n:id() .. " sent " .. sent .. " pushes")
      total = total + sent
    end
    assert.is_true(total <= 2 * #nodes)
  end)

  it("a write whose push finds no token is deferred, and anti-entropy still brings it", function()
    local limit = { rate_limit = { tokens = 1, interval_ms = 600000 } }
    local a, b = cluster:join({ "a", "b" }, limit)
    a:set_state("k1", "v")   -- the push takes a's one token
    cluster:until_("b has k1", function() return b:get_state("k1").a == "v" end)
    assert.equal(0, a:metrics().sends_deferred)
    a:set_state("k2", "v")   -- none left for ten minutes
    cluster:until_("a deferred k2's push", function() return a:metrics().sends_deferred == 1 end)
    cluster:until_("b has k2: anti-entropy answers are not limited",
      function() return b:get_state("k2").a == "v" end)
    assert.equal(1, a:metrics().pushes_sent)
  end)
end)

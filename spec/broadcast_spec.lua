-- Specs of the dissemination options in one process on loopback: broadcast = "tree"
-- (Riak's recursive gossip) and the rate limit, through rumor.new and metrics().
-- Waits use a deadline, never a fixed delay.
local rumor = require("rumor")
local process = require("rumor.process")

local DEADLINE_MS = 10000

describe("broadcast and rate_limit", function()
  local nodes

  local function start(id, seeds, extra)
    local cfg = { id = id, cluster = "spec-broadcast", seeds = seeds, gossip_interval_ms = 50 }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    local n = rumor.new(cfg)
    n:start()
    nodes[#nodes + 1] = n
    return n
  end

  local function all_see(count)
    for _, n in ipairs(nodes) do
      if #n:members() ~= count then return false end
    end
    return true
  end

  before_each(function() nodes = {} end)

  after_each(function()
    for _, n in ipairs(nodes) do n:close() end
    rumor.run()
  end)

  it("lists sends_deferred and sends_dropped in metrics", function()
    local n = start("solo", {})
    local m = n:metrics()
    assert.equal(0, m.sends_deferred)
    assert.equal(0, m.sends_dropped)
    assert.equal("integer", math.type(m.sends_deferred))
    assert.equal("integer", math.type(m.sends_dropped))
  end)

  it("a tree cluster converges, each node sending at most two pushes per write", function()
    local tree = { broadcast = "tree", broadcast_branching = 2 }
    local first = start("t1", {}, tree)
    for i = 2, 7 do start("t" .. i, { first:address() }, tree) end
    assert.truthy(process.eventually(function() return all_see(7) end, DEADLINE_MS),
      "the seven nodes did not all see each other")
    local before = {}
    for i, n in ipairs(nodes) do before[i] = n:metrics().pushes_sent end
    nodes[4]:set_state("color", "blue")
    assert.truthy(process.eventually(function()
      for _, n in ipairs(nodes) do
        if n:get_state("color").t4 ~= "blue" then return false end
      end
      return true
    end, DEADLINE_MS), "the write on t4 did not reach every node")
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
    local a = start("a", {}, limit)
    local b = start("b", { a:address() }, limit)
    assert.truthy(process.eventually(function() return all_see(2) end, DEADLINE_MS))
    a:set_state("k1", "v")   -- the push takes a's one token
    assert.truthy(process.eventually(function() return b:get_state("k1").a == "v" end, DEADLINE_MS))
    assert.equal(0, a:metrics().sends_deferred)
    a:set_state("k2", "v")   -- none left for ten minutes
    assert.truthy(process.eventually(function() return a:metrics().sends_deferred == 1 end, DEADLINE_MS))
    assert.truthy(process.eventually(function() return b:get_state("k2").a == "v" end, DEADLINE_MS),
      "anti-entropy answers are not limited")
    assert.equal(1, a:metrics().pushes_sent)
  end)
end)

-- Specs of several nodes in one process on loopback: they find each other through a
-- seed and a write on one reaches the others. Waits use a deadline, never a fixed delay.
local rumor = require("rumor")
local process = require("rumor.process")

local DEADLINE_MS = 10000

describe("nodes in one process", function()
  local nodes

  local function start(id, seeds, cluster)
    local n = rumor.new{ id = id, cluster = cluster or "spec-converge", seeds = seeds,
                         gossip_interval_ms = 50 }
    n:start()
    nodes[#nodes + 1] = n
    return n
  end

  local function sees_all(n, count)
    return #n:members() == count
  end

  before_each(function() nodes = {} end)

  after_each(function()
    for _, n in ipairs(nodes) do n:close() end
    rumor.run()
  end)

  it("join through a seed and converge on a write", function()
    local a = start("a", {})
    local b = start("b", { a:address() })
    local c = start("c", { a:address() })
    assert.truthy(process.eventually(function()
      return sees_all(a, 3) and sees_all(b, 3) and sees_all(c, 3)
    end, DEADLINE_MS), "the three nodes did not all see each other")

    a:set_state("color", "blue")
    assert.truthy(process.eventually(function()
      return b:get_state("color").a == "blue" and c:get_state("color").a == "blue"
    end, DEADLINE_MS), "the write on a did not reach b and c")

    b:set_state("color", "red")
    assert.truthy(process.eventually(function()
      local s = c:get_state("color")
      return s.a == "blue" and s.b == "red"
    end, DEADLINE_MS))
    assert.same({ a = "blue", b = "red" }, a:get_state("color"))
  end)

  it("deliver remote updates to subscribers, newest value last", function()
    local a = start("a", {})
    local b = start("b", { a:address() })
    local got = {}
    b:on_update(function(u) if u.member == "a" then got[#got + 1] = u end end, { prefix = "cfg/" })
    a:set_state("cfg/x", "1")
    a:set_state("other", "ignored")
    a:set_state("cfg/x", "2")
    assert.truthy(process.eventually(function()
      return #got > 0 and got[#got].value == "2"
    end, DEADLINE_MS), "b never saw a's cfg/x = 2")
    for _, u in ipairs(got) do
      assert.equal("cfg/x", u.key)
      assert.is_false(u["local"])
      assert.equal(a:generation(), u.generation)
    end
    assert.equal(a:get_state("cfg/x").a, b:get_state("cfg/x").a)
  end)

  it("can wait inside a spawned coroutine", function()
    local a = start("a", {})
    local b = start("b", { a:address() })
    local result
    rumor.spawn(function()
      a:set_state("k", "from a")
      result = process.eventually(function() return b:get_state("k").a end, DEADLINE_MS)
    end)
    assert.is_nil(result)
    assert.truthy(process.eventually(function() return result end, DEADLINE_MS))
    assert.equal("from a", result)
  end)

  it("keep clusters apart", function()
    local a = start("a", {})
    local b = start("b", { a:address() })
    local x = start("x", { a:address() }, "another-cluster")
    b:set_state("k", "v")
    assert.truthy(process.eventually(function() return a:get_state("k").b == "v" end, DEADLINE_MS))
    -- x does talk to a (and a drops it), yet neither learns of the other
    assert.truthy(process.eventually(function() return a:metrics().drops_cluster > 0 end, DEADLINE_MS),
      "a never received x's datagrams")
    assert.same({}, x:get_state("k"))
    assert.equal(1, #x:members())
    for _, m in ipairs(a:members()) do assert.are_not.equal("x", m.id) end
  end)
end)

-- Specs of several nodes in one process on loopback: they find each other through a
-- seed and a write on one reaches the others. Waits use a deadline, never a fixed delay.
local rumor = require("rumor")
local process = require("rumor.process")
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 10000

describe("nodes in one process", function()
  local cluster = local_cluster.new{ cluster = "spec-converge", gossip_interval_ms = 50,
                                     deadline_ms = DEADLINE_MS }
  after_each(function() cluster:close() end)

  it("join through a seed and converge on a write", function()
    local a, b, c = cluster:trio()

    a:set_state("color", "blue")
    cluster:until_("the write on a reached b and c", function()
      return b:get_state("color").a == "blue" and c:get_state("color").a == "blue"
    end)

    b:set_state("color", "red")
    cluster:until_("a and c have a's blue and b's red", function()
      local s = c:get_state("color")
      return s.a == "blue" and s.b == "red" and a:get_state("color").b == "red"
    end)
    assert.same({ a = "blue", b = "red" }, a:get_state("color"))
    assert.same({ a = "blue", b = "red" }, c:get_state("color"))
  end)

  it("deliver remote updates to subscribers, newest value last", function()
    local a = cluster:start("a", {})
    local b = cluster:start("b", { a:address() })
    local got = {}
    b:on_update(function(u) if u.member == "a" then got[#got + 1] = u end end, { prefix = "cfg/" })
    a:set_state("cfg/x", "1")
    a:set_state("other", "ignored")
    a:set_state("cfg/x", "2")
    cluster:until_("b saw a's cfg/x = 2", function()
      return #got > 0 and got[#got].value == "2"
    end)
    for _, u in ipairs(got) do
      assert.equal("cfg/x", u.key)
      assert.is_false(u["local"])
      assert.equal(a:generation(), u.generation)
    end
    assert.equal(a:get_state("cfg/x").a, b:get_state("cfg/x").a)
  end)

  it("can wait inside a spawned coroutine", function()
    local a = cluster:start("a", {})
    local b = cluster:start("b", { a:address() })
    local result
    rumor.spawn(function()
      a:set_state("k", "from a")
      result = process.eventually(function() return b:get_state("k").a end, DEADLINE_MS)
    end)
    assert.is_nil(result)
    cluster:until_("the coroutine's wait returned", function() return result end)
    assert.equal("from a", result)
  end)

  it("keep clusters apart", function()
    local a = cluster:start("a", {})
    local b = cluster:start("b", { a:address() })
    local x = cluster:start("x", { a:address() }, { cluster = "another-cluster" })
    b:set_state("k", "v")
    cluster:until_("a has b's k", function() return a:get_state("k").b == "v" end)
    -- x does talk to a (and a drops it), yet neither learns of the other
    cluster:until_("a received x's datagrams", function() return a:metrics().drops_cluster > 0 end)
    assert.same({}, x:get_state("k"))
    assert.equal(1, #x:members())
    for _, m in ipairs(a:members()) do assert.are_not.equal("x", m.id) end
  end)
end)

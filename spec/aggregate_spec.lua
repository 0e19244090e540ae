-- Live aggregates (node:aggregate) on in-process nodes over real UDP on one loop: a
-- cluster-wide counter with "sum" through writes, deletes and a blocked member, the
-- other builtins, a table reducer, a function reducer, and values an aggregate cannot
-- use. Every wait polls for an outcome with a deadline.
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 30000
local CLUSTER = "spec-aggregate"

describe("an aggregate on one node", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, quiet_log = true }
  local logged = cluster.log
  local node
  before_each(function() node = cluster:add("solo") end)
  after_each(function() cluster:close() end)

  it("names the bad argument, raised at the caller's line", function()
    local agg = node:aggregate("k", "sum")
    local cases = {
      { function() node:aggregate(1, "sum") end, "rumor: aggregate: argument 'key' must be a string, got number" },
      { function() node:aggregate("left", "sum") end, "rumor: aggregate: key 'left' is reserved" },
      { function() node:aggregate("k", "median") end,
        'rumor: aggregate: argument \'reducer\' must be one of "sum", "count", "min", "max", "mean", '
          .. 'a table {init, add, remove} or a function, got "median"' },
      { function() node:aggregate("k", nil) end, "a table {init, add, remove} or a function, got nil" },
      { function() node:aggregate("k", { add = function() end }) end,
        "rumor: aggregate: argument 'reducer': field 'remove' must be a function, got nil" },
      { function() node:aggregate("k", "sum", { extract = "tonumber" }) end,
        "rumor: aggregate: option 'extract' must be a function, got string" },
      { function() node:aggregate("k", "sum", { members = "alive" }) end,
        'rumor: aggregate: option \'members\' must be "live" or "all", got "alive"' },
      { function() node:aggregate("k", "sum", { member = "all" }) end, "rumor: aggregate: unknown option 'member'" },
      { function() agg:on_change(true) end, "rumor: on_change: argument 'fn' must be a function, got boolean" },
      { function() agg.value() end, "rumor: value: call it as aggregate:value(...)" },
      { function() node:remove_aggregate("agg") end,
        "rumor: remove_aggregate: argument 'aggregate' must be an aggregate of this node, got string" },
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok, "case " .. i .. " did not raise")
      assert.matches(case[2], err, 1, true)
      assert.matches("aggregate_spec%.lua:%d+:", err)
    end
  end)

  it("starts from the values held at creation, without on_change", function()
    node:set_state("n", "5")
    local agg = node:aggregate("n", "sum")
    local fired = 0
    agg:on_change(function() fired = fired + 1 end)
    assert.equal(5, agg:value())
    assert.same({ solo = 5 }, agg:values())
    assert.equal(0, fired)
  end)

  it("gives each builtin's empty value, then follows one member's value", function()
    local sum, count = node:aggregate("n", "sum"), node:aggregate("n", "count")
    local min, max, mean = node:aggregate("n", "min"), node:aggregate("n", "max"), node:aggregate("n", "mean")
    assert.same({ 0, 0 }, { sum:value(), count:value() })
    assert.is_nil(min:value())
    assert.is_nil(max:value())
    assert.is_nil(mean:value())
    node:set_state("n", "2.5")
    assert.same({ 2.5, 1, 2.5, 2.5, 2.5 }, { sum:value(), count:value(), min:value(), max:value(), mean:value() })
    node:delete_state("n")
    assert.same({ 0, 0 }, { sum:value(), count:value() })
    assert.equal("integer", math.type(sum:value()))   -- no float left over once the floats go
    assert.is_nil(min:value())
  end)

  it("reports a value a numeric reducer cannot use once, and counts it as no value", function()
    local sum = node:aggregate("n", "sum")
    local before = node:metrics().callback_errors
    node:set_state("n", "seven")
    node:set_state("n", "seven")
    assert.equal(0, sum:value())
    assert.same({}, sum:values())
    assert.equal(before + 1, node:metrics().callback_errors)
    assert.equal(1, #logged)
    assert.matches([[aggregate 'n' (sum): the value "seven" of member 'solo' gives a string, not a number]],
      logged[1].message, 1, true)
    assert.matches("extractor of aggregate 'n' (sum)", logged[1].where, 1, true)
    node:set_state("n", "7")
    assert.equal(7, sum:value())
  end)

  it("reports extract errors and bad extracted values", function()
    local max = node:aggregate("n", "max", { extract = function(value)
      if value == "boom" then error("extract exploded") end
      if value == "nan" then return 0 / 0 end
      return #value
    end })
    node:set_state("n", "boom")
    node:set_state("n", "nan")
    node:set_state("n", "four")
    assert.equal(4, max:value())
    assert.equal(2, #logged)
    assert.matches("extract exploded", logged[1].message, 1, true)
    assert.matches("gives NaN, not a number", logged[2].message, 1, true)
  end)

  it("stops following the key once cancelled, keeping its last value", function()
    local sum = node:aggregate("n", "sum")
    node:set_state("n", "1")
    node:remove_aggregate(sum)
    node:set_state("n", "2")
    assert.equal(1, sum:value())
    sum:cancel()   -- idempotent
  end)
end)

describe("aggregates across nodes", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, gossip_interval_ms = 50, deadline_ms = DEADLINE_MS }
  local nodes = cluster.nodes
  after_each(function() cluster:close() end)

  it("keeps a cluster-wide counter with sum through writes, deletes and a blocked member", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local sums, changes = {}, {}
    for i, node in ipairs(nodes) do
      sums[i] = node:aggregate("requests", "sum")
      changes[i] = {}
      sums[i]:on_change(function(value, previous) table.insert(changes[i], { value, previous }) end)
    end
    local function every_sum(v)
      return function()
        for _, s in ipairs(sums) do
          if s:value() ~= v then return false end
        end
        return true
      end
    end
    a:set_state("requests", "10")
    b:set_state("requests", "20")
    c:set_state("requests", "30")
    cluster:until_("every node sums 60", every_sum(60))
    b:set_state("requests", "25")
    cluster:until_("every node sums 65 after b's write", every_sum(65))
    c:delete_state("requests")
    cluster:until_("every node sums 35 after c's delete", every_sum(35))
    assert.same({ n1 = 10, n2 = 25 }, sums[3]:values())
    assert.same({ 35, 65 }, changes[1][#changes[1]])
    c:set_state("requests", "5")
    cluster:until_("every node sums 40 with c back", every_sum(40))
    a:remove_peer("n3")   -- a alone blocks c: c's 5 no longer counts there
    cluster:until_("a drops c's value", function() return sums[1]:value() == 35 end)
    assert.equal(40, sums[2]:value())
    local all = a:aggregate("requests", "sum", { members = "all" })
    assert.equal(40, all:value())   -- "all" still counts the blocked member's value
    assert.same({ n1 = 10, n2 = 25, n3 = 5 }, all:values())
  end)

  it("finds min and max again when the extreme's last holder changes", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local min, max = a:aggregate("load", "min"), a:aggregate("load", "max")
    a:set_state("load", "3")
    b:set_state("load", "1")
    c:set_state("load", "1")
    cluster:until_("min 1, max 3", function() return min:value() == 1 and max:value() == 3 end)
    b:set_state("load", "9")
    cluster:until_("max 9", function() return max:value() == 9 end)
    assert.equal(1, min:value())   -- c still holds 1
    c:set_state("load", "4")
    cluster:until_("min 3 once nobody holds 1", function() return min:value() == 3 end)
  end)

  it("runs a table reducer incrementally and a function reducer over all values", function()
    local a, b = cluster:join{ "n1", "n2" }
    local calls = {}
    local squares = a:aggregate("x", {
      init = 0,
      add = function(acc, v, member)
        calls[#calls + 1] = "add " .. member .. " " .. v
        return acc + v * v
      end,
      remove = function(acc, v, member)
        calls[#calls + 1] = "remove " .. member .. " " .. v
        return acc - v * v
      end,
    }, { extract = function(value) return tonumber(value) end })
    local listing = a:aggregate("x", function(values)
      local parts = {}
      for member, v in pairs(values) do parts[#parts + 1] = member .. "=" .. v end
      table.sort(parts)
      return table.concat(parts, ",")
    end)
    assert.equal("", listing:value())
    a:set_state("x", "2")
    b:set_state("x", "3")
    cluster:until_("2*2 + 3*3", function() return squares:value() == 13 end)
    cluster:until_("the listing of both", function() return listing:value() == "n1=2,n2=3" end)
    b:set_state("x", "1")
    cluster:until_("2*2 + 1*1", function() return squares:value() == 5 end)
    assert.same({ "add n1 2", "add n2 3", "remove n2 3", "add n2 1" }, calls)
    cluster:until_("the listing after b's write", function() return listing:value() == "n1=2,n2=1" end)
  end)

  it("reports a reducer error and keeps the previous result", function()
    local a = cluster:join{ "n1" }
    local logged = {}
    a:on_log(function(record) logged[#logged + 1] = record end)
    local picky = a:aggregate("x", function(values)
      if values.n1 == "bad" then error("reducer refused") end
      return values.n1
    end)
    a:set_state("x", "good")
    a:set_state("x", "bad")
    assert.equal("good", picky:value())
    assert.equal(1, #logged)
    assert.matches("reducer refused", logged[1].message, 1, true)
    assert.matches("reducer of aggregate 'x' (function)", logged[1].where, 1, true)
  end)
end)

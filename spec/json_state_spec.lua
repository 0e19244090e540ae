-- Specs of JSON values in state: node:set_json and node:get_json (lua/rumor/jsonstate.lua).
local rumor = require("rumor")
local local_cluster = require("spec.support.local_cluster")

describe("JSON state", function()
  local cluster = local_cluster.new{ cluster = "spec-json", gossip_interval_ms = 50, deadline_ms = 10000,
                                     quiet_log = true }
  local logs = cluster.log
  local node
  before_each(function() node = cluster:add("j") end)
  after_each(function() cluster:close() end)

  it("writes a Lua value as JSON and reads it back, returning the seq", function()
    local value = { name = "web", ports = { 80, 443 }, weight = 0.75, up = true,
                    tags = {}, nested = { deep = { deeper = "x" } } }
    local seq = node:set_json("svc", value)
    assert.equal("integer", math.type(seq))
    assert.same({ j = value }, node:get_json("svc"))
    assert.is_true(node:set_json("svc", "again") > seq)
    assert.same({ j = "again" }, node:get_json("svc"))
    assert.same({}, node:get_json("absent"))
  end)

  it("keeps integers exact and floats as they were", function()
    node:set_json("n", { big = math.maxinteger, small = math.mininteger, sum = 0.1 + 0.2 })
    local text = node:get_state("n").j
    assert.matches('"big":9223372036854775807', text)
    assert.matches('"small":%-9223372036854775808', text)
    node:set_json("n", { exact = 2 ^ 53 - 1 | 0, sum = 0.1 + 0.2, third = 1 / 3 })
    local back = node:get_json("n").j
    assert.equal(9007199254740991, back.exact)
    assert.equal("integer", math.type(back.exact))
    assert.equal(0.1 + 0.2, back.sum)
    assert.equal(1 / 3, back.third)
  end)

  it("writes scalars and null", function()
    node:set_json("s", "text");  assert.same({ j = "text" }, node:get_json("s"))
    node:set_json("i", 42);      assert.same({ j = 42 }, node:get_json("i"))
    node:set_json("b", false);   assert.same({ j = false }, node:get_json("b"))
    node:set_json("z", rumor.json_null)
    assert.equal("null", node:get_state("z").j)
    assert.equal(rumor.json_null, node:get_json("z").j)
  end)

  it("refuses what JSON cannot hold, naming the key and where, at the caller's line", function()
    local function err_of(value)
      local ok, err = pcall(function() node:set_json("cfg", value) end)
      assert.is_false(ok)
      assert.matches("json_state_spec%.lua:%d+: rumor: set_json: key 'cfg': cannot encode as JSON", err)
      return err
    end
    assert.matches("value%.handler is a function", err_of{ handler = print })
    assert.matches("value is a nil", err_of(nil))
    assert.matches("value%[2%] is NaN", err_of{ 1, 0 / 0 })
    assert.matches("value is %-infinity", err_of(-math.huge))
    assert.matches("value%.co is a thread", err_of{ co = coroutine.create(print) })
    local loop = {}
    loop.self = loop
    assert.matches("value%.self contains itself", err_of(loop))
    assert.matches("has a key that is a float", err_of{ [1.5] = "x" })
    assert.matches("has a key that is a boolean", err_of{ [true] = "x" })
    local shared = { 1 }
    node:set_json("cfg", { a = shared, b = shared })   -- the same table twice is no loop
    assert.same({ a = { 1 }, b = { 1 } }, node:get_json("cfg").j)
  end)

  it("checks keys like set_state", function()
    assert.has_error(function() node:set_json("", 1) end, "rumor: set_json: argument 'key' must not be empty")
    assert.has_error(function() node:set_json("heartbeat", 1) end, "rumor: set_json: key 'heartbeat' is reserved")
    assert.has_error(function() node:get_json(5) end, "rumor: get_json: argument 'key' must be a string, got number")
    assert.matches("rumor: set_json: ETOOBIG: value of %d+ bytes is over the limit",
      select(2, pcall(node.set_json, node, "big", string.rep("x", 2 * 1024 * 1024))))
  end)

  it("leaves out values that are not JSON, warning once per member and seq", function()
    node:set_state("raw", "{not json")
    assert.same({}, node:get_json("raw"))
    assert.same({}, node:get_json("raw"))
    assert.equal(1, #logs)
    assert.equal("warn", logs[1].level)
    assert.equal("j", logs[1].node)
    assert.matches("get_json: key 'raw' of member 'j' %(seq %d+%) is not valid JSON", logs[1].message)
    node:set_state("raw", "{not json")   -- the same text under a new seq: a new warning
    node:get_json("raw")
    assert.equal(2, #logs)
    node:set_state("raw", "[1]")
    assert.same({ j = { 1 } }, node:get_json("raw"))
    assert.equal(2, #logs)
  end)

  it("reaches the other members as JSON", function()
    node:start()
    local other = cluster:start("k", { node:address() })
    node:set_json("cfg", { replicas = 3, zones = { "a", "b" } })
    cluster:until_("k has j's cfg", function() return other:get_json("cfg").j end)
    assert.same({ replicas = 3, zones = { "a", "b" } }, other:get_json("cfg").j)
    other:stop()
    node:stop()
  end)
end)

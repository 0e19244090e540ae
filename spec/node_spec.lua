-- Specs of one node's Lua API: creation errors, state, update subscribers, lifecycle.
local rumor = require("rumor")

describe("a rumor node", function()
  local node, reported

  before_each(function()
    reported = {}
    rumor.set_error_handler(function(message, where)
      reported[#reported + 1] = { message = message, where = where }
    end)
    node = rumor.new{ id = "solo", cluster = "spec-node", gossip_interval_ms = 50 }
  end)

  after_each(function()
    node:close()
    rumor.set_error_handler(nil)
    rumor.run()   -- let closed nodes release their handles
  end)

  it("refuses a bad config with an error naming the field, at the caller's line", function()
    local ok, err = pcall(function() rumor.new{ id = "x", gossip_fan_out = "many" } end)
    assert.is_false(ok)
    assert.matches("node_spec%.lua:%d+: rumor%.new: field 'gossip_fan_out': expected an integer", err)
    ok, err = pcall(rumor.new, { id = "x", colour = "red" })
    assert.is_false(ok)
    assert.matches("field 'colour': unknown field", err)
  end)

  it("reports range errors found by the core with the field name", function()
    local ok, err = pcall(rumor.new, { id = "x", mtu = 10 })
    assert.is_false(ok)
    assert.matches("rumor.new: field 'mtu'", err)
  end)

  it("binds an ephemeral loopback port on start", function()
    assert.equal(node, node:start())
    local host, port = node:address():match("^(127%.0%.0%.1):(%d+)$")
    assert.equal("127.0.0.1", host)
    assert.is_true(tonumber(port) > 0)
    assert.equal("solo", node:id())
    assert.equal("integer", math.type(node:generation()))
  end)

  it("stores its own state and reads it back by member", function()
    node:start()
    local s1 = node:set_state("color", "blue")
    local s2 = node:set_state("color", "green")
    assert.is_true(s2 > s1)
    assert.same({ solo = "green" }, node:get_state("color"))
    assert.same({}, node:get_state("missing"))
  end)

  it("keeps values as bytes", function()
    local bytes = "a\0b\255\n"
    node:set_state("bin", bytes)
    assert.equal(bytes, node:get_state("bin").solo)
  end)

  it("set_state names a bad argument", function()
    assert.has_error(function() node:set_state(1, "v") end,
      "rumor: set_state: argument 'key' must be a string, got number")
    assert.has_error(function() node:set_state("k", { }) end,
      "rumor: set_state: argument 'value' must be a string, got table")
    assert.has_error(function() node:get_state(nil) end,
      "rumor: get_state: argument 'key' must be a string, got nil")
  end)

  it("set_state raises the core's error for a value over max_value_size", function()
    local small = rumor.new{ id = "small", max_value_size = 16 }
    local ok, err = pcall(small.set_state, small, "k", string.rep("x", 100))
    small:close()
    assert.is_false(ok)
    assert.matches("ETOOBIG", err)
  end)

  it("lists itself as a member", function()
    node:start()
    local members = node:members()
    assert.equal(1, #members)
    assert.equal("solo", members[1].id)
    assert.is_true(members[1].self)
    assert.equal(node:address(), members[1].address)
  end)

  it("calls update subscribers for its own writes, marked local", function()
    local got = {}
    node:on_update(function(u) got[#got + 1] = u end)
    local seq = node:set_state("k", "v")
    assert.equal(1, #got)
    assert.same({ member = "solo", key = "k", value = "v", seq = seq,
                  generation = node:generation(), ["local"] = true, deleted = false }, got[1])
  end)

  it("filters updates by key prefix", function()
    local cfg, all = {}, {}
    node:on_update(function(u) cfg[#cfg + 1] = u.key end, { prefix = "cfg/" })
    node:on_update(function(u) all[#all + 1] = u.key end)
    node:set_state("cfg/a", "1")
    node:set_state("other", "2")
    node:set_state("cfg/b", "3")
    assert.same({ "cfg/a", "cfg/b" }, cfg)
    assert.same({ "cfg/a", "other", "cfg/b" }, all)
  end)

  it("stops calling a subscriber once cancelled, also from inside its callback", function()
    local a, b = 0, 0
    local ha = node:on_update(function() a = a + 1 end)
    local hb
    hb = node:on_update(function() b = b + 1 hb:cancel() end)
    node:set_state("k", "1")
    ha:cancel()
    ha:cancel()
    node:set_state("k", "2")
    assert.equal(1, a)
    assert.equal(1, b)
  end)

  it("keeps calling other subscribers when one fails, and counts the failure", function()
    local seen = {}
    node:on_update(function() seen[#seen + 1] = "first" end)
    node:on_update(function() error("subscriber broke") end)
    node:on_update(function() seen[#seen + 1] = "third" end)
    node:set_state("k", "1")
    node:set_state("k", "2")
    assert.same({ "first", "third", "first", "third" }, seen)
    assert.equal(2, #reported)
    assert.matches("subscriber broke", reported[1].message)
    assert.equal("on_update of node 'solo'", reported[1].where)
    local m = node:metrics()
    assert.equal(2, m.subscriber_errors)
    assert.is_true(m.callback_errors >= 2)
  end)

  it("checks on_update's arguments", function()
    assert.has_error(function() node:on_update("nope") end)
    assert.has_error(function() node:on_update(function() end, { prefix = 3 }) end)
    assert.has_error(function() node:on_update(function() end, { prefx = "a" }) end)
  end)

  it("counts its work in metrics", function()
    node:start()
    node:on_update(function() end)
    node:set_state("k", "v")
    local m = node:metrics()
    assert.is_true(m.updates >= 1)
    assert.equal("number", type(m.rounds))
  end)

  it("refuses calls after close; close is idempotent", function()
    node:close()
    node:close()
    assert.has_error(function() node:set_state("k", "v") end, "rumor: set_state: node is closed")
    assert.has_error(function() node:address() end)
  end)

  it("closes at the end of a <close> scope", function()
    local escaped
    do
      local n <close> = rumor.new{ id = "scoped" }
      n:start()
      escaped = n
    end
    assert.has_error(function() escaped:id() end, "rumor: id: node is closed")
  end)

  it("stops cleanly when a running node is forgotten and collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    local address
    do
      local n = rumor.new{ id = "forgotten", cluster = "spec-node", gossip_interval_ms = 50 }
      n:start()
      n:on_update(function() end)   -- its subscribers do not keep it alive
      n:set_state("k", "v")
      address = n:address()
      weak[1] = n
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1], "the forgotten node was not collected")
    -- Its socket and timers are closed: the loop runs dry, and the port is free again.
    local iterations = 0
    while rumor.run_once() do
      iterations = iterations + 1
      assert.is_true(iterations < 100, "the loop still has work after the node was collected")
    end
    local again <close> = rumor.new{ id = "again", cluster = "spec-node", bind = address }
    again:start()
    assert.equal(address, again:address())
    again:stop()
    assert.same({}, reported)
  end)
end)

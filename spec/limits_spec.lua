-- Writes refuse what cannot travel, with a message that says why and how much.
local rumor = require("rumor")

describe("state limits", function()
  local node
  before_each(function() node = rumor.new{ id = "limits" } end)
  after_each(function() node:close() end)

  it("takes a value up to max_value_size and names the limit past it", function()
    local small = rumor.new{ id = "small", max_value_size = 1000 }
    local ok, err
    local limit
    for size = 900, 1100 do -- find the edge by behaviour, not by formula
      ok, err = pcall(small.set_state, small, "k", string.rep("x", size))
      if not ok then limit = size - 1 break end
    end
    small:close()
    assert.equal(1000, limit)
    assert.matches("ETOOBIG: value of 1001 bytes is over the limit of 1000 bytes", err, 1, true)
  end)

  it("takes values far larger than one datagram (they travel over TCP)", function()
    local big = string.rep("0123456789abcdef", 200 * 64) -- 200 KiB
    assert.is_true(node:set_state("k", big) > 0)
    assert.equal(#big, #node:get_state("k").limits)
    assert.is_true(node:set_map_state("m", "e", big) > 0)
  end)

  it("refuses a value over the default max_value_size of 1 MiB, naming the limit", function()
    local ok, err = pcall(node.set_state, node, "k", string.rep("x", (1 << 20) + 1))
    assert.is_false(ok)
    assert.matches("ETOOBIG: value of 1048577 bytes is over the limit of %d+ bytes", err)
    ok, err = pcall(node.set_map_state, node, "m", "e", string.rep("x", (1 << 20) + 1))
    assert.is_false(ok)
    assert.matches("set_map_state: ETOOBIG: value of 1048577 bytes is over the limit of %d+ bytes", err)
  end)

  it("refuses an empty key and an over-long key by name", function()
    assert.has_error(function() node:set_state("", "v") end,
      "rumor: set_state: argument 'key' must not be empty")
    local ok, err = pcall(node.set_state, node, string.rep("k", 1025), "v")
    assert.is_false(ok)
    assert.matches("key of 1025 bytes is too long", err)
    ok, err = pcall(node.set_map_state, node, "m", string.rep("k", 1025), "v")
    assert.is_false(ok)
    assert.matches("map key of 1025 bytes is too long", err)
  end)
end)

describe("member limit", function()
  it("refuses a topology past max_members, naming the limit, and changes nothing", function()
    local node = rumor.new{ id = "a", max_members = 3 }
    local ok, err = pcall(node.set_topology, node, { { id = "b" }, { id = "c" }, { id = "d" } })
    assert.is_false(ok)
    assert.matches("set_topology: ETOOBIG: the peers name members this node does not know, "
      .. "more than the 2 that max_members (3) leaves room for; nothing was changed", err, 1, true)
    assert.equal(1, #node:members())
    assert.is_true(node:set_topology{ { id = "b" }, { id = "c" } })
    assert.equal(3, #node:members())
    assert.equal(0, node:metrics().members_refused)   -- counted for the network's ids only
    assert.equal(0, node:metrics().drops.member_limit)
    node:close()
  end)
end)

describe("key limit", function()
  it("refuses a new key past max_keys_per_member, naming the limit and the count", function()
    local node = rumor.new{ id = "a", max_keys_per_member = 3 }
    assert.is_true(node:set_state("k1", "v") > 0)
    assert.is_true(node:set_map_state("m", "e1", "v") > 0)
    assert.is_true(node:set_state("k2", "v") > 0)
    local ok, err = pcall(node.set_state, node, "k3", "v")
    assert.is_false(ok)
    assert.matches("rumor: set_state: ETOOBIG: 'k3' would be a new entry of this node, which "
      .. "holds 3 entries (values, map entries and deletes not yet purged), the limit of "
      .. "max_keys_per_member (3)", err, 1, true)
    ok, err = pcall(node.set_map_state, node, "m", "e2", "v")
    assert.is_false(ok)
    assert.matches("set_map_state: ETOOBIG: 'm' / 'e2' would be a new entry", err, 1, true)
    -- What it holds can change, and a delete keeps its place until it is purged.
    assert.is_true(node:set_state("k1", "w") > 0)
    assert.is_true(node:delete_state("k2") > 0)
    assert.is_false((pcall(node.set_state, node, "k3", "v")))
    assert.is_true(node:set_state("k2", "back") > 0)
    node:close()
  end)
end)

-- set_state refuses what cannot travel, with a message that says why and how much.
local rumor = require("rumor")

describe("set_state limits", function()
  local node
  before_each(function() node = rumor.new{ id = "limits" } end)
  after_each(function() node:close() end)

  it("takes a value up to the limit and names the limit past it", function()
    local ok, err
    local limit
    for size = 900, 1400 do -- find the edge by behaviour, not by formula
      ok, err = pcall(node.set_state, node, "k", string.rep("x", size))
      if not ok then limit = size - 1 break end
    end
    assert.truthy(limit, "no value was refused up to 1400 bytes at mtu 1400")
    assert.matches("ETOOBIG: value of " .. (limit + 1) .. " bytes is over the limit of "
      .. limit .. " bytes", err)
  end)

  it("grows the limit with the mtu", function()
    local big = rumor.new{ id = "big", mtu = 9000 }
    assert.is_true(big:set_state("k", string.rep("x", 5000)) > 0)
    big:close()
  end)

  it("refuses an empty key and an over-long key by name", function()
    assert.has_error(function() node:set_state("", "v") end,
      "rumor: set_state: argument 'key' must not be empty")
    local ok, err = pcall(node.set_state, node, string.rep("k", 1025), "v")
    assert.is_false(ok)
    assert.matches("key of 1025 bytes is too long", err)
  end)
end)

-- Deletes, map state and set_state_request on in-process nodes sharing one loop:
-- argument errors, local semantics, and propagation between nodes on loopback.
-- Waits poll with a deadline, never a fixed delay.
local rumor = require("rumor")
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 30000
local registry_size = local_cluster.registry_size
local cluster = local_cluster.new{ cluster = "spec-state-api", gossip_interval_ms = 50,
                                   deadline_ms = DEADLINE_MS }

describe("state API of one node", function()
  local node, updates

  before_each(function()
    node = cluster:add("solo")
    updates = {}
    node:on_update(function(u) updates[#updates + 1] = u end)
  end)

  after_each(function() cluster:close() end)

  it("names the bad argument of every new method", function()
    local cases = {
      { function() node:delete_state(1) end, "rumor: delete_state: argument 'key' must be a string, got number" },
      { function() node:delete_state("") end, "rumor: delete_state: argument 'key' must not be empty" },
      { function() node:set_map_state(nil, "m", "v") end,
        "rumor: set_map_state: argument 'state_key' must be a string, got nil" },
      { function() node:set_map_state("s", "", "v") end, "rumor: set_map_state: argument 'map_key' must not be empty" },
      { function() node:set_map_state("s", "m", 5) end,
        "rumor: set_map_state: argument 'value' must be a string, got number" },
      { function() node:remove_map_state("s", {}) end,
        "rumor: remove_map_state: argument 'map_key' must be a string, got table" },
      { function() node:get_map_state("s") end, "rumor: get_map_state: argument 'map_key' must be a string, got nil" },
      { function() node:get_map_keys(false) end,
        "rumor: get_map_keys: argument 'state_key' must be a string, got boolean" },
      { function() node:get_map_keys("s", 7) end, "rumor: get_map_keys: argument 'member_id' must be a string, got number" },
      { function() node:set_state_request("", "v") end, "rumor: set_state_request: argument 'key' must not be empty" },
      { function() node:set_state_request("k", "v", 100) end,
        "rumor: set_state_request: argument 'opts' must be a table, got number" },
      { function() node:set_state_request("k", "v", { timeout = 1 }) end,
        "rumor: set_state_request: unknown option 'timeout'" },
      { function() node:set_state_request("k", "v", { timeout_ms = -1 }) end,
        "rumor: set_state_request: option 'timeout_ms' must be an integer in 0..4294967295, got -1" },
      { function() node:set_state_request("k", "v", { timeout_ms = 1.5 }) end,
        "rumor: set_state_request: option 'timeout_ms' must be an integer in 0..4294967295, got 1.5" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, "case " .. i .. " did not raise")
      assert.matches(c[2], err, 1, true)
      assert.matches("state_api_spec%.lua:%d+:", err) -- raised at the caller's line
    end
  end)

  it("refuses set_state_request on a node that does not run, before writing", function()
    assert.has_error(function() node:set_state_request("k", "v") end,
      "rumor: set_state_request: the node is not running (start it first)")
    assert.same({}, node:get_state("k"))
  end)

  it("deletes a key with a tombstone and reports it as a deleted update", function()
    local s1 = node:set_state("k", "v")
    local s2 = node:delete_state("k")
    assert.is_true(s2 > s1)
    assert.same({}, node:get_state("k"))
    assert.equal(0, node:delete_state("k"))       -- nothing left to delete
    assert.equal(0, node:delete_state("never"))
    assert.equal(2, #updates)
    assert.same({ member = "solo", key = "k", seq = s2, generation = node:generation(),
                  ["local"] = true, deleted = true }, updates[2])
    local me = node:members()[1]
    assert.equal(0, me.keys)
    assert.equal(1, me.tombstones)
    node:set_state("k", "again")
    assert.same({ solo = "again" }, node:get_state("k"))
  end)

  it("keeps map entries apart, lists map keys sorted, removes one entry", function()
    node:set_map_state("cfg", "b", "2")
    node:set_map_state("cfg", "a", "1")
    node:set_map_state("cfg", "c", "3")
    node:set_map_state("other", "z", "9")
    node:set_state("cfg", "plain") -- a plain key of the same name is another entry
    assert.same({ "a", "b", "c" }, node:get_map_keys("cfg"))
    assert.same({ "a", "b", "c" }, node:get_map_keys("cfg", "solo"))
    assert.same({}, node:get_map_keys("cfg", "nobody"))
    assert.same({}, node:get_map_keys("none"))
    assert.same({ solo = "2" }, node:get_map_state("cfg", "b"))
    assert.same({ solo = "plain" }, node:get_state("cfg"))
    local seq = node:remove_map_state("cfg", "b")
    assert.is_true(seq > 0)
    assert.equal(0, node:remove_map_state("cfg", "b"))
    assert.same({}, node:get_map_state("cfg", "b"))
    assert.same({ "a", "c" }, node:get_map_keys("cfg"))
    assert.same({ solo = "plain" }, node:get_state("cfg"))
    local last = updates[#updates]
    assert.equal("cfg", last.key)
    assert.equal("b", last.map_key)
    assert.is_true(last.deleted)
    assert.is_nil(last.value)
    assert.equal(seq, last.seq)
  end)

  it("marks map updates with map_key and filters them by the state key's prefix", function()
    local seen = {}
    node:on_update(function(u) seen[#seen + 1] = u end, { prefix = "cfg/" })
    node:set_map_state("cfg/x", "k1", "v1")
    node:set_map_state("other", "cfg/no", "v")
    node:set_state("cfg/plain", "p")
    assert.equal(2, #seen)
    assert.equal("cfg/x", seen[1].key)
    assert.equal("k1", seen[1].map_key)
    assert.equal("v1", seen[1].value)
    assert.is_false(seen[1].deleted)
    assert.equal("cfg/plain", seen[2].key)
    assert.is_nil(seen[2].map_key)
  end)

  it("counts every core counter in metrics", function()
    local m = node:metrics()
    for _, name in ipairs{ "pushes_sent", "pushes_forwarded", "tombstones_purged", "resyncs_sent",
                           "entries_swept", "tcp_transfers", "tcp_failures", "frames_sent",
                           "frames_received", "tcp_bytes_sent", "tcp_bytes_received" } do
      assert.equal("number", type(m[name]), name)
    end
  end)

  it("set_state_request on a lone node returns true at once, blocking or in a coroutine", function()
    node:start()
    assert.is_true(node:set_state_request("k", "v1"))
    assert.same({ solo = "v1" }, node:get_state("k"))
    local result
    rumor.spawn(function() result = { node:set_state_request("k", "v2", { timeout_ms = 1000 }) } end)
    cluster:until_("the request in the coroutine returned", function() return result end)
    assert.same({ true }, result)
  end)

  it("set_state_request refuses to block inside a callback", function()
    node:start()
    local err
    -- a core timer runs its function as a plain callback (rumor.after would spawn)
    local t = require("rumor.core").timer(1, 0, function()
      local ok, e = pcall(node.set_state_request, node, "k", "v")
      err = ok and "no error" or e
    end)
    cluster:until_("the timer ran", function() return err end)
    t:stop()
    assert.matches("cannot block inside a callback; call it from rumor.spawn", err, 1, true)
  end)

  it("gives back the registry refs of finished requests", function()
    node:start()
    node:set_state_request("k", "warm up")
    collectgarbage()
    local before = registry_size()
    for i = 1, 50 do assert.is_true(node:set_state_request("k", tostring(i))) end
    collectgarbage()
    assert.equal(before, registry_size())
  end)
end)

describe("state between in-process nodes", function()
  local function pair()
    local a = cluster:start("a", {})
    local b = cluster:start("b", { a:address() })
    a:set_state("hello", "a")
    b:set_state("hello", "b")
    cluster:until_("a and b learnt each other", function()
      return a:get_state("hello").b == "b" and b:get_state("hello").a == "a"
    end)
    return a, b
  end

  after_each(function() cluster:close() end)

  it("spread deletes and map changes, and union map keys over members", function()
    local a, b = pair()
    local deleted = {}
    b:on_update(function(u) if u.deleted then deleted[#deleted + 1] = u end end)
    a:set_state("gone", "soon")
    a:set_map_state("cfg", "x", "ax")
    a:set_map_state("cfg", "y", "ay")
    b:set_map_state("cfg", "w", "bw")
    b:set_map_state("cfg", "x", "bx")
    cluster:until_("the map entries spread", function()
      return b:get_state("gone").a == "soon" and #b:get_map_keys("cfg", "a") == 2
        and #a:get_map_keys("cfg", "b") == 2
    end)
    assert.same({ a = "ax", b = "bx" }, b:get_map_state("cfg", "x"))
    assert.same({ "w", "x", "y" }, a:get_map_keys("cfg"))
    assert.same({ "x", "y" }, b:get_map_keys("cfg", "a"))

    a:delete_state("gone")
    a:remove_map_state("cfg", "x")
    cluster:until_("the deletes spread", function()
      return b:get_state("gone").a == nil and b:get_map_state("cfg", "x").a == nil
    end)
    assert.same({ b = "bx" }, b:get_map_state("cfg", "x"))
    assert.same({ "y" }, b:get_map_keys("cfg", "a"))
    assert.same({ "w", "x", "y" }, b:get_map_keys("cfg"))
    cluster:until_("b saw both deletes", function() return #deleted >= 2 end)
    local keys = {}
    for _, u in ipairs(deleted) do
      assert.equal("a", u.member)
      assert.is_false(u["local"])
      assert.is_nil(u.value)
      keys[#keys + 1] = u.key .. "/" .. tostring(u.map_key)
    end
    table.sort(keys)
    assert.same({ "cfg/x", "gone/nil" }, keys)
  end)

  it("set_state_request returns once the peer holds the value", function()
    local a, b = pair()
    assert.is_true(a:set_state_request("req", "v", { timeout_ms = DEADLINE_MS }))
    assert.equal("v", b:get_state("req").a)   -- no waiting: it is there already
  end)

  it("set_state_request times out naming a peer that stopped answering", function()
    local a, b = pair()
    b:stop()
    local ok, err, missing = a:set_state_request("req", "v", { timeout_ms = 300 })
    assert.is_nil(ok)
    assert.equal("timeout", err)
    assert.same({ "b" }, missing)
  end)

  it("set_state_request ends as cancelled when the node stops or closes", function()
    local a, b = pair()
    local c = cluster:start("c", { a:address() })
    c:set_state("hello", "c")
    cluster:until_("c joined", function()
      return a:get_state("hello").c and c:get_state("hello").b
    end)
    b:stop()   -- a and c still count b as live, so their requests wait for it
    local closing_c = local_cluster.node_refs()   -- what c:close() gives back by itself
    collectgarbage()
    local before = registry_size()
    local results = {}
    rumor.spawn(function() results.stop = { a:set_state_request("r1", "v", { timeout_ms = DEADLINE_MS }) } end)
    rumor.spawn(function() results.close = { c:set_state_request("r2", "v", { timeout_ms = DEADLINE_MS }) } end)
    assert.is_nil(results.stop)
    assert.is_nil(results.close)
    a:stop()
    c:close()
    cluster:until_("both requests ended", function() return results.stop and results.close end)
    assert.same({ nil, "cancelled" }, results.stop)
    assert.same({ nil, "cancelled" }, results.close)
    collectgarbage()
    assert.equal(before - closing_c, registry_size())
  end)
end)

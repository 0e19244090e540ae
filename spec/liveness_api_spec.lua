-- The liveness API on in-process nodes sharing one loop: config checks, reserved keys,
-- system updates, heartbeat stats, block policies, member events, the failure detector,
-- leave and topology. Waits poll with a generous deadline, never a fixed delay.
local rumor = require("rumor")
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 30000
local CLUSTER = "spec-liveness-api"
local registry_size = local_cluster.registry_size   -- live refs, freed slots left out

-- node's record of member id, or nil.
local function record(node, id)
  for _, m in ipairs(node:members()) do
    if m.id == id then return m end
  end
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

local function has_event(events, type_, member, reason)
  for _, e in ipairs(events) do
    if e.type == type_ and e.member == member and e.reason == reason then return e end
  end
end

describe("liveness config", function()
  local function err_of(cfg)
    cfg.id = "x"
    local ok, err = pcall(function() rumor.new(cfg) end)
    assert.is_false(ok, "expected the config to be refused")
    assert.matches("liveness_api_spec%.lua:%d+: rumor%.new: ", err) -- at the caller's line
    return err
  end

  it("refuses bad liveness fields, naming the field and the reason", function()
    assert.matches("field 'failure_detector': expected \"expiration\" or \"phi\", got \"swim\"",
      err_of{ failure_detector = "swim" }, 1, true)
    assert.matches("field 'failure_detector': expected \"expiration\" or \"phi\", got number",
      err_of{ failure_detector = 1 }, 1, true)
    assert.matches("field 'phi_threshold': expected a number, got string",
      err_of{ phi_threshold = "8" }, 1, true)
    assert.matches("field 'phi_threshold': must be a finite number > 0, got 0",
      err_of{ phi_threshold = 0 }, 1, true)
    assert.matches("field 'phi_threshold': must be a finite number > 0, got -1.5",
      err_of{ phi_threshold = -1.5 }, 1, true)
    assert.matches("field 'phi_threshold': must be a finite number > 0",
      err_of{ phi_threshold = 0 / 0 }, 1, true)
    assert.matches("field 'auto_rejoin': expected a boolean, got number",
      err_of{ auto_rejoin = 1 }, 1, true)
    assert.matches("field 'blocked_retention_ms': expected an integer, got 1.5",
      err_of{ blocked_retention_ms = 1.5 }, 1, true)
    assert.matches("field 'blocked_retention_ms': must be >= 1, got 0",
      err_of{ blocked_retention_ms = 0 }, 1, true)
    assert.matches("field 'blocked_retention_ms': must be <= 4294967295",
      err_of{ blocked_retention_ms = 1 << 40 }, 1, true)
  end)

  it("accepts good liveness fields", function()
    local n = rumor.new{ id = "x", failure_detector = "phi", phi_threshold = 5, auto_rejoin = false,
                         blocked_retention_ms = 60000 }
    n:close()
    n = rumor.new{ id = "x", failure_detector = "expiration", phi_threshold = 12.5 }
    n:close()
    rumor.run()
  end)
end)

describe("liveness API of one node", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, gossip_interval_ms = 50, deadline_ms = DEADLINE_MS }
  local node, reported

  before_each(function()
    reported = {}
    rumor.set_error_handler(function(message, where)
      reported[#reported + 1] = { message = message, where = where }
    end)
    node = cluster:add("solo")
  end)

  after_each(function()
    cluster:close()
    rumor.set_error_handler(nil)
  end)

  it("refuses writes to the reserved keys, naming the method", function()
    node:start()
    local cases = {
      { function() node:set_state("heartbeat", "x") end, "rumor: set_state: key 'heartbeat' is reserved" },
      { function() node:delete_state("left") end, "rumor: delete_state: key 'left' is reserved" },
      { function() node:set_map_state("blocked", "m", "v") end,
        "rumor: set_map_state: key 'blocked' is reserved" },
      { function() node:remove_map_state("blocked", "m") end,
        "rumor: remove_map_state: key 'blocked' is reserved" },
      { function() node:set_state_request("heartbeat", "v") end,
        "rumor: set_state_request: key 'heartbeat' is reserved" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, "case " .. i .. " did not raise")
      assert.matches(c[2], err, 1, true)
      assert.matches("liveness_api_spec%.lua:%d+:", err)
    end
    -- a map entry named like a reserved key is an ordinary one
    assert.is_true(node:set_map_state("cfg", "heartbeat", "v") > 0)
  end)

  it("names the bad argument of every liveness method", function()
    local cases = {
      { function() node:on_member("f") end, "rumor: on_member: argument 'fn' must be a function, got string" },
      { function() node:set_heartbeat_stats(1) end,
        "rumor: set_heartbeat_stats: argument 'fn' must be a function or nil, got number" },
      { function() node:set_block_policy({}) end,
        "rumor: set_block_policy: argument 'fn' must be a function or nil, got table" },
      { function() node:set_topology("b") end, "rumor: set_topology: argument 'peers' must be an array, got string" },
      { function() node:set_topology({ b = { id = "b" } }) end,
        "rumor: set_topology: argument 'peers' must be an array, found key b" },
      { function() node:set_topology({ { id = "b" }, "c" }) end,
        "rumor: set_topology: entry 2 must be a table, got string" },
      { function() node:set_topology({ { id = "b" }, { address = "127.0.0.1:1" } }) end,
        "rumor: set_topology: entry 2: 'id' must be a string, got nil" },
      { function() node:set_topology({ { id = "" } }) end,
        "rumor: set_topology: entry 1: 'id' must be 1..128 bytes, got 0" },
      { function() node:set_topology({ { id = "b", address = "b" } }) end,
        "rumor: set_topology: entry 1: 'address': expected \"host:port\", got \"b\"" },
      { function() node:add_peer(7000) end, "rumor: add_peer: argument 'address' must be a string, got number" },
      { function() node:add_peer("localhost") end,
        "rumor: add_peer: argument 'address': expected \"host:port\", got \"localhost\"" },
      { function() node:remove_peer(nil) end, "rumor: remove_peer: argument 'id' must be a string, got nil" },
      { function() node:remove_peer("nobody") end,
        "rumor: remove_peer: argument 'id': no member 'nobody' is known" },
      { function() node:remove_peer(node:id()) end, "is this node itself" },
      { function() node:add_peer("127.0.0.1:0") end,
        "rumor: add_peer: argument 'address': port 0 in \"127.0.0.1:0\" cannot be joined" },
      { function() node:on_update(function() end, { system = "yes" }) end,
        "rumor: on_update: option 'system' must be a boolean, got string" },
      { function() node:leave() end, "rumor: leave: the node is not running" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, "case " .. i .. " did not raise")
      assert.matches(c[2], err, 1, true)
      assert.matches("liveness_api_spec%.lua:%d+:", err)
    end
    node:start()
    local ok, err = pcall(node.leave, node, { timeout_ms = -5 })
    assert.is_false(ok)
    assert.matches("rumor: leave: option 'timeout_ms' must be an integer in 0..4294967295, got -5", err, 1, true)
    ok, err = pcall(node.leave, node, { wait = 1 })
    assert.is_false(ok)
    assert.matches("rumor: leave: unknown option 'wait'", err, 1, true)
  end)

  it("has the liveness counters in metrics", function()
    local m = node:metrics()
    for _, name in ipairs{ "heartbeats_sent", "drops_blocked", "rejects_sent", "rejects_received",
                           "members_blocked", "members_removed", "rejoins", "stalls",
                           "summaries_sent", "summaries_matched", "summaries_differed", "wanted_asked",
                           "blocks_adopted" } do
      assert.equal("number", type(m[name]), name)
    end
  end)

  it("describes itself in members()", function()
    local me = node:members()[1]
    assert.equal("solo", me.id)
    assert.equal("alive", me.status)
    assert.is_true(me.self)
    assert.is_nil(me.block_reason)
    assert.is_nil(me.left)
    assert.equal("number", type(me.phi))
    assert.equal(0, me.heartbeat_age_ms)
    node:start()
    cluster:until_("a round ran", function() return node:metrics().rounds > 0 end)
    assert.equal("number", type(node:members()[1].uptime_ms))  -- its heartbeat entry, from start
    assert.same({}, node:get_blocked_members())
  end)

  it("leaves alone at once, stopped afterwards", function()
    node:start()
    assert.is_true(node:leave())
    assert.has_error(function() node:leave() end, "rumor: leave: the node is not running")
    assert.has_error(function() node:set_state_request("k", "v") end,
      "rumor: set_state_request: the node is not running (start it first)")
    assert.same({}, node:get_blocked_members())
  end)

  it("ends a leave as cancelled when the node stops or closes first, keeping no ref", function()
    node:start()
    local other = cluster:start("other")
    local per_node = local_cluster.node_refs()   -- what other:close() gives back by itself
    collectgarbage()
    local before = registry_size()
    local results = {}
    rumor.spawn(function() results.stop = { node:leave{ timeout_ms = DEADLINE_MS } } end)
    rumor.spawn(function() results.close = { other:leave{ timeout_ms = DEADLINE_MS } } end)
    assert.is_nil(results.stop)   -- the core never calls back from inside leave
    assert.is_nil(results.close)
    node:stop()
    other:close()
    cluster:until_("both leaves ended", function() return results.stop and results.close end)
    assert.same({ nil, "cancelled" }, results.stop)
    assert.same({ nil, "cancelled" }, results.close)
    collectgarbage()
    assert.equal(before - per_node, registry_size())
  end)

  it("reports a bad stats result or a failing stats function, and counts it", function()
    local calls = 0
    node:set_heartbeat_stats(function()
      calls = calls + 1
      if calls == 1 then return { ratio = 0.5 } end
      if calls == 2 then return { [string.rep("n", 65)] = 1 } end
      if calls == 3 then return "many" end
      if calls == 4 then
        local big = {}
        for i = 1, 20 do big[("%02d"):format(i) .. string.rep("x", 60)] = i end
        return big
      end
      error("stats broke")
    end)
    local before = rumor.callback_errors()
    node:start()
    cluster:until_("the stats function ran five times", function() return calls >= 5 and #reported >= 5 end)
    assert.is_true(rumor.callback_errors() >= before + 5)
    assert.matches("stat 'ratio': expected an integer, got 0.5", reported[1].message, 1, true)
    assert.matches("a stat name of 65 bytes", reported[2].message, 1, true)
    assert.matches("returned string, expected a table", reported[3].message, 1, true)
    assert.matches("ETOOBIG: 20 stats do not fit a heartbeat", reported[4].message, 1, true)
    assert.matches("stats broke", reported[5].message, 1, true)
    assert.equal("set_heartbeat_stats of node 'solo'", reported[5].where)
    assert.is_true(node:metrics().callback_errors >= 5)
    node:set_heartbeat_stats(nil)
    local seen = calls
    cluster:until_("three rounds ran", function() return node:metrics().rounds > 3 end)
    local rounds = node:metrics().rounds
    cluster:until_("two more rounds ran", function() return node:metrics().rounds > rounds + 2 end)
    assert.equal(seen, calls)   -- removed: no longer called
  end)
end)

describe("liveness between in-process nodes", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, gossip_interval_ms = 50, heartbeat_expiration_ms = 1000,
                                     deadline_ms = DEADLINE_MS }
  local reported

  -- Waits until every node sees every other one alive, with a heartbeat.
  local function mesh(...)
    local list = { ... }
    cluster:until_("the nodes all see each other alive", function()
      for _, x in ipairs(list) do
        for _, y in ipairs(list) do
          local m = x ~= y and record(x, y:id())
          if x ~= y and not (m and m.status == "alive" and m.heartbeats > 0) then return false end
        end
      end
      return true
    end)
  end

  -- count nodes a, b, c... seeded by a, each seeing every other alive.
  local function meshed(count)
    local a = cluster:start("a", {})
    local out = { a }
    for i = 2, count do out[i] = cluster:start(string.char(96 + i), { a:address() }) end
    mesh(table.unpack(out))
    return table.unpack(out)
  end

  before_each(function()
    reported = {}
    rumor.set_error_handler(function(message, where)
      reported[#reported + 1] = { message = message, where = where }
    end)
  end)

  after_each(function()
    cluster:close()
    rumor.set_error_handler(nil)
  end)

  it("delivers heartbeats only to update subscribers that asked for system updates", function()
    local a = cluster:start("a", {})
    local plain, system, prefixed = {}, {}, {}
    a:on_update(function(u) plain[#plain + 1] = u end)
    a:on_update(function(u) system[#system + 1] = u end, { system = true })
    a:on_update(function(u) prefixed[#prefixed + 1] = u end, { system = true, prefix = "cfg/" })
    local b = cluster:start("b", { a:address() })
    b:set_state("cfg/x", "1")
    cluster:until_("a heartbeat of b reached the system subscriber", function()
      for _, u in ipairs(system) do
        if u.key == "heartbeat" and u.member == "b" then return true end
      end
    end)
    cluster:until_("a has b's cfg/x", function() return a:get_state("cfg/x").b == "1" end)
    local keys = {}
    for _, u in ipairs(plain) do
      keys[u.key] = true
      assert.is_nil(u.system)
    end
    assert.is_nil(keys.heartbeat)
    assert.is_true(keys["cfg/x"])
    for _, u in ipairs(system) do
      if u.key == "heartbeat" then assert.is_true(u.system) end
    end
    for _, u in ipairs(prefixed) do assert.equal("cfg/x", u.key) end
    assert.is_true(#prefixed >= 1)
  end)

  it("joins through add_peer and reports joined and alive events", function()
    local a = cluster:start("a", {})
    local events = {}
    local h = a:on_member(function(e) events[#events + 1] = e end)
    local b = cluster:start("b", {})
    assert.is_true(b:add_peer(a:address()))
    mesh(a, b)
    cluster:until_("a reported b joined and alive",
      function() return has_event(events, "joined", "b") and has_event(events, "alive", "b") end)
    local joined = has_event(events, "joined", "b")
    assert.equal(b:generation(), joined.generation)
    assert.is_nil(joined.reason)
    h:cancel()
    local count = #events
    b:close()
    cluster:until_("b blocked once closed", function() return record(a, "b").status == "blocked" end)
    assert.equal(count, #events)   -- cancelled: no more events
  end)

  it("carries set_heartbeat_stats in heartbeats and keeps them when the function fails", function()
    local a, b = meshed(2)
    a:set_heartbeat_stats(function() return { load = 7, queue = -3, ratio = 2.0 } end)
    cluster:until_("b saw a's stats", function()
      local m = record(b, "a")
      return m.stats and m.stats.load == 7
    end)
    local m = record(b, "a")
    assert.same({ load = 7, queue = -3, ratio = 2 }, m.stats)
    assert.equal("integer", math.type(m.stats.ratio))
    assert.equal("integer", math.type(m.uptime_ms))
    assert.equal(2, m.members_alive)

    local before = rumor.callback_errors()
    a:set_heartbeat_stats(function() error("stats broke") end)
    cluster:until_("the failing stats counted",
      function() return rumor.callback_errors() >= before + 2 end)
    local beats = record(b, "a").heartbeats
    cluster:until_("more heartbeats of a", function() return record(b, "a").heartbeats > beats + 2 end)
    assert.same({ load = 7, queue = -3, ratio = 2 }, record(b, "a").stats)  -- the previous stats stay
    assert.equal("alive", record(b, "a").status)
    a:set_state("still", "gossiping")
    cluster:until_("a still gossiping", function() return b:get_state("still").a == "gossiping" end)
    assert.matches("stats broke", reported[1].message, 1, true)
  end)

  it("blocks a member its policy refuses, and survives a failing policy", function()
    -- c joins before b, so the policy is asked about c (which fails) before b
    local a = cluster:start("a", {})
    local c = cluster:start("c", { a:address() })
    mesh(a, c)
    local b = cluster:start("b", { a:address() })
    mesh(a, b, c)
    local order = {}
    for _, m in ipairs(a:members()) do order[#order + 1] = m.id end
    assert.same({ "a", "c", "b" }, order)
    local events, seen = {}, {}
    a:on_member(function(e) events[#events + 1] = e end)
    b:set_heartbeat_stats(function() return { draining = 1 } end)
    c:set_heartbeat_stats(function() return { draining = 0 } end)
    local before = rumor.callback_errors()
    a:set_block_policy(function(id, info)
      seen[id] = info
      if id == "c" then error("policy broke on c") end
      return info.stats ~= nil and info.stats.draining == 1
    end)
    cluster:until_("a blocked someone", function() return #a:get_blocked_members() > 0 end)
    assert.same({ "b" }, a:get_blocked_members())
    local m = record(a, "b")
    assert.equal("blocked", m.status)
    assert.equal("policy", m.block_reason)
    cluster:until_("a blocked event for b", function() return has_event(events, "blocked", "b", "policy") end)
    assert.equal(b:generation(), has_event(events, "blocked", "b", "policy").generation)
    assert.equal("c", seen.c.id)            -- info is the members() record
    assert.equal("alive", seen.c.status)
    assert.equal("alive", record(a, "c").status)
    assert.is_true(rumor.callback_errors() > before)
    assert.matches("policy broke on c", reported[1].message, 1, true)
    assert.equal("set_block_policy of node 'a'", reported[1].where)
    assert.equal("alive", record(b, "c").status)  -- only a's view changed
  end)

  it("blocks a stopped member as expired", function()
    local a, b, c = meshed(3)
    local events = {}
    a:on_member(function(e) events[#events + 1] = e end)
    c:stop()
    for _, x in ipairs{ a, b } do
      cluster:until_(x:id() .. " blocked c as expired", function()
        local m = record(x, "c")
        return m.status == "blocked" and m.block_reason == "expired"
      end)
      assert.is_truthy(contains(x:get_blocked_members(), "c"))
    end
    cluster:until_("a blocked event for c",
      function() return has_event(events, "blocked", "c", "expired") end)
    assert.equal("alive", record(a, "b").status)
  end)

  it("forgets a blocked member after blocked_retention_ms", function()
    local a = cluster:start("a", {}, { blocked_retention_ms = 300 })
    local b = cluster:start("b", { a:address() })
    local c = cluster:start("c", { a:address() })
    mesh(a, b, c)
    local events = {}
    a:on_member(function(e) events[#events + 1] = e end)
    c:stop()
    cluster:until_("c removed", function() return has_event(events, "removed", "c") end)
    assert.is_truthy(has_event(events, "blocked", "c", "expired"))
    assert.is_nil(record(a, "c"))
    assert.is_false(contains(a:get_blocked_members(), "c"))
    assert.equal("alive", record(a, "b").status)
    assert.is_true(a:metrics().members_removed >= 1)
  end)

  it("reports a member that left as left", function()
    local a, b, c = meshed(3)
    local events = {}
    a:on_member(function(e) events[#events + 1] = e end)
    assert.is_true(c:leave{ timeout_ms = DEADLINE_MS })
    for _, x in ipairs{ a, b } do
      cluster:until_(x:id() .. " saw c leave", function() return record(x, "c").status == "left" end)
      local m = record(x, "c")
      assert.equal("left", m.block_reason)
      assert.is_true(m.left)
    end
    assert.is_nil(record(a, "b").left)
    cluster:until_("a left event for c", function() return has_event(events, "left", "c", "left") end)
    assert.has_error(function() c:leave() end, "rumor: leave: the node is not running")
  end)

  it("leaves from inside rumor.spawn", function()
    local a, b = meshed(2)
    local result
    rumor.spawn(function() result = { b:leave() } end)
    cluster:until_("the leave ended", function() return result end)
    assert.same({ true }, result)
    cluster:until_("a saw b leave", function() return record(a, "b").status == "left" end)
  end)

  it("blocks members left out of the topology or removed, and lifts topology blocks", function()
    local a, b, c = meshed(3)
    local events = {}
    a:on_member(function(e) events[#events + 1] = e end)
    assert.is_true(a:set_topology({ { id = "b", address = b:address() } }))
    cluster:until_("c blocked", function() return record(a, "c").status == "blocked" end)
    assert.equal("topology", record(a, "c").block_reason)
    assert.same({ "c" }, a:get_blocked_members())
    assert.is_truthy(has_event(events, "blocked", "c", "topology"))
    assert.is_true(a:remove_peer("b"))
    cluster:until_("b blocked", function() return record(a, "b").status == "blocked" end)
    assert.equal("topology", record(a, "b").block_reason)
    assert.same({ "b", "c" }, a:get_blocked_members())
    assert.is_true(a:set_topology({ { id = "b" }, { id = "c", address = c:address() } }))
    cluster:until_("the topology blocks lifted", function() return #a:get_blocked_members() == 0 end)
  end)
end)

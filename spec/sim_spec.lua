-- rumor.sim: simulated worlds replay from their seed, converge through loss, lose
-- nothing across a partition, and refuse bad arguments by name.
local rumor = require("rumor")

local FAST = { gossip_interval_ms = 100, heartbeat_expiration_ms = 2000, log_level = "error" }

-- Every node of w holds member's key = value.
local function everyone_holds(w, member, key, value)
  for _, n in ipairs(w.nodes) do
    if (n:get_state(key) or {})[member] ~= value then return false end
  end
  return true
end

-- One write, a partition at a virtual time, a heal, run to convergence.
local function scripted_run(seed)
  local w = rumor.sim{ seed = seed, nodes = 12, latency_ms = { 1, 20 }, loss = 0.02,
                       duplicate = 0.01, config = FAST }
  w:at(500, function() w:node("n4"):set_state("k", "v") end)
  w:at(600, function() w:partition({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }) end)
  w:at(3000, function() w:heal() end)
  local ok = w:run_until(function()
    return w:now() >= 3000 and everyone_holds(w, "n4", "k", "v")
  end, 30000)
  assert.is_true(ok)
  w:run(500)
  local trace, stats = w:trace(), w:stats()
  w:close()
  return trace, stats
end

describe("rumor.sim", function()
  it("replays the same trace from the same seed and script, another from another seed", function()
    local a, sa = scripted_run(42)
    local b, sb = scripted_run(42)
    local c = scripted_run(43)
    assert.matches("^%x+$", a)
    assert.equal(16, #a)
    assert.equal(a, b)
    assert.same(sa, sb)
    assert.not_equal(a, c)
    assert.is_true(sa.events > 1000)
    assert.is_true(sa.cut > 0)
  end)

  it("joins 100 nodes through n1 and converges them on one write under 1% loss", function()
    local w = rumor.sim{ seed = 7, nodes = 100, latency_ms = { 1, 20 }, loss = 0.01, config = FAST,
                         converged = false }
    local ok = w:run_until(function()
      for _, n in ipairs(w.nodes) do
        if n:metrics().members.alive < 100 then return false end
      end
      return true
    end, 30000)
    assert.is_true(ok)
    local delivered = 0
    for _, n in ipairs(w.nodes) do
      n:on_update(function(u)
        if u.member == "n37" and u.key == "k" and not u["local"] then delivered = delivered + 1 end
      end)
    end
    local t0 = w:now()
    w:node(37):set_state("k", "hello")
    local done, took = w:run_until(function() return everyone_holds(w, "n37", "k", "hello") end,
                                   30000)
    assert.is_true(done)
    assert.equal(w:now() - t0, took)
    assert.is_true(took > 0 and took < 30000)
    assert.equal(99, delivered)   -- each other node once; the writer's own update is local
    assert.is_true(w:stats().lost > 0)
    w:close()
  end)

  it("starts converged: every node knows every member at once, and a write spreads", function()
    local function run(seed)
      local w = rumor.sim{ seed = seed, nodes = 200, converged = true, loss = 0.05, config = FAST }
      for _, i in ipairs{ 1, 77, 200 } do
        local members = w.nodes[i]:members()
        assert.equal(200, #members)
        for _, m in ipairs(members) do assert.equal("alive", m.status) end
      end
      w:node(150):set_state("k", "v")
      assert.is_true((w:run_until(function() return everyone_holds(w, "n150", "k", "v") end,
                                  30000)))
      local trace = w:trace()
      w:close()
      return trace
    end
    assert.equal(run(3), run(3))
    assert.has_error(function() rumor.sim{ converged = 1 } end,
                     "rumor.sim: option 'converged' must be a boolean, got number")
  end)

  it("loses nothing across a partition once healed", function()
    local w = rumor.sim{ seed = 9, nodes = 10, loss = 0, config = FAST }
    assert.is_true((w:run_until(function()
      return w:node(10):metrics().members.alive == 10
    end, 10000)))
    w:partition({ "n1", "n2", "n3", "n4" }, { w:node(5), 6, 7, 8, 9, 10 })
    w:node(2):set_state("a", "left")
    w:node(8):set_state("b", "right")
    w:run(5000)
    for i, n in ipairs(w.nodes) do
      assert.equal(i <= 4 and "left" or nil, (n:get_state("a") or {}).n2)
      assert.equal(i > 4 and "right" or nil, (n:get_state("b") or {}).n8)
    end
    w:heal()
    assert.is_true((w:run_until(function()
      return everyone_holds(w, "n2", "a", "left") and everyone_holds(w, "n8", "b", "right")
    end, 60000)))
    w:close()
  end)

  it("fires scripted faults in order, at their virtual times", function()
    local w = rumor.sim{ seed = 1, nodes = 2 }
    local fired = {}
    w:at(200, function()
      local ok, e = pcall(w.run, w, 10)
      fired[#fired + 1] = not ok and e:match("already running") or "ran"
    end)
    w:at(300, function() fired[#fired + 1] = "b@" .. w:now() end)
    w:at(100, function() fired[#fired + 1] = "a@" .. w:now() end)
    w:at(300, function() fired[#fired + 1] = "c@" .. w:now() end)
    w:run(250)
    assert.same({ "a@100", "already running" }, fired)
    w:run(100)
    assert.same({ "a@100", "already running", "b@300", "c@300" }, fired)
    assert.equal(350, w:now())
    w:close()
  end)

  it("drives virtual time for a blocking node method, and refuses it inside a run", function()
    local w = rumor.sim{ seed = 3, nodes = 5, config = FAST }
    w:run(2000)
    local t0 = w:now()
    assert.is_true(w:node(2):set_state_request("k", "v", { timeout_ms = 5000 }))
    assert.is_true(w:now() > t0)
    local err
    w:at(w:now() + 10, function()
      local ok, e = pcall(w.node(w, 1).set_state_request, w:node(1), "x", "y")
      err = not ok and e
    end)
    w:run(20)
    assert.matches("cannot block on a simulated node", err)
    w:close()
  end)

  it("closes its nodes with it", function()
    local w = rumor.sim{ seed = 5, nodes = 3 }
    local n = w:node(2)
    w:node(3):close()
    w:run(100)
    w:close()
    w:close()
    assert.has_error(function() n:set_state("k", "v") end, "rumor: set_state: node is closed")
    assert.equal("rumor.node (closed)", tostring(n))
    assert.has_error(function() w:run(10) end, "rumor.sim: run: the world is closed")
  end)

  it("refuses bad arguments, naming them", function()
    local function fails(pattern, fn)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
    end
    fails("option 'loss' must be a number in [0, 1]", function() rumor.sim{ loss = 2 } end)
    fails("option 'duplicate' must be a number in [0, 1]", function() rumor.sim{ duplicate = "x" } end)
    fails("option 'nodes' must be an integer", function() rumor.sim{ nodes = -1 } end)
    fails("option 'seed' must be an integer", function() rumor.sim{ seed = 1.5 } end)
    fails("option 'latency_ms' must be {min, max} with min <= max",
          function() rumor.sim{ latency_ms = { 20, 1 } } end)
    fails("option 'latency_ms' must be {min, max}", function() rumor.sim{ latency_ms = { 1 } } end)
    fails("unknown option 'lose'", function() rumor.sim{ lose = 0.1 } end)
    fails("option 'config' must not set 'id'", function() rumor.sim{ config = { id = "x" } } end)
    fails("field 'gossip_interval_ms'",
          function() rumor.sim{ nodes = 1, config = { gossip_interval_ms = "fast" } } end)
    fails("expected a table of options", function() rumor.sim(5) end)
    local w = rumor.sim{ nodes = 2 }
    fails("run_until: argument 'pred' must be a function", function() w:run_until(5, 10) end)
    fails("run_until: argument 'virtual_ms'", function() w:run_until(function() end, -1) end)
    fails("run: argument 'virtual_ms'", function() w:run("x") end)
    fails("at: argument 'fn' must be a function", function() w:at(10) end)
    fails("set_loss: argument 'p' must be a number in [0, 1]", function() w:set_loss(-1) end)
    fails("partition: n9 is not a node of this world", function() w:partition({ "n9" }) end)
    fails("partition: node n1 is in two groups", function() w:partition({ 1 }, { "n1" }) end)
    fails("partition: expected at least one group", function() w:partition() end)
    fails("add: id 'n1' is taken", function() w:add{ id = "n1" } end)
    fails("restart: n9 is not a node of this world", function() w:restart("n9") end)
    fails("restart: argument 'cfg' must be a table or nil", function() w:restart(1, 5) end)
    fails("restart: option 'id' cannot change", function() w:restart(1, { id = "x" }) end)
    fails("field 'gossip_fan_out'", function() w:restart(2, { gossip_fan_out = 0 }) end)
    local first = w:node(2)
    assert.equal("rumor.node n2 " .. w:address(2), tostring(first))  -- a refused restart keeps it
    local second = w:restart(first)
    assert.equal(w:node(3), second)
    assert.equal(second, w:node("n2"))
    assert.equal("rumor.node (closed)", tostring(first))
    fails("restart: this n2 was restarted already", function() w:restart(first) end)
    fails("node: argument must be an index or an id", function() w:node(true) end)
    w:close()
  end)
end)

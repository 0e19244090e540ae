-- Consensus checks (node:register_consensus_check) on in-process nodes over real UDP
-- on one loop: argument errors, all-equal and quorum agreement, a flip to lost and
-- back, members without the key, blocked and departed members, extractor errors,
-- waiting (in a coroutine and driving the loop) and removal. Every wait polls for an
-- outcome with a deadline; nothing asserts a speed.
local rumor = require("rumor")
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 30000
local CLUSTER = "spec-consensus"

describe("a consensus check on one node", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, gossip_interval_ms = 50, deadline_ms = DEADLINE_MS,
                                     quiet_log = true }
  local logged = cluster.log
  local node
  before_each(function() node = cluster:add("solo") end)
  after_each(function() cluster:close() end)

  it("names the bad argument, raised at the caller's line", function()
    local c = node:register_consensus_check("k")
    local other = rumor.new{ id = "other", cluster = CLUSTER }
    local foreign = other:register_consensus_check("k")
    local cases = {
      { function() node:register_consensus_check(1) end,
        "rumor: register_consensus_check: argument 'key' must be a string, got number" },
      { function() node:register_consensus_check("") end,
        "rumor: register_consensus_check: argument 'key' must not be empty" },
      { function() node:register_consensus_check("heartbeat") end,
        "rumor: register_consensus_check: key 'heartbeat' is reserved" },
      { function() node:register_consensus_check("k", "f") end,
        "rumor: register_consensus_check: argument 'extractor' must be a function or nil, got string" },
      { function() node:register_consensus_check("k", nil, 3) end,
        "rumor: register_consensus_check: argument 'opts' must be a table, got number" },
      { function() node:register_consensus_check("k", nil, { quorom = 2 }) end,
        "rumor: register_consensus_check: unknown option 'quorom'" },
      { function() node:register_consensus_check("k", nil, { quorum = "2" }) end,
        "rumor: register_consensus_check: option 'quorum' must be a number, got string" },
      { function() node:register_consensus_check("k", nil, { quorum = 0 }) end,
        "rumor: register_consensus_check: option 'quorum' must be an integer >= 1, got 0" },
      { function() node:register_consensus_check("k", nil, { quorum = 1.5 }) end,
        "rumor: register_consensus_check: option 'quorum' must be an integer >= 1, got 1.5" },
      { function() c:on_change(5) end, "rumor: on_change: argument 'fn' must be a function, got number" },
      { function() c:wait(-1) end,
        "rumor: wait: argument 'timeout_ms' must be an integer in 0..4294967295 or nil, got -1" },
      { function() c:wait("1") end,
        "rumor: wait: argument 'timeout_ms' must be an integer in 0..4294967295 or nil, got 1" },
      { function() c.wait(5) end, "rumor: wait: call it as check:wait(...)" },
      { function() c.result({}) end, "rumor: result: call it as check:result(...)" },
      { function() node:remove_consensus_check({}) end,
        "rumor: remove_consensus_check: argument 'check' must be a consensus check of this node, got table" },
      { function() node:remove_consensus_check(foreign) end,
        "rumor: remove_consensus_check: argument 'check' must be a consensus check of this node, "
          .. "got another node's" },
    }
    for i, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok, "case " .. i .. " did not raise")
      assert.matches(case[2], err, 1, true)
      assert.matches("consensus_spec%.lua:%d+:", err)
    end
    other:close()
    assert.has_error(function() other:register_consensus_check("k") end,
      "rumor: register_consensus_check: node is closed")
  end)

  it("is reached on a lone node once it holds the key, and fires only on changes", function()
    local c = node:register_consensus_check("version")
    local seen = {}
    c:on_change(function(reached, value, previous)
      seen[#seen + 1] = { reached = reached, value = value, previous = previous }
    end)
    assert.same({ false }, { c:result() })
    node:set_state("version", "v1")
    assert.same({ true, "v1" }, { c:result() })
    node:set_state("version", "v1")   -- the same value again: no change to report
    node:set_state("version", "v2")
    node:delete_state("version")
    assert.same({ false }, { c:result() })
    assert.same({
      { reached = true, value = "v1" },
      { reached = true, value = "v2", previous = "v1" },
      { reached = false, previous = "v2" },
    }, seen)
  end)

  it("reports the state at registration through result(), without on_change", function()
    node:set_state("version", "v1")
    local c = node:register_consensus_check("version")
    local fired = 0
    c:on_change(function() fired = fired + 1 end)
    assert.same({ true, "v1" }, { c:result() })
    assert.equal(0, fired)
  end)

  it("compares extracted values, and agrees on a value that is false", function()
    local c = node:register_consensus_check("cfg", function(value, member)
      assert.equal("solo", member)
      return value:match("^enabled=(%a+)") == "true"
    end)
    node:set_state("cfg", "enabled=false;x=1")
    assert.same({ true, false }, { c:result() })
    assert.equal(false, c:wait(0))
    node:set_state("cfg", "enabled=true;x=2")
    assert.same({ true, true }, { c:result() })
  end)

  it("counts an extractor error as no value, reports it once per value, and counts it", function()
    local c = node:register_consensus_check("version", function(value)
      if value == "table" then return {} end
      if value:sub(1, 1) ~= "v" then error("not a version: " .. value) end
      return value
    end)
    local before = node:metrics().callback_errors
    node:set_state("version", "garbage")
    assert.same({ false }, { c:result() })
    assert.equal(before + 1, node:metrics().callback_errors)
    assert.equal(1, #logged)
    assert.equal("error", logged[1].level)
    assert.equal("solo", logged[1].node)
    assert.matches("extractor of consensus check 'version'", logged[1].where, 1, true)
    assert.matches("not a version: garbage", logged[1].message, 1, true)
    assert.matches("stack traceback", logged[1].message, 1, true)
    node:set_state("version", "v1")
    assert.same({ true, "v1" }, { c:result() })
    node:set_state("version", "table")
    node:set_state("version", "table")   -- the same value: not reported twice
    assert.same({ false }, { c:result() })
    assert.equal(before + 2, node:metrics().callback_errors)
    assert.equal(2, #logged)
    assert.matches("gives a table (a consensus value is a string, number or boolean)",
      logged[2].message, 1, true)
  end)

  it("reports an on_change error and goes on delivering to the others", function()
    local c = node:register_consensus_check("version")
    local got
    c:on_change(function() error("subscriber broke") end)
    c:on_change(function(reached, value) got = { reached, value } end)
    local before = node:metrics().callback_errors
    node:set_state("version", "v1")
    assert.same({ true, "v1" }, got)
    assert.equal(before + 1, node:metrics().callback_errors)
    assert.matches("subscriber broke", logged[1].message, 1, true)
    assert.matches("on_change of consensus check 'version'", logged[1].where, 1, true)
  end)

  it("wait returns at once when reached, else times out", function()
    node:start()
    local c = node:register_consensus_check("version")
    assert.same({ nil, "timeout" }, { c:wait(20) })
    node:set_state("version", "v1")
    assert.same({ "v1" }, { c:wait(20) })
    assert.same({ "v1" }, { c:wait() })
  end)

  it("wait inside rumor.spawn yields until reached", function()
    node:start()
    local c = node:register_consensus_check("version")
    local result
    rumor.spawn(function() result = { c:wait(DEADLINE_MS) } end)
    assert.is_nil(result)   -- it yielded
    rumor.after(10, function() node:set_state("version", "v7") end)
    cluster:until_("the waiting coroutine returned", function() return result end)
    assert.same({ "v7" }, result)
  end)

  it("wait outside a coroutine drives the loop until reached", function()
    node:start()
    local c = node:register_consensus_check("version")
    rumor.after(10, function() node:set_state("version", "v8") end)
    assert.same({ "v8" }, { c:wait(DEADLINE_MS) })
  end)

  it("wait refuses to block inside a callback, and leaves no waiter behind", function()
    node:start()
    local c = node:register_consensus_check("version")
    local err
    -- a core timer runs its function as a plain callback (rumor.after would spawn)
    local t = require("rumor.core").timer(1, 0, function()
      local ok, e = pcall(c.wait, c, DEADLINE_MS)
      err = ok and "no error" or e
    end)
    cluster:until_("the timer ran", function() return err end)
    t:stop()
    assert.matches("rumor: wait: cannot block inside a callback; call it from rumor.spawn", err, 1, true)
    assert.is_nil(next(c._waiters))
  end)

  it("remove ends waits with 'removed' and stops notifications", function()
    node:start()
    local c = node:register_consensus_check("version")
    local fired, result = 0, nil
    c:on_change(function() fired = fired + 1 end)
    rumor.spawn(function() result = { c:wait(DEADLINE_MS) } end)
    node:remove_consensus_check(c)
    assert.same({ nil, "removed" }, result)
    node:set_state("version", "v1")
    assert.equal(0, fired)
    assert.same({ false }, { c:result() })
    c:remove()   -- idempotent
    assert.same({ nil, "removed" }, { c:wait(10) })
  end)

  it("closing the node ends waits with 'cancelled'", function()
    node:start()
    local c = node:register_consensus_check("version")
    local result
    rumor.spawn(function() result = { c:wait(DEADLINE_MS) } end)
    node:close()
    assert.same({ nil, "cancelled" }, result)
    assert.same({ nil, "cancelled" }, { c:wait(10) })
  end)
end)

describe("consensus checks across nodes", function()
  local cluster = local_cluster.new{ cluster = CLUSTER, gossip_interval_ms = 50, deadline_ms = DEADLINE_MS }
  local nodes = cluster.nodes
  after_each(function() cluster:close() end)

  local function checks_on_all(key, opts)
    local checks, seen = {}, {}
    for i, node in ipairs(nodes) do
      checks[i] = node:register_consensus_check(key, nil, opts)
      seen[i] = {}
      checks[i]:on_change(function(reached, value, previous)
        table.insert(seen[i], { reached = reached, value = value, previous = previous })
      end)
    end
    return checks, seen
  end

  local function all_results(checks, reached, value)
    return function()
      for _, c in ipairs(checks) do
        local r, v = c:result()
        if r ~= reached or v ~= value then return false end
      end
      return true
    end
  end

  it("is reached when all hold equal values, lost when one changes, reached when it changes back", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local checks, seen = checks_on_all("version")
    for _, node in ipairs(nodes) do node:set_state("version", "v1") end
    cluster:until_("reached on every node", all_results(checks, true, "v1"))
    b:set_state("version", "v2")
    cluster:until_("lost on every node", all_results(checks, false, nil))
    b:set_state("version", "v1")
    cluster:until_("reached again on every node", all_results(checks, true, "v1"))
    for i = 1, 3 do
      assert.same({
        { reached = true, value = "v1" },
        { reached = false, previous = "v1" },
        { reached = true, value = "v1" },
      }, seen[i], nodes[i]:id())
    end
    assert.is_truthy(a and c)
  end)

  it("is not reached while a live member lacks the key", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local checks = checks_on_all("version")
    a:set_state("version", "v1")
    b:set_state("version", "v1")
    c:set_state("other", "x")   -- once c's write is here, so is everything a and b wrote
    cluster:until_("the writes spread", function()
      for _, node in ipairs(nodes) do
        local seen = node:get_state("version")
        if not (seen.n1 and seen.n2 and node:get_state("other").n3) then return false end
      end
      return true
    end)
    for _, check in ipairs(checks) do assert.same({ false }, { check:result() }) end
    c:set_state("version", "v1")
    cluster:until_("reached once c holds it", all_results(checks, true, "v1"))
  end)

  it("leaves a member blocked by topology out, and takes it back when it is let in", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local checks = checks_on_all("version")
    a:set_state("version", "v1")
    b:set_state("version", "v1")
    c:set_state("version", "v2")
    cluster:until_("c's value spread", function()
      return a:get_state("version").n3 == "v2" and b:get_state("version").n3 == "v2"
    end)
    assert.same({ false }, { checks[1]:result() })
    a:remove_peer("n3")   -- a alone blocks c
    cluster:until_("reached on a without c", function() return checks[1]:result() end)
    assert.same({ true, "v1" }, { checks[1]:result() })
    assert.same({ false }, { checks[2]:result() })   -- b still counts c
    a:set_topology{ { id = "n2", address = b:address() }, { id = "n3", address = c:address() } }
    cluster:until_("lost on a once c counts again", function() return not checks[1]:result() end)
  end)

  it("leaves a member that left out", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local checks = checks_on_all("version")
    a:set_state("version", "v1")
    b:set_state("version", "v1")
    c:set_state("version", "v0")
    cluster:until_("the values spread", function()
      return a:get_state("version").n3 and b:get_state("version").n3
        and a:get_state("version").n2 and b:get_state("version").n1
    end)
    assert.same({ false }, { checks[1]:result() })
    c:leave({ timeout_ms = DEADLINE_MS })
    cluster:until_("reached without c", function() return checks[1]:result() and checks[2]:result() end)
    assert.same({ true, "v1" }, { checks[1]:result() })
    assert.same({ true, "v1" }, { checks[2]:result() })
  end)

  it("with a quorum, is reached by k holders of one value and breaks ties alike everywhere", function()
    local a, b, c = cluster:join{ "n1", "n2", "n3" }
    local two = checks_on_all("version", { quorum = 2 })
    local one = checks_on_all("version", { quorum = 1 })
    local four = checks_on_all("version", { quorum = 4 })
    a:set_state("version", "x3")
    b:set_state("version", "x1")
    c:set_state("version", "x2")
    cluster:until_("quorum 1: the smallest of three tied values", all_results(one, true, "x1"))
    for _, check in ipairs(two) do assert.same({ false }, { check:result() }) end
    c:set_state("version", "x3")
    cluster:until_("quorum 2: x3 held by a and c", all_results(two, true, "x3"))
    cluster:until_("quorum 1: the value with most holders", all_results(one, true, "x3"))
    b:set_state("version", "x3")
    cluster:until_("all hold x3", function()
      for _, node in ipairs(nodes) do
        local seen = node:get_state("version")
        if not (seen.n1 == "x3" and seen.n2 == "x3" and seen.n3 == "x3") then return false end
      end
      return true
    end)
    for _, check in ipairs(four) do assert.same({ false }, { check:result() }) end
  end)

  it("wait returns once the others agree, in a coroutine and driving the loop", function()
    local a, b = cluster:join{ "n1", "n2" }
    local check_a = a:register_consensus_check("version")
    local check_b = b:register_consensus_check("version")
    a:set_state("version", "v1")
    local result
    rumor.spawn(function() result = { check_b:wait(DEADLINE_MS) } end)
    rumor.after(10, function() b:set_state("version", "v1") end)
    assert.same({ "v1" }, { check_a:wait(DEADLINE_MS) })
    cluster:until_("b's waiting coroutine returned", function() return result end)
    assert.same({ "v1" }, result)
  end)
end)

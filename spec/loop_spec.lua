-- Specs of the loop functions: now, run, run_once, sleep, spawn, after, error reporting.
local rumor = require("rumor")

describe("the rumor loop", function()
  local reported

  before_each(function()
    reported = {}
    rumor.set_error_handler(function(message, where)
      reported[#reported + 1] = { message = message, where = where }
    end)
  end)

  after_each(function()
    rumor.set_error_handler(nil)
  end)

  it("has a version", function()
    assert.matches("^%d+%.%d+%.%d+", rumor.version)
  end)

  it("now() is an integer clock that advances across a sleep", function()
    local t0 = rumor.now()
    assert.equal("integer", math.type(t0))
    rumor.sleep(30)
    assert.is_true(rumor.now() - t0 >= 30)
  end)

  it("run_once() with no work returns false at once", function()
    assert.is_false(rumor.run_once())
  end)

  it("sleep outside a coroutine runs the loop, so timers fire meanwhile", function()
    local fired = false
    rumor.after(5, function() fired = true end)
    rumor.sleep(100)
    assert.is_true(fired)
  end)

  it("after() runs its function later, not at once", function()
    local fired = false
    rumor.after(0, function() fired = true end)
    assert.is_false(fired)
    rumor.run()
    assert.is_true(fired)
  end)

  it("after():cancel() keeps the function from running", function()
    local fired = false
    local h = rumor.after(10, function() fired = true end)
    h:cancel()
    h:cancel()
    rumor.sleep(50)
    assert.is_false(fired)
  end)

  it("run() returns once no work is left", function()
    local order = {}
    rumor.after(30, function() order[#order + 1] = "late" end)
    rumor.after(10, function() order[#order + 1] = "early" end)
    rumor.run()
    assert.same({ "early", "late" }, order)
    assert.is_false(rumor.run_once())
  end)

  it("spawn() starts the coroutine at once and sleep() suspends only it", function()
    local order = {}
    rumor.spawn(function()
      order[#order + 1] = "a starts"
      rumor.sleep(20)
      order[#order + 1] = "a wakes"
    end)
    order[#order + 1] = "spawn returned"
    rumor.spawn(function()
      order[#order + 1] = "b starts"
      rumor.sleep(5)
      order[#order + 1] = "b wakes"
    end)
    rumor.run()
    assert.same({ "a starts", "spawn returned", "b starts", "b wakes", "a wakes" }, order)
  end)

  it("spawn() passes its arguments and an after() callback may sleep", function()
    local got
    rumor.spawn(function(x, y) got = x + y end, 2, 3)
    assert.equal(5, got)
    local woke = false
    rumor.after(1, function() rumor.sleep(10) woke = true end)
    rumor.run()
    assert.is_true(woke)
  end)

  it("reports an error in a spawned coroutine instead of raising it", function()
    local before = rumor.callback_errors()
    assert.has_no.errors(function()
      rumor.spawn(function() error("boom at start") end)
    end)
    rumor.spawn(function() rumor.sleep(5) error("boom after sleep") end)
    rumor.run()
    assert.equal(2, #reported)
    assert.matches("boom at start", reported[1].message)
    assert.matches("boom after sleep", reported[2].message)
    assert.equal("spawn", reported[1].where)
    assert.equal(before + 2, rumor.callback_errors())
  end)

  it("reports an error in an after() callback and keeps running the others", function()
    local ran = false
    rumor.after(1, function() error("bad timer") end)
    rumor.after(5, function() ran = true end)
    rumor.run()
    assert.is_true(ran)
    assert.equal(1, #reported)
    assert.matches("bad timer", reported[1].message)
  end)

  it("checks its arguments", function()
    assert.has_error(function() rumor.sleep(-1) end)
    assert.has_error(function() rumor.sleep("x") end)
    assert.has_error(function() rumor.after(1, "not a function") end)
    assert.has_error(function() rumor.spawn(42) end)
  end)
end)

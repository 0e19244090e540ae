-- Specs of the process harness: eventually(), and reaping agents that will not stop.
local process = require("rumor.process")
local rumor = require("rumor")

describe("rumor.process", function()
  it("eventually returns the predicate's first true value", function()
    local n = 0
    rumor.after(20, function() n = 5 end)
    assert.equal(5, process.eventually(function() return n > 0 and n end, 10000))
  end)

  it("eventually gives up at its deadline with a message", function()
    local t0 = rumor.now()
    local v, err = process.eventually(function() return false end, 50)
    assert.is_nil(v)
    assert.matches("timed out after 50 ms", err)
    assert.is_true(rumor.now() - t0 >= 50)
  end)

  it("close() kills an agent that does not answer stop, and reaps it", function()
    local procs = process.group()
    local ok, err = pcall(function()
      local a = procs:agent{ id = "frozen" }
      a:wait_started(10000)
      assert.is_true(a.proc:kill("SIGSTOP"))
      assert.is_true(procs:close(200))
      assert.is_false(a:alive())
      assert.equal(9, a.exit_signal)
    end)
    procs:close()
    assert(ok, err)
  end)

  it("with_group reaps the agents when the body fails", function()
    local group
    local ok, err = pcall(process.with_group, function(g)
      group = g
      g:agent{ id = "doomed" }:wait_started(10000)
      error("the body failed")
    end)
    assert.is_false(ok)
    assert.matches("the body failed", err)
    assert.is_true(group:all_exited())
  end)
end)

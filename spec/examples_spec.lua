-- Specs that run the scripts in examples/ through `rumor run`, as a user would.
local process = require("rumor.process")

-- limit_s: kill the run after that many seconds (coreutils timeout; exit code 124).
local function rumor_run(script, limit_s)
  local line = ("%senv LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' %s '%s' run '%s' 2>&1"):format(
    limit_s and ("timeout %d "):format(limit_s) or "",
    package.path, package.cpath, process.interpreter(), process.find_bin(), script)
  local p = assert(io.popen(line, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

describe("examples", function()
  it("hello.lua (the README's example) prints the update and the value", function()
    local out, code = rumor_run("examples/hello.lua")
    assert.equal(0, code, out)
    assert.equal("a\tcfg/color\tblue\t2\nblue\n", out) -- seq 1 is a's first heartbeat
  end)

  it("rollout.lua validates, agrees, refuses a bad config and blocks a draining node, then ends", function()
    local out, code = rumor_run("examples/rollout.lua")
    assert.equal(0, code, out)
    assert.equal(table.concat({
      "version 2 published on every node",
      "consensus: every node runs version 2",
      "d's config with 0 workers was refused by a, b and c; they still see version 2",
      "a: d is blocked as policy: draining for maintenance",
      "consensus again on a, b and c without d: version 2",
    }, "\n") .. "\n", out)
  end)

  it("counter.lua sums every node's count on every node, then ends by itself", function()
    local out, code = rumor_run("examples/counter.lua")
    assert.equal(0, code, out)
    assert.equal("every node counts 17 requests (a 3 + b 5 + c 9)\n", out)
  end)

  -- Looked up, not loaded: luv must be loaded once per process and kept (core.require_main).
  local has_luv = package.searchpath("luv", package.cpath) ~= nil
  local luv_it = has_luv and it or function(name) pending(name .. " (luv is not installed)") end
  luv_it("luv_app.lua hosts two nodes in an application's luv loop and ends by itself", function()
    local out, code = rumor_run("examples/luv_app.lua", 60)   -- a hang fails, not blocks
    assert.equal(0, code, out)
    assert.equal("a writes app/greeting\n"
      .. "b got app/greeting = hello from a\n"
      .. "stopping the nodes and the application's timer\n"
      .. "uv.run() returned: the application and both nodes are done\n", out)
  end)
end)

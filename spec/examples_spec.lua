-- Specs that run the scripts in examples/ through `rumor run`, as a user would.
local process = require("rumor.process")

local function rumor_run(script)
  local line = ("env LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' %s '%s' run '%s' 2>&1"):format(
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

  it("counter.lua sums every node's count on every node, then ends by itself", function()
    local out, code = rumor_run("examples/counter.lua")
    assert.equal(0, code, out)
    assert.equal("every node counts 17 requests (a 3 + b 5 + c 9)\n", out)
  end)
end)

-- Specs of the `rumor` command: subcommands, exit codes, and `rumor run` driving the loop.
local process = require("rumor.process")

-- Runs the launcher with args through the shell; returns stdout, stderr, exit code.
local rumor_cmd = process.command

local function write_script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

describe("the rumor command", function()
  it("finds its launcher", function()
    assert.truthy(process.find_bin(), "lua/bin/rumor not found")
  end)

  it("prints its version", function()
    local out, _, code = rumor_cmd("version")
    assert.equal(0, code)
    assert.matches("^rumor %d+%.%d+%.%d+\n$", out)
  end)

  it("prints help on stdout", function()
    local out, _, code = rumor_cmd("help")
    assert.equal(0, code)
    assert.matches("usage: rumor", out)
    assert.matches("agent %-%-config", out)
  end)

  it("refuses an unknown subcommand with usage on stderr and exit 2", function()
    local out, err, code = rumor_cmd("frobnicate")
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("unknown command 'frobnicate'", err)
    assert.matches("usage: rumor", err)
    local _, err2, code2 = rumor_cmd("")
    assert.equal(2, code2)
    assert.matches("usage: rumor", err2)
  end)

  it("runs a script with arg set and drives the loop until no work is left", function()
    local script = write_script([[
      local rumor = require("rumor")
      print("args", arg[0] ~= nil, arg[1], arg[2], select("#", ...))
      rumor.after(30, function() print("timer fired") end)
      rumor.spawn(function() rumor.sleep(10) print("coroutine woke") end)
      print("script done")
    ]])
    local out, err, code = rumor_cmd("run '" .. script .. "' one two")
    os.remove(script)
    assert.equal(0, code, err)
    assert.equal("args\ttrue\tone\ttwo\t2\nscript done\ncoroutine woke\ntimer fired\n", out)
  end)

  it("run reports a failing script and exits non-zero", function()
    local script = write_script("error('script blew up')\n")
    local _, err, code = rumor_cmd("run '" .. script .. "'")
    os.remove(script)
    assert.equal(1, code)
    assert.matches("script blew up", err)
    local _, err2, code2 = rumor_cmd("run /nonexistent/script.lua")
    assert.equal(1, code2)
    assert.matches("nonexistent", err2)
  end)

  it("agent exits non-zero with a clear message on a bad config", function()
    local cfg = write_script('{"id":"a","gossip_interval_ms":"soon"}')
    local _, err, code = rumor_cmd("agent --config '" .. cfg .. "' </dev/null")
    os.remove(cfg)
    assert.equal(1, code)
    assert.matches("field 'gossip_interval_ms': expected an integer", err)
    local _, err2, code2 = rumor_cmd("agent </dev/null")
    assert.equal(2, code2)
    assert.matches("%-%-config", err2)
  end)

  it("agent takes RUMOR_* environment variables over its config file, and names a bad one", function()
    local cfg = write_script('{"id":"envy","cluster":"from-file"}')
    local out, err, code = rumor_cmd("agent --config '" .. cfg .. "' </dev/null",
      "RUMOR_ID=from-env RUMOR_GOSSIP_INTERVAL_MS=250")
    assert.equal(0, code, err)
    assert.matches('{"event":"started","id":"from%-env"', out)
    local _, err2, code2 = rumor_cmd("agent --config '" .. cfg .. "' </dev/null",
      "RUMOR_GOSSIP_INTERVAL_MS=soon")
    os.remove(cfg)
    assert.equal(1, code2)
    assert.matches("environment variable RUMOR_GOSSIP_INTERVAL_MS", err2, 1, true)
  end)

  it("agent with stdin at EOF starts, stops and exits 0", function()
    local cfg = write_script('{"id":"eof"}')
    local out, err, code = rumor_cmd("agent --config '" .. cfg .. "' </dev/null")
    os.remove(cfg)
    assert.equal(0, code, err)
    assert.matches('^{"event":"started","id":"eof","address":"127%.0%.0%.1:%d+","generation":%d+}\n', out)
    assert.matches('{"event":"stopped","id":"eof"}\n$', out)
  end)

  it("demo --plain takes the cluster through every step and ends with a summary", function()
    local out, err, code = rumor_cmd("demo --plain --nodes 3 --interval 100")
    assert.equal(0, code, err .. out)
    assert.is_nil(out:find("\27", 1, true), "escape sequences in --plain output")
    for k = 1, 5 do assert.matches("\nstep " .. k .. "/5: ", out) end
    -- With 3 nodes: n1 writes blue, n3 writes green, n2 is killed and comes back.
    for i = 1, 3 do
      assert.matches("n" .. i .. " started: pid %d+ on 127%.0%.0%.1:%d+", out)
      assert.matches("n" .. i .. " sees all 3 alive after", out)
      assert.matches("n" .. i .. " has color=blue after [%d.]+ m?s", out)
    end
    assert.matches("color=green from n3 reached all 3 nodes", out)
    assert.matches("n2 killed: SIGKILL to pid %d+", out)
    for _, id in ipairs{ "n1", "n3" } do
      assert.matches(id .. " blocks n2 %(expired%)", out)
      assert.matches(id .. ": why n2%? blocked as expired: no heartbeat for %d+ ms", out)
      assert.matches(id .. " sees n2 alive again after", out)
    end
    assert.matches("n2 restarted: pid %d+", out)
    assert.matches("n2 holds color=green %(from n3%)", out)
    -- The cut needs the agents' fault command: done, or skipped with a note.
    assert.truthy(out:find("skipped: these agents have no fault command", 1, true)
      or out:find("holds purple after", 1, true), out)
    for k = 1, 5 do assert.matches("step " .. k .. " done in", out) end
    local summary = assert(out:match("\nSummary: (.*)$"), "no summary in:\n" .. out)
    summary = summary:gsub("%s+", " "):match("^(.-) ?$")
    assert.matches("3 rumor agents on 127%.0%.0%.1 %(gossip every 100 ms%) formed a cluster in", summary)
    assert.matches("n2 was killed with SIGKILL and all 2 others blocked it", summary)
    assert.matches("Steps took .+ in all, and every agent was stopped%.$", summary)
  end)

  it("demo interrupted with SIGINT stops every agent it started and exits 130", function()
    local core = require("rumor.core")
    local lines, exited = {}, nil
    local demo = assert(core.spawn{
      file = process.interpreter(),
      args = { process.find_bin(), "demo", "--nodes", "3", "--interval", "100" },
      env = process.environment(),
      on_line = function(stream, line) lines[#lines + 1] = { stream = stream, text = line } end,
      on_exit = function(code, signal) exited = { code = code, signal = signal } end,
    })
    local function text(stream)
      local out = {}
      for _, l in ipairs(lines) do
        if l.stream == stream then out[#out + 1] = l.text end
      end
      return table.concat(out, "\n")
    end
    local pids = {}
    local ok, err = pcall(function()
      -- Interrupt it in step 1, once it has said which agents it started.
      assert.truthy(process.eventually(function()
        pids = {}
        for pid in text("stdout"):gmatch("n%d+ started: pid (%d+)") do pids[#pids + 1] = pid end
        return #pids == 3
      end, 20000), "the demo did not start 3 agents:\n" .. text("stdout") .. text("stderr"))
      assert.matches("step 1/5: ", text("stdout"))
      assert.is_true(demo:kill("SIGINT"))
      assert.truthy(process.eventually(function() return exited end, 20000),
        "the demo did not exit after SIGINT")
    end)
    if not exited then pcall(demo.kill, demo, "SIGKILL") end
    assert(ok, err)
    assert.is_nil(text("stdout"):find("\27", 1, true), "escape sequences on a pipe")
    assert.equal(130, exited.code, text("stderr"))
    assert.matches("rumor demo: interrupted; stopped all agents", text("stderr"))
    -- Only the demo got the signal: its agents are gone because it stopped them.
    for _, pid in ipairs(pids) do
      assert.is_not_true(os.execute("kill -0 " .. pid .. " 2>/dev/null"),
        "agent pid " .. pid .. " is still running")
    end
  end)

  it("demo refuses a bad --nodes", function()
    local _, err, code = rumor_cmd("demo --nodes 1")
    assert.equal(2, code)
    assert.matches("%-%-nodes", err)
  end)
end)

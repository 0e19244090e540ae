-- Specs of the shipped harness rumor.testing itself: starting a cluster (ids, seeds,
-- scripts, per-node config), commands and their errors, waits that name what lags,
-- kill / pause / resume / restart / leave / stop, the fault commands it sends for
-- partitions and lossy or slow links (checked on the commands, so they hold before the
-- agent knows them), and above all reaping: close(), <close> on an error, the busted
-- hook at the end of a test, and a Ctrl-C in the driver.
local testing = require("rumor.testing")
local process = require("rumor.process")
local core = require("rumor.core")

local CONFIG = { gossip_interval_ms = 100, heartbeat_expiration_ms = 1000 }  -- quick rounds
local DEADLINE_MS = 20000

-- Is a process of that pid still there (kill -0)?
local function exists(pid)
  local _, _, code = process.shell("kill -0 " .. pid)
  return code == 0
end

local function write_tmp(text, suffix)
  local path = os.tmpname() .. (suffix or "")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

describe("rumor.testing", function()
  it("starts N agents joined through the first, with ids from the prefix", function()
    local c <close> = testing.cluster{ nodes = 3, config = CONFIG, name_prefix = "x", deadline_ms = DEADLINE_MS }
    assert.same({ "x1", "x2", "x3" }, { c.nodes[1].id, c.nodes[2].id, c.nodes[3].id })
    for i, n in ipairs(c.nodes) do
      assert.equal(n, c:node(i))
      assert.equal(n, c:node(n.id))
      assert.matches("^127%.0%.0%.1:%d+$", n.address)
      assert.equal("running", n:status())
      assert.equal(3, #n:members())
      for _, other in ipairs(c.nodes) do
        if other ~= n then assert.is_true(n:sees(other)) end
      end
    end
    assert.has_error(function() c:node("nobody") end, "rumor.testing: no node nobody")
    assert.has_error(function() c:add("x2") end)
    local ok, err = c:close()
    assert.is_true(ok, err)
    for _, n in ipairs(c.nodes) do assert.is_false(n.agent:alive()) end
    assert.is_true(c:close())   -- again: nothing left to do
  end)

  it("refuses unknown options and reports an agent that cannot start", function()
    assert.has_error(function() testing.cluster{ node = 3 } end,
      "rumor.testing.cluster: unknown option 'node' (node settings go in 'config')")
    local ok, err = pcall(testing.cluster, { nodes = 2, config = { gossip_intervl_ms = 5 } })
    assert.is_false(ok)
    assert.matches("gossip_intervl_ms", err)
    assert.matches("exited before any started event", err)
  end)

  it("runs a script given as source or as a path, and takes per-node config", function()
    local source = [[
      return function(node, agent)
        node:set_state("boot", node:id())
        agent.emit{ event = "booted" }
      end
    ]]
    local c <close> = testing.cluster{ nodes = 2, config = CONFIG, script = source, deadline_ms = DEADLINE_MS }
    c:on_every(function(n) return n:get("boot").n1 == "n1" and n:get("boot").n2 == "n2" end, "boot keys")
    assert.equal(1, #c:node(1):events("booted"))
    local path = write_tmp("return function(node) node:set_state('boot', 'from a file') end\n", ".lua")
    finally(function() os.remove(path) end)
    local n3 = c:add("odd", { script = path, gossip_fan_out = 2 })
    assert.equal("odd", n3.id)
    assert.equal(2, n3.config.gossip_fan_out)
    c:on_every(function(n) return n:get("boot").odd == "from a file" end, "odd's boot key")
    local written = c.scripts[source]
    assert(c:close())
    -- the source's file and the name os.tmpname made for it are both gone
    assert.is_nil(io.open(written, "rb"))
    assert.is_nil(io.open((written:gsub("%.lua$", "")), "rb"))
  end)

  it("raises clear errors: a refused command names the node, a wait names what lags", function()
    -- Started under the full deadline: two agents starting and joining within the
    -- 300 ms of the failing waits below is a race a loaded box loses.
    local c <close> = testing.cluster{ nodes = 2, config = CONFIG, deadline_ms = DEADLINE_MS }
    local ok, err = pcall(function() c:node(1):call{ cmd = "fly" } end)
    assert.is_false(ok)
    assert.matches("testing_spec.lua:%d+: fly on n1 failed: unknown command 'fly'", err)
    assert.is_false(c:node(1):try{ cmd = "fly" }.ok)
    c.deadline_ms = 300   -- only for the waits that must fail
    ok, err = pcall(function() c:eventually(function() return false, "n9 missing" end, "the impossible") end)
    assert.is_false(ok)
    assert.matches("testing_spec.lua:%d+: not within 300 ms: the impossible\n  still: n9 missing\n  n1: running", err)
    ok, err = pcall(function()
      c:on_every(function(n) return n.id == "n1", "not n1" end, "only n1")
    end)
    assert.is_false(ok)
    assert.matches("on every live node: only n1\n  still: n2: not n1\n  first lagging: n2: running", err)
    assert(c:close())
  end)

  it("kills, pauses, resumes, restarts, stops and leaves nodes", function()
    local c <close> = testing.cluster{ nodes = 4, config = CONFIG, deadline_ms = DEADLINE_MS }
    local n1, n2, n3, n4 = c:node(1), c:node(2), c:node(3), c:node(4)

    local rss, linux = n2:rss_kb(), io.open("/proc/self/status")
    if linux then
      linux:close()
      assert.is_true(math.type(rss) == "integer" and rss > 0, tostring(rss))
    end
    n2:kill()
    assert.equal("killed", n2:status())
    assert.is_nil(n2:rss_kb())
    assert.equal(9, n2.agent.exit_signal)
    local old = n2.generation
    n2:restart()
    assert.equal("running", n2:status())
    assert.is_true(n2.generation > old)
    assert.equal("n2#2", n2.agent.name)
    for _, n in ipairs(c:live()) do
      if n ~= n2 then assert.is_true(n:sees(n2)) end
    end

    n3:pause()
    assert.equal("paused", n3:status())
    assert.same({ n1, n2, n4 }, c:live())
    c:on_every(function(n) return n:member("n3").status == "blocked" end, "n3 blocked")
    local before = n3.generation
    n3:resume()
    c:wait_joined("n3 back")
    assert.is_true(n3.generation > before, "n3 did not rejoin under a new generation")

    assert.is_true(n4:leave(5000))
    assert.equal("left", n4:status())
    c:on_every(function(n) return n:member("n4").status == "left" end, "n4 left")
    n1:stop()
    assert.equal("stopped", n1:status())
    assert.equal(0, n1.agent.exit_code)
    local ok, err = c:close()
    assert.is_true(ok, err)
  end)

  it("sends the fault commands of partitions, lossy and slow links to both ends, and heals", function()
    local c <close> = testing.cluster{ nodes = 4, config = CONFIG, deadline_ms = DEADLINE_MS }
    -- faults_supported reads "unknown command" as no, any other answer as yes
    c:node(1).try = function() return { ok = false, error = "unknown command 'fault'" } end
    assert.is_false(c:faults_supported())
    c.fault_support = nil
    c:node(1).try = function() return { ok = false, error = "field 'cut' must be a boolean" } end
    assert.is_true(c:faults_supported())
    local sent = {}
    local function stub(n)   -- record, as the agent would answer once it knows faults
      n.try = function(self, cmd)
        sent[#sent + 1] = { at = self.id, cmd = cmd.cmd, peer = cmd.peer, cut = cmd.cut,
                            loss = cmd.loss, delay_ms = cmd.delay_ms }
        return { ok = true }
      end
    end
    for _, n in ipairs(c.nodes) do stub(n) end
    local addr = {}
    for _, n in ipairs(c.nodes) do addr[n.id] = n.address end
    local function find(at, peer)
      local out = {}
      for _, s in ipairs(sent) do
        if s.at == at and s.peer == addr[peer] then out[#out + 1] = s end
      end
      return out
    end

    c:partition({ "n1", "n2" }, { "n3" })
    assert.equal(4, #sent)   -- two cross pairs, each cut at both ends; n4 untouched
    for _, pair in ipairs({ { "n1", "n3" }, { "n3", "n1" }, { "n2", "n3" }, { "n3", "n2" } }) do
      local got = find(pair[1], pair[2])
      assert.equal(1, #got, pair[1] .. " -> " .. pair[2])
      assert.same({ at = pair[1], cmd = "fault", peer = addr[pair[2]], cut = true }, got[1])
    end

    -- a link's settings add up, and the whole setting is sent each time (the agent's
    -- fault replaces the previous setting for that peer)
    sent = {}
    c:loss("n1", "n4", 0.25)
    c:delay(c:node("n4"), "n1", 40)
    assert.same({ at = "n1", cmd = "fault", peer = addr.n4, loss = 0.25 }, find("n1", "n4")[1])
    assert.same({ at = "n1", cmd = "fault", peer = addr.n4, loss = 0.25, delay_ms = 40 }, find("n1", "n4")[2])
    assert.same({ at = "n4", cmd = "fault", peer = addr.n1, loss = 0.25, delay_ms = 40 }, find("n4", "n1")[2])
    assert.has_error(function() c:loss("n1", "n4", 2) end, "rumor.testing: loss must be a probability in [0, 1], got 2")
    assert.has_error(function() c:delay("n1", "n1", 5) end)

    -- a node restarted on a new port takes its links along, at both ends
    sent = {}
    local n3 = c:node("n3")
    n3:kill()
    n3:restart()   -- joins through n4 (n1 and n2 are cut from it) and waits for n4 only
    assert.are_not.equal(addr.n3, n3.address)
    addr.n3 = n3.address
    assert.same({ at = "n1", cmd = "fault", peer = addr.n3, cut = true }, find("n1", "n3")[1])
    assert.same({ at = "n3", cmd = "fault", peer = addr.n2, cut = true }, find("n3", "n2")[1])

    -- heal reaches the running nodes; a paused one heals, then takes newer faults, on resume
    local n4 = c:node("n4")
    n4:pause()
    sent = {}
    c:heal()
    assert.equal(3, #sent)
    for _, s in ipairs(sent) do assert.equal("heal", s.cmd) end
    c:partition({ "n4" }, { "n2" })
    assert.same({ at = "n2", cmd = "fault", peer = addr.n4, cut = true }, sent[4])
    assert.equal(4, #sent)   -- not at the paused n4
    n4:resume()
    assert.same({ at = "n4", cmd = "heal" }, sent[5])
    assert.same({ at = "n4", cmd = "fault", peer = addr.n2, cut = true }, sent[6])
    assert(c:close())
  end)

  it("makes real agents lose and delay on one link, cut a partition, and heal", function()
    local c <close> = testing.cluster{ nodes = 3, config = CONFIG, deadline_ms = DEADLINE_MS }
    if not c:faults_supported() then
      pending("the agent has no fault commands (unknown command 'fault')")
      return
    end
    c:loss("n1", "n2", 0.3)
    c:delay("n1", "n3", 30)
    c:node(1):set("k", "v")
    c:on_every(function(n) return n:get("k").n1 == "v" end, "k despite loss and delay")
    c:eventually(function()
      local m = c:node(1):metrics()
      return m.fault_dropped > 0 and m.fault_delayed > 0, ("dropped %d, delayed %d"):format(m.fault_dropped, m.fault_delayed)
    end, "n1 counting its faults")
    c:partition({ "n1" }, { "n2", "n3" })
    c:on_every(function(n)
      if n.id == "n1" then return #n:call{ cmd = "blocked" }.blocked == 2 end
      return n:member("n1").status == "blocked"
    end, "n1 cut off")
    c:heal()
    c:wait_joined("n1 back after heal")
    assert(c:close())
  end)

  it("cuts a node restarted inside a partition from the other side before its rounds reach it", function()
    local c <close> = testing.cluster{ nodes = 3, config = { gossip_interval_ms = 50, heartbeat_expiration_ms = 1000 },
                                       deadline_ms = DEADLINE_MS }
    if not c:faults_supported() then
      pending("the agent has no fault commands (unknown command 'fault')")
      return
    end
    c:partition({ "n1" }, { "n2", "n3" })
    c:on_every(function(n)
      if n.id == "n1" then return #n:call{ cmd = "blocked" }.blocked == 2 end
      return n:member("n1").status == "blocked"
    end, "n1 cut off")
    local n1, n3 = c:node("n1"), c:node("n3")
    n3:kill()
    -- A loaded driver: slow to send the faults once the new process is up. The new
    -- process learns n1's address from n2 meanwhile and gossips every 50 ms.
    local sync = c._sync_faults
    c._sync_faults = function(self, node)
      process.eventually(function() return false end, 1500)
      return sync(self, node)
    end
    n3:restart()
    c._sync_faults = nil
    process.eventually(function() return false end, 1000)
    -- Only n3 itself can tell n1 of its new generation: n2 is cut from n1 too.
    local crossed = {}
    for _, e in ipairs(n1:events("member")) do
      if e.member == "n3" and e.generation == n3.generation then crossed[#crossed + 1] = e.type end
    end
    assert.same({}, crossed)
    assert(c:close())
  end)

  it("closes the cluster of a <close> variable when the body fails", function()
    local cluster
    local ok, err = pcall(function()
      local c <close> = testing.cluster{ nodes = 2, config = CONFIG, deadline_ms = DEADLINE_MS }
      cluster = c
      error("the body failed")
    end)
    assert.is_false(ok)
    assert.matches("the body failed", err)
    assert.is_true(cluster.closed)
    for _, n in ipairs(cluster.nodes) do assert.is_false(n.agent:alive()) end
  end)

  describe("under busted", function()
    local leaked
    it("leaves a cluster open at the end of a test", function()
      leaked = testing.cluster{ nodes = 2, config = CONFIG, deadline_ms = DEADLINE_MS }
      assert.is_true(leaked.nodes[1].agent:alive())
    end)

    it("finds it closed and reaped by the next test", function()
      assert.is_true(leaked.closed)
      for _, n in ipairs(leaked.nodes) do assert.is_false(n.agent:alive()) end
    end)

    local shared
    describe("a cluster made in a setup", function()
      lazy_setup(function()
        shared = testing.cluster{ nodes = 1, config = CONFIG, deadline_ms = DEADLINE_MS }
      end)
      it("lives through the describe block's first test", function()
        assert.is_false(shared.closed)
      end)
      it("and its second", function()
        assert.is_false(shared.closed)
        assert.is_true(shared.nodes[1].agent:alive())
      end)
    end)

    it("is closed once that block ends", function()
      assert.is_true(shared.closed)
      assert.is_false(shared.nodes[1].agent:alive())
    end)
  end)

  -- Runs a child driver (argv), waits for its "ready" line, sends it (and it alone)
  -- SIGINT and returns its stdout lines once it has exited.
  local function interrupt(argv)
    local lines, exited = {}, false
    local proc = assert(core.spawn{
      file = process.interpreter(), args = argv, env = process.environment(),
      on_line = function(stream, line)
        if stream == "stdout" then lines[#lines + 1] = line else io.stderr:write(line, "\n") end
      end,
      on_exit = function() exited = true end,
    })
    local ready = process.eventually(function()
      for _, l in ipairs(lines) do if l:match("^ready") then return l end end
      return exited and "exited"
    end, DEADLINE_MS)
    assert.is_truthy(ready and ready ~= "exited", "the child did not get ready: " .. table.concat(lines, "\n"))
    assert.is_true(proc:kill("SIGINT"))
    assert.truthy(process.eventually(function() return exited end, DEADLINE_MS), "the child did not exit")
    local pids = {}
    for pid in ready:gmatch("%d+") do pids[#pids + 1] = pid end
    assert.equal(2, #pids)
    return lines, pids
  end

  it("runs the README's busted example as it stands", function()
    local f = assert(io.open("README.md", "rb"))
    local readme = f:read("a")
    f:close()
    local from = assert(readme:find("### Testing your cluster behaviour with busted", 1, true),
      "README has no section 'Testing your cluster behaviour with busted'")
    local example = assert(readme:match("```lua\n(.-)```", from), "no lua block in that section")
    local spec = write_tmp(example, "_spec.lua")
    local config = write_tmp("return {}\n", ".lua")
    finally(function() os.remove(spec) os.remove(config) end)
    local busted = assert(process.shell("command -v busted"):match("[^\n]+"), "busted is not on PATH")
    local out, code = {}, nil
    assert(core.spawn{
      file = process.interpreter(), args = { busted, "--config-file=" .. config, "--output=plainTerminal", spec },
      env = process.environment(),
      on_line = function(_, line) out[#out + 1] = line end,
      on_exit = function(c) code = c end,
    })
    assert.truthy(process.eventually(function() return code end, 2 * DEADLINE_MS), "the example did not end")
    assert.equal(0, code, table.concat(out, "\n"))
    assert.matches("1 success / 0 failures / 0 errors", table.concat(out, "\n"))
  end)

  it("reaps the agents of a script interrupted by Ctrl-C", function()
    local script = write_tmp([[
      local testing = require("rumor.testing")
      local cluster
      local ok, err = pcall(function()
        local c <close> = testing.cluster{ nodes = 2, config = { gossip_interval_ms = 100 } }
        cluster = c
        print("ready " .. c.nodes[1].agent.pid .. " " .. c.nodes[2].agent.pid)
        io.stdout:flush()
        c:eventually(function() return false end, 60000, "Ctrl-C")
      end)
      print("caught " .. tostring(err))
      print("reaped " .. tostring(not cluster.nodes[1].agent:alive() and not cluster.nodes[2].agent:alive()))
    ]], ".lua")
    finally(function() os.remove(script) end)
    local lines, pids = interrupt({ script })
    assert.matches("interrupted!", table.concat(lines, "\n"))
    assert.equal("reaped true", lines[#lines])
    for _, pid in ipairs(pids) do assert.is_false(exists(pid), "agent " .. pid .. " outlived the interrupt") end
  end)

  it("reaps the agents of a busted spec interrupted by Ctrl-C, at the end of that test", function()
    local spec = write_tmp([[
      local testing = require("rumor.testing")
      local cluster
      describe("interrupted", function()
        it("waits for Ctrl-C", function()
          cluster = testing.cluster{ nodes = 2, config = { gossip_interval_ms = 100 } }
          print("ready " .. cluster.nodes[1].agent.pid .. " " .. cluster.nodes[2].agent.pid)
          io.stdout:flush()
          cluster:eventually(function() return false end, 60000, "Ctrl-C")
        end)
        it("sees it reaped", function()
          print("reaped " .. tostring(cluster.closed and not cluster.nodes[1].agent:alive()
            and not cluster.nodes[2].agent:alive()))
        end)
      end)
    ]], "_spec.lua")
    local config = write_tmp("return {}\n", ".lua")
    finally(function() os.remove(spec) os.remove(config) end)
    local busted = assert(process.shell("command -v busted"):match("[^\n]+"), "busted is not on PATH")
    local lines, pids = interrupt({ busted, "--config-file=" .. config, "--output=plainTerminal", spec })
    local out = table.concat(lines, "\n")
    assert.matches("reaped true", out)
    assert.matches("interrupted!", out)
    for _, pid in ipairs(pids) do assert.is_false(exists(pid), "agent " .. pid .. " outlived the interrupt") end
  end)
end)

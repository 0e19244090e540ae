-- A live cluster: three `rumor agent` processes on loopback. A key set on one reaches
-- the other two (seen in their update events and by a get command). The processes are
-- reaped in teardown whatever happens in the test.
local process = require("rumor.process")

local DEADLINE_MS = 10000

local on_every = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }.on_every

describe("a cluster of three agent processes", function()
  local procs, agents

  before_each(function()
    procs = process.group()
    agents = {}
  end)

  after_each(function()
    local all_reaped = procs:close()
    assert.is_true(all_reaped, "some agent processes did not exit")
    for _, a in ipairs(procs.agents) do
      assert.is_false(a:alive())
    end
  end)

  local function start_cluster()
    local function cfg(id, seeds)
      return { id = id, cluster = "spec-cluster", seeds = seeds, gossip_interval_ms = 100 }
    end
    agents[1] = procs:agent(cfg("n1", {}))
    local seed = agents[1]:wait_started(DEADLINE_MS).address
    assert.matches("^127%.0%.0%.1:%d+$", seed)
    agents[2] = procs:agent(cfg("n2", { seed }))
    agents[3] = procs:agent(cfg("n3", { seed }))
    for _, a in ipairs(agents) do a:wait_started(DEADLINE_MS) end
  end

  it("spreads a key set on one node to the two others", function()
    start_cluster()
    local reply = agents[1]:call({ cmd = "set", key = "greeting", value = "hello" }, DEADLINE_MS)
    assert.is_true(reply.ok)
    assert.equal("integer", math.type(reply.seq)) -- after n1's heartbeats: not 1

    for i = 2, 3 do
      local ev = agents[i]:wait_for(function(e)
        return e.event == "update" and e.member == "n1" and e.key == "greeting"
      end, DEADLINE_MS, "update of greeting from n1")
      assert.equal("hello", ev.value)
      assert.equal(reply.seq, ev.seq)
      assert.is_false(ev["local"])
    end
    for i = 2, 3 do
      local got = agents[i]:call({ cmd = "get", key = "greeting" }, DEADLINE_MS)
      assert.same({ n1 = "hello" }, got.values)
    end
  end)

  it("lets every node learn every member", function()
    start_cluster()
    on_every(agents, "three members", function(a)
      return #a:call({ cmd = "members" }, DEADLINE_MS).members == 3
    end)
    local members = agents[2]:call({ cmd = "members" }, DEADLINE_MS).members
    local ids = {}
    for _, m in ipairs(members) do ids[#ids + 1] = m.id end
    table.sort(ids)
    assert.same({ "n1", "n2", "n3" }, ids)
    assert.equal("n2", members[1].id)
    assert.is_true(members[1].self)
  end)

  it("answers a bad command with an error and keeps running", function()
    start_cluster()
    local a = agents[1]
    local r = a:call({ cmd = "fly" }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.matches("unknown command 'fly'", r.error)
    r = a:call({ cmd = "set", key = "k" }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.matches("'value'", r.error)
    r = a:call({ cmd = "set", key = "k", value = "v" }, DEADLINE_MS)
    assert.is_true(r.ok)
    assert.is_true(a:alive())
  end)

  it("stops an agent on the stop command and when its stdin closes", function()
    start_cluster()
    local r = agents[1]:call({ cmd = "stop" }, DEADLINE_MS)
    assert.is_true(r.ok)
    agents[2].proc:close_stdin()
    assert.truthy(process.eventually(function()
      return not agents[1]:alive() and not agents[2]:alive()
    end, DEADLINE_MS), "the agents did not exit")
    assert.equal(0, agents[1].exit_code)
    assert.equal(0, agents[2].exit_code)
    assert.is_true(agents[3]:alive())
  end)
end)

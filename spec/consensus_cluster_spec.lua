-- A consensus check on a live cluster of `rumor agent` processes on loopback. Each
-- agent's script registers a check on "version" and reports every change through
-- agent.emit; the spec drives `set` commands and reads the reports back. Every wait
-- polls for an outcome with a deadline; the processes are reaped whatever happens.
local process = require("rumor.process")

local DEADLINE_MS = 30000
local INTERVAL_MS = 100   -- short rounds so the spec runs quickly
local EXPIRATION_MS = 5000   -- far above a round, so no member is blocked by a slow CI box
local NODES = 3

local support = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }
local call, on_every = support.call, support.on_every

local SCRIPT = [[
return function(node, agent)
  local check = node:register_consensus_check("version")
  check:on_change(function(reached, value)
    agent.emit{ event = "consensus", reached = reached, value = value }
  end)
end
]]

describe("a consensus check on a live cluster", function()
  local procs, script_path

  before_each(function()
    procs = process.group()
    script_path = os.tmpname()
    local f = assert(io.open(script_path, "wb"))
    f:write(SCRIPT)
    f:close()
  end)

  after_each(function()
    local all_reaped = procs:close()
    os.remove(script_path)
    assert.is_true(all_reaped, "some agent processes did not exit")
    for _, a in ipairs(procs.agents) do assert.equal(0, a.exit_code, a:describe()) end
  end)

  local function reports(a)
    return a:find_all(function(e) return e.event == "consensus" end)
  end

  -- Waits until every agent has made its n-th consensus report.
  local function each_reported(agents, n, what)
    on_every(agents, what, function(a) return #reports(a) >= n end)
  end

  it("is reached everywhere, lost when one member changes its value, reached when it changes back", function()
    local agents = {}
    local seed
    for i = 1, NODES do
      agents[i] = procs:agent{ id = "c" .. i, cluster = "spec-consensus-cluster",
        seeds = seed and { seed } or {}, gossip_interval_ms = INTERVAL_MS,
        heartbeat_expiration_ms = EXPIRATION_MS, script = script_path }
      seed = seed or agents[1]:wait_started(DEADLINE_MS).address
    end
    for _, a in ipairs(agents) do a:wait_started(DEADLINE_MS) end
    -- Before anyone writes, every agent must count all three as live: otherwise the
    -- first writer alone would be "everyone" and agree with itself.
    support.joined(agents)

    for _, a in ipairs(agents) do call(a, { cmd = "set", key = "version", value = "v1" }) end
    each_reported(agents, 1, "reached on v1")
    call(agents[2], { cmd = "set", key = "version", value = "v2" })
    each_reported(agents, 2, "lost after c2 set v2")
    call(agents[2], { cmd = "set", key = "version", value = "v1" })
    each_reported(agents, 3, "reached again after c2 set v1 back")

    for _, a in ipairs(agents) do
      local seen = {}
      for _, e in ipairs(reports(a)) do seen[#seen + 1] = { reached = e.reached, value = e.value } end
      assert.same({
        { reached = true, value = "v1" },
        { reached = false },
        { reached = true, value = "v1" },
      }, seen, a.name)
    end
  end)
end)

-- Fault injection (node:set_fault, the agent's fault and heal commands) on a live
-- cluster of `rumor agent` processes on loopback: a 2|2 partition made with cuts on both
-- sides keeps each side's writes on its side, long enough for each side to block the
-- other, and after heal every write is everywhere; 30 % loss on every link still
-- converges. Plus node:set_fault's argument checks, in process. Nothing asserts a speed:
-- every wait polls for an outcome with a generous deadline. The processes are reaped in
-- teardown whatever happens.
local process = require("rumor.process")
local rumor = require("rumor")

local DEADLINE_MS = 30000
local INTERVAL_MS = 100
local EXPIRATION_MS = 1000

local support = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }
local call, on_every = support.call, support.on_every

describe("fault injection on a live cluster", function()
  local procs, agents

  before_each(function()
    procs = process.group()
    agents = {}
  end)

  after_each(function()
    local all_reaped = procs:close()
    assert.is_true(all_reaped, "some agent processes did not exit")
    for _, a in ipairs(procs.agents) do
      assert.equal(0, a.exit_code, a:describe())
    end
  end)

  local function start_cluster(n)
    local seed
    for i = 1, n do
      agents[i] = procs:agent{ id = "n" .. i, cluster = "spec-faults", seeds = { seed },
                               gossip_interval_ms = INTERVAL_MS,
                               heartbeat_expiration_ms = EXPIRATION_MS }
      if i == 1 then seed = agents[1]:wait_started(DEADLINE_MS).address end
    end
    for _, a in ipairs(agents) do a:wait_started(DEADLINE_MS) end
    support.joined(agents)
  end

  local function value_of(a, key, member)
    return call(a, { cmd = "get", key = key }).values[member]
  end

  local function pause(ms)
    process.eventually(function() return false end, ms)
  end

  it("partitions 2|2 with cuts on both sides, and heals with nothing lost", function()
    start_cluster(4)
    local left, right = { agents[1], agents[2] }, { agents[3], agents[4] }
    for _, a in ipairs(left) do
      for _, b in ipairs(right) do
        call(a, { cmd = "fault", peer = b.address, cut = true })
        call(b, { cmd = "fault", peer = a.address, cut = true })
      end
    end
    call(agents[1], { cmd = "set", key = "west", value = "L" })
    call(agents[3], { cmd = "set", key = "east", value = "R" })
    on_every(left, "west on the left", function(a) return value_of(a, "west", "n1") == "L" end)
    on_every(right, "east on the right", function(a) return value_of(a, "east", "n3") == "R" end)
    -- Long enough for each side to block the other as expired, as in a real partition.
    on_every(left, "the right blocked", function(a)
      local blocked = call(a, { cmd = "blocked" }).blocked
      table.sort(blocked)
      return blocked[1] == "n3" and blocked[2] == "n4"
    end)
    pause(5 * INTERVAL_MS)
    for _, a in ipairs(right) do assert.is_nil(value_of(a, "west", "n1"), a.name) end
    for _, a in ipairs(left) do assert.is_nil(value_of(a, "east", "n3"), a.name) end
    call(agents[2], { cmd = "set", key = "west2", value = "L2" })   -- a write mid-partition
    for _, a in ipairs(agents) do
      assert.is_true(call(a, { cmd = "metrics" }).metrics.fault_dropped > 0, a.name)
    end

    for _, a in ipairs(agents) do
      local r = call(a, { cmd = "heal" })
      assert.equal("heal", r.reply)
    end
    on_every(agents, "every write everywhere, every member alive", function(a)
      if value_of(a, "west", "n1") ~= "L" or value_of(a, "east", "n3") ~= "R"
        or value_of(a, "west2", "n2") ~= "L2" then
        return false
      end
      local members = call(a, { cmd = "members" }).members
      if #members ~= 4 then return false end
      for _, m in ipairs(members) do
        if m.status ~= "alive" then return false end
      end
      return true
    end)
  end)

  it("converges with 30 % loss on every link", function()
    start_cluster(4)
    for _, a in ipairs(agents) do call(a, { cmd = "fault", loss = 0.3 }) end
    for i, a in ipairs(agents) do call(a, { cmd = "set", key = "k" .. i, value = "v" .. i }) end
    on_every(agents, "every write everywhere", function(a)
      for i = 1, #agents do
        if value_of(a, "k" .. i, "n" .. i) ~= "v" .. i then return false end
      end
      return true
    end)
    local dropped = 0
    for _, a in ipairs(agents) do
      dropped = dropped + call(a, { cmd = "metrics" }).metrics.fault_dropped
    end
    assert.is_true(dropped > 0)
  end)

  it("answers a bad fault command with an error naming the field", function()
    start_cluster(1)
    local a = agents[1]
    local r = a:call({ cmd = "fault", loss = 1.5 }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.matches("field 'loss' must be between 0 and 1", r.error, 1, true)
    r = a:call({ cmd = "fault", delay_ms = 60001 }, DEADLINE_MS)
    assert.matches("field 'delay_ms' must be between 0 and 60000", r.error, 1, true)
    r = a:call({ cmd = "fault", cut = "yes" }, DEADLINE_MS)
    assert.matches("field 'cut' must be a boolean", r.error, 1, true)
    r = a:call({ cmd = "fault", peer = "nowhere" }, DEADLINE_MS)
    assert.matches("field 'peer'", r.error, 1, true)
    r = a:call({ cmd = "fault", drop = 1 }, DEADLINE_MS)
    assert.matches("unknown field 'drop'", r.error, 1, true)
    r = a:call({ cmd = "heal", peer = "x" }, DEADLINE_MS)
    assert.matches("unknown field 'peer' (heal takes no fields)", r.error, 1, true)
    assert.is_true(call(a, { cmd = "fault" }).ok)   -- no fields: removes the default
  end)
end)

describe("node:set_fault", function()
  local node
  before_each(function() node = rumor.new{ id = "f", cluster = "spec-faults-api" } end)
  after_each(function() node:close() end)

  it("takes peer, loss, delay_ms and cut, and clear_faults removes them", function()
    assert.is_true(node:set_fault{ peer = "127.0.0.1:7001", loss = 0.2, delay_ms = 50, cut = true })
    assert.is_true(node:set_fault{ loss = 1 })
    assert.is_true(node:set_fault{ peer = "[::1]:7001", delay_ms = 60000 })
    assert.is_true(node:clear_faults())
    local m = node:metrics()
    assert.equal(0, m.fault_dropped)
    assert.equal(0, m.fault_delayed)
    assert.equal(0, m.fault_overflow)
  end)

  it("raises naming the option", function()
    local function err(opts)
      local ok, e = pcall(node.set_fault, node, opts)
      assert.is_false(ok)
      return e
    end
    assert.matches("argument 'opts' must be a table", err(nil), 1, true)
    assert.matches("unknown option 'lost'", err{ lost = 0.1 }, 1, true)
    assert.matches("option 'loss' must be a number, got string", err{ loss = "0.1" }, 1, true)
    assert.matches("option 'loss' must be between 0 and 1", err{ loss = -0.1 }, 1, true)
    assert.matches("option 'loss' must be between 0 and 1", err{ loss = 0 / 0 }, 1, true)
    assert.matches("option 'delay_ms' must be an integer", err{ delay_ms = 2.5 }, 1, true)
    assert.matches("option 'delay_ms' must be between 0 and 60000", err{ delay_ms = -1 }, 1, true)
    assert.matches("option 'cut' must be a boolean", err{ cut = 1 }, 1, true)
    assert.matches("option 'peer' must be a string", err{ peer = 7001 }, 1, true)
    assert.matches("option 'peer' is not an address", err{ peer = "7001" }, 1, true)
  end)

  it("raises at the caller's line, and on a closed node", function()
    local ok, e = pcall(function() node:set_fault{ loss = 2 } end)
    assert.is_false(ok)
    assert.matches("faults_spec.lua:%d+: rumor: set_fault:", e)
    node:close()
    assert.has_error(function() node:set_fault{} end)
    assert.has_error(function() node:clear_faults() end)
  end)
end)

-- Liveness on a live cluster of `rumor agent` processes on loopback: failure detection
-- (both detectors) of a killed node, a stopped node that is blocked and rejoins under a
-- new generation by itself (or stays out with auto_rejoin = false), graceful leave,
-- a Lua block policy loaded from a script file, topology from outside, and the agent's
-- liveness commands. Timings are short so the specs run quickly, but nothing asserts
-- a speed: every wait polls for an outcome with a generous deadline. The processes are
-- reaped in teardown whatever happens, stopped ones included.
local process = require("rumor.process")

local DEADLINE_MS = 30000
local INTERVAL_MS = 100
local EXPIRATION_MS = 1000
local NODES = 4

local support = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }
local call, on_every, member = support.call, support.on_every, support.member

describe("liveness on a live cluster", function()
  local procs, agents, files, seed

  before_each(function()
    procs = process.group()
    agents = {}
    files = {}
    seed = nil
  end)

  after_each(function()
    for _, a in ipairs(procs.agents) do a:kill("SIGCONT") end -- a stopped one must hear "stop"
    local all_reaped = procs:close()
    for _, path in ipairs(files) do os.remove(path) end
    assert.is_true(all_reaped, "some agent processes did not exit")
    for _, a in ipairs(procs.agents) do
      if not a.killed then
        assert.equal(a.expected_exit or 0, a.exit_code, a:describe())
      end
    end
  end)

  local function write_file(text)
    local path = os.tmpname()
    files[#files + 1] = path
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return path
  end

  local function cfg(id, extra)
    local c = { id = id, cluster = "spec-liveness", seeds = seed and { seed } or {},
                gossip_interval_ms = INTERVAL_MS, heartbeat_expiration_ms = EXPIRATION_MS }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end

  local function blocked_ids(a)
    local ids = call(a, { cmd = "blocked" }).blocked
    table.sort(ids)
    return ids
  end

  -- The member events an agent printed about id, of one type (any when nil).
  local function member_events(a, type_, id)
    return a:find_all(function(e)
      return e.event == "member" and (type_ == nil or e.type == type_) and (id == nil or e.member == id)
    end)
  end

  local function member_event(a, type_, id, pred)
    for _, e in ipairs(member_events(a, type_, id)) do
      if pred == nil or pred(e) then return e end
    end
  end

  local function except(list, victim)
    local rest = {}
    for _, a in ipairs(list) do
      if a ~= victim then rest[#rest + 1] = a end
    end
    return rest
  end

  -- n agents joined through n1; returns once each has seen every other's heartbeat
  -- (an "alive" member event), so all are live members of each other.
  local function start_cluster(n, extra)
    agents[1] = procs:agent(cfg("n1", extra))
    seed = agents[1]:wait_started(DEADLINE_MS).address
    for i = 2, n do agents[i] = procs:agent(cfg("n" .. i, extra)) end
    for _, a in ipairs(agents) do a:wait_started(DEADLINE_MS) end
    support.joined(agents)
  end

  -- SIGKILLs the last agent; every other one must block it as expired, and nothing else.
  local function killed_node_is_expired()
    local victim = agents[#agents]
    local others = except(agents, victim)
    victim.killed = true
    victim:kill("SIGKILL")
    on_every(others, "a blocked event for " .. victim.name, function(a)
      return member_event(a, "blocked", victim.name)
    end)
    for _, a in ipairs(others) do
      local ev = member_event(a, "blocked", victim.name)
      assert.equal("expired", ev.reason)
      assert.equal(victim.generation, ev.generation)
      assert.is_number(ev.t_ms)
      local m = member(a, victim.name)
      assert.equal("blocked", m.status)
      assert.equal("expired", m.block_reason)
      assert.same({ victim.name }, blocked_ids(a))
      assert.equal(0, #member_events(a, "blocked", nil) - #member_events(a, "blocked", victim.name),
        a.name .. " blocked a live member")
    end
    return victim, others
  end

  it("blocks a SIGKILLed node as expired on every other node", function()
    start_cluster(NODES)
    local _, others = killed_node_is_expired()
    -- the survivors still see each other alive
    for _, a in ipairs(others) do
      for _, b in ipairs(others) do
        if b ~= a then assert.equal("alive", member(a, b.name).status) end
      end
    end
  end)

  it("blocks a SIGKILLed node as expired with the phi-accrual detector too", function()
    start_cluster(NODES, { failure_detector = "phi", phi_threshold = 8 })
    local victim, others = killed_node_is_expired()
    for _, a in ipairs(others) do
      assert.is_number(member(a, victim.name).phi)
    end
  end)

  it("blocks a SIGSTOPped node, which rejoins under a new generation after SIGCONT", function()
    start_cluster(NODES)
    local victim = agents[#agents]
    local others = except(agents, victim)
    local old = victim.generation
    assert.is_true(victim.proc:kill("SIGSTOP"))
    on_every(others, "a blocked event for the stopped " .. victim.name, function(a)
      return member_event(a, "blocked", victim.name)
    end)
    for _, a in ipairs(others) do
      local ev = member_event(a, "blocked", victim.name)
      assert.equal("expired", ev.reason)
      assert.equal(old, ev.generation)
    end

    assert.is_true(victim.proc:kill("SIGCONT"))
    local rejoined = victim:wait_for(function(e)
      return e.event == "member" and e.type == "rejoined"
    end, DEADLINE_MS, "rejoined member event")
    assert.equal(victim.name, rejoined.member)
    assert.is_true(rejoined.generation > old)
    assert.equal("expired", rejoined.reason)

    on_every(others, victim.name .. " alive again under its new generation", function(a)
      local m = member(a, victim.name)
      return m and m.status == "alive" and m.generation == rejoined.generation
        and member_event(a, "alive", victim.name, function(e) return e.generation == rejoined.generation end)
    end)
    for _, a in ipairs(others) do
      assert.same({}, blocked_ids(a))
    end
    -- the same process all along: never restarted, and it sees everyone alive again
    assert.is_true(victim:alive())
    assert.equal(1, #victim:find_all(function(e) return e.event == "started" end))
    on_every({ victim }, victim.name .. " sees every member alive", function(a)
      for _, b in ipairs(others) do
        local m = member(a, b.name)
        if not (m and m.status == "alive") then return false end
      end
      local self = member(a, victim.name)
      return self.self == true and self.generation == rejoined.generation
    end)
  end)

  it("keeps a SIGSTOPped node blocked after SIGCONT when auto_rejoin is false", function()
    start_cluster(NODES, { auto_rejoin = false })
    local victim = agents[#agents]
    local others = except(agents, victim)
    local old = victim.generation
    assert.is_true(victim.proc:kill("SIGSTOP"))
    on_every(others, "a blocked event for the stopped " .. victim.name, function(a)
      return member_event(a, "blocked", victim.name)
    end)
    assert.is_true(victim.proc:kill("SIGCONT"))
    -- It runs again and learns that it was blocked (the others answer it with
    -- rejections); then it goes on for a few more rounds without rejoining.
    local rounds
    on_every({ victim }, victim.name .. " told of its block", function(a)
      local m = call(a, { cmd = "metrics" }).metrics
      rounds = m.rounds
      return m.rejects_received >= 1
    end)
    on_every({ victim }, victim.name .. " running on", function(a)
      return call(a, { cmd = "metrics" }).metrics.rounds >= rounds + 10
    end)
    assert.is_nil(member_event(victim, "rejoined"))
    assert.equal(0, call(victim, { cmd = "metrics" }).metrics.rejoins)
    assert.equal(old, member(victim, victim.name).generation)
    for _, a in ipairs(others) do
      local m = member(a, victim.name)
      assert.equal("blocked", m.status)
      assert.equal(old, m.generation)
      assert.same({ victim.name }, blocked_ids(a))
    end
  end)

  it("reports a node that leaves as left on every other node, and its agent exits", function()
    start_cluster(NODES)
    local leaver = agents[#agents]
    local others = except(agents, leaver)
    local r = call(leaver, { cmd = "leave", timeout_ms = 5000 })
    assert.equal("leave", r.reply)
    on_every({ leaver }, leaver.name .. " exited", function(a) return not a:alive() end)
    assert.equal(0, leaver.exit_code)
    local last = leaver.events[#leaver.events]
    assert.equal("stopped", last.event)

    on_every(others, "a left event for " .. leaver.name, function(a)
      return member_event(a, "left", leaver.name)
    end)
    for _, a in ipairs(others) do
      assert.equal("left", member_event(a, "left", leaver.name).reason)
      assert.is_nil(member_event(a, "blocked", leaver.name))
      local m = member(a, leaver.name)
      assert.equal("left", m.status)
      assert.equal("left", m.block_reason)
      -- and only the leaver is out
      for _, b in ipairs(others) do
        if b ~= a then assert.equal("alive", member(a, b.name).status) end
      end
    end
  end)

  it("runs a block policy from a script file: blocks the member whose stats say draining", function()
    local policy = write_file([[
      return function(node)
        node:set_block_policy(function(id, info)
          return info.stats ~= nil and info.stats.draining == 1
        end)
      end
    ]])
    start_cluster(NODES, { script = policy })
    local drainer = agents[2]
    local others = except(agents, drainer)
    -- the stats travel in heartbeats; a counter that is not draining == 1 blocks nobody
    call(agents[3], { cmd = "set_stats", stats = { draining = 0, actors = 7 } })
    on_every(except(agents, agents[3]), "n3's stats", function(a)
      local m = member(a, "n3")
      return m and m.stats and m.stats.actors == 7
    end)
    call(drainer, { cmd = "set_stats", stats = { draining = 1 } })

    on_every(others, "a blocked event for " .. drainer.name, function(a)
      return member_event(a, "blocked", drainer.name)
    end)
    -- Let the policy run on the others for a few more heartbeats of theirs.
    local seen = {}
    for _, a in ipairs(others) do
      seen[a] = {}
      for _, b in ipairs(others) do
        if b ~= a then seen[a][b] = member(a, b.name).heartbeats end
      end
    end
    on_every(others, "more heartbeats of the others", function(a)
      for b, count in pairs(seen[a]) do
        if member(a, b.name).heartbeats < count + 5 then return false end
      end
      return true
    end)

    for _, a in ipairs(others) do
      assert.equal("policy", member_event(a, "blocked", drainer.name).reason)
      local m = member(a, drainer.name)
      assert.equal("blocked", m.status)
      assert.equal("policy", m.block_reason)
      assert.same({ drainer.name }, blocked_ids(a))
      for _, e in ipairs(member_events(a, "blocked", nil)) do
        assert.equal(drainer.name, e.member, a.name .. " blocked " .. e.member)
      end
    end
    -- nobody, the drainer included, blocked anyone else by policy
    for _, a in ipairs(agents) do
      for _, e in ipairs(member_events(a, "blocked", nil)) do
        assert.is_false(e.reason == "policy" and e.member ~= drainer.name,
          a.name .. " blocked " .. e.member .. " by policy")
      end
    end
  end)

  it("takes topology from outside: remove_peer blocks, set_topology lifts it, add_peer joins", function()
    start_cluster(3)
    local a1 = agents[1]
    call(a1, { cmd = "remove_peer", member = "n3" })
    local ev = a1:wait_for(function(e)
      return e.event == "member" and e.type == "blocked" and e.member == "n3"
    end, DEADLINE_MS, "blocked event for n3")
    assert.equal("topology", ev.reason)
    assert.equal("topology", member(a1, "n3").block_reason)
    assert.same({ "n3" }, blocked_ids(a1))
    local why = call(a1, { cmd = "why", member = "n3" }).why
    assert.equal("topology", why.reason)
    assert.equal("removed by remove_peer", why.detail)
    assert.matches("^blocked as topology: removed by remove_peer", why.text)
    local unknown = a1:call({ cmd = "why", member = "nobody" }, DEADLINE_MS)
    assert.is_false(unknown.ok)
    assert.equal("unknown member 'nobody'", unknown.error)

    local peers = {}
    for _, a in ipairs(agents) do peers[#peers + 1] = { id = a.name, address = a.address } end
    call(a1, { cmd = "set_topology", peers = peers })
    on_every({ a1 }, "n3 alive again on n1", function(a)
      return member(a, "n3").status == "alive" and #blocked_ids(a) == 0
    end)

    -- a node started with no seeds joins through add_peer
    local lone = procs:agent(cfg("n4", { seeds = {} }))
    lone:wait_started(DEADLINE_MS)
    call(lone, { cmd = "add_peer", address = a1.address })
    agents[#agents + 1] = lone
    on_every(agents, "n4 and the others alive to each other", function(a)
      for _, b in ipairs(agents) do
        if b ~= a then
          local m = member(a, b.name)
          if not (m and m.status == "alive" and m.heartbeats >= 1) then return false end
        end
      end
      return true
    end)
  end)

  it("answers bad liveness commands with errors that name the field, and keeps running", function()
    agents[1] = procs:agent(cfg("solo"))
    local a = agents[1]
    a:wait_started(DEADLINE_MS)
    local function refused(cmd, pattern)
      local r = a:call(cmd, DEADLINE_MS)
      assert.is_false(r.ok, cmd.cmd .. " was accepted")
      assert.matches(pattern, r.error)
    end
    refused({ cmd = "set_stats" }, "field 'stats' must be an object")
    refused({ cmd = "set_stats", stats = { draining = "yes" } }, "counter 'draining' must be an integer")
    refused({ cmd = "set_stats", stats = { draining = 1.5 } }, "counter 'draining' must be an integer")
    refused({ cmd = "set_stats", stats = { 1, 2 } }, "field 'stats' must be an object")
    refused({ cmd = "set_topology", peers = { { id = "x", adress = "127.0.0.1:1" } } },
      "unknown field 'adress'")
    refused({ cmd = "set_topology", peers = { { address = "127.0.0.1:1" } } }, "entry 1 needs an 'id'")
    refused({ cmd = "set_topology", peers = { x = 1 } }, "field 'peers' must be an array")
    refused({ cmd = "add_peer" }, "field 'address' must be a string")
    refused({ cmd = "add_peer", address = "nowhere" }, "address")
    refused({ cmd = "remove_peer", member = 5 }, "field 'member' must be a string")
    refused({ cmd = "blocked", all = true }, "unknown field 'all' %(blocked takes no fields%)")
    refused({ cmd = "set", key = "k", value = "v", ttl = 5 }, "unknown field 'ttl' %(set takes key, value%)")
    refused({ cmd = "leave", timeout_ms = "soon" }, "timeout_ms")
    assert.is_true(a:alive())
    assert.same({}, call(a, { cmd = "blocked" }).blocked)
    call(a, { cmd = "set_stats", stats = { draining = 0 } })
    on_every({ a }, "its own heartbeat carrying the stats", function(x)
      local self = member(x, "solo")
      return self.self == true and self.stats and self.stats.draining == 0
    end)
    assert.is_true(a:alive())
  end)

  it("runs a script's function with the node before it starts, and still prints started first", function()
    local script = write_file([[
      return function(node)
        assert(node:id() == "scripted")
        node:set_state("boot", "from the script")
      end
    ]])
    local a = procs:agent(cfg("scripted", { script = script }))
    a:wait_started(DEADLINE_MS)
    assert.equal("started", a.events[1].event)
    local ev = a:wait_for(function(e) return e.event == "update" and e.key == "boot" end,
      DEADLINE_MS, "update of boot")
    assert.equal("from the script", ev.value)
    assert.same({ scripted = "from the script" }, call(a, { cmd = "get", key = "boot" }).values)
  end)

  it("refuses a script that cannot be loaded or returns no function, naming it", function()
    local cases = {
      { script = "/nonexistent/policy.lua", err = "cannot load script: .*/nonexistent/policy.lua" },
      { script = write_file("return 42\n"), err = "must return a function%(node%), it returned an integer" },
      { script = write_file("return function(node) error('no policy today') end\n"),
        err = "failed: .*no policy today" },
      { script = 7, err = "field 'script' must be the path of a Lua file" },
    }
    for i, case in ipairs(cases) do
      local a = procs:agent(cfg("bad" .. i, { script = case.script }))
      a.expected_exit = 1
      on_every({ a }, "bad script agent exits", function(x) return not x:alive() end)
      assert.equal(1, a.exit_code)
      assert.matches(case.err, table.concat(a.stderr, "\n"))
      assert.is_nil(a:find(function(e) return e.event == "started" end))
    end
  end)
end)

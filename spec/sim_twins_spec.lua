-- Simulated twins of the live-process specs that are slow or flaky: liveness_spec (a
-- killed node blocked as expired by either detector; a stalled node blocked, then back
-- under a new generation, or kept out with auto_rejoin = false; a leaver reported left),
-- faults_spec (a 2|2 partition healed with nothing lost; 30 % loss) and scenarios_spec
-- (two hundred nodes on one write; churn with kills, restarts and additions while
-- writes go on). Each twin asserts what its live spec asserts, through the same Node
-- API, in a rumor.sim world: virtual time and fixed seeds, so a run takes milliseconds
-- and is the same run every time (two twins check it trace for trace).
--
-- A kill is node:close(): the node sends nothing more. A stall (SIGSTOP, then SIGCONT)
-- is a partition that isolates the node, then heals: like a stopped process it is
-- silent to the others and hears nothing of them meanwhile. Unlike one it goes on with
-- its rounds, so it blocks the others too (a stopped process does not count the time it
-- was stopped against anyone); the live specs assert nothing about that, nor do these.
-- A restart is world:restart(id): the same id, a new address and a new generation.
--
-- Times below are virtual ms; nothing here reads a wall clock.
local rumor = require("rumor")

local INTERVAL_MS = 100
local EXPIRATION_MS = 1000
local CONFIG = { gossip_interval_ms = INTERVAL_MS, heartbeat_expiration_ms = EXPIRATION_MS,
                 log_level = "error" }
local LIMIT_MS = 60000   -- a bound on every wait; a passing run is far below it

-- CONFIG with extra's fields over it.
local function config(extra)
  local c = {}
  for k, v in pairs(CONFIG) do c[k] = v end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- Records node's member events into events[node], stamped with the world's clock.
local function record(w, events, node)
  local list = {}
  events[node] = list
  node:on_member(function(e)
    list[#list + 1] = { t = w:now(), type = e.type, member = e.member,
                        generation = e.generation, reason = e.reason }
  end)
end

-- A world of n nodes with CONFIG and extra over it; events[node] are each node's
-- member events (see record).
local function world(seed, n, extra)
  local w = rumor.sim{ seed = seed, nodes = n, config = config(extra) }
  local events = {}
  for _, node in ipairs(w.nodes) do record(w, events, node) end
  return w, events
end

-- Runs w until pred() holds; fails naming what did not happen.
local function settle(w, what, pred, limit_ms)
  local ok = w:run_until(pred, limit_ms or LIMIT_MS)
  assert(ok, what .. ": not within " .. (limit_ms or LIMIT_MS) .. " virtual ms")
end

-- The first of a node's recorded member events of that type about id matching pred.
local function member_event(list, type_, id, pred)
  for _, e in ipairs(list) do
    if e.type == type_ and (id == nil or e.member == id) and (pred == nil or pred(e)) then
      return e
    end
  end
end

local function count_events(list, type_)
  local n = 0
  for _, e in ipairs(list) do
    if e.type == type_ then n = n + 1 end
  end
  return n
end

-- node's record of member id (nil when it knows none).
local function member(node, id)
  for _, m in ipairs(node:members()) do
    if m.id == id then return m end
  end
end

local function except(list, victim)
  local rest = {}
  for _, x in ipairs(list) do
    if x ~= victim then rest[#rest + 1] = x end
  end
  return rest
end

-- Does every node of the list see every other one alive under its current generation?
local function joined(nodes)
  for _, a in ipairs(nodes) do
    for _, b in ipairs(nodes) do
      if a ~= b then
        local m = member(a, b:id())
        if not (m and m.status == "alive" and m.generation == b:generation()) then
          return false
        end
      end
    end
  end
  return true
end

-- Does every node of the list have an event of that type about id?
local function on_every(nodes, events, type_, id)
  return function()
    for _, a in ipairs(nodes) do
      if not member_event(events[a], type_, id) then return false end
    end
    return true
  end
end

-- node's values of key by member (empty when none).
local function values(node, key)
  return node:get_state(key) or {}
end

describe("simulated twin of liveness_spec", function()
  -- Four nodes joined; kills the last one, n4. Every other must block it as expired,
  -- and nothing else. Returns the world, the events, the other nodes and the time of
  -- the kill.
  local function killed_node_is_expired(seed, extra)
    local w, events = world(seed, 4, extra)
    settle(w, "four nodes joined", function() return joined(w.nodes) end)
    local victim = w:node(4)
    local others = except(w.nodes, victim)
    local generation, killed_at = victim:generation(), w:now()
    victim:close()
    settle(w, "a blocked event for n4 on every other node", on_every(others, events, "blocked", "n4"))
    for _, a in ipairs(others) do
      local ev = member_event(events[a], "blocked", "n4")
      assert.equal("expired", ev.reason)
      assert.equal(generation, ev.generation)
      local m = member(a, "n4")
      assert.equal("blocked", m.status)
      assert.equal("expired", m.block_reason)
      assert.same({ "n4" }, a:get_blocked_members())
      assert.equal(1, count_events(events[a], "blocked"), a:id() .. " blocked a live member")
    end
    return w, events, others, killed_at
  end

  it("blocks a killed node as expired on every other node, after the expiration", function()
    local w, events, others, killed_at = killed_node_is_expired(11)
    for _, a in ipairs(others) do
      -- not before heartbeat_expiration_ms of silence, counted from the last heartbeat
      -- heard before the kill (they come every other round: a few rounds earlier at most)
      assert.is_true(member_event(events[a], "blocked", "n4").t >= killed_at + EXPIRATION_MS
        - 5 * INTERVAL_MS)
      for _, b in ipairs(others) do   -- the survivors still see each other alive
        if b ~= a then assert.equal("alive", member(a, b:id()).status) end
      end
    end
    w:close()
  end)

  it("blocks a killed node as expired with the phi-accrual detector too; a higher threshold waits longer", function()
    local blocked_after = {}
    for _, threshold in ipairs({ 8, 16 }) do
      local w, events, others, killed_at =
        killed_node_is_expired(12, { failure_detector = "phi", phi_threshold = threshold })
      local last = 0
      for _, a in ipairs(others) do
        assert.is_number(member(a, "n4").phi)
        last = math.max(last, member_event(events[a], "blocked", "n4").t - killed_at)
      end
      blocked_after[threshold] = last
      w:close()
    end
    assert.is_true(blocked_after[16] > blocked_after[8],
      ("blocked after %d ms at phi 8, %d ms at phi 16"):format(blocked_after[8], blocked_after[16]))
  end)

  -- Four nodes joined; stalls the last one (isolated, silent and deaf) until every other
  -- has blocked it, then resumes it. Returns the world, the events, the victim, the
  -- others and the victim's generation before the stall.
  local function stall(seed, extra)
    local w, events = world(seed, 4, extra)
    settle(w, "four nodes joined", function() return joined(w.nodes) end)
    local victim = w:node(4)
    local others = except(w.nodes, victim)
    local old = victim:generation()
    w:partition({ victim })
    settle(w, "a blocked event for the stalled n4", on_every(others, events, "blocked", "n4"))
    for _, a in ipairs(others) do
      local ev = member_event(events[a], "blocked", "n4")
      assert.equal("expired", ev.reason)
      assert.equal(old, ev.generation)
    end
    w:heal()
    return w, events, victim, others, old
  end

  -- The stall twin to its end; returns the world's trace.
  local function stall_rejoins(seed)
    local w, events, victim, others, old = stall(seed)
    settle(w, "n4's rejoined event", function() return member_event(events[victim], "rejoined") end)
    local rejoined = member_event(events[victim], "rejoined")
    assert.equal("n4", rejoined.member)
    assert.is_true(rejoined.generation > old)
    assert.equal("expired", rejoined.reason)

    settle(w, "n4 alive again under its new generation", function()
      for _, a in ipairs(others) do
        local m = member(a, "n4")
        if not (m and m.status == "alive" and m.generation == rejoined.generation
                and member_event(events[a], "alive", "n4",
                                 function(e) return e.generation == rejoined.generation end)) then
          return false
        end
      end
      return true
    end)
    for _, a in ipairs(others) do
      assert.same({}, a:get_blocked_members())
    end
    -- the same node all along, never restarted, and it sees everyone alive again
    assert.equal(victim, w:node("n4"))
    assert.equal(4, w:count())
    assert.equal(rejoined.generation, victim:generation())
    settle(w, "n4 sees every member alive", function()
      for _, b in ipairs(others) do
        local m = member(victim, b:id())
        if not (m and m.status == "alive") then return false end
      end
      local self = member(victim, "n4")
      return self.self == true and self.generation == rejoined.generation
    end)
    local trace = w:trace()
    w:close()
    return trace
  end

  it("blocks a stalled node, which rejoins under a new generation once it runs again", function()
    stall_rejoins(21)
  end)

  it("replays the stall from its seed: the same trace twice, another from another seed", function()
    local a, b, c = stall_rejoins(21), stall_rejoins(21), stall_rejoins(22)
    assert.equal(a, b)
    assert.not_equal(a, c)
  end)

  it("keeps a stalled node blocked after it runs again when auto_rejoin is false", function()
    local w, events, victim, others, old = stall(23, { auto_rejoin = false })
    -- It runs again and learns that it was blocked (the others answer it with
    -- rejections); then it goes on for a few more rounds without rejoining.
    settle(w, "n4 told of its block", function() return victim:metrics().rejects_received >= 1 end)
    local rounds = victim:metrics().rounds
    settle(w, "n4 running on", function() return victim:metrics().rounds >= rounds + 10 end)
    assert.is_nil(member_event(events[victim], "rejoined"))
    assert.equal(0, victim:metrics().rejoins)
    assert.equal(old, victim:generation())
    assert.equal(old, member(victim, "n4").generation)
    for _, a in ipairs(others) do
      local m = member(a, "n4")
      assert.equal("blocked", m.status)
      assert.equal(old, m.generation)
      assert.same({ "n4" }, a:get_blocked_members())
    end
    w:close()
  end)

  it("reports a node that leaves as left on every other node, and never as expired", function()
    local w, events = world(24, 4)
    settle(w, "four nodes joined", function() return joined(w.nodes) end)
    local leaver = w:node(4)
    local others = except(w.nodes, leaver)
    assert.is_true(leaver:leave{ timeout_ms = 5000 })
    settle(w, "a left event for n4", on_every(others, events, "left", "n4"))
    -- long past the expiration: a member that left is not taken for a dead one
    w:run(3 * EXPIRATION_MS)
    for _, a in ipairs(others) do
      assert.equal("left", member_event(events[a], "left", "n4").reason)
      assert.is_nil(member_event(events[a], "blocked", "n4"))
      local m = member(a, "n4")
      assert.equal("left", m.status)
      assert.equal("left", m.block_reason)
      -- and only the leaver is out
      for _, b in ipairs(others) do
        if b ~= a then assert.equal("alive", member(a, b:id()).status) end
      end
    end
    w:close()
  end)
end)

describe("simulated twin of faults_spec", function()
  it("partitions 2|2, and heals with nothing lost", function()
    local w = world(31, 4)
    settle(w, "four nodes joined", function() return joined(w.nodes) end)
    local left, right = { w:node(1), w:node(2) }, { w:node(3), w:node(4) }
    w:partition(left, right)
    w:node(1):set_state("west", "L")
    w:node(3):set_state("east", "R")
    -- long enough for each side to block the other as expired, as in a real partition
    settle(w, "west on the left, east on the right, each side blocking the other", function()
      for _, a in ipairs(left) do
        if values(a, "west").n1 ~= "L" or table.concat(a:get_blocked_members(), ",") ~= "n3,n4" then
          return false
        end
      end
      for _, a in ipairs(right) do
        if values(a, "east").n3 ~= "R" or table.concat(a:get_blocked_members(), ",") ~= "n1,n2" then
          return false
        end
      end
      return true
    end)
    w:run(5 * INTERVAL_MS)
    for _, a in ipairs(right) do assert.is_nil(values(a, "west").n1, a:id()) end
    for _, a in ipairs(left) do assert.is_nil(values(a, "east").n3, a:id()) end
    w:node(2):set_state("west2", "L2")   -- a write mid-partition
    w:run(5 * INTERVAL_MS)
    for _, a in ipairs(right) do assert.is_nil(values(a, "west2").n2, a:id()) end
    assert.is_true(w:stats().cut > 0)

    w:heal()
    settle(w, "every write everywhere, every member alive", function()
      for _, a in ipairs(w.nodes) do
        if values(a, "west").n1 ~= "L" or values(a, "east").n3 ~= "R"
          or values(a, "west2").n2 ~= "L2" then
          return false
        end
        local members = a:members()
        if #members ~= 4 then return false end
        for _, m in ipairs(members) do
          if m.status ~= "alive" then return false end
        end
      end
      return true
    end)
    w:close()
  end)

  it("reports each member blocked once per generation across a partition and its heal", function()
    -- Rejoining after the heal, a node re-adopts the stale verdicts of its own side
    -- about the other side: those members stay blocked, and are not reported again.
    local w = rumor.sim{ seed = 31, nodes = 4, config = config(), converged = false }
    local seen, twice, blocked = {}, {}, 0
    for _, n in ipairs(w.nodes) do
      n:on_member(function(e)
        if e.type ~= "blocked" then return end
        local k = n:id() .. ">" .. e.member .. "@" .. e.generation
        if seen[k] then twice[#twice + 1] = k end
        seen[k], blocked = true, blocked + 1
      end)
    end
    w:run(1000)
    w:partition({ 1, 2 }, { 3, 4 })
    w:run(3000)
    w:heal()
    w:run(3000)
    assert.is_true(blocked >= 8)   -- each side blocked the other
    assert.same({}, twice)
    w:close()
  end)

  it("converges with 30 % loss on every link", function()
    local w = world(32, 4)
    settle(w, "four nodes joined", function() return joined(w.nodes) end)
    w:set_loss(0.3)
    for i, a in ipairs(w.nodes) do a:set_state("k" .. i, "v" .. i) end
    settle(w, "every write everywhere", function()
      for _, a in ipairs(w.nodes) do
        for i = 1, 4 do
          if values(a, "k" .. i)["n" .. i] ~= "v" .. i then return false end
        end
      end
      return true
    end)
    assert.is_true(w:stats().lost > 0)
    w:close()
  end)
end)

describe("simulated twin of scenarios_spec", function()
  it("two hundred nodes converge on one write", function()
    local N = 200
    local w = rumor.sim{ seed = 41, nodes = N, config = config() }
    local function all_alive()
      for _, a in ipairs(w.nodes) do
        if a:metrics().members.alive < N then return false end
      end
      return true
    end
    settle(w, "200 members alive on every node", all_alive)
    local heard = 0
    for _, a in ipairs(w.nodes) do
      a:on_update(function(u)
        if u.member == "n17" and u.key == "many" and not u["local"] then heard = heard + 1 end
      end)
    end
    w:node(17):set_state("many", "converged")
    settle(w, "the write on all 200", function()
      for _, a in ipairs(w.nodes) do
        if values(a, "many").n17 ~= "converged" then return false end
      end
      return true
    end)
    assert.equal(N - 1, heard)   -- once on each other node
    assert.is_true(all_alive())  -- and each still knows the 199 others alive
    w:close()
  end)

  -- Six nodes; a write every 20 ms on a running node in turn, to one of a few keys,
  -- while nodes are killed, restarted and added (the order of the live spec). Returns
  -- the world, the survivors (sorted by id) and what each survivor's current process
  -- wrote last per key: expected[key][id]. A killed node's writes go with it: its
  -- restart is a new generation, whose state replaces the old one.
  local KEYS = 12
  local WRITE_EVERY_MS = 20
  local function churn(seed)
    local w = world(seed, 6)
    settle(w, "six nodes joined", function() return joined(w.nodes) end)
    local up = { "n1", "n2", "n3", "n4", "n5", "n6" }   -- ids of the running nodes
    local lives = { n1 = 1, n2 = 1, n3 = 1, n4 = 1, n5 = 1, n6 = 1 }
    local expected = {}
    for k = 1, KEYS do expected["churn/" .. k] = {} end
    local writing, turn, counter = true, 0, 0
    local function write_one()
      if not writing then return end
      w:at(w:now() + WRITE_EVERY_MS, write_one)
      turn = turn + 1
      local id = up[turn % #up + 1]
      counter = counter + 1
      local key = "churn/" .. (counter % KEYS + 1)
      local value = ("%s#%d:%d"):format(id, lives[id], counter)
      w:node(id):set_state(key, value)
      expected[key][id] = value
    end
    w:at(w:now(), write_one)

    local function running()
      local nodes = {}
      for i, id in ipairs(up) do nodes[i] = w:node(id) end
      return nodes
    end
    local function kill(id)
      w:node(id):close()
      up = except(up, id)
      for _, by_id in pairs(expected) do by_id[id] = nil end   -- gone with its process
    end
    local function start(node)
      lives[node:id()] = (lives[node:id()] or 0) + 1
      up[#up + 1] = node:id()
      table.sort(up)
      settle(w, node:id() .. " and the running nodes alive to each other",
        function() return joined(running()) end)
    end
    local function blocked_by_all(id)
      settle(w, id .. " blocked by every running node", function()
        for _, a in ipairs(running()) do
          local m = member(a, id)
          if not (m and m.status == "blocked") then return false end
        end
        return true
      end)
    end
    local function writes_go_on(n) w:run(n * WRITE_EVERY_MS) end

    writes_go_on(20)
    kill("n6")
    blocked_by_all("n6")
    writes_go_on(10)
    start(w:restart("n6"))
    writes_go_on(10)
    kill("n3")
    writes_go_on(10)
    local n7 = w:add{ id = "n7" }
    n7:start()
    start(n7)
    writes_go_on(10)
    kill("n1")   -- the first node, every early node's seed
    blocked_by_all("n1")
    start(w:restart("n3"))
    writes_go_on(10)
    kill("n2")
    writes_go_on(20)
    writing = false
    return w, running(), expected, counter
  end

  -- Every survivor holds each survivor's last write of every key, and nothing else from
  -- the survivors; and every survivor holds the same values of every key, the dead
  -- members' last entries included.
  local function survivors_end_equal(w, survivors, expected)
    local survivor = {}
    for _, a in ipairs(survivors) do survivor[a:id()] = true end
    settle(w, "every survivor holding each survivor's last write of every key", function()
      for _, a in ipairs(survivors) do
        for key, want in pairs(expected) do
          local got = {}
          for id, v in pairs(values(a, key)) do
            if survivor[id] then got[id] = v end
          end
          for id, v in pairs(want) do
            if got[id] ~= v then return false end
          end
          for id in pairs(got) do
            if want[id] == nil then return false end
          end
        end
      end
      return true
    end)
    settle(w, "the same values of every key on every survivor", function()
      for key in pairs(expected) do
        local first = values(survivors[1], key)
        for i = 2, #survivors do
          local other = values(survivors[i], key)
          for id, v in pairs(first) do
            if other[id] ~= v then return false end
          end
          for id in pairs(other) do
            if first[id] == nil then return false end
          end
        end
      end
      return true
    end)
  end

  it("churn: nodes killed, restarted and added while writes go on; the survivors end equal", function()
    local w, survivors, expected, writes = churn(51)
    local ids = {}
    for i, a in ipairs(survivors) do ids[i] = a:id() end
    assert.same({ "n3", "n4", "n5", "n6", "n7" }, ids)
    assert.is_true(writes >= 100)
    for key, by_id in pairs(expected) do
      assert.is_not_nil(next(by_id), "no survivor wrote " .. key)
    end
    survivors_end_equal(w, survivors, expected)
    w:close()
  end)

  it("replays the churn from its seed: the same trace and state twice", function()
    local function run(seed)
      local w, survivors, expected = churn(seed)
      survivors_end_equal(w, survivors, expected)
      local state = {}
      for key in pairs(expected) do state[key] = values(survivors[1], key) end
      local trace = w:trace()
      w:close()
      return trace, state
    end
    local a, sa = run(52)
    local b, sb = run(52)
    local c = run(53)
    assert.equal(a, b)
    assert.same(sa, sb)
    assert.not_equal(a, c)
  end)
end)

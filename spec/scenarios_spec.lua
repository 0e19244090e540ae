-- The seed's success criteria as scenarios on live clusters of `rumor agent` processes,
-- written with the shipped harness rumor.testing as a user would: three nodes in sync,
-- nodes joining and leaving at runtime, recovery after a partition heals, fifty
-- processes converging, and churn (nodes killed, restarted and added while writes go
-- on) ending with every surviving node holding the same state. Rounds are short so
-- the file runs quickly, but nothing asserts a speed: every wait polls for an outcome
-- under a deadline. Each test closes its cluster on the way out (<close>), failing or not.
local testing = require("rumor.testing")
local rumor = require("rumor")

local DEADLINE_MS = 30000   -- per wait: generous for a loaded 2-core box
local CONFIG = {
  gossip_interval_ms = 100,        -- short rounds: quick spreading and detection
  heartbeat_expiration_ms = 1000,  -- 10 rounds: a killed or cut node is blocked soon
}

local function cluster(opts)
  opts.config = opts.config or CONFIG
  opts.deadline_ms = opts.deadline_ms or DEADLINE_MS
  return testing.cluster(opts)
end

local function ids(nodes)
  local out = {}
  for i, n in ipairs(nodes) do out[i] = n.id end
  return out
end

-- Does node n hold value v from member id under key?
local function holds(n, key, id, v)
  local got = n:get(key)[id]
  if got == v then return true end
  return false, ("%s=%s from %s, not %s"):format(key, tostring(got), id, tostring(v))
end

-- Does node n hold every write of list ({ {id, key, value}, ... })?
local function holds_all(n, writes)
  for _, w in ipairs(writes) do
    local ok, why = holds(n, w[2], w[1], w[3])
    if not ok then return false, why end
  end
  return true
end

-- Does node n see member id with that status?
local function sees_status(n, id, status)
  local m = n:member(id)
  if m and m.status == status then return true end
  return false, ("sees %s as %s"):format(id, m and m.status or "unknown")
end

describe("scenario", function()
  it("three nodes sync: a write on each reaches the other two", function()
    local c <close> = cluster{ nodes = 3 }
    local writes = {}
    for _, n in ipairs(c.nodes) do
      n:set("hello", "from " .. n.id)
      writes[#writes + 1] = { n.id, "hello", "from " .. n.id }
    end
    c:on_every(function(n) return holds_all(n, writes) end, "every hello")
    for _, n in ipairs(c.nodes) do
      assert.same({ n1 = "from n1", n2 = "from n2", n3 = "from n3" }, n:get("hello"))
      assert.equal(3, #n:members())
    end
    assert(c:close())
  end)

  it("nodes join and leave at runtime: a newcomer gets all state, a leaver is reported left", function()
    local c <close> = cluster{ nodes = 3 }
    local writes = {}
    for _, n in ipairs(c.nodes) do
      for k = 1, 3 do
        local key, value = "cfg/" .. k, n.id .. "-" .. k
        n:set(key, value)
        writes[#writes + 1] = { n.id, key, value }
      end
    end
    c:on_every(function(n) return holds_all(n, writes) end, "the first writes")

    local n4 = c:add()   -- waits until it and the others see each other alive
    assert.equal("n4", n4.id)
    c:eventually(function() return holds_all(n4, writes) end, "n4 holds every earlier write")
    n4:set("cfg/1", "n4-1")
    writes[#writes + 1] = { "n4", "cfg/1", "n4-1" }
    c:on_every(function(n) return holds_all(n, writes) end, "n4's write everywhere")

    local leaver = c:node("n2")
    assert.is_true(leaver:leave(5000))
    assert.equal("left", leaver:status())
    c:on_every(function(n) return sees_status(n, "n2", "left") end, "n2 reported left")
    for _, n in ipairs(c:live()) do
      local ev = n:wait_for(function(e) return e.event == "member" and e.type == "left" and e.member == "n2" end,
        "a left event for n2")
      assert.equal("left", ev.reason)
      for _, other in ipairs(c:live()) do
        if other ~= n then assert.is_true(sees_status(n, other.id, "alive")) end
      end
    end
    assert(c:close())
  end)

  it("recovers after a partition heals: every write made on either side is everywhere", function()
    local c <close> = cluster{ nodes = 5 }
    if not c:faults_supported() then
      pending("the agent has no fault commands yet (unknown command 'fault')")
      return
    end
    local left, right = { c:node("n1"), c:node("n2"), c:node("n3") }, { c:node("n4"), c:node("n5") }
    local before = {}
    for _, n in ipairs(c.nodes) do
      n:set("before", n.id)
      before[#before + 1] = { n.id, "before", n.id }
    end
    c:on_every(function(n) return holds_all(n, before) end, "the writes before the partition")

    c:partition(ids(left), ids(right))
    -- the cut is real: each side blocks the other as expired
    for _, side in ipairs({ { left, right }, { right, left } }) do
      testing.on_every(side[1], function(n)
        for _, other in ipairs(side[2]) do
          local ok, why = sees_status(n, other.id, "blocked")
          if not ok then return false, why end
        end
        return true
      end, "the other side blocked", DEADLINE_MS)
    end

    local during = { left = {}, right = {} }
    for name, side in pairs({ left = left, right = right }) do
      for _, n in ipairs(side) do
        for k = 1, 2 do
          local key, value = "during/" .. k, n.id .. "/" .. name .. "/" .. k
          n:set(key, value)
          table.insert(during[name], { n.id, key, value })
        end
      end
    end
    testing.on_every(left, function(n) return holds_all(n, during.left) end, "left writes on the left", DEADLINE_MS)
    testing.on_every(right, function(n) return holds_all(n, during.right) end, "right writes on the right", DEADLINE_MS)
    -- and none crossed the cut
    for _, n in ipairs(right) do
      for _, w in ipairs(during.left) do assert.is_nil(n:get(w[2])[w[1]], n.id .. " got " .. w[1] .. "'s write") end
    end
    for _, n in ipairs(left) do
      for _, w in ipairs(during.right) do assert.is_nil(n:get(w[2])[w[1]], n.id .. " got " .. w[1] .. "'s write") end
    end

    c:heal()
    c:wait_joined("the two sides reunited")
    local all = {}
    for _, list in ipairs({ before, during.left, during.right }) do
      for _, w in ipairs(list) do all[#all + 1] = w end
    end
    c:on_every(function(n) return holds_all(n, all) end, "every write on every node after healing")
    for _, n in ipairs(c.nodes) do
      for _, other in ipairs(c.nodes) do
        if other ~= n then assert.is_true(sees_status(n, other.id, "alive")) end
      end
    end
    assert(c:close())
  end)

  it("fifty processes converge on one write", function()
    local c <close> = cluster{ nodes = 50 }
    local writer = c:node(17)
    writer:set("fifty", "converged")
    c:on_every(function(n) return holds(n, "fifty", writer.id, "converged") end, "the write on all 50")
    -- and each knows the 49 others alive
    c:on_every(function(n)
      local alive = 0
      for _, m in ipairs(n:members()) do
        if m.status == "alive" then alive = alive + 1 end
      end
      return alive == 50, alive .. " alive"
    end, "50 members alive")
    assert(c:close())
  end)

  it("churn: nodes killed, restarted and added while writes go on; the survivors end equal", function()
    local c <close> = cluster{ nodes = 6 }
    local KEYS = 12          -- few keys, rewritten over and over: every node's latest counts
    local WRITE_EVERY_MS = 20 -- ~50 writes a second over the running nodes: some are in
                              -- flight at every fault, and the driver stays light
    local sent, writing, turn, counter = {}, true, 0, 0
    -- A timer of the driver's loop, so writes go on during every wait below.
    local function write_one()
      if not writing then return end
      rumor.after(WRITE_EVERY_MS, write_one)
      local live = c:live()
      if #live == 0 then return end
      turn = turn + 1
      local n = live[turn % #live + 1]
      counter = counter + 1
      local key = "churn/" .. (counter % KEYS + 1)
      local value = ("%s#%d:%d"):format(n.id, n.lives, counter)
      -- a process dying this instant refuses the line: that write is simply not made
      local ok, id = pcall(n.send, n, { cmd = "set", key = key, value = value })
      if ok then sent[#sent + 1] = { node = n, agent = n.agent, key = key, value = value, id = id } end
    end
    rumor.after(0, write_one)
    local function acked_since(mark)
      local count = 0
      for i = mark + 1, #sent do
        local w = sent[i]
        local r = w.agent.by_id[w.id]
        if r and r.ok then count = count + 1 end
      end
      return count
    end
    -- Lets at least n more writes be acknowledged (the writer runs meanwhile).
    local function writes_go_on(n, what)
      local mark = #sent
      c:eventually(function() return acked_since(mark) >= n end, "writes going on " .. what)
    end
    local function blocked_by_all(victim)
      c:on_every(function(n) return sees_status(n, victim.id, "blocked") end, victim.id .. " blocked")
    end

    local ok, err = pcall(function()
      writes_go_on(20, "at first")
      local n6 = c:node("n6")
      n6:kill()
      blocked_by_all(n6)
      writes_go_on(10, "after n6 died")
      n6:restart()
      writes_go_on(10, "after n6 restarted")
      local n3 = c:node("n3")
      n3:kill()
      writes_go_on(10, "after n3 died")
      c:add("n7")
      writes_go_on(10, "after n7 came")
      local n1 = c:node("n1")   -- the first node, every early node's seed
      n1:kill()
      blocked_by_all(n1)
      n3:restart()
      writes_go_on(10, "after n3 restarted")
      c:node("n2"):kill()
      writes_go_on(20, "at the end")
    end)
    writing = false
    assert(ok, err)

    -- Every write sent to a process still running gets its reply; the last one each
    -- survivor acknowledged per key is what every survivor must hold from it (a killed
    -- process's writes go with it: its restart is a new generation that replaces them).
    local survivors = c:live()
    table.sort(survivors, function(a, b) return a.id < b.id end)
    assert.same({ "n3", "n4", "n5", "n6", "n7" }, ids(survivors))
    local expected = {}
    for k = 1, KEYS do expected["churn/" .. k] = {} end
    c:eventually(function()
      for _, w in ipairs(sent) do
        if w.agent == w.node.agent and w.node:running() and not w.agent.by_id[w.id] then
          return false, "no reply yet from " .. w.node.id .. " to " .. w.key
        end
      end
      return true
    end, "the replies of the survivors' writes")
    for _, w in ipairs(sent) do
      if w.agent == w.node.agent and w.node:running() then
        assert.is_true(w.agent.by_id[w.id].ok, w.node.id .. " refused a write")
        expected[w.key][w.node.id] = w.value
      end
    end
    local survivor = {}
    for _, n in ipairs(survivors) do survivor[n.id] = true end
    c:on_every(function(n)
      for key, want in pairs(expected) do
        local got = {}
        for id, v in pairs(n:get(key)) do
          if survivor[id] then got[id] = v end
        end
        for id, v in pairs(want) do
          if got[id] ~= v then return false, ("%s: %s=%s, not %s"):format(key, id, tostring(got[id]), v) end
        end
        for id, v in pairs(got) do
          if want[id] == nil then return false, ("%s: %s=%s, never acknowledged"):format(key, id, v) end
        end
      end
      return true
    end, "every survivor holding each survivor's last write of every key")
    -- The same state everywhere, the dead members' last entries included.
    local keys = {}
    for key in pairs(expected) do keys[#keys + 1] = key end
    table.sort(keys)
    c:eventually(function() return c:same_state(keys) end, "the same values of every key on every survivor")
    assert(c:close())
  end)
end)

-- Deletes, map state, restarts, large values and set_state_request on a live cluster of
-- `rumor agent` processes on loopback. Every wait polls a condition with a generous
-- deadline; nothing depends on how fast the machine is. Processes are reaped in
-- teardown whatever happens, stopped ones included.
local process = require("rumor.process")

local DEADLINE_MS = 30000
local GRACE_MS = 1000   -- tombstone_grace_ms, so purges happen within the test

local support = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }
local call, on_every, member = support.call, support.on_every, support.member

describe("state on a live cluster", function()
  local procs, agents

  before_each(function()
    procs = process.group()
    agents = {}
  end)

  after_each(function()
    for _, a in ipairs(procs.agents) do a:kill("SIGCONT") end -- a stopped one must hear "stop"
    local all_reaped = procs:close()
    assert.is_true(all_reaped, "some agent processes did not exit")
    -- a clean exit also means no sanitizer report when the specs run under ASan
    for _, a in ipairs(procs.agents) do
      if not a.killed then assert.equal(0, a.exit_code, a:describe()) end
    end
  end)

  local seed
  local function cfg(id)
    return { id = id, cluster = "spec-state", seeds = seed and { seed } or {},
             gossip_interval_ms = 100, tombstone_grace_ms = GRACE_MS }
  end

  -- n agents; each publishes "hello" and every one holds every other's, so all are
  -- live members of each other before a test starts.
  local function start_cluster(n)
    seed = nil
    agents[1] = procs:agent(cfg("n1"))
    seed = agents[1]:wait_started(DEADLINE_MS).address
    for i = 2, n do agents[i] = procs:agent(cfg("n" .. i)) end
    for _, a in ipairs(agents) do
      a:wait_started(DEADLINE_MS)
      call(a, { cmd = "set", key = "hello", value = a.name })
    end
    on_every(agents, "every hello", function(a)
      local values = call(a, { cmd = "get", key = "hello" }).values
      for _, other in ipairs(agents) do
        if values[other.name] ~= other.name then return false end
      end
      return true
    end)
  end

  it("spreads delete_state and remove_map_state everywhere, then purges the tombstones", function()
    start_cluster(3)
    local w = agents[1]
    call(w, { cmd = "set", key = "doomed", value = "x" })
    call(w, { cmd = "set_map", key = "cfg", map_key = "keep", value = "1" })
    call(w, { cmd = "set_map", key = "cfg", map_key = "drop", value = "2" })
    on_every(agents, "the writes", function(a)
      return call(a, { cmd = "get", key = "doomed" }).values.n1 == "x"
        and call(a, { cmd = "get_map", key = "cfg", map_key = "drop" }).values.n1 == "2"
        and #call(a, { cmd = "map_keys", key = "cfg", member = "n1" }).keys == 2
    end)

    assert.is_true(call(w, { cmd = "delete", key = "doomed" }).seq > 0)
    assert.is_true(call(w, { cmd = "remove_map", key = "cfg", map_key = "drop" }).seq > 0)

    for _, a in ipairs(agents) do
      a:wait_for(function(e)
        return e.event == "update" and e.member == "n1" and e.key == "doomed" and e.deleted == true
      end, DEADLINE_MS, "deleted update of doomed")
      local ev = a:wait_for(function(e)
        return e.event == "update" and e.member == "n1" and e.key == "cfg" and e.map_key == "drop"
          and e.deleted == true
      end, DEADLINE_MS, "deleted update of cfg/drop")
      assert.is_nil(ev.value)
      assert.equal(a ~= w, not ev["local"])
    end
    on_every(agents, "the deletes", function(a)
      return call(a, { cmd = "get", key = "doomed" }).values.n1 == nil
        and call(a, { cmd = "get_map", key = "cfg", map_key = "drop" }).values.n1 == nil
    end)
    for _, a in ipairs(agents) do
      assert.same({ "keep" }, call(a, { cmd = "map_keys", key = "cfg", member = "n1" }).keys)
      assert.same({ "keep" }, call(a, { cmd = "map_keys", key = "cfg" }).keys)
      assert.same({ n1 = "1" }, call(a, { cmd = "get_map", key = "cfg", map_key = "keep" }).values)
    end

    on_every(agents, "n1's tombstones purged", function(a)
      local m = member(a, "n1")
      return m ~= nil and m.tombstones == 0
        and call(a, { cmd = "metrics" }).metrics.tombstones_purged >= 1
    end)
    -- and the purge forgot the tombstones only: the live entries are still there
    for _, a in ipairs(agents) do
      assert.same({ n1 = "1" }, call(a, { cmd = "get_map", key = "cfg", map_key = "keep" }).values)
      assert.same({}, call(a, { cmd = "get", key = "doomed" }).values)
    end
  end)

  it("takes a node restarted under the same id with its new state, without its old keys", function()
    start_cluster(3)
    local old = agents[2]
    call(old, { cmd = "set", key = "old-only", value = "old" })
    call(old, { cmd = "set", key = "both", value = "old" })
    call(old, { cmd = "set_map", key = "m", map_key = "old-entry", value = "old" })
    on_every(agents, "n2's first life", function(a)
      return call(a, { cmd = "get", key = "old-only" }).values.n2 == "old"
        and call(a, { cmd = "get_map", key = "m", map_key = "old-entry" }).values.n2 == "old"
    end)
    local old_generation = old.generation

    old.killed = true
    old:kill("SIGKILL")
    assert.truthy(process.eventually(function() return not old:alive() end, DEADLINE_MS))
    local new = procs:agent(cfg("n2"), { name = "n2-restarted" })
    new:wait_started(DEADLINE_MS)
    assert.is_true(new.generation > old_generation)
    agents[2] = new
    call(new, { cmd = "set", key = "both", value = "new" })
    call(new, { cmd = "set", key = "new-only", value = "new" })

    on_every(agents, "n2's second life", function(a)
      local m = member(a, "n2")
      return m ~= nil and m.generation == new.generation
        and call(a, { cmd = "get", key = "both" }).values.n2 == "new"
        and call(a, { cmd = "get", key = "new-only" }).values.n2 == "new"
    end)
    for _, a in ipairs(agents) do
      assert.is_nil(call(a, { cmd = "get", key = "old-only" }).values.n2)
      assert.same({}, call(a, { cmd = "get_map", key = "m", map_key = "old-entry" }).values)
      assert.same({}, call(a, { cmd = "map_keys", key = "m", member = "n2" }).keys)
      -- the others' state is untouched
      assert.equal("n1", call(a, { cmd = "get", key = "hello" }).values.n1)
    end
  end)

  it("carries a 200 KiB value to every node", function()
    start_cluster(3)
    local parts = {}
    local size = 0
    local i = 0
    while size < 200 * 1024 do
      i = i + 1
      parts[#parts + 1] = ("%07d:abcdefghijklmnopqrstuvwxyz|"):format(i)
      size = size + #parts[#parts]
    end
    local big = table.concat(parts):sub(1, 200 * 1024)
    local function checksum(s)
      local h = 0
      for j = 1, #s, 7 do h = (h * 31 + s:byte(j)) % 2147483647 end
      return h
    end
    call(agents[1], { cmd = "set", key = "big", value = big })
    on_every(agents, "the big value", function(a)
      local v = call(a, { cmd = "get", key = "big" }).values.n1
      return v ~= nil and #v == #big
    end)
    for _, a in ipairs(agents) do
      local v = call(a, { cmd = "get", key = "big" }).values.n1
      assert.equal(#big, #v)
      assert.equal(checksum(big), checksum(v))
      assert.is_true(v == big, "the value on " .. a.name .. " differs")
    end
    local sent = call(agents[1], { cmd = "metrics" }).metrics
    assert.is_true(sent.tcp_transfers >= 1, "the value did not travel over TCP")
  end)

  it("returns from set_request only once every live node holds the value", function()
    start_cluster(3)
    local writer, stopped = agents[1], agents[3]
    assert.truthy(stopped.proc:kill("SIGSTOP"))

    local r = writer:call({ cmd = "set_request", key = "req", value = "first", timeout_ms = 1500 }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.equal("timeout", r.error)
    assert.is_table(r.missing)
    local named = false
    for _, id in ipairs(r.missing) do
      if id == "n3" then named = true end
      assert.are_not.equal("n1", id)
    end
    assert.is_true(named, "n3 is not among the missing: " .. table.concat(r.missing, ","))

    assert.truthy(stopped.proc:kill("SIGCONT"))
    r = writer:call({ cmd = "set_request", key = "req", value = "second", timeout_ms = DEADLINE_MS }, DEADLINE_MS + 5000)
    assert.is_true(r.ok, "set_request failed: " .. tostring(r.error))
    -- no waiting here: the request returned, so every agent holds it already
    for _, a in ipairs(agents) do
      assert.equal("second", call(a, { cmd = "get", key = "req" }).values.n1, a.name)
    end
  end)

  it("answers set_request argument errors at once and cancels a waiting one on stop", function()
    start_cluster(2)
    local a = agents[1]
    local r = a:call({ cmd = "set_request", key = "", value = "v" }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.matches("argument 'key' must not be empty", r.error)
    r = a:call({ cmd = "set_request", key = "k", value = "v", timeout_ms = "soon" }, DEADLINE_MS)
    assert.is_false(r.ok)
    assert.matches("option 'timeout_ms'", r.error)

    assert.truthy(agents[2].proc:kill("SIGSTOP"))
    local id = a:send{ cmd = "set_request", key = "k", value = "v", timeout_ms = DEADLINE_MS }
    a:send{ cmd = "stop" }
    local reply = process.eventually(function() return a.by_id[id] end, DEADLINE_MS)
    assert.truthy(reply, "no reply to the waiting set_request")
    assert.is_false(reply.ok)
    assert.equal("cancelled", reply.error)
    a:wait_for(function(e) return e.event == "stopped" end, DEADLINE_MS, "stopped event")
    -- the reply came before the stopped event
    assert.is_true(reply.at_ms <= a:find(function(e) return e.event == "stopped" end).at_ms)
  end)
end)

-- A live cluster of `rumor agent` processes whose scripts' callbacks all raise errors
-- (update and member subscribers, the block policy, the stats function, a validator):
-- the cluster still forms and converges on every write, nobody is blocked, and each
-- agent counts the errors and logs them with their traceback on stderr. The processes
-- are reaped in teardown whatever happens.
local process = require("rumor.process")

local DEADLINE_MS = 30000
local NODES = 3

local support = require("spec.support.agents").new{ deadline_ms = DEADLINE_MS }
local call, on_every = support.call, support.on_every

describe("callbacks that raise errors on a live cluster", function()
  local procs, script

  before_each(function()
    procs = process.group()
    script = os.tmpname()
    local f = assert(io.open(script, "wb"))
    f:write([[
return function(node)
  node:on_update(function(u) error("update subscriber broke on " .. u.key) end)
  node:on_member(function(ev) error("member subscriber broke on " .. ev.type) end)
  node:set_block_policy(function(id) error("policy broke on " .. id) end)
  node:set_heartbeat_stats(function() error("stats broke") end)
  node:validate("poison", function() error("validator broke") end)
end
]])
    f:close()
  end)

  after_each(function()
    local all_reaped = procs:close()
    os.remove(script)
    assert.is_true(all_reaped, "some agent processes did not exit")
  end)

  it("keeps converging, blocks nobody, counts and logs every error", function()
    local agents, seed = {}, nil
    for i = 1, NODES do
      local a = procs:agent{ id = "e" .. i, cluster = "spec-callback-errors", script = script,
                             gossip_interval_ms = 100, heartbeat_expiration_ms = 1000,
                             seeds = seed and { seed } or {} }
      a:wait_started(DEADLINE_MS)
      seed = seed or a.address
      agents[i] = a
    end
    -- Writes on every node reach every node, whatever the subscribers raise. A key the
    -- validator fails on is refused (what it cannot judge is not taken in).
    for i, a in ipairs(agents) do
      call(a, { cmd = "set", key = "k" .. i, value = "v" .. i })
      call(a, { cmd = "set", key = "poison" .. i, value = "x" })
    end
    on_every(agents, "every write", function(a)
      for i = 1, NODES do
        if call(a, { cmd = "get", key = "k" .. i }).values["e" .. i] ~= "v" .. i then return false end
      end
      return true
    end)
    on_every(agents, "every error counted", function(a)
      local m = call(a, { cmd = "metrics" }).metrics
      return m.callback_errors >= 5 and m.entries_rejected >= NODES - 1
    end)
    for i, a in ipairs(agents) do
      local held = call(a, { cmd = "get", key = "poison" .. (i % NODES + 1) }).values
      assert.same({}, held)
    end
    local WANTED = { "update subscriber broke", "member subscriber broke", "policy broke",
                     "stats broke", "validator broke", "stack traceback" }
    for _, a in ipairs(agents) do
      local missing
      assert.truthy(process.eventually(function()
        local text = table.concat(a.stderr, "\n")
        for _, what in ipairs(WANTED) do
          if not text:find(what, 1, true) then
            missing = what
            return false
          end
        end
        return true
      end, DEADLINE_MS), ("%s never logged %q on stderr"):format(a.name, tostring(missing)))
      assert.same({}, call(a, { cmd = "blocked" }).blocked)
      assert.equal(NODES, #call(a, { cmd = "members" }).members)
    end
  end)
end)

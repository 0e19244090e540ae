-- spec/support/agents.lua: driving `rumor agent` processes (rumor.process) in the specs:
-- a command that must succeed, a condition that must come to hold on every agent, an
-- agent's record of a member, and the wait for agents to see each other alive, all under
-- one deadline.
--
--   local support = require("spec.support.agents").new{ deadline_ms = 30000 }
--   local call, on_every = support.call, support.on_every
--   support.joined(agents)
--   call(a, { cmd = "set", key = "k", value = "v" })
--   on_every(agents, "k everywhere", function(x)
--     return call(x, { cmd = "get", key = "k" }).values.n1 == "v"
--   end)
local process = require("rumor.process")

local M = {}

function M.new(opts)
  local deadline_ms = (opts and opts.deadline_ms) or process.default_timeout_ms
  local h = { deadline_ms = deadline_ms }

  -- Sends cmd to agent a and returns its reply; raises at the caller's line unless the
  -- reply is ok (or none comes within the deadline).
  function h.call(a, cmd)
    local r = a:call(cmd, deadline_ms)
    if not r.ok then
      error(("%s on %s failed: %s"):format(cmd.cmd, a.name, tostring(r.error)), 2)
    end
    return r
  end

  -- Polls until pred(agent) holds on every agent of list; raises at the caller's line
  -- naming what and the first agent that lags.
  function h.on_every(list, what, pred)
    local lagging
    local ok = process.eventually(function()
      for _, a in ipairs(list) do
        if not pred(a) then
          lagging = a
          return false
        end
      end
      return true
    end, deadline_ms)
    if not ok then
      error(("not on every agent within %d ms: %s; first lagging: %s")
        :format(deadline_ms, what, lagging and lagging:describe() or "?"), 2)
    end
  end

  -- Agent a's record of member id (its members command), or nil.
  function h.member(a, id)
    for _, m in ipairs(h.call(a, { cmd = "members" }).members) do
      if m.id == id then return m end
    end
  end

  -- Waits until every agent of list has printed an "alive" member event for each other
  -- one, of that one's generation: all are live members of each other.
  function h.joined(list)
    h.on_every(list, "every other agent alive", function(a)
      for _, b in ipairs(list) do
        if b ~= a and not a:find(function(e)
          return e.event == "member" and e.type == "alive" and e.member == b.name
            and e.generation == b.generation
        end) then
          return false
        end
      end
      return true
    end)
  end

  return h
end

return M

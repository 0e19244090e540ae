-- spec/support/agents.lua: the specs' shorthand for driving `rumor agent` processes
-- (rumor.process) under one deadline, a thin layer over the shipped harness
-- rumor.testing (testing.call, on_every, member, joined), so the repository's own
-- specs exercise what users get: a command that must succeed, a condition that must
-- come to hold on every agent, an agent's record of a member, and the wait for agents
-- to see each other alive. Errors point at the spec's line (the calls below are tail
-- calls, so rumor.testing's "caller" is the spec).
--
--   local support = require("spec.support.agents").new{ deadline_ms = 30000 }
--   local call, on_every = support.call, support.on_every
--   support.joined(agents)
--   call(a, { cmd = "set", key = "k", value = "v" })
--   on_every(agents, "k everywhere", function(x)
--     return call(x, { cmd = "get", key = "k" }).values.n1 == "v"
--   end)
local process = require("rumor.process")
local testing = require("rumor.testing")

local M = {}

function M.new(opts)
  local deadline_ms = (opts and opts.deadline_ms) or process.default_timeout_ms
  local h = { deadline_ms = deadline_ms }

  -- Sends cmd to agent a and returns its reply; raises unless the reply is ok.
  function h.call(a, cmd) return testing.call(a, cmd, deadline_ms) end

  -- Polls until pred(agent) holds on every agent of list; raises naming what and the
  -- first agent that lags.
  function h.on_every(list, what, pred) return testing.on_every(list, pred, what, deadline_ms) end

  -- Agent a's record of member id (its members command), or nil.
  function h.member(a, id) return testing.member(a, id, deadline_ms) end

  -- Waits until every agent of list has printed an "alive" member event for each other
  -- one, of that one's generation: all are live members of each other.
  function h.joined(list) return testing.joined(list, deadline_ms) end

  return h
end

return M

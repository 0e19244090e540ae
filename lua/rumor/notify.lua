-- rumor.notify: the on_change subscribers of a consensus check or an aggregate, and
-- the error reporting the two share.
--
-- Changes are queued and delivered in order, one at a time: a subscriber that writes
-- state (which changes the result again, re-entering the check from inside its own
-- notification) sees that newer change after the one it is handling, never inside it.

local M = {}

-- Objects keep their node through one of these, so that the subscriptions they hand to
-- the core (held from the registry) never keep a node alive that its user dropped.
local WEAK = { __mode = "v" }
function M.owner(node)
  return setmetatable({ node = node }, WEAK)
end

-- Reports an error raised in (or found in the results of) user code: on the node's log
-- hook and in its metrics().callback_errors, or process-wide once the node is gone.
function M.report(internal, owner, message, where)
  local node = owner.node
  if node then
    internal.node_error(node, message, where .. " of node '" .. tostring(node._id) .. "'")
  else
    internal.report(message, where)
  end
end

local Handle = {}
Handle.__index = Handle

-- Stops delivery to this subscriber; idempotent, safe inside its own callback.
function Handle:cancel()
  if not self.active then return end
  self.active = false
  local notifier, list = self._notifier, {}
  for _, h in ipairs(notifier.list) do
    if h ~= self then list[#list + 1] = h end
  end
  notifier.list = list
end

local Notifier = {}
Notifier.__index = Notifier

-- where names the subscribers in error reports ("on_change of consensus check 'k'").
function M.new(internal, owner, where)
  return setmetatable({ internal = internal, owner = owner, where = where,
                        list = {}, queue = {}, busy = false }, Notifier)
end

-- Adds fn; returns a handle with :cancel().
function Notifier:add(fn)
  local h = setmetatable({ fn = fn, active = true, _notifier = self }, Handle)
  local list = { table.unpack(self.list) }   -- copy: a delivery under way keeps its list
  list[#list + 1] = h
  self.list = list
  return h
end

-- Queues one change: every subscriber gets fn(table.unpack(args, 1, args.n)), then
-- after() runs (the waiters). Delivers at once unless a delivery is under way.
function Notifier:push(args, after)
  local queue = self.queue
  queue[#queue + 1] = { args = args, after = after }
  if self.busy then return end
  self.busy = true
  local i = 1
  while queue[i] do
    local change = queue[i]
    queue[i] = false   -- delivered (keeps the array dense while others are appended)
    i = i + 1
    for _, h in ipairs(self.list) do
      if h.active then
        local ok, err = xpcall(h.fn, debug.traceback, table.unpack(change.args, 1, change.args.n))
        if not ok then M.report(self.internal, self.owner, err, self.where) end
      end
    end
    if change.after then change.after() end
  end
  self.queue = {}
  self.busy = false
end

-- Drops every subscriber (the check or aggregate is gone).
function Notifier:close()
  for _, h in ipairs(self.list) do h.active = false end
  self.list = {}
end

return M

-- rumor.keyview: one plain key's values over the members that count (the live ones,
-- or every known one), kept current from the node's update and member events: the
-- input that consensus checks and aggregates share.
--
-- Each member's raw value is extracted once per value it takes (an extractor error, or
-- a result the owner refuses, is reported once and counted as no value). The owner is
-- told of every change of a counted value with change(member, old, new) (nil = none),
-- then settle() once per batch: one update costs O(1), a membership event O(N).
-- A member restarted under a new generation drops the keys it does not set again, and
-- a member let in again may hold values no update announced: on every membership
-- change the changed members' values are re-read from the store.

local liveset = require("rumor.liveset")
local notify = require("rumor.notify")

local M = {}

local View = {}
View.__index = View

-- A value as it appears in reports: quoted, cut to this many bytes (a report is a
-- log line, and values may be up to a datagram or more).
local SHOWN_BYTES = 64
local function shown(value)
  if #value > SHOWN_BYTES then return ("%q..."):format(value:sub(1, SHOWN_BYTES)) end
  return ("%q"):format(value)
end

function View:report(message, where)
  notify.report(self.internal, self.owner, message, where)
end

-- The extracted value of member's raw value, or nil (no value, or reported).
function View:extract(member, value)
  local ok, x = xpcall(self.extractor, debug.traceback, value, member)
  if not ok then
    self:report(("%s: the extractor failed on the value %s of member '%s' (counted as no "
      .. "value): %s"):format(self.label, shown(value), member, tostring(x)),
      "extractor of " .. self.label)
    return nil
  end
  if x == nil then return nil end
  local refused = self.accept(x)
  if refused then
    self:report(("%s: the value %s of member '%s' gives %s (counted as no value)")
      :format(self.label, shown(value), member, refused), "extractor of " .. self.label)
    return nil
  end
  return x
end

-- Records member's raw value (nil: none or deleted) at (generation, seq).
function View:set_raw(member, value, seq, generation)
  local r = self.raw[member]
  if r and r.value == value then   -- the same value again: no new extraction, no report
    r.seq, r.generation = seq, generation
    return
  end
  local extracted
  if value ~= nil then extracted = self:extract(member, value) end
  self.raw[member] = { value = value, seq = seq, generation = generation, extracted = extracted }
end

-- Brings member's counted value up to date; true when it changed.
function View:recount(member)
  local m = self.tracker.members[member]
  local new
  if m and (self.all or m.live) then
    local r = self.raw[member]
    if r then new = r.extracted end
  end
  local old = self.counted[member]
  if new == old then return false end
  self.counted[member] = new
  self.change(member, old, new)
  return true
end

-- How many members count, holding a value or not, as the tracker has it now. Owners
-- read view.eligible instead: it moves together with the counted values.
function View:count_eligible()
  return self.all and self.tracker.known_count or self.tracker.live_count
end

-- Re-reads member's value from the store (or forgets it: the member is gone).
function View:reread(node, member)
  local m = self.tracker.members[member]
  if not m then
    self.raw[member] = nil
    return
  end
  local value, seq = node._core:get_entry(member, self.key)
  self:set_raw(member, value, seq or 0, m.generation)
end

function View:update(u)
  if self.closed or u.key ~= self.key or u.map_key ~= nil then return end
  local r = self.raw[u.member]
  -- An update older than what a re-read found already is stale: skip it.
  if r and (u.generation < r.generation or (u.generation == r.generation and u.seq < r.seq)) then
    return
  end
  self:set_raw(u.member, u.value, u.seq, u.generation)   -- u.value is nil when deleted
  if self:recount(u.member) then self.settle() end
end

-- Called by the tracker with the ids of the members that changed, sorted.
function View:membership(changed)
  local node = self.owner.node
  if self.closed or not node or node._closed then return end
  local any = false
  for _, member in ipairs(changed) do
    self:reread(node, member)
    if self:recount(member) then any = true end
  end
  local eligible = self:count_eligible()
  if eligible ~= self.eligible then
    self.eligible = eligible
    any = true
  end
  if any then self.settle() end
end

-- Stops following the key; idempotent.
function View:close()
  if self.closed then return end
  self.closed = true
  self.subscription:cancel()
  liveset.detach(self.tracker, self)
end

-- A copy of the counted values: { [member] = extracted }.
function View:values()
  local copy = {}
  for member, v in pairs(self.counted) do copy[member] = v end
  return copy
end

-- spec: label (names the owner in reports, "consensus check 'k'"), all (count every
-- known member, not only live ones), extractor(value, member) -> any, accept(x) ->
-- nil or why x is refused, change(member, old, new), settle(). The initial values
-- (read from the store with their seq, like get_state but member by member) are handed
-- to change in member order before new returns; settle is not called for them.
-- The view's owner reads view.counted ({member = value}) and view.eligible (how many
-- members count, holding a value or not).
function M.new(internal, node, key, spec)
  local view = setmetatable({
    internal = internal, owner = notify.owner(node), key = key, label = spec.label,
    all = spec.all == true, extractor = spec.extractor, accept = spec.accept,
    change = spec.change, settle = spec.settle, raw = {}, counted = {}, closed = false,
  }, View)
  view.tracker = liveset.attach(node, view)
  local ids = {}
  for id in pairs(view.tracker.members) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    view:reread(node, id)
    view:recount(id)
  end
  view.eligible = view:count_eligible()
  view.subscription = node:on_update(function(u) view:update(u) end, { prefix = key })
  return view
end

return M

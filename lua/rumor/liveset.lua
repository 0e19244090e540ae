-- rumor.liveset: which members a node's consensus checks and aggregates count, kept
-- from its member events. One per node, shared by every key view on it: one member
-- subscription, and one read of node:members() per membership event (O(N) then, never
-- per update). A member counts as
--   live  when its status is "alive" and its generation is known (> 0), self included;
--   known when its generation is known at all (blocked and left members too, until
--         their state is removed).
-- Each event tells the views which members changed (appeared, went, changed liveness
-- or generation, or joined again), sorted by id so every node applies them alike.

local notify = require("rumor.notify")

local M = {}

-- { [id] = {generation, live} }, and how many of them are live and known.
local function snapshot(node)
  local members, live, known = {}, 0, 0
  for _, m in ipairs(node:members()) do
    if m.generation > 0 then
      local is_live = m.status == "alive"
      members[m.id] = { generation = m.generation, live = is_live }
      known = known + 1
      if is_live then live = live + 1 end
    end
  end
  return members, live, known
end

local function refresh(tracker, event)
  local node = tracker.owner.node
  if not node or node._closed then return end
  local fresh, live, known = snapshot(node)
  local old, changed, seen = tracker.members, {}, {}
  for id, now in pairs(fresh) do
    local was = old[id]
    if not was or was.generation ~= now.generation or was.live ~= now.live then
      changed[#changed + 1], seen[id] = id, true
    end
  end
  for id in pairs(old) do
    if not fresh[id] then changed[#changed + 1], seen[id] = id, true end
  end
  -- A member let in again under the same generation (a topology block lifted) may
  -- hold other values than the ones seen before: its views re-read it all the same.
  if (event.type == "joined" or event.type == "rejoined") and not seen[event.member] then
    changed[#changed + 1] = event.member
  end
  if #changed == 0 then return end
  table.sort(changed)
  tracker.members, tracker.live_count, tracker.known_count = fresh, live, known
  for _, view in ipairs(tracker.views) do view:membership(changed) end
end

-- Adds view (an object with :membership(changed_ids)) to node's tracker, made on
-- first use; returns the tracker: {members, live_count, known_count}.
function M.attach(node, view)
  local tracker = node._liveset
  if not tracker then
    tracker = { owner = notify.owner(node), views = {} }
    tracker.members, tracker.live_count, tracker.known_count = snapshot(node)
    tracker.subscription = node:on_member(function(event) refresh(tracker, event) end)
    node._liveset = tracker
  end
  local views = { table.unpack(tracker.views) }   -- copy: an event under way keeps its list
  views[#views + 1] = view
  tracker.views = views
  return tracker
end

-- Removes view; the last one out cancels the member subscription.
function M.detach(tracker, view)
  local views = {}
  for _, v in ipairs(tracker.views) do
    if v ~= view then views[#views + 1] = v end
  end
  tracker.views = views
  if #views == 0 then
    tracker.subscription:cancel()
    local node = tracker.owner.node
    if node and node._liveset == tracker then node._liveset = nil end
  end
end

return M

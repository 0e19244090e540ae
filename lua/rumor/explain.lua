-- rumor.explain: node:why(member_id), the reason a member is blocked (or that it is
-- not), in words and in fields, from this node's own record of the block.

return function(_, I)
  local Node = I.Node

  -- One line a person can read: "blocked as expired: no heartbeat for 10012 ms
  -- (heartbeat_expiration_ms 10000), on the verdict of c, 2.3 s ago".
  local function sentence(r)
    if r.status == "alive" then return "alive" end
    local s = (r.status == "removed" and "removed (state purged) after being blocked as "
      or "blocked as ") .. tostring(r.reason)
    if r.detail then s = s .. ": " .. r.detail end
    if r.blocked_by then s = s .. ", on the verdict of " .. r.blocked_by end
    if r.blocked_for_ms then s = s .. (", %.1f s ago"):format(r.blocked_for_ms / 1000) end
    return s
  end

  -- Why member_id is blocked, as this node sees it: a table { member, status ("alive",
  -- "blocked", "left", "removed"), reason ("expired", "left", "policy", "topology"; nil
  -- while alive), detail (the words: the silence for an expiry, the string a policy
  -- returned), blocked_by (the member whose published verdict this node took over; nil
  -- for its own decision), blocked_for_ms, silence_ms (expired: the silence at the
  -- block), generation, text (all of it in one sentence) }. nil, message for a member
  -- this node does not know.
  function Node:why(member_id)
    local n = I.handle_of(self, "why")
    I.need_string("why", "member_id", member_id, 2)
    local rec = n:member(member_id)
    if not rec then return nil, "unknown member '" .. member_id .. "'" end
    local r = {
      member = member_id, status = rec.status, reason = rec.block_reason,
      detail = rec.block_detail, blocked_by = rec.blocked_by,
      blocked_for_ms = rec.blocked_for_ms, silence_ms = rec.block_silence_ms,
      generation = rec.generation,
    }
    r.text = sentence(r)
    return r
  end
end

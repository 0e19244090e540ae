-- rumor.consensus: node:register_consensus_check(key [, extractor] [, opts]): do the
-- live members agree on one key? Kept current from update and member events, never
-- polled (see rumor.keyview for the inputs).
--
-- Live members: status "alive", generation known, self included; blocked, left and
-- removed members take no part. extractor(value, member_id) -> string | number |
-- boolean, or nil for "no value" (default: the raw string). Values compare with Lua
-- equality (1 == 1.0). An extractor error, or another type (a table, NaN), is reported
-- (node log hook, metrics().callback_errors) once per value and counts as no value.
--   all-equal (default): reached when the live set is not empty, every live member
--     holds a value and all values are equal.
--   opts.quorum = k: reached when at least k live members hold one value. When several
--     values have k holders (possible for k <= half), the value with most holders wins,
--     then the smallest tostring, then the smallest type name: every node picks alike.
-- Unlike protoactor's check (research ANCHORS 1.6): a missing key is no value rather
-- than a default 0, any value may be agreed on (not only non-zero ones), and waiting
-- is event-driven rather than a 500 ms poll.
--
-- Holders are counted per value (value -> holders, holders -> values, and the top
-- count), so an update costs O(1) plus, in quorum mode, the values tied at the top.

local keyview = require("rumor.keyview")
local notify = require("rumor.notify")

-- The largest timeout a core timer takes (milliseconds in 32 bits).
local UINT32_MAX = 0xffffffff

return function(_, internal)   -- (rumor, internal): only Node methods are added
  local Node = internal.Node

  local Check = {}
  Check.__index = Check
  Check.__name = "rumor.consensus_check"

  local function identity(value) return value end

  -- nil when x can be agreed on, else what is wrong with it.
  local function accept(x)
    local t = type(x)
    if t == "string" or t == "boolean" then return nil end
    if t == "number" then
      if x ~= x then return "NaN (it equals nothing)" end
      return nil
    end
    return "a " .. t .. " (a consensus value is a string, number or boolean)"
  end

  local function add_holder(c, v)
    local n = c._holders[v] or 0
    local by = c._by_holders
    if n > 0 then
      by[n][v] = nil
      if next(by[n]) == nil then by[n] = nil end
    end
    n = n + 1
    c._holders[v] = n
    by[n] = by[n] or {}
    by[n][v] = true
    if n > c._top then c._top = n end
  end

  local function drop_holder(c, v)
    local n = c._holders[v]
    local by = c._by_holders
    by[n][v] = nil
    if next(by[n]) == nil then
      by[n] = nil
      if n == c._top then c._top = n - 1 end   -- v itself is at n - 1 now (or gone at 0)
    end
    if n > 1 then
      by[n - 1] = by[n - 1] or {}
      by[n - 1][v] = true
      c._holders[v] = n - 1
    else
      c._holders[v] = nil
    end
  end

  -- The deterministic pick among tied values.
  local function before(a, b)
    local sa, sb = tostring(a), tostring(b)
    if sa ~= sb then return sa < sb end
    return type(a) < type(b)
  end

  -- reached, value of the counts as they are.
  local function evaluate(c)
    local eligible = c._view.eligible
    local needed = c.quorum or eligible
    if eligible == 0 or c._top == 0 or c._top < needed then return false, nil end
    local best
    for v in pairs(c._by_holders[c._top]) do
      if best == nil or before(v, best) then best = v end
    end
    return true, best
  end

  local function resolve_waiters(c, ok, value, reason)
    local list = {}
    for finish in pairs(c._waiters) do list[#list + 1] = finish end
    for _, finish in ipairs(list) do finish(ok, value, reason) end
  end

  -- Edge-triggered: subscribers hear only of changes of (reached, value).
  local function settle(c)
    local reached, value = evaluate(c)
    if reached == c._reached and value == c._value then return end
    local previous = c._value
    c._reached, c._value = reached, value
    c._notifier:push(table.pack(reached, value, previous), reached and function()
      resolve_waiters(c, true, value)
    end or nil)
  end

  local METHOD = "register_consensus_check"

  -- Registers a check on key (see the top of this file). Fires nothing now: result()
  -- gives the state at registration.
  function Node:register_consensus_check(key, extractor, opts)
    internal.handle_of(self, METHOD)
    internal.need_own_key(METHOD, "key", key, 2)
    if extractor ~= nil and type(extractor) ~= "function" then
      error(("rumor: %s: argument 'extractor' must be a function or nil, got %s")
        :format(METHOD, type(extractor)), 2)
    end
    opts = internal.check_options(METHOD, opts, { quorum = "number" }, 2)
    local quorum = opts.quorum and math.tointeger(opts.quorum)
    if opts.quorum ~= nil and (not quorum or quorum < 1) then
      error(("rumor: %s: option 'quorum' must be an integer >= 1, got %s")
        :format(METHOD, tostring(opts.quorum)), 2)
    end
    local c = setmetatable({ key = key, quorum = quorum, _owner = notify.owner(self),
      _holders = {}, _by_holders = {}, _top = 0, _reached = false, _waiters = {},
      _removed = false }, Check)
    c._notifier = notify.new(internal, c._owner, "on_change of consensus check '" .. key .. "'")
    c._view = keyview.new(internal, self, key, {
      label = "consensus check '" .. key .. "'", extractor = extractor or identity,
      accept = accept,
      change = function(_, old, new)
        if old ~= nil then drop_holder(c, old) end
        if new ~= nil then add_holder(c, new) end
      end,
      settle = function() settle(c) end,
    })
    c._reached, c._value = evaluate(c)
    return c
  end

  local function need_check(self, method)
    if getmetatable(self) ~= Check then
      error("rumor: " .. method .. ": call it as check:" .. method .. "(...)", 3)
    end
  end

  -- reached (boolean), value (nil when not reached).
  function Check:result()
    need_check(self, "result")
    return self._reached, self._value
  end

  -- fn(reached, value, previous_value) on every change of (reached, value); not at
  -- registration. Errors are reported like other callbacks'. Returns a handle with
  -- :cancel().
  function Check:on_change(fn)
    need_check(self, "on_change")
    internal.need_function("on_change", fn, 2)
    return self._notifier:add(fn)
  end

  -- Waits until reached: returns the value (at once when reached already), or nil,
  -- "timeout" | "removed" | "cancelled" (the node closed). timeout_ms: nil waits
  -- without a limit. Yields inside rumor.spawn, else drives the loop (not allowed in
  -- a callback). A value may be false: tell success by the second result being nil.
  function Check:wait(timeout_ms)
    need_check(self, "wait")
    local ms = type(timeout_ms) == "number" and math.tointeger(timeout_ms)
    if timeout_ms ~= nil and (not ms or ms < 0 or ms > UINT32_MAX) then
      error(("rumor: wait: argument 'timeout_ms' must be an integer in 0..%d or nil, got %s")
        :format(UINT32_MAX, tostring(timeout_ms)), 2)
    end
    if self._reached then return self._value end
    if self._removed then return nil, "removed" end
    local node = self._owner.node
    if not node or node._closed then return nil, "cancelled" end
    local finish, timer
    -- However the wait ends (an error too), the waiter and its timer go with it.
    local _ <close> = setmetatable({}, { __close = function()
      if timer then timer:stop() end
      if finish then self._waiters[finish] = nil end
    end })
    local result = internal.wait_for(node, "wait", "wait", function(resolve)
      finish = resolve
      self._waiters[resolve] = true
      if ms then
        timer = internal.core.timer(ms, 0, function()
          timer = nil
          resolve(false, nil, "timeout")
        end)
      end
      return true
    end, 2)
    if result.ok then return result.missing end   -- resolve(true, value): value rides in `missing`
    return nil, result.reason or "cancelled"
  end

  -- Unregisters the check: no more changes; waiters return nil, "removed". Idempotent.
  function Check:remove()
    need_check(self, "remove")
    if self._removed then return end
    self._removed = true
    self._view:close()
    self._notifier:close()
    resolve_waiters(self, false, nil, "removed")
  end

  function Node:remove_consensus_check(check)
    internal.handle_of(self, "remove_consensus_check")
    if getmetatable(check) ~= Check or check._owner.node ~= self then
      error("rumor: remove_consensus_check: argument 'check' must be a consensus check of "
        .. "this node, got " .. (getmetatable(check) == Check and "another node's" or type(check)), 2)
    end
    check:remove()
  end
end

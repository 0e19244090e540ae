-- rumor.aggregate: node:aggregate(key, reducer [, opts]): a live view of one value
-- reduced over every member's value of key (a cluster-wide counter is "sum"), updated
-- from update and member events as they come (see rumor.keyview for the inputs).
--
-- reducer: "sum" (0 when nobody holds a value), "count" (members holding a value),
--   "min", "max", "mean" (nil when nobody holds one); or a table {init, add = fn(acc,
--   value, member) -> acc, remove = fn(acc, value, member) -> acc}, applied as each
--   value comes and goes (a change is remove then add; order of members is not
--   guaranteed, so make it commutative); or fn(values) -> result, values = {member =
--   value}, run again after every change (O(N) each time).
-- opts.extract = fn(value, member) -> any (nil: no value). Default: tonumber for sum,
--   min, max and mean, the raw string otherwise. A value the numeric builtins cannot
--   use (not a number, NaN) and an extract error are reported once per value (node log
--   hook, metrics().callback_errors) and count as no value.
-- opts.members = "live" (default: alive, unblocked, self included) or "all" (every
--   member whose state this node holds, blocked and left ones too).

local keyview = require("rumor.keyview")
local notify = require("rumor.notify")
local reducers = require("rumor.reducers")

local METHOD = "aggregate"

return function(_, internal)   -- (rumor, internal): only Node methods are added
  local Node = internal.Node

  local Aggregate = {}
  Aggregate.__index = Aggregate
  Aggregate.__name = "rumor.aggregate"

  local function identity(value) return value end

  -- The default extractor of the numeric builtins: a value that does not read as a
  -- number is handed on as it is, so that accept reports it instead of dropping it.
  local function number_or_raw(value) return tonumber(value) or value end

  local function accept_number(x)
    if type(x) ~= "number" then return "a " .. type(x) .. ", not a number" end
    if x ~= x then return "NaN, not a number" end
    return nil
  end

  local function accept_any() return nil end

  local REDUCER_KINDS = 'one of "sum", "count", "min", "max", "mean", a table '
    .. "{init, add, remove} or a function"

  -- The accumulator for reducer; fail(message, which) reports a user step's error.
  local function accumulator(reducer, fail, level)
    local t = type(reducer)
    if t == "string" then
      local make = reducers.builtin[reducer]
      if not make then
        error(("rumor: %s: argument 'reducer' must be %s, got \"%s\"")
          :format(METHOD, REDUCER_KINDS, reducer), level + 1)
      end
      return make()
    elseif t == "table" then
      for _, name in ipairs{ "add", "remove" } do
        if type(reducer[name]) ~= "function" then
          error(("rumor: %s: argument 'reducer': field '%s' must be a function, got %s")
            :format(METHOD, name, type(reducer[name])), level + 1)
        end
      end
      return reducers.incremental(reducer, fail)
    elseif t == "function" then
      return reducers.whole(reducer, fail)
    end
    error(("rumor: %s: argument 'reducer' must be %s, got %s"):format(METHOD, REDUCER_KINDS, t),
      level + 1)
  end

  local function settle(agg)
    local value = agg._acc.result(agg._view.counted)
    if value == agg._value then return end
    local previous = agg._value
    agg._value = value
    agg._notifier:push(table.pack(value, previous))
  end

  -- Starts an aggregate of key (see the top of this file). Returns an object with
  -- :value(), :values(), :on_change(fn), :cancel().
  function Node:aggregate(key, reducer, opts)
    internal.handle_of(self, METHOD)
    internal.need_own_key(METHOD, "key", key, 2)
    opts = internal.check_options(METHOD, opts, { extract = "function", members = "string" }, 2)
    if opts.members ~= nil and opts.members ~= "live" and opts.members ~= "all" then
      error(('rumor: %s: option \'members\' must be "live" or "all", got "%s"')
        :format(METHOD, opts.members), 2)
    end
    local owner = notify.owner(self)
    local name = type(reducer) == "string" and reducer or type(reducer)
    local label = ("aggregate '%s' (%s)"):format(key, name)
    local acc = accumulator(reducer, function(message, which)
      notify.report(internal, owner, message, which .. " of " .. label)
    end, 2)
    local numeric = type(reducer) == "string" and reducers.numeric[reducer]
    local agg = setmetatable({ key = key, reducer = name, _owner = owner, _acc = acc,
                               _cancelled = false }, Aggregate)
    agg._notifier = notify.new(internal, owner, "on_change of " .. label)
    agg._view = keyview.new(internal, self, key, {
      label = label, all = opts.members == "all",
      extractor = opts.extract or (numeric and number_or_raw or identity),
      accept = numeric and accept_number or accept_any,
      change = acc.change,
      settle = function() settle(agg) end,
    })
    agg._value = acc.result(agg._view.counted)
    return agg
  end

  local function need_aggregate(self, method)
    if getmetatable(self) ~= Aggregate then
      error("rumor: " .. method .. ": call it as aggregate:" .. method .. "(...)", 3)
    end
  end

  -- The reduced value now.
  function Aggregate:value()
    need_aggregate(self, "value")
    return self._value
  end

  -- A copy of the values reduced: {member = extracted value}.
  function Aggregate:values()
    need_aggregate(self, "values")
    return self._view:values()
  end

  -- fn(value, previous) whenever the reduced value changes (not at creation; a
  -- function reducer returning a new table each time changes every time). Returns a
  -- handle with :cancel().
  function Aggregate:on_change(fn)
    need_aggregate(self, "on_change")
    internal.need_function("on_change", fn, 2)
    return self._notifier:add(fn)
  end

  -- Stops following the key: value() keeps the last result. Idempotent.
  function Aggregate:cancel()
    need_aggregate(self, "cancel")
    if self._cancelled then return end
    self._cancelled = true
    self._view:close()
    self._notifier:close()
  end

  function Node:remove_aggregate(agg)
    internal.handle_of(self, "remove_aggregate")
    if getmetatable(agg) ~= Aggregate or agg._owner.node ~= self then
      error("rumor: remove_aggregate: argument 'aggregate' must be an aggregate of this node, got "
        .. (getmetatable(agg) == Aggregate and "another node's" or type(agg)), 2)
    end
    agg:cancel()
  end
end

-- rumor.reducers: the accumulators behind node:aggregate. Each is
--   { change = fn(member, old, new), result = fn(counted) -> value }
-- where change hears of every counted value that changed (nil = none) and result
-- gives the aggregate after a batch of changes (counted = {member = value}, for the
-- ones that must look at every value).

local M = {}

-- The builtins that take numbers (the others take any value).
M.numeric = { sum = true, min = true, max = true, mean = true }

-- Integers and floats are summed apart, so that integer counters stay exact and float
-- rounding left over from values since removed vanishes when the last float goes.
local function summer()
  local ints, floats, float_holders, holders = 0, 0.0, 0, 0
  local function add(v, sign)
    holders = holders + sign
    if math.type(v) == "integer" then
      ints = ints + sign * v
    else
      floats = floats + sign * v
      float_holders = float_holders + sign
      if float_holders == 0 then floats = 0.0 end
    end
  end
  local s = {}
  function s.change(_, old, new)
    if old ~= nil then add(old, -1) end
    if new ~= nil then add(new, 1) end
  end
  function s.total()
    if float_holders > 0 then return ints + floats end
    return ints
  end
  function s.holders() return holders end
  return s
end

local function sum()
  local s = summer()
  return { change = s.change, result = s.total }
end

-- nil while nobody holds a value.
local function mean()
  local s = summer()
  return { change = s.change, result = function()
    local n = s.holders()
    if n == 0 then return nil end
    return s.total() / n
  end }
end

local function count()
  local holders = 0
  return {
    change = function(_, old, new)
      if old ~= nil then holders = holders - 1 end
      if new ~= nil then holders = holders + 1 end
    end,
    result = function() return holders end,
  }
end

-- min and max: the extreme and how many hold it. Only when its last holder lets go is
-- it found again, by one pass over the values, at the end of that batch.
local function extreme(beats)
  local best, best_holders, stale = nil, 0, false
  return {
    change = function(_, old, new)
      if stale then return end
      if old ~= nil and old == best then
        best_holders = best_holders - 1
        if best_holders == 0 then
          stale = true
          return
        end
      end
      if new ~= nil then
        if best == nil or beats(new, best) then
          best, best_holders = new, 1
        elseif new == best then
          best_holders = best_holders + 1
        end
      end
    end,
    result = function(counted)
      if stale then
        best, best_holders, stale = nil, 0, false
        for _, v in pairs(counted) do
          if best == nil or beats(v, best) then
            best, best_holders = v, 1
          elseif v == best then
            best_holders = best_holders + 1
          end
        end
      end
      return best
    end,
  }
end

-- The builtins by name, each a function making a fresh accumulator.
M.builtin = {
  sum = sum, mean = mean, count = count,
  min = function() return extreme(function(a, b) return a < b end) end,
  max = function() return extreme(function(a, b) return a > b end) end,
}

-- A user's incremental reducer {init, add = fn(acc, value, member) -> acc, remove =
-- fn(acc, value, member) -> acc}. A change is remove(old) then add(new). A step that
-- raises is reported (fail(message, which)) and skipped: the accumulator stays as it was.
function M.incremental(spec, fail)
  local acc = spec.init
  local function step(which, fn, value, member)
    local ok, r = xpcall(fn, debug.traceback, acc, value, member)
    if ok then acc = r else fail(r, which) end
  end
  return {
    change = function(member, old, new)
      if old ~= nil then step("remove", spec.remove, old, member) end
      if new ~= nil then step("add", spec.add, new, member) end
    end,
    result = function() return acc end,
  }
end

-- A user's function fn(values) -> result, values = {member = value} (a fresh copy):
-- called again after every batch of changes, so O(N) per update. An error is reported
-- and the previous result stays.
function M.whole(fn, fail)
  local last
  return {
    change = function() end,
    result = function(counted)
      local copy = {}
      for member, v in pairs(counted) do copy[member] = v end
      local ok, r = xpcall(fn, debug.traceback, copy)
      if ok then last = r else fail(r, "reducer") end
      return last
    end,
  }
end

return M

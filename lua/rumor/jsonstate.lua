-- rumor.jsonstate: JSON values in state. node:set_json(key, value) writes a Lua value
-- as JSON text (lua-cjson through rumor.json: integers exact, floats with the digits
-- that read back the same number); node:get_json(key) decodes every member's value,
-- leaving out (and logging once, at "warn") those that are not valid JSON.

local json = require("rumor.json")

-- cjson's own nesting limit: deeper is a runaway structure, not a configuration.
local MAX_DEPTH = 1000

return function(rumor, internal)
  local Node = internal.Node

  -- JSON's null, as set_json takes it and get_json gives it (cjson.null).
  rumor.json_null = json.null

  -- Why v cannot be written as JSON (a message naming where in v), or nil.
  local function unencodable(v, path, depth, open)
    local t = type(v)
    if t == "string" or t == "boolean" or v == json.null then return nil end
    if t == "number" then
      if v ~= v then return path .. " is NaN (JSON has none)" end
      if v == math.huge or v == -math.huge then
        return path .. " is " .. (v > 0 and "" or "-") .. "infinity (JSON has none)"
      end
      return nil
    end
    if t ~= "table" then return path .. " is a " .. t end
    if open[v] then return path .. " contains itself" end
    if depth >= MAX_DEPTH then return path .. " is nested deeper than " .. MAX_DEPTH end
    open[v] = true
    for k, x in pairs(v) do
      local where
      if type(k) == "string" then
        where = path .. "." .. k
      elseif math.type(k) == "integer" then
        where = path .. "[" .. k .. "]"
      else
        return path .. " has a key that is a " .. (math.type(k) or type(k))
          .. " (" .. tostring(k) .. "); JSON keys are strings"
      end
      local why = unencodable(x, where, depth + 1, open)
      if why then return why end
    end
    open[v] = nil   -- the same table twice (not inside itself) is fine
    return nil
  end

  -- Publishes value (a table, number, string, boolean or rumor.json_null) as JSON
  -- under key. Returns the new seq.
  function Node:set_json(key, value)
    internal.handle_of(self, "set_json")
    internal.need_own_key("set_json", "key", key, 2)
    local why = unencodable(value, "value", 0, {})
    if why then
      error(("rumor: set_json: key '%s': cannot encode as JSON: %s"):format(key, why), 2)
    end
    local ok, text = pcall(json.encode, value, { exact_floats = true })
    if not ok then
      error(("rumor: set_json: key '%s': cannot encode as JSON: %s"):format(key, tostring(text)), 2)
    end
    return (internal.set_value(self, "set_json", key, text, 2))
  end

  -- Warns once per (member, seq) of key: a member that writes the same bad text
  -- again (a new seq) is reported again, a repeated read is not.
  local function warn_bad(self, n, key, member, err)
    local _, seq = n:get_entry(member, key)
    local warned = self._json_warned
    if not warned then
      warned = {}
      self._json_warned = warned
    end
    local by_member = warned[key]
    if not by_member then
      by_member = {}
      warned[key] = by_member
    end
    if by_member[member] == seq then return end
    by_member[member] = seq
    internal.emit_log(self, { level = "warn", message = ("get_json: key '%s' of member '%s' "
      .. "(seq %s) is not valid JSON, left out: %s"):format(key, member, tostring(seq), err) })
  end

  -- { [member_id] = decoded value } over the members that hold key as valid JSON.
  -- Integers beyond 2^53 come back as floats (cjson decodes numbers as doubles).
  function Node:get_json(key)
    local n = internal.handle_of(self, "get_json")
    internal.need_string("get_json", "key", key, 2)
    local out = {}
    for member, text in pairs(n:get(key)) do
      local v, err = json.decode(text)
      if v == nil then
        warn_bad(self, n, key, member, err)
      else
        out[member] = v
      end
    end
    return out
  end
end

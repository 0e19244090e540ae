-- rumor.json: JSON for the agent protocol. Decoding is lua-cjson's; encoding uses
-- cjson for strings and floats but writes Lua integers exactly (cjson rounds them to
-- 14 digits, which would corrupt generations and large sequence numbers).

local cjson = require("cjson")

-- A table with the metatable M.array is written as an array even when empty ([]).
local M = { null = cjson.null, array = {} }

local encode

-- Set for one M.encode call with { exact_floats = true }.
local exact_floats = false

-- The shortest of 14..17 significant digits that reads back as the same double
-- (cjson writes 14, so 0.1 + 0.2 would come back as 0.3). NaN and infinities are left
-- to cjson, which refuses them.
local function float_text(v)
  if v ~= v or v == math.huge or v == -math.huge then return cjson.encode(v) end
  for digits = 14, 16 do
    local text = ("%." .. digits .. "g"):format(v)
    if tonumber(text) == v then return text end
  end
  return ("%.17g"):format(v)
end

-- Object keys are sorted, with the ones that say what a line is first.
local RANK = { event = 1, reply = 2, id = 3, ok = 4 }
local function by_rank(a, b)
  local ra, rb = RANK[a] or 99, RANK[b] or 99
  if ra ~= rb then return ra < rb end
  return a < b
end

local function is_array(t)
  if getmetatable(t) == M.array then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

function encode(v, out)
  local tv = type(v)
  if tv == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    elseif exact_floats then
      out[#out + 1] = float_text(v)
    else
      out[#out + 1] = cjson.encode(v)
    end
  elseif tv == "table" then
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys, vals = {}, {}
      for k, val in pairs(v) do
        local name = tostring(k)
        keys[#keys + 1] = name
        vals[name] = val
      end
      table.sort(keys, by_rank)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = cjson.encode(k)
        out[#out + 1] = ":"
        encode(vals[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    out[#out + 1] = cjson.encode(v)   -- strings, booleans, cjson.null; raises on others
  end
end

-- Encodes v on one line. Empty tables become {}. opts.exact_floats: floats with as many
-- digits as reading them back exactly takes (else cjson's 14).
function M.encode(v, opts)
  local out = {}
  exact_floats = type(opts) == "table" and opts.exact_floats == true
  local ok, err = pcall(encode, v, out)
  exact_floats = false
  if not ok then error(err, 0) end
  return table.concat(out)
end

-- cjson decodes every number as a float; whole numbers that a double holds exactly
-- become Lua integers again, so seq == 1 prints as 1, not 1.0.
local EXACT = 2 ^ 53
local function integers(v)
  if type(v) == "number" then
    if math.type(v) == "float" and v == math.floor(v) and v >= -EXACT and v <= EXACT then
      return math.tointeger(v)
    end
  elseif type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
  end
  return v
end

-- Decodes one JSON text; returns value or nil, error message.
function M.decode(s)
  local ok, v = pcall(cjson.decode, s)
  if not ok then return nil, tostring(v) end
  return integers(v)
end

return M

-- rumor.config: checks the table given to rumor.new and fills in the defaults; reads
-- configs from JSON files with RUMOR_* environment overrides (load_config, at the end).
--
-- Types, ranges and unknown keys are checked here; the core checks the ranges again
-- (rumor_config_check in core/src/node.c), and spec/config_spec.lua keeps the two in step.
-- Every error reads "rumor.new: field 'NAME': reason" (load_config names the file or
-- the variable instead of rumor.new) and is raised at the level the caller asks for, so
-- it points at the user's call.

local M = {}

local UINT32_MAX = 0xffffffff

M.defaults = {
  cluster = "default",
  bind = "127.0.0.1:0",
  gossip_interval_ms = 500,
  gossip_request_timeout_ms = 2000,
  gossip_fan_out = 3,
  gossip_max_send = 50,
  heartbeat_expiration_ms = 10000,
}

-- Parses "host:port" or "[v6]:port". Returns host, port or nil, reason.
function M.parse_address(s)
  local host, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not host then
    host, port = s:match("^([^:%[%]]+):(%d+)$")
  end
  if not host then
    return nil, "expected \"host:port\", got \"" .. s .. "\""
  end
  port = tonumber(port)
  if port > 65535 then
    return nil, "port out of range in \"" .. s .. "\""
  end
  return host, port
end

-- Who reports a bad field: "rumor.new", or load_config's file or variable. Set on
-- entry to every check (checks never yield, so one at a time).
local who = "rumor.new"

local function fail(name, reason, level)
  error(who .. ": field '" .. name .. "': " .. reason, level + 1)
end

-- The checks below never end in a tail call to a helper that may fail: a tail call
-- drops the checker's frame, and the error would point one level too far.

-- Integers may arrive as integral floats (JSON decoders give floats).
local function integer(name, v, level, min)
  local i = math.type(v) == "integer" and v or (type(v) == "number" and math.tointeger(v))
  if not i then
    fail(name, "expected an integer, got " .. (type(v) == "number" and tostring(v) or type(v)), level + 1)
  end
  if i < min then
    fail(name, "must be >= " .. min .. ", got " .. i, level + 1)
  end
  return i
end

local function string_field(name, v, level)
  if type(v) ~= "string" then
    fail(name, "expected a string, got " .. type(v), level + 1)
  end
  if v == "" then
    fail(name, "must not be empty", level + 1)
  end
  return v
end

local function address(name, v, level, need_port)
  string_field(name, v, level + 1)
  local host, port = M.parse_address(v)
  if not host then
    fail(name, port, level + 1)
  end
  if need_port and port == 0 then
    fail(name, "port 0 in \"" .. v .. "\" cannot be joined", level + 1)
  end
  return v
end

-- An array's length, after checking it is one (a table with keys 1..n only); `what`
-- names its items in the message.
local function array(name, v, level, what)
  if type(v) ~= "table" then
    fail(name, "expected an array of " .. what .. ", got " .. type(v), level + 1)
  end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail(name, "expected an array, found key " .. tostring(k), level + 1)
    end
  end
  return n
end

local checks = {
  id = string_field,
  cluster = string_field,
  bind = function(name, v, level)
    local a = address(name, v, level + 1, false)
    return a
  end,
  seeds = function(name, v, level)
    local n = array(name, v, level + 1, "\"host:port\" strings")
    local out = {}
    for i = 1, n do
      out[i] = address(name .. "[" .. i .. "]", v[i], level + 1, true)
    end
    return out
  end,
  generation = function(name, v, level)
    local i = integer(name, v, level + 1, 0)
    return i
  end,
  -- Liveness. Absent, the core's defaults apply ("expiration", 8.0, true, one hour).
  failure_detector = function(name, v, level)
    if v ~= "expiration" and v ~= "phi" then
      fail(name, "expected \"expiration\" or \"phi\", got "
        .. (type(v) == "string" and ("\"" .. v .. "\"") or type(v)), level + 1)
    end
    return v
  end,
  phi_threshold = function(name, v, level)
    if type(v) ~= "number" then
      fail(name, "expected a number, got " .. type(v), level + 1)
    end
    if not (v > 0 and v < math.huge) then
      fail(name, "must be a finite number > 0, got " .. tostring(v), level + 1)
    end
    if v > M.MAX_PHI_THRESHOLD then
      fail(name, "must be <= " .. M.MAX_PHI_THRESHOLD .. ", got " .. tostring(v), level + 1)
    end
    return v
  end,
  auto_rejoin = function(name, v, level)
    if type(v) ~= "boolean" then
      fail(name, "expected a boolean, got " .. type(v), level + 1)
    end
    return v
  end,
  -- The least severe log line a node reports (its on_log hook, or stderr): "warn"
  -- by default, so a quiet cluster writes nothing.
  -- Which loop runs the node: "rumor" (its own, the default) or "luv": an
  -- application's luv loop hosts rumor's (lua/rumor/luv.lua), so luv must be installed.
  loop = function(name, v, level)
    if v ~= "rumor" and v ~= "luv" then
      fail(name, "expected \"rumor\" or \"luv\", got "
        .. (type(v) == "string" and ("\"" .. v .. "\"") or type(v)), level + 1)
    end
    if v == "luv" then
      -- (on the main thread: luv runs its callbacks on the thread that loaded it)
      local ok, err = pcall(require("rumor.core").require_main, "luv")
      if not ok then
        fail(name, "\"luv\" needs the luv module, which cannot be loaded (Debian: apt-get "
          .. "install lua-luv): " .. tostring(err):match("^[^\n]*"), level + 1)
      end
    end
    return v
  end,
  log_level = function(name, v, level)
    if v ~= "debug" and v ~= "info" and v ~= "warn" and v ~= "error" then
      fail(name, "expected \"debug\", \"info\", \"warn\" or \"error\", got "
        .. (type(v) == "string" and ("\"" .. v .. "\"") or type(v)), level + 1)
    end
    return v
  end,
  -- Encryption: one shared key, or a keyring whose first key seals (all open). Keys
  -- are never echoed in errors.
  secret = function(name, v, level)
    local k = M.key(name, v, level + 1)
    return k
  end,
  keyring = function(name, v, level)
    local n = array(name, v, level + 1, "keys")
    if n == 0 then
      fail(name, "is empty (leave it out for no encryption)", level + 1)
    end
    if n > M.MAX_KEYRING then
      fail(name, "holds at most " .. M.MAX_KEYRING .. " keys, got " .. n, level + 1)
    end
    local out = {}
    for i = 1, n do
      out[i] = M.key(name .. "[" .. i .. "]", v[i], level + 1)
    end
    return out
  end,
  -- Dissemination. Absent, the core's defaults apply ("epidemic", 2, no rate limit).
  broadcast = function(name, v, level)
    if v ~= "epidemic" and v ~= "tree" then
      fail(name, "expected \"epidemic\" or \"tree\", got "
        .. (type(v) == "string" and ("\"" .. v .. "\"") or type(v)), level + 1)
    end
    return v
  end,
}

-- Keys a keyring holds at once (rumor.h's RUMOR_MAX_KEYRING): a rotation needs two or three.
M.MAX_KEYRING = 16

-- Checks one key: base64 of 32 bytes (44 characters, as `rumor keygen` prints) or 64
-- hex digits. The message says what is wrong without repeating the key.
function M.key_problem(v)
  if type(v) ~= "string" then
    return "expected a key (a string), got " .. type(v)
  end
  if not ((#v == 44 and v:match("^[%w+/]+=$")) or (#v == 64 and v:match("^%x+$"))) then
    return "must be 32 bytes as base64 (44 characters) or hex (64 digits), got "
      .. #v .. " characters that are neither (make one with `rumor keygen`)"
  end
end

function M.key(name, v, level)
  local problem = M.key_problem(v)
  if problem then fail(name, problem, level + 1) end
  return v
end

-- A tree wider than 16 is a flood from every node, with none of a tree's economy.
M.MAX_BROADCAST_BRANCHING = 16
-- An hour bounds every period, as in the core.
M.MAX_RATE_LIMIT_INTERVAL_MS = 3600000
-- phi that high is never reached (the core's bound).
M.MAX_PHI_THRESHOLD = 1000

local function uint32(name, v, level, min)
  local i = integer(name, v, level + 1, min)
  if i > UINT32_MAX then
    fail(name, "must be <= " .. UINT32_MAX .. ", got " .. i, level + 1)
  end
  return i
end

-- { min, max } of the integer fields: the core's ranges (rumor_config_check), except
-- that a max_value_size of 0, which only empty values would fit, is refused here.
local HOUR, DAY, WEEK = 3600000, 86400000, 604800000
M.ranges = {
  gossip_interval_ms = { 1, HOUR },          -- an hour bounds every period
  gossip_request_timeout_ms = { 1, HOUR },
  gossip_fan_out = { 1, 1024 },              -- more peers than that is a broadcast storm
  gossip_max_send = { 1, 65535 },            -- entries per answer: a datagram holds fewer
  heartbeat_expiration_ms = { 0, DAY },      -- 0 turns the expiration detector off
                                             -- (protoactor-dotnet's switch, #2004)
  mtu = { 576, 65507 },                      -- IPv4's minimum datagram .. UDP's largest payload
  max_value_size = { 1, 64 * 1024 * 1024 },  -- 64 MiB: values are state, not bulk data
  tombstone_grace_ms = { 1, WEEK },          -- longer keeps deletes for no partition we heal
  blocked_retention_ms = { 1, WEEK },
  replay_window_ms = { 0, DAY },             -- 0: only the per-member replay window;
                                             -- further apart than a day, clocks are broken
  -- Limits on what the network can make a node take in (the core's "Limits").
  max_members = { 2, 1 << 24 },              -- itself and one other .. a database of its own
  max_keys_per_member = { 1, 100000000 },    -- entries per member, deletes not yet purged too
  max_datagram_size = { 576, 65507 },        -- at least mtu (checked below)
  recv_budget = { 0, 1000000 },              -- datagrams/s per source address; 0: off
  max_tcp_connections = { 1, 4096 },         -- inbound at once; more descriptors than ulimit -n
  max_stream_bytes = { 64 * 1024, UINT32_MAX }, -- per inbound connection; >= one 64 KiB frame
}

-- The core's default mtu, for the rule that max_datagram_size is at least mtu when
-- only one of them is given (load_config_spec checks it against the core).
M.DEFAULT_MTU = 1400

for name, range in pairs(M.ranges) do
  checks[name] = function(_, v, level)
    local i = uint32(name, v, level + 1, range[1])
    if i > range[2] then
      fail(name, "must be <= " .. range[2] .. ", got " .. i, level + 1)
    end
    return i
  end
end

checks.broadcast_branching = function(name, v, level)
  local i = integer(name, v, level + 1, 1)
  if i > M.MAX_BROADCAST_BRANCHING then
    fail(name, "must be <= " .. M.MAX_BROADCAST_BRANCHING .. ", got " .. i, level + 1)
  end
  return i
end

-- rate_limit = { tokens = N, interval_ms = MS }: Riak's gossip limit, N sends that
-- spread news per window of MS (10000 when absent); tokens = 0 turns it off.
checks.rate_limit = function(name, v, level)
  if type(v) ~= "table" then
    fail(name, "expected a table { tokens = N, interval_ms = MS }, got " .. type(v), level + 1)
  end
  for k in pairs(v) do
    if k ~= "tokens" and k ~= "interval_ms" then
      fail(name .. "." .. tostring(k), "unknown field (known: interval_ms, tokens)", level + 1)
    end
  end
  if v.tokens == nil then
    fail(name .. ".tokens", "required (sends per window; 0 turns the limit off)", level + 1)
  end
  local out = { tokens = uint32(name .. ".tokens", v.tokens, level + 1, 0) }
  if v.interval_ms ~= nil then
    out.interval_ms = integer(name .. ".interval_ms", v.interval_ms, level + 1, 1)
    if out.interval_ms > M.MAX_RATE_LIMIT_INTERVAL_MS then
      fail(name .. ".interval_ms", "must be <= " .. M.MAX_RATE_LIMIT_INTERVAL_MS .. ", got "
        .. out.interval_ms, level + 1)
    end
  end
  return out
end

-- The names rumor.new accepts, sorted (for messages and docs).
M.fields = {}
for name in pairs(checks) do M.fields[#M.fields + 1] = name end
table.sort(M.fields)

-- Returns a new, checked table with the defaults filled in. `level` is the error
-- level of the user's call as seen from the caller of check (1 = the caller itself).
-- `caller` replaces "rumor.new" at the head of the messages.
function M.check(cfg, level, caller)
  level = (level or 1) + 1
  who = caller or "rumor.new"
  if type(cfg) ~= "table" then
    error(who .. ": expected a config table, got " .. type(cfg), level)
  end
  for k in pairs(cfg) do
    if type(k) ~= "string" or not checks[k] then
      error(who .. ": field '" .. tostring(k) .. "': unknown field (known: "
        .. table.concat(M.fields, ", ") .. ")", level)
    end
  end
  if cfg.id == nil then
    fail("id", "required (a non-empty string naming this member)", level)
  end
  local out = {}
  for name, v in pairs(cfg) do
    out[name] = checks[name](name, v, level)
  end
  for name, v in pairs(M.defaults) do
    if out[name] == nil then out[name] = v end
  end
  if #out.id > 128 then
    fail("id", "longer than 128 bytes", level)
  end
  if #out.cluster > 64 then
    fail("cluster", "longer than 64 bytes", level)
  end
  if out.secret ~= nil and out.keyring ~= nil then
    fail("secret", "give secret or keyring, not both", level)
  end
  -- Heartbeats need a round or more to arrive, and a round may run late: an
  -- expiration under three intervals blocks healthy members over and over (the core's rule).
  local expiration, interval = out.heartbeat_expiration_ms, out.gossip_interval_ms
  if expiration ~= 0 and expiration < 3 * interval then
    fail("heartbeat_expiration_ms", ("must be 0 (off) or at least 3 gossip intervals, %d ms "
      .. "(got %d)"):format(3 * interval, expiration), level)
  end
  -- A node must take datagrams as large as its own (the core's rule).
  local mtu = out.mtu or M.DEFAULT_MTU
  if out.max_datagram_size and out.max_datagram_size < mtu then
    fail("max_datagram_size", ("must be at least mtu, %d (got %d)"):format(mtu,
      out.max_datagram_size), level)
  end
  return out
end

---------------------------------------------------------------------------
-- load_config(path [, env [, extra]]): a checked rumor.new config from a JSON file,
-- where environment variables RUMOR_<FIELD> (RUMOR_RATE_LIMIT_TOKENS and
-- RUMOR_RATE_LIMIT_INTERVAL_MS for the nested table) override the file's values.

-- How a variable's text is read, per field. A field missing here reads as a string.
M.kinds = {
  id = "string", cluster = "string", bind = "string", seeds = "list", loop = "string",
  generation = "integer", failure_detector = "string", phi_threshold = "number",
  auto_rejoin = "boolean", log_level = "string", broadcast = "string",
  broadcast_branching = "integer", rate_limit = "table", secret = "string", keyring = "list",
}
for name in pairs(M.ranges) do M.kinds[name] = "integer" end

-- The variables of the nested rate_limit table.
M.nested_env = {
  RUMOR_RATE_LIMIT_TOKENS = { "rate_limit", "tokens" },
  RUMOR_RATE_LIMIT_INTERVAL_MS = { "rate_limit", "interval_ms" },
}

local BOOLEANS = { ["true"] = true, ["1"] = true, ["false"] = false, ["0"] = false }

-- Returns the value of text for a field of kind, or nil, what was expected.
local function parse_env(kind, text)
  if kind == "integer" then
    local t = text:match("^%s*([+-]?%d+)%s*$")
    local i = t and math.tointeger(tonumber(t))
    if i then return i end
    return nil, "an integer"
  elseif kind == "number" then
    local n = tonumber(text)
    if n then return n end
    return nil, "a number"
  elseif kind == "boolean" then
    local b = BOOLEANS[text:match("^%s*(.-)%s*$")]
    if b ~= nil then return b end
    return nil, "true or false (or 1 or 0)"
  elseif kind == "list" then   -- "a:1, b:2"; empty: no items
    local items = {}
    for item in text:gmatch("[^,]+") do
      item = item:match("^%s*(.-)%s*$")
      if item ~= "" then items[#items + 1] = item end
    end
    return items
  end
  return text
end

-- "line L, column C" of a 1-based character offset in text.
local function position(text, offset)
  local line, col = 1, 1
  for i = 1, math.min(offset, #text + 1) - 1 do
    if text:sub(i, i) == "\n" then line, col = line + 1, 1 else col = col + 1 end
  end
  return line, col
end

local function read_json(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. tostring(err) end
  local text = f:read("a")
  f:close()
  local value, jerr = require("rumor.json").decode(text)
  if value == nil then
    local at = tonumber(tostring(jerr):match("at character (%d+)"))
    if at then
      local line, col = position(text, at)
      return nil, ("%s:%d:%d: invalid JSON: %s"):format(path, line, col, jerr)
    end
    return nil, path .. ": invalid JSON: " .. tostring(jerr)
  end
  if type(value) ~= "table" or (next(value) ~= nil and value[1] ~= nil) then
    return nil, path .. ": expected a JSON object of config fields"
  end
  return value
end

-- Reads path (JSON: an object of rumor.new's fields; a null field is absent), applies
-- the environment (env: a function like os.getenv, the default, or a table of
-- variables) and returns the checked config with the defaults filled in. extra = {
-- name = true, ... } names keys that belong to the caller (the agent's `script`): they
-- are taken out unchecked and returned as a second table. Errors name the file, or
-- the variable, and the field.
function M.load_config(path, env, extra)
  if type(path) ~= "string" then
    error("rumor.load_config: argument 'path' must be a string, got " .. type(path), 2)
  end
  local getenv = env == nil and os.getenv
    or type(env) == "function" and env
    or type(env) == "table" and function(k) return env[k] end
  if not getenv then
    error("rumor.load_config: argument 'env' must be a function or a table, got " .. type(env), 2)
  end
  if extra ~= nil and type(extra) ~= "table" then
    error("rumor.load_config: argument 'extra' must be a table, got " .. type(extra), 2)
  end
  local file, err = read_json(path)
  if not file then error("rumor.load_config: " .. err, 2) end

  local json_null = require("rumor.json").null
  local cfg, own = {}, {}
  for k, v in pairs(file) do
    if extra and extra[k] then
      own[k] = v
    elseif v ~= json_null then
      if type(k) ~= "string" or not checks[k] then
        error("rumor.load_config: " .. path .. ": field '" .. tostring(k)
          .. "': unknown field (known: " .. table.concat(M.fields, ", ") .. ")", 2)
      end
      cfg[k] = v
    end
  end

  local used = {}   -- the variables that were set, for the final check's messages
  for _, name in ipairs(M.fields) do
    local var = "RUMOR_" .. name:upper()
    local text = M.kinds[name] ~= "table" and getenv(var) or nil
    if text ~= nil then
      local v, expected = parse_env(M.kinds[name], tostring(text))
      if v == nil then
        error(("rumor.load_config: environment variable %s: expected %s for field '%s', got %q")
          :format(var, expected, name, tostring(text)), 2)
      end
      who = "rumor.load_config: environment variable " .. var
      cfg[name] = checks[name](name, v, 2)
      used[#used + 1] = var
    end
  end
  local nested = {}
  for var, place in pairs(M.nested_env) do
    local text = getenv(var)
    if text ~= nil then
      local field = place[1] .. "." .. place[2]
      local v = parse_env("integer", tostring(text))
      if v == nil then
        error(("rumor.load_config: environment variable %s: expected an integer for field "
          .. "'%s', got %q"):format(var, field, tostring(text)), 2)
      end
      nested[place[1]] = nested[place[1]] or { vars = {}, values = {} }
      table.insert(nested[place[1]].vars, var)
      nested[place[1]].values[place[2]] = v
    end
  end
  for name, n in pairs(nested) do
    local t = {}
    if type(cfg[name]) == "table" then
      for k, v in pairs(cfg[name]) do t[k] = v end
    end
    for k, v in pairs(n.values) do t[k] = v end
    table.sort(n.vars)
    who = "rumor.load_config: environment variable" .. (#n.vars > 1 and "s " or " ")
      .. table.concat(n.vars, ", ")
    cfg[name] = checks[name](name, t, 2)
    table.move(n.vars, 1, #n.vars, #used + 1, used)
  end

  local caller = "rumor.load_config: " .. path
  if #used > 0 then caller = caller .. " with " .. table.concat(used, ", ") end
  return M.check(cfg, 2, caller), own
end

return M

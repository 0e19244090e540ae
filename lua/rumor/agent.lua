-- rumor.agent: `rumor agent --config FILE.json`. Runs one node, prints its events as
-- JSON lines on stdout and answers JSON commands read from stdin, one per line.
-- It stops when told to (stop, or leave once the leave ends) or when stdin closes, so
-- it never outlives its parent.
--
-- The config file holds the fields of rumor.new plus the agent's own:
--   script   path of a Lua file (relative to the config file's directory) whose chunk
--            returns function(node, agent); it is called with the node before the node
--            starts, to install policies, stats functions, callbacks, ...; agent.emit(t)
--            writes the table t as one more JSON event line, so a script can report.

local rumor = require("rumor")
local core = require("rumor.core")
local json = require("rumor.json")

local M = {}

-- Lines are held back until "started" is out, so that it is always the first one
-- (a script may write state, and fire update events, before the node starts).
local held

local function emit(t)
  if held then
    held[#held + 1] = t
    return
  end
  core.write(1, json.encode(t) .. "\n")
end

local function usage_error(message)
  io.stderr:write("rumor agent: ", message, "\n",
                  "usage: rumor agent --config FILE.json\n")
  return 2
end

-- The JSON name of a value's kind, for error messages.
local function kind(v)
  if v == nil then return "nothing" end
  if v == json.null then return "null" end
  if type(v) == "table" then
    return (next(v) == nil or v[1] ~= nil) and "an array" or "an object"
  end
  if math.type(v) == "float" then return "a number with a fraction (" .. tostring(v) .. ")" end
  if math.type(v) == "integer" then return "an integer" end
  return "a " .. type(v)
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- Config fields that belong to the agent, not to rumor.new.
local AGENT_FIELDS = { script = true }

-- Reads the config file with rumor.load_config (checked like rumor.new, RUMOR_*
-- environment variables overriding the file); returns the rumor.new config and the
-- agent's own settings, or nil, message.
local function load_config(path)
  local ok, cfg, own = pcall(rumor.load_config, path, nil, AGENT_FIELDS)
  if not ok then return nil, (tostring(cfg):gsub("^rumor%.load_config: ", "")) end
  if own.script ~= nil then
    if type(own.script) ~= "string" or own.script == "" then
      return nil, ("config %s: field 'script' must be the path of a Lua file, got %s")
        :format(path, kind(own.script))
    end
    if own.script:sub(1, 1) ~= "/" then
      own.script = dirname(path) .. "/" .. own.script
    end
  end
  return cfg, own
end

-- What a script gets besides the node: emit(t) writes t as one JSON event line.
local script_side = {
  emit = function(t)
    if type(t) ~= "table" then
      error("agent.emit: argument 't' must be a table, got " .. type(t), 2)
    end
    emit(t)
  end,
}

-- Loads the script file and runs the function its chunk returns with the node and
-- script_side. Returns true or nil, message.
local function run_script(path, node)
  local chunk, err = loadfile(path, "t")
  if not chunk then return nil, "cannot load script: " .. err end
  local ok, fn = xpcall(chunk, debug.traceback, path)
  if not ok then return nil, "script " .. path .. " failed: " .. tostring(fn) end
  if type(fn) ~= "function" then
    return nil, ("script %s must return a function(node), it returned %s"):format(path, kind(fn))
  end
  local ran, ferr = xpcall(fn, debug.traceback, node, script_side)
  if not ran then return nil, "script " .. path .. " failed: " .. tostring(ferr) end
  return true
end

-- A handler's result meaning "the reply comes later" (it emits the reply itself).
local LATER = {}

-- Strips the location and method prefixes from an error, for replies.
local function reason(err)
  return (tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^rumor: [%w_]+: ", ""))
end

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

local function need_string(cmd, field)
  local v = cmd[field]
  if type(v) ~= "string" then
    fail("field '%s' must be a string, got %s", field, kind(v))
  end
  return v
end

-- The handler of a key command: node[method](node, cmd.key), its error the reply's.
local function key_command(node, method)
  return function(cmd)
    local ok, err = pcall(node[method], node, need_string(cmd, "key"))
    if not ok then fail("%s", reason(err)) end
    return {}
  end
end

-- A JSON array (a Lua sequence; [] decodes as an empty table).
local function need_array(cmd, field)
  local v = cmd[field]
  if type(v) ~= "table" then fail("field '%s' must be an array, got %s", field, kind(v)) end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("field '%s' must be an array, got an object", field)
    end
  end
  return v
end

-- {name = integer}: the counters set_stats hands to the heartbeats.
local MAX_STAT_NAME = 64
local function need_stats(cmd)
  local v = cmd.stats
  if type(v) ~= "table" or (next(v) ~= nil and v[1] ~= nil) then
    fail("field 'stats' must be an object of counters ({\"name\": integer}), got %s", kind(v))
  end
  local stats = {}
  for name, value in pairs(v) do
    if type(name) ~= "string" or name == "" or #name > MAX_STAT_NAME then
      fail("field 'stats': counter names must be 1 to %d bytes, got \"%s\"", MAX_STAT_NAME, tostring(name))
    end
    if math.type(value) ~= "integer" then
      fail("field 'stats': counter '%s' must be an integer, got %s", name, kind(value))
    end
    stats[name] = value
  end
  return stats
end

-- [{id = ..., address = ...}, ...] for set_topology.
local function need_peers(cmd)
  local list = need_array(cmd, "peers")
  local peers = {}
  for i, p in ipairs(list) do
    if type(p) ~= "table" or (next(p) ~= nil and p[1] ~= nil) then
      fail("field 'peers': entry %d must be an object {\"id\": ..., \"address\": ...}, got %s", i, kind(p))
    end
    for k in pairs(p) do
      if k ~= "id" and k ~= "address" then
        fail("field 'peers': entry %d has unknown field '%s' (a peer has id and address)", i, tostring(k))
      end
    end
    if type(p.id) ~= "string" or p.id == "" then
      fail("field 'peers': entry %d needs an 'id' string, got %s", i, kind(p.id))
    end
    local address = p.address
    if address == json.null then address = nil end
    if address ~= nil and type(address) ~= "string" then
      fail("field 'peers': entry %d: 'address' must be a \"host:port\" string, got %s", i, kind(address))
    end
    peers[i] = { id = p.id, address = address }
  end
  return peers
end

-- JSON has no infinity or NaN (phi grows without bound while a member is silent):
-- infinities become the largest double, NaN null.
local LARGEST = 1.7976931348623157e308
local function finite(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = finite(x) end
  elseif math.type(v) == "float" then
    if v ~= v then return json.null end
    if v == math.huge then return LARGEST end
    if v == -math.huge then return -LARGEST end
  end
  return v
end

-- The fields each command takes besides cmd and id; anything else is refused.
local FIELDS = {
  set = { "key", "value" },
  get = { "key" },
  delete = { "key" },
  set_map = { "key", "map_key", "value" },
  get_map = { "key", "map_key" },
  remove_map = { "key", "map_key" },
  map_keys = { "key", "member" },
  set_request = { "key", "value", "timeout_ms" },
  members = {},
  metrics = {},
  blocked = {},
  set_stats = { "stats" },
  set_topology = { "peers" },
  add_peer = { "address" },
  remove_peer = { "member" },   -- not "id": that one names the command
  why = { "member" },
  fault = { "peer", "loss", "delay_ms", "cut" },
  heal = {},
  install_key = { "key" },
  use_key = { "key" },
  remove_key = { "key" },
  keyring = {},
  leave = { "timeout_ms" },
  stop = {},
}
for name, list in pairs(FIELDS) do
  local set = { cmd = true, id = true }
  for _, f in ipairs(list) do set[f] = true end
  FIELDS[name] = { list = list, set = set }
end

local function check_fields(name, cmd)
  local fields = FIELDS[name]
  for k in pairs(cmd) do
    if not fields.set[k] then
      local takes = #fields.list == 0 and ("%s takes no fields"):format(name)
        or ("%s takes %s"):format(name, table.concat(fields.list, ", "))
      fail("unknown field '%s' (%s)", tostring(k), takes)
    end
  end
end

-- Builds the command handlers of one agent. st holds the node and the agent's state;
-- st.finish() ends the agent.
local function handlers(st)
  local node = st.node
  return {
    set = function(cmd)
      local key, value = need_string(cmd, "key"), need_string(cmd, "value")
      return { seq = node:set_state(key, value) }
    end,
    get = function(cmd)
      return { values = node:get_state(need_string(cmd, "key")) }
    end,
    delete = function(cmd)
      return { seq = node:delete_state(need_string(cmd, "key")) }
    end,
    set_map = function(cmd)
      local key, map_key = need_string(cmd, "key"), need_string(cmd, "map_key")
      return { seq = node:set_map_state(key, map_key, need_string(cmd, "value")) }
    end,
    get_map = function(cmd)
      return { values = node:get_map_state(need_string(cmd, "key"), need_string(cmd, "map_key")) }
    end,
    remove_map = function(cmd)
      return { seq = node:remove_map_state(need_string(cmd, "key"), need_string(cmd, "map_key")) }
    end,
    map_keys = function(cmd)
      local member = cmd.member
      if member ~= nil then member = need_string(cmd, "member") end
      return { keys = setmetatable(node:get_map_keys(need_string(cmd, "key"), member), json.array) }
    end,
    -- Replies when every live member holds the value, or on timeout / stop.
    set_request = function(cmd)
      local key, value = need_string(cmd, "key"), need_string(cmd, "value")
      local opts = cmd.timeout_ms ~= nil and { timeout_ms = cmd.timeout_ms } or nil
      rumor.spawn(function()
        local reply = { reply = "set_request", id = cmd.id }
        local ok, done, err, missing = pcall(node.set_state_request, node, key, value, opts)
        if not ok then
          reply.ok, reply.error = false, reason(done)
        elseif done then
          reply.ok = true
        else
          reply.ok, reply.error = false, err
          if missing then reply.missing = setmetatable(missing, json.array) end
        end
        emit(reply)
      end)
      return LATER
    end,
    members = function()
      return { members = finite(node:members()) }
    end,
    metrics = function()
      return { metrics = finite(node:metrics()) }
    end,
    blocked = function()
      return { blocked = setmetatable(node:get_blocked_members(), json.array) }
    end,
    -- Replaces the counters the heartbeats carry. The agent's stats function is
    -- installed on first use, so it replaces one a script installed.
    set_stats = function(cmd)
      st.stats = need_stats(cmd)
      if not st.stats_installed then
        node:set_heartbeat_stats(function() return st.stats end)
        st.stats_installed = true
      end
      return {}
    end,
    set_topology = function(cmd)
      node:set_topology(need_peers(cmd))
      return {}
    end,
    add_peer = function(cmd)
      node:add_peer(need_string(cmd, "address"))
      return {}
    end,
    remove_peer = function(cmd)
      node:remove_peer(need_string(cmd, "member"))
      return {}
    end,
    -- Why a member is blocked (node:why): { why = {status, reason, detail, ..., text} }.
    why = function(cmd)
      local w, err = node:why(need_string(cmd, "member"))
      if not w then fail("%s", err) end
      return { why = w }
    end,
    -- Fault injection (node:set_fault): every field optional; no peer sets the
    -- default for every peer. Replaces that peer's previous setting.
    fault = function(cmd)
      local ok, err = pcall(node.set_fault, node,
        { peer = cmd.peer, loss = cmd.loss, delay_ms = cmd.delay_ms, cut = cmd.cut })
      if not ok then fail("%s", (reason(err):gsub("^option '", "field '"))) end
      return {}
    end,
    -- Removes every fault (node:clear_faults).
    heal = function()
      node:clear_faults()
      return {}
    end,
    -- Key rotation (rumor.keyring): install the new key on every agent, then use it
    -- on every agent, then remove the old one. keyring lists fingerprints, not keys.
    install_key = key_command(node, "install_key"),
    use_key = key_command(node, "use_key"),
    remove_key = key_command(node, "remove_key"),
    keyring = function()
      return { keyring = setmetatable(node:keyring(), json.array) }
    end,
    -- Replies when the leave ends (ok, or error "timeout" / "cancelled"); the node is
    -- stopped then and the agent exits as after stop. A leave refused at once (a bad
    -- timeout_ms) leaves the agent running.
    leave = function(cmd)
      if st.leaving then fail("a leave is already under way") end
      local opts = cmd.timeout_ms ~= nil and { timeout_ms = cmd.timeout_ms } or nil
      local leaving = { id = cmd.id }
      st.leaving = leaving
      rumor.spawn(function()
        local ok, done, err = pcall(node.leave, node, opts)
        if leaving.replied then return end   -- the agent ended first and said so
        leaving.replied = true
        local reply = { reply = "leave", id = cmd.id }
        if not ok then
          reply.ok, reply.error = false, reason(done)
        elseif done then
          reply.ok = true
        else
          reply.ok, reply.error = false, err or "cancelled"
        end
        emit(reply)
        if ok or st.eof then
          st.finish()
        else
          st.leaving = nil
        end
      end)
      return LATER
    end,
    stop = function()
      return {}, st.finish
    end,
  }
end

-- Handles one input line; always answers with exactly one reply line.
local function handle_line(commands, line)
  if line:match("^%s*$") then return end
  local cmd, err = json.decode(line)
  if type(cmd) ~= "table" then
    emit{ reply = "error", ok = false, error = "bad command: " .. (err or "expected a JSON object") }
    return
  end
  local name = cmd.cmd
  local reply = { reply = type(name) == "string" and name or "error", id = cmd.id }
  local fn = type(name) == "string" and commands[name]
  if not fn then
    reply.ok = false
    reply.error = name == nil and "missing field 'cmd'" or ("unknown command '" .. tostring(name) .. "'")
    emit(reply)
    return
  end
  for k, v in pairs(cmd) do
    if v == json.null then cmd[k] = nil end   -- null reads as absent
  end
  local ok, result, after = pcall(function()
    check_fields(name, cmd)
    return fn(cmd)
  end)
  if ok and result == LATER then return end
  if not ok then
    reply.ok = false
    reply.error = reason(result)
  else
    reply.ok = true
    for k, v in pairs(result) do reply[k] = v end
  end
  emit(reply)
  if after then after() end
end

-- argv: the arguments after "agent". Returns the exit code.
function M.main(argv)
  local path
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "--config" or a == "-c" then
      path = argv[i + 1]
      if not path then return usage_error("--config needs a file") end
      i = i + 2
    elseif a:match("^%-%-config=") then
      path = a:sub(10)
      i = i + 1
    else
      return usage_error("unexpected argument '" .. a .. "'")
    end
  end
  if not path then return usage_error("missing --config FILE.json") end

  local cfg, own = load_config(path)
  if not cfg then
    io.stderr:write("rumor agent: ", own, "\n")
    return 1
  end
  local ok, node = pcall(rumor.new, cfg)
  if not ok then
    io.stderr:write("rumor agent: bad config ", path, ": ", tostring(node), "\n")
    return 1
  end

  held = {}
  node:on_update(function(u)
    emit{ event = "update", member = u.member, key = u.key, value = u.value, seq = u.seq,
          generation = u.generation, ["local"] = u["local"], deleted = u.deleted,
          map_key = u.map_key }
  end)
  -- Membership as this node sees it: joined, alive, blocked (with reason), removed,
  -- and rejoined (this node started a new generation after learning of its block).
  -- t_ms is the node's loop clock when it happened.
  node:on_member(function(ev)
    emit{ event = "member", type = ev.type, member = ev.member, generation = ev.generation,
          reason = ev.reason ~= "" and ev.reason or nil, t_ms = rumor.now() }
  end)

  if own.script then
    local sok, serr = run_script(own.script, node)
    if not sok then
      held = nil
      io.stderr:write("rumor agent: ", serr, "\n")
      node:close()
      return 1
    end
  end

  local started, serr = pcall(node.start, node)
  if not started then
    held = nil
    io.stderr:write("rumor agent: cannot start: ", tostring(serr), "\n")
    node:close()
    return 1
  end

  local st = { node = node, done = false }
  local reader
  function st.finish()
    if st.done then return end
    st.done = true
    if reader then reader:close() end
    local id = node:id()
    node:close()   -- pending set_request commands reply "cancelled" here
    local leaving = st.leaving
    if leaving and not leaving.replied then
      leaving.replied = true
      emit{ reply = "leave", id = leaving.id, ok = false, error = "cancelled" }
    end
    emit{ event = "stopped", id = id }
  end
  local commands = handlers(st)

  local early = held
  held = nil
  emit{ event = "started", id = node:id(), address = node:address(), generation = node:generation() }
  for _, t in ipairs(early) do emit(t) end
  reader = core.read_lines(0, function(line)
    if line == nil then
      -- stdin closed: our parent is gone or done with us. A leave under way is
      -- bounded by its timeout and ends the agent itself.
      st.eof = true
      if not st.leaving then st.finish() end
    elseif not st.done then
      handle_line(commands, line)
    end
  end)

  -- Drive the loop until told to stop; a node being closed may keep handles a
  -- moment longer, which need not delay the exit.
  while not st.done do
    local more = rumor.run_once()
    if not more then break end
  end
  if not st.done then st.finish() end
  return 0
end

return M

-- rumor.agent: `rumor agent --config FILE.json`. Runs one node, prints its events as
-- JSON lines on stdout and answers JSON commands read from stdin, one per line.
-- It stops when told to or when stdin closes, so it never outlives its parent.

local rumor = require("rumor")
local core = require("rumor.core")
local json = require("rumor.json")

local M = {}

local function emit(t)
  core.write(1, json.encode(t) .. "\n")
end

local function usage_error(message)
  io.stderr:write("rumor agent: ", message, "\n",
                  "usage: rumor agent --config FILE.json\n")
  return 2
end

-- Reads and decodes the config file; returns a table or nil, message.
local function load_config(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read config: " .. err end
  local text = f:read("a")
  f:close()
  local cfg, jerr = json.decode(text)
  if cfg == nil then return nil, "config " .. path .. " is not valid JSON: " .. jerr end
  if type(cfg) ~= "table" then return nil, "config " .. path .. " must hold a JSON object" end
  for k, v in pairs(cfg) do
    if v == json.null then cfg[k] = nil end
  end
  return cfg
end

-- A handler's result meaning "the reply comes later" (it emits the reply itself).
local LATER = {}

-- Strips the location and method prefixes from an error, for replies.
local function reason(err)
  return (tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^rumor: [%w_]+: ", ""))
end

-- Builds the command handlers of one agent around its node. `finish` ends the agent.
local function handlers(node, finish)
  local function need_string(cmd, field)
    local v = cmd[field]
    if type(v) ~= "string" then
      error(("field '%s' must be a string, got %s"):format(field, v == nil and "nothing" or type(v)), 0)
    end
    return v
  end
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
      return { members = node:members() }
    end,
    metrics = function()
      return { metrics = node:metrics() }
    end,
    stop = function()
      return {}, finish
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
  local ok, result, after = pcall(fn, cmd)
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

  local cfg, err = load_config(path)
  if not cfg then
    io.stderr:write("rumor agent: ", err, "\n")
    return 1
  end
  local ok, node = pcall(rumor.new, cfg)
  if not ok then
    io.stderr:write("rumor agent: bad config ", path, ": ", tostring(node), "\n")
    return 1
  end
  local started, serr = pcall(node.start, node)
  if not started then
    io.stderr:write("rumor agent: cannot start: ", tostring(serr), "\n")
    return 1
  end

  node:on_update(function(u)
    emit{ event = "update", member = u.member, key = u.key, value = u.value, seq = u.seq,
          generation = u.generation, ["local"] = u["local"], deleted = u.deleted,
          map_key = u.map_key }
  end)

  local done = false
  local reader
  local function finish()
    if done then return end
    done = true
    if reader then reader:close() end
    local id = node:id()
    node:close()   -- pending set_request commands reply "cancelled" here
    emit{ event = "stopped", id = id }
  end
  local commands = handlers(node, finish)

  emit{ event = "started", id = node:id(), address = node:address(), generation = node:generation() }
  reader = core.read_lines(0, function(line)
    if line == nil then
      finish()      -- stdin closed: our parent is gone or done with us
    elseif not done then
      handle_line(commands, line)
    end
  end)

  -- Drive the loop until told to stop; a node being closed may keep handles a
  -- moment longer, which need not delay the exit.
  while not done do
    local more = rumor.run_once()
    if not more then break end
  end
  if not done then finish() end
  return 0
end

return M

-- rumor.process: starts `rumor agent` processes, talks to them in JSON lines and reaps
-- them. Used by the demo, the benches and rumor.testing (the harness for specs).
--
--   local procs = process.group()
--   local a = procs:agent{ id = "a" }          -- config as for rumor.new
--   a:wait_started()
--   a:call{ cmd = "set", key = "k", value = "v" }
--   process.eventually(function() return b:find_update("k") end, 10000)
--   procs:close()                              -- stop, then kill, and wait for all

local rumor = require("rumor")
local core = require("rumor.core")
local json = require("rumor.json")

local M = {}

M.default_timeout_ms = 10000

---------------------------------------------------------------------------
-- Waiting.

-- Calls pred() until it returns a true value, which is returned, while the loop runs.
-- Gives nil, "timed out after N ms" once timeout_ms have passed.
function M.eventually(pred, timeout_ms, step_ms)
  timeout_ms = timeout_ms or M.default_timeout_ms
  step_ms = step_ms or 10
  local deadline = core.hrtime_ms() + timeout_ms
  local v = pred()
  if v then return v end
  if rumor.in_coroutine() then
    while true do
      rumor.sleep(step_ms)
      v = pred()
      if v then return v end
      if core.hrtime_ms() >= deadline then break end
    end
  else
    -- A ticking timer bounds each loop iteration, so pred is checked after
    -- every event and at least every step_ms.
    local tick = core.timer(step_ms, step_ms, function() end)
    local ok, res = pcall(function()
      while true do
        rumor._internal.drive_once()   -- rumor's loop, or luv's while it hosts rumor's
        rumor._check_interrupt()
        local r = pred()
        if r then return r end
        if core.hrtime_ms() >= deadline then return nil end
      end
    end)
    tick:stop()
    if not ok then error(res, 0) end
    if res then return res end
  end
  return nil, ("timed out after %d ms"):format(timeout_ms)
end

---------------------------------------------------------------------------
-- Finding the command and passing the module paths on.

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The launcher: $RUMOR_BIN, then the one this process was started from (set by
-- rumor.cli), then lua/bin/rumor beside the rumor module of this source tree.
-- Returns nil when none is found; agents are then started through `lua5.4 -e`.
function M.find_bin()
  local env = os.getenv("RUMOR_BIN")
  if env and env ~= "" then return env end
  if M.bin and exists(M.bin) then return M.bin end
  local init = package.searchpath("rumor", package.path)
  if init then
    local candidate = dirname(dirname(init)) .. "/bin/rumor"
    if exists(candidate) then return candidate end
  end
  return nil
end

function M.interpreter()
  local env = os.getenv("RUMOR_LUA")
  if env and env ~= "" then return env end
  return "lua5.4"
end

-- Environment of the children: the same module paths as ours, plus what tools need.
local PASS_ON = { "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "USER",
                  "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LD_PRELOAD", "RUMOR_BIN", "RUMOR_LUA" }

function M.environment(extra)
  local env = {
    "LUA_PATH=" .. package.path, "LUA_CPATH=" .. package.cpath,
    "LUA_PATH_5_4=" .. package.path, "LUA_CPATH_5_4=" .. package.cpath,
  }
  for _, name in ipairs(PASS_ON) do
    local v = os.getenv(name)
    if v then env[#env + 1] = name .. "=" .. v end
  end
  for _, kv in ipairs(extra or {}) do env[#env + 1] = kv end
  return env
end

-- Runs a shell command line; returns its stdout, its stderr and its exit code.
function M.shell(cmd)
  local err_path = os.tmpname()
  local p = assert(io.popen(cmd .. " 2>'" .. err_path .. "'", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(err_path, "rb"))
  local err = f:read("a")
  f:close()
  os.remove(err_path)
  return out, err, code
end

-- Runs `rumor ARGS` (the rest of a shell command line: quote what needs it) with our
-- interpreter and module paths, and the VAR=value words of env (a string) if given;
-- returns its stdout, stderr and exit code.
function M.command(args, env)
  return M.shell(("env %s LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' %s '%s' %s"):format(
    env or "", package.path, package.cpath, M.interpreter(), M.find_bin(), args))
end

-- file, args to run `rumor agent --config path`.
function M.agent_command(config_path)
  local bin = M.find_bin()
  if bin then
    return M.interpreter(), { bin, "agent", "--config", config_path }
  end
  return M.interpreter(), {
    "-e", "os.exit(require('rumor.cli').main({[0]='rumor', 'agent', '--config', "
      .. string.format("%q", config_path) .. "}), true)",
  }
end

---------------------------------------------------------------------------
-- One agent process.

local Agent = {}
Agent.__index = Agent

function Agent:_line(stream, line)
  if stream == "stderr" then
    self.stderr[#self.stderr + 1] = line
    if self.group.echo_stderr then io.stderr:write("[", self.name, "] ", line, "\n") end
    return
  end
  local msg = json.decode(line)
  if type(msg) ~= "table" then
    self.output[#self.output + 1] = line
    return
  end
  msg.at_ms = core.hrtime_ms()
  if msg.reply then
    self.replies[#self.replies + 1] = msg
    if msg.id ~= nil then self.by_id[msg.id] = msg end
  else
    self.events[#self.events + 1] = msg
    if msg.event == "started" then
      self.address, self.id, self.generation = msg.address, msg.id, msg.generation
      os.remove(self.config_path)   -- read by now; do not leave it behind if we die
    end
  end
  for _, fn in ipairs{ self.on_message, self.group.on_message } do
    local ok, err = xpcall(fn, debug.traceback, self, msg)
    if not ok then
      if tostring(err):find("interrupted!", 1, true) then error(err, 0) end  -- Ctrl-C
      io.stderr:write("rumor.process: on_message: ", tostring(err), "\n")
    end
  end
end

function Agent:alive()
  return not self.exited
end

-- Writes one command; gives it an id unless it has one. Returns the id. The caller's
-- table is not changed, so one command table may go to several agents in turn.
function Agent:send(cmd)
  if cmd.id == nil then
    local copy = {}
    for k, v in pairs(cmd) do copy[k] = v end
    self.next_id = self.next_id + 1
    copy.id = self.next_id
    cmd = copy
  end
  local ok, err = self.proc:write(json.encode(cmd) .. "\n")
  if not ok then error(("agent %s: cannot send %s: %s"):format(self.name, tostring(cmd.cmd), tostring(err)), 2) end
  return cmd.id
end

-- A short account of the agent for failure messages.
function Agent:describe()
  local tail = {}
  for i = math.max(1, #self.stderr - 5), #self.stderr do tail[#tail + 1] = self.stderr[i] end
  local state = self.exited and ("exited with code " .. tostring(self.exit_code)
    .. (self.exit_signal and self.exit_signal ~= 0 and (", signal " .. self.exit_signal) or "")) or "running"
  return ("agent %s (%s)%s"):format(self.name, state,
    #tail > 0 and (", stderr:\n  " .. table.concat(tail, "\n  ")) or "")
end

-- Sends cmd and waits for its reply. Raises if none comes within timeout_ms. Replies
-- that come later (set_request answers when the request ends) are waited for alike.
function Agent:call(cmd, timeout_ms)
  local id = self:send(cmd)
  local reply = M.eventually(function() return self.by_id[id] or (self.exited and "exit") end, timeout_ms)
  if reply == nil or reply == "exit" then
    error(("no reply to %s within %d ms from %s"):format(tostring(cmd.cmd),
      timeout_ms or M.default_timeout_ms, self:describe()), 2)
  end
  return reply
end

-- The first event for which pred(event) holds, or nil.
function Agent:find(pred)
  for _, ev in ipairs(self.events) do
    if pred(ev) then return ev end
  end
end

-- Every event for which pred(event) holds, oldest first.
function Agent:find_all(pred)
  local found = {}
  for _, ev in ipairs(self.events) do
    if pred(ev) then found[#found + 1] = ev end
  end
  return found
end

-- The first update event of key (and value, when given) seen by this agent.
function Agent:find_update(key, value)
  return self:find(function(ev)
    return ev.event == "update" and ev.key == key and (value == nil or ev.value == value)
  end)
end

-- Waits for an event matching pred; raises with the agent's stderr on timeout.
function Agent:wait_for(pred, timeout_ms, what)
  local ev = M.eventually(function() return self:find(pred) or (self.exited and "exit") end, timeout_ms)
  if ev == "exit" then
    error(("%s: exited before any %s"):format(self:describe(), what or "matching event"), 2)
  elseif ev == nil then
    error(("%s: no %s within %d ms"):format(self:describe(), what or "matching event",
      timeout_ms or M.default_timeout_ms), 2)
  end
  return ev
end

function Agent:wait_started(timeout_ms)
  return self:wait_for(function(ev) return ev.event == "started" end, timeout_ms, "started event")
end

-- Asks the agent to stop and closes its stdin; does not wait.
function Agent:stop()
  if self.exited then return end
  pcall(self.send, self, { cmd = "stop" })
  pcall(self.proc.close_stdin, self.proc)
end

function Agent:kill(sig)
  if self.exited then return end
  pcall(self.proc.kill, self.proc, sig or "SIGKILL")
end

---------------------------------------------------------------------------
-- A group of agents that are reaped together.

local Group = {}
Group.__index = Group

-- opts.on_message(agent, msg) sees every JSON line of every agent;
-- opts.echo_stderr copies the agents' stderr to ours (default: $RUMOR_VERBOSE set);
-- opts.wrap is a command that runs the agents' command line (argv prefix, e.g.
-- {"nsenter", "--net=/proc/PID/ns/net", "--"}); it must exec it, so that agent.pid
-- stays the agent's.
function M.group(opts)
  opts = opts or {}
  return setmetatable({
    agents = {}, files = {}, wrap = opts.wrap,
    on_message = opts.on_message or function() end,
    echo_stderr = opts.echo_stderr == nil and os.getenv("RUMOR_VERBOSE") ~= nil or opts.echo_stderr,
  }, Group)
end

-- Starts `rumor agent` with cfg (a rumor.new config table) written to a temporary file.
function Group:agent(cfg, opts)
  opts = opts or {}
  local path = os.tmpname()
  self.files[#self.files + 1] = path
  local f = assert(io.open(path, "wb"))
  f:write(json.encode(cfg))
  f:close()
  local a = setmetatable({
    name = opts.name or cfg.id or ("agent" .. (#self.agents + 1)), group = self,
    config_path = path, events = {}, replies = {}, by_id = {}, stderr = {}, output = {},
    next_id = 0, exited = false, on_message = opts.on_message or function() end,
  }, Agent)
  local file, args = M.agent_command(path)
  if self.wrap and #self.wrap > 0 then   -- wrap[1] wrap[2..] file args...
    local wrapped = { table.unpack(self.wrap, 2) }
    wrapped[#wrapped + 1] = file
    args = table.move(args, 1, #args, #wrapped + 1, wrapped)
    file = self.wrap[1]
  end
  local proc, err = core.spawn{
    file = file, args = args, env = M.environment(opts.env),
    on_line = function(stream, line) a:_line(stream, line) end,
    on_exit = function(code, signal)
      a.exited, a.exit_code, a.exit_signal = true, code, signal
    end,
  }
  if not proc then
    error(("cannot start agent %s (%s %s): %s"):format(a.name, file, table.concat(args, " "), tostring(err)), 2)
  end
  a.proc, a.pid = proc, proc:pid()
  rumor._internal.kick()   -- a host loop (rumor.use_luv) must wait for the process too
  self.agents[#self.agents + 1] = a
  return a
end

function Group:eventually(pred, timeout_ms)
  return M.eventually(pred, timeout_ms)
end

function Group:all_exited()
  for _, a in ipairs(self.agents) do
    if not a.exited then return false end
  end
  return true
end

-- Stops every agent: asks politely, waits up to grace_ms, then SIGKILL and waits for
-- the exits. Removes the temporary files. Safe to call more than once, and from
-- error paths. Returns true when every process has been reaped.
function Group:close(grace_ms)
  grace_ms = grace_ms or 3000
  for _, a in ipairs(self.agents) do a:stop() end
  local function all_gone() return self:all_exited() end
  pcall(M.eventually, all_gone, grace_ms)
  if not self:all_exited() then
    for _, a in ipairs(self.agents) do a:kill("SIGKILL") end
    pcall(M.eventually, all_gone, 5000)
  end
  for _, path in ipairs(self.files) do os.remove(path) end
  self.files = {}
  return self:all_exited()
end

Group.__close = function(self) self:close() end

-- A group dropped without close: kill what is left (no waiting in a finalizer).
Group.__gc = function(self)
  for _, a in ipairs(self.agents) do
    if a.proc and not a.exited then pcall(a.proc.kill, a.proc, "SIGKILL") end
  end
  for _, path in ipairs(self.files) do os.remove(path) end
end

-- Runs fn(group) and closes the group afterwards, also when fn raises.
function M.with_group(fn, opts)
  local g = M.group(opts)
  local ok, err = xpcall(fn, debug.traceback, g)
  g:close()
  if not ok then error(err, 0) end
  return g
end

return M

-- rumor: the Lua face of the gossip engine. Nodes, the loop (run, sleep, spawn, after)
-- and error reporting, built on the C module rumor.core.

local core = require("rumor.core")
local config = require("rumor.config")

local rumor = { version = "0.1.0" }

---------------------------------------------------------------------------
-- Error reporting. One handler receives every error raised in a callback, whether the
-- core caught it (timers, processes) or this file did (subscribers, coroutines).

local function default_handler(message, where)
  io.stderr:write("rumor: error in ", tostring(where or "callback"), ": ", tostring(message), "\n")
  io.stderr:flush()
end

local handler = default_handler
local lua_errors = 0   -- errors caught here; the core counts its own
local interrupted = false

-- lua5.4 turns the first Ctrl-C into an "interrupted!" error at the next Lua
-- instruction. Inside a callback the core would swallow it; remember it instead so
-- that the loop drivers below raise it where the script can see it. Returns true
-- when message was that.
local function note_interrupt(message)
  if type(message) == "string" and message:find("interrupted!", 1, true) then
    interrupted = true
    return true
  end
  return false
end

local function dispatch(message, where)
  if not note_interrupt(message) then handler(message, where) end
end
core.set_error_handler(dispatch)

local function report(message, where)
  if note_interrupt(message) then return end
  lua_errors = lua_errors + 1
  handler(message, where)
end

local function check_interrupt()
  if interrupted then
    interrupted = false
    error("interrupted!", 0)
  end
end

-- fn(message, where) receives callback errors; nil restores the default (stderr).
function rumor.set_error_handler(fn)
  if fn ~= nil and type(fn) ~= "function" then
    error("rumor.set_error_handler: expected a function or nil, got " .. type(fn), 2)
  end
  handler = fn or default_handler
end

-- Errors raised in callbacks so far, in this process.
function rumor.callback_errors()
  return core.callback_errors() + lua_errors
end

---------------------------------------------------------------------------
-- The loop.

-- While an application's luv loop hosts rumor's (rumor.use_luv, lua/rumor/luv.lua),
-- `host` = { run_once = fn() -> more, kick = fn() }: the blocking drivers below turn
-- luv's loop (which runs rumor's), and kick() tells the host that rumor has new work
-- (a started node, a timer, a process) before luv decides whether it may return.
-- nil while rumor drives its own loop.
local host

local function kick()
  if host then host.kick() end
end

-- One blocking iteration of whichever loop drives rumor's; true while work is left.
local function drive_once()
  if host then return host.run_once() end
  return core.run("once")
end

function rumor.now()
  return core.now()
end

-- drive_once(), with the error a user can act on when it is called from inside
-- a callback (the loop is already running then).
local function run_once(fname)
  local ok, more = pcall(drive_once)
  if ok then return more end
  if type(more) == "string" and more:find("reentrant", 1, true) then
    error(fname .. ": cannot run the loop inside a callback; use rumor.spawn and rumor.sleep", 3)
  end
  error(more, 0)
end

-- Runs the loop until no work is left (no started node, timer or process).
function rumor.run()
  check_interrupt()
  while run_once("rumor.run") do
    check_interrupt()
  end
  check_interrupt()
end

-- Runs one iteration: waits for at least one event if any work is pending.
-- Returns true while work is left.
function rumor.run_once()
  check_interrupt()
  local more = run_once("rumor.run_once")
  check_interrupt()
  return more
end

local function milliseconds(fname, ms)
  if type(ms) ~= "number" or ms ~= ms or ms < 0 then
    error(fname .. ": argument 'ms' must be a number >= 0, got " .. tostring(ms), 3)
  end
  return math.tointeger(math.ceil(ms)) or error(fname .. ": argument 'ms' is too large", 3)
end

-- Coroutines started by rumor.spawn: only these are resumed by rumor's timers.
local managed = setmetatable({}, { __mode = "k" })

local function step(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if coroutine.status(co) == "dead" then managed[co] = nil end
  if not ok then
    report(debug.traceback(co, tostring(err)), "spawn")
  end
end

-- Starts fn(...) in a coroutine at once. Its errors are reported, never raised.
function rumor.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("rumor.spawn: argument 'fn' must be a function, got " .. type(fn), 2)
  end
  local co = coroutine.create(fn)
  managed[co] = true
  step(co, ...)
  return co
end

-- True when the running code is inside a coroutine started by rumor.spawn.
function rumor.in_coroutine()
  return managed[coroutine.running()] == true
end

-- Inside rumor.spawn: suspends this coroutine for ms while the loop runs on.
-- Elsewhere: runs the loop until ms have passed (not allowed inside a callback).
function rumor.sleep(ms)
  ms = milliseconds("rumor.sleep", ms)
  local co = coroutine.running()
  if managed[co] then
    core.timer(ms, 0, function() step(co) end)
    kick()
    coroutine.yield()
    return
  end
  local done = false
  local t = core.timer(ms, 0, function() done = true end)
  kick()
  local ok, err = pcall(function()
    while not done do
      drive_once()
      check_interrupt()
    end
  end)
  if not ok then
    t:stop()
    if type(err) == "string" and err:find("reentrant", 1, true) then
      error("rumor.sleep: cannot block inside a callback; call it from rumor.spawn", 2)
    end
    error(err, 0)
  end
end

local Timer = {}
Timer.__index = Timer

-- Stops the timer if it has not fired yet; idempotent.
function Timer:cancel()
  local t = self._timer
  if t then
    self._timer = nil
    t:stop()
  end
end

-- Runs fn in a new coroutine (so it may sleep) after ms; returns a handle with :cancel().
function rumor.after(ms, fn)
  ms = milliseconds("rumor.after", ms)
  if type(fn) ~= "function" then
    error("rumor.after: argument 'fn' must be a function, got " .. type(fn), 2)
  end
  local h = setmetatable({}, Timer)
  h._timer = core.timer(ms, 0, function()
    h._timer = nil
    rumor.spawn(fn)
  end)
  kick()
  return h
end

-- Internal: lets rumor.process raise a pending Ctrl-C while it drives the loop.
rumor._check_interrupt = check_interrupt

---------------------------------------------------------------------------
-- Subscriptions. The core has one sink per node and kind; the sinks below fan out to
-- the subscribers, each call protected, its errors reported and counted per node.

local node_error   -- (node, message, where): defined with the log hook below
local emit_log     -- (node, record): the same
local attach_log   -- (node): hooks the core's log lines to emit_log

local function deliver(subs, s, value, where)
  local ok, err = xpcall(s.fn, debug.traceback, value)
  if not ok then
    subs.errors = subs.errors + 1
    local node = subs.owner.node
    if node then
      node_error(node, err, where .. " of node '" .. tostring(node._id) .. "'")
    else
      report(err, where)
    end
  end
end

local function update_sink(subs)
  return function(member, key, value, seq, generation, is_local, deleted, map_key, system)
    local list = subs.list   -- a snapshot: (un)subscribing replaces the list
    local update
    for i = 1, #list do
      local s = list[i]
      local p = s.prefix
      if s.active and (not system or s.system) and (p == nil or key:sub(1, #p) == p) then
        update = update or {
          member = member, key = key, value = value, seq = seq, generation = generation,
          ["local"] = is_local == true or is_local == 1,
          deleted = deleted == true, map_key = map_key, system = system or nil,
        }
        deliver(subs, s, update, "on_update")
      end
    end
  end
end

local function member_sink(subs)
  return function(type_, member, generation, reason)
    local list = subs.list
    local event
    for i = 1, #list do
      local s = list[i]
      if s.active then
        event = event or { type = type_, member = member, generation = generation, reason = reason }
        deliver(subs, s, event, "on_member")
      end
    end
  end
end

-- (Re)hooks the core's update sink: none without subscribers, system updates only
-- when a subscriber asked for them (the core then skips the rest in C).
local function attach_updates(n, subs)
  if #subs.list == 0 then return n:on_update(nil) end
  local system = false
  for _, s in ipairs(subs.list) do system = system or s.system end
  n:on_update(subs.sink, system)
end

local function attach_members(n, subs)
  n:on_member(#subs.list > 0 and subs.sink or nil)
end

local Subscription = {}
Subscription.__index = Subscription

-- Stops delivery to this subscriber; idempotent, safe inside its own callback.
function Subscription:cancel()
  if not self.active then return end
  self.active = false
  local subs = self._subs
  local list = {}
  for _, s in ipairs(subs.list) do
    if s ~= self then list[#list + 1] = s end
  end
  subs.list = list
  local node = subs.owner.node
  if node and not node._closed then
    subs.attach(node._core, subs)
  end
end

---------------------------------------------------------------------------
-- Nodes.

local Node = {}
Node.__index = Node
Node.__name = "rumor.node"

local function handle_of(self, method)
  if getmetatable(self) ~= Node then
    error("rumor: " .. method .. ": call it as node:" .. method .. "(...)", 3)
  end
  if self._closed then
    error("rumor: " .. method .. ": node is closed", 3)
  end
  return self._core
end

local wrap_node

-- Creates a node from a config table (see rumor.config). Nothing is sent before start.
function rumor.new(cfg)
  local checked = config.check(cfg, 2)
  local ok, n = pcall(core.node, checked)
  if not ok then
    error((tostring(n):gsub("^rumor:", "rumor.new:")), 2)
  end
  -- loop = "luv": an application's luv loop hosts rumor's from now on (rumor.luv).
  if checked.loop == "luv" and not host then
    rumor.use_luv(core.require_main("luv"))   -- luv calls back on the thread that loaded it
  elseif checked.loop == "rumor" and host then
    n:close()
    error("rumor.new: field 'loop': \"rumor\", but luv's loop already hosts rumor's "
      .. "(rumor.use_luv); the nodes of a process share one loop", 2)
  end
  return wrap_node(n, checked)
end

-- The Node object around core node n made from the checked config (rumor.new, and
-- the nodes of a simulated world: rumor.sim).
wrap_node = function(n, checked)
  -- Subscribers live in tables of their own so that the core's sinks do not
  -- keep the node object alive.
  local owner = setmetatable({}, { __mode = "v" })
  local subs = { list = {}, errors = 0, owner = owner, attach = attach_updates }
  local msubs = { list = {}, errors = 0, owner = owner, attach = attach_members }
  subs.sink, msubs.sink = update_sink(subs), member_sink(msubs)
  local node = setmetatable({ _core = n, _subs = subs, _msubs = msubs, _closed = false,
                              _requests = {}, _leave_timeout_ms = checked.gossip_request_timeout_ms,
                              _id = checked.id, _lua_errors = 0,
                              _log = { level = checked.log_level or "warn" } },
                            Node)
  owner.node = node
  -- Errors of this node's callbacks raised in C (policies, stats, member events,
  -- waits, validators) reach its log; the sink holds the node weakly.
  n:set_error_sink(function(message, where)
    local nd = owner.node
    if note_interrupt(message) then return end
    if nd then
      emit_log(nd, { level = "error", message = message, where = where })
    else
      handler(message, where)
    end
  end)
  attach_log(node)
  return node
end

-- A checked rumor.new config from a JSON file, RUMOR_* variables overriding it
-- (rumor.config.load_config).
rumor.load_config = config.load_config

-- Binds the socket, joins through the seeds, starts gossip. Returns the node.
function Node:start()
  local n = handle_of(self, "start")
  local ok, err = n:start()
  if not ok then
    error("rumor: start: " .. tostring(err), 2)
  end
  kick()
  self._running = true
  return self
end

-- Stops gossip; a set_state_request still waiting returns nil, "cancelled".
function Node:stop()
  local n = handle_of(self, "stop")
  local ok, err = n:stop()
  if not ok then error("rumor: stop: " .. tostring(err), 2) end
  self._running = false
end

local function close(self, finalizing)
  if self._closed then return end
  self._closed = true
  self._subs.list = {}
  self._msubs.list = {}
  self._core:close()   -- drops pending awaits without calling them...
  local pending = {}
  for resolve in pairs(self._requests) do pending[#pending + 1] = resolve end
  self._requests = {}
  if finalizing then return end   -- (no coroutine is resumed from a finalizer)
  for _, resolve in ipairs(pending) do   -- ...so the waiting requests end here
    resolve(false, nil, "cancelled")
  end
end

-- Stops and releases the node; later calls raise "node is closed". Idempotent.
-- A set_state_request still waiting returns nil, "cancelled".
function Node:close()
  close(self, false)
end

Node.__close = Node.close

function Node:__gc()
  if not self._closed then pcall(close, self, true) end
end

function Node:__tostring()
  if self._closed then return "rumor.node (closed)" end
  return "rumor.node " .. self._core:id() .. " " .. self._core:address()
end

function Node:address() return handle_of(self, "address"):address() end
function Node:id() return handle_of(self, "id"):id() end
function Node:generation() return handle_of(self, "generation"):generation() end

-- Argument checks shared by the state methods. `level` is the caller's error level.
local function need_string(method, name, v, level)
  if type(v) ~= "string" then
    error(("rumor: %s: argument '%s' must be a string, got %s"):format(method, name, type(v)), level + 1)
  end
  return v
end

local function need_key(method, name, v, level)
  need_string(method, name, v, level + 1)
  if v == "" then
    error(("rumor: %s: argument '%s' must not be empty"):format(method, name), level + 1)
  end
  return v
end

-- The engine's own keys: the core refuses writes to them with a bare EINVAL.
local RESERVED = { heartbeat = true, left = true, blocked = true }

-- A key this node may write: non-empty and not reserved.
local function need_own_key(method, name, v, level)
  need_key(method, name, v, level + 1)
  if RESERVED[v] then
    error(("rumor: %s: key '%s' is reserved"):format(method, v), level + 1)
  end
  return v
end

-- Turns a failed write of the core into an error naming the limit that was hit.
local function write_failed(n, method, err, code, key, map_key, value, level)
  if code == "ETOOBIG" then
    local limit = n:value_limit(#key, map_key and #map_key or 0)
    if limit == 0 then
      if map_key and #map_key > 1024 then
        err = ("ETOOBIG: map key of %d bytes is too long"):format(#map_key)
      else
        err = ("ETOOBIG: key of %d bytes is too long"):format(#key)
      end
    elseif value and #value > limit then
      err = ("ETOOBIG: value of %d bytes is over the limit of %d bytes for this key "
        .. "(max_value_size, less the framing of one transfer)"):format(#value, limit)
    else
      local l = n:limits()
      if l.keys >= l.max_keys_per_member then
        err = ("ETOOBIG: '%s' would be a new entry of this node, which holds %d entries "
          .. "(values, map entries and deletes not yet purged), the limit of "
          .. "max_keys_per_member (%d)"):format(map_key and (key .. "' / '" .. map_key) or key,
          l.keys, l.max_keys_per_member)
      end
    end
  end
  error("rumor: " .. method .. ": " .. tostring(err), level + 1)
end

local function set_value(self, method, key, value, level)
  local n = handle_of(self, method)
  need_own_key(method, "key", key, level + 1)
  need_string(method, "value", value, level + 1)
  local seq, err, code = n:set(key, value)
  if not seq then write_failed(n, method, err, code, key, nil, value, level + 1) end
  return seq, n
end

-- Publishes one of this node's own keys. Returns the new seq.
function Node:set_state(key, value)
  return (set_value(self, "set_state", key, value, 2))
end

-- Deletes one of this node's own keys: a tombstone that spreads like a write and is
-- forgotten tombstone_grace_ms later. Returns the new seq, or 0 when there was no value.
function Node:delete_state(key)
  local n = handle_of(self, "delete_state")
  need_own_key("delete_state", "key", key, 2)
  local seq, err, code = n:delete(key)
  if not seq then write_failed(n, "delete_state", err, code, key, nil, nil, 2) end
  return seq
end

-- { [member_id] = value } over the members that hold key.
function Node:get_state(key)
  local n = handle_of(self, "get_state")
  need_string("get_state", "key", key, 2)
  return n:get(key)
end

-- Map state: entries under one state key, each versioned (and shipped) on its own.
function Node:set_map_state(state_key, map_key, value)
  local n = handle_of(self, "set_map_state")
  need_own_key("set_map_state", "state_key", state_key, 2)
  need_key("set_map_state", "map_key", map_key, 2)
  need_string("set_map_state", "value", value, 2)
  local seq, err, code = n:map_set(state_key, map_key, value)
  if not seq then write_failed(n, "set_map_state", err, code, state_key, map_key, value, 2) end
  return seq
end

-- Removes one map entry (a tombstone, like delete_state). Returns the seq, or 0.
function Node:remove_map_state(state_key, map_key)
  local n = handle_of(self, "remove_map_state")
  need_own_key("remove_map_state", "state_key", state_key, 2)
  need_key("remove_map_state", "map_key", map_key, 2)
  local seq, err, code = n:map_remove(state_key, map_key)
  if not seq then write_failed(n, "remove_map_state", err, code, state_key, map_key, nil, 2) end
  return seq
end

-- { [member_id] = value } over the members that hold this map entry.
function Node:get_map_state(state_key, map_key)
  local n = handle_of(self, "get_map_state")
  need_string("get_map_state", "state_key", state_key, 2)
  need_string("get_map_state", "map_key", map_key, 2)
  return n:map_get(state_key, map_key)
end

-- Sorted map keys under state_key: of one member, or of all members together.
function Node:get_map_keys(state_key, member_id)
  local n = handle_of(self, "get_map_keys")
  need_string("get_map_keys", "state_key", state_key, 2)
  if member_id ~= nil then need_string("get_map_keys", "member_id", member_id, 2) end
  return n:map_keys(state_key, member_id)
end

-- How long set_state_request waits by default: protoactor's cluster request timeout.
local REQUEST_TIMEOUT_MS = 5000
local UINT32_MAX = 0xffffffff

-- opts = { timeout_ms = integer } or nil; returns the timeout or the default.
local function timeout_option(method, opts, default, level)
  if opts == nil then return default end
  if type(opts) ~= "table" then
    error("rumor: " .. method .. ": argument 'opts' must be a table, got " .. type(opts), level + 1)
  end
  for k in pairs(opts) do
    if k ~= "timeout_ms" then
      error("rumor: " .. method .. ": unknown option '" .. tostring(k) .. "'", level + 1)
    end
  end
  local t = opts.timeout_ms
  if t == nil then return default end
  local i = math.type(t) == "integer" and t or (type(t) == "number" and math.tointeger(t))
  if not i or i < 0 or i > UINT32_MAX then
    error("rumor: " .. method .. ": option 'timeout_ms' must be an integer in 0.."
      .. UINT32_MAX .. ", got " .. tostring(t), level + 1)
  end
  return i
end

-- Starts a core operation that calls back once, start(resolve), and waits for it
-- (`what` names it in errors):
-- inside rumor.spawn the coroutine yields meanwhile; elsewhere the loop is driven
-- here. Returns what resolve(ok, missing, reason) got. Closing the node resolves it
-- with "cancelled" (the core drops the callback without calling it).
local function wait_for(self, method, what, start, level)
  local co = coroutine.running()
  local in_spawn = managed[co] == true
  local result, waiting
  local requests = self._requests
  local function resolve(ok, missing, reason)
    if result then return end
    result = { ok = ok, missing = missing, reason = reason }
    requests[resolve] = nil
    if waiting then
      waiting = false
      step(co)
    end
  end
  local ok, err = start(resolve)
  if not ok then
    error("rumor: " .. method .. ": " .. tostring(err), level + 1)
  end
  requests[resolve] = true
  kick()
  -- A node of a simulated world (rumor.sim) has no uv loop: its world's virtual
  -- time runs here instead, event by event, until the wait ends.
  if self._world and not in_spawn then
    while not result do
      if not self._world:_drive(method) then
        error("rumor: " .. method .. ": the simulated world ran out of events before the "
          .. what .. " ended", level + 1)
      end
    end
    return result
  end
  if in_spawn then
    while not result do
      waiting = true
      coroutine.yield()
    end
    return result
  end
  local run_ok, run_err = pcall(function()
    while not result do
      if not drive_once() and not result then
        error("rumor: " .. method .. ": the loop ran out of work before the " .. what
          .. " ended", 0)
      end
      check_interrupt()
    end
  end)
  if not run_ok then
    if type(run_err) == "string" and run_err:find("reentrant", 1, true) then
      error("rumor: " .. method .. ": cannot block inside a callback; call it from rumor.spawn",
        level + 1)
    end
    error(run_err, 0)
  end
  return result
end

-- Sets key like set_state, then waits until every live member holds it. Inside
-- rumor.spawn the coroutine yields meanwhile; elsewhere the loop is driven here.
-- Returns true, or nil, "timeout", {member_id, ...} (those still missing it), or
-- nil, "cancelled" when the node stops or closes first.
function Node:set_state_request(key, value, opts)
  handle_of(self, "set_state_request")
  need_own_key("set_state_request", "key", key, 2)
  need_string("set_state_request", "value", value, 2)
  local timeout = timeout_option("set_state_request", opts, REQUEST_TIMEOUT_MS, 2)
  if not self._running then
    error("rumor: set_state_request: the node is not running (start it first)", 2)
  end
  local seq, n = set_value(self, "set_state_request", key, value, 2)
  -- The write's own callbacks (or a coroutine they resumed) may have stopped the node.
  if not self._running or self._closed then return nil, "cancelled" end
  local result = wait_for(self, "set_state_request", "request", function(resolve)
    return n:await(seq, timeout, resolve)
  end, 2)
  if result.ok then return true end
  if result.reason == "timeout" then return nil, "timeout", result.missing end
  return nil, result.reason or "cancelled"
end

-- Leaves gracefully: publishes the left key, waits until enough members hold it
-- (or opts.timeout_ms, by default gossip_request_timeout_ms), then stops the node.
-- Yields inside rumor.spawn, else drives the loop. Returns true, or nil, "timeout"
-- (stopped all the same), or nil, "cancelled" (stopped or closed meanwhile).
function Node:leave(opts)
  local n = handle_of(self, "leave")
  local timeout = timeout_option("leave", opts, self._leave_timeout_ms or 2000, 2)
  if not self._running then
    error("rumor: leave: the node is not running", 2)
  end
  local result = wait_for(self, "leave", "leave", function(resolve)
    local ok, err = n:leave(timeout, resolve)
    if ok then self._running = false end   -- stopping; a second leave is refused
    return ok, err
  end, 2)
  if result.ok then return true end
  return nil, result.reason or "cancelled"
end

-- Records of every member this node knows (removed ones aside), self first:
-- {id, address, status = "alive"|"blocked"|"left", block_reason, generation,
--  heartbeat_age_ms, heartbeats, phi, uptime_ms, members_alive, stats, left, self, ...}.
function Node:members()
  return handle_of(self, "members"):members()
end

-- Sorted ids of the members blocked now.
function Node:get_blocked_members()
  return handle_of(self, "get_blocked_members"):blocked()
end

-- Core counters plus the errors of this node's update and member subscribers.
function Node:metrics()
  local m = handle_of(self, "metrics"):metrics()
  m.subscriber_errors = self._subs.errors + self._msubs.errors
  m.callback_errors = (m.callback_errors or 0) + self._lua_errors
  -- What was dropped, by reason: whole datagrams, then single entries.
  m.drops = {
    malformed = m.drops_malformed, version = m.drops_version, cluster = m.drops_cluster,
    self = m.drops_self, blocked = m.drops_blocked, gap = m.deltas_gap, stale = m.deltas_stale,
    too_big = m.entries_too_big, rejected = m.entries_rejected, fault = m.fault_dropped,
    key = m.drops_key, plaintext = m.drops_plaintext, replay = m.drops_replay,
    spoofed = m.drops_spoofed,
    oversize = m.drops_oversize, budget = m.drops_budget, member_limit = m.members_refused,
    key_limit = m.entries_over_limit,
  }
  return m
end

local function need_function(method, fn, level)
  if type(fn) ~= "function" then
    error("rumor: " .. method .. ": argument 'fn' must be a function, got " .. type(fn), level + 1)
  end
end

local function check_options(method, opts, known, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("rumor: " .. method .. ": argument 'opts' must be a table, got " .. type(opts), level + 1)
  end
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      error("rumor: " .. method .. ": unknown option '" .. tostring(k) .. "'", level + 1)
    end
    if type(v) ~= want then
      error(("rumor: %s: option '%s' must be a %s, got %s"):format(method, k, want, type(v)), level + 1)
    end
  end
  return opts
end

local function add_subscription(node, subs, sub)
  local list = { table.unpack(subs.list) }
  list[#list + 1] = sub
  subs.list = list
  subs.attach(node._core, subs)
  return sub
end

-- fn(update) runs for every accepted entry whose key starts with opts.prefix (all keys
-- when none). update = {member, key, value, seq, generation, local, deleted, map_key}:
-- value is nil when deleted, map_key nil for a plain key (the prefix applies to key).
-- The engine's own entries (heartbeat, left, blocked) come only with opts.system = true,
-- marked system = true. Returns a handle with :cancel().
function Node:on_update(fn, opts)
  handle_of(self, "on_update")
  need_function("on_update", fn, 2)
  opts = check_options("on_update", opts, { prefix = "string", system = "boolean" }, 2)
  local prefix = opts.prefix
  return add_subscription(self, self._subs, setmetatable({
    fn = fn, prefix = prefix ~= "" and prefix or nil, system = opts.system == true,
    active = true, _subs = self._subs }, Subscription))
end

-- fn(event) runs for every membership event: event = {type, member, generation, reason},
-- type "joined" | "alive" | "blocked" | "left" (it left gracefully) | "removed" |
-- "rejoined" (this node started a new generation after a block), reason ("expired",
-- "policy", "topology"; "left" for left) for blocked, left and rejoined. Returns a handle with :cancel().
function Node:on_member(fn)
  handle_of(self, "on_member")
  need_function("on_member", fn, 2)
  return add_subscription(self, self._msubs,
    setmetatable({ fn = fn, active = true, _subs = self._msubs }, Subscription))
end

local function need_optional_function(method, fn, level)
  if fn ~= nil and type(fn) ~= "function" then
    error("rumor: " .. method .. ": argument 'fn' must be a function or nil, got " .. type(fn),
      level + 1)
  end
end

-- fn() -> { name = integer, ... } runs once per round; its counters travel in this
-- node's heartbeats (others see them in members()[i].stats). Names are 1..64 bytes; a
-- bad result or an error is reported and counted, and the previous stats stay. nil
-- removes the function and the stats.
function Node:set_heartbeat_stats(fn)
  local n = handle_of(self, "set_heartbeat_stats")
  need_optional_function("set_heartbeat_stats", fn, 2)
  n:set_heartbeat_stats(fn)
end

-- fn(member_id, info) -> boolean runs once per round for every other member that is
-- alive (info is its members() record); true blocks it for its current generation
-- (reason "policy"). Errors are reported and counted. nil removes the policy.
function Node:set_block_policy(fn)
  local n = handle_of(self, "set_block_policy")
  need_optional_function("set_block_policy", fn, 2)
  n:set_block_policy(fn)
end

local function need_address(method, name, v, level)
  if type(v) ~= "string" then
    error(("rumor: %s: %s must be a string, got %s"):format(method, name, type(v)), level + 1)
  end
  local host, reason = config.parse_address(v)
  if not host then
    error(("rumor: %s: %s: %s"):format(method, name, reason), level + 1)
  end
end

local function need_member_id(method, name, v, level)
  if type(v) ~= "string" then
    error(("rumor: %s: %s must be a string, got %s"):format(method, name, type(v)), level + 1)
  end
  if v == "" or #v > 128 then
    error(("rumor: %s: %s must be 1..128 bytes, got %d"):format(method, name, #v), level + 1)
  end
end

local function core_call(method, level, ok, err)
  if not ok then error("rumor: " .. method .. ": " .. tostring(err), level + 1) end
  return true
end

-- Replaces the peer list from outside (a cluster provider): peers = { {id =, address =
-- "host:port" (optional)}, ... }. Members listed are known at their addresses (a topology
-- block on them is lifted); every other member is blocked with reason "topology".
function Node:set_topology(peers)
  local n = handle_of(self, "set_topology")
  if type(peers) ~= "table" then
    error("rumor: set_topology: argument 'peers' must be an array, got " .. type(peers), 2)
  end
  local count = #peers
  for k in pairs(peers) do
    if math.type(k) ~= "integer" or k < 1 or k > count then
      error("rumor: set_topology: argument 'peers' must be an array, found key " .. tostring(k), 2)
    end
  end
  for i, p in ipairs(peers) do
    local entry = "entry " .. i
    if type(p) ~= "table" then
      error(("rumor: set_topology: %s must be a table, got %s"):format(entry, type(p)), 2)
    end
    need_member_id("set_topology", entry .. ": 'id'", p.id, 2)
    if p.address ~= nil then need_address("set_topology", entry .. ": 'address'", p.address, 2) end
  end
  local ok, err, code = n:set_topology(peers)
  if not ok and code == "ETOOBIG" then
    local l = n:limits()
    err = ("ETOOBIG: the peers name members this node does not know, more than the %d "
      .. "that max_members (%d) leaves room for; nothing was changed"):format(
      l.max_members - l.members, l.max_members)
  end
  return core_call("set_topology", 2, ok, err)
end

-- Adds an address to join through, like a seed.
function Node:add_peer(address)
  local n = handle_of(self, "add_peer")
  need_address("add_peer", "argument 'address'", address, 2)
  if address:match(":0$") then
    error("rumor: add_peer: argument 'address': port 0 in \"" .. address .. "\" cannot be joined", 2)
  end
  return core_call("add_peer", 2, n:add_peer(address))
end

-- Blocks one member with reason "topology".
function Node:remove_peer(id)
  local n = handle_of(self, "remove_peer")
  need_member_id("remove_peer", "argument 'id'", id, 2)
  if id == self:id() then
    error("rumor: remove_peer: argument 'id': '" .. id .. "' is this node itself", 2)
  end
  local ok, err = n:remove_peer(id)
  if not ok and tostring(err):find("EINVAL", 1, true) then
    error("rumor: remove_peer: argument 'id': no member '" .. id .. "' is known", 2)
  end
  return core_call("remove_peer", 2, ok, err)
end

---------------------------------------------------------------------------
-- Logging. Each node has one log hook: the core's log lines, and the errors raised in
-- this node's callbacks (with their traceback), reach it as records
-- { level, message, node, where }. Without a hook, lines at or above the node's
-- log_level go to stderr and callback errors to rumor.set_error_handler's handler.

local LOG_LEVELS = { debug = 1, info = 2, warn = 3, error = 4 }
rumor.log_levels = { "debug", "info", "warn", "error" }

local function need_log_level(method, level, v)
  if LOG_LEVELS[v] == nil then
    error(("rumor: %s: level must be one of \"debug\", \"info\", \"warn\", \"error\", got %s")
      :format(method, type(v) == "string" and ("\"" .. v .. "\"") or type(v)), level + 1)
  end
  return v
end

-- Hands one record to the node's hook (or stderr). A failing hook is reported to the
-- process-wide handler, never to itself.
function emit_log(node, record)
  local log = node._log
  if LOG_LEVELS[record.level] < LOG_LEVELS[log.level] then return end
  record.node = record.node or node._id
  if log.fn then
    local ok, err = xpcall(log.fn, debug.traceback, record)
    if not ok then
      node._lua_errors = node._lua_errors + 1
      report(err, "on_log of node '" .. tostring(node._id) .. "'")
    end
    return
  end
  if record.level == "error" and record.where then
    dispatch(record.message, record.where)
  else
    io.stderr:write("rumor[", tostring(record.node), "] ", record.level, ": ",
      tostring(record.message), "\n")
    io.stderr:flush()
  end
end

-- The core formats only the lines the node's level lets through.
function attach_log(node)
  local owner = setmetatable({ node = node }, { __mode = "v" })
  node._core:on_log(function(level, message)
    local nd = owner.node
    if nd then emit_log(nd, { level = level, message = message }) end
  end, node._log.level)
end

-- An error raised by one of node's callbacks (message carries the traceback): counted
-- on the node and in rumor.callback_errors(), then logged at level "error".
function node_error(node, message, where)
  if note_interrupt(message) then return end
  node._lua_errors = node._lua_errors + 1
  lua_errors = lua_errors + 1
  emit_log(node, { level = "error", message = message, where = where })
end

-- fn(record) receives this node's log: record = { level = "debug"|"info"|"warn"|"error",
-- message, node (this node's id), where (the callback, for callback errors) }. Only
-- records at or above opts.level (default: the node's log_level, "warn") arrive. nil
-- removes the hook: lines go to stderr again.
function Node:on_log(fn, opts)
  handle_of(self, "on_log")
  if fn ~= nil and type(fn) ~= "function" then
    error("rumor: on_log: argument 'fn' must be a function or nil, got " .. type(fn), 2)
  end
  opts = check_options("on_log", opts, { level = "string" }, 2)
  if opts.level ~= nil then self._log.level = need_log_level("on_log", 2, opts.level) end
  self._log.fn = fn
  attach_log(self)
end

-- Writes a line to this node's log, as the core does (a script's own lines).
function Node:log(level, message)
  handle_of(self, "log")
  need_log_level("log", 2, level)
  need_string("log", "message", message, 2)
  emit_log(self, { level = level, message = message })
end

---------------------------------------------------------------------------
-- Extensions: each module below adds methods to Node (and functions to rumor) with the
-- helpers in `internal`, so that one file holds one feature.

local internal = {
  Node = Node, core = core, config = config, managed = managed, step = step,
  report = report, node_error = node_error, emit_log = emit_log, handle_of = handle_of,
  wait_for = wait_for, check_options = check_options, need_function = need_function,
  need_string = need_string, need_key = need_key, need_own_key = need_own_key,
  timeout_option = timeout_option, milliseconds = milliseconds,
  add_subscription = add_subscription, Subscription = Subscription,
  check_interrupt = check_interrupt, LOG_LEVELS = LOG_LEVELS,
  set_value = set_value,
  kick = kick, drive_once = drive_once, wrap_node = function(...) return wrap_node(...) end,
  interrupt_pending = function() return interrupted end,
  hosted = function() return host ~= nil end,
  set_host = function(h) host = h end,
}
rumor._internal = internal

for _, name in ipairs{
  -- one module per line (keeps merges trivial)
  "rumor.consensus",
  "rumor.aggregate",
  "rumor.validate",
  "rumor.explain",
  "rumor.prometheus",
  "rumor.luv",
  "rumor.jsonstate",
  "rumor.faults",
  "rumor.keyring",
  "rumor.sim",
} do
  require(name)(rumor, internal)
end

rumor.Node = Node
return rumor

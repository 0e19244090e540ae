-- rumor.demo.cluster: the demo's local cluster. Starts, kills and restarts `rumor agent`
-- processes (through rumor.process) and keeps, for each node, what its agent reports:
-- its view of the demo key and of the other members (from its update and member
-- events, stamped when they arrive), the why text of each block, and the last answer
-- to `members` (heartbeat ages, who it watches), which tick() asks for every poll.
--
--   local c = cluster.new{ nodes = 7, interval = 200, expiration = 2000, key = "color",
--                          on_event = function(kind, node, info) ... end }
--   c:start(1, {}); c:start(2, { c.nodes[1].address }) ...
--   c:wait(function() return c:sees_all(c.nodes[1]) end, 10000, "what it waits for")
--   c:close()                      -- stops every agent and waits until each is reaped

local core = require("rumor.core")
local process = require("rumor.process")

local M = {}

local Cluster = {}
Cluster.__index = Cluster

-- A `members` request unanswered for this long is asked again: a busy agent answers in
-- a few ms, so 2 s means the line was lost with a process that is gone.
local POLL_RETRY_MS = 2000

local function now() return core.hrtime_ms() end

local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil
end

-- pcall that lets a Ctrl-C through: lua5.4 raises it once, at whatever Lua code runs
-- then, and swallowing it here would leave the demo running.
local function try(fn, ...)
  local ok, res = pcall(fn, ...)
  if not ok and is_interrupt(res) then error(res, 0) end
  return ok, res
end

-- An error the demo reports as it is (no traceback): what went wrong, in words.
function M.failure(fmt, ...)
  error({ demo_failure = fmt:format(...) }, 0)
end

-- opts: nodes, interval (gossip_interval_ms), expiration (heartbeat_expiration_ms),
-- key (the demo key), cluster (its name), on_event(kind, node, info) (told of every
-- change worth a line: "started", "value", "member", "why").
function M.new(opts)
  local c = setmetatable({
    size = opts.nodes, interval = opts.interval, expiration = opts.expiration,
    key = opts.key, name = opts.cluster, on_event = opts.on_event or function() end,
    nodes = {},
  }, Cluster)
  c.procs = process.group{ on_message = function(agent, msg) c:_message(agent, msg) end }
  for i = 1, c.size do
    c.nodes[i] = { index = i, id = "n" .. i, status = "waiting", restarts = 0 }
  end
  return c
end

-- Forgets what a node's previous process reported: a restart starts from nothing.
local function reset(node)
  node.peers = {}          -- member id -> { status, reason, generation, at }
  node.view = {}           -- member id -> { value, seq, at } of the demo key
  node.why = {}            -- member id -> why text of its block, as this node says it
  node.asking_why = {}     -- request id -> member id
  node.members = nil       -- the last `members` answer (a list, self first)
  node.polling = nil       -- { id, at } of the `members` request under way
end

-- Starts node i's agent with seeds (addresses); returns at once (see wait_started).
function Cluster:start(i, seeds)
  local node = self.nodes[i]
  reset(node)
  node.status = "starting"
  node.started_at = now()
  -- Why these timings: see demo.lua, where they are chosen.
  local agent = self.procs:agent({
    id = node.id, cluster = self.name, bind = "127.0.0.1:0", seeds = seeds,
    gossip_interval_ms = self.interval, heartbeat_expiration_ms = self.expiration,
    failure_detector = "expiration",
  })
  agent.demo_node = node
  node.agent, node.pid = agent, agent.pid
  return node
end

-- Waits until node i's agent printed "started" (its address and generation).
function Cluster:wait_started(i, timeout_ms)
  local node = self.nodes[i]
  self:wait(function() return node.status ~= "starting" end, timeout_ms,
    ("%s to start (pid %d)"):format(node.id, node.pid))
  return node
end

-- SIGKILL: no goodbye, so the others learn of it only from its missing heartbeats.
function Cluster:kill(i)
  local node = self.nodes[i]
  node.status = "killed"
  node.killed_at = now()
  node.agent:kill("SIGKILL")
  reset(node)
end

-- Starts node i again under the same id: a new process, so a new generation.
function Cluster:restart(i, seeds)
  local node = self.nodes[i]
  node.restarts = node.restarts + 1
  return self:start(i, seeds)
end

function Cluster:_message(agent, msg)
  local node = agent.demo_node
  if not node or node.agent ~= agent then return end   -- a killed process's last words
  if msg.event == "started" then
    node.address, node.generation = msg.address, msg.generation
    node.status = node.restarts > 0 and "restarted" or "up"
    node.up_at = msg.at_ms
    self.on_event("started", node, msg)
  elseif msg.event == "update" and msg.key == self.key and msg.map_key == nil then
    if msg.deleted then
      node.view[msg.member] = nil
    else
      node.view[msg.member] = { value = msg.value, seq = msg.seq, at = msg.at_ms }
    end
    self.on_event("value", node, msg)
  elseif msg.event == "member" and msg.member ~= node.id then
    local p = node.peers[msg.member] or {}
    node.peers[msg.member] = p
    p.generation, p.at = msg.generation, msg.at_ms
    if msg.type == "joined" then
      p.status, p.reason = "joined", nil
    elseif msg.type == "alive" then
      p.status, p.reason = "alive", nil
    elseif msg.type == "blocked" then
      p.status, p.reason = msg.reason == "left" and "left" or "blocked", msg.reason
      node.why[msg.member] = nil
      -- Ask the node why, in its own words; the answer comes back as a reply line.
      local ok, id = try(agent.send, agent, { cmd = "why", member = msg.member })
      if ok then node.asking_why[id] = msg.member end
    elseif msg.type == "left" or msg.type == "removed" then
      p.status, p.reason = msg.type, msg.reason
    end
    self.on_event("member", node, msg)
  elseif msg.reply == "members" and node.polling and msg.id == node.polling.id then
    node.polling = nil
    if msg.ok then node.members = msg.members end
  elseif msg.reply == "why" and node.asking_why[msg.id] then
    local member = node.asking_why[msg.id]
    node.asking_why[msg.id] = nil
    local why = msg.ok and msg.why
    -- Keep the answer only while it still explains the current state.
    if why and why.status ~= "alive" and node.peers[member]
        and node.peers[member].status ~= "alive" then
      node.why[member] = why.text
      self.on_event("why", node, { member = member, text = why.text })
    end
  end
end

-- Asks every running node for its members, unless a request is still under way.
function Cluster:poll()
  local t = now()
  for _, node in ipairs(self.nodes) do
    local a = node.agent
    if a and not a.exited and node.status ~= "starting" and node.status ~= "killed"
        and (not node.polling or t - node.polling.at > POLL_RETRY_MS) then
      local ok, id = try(a.send, a, { cmd = "members" })
      if ok then node.polling = { id = id, at = t } end
    end
  end
end

-- Nodes that should be running: not killed, not waiting for their first start.
function Cluster:running()
  local list = {}
  for _, node in ipairs(self.nodes) do
    if node.status ~= "killed" and node.status ~= "waiting" then list[#list + 1] = node end
  end
  return list
end

-- How many members node sees alive, itself included.
function Cluster:alive_count(node)
  if node.status == "killed" or node.status == "starting" or node.status == "waiting" then
    return 0
  end
  local n = 1
  for _, p in pairs(node.peers) do
    if p.status == "alive" then n = n + 1 end
  end
  return n
end

function Cluster:sees_all(node)
  return self:alive_count(node) == self.size
end

-- Whether node holds the value that member wrote (the member's entry of the key).
function Cluster:holds(node, member, value)
  local v = node.view and node.view[member]
  return v ~= nil and v.value == value
end

-- Sorted ids of the members node blocks, with their reasons: { {id, reason}, ... }.
function Cluster:blocked(node)
  local list = {}
  for id, p in pairs(node.peers or {}) do
    if p.status == "blocked" or p.status == "left" then
      list[#list + 1] = { id = id, reason = p.reason or p.status }
    end
  end
  table.sort(list, function(a, b) return #a.id < #b.id or (#a.id == #b.id and a.id < b.id) end)
  return list
end

-- Raises when a node that should be running has exited.
function Cluster:check()
  for _, node in ipairs(self.nodes) do
    local a = node.agent
    if a and node.status ~= "killed" and a.exited then
      -- Ctrl-C on a terminal reaches the agents too (one process group), and one may
      -- exit (130, as rumor does on an interrupt) before this process sees its own.
      if a.exit_code == 130 or a.exit_signal == 2 then error("interrupted!", 0) end
      M.failure("%s exited unexpectedly: %s", node.id, a:describe())
    end
  end
end

-- Drives the loop until pred() is true; fails after timeout_ms, saying what it waited
-- for (`what`, or what() for the details only known then).
function Cluster:wait(pred, timeout_ms, what)
  local v = process.eventually(function()
    self:check()
    if self.failed then error(self.failed, 0) end
    return pred()
  end, timeout_ms)
  if not v then
    M.failure("gave up after %.1f s waiting for %s", timeout_ms / 1000,
      type(what) == "function" and what() or what)
  end
  return v
end

-- Sends cmd to node and waits for its reply.
function Cluster:call(node, cmd, timeout_ms)
  return node.agent:call(cmd, timeout_ms or 5000)
end

-- Stops every agent (stop, then SIGKILL after grace_ms) and waits until each one has
-- been reaped. True when none is left.
function Cluster:close(grace_ms)
  return self.procs:close(grace_ms)
end

-- Pids of the agent processes still running.
function Cluster:running_pids()
  local pids = {}
  for _, a in ipairs(self.procs.agents) do
    if not a.exited then pids[#pids + 1] = a.pid end
  end
  return pids
end

M.now = now
M.is_interrupt = is_interrupt
M.try = try
return M

-- rumor.testing: a harness for specs of cluster behaviour (busted or plain scripts).
-- It starts `rumor agent` processes on loopback (through rumor.process), sends them
-- commands, waits for conditions under a deadline, stages faults (kill, pause,
-- restart, partitions, lossy and slow links) and reaps every process afterwards, also
-- when a spec fails or is interrupted.
--
--   local testing = require("rumor.testing")
--   it("spreads a write", function()
--     local cluster <close> = testing.cluster{ nodes = 3, config = { gossip_interval_ms = 100 } }
--     cluster:node(1):set("k", "v")
--     cluster:on_every(function(n) return n:get("k").n1 == "v" end, "k everywhere")
--   end)
--
-- Reaping. cluster:close() asks every agent to stop, SIGKILLs what is still running
-- after a grace and waits for every exit; it is safe to call more than once. It also
-- runs by itself: on leaving the scope of a `local c <close>`, and, when busted runs
-- the spec, at the end of the test that started the cluster (or, for one started in
-- a setup, before_each or describe body, at the end of that describe block, and at the
-- end of the file at the latest). A Ctrl-C raises "interrupted!" out of the waits (as
-- rumor.process does), which unwinds through the same paths; an agent also exits when
-- its stdin closes, so none outlives the driver, and a driver that is itself killed
-- SIGKILLs the agents when its Lua state is closed (rumor.process groups' __gc).
--
-- Faults use the agent's fault commands: {"cmd":"fault","peer":ADDR,"loss":P,
-- "delay_ms":MS,"cut":true} (no peer: every peer) and {"cmd":"heal"}. A link fault is
-- kept by node ids, so it follows a node that restarts on a new port.
local rumor = require("rumor")
local process = require("rumor.process")

local M = {}

M.default_deadline_ms = 30000  -- generous: a loaded 2-core CI box, never a speed check
M.poll_ms = 20                 -- predicates run at most this often: they may send a
                               -- command to every node, and running them after each of
                               -- the thousands of lines a big cluster prints would leave
                               -- the driver no time to read them
M.grace_ms = 3000              -- a stop command is answered within a loop iteration;
                               -- past this an agent is taken as hung and SIGKILLed
local SEEDS = 3                -- addresses a joining node is given: one dead seed
                               -- must not keep it out

---------------------------------------------------------------------------
-- Waiting.

-- Polls pred() (at most every M.poll_ms, driving the loop in between) until it returns
-- a true value, which is returned. pred may return false, "detail" to say what is still
-- missing. On timeout raises at `level` (counted as error() does from here + 1) an
-- error naming what, the last detail and describe() when given.
local function wait(level, pred, timeout_ms, what, describe)
  local detail
  local last = -math.huge
  local function poll()
    local now = rumor.now()
    if now - last < M.poll_ms then return nil end
    last = now
    local v, d = pred()
    if v then return v end
    detail = d
    return nil
  end
  local v = process.eventually(poll, timeout_ms, math.min(10, M.poll_ms))
  if v then return v end
  last = -math.huge
  v = poll()   -- one last look: the deadline may have come between two polls
  if v then return v end
  local msg = ("not within %d ms: %s"):format(timeout_ms, what or "the condition")
  if detail ~= nil then msg = msg .. "\n  still: " .. tostring(detail) end
  if describe then msg = msg .. "\n" .. describe() end
  error(msg, level + 1)
end

-- testing.eventually(pred [, timeout_ms] [, what]): pred's first true value; raises at
-- the caller's line, naming what and pred's last detail (its second result), after
-- timeout_ms (M.default_deadline_ms).
function M.eventually(pred, timeout_ms, what)
  if type(timeout_ms) == "string" then timeout_ms, what = nil, timeout_ms end
  local v = wait(2, pred, timeout_ms or M.default_deadline_ms, what)
  return v
end

local function describe_one(x)
  if type(x) == "table" and x.describe then return x:describe() end
  return tostring(x)
end

-- testing.on_every(list, pred, what [, timeout_ms]): waits until pred(x) holds for
-- every x of list (nodes of a cluster or rumor.process agents); raises naming what,
-- the first one that lags, pred's detail for it and its state.
local function on_every(level, list, pred, what, timeout_ms)
  local lagging
  local v = wait(level + 1, function()
    for _, x in ipairs(list) do
      local ok, d = pred(x)
      if not ok then
        lagging = x
        return false, (x.id or x.name or "?") .. (d ~= nil and (": " .. tostring(d)) or " lags")
      end
    end
    return true
  end, timeout_ms or M.default_deadline_ms, "on every one: " .. tostring(what or "the condition"),
    function() return "  first lagging: " .. describe_one(lagging) end)
  return v
end

function M.on_every(list, pred, what, timeout_ms)
  local v = on_every(2, list, pred, what, timeout_ms)
  return v
end

---------------------------------------------------------------------------
-- Commands to one agent (a rumor.process agent).

local function agent_call(level, a, cmd, timeout_ms)
  local ok, r = pcall(a.call, a, cmd, timeout_ms or M.default_deadline_ms)
  if not ok then error((tostring(r):gsub("^[^\n]-:%d+: ", "")), level + 1) end
  if not r.ok then
    error(("%s on %s failed: %s"):format(tostring(cmd.cmd), a.name, tostring(r.error)), level + 1)
  end
  return r
end

-- testing.call(agent, cmd [, timeout_ms]): sends cmd to a rumor.process agent and
-- returns its reply; raises at the caller's line unless the reply is ok.
function M.call(a, cmd, timeout_ms)
  local r = agent_call(2, a, cmd, timeout_ms)
  return r
end

-- testing.member(agent, id [, timeout_ms]): agent's record of member id (members
-- command), or nil.
function M.member(a, id, timeout_ms)
  for _, m in ipairs(agent_call(2, a, { cmd = "members" }, timeout_ms).members) do
    if m.id == id then return m end
  end
end

-- Does agent a hold an "alive" member event for b.name of b's generation?
local function saw_alive(a, b)
  return a:find(function(e)
    return e.event == "member" and e.type == "alive" and e.member == b.name
      and e.generation == b.generation
  end) ~= nil
end

-- testing.joined(agents [, timeout_ms]): waits until every rumor.process agent of the
-- list has printed an "alive" member event for every other one, of its generation.
function M.joined(list, timeout_ms)
  local v = on_every(2, list, function(a)
    for _, b in ipairs(list) do
      if b ~= a and not saw_alive(a, b) then return false, "does not see " .. b.name .. " alive" end
    end
    return true
  end, "every other agent alive", timeout_ms)
  return v
end

---------------------------------------------------------------------------
-- Files.

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local cwd
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  if not cwd then
    cwd = os.getenv("PWD")
    if not cwd or cwd == "" then
      local p = io.popen("pwd")
      cwd = p and p:read("l") or "."
      if p then p:close() end
    end
  end
  return cwd .. "/" .. path
end

---------------------------------------------------------------------------
-- A node of a cluster: one id, and the agent process currently running it.

local Node = {}
Node.__index = Node
M.Node = Node

-- "running", "paused", "killed", "stopped", "left", or "exited" (on its own).
function Node:status()
  local s = self.state
  if self.agent.exited and (s == "running" or s == "paused" or s == "starting") then return "exited" end
  return s
end

function Node:running()
  return self:status() == "running"
end

function Node:describe()
  local a = self.agent
  local s = ("%s: %s, generation %s, %s"):format(self.id, self:status(),
    tostring(self.generation), tostring(self.address))
  if a and a.exited then s = s .. "; " .. a:describe() end
  return s
end

-- Sends cmd and returns the reply, ok or not. Raises when no reply comes.
function Node:try(cmd, timeout_ms)
  local ok, r = pcall(self.agent.call, self.agent, cmd, timeout_ms or self.cluster.deadline_ms)
  if not ok then error(self.id .. ": " .. (tostring(r):gsub("^[^\n]-:%d+: ", "")), 2) end
  return r
end

-- Sends cmd and returns the reply; raises at the caller's line unless it is ok.
function Node:call(cmd, timeout_ms)
  local r = agent_call(2, self.agent, cmd, timeout_ms or self.cluster.deadline_ms)
  return r
end

-- Writes cmd without waiting; returns its id (the reply: node:reply(id)).
function Node:send(cmd)
  return self.agent:send(cmd)
end

function Node:reply(id)
  return self.agent.by_id[id]
end

function Node:set(key, value)
  return agent_call(2, self.agent, { cmd = "set", key = key, value = value }, self.cluster.deadline_ms).seq
end

function Node:get(key)
  return agent_call(2, self.agent, { cmd = "get", key = key }, self.cluster.deadline_ms).values
end

function Node:delete(key)
  return agent_call(2, self.agent, { cmd = "delete", key = key }, self.cluster.deadline_ms).seq
end

function Node:members()
  return agent_call(2, self.agent, { cmd = "members" }, self.cluster.deadline_ms).members
end

-- This node's record of member id, or nil.
function Node:member(id)
  for _, m in ipairs(agent_call(2, self.agent, { cmd = "members" }, self.cluster.deadline_ms).members) do
    if m.id == id then return m end
  end
end

function Node:metrics()
  return agent_call(2, self.agent, { cmd = "metrics" }, self.cluster.deadline_ms).metrics
end

-- The current process's resident memory in kB (VmRSS in /proc/PID/status), or nil when
-- it has exited or there is no /proc (not Linux).
function Node:rss_kb()
  local a = self.agent
  if not a or a.exited or not a.pid then return nil end
  local f = io.open("/proc/" .. a.pid .. "/status", "r")
  if not f then return nil end
  local status = f:read("a")
  f:close()
  return tonumber(status:match("\nVmRSS:%s*(%d+)"))
end

-- The events the current process printed, oldest first: all, those named filter
-- ("update", "member", or an event a script emits), or those filter(event) accepts.
function Node:events(filter)
  local out = {}
  for _, e in ipairs(self.agent.events) do
    if filter == nil or (type(filter) == "string" and e.event == filter)
      or (type(filter) == "function" and filter(e)) then
      out[#out + 1] = e
    end
  end
  return out
end

-- Waits for an event pred accepts; returns it. Raises naming what.
function Node:wait_for(pred, what, timeout_ms)
  local ev = wait(2, function()
    return self.agent:find(pred) or (self.agent.exited and "exit")
  end, timeout_ms or self.cluster.deadline_ms, self.id .. ": " .. (what or "an event"),
    function() return "  " .. self:describe() end)
  if ev == "exit" then error(self.id .. " exited waiting for " .. (what or "an event") .. "\n  " .. self:describe(), 2) end
  return ev
end

-- Does this node see member `other` (a node) alive under other's current generation,
-- by the member events it printed? Second result: what it sees instead.
function Node:sees(other)
  local v = self.view[other.id]
  if v and v.generation == other.generation and v.alive_gen == other.generation
    and (v.status == "alive" or v.status == "joined") then
    return true
  end
  if not v then return false, "has no event of " .. other.id end
  return false, ("sees %s %s (generation %s; current %s)"):format(other.id, v.status,
    tostring(v.generation), tostring(other.generation))
end

-- Member events update the node's view: per member, the newest generation heard of,
-- its status and the generation an "alive" event came for. A "joined" of the same
-- generation after a block is the block lifted (topology, or a rejoin's amnesty).
function Node:_event(msg)
  if msg.event ~= "member" then return end
  if msg.type == "rejoined" and msg.member == self.id then
    self.generation = msg.generation
    return
  end
  local g = msg.generation
  if type(g) ~= "number" then return end
  local v = self.view[msg.member]
  if v and g < v.generation then return end   -- news of an older process
  if not v or g > v.generation then
    v = { generation = g }
    self.view[msg.member] = v
  end
  if msg.type == "alive" then
    v.status, v.alive_gen = "alive", g
  elseif msg.type == "joined" or msg.type == "blocked" or msg.type == "left" or msg.type == "removed" then
    v.status, v.reason = msg.type, msg.reason
  end
end

local function wait_exit(node, what)
  local a = node.agent
  wait(3, function() return a.exited end, node.cluster.deadline_ms, node.id .. " exits " .. what,
    function() return "  " .. node:describe() end)
end

-- SIGKILL; returns once the process is reaped.
function Node:kill()
  local a = self.agent
  if a.exited then
    self.state = "killed"
    return
  end
  a.by_harness = true
  a:kill("SIGKILL")
  self.state = "killed"
  wait_exit(self, "after SIGKILL")
end

-- SIGSTOP: the process stays, silent; the others will block it as expired.
function Node:pause()
  if self:status() ~= "running" then error(self.id .. ": cannot pause a node that is " .. self:status(), 2) end
  assert(self.agent.proc:kill("SIGSTOP"))
  self.state = "paused"
end

-- SIGCONT; then applies the faults it missed while paused.
function Node:resume()
  if self:status() ~= "paused" then error(self.id .. ": cannot resume a node that is " .. self:status(), 2) end
  assert(self.agent.proc:kill("SIGCONT"))
  self.state = "running"
  self.cluster:_sync_faults(self)
end

-- The stop command; returns once the process has exited.
function Node:stop()
  if self.agent.exited then return end
  if self.state == "paused" then self.agent:kill("SIGCONT") end
  self.agent:stop()
  self.state = "stopped"
  wait_exit(self, "after stop")
end

-- Leaves gracefully (the others report it left) and waits for the exit. Returns true,
-- or false and the agent's error ("timeout": it stopped without hearing enough peers).
function Node:leave(timeout_ms)
  local r = self:try({ cmd = "leave", timeout_ms = timeout_ms }, (timeout_ms or 5000) + self.cluster.deadline_ms)
  self.state = "left"
  wait_exit(self, "after leave")
  if r.ok then return true end
  return false, r.error
end

-- A new process under the same id and config (so a new generation), joining through
-- the live members; waits until it and they see each other alive unless opts.wait is
-- false. A running process is stopped first: kill() before it for a crash.
function Node:restart(opts)
  if not self.agent.exited then self:stop() end
  self.cluster:_start(self)
  self:_started(2)
  self.cluster:_sync_faults(self)
  if not (opts and opts.wait == false) then self.cluster:wait_joined(self.id .. " rejoined") end
  return self
end

-- The fault commands on this node alone (see the cluster's partition, loss, delay).
function Node:fault(spec)
  local cmd = { cmd = "fault" }
  for k, v in pairs(spec or {}) do cmd[k] = v end
  local r = self:try(cmd)
  if not r.ok then error(("%s: fault failed: %s"):format(self.id, tostring(r.error)), 2) end
  return r
end

function Node:heal()
  local r = self:try({ cmd = "heal" })
  if not r.ok then error(("%s: heal failed: %s"):format(self.id, tostring(r.error)), 2) end
  return r
end

-- Waits for the current process's started event (raising at `level` with its stderr
-- if it exits first) and takes its address and generation.
function Node:_started(level)
  local a = self.agent
  local ok, err = pcall(a.wait_started, a, self.cluster.deadline_ms)
  if not ok then error((tostring(err):gsub("^[^\n]-:%d+: ", "")), level + 1) end
  self.address, self.generation, self.state = a.address, a.generation, "running"
end

---------------------------------------------------------------------------
-- Clusters.

local Cluster = {}
Cluster.__index = Cluster
M.Cluster = Cluster

-- Open clusters, closed by close_all and by the busted hooks below.
local open = {}

-- In busted, clusters close by themselves: one started during a test at its end, any
-- other at the end of the describe block it was started in (or of the file). The
-- subscriptions come first and return nil, true so that busted's others still run.
local in_test = false
local describes = {}
local function hook_busted()
  local busted = package.loaded["busted"]
  if type(busted) ~= "table" then return end
  pcall(function()   -- a busted without these channels only loses the safety net
    -- Ahead of the output handlers, which may end a publication (a failed test's end).
    local FIRST = { priority = 1 }
    local function close_where(match)
      for c in pairs(open) do
        if match(c) then pcall(c.close, c) end
      end
    end
    busted.subscribe({ "describe", "start" }, function(element)
      describes[#describes + 1] = element
      return nil, true
    end, FIRST)
    busted.subscribe({ "describe", "end" }, function(element)
      if describes[#describes] == element then describes[#describes] = nil end
      close_where(function(c) return c.scope == element end)
      return nil, true
    end, FIRST)
    busted.subscribe({ "test", "start" }, function()
      in_test = true
      return nil, true
    end, FIRST)
    busted.subscribe({ "test", "end" }, function()
      in_test = false
      close_where(function(c) return c.scope == "test" end)
      return nil, true
    end, FIRST)
    busted.subscribe({ "file", "end" }, function()
      close_where(function() return true end)
      return nil, true
    end, FIRST)
  end)
end

-- Now, so that the test or describe block that is running when a cluster starts is known.
hook_busted()

-- Closes every cluster not closed yet (for an after_each, or a script's end).
function M.close_all()
  for c in pairs(open) do c:close() end
end

local clusters_made = 0

-- The agent's script: an existing file's path (made absolute, as the agent reads it
-- relative to its config file), or Lua source (it has a newline or does not end in
-- .lua), written to a temporary file.
function Cluster:_script(script)
  if script == nil then return nil end
  if type(script) ~= "string" then
    error("rumor.testing: 'script' must be a file path or Lua source, got " .. type(script), 4)
  end
  if script:find("\n", 1, true) or not script:match("%.lua$") then
    self.scripts[script] = self.scripts[script] or (function()
      -- os.tmpname creates the file it names (mkstemp): it goes at close too.
      local base = os.tmpname()
      local path = base .. ".lua"
      self.files[#self.files + 1] = base
      self.files[#self.files + 1] = path
      write_file(path, script)
      return path
    end)()
    return self.scripts[script]
  end
  local path = absolute(script)
  if not readable(path) then error("rumor.testing: script file not found: " .. path, 4) end
  return path
end

local OWN_OPTIONS = { nodes = true, config = true, script = true, deadline_ms = true,
                      name_prefix = true, echo_stderr = true, env = true, wait = true }

-- testing.cluster{ nodes = 3, config = {...}, script = ..., deadline_ms = 30000,
-- name_prefix = "n", echo_stderr = false, env = {"VAR=value"}, wait = true }: starts
-- the agents on 127.0.0.1 port 0, the first as the others' seed, and (unless wait is
-- false) waits until each sees every other alive.
function M.cluster(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not OWN_OPTIONS[k] then
      error(("rumor.testing.cluster: unknown option '%s' (node settings go in 'config')"):format(tostring(k)), 2)
    end
  end
  local n = opts.nodes or 3
  if math.type(n) ~= "integer" or n < 0 then
    error("rumor.testing.cluster: 'nodes' must be an integer >= 0, got " .. tostring(n), 2)
  end
  clusters_made = clusters_made + 1
  local self = setmetatable({
    nodes = {}, by_id = {}, files = {}, scripts = {}, links = {}, heals = 0, closed = false,
    deadline_ms = opts.deadline_ms or M.default_deadline_ms,
    name_prefix = opts.name_prefix or "n",
    env = opts.env,
    group = process.group{ echo_stderr = opts.echo_stderr },
    defaults = {},
  }, Cluster)
  self.scope = in_test and "test" or describes[#describes]
  open[self] = true
  -- A name of its own, so that a straggler of another cluster on a reused port is
  -- refused rather than merged.
  self.defaults.cluster = ("testing-%d-%d-%d"):format(os.time(), clusters_made, math.random(1, 1e9))
  self.defaults.bind = "127.0.0.1:0"
  for k, v in pairs(opts.config or {}) do self.defaults[k] = v end
  local ok, err = pcall(function()
    self.defaults.script = self:_script(opts.script or self.defaults.script)
    if n > 0 then
      self:_new_node(nil, nil):_started(1)
      for _ = 2, n do self:_new_node(nil, nil) end
      for i = 2, n do self.nodes[i]:_started(1) end
      if opts.wait ~= false then self:wait_joined(("%d nodes joined"):format(n)) end
    end
  end)
  if not ok then
    self:close()
    error("rumor.testing.cluster: " .. (tostring(err):gsub("^[^\n]-:%d+: ", "")), 2)
  end
  return self
end

Cluster.__close = function(self) self:close() end

-- Is the link between nodes a and b cut (a partition)?
function Cluster:_cut(a, b)
  local l = self.links[a.id < b.id and (a.id .. "\0" .. b.id) or (b.id .. "\0" .. a.id)]
  return l ~= nil and l.spec.cut == true
end

-- Up to SEEDS addresses of running nodes that node can reach.
function Cluster:_seeds(node)
  local seeds = {}
  for _, x in ipairs(self.nodes) do
    if x ~= node and x:running() and x.address and not self:_cut(node, x) then
      seeds[#seeds + 1] = x.address
      if #seeds == SEEDS then break end
    end
  end
  return seeds
end

-- Starts node's process (its config, fresh seeds); does not wait.
function Cluster:_start(node)
  local cfg = {}
  for k, v in pairs(node.config) do cfg[k] = v end
  cfg.id = node.id
  cfg.seeds = self:_seeds(node)
  node.lives = (node.lives or 0) + 1
  node.view = {}
  node.agent = self.group:agent(cfg, {
    name = node.lives == 1 and node.id or (node.id .. "#" .. node.lives),
    env = self.env,
    on_message = function(_, msg) node:_event(msg) end,
  })
  node.state = "starting"
  -- Its own ends of its links go down the pipe now, so the agent reads them in its
  -- first loop iteration, before a round can reach a peer it is cut from (a peer it
  -- learns of from its seeds). Waiting for "started" to send them (as _sync_faults
  -- does, and must for the other ends, which need the new address) leaves a slow
  -- driver's delay open across a partition. The replies are not waited for:
  -- _sync_faults sends the same settings again and checks them.
  for _, l in pairs(self.links) do
    if l.a == node or l.b == node then
      local other = l.a == node and l.b or l.a
      if other.address then
        local cmd = { cmd = "fault", peer = other.address }
        for k, v in pairs(l.spec) do cmd[k] = v end
        pcall(node.agent.send, node.agent, cmd)   -- a dead process is _started's to report
      end
    end
  end
  return node
end

function Cluster:_new_node(id, config)
  if id == nil then
    local i = #self.nodes + 1
    repeat
      id = self.name_prefix .. i
      i = i + 1
    until not self.by_id[id]
  end
  if type(id) ~= "string" or id == "" then error("rumor.testing: a node id must be a non-empty string", 4) end
  if self.by_id[id] then error("rumor.testing: there is a node " .. id .. " already", 4) end
  local cfg = {}
  for k, v in pairs(self.defaults) do cfg[k] = v end
  for k, v in pairs(config or {}) do cfg[k] = v end
  if config and config.script then cfg.script = self:_script(config.script) end
  cfg.id, cfg.seeds = nil, nil
  local node = setmetatable({ id = id, cluster = self, config = cfg, index = #self.nodes + 1,
                              view = {} }, Node)
  self.nodes[#self.nodes + 1] = node
  self.by_id[id] = node
  return self:_start(node)
end

-- cluster:add([id] [, config] [, { wait = false }]): one more node (id defaults to
-- the prefix and its position), with config over the cluster's defaults, joining
-- through live members; waits until it and they see each other alive.
function Cluster:add(id, config, opts)
  if type(id) == "table" then id, config, opts = nil, id, config end
  local node = self:_new_node(id, config)
  node:_started(2)
  self:_sync_faults(node)
  if not (opts and opts.wait == false) then self:wait_joined(node.id .. " joined") end
  return node
end

-- cluster:node(i or id): the node at position i (start order) or of that id.
function Cluster:node(key)
  local node = type(key) == "number" and self.nodes[key] or self.by_id[key]
  if not node then error("rumor.testing: no node " .. tostring(key), 2) end
  return node
end

local function node_of(self, x)
  if getmetatable(x) == Node then return x end
  return self:node(x)
end

-- The running (started, not paused, killed, stopped or exited) nodes.
function Cluster:live()
  local out = {}
  for _, x in ipairs(self.nodes) do
    if x:running() then out[#out + 1] = x end
  end
  return out
end

function Cluster:describe()
  local lines = {}
  for _, x in ipairs(self.nodes) do lines[#lines + 1] = "  " .. x:describe() end
  return table.concat(lines, "\n")
end

-- cluster:eventually(pred [, timeout_ms] [, what]): pred's first true value, polled
-- while the loop runs; raises naming what, pred's last detail and every node's state.
function Cluster:eventually(pred, timeout_ms, what)
  if type(timeout_ms) == "string" then timeout_ms, what = nil, timeout_ms end
  local v = wait(2, pred, timeout_ms or self.deadline_ms, what, function() return self:describe() end)
  return v
end

-- cluster:on_every(pred, what [, timeout_ms]): until pred(node) holds on every running
-- node (taken anew at each poll).
function Cluster:on_every(pred, what, timeout_ms)
  local lagging
  local v = wait(2, function()
    for _, x in ipairs(self:live()) do
      local ok, d = pred(x)
      if not ok then
        lagging = x
        return false, x.id .. (d ~= nil and (": " .. tostring(d)) or " lags")
      end
    end
    return true
  end, timeout_ms or self.deadline_ms, "on every live node: " .. tostring(what or "the condition"),
    function()
      return (lagging and ("  first lagging: " .. lagging:describe() .. "\n") or "") .. self:describe()
    end)
  return v
end

-- Waits until every two running nodes that no partition separates see each other
-- alive under their current generations (from their member events).
function Cluster:wait_joined(what)
  local v = wait(2, function()
    local live = self:live()
    for _, a in ipairs(live) do
      for _, b in ipairs(live) do
        if a ~= b and not self:_cut(a, b) then
          local ok, d = a:sees(b)
          if not ok then return false, a.id .. " " .. d end
        end
      end
    end
    return true
  end, self.deadline_ms, what or "every live node sees the others alive",
    function() return self:describe() end)
  return v
end

---------------------------------------------------------------------------
-- Faults.

-- Does the agent know the fault commands? Asks one running node once, with a fault
-- command it must refuse (a field of the wrong type is refused before anything
-- changes), so no fault is set or cleared: "unknown command" means no.
function Cluster:faults_supported()
  if self.fault_support == nil then
    local x = self:live()[1]
    if not x then error("rumor.testing: no running node to ask about faults", 2) end
    local r = x:try({ cmd = "fault", cut = "probe" })
    self.fault_support = not (r.ok == false and tostring(r.error):find("unknown command", 1, true))
  end
  return self.fault_support
end

-- Sends the fault command of link l to node `at` about `peer`, if both can be reached.
local function push_link(self, at, peer, spec)
  if not (at:running() and peer.address) then return end
  local cmd = { cmd = "fault", peer = peer.address }
  for k, v in pairs(spec) do cmd[k] = v end
  local r = at:try(cmd)
  if not r.ok then
    error(("rumor.testing: fault on %s toward %s failed: %s"):format(at.id, peer.id, tostring(r.error)), 4)
  end
end

-- Merges spec into the link between a and b and sends the whole setting to both ends
-- (a setting replaces the previous one for that peer).
function Cluster:_link(a, b, spec)
  a, b = node_of(self, a), node_of(self, b)
  if a == b then error("rumor.testing: a link needs two different nodes, got " .. a.id .. " twice", 3) end
  local key = a.id < b.id and (a.id .. "\0" .. b.id) or (b.id .. "\0" .. a.id)
  local l = self.links[key] or { a = a, b = b, spec = {} }
  self.links[key] = l
  for k, v in pairs(spec) do l.spec[k] = v end
  push_link(self, a, b, l.spec)
  push_link(self, b, a, l.spec)
end

-- Resends every link fault that involves node (after a restart on a new address, or a
-- resume), to it and to the other ends; a heal it missed while paused comes first.
function Cluster:_sync_faults(node)
  if next(self.links) == nil and (node.heals or 0) == self.heals then return end
  if (node.heals or 0) < self.heals and node:running() then
    node:heal()
  end
  node.heals = self.heals
  for _, l in pairs(self.links) do
    if l.a == node or l.b == node then
      local other = l.a == node and l.b or l.a
      push_link(self, node, other, l.spec)
      push_link(self, other, node, l.spec)
    end
  end
end

local function group_of(self, list)
  local out = {}
  for i, x in ipairs(list) do out[i] = node_of(self, x) end
  return out
end

-- cluster:partition({"n1","n2"}, {"n3","n4"} [, ...]): cuts every pair of nodes in
-- different groups, at both ends. Nodes in no group keep their links.
function Cluster:partition(...)
  local groups = { ... }
  if #groups < 2 then error("rumor.testing: partition needs two groups or more", 2) end
  for i = 1, #groups do groups[i] = group_of(self, groups[i]) end
  for i = 1, #groups do
    for j = i + 1, #groups do
      for _, a in ipairs(groups[i]) do
        for _, b in ipairs(groups[j]) do self:_link(a, b, { cut = true }) end
      end
    end
  end
end

-- Loss probability p (0..1) on the link between a and b, both directions.
function Cluster:loss(a, b, p)
  if type(p) ~= "number" or p < 0 or p > 1 then
    error("rumor.testing: loss must be a probability in [0, 1], got " .. tostring(p), 2)
  end
  self:_link(a, b, { loss = p })
end

-- A delay of ms on the link between a and b: each end holds what it sends that long.
function Cluster:delay(a, b, ms)
  if math.type(ms) ~= "integer" or ms < 0 then
    error("rumor.testing: delay must be an integer number of ms >= 0, got " .. tostring(ms), 2)
  end
  self:_link(a, b, { delay_ms = ms })
end

-- Clears every fault: heal on every running node (a paused one heals on resume).
function Cluster:heal()
  self.links = {}
  self.heals = self.heals + 1
  for _, x in ipairs(self.nodes) do
    if x:running() then
      x:heal()
      x.heals = self.heals
    end
  end
end

---------------------------------------------------------------------------
-- State comparison.

-- Are the values of every key of keys (their `get`) the same on every running node?
-- Returns true, or false and the first difference. Only the entries of the members
-- listed in opts.members are compared when given (a list of ids).
function Cluster:same_state(keys, opts)
  local live = self:live()
  if #live == 0 then return true end
  local only
  if opts and opts.members then
    only = {}
    for _, id in ipairs(opts.members) do only[id] = true end
  end
  local function view(x, key)
    local values = x:get(key)
    if only then
      for id in pairs(values) do
        if not only[id] then values[id] = nil end
      end
    end
    return values
  end
  for _, key in ipairs(keys) do
    local ref = view(live[1], key)
    for i = 2, #live do
      local values = view(live[i], key)
      for id, v in pairs(ref) do
        if values[id] ~= v then
          return false, ("%s: %s has %s=%s, %s has %s"):format(key, live[1].id, id, tostring(v),
            live[i].id, tostring(values[id]))
        end
      end
      for id, v in pairs(values) do
        if ref[id] == nil then
          return false, ("%s: %s has %s=%s, %s has none"):format(key, live[i].id, id, tostring(v), live[1].id)
        end
      end
    end
  end
  return true
end

---------------------------------------------------------------------------
-- Teardown.

-- Stops every agent (resuming paused ones so they hear it), SIGKILLs those still
-- running after grace_ms, waits for every exit and removes the temporary files.
-- Returns true, or false and what went wrong: processes not reaped, or that exited
-- with an error or a signal the harness did not send. Safe to call again.
function Cluster:close(grace_ms)
  if self.closed then return self.close_ok, self.close_err end
  self.closed = true
  open[self] = nil
  for _, a in ipairs(self.group.agents) do
    if not a.exited then pcall(a.proc.kill, a.proc, "SIGCONT") end
  end
  local reaped = self.group:close(grace_ms or M.grace_ms)
  for _, path in ipairs(self.files) do os.remove(path) end
  self.files = {}
  local problems = {}
  for _, a in ipairs(self.group.agents) do
    if not a.exited then
      problems[#problems + 1] = a.name .. " was not reaped"
    elseif not a.by_harness and (a.exit_code ~= 0 or (a.exit_signal or 0) ~= 0) then
      problems[#problems + 1] = a:describe()
    end
  end
  for _, x in ipairs(self.nodes) do
    if x.state == "running" or x.state == "paused" or x.state == "starting" then x.state = "stopped" end
  end
  self.close_ok = reaped and #problems == 0
  self.close_err = not self.close_ok and ("rumor.testing: " .. table.concat(problems, "\n  ")) or nil
  return self.close_ok, self.close_err
end

return M

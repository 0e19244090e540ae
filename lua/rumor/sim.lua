-- rumor.sim: a simulated world of nodes (core/src/sim.h through core.sim), for
-- clusters far larger than one machine hosts and for runs that replay from a seed.
--
-- rumor.sim{ seed = 42, nodes = 100, latency_ms = {1, 20}, loss = 0.01 } makes nodes
-- "n1".."nN", the same Node objects rumor.new makes, started as a converged cluster
-- (or, with converged = false, joined through n1).
-- Time is virtual: it moves only inside world:run / world:run_until (and while a
-- blocking node method such as set_state_request waits), where every callback of
-- every node runs, on the calling thread. The same seed and the same script give the
-- same run event for event: world:trace() is a hash of every event so far.
--
-- The nodes have no uv loop: rumor.run, rumor.sleep and rumor.after do not move
-- virtual time.

-- How often run_until checks its predicate, in virtual ms.
local TICK_MS = 10
-- A blocking node method gives up when the world ran no event for this long.
local IDLE_MS = 60000
local MAX_NODES = 0xfffffe   -- 10.0.0.0/8 holds this many

local OPTIONS = { seed = true, nodes = true, latency_ms = true, loss = true,
                  duplicate = true, config = true, converged = true }
-- Node config fields the world sets itself.
local PER_NODE = { id = true, seeds = true, bind = true }

return function(rumor, I)
  local core, config, Node = I.core, I.config, I.Node

  local World = {}
  World.__index = World
  World.__name = "rumor.sim"

  local function bad(option, reason, level)
    error("rumor.sim: option '" .. option .. "' " .. reason, level + 1)
  end

  local function integer_in(option, v, lo, hi, level)
    local i = math.type(v) == "integer" and v or (type(v) == "number" and math.tointeger(v))
    if not i or i < lo or i > hi then
      bad(option, ("must be an integer in %d..%d, got %s"):format(lo, hi, tostring(v)), level + 1)
    end
    return i
  end

  local function probability(option, v, level)
    if v == nil then return 0 end
    if type(v) ~= "number" or not (v >= 0 and v <= 1) then
      bad(option, "must be a number in [0, 1], got " .. tostring(v), level + 1)
    end
    return v
  end

  local function live(self, method)
    if getmetatable(self) ~= World then
      error("rumor.sim: call it as world:" .. method .. "(...)", 3)
    end
    if self._closed then
      error("rumor.sim: " .. method .. ": the world is closed", 3)
    end
    return self._sim
  end

  -- Virtual ms since the world was made.
  local function now(self)
    return self._sim:now() - self._t0
  end

  -- Runs the world to virtual time t (the world's clock), firing each scripted
  -- fault at its time, in order (events due at that time run first).
  local function advance(self, t)
    local sim = self._sim
    if self._running then
      error("rumor.sim: the world is already running: a node's callback or a scripted "
        .. "fault cannot run it (nor block on a node of it)", 3)
    end
    self._running = true
    local ok, err = pcall(function()
      while true do
        local nxt = self._at[1]
        if not nxt or nxt.t > t or self._closed then break end
        table.remove(self._at, 1)
        if nxt.t > now(self) then sim:run_until(nxt.t + self._t0) end
        nxt.fn(self)
      end
      if not self._closed and t > now(self) then sim:run_until(t + self._t0) end
    end)
    self._running = false
    if not ok then error(err, 0) end
  end

  local function need_ms(method, name, v, level)
    if type(v) ~= "number" or v ~= v or v < 0 or not math.tointeger(math.ceil(v)) then
      error(("rumor.sim: %s: argument '%s' must be a number of virtual ms >= 0, got %s")
        :format(method, name, tostring(v)), level + 1)
    end
    return math.tointeger(math.ceil(v))
  end

  -- Makes node number world:count() + 1 from the world's config, then each table of
  -- layers over it in turn (the id defaults to "n<i>", the seeds to n1's address);
  -- its id may be one no node has, or that of `replacing`. method names the caller in
  -- errors. A Node, not started.
  local function make(self, sim, method, layers, replacing, level)
    local i = #self.nodes + 1
    local c, own = {}, {}
    for k, v in pairs(self._config) do c[k] = v end
    for _, layer in ipairs(layers) do
      for k, v in pairs(layer) do c[k], own[k] = v, v end
    end
    if c.id == nil then c.id = "n" .. i end
    if c.seeds == nil and i > 1 and not self._seedless then c.seeds = { sim:address(1) } end
    local checked = config.check(c, level + 1, "rumor.sim")
    local old = self._by_id[checked.id]
    if old and old ~= replacing then
      error("rumor.sim: " .. method .. ": id '" .. checked.id .. "' is taken by another node",
        level + 1)
    end
    local ok, n = pcall(sim.add, sim, checked)
    if not ok then error((tostring(n):gsub("^rumor:", "rumor.sim:")), level + 1) end
    local node = I.wrap_node(n, checked)
    node._world = self
    own.id, own.seeds = checked.id, nil
    node._sim_config = own   -- what restart makes again (the seeds are fresh then)
    self.nodes[i] = node
    self._by_id[checked.id] = node
    return node
  end

  -- Adds node number world:count() + 1: cfg (optional) is a rumor.new config whose id
  -- defaults to "n<i>" and whose seeds default to n1's address (none for n1). Not
  -- started. Returns the Node.
  function World:add(cfg)
    local sim = live(self, "add")
    if cfg ~= nil and type(cfg) ~= "table" then
      error("rumor.sim: add: argument 'cfg' must be a table or nil, got " .. type(cfg), 2)
    end
    return make(self, sim, "add", { cfg or {} }, nil, 2)
  end

  -- world:node(i) (1-based) or world:node(id): the Node, or nil.
  function World:node(which)
    live(self, "node")
    if type(which) == "string" then return self._by_id[which] end
    if math.type(which) ~= "integer" then
      error("rumor.sim: node: argument must be an index or an id, got " .. type(which), 2)
    end
    return self.nodes[which]
  end

  function World:count()
    live(self, "count")
    return #self.nodes
  end

  function World:now()
    live(self, "now")
    return now(self)
  end

  -- Runs virtual_ms of virtual time.
  function World:run(virtual_ms)
    live(self, "run")
    advance(self, now(self) + need_ms("run", "virtual_ms", virtual_ms, 2))
  end

  -- Runs until pred(world) is true (checked first, then every few virtual ms) or
  -- virtual_ms have passed. Returns true and the virtual ms taken, or false and
  -- virtual_ms.
  function World:run_until(pred, virtual_ms)
    live(self, "run_until")
    if type(pred) ~= "function" then
      error("rumor.sim: run_until: argument 'pred' must be a function, got " .. type(pred), 2)
    end
    local t0 = now(self)
    local deadline = t0 + need_ms("run_until", "virtual_ms", virtual_ms, 2)
    while true do
      if pred(self) then return true, now(self) - t0 end
      if now(self) >= deadline or self._closed then return false, now(self) - t0 end
      advance(self, math.min(deadline, now(self) + TICK_MS))
    end
  end

  -- Calls fn(world) when virtual time reaches virtual_ms (the world's clock,
  -- world:now()), after the events due then; faults due at one time fire in the
  -- order they were scripted. A time already past fires at the next run.
  function World:at(virtual_ms, fn)
    live(self, "at")
    local t = need_ms("at", "virtual_ms", virtual_ms, 2)
    if type(fn) ~= "function" then
      error("rumor.sim: at: argument 'fn' must be a function, got " .. type(fn), 2)
    end
    local list = self._at
    local pos = #list + 1
    while pos > 1 and list[pos - 1].t > t do pos = pos - 1 end
    table.insert(list, pos, { t = t, fn = fn })
  end

  -- A node given as a Node, an id or an index: its index (method names the caller).
  local function index_of(self, v, method, level)
    local node
    if math.type(v) == "integer" then node = self.nodes[v]
    elseif type(v) == "string" then node = self._by_id[v]
    elseif getmetatable(v) == Node and v._world == self then node = v end
    if node then
      for i, n in ipairs(self.nodes) do
        if n == node then return i end
      end
    end
    error("rumor.sim: " .. method .. ": " .. tostring(v) .. " is not a node of this world",
      level + 1)
  end

  -- Seeds for a node that starts now: up to 3 addresses of running nodes, but `except`.
  local function running_seeds(self, except)
    local seeds = {}
    for _, n in ipairs(self.nodes) do
      if n ~= except and not n._closed and n._running then
        seeds[#seeds + 1] = n:address()
        if #seeds == 3 then break end
      end
    end
    return seeds
  end

  -- world:restart(which [, cfg]): a crash and a restart of node `which` (a Node, id or
  -- index), as of a process: a new node is made under its id, with the config it was
  -- made with (by add, or its last restart) and cfg's fields over it, at the next
  -- index (a new address), with seeds of up to 3 running nodes unless cfg gives some;
  -- the old node is closed unless it is (nothing is sent), and the new one started.
  -- Its generation is the virtual clock's, so larger than the old node's once time has
  -- run. Returns the new Node; world:node(id) is it from now on, and the old one stays
  -- in world.nodes, closed.
  function World:restart(which, cfg)
    local sim = live(self, "restart")
    local old = self.nodes[index_of(self, which, "restart", 2)]
    local id = old._sim_config.id
    if self._by_id[id] ~= old then
      error("rumor.sim: restart: this " .. id .. " was restarted already; restart world:node(\""
        .. id .. "\")", 2)
    end
    if cfg ~= nil and type(cfg) ~= "table" then
      error("rumor.sim: restart: argument 'cfg' must be a table or nil, got " .. type(cfg), 2)
    end
    if cfg and cfg.id ~= nil and cfg.id ~= id then
      error("rumor.sim: restart: option 'id' cannot change (a restart keeps the id)", 2)
    end
    local node = make(self, sim, "restart",
                      { old._sim_config, { seeds = running_seeds(self, old) }, cfg or {} }, old, 2)
    old:close()
    node:start()
    return node
  end

  -- world:partition(group1, group2, ...): each group a list of nodes (Node objects,
  -- ids or indices). Until world:heal(), only nodes of one group hear each other; the
  -- nodes in no group form one more group together.
  function World:partition(...)
    local sim = live(self, "partition")
    local groups = table.pack(...)
    if groups.n == 0 then
      error("rumor.sim: partition: expected at least one group of nodes", 2)
    end
    local side = {}
    for i = 1, #self.nodes do side[i] = 0 end
    for g = 1, groups.n do
      local group = groups[g]
      if type(group) ~= "table" or getmetatable(group) == Node then
        error("rumor.sim: partition: group " .. g .. " must be a list of nodes, got "
          .. type(group), 2)
      end
      for _, v in ipairs(group) do
        local i = index_of(self, v, "partition", 2)
        if side[i] ~= 0 then
          error("rumor.sim: partition: node " .. self.nodes[i]:id() .. " is in two groups", 2)
        end
        side[i] = g
      end
    end
    sim:partition(side)
  end

  function World:heal()
    live(self, "heal"):partition(nil)
  end

  function World:set_loss(p)
    local sim = live(self, "set_loss")
    if type(p) ~= "number" or not (p >= 0 and p <= 1) then
      error("rumor.sim: set_loss: argument 'p' must be a number in [0, 1], got " .. tostring(p), 2)
    end
    sim:set_loss(p)
  end

  -- The hash of every event run so far, 16 hex digits: equal for equal runs.
  function World:trace()
    return live(self, "trace"):trace()
  end

  -- { events, datagrams, bytes, delivered, lost, duplicated, cut, frames, frame_bytes }
  function World:stats()
    return live(self, "stats"):stats()
  end

  -- The address node i has (or will have), "10.x.y.z:7946".
  function World:address(i)
    local sim = live(self, "address")
    return sim:address(integer_in("i", i, 1, MAX_NODES, 2))
  end

  -- Closes every node, then the world. Idempotent.
  function World:close()
    if self._closed then return end
    if self._running then
      error("rumor.sim: close: not from inside the world's run (a callback or a fault)", 2)
    end
    for _, node in ipairs(self.nodes) do node:close() end
    self._closed = true
    self._sim:close()
  end
  World.__close = World.close

  function World:__tostring()
    if self._closed then return "rumor.sim (closed)" end
    return ("rumor.sim (%d nodes, t=%d ms)"):format(#self.nodes, now(self))
  end

  -- For a blocking method of one of the world's nodes (the wait_for of init.lua):
  -- runs a slice of virtual time; false when the world is idle (nothing ran for
  -- IDLE_MS and no fault is scripted), so that the wait cannot spin forever.
  function World:_drive(method)
    if self._closed then return false end
    if self._running then
      error("rumor: " .. method .. ": cannot block on a simulated node inside the world's "
        .. "run (a callback or a scripted fault)", 0)
    end
    local before = self._sim:stats().events
    advance(self, now(self) + TICK_MS)
    if self._sim:stats().events > before then
      self._idle_since = nil
    else
      self._idle_since = self._idle_since or now(self)
    end
    return self._at[1] ~= nil or now(self) - (self._idle_since or now(self)) < IDLE_MS
  end

  -- opts: seed (integer, default 0), nodes (default 0), latency_ms ({min, max} or one
  -- number, default {1, 20}), loss and duplicate (probabilities of a datagram, default
  -- 0), config (a rumor.new config for every node, without id, seeds or bind),
  -- converged (default true: they start as a cluster whose membership has converged,
  -- each member's record shared until a node changes it, which is what lets 10,000
  -- nodes fit one machine, see core/src/share.h; false: they join through n1).
  function rumor.sim(opts)
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then
      error("rumor.sim: expected a table of options, got " .. type(opts), 2)
    end
    for k in pairs(opts) do
      if not OPTIONS[k] then
        error("rumor.sim: unknown option '" .. tostring(k) .. "' (known: seed, nodes, "
          .. "latency_ms, loss, duplicate, config, converged)", 2)
      end
    end
    local seed = opts.seed == nil and 0 or integer_in("seed", opts.seed, math.mininteger,
                                                       math.maxinteger, 2)
    local nodes = opts.nodes == nil and 0 or integer_in("nodes", opts.nodes, 0, MAX_NODES, 2)
    local lo, hi = 1, 20
    local lat = opts.latency_ms
    if type(lat) == "number" then
      lo = integer_in("latency_ms", lat, 0, 0xffffffff, 2)
      hi = lo
    elseif type(lat) == "table" then
      if #lat ~= 2 then bad("latency_ms", "must be {min, max}", 2) end
      lo = integer_in("latency_ms", lat[1], 0, 0xffffffff, 2)
      hi = integer_in("latency_ms", lat[2], 0, 0xffffffff, 2)
      if lo > hi then bad("latency_ms", "must be {min, max} with min <= max", 2) end
    elseif lat ~= nil then
      bad("latency_ms", "must be {min, max} or a number, got " .. type(lat), 2)
    end
    if opts.converged ~= nil and type(opts.converged) ~= "boolean" then
      bad("converged", "must be a boolean, got " .. type(opts.converged), 2)
    end
    local converged = opts.converged ~= false
    local loss = probability("loss", opts.loss, 2)
    local duplicate = probability("duplicate", opts.duplicate, 2)
    local template = opts.config or {}
    if type(template) ~= "table" then
      bad("config", "must be a node config table, got " .. type(template), 2)
    end
    for k in pairs(PER_NODE) do
      if template[k] ~= nil then
        bad("config", "must not set '" .. k .. "': the world sets it for each node", 2)
      end
    end
    local sim = core.sim{ seed = seed, latency_min_ms = lo, latency_max_ms = hi,
                          loss = loss, duplicate = duplicate }
    local world = setmetatable({ _sim = sim, _t0 = sim:now(), nodes = {}, _by_id = {},
                                 _at = {}, _closed = false, _running = false,
                                 _config = template }, World)
    local ok, err = pcall(function()
      world._seedless = converged -- they know each other without seeds
      for _ = 1, nodes do world:add() end
      world._seedless = nil
      for _, node in ipairs(world.nodes) do node:start() end
      if converged and nodes > 0 then sim:converge() end
    end)
    if not ok then
      world:close()
      error(err, 2)
    end
    return world
  end

  rumor.World = World
end

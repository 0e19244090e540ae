-- convergence.lua: how fast one write reaches every node, and what it costs.
--   rumor run bench/convergence.lua [--nodes 50[,1000...]] [--broadcast epidemic|tree|both]
--       [--procs] [--repeats R] [--interval MS] [--fan-out F] [--branching B]
--       [--value-size B] [--join-timeout S] [--max-rss-mib M] [--sealed]
-- --sealed gives every node one key (rumor.keygen): the cost of encryption.
-- Without --procs: N nodes in this process on loopback; with --procs: one `rumor agent`
-- process per node (in a private network namespace when root). Either way they join
-- through node 1, at the engine's defaults unless a flag says otherwise (--interval is
-- gossip_interval_ms, --fan-out gossip_fan_out, --branching broadcast_branching).
-- Once every node knows every other, each repeat writes one value on a random node
-- and times, for every other node, when its update arrived: in-process when its
-- on_update fired, with --procs when its "update" line reached this harness (pipe
-- latency included). One JSON line per size and broadcast mode (default: both):
--   p50_ms / p99_ms / max_ms    over all receivers and repeats, from the write
--   datagrams_per_node / bytes_per_node
--                               sent while the write spread, minus the idle traffic
--                               of the same length (measured first), per node: what
--                               the update itself cost. measured_by "lo": lo's tx
--                               counters of the namespace (IP bytes, --procs as root);
--                               "metrics": the engines' counters (UDP payload + TCP)
--   rss_kib_per_node            (--procs) mean VmRSS of the agents at the end
-- A mode the engine does not have (a config error) gives a line with "error"; so
-- does a run that does not form or converge in time, or (in-process) whose RSS
-- passes --max-rss-mib (default: a quarter of the machine's memory).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")
local rumor = require("rumor")

local USAGE = "usage: rumor run bench/convergence.lua [--nodes 50[,1000...]] [--broadcast epidemic|tree|both]\n"
  .. "    [--procs] [--repeats R] [--interval MS] [--fan-out F] [--branching B]\n"
  .. "    [--value-size B] [--join-timeout S] [--max-rss-mib M] [--sealed]\n"

local opts = lib.options(USAGE, {
  nodes = { "ints", { 50 } }, broadcast = { "string", "both" }, procs = { "flag", false },
  repeats = { "int" }, interval = { "int" }, ["fan-out"] = { "int" }, branching = { "int" },
  ["value-size"] = { "int", 100 }, ["join-timeout"] = { "int" }, ["max-rss-mib"] = { "int" },
  sealed = { "flag", false },
})
-- One key for the whole run (--sealed), or none.
local SECRET = opts.sealed and rumor.keygen() or nil
local modes = opts.broadcast == "both" and { "epidemic", "tree" } or { opts.broadcast }
for _, m in ipairs(modes) do
  if m ~= "epidemic" and m ~= "tree" then
    io.stderr:write("convergence: --broadcast is epidemic, tree or both\n", USAGE)
    os.exit(2)
  end
end
for _, n in ipairs(opts.nodes) do
  if n < 2 then io.stderr:write("convergence: --nodes wants sizes >= 2\n") os.exit(2) end
end

local INTERVAL = opts.interval or 500   -- the engine's default gossip_interval_ms
local CHANGE_DEADLINE_MS = 60000
local function repeats_for(n) return opts.repeats or (n <= 200 and 20 or 5) end
local function join_deadline_ms(n) return (opts["join-timeout"] or (60 + n // 5)) * 1000 end

-- An engine without the broadcast option only does epidemic: leave the field out
-- for that mode there, and let tree fail with the engine's own config error.
local HAS_BROADCAST = pcall(rumor.new, { id = "probe", broadcast = "epidemic" })
collectgarbage()

local function config(id, seed, mode)
  return {
    id = id, cluster = "bench-convergence", seeds = seed and { seed } or nil,
    broadcast = (HAS_BROADCAST or mode ~= "epidemic") and mode or nil,
    broadcast_branching = opts.branching,
    gossip_interval_ms = opts.interval, gossip_fan_out = opts["fan-out"],
    secret = SECRET,
  }
end

local function head(mode, n)
  return { { "bench", "convergence" }, { "system", "rumor" }, { "broadcast", mode },
           { "procs", opts.procs }, { "nodes", n }, { "sealed", opts.sealed } }
end

-- The line of a finished run.
local function result(mode, n, r, delays, cost_d, cost_b, measured_by, extra)
  table.sort(delays)
  local quick = 0
  for _, d in ipairs(delays) do if d <= 10 then quick = quick + 1 end end
  local line = head(mode, n)
  for _, kv in ipairs{
    { "repeats", r },
    { "p50_ms", lib.round(lib.pct(delays, 0.5)) }, { "p99_ms", lib.round(lib.pct(delays, 0.99)) },
    { "max_ms", lib.round(delays[#delays]) },
    { "datagrams_per_node", lib.round(cost_d / r / n, 2) }, { "bytes_per_node", lib.round(cost_b / r / n) },
  } do line[#line + 1] = kv end
  for _, kv in ipairs(extra) do line[#line + 1] = kv end
  for _, kv in ipairs{
    { "share_within_10ms", lib.round(quick / #delays, 3) },
    { "measured_by", measured_by }, { "gossip_interval_ms", INTERVAL },
    { "value_size", opts["value-size"] }, { "defaults", not (opts.interval or opts["fan-out"] or opts.branching) },
  } do line[#line + 1] = kv end
  lib.emit(line)
end

---------------------------------------------------------------------------
-- In-process.

local function in_process(mode, n)
  local nodes, known = {}, {}
  local function cleanup()
    for _, node in ipairs(nodes) do pcall(node.close, node) end
    nodes = {}
    collectgarbage()
    lib.sleep(100)   -- let the closed handles go
  end
  local guard = lib.memory_guard(opts["max-rss-mib"] and opts["max-rss-mib"] * 1024)
  lib.guarded(head(mode, n), function()
    local t0 = lib.now()
    -- Membership as each node sees it: a member counts from "joined" until
    -- "removed" or "blocked".
    for k = 1, n do
      local node = rumor.new(config(("n%04d"):format(k), k > 1 and nodes[1]:address() or nil, mode))
      nodes[k], known[k] = node, { count = 0, set = {} }
      local mine = known[k]
      node:on_member(function(ev)
        local was = mine.set[ev.member]
        if ev.type == "joined" or ev.type == "alive" or ev.type == "rejoined" then
          mine.set[ev.member] = true
        elseif ev.type == "blocked" or ev.type == "removed" then
          mine.set[ev.member] = nil
        end
        if was ~= mine.set[ev.member] then mine.count = mine.count + (was and -1 or 1) end
      end)
      node:start()
    end
    local function least_known()
      local least = math.huge
      for k = 1, n do least = math.min(least, known[k].count) end
      return least
    end
    local deadline = join_deadline_ms(n)
    if not lib.wait(function() guard() return least_known() == n - 1 end, deadline, 50) then
      error(("the cluster did not form within %d s (a node knows %d of %d others)")
        :format(deadline // 1000, least_known(), n - 1), 0)
    end
    local join_ms = lib.now() - t0
    -- Settled: every summary a neighbour sent matched for 4 rounds in a row (the
    -- join's last heartbeat figures have spread), or 120 s passed. Serf and swim are
    -- measured settled too (bench/peers.lua).
    local function differed()
      local d = 0
      for _, node in ipairs(nodes) do d = d + node:metrics().summaries_differed end
      return d
    end
    local settle_deadline, last = lib.now() + 120000, differed()
    repeat
      lib.sleep(4 * INTERVAL)
      local now_differed = differed()
      local quiet = now_differed == last
      last = now_differed
    until quiet or lib.now() > settle_deadline
    local settle_ms = lib.now() - t0 - join_ms

    local function traffic()
      local d, b = 0, 0
      for _, node in ipairs(nodes) do
        local m = node:metrics()
        d = d + m.datagrams_sent + (m.frames_sent or 0)
        b = b + m.bytes_sent + (m.tcp_bytes_sent or 0)
      end
      return d, b
    end
    -- Idle traffic over a few rounds, the baseline to subtract.
    local idle_ms = 4 * INTERVAL
    local d0, b0 = traffic()
    local i0 = lib.now()
    lib.sleep(idle_ms)
    local d1, b1 = traffic()
    local idle_span = lib.now() - i0
    local idle_d, idle_b = (d1 - d0) / idle_span, (b1 - b0) / idle_span

    local R = repeats_for(n)
    local delays, cost_d, cost_b = {}, 0, 0
    local value = string.rep("x", opts["value-size"])
    for r = 1, R do
      local key = "bench/" .. r
      local got, t_start, subs = 0, nil, {}
      for k, node in ipairs(nodes) do
        subs[k] = node:on_update(function(u)
          if not u["local"] then
            got = got + 1
            delays[#delays + 1] = lib.now() - t_start
          end
        end, { prefix = key })
      end
      local sd, sb = traffic()
      t_start = lib.now()
      nodes[math.random(n)]:set_state(key, value)
      local ok = lib.wait(function() guard() return got == n - 1 end, CHANGE_DEADLINE_MS, 1)
      local spent = lib.now() - t_start
      local ed, eb = traffic()
      for _, s in ipairs(subs) do s:cancel() end
      if not ok then
        error(("repeat %d: the write reached %d of %d nodes within %d ms"):format(r, got, n - 1, CHANGE_DEADLINE_MS), 0)
      end
      cost_d = cost_d + (ed - sd) - idle_d * spent
      cost_b = cost_b + (eb - sb) - idle_b * spent
      lib.sleep(INTERVAL)   -- let the round settle before the next repeat
    end
    result(mode, n, R, delays, cost_d, cost_b, "metrics", {
      { "join_ms", lib.round(join_ms, 0) },
      { "settle_ms", lib.round(settle_ms, 0) },
      { "idle_bytes_per_node_s", lib.round(idle_b * 1000 / n) },
      { "idle_datagrams_per_node_s", lib.round(idle_d * 1000 / n, 2) },
    })
  end, cleanup)
end

---------------------------------------------------------------------------
-- One process per node.

local ns, ns_error

local function procs(mode, n)
  local cl
  lib.guarded(head(mode, n), function()
    local hook
    local t0 = lib.now()
    cl = lib.agent_cluster{
      n = n, ns = ns, deadline_ms = join_deadline_ms(n),
      config = function(k, seed) return config(("n%03d"):format(k), seed, mode) end,
      on_message = function(a, msg) if hook then hook(a, msg) end end,
    }
    local join_ms = lib.now() - t0
    lib.sleep(2 * INTERVAL)

    local idle_ms = 4 * INTERVAL
    local b0, p0 = cl:traffic()
    local i0 = lib.now()
    lib.sleep(idle_ms)
    local b1, p1, measured_by = cl:traffic()
    local idle_span = lib.now() - i0
    local idle_p, idle_b = (p1 - p0) / idle_span, (b1 - b0) / idle_span

    local R = repeats_for(n)
    local delays, cost_d, cost_b = {}, 0, 0
    local value = string.rep("x", opts["value-size"])
    for r = 1, R do
      local key = "bench/" .. r
      local got, t_start = 0, nil
      local seen = {}
      hook = function(a, msg)
        if msg.event == "update" and msg.key == key and not msg["local"] and not seen[a] then
          seen[a] = true
          got = got + 1
          delays[#delays + 1] = msg.at_ms - t_start
        end
      end
      local sb, sp = cl:traffic()
      local writer = cl.agents[math.random(n)]
      t_start = lib.now()
      writer:send{ cmd = "set", key = key, value = value }
      local ok = lib.wait(function()
        cl:check_running()
        return got == n - 1
      end, CHANGE_DEADLINE_MS, 1)
      local spent = lib.now() - t_start
      local eb, ep = cl:traffic()
      hook = nil
      if not ok then
        error(("repeat %d: the write reached %d of %d agents within %d ms"):format(r, got, n - 1, CHANGE_DEADLINE_MS), 0)
      end
      cost_d = cost_d + (ep - sp) - idle_p * spent
      cost_b = cost_b + (eb - sb) - idle_b * spent
      lib.sleep(INTERVAL)
    end
    result(mode, n, R, delays, cost_d, cost_b, measured_by, {
      { "rss_kib_per_node", lib.round(cl:avg_rss_kib(), 0) },
      { "join_ms", lib.round(join_ms, 0) },
      { "idle_bytes_per_node_s", lib.round(idle_b * 1000 / n) },
      { "idle_datagrams_per_node_s", lib.round(idle_p * 1000 / n, 2) },
      { "note", ns_error and ("no private network namespace: " .. ns_error) or nil },
      { "clock", "harness, on arrival of the agent's update line" },
    })
  end, function() if cl then cl:close() end end)
end

---------------------------------------------------------------------------

math.randomseed(os.time())
local ok, err = xpcall(function()
  if opts.procs then
    ns, ns_error = lib.namespace()
    if not ns then lib.log("convergence: %s; traffic from the engines' metrics", ns_error) end
  end
  for _, n in ipairs(opts.nodes) do
    for _, mode in ipairs(modes) do
      if opts.procs then procs(mode, n) else in_process(mode, n) end
    end
  end
end, debug.traceback)
if ns then ns:close() end
if not ok then error(err, 0) end

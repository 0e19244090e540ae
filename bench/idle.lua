-- idle.lua: what a settled cluster costs when nothing is written.
--   rumor run bench/idle.lua [--nodes 10,100] [--seconds 30] [--settle S]
-- One `rumor agent` process per node at the engine's defaults, all in a private
-- network namespace (unshare -n, lo up; root), measured the way bench/peers.lua
-- measures Serf and swim. After the cluster formed (every agent saw every other
-- alive) and --settle more seconds (10), a window of --seconds:
--   bytes_per_node_s / datagrams_per_node_s
--                      lo's tx bytes / packets in the namespace over the window, per
--                      node and second (IP level, TCP included): measured_by "lo".
--                      Without a namespace (not root, no unshare or ip) the engines'
--                      own counters (UDP payload + TCP bytes; datagrams + TCP frames):
--                      measured_by "metrics", with a note saying why
--   cpu_pct_per_node   utime + stime of each agent (/proc/PID/stat) over the window, per
--                      node, in % of one core
--   rss_kib_per_node   mean VmRSS (/proc/PID/status) at the end of the window
-- One JSON line per size.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")

local USAGE = "usage: rumor run bench/idle.lua [--nodes 10,100] [--seconds 30] [--settle S]\n"
local opts = lib.options(USAGE, {
  nodes = { "ints", { 10, 100 } }, seconds = { "int", 30 }, settle = { "int", 10 },
})
if opts.seconds < 1 then io.stderr:write("idle: --seconds wants >= 1\n") os.exit(2) end
for _, n in ipairs(opts.nodes) do
  if n < 2 then io.stderr:write("idle: --nodes wants sizes >= 2\n") os.exit(2) end
end

local ns, ns_error

local function idle(n)
  local cl
  local head = { { "bench", "idle" }, { "system", "rumor" }, { "nodes", n }, { "seconds", opts.seconds } }
  lib.guarded(head, function()
    cl = lib.agent_cluster{
      n = n, ns = ns,
      config = function(k, seed)
        return { id = ("n%03d"):format(k), cluster = "bench-idle", seeds = seed and { seed } or nil }
      end,
    }
    lib.sleep(opts.settle * 1000)
    cl:check_running()
    local b0, p0 = cl:traffic()
    local c0, t0 = cl:cpu_s(), lib.now()
    lib.sleep(opts.seconds * 1000)
    cl:check_running()
    local b1, p1, measured_by = cl:traffic()
    local c1, t1 = cl:cpu_s(), lib.now()
    local s = (t1 - t0) / 1000
    local line = table.move(head, 1, #head, 1, {})
    for _, kv in ipairs{
      { "bytes_per_node_s", lib.round((b1 - b0) / n / s) },
      { "datagrams_per_node_s", lib.round((p1 - p0) / n / s, 2) },
      { "cpu_pct_per_node", lib.round((c1 - c0) / n / s * 100, 3) },
      { "rss_kib_per_node", lib.round(cl:avg_rss_kib(), 0) },
      { "measured_by", measured_by }, { "settle_s", opts.settle },
      { "note", measured_by == "lo"
          and "lo tx counters of the cluster's own network namespace (IP packets, TCP included)"
          or ("no private network namespace (" .. tostring(ns_error)
              .. "): the engines' metrics, UDP payload and TCP bytes without IP headers") },
    } do line[#line + 1] = kv end
    lib.emit(line)
  end, function() if cl then cl:close() end end)
end

local ok, err = xpcall(function()
  ns, ns_error = lib.namespace()
  if not ns then lib.log("idle: %s; measuring with the engines' metrics instead", ns_error) end
  for _, n in ipairs(opts.nodes) do idle(n) end
end, debug.traceback)
if ns then ns:close() end
if not ok then error(err, 0) end

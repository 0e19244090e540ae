-- bench/report.lua: bench/results.jsonl -> bench/RESULTS.md.
--   lua5.4 bench/report.lua [results.jsonl] [RESULTS.md]
-- Puts rumor's lines beside Serf's and swim's (bench/peers.lua), joined on bench,
-- nodes and procs, with ratios and the targets of the benchmark issue, met or missed.
-- Lines with "bench":"suite" carry the run's date, machine and commands.
local cjson = require("cjson")

local IN = arg[1] or "bench/results.jsonl"
local OUT = arg[2] or "bench/RESULTS.md"

-- cjson gives floats; integral ones become integers again, for printing.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do
      if x == cjson.null then v[k] = nil else v[k] = integers(x) end
    end
  elseif math.type(v) == "float" then
    return math.tointeger(v) or v
  end
  return v
end

local suite, runs, lines = {}, {}, {}
do
  local f = assert(io.open(IN, "r"))
  for line in f:lines() do
    local ok, v = pcall(cjson.decode, line)
    if ok and type(v) == "table" then
      integers(v)
      if v.bench == "suite" then
        if v.command then runs[#runs + 1] = v else suite = v end
      elseif v.bench then
        lines[#lines + 1] = v
      end
    end
  end
  f:close()
end

---------------------------------------------------------------------------
-- Finding lines. The last matching line wins (a re-run replaces an earlier one).

local function find(bench, system, where)
  local found
  for _, v in ipairs(lines) do
    if v.bench == bench and v.system == system then
      local ok = true
      for k, want in pairs(where or {}) do
        local have = v[k]
        if k == "procs" and have == nil then have = (bench == "convergence" and system ~= "rumor") end
        if k == "broadcast" and have == nil and system == "rumor" then have = "epidemic" end
        if have ~= want then ok = false break end
      end
      if ok then found = v end
    end
  end
  return found
end

local function sizes(bench, where)
  local seen, list = {}, {}
  for _, v in ipairs(lines) do
    if v.bench == bench and v.nodes and not seen[v.nodes] then
      local ok = true
      for k, want in pairs(where or {}) do
        local have = v[k]
        if k == "procs" and have == nil then have = v.system ~= "rumor" end
        if have ~= want then ok = false end
      end
      if ok then seen[v.nodes] = true list[#list + 1] = v.nodes end
    end
  end
  table.sort(list)
  return list
end

---------------------------------------------------------------------------
-- Formatting.

local function num(x, unit)
  if x == nil then return "—" end
  if type(x) ~= "number" then return tostring(x) end
  local s
  if x == math.floor(x) and math.abs(x) < 1e15 then
    s = ("%d"):format(x)
  elseif math.abs(x) >= 100 then
    s = ("%.0f"):format(x)
  elseif math.abs(x) >= 1 then
    s = ("%.1f"):format(x)
  else
    s = ("%.3g"):format(x)
  end
  return unit and (s .. " " .. unit) or s
end

local function value(v, field, unit)
  if v == nil then return "—" end
  if v.error then return "error" end
  return num(v[field], unit)
end

-- a / b as "N.Nx", or "—".
local function ratio(a, b)
  if type(a) ~= "number" or type(b) ~= "number" or b == 0 then return "—" end
  local r = a / b
  return (r >= 100 and ("%.0fx") or ("%.3gx")):format(r)
end

local out = {}
local function w(fmt, ...) out[#out + 1] = select("#", ...) > 0 and fmt:format(...) or fmt end
local function row(cells) w("| " .. table.concat(cells, " | ") .. " |") end

local PEERS = { "serf", "swim" }
local NAME = { rumor = "rumor", serf = "Serf", swim = "swim" }

---------------------------------------------------------------------------
-- Header.

w("# Benchmark results")
w("")
w("Written by `make bench` (`bench/run.lua`, then `bench/report.lua`) from `bench/results.jsonl`.")
w("")
w("- Date: %s", suite.date or os.date("!%Y-%m-%d %H:%M UTC"))
w("- Machine: %s cores (`nproc`), %s, Linux %s", num(suite.nproc), suite.cpu or "CPU unknown", suite.kernel or "?")
w("- rumor: commit %s%s%s", suite.commit or "?", suite.dirty and " (with uncommitted changes)" or "",
  suite.quick and "; **quick run (tiny sizes): not figures to quote**" or "")
for _, n in ipairs(suite.notes or {}) do w("- Note: %s", n) end
w("")
w("Times are ms. Every system runs at its defaults unless a line says otherwise; rumor's")
w("defaults are gossip_interval_ms 500, gossip_fan_out 3, heartbeat_expiration_ms 10000.")
w("Each ratio column says which way it divides: \"Serf ÷ rumor\" above 1x means rumor is")
w("faster; \"rumor ÷ Serf\" above 1x means rumor spends more (bytes, memory).")
w("")

---------------------------------------------------------------------------
-- Targets.

local targets = {}
local function target(what, rumor_s, peer_s, ratio_s, verdict)
  targets[#targets + 1] = { what, rumor_s, peer_s, ratio_s, verdict }
end
local function verdict(ok) if ok == nil then return "n/a" end return ok and "**met**" or "**missed**" end

do -- N=100 processes: p99 convergence >= 10x faster than Serf's, both at defaults.
  local r = find("convergence", "rumor", { procs = true, nodes = 100, broadcast = "epidemic" })
  local rt = find("convergence", "rumor", { procs = true, nodes = 100, broadcast = "tree" })
  local s = find("convergence", "serf", { procs = true, nodes = 100 })
  local function one(label, rv)
    local rp = rv and not rv.error and rv.p99_ms
    local sp = s and not s.error and s.p99_ms
    local spp = s and not s.error and s.p99_ms_protocol
    target(("N=100 processes, p99 convergence ≥ 10x faster than Serf (%s)"):format(label),
      value(rv, "p99_ms"),
      (sp and num(sp) or "—") .. (spp and (" (protocol: " .. num(spp) .. ")") or ""),
      ratio(sp, rp) .. (spp and rp and (" (protocol: " .. ratio(spp, rp) .. ")") or ""),
      (rp and sp) and (verdict(sp / rp >= 10) .. (spp and (" (protocol: " .. verdict(spp / rp >= 10) .. ")") or ""))
        or "n/a")
  end
  one("epidemic", r)
  one("tree", rt)
end

do -- N=1000 in-process: p99 < 100 ms.
  for _, mode in ipairs{ "epidemic", "tree" } do
    local r = find("convergence", "rumor", { procs = false, nodes = 1000, broadcast = mode })
    local rp = r and not r.error and r.p99_ms
    target(("N=1000 in-process, p99 convergence < 100 ms (%s)"):format(mode), value(r, "p99_ms"), "—", "—",
      rp and verdict(rp < 100) or "n/a")
  end
end

do -- Idle bytes per node per second at N=100 <= Serf's.
  local r = find("idle", "rumor", { nodes = 100 })
  local s = find("idle", "serf", { nodes = 100 })
  local rb = r and not r.error and r.bytes_per_node_s
  local sb = s and not s.error and s.bytes_per_node_s
  target("N=100, idle bytes per node per second ≤ Serf's", value(r, "bytes_per_node_s"), value(s, "bytes_per_node_s"),
    ratio(sb, rb), (rb and sb) and verdict(rb <= sb) or "n/a")
end

do -- RSS per node < 1/4 of Serf's (idle N=100, else the largest size both have).
  local function rss(system)
    local v = find("idle", system, { nodes = 100 })
    if not (v and v.rss_kib_per_node) then v = find("convergence", system, { procs = true, nodes = 100 }) end
    return v and not v.error and v.rss_kib_per_node
  end
  local rr, sr = rss("rumor"), rss("serf")
  target("RSS per node < 1/4 of Serf's (N=100)", num(rr, "KiB"), num(sr, "KiB"), ratio(sr, rr),
    (rr and sr) and verdict(rr < sr / 4) or "n/a")
end

do -- Failure detection no slower than Serf's at the same N, default settings.
  for _, n in ipairs(sizes("failure", { system = "rumor" })) do
    local r = find("failure", "rumor", { nodes = n })
    local s = find("failure", "serf", { nodes = n })
    local rp = r and not r.error and r.p50_ms
    local sp = s and not s.error and s.p50_ms
    local defaults = r and r.defaults ~= false
    target(("N=%d, failure detection (p50, last observer) no slower than Serf's%s"):format(n,
        defaults and "" or " — rumor NOT at defaults"),
      value(r, "p50_ms"), value(s, "p50_ms"), ratio(sp, rp),
      (rp and sp and defaults) and verdict(rp <= sp) or "n/a")
  end
end

w("## Targets")
w("")
row{ "target", "rumor", "Serf", "Serf ÷ rumor", "" }
row{ "---", "---:", "---:", "---:", "---" }
for _, t in ipairs(targets) do row(t) end
w("")

---------------------------------------------------------------------------
-- Convergence.

w("## Convergence: one write until every other node has it")
w("")
w("p50/p99/max over receivers and repeats. rumor: from the write until the receiver's")
w("`on_update` (in-process) or until its agent's update line reached the harness (processes).")
w("Serf: `serf tags -set` until each member's event handler ran (its coalescer holds member")
w("events ≥ 1 s); \"protocol\" is the same change at the agents' EventMemberUpdate log line.")
w("swim: `set_payload` until each member's `on_member_event`. datagrams and bytes per node:")
w("what the write cost over the idle traffic of the same time (lo = IP bytes in a private")
w("network namespace; metrics = the engine's counters, UDP payload).")
w("")
row{ "N", "processes", "system", "mode", "p50", "p99", "max", "Serf ÷ rumor (p99)", "datagrams/node", "bytes/node", "RSS/node KiB", "repeats" }
row{ "---:", "---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:" }
for _, procs in ipairs{ true, false } do
  for _, n in ipairs(sizes("convergence", { procs = procs })) do
    local serf = find("convergence", "serf", { procs = procs, nodes = n })
    for _, mode in ipairs{ "epidemic", "tree" } do
      local v = find("convergence", "rumor", { procs = procs, nodes = n, broadcast = mode })
      if v and v.error then
        row{ num(n), procs and "yes" or "no", "rumor", mode, "error (below)", "", "", "", "", "", "", "" }
      elseif v then
        row{ num(n), procs and "yes" or "no", "rumor", mode, value(v, "p50_ms"), value(v, "p99_ms"), value(v, "max_ms"),
             serf and (ratio(serf.p99_ms, v.p99_ms) .. (serf.p99_ms_protocol
               and (" (protocol " .. ratio(serf.p99_ms_protocol, v.p99_ms) .. ")") or "")) or "—",
             value(v, "datagrams_per_node") .. (v.measured_by and not v.error and (" (" .. v.measured_by .. ")") or ""),
             value(v, "bytes_per_node"), value(v, "rss_kib_per_node"), value(v, "repeats") }
      end
    end
    for _, sys in ipairs(PEERS) do
      local v = find("convergence", sys, { procs = procs, nodes = n })
      if v then
        local p = v.p99_ms_protocol and (" (protocol " .. num(v.p99_ms_protocol) .. ")") or ""
        row{ num(n), procs and "yes" or "no", NAME[sys], v.change or "", value(v, "p50_ms"), value(v, "p99_ms") .. p,
             value(v, "max_ms"), "", value(v, "datagrams_per_node"), value(v, "bytes_per_node"),
             value(v, "rss_kib_per_node"), value(v, "repeats") }
      end
    end
  end
end
w("")

---------------------------------------------------------------------------
-- Idle.

w("## Idle: a settled cluster, nothing written")
w("")
w("One process per node; bytes and datagrams from lo's tx counters of the cluster's own")
w("network namespace (IP level, TCP included) unless \"measured by\" says metrics; CPU is")
w("utime+stime per node in % of one core; RSS is VmRSS per node.")
w("")
row{ "N", "system", "bytes/node/s", "datagrams/node/s", "CPU %/node", "RSS/node KiB", "rumor ÷ Serf (bytes)", "rumor ÷ Serf (RSS)", "measured by", "seconds" }
row{ "---:", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---:" }
for _, n in ipairs(sizes("idle")) do
  local serf = find("idle", "serf", { nodes = n })
  for _, sys in ipairs{ "rumor", "serf", "swim" } do
    local v = find("idle", sys, { nodes = n })
    if v then
      local rb = sys == "rumor" and serf and not serf.error and not v.error
      row{ num(n), NAME[sys], value(v, "bytes_per_node_s"), value(v, "datagrams_per_node_s"),
           value(v, "cpu_pct_per_node"), value(v, "rss_kib_per_node"),
           rb and ratio(v.bytes_per_node_s, serf.bytes_per_node_s) or "",
           rb and ratio(v.rss_kib_per_node, serf.rss_kib_per_node) or "",
           v.measured_by or "", value(v, "seconds") }
    end
  end
end
w("")

---------------------------------------------------------------------------
-- Failure detection.

w("## Failure detection: SIGKILL one node, until the last survivor reports it")
w("")
w("p50/max over trials of the time until the LAST survivor blocked (rumor) or reported")
w("failed/dead (Serf: member-failed event handler, \"protocol\" = its log line; swim:")
w("`on_member_event`), on the harness's clock when the line arrived.")
w("")
row{ "N", "system", "detector / settings", "p50", "max", "first (p50)", "Serf ÷ rumor (p50)", "trials" }
row{ "---:", "---", "---", "---:", "---:", "---:", "---:", "---:" }
for _, n in ipairs(sizes("failure")) do
  local serf = find("failure", "serf", { nodes = n })
  for _, sys in ipairs{ "rumor", "serf", "swim" } do
    for _, v in ipairs(lines) do
      if v.bench == "failure" and v.system == sys and v.nodes == n then
        local settings
        if sys == "rumor" then
          settings = (v.detector or "?") .. (v.defaults == false
            and (" (interval %s, expiration %s)"):format(num(v.gossip_interval_ms), num(v.heartbeat_expiration_ms))
            or " (defaults)")
        elseif sys == "swim" then
          settings = v.ack_timeout_s and ("ack_timeout " .. num(v.ack_timeout_s) .. " s") or ""
        else
          settings = v.p50_ms_protocol and ("protocol p50 " .. num(v.p50_ms_protocol)) or "defaults"
        end
        row{ num(n), NAME[sys], settings, value(v, "p50_ms"), value(v, "max_ms"), value(v, "first_ms"),
             (sys == "rumor" and serf and not v.error and not serf.error) and ratio(serf.p50_ms, v.p50_ms) or "",
             value(v, "trials") }
      end
    end
  end
end
w("")

---------------------------------------------------------------------------
-- Errors and notes.

local errs = {}
for _, v in ipairs(lines) do
  if v.error then
    errs[#errs + 1] = ("- %s %s%s%s: %s"):format(v.bench, NAME[v.system] or tostring(v.system),
      v.nodes and (" N=" .. v.nodes) or "", v.broadcast and (" " .. v.broadcast) or "", v.error)
  end
end
for _, v in ipairs(lines) do
  if v.note and not v.error and not v.note:find("^lo tx counters") then
    errs[#errs + 1] = ("- %s %s N=%s: %s"):format(v.bench, NAME[v.system] or tostring(v.system), tostring(v.nodes), v.note)
  end
end
if #errs > 0 then
  w("## Errors and notes")
  w("")
  for _, e in ipairs(errs) do w("%s", e) end
  w("")
end

---------------------------------------------------------------------------
-- Commands.

w("## Commands")
w("")
w("Run from the repository root after `make build` (`make bench` runs them all):")
w("")
w("```sh")
for _, r in ipairs(runs) do
  local status
  if r.skipped then
    status = "skipped: " .. r.skipped
  elseif r.signal then
    status = ("killed by signal %d after %d s"):format(r.signal, r.seconds or 0)
  else
    status = ("exit %s, %d s, %d lines"):format(tostring(r.exit), r.seconds or 0, r.lines or 0)
  end
  w("%s   # %s", r.command, status)
end
w("```")

---------------------------------------------------------------------------
-- A pointer to the simulation study, a run of its own (bench/sim_study.lua).

w("")
w("## Simulation study")
w("")
w("The simulated clusters of `bench/sim.lua` (one process, virtual time), for N = 100,")
w("1,000 and 10,000 in both broadcast modes with 0, 1 and 10% loss, are a run of their own:")
w("`make sim-study` writes [SIM.md](SIM.md) and its figure of convergence time against N,")
w("[sim_convergence.svg](sim_convergence.svg).")

local f = assert(io.open(OUT, "w"))
f:write(table.concat(out, "\n"), "\n")
f:close()

-- bench/sim_study.lua: the simulation study (`make sim-study`): bench/sim.lua for every
-- N × broadcast mode × loss × seed, one run after another, each as its own process.
--   rumor run bench/sim_study.lua [--nodes 100,1000,10000] [--seeds 1,2,...]
--       [--broadcast epidemic,tree] [--loss 0,0.01,0.1] [--quick] [--out DIR]
--       [--sim-args "ARGS"] [--timeout S] [--report-only]
-- Writes into DIR (default: bench/):
--   sim_study.jsonl   a header line (date, machine, command), each run's line as sim.lua
--                     printed it plus "command" and "exit" (a made-up line with "error"
--                     when it printed none), one summary line per N × mode × loss, an end line
--   SIM.md            the table (bench/sim_table.lua), failed runs listed, the figure
--   sim_convergence.dat, .gp, .svg   the figure (bench/sim_plot.lua; the .svg only when
--                     gnuplot is installed)
-- --quick: N = 20,40 and seed 1 unless given (the check in spec/bench_spec.lua).
-- --sim-args: more flags for every sim.lua run (e.g. "--latency-max 50"), not the axes.
-- --timeout: a run still going after S wall seconds is killed and counted as failed
-- (0, the default: none). --report-only: SIM.md and the figure again from DIR's
-- sim_study.jsonl, without running anything.
-- Progress goes to stderr. Exits 1 when a run failed or did not converge (after
-- writing everything), 130 when interrupted.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local lib = require("lib")
local sim_table = require("sim_table")
local sim_plot = require("sim_plot")
local process = require("rumor.process")
local cjson = require("cjson")

local here = arg[0]:match("^(.*)/[^/]*$") or "."
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local ROOT = here:gsub("/bench$", "")

local USAGE = "usage: rumor run bench/sim_study.lua [--nodes 100,1000,10000] [--seeds 1,2,...]\n"
  .. "    [--broadcast epidemic,tree] [--loss 0,0.01,0.1] [--quick] [--out DIR]\n"
  .. "    [--sim-args \"ARGS\"] [--timeout S] [--report-only]\n"
local opts = lib.options(USAGE, {
  nodes = { "ints" }, seeds = { "ints" }, broadcast = { "string", "epidemic,tree" },
  loss = { "string", "0,0.01,0.1" }, quick = { "flag", false }, out = { "string", here },
  ["sim-args"] = { "string", "" }, timeout = { "int", 0 }, ["report-only"] = { "flag", false },
})
local function usage_error(why)
  io.stderr:write("sim_study: ", why, "\n", USAGE)
  os.exit(2)
end
-- The issue's sizes and ten seeds: whether a push misses a node or two (a round of
-- anti-entropy more) varies by seed, and three gave medians that flipped between the
-- two; a 10,000-node run takes seconds, so ten cost a few minutes.
-- --quick: two tiny sizes and one seed, a few seconds in all.
opts.nodes = opts.nodes or (opts.quick and { 20, 40 } or { 100, 1000, 10000 })
opts.seeds = opts.seeds or (opts.quick and { 1 } or { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
local modes, losses = {}, {}
for w in opts.broadcast:gmatch("[^,]+") do
  if w ~= "epidemic" and w ~= "tree" then usage_error("--broadcast takes epidemic and tree") end
  modes[#modes + 1] = w
end
for w in opts.loss:gmatch("[^,]+") do
  local p = tonumber(w)
  if not p or p < 0 or p > 1 then usage_error("--loss takes fractions between 0 and 1") end
  losses[#losses + 1] = { text = w, value = p }
end
if #modes == 0 or #losses == 0 then usage_error("--broadcast and --loss need a value each") end
local sim_args = {}
for w in opts["sim-args"]:gmatch("%S+") do
  if w == "--nodes" or w == "--seed" or w == "--broadcast" or w == "--loss" then
    usage_error("--sim-args cannot set " .. w .. ": the study's own flags do")
  end
  sim_args[#sim_args + 1] = w
end

local function log(fmt, ...) lib.log("sim_study: " .. fmt, ...) end

local function quote(s)
  s = tostring(s)
  if s:match("^[%w%./_,:=@%-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function sh_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local s = p and p:read("l")
  if p then p:close() end
  return s
end

-- One JSON object per line, keys in the order given (cjson's would be any order).
local function ordered(pairs_in_order)
  local parts = {}
  for _, kv in ipairs(pairs_in_order) do
    if kv[2] ~= nil then parts[#parts + 1] = lib.json(kv[1]) .. ":" .. lib.json(kv[2]) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- cjson decodes 500 as 500.0; whole numbers become integers again, for printing.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
  elseif math.type(v) == "float" then
    return math.tointeger(v) or v
  end
  return v
end

local function decode(line)
  local ok, v = pcall(cjson.decode, line)
  if ok and type(v) == "table" then return integers(v) end
  return nil
end

local JSONL = opts.out .. "/sim_study.jsonl"
local argv = {}
for i = 1, #arg do argv[i] = quote(arg[i]) end
local COMMAND = table.concat({ "lua/bin/rumor run bench/sim_study.lua", table.unpack(argv) }, " ")
local RUN_COMMAND = "lua/bin/rumor run bench/sim.lua --nodes N --seed S --broadcast MODE --loss P"
  .. (#sim_args > 0 and (" " .. table.concat(sim_args, " ")) or "")

---------------------------------------------------------------------------
-- One run: sim.lua's JSON line (decoded, and as text with "command" and "exit" added),
-- with its stderr passed on as it comes.

local function run_one(n, mode, loss, seed)
  local words = { "lua/bin/rumor", "run", "bench/sim.lua", "--nodes", n, "--seed", seed,
                  "--broadcast", mode, "--loss", loss.text }
  for _, w in ipairs(sim_args) do words[#words + 1] = w end
  for k, w in ipairs(words) do words[k] = quote(w) end
  local command = table.concat(words, " ")
  local limit = opts.timeout > 0 and ("timeout -s KILL " .. opts.timeout .. " ") or ""
  local t0 = lib.now()
  -- stderr into the pipe as well: sim.lua's stdout has nothing but its JSON line, and
  -- everything else it says is passed on (and its first line kept for a failure).
  local p = assert(io.popen(("cd %s && exec %s%s %s 2>&1"):format(quote(ROOT), limit,
    quote(process.interpreter()), command), "r"))
  local text, said
  for line in p:lines() do
    local v = line:sub(1, 1) == "{" and decode(line)
    if v then
      text = line
    else
      io.stderr:write("    | ", line, "\n")
      said = said or line   -- an error's message, or the complaint before a usage text
    end
  end
  local _, how, code = p:close()
  local exit = how == "exit" and code or nil
  local extra = { { "command", command }, { "exit", exit }, { "signal", how == "signal" and code or nil },
                  { "process_s", lib.round((lib.now() - t0) / 1000, 2) } }
  if not text then
    local why = opts.timeout > 0 and (code == 124 or code == 137 or (how == "signal" and code == 9))
      and ("killed after the --timeout of %d s"):format(opts.timeout)
      or ("printed no line (%s %s)%s"):format(how, tostring(code), said and (": " .. said) or "")
    text = ordered{ { "bench", sim_table.NO_LINE }, { "nodes", n }, { "seed", seed },
                    { "broadcast", mode }, { "loss", loss.value }, { "error", why } }
  end
  text = text:sub(1, -2) .. "," .. ordered(extra):sub(2)
  local interrupted = (how == "signal" and code == 2) or exit == 130
  return decode(text), text, interrupted
end

---------------------------------------------------------------------------
-- The study.

local function machine_header()
  local cores, cpu = lib.machine()
  local nodes = opts.nodes
  local loss_values = {}
  for k, l in ipairs(losses) do loss_values[k] = l.value end
  return {
    { "bench", "sim_study" }, { "date", os.date("!%Y-%m-%d %H:%M UTC") }, { "command", COMMAND },
    { "run_command", RUN_COMMAND }, { "nproc", cores }, { "cpu", cpu }, { "kernel", sh_line("uname -r") },
    { "commit", sh_line("git -C " .. quote(ROOT) .. " rev-parse --short HEAD") },
    { "dirty", (sh_line("git -C " .. quote(ROOT) .. " status --porcelain --untracked-files=no | head -1") or "") ~= "" },
    { "nodes", nodes }, { "seeds", opts.seeds }, { "broadcast", modes }, { "loss", loss_values },
    { "sim_args", opts["sim-args"] }, { "quick", opts.quick }, { "timeout_s", opts.timeout },
  }
end

local function study()
  local f = io.open(JSONL, "w")
  if not f then usage_error("cannot write " .. JSONL) end
  local header = machine_header()
  f:write(ordered(header), "\n")
  f:flush()
  local meta = {}
  for _, kv in ipairs(header) do meta[kv[1]] = kv[2] end
  local total = #opts.nodes * #modes * #losses * #opts.seeds
  log("%d runs (N %s × %s × loss %s × seeds %s) into %s", total, table.concat(opts.nodes, ","),
    table.concat(modes, ","), opts.loss, table.concat(opts.seeds, ","), opts.out)
  local runs, k, t0 = {}, 0, lib.now()
  for _, n in ipairs(opts.nodes) do
    for _, mode in ipairs(modes) do
      for _, loss in ipairs(losses) do
        for _, seed in ipairs(opts.seeds) do
          k = k + 1
          local r, text, interrupted = run_one(n, mode, loss, seed)
          if interrupted then
            meta.interrupted = true
            log("interrupted at run %d of %d", k, total)
            goto done
          end
          f:write(text, "\n")
          f:flush()
          runs[#runs + 1] = r
          local what = sim_table.ok(r)
            and ("converged in %s virtual ms (%s rounds)"):format(tostring(r.virtual_ms), tostring(r.rounds))
            or ("FAILED: " .. sim_table.why(r))
          log("[%d/%d] N=%d %s loss %s seed %d: %s, %.2f s", k, total, n, mode,
            sim_table.loss_label(loss.value), seed, what, r.process_s or 0)
        end
      end
    end
  end
  ::done::
  meta.seconds = (lib.now() - t0) / 1000
  local groups = sim_table.groups(runs, { broadcast = modes })
  for _, g in ipairs(groups) do
    local line = { { "bench", "sim_study_summary" }, { "nodes", g.nodes }, { "broadcast", g.broadcast },
                   { "loss", g.loss }, { "runs", #g.runs }, { "converged", g.converged } }
    for _, field in ipairs(sim_table.FIELDS) do line[#line + 1] = { field, g[field] } end
    f:write(ordered(line), "\n")
  end
  f:write(ordered{ { "bench", "sim_study_end" }, { "seconds", lib.round(meta.seconds, 1) },
                   { "runs", #runs }, { "interrupted", meta.interrupted or false } }, "\n")
  f:close()
  return meta, runs
end

-- The header, the runs and the end of an existing sim_study.jsonl.
local function read_back()
  local f = io.open(JSONL, "r")
  if not f then usage_error("--report-only: no " .. JSONL) end
  local meta, runs = nil, {}
  for line in f:lines() do
    local v = decode(line)
    if v and v.bench == "sim_study" then
      meta = v
    elseif v and v.bench == "sim_study_end" then
      meta = meta or {}
      meta.seconds, meta.interrupted = v.seconds, v.interrupted or nil
    elseif v and v.command and (v.bench == sim_table.NO_LINE or not tostring(v.bench):find("^sim_study")) then
      runs[#runs + 1] = v   -- a run's line: the study added its command
    end
  end
  f:close()
  if not meta then usage_error(JSONL .. " has no header line") end
  return meta, runs
end

local meta, runs
if opts["report-only"] then meta, runs = read_back() else meta, runs = study() end

local groups = sim_table.groups(runs, { broadcast = meta.broadcast })
meta.settings = sim_table.settings(runs)
local seeds = meta.seeds and #meta.seeds or 0
local subtitle = ("median of %d seed%s, bars min–max; bench/sim.lua%s"):format(seeds, seeds == 1 and "" or "s",
  (meta.sim_args or "") ~= "" and (" " .. meta.sim_args) or "")
local settings = sim_table.settings_text(meta.settings, "")
if settings then subtitle = subtitle .. ", " .. settings end
local interval_ms
for _, kv in ipairs(meta.settings) do
  if kv[1] == "gossip_interval_ms" then interval_ms = tonumber(kv[2]) end
end
meta.plotted, meta.plot_note = sim_plot.write(opts.out, groups, subtitle, interval_ms)
if meta.plotted then
  log("drew %s/%s", opts.out, sim_plot.FIGURE)
else
  log("no figure: %s", meta.plot_note)
end
do
  local f = assert(io.open(opts.out .. "/SIM.md", "w"))
  f:write(sim_table.markdown(meta, groups))
  f:close()
end
local failed = 0
for _, g in ipairs(groups) do failed = failed + #g.failed end
log("wrote %s and %s/SIM.md%s", JSONL, opts.out, meta.seconds and (" (%d s)"):format(math.floor(meta.seconds + 0.5)) or "")
if meta.interrupted then os.exit(130) end
if failed > 0 then
  log("%d runs failed or did not converge (listed in SIM.md)", failed)
  os.exit(1)
end

-- bench/sim_table.lua: the numbers of the simulation study (bench/sim_study.lua): its
-- runs grouped by N × broadcast mode × loss, their median/min/max over seeds, and the
-- markdown of bench/SIM.md. A run counts only when bench/sim.lua exited 0 and said
-- converged; every other run is counted as such and listed with its reason.
local lib = require("lib")

local M = {}

-- The "bench" of the line the study writes for a run that printed none.
M.NO_LINE = "sim_study_run"

function M.ok(r) return r.exit == 0 and r.converged == true end

-- Why a run does not count, in a few words.
function M.why(r)
  if r.error then return tostring(r.error) end
  if r.converged == false then
    return ("not converged after %s virtual ms"):format(tostring(r.virtual_ms))
  end
  if r.exit ~= 0 then return "exit " .. tostring(r.exit) end
  return "no converged field in its line"
end

-- "10%" for 0.1, "0.5%" for 0.005.
function M.loss_label(loss) return ("%g%%"):format(loss * 100) end

-- median (the mean of the middle two for an even count), min and max; nil when empty.
local function spread(list)
  if #list == 0 then return nil end
  local s = table.move(list, 1, #list, 1, {})
  table.sort(s)
  local mid = (#s + 1) // 2
  local median = #s % 2 == 1 and s[mid] or (s[mid] + s[mid + 1]) / 2
  return { median = median, min = s[1], max = s[#s] }
end

-- The figures summarized per group, by field of sim.lua's line.
M.FIELDS = { "virtual_ms", "rounds", "datagrams_per_node", "bytes_per_node", "wall_s" }

-- runs: decoded run lines. order: optional { broadcast = {"epidemic", "tree"} } for the
-- order of modes (else alphabetical). Returns the groups, sorted by N, mode, loss:
--   { nodes, broadcast, loss, runs = {...}, converged = k, failed = {...}, virtual_ms = {median, min, max}, ... }
function M.groups(runs, order)
  local rank = {}
  for k, b in ipairs(order and order.broadcast or {}) do rank[b] = k end
  local by_key, list = {}, {}
  for _, r in ipairs(runs) do
    local key = ("%s|%s|%s"):format(r.nodes, r.broadcast, r.loss)
    local g = by_key[key]
    if not g then
      g = { nodes = r.nodes, broadcast = r.broadcast, loss = r.loss, runs = {}, failed = {} }
      by_key[key] = g
      list[#list + 1] = g
    end
    g.runs[#g.runs + 1] = r
  end
  for _, g in ipairs(list) do
    local values = {}
    for _, f in ipairs(M.FIELDS) do values[f] = {} end
    g.converged = 0
    for _, r in ipairs(g.runs) do
      if M.ok(r) then
        g.converged = g.converged + 1
        for _, f in ipairs(M.FIELDS) do
          if type(r[f]) == "number" then table.insert(values[f], r[f]) end
        end
      else
        g.failed[#g.failed + 1] = r
      end
    end
    for _, f in ipairs(M.FIELDS) do g[f] = spread(values[f]) end
  end
  table.sort(list, function(a, b)
    if a.nodes ~= b.nodes then return a.nodes < b.nodes end
    if a.broadcast ~= b.broadcast then
      local ra, rb = rank[a.broadcast] or math.huge, rank[b.broadcast] or math.huge
      if ra ~= rb then return ra < rb end
      return tostring(a.broadcast) < tostring(b.broadcast)
    end
    return a.loss < b.loss
  end)
  return list
end

-- The settings the runs share, as their lines say (e.g. latency_ms [1,20],
-- gossip_interval_ms 500): every field with one value in all of them, but the study's
-- axes and what each run measures. A field sim.lua gains later shows up here by itself.
local PER_RUN = {
  bench = true, nodes = true, seed = true, broadcast = true, loss = true, command = true,
  exit = true, error = true, converged = true, virtual_ms = true, rounds = true,
  datagrams_per_node = true, bytes_per_node = true, wall_s = true, process_s = true,
  join_virtual_ms = true, writer = true, events = true, trace = true,
}

function M.settings(runs)
  local seen, keys = {}, {}
  for _, r in ipairs(runs) do
    if r.bench ~= M.NO_LINE then
      for k, v in pairs(r) do
        if not PER_RUN[k] then
          local text = lib.json(v)
          if seen[k] == nil then
            seen[k] = text
            keys[#keys + 1] = k
          elseif seen[k] ~= text then
            seen[k] = false
          end
        end
      end
    end
  end
  table.sort(keys)
  local list = {}
  for _, k in ipairs(keys) do
    if seen[k] then list[#list + 1] = { k, seen[k] } end
  end
  return list
end

-- "`gossip_interval_ms` 500, `latency_ms` [1,20]" (quote: "`" for markdown, "" for
-- the figure), or nil when there is nothing to say.
function M.settings_text(list, quote)
  local parts = {}
  for _, kv in ipairs(list) do parts[#parts + 1] = ("%s%s%s %s"):format(quote, kv[1], quote, kv[2]) end
  return #parts > 0 and table.concat(parts, ", ") or nil
end

---------------------------------------------------------------------------
-- Markdown.

-- Rounded for reading: ms and bytes whole, rounds and seconds to 2 places, the rest to 3
-- significant digits.
local function num(x, field)
  if x == nil then return "—" end
  if field == "virtual_ms" or field == "bytes_per_node" then return tostring(lib.round(x, 0)) end
  if field == "rounds" or field == "wall_s" then return tostring(lib.round(x, 2)) end
  return (("%.3g"):format(x))
end

local function median_range(s, field)
  if not s then return "—" end
  if s.min == s.max then return num(s.median, field) end
  return ("%s (%s–%s)"):format(num(s.median, field), num(s.min, field), num(s.max, field))
end

local function cell(s, field, part) return num(s and s[part], field) end

-- meta: the study's header line (plus seconds, plot_note); groups: M.groups().
function M.markdown(meta, groups)
  local out = {}
  local function add(...) out[#out + 1] = table.concat({ ... }) end
  add("# Simulation study: convergence time against N")
  add("")
  add("Written by `bench/sim_study.lua` (`make sim-study`); every run's line is in ",
      "`sim_study.jsonl` beside this file.")
  add("")
  add("- Command: `", meta.command or "?", "`")
  add("- Date: ", meta.date or "?")
  add("- Machine: ", tostring(meta.nproc or "?"), " cores (`nproc`), ", meta.cpu or "unknown CPU",
      meta.kernel and (", Linux " .. meta.kernel) or "")
  if meta.commit then
    add("- rumor: commit ", meta.commit, meta.dirty and " (with uncommitted changes)" or "")
  end
  add("- Each run: `", meta.run_command or "?", "`, one after another (so wall seconds are ",
      "one run's alone on the machine)")
  add("- N: ", table.concat(meta.nodes or {}, ", "), "; seeds: ", table.concat(meta.seeds or {}, ", "),
      "; modes: ", table.concat(meta.broadcast or {}, ", "), "; loss: ",
      table.concat(meta.loss or {}, ", "), (meta.quick and " (--quick)" or ""))
  if meta.sim_args and meta.sim_args ~= "" then add("- Passed on to every run: `", meta.sim_args, "`") end
  local settings = M.settings_text(meta.settings or {}, "`")
  if settings then add("- As the runs' lines say: ", settings) end
  if meta.seconds then add("- The study took ", tostring(lib.round(meta.seconds, 0)), " s") end
  if meta.interrupted then add("- **Interrupted**: the runs below are those that ended before") end
  add("")
  add("Convergence: virtual ms from the write until the last node holds it (sim.lua's ",
      "`virtual_ms`), and that in gossip rounds. Median, min and max over the seeds whose ",
      "run converged. Datagrams and bytes per node (all sent while the write spread, so a ",
      "run that needs a round also counts that round's regular gossip) and wall seconds ",
      "(the whole run, forming the cluster included) as median (min–max).")
  add("")
  add("| N | mode | loss | converged | ms median | ms min | ms max | rounds median | rounds min | rounds max | datagrams/node | bytes/node | wall s |")
  add("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  local failures = {}
  for _, g in ipairs(groups) do
    local count = ("%d/%d"):format(g.converged, #g.runs)
    if g.converged < #g.runs then count = "**" .. count .. "**" end
    add("| ", tostring(g.nodes), " | ", tostring(g.broadcast), " | ", M.loss_label(g.loss), " | ", count,
        " | ", cell(g.virtual_ms, "virtual_ms", "median"), " | ", cell(g.virtual_ms, "virtual_ms", "min"),
        " | ", cell(g.virtual_ms, "virtual_ms", "max"),
        " | ", cell(g.rounds, "rounds", "median"), " | ", cell(g.rounds, "rounds", "min"),
        " | ", cell(g.rounds, "rounds", "max"),
        " | ", median_range(g.datagrams_per_node, "datagrams_per_node"),
        " | ", median_range(g.bytes_per_node, "bytes_per_node"),
        " | ", median_range(g.wall_s, "wall_s"), " |")
    for _, r in ipairs(g.failed) do failures[#failures + 1] = r end
  end
  add("")
  add("## Runs that failed or did not converge")
  add("")
  if #failures == 0 then add("None.") end
  for _, r in ipairs(failures) do
    add("- N=", tostring(r.nodes), " ", tostring(r.broadcast), " loss ", M.loss_label(r.loss), " seed ",
        tostring(r.seed), ": ", M.why(r), " — `", r.command or "?", "`")
  end
  add("")
  add("## Figure")
  add("")
  if meta.plotted then
    add("![Convergence time against N](sim_convergence.svg)")
    add("")
    add("`sim_convergence.svg`: median convergence (virtual ms) against N, min–max over seeds ",
        "as error bars, one line per mode and loss (the points of a line are nudged ",
        "sideways a little so that the bars do not hide each other). Drawn by gnuplot from ",
        "`sim_convergence.dat` with `sim_convergence.gp`.")
  else
    add("Not drawn: ", meta.plot_note or "gnuplot was not run", ". `sim_convergence.dat` and ",
        "`sim_convergence.gp` are written; `cd` to their directory and run `gnuplot sim_convergence.gp`.")
  end
  return table.concat(out, "\n") .. "\n"
end

return M

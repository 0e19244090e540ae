-- bench/sim_plot.lua: the figure of the simulation study (bench/sim_study.lua):
-- convergence time against N, one line per broadcast mode × loss, the median over seeds
-- with min–max as error bars. Writes sim_convergence.dat and sim_convergence.gp into the
-- study's directory and, when gnuplot is installed, runs the script there, which draws
-- sim_convergence.svg. The script reads the data file by name, so that
-- `cd DIR && gnuplot sim_convergence.gp` draws the figure again.
local sim_table = require("sim_table")

local M = {}

M.DATA, M.SCRIPT, M.FIGURE = "sim_convergence.dat", "sim_convergence.gp", "sim_convergence.svg"

-- Colour by loss, dashes and point shape by mode: the Okabe-Ito colours, told apart
-- also by readers with red-green colour blindness.
local COLOURS = { "#0072b2", "#e69f00", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#000000" }
local DASHES = { 1, 2, 4, 5 }
local POINTS = { 7, 9, 5, 11 }
-- How far apart the lines' points sit along x, as a factor of N per line: far enough
-- that the error bars of 6 lines do not hide each other, near enough (±7.5% for 6
-- lines, a thirtieth of a decade) that nobody reads them as another N.
local NUDGE = 0.03

-- A gnuplot string in double quotes (where \n is a newline).
local function escape(s) return (tostring(s):gsub('[\\"]', "\\%0")) end
local function quote(s) return '"' .. escape(s) .. '"' end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The lines: one per mode × loss, in the groups' order, each with its points by N.
local function series_of(groups)
  local list, by_key = {}, {}
  local modes, losses = {}, {}
  for _, g in ipairs(groups) do
    local key = tostring(g.broadcast) .. "|" .. tostring(g.loss)
    local s = by_key[key]
    if not s then
      s = { broadcast = g.broadcast, loss = g.loss, points = {}, failed = 0 }
      by_key[key] = s
      list[#list + 1] = s
      if not modes[g.broadcast] then modes[#modes + 1] = g.broadcast; modes[g.broadcast] = #modes end
      if not losses[g.loss] then losses[#losses + 1] = g.loss; losses[g.loss] = #losses end
    end
    s.failed = s.failed + #g.failed
    if g.virtual_ms then s.points[#s.points + 1] = g end
  end
  for _, s in ipairs(list) do
    s.mode_index, s.loss_index = modes[s.broadcast], losses[s.loss]
    s.title = ("%s, %s loss"):format(s.broadcast, sim_table.loss_label(s.loss))
    if s.failed > 0 then s.title = s.title .. (" (%d runs failed)"):format(s.failed) end
  end
  return list
end

local function data_text(series)
  local out = { "# sim_convergence.dat: written by bench/sim_study.lua; one block per line of the",
                "# figure (gnuplot's index 0, 1, ...), over the seeds whose run converged:",
                "# N, median, min, max of convergence virtual ms, runs converged, runs" }
  local index = 0
  for _, s in ipairs(series) do
    if #s.points > 0 then
      s.index = index
      index = index + 1
      out[#out + 1] = ""
      out[#out + 1] = ""
      out[#out + 1] = "# " .. s.title
      for _, g in ipairs(s.points) do
        out[#out + 1] = ("%d %s %s %s %d %d"):format(g.nodes, g.virtual_ms.median, g.virtual_ms.min,
          g.virtual_ms.max, g.converged, #g.runs)
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function script_text(series, nodes, subtitle, interval_ms)
  local xtics = {}
  for _, n in ipairs(nodes) do xtics[#xtics + 1] = tostring(n) end
  local out = {
    "# sim_convergence.gp: written by bench/sim_study.lua; run in its directory:",
    "#   gnuplot sim_convergence.gp   (reads " .. M.DATA .. ", writes " .. M.FIGURE .. ")",
    -- noenhanced: titles are plain text ("_" and "^" are not sub- and superscripts).
    'set terminal svg size 1000,600 dynamic noenhanced font "sans,14" background rgb "white"',
    "set output " .. quote(M.FIGURE),
    'set title "rumor simulation: one write until every node holds it\\n' .. escape(subtitle) .. '"',
    'set xlabel "nodes (N)"',
    'set ylabel "convergence time (virtual ms)"',
    "set logscale x 10",
    "set logscale y 10",
    ("set xrange [%g:%g]"):format(nodes[1] / 1.5, nodes[#nodes] * 1.5),
    "set xtics (" .. table.concat(xtics, ", ") .. ")",
    "set grid xtics ytics mytics lc rgb '#c8c8c8'",
    "set key outside right center vertical box opaque",
    "set bars small",
  }
  -- Convergence comes in steps of a round (anti-entropy repairs what a push missed), so
  -- dotted lines mark 1, 2, 5, 10, ... rounds up to the slowest run, when the runs share
  -- one interval.
  if interval_ms then
    local slowest = 0
    for _, s in ipairs(series) do
      for _, g in ipairs(s.points) do slowest = math.max(slowest, g.virtual_ms.max) end
    end
    local decade = 1
    while true do
      for _, k in ipairs{ 1, 2, 5 } do
        local rounds = k * decade
        local y = rounds * interval_ms
        if y > slowest * 1.5 then goto drawn end
        out[#out + 1] = ("set arrow from graph 0, first %g to graph 1, first %g nohead dt 3 lc rgb '#999999'"):format(y, y)
        out[#out + 1] = ("set label %s at graph 0.01, first %g offset 0,0.6 tc rgb '#777777' font ',11'"):format(
          quote(("%d round%s (%g ms)"):format(rounds, rounds == 1 and "" or "s", y)), y)
      end
      decade = decade * 10
    end
    ::drawn::
  end
  local clauses = {}
  local n = #series
  for k, s in ipairs(series) do
    local style = ("lc rgb %s dt %d pt %d ps 0.9 lw 1.8"):format(quote(COLOURS[(s.loss_index - 1) % #COLOURS + 1]),
      DASHES[(s.mode_index - 1) % #DASHES + 1], POINTS[(s.mode_index - 1) % #POINTS + 1])
    if s.index then
      local factor = 1 + NUDGE * ((k - 1) - (n - 1) / 2)
      clauses[#clauses + 1] = ("%s index %d using ($1*%.4f):2:3:4 with yerrorlines %s title %s"):format(
        quote(M.DATA), s.index, factor, style, quote(s.title))
    else
      clauses[#clauses + 1] = ("keyentry with linespoints %s title %s"):format(style,
        quote(s.title .. ": none converged"))
    end
  end
  out[#out + 1] = "plot " .. table.concat(clauses, ", \\\n     ")
  return table.concat(out, "\n") .. "\n"
end

-- $GNUPLOT: another gnuplot (the spec names a missing one, to take the path of a
-- machine without it).
local GNUPLOT = os.getenv("GNUPLOT") or ""
if GNUPLOT == "" then GNUPLOT = "gnuplot" end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function have_gnuplot()
  return os.execute("command -v " .. sh_quote(GNUPLOT) .. " >/dev/null 2>&1") == true
end

-- Writes the data and the script into dir and draws the figure when gnuplot is there.
-- subtitle: a line under the title; interval_ms: the runs' gossip interval, if they
-- share one. Returns true, or false and why not (for SIM.md).
function M.write(dir, groups, subtitle, interval_ms)
  -- What an earlier study left would pass for this one's.
  for _, name in ipairs{ M.DATA, M.SCRIPT, M.FIGURE } do os.remove(dir .. "/" .. name) end
  local series = series_of(groups)
  local nodes, seen = {}, {}
  for _, g in ipairs(groups) do
    if not seen[g.nodes] then seen[g.nodes] = true; nodes[#nodes + 1] = g.nodes end
  end
  table.sort(nodes)
  local points = 0
  for _, s in ipairs(series) do points = points + #s.points end
  if points == 0 then return false, "no run converged" end
  write_file(dir .. "/" .. M.DATA, data_text(series))
  write_file(dir .. "/" .. M.SCRIPT, script_text(series, nodes, subtitle, interval_ms))
  if not have_gnuplot() then
    return false, GNUPLOT .. " is not installed (apt-get install gnuplot-nox)"
  end
  local figure = dir .. "/" .. M.FIGURE
  -- Without the sanitizer runtime the ASan specs preload into the interpreter: gnuplot
  -- is not built for it, and its leak report at exit would fail the drawing.
  local p = io.popen(("cd %s && env -u LD_PRELOAD %s %s 2>&1"):format(sh_quote(dir),
    sh_quote(GNUPLOT), M.SCRIPT), "r")
  local said = p:read("a")
  local ok = p:close()
  if said ~= "" then io.stderr:write(said) end
  local f = io.open(figure, "r")
  if f then f:close() end
  if not ok then os.remove(figure) end   -- gnuplot opens it before it fails
  if not ok or not f then return false, "gnuplot failed: " .. (said:match("[^\n]*%S[^\n]*") or "no output") end
  return true
end

return M

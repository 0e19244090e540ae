-- Specs of the bench scripts at tiny sizes: their arguments, their JSON lines, and the
-- report's tables. No timing is checked (the figures belong to `make bench`).
local process = require("rumor.process")
local cjson = require("cjson")

local sh = process.shell

local function rumor_run(args) return process.command("run " .. args) end

local function json_lines(out)
  local list = {}
  for line in out:gmatch("[^\n]+") do list[#list + 1] = cjson.decode(line) end
  return list
end

describe("the bench scripts", function()
  it("refuse unknown arguments with usage and exit 2", function()
    for _, script in ipairs{ "bench/convergence.lua", "bench/idle.lua", "bench/failure.lua",
                             "bench/sim.lua" } do
      local out, err, code = rumor_run(script .. " --frobnicate 1")
      assert.equal(2, code, script)
      assert.equal("", out)
      assert.matches("usage: rumor run " .. script:gsub("%.", "%%."), err)
    end
    local _, err, code = rumor_run("bench/convergence.lua --broadcast sideways")
    assert.equal(2, code)
    assert.matches("epidemic, tree or both", err)
  end)

  it("sim prints one line whose trace is the same for the same seed and another for another", function()
    local function run(args)
      local out, err, code = rumor_run("bench/sim.lua --nodes 20 " .. args)
      assert.equal(0, code, err)
      local lines = json_lines(out)
      assert.equal(1, #lines)
      return lines[1]
    end
    local a, b, c = run("--seed 5"), run("--seed 5"), run("--seed 6")
    assert.equal("sim", a.bench)
    assert.equal(20, a.nodes)
    assert.is_true(a.converged)
    assert.matches("^%x+$", a.trace)
    assert.equal(a.trace, b.trace)
    assert.equal(a.events, b.events)
    assert.equal(a.virtual_ms, b.virtual_ms)
    assert.are_not.equal(a.trace, c.trace)
    for _, k in ipairs{ "virtual_ms", "rounds", "datagrams_per_node", "bytes_per_node", "join_virtual_ms" } do
      assert.is_number(a[k], k)
    end
    local t = run("--seed 5 --broadcast tree --loss 0.05")
    assert.equal("tree", t.broadcast)
    assert.is_true(t.converged)
  end)

  it("convergence prints one line per broadcast mode with the shared field names", function()
    local out, err, code = rumor_run("bench/convergence.lua --nodes 3 --repeats 1 --interval 100")
    assert.equal(0, code, err)
    local lines = json_lines(out)
    assert.equal(2, #lines)
    assert.same({ "epidemic", "tree" }, { lines[1].broadcast, lines[2].broadcast })
    local l = lines[1]
    assert.equal("convergence", l.bench)
    assert.equal("rumor", l.system)
    assert.equal(false, l.procs)
    assert.equal(3, l.nodes)
    assert.equal(1, l.repeats)
    for _, field in ipairs{ "p50_ms", "p99_ms", "max_ms", "datagrams_per_node", "bytes_per_node" } do
      assert.is_number(l[field], field)
    end
    assert.is_true(l.p50_ms <= l.p99_ms and l.p99_ms <= l.max_ms)
    -- tree: figures, or (before the engine has the option) an error line.
    assert.is_true(type(lines[2].p99_ms) == "number" or type(lines[2].error) == "string")
  end)
end)

describe("bench/report.lua", function()
  it("puts rumor beside Serf and swim and says which targets are met", function()
    local input, output = os.tmpname(), os.tmpname()
    local f = assert(io.open(input, "w"))
    for _, t in ipairs{
      { bench = "suite", date = "2026-01-01 00:00 UTC", nproc = 2, cpu = "Test CPU" },
      { bench = "convergence", system = "rumor", broadcast = "epidemic", procs = true, nodes = 100,
        repeats = 20, p50_ms = 1, p99_ms = 50, max_ms = 60, rss_kib_per_node = 4000, command = "c1" },
      { bench = "convergence", system = "rumor", broadcast = "tree", procs = true, nodes = 100,
        error = "rumor.new: field 'broadcast': unknown field", command = "c1" },
      { bench = "convergence", system = "serf", procs = true, nodes = 100, repeats = 5,
        p50_ms = 1300, p99_ms = 1600, max_ms = 1650, p99_ms_protocol = 600, rss_kib_per_node = 15000 },
      { bench = "convergence", system = "swim", procs = true, nodes = 100, p50_ms = 2500, p99_ms = 5000, max_ms = 5400 },
      { bench = "convergence", system = "rumor", broadcast = "epidemic", procs = false, nodes = 1000,
        repeats = 5, p50_ms = 2, p99_ms = 150, max_ms = 400 },
      { bench = "idle", system = "rumor", nodes = 100, seconds = 30, bytes_per_node_s = 5000,
        datagrams_per_node_s = 18, cpu_pct_per_node = 1, rss_kib_per_node = 3600, measured_by = "lo" },
      { bench = "idle", system = "serf", nodes = 100, seconds = 30, bytes_per_node_s = 300,
        datagrams_per_node_s = 2, cpu_pct_per_node = 0.2, rss_kib_per_node = 15000, measured_by = "lo" },
      { bench = "failure", system = "rumor", nodes = 10, trials = 3, p50_ms = 10500, max_ms = 10600,
        detector = "expiration", defaults = true },
      { bench = "failure", system = "serf", nodes = 10, trials = 5, p50_ms = 6800, max_ms = 7200 },
      { bench = "suite", command = "c1", exit = 0, seconds = 12, lines = 2 },
    } do f:write(cjson.encode(t), "\n") end
    f:close()
    local _, err, code = sh(("%s bench/report.lua '%s' '%s'"):format(process.interpreter(), input, output))
    os.remove(input)
    assert.equal(0, code, err)
    f = assert(io.open(output, "r"))
    local md = f:read("a")
    f:close()
    os.remove(output)
    local function has(text) assert.truthy(md:find(text, 1, true), "missing: " .. text .. "\n" .. md) end
    has("- Date: 2026-01-01 00:00 UTC")
    has("- Machine: 2 cores (`nproc`), Test CPU")
    -- 1600 / 50 = 32x at Serf's event handler, 600 / 50 = 12x at its protocol: both met.
    has("| N=100 processes, p99 convergence ≥ 10x faster than Serf (epidemic) | 50 | 1600 (protocol: 600) | 32x (protocol: 12x) | **met** (protocol: **met**) |")
    has("| N=1000 in-process, p99 convergence < 100 ms (epidemic) | 150 | — | — | **missed** |")
    has("| N=100, idle bytes per node per second ≤ Serf's | 5000 | 300 | 0.06x | **missed** |")
    has("| RSS per node < 1/4 of Serf's (N=100) | 3600 KiB | 15000 KiB | 4.17x | **met** |")
    has("| N=10, failure detection (p50, last observer) no slower than Serf's | 10500 | 6800 | 0.648x | **missed** |")
    has("| 100 | yes | rumor | tree | error (below) |")
    has("| 100 | yes | swim | ")
    has("- convergence rumor N=100 tree: rumor.new: field 'broadcast': unknown field")
    has("c1   # exit 0, 12 s, 2 lines")
  end)
end)

describe("bench/sim_study.lua", function()
  local function tmpdir()
    local out = sh("mktemp -d")
    return (out:gsub("%s+$", ""))
  end
  local function slurp(path)
    local f = io.open(path, "r")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
  end
  local function table_rows(md)
    local rows = {}
    for line in md:gmatch("[^\n]+") do
      if line:match("^| %d+ |") then rows[#rows + 1] = line end
    end
    return rows
  end
  local function gnuplot_present() return select(3, sh("command -v gnuplot")) == 0 end

  it("--quick writes every run's line and one table row per N × mode × loss (and the figure, with gnuplot)", function()
    local dir = tmpdir()
    local out, err, code = rumor_run("bench/sim_study.lua --quick --out '" .. dir .. "'")
    assert.equal(0, code, err)
    assert.equal("", out)
    local lines = json_lines(slurp(dir .. "/sim_study.jsonl"))
    assert.equal("sim_study", lines[1].bench)
    assert.same({ 20, 40 }, lines[1].nodes)
    local runs, summaries = {}, 0
    for _, l in ipairs(lines) do
      if l.bench == "sim" then runs[#runs + 1] = l end
      if l.bench == "sim_study_summary" then summaries = summaries + 1 end
    end
    assert.equal(2 * 2 * 3, #runs)
    assert.equal(2 * 2 * 3, summaries)
    assert.equal("sim_study_end", lines[#lines].bench)
    for _, r in ipairs(runs) do
      assert.is_true(r.converged)
      assert.equal(0, r.exit)
      assert.matches("^lua/bin/rumor run bench/sim%.lua %-%-nodes %d+ %-%-seed 1 ", r.command)
      assert.is_string(r.trace)   -- sim.lua's own fields pass through
    end
    local md = slurp(dir .. "/SIM.md")
    local rows = table_rows(md)
    assert.equal(12, #rows, md)
    for _, n in ipairs{ 20, 40 } do
      for _, mode in ipairs{ "epidemic", "tree" } do
        for _, loss in ipairs{ "0%", "1%", "10%" } do
          local row = ("| %d | %s | %s | 1/1 | "):format(n, mode, loss)
          local at = md:find(row, 1, true)
          assert.truthy(at, row .. "\n" .. md)
          assert.matches("^%d", md:sub(at + #row))   -- a median, not a dash
        end
      end
    end
    assert.truthy(md:find("- Machine: ", 1, true))
    assert.truthy(md:find("`lua/bin/rumor run bench/sim_study.lua --quick --out ", 1, true))
    assert.truthy(slurp(dir .. "/sim_convergence.dat"))
    assert.truthy(slurp(dir .. "/sim_convergence.gp"))
    if gnuplot_present() then
      assert.matches("<svg", slurp(dir .. "/sim_convergence.svg") or "")
      assert.truthy(md:find("](sim_convergence.svg)", 1, true))
    else
      assert.matches("no figure: gnuplot is not installed", err)
    end
    sh("rm -rf '" .. dir .. "'")
  end)

  it("skips only the figure without gnuplot, and says so", function()
    local dir = tmpdir()
    local out, err, code = process.command("run bench/sim_study.lua --quick --nodes 20 --broadcast tree --loss 0 --out '"
      .. dir .. "'", "GNUPLOT=/nonexistent/gnuplot")
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches("no figure: /nonexistent/gnuplot is not installed", err)
    local md = slurp(dir .. "/SIM.md")
    assert.equal(1, #table_rows(md))
    assert.truthy(md:find("Not drawn: /nonexistent/gnuplot is not installed", 1, true), md)
    assert.is_nil(slurp(dir .. "/sim_convergence.svg"))
    assert.truthy(slurp(dir .. "/sim_convergence.dat"))
    sh("rm -rf '" .. dir .. "'")
  end)

  it("shows a run that fails in its row and in the list, and exits 1", function()
    local dir = tmpdir()
    local out, err, code = rumor_run("bench/sim_study.lua --quick --nodes 20 --broadcast tree --loss 0.1 "
      .. "--sim-args '--frobnicate 1' --out '" .. dir .. "'")
    assert.equal(1, code, err)
    assert.equal("", out)
    assert.matches("FAILED", err)
    local lines = json_lines(slurp(dir .. "/sim_study.jsonl"))
    local run = lines[2]
    assert.equal("sim_study_run", run.bench)
    assert.equal(2, run.exit)
    assert.matches("unknown argument '%-%-frobnicate'", run.error)
    local md = slurp(dir .. "/SIM.md")
    assert.truthy(md:find("| 20 | tree | 10% | **0/1** | — |", 1, true), md)
    assert.truthy(md:find("- N=20 tree loss 10% seed 1: printed no line (exit 2)", 1, true), md)
    assert.truthy(md:find("Not drawn: no run converged", 1, true), md)
    sh("rm -rf '" .. dir .. "'")
  end)

  it("refuses to let --sim-args set the study's own axes", function()
    local out, err, code = rumor_run("bench/sim_study.lua --sim-args '--nodes 5'")
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("cannot set %-%-nodes", err)
  end)
end)

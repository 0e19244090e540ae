-- bench/run.lua: the benchmark suite (`make bench`). Runs every rumor bench and
-- bench/peers.lua (Serf and Tarantool swim, when present), collects their JSON lines
-- into bench/results.jsonl and writes bench/RESULTS.md with bench/report.lua.
--   lua5.4 bench/run.lua [--quick] [--only convergence,procs,idle,failure,peers]
-- --quick runs everything at tiny sizes, to check the suite end to end in ~2 minutes.
-- Environment: BENCH_PEERS (the peers script; default bench/peers.lua),
-- BENCH_PEERS_ARGS (its arguments instead of the defaults), BENCH_OUT (the
-- directory for results.jsonl and RESULTS.md; default bench/).
-- As root it installs what is missing with apt-get (iproute2; serf and tarantool for
-- the peers script). Each result line gets a "command" field: the exact command
-- that printed it, run from the repository root. A bench that fails or is missing
-- is noted, and the suite goes on.
local cjson = require("cjson")
-- Without cjson 2.1.0's escaping of "/" (see bench/lib.lua).
local function json(v) return (cjson.encode(v):gsub("\\/", "/")) end

local here = arg[0]:match("^(.*)/[^/]*$") or "."
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local ROOT = here:gsub("/bench$", "")

local USAGE = "usage: lua5.4 bench/run.lua [--quick] [--only convergence,procs,idle,failure,peers]\n"
local quick, only = false, nil
do
  local i = 1
  while arg[i] do
    if arg[i] == "--quick" then
      quick, i = true, i + 1
    elseif arg[i] == "--only" and arg[i + 1] then
      only = {}
      for w in arg[i + 1]:gmatch("[^,]+") do only[w] = true end
      i = i + 2
    else
      io.stderr:write(USAGE)
      os.exit(2)
    end
  end
end

local function log(fmt, ...)
  io.stderr:write("bench: ", fmt:format(...), "\n")
  io.stderr:flush()
end

local function sh_ok(cmd) return os.execute(cmd) == true end
local function have(cmd) return sh_ok("command -v " .. cmd .. " >/dev/null 2>&1") end
local function sh_line(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  if not p then return nil end
  local s = p:read("l")
  p:close()
  return s
end
local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end
local function quote(s)
  if s:match("^[%w%./_,:=@%-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

---------------------------------------------------------------------------
-- What to run.

local PEERS = os.getenv("BENCH_PEERS")
if not PEERS or PEERS == "" then PEERS = "bench/peers.lua" end
local OUT = os.getenv("BENCH_OUT")
if not OUT or OUT == "" then OUT = ROOT .. "/bench" end

local function words(s)
  local list = {}
  for w in s:gmatch("%S+") do list[#list + 1] = w end
  return list
end

local peers_args = os.getenv("BENCH_PEERS_ARGS")
local steps = quick and {
  { "convergence", { "bench/convergence.lua", "--nodes", "20", "--repeats", "3" } },
  { "procs", { "bench/convergence.lua", "--procs", "--nodes", "5", "--repeats", "3" } },
  { "idle", { "bench/idle.lua", "--nodes", "5", "--seconds", "5", "--settle", "2" } },
  { "failure", { "bench/failure.lua", "--nodes", "5", "--trials", "1", "--interval", "100", "--expiration", "1000" } },
  { "peers", { PEERS, table.unpack(words(peers_args or
      "--nodes 5 --repeats 2 --trials 1 --seconds 5 --settle 2")) } },
} or {
  -- In-process: N=100, and N=1000 for the p99 < 100 ms target (5 repeats there).
  { "convergence", { "bench/convergence.lua", "--nodes", "100,1000" } },
  -- One process per node, as the peers run: N=10 and 100.
  { "procs", { "bench/convergence.lua", "--procs", "--nodes", "10,100" } },
  { "idle", { "bench/idle.lua", "--nodes", "10,100", "--seconds", "30" } },
  { "failure", { "bench/failure.lua", "--nodes", "10,50", "--trials", "3" } },
  { "peers", { PEERS, table.unpack(words(peers_args or "")) } },
}

---------------------------------------------------------------------------
-- Packages.

local is_root = sh_line("id -u") == "0"
local notes = {}
if os.getenv("BENCH_PEERS") and os.getenv("BENCH_PEERS") ~= "" then
  notes[#notes + 1] = "the peers script is $BENCH_PEERS = " .. PEERS
end

local function install(cmd, pkg)
  if have(cmd) then return true end
  if not is_root then
    notes[#notes + 1] = ("%s is missing (not root: run sudo apt-get install -y %s)"):format(cmd, pkg)
    return false
  end
  log("installing %s", pkg)
  local line = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " .. pkg .. " >/dev/null 2>&1"
  if not sh_ok(line) then
    sh_ok("apt-get update -qq >/dev/null 2>&1")
    sh_ok(line)
  end
  if have(cmd) then return true end
  notes[#notes + 1] = ("apt-get install -y %s failed"):format(pkg)
  return false
end

local function wanted(name) return only == nil or only[name] end

install("ip", "iproute2")
local peers_path = PEERS:sub(1, 1) == "/" and PEERS or (ROOT .. "/" .. PEERS)
if wanted("peers") and exists(peers_path) then
  install("serf", "serf")
  install("tarantool", "tarantool")
end

---------------------------------------------------------------------------
-- Running.

local out = assert(io.open(OUT .. "/results.jsonl", "w"))
local cores = tonumber(sh_line("nproc") or "")
local cpu
do
  local f = io.open("/proc/cpuinfo", "r")
  local info = f and f:read("a") or ""
  if f then f:close() end
  cpu = info:match("model name%s*:%s*([^\n]+)")
end
out:write(json{
  bench = "suite", date = os.date("!%Y-%m-%d %H:%M UTC"), nproc = cores, cpu = cpu,
  kernel = sh_line("uname -r"), commit = sh_line("git -C " .. quote(ROOT) .. " rev-parse --short HEAD"),
  dirty = (sh_line("git -C " .. quote(ROOT) .. " status --porcelain --untracked-files=no | head -1") or "") ~= "",
  quick = quick, root = is_root, notes = #notes > 0 and notes or nil,
}, "\n")
out:flush()

local t_suite = os.time()
local interrupted = false
for _, step in ipairs(steps) do
  local name, args = step[1], step[2]
  if interrupted or not wanted(name) then goto next end
  do
    local parts = { "lua/bin/rumor", "run" }
    for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
    local command = table.concat(parts, " ")
    if name == "peers" and not exists(peers_path) then
      log("%s: not present, skipped", PEERS)
      out:write(json{ bench = "suite", command = command, skipped = PEERS .. " is not present" }, "\n")
      goto next
    end
    log("running: %s", command)
    local t0 = os.time()
    local p = io.popen("cd " .. quote(ROOT) .. " && exec lua5.4 " .. command, "r")
    local lines = 0
    for line in p:lines() do
      local ok, v = pcall(cjson.decode, line)
      if ok and type(v) == "table" and v.bench and line:sub(-1) == "}" then
        line = line:sub(1, -2) .. ',"command":' .. json(command) .. "}"
        out:write(line, "\n")
        out:flush()
        lines = lines + 1
      end
      io.stdout:write(line, "\n")
      io.stdout:flush()
    end
    local _, how, code = p:close()
    local seconds = os.time() - t0
    if how == "signal" or code == 130 then interrupted = true end
    out:write(json{ bench = "suite", command = command, exit = how == "exit" and code or nil,
                            signal = how == "signal" and code or nil, seconds = seconds, lines = lines }, "\n")
    out:flush()
    log("%s: exit %s, %d lines, %d s", name, tostring(code), lines, seconds)
  end
  ::next::
end
out:close()
log("suite done in %d s", os.time() - t_suite)

local report = "cd " .. quote(ROOT) .. " && lua5.4 bench/report.lua " .. quote(OUT .. "/results.jsonl")
  .. " " .. quote(OUT .. "/RESULTS.md")
if not sh_ok(report) then
  log("the report failed")
  os.exit(1)
end
log("wrote %s/RESULTS.md", OUT)
if interrupted then os.exit(130) end

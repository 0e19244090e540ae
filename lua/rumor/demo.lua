-- rumor.demo: `rumor demo [--nodes N] [--interval MS]`. Starts a local cluster of
-- agent processes, waits until they know each other, then writes a key on one node and
-- shows it arriving on every node, with timings.

local core = require("rumor.core")
local process = require("rumor.process")

local M = {}

local KEY = "demo/greeting"

local function say(fmt, ...)
  io.stdout:write(fmt:format(...), "\n")
  io.stdout:flush()
end

local function parse(argv)
  local opts = { nodes = 3, interval = 500 }
  local i = 1
  while argv[i] do
    local a, v = argv[i], argv[i + 1]
    if a == "--nodes" or a == "-n" then
      opts.nodes = math.tointeger(tonumber(v))
      if not opts.nodes or opts.nodes < 2 or opts.nodes > 64 then
        return nil, "--nodes needs a whole number from 2 to 64"
      end
      i = i + 2
    elseif a == "--interval" then
      opts.interval = math.tointeger(tonumber(v))
      if not opts.interval or opts.interval < 1 then
        return nil, "--interval needs a positive number of milliseconds"
      end
      i = i + 2
    else
      return nil, "unexpected argument '" .. a .. "'"
    end
  end
  return opts
end

-- Asks every agent for its members until each one sees n of them.
local function wait_for_membership(agents, n, timeout_ms)
  local deadline = core.hrtime_ms() + timeout_ms
  while core.hrtime_ms() < deadline do
    local all = true
    for _, a in ipairs(agents) do
      local reply = a:call({ cmd = "members" }, 5000)
      if #reply.members < n then all = false break end
    end
    if all then return true end
    process.eventually(function() return false end, 100)
  end
  return false
end

-- Writes value on `writer` and prints every node's receipt as it arrives.
local function spread(agents, writer, value, timeout_ms)
  local t0 = core.hrtime_ms()
  local arrived, count = {}, 0
  for _, a in ipairs(agents) do
    a.on_message = function(agent, msg)
      if msg.event == "update" and msg.key == KEY and msg.value == value and not arrived[agent] then
        arrived[agent] = true
        count = count + 1
        say("  %8.1f ms  %-8s has %s = %q%s", msg.at_ms - t0, agent.name, KEY, value,
            msg["local"] and "  (written here)" or "")
      end
    end
  end
  say("")
  say("%s sets %s = %q", writer.name, KEY, value)
  local reply = writer:call({ cmd = "set", key = KEY, value = value }, 5000)
  if not reply.ok then error("set failed on " .. writer.name .. ": " .. tostring(reply.error), 0) end
  local ok = process.eventually(function() return count == #agents end, timeout_ms)
  for _, a in ipairs(agents) do a.on_message = function() end end
  if not ok then
    say("  only %d of %d nodes got it within %d ms", count, #agents, timeout_ms)
    return false
  end
  local last = 0
  for _, a in ipairs(agents) do
    local ev = a:find_update(KEY, value)
    last = math.max(last, ev.at_ms - t0)
  end
  say("reached all %d nodes in %.1f ms", #agents, last)
  return true
end

local function run(procs, opts)
  local n = opts.nodes
  say("rumor demo: starting %d nodes on 127.0.0.1 (gossip every %d ms)", n, opts.interval)
  local cfg = function(i, seeds)
    return { id = "node" .. i, cluster = "rumor-demo", bind = "127.0.0.1:0", seeds = seeds,
             gossip_interval_ms = opts.interval }
  end
  local agents = { procs:agent(cfg(1, {})) }
  local first = agents[1]:wait_started()
  say("  node1 listening on %s (pid %d)", first.address, agents[1].proc:pid())
  for i = 2, n do
    agents[i] = procs:agent(cfg(i, { first.address }))
  end
  for i = 2, n do
    local ev = agents[i]:wait_started()
    say("  node%d listening on %s (pid %d), seed %s", i, ev.address, agents[i].proc:pid(), first.address)
  end

  local t0 = core.hrtime_ms()
  say("")
  say("waiting for every node to see all %d members ...", n)
  if not wait_for_membership(agents, n, 30000) then
    say("the nodes did not find each other within 30 s")
    return 1
  end
  say("all %d nodes see each other after %.0f ms", n, core.hrtime_ms() - t0)

  local timeout = math.max(10000, opts.interval * 20)
  if not spread(agents, agents[1], "hello from node1", timeout) then return 1 end
  if not spread(agents, agents[n], "node" .. n .. " was here", timeout) then return 1 end

  say("")
  say("stopping %d nodes ...", n)
  if not procs:close() then
    say("some agents did not exit")
    return 1
  end
  say("done")
  return 0
end

function M.main(argv)
  local opts, err = parse(argv or {})
  if not opts then
    io.stderr:write("rumor demo: ", err, "\nusage: rumor demo [--nodes N] [--interval MS]\n")
    return 2
  end
  local procs = process.group()
  local ok, result = xpcall(run, debug.traceback, procs, opts)
  procs:close()      -- also after a failure or Ctrl-C: no agent is left behind
  if not ok then error(result, 0) end
  return result
end

return M

-- Nodes as separate hosts, links cut for real (optional: needs root, `unshare`, `nsenter`
-- and iproute2's `ip`; pending otherwise). A private network namespace holds a bridge;
-- each host is a namespace of its own with a veth into that bridge and an address
-- 10.77.0.N. One `rumor agent` runs in each host. Taking a host's link down (in the
-- bridge's namespace) cuts it from everyone: the others block it as expired; bringing
-- it back up, it rejoins under a new generation and gets what was written meanwhile.
-- Nothing here touches the machine's own network. Every process (agents and the
-- namespaces' keepers) is reaped in teardown whatever happens.
local process = require("rumor.process")
local core = require("rumor.core")

local DEADLINE_MS = 30000
local HOSTS = 3
local PORT = 7946   -- every host has its own address, so all may use the same port

local function find(cmd)
  for _, dir in ipairs{ "/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/" } do
    local f = io.open(dir .. cmd, "r")
    if f then f:close() return dir .. cmd end
  end
end

local IP, UNSHARE, NSENTER = find("ip"), find("unshare"), find("nsenter")

-- A namespace kept alive by a `sleep` that unshare started in it; nil, why on failure.
local function keeper(setup)
  local ns = { exited = false, said = {} }
  -- Without LD_PRELOAD: under the ASan run it would load the sanitizer into ip, whose
  -- leak report at exit would read as a failure here.
  local proc, err = core.spawn{
    file = "/usr/bin/env",
    args = { "-u", "LD_PRELOAD", UNSHARE, "-n", "--", "sh", "-c", setup .. " && echo ready && exec sleep 3600" },
    on_line = function(_, line)
      if line == "ready" then ns.ready = true else ns.said[#ns.said + 1] = line end
    end,
    on_exit = function() ns.exited = true end,
  }
  if not proc then return nil, tostring(err) end
  ns.proc, ns.pid = proc, proc:pid()
  process.eventually(function() return ns.ready or ns.exited end, 10000)
  if not ns.ready then
    pcall(proc.kill, proc, "SIGKILL")
    return nil, table.concat(ns.said, " | ")
  end
  ns.enter = { NSENTER, "--net=/proc/" .. ns.pid .. "/ns/net", "--" }
  return ns
end

local function close_keeper(ns)
  if ns and not ns.exited then
    pcall(ns.proc.kill, ns.proc, "SIGKILL")
    process.eventually(function() return ns.exited end, 5000)
  end
end

-- Runs `ip ARGS...` inside ns; raises with what ip said on failure.
local function ip(ns, ...)
  local words = { "env", "-u", "LD_PRELOAD" }
  for _, w in ipairs(ns.enter) do words[#words + 1] = w end
  words[#words + 1] = IP
  for _, w in ipairs{ ... } do words[#words + 1] = w end
  local out, err, code = process.shell(table.concat(words, " "))
  if code ~= 0 then error("ip " .. table.concat({ ... }, " ") .. ": " .. out .. err, 2) end
end

describe("nodes in network namespaces of their own", function()
  local bridge, hosts, groups, why_not

  setup(function()
    if not (IP and UNSHARE and NSENTER) then
      why_not = "needs ip (iproute2), unshare and nsenter"
      return
    end
    local err
    bridge, err = keeper(IP .. " link set lo up && " .. IP .. " link add br0 type bridge && "
      .. IP .. " link set br0 up")
    if not bridge then
      why_not = "cannot make network namespaces here (root in a namespace-capable system): " .. err
      return
    end
    hosts = {}
    for i = 1, HOSTS do
      hosts[i], err = keeper(IP .. " link set lo up")
      if not hosts[i] then why_not = "cannot make a host namespace: " .. err return end
      ip(bridge, "link", "add", "h" .. i, "type", "veth", "peer", "name", "eth0", "netns", hosts[i].pid)
      ip(bridge, "link", "set", "h" .. i, "master", "br0", "up")
      ip(hosts[i], "addr", "add", "10.77.0." .. i .. "/24", "dev", "eth0")
      ip(hosts[i], "link", "set", "eth0", "up")
    end
  end)

  teardown(function()
    for _, g in ipairs(groups or {}) do g:close() end
    for _, h in ipairs(hosts or {}) do close_keeper(h) end
    close_keeper(bridge)
  end)

  it("blocks a host whose link is cut, and takes it back with what it missed", function()
    if why_not then
      pending(why_not)
      return
    end
    groups = {}
    local agents = {}
    for i = 1, HOSTS do
      groups[i] = process.group{ wrap = hosts[i].enter }
      agents[i] = groups[i]:agent{
        id = "h" .. i, cluster = "spec-netns", bind = "10.77.0." .. i .. ":" .. PORT,
        seeds = i > 1 and { "10.77.0.1:" .. PORT } or {},
        gossip_interval_ms = 100, heartbeat_expiration_ms = 1000,
      }
      agents[i]:wait_started(DEADLINE_MS)
    end
    local function call(a, cmd)
      local r = a:call(cmd, DEADLINE_MS)
      assert.is_true(r.ok, tostring(r.error))
      return r
    end
    local function until_(what, pred)
      assert.truthy(process.eventually(pred, DEADLINE_MS), what)
    end
    local function status(a, id)
      for _, m in ipairs(call(a, { cmd = "members" }).members) do
        if m.id == id then return m.status, m.generation end
      end
    end
    until_("the three hosts see each other", function()
      for _, a in ipairs(agents) do
        if #call(a, { cmd = "members" }).members ~= HOSTS then return false end
        for j = 1, HOSTS do if status(a, "h" .. j) ~= "alive" then return false end end
      end
      return true
    end)
    local _, gen3 = status(agents[1], "h3")

    ip(bridge, "link", "set", "h3", "down")           -- h3's cable is pulled
    until_("h1 and h2 block h3", function()
      return status(agents[1], "h3") == "blocked" and status(agents[2], "h3") == "blocked"
    end)
    assert.equal("expired", call(agents[1], { cmd = "why", member = "h3" }).why.reason)
    call(agents[1], { cmd = "set", key = "while-away", value = "v" })

    ip(bridge, "link", "set", "h3", "up")             -- and plugged back in
    until_("h3 is back everywhere under a new generation, with the write it missed", function()
      for i = 1, 2 do
        local st, gen = status(agents[i], "h3")
        if st ~= "alive" or gen == gen3 then return false end
      end
      return call(agents[3], { cmd = "get", key = "while-away" }).values.h1 == "v"
    end)
  end)
end)

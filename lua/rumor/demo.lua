-- rumor.demo: `rumor demo [--nodes N] [--interval MS] [--plain]`, the README's main job.
-- Starts N `rumor agent` processes on 127.0.0.1, joined through the first, and takes
-- them through five timed steps: the cluster forms; a write reaches every node; a
-- second write, then a node is killed and every other node blocks it; the node comes
-- back under the same id; a network cut and its heal (when the agents have the `fault`
-- command). On a terminal a table (one row per node: status, its value of the key,
-- members alive, heartbeat ages of its neighbours, blocked members) is redrawn in place;
-- elsewhere, or with --plain, one line per step and event. Ends with a one-paragraph
-- summary and exit 0; a failure exits 1 saying which step and why; Ctrl-C reaps every
-- agent, gives the terminal back and exits 130.
--
-- The processes and what they report: rumor.demo.cluster; drawing: rumor.demo.screen.

local rumor = require("rumor")
local core = require("rumor.core")
local cluster_mod = require("rumor.demo.cluster")
local screen_mod = require("rumor.demo.screen")
local process = require("rumor.process")

local M = {}

local now, failure, try = cluster_mod.now, cluster_mod.failure, cluster_mod.try

M.usage = "usage: rumor demo [--nodes N] [--interval MS] [--plain]\n"

local KEY = "color"                        -- the demo key; each writer has its own entry
local VALUES = { "blue", "green", "purple" } -- the three writes, in order
local DEFAULT_NODES = 7       -- a ring where a dead node leaves a gap to bridge and a cut
                              -- makes two real halves, yet light for any laptop
local MIN_NODES = 3           -- two writers, and a node to kill that wrote nothing (a
                              -- restart drops what its dead generation wrote)
local MAX_NODES = 32          -- one row each still fits a terminal
local DEFAULT_INTERVAL = 200  -- gossip_interval_ms: five rounds a second, so anti-entropy
                              -- and rejoins take a second or two, not the default's ten
local MIN_INTERVAL = 20       -- below that, many agents on one machine do little but gossip
local MAX_INTERVAL = 2000     -- above that, the blocks alone take minutes
local EXPIRY_ROUNDS = 10      -- heartbeat_expiration_ms = 10 rounds: a neighbour beats
                              -- every other round, so 5 beats must go missing; a busy
                              -- machine delays one or two, not five. At 200 ms: 2 s, long
                              -- enough to watch the silence grow, short enough to wait for
local REFRESH_MS = 100        -- live redraw: ten frames a second keeps the ages smooth
local POLL_MS = 200           -- `members` per node: heartbeat ages change by the round
local HOLD_MS = 2000          -- live: a finished step stays on screen this long to be read
local LOG_LINES = 6           -- live: the latest events under the table

local STEPS = 5

---------------------------------------------------------------------------
-- Options.

local function parse(argv)
  local opts = { nodes = DEFAULT_NODES, interval = DEFAULT_INTERVAL, plain = false }
  local i = 1
  while argv[i] do
    local a, v = argv[i], argv[i + 1]
    local name, inline = a:match("^(%-%-%w+)=(.*)$")
    if name then a, v = name, inline end
    local step = inline and 1 or 2
    if a == "--nodes" or a == "-n" then
      opts.nodes = math.tointeger(tonumber(v))
      if not opts.nodes or opts.nodes < MIN_NODES or opts.nodes > MAX_NODES then
        return nil, ("--nodes needs a whole number from %d to %d, got %s"):format(
          MIN_NODES, MAX_NODES, v and ("'" .. v .. "'") or "nothing")
      end
      i = i + step
    elseif a == "--interval" then
      opts.interval = math.tointeger(tonumber(v))
      if not opts.interval or opts.interval < MIN_INTERVAL or opts.interval > MAX_INTERVAL then
        return nil, ("--interval needs milliseconds from %d to %d, got %s"):format(
          MIN_INTERVAL, MAX_INTERVAL, v and ("'" .. v .. "'") or "nothing")
      end
      i = i + step
    elseif a == "--plain" and not inline then
      opts.plain = true
      i = i + 1
    elseif a == "--help" or a == "-h" then
      return nil, nil, true
    else
      return nil, "unexpected argument '" .. a .. "'"
    end
  end
  return opts
end

---------------------------------------------------------------------------
-- Formatting.

local function ms(x)
  if x < 10 then return ("%.1f ms"):format(x) end
  if x < 1000 then return ("%d ms"):format(math.floor(x + 0.5)) end
  return ("%.1f s"):format(x / 1000)
end

-- "n1, n2 and n3"
local function list(ids)
  if #ids <= 1 then return ids[1] or "" end
  return table.concat(ids, ", ", 1, #ids - 1) .. " and " .. ids[#ids]
end

local function ids_of(nodes)
  local ids = {}
  for i, n in ipairs(nodes) do ids[i] = n.id end
  return ids
end

---------------------------------------------------------------------------
-- The demo: the cluster, what has been written, the step under way, the event log.

local Demo = {}
Demo.__index = Demo

function Demo.new(opts, screen)
  local d = setmetatable({
    opts = opts, screen = screen, writes = {}, log = {}, results = {},
    step = 0, step_text = "", started_at = now(),
    expiration = opts.interval * EXPIRY_ROUNDS,
  }, Demo)
  d.cluster = cluster_mod.new{
    nodes = opts.nodes, interval = opts.interval, expiration = d.expiration, key = KEY,
    -- Unique per run, so two demos on one machine never take each other's datagrams.
    cluster = ("rumor-demo-%d"):format(math.floor(now() * 1000) % 1000000000),
    on_event = function(kind, node, info)
      if d.watch then d.watch(kind, node, info) end
    end,
  }
  return d
end

-- One line of progress: printed at once (plain) or kept for the frame (live).
function Demo:event(fmt, ...)
  local text = fmt:format(...)
  self.log[#self.log + 1] = text
  if #self.log > LOG_LINES then table.remove(self.log, 1) end
  self.screen:event(text)
end

function Demo:begin(k, text)
  self.step, self.step_text, self.step_at, self.step_ms = k, text, now(), nil
  self.screen:step(k, STEPS, text)
end

-- A new text for the step under way (its clock keeps running).
function Demo:phase(text)
  self.step_text = text
  self.screen:step(self.step, STEPS, text)
end

-- Ends the step under way: records how long it took and lets a viewer read the table.
function Demo:finish(result)
  result.ms = now() - self.step_at
  self.step_ms = result.ms   -- the frame shows it while the step stays on screen
  self.results[self.step] = result
  self:event("step %d done in %s", self.step, ms(result.ms))
  self.watch = nil
  self:hold()
  return result
end

-- Live: keeps the table on screen a moment between steps; plain mode goes straight on.
function Demo:hold()
  if not self.screen.live then return end
  local c = self.cluster
  process.eventually(function()
    c:check()
    return false
  end, HOLD_MS)
end

---------------------------------------------------------------------------
-- The live frame.

-- The latest demo write node holds: the write (or nil) and how long it took to arrive.
function Demo:latest_held(node)
  for i = #self.writes, 1, -1 do
    local w = self.writes[i]
    if self.cluster:holds(node, w.writer.id, w.value) then
      local arrived = node.view[w.writer.id].at
      -- A node started after the write fetched it on joining: no spreading time.
      local up = node.up_at or math.huge
      return w, up <= w.at and arrived - w.at or nil
    end
  end
end

-- Heartbeat ages of the neighbours node watches, from its last `members` answer.
local function neighbour_ages(node)
  local out = {}
  for _, m in ipairs(node.members or {}) do
    if m.watched and not m.self and m.status == "alive" then
      out[#out + 1] = ("%s %dms"):format(m.id, math.floor((m.heartbeat_age_ms or 0) + 0.5))
    end
  end
  return table.concat(out, "  ")
end

-- Header and width of each column; an 80-column terminal shows one blocked member.
local COLUMNS = { { "node", 4 }, { "status", 9 }, { KEY, 21 }, { "alive", 5 },
                  { "heartbeat ages", 20 }, { "blocks", 0 } }

local function row(cells)
  local out = {}
  for i, c in ipairs(COLUMNS) do
    out[i] = c[2] > 0 and screen_mod.pad(cells[i] or "", c[2]) or (cells[i] or "")
  end
  return (table.concat(out, " "):gsub("%s+$", ""))
end

function Demo:frame()
  local c, o = self.cluster, self.opts
  local t = now()
  local cols = self.screen.cols - 1
  local lines = {
    ("rumor demo · %d agents · gossip every %d ms · expiry %d ms · %.1f s"):format(
      o.nodes, o.interval, self.expiration, (t - self.started_at) / 1000),
  }
  local step = self.done_text
    or self.step > 0 and ("step %d/%d · %s · %s"):format(self.step, STEPS,
      self.step_ms and ("done in " .. ms(self.step_ms)) or ("%.1f s"):format((t - self.step_at) / 1000),
      self.step_text)
    or "starting"
  for l in screen_mod.wrap(step, cols):gmatch("[^\n]+") do lines[#lines + 1] = l end
  lines[#lines + 1] = ""
  local names = {}
  for i, col in ipairs(COLUMNS) do names[i] = col[1] end
  lines[#lines + 1] = row(names)
  for _, node in ipairs(c.nodes) do
    local cells = { node.id, node.status }
    if node.status == "killed" then
      cells[3], cells[4], cells[5], cells[6] = "-", "-", "-", ("pid %d gone"):format(node.pid)
    elseif node.status == "waiting" or node.status == "starting" then
      cells[3] = "-"
    else
      local w, took = self:latest_held(node)
      cells[3] = w and ("%s from %s%s"):format(w.value, w.writer.id,
        took and (" +" .. ms(took)) or "") or "-"
      cells[4] = ("%d/%d"):format(c:alive_count(node), o.nodes)
      cells[5] = neighbour_ages(node)
      local b = {}
      for _, e in ipairs(c:blocked(node)) do b[#b + 1] = ("%s (%s)"):format(e.id, e.reason) end
      cells[6] = table.concat(b, ", ")
    end
    lines[#lines + 1] = row(cells)
  end
  -- The latest events (a long one on more lines, indented), as many as there is room for.
  local log = {}
  for _, text in ipairs(self.log) do
    local indent = "  "
    for l in screen_mod.wrap(text, cols - 4):gmatch("[^\n]+") do
      log[#log + 1] = indent .. l
      indent = "    "
    end
  end
  local room = self.screen:height() - #lines - 1
  if room > 0 and #log > 0 then
    lines[#lines + 1] = ""
    for i = math.max(1, #log - room + 1), #log do lines[#lines + 1] = log[i] end
  end
  return lines
end

function Demo:tick()
  local t = now()
  if not self.polled_at or t - self.polled_at >= POLL_MS then
    self.polled_at = t
    self.cluster:poll()
  end
  if self.screen.live then self.screen:draw(self:frame()) end
end

function Demo:start_timer()
  self.timer = core.timer(0, REFRESH_MS, function()
    local ok, err = pcall(self.tick, self)
    if not ok then
      if cluster_mod.is_interrupt(err) then error(err, 0) end   -- the waits raise it
      self.cluster.failed = self.cluster.failed or ("drawing the demo failed: " .. tostring(err))
    end
  end)
end

function Demo:stop_timer()
  if self.timer then self.timer:stop() end
  self.timer = nil
end

---------------------------------------------------------------------------
-- Steps.

-- Timeouts: generous multiples of what each wait needs, scaled with the timings.
function Demo:timeout(kind)
  local i, e = self.opts.interval, self.expiration
  if kind == "form" then return 15000 + 20 * i end          -- process start-up and joins
  if kind == "spread" then return 5000 + 20 * i end         -- a push, else anti-entropy
  if kind == "block" then return 3 * e + 5000 end           -- expiry, then the verdict spreads
  return 6 * e + 20000                                      -- a rejoin: knocks every 10 rounds
end

-- Writes value on writer and waits until every running node holds it, logging each
-- node's arrival. Returns the write: { writer, value, at, took = {id = ms}, slowest }.
function Demo:write(writer, value, nodes, where)
  local c = self.cluster
  nodes = nodes or c:running()
  local w = { writer = writer, value = value, took = {} }
  local function arrived(node)
    if w.took[node.id] or not c:holds(node, writer.id, value) then return end
    w.took[node.id] = node.view[writer.id].at - w.at
    self:event("%s has %s=%s after %s%s", node.id, KEY, value, ms(w.took[node.id]),
      node == writer and " (written here)" or "")
  end
  self.watch = function(kind, node) if kind == "value" then arrived(node) end end
  w.at = now()
  self.writes[#self.writes + 1] = w
  local reply = c:call(writer, { cmd = "set", key = KEY, value = value })
  if not reply.ok then failure("%s refused to set %s: %s", writer.id, KEY, tostring(reply.error)) end
  for _, node in ipairs(nodes) do arrived(node) end
  c:wait(function()
    for _, node in ipairs(nodes) do
      if not w.took[node.id] then return false end
    end
    return true
  end, self:timeout("spread"), function()
    local missing = {}
    for _, node in ipairs(nodes) do
      if not w.took[node.id] then missing[#missing + 1] = node.id end
    end
    return ("%s's write %s=%s to reach every node: %s never got it"):format(
      writer.id, KEY, value, list(missing))
  end)
  w.spread, w.slowest = 0, writer
  for _, node in ipairs(nodes) do
    if w.took[node.id] > w.spread then w.spread, w.slowest = w.took[node.id], node end
  end
  self:event("%s=%s from %s reached all %d nodes%s in %s (slowest: %s)", KEY, value, writer.id,
    #nodes, where or "", ms(w.spread), w.slowest.id)
  return w
end

-- Step 1: start the agents, joined through n1; wait until every node sees all alive.
function Demo:form()
  local c, n = self.cluster, self.opts.nodes
  self:begin(1, ("starting %d agents joined through n1 — waiting until every node sees all %d alive")
    :format(n, n))
  self.watch = function(kind, node)
    if kind == "started" then
      self:event("%s started: pid %d on %s", node.id, node.pid, node.address)
    end
    if not node.formed and c:sees_all(node) then
      node.formed = now()
      self:event("%s sees all %d alive after %s", node.id, n, ms(node.formed - self.step_at))
    end
  end
  c:start(1, {})
  local first = c:wait_started(1, self:timeout("form"))
  for i = 2, n do c:start(i, { first.address }) end
  c:wait(function()
    for _, node in ipairs(c.nodes) do
      if not c:sees_all(node) then return false end
    end
    return true
  end, self:timeout("form"), function()
    local short = {}
    for _, node in ipairs(c.nodes) do
      if not c:sees_all(node) then
        short[#short + 1] = ("%s sees %d"):format(node.id, c:alive_count(node))
      end
    end
    return ("every node to see all %d members alive: %s"):format(n, table.concat(short, ", "))
  end)
  return self:finish({})
end

-- Step 2: n1 writes; the value spreads to every node.
function Demo:spread()
  local c = self.cluster
  local writer = c.nodes[1]
  self:begin(2, ("%s writes %s=%s — waiting for it to reach every node"):format(writer.id, KEY, VALUES[1]))
  local w = self:write(writer, VALUES[1])
  return self:finish({ write = w })
end

-- Step 3: the last node writes, then the victim is killed; every other node blocks it.
function Demo:kill()
  local c, n = self.cluster, self.opts.nodes
  local writer, victim = c.nodes[n], c.nodes[self.victim]
  self:begin(3, ("%s writes %s=%s, then %s is killed — waiting for every other node to block it")
    :format(writer.id, KEY, VALUES[2], victim.id))
  local w = self:write(writer, VALUES[2])
  local others = {}
  for _, node in ipairs(c.nodes) do
    if node ~= victim then others[#others + 1] = node end
  end
  local blocked_after, whys = {}, {}
  local killed_at
  self.watch = function(kind, node, info)
    if kind == "member" and info.member == victim.id and info.type == "blocked"
        and not blocked_after[node.id] then
      blocked_after[node.id] = info.at_ms - killed_at
      self:event("%s blocks %s (%s) %s after the kill", node.id, victim.id,
        tostring(info.reason), ms(blocked_after[node.id]))
    elseif kind == "why" and info.member == victim.id and not whys[node.id] then
      whys[node.id] = info.text
      self:event("%s: why %s? %s", node.id, victim.id, info.text)
    end
  end
  self:phase(("%s killed with SIGKILL (pid %d) — waiting for every other node to block it")
    :format(victim.id, victim.pid))
  killed_at = now()
  c:kill(self.victim)
  self:event("%s killed: SIGKILL to pid %d", victim.id, victim.pid)
  c:wait(function()
    for _, node in ipairs(others) do
      if not whys[node.id] then return false end
    end
    return true
  end, self:timeout("block"), function()
    local still = {}
    for _, node in ipairs(others) do
      if not whys[node.id] then still[#still + 1] = node.id end
    end
    return ("every other node to block %s: %s still %s it alive"):format(victim.id,
      list(still), #still == 1 and "sees" or "see")
  end)
  local first, last = math.huge, 0
  for _, t in pairs(blocked_after) do first, last = math.min(first, t), math.max(last, t) end
  return self:finish({ write = w, victim = victim, first = first, last = last,
                       why = whys[others[1].id], why_node = others[1], others = #others })
end

-- Step 4: the victim comes back under the same id; it must be alive everywhere and
-- hold the latest write.
function Demo:heal()
  local c = self.cluster
  local victim = c.nodes[self.victim]
  local latest = self.writes[#self.writes]
  self:begin(4, ("restarting %s under the same id — waiting until every node sees it alive and it holds %s")
    :format(victim.id, latest.value))
  local old_generation = c.nodes[1].peers[victim.id] and c.nodes[1].peers[victim.id].generation
  local seen, got = {}, nil
  local function sees_new(node)
    local p = node.peers[victim.id]
    return p and p.status == "alive" and p.generation == victim.generation
  end
  self.watch = function(kind, node)
    if kind == "started" then
      self:event("%s restarted: pid %d on %s, generation %.0f (was %.0f)", node.id, node.pid,
        node.address, node.generation, old_generation or 0)
    end
    if victim.status ~= "restarted" then return end
    for _, other in ipairs(c.nodes) do
      if other ~= victim and not seen[other.id] and sees_new(other) then
        seen[other.id] = now() - self.step_at
        self:event("%s sees %s alive again after %s", other.id, victim.id, ms(seen[other.id]))
      end
    end
    if not got and c:holds(victim, latest.writer.id, latest.value) then
      got = now() - self.step_at
      self:event("%s holds %s=%s (from %s) after %s", victim.id, KEY, latest.value,
        latest.writer.id, ms(got))
    end
  end
  c:restart(self.victim, { c.nodes[1].address })
  c:wait_started(self.victim, self:timeout("form"))
  c:wait(function()
    for _, node in ipairs(c.nodes) do
      if node ~= victim and not sees_new(node) then return false end
    end
    return c:sees_all(victim) and c:holds(victim, latest.writer.id, latest.value)
  end, self:timeout("rejoin"), function()
    local blind = {}
    for _, node in ipairs(c.nodes) do
      if node ~= victim and not sees_new(node) then blind[#blind + 1] = node.id end
    end
    local parts = {}
    if #blind > 0 then parts[#parts + 1] = list(blind) .. " do not see it alive" end
    if not c:sees_all(victim) then
      parts[#parts + 1] = ("it sees %d alive"):format(c:alive_count(victim))
    end
    if not c:holds(victim, latest.writer.id, latest.value) then
      parts[#parts + 1] = "it does not hold " .. latest.value
    end
    return ("%s to be back everywhere: %s"):format(victim.id, table.concat(parts, "; "))
  end)
  return self:finish({ victim = victim, got = got })
end

-- Step 5: a network cut between two halves, a write on one side, then the heal. Needs
-- the agents' `fault` and `heal` commands; agents without them skip the step.
function Demo:partition()
  local c, n = self.cluster, self.opts.nodes
  local half = n // 2
  local a, b = {}, {}
  for i, node in ipairs(c.nodes) do
    if i <= half then a[#a + 1] = node else b[#b + 1] = node end
  end
  local sides = ("{%s} | {%s}"):format(table.concat(ids_of(a), ","), table.concat(ids_of(b), ","))
  self:begin(5, ("cutting the network %s — waiting for each side to block the other"):format(sides))
  local reply = c:call(a[1], { cmd = "fault", peer = b[1].address, cut = true })
  if not reply.ok and tostring(reply.error):find("unknown command", 1, true) then
    self:event("skipped: these agents have no fault command (%s said: %s)", a[1].id, reply.error)
    return self:finish({ skipped = true })
  elseif not reply.ok then
    failure("%s refused {\"cmd\":\"fault\",\"peer\":%q,\"cut\":true}: %s", a[1].id,
      b[1].address, tostring(reply.error))
  end
  for _, pair in ipairs{ { a, b }, { b, a } } do
    for _, from in ipairs(pair[1]) do
      for _, to in ipairs(pair[2]) do
        if not (from == a[1] and to == b[1]) then
          local r = c:call(from, { cmd = "fault", peer = to.address, cut = true })
          if not r.ok then failure("%s refused to cut %s: %s", from.id, to.id, tostring(r.error)) end
        end
      end
    end
  end
  self:event("cut: %s no longer hear each other", sides)
  local function blocks_side(node, other)
    for _, m in ipairs(other) do
      local p = node.peers[m.id]
      if not p or p.status == "alive" or p.status == "joined" then return false end
    end
    return true
  end
  local done = {}
  self.watch = function(kind, node)
    if kind ~= "member" or done[node.id] then return end
    local other = node.index <= half and b or a
    if blocks_side(node, other) then
      done[node.id] = true
      self:event("%s blocks the other side (%s) after %s", node.id, list(ids_of(other)),
        ms(now() - self.step_at))
    end
  end
  for _, node in ipairs(c.nodes) do self.watch("member", node) end
  c:wait(function()
    for _, node in ipairs(c.nodes) do
      if not blocks_side(node, node.index <= half and b or a) then return false end
    end
    return true
  end, self:timeout("block") + 5000, function()
    local open = {}
    for _, node in ipairs(c.nodes) do
      if not blocks_side(node, node.index <= half and b or a) then open[#open + 1] = node.id end
    end
    return ("each side of %s to block the other: %s still see members across"):format(sides, list(open))
  end)
  local cut_ms = now() - self.step_at
  -- A write on one side only; the heal must bring it across.
  local writer = a[1]
  self:write(writer, VALUES[3], a, " on its side")
  local latest = self.writes[#self.writes]
  local healed_at = now()
  self:phase(("healing the cut — waiting until every node sees all %d alive and holds %s")
    :format(n, VALUES[3]))
  for _, node in ipairs(c.nodes) do
    local r = c:call(node, { cmd = "heal" })
    if not r.ok then failure("%s refused to heal: %s", node.id, tostring(r.error)) end
  end
  local back = {}
  self.watch = function(kind, node)
    if back[node.id] then return end
    if c:sees_all(node) and c:holds(node, latest.writer.id, latest.value) then
      back[node.id] = now() - healed_at
      self:event("%s sees all %d alive and holds %s after %s", node.id, n, latest.value,
        ms(back[node.id]))
    end
  end
  for _, node in ipairs(c.nodes) do self.watch("member", node) end
  c:wait(function()
    for _, node in ipairs(c.nodes) do
      if not back[node.id] then return false end
    end
    return true
  end, self:timeout("rejoin"), function()
    local open = {}
    for _, node in ipairs(c.nodes) do
      if not back[node.id] then
        open[#open + 1] = ("%s sees %d alive%s"):format(node.id, c:alive_count(node),
          c:holds(node, latest.writer.id, latest.value) and "" or (", lacks " .. latest.value))
      end
    end
    return "the cluster to heal: " .. table.concat(open, "; ")
  end)
  return self:finish({ sides = sides, cut_ms = cut_ms, heal_ms = now() - healed_at,
                       writer = writer })
end

-- The one-paragraph account of what happened.
function Demo:summary()
  local r, n = self.results, self.opts.nodes
  local s = {}
  s[#s + 1] = ("Summary: %d rumor agents on 127.0.0.1 (gossip every %d ms) formed a cluster in %s,"
    .. " every node seeing all %d alive."):format(n, self.opts.interval, ms(r[1].ms), n)
  local w1 = r[2].write
  s[#s + 1] = ("%s's write %s=%s reached all %d nodes in %s (slowest: %s)."):format(
    w1.writer.id, KEY, w1.value, n, ms(w1.spread), w1.slowest.id)
  local k = r[3]
  local span = ms(k.first) == ms(k.last) and ms(k.first) or (ms(k.first) .. " to " .. ms(k.last))
  s[#s + 1] = ("%s's write %s=%s took %s; then %s was killed with SIGKILL and all %d others"
    .. " blocked it %s later (%s: \"%s\")."):format(k.write.writer.id, KEY, k.write.value,
    ms(k.write.spread), k.victim.id, k.others, span, k.why_node.id, k.why)
  s[#s + 1] = ("Restarted under the same id with a new generation, %s was alive on every node"
    .. " and held %s %s after the restart."):format(r[4].victim.id, k.write.value, ms(r[4].ms))
  if r[5].skipped then
    s[#s + 1] = "The network-cut step was skipped: these agents have no fault command."
  else
    s[#s + 1] = ("A network cut %s was noticed by both sides in %s; %s's write %s=%s on one side"
      .. " reached the other %s after the heal."):format(r[5].sides, ms(r[5].cut_ms),
      r[5].writer.id, KEY, VALUES[3], ms(r[5].heal_ms))
  end
  local parts = {}
  for i = 1, STEPS do parts[i] = r[i].skipped and "nothing (skipped)" or ms(r[i].ms) end
  s[#s + 1] = ("Steps took %s and %s; %s in all, and every agent was stopped."):format(
    table.concat(parts, ", ", 1, STEPS - 1), parts[STEPS], ms(now() - self.started_at))
  return table.concat(s, " ")
end

function Demo:run()
  local o = self.opts
  -- The node to kill and bring back: a middle one, never n1 (the seed every start
  -- joins through) nor the last (a writer: its writes would die with it).
  self.victim = math.max(2, o.nodes // 2 + 1)
  if self.victim == o.nodes then self.victim = o.nodes - 1 end
  if not self.screen.live then
    self.screen:print(("rumor demo: %d agents on 127.0.0.1, gossip every %d ms, blocked after %d ms"
      .. " without a heartbeat"):format(o.nodes, o.interval, self.expiration))
  end
  self:start_timer()
  self:form()
  self:spread()
  self:kill()
  self:heal()
  self:partition()
  self:stop_timer()
  self.done_text = ("done: all %d steps in %.1f s"):format(STEPS, (now() - self.started_at) / 1000)
  if self.screen.live then self.screen:draw(self:frame()) end
  return self:summary()
end

---------------------------------------------------------------------------

function M.main(argv)
  local opts, err, help = parse(argv or {})
  if help then
    io.stdout:write(M.usage)
    return 0
  end
  if not opts then
    io.stderr:write("rumor demo: ", err, "\n", M.usage)
    return 2
  end
  local screen = screen_mod.new{ live = not opts.plain and screen_mod.is_terminal() }
  local demo = Demo.new(opts, screen)
  local ok, res = xpcall(demo.run, function(e)
    if type(e) == "table" or cluster_mod.is_interrupt(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, demo)
  demo:stop_timer()
  local interrupted = (not ok and cluster_mod.is_interrupt(res))
    or rumor._internal.interrupt_pending()
  if interrupted then pcall(rumor._check_interrupt) end   -- taken: the reaping must not see it
  screen:close()
  if not ok and not interrupted then
    local message = type(res) == "table" and res.demo_failure or tostring(res)
    local where = demo.step > 0 and ("step %d/%d (%s) failed: "):format(demo.step, STEPS,
      demo.step_text) or ""
    io.stderr:write("rumor demo: ", where, message, "\n")
  end
  local pids = demo.cluster:running_pids()
  local reaped = demo.cluster:close()
  if interrupted then
    io.stderr:write(("rumor demo: interrupted; %s\n"):format(reaped
      and ("stopped all agents (%d were running)"):format(#pids)
      or "some agents could not be stopped: " .. table.concat(demo.cluster:running_pids(), " ")))
    return 130
  end
  if not ok then return 1 end
  if not reaped then
    io.stderr:write("rumor demo: some agents did not exit: pids ",
      table.concat(demo.cluster:running_pids(), " "), "\n")
    return 1
  end
  screen:print("")
  screen:print(screen_mod.wrap(res, math.min(screen.cols - 1, 88)))
  return 0
end

return M

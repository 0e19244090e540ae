-- docs/API.md is checked, not trusted: every ```lua block in it runs as a script through
-- `rumor run` (a block fenced ```lua norun is only shown), and every public function of
-- the rumor module and every method of rumor.Node must have a heading there with a
-- runnable example under it, as must every field rumor.new accepts have a row in the
-- config table. A function added without docs fails here.
--
-- The blocks are separate processes; they run a few at a time, all of them the first
-- time one of their tests asks, so the whole file takes a few seconds.
local rumor = require("rumor")
local config = require("rumor.config")
local core = require("rumor.core")
local process = require("rumor.process")

local DOC = "docs/API.md"
local PARALLEL = 6            -- blocks running at once (they mostly wait on timers)
local BLOCK_TIMEOUT_MS = 20000

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Headings { level, title (backticks removed), line } and lua blocks { heading (index),
-- line, code, run } of a markdown text. Fenced blocks of other languages are skipped,
-- so a '#' inside them is no heading.
local function parse(text)
  local headings, blocks = {}, {}
  local fence, buf, start
  local lineno = 0
  for line in (text:gsub("\n?$", "\n")):gmatch("(.-)\r?\n") do
    lineno = lineno + 1
    if fence then
      if line:match("^%s*```%s*$") then
        if fence ~= "other" then
          blocks[#blocks + 1] = { heading = #headings, line = start,
                                  code = table.concat(buf, "\n") .. "\n", run = fence == "run" }
        end
        fence = nil
      else
        buf[#buf + 1] = line
      end
    else
      local info = line:match("^%s*```(.*)$")
      if info then
        local lang, rest = info:match("^(%S*)%s*(.-)%s*$")
        if lang == "lua" then
          if rest ~= "" and rest ~= "norun" then
            error(("%s:%d: unknown fence option '%s' (only 'norun')"):format(DOC, lineno, rest))
          end
          fence = rest == "norun" and "norun" or "run"
        else
          fence = "other"
        end
        buf, start = {}, lineno
      else
        local hashes, title = line:match("^(#+)%s+(.-)%s*#*%s*$")
        if hashes then
          headings[#headings + 1] = { level = #hashes, title = (title:gsub("`", "")), line = lineno }
        end
      end
    end
  end
  if fence then error(("%s:%d: code block not closed"):format(DOC, start)) end
  return headings, blocks
end

-- Does heading title document `prefix .. name` (followed by no identifier character)?
local function names(title, prefix, name)
  local needle = prefix .. name
  local from = 1
  while true do
    local i, j = title:find(needle, from, true)
    if not i then return false end
    local before, after = title:sub(i - 1, i - 1), title:sub(j + 1, j + 1)
    if not before:match("[%w_]") and not after:match("[%w_]") then return true end
    from = j + 1
  end
end

-- Public names: functions whose names do not start with '_' (so no metamethods either).
local function public_functions(t)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not k:match("^_") then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

-- Runs every runnable block, PARALLEL at a time, each as `rumor run FILE`. Returns,
-- per block index, { code, signal, stdout, stderr, ms } or { timed_out = true, ... }.
local function run_blocks(blocks)
  local bin = assert(process.find_bin(), "the rumor launcher is not found")
  local env = process.environment()
  local results, queue, running = {}, {}, {}
  for i, b in ipairs(blocks) do
    if b.run then queue[#queue + 1] = i end
  end
  local function start(i)
    -- The name tells where the block is: line N of docs-API.md-L<start>.lua is line
    -- start + N of the doc.
    local tmp = os.tmpname()
    local path = ("%s-docs-API.md-L%d.lua"):format(tmp, blocks[i].line)
    os.remove(tmp)
    local f = assert(io.open(path, "wb"))
    f:write(blocks[i].code)
    f:close()
    local r = { stdout = {}, stderr = {}, path = path, started = core.hrtime_ms() }
    local proc, err = core.spawn{
      file = process.interpreter(), args = { bin, "run", path }, env = env,
      on_line = function(stream, line) table.insert(r[stream], line) end,
      on_exit = function(code, signal)
        r.code, r.signal, r.ms = code, signal, core.hrtime_ms() - r.started
        running[i] = nil
        os.remove(path)
      end,
    }
    if not proc then
      os.remove(path)
      r.code, r.stderr = -1, { "cannot start: " .. tostring(err) }
    else
      r.proc = proc
      running[i] = r
    end
    results[i] = r
  end
  local next_index = 1
  local function pump()
    local now = core.hrtime_ms()
    for _, r in pairs(running) do
      if not r.timed_out and now - r.started > BLOCK_TIMEOUT_MS then
        r.timed_out = true
        r.proc:kill("SIGKILL")
      end
    end
    local n = 0
    for _ in pairs(running) do n = n + 1 end
    while n < PARALLEL and next_index <= #queue do
      start(queue[next_index])
      next_index = next_index + 1
      n = n + 1
    end
    return n == 0 and next_index > #queue
  end
  local done = process.eventually(pump, #queue * BLOCK_TIMEOUT_MS + 10000, 20)
  assert(done, "the doc examples did not all end")
  for _, r in pairs(results) do
    r.stdout, r.stderr = table.concat(r.stdout, "\n"), table.concat(r.stderr, "\n")
  end
  return results
end

local text = read(DOC)

describe(DOC, function()
  if not text then
    it("exists", function() error(DOC .. " is missing") end)
    return
  end
  local headings, blocks = parse(text)

  it("documents every public function of rumor and method of rumor.Node, with a runnable example", function()
    -- Which blocks belong to heading h: those up to the next heading of its level or above.
    local function has_example(h)
      local level = headings[h].level
      local last = #headings
      for k = h + 1, #headings do
        if headings[k].level <= level then last = k - 1 break end
      end
      for _, b in ipairs(blocks) do
        if b.run and b.heading >= h and b.heading <= last then return true end
      end
      return false
    end
    local undocumented, unexampled = {}, {}
    local function check(prefix, list)
      for _, name in ipairs(list) do
        local found, example = false, false
        for h, head in ipairs(headings) do
          if names(head.title, prefix, name) then
            found = true
            example = example or has_example(h)
          end
        end
        if not found then
          undocumented[#undocumented + 1] = prefix .. name
        elseif not example then
          unexampled[#unexampled + 1] = prefix .. name
        end
      end
    end
    check("rumor.", public_functions(rumor))
    check("node:", public_functions(rumor.Node))
    local problems = {}
    if #undocumented > 0 then
      problems[#problems + 1] = ("no heading in %s for %d function(s): %s"):format(
        DOC, #undocumented, table.concat(undocumented, ", "))
    end
    if #unexampled > 0 then
      problems[#problems + 1] = ("no runnable ```lua example under the heading of %d function(s): %s"):format(
        #unexampled, table.concat(unexampled, ", "))
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  it("documents every field rumor.new accepts in the config table", function()
    local missing = {}
    for _, field in ipairs(config.fields) do
      if not text:find("\n| `" .. field .. "` |", 1, true) then missing[#missing + 1] = field end
    end
    assert(#missing == 0, ("no row \"| `NAME` |\" in %s for %d config field(s): %s"):format(
      DOC, #missing, table.concat(missing, ", ")))
  end)

  local results
  local seen = {}
  for i, b in ipairs(blocks) do
    if b.run then
      local title = b.heading > 0 and headings[b.heading].title or "(before the first heading)"
      seen[title] = (seen[title] or 0) + 1
      local name = seen[title] > 1 and ("%s (example %d)"):format(title, seen[title]) or title
      it(name, function()
        results = results or run_blocks(blocks)
        local r = results[i]
        local where = ("%s:%d (%s; line N of the script is line %d + N)"):format(
          DOC, b.line, title, b.line)
        local output = ("\n--- stdout:\n%s\n--- stderr:\n%s"):format(r.stdout, r.stderr)
        assert(not r.timed_out, ("%s: still running after %d ms, killed%s"):format(
          where, BLOCK_TIMEOUT_MS, output))
        assert(r.code == 0, ("%s: exit code %s%s"):format(where, tostring(r.code), output))
        assert(not r.stderr:lower():find("error", 1, true),
          ("%s: \"error\" on stderr%s"):format(where, output))
      end)
    end
  end
end)

-- rumor.demo.screen: how the demo shows itself. On a terminal, a frame (header, step
-- line, one row per node, the latest events) redrawn in place with plain ANSI escapes:
-- cursor up, clear to the end of the screen, cursor hidden and line wrap off while it
-- runs, both given back by close(). Anywhere else (a pipe, a file, CI, --plain), one
-- line per step and per event, never redrawn, so logs and specs read it line by line.
--
--   local s = screen.new{ live = screen.is_terminal() }
--   s:step(1, 5, "starting ...")  s:event("n3 started ...")  s:draw(lines)  s:close()

local M = {}

local Screen = {}
Screen.__index = Screen

local ESC = "\27["
local HIDE_CURSOR, SHOW_CURSOR = ESC .. "?25l", ESC .. "?25h"
local WRAP_OFF, WRAP_ON = ESC .. "?7l", ESC .. "?7h"   -- a long row must not push the frame down
local CLEAR_DOWN = ESC .. "J"

-- Used when the terminal will not say its size: the classic 80 x 24.
local FALLBACK_COLS, FALLBACK_ROWS = 80, 24

-- Whether stdout is a terminal: the shell's `test -t 1` sees our stdout (Lua has no
-- isatty). A dumb terminal cannot move the cursor, so it gets the plain lines too.
function M.is_terminal()
  if os.getenv("TERM") == "dumb" then return false end
  return os.execute("test -t 1") == true
end

-- rows, cols of the controlling terminal, or the fallback.
local function terminal_size()
  local p = io.popen("stty size </dev/tty 2>/dev/null")
  local text = p and p:read("a") or ""
  if p then p:close() end
  local rows, cols = text:match("^(%d+)%s+(%d+)")
  rows, cols = tonumber(rows), tonumber(cols)
  if not rows or rows < 5 or cols < 20 then
    return FALLBACK_ROWS, tonumber(os.getenv("COLUMNS")) or FALLBACK_COLS
  end
  return rows, cols
end

-- Display width of s (UTF-8: the step lines hold an em dash).
local function width(s)
  return utf8.len(s) or #s
end
M.width = width

-- s cut to at most n characters.
local function cut(s, n)
  if width(s) <= n then return s end
  local stop = utf8.offset(s, n + 1)
  return stop and s:sub(1, stop - 1) or s:sub(1, n)
end

-- s padded with spaces (or cut) to exactly n characters.
function M.pad(s, n)
  s = cut(s, n)
  return s .. (" "):rep(n - width(s))
end

-- Words of text in lines of at most cols characters. A number keeps its unit
-- ("76 ms", "2.0 s") on its line.
function M.wrap(text, cols)
  local lines, line = {}, ""
  text = text:gsub("(%d) (m?s)%f[^%w]", "%1\0%2")
  for word in text:gmatch("%S+") do
    if line ~= "" and width(line) + 1 + width(word) > cols then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  if line ~= "" then lines[#lines + 1] = line end
  return (table.concat(lines, "\n"):gsub("%z", " "))
end

-- opts.live: redraw frames in place (a terminal); opts.out: the stream (stdout).
function M.new(opts)
  local s = setmetatable({ live = opts.live, out = opts.out or io.stdout, drawn = 0 }, Screen)
  if s.live then
    s.rows, s.cols = terminal_size()
    s.out:write(HIDE_CURSOR, WRAP_OFF)
    s.out:flush()
  else
    s.rows, s.cols = FALLBACK_ROWS, FALLBACK_COLS
  end
  return s
end

-- Plain mode prints steps and events as they come; live mode shows them in the frame
-- (the demo keeps them), so these print nothing there.
function Screen:step(k, total, text)
  if self.live then return end
  self.out:write(("step %d/%d: %s\n"):format(k, total, text))
  self.out:flush()
end

function Screen:event(text)
  if self.live then return end
  self.out:write("  ", text, "\n")
  self.out:flush()
end

-- Replaces the frame on the screen with lines (live mode only). Lines are cut to the
-- width, and the frame to the height, so the cursor can always get back to its top.
function Screen:draw(lines)
  if not self.live then return end
  local buf = {}
  if self.drawn > 0 then buf[1] = ("%s%dA\r"):format(ESC, self.drawn) end
  buf[#buf + 1] = CLEAR_DOWN
  local n = math.min(#lines, self.rows - 1)
  for i = 1, n do buf[#buf + 1] = cut(lines[i], self.cols - 1) .. "\n" end
  self.drawn = n
  self.out:write(table.concat(buf))
  self.out:flush()
end

-- How many lines a frame may have on this screen.
function Screen:height()
  return self.rows - 1
end

-- Gives the terminal back: cursor shown, line wrap on. Safe to call twice.
function Screen:close()
  if self.live and not self.closed then
    -- \r and clear-line take away the "^C" the terminal echoed after the frame.
    self.out:write("\r", ESC, "K", SHOW_CURSOR, WRAP_ON)
    self.out:flush()
  end
  self.closed = true
end

-- Text after the frame (the summary, messages): always printed.
function Screen:print(text)
  self.out:write(text, "\n")
  self.out:flush()
end

return M

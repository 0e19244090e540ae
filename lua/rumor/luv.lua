-- rumor.luv: lets an application's luv event loop host rumor's, so that rumor's nodes,
-- timers and coroutines run inside the application's own uv.run().
--   rumor.use_luv(require("luv"))    or    rumor.new{ ..., loop = "luv" }
--
-- rumor keeps its own libuv loop; luv's loop drives it the way libuv documents for
-- embedding one loop in another (uv_backend_fd, uv_backend_timeout):
--   * a poll handle on rumor's backend fd: readable -> core.run("nowait");
--   * a timer armed to core.backend_timeout() after every run, for rumor's timers;
--   * an unreferenced prepare handle that re-arms that timer each time before luv
--     blocks, so work the application handed rumor inside a luv callback (a write to
--     push, a node to stop) is picked up without waiting for the old deadline.
-- The poll handle and the timer are referenced only while rumor's loop is alive:
-- uv.run() returns once the application and rumor are both done. rumor's entry points
-- (Node:start, timers, waits, processes) kick() the host when rumor gets work again,
-- before luv can decide to return. While hosted, rumor's blocking drivers (rumor.run,
-- run_once, sleep and waits outside rumor.spawn) turn luv's loop with uv.run("once").
--
-- Limits: one host per process; use_luv with a second, different uv module is an error
-- until use_luv(false) hands the loop back. Blocking calls inside a luv callback are
-- refused (luv's loop is not reentrant): use rumor.spawn there.

return function(rumor, internal)
  local core = internal.core
  local state   -- { uv, poll, timer, prepare, on_timer, kicked } while hosted

  local WHERE = "rumor's luv host"

  -- Arms the host for what rumor's loop holds now. A kick's run comes first: rumor's
  -- loop registers new sockets with its backend fd only when it runs.
  local function sync(s)
    if s.kicked then return end
    if core.alive() then
      s.poll:ref()
      local t = core.backend_timeout()
      if t >= 0 then s.timer:start(t, 0, s.on_timer) else s.timer:stop() end
    else
      s.poll:unref()
      s.timer:stop()
    end
  end

  -- Runs what is ready in rumor's loop, then re-arms. An error must not escape into
  -- luv (it would end the process), so it is reported like any callback error.
  local function run_rumor(s)
    s.kicked = false
    local ok, err = pcall(core.run, "nowait")
    if not ok then pcall(internal.report, err, WHERE) end
    -- A Ctrl-C swallowed inside rumor's callbacks: make luv's uv.run return so that
    -- the driver (rumor.run, or the application) gets control; rumor's drivers raise it.
    if internal.interrupt_pending() then s.uv.stop() end
    if state == s then sync(s) end
  end

  -- Wraps a luv callback: nothing may raise into luv, which ends the process on errors.
  local function protected(fn, s)
    return function(...)
      local ok, err = xpcall(fn, debug.traceback, s, ...)
      if not ok then pcall(internal.report, err, WHERE) end
    end
  end

  -- Hosts handed back, by luv module: their handles, stopped, wait for a new use_luv.
  -- Not closed: a luv handle closed while its loop does not run again is freed twice
  -- at exit (luv 1.44 at lua_close); a stopped one is closed cleanly with the loop.
  local parked = {}

  local function release()
    local s = state
    if not s then return end
    state = nil
    internal.set_host(nil)
    s.poll:stop()
    s.timer:stop()
    s.prepare:stop()
    parked[s.uv] = s
  end

  -- The poll on rumor's backend fd and the prepare that re-arms the timer.
  local function start(s)
    s.poll:start("r", protected(function(self, perr)
      if perr then   -- rumor's own epoll fd failing is a bug: say so once, stop polling
        self.poll:stop()
        error("polling rumor's loop failed: " .. tostring(perr), 0)
      end
      run_rumor(self)
    end, s))
    s.prepare:start(protected(sync, s))
    s.prepare:unref()   -- re-arms on every iteration, but never keeps luv's loop alive
  end

  local NEEDED = { "new_poll", "new_timer", "new_prepare", "run", "stop", "loop_mode" }

  -- Makes uv's loop (the luv module) the host of rumor's; false hands it back.
  -- Calling it again with the same module does nothing.
  function rumor.use_luv(uv)
    if uv == false then return release() end
    local ok = type(uv) == "table"
    for _, name in ipairs(NEEDED) do ok = ok and type(uv[name]) == "function" end
    if not ok then
      error("rumor.use_luv: argument 'uv' must be the luv module (require(\"luv\"), 1.31 "
        .. "or later) or false, got " .. type(uv), 2)
    end
    if state then
      if state.uv == uv then return end
      error("rumor.use_luv: another luv module already hosts rumor's loop (one host per "
        .. "process; rumor.use_luv(false) hands it back first)", 2)
    end
    local s = parked[uv]
    parked[uv] = nil
    if not s then
      local fd, err = core.backend_fd()
      if not fd then error("rumor.use_luv: " .. tostring(err), 2) end
      s = { uv = uv, timer = uv.new_timer(), poll = uv.new_poll(fd), prepare = uv.new_prepare() }
      s.on_timer = protected(run_rumor, s)
    end
    s.kicked = false
    start(s)
    state = s

    internal.set_host{
      run_once = function()
        if uv.loop_mode() ~= nil then
          error("rumor: luv's loop is already running (not reentrant)", 0)
        end
        sync(s)   -- luv's loop must know of rumor's work, or "once" returns at once
        return uv.run("once")
      end,
      kick = function()
        -- Referenced at once, so uv.run() cannot return before rumor ran; the run
        -- itself (which also registers new sockets with rumor's backend) comes next.
        s.kicked = true
        s.poll:ref()
        s.timer:start(0, 0, s.on_timer)
      end,
    }
    internal.kick()   -- nodes or timers made before hosting
  end
end

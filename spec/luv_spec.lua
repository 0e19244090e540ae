-- Specs of rumor hosted by an application's luv loop (rumor.use_luv, loop = "luv"):
-- nodes, timers, coroutines and waits run inside the application's own uv.run(),
-- next to its own handles, and uv.run() still returns by itself when all are done.
local rumor = require("rumor")

-- Loaded on the main thread, as rumor does: luv runs every callback on the thread that
-- loaded it, and busted's blocks run in coroutines that end.
local has_luv, uv = pcall(require("rumor.core").require_main, "luv")
if not has_luv then
  describe("rumor hosted by luv", function()
    pending("luv is not installed (Debian: apt-get install lua-luv); hosted mode not checked")
  end)
  return
end

-- How long any one uv.run() here may take before the spec calls it a hang: a few
-- hundred gossip rounds of 50 ms, far above what a healthy run needs (< 1 s).
local DEADLINE_MS = 15000

local FAST = { cluster = "spec-luv", gossip_interval_ms = 50, loop = "luv" }

local function config(id, extra)
  local c = { id = id }
  for k, v in pairs(FAST) do c[k] = v end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- Errors must not escape into luv (it ends the process): app callbacks go through this.
local app_errors
local function guarded(fn)
  return function(...)
    local ok, err = xpcall(fn, debug.traceback, ...)
    if not ok then app_errors[#app_errors + 1] = err end
  end
end

local handles, nodes

local function track(h)
  handles[#handles + 1] = h
  return h
end

local function close_all()
  for _, n in ipairs(nodes) do n:close() end
  for _, h in ipairs(handles) do
    if not h:is_closing() then h:close() end
  end
end

-- Runs uv.run() as the application would, under a deadline held by an unreferenced
-- luv timer (it cannot keep the loop alive itself). Returns the milliseconds it took.
local function run_app()
  local hung = false
  local guard = uv.new_timer()
  -- luv's loop clock stands where its loop last ran: a spec file that loaded luv
  -- earlier leaves it stale, and the deadline would be over at once.
  uv.update_time()
  guard:start(DEADLINE_MS, 0, function()
    hung = true
    close_all()
    uv.stop()
  end)
  guard:unref()
  local t0 = uv.hrtime()
  uv.run()
  local ms = (uv.hrtime() - t0) / 1e6
  guard:close()
  uv.run("nowait")   -- the guard's close
  assert.is_false(hung, "uv.run() was still running after " .. DEADLINE_MS .. " ms")
  assert.same({}, app_errors)
  return ms
end

describe("rumor hosted by luv", function()
  local reported

  before_each(function()
    handles, nodes, app_errors, reported = {}, {}, {}, {}
    rumor.set_error_handler(function(message, where)
      reported[#reported + 1] = tostring(where) .. ": " .. tostring(message)
    end)
  end)

  after_each(function()
    close_all()
    uv.run()             -- hosted: closed nodes release their handles through luv's loop
    rumor.use_luv(false)
    rumor.set_error_handler(nil)
  end)

  it("runs 3 nodes inside the application's loop, next to its timer and a TCP echo", function()
    local ticks = 0
    local tick = track(uv.new_timer())
    tick:start(10, 10, guarded(function() ticks = ticks + 1 end))

    -- The application's own TCP echo server and client.
    local server = track(uv.new_tcp())
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(16, guarded(function(err)
      assert(not err, err)
      local conn = track(uv.new_tcp())
      server:accept(conn)
      conn:read_start(guarded(function(rerr, data)
        assert(not rerr, rerr)
        if data then conn:write(data) else conn:close() end
      end))
    end)))
    local echoed = ""
    local client = track(uv.new_tcp())
    client:connect("127.0.0.1", server:getsockname().port, guarded(function(err)
      assert(not err, err)
      client:read_start(guarded(function(rerr, data)
        assert(not rerr, rerr)
        if data then echoed = echoed .. data end
      end))
      client:write("ping")
    end))

    local a = rumor.new(config("a"))
    nodes[1] = a:start()
    for i, id in ipairs{ "b", "c" } do
      nodes[i + 1] = rumor.new(config(id, { seeds = { a:address() } })):start()
    end
    local got = {}   -- id -> app tick at which the write arrived
    for _, n in ipairs{ nodes[2], nodes[3] } do
      n:on_update(function(u)
        if u.key == "k" then got[n:id()] = ticks end
      end)
    end

    -- The application drives everything from its own timer: write once the echo came
    -- back and everyone is joined, and finish a few ticks after both others have it.
    local written_at, done_at
    local driver = track(uv.new_timer())
    driver:start(20, 20, guarded(function()
      if not written_at and echoed == "ping" and #a:members() == 3 then
        written_at = ticks
        a:set_state("k", "from a")
      end
      if written_at and got.b and got.c and not done_at then done_at = ticks end
      if done_at and ticks >= done_at + 3 then
        for _, n in ipairs(nodes) do n:stop() end
        for _, h in ipairs(handles) do
          if not h:is_closing() then h:close() end
        end
      end
    end))

    local ms = run_app()
    assert.equal("ping", echoed)
    assert.is_number(written_at)
    assert.is_number(got.b)
    assert.is_number(got.c)
    assert.equal("from a", nodes[2]:get_state("k").a)
    assert.equal("from a", nodes[3]:get_state("k").a)
    assert.is_true(ticks >= done_at + 3, "the application's timer kept ticking")
    assert.is_true(ms < DEADLINE_MS)
    assert.same({}, reported)
  end)

  it("returns from uv.run() once rumor is done too, waiting for its timers", function()
    rumor.use_luv(uv)
    local fired = {}
    rumor.after(30, function() fired[#fired + 1] = "after" end)
    local ms = run_app()
    assert.same({ "after" }, fired)
    assert.is_true(ms >= 25)
    -- and at once when neither has work
    assert.is_true(run_app() < 1000)
  end)

  -- An I/O callback runs in luv's poll phase, and nothing of the host runs between it
  -- and luv's "anything left?" test: only the kick of rumor's entry points keeps
  -- uv.run() from returning there with a node running.
  it("keeps uv.run() going for work rumor gets in the application's last I/O callback", function()
    rumor.use_luv(uv)
    run_app()   -- rumor idle: the host holds no reference on luv's loop
    local stopped_at, n
    local async
    async = track(uv.new_async(guarded(function()
      async:close()
      n = rumor.new(config("late")):start()
      nodes[1] = n
      rumor.after(100, function()
        stopped_at = rumor.now()
        n:stop()
      end)
    end)))
    async:send()
    local ms = run_app()
    assert.is_number(stopped_at, "uv.run() returned before rumor's timer fired")
    assert.is_true(ms >= 90)
  end)

  -- A write made in an application callback is pushed at once (the host re-arms before
  -- luv blocks), not at rumor's next round, here 2 s away.
  it("pushes a write made in an application callback without waiting for a round", function()
    local slow = { gossip_interval_ms = 2000 }
    local a = rumor.new(config("a", slow)):start()
    local b = rumor.new(config("b", { gossip_interval_ms = 2000, seeds = { a:address() } })):start()
    nodes = { a, b }
    local written_at, arrived_at
    b:on_update(function(u)
      if u.key == "k" then
        arrived_at = uv.hrtime() / 1e6
        a:stop(); b:stop()
      end
    end)
    local poll = track(uv.new_timer())
    poll:start(5, 5, guarded(function()
      if #a:members() == 2 and #b:members() == 2 then
        poll:close()
        written_at = uv.hrtime() / 1e6
        a:set_state("k", "v")
      end
    end))
    run_app()
    assert.is_number(arrived_at)
    assert.is_true(arrived_at - written_at < 500,
      ("the write took %.0f ms to arrive"):format(arrived_at - written_at))
  end)

  it("runs rumor.spawn coroutines that sleep, and blocking sleeps turn luv's loop", function()
    rumor.use_luv(uv)
    local steps = {}
    rumor.spawn(function()
      for i = 1, 3 do
        rumor.sleep(20)
        steps[#steps + 1] = i
      end
    end)
    assert.same({}, steps)
    run_app()
    assert.same({ 1, 2, 3 }, steps)

    -- Outside a coroutine rumor.sleep runs luv's loop, so the app's timers fire.
    local ticks = 0
    local tick = track(uv.new_timer())
    tick:start(5, 5, guarded(function() ticks = ticks + 1 end))
    rumor.sleep(60)
    assert.is_true(ticks >= 3, "app timer ticked " .. ticks .. " times during rumor.sleep")
    tick:close()
  end)

  it("answers set_state_request inside a coroutine and outside one", function()
    local a = rumor.new(config("a")):start()
    local b = rumor.new(config("b", { seeds = { a:address() } })):start()
    nodes = { a, b }
    local result
    rumor.spawn(function()
      while #a:members() < 2 or #b:members() < 2 do rumor.sleep(10) end
      result = { a:set_state_request("cfg", "1", { timeout_ms = 5000 }) }
      a:stop(); b:stop()
    end)
    run_app()
    assert.same({ true }, result)
    assert.equal("1", b:get_state("cfg").a)

    -- Outside a coroutine the request drives luv's loop itself.
    local c = rumor.new(config("c")):start()
    local d = rumor.new(config("d", { seeds = { c:address() } })):start()
    nodes = { c, d }
    while #c:members() < 2 or #d:members() < 2 do rumor.sleep(10) end
    local ticks = 0
    local tick = track(uv.new_timer())
    tick:start(1, 1, guarded(function() ticks = ticks + 1 end))
    assert.is_true(c:set_state_request("cfg", "2", { timeout_ms = 5000 }))
    assert.equal("2", d:get_state("cfg").c)
    tick:close()
    assert.same({}, reported)
  end)

  it("refuses to block inside a luv callback and to change hosts", function()
    rumor.use_luv(uv)
    rumor.use_luv(uv)   -- the same module again: nothing to do
    local err
    local t = track(uv.new_timer())
    t:start(1, 0, guarded(function()
      err = select(2, pcall(rumor.sleep, 10))
      t:close()
    end))
    run_app()
    assert.matches("cannot block inside a callback; call it from rumor.spawn", err)
    assert.has_error(function() rumor.use_luv(setmetatable({}, { __index = uv })) end,
      "rumor.use_luv: another luv module already hosts rumor's loop (one host per process; "
        .. "rumor.use_luv(false) hands it back first)")
    assert.has_error(function() rumor.use_luv({}) end)
    local ok, nerr = pcall(rumor.new, { id = "x", loop = "rumor" })
    assert.is_false(ok)
    assert.matches("field 'loop': \"rumor\", but luv's loop already hosts rumor's", nerr)
  end)

  it("hands the loop back with use_luv(false), and takes it again", function()
    rumor.use_luv(uv)
    rumor.use_luv(false)
    local fired = false
    rumor.after(5, function() fired = true end)
    rumor.run()   -- rumor's own loop again
    assert.is_true(fired)
    rumor.use_luv(uv)   -- hosted again, with the same handles
    fired = false
    rumor.after(5, function() fired = true end)
    run_app()
    assert.is_true(fired)
  end)
end)

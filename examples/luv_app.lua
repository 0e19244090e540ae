-- luv_app.lua: an application with its own luv event loop hosting two rumor nodes.
-- The application's timer drives it; rumor's nodes, timers and coroutines run inside
-- the application's uv.run(), which returns by itself once both are done.
--   ./lua/bin/rumor run examples/luv_app.lua      (needs luv: apt-get install lua-luv)
local uv = require("luv")   -- on the main thread: luv calls back on the thread that loaded it
local rumor = require("rumor")

local function node(id, seeds)
  return rumor.new{ id = id, cluster = "luv-demo", gossip_interval_ms = 100, seeds = seeds,
                    loop = "luv" }   -- loop = "luv": the application's loop hosts rumor's
end
local a = node("a"):start()
local b = node("b", { a:address() }):start()

local timer = uv.new_timer()   -- the application's own work: here, a 10 ms tick

b:on_update(function(u)
  print(("b got %s = %s from %s"):format(u.key, u.value, u.member))
  rumor.spawn(function()        -- coroutines sleep inside the hosted loop too
    rumor.sleep(50)
    print("stopping the nodes and the application's timer")
    a:stop(); b:stop()
    timer:close()
  end)
end, { prefix = "app/" })

local written = false
timer:start(10, 10, function()
  if not written and #a:members() == 2 and #b:members() == 2 then
    written = true
    print("a writes app/greeting")
    a:set_state("app/greeting", "hello")
  end
end)

uv.run()
print("uv.run() returned: the application and both nodes are done")

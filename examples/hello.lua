-- hello.lua: the README's example: two nodes in one process, one write, one update.
local rumor = require("rumor")
local a = rumor.new{ id = "a", cluster = "demo" }
a:start()
local b = rumor.new{ id = "b", cluster = "demo", seeds = { a:address() } }
b:start()
b:on_update(function(u) print(u.member, u.key, u.value, u.seq) end, { prefix = "cfg/" })
a:set_state("cfg/color", "blue")              -- b prints: a  cfg/color  blue  2
rumor.sleep(1000)                              -- drives the loop for a second
print(b:get_state("cfg/color").a)              -- blue
a:stop(); b:stop()

-- convergence.lua: how fast one write reaches every node, and what it costs.
--   rumor run bench/convergence.lua [--nodes N] [--repeats R] [--interval MS] [--value-size B]
-- N nodes in this process on loopback, all joined through node 1. Each repeat
-- writes one value on a random node and waits until every other node's
-- on_update fired. Prints one JSON line (DESIGN.md "Benchmarks"):
--   p50/p99/max_ms over all receivers and repeats, and the datagrams and bytes sent
--   while the write spread, minus the idle traffic of the same length (measured
--   first), i.e. what the update itself cost: for the whole cluster (*_per_update)
--   and per node (*_per_node).
local rumor = require("rumor")
local json = require("cjson")

local opts = { nodes = 50, repeats = 20, interval = 500, ["value-size"] = 100 }
local i = 1
while arg[i] do
  local name = arg[i]:match("^%-%-(.+)$")
  if not name or opts[name] == nil or not tonumber(arg[i + 1]) then
    io.stderr:write("usage: rumor run bench/convergence.lua [--nodes N] [--repeats R] [--interval MS] [--value-size B]\n")
    os.exit(2)
  end
  opts[name] = math.tointeger(tonumber(arg[i + 1]))
  i = i + 2
end

local N = opts.nodes
local nodes = {}
for k = 1, N do
  nodes[k] = rumor.new{ id = ("n%03d"):format(k), cluster = "bench",
                        seeds = k > 1 and { nodes[1]:address() } or nil,
                        gossip_interval_ms = opts.interval }
  nodes[k]:start()
end

-- Everything sent, datagrams and TCP frames alike.
local function traffic()
  local d, b, p = 0, 0, 0
  for _, n in ipairs(nodes) do
    local m = n:metrics()
    d = d + m.datagrams_sent + (m.frames_sent or 0)
    b = b + m.bytes_sent + (m.tcp_bytes_sent or 0)
    p = p + (m.pushes_sent or 0)
  end
  return d, b, p
end

local function wait_until(pred, ms)
  local deadline = rumor.now() + ms
  while not pred() do
    if rumor.now() > deadline then return false end
    rumor.sleep(5)
  end
  return true
end

local result = { bench = "convergence", nodes = N, mode = "epidemic", in_process = true,
                 gossip_interval_ms = opts.interval, value_size = opts["value-size"] }
rumor.spawn(function()
  local t0 = rumor.now()
  assert(wait_until(function()
    for _, n in ipairs(nodes) do if #n:members() < N then return false end end
    return true
  end, 60000), "the cluster did not form")
  result.join_ms = rumor.now() - t0

  -- Idle traffic over a few rounds, as the baseline to subtract.
  local idle_ms = 4 * opts.interval
  local d0, b0 = traffic()
  rumor.sleep(idle_ms)
  local d1, b1 = traffic()
  local idle_d, idle_b = (d1 - d0) / idle_ms, (b1 - b0) / idle_ms

  local delays, cost_d, cost_b, pushes = {}, 0, 0, 0
  local value = string.rep("x", opts["value-size"])
  for r = 1, opts.repeats do
    local got, t_start = 0, nil
    local subs = {}
    local key = "bench/" .. r
    for _, n in ipairs(nodes) do
      subs[#subs + 1] = n:on_update(function(u)
        if not u["local"] then
          got = got + 1
          delays[#delays + 1] = rumor.now() - t_start
        end
      end, { prefix = key })
    end
    local sd, sb, sp = traffic()
    t_start = rumor.now()
    nodes[math.random(N)]:set_state(key, value)
    assert(wait_until(function() return got == N - 1 end, 60000), "the write did not reach every node")
    local spent = math.max(rumor.now() - t_start, 1)
    local ed, eb, ep = traffic()
    cost_d = cost_d + (ed - sd) - idle_d * spent
    cost_b = cost_b + (eb - sb) - idle_b * spent
    pushes = pushes + (ep - sp)
    for _, s in ipairs(subs) do s:cancel() end
    rumor.sleep(opts.interval) -- let the round settle before the next repeat
  end
  table.sort(delays)
  local function pct(p) return delays[math.max(1, math.ceil(#delays * p))] end
  result.p50_ms, result.p99_ms, result.max_ms = pct(0.5), pct(0.99), delays[#delays]
  -- The share of deliveries that did not wait for an anti-entropy round (the push's reach).
  local quick = 0
  for _, d in ipairs(delays) do if d <= 10 then quick = quick + 1 end end
  result.share_within_10ms = quick / #delays
  result.datagrams_per_update = cost_d / opts.repeats
  result.bytes_per_update = cost_b / opts.repeats
  result.pushes_per_update = pushes / opts.repeats
  result.datagrams_per_node = cost_d / opts.repeats / N
  result.bytes_per_node = cost_b / opts.repeats / N
  result.idle_datagrams_per_node_s = idle_d * 1000 / N
  result.idle_bytes_per_node_s = idle_b * 1000 / N
  print(json.encode(result))
  for _, n in ipairs(nodes) do n:stop() end
end)

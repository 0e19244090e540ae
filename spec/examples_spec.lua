-- Specs that run the scripts in examples/ through `rumor run`, as a user would.
local process = require("rumor.process")

-- limit_s: kill the run after that many seconds (coreutils timeout; exit code 124).
local function rumor_run(script, limit_s)
  local line = ("%senv LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' %s '%s' run '%s' 2>&1"):format(
    limit_s and ("timeout %d "):format(limit_s) or "",
    package.path, package.cpath, process.interpreter(), process.find_bin(), script)
  local p = assert(io.popen(line, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- Each example, what its spec says it does, and its exact output, line by line.
local EXAMPLES = {
  { "hello.lua", "(the README's example) prints the update and the value",
    { "a\tcfg/color\tblue\t2", "blue" } },   -- seq 1 is a's first heartbeat
  { "rollout.lua", "validates, agrees, refuses a bad config and blocks a draining node, then ends", {
    "version 2 published on every node",
    "consensus: every node runs version 2",
    "d's config with 0 workers was refused by a, b and c; they still see version 2",
    "a: d is blocked as policy: draining for maintenance",
    "consensus again on a, b and c without d: version 2",
  } },
  { "counter.lua", "sums every node's count on every node, then ends by itself",
    { "every node counts 17 requests (a 3 + b 5 + c 9)" } },
  { "health.lua", "blocks a member whose heartbeat stats cross a threshold until it restarts", {
    "a sees: b load 35% errors 2, c load 25% errors 0, d load 30% errors 1",
    "d's load rises to 95%: a, b and c block it",
    "a: d is blocked as policy: load 95% over 80%",
    "d's load falls to 30%; the block holds for d's generation, so a still says: d is "
      .. "blocked as policy: load 95% over 80%",
    "d restarts as a new generation: a, b and c see it alive again, d load 30% errors 1",
    "a: d is alive",
  } },
  { "topology.lua", "loses and regains topology-hash consensus on a join and a leave", {
    "a, b, c and d: consensus on topology db418acf (a,b,c,d) on every node",
    "e joins through a: a's check loses consensus while the views differ",
    "every node republished its view: consensus on topology d4d7f774 (a,b,c,d,e) on every node",
    "c leaves: a's check loses consensus while the views differ",
    "every node republished its view: consensus on topology 77655a99 (a,b,d,e) on every node",
  } },
  { "broadcast.lua", "sends one write down a binary tree (N-1 pushes) and compares epidemic", {
    "tree (broadcast_branching = 2): 15 nodes; f writes once and every node gets it",
    "  f's tree, 3 hops deep: f > g h, g > i j, h > k l, i > m n, j > o a, k > b c, l > d e",
    "  pushes sent: a 0, b 0, c 0, d 0, e 0, f 2, g 2, h 2, i 2, j 2, k 2, l 2, m 0, n 0, o 0",
    "  14 in all (N-1), no node more than 2",
    "epidemic (gossip_fan_out = 3): 15 nodes; f writes once and every node gets it",
    "  every node passed it on, 3 or 4 pushes each (3 random peers and its ring successor):"
      .. " 45 or more in all, against the tree's 14",
  } },
  { "luv_app.lua", "hosts two nodes in an application's luv loop and ends by itself", {
    "a writes app/greeting",
    "b got app/greeting = hello from a",
    "stopping the nodes and the application's timer",
    "uv.run() returned: the application and both nodes are done",
  }, needs_luv = true },
}

-- Looked up, not loaded: luv must be loaded once per process and kept (core.require_main).
local has_luv = package.searchpath("luv", package.cpath) ~= nil

describe("examples", function()
  it("are all listed here, so every one is run", function()
    local listed, missing = {}, {}
    for _, ex in ipairs(EXAMPLES) do listed[ex[1]] = true end
    local p = assert(io.popen("ls examples"))
    for name in p:lines() do
      if name:match("%.lua$") and not listed[name] then missing[#missing + 1] = name end
    end
    p:close()
    assert.same({}, missing)
  end)

  for _, ex in ipairs(EXAMPLES) do
    local file, says, lines = ex[1], ex[2], ex[3]
    if ex.needs_luv and not has_luv then
      pending(file .. " " .. says .. " (luv is not installed)")
    else
      it(file .. " " .. says, function()
        local out, code = rumor_run("examples/" .. file, 60)   -- a hang fails, not blocks
        assert.equal(0, code, out)
        assert.equal(table.concat(lines, "\n") .. "\n", out)
      end)
    end
  end
end)

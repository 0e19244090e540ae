-- Specs of rumor.load_config (JSON file + RUMOR_* environment overrides) and of the
-- config checks it relies on: the ranges rumor.config shares with the core, field 'loop'.
local rumor = require("rumor")
local config = require("rumor.config")
local core = require("rumor.core")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function write(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local NO_ENV = {}

local function err_of(...)
  local ok, err = pcall(rumor.load_config, ...)
  assert.is_false(ok, "expected load_config to fail")
  return err
end

describe("rumor.load_config", function()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("reads a JSON file into a checked config with the seed's defaults", function()
    local path = write("a.json", [[{ "id": "a", "cluster": "demo", "gossip_fan_out": 4,
      "seeds": ["127.0.0.1:7946"], "rate_limit": { "tokens": 45 }, "phi_threshold": 9.5 }]])
    assert.same({
      id = "a", cluster = "demo", bind = "127.0.0.1:0", seeds = { "127.0.0.1:7946" },
      gossip_interval_ms = 500, gossip_request_timeout_ms = 2000, gossip_fan_out = 4,
      gossip_max_send = 50, heartbeat_expiration_ms = 10000, rate_limit = { tokens = 45 },
      phi_threshold = 9.5,
    }, rumor.load_config(path, NO_ENV))
    assert.equal("integer", math.type(rumor.load_config(path, NO_ENV).gossip_fan_out))
    assert.equal(config.load_config, rumor.load_config)
  end)

  it("treats a null field as absent", function()
    local path = write("null.json", [[{ "id": "a", "mtu": null }]])
    assert.is_nil(rumor.load_config(path, NO_ENV).mtu)
  end)

  it("gives a config rumor.new takes", function()
    local path = write("node.json", [[{ "id": "from-file", "gossip_interval_ms": 50 }]])
    local n <close> = rumor.new(rumor.load_config(path, NO_ENV))
    assert.equal("from-file", n:id())
  end)

  it("refuses unknown keys, naming the file and the key", function()
    local path = write("unknown.json", [[{ "id": "a", "gossip_intervall_ms": 5 }]])
    assert.matches("rumor.load_config: " .. path:gsub("%p", "%%%0")
      .. ": field 'gossip_intervall_ms': unknown field", err_of(path, NO_ENV))
  end)

  it("names the file and the field for a bad value, at the caller's line", function()
    local path = write("bad.json", [[{ "id": "a", "gossip_fan_out": 0 }]])
    local ok, err = pcall(function() rumor.load_config(path, NO_ENV) end)
    assert.is_false(ok)
    assert.matches("load_config_spec%.lua:%d+: rumor%.load_config: .*bad%.json: field "
      .. "'gossip_fan_out': must be >= 1, got 0", err)
    path = write("range.json", [[{ "id": "a", "mtu": 100000 }]])
    assert.matches("range%.json: field 'mtu': must be <= 65507, got 100000", err_of(path, NO_ENV))
    path = write("type.json", [[{ "id": "a", "auto_rejoin": "no" }]])
    assert.matches("type%.json: field 'auto_rejoin': expected a boolean, got string", err_of(path, NO_ENV))
    path = write("noid.json", [[{ "cluster": "x" }]])
    assert.matches("noid%.json: field 'id': required", err_of(path, NO_ENV))
  end)

  it("gives the file, line and column of a JSON syntax error", function()
    local path = write("syntax.json", '{ "id": "a",\n  "mtu": 1200,\n  "seeds": [1, ] }')
    assert.matches("syntax%.json:3:16: invalid JSON: .*at character 44", err_of(path, NO_ENV))
  end)

  it("refuses a file that is missing or not an object", function()
    assert.matches("cannot read .*missing%.json", err_of(dir .. "/missing.json", NO_ENV))
    assert.matches("array%.json: expected a JSON object",
      err_of(write("array.json", '["id", "a"]'), NO_ENV))
    assert.matches("number%.json: expected a JSON object", err_of(write("number.json", "5"), NO_ENV))
  end)

  it("lets RUMOR_* variables override the file, parsed per field", function()
    local path = write("env.json", [[{ "id": "a", "gossip_interval_ms": 100,
      "rate_limit": { "tokens": 3 } }]])
    local c = rumor.load_config(path, {
      RUMOR_GOSSIP_INTERVAL_MS = "200",
      RUMOR_SEEDS = "127.0.0.1:7946,127.0.0.1:7947",
      RUMOR_AUTO_REJOIN = "false",
      RUMOR_RATE_LIMIT_INTERVAL_MS = "5000",
      RUMOR_PHI_THRESHOLD = "6.5",
      RUMOR_CLUSTER = "prod",
      RUMOR_LOG_LEVEL = "info",
    })
    assert.equal(200, c.gossip_interval_ms)
    assert.equal("integer", math.type(c.gossip_interval_ms))
    assert.same({ "127.0.0.1:7946", "127.0.0.1:7947" }, c.seeds)
    assert.is_false(c.auto_rejoin)
    assert.same({ tokens = 3, interval_ms = 5000 }, c.rate_limit)
    assert.equal(6.5, c.phi_threshold)
    assert.equal("prod", c.cluster)
    assert.equal("info", c.log_level)
    -- nested values without the table in the file; an empty list: no seeds
    c = rumor.load_config(write("bare.json", [[{ "id": "a", "seeds": ["127.0.0.1:1"] }]]),
      { RUMOR_RATE_LIMIT_TOKENS = "10", RUMOR_SEEDS = "", RUMOR_ID = "b" })
    assert.same({ tokens = 10 }, c.rate_limit)
    assert.same({}, c.seeds)
    assert.equal("b", c.id)
  end)

  it("reads the environment through a function, os.getenv by default", function()
    local path = write("fn.json", [[{ "id": "a" }]])
    local asked = {}
    local c = rumor.load_config(path, function(name)
      asked[name] = true
      if name == "RUMOR_GOSSIP_MAX_SEND" then return "7" end
    end)
    assert.equal(7, c.gossip_max_send)
    assert.is_true(asked.RUMOR_GOSSIP_INTERVAL_MS)
    assert.is_true(asked.RUMOR_RATE_LIMIT_TOKENS)
    assert.is_nil(asked.RUMOR_RATE_LIMIT)   -- the table itself has no variable
    -- the real environment, through a child that sets it
    local lua = ("LUA_PATH_5_4='%s' LUA_CPATH_5_4='%s' RUMOR_GOSSIP_FAN_OUT=9 lua5.4 -e "
      .. "'print(require(\"rumor\").load_config(\"%s\").gossip_fan_out)'"):format(
      package.path, package.cpath, path)
    local p = assert(io.popen(lua))
    local out = p:read("a")
    p:close()
    assert.equal("9\n", out)
  end)

  it("names the variable when its value is bad", function()
    local path = write("envbad.json", [[{ "id": "a" }]])
    assert.matches("environment variable RUMOR_GOSSIP_INTERVAL_MS: expected an integer for field "
      .. "'gossip_interval_ms', got \"fast\"", err_of(path, { RUMOR_GOSSIP_INTERVAL_MS = "fast" }))
    assert.matches("environment variable RUMOR_GOSSIP_FAN_OUT: field 'gossip_fan_out': must be "
      .. ">= 1, got 0", err_of(path, { RUMOR_GOSSIP_FAN_OUT = "0" }))
    assert.matches("environment variable RUMOR_AUTO_REJOIN: expected true or false",
      err_of(path, { RUMOR_AUTO_REJOIN = "maybe" }))
    assert.matches("environment variable RUMOR_PHI_THRESHOLD: expected a number",
      err_of(path, { RUMOR_PHI_THRESHOLD = "high" }))
    assert.matches("environment variable RUMOR_SEEDS: field 'seeds%[1%]': expected \"host:port\"",
      err_of(path, { RUMOR_SEEDS = "localhost" }))
    assert.matches("environment variable RUMOR_RATE_LIMIT_TOKENS: expected an integer for field "
      .. "'rate_limit.tokens'", err_of(path, { RUMOR_RATE_LIMIT_TOKENS = "lots" }))
    assert.matches("environment variable RUMOR_RATE_LIMIT_INTERVAL_MS: field "
      .. "'rate_limit.tokens': required", err_of(path, { RUMOR_RATE_LIMIT_INTERVAL_MS = "100" }))
    assert.matches("environment variable RUMOR_BROADCAST: field 'broadcast': expected",
      err_of(path, { RUMOR_BROADCAST = "flood" }))
    -- a clash between fields names the file and the variables that took part
    assert.matches("envbad%.json with RUMOR_GOSSIP_INTERVAL_MS: field 'heartbeat_expiration_ms': "
      .. "must be 0 %(off%) or at least 3 gossip intervals", err_of(path, { RUMOR_GOSSIP_INTERVAL_MS = "5000" }))
  end)

  it("hands back the caller's own keys unchecked when asked (the agent's script)", function()
    local path = write("agent.json", [[{ "id": "a", "script": "policy.lua" }]])
    local c, own = rumor.load_config(path, NO_ENV, { script = true })
    assert.is_nil(c.script)
    assert.same({ script = "policy.lua" }, own)
    assert.matches("field 'script': unknown field", err_of(path, NO_ENV))
  end)

  it("reads the limits from RUMOR_* variables", function()
    local path = write("limits.json", [[{ "id": "a", "max_members": 100 }]])
    local c = rumor.load_config(path, { RUMOR_MAX_MEMBERS = "200", RUMOR_RECV_BUDGET = "0",
      RUMOR_MAX_KEYS_PER_MEMBER = "50", RUMOR_MAX_DATAGRAM_SIZE = "9000", RUMOR_MTU = "9000",
      RUMOR_MAX_TCP_CONNECTIONS = "16", RUMOR_MAX_STREAM_BYTES = "1048576" })
    assert.same({ 200, 0, 50, 9000, 16, 1048576 }, { c.max_members, c.recv_budget,
      c.max_keys_per_member, c.max_datagram_size, c.max_tcp_connections, c.max_stream_bytes })
    assert.matches("environment variable RUMOR_MAX_MEMBERS: field 'max_members': must be >= 2, got 1",
      err_of(path, { RUMOR_MAX_MEMBERS = "1" }))
  end)

  it("checks its arguments", function()
    assert.matches("argument 'path' must be a string", err_of(nil))
    assert.matches("argument 'env' must be a function or a table", err_of("x.json", "env"))
  end)
end)

describe("rumor.config", function()
  it("knows how to read every field from a variable", function()
    for _, name in ipairs(config.fields) do
      assert.is_string(config.kinds[name], "no kind for field " .. name)
    end
  end)

  -- The core checks its ranges again; the two must agree at both ends.
  it("has the core's ranges", function()
    local function core_takes(cfg)
      local ok, n = pcall(core.node, cfg)
      if ok then n:close() end
      return ok
    end
    local function lua_takes(cfg) return (pcall(config.check, cfg)) end
    for name, range in pairs(config.ranges) do
      local lo, hi = range[1], range[2]
      local function cfg(v)
        local c = { id = "r", [name] = v }
        if name ~= "heartbeat_expiration_ms" then c.heartbeat_expiration_ms = 0 end
        if name == "max_datagram_size" then c.mtu = 576 end   -- it must be >= mtu
        return c
      end
      assert.is_true(lua_takes(cfg(hi)), name .. " = " .. hi .. " refused by rumor.config")
      assert.is_true(core_takes(cfg(hi)), name .. " = " .. hi .. " refused by the core")
      assert.is_false(lua_takes(cfg(hi + 1)), name .. " = " .. (hi + 1) .. " taken by rumor.config")
      assert.is_false(core_takes(cfg(hi + 1)), name .. " = " .. (hi + 1) .. " taken by the core")
      assert.is_true(core_takes(cfg(lo)), name .. " = " .. lo .. " refused by the core")
      if lo > 0 then
        assert.is_false(lua_takes(cfg(lo - 1)), name .. " = " .. (lo - 1) .. " taken by rumor.config")
        if name ~= "max_value_size" then   -- 0 fits the core; rumor.config refuses it
          assert.is_false(core_takes(cfg(lo - 1)), name .. " = " .. (lo - 1) .. " taken by the core")
        end
      end
    end
    -- max_datagram_size is at least mtu, the core's default mtu when it is not given.
    for _, c in ipairs{ { id = "r", max_datagram_size = config.DEFAULT_MTU },
                        { id = "r", max_datagram_size = 9000, mtu = 9000 } } do
      assert.is_true(lua_takes(c) and core_takes(c))
    end
    for _, c in ipairs{ { id = "r", max_datagram_size = config.DEFAULT_MTU - 1 },
                        { id = "r", max_datagram_size = 8999, mtu = 9000 } } do
      assert.is_false(lua_takes(c) or core_takes(c))
    end
    assert.is_false(lua_takes{ id = "r", phi_threshold = 1000.5 })
    assert.is_false(core_takes{ id = "r", phi_threshold = 1000.5 })
    assert.is_true(lua_takes{ id = "r", phi_threshold = 1000 })
  end)

  it("checks field 'loop'", function()
    assert.equal("rumor", config.check{ id = "a", loop = "rumor" }.loop)
    assert.matches("field 'loop': expected \"rumor\" or \"luv\", got \"uv\"",
      select(2, pcall(config.check, { id = "a", loop = "uv" })))
    local has_luv = pcall(core.require_main, "luv")
    local ok, err = pcall(config.check, { id = "a", loop = "luv" })
    if has_luv then
      assert.is_true(ok, err)
    else
      assert.matches("field 'loop': \"luv\" needs the luv module", err)
    end
  end)
end)

-- Specs of rumor.config: defaults, and errors that name the field and point at the caller.
local config = require("rumor.config")

local function err_of(cfg)
  local ok, err = pcall(config.check, cfg)
  assert.is_false(ok, "expected the config to be refused")
  return err
end

describe("rumor.config", function()
  it("fills in the seed's defaults", function()
    local c = config.check{ id = "a" }
    assert.same({
      id = "a", cluster = "default", bind = "127.0.0.1:0",
      gossip_interval_ms = 500, gossip_request_timeout_ms = 2000, gossip_fan_out = 3,
      gossip_max_send = 50, heartbeat_expiration_ms = 10000,
    }, c)
  end)

  it("keeps given values and does not change the caller's table", function()
    local given = { id = "a", gossip_interval_ms = 40, seeds = { "127.0.0.1:7000" }, mtu = 1200 }
    local c = config.check(given)
    assert.equal(40, c.gossip_interval_ms)
    assert.equal(1200, c.mtu)
    assert.same({ "127.0.0.1:7000" }, c.seeds)
    assert.is_nil(given.cluster)
  end)

  it("accepts integral floats (as JSON gives them) and makes them integers", function()
    local c = config.check{ id = "a", gossip_fan_out = 4.0, generation = 7.0 }
    assert.equal("integer", math.type(c.gossip_fan_out))
    assert.equal(7, c.generation)
  end)

  it("accepts tombstone_grace_ms as an integer >= 1 (the core's default applies when absent)", function()
    assert.equal(1000, config.check{ id = "a", tombstone_grace_ms = 1000 }.tombstone_grace_ms)
    assert.is_nil(config.check{ id = "a" }.tombstone_grace_ms)
    assert.matches("field 'tombstone_grace_ms': must be >= 1, got 0", err_of{ id = "a", tombstone_grace_ms = 0 })
    assert.matches("field 'tombstone_grace_ms': expected an integer, got string",
      err_of{ id = "a", tombstone_grace_ms = "1h" })
  end)

  it("requires an id", function()
    assert.matches("rumor.new: field 'id': required", err_of{})
    assert.matches("field 'id': must not be empty", err_of{ id = "" })
    assert.matches("field 'id': longer than 128", err_of{ id = string.rep("x", 129) })
  end)

  it("refuses unknown fields by name", function()
    assert.matches("field 'gossip_intervall_ms': unknown field", err_of{ id = "a", gossip_intervall_ms = 5 })
  end)

  it("refuses wrong types, naming the field and what it got", function()
    assert.matches("field 'gossip_interval_ms': expected an integer, got string",
      err_of{ id = "a", gossip_interval_ms = "fast" })
    assert.matches("field 'gossip_fan_out': expected an integer, got 1.5",
      err_of{ id = "a", gossip_fan_out = 1.5 })
    assert.matches("field 'cluster': expected a string, got number", err_of{ id = "a", cluster = 5 })
    assert.matches("field 'id': expected a string, got boolean", err_of{ id = true })
  end)

  it("refuses values out of range", function()
    assert.matches("field 'gossip_interval_ms': must be >= 1, got 0", err_of{ id = "a", gossip_interval_ms = 0 })
    assert.matches("field 'mtu': must be >= 576, got %-3", err_of{ id = "a", mtu = -3 })
    assert.matches("field 'generation': must be >= 0", err_of{ id = "a", generation = -1 })
    assert.matches("field 'heartbeat_expiration_ms': must be <= 4294967295",
      err_of{ id = "a", heartbeat_expiration_ms = 1 << 40 })
    assert.matches("field 'heartbeat_expiration_ms': must be >= 0",
      err_of{ id = "a", heartbeat_expiration_ms = -1 })
    assert.matches("field 'blocked_retention_ms': must be >= 1",
      err_of{ id = "a", blocked_retention_ms = 0 })
    assert.matches("field 'failure_detector'", err_of{ id = "a", failure_detector = "gossip" })
  end)

  it("takes heartbeat_expiration_ms = 0: the expiration detector off", function()
    local rumor = require("rumor")
    local n = rumor.new{ id = "a", heartbeat_expiration_ms = 0 }
    n:close()
  end)

  it("checks broadcast, broadcast_branching and rate_limit, naming the field", function()
    local c = config.check{ id = "a", broadcast = "tree", broadcast_branching = 3.0,
                            rate_limit = { tokens = 45, interval_ms = 10000 } }
    assert.equal("tree", c.broadcast)
    assert.equal("integer", math.type(c.broadcast_branching))
    assert.same({ tokens = 45, interval_ms = 10000 }, c.rate_limit)
    assert.same({ tokens = 0 }, config.check{ id = "a", rate_limit = { tokens = 0 } }.rate_limit)
    assert.is_nil(config.check{ id = "a" }.broadcast)   -- the core's defaults apply
    assert.matches("field 'broadcast': expected \"epidemic\" or \"tree\", got \"flood\"",
      err_of{ id = "a", broadcast = "flood" })
    assert.matches("field 'broadcast': expected \"epidemic\" or \"tree\", got boolean",
      err_of{ id = "a", broadcast = true })
    assert.matches("field 'broadcast_branching': must be >= 1, got 0", err_of{ id = "a", broadcast_branching = 0 })
    assert.matches("field 'broadcast_branching': must be <= 16, got 17", err_of{ id = "a", broadcast_branching = 17 })
    assert.matches("field 'broadcast_branching': expected an integer, got 2.5",
      err_of{ id = "a", broadcast_branching = 2.5 })
    assert.matches("field 'rate_limit': expected a table", err_of{ id = "a", rate_limit = 45 })
    assert.matches("field 'rate_limit.tokens': required", err_of{ id = "a", rate_limit = { interval_ms = 5 } })
    assert.matches("field 'rate_limit.tokens': must be >= 0, got %-1", err_of{ id = "a", rate_limit = { tokens = -1 } })
    assert.matches("field 'rate_limit.tokens': must be <= 4294967295",
      err_of{ id = "a", rate_limit = { tokens = 1 << 32 } })
    assert.matches("field 'rate_limit.tokens': expected an integer, got string",
      err_of{ id = "a", rate_limit = { tokens = "45" } })
    assert.matches("field 'rate_limit.interval_ms': must be >= 1, got 0",
      err_of{ id = "a", rate_limit = { tokens = 1, interval_ms = 0 } })
    assert.matches("field 'rate_limit.interval_ms': must be <= 3600000",
      err_of{ id = "a", rate_limit = { tokens = 1, interval_ms = 3600001 } })
    assert.matches("field 'rate_limit.period': unknown field", err_of{ id = "a", rate_limit = { tokens = 1, period = 5 } })
  end)

  it("hands broadcast and rate_limit to the core, which checks them again", function()
    local core = require("rumor.core")
    local n = core.node{ id = "a", broadcast = "tree", broadcast_branching = 4,
                         rate_limit = { tokens = 45 } }
    n:close()
    local ok, err = pcall(core.node, { id = "a", rate_limit = { tokens = 1, interval_ms = 0 } })
    assert.is_false(ok)
    assert.matches("field 'rate_limit.interval_ms': must be between 1 and 3600000", err)
    ok, err = pcall(core.node, { id = "a", broadcast_branching = 17 })
    assert.is_false(ok)
    assert.matches("field 'broadcast_branching': must be between 1 and 16", err)
    ok, err = pcall(core.node, { id = "a", broadcast = "gossip" })
    assert.is_false(ok)
    assert.matches("field 'broadcast': expected \"epidemic\" or \"tree\"", err)
  end)

  it("checks seeds and bind as host:port", function()
    assert.matches("field 'seeds': expected an array", err_of{ id = "a", seeds = "127.0.0.1:1" })
    assert.matches("field 'seeds': expected an array, found key x", err_of{ id = "a", seeds = { x = "1.2.3.4:5" } })
    assert.matches("field 'seeds%[2%]': expected \"host:port\"",
      err_of{ id = "a", seeds = { "127.0.0.1:7000", "127.0.0.1" } })
    assert.matches("field 'seeds%[1%]': port 0", err_of{ id = "a", seeds = { "127.0.0.1:0" } })
    assert.matches("field 'bind': port out of range", err_of{ id = "a", bind = "127.0.0.1:70000" })
    assert.same({ "[::1]:7000" }, config.check{ id = "a", seeds = { "[::1]:7000" } }.seeds)
  end)

  it("checks the limits, naming the field and its range at both ends", function()
    local c = config.check{ id = "a", max_members = 100, max_keys_per_member = 10,
                            max_datagram_size = 9000, mtu = 9000, max_tcp_connections = 8,
                            max_stream_bytes = 1 << 20, recv_budget = 0 }
    assert.same({ 100, 10, 9000, 8, 1 << 20, 0 }, { c.max_members, c.max_keys_per_member,
      c.max_datagram_size, c.max_tcp_connections, c.max_stream_bytes, c.recv_budget })
    assert.is_nil(config.check{ id = "a" }.max_members)   -- the core's defaults apply
    local ends = {
      max_members = { 2, 16777216 }, max_keys_per_member = { 1, 100000000 },
      max_datagram_size = { 576, 65507 }, max_tcp_connections = { 1, 4096 },
      max_stream_bytes = { 65536, 4294967295 }, recv_budget = { 0, 1000000 },
    }
    for name, range in pairs(ends) do
      local lo, hi = range[1], range[2]
      local function cfg(v) return { id = "a", [name] = v, mtu = 576 } end
      assert.equal(lo, config.check(cfg(lo))[name])
      assert.equal(hi, config.check(cfg(hi))[name])
      assert.matches("field '" .. name .. "': must be >= " .. lo .. ", got " .. (lo - 1),
        err_of(cfg(lo - 1)), 1, true)
      assert.matches("field '" .. name .. "': must be <= " .. hi .. ", got " .. (hi + 1),
        err_of(cfg(hi + 1)), 1, true)
      assert.matches("field '" .. name .. "': expected an integer, got string", err_of(cfg("many")))
    end
    assert.matches("field 'max_datagram_size': must be at least mtu, 1400 %(got 1000%)",
      err_of{ id = "a", max_datagram_size = 1000 })
    assert.matches("field 'max_datagram_size': must be at least mtu, 9000 %(got 8000%)",
      err_of{ id = "a", max_datagram_size = 8000, mtu = 9000 })
  end)

  it("hands the limits to the core, which names the field and the range", function()
    local core = require("rumor.core")
    local n = core.node{ id = "a", max_members = 2, max_keys_per_member = 1, recv_budget = 0,
                         max_tcp_connections = 1, max_stream_bytes = 65536 }
    n:close()
    for name, bad in pairs{ max_members = { 1, "between 2 and 16777216" },
                            max_keys_per_member = { 0, "between 1 and 100000000" },
                            max_datagram_size = { 70000, "between 576 and 65507" },
                            max_tcp_connections = { 5000, "between 1 and 4096" },
                            max_stream_bytes = { 100, "between 65536 and 4294967295" },
                            recv_budget = { 1000001, "between 0 and 1000000" } } do
      local ok, err = pcall(core.node, { id = "a", [name] = bad[1] })
      assert.is_false(ok)
      assert.matches("field '" .. name .. "': must be " .. bad[2], err, 1, true)
    end
    local ok, err = pcall(core.node, { id = "a", max_datagram_size = 1000 })
    assert.is_false(ok)
    assert.matches("field 'max_datagram_size': must be at least mtu, 1400 (got 1000)", err, 1, true)
  end)

  it("raises at the caller's line", function()
    local ok, err = pcall(function() config.check({ id = "a", nope = 1 }) end)
    assert.is_false(ok)
    assert.matches("config_spec%.lua:%d+: rumor%.new: field 'nope'", err)
    for name, bad in pairs{ generation = -1, bind = "x", mtu = 0, blocked_retention_ms = 0,
                            phi_threshold = 0, failure_detector = "swim", auto_rejoin = "yes",
                            broadcast = "flood", broadcast_branching = 99, rate_limit = 45,
                            max_members = 1, max_keys_per_member = 0, max_datagram_size = 100,
                            max_tcp_connections = 0, max_stream_bytes = 1, recv_budget = -1 } do
      ok, err = pcall(function() config.check({ id = "a", [name] = bad }) end)
      assert.is_false(ok)
      assert.matches("config_spec%.lua:%d+: rumor%.new: field '" .. name .. "'", err)
    end
  end)
end)

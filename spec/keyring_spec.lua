-- Encryption on a live cluster of `rumor agent` processes: a sealed cluster forms and
-- syncs; a node with another key, or none, learns nothing from it (and it nothing from them);
-- keys rotate through the agents' commands while writes go on, and nobody is blocked.
-- Plus the config errors, in process. Nothing asserts a speed: every wait polls for an
-- outcome under a deadline, and the cluster is closed on the way out.
local testing = require("rumor.testing")
local rumor = require("rumor")

local DEADLINE_MS = 30000
local function config(secret)
  return { gossip_interval_ms = 100, heartbeat_expiration_ms = 1000, keyring = secret }
end

local function holds(n, key, id, v)
  local all = n:get(key)
  if all == nil then return false, n.id .. " answered no values" end
  local got = all[id]
  if got == v then return true end
  return false, ("%s=%s from %s, not %s"):format(key, tostring(got), id, tostring(v))
end

describe("encryption", function()
  it("keeps a cluster to its key, and rotates keys live without dropping anyone", function()
    local old, new = rumor.keygen(), rumor.keygen()
    local c <close> = testing.cluster{ nodes = 3, config = config({ old }), deadline_ms = DEADLINE_MS }
    for _, n in ipairs(c.nodes) do n:set("k", "before " .. n.id) end
    c:on_every(function(n)
      for _, m in ipairs(c.nodes) do
        local ok, why = holds(n, "k", m.id, "before " .. m.id)
        if not ok then return false, why end
      end
      return true
    end, "every write under the old key")

    -- Strangers: in-process nodes with another key, and with none, join through n1.
    local seeds = { c.nodes[1].address }
    local stranger = rumor.new{ id = "stranger", cluster = c.defaults.cluster,
                                secret = new, seeds = seeds, gossip_interval_ms = 100 }:start()
    local plain = rumor.new{ id = "plain", cluster = c.defaults.cluster,
                             seeds = seeds, gossip_interval_ms = 100 }:start()
    c:eventually(function()
      local d = c.nodes[1]:metrics().drops
      return d.key > 0 and d.plaintext > 0, ("drops key %d plaintext %d"):format(d.key, d.plaintext)
    end, "n1 refusing the strangers")
    rumor.sleep(500)
    assert.equal(1, #stranger:members())          -- it learned of nobody
    assert.equal(1, #plain:members())
    assert.same({}, stranger:get_state("k"))
    for _, n in ipairs(c.nodes) do
      assert.is_nil(n:member("stranger"))          -- and nobody learned of it
      assert.is_nil(n:member("plain"))
    end
    stranger:close(); plain:close()

    -- Rotation: install everywhere, use everywhere, remove everywhere; a write after
    -- each step on every node.
    local steps = {
      { cmd = "install_key", key = new }, { cmd = "use_key", key = new },
      { cmd = "remove_key", key = old },
    }
    for s, step in ipairs(steps) do
      for _, n in ipairs(c.nodes) do
        n:call(step)
        n:set("k", "step " .. s .. " " .. n.id)
      end
      c:on_every(function(n)
        for _, m in ipairs(c.nodes) do
          local ok, why = holds(n, "k", m.id, "step " .. s .. " " .. m.id)
          if not ok then return false, why end
        end
        return true
      end, "every write after " .. step.cmd)
    end
    for _, n in ipairs(c.nodes) do
      local ring = n:call{ cmd = "keyring" }.keyring
      assert.equal(1, #ring)
      assert.is_true(ring[1].primary)
      local mt = n:metrics()
      assert.equal(0, mt.members_blocked) -- nobody was dropped on the way
      for _, m in ipairs(c.nodes) do
        assert.equal("alive", n:member(m.id).status)
      end
    end
    -- A bad rotation command is refused with a reason, and changes nothing.
    local ok, err = pcall(c.nodes[1].call, c.nodes[1], { cmd = "use_key", key = old })
    assert.is_false(ok)
    assert.matches("not installed", tostring(err), 1, true)
    assert(c:close())
  end)
end)

describe("encryption config", function()
  it("names the field and never echoes a key", function()
    local key = rumor.keygen()
    local cases = {
      { { secret = "hunter2" }, "field 'secret': must be 32 bytes as base64 (44 characters) or hex (64 digits), got 7" },
      { { keyring = { key, "x" .. key } }, "field 'keyring[2]': must be 32 bytes" },
      { { keyring = {} }, "field 'keyring': is empty" },
      { { secret = key, keyring = { key } }, "give secret or keyring, not both" },
      { { replay_window_ms = 86400001 }, "field 'replay_window_ms': must be <= 86400000" },
      { { secret = 42 }, "field 'secret': expected a key (a string), got number" },
    }
    for _, case in ipairs(cases) do
      local cfg = case[1]
      cfg.id = "x"
      local ok, err = pcall(rumor.new, cfg)
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
      assert.is_nil(err:find("hunter2", 1, true))
      assert.is_nil(err:find(key, 1, true))
    end
    local many = {}
    for i = 1, 17 do many[i] = rumor.keygen() end
    local ok, err = pcall(rumor.new, { id = "x", keyring = many })
    assert.is_false(ok)
    assert.matches("holds at most 16 keys, got 17", err, 1, true)
    -- A key the pattern takes but the decoder does not (padding bits set): the core's
    -- refusal still names the field the user wrote.
    -- ('B' sets one of the two bits the 43rd character of 32 bytes must leave zero)
    local ok2, err2 = pcall(rumor.new, { id = "x", secret = key:sub(1, 42) .. "B=" })
    assert.is_false(ok2)
    assert.matches("field 'secret': must be 32 bytes", err2, 1, true)
    -- hex works as well as base64
    local hex = string.rep("ab", 32)
    local n = rumor.new{ id = "x", secret = hex }
    assert.equal(1, #n:keyring())
    n:close()
  end)
end)

describe("the agent's keyring command", function()
  -- A list, like blocked's: [] for a node without a keyring, never {} (an object).
  it("answers a JSON array, also for a node without a keyring", function()
    local process = require("rumor.process")
    local function tmp(text)
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(text)
      f:close()
      return path
    end
    local plain = tmp('{"id":"plain"}')
    local keyed = tmp('{"id":"keyed","secret":"' .. rumor.keygen() .. '"}')
    local cmds = tmp('{"cmd":"keyring","id":1}\n{"cmd":"stop","id":2}\n')
    local out, err, code = process.command("agent --config '" .. plain .. "' <'" .. cmds .. "'")
    local out2, err2, code2 = process.command("agent --config '" .. keyed .. "' <'" .. cmds .. "'")
    os.remove(plain); os.remove(keyed); os.remove(cmds)
    assert.equal(0, code, err)
    assert.equal(0, code2, err2)
    assert.matches('{"reply":"keyring","id":1,"ok":true,"keyring":[]}', out, 1, true)
    assert.matches('"keyring":%[{"', out2)
  end)
end)

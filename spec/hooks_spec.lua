-- Specs of the hooks a node answers through, on nodes in one process over loopback UDP:
-- inbound validators (node:validate), explanations of blocks (node:why), the log
-- (node:on_log, node:log, log_level), errors in callbacks reaching the log with their
-- traceback, and the metrics (by kind, by status, by drop reason; rumor.prometheus).
-- Waits use a deadline, never a fixed delay.
local rumor = require("rumor")
local process = require("rumor.process")
local local_cluster = require("spec.support.local_cluster")

local DEADLINE_MS = 10000

describe("hooks", function()
  -- quiet_log: nothing printed; the specs of the log set their own hook
  local cluster = local_cluster.new{ cluster = "spec-hooks", gossip_interval_ms = 50, quiet_log = true,
                                     deadline_ms = DEADLINE_MS }
  local nodes = cluster.nodes
  after_each(function() cluster:close() end)

  describe("node:validate", function()
    it("keeps a refused entry out, keeps the old value, counts and logs the reason", function()
      local a, b, c = cluster:trio()
      local lines = {}
      a:on_log(function(r) lines[#lines + 1] = r end)
      local seen = {}
      a:validate("cfg/", function(member, key, value, map_key, seq)
        seen[#seen + 1] = { member = member, key = key, value = value, map_key = map_key, seq = seq }
        if value and value:find("^bad") then return false, "no bad values here" end
        return true
      end)
      b:set_state("cfg/mode", "good")
      cluster:until_("a took b's good value", function() return a:get_state("cfg/mode").b == "good" end)
      b:set_state("cfg/mode", "bad value")
      b:set_state("plain", "after")          -- not under the prefix: never shown
      cluster:until_("a took the write that followed",
        function() return a:get_state("plain").b == "after" end)
      cluster:until_("c took b's bad value", function() return c:get_state("cfg/mode").b == "bad value" end)
      assert.equal("good", a:get_state("cfg/mode").b)
      assert.is_true(a:metrics().entries_rejected >= 1)
      assert.equal(a:metrics().entries_rejected, a:metrics().drops.rejected)
      local found
      for _, r in ipairs(lines) do
        if r.level == "warn" and r.message:find("rejected b's cfg/mode", 1, true)
          and r.message:find("no bad values here", 1, true) then found = r end
      end
      assert.truthy(found, "no warn line for the rejection")
      assert.equal("a", found.node)
      for _, s in ipairs(seen) do
        assert.equal("b", s.member)
        assert.matches("^cfg/", s.key)
        assert.equal("integer", math.type(s.seq))
      end
    end)

    it("shows deletes and map entries, and a cancelled validator stops judging", function()
      local a, b = cluster:trio()
      local seen = {}
      local v = a:validate("", function(_, key, value, map_key)
        if key == "m" or key == "d" then seen[#seen + 1] = { key, value == nil, map_key } end
        return true
      end)
      b:set_map_state("m", "x", "1")
      b:set_state("d", "v")
      cluster:until_("a has d", function() return a:get_state("d").b == "v" end)
      b:delete_state("d")
      cluster:until_("a saw the delete", function() return a:get_state("d").b == nil and #seen >= 3 end)
      assert.same({ "m", false, "x" }, seen[1])
      assert.same({ "d", false }, seen[2])
      assert.same({ "d", true }, seen[3])           -- a delete: value nil
      v:cancel()
      v:cancel()                                     -- idempotent
      local refuse = a:validate("z", function() return false end)
      refuse:cancel()
      b:set_state("z", "through")
      cluster:until_("a took z once the refusing validator was cancelled",
        function() return a:get_state("z").b == "through" end)
    end)

    it("refuses what a failing validator could not judge, and reports the error", function()
      local a, b = cluster:trio()
      local errors = {}
      a:on_log(function(r) if r.level == "error" then errors[#errors + 1] = r end end)
      a:validate("k", function() error("validator broke") end)
      b:set_state("k", "v")
      cluster:until_("the validator error was reported", function() return #errors > 0 end)
      assert.matches("validator broke", errors[1].message)
      assert.matches("stack traceback", errors[1].message)
      assert.equal("validator of node 'a'", errors[1].where)
      assert.is_nil(a:get_state("k").b)
      assert.is_true(a:metrics().callback_errors >= 1)
      assert.is_true(a:metrics().entries_rejected >= 1)
    end)

    it("reports an error raised after the validator closed its node to the process handler", function()
      local a, b = cluster:trio()
      local reported = {}
      rumor.set_error_handler(function(message, where) reported[#reported + 1] = { message, where } end)
      a:validate("k", function()
        if not a._closed then a:close() end
        error("validator broke after close")
      end)
      b:set_state("k", "v")
      local ok = process.eventually(function() return #reported > 0 end, DEADLINE_MS)
      rumor.set_error_handler(nil)
      assert.truthy(ok, "the error never reached the handler")
      assert.matches("validator broke after close", reported[1][1])
      assert.equal("validator of node 'a'", reported[1][2])
    end)

    it("cannot change the node from inside a validator", function()
      local a, b = cluster:trio()
      local result
      local stopped, ran
      a:validate("k", function()
        result = { pcall(a.set_state, a, "x", "1") }
        stopped = { pcall(a.stop, a) }
        ran = { pcall(rumor.run) }
        return true
      end)
      b:set_state("k", "v")
      cluster:until_("the validator ran", function() return result ~= nil end)
      assert.is_false(result[1])
      assert.matches("ESTATE", result[2])
      assert.is_false(stopped[1])
      assert.matches("rumor: stop: ESTATE: a node cannot stop inside its validator", stopped[2], 1, true)
      assert.is_false(ran[1])
      assert.matches("rumor.run: cannot run the loop inside a callback", ran[2], 1, true)
      cluster:until_("a took k", function() return a:get_state("k").b == "v" end)
      b:set_state("k2", "v2")         -- a still runs: the stop was refused
      cluster:until_("a took k2", function() return a:get_state("k2").b == "v2" end)
    end)

    it("names bad arguments", function()
      local a = cluster:start("solo", {})
      assert.has_error(function() a:validate(1, function() end) end,
        "rumor: validate: argument 'prefix' must be a string, got number")
      assert.has_error(function() a:validate("p") end,
        "rumor: validate: argument 'fn' must be a function, got nil")
    end)
  end)

  describe("node:why", function()
    it("explains policy, topology and expired blocks, and who judged", function()
      local a, b, c = cluster:trio({ heartbeat_expiration_ms = 500 })
      a:set_block_policy(function(id) if id == "b" then return "draining for maintenance" end end)
      cluster:until_("a blocked b", function() return a:why("b").status == "blocked" end)
      local w = a:why("b")
      assert.equal("policy", w.reason)
      assert.equal("draining for maintenance", w.detail)
      assert.is_nil(w.blocked_by)
      assert.matches("^blocked as policy: draining for maintenance", w.text)
      a:set_block_policy(nil)

      -- true and a string after it say why too
      c:set_block_policy(function(id) if id == "a" then return true, "too old" end end)
      cluster:until_("c blocked a", function() return c:why("a").status == "blocked" end)
      assert.equal("too old", c:why("a").detail)
      c:set_block_policy(nil)

      assert.equal("alive", a:why("a").status)
      assert.equal("alive", a:why("a").text)
      local none, err = a:why("nobody")
      assert.is_nil(none)
      assert.equal("unknown member 'nobody'", err)
      assert.has_error(function() a:why(5) end, "rumor: why: argument 'member_id' must be a string, got number")
    end)

    it("explains an expiry with the silence, and a verdict taken over with its judge", function()
      cluster:join({ "n1", "n2", "n3", "n4" }, { heartbeat_expiration_ms = 500 })
      nodes[3]:stop()                  -- n3 falls silent
      cluster:until_("every other node blocked n3", function()
        for _, i in ipairs{ 1, 2, 4 } do
          if nodes[i]:why("n3").status ~= "blocked" then return false end
        end
        return true
      end)
      local judges, adopters = 0, 0
      for _, i in ipairs{ 1, 2, 4 } do
        local w = nodes[i]:why("n3")
        assert.equal("expired", w.reason)
        assert.is_true(w.silence_ms >= 500)
        if w.blocked_by then
          adopters = adopters + 1
          assert.matches("at its neighbour", w.detail)
          assert.matches("on the verdict of " .. w.blocked_by, w.text, 1, true)
        else
          judges = judges + 1
          assert.matches("^no heartbeat for %d+ ms", w.detail)
        end
      end
      assert.is_true(judges >= 1)
      assert.equal(3, judges + adopters)
    end)
  end)

  describe("the log", function()
    it("delivers core lines at the chosen level, and node:log lines", function()
      local lines = {}
      local a = cluster:start("a", {}, { log_level = "info" })
      a:on_log(function(r) lines[#lines + 1] = r end)
      local b = cluster:start("b", { a:address() })
      cluster:until_("a logged b's join", function()
        for _, r in ipairs(lines) do
          if r.level == "info" and r.message:find("^b joined") then return true end
        end
      end)
      a:log("warn", "a line of my own")
      assert.same({ level = "warn", message = "a line of my own", node = "a" }, lines[#lines])
      a:on_log(function(r) lines[#lines + 1] = r end, { level = "error" })
      local count = #lines
      a:log("warn", "below the level")
      b:set_state("k", "v")
      assert.equal(count, #lines)
      assert.has_error(function() a:log("loud", "x") end,
        "rumor: log: level must be one of \"debug\", \"info\", \"warn\", \"error\", got \"loud\"")
      assert.has_error(function() rumor.new{ id = "x", log_level = "verbose" } end)
    end)

    it("reports errors of every kind of callback with their traceback, and counts them", function()
      local a, b = cluster:trio()
      local errors = {}
      a:on_log(function(r) if r.level == "error" then errors[#errors + 1] = r end end)
      a:on_update(function() error("update hook broke") end)
      a:set_block_policy(function() error("policy broke") end)
      a:set_heartbeat_stats(function() error("stats broke") end)
      b:set_state("k", "v")
      local wheres = {}
      cluster:until_("errors of the three callbacks were reported", function()
        for _, r in ipairs(errors) do wheres[r.where] = r.message end
        return wheres["on_update of node 'a'"] and wheres["set_block_policy of node 'a'"]
          and wheres["set_heartbeat_stats of node 'a'"]
      end)
      assert.matches("update hook broke", wheres["on_update of node 'a'"])
      assert.matches("stack traceback", wheres["on_update of node 'a'"])
      assert.matches("policy broke", wheres["set_block_policy of node 'a'"])
      assert.is_true(a:metrics().callback_errors >= 3)
      -- the engine went on: the write arrived, nobody was blocked
      assert.equal("v", a:get_state("k").b)
      assert.same({}, a:get_blocked_members())
    end)

    it("reports an error in the log hook itself to the process-wide handler", function()
      local reported = {}
      rumor.set_error_handler(function(message, where) reported[#reported + 1] = { message, where } end)
      local a = cluster:start("a", {})
      a:on_log(function() error("log hook broke") end)
      a:log("error", "anything")
      rumor.set_error_handler(nil)
      assert.equal(1, #reported)
      assert.matches("log hook broke", reported[1][1])
      assert.equal("on_log of node 'a'", reported[1][2])
    end)
  end)

  describe("metrics", function()
    it("count datagrams by kind, members by status and drops by reason", function()
      local a, b, c = cluster:trio()
      b:set_state("k", "v")
      cluster:until_("a has the write", function() return a:get_state("k").b == "v" end)
      local m = a:metrics()
      local sent, received = 0, 0
      for _, kind in ipairs{ "syn", "synack", "ack", "push", "reject" } do
        assert.is_table(m.by_kind[kind])
        sent = sent + m.by_kind[kind].datagrams_sent
        received = received + m.by_kind[kind].datagrams_received
      end
      assert.equal(m.datagrams_sent, sent)
      assert.is_true(received > 0 and received <= m.datagrams_received)
      assert.is_true(m.by_kind.push.datagrams_received > 0)
      assert.same({ alive = 3, blocked = 0, left = 0, removed = 0 }, m.members)
      for _, reason in ipairs{ "malformed", "version", "cluster", "self", "blocked", "gap",
                               "stale", "too_big", "rejected" } do
        assert.equal("integer", math.type(m.drops[reason]), reason)
      end
      c:leave{ timeout_ms = 2000 }
      cluster:until_("a sees c left", function() return a:metrics().members.left == 1 end)
      assert.equal(2, a:metrics().members.alive)
    end)

    it("renders the Prometheus text format for one node or several", function()
      local a, b = cluster:trio()
      local text = rumor.prometheus(a)
      assert.matches("\n$", text)
      local types = {}
      for line in text:gmatch("[^\n]+") do
        if line:sub(1, 1) == "#" then
          local name, kind = line:match("^# TYPE (%S+) (%S+)$")
          if name then types[name] = kind else assert.matches("^# HELP %S+ .+", line) end
        else
          assert.matches('^rumor_[%w_]+{node="a"[^}]*} %d+$', line)
        end
      end
      assert.equal("counter", types.rumor_datagrams_sent_total)
      assert.equal("counter", types.rumor_kind_datagrams_total)
      assert.equal("gauge", types.rumor_members)
      assert.matches('rumor_members{node="a",status="alive"} 3', text, 1, true)
      assert.matches('rumor_kind_bytes_total{node="a",kind="syn",direction="sent"} %d+', text)
      local both = rumor.prometheus{ a, b }
      assert.matches('rumor_rounds_total{node="b"}', both, 1, true)
      local _, count = both:gsub("# TYPE rumor_rounds_total", "")
      assert.equal(1, count)           -- one family, a sample per node
      assert.has_error(function() rumor.prometheus("a") end,
        "rumor.prometheus: argument 'nodes' must be a node or an array of nodes, got string")
    end)
  end)
end)

-- spec/support/hostile.lua: the attack kinds of the hostile sender
-- (spec/support/hostile_sender.lua) and, for the spec, which drop counter each one
-- must move. One table, so that a new kind (or a new counter for an old one) is one
-- entry here.
--
-- A kind is { name =, weight =, drop =, at =, make = function(ctx, target) -> bytes }:
--   weight  how many slots it gets in the sender's rotation
--   drop    the key of metrics().drops that counts it at a node it reaches, or nil
--           when the core accepts it (its effect is then checked another way)
--   at      where the counter moves: "victim" (that node only), "others" (every node
--           but the victim), or every target (nil)
--   make    one datagram for target (a { host, port, address } table); ctx holds:
--             cluster      the cluster's name
--             me           the sender's own address "127.0.0.1:PORT"
--             victim       { id, generation, max_seq, address, key } of the real member
--                          that forged datagrams claim to be
--             oversize     bytes of an oversized datagram (the nodes' max_datagram_size + 1)
--             forge        the forgeries to make: "seq", "generation", "future"
--             phantom      an id no real member has (replays are its datagrams)
--             captured     datagrams the sender received from the cluster, newest last
--             random       function(m, n) (math.random, seeded)
local wire = require("spec.support.wire")

local M = {}

-- Random bytes.
local function noise(ctx, n)
  local t = {}
  for i = 1, n do t[i] = string.char(ctx.random(0, 255)) end
  return table.concat(t)
end

-- The valid messages that near-valid kinds start from: every kind of message, from
-- the phantom, so a valid one that got through would be the phantom's news.
local function valid_messages(ctx)
  if ctx.valid then return ctx.valid end
  local h = { cluster = ctx.cluster, sender = ctx.phantom, generation = 7, addr = ctx.me }
  local function with(t)
    local m = {}
    for k, v in pairs(h) do m[k] = v end
    for k, v in pairs(t) do m[k] = v end
    return m
  end
  local block = { id = ctx.phantom, addr = ctx.me, generation = 7, from_seq = 0, complete = true,
                  entries = { { key = "hostile", seq = 1, value = "phantom" },
                              { key = "hostile-map", map_key = "a", seq = 2, value = "x" },
                              { key = "gone", seq = 3, deleted = true } } }
  ctx.valid = {
    wire.syn(with{ digest = { complete = true, members = {
      { id = ctx.phantom, addr = ctx.me, generation = 7, max_seq = 3 } } } }),
    wire.syn(with{ summary = { count = 2, hash = 0x0123456789abcdef } }),
    wire.synack(with{ digest = { members = {} }, delta = { block } }),
    wire.ack(with{ delta = { block } }),
    wire.push(with{ hops = 3, tree = 0, delta = { block } }),
    wire.reject(with{ reject_gen = 7, reason = wire.BLOCK_EXPIRED }),
  }
  return ctx.valid
end

local function pick(ctx, list) return list[ctx.random(1, #list)] end

M.kinds = {
  -- Random bytes; half of them behind a valid magic, version and kind, so the decoder
  -- gets past the first checks.
  { name = "garbage", weight = 3, drop = "malformed", make = function(ctx)
      local n = ctx.random(1, math.min(1400, ctx.oversize - 5))   -- under the size limit
      if ctx.random(1, 2) == 1 then return noise(ctx, n) end
      return "RM" .. string.char(wire.VERSION, ctx.random(1, 5)) .. noise(ctx, n)
    end },
  -- A valid message cut at a random point (every strict prefix is malformed: the
  -- decoder wants every declared count and nothing after).
  { name = "truncated", weight = 3, drop = "malformed", make = function(ctx)
      local d = pick(ctx, valid_messages(ctx))
      return d:sub(1, ctx.random(1, #d - 1))
    end },
  -- A valid message with another version byte.
  { name = "version", weight = 2, drop = "version", make = function(ctx)
      local d = pick(ctx, valid_messages(ctx))
      local v = ctx.random(2, 255)
      return d:sub(1, 2) .. string.char(v) .. d:sub(4)
    end },
  -- A valid message of another cluster.
  { name = "cluster", weight = 2, drop = "cluster", make = function(ctx)
      return wire.push{ cluster = ctx.cluster .. "-not", sender = ctx.phantom, generation = 7,
                        addr = ctx.me, delta = { { id = ctx.phantom, addr = ctx.me, generation = 7,
                        complete = true, entries = { { key = "hostile", seq = 1, value = "other" } } } } }
    end },
  -- A valid PUSH of ctx.oversize bytes (one entry of the phantom "-big" member, always
  -- the same): dropped undecoded when that is over the node's max_datagram_size.
  { name = "oversized", weight = 1, drop = "oversize", make = function(ctx)
      if ctx.big then return ctx.big end
      local id = ctx.phantom .. "-big"
      local function build(n)
        return wire.push{ cluster = ctx.cluster, sender = id, generation = 7, addr = ctx.me,
                          delta = { { id = id, addr = ctx.me, generation = 7, complete = true,
                                      entries = { { key = "big", seq = 1, value = ("b"):rep(n) } } } } }
      end
      local d = build(0)
      -- the value's length varint grows with it: settle on the exact size
      local n = ctx.oversize - #d
      while #build(n) > ctx.oversize do n = n - 1 end
      while #build(n) < ctx.oversize do n = n + 1 end
      ctx.big = build(n)
      return ctx.big
    end },
  -- Datagrams that claim to be the victim (a real member), with the victim's own
  -- address in them: entries of its key with a seq far above its own, and a newer
  -- generation of its state. The victim counts any datagram under its own id as
  -- drops.self; the others refuse them as naming an address they did not come from
  -- (drops.spoofed). Relayed under another id they would be taken, and the victim
  -- rejoins above the claim (core/test/test_seal.c, forged_claims_are_outgrown).
  { name = "forged", weight = 2, drop = "self", at = "victim", make = function(ctx)
      local v = ctx.victim
      local h = { cluster = ctx.cluster, sender = v.id, generation = v.generation, addr = v.address }
      local how = ctx.forge[ctx.random(1, #ctx.forge)]
      if how == "seq" then
        local seq = v.max_seq + 1000
        h.delta = { { id = v.id, addr = v.address, generation = v.generation, from_seq = 0,
                      max_seq = seq, entries = { { key = v.key, seq = seq, value = "forged" } } } }
      else
        -- "generation": the next one; "future": one a day of microseconds ahead
        local gen = v.generation + (how == "future" and 86400 * 1000000 or 1)
        h.delta = { { id = v.id, addr = v.address, generation = gen, from_seq = 0,
                      complete = true, entries = { { key = v.key, seq = 1, value = "forged-" .. how } } } }
      end
      return wire.push(h)
    end },
  -- The victim's id and generation from our own address: a live member does not move,
  -- so the others refuse it (drops.spoofed; the victim counts its own id as drops.self).
  { name = "spoofed", weight = 1, drop = "spoofed", at = "others", make = function(ctx)
      local v = ctx.victim
      return wire.syn{ cluster = ctx.cluster, sender = v.id, generation = v.generation, addr = ctx.me,
                       digest = { members = {} } }
    end },
  -- A SYN from a member id never seen before, each time: past max_members the node
  -- refuses new ids (drops.member_limit) instead of growing.
  { name = "fresh", weight = 1, drop = "member_limit", make = function(ctx)
      ctx.fresh = (ctx.fresh or 0) + 1
      return wire.syn{ cluster = ctx.cluster, sender = ("%s-fresh-%d"):format(ctx.phantom, ctx.fresh),
                       generation = 7, addr = ctx.me, digest = { members = {} } }
    end },
  -- A new key of the phantom "-keys" member each time (a higher seq, from seq 0, so
  -- every node takes it in whatever order it comes): past max_keys_per_member the
  -- node refuses new keys of a member (drops.key_limit) instead of growing.
  { name = "keys", weight = 1, drop = "key_limit", make = function(ctx)
      ctx.keys = (ctx.keys or 0) + 1
      local id = ctx.phantom .. "-keys"
      return wire.push{ cluster = ctx.cluster, sender = id, generation = 7, addr = ctx.me,
                        delta = { { id = id, addr = ctx.me, generation = 7, from_seq = 0, max_seq = ctx.keys,
                                    entries = { { key = "key-" .. ctx.keys, seq = ctx.keys, value = "x" } } } } }
    end },
  -- One valid datagram over and over (the phantom's PUSH), and datagrams the cluster
  -- sent us (its members gossip to the phantom at our address), sent back to any node.
  -- Replays of old news change nothing; a node's own datagram back at it is drops.self.
  { name = "replay", weight = 3, drop = nil, make = function(ctx)
      if #ctx.captured > 0 and ctx.random(1, 2) == 1 then return pick(ctx, ctx.captured) end
      return valid_messages(ctx)[5]
    end },
}

-- Sealed kinds, for a keyed cluster. The sender is given --secret (the cluster's key)
-- and sets ctx.seal(plaintext [, key_b64 [, wall_ms]]), which seals with
-- rumor._internal.seal under that key (or key_b64), the wall clock (or wall_ms) and a
-- counter of its own, and ctx.other_key, a key of its own. Every kind above is then
-- sent sealed, so it reaches the decoder behind the seal and is counted as before;
-- these make datagrams the seal itself must refuse, and are sent as made.
M.sealed_kinds = {
  -- A valid message, not sealed: a keyed node takes nothing unsealed.
  { name = "unsealed", weight = 2, drop = "plaintext", sealed = false, make = function(ctx)
      return pick(ctx, valid_messages(ctx))
    end },
  -- Sealed with a key the cluster does not hold.
  { name = "wrong_key", weight = 2, drop = "key", sealed = false, make = function(ctx)
      return ctx.seal(pick(ctx, valid_messages(ctx)), ctx.other_key)
    end },
  -- Sealed with the cluster's key, then one byte flipped: it no longer opens.
  { name = "flipped", weight = 2, drop = "key", sealed = false, make = function(ctx)
      local d = ctx.seal(pick(ctx, valid_messages(ctx)))
      local i = ctx.random(1, #d)
      return d:sub(1, i - 1) .. string.char(d:byte(i) ~ (1 << ctx.random(0, 7))) .. d:sub(i + 1)
    end },
  -- One sealed datagram, sent again and again: taken once, then refused as seen.
  { name = "sealed_replay", weight = 2, drop = "replay", sealed = false, make = function(ctx)
      ctx.replayed = ctx.replayed or ctx.seal(valid_messages(ctx)[1])
      return ctx.replayed
    end },
  -- Sealed properly but two minutes ago: outside replay_window_ms, refused by its age.
  { name = "stale", weight = 2, drop = "replay", sealed = false, make = function(ctx)
      return ctx.seal(pick(ctx, valid_messages(ctx)), nil, ctx.now_ms() - 120000)
    end },
}

-- The kinds the sender uses: every plain kind, and the sealed ones for a keyed cluster.
function M.active(sealed)
  local out = {}
  for _, k in ipairs(M.kinds) do out[#out + 1] = k end
  if sealed then
    for _, k in ipairs(M.sealed_kinds) do out[#out + 1] = k end
  end
  return out
end

function M.by_name(name)
  for _, k in ipairs(M.kinds) do if k.name == name then return k end end
  for _, k in ipairs(M.sealed_kinds) do if k.name == name then return k end end
end

return M

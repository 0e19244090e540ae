-- spec/support/wire.lua: a small pure-Lua encoder of rumor's wire format, version 1,
-- written from core/src/wire.h, so that specs and the hostile sender can craft valid
-- and near-valid datagrams and stream frames. Nothing here checks its input the way
-- the core's writer does: a spec may ask for a zero generation, an empty id or a
-- count that does not match on purpose.
--
--   local wire = require("spec.support.wire")
--   local d = wire.push{ cluster = "c", sender = "x", generation = 7, addr = "127.0.0.1:7001",
--                        delta = { { id = "x", generation = 7, from_seq = 0, max_seq = 1,
--                                    complete = true,
--                                    entries = { { key = "k", seq = 1, value = "v" } } } } }
--
-- Integers are Lua integers taken as unsigned 64-bit (so -1 is 2^64 - 1 on the wire).
-- Addresses are "a.b.c.d:port" (IPv4); "0.0.0.0:port" means "the source address of
-- this datagram" to a receiver.
local M = {}

M.VERSION = 1
M.SYN, M.SYNACK, M.ACK, M.PUSH, M.REJECT = 1, 2, 3, 4, 5
M.COMPLETE = 0x01     -- digest and block flag
M.PULL = 0x02         -- digest flag (SYN only)
M.SUMMARY = 0x04      -- a SYN's summary in place of a digest
M.SWEEP = 0x02        -- block flag
M.DELETED = 0x01      -- entry flag
M.SLOT_PLAIN, M.SLOT_MAP = 0x00, 0x01
M.MAX_ID_LEN, M.MAX_CLUSTER_LEN, M.MAX_KEY_LEN = 128, 64, 1024
M.BLOCK_EXPIRED, M.BLOCK_LEFT, M.BLOCK_POLICY, M.BLOCK_TOPOLOGY = 1, 2, 3, 4

local pack, char = string.pack, string.char

-- Unsigned LEB128, at most 10 bytes.
function M.varint(v)
  local out = {}
  repeat
    local b = v & 0x7f
    v = v >> 7                 -- logical shift: negative integers read as unsigned
    if v ~= 0 then b = b | 0x80 end
    out[#out + 1] = char(b)
  until v == 0
  return table.concat(out)
end

function M.u8(v) return pack("B", v & 0xff) end
function M.u16(v) return pack(">I2", v & 0xffff) end

-- A u8-length string (ids and cluster names).
function M.name(s) return M.u8(#s) .. s end

-- u8 family 4, four address bytes, u16 port.
function M.addr(address)
  address = address or "0.0.0.0:0"
  local a, b, c, d, port = address:match("^(%d+)%.(%d+)%.(%d+)%.(%d+):(%d+)$")
  if not a then error("wire.addr: expected \"a.b.c.d:port\", got " .. tostring(address), 2) end
  return char(4, tonumber(a), tonumber(b), tonumber(c), tonumber(d)) .. M.u16(tonumber(port))
end

-- 0x00 key, or 0x01 varint(#key) key map_key.
function M.slot(key, map_key)
  if map_key == nil then return char(M.SLOT_PLAIN) .. key end
  return char(M.SLOT_MAP) .. M.varint(#key) .. key .. map_key
end

-- { key =, map_key =, seq =, value =, deleted = } (or slot = raw bytes).
function M.entry(e)
  local slot = e.slot or M.slot(e.key, e.map_key)
  local value = e.deleted and "" or (e.value or "")
  local flags = e.flags or (e.deleted and M.DELETED or 0)
  return M.varint(#slot) .. slot .. M.varint(e.seq) .. M.u8(flags) .. M.varint(#value) .. value
end

-- { id =, addr =, generation =, from_seq = 0, max_seq = (last entry's seq), floor = 0,
--   complete =, sweep = (or flags =), entries = { entry, ... } (or count = n to lie) }.
function M.block(b)
  local entries = b.entries or {}
  local body = {}
  for i, e in ipairs(entries) do body[i] = M.entry(e) end
  local max_seq = b.max_seq or (#entries > 0 and entries[#entries].seq) or b.from_seq or 0
  local flags = b.flags or ((b.complete and M.COMPLETE or 0) | (b.sweep and M.SWEEP or 0))
  return M.name(b.id) .. M.addr(b.addr) .. M.varint(b.generation) .. M.varint(b.from_seq or 0)
    .. M.varint(max_seq) .. M.varint(b.floor or 0) .. M.u8(flags) .. M.u16(b.count or #entries)
    .. table.concat(body)
end

-- u16 count, then the blocks.
function M.delta(blocks)
  local out = { M.u16(#blocks) }
  for _, b in ipairs(blocks) do out[#out + 1] = M.block(b) end
  return table.concat(out)
end

-- { complete =, pull = (or flags =), members = { { id =, addr =, generation =, max_seq = }, ... } }
function M.digest(d)
  d = d or {}
  local members = d.members or {}
  local flags = d.flags or ((d.complete and M.COMPLETE or 0) | (d.pull and M.PULL or 0))
  local out = { M.u8(flags), M.u16(d.count or #members) }
  for _, m in ipairs(members) do
    out[#out + 1] = M.name(m.id) .. M.addr(m.addr) .. M.varint(m.generation) .. M.varint(m.max_seq or 0)
  end
  return table.concat(out)
end

-- A SYN's summary: flags 0x04, varint count, u64 hash (big-endian).
function M.summary(count, hash)
  return M.u8(M.SUMMARY) .. M.varint(count) .. pack(">i8", hash)
end

-- { kind =, cluster =, sender =, generation =, addr =, version = 1 }: 'R' 'M' version
-- kind, cluster and sender as u8-length strings, generation, address.
function M.header(h)
  return "RM" .. M.u8(h.version or M.VERSION) .. M.u8(h.kind) .. M.name(h.cluster) .. M.name(h.sender)
    .. M.varint(h.generation) .. M.addr(h.addr)
end

local function with_kind(h, kind)
  local t = {}
  for k, v in pairs(h) do t[k] = v end
  t.kind = t.kind or kind
  return t
end

-- The messages: a header's fields plus their bodies.
-- syn{ ..., digest = {...} } or syn{ ..., summary = { count =, hash = } }
function M.syn(m)
  local body = m.summary and M.summary(m.summary.count, m.summary.hash) or M.digest(m.digest)
  return M.header(with_kind(m, M.SYN)) .. body
end

-- synack{ ..., digest = {...}, delta = { block, ... } }
function M.synack(m)
  return M.header(with_kind(m, M.SYNACK)) .. M.digest(m.digest) .. M.delta(m.delta or {})
end

-- ack{ ..., delta = { block, ... } } (also what a TCP stream's frames carry)
function M.ack(m)
  return M.header(with_kind(m, M.ACK)) .. M.delta(m.delta or {})
end

-- push{ ..., hops = 0, tree = 0, delta = { block, ... } }
function M.push(m)
  return M.header(with_kind(m, M.PUSH)) .. M.u8(m.hops or 0) .. M.u8(m.tree or 0) .. M.delta(m.delta or {})
end

-- reject{ ..., reject_gen =, reason = } ("I blocked your generation reject_gen")
function M.reject(m)
  return M.header(with_kind(m, M.REJECT)) .. M.varint(m.reject_gen) .. M.u8(m.reason)
end

-- A stream frame: u32 big-endian length, then the payload.
function M.frame(payload)
  return pack(">I4", #payload) .. payload
end

-- Reads the header of a datagram: { version, kind, cluster, sender, generation } or
-- nil when it is too short or not rumor's (for an attacker that keeps what it hears).
function M.peek(d)
  if #d < 6 or d:sub(1, 2) ~= "RM" then return nil end
  local version, kind, clen = d:byte(3, 5)
  local cluster = d:sub(6, 5 + clen)
  local slen = d:byte(6 + clen)
  if not slen or #cluster ~= clen then return nil end
  local sender = d:sub(7 + clen, 6 + clen + slen)
  local gen, shift, i = 0, 0, 7 + clen + slen
  while true do
    local b = d:byte(i)
    if not b or shift > 63 then return nil end
    gen = gen | ((b & 0x7f) << shift)
    i, shift = i + 1, shift + 7
    if b < 0x80 then break end
  end
  return { version = version, kind = kind, cluster = cluster, sender = sender, generation = gen }
end

return M

/* wire.h: rumor's message format, version 1 (datagrams and stream frames).
 *
 * Every datagram starts with the same header; integers marked (v) are
 * unsigned LEB128 varints (at most 10 bytes), u16 is big-endian.
 *
 *   +------+------+-----+------+--------------+-------------+-------+------+
 *   | 'R'  | 'M'  | ver | kind | cluster      | sender id   | gen   | addr |
 *   | 0x52 | 0x4d | 1   | 1..3 | u8 len+bytes | u8 len+bytes| (v)   |      |
 *   +------+------+-----+------+--------------+-------------+-------+------+
 *   addr = u8 family (4 | 6), 4 or 16 address bytes, u16 port. An address of
 *          0.0.0.0 / :: means "the source address of this datagram".
 *
 * Bodies (scuttlebutt reconciliation, three legs, and rumor mongering):
 *   SYN    (1): digest or summary    "here is what I have"
 *   SYNACK (2): digest, delta        "here is what you lack, and what I have"
 *   ACK    (3): delta                "here is what you lack"
 *   PUSH   (4): u8 hops, u8 tree, delta
 *               "news: pass it on while hops > 0". tree 0: epidemic, pass
 *               it on to random peers. tree 1..16 (RUMOR_MAX_BROADCAST_
 *               BRANCHING): news going down the tree of that branching
 *               rooted at the owner of its block (tree.h); the delta then
 *               holds exactly one block, so the root is never ambiguous.
 *   REJECT (5): gen (v, > 0), u8 reason
 *               "I blocked your generation gen, for reason" (rumor.h's
 *               RUMOR_BLOCK_*, 1..4), the answer to a blocked member
 * Over a TCP stream (io.h) each frame is one ACK.
 *
 *   digest = u8 flags, u16 count, count * { id (u8 len), addr, gen (v), max_seq (v) }
 *            flag complete (bit 0): lists every member the sender knows.
 *            flag pull (bit 1, SYN only): "send what does not fit your
 *            answer over TCP"; the sender lists the members it lacks.
 *            gen 0 means "known by name only, no state yet".
 *   summary = u8 flags (0x04 exactly), count (v), hash (u64 big-endian)
 *            SYN only, in place of a digest: "this is all I have, in
 *            short" (summary.h). A receiver whose own summary differs
 *            answers with a SYN carrying its digest.
 *   delta  = u16 count, count * block
 *   block  = id (u8 len), addr, gen (v, > 0), from_seq (v), max_seq (v),
 *            floor (v, <= max_seq), u8 flags, u16 n, n * entry
 *            Entries are in strictly ascending seq, from_seq < seq <= max_seq,
 *            and are every entry the sender holds of the member with a seq
 *            in (from_seq, last entry's seq]; with flag complete (bit 0), in
 *            (from_seq, max_seq]. So anything the receiver holds in that
 *            range that is not listed is gone at the sender (superseded, or
 *            a delete already purged).
 *            flag sweep (bit 1): the receiver should drop such entries; set
 *            on a full resend (from_seq 0) to a peer that may have missed
 *            deletes purged since, i.e. whose watermark is below floor, the
 *            highest seq of a purged delete the sender knows of.
 *   entry  = slot (v len + bytes), seq (v), u8 flags, value (v len + bytes)
 *            slot  = 0x00, key              a plain key
 *                  | 0x01, key len (v), key, map_key   a map entry
 *            keys and map keys are 1..RUMOR_MAX_KEY_LEN bytes.
 *            flags bit 0: deleted (a tombstone; the value is empty).
 *
 * Decoding is zero-copy and bounds-checked: rumor__wire_decode validates a
 * whole datagram before anything is applied, so a truncated or garbage
 * datagram is refused as a unit. Pointers in decoded structs point into the
 * datagram buffer. */
#ifndef RUMOR_WIRE_H
#define RUMOR_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RUMOR_WIRE_VERSION 1
/* Where the message kind sits in every datagram: after 'R', 'M', version. */
#define RUMOR_WIRE_KIND_OFFSET 3

/* Bytes of the header besides the two strings: magic, version, kind,
 * two length bytes, a 10-byte varint and a 19-byte IPv6 address. */
#define RUMOR_WIRE_HEADER_FIXED 35

enum {
  RUMOR_MSG_SYN = 1,
  RUMOR_MSG_SYNACK = 2,
  RUMOR_MSG_ACK = 3,
  RUMOR_MSG_PUSH = 4,
  RUMOR_MSG_REJECT = 5
};
/* Highest reason a REJECT may carry (RUMOR_BLOCK_TOPOLOGY). */
#define RUMOR_WIRE_MAX_REASON 4

/* Decode results. */
#define RUMOR_WIRE_OK 0
#define RUMOR_WIRE_EMALFORMED (-1)
#define RUMOR_WIRE_EVERSION (-2)

#define RUMOR_WIRE_COMPLETE 0x01 /* digest and block flag */
#define RUMOR_WIRE_PULL 0x02     /* digest flag */
#define RUMOR_WIRE_SUMMARY 0x04  /* digest flags of a summary (alone) */
#define RUMOR_WIRE_SWEEP 0x02    /* block flag */
#define RUMOR_WIRE_DELETED 0x01  /* entry flag */

/* Slot kinds (first byte of an entry's slot). */
#define RUMOR_SLOT_PLAIN 0x00
#define RUMOR_SLOT_MAP 0x01
/* Longest slot: kind, a 2-byte varint length, a key and a map key. */
#define RUMOR_WIRE_MAX_SLOT (1 + 2 + 2 * RUMOR_MAX_KEY_LEN)

typedef struct rumor_wire_reader {
  const uint8_t *p, *end;
} rumor_wire_reader;

typedef struct rumor_wire_header {
  uint8_t version, kind;
  const char *cluster; size_t cluster_len;
  const char *sender;  size_t sender_len;
  uint64_t generation;
  struct sockaddr_storage addr;
} rumor_wire_header;

typedef struct rumor_wire_msg {
  rumor_wire_header h;
  uint8_t hops;             /* PUSH only */
  uint8_t tree;             /* PUSH only: 0 epidemic, else the tree's branching */
  uint64_t reject_gen;      /* REJECT only */
  uint8_t reject_reason;    /* REJECT only */
  int has_summary;          /* SYN only: a summary instead of a digest */
  uint64_t summary_count, summary_hash;
  int has_digest, digest_complete, digest_pull;
  uint16_t digest_count;
  rumor_wire_reader digest; /* positioned at the first digest entry */
  int has_delta;
  uint16_t delta_count;
  rumor_wire_reader delta;  /* positioned at the first block */
} rumor_wire_msg;

typedef struct rumor_wire_digest_entry {
  const char *id; size_t id_len;
  struct sockaddr_storage addr;
  uint64_t generation, max_seq;
} rumor_wire_digest_entry;

typedef struct rumor_wire_block {
  const char *id; size_t id_len;
  struct sockaddr_storage addr;
  uint64_t generation, from_seq, max_seq, floor;
  int complete, sweep;
  uint16_t nentries;
  rumor_wire_reader entries; /* positioned at the first entry */
} rumor_wire_block;

typedef struct rumor_wire_entry {
  const char *slot; size_t slot_len;
  uint64_t seq;
  uint8_t flags;
  const uint8_t *value; size_t value_len;
} rumor_wire_entry;

/* A slot split into its parts (pointers into the slot). */
typedef struct rumor_slot_parts {
  int map;
  const char *key; size_t key_len;
  const char *map_key; size_t map_key_len; /* NULL/0 for a plain key */
} rumor_slot_parts;

/* Encodes a slot into buf (>= RUMOR_WIRE_MAX_SLOT bytes); map_key NULL for a
 * plain key. Returns its length, or 0 when a part is empty or too long. */
size_t rumor__slot_encode(uint8_t *buf, const char *key, size_t key_len, const char *map_key,
                          size_t map_key_len);
/* Splits a slot; 0, or -1 when it is not a valid slot. */
int rumor__slot_parse(const char *slot, size_t len, rumor_slot_parts *out);

/* LEB128 varints outside a message's framing (heartbeat values, published
 * blocks). put writes at most 10 bytes at p and returns how many. get reads
 * one at buf[*off], never past len, and advances *off; 0, or -1 when it is
 * cut short or over 64 bits. */
size_t rumor__varint_put(uint8_t *p, uint64_t v);
int rumor__varint_get(const uint8_t *buf, size_t len, size_t *off, uint64_t *out);

/* Validates the whole datagram and fills msg. Returns RUMOR_WIRE_OK,
 * RUMOR_WIRE_EMALFORMED or RUMOR_WIRE_EVERSION. */
int rumor__wire_decode(const uint8_t *buf, size_t len, rumor_wire_msg *msg);

/* Iterators over a validated message: return 1 and fill *out, or 0 at the end. */
int rumor__wire_next_digest(rumor_wire_reader *r, rumor_wire_digest_entry *out);
int rumor__wire_next_block(rumor_wire_reader *r, rumor_wire_block *out);
int rumor__wire_next_entry(rumor_wire_reader *r, rumor_wire_entry *out);

/* Encoding into a fixed buffer (the MTU). Every add either fits whole or
 * leaves the buffer unchanged and returns -1, so callers can fill a datagram
 * greedily. */
typedef struct rumor_wire_writer {
  uint8_t *buf;
  size_t len, cap;
  size_t section;   /* offset of the open section's u16 count */
  uint16_t section_count;
  size_t block_start; /* offset where the open block begins */
  size_t block;     /* offset of the open block's flags byte */
  uint16_t block_count;
} rumor_wire_writer;

int rumor__wire_begin(rumor_wire_writer *w, uint8_t *buf, size_t cap, uint8_t kind,
                      const char *cluster, size_t cluster_len,
                      const char *sender, size_t sender_len, uint64_t generation,
                      const struct sockaddr_storage *addr);
int rumor__wire_digest_begin(rumor_wire_writer *w);
int rumor__wire_digest_add(rumor_wire_writer *w, const char *id, size_t id_len,
                           const struct sockaddr_storage *addr, uint64_t generation,
                           uint64_t max_seq);
/* flags: RUMOR_WIRE_COMPLETE and/or RUMOR_WIRE_PULL. */
void rumor__wire_digest_end(rumor_wire_writer *w, uint8_t flags);
/* Writes a summary in place of a SYN's digest (right after the header). */
int rumor__wire_summary(rumor_wire_writer *w, uint64_t count, uint64_t hash);
int rumor__wire_delta_begin(rumor_wire_writer *w);
/* Writes the body of a REJECT (right after the header). */
int rumor__wire_reject(rumor_wire_writer *w, uint64_t generation, uint8_t reason);
/* Writes the hop count and the tree branching (0: epidemic) of a PUSH
 * (right after the header). A tree push must carry exactly one block. */
int rumor__wire_push_begin(rumor_wire_writer *w, uint8_t hops, uint8_t tree);
int rumor__wire_block_begin(rumor_wire_writer *w, const char *id, size_t id_len,
                            const struct sockaddr_storage *addr, uint64_t generation,
                            uint64_t from_seq, uint64_t max_seq, uint64_t floor);
int rumor__wire_block_add(rumor_wire_writer *w, const char *slot, size_t slot_len,
                          uint64_t seq, uint8_t flags, const uint8_t *value, size_t value_len);
/* flags: RUMOR_WIRE_COMPLETE and/or RUMOR_WIRE_SWEEP. */
void rumor__wire_block_end(rumor_wire_writer *w, uint8_t flags);
/* Removes the open block (e.g. one that ended up with no entries). */
void rumor__wire_block_cancel(rumor_wire_writer *w);
void rumor__wire_delta_end(rumor_wire_writer *w);
/* Bytes an entry takes on the wire (for planning what fits). */
size_t rumor__wire_entry_size(size_t slot_len, uint64_t seq, size_t value_len);
/* Most bytes a header can take: the longest cluster name and sender id. */
#define RUMOR_WIRE_HEADER_MAX (RUMOR_WIRE_HEADER_FIXED + RUMOR_MAX_CLUSTER_LEN + RUMOR_MAX_ID_LEN)
/* Most bytes a block header can take (longest id, IPv6, 10-byte varints). */
#define RUMOR_WIRE_BLOCK_HEADER_MAX (1 + RUMOR_MAX_ID_LEN + 19 + 4 * 10 + 1 + 2)
/* Most bytes around the entries of a one-block delta message: header, a
 * PUSH's hop count and tree byte, the delta count and a block header. */
#define RUMOR_WIRE_DELTA_OVERHEAD_MAX (RUMOR_WIRE_HEADER_MAX + 2 + 2 + RUMOR_WIRE_BLOCK_HEADER_MAX)
#endif

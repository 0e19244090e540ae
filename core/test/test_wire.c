/* test_wire.c: the message codec: round trips, slots, epidemic and tree
 * pushes, and refusal of truncated, garbage, out-of-order and
 * wrong-version messages. */
#include "check.h"
#include "rng.h"
#include "rumor.h"
#include "wire.h"

static struct sockaddr_storage v4, v6;
static uint8_t buf[1400];

static size_t make_synack(void) {
  rumor_wire_writer w;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYNACK, "demo", 4, "node-a", 6, 77, &v4), 0);
  CHECK_EQ(rumor__wire_digest_begin(&w), 0);
  CHECK_EQ(rumor__wire_digest_add(&w, "node-a", 6, &v4, 77, 5), 0);
  CHECK_EQ(rumor__wire_digest_add(&w, "node-b", 6, &v6, 0, 0), 0);
  rumor__wire_digest_end(&w, 1);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "node-a", 6, &v4, 77, 2, 5, 1), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0color", 6, 3, 0, (const uint8_t *)"blue", 4), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0empty", 6, 4, 0, NULL, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0gone", 5, 5, RUMOR_WIRE_DELETED, NULL, 0), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE | RUMOR_WIRE_SWEEP);
  CHECK_EQ(rumor__wire_block_begin(&w, "node-c", 6, &v6, 9, 0, 1000, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\1\3svcweb", 8, 999, 0, (const uint8_t *)"v", 1), 0);
  rumor__wire_block_end(&w, 0);
  rumor__wire_delta_end(&w);
  return w.len;
}

static void round_trip(void) {
  size_t len = make_synack();
  rumor_wire_msg m;
  rumor_wire_digest_entry d;
  rumor_wire_block b;
  rumor_wire_entry e;
  char name[64];
  CHECK_EQ(rumor__wire_decode(buf, len, &m), RUMOR_WIRE_OK);
  CHECK_EQ(m.h.kind, RUMOR_MSG_SYNACK);
  CHECK(m.h.cluster_len == 4 && memcmp(m.h.cluster, "demo", 4) == 0);
  CHECK(m.h.sender_len == 6 && memcmp(m.h.sender, "node-a", 6) == 0);
  CHECK_EQ(m.h.generation, 77);
  rumor_addr_format((struct sockaddr *)&m.h.addr, name, sizeof(name));
  CHECK(strcmp(name, "127.0.0.1:4000") == 0);
  CHECK(m.has_digest && m.digest_complete && m.digest_count == 2);
  CHECK_EQ(rumor__wire_next_digest(&m.digest, &d), 1);
  CHECK(d.generation == 77 && d.max_seq == 5);
  CHECK_EQ(rumor__wire_next_digest(&m.digest, &d), 1);
  rumor_addr_format((struct sockaddr *)&d.addr, name, sizeof(name));
  CHECK(strcmp(name, "[::1]:5000") == 0);
  CHECK_EQ(rumor__wire_next_digest(&m.digest, &d), 0);
  CHECK(m.has_delta && m.delta_count == 2);
  CHECK_EQ(rumor__wire_next_block(&m.delta, &b), 1);
  CHECK(b.generation == 77 && b.from_seq == 2 && b.max_seq == 5 && b.floor == 1);
  CHECK(b.complete && b.sweep && b.nentries == 3);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 3 && e.value_len == 4 && memcmp(e.value, "blue", 4) == 0);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 4 && e.value_len == 0 && e.slot_len == 6 && e.flags == 0);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 5 && e.flags == RUMOR_WIRE_DELETED);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 0);
  CHECK_EQ(rumor__wire_next_block(&m.delta, &b), 1);
  CHECK(b.generation == 9 && !b.complete && !b.sweep && b.nentries == 1);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 999);
  rumor_slot_parts parts;
  CHECK_EQ(rumor__slot_parse(e.slot, e.slot_len, &parts), 0);
  CHECK(parts.map && parts.key_len == 3 && memcmp(parts.key, "svc", 3) == 0);
  CHECK(parts.map_key_len == 3 && memcmp(parts.map_key, "web", 3) == 0);
  CHECK_EQ(rumor__wire_next_block(&m.delta, &b), 0);
}

static void every_truncation_is_refused(void) {
  size_t len = make_synack();
  rumor_wire_msg m;
  for (size_t cut = 0; cut < len; cut++) CHECK_EQ(rumor__wire_decode(buf, cut, &m), RUMOR_WIRE_EMALFORMED);
  /* And trailing garbage too. */
  buf[len] = 0;
  CHECK_EQ(rumor__wire_decode(buf, len + 1, &m), RUMOR_WIRE_EMALFORMED);
}

static void wrong_version(void) {
  size_t len = make_synack();
  rumor_wire_msg m;
  buf[2] = 2;
  CHECK_EQ(rumor__wire_decode(buf, len, &m), RUMOR_WIRE_EVERSION);
  buf[0] = 'X';
  CHECK_EQ(rumor__wire_decode(buf, len, &m), RUMOR_WIRE_EMALFORMED);
}

static size_t one_block_ex(uint64_t gen, uint64_t from, uint64_t max, uint64_t floor, uint64_t s1,
                           uint64_t s2, const char *slot2, size_t slot2_len, uint8_t flags2,
                           size_t value2_len) {
  rumor_wire_writer w;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "c", 1, "a", 1, 1, &v4), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &v4, gen, from, max, floor), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0k1", 3, s1, 0, (const uint8_t *)"1", 1), 0);
  CHECK_EQ(rumor__wire_block_add(&w, slot2, slot2_len, s2, flags2, (const uint8_t *)"22", value2_len), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  return w.len;
}

static size_t one_block(uint64_t gen, uint64_t from, uint64_t max, uint64_t s1, uint64_t s2) {
  return one_block_ex(gen, from, max, 0, s1, s2, "\0k2", 3, 0, 1);
}

static void block_invariants(void) {
  rumor_wire_msg m;
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 3, 4), &m), RUMOR_WIRE_OK);
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 4, 3), &m), RUMOR_WIRE_EMALFORMED); /* descending */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 4, 4), &m), RUMOR_WIRE_EMALFORMED); /* repeated */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 3, 2, 4), &m), RUMOR_WIRE_EMALFORMED); /* over max */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 3, 9, 3, 4), &m), RUMOR_WIRE_EMALFORMED); /* not above from */
  CHECK_EQ(rumor__wire_decode(buf, one_block(0, 0, 9, 3, 4), &m), RUMOR_WIRE_EMALFORMED); /* generation 0 */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 10, 3, 4, "\0k2", 3, 0, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* floor above max */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 9, 3, 4, "\0k2", 3, RUMOR_WIRE_DELETED, 0), &m),
           RUMOR_WIRE_OK); /* a tombstone */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\0k2", 3, RUMOR_WIRE_DELETED, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* a tombstone with a value */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\0k2", 3, 0x04, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* unknown entry flag */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\2k2", 3, 0, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* unknown slot kind */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\0", 1, 0, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* empty key */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\1\3svc", 5, 0, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* map entry without a map key */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\1\5svc", 5, 0, 1), &m),
           RUMOR_WIRE_EMALFORMED); /* map key length past the slot */
  CHECK_EQ(rumor__wire_decode(buf, one_block_ex(1, 0, 9, 0, 3, 4, "\1\2svc", 5, 0, 1), &m),
           RUMOR_WIRE_OK); /* key "sv", map key "c" */
}

static void slots_and_push(void) {
  uint8_t slot[RUMOR_WIRE_MAX_SLOT];
  char key[RUMOR_MAX_KEY_LEN + 1];
  rumor_slot_parts p;
  memset(key, 'k', sizeof(key));
  /* The longest slot fits the buffer and parses back. */
  size_t n = rumor__slot_encode(slot, key, RUMOR_MAX_KEY_LEN, key, RUMOR_MAX_KEY_LEN);
  CHECK_EQ(n, RUMOR_WIRE_MAX_SLOT);
  CHECK_EQ(rumor__slot_parse((const char *)slot, n, &p), 0);
  CHECK(p.map && p.key_len == RUMOR_MAX_KEY_LEN && p.map_key_len == RUMOR_MAX_KEY_LEN);
  CHECK_EQ(rumor__slot_encode(slot, key, RUMOR_MAX_KEY_LEN + 1, NULL, 0), 0);
  CHECK_EQ(rumor__slot_encode(slot, key, 1, key, 0), 0);
  n = rumor__slot_encode(slot, "a", 1, NULL, 0);
  CHECK_EQ(rumor__slot_parse((const char *)slot, n, &p), 0);
  CHECK(!p.map && p.key_len == 1 && p.map_key == NULL);
  /* A plain key and a map entry that spell the same bytes stay apart. */
  uint8_t other[RUMOR_WIRE_MAX_SLOT];
  size_t n1 = rumor__slot_encode(slot, "\1\1ab", 4, NULL, 0);
  size_t n2 = rumor__slot_encode(other, "a", 1, "b", 1);
  CHECK(n1 != n2 || memcmp(slot, other, n1) != 0);

  rumor_wire_writer w;
  rumor_wire_msg m;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_PUSH, "c", 1, "a", 1, 1, &v4), 0);
  CHECK_EQ(rumor__wire_push_begin(&w, 7, 0), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "a", 1, &v4, 1, 4, 5, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0k", 2, 5, 0, (const uint8_t *)"v", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  CHECK_EQ(rumor__wire_decode(buf, w.len, &m), RUMOR_WIRE_OK);
  CHECK(m.h.kind == RUMOR_MSG_PUSH && m.hops == 7 && m.tree == 0 && !m.has_digest && m.has_delta &&
        m.delta_count == 1);
  for (size_t cut = 0; cut < w.len; cut++) CHECK_EQ(rumor__wire_decode(buf, cut, &m), RUMOR_WIRE_EMALFORMED);
  buf[3] = 5; /* no such kind */
  CHECK_EQ(rumor__wire_decode(buf, w.len, &m), RUMOR_WIRE_EMALFORMED);
}

/* A tree push: its branching round-trips, it must carry exactly one block
 * (the root is that block's owner), and branchings past the widest tree are
 * refused on both ends. */
static void tree_push(void) {
  rumor_wire_writer w;
  rumor_wire_msg m;
  rumor_wire_block b;
  size_t at; /* offset of the tree byte */
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_PUSH, "c", 1, "a", 1, 1, &v4), 0);
  at = w.len + 1;
  CHECK_EQ(rumor__wire_push_begin(&w, 4, RUMOR_MAX_BROADCAST_BRANCHING + 1), -1);
  CHECK_EQ(w.len, at - 1); /* all or nothing */
  CHECK_EQ(rumor__wire_push_begin(&w, 4, 3), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "root", 4, &v6, 9, 0, 2, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0k", 2, 2, 0, (const uint8_t *)"v", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  size_t one = w.len;
  CHECK_EQ(rumor__wire_decode(buf, one, &m), RUMOR_WIRE_OK);
  CHECK(m.h.kind == RUMOR_MSG_PUSH && m.hops == 4 && m.tree == 3 && m.delta_count == 1);
  CHECK_EQ(rumor__wire_next_block(&m.delta, &b), 1);
  CHECK(b.id_len == 4 && memcmp(b.id, "root", 4) == 0);
  for (size_t cut = 0; cut < one; cut++) CHECK_EQ(rumor__wire_decode(buf, cut, &m), RUMOR_WIRE_EMALFORMED);
  buf[at] = RUMOR_MAX_BROADCAST_BRANCHING;
  CHECK_EQ(rumor__wire_decode(buf, one, &m), RUMOR_WIRE_OK);
  buf[at] = RUMOR_MAX_BROADCAST_BRANCHING + 1;
  CHECK_EQ(rumor__wire_decode(buf, one, &m), RUMOR_WIRE_EMALFORMED);
  buf[at] = 3;

  /* Two blocks: which owner would be the root? Refused; as an epidemic
   * push the same delta is fine. */
  w.len = one;
  w.section_count = 1;
  CHECK_EQ(rumor__wire_block_begin(&w, "other", 5, &v4, 3, 0, 1, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0k", 2, 1, 0, (const uint8_t *)"w", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  CHECK_EQ(rumor__wire_decode(buf, w.len, &m), RUMOR_WIRE_EMALFORMED);
  buf[at] = 0;
  CHECK_EQ(rumor__wire_decode(buf, w.len, &m), RUMOR_WIRE_OK);
  CHECK(m.tree == 0 && m.delta_count == 2);
  /* And none. */
  buf[at] = 2;
  buf[at + 1] = 0;
  buf[at + 2] = 0;
  CHECK_EQ(rumor__wire_decode(buf, at + 3, &m), RUMOR_WIRE_EMALFORMED);
  buf[at] = 0;
  CHECK_EQ(rumor__wire_decode(buf, at + 3, &m), RUMOR_WIRE_OK);
}

static void writer_all_or_nothing(void) {
  rumor_wire_writer w;
  uint8_t small[64], value[64] = {0};
  CHECK_EQ(rumor__wire_begin(&w, small, sizeof(small), RUMOR_MSG_ACK, "c", 1, "a", 1, 1, &v4), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &v4, 1, 0, 9, 0), 0);
  size_t before = w.len;
  CHECK_EQ(rumor__wire_block_add(&w, "\0k", 2, 1, 0, value, sizeof(value)), -1);
  CHECK_EQ(w.len, before);
  CHECK_EQ(rumor__wire_block_add(&w, "\0k", 2, 1, 0, value, 4), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0key-too-long-for-this", 22, 2, 0, value, 8), -1);
  rumor__wire_block_end(&w, 0);
  rumor__wire_delta_end(&w);
  rumor_wire_msg m;
  CHECK_EQ(rumor__wire_decode(small, w.len, &m), RUMOR_WIRE_OK);
}

static void random_garbage(void) {
  /* Random mutations of a valid datagram: whatever the result, no crash
   * (ASan/UBSan builds check the reads), and OK only with consistent data. */
  rumor_rng r;
  rumor__rng_seed(&r, 99);
  size_t len = make_synack();
  uint8_t orig[1400];
  memcpy(orig, buf, len);
  for (int i = 0; i < 100000; i++) {
    memcpy(buf, orig, len);
    int flips = 1 + (int)rumor__rng_below(&r, 4);
    for (int f = 0; f < flips; f++) buf[rumor__rng_below(&r, len)] = (uint8_t)rumor__rng_next(&r);
    rumor_wire_msg m;
    if (rumor__wire_decode(buf, len, &m) == RUMOR_WIRE_OK) {
      rumor_wire_block b;
      rumor_wire_entry e;
      while (rumor__wire_next_block(&m.delta, &b) == 1)
        while (rumor__wire_next_entry(&b.entries, &e) == 1) CHECK(e.value + e.value_len <= buf + len);
    }
  }
}

int main(void) {
  CHECK_EQ(rumor_addr_parse("127.0.0.1:4000", &v4), 0);
  CHECK_EQ(rumor_addr_parse("[::1]:5000", &v6), 0);
  RUN(round_trip);
  RUN(every_truncation_is_refused);
  RUN(wrong_version);
  RUN(block_invariants);
  RUN(slots_and_push);
  RUN(tree_push);
  RUN(writer_all_or_nothing);
  RUN(random_garbage);
  return 0;
}

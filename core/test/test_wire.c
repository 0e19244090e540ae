/* test_wire.c: the datagram codec: round trips, and refusal of truncated,
 * garbage, out-of-order and wrong-version datagrams. */
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
  CHECK_EQ(rumor__wire_block_begin(&w, "node-a", 6, &v4, 77, 2, 5), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "color", 5, 3, 0, (const uint8_t *)"blue", 4), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "empty", 5, 5, 0, NULL, 0), 0);
  rumor__wire_block_end(&w, 1);
  CHECK_EQ(rumor__wire_block_begin(&w, "node-c", 6, &v6, 9, 0, 1000), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "k", 1, 999, 0, (const uint8_t *)"v", 1), 0);
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
  CHECK(b.generation == 77 && b.from_seq == 2 && b.max_seq == 5 && b.complete && b.nentries == 2);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 3 && e.value_len == 4 && memcmp(e.value, "blue", 4) == 0);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 5 && e.value_len == 0 && e.key_len == 5);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 0);
  CHECK_EQ(rumor__wire_next_block(&m.delta, &b), 1);
  CHECK(b.generation == 9 && !b.complete && b.nentries == 1);
  CHECK_EQ(rumor__wire_next_entry(&b.entries, &e), 1);
  CHECK(e.seq == 999);
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

static size_t one_block(uint64_t gen, uint64_t from, uint64_t max, uint64_t s1, uint64_t s2) {
  rumor_wire_writer w;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "c", 1, "a", 1, 1, &v4), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &v4, gen, from, max), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "k1", 2, s1, 0, (const uint8_t *)"1", 1), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "k2", 2, s2, 0, (const uint8_t *)"2", 1), 0);
  rumor__wire_block_end(&w, 1);
  rumor__wire_delta_end(&w);
  return w.len;
}

static void block_invariants(void) {
  rumor_wire_msg m;
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 3, 4), &m), RUMOR_WIRE_OK);
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 4, 3), &m), RUMOR_WIRE_EMALFORMED); /* descending */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 9, 4, 4), &m), RUMOR_WIRE_EMALFORMED); /* repeated */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 0, 3, 2, 4), &m), RUMOR_WIRE_EMALFORMED); /* over max */
  CHECK_EQ(rumor__wire_decode(buf, one_block(1, 3, 9, 3, 4), &m), RUMOR_WIRE_EMALFORMED); /* not above from */
  CHECK_EQ(rumor__wire_decode(buf, one_block(0, 0, 9, 3, 4), &m), RUMOR_WIRE_EMALFORMED); /* generation 0 */
}

static void writer_all_or_nothing(void) {
  rumor_wire_writer w;
  uint8_t small[64], value[64] = {0};
  CHECK_EQ(rumor__wire_begin(&w, small, sizeof(small), RUMOR_MSG_ACK, "c", 1, "a", 1, 1, &v4), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &v4, 1, 0, 9), 0);
  size_t before = w.len;
  CHECK_EQ(rumor__wire_block_add(&w, "k", 1, 1, 0, value, sizeof(value)), -1);
  CHECK_EQ(w.len, before);
  CHECK_EQ(rumor__wire_block_add(&w, "k", 1, 1, 0, value, 4), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "key-too-long-for-this", 21, 2, 0, value, 8), -1);
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
  RUN(writer_all_or_nothing);
  RUN(random_garbage);
  return 0;
}

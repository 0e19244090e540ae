/* test_resync.c: deletes must stay deleted when tombstones are purged while
 * some node is away, whichever way the state reaches it: through a node
 * that joined after the purge, through a transfer during which a purge
 * happens, or through a resync split over several frames (which must not
 * report live keys as deleted). Also: an entry bigger than a node accepts
 * is refused on arrival instead of wedging a transfer. */
#include "fake_net.h"
#include "wire.h"

static uint8_t big[40000];

static int has_key(rumor_node_t *n, const char *m, const char *k) {
  const uint8_t *v;
  size_t len;
  return rumor_node_get(n, m, strlen(m), k, strlen(k), &v, &len, NULL) == 0;
}

static void set_bigs(rumor_node_t *n, int count) {
  char k[16];
  for (int i = 0; i < count; i++) {
    snprintf(k, sizeof(k), "big%d", i);
    CHECK(rumor_node_set(n, k, strlen(k), big, sizeof(big)) > 0);
  }
}

static rumor_config_t grace(uint32_t ms) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.tombstone_grace_ms = ms;
  return cfg;
}

/* c misses a delete that a then purges; d joins after the purge and gets
 * a's whole state; later c meets only d. d must pass the floor on. */
static void floor_reaches_late_joiners(void) {
  fake_net net;
  rumor_config_t cfg = grace(3000);
  net_init(&net, 12);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  CHECK(rumor_node_set(a, "x", 1, "1", 1) > 0);
  CHECK(rumor_node_set(a, "y", 1, "2", 1) > 0);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 3000);
  CHECK(has_key(c, "a", "x"));
  net.down[1] = 1;
  CHECK(rumor_node_delete(a, "x", 1) > 0);
  CHECK(rumor_node_set(a, "z", 1, "3", 1) > 0);
  net_run(&net, 5000);
  CHECK_EQ(rumor_node_metrics(a)->tombstones_purged, 1);
  rumor_node_t *d = net_add(&net, "d", 0, &cfg);
  CHECK_EQ(rumor_node_start(d), 0);
  net_run(&net, 3000);
  CHECK(has_key(d, "a", "z") && !has_key(d, "a", "x"));
  net.down[0] = 1; /* a away, c back: c only meets d */
  net.down[1] = 0;
  net_run(&net, 20000);
  CHECK(has_key(c, "a", "z"));
  CHECK(!has_key(c, "a", "x"));
  net_free(&net);
}

/* a's tombstone is purged between two frames of a transfer to c. */
static void purge_during_a_transfer(void) {
  fake_net net;
  rumor_config_t cfg = grace(10000);
  net_init(&net, 21);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  CHECK(rumor_node_set(a, "x", 1, "1", 1) > 0);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 2000);
  CHECK(has_key(c, "a", "x"));
  net.down[1] = 1;
  set_bigs(a, 4);
  CHECK(rumor_node_delete(a, "x", 1) > 0);
  net_run(&net, 9800); /* grace almost over */
  net.down[1] = 0;
  int frames = 0;
  rumor__node_timer(c, RUMOR_TIMER_ROUND); /* SYN -> cut SYNACK -> pull -> transfer */
  size_t head = 0;
  while (head < net.qlen) {
    net_datagram dg = net.queue[head++];
    int frame = dg.stream != NULL;
    net_deliver(&net, &dg);
    if (frame && ++frames == 1) {
      net.now += 300; /* a's round: the grace ends, the tombstone goes */
      rumor__node_timer(a, RUMOR_TIMER_ROUND);
    }
  }
  net.qlen = 0;
  CHECK(frames >= 2);
  CHECK_EQ(rumor_node_metrics(a)->tombstones_purged, 1);
  net_run(&net, 20000);
  CHECK(has_key(c, "a", "big3"));
  CHECK(!has_key(c, "a", "x"));
  net_free(&net);
}

typedef struct seen {
  int deleted_k, deleted_x;
} seen;

static void watch(rumor_node_t *n, const rumor_update_t *u, void *arg) {
  if (u->system) return; /* heartbeats: test_liveness.c */
  seen *s = arg;
  (void)n;
  if (u->deleted && u->key_len == 1 && u->key[0] == 'k') s->deleted_k++;
  if (u->deleted && u->key_len == 1 && u->key[0] == 'x') s->deleted_x++;
}

/* A resync too big for one frame: k is updated after the purged delete, so
 * its new value comes in a later frame than its old seq; it must never be
 * reported deleted. x, whose delete was purged, must be. */
static void resync_over_frames_reports_only_real_deletes(void) {
  fake_net net;
  seen s = {0};
  rumor_config_t cfg = grace(1000);
  net_init(&net, 22);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  CHECK(rumor_node_set(a, "x", 1, "1", 1) > 0);
  CHECK(rumor_node_set(a, "k", 1, "old", 3) > 0);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 2000);
  net.down[1] = 1;
  CHECK(rumor_node_delete(a, "x", 1) > 0);
  set_bigs(a, 4);
  CHECK(rumor_node_set(a, "k", 1, "new", 3) > 0);
  net_run(&net, 3000);
  CHECK_EQ(rumor_node_metrics(a)->tombstones_purged, 1);
  rumor_node_on_update(c, watch, &s);
  net.down[1] = 0;
  net_run(&net, 5000);
  CHECK(holds(c, "a", "k", "new"));
  CHECK(!has_key(c, "a", "x"));
  CHECK(net.frames_delivered >= 2);
  CHECK_EQ(s.deleted_k, 0);
  CHECK_EQ(s.deleted_x, 1);
  net_free(&net);
}

/* A forged (or misconfigured) peer sends a value over a's max_value_size in
 * a datagram: a refuses it, and nothing a later transfer does can wedge. */
static void oversize_entries_are_refused(void) {
  fake_net net;
  static uint8_t buf[65536], val[5000];
  rumor_config_t small;
  rumor_wire_writer w;
  struct sockaddr_storage from;
  uint8_t slot[8];
  rumor_config_init(&small);
  small.max_value_size = 100;
  net_init(&net, 3);
  rumor_node_t *a = net_add(&net, "a", -1, &small);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  net_addr(9, &from);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "e", 1, 1, &from), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "e", 1, &from, 1, 0, 2, 0), 0);
  size_t sl = rumor__slot_encode(slot, "ok", 2, NULL, 0);
  CHECK_EQ(rumor__wire_block_add(&w, (char *)slot, sl, 1, 0, val, 10), 0);
  sl = rumor__slot_encode(slot, "big", 3, NULL, 0);
  CHECK_EQ(rumor__wire_block_add(&w, (char *)slot, sl, 2, 0, val, sizeof(val)), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  rumor__node_recv(a, &from, buf, w.len);
  CHECK(has_key(a, "e", "ok"));
  CHECK(!has_key(a, "e", "big"));
  CHECK_EQ(rumor_node_metrics(a)->entries_too_big, 1);
  net.down[9] = 1;
  net_run(&net, 5000);
  CHECK(has_key(b, "e", "ok"));
  CHECK(rumor_node_metrics(a)->frames_sent < 100); /* no endless empty frames */
  net_free(&net);
}

int main(void) {
  RUN(floor_reaches_late_joiners);
  RUN(purge_during_a_transfer);
  RUN(resync_over_frames_reports_only_real_deletes);
  RUN(oversize_entries_are_refused);
  return 0;
}

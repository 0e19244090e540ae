/* test_liveness.c: heartbeats and their stats, both failure detectors, a
 * stalled node's rejoin under a new generation (by rejection and by seeing
 * its block in others' state), graceful leave, blocks by policy and by
 * topology, and retention of blocked members, on the in-memory network. */
#include "fake_net.h"
#include "heartbeat.h"
#include "wire.h"

typedef struct mevents {
  int n;
  char member[64][16];
  int type[64], reason[64];
  uint64_t gen[64];
} mevents;

static void on_member(rumor_node_t *node, const rumor_member_event_t *ev, void *arg) {
  mevents *e = arg;
  (void)node;
  if (e->n >= 64) return;
  snprintf(e->member[e->n], 16, "%.*s", (int)ev->member_len, ev->member);
  e->type[e->n] = ev->type;
  e->reason[e->n] = ev->reason;
  e->gen[e->n++] = ev->generation;
}

/* The index of the first event of type about member (-1: none). */
static int find(const mevents *e, const char *member, int type) {
  for (int i = 0; i < e->n; i++)
    if (e->type[i] == type && strcmp(e->member[i], member) == 0) return i;
  return -1;
}

static int stat_of(const rumor_member_info_t *m, const char *name, int64_t *value) {
  size_t off = 0;
  rumor_stat_t st;
  while (rumor_stats_next(m->stats, m->stats_len, &off, &st) == 1)
    if (st.name_len == strlen(name) && memcmp(st.name, name, st.name_len) == 0) {
      *value = st.value;
      return 1;
    }
  return 0;
}

static rumor_config_t fast(void) { return net_fast_config(); }

/* n nodes "a", "b", ... all seeded by "a", started and converged. */
static void cluster(fake_net *net, int n, const rumor_config_t *cfg, uint64_t seed) {
  static const char *ids[] = {"a", "b", "c", "d", "e", "f"};
  net_init(net, seed);
  for (int i = 0; i < n; i++) net_add(net, ids[i], i == 0 ? -1 : 0, cfg);
  for (int i = 0; i < n; i++) CHECK_EQ(rumor_node_start(net->nodes[i]), 0);
  net_run(net, 1000);
}

static void heartbeats_carry_stats(void) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  rumor_node_on_member(b, on_member, &ev);
  rumor_stat_t stats[] = {{"actors", 6, 42}, {"draining", 8, -1}};
  CHECK_EQ(rumor_node_set_stats(a, stats, 2), 0);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 1000);
  rumor_member_info_t m = net_member(b, "a");
  int64_t v = 0;
  CHECK(m.has_heartbeat);
  CHECK(stat_of(&m, "actors", &v) && v == 42);
  CHECK(stat_of(&m, "draining", &v) && v == -1);
  CHECK_EQ(m.members_alive, 2);
  CHECK(m.uptime_ms >= 800);
  CHECK(m.heartbeats >= 5);
  CHECK(m.heartbeat_age_ms < 1000);
  CHECK_EQ(m.status, RUMOR_MEMBER_ALIVE);
  CHECK(find(&ev, "a", RUMOR_EVENT_JOINED) >= 0);
  CHECK(find(&ev, "a", RUMOR_EVENT_ALIVE) > find(&ev, "a", RUMOR_EVENT_JOINED));
  CHECK(rumor_node_metrics(a)->heartbeats_sent >= 10);
  /* Reserved keys are the engine's. */
  CHECK_EQ(rumor_node_set(a, "heartbeat", 9, "x", 1), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_map_set(a, "blocked", 7, "b", 1, "x", 1), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_delete(a, "left", 4), RUMOR_EINVAL);
  /* Bad stats change nothing. */
  rumor_stat_t dup[] = {{"x", 1, 1}, {"x", 1, 2}};
  CHECK_EQ(rumor_node_set_stats(a, dup, 2), RUMOR_EINVAL);
  rumor_stat_t empty[] = {{"", 0, 1}};
  CHECK_EQ(rumor_node_set_stats(a, empty, 1), RUMOR_EINVAL);
  static char names[20][64];
  rumor_stat_t many[20];
  for (int i = 0; i < 20; i++) {
    memset(names[i], 'a' + i, 64);
    many[i] = (rumor_stat_t){names[i], 64, INT64_MIN};
  }
  CHECK_EQ(rumor_node_set_stats(a, many, 20), RUMOR_ETOOBIG);
  net_run(&net, 300);
  m = net_member(b, "a");
  CHECK(stat_of(&m, "actors", &v) && v == 42);
  net_free(&net);
}

static void heartbeat_decoding(void) {
  uint8_t *stats, buf[RUMOR_MAX_HEARTBEAT];
  size_t len;
  rumor_heartbeat hb;
  rumor_stat_t in[] = {{"k", 1, INT64_MAX}, {"m", 1, INT64_MIN}};
  CHECK_EQ(rumor__heartbeat_encode_stats(in, 2, &stats, &len), 0);
  size_t n = rumor__heartbeat_write(buf, 1234, 7, stats, len);
  free(stats);
  CHECK_EQ(rumor__heartbeat_decode(buf, n, &hb), 0);
  CHECK(hb.uptime_ms == 1234 && hb.members_alive == 7);
  size_t off = 0;
  rumor_stat_t st;
  CHECK(rumor_stats_next(hb.stats, hb.stats_len, &off, &st) == 1 && st.value == INT64_MAX);
  CHECK(rumor_stats_next(hb.stats, hb.stats_len, &off, &st) == 1 && st.value == INT64_MIN);
  CHECK(rumor_stats_next(hb.stats, hb.stats_len, &off, &st) == 0);
  /* Every truncation, a trailing byte, a wrong count and a wrong version fail. */
  for (size_t i = 0; i < n; i++) CHECK(rumor__heartbeat_decode(buf, i, &hb) != 0);
  buf[n] = 0;
  CHECK(rumor__heartbeat_decode(buf, n + 1, &hb) != 0);
  n = rumor__heartbeat_write(buf, 1, 1, NULL, 0);
  CHECK_EQ(rumor__heartbeat_decode(buf, n, &hb), 0);
  buf[n - 1] = 1; /* says one stat, has none */
  CHECK(rumor__heartbeat_decode(buf, n, &hb) != 0);
  buf[0] = 2;
  CHECK(rumor__heartbeat_decode(buf, n, &hb) != 0);
}

static void expired_by(int detector) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  cfg.failure_detector = detector;
  cfg.phi_threshold = 8;
  cluster(&net, 4, &cfg, 2 + (uint64_t)detector);
  rumor_node_t *a = net.nodes[0];
  rumor_node_on_member(a, on_member, &ev);
  CHECK_EQ(net_member(a, "d").status, RUMOR_MEMBER_ALIVE);
  net.down[3] = 1; /* d crashes */
  uint64_t t0 = net.now;
  while (net_member(a, "d").status == RUMOR_MEMBER_ALIVE && net.now - t0 < 10000) net_run(&net, 10);
  uint64_t took = net.now - t0;
  /* Expiration: after 1000 ms of silence, seen at the next round. Phi 8:
   * about 18 beats, one every two rounds of 100 ms. */
  CHECK(took > 900 && took < (detector == RUMOR_FD_PHI ? 5000u : 1300u));
  net_run(&net, 500);
  for (int i = 0; i < 3; i++) {
    rumor_member_info_t d = net_member(net.nodes[i], "d");
    CHECK_EQ(d.status, RUMOR_MEMBER_BLOCKED);
    CHECK_EQ(d.block_reason, RUMOR_BLOCK_EXPIRED);
    CHECK_EQ(net_member(net.nodes[i], "a").status, RUMOR_MEMBER_ALIVE); /* the others are fine */
  }
  int i = find(&ev, "d", RUMOR_EVENT_BLOCKED);
  CHECK(i >= 0 && ev.reason[i] == RUMOR_BLOCK_EXPIRED);
  /* d, cut off, blocked everyone but itself. */
  CHECK_EQ(net_member(net.nodes[3], "a").status, RUMOR_MEMBER_BLOCKED);
  CHECK_EQ(net_member(net.nodes[3], "d").status, RUMOR_MEMBER_ALIVE);
  /* No gossip goes to d any more. */
  uint64_t sent = rumor_node_metrics(a)->datagrams_sent;
  size_t to_d = 0;
  net_run(&net, 1000);
  (void)sent;
  for (size_t q = 0; q < net.qlen; q++) to_d += net.queue[q].to == 3;
  CHECK_EQ(to_d, 0);
  net_free(&net);
}

static void expiration_detector(void) { expired_by(RUMOR_FD_EXPIRATION); }
static void phi_detector(void) { expired_by(RUMOR_FD_PHI); }

static void stalled_node_rejoins(void) {
  fake_net net;
  mevents ev = {0}, self = {0};
  rumor_config_t cfg = fast();
  cluster(&net, 3, &cfg, 4);
  rumor_node_t *a = net.nodes[0], *c = net.nodes[2];
  rumor_node_on_member(a, on_member, &ev);
  rumor_node_on_member(c, on_member, &self);
  CHECK(rumor_node_set(c, "k", 1, "v", 1) > 0);
  net_run(&net, 500);
  uint64_t gen = rumor_node_generation(c);
  net.paused[2] = 1; /* SIGSTOP */
  net_run(&net, 3000);
  CHECK_EQ(net_member(a, "c").status, RUMOR_MEMBER_BLOCKED);
  net.paused[2] = 0; /* SIGCONT */
  net_run(&net, 1000);
  CHECK(rumor_node_metrics(c)->stalls >= 1);
  CHECK(rumor_node_metrics(c)->rejects_received >= 1);
  CHECK_EQ(rumor_node_metrics(c)->rejoins, 1);
  CHECK(rumor_node_generation(c) > gen);
  CHECK(find(&self, "c", RUMOR_EVENT_REJOINED) >= 0);
  /* The stall did not count against a and b. */
  CHECK_EQ(net_member(c, "a").status, RUMOR_MEMBER_ALIVE);
  CHECK_EQ(net_member(c, "b").status, RUMOR_MEMBER_ALIVE);
  for (int i = 0; i < 2; i++) {
    rumor_member_info_t m = net_member(net.nodes[i], "c");
    CHECK_EQ(m.status, RUMOR_MEMBER_ALIVE);
    CHECK_EQ(m.generation, rumor_node_generation(c));
    CHECK(holds(net.nodes[i], "c", "k", "v"));
  }
  int blocked = find(&ev, "c", RUMOR_EVENT_BLOCKED);
  CHECK(blocked >= 0 && ev.gen[blocked] == gen);
  int joined = -1;
  for (int i = blocked; i < ev.n; i++)
    if (ev.type[i] == RUMOR_EVENT_JOINED && strcmp(ev.member[i], "c") == 0) joined = i;
  CHECK(joined > blocked && ev.gen[joined] == rumor_node_generation(c));
  net_free(&net);
}

static void no_rejoin_when_disabled(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cfg.auto_rejoin = 0;
  cluster(&net, 3, &cfg, 5);
  rumor_node_t *c = net.nodes[2];
  uint64_t gen = rumor_node_generation(c);
  net.paused[2] = 1;
  net_run(&net, 3000);
  net.paused[2] = 0;
  net_run(&net, 2000);
  CHECK(rumor_node_metrics(c)->rejects_received >= 1);
  CHECK_EQ(rumor_node_generation(c), gen);
  CHECK_EQ(net_member(net.nodes[0], "c").status, RUMOR_MEMBER_BLOCKED);
  CHECK(rumor_node_metrics(net.nodes[0])->drops_blocked > 0);
  net_free(&net);
}

/* A node at the last generation (UINT64_MAX, given explicitly) that was
 * blocked as expired has no newer generation to rejoin under: it stays
 * where it is (blocked; auto_rejoin cannot help it) rather than wrap to a
 * generation below every one it had. */
static void no_rejoin_past_the_last_generation(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  net_init(&net, 9);
  net_add(&net, "a", -1, &cfg);
  net_add(&net, "b", 0, &cfg);
  cfg.generation = UINT64_MAX;
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_start(net.nodes[i]), 0);
  net_run(&net, 1000);
  CHECK_EQ(net_member(net.nodes[0], "c").status, RUMOR_MEMBER_ALIVE);
  net.paused[2] = 1;
  net_run(&net, 3000);
  CHECK_EQ(net_member(net.nodes[0], "c").status, RUMOR_MEMBER_BLOCKED);
  net.paused[2] = 0;
  net_run(&net, 2000);
  CHECK(rumor_node_metrics(c)->rejects_received >= 1);
  CHECK_EQ(rumor_node_generation(c), UINT64_MAX);
  CHECK_EQ(rumor_node_metrics(c)->rejoins, 0);
  net_free(&net);
}

/* Delivers to b a crafted ACK from a that continues what b holds of a with
 * one entry: a's block of b's generation gen, for reason. */
static void send_block_of_b(fake_net *net, rumor_node_t *a, rumor_node_t *b, uint64_t gen,
                            uint8_t reason) {
  uint8_t buf[1400], slot[RUMOR_WIRE_MAX_SLOT], value[12];
  rumor_wire_writer w;
  struct sockaddr_storage addr;
  size_t slot_len = rumor__slot_encode(slot, "blocked", 7, "b", 1);
  size_t vlen = rumor__varint_put(value, gen);
  value[vlen++] = reason;
  uint64_t held = net_member(b, "a").max_seq;
  net_addr(0, &addr);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "a", 1,
                             rumor_node_generation(a), &addr), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "a", 1, &addr, rumor_node_generation(a), held, held + 1, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, (const char *)slot, slot_len, held + 1, 0, value, vlen), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  rumor__node_recv(b, &addr, buf, w.len);
  CHECK_EQ(net_member(b, "a").max_seq, held + 1); /* taken in */
  (void)net;
}

static void rejoin_on_seeing_own_block(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 2, &cfg, 6);
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  uint64_t gen = rumor_node_generation(b);
  rumor_node_stop(a); /* only the crafted datagrams speak for a now */
  /* A block by policy, or of an older generation of b: nothing to answer. */
  send_block_of_b(&net, a, b, gen, RUMOR_BLOCK_POLICY);
  send_block_of_b(&net, a, b, gen - 1, RUMOR_BLOCK_EXPIRED);
  CHECK_EQ(rumor_node_metrics(b)->rejoins, 0);
  CHECK_EQ(rumor_node_generation(b), gen);
  /* b's current generation blocked as expired: b rejoins at once. */
  send_block_of_b(&net, a, b, gen, RUMOR_BLOCK_EXPIRED);
  CHECK_EQ(rumor_node_metrics(b)->rejoins, 1);
  CHECK(rumor_node_generation(b) > gen);
  net_free(&net);
}

static void leave_is_reported_left(void) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  cluster(&net, 4, &cfg, 7);
  rumor_node_t *a = net.nodes[0];
  rumor_node_on_member(net.nodes[3], on_member, &ev);
  int status = 1;
  CHECK_EQ(rumor_node_leave(a, 2000, NULL, NULL), 0);
  CHECK_EQ(rumor_node_leave(a, 2000, NULL, NULL), RUMOR_ESTATE); /* once */
  (void)status;
  net_run(&net, 300); /* far less than the expiration */
  CHECK_EQ(rumor_node_stop(a), 0);
  for (int i = 1; i < 4; i++) {
    rumor_member_info_t m = net_member(net.nodes[i], "a");
    CHECK_EQ(m.status, RUMOR_MEMBER_BLOCKED);
    CHECK_EQ(m.block_reason, RUMOR_BLOCK_LEFT);
    CHECK(m.left);
  }
  int i = find(&ev, "a", RUMOR_EVENT_BLOCKED);
  CHECK(i >= 0 && ev.reason[i] == RUMOR_BLOCK_LEFT);
  net_free(&net);
}

typedef struct leave_result {
  int calls, status, stopped;
} leave_result;

static void on_left(rumor_node_t *node, int status, void *arg) {
  leave_result *r = arg;
  r->calls++;
  r->status = status;
  r->stopped = rumor_node_start(node) == RUMOR_ESTATE; /* cannot start again */
}

static void leave_waits_for_fan_out(void) {
  fake_net net;
  leave_result r = {0};
  rumor_config_t cfg = fast();
  cluster(&net, 3, &cfg, 8);
  CHECK_EQ(rumor_node_leave(net.nodes[0], 2000, on_left, &r), 0);
  CHECK_EQ(r.calls, 0); /* never inside the call */
  for (int i = 0; i < 100 && r.calls == 0; i++) net_run(&net, 10);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 0);
  CHECK(r.stopped);
  /* Nobody to tell: the wait times out and the node stops anyway. */
  leave_result t = {0};
  net.down[2] = 1;
  net.down[1] = 1;
  net_run(&net, 10);
  CHECK_EQ(rumor_node_leave(net.nodes[1], 500, on_left, &t), 0);
  net_run(&net, 1000);
  CHECK_EQ(t.calls, 1);
  CHECK(t.status == UV_ETIMEDOUT || t.status == 0); /* 0 if b had already blocked c */
  /* Closing a leaving node cancels the wait. */
  leave_result x = {0};
  CHECK_EQ(rumor_node_leave(net.nodes[2], 5000, on_left, &x), 0);
  rumor_node_close(net.nodes[2], NULL, NULL);
  net.nodes[2] = NULL;
  CHECK_EQ(x.calls, 1);
  CHECK_EQ(x.status, UV_ECANCELED);
  net_free(&net);
}

static void policy_and_topology_blocks(void) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  cluster(&net, 4, &cfg, 9);
  rumor_node_t *a = net.nodes[0], *c = net.nodes[2];
  rumor_node_on_member(a, on_member, &ev);
  CHECK_EQ(rumor_node_block(a, "a", 1, RUMOR_BLOCK_POLICY), RUMOR_EINVAL); /* never itself */
  CHECK_EQ(rumor_node_block(a, "zz", 2, RUMOR_BLOCK_POLICY), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_block(a, "c", 1, RUMOR_BLOCK_EXPIRED), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_block(a, "c", 1, RUMOR_BLOCK_POLICY), 0);
  uint64_t gen = rumor_node_generation(c);
  net_run(&net, 2000);
  rumor_member_info_t m = net_member(a, "c");
  CHECK(m.status == RUMOR_MEMBER_BLOCKED && m.block_reason == RUMOR_BLOCK_POLICY);
  CHECK_EQ(rumor_node_generation(c), gen); /* policy blocks are not answered by rejoining */
  CHECK(rumor_node_metrics(a)->drops_blocked > 0);
  CHECK_EQ(net_member(net.nodes[1], "c").status, RUMOR_MEMBER_ALIVE); /* b has no such policy */
  /* a's block is published: b holds it. */
  const uint8_t *v;
  size_t len;
  CHECK_EQ(rumor_node_map_get(net.nodes[1], "a", 1, "blocked", 7, "c", 1, &v, &len, NULL), 0);
  /* Topology: only b and d; c stays blocked (policy), ids a never met are learned. */
  rumor_peer_t peers[] = {{"b", NULL}, {"d", NULL}, {"e", "10.0.0.9:7946"}};
  CHECK_EQ(rumor_node_set_topology(a, peers, 3), 0);
  CHECK_EQ(net_member(a, "e").status, RUMOR_MEMBER_ALIVE);
  rumor_peer_t only_b[] = {{"b", NULL}};
  CHECK_EQ(rumor_node_set_topology(a, only_b, 1), 0);
  m = net_member(a, "d");
  CHECK(m.status == RUMOR_MEMBER_BLOCKED && m.block_reason == RUMOR_BLOCK_TOPOLOGY);
  int i = find(&ev, "d", RUMOR_EVENT_BLOCKED);
  CHECK(i >= 0 && ev.reason[i] == RUMOR_BLOCK_TOPOLOGY);
  /* Back in the topology: the topology block is lifted, the policy one stays. */
  rumor_peer_t bd[] = {{"b", NULL}, {"d", NULL}, {"c", NULL}};
  CHECK_EQ(rumor_node_set_topology(a, bd, 3), 0);
  CHECK_EQ(net_member(a, "d").status, RUMOR_MEMBER_ALIVE);
  CHECK_EQ(net_member(a, "c").block_reason, RUMOR_BLOCK_POLICY);
  rumor_peer_t bad[] = {{"b", "not an address"}};
  CHECK_EQ(rumor_node_set_topology(a, bad, 1), RUMOR_EADDR);
  CHECK_EQ(net_member(a, "d").status, RUMOR_MEMBER_ALIVE); /* a bad list changes nothing */
  CHECK_EQ(rumor_node_remove_peer(a, "d", 1), 0);
  CHECK_EQ(net_member(a, "d").block_reason, RUMOR_BLOCK_TOPOLOGY);
  CHECK_EQ(rumor_node_add_peer(a, "nope"), RUMOR_EADDR);
  CHECK_EQ(rumor_node_add_peer(a, "10.0.0.9:7946"), 0);
  net_run(&net, 500);
  net_free(&net);
}

static void blocked_state_is_retired(void) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  cfg.blocked_retention_ms = 2000;
  cluster(&net, 3, &cfg, 10);
  rumor_node_t *a = net.nodes[0], *c = net.nodes[2];
  rumor_node_on_member(a, on_member, &ev);
  CHECK(rumor_node_set(c, "k", 1, "v", 1) > 0);
  net_run(&net, 500);
  net.down[2] = 1;
  net_run(&net, 2000);
  CHECK_EQ(net_member(a, "c").status, RUMOR_MEMBER_BLOCKED);
  CHECK(holds(a, "c", "k", "v")); /* kept, and still relayed, for a while */
  net_run(&net, 2500);
  rumor_member_info_t m = net_member(a, "c");
  CHECK_EQ(m.status, RUMOR_MEMBER_REMOVED);
  CHECK_EQ(m.nkeys, 0);
  CHECK(find(&ev, "c", RUMOR_EVENT_REMOVED) > find(&ev, "c", RUMOR_EVENT_BLOCKED));
  CHECK_EQ(rumor_node_metrics(a)->members_removed, 1);
  /* c comes back: its old generation stays refused, but the rejection of
   * it (a probes its removed members now and then) makes c rejoin. */
  uint64_t gen = rumor_node_generation(c);
  net.down[2] = 0;
  net_run(&net, 3000);
  CHECK(rumor_node_generation(c) > gen);
  m = net_member(a, "c");
  CHECK_EQ(m.status, RUMOR_MEMBER_ALIVE);
  CHECK_EQ(m.generation, rumor_node_generation(c));
  CHECK(holds(a, "c", "k", "v"));
  net_free(&net);
}

/* Every node sees every other alive, under its current generation. */
static int all_alive(fake_net *net) {
  for (int i = 0; i < net->n; i++)
    for (int j = 0; j < net->n; j++) {
      if (i == j) continue;
      rumor_member_info_t m = net_member(net->nodes[i], rumor_node_id(net->nodes[j]));
      if (m.status != RUMOR_MEMBER_ALIVE || m.generation != rumor_node_generation(net->nodes[j]))
        return 0;
    }
  return 1;
}

static void healed_partition_reunites(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 4, &cfg, 21);
  net.side[2] = net.side[3] = 1;
  net.partitioned = 1; /* {a, b} | {c, d}: each side keeps a live peer */
  net_run(&net, 3000);
  CHECK_EQ(net_member(net.nodes[0], "c").status, RUMOR_MEMBER_BLOCKED);
  CHECK_EQ(net_member(net.nodes[2], "a").status, RUMOR_MEMBER_BLOCKED);
  net.partitioned = 0;
  for (int i = 0; i < 60 && !all_alive(&net); i++) net_run(&net, 500);
  CHECK(all_alive(&net));
  net_free(&net);
}

/* What a listener of member events believes of each member: the last of
 * joined (1), alive (2), blocked (3) it heard. */
typedef struct tally {
  char id[8][8];
  int state[8], n;
} tally_t;

static void tally_event(rumor_node_t *node, const rumor_member_event_t *ev, void *arg) {
  tally_t *t = (tally_t *)arg;
  (void)node;
  int k = 0;
  while (k < t->n && (strlen(t->id[k]) != ev->member_len || memcmp(t->id[k], ev->member, ev->member_len) != 0)) k++;
  if (k == t->n) {
    if (t->n == 8 || ev->member_len >= sizeof t->id[0]) return;
    memcpy(t->id[k], ev->member, ev->member_len);
    t->id[k][ev->member_len] = '\0';
    t->n++;
  }
  if (ev->type == RUMOR_EVENT_JOINED) t->state[k] = 1;
  else if (ev->type == RUMOR_EVENT_ALIVE) t->state[k] = 2;
  else if (ev->type == RUMOR_EVENT_BLOCKED || ev->type == RUMOR_EVENT_REMOVED) t->state[k] = 3;
}

/* Everyone a node holds alive, with its heartbeat, its events call alive too.
 * A node that rejoined takes back the members it had blocked itself in the
 * same generation; their heartbeat entries are already there, so no new one
 * says "alive": the take-back must (it said only "joined"). */
static void events_agree_after_a_healed_partition(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 4, &cfg, 23);
  tally_t t[4];
  memset(t, 0, sizeof t);
  for (int i = 0; i < 4; i++) rumor_node_on_member(net.nodes[i], tally_event, &t[i]);
  net.side[2] = net.side[3] = 1;
  net.partitioned = 1;
  net_run(&net, 3000);
  net.partitioned = 0;
  for (int i = 0; i < 60 && !all_alive(&net); i++) net_run(&net, 500);
  CHECK(all_alive(&net));
  net_run(&net, 2000); /* heartbeat entries of new generations arrive */
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < t[i].n; k++) {
      rumor_member_info_t m = net_member(net.nodes[i], t[i].id[k]);
      if (!m.self && m.status == RUMOR_MEMBER_ALIVE && m.has_heartbeat) CHECK_EQ(t[i].state[k], 2);
    }
  net_free(&net);
}

static void healed_outage_reunites(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cfg.blocked_retention_ms = 2000; /* longer than the outage: removed, not just blocked */
  cluster(&net, 6, &cfg, 31);
  for (int i = 0; i < 6; i++) net.down[i] = 1; /* a switch reboots */
  net_run(&net, 5000);
  CHECK_EQ(net_member(net.nodes[0], "b").status, RUMOR_MEMBER_REMOVED);
  for (int i = 0; i < 6; i++) net.down[i] = 0;
  for (int i = 0; i < 120 && !all_alive(&net); i++) net_run(&net, 500);
  CHECK(all_alive(&net));
  net_free(&net);
}

static void topology_blocks_hold(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cfg.blocked_retention_ms = 1000;
  net_init(&net, 24);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 500);
  /* c is known by name only when the topology drops it: the block holds for
   * the first process of c that shows up. */
  rumor_peer_t bc[] = {{"b", NULL}, {"c", NULL}}, only_b[] = {{"b", NULL}};
  CHECK_EQ(rumor_node_set_topology(a, bc, 2), 0);
  CHECK_EQ(rumor_node_set_topology(a, only_b, 1), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 1000);
  rumor_member_info_t m = net_member(a, "c");
  CHECK(m.status != RUMOR_MEMBER_ALIVE && m.block_reason == RUMOR_BLOCK_TOPOLOGY);
  CHECK_EQ(net_member(b, "c").status, RUMOR_MEMBER_ALIVE);
  /* Past the retention its state is gone; back in the topology, it returns. */
  net_run(&net, 2000);
  CHECK_EQ(net_member(a, "c").status, RUMOR_MEMBER_REMOVED);
  CHECK_EQ(rumor_node_set_topology(a, bc, 2), 0);
  net_run(&net, 2000);
  m = net_member(a, "c");
  CHECK(m.status == RUMOR_MEMBER_ALIVE && m.generation == rumor_node_generation(c));
  CHECK(m.heartbeats > 1);
  net_free(&net);
}

static void newcomer_learns_the_dead_are_dead(void) {
  fake_net net;
  mevents ev = {0};
  rumor_config_t cfg = fast();
  cluster(&net, 3, &cfg, 25);
  net.down[2] = 1; /* c dies */
  net_run(&net, 3000);
  rumor_node_t *d = net_add(&net, "d", 0, &cfg);
  rumor_node_on_member(d, on_member, &ev);
  CHECK_EQ(rumor_node_start(d), 0);
  net_run(&net, 500);
  rumor_member_info_t m = net_member(d, "c");
  CHECK(m.status == RUMOR_MEMBER_BLOCKED && m.block_reason == RUMOR_BLOCK_EXPIRED);
  CHECK(find(&ev, "c", RUMOR_EVENT_ALIVE) < 0);
  CHECK(find(&ev, "c", RUMOR_EVENT_JOINED) < 0);
  CHECK_EQ(net_member(d, "a").status, RUMOR_MEMBER_ALIVE); /* the living are not affected */
  CHECK_EQ(net_member(d, "b").status, RUMOR_MEMBER_ALIVE);
  net_free(&net);
}

static struct {
  int inner_rc, inner_calls, outer_calls, once;
} re;
static void inner_left(rumor_node_t *n, int s, void *a) { (void)n, (void)s, (void)a, re.inner_calls++; }
static void outer_left(rumor_node_t *n, int s, void *a) { (void)n, (void)s, (void)a, re.outer_calls++; }
static void leave_again(rumor_node_t *n, const rumor_update_t *u, void *arg) {
  (void)arg;
  if (u->local && u->system && u->key_len == 4 && memcmp(u->key, "left", 4) == 0 && !re.once) {
    re.once = 1;
    re.inner_rc = rumor_node_leave(n, 500, inner_left, NULL);
  }
}

static void leave_from_its_own_event(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 3, &cfg, 26);
  rumor_node_on_update(net.nodes[0], leave_again, NULL);
  CHECK_EQ(rumor_node_leave(net.nodes[0], 500, outer_left, NULL), 0);
  net_run(&net, 2000);
  CHECK(re.once);
  CHECK_EQ(re.inner_rc, RUMOR_ESTATE); /* refused, not silently dropped */
  CHECK_EQ(re.inner_calls, 0);
  CHECK_EQ(re.outer_calls, 1);
  net_free(&net);
}

static void limits(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  rumor_error_t err;
  cfg.heartbeat_expiration_ms = 250; /* under 3 rounds */
  cfg.id = "a";
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "heartbeat_expiration_ms") == 0);
  cfg.heartbeat_expiration_ms = 0; /* off */
  CHECK_EQ(rumor_config_check(&cfg, &err), 0);
  cfg.phi_threshold = 0;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  cfg = fast();
  cfg.mtu = 576;
  net_init(&net, 27);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  static char names[6][64];
  rumor_stat_t st[6];
  for (int i = 0; i < 6; i++) {
    memset(names[i], 'a' + i, 64);
    st[i] = (rumor_stat_t){names[i], 64, INT64_MIN};
  }
  CHECK_EQ(rumor_node_set_stats(a, st, 6), RUMOR_ETOOBIG); /* would not fit a 576-byte datagram */
  CHECK_EQ(rumor_node_set_stats(a, st, 1), 0);
  net_free(&net);
}

static void reject_wire(void) {
  uint8_t buf[256];
  rumor_wire_writer w;
  rumor_wire_msg msg;
  struct sockaddr_storage addr;
  net_addr(0, &addr);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_REJECT, "c", 1, "a", 1, 9, &addr), 0);
  CHECK_EQ(rumor__wire_reject(&w, 123456789, RUMOR_BLOCK_EXPIRED), 0);
  CHECK_EQ(rumor__wire_decode(buf, w.len, &msg), RUMOR_WIRE_OK);
  CHECK(msg.reject_gen == 123456789 && msg.reject_reason == RUMOR_BLOCK_EXPIRED);
  for (size_t i = 0; i < w.len; i++) CHECK(rumor__wire_decode(buf, i, &msg) != RUMOR_WIRE_OK);
  buf[w.len - 1] = 0; /* no reason */
  CHECK(rumor__wire_decode(buf, w.len, &msg) != RUMOR_WIRE_OK);
  buf[w.len - 1] = RUMOR_WIRE_MAX_REASON + 1;
  CHECK(rumor__wire_decode(buf, w.len, &msg) != RUMOR_WIRE_OK);
}

int main(void) {
  RUN(heartbeats_carry_stats);
  RUN(heartbeat_decoding);
  RUN(expiration_detector);
  RUN(phi_detector);
  RUN(stalled_node_rejoins);
  RUN(no_rejoin_when_disabled);
  RUN(no_rejoin_past_the_last_generation);
  RUN(rejoin_on_seeing_own_block);
  RUN(leave_is_reported_left);
  RUN(leave_waits_for_fan_out);
  RUN(policy_and_topology_blocks);
  RUN(blocked_state_is_retired);
  RUN(healed_partition_reunites);
  RUN(events_agree_after_a_healed_partition);
  RUN(healed_outage_reunites);
  RUN(topology_blocks_hold);
  RUN(newcomer_learns_the_dead_are_dead);
  RUN(leave_from_its_own_event);
  RUN(limits);
  RUN(reject_wire);
  return 0;
}

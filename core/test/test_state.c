/* test_state.c: the state model on an in-memory network: deletes and their
 * purge, resync of a peer that missed purged deletes, map state, eager
 * push and its stop rule, values too big for a datagram (frames), and
 * rumor_node_await. */
#include "fake_net.h"
#include "wire.h"

typedef struct events {
  int n, deleted, maps;
  char key[256][16];
  char map_key[256][16];
  int del[256];
  uint64_t seq[256];
} events;

static void record(rumor_node_t *node, const rumor_update_t *u, void *arg) {
  if (u->system) return; /* heartbeats: test_liveness.c */
  events *ev = arg;
  (void)node;
  if (ev->n >= 256) return;
  snprintf(ev->key[ev->n], 16, "%.*s", (int)u->key_len, u->key);
  snprintf(ev->map_key[ev->n], 16, "%.*s", (int)u->map_key_len, u->map_key ? u->map_key : "");
  ev->del[ev->n] = u->deleted;
  ev->seq[ev->n] = u->seq;
  ev->deleted += u->deleted;
  ev->maps += u->map_key != NULL;
  ev->n++;
}

static void set(rumor_node_t *n, const char *k, const char *v) {
  CHECK(rumor_node_set(n, k, strlen(k), v, strlen(v)) > 0);
}

static void del(rumor_node_t *n, const char *k) { CHECK(rumor_node_delete(n, k, strlen(k)) > 0); }

static int has_key(rumor_node_t *n, const char *member_id, const char *k) {
  const uint8_t *v;
  size_t len;
  return rumor_node_get(n, member_id, strlen(member_id), k, strlen(k), &v, &len, NULL) == 0;
}

static rumor_config_t config(uint32_t grace_ms) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.tombstone_grace_ms = grace_ms;
  return cfg;
}

static void delete_spreads_then_is_purged(void) {
  fake_net net;
  events ev = {0};
  rumor_config_t cfg = config(5000);
  net_init(&net, 11);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  rumor_node_on_update(b, record, &ev);
  set(a, "k", "v");
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 1000);
  CHECK(holds(b, "a", "k", "v"));
  del(a, "k");
  CHECK_EQ(rumor_node_delete(a, "k", 1), 0); /* already gone: nothing to do */
  net_run(&net, 0);                          /* the push, no round needed */
  CHECK(!has_key(a, "a", "k"));
  CHECK(!has_key(b, "a", "k"));
  CHECK_EQ(ev.n, 2);
  CHECK(ev.del[1] && strcmp(ev.key[1], "k") == 0 && ev.seq[1] > ev.seq[0]);
  CHECK_EQ(net_member(a, "a").ntombstones, 1);
  CHECK_EQ(net_member(b, "a").ntombstones, 1);
  CHECK_EQ(net_member(b, "a").nkeys, 1); /* its heartbeat */
  /* Kept through the grace period, forgotten after it, on both. */
  net_run(&net, 4000);
  CHECK_EQ(net_member(b, "a").ntombstones, 1);
  net_run(&net, 2000);
  CHECK_EQ(net_member(a, "a").ntombstones, 0);
  CHECK_EQ(net_member(b, "a").ntombstones, 0);
  CHECK_EQ(rumor_node_metrics(a)->tombstones_purged, 1);
  CHECK_EQ(rumor_node_metrics(b)->tombstones_purged, 1);
  /* A key set again after its delete was purged is an ordinary write. */
  set(a, "k", "again");
  net_run(&net, 1000);
  CHECK(holds(b, "a", "k", "again"));
  net_free(&net);
}

/* c is cut off while a deletes a key and purges the tombstone; when c comes
 * back its watermark is below a's floor, and a resync must remove the value
 * c still holds (the resurrection chitchat #121/#155 are about). */
static void resync_after_missed_purge(int many_keys) {
  fake_net net;
  events ev = {0};
  rumor_config_t cfg = config(3000);
  char k[32];
  net_init(&net, 12);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *c = net_add(&net, "c", 0, &cfg);
  rumor_node_on_update(c, record, &ev);
  set(a, "x", "1");
  set(a, "y", "2");
  /* Enough state that a resync cannot go in one datagram: it goes by TCP. */
  for (int i = 0; i < many_keys; i++) {
    snprintf(k, sizeof(k), "fill-%03d", i);
    set(a, k, "padding-padding-padding-padding");
  }
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  for (int i = 0; i < 100 && !has_key(c, "a", "y"); i++) net_run(&net, 500);
  CHECK(holds(c, "a", "x", "1") && holds(c, "a", "y", "2"));
  net.down[1] = 1;
  del(a, "x");
  set(a, "z", "3");
  net_run(&net, 5000); /* a purges the tombstone of x */
  CHECK_EQ(rumor_node_metrics(a)->tombstones_purged, 1);
  CHECK(holds(c, "a", "x", "1")); /* stale, and nobody holds the delete now */
  int before = ev.deleted;
  net.down[1] = 0;
  for (int i = 0; i < 40 && (has_key(c, "a", "x") || !has_key(c, "a", "z")); i++) net_run(&net, 500);
  CHECK(!has_key(c, "a", "x"));
  CHECK(holds(c, "a", "y", "2") && holds(c, "a", "z", "3"));
  CHECK(rumor_node_metrics(a)->resyncs_sent >= 1);
  CHECK_EQ(rumor_node_metrics(c)->entries_swept, 1);
  CHECK_EQ(ev.deleted, before + 1); /* c's subscribers hear x is gone */
  if (many_keys) CHECK(rumor_node_metrics(a)->tcp_transfers >= 1);
  CHECK_EQ(net_member(c, "a").nkeys, net_member(a, "a").nkeys);
  net_free(&net);
}

static void resync_in_a_datagram(void) { resync_after_missed_purge(0); }
static void resync_over_tcp(void) { resync_after_missed_purge(60); }

static void collect_key(const char *k, size_t len, void *arg) {
  char *out = arg;
  strncat(out, k, len);
  strcat(out, ",");
}

static void map_state(void) {
  fake_net net;
  events ev = {0};
  char keys[64] = "";
  const uint8_t *v;
  size_t len;
  net_init(&net, 13);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  rumor_node_on_update(b, record, &ev);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 1000);
  CHECK(rumor_node_map_set(a, "svc", 3, "web", 3, "10.0.0.1", 8) > 0);
  CHECK(rumor_node_map_set(a, "svc", 3, "db", 2, "10.0.0.2", 8) > 0);
  set(a, "svc", "plain"); /* a plain key of the same name is another slot */
  net_run(&net, 0);
  CHECK_EQ(rumor_node_map_get(b, "a", 1, "svc", 3, "web", 3, &v, &len, NULL), 0);
  CHECK(len == 8 && memcmp(v, "10.0.0.1", 8) == 0);
  CHECK(holds(b, "a", "svc", "plain"));
  CHECK_EQ(rumor_node_map_keys(b, "a", 1, "svc", 3, collect_key, keys), 0);
  CHECK(strcmp(keys, "web,db,") == 0); /* in write order, live ones only */
  /* One map entry changes: only it travels, and only it is an event. */
  uint64_t merged = rumor_node_metrics(b)->entries_merged;
  int events_before = ev.n;
  CHECK(rumor_node_map_set(a, "svc", 3, "web", 3, "10.0.0.9", 8) > 0);
  net_run(&net, 0);
  CHECK_EQ(rumor_node_metrics(b)->entries_merged, merged + 1);
  CHECK_EQ(ev.n, events_before + 1);
  CHECK(strcmp(ev.key[ev.n - 1], "svc") == 0 && strcmp(ev.map_key[ev.n - 1], "web") == 0);
  CHECK(rumor_node_map_remove(a, "svc", 3, "db", 2) > 0);
  CHECK_EQ(rumor_node_map_remove(a, "svc", 3, "db", 2), 0);
  net_run(&net, 0);
  CHECK(ev.del[ev.n - 1] && strcmp(ev.map_key[ev.n - 1], "db") == 0);
  CHECK(rumor_node_map_get(b, "a", 1, "svc", 3, "db", 2, &v, &len, NULL) != 0);
  keys[0] = 0;
  CHECK_EQ(rumor_node_map_keys(b, "a", 1, "svc", 3, collect_key, keys), 0);
  CHECK(strcmp(keys, "web,") == 0);
  CHECK(holds(b, "a", "svc", "plain"));
  CHECK_EQ(ev.maps, 4);
  net_free(&net);
}

#define CLUSTER 24

static void push_reaches_most_without_rounds(void) {
  fake_net net;
  char id[8];
  rumor_node_t *nodes[CLUSTER];
  net_init(&net, 14);
  for (int i = 0; i < CLUSTER; i++) {
    snprintf(id, sizeof(id), "n%d", i);
    nodes[i] = net_add(&net, id, i == 0 ? -1 : 0, NULL);
    CHECK_EQ(rumor_node_start(nodes[i]), 0);
  }
  net_run(&net, 20000);
  for (int i = 0; i < CLUSTER; i++) CHECK_EQ(rumor_node_member_count(nodes[i]), CLUSTER);
  uint64_t pushes = 0;
  for (int i = 0; i < CLUSTER; i++) pushes += rumor_node_metrics(nodes[i])->pushes_sent;
  CHECK_EQ(pushes, 0); /* nobody wrote anything */

  set(nodes[5], "news", "hot");
  net_run(&net, 0); /* the push timer, at the same instant: no round runs */
  int reached = 0;
  for (int i = 0; i < CLUSTER; i++) reached += holds(nodes[i], "n5", "news", "hot");
  /* Stop rule: everyone forwards a write at most once, to fan_out peers
   * and its ring successor. */
  pushes = 0;
  for (int i = 0; i < CLUSTER; i++) {
    const rumor_metrics_t *m = rumor_node_metrics(nodes[i]);
    CHECK(m->pushes_sent <= 4);
    pushes += m->pushes_sent;
  }
  CHECK(pushes <= 4 * CLUSTER);
  /* Forward-if-new to random peers alone misses about e^-3 of the nodes;
   * the successor closes the informed set along the ring, so everyone has
   * it without any round. */
  CHECK_EQ(reached, CLUSTER);
  net_run(&net, 3000);
  for (int i = 0; i < CLUSTER; i++) CHECK(holds(nodes[i], "n5", "news", "hot"));
  net_free(&net);
}

static void duplicated_and_reordered_pushes(void) {
  fake_net net;
  events ev = {0};
  net_init(&net, 15);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  rumor_node_on_update(b, record, &ev);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 1000);
  /* Two writes in two loop iterations: two pushes, captured. */
  set(a, "k1", "1");
  net_run(&net, 0);
  CHECK(net.qlen == 0 && holds(b, "a", "k1", "1"));
  set(a, "k2", "2");
  rumor__node_timer(a, RUMOR_TIMER_PUSH); /* the push without delivering it */
  set(a, "k3", "3");
  rumor__node_timer(a, RUMOR_TIMER_PUSH);
  CHECK_EQ(net.qlen, 2);
  net_datagram p2 = net.queue[0], p3 = net.queue[1];
  net.qlen = 0;
  int before = ev.n;
  struct sockaddr_storage from_a; /* where a's datagrams come from */
  net_addr(0, &from_a);
  /* k3's push first: a gap (b lacks k2), refused and counted. */
  rumor__node_recv(b, &from_a, p3.data, p3.len);
  CHECK_EQ(ev.n, before);
  CHECK_EQ(rumor_node_metrics(b)->deltas_gap, 1);
  /* Then k2's, twice, then k3's again. */
  rumor__node_recv(b, &from_a, p2.data, p2.len);
  rumor__node_recv(b, &from_a, p2.data, p2.len);
  rumor__node_recv(b, &from_a, p3.data, p3.len);
  CHECK_EQ(ev.n, before + 2);
  CHECK(strcmp(ev.key[before], "k2") == 0 && strcmp(ev.key[before + 1], "k3") == 0);
  CHECK(ev.seq[before] < ev.seq[before + 1]);
  free(p2.data);
  free(p3.data);
  net_drop_queue(&net);
  net_free(&net);
}

static void big_values_go_by_frames(void) {
  fake_net net;
  static uint8_t big[200 * 1024];
  const uint8_t *v;
  size_t len;
  for (size_t i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 7 + i / 251);
  net_init(&net, 16);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  rumor_node_t *c = net_add(&net, "c", 0, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 2000);
  set(a, "small", "before");
  CHECK(rumor_node_set(a, "big", 3, big, sizeof(big)) > 0);
  set(a, "small2", "after");
  for (int i = 0; i < 60; i++) {
    int done = rumor_node_get(b, "a", 1, "big", 3, &v, &len, NULL) == 0 &&
               rumor_node_get(c, "a", 1, "big", 3, &v, &len, NULL) == 0;
    if (done) break;
    net_run(&net, 500);
  }
  for (int i = 0; i < 2; i++) {
    rumor_node_t *n = i ? c : b;
    CHECK_EQ(rumor_node_get(n, "a", 1, "big", 3, &v, &len, NULL), 0);
    CHECK(len == sizeof(big) && memcmp(v, big, len) == 0);
    CHECK(holds(n, "a", "small", "before") && holds(n, "a", "small2", "after"));
    CHECK_EQ(rumor_node_metrics(n)->deltas_gap, 0);
    /* Pulled from one peer at a time: the value crossed to it once. */
    CHECK(rumor_node_metrics(n)->tcp_bytes_received < 2 * sizeof(big));
  }
  CHECK(net.frames_delivered > 0);
  uint64_t transfers = 0;
  for (int i = 0; i < 3; i++) transfers += rumor_node_metrics(net.nodes[i])->tcp_transfers;
  CHECK(transfers >= 2);
  net_free(&net);
}

static void lost_frames_are_sent_again(void) {
  fake_net net;
  static uint8_t big[5000];
  const uint8_t *v;
  size_t len;
  memset(big, 'x', sizeof(big));
  net_init(&net, 17);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 1000);
  CHECK(rumor_node_set(a, "big", 3, big, sizeof(big)) > 0);
  /* Let SYN/SYNACK/ACK through, drop any frame. */
  for (int i = 0; i < 20 && rumor_node_metrics(a)->tcp_failures == 0; i++) {
    rumor__node_timer(b, RUMOR_TIMER_ROUND);
    size_t head = 0;
    while (head < net.qlen) {
      net_datagram d = net.queue[head++];
      if (d.stream) {
        free(d.data);
        net_stream_done(&net, &d, UV_ECONNRESET);
      } else {
        net_deliver(&net, &d);
      }
    }
    net.qlen = 0;
  }
  CHECK(rumor_node_metrics(a)->tcp_failures >= 1);
  CHECK(rumor_node_get(b, "a", 1, "big", 3, &v, &len, NULL) != 0);
  net_run(&net, 3000);
  CHECK_EQ(rumor_node_get(b, "a", 1, "big", 3, &v, &len, NULL), 0);
  CHECK_EQ(len, sizeof(big));
  net_free(&net);
}

typedef struct wait_result {
  int calls, status;
  char missing[64];
  int b_held, c_held; /* what b and c held when the callback ran */
  rumor_node_t *b, *c;
} wait_result;

static void on_wait(rumor_node_t *node, int status, const char *const *missing, size_t nmissing,
                    void *arg) {
  wait_result *r = arg;
  (void)node;
  r->calls++;
  r->status = status;
  r->missing[0] = 0;
  for (size_t i = 0; i < nmissing; i++) {
    strcat(r->missing, missing[i]);
    strcat(r->missing, ",");
  }
  r->b_held = holds(r->b, "a", "k", "v");
  r->c_held = holds(r->c, "a", "k", "v");
}

static void await_every_live_member(void) {
  fake_net net;
  net_init(&net, 18);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  rumor_node_t *c = net_add(&net, "c", 0, NULL);
  wait_result r = {0};
  r.b = b;
  r.c = c;
  CHECK_EQ(rumor_node_await(a, 0, 100, on_wait, &r), RUMOR_ESTATE); /* not started */
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  CHECK_EQ(rumor_node_start(c), 0);
  net_run(&net, 2000);
  /* c is cut off: the wait times out naming c, and only c. */
  net.down[2] = 1;
  int64_t seq = rumor_node_set(a, "k", 1, "v", 1);
  CHECK_EQ(rumor_node_await(a, (uint64_t)seq + 1, 1000, on_wait, &r), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_await(a, (uint64_t)seq, 1000, on_wait, &r), 0);
  CHECK_EQ(r.calls, 0); /* never from inside the call */
  net_run(&net, 999);
  CHECK_EQ(r.calls, 0);
  net_run(&net, 2);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, UV_ETIMEDOUT);
  CHECK(strcmp(r.missing, "c,") == 0);
  /* c is back: the next wait ends once both hold it, not before. */
  net.down[2] = 0;
  CHECK_EQ(rumor_node_await(a, (uint64_t)seq, 10000, on_wait, &r), 0);
  net_run(&net, 10000);
  CHECK_EQ(r.calls, 2);
  CHECK_EQ(r.status, 0);
  CHECK(r.b_held && r.c_held);
  /* Stopping cancels what is pending. */
  seq = rumor_node_set(a, "k2", 2, "v", 1);
  net.down[1] = 1;
  CHECK_EQ(rumor_node_await(a, (uint64_t)seq, 10000, on_wait, &r), 0);
  net_run(&net, 100);
  CHECK_EQ(rumor_node_stop(a), 0);
  CHECK_EQ(r.calls, 3);
  CHECK_EQ(r.status, UV_ECANCELED);
  net_free(&net);
}

static int waits_done, closes;
static void count_wait(rumor_node_t *node, int status, const char *const *missing, size_t nmissing,
                       void *arg) {
  (void)node;
  (void)missing;
  (void)nmissing;
  *(int *)arg = status;
  waits_done++;
}

/* What a peer's previous process held of us does not count for its new one. */
static void await_forgets_a_restarted_peer(void) {
  fake_net net;
  rumor_config_t cfg;
  int status = 1;
  net_init(&net, 20);
  rumor_config_init(&cfg);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  cfg.generation = 100;
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  CHECK(rumor_node_set(a, "k", 1, "v", 1) > 0);
  net_run(&net, 2000);
  rumor_node_close(b, NULL, NULL);
  net.down[1] = 1;
  cfg.generation = 200;
  rumor_node_t *b2 = net_add(&net, "b", 0, &cfg);
  CHECK_EQ(rumor_node_start(b2), 0); /* its SYN to a is queued */
  int64_t seq = rumor_node_set(a, "k2", 2, "v", 1);
  net_drop_queue(&net); /* b2's SYN and a's push are lost */
  waits_done = 0;
  CHECK_EQ(rumor_node_await(a, 1, 5000, count_wait, &status), 0);
  /* b2 speaks (a digest naming only itself): a must not take the old
   * process's word that b holds seq 1. */
  rumor__node_timer(b2, RUMOR_TIMER_ROUND);
  net_datagram syn = net.queue[0];
  net.qlen = 0;
  net_deliver(&net, &syn);
  net_drop_queue(&net);
  rumor__node_timer(a, RUMOR_TIMER_AWAIT);
  net_drop_queue(&net);
  CHECK_EQ(waits_done, 0);
  net_run(&net, 3000);
  CHECK_EQ(waits_done, 1);
  CHECK_EQ(status, 0);
  CHECK(holds(b2, "a", "k", "v"));
  (void)seq;
  net_free(&net);
}

static void close_from_cancel(rumor_node_t *node, int status, const char *const *missing,
                              size_t nmissing, void *arg) {
  (void)missing;
  (void)nmissing;
  (void)arg;
  CHECK_EQ(status, UV_ECANCELED);
  waits_done++;
  rumor_node_close(node, NULL, NULL);
}

static void closed(rumor_node_t *node, void *arg) {
  (void)node;
  (void)arg;
  closes++;
}

/* A wait's callback that closes the node while rumor_node_stop (or close)
 * cancels it: the node closes once, after every callback ran. */
static void close_inside_cancelled_waits(void) {
  for (int via_close = 0; via_close < 2; via_close++) {
    fake_net net;
    net_init(&net, 21);
    rumor_node_t *a = net_add(&net, "a", -1, NULL);
    rumor_node_t *b = net_add(&net, "b", 0, NULL);
    CHECK_EQ(rumor_node_start(a), 0);
    CHECK_EQ(rumor_node_start(b), 0);
    net_run(&net, 1000);
    net.down[1] = 1;
    int64_t seq = rumor_node_set(a, "k", 1, "v", 1);
    waits_done = closes = 0;
    CHECK_EQ(rumor_node_await(a, (uint64_t)seq, 5000, close_from_cancel, NULL), 0);
    CHECK_EQ(rumor_node_await(a, (uint64_t)seq, 5000, close_from_cancel, NULL), 0);
    if (via_close) {
      rumor_node_close(a, closed, NULL);
      CHECK_EQ(closes, 1); /* the outer close's callback, once */
    } else {
      CHECK_EQ(rumor_node_stop(a), 0);
    }
    CHECK_EQ(waits_done, 2);
    CHECK(net.nodes[0] == NULL); /* freed */
    net_free(&net);
  }
}

static void restart_under_the_same_id(void) {
  fake_net net;
  rumor_config_t cfg;
  net_init(&net, 19);
  rumor_config_init(&cfg);
  cfg.generation = 100;
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  set(a, "old", "1");
  set(a, "kept", "1");
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  CHECK(holds(b, "a", "old", "1"));
  /* a's process dies; a new one with the same id starts elsewhere, seeded
   * by b, writing only some of its keys again. */
  rumor_node_close(a, NULL, NULL);
  cfg.generation = 200;
  rumor_node_t *a2 = net_add(&net, "a", 1, &cfg);
  set(a2, "kept", "2");
  CHECK_EQ(rumor_node_start(a2), 0);
  net_run(&net, 3000);
  CHECK(holds(b, "a", "kept", "2"));
  CHECK(!has_key(b, "a", "old"));
  CHECK_EQ(net_member(b, "a").generation, 200);
  CHECK_EQ(rumor_node_metrics(b)->generations_replaced, 1);
  net_free(&net);
}

int main(void) {
  RUN(delete_spreads_then_is_purged);
  RUN(resync_in_a_datagram);
  RUN(resync_over_tcp);
  RUN(map_state);
  RUN(push_reaches_most_without_rounds);
  RUN(duplicated_and_reordered_pushes);
  RUN(big_values_go_by_frames);
  RUN(lost_frames_are_sent_again);
  RUN(await_every_live_member);
  RUN(await_forgets_a_restarted_peer);
  RUN(close_inside_cancelled_waits);
  RUN(restart_under_the_same_id);
  return 0;
}

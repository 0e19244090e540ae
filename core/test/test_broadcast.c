/* test_broadcast.c: the tree's arithmetic (Riak's build_tree shape), tree
 * pushes on the in-memory network (one write reaches everyone in N-1
 * datagrams, a dead inner node's subtree is repaired by anti-entropy,
 * receivers follow the push's branching, views that differ end without
 * loops), and the rate limit (tokens per window, deferred writes, dropped
 * forwards, answers never limited). Rounds are switched off while a push is
 * checked, so what arrives came by pushes alone. */
#include "fake_net.h"
#include "tree.h"
#include "wire.h"

#define N 15

static const char *ids[] = {"n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07",
                            "n08", "n09", "n10", "n11", "n12", "n13", "n14"};

/* ---- tree arithmetic ---------------------------------------------------- */

/* riak_core_util's build_tree_test: 15 nodes named by their place in a
 * binary tree. Without cycles, 1 -> [11, 12], 11 -> [111, 112], ...,
 * 1222 -> [] (a leaf). */
static void riak_build_tree_shape(void) {
  static const char *riak[N] = {"1",    "11",   "12",   "111",  "112",  "121",  "122", "1111",
                                "1112", "1121", "1122", "1211", "1212", "1221", "1222"};
  size_t kids[RUMOR_MAX_BROADCAST_BRANCHING];
  char want[8];
  for (size_t pos = 0; pos < N; pos++) {
    size_t k = rumor__tree_children(N, 2, pos, kids);
    if (strlen(riak[pos]) == 4) {
      CHECK_EQ(k, 0);
      continue;
    }
    CHECK_EQ(k, 2);
    for (size_t j = 0; j < 2; j++) {
      snprintf(want, sizeof(want), "%s%c", riak[pos], (char)('1' + j));
      CHECK(strcmp(riak[kids[j]], want) == 0);
      CHECK_EQ(rumor__tree_parent(2, kids[j]), pos);
    }
  }
  CHECK_EQ(rumor__tree_depth(N, 2), 3);
  CHECK_EQ(rumor__tree_depth(16, 2), 4);
  CHECK_EQ(rumor__tree_depth(1, 2), 0);
  CHECK_EQ(rumor__tree_depth(0, 2), 0);
}

/* Every position but the root has exactly one parent, and the tree covers
 * all n positions, for every branching and size: no cycles, no orphans. */
static void every_position_once(void) {
  size_t kids[RUMOR_MAX_BROADCAST_BRANCHING];
  for (uint32_t b = 1; b <= RUMOR_MAX_BROADCAST_BRANCHING; b++) {
    for (size_t n = 1; n <= 40; n++) {
      int seen[40] = {0};
      size_t edges = 0;
      for (size_t pos = 0; pos < n; pos++) {
        size_t k = rumor__tree_children(n, b, pos, kids);
        CHECK(k <= b);
        for (size_t j = 0; j < k; j++) {
          CHECK(kids[j] > pos && kids[j] < n);
          seen[kids[j]]++;
          edges++;
        }
      }
      CHECK_EQ(edges, n - 1);
      for (size_t pos = 1; pos < n; pos++) CHECK_EQ(seen[pos], 1);
    }
  }
  CHECK_EQ(rumor__tree_children(5, 2, 5, kids), 0); /* outside the tree */
  CHECK_EQ(rumor__tree_depth(5, 1), 4);             /* a chain */
  CHECK_EQ(rumor__tree_depth(15, 3), 3);
}

static void rotation_and_order(void) {
  /* The writer (sorted index 5 of 15) is at position 0; index 4 is last. */
  CHECK_EQ(rumor__tree_position(N, 5, 5), 0);
  CHECK_EQ(rumor__tree_position(N, 5, 6), 1);
  CHECK_EQ(rumor__tree_position(N, 5, 4), 14);
  for (size_t k = 0; k < N; k++) CHECK_EQ(rumor__tree_index(N, 5, rumor__tree_position(N, 5, k)), k);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"a", 1, (const uint8_t *)"b", 1) < 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"ab", 2, (const uint8_t *)"a", 1) > 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"a", 1, (const uint8_t *)"ab", 2) < 0);
  CHECK_EQ(rumor__tree_cmp_id((const uint8_t *)"n07", 3, (const uint8_t *)"n07", 3), 0);
  /* Bytewise: "Z" (0x5a) sorts before "a" (0x61), 0xff after both. */
  CHECK(rumor__tree_cmp_id((const uint8_t *)"Z", 1, (const uint8_t *)"a", 1) < 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"\xff", 1, (const uint8_t *)"a", 1) > 0);
}

/* ---- on the network ----------------------------------------------------- */

static rumor_config_t tree_config(uint32_t b) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.gossip_interval_ms = 100;
  cfg.broadcast = RUMOR_BROADCAST_TREE;
  cfg.broadcast_branching = b;
  return cfg;
}

/* Does every node know all n members, with an address? */
static int all_known(fake_net *net, int n) {
  for (int i = 0; i < n; i++) {
    if ((int)rumor_node_member_count(net->nodes[i]) != n) return 0;
    for (int j = 0; j < n; j++)
      if (net_member(net->nodes[i], ids[j]).address[0] == '\0') return 0;
  }
  return 1;
}

/* n nodes seeded by the first, started and knowing each other; cfgs[i]
 * (or cfgs[0] for all when one_cfg). */
static void cluster(fake_net *net, int n, const rumor_config_t *cfgs, int one_cfg, uint64_t seed) {
  net_init(net, seed);
  for (int i = 0; i < n; i++) net_add(net, ids[i], i == 0 ? -1 : 0, &cfgs[one_cfg ? 0 : i]);
  for (int i = 0; i < n; i++) CHECK_EQ(rumor_node_start(net->nodes[i]), 0);
  for (int i = 0; i < 100 && !all_known(net, n); i++) net_run(net, 100);
  CHECK(all_known(net, n));
}

/* No more rounds (nor heartbeats, nor expirations) until rounds_on. */
static void rounds_off(fake_net *net) {
  for (int i = 0; i < net->n; i++) net->ios[i]->deadline[RUMOR_TIMER_ROUND] = 0;
}

static void rounds_on(fake_net *net) {
  for (int i = 0; i < net->n; i++)
    if (net->ios[i] != NULL) net->ios[i]->deadline[RUMOR_TIMER_ROUND] = net->now + 1 + (uint64_t)i;
}

typedef struct counts {
  uint64_t pushes[N], datagrams[N], dropped[N], deferred[N];
} counts;

static void snapshot(fake_net *net, counts *c) {
  for (int i = 0; i < net->n; i++) {
    const rumor_metrics_t *m = rumor_node_metrics(net->nodes[i]);
    c->pushes[i] = m->pushes_sent;
    c->datagrams[i] = m->datagrams_sent;
    c->dropped[i] = m->sends_dropped;
    c->deferred[i] = m->sends_deferred;
  }
}

static void set(rumor_node_t *n, const char *k, const char *v) {
  CHECK(rumor_node_set(n, k, strlen(k), v, strlen(v)) > 0);
}

/* How many children position pos has in a b-ary tree of n. */
static size_t nkids(size_t n, uint32_t b, size_t pos) {
  size_t kids[RUMOR_MAX_BROADCAST_BRANCHING];
  return rumor__tree_children(n, b, pos, kids);
}

/* One write from `writer` goes down the tree: every node holds it, each
 * sent exactly as many datagrams as its position has children (ids sort
 * as their indices, so node i is at position (i - writer) mod N), N-1 in
 * all, and nothing else was sent. */
static void check_one_write(fake_net *net, int writer, uint32_t b, const char *key) {
  counts before, after;
  uint64_t pushes = 0, datagrams = 0;
  snapshot(net, &before);
  set(net->nodes[writer], key, "v");
  net_run(net, 0); /* the push timer, and every forward it causes */
  snapshot(net, &after);
  for (int i = 0; i < N; i++) {
    CHECK(holds(net->nodes[i], ids[writer], key, "v"));
    size_t pos = rumor__tree_position(N, (size_t)writer, (size_t)i);
    CHECK(after.pushes[i] - before.pushes[i] <= b);
    CHECK_EQ(after.pushes[i] - before.pushes[i], nkids(N, b, pos));
    pushes += after.pushes[i] - before.pushes[i];
    datagrams += after.datagrams[i] - before.datagrams[i];
  }
  CHECK_EQ(pushes, N - 1);
  CHECK_EQ(datagrams, N - 1);
}

static void tree_reaches_everyone(void) {
  fake_net net;
  rumor_config_t cfg = tree_config(2);
  cluster(&net, N, &cfg, 1, 21);
  rounds_off(&net);
  check_one_write(&net, 0, 2, "k0");
  check_one_write(&net, 5, 2, "k5");   /* rooted elsewhere: the list is rotated */
  check_one_write(&net, 14, 2, "k14"); /* the last id wraps around to the first */
  /* Old news goes nowhere: the same value pushed again is ignored. */
  counts before, after;
  snapshot(&net, &before);
  rumor_node_t *a = net.nodes[0];
  a->pushed_seq = 0; /* as if our whole state were new: re-pushed to n01, n02 */
  a->push_armed = 1;
  net.ios[0]->deadline[RUMOR_TIMER_PUSH] = net.now;
  net_run(&net, 0);
  snapshot(&net, &after);
  uint64_t total = 0;
  for (int i = 0; i < N; i++) total += after.datagrams[i] - before.datagrams[i];
  CHECK_EQ(total, 2);
  CHECK_EQ(rumor_node_metrics(a)->sends_dropped, 0); /* no limit configured */
  net_free(&net);
}

/* n01 (position 1 under n00) is cut off but still alive in every view:
 * its subtree (positions 3, 4, 7..10) misses the push, the rest has it.
 * Once rounds run, anti-entropy brings it to everyone left. */
static void dead_inner_node(void) {
  fake_net net;
  rumor_config_t cfg = tree_config(2);
  static const int subtree[N] = {0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
  cluster(&net, N, &cfg, 1, 22);
  rounds_off(&net);
  net.down[1] = 1;
  set(net.nodes[0], "k", "v");
  net_run(&net, 0);
  for (int i = 0; i < N; i++) CHECK_EQ(holds(net.nodes[i], "n00", "k", "v"), !subtree[i]);
  rounds_on(&net);
  int done = 0;
  for (int r = 0; r < 100 && !done; r++) {
    net_run(&net, 100);
    done = 1;
    for (int i = 0; i < N; i++)
      if (i != 1 && !holds(net.nodes[i], "n00", "k", "v")) done = 0;
  }
  CHECK(done);
  CHECK(!holds(net.nodes[1], "n00", "k", "v"));
  net_free(&net);
}

/* The branching travels with the push: a writer with b = 3 among nodes
 * configured for epidemic push (and b = 2) gets a ternary tree. */
static void receivers_follow_the_push(void) {
  fake_net net;
  rumor_config_t cfgs[N];
  for (int i = 0; i < N; i++) rumor_config_init(&cfgs[i]), cfgs[i].gossip_interval_ms = 100;
  cfgs[3] = tree_config(3);
  cluster(&net, N, cfgs, 0, 23);
  rounds_off(&net);
  check_one_write(&net, 3, 3, "k");
  net_free(&net);
}

static void branching_three(void) {
  fake_net net;
  rumor_config_t cfg = tree_config(3);
  cluster(&net, N, &cfg, 1, 24);
  rounds_off(&net);
  check_one_write(&net, 0, 3, "a");
  check_one_write(&net, 9, 3, "b");
  net_free(&net);
}

static void block(rumor_node_t *n, const char *id) {
  CHECK_EQ(rumor_node_block(n, id, strlen(id), RUMOR_BLOCK_POLICY), 0);
}

/* Views that differ: n03 blocked n07 and n08, so its sorted list is two
 * shorter and its children are not the ones the others expect; and a push
 * from a sender nobody knows, of an owner nobody knows. No loop, no crash,
 * nobody sends more than b for one write; anti-entropy finishes the job. */
static void differing_views(void) {
  fake_net net;
  rumor_config_t cfg = tree_config(2);
  counts before, after;
  cluster(&net, N, &cfg, 1, 25);
  rounds_off(&net);
  block(net.nodes[3], "n07");
  block(net.nodes[3], "n08");
  net_run(&net, 0);
  snapshot(&net, &before);
  set(net.nodes[0], "k", "v");
  net_run(&net, 0);
  snapshot(&net, &after);
  uint64_t total = 0;
  for (int i = 0; i < N; i++) {
    CHECK(after.pushes[i] - before.pushes[i] <= 2);
    total += after.datagrams[i] - before.datagrams[i];
  }
  CHECK(total <= 2 * N);
  CHECK(holds(net.nodes[3], "n00", "k", "v"));

  /* A tree push of "ghost" from "stranger" (neither known to n05), at an
   * address no node has: n05 takes the news and forwards it down ghost's
   * tree as it sees it (now 17 members), never to itself, the root or the
   * sender. */
  uint8_t buf[1400];
  rumor_wire_writer w;
  struct sockaddr_storage nowhere, from;
  rumor_addr_parse("10.0.0.60:7946", &nowhere);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_PUSH, "default", 7, "stranger", 8, 5,
                             &nowhere), 0);
  CHECK_EQ(rumor__wire_push_begin(&w, 6, 2), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "ghost", 5, &nowhere, 7, 0, 1, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, "\0boo", 4, 1, 0, (const uint8_t *)"!", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  snapshot(&net, &before);
  net_addr(59, &from);
  rumor__node_recv(net.nodes[5], &from, buf, w.len);
  CHECK(holds(net.nodes[5], "ghost", "boo", "!"));
  CHECK_EQ(rumor_node_metrics(net.nodes[5])->pushes_sent - before.pushes[5], 2);
  net_deliver_all(&net);
  snapshot(&net, &after);
  total = 0;
  for (int i = 0; i < N; i++) {
    CHECK(after.pushes[i] - before.pushes[i] <= 2);
    total += after.datagrams[i] - before.datagrams[i];
  }
  CHECK(total <= 2 * N);

  rounds_on(&net);
  int done = 0;
  for (int r = 0; r < 100 && !done; r++) {
    net_run(&net, 100);
    done = 1;
    for (int i = 0; i < N; i++)
      if (!holds(net.nodes[i], "n00", "k", "v")) done = 0;
  }
  CHECK(done);
  net_free(&net);
}

/* n09 blocked the writer n05, which it still places in the tree (every
 * other node does): it forwards to n14 and n00 as the others expect, and
 * the write reaches everyone in N-1 datagrams all the same. */
static void blocked_root(void) {
  fake_net net;
  rumor_config_t cfg = tree_config(2);
  cluster(&net, N, &cfg, 1, 26);
  rounds_off(&net);
  block(net.nodes[9], "n05");
  net_run(&net, 0);
  check_one_write(&net, 5, 2, "k");
  net_free(&net);
}

/* ---- rate limit --------------------------------------------------------- */

static rumor_config_t limited(uint32_t tokens, int tree) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.gossip_interval_ms = 100;
  cfg.rate_limit_tokens = tokens;
  cfg.rate_limit_interval_ms = 10000;
  if (tree) cfg.broadcast = RUMOR_BROADCAST_TREE;
  return cfg;
}

/* Rounds take tokens while the cluster changes (the join): run until it
 * has been quiet for a whole window, so the next send finds a full one. */
static void quiet_window(fake_net *net) { net_run(net, 15000); }

/* Five nodes, fan-out 3, two tokens per window each. */
static void tokens_per_window(void) {
  fake_net net;
  rumor_config_t cfg = limited(2, 0);
  counts before, after;
  cluster(&net, 5, &cfg, 1, 31);
  quiet_window(&net);
  rounds_off(&net);
  rumor_node_t *a = net.nodes[0];
  snapshot(&net, &before);
  set(a, "k1", "v");
  net_run(&net, 0);
  snapshot(&net, &after);
  /* Three picks and the ring successor (unless picked already), two
   * tokens: two sent, the rest dropped. */
  CHECK_EQ(after.pushes[0] - before.pushes[0], 2);
  CHECK(after.dropped[0] - before.dropped[0] >= 1 && after.dropped[0] - before.dropped[0] <= 2);
  CHECK_EQ(after.deferred[0], 0);
  /* Each receiver of a's push had three others to forward to (not a, the
   * sender and owner) and two tokens. No node sent more than two. */
  uint64_t forward_drops = 0;
  int informed = 0;
  for (int i = 0; i < 5; i++) {
    CHECK(after.pushes[i] - before.pushes[i] <= 2);
    if (i > 0) forward_drops += after.dropped[i] - before.dropped[i];
    informed += holds(net.nodes[i], "n00", "k1", "v");
  }
  CHECK(forward_drops >= 2);
  CHECK(informed >= 3);

  /* The window is spent: a's next writes wait (counted once), and nothing
   * of a's leaves until the window refills. */
  set(a, "k2", "v");
  net_run(&net, 0);
  set(a, "k3", "v");
  net_run(&net, 0);
  CHECK_EQ(rumor_node_metrics(a)->sends_deferred, 1);
  CHECK_EQ(rumor_node_metrics(a)->pushes_sent, after.pushes[0]);
  for (int i = 1; i < 5; i++) CHECK(!holds(net.nodes[i], "n00", "k2", "v"));
  uint64_t wait = rumor__rate_wait(a); /* the window began with the first token */
  CHECK(wait > 1 && wait <= 10000);
  net_run(&net, wait - 1); /* just before the refill */
  for (int i = 1; i < 5; i++) CHECK(!holds(net.nodes[i], "n00", "k2", "v"));
  CHECK_EQ(rumor_node_metrics(a)->pushes_sent, after.pushes[0]);
  net_run(&net, 1); /* the refill: both writes go in one push */
  CHECK_EQ(rumor_node_metrics(a)->pushes_sent, after.pushes[0] + 2);
  informed = 0;
  for (int i = 1; i < 5; i++)
    informed += holds(net.nodes[i], "n00", "k2", "v") && holds(net.nodes[i], "n00", "k3", "v");
  CHECK(informed >= 2);
  CHECK_EQ(rumor_node_metrics(a)->sends_deferred, 1);
  net_free(&net);
}

/* Two nodes, one token: the second write waits; meanwhile b's SYN is
 * answered (answers take no token) and carries it; the deferred push goes
 * out at the refill all the same. */
static void answers_are_not_limited(void) {
  fake_net net;
  rumor_config_t cfg = limited(1, 0);
  cluster(&net, 2, &cfg, 1, 32);
  quiet_window(&net);
  rounds_off(&net);
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  set(a, "k1", "v");
  net_run(&net, 0);
  CHECK(holds(b, "n00", "k1", "v"));
  set(a, "k2", "v");
  net_run(&net, 0);
  CHECK(!holds(b, "n00", "k2", "v"));
  CHECK_EQ(rumor_node_metrics(a)->sends_deferred, 1);
  uint64_t sent = rumor_node_metrics(a)->datagrams_sent;
  rumor__gossip_syn(b, rumor__store_find(&b->store, "n00", 3));
  net_deliver_all(&net);
  CHECK(rumor_node_metrics(a)->datagrams_sent > sent); /* the SYNACK */
  CHECK(holds(b, "n00", "k2", "v"));
  CHECK_EQ(rumor_node_metrics(a)->sends_dropped, 0);
  uint64_t pushes = rumor_node_metrics(a)->pushes_sent;
  net_run(&net, 10000);
  CHECK_EQ(rumor_node_metrics(a)->pushes_sent, pushes + 1); /* old news for b by now */
  net_free(&net);
}

/* A tree with one token per node: every inner node reaches one child and
 * drops the other; a deferred write is pushed down the tree at the refill. */
static void tree_with_a_limit(void) {
  fake_net net;
  rumor_config_t cfg = limited(1, 1);
  counts before, after;
  cluster(&net, 7, &cfg, 1, 33);
  quiet_window(&net);
  rounds_off(&net);
  snapshot(&net, &before);
  set(net.nodes[0], "k", "v");
  net_run(&net, 0);
  snapshot(&net, &after);
  /* n00 -> n01 (n02 dropped), n01 -> n03 (n04 dropped), n03 is a leaf. */
  for (int i = 0; i < 7; i++) {
    CHECK_EQ(holds(net.nodes[i], "n00", "k", "v"), i == 0 || i == 1 || i == 3);
    CHECK_EQ(after.pushes[i] - before.pushes[i], i == 0 || i == 1);
    CHECK_EQ(after.dropped[i] - before.dropped[i], i == 0 || i == 1);
  }
  set(net.nodes[0], "k2", "v");
  net_run(&net, 0);
  CHECK(!holds(net.nodes[1], "n00", "k2", "v"));
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->sends_deferred, 1);
  net_run(&net, 10000);
  CHECK(holds(net.nodes[1], "n00", "k2", "v") && holds(net.nodes[3], "n00", "k2", "v"));
  net_free(&net);
}

int main(void) {
  RUN(riak_build_tree_shape);
  RUN(every_position_once);
  RUN(rotation_and_order);
  RUN(tree_reaches_everyone);
  RUN(dead_inner_node);
  RUN(receivers_follow_the_push);
  RUN(branching_three);
  RUN(differing_views);
  RUN(blocked_root);
  RUN(tokens_per_window);
  RUN(answers_are_not_limited);
  RUN(tree_with_a_limit);
  return 0;
}

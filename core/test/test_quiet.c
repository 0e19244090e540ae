/* test_quiet.c: what a quiet cluster costs and how it still notices change,
 * on the in-memory network: a summary to one ring neighbour per round and
 * nothing else, the same per node at any size; a member that missed a
 * write catches up through a neighbour's differing summary; only ring
 * neighbours judge a member, everyone else takes their verdict; the
 * summary's wire form. */
#include "fake_net.h"
#include "summary.h"
#include "wire.h"

/* n nodes, joined and quiet again. */
static void cluster(fake_net *net, int n, uint64_t seed) {
  rumor_config_t cfg = net_fast_config();
  net_cluster(net, n, &cfg, seed);
  for (int i = 0; i < n; i++) CHECK_EQ(rumor_node_member_count(net->nodes[i]), (size_t)n);
}

typedef struct cost {
  uint64_t datagrams, bytes, rounds, summaries, matched;
} cost;

static cost total(const fake_net *net) {
  cost c = {0};
  for (int i = 0; i < net->n; i++) {
    const rumor_metrics_t *m = rumor_node_metrics(net->nodes[i]);
    c.datagrams += m->datagrams_sent;
    c.bytes += m->bytes_sent;
    c.rounds += m->rounds;
    c.summaries += m->summaries_sent;
    c.matched += m->summaries_matched;
  }
  return c;
}

/* Bytes per node per round over 30 quiet rounds. */
static double quiet_cost(int n, uint64_t seed) {
  fake_net net;
  cluster(&net, n, seed);
  cost a = total(&net);
  net_run(&net, 3000);
  cost b = total(&net);
  uint64_t rounds = b.rounds - a.rounds;
  CHECK(rounds >= (uint64_t)n * 29);
  /* One datagram a round per node: the summary, and every one matched. */
  CHECK_EQ(b.datagrams - a.datagrams, rounds);
  CHECK_EQ(b.summaries - a.summaries, rounds);
  CHECK_EQ(b.matched - a.matched, rounds);
  double per = (double)(b.bytes - a.bytes) / (double)rounds;
  net_free(&net);
  return per;
}

static void quiet_rounds_cost_the_same_at_any_size(void) {
  double small = quiet_cost(4, 1), big = quiet_cost(48, 2);
  /* The same datagram whatever the size; the member count's varint may
   * take a byte more. */
  CHECK(big <= small + 1.0);
  CHECK(small < 64);
}

static void a_missed_write_arrives_through_a_neighbour(void) {
  fake_net net;
  cluster(&net, 8, 3);
  rumor_node_t *w = net.nodes[0];
  net.down[5] = 1; /* misses the push and what follows at once */
  CHECK(rumor_node_set(w, "k", 1, "v", 1) > 0);
  net_run(&net, 50);
  CHECK(!holds(net.nodes[5], net_id(0), "k", "v"));
  net_run(&net, 300); /* quiet again, yet short of half the expiration (no probes) */
  for (int i = 0; i < 8; i++) CHECK(i == 5 || holds(net.nodes[i], net_id(0), "k", "v"));
  uint64_t differed = 0;
  for (int i = 0; i < 8; i++) differed += rumor_node_metrics(net.nodes[i])->summaries_differed;
  net.down[5] = 0;
  net_run(&net, 500); /* well within the expiration: nobody blocks it */
  CHECK(holds(net.nodes[5], net_id(0), "k", "v"));
  uint64_t after = 0;
  for (int i = 0; i < 8; i++) after += rumor_node_metrics(net.nodes[i])->summaries_differed;
  CHECK(after > differed); /* it was a summary that told */
  CHECK_EQ(net_member(net.nodes[0], net_id(5)).status, RUMOR_MEMBER_ALIVE);
  net_free(&net);
}

static void only_neighbours_judge_and_the_rest_adopt(void) {
  fake_net net;
  const int n = 8;
  cluster(&net, n, 4);
  /* n03's neighbours are n02 and n04; nobody else watches it. */
  for (int i = 0; i < n; i++) {
    if (i == 3) continue;
    rumor_member_info_t m = net_member(net.nodes[i], net_id(3));
    CHECK_EQ(m.watched, i == 2 || i == 4);
    CHECK(!m.watched || m.heartbeats > 0);
  }
  net.down[3] = 1;
  net_run(&net, 1500);
  uint64_t adopted = 0;
  for (int i = 0; i < n; i++) {
    if (i == 3) continue;
    rumor_member_info_t m = net_member(net.nodes[i], net_id(3));
    CHECK_EQ(m.status, RUMOR_MEMBER_BLOCKED);
    CHECK_EQ(m.block_reason, RUMOR_BLOCK_EXPIRED);
    adopted += rumor_node_metrics(net.nodes[i])->blocks_adopted;
  }
  CHECK(adopted >= (uint64_t)(n - 3)); /* all but the two judges took it over */
  /* The ring closed over the gap: n02 and n04 now watch each other. */
  CHECK(net_member(net.nodes[2], net_id(4)).watched);
  CHECK(net_member(net.nodes[4], net_id(2)).watched);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (i != 3 && j != 3 && i != j)
        CHECK_EQ(net_member(net.nodes[i], net_id(j)).status, RUMOR_MEMBER_ALIVE);
  net_free(&net);
}

static void a_member_between_is_probed_not_blocked(void) {
  fake_net net;
  cluster(&net, 4, 5);
  /* A newcomer that sorts between n00 and n01 becomes their neighbour; it
   * is not blocked while it joins, and the ring forms around it. */
  rumor_config_t cfg = net_fast_config();
  rumor_node_t *x = net_add(&net, "n00x", 0, &cfg);
  CHECK_EQ(rumor_node_start(x), 0);
  net_run(&net, 3000);
  for (int i = 0; i < 4; i++) CHECK_EQ(net_member(net.nodes[i], "n00x").status, RUMOR_MEMBER_ALIVE);
  CHECK(net_member(net.nodes[0], "n00x").watched);
  CHECK(net_member(net.nodes[1], "n00x").watched);
  CHECK(!net_member(net.nodes[0], net_id(1)).watched); /* n00x is between them now */
  net_free(&net);
}

/* Peers given only by set_topology, after the first rounds (a cluster
 * provider that reports late): no ring holds a member we have no state of,
 * so each node must still knock at them, or quiet rounds send nothing and
 * the cluster never forms. */
static void topology_alone_forms_a_cluster(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_init(&net, 6);
  for (int i = 0; i < 3; i++) net_add(&net, net_id(i), -1, &cfg); /* no seeds */
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_start(net.nodes[i]), 0);
  net_run(&net, 1000); /* past the rounds a start keeps active */
  rumor_peer_t peers[] = {{"n00", "10.0.0.1:7946"}, {"n01", "10.0.0.2:7946"}, {"n02", "10.0.0.3:7946"}};
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_set_topology(net.nodes[i], peers, 3), 0);
  net_run(&net, 1000);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (i != j) {
        rumor_member_info_t m = net_member(net.nodes[i], net_id(j));
        CHECK_EQ(m.status, RUMOR_MEMBER_ALIVE);
        CHECK(m.generation == rumor_node_generation(net.nodes[j]));
      }
  /* And quiet again: one summary a round each, every one matched. */
  net_run(&net, 2000);
  cost a = total(&net);
  net_run(&net, 2000);
  cost b = total(&net);
  CHECK_EQ(b.datagrams - a.datagrams, b.rounds - a.rounds);
  CHECK_EQ(b.matched - a.matched, b.rounds - a.rounds);
  net_free(&net);
}

static void summary_wire(void) {
  uint8_t buf[256];
  rumor_wire_writer w;
  struct sockaddr_storage addr;
  rumor_wire_msg msg;
  net_addr(1, &addr);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_SYN, "c", 1, "a", 1, 7, &addr), 0);
  CHECK_EQ(rumor__wire_summary(&w, 300, 0x0123456789abcdefULL), 0);
  CHECK_EQ(rumor__wire_decode(buf, w.len, &msg), RUMOR_WIRE_OK);
  CHECK(msg.has_summary && !msg.has_digest && !msg.has_delta);
  CHECK(msg.summary_count == 300 && msg.summary_hash == 0x0123456789abcdefULL);
  for (size_t i = 0; i < w.len; i++) CHECK(rumor__wire_decode(buf, i, &msg) != RUMOR_WIRE_OK);
  buf[w.len] = 0; /* a trailing byte */
  CHECK(rumor__wire_decode(buf, w.len + 1, &msg) != RUMOR_WIRE_OK);
  /* Only a SYN carries one, and only alone. */
  size_t flags = w.len - 8 - 2 - 1;
  CHECK_EQ(buf[flags], RUMOR_WIRE_SUMMARY);
  buf[flags] = RUMOR_WIRE_SUMMARY | RUMOR_WIRE_COMPLETE;
  CHECK(rumor__wire_decode(buf, w.len, &msg) != RUMOR_WIRE_OK);
  buf[flags] = RUMOR_WIRE_SUMMARY;
  buf[3] = RUMOR_MSG_SYNACK;
  CHECK(rumor__wire_decode(buf, w.len, &msg) != RUMOR_WIRE_OK);
}

static void summary_terms(void) {
  uint64_t h = rumor__summary_id_hash((const uint8_t *)"a", 1);
  CHECK(h != rumor__summary_id_hash((const uint8_t *)"b", 1));
  CHECK(rumor__summary_term(h, 1, 5) != rumor__summary_term(h, 1, 6));
  CHECK(rumor__summary_term(h, 1, 5) != rumor__summary_term(h, 2, 5));
  CHECK_EQ(rumor__summary_term(h, 0, 5), 0); /* no state: does not count */
}

int main(void) {
  RUN(quiet_rounds_cost_the_same_at_any_size);
  RUN(a_missed_write_arrives_through_a_neighbour);
  RUN(only_neighbours_judge_and_the_rest_adopt);
  RUN(a_member_between_is_probed_not_blocked);
  RUN(topology_alone_forms_a_cluster);
  RUN(summary_wire);
  RUN(summary_terms);
  return 0;
}

/* test_ring.c: liveness and cost on the ring when views disagree, on the
 * in-memory network (scenarios from the review of the quiet rounds): a
 * block on one node only makes nobody rejoin; a lasting summary difference
 * (a member one node removed, a value one node refuses) costs little; a run
 * of dead members with neighbouring ids is blocked within a few windows; a
 * node back from isolation does not evict the healthy. */
#include "fake_net.h"
#include <stddef.h>

/* A check that also says what was measured. */
#define EXPECT(cond, ...)                      \
  do {                                         \
    fprintf(stderr, "    ");                   \
    fprintf(stderr, __VA_ARGS__);              \
    fprintf(stderr, "\n");                     \
    CHECK(cond);                               \
  } while (0)

static uint64_t sum(const fake_net *net, size_t off) {
  uint64_t s = 0;
  for (int i = 0; i < net->n; i++)
    if (net->nodes[i]) s += *(const uint64_t *)(const void *)((const char *)rumor_node_metrics(net->nodes[i]) + off);
  return s;
}
#define SUM(net, field) sum(net, offsetof(rumor_metrics_t, field))

/* n02 blocks its ring successor n03 by policy (set_block_policy in Lua).
 * n02's ring skips n03, so it watches n04, which beats n03 instead; n03
 * still watches n02, which never beats it. Each probes the silent one, and
 * the answer (a SYNACK, or n02's rejection) counts as a beat: nobody is
 * expired, nobody rejoins. Without the probes: 9 rejoins in 10 s. */
static void a_one_sided_block_makes_nobody_rejoin(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 6, &cfg, 7);
  uint64_t rejoins = SUM(&net, rejoins), adopted = SUM(&net, blocks_adopted);
  CHECK_EQ(rumor_node_block(net.nodes[2], net_id(3), 3, RUMOR_BLOCK_POLICY), 0);
  net_run(&net, 10000);
  rejoins = SUM(&net, rejoins) - rejoins;
  adopted = SUM(&net, blocks_adopted) - adopted;
  EXPECT(rejoins == 0, "%llu rejoins, %llu blocks adopted in 10 s (n02 rejoined %llu times)",
         (unsigned long long)rejoins, (unsigned long long)adopted,
         (unsigned long long)rumor_node_metrics(net.nodes[2])->rejoins);
  net_free(&net);
}

/* n00 blocks n03 by policy and, past retention, drops its state; the
 * others keep it, so n00's summary never matches theirs again. Answers to
 * a differing summary back off, so this costs a full exchange now and
 * then, not one per round. */
static void a_removal_on_one_node_costs_little(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  cfg.blocked_retention_ms = 2000;
  net_cluster(&net, 6, &cfg, 9);
  CHECK_EQ(rumor_node_block(net.nodes[0], net_id(3), 3, RUMOR_BLOCK_POLICY), 0); /* not a neighbour */
  net_run(&net, 5000);
  CHECK_EQ(net_member(net.nodes[0], net_id(3)).status, RUMOR_MEMBER_REMOVED);
  uint64_t rounds = SUM(&net, rounds), sent = SUM(&net, datagrams_sent), bytes = SUM(&net, bytes_sent);
  uint64_t differed = SUM(&net, summaries_differed);
  net_run(&net, 10000);
  rounds = SUM(&net, rounds) - rounds;
  sent = SUM(&net, datagrams_sent) - sent;
  bytes = SUM(&net, bytes_sent) - bytes;
  differed = SUM(&net, summaries_differed) - differed;
  /* One summary a round, plus a full exchange now and then (backing off);
   * answering every differing summary cost 4.5 datagrams a node-round. */
  EXPECT(2 * sent <= 3 * rounds, "%.2f datagrams and %.0f bytes per node-round, %llu summaries differed",
         (double)sent / (double)rounds, (double)bytes / (double)rounds, (unsigned long long)differed);
  net_free(&net);
}

/* The same with a value bigger than one node's max_value_size: it refuses
 * the entry, its watermark stays behind, its summary never matches. */
static void a_refused_value_costs_little(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_init(&net, 4);
  for (int i = 0; i < 4; i++) {
    rumor_config_t c = cfg;
    if (i == 2) c.max_value_size = 100;
    net_add(&net, net_id(i), i == 0 ? -1 : 0, &c);
  }
  for (int i = 0; i < 4; i++) CHECK_EQ(rumor_node_start(net.nodes[i]), 0);
  net_run(&net, 3000);
  char big[500];
  memset(big, 'x', sizeof big);
  CHECK(rumor_node_set(net.nodes[0], "big", 3, big, sizeof big) > 0);
  net_run(&net, 3000);
  uint64_t rounds = SUM(&net, rounds), sent = SUM(&net, datagrams_sent);
  net_run(&net, 10000);
  rounds = SUM(&net, rounds) - rounds;
  sent = SUM(&net, datagrams_sent) - sent;
  EXPECT(2 * sent <= 3 * rounds, "%.2f datagrams per node-round", (double)sent / (double)rounds);
  net_free(&net);
}

/* Eight members with adjacent ids die at once (a rack whose hosts are
 * named alike). Only the two at the ends of the run are watched; each one
 * blocked makes its inner neighbour a new neighbour, probed at once and
 * blocked when the short grace passes without an answer. */
static void a_run_of_dead_neighbours_is_blocked_in_steps(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 16, &cfg, 3);
  for (int i = 4; i < 12; i++) net.down[i] = 1;
  uint64_t t0 = net.now;
  for (;;) {
    int all = 1;
    net_run(&net, 100);
    for (int i = 4; i < 12; i++) all &= net_member(net.nodes[0], net_id(i)).status != RUMOR_MEMBER_ALIVE;
    if (all || net.now - t0 > 60000) break;
  }
  /* The ends after one window, then each new neighbour within its probe
   * grace (6 rounds), from both ends: a whole window a step took 4.7 s. */
  EXPECT(net.now - t0 <= 4000, "all 8 blocked after %llu ms (expiration 1000 ms)",
         (unsigned long long)(net.now - t0));
  net_free(&net);
}

/* One node cut off for 5 s blocks every member in turn. When it comes back
 * it rejoins, and withdraws those verdicts (as stale as the others' of it):
 * nobody adopts them, nobody else rejoins. */
static void a_healed_node_does_not_evict_the_healthy(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 8, &cfg, 8);
  net.down[3] = 1;
  net_run(&net, 5000);
  uint64_t adopted = SUM(&net, blocks_adopted), rejoins = SUM(&net, rejoins);
  net.down[3] = 0;
  net_run(&net, 20000);
  adopted = SUM(&net, blocks_adopted) - adopted;
  rejoins = SUM(&net, rejoins) - rejoins;
  EXPECT(rejoins == 1, "%llu rejoins, %llu blocks adopted after the heal", (unsigned long long)rejoins,
         (unsigned long long)adopted);
  net_free(&net);
}

int main(void) {
  RUN(a_one_sided_block_makes_nobody_rejoin);
  RUN(a_removal_on_one_node_costs_little);
  RUN(a_refused_value_costs_little);
  RUN(a_run_of_dead_neighbours_is_blocked_in_steps);
  RUN(a_healed_node_does_not_evict_the_healthy);
  return 0;
}

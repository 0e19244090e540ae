/* repro_quiet.c: review findings on the quiet rounds and ring liveness that
 * are NOT fixed yet, each as a scenario on the in-memory network asserting
 * the behaviour we want. Not a ctest (the name does not match test_*.c):
 * every scenario fails today. Build and run by hand:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Icore/include -Icore/src -Icore/test \
 *      core/test/repro_quiet.c build/librumor_core.a $(pkg-config --libs libuv) -lm \
 *      -o /tmp/repro_quiet && /tmp/repro_quiet
 *
 * It prints one line per scenario and exits with the number that failed.
 * Once a finding is fixed, move its scenario into test_quiet.c or
 * test_liveness.c. */
#include "fake_net.h"
#include <stddef.h>

static int failures;
#define EXPECT(cond, ...)                                  \
  do {                                                     \
    int ok_ = (cond);                                      \
    printf("%-4s %s: ", ok_ ? "ok" : "FAIL", __func__);    \
    printf(__VA_ARGS__);                                   \
    printf("\n");                                          \
    failures += !ok_;                                      \
  } while (0)

static rumor_config_t fast(void) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.gossip_interval_ms = 100;
  cfg.heartbeat_expiration_ms = 1000;
  return cfg;
}

static const char *id_of(int i) {
  static char ids[NET_MAX_NODES][8];
  snprintf(ids[i], sizeof ids[i], "n%02d", i);
  return ids[i];
}

static void cluster(fake_net *net, int n, uint64_t seed, const rumor_config_t *cfg) {
  net_init(net, seed);
  for (int i = 0; i < n; i++) net_add(net, id_of(i), i == 0 ? -1 : 0, cfg);
  for (int i = 0; i < n; i++) CHECK_EQ(rumor_node_start(net->nodes[i]), 0);
  net_run(net, 5000);
}

static uint64_t sum(const fake_net *net, size_t off) {
  uint64_t s = 0;
  for (int i = 0; i < net->n; i++)
    if (net->nodes[i]) s += *(const uint64_t *)(const void *)((const char *)rumor_node_metrics(net->nodes[i]) + off);
  return s;
}
#define SUM(net, field) sum(net, offsetof(rumor_metrics_t, field))

/* n02 blocks its ring successor n03 by policy (set_block_policy in Lua).
 * n02's ring skips n03, so it beats n04 and watches n04, which beats n03;
 * n03 still watches n02, which never beats it. Both "expire" a live
 * member; the blocks are adopted everywhere and the blocked one rejoins,
 * again and again. Before the quiet rounds: no rejoin at all. */
static void one_sided_policy_block_makes_a_rejoin_loop(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 6, 7, &cfg);
  uint64_t rejoins = SUM(&net, rejoins), adopted = SUM(&net, blocks_adopted);
  CHECK_EQ(rumor_node_block(net.nodes[2], id_of(3), 3, RUMOR_BLOCK_POLICY), 0);
  net_run(&net, 10000);
  rejoins = SUM(&net, rejoins) - rejoins;
  adopted = SUM(&net, blocks_adopted) - adopted;
  EXPECT(rejoins == 0, "%llu rejoins, %llu blocks adopted in 10 s (n02 rejoined %llu times)",
         (unsigned long long)rejoins, (unsigned long long)adopted,
         (unsigned long long)rumor_node_metrics(net.nodes[2])->rejoins);
  net_free(&net);
}

/* A policy block on one node only, past blocked_retention_ms: that node
 * drops the member's state (REMOVED, out of its summary), the others keep
 * it. Their summaries differ for good, so the node and its neighbours stay
 * "active" forever (full SYNs to random peers every round, a digest for
 * every summary, the removed state shipped and thrown away each time). */
static void a_removal_on_one_node_keeps_the_cluster_active(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cfg.blocked_retention_ms = 2000;
  cluster(&net, 6, 9, &cfg);
  CHECK_EQ(rumor_node_block(net.nodes[0], id_of(3), 3, RUMOR_BLOCK_POLICY), 0); /* not a neighbour */
  net_run(&net, 5000);
  CHECK_EQ(net_member(net.nodes[0], id_of(3)).status, RUMOR_MEMBER_REMOVED);
  uint64_t rounds = SUM(&net, rounds), sent = SUM(&net, datagrams_sent), bytes = SUM(&net, bytes_sent);
  uint64_t differed = SUM(&net, summaries_differed);
  net_run(&net, 10000);
  rounds = SUM(&net, rounds) - rounds;
  sent = SUM(&net, datagrams_sent) - sent;
  bytes = SUM(&net, bytes_sent) - bytes;
  differed = SUM(&net, summaries_differed) - differed;
  EXPECT(sent <= rounds + rounds / 10, "%.2f datagrams and %.0f bytes per node-round, %llu summaries differed",
         (double)sent / (double)rounds, (double)bytes / (double)rounds, (unsigned long long)differed);
  net_free(&net);
}

/* The same with a value bigger than one node's max_value_size: it refuses
 * the entry, its watermark stays behind, its summary never matches. */
static void a_refused_value_keeps_the_cluster_active(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  net_init(&net, 4);
  for (int i = 0; i < 4; i++) {
    rumor_config_t c = cfg;
    if (i == 2) c.max_value_size = 100;
    net_add(&net, id_of(i), i == 0 ? -1 : 0, &c);
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
  EXPECT(sent <= rounds + rounds / 10, "%.2f datagrams per node-round", (double)sent / (double)rounds);
  net_free(&net);
}

/* Eight members with adjacent ids die at once (a rack whose hosts are
 * named alike). Only the two at the ends of the run are watched; each one
 * blocked hands its inner neighbour a whole new window, so the run takes
 * 4 windows instead of 1 (before the quiet rounds: 1.1 s; phi: 17 s vs
 * 1.8 s). */
static void a_run_of_dead_neighbours_takes_one_window(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 16, 3, &cfg);
  for (int i = 4; i < 12; i++) net.down[i] = 1;
  uint64_t t0 = net.now;
  for (;;) {
    int all = 1;
    net_run(&net, 100);
    for (int i = 4; i < 12; i++) all &= net_member(net.nodes[0], id_of(i)).status != RUMOR_MEMBER_ALIVE;
    if (all || net.now - t0 > 60000) break;
  }
  EXPECT(net.now - t0 <= 1500, "all 8 blocked after %llu ms (expiration 1000 ms)",
         (unsigned long long)(net.now - t0));
  net_free(&net);
}

/* One node cut off for 5 s blocks every member in turn (each new
 * neighbour gets a window, then expires). When it comes back it rejoins,
 * and its new generation still publishes those verdicts under "blocked":
 * every node adopts them and the healthy members rejoin too, some twice.
 * (Everyone rejoining once, through rejections of the probes, predates the
 * quiet rounds; the adopted stale verdicts are new.) */
static void a_healed_node_does_not_evict_the_healthy(void) {
  fake_net net;
  rumor_config_t cfg = fast();
  cluster(&net, 8, 8, &cfg);
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
  one_sided_policy_block_makes_a_rejoin_loop();
  a_removal_on_one_node_keeps_the_cluster_active();
  a_refused_value_keeps_the_cluster_active();
  a_run_of_dead_neighbours_takes_one_window();
  a_healed_node_does_not_evict_the_healthy();
  return failures;
}

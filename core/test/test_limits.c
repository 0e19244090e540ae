/* test_limits.c: the limits of rumor_config_t on the in-memory network
 * (fake_net.h): what passes one is dropped or refused and counted, and the
 * rest of the traffic still goes through. */
#include "fake_net.h"

/* A datagram over max_datagram_size is dropped unread; one at the limit
 * is decoded (and, being garbage, dropped as malformed). */
static void oversized_datagrams_are_dropped_unread(void) {
  fake_net net;
  rumor_config_t cfg;
  static uint8_t junk[2001];
  struct sockaddr_storage from;
  rumor_config_init(&cfg);
  cfg.max_datagram_size = 2000;
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  net_addr(9, &from);
  memset(junk, 0xab, sizeof junk);
  const rumor_metrics_t *m = rumor_node_metrics(a);
  uint64_t received = m->datagrams_received;
  rumor__node_recv(a, &from, junk, sizeof junk);
  CHECK_EQ(m->drops_oversize, 1);
  CHECK_EQ(m->drops_malformed, 0);
  CHECK_EQ(m->datagrams_received, received); /* never counted as received */
  rumor__node_recv(a, &from, junk, sizeof junk - 1);
  CHECK_EQ(m->drops_oversize, 1);
  CHECK_EQ(m->drops_malformed, 1);
  net_free(&net);
}

typedef struct lines {
  int n;
  char last[256];
} lines;

static void count_budget_line(rumor_node_t *n, int level, const char *msg, size_t len, void *arg) {
  lines *l = arg;
  (void)n;
  (void)len;
  if (level == RUMOR_LOG_WARN && strstr(msg, "recv_budget") != NULL) {
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", msg);
  }
}

/* Sends count junk datagrams to node from 10.0.0.(i+1). */
static void flood(rumor_node_t *node, int i, int count) {
  static const uint8_t junk[64] = {1, 2, 3};
  struct sockaddr_storage from;
  net_addr(i, &from);
  for (int k = 0; k < count; k++) rumor__node_recv(node, &from, junk, sizeof junk);
}

/* One address floods at ten times the budget: a second's worth passes at
 * once, then the budget's rate; the rest is dropped undecoded, with one
 * warning. Meanwhile the other member's gossip still gets through. */
static void a_flood_from_one_address_leaves_the_others_alone(void) {
  fake_net net;
  rumor_config_t cfg;
  lines log = {0};
  rumor_config_init(&cfg);
  cfg.recv_budget = 100;
  net_init(&net, 2);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  rumor_node_on_log(a, RUMOR_LOG_WARN, count_budget_line, &log);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  const rumor_metrics_t *m = rumor_node_metrics(a);
  CHECK_EQ(m->drops_budget, 0);
  uint64_t malformed = m->drops_malformed;
  flood(a, 9, 1000); /* no time passes: the burst, and nothing more */
  CHECK_EQ(m->drops_malformed - malformed, 100);
  CHECK_EQ(m->drops_budget, 900);
  CHECK(rumor_node_set(b, "k", 1, "v", 1) > 0);
  for (int i = 0; i < 1000; i++) { /* 10 s at 1000 datagrams/s */
    flood(a, 9, 10);
    net_run(&net, 10);
  }
  CHECK(holds(a, "b", "k", "v"));
  CHECK_EQ(net_member(a, "b").status, RUMOR_MEMBER_ALIVE);
  /* 100 per second: one per 10 ms, from the second batch on. */
  CHECK_EQ(m->drops_malformed - malformed, 100 + 999);
  CHECK_EQ(m->drops_budget, 900 + 9001);
  CHECK_EQ(log.n, 1);
  CHECK(strstr(log.last, "10.0.0.10:7946 sends more than recv_budget, 100 datagrams/s") != NULL);
  /* A second within the budget, and the next flood is a new crossing. */
  net_run(&net, 1000);
  flood(a, 9, 200);
  CHECK_EQ(log.n, 2);
  /* Off: nothing is dropped. */
  cfg.recv_budget = 0;
  rumor_node_t *c = net_add(&net, "c", -1, &cfg);
  CHECK_EQ(rumor_node_start(c), 0);
  flood(c, 9, 5000);
  CHECK_EQ(rumor_node_metrics(c)->drops_budget, 0);
  CHECK_EQ(rumor_node_metrics(c)->drops_malformed, 5000);
  net_free(&net);
}

/* Datagrams from ever new addresses (a spoofer) fill the fixed table and
 * evict: each new address gets a bucket, nothing grows, and the member
 * that gossips all along is never held back. */
static void many_addresses_share_a_fixed_table(void) {
  fake_net net;
  rumor_config_t cfg;
  static uint8_t junk[32];
  rumor_config_init(&cfg);
  cfg.recv_budget = 10;
  net_init(&net, 3);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  const rumor_metrics_t *m = rumor_node_metrics(a);
  uint64_t malformed = m->drops_malformed;
  for (uint32_t i = 0; i < 20000; i++) {
    struct sockaddr_storage from;
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&from;
    memset(&from, 0, sizeof from);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)(1000 + i % 7));
    sin->sin_addr.s_addr = htonl(0xc0a80000u + i);
    rumor__node_recv(a, &from, junk, sizeof junk);
    if (i % 1000 == 0) net_run(&net, 100);
  }
  CHECK_EQ(m->drops_budget, 0);
  CHECK_EQ(m->drops_malformed - malformed, 20000);
  CHECK(rumor_node_set(b, "k", 1, "v", 1) > 0);
  net_run(&net, 2000);
  CHECK(holds(a, "b", "k", "v"));
  net_free(&net);
}

int main(void) {
  RUN(oversized_datagrams_are_dropped_unread);
  RUN(a_flood_from_one_address_leaves_the_others_alone);
  RUN(many_addresses_share_a_fixed_table);
  return 0;
}

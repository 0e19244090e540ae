/* test_merge.c: merge and reconciliation on an in-memory network: gaps,
 * duplicates, reordering, generations, MTU-bounded deltas, joining through a
 * seed, and exactly-once update events in seq order. */
#include "fake_net.h"
#include "wire.h"

/* Records update events for one node. */
typedef struct events {
  int n;
  char member[64][16];
  char key[64][16];
  uint64_t seq[64];
} events;

static void record(rumor_node_t *node, const rumor_update_t *u, void *arg) {
  if (u->system) return; /* heartbeats: test_liveness.c */
  events *ev = arg;
  (void)node;
  if (ev->n >= 64) return;
  snprintf(ev->member[ev->n], 16, "%.*s", (int)u->member_len, u->member);
  snprintf(ev->key[ev->n], 16, "%.*s", (int)u->key_len, u->key);
  ev->seq[ev->n++] = u->seq;
}

static void set(rumor_node_t *n, const char *k, const char *v) {
  CHECK(rumor_node_set(n, k, strlen(k), v, strlen(v)) > 0);
}

static void two_nodes_converge(void) {
  fake_net net;
  events ev = {0};
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  rumor_node_t *b = net_add(&net, "b", 0, NULL);
  rumor_node_on_update(b, record, &ev);
  set(a, "x", "1");
  set(a, "y", "2");
  set(a, "x", "3"); /* supersedes x=1: b should see y then x, never x=1 */
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_deliver_all(&net);
  CHECK(holds(b, "a", "x", "3") && holds(b, "a", "y", "2"));
  CHECK_EQ(ev.n, 2);
  CHECK(strcmp(ev.key[0], "y") == 0 && ev.seq[0] == 2);
  CHECK(strcmp(ev.key[1], "x") == 0 && ev.seq[1] == 3);
  /* b's own key travels the other way (SYNACK digest -> ACK). */
  set(b, "z", "9");
  net_run(&net, 2000);
  CHECK(holds(a, "b", "z", "9"));
  CHECK_EQ(ev.n, 3); /* b's local write is an event too; nothing repeated */
  CHECK(strcmp(ev.key[2], "z") == 0);
  net_free(&net);
}

/* Builds an ACK from "src" carrying member x's block. */
static size_t block(uint8_t *buf, uint64_t gen, uint64_t from, uint64_t max, int complete,
                    uint64_t first_seq, int count) {
  rumor_wire_writer w;
  struct sockaddr_storage addr;
  net_addr(9, &addr);
  CHECK_EQ(rumor__wire_begin(&w, buf, 1400, RUMOR_MSG_ACK, "default", 7, "src", 3, 5, &addr), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &addr, gen, from, max, 0), 0);
  for (int i = 0; i < count; i++) {
    char slot[8];
    int n = snprintf(slot, sizeof(slot), "%ck%llu", 0, (unsigned long long)(first_seq + (uint64_t)i));
    CHECK_EQ(rumor__wire_block_add(&w, slot, (size_t)n, first_seq + (uint64_t)i, 0, (const uint8_t *)"v", 1), 0);
  }
  rumor__wire_block_end(&w, complete ? RUMOR_WIRE_COMPLETE : 0);
  rumor__wire_delta_end(&w);
  return w.len;
}

/* A started node "b" alone on the network; *from is where crafted datagrams
 * come from. */
static rumor_node_t *lone_node(fake_net *net, uint64_t seed, struct sockaddr_storage *from) {
  net_init(net, seed);
  net_addr(9, from);
  rumor_node_t *b = net_add(net, "b", -1, NULL);
  CHECK_EQ(rumor_node_start(b), 0);
  return b;
}

static void gaps_duplicates_and_order(void) {
  fake_net net;
  events ev = {0};
  uint8_t d1[1400], d2[1400];
  struct sockaddr_storage from;
  rumor_node_t *b = lone_node(&net, 2, &from);
  rumor_node_on_update(b, record, &ev);
  const rumor_metrics_t *mt = rumor_node_metrics(b);
  size_t l1 = block(d1, 7, 0, 3, 1, 1, 3); /* seqs 1..3 */
  size_t l2 = block(d2, 7, 3, 5, 1, 4, 2); /* seqs 4..5 */
  /* The second chunk first: a gap, refused whole. */
  rumor__node_recv(b, &from, d2, l2);
  CHECK_EQ(mt->deltas_gap, 1);
  CHECK_EQ(ev.n, 0);
  CHECK(!holds(b, "x", "k4", "v"));
  /* In order now, each delivered twice. */
  rumor__node_recv(b, &from, d1, l1);
  rumor__node_recv(b, &from, d1, l1);
  rumor__node_recv(b, &from, d2, l2);
  rumor__node_recv(b, &from, d2, l2);
  CHECK_EQ(ev.n, 5);
  for (int i = 0; i < 5; i++) {
    CHECK(strcmp(ev.member[i], "x") == 0);
    CHECK_EQ(ev.seq[i], i + 1);
  }
  CHECK_EQ(mt->entries_merged, 5);
  CHECK_EQ(mt->entries_ignored, 5);
  /* An incomplete chunk raises the watermark only to its last entry:
   * seqs 6..7 of max 10; then a chunk from 7 applies, one from 8 would not. */
  rumor__node_recv(b, &from, d1, block(d1, 7, 5, 10, 0, 6, 2));
  rumor__node_recv(b, &from, d1, block(d1, 7, 8, 10, 1, 9, 2));
  CHECK_EQ(mt->deltas_gap, 2);
  rumor__node_recv(b, &from, d1, block(d1, 7, 7, 10, 1, 8, 3));
  CHECK_EQ(ev.n, 10);
  CHECK_EQ(ev.seq[9], 10);
  net_free(&net);
}

static void generations(void) {
  fake_net net;
  uint8_t d[1400];
  struct sockaddr_storage from;
  rumor_node_t *b = lone_node(&net, 3, &from);
  const rumor_metrics_t *mt = rumor_node_metrics(b);
  rumor__node_recv(b, &from, d, block(d, 7, 0, 2, 1, 1, 2)); /* k1, k2 */
  CHECK(holds(b, "x", "k1", "v") && holds(b, "x", "k2", "v"));
  /* A restart (generation 8) that has only written k1 so far. */
  rumor__node_recv(b, &from, d, block(d, 8, 0, 1, 1, 1, 1));
  CHECK(holds(b, "x", "k1", "v"));
  CHECK(!holds(b, "x", "k2", "v"));
  CHECK_EQ(mt->generations_replaced, 1);
  /* Late traffic of the old generation changes nothing. */
  rumor__node_recv(b, &from, d, block(d, 7, 2, 3, 1, 3, 1));
  CHECK(!holds(b, "x", "k3", "v"));
  CHECK_EQ(mt->deltas_stale, 1);
  /* A newer generation that does not start at 0 would leave a gap. */
  rumor__node_recv(b, &from, d, block(d, 9, 1, 3, 1, 2, 2));
  CHECK_EQ(mt->deltas_gap, 1);
  net_free(&net);
}

static void refuses_bad_datagrams(void) {
  fake_net net;
  uint8_t d[1400];
  struct sockaddr_storage from;
  rumor_node_t *b = lone_node(&net, 4, &from);
  const rumor_metrics_t *mt = rumor_node_metrics(b);
  size_t len = block(d, 7, 0, 2, 1, 1, 2);
  rumor__node_recv(b, &from, d, len - 1);
  CHECK_EQ(mt->drops_malformed, 1);
  CHECK_EQ(rumor_node_member_count(b), 1);
  d[2] = 9;
  rumor__node_recv(b, &from, d, len);
  CHECK_EQ(mt->drops_version, 1);
  len = block(d, 7, 0, 2, 1, 1, 2);
  d[5] = 'X'; /* cluster "default" -> "Xefault" */
  rumor__node_recv(b, &from, d, len);
  CHECK_EQ(mt->drops_cluster, 1);
  CHECK_EQ(rumor_node_member_count(b), 1);
  net_free(&net);
}

static void mtu_bounded_catch_up(void) {
  fake_net net;
  rumor_config_t cfg;
  char k[16], v[64];
  net_init(&net, 5);
  rumor_config_init(&cfg);
  cfg.mtu = 600;
  cfg.gossip_max_send = 10;
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  for (int i = 0; i < 300; i++) {
    snprintf(k, sizeof(k), "key%03d", i);
    snprintf(v, sizeof(v), "value-%03d-padding-padding-padding", i);
    CHECK(rumor_node_set(a, k, strlen(k), v, strlen(v)) > 0);
  }
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  int rounds = 0;
  while (!holds(b, "a", "key299", "value-299-padding-padding-padding") && rounds < 200) {
    net_run(&net, cfg.gossip_interval_ms);
    rounds++;
    /* Every datagram stayed within the MTU and b never saw a gap. */
    CHECK_EQ(rumor_node_metrics(b)->deltas_gap, 0);
  }
  CHECK(rounds < 200);
  for (int i = 0; i < 300; i++) {
    snprintf(k, sizeof(k), "key%03d", i);
    snprintf(v, sizeof(v), "value-%03d-padding-padding-padding", i);
    CHECK(holds(b, "a", k, v));
  }
  net_free(&net);
}

static void join_through_one_seed(void) {
  fake_net net;
  char id[8];
  net_init(&net, 6);
  rumor_node_t *nodes[12];
  for (int i = 0; i < 12; i++) {
    snprintf(id, sizeof(id), "n%d", i);
    nodes[i] = net_add(&net, id, i == 0 ? -1 : 0, NULL);
    CHECK(rumor_node_set(nodes[i], "name", 4, id, strlen(id)) > 0);
    CHECK_EQ(rumor_node_start(nodes[i]), 0);
  }
  net_run(&net, 10000);
  for (int i = 0; i < 12; i++) {
    CHECK_EQ(rumor_node_member_count(nodes[i]), 12);
    for (int j = 0; j < 12; j++) {
      snprintf(id, sizeof(id), "n%d", j);
      CHECK(holds(nodes[i], id, "name", id));
    }
  }
  net_free(&net);
}

/* A dual-stack socket ([::]) sees an IPv4 sender at its IPv4-mapped IPv6
 * address, so a wildcard-bound seed given as "10.0.0.1:7946" is recorded
 * at [::ffff:10.0.0.1]:7946. It is the same seed: met, it must not get a
 * full SYN every round for ever. */
static void a_seed_met_at_its_mapped_address_is_known(void) {
  fake_net net;
  net_init(&net, 8);
  rumor_node_t *a = net_add(&net, "a", -1, NULL), *b = net_add(&net, "b", 0, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  CHECK_EQ(rumor__gossip_seed_known(b, &b->seeds[0]), 1);
  rumor_member *m = rumor__store_find(&b->store, "a", 1);
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&m->addr;
  memset(&m->addr, 0, sizeof m->addr);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(7946);
  v6->sin6_addr.s6_addr[10] = v6->sin6_addr.s6_addr[11] = 0xff;
  v6->sin6_addr.s6_addr[12] = 10;
  v6->sin6_addr.s6_addr[15] = 1;
  CHECK_EQ(rumor__gossip_seed_known(b, &b->seeds[0]), 1);
  net_drop_queue(&net);
  net_free(&net);
}

static void limits_at_set(void) {
  fake_net net;
  rumor_config_t cfg;
  static char big[2000], key[RUMOR_MAX_KEY_LEN + 1];
  net_init(&net, 7);
  rumor_config_init(&cfg);
  cfg.max_value_size = 1999;
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  CHECK_EQ(rumor_node_value_limit(a, 1, 0), 1999);
  CHECK_EQ(rumor_node_set(a, "k", 1, big, sizeof(big)), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_map_set(a, "k", 1, "m", 1, big, sizeof(big)), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_set(a, "", 0, "v", 1), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set(a, key, sizeof(key), "v", 1), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_map_set(a, "k", 1, "", 0, "v", 1), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_map_set(a, "k", 1, key, sizeof(key), "v", 1), RUMOR_ETOOBIG);
  CHECK(rumor_node_set(a, "k", 1, big, 1999) > 0); /* more than a datagram: fine */
  CHECK_EQ(rumor_node_delete(a, "nothing", 7), 0);  /* nothing to delete */
  net_free(&net);
}

static void config_errors_name_the_field(void) {
  rumor_config_t cfg;
  rumor_error_t err;
  rumor_config_init(&cfg);
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "id") == 0);
  cfg.id = "a";
  cfg.bind = "nonsense";
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "bind") == 0);
  cfg.bind = "127.0.0.1:0";
  cfg.mtu = 100;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "mtu") == 0);
  cfg.mtu = 1400;
  const char *seeds[] = {"127.0.0.1:1", "bad"};
  cfg.seeds = seeds;
  cfg.nseeds = 2;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "seeds[2]") == 0);
  cfg.nseeds = 1;
  CHECK_EQ(rumor_config_check(&cfg, &err), 0);
}

int main(void) {
  RUN(two_nodes_converge);
  RUN(gaps_duplicates_and_order);
  RUN(generations);
  RUN(refuses_bad_datagrams);
  RUN(mtu_bounded_catch_up);
  RUN(join_through_one_seed);
  RUN(a_seed_met_at_its_mapped_address_is_known);
  RUN(limits_at_set);
  RUN(config_errors_name_the_field);
  return 0;
}

/* test_limits.c: the limits of rumor_config_t on the in-memory network
 * (fake_net.h): what passes one is dropped or refused and counted, and the
 * rest of the traffic still goes through. */
#include "fake_net.h"

#define KEY(k) k, sizeof(k) - 1

/* Datagrams and rounds of the whole net, for "traffic settles". */
static void traffic(fake_net *net, uint64_t *sent, uint64_t *rounds) {
  *sent = *rounds = 0;
  for (int i = 0; i < net->n; i++) {
    *sent += rumor_node_metrics(net->nodes[i])->datagrams_sent;
    *rounds += rumor_node_metrics(net->nodes[i])->rounds;
  }
}

typedef struct said {
  int n;
  const char *what;
} said;

static void count_lines(rumor_node_t *n, int level, const char *msg, size_t len, void *arg) {
  said *s = arg;
  (void)n;
  (void)len;
  if (level == RUMOR_LOG_WARN && strstr(msg, s->what) != NULL) s->n++;
}

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

/* Someone floods n00 with made-up member ids: n00 (room for 6 members)
 * takes what fits, refuses the rest, counts and says so once. The members
 * it knows keep syncing both ways, a member that joins later is refused by
 * n00 alone (the others take it), and the traffic settles. */
static void members_past_the_limit_are_refused(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  said log = {0, "max_members"};
  static uint8_t buf[4096];
  rumor_wire_writer w;
  struct sockaddr_storage evil;
  cfg.max_members = 6;
  net_cluster(&net, 4, &cfg, 7);
  rumor_node_t *a = net.nodes[0];
  rumor_node_on_log(a, RUMOR_LOG_WARN, count_lines, &log);
  /* A SYN from an unknown sender naming 20 members nobody runs. */
  net_addr(9, &evil);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, "evil", 4, 1, &evil), 0);
  CHECK_EQ(rumor__wire_digest_begin(&w), 0);
  for (int i = 0; i < 20; i++) {
    char id[8];
    snprintf(id, sizeof id, "f%02d", i);
    CHECK_EQ(rumor__wire_digest_add(&w, id, 3, &evil, 0, 0), 0);
  }
  rumor__wire_digest_end(&w, 0);
  rumor__node_recv(a, &evil, buf, w.len);
  const rumor_metrics_t *m = rumor_node_metrics(a);
  CHECK_EQ(rumor_node_member_count(a), 6); /* 4, the sender and one of its names */
  CHECK_EQ(m->members_refused, 19);
  CHECK_EQ(log.n, 1);
  /* "n015" sorts between n01 and n02: not a ring neighbour of n00, which
   * would watch n00 and find it silent. */
  rumor_node_t *late = net_add(&net, "n015", 1, &cfg);
  CHECK_EQ(rumor_node_start(late), 0);
  net_run(&net, 3000);
  for (int i = 0; i < 4; i++) CHECK(rumor_node_set(net.nodes[i], KEY("k"), net_id(i), 3) > 0);
  CHECK(rumor_node_set(late, KEY("k"), "late", 4) > 0);
  net_run(&net, 3000);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) CHECK(holds(net.nodes[i], net_id(j), "k", net_id(j)));
  for (int i = 1; i < 4; i++) CHECK(holds(net.nodes[i], "n015", "k", "late"));
  CHECK(!holds(a, "n015", "k", "late"));
  CHECK_EQ(rumor_node_member_count(a), 6);
  CHECK(m->members_refused > 19);
  CHECK_EQ(log.n, 1);
  for (int i = 1; i < 4; i++) CHECK_EQ(net_member(a, net_id(i)).status, RUMOR_MEMBER_ALIVE);
  for (int i = 1; i < 5; i++) CHECK_EQ(net_member(net.nodes[i], net_id(0)).status, RUMOR_MEMBER_ALIVE);
  CHECK_EQ(m->rejoins, 0);
  /* Quiet again: n00's summary never matches its neighbours' (it lacks a
   * member), which costs an exchange now and then, not every round. */
  uint64_t sent0, rounds0, sent1, rounds1;
  net_run(&net, 20000);
  traffic(&net, &sent0, &rounds0);
  net_run(&net, 20000);
  traffic(&net, &sent1, &rounds1);
  CHECK(2 * (sent1 - sent0) <= 3 * (rounds1 - rounds0));
  /* Topology naming more new members than there is room for: refused whole. */
  rumor_peer_t peers[] = {{net_id(1), NULL}, {"x", "10.0.0.40:7946"}};
  CHECK_EQ(rumor_node_set_topology(a, peers, 2), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_member_count(a), 6);
  CHECK_EQ(net_member(a, net_id(2)).status, RUMOR_MEMBER_ALIVE); /* not blocked by it */
  net_free(&net);
}

/* In one datagram, the block of a member there is no room for is skipped
 * and the block after it is taken. */
static void an_unknown_member_is_skipped_not_the_datagram(void) {
  fake_net net;
  rumor_config_t cfg;
  static uint8_t buf[2048];
  rumor_wire_writer w;
  struct sockaddr_storage from;
  uint8_t slot[8];
  rumor_config_init(&cfg);
  cfg.max_members = 2;
  net_init(&net, 3);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  net_addr(9, &from);
  size_t sl = rumor__slot_encode(slot, "k", 1, NULL, 0);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_ACK, "default", 7, "e", 1, 1, &from), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "x", 1, &from, 1, 0, 1, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, (char *)slot, sl, 1, 0, (const uint8_t *)"x", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  CHECK_EQ(rumor__wire_block_begin(&w, "e", 1, &from, 1, 0, 1, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, (char *)slot, sl, 1, 0, (const uint8_t *)"e", 1), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  rumor__node_recv(a, &from, buf, w.len);
  CHECK(holds(a, "e", "k", "e"));
  CHECK_EQ(rumor_node_member_count(a), 2);
  CHECK_EQ(rumor_node_metrics(a)->members_refused, 1);
  /* A datagram from yet another sender is not heard at all. */
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_ACK, "default", 7, "y", 1, 1, &from), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  rumor__wire_delta_end(&w);
  rumor__node_recv(a, &from, buf, w.len);
  CHECK_EQ(rumor_node_metrics(a)->members_refused, 2);
  CHECK_EQ(rumor_node_member_count(a), 2);
  net_free(&net);
}

/* Entries this node holds of member (values and deletes not yet purged). */
static size_t entries_of(rumor_node_t *node, const char *member) {
  rumor_member_info_t info = net_member(node, member);
  return info.nkeys + info.ntombstones;
}

/* A node's own writes: new keys stop at max_keys_per_member (its heartbeat
 * entry counts), writes to keys it holds and deletes still go, and a
 * purged delete makes room again. */
static void local_writes_stop_at_the_key_limit(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  cfg.max_keys_per_member = 10;
  cfg.tombstone_grace_ms = 1000;
  net_init(&net, 5);
  rumor_node_t *a = net_add(&net, "a", -1, &cfg);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(entries_of(a, "a"), 1); /* the heartbeat */
  char key[8];
  for (int i = 0; i < 9; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK(rumor_node_set(a, key, strlen(key), "v", 1) > 0);
  }
  CHECK_EQ(rumor_node_set(a, KEY("k9"), "v", 1), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_map_set(a, KEY("m"), KEY("e"), "v", 1), RUMOR_ETOOBIG);
  CHECK(rumor_node_set(a, KEY("k0"), "w", 1) > 0); /* held: an update */
  CHECK(rumor_node_delete(a, KEY("k1")) > 0);      /* a delete holds its slot */
  CHECK_EQ(rumor_node_set(a, KEY("k9"), "v", 1), RUMOR_ETOOBIG);
  CHECK(rumor_node_set(a, KEY("k1"), "again", 5) > 0);
  CHECK(rumor_node_delete(a, KEY("k1")) > 0);
  CHECK_EQ(entries_of(a, "a"), 10);
  net_run(&net, 3000); /* the delete is purged */
  CHECK_EQ(entries_of(a, "a"), 9);
  CHECK(rumor_node_set(a, KEY("k9"), "v", 1) > 0);
  CHECK_EQ(rumor_node_set(a, KEY("k10"), "v", 1), RUMOR_ETOOBIG);
  CHECK_EQ(rumor_node_metrics(a)->entries_over_limit, 0); /* remote entries only */
  net_free(&net);
}

/* b writes 20 keys; a holds at most 10 entries per member. a takes b's
 * heartbeat and its first 9 keys, refuses the other 11 (counted, said
 * once), and still gets b's later updates, deletes and heartbeats; nothing
 * is asked for again: the traffic settles as if they agreed. */
static void remote_keys_past_the_limit_are_refused(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config(), small = net_fast_config();
  said log = {0, "max_keys_per_member"};
  small.max_keys_per_member = 10;
  net_init(&net, 9);
  rumor_node_t *a = net_add(&net, "a", -1, &small);
  rumor_node_t *b = net_add(&net, "b", 0, &cfg);
  rumor_node_on_log(a, RUMOR_LOG_WARN, count_lines, &log);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  char key[8];
  for (int i = 0; i < 20; i++) {
    snprintf(key, sizeof key, "k%02d", i);
    CHECK(rumor_node_set(b, key, strlen(key), "v", 1) > 0);
  }
  net_run(&net, 3000);
  const rumor_metrics_t *m = rumor_node_metrics(a);
  CHECK_EQ(entries_of(a, "b"), 10);
  for (int i = 0; i < 20; i++) {
    snprintf(key, sizeof key, "k%02d", i);
    CHECK_EQ(holds(a, "b", key, "v"), i < 9);
  }
  CHECK(m->entries_over_limit >= 11);
  CHECK_EQ(log.n, 1);
  CHECK_EQ(net_member(a, "b").max_seq, net_member(b, "b").max_seq); /* passed, not stuck */
  /* What b changes in keys a holds still arrives. */
  CHECK(rumor_node_set(b, KEY("k00"), "w", 1) > 0);
  CHECK(rumor_node_delete(b, KEY("k01")) > 0);
  rumor_stat_t st = {"load", 4, 7};
  CHECK_EQ(rumor_node_set_stats(b, &st, 1), 0); /* a new heartbeat entry */
  net_run(&net, 3000);
  CHECK(holds(a, "b", "k00", "w"));
  CHECK(!holds(a, "b", "k01", "v"));
  CHECK_EQ(net_member(a, "b").has_heartbeat, 1);
  size_t off = 0;
  rumor_stat_t got;
  rumor_member_info_t ib = net_member(a, "b");
  CHECK_EQ(rumor_stats_next(ib.stats, ib.stats_len, &off, &got), 1);
  CHECK(got.name_len == 4 && memcmp(got.name, "load", 4) == 0 && got.value == 7);
  CHECK_EQ(net_member(a, "b").max_seq, net_member(b, "b").max_seq);
  CHECK_EQ(log.n, 1);
  /* Nothing is asked for again: the traffic of a quiet pair. */
  uint64_t refused = m->entries_over_limit, sent0, rounds0, sent1, rounds1;
  net_run(&net, 10000);
  traffic(&net, &sent0, &rounds0);
  net_run(&net, 20000);
  traffic(&net, &sent1, &rounds1);
  CHECK(sent1 - sent0 <= (rounds1 - rounds0) + (rounds1 - rounds0) / 10);
  CHECK_EQ(m->entries_over_limit, refused);
  CHECK_EQ(m->tcp_pulls, 0);
  /* A new write of a refused key is judged afresh: still no room. */
  CHECK(rumor_node_set(b, KEY("k15"), "again", 5) > 0);
  net_run(&net, 2000);
  CHECK(!holds(a, "b", "k15", "again"));
  CHECK_EQ(m->entries_over_limit, refused + 1);
  CHECK_EQ(log.n, 1); /* still the same crossing */
  net_free(&net);
}

int main(void) {
  RUN(oversized_datagrams_are_dropped_unread);
  RUN(a_flood_from_one_address_leaves_the_others_alone);
  RUN(many_addresses_share_a_fixed_table);
  RUN(members_past_the_limit_are_refused);
  RUN(an_unknown_member_is_skipped_not_the_datagram);
  RUN(local_writes_stop_at_the_key_limit);
  RUN(remote_keys_past_the_limit_are_refused);
  return 0;
}

/* test_seal.c: the keyring (seal.c, replay.c, guard.c, keyring.c).
 * An envelope opens only whole and with its key; the replay window takes
 * each counter once; sealed nodes converge (also over TCP) while a node
 * with another key, or none, learns nothing and changes nothing, warned
 * about once per address; a replayed datagram, an old one, and a live
 * member's id spoken from another address are refused; keys rotate on a
 * running cluster without anyone being blocked. */
#include "fake_net.h"
#include "seal.h"
#include "replay.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_A_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA="

static void keys_parse(void) {
  uint8_t a[32], h[32], x[32];
  CHECK_EQ(rumor__key_parse(KEY_A, strlen(KEY_A), a), 0);
  CHECK_EQ(rumor__key_parse(KEY_A_HEX, strlen(KEY_A_HEX), h), 0);
  CHECK(memcmp(a, h, 32) == 0);
  CHECK_EQ(a[31], 31);
  CHECK_EQ(rumor__key_parse("short", 5, x), -1);
  CHECK_EQ(rumor__key_parse(KEY_A, strlen(KEY_A) - 1, x), -1);          /* cut */
  CHECK_EQ(rumor__key_parse("AAEC" KEY_A, strlen(KEY_A) + 4, x), -1);   /* 35 bytes */
  CHECK(rumor__key_id(a) != 0);
  char gen[RUMOR_KEY_TEXT_LEN + 1], gen2[RUMOR_KEY_TEXT_LEN + 1];
  CHECK_EQ(rumor_keygen(gen, sizeof gen), 0);
  CHECK_EQ(rumor_keygen(gen2, sizeof gen2), 0);
  CHECK_EQ(strlen(gen), RUMOR_KEY_TEXT_LEN);
  CHECK(strcmp(gen, gen2) != 0);
  CHECK_EQ(rumor__key_parse(gen, strlen(gen), x), 0);
  CHECK_EQ(rumor_keygen(gen, RUMOR_KEY_TEXT_LEN), RUMOR_EINVAL);
}

static void ring_of(rumor_keyring *kr, const char *text, uint64_t salt) {
  uint8_t k[32];
  rumor__keyring_init(kr, salt, salt);
  CHECK_EQ(rumor__key_parse(text, strlen(text), k), 0);
  CHECK_EQ(rumor__keyring_add(kr, k, 1), 0);
}

/* Every single-byte change and every cut refuses the envelope. */
static void envelope_opens_only_whole(void) {
  rumor_keyring a, b;
  ring_of(&a, KEY_A, 1);
  ring_of(&b, KEY_B, 2);
  const uint8_t msg[] = "RM\x01 a wire message";
  uint8_t env[sizeof msg + RUMOR_SEAL_OVERHEAD], out[sizeof env];
  size_t len = rumor__seal(&a, 12345, msg, sizeof msg, env), got = 0;
  CHECK_EQ(len, sizeof msg + RUMOR_SEAL_OVERHEAD);
  rumor_sealed_info info;
  CHECK_EQ(rumor__unseal(&a, env, len, out, &got, &info), RUMOR_SEAL_OK);
  CHECK_EQ(got, sizeof msg);
  CHECK(memcmp(out, msg, got) == 0);
  CHECK_EQ(info.counter, 1);
  CHECK_EQ(info.wall_ms, 12345);
  CHECK_EQ(a.keys[0].opened, 1);
  CHECK_EQ(rumor__unseal(&b, env, len, out, &got, &info), RUMOR_SEAL_ENOKEY);
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      env[i] ^= (uint8_t)(1u << bit);
      CHECK(rumor__unseal(&a, env, len, out, &got, &info) != RUMOR_SEAL_OK);
      env[i] ^= (uint8_t)(1u << bit);
    }
  }
  for (size_t cut = 0; cut < len; cut++)
    CHECK(rumor__unseal(&a, env, cut, out, &got, &info) != RUMOR_SEAL_OK);
  CHECK_EQ(rumor__unseal(&a, env, len, out, &got, &info), RUMOR_SEAL_OK);
  /* The same key id with other bytes: refused as not opening. */
  rumor_keyring c;
  ring_of(&c, KEY_B, 3);
  c.keys[0].id = a.keys[0].id;
  CHECK_EQ(rumor__unseal(&c, env, len, out, &got, &info), RUMOR_SEAL_EAUTH);
  /* Counters grow; salts differ per ring. */
  uint8_t env2[sizeof env];
  rumor__seal(&a, 12345, msg, sizeof msg, env2);
  CHECK_EQ(rumor__unseal(&a, env2, len, out, &got, &info), RUMOR_SEAL_OK);
  CHECK_EQ(info.counter, 2);
  rumor__keyring_wipe(&a);
  CHECK_EQ(a.nkeys, 0);
}

static void replay_window_takes_each_counter_once(void) {
  rumor_replay r;
  memset(&r, 0, sizeof r);
  uint8_t s1[16] = {1}, s2[16] = {2};
  CHECK_EQ(rumor__replay_check(&r, s1, 10, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 10, 5, 1000), -1);
  CHECK_EQ(rumor__replay_check(&r, s1, 12, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 11, 5, 1000), 0); /* late, but first */
  CHECK_EQ(rumor__replay_check(&r, s1, 11, 5, 1000), -1);
  CHECK_EQ(rumor__replay_check(&r, s1, 12 + 600, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 12 + 600 - RUMOR_REPLAY_WINDOW + 1, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 12 + 600 - RUMOR_REPLAY_WINDOW, 5, 1000), -1); /* too old */
  CHECK_EQ(rumor__replay_check(&r, s1, 12, 5, 1000), -1);
  /* Bits carried across words by a shift that is not a multiple of 64. */
  CHECK_EQ(rumor__replay_check(&r, s1, 700, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 770, 5, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 700, 5, 1000), -1);
  CHECK_EQ(rumor__replay_check(&r, s1, 701, 5, 1000), 0);
  /* A rejoin of the same process: newer generation, same salt, counter on. */
  CHECK_EQ(rumor__replay_check(&r, s1, 771, 6, 1000), 0);
  /* Another process: a newer one replaces it, an older one is refused. */
  CHECK_EQ(rumor__replay_check(&r, s2, 1, 7, 1000), 0);
  CHECK_EQ(rumor__replay_check(&r, s1, 900, 6, 1000), -1);
  CHECK_EQ(rumor__replay_check(&r, s2, 1, 7, 1000), -1);
  CHECK_EQ(rumor__replay_check(&r, s2, 2, 7, 1000), 0);
  /* The same generation (an explicit one, restarted): a salt takes over
   * only when sealed later than the current salt's latest. */
  uint8_t s3[16] = {3};
  CHECK_EQ(rumor__replay_check(&r, s2, 3, 7, 1500), 0);
  CHECK_EQ(rumor__replay_check(&r, s3, 1, 7, 1500), -1);
  CHECK_EQ(rumor__replay_check(&r, s3, 1, 7, 1501), 0);
  CHECK_EQ(rumor__replay_check(&r, s2, 4, 7, 1400), -1);
}

static rumor_config_t keyed(const char *const *keys, size_t n) {
  rumor_config_t cfg = net_fast_config();
  cfg.keyring = keys;
  cfg.nkeys = n;
  return cfg;
}

static const char *const RING_A[] = {KEY_A};
static const char *const RING_B[] = {KEY_B};

typedef struct warnings {
  int key, plaintext, replay, spoof, clock;
} warnings;

static void count_warning(rumor_node_t *n, int level, const char *msg, size_t len, void *arg) {
  warnings *w = arg;
  (void)n;
  (void)len;
  if (level != RUMOR_LOG_WARN) return;
  if (strstr(msg, "key this node lacks") || strstr(msg, "do not open") ||
      strstr(msg, "no keyring"))
    w->key++;
  if (strstr(msg, "unsealed")) w->plaintext++;
  if (strstr(msg, "replayed messages")) w->replay++;
  if (strstr(msg, "claims to be")) w->spoof++;
  if (strstr(msg, "off this node's clock")) w->clock++;
}

static void sealed_cluster_converges(void) {
  fake_net net;
  rumor_config_t cfg = keyed(RING_A, 1);
  net_cluster(&net, 4, &cfg, 11);
  static uint8_t big[20000];
  memset(big, 'b', sizeof big);
  CHECK(rumor_node_set(net.nodes[1], "big", 3, big, sizeof big) > 0); /* over TCP */
  CHECK(rumor_node_set(net.nodes[2], "k", 1, "v", 1) > 0);
  net_run(&net, 3000);
  for (int i = 0; i < 4; i++) {
    CHECK(holds(net.nodes[i], "n02", "k", "v"));
    const uint8_t *v;
    size_t len;
    CHECK_EQ(rumor_node_get(net.nodes[i], "n01", 3, "big", 3, &v, &len, NULL), 0);
    CHECK_EQ(len, sizeof big);
    for (int j = 0; j < 4; j++) CHECK_EQ(net_member(net.nodes[i], net_id(j)).status, RUMOR_MEMBER_ALIVE);
    const rumor_metrics_t *m = rumor_node_metrics(net.nodes[i]);
    CHECK_EQ(m->drops_key + m->drops_plaintext + m->drops_replay + m->drops_spoofed, 0);
  }
  CHECK(rumor_node_metrics(net.nodes[0])->frames_received + rumor_node_metrics(net.nodes[2])->frames_received > 0);
  rumor_key_info_t info[2];
  CHECK_EQ(rumor_node_keyring(net.nodes[0], info, 2), 1);
  CHECK_EQ(info[0].primary, 1);
  CHECK(info[0].opened > 0);
  CHECK_EQ(strlen(info[0].id), 8);
  net_free(&net);
}

/* A node with another key and one with none join through a sealed node:
 * nobody learns of anybody, each refusal is counted, and each kind of
 * trouble is warned about once per address however long it lasts. */
static void strangers_learn_nothing(void) {
  fake_net net;
  rumor_config_t a = keyed(RING_A, 1), b = keyed(RING_B, 1), plain = net_fast_config();
  warnings w0 = {0}, w1 = {0}, w2 = {0};
  net_init(&net, 5);
  net_add(&net, "n00", -1, &a);
  net_add(&net, "n01", 0, &b);
  net_add(&net, "n02", 0, &plain);
  rumor_node_on_log(net.nodes[0], RUMOR_LOG_WARN, count_warning, &w0);
  rumor_node_on_log(net.nodes[1], RUMOR_LOG_WARN, count_warning, &w1);
  rumor_node_on_log(net.nodes[2], RUMOR_LOG_WARN, count_warning, &w2);
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_start(net.nodes[i]), 0);
  for (int i = 0; i < 3; i++) CHECK(rumor_node_set(net.nodes[i], "k", 1, "v", 1) > 0);
  net_run(&net, 5000);
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_member_count(net.nodes[i]), 1);
  const rumor_metrics_t *m0 = rumor_node_metrics(net.nodes[0]);
  CHECK(m0->drops_key > 10);       /* n01's, every round */
  CHECK(m0->drops_plaintext > 10); /* n02's */
  CHECK_EQ(m0->entries_merged, 0);
  CHECK_EQ(w0.key, 1);
  CHECK_EQ(w0.plaintext, 1);
  CHECK_EQ(w1.key, 0); /* n00 never answers it, n02 never reaches it */
  CHECK_EQ(w2.key, 0);
  net_free(&net);
}

/* A copy of a datagram n01 sent n00, delivered again. */
static void replays_are_refused(void) {
  fake_net net;
  rumor_config_t cfg = keyed(RING_A, 1);
  warnings w = {0};
  net_cluster(&net, 3, &cfg, 13);
  rumor_node_on_log(net.nodes[0], RUMOR_LOG_WARN, count_warning, &w);
  CHECK(rumor_node_set(net.nodes[1], "k", 1, "v1", 2) > 0);
  rumor__node_timer(net.nodes[1], RUMOR_TIMER_PUSH); /* the push, queued, not delivered */
  net_datagram copy = {0};
  for (size_t i = 0; i < net.qlen; i++)
    if (net.queue[i].to == 0 && net.queue[i].stream == NULL) {
      copy = net.queue[i];
      copy.data = malloc(copy.len);
      memcpy(copy.data, net.queue[i].data, copy.len);
      break;
    }
  CHECK(copy.data != NULL);
  net_deliver_all(&net);
  CHECK(holds(net.nodes[0], "n01", "k", "v1"));
  struct sockaddr_storage from;
  net_addr(1, &from);
  uint64_t before = rumor_node_metrics(net.nodes[0])->drops_replay;
  for (int i = 0; i < 5; i++) rumor__node_recv(net.nodes[0], &from, copy.data, copy.len);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->drops_replay, before + 5);
  CHECK_EQ(w.replay, 1);
  /* A node that never heard n01 refuses the copy by its age alone, once
   * the replay window has passed. */
  net_add(&net, "n09", 0, &cfg);
  CHECK_EQ(rumor_node_start(net.nodes[3]), 0);
  net.now += cfg.replay_window_ms + 1;
  before = rumor_node_metrics(net.nodes[3])->drops_replay;
  rumor__node_recv(net.nodes[3], &from, copy.data, copy.len);
  CHECK_EQ(rumor_node_metrics(net.nodes[3])->drops_replay, before + 1);
  CHECK_EQ(rumor_node_metrics(net.nodes[3])->entries_merged, 0);
  free(copy.data);
  net_free(&net);
}

/* Someone at n03's address speaks as n01 (its id and generation): refused,
 * and n01's gossip does not move there. A restart (newer generation) at a
 * new address does move it. */
static void spoofed_ids_are_refused(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  warnings w = {0};
  net_cluster(&net, 4, &cfg, 17);
  rumor_node_on_log(net.nodes[0], RUMOR_LOG_WARN, count_warning, &w);
  struct sockaddr_storage impostor, real;
  net_addr(3, &impostor);
  net_addr(1, &real);
  uint8_t buf[512];
  rumor_wire_writer wr;
  uint64_t gen = rumor_node_generation(net.nodes[1]);
  CHECK_EQ(rumor__wire_begin(&wr, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, "n01", 3, gen,
                             &impostor), 0);
  CHECK_EQ(rumor__wire_summary(&wr, 1, 42), 0);
  for (int i = 0; i < 3; i++) rumor__node_recv(net.nodes[0], &impostor, buf, wr.len);
  net_deliver_all(&net);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->drops_spoofed, 3);
  CHECK_EQ(w.spoof, 1);
  char addr[RUMOR_MAX_ADDR_STRLEN];
  rumor_member_info_t m = net_member(net.nodes[0], "n01");
  (void)m;
  rumor_member *mm = rumor__store_find(&net.nodes[0]->store, "n01", 3);
  rumor_addr_format((const struct sockaddr *)&mm->addr, addr, sizeof addr);
  CHECK(strcmp(addr, "10.0.0.2:7946") == 0);
  /* The same id under a newer generation is a restart: it may move. */
  CHECK_EQ(rumor__wire_begin(&wr, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, "n01", 3, gen + 1,
                             &impostor), 0);
  CHECK_EQ(rumor__wire_summary(&wr, 1, 42), 0);
  rumor__node_recv(net.nodes[0], &impostor, buf, wr.len);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->drops_spoofed, 3);
  net_free(&net);
}

/* A SYN (a summary) of id under gen, as a process with ring would seal
 * it, advertising node at's address. */
static size_t forge_syn(rumor_keyring *ring, uint64_t wall_ms, const char *id, uint64_t gen,
                        int at, uint8_t *out) {
  uint8_t buf[512];
  rumor_wire_writer w;
  struct sockaddr_storage a;
  net_addr(at, &a);
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, id, strlen(id), gen,
                             &a), 0);
  CHECK_EQ(rumor__wire_summary(&w, 1, 42), 0);
  return rumor__seal(ring, wall_ms, buf, w.len, out);
}

/* n01 runs with an explicit generation and restarts at its address under
 * the same one: its new process (another salt) takes over. The old
 * process's datagrams replayed then must not take the member's window
 * back, nor the new process's datagrams replayed after them: each salt
 * change would otherwise start an empty window, and every datagram of
 * either process would pass again, as often as the salts alternate. */
static void a_restart_under_the_same_generation_does_not_reopen_replays(void) {
  fake_net net;
  rumor_config_t cfg = keyed(RING_A, 1);
  net_init(&net, 37);
  rumor_node_t *n0 = net_add(&net, "n00", -1, &cfg);
  CHECK_EQ(rumor_node_start(n0), 0);
  rumor_keyring old, cur;
  ring_of(&old, KEY_A, 100);
  ring_of(&cur, KEY_A, 200);
  struct sockaddr_storage from;
  net_addr(1, &from);
  uint8_t o1[600], c1[600], c2[600];
  uint64_t wall = 1700000000000ull + net.now;
  size_t lo1 = forge_syn(&old, wall, "n01", 77, 1, o1);
  rumor__node_recv(n0, &from, o1, lo1);
  net_run(&net, 1000); /* the restart */
  wall += 1000;
  size_t lc1 = forge_syn(&cur, wall, "n01", 77, 1, c1);
  rumor__node_recv(n0, &from, c1, lc1);
  const rumor_metrics_t *m = rumor_node_metrics(n0);
  CHECK_EQ(m->drops_replay + m->drops_spoofed + m->drops_key, 0);
  for (int i = 0; i < 3; i++) {
    rumor__node_recv(n0, &from, o1, lo1); /* the old process, replayed */
    rumor__node_recv(n0, &from, c1, lc1); /* the new one, replayed */
  }
  CHECK_EQ(m->drops_replay, 6);
  size_t lc2 = forge_syn(&cur, wall + 10, "n01", 77, 1, c2);
  rumor__node_recv(n0, &from, c2, lc2); /* the new process goes on */
  CHECK_EQ(m->drops_replay, 6);
  net_free(&net);
}

/* net_run, keeping a copy of the first stream frame node from writes to
 * node to (*kept, freed by the caller). */
static void run_keeping_frame(fake_net *net, uint64_t ms, int from, int to, net_datagram *kept) {
  uint64_t end = net->now + ms;
  for (;;) {
    uint64_t next = end;
    int who = -1, which = 0;
    for (int i = 0; i < net->n; i++)
      for (int t = 0; net->ios[i] && t < RUMOR_TIMER_COUNT; t++)
        if (net->ios[i]->deadline[t] && net->ios[i]->deadline[t] <= next) {
          next = net->ios[i]->deadline[t];
          who = i;
          which = t;
        }
    if (next > net->now) net->now = next;
    if (who < 0) break;
    net->ios[who]->deadline[which] = 0;
    rumor__node_timer(net->nodes[who], which);
    size_t head = 0;
    while (head < net->qlen) {
      net_datagram d = net->queue[head++];
      if (kept->data == NULL && d.stream != NULL && d.from == from && d.to == to) {
        *kept = d;
        kept->data = malloc(d.len);
        memcpy(kept->data, d.data, d.len);
      }
      net_deliver(net, &d);
    }
    net->qlen = 0;
  }
}

/* A TCP frame n01 sent n00, replayed on a connection of its own: refused
 * like a replayed datagram, also where the clock check is off
 * (replay_window_ms 0: "only the per-member replay window applies"). A
 * replayed frame would otherwise go on feeding n01's failure detector (and
 * the merge) long after n01 is gone. */
static void replayed_frames_are_refused(void) {
  for (int off = 0; off < 2; off++) {
    fake_net net;
    rumor_config_t cfg = keyed(RING_A, 1);
    if (off) cfg.replay_window_ms = 0;
    net_cluster(&net, 2, &cfg, 41);
    static uint8_t big[20000];
    memset(big, 'f', sizeof big);
    CHECK(rumor_node_set(net.nodes[1], "big", 3, big, sizeof big) > 0);
    net_datagram copy = {0};
    run_keeping_frame(&net, 3000, 1, 0, &copy);
    CHECK(copy.data != NULL);
    const uint8_t *v;
    size_t len;
    CHECK_EQ(rumor_node_get(net.nodes[0], "n01", 3, "big", 3, &v, &len, NULL), 0);
    const rumor_metrics_t *m = rumor_node_metrics(net.nodes[0]);
    CHECK_EQ(m->drops_replay, 0);
    struct sockaddr_storage from;
    net_addr(1, &from);
    uint64_t merged = m->entries_merged;
    for (int i = 0; i < 3; i++) rumor__node_recv_frame(net.nodes[0], &from, copy.data, copy.len);
    CHECK_EQ(m->drops_replay, 3);
    CHECK_EQ(m->entries_merged, merged);
    free(copy.data);
    /* Transfers after it still arrive whole. */
    big[0] = 'g';
    CHECK(rumor_node_set(net.nodes[1], "big", 3, big, sizeof big) > 0);
    net_run(&net, 3000);
    CHECK_EQ(rumor_node_get(net.nodes[0], "n01", 3, "big", 3, &v, &len, NULL), 0);
    CHECK(len == sizeof big && v[0] == 'g');
    CHECK_EQ(m->drops_replay, 3);
    net_free(&net);
  }
}

/* "evil", at its own address (so it passes the address checks), relays to
 * node `to` one block of n01's key k = "forged" at seq, under generation
 * gen, starting from from_seq; m is n01 as node 0 knows it. */
static void relay_forged(fake_net *net, int to, const rumor_member *m, uint64_t gen,
                         uint64_t from_seq, uint64_t seq) {
  struct sockaddr_storage evil;
  net_addr(9, &evil);
  uint8_t buf[512], slot[RUMOR_WIRE_MAX_SLOT];
  size_t slot_len = rumor__slot_encode(slot, "k", 1, NULL, 0);
  rumor_wire_writer w;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_PUSH, "default", 7, "evil", 4, 5, &evil), 0);
  CHECK_EQ(rumor__wire_push_begin(&w, 0, 0), 0);
  CHECK_EQ(rumor__wire_delta_begin(&w), 0);
  CHECK_EQ(rumor__wire_block_begin(&w, "n01", 3, &m->addr, gen, from_seq, seq, 0), 0);
  CHECK_EQ(rumor__wire_block_add(&w, (const char *)slot, slot_len, seq, 0, (const uint8_t *)"forged", 6), 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  rumor__node_recv(net->nodes[to], &evil, buf, w.len);
}

/* Without a key, "evil" (at its own address, so it passes the address
 * checks) relays a forged block of n01's key at a seq n01 never wrote: the
 * others take it, but n01 learns from their digests that they hold more of
 * it than it wrote, rejoins above the claim, and its real writes win again. */
static void forged_claims_are_outgrown(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 3, &cfg, 37);
  CHECK(rumor_node_set(net.nodes[1], "k", 1, "real", 4) > 0);
  net_run(&net, 1000);
  CHECK(holds(net.nodes[0], "n01", "k", "real"));
  rumor_member *m = rumor__store_find(&net.nodes[0]->store, "n01", 3);
  uint64_t gen = rumor_node_generation(net.nodes[1]);
  relay_forged(&net, 0, m, m->generation, m->max_seq, m->max_seq + 1000);
  CHECK(holds(net.nodes[0], "n01", "k", "forged"));
  net_run(&net, 3000);
  CHECK(rumor_node_metrics(net.nodes[1])->self_disputes > 0);
  CHECK(rumor_node_generation(net.nodes[1]) > gen);
  CHECK(rumor_node_set(net.nodes[1], "k", 1, "again", 5) > 0);
  net_run(&net, 2000);
  for (int i = 0; i < 3; i++) CHECK(holds(net.nodes[i], "n01", "k", "again"));
  /* A forgery in n01's name at n01's real address, from elsewhere: refused. */
  struct sockaddr_storage evil;
  net_addr(9, &evil);
  uint8_t buf[512];
  rumor_wire_writer w;
  uint64_t spoofed = rumor_node_metrics(net.nodes[0])->drops_spoofed;
  CHECK_EQ(rumor__wire_begin(&w, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, "n01", 3,
                             rumor_node_generation(net.nodes[1]), &m->addr), 0);
  CHECK_EQ(rumor__wire_summary(&w, 1, 42), 0);
  rumor__node_recv(net.nodes[0], &evil, buf, w.len);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->drops_spoofed, spoofed + 1);
  net_free(&net);
}

/* Without a key, "evil" relays n01's state under the last generation,
 * UINT64_MAX: nothing is above it, so n01 cannot outgrow the claim, and
 * the others, holding that generation, soon block n01 as silent. Rejoining
 * then only moves n01 to generations the others refuse: it must not churn
 * (renumber, announce, log) every round for ever, nor wrap its generation. */
static void a_claim_at_the_last_generation_is_not_chased(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 3, &cfg, 43);
  rumor_node_t *n01 = net.nodes[1];
  uint64_t gen = rumor_node_generation(n01);
  rumor_member *m = rumor__store_find(&net.nodes[0]->store, "n01", 3);
  relay_forged(&net, 0, m, UINT64_MAX, 0, 1);
  relay_forged(&net, 2, m, UINT64_MAX, 0, 1);
  CHECK(holds(net.nodes[0], "n01", "k", "forged"));
  net_run(&net, 5000);
  const rumor_metrics_t *mm = rumor_node_metrics(n01);
  CHECK(mm->self_disputes > 0);
  uint64_t rejoins = mm->rejoins;
  net_run(&net, 5000); /* 50 more rounds */
  CHECK_EQ(mm->rejoins, rejoins);
  CHECK(rumor_node_generation(n01) >= gen);
  net_free(&net);
}

/* A member bound to a wildcard address names none, so its datagrams may
 * come from any of its host's addresses: all are heard, none is refused as
 * spoofed, and its gossip stays where it was first heard. */
static void a_wildcard_member_is_heard_from_any_address(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 4, &cfg, 31);
  struct sockaddr_storage wild, first, second;
  net_addr(1, &first);
  net_addr(3, &second);
  memset(&wild, 0, sizeof wild);
  wild.ss_family = AF_INET;
  ((struct sockaddr_in *)(void *)&wild)->sin_port = htons(7946);
  uint8_t buf[512];
  rumor_wire_writer wr;
  CHECK_EQ(rumor__wire_begin(&wr, buf, sizeof buf, RUMOR_MSG_SYN, "default", 7, "w", 1, 77, &wild), 0);
  CHECK_EQ(rumor__wire_summary(&wr, 1, 42), 0);
  rumor__node_recv(net.nodes[0], &first, buf, wr.len);
  rumor_member *w = rumor__store_find(&net.nodes[0]->store, "w", 1);
  CHECK(w != NULL);
  w->status = RUMOR_MEMBER_ALIVE; /* as if its state had arrived */
  uint64_t seen = rumor_node_metrics(net.nodes[0])->summaries_matched +
                  rumor_node_metrics(net.nodes[0])->summaries_differed;
  rumor__node_recv(net.nodes[0], &second, buf, wr.len);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->drops_spoofed, 0);
  CHECK_EQ(rumor_node_metrics(net.nodes[0])->summaries_matched +
               rumor_node_metrics(net.nodes[0])->summaries_differed, seen + 1);
  char addr[RUMOR_MAX_ADDR_STRLEN];
  rumor_addr_format((const struct sockaddr *)&w->addr, addr, sizeof addr);
  CHECK(strcmp(addr, "10.0.0.2:7946") == 0);
  net_deliver_all(&net);
  net_free(&net);
}

/* install everywhere, use everywhere, remove everywhere, with writes going
 * on: nobody is blocked and every write arrives. */
static void keys_rotate_live(void) {
  fake_net net;
  rumor_config_t cfg = keyed(RING_A, 1);
  net_cluster(&net, 5, &cfg, 19);
  CHECK_EQ(rumor_node_key_use(net.nodes[0], KEY_B, strlen(KEY_B)), RUMOR_EINVAL);
  for (int step = 0; step < 3; step++) {
    for (int i = 0; i < 5; i++) {
      rumor_node_t *n = net.nodes[i];
      int rc = step == 0 ? rumor_node_key_install(n, KEY_B, strlen(KEY_B))
             : step == 1 ? rumor_node_key_use(n, KEY_B, strlen(KEY_B))
                         : rumor_node_key_remove(n, KEY_A, strlen(KEY_A));
      CHECK_EQ(rc, 0);
      char v[8];
      snprintf(v, sizeof v, "%d.%d", step, i);
      CHECK(rumor_node_set(n, "k", 1, v, strlen(v)) > 0);
      net_run(&net, 300); /* a round or three between nodes */
    }
  }
  net_run(&net, 3000);
  for (int i = 0; i < 5; i++) {
    const rumor_metrics_t *m = rumor_node_metrics(net.nodes[i]);
    CHECK_EQ(m->members_blocked, 0);
    for (int j = 0; j < 5; j++) {
      char v[8];
      snprintf(v, sizeof v, "2.%d", j);
      CHECK(holds(net.nodes[i], net_id(j), "k", v));
    }
    rumor_key_info_t info[2];
    CHECK_EQ(rumor_node_keyring(net.nodes[i], info, 2), 1);
  }
  /* Errors: the primary cannot go; a node without a keyring gets none. */
  CHECK_EQ(rumor_node_key_remove(net.nodes[0], KEY_B, strlen(KEY_B)), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_key_install(net.nodes[0], "nope", 4), RUMOR_EINVAL);
  net_free(&net);
  net_cluster(&net, 1, NULL, 23);
  CHECK_EQ(rumor_node_key_install(net.nodes[0], KEY_B, strlen(KEY_B)), RUMOR_ESTATE);
  net_free(&net);
}

static void config_errors(void) {
  rumor_config_t cfg;
  rumor_error_t err;
  const char *const bad[] = {KEY_A, "c2hvcnQ="};
  rumor_config_init(&cfg);
  cfg.id = "x";
  CHECK_EQ(cfg.replay_window_ms, 60000);
  cfg.keyring = bad;
  cfg.nkeys = 2;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "keyring[2]") == 0);
  CHECK(strstr(err.message, "c2hvcnQ") == NULL); /* never echoes a key */
  cfg.nkeys = RUMOR_MAX_KEYRING + 1;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "keyring") == 0);
  cfg.nkeys = 1;
  cfg.replay_window_ms = 86400001;
  CHECK_EQ(rumor_config_check(&cfg, &err), RUMOR_EINVAL);
  CHECK(strcmp(err.field, "replay_window_ms") == 0);
}

int main(void) {
  RUN(keys_parse);
  RUN(envelope_opens_only_whole);
  RUN(replay_window_takes_each_counter_once);
  RUN(sealed_cluster_converges);
  RUN(strangers_learn_nothing);
  RUN(replays_are_refused);
  RUN(spoofed_ids_are_refused);
  RUN(a_restart_under_the_same_generation_does_not_reopen_replays);
  RUN(replayed_frames_are_refused);
  RUN(forged_claims_are_outgrown);
  RUN(a_claim_at_the_last_generation_is_not_chased);
  RUN(a_wildcard_member_is_heard_from_any_address);
  RUN(keys_rotate_live);
  RUN(config_errors);
  return 0;
}

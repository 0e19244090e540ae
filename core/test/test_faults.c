/* test_faults.c: fault injection (rumor_node_set_fault, fault.c) on the
 * in-memory network: a partition of six nodes into two halves keeps each
 * side's writes on its side and loses none once healed; loss 1.0 is a cut
 * for datagrams; a delay holds datagrams that long and keeps their order
 * (also when it shrinks meanwhile); the delay queue's bound counts what
 * overflows; a cut refuses transfers and drops frames; bad arguments. The
 * fake network itself delivers everything: every loss here is the node's. */
#include "fake_net.h"
#include <math.h>

#define N 6

/* "10.0.0.I+1:7946", node i's address on the fake network. */
static const char *addr_of(int i) {
  static char buf[N + 2][32];
  snprintf(buf[i], sizeof buf[i], "10.0.0.%d:7946", i + 1);
  return buf[i];
}

static void cut_between(fake_net *net, int a, int b, int cut) {
  CHECK_EQ(rumor_node_set_fault(net->nodes[a], addr_of(b), 0, 0, cut), 0);
  CHECK_EQ(rumor_node_set_fault(net->nodes[b], addr_of(a), 0, 0, cut), 0);
}

static void set_key(rumor_node_t *n, const char *key, const char *value) {
  CHECK(rumor_node_set(n, key, strlen(key), value, strlen(value)) > 0);
}

/* Halves {0,1,2} | {3,4,5}, each cut from the other on both sides, for
 * longer than the failure detector's window (so each side blocks the
 * other, as in a real partition). Writes on each side stay there; after
 * clear_faults every write reaches every node. */
static void partition_and_heal(void) {
  fake_net net;
  net_cluster(&net, N, NULL, 7);
  for (int a = 0; a < N / 2; a++)
    for (int b = N / 2; b < N; b++) cut_between(&net, a, b, 1);
  char key[16], value[16];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "v%d", i);
    set_key(net.nodes[i], key, value);
  }
  net_run(&net, 15000); /* past heartbeat_expiration_ms (10 s) */
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "v%d", i);
    for (int j = 0; j < N; j++) {
      int same_side = (i < N / 2) == (j < N / 2);
      CHECK_EQ(holds(net.nodes[j], net_id(i), key, value), same_side);
    }
  }
  /* Each side took the other for dead, as it would in a real partition. */
  CHECK_EQ(net_member(net.nodes[0], "n03").status, RUMOR_MEMBER_BLOCKED);
  CHECK_EQ(net_member(net.nodes[5], "n02").status, RUMOR_MEMBER_BLOCKED);
  CHECK_EQ(net_member(net.nodes[0], "n02").status, RUMOR_MEMBER_ALIVE);
  /* A write during the partition, then the heal. */
  set_key(net.nodes[0], "late", "0");
  set_key(net.nodes[5], "late", "5");
  net_run(&net, 2000);
  CHECK(!holds(net.nodes[3], "n00", "late", "0"));
  CHECK(!holds(net.nodes[2], "n05", "late", "5"));
  for (int i = 0; i < N; i++) {
    CHECK(rumor_node_metrics(net.nodes[i])->fault_dropped > 0);
    CHECK_EQ(rumor_node_clear_faults(net.nodes[i]), 0);
  }
  net_run(&net, 30000);
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k%d", i);
    snprintf(value, sizeof value, "v%d", i);
    for (int j = 0; j < N; j++) CHECK(holds(net.nodes[j], net_id(i), key, value));
  }
  for (int j = 0; j < N; j++) {
    CHECK(holds(net.nodes[j], "n00", "late", "0"));
    CHECK(holds(net.nodes[j], "n05", "late", "5"));
    CHECK_EQ(rumor_node_member_count(net.nodes[j]), N);
    for (int i = 0; i < N; i++) CHECK_EQ(net_member(net.nodes[j], net_id(i)).status, RUMOR_MEMBER_ALIVE);
  }
  net_free(&net);
}

/* Three nodes; n00 loses every datagram to and from n01 (as one setting,
 * loss 1.0 or cut). Returns n00's and n01's metrics after writes on both. */
static void one_link_down(double loss, int cut, rumor_metrics_t out[2], int held[2]) {
  fake_net net;
  net_cluster(&net, 3, NULL, 11);
  CHECK_EQ(rumor_node_set_fault(net.nodes[0], addr_of(1), loss, 0, cut), 0);
  net_run(&net, 100);
  set_key(net.nodes[0], "a", "0");
  set_key(net.nodes[1], "b", "1");
  net_run(&net, 3000);
  held[0] = holds(net.nodes[1], "n00", "a", "0"); /* only through n02 */
  held[1] = holds(net.nodes[0], "n01", "b", "1");
  out[0] = *rumor_node_metrics(net.nodes[0]);
  out[1] = *rumor_node_metrics(net.nodes[1]);
  net_free(&net);
}

/* Loss 1.0 draws nothing and drops exactly what a cut drops: the runs are
 * the same datagram for datagram (no transfers: the values are small). */
static void loss_one_is_a_cut(void) {
  rumor_metrics_t lossy[2], cut[2];
  int held_lossy[2], held_cut[2];
  one_link_down(1.0, 0, lossy, held_lossy);
  one_link_down(0, 1, cut, held_cut);
  CHECK(lossy[0].fault_dropped > 0);
  CHECK_EQ(lossy[1].fault_dropped, 0); /* decided at n00 only */
  CHECK(memcmp(lossy, cut, sizeof lossy) == 0);
  CHECK_EQ(held_lossy[0], held_cut[0]);
  CHECK_EQ(held_lossy[1], held_cut[1]);
  /* Gossip goes round the fault through n02. */
  CHECK(held_cut[0] && held_cut[1]);

  /* Directly: nothing n00 sends to n01 leaves, nothing from n01 enters. */
  fake_net net;
  net_cluster(&net, 2, NULL, 3);
  CHECK_EQ(rumor_node_set_fault(net.nodes[0], addr_of(1), 1.0, 0, 0), 0);
  set_key(net.nodes[0], "x", "0");
  set_key(net.nodes[1], "y", "1");
  net_run(&net, 5000);
  CHECK(!holds(net.nodes[1], "n00", "x", "0"));
  CHECK(!holds(net.nodes[0], "n01", "y", "1"));
  net_free(&net);
}

/* Partial loss only thins traffic: three nodes at 30 % loss on every link
 * (set as the default, at each node) still converge. */
static void lossy_links_converge(void) {
  fake_net net;
  net_cluster(&net, 3, NULL, 5);
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_set_fault(net.nodes[i], NULL, 0.3, 0, 0), 0);
  for (int i = 0; i < 3; i++) set_key(net.nodes[i], net_id(i), "w");
  net_run(&net, 10000);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) CHECK(holds(net.nodes[j], net_id(i), net_id(i), "w"));
  uint64_t dropped = 0;
  for (int i = 0; i < 3; i++) dropped += rumor_node_metrics(net.nodes[i])->fault_dropped;
  CHECK(dropped > 0);
  net_free(&net);
}

/* Sends a one-byte datagram holding tag from n to `to`, through the faults. */
static void send_tag(rumor_node_t *n, const char *to, uint8_t tag) {
  struct sockaddr_storage ss;
  CHECK_EQ(rumor_addr_parse(to, &ss), 0);
  n->sendbuf[0] = tag;
  rumor__gossip_send(n, &ss, 1);
}

/* The tags queued on the fake network for node `to`, in order, into out;
 * how many. The whole queue is emptied (dropped), whoever it was for. */
static size_t take_sent(fake_net *net, int to, uint8_t *out, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < net->qlen; i++)
    if (net->queue[i].to == to && net->queue[i].len == 1 && k < max) out[k++] = net->queue[i].data[0];
  net_drop_queue(net);
  return k;
}

static void fire_fault_timer(fake_net *net, int i) {
  fake_io *f = net->ios[i];
  CHECK(f->deadline[RUMOR_TIMER_FAULT] != 0);
  net->now = f->deadline[RUMOR_TIMER_FAULT];
  f->deadline[RUMOR_TIMER_FAULT] = 0;
  rumor__node_timer(net->nodes[i], RUMOR_TIMER_FAULT);
}

/* A delay holds datagrams exactly that long, in order; shrinking it does
 * not let later ones overtake those held; other peers are not held. */
static void delay_holds_in_order(void) {
  fake_net net;
  uint8_t got[16];
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  net_drop_queue(&net);
  uint64_t t0 = net.now;
  CHECK_EQ(rumor_node_set_fault(a, addr_of(1), 0, 100, 0), 0);
  send_tag(a, addr_of(1), 1);
  net.now += 10;
  send_tag(a, addr_of(1), 2);
  CHECK_EQ(rumor_node_set_fault(a, addr_of(1), 0, 0, 0), 0); /* no delay any more */
  net.now += 10;
  send_tag(a, addr_of(1), 3);  /* behind 1 and 2 all the same */
  send_tag(a, addr_of(2), 9);  /* another peer: at once */
  CHECK_EQ(take_sent(&net, 2, got, 16), 1); /* n0 → 10.0.0.3 left at once; */
  CHECK_EQ(got[0], 9);
  CHECK_EQ(take_sent(&net, 1, got, 16), 0); /* the others wait */
  CHECK_EQ(rumor_node_metrics(a)->fault_delayed, 3);
  CHECK_EQ(rumor_node_metrics(a)->datagrams_sent, 1);
  CHECK_EQ(net.ios[0]->deadline[RUMOR_TIMER_FAULT], t0 + 100);
  fire_fault_timer(&net, 0); /* at t0 + 100: 1 */
  CHECK_EQ(take_sent(&net, 1, got, 16), 1);
  CHECK_EQ(got[0], 1);
  /* 3 was sent with no delay, but after 2: it leaves with 2, behind it. */
  CHECK_EQ(net.ios[0]->deadline[RUMOR_TIMER_FAULT], t0 + 110);
  fire_fault_timer(&net, 0);
  CHECK_EQ(take_sent(&net, 1, got, 16), 2);
  CHECK_EQ(got[0], 2);
  CHECK_EQ(got[1], 3);
  CHECK_EQ(a->faults.nheld, 0);
  CHECK(!a->faults.active); /* nothing set, nothing held: the one branch again */
  CHECK_EQ(rumor_node_metrics(a)->datagrams_sent, 4);

  /* A cut made while a datagram waits stops it; clear_faults does not
   * recall those in flight. */
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, 50, 0), 0);
  send_tag(a, addr_of(1), 4);
  send_tag(a, addr_of(2), 5);
  CHECK_EQ(rumor_node_set_fault(a, addr_of(1), 0, 0, 1), 0);
  uint64_t dropped = rumor_node_metrics(a)->fault_dropped;
  fire_fault_timer(&net, 0);
  CHECK_EQ(rumor_node_metrics(a)->fault_dropped, dropped + 1);
  CHECK_EQ(take_sent(&net, 2, got, 16), 1); /* only 5 left, to the peer not cut */
  CHECK_EQ(got[0], 5);
  CHECK_EQ(rumor_node_clear_faults(a), 0);
  send_tag(a, addr_of(2), 6);
  CHECK_EQ(take_sent(&net, 2, got, 16), 1);
  CHECK_EQ(got[0], 6);
  net_free(&net);

  /* End to end: two nodes, every datagram n00 sends waits 300 ms, so a
   * write reaches n01 no sooner. */
  net_cluster(&net, 2, NULL, 9);
  CHECK_EQ(rumor_node_set_fault(net.nodes[0], NULL, 0, 300, 0), 0);
  uint64_t written = net.now;
  set_key(net.nodes[0], "d", "1");
  net_run(&net, 299);
  CHECK(!holds(net.nodes[1], "n00", "d", "1"));
  net_run(&net, 1);
  CHECK(holds(net.nodes[1], "n00", "d", "1"));
  CHECK_EQ(net.now, written + 300);
  CHECK(rumor_node_metrics(net.nodes[0])->fault_delayed > 0);
  net_free(&net);
}

/* At most RUMOR_FAULT_MAX_HELD datagrams wait; more are counted as
 * overflow, and those held when the node stops as dropped. */
static void queue_bound(void) {
  fake_net net;
  uint8_t *got = malloc(RUMOR_FAULT_MAX_HELD + 10);
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  CHECK_EQ(rumor_node_start(a), 0);
  net_drop_queue(&net);
  CHECK_EQ(rumor_node_set_fault(a, addr_of(1), 0, 1000, 0), 0);
  for (int i = 0; i < RUMOR_FAULT_MAX_HELD + 10; i++) send_tag(a, addr_of(1), (uint8_t)i);
  CHECK_EQ(rumor_node_metrics(a)->fault_delayed, RUMOR_FAULT_MAX_HELD);
  CHECK_EQ(rumor_node_metrics(a)->fault_overflow, 10);
  fire_fault_timer(&net, 0);
  CHECK_EQ(take_sent(&net, 1, got, RUMOR_FAULT_MAX_HELD + 10), RUMOR_FAULT_MAX_HELD);
  for (int i = 0; i < RUMOR_FAULT_MAX_HELD; i++) CHECK_EQ(got[i], (uint8_t)i); /* the first ones */
  /* Held at stop: dropped and counted; freed (ASan would see a leak). */
  for (int i = 0; i < 5; i++) send_tag(a, addr_of(1), 1);
  CHECK_EQ(rumor_node_metrics(a)->fault_dropped, 0);
  CHECK_EQ(rumor_node_stop(a), 0);
  CHECK_EQ(rumor_node_metrics(a)->fault_dropped, 5);
  CHECK_EQ(a->faults.nheld, 0);
  /* Held at close (no stop first) are freed too. */
  rumor_node_t *b = net_add(&net, "b", -1, NULL);
  CHECK_EQ(rumor_node_start(b), 0);
  CHECK_EQ(rumor_node_set_fault(b, NULL, 0, 1000, 0), 0);
  send_tag(b, addr_of(0), 1);
  net_free(&net);
  free(got);
}

/* A cut refuses a TCP transfer to the peer, and drops frames from it. */
static void cut_stops_transfers(void) {
  fake_net net;
  net_cluster(&net, 2, NULL, 4);
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  rumor_member *bm = rumor__store_find(&a->store, "n01", 3);
  CHECK(bm != NULL);
  rumor_candidate c = {a->self, 0, 0};
  CHECK_EQ(rumor_node_set_fault(a, addr_of(1), 0, 0, 1), 0);
  uint64_t transfers = a->metrics.tcp_transfers, dropped = a->metrics.fault_dropped;
  rumor__transfer_start(a, bm, &c, 1);
  CHECK_EQ(a->metrics.tcp_transfers, transfers);
  CHECK_EQ(a->metrics.fault_dropped, dropped + 1);
  /* Cut at b's side only: a sends, b drops the frame. */
  CHECK_EQ(rumor_node_clear_faults(a), 0);
  CHECK_EQ(rumor_node_set_fault(b, addr_of(0), 0, 0, 1), 0);
  uint64_t frames = b->metrics.frames_received;
  dropped = b->metrics.fault_dropped;
  rumor__transfer_start(a, bm, &c, 1);
  CHECK_EQ(a->metrics.tcp_transfers, transfers + 1);
  net_deliver_all(&net);
  CHECK_EQ(b->metrics.frames_received, frames);
  CHECK(b->metrics.fault_dropped > dropped);
  net_free(&net);
}

static void bad_arguments(void) {
  fake_net net;
  net_init(&net, 1);
  rumor_node_t *a = net_add(&net, "a", -1, NULL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, -0.1, 0, 0), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 1.01, 0, 0), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, NAN, 0, 0), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, RUMOR_FAULT_MAX_DELAY_MS + 1, 0), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, 0, 2), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, 0, -1), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_set_fault(a, "nope", 0.5, 0, 0), RUMOR_EADDR);
  CHECK_EQ(rumor_node_set_fault(a, "10.0.0.2:65536", 0.5, 0, 0), RUMOR_EADDR);
  CHECK_EQ(rumor_node_set_fault(a, "10.0.0.2:", 0.5, 0, 0), RUMOR_EADDR);
  CHECK(!a->faults.active);
  /* The extremes are fine (before start too); a setting replaces the last;
   * all zero removes the entry. */
  CHECK_EQ(rumor_node_set_fault(a, "10.0.0.2:7946", 1, RUMOR_FAULT_MAX_DELAY_MS, 1), 0);
  CHECK_EQ(rumor_node_set_fault(a, "10.0.0.2:7946", 0.5, 0, 0), 0);
  CHECK_EQ(a->faults.nrules, 1);
  CHECK(a->faults.rules[0].loss == 0.5 && a->faults.rules[0].cut == 0);
  CHECK_EQ(rumor_node_set_fault(a, "[::1]:7000", 0, 10, 0), 0);
  CHECK_EQ(a->faults.nrules, 2);
  CHECK_EQ(rumor_node_set_fault(a, "10.0.0.2:7946", 0, 0, 0), 0);
  CHECK_EQ(a->faults.nrules, 1);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, 0, 1), 0);
  CHECK(a->faults.has_default);
  CHECK_EQ(rumor_node_set_fault(a, NULL, 0, 0, 0), 0);
  CHECK(!a->faults.has_default);
  CHECK(a->faults.active);
  CHECK_EQ(rumor_node_clear_faults(a), 0);
  CHECK(!a->faults.active);
  CHECK_EQ(a->faults.nrules, 0);
  net_free(&net);
}

int main(void) {
  RUN(bad_arguments);
  RUN(delay_holds_in_order);
  RUN(queue_bound);
  RUN(loss_one_is_a_cut);
  RUN(lossy_links_converge);
  RUN(cut_stops_transfers);
  RUN(partition_and_heal);
  return 0;
}

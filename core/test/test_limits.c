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

int main(void) {
  RUN(oversized_datagrams_are_dropped_unread);
  return 0;
}

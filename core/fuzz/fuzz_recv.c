/* fuzz_recv.c: libFuzzer target for the whole receive path: decode, learn
 * members, merge deltas, plan and encode the answer. One node on the
 * in-memory network lives across inputs (its members listed after each, so
 * heartbeats that arrived are decoded) so state accumulates like on a real
 * port; every 1000 inputs it is replaced to bound memory. */
#include "../test/fake_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fake_net net;
static rumor_node_t *node;
static int runs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sockaddr_storage from;
  if (node == NULL || ++runs % 1000 == 0) {
    if (node != NULL) net_free(&net);
    net_init(&net, 1);
    node = net_add(&net, "fuzz", -1, NULL);
    rumor_node_set(node, "k", 1, "v", 1);
    if (rumor_node_start(node) != 0) abort();
  }
  net_addr(5, &from);
  rumor__node_recv(node, &from, data, size);
  net_drop_queue(&net);
  /* Heartbeats from the network are decoded when members are listed. */
  for (size_t i = 0; i < rumor_node_member_count(node); i++) {
    rumor_member_info_t info;
    rumor_stat_t st;
    size_t off = 0;
    if (rumor_node_member_at(node, i, &info) != 0) abort();
    while (rumor_stats_next(info.stats, info.stats_len, &off, &st) == 1)
      if (st.name < (const char *)info.stats || st.name + st.name_len > (const char *)info.stats + info.stats_len) abort();
  }
  if (runs % 7 == 0) net_run(&net, 500);
  net_drop_queue(&net);
  return 0;
}

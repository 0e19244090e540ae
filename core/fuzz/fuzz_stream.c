/* fuzz_stream.c: libFuzzer target for what arrives over a TCP stream: each
 * input is one frame handed to the node (decode, merge, sweeps of a
 * resync, events). Like fuzz_recv, one node lives across inputs so that
 * state accumulates, and is replaced every 1000 inputs. */
#include "../test/fake_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fake_net net;
static rumor_node_t *node;
static int runs;

static void on_update(rumor_node_t *n, const rumor_update_t *u, void *arg) {
  (void)n;
  (void)arg;
  /* Touch every byte the event points at: ASan checks they are live. */
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < u->key_len; i++) sink ^= (uint8_t)u->key[i];
  for (size_t i = 0; i < u->map_key_len; i++) sink ^= (uint8_t)u->map_key[i];
  for (size_t i = 0; i < u->value_len; i++) sink ^= u->value[i];
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sockaddr_storage from;
  if (node == NULL || ++runs % 1000 == 0) {
    if (node != NULL) net_free(&net);
    net_init(&net, 2);
    node = net_add(&net, "fuzz", -1, NULL);
    rumor_node_on_update(node, on_update, NULL);
    rumor_node_set(node, "k", 1, "v", 1);
    if (rumor_node_start(node) != 0) abort();
  }
  net_addr(5, &from);
  rumor__node_recv_frame(node, &from, data, size);
  net_drop_queue(&net);
  if (runs % 7 == 0) net_run(&net, 500);
  net_drop_queue(&net);
  return 0;
}

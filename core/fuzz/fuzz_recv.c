/* fuzz_recv.c: libFuzzer target for the whole receive path: decode, learn
 * members, merge deltas, plan and encode the answer. One node on the
 * in-memory network lives across inputs (its members listed after each, so
 * heartbeats that arrived are decoded) so state accumulates like on a real
 * port; every 1000 inputs it is replaced to bound memory. Its answers go
 * through a fault's delay queue (fault.c reads no input itself, but the
 * receive path consults it with the decoded header's address). */
#include "../test/fake_net.h"
#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fake_net net;
static rumor_node_t *node;
static int runs;

/* Refuses entries whose value starts with an odd byte, so rejections (and
 * their log lines) are exercised too; reads every field of the view. */
static int judge(rumor_node_t *n, const rumor_update_t *e, const char **reason, void *arg) {
  (void)arg;
  size_t sum = e->member_len + e->key_len + e->map_key_len;
  if (e->member_len == 0 || e->key_len == 0 || (e->map_key != NULL && e->map_key_len == 0)) abort();
  if (rumor_node_set(n, "x", 1, "y", 1) != RUMOR_ESTATE) abort(); /* frozen while judging */
  if (e->deleted || e->value_len == 0 || sum == 0) return 0;
  *reason = "odd";
  return e->value[0] & 1;
}

/* Every line arrives terminated, never empty, free of control bytes. */
static void log_line(rumor_node_t *n, int level, const char *msg, size_t len, void *arg) {
  (void)n;
  (void)arg;
  if (len == 0 || msg[len] != '\0' || strlen(msg) != len || rumor_log_level_name(level)[0] == '\0')
    abort();
  for (size_t i = 0; i < len; i++) /* nothing from the network can break or paint a line */
    if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sockaddr_storage from;
  if (node == NULL || ++runs % 1000 == 0) {
    if (node != NULL) net_free(&net);
    rumor_config_t cfg;
    rumor_config_init(&cfg);
    cfg.recv_budget = 0; /* every input comes from one address: none may be dropped unread */
    net_init(&net, 1);
    node = net_add(&net, "fuzz", -1, &cfg);
    rumor_node_set(node, "k", 1, "v", 1);
    rumor_node_set_validator(node, judge, NULL);
    rumor_node_on_log(node, RUMOR_LOG_DEBUG, log_line, NULL);
    /* Faults on the path too: answers to the sender wait 100 ms (the
     * delay queue), and a header naming 10.0.0.8 is cut. */
    if (rumor_node_set_fault(node, "10.0.0.6:7946", 0, 100, 0) != 0 ||
        rumor_node_set_fault(node, "10.0.0.8:7946", 0, 0, 1) != 0)
      abort();
    if (rumor_node_start(node) != 0) abort();
  }
  net_addr(5, &from);
  /* Datagrams come from the address they advertise (else they are refused
   * as misaddressed before the merge): take it, when it names one. */
  rumor_wire_msg hdr;
  if (rumor__wire_decode(data, size, &hdr) == RUMOR_WIRE_OK && !rumor__addr_is_unspecified(&hdr.h.addr) &&
      (size % 7) != 0) /* and now and then not, so the refusal is fuzzed too */
    from = hdr.h.addr;
  rumor__node_recv(node, &from, data, size);
  net_drop_queue(&net);
  /* Heartbeats from the network are decoded when members are listed. */
  for (size_t i = 0; i < rumor_node_member_count(node); i++) {
    rumor_member_info_t info;
    rumor_stat_t st;
    size_t off = 0;
    if (rumor_node_member_at(node, i, &info) != 0) abort();
    if (strlen(info.block_detail) > RUMOR_MAX_BLOCK_DETAIL) abort();
    if (info.blocked_by != NULL && strlen(info.blocked_by) > RUMOR_MAX_ID_LEN) abort();
    while (rumor_stats_next(info.stats, info.stats_len, &off, &st) == 1)
      if (st.name < (const char *)info.stats || st.name + st.name_len > (const char *)info.stats + info.stats_len) abort();
  }
  if (runs % 7 == 0) net_run(&net, 500);
  net_drop_queue(&net);
  return 0;
}

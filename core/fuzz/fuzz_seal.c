/* fuzz_seal.c: libFuzzer target for the keyring's gate (seal.c, replay.c,
 * guard.c, keyring.c) and what lies behind it. A keyed node on the
 * in-memory network lives across inputs (replaced every 1000):
 * - an input that starts like a wire message ('R' 'M', as the corpus does)
 *   is sealed with the node's key and delivered, so the decoder and the
 *   merge are reached through the open path and its replay window (byte 2
 *   of the input also picks a counter that may repeat or go backwards);
 * - any other input is delivered as it is: garbage envelopes, cut ones,
 *   unknown keys; and it is opened directly and parsed as a key text.
 * Nothing may open that was not sealed with the key, and what opens must be
 * exactly what was sealed. */
#include "../test/fake_net.h"
#include "addr.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static fake_net net;
static rumor_node_t *node;
static rumor_keyring ring; /* the node's key, to seal inputs with */
static int runs;
static uint8_t env[70000], out[70000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const keys[] = {KEY};
  if (node == NULL || ++runs % 1000 == 0) {
    if (node != NULL) net_free(&net);
    net_init(&net, 3);
    rumor_config_t cfg;
    rumor_config_init(&cfg);
    cfg.keyring = keys;
    cfg.nkeys = 1;
    cfg.recv_budget = 0; /* every input comes from one address: none may be dropped unread */
    node = net_add(&net, "fuzz", -1, &cfg);
    if (rumor_node_start(node) != 0) abort();
    uint8_t k[RUMOR_KEY_BYTES];
    if (rumor__key_parse(KEY, strlen(KEY), k) != 0) abort();
    rumor__keyring_init(&ring, 7, 7);
    rumor__keyring_add(&ring, k, 1);
  }
  struct sockaddr_storage from;
  net_addr(5, &from);
  /* Datagrams come from the address they advertise (else they are refused
   * as misaddressed before the merge): take it, when it names one. */
  rumor_wire_msg hdr;
  if (rumor__wire_decode(data, size, &hdr) == RUMOR_WIRE_OK && !rumor__addr_is_unspecified(&hdr.h.addr) &&
      (size % 7) != 0) /* and now and then not, so the refusal is fuzzed too */
    from = hdr.h.addr;
  if (size > 60000) return 0;
  if (size >= 3 && data[0] == 'R' && data[1] == 'M') {
    /* Counters: mostly rising, sometimes repeated or from long ago. */
    if (data[2] % 4 == 0 && ring.counter > 1) ring.counter -= 1 + data[2] % 700;
    size_t len = rumor__seal(&ring, net.now + 1700000000000ull, data, size, env);
    size_t got = 0;
    rumor_sealed_info info;
    if (rumor__unseal(&ring, env, len, out, &got, &info) != RUMOR_SEAL_OK || got != size ||
        memcmp(out, data, size) != 0)
      abort();
    rumor__node_recv(node, &from, env, len);
  } else {
    size_t got = 0;
    rumor_sealed_info info;
    if (rumor__unseal(&ring, data, size, out, &got, &info) == RUMOR_SEAL_OK) abort(); /* a forgery */
    uint8_t k[RUMOR_KEY_BYTES];
    rumor__key_parse((const char *)data, size, k);
    rumor__node_recv(node, &from, data, size);
  }
  net_drop_queue(&net);
  return 0;
}

/* keyring.c: the public keyring API of rumor.h (keygen, install, use,
 * remove, list) over the node's rumor_keyring (seal.h). Changes take effect
 * with the next message sealed or opened; nothing is re-sent. */
#include "node_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int rumor_keygen(char *buf, size_t size) {
  uint8_t key[RUMOR_KEY_BYTES];
  if (buf == NULL || size < RUMOR_KEY_TEXT_LEN + 1) return RUMOR_EINVAL;
  if (sodium_init() < 0) return RUMOR_ENOMEM;
  randombytes_buf(key, sizeof key);
  sodium_bin2base64(buf, size, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  rumor__key_wipe(key);
  return 0;
}

/* Parses key into out; the index of it in the ring (or -1) in *at. */
static int lookup(const rumor_node_t *n, const char *key, size_t len, uint8_t out[RUMOR_KEY_BYTES],
                  int *at) {
  if (key == NULL || rumor__key_parse(key, len, out) != 0) return RUMOR_EINVAL;
  if (n->keyring.nkeys == 0) {
    rumor__key_wipe(out);
    return RUMOR_ESTATE;
  }
  *at = rumor__keyring_find(&n->keyring, out);
  return 0;
}

int rumor_node_key_install(rumor_node_t *n, const char *key, size_t len) {
  uint8_t k[RUMOR_KEY_BYTES];
  int at, rc = lookup(n, key, len, k, &at);
  if (rc != 0) return rc;
  rc = at >= 0 ? 0 : rumor__keyring_add(&n->keyring, k, 0) == 0 ? 0 : RUMOR_ETOOBIG;
  rumor__key_wipe(k);
  return rc;
}

int rumor_node_key_use(rumor_node_t *n, const char *key, size_t len) {
  uint8_t k[RUMOR_KEY_BYTES];
  int at, rc = lookup(n, key, len, k, &at);
  rumor__key_wipe(k);
  if (rc != 0) return rc;
  if (at < 0) return RUMOR_EINVAL; /* install it first, everywhere */
  rumor__keyring_use(&n->keyring, (size_t)at);
  return 0;
}

int rumor_node_key_remove(rumor_node_t *n, const char *key, size_t len) {
  uint8_t k[RUMOR_KEY_BYTES];
  int at, rc = lookup(n, key, len, k, &at);
  rumor__key_wipe(k);
  if (rc != 0) return rc;
  if (at <= 0) return RUMOR_EINVAL; /* not installed, or the primary */
  rumor__keyring_remove(&n->keyring, (size_t)at);
  return 0;
}

size_t rumor_node_keyring(const rumor_node_t *n, rumor_key_info_t *out, size_t max) {
  for (size_t i = 0; i < n->keyring.nkeys && i < max; i++) {
    snprintf(out[i].id, sizeof out[i].id, "%08x", (unsigned)n->keyring.keys[i].id);
    out[i].primary = i == 0;
    out[i].opened = n->keyring.keys[i].opened;
  }
  return n->keyring.nkeys;
}

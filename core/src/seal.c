/* seal.c: the envelope of seal.h on libsodium's XChaCha20-Poly1305-IETF.
 * A 24-byte nonce leaves room for a random per-process salt plus a counter,
 * so nonces never repeat under one key without any coordination between
 * nodes, and a receiver learns the counter it needs against replays. */
#include "seal.h"

#include <sodium.h>
#include <string.h>

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* Where the parts of the header sit. */
#define OFF_KEY_ID 3
#define OFF_NONCE 7
#define OFF_COUNTER (OFF_NONCE + RUMOR_SEAL_SALT_BYTES)
#define OFF_WALL (OFF_COUNTER + 8)

int rumor__key_parse(const char *text, size_t len, uint8_t out[RUMOR_KEY_BYTES]) {
  uint8_t key[RUMOR_KEY_BYTES];
  size_t got = 0;
  const char *end = NULL;
  if (sodium_init() < 0) return -1;
  int rc;
  if (len == 2 * RUMOR_KEY_BYTES)
    rc = sodium_hex2bin(key, sizeof key, text, len, NULL, &got, &end);
  else
    rc = sodium_base642bin(key, sizeof key, text, len, NULL, &got, &end,
                           sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || got != RUMOR_KEY_BYTES || end != text + len) {
    sodium_memzero(key, sizeof key);
    return -1;
  }
  memcpy(out, key, sizeof key);
  sodium_memzero(key, sizeof key);
  return 0;
}

void rumor__key_wipe(uint8_t key[RUMOR_KEY_BYTES]) { sodium_memzero(key, RUMOR_KEY_BYTES); }

uint32_t rumor__key_id(const uint8_t key[RUMOR_KEY_BYTES]) {
  static const char label[] = "rumor key id";
  uint8_t h[crypto_generichash_BYTES_MIN];
  crypto_generichash(h, sizeof h, (const uint8_t *)label, sizeof label - 1, key, RUMOR_KEY_BYTES);
  return get_u32(h);
}

void rumor__keyring_init(rumor_keyring *kr, uint64_t seed1, uint64_t seed2) {
  memset(kr, 0, sizeof *kr);
  put_u64(kr->salt, seed1);
  put_u64(kr->salt + 8, seed2);
}

int rumor__keyring_find(const rumor_keyring *kr, const uint8_t key[RUMOR_KEY_BYTES]) {
  for (size_t i = 0; i < kr->nkeys; i++)
    if (sodium_memcmp(kr->keys[i].bytes, key, RUMOR_KEY_BYTES) == 0) return (int)i;
  return -1;
}

int rumor__keyring_add(rumor_keyring *kr, const uint8_t key[RUMOR_KEY_BYTES], int primary) {
  int at = rumor__keyring_find(kr, key);
  if (at < 0) {
    if (kr->nkeys >= RUMOR_MAX_KEYS) return -1;
    at = (int)kr->nkeys++;
    memcpy(kr->keys[at].bytes, key, RUMOR_KEY_BYTES);
    kr->keys[at].id = rumor__key_id(key);
    kr->keys[at].opened = 0;
  }
  if (primary) rumor__keyring_use(kr, (size_t)at);
  return 0;
}

void rumor__keyring_use(rumor_keyring *kr, size_t i) {
  rumor_key k = kr->keys[i];
  memmove(&kr->keys[1], &kr->keys[0], i * sizeof k);
  kr->keys[0] = k;
  sodium_memzero(&k, sizeof k);
}

void rumor__keyring_remove(rumor_keyring *kr, size_t i) {
  memmove(&kr->keys[i], &kr->keys[i + 1], (kr->nkeys - i - 1) * sizeof kr->keys[0]);
  kr->nkeys--;
  sodium_memzero(&kr->keys[kr->nkeys], sizeof kr->keys[0]);
}

void rumor__keyring_wipe(rumor_keyring *kr) { sodium_memzero(kr, sizeof *kr); }

int rumor__sealed(const uint8_t *buf, size_t len) {
  return len >= 2 && buf[0] == 'R' && buf[1] == 'S';
}

size_t rumor__seal(rumor_keyring *kr, uint64_t wall_ms, const uint8_t *msg, size_t len,
                   uint8_t *out) {
  const rumor_key *k = &kr->keys[0];
  out[0] = 'R';
  out[1] = 'S';
  out[2] = RUMOR_SEAL_VERSION;
  put_u32(out + OFF_KEY_ID, k->id);
  memcpy(out + OFF_NONCE, kr->salt, RUMOR_SEAL_SALT_BYTES);
  put_u64(out + OFF_COUNTER, ++kr->counter);
  put_u64(out + OFF_WALL, wall_ms);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + RUMOR_SEAL_HEADER, &clen, msg, len, out,
                                             RUMOR_SEAL_HEADER, NULL, out + OFF_NONCE, k->bytes);
  return RUMOR_SEAL_HEADER + (size_t)clen;
}

int rumor__unseal(rumor_keyring *kr, const uint8_t *buf, size_t len, uint8_t *out,
                  size_t *msg_len, rumor_sealed_info *info) {
  if (len < RUMOR_SEAL_OVERHEAD || !rumor__sealed(buf, len) || buf[2] != RUMOR_SEAL_VERSION)
    return RUMOR_SEAL_ENOTSEALED;
  uint32_t id = get_u32(buf + OFF_KEY_ID);
  /* Ids are 32 bits: two keys of one ring may share one, so every key with
   * the id is tried (in practice exactly one). */
  rumor_key *k = NULL;
  int tried = 0;
  unsigned long long mlen = 0;
  for (size_t i = 0; i < kr->nkeys && k == NULL; i++) {
    if (kr->keys[i].id != id) continue;
    tried = 1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, buf + RUMOR_SEAL_HEADER,
                                                   len - RUMOR_SEAL_HEADER, buf, RUMOR_SEAL_HEADER,
                                                   buf + OFF_NONCE, kr->keys[i].bytes) == 0)
      k = &kr->keys[i];
  }
  if (k == NULL) return tried ? RUMOR_SEAL_EAUTH : RUMOR_SEAL_ENOKEY;
  k->opened++;
  *msg_len = (size_t)mlen;
  memcpy(info->salt, buf + OFF_NONCE, RUMOR_SEAL_SALT_BYTES);
  info->counter = get_u64(buf + OFF_COUNTER);
  info->wall_ms = get_u64(buf + OFF_WALL);
  info->key_id = id;
  return RUMOR_SEAL_OK;
}

/* seal.h: authenticated encryption of everything a node sends, with the
 * cluster's keyring (libsodium's XChaCha20-Poly1305-IETF; no home-made
 * crypto).
 *
 * A sealed datagram, or stream frame payload, is an envelope around one
 * wire message (wire.h):
 *
 *   +------+------+-----+--------+-----------------------+---------+------------+-----+
 *   | 'R'  | 'S'  | ver | key id | nonce = salt, counter | wall ms | ciphertext | tag |
 *   | 0x52 | 0x53 | 1   | u32    | 16 bytes, u64         | u64     | len bytes  | 16  |
 *   +------+------+-----+--------+-----------------------+---------+------------+-----+
 *   (integers big-endian)
 *
 * - key id: names the keyring key it was sealed with (seal_key_id), so the
 *   receiver tries exactly one key, never every key of its ring.
 * - salt: 16 random bytes per node (its process), through the io's seed
 *   seam; counter: that node's count of sealed messages. Together the 24-byte
 *   nonce, never repeated under one key. The receiver keeps each member's
 *   latest salt and a window of counters to refuse replays (replay.h).
 * - wall ms: the sender's wall clock; a receiver refuses messages further
 *   from its own clock than replay_window_ms.
 * Everything before the ciphertext is authenticated (the AEAD's additional
 * data): flip one bit anywhere and the message is refused.
 *
 * Ownership: the keyring lives inside the node; its keys are wiped when it
 * is freed (rumor__keyring_wipe). */
#ifndef RUMOR_SEAL_H
#define RUMOR_SEAL_H
#include <stddef.h>
#include <stdint.h>

#include "rumor.h"

#define RUMOR_KEY_BYTES 32
#define RUMOR_SEAL_SALT_BYTES 16
#define RUMOR_SEAL_VERSION 1
/* 'R' 'S' version, key id, salt, counter, wall ms: the authenticated header. */
#define RUMOR_SEAL_HEADER (3 + 4 + RUMOR_SEAL_SALT_BYTES + 8 + 8)
#define RUMOR_SEAL_TAG 16
/* What sealing adds to a message. */
#define RUMOR_SEAL_OVERHEAD (RUMOR_SEAL_HEADER + RUMOR_SEAL_TAG)
/* Keys a ring holds at once (rumor.h's RUMOR_MAX_KEYRING). The key id picks
 * the key, so more keys cost nothing per message. */
#define RUMOR_MAX_KEYS RUMOR_MAX_KEYRING

typedef struct rumor_key {
  uint8_t bytes[RUMOR_KEY_BYTES];
  uint32_t id;      /* seal_key_id of bytes */
  uint64_t opened;  /* messages this key opened */
} rumor_key;

typedef struct rumor_keyring {
  rumor_key keys[RUMOR_MAX_KEYS]; /* keys[0] seals; every key opens */
  size_t nkeys;                   /* 0: this node neither seals nor opens */
  uint8_t salt[RUMOR_SEAL_SALT_BYTES];
  uint64_t counter;               /* messages sealed so far */
} rumor_keyring;

/* What an opened envelope said besides its message. */
typedef struct rumor_sealed_info {
  uint8_t salt[RUMOR_SEAL_SALT_BYTES];
  uint64_t counter;
  uint64_t wall_ms;
  uint32_t key_id;
} rumor_sealed_info;

/* Results of rumor__unseal. */
#define RUMOR_SEAL_OK 0
#define RUMOR_SEAL_ENOTSEALED (-1) /* not an envelope (a plaintext message, or garbage) */
#define RUMOR_SEAL_ENOKEY (-2)     /* sealed with a key this ring lacks */
#define RUMOR_SEAL_EAUTH (-3)      /* it does not authenticate: forged, damaged, wrong key */

/* Parses a key as text: base64 of 32 bytes (44 characters, as rumor.keygen
 * and `serf keygen` print) or 64 hex digits. 0, or -1 with nothing written. */
int rumor__key_parse(const char *text, size_t len, uint8_t out[RUMOR_KEY_BYTES]);
/* Wipes a key held on the stack. */
void rumor__key_wipe(uint8_t key[RUMOR_KEY_BYTES]);
/* A key's id: the first 4 bytes of a keyed BLAKE2b hash of it. */
uint32_t rumor__key_id(const uint8_t key[RUMOR_KEY_BYTES]);

/* Empties kr, then gives it a salt (two draws of seed, 64 bits each). */
void rumor__keyring_init(rumor_keyring *kr, uint64_t seed1, uint64_t seed2);
/* Adds key (no-op when present) as the last key, or first when primary.
 * 0, or -1 when the ring is full. */
int rumor__keyring_add(rumor_keyring *kr, const uint8_t key[RUMOR_KEY_BYTES], int primary);
/* The index of key in kr, or -1. */
int rumor__keyring_find(const rumor_keyring *kr, const uint8_t key[RUMOR_KEY_BYTES]);
/* Removes keys[i] (not the primary). */
void rumor__keyring_remove(rumor_keyring *kr, size_t i);
/* Makes keys[i] the primary (the others keep their order). */
void rumor__keyring_use(rumor_keyring *kr, size_t i);
void rumor__keyring_wipe(rumor_keyring *kr);

/* Seals msg (len bytes) with the primary key into out, which must hold
 * len + RUMOR_SEAL_OVERHEAD bytes; returns the envelope's length. out and
 * msg must not overlap. kr must hold a key. */
size_t rumor__seal(rumor_keyring *kr, uint64_t wall_ms, const uint8_t *msg, size_t len,
                   uint8_t *out);
/* Opens an envelope of len bytes into out (len - RUMOR_SEAL_OVERHEAD bytes
 * are written); *msg_len and *info are set on success. */
int rumor__unseal(rumor_keyring *kr, const uint8_t *buf, size_t len, uint8_t *out,
                  size_t *msg_len, rumor_sealed_info *info);
/* 1 if buf starts like an envelope ('R', 'S'). */
int rumor__sealed(const uint8_t *buf, size_t len);
#endif

/* replay.c: the sliding window of replay.h. */
#include "replay.h"

#include <string.h>

#define WORDS (RUMOR_REPLAY_WINDOW / 64)

static int test_bit(const rumor_replay *r, uint64_t d) { return (r->bits[d / 64] >> (d % 64)) & 1; }
static void set_bit(rumor_replay *r, uint64_t d) { r->bits[d / 64] |= (uint64_t)1 << (d % 64); }

/* Moves every bit s places up (older), dropping those past the window. */
static void shift(rumor_replay *r, uint64_t s) {
  if (s >= RUMOR_REPLAY_WINDOW) {
    memset(r->bits, 0, sizeof r->bits);
    return;
  }
  size_t words = (size_t)(s / 64), bits = (size_t)(s % 64);
  for (size_t i = WORDS; i-- > 0;) {
    uint64_t v = i >= words ? r->bits[i - words] << bits : 0;
    if (bits != 0 && i > words) v |= r->bits[i - words - 1] >> (64 - bits);
    r->bits[i] = v;
  }
}

int rumor__replay_check(rumor_replay *r, const uint8_t salt[16], uint64_t counter,
                        uint64_t generation, uint64_t wall_ms) {
  if (!r->has_salt || memcmp(r->salt, salt, sizeof r->salt) != 0) {
    /* Another process of the member. Only a newer one replaces what we
     * know: a newer generation, or the same one (given explicitly to both)
     * sealed later than anything the current salt sent. */
    if (r->has_salt && (generation < r->generation ||
                        (generation == r->generation && wall_ms <= r->wall_ms)))
      return -1;
    memcpy(r->salt, salt, sizeof r->salt);
    r->has_salt = 1;
    r->generation = generation;
    r->wall_ms = wall_ms;
    r->top = counter;
    memset(r->bits, 0, sizeof r->bits);
    set_bit(r, 0);
    return 0;
  }
  /* One process moves to newer generations when it rejoins. */
  if (generation > r->generation) r->generation = generation;
  if (counter > r->top) {
    shift(r, counter - r->top);
    r->top = counter;
    set_bit(r, 0);
  } else {
    uint64_t d = r->top - counter;
    if (d >= RUMOR_REPLAY_WINDOW || test_bit(r, d)) return -1;
    set_bit(r, d);
  }
  if (wall_ms > r->wall_ms) r->wall_ms = wall_ms;
  return 0;
}

/* rng.h: the node's pseudo-random generator (xoshiro256**).
 *
 * Deterministic from its seed; the seed comes from the I/O seam (the OS's
 * randomness on libuv, a fixed seed in a simulation), so every random choice
 * of the protocol is replayable. */
#ifndef RUMOR_RNG_H
#define RUMOR_RNG_H
#include <stdint.h>

typedef struct rumor_rng {
  uint64_t s[4];
} rumor_rng;

void rumor__rng_seed(rumor_rng *r, uint64_t seed);
uint64_t rumor__rng_next(rumor_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t rumor__rng_below(rumor_rng *r, uint64_t n);
#endif

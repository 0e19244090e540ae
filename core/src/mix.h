/* mix.h: splitmix64's finaliser, the 64-bit mixer the hashes of the core
 * share (summary terms, the receive budget's table). Every input bit moves
 * every output bit, so neighbouring inputs give unrelated outputs. */
#ifndef RUMOR_MIX_H
#define RUMOR_MIX_H
#include <stdint.h>

static inline uint64_t rumor__mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
#endif

/* replay.h: refusing replayed datagrams of a member, as IPsec and
 * WireGuard do: every sealed datagram carries its sender's salt (one per
 * process) and a counter (seal.h); the receiver keeps, per member, the
 * latest salt, the highest counter seen and a bitmap of the counters just
 * below it. A counter seen before, or too far below the highest, is a
 * replay; so is a salt of an older generation than the member's latest.
 *
 * Stream frames are not checked here (a frame may wait behind a long
 * transfer while many datagrams overtake it); the wall-clock window of
 * seal.h bounds their replay, and TCP orders them. */
#ifndef RUMOR_REPLAY_H
#define RUMOR_REPLAY_H
#include <stdint.h>

/* Counters this far below the highest still pass once. Datagrams of one
 * sender overtake each other by a handful on real networks, by at most a
 * fault's delay queue in tests; 512 covers both for 72 bytes a member. */
#define RUMOR_REPLAY_WINDOW 512

typedef struct rumor_replay {
  uint8_t salt[16];
  int has_salt;
  uint64_t generation;  /* the newest generation the salt spoke for */
  uint64_t top;         /* the highest counter accepted */
  uint64_t bits[RUMOR_REPLAY_WINDOW / 64]; /* bit d: counter top - d accepted */
} rumor_replay;

/* Checks one authenticated datagram of the member: 0 (and remembers it)
 * when fresh, -1 when a replay. */
int rumor__replay_check(rumor_replay *r, const uint8_t salt[16], uint64_t counter,
                        uint64_t generation);
#endif

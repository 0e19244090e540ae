/* replay.h: refusing replayed datagrams of a member, as IPsec and
 * WireGuard do: every sealed datagram carries its sender's salt (one per
 * process) and a counter (seal.h); the receiver keeps, per member, the
 * latest salt, the highest counter seen and a bitmap of the counters just
 * below it. A counter seen before, or too far below the highest, is a
 * replay; so is a salt of an older generation than the member's latest, or
 * of the same generation (a restart under an explicit one) whose sender's
 * clock (seal.h's wall ms) is not past the latest salt's: the older process,
 * replayed. Without that order, alternating the salts would empty the
 * window each time, and every datagram of both processes pass again.
 *
 * Stream frames have a window of their own per member: a frame may wait
 * behind a long transfer while many datagrams overtake it, but a sender's
 * frames to us come in the order it sealed them (TCP, one transfer at a
 * time per peer). Without one, a captured frame could be replayed at will
 * within the wall-clock window of seal.h, and forever without it
 * (replay_window_ms 0). */
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
  uint64_t wall_ms;     /* the latest sender's clock the salt carried */
  uint64_t top;         /* the highest counter accepted */
  uint64_t bits[RUMOR_REPLAY_WINDOW / 64]; /* bit d: counter top - d accepted */
} rumor_replay;

/* Checks one authenticated datagram of the member (its envelope's salt,
 * counter and wall ms, its header's generation): 0 (and remembers it) when
 * fresh, -1 when a replay. */
int rumor__replay_check(rumor_replay *r, const uint8_t salt[16], uint64_t counter,
                        uint64_t generation, uint64_t wall_ms);
#endif

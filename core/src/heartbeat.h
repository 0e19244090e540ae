/* heartbeat.h: the value of a member's "heartbeat" entry.
 *
 *   u8 version (1), uptime_ms (v), members_alive (v), count (v),
 *   count * { u8 name length (1..RUMOR_MAX_STAT_NAME), name, value (zigzag v) }
 *
 * (v) is an unsigned LEB128 varint. Names are unique within one heartbeat.
 * The whole value is at most RUMOR_MAX_HEARTBEAT bytes. Values arrive from
 * the network, so decoding checks every bound; a heartbeat that does not
 * decode still counts as a beat (its seq advanced), it just shows no stats. */
#ifndef RUMOR_HEARTBEAT_H
#define RUMOR_HEARTBEAT_H
#include "rumor.h"
#include <stddef.h>
#include <stdint.h>

#define RUMOR_HEARTBEAT_VERSION 1

typedef struct rumor_heartbeat {
  uint64_t uptime_ms;
  uint32_t members_alive;
  const uint8_t *stats; /* the count and the stats, for rumor_stats_next */
  size_t stats_len;
} rumor_heartbeat;

/* Encodes the stats list (count and entries) into a new malloc'd buffer the
 * caller frees. Returns 0, RUMOR_EINVAL (a name empty, too long or
 * repeated), RUMOR_ETOOBIG (the heartbeat would pass RUMOR_MAX_HEARTBEAT)
 * or RUMOR_ENOMEM. */
int rumor__heartbeat_encode_stats(const rumor_stat_t *stats, size_t n, uint8_t **out,
                                  size_t *out_len);

/* Writes a whole heartbeat into buf (RUMOR_MAX_HEARTBEAT bytes); returns its
 * length. stats is an encoded list from rumor__heartbeat_encode_stats (NULL
 * for none). */
size_t rumor__heartbeat_write(uint8_t *buf, uint64_t uptime_ms, uint32_t members_alive,
                              const uint8_t *stats, size_t stats_len);

/* Validates and splits a heartbeat. 0, or -1 when it is not one. */
int rumor__heartbeat_decode(const uint8_t *buf, size_t len, rumor_heartbeat *out);
#endif

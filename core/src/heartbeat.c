/* heartbeat.c: encoding and bounds-checked decoding of heartbeat values
 * (format in heartbeat.h). */
#include "heartbeat.h"
#include "wire.h"
#include <stdlib.h>
#include <string.h>

/* Room the fixed part may take: version, two 10-byte varints. */
#define FIXED_MAX (1 + 10 + 10)

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

int rumor__heartbeat_encode_stats(const rumor_stat_t *stats, size_t n, uint8_t **out,
                                  size_t *out_len) {
  size_t cap = RUMOR_MAX_HEARTBEAT, len = 0;
  uint8_t *buf;
  *out = NULL;
  *out_len = 0;
  if (n > 0 && stats == NULL) return RUMOR_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (stats[i].name == NULL || stats[i].name_len == 0 || stats[i].name_len > RUMOR_MAX_STAT_NAME)
      return RUMOR_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (stats[j].name_len == stats[i].name_len &&
          memcmp(stats[j].name, stats[i].name, stats[i].name_len) == 0)
        return RUMOR_EINVAL;
  }
  /* Each stat takes at most 1 + 64 + 10 bytes; n is bounded by the size
   * check as we go, so the buffer is the heartbeat's limit. */
  if ((buf = malloc(cap)) == NULL) return RUMOR_ENOMEM;
  uint8_t tmp[10];
  size_t c = rumor__varint_put(tmp, n);
  if (FIXED_MAX + c > cap) goto too_big;
  memcpy(buf, tmp, c);
  len = c;
  for (size_t i = 0; i < n; i++) {
    size_t vlen = rumor__varint_put(tmp, zigzag(stats[i].value));
    if (FIXED_MAX + len + 1 + stats[i].name_len + vlen > cap) goto too_big;
    buf[len++] = (uint8_t)stats[i].name_len;
    memcpy(buf + len, stats[i].name, stats[i].name_len);
    len += stats[i].name_len;
    memcpy(buf + len, tmp, vlen);
    len += vlen;
  }
  *out = buf;
  *out_len = len;
  return 0;
too_big:
  free(buf);
  return RUMOR_ETOOBIG;
}

size_t rumor__heartbeat_write(uint8_t *buf, uint64_t uptime_ms, uint32_t members_alive,
                              const uint8_t *stats, size_t stats_len) {
  size_t len = 0;
  buf[len++] = RUMOR_HEARTBEAT_VERSION;
  len += rumor__varint_put(buf + len, uptime_ms);
  len += rumor__varint_put(buf + len, members_alive);
  if (stats != NULL && stats_len > 0) {
    memcpy(buf + len, stats, stats_len);
    len += stats_len;
  } else {
    buf[len++] = 0; /* no stats */
  }
  return len;
}

int rumor_stats_next(const uint8_t *stats, size_t len, size_t *off, rumor_stat_t *out) {
  uint64_t count, v;
  size_t o = 0;
  if (stats == NULL || off == NULL || out == NULL) return 0;
  if (rumor__varint_get(stats, len, &o, &count) != 0) return 0;
  /* *off is 0 at the start; later it is where the next stat begins. */
  if (*off == 0) *off = o;
  if (*off >= len) return 0;
  o = *off;
  uint8_t nlen = stats[o++];
  if (nlen == 0 || nlen > RUMOR_MAX_STAT_NAME || len - o < nlen) return 0;
  const char *name = (const char *)stats + o;
  o += nlen;
  if (rumor__varint_get(stats, len, &o, &v) != 0) return 0;
  out->name = name;
  out->name_len = nlen;
  out->value = unzigzag(v);
  *off = o;
  return 1;
}

int rumor__heartbeat_decode(const uint8_t *buf, size_t len, rumor_heartbeat *out) {
  size_t off = 0;
  uint64_t uptime, alive, count;
  memset(out, 0, sizeof(*out));
  if (buf == NULL || len == 0 || len > RUMOR_MAX_HEARTBEAT || buf[off++] != RUMOR_HEARTBEAT_VERSION)
    return -1;
  if (rumor__varint_get(buf, len, &off, &uptime) != 0 || rumor__varint_get(buf, len, &off, &alive) != 0 ||
      alive > UINT32_MAX)
    return -1;
  size_t stats_at = off;
  if (rumor__varint_get(buf, len, &off, &count) != 0) return -1;
  /* Every stat must parse and the list must end exactly at the value's end. */
  size_t it = 0, seen = 0;
  rumor_stat_t st;
  while (rumor_stats_next(buf + stats_at, len - stats_at, &it, &st) == 1) seen++;
  size_t end = count > 0 ? it : off - stats_at; /* where the list ended */
  if (seen != count || end != len - stats_at) return -1;
  out->uptime_ms = uptime;
  out->members_alive = (uint32_t)alive;
  out->stats = buf + stats_at;
  out->stats_len = len - stats_at;
  return 0;
}

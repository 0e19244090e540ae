/* fuzz_heartbeat.c: libFuzzer target for the heartbeat decoder and the
 * public stats iterator. Whatever the bytes, nothing is read out of bounds;
 * a heartbeat that decodes iterates exactly to its end. */
#include "heartbeat.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rumor_heartbeat hb;
  rumor_stat_t st;
  size_t off = 0;
  /* The iterator alone, on raw bytes, must stay inside them. */
  while (rumor_stats_next(data, size, &off, &st) == 1)
    if (st.name < (const char *)data || st.name + st.name_len > (const char *)data + size) abort();
  if (rumor__heartbeat_decode(data, size, &hb) != 0) return 0;
  off = 0;
  while (rumor_stats_next(hb.stats, hb.stats_len, &off, &st) == 1)
    if (st.name_len == 0 || st.name_len > RUMOR_MAX_STAT_NAME) abort();
  if (hb.stats_len > 1 && off != hb.stats_len) abort();
  return 0;
}

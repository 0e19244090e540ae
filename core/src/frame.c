/* frame.c: the incremental frame reader of frame.h. Every length comes from
 * the network, so it is checked before a byte of its payload is stored, and
 * the buffer only grows with the bytes that really arrived. */
#include "frame.h"
#include <stdlib.h>
#include <string.h>

/* The first allocation for a payload split across reads. A page: small
 * enough that a peer opening many frames costs little, large enough that a
 * mid-sized frame does not realloc at every step. Growth then doubles, so a
 * frame of n bytes costs O(log n) reallocs and at most 2n bytes. */
#define FRAME_MIN_CAP 4096

/* After a frame, a buffer up to this size is kept for the next one (a read
 * from the socket is at most 64 KiB in io_uv, so frames of that order reuse
 * it); a larger one is freed, so an idle connection does not pin up to
 * max_frame bytes. */
#define FRAME_KEEP_CAP 65536

void rumor__frame_reader_init(rumor_frame_reader *r, size_t max_frame) {
  memset(r, 0, sizeof(*r));
  r->max_frame = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
}

void rumor__frame_reader_free(rumor_frame_reader *r) {
  free(r->buf);
  r->buf = NULL;
  r->cap = r->have = 0;
}

int rumor__frame_reader_idle(const rumor_frame_reader *r) {
  return r->nhdr == 0 && r->want == 0;
}

void rumor__frame_put_header(uint8_t out[RUMOR_FRAME_HEADER], size_t len) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}

/* Makes room for need bytes of the frame in progress (need <= want). */
static int grow(rumor_frame_reader *r, size_t need) {
  size_t cap = r->cap == 0 ? FRAME_MIN_CAP : (r->cap > SIZE_MAX / 2 ? SIZE_MAX : r->cap * 2);
  if (cap < need) cap = need;
  if (cap > r->want) cap = r->want; /* never more than the frame itself */
  uint8_t *b = realloc(r->buf, cap);
  if (b == NULL) return -1;
  r->buf = b;
  r->cap = cap;
  return 0;
}

/* Ends the frame held in the buffer: hands it over, then forgets it. */
static int deliver_buffered(rumor_frame_reader *r, rumor_frame_cb cb, void *arg) {
  size_t n = r->want;
  int stop;
  r->want = r->have = 0;
  stop = cb(arg, r->buf, n);
  if (r->cap > FRAME_KEEP_CAP) rumor__frame_reader_free(r);
  return stop;
}

int rumor__frame_reader_feed(rumor_frame_reader *r, const uint8_t *data, size_t len,
                             rumor_frame_cb cb, void *arg) {
  if (r->error) return r->error;
  while (len > 0) {
    if (r->want == 0) { /* in the length prefix */
      size_t take = RUMOR_FRAME_HEADER - r->nhdr;
      if (take > len) take = len;
      memcpy(r->hdr + r->nhdr, data, take);
      r->nhdr += take;
      data += take;
      len -= take;
      if (r->nhdr < RUMOR_FRAME_HEADER) break;
      r->nhdr = 0;
      uint32_t n = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
                   (uint32_t)r->hdr[2] << 8 | (uint32_t)r->hdr[3];
      if (n == 0) return r->error = RUMOR_FRAME_EEMPTY;
      if (n > r->max_frame) return r->error = RUMOR_FRAME_ETOOBIG;
      r->want = n;
      continue;
    }
    if (r->have == 0 && len >= r->want) {
      /* The whole payload is in this chunk: hand it over in place. */
      size_t n = r->want;
      r->want = 0;
      data += n;
      len -= n;
      if (cb(arg, data - n, n)) return RUMOR_FRAME_STOP;
      continue;
    }
    size_t take = r->want - r->have;
    if (take > len) take = len;
    if (r->have + take > r->cap && grow(r, r->have + take) != 0)
      return r->error = RUMOR_FRAME_ENOMEM;
    memcpy(r->buf + r->have, data, take);
    r->have += take;
    data += take;
    len -= take;
    if (r->have < r->want) break;
    if (deliver_buffered(r, cb, arg)) return RUMOR_FRAME_STOP;
  }
  return RUMOR_FRAME_OK;
}

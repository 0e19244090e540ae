/* fuzz_frame.c: libFuzzer target for the incremental frame reader (frame.h).
 *
 * Input: byte 0 chooses max_frame, byte 1 seeds how the rest is cut into
 * chunks, the rest is the stream. A plain one-pass parse of the whole stream
 * is the reference: whatever the cuts, the reader must deliver the same
 * frames in the same order, fail exactly where the reference fails, end idle
 * exactly when the stream ends between frames, and never hold much more
 * memory than the bytes that arrived. */
#include "frame.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct expect {
  const uint8_t *stream;
  size_t *off, *len; /* the reference's frames */
  size_t n, next;
} expect;

static int check_frame(void *arg, const uint8_t *p, size_t len) {
  expect *e = arg;
  if (e->next >= e->n) abort(); /* a frame the reference does not have */
  if (len != e->len[e->next] || memcmp(p, e->stream + e->off[e->next], len) != 0) abort();
  e->next++;
  return 0;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  /* High bit: a large limit (1 KiB .. 32 MiB) so big claims are accepted and
   * must not be allocated up front; otherwise 0 .. 1016 bytes (0 refuses
   * every frame). */
  size_t max_frame = data[0] & 0x80 ? (size_t)1 << (10 + (data[0] & 15)) : (size_t)(data[0] & 0x7f) * 8;
  uint32_t seed = data[1];
  const uint8_t *stream = data + 2;
  size_t n = size - 2;

  /* The reference parse. */
  expect e = {stream, malloc(sizeof(size_t) * (n / 5 + 1)), malloc(sizeof(size_t) * (n / 5 + 1)),
              0, 0};
  if (e.off == NULL || e.len == NULL) abort();
  int want_rc = RUMOR_FRAME_OK, want_idle = 1;
  size_t pos = 0;
  while (pos < n) {
    if (n - pos < RUMOR_FRAME_HEADER) { want_idle = 0; break; }
    uint32_t len = be32(stream + pos);
    if (len == 0) { want_rc = RUMOR_FRAME_EEMPTY; break; }
    if (len > max_frame) { want_rc = RUMOR_FRAME_ETOOBIG; break; }
    if (n - pos - RUMOR_FRAME_HEADER < len) { want_idle = 0; break; }
    e.off[e.n] = pos + RUMOR_FRAME_HEADER;
    e.len[e.n++] = len;
    pos += RUMOR_FRAME_HEADER + len;
  }

  /* The incremental reader, on chunks of 1..8 or 1..4096 bytes. */
  rumor_frame_reader r;
  int rc = RUMOR_FRAME_OK;
  rumor__frame_reader_init(&r, max_frame);
  for (size_t off = 0; off < n && rc == RUMOR_FRAME_OK;) {
    seed = seed * 1103515245u + 12345u;
    size_t chunk = 1 + (seed >> 16) % (data[1] & 1 ? 8 : 4096);
    if (chunk > n - off) chunk = n - off;
    rc = rumor__frame_reader_feed(&r, stream + off, chunk, check_frame, &e);
    off += chunk;
    /* Memory follows arrivals: at most a kept buffer, or twice the bytes of
     * the frame in progress. */
    if (r.cap > 65536 && r.cap > 2 * r.have) abort();
    if (r.have > r.cap || (r.want != 0 && r.have >= r.want)) abort();
  }
  if (rc != want_rc || e.next != e.n) abort();
  if (rc == RUMOR_FRAME_OK && rumor__frame_reader_idle(&r) != want_idle) abort();
  if (rc != RUMOR_FRAME_OK && rumor__frame_reader_feed(&r, stream, n, check_frame, &e) != rc)
    abort(); /* errors are sticky */
  rumor__frame_reader_free(&r);
  free(e.off);
  free(e.len);
  return 0;
}

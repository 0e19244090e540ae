/* test_frame.c: the incremental frame reader (frame.h): whole frames, byte
 * by byte, random chunks, several frames per chunk, bad lengths, stopping,
 * and that memory follows the bytes that arrived rather than the claims. */
#include "check.h"
#include "frame.h"
#include <stdint.h>

/* What the callback saw: copies of every payload, in order. */
typedef struct seen {
  uint8_t *frames[64];
  size_t lens[64];
  size_t n;
  size_t stop_after; /* ask to stop once this many were seen (0: never) */
} seen;

static int collect(void *arg, const uint8_t *p, size_t len) {
  seen *s = arg;
  CHECK(s->n < 64);
  CHECK(len > 0);
  s->frames[s->n] = malloc(len);
  CHECK(s->frames[s->n] != NULL);
  memcpy(s->frames[s->n], p, len);
  s->lens[s->n++] = len;
  return s->stop_after != 0 && s->n >= s->stop_after;
}

static void seen_free(seen *s) {
  for (size_t i = 0; i < s->n; i++) free(s->frames[i]);
  memset(s, 0, sizeof(*s));
}

/* A deterministic generator, so a failure replays. */
static uint64_t rnd(uint64_t *st) {
  *st = *st * 6364136223846793005u + 1442695040888963407u;
  return *st >> 33;
}

/* Appends one frame of len bytes, payload byte i = (tag + i) % 251. */
static size_t put_frame(uint8_t *out, size_t len, unsigned tag) {
  rumor__frame_put_header(out, len);
  for (size_t i = 0; i < len; i++) out[RUMOR_FRAME_HEADER + i] = (uint8_t)((tag + i) % 251);
  return RUMOR_FRAME_HEADER + len;
}

static int frame_is(const seen *s, size_t i, size_t len, unsigned tag) {
  if (i >= s->n || s->lens[i] != len) return 0;
  for (size_t k = 0; k < len; k++)
    if (s->frames[i][k] != (uint8_t)((tag + k) % 251)) return 0;
  return 1;
}

static void test_header_encoding(void) {
  uint8_t h[4];
  rumor__frame_put_header(h, 0x01020304u);
  CHECK(h[0] == 1 && h[1] == 2 && h[2] == 3 && h[3] == 4);
  rumor__frame_put_header(h, UINT32_MAX);
  CHECK(h[0] == 0xff && h[1] == 0xff && h[2] == 0xff && h[3] == 0xff);
}

static void test_one_frame_whole(void) {
  uint8_t buf[64];
  size_t n = put_frame(buf, 10, 7);
  rumor_frame_reader r;
  seen s = {0};
  rumor__frame_reader_init(&r, 100);
  CHECK(rumor__frame_reader_idle(&r));
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_OK);
  CHECK_EQ(s.n, 1);
  CHECK(frame_is(&s, 0, 10, 7));
  CHECK(rumor__frame_reader_idle(&r));
  CHECK(r.buf == NULL); /* handed over in place, nothing copied */
  rumor__frame_reader_free(&r);
  seen_free(&s);
}

static void test_several_in_one_chunk(void) {
  uint8_t buf[256];
  size_t n = 0;
  n += put_frame(buf + n, 1, 1);
  n += put_frame(buf + n, 50, 2);
  n += put_frame(buf + n, 3, 3);
  n += put_frame(buf + n, 100, 4);
  rumor_frame_reader r;
  seen s = {0};
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_OK);
  CHECK_EQ(s.n, 4);
  CHECK(frame_is(&s, 0, 1, 1) && frame_is(&s, 1, 50, 2) && frame_is(&s, 2, 3, 3) &&
        frame_is(&s, 3, 100, 4));
  CHECK(rumor__frame_reader_idle(&r));
  rumor__frame_reader_free(&r);
  seen_free(&s);
}

static void test_byte_by_byte(void) {
  static uint8_t buf[4 * 4 + 1 + 300 + 70000 + 2];
  size_t n = 0;
  n += put_frame(buf + n, 1, 9);
  n += put_frame(buf + n, 300, 8);
  n += put_frame(buf + n, 70000, 7); /* larger than the kept buffer */
  n += put_frame(buf + n, 2, 6);
  rumor_frame_reader r;
  seen s = {0};
  rumor__frame_reader_init(&r, 70000);
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ(rumor__frame_reader_feed(&r, buf + i, 1, collect, &s), RUMOR_FRAME_OK);
    CHECK(r.cap <= r.want || r.want == 0); /* never more than the frame in progress */
    if (i + 1 < n) CHECK(!rumor__frame_reader_idle(&r) || s.n > 0);
  }
  CHECK_EQ(s.n, 4);
  CHECK(frame_is(&s, 0, 1, 9) && frame_is(&s, 1, 300, 8) && frame_is(&s, 2, 70000, 7) &&
        frame_is(&s, 3, 2, 6));
  CHECK(rumor__frame_reader_idle(&r));
  CHECK(r.cap <= 4096); /* the 70000-byte buffer was not kept after its frame */
  rumor__frame_reader_free(&r);
  seen_free(&s);
}

/* Many random streams, each cut into random chunks; every frame must come
 * out whole and in order, whatever the cuts. */
static void test_random_chunks(void) {
  static uint8_t buf[40 * (RUMOR_FRAME_HEADER + 9000)];
  size_t lens[40];
  uint64_t st = 42;
  for (int round = 0; round < 200; round++) {
    size_t nframes = 1 + rnd(&st) % 40, n = 0;
    for (size_t i = 0; i < nframes; i++) {
      lens[i] = 1 + rnd(&st) % (i % 5 == 0 ? 9000 : 40);
      n += put_frame(buf + n, lens[i], (unsigned)(round + i));
    }
    rumor_frame_reader r;
    seen s = {0};
    rumor__frame_reader_init(&r, 9000);
    for (size_t off = 0; off < n;) {
      size_t chunk = 1 + rnd(&st) % (rnd(&st) % 2 ? 7 : 20000);
      if (chunk > n - off) chunk = n - off;
      CHECK_EQ(rumor__frame_reader_feed(&r, buf + off, chunk, collect, &s), RUMOR_FRAME_OK);
      off += chunk;
    }
    CHECK_EQ(s.n, nframes);
    for (size_t i = 0; i < nframes; i++) CHECK(frame_is(&s, i, lens[i], (unsigned)(round + i)));
    CHECK(rumor__frame_reader_idle(&r));
    rumor__frame_reader_free(&r);
    seen_free(&s);
  }
}

static void test_zero_length_refused(void) {
  uint8_t buf[32];
  size_t n = put_frame(buf, 2, 1);
  rumor__frame_put_header(buf + n, 0);
  n += RUMOR_FRAME_HEADER;
  n += put_frame(buf + n, 2, 3);
  rumor_frame_reader r;
  seen s = {0};
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_EEMPTY);
  CHECK_EQ(s.n, 1); /* the frame before it came through, nothing after */
  /* Sticky: a dead stream stays dead, even on good bytes. */
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, 6, collect, &s), RUMOR_FRAME_EEMPTY);
  CHECK_EQ(s.n, 1);
  rumor__frame_reader_free(&r);
  seen_free(&s);
}

static void test_oversize_refused(void) {
  uint8_t buf[300];
  rumor_frame_reader r;
  seen s = {0};
  /* Exactly max_frame is fine. */
  size_t n = put_frame(buf, 100, 5);
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_OK);
  CHECK_EQ(s.n, 1);
  rumor__frame_reader_free(&r);
  seen_free(&s);
  /* One more is refused as soon as the header is complete, header split. */
  put_frame(buf, 101, 5);
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, 3, collect, &s), RUMOR_FRAME_OK);
  CHECK(!rumor__frame_reader_idle(&r));
  CHECK_EQ(rumor__frame_reader_feed(&r, buf + 3, 1, collect, &s), RUMOR_FRAME_ETOOBIG);
  CHECK_EQ(s.n, 0);
  CHECK(r.buf == NULL);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf + 4, 10, collect, &s), RUMOR_FRAME_ETOOBIG);
  rumor__frame_reader_free(&r);
  /* The largest claim possible against the largest limit: refused. */
  uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
  rumor__frame_reader_init(&r, 1000);
  CHECK_EQ(rumor__frame_reader_feed(&r, big, 4, collect, &s), RUMOR_FRAME_ETOOBIG);
  rumor__frame_reader_free(&r);
  /* max_frame 0 refuses every frame. */
  rumor__frame_reader_init(&r, 0);
  n = put_frame(buf, 1, 1);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_ETOOBIG);
  rumor__frame_reader_free(&r);
  CHECK_EQ(s.n, 0);
}

/* A peer claims 64 MiB and trickles bytes: memory follows the bytes. */
static void test_memory_follows_arrivals(void) {
  const size_t claim = 64u << 20;
  uint8_t hdr[4], chunk[1000];
  rumor_frame_reader r;
  seen s = {0};
  memset(chunk, 0xab, sizeof(chunk));
  rumor__frame_put_header(hdr, claim);
  rumor__frame_reader_init(&r, claim);
  CHECK_EQ(rumor__frame_reader_feed(&r, hdr, 4, collect, &s), RUMOR_FRAME_OK);
  CHECK_EQ(r.cap, 0); /* a claim alone allocates nothing */
  CHECK_EQ(rumor__frame_reader_feed(&r, chunk, 10, collect, &s), RUMOR_FRAME_OK);
  CHECK(r.cap > 0 && r.cap <= 4096);
  size_t arrived = 10;
  for (int i = 0; i < 300; i++) {
    CHECK_EQ(rumor__frame_reader_feed(&r, chunk, sizeof(chunk), collect, &s), RUMOR_FRAME_OK);
    arrived += sizeof(chunk);
    CHECK(r.cap >= arrived && r.cap <= (2 * arrived > 4096 ? 2 * arrived : 4096));
  }
  CHECK_EQ(r.have, arrived);
  CHECK_EQ(s.n, 0);
  rumor__frame_reader_free(&r);
}

static void test_callback_stops(void) {
  uint8_t buf[64];
  size_t n = 0;
  n += put_frame(buf + n, 5, 1);
  n += put_frame(buf + n, 6, 2);
  rumor_frame_reader r;
  seen s = {0};
  s.stop_after = 1;
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, n, collect, &s), RUMOR_FRAME_STOP);
  CHECK_EQ(s.n, 1);
  CHECK(rumor__frame_reader_idle(&r));
  rumor__frame_reader_free(&r);
  seen_free(&s);
  /* Also from the buffered path: the first frame split in two feeds. */
  s.stop_after = 1;
  rumor__frame_reader_init(&r, 100);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf, 6, collect, &s), RUMOR_FRAME_OK);
  CHECK_EQ(rumor__frame_reader_feed(&r, buf + 6, n - 6, collect, &s), RUMOR_FRAME_STOP);
  CHECK_EQ(s.n, 1);
  CHECK(frame_is(&s, 0, 5, 1));
  rumor__frame_reader_free(&r);
  seen_free(&s);
}

int main(void) {
  RUN(test_header_encoding);
  RUN(test_one_frame_whole);
  RUN(test_several_in_one_chunk);
  RUN(test_byte_by_byte);
  RUN(test_random_chunks);
  RUN(test_zero_length_refused);
  RUN(test_oversize_refused);
  RUN(test_memory_follows_arrivals);
  RUN(test_callback_stops);
  return 0;
}

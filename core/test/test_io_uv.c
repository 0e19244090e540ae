/* test_io_uv.c: the libuv io (io_uv.c) alone, on real loopback sockets,
 * with this file standing in for the node's entry points. It covers what
 * an end-to-end test cannot force: timers per slot, frames queued before
 * the connect, refused and timed-out streams, a close that still flushes,
 * inbound limits (count, frame size, zero length, idle), and shutdown or
 * destroy with work in flight, with no callback after them and no leak. */
#include "check.h"
#include "io.h"
#include "frame.h"
#include <signal.h>

/* ---- a stand-in node ------------------------------------------------ */

#define MAX_SEEN 64

typedef struct fake_node {
  rumor_io *io;
  int timers[RUMOR_TIMER_COUNT];
  int datagrams;
  size_t nframes;
  uint8_t *frames[MAX_SEEN];
  size_t frame_lens[MAX_SEEN];
  size_t ndone;
  rumor_stream *done_stream[MAX_SEEN];
  int done_status[MAX_SEEN];
  int close_on_error;  /* behave like the node: close a stream at its error */
  size_t destroyed;
  int after_shutdown;  /* calls that came after shutdown: must stay 0 */
  size_t refused_full, refused_long; /* rumor__node_inbound_closed, by why */
  int shut;
} fake_node;

static fake_node *node_of(rumor_node_t *n) { return (fake_node *)(void *)n; }

void rumor__node_recv(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                      size_t len) {
  (void)from, (void)buf, (void)len;
  node_of(n)->after_shutdown += node_of(n)->shut;
  node_of(n)->datagrams++;
}

void rumor__node_recv_frame(rumor_node_t *n, const struct sockaddr_storage *from,
                            const uint8_t *buf, size_t len) {
  fake_node *f = node_of(n);
  CHECK(from->ss_family == AF_INET);
  f->after_shutdown += f->shut;
  CHECK(f->nframes < MAX_SEEN);
  f->frames[f->nframes] = malloc(len);
  memcpy(f->frames[f->nframes], buf, len);
  f->frame_lens[f->nframes++] = len;
}

void rumor__node_stream_done(rumor_node_t *n, rumor_stream *s, int status) {
  fake_node *f = node_of(n);
  f->after_shutdown += f->shut;
  CHECK(f->ndone < MAX_SEEN);
  f->done_stream[f->ndone] = s;
  f->done_status[f->ndone++] = status;
  if (status != 0 && f->close_on_error) f->io->ops->stream_close(f->io, s);
}

void rumor__node_inbound_closed(rumor_node_t *n, int why) {
  fake_node *f = node_of(n);
  f->after_shutdown += f->shut;
  if (why == RUMOR_INBOUND_FULL) f->refused_full++;
  else if (why == RUMOR_INBOUND_LONG) f->refused_long++;
  else CHECK(!"unknown why");
}

void rumor__node_timer(rumor_node_t *n, int timer) {
  node_of(n)->after_shutdown += node_of(n)->shut;
  node_of(n)->timers[timer]++;
}

static void on_io_done(rumor_io *io) { node_of(io->node)->destroyed++; }

static void node_free_frames(fake_node *f) {
  for (size_t i = 0; i < f->nframes; i++) free(f->frames[i]);
  f->nframes = 0;
}

/* ---- helpers -------------------------------------------------------- */

static rumor_io_limits default_limits(void) {
  rumor_io_limits l = {1 << 20, 5000, 8, 0};
  return l;
}

static void loopback(struct sockaddr_storage *ss, int port) {
  CHECK_EQ(uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)ss), 0);
}

static int port_of(const struct sockaddr_storage *ss) {
  return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
}

static rumor_io *io_start(uv_loop_t *loop, fake_node *f, const rumor_io_limits *l,
                          struct sockaddr_storage *bound) {
  struct sockaddr_storage bind;
  memset(f, 0, sizeof(*f));
  f->io = rumor__io_uv_new(loop, (rumor_node_t *)(void *)f);
  CHECK(f->io != NULL);
  loopback(&bind, 0);
  CHECK_EQ(f->io->ops->open(f->io, &bind, bound, l), 0);
  CHECK(port_of(bound) != 0);
  return f->io;
}

static int run_until(uv_loop_t *loop, const size_t *count, size_t want, uint64_t ms);

/* Shuts the io down and destroys it; done must come, and only once. */
static void io_end(uv_loop_t *loop, fake_node *f) {
  f->shut = 1;
  f->io->ops->shutdown(f->io);
  f->io->ops->destroy(f->io, on_io_done);
  CHECK_EQ(f->destroyed, 0); /* never inside the call */
  CHECK(run_until(loop, &f->destroyed, 1, 5000));
  uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ(f->destroyed, 1);
  CHECK_EQ(f->after_shutdown, 0);
  node_free_frames(f);
}

static uint8_t *pattern(size_t len, unsigned tag) {
  uint8_t *p = malloc(len);
  CHECK(p != NULL);
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)((tag * 31 + i) % 253);
  return p;
}

static int is_pattern(const uint8_t *p, size_t len, unsigned tag) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != (uint8_t)((tag * 31 + i) % 253)) return 0;
  return 1;
}

/* Runs the loop until *count >= want or ms pass; returns whether it got
 * there. A prepare handle checks before every poll, so a condition met by
 * a timer callback does not leave the loop blocked in poll. */
typedef struct waiter {
  const size_t *count;
  size_t want;
  int expired;
} waiter;

static void on_deadline(uv_timer_t *t) { ((waiter *)t->data)->expired = 1; }
static void close_quiet(uv_handle_t *h) { (void)h; }

static void on_prepare(uv_prepare_t *p) {
  waiter *w = p->data;
  if (*w->count >= w->want || w->expired) uv_stop(p->loop);
}

static int run_until(uv_loop_t *loop, const size_t *count, size_t want, uint64_t ms) {
  uv_timer_t t;
  uv_prepare_t p;
  waiter w = {count, want, 0};
  uv_timer_init(loop, &t);
  uv_prepare_init(loop, &p);
  t.data = p.data = &w;
  uv_timer_start(&t, on_deadline, ms, 0);
  uv_prepare_start(&p, on_prepare);
  if (*count < want) uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, close_quiet);
  uv_close((uv_handle_t *)&p, close_quiet);
  uv_run(loop, UV_RUN_NOWAIT);
  return *count >= want;
}

static void run_for(uv_loop_t *loop, uint64_t ms) {
  size_t never = 0;
  run_until(loop, &never, 1, ms);
}

/* A raw TCP client: connects, may send bytes, notes when the server hangs up. */
typedef struct raw_client {
  uv_tcp_t tcp;
  uv_connect_t req;
  char buf[256];
  size_t connected, hung_up;
} raw_client;

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  raw_client *c = h->data;
  (void)s;
  *b = uv_buf_init(c->buf, sizeof(c->buf));
}

static void raw_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b) {
  raw_client *c = h->data;
  (void)b;
  if (n < 0) {
    c->hung_up = 1;
    uv_read_stop(h);
  }
}

static void raw_connected(uv_connect_t *req, int status) {
  raw_client *c = req->data;
  CHECK_EQ(status, 0);
  c->connected = 1;
  CHECK_EQ(uv_read_start((uv_stream_t *)&c->tcp, raw_alloc, raw_read), 0);
}

static void raw_connect(uv_loop_t *loop, raw_client *c, const struct sockaddr_storage *to) {
  memset(c, 0, sizeof(*c));
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c->req.data = c;
  CHECK_EQ(uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)to, raw_connected), 0);
  CHECK(run_until(loop, &c->connected, 1, 5000));
}

/* Closes the client and lets the loop finish it, so it can be reused. */
static void raw_close(uv_loop_t *loop, raw_client *c) {
  uv_close((uv_handle_t *)&c->tcp, close_quiet);
  uv_run(loop, UV_RUN_NOWAIT);
}

/* One write of a few bytes, with its own copy; freed when written. */
typedef struct raw_write {
  uv_write_t req;
  char data[64];
} raw_write;

static void raw_written(uv_write_t *req, int status) {
  (void)status;
  free(req->data);
}

static void raw_send(raw_client *c, const void *data, size_t len) {
  raw_write *w = malloc(sizeof(*w));
  CHECK(w != NULL && len <= sizeof(w->data));
  memcpy(w->data, data, len);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  CHECK_EQ(uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, raw_written), 0);
}

static void ignore_connection(uv_stream_t *server, int status) {
  (void)server;
  (void)status; /* left in the backlog: the kernel completes it, nobody reads */
}

/* ---- tests ---------------------------------------------------------- */

static void test_open_limits_and_ports(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage bound, bind, again;
  rumor_io_limits l = default_limits();
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &bound);
  /* A fixed port that is taken fails with the error, no retry. */
  memset(&b, 0, sizeof(b));
  b.io = rumor__io_uv_new(&loop, (rumor_node_t *)(void *)&b);
  CHECK_EQ(b.io->ops->open(b.io, &bound, &again, &l), UV_EADDRINUSE);
  io_end(&loop, &b);
  /* Taken for TCP only: the UDP side is released again on the way out. */
  uv_tcp_t squat;
  struct sockaddr_storage sq;
  int sqlen = sizeof(sq);
  uv_tcp_init(&loop, &squat);
  loopback(&sq, 0);
  CHECK_EQ(uv_tcp_bind(&squat, (const struct sockaddr *)&sq, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&squat, 1, ignore_connection), 0);
  CHECK_EQ(uv_tcp_getsockname(&squat, (struct sockaddr *)&sq, &sqlen), 0);
  memset(&b, 0, sizeof(b));
  b.io = rumor__io_uv_new(&loop, (rumor_node_t *)(void *)&b);
  CHECK_EQ(b.io->ops->open(b.io, &sq, &again, &l), UV_EADDRINUSE);
  io_end(&loop, &b);
  uv_udp_t probe; /* the UDP port is free again */
  uv_udp_init(&loop, &probe);
  CHECK_EQ(uv_udp_bind(&probe, (const struct sockaddr *)&sq, 0), 0);
  uv_close((uv_handle_t *)&probe, close_quiet);
  uv_close((uv_handle_t *)&squat, close_quiet);
  uv_run(&loop, UV_RUN_NOWAIT); /* a is still open: the loop would not end */
  /* Bad limits are refused before anything is bound. */
  rumor_io_limits bad = l;
  bad.timeout_ms = 0;
  memset(&b, 0, sizeof(b));
  b.io = rumor__io_uv_new(&loop, (rumor_node_t *)(void *)&b);
  loopback(&bind, 0);
  CHECK_EQ(b.io->ops->open(b.io, &bind, &again, &bad), UV_EINVAL);
  bad = l;
  bad.max_frame = 0;
  CHECK_EQ(b.io->ops->open(b.io, &bind, &again, &bad), UV_EINVAL);
  io_end(&loop, &b);
  /* After shutdown both ports are free again (the listener too). */
  io_end(&loop, &a);
  io_start(&loop, &b, &l, &again);
  io_end(&loop, &b);
  memset(&a, 0, sizeof(a));
  a.io = rumor__io_uv_new(&loop, (rumor_node_t *)(void *)&a);
  CHECK_EQ(a.io->ops->open(a.io, &bound, &again, &l), 0);
  CHECK_EQ(port_of(&again), port_of(&bound));
  io_end(&loop, &a);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_timers_fire_per_slot(void) {
  uv_loop_t loop;
  fake_node a;
  struct sockaddr_storage bound;
  rumor_io_limits l = default_limits();
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &bound);
  a.io->ops->arm(a.io, RUMOR_TIMER_ROUND, 5000);
  a.io->ops->arm(a.io, RUMOR_TIMER_ROUND, 10); /* re-arming replaces */
  a.io->ops->arm(a.io, RUMOR_TIMER_PUSH, 0);
  a.io->ops->arm(a.io, RUMOR_TIMER_AWAIT, 20);
  a.io->ops->arm(a.io, RUMOR_TIMER_COUNT, 0); /* not a slot: ignored */
  size_t fired = 0;
  for (int i = 0; i < 100 && fired < 3; i++) {
    run_for(&loop, 10);
    fired = (size_t)(a.timers[0] + a.timers[1] + a.timers[2]);
  }
  CHECK_EQ(a.timers[RUMOR_TIMER_ROUND], 1);
  CHECK_EQ(a.timers[RUMOR_TIMER_PUSH], 1);
  CHECK_EQ(a.timers[RUMOR_TIMER_AWAIT], 1);
  /* Shutdown stops an armed timer, and arming after it does nothing. */
  a.io->ops->arm(a.io, RUMOR_TIMER_ROUND, 1);
  a.shut = 1;
  a.io->ops->shutdown(a.io);
  a.io->ops->arm(a.io, RUMOR_TIMER_PUSH, 1);
  run_for(&loop, 30);
  CHECK_EQ(a.timers[RUMOR_TIMER_ROUND], 1);
  CHECK_EQ(a.timers[RUMOR_TIMER_PUSH], 1);
  io_end(&loop, &a);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_datagrams(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, ba;
  rumor_io_limits l = default_limits();
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &aa);
  io_start(&loop, &b, &l, &ba);
  CHECK_EQ(a.io->ops->send(a.io, &ba, (const uint8_t *)"hi", 2), 0);
  size_t n = 0;
  for (int i = 0; i < 500 && b.datagrams == 0; i++) run_for(&loop, 10);
  n = (size_t)b.datagrams;
  CHECK_EQ(n, 1);
  io_end(&loop, &a);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* Frames written before the connect completes arrive whole and in order,
 * each reported once with 0; a close right after the last write still
 * delivers it. */
static void test_stream_roundtrip(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, ba;
  rumor_io_limits l = default_limits();
  const size_t lens[4] = {1, 1000, 300000, 1 << 20};
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &aa);
  io_start(&loop, &b, &l, &ba);
  rumor_stream *s = a.io->ops->stream_open(a.io, &ba);
  CHECK(s != NULL);
  for (unsigned i = 0; i < 3; i++)
    CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(lens[i], i), lens[i]), 0);
  CHECK_EQ(a.ndone, 0); /* never from inside the call */
  CHECK(run_until(&loop, &a.ndone, 3, 10000));
  for (size_t i = 0; i < 3; i++) {
    CHECK(a.done_stream[i] == s);
    CHECK_EQ(a.done_status[i], 0);
  }
  /* One more, then close at once: no report, but the frame gets there. */
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(lens[3], 3), lens[3]), 0);
  a.io->ops->stream_close(a.io, s);
  CHECK(run_until(&loop, &b.nframes, 4, 10000));
  run_for(&loop, 50);
  CHECK_EQ(a.ndone, 3);
  CHECK_EQ(b.nframes, 4);
  for (unsigned i = 0; i < 4; i++) {
    CHECK_EQ(b.frame_lens[i], lens[i]);
    CHECK(is_pattern(b.frames[i], lens[i], i));
  }
  io_end(&loop, &a);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* stream_close flushes what was queued, even before the connect is done
 * or while a frame larger than the socket buffers is still going out; it
 * never reports on them. */
static void test_close_flushes(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, ba;
  rumor_io_limits l = {32u << 20, 5000, 8, 0};
  const size_t big = 32u << 20;
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &aa);
  io_start(&loop, &b, &l, &ba);
  rumor_stream *s = a.io->ops->stream_open(a.io, &ba);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 1), 10), 0);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(20, 2), 20), 0);
  a.io->ops->stream_close(a.io, s); /* still connecting */
  CHECK(run_until(&loop, &b.nframes, 2, 5000));
  CHECK(b.frame_lens[0] == 10 && is_pattern(b.frames[0], 10, 1));
  CHECK(b.frame_lens[1] == 20 && is_pattern(b.frames[1], 20, 2));
  s = a.io->ops->stream_open(a.io, &ba);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 3), 10), 0);
  CHECK(run_until(&loop, &a.ndone, 1, 5000)); /* connected now */
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(big, 4), big), 0);
  a.io->ops->stream_close(a.io, s); /* mid-write */
  CHECK(run_until(&loop, &b.nframes, 4, 10000));
  CHECK(b.frame_lens[3] == big && is_pattern(b.frames[3], big, 4));
  CHECK_EQ(a.ndone, 1);
  io_end(&loop, &a);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A port with nothing listening: the queued frame is reported failed once;
 * after stream_close, nothing more. Bad writes are refused at once. */
static void test_stream_refused(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, closed;
  rumor_io_limits l = default_limits();
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &b, &l, &closed); /* take a port, then free it */
  io_end(&loop, &b);
  io_start(&loop, &a, &l, &aa);
  a.close_on_error = 1;
  rumor_stream *s = a.io->ops->stream_open(a.io, &closed);
  CHECK(s != NULL);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, NULL, 3), UV_EINVAL);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, malloc(1), 0), UV_EINVAL); /* freed by the io */
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 1), 10), 0);
  CHECK(run_until(&loop, &a.ndone, 1, 10000));
  CHECK_EQ(a.done_status[0], UV_ECONNREFUSED);
  run_for(&loop, 50);
  CHECK_EQ(a.ndone, 1);
  /* Refused before the first write: the write learns it from the loop. */
  a.close_on_error = 0;
  s = a.io->ops->stream_open(a.io, &closed);
  CHECK(s != NULL);
  run_for(&loop, 100);
  CHECK_EQ(a.ndone, 1);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 1), 10), 0);
  CHECK_EQ(a.ndone, 1);
  CHECK(run_until(&loop, &a.ndone, 2, 10000));
  CHECK_EQ(a.done_status[1], UV_ECONNREFUSED);
  a.io->ops->stream_close(a.io, s);
  /* Closed before the refusal arrives: its frame is never reported. */
  s = a.io->ops->stream_open(a.io, &closed);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 1), 10), 0);
  a.io->ops->stream_close(a.io, s);
  run_for(&loop, 100);
  io_end(&loop, &a);
  CHECK_EQ(a.ndone, 2);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A listener that accepts nothing and reads nothing: a write larger than
 * the socket buffers cannot complete and times out. */
static void test_stream_write_timeout(void) {
  uv_loop_t loop;
  fake_node a;
  uv_tcp_t sink;
  struct sockaddr_storage aa, sa;
  int len = sizeof(sa);
  rumor_io_limits l = {64u << 20, 300, 8, 0};
  CHECK_EQ(uv_loop_init(&loop), 0);
  uv_tcp_init(&loop, &sink);
  loopback(&sa, 0);
  CHECK_EQ(uv_tcp_bind(&sink, (const struct sockaddr *)&sa, 0), 0);
  CHECK_EQ(uv_listen((uv_stream_t *)&sink, 1, ignore_connection), 0);
  CHECK_EQ(uv_tcp_getsockname(&sink, (struct sockaddr *)&sa, &len), 0);
  io_start(&loop, &a, &l, &aa);
  a.close_on_error = 1;
  rumor_stream *s = a.io->ops->stream_open(a.io, &sa);
  CHECK(s != NULL);
  size_t big = 64u << 20;
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(big, 0), big), 0);
  uint64_t t0 = uv_now(&loop);
  CHECK(run_until(&loop, &a.ndone, 1, 10000));
  CHECK_EQ(a.done_status[0], UV_ETIMEDOUT);
  CHECK(uv_now(&loop) - t0 >= 250);
  run_for(&loop, 50);
  CHECK_EQ(a.ndone, 1);
  io_end(&loop, &a);
  uv_close((uv_handle_t *)&sink, close_quiet);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* Inbound: a frame over max_frame or of length 0 closes the connection
 * before anything reaches the node; a silent connection is closed after
 * timeout_ms; beyond max_inbound connections are closed at once. */
static void test_inbound_limits(void) {
  uv_loop_t loop;
  fake_node b;
  struct sockaddr_storage ba;
  rumor_io_limits l = {100, 300, 2, 0};
  raw_client c1, c2, c3;
  uint8_t hdr[4];
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &b, &l, &ba);

  raw_connect(&loop, &c1, &ba);
  rumor__frame_put_header(hdr, 101);
  raw_send(&c1, hdr, 4);
  CHECK(run_until(&loop, &c1.hung_up, 1, 5000));
  raw_close(&loop, &c1);

  raw_connect(&loop, &c1, &ba);
  rumor__frame_put_header(hdr, 0);
  raw_send(&c1, hdr, 4);
  CHECK(run_until(&loop, &c1.hung_up, 1, 5000));
  raw_close(&loop, &c1);
  CHECK_EQ(b.nframes, 0);

  /* Two places: a third connection is closed at once, the first two stay
   * until their idle timeout. */
  raw_connect(&loop, &c1, &ba);
  raw_connect(&loop, &c2, &ba);
  uint64_t t0 = uv_now(&loop);
  raw_connect(&loop, &c3, &ba);
  CHECK(run_until(&loop, &c3.hung_up, 1, 5000));
  CHECK(uv_now(&loop) - t0 < 250);
  CHECK(!c1.hung_up && !c2.hung_up);
  CHECK_EQ(b.refused_full, 1); /* told to the node; the two timed out below are not */
  /* c1 keeps talking (a valid frame split over time), c2 stays silent. */
  uint8_t frame[4 + 3] = {0, 0, 0, 3, 'a', 'b', 'c'};
  raw_send(&c1, frame, 5);
  run_for(&loop, 200);
  raw_send(&c1, frame + 5, 2);
  CHECK(run_until(&loop, &b.nframes, 1, 5000));
  CHECK(run_until(&loop, &c2.hung_up, 1, 5000));
  CHECK(uv_now(&loop) - t0 >= 250);
  CHECK(!c1.hung_up); /* it spoke 200 ms ago */
  CHECK(run_until(&loop, &c1.hung_up, 1, 5000));
  CHECK_EQ(b.nframes, 1);
  CHECK(b.frame_lens[0] == 3 && memcmp(b.frames[0], "abc", 3) == 0);
  CHECK_EQ(b.refused_full, 1);
  CHECK_EQ(b.refused_long, 0);
  /* The places are free again. */
  raw_close(&loop, &c1);
  raw_close(&loop, &c2);
  raw_close(&loop, &c3);
  raw_connect(&loop, &c1, &ba);
  run_for(&loop, 100);
  CHECK(!c1.hung_up);
  raw_close(&loop, &c1);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* Half open: a peer that sends half a length prefix, or a frame cut short,
 * and then nothing, is closed after timeout_ms like a silent one, and
 * nothing reaches the node. */
static void test_inbound_half_frames_time_out(void) {
  uv_loop_t loop;
  fake_node b;
  struct sockaddr_storage ba;
  rumor_io_limits l = {100, 300, 2, 0};
  raw_client c1, c2;
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &b, &l, &ba);
  raw_connect(&loop, &c1, &ba);
  raw_connect(&loop, &c2, &ba);
  uint64_t t0 = uv_now(&loop);
  const uint8_t half[] = {0, 0, 0, 3, 'a'};
  raw_send(&c1, half, 2); /* half a length prefix */
  raw_send(&c2, half, 5); /* a length and part of its frame */
  run_for(&loop, 150);
  CHECK(!c1.hung_up && !c2.hung_up);
  CHECK(run_until(&loop, &c1.hung_up, 1, 5000));
  CHECK(run_until(&loop, &c2.hung_up, 1, 5000));
  CHECK(uv_now(&loop) - t0 >= 250);
  CHECK_EQ(b.nframes, 0);
  CHECK_EQ(b.refused_full + b.refused_long, 0);
  raw_close(&loop, &c1);
  raw_close(&loop, &c2);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A peer trickling a byte at a time, each well within the idle timeout,
 * keeps no place: it is closed long before its frame could complete. */
static void test_inbound_trickle_times_out(void) {
  uv_loop_t loop;
  fake_node b;
  struct sockaddr_storage ba;
  rumor_io_limits l = {100, 300, 2, 0};
  raw_client c;
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &b, &l, &ba);
  raw_connect(&loop, &c, &ba);
  uint8_t frame[4 + 80] = {0, 0, 0, 80};
  size_t sent = 0;
  while (sent < sizeof frame && !c.hung_up) {
    raw_send(&c, frame + sent++, 1);
    run_for(&loop, 100);
  }
  CHECK(c.hung_up);
  CHECK(sent < sizeof frame);
  CHECK_EQ(b.nframes, 0);
  raw_close(&loop, &c);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A connection is closed once its frames carried max_stream_bytes: the
 * frame that reaches the limit is still delivered, the rest is not, and a
 * new connection starts afresh. */
static void test_inbound_stream_bytes(void) {
  uv_loop_t loop;
  fake_node b;
  struct sockaddr_storage ba;
  rumor_io_limits l = {100, 5000, 4, 10};
  raw_client c;
  const uint8_t frames[] = {0, 0, 0, 4, 'a', 'b', 'c', 'd', 0, 0, 0, 4, 'e', 'f', 'g', 'h',
                            0, 0, 0, 4, 'i', 'j', 'k', 'l', 0, 0, 0, 4, 'm', 'n', 'o', 'p'};
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &b, &l, &ba);
  raw_connect(&loop, &c, &ba);
  raw_send(&c, frames, sizeof frames); /* 16 payload bytes: 10 reached at the third */
  CHECK(run_until(&loop, &c.hung_up, 1, 5000));
  CHECK_EQ(b.nframes, 3);
  CHECK(b.frame_lens[2] == 4 && memcmp(b.frames[2], "ijkl", 4) == 0);
  CHECK_EQ(b.refused_long, 1);
  raw_close(&loop, &c);
  raw_connect(&loop, &c, &ba);
  raw_send(&c, frames, 16); /* 8 bytes: under the limit, stays open */
  CHECK(run_until(&loop, &b.nframes, 5, 5000));
  run_for(&loop, 50);
  CHECK(!c.hung_up);
  CHECK_EQ(b.refused_long, 1);
  raw_close(&loop, &c);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* The peer refuses a frame and hangs up: the sender's next write fails
 * rather than hanging. */
static void test_peer_hangs_up(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, ba;
  rumor_io_limits la = default_limits(), lb = {1000, 5000, 8, 0};
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &la, &aa);
  io_start(&loop, &b, &lb, &ba);
  rumor_stream *s = a.io->ops->stream_open(a.io, &ba);
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(5000, 0), 5000), 0);
  CHECK(run_until(&loop, &a.ndone, 1, 5000));
  CHECK_EQ(a.done_status[0], 0); /* handed to the kernel */
  run_for(&loop, 100);          /* b reads the header and hangs up */
  CHECK_EQ(a.io->ops->stream_write(a.io, s, pattern(10, 1), 10), 0);
  CHECK(run_until(&loop, &a.ndone, 2, 5000));
  CHECK(a.done_status[1] < 0);
  a.io->ops->stream_close(a.io, s);
  CHECK_EQ(b.nframes, 0);
  io_end(&loop, &a);
  io_end(&loop, &b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* Shutdown and destroy with everything in flight: streams still
 * connecting with queued frames, streams mid-write, a stream closed and
 * flushing, inbound connections mid-frame. No callback after shutdown,
 * every frame freed (ASan/valgrind tell), done exactly once. */
static void test_shutdown_in_flight(void) {
  uv_loop_t loop;
  fake_node a, b;
  struct sockaddr_storage aa, ba;
  rumor_io_limits l = default_limits();
  CHECK_EQ(uv_loop_init(&loop), 0);
  io_start(&loop, &a, &l, &aa);
  io_start(&loop, &b, &l, &ba);
  rumor_stream *s1 = a.io->ops->stream_open(a.io, &ba);
  CHECK_EQ(a.io->ops->stream_write(a.io, s1, pattern(100, 1), 100), 0);
  CHECK_EQ(a.io->ops->stream_write(a.io, s1, pattern(200, 2), 200), 0);
  rumor_stream *s2 = a.io->ops->stream_open(a.io, &ba);
  CHECK(run_until(&loop, &a.ndone, 2, 5000));
  CHECK_EQ(a.io->ops->stream_write(a.io, s2, pattern(1 << 20, 3), 1 << 20), 0);
  CHECK_EQ(a.io->ops->stream_write(a.io, s2, pattern(1 << 20, 4), 1 << 20), 0);
  rumor_stream *s3 = a.io->ops->stream_open(a.io, &ba); /* connecting */
  CHECK_EQ(a.io->ops->stream_write(a.io, s3, pattern(300, 5), 300), 0);
  rumor_stream *s4 = a.io->ops->stream_open(a.io, &ba);
  CHECK_EQ(a.io->ops->stream_write(a.io, s4, pattern(400, 6), 400), 0);
  a.io->ops->stream_close(a.io, s4); /* closed, still flushing */
  a.shut = 1;
  a.io->ops->shutdown(a.io);
  size_t before = a.ndone;
  CHECK_EQ(a.io->ops->stream_write(a.io, s1, pattern(10, 7), 10), UV_ECANCELED);
  CHECK(a.io->ops->stream_open(a.io, &ba) == NULL);
  a.io->ops->stream_close(a.io, s1); /* the node may still close after shutdown */
  run_for(&loop, 50);
  CHECK_EQ(a.ndone, before);
  a.io->ops->stream_close(a.io, s2); /* ... even once the handles are gone */
  /* s3 is never closed by the node: destroy frees it. */
  a.io->ops->destroy(a.io, on_io_done);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(a.after_shutdown, 0);
  run_for(&loop, 50);
  CHECK_EQ(a.destroyed, 1);
  node_free_frames(&a);
  /* b is torn down with inbound connections open; destroy without a
   * separate shutdown. */
  b.shut = 1;
  b.io->ops->destroy(b.io, on_io_done);
  CHECK(run_until(&loop, &b.destroyed, 1, 5000));
  CHECK_EQ(b.destroyed, 1);
  CHECK_EQ(b.after_shutdown, 0);
  node_free_frames(&b);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* An io that is never opened still closes cleanly; done may be NULL. */
static void test_destroy_unopened(void) {
  uv_loop_t loop;
  fake_node a;
  CHECK_EQ(uv_loop_init(&loop), 0);
  memset(&a, 0, sizeof(a));
  a.io = rumor__io_uv_new(&loop, (rumor_node_t *)(void *)&a);
  struct sockaddr_storage to;
  loopback(&to, 9);
  CHECK(a.io->ops->stream_open(a.io, &to) == NULL); /* not open: no limits yet */
  a.io->ops->destroy(a.io, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* writes to a closed peer must fail, not kill */
  RUN(test_open_limits_and_ports);
  RUN(test_timers_fire_per_slot);
  RUN(test_datagrams);
  RUN(test_stream_roundtrip);
  RUN(test_close_flushes);
  RUN(test_stream_refused);
  RUN(test_stream_write_timeout);
  RUN(test_inbound_limits);
  RUN(test_inbound_half_frames_time_out);
  RUN(test_inbound_trickle_times_out);
  RUN(test_inbound_stream_bytes);
  RUN(test_peer_hangs_up);
  RUN(test_shutdown_in_flight);
  RUN(test_destroy_unopened);
  return 0;
}

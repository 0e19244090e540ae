/* io_uv.c: the libuv implementation of the I/O seam (io.h): a UDP socket,
 * one timer, the loop's clock and the OS's randomness. */
#include "io.h"
#include <stdlib.h>
#include <string.h>

/* Big enough for any UDP datagram, so nothing is truncated on receipt; a
 * datagram larger than the sender's MTU is still refused by the decoder's
 * limits, not by this buffer. */
#define RECV_BUFFER_SIZE 65536

typedef struct io_uv {
  rumor_io base;
  uv_loop_t *loop;
  uv_udp_t udp;
  uv_timer_t timers[RUMOR_TIMER_COUNT];
  int udp_inited;   /* the handle exists and must be closed */
  int udp_open;     /* bound and receiving */
  int closing;      /* handles still to be closed */
  void (*done)(rumor_io *io);
  char recvbuf[RECV_BUFFER_SIZE];
} io_uv;

/* A datagram the socket could not take at once, queued with its own copy. */
typedef struct pending_send {
  uv_udp_send_t req;
  uint8_t data[];
} pending_send;

static uint64_t uvio_now(rumor_io *io) { return uv_now(((io_uv *)io)->loop); }

static uint64_t uvio_wall_us(rumor_io *io) {
  uv_timeval64_t tv;
  (void)io;
  if (uv_gettimeofday(&tv) != 0) return 1;
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static uint64_t uvio_seed(rumor_io *io) {
  uint64_t seed = 0;
  (void)io;
  if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) != 0)
    seed = uv_hrtime() ^ (uint64_t)(uintptr_t)io; /* no entropy source: still varies per node */
  return seed;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  io_uv *u = h->data;
  (void)suggested;
  buf->base = u->recvbuf;
  buf->len = sizeof(u->recvbuf);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
  io_uv *u = h->data;
  struct sockaddr_storage from;
  (void)buf;
  if (nread <= 0 || addr == NULL) return; /* nothing, or a read error we cannot act on */
  if (flags & UV_UDP_PARTIAL) return;     /* cannot happen with our buffer size */
  memset(&from, 0, sizeof(from));
  memcpy(&from, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
  rumor__node_recv(u->base.node, &from, (const uint8_t *)u->recvbuf, (size_t)nread);
}

static int uvio_open(rumor_io *io, const struct sockaddr_storage *bind,
                     struct sockaddr_storage *bound, const rumor_io_limits *limits) {
  io_uv *u = (io_uv *)io;
  (void)limits;
  int rc, len = sizeof(*bound);
  if ((rc = uv_udp_init(u->loop, &u->udp)) != 0) return rc;
  u->udp.data = u;
  u->udp_inited = 1; /* closed by destroy, whether or not the bind works */
  if ((rc = uv_udp_bind(&u->udp, (const struct sockaddr *)bind, 0)) != 0 ||
      (rc = uv_udp_getsockname(&u->udp, (struct sockaddr *)bound, &len)) != 0 ||
      (rc = uv_udp_recv_start(&u->udp, on_alloc, on_recv)) != 0)
    return rc;
  u->udp_open = 1;
  return 0;
}

static void on_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req->data);
}

static int uvio_send(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf,
                     size_t len) {
  io_uv *u = (io_uv *)io;
  if (!u->udp_open) return UV_EBADF;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  int rc = uv_udp_try_send(&u->udp, &b, 1, (const struct sockaddr *)to);
  if (rc >= 0) return 0;
  if (rc != UV_EAGAIN) return rc;
  /* The socket buffer is full: queue a copy rather than lose the datagram. */
  pending_send *p = malloc(sizeof(*p) + len);
  if (p == NULL) return UV_ENOMEM;
  memcpy(p->data, buf, len);
  p->req.data = p;
  b = uv_buf_init((char *)p->data, (unsigned)len);
  rc = uv_udp_send(&p->req, &u->udp, &b, 1, (const struct sockaddr *)to, on_sent);
  if (rc != 0) free(p);
  return rc;
}

static void on_timer(uv_timer_t *t) {
  io_uv *u = t->data;
  rumor__node_timer(u->base.node, (int)(t - u->timers));
}

static void uvio_arm(rumor_io *io, int timer, uint64_t delay_ms) {
  io_uv *u = (io_uv *)io;
  uv_timer_start(&u->timers[timer], on_timer, delay_ms, 0);
}

/* Streams: not yet (TCP lands separately); a transfer fails at once. */
static rumor_stream *uvio_stream_open(rumor_io *io, const struct sockaddr_storage *to) {
  (void)io;
  (void)to;
  return NULL;
}

static int uvio_stream_write(rumor_io *io, rumor_stream *s, uint8_t *frame, size_t len) {
  (void)io;
  (void)s;
  (void)len;
  free(frame);
  return UV_ENOTSUP;
}

static void uvio_stream_close(rumor_io *io, rumor_stream *s) {
  (void)io;
  (void)s;
}

static void uvio_shutdown(rumor_io *io) {
  io_uv *u = (io_uv *)io;
  for (int i = 0; i < RUMOR_TIMER_COUNT; i++) uv_timer_stop(&u->timers[i]);
  if (u->udp_open) uv_udp_recv_stop(&u->udp);
}

static void on_closed(uv_handle_t *h) {
  io_uv *u = h->data;
  if (--u->closing > 0) return;
  if (u->done) u->done(&u->base);
  free(u);
}

static void uvio_destroy(rumor_io *io, void (*done)(rumor_io *io)) {
  io_uv *u = (io_uv *)io;
  u->done = done;
  u->closing = RUMOR_TIMER_COUNT;
  for (int i = 0; i < RUMOR_TIMER_COUNT; i++) {
    uv_timer_stop(&u->timers[i]);
    uv_close((uv_handle_t *)&u->timers[i], on_closed);
  }
  if (u->udp_inited) {
    u->closing++;
    u->udp_open = u->udp_inited = 0;
    uv_close((uv_handle_t *)&u->udp, on_closed);
  }
}

static const rumor_io_ops uv_ops = {
  uvio_now, uvio_wall_us, uvio_seed, uvio_open, uvio_send, uvio_arm,
  uvio_stream_open, uvio_stream_write, uvio_stream_close, uvio_shutdown, uvio_destroy,
};

rumor_io *rumor__io_uv_new(void *loop, rumor_node_t *node) {
  io_uv *u = calloc(1, sizeof(*u));
  if (u == NULL) return NULL;
  u->base.ops = &uv_ops;
  u->base.node = node;
  u->loop = loop;
  for (int i = 0; i < RUMOR_TIMER_COUNT; i++) {
    uv_timer_init(loop, &u->timers[i]); /* cannot fail: it only fills the handle */
    u->timers[i].data = u;
  }
  return &u->base;
}

/* io_uv.c: the libuv implementation of the I/O seam (io.h): the loop's
 * clock, the OS's randomness, a UDP socket, a TCP listener on the same port
 * number for inbound frame streams, outgoing frame streams, and one timer
 * per node timer slot.
 *
 * Lifetimes. Every libuv handle the io creates is counted in nhandles from
 * its init to its close callback. destroy() closes all of them; the io is
 * freed, and done() called, when the count reaches zero, so no libuv
 * callback can ever reach freed memory. shutdown() closes the UDP socket
 * and the listener (both ports are free again at once, so a node can be
 * restarted on them), closes inbound connections, aborts outgoing streams
 * and sets `shut`: from then on nothing calls into the node.
 *
 * Outgoing streams (struct rumor_stream): a TCP handle and a timer.
 *   - stream_open starts the connect and the timer (limits.timeout_ms).
 *   - stream_write queues a frame; it goes to uv_write once connected (the
 *     length prefix and the frame as two buffers, nothing copied). While a
 *     write is outstanding the timer runs, restarted at each completion.
 *   - Each frame gets exactly one rumor__node_stream_done: 0 from its
 *     write callback, or the stream's error. The first error (connect,
 *     write, the peer closing, the timer) kills the stream: every frame not
 *     yet reported gets that error, and later writes get it from the loop.
 *     The handles stay until stream_close, so the node never holds a freed
 *     stream.
 *   - stream_close (`released`) silences the stream. A live stream is shut
 *     down after its queued frames are flushed (the timer bounds that too);
 *     a dead or idle-connecting one is closed at once. Memory goes when
 *     both handles are closed.
 *   - The peer never writes on a stream; we read only to notice it closing.
 *
 * Inbound connections (struct conn): accepted up to limits.max_inbound
 * open at once (more are accepted and closed at once, which frees the
 * backlog, and reported to the node), read through a frame reader
 * (frame.h), closed on a bad frame, at EOF, when no byte came for
 * limits.timeout_ms (a peer that connects and sends nothing, or part of a
 * length prefix, holds its place no longer; nor does one trickling bytes:
 * only a whole frame or MIN_PROGRESS bytes count), or once its frames carried
 * limits.max_stream_bytes (reported to the node).
 *
 * Reads of every socket land in one buffer of the io: a read callback
 * consumes its bytes before returning (the frame reader copies what it
 * keeps), and libuv runs one callback at a time. */
#include "io.h"
#include "addr.h"
#include "frame.h"
#include <stdlib.h>
#include <string.h>

/* Big enough for any UDP datagram, so nothing is truncated on receipt: the
 * node drops what is over its max_datagram_size (at most 65507, UDP's
 * largest payload) by its length, not this buffer. Also the most one TCP
 * read takes at once. */
#define RECV_BUFFER_SIZE 65536

/* Ephemeral ports tried when the TCP side of the one UDP got is taken.
 * A collision needs another socket on that very port, so one retry almost
 * always suffices; 16 in a row means the host is out of ports, and the
 * error is better reported than retried forever. */
#define BIND_ATTEMPTS 16

/* The UDP socket's kernel receive buffer we ask for: a burst (a flood the
 * receive budget is dropping, many answers at once) must not overflow the
 * kernel's queue before the loop reads it and honest datagrams with it.
 * 4 MiB is about 3000 full datagrams of the default mtu. Linux caps it at
 * net.core.rmem_max (without privileges); a smaller buffer still works. */
#define UDP_RECV_BUFFER (4 * 1024 * 1024)

/* listen() backlog: connections the kernel holds until accepted. Accepting
 * is cheap (ones over max_inbound are closed at once), so this only absorbs
 * bursts; 128 is the traditional SOMAXCONN. */
#define LISTEN_BACKLOG 128

typedef struct conn conn;
typedef struct out_frame out_frame;

typedef struct io_uv {
  rumor_io base;
  uv_loop_t *loop;
  uv_timer_t timers[RUMOR_TIMER_COUNT];
  uv_udp_t *udp;          /* bound socket, or NULL (heap: freed by its close callback) */
  uv_tcp_t *listener;     /* likewise */
  rumor_io_limits limits; /* copied at open */
  int opened;             /* open succeeded */
  int shut;               /* shutdown (or destroy) ran: no calls into the node */
  int destroying;
  conn *conns;            /* inbound connections until freed */
  rumor_stream *streams;  /* outgoing streams until freed */
  uint32_t ninbound;      /* inbound connections open (accepted, not closing) */
  size_t nhandles;        /* handles initialised and not yet closed */
  void (*done)(rumor_io *io);
  char recvbuf[RECV_BUFFER_SIZE];
} io_uv;

/* One queued frame of an outgoing stream. Owned by the stream's list until
 * submitted to uv_write; then freed by the write callback. */
struct out_frame {
  uv_write_t req;
  out_frame *next;
  rumor_stream *s;
  uint8_t *frame; /* the node's frame, owned from stream_write on */
  size_t len;
  uint8_t hdr[RUMOR_FRAME_HEADER];
  int submitted;  /* handed to uv_write */
  int reported;   /* its stream_done went out, or is not wanted any more */
};

struct rumor_stream {
  io_uv *io;
  rumor_stream *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;       /* connect, write and close deadlines; 0-delay error reports */
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  out_frame *head;        /* frames not yet completed, oldest first */
  int nopen;              /* of tcp and timer, handles not yet closed */
  int error;              /* the first failure: the stream is dead */
  int connected, released, closing, shutting;
};

/* Bytes an inbound connection must bring per timeout_ms, short of whole
 * frames, to keep its place. Honest writers send whole frames (up to 64
 * KiB per write), so any read after a stall carries far more; 1 KiB per
 * timeout is no peer making progress. */
#define MIN_PROGRESS 1024

struct conn {
  io_uv *io;
  conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t idle;
  rumor_frame_reader reader;
  struct sockaddr_storage peer;
  uint64_t carried;       /* payload bytes of the frames delivered */
  size_t progress;        /* bytes read since the idle timer was last re-armed */
  int framed;             /* a frame completed since then */
  int nopen;              /* handles not yet closed */
  int counted;            /* holds one of the max_inbound places */
  int closing;
};

/* ---- lifetimes ------------------------------------------------------ */

static void io_release(io_uv *u) {
  if (--u->nhandles > 0 || !u->destroying) return;
  if (u->done) u->done(&u->base);
  free(u);
}

static void on_timer_closed(uv_handle_t *h) { io_release(h->data); }

static void on_heap_closed(uv_handle_t *h) {
  io_uv *u = h->data;
  free(h);
  io_release(u);
}

static void alloc_shared(io_uv *u, uv_buf_t *buf) {
  buf->base = u->recvbuf;
  buf->len = sizeof(u->recvbuf);
}

/* ---- clock and randomness ------------------------------------------- */

static uint64_t uvio_now(rumor_io *io) { return uv_now(((io_uv *)io)->loop); }

static uint64_t uvio_wall_us(rumor_io *io) {
  uv_timeval64_t tv;
  (void)io;
  if (uv_gettimeofday(&tv) != 0) return 1;
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static uint64_t uvio_seed(rumor_io *io) {
  uint64_t seed = 0;
  if (uv_random(NULL, NULL, &seed, sizeof(seed), 0, NULL) != 0)
    seed = uv_hrtime() ^ (uint64_t)(uintptr_t)io; /* no entropy source: still varies per node */
  return seed;
}

/* ---- timers --------------------------------------------------------- */

static void on_timer(uv_timer_t *t) {
  io_uv *u = t->data;
  if (!u->shut) rumor__node_timer(u->base.node, (int)(t - u->timers));
}

static void uvio_arm(rumor_io *io, int timer, uint64_t delay_ms) {
  io_uv *u = (io_uv *)io;
  if (timer < 0 || timer >= RUMOR_TIMER_COUNT || u->shut) return;
  uv_timer_start(&u->timers[timer], on_timer, delay_ms, 0);
}

/* ---- UDP ------------------------------------------------------------ */

/* A datagram the socket could not take at once, queued with its own copy. */
typedef struct pending_send {
  uv_udp_send_t req;
  uint8_t data[];
} pending_send;

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  alloc_shared(h->data, buf);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  io_uv *u = h->data;
  struct sockaddr_storage from;
  (void)buf;
  if (nread <= 0 || addr == NULL || u->shut) return; /* nothing, or an error we cannot act on */
  if (flags & UV_UDP_PARTIAL) return;                 /* cannot happen with our buffer size */
  memset(&from, 0, sizeof(from));
  memcpy(&from, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
  rumor__node_recv(u->base.node, &from, (const uint8_t *)u->recvbuf, (size_t)nread);
}

static void on_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req->data);
}

static int uvio_send(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf,
                     size_t len) {
  io_uv *u = (io_uv *)io;
  if (u->udp == NULL || u->shut) return UV_EBADF;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  int rc = uv_udp_try_send(u->udp, &b, 1, (const struct sockaddr *)to);
  if (rc >= 0) return 0;
  if (rc != UV_EAGAIN) return rc;
  /* The socket buffer is full: queue a copy rather than lose the datagram. */
  pending_send *p = malloc(sizeof(*p) + len);
  if (p == NULL) return UV_ENOMEM;
  memcpy(p->data, buf, len);
  p->req.data = p;
  b = uv_buf_init((char *)p->data, (unsigned)len);
  rc = uv_udp_send(&p->req, u->udp, &b, 1, (const struct sockaddr *)to, on_sent);
  if (rc != 0) free(p);
  return rc;
}

/* ---- inbound connections -------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  io_uv *u = c->io;
  if (--c->nopen == 0) {
    rumor__frame_reader_free(&c->reader);
    if (c->prev) c->prev->next = c->next;
    else u->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
  }
  io_release(u);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->counted) c->io->ninbound--;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->idle, on_conn_closed);
}

static void on_conn_idle(uv_timer_t *t) { conn_close(t->data); }

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  alloc_shared(((conn *)h->data)->io, buf);
}

static int on_conn_frame(void *arg, const uint8_t *payload, size_t len) {
  conn *c = arg;
  io_uv *u = c->io;
  if (c->closing || u->shut) return 1;
  rumor__node_recv_frame(u->base.node, &c->peer, payload, len);
  if (c->closing || u->shut) return 1; /* the node may have stopped meanwhile */
  c->framed = 1;
  c->carried += len;
  if (u->limits.max_stream_bytes == 0 || c->carried < u->limits.max_stream_bytes) return 0;
  /* Enough for one connection: the peer may go on on a new one. */
  rumor__node_inbound_closed(u->base.node, RUMOR_INBOUND_LONG);
  conn_close(c);
  return 1;
}

static void on_conn_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  conn *c = h->data;
  if (nread < 0) { /* EOF or an error; a partial frame is dropped */
    conn_close(c);
    return;
  }
  if (nread == 0 || c->closing) return;
  if (rumor__frame_reader_feed(&c->reader, (const uint8_t *)buf->base, (size_t)nread,
                               on_conn_frame, c) < 0) {
    conn_close(c); /* a length of 0 or over max_frame: the peer is broken or hostile */
    return;
  }
  if (c->closing) return;
  /* Only progress keeps the place: a whole frame, or MIN_PROGRESS bytes. A
   * peer trickling a byte now and then (slowloris) times out as if idle. */
  c->progress += (size_t)nread;
  if (c->framed || c->progress >= MIN_PROGRESS) {
    c->framed = 0;
    c->progress = 0;
    uv_timer_start(&c->idle, on_conn_idle, c->io->limits.timeout_ms, 0);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  io_uv *u = server->data;
  if (status < 0 || u->shut) return;
  /* Out of memory: the connection stays in the backlog (libuv pauses the
   * listener until it is accepted); nothing better to do without memory. */
  conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return;
  c->io = u;
  if (uv_tcp_init(u->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  uv_timer_init(u->loop, &c->idle); /* cannot fail: it only fills the handle */
  c->tcp.data = c->idle.data = c;
  c->nopen = 2;
  u->nhandles += 2;
  c->next = u->conns;
  if (u->conns) u->conns->prev = c;
  u->conns = c;
  rumor__frame_reader_init(&c->reader, u->limits.max_frame);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  if (u->ninbound >= u->limits.max_inbound) {
    conn_close(c); /* refused: accepted only to be closed */
    rumor__node_inbound_closed(u->base.node, RUMOR_INBOUND_FULL);
    return;
  }
  c->counted = 1;
  u->ninbound++;
  int len = (int)sizeof(c->peer);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->idle, on_conn_idle, u->limits.timeout_ms, 0);
}

/* ---- outgoing streams ----------------------------------------------- */

static void on_stream_timer(uv_timer_t *t);
static void on_written(uv_write_t *req, int status);

static int stream_quiet(const rumor_stream *s) { return s->released || s->io->shut; }

static void stream_free(rumor_stream *s) {
  io_uv *u = s->io;
  while (s->head) { /* only frames never submitted are left */
    out_frame *f = s->head;
    s->head = f->next;
    free(f->frame);
    free(f);
  }
  if (s->prev) s->prev->next = s->next;
  else u->streams = s->next;
  if (s->next) s->next->prev = s->prev;
  free(s);
}

static void on_stream_closed(uv_handle_t *h) {
  rumor_stream *s = h->data;
  io_uv *u = s->io;
  /* Not yet released: shutdown aborted it, stream_close or destroy frees it. */
  if (--s->nopen == 0 && s->released) stream_free(s);
  io_release(u);
}

/* Closes both handles at once, whatever is pending; quiet by then. */
static void stream_abort(rumor_stream *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_close((uv_handle_t *)&s->tcp, on_stream_closed);
  uv_close((uv_handle_t *)&s->timer, on_stream_closed);
}

/* Gives the stream's error to every frame not yet reported. A frame never
 * submitted is freed here; a submitted one is freed by its write callback. */
static void stream_report(rumor_stream *s) {
  out_frame **p = &s->head;
  while (*p != NULL) {
    out_frame *f = *p;
    if (f->reported) {
      p = &f->next;
      continue;
    }
    f->reported = 1;
    if (!f->submitted) {
      *p = f->next;
      free(f->frame);
      free(f);
    }
    if (!stream_quiet(s)) rumor__node_stream_done(s->io->base.node, s, s->error);
  }
}

static void stream_mark_dead(rumor_stream *s, int status) {
  if (s->error != 0) return;
  s->error = status;
  if (!s->closing) {
    uv_timer_stop(&s->timer);
    if (s->connected) uv_read_stop((uv_stream_t *)&s->tcp);
  }
}

/* A failure seen in a callback: report it now. */
static void stream_fail(rumor_stream *s, int status) {
  stream_mark_dead(s, status);
  stream_report(s);
  if (s->released) stream_abort(s);
}

/* A failure seen inside a call from the node: report it from the loop, so
 * stream_done never runs inside stream_write. */
static void stream_fail_later(rumor_stream *s, int status) {
  stream_mark_dead(s, status);
  if (!s->closing) uv_timer_start(&s->timer, on_stream_timer, 0, 0);
}

static void stream_submit(rumor_stream *s, out_frame *f) {
  uv_buf_t bufs[2] = {uv_buf_init((char *)f->hdr, RUMOR_FRAME_HEADER),
                      uv_buf_init((char *)f->frame, (unsigned)f->len)};
  int rc = uv_write(&f->req, (uv_stream_t *)&s->tcp, bufs, 2, on_written);
  if (rc == 0) f->submitted = 1;
  else stream_fail_later(s, rc);
}

static void on_stream_shutdown(uv_shutdown_t *req, int status) {
  (void)status; /* flushed or not, the stream is over */
  stream_abort(req->data);
}

/* The graceful end of a released, connected stream: FIN after the queued
 * frames, within one more timeout. */
static void stream_finish(rumor_stream *s) {
  if (s->shutting || s->closing) return;
  s->shutdown_req.data = s;
  if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_stream_shutdown) != 0) {
    stream_abort(s);
    return;
  }
  s->shutting = 1;
  uv_timer_start(&s->timer, on_stream_timer, s->io->limits.timeout_ms, 0);
}

static void on_stream_timer(uv_timer_t *t) {
  rumor_stream *s = t->data;
  if (s->released) stream_abort(s);        /* a close that did not finish in time */
  else if (s->error) stream_report(s);     /* a failure noticed inside a call */
  else stream_fail(s, UV_ETIMEDOUT);       /* connect or write too slow */
}

static void on_written(uv_write_t *req, int status) {
  out_frame *f = req->data;
  rumor_stream *s = f->s;
  if (status < 0 && !s->closing) stream_fail(s, status); /* reports f with the rest */
  for (out_frame **p = &s->head; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      break;
    }
  int tell = status == 0 && !f->reported && !stream_quiet(s);
  free(f->frame);
  free(f);
  if (tell) rumor__node_stream_done(s->io->base.node, s, 0);
  /* The node may have written again or closed the stream meanwhile. */
  if (s->closing || s->released || s->error) return; /* a close keeps its own deadline */
  if (s->head) uv_timer_start(&s->timer, on_stream_timer, s->io->limits.timeout_ms, 0);
  else uv_timer_stop(&s->timer);
}

static void on_stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  alloc_shared(((rumor_stream *)h->data)->io, buf);
}

static void on_stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  rumor_stream *s = h->data;
  (void)buf;
  if (nread >= 0) return; /* a peer has nothing to say on our stream; ignored */
  uv_read_stop(h);
  if (s->released) stream_abort(s);
  else stream_fail(s, nread == UV_EOF ? UV_ECONNRESET : (int)nread); /* the peer hung up */
}

static void on_connected(uv_connect_t *req, int status) {
  rumor_stream *s = req->data;
  if (s->closing || s->error) return; /* aborted, or timed out before */
  if (status < 0) {
    stream_fail(s, status);
    return;
  }
  s->connected = 1;
  /* Frames go out whole in one writev; Nagle could only delay their tail. */
  uv_tcp_nodelay(&s->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_stream_alloc, on_stream_read);
  if (rc != 0) {
    stream_fail(s, rc);
    return;
  }
  for (out_frame *f = s->head; f != NULL && s->error == 0; f = f->next) stream_submit(s, f);
  if (s->error) return;
  if (s->released) stream_finish(s);
  else if (s->head) uv_timer_start(&s->timer, on_stream_timer, s->io->limits.timeout_ms, 0);
  else uv_timer_stop(&s->timer);
}

static rumor_stream *uvio_stream_open(rumor_io *io, const struct sockaddr_storage *to) {
  io_uv *u = (io_uv *)io;
  if (!u->opened || u->shut || to == NULL) return NULL;
  rumor_stream *s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->io = u;
  if (uv_tcp_init(u->loop, &s->tcp) != 0) {
    free(s);
    return NULL;
  }
  uv_timer_init(u->loop, &s->timer); /* cannot fail: it only fills the handle */
  s->tcp.data = s->timer.data = s->connect_req.data = s;
  s->nopen = 2;
  u->nhandles += 2;
  s->next = u->streams;
  if (u->streams) u->streams->prev = s;
  u->streams = s;
  if (uv_tcp_connect(&s->connect_req, &s->tcp, (const struct sockaddr *)to, on_connected) != 0) {
    s->released = 1; /* the node never sees it */
    stream_abort(s);
    return NULL;
  }
  uv_timer_start(&s->timer, on_stream_timer, u->limits.timeout_ms, 0);
  return s;
}

static int uvio_stream_write(rumor_io *io, rumor_stream *s, uint8_t *frame, size_t len) {
  io_uv *u = (io_uv *)io;
  if (s == NULL || frame == NULL || len == 0 || len > UINT32_MAX) {
    free(frame);
    return UV_EINVAL;
  }
  if (u->shut || s->released) {
    free(frame);
    return UV_ECANCELED;
  }
  out_frame *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    free(frame);
    return UV_ENOMEM;
  }
  f->s = s;
  f->frame = frame;
  f->len = len;
  f->req.data = f;
  rumor__frame_put_header(f->hdr, len);
  out_frame **tail = &s->head;
  while (*tail) tail = &(*tail)->next;
  *tail = f;
  if (s->error) {
    stream_fail_later(s, s->error); /* dead already: its report comes from the loop */
  } else if (s->connected) {
    stream_submit(s, f);
    if (s->error == 0 && s->head == f)
      uv_timer_start(&s->timer, on_stream_timer, u->limits.timeout_ms, 0);
  } /* else connecting: on_connected submits it */
  return 0;
}

static void uvio_stream_close(rumor_io *io, rumor_stream *s) {
  (void)io;
  if (s == NULL || s->released) return;
  s->released = 1;
  if (s->closing) { /* aborted by shutdown */
    if (s->nopen == 0) stream_free(s);
    return;
  }
  if (s->error || (!s->connected && s->head == NULL)) stream_abort(s); /* nothing to flush */
  else if (s->connected) stream_finish(s);
  /* else still connecting with frames queued: on_connected flushes them,
   * and the connect deadline still runs. */
}

/* ---- open, shutdown, destroy ---------------------------------------- */

/* Binds a UDP socket and a TCP listener on the same address and port. On
 * failure both are closed again (asynchronously) and the error returned. */
static int bind_pair(io_uv *u, const struct sockaddr_storage *bind,
                     struct sockaddr_storage *bound) {
  uv_udp_t *udp = malloc(sizeof(*udp));
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  int rc = UV_ENOMEM, len = (int)sizeof(*bound);
  if (udp == NULL || tcp == NULL || (rc = uv_udp_init(u->loop, udp)) != 0) {
    free(udp);
    free(tcp);
    return rc;
  }
  udp->data = u;
  u->nhandles++;
  if ((rc = uv_tcp_init(u->loop, tcp)) != 0) {
    free(tcp);
    uv_close((uv_handle_t *)udp, on_heap_closed);
    return rc;
  }
  tcp->data = u;
  u->nhandles++;
  /* libuv reports a TCP bind's EADDRINUSE from bind or from listen. */
  if ((rc = uv_udp_bind(udp, (const struct sockaddr *)bind, 0)) != 0 ||
      (rc = uv_udp_getsockname(udp, (struct sockaddr *)bound, &len)) != 0 ||
      (rc = uv_tcp_bind(tcp, (const struct sockaddr *)bound, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)tcp, LISTEN_BACKLOG, on_connection)) != 0) {
    uv_close((uv_handle_t *)udp, on_heap_closed);
    uv_close((uv_handle_t *)tcp, on_heap_closed);
    return rc;
  }
  u->udp = udp;
  u->listener = tcp;
  return 0;
}

static int uvio_open(rumor_io *io, const struct sockaddr_storage *bind,
                     struct sockaddr_storage *bound, const rumor_io_limits *limits) {
  io_uv *u = (io_uv *)io;
  int rc;
  if (limits == NULL || limits->max_frame == 0 || limits->timeout_ms == 0) return UV_EINVAL;
  if (u->opened || u->shut) return UV_EALREADY;
  u->limits = *limits;
  if (u->limits.max_frame > UINT32_MAX) u->limits.max_frame = UINT32_MAX; /* the prefix's range */
  int ephemeral = rumor__addr_port(bind) == 0;
  for (int attempt = 1;; attempt++) {
    rc = bind_pair(u, bind, bound);
    if (rc != UV_EADDRINUSE || !ephemeral || attempt == BIND_ATTEMPTS) break;
  }
  if (rc != 0) return rc;
  int rcvbuf = UDP_RECV_BUFFER;
  (void)uv_recv_buffer_size((uv_handle_t *)u->udp, &rcvbuf); /* best effort */
  if ((rc = uv_udp_recv_start(u->udp, on_udp_alloc, on_udp_recv)) != 0) {
    uv_close((uv_handle_t *)u->udp, on_heap_closed);
    uv_close((uv_handle_t *)u->listener, on_heap_closed);
    u->udp = NULL;
    u->listener = NULL;
    return rc;
  }
  u->opened = 1;
  return 0;
}

static void uvio_shutdown(rumor_io *io) {
  io_uv *u = (io_uv *)io;
  if (u->shut) return;
  u->shut = 1;
  for (int i = 0; i < RUMOR_TIMER_COUNT; i++) uv_timer_stop(&u->timers[i]);
  if (u->udp) uv_close((uv_handle_t *)u->udp, on_heap_closed); /* queued sends are dropped */
  if (u->listener) uv_close((uv_handle_t *)u->listener, on_heap_closed);
  u->udp = NULL;
  u->listener = NULL;
  for (conn *c = u->conns; c; c = c->next) conn_close(c);
  for (rumor_stream *s = u->streams; s; s = s->next) stream_abort(s);
}

static void uvio_destroy(rumor_io *io, void (*done)(rumor_io *io)) {
  io_uv *u = (io_uv *)io;
  if (u->destroying) return;
  uvio_shutdown(io);
  u->done = done;
  u->destroying = 1;
  /* Streams the node did not close are released now; those whose handles
   * are already closed go at once, the others from their close callbacks. */
  for (rumor_stream *s = u->streams, *next; s; s = next) {
    next = s->next;
    s->released = 1;
    if (s->nopen == 0) stream_free(s);
  }
  /* The timers are always open until here, so nhandles > 0 and the io is
   * freed from a close callback, never inside this call. */
  for (int i = 0; i < RUMOR_TIMER_COUNT; i++)
    uv_close((uv_handle_t *)&u->timers[i], on_timer_closed);
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
  u->nhandles = RUMOR_TIMER_COUNT;
  return &u->base;
}

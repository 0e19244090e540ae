/* sim.c: the simulated world of sim.h. Events wait in a binary heap
 * ordered by (time, sequence number), so ties run in the order they were
 * made and a run never depends on the heap's layout. A node's timers are
 * lazily cancelled: re-arming bumps a per-timer version, and an event of
 * an older version is skipped when it comes up. */
#include "sim.h"

#include "io.h"
#include "mix.h"
#include "rng.h"
#include "share.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Virtual time starts here, not at 0: the engine treats some loop times
 * below its periods as "not yet" (a purge before the grace period). */
#define SIM_EPOCH_MS 1000
/* The wall clock of virtual time 0: a fixed date, so generations (wall
 * microseconds at creation) are the same in every run. */
#define SIM_WALL_US 1700000000000000ull
#define SIM_PORT 7946

enum { EV_TIMER, EV_DATAGRAM, EV_FRAME, EV_DONE };

struct rumor_stream {
  int from, to;
  int closed;       /* by its node: no more callbacks */
  size_t pending;   /* frames not yet delivered */
  uint64_t last_at; /* delivery time of the last frame written (in order) */
};

typedef struct sim_event {
  uint64_t at, seq;
  int kind;
  int from, to;          /* node indices; to -1: no such node */
  int timer;             /* EV_TIMER */
  uint64_t version;      /* EV_TIMER: valid while the timer has this version */
  uint8_t *data;         /* EV_DATAGRAM, EV_FRAME (owned) */
  size_t len;
  struct rumor_stream *stream; /* EV_FRAME, EV_DONE */
} sim_event;

typedef struct sim_io {
  rumor_io base;
  rumor_sim *sim;
  int index;
  int open;
  uint64_t seed;
  uint64_t version[RUMOR_TIMER_COUNT];
} sim_io;

struct rumor_sim {
  rumor_sim_config cfg;
  rumor_rng rng;
  uint64_t now, seq, trace;
  sim_event *heap;
  size_t nheap, heap_cap;
  rumor_node_t **nodes;
  sim_io **ios;
  size_t n, cap;
  int *side;       /* per node while partitioned, else NULL */
  size_t nside;
  rumor_sim_stats stats;
  rumor_share *share; /* rumor__sim_converge's, freed after the nodes */
};

/* ---- the heap ------------------------------------------------------------- */

static int earlier(const sim_event *a, const sim_event *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int push(rumor_sim *s, sim_event ev) {
  if (s->nheap == s->heap_cap) {
    size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
    sim_event *h = realloc(s->heap, cap * sizeof *h);
    if (h == NULL) return RUMOR_ENOMEM;
    s->heap = h;
    s->heap_cap = cap;
  }
  ev.seq = s->seq++;
  size_t i = s->nheap++;
  while (i > 0 && earlier(&ev, &s->heap[(i - 1) / 2])) {
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = ev;
  return 0;
}

static sim_event pop(rumor_sim *s) {
  sim_event top = s->heap[0], last = s->heap[--s->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap) break;
    if (c + 1 < s->nheap && earlier(&s->heap[c + 1], &s->heap[c])) c++;
    if (!earlier(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->nheap > 0) s->heap[i] = last;
  return top;
}

/* ---- the io of a simulated node ----------------------------------------------- */

static int index_of(const rumor_sim *s, const struct sockaddr_storage *ss) {
  const struct sockaddr_in *a = (const void *)ss;
  if (ss->ss_family != AF_INET || ntohs(a->sin_port) != SIM_PORT) return -1;
  uint32_t ip = ntohl(a->sin_addr.s_addr);
  if ((ip >> 24) != 10 || (ip & 0xffffffu) == 0) return -1;
  size_t i = (ip & 0xffffffu) - 1;
  return i < s->n ? (int)i : -1;
}

static void addr_of(size_t i, struct sockaddr_storage *ss) {
  struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;
  memset(ss, 0, sizeof *ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(SIM_PORT);
  a->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)(i + 1));
}

static uint64_t sio_now(rumor_io *io) { return ((sim_io *)io)->sim->now; }
static uint64_t sio_wall(rumor_io *io) { return SIM_WALL_US + ((sim_io *)io)->sim->now * 1000; }
static uint64_t sio_seed(rumor_io *io) {
  sim_io *f = (sim_io *)io;
  f->seed = rumor__mix64(f->seed + 0x9e3779b97f4a7c15ULL); /* a new draw each call */
  return f->seed;
}

static int sio_open(rumor_io *io, const struct sockaddr_storage *bind, struct sockaddr_storage *bound,
                    const rumor_io_limits *limits) {
  sim_io *f = (sim_io *)io;
  (void)bind;
  (void)limits;
  addr_of((size_t)f->index, bound);
  f->open = 1;
  return 0;
}

static int draw(rumor_sim *s, double p) {
  return p > 0 && (double)(rumor__rng_next(&s->rng) >> 11) * 0x1p-53 < p;
}

static uint64_t latency(rumor_sim *s) {
  uint64_t lo = s->cfg.latency_min_ms, hi = s->cfg.latency_max_ms;
  return lo + (hi > lo ? rumor__rng_below(&s->rng, hi - lo + 1) : 0);
}

static int sio_send(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf, size_t len) {
  sim_io *f = (sim_io *)io;
  rumor_sim *s = f->sim;
  s->stats.datagrams++;
  s->stats.bytes += len;
  if (draw(s, s->cfg.loss)) {
    s->stats.lost++;
    return 0;
  }
  int copies = draw(s, s->cfg.duplicate) ? 2 : 1;
  if (copies == 2) s->stats.duplicated++;
  for (int c = 0; c < copies; c++) {
    sim_event ev = {0};
    ev.kind = EV_DATAGRAM;
    ev.at = s->now + latency(s);
    ev.from = f->index;
    ev.to = index_of(s, to);
    ev.len = len;
    if ((ev.data = malloc(len ? len : 1)) == NULL) return RUMOR_ENOMEM;
    memcpy(ev.data, buf, len);
    if (push(s, ev) != 0) {
      free(ev.data);
      return RUMOR_ENOMEM;
    }
  }
  return 0;
}

static void sio_arm(rumor_io *io, int timer, uint64_t delay) {
  sim_io *f = (sim_io *)io;
  sim_event ev = {0};
  ev.kind = EV_TIMER;
  ev.at = f->sim->now + delay;
  ev.from = ev.to = f->index;
  ev.timer = timer;
  ev.version = ++f->version[timer];
  push(f->sim, ev); /* out of memory: the timer is lost, as the world is then */
}

static rumor_stream *sio_stream_open(rumor_io *io, const struct sockaddr_storage *to) {
  sim_io *f = (sim_io *)io;
  rumor_stream *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->from = f->index;
  st->to = index_of(f->sim, to);
  return st;
}

static void stream_release(rumor_stream *st) {
  if (st->closed && st->pending == 0) free(st);
}

static int sio_stream_write(rumor_io *io, rumor_stream *st, uint8_t *frame, size_t len) {
  sim_io *f = (sim_io *)io;
  rumor_sim *s = f->sim;
  sim_event ev = {0};
  ev.kind = EV_FRAME;
  ev.at = s->now + latency(s);
  if (ev.at < st->last_at) ev.at = st->last_at; /* in order */
  st->last_at = ev.at;
  ev.from = f->index;
  ev.to = st->to;
  ev.data = frame;
  ev.len = len;
  ev.stream = st;
  if (push(s, ev) != 0) {
    free(frame);
    return RUMOR_ENOMEM;
  }
  st->pending++;
  s->stats.frames++;
  s->stats.frame_bytes += len;
  return 0;
}

static void sio_stream_close(rumor_io *io, rumor_stream *st) {
  (void)io;
  st->closed = 1;
  stream_release(st);
}

static void sio_shutdown(rumor_io *io) {
  sim_io *f = (sim_io *)io;
  f->open = 0;
  for (int t = 0; t < RUMOR_TIMER_COUNT; t++) f->version[t]++; /* cancels what is queued */
}

static void sio_destroy(rumor_io *io, void (*done)(rumor_io *)) {
  sim_io *f = (sim_io *)io;
  if (f->index >= 0 && (size_t)f->index < f->sim->n) {
    f->sim->ios[f->index] = NULL;
    f->sim->nodes[f->index] = NULL;
  }
  if (done) done(io);
  free(f);
}

static const rumor_io_ops sim_ops = {sio_now,          sio_wall,         sio_seed,
                                     sio_open,         sio_send,         sio_arm,
                                     sio_stream_open,  sio_stream_write, sio_stream_close,
                                     sio_shutdown,     sio_destroy};

static rumor_io *sim_io_new(void *arg, rumor_node_t *node) {
  rumor_sim *s = arg;
  sim_io *f = calloc(1, sizeof *f);
  if (f == NULL) return NULL;
  f->base.ops = &sim_ops;
  f->base.node = node;
  f->sim = s;
  f->index = (int)s->n;
  f->seed = rumor__rng_next(&s->rng);
  s->ios[s->n] = f;
  return &f->base;
}

/* ---- the world ----------------------------------------------------------------- */

int rumor__sim_new(const rumor_sim_config *cfg, rumor_sim **out) {
  if (cfg == NULL || out == NULL || cfg->latency_min_ms > cfg->latency_max_ms ||
      !(cfg->loss >= 0 && cfg->loss <= 1) || !(cfg->duplicate >= 0 && cfg->duplicate <= 1))
    return RUMOR_EINVAL;
  rumor_sim *s = calloc(1, sizeof *s);
  if (s == NULL) return RUMOR_ENOMEM;
  s->cfg = *cfg;
  rumor__rng_seed(&s->rng, cfg->seed);
  s->now = SIM_EPOCH_MS;
  s->trace = 0xcbf29ce484222325ULL;
  *out = s;
  return 0;
}

void rumor__sim_free(rumor_sim *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->n; i++)
    if (s->nodes[i] != NULL) rumor_node_close(s->nodes[i], NULL, NULL);
  /* What is still queued: closing may have queued more (none is run). */
  for (size_t i = 0; i < s->nheap; i++) {
    sim_event *ev = &s->heap[i];
    free(ev->data);
    if (ev->kind == EV_FRAME && ev->stream != NULL) {
      ev->stream->pending--;
      ev->stream->closed = 1;
      stream_release(ev->stream);
    }
  }
  free(s->heap);
  rumor__share_free(s->share); /* every node listing its records is gone */
  free(s->nodes);
  free(s->ios);
  free(s->side);
  free(s);
}

int rumor__sim_add(rumor_sim *s, const rumor_config_t *cfg, rumor_node_t **out,
                   rumor_error_t *err) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    rumor_node_t **nodes = realloc(s->nodes, cap * sizeof *nodes);
    if (nodes == NULL) return RUMOR_ENOMEM;
    s->nodes = nodes;
    sim_io **ios = realloc(s->ios, cap * sizeof *ios);
    if (ios == NULL) return RUMOR_ENOMEM;
    s->ios = ios;
    s->cap = cap;
  }
  if (s->n >= 0xfffffeu) return RUMOR_EINVAL; /* 10.0.0.0/8 holds this many */
  rumor_config_t c = *cfg;
  c.bind = "127.0.0.1:0"; /* checked, then replaced by the simulated address */
  s->nodes[s->n] = NULL;
  s->ios[s->n] = NULL;
  rumor_node_t *node = NULL;
  int rc = rumor__node_create(NULL, &c, sim_io_new, s, &node, err);
  if (rc != 0) {
    s->ios[s->n] = NULL;
    return rc;
  }
  s->nodes[s->n++] = node;
  *out = node;
  return 0;
}

size_t rumor__sim_count(const rumor_sim *s) { return s->n; }
rumor_node_t *rumor__sim_node(const rumor_sim *s, size_t i) { return i < s->n ? s->nodes[i] : NULL; }
uint64_t rumor__sim_now(const rumor_sim *s) { return s->now; }
uint64_t rumor__sim_trace(const rumor_sim *s) { return s->trace; }
const rumor_sim_stats *rumor__sim_stats(const rumor_sim *s) { return &s->stats; }

void rumor__sim_address(size_t i, char *buf, size_t size) {
  struct sockaddr_storage ss;
  addr_of(i, &ss);
  rumor_addr_format((const struct sockaddr *)&ss, buf, size);
}

void rumor__sim_set_loss(rumor_sim *s, double loss) {
  if (loss >= 0 && loss <= 1) s->cfg.loss = loss;
}

int rumor__sim_partition(rumor_sim *s, const int *side, size_t n) {
  free(s->side);
  s->side = NULL;
  s->nside = 0;
  if (side == NULL) return 0;
  if ((s->side = malloc((n ? n : 1) * sizeof *s->side)) == NULL) return RUMOR_ENOMEM;
  memcpy(s->side, side, n * sizeof *side);
  s->nside = n;
  return 0;
}

static int side_of(const rumor_sim *s, int i) {
  return i >= 0 && (size_t)i < s->nside ? s->side[i] : 0;
}

/* Can from reach to now (both running, same side)? */
static int reachable(const rumor_sim *s, int from, int to) {
  return to >= 0 && (size_t)to < s->n && s->ios[to] != NULL && s->ios[to]->open &&
         (s->side == NULL || side_of(s, from) == side_of(s, to));
}

/* Folds one event into the trace: its time, kind, ends and bytes. */
static void trace(rumor_sim *s, const sim_event *ev) {
  uint64_t h = s->trace;
  h = rumor__mix64(h ^ ev->at);
  h = rumor__mix64(h ^ ((uint64_t)ev->kind << 56 | (uint64_t)(uint32_t)ev->from << 24 |
                        (uint64_t)(uint32_t)ev->to) ^ ((uint64_t)ev->timer << 48));
  uint64_t b = 0xcbf29ce484222325ULL; /* FNV-1a of the bytes */
  for (size_t i = 0; i < ev->len; i++) b = (b ^ ev->data[i]) * 0x100000001b3ULL;
  s->trace = rumor__mix64(h ^ b ^ ev->len);
}

int rumor__sim_step(rumor_sim *s) {
  for (;;) {
    if (s->nheap == 0) return 0;
    sim_event ev = pop(s);
    if (ev.kind == EV_TIMER && (s->ios[ev.to] == NULL || ev.version != s->ios[ev.to]->version[ev.timer]))
      continue; /* re-armed or cancelled since */
    if (ev.at > s->now) s->now = ev.at;
    s->stats.events++;
    trace(s, &ev);
    struct sockaddr_storage from;
    addr_of((size_t)ev.from, &from);
    switch (ev.kind) {
    case EV_TIMER:
      rumor__node_timer(s->nodes[ev.to], ev.timer);
      break;
    case EV_DATAGRAM:
      if (reachable(s, ev.from, ev.to)) {
        s->stats.delivered++;
        rumor__node_recv(s->nodes[ev.to], &from, ev.data, ev.len);
      } else {
        s->stats.cut++;
      }
      free(ev.data);
      break;
    case EV_FRAME: {
      /* A closed stream still delivers what was written before it closed. */
      rumor_stream *st = ev.stream;
      int ok = reachable(s, ev.from, ev.to);
      if (ok) rumor__node_recv_frame(s->nodes[ev.to], &from, ev.data, ev.len);
      free(ev.data);
      st->pending--;
      if (!st->closed && s->ios[ev.from] != NULL && s->ios[ev.from]->open)
        /* The write is done when its frame arrives, or refused when it cannot;
         * the node may close (and so free) the stream in there. */
        rumor__node_stream_done(s->nodes[ev.from], st, ok ? 0 : UV_ECONNREFUSED);
      else
        stream_release(st);
      break;
    }
    default:
      break;
    }
    return 1;
  }
}

void rumor__sim_run_until(rumor_sim *s, uint64_t t) {
  while (s->nheap > 0 && s->heap[0].at <= t)
    if (!rumor__sim_step(s)) break;
  if (t > s->now) s->now = t;
}

int rumor__sim_converge(rumor_sim *s) {
  if (s->share != NULL) return RUMOR_ESTATE;
  for (size_t i = 0; i < s->n; i++)
    if (s->nodes[i] == NULL) return RUMOR_ESTATE;
  return rumor__share_converge(s->nodes, s->n, &s->share);
}

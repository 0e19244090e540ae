/* fake_net.h: an in-memory network and a manual clock behind the I/O seam,
 * for deterministic protocol tests. Nodes get addresses 10.0.0.N:7946;
 * sent datagrams and stream frames wait in one queue until the test
 * delivers (or drops, duplicates, reorders) them. A frame's write completes
 * when it is delivered; a dropped frame fails its stream (like a timeout). */
#ifndef RUMOR_FAKE_NET_H
#define RUMOR_FAKE_NET_H
#include "check.h"
#include "io.h"
#include "node_int.h"
#include <arpa/inet.h>

#define NET_MAX_NODES 64
#define NET_MAX_QUEUE 100000
#define NET_MAX_STREAMS 4096

struct rumor_stream {
  int from, to;
  int closed; /* by its node: deliver nothing more, report nothing */
};

typedef struct net_datagram {
  int from, to; /* node indices; to = -1 for an address no node has */
  size_t len;
  uint8_t *data;
  struct rumor_stream *stream; /* non-NULL: a frame on this stream */
} net_datagram;

typedef struct fake_net {
  uint64_t now;
  uint64_t seed;
  int n;
  rumor_node_t *nodes[NET_MAX_NODES];
  struct fake_io *ios[NET_MAX_NODES];
  net_datagram *queue;
  size_t qlen;
  struct rumor_stream *streams; /* never reused, freed with the net */
  size_t nstreams;
  size_t frames_delivered;
  int down[NET_MAX_NODES]; /* cut off: nothing to or from it arrives */
  int paused[NET_MAX_NODES]; /* SIGSTOPped: its timers wait, nothing reaches it */
  int partitioned;           /* while set, only nodes of the same side[] hear each other */
  int side[NET_MAX_NODES];
} fake_net;

typedef struct fake_io {
  rumor_io base;
  fake_net *net;
  int index;
  int open;
  uint64_t deadline[RUMOR_TIMER_COUNT]; /* 0: timer not armed */
} fake_io;

static inline void net_addr(int i, struct sockaddr_storage *ss) {
  struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;
  memset(ss, 0, sizeof(*ss));
  a->sin_family = AF_INET;
  a->sin_port = htons(7946);
  a->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i + 1);
}

static inline int net_index_of(const struct sockaddr_storage *ss) {
  const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
  if (ss->ss_family != AF_INET) return -1;
  int i = (int)(ntohl(a->sin_addr.s_addr) - 0x0a000001u);
  return (i >= 0 && i < NET_MAX_NODES) ? i : -1;
}

static uint64_t fio_now(rumor_io *io) { return ((fake_io *)io)->net->now; }
static uint64_t fio_wall(rumor_io *io) { return 1700000000000000ull + ((fake_io *)io)->net->now * 1000; }
static uint64_t fio_seed(rumor_io *io) { return ((fake_io *)io)->net->seed + (uint64_t)((fake_io *)io)->index; }

static inline int fio_open(rumor_io *io, const struct sockaddr_storage *bind, struct sockaddr_storage *bound,
                           const rumor_io_limits *limits) {
  fake_io *f = (fake_io *)io;
  (void)bind;
  (void)limits;
  net_addr(f->index, bound);
  f->open = 1;
  return 0;
}

static inline int fio_send(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf, size_t len) {
  fake_io *f = (fake_io *)io;
  fake_net *net = f->net;
  CHECK(net->qlen < NET_MAX_QUEUE);
  net_datagram *d = &net->queue[net->qlen++];
  d->from = f->index;
  d->to = net_index_of(to);
  d->len = len;
  d->data = malloc(len);
  d->stream = NULL;
  memcpy(d->data, buf, len);
  return 0;
}

static inline void fio_arm(rumor_io *io, int timer, uint64_t delay) {
  ((fake_io *)io)->deadline[timer] = ((fake_io *)io)->net->now + delay;
}

static inline rumor_stream *fio_stream_open(rumor_io *io, const struct sockaddr_storage *to) {
  fake_io *f = (fake_io *)io;
  fake_net *net = f->net;
  CHECK(net->nstreams < NET_MAX_STREAMS);
  struct rumor_stream *s = &net->streams[net->nstreams++];
  s->from = f->index;
  s->to = net_index_of(to);
  s->closed = 0;
  return s;
}

static inline int fio_stream_write(rumor_io *io, rumor_stream *s, uint8_t *frame, size_t len) {
  fake_io *f = (fake_io *)io;
  fake_net *net = f->net;
  CHECK(net->qlen < NET_MAX_QUEUE);
  net_datagram *d = &net->queue[net->qlen++];
  d->from = f->index;
  d->to = s->to;
  d->len = len;
  d->data = frame;
  d->stream = s;
  return 0;
}

static inline void fio_stream_close(rumor_io *io, rumor_stream *s) {
  (void)io;
  s->closed = 1;
}

static inline void fio_shutdown(rumor_io *io) {
  fake_io *f = (fake_io *)io;
  f->open = 0;
  memset(f->deadline, 0, sizeof(f->deadline));
}
static inline void fio_destroy(rumor_io *io, void (*done)(rumor_io *)) {
  fake_io *f = (fake_io *)io;
  f->net->ios[f->index] = NULL;
  f->net->nodes[f->index] = NULL;
  if (done) done(io);
  free(f);
}

static const rumor_io_ops fake_ops = {fio_now, fio_wall, fio_seed, fio_open, fio_send, fio_arm,
                                      fio_stream_open, fio_stream_write, fio_stream_close,
                                      fio_shutdown, fio_destroy};

static inline rumor_io *fake_io_new(void *arg, rumor_node_t *node) {
  fake_net *net = arg;
  fake_io *f = calloc(1, sizeof(*f));
  f->base.ops = &fake_ops;
  f->base.node = node;
  f->net = net;
  f->index = net->n;
  net->ios[net->n] = f;
  return &f->base;
}

static inline void net_init(fake_net *net, uint64_t seed) {
  memset(net, 0, sizeof(*net));
  net->now = 1000;
  net->seed = seed;
  net->queue = calloc(NET_MAX_QUEUE, sizeof(net_datagram));
  net->streams = calloc(NET_MAX_STREAMS, sizeof(struct rumor_stream));
}

/* Adds a node; seed_index < 0 for none. cfg tweaks through the callback. */
static inline rumor_node_t *net_add(fake_net *net, const char *id, int seed_index, const rumor_config_t *base) {
  rumor_config_t cfg;
  char seedbuf[32];
  const char *seeds[1];
  rumor_error_t err;
  rumor_node_t *node = NULL;
  if (base) cfg = *base; else rumor_config_init(&cfg);
  cfg.id = id;
  if (seed_index >= 0) {
    snprintf(seedbuf, sizeof(seedbuf), "10.0.0.%d:7946", seed_index + 1);
    seeds[0] = seedbuf;
    cfg.seeds = seeds;
    cfg.nseeds = 1;
  }
  CHECK_EQ(rumor__node_create(NULL, &cfg, fake_io_new, net, &node, &err), 0);
  net->nodes[net->n++] = node;
  return node;
}

/* Reports the end of a frame's write to the node that wrote it. */
static inline void net_stream_done(fake_net *net, net_datagram *d, int status) {
  if (!d->stream->closed && net->nodes[d->from] && net->ios[d->from] && net->ios[d->from]->open)
    rumor__node_stream_done(net->nodes[d->from], d->stream, status);
}

/* Drops everything queued; frames fail their streams (which may queue more:
 * those are dropped too). */
static inline void net_drop_queue(fake_net *net) {
  while (net->qlen > 0) {
    size_t n = net->qlen;
    net_datagram *batch = malloc(n * sizeof(*batch));
    memcpy(batch, net->queue, n * sizeof(*batch));
    net->qlen = 0;
    for (size_t i = 0; i < n; i++) {
      free(batch[i].data);
      if (batch[i].stream) net_stream_done(net, &batch[i], UV_ETIMEDOUT);
    }
    free(batch);
  }
}

/* Delivers one queued datagram or frame. */
static inline void net_deliver(fake_net *net, net_datagram *d) {
  int up = d->to >= 0 && d->to < net->n && net->nodes[d->to] && net->ios[d->to] && net->ios[d->to]->open &&
           !net->down[d->to] && !net->down[d->from] && !net->paused[d->to] &&
           !(net->partitioned && net->side[d->from] != net->side[d->to]);
  struct sockaddr_storage from;
  net_addr(d->from, &from);
  if (d->stream == NULL) {
    if (up) rumor__node_recv(net->nodes[d->to], &from, d->data, d->len);
  } else if (!d->stream->closed) {
    if (up) {
      rumor__node_recv_frame(net->nodes[d->to], &from, d->data, d->len);
      net->frames_delivered++;
    }
    net_stream_done(net, d, up ? 0 : UV_ECONNREFUSED);
  }
  free(d->data);
}

/* Delivers everything queued, including replies they cause, until quiet. */
static inline void net_deliver_all(fake_net *net) {
  size_t head = 0;
  while (head < net->qlen) {
    net_datagram d = net->queue[head++];
    net_deliver(net, &d);
  }
  net->qlen = 0;
}

/* Advances the clock by ms, firing timers in time order, delivering traffic
 * instantly after each firing. */
static inline void net_run(fake_net *net, uint64_t ms) {
  uint64_t end = net->now + ms;
  for (;;) {
    uint64_t next = end;
    int who = -1, which = 0;
    for (int i = 0; i < net->n; i++)
      for (int t = 0; net->ios[i] && !net->paused[i] && t < RUMOR_TIMER_COUNT; t++)
        if (net->ios[i]->deadline[t] && net->ios[i]->deadline[t] <= next) {
          next = net->ios[i]->deadline[t];
          who = i;
          which = t;
        }
    if (next > net->now) net->now = next; /* a resumed node's overdue timers fire now */
    if (who < 0) break;
    net->ios[who]->deadline[which] = 0;
    rumor__node_timer(net->nodes[who], which);
    net_deliver_all(net);
  }
}

/* Fast rounds for liveness tests: 100 ms, a member silent for 10 of them
 * is expired. */
static inline rumor_config_t net_fast_config(void) {
  rumor_config_t cfg;
  rumor_config_init(&cfg);
  cfg.gossip_interval_ms = 100;
  cfg.heartbeat_expiration_ms = 1000;
  return cfg;
}

/* "n00", "n01", ...: ids that sort in index order (the ring's order). */
static inline const char *net_id(int i) {
  static char ids[NET_MAX_NODES][8];
  snprintf(ids[i], sizeof ids[i], "n%02d", i);
  return ids[i];
}

/* n nodes named net_id(i) with cfg, seeded by the first, started, and run
 * 5 s: joined and quiet again. */
static inline void net_cluster(fake_net *net, int n, const rumor_config_t *cfg, uint64_t seed) {
  net_init(net, seed);
  for (int i = 0; i < n; i++) net_add(net, net_id(i), i == 0 ? -1 : 0, cfg);
  for (int i = 0; i < n; i++) CHECK_EQ(rumor_node_start(net->nodes[i]), 0);
  net_run(net, 5000);
}

static inline void net_free(fake_net *net) {
  net_drop_queue(net);
  for (int i = 0; i < net->n; i++)
    if (net->nodes[i]) rumor_node_close(net->nodes[i], NULL, NULL);
  net_drop_queue(net);
  free(net->queue);
  free(net->streams);
}

/* node's view of one member (the test fails if it has none). */
static inline rumor_member_info_t net_member(rumor_node_t *n, const char *id) {
  rumor_member_info_t info;
  for (size_t i = 0; i < rumor_node_member_count(n); i++) {
    CHECK_EQ(rumor_node_member_at(n, i, &info), 0);
    if (strcmp(info.id, id) == 0) return info;
  }
  CHECK(!"member not found");
  return info;
}

/* Does node hold member's key with this value? */
static inline int holds(rumor_node_t *node, const char *member, const char *key, const char *value) {
  const uint8_t *v;
  size_t len;
  if (rumor_node_get(node, member, strlen(member), key, strlen(key), &v, &len, NULL) != 0) return 0;
  return len == strlen(value) && memcmp(v, value, len) == 0;
}
#endif

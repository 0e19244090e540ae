/* transfer.c: deltas too big for a datagram, sent over a TCP stream.
 *
 * When a reply could not carry some member's entries (one value bigger than
 * a datagram, or a resync that must arrive whole), the node opens a stream
 * to the peer's listener (the same port number as its UDP socket) and
 * writes the rest as frames, each one ACK message (wire.h). Frames are made
 * one at a time, when the previous one has been written, from the store as
 * it is then, so memory stays at one frame per transfer. Each frame is
 * applied on its own by the receiver, in order, exactly like a datagram.
 *
 * At most one transfer runs per peer, and a few in all; a peer still behind
 * when they end is served by a later round. A transfer that fails or times
 * out (gossip_request_timeout_ms, enforced by the io) is dropped; the next
 * digest from that peer asks again. A peer cut by a fault (fault.c) gets no
 * transfer, and one under way ends at its next frame. */
#include "node_int.h"
#include <stdlib.h>
#include <string.h>

/* Transfers in flight at once: each holds one frame in memory and they
 * share one link; more would only compete for the same bandwidth. */
#define MAX_TRANSFERS 8

typedef struct transfer_item {
  rumor_blob *id;       /* the member whose entries go */
  uint64_t generation;  /* abandoned if the member restarts meanwhile */
  uint64_t from_seq;    /* what the peer holds so far */
  int sweep;
} transfer_item;

struct rumor_transfer {
  rumor_transfer *next;
  rumor_blob *peer;     /* the member we send to */
  rumor_stream *stream;
  transfer_item *items;
  size_t nitems, pos;
};

static void transfer_free(rumor_transfer *t) {
  for (size_t i = 0; i < t->nitems; i++) rumor__blob_unref(t->items[i].id);
  rumor__blob_unref(t->peer);
  free(t->items);
  free(t);
}

static void unlink_transfer(rumor_node_t *n, rumor_transfer *t) {
  for (rumor_transfer **p = &n->transfers; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      n->ntransfers--;
      return;
    }
}

static void finish(rumor_node_t *n, rumor_transfer *t, int failed) {
  if (failed) n->metrics.tcp_failures++;
  unlink_transfer(n, t);
  n->io->ops->stream_close(n->io, t->stream);
  transfer_free(t);
}

/* The first entry item still has to send, or NULL (nothing left, or the
 * member restarted). Decides afresh whether the item is a sweep: a delete
 * the peer has not seen may have been purged since the transfer began, and
 * then it starts over from 0 (see delta.c for why from 0 means sweep). */
static const rumor_entry *item_next(rumor_node_t *n, transfer_item *it, rumor_member **mp) {
  rumor_member *m = rumor__store_find(&n->store, (const char *)it->id->data, it->id->len);
  *mp = m;
  if (m == NULL || m->generation != it->generation) return NULL;
  if (!it->sweep && it->from_seq < m->floor) it->from_seq = 0;
  it->sweep = rumor__delta_sweeps(m, it->from_seq, it->sweep);
  return rumor__store_after(m, it->from_seq);
}

/* Builds the next frame into a new buffer. Returns its length (0 when
 * nothing is left to send, or out of memory: *out NULL). */
static size_t next_frame(rumor_node_t *n, rumor_transfer *t, uint8_t **out) {
  rumor_member *m;
  const rumor_entry *e = NULL;
  *out = NULL;
  for (; t->pos < t->nitems; t->pos++) /* skip items with nothing left */
    if ((e = item_next(n, &t->items[t->pos], &m)) != NULL) break;
  if (t->pos >= t->nitems) return 0;

  size_t cap = rumor__delta_entry_size(e) + RUMOR_WIRE_DELTA_OVERHEAD_MAX;
  if (cap < RUMOR_FRAME_FILL) cap = RUMOR_FRAME_FILL;
  if (cap > n->frame_max) cap = n->frame_max;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) return 0;

  rumor_wire_writer w;
  if (rumor__gossip_begin(n, &w, buf, cap, RUMOR_MSG_ACK) != 0 || rumor__wire_delta_begin(&w) != 0) {
    free(buf);
    return 0;
  }
  /* Whole items while they fit, then a prefix of the one that does not. */
  size_t blocks = 0;
  while (t->pos < t->nitems) {
    transfer_item *it = &t->items[t->pos];
    if ((e = item_next(n, it, &m)) == NULL) {
      t->pos++;
      continue;
    }
    if (rumor__wire_block_begin(&w, (const char *)m->id->data, m->id->len, &m->addr, m->generation,
                                it->from_seq, m->max_seq, m->floor) != 0)
      break;
    uint64_t last = it->from_seq;
    for (; e != NULL && rumor__delta_add_entry(&w, e) == 0; e = e->next) last = e->seq;
    if (last == it->from_seq) {
      rumor__wire_block_cancel(&w);
      break;
    }
    uint8_t flags = (e == NULL ? RUMOR_WIRE_COMPLETE : 0) | (it->sweep ? RUMOR_WIRE_SWEEP : 0);
    rumor__wire_block_end(&w, flags);
    blocks++;
    it->from_seq = last;
    if (e != NULL) break;
    t->pos++;
  }
  rumor__wire_delta_end(&w);
  if (blocks == 0) {
    /* Even one entry does not fit a frame (it came from a peer with a
     * larger max_value_size): give up rather than send empty frames. */
    free(buf);
    t->pos = t->nitems + 1;
    return 0;
  }
  *out = buf;
  return w.len;
}

/* Writes the next frame, or ends the transfer when all is sent. */
static void pump(rumor_node_t *n, rumor_transfer *t) {
  uint8_t *frame;
  rumor_member *peer;
  if (n->faults.active &&
      (peer = rumor__store_find(&n->store, (const char *)t->peer->data, t->peer->len)) != NULL &&
      rumor__fault_cut(n, &peer->addr)) {
    finish(n, t, 0); /* cut meanwhile: counted in fault_dropped, not as a failure */
    return;
  }
  size_t len = next_frame(n, t, &frame);
  if (frame == NULL) {
    finish(n, t, t->pos != t->nitems); /* out of memory, or a frame that could not be made */
    return;
  }
  if ((frame = rumor__guard_seal_frame(n, frame, &len)) == NULL) {
    finish(n, t, 1);
    return;
  }
  int rc = n->io->ops->stream_write(n->io, t->stream, frame, len);
  if (rc != 0) {
    finish(n, t, 1);
    return;
  }
  n->metrics.frames_sent++;
  n->metrics.tcp_bytes_sent += len;
}

void rumor__transfer_start(rumor_node_t *n, rumor_member *peer, const rumor_candidate *cands,
                           size_t nc) {
  if (n->state != NODE_RUNNING || n->ntransfers >= MAX_TRANSFERS ||
      !rumor__gossip_reachable(n, peer) ||
      (n->faults.active && rumor__fault_cut(n, &peer->addr)))
    return;
  for (rumor_transfer *t = n->transfers; t; t = t->next)
    if (t->peer == peer->id) return; /* one at a time per peer */
  rumor_transfer *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->items = calloc(nc, sizeof(*t->items))) == NULL) {
    free(t);
    return;
  }
  for (size_t i = 0; i < nc; i++) {
    rumor_member *m = cands[i].member;
    t->items[i] = (transfer_item){rumor__blob_ref(m->id), m->generation, cands[i].from_seq,
                                  cands[i].sweep};
    if (cands[i].sweep) n->metrics.resyncs_sent++;
  }
  t->nitems = nc;
  t->peer = rumor__blob_ref(peer->id);
  t->stream = n->io->ops->stream_open(n->io, &peer->addr);
  if (t->stream == NULL) {
    n->metrics.tcp_failures++;
    transfer_free(t);
    return;
  }
  t->next = n->transfers;
  n->transfers = t;
  n->ntransfers++;
  n->metrics.tcp_transfers++;
  pump(n, t);
}

void rumor__transfer_done(rumor_node_t *n, rumor_stream *s, int status) {
  rumor_transfer *t = n->transfers;
  while (t && t->stream != s) t = t->next;
  if (t == NULL) return;
  if (status != 0 || n->state != NODE_RUNNING) {
    if (status != 0)
      rumor__log(n, RUMOR_LOG_WARN, "TCP transfer to %s failed: %s", (const char *)t->peer->data,
                 rumor_strerror(status));
    finish(n, t, status != 0);
    return;
  }
  pump(n, t);
}

void rumor__transfer_abort_all(rumor_node_t *n) {
  while (n->transfers) {
    rumor_transfer *t = n->transfers;
    n->transfers = t->next;
    n->io->ops->stream_close(n->io, t->stream);
    transfer_free(t);
  }
  n->ntransfers = 0;
}

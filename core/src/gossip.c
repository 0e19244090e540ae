/* gossip.c: scuttlebutt reconciliation over UDP.
 *
 * Each round (every gossip_interval_ms) a node sends a SYN carrying its
 * digest (member -> generation, max_seq) to gossip_fan_out random peers, and
 * to every seed it has not met yet. The receiver answers a SYNACK with the
 * entries the initiator lacks (the delta) and its own digest; the initiator
 * applies the delta and answers an ACK with what the receiver lacks. Three
 * legs, so one round trip moves state both ways (protoactor never finished
 * this, see protoactor-go #636).
 *
 * Deltas never leave gaps: a member's entries go out in ascending seq from
 * the receiver's watermark, and a block is applied only if it starts at or
 * below the receiver's watermark. A datagram that cannot carry everything
 * carries a prefix; the next round continues from the new watermark.
 *
 * Peers are learned from datagram headers, digests and deltas, so joining
 * through one seed reaches everyone. */
#include "node_int.h"
#include "addr.h"
#include "wire.h"
#include <string.h>

static int has_addr(const rumor_member *m) {
  return m->addr.ss_family != 0 && !rumor__addr_is_unspecified(&m->addr);
}

static void send_datagram(rumor_node_t *n, const struct sockaddr_storage *to, size_t len) {
  int rc = n->io->ops->send(n->io, to, n->sendbuf, len);
  if (rc != 0) {
    n->metrics.send_errors++;
    return;
  }
  n->metrics.datagrams_sent++;
  n->metrics.bytes_sent += len;
}

static int begin(rumor_node_t *n, rumor_wire_writer *w, uint8_t kind) {
  return rumor__wire_begin(w, n->sendbuf, n->cfg.mtu, kind, n->cluster, n->cluster_len, n->id,
                           n->id_len, n->generation, &n->addr);
}

/* Writes as much of our digest as fits: self first, then the others from a
 * rotating start, so that over a few rounds a partial digest covers all. */
static void write_digest(rumor_node_t *n, rumor_wire_writer *w) {
  rumor_store *s = &n->store;
  size_t others = s->count - 1, added = 0;
  if (rumor__wire_digest_begin(w) != 0) return;
  if (rumor__wire_digest_add(w, n->id, n->id_len, &n->addr, n->generation, n->self->max_seq) != 0) {
    rumor__wire_digest_end(w, 0);
    return;
  }
  size_t start = others ? n->digest_cursor % others : 0;
  for (; added < others; added++) {
    const rumor_member *m = s->list[1 + (start + added) % others];
    if (rumor__wire_digest_add(w, (const char *)m->id->data, m->id->len, &m->addr, m->generation,
                               m->max_seq) != 0)
      break;
  }
  n->digest_cursor = start + added;
  rumor__wire_digest_end(w, added == others);
}

/* Plans which members the peer lacks according to its digest: fills
 * n->cands and returns how many. Our own state goes first (we are its only
 * source of truth), then the rest in random order so no member starves. */
static size_t plan_delta(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *peer) {
  rumor_wire_reader r = msg->digest;
  rumor_wire_digest_entry d;
  size_t nc = 0;
  uint64_t stamp = ++n->mark;
  while (rumor__wire_next_digest(&r, &d) == 1) {
    rumor_member *m = rumor__store_find(&n->store, d.id, d.id_len);
    if (m == NULL || n->marks[m->index] == stamp) continue; /* unknown, or listed twice */
    n->marks[m->index] = stamp;
    if (m->generation == 0 || m == peer) continue;
    if (d.generation < m->generation)
      n->cands[nc++] = (rumor_candidate){m, 0};
    else if (d.generation == m->generation && d.max_seq < m->max_seq)
      n->cands[nc++] = (rumor_candidate){m, d.max_seq};
  }
  if (msg->digest_complete) {
    for (size_t i = 0; i < n->store.count; i++) {
      rumor_member *m = n->store.list[i];
      if (n->marks[i] != stamp && m->generation != 0 && m != peer)
        n->cands[nc++] = (rumor_candidate){m, 0};
    }
  }
  /* Self to the front, then shuffle the rest (Fisher-Yates). */
  for (size_t i = 0; i < nc; i++) {
    if (n->cands[i].member == n->self) {
      rumor_candidate t = n->cands[0];
      n->cands[0] = n->cands[i];
      n->cands[i] = t;
      break;
    }
  }
  size_t first = (nc > 0 && n->cands[0].member == n->self) ? 1 : 0;
  for (size_t i = nc; i > first + 1; i--) {
    size_t j = first + (size_t)rumor__rng_below(&n->rng, i - first);
    rumor_candidate t = n->cands[i - 1];
    n->cands[i - 1] = n->cands[j];
    n->cands[j] = t;
  }
  return nc;
}

/* Writes the planned delta greedily: whole members while they fit, then a
 * prefix (in seq order) of the first one that does not. */
static void write_delta(rumor_node_t *n, rumor_wire_writer *w, size_t nc) {
  uint32_t budget = n->cfg.gossip_max_send;
  if (rumor__wire_delta_begin(w) != 0) return;
  for (size_t i = 0; i < nc && budget > 0; i++) {
    rumor_member *m = n->cands[i].member;
    uint64_t from = n->cands[i].from_seq;
    if (rumor__wire_block_begin(w, (const char *)m->id->data, m->id->len, &m->addr, m->generation,
                                from, m->max_seq) != 0)
      break;
    uint32_t added = 0;
    const rumor_entry *e = rumor__store_after(m, from);
    for (; e != NULL && budget > 0; e = e->next, budget--, added++)
      if (rumor__wire_block_add(w, (const char *)e->key->data, e->key->len, e->seq, 0,
                                e->value->data, e->value->len) != 0)
        break;
    if (added == 0 && e != NULL) {
      rumor__wire_block_cancel(w);
      break;
    }
    rumor__wire_block_end(w, e == NULL);
    if (e != NULL) break;
  }
  rumor__wire_delta_end(w);
}

static void send_syn(rumor_node_t *n, const struct sockaddr_storage *to) {
  rumor_wire_writer w;
  if (begin(n, &w, RUMOR_MSG_SYN) != 0) return;
  write_digest(n, &w);
  send_datagram(n, to, w.len);
}

static int seed_known(const rumor_node_t *n, const struct sockaddr_storage *seed) {
  if (rumor__addr_equal(seed, &n->addr)) return 1;
  for (size_t i = 1; i < n->store.count; i++)
    if (rumor__addr_equal(seed, &n->store.list[i]->addr)) return 1;
  return 0;
}

void rumor__gossip_round(rumor_node_t *n) {
  rumor_store *s = &n->store;
  size_t eligible = 0;
  n->metrics.rounds++;
  /* Random fan-out among peers with a known address: a partial
   * Fisher-Yates over member indices (in n->cands as scratch). */
  for (size_t i = 1; i < s->count; i++)
    if (has_addr(s->list[i])) n->cands[eligible++].member = s->list[i];
  size_t k = eligible < n->cfg.gossip_fan_out ? eligible : n->cfg.gossip_fan_out;
  for (size_t i = 0; i < k; i++) {
    size_t j = i + (size_t)rumor__rng_below(&n->rng, eligible - i);
    rumor_candidate t = n->cands[i];
    n->cands[i] = n->cands[j];
    n->cands[j] = t;
    send_syn(n, &n->cands[i].member->addr);
  }
  /* Seeds we have not met under any member id yet: keep knocking. */
  for (size_t i = 0; i < n->nseeds; i++)
    if (!seed_known(n, &n->seeds[i])) send_syn(n, &n->seeds[i]);
}

/* Learns members named in a digest: their names and addresses. */
static void learn_from_digest(rumor_node_t *n, const rumor_wire_msg *msg) {
  rumor_wire_reader r = msg->digest;
  rumor_wire_digest_entry d;
  while (rumor__wire_next_digest(&r, &d) == 1) {
    if (d.id_len == n->id_len && memcmp(d.id, n->id, d.id_len) == 0) continue;
    rumor_member *m = rumor__store_find(&n->store, d.id, d.id_len);
    if (m == NULL && (m = rumor__node_add_member(n, d.id, d.id_len)) == NULL) return;
    if (!has_addr(m) && !rumor__addr_is_unspecified(&d.addr)) m->addr = d.addr;
  }
}

static void apply_delta(rumor_node_t *n, const rumor_wire_msg *msg) {
  rumor_wire_reader r = msg->delta;
  rumor_wire_block b;
  uint64_t now = n->io->ops->now(n->io);
  while (rumor__wire_next_block(&r, &b) == 1) {
    if (b.id_len == n->id_len && memcmp(b.id, n->id, b.id_len) == 0) {
      /* Only we write our keys. A newer generation of us means another
       * process runs under our id. */
      if (b.generation > n->generation) n->metrics.drops_self++;
      continue;
    }
    rumor_member *m = rumor__store_find(&n->store, b.id, b.id_len);
    if (m == NULL && (m = rumor__node_add_member(n, b.id, b.id_len)) == NULL) return;
    if (!has_addr(m) && !rumor__addr_is_unspecified(&b.addr)) m->addr = b.addr;
    if (b.generation < m->generation) {
      n->metrics.deltas_stale++;
      continue;
    }
    if (b.generation > m->generation) {
      if (b.from_seq != 0) { /* a newer generation must arrive from its start */
        n->metrics.deltas_gap++;
        continue;
      }
      if (m->generation != 0) n->metrics.generations_replaced++;
      rumor__store_reset(&n->store, m, b.generation);
    } else if (b.from_seq > m->max_seq) {
      n->metrics.deltas_gap++;
      continue;
    }
    rumor_wire_entry e;
    int ok = 1;
    while (rumor__wire_next_entry(&b.entries, &e) == 1) {
      if (e.seq <= m->max_seq) {
        n->metrics.entries_ignored++;
        continue;
      }
      rumor_blob *v = rumor__blob_new(e.value, e.value_len);
      rumor_entry *ent = v ? rumor__store_put(m, e.key, e.key_len, e.seq, v, now) : NULL;
      rumor__blob_unref(v);
      if (ent == NULL) { /* out of memory: keep the watermark where it is */
        ok = 0;
        break;
      }
      n->metrics.entries_merged++;
      m->last_seen = now;
      rumor__node_queue_event(n, m, ent, 0);
    }
    if (ok && b.complete && b.max_seq > m->max_seq) m->max_seq = b.max_seq;
  }
}

void rumor__gossip_recv(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                        size_t len) {
  rumor_wire_msg msg;
  n->metrics.datagrams_received++;
  n->metrics.bytes_received += len;
  int rc = rumor__wire_decode(buf, len, &msg);
  if (rc == RUMOR_WIRE_EVERSION) {
    n->metrics.drops_version++;
    return;
  }
  if (rc != RUMOR_WIRE_OK) {
    n->metrics.drops_malformed++;
    return;
  }
  if (msg.h.cluster_len != n->cluster_len || memcmp(msg.h.cluster, n->cluster, n->cluster_len) != 0) {
    n->metrics.drops_cluster++;
    return;
  }
  if (msg.h.sender_len == n->id_len && memcmp(msg.h.sender, n->id, n->id_len) == 0) {
    n->metrics.drops_self++;
    return;
  }
  rumor_member *peer = rumor__store_find(&n->store, msg.h.sender, msg.h.sender_len);
  if (peer == NULL && (peer = rumor__node_add_member(n, msg.h.sender, msg.h.sender_len)) == NULL)
    return;
  /* The sender's advertised address; an unspecified IP means "where this
   * datagram came from" (a node bound to 0.0.0.0). */
  struct sockaddr_storage addr = msg.h.addr;
  if (rumor__addr_is_unspecified(&addr)) rumor__addr_set_ip_from(&addr, from);
  peer->addr = addr;
  peer->last_seen = n->io->ops->now(n->io);

  if (msg.has_digest) learn_from_digest(n, &msg);
  if (msg.has_delta) apply_delta(n, &msg);

  rumor_wire_writer w;
  if (msg.h.kind == RUMOR_MSG_SYN) {
    /* Answer with what it lacks, and our digest so it can send what we
     * lack. The digest may take at most half the datagram: the delta is
     * what the initiator asked for. */
    if (begin(n, &w, RUMOR_MSG_SYNACK) != 0) return;
    size_t cap = w.cap;
    w.cap = w.len + (cap - w.len) / 2;
    write_digest(n, &w);
    w.cap = cap;
    write_delta(n, &w, plan_delta(n, &msg, peer));
    send_datagram(n, from, w.len);
  } else if (msg.h.kind == RUMOR_MSG_SYNACK) {
    size_t nc = plan_delta(n, &msg, peer);
    if (nc == 0) return;
    if (begin(n, &w, RUMOR_MSG_ACK) != 0) return;
    write_delta(n, &w, nc);
    send_datagram(n, from, w.len);
  }
}

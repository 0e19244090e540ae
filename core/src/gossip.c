/* gossip.c: rounds and the three legs of scuttlebutt reconciliation.
 *
 * A round (every gossip_interval_ms) costs what the cluster is doing:
 * - Always: a SUMMARY SYN (summary.h: 10 bytes for the whole state) to one
 *   of our two ring neighbours, the live members whose ids sort right
 *   before and after ours, in turn. It is also our heartbeat: neighbours
 *   judge each other's liveness (liveness.c), so no node hears from, or
 *   about, every member every round. A neighbour whose summary differs
 *   answers with a full SYN.
 * - While anything changes (our writes, news anti-entropy brought us, a
 *   differing summary we answered, in the last ACTIVE_ROUNDS rounds): also
 *   a full SYN with our
 *   digest (member -> generation, watermark) to gossip_fan_out random
 *   peers, so a change that pushes missed still spreads epidemically.
 * - Every 10 rounds (every round with no ring yet): a summary to one member
 *   we know by name and address only (set_topology), which no ring reaches.
 * So a quiet cluster sends one small datagram per node per round whatever
 * its size, and a changing one pays O(N) digests only while it changes.
 *
 * A full SYN is answered with a SYNACK carrying the entries the initiator
 * lacks (the delta) and the receiver's own digest; the initiator applies the
 * delta and answers an ACK with what the receiver lacks. Three legs, so one
 * round trip moves state both ways (protoactor never finished this, see
 * protoactor-go #636). What a datagram cannot carry the receiver pulls over
 * TCP: a SYN flagged pull, answered by a transfer (delta.c, transfer.c).
 *
 * Digests put the sender first and then the addressee, so each side learns
 * at once how much of its own state the other holds (rumor_node_await); an
 * equal summary says the same of all of it. Peers are learned from headers,
 * digests and deltas, so joining through one seed reaches everyone. */
#include "node_int.h"
#include "addr.h"
#include "summary.h"
#include <string.h>

int rumor__gossip_addressable(const rumor_node_t *n, const rumor_member *m) {
  return m != n->self && m->addr.ss_family != 0 && !rumor__addr_is_unspecified(&m->addr);
}

int rumor__gossip_reachable(const rumor_node_t *n, const rumor_member *m) {
  return m->status == RUMOR_MEMBER_ALIVE && rumor__gossip_addressable(n, m);
}

const char *rumor_kind_name(int kind) {
  static const char *const names[RUMOR_KIND_COUNT] = {"syn", "synack", "ack", "push", "reject"};
  return kind >= 0 && kind < RUMOR_KIND_COUNT ? names[kind] : "";
}

/* The per-kind counters of a wire kind (RUMOR_MSG_*), or NULL. */
static rumor_kind_metrics_t *kind_metrics(rumor_node_t *n, int wire_kind) {
  switch (wire_kind) {
  case RUMOR_MSG_SYN: return &n->metrics.by_kind[RUMOR_KIND_SYN];
  case RUMOR_MSG_SYNACK: return &n->metrics.by_kind[RUMOR_KIND_SYNACK];
  case RUMOR_MSG_ACK: return &n->metrics.by_kind[RUMOR_KIND_ACK];
  case RUMOR_MSG_PUSH: return &n->metrics.by_kind[RUMOR_KIND_PUSH];
  case RUMOR_MSG_REJECT: return &n->metrics.by_kind[RUMOR_KIND_REJECT];
  default: return NULL;
  }
}

void rumor__gossip_send(rumor_node_t *n, const struct sockaddr_storage *to, size_t len) {
  /* The one branch a node without faults pays. */
  if (n->faults.active && rumor__fault_send(n, to, n->sendbuf, len)) return;
  rumor__gossip_emit(n, to, n->sendbuf, len);
}

void rumor__gossip_emit(rumor_node_t *n, const struct sockaddr_storage *to, const uint8_t *msg,
                        size_t len) {
  int wire_kind = len > RUMOR_WIRE_KIND_OFFSET ? msg[RUMOR_WIRE_KIND_OFFSET] : 0;
  const uint8_t *buf = rumor__guard_seal(n, msg, &len);
  int rc = n->io->ops->send(n->io, to, buf, len);
  if (rc != 0) {
    n->metrics.send_errors++;
    return;
  }
  n->metrics.datagrams_sent++;
  n->metrics.bytes_sent += len;
  rumor_kind_metrics_t *k = kind_metrics(n, wire_kind);
  if (k != NULL) {
    k->datagrams_sent++;
    k->bytes_sent += len;
  }
}

int rumor__gossip_begin(rumor_node_t *n, rumor_wire_writer *w, uint8_t *buf, size_t cap,
                        uint8_t kind) {
  return rumor__wire_begin(w, buf, cap, kind, n->cluster, n->cluster_len, n->id, n->id_len,
                           n->generation, &n->addr);
}

/* Rounds after the last change during which rounds also reconcile in full
 * with random peers. Pushes deliver news within milliseconds; three rounds
 * of gossip_fan_out random exchanges after a node's last news repair what
 * they missed (a lost datagram, a value too big to push), and every node
 * that learns something from them stays active in turn, so the repair
 * spreads as far as the news did. */
#define ACTIVE_ROUNDS 3
/* A summary difference that answers did not resolve is answered at most
 * every 32 rounds (16 s at the default interval): a lasting difference then
 * costs a neighbour pair one full exchange per 16 s, and a real one that a
 * lost datagram left behind is still repaired within that. */
#define MAX_ANSWER_GAP 32

static uint64_t now_ms(rumor_node_t *n) { return n->io->ops->now(n->io); }

void rumor__gossip_activate(rumor_node_t *n) {
  n->active_until = now_ms(n) + (uint64_t)ACTIVE_ROUNDS * n->cfg.gossip_interval_ms;
}

/* Byte order of ids, shorter first on a common prefix: every node sorts the
 * ring the same way. */
static int id_cmp(const rumor_member *a, const rumor_member *b) {
  size_t la = a->id->len, lb = b->id->len;
  int c = memcmp(a->id->data, b->id->data, la < lb ? la : lb);
  return c != 0 ? c : (la > lb) - (la < lb);
}

void rumor__gossip_neighbours(rumor_node_t *n, rumor_member **pred, rumor_member **succ) {
  /* Cached while no member joins, leaves the ring or moves: the walk costs
   * ~100 us at N=1000, and every round, push and forward asks. */
  if (n->ring_cached && n->ring_version == n->store.shape) {
    *pred = n->ring_pred;
    *succ = n->ring_succ;
    return;
  }
  const rumor_member *self = n->self;
  rumor_member *below = NULL, *above = NULL, *lowest = NULL, *highest = NULL;
  for (size_t i = 1; i < n->store.count; i++) {
    rumor_member *m = n->store.list[i];
    if (m->generation == 0 || !rumor__gossip_reachable(n, m)) continue;
    if (lowest == NULL || id_cmp(m, lowest) < 0) lowest = m;
    if (highest == NULL || id_cmp(m, highest) > 0) highest = m;
    if (id_cmp(m, self) < 0) {
      if (below == NULL || id_cmp(m, below) > 0) below = m;
    } else if (above == NULL || id_cmp(m, above) < 0) {
      above = m;
    }
  }
  /* The ring wraps: the lowest id's predecessor is the highest. */
  *pred = n->ring_pred = below != NULL ? below : highest;
  *succ = n->ring_succ = above != NULL ? above : lowest;
  n->ring_version = n->store.shape;
  n->ring_cached = 1;
}

size_t rumor__gossip_pick(rumor_node_t *n, size_t k, const rumor_member *x1,
                          const rumor_member *x2) {
  /* Who is reachable is cached while no member joins, leaves or moves:
   * every push and forward asks, and at N=1000 the checks cost more than
   * the rest of the forward. */
  if (!n->reach_cached || n->reach_shape != n->store.shape) {
    n->nreach = 0;
    for (size_t i = 1; i < n->store.count; i++)
      if (rumor__gossip_reachable(n, n->store.list[i])) n->reach[n->nreach++] = (uint32_t)i;
    n->reach_shape = n->store.shape;
    n->reach_cached = 1;
  }
  /* The cache's order is free: x1 and x2 go to its end, and a partial
   * Fisher-Yates over the rest picks k in place (no copy of N members). */
  uint32_t *reach = n->reach;
  rumor_member *const *list = n->store.list;
  size_t eligible = n->nreach;
  for (size_t i = 0; i < eligible;) {
    if (list[reach[i]] == x1 || list[reach[i]] == x2) {
      uint32_t t = reach[i];
      reach[i] = reach[--eligible];
      reach[eligible] = t;
    } else {
      i++;
    }
  }
  if (k > eligible) k = eligible;
  /* Room for one more: a push adds our ring successor (push.c). */
  rumor_member **picks = rumor__node_reserve(n->picks, &n->picks_cap, k + 1, sizeof *picks);
  if (picks == NULL) return 0;
  n->picks = picks;
  for (size_t i = 0; i < k; i++) {
    size_t j = i + (size_t)rumor__rng_below(&n->rng, eligible - i);
    uint32_t t = reach[j]; /* the pick: to the front, out of the draw */
    reach[j] = reach[i];
    reach[i] = t;
    picks[i] = list[t];
  }
  return k;
}

static int digest_add(rumor_wire_writer *w, const rumor_member *m) {
  return rumor__wire_digest_add(w, (const char *)m->id->data, m->id->len, &m->addr, m->generation,
                                m->max_seq);
}

void rumor__gossip_note_recent(rumor_node_t *n, rumor_member *m) {
  for (size_t i = 0; i < RUMOR_RECENT; i++)
    if (n->recent[i] == m) return; /* listed already: it changed again */
  n->recent[n->recent_next++ % RUMOR_RECENT] = m;
}

/* One of the members a digest lists before the rotation: not the sender,
 * nor the addressee, nor removed. */
static int listed_early(const rumor_node_t *n, const rumor_member *m, const rumor_member *to) {
  return m != NULL && m != n->self && m != to && m->status != RUMOR_MEMBER_REMOVED;
}

/* Writes as much of our digest as fits: self first, then the addressee (may
 * be NULL); with wanted, the members the addressee's digest showed newer
 * (so its answer carries them); the members whose state changed here last
 * (so a peer that missed them learns it now); then the others from a
 * rotating start, so that over a few rounds a partial digest covers
 * everyone. */
static void write_digest(rumor_node_t *n, rumor_wire_writer *w, const rumor_member *to, int wanted) {
  rumor_store *s = &n->store;
  size_t others = s->count - 1, added = 0;
  if (rumor__wire_digest_begin(w) != 0) return;
  if (digest_add(w, n->self) != 0 ||
      (to != NULL && to != n->self && to->status != RUMOR_MEMBER_REMOVED && digest_add(w, to) != 0)) {
    rumor__wire_digest_end(w, 0);
    return;
  }
  /* They take at most half the room left: the rotation must go on, or a
   * member no digest lists first would never be reconciled (the same few
   * stay listed first in a quiet cluster). */
  size_t cap = w->cap;
  w->cap = w->len + (cap - w->len) / 2;
  int room = 1;
  for (size_t i = 0; room && wanted && i < n->nwanted; i++)
    if (listed_early(n, n->wanted[i], to)) room = digest_add(w, n->wanted[i]) == 0;
  for (size_t i = 1; room && i <= RUMOR_RECENT; i++) { /* newest first */
    const rumor_member *m = n->recent[(n->recent_next - i) % RUMOR_RECENT];
    if (listed_early(n, m, to)) room = digest_add(w, m) == 0;
  }
  w->cap = cap;
  size_t start = others ? n->digest_cursor % others : 0;
  for (; added < others; added++) {
    const rumor_member *m = s->list[1 + (start + added) % others];
    /* A removed member's state is gone here: do not ask for it again. */
    if (m != to && m->status != RUMOR_MEMBER_REMOVED && digest_add(w, m) != 0) break;
  }
  n->digest_cursor = start + added;
  rumor__wire_digest_end(w, added == others ? RUMOR_WIRE_COMPLETE : 0);
}

/* Asks peer for the rest of what its answer could not carry: a SYN whose
 * digest lists just those members, flagged pull, answered with a SYNACK
 * and a TCP transfer. */
static void send_pull(rumor_node_t *n, rumor_member *peer, size_t npulls) {
  rumor_wire_writer w;
  if (!rumor__gossip_reachable(n, peer) ||
      rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_SYN) != 0 ||
      rumor__wire_digest_begin(&w) != 0)
    return;
  digest_add(&w, n->self);
  for (size_t i = 0; i < npulls; i++)
    if (digest_add(&w, n->pulls[i]) != 0) n->pulls[i]->pull_until = 0; /* next time */
  rumor__wire_digest_end(&w, RUMOR_WIRE_PULL);
  rumor__gossip_send(n, &peer->addr, w.len);
  n->metrics.tcp_pulls++;
}

static void send_syn_to(rumor_node_t *n, const struct sockaddr_storage *to, const rumor_member *m) {
  rumor_wire_writer w;
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_SYN) != 0) return;
  write_digest(n, &w, m, 0);
  rumor__gossip_send(n, to, w.len);
}

void rumor__gossip_syn(rumor_node_t *n, const rumor_member *m) { send_syn_to(n, &m->addr, m); }

void rumor__gossip_probe_seed(rumor_node_t *n, const struct sockaddr_storage *seed) {
  send_syn_to(n, seed, NULL);
}

/* A seed is known once a member we consider alive has its address (an
 * IPv4 seed heard on a dual-stack socket is recorded IPv4-mapped); seeds
 * of blocked members are probed now and then instead (liveness.c). */
int rumor__gossip_seed_known(const rumor_node_t *n, const struct sockaddr_storage *seed) {
  if (rumor__addr_same(seed, &n->addr)) return 1;
  for (size_t i = 1; i < n->store.count; i++) {
    const rumor_member *m = n->store.list[i];
    if (rumor__addr_same(seed, &m->addr)) return m->status == RUMOR_MEMBER_ALIVE ? 1 : -1;
  }
  return 0;
}

static void send_summary(rumor_node_t *n, const rumor_member *m) {
  rumor_wire_writer w;
  uint64_t count, hash;
  rumor__summary_of(&n->store, &count, &hash);
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_SYN) != 0 ||
      rumor__wire_summary(&w, count, hash) != 0)
    return;
  rumor__gossip_send(n, &m->addr, w.len);
  n->metrics.summaries_sent++;
}

/* A knock at a member we know by name and address but hold no state of
 * (set_topology, a name in a digest) every this many rounds while we have
 * a ring; every round while we have none. */
#define KNOCK_EVERY_ROUNDS 10

/* Members with no state are on nobody's ring (rumor__gossip_neighbours),
 * and quiet rounds send nothing else: a node whose peers came from
 * rumor_node_set_topology after its first rounds would never contact them.
 * So knock at one of them with a summary: if it runs, its summary differs
 * from ours (it counts itself), it answers with its digest and the three
 * legs bring us its state. One small datagram, whatever their number, so a
 * name that never comes to life costs little. */
static int stateless(const rumor_node_t *n, const rumor_member *m) {
  return m->generation == 0 && rumor__gossip_reachable(n, m);
}

static void knock_stateless(rumor_node_t *n, int alone) {
  if (!alone && n->metrics.rounds % KNOCK_EVERY_ROUNDS != 0) return;
  size_t k = 0;
  for (size_t i = 1; i < n->store.count; i++) k += stateless(n, n->store.list[i]);
  if (k == 0) return;
  /* The pick-th of them, found by a second walk rather than a list of all. */
  uint64_t pick = rumor__rng_below(&n->rng, k);
  for (size_t i = 1; i < n->store.count; i++)
    if (stateless(n, n->store.list[i]) && pick-- == 0) {
      send_summary(n, n->store.list[i]);
      return;
    }
}

void rumor__gossip_round(rumor_node_t *n) {
  n->metrics.rounds++;
  rumor_member *pred, *succ;
  rumor__gossip_neighbours(n, &pred, &succ);
  /* Our heartbeat, to one neighbour a round, in turn: each hears from us
   * every other round, which is plenty for a window of many rounds, and a
   * quiet node sends one datagram a round. */
  rumor_member *beat = (n->metrics.rounds & 1) ? pred : succ;
  if (beat != NULL) {
    send_summary(n, beat);
    n->metrics.heartbeats_sent++;
  }
  size_t k = 0;
  if (now_ms(n) < n->active_until) {
    /* These take tokens of the rate limit; the beat and the answers to a
     * differing summary never do, so reconciliation never starves. */
    k = rumor__gossip_pick(n, n->cfg.gossip_fan_out, pred, succ);
    for (size_t i = 0; i < k; i++) {
      if (!rumor__rate_take(n)) {
        n->metrics.sends_dropped += k - i;
        k = i;
        break;
      }
      rumor__gossip_syn(n, n->picks[i]);
    }
  }
  /* Maybe it is us they blocked (a partition, a stall, a healed outage):
   * knock at a member we blocked as expired, every round while nobody is
   * left to talk to, now and then otherwise. A blocked peer's rejection
   * makes us rejoin; an alive one's answer, which we reject, makes it. */
  rumor__liveness_probe(n, pred == NULL && k == 0);
  knock_stateless(n, pred == NULL);
  /* Seeds we have not met under any member id yet: keep knocking. */
  for (size_t i = 0; i < n->nseeds; i++)
    if (rumor__gossip_seed_known(n, &n->seeds[i]) == 0) send_syn_to(n, &n->seeds[i], NULL);
}

/* A neighbour's summary: equal, it holds all we hold (us included) and
 * there is nothing to do; different, we answer with our digest, and the
 * three legs run the other way round. */
static void on_summary(rumor_node_t *n, const rumor_wire_msg *msg, rumor_member *peer,
                       const struct sockaddr_storage *from) {
  uint64_t count, hash;
  rumor__summary_of(&n->store, &count, &hash);
  if (count == msg->summary_count && hash == msg->summary_hash) {
    n->metrics.summaries_matched++;
    peer->answer_gap = 0;
    if (msg->h.generation == peer->incarnation) peer->held_self = n->self->max_seq;
    return;
  }
  n->metrics.summaries_differed++;
  /* A difference our answers do not resolve (a member one of us removed, a
   * value one of us refuses) is answered less and less often, every 1, 2,
   * 4 ... MAX_ANSWER_GAP rounds, so it costs a full exchange now and then,
   * not every round; news from the peer starts over. */
  uint64_t now = now_ms(n);
  if (peer->answer_gap != 0 && now - peer->answered_at < peer->answer_gap * (uint64_t)n->cfg.gossip_interval_ms)
    return;
  peer->answered_at = now;
  peer->answer_gap = peer->answer_gap == 0 ? 1 : peer->answer_gap * 2;
  if (peer->answer_gap > MAX_ANSWER_GAP) peer->answer_gap = MAX_ANSWER_GAP;
  rumor__gossip_activate(n); /* a joining cluster differs everywhere: spread it */
  send_syn_to(n, from, peer);
}

/* Learns members named in a digest (names and addresses), and how much of
 * our own state the sender holds. */
static void learn_from_digest(rumor_node_t *n, const rumor_wire_msg *msg, rumor_member *peer) {
  rumor_wire_reader r = msg->digest;
  rumor_wire_digest_entry d;
  while (rumor__wire_next_digest(&r, &d) == 1) {
    if (d.id_len == n->id_len && memcmp(d.id, n->id, d.id_len) == 0) {
      /* Only the peer's current process speaks for what it holds. */
      if (msg->h.generation == peer->incarnation && d.generation == n->generation &&
          d.max_seq > peer->held_self)
        peer->held_self = d.max_seq <= n->self->max_seq ? d.max_seq : n->self->max_seq;
      rumor__liveness_claim(n, d.generation, d.max_seq);
      continue;
    }
    rumor_member *m = rumor__store_find(&n->store, d.id, d.id_len);
    if (m == NULL && (m = rumor__node_learn_member(n, d.id, d.id_len)) == NULL) continue;
    if (!rumor__gossip_addressable(n, m) && !rumor__addr_is_unspecified(&d.addr)) {
      if ((m = rumor__node_own(n, m)) == NULL) continue;
      m->addr = d.addr;
      n->store.shape++; /* it may join our ring */
    }
  }
}

/* The three legs are over, and the peer's digest showed it ahead on
 * members ours had not listed: ask for them at once, with a SYN listing
 * them (its SYNACK carries them), rather than wait for our rotation to
 * list them. Asks that bring nothing back space out like answers to a
 * differing summary (1, 2, 4 ... MAX_ANSWER_GAP rounds; news from the peer
 * starts over): a member we cannot take (a value over our max_value_size)
 * must not keep two nodes asking every round trip. */
static void ask_wanted(rumor_node_t *n, rumor_member *peer, const struct sockaddr_storage *to) {
  uint64_t now = now_ms(n);
  if (n->nwanted == 0 ||
      (peer->asked_at != 0 && now - peer->asked_at < peer->ask_gap * (uint64_t)n->cfg.gossip_interval_ms))
    return;
  rumor_wire_writer w;
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_SYN) != 0) return;
  peer->asked_at = now;
  peer->ask_gap = peer->ask_gap == 0 ? 1 : peer->ask_gap * 2;
  if (peer->ask_gap > MAX_ANSWER_GAP) peer->ask_gap = MAX_ANSWER_GAP;
  write_digest(n, &w, peer, 1);
  rumor__gossip_send(n, to, w.len);
  n->metrics.wanted_asked++;
}

/* Answers with a delta of kind (SYNACK with our digest first, or ACK);
 * what does not fit a datagram follows by TCP if the peer pulled it. */
static void answer(rumor_node_t *n, const rumor_wire_msg *msg, rumor_member *peer,
                   const struct sockaddr_storage *to, uint8_t kind) {
  rumor_wire_writer w;
  size_t nc = rumor__delta_plan(n, msg, peer);
  if (kind == RUMOR_MSG_ACK && nc == 0) {
    ask_wanted(n, peer, to);
    return;
  }
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, kind) != 0) return;
  if (kind == RUMOR_MSG_SYNACK) {
    /* The digest may take at most half the datagram: the delta is what the
     * initiator asked for. */
    size_t cap = w.cap;
    w.cap = w.len + (cap - w.len) / 2;
    write_digest(n, &w, peer, 1);
    w.cap = cap;
  }
  size_t written, nspill = rumor__delta_write(n, &w, n->cands, nc, &written);
  rumor__gossip_send(n, to, w.len);
  if (nspill > 0 && msg->digest_pull) rumor__transfer_start(n, peer, n->spill, nspill);
  if (kind == RUMOR_MSG_ACK) ask_wanted(n, peer, to);
}

void rumor__gossip_count_received(rumor_node_t *n, size_t len, int via_stream) {
  if (via_stream) {
    n->metrics.frames_received++;
    n->metrics.tcp_bytes_received += len;
  } else {
    n->metrics.datagrams_received++;
    n->metrics.bytes_received += len;
  }
}

void rumor__gossip_recv(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                        size_t len, size_t wire_len, int via_stream,
                        const rumor_sealed_info *info) {
  rumor_wire_msg msg;
  int rc = rumor__wire_decode(buf, len, &msg);
  /* A fault drops it before it counts as received: it never arrived. The
   * sender is known by its header's address when it decoded. */
  if (n->faults.active &&
      rumor__fault_recv(n, from, rc == RUMOR_WIRE_OK ? &msg.h.addr : NULL, via_stream))
    return;
  rumor__gossip_count_received(n, wire_len, via_stream);
  if (rc == RUMOR_WIRE_EVERSION) {
    n->metrics.drops_version++;
    return;
  }
  /* Streams carry deltas only; a digest there would be answered nowhere. */
  if (rc != RUMOR_WIRE_OK || (via_stream && msg.h.kind != RUMOR_MSG_ACK)) {
    n->metrics.drops_malformed++;
    return;
  }
  rumor_kind_metrics_t *k = via_stream ? NULL : kind_metrics(n, msg.h.kind);
  if (k != NULL) {
    k->datagrams_received++;
    k->bytes_received += wire_len;
  }
  if (msg.h.cluster_len != n->cluster_len || memcmp(msg.h.cluster, n->cluster, n->cluster_len) != 0) {
    n->metrics.drops_cluster++;
    return;
  }
  if (msg.h.sender_len == n->id_len && memcmp(msg.h.sender, n->id, n->id_len) == 0) {
    n->metrics.drops_self++;
    return;
  }
  /* The sender's advertised address; an unspecified IP means "where this
   * datagram came from" (a node bound to 0.0.0.0). */
  struct sockaddr_storage addr = msg.h.addr;
  int wildcard = rumor__addr_is_unspecified(&addr);
  if (!via_stream && rumor__guard_misaddressed(n, &msg, wildcard, from)) return;
  if (wildcard) rumor__addr_set_ip_from(&addr, from);
  rumor_member *peer = rumor__store_find(&n->store, msg.h.sender, msg.h.sender_len);
  /* Whatever it says, hearing from it changes its record (last_seen). */
  if (peer != NULL && (peer = rumor__node_own(n, peer)) == NULL) return;
  if (peer != NULL && (rumor__guard_spoofed(n, peer, msg.h.generation, &addr, wildcard, from) ||
                       rumor__guard_replayed(n, peer, info, msg.h.generation, from, via_stream)))
    return;
  if (msg.h.kind == RUMOR_MSG_REJECT) { /* heeded even from members we blocked */
    if (peer != NULL) rumor__liveness_heard(n, peer, msg.h.generation); /* it lives, though */
    rumor__liveness_rejected(n, &msg);
    return;
  }
  if (peer == NULL) {
    /* A sender we have no room for (max_members) is not heard at all. */
    if ((peer = rumor__node_learn_member(n, msg.h.sender, msg.h.sender_len)) == NULL) return;
    if (rumor__guard_replayed(n, peer, info, msg.h.generation, from, via_stream)) return;
  }
  if (!rumor__addr_equal(&peer->addr, &addr) &&
      !(wildcard && rumor__guard_pinned(n, peer, msg.h.generation))) {
    peer->addr = addr;
    n->store.shape++; /* it may join our ring */
  }
  if (rumor__liveness_drop(n, peer, &msg)) return;
  peer->last_seen = n->io->ops->now(n->io);
  if (msg.h.generation > peer->incarnation) {
    /* The peer restarted: what its last process held of us is gone. */
    peer->incarnation = msg.h.generation;
    peer->held_self = 0;
  }

  rumor__liveness_heard(n, peer, msg.h.generation);
  if (msg.has_summary) {
    on_summary(n, &msg, peer, from);
    return;
  }
  if (msg.has_digest) learn_from_digest(n, &msg, peer);
  size_t nnews = 0, npulls = 0;
  if (msg.has_delta) nnews = rumor__delta_apply(n, &msg, via_stream, &npulls);
  if (npulls > 0) send_pull(n, peer, npulls);
  if (nnews > 0) {
    /* News a push brought is being spread by the push; news anti-entropy
     * brought means a push missed it, so we help spread it too. */
    if (msg.h.kind != RUMOR_MSG_PUSH) rumor__gossip_activate(n);
    peer->answer_gap = peer->ask_gap = 0;
  }

  if (msg.h.kind == RUMOR_MSG_SYN)
    answer(n, &msg, peer, from, RUMOR_MSG_SYNACK);
  else if (msg.h.kind == RUMOR_MSG_SYNACK)
    answer(n, &msg, peer, from, RUMOR_MSG_ACK);
  else if (msg.h.kind == RUMOR_MSG_PUSH && nnews > 0)
    rumor__push_forward(n, &msg, peer, nnews);
}

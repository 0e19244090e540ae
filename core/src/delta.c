/* delta.c: what a peer lacks, and taking in what we lack.
 *
 * Planning reads a peer's digest (member -> generation, watermark) and lists
 * the members it is behind on, from its watermark on. A peer whose
 * watermark is below the floor of purged deletes is resynchronised: the
 * member's whole state, flagged sweep, so it drops what those deletes
 * removed (chitchat's reset, chitchat #121 and #155).
 *
 * Writing fills a datagram greedily, entries in ascending seq, so a cut-off
 * delta always leaves the receiver a prefix without gaps. What does not fit
 * (an entry too big for any datagram, a resync that cannot go whole, or
 * simply too much) is announced by the cut block's max_seq; the receiver
 * then pulls the rest from that one peer over TCP (transfer.c), so a big
 * value crosses to each node about once, not from every peer that noticed
 * the lag.
 *
 * Applying checks, per block, that it continues what we hold (it starts at
 * or below our watermark, or is a new generation from its start); a block
 * that does not is refused and re-requested by the next digest. An entry
 * of a new slot of a member that holds max_keys_per_member entries is
 * skipped, and the watermark passes it (see over_key_limit). */
#include "node_int.h"
#include "addr.h"
#include <string.h>

/* Out of memory, the candidate is left out: the peer's next digest asks again. */
static void add_cand(rumor_node_t *n, size_t *nc, rumor_member *m, uint64_t from, int sweep) {
  rumor_candidate *c = rumor__node_reserve(n->cands, &n->cands_cap, *nc + 1, sizeof *c);
  if (c == NULL) return;
  n->cands = c;
  n->cands[(*nc)++] = (rumor_candidate){m, from, sweep};
}

/* The peer's digest shows it ahead on m: our next digest to it lists m
 * first (gossip.c), so its answer carries m. */
static void want(rumor_node_t *n, rumor_member *m) {
  rumor_member **w = rumor__node_reserve(n->wanted, &n->wanted_cap, n->nwanted + 1, sizeof *w);
  if (w == NULL) return; /* the rotation gets to it */
  n->wanted = w;
  n->wanted[n->nwanted++] = m;
}

size_t rumor__delta_plan(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *peer) {
  rumor_wire_reader r = msg->digest;
  rumor_wire_digest_entry d;
  size_t nc = 0;
  uint64_t stamp = ++n->mark;
  n->nwanted = 0;
  while (rumor__wire_next_digest(&r, &d) == 1) {
    rumor_member *m = rumor__store_find(&n->store, d.id, d.id_len);
    if (m == NULL || n->marks[m->index] == stamp) continue; /* unknown, or listed twice */
    n->marks[m->index] = stamp;
    if (m != n->self && m != peer && m->status != RUMOR_MEMBER_REMOVED &&
        (d.generation > m->generation || (d.generation == m->generation && d.max_seq > m->max_seq)))
      want(n, m);
    if (m->generation == 0 || m == peer || m->status == RUMOR_MEMBER_REMOVED) continue;
    if (d.generation < m->generation)
      add_cand(n, &nc, m, 0, 0);
    else if (d.generation == m->generation && d.max_seq < m->max_seq)
      add_cand(n, &nc, m, d.max_seq < m->floor ? 0 : d.max_seq, d.max_seq < m->floor);
  }
  if (msg->digest_complete) {
    for (size_t i = 0; i < n->store.count; i++) {
      rumor_member *m = n->store.list[i];
      if (n->marks[i] != stamp && m->generation != 0 && m != peer &&
          m->status != RUMOR_MEMBER_REMOVED)
        add_cand(n, &nc, m, 0, 0);
    }
  }
  /* Our own state first (we are its only source of truth), then the rest
   * shuffled so that no member starves behind a big one (chitchat #119). */
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

int rumor__delta_add_entry(rumor_wire_writer *w, const rumor_entry *e) {
  return rumor__wire_block_add(w, (const char *)e->slot->data, e->slot->len, e->seq,
                               e->value ? 0 : RUMOR_WIRE_DELETED, e->value ? e->value->data : NULL,
                               e->value ? e->value->len : 0);
}

size_t rumor__delta_entry_size(const rumor_entry *e) {
  return rumor__wire_entry_size(e->slot->len, e->seq, e->value ? e->value->len : 0);
}

/* A full state of a member some deletes of which were purged is always a
 * sweep: it carries the floor, and the receiver must not keep what those
 * deletes removed (nor pass it on, chitchat #155). */
int rumor__delta_sweeps(const rumor_member *m, uint64_t from, int planned) {
  return planned || (from == 0 && m->floor > 0);
}

/* Writes m's entries after from into an open block; stops at the end, at
 * an entry too big for any datagram, when the datagram is full or when the
 * budget runs out. Returns the first entry not written (NULL: all). */
static const rumor_entry *write_entries(rumor_node_t *n, rumor_wire_writer *w,
                                        const rumor_member *m, uint64_t from, uint32_t *budget,
                                        size_t *written) {
  const rumor_entry *e = rumor__store_after(m, from);
  for (; e != NULL && *budget > 0; e = e->next) {
    if (rumor__delta_entry_size(e) > n->udp_entry_max || rumor__delta_add_entry(w, e) != 0) break;
    (*budget)--;
    (*written)++;
  }
  return e;
}

size_t rumor__delta_write(rumor_node_t *n, rumor_wire_writer *w, const rumor_candidate *cands,
                          size_t nc, size_t *written) {
  uint32_t budget = n->cfg.gossip_max_send;
  size_t nspill = 0;
  int full = 0;
  *written = 0;
  if (nc > 0) {
    rumor_candidate *spill = rumor__node_reserve(n->spill, &n->spill_cap, nc, sizeof *spill);
    if (spill == NULL) nc = 0; /* an empty delta: the peer asks again */
    else n->spill = spill;
  }
  if (rumor__wire_delta_begin(w) != 0) return 0;
  for (size_t i = 0; i < nc; i++) {
    rumor_member *m = cands[i].member;
    uint64_t from = cands[i].from_seq;
    if (full || budget == 0 ||
        rumor__wire_block_begin(w, (const char *)m->id->data, m->id->len, &m->addr, m->generation,
                                from, m->max_seq, m->floor) != 0) {
      full = 1;
      n->spill[nspill++] = cands[i];
      continue;
    }
    int sweep = rumor__delta_sweeps(m, from, cands[i].sweep);
    size_t before = *written;
    const rumor_entry *e = write_entries(n, w, m, from, &budget, written);
    if (e == NULL) {
      uint8_t flags = RUMOR_WIRE_COMPLETE;
      if (sweep) {
        flags |= RUMOR_WIRE_SWEEP;
        n->metrics.resyncs_sent++;
      }
      rumor__wire_block_end(w, flags);
      continue;
    }
    /* Not all of it fits. The block stays, cut short (empty for a resync,
     * which must arrive whole to sweep): its max_seq tells the peer there is
     * more, and the peer pulls the rest over TCP. */
    if (sweep) {
      rumor__wire_block_cancel(w);
      budget += (uint32_t)(*written - before);
      *written = before;
      if (rumor__wire_block_begin(w, (const char *)m->id->data, m->id->len, &m->addr,
                                  m->generation, from, m->max_seq, m->floor) != 0)
        full = 1;
    }
    if (!full) rumor__wire_block_end(w, 0);
    n->spill[nspill++] = cands[i];
    if (rumor__delta_entry_size(e) <= n->udp_entry_max) full = 1; /* out of room, not just a big entry */
  }
  rumor__wire_delta_end(w);
  return nspill;
}

/* Ends a sweep of m that covered (0, upto]: drops every entry in that
 * range the sender did not list (each listed one carries the sweep's mark)
 * and adopts the sender's floor. */
static void finish_sweep(rumor_node_t *n, rumor_member *m, uint64_t upto, uint64_t floor) {
  rumor_entry *e = m->head;
  while (e != NULL && e->seq <= upto) {
    rumor_entry *next = e->next;
    if (e->stamp != m->sweep_mark) {
      if ((e->refused ? e->kept : e->value) != NULL) rumor__node_queue_event(n, m, e->slot, NULL, upto, 0);
      rumor__store_remove(&n->store, e);
      n->metrics.entries_swept++;
    }
    e = next;
  }
  if (floor > m->floor) m->floor = floor;
  m->sweep_mark = 0;
}

/* Asks the validator about one remote entry (the engine's reserved keys
 * are not its to judge). Returns 1 to merge it; 0 after a rejection, which
 * is counted and logged. The node must not change meanwhile: its mutators
 * refuse while validating is set. */
static int validate(rumor_node_t *n, const rumor_member *m, const uint64_t *generation,
                    const rumor_wire_entry *e) {
  rumor_slot_parts p;
  if (rumor__slot_parse(e->slot, e->slot_len, &p) != 0 || rumor__liveness_reserved(p.key, p.key_len))
    return 1;
  rumor_update_t v;
  memset(&v, 0, sizeof v);
  v.member = (const char *)m->id->data;
  v.member_len = m->id->len;
  v.key = p.key;
  v.key_len = p.key_len;
  v.map_key = p.map ? p.map_key : NULL;
  v.map_key_len = p.map ? p.map_key_len : 0;
  v.deleted = (e->flags & RUMOR_WIRE_DELETED) != 0;
  v.value = v.deleted ? (const uint8_t *)"" : e->value;
  v.value_len = v.deleted ? 0 : e->value_len;
  v.seq = e->seq;
  v.generation = *generation;
  const char *reason = NULL;
  n->validating = 1;
  int verdict = n->validate(n, &v, &reason, n->validate_arg);
  n->validating = 0;
  if (verdict == 0) return 1;
  n->metrics.entries_rejected++;
  rumor__log(n, RUMOR_LOG_WARN, "rejected %s's %.*s%s%.*s (seq %llu): %s", v.member, (int)p.key_len,
             p.key, p.map ? " / " : "", (int)v.map_key_len, p.map ? p.map_key : "",
             (unsigned long long)e->seq, reason != NULL && reason[0] ? reason : "no reason given");
  return 0;
}

/* Whether a remote entry for a new slot of m must be refused because m
 * holds max_keys_per_member entries (counted, and said once per crossing).
 * The engine's reserved keys never are: liveness depends on them.
 *
 * Unlike a value over max_value_size, which stops the block so the
 * watermark stays before it, a refused entry is skipped and the rest of
 * the block applied: the member's later entries (updates of the keys held,
 * deletes, heartbeats) keep arriving, and the watermark passing the
 * refused seq means nothing asks for it again. This node then holds, and
 * relays, that member without those keys, until it writes them anew. */
static int over_key_limit(rumor_node_t *n, rumor_member *m, const rumor_wire_entry *e) {
  rumor_slot_parts p;
  if (!rumor__node_keys_full(n, m)) {
    m->keys_full = 0;
    return 0;
  }
  if (rumor__slot_parse(e->slot, e->slot_len, &p) != 0 || rumor__liveness_reserved(p.key, p.key_len))
    return 0;
  n->metrics.entries_over_limit++;
  if (!m->keys_full) {
    m->keys_full = 1;
    rumor__log(n, RUMOR_LOG_WARN,
               "refused new keys of %s: it holds %zu entries, max_keys_per_member is %u "
               "(the first refused: %.*s%s%.*s, seq %llu)", (const char *)m->id->data,
               m->nlive + m->ntombstones, (unsigned)n->cfg.max_keys_per_member, (int)p.key_len,
               p.key, p.map ? " / " : "", p.map ? (int)p.map_key_len : 0, p.map ? p.map_key : "",
               (unsigned long long)e->seq);
  }
  return 1;
}

/* Applies one block to m. Returns 1 if it brought anything new.
 *
 * A sweep starts with a block from seq 0 and may span several frames of
 * one transfer; listed entries are marked as it goes and only its complete
 * last block drops the unmarked ones, so a key that a later frame updates
 * is never reported deleted in between. */
static int apply_block(rumor_node_t *n, rumor_member *m, rumor_wire_block *b, uint64_t now) {
  /* Older than we know, or the generation whose state we dropped for good. */
  if (b->generation < m->generation ||
      (m->status == RUMOR_MEMBER_REMOVED && b->generation <= m->blocked_gen)) {
    n->metrics.deltas_stale++;
    return 0;
  }
  if (b->generation > m->generation) {
    if (b->from_seq != 0) { /* a newer generation must arrive from its start */
      n->metrics.deltas_gap++;
      return 0;
    }
    if (m->generation != 0) n->metrics.generations_replaced++;
    rumor__store_reset(&n->store, m, b->generation);
    rumor__liveness_generation(n, m);
  } else if (b->from_seq > m->max_seq) {
    n->metrics.deltas_gap++;
    return 0;
  }
  if (b->sweep && b->from_seq == 0) m->sweep_mark = ++n->sweep_stamp;
  uint64_t mark = b->sweep ? m->sweep_mark : 0; /* 0: not part of a sweep we saw start */
  int news = 0;
  rumor_wire_entry e;
  while (rumor__wire_next_entry(&b->entries, &e) == 1) {
    rumor_entry *have = rumor__store_entry(m, e.slot, e.slot_len);
    /* Ours is as new or newer; or it is old news we may have purged the
     * delete of (at or below our floor), which must not come back. */
    if ((have != NULL && have->seq >= e.seq) ||
        (have == NULL && e.seq <= m->max_seq && e.seq <= m->floor)) {
      if (have != NULL && have->seq == e.seq && mark) have->stamp = mark;
      n->metrics.entries_ignored++;
      continue;
    }
    /* Bigger than we take (a peer with a larger max_value_size, or a
     * forged datagram): stop here; the watermark stays before it. */
    if (e.value_len > n->cfg.max_value_size) {
      n->metrics.entries_too_big++;
      rumor_slot_parts p;
      /* Peers offer it again and again: said once per entry, not per offer. */
      int said = m->too_big_seq == e.seq && m->too_big_gen == b->generation;
      m->too_big_seq = e.seq;
      m->too_big_gen = b->generation;
      if (!said && rumor__log_wanted(n, RUMOR_LOG_WARN) && rumor__slot_parse(e.slot, e.slot_len, &p) == 0)
        rumor__log(n, RUMOR_LOG_WARN, "refused %s's %.*s%s%.*s (seq %llu): %zu bytes, more than max_value_size %u",
                   (const char *)m->id->data, (int)p.key_len, p.key, p.map ? " / " : "",
                   p.map ? (int)p.map_key_len : 0, p.map ? p.map_key : "",
                   (unsigned long long)e.seq, e.value_len, (unsigned)n->cfg.max_value_size);
      return news;
    }
    if (have == NULL && over_key_limit(n, m, &e)) continue;
    int refused = n->validate != NULL && !validate(n, m, &b->generation, &e);
    /* A refused entry is stored all the same, hidden behind what this node
     * had (kept): the watermark stays honest, so nothing is re-sent, the
     * next frame of a transfer is no gap, and peers that sync this member
     * from us still get it to judge for themselves. */
    rumor_blob *kept = NULL;
    uint64_t kept_seq = 0;
    if (refused && have != NULL) {
      rumor_blob *shown = have->refused ? have->kept : have->value;
      kept = shown != NULL ? rumor__blob_ref(shown) : NULL;
      kept_seq = have->refused ? have->kept_seq : have->seq;
    }
    rumor_blob *v = NULL;
    if (!(e.flags & RUMOR_WIRE_DELETED) && (v = rumor__blob_new(e.value, e.value_len)) == NULL) {
      rumor__blob_unref(kept);
      return news; /* out of memory: the watermark stays below what we lack */
    }
    rumor_entry *ent = rumor__store_put(&n->store, m, e.slot, e.slot_len, e.seq, v, now);
    rumor__blob_unref(v);
    if (ent == NULL) {
      rumor__blob_unref(kept);
      return news;
    }
    ent->stamp = mark;
    if (refused) {
      ent->refused = 1;
      ent->kept = kept;
      ent->kept_seq = kept_seq;
      continue; /* no update: this node's view did not change */
    }
    n->metrics.entries_merged++;
    m->last_seen = now;
    news = 1;
    rumor__node_queue_event(n, m, ent->slot, ent->value, ent->seq, 0);
  }
  if (b->complete && mark) finish_sweep(n, m, b->max_seq, b->floor);
  if (b->complete && b->max_seq > m->max_seq) m->max_seq = b->max_seq;
  n->store.version++;
  return news;
}

size_t rumor__delta_apply(rumor_node_t *n, const rumor_wire_msg *msg, int via_stream,
                          size_t *npulls) {
  rumor_wire_reader r = msg->delta;
  rumor_wire_block b;
  uint64_t now = n->io->ops->now(n->io);
  size_t nnews = 0;
  /* An answer to our digest that could not carry all the sender has: ask
   * it for the rest over TCP (once per member until that times out). */
  int may_pull = !via_stream && (msg->h.kind == RUMOR_MSG_SYNACK || msg->h.kind == RUMOR_MSG_ACK);
  *npulls = 0;
  while (rumor__wire_next_block(&r, &b) == 1) {
    if (b.id_len == n->id_len && memcmp(b.id, n->id, b.id_len) == 0) {
      /* Only we write our keys. A newer generation of us means another
       * process runs under our id (or a forgery): we rejoin above it. */
      if (b.generation > n->generation) n->metrics.drops_self++;
      rumor__liveness_claim(n, b.generation, b.max_seq);
      continue;
    }
    rumor_member *m = rumor__store_find(&n->store, b.id, b.id_len);
    /* A member we have no room for (max_members): skip its block only. */
    if (m == NULL && (m = rumor__node_learn_member(n, b.id, b.id_len)) == NULL) continue;
    if ((m = rumor__node_own(n, m)) == NULL) continue; /* asked for again */
    if (!rumor__gossip_addressable(n, m) && !rumor__addr_is_unspecified(&b.addr)) {
      m->addr = b.addr;
      n->store.shape++; /* it may join our ring */
    }
    uint64_t from = b.from_seq;
    if (apply_block(n, m, &b, now)) {
      rumor__gossip_note_recent(n, m);
      rumor_candidate *c = rumor__node_reserve(n->news, &n->news_cap, nnews + 1, sizeof *c);
      if (c != NULL) { /* out of memory: it is not forwarded, anti-entropy spreads it */
        n->news = c;
        n->news[nnews++] = (rumor_candidate){m, from, 0};
      }
    }
    if (m->generation != b.generation || m->max_seq >= b.max_seq) continue;
    if (via_stream) {
      m->pull_until = now + n->cfg.gossip_request_timeout_ms; /* a transfer is making progress */
    } else if (may_pull && now >= m->pull_until) {
      rumor_member **p = rumor__node_reserve(n->pulls, &n->pulls_cap, *npulls + 1, sizeof *p);
      if (p == NULL) continue; /* pulled after the next digest */
      n->pulls = p;
      m->pull_until = now + n->cfg.gossip_request_timeout_ms;
      n->pulls[(*npulls)++] = m;
    }
  }
  return nnews;
}

/* liveness.c: heartbeats, failure detection, blocks, rejoining, topology
 * from outside, and graceful leave (the contract is in rumor.h, section
 * "Liveness").
 *
 * Beats are the round SYNs between ring neighbours (gossip.c); each node
 * runs the detector (expiration or phi) only on its two neighbours, on its
 * own clock. A block holds for the generation the member had: its datagrams
 * are dropped and answered with a REJECT naming that generation, and the
 * observer publishes it under the map key "blocked", which every other node
 * takes over. So one node's verdict is everyone's, within the time its
 * block takes to spread, and nobody has to hear from everyone. A node that
 * learns either way that it was blocked as expired renumbers its state
 * under a new generation, which every observer takes as a member joining
 * again (a wrong verdict costs that, like SWIM's refutation).
 *
 * The heartbeat entry holds figures (uptime, members alive, stats): it is
 * rewritten only when they change, and not often (HEARTBEAT_*_ROUNDS).
 *
 * Entries arrive in the middle of a merge, so what they call for (a block
 * for a left key, a rejoin) is noted there and made in
 * rumor__liveness_settle, once the merge is over. */
#include "node_int.h"
#include "addr.h"
#include "heartbeat.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char HEARTBEAT_KEY[] = "heartbeat";
static const char LEFT_KEY[] = "left";
static const char BLOCKED_KEY[] = "blocked";
#define KEYLEN(k) (sizeof(k) - 1)

/* A round that starts this much later than planned means our own loop was
 * stalled (SIGSTOP, swapping, a long callback): two intervals, since timers
 * on a loaded host run late by a fraction of one routinely. */
#define STALL_FACTOR 2
/* Intervals between beats longer than this many rounds are an outage, not
 * the rhythm the phi detector should learn. */
#define MAX_RHYTHM_ROUNDS 10
/* A node with live peers still knocks at one expired member every 10
 * rounds (5 s at the default interval), so a healed partition or outage
 * reunites within seconds for one datagram per 10 rounds (Serf reconnects
 * to failed members every 30 s). */
#define PROBE_EVERY_ROUNDS 10
/* The heartbeat entry is rewritten at most every 10 rounds (5 s at the
 * default interval): figures that change every round (a request counter)
 * then cost each member one entry per 5 s, not one per round, and are at
 * most 5 s stale. */
#define HEARTBEAT_MIN_ROUNDS 10
/* A new neighbour that has not beat lately must answer our probe within 6
 * rounds (3 s at the default interval): a round trip, a lost datagram and a
 * retry. A run of dead members with neighbouring ids (one rack) is then
 * blocked a few rounds apart, not a whole window apart. */
#define NEW_NEIGHBOUR_ROUNDS 6
/* ln 10, to turn a phi threshold into a silence. */
#define LN10 2.302585092994046
/* A change of the members it sees alive alone waits 120 rounds (a minute at
 * the default interval), except the first after start (the join): every
 * join or block changes that figure on every node at once, and a rewrite
 * each is N entries for each of N nodes, which at N=1000 kept a joining
 * cluster busy for tens of seconds. */
#define HEARTBEAT_ALIVE_ROUNDS 120

int rumor__liveness_reserved(const char *key, size_t len) {
  return (len == KEYLEN(HEARTBEAT_KEY) && memcmp(key, HEARTBEAT_KEY, len) == 0) ||
         (len == KEYLEN(LEFT_KEY) && memcmp(key, LEFT_KEY, len) == 0) ||
         (len == KEYLEN(BLOCKED_KEY) && memcmp(key, BLOCKED_KEY, len) == 0);
}

static int is_plain(const rumor_blob *slot, const char *key, size_t len) {
  return slot->len == len + 1 && slot->data[0] == RUMOR_SLOT_PLAIN &&
         memcmp(slot->data + 1, key, len) == 0;
}

const rumor_entry *rumor__liveness_heartbeat(const rumor_member *m) {
  uint8_t slot[1 + KEYLEN(HEARTBEAT_KEY)];
  size_t len = rumor__slot_encode(slot, HEARTBEAT_KEY, KEYLEN(HEARTBEAT_KEY), NULL, 0);
  return rumor__store_entry(m, (const char *)slot, len);
}

const char *rumor_block_reason_name(int reason) {
  switch (reason) {
  case RUMOR_BLOCK_EXPIRED: return "expired";
  case RUMOR_BLOCK_LEFT: return "left";
  case RUMOR_BLOCK_POLICY: return "policy";
  case RUMOR_BLOCK_TOPOLOGY: return "topology";
  default: return "";
  }
}

const char *rumor_member_event_name(int type) {
  switch (type) {
  case RUMOR_EVENT_JOINED: return "joined";
  case RUMOR_EVENT_ALIVE: return "alive";
  case RUMOR_EVENT_BLOCKED: return "blocked";
  case RUMOR_EVENT_REMOVED: return "removed";
  case RUMOR_EVENT_REJOINED: return "rejoined";
  default: return "";
  }
}

static uint64_t now_ms(rumor_node_t *n) { return n->io->ops->now(n->io); }

size_t rumor__liveness_alive(const rumor_node_t *n) {
  size_t alive = 1;
  for (size_t i = 1; i < n->store.count; i++) {
    const rumor_member *m = n->store.list[i];
    if (m->status == RUMOR_MEMBER_ALIVE && m->generation != 0) alive++;
  }
  return alive;
}

/* ---- our own entries ---------------------------------------------------- */

static void write_heartbeat_saying(rumor_node_t *n, uint32_t alive) {
  uint8_t value[RUMOR_MAX_HEARTBEAT];
  uint64_t now = now_ms(n);
  size_t len = rumor__heartbeat_write(value, now - n->started_at, alive, n->stats, n->stats_len);
  uint8_t slot[1 + KEYLEN(HEARTBEAT_KEY)];
  size_t slot_len = rumor__slot_encode(slot, HEARTBEAT_KEY, KEYLEN(HEARTBEAT_KEY), NULL, 0);
  if (rumor__node_write(n, slot, slot_len, value, len, 0, 0) > 0) {
    n->hb_written_at = now;
    n->hb_alive = alive;
    n->hb_stale = 0;
  }
}

/* rumor__liveness_alive, cached while no member's status or generation
 * moves (each bumps the store's shape): refresh_heartbeat asks every round. */
static uint32_t alive_now(rumor_node_t *n) {
  if (!n->alive_cached || n->alive_shape != n->store.shape) {
    n->alive_count = (uint32_t)rumor__liveness_alive(n);
    n->alive_shape = n->store.shape;
    n->alive_cached = 1;
  }
  return n->alive_count;
}

static void write_heartbeat(rumor_node_t *n) { write_heartbeat_saying(n, alive_now(n)); }

void rumor__liveness_converged(rumor_node_t *n, uint32_t alive) {
  write_heartbeat_saying(n, alive);
  /* Everyone will hold it already: nothing to push, no rounds of full
   * exchanges to repair what a push missed (a write makes both). */
  n->pushed_seq = n->self->max_seq;
  n->active_until = 0;
}

/* The figures changed, and the last rewrite is old enough. */
static void refresh_heartbeat(rumor_node_t *n, uint64_t now) {
  uint64_t since = now - n->hb_written_at, interval = n->cfg.gossip_interval_ms;
  uint64_t alive_wait = n->hb_written_at == n->started_at ? HEARTBEAT_MIN_ROUNDS
                                                          : HEARTBEAT_ALIVE_ROUNDS;
  if (n->hb_stale ? since >= HEARTBEAT_MIN_ROUNDS * interval
                  : since >= alive_wait * interval &&
                      n->hb_alive != alive_now(n))
    write_heartbeat(n);
}

/* Publishes (or, del, withdraws) our block of m under "blocked". */
static void publish_block(rumor_node_t *n, const rumor_member *m, int del) {
  uint8_t slot[RUMOR_WIRE_MAX_SLOT], value[21]; /* two varints and a byte */
  size_t slot_len = rumor__slot_encode(slot, BLOCKED_KEY, KEYLEN(BLOCKED_KEY),
                                       (const char *)m->id->data, m->id->len);
  if (slot_len == 0) return;
  if (del) {
    const rumor_entry *e = rumor__store_entry(n->self, (const char *)slot, slot_len);
    if (e != NULL && e->value != NULL) rumor__node_write(n, slot, slot_len, NULL, 0, 1, 0);
    return;
  }
  size_t len = rumor__varint_put(value, m->blocked_gen);
  value[len++] = (uint8_t)m->block_reason;
  if (m->block_reason == RUMOR_BLOCK_EXPIRED) len += rumor__varint_put(value + len, m->block_silence);
  rumor__node_write(n, slot, slot_len, value, len, 0, 0);
}

/* Reads a "blocked" value: generation (v), reason, and for an expiry the
 * judge's silence (v; absent in older values). 0, or -1. */
static int parse_block(const rumor_blob *v, uint64_t *gen, int *reason, uint64_t *silence) {
  size_t off = 0;
  if (rumor__varint_get(v->data, v->len, &off, gen) != 0 || off + 1 > v->len) return -1;
  *reason = v->data[off++];
  *silence = 0;
  if (off < v->len && (rumor__varint_get(v->data, v->len, &off, silence) != 0 || off != v->len))
    return -1;
  return 0;
}

/* ---- blocks --------------------------------------------------------------- */

/* Why a block was made, kept with it (rumor_member_info_t.block_detail). */
typedef struct why {
  const char *detail;     /* words, or NULL */
  const rumor_blob *by;   /* the judge whose verdict we took over, or NULL */
  uint64_t silence;       /* EXPIRED: the silence at the block */
} why_t;

static void forget_why(rumor_member *m) {
  free(m->block_detail);
  m->block_detail = NULL;
  rumor__blob_unref(m->blocked_by);
  m->blocked_by = NULL;
  m->block_silence = 0;
}

/* Keeps why (copied, detail cut at RUMOR_MAX_BLOCK_DETAIL bytes) and logs
 * the block: a failure as a warning, a decision as information. */
static void note_why(rumor_node_t *n, rumor_member *m, const why_t *w) {
  forget_why(m);
  if (w->detail != NULL && w->detail[0] != '\0') {
    size_t len = strnlen(w->detail, RUMOR_MAX_BLOCK_DETAIL);
    /* Cut on a character boundary: never half a UTF-8 sequence. */
    if (w->detail[len] != '\0')
      while (len > 0 && ((unsigned char)w->detail[len] & 0xC0) == 0x80) len--;
    if ((m->block_detail = malloc(len + 1)) != NULL) {
      memcpy(m->block_detail, w->detail, len);
      m->block_detail[len] = '\0';
    }
  }
  if (w->by != NULL) m->blocked_by = rumor__blob_ref((rumor_blob *)w->by);
  m->block_silence = w->silence;
  int level = m->block_reason == RUMOR_BLOCK_EXPIRED ? RUMOR_LOG_WARN : RUMOR_LOG_INFO;
  if (!rumor__log_wanted(n, level)) return;
  rumor__log(n, level, "blocked %s (generation %llu) as %s%s%s%s%s", (const char *)m->id->data,
             (unsigned long long)m->blocked_gen, rumor_block_reason_name(m->block_reason),
             m->block_detail ? ": " : "", m->block_detail ? m->block_detail : "",
             m->blocked_by ? ", on the verdict of " : "",
             m->blocked_by ? (const char *)m->blocked_by->data : "");
}

/* publish: our own verdict, published under "blocked" (adopted verdicts and
 * left members are not: the judge's entry and the left key already say it,
 * and N copies of every death cost N^2). */
static void block(rumor_node_t *n, rumor_member *m, int reason, int publish, const why_t *w) {
  if (m == n->self || (m = rumor__node_own(n, m)) == NULL) return;
  if (m->status != RUMOR_MEMBER_ALIVE) {
    /* Already blocked: a left key still says why it went. */
    if (m->status == RUMOR_MEMBER_BLOCKED && reason == RUMOR_BLOCK_LEFT &&
        m->block_reason == RUMOR_BLOCK_EXPIRED) {
      m->block_reason = reason;
      publish_block(n, m, 1); /* the left key says it now */
      note_why(n, m, w);
      rumor__node_queue_member(n, m, RUMOR_EVENT_BLOCKED, reason);
    }
    return;
  }
  m->status = RUMOR_MEMBER_BLOCKED;
  n->nblocked++;
  n->store.shape++; /* off our ring */
  m->block_reason = reason;
  /* Before any state, the newest process we heard from is the one blocked. */
  m->blocked_gen = m->generation > m->incarnation ? m->generation : m->incarnation;
  m->blocked_at = now_ms(n);
  m->rejected_at = 0;
  n->metrics.members_blocked++;
  note_why(n, m, w);
  if (publish) publish_block(n, m, 0);
  /* Not while a rejoin re-judges a member that never stopped being blocked
   * (rejoin): for those watching, nothing changed. */
  if (!n->rejudging) rumor__node_queue_member(n, m, RUMOR_EVENT_BLOCKED, reason);
}

/* A member of the same generation taken back (our own stale verdict
 * withdrawn, a topology block lifted): it is reported joined, and alive at
 * once when its heartbeat entry is already here (no new one will arrive to
 * say so). */
static void announce_back(rumor_node_t *n, rumor_member *m) {
  rumor__node_queue_member(n, m, RUMOR_EVENT_JOINED, 0);
  if (m->has_figures && m->status == RUMOR_MEMBER_ALIVE)
    rumor__node_queue_member(n, m, RUMOR_EVENT_ALIVE, 0);
}

static const why_t LEFT_WHY = {"it left (published the left key)", NULL, 0};
static const why_t TOPOLOGY_WHY = {"not in the topology last set", NULL, 0};

static void unblock(rumor_node_t *n, rumor_member *m) {
  if (m->status == RUMOR_MEMBER_ALIVE) return;
  assert(!m->shared); /* a share's members are alive */
  forget_why(m);
  if (m->status == RUMOR_MEMBER_BLOCKED) n->nblocked--;
  m->status = RUMOR_MEMBER_ALIVE;
  n->store.version++; /* a removed one counts in the summary again */
  n->store.shape++;    /* and is on our ring */
  m->block_reason = RUMOR_BLOCK_NONE;
  m->blocked_gen = m->blocked_at = 0;
  rumor__detector_reset(&m->fd, now_ms(n));
  publish_block(n, m, 1);
}

int rumor_node_block_detail(rumor_node_t *n, const char *id, size_t id_len, int reason,
                            const char *detail) {
  if (rumor__node_busy(n)) return RUMOR_ESTATE;
  if (n->state == NODE_CLOSING || id == NULL) return RUMOR_EINVAL;
  if (reason != RUMOR_BLOCK_POLICY && reason != RUMOR_BLOCK_TOPOLOGY) return RUMOR_EINVAL;
  rumor_member *m = rumor__store_find(&n->store, id, id_len);
  if (m == NULL || m == n->self) return RUMOR_EINVAL;
  why_t w = {detail, NULL, 0};
  block(n, m, reason, 1, &w);
  rumor__node_after_change(n);
  return 0;
}

int rumor_node_block(rumor_node_t *n, const char *id, size_t id_len, int reason) {
  return rumor_node_block_detail(n, id, id_len, reason, NULL);
}

void rumor_node_blocked(const rumor_node_t *n, rumor_id_cb cb, void *arg) {
  if (cb == NULL) return;
  for (size_t i = 1; i < n->store.count; i++) {
    const rumor_member *m = n->store.list[i];
    if (m->status == RUMOR_MEMBER_BLOCKED) cb((const char *)m->id->data, m->id->len, arg);
  }
}

/* Drops the state of members blocked longer than the retention period. Their
 * id and blocked generation stay, so stale gossip cannot bring them back. */
static void retire(rumor_node_t *n, uint64_t now) {
  if (n->nblocked == 0) return; /* the usual round: no walk */
  for (size_t i = 1; i < n->store.count; i++) {
    rumor_member *m = n->store.list[i];
    if (m->status != RUMOR_MEMBER_BLOCKED || now - m->blocked_at < n->cfg.blocked_retention_ms)
      continue;
    uint64_t gen = m->generation;
    rumor__store_reset(&n->store, m, gen);
    m->status = RUMOR_MEMBER_REMOVED;
    n->nblocked--;
    n->store.version++;
    n->store.shape++;
    m->left = 0;
    m->has_figures = 0; /* its heartbeat entry went with its state */
    n->metrics.members_removed++;
    publish_block(n, m, 1);
    rumor__log(n, RUMOR_LOG_INFO, "removed the state of %s, blocked (as %s) for %llu ms",
               (const char *)m->id->data, rumor_block_reason_name(m->block_reason),
               (unsigned long long)(now - m->blocked_at));
    rumor__node_queue_member(n, m, RUMOR_EVENT_REMOVED, m->block_reason);
  }
}

/* ---- detection ------------------------------------------------------------ */

/* The silence that blocks a member: heartbeat_expiration_ms, or for phi the
 * silence that reaches the threshold at the expected rhythm (0: never). */
static uint64_t window_ms(const rumor_node_t *n) {
  uint64_t rhythm = RUMOR_BEAT_ROUNDS * (uint64_t)n->cfg.gossip_interval_ms;
  if (n->cfg.failure_detector == RUMOR_FD_PHI)
    return (uint64_t)(n->cfg.phi_threshold * LN10 * (double)rhythm);
  return n->cfg.heartbeat_expiration_ms;
}

/* How close m is to a block: 1 blocks. */
static double suspicion(const rumor_node_t *n, const rumor_member *m, uint64_t now) {
  if (n->cfg.failure_detector == RUMOR_FD_PHI)
    return rumor__detector_phi(&m->fd, now, RUMOR_BEAT_ROUNDS * (uint64_t)n->cfg.gossip_interval_ms) /
           n->cfg.phi_threshold;
  if (n->cfg.heartbeat_expiration_ms == 0) return 0;
  return (double)rumor__detector_age(&m->fd, now) / (double)n->cfg.heartbeat_expiration_ms;
}

/* Judges our ring neighbours. A neighbour silent for half the window is
 * asked directly, once a round (a full SYN, which any live process answers,
 * even one whose ring is not ours: its answer, even a rejection, is a
 * beat). So a block means "did not answer", not "did not pick us". A new
 * neighbour (a member that joined between us, one the ring closed over
 * after a block) that has not beat lately has NEW_NEIGHBOUR_ROUNDS to
 * answer: it is asked at once. */
static void detect(rumor_node_t *n, uint64_t now) {
  rumor_member *pred, *succ;
  uint64_t window = window_ms(n), grace = NEW_NEIGHBOUR_ROUNDS * (uint64_t)n->cfg.gossip_interval_ms;
  rumor__gossip_neighbours(n, &pred, &succ);
  /* Only the two we judged last round can be watched: the round costs two
   * members, not a walk of all of them. */
  for (int i = 0; i < 2; i++) {
    rumor_member *m = n->watching[i];
    if (m != NULL && m != pred && m != succ && (m = rumor__node_own(n, m)) != NULL) m->watched = 0;
    n->watching[i] = NULL;
  }
  rumor_member *neighbours[2] = {pred, succ != pred ? succ : NULL};
  for (int i = 0; i < 2; i++) {
    rumor_member *m = neighbours[i];
    if (m == NULL) continue;
    int was = m->watched;
    if (!was) {
      if ((m = rumor__node_own(n, m)) == NULL) continue; /* judged next round */
      m->watched = 1;
    }
    n->watching[i] = m;
    if (window == 0) continue;
    if (!was) rumor__detector_watch(&m->fd, window > grace && now > window - grace ? now - (window - grace) : now);
    double level = suspicion(n, m, now);
    if (level > 1.0) {
      char words[96];
      uint64_t silence = rumor__detector_age(&m->fd, now);
      if (n->cfg.failure_detector == RUMOR_FD_PHI)
        snprintf(words, sizeof words, "phi %.1f over %.1f after %llu ms without a heartbeat",
                 level * n->cfg.phi_threshold, n->cfg.phi_threshold, (unsigned long long)silence);
      else
        snprintf(words, sizeof words, "no heartbeat for %llu ms (heartbeat_expiration_ms %u)",
                 (unsigned long long)silence, (unsigned)n->cfg.heartbeat_expiration_ms);
      why_t w = {words, NULL, silence};
      block(n, m, RUMOR_BLOCK_EXPIRED, 1, &w);
    } else if (level > 0.5) {
      rumor__gossip_syn(n, m);
      n->metrics.probes_sent++;
    }
  }
}

/* Time our own loop did not run must not count against anyone. */
static void check_stall(rumor_node_t *n, uint64_t now) {
  uint64_t interval = n->cfg.gossip_interval_ms;
  uint64_t gap = now - n->last_round;
  n->last_round = now;
  if (gap <= STALL_FACTOR * interval) return;
  n->metrics.stalls++;
  for (size_t i = 1; i < n->store.count; i++) {
    rumor_member *m = rumor__node_own(n, n->store.list[i]);
    if (m != NULL) rumor__detector_shift(&m->fd, gap - interval, now);
  }
}

void rumor__liveness_start(rumor_node_t *n) { write_heartbeat(n); }

int rumor__liveness_round(rumor_node_t *n) {
  uint64_t now = now_ms(n);
  check_stall(n, now);
  if (n->on_round != NULL) {
    n->on_round(n, n->on_round_arg);
    if (n->state != NODE_RUNNING) return 0;
  }
  now = now_ms(n);
  refresh_heartbeat(n, now);
  detect(n, now);
  retire(n, now);
  return 1;
}

/* A member we blocked as expired, which a probe may find back. */
static int probed(const rumor_node_t *n, const rumor_member *m) {
  return m->status != RUMOR_MEMBER_ALIVE && m->block_reason == RUMOR_BLOCK_EXPIRED &&
         rumor__gossip_addressable(n, m);
}

void rumor__liveness_probe(rumor_node_t *n, int alone) {
  if (!alone && n->metrics.rounds % PROBE_EVERY_ROUNDS != 0) return;
  size_t k = 0, seeds = 0;
  for (size_t i = 1; i < n->store.count; i++) k += probed(n, n->store.list[i]);
  /* Seeds whose member is blocked for another reason (it left, say): its
   * address may host a new process by now. */
  for (size_t i = 0; i < n->nseeds; i++) seeds += rumor__gossip_seed_known(n, &n->seeds[i]) < 0;
  if (k + seeds == 0) return;
  uint64_t pick = rumor__rng_below(&n->rng, k + seeds);
  if (pick < k) { /* the pick-th, found by a second walk rather than a list of all */
    for (size_t i = 1; i < n->store.count; i++)
      if (probed(n, n->store.list[i]) && pick-- == 0) {
        rumor__gossip_syn(n, n->store.list[i]);
        return;
      }
  }
  for (size_t i = 0; i < n->nseeds; i++)
    if (rumor__gossip_seed_known(n, &n->seeds[i]) < 0 && pick-- == k) {
      rumor__gossip_probe_seed(n, &n->seeds[i]);
      return;
    }
}

/* ---- what arrives --------------------------------------------------------- */

/* Another live member blocked v's generation gen as gone (expired or
 * left): its verdict is ours. A member that is in fact alive learns of the
 * block and rejoins under a new generation. */
static void adopt(rumor_node_t *n, rumor_member *v, uint64_t gen, int reason, uint64_t silence,
                  const rumor_member *judge) {
  if (v == n->self || v->status != RUMOR_MEMBER_ALIVE || v->generation != gen ||
      (reason != RUMOR_BLOCK_EXPIRED && reason != RUMOR_BLOCK_LEFT))
    return;
  n->metrics.blocks_adopted++;
  char words[96];
  words[0] = '\0';
  if (reason == RUMOR_BLOCK_EXPIRED && silence > 0)
    snprintf(words, sizeof words, "no heartbeat for %llu ms at its neighbour",
             (unsigned long long)silence);
  why_t w = {reason == RUMOR_BLOCK_LEFT ? LEFT_WHY.detail : words, judge->id, silence};
  block(n, v, reason, 0, &w);
}

/* On first sight of m's generation: blocks of it others published. */
/* Members that ever published a block we took: only they can hold a
 * verdict on a member we see anew. Walking them, not every member, keeps a
 * cluster forming from costing O(N) per new member at each node (O(N^3) in
 * all); in a healthy cluster they are few. Members are never freed, so the
 * list holds plain pointers; it is not shrunk when one stops publishing. */
static void note_publisher(rumor_node_t *n, rumor_member *m) {
  if (m->publishes) return;
  if (n->npublishers == n->publishers_cap) {
    size_t cap = n->publishers_cap ? n->publishers_cap * 2 : 8;
    rumor_member **p = realloc(n->publishers, cap * sizeof *p);
    if (p == NULL) return; /* out of memory: its verdicts are taken as they arrive only */
    n->publishers = p;
    n->publishers_cap = cap;
  }
  n->publishers[n->npublishers++] = m;
  m->publishes = 1;
}

static void adopt_published(rumor_node_t *n, rumor_member *m) {
  uint8_t slot[RUMOR_WIRE_MAX_SLOT];
  uint64_t gen, silence;
  int reason;
  size_t len = rumor__slot_encode(slot, BLOCKED_KEY, KEYLEN(BLOCKED_KEY), (const char *)m->id->data,
                                  m->id->len);
  for (size_t i = 0; i < n->npublishers && m->status == RUMOR_MEMBER_ALIVE; i++) {
    const rumor_member *x = n->publishers[i];
    if (x == m || x->status != RUMOR_MEMBER_ALIVE) continue;
    const rumor_entry *e = rumor__store_entry(x, (const char *)slot, len);
    if (e != NULL && e->value != NULL && parse_block(e->value, &gen, &reason, &silence) == 0)
      adopt(n, m, gen, reason, silence, x);
  }
}

void rumor__liveness_entry(rumor_node_t *n, rumor_member *m, const rumor_blob *slot,
                           const rumor_blob *value) {
  if (value == NULL) return;
  if (is_plain(slot, HEARTBEAT_KEY, KEYLEN(HEARTBEAT_KEY))) {
    if (!m->has_figures && m->status == RUMOR_MEMBER_ALIVE)
      rumor__node_queue_member(n, m, RUMOR_EVENT_ALIVE, 0);
    m->has_figures = 1;
    return;
  }
  if (is_plain(slot, LEFT_KEY, KEYLEN(LEFT_KEY))) {
    m->left = 1;
    n->left_pending = 1;
    return;
  }
  rumor_slot_parts p;
  uint64_t gen, silence;
  int reason;
  if (rumor__slot_parse((const char *)slot->data, slot->len, &p) != 0 || !p.map ||
      p.key_len != KEYLEN(BLOCKED_KEY) || memcmp(p.key, BLOCKED_KEY, p.key_len) != 0 ||
      parse_block(value, &gen, &reason, &silence) != 0)
    return;
  note_publisher(n, m);
  if (p.map_key_len == n->id_len && memcmp(p.map_key, n->id, n->id_len) == 0) {
    /* m says it blocked this very process of ours. */
    if (gen == n->generation && reason == RUMOR_BLOCK_EXPIRED && n->cfg.auto_rejoin && !n->leaving)
      n->rejoin_reason = reason;
    return;
  }
  rumor_member *v = rumor__store_find(&n->store, p.map_key, p.map_key_len);
  if (v != NULL && m->status == RUMOR_MEMBER_ALIVE) adopt(n, v, gen, reason, silence, m);
}

void rumor__liveness_generation(rumor_node_t *n, rumor_member *m) {
  if (m->status != RUMOR_MEMBER_ALIVE && m->blocked_gen == 0 &&
      (m->block_reason == RUMOR_BLOCK_POLICY || m->block_reason == RUMOR_BLOCK_TOPOLOGY)) {
    /* Blocked by name before we knew any process of it: the decision is
     * about the member, so it holds for the first generation we see. */
    m->blocked_gen = m->generation;
    publish_block(n, m, 0);
    return;
  }
  if (m->status != RUMOR_MEMBER_ALIVE && m->generation <= m->blocked_gen) return;
  unblock(n, m);
  rumor__detector_reset(&m->fd, now_ms(n));
  m->heartbeats = 0;
  m->has_figures = 0;
  m->left = 0;
  adopt_published(n, m);
  if (m->status == RUMOR_MEMBER_ALIVE) {
    rumor__log(n, RUMOR_LOG_INFO, "%s joined (generation %llu)", (const char *)m->id->data,
               (unsigned long long)m->generation);
    rumor__node_queue_member(n, m, RUMOR_EVENT_JOINED, 0);
  }
}

/* Disputes of our state make a rejoin at most once per this many rounds:
 * one is enough to supersede a forgery, and two processes that share an
 * id by mistake must not leapfrog each other every round. */
#define DISPUTE_ROUNDS 10

void rumor__liveness_claim(rumor_node_t *n, uint64_t gen, uint64_t max_seq) {
  if (gen < n->generation || (gen == n->generation && max_seq <= n->self->max_seq)) return;
  /* Only this node writes its state: a newer generation of it, or more of
   * this one than it wrote, is a forgery or another process under our id.
   * Either way a generation above the claim makes our real state win. */
  n->metrics.self_disputes++;
  if (gen > n->disputed_gen) n->disputed_gen = gen;
  n->disputed = 1;
}

/* Starts a new generation: our state renumbered from 1, so every peer
 * takes it as a member joining (the old generation stays blocked). */
static void rejoin(rumor_node_t *n, int reason) {
  /* Above our generation and every claim of it. At the last one there is
   * none: a generation below it is refused everywhere (and would go on
   * being blocked and rejoining every round), so the node stays put. */
  uint64_t floor = n->generation > n->disputed_gen ? n->generation : n->disputed_gen;
  if (floor == UINT64_MAX) {
    if (!n->at_last_gen)
      rumor__log(n, RUMOR_LOG_WARN,
                 "cannot rejoin: %s the last generation (%llu), and none is above it; restart "
                 "this node under another id",
                 n->generation == UINT64_MAX ? "this node is at" : "a peer claims this node's state at",
                 (unsigned long long)UINT64_MAX);
    n->at_last_gen = 1;
    return;
  }
  uint64_t gen = n->io->ops->wall_us(n->io);
  if (gen <= floor) gen = floor + 1;
  rumor__store_renumber(&n->store, n->self, gen);
  n->generation = gen;
  n->pushed_seq = n->self->max_seq; /* peers need it all: anti-entropy from seq 0 */
  for (size_t i = 1; i < n->store.count; i++) {
    rumor_member *m = n->store.list[i];
    if (m->held_self != 0 && (m = rumor__node_own(n, m)) != NULL) m->held_self = 0;
  }
  rumor__await_rebase(n, n->self->max_seq);
  /* Cut off long enough to be blocked, we likely blocked the others as
   * expired in turn: those verdicts are as stale as ours, and our new
   * generation must not hand them to everyone. Judge afresh; verdicts of
   * others about the truly dead still stand. */
  for (size_t i = 1; i < n->store.count; i++) {
    rumor_member *m = n->store.list[i];
    if (m->status != RUMOR_MEMBER_BLOCKED || m->block_reason != RUMOR_BLOCK_EXPIRED) continue;
    /* Those still dead by another's verdict (one that was cut off with us,
     * maybe) stay blocked on it, without a second blocked event. */
    unblock(n, m);
    n->rejudging = 1;
    adopt_published(n, m);
    n->rejudging = 0;
    if (m->status == RUMOR_MEMBER_ALIVE) announce_back(n, m);
  }
  n->metrics.rejoins++;
  if (reason != RUMOR_BLOCK_NONE)
    rumor__log(n, RUMOR_LOG_WARN, "the others blocked this node as %s; rejoined as generation %llu",
               rumor_block_reason_name(reason), (unsigned long long)gen);
  else
    rumor__log(n, RUMOR_LOG_WARN,
               "a peer claims more of this node's state than it wrote (a forgery, or another "
               "process with this id); rejoined as generation %llu",
               (unsigned long long)gen);
  rumor__node_queue_member(n, n->self, RUMOR_EVENT_REJOINED, reason);
  rumor__gossip_round(n); /* announce it now */
}

void rumor__liveness_settle(rumor_node_t *n) {
  if (n->left_pending) {
    n->left_pending = 0;
    for (size_t i = 1; i < n->store.count; i++) {
      rumor_member *m = n->store.list[i];
      if (m->left) block(n, m, RUMOR_BLOCK_LEFT, 0, &LEFT_WHY);
    }
  }
  if (n->rejoin_reason != 0) {
    int reason = n->rejoin_reason;
    n->rejoin_reason = 0;
    n->disputed = 0; /* the rejoin supersedes the claim too */
    rejoin(n, reason);
  }
  uint64_t now = n->io->ops->now(n->io);
  if (n->disputed && now >= n->dispute_after && !n->leaving) {
    n->disputed = 0;
    n->dispute_after = now + (uint64_t)DISPUTE_ROUNDS * n->cfg.gossip_interval_ms;
    rejoin(n, RUMOR_BLOCK_NONE);
  }
}

void rumor__liveness_heard(rumor_node_t *n, rumor_member *peer, uint64_t gen) {
  if (gen < peer->generation || peer->status != RUMOR_MEMBER_ALIVE) return;
  /* One beat per half round: a neighbour that also answers, polls us, or
   * picks us for a full exchange, must not teach the phi detector a faster
   * rhythm than its rounds keep in quiet times. */
  uint64_t now = now_ms(n), interval = n->cfg.gossip_interval_ms;
  if (peer->fd.last != 0 && now - peer->fd.last < interval / 2) return;
  rumor__detector_beat(&peer->fd, now, MAX_RHYTHM_ROUNDS * interval);
  peer->heartbeats++;
}

int rumor__liveness_drop(rumor_node_t *n, rumor_member *peer, const rumor_wire_msg *msg) {
  if (peer->status == RUMOR_MEMBER_ALIVE || msg->h.generation > peer->blocked_gen) return 0;
  /* A member that left is still finishing its leave: it polls for who
   * holds its left key, and our answer (not gossip) tells it. */
  if (peer->status == RUMOR_MEMBER_BLOCKED && peer->block_reason == RUMOR_BLOCK_LEFT) return 0;
  n->metrics.drops_blocked++;
  uint64_t now = now_ms(n);
  if (peer->rejected_at != 0 && now - peer->rejected_at < n->cfg.gossip_interval_ms) return 1;
  peer->rejected_at = now ? now : 1;
  rumor_wire_writer w;
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_REJECT) != 0 ||
      rumor__wire_reject(&w, msg->h.generation, (uint8_t)peer->block_reason) != 0)
    return 1;
  /* To its datagram address: a frame's source is an ephemeral TCP port. */
  rumor__gossip_send(n, &peer->addr, w.len);
  n->metrics.rejects_sent++;
  return 1;
}

void rumor__liveness_rejected(rumor_node_t *n, const rumor_wire_msg *msg) {
  n->metrics.rejects_received++;
  if (msg->reject_gen == n->generation && msg->reject_reason == RUMOR_BLOCK_EXPIRED &&
      n->cfg.auto_rejoin && !n->leaving)
    n->rejoin_reason = msg->reject_reason;
}

/* ---- the API -------------------------------------------------------------- */

int rumor_node_set_stats(rumor_node_t *n, const rumor_stat_t *stats, size_t count) {
  uint8_t *buf;
  size_t len;
  int rc = rumor__heartbeat_encode_stats(stats, count, &buf, &len);
  if (rc != 0) return rc;
  /* A heartbeat must travel in any datagram of ours: one that needs a TCP
   * pull every round would be late every round. */
  size_t most = rumor__wire_entry_size(1 + KEYLEN(HEARTBEAT_KEY), UINT64_MAX, 21 + len);
  if (most > n->udp_entry_max) {
    free(buf);
    return RUMOR_ETOOBIG;
  }
  if (n->stats_len != len || (len > 0 && memcmp(n->stats, buf, len) != 0)) n->hb_stale = 1;
  free(n->stats);
  n->stats = buf;
  n->stats_len = len;
  return 0;
}

void rumor_node_on_round(rumor_node_t *n, rumor_round_cb cb, void *arg) {
  n->on_round = cb;
  n->on_round_arg = arg;
}

void rumor_node_on_member(rumor_node_t *n, rumor_member_cb cb, void *arg) {
  n->on_member = cb;
  n->on_member_arg = arg;
}

int rumor_node_set_topology(rumor_node_t *n, const rumor_peer_t *peers, size_t count) {
  struct sockaddr_storage *addrs;
  if (rumor__node_busy(n)) return RUMOR_ESTATE;
  if (n->state == NODE_CLOSING || (count > 0 && peers == NULL)) return RUMOR_EINVAL;
  /* Check everything first: a bad entry changes nothing. */
  if ((addrs = calloc(count ? count : 1, sizeof(*addrs))) == NULL) return RUMOR_ENOMEM;
  for (size_t i = 0; i < count; i++) {
    size_t len = peers[i].id ? strlen(peers[i].id) : 0;
    if (len == 0 || len > RUMOR_MAX_ID_LEN) {
      free(addrs);
      return RUMOR_EINVAL;
    }
    if (peers[i].address != NULL && rumor_addr_parse(peers[i].address, &addrs[i]) != 0) {
      free(addrs);
      return RUMOR_EADDR;
    }
  }
  /* Room for the members it names that we do not know (max_members)? An id
   * named twice counts twice: the check errs on the side of refusing. */
  size_t fresh = 0;
  for (size_t i = 0; i < count; i++) {
    size_t len = strlen(peers[i].id);
    if (!(len == n->id_len && memcmp(peers[i].id, n->id, len) == 0) &&
        rumor__store_find(&n->store, peers[i].id, len) == NULL)
      fresh++;
  }
  if (fresh > n->cfg.max_members - n->store.count) {
    free(addrs);
    return RUMOR_ETOOBIG;
  }
  uint64_t stamp = ++n->mark;
  for (size_t i = 0; i < count; i++) {
    size_t len = strlen(peers[i].id);
    if (len == n->id_len && memcmp(peers[i].id, n->id, len) == 0) continue;
    rumor_member *m = rumor__store_find(&n->store, peers[i].id, len);
    if (m == NULL && (m = rumor__node_add_member(n, peers[i].id, len)) == NULL) {
      free(addrs);
      return RUMOR_ENOMEM;
    }
    if ((m = rumor__node_own(n, m)) == NULL) {
      free(addrs);
      return RUMOR_ENOMEM;
    }
    n->marks[m->index] = stamp;
    if (peers[i].address != NULL) {
      m->addr = addrs[i];
      n->store.shape++;
    }
    if (m->status != RUMOR_MEMBER_ALIVE && m->block_reason == RUMOR_BLOCK_TOPOLOGY) {
      unblock(n, m); /* a removed one takes its generation's state from seq 0 again */
      announce_back(n, m);
    }
  }
  free(addrs);
  for (size_t i = 1; i < n->store.count; i++)
    if (n->marks[i] != stamp) block(n, n->store.list[i], RUMOR_BLOCK_TOPOLOGY, 1, &TOPOLOGY_WHY);
  rumor__node_after_change(n);
  return 0;
}

int rumor_node_add_peer(rumor_node_t *n, const char *address) {
  struct sockaddr_storage ss;
  if (rumor__node_busy(n)) return RUMOR_ESTATE;
  if (n->state == NODE_CLOSING || address == NULL) return RUMOR_EINVAL;
  if (rumor_addr_parse(address, &ss) != 0) return RUMOR_EADDR;
  for (size_t i = 0; i < n->nseeds; i++)
    if (rumor__addr_equal(&n->seeds[i], &ss)) return 0;
  struct sockaddr_storage *seeds = realloc(n->seeds, (n->nseeds + 1) * sizeof(*seeds));
  if (seeds == NULL) return RUMOR_ENOMEM;
  n->seeds = seeds;
  n->seeds[n->nseeds++] = ss;
  return 0;
}

int rumor_node_remove_peer(rumor_node_t *n, const char *id, size_t id_len) {
  return rumor_node_block_detail(n, id, id_len, RUMOR_BLOCK_TOPOLOGY, "removed by remove_peer");
}

static void leave_done(rumor_node_t *n, int status, const char *const *missing, size_t nmissing,
                       void *arg) {
  (void)missing;
  (void)nmissing;
  (void)arg;
  rumor_leave_cb cb = n->leave_cb;
  void *cb_arg = n->leave_arg;
  n->leave_cb = NULL;
  n->leaving = 0;
  if (status != UV_ECANCELED) rumor_node_stop(n);
  if (cb != NULL) cb(n, status, cb_arg);
}

int rumor_node_leave(rumor_node_t *n, uint32_t timeout_ms, rumor_leave_cb cb, void *arg) {
  uint8_t slot[1 + KEYLEN(LEFT_KEY)];
  if (n->state != NODE_RUNNING || n->leaving || rumor__node_busy(n)) return RUMOR_ESTATE;
  size_t slot_len = rumor__slot_encode(slot, LEFT_KEY, KEYLEN(LEFT_KEY), NULL, 0);
  int64_t seq = rumor__node_write(n, slot, slot_len, "", 0, 0, 1);
  if (seq < 0) return (int)seq;
  int rc = rumor__await_start(n, (uint64_t)seq, timeout_ms, n->cfg.gossip_fan_out, leave_done, NULL);
  if (rc != 0) {
    rumor_node_stop(n); /* the left key is out: do not stay half gone */
    return rc;
  }
  /* No callback runs in between: the write's event is delivered with the
   * next change, when a second leave is already refused. */
  n->leaving = 1;
  n->leave_cb = cb;
  n->leave_arg = arg;
  return 0;
}

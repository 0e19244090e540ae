/* node_int.h: the node structure, shared by the files that implement a
 * node: node.c (API and lifecycle), gossip.c (rounds and the three legs),
 * delta.c (what a peer lacks: planning, writing, applying), push.c (eager
 * push, epidemic or down a tree), rate.c (the rate limit), transfer.c (TCP
 * transfers), await.c (rumor_node_await) and fault.c (fault injection).
 * Not part of the public API. */
#ifndef RUMOR_NODE_INT_H
#define RUMOR_NODE_INT_H
#include "rumor.h"
#include "io.h"
#include "rng.h"
#include "store.h"
#include "wire.h"
#include "fault.h"
#include "budget.h"
#include "seal.h"

enum { NODE_NEW, NODE_RUNNING, NODE_STOPPED, NODE_CLOSING };

/* A node beats to its two ring neighbours in turn, so each hears from it
 * every this many rounds: the rhythm the phi detector expects (gossip.c). */
#define RUMOR_BEAT_ROUNDS 2

/* Frames of a TCP transfer are filled up to 64 KiB (fewer writes, bounded
 * memory), or hold one larger entry alone; every node accepts frames of at
 * least this size whatever its max_value_size. */
#define RUMOR_FRAME_FILL (64 * 1024)

/* One event waiting to be reported: an accepted entry (to the update
 * callback) or a membership change (to the member callback). An entry
 * event holds references to the blobs so the store may change before it is
 * delivered. Members are never freed while the node lives (max_members
 * bounds how many it takes). */
enum { EVENT_UPDATE, EVENT_MEMBER, EVENT_LOG };
typedef struct rumor_event {
  int kind;
  rumor_member *member;
  rumor_blob *slot, *value; /* EVENT_UPDATE; value NULL: deleted */
  uint64_t seq, generation;
  int local;
  int type, reason;         /* EVENT_MEMBER: RUMOR_EVENT_*, RUMOR_BLOCK_*;
                               EVENT_LOG: the level in type, the line in value */
} rumor_event;

/* A member a delta should carry, from which seq on, and whether in full
 * with stale entries swept (a resync). */
typedef struct rumor_candidate {
  rumor_member *member;
  uint64_t from_seq;
  int sweep;
} rumor_candidate;

/* Members a digest lists first, after the sender and the addressee: the
 * last ones whose state changed here. A node that missed a push learns of
 * it from any peer's digest at once, instead of when a partial digest's
 * rotation (mtu / ~30 bytes members a datagram) comes round to it, which
 * at 10,000 members takes hundreds of exchanges. A few cover the writes of
 * one round in a busy cluster; more would crowd out the rotation. */
#define RUMOR_RECENT 8

/* Peer addresses warned about (guard.c): each kind of trouble is logged
 * once per address among the last this many. A hostile sender cycling
 * addresses costs one line per address at most, and honest misconfigured
 * peers are rarely more. */
#define RUMOR_GUARD_WARNED 64
typedef struct rumor_guard_warned {
  struct sockaddr_storage addr;
  unsigned what; /* bits of guard.c's WARN_*; 0: a free slot */
} rumor_guard_warned;

typedef struct rumor_transfer rumor_transfer; /* transfer.c */
typedef struct rumor_await rumor_await;       /* await.c */

struct rumor_node {
  uv_loop_t *loop;
  rumor_io *io;
  int state;
  rumor_config_t cfg;      /* string fields point at the copies below */
  char *id, *cluster, *bind;
  size_t id_len, cluster_len;
  struct sockaddr_storage bind_addr, addr; /* configured and actually bound */
  struct sockaddr_storage *seeds;
  size_t nseeds;
  uint64_t generation;
  size_t udp_entry_max;    /* largest entry that fits any datagram we send */
  size_t frame_max;        /* largest stream frame we send or accept */

  rumor_rng rng;
  rumor_store store;
  rumor_member *self;

  rumor_update_cb on_update;
  void *on_update_arg;
  rumor_validate_cb validate; /* rumor_node_set_validator */
  void *validate_arg;
  int validating;          /* inside validate: the node must not change */
  int close_deferred;      /* rumor_node_close from a validator: done after the merge */
  rumor_log_cb on_log;     /* rumor_node_on_log (log.c) */
  void *on_log_arg;
  int log_level;
  rumor_event *events;     /* queue of accepted entries not yet reported */
  size_t nevents, events_cap;
  int dispatching;
  int winding_down;        /* inside a stop, cancelling what ran */
  int close_requested;     /* rumor_node_close was called */

  uint8_t *sendbuf;        /* cfg.mtu bytes */
  size_t msg_cap;          /* largest message we write: the mtu, less a seal's room */
  rumor_keyring keyring;   /* empty: plaintext (guard.c) */
  uint8_t *sealbuf;        /* cfg.mtu bytes, with a keyring: the sealed datagram */
  uint8_t *openbuf;        /* what the last sealed message opened to */
  size_t openbuf_cap;
  rumor_sealed_info opened; /* and what its envelope said */
  rumor_guard_warned warned[RUMOR_GUARD_WARNED];
  size_t warned_next;
  /* Scratch. marks and reach hold one slot per member (grown by
   * rumor__node_add_member); the others grow to what one message or one
   * choice needs (rumor__node_reserve), so a node of a 10,000-member
   * cluster does not carry 10,000-slot arrays it never fills. */
  rumor_candidate *cands;  /* delta planning */
  rumor_candidate *spill;  /* what a datagram could not carry: goes by TCP */
  rumor_candidate *news;   /* blocks of a push that brought news */
  rumor_member **picks;    /* random peer choice */
  rumor_member **pulls;    /* members to pull from a peer over TCP */
  rumor_member **ring;     /* the sorted members a tree push goes down */
  rumor_member **wanted;   /* members the last digest planned showed newer (delta.c) */
  size_t cands_cap, spill_cap, news_cap, picks_cap, pulls_cap, ring_cap, wanted_cap;
  size_t nwanted;
  /* The members whose state changed here last (news, our writes), newest
   * at recent[(recent_next - 1) % RUMOR_RECENT]: digests list them first. */
  rumor_member *recent[RUMOR_RECENT];
  size_t recent_next;
  size_t nring;            /* how many, while tree_cached (push.c) */
  uint64_t tree_shape;     /* ring is sorted for this store.shape */
  int tree_cached;
  rumor_member **reach;    /* the members we gossip to, while reach_cached */
  size_t nreach;
  uint64_t reach_shape;    /* valid for this store.shape */
  int reach_cached;
  size_t member_cap;       /* slots of marks and reach */
  uint64_t mark;           /* stamp for "seen in this digest" */
  uint64_t *marks;         /* per member index */
  uint64_t sweep_stamp;    /* stamp for "listed in this block" */
  size_t digest_cursor;    /* where the next partial digest starts */
  uint64_t active_until;   /* loop time until which rounds also reconcile in full */
  rumor_member *ring_pred, *ring_succ; /* rumor__gossip_neighbours' cache, */
  uint64_t ring_version;   /* valid while store.version is this */
  int ring_cached;

  uint64_t pushed_seq;     /* our writes up to here have been pushed */
  int push_armed;
  int push_deferred;       /* a push of ours waits for tokens (counted once) */
  uint32_t rate_tokens;    /* tokens left in this window (rate.c) */
  uint64_t rate_window_end; /* loop time the window ends; 0: none yet */
  rumor_transfer *transfers; /* outgoing TCP transfers */
  size_t ntransfers;
  rumor_await *awaits;     /* pending rumor_node_await calls */
  uint64_t poll_delay;     /* gap between await polls, ms (backs off) */
  uint64_t next_poll;      /* loop time of the next await poll */

  /* Liveness (liveness.c). */
  rumor_round_cb on_round;
  void *on_round_arg;
  rumor_member_cb on_member;
  void *on_member_arg;
  uint8_t *stats;          /* encoded stats our heartbeats carry (NULL: none) */
  size_t stats_len;
  uint64_t started_at;     /* loop time of rumor_node_start */
  uint64_t hb_written_at;  /* loop time our heartbeat entry was last written */
  uint32_t hb_alive;       /* the members alive it says */
  int hb_stale;            /* the stats changed since */
  uint64_t last_round;     /* loop time of the last round (stall detection) */
  int rejoin_reason;       /* a rejoin to make once the current merge is over */
  int disputed;            /* a peer holds more of our state than we wrote */
  uint64_t disputed_gen;   /* the highest generation of ours claimed so */
  uint64_t dispute_after;  /* loop time before which a dispute waits (liveness.c) */
  int at_last_gen;         /* a rejoin found no generation above ours and the claims */
  int left_pending;        /* members whose left key arrived wait for their block */
  int leaving;             /* rumor_node_leave under way */
  rumor_member **publishers; /* members that published blocks (liveness.c) */
  rumor_member *watching[2]; /* the neighbours detect() judged last round */
  int rejudging;            /* a rejoin re-adopts verdicts: blocks make no event */
  size_t nblocked;          /* members BLOCKED (not REMOVED): retire() walks if any */
  uint32_t alive_count;     /* rumor__liveness_alive while alive_cached ... */
  uint64_t alive_shape;     /* ... and the store's shape is this */
  int alive_cached;
  size_t npublishers, publishers_cap;
  rumor_leave_cb leave_cb;
  void *leave_arg;

  rumor_faults faults;      /* rumor_node_set_fault (fault.c) */
  rumor_budget budget;      /* recv_budget's buckets (budget.c) */
  int members_full;         /* max_members reached (and said) */

  rumor_metrics_t metrics;
  rumor_close_cb close_cb;
  void *close_arg;
};

/* gossip.c */
void rumor__gossip_round(rumor_node_t *n);
/* A message that passed the guard: buf (len bytes) is the wire message,
 * wire_len what arrived, info what its envelope said (NULL: unsealed). */
void rumor__gossip_recv(rumor_node_t *n, const struct sockaddr_storage *from,
                        const uint8_t *buf, size_t len, size_t wire_len, int via_stream,
                        const rumor_sealed_info *info);
/* Counts one datagram, or frame, of len bytes as received. */
void rumor__gossip_count_received(rumor_node_t *n, size_t len, int via_stream);
/* Rounds reconcile in full with random peers for a while: something changed. */
void rumor__gossip_activate(rumor_node_t *n);
/* Our ring neighbours: the live members with state whose ids sort right
 * before and after ours, wrapping around (NULL, NULL when alone; the same
 * member twice when it is the only other). */
/* m's state changed here: our digests list it first for a while. */
void rumor__gossip_note_recent(rumor_node_t *n, rumor_member *m);
void rumor__gossip_neighbours(rumor_node_t *n, rumor_member **pred, rumor_member **succ);
/* Sends a SYN to m (whose view of us comes back in its SYNACK). */
void rumor__gossip_syn(rumor_node_t *n, const rumor_member *m);
/* Sends a SYN to a seed's address, naming no addressee. */
void rumor__gossip_probe_seed(rumor_node_t *n, const struct sockaddr_storage *seed);
/* Starts a message of kind in n->sendbuf (or another buffer). */
int rumor__gossip_begin(rumor_node_t *n, rumor_wire_writer *w, uint8_t *buf, size_t cap,
                        uint8_t kind);
/* Sends len bytes of n->sendbuf to `to`, through the faults (fault.c). */
void rumor__gossip_send(rumor_node_t *n, const struct sockaddr_storage *to, size_t len);
/* Hands a datagram to the io and counts it, past the faults (what they
 * held, when it is due). */
void rumor__gossip_emit(rumor_node_t *n, const struct sockaddr_storage *to, const uint8_t *buf,
                        size_t len);
/* 1 if a member we consider alive has this seed's address, -1 if a
 * blocked one has it, 0 if nobody does. */
int rumor__gossip_seed_known(const rumor_node_t *n, const struct sockaddr_storage *seed);
/* A member whose address we know (not us). */
int rumor__gossip_addressable(const rumor_node_t *n, const rumor_member *m);
/* A member we gossip to: addressable and not blocked. */
int rumor__gossip_reachable(const rumor_node_t *n, const rumor_member *m);
/* Picks up to k random reachable members other than the two excluded
 * (either may be NULL) into n->picks; returns how many. */
size_t rumor__gossip_pick(rumor_node_t *n, size_t k, const rumor_member *x1,
                          const rumor_member *x2);

/* delta.c */
/* Adds one stored entry to w's open block (all or nothing); its size. */
int rumor__delta_add_entry(rumor_wire_writer *w, const rumor_entry *e);
size_t rumor__delta_entry_size(const rumor_entry *e);
/* Whether a block of m from seq from must sweep: planned as a resync, or a
 * full state of a member with purged deletes. */
int rumor__delta_sweeps(const rumor_member *m, uint64_t from, int planned);
size_t rumor__delta_plan(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *peer);
/* Writes cands greedily into w (a datagram); *written counts the entries.
 * Candidates not written whole are copied to n->spill; returns how many. */
size_t rumor__delta_write(rumor_node_t *n, rumor_wire_writer *w, const rumor_candidate *cands,
                          size_t nc, size_t *written);
/* Applies a validated delta. Blocks that brought news are listed in
 * n->news; returns how many. Members to pull from the sender over TCP go
 * to n->pulls (*npulls of them). */
size_t rumor__delta_apply(rumor_node_t *n, const rumor_wire_msg *msg, int via_stream,
                          size_t *npulls);

/* push.c */
/* Pushes our writes not pushed yet (epidemic or tree, as configured). */
void rumor__push_local(rumor_node_t *n);
/* Passes on the news of a push (n->news, nnews blocks) the way the push
 * came: to random peers, or to our children in its tree. */
void rumor__push_forward(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *from,
                         size_t nnews);

/* guard.c */
/* Allocates what sealing needs (after the keyring is filled). */
int rumor__guard_init(rumor_node_t *n);
void rumor__guard_free(rumor_node_t *n);
/* What to hand the io for msg (len bytes): msg itself, or its envelope in
 * n->sealbuf (*len updated). */
const uint8_t *rumor__guard_seal(rumor_node_t *n, const uint8_t *msg, size_t *len);
/* Seals a malloc'd frame into a new malloc'd buffer and frees frame; NULL
 * when out of memory. Without a keyring, frame itself. */
uint8_t *rumor__guard_seal_frame(rumor_node_t *n, uint8_t *frame, size_t *len);
/* Opens a received message: 0 with *msg (buf, or the opened message) and
 * *info (what the envelope said; NULL without a keyring); -1 when it is
 * refused (counted as received and dropped, warned about once per address). */
int rumor__guard_open(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                      size_t len, int via_stream, const uint8_t **msg, size_t *msg_len,
                      const rumor_sealed_info **info);
/* 1 (counted) when a datagram (or stream frame) of peer under generation
 * is a replay. */
int rumor__guard_replayed(rumor_node_t *n, rumor_member *peer, const rumor_sealed_info *info,
                          uint64_t generation, const struct sockaddr_storage *from,
                          int via_stream);
/* 1 (counted) when a datagram advertises an address it did not come from. */
int rumor__guard_misaddressed(rumor_node_t *n, const rumor_wire_msg *msg, int wildcard,
                              const struct sockaddr_storage *from);
/* 1 when peer's generation is known alive at its address, which then
 * stays put for that generation. */
int rumor__guard_pinned(const rumor_node_t *n, const rumor_member *peer, uint64_t generation);
/* 1 (counted) when a datagram speaks for pinned peer's generation from an
 * address not its own (addr: the one it advertises; wildcard: it advertised
 * none, so nothing can be told from where it came). */
int rumor__guard_spoofed(rumor_node_t *n, const rumor_member *peer, uint64_t generation,
                         const struct sockaddr_storage *addr, int wildcard,
                         const struct sockaddr_storage *from);

/* rate.c: Riak's gossip limit, a token counter refilled to full once per
 * rate_limit_interval_ms (lazily, from the node's clock). Taken by the
 * sends a node initiates to spread news: pushes of our writes and their
 * forwards, epidemic or tree (push.c); the anti-entropy round may take
 * them as well. Never by answers (SYNACK, ACK, REJECT) or TCP transfers. */
/* 1: one send may go (a token was used, or the limit is off); 0: none left
 * in this window. */
int rumor__rate_take(rumor_node_t *n);
/* Milliseconds until the tokens return (0 when some are left now). */
uint64_t rumor__rate_wait(rumor_node_t *n);

/* transfer.c */
void rumor__transfer_start(rumor_node_t *n, rumor_member *peer, const rumor_candidate *cands,
                           size_t nc);
void rumor__transfer_done(rumor_node_t *n, rumor_stream *s, int status);
void rumor__transfer_abort_all(rumor_node_t *n);

/* await.c */
/* rumor_node_await, settled once `need` live members hold seq (0: all). */
int rumor__await_start(rumor_node_t *n, uint64_t seq, uint32_t timeout_ms, size_t need,
                       rumor_await_cb cb, void *arg);
/* Our state was renumbered (a new generation): every wait now waits for
 * all of it, up to seq. */
void rumor__await_rebase(rumor_node_t *n, uint64_t seq);
void rumor__await_check(rumor_node_t *n);
void rumor__await_timer(rumor_node_t *n);
void rumor__await_cancel_all(rumor_node_t *n);

/* liveness.c */
/* Whether key (a plain key or a map's state key) is reserved. */
int rumor__liveness_reserved(const char *key, size_t len);
/* Writes the first heartbeat, at start. */
void rumor__liveness_start(rumor_node_t *n);
/* Start of a round: stall check, the round callback, our heartbeat, the
 * failure detector, retention. 0 if the node no longer runs after it. */
int rumor__liveness_round(rumor_node_t *n);
/* Knocks at one member blocked as expired (or a seed of a blocked member):
 * every round when alone, every few rounds otherwise. */
void rumor__liveness_probe(rumor_node_t *n, int alone);
/* A datagram of peer's process gen arrived: a beat, if gen is its current one. */
/* Rewrites our heartbeat entry as a member of a cluster of alive members,
 * and counts it as pushed: a node about to be given a converged membership
 * (share.h) says what its heartbeat would say by then. */
void rumor__liveness_converged(rumor_node_t *n, uint32_t alive);
void rumor__liveness_heard(rumor_node_t *n, rumor_member *peer, uint64_t gen);
/* An entry of another member was accepted (called during a merge). */
void rumor__liveness_entry(rumor_node_t *n, rumor_member *m, const rumor_blob *slot,
                           const rumor_blob *value);
/* m's state moved to a newer generation (called during a merge). */
void rumor__liveness_generation(rumor_node_t *n, rumor_member *m);
/* A peer holds our state at generation gen up to max_seq (a digest, or a
 * block of ours): if we never wrote that much, rejoin above it. */
void rumor__liveness_claim(rumor_node_t *n, uint64_t gen, uint64_t max_seq);
/* After a merge: the blocks and the rejoin it called for. */
void rumor__liveness_settle(rumor_node_t *n);
/* A datagram or frame of peer: 1 if it must be dropped (peer blocked),
 * after answering, at its datagram address, with a rejection at most once
 * per round. */
int rumor__liveness_drop(rumor_node_t *n, rumor_member *peer, const rumor_wire_msg *msg);
void rumor__liveness_rejected(rumor_node_t *n, const rumor_wire_msg *msg);
/* m's heartbeat entry, or NULL. */
const rumor_entry *rumor__liveness_heartbeat(const rumor_member *m);
/* Members alive as we see them, self included. */
size_t rumor__liveness_alive(const rumor_node_t *n);

/* node.c */
/* Files one of our own entries (value NULL and del: a tombstone) and
 * queues its event; push: send it eagerly. Returns the seq or an error.
 * Does not deliver events: callers do (rumor__node_after_change). */
int64_t rumor__node_write(rumor_node_t *n, const uint8_t *slot, size_t slot_len,
                          const void *value, size_t value_len, int del, int push);
/* Delivers events and settles waits after a change. */
void rumor__node_after_change(rumor_node_t *n);
void rumor__node_queue_member(rumor_node_t *n, rumor_member *m, int type, int reason);
int rumor__node_queue_event(rumor_node_t *n, rumor_member *m, rumor_blob *slot, rumor_blob *value,
                            uint64_t seq, int local);
void rumor__node_flush_events(rumor_node_t *n);
/* A free event at the end of the queue, or NULL when out of memory. */
rumor_event *rumor__node_event_slot(rumor_node_t *n);
/* Nonzero while the node must not change (a validator runs). */
#define rumor__node_busy(n) ((n)->validating)

/* log.c: queues a line for the log callback (delivered with the events);
 * does nothing below the level asked for or without a callback. */
int rumor__log_wanted(const rumor_node_t *n, int level);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void rumor__log(rumor_node_t *n, int level, const char *fmt, ...);
/* Adds a member and grows per-member scratch; NULL when out of memory. */
rumor_member *rumor__node_add_member(rumor_node_t *n, const char *id, size_t len);
/* Grows marks and reach to need members. 0, or -1 when out of memory. */
int rumor__node_member_room(rumor_node_t *n, size_t need);
/* The node's own copy of m, to change (rumor__store_own), with the node's
 * caches moved to it: m itself unless m is shared (share.h). Code that
 * changes a member it found in the store calls this first and goes on with
 * what it returns; NULL when out of memory. */
rumor_member *rumor__node_own(rumor_node_t *n, rumor_member *m);
/* Grows a scratch array (*cap elements of size elem) to hold at least need
 * (need >= 1), doubling. Returns the array, moved or not, and updates *cap;
 * NULL when out of memory (the array and *cap are unchanged). */
void *rumor__node_reserve(void *arr, size_t *cap, size_t need, size_t elem);
/* The same for an id the network named: NULL also when max_members are
 * known (counted in members_refused, logged once). */
rumor_member *rumor__node_learn_member(rumor_node_t *n, const char *id, size_t len);
/* Whether m holds max_keys_per_member entries: a new one is refused. */
int rumor__node_keys_full(const rumor_node_t *n, const rumor_member *m);
#endif

/* store.h: what a node knows: every member and its entries.
 *
 * Each member owns its entries and numbers its writes with one sequence
 * counter (per generation). An entry is filed under a slot (a plain key or a
 * map entry, see wire.h) and is a value or a tombstone (a delete). For every
 * member the store keeps:
 *   - entries by slot (a map) and the same entries in a list ordered by seq,
 *     so "everything newer than seq S" is a walk back from the tail;
 *   - max_seq, a watermark: we hold every entry of that generation with
 *     seq <= max_seq that the owner still has (or a newer one for the same
 *     slot), but for new slots refused by max_keys_per_member (delta.c).
 *     Deltas are applied only when they start at or below the watermark,
 *     so there are never gaps;
 *   - floor: the highest seq of a tombstone this node has purged (or learned
 *     was purged). A peer whose watermark is below it may hold values those
 *     deletes removed, and is resynchronised in full.
 * Tombstones also sit, store-wide, in a FIFO by the time they were accepted,
 * so purging after the grace period pops from its head.
 *
 * Ownership: the store owns members and entries, but for shared members
 * (share.h), which their share owns; entries hold one reference to their
 * slot, value and kept blobs. */
#ifndef RUMOR_STORE_H
#define RUMOR_STORE_H
#include "blob.h"
#include "detector.h"
#include "map.h"
#include "replay.h"
#include <stdint.h>
#include <sys/socket.h>

struct rumor_member;

typedef struct rumor_entry {
  struct rumor_entry *prev, *next;   /* the member's seq-ordered list */
  struct rumor_entry *tprev, *tnext; /* the store's tombstone FIFO */
  struct rumor_member *member;
  rumor_blob *slot;
  rumor_blob *value;  /* NULL for a tombstone */
  uint64_t seq;
  uint64_t local_ts;  /* our loop time when it was written or accepted */
  uint64_t stamp;     /* scratch mark for a sweep */
  /* Refused by this node's validator: kept (and relayed, so the replica
   * stays complete) but not shown; this node's view is kept/kept_seq, the
   * value it had before (NULL: none). A later put clears it. */
  int refused;
  rumor_blob *kept;
  uint64_t kept_seq;
} rumor_entry;

typedef struct rumor_member {
  rumor_blob *id;      /* NUL-terminated; shared with queued events */
  uint64_t id_hash;    /* rumor__summary_id_hash of id */
  uint64_t generation; /* 0: known by name or address only, no state yet */
  uint64_t max_seq;    /* the watermark */
  uint64_t floor;      /* highest purged tombstone seq */
  uint64_t held_self;  /* the watermark of our own state this member reported */
  uint64_t incarnation; /* the newest generation its own datagrams carried */
  struct sockaddr_storage addr; /* ss_family 0 while unknown */
  uint64_t last_seen;  /* loop time of the last datagram or new entry */
  uint64_t answered_at; /* loop time we last answered its differing summary */
  uint64_t answer_gap; /* rounds until we answer the next one (gossip.c) */
  uint64_t asked_at;   /* loop time we last asked it at once for what its digest
                          showed newer (gossip.c) */
  uint64_t pull_until; /* loop time until which a TCP pull of it is under way */
  uint64_t sweep_mark; /* the mark of a sweep under way (see delta.c), or 0 */
  rumor_map entries;   /* slot -> rumor_entry */
  rumor_entry *head, *tail;
  size_t nlive, ntombstones;
  size_t index;        /* position in rumor_store.list */
  /* Liveness, as this node sees it (liveness.c). */
  rumor_detector fd;   /* its heartbeat's rhythm */
  uint64_t heartbeats; /* beats seen of this generation */
  int watched;         /* a ring neighbour of ours: we judge its liveness */
  int has_figures;     /* its heartbeat entry of this generation arrived */
  int status;          /* RUMOR_MEMBER_* */
  int block_reason;    /* RUMOR_BLOCK_* while blocked or removed */
  int left;            /* its left key arrived, for this generation */
  uint64_t blocked_gen; /* a block holds for this generation and older */
  uint64_t blocked_at; /* loop time of the block */
  char *block_detail;  /* why, in words (malloc'd, owned; NULL: none) */
  rumor_blob *blocked_by; /* id of the member whose verdict we took over (a
                             reference we hold), NULL: our own */
  uint64_t block_silence; /* EXPIRED: the silence at the block, ms */
  uint64_t rejected_at; /* loop time of the last rejection sent to it */
  rumor_replay *replay; /* its sealed datagrams [0] and stream frames [1] seen
                           (guard.c); allocated on its first sealed message, so
                           a node without a keyring pays a pointer per member */
  uint64_t too_big_seq, too_big_gen; /* its entry over max_value_size last logged */
  int publishes;        /* in the node's publishers list (liveness.c) */
  int keys_full;       /* its new entries are being refused (max_keys_per_member),
                          said once until one is taken again (delta.c) */
  int shared;          /* held by a rumor_share (share.h), listed by many stores and
                          changed by none: rumor__store_own first */
} rumor_member;

typedef struct rumor_store {
  rumor_map members;     /* id -> rumor_member, but for those of the share */
  /* Given a converged membership (share.h): the share's index, id ->
   * record, whose records stand at list[record->index] here (a copy, once
   * owned), but for record 0, which stands at list[share_slot0] (list[0]
   * is self). The store's own map keeps only the others: ~400 KB less per
   * node of a 10,000-member world. NULL: none. */
  const rumor_map *share_index;
  size_t share_slot0;
  rumor_member **list;   /* list[0] is self */
  size_t count, cap;
  rumor_entry *thead, *ttail; /* tombstones, oldest first */
  uint64_t seed;
  /* Bumped by anything that may change a member's generation, watermark or
   * removal (store.c, delta.c, liveness.c): the summary is cached under it. */
  uint64_t version;
  /* Bumped by anything that may change who is on our ring or where: a
   * generation, a status, an address (gossip.c caches the ring under it). */
  uint64_t shape;
  uint64_t summary_version, summary_count, summary_hash; /* summary.c's cache */
  int summary_cached;
} rumor_store;

int rumor__store_init(rumor_store *s, uint64_t seed);
void rumor__store_free(rumor_store *s);
rumor_member *rumor__store_find(const rumor_store *s, const char *id, size_t len);
/* Adds an unknown member (generation 0). NULL when out of memory. */
rumor_member *rumor__store_add(rumor_store *s, const char *id, size_t len);
/* Drops all of m's entries and starts generation gen from seq 0. */
void rumor__store_reset(rumor_store *s, rumor_member *m, uint64_t gen);
/* The store's own copy of m, which it may change: m itself, unless m is
 * shared (share.h); then a copy with copies of its entries takes m's place
 * at list[index] and in the index by id, and m is left to its share.
 * Pointers to m kept elsewhere are the caller's to move (rumor__node_own).
 * NULL when out of memory (the store is unchanged). */
rumor_member *rumor__store_own_at(rumor_store *s, rumor_member *m, size_t index);
#define rumor__store_own(s, m) rumor__store_own_at((s), (m), (m)->index)
rumor_entry *rumor__store_entry(const rumor_member *m, const char *slot, size_t len);
/* Files an entry of m under slot with seq, replacing the slot's older entry.
 * value NULL makes a tombstone; otherwise a new reference is taken. The
 * entry goes to its place in seq order (the tail, unless a resync fills in
 * below the watermark) and the watermark rises to seq if it was lower.
 * The caller makes sure the slot holds nothing newer. Returns the entry, or
 * NULL when out of memory (store unchanged). */
rumor_entry *rumor__store_put(rumor_store *s, rumor_member *m, const char *slot, size_t len,
                              uint64_t seq, rumor_blob *value, uint64_t now);
/* Renumbers m's live entries 1..k in seq order under generation gen and
 * drops its tombstones: a member starting a new generation republishes
 * what it holds (every peer drops the old generation whole). */
void rumor__store_renumber(rumor_store *s, rumor_member *m, uint64_t gen);
/* Removes and frees one entry. */
void rumor__store_remove(rumor_store *s, rumor_entry *e);
/* First entry of m with seq > after (NULL if none). Walks from the tail. */
rumor_entry *rumor__store_after(const rumor_member *m, uint64_t after);
/* Purges tombstones accepted at or before cutoff (loop time), raising each
 * member's floor. Returns how many. */
size_t rumor__store_purge(rumor_store *s, uint64_t cutoff);
#endif

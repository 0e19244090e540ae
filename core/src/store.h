/* store.h: what a node knows: every member and its key/value entries.
 *
 * Each member owns its keys and numbers its writes with one sequence
 * counter (per generation). For every member the store keeps:
 *   - entries by key (a map) and the same entries in a list ordered by seq,
 *     so "everything newer than seq S" is a walk from the tail;
 *   - max_seq, a watermark: we hold every entry of that generation with
 *     seq <= max_seq that the owner still has. Deltas are only applied when
 *     they start at or below the watermark, so there are never gaps.
 * Invariant: every entry's seq <= max_seq, and the list is ascending; entries
 * accepted later always have seq > max_seq, so they go to the tail.
 *
 * Ownership: the store owns members and entries; entries hold one reference
 * to their key and value blobs. */
#ifndef RUMOR_STORE_H
#define RUMOR_STORE_H
#include "blob.h"
#include "map.h"
#include <stdint.h>
#include <sys/socket.h>

typedef struct rumor_entry {
  struct rumor_entry *prev, *next; /* the member's seq-ordered list */
  rumor_blob *key;
  rumor_blob *value;
  uint64_t seq;
  uint64_t local_ts; /* our loop time when it was written or accepted */
} rumor_entry;

typedef struct rumor_member {
  rumor_blob *id;     /* NUL-terminated; shared with queued events */
  uint64_t generation; /* 0: known by name or address only, no state yet */
  uint64_t max_seq;
  struct sockaddr_storage addr; /* ss_family 0 while unknown */
  uint64_t last_seen;  /* loop time of the last datagram or new entry */
  rumor_map entries;   /* key -> rumor_entry */
  rumor_entry *head, *tail;
  size_t nentries;
  size_t index;        /* position in rumor_store.list */
} rumor_member;

typedef struct rumor_store {
  rumor_map members;     /* id -> rumor_member */
  rumor_member **list;   /* list[0] is self */
  size_t count, cap;
  uint64_t seed;
} rumor_store;

int rumor__store_init(rumor_store *s, uint64_t seed);
void rumor__store_free(rumor_store *s);
rumor_member *rumor__store_find(const rumor_store *s, const char *id, size_t len);
/* Adds an unknown member (generation 0). NULL when out of memory. */
rumor_member *rumor__store_add(rumor_store *s, const char *id, size_t len);
/* Drops all of m's entries and starts generation gen from seq 0. */
void rumor__store_reset(rumor_store *s, rumor_member *m, uint64_t gen);
rumor_entry *rumor__store_entry(const rumor_member *m, const char *key, size_t len);
/* Writes key of m with seq (which must be > m->max_seq) and raises the
 * watermark to seq. Takes a new reference to value. The entry moves to the
 * tail. Returns the entry, or NULL when out of memory (store unchanged). */
rumor_entry *rumor__store_put(rumor_member *m, const char *key, size_t len, uint64_t seq,
                              rumor_blob *value, uint64_t now);
/* First entry of m with seq > after (NULL if none). Walks from the tail. */
rumor_entry *rumor__store_after(const rumor_member *m, uint64_t after);
#endif

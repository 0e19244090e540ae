/* summary.h: a node's whole view of the cluster's state in a few bytes.
 *
 * A quiet round does not ship a digest (one line per member, O(N) bytes):
 * it ships the summary, the number of members with state and the sum of one
 * 64-bit term per member, term = mix(id, generation, watermark). Two nodes
 * with equal summaries hold the same versions of everyone, so there is
 * nothing to reconcile; a receiver whose summary differs answers with its
 * digest and the usual three legs follow (gossip.c). Making one walks the
 * members once (three multiplications each); it is cached until the store
 * changes, since at N=1000 the walk is ~50 us of pointer chasing.
 *
 * Counted: every member with state (generation > 0) whose state we keep,
 * blocked ones included (their state is still served), removed ones not.
 * The hash is not keyed: it detects differences, it does not authenticate. */
#ifndef RUMOR_SUMMARY_H
#define RUMOR_SUMMARY_H
#include <stddef.h>
#include <stdint.h>

/* A member id's hash, the same on every node. */
uint64_t rumor__summary_id_hash(const uint8_t *id, size_t len);
/* One member's term (0 for a member that does not count). */
uint64_t rumor__summary_term(uint64_t id_hash, uint64_t generation, uint64_t max_seq);

struct rumor_store;
/* The summary of a store: *count members counted, their terms' sum.
 * Cached until the store's version moves. */
void rumor__summary_of(struct rumor_store *s, uint64_t *count, uint64_t *hash);
#endif

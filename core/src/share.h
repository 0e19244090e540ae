/* share.h: one converged membership given to many nodes of one process,
 * each member's record held once until a node changes it.
 *
 * Every node keeps a record of every member (store.h), so N nodes in one
 * process hold N^2 records: at ~1 KB each, 10,000 simulated nodes would need
 * 100 GB. But in a converged, quiet cluster those records are the same at
 * every node but the few fields a node changes as it hears from a member.
 * So a share builds each member's record once, as every node would see it
 * (alive, its state as its own node holds it), and lists that one record in
 * every node's store, marked shared and kept read-only (mprotect): a node
 * that changes a member first takes its own copy (rumor__node_own). A node
 * then pays ~70 bytes per member (its index and scratch) plus the members
 * it has heard from or about since.
 *
 * This is how a simulated world starts from a formed cluster (sim.h):
 * joining 10,000 nodes through the protocol costs O(N^2) digest work before
 * anything can be measured, while the engine running afterwards is exactly
 * the same.
 *
 * Ownership: the share owns the shared records, their entries and the
 * references they hold. It must outlive every node it was given to:
 * rumor__share_free after those nodes are freed. */
#ifndef RUMOR_SHARE_H
#define RUMOR_SHARE_H
#include "rumor.h"
#include <stddef.h>

typedef struct rumor_share rumor_share;

/* Gives each of nodes[0..count) a record of every other one, as a cluster
 * that has converged: each member alive, its heartbeat seen, its state what
 * its own node holds. Each node first rewrites its heartbeat to say count
 * members are alive, so nothing is left to gossip. The nodes must be
 * started, on one clock, hold no state but their own (no deletes) and know
 * no other member; their ids differ. 0, RUMOR_EINVAL (count 0), RUMOR_ESTATE
 * (a node not fit: nothing is shared, and *out is NULL) or RUMOR_ENOMEM. Out
 * of memory while nodes were being given records, *out is set all the same:
 * those nodes are unfit to run and must be closed, then the share freed. */
int rumor__share_converge(rumor_node_t *const *nodes, size_t count, rumor_share **out);
void rumor__share_free(rumor_share *sh);
#endif

/* sim.h: a simulated network and clock behind the io seam (io.h), for
 * clusters far larger than one machine can host and for replaying any run
 * from its seed.
 *
 * A world holds nodes created on a simulated io: time is virtual and jumps
 * to the next event; datagrams are copied into an event queue and delivered
 * after a per-link latency drawn uniformly from [latency_min_ms,
 * latency_max_ms] (jitter, hence reordering), unless lost (loss), and are
 * sometimes delivered twice (duplicate). Streams deliver frames in order
 * after the same latency, and report each write done when it is delivered.
 * Partitions cut links between sides. Every random draw of the world comes
 * from its own generator, seeded from config.seed, and each node's seed is
 * drawn from it in turn, so the same seed and the same calls give the same
 * run, event for event: rumor__sim_trace is a hash of every event run so
 * far (its time, kind, ends and bytes), equal for equal runs.
 *
 * The protocol code is the same as on libuv: nothing in it knows. Node i
 * has the address 10.x.y.z:7946 with x.y.z = i + 1.
 *
 * Ownership: the world owns its nodes (closed by rumor__sim_free), queued
 * datagrams and streams. Single-threaded; no global state. */
#ifndef RUMOR_SIM_H
#define RUMOR_SIM_H
#include "rumor.h"
#include <stddef.h>
#include <stdint.h>

typedef struct rumor_sim rumor_sim;

typedef struct rumor_sim_config {
  uint64_t seed;
  uint32_t latency_min_ms, latency_max_ms; /* one-way, per datagram and frame */
  double loss;                             /* [0, 1]: datagrams dropped (frames never) */
  double duplicate;                        /* [0, 1]: datagrams delivered twice */
} rumor_sim_config;

/* The counters of a world. */
typedef struct rumor_sim_stats {
  uint64_t events;        /* run so far */
  uint64_t datagrams;     /* sent by nodes */
  uint64_t bytes;         /* of those datagrams */
  uint64_t delivered, lost, duplicated, cut;
  uint64_t frames, frame_bytes;
} rumor_sim_stats;

/* RUMOR_EINVAL for a bad config, RUMOR_ENOMEM. */
int rumor__sim_new(const rumor_sim_config *cfg, rumor_sim **out);
/* Closes every node and frees the world. */
void rumor__sim_free(rumor_sim *s);
/* Creates node number rumor__sim_count() with cfg (its bind is ignored:
 * the node gets its simulated address). Not started. */
int rumor__sim_add(rumor_sim *s, const rumor_config_t *cfg, rumor_node_t **out,
                   rumor_error_t *err);
size_t rumor__sim_count(const rumor_sim *s);
rumor_node_t *rumor__sim_node(const rumor_sim *s, size_t i);
/* "10.x.y.z:7946", node i's address, into buf (>= RUMOR_MAX_ADDR_STRLEN). */
void rumor__sim_address(size_t i, char *buf, size_t size);
uint64_t rumor__sim_now(const rumor_sim *s);
/* Gives every node of the world a record of every other, as a cluster
 * whose membership has converged (share.h): the world then starts formed
 * instead of joining through the protocol, which at 10,000 nodes costs
 * O(N^2) digest work and memory no machine has. Once per world, with every
 * node started and alone. 0, RUMOR_ESTATE (called twice, a node closed,
 * or a node that knows a member already), RUMOR_ENOMEM (close the world). */
int rumor__sim_converge(rumor_sim *s);
/* Runs the next event; 0 when there is none (the clock stays). */
int rumor__sim_step(rumor_sim *s);
/* Runs every event due up to time t, then sets the clock to t. */
void rumor__sim_run_until(rumor_sim *s, uint64_t t);
/* side[i] for each of the first n nodes: while set, only nodes of one side
 * hear each other (nodes past n are on side 0). side NULL heals. */
int rumor__sim_partition(rumor_sim *s, const int *side, size_t n);
/* Datagram loss from now on. */
void rumor__sim_set_loss(rumor_sim *s, double loss);
uint64_t rumor__sim_trace(const rumor_sim *s);
const rumor_sim_stats *rumor__sim_stats(const rumor_sim *s);
#endif

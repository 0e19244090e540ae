/* node_int.h: the node structure, shared by node.c (API and lifecycle) and
 * gossip.c (the protocol). Not part of the public API. */
#ifndef RUMOR_NODE_INT_H
#define RUMOR_NODE_INT_H
#include "rumor.h"
#include "io.h"
#include "rng.h"
#include "store.h"

enum { NODE_NEW, NODE_RUNNING, NODE_STOPPED, NODE_CLOSING };

/* One accepted entry waiting to be reported to the update callback. Holds
 * references to the blobs so the store may change before it is delivered. */
typedef struct rumor_event {
  rumor_member *member;
  rumor_blob *key, *value;
  uint64_t seq, generation;
  int local;
} rumor_event;

/* A member the next delta should carry, and from which seq on. */
typedef struct rumor_candidate {
  rumor_member *member;
  uint64_t from_seq;
} rumor_candidate;

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
  size_t max_entry_wire;   /* largest entry that fits any datagram we send */

  rumor_rng rng;
  rumor_store store;
  rumor_member *self;

  rumor_update_cb on_update;
  void *on_update_arg;
  rumor_event *events;     /* queue of accepted entries not yet reported */
  size_t nevents, events_cap;
  int dispatching;

  uint8_t *sendbuf;        /* cfg.mtu bytes */
  rumor_candidate *cands;  /* scratch for delta planning */
  size_t cands_cap;
  uint64_t mark;           /* stamp for "seen in this digest" */
  uint64_t *marks;         /* per member index */
  size_t digest_cursor;    /* where the next partial digest starts */

  rumor_metrics_t metrics;
  rumor_close_cb close_cb;
  void *close_arg;
};

/* gossip.c */
void rumor__gossip_round(rumor_node_t *n);
void rumor__gossip_recv(rumor_node_t *n, const struct sockaddr_storage *from,
                        const uint8_t *buf, size_t len);

/* node.c */
int rumor__node_queue_event(rumor_node_t *n, rumor_member *m, rumor_entry *e, int local);
void rumor__node_flush_events(rumor_node_t *n);
/* Adds a member and grows per-member scratch; NULL when out of memory. */
rumor_member *rumor__node_add_member(rumor_node_t *n, const char *id, size_t len);
#endif

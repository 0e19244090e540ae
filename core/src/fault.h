/* fault.h: fault injection at the transport (rumor_node_set_fault): per-peer
 * loss, delay and cuts, decided at this node on what it sends and receives,
 * so partitions and lossy links can be staged without root.
 *
 * The node's send path (rumor__gossip_send), receive path
 * (rumor__gossip_recv, for datagrams and frames) and transfer start consult
 * it; each checks `faults.active` first, so a node without faults pays one
 * branch per datagram.
 *
 * Ownership: the node owns its rumor_faults (embedded in rumor_node). The
 * faults own the rule array and every held datagram (each one malloc'd with
 * its bytes); rumor__fault_free releases them with the node, and
 * rumor__fault_stop drops the held ones when the node stops. Nothing here
 * points into the store or at a member: rules are keyed by address. */
#ifndef RUMOR_FAULT_H
#define RUMOR_FAULT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct rumor_node rumor_node_t;

/* One peer's settings (or the default's). */
typedef struct rumor_fault_rule {
  struct sockaddr_storage addr; /* unused for the default */
  double loss;                  /* [0, 1] */
  uint32_t delay_ms;            /* [0, RUMOR_FAULT_MAX_DELAY_MS] */
  int cut;                      /* 0 or 1 */
} rumor_fault_rule;

/* A datagram held back by a delay (fault.c). */
typedef struct rumor_fault_held rumor_fault_held;

typedef struct rumor_faults {
  int active;               /* a rule, the default or a held datagram exists */
  rumor_fault_rule *rules;  /* per-peer settings, addresses distinct */
  size_t nrules, cap;
  int has_default;
  rumor_fault_rule dflt;    /* for peers without a rule of their own */
  rumor_fault_held *head, *tail; /* held datagrams, in the order they leave */
  size_t nheld;
} rumor_faults;

/* A datagram of len bytes in buf is about to go to `to`: 0 sends it now; 1
 * means the faults took it (dropped, or held to leave later). */
int rumor__fault_send(rumor_node_t *n, const struct sockaddr_storage *to, const uint8_t *buf,
                      size_t len);
/* A datagram (via_stream 0) or frame arrived from `from`; advertised is the
 * sender's address from its header (NULL when it did not decode). 1: drop
 * it (counted). */
int rumor__fault_recv(rumor_node_t *n, const struct sockaddr_storage *from,
                      const struct sockaddr_storage *advertised, int via_stream);
/* 1 when peer is cut (no TCP transfer to it), counting the refusal. */
int rumor__fault_cut(rumor_node_t *n, const struct sockaddr_storage *peer);
/* RUMOR_TIMER_FAULT fired: sends what is due, re-arms for the rest. */
void rumor__fault_timer(rumor_node_t *n);
/* The node stops: held datagrams are dropped (counted in fault_dropped). */
void rumor__fault_stop(rumor_node_t *n);
/* Frees the rules and held datagrams (node_free). */
void rumor__fault_free(rumor_node_t *n);
#endif

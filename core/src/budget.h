/* budget.h: per-source receive budgets (recv_budget). Each source address
 * (IP and port) has a token bucket of `rate` datagrams per second, holding
 * at most one second's worth, so an address may burst `rate` datagrams and
 * then sustain `rate` per second; what it sends beyond is dropped before
 * it is decoded.
 *
 * The buckets live in a table of RUMOR_BUDGET_SLOTS slots allocated once:
 * nothing is allocated per datagram, and the memory is fixed whatever the
 * number of addresses. An address hashes (with a per-node random key) to a
 * window of RUMOR_BUDGET_PROBE slots; it takes its own slot there, else an
 * empty one, else the least recently seen one (whose address starts over
 * with a full bucket if it comes back). So a sender cycling source
 * addresses (spoofed ones, say) gets a fresh bucket for each and is not
 * held to the budget, and evicts other addresses' buckets, which only
 * refills them; it cannot lower another address's budget without sending
 * from that very address and port, and cannot make the table grow.
 *
 * Time is the node's clock in milliseconds (the io's now), never read here.
 * Pure: no libuv, no node. */
#ifndef RUMOR_BUDGET_H
#define RUMOR_BUDGET_H
#include <stdint.h>
#include <sys/socket.h>

/* 1024 addresses: more peers than a node talks to at once in all but the
 * largest clusters (a round reaches a handful), at 24 bytes a slot. */
#define RUMOR_BUDGET_SLOTS 1024
/* Slots an address may take: short enough that a lookup is a few compares,
 * long enough that collisions rarely evict an address that is still busy. */
#define RUMOR_BUDGET_PROBE 8

typedef struct rumor_budget_slot {
  uint64_t key;   /* keyed hash of the address; 0: empty */
  uint64_t last;  /* the clock when the bucket was last refilled (and seen) */
  uint32_t milli; /* tokens left, in thousandths of a datagram */
  uint32_t over;  /* dropped since the bucket was last full: logged once */
} rumor_budget_slot;

typedef struct rumor_budget {
  rumor_budget_slot *slots; /* NULL: no budget (rate 0) */
  uint64_t seed;
  uint32_t rate;            /* datagrams per second per address */
} rumor_budget;

/* Returns of rumor__budget_take. */
enum {
  RUMOR_BUDGET_OK = 0,      /* within the budget: a token was taken */
  RUMOR_BUDGET_DROP = 1,    /* over it: drop the datagram */
  RUMOR_BUDGET_CROSSED = 2  /* over it, the first time since its bucket was full */
};

/* Prepares b for rate datagrams/s per address (0: off, nothing allocated).
 * 0, or -1 when out of memory. */
int rumor__budget_init(rumor_budget *b, uint32_t rate, uint64_t seed);
void rumor__budget_free(rumor_budget *b);
/* Charges one datagram from `from` at time now (ms). */
int rumor__budget_take(rumor_budget *b, const struct sockaddr_storage *from, uint64_t now);
#endif

/* budget.c: per-source token buckets in a fixed table (see budget.h). */
#include "budget.h"
#include "mix.h"
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>


/* The address (family, IP, port) under the node's key; never 0. */
static uint64_t address_key(uint64_t seed, const struct sockaddr_storage *ss) {
  uint64_t h = rumor__mix64(seed ^ ss->ss_family);
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
    uint64_t hi, lo;
    memcpy(&hi, a->sin6_addr.s6_addr, 8);
    memcpy(&lo, a->sin6_addr.s6_addr + 8, 8);
    h = rumor__mix64(rumor__mix64(h ^ hi) ^ lo ^ ((uint64_t)a->sin6_port << 48));
  } else if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
    h = rumor__mix64(h ^ ((uint64_t)a->sin_addr.s_addr << 16) ^ a->sin_port);
  }
  return h != 0 ? h : 1;
}

int rumor__budget_init(rumor_budget *b, uint32_t rate, uint64_t seed) {
  memset(b, 0, sizeof(*b));
  b->rate = rate;
  b->seed = seed;
  if (rate == 0) return 0;
  b->slots = calloc(RUMOR_BUDGET_SLOTS, sizeof(*b->slots));
  return b->slots != NULL ? 0 : -1;
}

void rumor__budget_free(rumor_budget *b) {
  free(b->slots);
  b->slots = NULL;
}

/* The slot of key: its own, an empty one, or the least recently seen of
 * its window (reset to a full bucket). */
static rumor_budget_slot *slot_of(rumor_budget *b, uint64_t key, uint64_t now) {
  size_t home = (size_t)(key & (RUMOR_BUDGET_SLOTS - 1));
  rumor_budget_slot *pick = NULL;
  for (size_t i = 0; i < RUMOR_BUDGET_PROBE; i++) {
    rumor_budget_slot *s = &b->slots[(home + i) & (RUMOR_BUDGET_SLOTS - 1)];
    if (s->key == key) return s;
    if (pick != NULL && pick->key == 0) continue; /* an empty slot beats any other */
    if (pick == NULL || s->key == 0 || s->last < pick->last) pick = s;
  }
  pick->key = key;
  pick->last = now;
  pick->milli = b->rate * 1000u;
  pick->over = 0;
  return pick;
}

int rumor__budget_take(rumor_budget *b, const struct sockaddr_storage *from, uint64_t now) {
  if (b->slots == NULL) return RUMOR_BUDGET_OK;
  rumor_budget_slot *s = slot_of(b, address_key(b->seed, from), now);
  /* rate datagrams per second is rate thousandths per millisecond. */
  uint32_t full = b->rate * 1000u;
  uint64_t elapsed = now > s->last ? now - s->last : 0;
  if (elapsed >= 1000 || (uint64_t)s->milli + elapsed * b->rate >= full)
    s->milli = full;
  else
    s->milli += (uint32_t)(elapsed * b->rate);
  s->last = now;
  if (s->milli == full) s->over = 0; /* a second's worth again: the crossing is over */
  if (s->milli >= 1000) {
    s->milli -= 1000;
    return RUMOR_BUDGET_OK;
  }
  if (s->over) return RUMOR_BUDGET_DROP;
  s->over = 1;
  return RUMOR_BUDGET_CROSSED;
}

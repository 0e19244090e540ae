/* fault.c: fault injection at the transport (rumor_node_set_fault).
 *
 * A table of per-peer settings (loss, delay, cut), keyed by the peer's
 * address, and a default for peers without one. The send path asks
 * rumor__fault_send about every datagram, the receive path
 * rumor__fault_recv about every datagram and frame, a TCP transfer
 * rumor__fault_cut before it starts and before each frame; all of them
 * only while faults.active is set, so a node without faults pays one branch.
 *
 * Delays: a delayed datagram is copied into a queue ordered by the time it
 * is due, and RUMOR_TIMER_FAULT (an io timer like the others, so the fake
 * network and a simulator drive it too) sends it then. Datagrams to one
 * address leave in the order they were sent, even when its delay shrinks
 * meanwhile: a datagram is never due before one held earlier for the same
 * address, and while any are held for an address, new ones to it queue
 * behind them (also once its delay is 0). The queue holds at most
 * RUMOR_FAULT_MAX_HELD datagrams; more are dropped and counted
 * (fault_overflow).
 *
 * Randomness comes from the node's generator, which the io seeds: a
 * simulation with a fixed seed loses the same datagrams on every run.
 * Nothing here reads network input: addresses come from the caller's
 * string (rumor_addr_parse) or from the receive path's decoded header. */
#include "node_int.h"
#include "addr.h"
#include <stdlib.h>
#include <string.h>

struct rumor_fault_held {
  rumor_fault_held *next;
  struct sockaddr_storage to;
  uint64_t due;          /* loop time it leaves */
  size_t len;
  uint8_t data[];        /* the datagram, copied */
};

static void update_active(rumor_faults *f) {
  f->active = f->nrules > 0 || f->has_default || f->nheld > 0;
}

static rumor_fault_rule *find_rule(rumor_faults *f, const struct sockaddr_storage *addr) {
  for (size_t i = 0; i < f->nrules; i++)
    if (rumor__addr_equal(&f->rules[i].addr, addr)) return &f->rules[i];
  return NULL;
}

/* The settings for a peer: its own, else the default, else NULL. */
static rumor_fault_rule *rule_for(rumor_faults *f, const struct sockaddr_storage *addr) {
  rumor_fault_rule *r = find_rule(f, addr);
  return r != NULL ? r : f->has_default ? &f->dflt : NULL;
}

/* One draw: 1 when a datagram is lost at this rate. No draw at 0 or 1, so
 * the generator's sequence (and the protocol's choices) only move while a
 * real chance is in force. */
static int lost(rumor_node_t *n, double loss) {
  if (loss <= 0) return 0;
  if (loss >= 1) return 1;
  /* 53 random bits: a uniform double in [0, 1). */
  return (double)(rumor__rng_next(&n->rng) >> 11) * 0x1.0p-53 < loss;
}

static uint64_t now_ms(rumor_node_t *n) { return n->io->ops->now(n->io); }

static void arm(rumor_node_t *n) {
  rumor_fault_held *h = n->faults.head;
  if (h == NULL) return;
  uint64_t now = now_ms(n);
  n->io->ops->arm(n->io, RUMOR_TIMER_FAULT, h->due > now ? h->due - now : 0);
}

/* The due time of the last datagram held for addr, or 0 when none is. */
static uint64_t last_due_for(const rumor_faults *f, const struct sockaddr_storage *addr) {
  uint64_t due = 0;
  for (const rumor_fault_held *h = f->head; h != NULL; h = h->next)
    if (rumor__addr_equal(&h->to, addr)) due = h->due;
  return due;
}

/* Queues a copy of the datagram, due at `due`, after every datagram due
 * no later (so equal times keep the order they were sent in). */
static void hold(rumor_node_t *n, const struct sockaddr_storage *to, const uint8_t *buf,
                 size_t len, uint64_t due) {
  rumor_faults *f = &n->faults;
  if (f->nheld >= RUMOR_FAULT_MAX_HELD) {
    n->metrics.fault_overflow++;
    return;
  }
  rumor_fault_held *h = malloc(sizeof(*h) + len);
  if (h == NULL) {
    n->metrics.fault_overflow++; /* no room, as good as a full queue */
    return;
  }
  h->to = *to;
  h->due = due;
  h->len = len;
  memcpy(h->data, buf, len);
  if (f->tail == NULL || f->tail->due <= due) { /* the usual case: one delay for all */
    h->next = NULL;
    if (f->tail != NULL) f->tail->next = h;
    else f->head = h;
    f->tail = h;
  } else {
    rumor_fault_held **p = &f->head;
    while ((*p)->due <= due) p = &(*p)->next; /* stops before the tail: tail->due > due */
    h->next = *p;
    *p = h;
  }
  f->nheld++;
  n->metrics.fault_delayed++;
  update_active(f);
  arm(n);
}

int rumor__fault_send(rumor_node_t *n, const struct sockaddr_storage *to, const uint8_t *buf,
                      size_t len) {
  rumor_faults *f = &n->faults;
  rumor_fault_rule *r = rule_for(f, to);
  if (r != NULL && (r->cut || lost(n, r->loss))) {
    n->metrics.fault_dropped++;
    return 1;
  }
  uint32_t delay = r != NULL ? r->delay_ms : 0;
  uint64_t last = f->nheld > 0 ? last_due_for(f, to) : 0;
  if (delay == 0 && last == 0) return 0;
  uint64_t due = now_ms(n) + delay;
  hold(n, to, buf, len, due > last ? due : last);
  return 1;
}

int rumor__fault_recv(rumor_node_t *n, const struct sockaddr_storage *from,
                      const struct sockaddr_storage *advertised, int via_stream) {
  rumor_faults *f = &n->faults;
  rumor_fault_rule *r = NULL;
  if (advertised != NULL) {
    /* The address members() reports: the header's, its IP taken from the
     * datagram when the sender bound an unspecified one. A frame's source
     * port is the connection's, not the peer's. */
    struct sockaddr_storage addr = *advertised;
    if (rumor__addr_is_unspecified(&addr)) rumor__addr_set_ip_from(&addr, from);
    r = find_rule(f, &addr);
  }
  if (r == NULL && !via_stream) r = find_rule(f, from);
  if (r == NULL && f->has_default) r = &f->dflt;
  if (r == NULL || !(r->cut || (!via_stream && lost(n, r->loss)))) return 0;
  n->metrics.fault_dropped++;
  return 1;
}

int rumor__fault_cut(rumor_node_t *n, const struct sockaddr_storage *peer) {
  rumor_fault_rule *r = rule_for(&n->faults, peer);
  if (r == NULL || !r->cut) return 0;
  n->metrics.fault_dropped++;
  return 1;
}

void rumor__fault_timer(rumor_node_t *n) {
  rumor_faults *f = &n->faults;
  uint64_t now = now_ms(n);
  while (f->head != NULL && f->head->due <= now && n->state == NODE_RUNNING) {
    rumor_fault_held *h = f->head;
    f->head = h->next;
    if (f->head == NULL) f->tail = NULL;
    f->nheld--;
    /* A cut made while it waited stops it too: nothing passes a cut. */
    rumor_fault_rule *r = rule_for(f, &h->to);
    if (r != NULL && r->cut) n->metrics.fault_dropped++;
    else rumor__gossip_emit(n, &h->to, h->data, h->len);
    free(h);
  }
  update_active(f);
  if (n->state == NODE_RUNNING) arm(n);
}

static void drop_held(rumor_node_t *n, int count) {
  rumor_faults *f = &n->faults;
  while (f->head != NULL) {
    rumor_fault_held *h = f->head;
    f->head = h->next;
    free(h);
    if (count) n->metrics.fault_dropped++;
  }
  f->tail = NULL;
  f->nheld = 0;
  update_active(f);
}

void rumor__fault_stop(rumor_node_t *n) { drop_held(n, 1); }

void rumor__fault_free(rumor_node_t *n) {
  drop_held(n, 0);
  free(n->faults.rules);
  n->faults.rules = NULL;
  n->faults.nrules = n->faults.cap = 0;
}

int rumor_node_set_fault(rumor_node_t *n, const char *peer, double loss, uint32_t delay_ms,
                         int cut) {
  if (n == NULL || !(loss >= 0 && loss <= 1) || delay_ms > RUMOR_FAULT_MAX_DELAY_MS ||
      (cut != 0 && cut != 1))
    return RUMOR_EINVAL; /* written so that a NaN loss fails too */
  rumor_faults *f = &n->faults;
  int none = loss == 0 && delay_ms == 0 && cut == 0;
  rumor_fault_rule set = {.loss = loss, .delay_ms = delay_ms, .cut = cut};
  if (peer == NULL) {
    f->has_default = !none;
    f->dflt = set;
    update_active(f);
    return 0;
  }
  if (rumor_addr_parse(peer, &set.addr) != 0) return RUMOR_EADDR;
  rumor_fault_rule *r = find_rule(f, &set.addr);
  if (none) {
    if (r != NULL) *r = f->rules[--f->nrules]; /* order does not matter */
  } else if (r != NULL) {
    *r = set;
  } else {
    if (f->nrules == f->cap) {
      size_t ncap = f->cap ? f->cap * 2 : 8;
      rumor_fault_rule *rules = realloc(f->rules, ncap * sizeof(*rules));
      if (rules == NULL) return RUMOR_ENOMEM;
      f->rules = rules;
      f->cap = ncap;
    }
    f->rules[f->nrules++] = set;
  }
  update_active(f);
  return 0;
}

int rumor_node_clear_faults(rumor_node_t *n) {
  if (n == NULL) return RUMOR_EINVAL;
  n->faults.nrules = 0;
  n->faults.has_default = 0;
  update_active(&n->faults);
  return 0;
}

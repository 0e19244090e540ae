/* await.c: rumor_node_await, "tell me when everyone holds my write".
 *
 * Each member's digests say how much of our state it holds (its watermark
 * of us, kept in held_self). A wait is over when every live member's is at
 * or past the awaited seq. While waits are pending the node polls the
 * members still missing with a SYN, whose SYNACK carries their view of us
 * (and whose ACK leg gives them what they lack), first soon after the write
 * and then backing off to one gossip interval. */
#include "node_int.h"
#include <stdlib.h>

/* First poll 50 ms after a wait starts: by then a push has reached LAN
 * peers (well under 1 ms) even on a loaded host; polling sooner would only
 * race the push. Then doubling, up to the gossip interval. */
#define FIRST_POLL_MS 50

struct rumor_await {
  rumor_await *next;
  uint64_t seq, deadline;
  size_t need;             /* live members that must hold seq; 0: all */
  rumor_await_cb cb;
  void *arg;
};

static int live(const rumor_node_t *n, const rumor_member *m) {
  return m->generation != 0 && rumor__gossip_reachable(n, m);
}

static int holds(const rumor_member *m, uint64_t seq) { return m->held_self >= seq; }

static int satisfied(const rumor_node_t *n, uint64_t seq, size_t need) {
  size_t nlive = 0, held = 0;
  for (size_t i = 1; i < n->store.count; i++) {
    const rumor_member *m = n->store.list[i];
    if (!live(n, m)) continue;
    nlive++;
    if (holds(m, seq)) held++;
    else if (need == 0) return 0;
  }
  return held >= (need == 0 || need > nlive ? nlive : need);
}

/* Calls w's callback with the members still missing (none for status 0). */
static void complete(rumor_node_t *n, rumor_await *w, int status) {
  const char **missing = NULL;
  size_t nmissing = 0;
  if (status != 0 && n->store.count > 1 &&
      (missing = malloc((n->store.count - 1) * sizeof(*missing))) != NULL) {
    for (size_t i = 1; i < n->store.count; i++) {
      const rumor_member *m = n->store.list[i];
      if (live(n, m) && !holds(m, w->seq)) missing[nmissing++] = (const char *)m->id->data;
    }
  }
  w->cb(n, status, missing, nmissing, w->arg);
  free(missing);
  free(w);
}

/* Takes out every wait that matches (done, or expired at now) and
 * completes it. Callbacks may add waits or close the node: the list is
 * re-read after each one. */
static void settle(rumor_node_t *n, uint64_t now, int check_deadlines) {
  int again = 1;
  while (again && n->state == NODE_RUNNING) {
    again = 0;
    for (rumor_await **p = &n->awaits; *p; p = &(*p)->next) {
      rumor_await *w = *p;
      int status;
      if (satisfied(n, w->seq, w->need))
        status = 0;
      else if (check_deadlines && now >= w->deadline)
        status = UV_ETIMEDOUT;
      else
        continue;
      *p = w->next;
      complete(n, w, status);
      again = 1;
      break;
    }
  }
}

void rumor__await_check(rumor_node_t *n) { settle(n, n->io->ops->now(n->io), 0); }

static void arm(rumor_node_t *n, uint64_t now) {
  if (n->awaits == NULL || n->state != NODE_RUNNING) return;
  uint64_t next = n->next_poll;
  for (rumor_await *w = n->awaits; w; w = w->next)
    if (w->deadline < next) next = w->deadline;
  n->io->ops->arm(n->io, RUMOR_TIMER_AWAIT, next > now ? next - now : 0);
}

void rumor__await_timer(rumor_node_t *n) {
  uint64_t now = n->io->ops->now(n->io);
  settle(n, now, 1);
  if (n->awaits == NULL || n->state != NODE_RUNNING) return;
  if (now < n->next_poll) {
    arm(n, now);
    return;
  }
  /* Poll the members some wait still misses. */
  uint64_t lowest = UINT64_MAX;
  for (rumor_await *w = n->awaits; w; w = w->next)
    if (w->seq < lowest) lowest = w->seq;
  for (size_t i = 1; i < n->store.count; i++) {
    const rumor_member *m = n->store.list[i];
    if (live(n, m) && !holds(m, lowest)) rumor__gossip_syn(n, m);
  }
  n->poll_delay *= 2;
  if (n->poll_delay > n->cfg.gossip_interval_ms) n->poll_delay = n->cfg.gossip_interval_ms;
  n->next_poll = now + n->poll_delay;
  arm(n, now);
}

int rumor_node_await(rumor_node_t *n, uint64_t seq, uint32_t timeout_ms, rumor_await_cb cb,
                     void *arg) {
  if (rumor__node_busy(n)) return RUMOR_ESTATE;
  return rumor__await_start(n, seq, timeout_ms, 0, cb, arg);
}

void rumor__await_rebase(rumor_node_t *n, uint64_t seq) {
  for (rumor_await *w = n->awaits; w; w = w->next) w->seq = seq;
}

int rumor__await_start(rumor_node_t *n, uint64_t seq, uint32_t timeout_ms, size_t need,
                       rumor_await_cb cb, void *arg) {
  if (n->state != NODE_RUNNING) return RUMOR_ESTATE;
  if (cb == NULL || seq > n->self->max_seq) return RUMOR_EINVAL;
  rumor_await *w = malloc(sizeof(*w));
  if (w == NULL) return RUMOR_ENOMEM;
  uint64_t now = n->io->ops->now(n->io);
  *w = (rumor_await){n->awaits, seq, now + timeout_ms, need, cb, arg};
  n->awaits = w;
  /* Settled from the timer, never inside this call: the first check runs
   * at once, the first poll a little later. */
  n->poll_delay = FIRST_POLL_MS < n->cfg.gossip_interval_ms ? FIRST_POLL_MS : n->cfg.gossip_interval_ms;
  n->next_poll = now + n->poll_delay;
  n->io->ops->arm(n->io, RUMOR_TIMER_AWAIT, 0);
  return 0;
}

void rumor__await_cancel_all(rumor_node_t *n) {
  while (n->awaits) {
    rumor_await *w = n->awaits;
    n->awaits = w->next;
    w->cb(n, UV_ECANCELED, NULL, 0, w->arg);
    free(w);
  }
}

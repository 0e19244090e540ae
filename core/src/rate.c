/* rate.c: Riak's gossip limit (riak_core_gossip's {Tokens, PeriodMs},
 * {45, 10000} by default there).
 *
 * Not a leaky bucket: a fixed-window counter. The counter starts full, each
 * send that spreads news takes one token, and at the start of every window
 * it is refilled to full, whatever was left. Riak refills from a timer
 * (send_after, reset_tokens); here the refill happens lazily, when a send
 * asks for a token and the node's clock says the window is over, so an idle
 * node costs nothing and no timer is needed. Windows keep the rhythm of the
 * first one (they end at first use + k * interval), as Riak's periodic
 * reset does. A send that finds no token is not queued here: the caller
 * decides (push.c defers our own writes and drops forwards). */
#include "node_int.h"

/* Refills the counter if the window it belongs to is over. */
static void refill(rumor_node_t *n, uint64_t now) {
  uint64_t period = n->cfg.rate_limit_interval_ms;
  if (n->rate_window_end == 0) {
    n->rate_window_end = now + period;
  } else if (now >= n->rate_window_end) {
    n->rate_window_end += ((now - n->rate_window_end) / period + 1) * period;
  } else {
    return;
  }
  n->rate_tokens = n->cfg.rate_limit_tokens;
}

int rumor__rate_take(rumor_node_t *n) {
  if (n->cfg.rate_limit_tokens == 0) return 1; /* off */
  refill(n, n->io->ops->now(n->io));
  if (n->rate_tokens == 0) return 0;
  n->rate_tokens--;
  return 1;
}

uint64_t rumor__rate_wait(rumor_node_t *n) {
  if (n->cfg.rate_limit_tokens == 0) return 0;
  uint64_t now = n->io->ops->now(n->io);
  refill(n, now);
  return n->rate_tokens > 0 ? 0 : n->rate_window_end - now;
}

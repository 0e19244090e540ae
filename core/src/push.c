/* push.c: eager push (rumor mongering), so a write does not wait for the
 * next round to start spreading.
 *
 * Local writes made in one loop iteration are pushed together, right after
 * it, as a PUSH datagram to gossip_fan_out random peers. A node that learns
 * something new from a push passes the same news on to gossip_fan_out
 * random peers (not back to the sender), with one hop less. Stop rule: a
 * push that brings nothing new, or has no hops left, goes no further. So
 * each node forwards a given write at most once, and the flood ends by
 * itself; anti-entropy repairs whatever the push missed (a lost datagram, a
 * node it never picked, a value too big for a datagram). */
#include "node_int.h"

/* Hops a push may travel: log2 of the cluster size plus slack. With a
 * fan-out of 2 or more each hop at least doubles the informed nodes, so the
 * news can reach everyone; the slack covers unlucky picks. "Forward only
 * what is new" already stops the flood; hops bound it even if forgetting
 * (a resync, a restart) made old news look new again. */
static uint8_t initial_hops(const rumor_node_t *n) {
  unsigned hops = 2;
  for (size_t c = n->store.count; c > 1; c >>= 1) hops++;
  return hops > 255 ? 255 : (uint8_t)hops;
}

static void send_push(rumor_node_t *n, const rumor_candidate *cands, size_t nc, uint8_t hops,
                      const rumor_member *x1, const rumor_member *x2) {
  rumor_wire_writer w;
  size_t k = rumor__gossip_pick(n, n->cfg.gossip_fan_out, x1, x2);
  if (k == 0) return;
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->cfg.mtu, RUMOR_MSG_PUSH) != 0 ||
      rumor__wire_push_begin(&w, hops, 0) != 0)
    return;
  size_t written;
  rumor__delta_write(n, &w, cands, nc, &written); /* what does not fit: left to anti-entropy */
  if (written == 0) return;
  for (size_t i = 0; i < k; i++) {
    rumor__gossip_send(n, &n->picks[i]->addr, w.len);
    n->metrics.pushes_sent++;
  }
}

void rumor__push_local(rumor_node_t *n) {
  n->push_armed = 0;
  if (n->self->max_seq <= n->pushed_seq) return;
  rumor_candidate c = {n->self, n->pushed_seq, 0};
  n->pushed_seq = n->self->max_seq;
  send_push(n, &c, 1, initial_hops(n), NULL, NULL);
}

void rumor__push_forward(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *from,
                         size_t nnews) {
  if (msg->hops == 0) return;
  n->metrics.pushes_forwarded++;
  /* Not back to the sender, nor to the owner of the news when it is one member. */
  const rumor_member *owner = nnews == 1 ? n->news[0].member : NULL;
  send_push(n, n->news, nnews, (uint8_t)(msg->hops - 1), from, owner);
}

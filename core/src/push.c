/* push.c: eager push, so a write does not wait for the next round to start
 * spreading. Two ways (rumor.h, broadcast):
 *
 * Epidemic (rumor mongering). Local writes made in one loop iteration are
 * pushed together, right after it, as a PUSH datagram to gossip_fan_out
 * random peers and to our ring successor (gossip.c). A node that learns
 * something new from a push passes the same news on the same way (not back
 * to the sender), with one hop less. Random picks alone miss about
 * e^-fan_out of the nodes (5% at fan-out 3), who then wait for a round; the
 * successor makes the informed set closed along the ring, so those few are
 * reached a hop or two later instead, for one datagram more per node.
 *
 * Tree (Riak's recursive gossip, riak_core_gossip:recursive_gossip). The
 * live members, self included, sorted by id and rotated so that the writer
 * is at position 0, form a tree (tree.h); the writer pushes to its children
 * and a node that learns something new from a tree push forwards it to its
 * own children in the tree rooted at the same writer. Each node sends at
 * most broadcast_branching datagrams per write, about N-1 in all.
 *
 * Stop rule, both ways: a push that brings nothing new (Riak's `ignore`),
 * or has no hops left, goes no further. So each node forwards a given write
 * at most once, and the flood ends by itself even when views differ (a
 * member one node does not know, a different sorted list): such a
 * difference costs a duplicate or a missed subtree, never a loop.
 * Anti-entropy repairs whatever a push missed (a lost datagram, a node it
 * never picked, a dead inner node of the tree, a value too big for a
 * datagram).
 *
 * A tree push is a PUSH whose tree byte holds the branching (wire.h), not a
 * message kind of its own: it carries the same news and takes the same
 * receive path (merge, "forward only what is new"); only the choice of the
 * next peers differs, and that choice is made here. The branching travels
 * with the push, so every node walks the writer's tree whatever its own
 * configuration says.
 *
 * Every datagram sent here takes a token of the rate limit (rate.c). A push
 * of our writes that finds none waits for the window to refill (the push
 * timer is armed for it; pushed_seq stays put); datagrams of a push that
 * has sent some already, and forwards, are dropped. */
#include "node_int.h"
#include "tree.h"
#include <stdlib.h>

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

/* A tree push needs the depth of the tree; the slack covers views that
 * differ (a deeper tree elsewhere). A chain (b = 1) longer than 253 is cut
 * there; anti-entropy carries the rest. */
static uint8_t tree_hops(size_t members, uint32_t b) {
  size_t hops = rumor__tree_depth(members, b) + 2;
  return hops > 255 ? 255 : (uint8_t)hops;
}

/* Writes a PUSH of cands into n->sendbuf. Returns its length, or 0 when not
 * one entry fits (left to anti-entropy). */
static size_t write_push(rumor_node_t *n, const rumor_candidate *cands, size_t nc, uint8_t hops,
                         uint8_t tree) {
  rumor_wire_writer w;
  size_t written;
  if (rumor__gossip_begin(n, &w, n->sendbuf, n->msg_cap, RUMOR_MSG_PUSH) != 0 ||
      rumor__wire_push_begin(&w, hops, tree) != 0)
    return 0;
  rumor__delta_write(n, &w, cands, nc, &written); /* what does not fit: left to anti-entropy */
  return written == 0 ? 0 : w.len;
}

/* Sends the push in n->sendbuf to each target while tokens last; the
 * targets left without one are dropped (tokens do not come back within a
 * window). */
static void send_all(rumor_node_t *n, rumor_member *const *targets, size_t k, size_t len) {
  for (size_t i = 0; i < k; i++) {
    if (!rumor__rate_take(n)) {
      n->metrics.sends_dropped += k - i;
      return;
    }
    rumor__gossip_send(n, &targets[i]->addr, len);
    n->metrics.pushes_sent++;
  }
}

static int cmp_members(const void *pa, const void *pb) {
  const rumor_member *a = *(rumor_member *const *)pa, *b = *(rumor_member *const *)pb;
  return rumor__tree_cmp_id(a->id->data, a->id->len, b->id->data, b->id->len);
}

/* Our children in the b-ary tree rooted at root, as we see the cluster:
 * members we gossip to, plus ourselves and the root wherever we stand with
 * them (the others place them in their trees too). Neither ourselves, the
 * root, nor `from` (it has the news) is ever a target. Fills kids (room
 * for b); returns how many; *members (if not NULL) gets the size of the
 * tree. */
static size_t tree_children(rumor_node_t *n, const rumor_member *root, uint32_t b,
                            const rumor_member *from, rumor_member **kids, size_t *members) {
  size_t count = 0, r = 0, self = 0;
  size_t pos[RUMOR_MAX_BROADCAST_BRANCHING];
  /* The sorted list of ourselves and the members we gossip to is cached
   * while no member joins, leaves or moves (a sort of N ids per forward was
   * most of a tree push's cost at N=1000). A root we do not gossip to (one
   * we blocked) is placed in a list of its own, uncached. */
  int cached = n->tree_cached && n->tree_shape == n->store.shape;
  if (!cached || (root != n->self && !rumor__gossip_reachable(n, root))) {
    rumor_member **ring = rumor__node_reserve(n->ring, &n->ring_cap, n->store.count, sizeof *ring);
    if (ring == NULL) return 0; /* out of memory: anti-entropy carries it */
    n->ring = ring;
    n->tree_cached = 0;
    for (size_t i = 0; i < n->store.count; i++) {
      rumor_member *m = n->store.list[i];
      if (m == n->self || m == root || rumor__gossip_reachable(n, m)) n->ring[count++] = m;
    }
    qsort(n->ring, count, sizeof(*n->ring), cmp_members);
    n->nring = count;
    n->tree_cached = !rumor__gossip_reachable(n, root) && root != n->self ? 0 : 1;
    n->tree_shape = n->store.shape;
  }
  count = n->nring;
  for (size_t i = 0; i < count; i++) {
    if (n->ring[i] == root) r = i;
    if (n->ring[i] == n->self) self = i;
  }
  if (members != NULL) *members = count;
  size_t nk = rumor__tree_children(count, b, rumor__tree_position(count, r, self), pos);
  size_t k = 0;
  for (size_t i = 0; i < nk; i++) {
    rumor_member *m = n->ring[rumor__tree_index(count, r, pos[i])];
    if (m != n->self && m != root && m != from && rumor__gossip_reachable(n, m)) kids[k++] = m;
  }
  return k;
}

/* Epidemic targets into n->picks: gossip_fan_out random peers and our ring
 * successor, neither of them x1 or x2. Returns how many. */
static size_t epidemic_targets(rumor_node_t *n, const rumor_member *x1, const rumor_member *x2) {
  size_t k = rumor__gossip_pick(n, n->cfg.gossip_fan_out, x1, x2);
  rumor_member *pred, *succ;
  rumor__gossip_neighbours(n, &pred, &succ);
  if (succ == NULL || succ == x1 || succ == x2 || n->picks_cap <= k) return k;
  for (size_t i = 0; i < k; i++)
    if (n->picks[i] == succ) return k;
  n->picks[k++] = succ; /* rumor__gossip_pick left room for it */
  return k;
}

/* The push of our writes waits for the tokens to return. */
static void defer_local(rumor_node_t *n) {
  if (!n->push_deferred) n->metrics.sends_deferred++;
  n->push_deferred = 1;
  n->push_armed = 1;
  n->io->ops->arm(n->io, RUMOR_TIMER_PUSH, rumor__rate_wait(n));
}

void rumor__push_local(rumor_node_t *n) {
  rumor_member *kids[RUMOR_MAX_BROADCAST_BRANCHING];
  rumor_member *const *targets = kids;
  size_t k, members;
  uint8_t hops, tree = 0;
  n->push_armed = 0;
  if (n->self->max_seq <= n->pushed_seq) {
    n->push_deferred = 0;
    return;
  }
  rumor_candidate c = {n->self, n->pushed_seq, 0};
  if (n->cfg.broadcast == RUMOR_BROADCAST_TREE) {
    tree = (uint8_t)n->cfg.broadcast_branching;
    k = tree_children(n, n->self, tree, NULL, kids, &members);
    hops = tree_hops(members, tree);
  } else {
    k = epidemic_targets(n, NULL, NULL);
    targets = n->picks;
    hops = initial_hops(n);
  }
  /* No token left: the whole push waits for the window to refill. */
  if (k > 0 && rumor__rate_wait(n) > 0) {
    defer_local(n);
    return;
  }
  /* Nobody to push to, or not one entry fits a datagram: anti-entropy
   * carries it. */
  n->pushed_seq = n->self->max_seq;
  n->push_deferred = 0;
  size_t len = k > 0 ? write_push(n, &c, 1, hops, tree) : 0;
  if (len > 0) send_all(n, targets, k, len);
}

void rumor__push_forward(rumor_node_t *n, const rumor_wire_msg *msg, const rumor_member *from,
                         size_t nnews) {
  rumor_member *kids[RUMOR_MAX_BROADCAST_BRANCHING];
  rumor_member *const *targets = kids;
  size_t k;
  if (msg->hops == 0) return;
  if (msg->tree != 0) {
    /* One block (wire.c checks it): its owner is the root. A leaf stops. */
    if (nnews != 1) return;
    k = tree_children(n, n->news[0].member, msg->tree, from, kids, NULL);
  } else {
    /* Not back to the sender, nor to the owner of the news when it is one member. */
    k = epidemic_targets(n, from, nnews == 1 ? n->news[0].member : NULL);
    targets = n->picks;
  }
  size_t len = k > 0 ? write_push(n, n->news, nnews, (uint8_t)(msg->hops - 1), msg->tree) : 0;
  if (len == 0) return;
  n->metrics.pushes_forwarded++;
  send_all(n, targets, k, len);
}

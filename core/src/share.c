/* share.c: a converged membership shared by many nodes (see share.h).
 *
 * The records and their entries live in one mapping, made read-only once
 * built: a node that changes a shared record without taking its own copy
 * first faults at once, instead of changing every other node's view. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, which POSIX 2008 lacks */
#include "share.h"
#include "node_int.h"
#include "summary.h"
#include "tree.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct rumor_share {
  uint8_t *arena; /* the records, then their entries; read-only once built */
  size_t arena_len;
  rumor_member **members; /* members[j]: node j's record; members[j]->index == j */
  size_t count;
  rumor_map index; /* id -> record, copied into each node's store */
  /* What every node would otherwise work out on its first rounds, each in
   * O(N) or O(N log N), 10^8 or more steps for 10,000 nodes: */
  size_t *sorted;  /* member numbers in ring order (the ids' byte order) */
  size_t *rank;    /* rank[j]: where member j stands in it */
  uint64_t summary_count, summary_hash; /* the summary every node has */
};

static int fit(const rumor_node_t *n) {
  return n->state == NODE_RUNNING && n->store.count == 1 && n->self->ntombstones == 0 &&
         n->self->addr.ss_family != 0;
}

/* Member j's record as every other node would hold it by now: its state as
 * its node holds it, alive, heard from now, its heartbeat seen. */
static void build(rumor_share *sh, size_t j, const rumor_node_t *n, rumor_entry **spare,
                  uint64_t now) {
  const rumor_member *self = n->self;
  rumor_member *b = sh->members[j];
  memset(b, 0, sizeof *b);
  b->id = rumor__blob_ref(self->id);
  b->id_hash = self->id_hash;
  b->generation = b->incarnation = self->generation;
  b->max_seq = self->max_seq;
  b->floor = self->floor;
  b->addr = self->addr;
  b->last_seen = now;
  b->index = j;
  rumor__detector_start(&b->fd, now);
  b->status = RUMOR_MEMBER_ALIVE;
  b->has_figures = rumor__liveness_heartbeat(self) != NULL;
  b->shared = 1;
  rumor__map_init(&b->entries, sh->index.seed ^ (uint64_t)j);
  for (const rumor_entry *e = self->head; e != NULL; e = e->next) {
    rumor_entry *x = (*spare)++;
    memset(x, 0, sizeof *x);
    x->member = b;
    x->slot = rumor__blob_ref(e->slot);
    x->value = rumor__blob_ref(e->value); /* no deletes: fit() */
    x->seq = e->seq;
    x->local_ts = now;
    x->prev = b->tail;
    if (b->tail) b->tail->next = x; else b->head = x;
    b->tail = x;
    b->nlive++;
  }
}

/* The maps of the records' entries are allocated as they fill. */
static int index_entries(rumor_share *sh) {
  for (size_t j = 0; j < sh->count; j++) {
    rumor_member *b = sh->members[j];
    for (rumor_entry *x = b->head; x != NULL; x = x->next)
      if (rumor__map_put(&b->entries, (const char *)x->slot->data, x->slot->len, x) != 0) return -1;
  }
  return 0;
}

typedef struct ranked {
  const rumor_blob *id;
  size_t j;
} ranked;

static int by_id(const void *pa, const void *pb) {
  const rumor_blob *a = ((const ranked *)pa)->id, *b = ((const ranked *)pb)->id;
  return rumor__tree_cmp_id(a->data, a->len, b->data, b->len);
}

/* The ring order and the summary, once for every node. */
static int precompute(rumor_share *sh) {
  ranked *r = malloc(sh->count * sizeof *r);
  sh->sorted = malloc(sh->count * sizeof *sh->sorted);
  sh->rank = malloc(sh->count * sizeof *sh->rank);
  if (r == NULL || sh->sorted == NULL || sh->rank == NULL) {
    free(r);
    return -1;
  }
  for (size_t j = 0; j < sh->count; j++) {
    const rumor_member *b = sh->members[j];
    r[j] = (ranked){b->id, j};
    sh->summary_count++;
    sh->summary_hash += rumor__summary_term(b->id_hash, b->generation, b->max_seq);
  }
  qsort(r, sh->count, sizeof *r, by_id);
  for (size_t i = 0; i < sh->count; i++) {
    sh->sorted[i] = r[i].j;
    sh->rank[r[i].j] = i;
  }
  free(r);
  return 0;
}

/* Member j as node k lists it: k's self for j == k, k's own copy of member
 * 0 (at list[k]) for j == 0, the shared record otherwise. */
static rumor_member *as_listed(const rumor_share *sh, const rumor_node_t *n, size_t k, size_t j) {
  if (j == k) return n->self;
  return j == 0 ? n->store.list[k] : sh->members[j];
}

/* Node k's caches as its first rounds would fill them (gossip.c, push.c,
 * summary.c): whom it gossips to, its ring neighbours, the tree's ring,
 * its summary. */
static int warm_caches(const rumor_share *sh, rumor_node_t *n, size_t k) {
  rumor_store *s = &n->store;
  size_t count = sh->count;
  memcpy(n->reach, s->list + 1, (count - 1) * sizeof *n->reach);
  n->nreach = count - 1;
  n->reach_shape = s->shape;
  n->reach_cached = 1;
  if (count > 1) {
    size_t r = sh->rank[k];
    n->ring_pred = as_listed(sh, n, k, sh->sorted[(r + count - 1) % count]);
    n->ring_succ = as_listed(sh, n, k, sh->sorted[(r + 1) % count]);
    n->ring_version = s->shape;
    n->ring_cached = 1;
  }
  if (n->cfg.broadcast == RUMOR_BROADCAST_TREE) {
    rumor_member **ring = rumor__node_reserve(n->ring, &n->ring_cap, count, sizeof *ring);
    if (ring == NULL) return RUMOR_ENOMEM;
    n->ring = ring;
    for (size_t i = 0; i < count; i++) ring[i] = as_listed(sh, n, k, sh->sorted[i]);
    n->nring = count;
    n->tree_shape = s->shape;
    n->tree_cached = 1;
  }
  s->summary_count = sh->summary_count;
  s->summary_hash = sh->summary_hash;
  s->summary_version = s->version;
  s->summary_cached = 1;
  return 0;
}

/* Lists every record in node k's store, and k's own in its place; k finds
 * them by id through the share's index (store.h). */
static int install(rumor_share *sh, rumor_node_t *n, size_t k) {
  rumor_store *s = &n->store;
  rumor_member **list = realloc(s->list, sh->count * sizeof *list);
  if (list == NULL) return RUMOR_ENOMEM;
  s->list = list;
  s->cap = sh->count;
  if (rumor__node_member_room(n, sh->count) != 0) return RUMOR_ENOMEM;
  memcpy(list, sh->members, sh->count * sizeof *list);
  /* k's self takes list[0] (it stays in the store's own map, found there
   * first); the first record, whose slot that was, moves to slot k as k's
   * own copy. */
  list[0] = n->self;
  s->count = sh->count;
  s->share_index = &sh->index;
  s->share_slot0 = k;
  if (k != 0 && rumor__store_own_at(s, sh->members[0], k) == NULL) return RUMOR_ENOMEM;
  s->version++;
  s->shape++;
  n->metrics.members_joined += sh->count - 1;
  return warm_caches(sh, n, k);
}

int rumor__share_converge(rumor_node_t *const *nodes, size_t count, rumor_share **out) {
  *out = NULL;
  if (count == 0) return RUMOR_EINVAL;
  size_t nentries = 0;
  for (size_t j = 0; j < count; j++) {
    if (!fit(nodes[j])) return RUMOR_ESTATE;
    rumor__liveness_converged(nodes[j], (uint32_t)count);
    nentries += nodes[j]->self->nlive;
  }
  rumor_share *sh = calloc(1, sizeof *sh);
  if (sh == NULL || (sh->members = calloc(count, sizeof *sh->members)) == NULL) {
    free(sh);
    return RUMOR_ENOMEM;
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  sh->arena_len = (count * sizeof(rumor_member) + nentries * sizeof(rumor_entry) + page - 1) / page * page;
  void *arena = mmap(NULL, sh->arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (arena == MAP_FAILED) {
    free(sh->members);
    free(sh);
    return RUMOR_ENOMEM;
  }
  sh->arena = arena;
  rumor__map_init(&sh->index, nodes[0]->store.seed);
  rumor_entry *spare = (rumor_entry *)(sh->arena + count * sizeof(rumor_member));
  uint64_t now = nodes[0]->io->ops->now(nodes[0]->io);
  int rc = 0;
  for (size_t j = 0; j < count; j++) {
    sh->members[j] = (rumor_member *)(sh->arena + j * sizeof(rumor_member));
    build(sh, j, nodes[j], &spare, now);
    sh->count = j + 1; /* what rumor__share_free releases */
    const rumor_blob *id = sh->members[j]->id;
    if (rumor__map_get(&sh->index, (const char *)id->data, id->len) != NULL) rc = RUMOR_ESTATE;
    else if (rumor__map_put(&sh->index, (const char *)id->data, id->len, sh->members[j]) != 0) rc = RUMOR_ENOMEM;
    if (rc != 0) break;
  }
  if (rc == 0 && (index_entries(sh) != 0 || precompute(sh) != 0)) rc = RUMOR_ENOMEM;
  if (rc != 0) {
    rumor__share_free(sh);
    return rc;
  }
  mprotect(sh->arena, sh->arena_len, PROT_READ);
  *out = sh; /* from here on, nodes may list its records */
  for (size_t k = 0; rc == 0 && k < count; k++) rc = install(sh, nodes[k], k);
  return rc;
}

void rumor__share_free(rumor_share *sh) {
  if (sh == NULL) return;
  if (sh->arena != NULL) mprotect(sh->arena, sh->arena_len, PROT_READ | PROT_WRITE);
  for (size_t j = 0; j < sh->count; j++) {
    rumor_member *b = sh->members[j];
    for (rumor_entry *x = b->head; x != NULL; x = x->next) {
      rumor__blob_unref(x->slot);
      rumor__blob_unref(x->value);
    }
    rumor__map_free(&b->entries);
    rumor__blob_unref(b->id);
  }
  rumor__map_free(&sh->index);
  if (sh->arena != NULL) munmap(sh->arena, sh->arena_len);
  free(sh->sorted);
  free(sh->rank);
  free(sh->members);
  free(sh);
}

/* store.c: members and their entries (see store.h for the invariants). */
#include "store.h"
#include "summary.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int rumor__store_init(rumor_store *s, uint64_t seed) {
  memset(s, 0, sizeof(*s));
  s->seed = seed;
  rumor__map_init(&s->members, seed);
  return 0;
}

static void tomb_unlink(rumor_store *s, rumor_entry *e) {
  if (e->tprev) e->tprev->tnext = e->tnext; else if (s->thead == e) s->thead = e->tnext;
  if (e->tnext) e->tnext->tprev = e->tprev; else if (s->ttail == e) s->ttail = e->tprev;
  e->tprev = e->tnext = NULL;
}

static void tomb_append(rumor_store *s, rumor_entry *e) {
  e->tprev = s->ttail;
  e->tnext = NULL;
  if (s->ttail) s->ttail->tnext = e; else s->thead = e;
  s->ttail = e;
}

static void list_unlink(rumor_member *m, rumor_entry *e) {
  if (e->prev) e->prev->next = e->next; else m->head = e->next;
  if (e->next) e->next->prev = e->prev; else m->tail = e->prev;
  e->prev = e->next = NULL;
}

/* Inserts e in seq order, searching from the tail (where new entries go). */
static void list_insert(rumor_member *m, rumor_entry *e) {
  rumor_entry *after = m->tail;
  while (after && after->seq > e->seq) after = after->prev;
  e->prev = after;
  e->next = after ? after->next : m->head;
  if (e->next) e->next->prev = e; else m->tail = e;
  if (after) after->next = e; else m->head = e;
}

/* Detaches e's value or tombstone from the counts and the FIFO. */
static void entry_detach(rumor_store *s, rumor_entry *e) {
  if (e->value == NULL) {
    tomb_unlink(s, e);
    e->member->ntombstones--;
  } else {
    e->member->nlive--;
  }
  rumor__blob_unref(e->value);
  e->value = NULL;
}

static void entry_free(rumor_entry *e) {
  rumor__blob_unref(e->slot);
  rumor__blob_unref(e->value);
  rumor__blob_unref(e->kept);
  free(e);
}

static void member_clear(rumor_store *s, rumor_member *m) {
  rumor_entry *e = m->head;
  while (e) {
    rumor_entry *next = e->next;
    if (e->value == NULL) tomb_unlink(s, e);
    entry_free(e);
    e = next;
  }
  m->head = m->tail = NULL;
  m->nlive = m->ntombstones = 0;
  rumor__map_free(&m->entries);
}

void rumor__store_free(rumor_store *s) {
  for (size_t i = 0; i < s->count; i++) {
    if (s->list[i]->shared) continue; /* its share's */
    member_clear(s, s->list[i]);
    rumor__blob_unref(s->list[i]->id);
    rumor__blob_unref(s->list[i]->blocked_by);
    free(s->list[i]->block_detail);
    free(s->list[i]->replay);
    free(s->list[i]);
  }
  free(s->list);
  rumor__map_free(&s->members);
  memset(s, 0, sizeof(*s));
}

rumor_member *rumor__store_find(const rumor_store *s, const char *id, size_t len) {
  rumor_member *m = rumor__map_get(&s->members, id, len);
  if (m != NULL || s->share_index == NULL) return m;
  const rumor_member *b = rumor__map_get(s->share_index, id, len);
  if (b == NULL) return NULL;
  return s->list[b->index == 0 ? s->share_slot0 : b->index];
}

rumor_member *rumor__store_add(rumor_store *s, const char *id, size_t len) {
  if (s->count == s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 8;
    rumor_member **nl = realloc(s->list, ncap * sizeof(*nl));
    if (nl == NULL) return NULL;
    s->list = nl;
    s->cap = ncap;
  }
  rumor_member *m = calloc(1, sizeof(*m));
  if (m == NULL) return NULL;
  m->id = rumor__blob_new(id, len);
  if (m->id == NULL) {
    free(m);
    return NULL;
  }
  m->id_hash = rumor__summary_id_hash(m->id->data, len);
  rumor__map_init(&m->entries, s->seed ^ (uint64_t)s->count);
  if (rumor__map_put(&s->members, (const char *)m->id->data, len, m) != 0) {
    rumor__blob_unref(m->id);
    free(m);
    return NULL;
  }
  m->index = s->count;
  s->list[s->count++] = m;
  return m;
}

rumor_member *rumor__store_own_at(rumor_store *s, rumor_member *m, size_t index) {
  if (!m->shared) return m;
  rumor_member *c = malloc(sizeof(*c));
  if (c == NULL) return NULL;
  *c = *m;
  c->shared = 0;
  c->index = index;
  c->head = c->tail = NULL;
  c->nlive = c->ntombstones = 0;
  rumor__map_init(&c->entries, s->seed ^ (uint64_t)index);
  for (const rumor_entry *e = m->head; e != NULL; e = e->next) {
    rumor_entry *x = calloc(1, sizeof(*x));
    if (x == NULL ||
        rumor__map_put(&c->entries, (const char *)e->slot->data, e->slot->len, x) != 0) {
      free(x);
      member_clear(s, c);
      free(c);
      return NULL;
    }
    x->member = c;
    x->slot = rumor__blob_ref(e->slot);
    x->seq = e->seq;
    x->local_ts = e->local_ts;
    x->stamp = e->stamp;
    x->refused = e->refused;
    x->kept = e->kept ? rumor__blob_ref(e->kept) : NULL;
    x->kept_seq = e->kept_seq;
    if (e->value != NULL) {
      x->value = rumor__blob_ref(e->value);
      c->nlive++;
    } else {
      tomb_append(s, x);
      c->ntombstones++;
    }
    x->prev = c->tail; /* m's list is in seq order already */
    if (c->tail) c->tail->next = x; else c->head = x;
    c->tail = x;
  }
  /* A share's members are alive and unblocked, with no replay window yet
   * (share.h): only the id is held by pointer, and is the copy's by
   * reference. */
  assert(m->blocked_by == NULL && m->block_detail == NULL && m->replay == NULL);
  c->id = rumor__blob_ref(m->id);
  s->list[index] = c; /* found there through the share's index */
  return c;
}

void rumor__store_reset(rumor_store *s, rumor_member *m, uint64_t gen) {
  assert(!m->shared);
  member_clear(s, m);
  rumor__map_init(&m->entries, s->seed ^ (uint64_t)m->index);
  m->generation = gen;
  m->max_seq = m->floor = m->sweep_mark = 0;
  s->version++;
  s->shape++;
}

rumor_entry *rumor__store_entry(const rumor_member *m, const char *slot, size_t len) {
  return rumor__map_get(&m->entries, slot, len);
}

rumor_entry *rumor__store_put(rumor_store *s, rumor_member *m, const char *slot, size_t len,
                              uint64_t seq, rumor_blob *value, uint64_t now) {
  assert(!m->shared);
  rumor_entry *e = rumor__map_get(&m->entries, slot, len);
  if (e == NULL) {
    e = calloc(1, sizeof(*e));
    if (e == NULL) return NULL;
    e->slot = rumor__blob_new(slot, len);
    if (e->slot == NULL || rumor__map_put(&m->entries, (const char *)e->slot->data, len, e) != 0) {
      rumor__blob_unref(e->slot);
      free(e);
      return NULL;
    }
    e->member = m;
  } else {
    entry_detach(s, e);
    list_unlink(m, e);
  }
  e->seq = seq;
  e->local_ts = now;
  e->refused = 0;
  rumor__blob_unref(e->kept);
  e->kept = NULL;
  e->kept_seq = 0;
  if (value != NULL) {
    e->value = rumor__blob_ref(value);
    m->nlive++;
  } else {
    tomb_append(s, e);
    m->ntombstones++;
  }
  list_insert(m, e);
  if (seq > m->max_seq) m->max_seq = seq;
  s->version++;
  return e;
}

void rumor__store_remove(rumor_store *s, rumor_entry *e) {
  rumor_member *m = e->member;
  assert(!m->shared);
  entry_detach(s, e);
  list_unlink(m, e);
  rumor__map_del(&m->entries, (const char *)e->slot->data, e->slot->len);
  entry_free(e);
}

void rumor__store_renumber(rumor_store *s, rumor_member *m, uint64_t gen) {
  assert(!m->shared);
  uint64_t seq = 0;
  rumor_entry *e = m->head;
  while (e != NULL) {
    rumor_entry *next = e->next;
    if (e->value == NULL)
      rumor__store_remove(s, e);
    else
      e->seq = ++seq; /* the order stays, so the list stays sorted */
    e = next;
  }
  m->generation = gen;
  m->max_seq = seq;
  m->floor = m->sweep_mark = 0;
  s->version++;
  s->shape++;
}

rumor_entry *rumor__store_after(const rumor_member *m, uint64_t after) {
  rumor_entry *e = m->tail, *first = NULL;
  while (e && e->seq > after) {
    first = e;
    e = e->prev;
  }
  return first;
}

size_t rumor__store_purge(rumor_store *s, uint64_t cutoff) {
  size_t n = 0;
  while (s->thead && s->thead->local_ts <= cutoff) {
    rumor_entry *e = s->thead;
    if (e->seq > e->member->floor) e->member->floor = e->seq;
    rumor__store_remove(s, e);
    n++;
  }
  return n;
}

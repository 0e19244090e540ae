/* store.c: members and their entries (see store.h for the invariants). */
#include "store.h"
#include <stdlib.h>
#include <string.h>

int rumor__store_init(rumor_store *s, uint64_t seed) {
  memset(s, 0, sizeof(*s));
  s->seed = seed;
  rumor__map_init(&s->members, seed);
  return 0;
}

static void entry_free(rumor_entry *e) {
  rumor__blob_unref(e->key);
  rumor__blob_unref(e->value);
  free(e);
}

static void member_clear(rumor_member *m) {
  rumor_entry *e = m->head;
  while (e) {
    rumor_entry *next = e->next;
    entry_free(e);
    e = next;
  }
  m->head = m->tail = NULL;
  m->nentries = 0;
  rumor__map_free(&m->entries);
}

void rumor__store_free(rumor_store *s) {
  for (size_t i = 0; i < s->count; i++) {
    member_clear(s->list[i]);
    rumor__blob_unref(s->list[i]->id);
    free(s->list[i]);
  }
  free(s->list);
  rumor__map_free(&s->members);
  memset(s, 0, sizeof(*s));
}

rumor_member *rumor__store_find(const rumor_store *s, const char *id, size_t len) {
  return rumor__map_get(&s->members, id, len);
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

void rumor__store_reset(rumor_store *s, rumor_member *m, uint64_t gen) {
  member_clear(m);
  rumor__map_init(&m->entries, s->seed ^ (uint64_t)m->index);
  m->generation = gen;
  m->max_seq = 0;
}

rumor_entry *rumor__store_entry(const rumor_member *m, const char *key, size_t len) {
  return rumor__map_get(&m->entries, key, len);
}

static void list_unlink(rumor_member *m, rumor_entry *e) {
  if (e->prev) e->prev->next = e->next; else m->head = e->next;
  if (e->next) e->next->prev = e->prev; else m->tail = e->prev;
  e->prev = e->next = NULL;
}

static void list_append(rumor_member *m, rumor_entry *e) {
  e->prev = m->tail;
  e->next = NULL;
  if (m->tail) m->tail->next = e; else m->head = e;
  m->tail = e;
}

rumor_entry *rumor__store_put(rumor_member *m, const char *key, size_t len, uint64_t seq,
                              rumor_blob *value, uint64_t now) {
  rumor_entry *e = rumor__map_get(&m->entries, key, len);
  if (e == NULL) {
    e = calloc(1, sizeof(*e));
    if (e == NULL) return NULL;
    e->key = rumor__blob_new(key, len);
    if (e->key == NULL || rumor__map_put(&m->entries, (const char *)e->key->data, len, e) != 0) {
      rumor__blob_unref(e->key);
      free(e);
      return NULL;
    }
    m->nentries++;
  } else {
    list_unlink(m, e);
    rumor__blob_unref(e->value);
  }
  e->value = rumor__blob_ref(value);
  e->seq = seq;
  e->local_ts = now;
  list_append(m, e);
  if (seq > m->max_seq) m->max_seq = seq;
  return e;
}

rumor_entry *rumor__store_after(const rumor_member *m, uint64_t after) {
  rumor_entry *e = m->tail, *first = NULL;
  while (e && e->seq > after) {
    first = e;
    e = e->prev;
  }
  return first;
}

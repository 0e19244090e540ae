/* map.h: an open-addressing hash map from byte-string keys to pointers.
 *
 * The map does not own keys or values: the key bytes must stay valid while
 * the entry exists (callers point them into the value they store). The hash
 * is seeded per map so that keys chosen by a remote peer cannot be aimed at
 * one bucket chain without knowing the seed. */
#ifndef RUMOR_MAP_H
#define RUMOR_MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct rumor_map_slot {
  const char *key; /* NULL: empty slot */
  uint32_t key_len;
  uint32_t hash;
  void *value;
} rumor_map_slot;

typedef struct rumor_map {
  rumor_map_slot *slots;
  size_t cap;   /* 0 or a power of two */
  size_t count;
  uint64_t seed;
} rumor_map;

void rumor__map_init(rumor_map *m, uint64_t seed);
void rumor__map_free(rumor_map *m); /* frees the table only */
void *rumor__map_get(const rumor_map *m, const char *key, size_t key_len);
/* Inserts or replaces. Returns 0, or -1 when out of memory. */
int rumor__map_put(rumor_map *m, const char *key, size_t key_len, void *value);
/* Removes key; returns its value or NULL. */
void *rumor__map_del(rumor_map *m, const char *key, size_t key_len);

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */
#endif

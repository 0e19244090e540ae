/* map.c: open-addressing hash map with linear probing and backward-shift
 * deletion (no tombstones, so lookups stay short after many deletes). */
#include "map.h"
#include <stdlib.h>
#include <string.h>

/* Kept at most 3/4 full: linear probing degrades quickly past that. */
#define MAP_MAX_LOAD_NUM 3
#define MAP_MAX_LOAD_DEN 4
/* A member's entries are a map, and a node holds every member: most hold a
 * heartbeat and a few keys, so small tables start small (4 slots, 96 bytes)
 * and double as they fill. */
#define MAP_MIN_CAP 4

static uint32_t map_hash(uint64_t seed, const char *key, size_t len) {
  /* FNV-1a over the bytes from a seeded start, then a 64-bit finaliser
   * (murmur3's fmix) so that the low bits used for the index are mixed. */
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return (uint32_t)h;
}

void rumor__map_init(rumor_map *m, uint64_t seed) {
  m->slots = NULL;
  m->cap = 0;
  m->count = 0;
  m->seed = seed;
}

void rumor__map_free(rumor_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}

static size_t map_find(const rumor_map *m, const char *key, size_t len, uint32_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const rumor_map_slot *s = &m->slots[i];
    if (s->key == NULL) return i;
    if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0) return i;
  }
}

void *rumor__map_get(const rumor_map *m, const char *key, size_t len) {
  if (m->count == 0) return NULL;
  size_t i = map_find(m, key, len, map_hash(m->seed, key, len));
  return m->slots[i].key ? m->slots[i].value : NULL;
}

static int map_grow(rumor_map *m) {
  size_t ncap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
  rumor_map_slot *old = m->slots;
  size_t ocap = m->cap;
  m->slots = calloc(ncap, sizeof(*m->slots));
  if (m->slots == NULL) {
    m->slots = old;
    return -1;
  }
  m->cap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    if (old[i].key == NULL) continue;
    size_t j = map_find(m, old[i].key, old[i].key_len, old[i].hash);
    m->slots[j] = old[i];
  }
  free(old);
  return 0;
}

int rumor__map_put(rumor_map *m, const char *key, size_t len, void *value) {
  if (len > UINT32_MAX) return -1;
  if ((m->count + 1) * MAP_MAX_LOAD_DEN > m->cap * MAP_MAX_LOAD_NUM && map_grow(m) != 0)
    return -1;
  uint32_t h = map_hash(m->seed, key, len);
  size_t i = map_find(m, key, len, h);
  rumor_map_slot *s = &m->slots[i];
  if (s->key == NULL) m->count++;
  s->key = key;
  s->key_len = (uint32_t)len;
  s->hash = h;
  s->value = value;
  return 0;
}

void *rumor__map_del(rumor_map *m, const char *key, size_t len) {
  if (m->count == 0) return NULL;
  size_t mask = m->cap - 1;
  size_t i = map_find(m, key, len, map_hash(m->seed, key, len));
  if (m->slots[i].key == NULL) return NULL;
  void *value = m->slots[i].value;
  /* Backward shift: pull later members of the probe run into the hole when
   * their home slot is not after the hole (cyclically). */
  size_t hole = i;
  for (size_t j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
    size_t home = m->slots[j].hash & mask;
    int movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
    if (movable) {
      m->slots[hole] = m->slots[j];
      hole = j;
    }
  }
  m->slots[hole].key = NULL;
  m->count--;
  return value;
}

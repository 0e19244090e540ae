/* test_map.c: the hash map against a plain array model, through growth and
 * backward-shift deletions. */
#include "check.h"
#include "map.h"
#include "rng.h"
#include <stdint.h>

#define KEYS 2000

static void model_ops(void) {
  static char keys[KEYS][16];
  static int present[KEYS];
  static int values[KEYS];
  rumor_map m;
  rumor_rng r;
  rumor__map_init(&m, 42);
  rumor__rng_seed(&r, 7);
  for (int i = 0; i < KEYS; i++) snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
  size_t count = 0;
  for (int op = 0; op < 200000; op++) {
    int k = (int)rumor__rng_below(&r, KEYS);
    size_t len = strlen(keys[k]);
    switch (rumor__rng_below(&r, 3)) {
    case 0:
      CHECK_EQ(rumor__map_put(&m, keys[k], len, &values[k]), 0);
      if (!present[k]) count++;
      present[k] = 1;
      break;
    case 1: {
      void *v = rumor__map_del(&m, keys[k], len);
      CHECK(v == (present[k] ? &values[k] : NULL));
      if (present[k]) count--;
      present[k] = 0;
      break;
    }
    default:
      CHECK(rumor__map_get(&m, keys[k], len) == (present[k] ? &values[k] : NULL));
    }
    CHECK_EQ(m.count, count);
  }
  for (int k = 0; k < KEYS; k++)
    CHECK(rumor__map_get(&m, keys[k], strlen(keys[k])) == (present[k] ? &values[k] : NULL));
  rumor__map_free(&m);
}

static void binary_keys(void) {
  rumor_map m;
  int a, b;
  rumor__map_init(&m, 1);
  /* Keys that differ only after an embedded NUL are different keys. */
  CHECK_EQ(rumor__map_put(&m, "x\0a", 3, &a), 0);
  CHECK_EQ(rumor__map_put(&m, "x\0b", 3, &b), 0);
  CHECK(rumor__map_get(&m, "x\0a", 3) == &a);
  CHECK(rumor__map_get(&m, "x\0b", 3) == &b);
  CHECK(rumor__map_get(&m, "x", 1) == NULL);
  rumor__map_free(&m);
}

int main(void) {
  RUN(model_ops);
  RUN(binary_keys);
  return 0;
}

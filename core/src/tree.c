/* tree.c: positions and children in Riak's gossip tree (see tree.h). */
#include "tree.h"
#include <stdlib.h>
#include <string.h>

size_t rumor__tree_children(size_t n, uint32_t b, size_t pos, size_t *out) {
  size_t k = 0;
  if (b == 0 || pos >= n || pos > (n - 1) / b) return 0; /* b*pos+1 >= n: a leaf */
  for (size_t c = b * pos + 1; k < b && c < n; c++) out[k++] = c;
  return k;
}

size_t rumor__tree_parent(uint32_t b, size_t pos) { return pos == 0 ? 0 : (pos - 1) / b; }

size_t rumor__tree_depth(size_t n, uint32_t b) {
  size_t d = 0;
  if (b == 0) return 0;
  for (size_t pos = n > 0 ? n - 1 : 0; pos > 0; pos = (pos - 1) / b) d++;
  return d;
}

size_t rumor__tree_position(size_t n, size_t root, size_t k) { return n ? (k + n - root) % n : 0; }

size_t rumor__tree_index(size_t n, size_t root, size_t pos) { return n ? (pos + root) % n : 0; }

int rumor__tree_cmp_id(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c != 0) return c;
  return alen < blen ? -1 : alen > blen;
}

static int key_cmp(const void *pa, const void *pb) {
  const rumor_tree_key *a = pa, *b = pb;
  return rumor__tree_cmp_id(a->id, a->len, b->id, b->len);
}

void rumor__tree_sort(rumor_tree_key *keys, size_t n) { qsort(keys, n, sizeof *keys, key_cmp); }

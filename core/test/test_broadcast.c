/* test_broadcast.c: the tree's arithmetic (Riak's build_tree shape). */
#include "check.h"
#include "rumor.h"
#include "tree.h"

#define N 15

/* ---- tree arithmetic ---------------------------------------------------- */

/* riak_core_util's build_tree_test: 15 nodes named by their place in a
 * binary tree. Without cycles, 1 -> [11, 12], 11 -> [111, 112], ...,
 * 1222 -> [] (a leaf). */
static void riak_build_tree_shape(void) {
  static const char *riak[N] = {"1",    "11",   "12",   "111",  "112",  "121",  "122", "1111",
                                "1112", "1121", "1122", "1211", "1212", "1221", "1222"};
  size_t kids[RUMOR_MAX_BROADCAST_BRANCHING];
  char want[8];
  for (size_t pos = 0; pos < N; pos++) {
    size_t k = rumor__tree_children(N, 2, pos, kids);
    if (strlen(riak[pos]) == 4) {
      CHECK_EQ(k, 0);
      continue;
    }
    CHECK_EQ(k, 2);
    for (size_t j = 0; j < 2; j++) {
      snprintf(want, sizeof(want), "%s%c", riak[pos], (char)('1' + j));
      CHECK(strcmp(riak[kids[j]], want) == 0);
      CHECK_EQ(rumor__tree_parent(2, kids[j]), pos);
    }
  }
  CHECK_EQ(rumor__tree_depth(N, 2), 3);
  CHECK_EQ(rumor__tree_depth(16, 2), 4);
  CHECK_EQ(rumor__tree_depth(1, 2), 0);
  CHECK_EQ(rumor__tree_depth(0, 2), 0);
}

/* Every position but the root has exactly one parent, and the tree covers
 * all n positions, for every branching and size: no cycles, no orphans. */
static void every_position_once(void) {
  size_t kids[RUMOR_MAX_BROADCAST_BRANCHING];
  for (uint32_t b = 1; b <= RUMOR_MAX_BROADCAST_BRANCHING; b++) {
    for (size_t n = 1; n <= 40; n++) {
      int seen[40] = {0};
      size_t edges = 0;
      for (size_t pos = 0; pos < n; pos++) {
        size_t k = rumor__tree_children(n, b, pos, kids);
        CHECK(k <= b);
        for (size_t j = 0; j < k; j++) {
          CHECK(kids[j] > pos && kids[j] < n);
          seen[kids[j]]++;
          edges++;
        }
      }
      CHECK_EQ(edges, n - 1);
      for (size_t pos = 1; pos < n; pos++) CHECK_EQ(seen[pos], 1);
    }
  }
  CHECK_EQ(rumor__tree_children(5, 2, 5, kids), 0); /* outside the tree */
  CHECK_EQ(rumor__tree_depth(5, 1), 4);             /* a chain */
  CHECK_EQ(rumor__tree_depth(15, 3), 3);
}

static void rotation_and_order(void) {
  /* The writer (sorted index 5 of 15) is at position 0; index 4 is last. */
  CHECK_EQ(rumor__tree_position(N, 5, 5), 0);
  CHECK_EQ(rumor__tree_position(N, 5, 6), 1);
  CHECK_EQ(rumor__tree_position(N, 5, 4), 14);
  for (size_t k = 0; k < N; k++) CHECK_EQ(rumor__tree_index(N, 5, rumor__tree_position(N, 5, k)), k);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"a", 1, (const uint8_t *)"b", 1) < 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"ab", 2, (const uint8_t *)"a", 1) > 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"a", 1, (const uint8_t *)"ab", 2) < 0);
  CHECK_EQ(rumor__tree_cmp_id((const uint8_t *)"n07", 3, (const uint8_t *)"n07", 3), 0);
  /* Bytewise: "Z" (0x5a) sorts before "a" (0x61), 0xff after both. */
  CHECK(rumor__tree_cmp_id((const uint8_t *)"Z", 1, (const uint8_t *)"a", 1) < 0);
  CHECK(rumor__tree_cmp_id((const uint8_t *)"\xff", 1, (const uint8_t *)"a", 1) > 0);
}

int main(void) {
  RUN(riak_build_tree_shape);
  RUN(every_position_once);
  RUN(rotation_and_order);
  return 0;
}

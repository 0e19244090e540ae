/* tree.h: the arithmetic of Riak's recursive gossip tree
 * (riak_core_util:build_tree(B, Nodes, []), without cycles).
 *
 * n members sorted by id are rotated so that the root (the writer) sits at
 * position 0: the member at sorted index k is at position (k - root) mod n.
 * Position i has children b*i+1 .. b*i+b (those below n); leaves have none,
 * so nothing ever comes back up. Every node sorts the same members the same
 * way and so, while views agree, computes the same tree. Pure functions:
 * push.c maps positions to members. */
#ifndef RUMOR_TREE_H
#define RUMOR_TREE_H
#include <stddef.h>
#include <stdint.h>

/* Writes the children of position pos into out (room for b) and returns
 * how many (0 for a leaf, or for pos >= n). b is 1..RUMOR_MAX_BROADCAST_BRANCHING. */
size_t rumor__tree_children(size_t n, uint32_t b, size_t pos, size_t *out);
/* An id and the member it names, to sort in ring order. */
typedef struct rumor_tree_key {
  const uint8_t *id;
  size_t len;
  uint32_t index;
} rumor_tree_key;
/* Sorts keys by id, in the order rumor__tree_cmp_id gives. */
void rumor__tree_sort(rumor_tree_key *keys, size_t n);
/* The parent of position pos > 0. */
size_t rumor__tree_parent(uint32_t b, size_t pos);
/* Edges from the root to the deepest position of a tree of n (0 for n <= 1). */
size_t rumor__tree_depth(size_t n, uint32_t b);
/* Position of sorted index k (< n) in the tree rooted at sorted index root,
 * and back. */
size_t rumor__tree_position(size_t n, size_t root, size_t k);
size_t rumor__tree_index(size_t n, size_t root, size_t pos);
/* Bytewise order of ids (a shorter id that is a prefix comes first): <0, 0, >0. */
int rumor__tree_cmp_id(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
#endif

/* summary.c: the terms of a node's state summary (summary.h). */
#include "summary.h"
#include "mix.h"
#include "rumor.h"
#include "store.h"


uint64_t rumor__summary_id_hash(const uint8_t *id, size_t len) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, finished by mix */
  for (size_t i = 0; i < len; i++) h = (h ^ id[i]) * 0x100000001b3ULL;
  return rumor__mix64(h ^ len);
}

uint64_t rumor__summary_term(uint64_t id_hash, uint64_t generation, uint64_t max_seq) {
  if (generation == 0) return 0;
  uint64_t seq_term = rumor__mix64(max_seq + 0x9e3779b97f4a7c15ULL);
  return rumor__mix64(id_hash ^ rumor__mix64(generation ^ seq_term));
}

void rumor__summary_of(rumor_store *s, uint64_t *count, uint64_t *hash) {
  if (s->summary_cached && s->summary_version == s->version) {
    *count = s->summary_count;
    *hash = s->summary_hash;
    return;
  }
  uint64_t c = 0, h = 0;
  for (size_t i = 0; i < s->count; i++) {
    const rumor_member *m = s->list[i];
    if (m->generation == 0 || m->status == RUMOR_MEMBER_REMOVED) continue;
    c++;
    h += rumor__summary_term(m->id_hash, m->generation, m->max_seq);
  }
  *count = s->summary_count = c;
  *hash = s->summary_hash = h;
  s->summary_version = s->version;
  s->summary_cached = 1;
}

/* gen_corpus.c: writes the seed corpus of valid messages (one of each kind,
 * IPv4 and IPv6, full and partial digests, multi-block deltas, tombstones,
 * map entries, a resync, an epidemic and a tree push, a quiet round's
 * summary) into the directory given as argv[1]. Run by `make corpus`; the
 * output is checked in. */
#include "rumor.h"
#include "wire.h"
#include <stdio.h>
#include <string.h>

static void save(const char *dir, const char *name, const uint8_t *buf, size_t len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(buf, 1, len, f) != len) perror(path);
  if (f) fclose(f);
}

int main(int argc, char **argv) {
  uint8_t buf[1400];
  rumor_wire_writer w;
  struct sockaddr_storage a4, a6;
  if (argc != 2) return 2;
  rumor_addr_parse("127.0.0.1:7946", &a4);
  rumor_addr_parse("[::1]:7947", &a6);

  /* "I blocked your generation 5 as expired." */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_REJECT, "default", 7, "b", 1, 9, &a4);
  rumor__wire_reject(&w, 5, 1);
  save(argv[1], "reject", buf, w.len);

  /* A heartbeat with stats, a left key and a published block. */
  {
    static const uint8_t hb[] = {1, 0xe8, 0x07, 3, 2, 6, 'a', 'c', 't', 'o', 'r', 's', 84,
                                 8, 'd', 'r', 'a', 'i', 'n', 'i', 'n', 'g', 2};
    static const uint8_t blocked[] = {1, 7, 'b', 'l', 'o', 'c', 'k', 'e', 'd', 'z'};
    static const uint8_t why[] = {5, 1};
    rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "b", 1, 5, &a4);
    rumor__wire_delta_begin(&w);
    rumor__wire_block_begin(&w, "b", 1, &a4, 5, 0, 3, 0);
    rumor__wire_block_add(&w, "\0heartbeat", 10, 1, 0, hb, sizeof(hb));
    rumor__wire_block_add(&w, (const char *)blocked, sizeof(blocked), 2, 0, why, sizeof(why));
    rumor__wire_block_add(&w, "\0left", 5, 3, 0, (const uint8_t *)"", 0);
    rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
    rumor__wire_delta_end(&w);
    save(argv[1], "ack_liveness", buf, w.len);
  }

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYN, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_digest_begin(&w);
  rumor__wire_digest_add(&w, "a", 1, &a4, 1700000000000000ull, 12);
  rumor__wire_digest_add(&w, "b", 1, &a6, 0, 0);
  rumor__wire_digest_end(&w, RUMOR_WIRE_COMPLETE);
  save(argv[1], "syn", buf, w.len);

  /* A quiet round's SYN: a summary (40 members, their terms' sum) in
   * place of a digest. */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYN, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_summary(&w, 40, 0x0123456789abcdefULL);
  save(argv[1], "syn_summary", buf, w.len);

  /* A pull: "send me the rest of c's state over TCP". */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYN, "default", 7, "b", 1, 5, &a6);
  rumor__wire_digest_begin(&w);
  rumor__wire_digest_add(&w, "b", 1, &a6, 5, 3);
  rumor__wire_digest_add(&w, "c", 1, &a4, 9, 40);
  rumor__wire_digest_end(&w, RUMOR_WIRE_PULL);
  save(argv[1], "syn_pull", buf, w.len);

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYNACK, "default", 7, "b", 1, 5, &a6);
  rumor__wire_digest_begin(&w);
  rumor__wire_digest_add(&w, "b", 1, &a6, 5, 3);
  rumor__wire_digest_end(&w, 0);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "b", 1, &a6, 5, 0, 3, 0);
  rumor__wire_block_add(&w, "\0color", 6, 1, 0, (const uint8_t *)"blue", 4);
  rumor__wire_block_add(&w, "\0size", 5, 3, 0, (const uint8_t *)"42", 2);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_block_begin(&w, "c", 1, &a4, 9, 4, 100, 2);
  rumor__wire_block_add(&w, "\0k", 2, 50, 0, (const uint8_t *)"", 0);
  rumor__wire_block_end(&w, 0);
  rumor__wire_delta_end(&w);
  save(argv[1], "synack", buf, w.len);

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "a", 1, &a4, 1700000000000000ull, 10, 12, 0);
  rumor__wire_block_add(&w, "\0x", 2, 11, 0, (const uint8_t *)"1", 1);
  rumor__wire_block_add(&w, "\0y", 2, 12, 0, (const uint8_t *)"2", 1);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  save(argv[1], "ack", buf, w.len);

  /* Map entries and tombstones, starting at 0 (what a fresh receiver takes). */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "d", 1, &a4, 77, 0, 4, 0);
  rumor__wire_block_add(&w, "\1\3svcweb", 8, 1, 0, (const uint8_t *)"10.0.0.1", 8);
  rumor__wire_block_add(&w, "\1\3svcdb", 7, 2, RUMOR_WIRE_DELETED, NULL, 0);
  rumor__wire_block_add(&w, "\0gone", 5, 4, RUMOR_WIRE_DELETED, NULL, 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  save(argv[1], "ack_map_tombstones", buf, w.len);

  /* A resync: the whole state, sweeping what deletes purged up to 9 removed. */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "e", 1, 3, &a4);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "e", 1, &a4, 3, 0, 12, 9);
  rumor__wire_block_add(&w, "\0kept", 5, 2, 0, (const uint8_t *)"1", 1);
  rumor__wire_block_add(&w, "\0new", 4, 12, 0, (const uint8_t *)"2", 1);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE | RUMOR_WIRE_SWEEP);
  rumor__wire_delta_end(&w);
  save(argv[1], "ack_resync", buf, w.len);

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_PUSH, "default", 7, "f", 1, 8, &a6);
  rumor__wire_push_begin(&w, 6, 0);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "f", 1, &a6, 8, 0, 1, 0);
  rumor__wire_block_add(&w, "\0news", 5, 1, 0, (const uint8_t *)"hot", 3);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  save(argv[1], "push", buf, w.len);

  /* News going down a binary tree rooted at its owner, g. */
  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_PUSH, "default", 7, "a", 1, 4, &a4);
  rumor__wire_push_begin(&w, 5, 2);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "g", 1, &a4, 11, 3, 5, 0);
  rumor__wire_block_add(&w, "\0cfg", 4, 4, 0, (const uint8_t *)"on", 2);
  rumor__wire_block_add(&w, "\0old", 4, 5, RUMOR_WIRE_DELETED, NULL, 0);
  rumor__wire_block_end(&w, RUMOR_WIRE_COMPLETE);
  rumor__wire_delta_end(&w);
  save(argv[1], "push_tree", buf, w.len);
  return 0;
}

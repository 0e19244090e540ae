/* gen_corpus.c: writes the seed corpus of valid datagrams (one of each kind,
 * IPv4 and IPv6, full and partial digests, multi-block deltas) into the
 * directory given as argv[1]. Run by `make corpus`; the output is checked in. */
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

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYN, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_digest_begin(&w);
  rumor__wire_digest_add(&w, "a", 1, &a4, 1700000000000000ull, 12);
  rumor__wire_digest_add(&w, "b", 1, &a6, 0, 0);
  rumor__wire_digest_end(&w, 1);
  save(argv[1], "syn", buf, w.len);

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_SYNACK, "default", 7, "b", 1, 5, &a6);
  rumor__wire_digest_begin(&w);
  rumor__wire_digest_add(&w, "b", 1, &a6, 5, 3);
  rumor__wire_digest_end(&w, 0);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "b", 1, &a6, 5, 0, 3);
  rumor__wire_block_add(&w, "color", 5, 1, 0, (const uint8_t *)"blue", 4);
  rumor__wire_block_add(&w, "size", 4, 3, 0, (const uint8_t *)"42", 2);
  rumor__wire_block_end(&w, 1);
  rumor__wire_block_begin(&w, "c", 1, &a4, 9, 4, 100);
  rumor__wire_block_add(&w, "k", 1, 50, 0, (const uint8_t *)"", 0);
  rumor__wire_block_end(&w, 0);
  rumor__wire_delta_end(&w);
  save(argv[1], "synack", buf, w.len);

  rumor__wire_begin(&w, buf, sizeof(buf), RUMOR_MSG_ACK, "default", 7, "a", 1, 1700000000000000ull, &a4);
  rumor__wire_delta_begin(&w);
  rumor__wire_block_begin(&w, "a", 1, &a4, 1700000000000000ull, 10, 12);
  rumor__wire_block_add(&w, "x", 1, 11, 0, (const uint8_t *)"1", 1);
  rumor__wire_block_add(&w, "y", 1, 12, 0, (const uint8_t *)"2", 1);
  rumor__wire_block_end(&w, 1);
  rumor__wire_delta_end(&w);
  save(argv[1], "ack", buf, w.len);
  return 0;
}

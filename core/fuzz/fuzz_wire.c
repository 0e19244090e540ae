/* fuzz_wire.c: libFuzzer target for the datagram decoder and its iterators.
 * Whatever the bytes, decoding must not read out of bounds, and a datagram
 * it accepts must iterate to the end with every field inside the buffer. */
#include "rumor.h"
#include "wire.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rumor_wire_msg m;
  if (rumor__wire_decode(data, size, &m) != RUMOR_WIRE_OK) return 0;
  rumor_wire_digest_entry d;
  unsigned n = 0;
  while (rumor__wire_next_digest(&m.digest, &d) == 1) n++;
  if (m.has_digest && n != m.digest_count) abort();
  rumor_wire_block b;
  rumor_wire_entry e;
  n = 0;
  while (rumor__wire_next_block(&m.delta, &b) == 1) {
    unsigned k = 0;
    uint64_t last = b.from_seq;
    n++;
    while (rumor__wire_next_entry(&b.entries, &e) == 1) {
      if (e.seq <= last || e.seq > b.max_seq) abort(); /* the decoder promised order */
      if (e.value < data || e.value + e.value_len > data + size) abort();
      last = e.seq;
      k++;
    }
    if (k != b.nentries) abort();
  }
  if (m.has_delta && n != m.delta_count) abort();
  return 0;
}

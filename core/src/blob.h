/* blob.h: immutable, reference-counted byte strings.
 *
 * Keys and values live in blobs so that the store, queued update events and
 * (later) outgoing streams can share one copy. Whoever holds a reference
 * releases it with rumor__blob_unref; the last unref frees. */
#ifndef RUMOR_BLOB_H
#define RUMOR_BLOB_H
#include <stddef.h>
#include <stdint.h>

typedef struct rumor_blob {
  uint32_t refs;
  uint32_t len;
  uint8_t data[]; /* len bytes, then a NUL so keys can be used as C strings */
} rumor_blob;

/* Copies len bytes into a new blob with one reference; NULL when out of memory. */
rumor_blob *rumor__blob_new(const void *data, size_t len);
rumor_blob *rumor__blob_ref(rumor_blob *b);
void rumor__blob_unref(rumor_blob *b);
#endif

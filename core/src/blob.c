/* blob.c: reference-counted byte strings (see blob.h). */
#include "blob.h"
#include <stdlib.h>
#include <string.h>

rumor_blob *rumor__blob_new(const void *data, size_t len) {
  if (len > UINT32_MAX - 1) return NULL;
  rumor_blob *b = malloc(sizeof(*b) + len + 1);
  if (b == NULL) return NULL;
  b->refs = 1;
  b->len = (uint32_t)len;
  if (len > 0) memcpy(b->data, data, len);
  b->data[len] = 0;
  return b;
}

rumor_blob *rumor__blob_ref(rumor_blob *b) {
  b->refs++;
  return b;
}

void rumor__blob_unref(rumor_blob *b) {
  if (b != NULL && --b->refs == 0) free(b);
}

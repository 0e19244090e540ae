/* wire.c: encoding and bounds-checked decoding of rumor messages (format in
 * wire.h). Every read checks the remaining length first; nothing is trusted. */
#include "wire.h"
#include "rumor.h"
#include <string.h>
#include <netinet/in.h>

/* ---- reading ---- */

static int rd_u8(rumor_wire_reader *r, uint8_t *v) {
  if (r->p >= r->end) return -1;
  *v = *r->p++;
  return 0;
}

static int rd_u16(rumor_wire_reader *r, uint16_t *v) {
  if (r->end - r->p < 2) return -1;
  *v = (uint16_t)((r->p[0] << 8) | r->p[1]);
  r->p += 2;
  return 0;
}

int rumor__varint_get(const uint8_t *buf, size_t len, size_t *off, uint64_t *out) {
  uint64_t x = 0;
  size_t o = *off;
  for (int shift = 0; shift < 64; shift += 7) {
    if (o >= len) return -1;
    uint8_t b = buf[o++];
    if (shift == 63 && b > 1) return -1; /* would overflow 64 bits */
    x |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = x;
      *off = o;
      return 0;
    }
  }
  return -1;
}

size_t rumor__varint_put(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static int rd_varint(rumor_wire_reader *r, uint64_t *v) {
  size_t off = 0;
  if (rumor__varint_get(r->p, (size_t)(r->end - r->p), &off, v) != 0) return -1;
  r->p += off;
  return 0;
}

static int rd_bytes(rumor_wire_reader *r, size_t n, const uint8_t **out) {
  if ((size_t)(r->end - r->p) < n) return -1;
  *out = r->p;
  r->p += n;
  return 0;
}

/* A u8-length string of 1..max bytes. */
static int rd_name(rumor_wire_reader *r, size_t max, const char **s, size_t *len) {
  uint8_t n;
  const uint8_t *b;
  if (rd_u8(r, &n) != 0 || n == 0 || n > max || rd_bytes(r, n, &b) != 0) return -1;
  *s = (const char *)b;
  *len = n;
  return 0;
}

static int rd_addr(rumor_wire_reader *r, struct sockaddr_storage *ss) {
  uint8_t fam;
  const uint8_t *b;
  uint16_t port;
  memset(ss, 0, sizeof(*ss));
  if (rd_u8(r, &fam) != 0) return -1;
  if (fam == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)(void *)ss;
    if (rd_bytes(r, 4, &b) != 0 || rd_u16(r, &port) != 0) return -1;
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr, b, 4);
    a->sin_port = htons(port);
    return 0;
  }
  if (fam == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)ss;
    if (rd_bytes(r, 16, &b) != 0 || rd_u16(r, &port) != 0) return -1;
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_addr, b, 16);
    a->sin6_port = htons(port);
    return 0;
  }
  return -1;
}

int rumor__wire_next_digest(rumor_wire_reader *r, rumor_wire_digest_entry *e) {
  if (r->p >= r->end) return 0;
  if (rd_name(r, RUMOR_MAX_ID_LEN, &e->id, &e->id_len) != 0 || rd_addr(r, &e->addr) != 0 ||
      rd_varint(r, &e->generation) != 0 || rd_varint(r, &e->max_seq) != 0)
    return -1;
  return 1;
}

/* ---- slots ---- */

size_t rumor__slot_encode(uint8_t *buf, const char *key, size_t key_len, const char *map_key,
                          size_t map_key_len) {
  size_t n = 0;
  if (key_len == 0 || key_len > RUMOR_MAX_KEY_LEN) return 0;
  if (map_key == NULL) {
    buf[n++] = RUMOR_SLOT_PLAIN;
  } else {
    if (map_key_len == 0 || map_key_len > RUMOR_MAX_KEY_LEN) return 0;
    buf[n++] = RUMOR_SLOT_MAP;
    for (size_t v = key_len; ; v >>= 7) {
      buf[n++] = (uint8_t)((v >= 0x80 ? 0x80 : 0) | (v & 0x7f));
      if (v < 0x80) break;
    }
  }
  memcpy(buf + n, key, key_len);
  n += key_len;
  if (map_key != NULL) {
    memcpy(buf + n, map_key, map_key_len);
    n += map_key_len;
  }
  return n;
}

int rumor__slot_parse(const char *slot, size_t len, rumor_slot_parts *out) {
  rumor_wire_reader r = {(const uint8_t *)slot, (const uint8_t *)slot + len};
  uint8_t kind;
  memset(out, 0, sizeof(*out));
  if (rd_u8(&r, &kind) != 0) return -1;
  if (kind == RUMOR_SLOT_PLAIN) {
    size_t n = (size_t)(r.end - r.p);
    if (n == 0 || n > RUMOR_MAX_KEY_LEN) return -1;
    out->key = (const char *)r.p;
    out->key_len = n;
    return 0;
  }
  uint64_t klen;
  const uint8_t *k, *len_at = r.p;
  if (kind != RUMOR_SLOT_MAP || rd_varint(&r, &klen) != 0 || klen == 0 ||
      klen > RUMOR_MAX_KEY_LEN)
    return -1;
  /* One spelling per slot: the length in its shortest form (0x83 0x00 is
   * also 3), or one map entry could be stored under two slots. */
  if ((size_t)(r.p - len_at) != (klen < 0x80 ? 1u : 2u) || rd_bytes(&r, (size_t)klen, &k) != 0)
    return -1;
  size_t mlen = (size_t)(r.end - r.p);
  if (mlen == 0 || mlen > RUMOR_MAX_KEY_LEN) return -1;
  out->map = 1;
  out->key = (const char *)k;
  out->key_len = (size_t)klen;
  out->map_key = (const char *)r.p;
  out->map_key_len = mlen;
  return 0;
}

int rumor__wire_next_entry(rumor_wire_reader *r, rumor_wire_entry *e) {
  uint64_t klen, vlen;
  const uint8_t *k, *v;
  if (r->p >= r->end) return 0;
  if (rd_varint(r, &klen) != 0 || klen == 0 || klen > RUMOR_WIRE_MAX_SLOT ||
      rd_bytes(r, (size_t)klen, &k) != 0 || rd_varint(r, &e->seq) != 0 ||
      rd_u8(r, &e->flags) != 0 || rd_varint(r, &vlen) != 0 ||
      vlen > (uint64_t)(r->end - r->p) || rd_bytes(r, (size_t)vlen, &v) != 0)
    return -1;
  e->slot = (const char *)k;
  e->slot_len = (size_t)klen;
  e->value = v;
  e->value_len = (size_t)vlen;
  return 1;
}

/* Reads a block header and leaves b->entries spanning the rest of the
 * section; the caller bounds it after walking the entries. */
static int rd_block_header(rumor_wire_reader *r, rumor_wire_block *b) {
  uint8_t flags;
  if (rd_name(r, RUMOR_MAX_ID_LEN, &b->id, &b->id_len) != 0 || rd_addr(r, &b->addr) != 0 ||
      rd_varint(r, &b->generation) != 0 || rd_varint(r, &b->from_seq) != 0 ||
      rd_varint(r, &b->max_seq) != 0 || rd_varint(r, &b->floor) != 0 || rd_u8(r, &flags) != 0 ||
      rd_u16(r, &b->nentries) != 0)
    return -1;
  b->complete = (flags & RUMOR_WIRE_COMPLETE) != 0;
  b->sweep = (flags & RUMOR_WIRE_SWEEP) != 0;
  if (flags & ~(RUMOR_WIRE_COMPLETE | RUMOR_WIRE_SWEEP)) return -1;
  b->entries.p = r->p;
  b->entries.end = r->end;
  return 0;
}

int rumor__wire_next_block(rumor_wire_reader *r, rumor_wire_block *b) {
  rumor_wire_entry e;
  if (r->p >= r->end) return 0;
  if (rd_block_header(r, b) != 0) return -1;
  for (uint16_t i = 0; i < b->nentries; i++)
    if (rumor__wire_next_entry(r, &e) != 1) return -1;
  b->entries.end = r->p;
  return 1;
}

/* Walks a block fully, checking the invariants the merge relies on. */
static int check_block(rumor_wire_reader *r) {
  rumor_wire_block b;
  rumor_wire_entry e;
  if (rd_block_header(r, &b) != 0) return -1;
  if (b.generation == 0 || b.from_seq > b.max_seq || b.floor > b.max_seq) return -1;
  uint64_t last = b.from_seq;
  rumor_slot_parts parts;
  for (uint16_t i = 0; i < b.nentries; i++) {
    if (rumor__wire_next_entry(r, &e) != 1) return -1;
    if (e.seq <= last || e.seq > b.max_seq || (e.flags & ~RUMOR_WIRE_DELETED) != 0 ||
        ((e.flags & RUMOR_WIRE_DELETED) && e.value_len != 0) ||
        rumor__slot_parse(e.slot, e.slot_len, &parts) != 0)
      return -1;
    last = e.seq;
  }
  return 0;
}

int rumor__wire_decode(const uint8_t *buf, size_t len, rumor_wire_msg *m) {
  rumor_wire_reader r = {buf, buf + len};
  uint8_t magic0, magic1;
  memset(m, 0, sizeof(*m));
  if (rd_u8(&r, &magic0) != 0 || rd_u8(&r, &magic1) != 0 || magic0 != 'R' || magic1 != 'M')
    return RUMOR_WIRE_EMALFORMED;
  if (rd_u8(&r, &m->h.version) != 0) return RUMOR_WIRE_EMALFORMED;
  if (m->h.version != RUMOR_WIRE_VERSION) return RUMOR_WIRE_EVERSION;
  if (rd_u8(&r, &m->h.kind) != 0 || m->h.kind < RUMOR_MSG_SYN || m->h.kind > RUMOR_MSG_REJECT ||
      rd_name(&r, RUMOR_MAX_CLUSTER_LEN, &m->h.cluster, &m->h.cluster_len) != 0 ||
      rd_name(&r, RUMOR_MAX_ID_LEN, &m->h.sender, &m->h.sender_len) != 0 ||
      rd_varint(&r, &m->h.generation) != 0 || m->h.generation == 0 || rd_addr(&r, &m->h.addr) != 0)
    return RUMOR_WIRE_EMALFORMED;

  if (m->h.kind == RUMOR_MSG_REJECT) {
    if (rd_varint(&r, &m->reject_gen) != 0 || m->reject_gen == 0 ||
        rd_u8(&r, &m->reject_reason) != 0 || m->reject_reason == 0 ||
        m->reject_reason > RUMOR_WIRE_MAX_REASON)
      return RUMOR_WIRE_EMALFORMED;
    return r.p == r.end ? RUMOR_WIRE_OK : RUMOR_WIRE_EMALFORMED;
  }
  if (m->h.kind == RUMOR_MSG_PUSH &&
      (rd_u8(&r, &m->hops) != 0 || rd_u8(&r, &m->tree) != 0 ||
       m->tree > RUMOR_MAX_BROADCAST_BRANCHING))
    return RUMOR_WIRE_EMALFORMED;
  if (m->h.kind == RUMOR_MSG_SYN || m->h.kind == RUMOR_MSG_SYNACK) {
    uint8_t flags;
    rumor_wire_digest_entry e;
    if (rd_u8(&r, &flags) != 0) return RUMOR_WIRE_EMALFORMED;
    if (flags == RUMOR_WIRE_SUMMARY && m->h.kind == RUMOR_MSG_SYN) {
      const uint8_t *h;
      if (rd_varint(&r, &m->summary_count) != 0 || rd_bytes(&r, 8, &h) != 0)
        return RUMOR_WIRE_EMALFORMED;
      m->has_summary = 1;
      m->summary_hash = 0;
      for (int i = 0; i < 8; i++) m->summary_hash = m->summary_hash << 8 | h[i];
      return r.p == r.end ? RUMOR_WIRE_OK : RUMOR_WIRE_EMALFORMED;
    }
    if (rd_u16(&r, &m->digest_count) != 0) return RUMOR_WIRE_EMALFORMED;
    m->has_digest = 1;
    m->digest_complete = (flags & RUMOR_WIRE_COMPLETE) != 0;
    m->digest_pull = (flags & RUMOR_WIRE_PULL) != 0;
    if ((flags & ~(RUMOR_WIRE_COMPLETE | RUMOR_WIRE_PULL)) != 0 ||
        (m->digest_pull && m->h.kind != RUMOR_MSG_SYN))
      return RUMOR_WIRE_EMALFORMED;
    m->digest.p = r.p;
    m->digest.end = r.end;
    for (uint16_t i = 0; i < m->digest_count; i++)
      if (rumor__wire_next_digest(&r, &e) != 1) return RUMOR_WIRE_EMALFORMED;
    m->digest.end = r.p;
  }
  if (m->h.kind != RUMOR_MSG_SYN) {
    if (rd_u16(&r, &m->delta_count) != 0) return RUMOR_WIRE_EMALFORMED;
    m->has_delta = 1;
    m->delta.p = r.p;
    for (uint16_t i = 0; i < m->delta_count; i++)
      if (check_block(&r) != 0) return RUMOR_WIRE_EMALFORMED;
    m->delta.end = r.p;
    /* A tree push is rooted at the owner of its one block. */
    if (m->tree != 0 && m->delta_count != 1) return RUMOR_WIRE_EMALFORMED;
  }
  return r.p == r.end ? RUMOR_WIRE_OK : RUMOR_WIRE_EMALFORMED;
}

/* ---- writing ---- */

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static size_t addr_size(const struct sockaddr_storage *a) {
  return a->ss_family == AF_INET6 ? 19 : 7;
}

static void wr_u8(rumor_wire_writer *w, uint8_t v) { w->buf[w->len++] = v; }

static void wr_u16(rumor_wire_writer *w, uint16_t v) {
  w->buf[w->len++] = (uint8_t)(v >> 8);
  w->buf[w->len++] = (uint8_t)v;
}

static void wr_varint(rumor_wire_writer *w, uint64_t v) { w->len += rumor__varint_put(w->buf + w->len, v); }

static void wr_bytes(rumor_wire_writer *w, const void *p, size_t n) {
  if (n) memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void wr_addr(rumor_wire_writer *w, const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)a;
    wr_u8(w, 6);
    wr_bytes(w, &s->sin6_addr, 16);
    wr_u16(w, ntohs(s->sin6_port));
  } else {
    /* AF_INET, or no address yet (written as 0.0.0.0:0). */
    const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)a;
    uint32_t ip = a->ss_family == AF_INET ? s->sin_addr.s_addr : 0;
    wr_u8(w, 4);
    wr_bytes(w, &ip, 4);
    wr_u16(w, a->ss_family == AF_INET ? ntohs(s->sin_port) : 0);
  }
}

static int fits(const rumor_wire_writer *w, size_t n) { return n <= w->cap - w->len; }

int rumor__wire_begin(rumor_wire_writer *w, uint8_t *buf, size_t cap, uint8_t kind,
                      const char *cluster, size_t cluster_len,
                      const char *sender, size_t sender_len, uint64_t generation,
                      const struct sockaddr_storage *addr) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->section = w->block = w->block_start = 0;
  w->section_count = w->block_count = 0;
  if (cluster_len == 0 || cluster_len > RUMOR_MAX_CLUSTER_LEN || sender_len == 0 ||
      sender_len > RUMOR_MAX_ID_LEN)
    return -1;
  size_t need = 4 + 1 + cluster_len + 1 + sender_len + varint_size(generation) + addr_size(addr);
  if (!fits(w, need)) return -1;
  wr_u8(w, 'R');
  wr_u8(w, 'M');
  wr_u8(w, RUMOR_WIRE_VERSION);
  wr_u8(w, kind);
  wr_u8(w, (uint8_t)cluster_len);
  wr_bytes(w, cluster, cluster_len);
  wr_u8(w, (uint8_t)sender_len);
  wr_bytes(w, sender, sender_len);
  wr_varint(w, generation);
  wr_addr(w, addr);
  return 0;
}

static void patch_u16(rumor_wire_writer *w, size_t at, uint16_t v) {
  w->buf[at] = (uint8_t)(v >> 8);
  w->buf[at + 1] = (uint8_t)v;
}

int rumor__wire_digest_begin(rumor_wire_writer *w) {
  if (!fits(w, 3)) return -1;
  wr_u8(w, 0); /* flags, patched by digest_end */
  w->section = w->len;
  w->section_count = 0;
  wr_u16(w, 0);
  return 0;
}

int rumor__wire_digest_add(rumor_wire_writer *w, const char *id, size_t id_len,
                           const struct sockaddr_storage *addr, uint64_t generation,
                           uint64_t max_seq) {
  size_t need = 1 + id_len + addr_size(addr) + varint_size(generation) + varint_size(max_seq);
  if (id_len == 0 || id_len > RUMOR_MAX_ID_LEN || w->section_count == UINT16_MAX || !fits(w, need))
    return -1;
  wr_u8(w, (uint8_t)id_len);
  wr_bytes(w, id, id_len);
  wr_addr(w, addr);
  wr_varint(w, generation);
  wr_varint(w, max_seq);
  w->section_count++;
  return 0;
}

void rumor__wire_digest_end(rumor_wire_writer *w, uint8_t flags) {
  w->buf[w->section - 1] = flags;
  patch_u16(w, w->section, w->section_count);
}

int rumor__wire_summary(rumor_wire_writer *w, uint64_t count, uint64_t hash) {
  if (!fits(w, 1 + varint_size(count) + 8)) return -1;
  wr_u8(w, RUMOR_WIRE_SUMMARY);
  wr_varint(w, count);
  for (int i = 7; i >= 0; i--) wr_u8(w, (uint8_t)(hash >> (8 * i)));
  return 0;
}

int rumor__wire_reject(rumor_wire_writer *w, uint64_t generation, uint8_t reason) {
  if (!fits(w, varint_size(generation) + 1)) return -1;
  wr_varint(w, generation);
  wr_u8(w, reason);
  return 0;
}

int rumor__wire_push_begin(rumor_wire_writer *w, uint8_t hops, uint8_t tree) {
  if (tree > RUMOR_MAX_BROADCAST_BRANCHING || !fits(w, 2)) return -1;
  wr_u8(w, hops);
  wr_u8(w, tree);
  return 0;
}

int rumor__wire_delta_begin(rumor_wire_writer *w) {
  if (!fits(w, 2)) return -1;
  w->section = w->len;
  w->section_count = 0;
  wr_u16(w, 0);
  return 0;
}

int rumor__wire_block_begin(rumor_wire_writer *w, const char *id, size_t id_len,
                            const struct sockaddr_storage *addr, uint64_t generation,
                            uint64_t from_seq, uint64_t max_seq, uint64_t floor) {
  size_t need = 1 + id_len + addr_size(addr) + varint_size(generation) + varint_size(from_seq) +
                varint_size(max_seq) + varint_size(floor) + 3;
  if (id_len == 0 || id_len > RUMOR_MAX_ID_LEN || w->section_count == UINT16_MAX || !fits(w, need))
    return -1;
  w->block_start = w->len;
  wr_u8(w, (uint8_t)id_len);
  wr_bytes(w, id, id_len);
  wr_addr(w, addr);
  wr_varint(w, generation);
  wr_varint(w, from_seq);
  wr_varint(w, max_seq);
  wr_varint(w, floor);
  w->block = w->len;
  wr_u8(w, 0);
  wr_u16(w, 0);
  w->block_count = 0;
  return 0;
}

size_t rumor__wire_entry_size(size_t slot_len, uint64_t seq, size_t value_len) {
  return varint_size(slot_len) + slot_len + varint_size(seq) + 1 + varint_size(value_len) + value_len;
}

int rumor__wire_block_add(rumor_wire_writer *w, const char *slot, size_t slot_len, uint64_t seq,
                          uint8_t flags, const uint8_t *value, size_t value_len) {
  if (w->block_count == UINT16_MAX || !fits(w, rumor__wire_entry_size(slot_len, seq, value_len)))
    return -1;
  wr_varint(w, slot_len);
  wr_bytes(w, slot, slot_len);
  wr_varint(w, seq);
  wr_u8(w, flags);
  wr_varint(w, value_len);
  wr_bytes(w, value, value_len);
  w->block_count++;
  return 0;
}

void rumor__wire_block_end(rumor_wire_writer *w, uint8_t flags) {
  w->buf[w->block] = flags;
  patch_u16(w, w->block + 1, w->block_count);
  w->section_count++;
}

void rumor__wire_block_cancel(rumor_wire_writer *w) { w->len = w->block_start; }

void rumor__wire_delta_end(rumor_wire_writer *w) { patch_u16(w, w->section, w->section_count); }

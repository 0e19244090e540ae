/* guard.c: the node's gate. Seals what it sends when it has a keyring
 * (seal.h), opens what it receives, refuses replays (replay.h) and a live
 * member's id spoken from another address, counts every refusal and warns
 * about each kind once per peer address, never once per message: a
 * misconfigured or hostile peer must not flood the log. */
#include "node_int.h"
#include "addr.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* What a warning was about (bits of guard_warned.what). */
enum { WARN_KEY = 1, WARN_PLAINTEXT = 2, WARN_CLOCK = 4, WARN_REPLAY = 8, WARN_SPOOF = 16 };

int rumor__guard_init(rumor_node_t *n) {
  if (n->keyring.nkeys == 0) return 0;
  n->sealbuf = malloc(n->cfg.mtu);
  return n->sealbuf != NULL ? 0 : RUMOR_ENOMEM;
}

void rumor__guard_free(rumor_node_t *n) {
  rumor__keyring_wipe(&n->keyring);
  free(n->sealbuf);
  free(n->openbuf);
}

/* 1 the first time this kind of trouble comes from addr (as far as the
 * last RUMOR_GUARD_WARNED addresses go). */
static int first_warning(rumor_node_t *n, const struct sockaddr_storage *addr, unsigned what) {
  for (size_t i = 0; i < RUMOR_GUARD_WARNED; i++) {
    rumor_guard_warned *w = &n->warned[i];
    if (w->what != 0 && rumor__addr_equal(&w->addr, addr)) {
      if (w->what & what) return 0;
      w->what |= what;
      return 1;
    }
  }
  rumor_guard_warned *w = &n->warned[n->warned_next];
  n->warned_next = (n->warned_next + 1) % RUMOR_GUARD_WARNED;
  w->addr = *addr;
  w->what = what;
  return 1;
}

/* The address to name in a warning of this kind about from, formatted into
 * buf; NULL when nobody listens or this peer was warned about it already. */
static const char *warn_about(rumor_node_t *n, const struct sockaddr_storage *from, int via_stream,
                              unsigned what, char buf[RUMOR_MAX_ADDR_STRLEN]) {
  if (!rumor__log_wanted(n, RUMOR_LOG_WARN)) return NULL;
  /* A connection comes from a new ephemeral port each time: its host is
   * the peer. */
  struct sockaddr_storage host = *from;
  if (via_stream && host.ss_family == AF_INET) ((struct sockaddr_in *)(void *)&host)->sin_port = 0;
  if (via_stream && host.ss_family == AF_INET6) ((struct sockaddr_in6 *)(void *)&host)->sin6_port = 0;
  if (!first_warning(n, &host, what)) return NULL;
  if (rumor_addr_format((const struct sockaddr *)from, buf, RUMOR_MAX_ADDR_STRLEN) != 0)
    snprintf(buf, RUMOR_MAX_ADDR_STRLEN, "an unknown address");
  return buf;
}

const uint8_t *rumor__guard_seal(rumor_node_t *n, const uint8_t *msg, size_t *len) {
  if (n->keyring.nkeys == 0) return msg;
  uint64_t wall_ms = n->io->ops->wall_us(n->io) / 1000;
  *len = rumor__seal(&n->keyring, wall_ms, msg, *len, n->sealbuf);
  return n->sealbuf;
}

uint8_t *rumor__guard_seal_frame(rumor_node_t *n, uint8_t *frame, size_t *len) {
  if (n->keyring.nkeys == 0) return frame;
  uint8_t *out = malloc(*len + RUMOR_SEAL_OVERHEAD);
  if (out != NULL) {
    uint64_t wall_ms = n->io->ops->wall_us(n->io) / 1000;
    *len = rumor__seal(&n->keyring, wall_ms, frame, *len, out);
  }
  free(frame);
  return out;
}


int rumor__guard_open(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                      size_t len, int via_stream, const uint8_t **msg, size_t *msg_len,
                      const rumor_sealed_info **info) {
  char at[RUMOR_MAX_ADDR_STRLEN];
  const char *a;
  *info = NULL;
  if (n->keyring.nkeys == 0) {
    if (rumor__sealed(buf, len)) {
      rumor__gossip_count_received(n, len, via_stream);
      n->metrics.drops_key++;
      if ((a = warn_about(n, from, via_stream, WARN_KEY, at)) != NULL)
        rumor__log(n, RUMOR_LOG_WARN, "sealed messages from %s, and this node has no keyring", a);
      return -1;
    }
    *msg = buf;
    *msg_len = len;
    return 0;
  }
  if (!rumor__sealed(buf, len)) {
    rumor__gossip_count_received(n, len, via_stream);
    n->metrics.drops_plaintext++;
    if ((a = warn_about(n, from, via_stream, WARN_PLAINTEXT, at)) != NULL)
      rumor__log(n, RUMOR_LOG_WARN, "unsealed messages from %s, refused: this node has a keyring", a);
    return -1;
  }
  if (len > n->openbuf_cap) {
    uint8_t *b = realloc(n->openbuf, len);
    if (b == NULL) return -1;
    n->openbuf = b;
    n->openbuf_cap = len;
  }
  int rc = rumor__unseal(&n->keyring, buf, len, n->openbuf, msg_len, &n->opened);
  if (rc != RUMOR_SEAL_OK) {
    rumor__gossip_count_received(n, len, via_stream);
    n->metrics.drops_key++;
    if ((a = warn_about(n, from, via_stream, WARN_KEY, at)) != NULL)
      rumor__log(n, RUMOR_LOG_WARN, "messages from %s, refused: %s", a,
                 rc == RUMOR_SEAL_ENOKEY  ? "sealed with a key this node lacks"
                 : rc == RUMOR_SEAL_EAUTH ? "they do not open (a wrong key, forged or damaged)"
                                          : "an envelope version this node does not know");
    return -1;
  }
  uint64_t now = n->io->ops->wall_us(n->io) / 1000;
  uint64_t w = n->cfg.replay_window_ms;
  if (w != 0 && (n->opened.wall_ms + w < now || now + w < n->opened.wall_ms)) {
    rumor__gossip_count_received(n, len, via_stream);
    n->metrics.drops_replay++;
    if ((a = warn_about(n, from, via_stream, WARN_CLOCK, at)) != NULL)
      rumor__log(n, RUMOR_LOG_WARN,
                 "messages from %s are %llu ms off this node's clock (replay_window_ms %llu): "
                 "replayed, or the clocks are apart",
                 a, (unsigned long long)(now > n->opened.wall_ms ? now - n->opened.wall_ms
                                                                 : n->opened.wall_ms - now),
                 (unsigned long long)w);
    return -1;
  }
  *msg = n->openbuf;
  *info = &n->opened;
  return 0;
}

int rumor__guard_replayed(rumor_node_t *n, rumor_member *peer, const rumor_sealed_info *info,
                          uint64_t generation, const struct sockaddr_storage *from,
                          int via_stream) {
  if (info == NULL) return 0;
  if (peer->replay == NULL && (peer->replay = calloc(2, sizeof *peer->replay)) == NULL)
    return 1; /* out of memory: refused, as it cannot be checked */
  rumor_replay *r = &peer->replay[via_stream ? 1 : 0];
  if (rumor__replay_check(r, info->salt, info->counter, generation, info->wall_ms) == 0) return 0;
  n->metrics.drops_replay++;
  char at[RUMOR_MAX_ADDR_STRLEN];
  const char *a = warn_about(n, from, via_stream, WARN_REPLAY, at);
  if (a != NULL) rumor__log(n, RUMOR_LOG_WARN, "replayed messages from %s, refused", a);
  return 1;
}

int rumor__guard_pinned(const rumor_node_t *n, const rumor_member *peer, uint64_t generation) {
  /* A process keeps its address: once we hear a generation of a member
   * alive at one, that generation stays there. A newer generation may
   * move: a restart. */
  return peer->status == RUMOR_MEMBER_ALIVE && peer->incarnation != 0 &&
         generation <= peer->incarnation && rumor__gossip_addressable(n, peer);
}

int rumor__guard_misaddressed(rumor_node_t *n, const rumor_wire_msg *msg, int wildcard,
                              const struct sockaddr_storage *from) {
  /* A node sends every datagram from the socket it advertises: one that
   * names another address came from someone else (speaking for a member
   * at its real address, so as to pass the check below). A wildcard
   * address names none. */
  if (wildcard || rumor__addr_same(&msg->h.addr, from)) return 0;
  n->metrics.drops_spoofed++;
  if (rumor__log_wanted(n, RUMOR_LOG_WARN) && first_warning(n, from, WARN_SPOOF)) {
    char at[RUMOR_MAX_ADDR_STRLEN], claimed[RUMOR_MAX_ADDR_STRLEN];
    if (rumor_addr_format((const struct sockaddr *)from, at, sizeof at) != 0) at[0] = '\0';
    if (rumor_addr_format((const struct sockaddr *)&msg->h.addr, claimed, sizeof claimed) != 0)
      claimed[0] = '\0';
    rumor__log(n, RUMOR_LOG_WARN, "datagrams from %s claim to come from %s: refused", at, claimed);
  }
  return 1;
}

int rumor__guard_spoofed(rumor_node_t *n, const rumor_member *peer, uint64_t generation,
                         const struct sockaddr_storage *addr, int wildcard,
                         const struct sockaddr_storage *from) {
  /* The same generation of a pinned member from elsewhere is an impostor
   * (or that process's past, replayed). A member bound to a wildcard
   * address names none: its datagrams may leave by any interface, so its
   * source address proves nothing either way; it is heard, but its address
   * is not moved (gossip.c). */
  if (wildcard || !rumor__guard_pinned(n, peer, generation) || rumor__addr_equal(&peer->addr, addr))
    return 0;
  n->metrics.drops_spoofed++;
  if (rumor__log_wanted(n, RUMOR_LOG_WARN) && first_warning(n, from, WARN_SPOOF)) {
    char at[RUMOR_MAX_ADDR_STRLEN], real[RUMOR_MAX_ADDR_STRLEN];
    if (rumor_addr_format((const struct sockaddr *)from, at, sizeof at) != 0) at[0] = '\0';
    if (rumor_addr_format((const struct sockaddr *)&peer->addr, real, sizeof real) != 0)
      real[0] = '\0';
    rumor__log(n, RUMOR_LOG_WARN, "%s claims to be %s, which lives at %s: refused", at,
               (const char *)peer->id->data, real);
  }
  return 1;
}

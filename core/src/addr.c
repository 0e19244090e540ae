/* addr.c: "host:port" strings to socket addresses and back. */
#include "rumor.h"
#include "addr.h"
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_port(const char *s, int *port) {
  if (*s == 0) return -1;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
    if (v > 65535) return -1;
  }
  *port = (int)v;
  return 0;
}

int rumor_addr_parse(const char *s, struct sockaddr_storage *out) {
  char host[256];
  const char *colon;
  const char *hstart = s;
  size_t hlen;
  int port;
  if (s == NULL) return RUMOR_EADDR;
  memset(out, 0, sizeof(*out));
  if (s[0] == '[') { /* [v6]:port */
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':') return RUMOR_EADDR;
    hstart = s + 1;
    hlen = (size_t)(close - hstart);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL) return RUMOR_EADDR;
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0 || hlen >= sizeof(host)) return RUMOR_EADDR;
  memcpy(host, hstart, hlen);
  host[hlen] = 0;
  if (parse_port(colon + 1, &port) != 0) return RUMOR_EADDR;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0) return 0;
  /* A host name: resolve it now (at configuration time), IPv4 first so that
   * "localhost" matches a socket bound to 127.0.0.1. */
  static const int families[2] = {AF_INET, AF_UNSPEC};
  for (int i = 0; i < 2; i++) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = families[i];
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL) {
      memcpy(out, res->ai_addr, res->ai_addrlen);
      if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
      else
        ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
      freeaddrinfo(res);
      return 0;
    }
    if (res) freeaddrinfo(res);
  }
  return RUMOR_EADDR;
}

int rumor_addr_format(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[64];
  int n;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    if (uv_ip4_name(a, ip, sizeof(ip)) != 0) return RUMOR_EADDR;
    n = snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    if (uv_ip6_name(a, ip, sizeof(ip)) != 0) return RUMOR_EADDR;
    n = snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    return RUMOR_EADDR;
  }
  return (n < 0 || (size_t)n >= size) ? RUMOR_EINVAL : 0;
}

int rumor__addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  return 0;
}

int rumor__addr_is_unspecified(const struct sockaddr_storage *a) {
  static const unsigned char zero16[16];
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr == 0;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr, zero16, 16) == 0;
  return 1;
}

void rumor__addr_set_ip_from(struct sockaddr_storage *a, const struct sockaddr_storage *src) {
  uint16_t port = rumor__addr_port(a);
  *a = *src;
  if (a->ss_family == AF_INET)
    ((struct sockaddr_in *)(void *)a)->sin_port = htons(port);
  else if (a->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)(void *)a)->sin6_port = htons(port);
}

uint16_t rumor__addr_port(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)(const void *)a)->sin_port);
  if (a->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)(const void *)a)->sin6_port);
  return 0;
}

/* Whether v6, an IPv6 address, is v4's IPv4-mapped form (same port). */
static int mapped_same(const struct sockaddr_storage *v6, const struct sockaddr_storage *v4) {
  const struct sockaddr_in6 *x = (const void *)v6;
  const struct sockaddr_in *y = (const void *)v4;
  return x->sin6_port == y->sin_port && IN6_IS_ADDR_V4MAPPED(&x->sin6_addr) &&
         memcmp(&x->sin6_addr.s6_addr[12], &y->sin_addr.s_addr, 4) == 0;
}

int rumor__addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  /* No copies: seeds are compared with every member each round. */
  if (a->ss_family == b->ss_family) return rumor__addr_equal(a, b);
  if (a->ss_family == AF_INET6 && b->ss_family == AF_INET) return mapped_same(a, b);
  if (a->ss_family == AF_INET && b->ss_family == AF_INET6) return mapped_same(b, a);
  return 0;
}

/* addr.h: internal helpers on socket addresses (parsing and formatting are
 * public, in rumor.h). */
#ifndef RUMOR_ADDR_H
#define RUMOR_ADDR_H
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

int rumor__addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* 0.0.0.0, ::, or no family at all. */
int rumor__addr_is_unspecified(const struct sockaddr_storage *a);
/* Replaces a's IP with src's, keeping a's port. */
void rumor__addr_set_ip_from(struct sockaddr_storage *a, const struct sockaddr_storage *src);
uint16_t rumor__addr_port(const struct sockaddr_storage *a);
/* Whether a and b are one host and port, an IPv4 address and its IPv4-mapped
 * IPv6 form (how a dual-stack socket sees IPv4 senders) alike. */
int rumor__addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
#endif

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
#endif

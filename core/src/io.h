/* io.h: the seam between the protocol and the outside world.
 *
 * Everything the engine needs from its environment goes through these
 * operations: the clock, the seed of its random generator, the datagram
 * socket and its single timer. io_uv.c implements them on libuv; a simulated
 * network and virtual clock can implement the same table, and the protocol
 * code (node.c, gossip.c) does not change.
 *
 * Ownership: the node owns its io. destroy() releases it asynchronously and
 * calls done() when nothing of the io can call back into the node any more. */
#ifndef RUMOR_IO_H
#define RUMOR_IO_H
#include "rumor.h"
#include <stdint.h>
#include <sys/socket.h>

typedef struct rumor_io rumor_io;

typedef struct rumor_io_ops {
  uint64_t (*now)(rumor_io *io);     /* monotonic milliseconds */
  uint64_t (*wall_us)(rumor_io *io); /* wall clock, microseconds since the epoch */
  uint64_t (*seed)(rumor_io *io);    /* 64 random bits for the node's generator */
  /* Binds the datagram socket; writes the bound address. 0 or an error. */
  int (*open)(rumor_io *io, const struct sockaddr_storage *bind, struct sockaddr_storage *bound);
  /* Sends one datagram; the buffer may be reused as soon as it returns. */
  int (*send)(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf, size_t len);
  /* (Re)arms the node's one-shot timer; it calls rumor__node_timer. */
  void (*arm)(rumor_io *io, uint64_t delay_ms);
  /* Stops the timer and closes the socket: no callbacks after this. */
  void (*shutdown)(rumor_io *io);
  void (*destroy)(rumor_io *io, void (*done)(rumor_io *io));
} rumor_io_ops;

struct rumor_io {
  const rumor_io_ops *ops;
  rumor_node_t *node;
};

/* Entry points for io implementations. */
void rumor__node_recv(rumor_node_t *node, const struct sockaddr_storage *from,
                      const uint8_t *buf, size_t len);
void rumor__node_timer(rumor_node_t *node);

/* Makes the io of a new node; arg is the factory's own (the loop for libuv). */
typedef rumor_io *(*rumor_io_factory)(void *arg, rumor_node_t *node);
rumor_io *rumor__io_uv_new(void *loop, rumor_node_t *node);

/* Creates a node on any io (rumor_node_new is this with libuv's). loop may
 * be NULL when the io does not use libuv. */
int rumor__node_create(uv_loop_t *loop, const rumor_config_t *cfg, rumor_io_factory make_io,
                       void *io_arg, rumor_node_t **out, rumor_error_t *err);
#endif

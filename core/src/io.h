/* io.h: the seam between the protocol and the outside world.
 *
 * Everything the engine needs from its environment goes through these
 * operations: the clock, the seed of its random generator, the datagram
 * socket, reliable frame streams to peers, and a few one-shot timers.
 * io_uv.c implements them on libuv; a simulated network and virtual clock
 * can implement the same table, and the protocol code does not change.
 *
 * Streams carry frames: a 4-byte big-endian length, then that many bytes
 * (one wire message, see wire.h). io implementations do the framing.
 *
 * Ownership: the node owns its io. destroy() releases it asynchronously and
 * calls done() when nothing of the io can call back into the node any more. */
#ifndef RUMOR_IO_H
#define RUMOR_IO_H
#include "rumor.h"
#include <stdint.h>
#include <sys/socket.h>

typedef struct rumor_io rumor_io;

/* An outgoing stream of frames to one peer (TCP in io_uv). Opaque; owned by
 * the io. */
typedef struct rumor_stream rumor_stream;

/* The node's one-shot timers. Each is armed and fires on its own. */
enum {
  RUMOR_TIMER_ROUND = 0, /* the gossip round */
  RUMOR_TIMER_PUSH,      /* eager push of fresh local writes */
  RUMOR_TIMER_AWAIT,     /* polls and deadlines of rumor_node_await */
  RUMOR_TIMER_FAULT,     /* the next datagram a fault's delay holds is due (fault.c) */
  RUMOR_TIMER_COUNT
};

/* Limits the io enforces on what it receives over streams. */
typedef struct rumor_io_limits {
  size_t max_frame;       /* largest frame payload accepted (> 0); longer closes the connection */
  uint32_t timeout_ms;    /* (> 0) connect, each write, and an idle inbound connection */
  uint32_t max_inbound;   /* inbound connections open at once; more are refused (0: none) */
  uint64_t max_stream_bytes; /* payload bytes one inbound connection may carry: it is closed
                                after the frame that reaches this (0: no limit) */
} rumor_io_limits;

typedef struct rumor_io_ops {
  uint64_t (*now)(rumor_io *io);     /* monotonic milliseconds */
  uint64_t (*wall_us)(rumor_io *io); /* wall clock, microseconds since the epoch */
  uint64_t (*seed)(rumor_io *io);    /* 64 random bits for the node's generator */
  /* Binds the datagram socket and a stream listener on the same port number;
   * writes the bound address. 0 or an error. */
  int (*open)(rumor_io *io, const struct sockaddr_storage *bind, struct sockaddr_storage *bound,
              const rumor_io_limits *limits);
  /* Sends one datagram; the buffer may be reused as soon as it returns. */
  int (*send)(rumor_io *io, const struct sockaddr_storage *to, const uint8_t *buf, size_t len);
  /* (Re)arms one of the node's one-shot timers; it calls rumor__node_timer. */
  void (*arm)(rumor_io *io, int timer, uint64_t delay_ms);
  /* Opens a stream to a peer's stream listener (connecting happens in the
   * background). NULL when it cannot even start. */
  rumor_stream *(*stream_open)(rumor_io *io, const struct sockaddr_storage *to);
  /* Queues one frame; the io takes ownership of frame (malloc'd) and frees
   * it. One write at a time: rumor__node_stream_done reports its end, never
   * from inside this call, with 0 once the frame is handed to the kernel
   * (not a proof of receipt), or an error (refused, reset, timed out after
   * limits.timeout_ms). After an error the stream is dead: the node calls
   * stream_close and nothing else on it. A non-zero return means the frame
   * was refused at once (and freed): no stream_done follows for it. */
  int (*stream_write)(rumor_io *io, rumor_stream *s, uint8_t *frame, size_t len);
  /* Ends the stream after what was written is flushed, and frees it. No
   * callback for it comes after this call. */
  void (*stream_close)(rumor_io *io, rumor_stream *s);
  /* Stops the timers, the socket and the listener, aborts streams: no
   * callbacks after this. */
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
/* One whole frame received on an inbound stream (the length prefix removed). */
void rumor__node_recv_frame(rumor_node_t *node, const struct sockaddr_storage *from,
                            const uint8_t *buf, size_t len);
void rumor__node_stream_done(rumor_node_t *node, rumor_stream *s, int status);
/* The io closed an inbound connection for a limit: why is one of these. */
enum {
  RUMOR_INBOUND_FULL = 0, /* max_inbound were open: refused at accept */
  RUMOR_INBOUND_LONG = 1  /* it carried max_stream_bytes */
};
void rumor__node_inbound_closed(rumor_node_t *node, int why);
void rumor__node_timer(rumor_node_t *node, int timer);

/* Makes the io of a new node; arg is the factory's own (the loop for libuv). */
typedef rumor_io *(*rumor_io_factory)(void *arg, rumor_node_t *node);
rumor_io *rumor__io_uv_new(void *loop, rumor_node_t *node);

/* Creates a node on any io (rumor_node_new is this with libuv's). loop may
 * be NULL when the io does not use libuv. */
int rumor__node_create(uv_loop_t *loop, const rumor_config_t *cfg, rumor_io_factory make_io,
                       void *io_arg, rumor_node_t **out, rumor_error_t *err);
#endif

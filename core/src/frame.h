/* frame.h: the framing of rumor's streams, and an incremental reader for it.
 *
 * A stream is a sequence of frames; each frame is a 4-byte big-endian
 * length, then that many bytes of payload (one wire message):
 *
 *   +----------------+----------------------+----------------+-----
 *   | len (u32 BE)   | payload, len bytes   | len (u32 BE)   | ...
 *   +----------------+----------------------+----------------+-----
 *
 * A length of 0 is never valid (no message is empty), and a length above
 * the reader's max_frame is refused before any of its payload is stored.
 *
 * The reader takes bytes as they come off a socket, in chunks of any size,
 * and hands every complete payload to a callback. It holds no more memory
 * than the bytes of the current frame that have actually arrived (rounded
 * up by its growth step, never above the frame's length), so a peer that
 * claims a large frame and sends nothing costs nothing.
 *
 * This module is pure: no libuv and no sockets, so it can be fuzzed.
 *
 * Ownership: the caller owns the rumor_frame_reader (usually embedded in a
 * connection) and must call rumor__frame_reader_free once done. The reader
 * owns its buffer. Payloads handed to the callback are valid only during
 * the call. */
#ifndef RUMOR_FRAME_H
#define RUMOR_FRAME_H
#include <stddef.h>
#include <stdint.h>

/* Bytes of the length prefix. */
#define RUMOR_FRAME_HEADER 4

/* Returns of rumor__frame_reader_feed. Errors are sticky: once a reader has
 * failed, every later feed returns the same error. */
enum {
  RUMOR_FRAME_OK = 0,       /* every byte consumed */
  RUMOR_FRAME_STOP = 1,     /* the callback asked to stop; later bytes not consumed */
  RUMOR_FRAME_EEMPTY = -1,  /* a frame claimed a length of 0 */
  RUMOR_FRAME_ETOOBIG = -2, /* a frame claimed more than max_frame */
  RUMOR_FRAME_ENOMEM = -3   /* the buffer could not grow */
};

/* Receives one complete payload. Returns 0 to go on, non-zero to stop the
 * feed that called it (for instance because the connection is closing). */
typedef int (*rumor_frame_cb)(void *arg, const uint8_t *payload, size_t len);

typedef struct rumor_frame_reader {
  size_t max_frame; /* largest payload accepted, <= UINT32_MAX */
  uint8_t hdr[RUMOR_FRAME_HEADER];
  size_t nhdr;      /* header bytes gathered for the frame in progress */
  size_t want;      /* payload length of the frame in progress; 0 while in the header */
  uint8_t *buf;     /* payload bytes gathered so far (owned) */
  size_t have, cap;
  int error;        /* the sticky error, or 0 */
} rumor_frame_reader;

/* Prepares r to read frames of at most max_frame bytes (0 refuses every
 * frame; values above UINT32_MAX are lowered to it). Allocates nothing. */
void rumor__frame_reader_init(rumor_frame_reader *r, size_t max_frame);

/* Consumes len bytes of the stream, calling cb for each frame they
 * complete. Returns one of the RUMOR_FRAME_* codes above. cb may free
 * nothing of r; it may make the caller stop by returning non-zero. */
int rumor__frame_reader_feed(rumor_frame_reader *r, const uint8_t *data, size_t len,
                             rumor_frame_cb cb, void *arg);

/* 1 when the reader sits between two frames (no partial frame pending). */
int rumor__frame_reader_idle(const rumor_frame_reader *r);

/* Releases the buffer. r may be initialised again afterwards. */
void rumor__frame_reader_free(rumor_frame_reader *r);

/* Writes the length prefix of a payload of len bytes (len <= UINT32_MAX). */
void rumor__frame_put_header(uint8_t out[RUMOR_FRAME_HEADER], size_t len);
#endif

/* rumor.h: the public C API of the rumor gossip core.
 *
 * A rumor node is one cluster member: it owns a UDP socket on a libuv loop,
 * a store of every known member's key/value entries, and a gossip timer.
 * Many nodes may share one process and one loop; the core keeps no global
 * mutable state, everything hangs off a node.
 *
 * Conventions (after libuv):
 * - Functions return 0 or a negative error code (RUMOR_E* below, or a libuv
 *   UV_E* code passed through from the socket layer).
 * - The caller owns what it passes in; the core copies what it keeps.
 * - Pointers the core hands out (update events, member records) are valid
 *   only for the duration of the callback or until the next call that may
 *   change the node, as stated per function.
 * - A node is freed by rumor_node_close(); its memory is released from the
 *   loop once the socket and timers are closed, then close_cb runs.
 */
#ifndef RUMOR_H
#define RUMOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RUMOR_VERSION_STRING "0.1.0"

/* Error codes. Negative, disjoint from libuv's (which are -errno, < 4096). */
#define RUMOR_EINVAL      (-20001) /* bad argument or configuration */
#define RUMOR_ESTATE      (-20002) /* wrong lifecycle state (not started, stopped) */
#define RUMOR_ETOOBIG     (-20003) /* key or value over its configured limit */
#define RUMOR_ENOMEM      (-20004) /* allocation failed */
#define RUMOR_EADDR       (-20005) /* an address did not parse as host:port */

/* Returns a static, human-readable description of a rumor or libuv code. */
const char *rumor_strerror(int code);
/* Returns a static short name ("EINVAL", "ETOOBIG", or libuv's name). */
const char *rumor_err_name(int code);

/* Limits that are part of the wire contract. */
#define RUMOR_MAX_ID_LEN       128   /* member ids: enough for a UUID or a host name plus a suffix */
#define RUMOR_MAX_CLUSTER_LEN  64    /* cluster names are labels, not payload */
#define RUMOR_MAX_KEY_LEN      1024  /* keys are names; a key this long is a mistake */
#define RUMOR_MAX_ADDR_STRLEN  64    /* "[v6 address]:port" plus a terminator fits */

typedef struct rumor_config {
  const char *id;        /* required; 1..RUMOR_MAX_ID_LEN bytes, no NUL */
  const char *cluster;   /* default "default"; datagrams of other clusters are dropped */
  const char *bind;      /* "host:port", default "127.0.0.1:0" (an ephemeral port) */
  const char *const *seeds; /* "host:port" addresses to join through */
  size_t nseeds;
  uint32_t gossip_interval_ms;        /* default 500 */
  uint32_t gossip_request_timeout_ms; /* default 2000 */
  uint32_t gossip_fan_out;            /* default 3 */
  uint32_t gossip_max_send;           /* default 50: entries per datagram at most */
  uint32_t heartbeat_expiration_ms;   /* default 10000 */
  uint32_t mtu;                       /* default 1400: largest datagram we send */
  uint32_t max_value_size;            /* default: what fits one datagram (see rumor_config_init) */
  uint64_t generation;   /* 0: derived from the wall clock at start (each start is newer) */
} rumor_config_t;

/* Fills cfg with the defaults above (id stays NULL). */
void rumor_config_init(rumor_config_t *cfg);

/* Describes why a configuration was refused: the field and the reason. */
typedef struct rumor_error {
  int code;
  char field[48];
  char message[160];
} rumor_error_t;

/* Checks cfg without creating anything. Returns 0, or RUMOR_EINVAL with err
 * naming the field (err may be NULL). */
int rumor_config_check(const rumor_config_t *cfg, rumor_error_t *err);

typedef struct rumor_node rumor_node_t;

/* Creates a node on loop. Nothing is bound or sent until rumor_node_start().
 * On success *out owns the node; free it with rumor_node_close(). */
int rumor_node_new(uv_loop_t *loop, const rumor_config_t *cfg,
                   rumor_node_t **out, rumor_error_t *err);

/* Binds the socket, joins through the seeds, starts the gossip timer. */
int rumor_node_start(rumor_node_t *node);

/* Stops gossip and closes the socket. State stays readable; the node
 * cannot be started again (a restart is a new node with a new generation). */
int rumor_node_stop(rumor_node_t *node);

typedef void (*rumor_close_cb)(rumor_node_t *node, void *arg);

/* Stops the node if running and frees it once its handles have closed, then
 * calls cb(NULL, arg) (cb may be NULL). The node must not be used after this
 * call; the loop must run for the memory to be released. */
void rumor_node_close(rumor_node_t *node, rumor_close_cb cb, void *arg);

const char *rumor_node_id(const rumor_node_t *node);
uint64_t rumor_node_generation(const rumor_node_t *node);

/* Writes the bound address ("127.0.0.1:PORT") into buf (>= RUMOR_MAX_ADDR_STRLEN).
 * Before start it is the configured bind string. */
int rumor_node_address(const rumor_node_t *node, char *buf, size_t size);

/* Sets one of this node's own keys. The value is copied. Bumps the node's
 * sequence number and fires an update event for the local write.
 * Returns the new seq (> 0) or a negative error (ETOOBIG, EINVAL). */
int64_t rumor_node_set(rumor_node_t *node, const char *key, size_t key_len,
                       const void *value, size_t value_len);

/* The largest value rumor_node_set accepts under a key of key_len bytes:
 * max_value_size, and, until values travel over TCP, what fits one datagram
 * of the configured MTU. 0 for an empty or over-long key. */
size_t rumor_node_value_limit(const rumor_node_t *node, size_t key_len);

/* One accepted entry: a local write or a remote entry that was newer. */
typedef struct rumor_update {
  const char *member;  size_t member_len;
  const char *key;     size_t key_len;
  const uint8_t *value; size_t value_len;
  uint64_t seq;
  uint64_t generation;
  int local;           /* 1 for this node's own writes */
} rumor_update_t;

/* Called once per accepted entry, in seq order per member, after the
 * datagram that carried it has been merged (never in the middle of a merge).
 * The pointers in *u are valid only during the call. The callback may call
 * any function of the node, including rumor_node_set. */
typedef void (*rumor_update_cb)(rumor_node_t *node, const rumor_update_t *u, void *arg);
void rumor_node_on_update(rumor_node_t *node, rumor_update_cb cb, void *arg);

typedef enum rumor_member_status {
  RUMOR_MEMBER_ALIVE = 0
} rumor_member_status_t;

/* A snapshot of one member as this node sees it. Strings point into the node
 * and stay valid until the next call that may change membership (any
 * loop iteration or rumor_node_* mutation). */
typedef struct rumor_member_info {
  const char *id;
  char address[RUMOR_MAX_ADDR_STRLEN]; /* "" when not yet known */
  uint64_t generation;
  uint64_t max_seq;       /* highest seq of this member we hold */
  uint64_t last_seen_ms;  /* loop time we last heard of it (new state or a datagram) */
  size_t nkeys;
  rumor_member_status_t status;
  int self;
} rumor_member_info_t;

size_t rumor_node_member_count(const rumor_node_t *node);
/* i in [0, count); self is index 0; the others in the order they were met. */
int rumor_node_member_at(const rumor_node_t *node, size_t i, rumor_member_info_t *out);

/* Looks up member's value of key. Returns 0 and sets value, len and seq, or
 * RUMOR_EINVAL when the member or key is unknown. *value points into the
 * store: valid until the next change to that member. */
int rumor_node_get(const rumor_node_t *node, const char *member, size_t member_len,
                   const char *key, size_t key_len,
                   const uint8_t **value, size_t *len, uint64_t *seq);

/* Counters since the node was created. Never reset. */
typedef struct rumor_metrics {
  uint64_t rounds;            /* gossip rounds run */
  uint64_t datagrams_sent, bytes_sent;
  uint64_t datagrams_received, bytes_received;
  uint64_t send_errors;       /* datagrams the socket refused */
  uint64_t drops_malformed;   /* truncated or garbage datagrams */
  uint64_t drops_version;     /* unknown protocol version */
  uint64_t drops_cluster;     /* another cluster's datagrams */
  uint64_t drops_self;        /* our own id from another address/generation */
  uint64_t deltas_gap;        /* delta chunks refused for a seq gap (re-requested) */
  uint64_t deltas_stale;      /* delta chunks of an older generation */
  uint64_t entries_merged;    /* remote entries accepted */
  uint64_t entries_ignored;   /* remote entries we already had */
  uint64_t updates;           /* entries accepted, local and remote (one event each) */
  uint64_t members_joined;    /* members learned */
  uint64_t generations_replaced; /* members restarted under the same id */
} rumor_metrics_t;

const rumor_metrics_t *rumor_node_metrics(const rumor_node_t *node);

/* Parses "host:port" (IPv4, or [IPv6]:port) into a sockaddr_storage. */
int rumor_addr_parse(const char *s, struct sockaddr_storage *out);
/* Formats an address as "host:port" ("[v6]:port" for IPv6). */
int rumor_addr_format(const struct sockaddr *sa, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* RUMOR_H */

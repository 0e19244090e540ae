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
 * - Values too big for a datagram travel over TCP. A write to a peer that
 *   reset the connection raises SIGPIPE, which libuv does not suppress on
 *   Linux: a program embedding rumor must ignore it
 *   (signal(SIGPIPE, SIG_IGN)), as the Lua module and the rumor command do.
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
#define RUMOR_ETOOBIG     (-20003) /* over a configured limit: a key or value too
                                       long, or too many entries or members */
#define RUMOR_ENOMEM      (-20004) /* allocation failed */
#define RUMOR_EADDR       (-20005) /* an address did not parse as host:port */
/* Waiting operations end with libuv's UV_ETIMEDOUT (the deadline passed) or
 * UV_ECANCELED (the node was stopped or closed first). */

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
  uint32_t heartbeat_expiration_ms;   /* default 10000; 0 turns expiration off, otherwise
                                         at least 3 gossip intervals */
  uint32_t mtu;                       /* default 1400: largest datagram we send */
  uint32_t max_value_size;            /* default 1 MiB; larger than a datagram goes over TCP */
  uint32_t tombstone_grace_ms;        /* default 3600000: deletes are forgotten this long after
                                         each node accepted them */
  uint64_t generation;   /* 0: derived from the wall clock at start (each start is newer) */
  /* Liveness (see "Liveness" below). */
  int failure_detector;  /* RUMOR_FD_EXPIRATION (default) or RUMOR_FD_PHI */
  double phi_threshold;  /* default 8.0; with RUMOR_FD_PHI, block above this */
  int auto_rejoin;       /* default 1: a node blocked as expired rejoins under a
                            new generation when it learns of it */
  uint32_t blocked_retention_ms; /* default 3600000: a blocked member's state is
                                    purged this long after it was blocked */
  /* Dissemination (see RUMOR_BROADCAST_* below). */
  int broadcast;         /* RUMOR_BROADCAST_EPIDEMIC (default) or RUMOR_BROADCAST_TREE */
  uint32_t broadcast_branching; /* default 2: children per node of the tree,
                                   1..RUMOR_MAX_BROADCAST_BRANCHING */
  uint32_t rate_limit_tokens;   /* default 0 (off): sends a node may initiate to
                                   spread news per window */
  uint32_t rate_limit_interval_ms; /* default 10000: the window; the tokens are
                                      refilled to full once per window */
  /* Encryption (see "Keyring" below). */
  const char *const *keyring; /* keys as text (base64 of 32 bytes, or 64 hex digits);
                                 keyring[0] seals, all open. NULL/0: plaintext */
  size_t nkeys;               /* 0..RUMOR_MAX_KEYRING */
  uint32_t replay_window_ms;  /* default 60000: with a keyring, messages whose sender's
                                 clock is further than this from ours are refused
                                 (0: only the per-member replay window applies) */
  /* Limits (see "Limits" below): what the network can make a node take in. */
  uint32_t max_members;         /* default 65536: members a node knows, itself and
                                   removed ones included; 2..16777216 */
  uint32_t max_keys_per_member; /* default 100000: entries (keys, map entries, deletes
                                   not yet purged) held per member; 1..100000000 */
  uint32_t max_datagram_size;   /* default 65507: larger datagrams are dropped before
                                   they are decoded; at least mtu */
  uint32_t recv_budget;         /* default 2000: datagrams per second taken from one
                                   source address (IP and port); 0 turns it off */
  uint32_t max_tcp_connections; /* default 64: inbound TCP connections open at once;
                                   more are refused, 1..4096 */
  uint32_t max_stream_bytes;    /* default 256 MiB: payload one inbound TCP connection
                                   may carry before it is closed, at least 64 KiB */
} rumor_config_t;

/* How a local write is pushed, before anti-entropy repairs what it missed.
 *
 * EPIDEMIC: rumor mongering. The writer pushes to gossip_fan_out random
 * peers; a node that learns something new from a push passes it on once,
 * to gossip_fan_out others. Fast and robust, about fan-out × N datagrams.
 *
 * TREE: Riak's recursive gossip. Live members (self included) sorted
 * bytewise by id, rotated so the writer is at position 0, form a tree: the
 * node at position i sends to positions b·i+1 .. b·i+b (b is
 * broadcast_branching). A node that learns something new from a tree push
 * forwards it to its own children in the tree rooted at the same writer,
 * computed from its own view; leaves forward nothing. One write costs about
 * N-1 datagrams and log_b(N) hops; a dead inner node cuts off its subtree
 * until anti-entropy (or the failure detector, which reshapes the tree)
 * repairs it. A receiver follows the push it got (its mode and branching
 * travel with it), whatever its own configuration says.
 *
 * Rate limit (Riak's gossip limit, {45 tokens, 10000 ms} there): with
 * rate_limit_tokens > 0, a node may initiate at most that many sends per
 * rate_limit_interval_ms window, a fixed window refilled to full at its
 * start, not a leaking bucket. Only sends that spread news take a token:
 * pushes of local writes and their forwards (both modes), and the full
 * SYNs a round sends to random peers while things change. The round's
 * summary to a ring neighbour (the heartbeat), answers (SYNACK, ACK,
 * REJECT, the digest answering a differing summary) and TCP transfers
 * never do, so reconciliation between neighbours never starves. A local
 * write whose push finds no token stays pending and goes out when the
 * window refills (sends_deferred); a forward or round SYN that finds none
 * is dropped (sends_dropped), and anti-entropy repairs it. */
enum {
  RUMOR_BROADCAST_EPIDEMIC = 0,
  RUMOR_BROADCAST_TREE = 1
};
/* The widest tree: past this, a "tree" is a flood from each node with none
 * of a tree's economy, and a dead inner node cuts off a large subtree. */
#define RUMOR_MAX_BROADCAST_BRANCHING 16

/* Limits. Everything a node takes from the network is bounded, and each
 * bound is a field of rumor_config_t; what passes one is dropped or
 * refused where it is cheapest, counted in rumor_metrics_t, and the rest of
 * the traffic goes on.
 *
 * max_members: once a node knows this many members (itself, and members
 * removed after a block, whose ids it remembers so their old state cannot
 * come back, included; a member is never forgotten while the node lives),
 * ids new to it are refused (members_refused, once per time one is met): a
 * datagram from an unknown sender is dropped, an unknown member in a
 * digest or a delta is skipped and the rest of the datagram is taken. The
 * first refusal is logged at warn. Members it knows keep syncing; its
 * summaries differ from those of peers that know more, which costs an
 * exchange now and then, not every round. rumor_node_set_topology naming
 * more new members than there is room for fails with RUMOR_ETOOBIG and
 * changes nothing. Churn under ever new ids fills the table over a node's
 * life: size it for every id a node may meet, not only those alive at once.
 * A member it refuses may be a ring neighbour of its own that watches it
 * and finds it silent: max_members is a guard against made-up ids, not a
 * way to take part in only some of a cluster.
 *
 * max_keys_per_member: a member holds at most this many entries at a node:
 * its values and map entries and its deletes not yet purged (a delete
 * holds its slot until tombstone_grace_ms ends it), the engine's reserved
 * entries (heartbeat, left, blocked) included. A write to an entry it
 * holds always goes (a delete too); a new one past the limit does not:
 * rumor_node_set and rumor_node_map_set return RUMOR_ETOOBIG, and a remote
 * entry is refused (entries_over_limit), logged once each time a member
 * reaches the limit. A refused remote entry is not stored, and the
 * member's watermark passes it like any other: the entries after it
 * (updates of keys held, deletes, the engine's entries, which are never
 * refused) still arrive, nothing is asked for again, and the member's
 * next write of that key is judged afresh. So this node holds, and passes
 * on, that member's state without the refused keys: give every node of a
 * cluster the same limit, and keep members well under it (a member whose
 * own count sits at the limit while deletes are being purged may have a
 * new key refused by a peer that purges a little later).
 *
 * max_datagram_size: a datagram longer than this is dropped before it is
 * opened or decoded (drops_oversize). Nodes send at most their mtu, so it
 * must be at least the node's own mtu, and the largest mtu of the cluster.
 *
 * recv_budget: each source address (IP and port) may send recv_budget
 * datagrams per second, in bursts of up to a second's worth (a token
 * bucket). The budget is checked first on receipt, before anything is
 * opened (with a keyring) or decoded, so a flood from one address costs a
 * lookup per datagram and leaves the others' gossip alone. What is over it
 * is dropped (drops_budget), with one warning per address each time it
 * goes over (until it has stayed within the budget for a second). The
 * buckets are a fixed table of 1024 addresses, the least recently seen
 * evicted first: memory is bounded, and a sender cycling (spoofed) source
 * addresses is not held to the budget, but cannot shrink anyone else's.
 * Honest peers send a few datagrams per round each (large syncs go over
 * TCP): the default is far above that.
 *
 * TCP: a node takes at most max_tcp_connections inbound connections at
 * once; more are closed as soon as they are accepted (tcp_refused). One
 * connection is closed once its frames carried max_stream_bytes (the frame
 * that reaches it is still taken; tcp_overlong): the sender's transfer
 * fails, and the receiver pulls the rest later on a new connection from
 * where it got to. A connection that sends nothing, or stops in the middle
 * of a frame or its length, for gossip_request_timeout_ms is closed. A
 * frame is at most what max_value_size needs (never below 64 KiB); a
 * longer one closes the connection before any of it is stored. */

/* Failure detectors. Both block a member as "expired". */
enum {
  RUMOR_FD_EXPIRATION = 0, /* heartbeat older than heartbeat_expiration_ms (0: never) */
  RUMOR_FD_PHI = 1         /* phi accrual over heartbeat arrivals above phi_threshold */
};

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
/* The node's configuration as checked and copied at creation (the limits
 * it enforces, say); seeds is NULL (they were parsed). Valid while the
 * node lives. */
const rumor_config_t *rumor_node_config(const rumor_node_t *node);

/* Writes the bound address ("127.0.0.1:PORT") into buf (>= RUMOR_MAX_ADDR_STRLEN).
 * Before start it is the configured bind string. */
int rumor_node_address(const rumor_node_t *node, char *buf, size_t size);

/* Sets one of this node's own keys. The value is copied. Bumps the node's
 * sequence number and fires an update event for the local write; when the
 * node runs, the write is pushed to gossip_fan_out peers at once.
 * Returns the new seq (> 0) or a negative error (ETOOBIG, EINVAL, ESTATE).
 * ETOOBIG: the key or value is too long, or the key is new and the node
 * holds max_keys_per_member entries. */
int64_t rumor_node_set(rumor_node_t *node, const char *key, size_t key_len,
                       const void *value, size_t value_len);

/* Deletes one of this node's own keys: writes a tombstone that propagates
 * like a write and is purged tombstone_grace_ms after each node accepted it.
 * Returns the new seq, 0 when the key holds no value (nothing to delete), or
 * a negative error. */
int64_t rumor_node_delete(rumor_node_t *node, const char *key, size_t key_len);

/* Map state: entries filed under a state key, each versioned on its own, so
 * a change ships only that entry. map_key is 1..RUMOR_MAX_KEY_LEN bytes.
 * Same returns as rumor_node_set / rumor_node_delete. */
int64_t rumor_node_map_set(rumor_node_t *node, const char *key, size_t key_len,
                           const char *map_key, size_t map_key_len,
                           const void *value, size_t value_len);
int64_t rumor_node_map_remove(rumor_node_t *node, const char *key, size_t key_len,
                              const char *map_key, size_t map_key_len);

/* The largest value rumor_node_set (or rumor_node_map_set, with map_key_len
 * > 0) accepts under these key lengths: max_value_size, and what one TCP
 * frame of the transfer protocol holds. 0 for an empty or over-long key. */
size_t rumor_node_value_limit(const rumor_node_t *node, size_t key_len, size_t map_key_len);

/* Waits until every live member other than this node is known, from the
 * digests it sends, to hold this node's state up to seq (of the current
 * generation), then calls cb with status 0. After timeout_ms, cb gets
 * UV_ETIMEDOUT and the ids of the members still missing; if the node stops
 * or closes first, UV_ECANCELED, called from inside rumor_node_stop or
 * rumor_node_close. "Live" means a member that has published state
 * (generation > 0) and has an address. The node polls the missing members
 * while waiting. cb runs exactly once, never from inside this call;
 * missing[] holds NUL-terminated ids and is valid only during cb. Returns
 * 0 or a negative error (ESTATE when the node does not run, EINVAL for seq
 * above the node's own). */
typedef void (*rumor_await_cb)(rumor_node_t *node, int status, const char *const *missing,
                               size_t nmissing, void *arg);
int rumor_node_await(rumor_node_t *node, uint64_t seq, uint32_t timeout_ms, rumor_await_cb cb,
                     void *arg);

/* One accepted entry: a local write or a remote entry that was newer. */
typedef struct rumor_update {
  const char *member;  size_t member_len;
  const char *key;     size_t key_len;
  const char *map_key; size_t map_key_len; /* NULL/0 for a plain key */
  const uint8_t *value; size_t value_len;  /* empty when deleted */
  uint64_t seq;
  uint64_t generation;
  int local;           /* 1 for this node's own writes */
  int system;          /* 1 for a reserved key: heartbeat, left, blocked */
  int deleted;         /* 1 for a delete (tombstone), or a value found gone
                          when a peer's state was re-synchronised */
} rumor_update_t;

/* Called once per accepted entry, in seq order per member, after the
 * datagram that carried it has been merged (never in the middle of a merge).
 * The pointers in *u are valid only during the call. The callback may call
 * any function of the node, including rumor_node_set. */
typedef void (*rumor_update_cb)(rumor_node_t *node, const rumor_update_t *u, void *arg);
void rumor_node_on_update(rumor_node_t *node, rumor_update_cb cb, void *arg);

/* ---- Validation ----------------------------------------------------------
 *
 * A validator sees every entry that arrives from the network before it is
 * merged (not this node's own writes, not the engine's reserved keys).
 * Returning nonzero refuses it: this node's view keeps what it had for
 * that key (rumor_node_get and friends show the older value, or nothing;
 * no update event), entries_rejected counts it, and a warning with the
 * reason goes to the log. The refused entry is still held and passed on,
 * hidden: the replica stays complete, so nothing is re-sent to this node
 * and peers that sync from it still get the entry to judge for
 * themselves. A later write of the same key is judged afresh. A refused
 * delete is forgotten with its tombstone (tombstone_grace_ms), and the
 * value it hid with it.
 *
 * The validator runs in the middle of a merge: it may read the node
 * (rumor_node_get and friends) but not change it. Writes, blocks,
 * topology, leave, await and stop return RUMOR_ESTATE while it runs; a
 * rumor_node_close from it takes effect once the datagram is merged. */

/* e is the update the entry would become (local and system are 0; its
 * pointers are valid only during the call). Returns 0 to accept. To
 * reject, returns nonzero and may point *reason at a NUL-terminated
 * explanation that stays valid until the next call. */
typedef int (*rumor_validate_cb)(rumor_node_t *node, const rumor_update_t *e,
                                 const char **reason, void *arg);
/* NULL removes the validator. */
void rumor_node_set_validator(rumor_node_t *node, rumor_validate_cb cb, void *arg);

/* ---- Log -----------------------------------------------------------------
 *
 * The core says what it does in log lines: members joining, blocked (with
 * why), removed; this node rejoining; entries rejected or refused; transfers
 * that failed. Lines are queued and delivered with the update events (never
 * in the middle of a merge), so the callback may call any function of the
 * node. Nothing is formatted below the level asked for or without a
 * callback. */
enum {
  RUMOR_LOG_DEBUG = 0,
  RUMOR_LOG_INFO = 1,
  RUMOR_LOG_WARN = 2,
  RUMOR_LOG_ERROR = 3
};
/* "debug", "info", "warn", "error" ("" for anything else). */
const char *rumor_log_level_name(int level);
/* message is NUL-terminated and valid only during the call. */
typedef void (*rumor_log_cb)(rumor_node_t *node, int level, const char *message, size_t len,
                             void *arg);
/* Lines of at least min_level reach cb; NULL stops them. */
void rumor_node_on_log(rumor_node_t *node, int min_level, rumor_log_cb cb, void *arg);

/* ---- Keyring -------------------------------------------------------------
 *
 * With a keyring, every datagram and TCP frame a node sends is sealed
 * (XChaCha20-Poly1305, libsodium) with the primary key, and only sealed
 * messages that open with one of its keys are taken: a node without the
 * key, or with a wrong one, learns nothing and changes nothing (drops_key,
 * drops_plaintext). Each message carries its sender's clock and a counter;
 * one seen before, or older than replay_window_ms, is refused
 * (drops_replay). Problems are logged at warn once per peer address, not
 * per message.
 *
 * Rotation without dropping the cluster: install the new key on every
 * node (they open both), then use it on every node (they seal with it;
 * rumor_node_keyring shows when the old one stops opening anything), then
 * remove the old one everywhere. A node created without a keyring cannot
 * be given one: encryption is decided at creation, as it changes the room
 * a datagram has (RUMOR_SEAL_OVERHEAD bytes of the mtu). */
#define RUMOR_MAX_KEYRING 16      /* keys at once: a rotation needs two or three */
#define RUMOR_KEY_TEXT_LEN 44     /* a key in base64, without its NUL */
/* Writes a new random key, in base64, NUL-terminated, into buf (>= 45 bytes). */
int rumor_keygen(char *buf, size_t size);
/* Adds a key that opens messages (no-op when present). EINVAL for a key
 * that does not parse, ESTATE without a keyring, ETOOBIG when full. */
int rumor_node_key_install(rumor_node_t *node, const char *key, size_t len);
/* Makes an installed key the primary: what this node seals with. */
int rumor_node_key_use(rumor_node_t *node, const char *key, size_t len);
/* Removes an installed key; EINVAL for the primary or one not installed. */
int rumor_node_key_remove(rumor_node_t *node, const char *key, size_t len);
typedef struct rumor_key_info {
  char id[9];         /* the key's id in hex: a fingerprint, not the key */
  int primary;        /* 1 for the key this node seals with */
  uint64_t opened;    /* messages this key opened here */
} rumor_key_info_t;
/* Fills up to max records, primary first; returns how many keys there are. */
size_t rumor_node_keyring(const rumor_node_t *node, rumor_key_info_t *out, size_t max);

/* ---- Liveness ------------------------------------------------------------
 *
 * Every running node beats once per round: the round's SYN to one of its
 * two ring neighbours (the live members whose ids sort right before and
 * after its own, wrapping around), each in turn, is its heartbeat. Each
 * node judges its neighbours only: it notes, on its own clock, when each
 * last beat, and the failure detector blocks one that stops. The block is
 * published (below), and every other node takes it over, so a quiet
 * cluster spends one small datagram per node per round on liveness
 * whatever its size, and a crash is known everywhere about
 * heartbeat_expiration_ms after it. A member that becomes our neighbour (a
 * join, a block) gets a whole window from then. The phi detector expects a
 * beat every two rounds, so at threshold 8 it waits about 37 rounds.
 *
 * The "heartbeat" entry carries the figures, not the beat: the engine's own
 * (uptime, members it sees alive) and the stats set with
 * rumor_node_set_stats. It is written at start and again when the stats
 * change, at most every 10 rounds, or when only the members alive changed,
 * 10 rounds after start and then at most every 120 rounds; it is gossiped
 * like any entry. A block holds for one generation of the member: the same id back
 * under a newer generation joins again.
 *
 * Blocked members get no gossip; their datagrams are dropped (counted in
 * drops_blocked) and answered, at most once per round, with a rejection
 * naming the blocked generation and the reason. Each node also publishes the
 * blocks it made under the reserved map key "blocked". A node that learns it
 * was blocked as expired starts a new generation and rejoins, unless
 * auto_rejoin is 0. A node stalled itself (SIGSTOP, a long pause) does not
 * count the stall against others.
 *
 * "heartbeat", "left" and "blocked" are reserved keys: rumor_node_set and
 * friends refuse them with RUMOR_EINVAL. Their entries are gossiped like any
 * other (so rumor_node_get reads them) and reported to the update callback
 * with system = 1. */

typedef enum rumor_member_status {
  RUMOR_MEMBER_ALIVE = 0,   /* not blocked (including members known by name only) */
  RUMOR_MEMBER_BLOCKED = 1, /* blocked for its current generation; see block_reason */
  RUMOR_MEMBER_REMOVED = 2  /* blocked past blocked_retention_ms: state purged, id remembered */
} rumor_member_status_t;

typedef enum rumor_block_reason {
  RUMOR_BLOCK_NONE = 0,
  RUMOR_BLOCK_EXPIRED = 1,  /* the failure detector */
  RUMOR_BLOCK_LEFT = 2,     /* it published the left key (rumor_node_leave) */
  RUMOR_BLOCK_POLICY = 3,   /* rumor_node_block from a policy */
  RUMOR_BLOCK_TOPOLOGY = 4  /* gone from rumor_node_set_topology, or rumor_node_remove_peer */
} rumor_block_reason_t;

/* "expired", "left", "policy", "topology" ("" for NONE). */
const char *rumor_block_reason_name(int reason);

/* One counter of a heartbeat: a name of 1..RUMOR_MAX_STAT_NAME bytes. */
#define RUMOR_MAX_STAT_NAME 64
/* Encoded heartbeats are at most this long: every member has one, and it
 * must fit a datagram of the smallest MTU with room to spare for others. */
#define RUMOR_MAX_HEARTBEAT 512
typedef struct rumor_stat {
  const char *name;
  size_t name_len;
  int64_t value;
} rumor_stat_t;

/* Replaces the stats this node's next heartbeats carry (copied). Returns 0,
 * RUMOR_EINVAL for an empty, over-long or repeated name, or RUMOR_ETOOBIG
 * when the heartbeat would pass RUMOR_MAX_HEARTBEAT or not fit a datagram
 * of this node's mtu. */
int rumor_node_set_stats(rumor_node_t *node, const rumor_stat_t *stats, size_t n);

/* Walks the stats of a heartbeat (rumor_member_info_t.stats): call with
 * *off = 0 until it returns 0. 1 fills *out (name points into the buffer). */
int rumor_stats_next(const uint8_t *stats, size_t len, size_t *off, rumor_stat_t *out);

/* Called at the start of every round, before the heartbeat entry is
 * refreshed and the failure detector runs: the place to refresh stats and
 * run policies. */
typedef void (*rumor_round_cb)(rumor_node_t *node, void *arg);
void rumor_node_on_round(rumor_node_t *node, rumor_round_cb cb, void *arg);

/* Blocks a member for its current generation with reason (POLICY or
 * TOPOLOGY; EXPIRED and LEFT are the engine's). Returns 0 (also when it was
 * blocked already), RUMOR_EINVAL for self, an unknown id or a bad reason. */
int rumor_node_block(rumor_node_t *node, const char *id, size_t id_len, int reason);
/* The same with the words that explain it (what a policy returned, say),
 * kept with the block and shown as block_detail; NULL for none. Longer than
 * RUMOR_MAX_BLOCK_DETAIL bytes is cut there. */
#define RUMOR_MAX_BLOCK_DETAIL 200
int rumor_node_block_detail(rumor_node_t *node, const char *id, size_t id_len, int reason,
                            const char *detail);

/* Ids of the members blocked now (not removed), through cb. */
typedef void (*rumor_id_cb)(const char *id, size_t len, void *arg);
void rumor_node_blocked(const rumor_node_t *node, rumor_id_cb cb, void *arg);

/* Topology from outside (a cluster provider, like protoactor's
 * ClusterTopology event). set_topology replaces the peer list: members it
 * names are known at their addresses (a topology block on them is lifted),
 * every other member is blocked with reason TOPOLOGY. add_peer adds an
 * address to join through, like a seed; remove_peer blocks one member with
 * reason TOPOLOGY. */
typedef struct rumor_peer {
  const char *id;      /* required */
  const char *address; /* "host:port", or NULL when unknown */
} rumor_peer_t;
int rumor_node_set_topology(rumor_node_t *node, const rumor_peer_t *peers, size_t n);
/* (set_topology also returns RUMOR_ETOOBIG, changing nothing, when it names
 * more members new to the node than max_members leaves room for.) */
int rumor_node_add_peer(rumor_node_t *node, const char *address);
int rumor_node_remove_peer(rumor_node_t *node, const char *id, size_t id_len);

/* Membership events, delivered in order with update events. */
typedef enum rumor_member_event_type {
  RUMOR_EVENT_JOINED = 0,   /* first state of a member, or of a newer generation of it */
  RUMOR_EVENT_ALIVE = 1,    /* its heartbeat entry of that generation arrived */
  RUMOR_EVENT_BLOCKED = 2,  /* blocked, with reason */
  RUMOR_EVENT_REMOVED = 3,  /* its state purged, blocked_retention_ms after the block */
  RUMOR_EVENT_REJOINED = 4  /* this node started a new generation (member is self) */
} rumor_member_event_type_t;
/* "joined", "alive", "blocked", "removed", "rejoined". */
const char *rumor_member_event_name(int type);

typedef struct rumor_member_event {
  int type;
  const char *member; size_t member_len;
  uint64_t generation;
  int reason;        /* BLOCKED: why; REJOINED: the reason of the block it answers */
} rumor_member_event_t;
typedef void (*rumor_member_cb)(rumor_node_t *node, const rumor_member_event_t *ev, void *arg);
void rumor_node_on_member(rumor_node_t *node, rumor_member_cb cb, void *arg);

/* Graceful leave: writes the "left" key, pushes it, waits until at least
 * gossip_fan_out live members (or all, if fewer) hold it or timeout_ms
 * passes, then stops the node and calls cb with 0 or UV_ETIMEDOUT (the node
 * is stopped either way; UV_ECANCELED if it was stopped or closed first).
 * cb runs once, never inside this call. Others block the member as LEFT. */
typedef void (*rumor_leave_cb)(rumor_node_t *node, int status, void *arg);
int rumor_node_leave(rumor_node_t *node, uint32_t timeout_ms, rumor_leave_cb cb, void *arg);

/* A snapshot of one member as this node sees it. Strings point into the node
 * and stay valid until the next call that may change membership (any
 * loop iteration or rumor_node_* mutation). */
typedef struct rumor_member_info {
  const char *id;
  char address[RUMOR_MAX_ADDR_STRLEN]; /* "" when not yet known */
  uint64_t generation;
  uint64_t max_seq;       /* highest seq of this member we hold */
  uint64_t last_seen_ms;  /* loop time we last heard of it (new state or a datagram) */
  size_t nkeys;           /* live entries (plain and map) */
  size_t ntombstones;     /* deletes not yet purged */
  rumor_member_status_t status;
  int block_reason;       /* RUMOR_BLOCK_* when BLOCKED or REMOVED */
  int self;
  /* Liveness, as this node observes it. */
  int watched;               /* a ring neighbour: this node judges its liveness */
  uint64_t heartbeat_age_ms; /* since its last beat reached this node (or since it
                                became a neighbour, if later); 0 for self. Only
                                neighbours beat here: for others it is the time
                                since it last gossiped with us */
  uint64_t heartbeats;       /* beats of this generation that reached this node */
  double phi;                /* the phi-accrual suspicion level now (neighbours) */
  int left;                  /* it published the left key */
  /* Why it is blocked (BLOCKED or REMOVED), in words: the silence for
   * EXPIRED ("no heartbeat for 10012 ms"), the policy's own words for
   * POLICY. NUL-terminated, "" when there is none. */
  const char *block_detail;
  const char *blocked_by;    /* the member whose published verdict we took
                                over, or NULL: our own decision */
  uint64_t blocked_for_ms;   /* since the block */
  uint64_t block_silence_ms; /* EXPIRED: its silence when it was blocked
                                (the judge's, for a verdict taken over) */
  /* Its latest heartbeat (valid while has_heartbeat). */
  int has_heartbeat;
  uint64_t uptime_ms;        /* its uptime now, from its heartbeat entry */
  uint32_t members_alive;    /* members it saw alive then, itself included */
  const uint8_t *stats;      /* the stats, for rumor_stats_next */
  size_t stats_len;
} rumor_member_info_t;

size_t rumor_node_member_count(const rumor_node_t *node);
/* i in [0, count); self is index 0; the others in the order they were met. */
int rumor_node_member_at(const rumor_node_t *node, size_t i, rumor_member_info_t *out);
/* The same for one member by id: 0, or RUMOR_EINVAL when it is unknown. */
int rumor_node_member_find(const rumor_node_t *node, const char *id, size_t id_len,
                           rumor_member_info_t *out);

/* Looks up member's value of key. Returns 0 and sets value, len and seq, or
 * RUMOR_EINVAL when the member or key is unknown or deleted. *value points
 * into the store: valid until the next change to that member. */
int rumor_node_get(const rumor_node_t *node, const char *member, size_t member_len,
                   const char *key, size_t key_len,
                   const uint8_t **value, size_t *len, uint64_t *seq);

/* Same for one map entry. */
int rumor_node_map_get(const rumor_node_t *node, const char *member, size_t member_len,
                       const char *key, size_t key_len, const char *map_key, size_t map_key_len,
                       const uint8_t **value, size_t *len, uint64_t *seq);

/* Calls cb for every live map key member holds under key, in no particular
 * order. Returns 0, or RUMOR_EINVAL when the member is unknown. cb must not
 * change the node. */
typedef void (*rumor_map_key_cb)(const char *map_key, size_t len, void *arg);
int rumor_node_map_keys(const rumor_node_t *node, const char *member, size_t member_len,
                        const char *key, size_t key_len, rumor_map_key_cb cb, void *arg);

/* Kinds of datagrams, for the per-kind counters of rumor_metrics_t. A
 * round's summary to a neighbour is a SYN (summaries_sent counts those);
 * TCP frames are ACKs, counted apart (frames_*). */
enum {
  RUMOR_KIND_SYN = 0,
  RUMOR_KIND_SYNACK = 1,
  RUMOR_KIND_ACK = 2,
  RUMOR_KIND_PUSH = 3,
  RUMOR_KIND_REJECT = 4,
  RUMOR_KIND_COUNT = 5
};
/* "syn", "synack", "ack", "push", "reject" ("" for anything else). */
const char *rumor_kind_name(int kind);

typedef struct rumor_kind_metrics {
  uint64_t datagrams_sent, bytes_sent;
  uint64_t datagrams_received, bytes_received; /* that decoded as this kind */
} rumor_kind_metrics_t;

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
  uint64_t entries_too_big;   /* remote values over our max_value_size, refused */
  uint64_t updates;           /* entries accepted, local and remote (one event each) */
  uint64_t members_joined;    /* members learned */
  uint64_t generations_replaced; /* members restarted under the same id */
  uint64_t pushes_sent;       /* eager-push datagrams (epidemic or tree), our
                                 writes and forwards */
  uint64_t pushes_forwarded;  /* pushes received with news, passed on */
  uint64_t tombstones_purged; /* deletes forgotten after the grace period */
  uint64_t resyncs_sent;      /* full states sent to a peer that missed purged deletes */
  uint64_t entries_swept;     /* entries found gone in such a full state */
  uint64_t tcp_pulls;         /* asked a peer for what its answer could not carry */
  uint64_t tcp_transfers;     /* TCP transfers started (what a datagram cannot carry) */
  uint64_t tcp_failures;      /* transfers that failed or timed out */
  uint64_t frames_sent, frames_received;       /* TCP frames */
  uint64_t tcp_bytes_sent, tcp_bytes_received; /* TCP frame payload bytes */
  uint64_t heartbeats_sent;   /* rounds that beat to our neighbours */
  uint64_t summaries_sent;    /* quiet-round SYNs: a summary, not a digest */
  uint64_t summaries_matched; /* summaries received equal to ours: nothing to send */
  uint64_t summaries_differed; /* summaries received unequal: answered with a digest */
  uint64_t wanted_asked;      /* SYNs asking a peer at once for members its digest
                                 showed newer than ours */
  uint64_t blocks_adopted;    /* members blocked on another member's published verdict */
  uint64_t probes_sent;       /* SYNs to a neighbour silent for half the window */
  uint64_t drops_blocked;     /* datagrams and frames of blocked members, dropped */
  uint64_t rejects_sent;      /* rejections answered to blocked members */
  uint64_t rejects_received;  /* rejections of us received */
  uint64_t members_blocked;   /* blocks made, any reason */
  uint64_t members_removed;   /* blocked members whose state was purged */
  uint64_t rejoins;           /* new generations started after learning of a block */
  uint64_t stalls;            /* rounds that found our own loop had stalled */
  uint64_t sends_deferred;    /* pushes of local writes put off for want of a
                                 token (each once, however long it waits) */
  uint64_t sends_dropped;     /* push datagrams and round SYNs not sent for want of a token */
  uint64_t entries_rejected;  /* remote entries the validator refused */
  uint64_t log_lines;         /* log lines delivered to the log callback */
  uint64_t fault_dropped;     /* datagrams and frames dropped by a fault (loss, cut),
                                 either direction, and transfers refused to a cut peer */
  uint64_t fault_delayed;     /* datagrams held back by a fault's delay */
  uint64_t fault_overflow;    /* delayed datagrams dropped: the delay queue was full */
  uint64_t drops_key;         /* sealed messages that did not open: no such key, a
                                 wrong one, forged or damaged; or sealed ones at a
                                 node without a keyring */
  uint64_t drops_plaintext;   /* unsealed messages at a node with a keyring */
  uint64_t drops_replay;      /* sealed messages seen before, or outside replay_window_ms */
  uint64_t drops_spoofed;     /* a live member's id and generation from another address,
                                 or a datagram that names an address it did not come from */
  uint64_t self_disputes;     /* claims that a peer holds more of our state than we
                                 wrote (each makes a rejoin above it, at most every
                                 10 rounds) */
  /* Limits (see "Limits" above); the drops_* do not count as received. */
  uint64_t members_refused;   /* new member ids not added: max_members were known */
  uint64_t entries_over_limit; /* remote entries of new keys of a member that holds
                                  max_keys_per_member entries, refused */
  uint64_t drops_oversize;    /* datagrams over max_datagram_size, dropped undecoded */
  uint64_t drops_budget;      /* datagrams over their source's recv_budget, dropped undecoded */
  uint64_t tcp_refused;       /* inbound TCP connections over max_tcp_connections, closed */
  uint64_t tcp_overlong;      /* inbound TCP connections closed after max_stream_bytes */
  rumor_kind_metrics_t by_kind[RUMOR_KIND_COUNT]; /* datagrams by kind */
} rumor_metrics_t;

const rumor_metrics_t *rumor_node_metrics(const rumor_node_t *node);

/* ---- Fault injection ------------------------------------------------------
 *
 * For tests and demos: a node can be told to lose, delay or refuse the
 * traffic it exchanges with a peer, so partitions and lossy links can be
 * staged on one host without root (no tc, no iptables). Every decision is
 * taken at this node, on what it sends and what it receives; a partition
 * between two groups is made by cutting each side from the other on both
 * sides (a cut on one side only still stops both directions at that node).
 *
 * peer is a member's address as rumor_member_info_t.address reports it
 * ("host:port"), or NULL for the default that applies to every peer without
 * a setting of its own. For that peer:
 * - loss in [0, 1]: each datagram sent to it or received from it is dropped
 *   with that probability (drawn from the node's generator). TCP frames are
 *   not subject to loss: TCP retransmits.
 * - delay_ms in [0, RUMOR_FAULT_MAX_DELAY_MS]: datagrams sent to it leave
 *   that much later, in the order they were sent. At most
 *   RUMOR_FAULT_MAX_HELD wait at once; more are dropped (fault_overflow).
 *   Datagrams still held when the node stops are dropped (fault_dropped).
 * - cut (0 or 1): nothing passes either way: datagrams to and from it are
 *   dropped, no TCP transfer to it starts (one under way ends), and its
 *   frames are dropped.
 * A setting replaces the peer's previous one; loss 0, delay 0, cut 0 removes
 * it (for NULL: removes the default). Returns 0, RUMOR_EINVAL for a value
 * out of range, RUMOR_EADDR when peer does not parse, RUMOR_ENOMEM.
 * Counted in fault_dropped, fault_delayed and fault_overflow. */
/* A minute: longer than any delay a test of gossip needs (a round is 500 ms,
 * the default expiration 10 s); beyond it a "delay" is a cut. */
#define RUMOR_FAULT_MAX_DELAY_MS 60000
/* Datagrams a node holds back at once. A quiet node sends about one per
 * round, a busy one a few per round per peer: 1024 covers a 60 s delay of
 * a quiet node, or seconds of a busy cluster, and bounds the memory to
 * 1024 × mtu (1.4 MiB at the default mtu) per node. */
#define RUMOR_FAULT_MAX_HELD 1024
int rumor_node_set_fault(rumor_node_t *node, const char *peer, double loss, uint32_t delay_ms,
                         int cut);
/* Removes every setting, the default included. Datagrams already held by a
 * delay still leave at their time (they are in flight). Returns 0. */
int rumor_node_clear_faults(rumor_node_t *node);

/* Parses "host:port" (IPv4, or [IPv6]:port) into a sockaddr_storage. */
int rumor_addr_parse(const char *s, struct sockaddr_storage *out);
/* Formats an address as "host:port" ("[v6]:port" for IPv6). */
int rumor_addr_format(const struct sockaddr *sa, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* RUMOR_H */

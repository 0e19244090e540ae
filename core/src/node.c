/* node.c: the public node API: configuration, lifecycle, local writes,
 * queries, and delivery of events. The protocol is in gossip.c, delta.c,
 * push.c, transfer.c, await.c and liveness.c; fault injection in fault.c. */
#include "node_int.h"
#include "addr.h"
#include "heartbeat.h"
#include "wire.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults are the seed design's (protoactor port, see DESIGN.md). */
#define DEFAULT_CLUSTER "default"
#define DEFAULT_BIND "127.0.0.1:0"
/* 500 ms: fast enough that a change seen by pull alone arrives within a
 * second or two, slow enough that idle traffic stays a few datagrams/s. */
#define DEFAULT_GOSSIP_INTERVAL_MS 500
/* 2 s: tolerates a scheduler stall (protoactor-dotnet #2130) on busy hosts. */
#define DEFAULT_GOSSIP_REQUEST_TIMEOUT_MS 2000
/* 3: memberlist's and chitchat's value; log-time spread with little overlap. */
#define DEFAULT_GOSSIP_FAN_OUT 3
/* 50: protoactor's GossipMaxSend; bounds the work one datagram can cause. */
#define DEFAULT_GOSSIP_MAX_SEND 50
/* 10 s: the seed's value; twenty rounds of silence at the default interval,
 * so a slow start or a GC pause does not get a healthy node blocked
 * (protoactor-dotnet #2004). */
#define DEFAULT_HEARTBEAT_EXPIRATION_MS 10000
/* 8: Akka's, Cassandra's and chitchat's threshold; with the exponential
 * model a silence of about 18 mean intervals. */
#define DEFAULT_PHI_THRESHOLD 8.0
/* 1 hour, like tombstones: a member blocked that long is not coming back
 * under the same generation; until then its state (and its left key) keeps
 * spreading, so every observer learns why it went. */
#define DEFAULT_BLOCKED_RETENTION_MS 3600000
/* 1400: memberlist's UDPBufferSize; below a 1500-byte Ethernet MTU after
 * IP/UDP headers and tunnel overheads, so datagrams are never fragmented. */
#define DEFAULT_MTU 1400
/* 1 MiB: the largest value DESIGN.md promises; bigger than a datagram
 * travels over TCP. */
#define DEFAULT_MAX_VALUE_SIZE (1024 * 1024)
/* 1 hour: a delete must outlive any partition we expect gossip to heal on
 * its own (chitchat uses 2 h); a node away longer gets a full resync. */
#define DEFAULT_TOMBSTONE_GRACE_MS 3600000
/* 2: Riak's tree (riak_core_gossip's build_tree(2, ...)). Each node sends
 * at most two datagrams per write and the depth is log2(N): 7 hops for 100
 * members. Wider trees are shallower, but every node sends more per write
 * and a dead inner node cuts off more of the cluster until anti-entropy
 * repairs it. */
#define DEFAULT_BROADCAST_BRANCHING 2
/* Riak's DEFAULT_LIMIT is {45, 10000}; the token count defaults to 0 (no
 * limit) here, as Riak's 1.0.3 branch effectively did (basho/riak_core
 * #131): a limit trades convergence speed for load, a choice for the user.
 * The window keeps Riak's 10 s, so `tokens = 45` alone means Riak's limit. */
#define DEFAULT_RATE_LIMIT_INTERVAL_MS 10000
/* A minute: NTP keeps hosts within milliseconds and a resumed VM within
 * seconds, so honest messages are never this far off; a captured message
 * replayed later than this is refused by its age alone, even at a node
 * that never heard its sender. */
#define DEFAULT_REPLAY_WINDOW_MS 60000
/* 576: the smallest datagram every IPv4 host must accept; 65507: UDP's limit. */
#define MIN_MTU 576
#define MAX_MTU 65507
/* UDP's largest payload: a peer sends at most its own mtu, and a cluster
 * may mix mtus (jumbo frames on some links), so by default any datagram UDP
 * can carry is decoded. Set it to the cluster's largest mtu to drop the
 * rest unread. */
#define DEFAULT_MAX_DATAGRAM_SIZE MAX_MTU
/* 65536 members, six times a 10,000-member cluster: room for the ids that
 * churn brings over a node's life (removed members are remembered), while a
 * stream of made-up ids stops at about 64 MiB of member records and their
 * scratch (roughly 1 KiB each). */
#define DEFAULT_MAX_MEMBERS 65536
/* 2^24: past that, a member table is a database of its own. */
#define MAX_MAX_MEMBERS (1u << 24)
/* 100,000 entries per member: a member's state is what others need to know
 * of it (config, endpoints, shard maps), not a database; at a few hundred
 * bytes of bookkeeping each (values aside) that is some tens of MiB per
 * member at most, and a shard map of tens of thousands of entries fits. */
#define DEFAULT_MAX_KEYS_PER_MEMBER 100000
#define MAX_MAX_KEYS_PER_MEMBER 100000000
/* 2000 datagrams/s from one address. An honest peer sends a node a few per
 * round (a summary, a SYN, answers, pushes and their forwards: tens per
 * second at the default interval), bursts when it writes a lot in a small
 * cluster, and moves big syncs over TCP; 2000 is far above all of that,
 * and a flood beyond it is dropped for the cost of a table lookup. */
#define DEFAULT_RECV_BUDGET 2000
/* A million datagrams per second is past what one socket delivers. */
#define MAX_RECV_BUDGET 1000000
/* 64 inbound TCP connections at once. A node receives over TCP what it
 * pulled, from a few peers at a time; each connection may buffer one frame
 * (up to max_value_size), so this bounds memory (64 MiB at the default
 * max_value_size), and still lets every peer of a mid-size cluster deliver
 * at once. */
#define DEFAULT_MAX_TCP_CONNECTIONS 64
/* 4096: more descriptors than a process gets by default (ulimit -n). */
#define MAX_TCP_CONNECTIONS 4096
/* 256 MiB per inbound connection. One connection carries one transfer:
 * what a peer pulled, at most the state of the members it lags on. That is
 * hundreds of full-size values, or the state of a 10,000-member cluster
 * many times over. A peer streaming more is cut off, and the receiver pulls
 * the rest on a new connection from where it got to: the limit bounds what
 * one connection can cost, never how far a sync gets. */
#define DEFAULT_MAX_STREAM_BYTES (256u * 1024 * 1024)
/* 64 KiB: one frame as senders fill them (RUMOR_FRAME_FILL). */
#define MIN_STREAM_BYTES (64u * 1024)

void rumor_config_init(rumor_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->cluster = DEFAULT_CLUSTER;
  cfg->bind = DEFAULT_BIND;
  cfg->gossip_interval_ms = DEFAULT_GOSSIP_INTERVAL_MS;
  cfg->gossip_request_timeout_ms = DEFAULT_GOSSIP_REQUEST_TIMEOUT_MS;
  cfg->gossip_fan_out = DEFAULT_GOSSIP_FAN_OUT;
  cfg->gossip_max_send = DEFAULT_GOSSIP_MAX_SEND;
  cfg->heartbeat_expiration_ms = DEFAULT_HEARTBEAT_EXPIRATION_MS;
  cfg->mtu = DEFAULT_MTU;
  cfg->max_value_size = DEFAULT_MAX_VALUE_SIZE;
  cfg->tombstone_grace_ms = DEFAULT_TOMBSTONE_GRACE_MS;
  cfg->failure_detector = RUMOR_FD_EXPIRATION;
  cfg->phi_threshold = DEFAULT_PHI_THRESHOLD;
  cfg->auto_rejoin = 1;
  cfg->blocked_retention_ms = DEFAULT_BLOCKED_RETENTION_MS;
  cfg->broadcast = RUMOR_BROADCAST_EPIDEMIC;
  cfg->broadcast_branching = DEFAULT_BROADCAST_BRANCHING;
  cfg->rate_limit_interval_ms = DEFAULT_RATE_LIMIT_INTERVAL_MS;
  cfg->max_members = DEFAULT_MAX_MEMBERS;
  cfg->max_keys_per_member = DEFAULT_MAX_KEYS_PER_MEMBER;
  cfg->max_datagram_size = DEFAULT_MAX_DATAGRAM_SIZE;
  cfg->recv_budget = DEFAULT_RECV_BUDGET;
  cfg->max_tcp_connections = DEFAULT_MAX_TCP_CONNECTIONS;
  cfg->max_stream_bytes = DEFAULT_MAX_STREAM_BYTES;
  cfg->replay_window_ms = DEFAULT_REPLAY_WINDOW_MS;
}

static int fail(rumor_error_t *err, int code, const char *field, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
  }
  return code;
}

static int check_name(const char *s, size_t max, const char *field, rumor_error_t *err) {
  if (s == NULL) return fail(err, RUMOR_EINVAL, field, "is required");
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return fail(err, RUMOR_EINVAL, field, "must be 1 to %zu bytes long (got %zu)", max, n);
  return 0;
}

static int check_range(uint64_t v, uint64_t lo, uint64_t hi, const char *field, rumor_error_t *err) {
  if (v < lo || v > hi)
    return fail(err, RUMOR_EINVAL, field, "must be between %llu and %llu (got %llu)",
                (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)v);
  return 0;
}

int rumor_config_check(const rumor_config_t *c, rumor_error_t *err) {
  struct sockaddr_storage ss;
  int rc;
  if (c == NULL) return fail(err, RUMOR_EINVAL, "config", "is NULL");
  if ((rc = check_name(c->id, RUMOR_MAX_ID_LEN, "id", err)) != 0) return rc;
  if ((rc = check_name(c->cluster, RUMOR_MAX_CLUSTER_LEN, "cluster", err)) != 0) return rc;
  if (c->bind == NULL || rumor_addr_parse(c->bind, &ss) != 0)
    return fail(err, RUMOR_EINVAL, "bind", "'%s' is not host:port", c->bind ? c->bind : "(null)");
  if (c->nseeds > 0 && c->seeds == NULL) return fail(err, RUMOR_EINVAL, "seeds", "is NULL");
  for (size_t i = 0; i < c->nseeds; i++) {
    char field[32];
    snprintf(field, sizeof(field), "seeds[%zu]", i + 1);
    if (c->seeds[i] == NULL || rumor_addr_parse(c->seeds[i], &ss) != 0)
      return fail(err, RUMOR_EINVAL, field, "'%s' is not host:port",
                  c->seeds[i] ? c->seeds[i] : "(null)");
  }
  /* An hour bounds every period: longer is a typo, not a configuration. */
  if ((rc = check_range(c->gossip_interval_ms, 1, 3600000, "gossip_interval_ms", err)) != 0 ||
      (rc = check_range(c->gossip_request_timeout_ms, 1, 3600000, "gossip_request_timeout_ms", err)) != 0 ||
      (rc = check_range(c->gossip_fan_out, 1, 1024, "gossip_fan_out", err)) != 0 ||
      (rc = check_range(c->gossip_max_send, 1, 65535, "gossip_max_send", err)) != 0 ||
      (rc = check_range(c->heartbeat_expiration_ms, 0, 86400000, "heartbeat_expiration_ms", err)) != 0 ||
      (rc = check_range(c->mtu, MIN_MTU, MAX_MTU, "mtu", err)) != 0 ||
      (rc = check_range(c->max_value_size, 0, 64u * 1024 * 1024, "max_value_size", err)) != 0 ||
      /* A week: longer keeps deletes around for no partition we could heal. */
      (rc = check_range(c->tombstone_grace_ms, 1, 604800000, "tombstone_grace_ms", err)) != 0 ||
      (rc = check_range(c->blocked_retention_ms, 1, 604800000, "blocked_retention_ms", err)) != 0 ||
      (rc = check_range(c->broadcast_branching, 1, RUMOR_MAX_BROADCAST_BRANCHING,
                        "broadcast_branching", err)) != 0 ||
      (rc = check_range(c->rate_limit_interval_ms, 1, 3600000, "rate_limit_interval_ms", err)) != 0 ||
      /* 2: itself and one other, or it cannot be part of a cluster. */
      (rc = check_range(c->max_members, 2, MAX_MAX_MEMBERS, "max_members", err)) != 0 ||
      (rc = check_range(c->max_keys_per_member, 1, MAX_MAX_KEYS_PER_MEMBER,
                        "max_keys_per_member", err)) != 0 ||
      (rc = check_range(c->max_datagram_size, MIN_MTU, MAX_MTU, "max_datagram_size", err)) != 0 ||
      (rc = check_range(c->recv_budget, 0, MAX_RECV_BUDGET, "recv_budget", err)) != 0 ||
      (rc = check_range(c->max_tcp_connections, 1, MAX_TCP_CONNECTIONS, "max_tcp_connections",
                        err)) != 0 ||
      (rc = check_range(c->max_stream_bytes, MIN_STREAM_BYTES, UINT32_MAX, "max_stream_bytes",
                        err)) != 0)
    return rc;
  /* Our own datagrams (and those of peers with our mtu) must pass. */
  if (c->max_datagram_size < c->mtu)
    return fail(err, RUMOR_EINVAL, "max_datagram_size", "must be at least mtu, %u (got %u)",
                c->mtu, c->max_datagram_size);
  if (c->broadcast != RUMOR_BROADCAST_EPIDEMIC && c->broadcast != RUMOR_BROADCAST_TREE)
    return fail(err, RUMOR_EINVAL, "broadcast", "must be epidemic or tree (got %d)", c->broadcast);
  if (c->failure_detector != RUMOR_FD_EXPIRATION && c->failure_detector != RUMOR_FD_PHI)
    return fail(err, RUMOR_EINVAL, "failure_detector", "must be expiration or phi (got %d)",
                c->failure_detector);
  /* Written so that NaN fails too. 1000: phi that high is never reached. */
  if (!(c->phi_threshold > 0 && c->phi_threshold <= 1000))
    return fail(err, RUMOR_EINVAL, "phi_threshold", "must be above 0 and at most 1000 (got %g)",
                c->phi_threshold);
  /* Heartbeats need a round or more to arrive, and our own round may run
   * up to two intervals late before we call it a stall: an expiration
   * under three intervals blocks healthy members over and over. */
  if (c->heartbeat_expiration_ms != 0 && c->heartbeat_expiration_ms < 3ull * c->gossip_interval_ms)
    return fail(err, RUMOR_EINVAL, "heartbeat_expiration_ms",
                "must be 0 (off) or at least 3 gossip intervals, %llu ms (got %u)",
                3ull * c->gossip_interval_ms, c->heartbeat_expiration_ms);
  if (c->auto_rejoin != 0 && c->auto_rejoin != 1)
    return fail(err, RUMOR_EINVAL, "auto_rejoin", "must be 0 or 1 (got %d)", c->auto_rejoin);
  /* A day: further apart than that, the clocks are broken, not skewed. */
  if ((rc = check_range(c->replay_window_ms, 0, 86400000, "replay_window_ms", err)) != 0) return rc;
  if (c->nkeys > RUMOR_MAX_KEYRING)
    return fail(err, RUMOR_EINVAL, "keyring", "holds at most %d keys (got %zu)", RUMOR_MAX_KEYRING,
                c->nkeys);
  if (c->nkeys > 0 && c->keyring == NULL) return fail(err, RUMOR_EINVAL, "keyring", "is NULL");
  for (size_t i = 0; i < c->nkeys; i++) {
    char field[32];
    uint8_t key[RUMOR_KEY_BYTES];
    snprintf(field, sizeof(field), "keyring[%zu]", i + 1);
    if (c->keyring[i] == NULL) return fail(err, RUMOR_EINVAL, field, "is NULL");
    size_t len = strlen(c->keyring[i]);
    if (rumor__key_parse(c->keyring[i], len, key) != 0)
      return fail(err, RUMOR_EINVAL, field,
                  "must be 32 bytes as base64 (44 characters) or hex (64 digits); got %zu "
                  "characters that are neither (make one with rumor keygen)",
                  len);
    rumor__key_wipe(key);
  }
  return 0;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void node_free(rumor_node_t *n) {
  for (size_t i = 0; i < n->nevents; i++) {
    rumor__blob_unref(n->events[i].slot);
    rumor__blob_unref(n->events[i].value);
  }
  rumor__fault_free(n);
  rumor__budget_free(&n->budget);
  free(n->stats);
  free(n->events);
  rumor__store_free(&n->store);
  free(n->id);
  free(n->cluster);
  free(n->bind);
  free(n->seeds);
  free(n->sendbuf);
  rumor__guard_free(n);
  free(n->cands);
  free(n->spill);
  free(n->news);
  free(n->picks);
  free(n->pulls);
  free(n->ring);
  free(n->reach);
  free(n->marks);
  free(n->wanted);
  free(n->publishers);
  free(n);
}

int rumor_node_new(uv_loop_t *loop, const rumor_config_t *cfg, rumor_node_t **out,
                   rumor_error_t *err) {
  if (loop == NULL) return fail(err, RUMOR_EINVAL, "loop", "is NULL");
  return rumor__node_create(loop, cfg, rumor__io_uv_new, loop, out, err);
}

int rumor__node_create(uv_loop_t *loop, const rumor_config_t *cfg, rumor_io_factory make_io,
                       void *io_arg, rumor_node_t **out, rumor_error_t *err) {
  int rc;
  if (out == NULL) return fail(err, RUMOR_EINVAL, "out", "is NULL");
  if ((rc = rumor_config_check(cfg, err)) != 0) return rc;
  rumor_node_t *n = calloc(1, sizeof(*n));
  if (n == NULL) return fail(err, RUMOR_ENOMEM, "node", "out of memory");
  n->loop = loop;
  n->cfg = *cfg;
  n->id = dup_str(cfg->id);
  n->cluster = dup_str(cfg->cluster);
  n->bind = dup_str(cfg->bind);
  n->seeds = calloc(cfg->nseeds ? cfg->nseeds : 1, sizeof(*n->seeds));
  n->sendbuf = malloc(cfg->mtu);
  n->io = make_io(io_arg, n);
  if (!n->id || !n->cluster || !n->bind || !n->seeds || !n->sendbuf || !n->io) {
    if (n->io) n->io->ops->destroy(n->io, NULL);
    node_free(n);
    return fail(err, RUMOR_ENOMEM, "node", "out of memory");
  }
  n->cfg.id = n->id;
  n->cfg.cluster = n->cluster;
  n->cfg.bind = n->bind;
  n->cfg.seeds = NULL; /* parsed into n->seeds; the strings are not kept */
  n->id_len = strlen(n->id);
  n->cluster_len = strlen(n->cluster);
  rumor_addr_parse(n->bind, &n->bind_addr);
  n->addr = n->bind_addr;
  for (size_t i = 0; i < cfg->nseeds; i++) rumor_addr_parse(cfg->seeds[i], &n->seeds[n->nseeds++]);
  rumor__keyring_init(&n->keyring, n->io->ops->seed(n->io), n->io->ops->seed(n->io));
  for (size_t i = 0; i < cfg->nkeys; i++) {
    uint8_t key[RUMOR_KEY_BYTES];
    rumor__key_parse(cfg->keyring[i], strlen(cfg->keyring[i]), key); /* checked above */
    rumor__keyring_add(&n->keyring, key, 0);
    rumor__key_wipe(key);
  }
  n->cfg.keyring = NULL; /* parsed into n->keyring; the text is not kept */
  n->cfg.nkeys = 0;
  if (rumor__guard_init(n) != 0) {
    n->io->ops->destroy(n->io, NULL);
    node_free(n);
    return fail(err, RUMOR_ENOMEM, "node", "out of memory");
  }
  n->msg_cap = cfg->mtu - (n->keyring.nkeys > 0 ? RUMOR_SEAL_OVERHEAD : 0);
  n->udp_entry_max = n->msg_cap - RUMOR_WIRE_DELTA_OVERHEAD_MAX;
  n->frame_max = RUMOR_WIRE_DELTA_OVERHEAD_MAX +
                 rumor__wire_entry_size(RUMOR_WIRE_MAX_SLOT, UINT64_MAX, cfg->max_value_size);
  /* Never below what senders fill a frame to (transfer.c), so nodes with a
   * small max_value_size still take ordinary frames. */
  if (n->frame_max < RUMOR_FRAME_FILL + RUMOR_WIRE_DELTA_OVERHEAD_MAX)
    n->frame_max = RUMOR_FRAME_FILL + RUMOR_WIRE_DELTA_OVERHEAD_MAX;

  rumor__rng_seed(&n->rng, n->io->ops->seed(n->io));
  /* The wall clock in microseconds: a process restarted under the same id
   * gets a larger generation, so its old state is superseded everywhere. */
  n->generation = cfg->generation ? cfg->generation : n->io->ops->wall_us(n->io);
  rumor__store_init(&n->store, rumor__rng_next(&n->rng));
  n->self = rumor__node_add_member(n, n->id, n->id_len);
  /* The budget's hash key comes from the store's (random) seed, so the
   * node's generator runs as it did before budgets existed. */
  if (n->self == NULL ||
      rumor__budget_init(&n->budget, cfg->recv_budget, ~n->store.seed) != 0) {
    n->io->ops->destroy(n->io, NULL);
    node_free(n);
    return fail(err, RUMOR_ENOMEM, "node", "out of memory");
  }
  n->self->generation = n->generation;
  n->metrics.members_joined = 0; /* self is not a join */
  *out = n;
  return 0;
}

void *rumor__node_reserve(void *arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return arr;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need) ncap *= 2;
  void *p = realloc(arr, ncap * elem);
  if (p != NULL) *cap = ncap;
  return p;
}

int rumor__node_member_room(rumor_node_t *n, size_t need) {
  if (need <= n->member_cap) return 0;
  /* Doubling as members arrive one by one; a converged membership given
   * at once (share.h) takes exactly its size. */
  size_t ncap = n->member_cap ? n->member_cap * 2 : 16;
  if (ncap < need) ncap = need;
  rumor_member **p = realloc(n->reach, ncap * sizeof(*p));
  if (p == NULL) return -1;
  n->reach = p;
  uint64_t *mk = realloc(n->marks, ncap * sizeof(*mk));
  if (mk == NULL) return -1;
  memset(mk + n->member_cap, 0, (ncap - n->member_cap) * sizeof(*mk));
  n->marks = mk;
  n->member_cap = ncap;
  return 0;
}

rumor_member *rumor__node_add_member(rumor_node_t *n, const char *id, size_t len) {
  if (rumor__node_member_room(n, n->store.count + 1) != 0) return NULL;
  rumor_member *m = rumor__store_add(&n->store, id, len);
  if (m != NULL) n->metrics.members_joined++;
  return m;
}

/* Moves every pointer from one record to another in a list of n. */
static void repoint(rumor_member **list, size_t n, const rumor_member *from, rumor_member *to) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == from) list[i] = to;
}

rumor_member *rumor__node_own(rumor_node_t *n, rumor_member *m) {
  if (m == NULL || !m->shared) return m;
  rumor_member *c = rumor__store_own(&n->store, m);
  if (c == NULL) return NULL;
  /* The caches keep their shape: the record moved, nothing else did. */
  if (n->ring_pred == m) n->ring_pred = c;
  if (n->ring_succ == m) n->ring_succ = c;
  repoint(n->reach, n->nreach, m, c);
  repoint(n->ring, n->nring, m, c);
  repoint(n->publishers, n->npublishers, m, c);
  repoint(n->recent, RUMOR_RECENT, m, c);
  repoint(n->watching, 2, m, c);
  for (size_t i = 0; i < n->nevents; i++)
    if (n->events[i].member == m) n->events[i].member = c;
  return c;
}

int rumor__node_keys_full(const rumor_node_t *n, const rumor_member *m) {
  return m->nlive + m->ntombstones >= n->cfg.max_keys_per_member;
}

rumor_member *rumor__node_learn_member(rumor_node_t *n, const char *id, size_t len) {
  if (n->store.count >= n->cfg.max_members) {
    n->metrics.members_refused++;
    if (!n->members_full) { /* members are never freed: this happens once */
      n->members_full = 1;
      rumor__log(n, RUMOR_LOG_WARN,
                 "max_members reached (%u members known): ids new to this node are refused "
                 "from now on (the first: %.*s)", (unsigned)n->cfg.max_members,
                 (int)(len > RUMOR_MAX_ID_LEN ? RUMOR_MAX_ID_LEN : len), id);
    }
    return NULL;
  }
  return rumor__node_add_member(n, id, len);
}

int rumor_node_start(rumor_node_t *n) {
  if (n->state != NODE_NEW) return RUMOR_ESTATE;
  size_t seal_room = n->keyring.nkeys > 0 ? RUMOR_SEAL_OVERHEAD : 0;
  rumor_io_limits limits = {n->frame_max + seal_room, n->cfg.gossip_request_timeout_ms,
                            n->cfg.max_tcp_connections, n->cfg.max_stream_bytes};
  int rc = n->io->ops->open(n->io, &n->bind_addr, &n->addr, &limits);
  if (rc != 0) return rc;
  n->self->addr = n->addr;
  n->self->last_seen = n->io->ops->now(n->io);
  n->pushed_seq = n->self->max_seq; /* nobody to push to before the first round */
  n->state = NODE_RUNNING;
  n->started_at = n->last_round = n->self->last_seen;
  rumor__liveness_start(n);
  /* First round at once: joining should not wait a whole interval. */
  rumor__gossip_round(n);
  n->io->ops->arm(n->io, RUMOR_TIMER_ROUND, n->cfg.gossip_interval_ms);
  return 0;
}

static void purge(rumor_node_t *n) {
  uint64_t now = n->io->ops->now(n->io);
  if (now < n->cfg.tombstone_grace_ms) return;
  n->metrics.tombstones_purged += rumor__store_purge(&n->store, now - n->cfg.tombstone_grace_ms);
}

void rumor__node_timer(rumor_node_t *n, int timer) {
  if (n->state != NODE_RUNNING) return;
  switch (timer) {
  case RUMOR_TIMER_ROUND:
    purge(n);
    if (rumor__liveness_round(n)) {
      rumor__gossip_round(n);
      n->io->ops->arm(n->io, RUMOR_TIMER_ROUND, n->cfg.gossip_interval_ms);
    }
    rumor__node_after_change(n);
    break;
  case RUMOR_TIMER_PUSH:
    rumor__push_local(n);
    break;
  case RUMOR_TIMER_AWAIT:
    rumor__await_timer(n);
    break;
  case RUMOR_TIMER_FAULT:
    rumor__fault_timer(n);
    break;
  default:
    break;
  }
}

/* After anything that may have changed state: make the blocks (and the
 * rejoin) a merge called for, deliver the events, then settle the waits the
 * change completed. */
void rumor__node_after_change(rumor_node_t *n) {
  if (n->state == NODE_RUNNING) rumor__liveness_settle(n);
  rumor__node_flush_events(n);
  if (n->awaits != NULL && n->state == NODE_RUNNING) rumor__await_check(n);
}

/* A close asked for by a validator, now that the merge is over. */
static void close_if_deferred(rumor_node_t *n) {
  if (n->close_deferred) {
    n->close_deferred = 0;
    rumor_node_close(n, n->close_cb, n->close_arg);
  }
}

/* Says once per crossing that an address went over its receive budget. */
static void budget_crossed(rumor_node_t *n, const struct sockaddr_storage *from) {
  char addr[RUMOR_MAX_ADDR_STRLEN];
  if (!rumor__log_wanted(n, RUMOR_LOG_WARN)) return;
  if (rumor_addr_format((const struct sockaddr *)from, addr, sizeof addr) != 0)
    snprintf(addr, sizeof addr, "an unknown address");
  rumor__log(n, RUMOR_LOG_WARN,
             "%s sends more than recv_budget, %u datagrams/s: dropping what is over it", addr,
             (unsigned)n->cfg.recv_budget);
  rumor__node_flush_events(n);
}

/* A datagram or frame that may be taken: through the guard (sealing,
 * replays), then the merge, then what the merge called for. */
static void take(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                 size_t len, int via_stream) {
  const uint8_t *msg;
  size_t msg_len;
  const rumor_sealed_info *info;
  if (rumor__guard_open(n, from, buf, len, via_stream, &msg, &msg_len, &info) != 0) {
    rumor__node_flush_events(n); /* a warning */
    return;
  }
  rumor__gossip_recv(n, from, msg, msg_len, len, via_stream, info);
  if (n->close_deferred) {
    close_if_deferred(n);
    return;
  }
  rumor__node_after_change(n);
}

void rumor__node_recv(rumor_node_t *n, const struct sockaddr_storage *from, const uint8_t *buf,
                      size_t len) {
  if (n->state != NODE_RUNNING) return;
  /* First, before anything is decoded or opened: a flood from one address
   * costs this lookup and no more. */
  int b = rumor__budget_take(&n->budget, from, n->io->ops->now(n->io));
  if (b != RUMOR_BUDGET_OK) {
    n->metrics.drops_budget++;
    if (b == RUMOR_BUDGET_CROSSED) budget_crossed(n, from);
    return;
  }
  if (len > n->cfg.max_datagram_size) { /* never opened, so never costs a decryption */
    n->metrics.drops_oversize++;
    return;
  }
  take(n, from, buf, len, 0);
}

void rumor__node_recv_frame(rumor_node_t *n, const struct sockaddr_storage *from,
                            const uint8_t *buf, size_t len) {
  if (n->state != NODE_RUNNING) return;
  take(n, from, buf, len, 1);
}

void rumor__node_inbound_closed(rumor_node_t *n, int why) {
  if (why == RUMOR_INBOUND_FULL) n->metrics.tcp_refused++;
  else n->metrics.tcp_overlong++;
}

void rumor__node_stream_done(rumor_node_t *n, rumor_stream *s, int status) {
  rumor__transfer_done(n, s, status);
  rumor__node_flush_events(n); /* its log line */
}

/* Ends what runs on the io before it shuts down: transfers, then waits
 * (whose callbacks learn the node stopped). */
static void wind_down(rumor_node_t *n) {
  rumor__transfer_abort_all(n);
  rumor__fault_stop(n);
  rumor__await_cancel_all(n);
}

static void node_io_done(rumor_io *io);

/* Stops a running node: the io first (nothing arrives any more), then what
 * ran on it. Callbacks of cancelled waits may close the node; the close is
 * then finished here, once they are all done. */
static void stop_running(rumor_node_t *n) {
  n->state = NODE_STOPPED;
  n->io->ops->shutdown(n->io);
  n->winding_down = 1;
  wind_down(n);
  n->winding_down = 0;
  if (n->state == NODE_CLOSING) n->io->ops->destroy(n->io, node_io_done);
}

int rumor_node_stop(rumor_node_t *n) {
  if (n->state == NODE_CLOSING || rumor__node_busy(n)) return RUMOR_ESTATE;
  if (n->state == NODE_RUNNING) stop_running(n);
  else n->state = NODE_STOPPED;
  return 0;
}

static void node_io_done(rumor_io *io) {
  rumor_node_t *n = io->node;
  rumor_close_cb cb = n->close_cb;
  void *arg = n->close_arg;
  node_free(n);
  if (cb) cb(NULL, arg);
}

void rumor_node_close(rumor_node_t *n, rumor_close_cb cb, void *arg) {
  if (n == NULL || n->state == NODE_CLOSING || n->close_requested) return;
  if (rumor__node_busy(n)) {
    /* From inside a validator: the merge under way finishes first. */
    n->close_deferred = 1;
    n->close_cb = cb;
    n->close_arg = arg;
    return;
  }
  n->close_requested = 1;
  n->close_cb = cb;
  n->close_arg = arg;
  n->on_update = NULL;
  n->on_member = NULL;
  n->on_round = NULL;
  n->on_log = NULL;
  n->validate = NULL;
  if (n->winding_down) { /* called back from inside a stop: it finishes the close */
    n->state = NODE_CLOSING;
    return;
  }
  if (n->state == NODE_RUNNING) {
    stop_running(n);
    if (n->state == NODE_CLOSING) return; /* a callback closed it meanwhile */
  }
  n->state = NODE_CLOSING;
  n->io->ops->destroy(n->io, node_io_done);
}

const char *rumor_node_id(const rumor_node_t *n) { return n->id; }
uint64_t rumor_node_generation(const rumor_node_t *n) { return n->generation; }
const rumor_config_t *rumor_node_config(const rumor_node_t *n) { return &n->cfg; }

int rumor_node_address(const rumor_node_t *n, char *buf, size_t size) {
  if (n->state == NODE_NEW) {
    int w = snprintf(buf, size, "%s", n->bind);
    return (w < 0 || (size_t)w >= size) ? RUMOR_EINVAL : 0;
  }
  return rumor_addr_format((const struct sockaddr *)&n->addr, buf, size);
}

int64_t rumor__node_write(rumor_node_t *n, const uint8_t *slot, size_t slot_len,
                          const void *value, size_t value_len, int del, int push) {
  uint64_t seq = n->self->max_seq + 1;
  rumor_blob *v = NULL;
  if (!del && (v = rumor__blob_new(value, value_len)) == NULL) return RUMOR_ENOMEM;
  rumor_entry *e = rumor__store_put(&n->store, n->self, (const char *)slot, slot_len, seq, v,
                                    n->io->ops->now(n->io));
  rumor__blob_unref(v);
  if (e == NULL) return RUMOR_ENOMEM;
  rumor__node_queue_event(n, n->self, e->slot, e->value, seq, 1);
  if (push && n->state == NODE_RUNNING && !n->push_armed) {
    /* Writes made in this loop iteration go out together, right after it. */
    n->push_armed = 1;
    n->io->ops->arm(n->io, RUMOR_TIMER_PUSH, 0);
  }
  rumor__gossip_activate(n);
  return (int64_t)seq;
}

/* A user's write: reserved keys are the engine's. */
static int64_t user_write(rumor_node_t *n, const char *key, size_t key_len, const char *map_key,
                          size_t map_key_len, const void *value, size_t value_len, int del) {
  uint8_t slot[RUMOR_WIRE_MAX_SLOT];
  if (rumor__liveness_reserved(key, key_len)) return RUMOR_EINVAL;
  size_t slot_len = rumor__slot_encode(slot, key, key_len, map_key, map_key_len);
  const rumor_entry *have = rumor__store_entry(n->self, (const char *)slot, slot_len);
  if (del && (have == NULL || have->value == NULL)) return 0; /* nothing to delete */
  if (have == NULL && rumor__node_keys_full(n, n->self)) return RUMOR_ETOOBIG;
  int64_t seq = rumor__node_write(n, slot, slot_len, value, value_len, del, 1);
  rumor__node_after_change(n);
  return seq;
}

static int64_t set_slot(rumor_node_t *n, const char *key, size_t key_len, const char *map_key,
                        size_t map_key_len, const void *value, size_t value_len) {
  if (n->state == NODE_CLOSING || rumor__node_busy(n)) return RUMOR_ESTATE;
  if (key == NULL || key_len == 0 || (value == NULL && value_len > 0) ||
      (map_key != NULL && map_key_len == 0))
    return RUMOR_EINVAL;
  if (key_len > RUMOR_MAX_KEY_LEN || map_key_len > RUMOR_MAX_KEY_LEN ||
      value_len > rumor_node_value_limit(n, key_len, map_key_len))
    return RUMOR_ETOOBIG;
  return user_write(n, key, key_len, map_key, map_key_len, value, value_len, 0);
}

static int64_t delete_slot(rumor_node_t *n, const char *key, size_t key_len, const char *map_key,
                           size_t map_key_len) {
  if (n->state == NODE_CLOSING || rumor__node_busy(n)) return RUMOR_ESTATE;
  if (key == NULL || key_len == 0 || (map_key != NULL && map_key_len == 0)) return RUMOR_EINVAL;
  if (key_len > RUMOR_MAX_KEY_LEN || map_key_len > RUMOR_MAX_KEY_LEN) return RUMOR_ETOOBIG;
  return user_write(n, key, key_len, map_key, map_key_len, NULL, 0, 1);
}

int64_t rumor_node_set(rumor_node_t *n, const char *key, size_t key_len, const void *value,
                       size_t value_len) {
  return set_slot(n, key, key_len, NULL, 0, value, value_len);
}

int64_t rumor_node_delete(rumor_node_t *n, const char *key, size_t key_len) {
  return delete_slot(n, key, key_len, NULL, 0);
}

int64_t rumor_node_map_set(rumor_node_t *n, const char *key, size_t key_len, const char *map_key,
                           size_t map_key_len, const void *value, size_t value_len) {
  if (map_key == NULL) return RUMOR_EINVAL;
  return set_slot(n, key, key_len, map_key, map_key_len, value, value_len);
}

int64_t rumor_node_map_remove(rumor_node_t *n, const char *key, size_t key_len,
                              const char *map_key, size_t map_key_len) {
  if (map_key == NULL) return RUMOR_EINVAL;
  return delete_slot(n, key, key_len, map_key, map_key_len);
}

size_t rumor_node_value_limit(const rumor_node_t *n, size_t key_len, size_t map_key_len) {
  if (key_len == 0 || key_len > RUMOR_MAX_KEY_LEN || map_key_len > RUMOR_MAX_KEY_LEN) return 0;
  /* Frames are sized so that the longest slot with max_value_size fits. */
  return n->cfg.max_value_size;
}

void rumor_node_set_validator(rumor_node_t *n, rumor_validate_cb cb, void *arg) {
  n->validate = cb;
  n->validate_arg = arg;
}

void rumor_node_on_update(rumor_node_t *n, rumor_update_cb cb, void *arg) {
  n->on_update = cb;
  n->on_update_arg = arg;
}

rumor_event *rumor__node_event_slot(rumor_node_t *n) {
  if (n->nevents == n->events_cap) {
    size_t ncap = n->events_cap ? n->events_cap * 2 : 16;
    rumor_event *ev = realloc(n->events, ncap * sizeof(*ev));
    if (ev == NULL) return NULL;
    n->events = ev;
    n->events_cap = ncap;
  }
  rumor_event *ev = &n->events[n->nevents++];
  memset(ev, 0, sizeof(*ev));
  return ev;
}

void rumor__node_queue_member(rumor_node_t *n, rumor_member *m, int type, int reason) {
  rumor_event *ev;
  if (n->on_member == NULL || (ev = rumor__node_event_slot(n)) == NULL) return;
  ev->kind = EVENT_MEMBER;
  ev->member = m;
  /* A block is of the generation it holds for (newer than the state we hold
   * when only the member's own datagrams had told us of it). */
  ev->generation = (m->status != RUMOR_MEMBER_ALIVE && m->blocked_gen) ? m->blocked_gen : m->generation;
  ev->type = type;
  ev->reason = reason;
}

int rumor__node_queue_event(rumor_node_t *n, rumor_member *m, rumor_blob *slot, rumor_blob *value,
                            uint64_t seq, int local) {
  rumor_event *ev;
  n->metrics.updates++;
  if (m != n->self) rumor__liveness_entry(n, m, slot, value);
  if (n->on_update == NULL) return 0;
  if ((ev = rumor__node_event_slot(n)) == NULL) return RUMOR_ENOMEM;
  ev->kind = EVENT_UPDATE;
  ev->member = m;
  ev->slot = rumor__blob_ref(slot);
  ev->value = value ? rumor__blob_ref(value) : NULL;
  ev->seq = seq;
  ev->generation = m->generation;
  ev->local = local;
  return 0;
}

/* Delivers queued events in order. Callbacks may write (queueing more
 * events); the outermost flush delivers those too, in order, so no callback
 * ever runs inside another one's delivery loop. */
void rumor__node_flush_events(rumor_node_t *n) {
  if (n->dispatching) return;
  n->dispatching = 1;
  for (size_t i = 0; i < n->nevents; i++) {
    rumor_event ev = n->events[i];
    rumor_slot_parts parts;
    if (ev.kind == EVENT_MEMBER) {
      if (n->on_member != NULL && n->state != NODE_CLOSING) {
        rumor_member_event_t me;
        me.type = ev.type;
        me.member = (const char *)ev.member->id->data;
        me.member_len = ev.member->id->len;
        me.generation = ev.generation;
        me.reason = ev.reason;
        n->on_member(n, &me, n->on_member_arg);
      }
      continue;
    }
    if (ev.kind == EVENT_LOG) {
      if (n->on_log != NULL && n->state != NODE_CLOSING && ev.type >= n->log_level) {
        n->metrics.log_lines++;
        n->on_log(n, ev.type, (const char *)ev.value->data, ev.value->len - 1, n->on_log_arg);
      }
      rumor__blob_unref(ev.value);
      continue;
    }
    if (n->on_update != NULL && n->state != NODE_CLOSING &&
        rumor__slot_parse((const char *)ev.slot->data, ev.slot->len, &parts) == 0) {
      rumor_update_t u;
      memset(&u, 0, sizeof(u));
      u.member = (const char *)ev.member->id->data;
      u.member_len = ev.member->id->len;
      u.key = parts.key;
      u.key_len = parts.key_len;
      u.map_key = parts.map_key;
      u.map_key_len = parts.map_key_len;
      u.value = ev.value ? ev.value->data : (const uint8_t *)"";
      u.value_len = ev.value ? ev.value->len : 0;
      u.seq = ev.seq;
      u.generation = ev.generation;
      u.local = ev.local;
      u.deleted = ev.value == NULL;
      u.system = rumor__liveness_reserved(parts.key, parts.key_len);
      n->on_update(n, &u, n->on_update_arg);
    }
    rumor__blob_unref(ev.slot);
    rumor__blob_unref(ev.value);
  }
  n->nevents = 0;
  n->dispatching = 0;
}

size_t rumor_node_member_count(const rumor_node_t *n) { return n->store.count; }

static void member_info(const rumor_node_t *n, const rumor_member *m, rumor_member_info_t *out);

int rumor_node_member_at(const rumor_node_t *n, size_t i, rumor_member_info_t *out) {
  if (i >= n->store.count) return RUMOR_EINVAL;
  member_info(n, n->store.list[i], out);
  return 0;
}

int rumor_node_member_find(const rumor_node_t *n, const char *id, size_t id_len,
                           rumor_member_info_t *out) {
  const rumor_member *m = id != NULL ? rumor__store_find(&n->store, id, id_len) : NULL;
  if (m == NULL) return RUMOR_EINVAL;
  member_info(n, m, out);
  return 0;
}

static void member_info(const rumor_node_t *n, const rumor_member *m, rumor_member_info_t *out) {
  memset(out, 0, sizeof(*out));
  out->id = (const char *)m->id->data;
  if (m->addr.ss_family != 0)
    rumor_addr_format((const struct sockaddr *)&m->addr, out->address, sizeof(out->address));
  out->generation = m->generation;
  out->max_seq = m->max_seq;
  out->last_seen_ms = m->last_seen;
  out->nkeys = m->nlive;
  out->ntombstones = m->ntombstones;
  out->status = m->status;
  out->block_reason = m->block_reason;
  out->self = (m == n->self);
  uint64_t now = n->io->ops->now(n->io);
  if (!out->self) {
    out->watched = m->watched;
    out->heartbeat_age_ms = rumor__detector_age(&m->fd, now);
    out->phi = rumor__detector_phi(&m->fd, now, RUMOR_BEAT_ROUNDS * (uint64_t)n->cfg.gossip_interval_ms);
  }
  out->heartbeats = out->self ? n->metrics.heartbeats_sent : m->heartbeats;
  out->left = m->left;
  out->block_detail = "";
  if (m->status != RUMOR_MEMBER_ALIVE) {
    if (m->block_detail != NULL) out->block_detail = m->block_detail;
    out->blocked_by = m->blocked_by != NULL ? (const char *)m->blocked_by->data : NULL;
    out->blocked_for_ms = now > m->blocked_at ? now - m->blocked_at : 0;
    out->block_silence_ms = m->block_silence;
  }
  const rumor_entry *e = rumor__liveness_heartbeat(m);
  rumor_heartbeat hb;
  if (e != NULL && e->value != NULL && rumor__heartbeat_decode(e->value->data, e->value->len, &hb) == 0) {
    out->has_heartbeat = 1;
    /* Its uptime when it wrote the entry, plus the time since we took it. */
    out->uptime_ms = hb.uptime_ms + (now - e->local_ts);
    out->members_alive = hb.members_alive;
    out->stats = hb.stats;
    out->stats_len = hb.stats_len;
  }
}

static int get_slot(const rumor_node_t *n, const char *member, size_t member_len, const char *key,
                    size_t key_len, const char *map_key, size_t map_key_len, const uint8_t **value,
                    size_t *len, uint64_t *seq) {
  uint8_t slot[RUMOR_WIRE_MAX_SLOT];
  size_t slot_len = rumor__slot_encode(slot, key, key_len, map_key, map_key_len);
  if (slot_len == 0) return RUMOR_EINVAL;
  const rumor_member *m = rumor__store_find(&n->store, member, member_len);
  if (m == NULL) return RUMOR_EINVAL;
  const rumor_entry *e = rumor__store_entry(m, (const char *)slot, slot_len);
  /* A refused entry shows what this node had before it. */
  const rumor_blob *shown = e == NULL ? NULL : e->refused ? e->kept : e->value;
  if (shown == NULL) return RUMOR_EINVAL;
  *value = shown->data;
  *len = shown->len;
  if (seq) *seq = e->refused ? e->kept_seq : e->seq;
  return 0;
}

int rumor_node_get(const rumor_node_t *n, const char *member, size_t member_len, const char *key,
                   size_t key_len, const uint8_t **value, size_t *len, uint64_t *seq) {
  return get_slot(n, member, member_len, key, key_len, NULL, 0, value, len, seq);
}

int rumor_node_map_get(const rumor_node_t *n, const char *member, size_t member_len,
                       const char *key, size_t key_len, const char *map_key, size_t map_key_len,
                       const uint8_t **value, size_t *len, uint64_t *seq) {
  if (map_key == NULL) return RUMOR_EINVAL;
  return get_slot(n, member, member_len, key, key_len, map_key, map_key_len, value, len, seq);
}

int rumor_node_map_keys(const rumor_node_t *n, const char *member, size_t member_len,
                        const char *key, size_t key_len, rumor_map_key_cb cb, void *arg) {
  const rumor_member *m = rumor__store_find(&n->store, member, member_len);
  if (m == NULL || cb == NULL) return RUMOR_EINVAL;
  for (const rumor_entry *e = m->head; e != NULL; e = e->next) {
    rumor_slot_parts p;
    if ((e->refused ? e->kept : e->value) == NULL || rumor__slot_parse((const char *)e->slot->data, e->slot->len, &p) != 0)
      continue;
    if (p.map && p.key_len == key_len && memcmp(p.key, key, key_len) == 0)
      cb(p.map_key, p.map_key_len, arg);
  }
  return 0;
}

const rumor_metrics_t *rumor_node_metrics(const rumor_node_t *n) { return &n->metrics; }

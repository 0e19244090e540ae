/* lnode.c: core.node(cfg) and the node userdata (start/stop/close, set/get,
 * delete, map state, await, leave, on_update, metrics) over rumor_node_t.
 * The liveness methods (members, blocks, member events, the round hook,
 * topology) are in lliveness.c.
 *
 * The binding state of a node (lrumor_node_t, in lrumor.h) is malloc'd and
 * handed to the core as the callback argument; it is freed from the close
 * callback of rumor_node_close, so it outlives its userdata if the core
 * still has a callback running when the userdata is collected.
 *
 * Each n:await() and n:leave() is a malloc'd lrumor_wait_t given to the core
 * as the callback argument; the core calls back exactly once, and that call
 * frees it. Until then it holds the Lua function by a registry ref and sits
 * in its node's list. Closing the node detaches the pending ones (drops the
 * ref, forgets the node) without calling Lua: the core's cancel callback
 * that follows only frees them. So a closed node or a closed Lua state never
 * leaves a ref or a block behind, and the core never sees a freed pointer.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrumor.h"

struct lrumor_wait {
  lrumor_ctx_t *ctx;
  lrumor_node_t *owner;      /* NULL once detached by close */
  lrumor_wait_t *prev, *next;
  int fn;                    /* registry ref; LUA_NOREF once detached */
  const char *where;         /* in owner; used only while attached */
};

typedef struct node_ud {
  lrumor_node_t *n; /* NULL once closed */
} node_ud_t;

lrumor_node_t *lrumor_check_node(lua_State *L) {
  node_ud_t *ud = (node_ud_t *)luaL_checkudata(L, 1, LRUMOR_NODE_MT);
  if (ud->n == NULL)
    luaL_error(L, "rumor: node is closed");
  return ud->n;
}

#define check_node lrumor_check_node

int lrumor_fail_code(lua_State *L, int code) {
  return lrumor_fail(L, rumor_err_name(code), rumor_strerror(code));
}

#define fail_code lrumor_fail_code

/* ---- core.node(cfg) ----------------------------------------------------- */

/* Pushes cfg[name]; returns its string or NULL when absent. The value stays
 * on the stack (and in the table) until the node is created. */
static const char *opt_string(lua_State *L, const char *name) {
  int t = lua_getfield(L, 1, name);
  if (t == LUA_TNIL)
    return NULL;
  if (t != LUA_TSTRING)
    luaL_error(L, "rumor: field '%s': expected a string, got %s", name, luaL_typename(L, -1));
  return lua_tostring(L, -1);
}

static int opt_integer(lua_State *L, const char *name, lua_Integer max, lua_Integer *out) {
  int isint = 0;
  lua_Integer v;
  if (lua_getfield(L, 1, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "rumor: field '%s': expected an integer, got %s", name, luaL_typename(L, -1));
  if (v < 0 || v > max)
    luaL_error(L, "rumor: field '%s': %I out of range", name, v);
  lua_pop(L, 1);
  *out = v;
  return 1;
}

static void opt_u32(lua_State *L, const char *name, uint32_t *field) {
  lua_Integer v;
  if (opt_integer(L, name, (lua_Integer)UINT32_MAX, &v))
    *field = (uint32_t)v;
}

/* failure_detector = "expiration" | "phi". */
static void opt_detector(lua_State *L, int *field) {
  const char *s = opt_string(L, "failure_detector");
  if (s == NULL)
    return;
  if (strcmp(s, "expiration") == 0)
    *field = RUMOR_FD_EXPIRATION;
  else if (strcmp(s, "phi") == 0)
    *field = RUMOR_FD_PHI;
  else
    luaL_error(L, "rumor: field 'failure_detector': expected \"expiration\" or \"phi\", got \"%s\"", s);
}

/* broadcast = "epidemic" | "tree". */
static void opt_broadcast(lua_State *L, int *field) {
  const char *s = opt_string(L, "broadcast");
  if (s == NULL)
    return;
  if (strcmp(s, "epidemic") == 0)
    *field = RUMOR_BROADCAST_EPIDEMIC;
  else if (strcmp(s, "tree") == 0)
    *field = RUMOR_BROADCAST_TREE;
  else
    luaL_error(L, "rumor: field 'broadcast': expected \"epidemic\" or \"tree\", got \"%s\"", s);
}

/* rate_limit = { tokens = N, interval_ms = MS } (interval_ms optional). */
static void opt_rate_limit(lua_State *L, rumor_config_t *cfg) {
  int isint = 0;
  lua_Integer v;
  int t = lua_getfield(L, 1, "rate_limit");
  static const struct { const char *key, *name; } fields[] = {
    {"tokens", "rate_limit.tokens"}, {"interval_ms", "rate_limit.interval_ms"}};
  size_t i;
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "rumor: field 'rate_limit': expected a table, got %s", luaL_typename(L, -1));
  for (i = 0; i < 2; i++) {
    if (lua_getfield(L, -1, fields[i].key) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "rumor: field '%s': expected an integer, got %s", fields[i].name,
                 luaL_typename(L, -1));
    if (v < 0 || v > (lua_Integer)UINT32_MAX)
      luaL_error(L, "rumor: field '%s': %I out of range", fields[i].name, v);
    if (i == 0)
      cfg->rate_limit_tokens = (uint32_t)v;
    else
      cfg->rate_limit_interval_ms = (uint32_t)v;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The Lua name of a field the core refused (its rate_limit_* fields are
 * the rate_limit table's). */
static const char *lua_field_name(const char *field) {
  if (strcmp(field, "rate_limit_tokens") == 0)
    return "rate_limit.tokens";
  if (strcmp(field, "rate_limit_interval_ms") == 0)
    return "rate_limit.interval_ms";
  return field;
}

static void opt_number(lua_State *L, const char *name, double *field) {
  int t = lua_getfield(L, 1, name);
  if (t != LUA_TNIL && t != LUA_TNUMBER)
    luaL_error(L, "rumor: field '%s': expected a number, got %s", name, luaL_typename(L, -1));
  if (t == LUA_TNUMBER)
    *field = (double)lua_tonumber(L, -1);
  lua_pop(L, 1);
}

static void opt_boolean(lua_State *L, const char *name, int *field) {
  int t = lua_getfield(L, 1, name);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_error(L, "rumor: field '%s': expected a boolean, got %s", name, luaL_typename(L, -1));
  if (t == LUA_TBOOLEAN)
    *field = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

/* Collects cfg.seeds into a userdata array (left on the stack, collected with
 * it); the strings stay owned by the seeds table. */
static void read_seeds(lua_State *L, rumor_config_t *cfg) {
  lua_Integer i, n;
  const char **seeds;
  int t = lua_getfield(L, 1, "seeds");
  if (t == LUA_TNIL)
    return;
  if (t != LUA_TTABLE)
    luaL_error(L, "rumor: field 'seeds': expected an array of strings, got %s", luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0)
    return;
  seeds = (const char **)lua_newuserdatauv(L, (size_t)n * sizeof *seeds, 0);
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -2, i) != LUA_TSTRING)
      luaL_error(L, "rumor: field 'seeds': item %I is %s, expected a string", i, luaL_typename(L, -1));
    seeds[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the seeds table */
  }
  cfg->seeds = seeds;
  cfg->nseeds = (size_t)n;
}

/* Reads the config table at index 1 into cfg (rumor_config_init'ed here);
 * the strings it points at stay on the stack above index 1. */
static void read_config(lua_State *L, rumor_config_t *cfg_out) {
  rumor_config_t cfg;
  lua_Integer gen;
  luaL_checkstack(L, 16, NULL);
  rumor_config_init(&cfg);
  cfg.id = opt_string(L, "id");
  if (opt_string(L, "cluster") != NULL)
    cfg.cluster = lua_tostring(L, -1);
  if (opt_string(L, "bind") != NULL)
    cfg.bind = lua_tostring(L, -1);
  read_seeds(L, &cfg);
  lrumor_read_keyring(L, &cfg);
  opt_u32(L, "replay_window_ms", &cfg.replay_window_ms);
  opt_u32(L, "gossip_interval_ms", &cfg.gossip_interval_ms);
  opt_u32(L, "gossip_request_timeout_ms", &cfg.gossip_request_timeout_ms);
  opt_u32(L, "gossip_fan_out", &cfg.gossip_fan_out);
  opt_u32(L, "gossip_max_send", &cfg.gossip_max_send);
  opt_u32(L, "heartbeat_expiration_ms", &cfg.heartbeat_expiration_ms);
  opt_u32(L, "mtu", &cfg.mtu);
  opt_u32(L, "max_value_size", &cfg.max_value_size);
  opt_u32(L, "tombstone_grace_ms", &cfg.tombstone_grace_ms);
  if (opt_integer(L, "generation", LUA_MAXINTEGER, &gen))
    cfg.generation = (uint64_t)gen;
  opt_detector(L, &cfg.failure_detector);
  opt_number(L, "phi_threshold", &cfg.phi_threshold);
  opt_boolean(L, "auto_rejoin", &cfg.auto_rejoin);
  opt_u32(L, "blocked_retention_ms", &cfg.blocked_retention_ms);
  opt_broadcast(L, &cfg.broadcast);
  opt_u32(L, "broadcast_branching", &cfg.broadcast_branching);
  opt_rate_limit(L, &cfg);
  opt_u32(L, "max_datagram_size", &cfg.max_datagram_size);
  opt_u32(L, "recv_budget", &cfg.recv_budget);
  opt_u32(L, "max_members", &cfg.max_members);
  opt_u32(L, "max_keys_per_member", &cfg.max_keys_per_member);
  opt_u32(L, "max_tcp_connections", &cfg.max_tcp_connections);
  opt_u32(L, "max_stream_bytes", &cfg.max_stream_bytes);
  *cfg_out = cfg;
}

int lrumor_node_create(lua_State *L, lrumor_create_fn create, void *arg) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  rumor_config_t cfg;
  rumor_error_t err;
  node_ud_t *ud;
  lrumor_node_t *n;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  read_config(L, &cfg);

  ud = (node_ud_t *)lua_newuserdatauv(L, sizeof *ud, 0);
  ud->n = NULL;
  luaL_setmetatable(L, LRUMOR_NODE_MT);
  n = (lrumor_node_t *)calloc(1, sizeof *n);
  if (n == NULL)
    return luaL_error(L, "rumor: out of memory");
  memset(&err, 0, sizeof err);
  rc = create(arg, &cfg, &n->node, &err);
  if (rc != 0) {
    free(n);
    err.field[sizeof err.field - 1] = '\0';
    err.message[sizeof err.message - 1] = '\0';
    if (err.message[0] == '\0')
      snprintf(err.message, sizeof err.message, "%s", rumor_strerror(rc));
    /* The one key of `secret` is the core's keyring[1]. */
    if (strcmp(err.field, "keyring[1]") == 0 && lua_getfield(L, 1, "secret") != LUA_TNIL)
      snprintf(err.field, sizeof err.field, "secret");
    if (err.field[0] != '\0')
      return luaL_error(L, "rumor: field '%s': %s", lua_field_name(err.field), err.message);
    return luaL_error(L, "rumor: %s", err.message);
  }
  n->ctx = ctx;
  n->on_update = LUA_NOREF;
  snprintf(n->where, sizeof n->where, "on_update of node '%s'", rumor_node_id(n->node));
  snprintf(n->await_where, sizeof n->await_where, "await of node '%s'", rumor_node_id(n->node));
  snprintf(n->leave_where, sizeof n->leave_where, "leave of node '%s'", rumor_node_id(n->node));
  lrumor_liveness_init(n);
  lrumor_hooks_init(n);
  ud->n = n;
  return 1;
}

static int create_on_loop(void *arg, const rumor_config_t *cfg, rumor_node_t **out,
                          rumor_error_t *err) {
  return rumor_node_new((uv_loop_t *)arg, cfg, out, err);
}

int lrumor_node_new(lua_State *L) {
  return lrumor_node_create(L, create_on_loop, &lrumor_ctx(L)->loop);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Drops the Lua side of every pending await and leave of n; the core still
 * calls each back once (with UV_ECANCELED), which then only frees it. */
static void waits_detach(lua_State *L, lrumor_node_t *n) {
  lrumor_wait_t *a = n->waits, *next;
  n->waits = NULL;
  for (; a != NULL; a = next) {
    next = a->next;
    a->prev = a->next = NULL;
    a->owner = NULL;
    lrumor_unref(L, &a->fn);
  }
}

static void node_closed_cb(rumor_node_t *node, void *arg) {
  (void)node;
  free(arg);
}

int lrumor_node_close(lua_State *L) {
  node_ud_t *ud = (node_ud_t *)luaL_checkudata(L, 1, LRUMOR_NODE_MT);
  lrumor_node_t *n = ud->n;
  lrumor_ctx_t *ctx;
  lua_State *prev;
  if (n == NULL)
    return 0;
  ud->n = NULL;
  n->closed = 1;
  ctx = n->ctx; /* n may be freed inside rumor_node_close */
  rumor_node_on_update(n->node, NULL, NULL);
  lrumor_unref(L, &n->on_update);
  lrumor_liveness_detach(L, n);
  lrumor_hooks_detach(L, n);
  waits_detach(L, n);
  prev = lrumor_enter(ctx, L);
  rumor_node_close(n->node, node_closed_cb, n);
  lrumor_leave(ctx, prev);
  return 0;
}

static int node_m_start(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int rc = rumor_node_start(n->node);
  lrumor_leave(n->ctx, prev);
  if (rc != 0)
    return fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int node_m_stop(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  lua_State *prev;
  if (n->judging)
    return lrumor_fail(L, "ESTATE", "a node cannot stop inside its validator");
  prev = lrumor_enter(n->ctx, L);
  int rc = rumor_node_stop(n->node);
  lrumor_leave(n->ctx, prev);
  if (rc != 0 && rc != RUMOR_ESTATE)
    return fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int node_m_id(lua_State *L) {
  lua_pushstring(L, rumor_node_id(check_node(L)->node));
  return 1;
}

static int node_m_generation(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rumor_node_generation(check_node(L)->node));
  return 1;
}

static int node_m_address(lua_State *L) {
  char buf[RUMOR_MAX_ADDR_STRLEN];
  int rc = rumor_node_address(check_node(L)->node, buf, sizeof buf);
  if (rc != 0)
    return fail_code(L, rc);
  lua_pushstring(L, buf);
  return 1;
}

/* ---- state -------------------------------------------------------------- */

/* Pushes the result of a write: the seq, or nil, err, code. */
static int push_seq(lua_State *L, int64_t seq) {
  if (seq < 0)
    return fail_code(L, (int)seq);
  lua_pushinteger(L, (lua_Integer)seq);
  return 1;
}

static int node_m_set(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen, vlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *value = luaL_checklstring(L, 3, &vlen);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int64_t seq = rumor_node_set(n->node, key, klen, value, vlen);
  lrumor_leave(n->ctx, prev);
  return push_seq(L, seq);
}

static int node_m_delete(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen;
  const char *key = luaL_checklstring(L, 2, &klen);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int64_t seq = rumor_node_delete(n->node, key, klen);
  lrumor_leave(n->ctx, prev);
  return push_seq(L, seq);
}

static int node_m_map_set(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen, mlen, vlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *map_key = luaL_checklstring(L, 3, &mlen);
  const char *value = luaL_checklstring(L, 4, &vlen);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int64_t seq = rumor_node_map_set(n->node, key, klen, map_key, mlen, value, vlen);
  lrumor_leave(n->ctx, prev);
  return push_seq(L, seq);
}

static int node_m_map_remove(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen, mlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *map_key = luaL_checklstring(L, 3, &mlen);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int64_t seq = rumor_node_map_remove(n->node, key, klen, map_key, mlen);
  lrumor_leave(n->ctx, prev);
  return push_seq(L, seq);
}

static int node_m_value_limit(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  lua_Integer klen = luaL_checkinteger(L, 2);
  lua_Integer mlen = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, klen >= 0, 2, "key length must not be negative");
  luaL_argcheck(L, mlen >= 0, 3, "map key length must not be negative");
  lua_pushinteger(L, (lua_Integer)rumor_node_value_limit(n->node, (size_t)klen, (size_t)mlen));
  return 1;
}

/* n:limits() -> { max_members, members, max_keys_per_member, keys }: the
 * count limits the node enforces and where it stands (keys: its own
 * entries, deletes not yet purged included), for errors that name both. */
static int node_m_limits(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  const rumor_config_t *cfg = rumor_node_config(n->node);
  const char *id = rumor_node_id(n->node);
  rumor_member_info_t self;
  size_t keys = 0;
  if (rumor_node_member_find(n->node, id, strlen(id), &self) == 0)
    keys = self.nkeys + self.ntombstones;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)cfg->max_members);
  lua_setfield(L, -2, "max_members");
  lua_pushinteger(L, (lua_Integer)rumor_node_member_count(n->node));
  lua_setfield(L, -2, "members");
  lua_pushinteger(L, (lua_Integer)cfg->max_keys_per_member);
  lua_setfield(L, -2, "max_keys_per_member");
  lua_pushinteger(L, (lua_Integer)keys);
  lua_setfield(L, -2, "keys");
  return 1;
}

/* Builds { [member] = value } for a plain key (map_key NULL) or a map entry. */
static int get_by_member(lua_State *L, lrumor_node_t *n, const char *key, size_t klen,
                         const char *map_key, size_t mlen) {
  size_t i, count, vlen;
  const uint8_t *value;
  uint64_t seq;
  rumor_member_info_t info;
  int rc;
  lua_newtable(L);
  count = rumor_node_member_count(n->node);
  for (i = 0; i < count; i++) {
    if (rumor_node_member_at(n->node, i, &info) != 0 || info.id == NULL)
      continue;
    if (map_key == NULL)
      rc = rumor_node_get(n->node, info.id, strlen(info.id), key, klen, &value, &vlen, &seq);
    else
      rc = rumor_node_map_get(n->node, info.id, strlen(info.id), key, klen, map_key, mlen,
                              &value, &vlen, &seq);
    if (rc != 0)
      continue;
    lua_pushlstring(L, (const char *)value, vlen);
    lua_setfield(L, -2, info.id);
  }
  return 1;
}

static int node_m_get(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen;
  const char *key = luaL_checklstring(L, 2, &klen);
  return get_by_member(L, n, key, klen, NULL, 0);
}

static int node_m_map_get(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen, mlen;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *map_key = luaL_checklstring(L, 3, &mlen);
  return get_by_member(L, n, key, klen, map_key, mlen);
}

static int push_entry(lua_State *L, int rc, const uint8_t *value, size_t vlen, uint64_t seq) {
  if (rc != 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, (const char *)value, vlen);
  lua_pushinteger(L, (lua_Integer)seq);
  return 2;
}

static int node_m_get_entry(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t mlen, klen, vlen = 0;
  const char *member = luaL_checklstring(L, 2, &mlen);
  const char *key = luaL_checklstring(L, 3, &klen);
  const uint8_t *value = NULL;
  uint64_t seq = 0;
  int rc = rumor_node_get(n->node, member, mlen, key, klen, &value, &vlen, &seq);
  return push_entry(L, rc, value, vlen, seq);
}

static int node_m_map_get_entry(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t mlen, klen, mklen, vlen = 0;
  const char *member = luaL_checklstring(L, 2, &mlen);
  const char *key = luaL_checklstring(L, 3, &klen);
  const char *map_key = luaL_checklstring(L, 4, &mklen);
  const uint8_t *value = NULL;
  uint64_t seq = 0;
  int rc = rumor_node_map_get(n->node, member, mlen, key, klen, map_key, mklen,
                              &value, &vlen, &seq);
  return push_entry(L, rc, value, vlen, seq);
}

/* Sorted strings are collected in two passes over the core so that no Lua
 * call (which may raise) happens inside the core's iteration and nothing is
 * malloc'd: the first pass counts, then one userdata of the right size is
 * allocated, the second pass copies into it. The source must not change in
 * between (nothing runs that could change a node). */
typedef struct key_ref {
  const char *p;
  size_t len;
} key_ref_t;

typedef struct key_collect {
  size_t count, bytes;   /* pass 1 totals; pass 2 capacity */
  key_ref_t *refs;       /* NULL during pass 1 */
  char *arena;
  size_t n, used;        /* pass 2 fill */
} key_collect_t;

static void key_collect_cb(const char *map_key, size_t len, void *arg) {
  key_collect_t *kc = (key_collect_t *)arg;
  if (kc->refs == NULL) {
    kc->count++;
    kc->bytes += len;
    return;
  }
  if (kc->n == kc->count || len > kc->bytes - kc->used)
    return; /* cannot happen: the source did not change since pass 1 */
  if (len > 0)
    memcpy(kc->arena + kc->used, map_key, len);
  kc->refs[kc->n].p = kc->arena + kc->used;
  kc->refs[kc->n].len = len;
  kc->n++;
  kc->used += len;
}

static int key_ref_cmp(const void *x, const void *y) {
  const key_ref_t *a = (const key_ref_t *)x, *b = (const key_ref_t *)y;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = m > 0 ? memcmp(a->p, b->p, m) : 0;
  if (c != 0)
    return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

void lrumor_push_sorted(lua_State *L, lrumor_each_fn each, void *src) {
  key_collect_t kc;
  lua_Integer slot = 0;
  size_t i;
  memset(&kc, 0, sizeof kc);
  each(src, key_collect_cb, &kc);
  if (kc.count > (SIZE_MAX - kc.bytes) / sizeof(key_ref_t) - 1)
    luaL_error(L, "rumor: too many strings to list");
  kc.refs = (key_ref_t *)lua_newuserdatauv(L, kc.count * sizeof(key_ref_t) + kc.bytes + 1, 0);
  kc.arena = (char *)(kc.refs + kc.count);
  each(src, key_collect_cb, &kc);
  if (kc.n > 1)
    qsort(kc.refs, kc.n, sizeof(key_ref_t), key_ref_cmp);
  lua_createtable(L, (int)(kc.n < INT32_MAX ? kc.n : 0), 0);
  for (i = 0; i < kc.n; i++) {
    if (i > 0 && key_ref_cmp(&kc.refs[i - 1], &kc.refs[i]) == 0)
      continue; /* the same string twice (a map key held by several members) */
    lua_pushlstring(L, kc.refs[i].p, kc.refs[i].len);
    lua_rawseti(L, -2, ++slot);
  }
  lua_remove(L, -2); /* the userdata */
}

typedef struct map_keys_src {
  lrumor_node_t *n;
  const char *member, *key; /* member NULL: all of them */
  size_t member_len, klen;
} map_keys_src_t;

/* The map keys of one member, or of every member. */
static void each_map_key(void *arg, rumor_id_cb cb, void *cb_arg) {
  const map_keys_src_t *src = (const map_keys_src_t *)arg;
  rumor_node_t *node = src->n->node;
  rumor_member_info_t info;
  size_t i, count;
  if (src->member != NULL) {
    (void)rumor_node_map_keys(node, src->member, src->member_len, src->key, src->klen, cb, cb_arg);
    return;
  }
  count = rumor_node_member_count(node);
  for (i = 0; i < count; i++) {
    if (rumor_node_member_at(node, i, &info) != 0 || info.id == NULL)
      continue;
    (void)rumor_node_map_keys(node, info.id, strlen(info.id), src->key, src->klen, cb, cb_arg);
  }
}

static int node_m_map_keys(lua_State *L) {
  map_keys_src_t src;
  src.n = check_node(L);
  src.key = luaL_checklstring(L, 2, &src.klen);
  src.member_len = 0;
  src.member = luaL_optlstring(L, 3, NULL, &src.member_len);
  lrumor_push_sorted(L, each_map_key, &src);
  return 1;
}

/* ---- await and leave ---------------------------------------------------- */

typedef struct await_args {
  int status;
  const char *const *missing;
  size_t nmissing;
} await_args_t;

/* The reason of a failed wait: "timeout", "cancelled" or the code's name. */
static void push_reason(lua_State *L, int status) {
  if (status == UV_ETIMEDOUT)
    lua_pushliteral(L, "timeout");
  else if (status == UV_ECANCELED)
    lua_pushliteral(L, "cancelled");
  else
    lua_pushstring(L, rumor_err_name(status));
}

/* fn(true) on success; fn(false, {ids}, "timeout"); fn(false, nil, "cancelled");
 * any other status: fn(false, nil, "ENAME"). */
static int push_await(lua_State *L, void *arg) {
  const await_args_t *r = (const await_args_t *)arg;
  size_t i;
  if (r->status == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  if (r->status == UV_ETIMEDOUT) {
    lua_createtable(L, (int)(r->nmissing < INT32_MAX ? r->nmissing : 0), 0);
    for (i = 0; i < r->nmissing; i++) {
      lua_pushstring(L, r->missing[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  } else {
    lua_pushnil(L);
  }
  push_reason(L, r->status);
  return 3;
}

/* fn(true), or fn(false, nil, reason) like a failed await. */
static int push_leave(lua_State *L, void *arg) {
  int status = *(const int *)arg;
  if (status == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushnil(L);
  push_reason(L, status);
  return 3;
}

static void wait_unlink(lrumor_wait_t *a) {
  if (a->owner == NULL)
    return;
  if (a->prev != NULL)
    a->prev->next = a->next;
  else
    a->owner->waits = a->next;
  if (a->next != NULL)
    a->next->prev = a->prev;
  a->prev = a->next = NULL;
}

/* The core's one call back: calls Lua unless detached, then frees a. */
static void wait_finish(lrumor_wait_t *a, lrumor_push_fn push, void *args) {
  lrumor_node_t *owner = a->owner;
  lua_State *L = a->ctx->L;
  wait_unlink(a);
  a->owner = NULL;
  if (owner != NULL && a->fn != LUA_NOREF)
    (void)lrumor_node_invoke(owner, a->fn, push, NULL, 0, args, a->where);
  /* Without a Lua thread the state is being closed and its registry goes
   * with it; otherwise give the ref back now. */
  if (L != NULL)
    lrumor_unref(L, &a->fn);
  free(a);
}

static void await_cb(rumor_node_t *node, int status, const char *const *missing,
                     size_t nmissing, void *arg) {
  await_args_t r;
  (void)node;
  r.status = status;
  r.missing = missing;
  r.nmissing = nmissing;
  wait_finish((lrumor_wait_t *)arg, push_await, &r);
}

static void leave_cb(rumor_node_t *node, int status, void *arg) {
  (void)node;
  wait_finish((lrumor_wait_t *)arg, push_leave, &status);
}

/* Takes the function at index fn_idx into a new wait (not yet linked). */
static lrumor_wait_t *wait_new(lua_State *L, lrumor_node_t *n, int fn_idx, const char *where) {
  lrumor_wait_t *a;
  int fn;
  luaL_checktype(L, fn_idx, LUA_TFUNCTION);
  lua_pushvalue(L, fn_idx);
  fn = luaL_ref(L, LUA_REGISTRYINDEX); /* may raise, so before the calloc */
  a = (lrumor_wait_t *)calloc(1, sizeof *a);
  if (a == NULL) {
    lrumor_unref(L, &fn);
    luaL_error(L, "rumor: out of memory");
    return NULL;
  }
  a->ctx = n->ctx;
  a->fn = fn;
  a->where = where;
  return a;
}

/* After the core took a (rc 0): links it into n's list and pushes true;
 * otherwise frees it and pushes the failure. */
static int wait_started(lua_State *L, lrumor_node_t *n, lrumor_wait_t *a, int rc) {
  if (rc != 0) {
    lrumor_unref(L, &a->fn);
    free(a);
    return fail_code(L, rc);
  }
  a->owner = n;
  a->next = n->waits;
  if (n->waits != NULL)
    n->waits->prev = a;
  n->waits = a;
  lua_pushboolean(L, 1);
  return 1;
}

static uint32_t check_timeout(lua_State *L, int idx) {
  lua_Integer timeout = luaL_checkinteger(L, idx);
  luaL_argcheck(L, timeout >= 0 && timeout <= (lua_Integer)UINT32_MAX, idx,
                "timeout_ms must be in 0..4294967295");
  return (uint32_t)timeout;
}

static int node_m_await(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  lua_Integer seq = luaL_checkinteger(L, 2);
  uint32_t timeout = check_timeout(L, 3);
  lrumor_wait_t *a;
  lua_State *prev;
  int rc;
  luaL_argcheck(L, seq >= 0, 2, "seq must not be negative");
  a = wait_new(L, n, 4, n->await_where);
  prev = lrumor_enter(n->ctx, L);
  rc = rumor_node_await(n->node, (uint64_t)seq, timeout, await_cb, a);
  lrumor_leave(n->ctx, prev);
  return wait_started(L, n, a, rc);
}

static int node_m_leave(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  uint32_t timeout = check_timeout(L, 2);
  lrumor_wait_t *a = wait_new(L, n, 3, n->leave_where);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int rc = rumor_node_leave(n->node, timeout, leave_cb, a);
  lrumor_leave(n->ctx, prev);
  return wait_started(L, n, a, rc);
}

/* ---- updates ------------------------------------------------------------ */

/* sink(member, key, value, seq, generation, is_local, deleted, map_key, system):
 * value is nil for a delete, map_key nil for a plain key, system true for a
 * reserved key (heartbeat, left, blocked). */
static int push_update(lua_State *L, void *arg) {
  const rumor_update_t *u = (const rumor_update_t *)arg;
  lua_pushlstring(L, u->member, u->member_len);
  lua_pushlstring(L, u->key, u->key_len);
  if (u->deleted)
    lua_pushnil(L);
  else
    lua_pushlstring(L, (const char *)u->value, u->value_len);
  lua_pushinteger(L, (lua_Integer)u->seq);
  lua_pushinteger(L, (lua_Integer)u->generation);
  lua_pushboolean(L, u->local);
  lua_pushboolean(L, u->deleted);
  if (u->map_key != NULL)
    lua_pushlstring(L, u->map_key, u->map_key_len);
  else
    lua_pushnil(L);
  lua_pushboolean(L, u->system);
  return 9;
}

static void update_cb(rumor_node_t *node, const rumor_update_t *u, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  (void)node;
  if (u->system && !n->update_system)
    return; /* a heartbeat per member per round: not worth a call nobody wants */
  (void)lrumor_node_invoke(n, n->on_update, push_update, NULL, 0, (void *)u, n->where);
}

/* n:on_update(fn [, system]): system updates reach fn only when system is true. */
static int node_m_on_update(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  n->update_system = lua_toboolean(L, 3);
  lrumor_setref(L, &n->on_update, 2);
  if (n->on_update == LUA_NOREF)
    rumor_node_on_update(n->node, NULL, NULL);
  else
    rumor_node_on_update(n->node, update_cb, n);
  return 0;
}

typedef struct metric_field {
  const char *name;
  size_t offset;
} metric_field_t;

#define METRIC(f) {#f, offsetof(rumor_metrics_t, f)}
static const metric_field_t metric_fields[] = {
  METRIC(rounds),
  METRIC(datagrams_sent), METRIC(bytes_sent),
  METRIC(datagrams_received), METRIC(bytes_received),
  METRIC(send_errors),
  METRIC(drops_malformed), METRIC(drops_version), METRIC(drops_cluster), METRIC(drops_self),
  METRIC(deltas_gap), METRIC(deltas_stale),
  METRIC(entries_merged), METRIC(entries_ignored), METRIC(entries_too_big),
  METRIC(updates), METRIC(members_joined), METRIC(generations_replaced),
  METRIC(pushes_sent), METRIC(pushes_forwarded),
  METRIC(tombstones_purged), METRIC(resyncs_sent), METRIC(entries_swept),
  METRIC(tcp_pulls), METRIC(tcp_transfers), METRIC(tcp_failures),
  METRIC(frames_sent), METRIC(frames_received),
  METRIC(tcp_bytes_sent), METRIC(tcp_bytes_received),
  METRIC(heartbeats_sent), METRIC(drops_blocked), METRIC(rejects_sent), METRIC(rejects_received),
  METRIC(summaries_sent), METRIC(summaries_matched), METRIC(summaries_differed), METRIC(wanted_asked),
  METRIC(blocks_adopted), METRIC(probes_sent),
  METRIC(members_blocked), METRIC(members_removed), METRIC(rejoins), METRIC(stalls),
  METRIC(sends_deferred), METRIC(sends_dropped),
  METRIC(entries_rejected), METRIC(log_lines),
  METRIC(fault_dropped), METRIC(fault_delayed), METRIC(fault_overflow),
  METRIC(drops_key), METRIC(drops_plaintext), METRIC(drops_replay), METRIC(drops_spoofed), METRIC(self_disputes),
  METRIC(drops_oversize), METRIC(drops_budget), METRIC(tcp_refused), METRIC(tcp_overlong),
  METRIC(members_refused), METRIC(entries_over_limit),
};
#undef METRIC
/* Every counter of rumor_metrics_t is listed above (by_kind apart): a new
 * one fails here. */
_Static_assert(sizeof metric_fields / sizeof metric_fields[0] * sizeof(uint64_t) +
                   sizeof(((rumor_metrics_t *)0)->by_kind) ==
                 sizeof(rumor_metrics_t),
               "metric_fields must list every field of rumor_metrics_t");

/* t.by_kind = { syn = {datagrams_sent, bytes_sent, datagrams_received,
 * bytes_received}, synack = ..., ... } */
static void push_by_kind(lua_State *L, const rumor_metrics_t *m) {
  int k;
  lua_createtable(L, 0, RUMOR_KIND_COUNT);
  for (k = 0; k < RUMOR_KIND_COUNT; k++) {
    const rumor_kind_metrics_t *km = &m->by_kind[k];
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)km->datagrams_sent);
    lua_setfield(L, -2, "datagrams_sent");
    lua_pushinteger(L, (lua_Integer)km->bytes_sent);
    lua_setfield(L, -2, "bytes_sent");
    lua_pushinteger(L, (lua_Integer)km->datagrams_received);
    lua_setfield(L, -2, "datagrams_received");
    lua_pushinteger(L, (lua_Integer)km->bytes_received);
    lua_setfield(L, -2, "bytes_received");
    lua_setfield(L, -2, rumor_kind_name(k));
  }
  lua_setfield(L, -2, "by_kind");
}

/* t.members = { alive, blocked, left, removed }: members by status now,
 * self included in alive. */
static void push_member_counts(lua_State *L, const lrumor_node_t *n) {
  lua_Integer alive = 0, blocked = 0, left = 0, removed = 0;
  size_t i, count = rumor_node_member_count(n->node);
  rumor_member_info_t info;
  for (i = 0; i < count; i++) {
    if (rumor_node_member_at(n->node, i, &info) != 0)
      continue;
    if (info.status == RUMOR_MEMBER_REMOVED)
      removed++;
    else if (info.status == RUMOR_MEMBER_BLOCKED && info.block_reason == RUMOR_BLOCK_LEFT)
      left++;
    else if (info.status == RUMOR_MEMBER_BLOCKED)
      blocked++;
    else
      alive++;
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, alive);
  lua_setfield(L, -2, "alive");
  lua_pushinteger(L, blocked);
  lua_setfield(L, -2, "blocked");
  lua_pushinteger(L, left);
  lua_setfield(L, -2, "left");
  lua_pushinteger(L, removed);
  lua_setfield(L, -2, "removed");
  lua_setfield(L, -2, "members");
}

static int node_m_metrics(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  const rumor_metrics_t *m = rumor_node_metrics(n->node);
  size_t i, nf = sizeof metric_fields / sizeof metric_fields[0];
  lua_createtable(L, 0, (int)nf + 1);
  for (i = 0; i < nf; i++) {
    uint64_t v = 0;
    if (m != NULL)
      memcpy(&v, (const char *)m + metric_fields[i].offset, sizeof v);
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, metric_fields[i].name);
  }
  lua_pushinteger(L, (lua_Integer)n->callback_errors);
  lua_setfield(L, -2, "callback_errors");
  if (m != NULL)
    push_by_kind(L, m);
  push_member_counts(L, n);
  return 1;
}

static int node_m_tostring(lua_State *L) {
  node_ud_t *ud = (node_ud_t *)luaL_checkudata(L, 1, LRUMOR_NODE_MT);
  if (ud->n == NULL)
    lua_pushliteral(L, "rumor.node (closed)");
  else
    lua_pushfstring(L, "rumor.node (%s)", rumor_node_id(ud->n->node));
  return 1;
}

static const luaL_Reg node_methods[] = {
  {"start", node_m_start},
  {"stop", node_m_stop},
  {"close", lrumor_node_close},
  {"id", node_m_id},
  {"generation", node_m_generation},
  {"address", node_m_address},
  {"set", node_m_set},
  {"delete", node_m_delete},
  {"map_set", node_m_map_set},
  {"map_remove", node_m_map_remove},
  {"value_limit", node_m_value_limit},
  {"limits", node_m_limits},
  {"get", node_m_get},
  {"get_entry", node_m_get_entry},
  {"map_get", node_m_map_get},
  {"map_get_entry", node_m_map_get_entry},
  {"map_keys", node_m_map_keys},
  {"await", node_m_await},
  {"leave", node_m_leave},
  {"on_update", node_m_on_update},
  {"metrics", node_m_metrics},
  {"__gc", lrumor_node_close},
  {"__close", lrumor_node_close},
  {"__tostring", node_m_tostring},
  {NULL, NULL}
};

void lrumor_node_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_NODE_MT, node_methods);
  lrumor_liveness_open(L);
  lrumor_hooks_open(L);
  lrumor_fault_open(L);
  lrumor_keyring_open(L);
}

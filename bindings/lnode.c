/* lnode.c: core.node(cfg) and the node userdata (start/stop/close, set/get,
 * delete, map state, await, members, on_update, metrics) over rumor_node_t.
 *
 * The binding state of a node (lrumor_node_t) is malloc'd and handed to the
 * core as the update-callback argument; it is freed from the close callback
 * of rumor_node_close, so it outlives its userdata if the core still has a
 * callback running when the userdata is collected.
 *
 * Each n:await() is a malloc'd lrumor_await_t given to the core as the
 * callback argument; the core calls back exactly once, and that call frees
 * it. Until then it holds the Lua function by a registry ref and sits in its
 * node's list. Closing the node detaches the pending ones (drops the ref,
 * forgets the node) without calling Lua: the core's cancel callback that
 * follows only frees them. So a closed node or a closed Lua state never
 * leaves a ref or a block behind, and the core never sees a freed pointer.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rumor.h"
#include "lrumor.h"

typedef struct lrumor_await lrumor_await_t;

typedef struct lrumor_node {
  rumor_node_t *node;
  lrumor_ctx_t *ctx;
  int on_update;            /* registry ref */
  uint64_t callback_errors; /* errors raised by this node's callbacks */
  lrumor_await_t *awaits;   /* pending n:await() calls, a doubly linked list */
  char where[RUMOR_MAX_ID_LEN + 32];
  char await_where[RUMOR_MAX_ID_LEN + 32];
} lrumor_node_t;

struct lrumor_await {
  lrumor_ctx_t *ctx;
  lrumor_node_t *owner;      /* NULL once detached by close */
  lrumor_await_t *prev, *next;
  int fn;                    /* registry ref; LUA_NOREF once detached */
};

typedef struct node_ud {
  lrumor_node_t *n; /* NULL once closed */
} node_ud_t;

static lrumor_node_t *check_node(lua_State *L) {
  node_ud_t *ud = (node_ud_t *)luaL_checkudata(L, 1, LRUMOR_NODE_MT);
  if (ud->n == NULL)
    luaL_error(L, "rumor: node is closed");
  return ud->n;
}

static int fail_code(lua_State *L, int code) {
  return lrumor_fail(L, rumor_err_name(code), rumor_strerror(code));
}

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

int lrumor_node_new(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  rumor_config_t cfg;
  rumor_error_t err;
  node_ud_t *ud;
  lrumor_node_t *n;
  lua_Integer gen;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_checkstack(L, 16, NULL);
  rumor_config_init(&cfg);
  cfg.id = opt_string(L, "id");
  if (opt_string(L, "cluster") != NULL)
    cfg.cluster = lua_tostring(L, -1);
  if (opt_string(L, "bind") != NULL)
    cfg.bind = lua_tostring(L, -1);
  read_seeds(L, &cfg);
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

  ud = (node_ud_t *)lua_newuserdatauv(L, sizeof *ud, 0);
  ud->n = NULL;
  luaL_setmetatable(L, LRUMOR_NODE_MT);
  n = (lrumor_node_t *)calloc(1, sizeof *n);
  if (n == NULL)
    return luaL_error(L, "rumor: out of memory");
  memset(&err, 0, sizeof err);
  rc = rumor_node_new(&ctx->loop, &cfg, &n->node, &err);
  if (rc != 0) {
    free(n);
    err.field[sizeof err.field - 1] = '\0';
    err.message[sizeof err.message - 1] = '\0';
    if (err.message[0] == '\0')
      snprintf(err.message, sizeof err.message, "%s", rumor_strerror(rc));
    if (err.field[0] != '\0')
      return luaL_error(L, "rumor: field '%s': %s", err.field, err.message);
    return luaL_error(L, "rumor: %s", err.message);
  }
  n->ctx = ctx;
  n->on_update = LUA_NOREF;
  snprintf(n->where, sizeof n->where, "on_update of node '%s'", rumor_node_id(n->node));
  snprintf(n->await_where, sizeof n->await_where, "await of node '%s'", rumor_node_id(n->node));
  ud->n = n;
  return 1;
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Drops the Lua side of every pending await of n; the core still calls each
 * back once (with UV_ECANCELED), which then only frees it. */
static void awaits_detach(lua_State *L, lrumor_node_t *n) {
  lrumor_await_t *a = n->awaits, *next;
  n->awaits = NULL;
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

static int node_m_close(lua_State *L) {
  node_ud_t *ud = (node_ud_t *)luaL_checkudata(L, 1, LRUMOR_NODE_MT);
  lrumor_node_t *n = ud->n;
  lrumor_ctx_t *ctx;
  lua_State *prev;
  if (n == NULL)
    return 0;
  ud->n = NULL;
  ctx = n->ctx; /* n may be freed inside rumor_node_close */
  rumor_node_on_update(n->node, NULL, NULL);
  lrumor_unref(L, &n->on_update);
  awaits_detach(L, n);
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
  lua_State *prev = lrumor_enter(n->ctx, L);
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

/* map_keys collects in two passes over the core so that no Lua call (which
 * may raise) happens inside the core's iteration and nothing is malloc'd:
 * the first pass counts, then one userdata of the right size is allocated,
 * the second pass copies into it. The node cannot change in between. */
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
    return; /* cannot happen: the node did not change since pass 1 */
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

/* One pass over one member (member != NULL) or over all of them. */
static void key_pass(lrumor_node_t *n, const char *member, size_t member_len,
                     const char *key, size_t klen, key_collect_t *kc) {
  size_t i, count;
  rumor_member_info_t info;
  if (member != NULL) {
    (void)rumor_node_map_keys(n->node, member, member_len, key, klen, key_collect_cb, kc);
    return;
  }
  count = rumor_node_member_count(n->node);
  for (i = 0; i < count; i++) {
    if (rumor_node_member_at(n->node, i, &info) != 0 || info.id == NULL)
      continue;
    (void)rumor_node_map_keys(n->node, info.id, strlen(info.id), key, klen, key_collect_cb, kc);
  }
}

static int node_m_map_keys(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  size_t klen, mlen = 0, i;
  const char *key = luaL_checklstring(L, 2, &klen);
  const char *member = luaL_optlstring(L, 3, NULL, &mlen);
  key_collect_t kc;
  lua_Integer slot = 0;
  memset(&kc, 0, sizeof kc);
  key_pass(n, member, mlen, key, klen, &kc);
  if (kc.count > (SIZE_MAX - kc.bytes) / sizeof(key_ref_t) - 1)
    return luaL_error(L, "rumor: map_keys: too many keys");
  kc.refs = (key_ref_t *)lua_newuserdatauv(L, kc.count * sizeof(key_ref_t) + kc.bytes + 1, 0);
  kc.arena = (char *)(kc.refs + kc.count);
  key_pass(n, member, mlen, key, klen, &kc);
  if (kc.n > 1)
    qsort(kc.refs, kc.n, sizeof(key_ref_t), key_ref_cmp);
  lua_createtable(L, (int)(kc.n < INT32_MAX ? kc.n : 0), 0);
  for (i = 0; i < kc.n; i++) {
    if (i > 0 && key_ref_cmp(&kc.refs[i - 1], &kc.refs[i]) == 0)
      continue; /* the same map key held by several members */
    lua_pushlstring(L, kc.refs[i].p, kc.refs[i].len);
    lua_rawseti(L, -2, ++slot);
  }
  return 1;
}

/* ---- await -------------------------------------------------------------- */

typedef struct await_args {
  int status;
  const char *const *missing;
  size_t nmissing;
} await_args_t;

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
    lua_pushliteral(L, "timeout");
  } else {
    lua_pushnil(L);
    if (r->status == UV_ECANCELED)
      lua_pushliteral(L, "cancelled");
    else
      lua_pushstring(L, rumor_err_name(r->status));
  }
  return 3;
}

static void await_unlink(lrumor_await_t *a) {
  if (a->owner == NULL)
    return;
  if (a->prev != NULL)
    a->prev->next = a->next;
  else
    a->owner->awaits = a->next;
  if (a->next != NULL)
    a->next->prev = a->prev;
  a->prev = a->next = NULL;
}

static void await_cb(rumor_node_t *node, int status, const char *const *missing,
                     size_t nmissing, void *arg) {
  lrumor_await_t *a = (lrumor_await_t *)arg;
  lrumor_node_t *owner = a->owner;
  lua_State *L = a->ctx->L;
  await_args_t r;
  (void)node;
  await_unlink(a);
  a->owner = NULL;
  if (owner != NULL && a->fn != LUA_NOREF) {
    r.status = status;
    r.missing = missing;
    r.nmissing = nmissing;
    if (lrumor_invoke(a->ctx, a->fn, push_await, &r, owner->await_where) != 0 && L != NULL)
      owner->callback_errors++;
  }
  /* Without a Lua thread the state is being closed and its registry goes
   * with it; otherwise give the ref back now. */
  if (L != NULL)
    lrumor_unref(L, &a->fn);
  free(a);
}

static int node_m_await(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  lua_Integer seq = luaL_checkinteger(L, 2);
  lua_Integer timeout = luaL_checkinteger(L, 3);
  lrumor_await_t *a;
  lua_State *prev;
  int rc, fn;
  luaL_argcheck(L, seq >= 0, 2, "seq must not be negative");
  luaL_argcheck(L, timeout >= 0 && timeout <= (lua_Integer)UINT32_MAX, 3,
                "timeout_ms must be in 0..4294967295");
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_pushvalue(L, 4);
  fn = luaL_ref(L, LUA_REGISTRYINDEX); /* may raise, so before the calloc */
  a = (lrumor_await_t *)calloc(1, sizeof *a);
  if (a == NULL) {
    lrumor_unref(L, &fn);
    return luaL_error(L, "rumor: out of memory");
  }
  a->ctx = n->ctx;
  a->fn = fn;
  prev = lrumor_enter(n->ctx, L);
  rc = rumor_node_await(n->node, (uint64_t)seq, (uint32_t)timeout, await_cb, a);
  lrumor_leave(n->ctx, prev);
  if (rc != 0) {
    lrumor_unref(L, &a->fn);
    free(a);
    return fail_code(L, rc);
  }
  a->owner = n;
  a->next = n->awaits;
  if (n->awaits != NULL)
    n->awaits->prev = a;
  n->awaits = a;
  lua_pushboolean(L, 1);
  return 1;
}

static int node_m_members(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  uint64_t now = uv_now(&n->ctx->loop);
  size_t i, count = rumor_node_member_count(n->node);
  lua_Integer slot = 0;
  rumor_member_info_t info;
  lua_createtable(L, (int)count, 0);
  for (i = 0; i < count; i++) {
    memset(&info, 0, sizeof info);
    if (rumor_node_member_at(n->node, i, &info) != 0 || info.id == NULL)
      continue;
    info.address[sizeof info.address - 1] = '\0';
    lua_createtable(L, 0, 11);
    lua_pushstring(L, info.id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, info.address);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, "alive"); /* RUMOR_MEMBER_ALIVE is the only status */
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, (lua_Integer)info.generation);
    lua_setfield(L, -2, "generation");
    lua_pushinteger(L, (lua_Integer)info.max_seq);
    lua_setfield(L, -2, "max_seq");
    lua_pushinteger(L, (lua_Integer)info.nkeys);
    lua_setfield(L, -2, "keys");
    lua_pushinteger(L, (lua_Integer)info.ntombstones);
    lua_setfield(L, -2, "tombstones");
    lua_pushinteger(L, (lua_Integer)info.last_seen_ms);
    lua_setfield(L, -2, "last_seen_ms");
    lua_pushinteger(L, now > info.last_seen_ms ? (lua_Integer)(now - info.last_seen_ms) : 0);
    lua_setfield(L, -2, "heartbeat_age_ms");
    if (info.self) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "self");
    }
    lua_rawseti(L, -2, ++slot);
  }
  return 1;
}

/* ---- updates ------------------------------------------------------------ */

/* sink(member, key, value, seq, generation, is_local, deleted, map_key):
 * value is nil for a delete, map_key nil for a plain key. */
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
  return 8;
}

static void update_cb(rumor_node_t *node, const rumor_update_t *u, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  (void)node;
  if (lrumor_invoke(n->ctx, n->on_update, push_update, (void *)u, n->where) != 0 &&
      n->ctx->L != NULL)
    n->callback_errors++;
}

static int node_m_on_update(lua_State *L) {
  lrumor_node_t *n = check_node(L);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
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
  METRIC(members_blocked), METRIC(members_removed), METRIC(rejoins), METRIC(stalls),
};
#undef METRIC
/* Every counter of rumor_metrics_t is listed above: a new one fails here. */
_Static_assert(sizeof metric_fields / sizeof metric_fields[0] * sizeof(uint64_t) ==
                 sizeof(rumor_metrics_t),
               "metric_fields must list every field of rumor_metrics_t");

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
  {"close", node_m_close},
  {"id", node_m_id},
  {"generation", node_m_generation},
  {"address", node_m_address},
  {"set", node_m_set},
  {"delete", node_m_delete},
  {"map_set", node_m_map_set},
  {"map_remove", node_m_map_remove},
  {"value_limit", node_m_value_limit},
  {"get", node_m_get},
  {"get_entry", node_m_get_entry},
  {"map_get", node_m_map_get},
  {"map_get_entry", node_m_map_get_entry},
  {"map_keys", node_m_map_keys},
  {"await", node_m_await},
  {"members", node_m_members},
  {"on_update", node_m_on_update},
  {"metrics", node_m_metrics},
  {"__gc", node_m_close},
  {"__close", node_m_close},
  {"__tostring", node_m_tostring},
  {NULL, NULL}
};

void lrumor_node_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_NODE_MT, node_methods);
}

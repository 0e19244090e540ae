/* lliveness.c: the liveness methods of the node userdata: members() records,
 * blocked(), on_member, the per-round hook (heartbeat stats and the block
 * policy), and the topology (set_topology, add_peer, remove_peer).
 *
 * They share lrumor_node_t with lnode.c and follow its ownership rules: the
 * Lua functions are registry refs in the node's binding state, dropped by
 * lrumor_liveness_detach when the node closes (after which the core calls
 * none of these hooks). Lua runs from the core's callbacks only through
 * lrumor_invoke*, so an error never unwinds through the core; member
 * snapshots are used before any Lua call that could change the node.
 */
#include <stdio.h>
#include <string.h>

#include "lrumor.h"

void lrumor_liveness_init(lrumor_node_t *n) {
  const char *id = rumor_node_id(n->node);
  n->on_member = n->stats_fn = n->policy_fn = LUA_NOREF;
  snprintf(n->member_where, sizeof n->member_where, "on_member of node '%s'", id);
  snprintf(n->stats_where, sizeof n->stats_where, "set_heartbeat_stats of node '%s'", id);
  snprintf(n->policy_where, sizeof n->policy_where, "set_block_policy of node '%s'", id);
}

void lrumor_liveness_detach(lua_State *L, lrumor_node_t *n) {
  rumor_node_on_member(n->node, NULL, NULL);
  rumor_node_on_round(n->node, NULL, NULL);
  lrumor_unref(L, &n->on_member);
  lrumor_unref(L, &n->stats_fn);
  lrumor_unref(L, &n->policy_fn);
}

/* ---- member records ----------------------------------------------------- */

/* Member i, with its address terminated; 0 when there is none. */
static int member_get(const lrumor_node_t *n, size_t i, rumor_member_info_t *info) {
  memset(info, 0, sizeof *info);
  if (rumor_node_member_at(n->node, i, info) != 0 || info->id == NULL)
    return 0;
  info->address[sizeof info->address - 1] = '\0';
  return 1;
}

static const char *status_name(const rumor_member_info_t *info) {
  switch (info->status) {
  case RUMOR_MEMBER_BLOCKED:
    return info->block_reason == RUMOR_BLOCK_LEFT ? "left" : "blocked";
  case RUMOR_MEMBER_REMOVED:
    return "removed";
  default:
    return "alive";
  }
}

static void set_integer(lua_State *L, const char *name, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, name);
}

static void set_true(lua_State *L, const char *name) {
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, name);
}

/* record.stats = { name = value, ... } from the member's last heartbeat. */
static void set_stats(lua_State *L, const rumor_member_info_t *info) {
  rumor_stat_t st;
  size_t off = 0;
  lua_newtable(L);
  while (rumor_stats_next(info->stats, info->stats_len, &off, &st) == 1) {
    lua_pushlstring(L, st.name, st.name_len);
    lua_pushinteger(L, (lua_Integer)st.value);
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "stats");
}

/* The record of members(), member() and of the block policy's info argument. */
void lrumor_push_member(lua_State *L, const rumor_member_info_t *info) {
  lua_createtable(L, 0, 20);
  lua_pushstring(L, info->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, info->address);
  lua_setfield(L, -2, "address");
  lua_pushstring(L, status_name(info));
  lua_setfield(L, -2, "status");
  if (info->status != RUMOR_MEMBER_ALIVE && info->block_reason != RUMOR_BLOCK_NONE) {
    lua_pushstring(L, rumor_block_reason_name(info->block_reason));
    lua_setfield(L, -2, "block_reason");
    if (info->block_detail != NULL && info->block_detail[0] != '\0') {
      lua_pushstring(L, info->block_detail);
      lua_setfield(L, -2, "block_detail");
    }
    if (info->blocked_by != NULL) {
      lua_pushstring(L, info->blocked_by);
      lua_setfield(L, -2, "blocked_by");
    }
    set_integer(L, "blocked_for_ms", info->blocked_for_ms);
    if (info->block_reason == RUMOR_BLOCK_EXPIRED)
      set_integer(L, "block_silence_ms", info->block_silence_ms);
  }
  set_integer(L, "generation", info->generation);
  set_integer(L, "max_seq", info->max_seq);
  set_integer(L, "keys", info->nkeys);
  set_integer(L, "tombstones", info->ntombstones);
  set_integer(L, "last_seen_ms", info->last_seen_ms);
  set_integer(L, "heartbeat_age_ms", info->heartbeat_age_ms);
  set_integer(L, "heartbeats", info->heartbeats);
  lua_pushnumber(L, (lua_Number)info->phi);
  lua_setfield(L, -2, "phi");
  if (info->watched)
    set_true(L, "watched");
  if (info->left)
    set_true(L, "left");
  if (info->self)
    set_true(L, "self");
  if (info->has_heartbeat) {
    set_integer(L, "uptime_ms", info->uptime_ms);
    set_integer(L, "members_alive", info->members_alive);
    set_stats(L, info);
  }
}

/* n:members(): every member but the removed ones, self first. */
static int node_m_members(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  size_t i, count = rumor_node_member_count(n->node);
  lua_Integer slot = 0;
  rumor_member_info_t info;
  lua_createtable(L, (int)(count < INT32_MAX ? count : 0), 0);
  for (i = 0; i < count; i++) {
    if (!member_get(n, i, &info) || info.status == RUMOR_MEMBER_REMOVED)
      continue;
    lrumor_push_member(L, &info);
    lua_rawseti(L, -2, ++slot);
  }
  return 1;
}

static void each_blocked(void *src, rumor_id_cb cb, void *cb_arg) {
  rumor_node_blocked(((const lrumor_node_t *)src)->node, cb, cb_arg);
}

/* n:blocked(): the sorted ids of the members blocked now. */
static int node_m_blocked(lua_State *L) {
  lrumor_push_sorted(L, each_blocked, lrumor_check_node(L));
  return 1;
}

/* ---- member events ------------------------------------------------------ */

/* sink(type, member, generation, reason): reason only for blocked and rejoined. */
static int push_member_event(lua_State *L, void *arg) {
  const rumor_member_event_t *ev = (const rumor_member_event_t *)arg;
  int with_reason = ev->type == RUMOR_EVENT_BLOCKED || ev->type == RUMOR_EVENT_REJOINED;
  /* A member that left is blocked as "left" in the core; in Lua, as in
   * DESIGN.md's on_member, it is a "left" event (reason "left"). */
  if (ev->type == RUMOR_EVENT_BLOCKED && ev->reason == RUMOR_BLOCK_LEFT)
    lua_pushliteral(L, "left");
  else
    lua_pushstring(L, rumor_member_event_name(ev->type));
  lua_pushlstring(L, ev->member, ev->member_len);
  lua_pushinteger(L, (lua_Integer)ev->generation);
  if (with_reason && ev->reason != RUMOR_BLOCK_NONE)
    lua_pushstring(L, rumor_block_reason_name(ev->reason));
  else
    lua_pushnil(L);
  return 4;
}

static void member_cb(rumor_node_t *node, const rumor_member_event_t *ev, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  (void)node;
  (void)lrumor_node_invoke(n, n->on_member, push_member_event, NULL, 0, (void *)ev,
                           n->member_where);
}

/* n:on_member(fn or nil): one sink per node (the Lua layer fans out). */
static int node_m_on_member(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  lrumor_setref(L, &n->on_member, 2);
  if (n->on_member == LUA_NOREF)
    rumor_node_on_member(n->node, NULL, NULL);
  else
    rumor_node_on_member(n->node, member_cb, n);
  return 0;
}

/* ---- heartbeat stats ---------------------------------------------------- */

/* Checks the pair at -2 (name), -1 (value) of a stats table; returns the value. */
static int64_t check_stat(lua_State *L) {
  const char *name;
  size_t len;
  lua_Integer v;
  int isint = 0;
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "rumor: set_heartbeat_stats: stat names must be strings, got %s",
               luaL_typename(L, -2));
  name = lua_tolstring(L, -2, &len);
  if (len == 0 || len > RUMOR_MAX_STAT_NAME)
    luaL_error(L, "rumor: set_heartbeat_stats: a stat name of %d bytes (must be 1..%d)",
               (int)len, RUMOR_MAX_STAT_NAME);
  if (lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "rumor: set_heartbeat_stats: stat '%s': expected an integer, got %s", name,
               luaL_typename(L, -1));
  v = lua_tointegerx(L, -1, &isint);
  if (!isint)
    luaL_error(L, "rumor: set_heartbeat_stats: stat '%s': expected an integer, got %f", name,
               lua_tonumber(L, -1));
  return (int64_t)v;
}

/* Takes the stats function's result: a table { name = integer } handed to
 * rumor_node_set_stats. Raises (reported, counted) for anything else; the
 * heartbeat then keeps the stats it had. */
static void take_stats(lua_State *L, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  int t = lua_gettop(L), rc;
  size_t count = 0, i = 0;
  rumor_stat_t *stats = NULL;
  if (lua_type(L, t) != LUA_TTABLE)
    luaL_error(L, "rumor: set_heartbeat_stats: the function returned %s, expected a table "
               "of integers", luaL_typename(L, t));
  for (lua_pushnil(L); lua_next(L, t) != 0; lua_pop(L, 1)) {
    (void)check_stat(L);
    count++;
  }
  if (count > 0)
    stats = (rumor_stat_t *)lua_newuserdatauv(L, count * sizeof *stats, 0);
  for (lua_pushnil(L); i < count && lua_next(L, t) != 0; lua_pop(L, 1), i++) {
    stats[i].value = check_stat(L);
    stats[i].name = lua_tolstring(L, -2, &stats[i].name_len); /* held by the table */
  }
  if (n->closed)
    return;
  rc = rumor_node_set_stats(n->node, stats, i);
  if (rc == RUMOR_ETOOBIG)
    luaL_error(L, "rumor: set_heartbeat_stats: ETOOBIG: %d stats do not fit a heartbeat "
               "(%d bytes at most)", (int)i, RUMOR_MAX_HEARTBEAT);
  if (rc != 0)
    luaL_error(L, "rumor: set_heartbeat_stats: %s: %s", rumor_err_name(rc), rumor_strerror(rc));
}

static void run_stats(lrumor_node_t *n) {
  (void)lrumor_node_invoke(n, n->stats_fn, NULL, take_stats, 1, n, n->stats_where);
}

/* ---- block policy ------------------------------------------------------- */

typedef struct policy_call {
  const rumor_member_info_t *info;
  int block;
  char detail[RUMOR_MAX_BLOCK_DETAIL + 1]; /* the policy's words, "" for none */
} policy_call_t;

/* fn(member_id, info) */
static int push_policy(lua_State *L, void *arg) {
  const policy_call_t *c = (const policy_call_t *)arg;
  lua_pushstring(L, c->info->id);
  lrumor_push_member(L, c->info);
  return 2;
}

/* A string blocks, and says why; true blocks (a string after it says why);
 * false or nil does not; anything else is a mistake worth a report. */
static void take_policy(lua_State *L, void *arg) {
  policy_call_t *c = (policy_call_t *)arg;
  int t = lua_type(L, -2);
  const char *why = NULL;
  if (t == LUA_TSTRING)
    why = lua_tostring(L, -2);
  else if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_error(L, "rumor: set_block_policy: the policy returned %s, expected a boolean or a string",
               luaL_typename(L, -2));
  else if (lua_type(L, -1) == LUA_TSTRING)
    why = lua_tostring(L, -1);
  c->block = lua_toboolean(L, -2);
  c->detail[0] = '\0';
  if (c->block && why != NULL)
    snprintf(c->detail, sizeof c->detail, "%s", why);
}

/* Members a policy judges: others, not blocked, that have published state. */
static int policy_applies(const rumor_member_info_t *info) {
  return !info->self && info->status == RUMOR_MEMBER_ALIVE && info->generation > 0;
}

/* Asks the policy about every member. The list is walked by index and its
 * length read again after each call, since the policy may change the node
 * (or close it: then the walk ends). The id is copied before Lua runs. */
static void run_policy(lrumor_node_t *n) {
  char id[RUMOR_MAX_ID_LEN + 1];
  rumor_member_info_t info;
  policy_call_t c;
  size_t i, len;
  for (i = 0; !n->closed && n->policy_fn != LUA_NOREF &&
              i < rumor_node_member_count(n->node); i++) {
    if (!member_get(n, i, &info) || !policy_applies(&info))
      continue;
    len = strlen(info.id);
    if (len > RUMOR_MAX_ID_LEN)
      continue;
    memcpy(id, info.id, len + 1);
    c.info = &info;
    c.block = 0;
    if (lrumor_node_invoke(n, n->policy_fn, push_policy, take_policy, 2, &c,
                           n->policy_where) != 0) {
      if (n->ctx->L == NULL)
        return; /* no Lua may run now */
      continue;
    }
    if (c.block && !n->closed)
      (void)rumor_node_block_detail(n->node, id, len, RUMOR_BLOCK_POLICY, c.detail);
  }
}

/* ---- the round hook ----------------------------------------------------- */

/* At the start of every round: fresh stats first, so that the policy sees
 * this node's view after them, then the policy. */
static void round_cb(rumor_node_t *node, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  (void)node;
  if (n->stats_fn != LUA_NOREF)
    run_stats(n);
  if (n->policy_fn != LUA_NOREF && !n->closed)
    run_policy(n);
}

/* The hook is on while either function is set. */
static void update_round_hook(lrumor_node_t *n) {
  if (n->stats_fn != LUA_NOREF || n->policy_fn != LUA_NOREF)
    rumor_node_on_round(n->node, round_cb, n);
  else
    rumor_node_on_round(n->node, NULL, NULL);
}

static void check_optional_function(lua_State *L, int idx) {
  if (!lua_isnoneornil(L, idx))
    luaL_checktype(L, idx, LUA_TFUNCTION);
}

/* n:set_heartbeat_stats(fn or nil): nil also empties the stats heartbeats carry. */
static int node_m_set_heartbeat_stats(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  check_optional_function(L, 2);
  lrumor_setref(L, &n->stats_fn, 2);
  if (n->stats_fn == LUA_NOREF)
    (void)rumor_node_set_stats(n->node, NULL, 0);
  update_round_hook(n);
  return 0;
}

/* n:set_block_policy(fn or nil) */
static int node_m_set_block_policy(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  check_optional_function(L, 2);
  lrumor_setref(L, &n->policy_fn, 2);
  update_round_hook(n);
  return 0;
}

/* ---- topology ----------------------------------------------------------- */

/* The string field name of the table at -1; NULL when absent (optional). */
static const char *peer_field(lua_State *L, lua_Integer i, const char *name, int optional) {
  const char *s;
  int t = lua_getfield(L, -1, name);
  if (t == LUA_TNIL && optional) {
    lua_pop(L, 1);
    return NULL;
  }
  if (t != LUA_TSTRING)
    luaL_error(L, "rumor: set_topology: entry %I: '%s' must be a string, got %s", i, name,
               luaL_typename(L, -1));
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* still held by the entry */
  return s;
}

/* n:set_topology({ {id=, address=}, ... }): true or nil, err, code. */
static int node_m_set_topology(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  rumor_peer_t *peers = NULL;
  lua_Integer i, count;
  lua_State *prev;
  int rc;
  luaL_checktype(L, 2, LUA_TTABLE);
  count = (lua_Integer)lua_rawlen(L, 2);
  if (count > 0)
    peers = (rumor_peer_t *)lua_newuserdatauv(L, (size_t)count * sizeof *peers, 0);
  for (i = 1; i <= count; i++) {
    if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
      luaL_error(L, "rumor: set_topology: entry %I: expected a table, got %s", i,
                 luaL_typename(L, -1));
    peers[i - 1].id = peer_field(L, i, "id", 0);
    peers[i - 1].address = peer_field(L, i, "address", 1);
    lua_pop(L, 1);
  }
  prev = lrumor_enter(n->ctx, L);
  rc = rumor_node_set_topology(n->node, peers, (size_t)count);
  lrumor_leave(n->ctx, prev);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* n:add_peer("host:port"): true or nil, err, code. */
static int node_m_add_peer(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  const char *address = luaL_checkstring(L, 2);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int rc = rumor_node_add_peer(n->node, address);
  lrumor_leave(n->ctx, prev);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* n:remove_peer(id): true or nil, err, code. */
static int node_m_remove_peer(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  size_t len;
  const char *id = luaL_checklstring(L, 2, &len);
  lua_State *prev = lrumor_enter(n->ctx, L);
  int rc = rumor_node_remove_peer(n->node, id, len);
  lrumor_leave(n->ctx, prev);
  if (rc != 0)
    return lrumor_fail_code(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg liveness_methods[] = {
  {"members", node_m_members},
  {"blocked", node_m_blocked},
  {"on_member", node_m_on_member},
  {"set_heartbeat_stats", node_m_set_heartbeat_stats},
  {"set_block_policy", node_m_set_block_policy},
  {"set_topology", node_m_set_topology},
  {"add_peer", node_m_add_peer},
  {"remove_peer", node_m_remove_peer},
  {NULL, NULL}
};

/* Adds the methods above to the node metatable made by lrumor_node_open. */
void lrumor_liveness_open(lua_State *L) {
  luaL_getmetatable(L, LRUMOR_NODE_MT);
  luaL_setfuncs(L, liveness_methods, 0);
  lua_pop(L, 1);
}

/* lhooks.c: the hooks through which a node talks back to its owner: the
 * core's log lines (n:on_log), the validator of remote entries
 * (n:set_validator), the sink for errors raised in the node's callbacks
 * (n:set_error_sink), and n:member(id), one member's record.
 *
 * Each hook is a registry ref in lrumor_node_t, replaced by the setter and
 * dropped by lrumor_hooks_detach when the node closes. Every call into Lua
 * goes through lrumor_node_invoke, protected, with the node's error sink in
 * force, so an error reaches the right node's log and never unwinds through
 * the core.
 */
#include <stdio.h>
#include <string.h>

#include "lrumor.h"

void lrumor_hooks_init(lrumor_node_t *n) {
  const char *id = rumor_node_id(n->node);
  n->error_sink = LUA_NOREF;
  n->log_fn = LUA_NOREF;
  n->validator = LUA_NOREF;
  snprintf(n->log_where, sizeof n->log_where, "on_log of node '%s'", id);
  snprintf(n->validate_where, sizeof n->validate_where, "validator of node '%s'", id);
}

void lrumor_hooks_detach(lua_State *L, lrumor_node_t *n) {
  rumor_node_on_log(n->node, RUMOR_LOG_ERROR, NULL, NULL);
  rumor_node_set_validator(n->node, NULL, NULL);
  lrumor_unref(L, &n->log_fn);
  lrumor_unref(L, &n->validator);
  lrumor_unref(L, &n->error_sink);
}

int lrumor_node_invoke(lrumor_node_t *n, int fn, lrumor_push_fn push, lrumor_take_fn take,
                       int nresults, void *arg, const char *where) {
  lrumor_ctx_t *ctx = n->ctx;
  lrumor_node_t *saved = ctx->sink;
  int rc;
  ctx->sink = n;
  rc = lrumor_invoke_take(ctx, fn, push, take, nresults, arg, where);
  ctx->sink = saved;
  if (rc != 0 && ctx->L != NULL)
    n->callback_errors++;
  return rc;
}

/* ---- error sink ---------------------------------------------------------- */

/* n:set_error_sink(fn or nil): fn(message, where) gets the errors of this
 * node's callbacks instead of the process-wide handler. */
static int node_m_set_error_sink(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  lrumor_setref(L, &n->error_sink, 2);
  return 0;
}

/* ---- log ----------------------------------------------------------------- */

typedef struct log_line {
  int level;
  const char *message;
  size_t len;
} log_line_t;

static int push_log(lua_State *L, void *arg) {
  const log_line_t *l = (const log_line_t *)arg;
  lua_pushstring(L, rumor_log_level_name(l->level));
  lua_pushlstring(L, l->message, l->len);
  return 2;
}

static void log_cb(rumor_node_t *node, int level, const char *message, size_t len, void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  log_line_t l = {level, message, len};
  (void)node;
  (void)lrumor_node_invoke(n, n->log_fn, push_log, NULL, 0, &l, n->log_where);
}

/* n:on_log(fn or nil [, min_level]): fn(level_name, message) for every
 * core line of at least min_level ("debug", "info", "warn" (default),
 * "error"). */
static int node_m_on_log(lua_State *L) {
  static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
  lrumor_node_t *n = lrumor_check_node(L);
  int level;
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  level = luaL_checkoption(L, 3, "warn", levels);
  lrumor_setref(L, &n->log_fn, 2);
  if (n->log_fn == LUA_NOREF)
    rumor_node_on_log(n->node, RUMOR_LOG_ERROR, NULL, NULL);
  else
    rumor_node_on_log(n->node, level, log_cb, n);
  return 0;
}

/* ---- validator ----------------------------------------------------------- */

typedef struct validation {
  const rumor_update_t *e;
  lrumor_node_t *n;
  int ok;
} validation_t;

/* fn(member, key, value, map_key, deleted, seq): value nil when deleted. */
static int push_entry_view(lua_State *L, void *arg) {
  const rumor_update_t *e = ((const validation_t *)arg)->e;
  lua_pushlstring(L, e->member, e->member_len);
  lua_pushlstring(L, e->key, e->key_len);
  if (e->deleted)
    lua_pushnil(L);
  else
    lua_pushlstring(L, (const char *)e->value, e->value_len);
  if (e->map_key != NULL)
    lua_pushlstring(L, e->map_key, e->map_key_len);
  else
    lua_pushnil(L);
  lua_pushboolean(L, e->deleted);
  lua_pushinteger(L, (lua_Integer)e->seq);
  return 6;
}

/* ok [, reason]: a true ok accepts; false or nil rejects, with reason (a
 * string) or without; anything else is a mistake, which rejects. */
static void take_verdict(lua_State *L, void *arg) {
  validation_t *v = (validation_t *)arg;
  int t = lua_type(L, -2);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_error(L, "rumor: validate: the validator returned %s, expected true, or false and a reason",
               luaL_typename(L, -2));
  v->ok = lua_toboolean(L, -2);
  v->n->reject_reason[0] = '\0';
  if (!v->ok && lua_type(L, -1) == LUA_TSTRING)
    snprintf(v->n->reject_reason, sizeof v->n->reject_reason, "%s", lua_tostring(L, -1));
}

/* An error in the validator rejects the entry: what it could not judge is
 * not taken in. */
static int validate_cb(rumor_node_t *node, const rumor_update_t *e, const char **reason,
                       void *arg) {
  lrumor_node_t *n = (lrumor_node_t *)arg;
  validation_t v = {e, n, 0};
  int rc;
  (void)node;
  if (n->closed)
    return 0;
  n->judging = 1;
  rc = lrumor_node_invoke(n, n->validator, push_entry_view, take_verdict, 2, &v, n->validate_where);
  n->judging = 0;
  if (rc != 0) {
    *reason = "the validator raised an error";
    return 1;
  }
  if (v.ok)
    return 0;
  *reason = n->reject_reason;
  return 1;
}

/* n:set_validator(fn or nil) */
static int node_m_set_validator(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  lrumor_setref(L, &n->validator, 2);
  rumor_node_set_validator(n->node, n->validator == LUA_NOREF ? NULL : validate_cb, n);
  return 0;
}

/* ---- one member ---------------------------------------------------------- */

/* n:member(id): its record, or nil when the member is unknown. */
static int node_m_member(lua_State *L) {
  lrumor_node_t *n = lrumor_check_node(L);
  size_t len;
  const char *id = luaL_checklstring(L, 2, &len);
  rumor_member_info_t info;
  memset(&info, 0, sizeof info);
  if (rumor_node_member_find(n->node, id, len, &info) != 0 || info.id == NULL) {
    lua_pushnil(L);
    return 1;
  }
  info.address[sizeof info.address - 1] = '\0';
  lrumor_push_member(L, &info);
  return 1;
}

static const luaL_Reg hook_methods[] = {
  {"set_error_sink", node_m_set_error_sink},
  {"on_log", node_m_on_log},
  {"set_validator", node_m_set_validator},
  {"member", node_m_member},
  {NULL, NULL}
};

/* Adds the methods above to the node metatable made by lrumor_node_open. */
void lrumor_hooks_open(lua_State *L) {
  luaL_getmetatable(L, LRUMOR_NODE_MT);
  luaL_setfuncs(L, hook_methods, 0);
  lua_pop(L, 1);
}

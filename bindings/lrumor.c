/* lrumor.c: luaopen_rumor_core and the per-state loop context: core.run,
 * core.now, core.hrtime_ms, the error handler, and lrumor_invoke, the one
 * protected-call wrapper every Lua callback goes through.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "rumor.h"
#include "lrumor.h"

lrumor_ctx_t *lrumor_ctx(lua_State *L) {
  return (lrumor_ctx_t *)lua_touserdata(L, lua_upvalueindex(1));
}

lua_State *lrumor_enter(lrumor_ctx_t *ctx, lua_State *L) {
  lua_State *prev = ctx->L;
  ctx->L = L;
  return prev;
}

void lrumor_leave(lrumor_ctx_t *ctx, lua_State *prev) {
  ctx->L = prev;
}

void lrumor_unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL)
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

void lrumor_setref(lua_State *L, int *ref, int idx) {
  idx = lua_absindex(L, idx);
  lrumor_unref(L, ref);
  if (!lua_isnoneornil(L, idx)) {
    lua_pushvalue(L, idx);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
}

int lrumor_fail(lua_State *L, const char *name, const char *message) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", name, message);
  lua_pushstring(L, name);
  return 3;
}

int lrumor_fail_uv(lua_State *L, int status) {
  return lrumor_fail(L, uv_err_name(status), uv_strerror(status));
}

void lrumor_newclass(lua_State *L, const char *tname, const luaL_Reg *methods) {
  luaL_newmetatable(L, tname);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* ---- protected calls ---------------------------------------------------- */

/* Message handler: turns the error into a string with a traceback. */
static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

typedef struct invoke_args {
  int fn;
  lrumor_push_fn push;
  lrumor_take_fn take;
  int nresults;
  void *arg;
  const char *where;
} invoke_args_t;

/* Runs protected: everything that may allocate (and so raise) happens here,
 * never between libuv and lua_pcall. */
static int invoke_trampoline(lua_State *L) {
  invoke_args_t *a = (invoke_args_t *)lua_touserdata(L, 1);
  int n = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->fn);
  if (a->push != NULL)
    n = a->push(L, a->arg);
  if (a->take == NULL) {
    lua_call(L, n, 0);
    return 0;
  }
  lua_call(L, n, a->nresults);
  a->take(L, a->arg);
  return 0;
}

static int report_trampoline(lua_State *L) {
  /* 1: message, 2: invoke_args_t*, 3: handler */
  invoke_args_t *a = (invoke_args_t *)lua_touserdata(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 1);
  lua_pushstring(L, a->where);
  lua_call(L, 2, 0);
  return 0;
}

static const char *errstr(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "(non-string error)";
}

/* The error message is on top of L; count it and hand it to the handler. */
static void report(lrumor_ctx_t *ctx, lua_State *L, invoke_args_t *a) {
  int msg = lua_gettop(L);
  int handler = ctx->sink != NULL && ctx->sink->error_sink != LUA_NOREF ? ctx->sink->error_sink
                                                                         : ctx->error_handler;
  ctx->callback_errors++;
  if (handler != LUA_NOREF && lua_checkstack(L, 6)) {
    lua_pushcfunction(L, report_trampoline);
    lua_pushvalue(L, msg);
    lua_pushlightuserdata(L, a);
    lua_rawgeti(L, LUA_REGISTRYINDEX, handler);
    if (lua_pcall(L, 3, 0, 0) == LUA_OK)
      return;
    fprintf(stderr, "rumor: error in the error handler: %s\n", errstr(L, -1));
  }
  fprintf(stderr, "rumor: error in %s: %s\n", a->where, errstr(L, msg));
  fflush(stderr);
}

int lrumor_invoke(lrumor_ctx_t *ctx, int fn, lrumor_push_fn push, void *arg,
                  const char *where) {
  return lrumor_invoke_take(ctx, fn, push, NULL, 0, arg, where);
}

int lrumor_invoke_take(lrumor_ctx_t *ctx, int fn, lrumor_push_fn push, lrumor_take_fn take,
                       int nresults, void *arg, const char *where) {
  lua_State *L = ctx->L;
  invoke_args_t a;
  int base, status;
  if (L == NULL || fn == LUA_NOREF || fn == LUA_REFNIL)
    return L == NULL ? -1 : 0;
  a.fn = fn;
  a.push = push;
  a.take = take;
  a.nresults = nresults;
  a.arg = arg;
  a.where = where;
  if (!lua_checkstack(L, 8 + nresults)) {
    ctx->callback_errors++;
    fprintf(stderr, "rumor: error in %s: Lua stack overflow\n", where);
    return -1;
  }
  base = lua_gettop(L);
  lua_pushcfunction(L, msgh);
  lua_pushcfunction(L, invoke_trampoline);
  lua_pushlightuserdata(L, &a);
  status = lua_pcall(L, 1, 0, base + 1);
  if (status != LUA_OK)
    report(ctx, L, &a);
  lua_settop(L, base);
  return status == LUA_OK ? 0 : -1;
}

/* ---- loop functions ----------------------------------------------------- */

static int l_run(lua_State *L) {
  static const char *const names[] = {"default", "once", "nowait", NULL};
  static const uv_run_mode modes[] = {UV_RUN_DEFAULT, UV_RUN_ONCE, UV_RUN_NOWAIT};
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  uv_run_mode mode = modes[luaL_checkoption(L, 1, "default", names)];
  lua_State *prev;
  int r;
  if (ctx->running)
    return luaL_error(L, "rumor: core.run: the loop is already running (not reentrant)");
  ctx->running = 1;
  prev = lrumor_enter(ctx, L);
  r = uv_run(&ctx->loop, mode);
  lrumor_leave(ctx, prev);
  ctx->running = 0;
  lua_pushboolean(L, r != 0);
  return 1;
}

static int l_stop(lua_State *L) {
  uv_stop(&lrumor_ctx(L)->loop);
  return 0;
}

static int l_now(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  uv_update_time(&ctx->loop);
  lua_pushinteger(L, (lua_Integer)uv_now(&ctx->loop));
  return 1;
}

static int l_hrtime_ms(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e6);
  return 1;
}

static int l_set_error_handler(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  if (!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TFUNCTION);
  lrumor_setref(L, &ctx->error_handler, 1);
  return 0;
}

static int l_callback_errors(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lrumor_ctx(L)->callback_errors);
  return 1;
}

static int l_strerror(lua_State *L) {
  int code = (int)luaL_checkinteger(L, 1);
  lua_pushstring(L, rumor_strerror(code));
  lua_pushstring(L, rumor_err_name(code));
  return 2;
}

/* ---- context lifetime --------------------------------------------------- */

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Runs at lua_close, after every object created later (nodes, timers,
 * processes) was finalized and asked its handles to close. */
static int ctx_gc(lua_State *L) {
  lrumor_ctx_t *ctx = (lrumor_ctx_t *)luaL_checkudata(L, 1, LRUMOR_CTX_MT);
  int tries;
  if (ctx->closed)
    return 0;
  ctx->L = NULL; /* no Lua callback may run from here on */
  lrumor_unref(L, &ctx->error_handler);
  uv_walk(&ctx->loop, close_walk_cb, NULL);
  for (tries = 0; tries < 16; tries++) {
    uv_run(&ctx->loop, UV_RUN_NOWAIT);
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&ctx->loop) == 0)
      break;
    uv_walk(&ctx->loop, close_walk_cb, NULL);
  }
  ctx->closed = 1;
  return 0;
}

/* Returns the context of L, creating it on first use. */
static lrumor_ctx_t *ctx_get(lua_State *L) {
  lrumor_ctx_t *ctx;
  int rc;
  if (lua_getfield(L, LUA_REGISTRYINDEX, LRUMOR_CTX_KEY) == LUA_TUSERDATA)
    return (lrumor_ctx_t *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  ctx = (lrumor_ctx_t *)lua_newuserdatauv(L, sizeof *ctx, 0);
  memset(ctx, 0, sizeof *ctx);
  ctx->error_handler = LUA_NOREF;
  ctx->sink = NULL;
  rc = uv_loop_init(&ctx->loop);
  if (rc != 0) {
    luaL_error(L, "rumor: cannot create the loop: %s", uv_strerror(rc));
    return NULL;
  }
  luaL_newmetatable(L, LRUMOR_CTX_MT);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, LRUMOR_CTX_KEY);
  return ctx;
}

/* A child that died before reading its stdin must not kill us with SIGPIPE;
 * write errors come back as EPIPE instead. Only replaces the default action,
 * so a host that installed its own handler keeps it. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
  }
}

static const luaL_Reg core_funcs[] = {
  {"run", l_run},
  {"stop", l_stop},
  {"now", l_now},
  {"hrtime_ms", l_hrtime_ms},
  {"set_error_handler", l_set_error_handler},
  {"callback_errors", l_callback_errors},
  {"strerror", l_strerror},
  {"timer", lrumor_timer_new},
  {"node", lrumor_node_new},
  {"sim", lrumor_sim_new},
  {"spawn", lrumor_spawn},
  {"read_lines", lrumor_read_lines},
  {"write", lrumor_write},
  {NULL, NULL}
};

int luaopen_rumor_core(lua_State *L);

int luaopen_rumor_core(lua_State *L) {
  ignore_sigpipe();
  lrumor_timer_open(L);
  lrumor_node_open(L);
  lrumor_sim_open(L);
  lrumor_process_open(L);
  lrumor_reader_open(L);
  ctx_get(L); /* the context, at -1 */
  luaL_newlibtable(L, core_funcs);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, core_funcs, 1);
  lrumor_embed_register(L);
  lrumor_keyring_register(L);
  lua_pushliteral(L, RUMOR_VERSION_STRING);
  lua_setfield(L, -2, "version");
  return 1;
}

/* lembed.c: what another event loop needs to host rumor's loop (rumor.luv
 * uses it to let an application's luv loop drive rumor's): the loop's backend
 * fd, how long the loop may sleep, whether it has work left, and a require
 * that opens the host library on the main thread. The first three are the
 * embedding recipe libuv documents for uv_backend_fd/uv_backend_timeout: poll
 * the fd for readability in the host, wake after the timeout, and run this
 * loop with UV_RUN_NOWAIT (core.run("nowait")) whenever either happens.
 *
 * Ownership: nothing is allocated here; the loop functions read the loop of
 * the per-state context (lrumor_ctx_t, upvalue 1), which owns it; modules
 * loaded by core.require_main are owned by the registry until lua_close.
 */
#include "lrumor.h"

/* core.backend_fd() -> integer fd (the epoll/kqueue fd on Linux/BSD), or
 * nil, "ENOSYS: ...", "ENOSYS" where libuv has none to offer (Windows). */
static int l_backend_fd(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  int fd = uv_backend_fd(&ctx->loop);
  if (fd < 0)
    return lrumor_fail(L, "ENOSYS", "this platform's libuv has no backend fd to poll");
  lua_pushinteger(L, fd);
  return 1;
}

/* core.backend_timeout() -> ms until the loop's next timer is due, 0 when
 * it has work to do at once (pending callbacks, idle handles, closing
 * handles), -1 when only I/O can wake it. The loop's clock is refreshed
 * first: between two runs it stands still, and a stale clock would make a
 * timer look due later than it is. Meaningful only while core.alive(). */
static int l_backend_timeout(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  uv_update_time(&ctx->loop);
  lua_pushinteger(L, uv_backend_timeout(&ctx->loop));
  return 1;
}

/* core.alive() -> true while the loop has referenced active handles or
 * requests, or handles still closing: what core.run("default") waits for. */
static int l_alive(lua_State *L) {
  lua_pushboolean(L, uv_loop_alive(&lrumor_ctx(L)->loop) != 0);
  return 1;
}

/* Registry key prefix under which core.require_main keeps what it loaded. */
#define REQUIRE_MAIN_KEY "rumor.core.require_main:"

/* core.require_main(name) -> require(name), run on the main thread and kept
 * for the life of the state. A host library such as luv keeps the lua_State
 * it was opened on and runs every callback there: opened inside a coroutine,
 * it would later call into a suspended or dead thread; the main thread lives
 * as long as the state. And luv frees its loop when its module table is
 * collected while still pointing at it (a later require reuses the freed
 * loop), so the table is anchored in the registry: dropping the module from
 * package.loaded (busted's insulation does) must not free the loop.
 * Raises what require raised. */
static int l_require_main(lua_State *L) {
  lua_State *main;
  const char *name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_pushfstring(L, REQUIRE_MAIN_KEY "%s", name);      /* 2: the anchor's key */
  if (lua_rawget(L, LUA_REGISTRYINDEX) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (main == L) {
    lua_getglobal(L, "require");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
  } else {
    if (!lua_checkstack(main, 4))
      return luaL_error(L, "rumor: core.require_main: the main thread's stack is full");
    lua_getglobal(main, "require");
    lua_pushstring(main, name);
    if (lua_pcall(main, 1, 1, 0) != LUA_OK) {
      lua_xmove(main, L, 1); /* the error value */
      return lua_error(L);
    }
    lua_xmove(main, L, 1);
  }
  lua_pushfstring(L, REQUIRE_MAIN_KEY "%s", name);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return 1;
}

static const luaL_Reg embed_funcs[] = {
  {"require_main", l_require_main},
  {"backend_fd", l_backend_fd},
  {"backend_timeout", l_backend_timeout},
  {"alive", l_alive},
  {NULL, NULL}
};

/* Adds the functions above to the module table at -1; the context is at -2. */
void lrumor_embed_register(lua_State *L) {
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, embed_funcs, 1);
}

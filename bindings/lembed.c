/* lembed.c: what another event loop needs to host rumor's loop (rumor.luv
 * uses it to let an application's luv loop drive rumor's): the loop's backend
 * fd, how long the loop may sleep, and whether it has work left. This is the
 * embedding recipe libuv documents for uv_backend_fd/uv_backend_timeout: poll
 * the fd for readability in the host, wake after the timeout, and run this
 * loop with UV_RUN_NOWAIT (core.run("nowait")) whenever either happens.
 *
 * Ownership: nothing is allocated here; every function reads the loop of the
 * per-state context (lrumor_ctx_t, upvalue 1), which owns it.
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

static const luaL_Reg embed_funcs[] = {
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

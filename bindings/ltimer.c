/* ltimer.c: core.timer(delay_ms, repeat_ms, fn) and the timer userdata.
 *
 * The uv_timer_t lives in a malloc'd lrumor_timer_t freed in the close
 * callback. While the timer is active it pins its userdata with a registry
 * ref, so a timer nobody holds still fires; :stop() (or the end of a one-shot)
 * releases the function, unpins and closes the handle.
 */
#include <stdlib.h>

#include "lrumor.h"

typedef struct lrumor_timer lrumor_timer_t;

typedef struct timer_ud {
  lrumor_timer_t *t; /* NULL once stopped */
} timer_ud_t;

struct lrumor_timer {
  uv_timer_t handle;
  lrumor_ctx_t *ctx;
  timer_ud_t *ud;
  int fn;       /* registry ref of the callback */
  int self;     /* registry ref pinning the userdata */
  int stopped;
};

static void timer_close_cb(uv_handle_t *h) {
  free(h->data);
}

/* Stops and releases t. L is used only for the unrefs (may be NULL at teardown). */
static void timer_stop(lua_State *L, lrumor_timer_t *t) {
  if (t->stopped)
    return;
  t->stopped = 1;
  if (t->ud != NULL)
    t->ud->t = NULL;
  t->ud = NULL;
  if (L != NULL) {
    lrumor_unref(L, &t->fn);
    lrumor_unref(L, &t->self);
  }
  uv_close((uv_handle_t *)&t->handle, timer_close_cb);
}

static void timer_cb(uv_timer_t *h) {
  lrumor_timer_t *t = (lrumor_timer_t *)h->data;
  lrumor_invoke(t->ctx, t->fn, NULL, NULL, "timer callback");
  if (!t->stopped && uv_timer_get_repeat(h) == 0)
    timer_stop(t->ctx->L, t);
}

int lrumor_timer_new(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  lua_Integer delay = luaL_checkinteger(L, 1);
  lua_Integer repeat = luaL_optinteger(L, 2, 0);
  timer_ud_t *ud;
  lrumor_timer_t *t;
  int rc;
  luaL_argcheck(L, delay >= 0, 1, "must be >= 0");
  luaL_argcheck(L, repeat >= 0, 2, "must be >= 0");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  ud = (timer_ud_t *)lua_newuserdatauv(L, sizeof *ud, 0);
  ud->t = NULL;
  luaL_setmetatable(L, LRUMOR_TIMER_MT);
  t = (lrumor_timer_t *)calloc(1, sizeof *t);
  if (t == NULL)
    return luaL_error(L, "rumor: out of memory");
  rc = uv_timer_init(&ctx->loop, &t->handle);
  if (rc != 0) {
    free(t);
    return lrumor_fail_uv(L, rc);
  }
  t->handle.data = t;
  t->ctx = ctx;
  t->fn = LUA_NOREF;
  t->self = LUA_NOREF;
  t->ud = ud;
  ud->t = t;
  /* From here t is reachable from ud: an error below is cleaned up by __gc. */
  lrumor_setref(L, &t->fn, 3);
  lrumor_setref(L, &t->self, -1);
  rc = uv_timer_start(&t->handle, timer_cb, (uint64_t)delay, (uint64_t)repeat);
  if (rc != 0) {
    timer_stop(L, t);
    return lrumor_fail_uv(L, rc);
  }
  return 1;
}

static int timer_m_stop(lua_State *L) {
  timer_ud_t *ud = (timer_ud_t *)luaL_checkudata(L, 1, LRUMOR_TIMER_MT);
  if (ud->t != NULL)
    timer_stop(L, ud->t);
  return 0;
}

static int timer_m_active(lua_State *L) {
  timer_ud_t *ud = (timer_ud_t *)luaL_checkudata(L, 1, LRUMOR_TIMER_MT);
  lua_pushboolean(L, ud->t != NULL);
  return 1;
}

static const luaL_Reg timer_methods[] = {
  {"stop", timer_m_stop},
  {"active", timer_m_active},
  {"__gc", timer_m_stop},
  {"__close", timer_m_stop},
  {NULL, NULL}
};

void lrumor_timer_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_TIMER_MT, timer_methods);
}

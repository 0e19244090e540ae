/* lsim.c: core.sim(cfg), a simulated world (core/src/sim.h) as a userdata,
 * and the nodes it hosts, which are the same node userdata as core.node's.
 *
 * Ownership: the world owns its core nodes (rumor__sim_free closes what is
 * left of them). It also keeps every node userdata it made in a table
 * (a registry ref), so that closing the world first closes each of them the
 * way n:close() does: their Lua callbacks are dropped and the userdata then
 * reads as closed ("node is closed") instead of pointing at a freed node.
 * A node closed on its own before leaves the world (the simulated io forgets
 * it), so the world never closes it twice.
 *
 * The nodes have no uv loop: time is the world's, and their callbacks run
 * synchronously inside w:step() and w:run_until(t), on the calling thread,
 * through the usual per-node protected call and error sink.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrumor.h"
#include "sim.h"

#define LRUMOR_SIM_MT "rumor.core.sim"

typedef struct sim_ud {
  rumor_sim *sim;     /* NULL once closed */
  lrumor_ctx_t *ctx;
  int nodes;          /* registry ref: { [i] = node userdata of node i - 1 } */
  int stepping;       /* inside step/run_until: the world must not be freed */
} sim_ud_t;

static sim_ud_t *check_world(lua_State *L) {
  sim_ud_t *w = (sim_ud_t *)luaL_checkudata(L, 1, LRUMOR_SIM_MT);
  if (w->sim == NULL)
    luaL_error(L, "rumor: sim: the world is closed");
  return w;
}

/* ---- core.sim(cfg) --------------------------------------------------------- */

static lua_Integer field_integer(lua_State *L, const char *name, lua_Integer min,
                                 lua_Integer max, lua_Integer dflt) {
  int isint = 0;
  lua_Integer v;
  if (lua_getfield(L, 1, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  v = lua_tointegerx(L, -1, &isint);
  if (!isint || lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "rumor: sim: field '%s': expected an integer, got %s", name,
               luaL_typename(L, -1));
  if (v < min || v > max)
    luaL_error(L, "rumor: sim: field '%s': %I out of range", name, v);
  lua_pop(L, 1);
  return v;
}

static double field_probability(lua_State *L, const char *name) {
  double v = 0;
  int t = lua_getfield(L, 1, name);
  if (t != LUA_TNIL && t != LUA_TNUMBER)
    luaL_error(L, "rumor: sim: field '%s': expected a number, got %s", name,
               luaL_typename(L, -1));
  if (t == LUA_TNUMBER)
    v = (double)lua_tonumber(L, -1);
  if (!(v >= 0 && v <= 1))
    luaL_error(L, "rumor: sim: field '%s': expected a probability in [0, 1]", name);
  lua_pop(L, 1);
  return v;
}

/* core.sim{ seed, latency_min_ms, latency_max_ms, loss, duplicate }: every
 * field optional (seed 0, latency 1..20 ms, no loss, no duplicates). */
int lrumor_sim_new(lua_State *L) {
  rumor_sim_config cfg;
  sim_ud_t *w;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(&cfg, 0, sizeof cfg);
  cfg.seed = (uint64_t)field_integer(L, "seed", LUA_MININTEGER, LUA_MAXINTEGER, 0);
  cfg.latency_min_ms = (uint32_t)field_integer(L, "latency_min_ms", 0, UINT32_MAX, 1);
  cfg.latency_max_ms = (uint32_t)field_integer(L, "latency_max_ms", 0, UINT32_MAX, 20);
  if (cfg.latency_min_ms > cfg.latency_max_ms)
    return luaL_error(L, "rumor: sim: field 'latency_min_ms': above latency_max_ms");
  cfg.loss = field_probability(L, "loss");
  cfg.duplicate = field_probability(L, "duplicate");
  w = (sim_ud_t *)lua_newuserdatauv(L, sizeof *w, 0);
  w->sim = NULL;
  w->ctx = lrumor_ctx(L);
  w->nodes = LUA_NOREF;
  w->stepping = 0;
  luaL_setmetatable(L, LRUMOR_SIM_MT);
  lua_newtable(L);
  w->nodes = luaL_ref(L, LUA_REGISTRYINDEX);
  rc = rumor__sim_new(&cfg, &w->sim);
  if (rc != 0)
    return luaL_error(L, "rumor: sim: %s", rumor_strerror(rc));
  return 1;
}

/* ---- nodes ------------------------------------------------------------------ */

static int create_in_world(void *arg, const rumor_config_t *cfg, rumor_node_t **out,
                           rumor_error_t *err) {
  return rumor__sim_add((rumor_sim *)arg, cfg, out, err);
}

/* Runs lrumor_node_create in a frame of its own (config at index 1, the
 * context as upvalue 1 and the world as upvalue 2): the caller's frame keeps
 * the world userdata alive meanwhile. */
static int add_trampoline(lua_State *L) {
  return lrumor_node_create(L, create_in_world, lua_touserdata(L, lua_upvalueindex(2)));
}

/* w:add(node_cfg) -> node userdata: node number w:count() (its address is
 * w:address(w:count() + 1) before the call; its bind is ignored). Not started. */
static int sim_m_add(lua_State *L) {
  sim_ud_t *w = check_world(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushlightuserdata(L, w->ctx);
  lua_pushlightuserdata(L, w->sim);
  lua_pushcclosure(L, add_trampoline, 2);
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1); /* raises for a bad config, with nothing added */
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->nodes);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (lua_Integer)rumor__sim_count(w->sim));
  lua_pop(L, 1);
  return 1;
}

static int sim_m_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rumor__sim_count(check_world(L)->sim));
  return 1;
}

/* w:address(i): the address node i (1-based) has or will have. */
static int sim_m_address(lua_State *L) {
  char buf[RUMOR_MAX_ADDR_STRLEN];
  lua_Integer i = luaL_checkinteger(L, 2);
  luaL_argcheck(L, i >= 1 && i <= 0xfffffe, 2, "node index must be in 1..16777214");
  rumor__sim_address((size_t)(i - 1), buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

/* ---- time ------------------------------------------------------------------- */

static int sim_m_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rumor__sim_now(check_world(L)->sim));
  return 1;
}

static sim_ud_t *enter_run(lua_State *L, lua_State **prev) {
  sim_ud_t *w = check_world(L);
  if (w->stepping)
    luaL_error(L, "rumor: sim: the world is already running (step and run_until are "
                  "not reentrant: not from inside a node's callback)");
  w->stepping = 1;
  *prev = lrumor_enter(w->ctx, L);
  return w;
}

static void leave_run(sim_ud_t *w, lua_State *prev) {
  lrumor_leave(w->ctx, prev);
  w->stepping = 0;
}

/* w:step() -> true when an event ran, false when none is queued. */
static int sim_m_step(lua_State *L) {
  lua_State *prev;
  sim_ud_t *w = enter_run(L, &prev);
  int ran = rumor__sim_step(w->sim);
  leave_run(w, prev);
  lua_pushboolean(L, ran);
  return 1;
}

/* w:run_until(t): runs every event due up to virtual time t, then sets the
 * clock to t (when later than now). */
static int sim_m_run_until(lua_State *L) {
  lua_State *prev;
  sim_ud_t *w;
  lua_Integer t = luaL_checkinteger(L, 2);
  luaL_argcheck(L, t >= 0, 2, "time must not be negative");
  w = enter_run(L, &prev);
  rumor__sim_run_until(w->sim, (uint64_t)t);
  leave_run(w, prev);
  return 0;
}

/* ---- faults and counters ---------------------------------------------------- */

/* w:partition({side_1, side_2, ...}) by node index (integers; nodes past the
 * list are on side 0); w:partition(nil) heals. */
static int sim_m_partition(lua_State *L) {
  sim_ud_t *w = check_world(L);
  lua_Integer i, n;
  int *side;
  int rc;
  if (lua_isnoneornil(L, 2)) {
    rc = rumor__sim_partition(w->sim, NULL, 0);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, 2);
    side = (int *)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *side, 0);
    for (i = 1; i <= n; i++) {
      int isint = 0;
      lua_Integer v;
      lua_rawgeti(L, 2, i);
      v = lua_tointegerx(L, -1, &isint);
      if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < INT32_MIN || v > INT32_MAX)
        return luaL_error(L, "rumor: sim: partition: side %I must be an integer, got %s", i,
                          luaL_typename(L, -1));
      side[i - 1] = (int)v;
      lua_pop(L, 1);
    }
    rc = rumor__sim_partition(w->sim, side, (size_t)n);
  }
  if (rc != 0)
    return luaL_error(L, "rumor: sim: partition: %s", rumor_strerror(rc));
  return 0;
}

static int sim_m_set_loss(lua_State *L) {
  sim_ud_t *w = check_world(L);
  lua_Number p = luaL_checknumber(L, 2);
  luaL_argcheck(L, p >= 0 && p <= 1, 2, "loss must be a probability in [0, 1]");
  rumor__sim_set_loss(w->sim, (double)p);
  return 0;
}

/* w:converge(): every node knows every other, as a converged cluster (sim.h). */
static int sim_m_converge(lua_State *L) {
  sim_ud_t *w = check_world(L);
  int rc = rumor__sim_converge(w->sim);
  if (rc == RUMOR_ESTATE)
    return luaL_error(L, "rumor: sim: converge: once per world, with every node started and "
                         "knowing no other yet");
  if (rc != 0) return luaL_error(L, "rumor: sim: converge: %s", rumor_strerror(rc));
  return 0;
}

/* w:trace() -> the trace hash as 16 hex digits (a Lua integer is signed). */
static int sim_m_trace(lua_State *L) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016" PRIx64, rumor__sim_trace(check_world(L)->sim));
  lua_pushstring(L, buf);
  return 1;
}

static int sim_m_stats(lua_State *L) {
  const rumor_sim_stats *st = rumor__sim_stats(check_world(L)->sim);
  static const char *const names[] = {"events", "datagrams", "bytes", "delivered", "lost",
                                      "duplicated", "cut", "frames", "frame_bytes"};
  const uint64_t v[] = {st->events, st->datagrams, st->bytes, st->delivered, st->lost,
                        st->duplicated, st->cut, st->frames, st->frame_bytes};
  size_t i;
  lua_createtable(L, 0, (int)(sizeof v / sizeof v[0]));
  for (i = 0; i < sizeof v / sizeof v[0]; i++) {
    lua_pushinteger(L, (lua_Integer)v[i]);
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}

/* ---- closing ---------------------------------------------------------------- */

/* Closes every node userdata of the world like n:close(), then the world. */
static int sim_m_close(lua_State *L) {
  sim_ud_t *w = (sim_ud_t *)luaL_checkudata(L, 1, LRUMOR_SIM_MT);
  lua_Integer i, n;
  lua_State *prev;
  if (w->sim == NULL)
    return 0;
  if (w->stepping)
    return luaL_error(L, "rumor: sim: close: not from inside a node's callback "
                         "(the world is running)");
  if (w->nodes != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->nodes);
    n = (lua_Integer)rumor__sim_count(w->sim);
    for (i = 1; i <= n; i++) {
      if (lua_rawgeti(L, -1, i) == LUA_TUSERDATA) {
        lua_pushcfunction(L, lrumor_node_close);
        lua_insert(L, -2);
        lua_call(L, 1, 0);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    lrumor_unref(L, &w->nodes);
  }
  prev = lrumor_enter(w->ctx, L);
  rumor__sim_free(w->sim); /* what is left: nodes whose userdata was never kept */
  lrumor_leave(w->ctx, prev);
  w->sim = NULL;
  return 0;
}

static int sim_m_tostring(lua_State *L) {
  sim_ud_t *w = (sim_ud_t *)luaL_checkudata(L, 1, LRUMOR_SIM_MT);
  if (w->sim == NULL)
    lua_pushliteral(L, "rumor.sim (closed)");
  else
    lua_pushfstring(L, "rumor.sim (%I nodes, t=%I ms)", (lua_Integer)rumor__sim_count(w->sim),
                    (lua_Integer)rumor__sim_now(w->sim));
  return 1;
}

static const luaL_Reg sim_methods[] = {
  {"add", sim_m_add},
  {"count", sim_m_count},
  {"address", sim_m_address},
  {"now", sim_m_now},
  {"step", sim_m_step},
  {"run_until", sim_m_run_until},
  {"partition", sim_m_partition},
  {"set_loss", sim_m_set_loss},
  {"trace", sim_m_trace},
  {"converge", sim_m_converge},
  {"stats", sim_m_stats},
  {"close", sim_m_close},
  {"__gc", sim_m_close},
  {"__close", sim_m_close},
  {"__tostring", sim_m_tostring},
  {NULL, NULL}
};

void lrumor_sim_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_SIM_MT, sim_methods);
}

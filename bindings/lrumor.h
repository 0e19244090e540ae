/* lrumor.h: internal declarations shared by the files of the Lua module
 * rumor.core (the C files of bindings/). Not installed; the Lua-visible API is described
 * in bindings/README.md.
 *
 * Ownership rules used throughout:
 * - One lrumor_ctx_t per Lua state, a full userdata anchored in the registry
 *   and passed to the module functions as upvalue 1. It owns the uv loop.
 * - Every libuv handle lives in malloc'd memory that is freed only in its
 *   close callback; the Lua userdata only points at it, so a collected
 *   userdata never frees memory that libuv still uses.
 * - Lua callbacks are registry refs, released when replaced or when their
 *   object stops; an active object pins its own userdata with a ref.
 */
#ifndef LRUMOR_H
#define LRUMOR_H

#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>
#include <uv.h>

#include "rumor.h"

#define LRUMOR_CTX_KEY    "rumor.core.context" /* registry key of the instance */
#define LRUMOR_CTX_MT     "rumor.core.ctx"
#define LRUMOR_NODE_MT    "rumor.core.node"
#define LRUMOR_TIMER_MT   "rumor.core.timer"
#define LRUMOR_PROCESS_MT "rumor.core.process"
#define LRUMOR_READER_MT  "rumor.core.reader"

typedef struct lrumor_ctx {
  uv_loop_t loop;
  lua_State *L;            /* thread on which callbacks run; NULL when none may run */
  int running;             /* inside uv_run (core.run is not reentrant) */
  int closed;              /* the loop has been torn down (__gc ran) */
  int error_handler;       /* registry ref, LUA_NOREF for the default */
  struct lrumor_node *sink; /* the node whose callback runs (lrumor_node_invoke), or
                               NULL: its error_sink, when set, gets the errors. A node
                               and not its ref, which its close from inside the
                               callback gives back (and Lua may hand out again). */
  uint64_t callback_errors;
} lrumor_ctx_t;

/* Pushes the callback's arguments (the function is already pushed) and
 * returns how many it pushed. Runs inside a protected call. */
typedef int (*lrumor_push_fn)(lua_State *L, void *arg);
/* Reads the results a callback returned (on top of the stack); runs inside
 * the same protected call, so it may raise to report bad results. */
typedef void (*lrumor_take_fn)(lua_State *L, void *arg);

/* lrumor.c */
lrumor_ctx_t *lrumor_ctx(lua_State *L); /* from upvalue 1 */
/* Calls the function behind registry ref fn on ctx->L with the arguments
 * push() provides, protected and with a traceback. Returns 0, or -1 after an
 * error was counted and reported (or when no Lua thread may run now). */
int lrumor_invoke(lrumor_ctx_t *ctx, int fn, lrumor_push_fn push, void *arg,
                  const char *where);
/* The same, keeping nresults results for take(L, arg); an error take raises
 * is counted and reported like one of the function. */
int lrumor_invoke_take(lrumor_ctx_t *ctx, int fn, lrumor_push_fn push, lrumor_take_fn take,
                       int nresults, void *arg, const char *where);
/* Makes L the thread for callbacks fired synchronously by a core call made
 * from a method; returns the previous one for lrumor_leave. */
lua_State *lrumor_enter(lrumor_ctx_t *ctx, lua_State *L);
void lrumor_leave(lrumor_ctx_t *ctx, lua_State *prev);
/* Replaces *ref with the value at idx (nil or none clears it). */
void lrumor_setref(lua_State *L, int *ref, int idx);
void lrumor_unref(lua_State *L, int *ref);
/* luv-style failure: pushes nil, "ENAME: message", "ENAME" and returns 3. */
int lrumor_fail(lua_State *L, const char *name, const char *message);
int lrumor_fail_uv(lua_State *L, int status);
/* Creates metatable tname with methods (and __index to itself). */
void lrumor_newclass(lua_State *L, const char *tname, const luaL_Reg *methods);

/* ltimer.c */
int lrumor_timer_new(lua_State *L);
void lrumor_timer_open(lua_State *L);

/* lnode.c: the node userdata. Its binding state is shared with lliveness.c;
 * lnode.c's header comment describes who owns what. */
typedef struct lrumor_wait lrumor_wait_t;
#define LRUMOR_WHERE_LEN (RUMOR_MAX_ID_LEN + 40)

typedef struct lrumor_node {
  rumor_node_t *node;
  lrumor_ctx_t *ctx;
  int closed;               /* n:close() ran: hooks stop calling the core */
  int on_update;            /* registry refs, LUA_NOREF when unset */
  int update_system;        /* on_update also receives system updates */
  int on_member;
  int stats_fn;             /* set_heartbeat_stats */
  int policy_fn;            /* set_block_policy */
  int error_sink;           /* fn(message, where) for errors of this node's callbacks */
  int log_fn;               /* fn(level, message) for the core's log lines */
  int validator;            /* fn(member, key, value, map_key, deleted, seq) -> ok, reason */
  int judging;              /* inside the validator: the core refuses changes */
  char reject_reason[RUMOR_MAX_BLOCK_DETAIL + 1]; /* the validator's last reason */
  uint64_t callback_errors; /* errors raised by this node's callbacks */
  lrumor_wait_t *waits;     /* pending n:await() and n:leave() calls */
  /* Where an error of each callback is reported from. */
  char where[LRUMOR_WHERE_LEN];
  char await_where[LRUMOR_WHERE_LEN];
  char leave_where[LRUMOR_WHERE_LEN];
  char member_where[LRUMOR_WHERE_LEN];
  char stats_where[LRUMOR_WHERE_LEN];
  char policy_where[LRUMOR_WHERE_LEN];
  char log_where[LRUMOR_WHERE_LEN];
  char validate_where[LRUMOR_WHERE_LEN];
} lrumor_node_t;

/* Calls one of n's callbacks like lrumor_invoke_take, with n's error sink in
 * force, and counts an error in n->callback_errors. */
int lrumor_node_invoke(lrumor_node_t *n, int fn, lrumor_push_fn push, lrumor_take_fn take,
                       int nresults, void *arg, const char *where);

int lrumor_node_new(lua_State *L);
/* Makes the core node of a config (core.node on the loop, a simulated
 * world's add): *out on success, else a rumor code with err filled. */
typedef int (*lrumor_create_fn)(void *arg, const rumor_config_t *cfg, rumor_node_t **out,
                                rumor_error_t *err);
/* What core.node does with the config table at stack index 1 (the stack
 * above it is dropped): reads it, creates the node with create(arg, ...),
 * and pushes its node userdata; raises on a bad config. */
int lrumor_node_create(lua_State *L, lrumor_create_fn create, void *arg);
/* n:close() of the node userdata at index 1 (idempotent): detaches its Lua
 * callbacks and closes the core node. */
int lrumor_node_close(lua_State *L);
void lrumor_node_open(lua_State *L);
/* The open node at stack index 1; raises for a closed one. */
lrumor_node_t *lrumor_check_node(lua_State *L);
/* luv-style failure for a rumor or libuv code. */
int lrumor_fail_code(lua_State *L, int code);
/* A source of strings: calls cb(s, len, cb_arg) for each; must not change
 * between two calls. */
typedef void (*lrumor_each_fn)(void *src, rumor_id_cb cb, void *cb_arg);
/* Pushes the sorted array of the distinct strings each() yields. */
void lrumor_push_sorted(lua_State *L, lrumor_each_fn each, void *src);

/* lhooks.c: the log hook, the validator and the error sink of a node */
void lrumor_hooks_open(lua_State *L);
void lrumor_hooks_init(lrumor_node_t *n);
/* Unhooks them and drops their refs (on close). */
void lrumor_hooks_detach(lua_State *L, lrumor_node_t *n);
/* Pushes the record of one member (members(), the policy's info, member()). */
void lrumor_push_member(lua_State *L, const rumor_member_info_t *info);

/* lkeyring.c: encryption: the secret/keyring config fields, the key
 * methods of a node, and core.keygen / core.seal */
/* Fills cfg->keyring from the config table at index 1 (leaves what it
 * needs on the stack, like the seeds). */
void lrumor_read_keyring(lua_State *L, rumor_config_t *cfg);
void lrumor_keyring_open(lua_State *L);
/* Adds keygen and seal to the module table at -1. */
void lrumor_keyring_register(lua_State *L);

/* lfault.c: set_fault and clear_faults (fault injection) */
void lrumor_fault_open(lua_State *L);

/* lliveness.c: members, blocks, member events, the round hook, topology */
void lrumor_liveness_open(lua_State *L);
void lrumor_liveness_init(lrumor_node_t *n);
/* Unhooks the node's liveness callbacks and drops their refs (on close). */
void lrumor_liveness_detach(lua_State *L, lrumor_node_t *n);

/* llines.c: line splitting, core.read_lines and core.write */
typedef struct lrumor_lines {
  char *buf;
  size_t len, cap;
} lrumor_lines_t;
/* Called per complete line; returns nonzero to stop splitting (the owner
 * was closed by the callback). */
typedef int (*lrumor_line_fn)(void *owner, const char *line, size_t len);
int lrumor_lines_feed(lrumor_lines_t *lb, const char *data, size_t len,
                      lrumor_line_fn fn, void *owner);
/* Delivers a pending partial line, if any. */
int lrumor_lines_flush(lrumor_lines_t *lb, lrumor_line_fn fn, void *owner);
void lrumor_lines_free(lrumor_lines_t *lb);
void lrumor_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
int lrumor_read_lines(lua_State *L);
int lrumor_write(lua_State *L);
void lrumor_reader_open(lua_State *L);

/* lembed.c: core.backend_fd, core.backend_timeout, core.alive. Call with
 * the module table at -1 and the context at -2. */
void lrumor_embed_register(lua_State *L);

/* lsim.c: core.sim(cfg), a simulated world (core/src/sim.h) */
int lrumor_sim_new(lua_State *L);
void lrumor_sim_open(lua_State *L);

/* lprocess.c */
int lrumor_spawn(lua_State *L);
void lrumor_process_open(lua_State *L);

#endif /* LRUMOR_H */

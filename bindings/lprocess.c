/* lprocess.c: core.spawn{...} and the process userdata (pid, write,
 * close_stdin, kill, alive).
 *
 * A process owns four handles (the process and three pipes) in one malloc'd
 * lrumor_proc_t, freed when the last of their close callbacks has run.
 * stdout and stderr are split into lines for on_line. on_exit runs once the
 * child has exited and both streams are finished: at exit, whatever the
 * child wrote is drained from the pipes first, so every line comes before
 * on_exit even if a grandchild keeps the pipes open.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lrumor.h"

#define DRAIN_LIMIT (16u << 20) /* bytes read from a pipe at exit, at most */

typedef struct lrumor_proc lrumor_proc_t;

typedef struct proc_ud {
  lrumor_proc_t *p; /* NULL once finished */
  int pid;
  int alive;
} proc_ud_t;

typedef struct proc_stream {
  uv_pipe_t pipe;
  lrumor_proc_t *p;
  const char *name; /* "stdout" or "stderr"; NULL for stdin */
  int reading;      /* stdout/stderr: not yet at EOF */
  int shut;         /* stdin: no more writes accepted */
  lrumor_lines_t lines;
} proc_stream_t;

struct lrumor_proc {
  uv_process_t proc;
  proc_stream_t io[3];
  lrumor_ctx_t *ctx;
  proc_ud_t *ud;
  int on_line, on_exit, self; /* registry refs */
  int open_handles;           /* handles whose close callback is pending */
  int exited, finished;
  int64_t exit_status;
  int term_signal;
};

/* ---- teardown ----------------------------------------------------------- */

static void proc_unhandle(lrumor_proc_t *p) {
  int i;
  if (--p->open_handles > 0)
    return;
  for (i = 0; i < 3; i++)
    lrumor_lines_free(&p->io[i].lines);
  free(p);
}

static void pipe_close_cb(uv_handle_t *h) {
  proc_unhandle(((proc_stream_t *)h->data)->p);
}

static void process_close_cb(uv_handle_t *h) {
  proc_unhandle((lrumor_proc_t *)h->data);
}

static void close_pipe(proc_stream_t *s) {
  s->reading = 0;
  s->shut = 1;
  if (!uv_is_closing((uv_handle_t *)&s->pipe))
    uv_close((uv_handle_t *)&s->pipe, pipe_close_cb);
}

/* Detaches p from Lua and closes its handles. L may be NULL at teardown. */
static void proc_release(lua_State *L, lrumor_proc_t *p) {
  int i;
  if (p->ud != NULL) {
    p->ud->p = NULL;
    p->ud->alive = 0;
    p->ud = NULL;
  }
  if (L != NULL) {
    lrumor_unref(L, &p->on_line);
    lrumor_unref(L, &p->on_exit);
    lrumor_unref(L, &p->self);
  }
  for (i = 0; i < 3; i++)
    close_pipe(&p->io[i]);
  if (!uv_is_closing((uv_handle_t *)&p->proc))
    uv_close((uv_handle_t *)&p->proc, process_close_cb);
}

/* ---- output and exit ---------------------------------------------------- */

typedef struct line_arg {
  const char *stream;
  const char *s;
  size_t len;
} line_arg_t;

static int push_line(lua_State *L, void *arg) {
  line_arg_t *a = (line_arg_t *)arg;
  lua_pushstring(L, a->stream);
  lua_pushlstring(L, a->s, a->len);
  return 2;
}

static int emit_line(void *owner, const char *line, size_t len) {
  proc_stream_t *s = (proc_stream_t *)owner;
  line_arg_t a;
  a.stream = s->name;
  a.s = line;
  a.len = len;
  lrumor_invoke(s->p->ctx, s->p->on_line, push_line, &a, "process on_line");
  return s->p->finished;
}

static int push_exit(lua_State *L, void *arg) {
  lrumor_proc_t *p = (lrumor_proc_t *)arg;
  lua_pushinteger(L, (lua_Integer)p->exit_status);
  lua_pushinteger(L, (lua_Integer)p->term_signal);
  return 2;
}

static void maybe_finish(lrumor_proc_t *p) {
  if (p->finished || !p->exited || p->io[1].reading || p->io[2].reading)
    return;
  p->finished = 1;
  if (p->ud != NULL)
    p->ud->alive = 0;
  lrumor_invoke(p->ctx, p->on_exit, push_exit, p, "process on_exit");
  proc_release(p->ctx->L, p);
}

static void stream_end(proc_stream_t *s) {
  if (!s->reading)
    return;
  s->reading = 0;
  uv_read_stop((uv_stream_t *)&s->pipe);
  lrumor_lines_flush(&s->lines, emit_line, s);
  close_pipe(s);
}

static void stream_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  proc_stream_t *s = (proc_stream_t *)st->data;
  if (nread > 0 && s->reading) {
    if (lrumor_lines_feed(&s->lines, buf->base, (size_t)nread, emit_line, s) < 0)
      stream_end(s);
  } else if (nread < 0) {
    stream_end(s);
  }
  free(buf->base);
  maybe_finish(s->p);
}

/* Reads what is left in the pipe without blocking (the fd is non-blocking). */
static void stream_drain(proc_stream_t *s) {
  uv_os_fd_t fd;
  char *buf;
  size_t total = 0;
  if (!s->reading || uv_fileno((uv_handle_t *)&s->pipe, &fd) != 0)
    return;
  buf = (char *)malloc(65536);
  while (buf != NULL && s->reading && total < DRAIN_LIMIT) {
    ssize_t n = read(fd, buf, 65536);
    if (n > 0) {
      total += (size_t)n;
      if (lrumor_lines_feed(&s->lines, buf, (size_t)n, emit_line, s) < 0)
        break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break; /* EOF, EAGAIN (a grandchild holds the pipe) or an error */
    }
  }
  free(buf);
}

static void exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal) {
  lrumor_proc_t *p = (lrumor_proc_t *)proc->data;
  int i;
  p->exited = 1;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  for (i = 1; i <= 2; i++) {
    stream_drain(&p->io[i]);
    stream_end(&p->io[i]);
  }
  maybe_finish(p);
}

/* ---- core.spawn --------------------------------------------------------- */

/* Builds a NULL-terminated array from the strings of the array at field
 * (plus first, if not NULL) as a userdata left on the stack. NULL if absent. */
static char **string_array(lua_State *L, const char *field, const char *first) {
  lua_Integer i, n;
  int off = first != NULL ? 1 : 0;
  char **v;
  int t = lua_getfield(L, 1, field);
  if (t == LUA_TNIL && first == NULL)
    return NULL;
  if (t != LUA_TNIL && t != LUA_TTABLE)
    luaL_error(L, "rumor: spawn: field '%s': expected an array of strings", field);
  n = t == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
  v = (char **)lua_newuserdatauv(L, (size_t)(n + off + 1) * sizeof *v, 0);
  if (first != NULL)
    v[0] = (char *)first;
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -2, i) != LUA_TSTRING)
      luaL_error(L, "rumor: spawn: field '%s': item %I is not a string", field, i);
    v[i - 1 + off] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1); /* kept alive by the table */
  }
  v[n + off] = NULL;
  return v;
}

static int opt_function(lua_State *L, const char *field) {
  int t = lua_getfield(L, 1, field);
  if (t != LUA_TNIL && t != LUA_TFUNCTION)
    luaL_error(L, "rumor: spawn: field '%s': expected a function", field);
  return lua_gettop(L);
}

int lrumor_spawn(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  proc_ud_t *ud;
  lrumor_proc_t *p;
  int i, rc, line_idx, exit_idx;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_checkstack(L, 16, NULL);
  memset(&opts, 0, sizeof opts);
  if (lua_getfield(L, 1, "file") != LUA_TSTRING)
    return luaL_error(L, "rumor: spawn: field 'file': expected a string");
  opts.file = lua_tostring(L, -1);
  opts.args = string_array(L, "args", opts.file);
  opts.env = string_array(L, "env", NULL);
  if (lua_getfield(L, 1, "cwd") == LUA_TSTRING)
    opts.cwd = lua_tostring(L, -1);
  else if (!lua_isnil(L, -1))
    return luaL_error(L, "rumor: spawn: field 'cwd': expected a string");
  line_idx = opt_function(L, "on_line");
  exit_idx = opt_function(L, "on_exit");

  ud = (proc_ud_t *)lua_newuserdatauv(L, sizeof *ud, 0);
  memset(ud, 0, sizeof *ud);
  luaL_setmetatable(L, LRUMOR_PROCESS_MT);
  p = (lrumor_proc_t *)calloc(1, sizeof *p);
  if (p == NULL)
    return luaL_error(L, "rumor: out of memory");
  p->ctx = ctx;
  p->on_line = p->on_exit = p->self = LUA_NOREF;
  p->proc.data = p;
  for (i = 0; i < 3; i++) {
    p->io[i].p = p;
    p->io[i].pipe.data = &p->io[i];
    uv_pipe_init(&ctx->loop, &p->io[i].pipe, 0); /* cannot fail on unix */
    p->open_handles++;
  }
  p->io[1].name = "stdout";
  p->io[2].name = "stderr";
  stdio[0].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = (uv_stream_t *)&p->io[0].pipe;
  for (i = 1; i <= 2; i++) {
    stdio[i].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[i].data.stream = (uv_stream_t *)&p->io[i].pipe;
  }
  opts.stdio = stdio;
  opts.stdio_count = 3;
  opts.exit_cb = exit_cb;
  rc = uv_spawn(&ctx->loop, &p->proc, &opts);
  p->open_handles++; /* the process handle is initialized even on failure */
  if (rc != 0) {
    p->finished = 1;
    proc_release(L, p);
    return lrumor_fail_uv(L, rc);
  }
  ud->p = p;
  ud->pid = p->proc.pid;
  ud->alive = 1;
  p->ud = ud;
  lrumor_setref(L, &p->on_line, line_idx);
  lrumor_setref(L, &p->on_exit, exit_idx);
  lrumor_setref(L, &p->self, -1);
  for (i = 1; i <= 2; i++) {
    p->io[i].reading = 1;
    if (uv_read_start((uv_stream_t *)&p->io[i].pipe, lrumor_alloc_cb, stream_read_cb) != 0)
      p->io[i].reading = 0;
  }
  return 1;
}

/* ---- methods ------------------------------------------------------------ */

static proc_ud_t *check_proc(lua_State *L) {
  return (proc_ud_t *)luaL_checkudata(L, 1, LRUMOR_PROCESS_MT);
}

static int proc_m_pid(lua_State *L) {
  lua_pushinteger(L, check_proc(L)->pid);
  return 1;
}

static int proc_m_alive(lua_State *L) {
  lua_pushboolean(L, check_proc(L)->alive);
  return 1;
}

typedef struct write_req {
  uv_write_t req;
  char data[1];
} write_req_t;

static void write_cb(uv_write_t *req, int status) {
  (void)status; /* a dead reader shows up as on_exit */
  free(req);
}

static int proc_m_write(lua_State *L) {
  proc_ud_t *ud = check_proc(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  write_req_t *w;
  uv_buf_t buf;
  int rc;
  if (ud->p == NULL || ud->p->io[0].shut)
    return lrumor_fail_uv(L, UV_EPIPE);
  w = (write_req_t *)malloc(sizeof *w + len);
  if (w == NULL)
    return lrumor_fail_uv(L, UV_ENOMEM);
  memcpy(w->data, s, len);
  buf = uv_buf_init(w->data, (unsigned int)len);
  rc = uv_write(&w->req, (uv_stream_t *)&ud->p->io[0].pipe, &buf, 1, write_cb);
  if (rc != 0) {
    free(w);
    return lrumor_fail_uv(L, rc);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  proc_stream_t *s = (proc_stream_t *)req->handle->data;
  (void)status;
  free(req);
  close_pipe(s);
}

static int proc_m_close_stdin(lua_State *L) {
  proc_ud_t *ud = check_proc(L);
  proc_stream_t *s;
  uv_shutdown_t *req;
  if (ud->p == NULL || ud->p->io[0].shut)
    return 0;
  s = &ud->p->io[0];
  s->shut = 1;
  /* Shut down after the pending writes, then close. */
  req = (uv_shutdown_t *)malloc(sizeof *req);
  if (req == NULL || uv_shutdown(req, (uv_stream_t *)&s->pipe, shutdown_cb) != 0) {
    free(req);
    close_pipe(s);
  }
  return 0;
}

static const struct {
  const char *name;
  int num;
} signals[] = {
  {"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT}, {"SIGKILL", SIGKILL},
  {"SIGTERM", SIGTERM}, {"SIGSTOP", SIGSTOP}, {"SIGCONT", SIGCONT}, {"SIGTSTP", SIGTSTP},
  {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM},
  {"SIGABRT", SIGABRT}, {"SIGCHLD", SIGCHLD},
};

static int check_signal(lua_State *L, int arg) {
  size_t i;
  const char *name;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, arg);
    luaL_argcheck(L, n >= 0 && n < 128, arg, "not a signal number");
    return (int)n;
  }
  if (lua_isnoneornil(L, arg))
    return SIGTERM;
  name = luaL_checkstring(L, arg);
  for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (strcmp(name, signals[i].name) == 0 || strcmp(name, signals[i].name + 3) == 0)
      return signals[i].num;
  return luaL_argerror(L, arg, lua_pushfstring(L, "unknown signal '%s'", name));
}

static int proc_m_kill(lua_State *L) {
  proc_ud_t *ud = check_proc(L);
  int sig = check_signal(L, 2);
  int rc;
  if (ud->p == NULL || ud->p->exited)
    return lrumor_fail_uv(L, UV_ESRCH);
  rc = uv_process_kill(&ud->p->proc, sig);
  if (rc != 0)
    return lrumor_fail_uv(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* Only reached for a running child at lua_close (a running process pins its
 * userdata): terminate it rather than leave an orphan behind. */
static int proc_m_gc(lua_State *L) {
  proc_ud_t *ud = check_proc(L);
  lrumor_proc_t *p = ud->p;
  if (p == NULL)
    return 0;
  if (!p->exited)
    uv_process_kill(&p->proc, SIGTERM);
  p->finished = 1;
  proc_release(L, p);
  return 0;
}

static const luaL_Reg proc_methods[] = {
  {"pid", proc_m_pid},
  {"alive", proc_m_alive},
  {"write", proc_m_write},
  {"close_stdin", proc_m_close_stdin},
  {"kill", proc_m_kill},
  {"__gc", proc_m_gc},
  {NULL, NULL}
};

void lrumor_process_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_PROCESS_MT, proc_methods);
}

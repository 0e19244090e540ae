/* llines.c: splitting byte streams into lines (shared with lprocess.c),
 * core.read_lines(fd, fn) with its reader userdata, and core.write(fd, s).
 *
 * read_lines picks the handle by uv_guess_handle: a pipe, a tty or a TCP
 * socket is read through libuv; a regular file (stdin redirected from a
 * file) is read with read(2) in chunks from a uv_idle_t, one chunk per loop
 * iteration, since libuv cannot poll files.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lrumor.h"

#define LINES_CHUNK 65536

/* ---- line buffer -------------------------------------------------------- */

static int lines_append(lrumor_lines_t *lb, const char *data, size_t len) {
  if (lb->len + len > lb->cap) {
    size_t cap = lb->cap ? lb->cap : 256;
    char *p;
    while (cap < lb->len + len)
      cap *= 2;
    p = (char *)realloc(lb->buf, cap);
    if (p == NULL)
      return -1;
    lb->buf = p;
    lb->cap = cap;
  }
  memcpy(lb->buf + lb->len, data, len);
  lb->len += len;
  return 0;
}

int lrumor_lines_feed(lrumor_lines_t *lb, const char *data, size_t len,
                      lrumor_line_fn fn, void *owner) {
  const char *end = data + len;
  while (data < end) {
    const char *nl = (const char *)memchr(data, '\n', (size_t)(end - data));
    size_t n;
    if (nl == NULL)
      return lines_append(lb, data, (size_t)(end - data));
    if (lb->len > 0) {
      /* Complete the buffered partial line. The buffer is emptied before the
       * callback; its memory stays put until the owner is freed. */
      if (lines_append(lb, data, (size_t)(nl - data)) != 0)
        return -1;
      n = lb->len;
      lb->len = 0;
      if (fn(owner, lb->buf, n))
        return 1;
    } else if (fn(owner, data, (size_t)(nl - data))) {
      return 1;
    }
    data = nl + 1;
  }
  return 0;
}

int lrumor_lines_flush(lrumor_lines_t *lb, lrumor_line_fn fn, void *owner) {
  size_t n = lb->len;
  if (n == 0)
    return 0;
  lb->len = 0;
  return fn(owner, lb->buf, n);
}

void lrumor_lines_free(lrumor_lines_t *lb) {
  free(lb->buf);
  lb->buf = NULL;
  lb->len = lb->cap = 0;
}

void lrumor_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  buf->base = (char *)malloc(LINES_CHUNK);
  buf->len = buf->base != NULL ? LINES_CHUNK : 0;
}

/* ---- core.read_lines ---------------------------------------------------- */

typedef struct lrumor_reader lrumor_reader_t;

typedef struct reader_ud {
  lrumor_reader_t *r; /* NULL once closed */
} reader_ud_t;

struct lrumor_reader {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
    uv_idle_t idle; /* regular files and character devices */
  } u;
  int is_file;
  int fd;
  lrumor_ctx_t *ctx;
  reader_ud_t *ud;
  int fn;   /* registry ref of fn(line) */
  int self; /* pins the userdata while reading */
  int closed;
  lrumor_lines_t lines;
};

static void reader_close_cb(uv_handle_t *h) {
  lrumor_reader_t *r = (lrumor_reader_t *)h->data;
  lrumor_lines_free(&r->lines);
  free(r);
}

static void reader_close(lua_State *L, lrumor_reader_t *r) {
  if (r->closed)
    return;
  r->closed = 1;
  if (r->ud != NULL)
    r->ud->r = NULL;
  r->ud = NULL;
  if (L != NULL) {
    lrumor_unref(L, &r->fn);
    lrumor_unref(L, &r->self);
  }
  uv_close(&r->u.handle, reader_close_cb);
}

typedef struct line_arg {
  const char *s;
  size_t len;
} line_arg_t;

static int push_line(lua_State *L, void *arg) {
  line_arg_t *a = (line_arg_t *)arg;
  lua_pushlstring(L, a->s, a->len);
  return 1;
}

static int push_end(lua_State *L, void *arg) {
  lua_pushnil(L);
  if (arg == NULL)
    return 1;
  lua_pushstring(L, (const char *)arg);
  return 2;
}

static int reader_line(void *owner, const char *line, size_t len) {
  lrumor_reader_t *r = (lrumor_reader_t *)owner;
  line_arg_t a;
  a.s = line;
  a.len = len;
  lrumor_invoke(r->ctx, r->fn, push_line, &a, "read_lines callback");
  return r->closed;
}

/* End of input (status 0) or a read error: the partial line, fn(nil), close. */
static void reader_finish(lrumor_reader_t *r, int status) {
  char msg[128];
  if (lrumor_lines_flush(&r->lines, reader_line, r) || r->closed)
    return;
  if (status != 0 && status != UV_EOF) {
    snprintf(msg, sizeof msg, "%s: %s", uv_err_name(status), uv_strerror(status));
    lrumor_invoke(r->ctx, r->fn, push_end, msg, "read_lines callback");
  } else {
    lrumor_invoke(r->ctx, r->fn, push_end, NULL, "read_lines callback");
  }
  reader_close(r->ctx->L, r);
}

static void reader_feed(lrumor_reader_t *r, const char *data, size_t len) {
  if (lrumor_lines_feed(&r->lines, data, len, reader_line, r) < 0 && !r->closed)
    reader_finish(r, UV_ENOMEM);
}

static void reader_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lrumor_reader_t *r = (lrumor_reader_t *)s->data;
  if (nread > 0 && !r->closed)
    reader_feed(r, buf->base, (size_t)nread);
  else if (nread < 0 && !r->closed)
    reader_finish(r, (int)nread);
  free(buf->base);
}

static void reader_idle_cb(uv_idle_t *h) {
  lrumor_reader_t *r = (lrumor_reader_t *)h->data;
  char *buf = (char *)malloc(LINES_CHUNK);
  ssize_t n;
  if (buf == NULL) {
    reader_finish(r, UV_ENOMEM);
    return;
  }
  n = read(r->fd, buf, LINES_CHUNK);
  if (n > 0)
    reader_feed(r, buf, (size_t)n);
  else if (n == 0)
    reader_finish(r, UV_EOF);
  else if (errno != EINTR && errno != EAGAIN)
    reader_finish(r, -errno);
  free(buf);
}

/* Opens the handle for fd. Returns 0, or a libuv error; when the handle was
 * initialized before the failure it is closed and r is freed by its close
 * callback (*owned set to 0), otherwise the caller frees r. */
static int reader_open(lrumor_ctx_t *ctx, lrumor_reader_t *r, int fd, int *owned) {
  int rc, inited = 0;
  *owned = 1;
  r->u.handle.data = r;
  switch (uv_guess_handle(fd)) {
  case UV_NAMED_PIPE:
    rc = uv_pipe_init(&ctx->loop, &r->u.pipe, 0);
    if (rc == 0) {
      inited = 1;
      rc = uv_pipe_open(&r->u.pipe, fd);
    }
    break;
  case UV_TTY:
    rc = uv_tty_init(&ctx->loop, &r->u.tty, fd, 1);
    break;
  case UV_TCP:
    rc = uv_tcp_init(&ctx->loop, &r->u.tcp);
    if (rc == 0) {
      inited = 1;
      rc = uv_tcp_open(&r->u.tcp, fd);
    }
    break;
  case UV_FILE:
    r->is_file = 1;
    rc = uv_idle_init(&ctx->loop, &r->u.idle);
    break;
  default:
    rc = UV_EINVAL;
    break;
  }
  r->u.handle.data = r;
  if (rc != 0 && inited) {
    r->closed = 1;
    *owned = 0;
    uv_close(&r->u.handle, reader_close_cb);
  }
  return rc;
}

int lrumor_read_lines(lua_State *L) {
  lrumor_ctx_t *ctx = lrumor_ctx(L);
  lua_Integer fd = luaL_checkinteger(L, 1);
  reader_ud_t *ud;
  lrumor_reader_t *r;
  int rc, owned;
  luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a file descriptor");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  ud = (reader_ud_t *)lua_newuserdatauv(L, sizeof *ud, 0);
  ud->r = NULL;
  luaL_setmetatable(L, LRUMOR_READER_MT);
  r = (lrumor_reader_t *)calloc(1, sizeof *r);
  if (r == NULL)
    return luaL_error(L, "rumor: out of memory");
  rc = reader_open(ctx, r, (int)fd, &owned);
  if (rc != 0) {
    if (owned)
      free(r);
    return lrumor_fail_uv(L, rc);
  }
  r->fd = (int)fd;
  r->ctx = ctx;
  r->fn = LUA_NOREF;
  r->self = LUA_NOREF;
  r->ud = ud;
  ud->r = r;
  lrumor_setref(L, &r->fn, 2);
  lrumor_setref(L, &r->self, -1);
  if (r->is_file)
    rc = uv_idle_start(&r->u.idle, reader_idle_cb);
  else
    rc = uv_read_start(&r->u.stream, lrumor_alloc_cb, reader_read_cb);
  if (rc != 0) {
    reader_close(L, r);
    return lrumor_fail_uv(L, rc);
  }
  return 1;
}

static int reader_m_close(lua_State *L) {
  reader_ud_t *ud = (reader_ud_t *)luaL_checkudata(L, 1, LRUMOR_READER_MT);
  if (ud->r != NULL)
    reader_close(L, ud->r);
  return 0;
}

static const luaL_Reg reader_methods[] = {
  {"close", reader_m_close},
  {"__gc", reader_m_close},
  {"__close", reader_m_close},
  {NULL, NULL}
};

void lrumor_reader_open(lua_State *L) {
  lrumor_newclass(L, LRUMOR_READER_MT, reader_methods);
}

/* ---- core.write --------------------------------------------------------- */

/* Blocking write of all of s; waits with poll(2) if fd is non-blocking. */
int lrumor_write(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a file descriptor");
  while (len > 0) {
    ssize_t n = write((int)fd, s, len);
    if (n >= 0) {
      s += n;
      len -= (size_t)n;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd p;
      p.fd = (int)fd;
      p.events = POLLOUT;
      p.revents = 0;
      if (poll(&p, 1, -1) < 0 && errno != EINTR)
        return lrumor_fail_uv(L, -errno);
    } else if (errno != EINTR) {
      return lrumor_fail_uv(L, -errno);
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* log.c: the node's log lines. A line is formatted only when a callback
 * wants its level, cleaned of control bytes, then queued with the update and member events, so it
 * reaches the callback in order with them and never in the middle of a
 * merge (the callback may change the node). */
#include <stdarg.h>
#include <stdio.h>

#include "node_int.h"

/* Longest line: a member id and a key (1 KiB each, at most) with some words
 * around them; longer lines are cut, never dropped. */
#define LOG_LINE_MAX 2560

const char *rumor_log_level_name(int level) {
  switch (level) {
  case RUMOR_LOG_DEBUG: return "debug";
  case RUMOR_LOG_INFO: return "info";
  case RUMOR_LOG_WARN: return "warn";
  case RUMOR_LOG_ERROR: return "error";
  default: return "";
  }
}

void rumor_node_on_log(rumor_node_t *n, int min_level, rumor_log_cb cb, void *arg) {
  n->on_log = cb;
  n->on_log_arg = arg;
  n->log_level = min_level;
}

int rumor__log_wanted(const rumor_node_t *n, int level) {
  return n->on_log != NULL && level >= n->log_level && n->state != NODE_CLOSING;
}

void rumor__log(rumor_node_t *n, int level, const char *fmt, ...) {
  if (!rumor__log_wanted(n, level)) return;
  char line[LOG_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (len < 0) return;
  if ((size_t)len >= sizeof line) len = (int)sizeof line - 1;
  /* Member ids, keys and block reasons come from the network: a line break
   * or a terminal escape in one must not forge a line or repaint a screen
   * where the log is read. Control bytes become '?'. */
  for (int i = 0; i < len; i++)
    if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) line[i] = '?';
  rumor_blob *b = rumor__blob_new(line, (size_t)len + 1); /* with its NUL */
  rumor_event *ev;
  if (b == NULL || (ev = rumor__node_event_slot(n)) == NULL) {
    rumor__blob_unref(b);
    return;
  }
  ev->kind = EVENT_LOG;
  ev->type = level;
  ev->value = b;
}

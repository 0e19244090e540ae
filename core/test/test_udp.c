/* test_udp.c: three nodes on one libuv loop over real loopback UDP: join
 * through a seed, converge on a write, close without leaking a handle. */
#include "check.h"
#include "rumor.h"

typedef struct ctx {
  rumor_node_t *nodes[3];
  int done;
  int closed;
} ctx;

static int holds(rumor_node_t *n, const char *member, const char *key, const char *value) {
  const uint8_t *v;
  size_t len;
  if (rumor_node_get(n, member, strlen(member), key, strlen(key), &v, &len, NULL) != 0) return 0;
  return len == strlen(value) && memcmp(v, value, len) == 0;
}

static void poll_cb(uv_timer_t *t) {
  ctx *c = t->data;
  int all = 1;
  for (int i = 0; i < 3; i++) all &= holds(c->nodes[i], "n0", "color", "blue") && rumor_node_member_count(c->nodes[i]) == 3;
  if (all) {
    c->done = 1;
    uv_stop(t->loop);
  }
}

static void deadline_cb(uv_timer_t *t) { uv_stop(t->loop); }
static void on_closed(rumor_node_t *n, void *arg) { (void)n; ((ctx *)arg)->closed++; }
static void close_timer(uv_handle_t *h) { (void)h; }

int main(void) {
  uv_loop_t loop;
  uv_timer_t poll, deadline;
  ctx c = {0};
  char seed[64];
  const char *seeds[1] = {seed};
  rumor_error_t err;
  CHECK_EQ(uv_loop_init(&loop), 0);
  for (int i = 0; i < 3; i++) {
    rumor_config_t cfg;
    char id[8];
    rumor_config_init(&cfg);
    snprintf(id, sizeof(id), "n%d", i);
    cfg.id = id;
    cfg.gossip_interval_ms = 50;
    if (i > 0) {
      cfg.seeds = seeds;
      cfg.nseeds = 1;
    }
    CHECK_EQ(rumor_node_new(&loop, &cfg, &c.nodes[i], &err), 0);
    CHECK_EQ(rumor_node_start(c.nodes[i]), 0);
    if (i == 0) CHECK_EQ(rumor_node_address(c.nodes[0], seed, sizeof(seed)), 0);
  }
  CHECK(strncmp(seed, "127.0.0.1:", 10) == 0 && strcmp(seed, "127.0.0.1:0") != 0);
  CHECK(rumor_node_set(c.nodes[0], "color", 5, "blue", 4) > 0);
  uv_timer_init(&loop, &poll);
  uv_timer_init(&loop, &deadline);
  poll.data = &c;
  uv_timer_start(&poll, poll_cb, 10, 10);
  uv_timer_start(&deadline, deadline_cb, 20000, 0); /* generous: CI machines are noisy */
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(c.done);
  CHECK(rumor_node_metrics(c.nodes[1])->entries_merged > 0);
  CHECK_EQ(rumor_node_metrics(c.nodes[1])->drops_malformed, 0);
  uv_close((uv_handle_t *)&poll, close_timer);
  uv_close((uv_handle_t *)&deadline, close_timer);
  for (int i = 0; i < 3; i++) rumor_node_close(c.nodes[i], on_closed, &c);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(c.closed, 3);
  CHECK_EQ(uv_loop_close(&loop), 0); /* every handle closed */
  return 0;
}

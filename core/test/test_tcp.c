/* test_tcp.c: values too big for a datagram, end to end through the real
 * core on real loopback sockets: a 200 KiB value crosses by TCP frames and
 * arrives byte for byte (pulled by the node that lacks it); a transfer to
 * a port where nothing listens fails through the node (counted) instead of
 * hanging; the TCP limits (max_tcp_connections, max_stream_bytes) refuse
 * and cut connections, counted, without stopping a sync. Nodes are
 * closed and the loop run dry, so leak checkers see everything freed. */
#include "check.h"
#include "rumor.h"
#include "wire.h"
#include <signal.h>

#define BIG (200 * 1024)

typedef struct waiter {
  rumor_node_t *a, *b;
  const uint8_t *want;
  int held;     /* B holds A's value */
  int failed;   /* A counted a failed transfer */
  int expired;
  int closed;
} waiter;

static int b_holds(const waiter *w) {
  const uint8_t *v;
  size_t len;
  if (rumor_node_get(w->b, "a", 1, "big", 3, &v, &len, NULL) != 0) return 0;
  return len == BIG && memcmp(v, w->want, BIG) == 0;
}

static void poll_held(uv_timer_t *t) {
  waiter *w = t->data;
  if (b_holds(w)) {
    w->held = 1;
    uv_stop(t->loop);
  }
}

static void poll_failed(uv_timer_t *t) {
  waiter *w = t->data;
  if (rumor_node_metrics(w->a)->tcp_failures > 0) {
    w->failed = 1;
    uv_stop(t->loop);
  }
}

static void on_deadline(uv_timer_t *t) {
  ((waiter *)t->data)->expired = 1;
  uv_stop(t->loop);
}

static void close_timer(uv_handle_t *h) { (void)h; }
static void on_closed(rumor_node_t *n, void *arg) { (void)n; ((waiter *)arg)->closed++; }

static rumor_node_t *start_node_cfg(uv_loop_t *loop, const char *id, const char *seed,
                                    const rumor_config_t *base) {
  rumor_config_t cfg;
  rumor_error_t err;
  rumor_node_t *n;
  rumor_config_init(&cfg); /* default mtu and max_value_size (1 MiB) */
  if (base != NULL) cfg = *base;
  cfg.id = id;
  cfg.gossip_interval_ms = 100; /* quicker rounds; nothing below depends on timing */
  if (seed != NULL) {
    cfg.seeds = &seed;
    cfg.nseeds = 1;
  }
  CHECK_EQ(rumor_node_new(loop, &cfg, &n, &err), 0);
  CHECK_EQ(rumor_node_start(n), 0);
  return n;
}

static rumor_node_t *start_node(uv_loop_t *loop, const char *id, const char *seed) {
  return start_node_cfg(loop, id, seed, NULL);
}

/* Runs the loop with poll every 10 ms until it stops the loop or 20 s pass
 * (generous: CI machines are noisy). */
static void run_polling(uv_loop_t *loop, waiter *w, uv_timer_cb poll) {
  uv_timer_t p, d;
  uv_timer_init(loop, &p);
  uv_timer_init(loop, &d);
  p.data = d.data = w;
  uv_timer_start(&p, poll, 10, 10);
  uv_timer_start(&d, on_deadline, 20000, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&p, close_timer);
  uv_close((uv_handle_t *)&d, close_timer);
  uv_run(loop, UV_RUN_NOWAIT); /* finish closing them before they leave scope */
}

static void close_all(uv_loop_t *loop, waiter *w, int n) {
  if (w->a) rumor_node_close(w->a, on_closed, w);
  if (w->b) rumor_node_close(w->b, on_closed, w);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_EQ(w->closed, n);
  CHECK_EQ(uv_loop_close(loop), 0); /* every handle closed */
}

static void test_big_value_crosses(void) {
  uv_loop_t loop;
  waiter w = {0};
  char addr[RUMOR_MAX_ADDR_STRLEN];
  uint8_t *value = malloc(BIG);
  CHECK(value != NULL);
  for (size_t i = 0; i < BIG; i++) value[i] = (uint8_t)(i * 7 + (i >> 9));
  CHECK_EQ(uv_loop_init(&loop), 0);
  w.a = start_node(&loop, "a", NULL);
  CHECK_EQ(rumor_node_address(w.a, addr, sizeof(addr)), 0);
  w.b = start_node(&loop, "b", addr);
  w.want = value;
  CHECK(rumor_node_set(w.a, "big", 3, value, BIG) > 0);
  run_polling(&loop, &w, poll_held);
  CHECK(!w.expired);
  CHECK(w.held);
  CHECK(b_holds(&w)); /* byte for byte */
  CHECK(rumor_node_metrics(w.a)->tcp_transfers >= 1);
  CHECK(rumor_node_metrics(w.a)->tcp_bytes_sent >= BIG);
  CHECK(rumor_node_metrics(w.b)->frames_received >= 1);
  CHECK(rumor_node_metrics(w.b)->tcp_bytes_received >= BIG);
  CHECK_EQ(rumor_node_metrics(w.b)->drops_malformed, 0);
  close_all(&loop, &w, 2);
  free(value);
}

static void udp_closed(uv_handle_t *h) { (void)h; }

/* "b" is a bare UDP socket with nothing listening for TCP behind it. It
 * asks A to pull A's state (a SYN flagged pull, saying it holds nothing of
 * a): A's transfer meets a closed port and must end as a counted failure. */
static void test_transfer_to_closed_port(void) {
  uv_loop_t loop;
  uv_udp_t udp;
  waiter w = {0};
  char addr[RUMOR_MAX_ADDR_STRLEN];
  struct sockaddr_storage a_addr, b_addr, any;
  int len = sizeof(b_addr);
  uint8_t *value = calloc(1, BIG), buf[512];
  CHECK(value != NULL);
  CHECK_EQ(uv_loop_init(&loop), 0);
  w.a = start_node(&loop, "a", NULL);
  CHECK(rumor_node_set(w.a, "big", 3, value, BIG) > 0);
  CHECK_EQ(rumor_node_address(w.a, addr, sizeof(addr)), 0);
  CHECK_EQ(rumor_addr_parse(addr, &a_addr), 0);
  CHECK_EQ(rumor_addr_parse("127.0.0.1:0", &any), 0);
  CHECK_EQ(uv_udp_init(&loop, &udp), 0);
  CHECK_EQ(uv_udp_bind(&udp, (const struct sockaddr *)&any, 0), 0);
  CHECK_EQ(uv_udp_getsockname(&udp, (struct sockaddr *)&b_addr, &len), 0);

  rumor_wire_writer wr;
  CHECK_EQ(rumor__wire_begin(&wr, buf, sizeof(buf), RUMOR_MSG_SYN, "default", 7, "b", 1, 1, &b_addr), 0);
  CHECK_EQ(rumor__wire_digest_begin(&wr), 0);
  CHECK_EQ(rumor__wire_digest_add(&wr, "b", 1, &b_addr, 1, 0), 0);
  CHECK_EQ(rumor__wire_digest_add(&wr, "a", 1, &a_addr, 0, 0), 0);
  rumor__wire_digest_end(&wr, RUMOR_WIRE_PULL);
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)wr.len);
  CHECK_EQ(uv_udp_try_send(&udp, &b, 1, (const struct sockaddr *)&a_addr), (int)wr.len);

  run_polling(&loop, &w, poll_failed);
  CHECK(!w.expired);
  CHECK(w.failed);
  CHECK(rumor_node_metrics(w.a)->tcp_transfers >= 1);
  CHECK(rumor_node_metrics(w.a)->tcp_failures >= 1);
  uv_close((uv_handle_t *)&udp, udp_closed);
  close_all(&loop, &w, 1);
  free(value);
}

static void poll_refused(uv_timer_t *t) {
  waiter *w = t->data;
  if (rumor_node_metrics(w->a)->tcp_refused > 0) {
    w->failed = 1;
    uv_stop(t->loop);
  }
}

static void raw_connected(uv_connect_t *req, int status) {
  (void)req;
  (void)status; /* the server accepts, then may close: either way */
}

/* With max_tcp_connections = 1, a second connection while the first is
 * open is closed at once and counted. */
static void test_connections_over_the_cap_are_refused(void) {
  uv_loop_t loop;
  waiter w = {0};
  rumor_config_t cfg;
  char addr[RUMOR_MAX_ADDR_STRLEN];
  struct sockaddr_storage to;
  uv_tcp_t c1, c2;
  uv_connect_t r1, r2;
  CHECK_EQ(uv_loop_init(&loop), 0);
  rumor_config_init(&cfg);
  cfg.max_tcp_connections = 1;
  w.a = start_node_cfg(&loop, "a", NULL, &cfg);
  CHECK_EQ(rumor_node_address(w.a, addr, sizeof(addr)), 0);
  CHECK_EQ(rumor_addr_parse(addr, &to), 0);
  uv_tcp_init(&loop, &c1);
  uv_tcp_init(&loop, &c2);
  CHECK_EQ(uv_tcp_connect(&r1, &c1, (const struct sockaddr *)&to, raw_connected), 0);
  CHECK_EQ(uv_tcp_connect(&r2, &c2, (const struct sockaddr *)&to, raw_connected), 0);
  run_polling(&loop, &w, poll_refused);
  CHECK(!w.expired);
  CHECK_EQ(rumor_node_metrics(w.a)->tcp_refused, 1);
  uv_close((uv_handle_t *)&c1, udp_closed);
  uv_close((uv_handle_t *)&c2, udp_closed);
  close_all(&loop, &w, 1);
}

#define NVALUES 10
#define VALUE_LEN (50 * 1024)

static void poll_all_held(uv_timer_t *t) {
  waiter *w = t->data;
  for (int i = 0; i < NVALUES; i++) {
    char key[8];
    const uint8_t *v;
    size_t len;
    snprintf(key, sizeof key, "k%d", i);
    if (rumor_node_get(w->b, "a", 1, key, strlen(key), &v, &len, NULL) != 0 || len != VALUE_LEN)
      return;
  }
  w->held = 1;
  uv_stop(t->loop);
}

/* b takes at most 64 KiB per connection: a's ten 50 KiB values cross two
 * frames at a time, each connection cut after its second, and all of them
 * arrive all the same. */
static void test_a_stream_limit_does_not_stop_a_sync(void) {
  uv_loop_t loop;
  waiter w = {0};
  rumor_config_t cfg;
  char addr[RUMOR_MAX_ADDR_STRLEN];
  uint8_t *value = calloc(1, VALUE_LEN);
  CHECK(value != NULL);
  CHECK_EQ(uv_loop_init(&loop), 0);
  rumor_config_init(&cfg);
  cfg.gossip_request_timeout_ms = 300; /* pulls again soon after a cut */
  w.a = start_node_cfg(&loop, "a", NULL, &cfg);
  for (int i = 0; i < NVALUES; i++) {
    char key[8];
    snprintf(key, sizeof key, "k%d", i);
    value[0] = (uint8_t)i;
    CHECK(rumor_node_set(w.a, key, strlen(key), value, VALUE_LEN) > 0);
  }
  CHECK_EQ(rumor_node_address(w.a, addr, sizeof(addr)), 0);
  cfg.max_stream_bytes = 64 * 1024;
  w.b = start_node_cfg(&loop, "b", addr, &cfg);
  run_polling(&loop, &w, poll_all_held);
  CHECK(!w.expired);
  CHECK(w.held);
  CHECK(rumor_node_metrics(w.b)->tcp_overlong >= 2);
  close_all(&loop, &w, 2);
  free(value);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* a peer hanging up must fail a write, not kill us */
  RUN(test_big_value_crosses);
  RUN(test_transfer_to_closed_port);
  RUN(test_connections_over_the_cap_are_refused);
  RUN(test_a_stream_limit_does_not_stop_a_sync);
  return 0;
}

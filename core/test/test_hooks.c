/* test_hooks.c: the hooks through which a node answers to its owner, on the
 * in-memory network: validators (a refused entry is not stored, is counted
 * and logged, and is not sent again and again; the node cannot change while
 * one runs), the log (lines queued with the events, filtered by level),
 * the words kept with every block, and the per-kind datagram counters. */
#include "fake_net.h"

#define KEY(s) s, strlen(s)

/* ---- a validator that refuses values starting with "bad" --------------- */

typedef struct judge {
  int calls, reserved_seen;
  int set_rc, stop_rc, block_rc; /* what mutators returned from inside */
  int try_mutate, close_inside;
  rumor_node_t *self;
  char last_key[64];
} judge_t;

static int refuse_bad(rumor_node_t *node, const rumor_update_t *e, const char **reason,
                      void *arg) {
  judge_t *j = (judge_t *)arg;
  j->calls++;
  snprintf(j->last_key, sizeof j->last_key, "%.*s", (int)e->key_len, e->key);
  if ((e->key_len == 9 && memcmp(e->key, "heartbeat", 9) == 0) ||
      (e->key_len == 7 && memcmp(e->key, "blocked", 7) == 0))
    j->reserved_seen++;
  if (j->try_mutate) {
    j->set_rc = (int)rumor_node_set(node, KEY("x"), "1", 1);
    j->stop_rc = rumor_node_stop(node);
    j->block_rc = rumor_node_block(node, e->member, e->member_len, RUMOR_BLOCK_POLICY);
  }
  if (j->close_inside) {
    j->close_inside = 0;
    rumor_node_close(node, NULL, NULL);
    return 0;
  }
  if (!e->deleted && e->value_len >= 3 && memcmp(e->value, "bad", 3) == 0) {
    *reason = "values may not start with bad";
    return 1;
  }
  return 0;
}

/* ---- a log that keeps its lines ------------------------------------------ */

typedef struct log_buf {
  int n, levels[64];
  char lines[64][256];
} log_buf_t;

static void keep_line(rumor_node_t *node, int level, const char *msg, size_t len, void *arg) {
  log_buf_t *b = (log_buf_t *)arg;
  (void)node;
  CHECK_EQ(msg[len], '\0');
  if (b->n < 64) {
    b->levels[b->n] = level;
    snprintf(b->lines[b->n++], sizeof b->lines[0], "%s", msg);
  }
}

static int logged(const log_buf_t *b, const char *needle) {
  for (int i = 0; i < b->n; i++)
    if (strstr(b->lines[i], needle) != NULL) return 1;
  return 0;
}

static void a_refused_entry_is_kept_out_counted_logged_and_not_resent(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 3, &cfg, 11);
  judge_t j = {0};
  log_buf_t log = {0};
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  rumor_node_set_validator(a, refuse_bad, &j);
  rumor_node_on_log(a, RUMOR_LOG_WARN, keep_line, &log);

  CHECK(rumor_node_set(b, KEY("cfg"), "good", 4) > 0);
  net_run(&net, 1000);
  CHECK(holds(a, "n01", "cfg", "good"));
  CHECK(j.calls >= 1);

  CHECK(rumor_node_set(b, KEY("cfg"), "bad!", 4) > 0);
  CHECK(rumor_node_set(b, KEY("other"), "fine", 4) > 0);
  net_run(&net, 1000);
  CHECK(holds(a, "n01", "cfg", "good"));  /* ours stays */
  CHECK(holds(a, "n01", "other", "fine")); /* what came after it was taken */
  CHECK(holds(net.nodes[2], "n01", "cfg", "bad!")); /* others judge for themselves */
  uint64_t rejected = rumor_node_metrics(a)->entries_rejected;
  CHECK(rejected >= 1);
  CHECK(logged(&log, "rejected n01's cfg"));
  CHECK(logged(&log, "values may not start with bad"));
  CHECK_EQ(j.reserved_seen, 0); /* the engine's keys are not the validator's */

  /* The watermark moved past it: quiet rounds do not bring it back. */
  net_run(&net, 5000);
  CHECK_EQ(rumor_node_metrics(a)->entries_rejected, rejected);
  CHECK(rumor_node_metrics(a)->summaries_matched > 0);

  /* A later write of the key is judged afresh. */
  CHECK(rumor_node_set(b, KEY("cfg"), "better", 6) > 0);
  net_run(&net, 1000);
  CHECK(holds(a, "n01", "cfg", "better"));

  /* Without a validator everything is taken again. */
  rumor_node_set_validator(a, NULL, NULL);
  CHECK(rumor_node_set(b, KEY("cfg"), "bad again", 9) > 0);
  net_run(&net, 1000);
  CHECK(holds(a, "n01", "cfg", "bad again"));
  net_free(&net);
}

static void the_node_cannot_change_inside_a_validator(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 2, &cfg, 12);
  judge_t j = {0};
  j.try_mutate = 1;
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  rumor_node_set_validator(a, refuse_bad, &j);
  CHECK(rumor_node_set(b, KEY("k"), "v", 1) > 0);
  net_run(&net, 1000);
  CHECK(j.calls >= 1);
  CHECK_EQ(j.set_rc, RUMOR_ESTATE);
  CHECK_EQ(j.stop_rc, RUMOR_ESTATE);
  CHECK_EQ(j.block_rc, RUMOR_ESTATE);
  CHECK(holds(a, "n01", "k", "v"));
  CHECK_EQ(net_member(a, "n01").status, RUMOR_MEMBER_ALIVE);
  /* Outside it, the same calls work. */
  CHECK(rumor_node_set(a, KEY("x"), "1", 1) > 0);

  /* A close from inside takes effect once the datagram is merged. */
  j.try_mutate = 0;
  j.close_inside = 1;
  CHECK(rumor_node_set(b, KEY("k"), "w", 1) > 0);
  for (int step = 0; step < 100 && j.close_inside; step++) net_run(&net, 10);
  CHECK_EQ(j.close_inside, 0);
  CHECK(net.ios[0] == NULL); /* its io is gone: the close was done */
  net.nodes[0] = NULL;       /* and the node freed with it */
  net_run(&net, 1000);       /* the others go on */
  net_free(&net);
}

static void log_lines_follow_the_level_and_name_what_happened(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_init(&net, 13);
  log_buf_t info = {0}, warn = {0};
  rumor_node_t *a = net_add(&net, net_id(0), -1, &cfg);
  net_add(&net, net_id(1), 0, &cfg);
  net_add(&net, net_id(2), 0, &cfg);
  rumor_node_on_log(a, RUMOR_LOG_INFO, keep_line, &info);
  rumor_node_t *b = net.nodes[1];
  rumor_node_on_log(b, RUMOR_LOG_WARN, keep_line, &warn);
  for (int i = 0; i < 3; i++) CHECK_EQ(rumor_node_start(net.nodes[i]), 0);
  net_run(&net, 3000);
  CHECK(logged(&info, "n01 joined (generation"));
  CHECK(logged(&info, "n02 joined"));
  CHECK_EQ(warn.n, 0); /* joins are information, below warn */
  CHECK(rumor_node_metrics(a)->log_lines >= 2);

  net.down[2] = 1; /* n02 dies: its neighbours judge, everyone hears */
  net_run(&net, 4000);
  CHECK(logged(&info, "blocked n02"));
  CHECK(logged(&warn, "blocked n02"));
  CHECK(logged(&warn, "as expired"));
  for (int i = 0; i < warn.n; i++) CHECK(warn.levels[i] >= RUMOR_LOG_WARN);
  CHECK(rumor_log_level_name(RUMOR_LOG_WARN)[0] == 'w');
  CHECK_EQ(rumor_log_level_name(99)[0], '\0');

  /* No callback: nothing formatted, nothing counted. */
  rumor_node_on_log(a, RUMOR_LOG_INFO, NULL, NULL);
  uint64_t before = rumor_node_metrics(a)->log_lines;
  rumor_node_block(a, KEY("n01"), RUMOR_BLOCK_POLICY);
  net_run(&net, 500);
  CHECK_EQ(rumor_node_metrics(a)->log_lines, before);
  net_free(&net);
}

static void every_block_keeps_its_words(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 5, &cfg, 14);
  rumor_node_t *a = net.nodes[0];
  CHECK_EQ(rumor_node_block_detail(a, KEY("n01"), RUMOR_BLOCK_POLICY, "draining"), 0);
  rumor_member_info_t m = net_member(a, "n01");
  CHECK_EQ(m.status, RUMOR_MEMBER_BLOCKED);
  CHECK(strcmp(m.block_detail, "draining") == 0);
  CHECK(m.blocked_by == NULL);
  CHECK_EQ(rumor_node_remove_peer(a, KEY("n02")), 0);
  CHECK(strcmp(net_member(a, "n02").block_detail, "removed by remove_peer") == 0);

  /* A detail longer than the limit is cut, never refused. */
  char longer[RUMOR_MAX_BLOCK_DETAIL + 50];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  CHECK_EQ(rumor_node_block_detail(a, KEY("n03"), RUMOR_BLOCK_POLICY, longer), 0);
  CHECK_EQ(strlen(net_member(a, "n03").block_detail), (size_t)RUMOR_MAX_BLOCK_DETAIL);

  /* n04 dies: its ring neighbours n03 and n00 judge by silence; n01 and
   * n02 take over a verdict and name its judge. */
  net.down[4] = 1;
  net_run(&net, 4000);
  rumor_member_info_t judged = net_member(net.nodes[3], "n04");
  CHECK_EQ(judged.status, RUMOR_MEMBER_BLOCKED);
  CHECK_EQ(judged.block_reason, RUMOR_BLOCK_EXPIRED);
  CHECK(strstr(judged.block_detail, "no heartbeat for") != NULL);
  CHECK(judged.block_silence_ms >= cfg.heartbeat_expiration_ms);
  CHECK(judged.blocked_by == NULL);
  rumor_member_info_t adopted = net_member(net.nodes[1], "n04");
  CHECK_EQ(adopted.status, RUMOR_MEMBER_BLOCKED);
  CHECK(adopted.blocked_by != NULL);
  CHECK(strcmp(adopted.blocked_by, "n03") == 0 || strcmp(adopted.blocked_by, "n00") == 0);
  CHECK(adopted.block_silence_ms >= cfg.heartbeat_expiration_ms); /* the judge's */
  CHECK(strstr(adopted.block_detail, "at its neighbour") != NULL);
  CHECK(adopted.blocked_for_ms > 0);

  /* Alive members carry none; an unknown id is refused. */
  rumor_member_info_t self;
  CHECK_EQ(rumor_node_member_find(a, KEY("n00"), &self), 0);
  CHECK(self.self && self.block_detail[0] == '\0');
  CHECK_EQ(rumor_node_member_find(a, KEY("nobody"), &self), RUMOR_EINVAL);
  net_free(&net);
}

/* Frames of a TCP transfer are cut between entries: each continues where the
 * last one ended. A refused entry that ends a frame must still count as
 * seen, or the next frame starts past our watermark and is refused as a gap
 * (and the entries after the refused one never arrive). */
static void a_refused_entry_that_ends_a_frame_does_not_stall_the_transfer(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  cfg.max_value_size = 200 * 1024;
  net_cluster(&net, 2, &cfg, 16);
  judge_t j = {0};
  rumor_node_t *a = net.nodes[0], *b = net.nodes[1];
  rumor_node_set_validator(a, refuse_bad, &j);
  size_t big = RUMOR_FRAME_FILL + 1000; /* one entry per frame */
  char *v = malloc(big);
  memset(v, 'x', big);
  memcpy(v, "bad", 3);
  CHECK(rumor_node_set(b, KEY("one"), v, big) > 0);
  memcpy(v, "ok!", 3);
  CHECK(rumor_node_set(b, KEY("two"), v, big) > 0);
  uint64_t gaps = rumor_node_metrics(a)->deltas_gap;
  net_run(&net, 3000);
  const uint8_t *got;
  size_t len;
  CHECK_EQ(rumor_node_get(a, KEY("n01"), KEY("two"), &got, &len, NULL), 0);
  CHECK_EQ(len, big);
  CHECK_EQ(rumor_node_get(a, KEY("n01"), KEY("one"), &got, &len, NULL), RUMOR_EINVAL);
  CHECK_EQ(rumor_node_metrics(a)->deltas_gap, gaps);
  CHECK_EQ(rumor_node_metrics(a)->entries_rejected, 1); /* judged once, not at every pull */
  CHECK_EQ(net_member(a, "n01").max_seq, net_member(b, "n01").max_seq);
  free(v);
  net_free(&net);
}

/* A value over max_value_size (from a peer configured larger) is refused
 * with a line that names the key and says the size plainly. */
static void a_value_too_big_is_logged_with_its_key(void) {
  fake_net net;
  rumor_config_t small = net_fast_config(), large = net_fast_config();
  small.max_value_size = 1000;
  large.max_value_size = 4000;
  net_init(&net, 17);
  rumor_node_t *a = net_add(&net, net_id(0), -1, &small);
  rumor_node_t *b = net_add(&net, net_id(1), 0, &large);
  log_buf_t log = {0};
  rumor_node_on_log(a, RUMOR_LOG_WARN, keep_line, &log);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(b), 0);
  net_run(&net, 2000);
  char v[2000];
  memset(v, 'x', sizeof v);
  CHECK(rumor_node_set(b, KEY("huge"), v, sizeof v) > 0);
  net_run(&net, 2000);
  CHECK(rumor_node_metrics(a)->entries_too_big >= 1);
  CHECK(logged(&log, "refused n01's huge (seq "));
  CHECK(logged(&log, "2000 bytes, more than max_value_size 1000"));
  /* Offered again and again (every answer and round), said once. */
  net_run(&net, 20000);
  CHECK(rumor_node_metrics(a)->entries_too_big >= 3);
  int said = 0;
  for (int i = 0; i < log.n; i++) said += strstr(log.lines[i], "refused n01's huge") != NULL;
  CHECK_EQ(said, 1);
  net_free(&net);
}

/* Ids come from the network: a line break or a terminal escape in one
 * cannot forge a log line or repaint the reader's screen. */
static void log_lines_carry_no_control_bytes(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_init(&net, 29);
  rumor_node_t *a = net_add(&net, net_id(0), -1, &cfg);
  net_add(&net, "evil\nrumor[n00] error: forged\x1b[2J", 0, &cfg);
  log_buf_t log = {0};
  rumor_node_on_log(a, RUMOR_LOG_DEBUG, keep_line, &log);
  CHECK_EQ(rumor_node_start(a), 0);
  CHECK_EQ(rumor_node_start(net.nodes[1]), 0);
  net_run(&net, 2000);
  CHECK(logged(&log, "evil?rumor[n00] error: forged?[2J joined"));
  for (int i = 0; i < log.n; i++)
    for (const char *c = log.lines[i]; *c; c++) CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
  net_free(&net);
}

static void per_kind_counters_add_up_to_the_totals(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  net_cluster(&net, 6, &cfg, 15);
  CHECK(rumor_node_set(net.nodes[2], KEY("k"), "v", 1) > 0);
  net_run(&net, 2000);
  uint64_t pushes = 0;
  for (int i = 0; i < net.n; i++) {
    const rumor_metrics_t *m = rumor_node_metrics(net.nodes[i]);
    uint64_t ds = 0, bs = 0, dr = 0, br = 0;
    for (int k = 0; k < RUMOR_KIND_COUNT; k++) {
      ds += m->by_kind[k].datagrams_sent;
      bs += m->by_kind[k].bytes_sent;
      dr += m->by_kind[k].datagrams_received;
      br += m->by_kind[k].bytes_received;
    }
    CHECK_EQ(ds, m->datagrams_sent);
    CHECK_EQ(bs, m->bytes_sent);
    CHECK_EQ(dr, m->datagrams_received); /* all of them decode here */
    CHECK_EQ(br, m->bytes_received);
    CHECK(m->by_kind[RUMOR_KIND_SYN].datagrams_sent >= m->summaries_sent);
    pushes += m->by_kind[RUMOR_KIND_PUSH].datagrams_sent;
  }
  CHECK(pushes > 0);
  CHECK(strcmp(rumor_kind_name(RUMOR_KIND_SYNACK), "synack") == 0);
  CHECK_EQ(rumor_kind_name(RUMOR_KIND_COUNT)[0], '\0');
  net_free(&net);
}

/* The reviewer's case: n02 is away while n01 writes a value n00 refuses;
 * then n01 goes down and n02 comes back. n00 still holds the refused entry
 * (hidden) and passes it on: n02, which has no validator, gets it. Before,
 * n00 moved its watermark past an entry it did not hold, n02 took that
 * watermark from it, and the value was lost to n02 for good. */
static void a_refused_entry_still_reaches_the_others_through_the_refuser(void) {
  fake_net net;
  rumor_config_t cfg = net_fast_config();
  cfg.heartbeat_expiration_ms = 0; /* nobody is blocked while away: only gossip matters */
  net_cluster(&net, 3, &cfg, 17);
  judge_t j = {0};
  rumor_node_t *a = net.nodes[0], *owner = net.nodes[1], *c = net.nodes[2];
  rumor_node_set_validator(a, refuse_bad, &j);
  CHECK(rumor_node_set(owner, KEY("cfg"), "good", 4) > 0);
  net_run(&net, 1000);
  CHECK(holds(c, "n01", "cfg", "good"));
  net.down[2] = 1;
  CHECK(rumor_node_set(owner, KEY("cfg"), "bad!", 4) > 0);
  CHECK(rumor_node_set(owner, KEY("more"), "x", 1) > 0);
  net_run(&net, 1000);
  CHECK(holds(a, "n01", "cfg", "good")); /* a's view kept the old value */
  CHECK(holds(a, "n01", "more", "x"));
  CHECK(rumor_node_metrics(a)->entries_rejected >= 1);
  net.down[1] = 1;
  net.down[2] = 0;
  net_run(&net, 5000);
  CHECK(holds(c, "n01", "more", "x"));
  CHECK(holds(c, "n01", "cfg", "bad!")); /* relayed by a, judged by c */
  CHECK(holds(a, "n01", "cfg", "good"));
  /* Map keys hide it the same way. */
  net.down[1] = 0;
  CHECK(rumor_node_map_set(owner, KEY("m"), KEY("k"), "bad map", 7) > 0);
  net_run(&net, 1000);
  const uint8_t *v;
  size_t len;
  CHECK(rumor_node_map_get(a, KEY("n01"), KEY("m"), KEY("k"), &v, &len, NULL) == RUMOR_EINVAL);
  CHECK(rumor_node_map_get(c, KEY("n01"), KEY("m"), KEY("k"), &v, &len, NULL) == 0);
  net_free(&net);
}

int main(void) {
  RUN(a_refused_entry_is_kept_out_counted_logged_and_not_resent);
  RUN(the_node_cannot_change_inside_a_validator);
  RUN(log_lines_follow_the_level_and_name_what_happened);
  RUN(every_block_keeps_its_words);
  RUN(a_refused_entry_that_ends_a_frame_does_not_stall_the_transfer);
  RUN(a_refused_entry_still_reaches_the_others_through_the_refuser);
  RUN(a_value_too_big_is_logged_with_its_key);
  RUN(log_lines_carry_no_control_bytes);
  RUN(per_kind_counters_add_up_to_the_totals);
  return 0;
}

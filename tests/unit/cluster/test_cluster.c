/* server/cluster: the Redis address parser, stream id order, and the engine's cluster mode
 * fed by hand: two nodes that apply the same entries send the same events with the same seq,
 * a late node counts the seq of what it replays, and a node's own operation is answered when
 * its entry comes back (not when the store says ok). The real Redis round trip is tested by
 * tests/integration/test_cluster.py. */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "cluster/redis.h"
#include "commerce/show.h"
#include "commerce/show_remote.h"

static void
test_addr(void)
{
  struct {
    const char *url;
    const char *host;
    int port;
    const char *path;
  } ok[] = {
      {"redis://127.0.0.1:6380", "127.0.0.1", 6380, NULL},
      {"redis://localhost", "localhost", 6379, NULL},
      {"redis://h:7000/", "h", 7000, NULL},
      {"unix:/run/redis/redis.sock", NULL, 0, "/run/redis/redis.sock"},
      {"unix:///tmp/r.sock", NULL, 0, "/tmp/r.sock"},
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(ok); i++) {
    lc_redis_addr a;
    char *err = NULL;
    g_assert_cmpint(lc_redis_addr_parse(ok[i].url, &a, &err), ==, 0);
    g_assert_cmpstr(a.host, ==, ok[i].host);
    g_assert_cmpstr(a.unix_path, ==, ok[i].path);
    if (ok[i].host)
      g_assert_cmpint(a.port, ==, ok[i].port);
    lc_redis_addr_clear(&a);
  }
  const char *bad[] = {"", "127.0.0.1:6379", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
                       "redis://h:x", "redis://user:pw@h:1", "redis://h:1/2", "unix:relative", "http://h:1"};
  for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
    lc_redis_addr a;
    char *err = NULL;
    g_assert_cmpint(lc_redis_addr_parse(bad[i], &a, &err), ==, -1);
    g_assert_nonnull(err);
    g_free(err);
  }
}

static void
test_stream_ids(void)
{
  g_assert_cmpint(lc_show_stream_id_cmp("0-0", "0-0"), ==, 0);
  g_assert_cmpint(lc_show_stream_id_cmp("1-0", "0-5"), >, 0);
  g_assert_cmpint(lc_show_stream_id_cmp("17-2", "17-10"), <, 0); /* numbers, not text */
  g_assert_cmpint(lc_show_stream_id_cmp("1700000000000-0", "999999999999-9"), >, 0);
}

/* ---- the engine in cluster mode, with a hand-driven store ------------------------------------ */

typedef struct {
  GPtrArray *sent;  /* char*: "type\tdata" of each append */
  GPtrArray *cbs;   /* pending (cb, user) of the appends, answered by the test */
} fake_store;

typedef struct {
  lc_show_append_cb cb;
  gpointer user;
  char *token;
} pend;

static void
fake_append(gpointer ctx, const char *room, const lc_show_append *a, lc_show_append_cb cb, gpointer user)
{
  fake_store *fs = ctx;
  g_ptr_array_add(fs->sent, g_strdup_printf("%s\t%s", a->type, a->data));
  pend *p = g_new0(pend, 1);
  p->cb = cb;
  p->user = user;
  p->token = g_strdup(a->token);
  g_ptr_array_add(fs->cbs, p);
}

static void
log_event(lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data, gpointer user)
{
  char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
  g_ptr_array_add(user, g_strdup_printf("%" G_GINT64_FORMAT " %s %s", seq, lc_show_event_name(kind), d));
  free(d);
}

static void
got_answer(const lc_show_result *r, gpointer user)
{
  *(char **)user = r->code ? g_strdup(r->code) : json_dumps(r->result, JSON_COMPACT);
}

static lc_show *
open_node(const lc_show_remote *remote, GPtrArray *log)
{
  lc_show_config cfg = {.order_ttl_ms = 600000, .low_stock_default = 5, .chat_recent = 10, .remote = remote,
                        .throttle_ms = 100000, .counts_ms = 100000};
  lc_show_sinks sinks = {log_event, NULL, NULL, log};
  char *err = NULL;
  lc_show *s = lc_show_open("r1", NULL, &cfg, &sinks, &err);
  g_assert_nonnull(s);
  lc_show_remote_set_epoch(s, "00000000000000e1");
  return s;
}

static const char CATALOG[] =
    "{\"currency\":\"CNY\",\"products\":[{\"id\":\"p\",\"title\":\"P\",\"skus\":[{\"id\":\"p-1\",\"label\":\"L\","
    "\"price\":1000,\"stock\":3}]}]}";

static void
test_same_events_on_every_node(void)
{
  fake_store fs = {g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(NULL)};
  lc_show_remote remote = {fake_append, &fs, "n1", 60000};
  GPtrArray *log1 = g_ptr_array_new_with_free_func(g_free), *log2 = g_ptr_array_new_with_free_func(g_free);
  lc_show *a = open_node(&remote, log1), *b = open_node(&remote, log2);

  /* node a: load a catalog; nothing changes until the entry comes back */
  json_t *cat = json_loads(CATALOG, 0, NULL);
  char *ans = NULL;
  lc_show_catalog_load(a, cat, got_answer, &ans);
  json_decref(cat);
  g_assert_cmpuint(fs.sent->len, ==, 1);
  g_assert_null(ans);
  pend *p = g_ptr_array_index(fs.cbs, 0);
  p->cb(LC_SHOW_APPEND_OK, "1-0", -1, p->user);
  g_assert_null(ans); /* "ok" from the store is not the answer: applying the entry is */
  char **e = g_strsplit(g_ptr_array_index(fs.sent, 0), "\t", 2);
  lc_show_remote_entry(a, "1-0", e[0], e[1], p->token, NULL, 1000);
  lc_show_remote_entry(b, "1-0", e[0], e[1], p->token, NULL, 1000);
  g_strfreev(e);
  g_assert_nonnull(ans);
  g_assert_null(strstr(ans, "error"));
  g_free(ans);

  /* node b: a viewer buys; the store numbers the order (n = 41). Node b applies it first. */
  lc_show_line line = {"p-1", 2};
  lc_show_caller who = {"u1", "U", "op-1", NULL};
  lc_show_checkout(b, &who, &line, 1, NULL, got_answer, &ans);
  g_assert_cmpuint(fs.sent->len, ==, 2);
  p = g_ptr_array_index(fs.cbs, 1);
  char **e2 = g_strsplit(g_ptr_array_index(fs.sent, 1), "\t", 2);
  lc_show_remote_entry(b, "2-0", e2[0], e2[1], p->token, "41", 1001);
  p->cb(LC_SHOW_APPEND_OK, "2-0", -1, p->user); /* the store's answer may come after the entry */
  g_assert_nonnull(strstr(ans, "\"o-41\""));
  g_free(ans);
  ans = NULL;

  /* the same op_id on node a before a has the entry: the store says dup, a waits for the
   * entry and answers with the first answer */
  lc_show_checkout(a, &who, &line, 1, NULL, got_answer, &ans);
  g_assert_cmpuint(fs.cbs->len, ==, 3);
  p = g_ptr_array_index(fs.cbs, 2);
  p->cb(LC_SHOW_APPEND_DUP, "2-0", -1, p->user);
  g_assert_null(ans);
  lc_show_remote_entry(a, "2-0", e2[0], e2[1], NULL, "41", 1001);
  g_strfreev(e2);
  g_assert_nonnull(ans);
  g_assert_nonnull(strstr(ans, "\"o-41\""));
  g_free(ans);
  ans = NULL;

  /* a refusal of the gate is the op's error (node a thinks 1 is left; the store knows better) */
  lc_show_caller who2 = {"u2", "V", "op-2", NULL};
  lc_show_line one = {"p-1", 1};
  lc_show_checkout(a, &who2, &one, 1, NULL, got_answer, &ans);
  g_assert_cmpuint(fs.cbs->len, ==, 4);
  p = g_ptr_array_index(fs.cbs, 3);
  p->cb(LC_SHOW_APPEND_GATE, NULL, 1, p->user); /* ops[1]: the SKU's stock */
  g_assert_cmpstr(ans, ==, "out_of_stock");
  g_free(ans);

  /* a flush tick: both nodes send the stock broadcast at the same entry */
  lc_show_remote_entry(a, "3-0", "tick.flush", "{}", NULL, NULL, 1002);
  lc_show_remote_entry(b, "3-0", "tick.flush", "{}", NULL, NULL, 1002);
  lc_show_remote_entry(a, "4-0", "counts", "{\"likes\":5,\"viewers\":3}", NULL, NULL, 1003);
  lc_show_remote_entry(b, "4-0", "counts", "{\"likes\":5,\"viewers\":3}", NULL, NULL, 1003);
  g_assert_cmpuint(log1->len, ==, log2->len);
  for (guint i = 0; i < log1->len; i++)
    g_assert_cmpstr(g_ptr_array_index(log1, i), ==, g_ptr_array_index(log2, i));
  g_assert_cmpint(lc_show_seq(a), ==, lc_show_seq(b));
  g_assert_cmpint(lc_show_seq(a), >=, 4); /* catalog, stock, likes, viewers */

  /* a node that opens later replays the entries and counts the same seq */
  GPtrArray *log3 = g_ptr_array_new_with_free_func(g_free);
  lc_show *c = open_node(&remote, log3);
  lc_show_remote_begin_replay(c);
  for (guint i = 0; i < 2; i++) {
    e = g_strsplit(g_ptr_array_index(fs.sent, i), "\t", 2);
    char id[8];
    g_snprintf(id, sizeof id, "%u-0", i + 1);
    lc_show_remote_entry(c, id, e[0], e[1], NULL, i == 1 ? "41" : NULL, 1000 + i);
    g_strfreev(e);
  }
  lc_show_remote_entry(c, "3-0", "tick.flush", "{}", NULL, NULL, 1002);
  lc_show_remote_entry(c, "4-0", "counts", "{\"likes\":5,\"viewers\":3}", NULL, NULL, 1003);
  lc_show_remote_end_replay(c);
  g_assert_cmpuint(log3->len, ==, 0); /* nothing sent while replaying */
  g_assert_cmpint(lc_show_seq(c), ==, lc_show_seq(a));
  json_t *snap_a = lc_show_snapshot(a, NULL), *snap_c = lc_show_snapshot(c, NULL);
  g_assert_true(json_equal(snap_a, snap_c));
  json_decref(snap_a);
  json_decref(snap_c);

  lc_show_free(a);
  lc_show_free(b);
  lc_show_free(c);
  for (guint i = 0; i < fs.cbs->len; i++) {
    pend *q = g_ptr_array_index(fs.cbs, i);
    g_free(q->token);
    g_free(q);
  }
  g_ptr_array_unref(fs.cbs);
  g_ptr_array_unref(fs.sent);
  g_ptr_array_unref(log1);
  g_ptr_array_unref(log2);
  g_ptr_array_unref(log3);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/cluster/redis_addr", test_addr);
  g_test_add_func("/cluster/stream_ids", test_stream_ids);
  g_test_add_func("/cluster/same_events_on_every_node", test_same_events_on_every_node);
  return g_test_run();
}

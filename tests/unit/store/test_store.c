/* Unit tests for server/store: schema, round trips, group commit, refusals. */
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"
#include "base/metrics.h"
#include "store/store.h"

/* ---- helpers ------------------------------------------------------------------ */

static GThread *main_thread;

static void
rm_rf(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    GDir *d = g_dir_open(path, 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
      char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
      g_free(child);
    }
    g_dir_close(d);
    g_assert_cmpint(g_rmdir(path), ==, 0);
  } else {
    g_assert_cmpint(g_unlink(path), ==, 0);
  }
}

typedef struct {
  char *dir;
  char *db;
} fixture;

static void
fx_init(fixture *fx)
{
  GError *err = NULL;
  fx->dir = g_dir_make_tmp("lc-store-XXXXXX", &err);
  g_assert_no_error(err);
  fx->db = g_build_filename(fx->dir, "live.db", NULL);
}

static void
fx_clear(fixture *fx)
{
  rm_rf(fx->dir);
  g_free(fx->dir);
  g_free(fx->db);
}

static lc_store *
open_ok(const char *path, lc_store_options *opts)
{
  char *msg = NULL;
  lc_store *s = lc_store_open(path, opts, NULL, &msg);
  if (s == NULL)
    g_error("lc_store_open(%s) failed: %s", path, msg);
  g_assert_null(msg);
  return s;
}

static char *
open_fail(const char *path)
{
  char *msg = NULL;
  lc_store *s = lc_store_open(path, NULL, NULL, &msg);
  g_assert_null(s);
  g_assert_nonnull(msg);
  return msg;
}

typedef struct {
  int calls;
  int last_err;
} done_count;

static void
count_cb(int err, gpointer user)
{
  done_count *d = user;
  g_assert_true(g_thread_self() == main_thread);
  d->calls++;
  d->last_err = err;
}

static void
wait_calls(const int *calls, int want)
{
  while (*calls < want)
    g_main_context_iteration(NULL, TRUE);
}

/* Puts one room and waits for its completion; returns the error. */
static int
put_sync(lc_store *s, const char *id, const char *state, const char *data)
{
  done_count d = {0, 1};
  lc_store_room_put(s, id, state, data, count_cb, &d);
  wait_calls(&d.calls, 1);
  return d.last_err;
}

static GBytes *
read_file(const char *path)
{
  char *buf = NULL;
  gsize len = 0;
  GError *err = NULL;
  g_assert_true(g_file_get_contents(path, &buf, &len, &err));
  g_assert_no_error(err);
  return g_bytes_new_take(buf, len);
}

static void
assert_file_is(const char *path, GBytes *before)
{
  GBytes *after = read_file(path);
  g_assert_true(g_bytes_equal(before, after));
  g_bytes_unref(after);
}

static sqlite3 *
raw_open(const char *path, int flags)
{
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open_v2(path, &db, flags, NULL), ==, SQLITE_OK);
  return db;
}

static gint64
raw_int(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static char *
raw_text(sqlite3 *db, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  char *v = g_strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

static void
assert_room(GPtrArray *rooms, guint i, const char *id, const char *state, const char *data)
{
  g_assert_cmpuint(i, <, rooms->len);
  lc_store_room *r = g_ptr_array_index(rooms, i);
  g_assert_cmpstr(r->id, ==, id);
  g_assert_cmpstr(r->state, ==, state);
  g_assert_cmpstr(r->data_json, ==, data);
}

/* ---- tests -------------------------------------------------------------------- */

static void
test_open_create(void)
{
  fixture fx;
  fx_init(&fx);
  char *path = g_build_filename(fx.dir, "a", "b", "live.db", NULL); /* parents created */
  lc_store *s = open_ok(path, NULL);
  g_assert_cmpint(lc_store_schema_version(s), ==, 3);
  g_assert_cmpuint(lc_store_pending(s), ==, 0);
  g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
  char *lock = g_strdup_printf("%s.lock", path);
  g_assert_true(g_file_test(lock, G_FILE_TEST_IS_REGULAR));
  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_nonnull(rooms);
  g_assert_cmpuint(rooms->len, ==, 0);
  g_ptr_array_unref(rooms);
  lc_store_close(s);

  /* what an operator would check with the sqlite3 shell */
  sqlite3 *db = raw_open(path, SQLITE_OPEN_READONLY);
  g_assert_cmpint(raw_int(db, "PRAGMA user_version"), ==, 3);
  char *mode = raw_text(db, "PRAGMA journal_mode");
  g_assert_cmpstr(mode, ==, "wal");
  g_free(mode);
  g_assert_cmpint(raw_int(db, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'rooms'"), ==, 1);
  sqlite3_close(db);

  /* reopening an up-to-date database applies nothing and keeps the version */
  s = open_ok(path, NULL);
  g_assert_cmpint(lc_store_schema_version(s), ==, 3);
  lc_store_close(s);
  lc_store_close(NULL);
  g_free(lock);
  g_free(path);
  fx_clear(&fx);
}

static void
test_put_load_roundtrip(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  g_assert_cmpint(put_sync(s, "zeta", "scheduled", "{\"title\":\"first\"}"), ==, 0);
  g_assert_cmpint(put_sync(s, "alpha", "live", "{\"title\":\"second\"}"), ==, 0);
  g_assert_cmpint(put_sync(s, "mid", "ended", "{}"), ==, 0);
  /* update of the first room keeps its place */
  g_assert_cmpint(put_sync(s, "zeta", "live", "{\"title\":\"first, updated\"}"), ==, 0);

  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_nonnull(rooms);
  g_assert_cmpuint(rooms->len, ==, 3);
  assert_room(rooms, 0, "zeta", "live", "{\"title\":\"first, updated\"}");
  assert_room(rooms, 1, "alpha", "live", "{\"title\":\"second\"}");
  assert_room(rooms, 2, "mid", "ended", "{}");
  g_ptr_array_unref(rooms);
  lc_store_close(s);

  /* survives a restart, same order */
  s = open_ok(fx.db, NULL);
  rooms = lc_store_rooms_load(s);
  g_assert_cmpuint(rooms->len, ==, 3);
  assert_room(rooms, 0, "zeta", "live", "{\"title\":\"first, updated\"}");
  assert_room(rooms, 2, "mid", "ended", "{}");
  g_ptr_array_unref(rooms);
  lc_store_close(s);
  fx_clear(&fx);
}

static void
test_invalid_writes_fail_alone(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  enum { N = 200 };
  done_count good[N];
  memset(good, 0, sizeof good);
  done_count bad_json = {0, 0}, bad_state = {0, 0}, bad_id = {0, 0}, not_object = {0, 0};
  /* queued back to back so the bad writes share transactions with good ones */
  for (int i = 0; i < N; i++) {
    char id[16];
    g_snprintf(id, sizeof id, "r%03d", i);
    lc_store_room_put(s, id, "live", "{\"n\":1}", count_cb, &good[i]);
    if (i == N / 2) {
      lc_store_room_put(s, "broken", "live", "{\"n\":", count_cb, &bad_json);
      lc_store_room_put(s, "array", "live", "[1,2]", count_cb, &not_object);
      lc_store_room_put(s, "weird", "paused", "{}", count_cb, &bad_state);
      lc_store_room_put(s, "", "live", "{}", count_cb, &bad_id);
    }
  }
  /* completions never run inside the put call */
  g_assert_cmpint(good[0].calls, ==, 0);
  g_assert_cmpint(bad_state.calls, ==, 0);
  wait_calls(&good[N - 1].calls, 1);
  for (int i = 0; i < N; i++) {
    g_assert_cmpint(good[i].calls, ==, 1);
    g_assert_cmpint(good[i].last_err, ==, 0);
  }
  g_assert_cmpint(bad_json.calls, ==, 1);
  g_assert_cmpint(bad_json.last_err, ==, LC_EINVAL);
  g_assert_cmpint(not_object.last_err, ==, LC_EINVAL);
  g_assert_cmpint(bad_state.last_err, ==, LC_EINVAL);
  g_assert_cmpint(bad_id.last_err, ==, LC_EINVAL);
  g_assert_cmpuint(lc_store_pending(s), ==, 0);

  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_cmpuint(rooms->len, ==, N);
  for (guint i = 0; i < rooms->len; i++) {
    lc_store_room *r = g_ptr_array_index(rooms, i);
    char id[16];
    g_snprintf(id, sizeof id, "r%03u", i);
    g_assert_cmpstr(r->id, ==, id);
  }
  g_ptr_array_unref(rooms);
  lc_store_close(s);
  fx_clear(&fx);
}

typedef struct {
  const char *db;
  int next;
} order_check;

static void
ordered_cb(int err, gpointer user)
{
  order_check *oc = user;
  g_assert_cmpint(err, ==, 0);
  g_assert_true(g_thread_self() == main_thread);
  int i = oc->next++;
  /* the row is committed: visible to an independent connection */
  sqlite3 *db = raw_open(oc->db, SQLITE_OPEN_READONLY);
  char *sql = g_strdup_printf("SELECT COUNT(*) FROM rooms WHERE id = 'room-%03d'"
                              " AND data = '{\"i\":%d}'",
                              i, i);
  g_assert_cmpint(raw_int(db, sql), ==, 1);
  g_free(sql);
  sqlite3_close(db);
}

typedef struct {
  order_check *oc;
  int index;
} ordered_ctx;

static void
ordered_trampoline(int err, gpointer user)
{
  ordered_ctx *c = user;
  g_assert_cmpint(c->oc->next, ==, c->index); /* completions in queue order */
  ordered_cb(err, c->oc);
}

static void
test_completion_after_commit_in_order(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  enum { N = 60 };
  order_check oc = {fx.db, 0};
  ordered_ctx ctxs[N];
  for (int i = 0; i < N; i++) {
    char id[16], data[32];
    g_snprintf(id, sizeof id, "room-%03d", i);
    g_snprintf(data, sizeof data, "{\"i\":%d}", i);
    ctxs[i] = (ordered_ctx){&oc, i};
    lc_store_room_put(s, id, "scheduled", data, ordered_trampoline, &ctxs[i]);
  }
  g_assert_cmpint(oc.next, ==, 0);
  g_assert_cmpuint(lc_store_pending(s), >, 0);
  wait_calls(&oc.next, N);
  g_assert_cmpuint(lc_store_pending(s), ==, 0);
  lc_store_close(s);
  fx_clear(&fx);
}

static void
test_group_commit_burst(void)
{
  fixture fx;
  fx_init(&fx);
  lc_metrics *m = lc_metrics_new();
  lc_store_options opts = {.metrics = m};
  lc_store *s = open_ok(fx.db, &opts);
  enum { N = 10000 };
  done_count d = {0, 0};
  int errors = 0;
  for (int i = 0; i < N; i++) {
    char id[16];
    g_snprintf(id, sizeof id, "b%05d", i);
    lc_store_room_put(s, id, "live", "{}", count_cb, &d);
  }
  while (d.calls < N) {
    g_main_context_iteration(NULL, TRUE);
    if (d.last_err != 0)
      errors++;
  }
  g_assert_cmpint(errors, ==, 0);
  g_assert_cmpint(d.last_err, ==, 0);
  gint64 writes = lc_metric_get(lc_metrics_counter(m, "livecart_store_writes_total", NULL, ""));
  gint64 commits = lc_metric_get(lc_metrics_counter(m, "livecart_store_commits_total", NULL, ""));
  gint64 werr = lc_metric_get(lc_metrics_counter(m, "livecart_store_write_errors_total", NULL, ""));
  gint64 pend = lc_metric_get(lc_metrics_gauge(m, "livecart_store_pending_writes", NULL, ""));
  g_test_message("%d writes in %" G_GINT64_FORMAT " commits", N, commits);
  g_assert_cmpint(writes, ==, N);
  g_assert_cmpint(werr, ==, 0);
  g_assert_cmpint(pend, ==, 0);
  g_assert_cmpint(commits, >=, (N + 4095) / 4096); /* max_batch defaults to 4096 */
  g_assert_cmpint(commits * 10, <=, N);            /* far fewer transactions than writes */
  char *text = lc_metrics_render(m);
  g_assert_nonnull(strstr(text, "livecart_store_commit_seconds_bucket"));
  g_free(text);

  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_cmpuint(rooms->len, ==, N);
  assert_room(rooms, N - 1, "b09999", "live", "{}");
  g_ptr_array_unref(rooms);
  lc_store_close(s);
  lc_metrics_free(m);
  fx_clear(&fx);
}

static void
test_second_open_locked(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  char *msg = open_fail(fx.db);
  char *want = g_strdup_printf("database %s is in use by another livecartd (lock %s.lock)", fx.db, fx.db);
  g_assert_cmpstr(msg, ==, want);
  g_free(want);
  g_free(msg);
  /* the first instance is unaffected */
  g_assert_cmpint(put_sync(s, "r", "live", "{}"), ==, 0);
  lc_store_close(s);
  s = open_ok(fx.db, NULL);
  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_cmpuint(rooms->len, ==, 1);
  g_ptr_array_unref(rooms);
  lc_store_close(s);
  fx_clear(&fx);
}

static void
test_newer_version_refused(void)
{
  fixture fx;
  fx_init(&fx);
  sqlite3 *db = raw_open(fx.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  g_assert_cmpint(sqlite3_exec(db,
                               "CREATE TABLE future(x); INSERT INTO future VALUES (1);"
                               "PRAGMA user_version = 999;",
                               NULL, NULL, NULL),
                  ==, SQLITE_OK);
  sqlite3_close(db);
  GBytes *before = read_file(fx.db);
  for (int attempt = 0; attempt < 2; attempt++) { /* a refusal releases the lock */
    char *msg = open_fail(fx.db);
    g_assert_nonnull(strstr(msg, fx.db));
    g_assert_nonnull(strstr(msg, "schema version 999"));
    g_assert_nonnull(strstr(msg, "version 3)"));
    g_assert_null(strstr(msg, "in use"));
    g_free(msg);
    assert_file_is(fx.db, before);
  }
  g_bytes_unref(before);
  fx_clear(&fx);
}

static void
test_garbage_refused(void)
{
  fixture fx;
  fx_init(&fx);
  guint8 buf[8192];
  for (gsize i = 0; i < sizeof buf; i++)
    buf[i] = (guint8)g_test_rand_int_range(0, 256);
  memcpy(buf, "not sqlite", 10);
  g_assert_true(g_file_set_contents(fx.db, (const char *)buf, sizeof buf, NULL));
  GBytes *before = read_file(fx.db);
  char *msg = open_fail(fx.db);
  g_assert_nonnull(strstr(msg, "corrupt"));
  g_assert_nonnull(strstr(msg, fx.db));
  g_free(msg);
  assert_file_is(fx.db, before);
  char *wal = g_strdup_printf("%s-wal", fx.db);
  g_assert_false(g_file_test(wal, G_FILE_TEST_EXISTS));
  g_free(wal);
  g_bytes_unref(before);
  fx_clear(&fx);
}

static void
test_corrupt_db_refused(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  char *big = g_strdup_printf("{\"pad\":\"%0500d\"}", 7);
  done_count d = {0, 0};
  for (int i = 0; i < 100; i++) {
    char id[16];
    g_snprintf(id, sizeof id, "c%03d", i);
    lc_store_room_put(s, id, "ended", big, count_cb, &d);
  }
  g_free(big);
  lc_store_close(s);
  g_assert_cmpint(d.calls, ==, 100);
  g_assert_cmpint(d.last_err, ==, 0);

  GBytes *orig = read_file(fx.db);
  gsize len = 0;
  const guint8 *p = g_bytes_get_data(orig, &len);
  guint page = ((guint)p[16] << 8) | p[17];
  if (page == 1)
    page = 65536;
  g_assert_cmpuint(len, >, 4 * page);
  guint8 *bad = g_memdup2(p, len);
  memset(bad + page, 0, len - page); /* zeros over page 2.. */
  g_assert_true(g_file_set_contents(fx.db, (const char *)bad, len, NULL));
  g_free(bad);
  g_bytes_unref(orig);

  GBytes *before = read_file(fx.db);
  char *msg = open_fail(fx.db);
  g_test_message("refusal: %s", msg);
  g_assert_nonnull(strstr(msg, "corrupt"));
  g_assert_nonnull(strstr(msg, fx.db));
  g_free(msg);
  assert_file_is(fx.db, before);
  g_bytes_unref(before);
  fx_clear(&fx);
}

typedef struct {
  GString *log;
  const char *tag;
} rec;

static void
record_cb(int err, gpointer user)
{
  rec *r = user;
  g_assert_cmpint(err, ==, 0);
  g_string_append(r->log, r->tag);
}

static void
test_drain_order(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  GString *log = g_string_new(NULL);
  rec a = {log, "a"}, b = {log, "b"}, d1 = {log, "D"}, c = {log, "c"}, d2 = {log, "E"}, idle = {log, "I"};

  /* drain with nothing queued still calls back, asynchronously */
  lc_store_drain(s, record_cb, &idle);
  g_assert_cmpstr(log->str, ==, "");
  while (log->len < 1)
    g_main_context_iteration(NULL, TRUE);
  g_assert_cmpstr(log->str, ==, "I");
  g_string_truncate(log, 0);

  lc_store_room_put(s, "a", "live", "{}", record_cb, &a);
  lc_store_room_put(s, "b", "live", "{}", record_cb, &b);
  lc_store_drain(s, record_cb, &d1);
  lc_store_room_put(s, "c", "live", "{}", record_cb, &c);
  lc_store_drain(s, record_cb, &d2);
  g_assert_cmpuint(lc_store_pending(s), ==, 3); /* drains are not writes */
  while (log->len < 5)
    g_main_context_iteration(NULL, TRUE);
  g_assert_cmpstr(log->str, ==, "abDcE");
  g_assert_cmpuint(lc_store_pending(s), ==, 0);
  g_string_free(log, TRUE);
  lc_store_close(s);
  fx_clear(&fx);
}

static void
test_close_commits_pending(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  enum { N = 500 };
  done_count d = {0, 0};
  for (int i = 0; i < N; i++) {
    char id[16];
    g_snprintf(id, sizeof id, "p%03d", i);
    lc_store_room_put(s, id, "scheduled", "{}", count_cb, &d);
  }
  lc_store_close(s); /* no loop iteration before: close must wait */
  g_assert_cmpint(d.calls, ==, N);
  g_assert_cmpint(d.last_err, ==, 0);

  sqlite3 *db = raw_open(fx.db, SQLITE_OPEN_READONLY);
  g_assert_cmpint(raw_int(db, "SELECT COUNT(*) FROM rooms"), ==, N);
  sqlite3_close(db);
  s = open_ok(fx.db, NULL);
  GPtrArray *rooms = lc_store_rooms_load(s);
  g_assert_cmpuint(rooms->len, ==, N);
  assert_room(rooms, 0, "p000", "scheduled", "{}");
  assert_room(rooms, N - 1, "p499", "scheduled", "{}");
  g_ptr_array_unref(rooms);
  lc_store_close(s);
  fx_clear(&fx);
}

typedef struct {
  GString *seen;
  gint64 last_id;
} journal_seen;

static void
journal_cb(gint64 id, const char *type, const char *data, gint64 ts, gpointer user)
{
  journal_seen *j = user;
  g_assert_cmpint(id, >, j->last_id); /* append order */
  j->last_id = id;
  g_assert_cmpint(ts, >, 0);
  g_string_append_printf(j->seen, "%s %s;", type, data);
}

/* Facts are acknowledged after commit and replayed per room in append order. A
 * room whose fact could not be stored fails-stop: its later facts fail too (they
 * were decided on state that included the lost one) until the room is reset;
 * other rooms are not affected. */
static void
test_journal_append_replay(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  done_count ok = {0, 1}, bad = {0, 0}, stopped = {0, 0}, reset = {0, 1};
  lc_store_journal_append(s, "a", "order.created", g_strdup("{\"n\":1}"), count_cb, &ok);
  lc_store_journal_append(s, "b", "order.created", g_strdup("{\"n\":2}"), count_cb, &ok);
  lc_store_journal_append(s, "a", "order.paid", g_strdup("[1]"), count_cb, &bad); /* not an object */
  lc_store_journal_append(s, "a", "order.paid", g_strdup("{\"n\":3}"), count_cb, &stopped);
  lc_store_journal_append(s, "b", "order.paid", g_strdup("{\"n\":4}"), count_cb, &ok);
  lc_store_journal_append(s, "", "x", g_strdup("{}"), count_cb, &bad);
  g_assert_cmpint(ok.calls, ==, 0); /* never inside the call */
  wait_calls(&ok.calls, 3);
  wait_calls(&bad.calls, 2);
  wait_calls(&stopped.calls, 1);
  g_assert_cmpint(ok.last_err, ==, 0);
  g_assert_cmpint(bad.last_err, ==, LC_EINVAL);
  g_assert_cmpint(stopped.last_err, ==, LC_EIO);
  lc_store_journal_reset(s, "a", count_cb, &reset);
  lc_store_journal_append(s, "a", "order.paid", g_strdup("{\"n\":5}"), count_cb, &ok);
  wait_calls(&ok.calls, 4);
  g_assert_cmpint(reset.last_err, ==, 0);
  g_assert_cmpint(ok.last_err, ==, 0);
  lc_store_close(s);

  s = open_ok(fx.db, NULL); /* durable across reopen */
  journal_seen j = {g_string_new(NULL), 0};
  g_assert_cmpint(lc_store_journal_load(s, "a", journal_cb, &j), ==, 0);
  g_assert_cmpstr(j.seen->str, ==, "order.created {\"n\":1};order.paid {\"n\":5};");
  g_string_truncate(j.seen, 0);
  j.last_id = 0;
  g_assert_cmpint(lc_store_journal_load(s, "b", journal_cb, &j), ==, 0);
  g_assert_cmpstr(j.seen->str, ==, "order.created {\"n\":2};order.paid {\"n\":4};");
  g_string_truncate(j.seen, 0);
  j.last_id = 0;
  g_assert_cmpint(lc_store_journal_load(s, "nobody", journal_cb, &j), ==, 0);
  g_assert_cmpstr(j.seen->str, ==, "");
  g_string_free(j.seen, TRUE);
  lc_store_close(s);
  fx_clear(&fx);
}

static void
wallet_cb(const char *user, gint64 coins, gpointer data)
{
  g_string_append_printf(data, "%s=%" G_GINT64_FORMAT ";", user, coins);
}

/* A fact that moves coins is stored with its wallet change or not at all: a debit below
 * zero fails the write (the fact is not in the journal, the balance unchanged) and, like
 * any lost fact, stops the room until reset. Wallets are per shop and survive a reopen. */
static void
test_journal_wallet(void)
{
  fixture fx;
  fx_init(&fx);
  lc_store *s = open_ok(fx.db, NULL);
  done_count ok = {0, 1}, bad = {0, 0};
  lc_store_journal_append_wallet(s, "a", "order.paid", g_strdup("{\"n\":1}"), "shop1", "u1", 100, count_cb, &ok);
  lc_store_journal_append_wallet(s, "a", "gift.sent", g_strdup("{\"n\":2}"), "shop1", "u1", -30, count_cb, &ok);
  lc_store_journal_append_wallet(s, "b", "gift.sent", g_strdup("{\"n\":3}"), "shop1", "u1", -71, count_cb, &bad);
  lc_store_journal_append_wallet(s, "c", "order.paid", g_strdup("{\"n\":4}"), "shop2", "u1", 5, count_cb, &ok);
  wait_calls(&ok.calls, 3);
  wait_calls(&bad.calls, 1);
  g_assert_cmpint(ok.last_err, ==, 0);
  g_assert_cmpint(bad.last_err, !=, 0);
  lc_store_close(s);

  s = open_ok(fx.db, NULL);
  GString *w = g_string_new(NULL);
  g_assert_cmpint(lc_store_wallets_load(s, "shop1", wallet_cb, w), ==, 0);
  g_assert_cmpstr(w->str, ==, "u1=70;");
  g_string_truncate(w, 0);
  g_assert_cmpint(lc_store_wallets_load(s, "shop2", wallet_cb, w), ==, 0);
  g_assert_cmpstr(w->str, ==, "u1=5;");
  g_string_free(w, TRUE);
  journal_seen j = {g_string_new(NULL), 0};
  g_assert_cmpint(lc_store_journal_load(s, "b", journal_cb, &j), ==, 0);
  g_assert_cmpstr(j.seen->str, ==, ""); /* the refused debit's fact is not there */
  g_assert_cmpint(lc_store_journal_load(s, "a", journal_cb, &j), ==, 0);
  g_assert_cmpstr(j.seen->str, ==, "order.paid {\"n\":1};gift.sent {\"n\":2};");
  g_string_free(j.seen, TRUE);
  lc_store_close(s);
  fx_clear(&fx);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  main_thread = g_thread_self();
  if (!g_test_verbose())
    lc_log_set_level(LC_LOG_ERROR); /* refusals are expected here; keep output short */
  g_test_add_func("/store/open_create", test_open_create);
  g_test_add_func("/store/journal_append_replay", test_journal_append_replay);
  g_test_add_func("/store/put_load_roundtrip", test_put_load_roundtrip);
  g_test_add_func("/store/invalid_writes_fail_alone", test_invalid_writes_fail_alone);
  g_test_add_func("/store/completion_after_commit_in_order", test_completion_after_commit_in_order);
  g_test_add_func("/store/group_commit_burst", test_group_commit_burst);
  g_test_add_func("/store/second_open_locked", test_second_open_locked);
  g_test_add_func("/store/newer_version_refused", test_newer_version_refused);
  g_test_add_func("/store/garbage_refused", test_garbage_refused);
  g_test_add_func("/store/corrupt_db_refused", test_corrupt_db_refused);
  g_test_add_func("/store/drain_order", test_drain_order);
  g_test_add_func("/store/close_commits_pending", test_close_commits_pending);
  g_test_add_func("/store/journal_wallet", test_journal_wallet);
  return g_test_run();
}

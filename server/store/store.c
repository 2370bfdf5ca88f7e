/* Durable store: SQLite WAL, versioned migrations, one writer thread with group commit.
 *
 * Threads and ownership:
 *  - main thread: open/close, the read connection `rdb` (rooms_load), enqueueing writes,
 *    running completions (one idle GSource per committed batch on `ctx`).
 *  - writer thread: owns the write connection `wdb` and its cached statements; takes
 *    everything queued (up to max_batch), runs it in one BEGIN IMMEDIATE .. COMMIT with
 *    a SAVEPOINT per write, then hands the whole batch to the main context at once.
 *  - `mu` guards `queue`, `stopping`, `done` and `dispatch_scheduled`.
 *
 * A write is an `op`: a function run on the writer thread with the write connection
 * plus owned data, and the caller's completion. Drain markers are ops without exec
 * that complete, in queue order, after every op queued before them. */
#define LC_LOG_DOMAIN "store"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/log.h"
#include "base/metrics.h"

/* ---- schema ----------------------------------------------------------------
 * Migration i (0-based) brings the schema from user_version i to i + 1. Each runs in
 * its own transaction together with `PRAGMA user_version = i + 1`. Append new steps at
 * the end; never edit a step that has shipped. */
static const char *const migrations[] = {
    /* 1: rooms. seq is the creation order; it never changes on update. */
    "CREATE TABLE rooms ("
    "  id TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('scheduled', 'live', 'ended')),"
    "  data TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object'),"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX rooms_seq ON rooms(seq);",
    /* 2: the commerce journal: every durable fact of a room's show, in commit order.
     * The engine rebuilds a room's state by replaying it (server/commerce/show.c). */
    "CREATE TABLE journal ("
    "  id INTEGER PRIMARY KEY,"
    "  room TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  data TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object'),"
    "  ts INTEGER NOT NULL"
    ");"
    "CREATE INDEX journal_room ON journal(room, id);",
    /* 3: coin wallets, one balance per user per shop (docs/marketing.md). Changed only in the
     * transaction of the journal fact that causes the change (a gift, a paid top-up). */
    "CREATE TABLE wallets ("
    "  shop TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  coins INTEGER NOT NULL CHECK (coins >= 0),"
    "  PRIMARY KEY (shop, user)"
    ") WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)G_N_ELEMENTS(migrations))

/* ---- writer statements (prepared once on the write connection) ---------------- */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_ROOM_PUT,
  ST_JOURNAL_APPEND,
  ST_WALLET_ADD,
  ST_WALLET_NEW,
  ST_COUNT
};
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO op",
    [ST_ROOM_PUT] = "INSERT INTO rooms (id, seq, state, data, updated_at)"
                    " VALUES (?1, (SELECT IFNULL(MAX(seq), 0) + 1 FROM rooms), ?2, ?3, ?4)"
                    " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                    " data = excluded.data, updated_at = excluded.updated_at",
    [ST_JOURNAL_APPEND] = "INSERT INTO journal (room, type, data, ts) VALUES (?1, ?2, ?3, ?4)",
    /* a debit below zero violates the CHECK: the write (and its fact) fails */
    [ST_WALLET_ADD] = "UPDATE wallets SET coins = coins + ?3 WHERE shop = ?1 AND user = ?2",
    /* a credit to a wallet that has no row yet (an UPSERT would check the CHECK on the
     * inserted row first, refusing every debit) */
    [ST_WALLET_NEW] = "INSERT INTO wallets (shop, user, coins) VALUES (?1, ?2, ?3)",
};

typedef int (*op_exec_fn)(lc_store *store, gpointer data);

typedef struct {
  op_exec_fn exec; /* NULL: nothing to write (drain marker or rejected input) */
  gpointer data;   /* owned, freed with free_data after completion */
  GDestroyNotify free_data;
  lc_store_done_cb cb;
  gpointer user;
  int err;       /* preset error (rejected input) or the write's result */
  bool is_write; /* counts in lc_store_pending */
} op;

struct lc_store {
  char *path;
  char *lock_path;
  int lock_fd;
  GMainContext *ctx;
  int max_batch;
  int schema_version;
  sqlite3 *rdb;                  /* main thread */
  sqlite3 *wdb;                  /* writer thread once started */
  sqlite3_stmt *stmts[ST_COUNT]; /* writer thread */
  GThread *writer;

  GMutex mu;
  GCond cond;
  GQueue queue; /* op*, waiting for the writer */
  GQueue done;  /* op*, completed, waiting for the main context */
  bool stopping;
  bool dispatch_scheduled; /* an idle source is attached that will take `done` */

  gint pending_writes; /* atomic: writes queued or in flight (until their callback ran) */
  gint pending_ops;    /* atomic: writes + drain markers not yet completed */

  lc_metric *m_commit_seconds;
  lc_metric *m_writes;
  lc_metric *m_commits;
  lc_metric *m_write_errors;
  lc_metric *m_pending;

  /* Writer thread: rooms whose journal lost a write. Their later facts were decided
   * on memory that included the lost one, so they fail too, until the room's show
   * has rebuilt itself and reset the room (lc_store_journal_reset). */
  GHashTable *failed_rooms;
};

static const double commit_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

static void
metric_add(lc_metric *m, gint64 v)
{
  if (m != NULL)
    lc_metric_add(m, v);
}

/* ---- open helpers (main thread) ----------------------------------------------- */

static int
sql_err(int rc)
{
  int primary = rc & 0xff;
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
    return LC_EEXIST;
  if (primary == SQLITE_CONSTRAINT)
    return LC_EINVAL;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
    return LC_ECORRUPT;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return LC_EBUSY;
  return LC_EIO;
}

static bool
is_corrupt_rc(int rc)
{
  int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

/* Runs a PRAGMA that returns one integer. */
static int
pragma_int(sqlite3 *db, const char *sql, int *out)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  *out = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return SQLITE_OK;
fail:
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* PRAGMA quick_check: SQLITE_OK and *problem NULL when fine; *problem (transfer full) is
 * the first reported problem otherwise. */
static int
quick_check(sqlite3 *db, char **problem)
{
  sqlite3_stmt *st = NULL;
  *problem = NULL;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  const char *res = (const char *)sqlite3_column_text(st, 0);
  if (res == NULL || strcmp(res, "ok") != 0) {
    *problem = g_strdup(res != NULL ? res : "(no result)");
    g_strdelimit(*problem, "\r\n\t", ' '); /* one log line */
  }
  sqlite3_finalize(st);
  return SQLITE_OK;
fail:
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

static int
exec_sql(sqlite3 *db, const char *sql, char **msg)
{
  char *errmsg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &errmsg);
  if (rc != SQLITE_OK && msg != NULL)
    *msg = g_strdup(errmsg != NULL ? errmsg : sqlite3_errstr(rc));
  sqlite3_free(errmsg);
  return rc;
}

/* Opens a connection with the busy timeout and foreign keys; nothing is written. */
static sqlite3 *
open_conn(const char *path, int busy_ms, char **err_msg)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK) {
    *err_msg = g_strdup_printf("cannot open database %s: %s", path,
                               db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(db, 1);
  rc = sqlite3_busy_timeout(db, busy_ms);
  if (rc == SQLITE_OK)
    rc = exec_sql(db, "PRAGMA foreign_keys = ON", NULL);
  if (rc != SQLITE_OK) {
    *err_msg = g_strdup_printf("cannot configure database %s: %s", path, sqlite3_errmsg(db));
    goto fail;
  }
  return db;
fail:
  sqlite3_close(db);
  return NULL;
}

/* journal_mode=WAL and synchronous=FULL on one connection. */
static int
set_durability(sqlite3 *db, const char *path, char **err_msg)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  const char *mode = (const char *)sqlite3_column_text(st, 0);
  if (mode == NULL || g_ascii_strcasecmp(mode, "wal") != 0) {
    *err_msg = g_strdup_printf("database %s: cannot enable WAL journal mode (got %s)", path,
                               mode != NULL ? mode : "nothing");
    sqlite3_finalize(st);
    return LC_EIO;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = exec_sql(db, "PRAGMA synchronous = FULL", NULL);
  if (rc != SQLITE_OK)
    goto fail;
  return 0;
fail:
  sqlite3_finalize(st);
  *err_msg = g_strdup_printf("database %s: cannot set durability pragmas: %s", path, sqlite3_errmsg(db));
  return sql_err(rc);
}

/* Applies migrations from `from` to SCHEMA_VERSION, one transaction each. */
static int
migrate(sqlite3 *db, const char *path, int from, char **err_msg)
{
  char *why = NULL;
  int v = from;
  for (; v < SCHEMA_VERSION; v++) {
    int rc = exec_sql(db, "BEGIN IMMEDIATE", &why);
    if (rc != SQLITE_OK)
      goto fail;
    rc = exec_sql(db, migrations[v], &why);
    if (rc == SQLITE_OK) {
      char *set = g_strdup_printf("PRAGMA user_version = %d", v + 1);
      rc = exec_sql(db, set, &why);
      g_free(set);
    }
    if (rc == SQLITE_OK)
      rc = exec_sql(db, "COMMIT", &why);
    if (rc != SQLITE_OK) {
      if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK", NULL);
      goto fail;
    }
    LC_INFO(NULL, NULL, "database %s: applied migration to schema version %d", path, v + 1);
  }
  return 0;
fail:
  *err_msg = g_strdup_printf("database %s: migration to schema version %d failed: %s", path, v + 1,
                             why != NULL ? why : "unknown error");
  g_free(why);
  return LC_EIO;
}

/* Takes the exclusive instance lock on "<path>.lock" (created if needed). */
static int
take_lock(lc_store *s, char **err_msg)
{
  s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (s->lock_fd < 0) {
    *err_msg = g_strdup_printf("cannot open lock file %s for database %s: %s", s->lock_path, s->path,
                               g_strerror(errno));
    return LC_EIO;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      *err_msg =
          g_strdup_printf("database %s is in use by another livecartd (lock %s)", s->path, s->lock_path);
      return LC_EBUSY;
    }
    *err_msg = g_strdup_printf("cannot lock %s for database %s: %s", s->lock_path, s->path, g_strerror(e));
    return LC_EIO;
  }
  return 0;
}

/* Checks an existing database before anything writes to it: readable, not newer than
 * this build, passes quick_check. Returns the current user_version in *version. */
static int
check_existing(lc_store *s, int *version, char **err_msg)
{
  char *problem = NULL;
  int rc = pragma_int(s->rdb, "PRAGMA user_version", version);
  if (rc != SQLITE_OK)
    goto fail;
  if (*version > SCHEMA_VERSION) {
    *err_msg =
        g_strdup_printf("database %s has schema version %d, newer than this build supports (version %d); "
                        "refusing to open it (use a newer livecartd)",
                        s->path, *version, SCHEMA_VERSION);
    return LC_EVERSION;
  }
  if (*version < 0) {
    *err_msg = g_strdup_printf("database %s is corrupt: invalid schema version %d", s->path, *version);
    return LC_ECORRUPT;
  }
  rc = quick_check(s->rdb, &problem);
  if (rc != SQLITE_OK)
    goto fail;
  if (problem != NULL) {
    *err_msg = g_strdup_printf("database %s is corrupt (quick_check: %s)", s->path, problem);
    g_free(problem);
    return LC_ECORRUPT;
  }
  return 0;
fail:
  if (is_corrupt_rc(rc)) {
    *err_msg = g_strdup_printf("database %s is corrupt or not a SQLite database: %s", s->path,
                               sqlite3_errmsg(s->rdb));
    return LC_ECORRUPT;
  }
  *err_msg = g_strdup_printf("cannot read database %s: %s", s->path, sqlite3_errmsg(s->rdb));
  return sql_err(rc);
}

static int
prepare_writer(lc_store *s, char **err_msg)
{
  for (int i = 0; i < ST_COUNT; i++) {
    int rc = sqlite3_prepare_v3(s->wdb, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL);
    if (rc != SQLITE_OK) {
      *err_msg =
          g_strdup_printf("database %s: cannot prepare statement: %s", s->path, sqlite3_errmsg(s->wdb));
      return LC_EIO;
    }
  }
  return 0;
}

static void
setup_metrics(lc_store *s, lc_metrics *m)
{
  if (m == NULL)
    return;
  s->m_commit_seconds =
      lc_metrics_histogram(m, "livecart_store_commit_seconds", NULL,
                           "Time from BEGIN to the end of COMMIT of one store transaction (group commit).",
                           commit_buckets, G_N_ELEMENTS(commit_buckets));
  s->m_writes =
      lc_metrics_counter(m, "livecart_store_writes_total", NULL, "Writes executed by the store writer.");
  s->m_commits = lc_metrics_counter(m, "livecart_store_commits_total", NULL,
                                    "Transactions committed by the store writer.");
  s->m_write_errors = lc_metrics_counter(m, "livecart_store_write_errors_total", NULL,
                                         "Writes that completed with an error.");
  s->m_pending =
      lc_metrics_gauge(m, "livecart_store_pending_writes", NULL, "Writes queued or in flight in the store.");
}

/* ---- writer thread ------------------------------------------------------------ */

static int
step_reset(sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Runs one write inside its own savepoint. Returns 0 or LC_E*; *txn_lost is set when
 * SQLite rolled back the whole transaction (I/O error, disk full). */
static int
run_op(lc_store *s, op *o, bool *txn_lost)
{
  int rc = step_reset(s->stmts[ST_SAVEPOINT]);
  if (rc != SQLITE_OK) {
    LC_ERROR(NULL, NULL, "database %s: SAVEPOINT failed: %s", s->path, sqlite3_errmsg(s->wdb));
    *txn_lost = sqlite3_get_autocommit(s->wdb);
    return sql_err(rc);
  }
  int err = o->exec(s, o->data);
  if (sqlite3_get_autocommit(s->wdb)) {
    *txn_lost = true;
    return err != 0 ? err : LC_EIO;
  }
  if (err != 0) {
    rc = step_reset(s->stmts[ST_ROLLBACK_TO]);
    if (rc != SQLITE_OK)
      LC_ERROR(NULL, NULL, "database %s: ROLLBACK TO failed: %s", s->path, sqlite3_errmsg(s->wdb));
  }
  rc = step_reset(s->stmts[ST_RELEASE]);
  if (rc != SQLITE_OK) {
    LC_ERROR(NULL, NULL, "database %s: RELEASE failed: %s", s->path, sqlite3_errmsg(s->wdb));
    *txn_lost = sqlite3_get_autocommit(s->wdb);
    return err != 0 ? err : sql_err(rc);
  }
  return err;
}

static void journal_mark_failed(lc_store *s, op *o);

/* The whole transaction was lost: every write fails, and the rooms whose facts were
 * in it stop taking facts until reset. */
static void
fail_all(lc_store *s, op **batch, guint n, int err)
{
  for (guint i = 0; i < n; i++)
    if (batch[i]->exec != NULL) {
      batch[i]->err = err;
      journal_mark_failed(s, batch[i]);
    }
}

/* Executes one batch in a single transaction; sets each op's err. */
static void
run_batch(lc_store *s, op **batch, guint n)
{
  guint writes = 0;
  for (guint i = 0; i < n; i++)
    if (batch[i]->exec != NULL)
      writes++;
  if (writes == 0)
    return;
  gint64 t0 = g_get_monotonic_time();
  int rc = step_reset(s->stmts[ST_BEGIN]);
  if (rc != SQLITE_OK) {
    LC_ERROR(NULL, NULL, "database %s: BEGIN failed, %u writes failed: %s", s->path, writes,
             sqlite3_errmsg(s->wdb));
    fail_all(s, batch, n, LC_EIO);
    goto count;
  }
  bool lost = false;
  for (guint i = 0; i < n && !lost; i++)
    if (batch[i]->exec != NULL)
      batch[i]->err = run_op(s, batch[i], &lost);
  if (lost) {
    LC_ERROR(NULL, NULL, "database %s: transaction aborted by SQLite, %u writes failed: %s", s->path, writes,
             sqlite3_errmsg(s->wdb));
    fail_all(s, batch, n, LC_EIO);
    goto count;
  }
  rc = step_reset(s->stmts[ST_COMMIT]);
  if (rc != SQLITE_OK) {
    LC_ERROR(NULL, NULL, "database %s: COMMIT failed, %u writes failed: %s", s->path, writes,
             sqlite3_errmsg(s->wdb));
    if (!sqlite3_get_autocommit(s->wdb))
      step_reset(s->stmts[ST_ROLLBACK]);
    fail_all(s, batch, n, LC_EIO);
    goto count;
  }
  metric_add(s->m_commits, 1);
  if (s->m_commit_seconds != NULL)
    lc_metric_observe(s->m_commit_seconds, (double)(g_get_monotonic_time() - t0) / 1e6);
count:
  metric_add(s->m_writes, writes);
  for (guint i = 0; i < n; i++)
    if (batch[i]->exec != NULL && batch[i]->err != 0)
      metric_add(s->m_write_errors, 1);
}

static gboolean dispatch_done(gpointer data);

static gpointer
writer_main(gpointer data)
{
  lc_store *s = data;
  op **batch = g_new(op *, s->max_batch);
  for (;;) {
    g_mutex_lock(&s->mu);
    while (g_queue_is_empty(&s->queue) && !s->stopping)
      g_cond_wait(&s->cond, &s->mu);
    if (g_queue_is_empty(&s->queue)) { /* stopping */
      g_mutex_unlock(&s->mu);
      break;
    }
    guint n = 0;
    while (n < (guint)s->max_batch && !g_queue_is_empty(&s->queue))
      batch[n++] = g_queue_pop_head(&s->queue);
    g_mutex_unlock(&s->mu);

    run_batch(s, batch, n);

    g_mutex_lock(&s->mu);
    for (guint i = 0; i < n; i++)
      g_queue_push_tail(&s->done, batch[i]);
    bool post = !s->dispatch_scheduled;
    s->dispatch_scheduled = true;
    g_mutex_unlock(&s->mu);
    if (post) {
      /* An explicit source, not g_main_context_invoke: that may run the callback on
       * this thread when the context is free. */
      GSource *src = g_idle_source_new();
      g_source_set_priority(src, G_PRIORITY_DEFAULT);
      g_source_set_callback(src, dispatch_done, s, NULL);
      g_source_set_static_name(src, "lc_store completions");
      g_source_attach(src, s->ctx);
      g_source_unref(src);
    }
  }
  g_free(batch);
  return NULL;
}

/* ---- main-thread side of the queue -------------------------------------------- */

static void
op_free(op *o)
{
  if (o->free_data != NULL)
    o->free_data(o->data);
  g_free(o);
}

/* Runs the completions of every finished op, in queue order. Main context. */
static gboolean
dispatch_done(gpointer data)
{
  lc_store *s = data;
  GQueue batch = G_QUEUE_INIT;
  g_mutex_lock(&s->mu);
  batch = s->done;
  g_queue_init(&s->done);
  s->dispatch_scheduled = false;
  g_mutex_unlock(&s->mu);
  op *o;
  while ((o = g_queue_pop_head(&batch)) != NULL) {
    if (o->cb != NULL)
      o->cb(o->err, o->user);
    if (o->is_write) {
      g_atomic_int_dec_and_test(&s->pending_writes);
      metric_add(s->m_pending, -1);
    }
    op_free(o);
    /* last: lc_store_close may free the store once this reaches 0 */
    g_atomic_int_dec_and_test(&s->pending_ops);
  }
  return G_SOURCE_REMOVE;
}

static void
enqueue(lc_store *s, op *o)
{
  if (o->is_write) {
    g_atomic_int_inc(&s->pending_writes);
    metric_add(s->m_pending, 1);
  }
  g_atomic_int_inc(&s->pending_ops);
  g_mutex_lock(&s->mu);
  bool was_empty = g_queue_is_empty(&s->queue);
  g_queue_push_tail(&s->queue, o);
  if (was_empty)
    g_cond_signal(&s->cond);
  g_mutex_unlock(&s->mu);
}

/* ---- public API --------------------------------------------------------------- */

static void
store_free(lc_store *s)
{
  if (s->failed_rooms)
    g_hash_table_destroy(s->failed_rooms);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->stmts[i]);
  if (s->wdb != NULL && sqlite3_close(s->wdb) != SQLITE_OK)
    LC_ERROR(NULL, NULL, "database %s: closing the write connection failed: %s", s->path,
             sqlite3_errmsg(s->wdb));
  if (s->rdb != NULL && sqlite3_close(s->rdb) != SQLITE_OK)
    LC_ERROR(NULL, NULL, "database %s: closing the read connection failed: %s", s->path,
             sqlite3_errmsg(s->rdb));
  if (s->lock_fd >= 0) {
    flock(s->lock_fd, LOCK_UN);
    close(s->lock_fd);
  }
  if (s->ctx != NULL)
    g_main_context_unref(s->ctx);
  g_mutex_clear(&s->mu);
  g_cond_clear(&s->cond);
  g_free(s->lock_path);
  g_free(s->path);
  g_free(s);
}

lc_store *
lc_store_open(const char *path, const lc_store_options *opts, GMainContext *ctx, char **err_msg)
{
  char *msg = NULL;
  char *dir = NULL;
  lc_store *s = NULL;
  GError *gerr = NULL;
  if (path == NULL || path[0] == '\0') {
    msg = g_strdup("database path is empty");
    goto fail;
  }
  s = g_new0(lc_store, 1);
  s->lock_fd = -1;
  s->path = g_strdup(path);
  s->lock_path = g_strdup_printf("%s.lock", path);
  s->ctx = g_main_context_ref(ctx != NULL ? ctx : g_main_context_default());
  s->max_batch = opts != NULL && opts->max_batch > 0 ? opts->max_batch : 4096;
  s->failed_rooms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  int busy_ms = opts != NULL && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
  g_mutex_init(&s->mu);
  g_cond_init(&s->cond);
  g_queue_init(&s->queue);
  g_queue_init(&s->done);

  dir = g_path_get_dirname(path);
  if (g_mkdir_with_parents(dir, 0750) != 0) {
    msg = g_strdup_printf("cannot create directory %s for database %s: %s", dir, path, g_strerror(errno));
    goto fail;
  }
  if (take_lock(s, &msg) != 0)
    goto fail;

  s->rdb = open_conn(path, busy_ms, &msg);
  if (s->rdb == NULL)
    goto fail;
  int version = 0;
  if (check_existing(s, &version, &msg) != 0)
    goto fail;
  if (set_durability(s->rdb, path, &msg) != 0)
    goto fail;
  if (migrate(s->rdb, path, version, &msg) != 0)
    goto fail;
  s->schema_version = SCHEMA_VERSION;

  s->wdb = open_conn(path, busy_ms, &msg);
  if (s->wdb == NULL)
    goto fail;
  if (set_durability(s->wdb, path, &msg) != 0)
    goto fail;
  if (prepare_writer(s, &msg) != 0)
    goto fail;
  setup_metrics(s, opts != NULL ? opts->metrics : NULL);

  s->writer = g_thread_try_new("lc-store-writer", writer_main, s, &gerr);
  if (s->writer == NULL) {
    msg = g_strdup_printf("database %s: cannot start the writer thread: %s", path, gerr->message);
    g_error_free(gerr);
    goto fail;
  }
  LC_INFO(NULL, NULL, "opened database %s (schema version %d, max batch %d)", path, s->schema_version,
          s->max_batch);
  g_free(dir);
  if (err_msg != NULL)
    *err_msg = NULL;
  return s;
fail:
  LC_ERROR(NULL, NULL, "refusing to open database: %s", msg);
  if (err_msg != NULL)
    *err_msg = msg;
  else
    g_free(msg);
  g_free(dir);
  if (s != NULL)
    store_free(s);
  return NULL;
}

void
lc_store_close(lc_store *store)
{
  if (store == NULL)
    return;
  guint n = lc_store_pending(store);
  if (n > 0)
    LC_INFO(NULL, NULL, "database %s: closing, committing %u pending writes", store->path, n);
  while (g_atomic_int_get(&store->pending_ops) > 0)
    g_main_context_iteration(store->ctx, TRUE);
  g_mutex_lock(&store->mu);
  store->stopping = true;
  g_cond_signal(&store->cond);
  g_mutex_unlock(&store->mu);
  g_thread_join(store->writer);
  LC_INFO(NULL, NULL, "closed database %s", store->path);
  store_free(store);
}

void
lc_store_drain(lc_store *store, lc_store_done_cb cb, gpointer user)
{
  op *o = g_new0(op, 1);
  o->cb = cb;
  o->user = user;
  enqueue(store, o);
}

guint
lc_store_pending(lc_store *store)
{
  return (guint)g_atomic_int_get(&store->pending_writes);
}

int
lc_store_schema_version(lc_store *store)
{
  return store->schema_version;
}

/* ---- rooms -------------------------------------------------------------------- */

/* A row of three texts and an integer: both a room and a journal fact are one. */
typedef struct {
  char *a, *b, *c;
  gint64 n;
} row4;

static void
row4_free(gpointer p)
{
  row4 *d = p;
  g_free(d->a);
  g_free(d->b);
  g_free(d->c);
  g_free(d);
}

/* Writer thread: binds the row to statement `which` (?1..?4) and runs it.
 * Returns 0 or an LC_E*, logging `what` on failure. */
static int
exec_row4(lc_store *s, int which, const row4 *d, const char *room, const char *what)
{
  sqlite3_stmt *st = s->stmts[which];
  int rc = sqlite3_bind_text(st, 1, d->a, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 2, d->b, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 3, d->c, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 4, d->n);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  int err = rc == SQLITE_DONE ? 0 : sql_err(sqlite3_extended_errcode(s->wdb));
  if (err != 0)
    LC_WARN(room, NULL, "database %s: %s failed: %s", s->path, what, sqlite3_errmsg(s->wdb));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return err;
}

/* Writer thread. row4: id, state, data, updated_at. */
static int
room_put_exec(lc_store *s, gpointer data)
{
  const row4 *d = data;
  return exec_row4(s, ST_ROOM_PUT, d, d->a, "storing the room");
}

static bool
valid_room_state(const char *state)
{
  return state != NULL &&
         (strcmp(state, "scheduled") == 0 || strcmp(state, "live") == 0 || strcmp(state, "ended") == 0);
}

void
lc_store_room_put(lc_store *store, const char *id, const char *state, const char *data_json,
                  lc_store_done_cb cb, gpointer user)
{
  op *o = g_new0(op, 1);
  o->cb = cb;
  o->user = user;
  o->is_write = true;
  if (id == NULL || id[0] == '\0' || !valid_room_state(state) || data_json == NULL) {
    /* completes asynchronously and in order, like every write */
    LC_WARN(id, NULL, "rejected room write: invalid id, state or data");
    o->err = LC_EINVAL;
  } else {
    row4 *d = g_new0(row4, 1);
    d->a = g_strdup(id);
    d->b = g_strdup(state);
    d->c = g_strdup(data_json);
    d->n = g_get_real_time() / G_USEC_PER_SEC;
    o->exec = room_put_exec;
    o->data = d;
    o->free_data = row4_free;
  }
  enqueue(store, o);
}

static void
room_free(gpointer p)
{
  lc_store_room *r = p;
  g_free(r->id);
  g_free(r->state);
  g_free(r->data_json);
  g_free(r);
}

static char *
col_dup(sqlite3_stmt *st, int col)
{
  const unsigned char *t = sqlite3_column_text(st, col);
  return g_strdup(t != NULL ? (const char *)t : "");
}

GPtrArray *
lc_store_rooms_load(lc_store *store)
{
  sqlite3_stmt *st = NULL;
  GPtrArray *rooms = g_ptr_array_new_with_free_func(room_free);
  int rc = sqlite3_prepare_v2(store->rdb, "SELECT id, state, data FROM rooms ORDER BY seq", -1, &st, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    lc_store_room *r = g_new0(lc_store_room, 1);
    r->id = col_dup(st, 0);
    r->state = col_dup(st, 1);
    r->data_json = col_dup(st, 2);
    g_ptr_array_add(rooms, r);
  }
  if (rc != SQLITE_DONE)
    goto fail;
  sqlite3_finalize(st);
  return rooms;
fail:
  LC_ERROR(NULL, NULL, "database %s: loading rooms failed: %s", store->path, sqlite3_errmsg(store->rdb));
  sqlite3_finalize(st);
  g_ptr_array_unref(rooms);
  return NULL;
}

/* ---- journal ------------------------------------------------------------------ */

/* Writer thread. row4: room, type, data, ts. */
static int
journal_exec(lc_store *s, gpointer data)
{
  const row4 *d = data;
  if (g_hash_table_contains(s->failed_rooms, d->a))
    return LC_EIO; /* an earlier fact of this room was lost: fail-stop until reset */
  int err = exec_row4(s, ST_JOURNAL_APPEND, d, d->a, "journal append");
  if (err != 0)
    g_hash_table_add(s->failed_rooms, g_strdup(d->a));
  return err;
}

/* A journal fact that also moves coins of one wallet: row4 + the wallet change. */
typedef struct {
  row4 row;
  char *shop, *user;
  gint64 delta;
} wallet_row;

static void
wallet_row_free(gpointer p)
{
  wallet_row *w = p;
  g_free(w->row.a);
  g_free(w->row.b);
  g_free(w->row.c);
  g_free(w->shop);
  g_free(w->user);
  g_free(w);
}

/* Writer thread: the wallet change first (a debit below zero fails the CHECK), then the fact,
 * both inside the op's savepoint: either both are stored or neither. */
static int
journal_wallet_exec(lc_store *s, gpointer data)
{
  wallet_row *w = data;
  if (g_hash_table_contains(s->failed_rooms, w->row.a))
    return LC_EIO;
  int err = 0;
  for (int which = ST_WALLET_ADD; which <= ST_WALLET_NEW && err == 0; which++) {
    sqlite3_stmt *st = s->stmts[which];
    int rc = sqlite3_bind_text(st, 1, w->shop, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
      rc = sqlite3_bind_text(st, 2, w->user, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
      rc = sqlite3_bind_int64(st, 3, w->delta);
    if (rc == SQLITE_OK)
      rc = sqlite3_step(st);
    err = rc == SQLITE_DONE ? 0 : sql_err(sqlite3_extended_errcode(s->wdb));
    if (err != 0)
      LC_WARN(w->row.a, NULL, "database %s: wallet change of %s/%s by %" G_GINT64_FORMAT " failed: %s", s->path,
              w->shop, w->user, w->delta, sqlite3_errmsg(s->wdb));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (which == ST_WALLET_ADD && err == 0 && sqlite3_changes(s->wdb) > 0)
      break; /* the wallet existed */
    if (which == ST_WALLET_ADD && err == 0 && w->delta < 0) {
      LC_WARN(w->row.a, NULL, "database %s: debit of %s/%s, which has no wallet", s->path, w->shop, w->user);
      err = LC_EINVAL;
    }
  }
  if (err == 0)
    err = exec_row4(s, ST_JOURNAL_APPEND, &w->row, w->row.a, "journal append");
  if (err != 0)
    g_hash_table_add(s->failed_rooms, g_strdup(w->row.a));
  return err;
}

/* One journal fact, and the coins of one wallet when shop, wallet_user and delta are set. */
static void
journal_enqueue(lc_store *store, const char *room, const char *type, char *data_json, const char *shop,
                const char *wallet_user, gint64 delta, lc_store_done_cb cb, gpointer user)
{
  op *o = g_new0(op, 1);
  o->cb = cb;
  o->user = user;
  o->is_write = true;
  if (room == NULL || room[0] == '\0' || type == NULL || type[0] == '\0' || data_json == NULL) {
    LC_WARN(room, NULL, "rejected journal write: invalid room, type or data");
    o->err = LC_EINVAL;
    g_free(data_json);
    enqueue(store, o);
    return;
  }
  row4 *d;
  if (shop && wallet_user && delta) {
    wallet_row *w = g_new0(wallet_row, 1);
    w->shop = g_strdup(shop);
    w->user = g_strdup(wallet_user);
    w->delta = delta;
    d = &w->row;
    o->exec = journal_wallet_exec;
    o->free_data = wallet_row_free;
  } else {
    d = g_new0(row4, 1);
    o->exec = journal_exec;
    o->free_data = row4_free;
  }
  d->a = g_strdup(room);
  d->b = g_strdup(type);
  d->c = data_json;
  d->n = g_get_real_time() / 1000;
  o->data = d;
  enqueue(store, o);
}

void
lc_store_journal_append_wallet(lc_store *store, const char *room, const char *type, char *data_json,
                               const char *shop, const char *wallet_user, gint64 delta, lc_store_done_cb cb,
                               gpointer user)
{
  journal_enqueue(store, room, type, data_json, shop, wallet_user, delta, cb, user);
}

int
lc_store_wallets_load(lc_store *store, const char *shop, lc_store_wallet_fn fn, gpointer user)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(store->rdb, "SELECT user, coins FROM wallets WHERE shop = ?1", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, shop, -1, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *u = (const char *)sqlite3_column_text(st, 0);
    fn(u ? u : "", sqlite3_column_int64(st, 1), user);
  }
  if (rc != SQLITE_DONE)
    goto fail;
  sqlite3_finalize(st);
  return 0;
fail:
  LC_ERROR(NULL, NULL, "database %s: loading the wallets of shop %s failed: %s", store->path, shop,
           sqlite3_errmsg(store->rdb));
  sqlite3_finalize(st);
  return LC_EIO;
}

void
lc_store_journal_append(lc_store *store, const char *room, const char *type, char *data_json,
                        lc_store_done_cb cb, gpointer user)
{
  journal_enqueue(store, room, type, data_json, NULL, NULL, 0, cb, user);
}

int
lc_store_journal_load(lc_store *store, const char *room, lc_store_journal_fn fn, gpointer user)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      store->rdb, "SELECT id, type, data, ts FROM journal WHERE room = ?1 ORDER BY id", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, room, -1, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 1);
    const char *data = (const char *)sqlite3_column_text(st, 2);
    fn(sqlite3_column_int64(st, 0), type ? type : "", data ? data : "{}", sqlite3_column_int64(st, 3), user);
  }
  if (rc != SQLITE_DONE)
    goto fail;
  sqlite3_finalize(st);
  return 0;
fail:
  LC_ERROR(room, NULL, "database %s: loading the journal failed: %s", store->path,
           sqlite3_errmsg(store->rdb));
  sqlite3_finalize(st);
  return LC_EIO;
}

/* Writer thread. */
static void
journal_mark_failed(lc_store *s, op *o)
{
  if (o->exec == journal_exec || o->exec == journal_wallet_exec) /* wallet_row starts with its row4 */
    g_hash_table_add(s->failed_rooms, g_strdup(((row4 *)o->data)->a));
}

/* Writer thread. */
static int
journal_reset_exec(lc_store *s, gpointer data)
{
  if (g_hash_table_remove(s->failed_rooms, data))
    LC_INFO(data, NULL, "database %s: the room's journal takes facts again", s->path);
  return 0;
}

void
lc_store_journal_reset(lc_store *store, const char *room, lc_store_done_cb cb, gpointer user)
{
  op *o = g_new0(op, 1);
  o->cb = cb;
  o->user = user;
  o->is_write = true;
  o->exec = journal_reset_exec;
  o->data = g_strdup(room);
  o->free_data = g_free;
  enqueue(store, o);
}

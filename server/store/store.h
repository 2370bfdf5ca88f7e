/* Durable store: SQLite in WAL mode behind a small API. No SQL outside server/store.
 *
 * Threads: lc_store_open/close and the *_load functions run on the main thread.
 * Writes are queued to one writer thread that batches everything queued into a
 * single transaction (group commit). When the COMMIT has returned, each write's
 * completion callback runs on the GMainContext given to lc_store_open, so callers
 * acknowledge to their clients only what is durable.
 *
 * Durability: journal_mode=WAL, synchronous=FULL: a write whose callback reported 0
 * survives kill -9 and power loss.
 *
 * Schema: versioned migrations applied at open in one transaction each. A database
 * whose user_version is newer than this build, or that fails integrity checks, is
 * refused (never modified). A second process opening the same database is refused
 * (an exclusive lock on "<path>.lock"). */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct lc_store lc_store;
typedef struct lc_metrics lc_metrics;

typedef struct {
  int max_batch;        /* most writes per transaction (default 4096) */
  int busy_timeout_ms;  /* SQLite busy timeout (default 5000) */
  lc_metrics *metrics;  /* optional: commit latency histogram, batch sizes, write counters */
} lc_store_options;

/* Completion of one write, on the store's GMainContext after its transaction
 * committed (err == 0) or failed (negative LC_E*; nothing of that write is stored). */
typedef void (*lc_store_done_cb)(int err, gpointer user);

/* Opens or creates the database at `path` (parent directories are created),
 * takes the instance lock, applies migrations and starts the writer thread.
 * On failure returns NULL and sets *err_msg (transfer full) to a message that
 * names the path and the problem (locked by another instance, corrupt, newer
 * schema version, not a database, permission denied). opts may be NULL. */
lc_store *lc_store_open(const char *path, const lc_store_options *opts, GMainContext *ctx,
                        char **err_msg);

/* Waits until every queued write has committed and its callback has run
 * (iterating the store's context), then stops the writer thread, closes the
 * database and releases the lock. Main thread. NULL is a no-op. */
void lc_store_close(lc_store *store);

/* Calls `cb(0, user)` on the main context once every write queued before this
 * call has committed and its callback has run. Used for graceful shutdown. */
void lc_store_drain(lc_store *store, lc_store_done_cb cb, gpointer user);

/* Number of writes queued or in flight. Any thread. */
guint lc_store_pending(lc_store *store);

/* Schema version of the open database. */
int lc_store_schema_version(lc_store *store);

/* ---- rooms ---------------------------------------------------------------- */

/* Insert or replace the room `id`. state is "scheduled" | "live" | "ended";
 * data_json is the room's JSON object as text (copied). Main thread. */
void lc_store_room_put(lc_store *store, const char *id, const char *state, const char *data_json,
                       lc_store_done_cb cb, gpointer user);

typedef struct {
  char *id;
  char *state;
  char *data_json;
} lc_store_room;

/* All stored rooms in creation order: a GPtrArray of lc_store_room* that frees them
 * (transfer full). Main thread; meant for start-up. On error returns NULL. */
GPtrArray *lc_store_rooms_load(lc_store *store);

/* ---- commerce journal --------------------------------------------------------- */

/* Appends one fact of a room's show: type such as "order.created", data_json a JSON
 * object as text (transfer full: g_free'd by the store). Facts of one room are
 * replayed in append order. Main thread. */
void lc_store_journal_append(lc_store *store, const char *room, const char *type, char *data_json,
                             lc_store_done_cb cb, gpointer user);

/* The same, and in the same transaction the coin wallet of (shop, wallet_user) changes by
 * delta (docs/marketing.md): both are stored or neither; a debit that would take the balance
 * below zero fails the write (LC_EINVAL from the constraint) like any failed append (the
 * room's fail-stop applies). delta 0 or no shop: a plain append. Main thread. */
void lc_store_journal_append_wallet(lc_store *store, const char *room, const char *type, char *data_json,
                                    const char *shop, const char *wallet_user, gint64 delta,
                                    lc_store_done_cb cb, gpointer user);

/* Every wallet of a shop: fn(user, coins) for each. 0 or LC_EIO. Main thread. */
typedef void (*lc_store_wallet_fn)(const char *user, gint64 coins, gpointer data);
int lc_store_wallets_load(lc_store *store, const char *shop, lc_store_wallet_fn fn, gpointer user);

/* Fail-stop: once a fact of a room could not be stored (or its transaction was
 * lost), every later fact of that room fails with LC_EIO too — they were decided on
 * state that included the lost one — until the room is reset with this call, queued
 * after the owner has rebuilt its state from the journal. Main thread. */
void lc_store_journal_reset(lc_store *store, const char *room, lc_store_done_cb cb, gpointer user);

/* Called for each fact of a room in order; strings are borrowed for the call. */
typedef void (*lc_store_journal_fn)(gint64 id, const char *type, const char *data_json, gint64 ts_ms,
                                    gpointer user);
/* Replays a room's journal synchronously. 0 or LC_EIO. Main thread (start-up). */
int lc_store_journal_load(lc_store *store, const char *room, lc_store_journal_fn fn, gpointer user);

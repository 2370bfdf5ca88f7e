/* Cluster mode of the show engine: the journal lives in a shared store (Redis,
 * server/cluster) instead of this node's SQLite, and every node follows it.
 *
 * The engine still validates an operation against its own state, but it no longer
 * applies the fact at once: it sends the fact with its *gate* (counter checks and
 * updates: stock, sale remainder, per-user limits, coupon quantities, an order's
 * pending marker) to the store, which checks the gate and appends the fact atomically
 * or refuses it. Every node, the writer included, applies the facts in the order the
 * store has them (lc_show_remote_entry) and derives the same events from them, so an
 * event's seq means the same on every node. Throttled broadcasts (stock, sale stock),
 * the sale-start announcement, likes and viewer counts, chat messages and the video
 * state are entries of the stream too ("tick", "counts", "chat", "chat.deleted",
 * "stream"), for the same reason.
 *
 * Main thread only, like the engine. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct lc_show lc_show;

/* One counter operation of a gate, on the room's counter hash (absent = 0). */
typedef enum {
  LC_GATE_ADD = 'a',  /* field += delta; refused unless lo <= result <= hi (when set) */
  LC_GATE_SET = 's',  /* field = delta */
  LC_GATE_COND = 'c', /* if cond == 0: field += delta, else field2 += delta */
  LC_GATE_MOVE = 'm', /* field2 += field; field = 0 */
  LC_GATE_REST = 'r', /* field = delta - field2 (what is left of a total others hold) */
  LC_GATE_BELOW = 'b', /* if field < hi: field += delta (a seat leaves a team that has not filled) */
} lc_gate_kind;

typedef struct {
  lc_gate_kind kind;
  bool with_n;          /* the entry's allocated number is appended to field */
  char *field, *field2, *cond;
  gint64 delta;
  bool has_lo, has_hi;
  gint64 lo, hi;
  const char *code;     /* the error when this check refuses (static) */
  char *message;
  bool report;          /* the field's value after this op is stored with the entry ("v") */
} lc_gate_op;

/* What to append. */
typedef struct {
  const char *type;         /* the fact's journal type, or tick / counts / chat / chat.deleted / stream */
  const char *data;         /* JSON object text */
  const char *token;        /* identifies the writer's pending operation */
  gint64 ts;                /* the writer's clock, ms */
  const char *op_key;       /* "user\x1fop_id": idempotent across nodes; NULL: none */
  const char *idseq;        /* allocate the next number of this sequence ("o", "c", "m"); NULL: none */
  const char *skip_if_last; /* do not append when the stream's last entry has this type (ticks) */
  gint64 skip_within_ms;    /* nor when an entry of this type was appended less than this ago (ticks) */
  const lc_gate_op *ops;
  guint n_ops;
  const char *shop;         /* the room's shop: fields "W:..." of ops are its coin wallets */
  gint64 likes;             /* counts: likes since the last report */
  gint64 viewers;           /* counts: this node's viewer connections */
} lc_show_append;

typedef enum {
  LC_SHOW_APPEND_OK,          /* appended as entry `id` */
  LC_SHOW_APPEND_DUP,         /* op_key (or skip_if_last) was seen: entry `id` holds the first */
  LC_SHOW_APPEND_GATE,        /* refused by ops[gate] */
  LC_SHOW_APPEND_UNAVAILABLE, /* no answer (store down, timeout): it may or may not be stored */
} lc_show_append_status;

typedef void (*lc_show_append_cb)(lc_show_append_status st, const char *id, int gate, gpointer user);

typedef struct {
  /* Appends to the room's stream; cb exactly once, on the main loop, possibly before
   * the follower delivers the entry or after. */
  void (*append)(gpointer ctx, const char *room, const lc_show_append *a, lc_show_append_cb cb, gpointer user);
  gpointer ctx;
  const char *node_id;      /* borrowed: this node (counts entries) */
  gint64 answer_timeout_ms; /* an appended entry not applied by then fails its op with unavailable */
  /* Reads a coin wallet of a shop: cb exactly once, on the main loop, with the balance (-1: no
   * answer) and the show, or NULL for the show when it was detached from the store meanwhile. */
  void (*wallet_get)(gpointer ctx, lc_show *show, const char *shop, const char *user,
                     void (*cb)(lc_show *show, gint64 coins, gpointer data), gpointer data);
} lc_show_remote;

/* Stream ids ("ms-seq") in order: <0, 0, >0. */
int lc_show_stream_id_cmp(const char *a, const char *b);

/* The shared epoch of the room's stream (before the first entry). */
void lc_show_remote_set_epoch(lc_show *s, const char *epoch);
/* Entries loaded at open (replay: no events are sent, seq counts as live) and live ones
 * from the follower, in stream order. Strings are borrowed. n: the allocated number or
 * NULL; token: the writer's token or NULL. */
void lc_show_remote_begin_replay(lc_show *s);
void lc_show_remote_end_replay(lc_show *s);
void lc_show_remote_entry(lc_show *s, const char *id, const char *type, const char *data, const char *token,
                          const char *n, gint64 ts);
/* The same with the value the gate reported for the entry (its op with `report`: a wallet's
 * balance after a gift or a paid top-up), or NULL. */
void lc_show_remote_entry_v(lc_show *s, const char *id, const char *type, const char *data, const char *token,
                            const char *n, const char *v, gint64 ts);
/* A stream entry as this node's own journal (lc_store) keeps a fact, with the store's number
 * written into its id: for the archive of an ended show. NULL for entries that are not facts
 * or do not decode. transfer full (g_free). */
char *lc_show_remote_fact_text(const char *type, const char *data, const char *n, gint64 low_stock_default);
/* The last entry applied ("0-0" before any). */
const char *lc_show_remote_position(const lc_show *s);
/* The store went away / came back: while away every write fails at once with
 * `unavailable`, and the timers that write wait. */
void lc_show_remote_set_up(lc_show *s, bool up);
bool lc_show_remote_is_up(const lc_show *s);

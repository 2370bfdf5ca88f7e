/* Shared between the show's files (show.c: core, journal and events; show_stock.c:
 * catalog, pin, flash sales; show_orders.c: carts, coupons, orders; show_chat.c:
 * chat, likes, viewers). Not part of the public API. Main thread only. */
#pragma once
#include "commerce/catalog.h"
#include "commerce/coupon.h"
#include "commerce/show.h"
#include "commerce/show_facts.h"
#include "commerce/show_market.h"
#include "commerce/show_remote.h"
#include "commerce/wallet.h"
#include "store/store.h"

typedef enum { SALE_SCHEDULED, SALE_LIVE, SALE_SOLD_OUT, SALE_ENDED } sale_state;

typedef struct {
  lc_show *show;           /* back-pointer for timers */
  char *id;
  char *sku_id;            /* the SKU, by id: indices change when a catalog is reloaded */
  int sku;                 /* its index in the current catalog; -1 when it is gone */
  gint64 price;
  gint64 quantity;         /* units reserved from the SKU for the sale */
  gint64 sold;             /* in pending and paid orders */
  gint64 per_user_limit;
  gint64 starts_at, ends_at;
  bool ended;              /* stopped or over: the remainder went back to the SKU */
  GHashTable *bought;      /* user -> gint64* units in pending and paid orders */
  guint timer;             /* next start/end transition */
  bool announced_live;     /* flash.started was broadcast */
} sale;

typedef struct {
  lc_coupon *c;
  gint64 claimed;
} coupon;

typedef enum { CLAIM_AVAILABLE, CLAIM_USED } claim_state;
typedef struct {
  char *id;
  char *coupon_id;
  char *user;
  claim_state state;
  char *order_id;          /* while used */
} claim;

typedef enum { ORDER_PENDING, ORDER_PAID, ORDER_CANCELLED, ORDER_EXPIRED } order_state;
typedef struct {
  int sku;
  char *sku_id;
  gint64 qty;
  gint64 unit_price;
  char *sale_id;           /* NULL: a regular purchase */
  char *promo_kind, *promo_label; /* the promotion the line got (NULL: none) */
  gint64 promo_discount;
} order_item;

typedef struct {
  char *id;
  char *user;
  order_state state;
  order_item *items;
  int n_items;
  gint64 subtotal, discount, total;
  char *claim_id;
  gint64 created_at, expires_at, closed_at;
  char *payment_ref;
  char *reason;
  gint64 promo_discount;   /* part of discount that promotions took */
  gint64 coins;            /* > 0: a wallet top-up (no items) */
  char *group_deal, *team_id; /* a group-buy seat (show_group.c), else NULL */
} order;

typedef struct {
  char *id;
  char *user;
  char *name;
  char *text;
  gint64 at;
} chat_msg;

typedef struct {
  gint64 until_ms;         /* muted until; 0 none */
  char *mute_reason;       /* of that mute, or NULL */
  bool banned;
  gint64 last_msg_ms;
} chatter;

/* An answer remembered for an op_id. While `pending`, later duplicates wait in `waiters`. */
typedef struct {
  char *key;
  bool pending;
  char *code;
  char *message;
  char *result;            /* the answer as compact JSON text: 10x smaller than a json_t tree */
  size_t bytes;            /* what this entry counts against op_cache_bytes */
  GSList *waiters;         /* waiter* */
} op_entry;

struct lc_show {
  char *room;
  lc_store *store;
  lc_show_config cfg;
  lc_show_sinks sinks;
  char epoch[17];
  gint64 seq;
  bool closed;
  bool broken;             /* an append failed: rebuilding from the journal */
  bool stopping;           /* the server is shutting down: no new operations, no timers */
  bool replaying;          /* applying stored facts: no events, no answers */
  gconstpointer origin;    /* requesting connection of the operation being answered */
  gint64 replay_now;       /* the fact's time while replaying, else 0 */
  lc_show_stream_state stream; /* the video's state as main reports it (0: offline); not show
                                * state: a rebuild keeps it */
  /* cluster mode (cfg.remote, show_remote.c); kept by state_clear like the above */
  GHashTable *rpending;    /* token -> rpending* (show_remote.c): sent, not yet applied */
  GQueue rwaiting;         /* rpending* answered "dup": wait until their entry is applied */
  char *rpos;              /* the last stream entry applied */
  char *rtoken_prefix;     /* "node/nonce/" of this node's tokens */
  gint64 rtoken;           /* the next token's number */
  bool rup;                /* the store answers */
  bool rentry;             /* applying an entry: the time is its ts (replay_now) */
  gint64 likes_unsent;     /* likes of this node's viewers not reported yet */
  gint64 viewers_total;    /* every node's viewers, from the last counts entry */
  guint rtick_timer;       /* a flush tick is due */
  guint rcounts_timer;     /* a counts report is due */
  guint rsweep_timer;      /* entries in flight: fail those not back by their deadline */
  /* coin wallets (wallet.h): not show state, a rebuild keeps them */
  char *shop;
  lc_wallets *wallets;     /* cfg.wallets or own_wallets */
  lc_wallets *own_wallets; /* when the owner gave none */

  lc_catalog *catalog;
  gint64 *available;       /* per SKU: units that can still be ordered */
  bool *low_alerted;       /* per SKU */
  int pinned;              /* product index or -1 */
  gint64 pinned_at;

  GPtrArray *sales;        /* sale*, in schedule order */
  GPtrArray *coupons;      /* coupon* */
  GHashTable *claims;      /* claim id -> claim* (owned) */
  GHashTable *carts;       /* user -> GHashTable sku id -> gint64* */
  GHashTable *orders;      /* id -> order* (owned) */
  GHashTable *holds;       /* "user\x1fsku id" -> gint64*: units of the SKU in the user's pending orders
                            * outside flash sales (the hold limit); derived by the order appliers */
  GPtrArray *order_list;   /* order*, creation order (borrowed) */
  GQueue expiry;           /* pending order* by expires_at */
  guint expiry_timer;
  gint64 next_order, next_claim, next_sale, next_msg;
  gint64 catalog_version;  /* catalog.loaded facts applied (cluster gate: decided on this catalog) */

  gint64 likes;
  gint64 likes_journaled;
  gint64 viewers, peak_viewers;
  GHashTable *seen_users;  /* distinct identified viewers */
  gint64 anon_joins;
  GHashTable *chatters;    /* user -> chatter* */
  GQueue chat;             /* chat_msg*, newest last, at most cfg.chat_recent */
  gint64 slow_mode_s;

  GHashTable *ops;         /* key -> op_entry* */
  GQueue op_order;         /* op_entry* for FIFO eviction */
  size_t op_bytes;         /* memory of the settled entries */

  /* throttled aggregates */
  guint throttle_timer;
  guint counts_timer;      /* likes and viewers, on their own slower clock */
  GHashTable *dirty_skus;  /* sku index+1 set */
  GHashTable *dirty_sales; /* sale* set */
  bool dirty_likes, dirty_viewers;
  guint likes_timer;

  /* promotions: sku id -> lc_promo* */
  GHashTable *promos;
  /* group buy (show_group.c) */
  GPtrArray *deals;        /* deal*, in open order */
  GHashTable *teams;       /* id -> team* (owned) */
  GQueue team_deadlines;   /* open team* by deadline */
  guint team_timer;
  /* gifts (show_gifts.c) */
  lc__gift_def *gifts;     /* the gift catalog */
  int n_gifts;
  gint64 coin_cents, creator_pct;
  GHashTable *gift_totals; /* gift id -> gift_total* */
  GHashTable *gifters;     /* user -> gifter* */
  gint64 gift_count, gift_coins, gift_value, gift_creator, next_gift, next_combo;
  GHashTable *combos;      /* "user\x1fgift" -> combo* (owned) */
  GHashTable *dirty_combos; /* combo* set */
  GHashTable *gift_combo;  /* gift n -> its combo (id, count) as of that gift, until its answer is made */
  bool board_dirty;
  guint gifts_timer, board_timer;
  gint64 gifts_flushed_at, board_flushed_at; /* cluster mode: the tick times of the last broadcasts */
};

/* ---- show.c: core helpers ------------------------------------------------------ */

/* "offline" / "live" / "reconnecting" (static). */
const char *lc__stream_name(lc_show_stream_state st);
/* Current time in ms (the fact's time while replaying or applying a stream entry). */
gint64 lc__show_now(lc_show *s);
/* Emits a room-wide event (not while replaying). data: transfer full. */
void lc__show_event(lc_show *s, lc_show_event_kind kind, json_t *data);
void lc__show_private(lc_show *s, const char *user, lc_show_event_kind kind, json_t *data);
/* A private event that repeats the answer of the operation being completed: the
 * requesting connection is skipped (it gets the answer). */
void lc__show_private_answer(lc_show *s, const char *user, lc_show_event_kind kind, json_t *data);
void lc__show_alert(lc_show *s, lc_show_event_kind kind, json_t *data);
/* Marks aggregates for the next throttled broadcast. */
void lc__show_dirty_sku(lc_show *s, int sku);
void lc__show_dirty_sale(lc_show *s, sale *sl);
void lc__show_dirty_likes(lc_show *s);
void lc__show_dirty_viewers(lc_show *s);

/* Answer of an operation in progress. */
typedef struct lc__op lc__op;
/* Starts an operation: returns NULL when the op_id was seen before (the caller has
 * been or will be answered with the first answer) or the show is rebuilding. */
lc__op *lc__op_begin(lc_show *s, const lc_show_caller *caller, lc_show_done done, gpointer user);
/* Ends it with an error now. */
void lc__op_fail(lc__op *op, const char *code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Ends it successfully now (nothing to store). result: transfer full. */
void lc__op_reply(lc__op *op, json_t *result);

/* After commit: emits the fact's events and returns the answer (transfer full). f is the
 * fact as applied (owned pointers an applier took are NULL). */
typedef json_t *(*lc__committed_fn)(lc_show *s, const lc__fact *f, gpointer data);
/* Encodes `f` (transfer full), applies it to memory now, appends it to the journal and,
 * once committed, runs `committed` and answers op (which may be NULL for internal
 * facts such as expiries). data is freed with data_free after. */
void lc__show_commit(lc_show *s, lc__op *op, lc__fact *f, lc__committed_fn committed, gpointer data,
                     GDestroyNotify data_free);
/* Remembers an answer for (user, op_id) seen while replaying, or written by another node:
 * an operation with that op_id waiting here gets it. result: borrowed. */
void lc__op_remember(lc_show *s, const char *user, const char *op_id, const json_t *result);
/* Answers op with the settled answer of its op_id (written by another node) without
 * settling it again; false when there is none (evicted). */
bool lc__op_answer_remembered(lc__op *op);
/* The requesting connection of an operation. */
gconstpointer lc__op_origin(const lc__op *op);

/* The applier of every kind (show.c). f: the catalog and coupon appliers take what they keep. */
void lc__show_apply(lc_show *s, lc__fact *f);
/* The events and answer of a kind after it is applied (NULL: none; likes). */
lc__committed_fn lc__show_committed_for(lc__fact_kind kind);
/* The answer a viewer's operation got, for facts written under a viewer's op_id (NULL: none). */
lc__committed_fn lc__show_viewer_answer(lc__fact_kind kind);
/* Sends the throttled stock and sale-stock broadcasts now. */
void lc__show_flush_aggregates(lc_show *s);

/* ---- show_remote.c (cluster mode) ------------------------------------------------ */
/* lc__show_commit in cluster mode: sends f with its gate; applied when the stream has it. */
void lc__remote_commit(lc_show *s, lc__op *op, lc__fact *f, lc__committed_fn committed);
/* Appends a non-fact entry (chat, chat.deleted, stream, tick.*); op (may be NULL) is
 * answered when it is applied. data: transfer full. */
void lc__remote_send(lc_show *s, lc__op *op, const char *type, json_t *data, const char *idseq,
                     const char *skip_if_last);
/* Appends a tick entry of `type` unless one was appended less than skip_within_ms ago (by any
 * node): the clock of the cluster's throttled broadcasts that are not tick.flush's. */
void lc__remote_tick(lc_show *s, const char *type, gint64 skip_within_ms);
/* Something is dirty: a flush tick is due within throttle_ms. */
void lc__remote_want_flush(lc_show *s);
/* Likes or this node's viewers changed: a counts report is due within counts_ms. */
void lc__remote_want_counts(lc_show *s);
void lc__remote_init(lc_show *s);
void lc__remote_clear(lc_show *s);
void lc__remote_stop_timers(lc_show *s);

/* ---- show_gate.c ------------------------------------------------------------------ */
/* The gate of f as decided on the current state: ops appended to `ops` (lc_gate_op). */
void lc__gate_ops(lc_show *s, const lc__fact *f, GArray *ops);
void lc__gate_ops_free(GArray *ops);
/* Building blocks of gate operations (field, message: transfer full). */
lc_gate_op *lc__gate_push(GArray *ops, lc_gate_kind kind, char *field, gint64 delta);
void lc__gate_refuse_if(lc_gate_op *op, bool lo, gint64 lo_v, bool hi, gint64 hi_v, const char *code, char *message);
/* prefix + a (+ "\x1f" + b when b is set). transfer full. */
char *lc__gate_key(const char *prefix, const char *a, const char *b);
/* show_group.c: the gates of group.opened / group.closed / group.team_failed, of a seat's order
 * and of closing a seat's order. */
void lc__group_gate_ops(lc_show *s, const lc__fact *f, GArray *ops);
void lc__group_gate_seat(lc_show *s, const lc__fact_order_created *f, GArray *ops);
void lc__group_gate_seat_closed(lc_show *s, const order *o, bool paid, GArray *ops);

/* ---- appliers: mutate state from a fact, live and in replay (show.c dispatches) --- */
/* The catalog and coupon appliers take the fact's catalog / coupon (set it NULL). */
void lc__apply_catalog(lc_show *s, lc__fact_catalog *f);
void lc__apply_pin(lc_show *s, const lc__fact_pin *f);
void lc__apply_flash_scheduled(lc_show *s, const lc__fact_flash_scheduled *f);
void lc__apply_flash_started(lc_show *s, const lc__fact_flash_started *f);
void lc__apply_flash_ended(lc_show *s, const lc__fact_flash_ended *f);
void lc__apply_coupon_dropped(lc_show *s, lc__fact_coupon_dropped *f);
void lc__apply_coupon_claimed(lc_show *s, const lc__fact_coupon_claimed *f);
void lc__apply_cart_set(lc_show *s, const lc__fact_cart_set *f);
void lc__apply_order_created(lc_show *s, const lc__fact_order_created *f);
void lc__apply_order_closed(lc_show *s, const lc__fact_order_closed *f, order_state to);
void lc__apply_chat_muted(lc_show *s, const lc__fact_chat_muted *f);
void lc__apply_chat_banned(lc_show *s, const lc__fact_chat_banned *f);
void lc__apply_chat_slowmode(lc_show *s, const lc__fact_chat_slowmode *f);
void lc__apply_likes(lc_show *s, const lc__fact_likes *f);

/* Answers of the viewer operations that write a fact; replay uses them to remember
 * op_ids (events are suppressed while replaying). */
json_t *lc__committed_cart(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_catalog(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_pin(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_flash_scheduled(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_flash_started(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_flash_ended(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_coupon_dropped(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_moderation(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_claim(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_order_created(lc_show *s, const lc__fact *f, gpointer data);
/* order.paid, order.cancelled, order.expired */
json_t *lc__committed_order_closed(lc_show *s, const lc__fact *f, gpointer data);

/* ---- show_stock.c ------------------------------------------------------------- */
sale *lc__sale_find(lc_show *s, const char *id);
sale_state lc__sale_state(lc_show *s, const sale *sl);
/* The sale-start announcement (flash.started), once per sale. */
void lc__sale_announce(lc_show *s, sale *sl);
const char *lc__sale_state_name(sale_state st);
json_t *lc__sale_json(lc_show *s, const sale *sl);
json_t *lc__products_json(lc_show *s);
json_t *lc__pinned_json(lc_show *s);
/* Changes a SKU's available stock by delta, marking it for broadcast and alerting on low stock. */
void lc__stock_add(lc_show *s, int sku, gint64 delta);
/* Arms start/end timers of every sale (after open or rebuild). */
void lc__sales_arm(lc_show *s);
void lc__sale_free(gpointer p);

/* ---- show_orders.c ------------------------------------------------------------ */
const char *lc__order_state_name(order_state st);
json_t *lc__order_json(lc_show *s, const order *o);
json_t *lc__cart_json(lc_show *s, const char *user);
json_t *lc__claims_json(lc_show *s, const char *user);
json_t *lc__coupons_json(lc_show *s);
json_t *lc__coupon_json(lc_show *s, const coupon *c);
void lc__expiry_arm(lc_show *s);
void lc__order_free(gpointer p);
void lc__claim_free(gpointer p);
void lc__coupon_free(gpointer p);

/* Inserts a pending order into the expiry queue by its deadline. */
void lc__expiry_insert(lc_show *s, order *o);
/* Applies the user's coupon claim to a subtotal: NULL + *cl, *discount; else the error code and
 * *message (transfer full). */
const char *lc__claim_apply(lc_show *s, const char *user, const char *claim_id, gint64 subtotal, claim **cl,
                            gint64 *discount, char **message);
/* The caller may buy now (signed in, show open, not stopping...); else op has failed. */
bool lc__buying_allowed(lc_show *s, lc__op *op, const lc_show_caller *caller);
/* Creates an order fact for `items` and commits it. items: taken. */
void lc__order_create(lc_show *s, lc__op *op, const lc_show_caller *caller, GArray *items, gint64 subtotal,
                      const claim *cl, gint64 discount, gint64 promo_discount, bool from_cart,
                      void (*fill)(lc__fact_order_created *x, gpointer data), gpointer data);

/* ---- promotions (show_stock.c) ------------------------------------------------------ */
void lc__apply_promo_set(lc_show *s, lc__fact_promo_set *f);
json_t *lc__committed_promo_set(lc_show *s, const lc__fact *f, gpointer data);
/* The SKU's promotion as the snapshot shows it (with "active"), or NULL. transfer full. */
json_t *lc__promo_json(lc_show *s, const char *sku_id);

/* ---- show_group.c ------------------------------------------------------------------ */
void lc__group_init(lc_show *s);
void lc__group_clear(lc_show *s);
void lc__group_arm(lc_show *s);
void lc__group_stop_timers(lc_show *s);
/* The id of a deal that has not ended, or NULL. */
const char *lc__group_open_deal(lc_show *s);
void lc__apply_group_opened(lc_show *s, const lc__fact_group_opened *f);
void lc__apply_group_closed(lc_show *s, const lc__fact_group_closed *f);
void lc__apply_team_failed(lc_show *s, const lc__fact_group_closed *f);
json_t *lc__committed_group_deal(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_team_failed(lc_show *s, const lc__fact *f, gpointer data);
/* Hooks of the order appliers for group-buy seats. */
void lc__group_order_created(lc_show *s, order *o, const lc__fact_order_created *f);
void lc__group_order_closed(lc_show *s, order *o, order_state to);
/* The committed step of a seat's order.created (created) or order.cancelled: the team events.
 * Returns the team as the buyer sees it (transfer full), or NULL. */
json_t *lc__group_order_events(lc_show *s, const order *o, bool created);
/* false: the order is a seat of a team that has not formed. */
bool lc__group_order_payable(lc_show *s, const order *o);
/* Adds "group" and "payable" to an order's JSON. */
void lc__group_order_json(lc_show *s, const order *o, json_t *j);
json_t *lc__group_deals_json(lc_show *s);
json_t *lc__group_me_json(lc_show *s, const char *user);

/* ---- show_gifts.c ------------------------------------------------------------------- */
void lc__gifts_init(lc_show *s);
void lc__gifts_clear(lc_show *s);
void lc__gifts_stop_timers(lc_show *s);
void lc__apply_gifts_loaded(lc_show *s, lc__fact_gifts_loaded *f);
void lc__apply_gift_sent(lc_show *s, const lc__fact_gift_sent *f);
json_t *lc__committed_gifts_loaded(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__committed_gift_sent(lc_show *s, const lc__fact *f, gpointer data);
json_t *lc__gifts_json(lc_show *s);
/* Combos or the leaderboard wait for a broadcast. */
bool lc__gifts_dirty(lc_show *s);
/* Cluster mode, at a tick.gifts applied from the stream: the gift broadcasts that are due. */
void lc__gifts_flush_due(lc_show *s, gint64 now);
/* "me".wallet: {coins} (cluster mode: asks the store for a wallet this node has not seen). */
json_t *lc__wallet_json(lc_show *s, const char *user);
/* A display name as others see it: the first character, then asterisks. transfer full. */
char *lc__mask_name(const char *name);

/* ---- show_chat.c -------------------------------------------------------------- */
json_t *lc__chat_json(lc_show *s);
/* Cluster mode: a chat message entry {user, name, text, at} numbered n, and a deletion. Return
 * the answer (transfer full). */
json_t *lc__chat_apply_message(lc_show *s, const json_t *data, const char *n);
json_t *lc__chat_apply_deleted(lc_show *s, const json_t *data);
chatter *lc__chatter(lc_show *s, const char *user);
void lc__chatter_free(gpointer p);
/* The viewer's chat moderation state for "me": muted_until (0 when not muted now),
 * mute_reason, banned. Sets them on `me`. */
void lc__chat_me(lc_show *s, const char *user, json_t *me);
void lc__chat_msg_free(gpointer p);

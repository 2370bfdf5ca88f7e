/* One room's live show: catalog and stock, the pinned product card, flash sales,
 * coupons, carts, orders, likes, viewers and chat.
 *
 * Main thread only, no locks (all commerce state changes happen on the main loop).
 * The engine knows no wire format and no media: it reports changes through the
 * sinks as (lc_show_event_kind, JSON data) and answers operations through callbacks.
 *
 * Durability: the state of a show is the replay of its journal (lc_store_journal_*).
 * An operation validates, applies its fact to memory at once (so the next operation
 * sees the stock it reserved), appends the fact, and answers only when the store
 * has committed it; the events it causes are emitted at the same moment. If an
 * append fails, the show stops taking operations, waits for the store to drain and
 * rebuilds itself from the journal, the durable truth.
 *
 * Error codes in lc_show_result.code are the protocol's (docs/protocol.md):
 * invalid_argument, not_found, invalid_state, out_of_stock, sold_out, sale_not_live,
 * limit_exceeded, hold_limit_exceeded, coupon_unavailable, coupon_not_applicable, cart_empty,
 * invalid_name, muted, banned, slow_mode, rate_limited, blocked, compliance, internal_error.
 * coupon_unavailable is about claiming a coupon, coupon_not_applicable about applying a
 * claim (used, below the minimum, expired). */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "commerce/clock.h"
#include "commerce/show_remote.h"
#include "commerce/wordfilter.h"

typedef struct lc_show lc_show;
typedef struct lc_store lc_store;

typedef struct {
  gint64 order_ttl_ms;         /* unpaid orders expire after this */
  gint64 hold_limit;           /* most units of one SKU a user may hold in unpaid orders, unless the
                                * catalog or the SKU sets its own; 0: no cap */
  gint64 low_stock_default;    /* products without their own threshold */
  bool compliance_reject;      /* ad-law words in titles: refuse (true) or flag to moderators */
  gint64 chat_min_interval_ms; /* per user, always */
  int chat_recent;             /* chat messages kept for snapshots */
  gint64 throttle_ms;          /* interval of live-stock broadcasts (SKU and flash-sale stock) */
  gint64 counts_ms;            /* interval of the like and viewer-count broadcasts */
  int op_cache;                /* remembered op_ids per show */
  size_t op_cache_bytes;       /* and at most this much memory for their answers */
  const lc_wordfilter *chat_filter; /* borrowed, may be NULL */
  const lc_wordfilter *ad_filter;   /* borrowed, may be NULL */
  lc_clock *clock;                  /* borrowed; NULL: the real clock (lc_clock_real). Every time the
                                     * engine reads and every timer it arms goes through it. */
  const lc_show_remote *remote;     /* borrowed; NULL: this node's journal (lc_store). Set: cluster
                                     * mode (show_remote.h): the owner feeds the stream. */
  struct lc_wallets *wallets;       /* borrowed coin wallets (wallet.h); NULL: the show keeps its own */
  const char *shop;                 /* the room's shop (copied); NULL: the room id */
} lc_show_config;

/* Every kind of report of the engine: room-wide events, private events and moderator
 * alerts (docs/protocol.md, docs/control.md name them by lc_show_event_name). */
typedef enum {
  LC_SHOW_EV_SHOW_RESET,         /* show.reset: a new epoch: clients take a snapshot */
  LC_SHOW_EV_STREAM,             /* stream: the video's state changed */
  LC_SHOW_EV_CATALOG_UPDATED,    /* catalog.updated */
  LC_SHOW_EV_PRODUCT_PINNED,     /* product.pinned */
  LC_SHOW_EV_PRODUCT_UNPINNED,   /* product.unpinned */
  LC_SHOW_EV_STOCK_UPDATED,      /* stock.updated */
  LC_SHOW_EV_FLASH_SCHEDULED,    /* flash.scheduled */
  LC_SHOW_EV_FLASH_STARTED,      /* flash.started */
  LC_SHOW_EV_FLASH_STOCK,        /* flash.stock */
  LC_SHOW_EV_FLASH_SOLD_OUT,     /* flash.sold_out */
  LC_SHOW_EV_FLASH_ENDED,        /* flash.ended */
  LC_SHOW_EV_COUPON_DROPPED,     /* coupon.dropped */
  LC_SHOW_EV_COUPON_UPDATED,     /* coupon.updated */
  LC_SHOW_EV_COUPON_CLAIMED,     /* coupon.claimed */
  LC_SHOW_EV_CART_UPDATED,       /* cart.updated */
  LC_SHOW_EV_ORDER_CREATED,      /* order.created */
  LC_SHOW_EV_ORDER_PAID,         /* order.paid */
  LC_SHOW_EV_ORDER_CANCELLED,    /* order.cancelled */
  LC_SHOW_EV_ORDER_EXPIRED,      /* order.expired */
  LC_SHOW_EV_CHAT_MESSAGE,       /* chat.message */
  LC_SHOW_EV_CHAT_DELETED,       /* chat.deleted */
  LC_SHOW_EV_CHAT_MUTED,         /* chat.muted */
  LC_SHOW_EV_CHAT_BANNED,        /* chat.banned */
  LC_SHOW_EV_CHAT_SLOWMODE,      /* chat.slowmode */
  LC_SHOW_EV_CHAT_BLOCKED,       /* chat.blocked: alert: a filtered message */
  LC_SHOW_EV_LIKES,              /* likes: throttled total */
  LC_SHOW_EV_VIEWERS,            /* viewers: throttled count */
  LC_SHOW_EV_STOCK_LOW,          /* stock.low: alert */
  LC_SHOW_EV_COMPLIANCE_FLAGGED, /* compliance.flagged: alert */
  LC_SHOW_EV_PROMO_UPDATED,      /* promo.updated */
  LC_SHOW_EV_GIFTS_CATALOG,      /* gifts.catalog */
  LC_SHOW_EV_GIFTS,              /* gifts: throttled, the combos that changed */
  LC_SHOW_EV_LEADERBOARD,        /* leaderboard: at most once a second */
  LC_SHOW_EV_WALLET_UPDATED,     /* wallet.updated: private */
  LC_SHOW_EV_GROUP_OPENED,       /* group.opened */
  LC_SHOW_EV_GROUP_TEAM,         /* group.team */
  LC_SHOW_EV_GROUP_CLOSED,       /* group.closed */
  LC_SHOW_EV_GROUP_FORMED,       /* group.formed: private */
  LC_SHOW_EV_N
} lc_show_event_kind;

/* The kind's wire name, e.g. "order.created" (static). */
const char *lc_show_event_name(lc_show_event_kind kind);

typedef struct {
  /* Room-wide, sequenced: `seq` is the show's sequence number of this event. */
  void (*event)(lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data, gpointer user);
  /* For one user's connections only, except `skip` (the requesting connection, which
   * gets the same data in its answer; NULL: all of them). */
  void (*private_event)(lc_show *show, const char *user_id, lc_show_event_kind kind, const json_t *data,
                        gconstpointer skip, gpointer user);
  /* For moderators (control-socket watchers): low stock, compliance flags, blocked chat. */
  void (*alert)(lc_show *show, lc_show_event_kind kind, const json_t *data, gpointer user);
  gpointer user;
} lc_show_sinks;

/* Outcome of an operation. On success code is NULL and result holds the answer
 * object; otherwise code and message say why. All borrowed for the callback. */
typedef struct {
  const char *code;
  const char *message;
  const json_t *result;
} lc_show_result;
typedef void (*lc_show_done)(const lc_show_result *r, gpointer user);

/* Who asks. user: the viewer's id (NULL for moderator operations); name: display
 * name; op_id: idempotency key (may be NULL): a repeated (user, op_id) gets the
 * first answer, also after a restart for operations that wrote a fact. */
typedef struct {
  const char *user;
  const char *name;
  const char *op_id;
  gconstpointer origin; /* the requesting connection (opaque, may be NULL) */
} lc_show_caller;

/* Opens the show of `room`, replaying its journal. cfg and sinks are copied (the
 * filters stay borrowed). NULL + *err_msg when the journal cannot be read. */
lc_show *lc_show_open(const char *room, lc_store *store, const lc_show_config *cfg,
                      const lc_show_sinks *sinks, char **err_msg);
void lc_show_free(lc_show *show);

const char *lc_show_room(const lc_show *show);
/* Identifies this incarnation of the event sequence; changes at every open. */
const char *lc_show_epoch(const lc_show *show);
gint64 lc_show_seq(const lc_show *show);
/* Stops the show's timers (sale start/end, order expiry, throttled broadcasts) so
 * nothing new is written while the server shuts down. */
void lc_show_stop_timers(lc_show *show);
/* Closes the show for shopping (the room ended): buying ops fail with invalid_state. */
void lc_show_set_closed(lc_show *show, bool closed);

/* The whole public state, for a snapshot: {products, pinned, flash_sales, coupons,
 * likes, viewers, chat, slow_mode_s, currency}; with `user`, also "me" (lc_show_me).
 * transfer full. */
json_t *lc_show_snapshot(lc_show *show, const char *user);
/* {cart, orders, claims, muted_until, mute_reason, banned} of one user: muted_until is
 * the end of a chat mute in ms (0 when not muted now), mute_reason its reason ("" when
 * none was given or not muted). transfer full. */
json_t *lc_show_me(lc_show *show, const char *user);

/* ---- viewer operations (caller->user required) ------------------------------ */
/* qty: with add, added to the cart's quantity; otherwise the new quantity (0 removes). */
void lc_show_cart_set(lc_show *show, const lc_show_caller *caller, const char *sku, gint64 qty, bool add,
                      lc_show_done done, gpointer user);
/* A line of a checkout or quote: `qty` units of `sku` (borrowed). */
typedef struct {
  const char *sku;
  gint64 qty;
} lc_show_line;

/* items: n_items lines (borrowed), or NULL for the whole cart; claim_id: a coupon claim or NULL.
 * Refuses with hold_limit_exceeded when the user would hold more units of a SKU in unpaid
 * orders (outside flash sales) than its hold limit (lc_catalog_hold_limit with cfg.hold_limit). */
void lc_show_checkout(lc_show *show, const lc_show_caller *caller, const lc_show_line *items, guint n_items,
                      const char *claim_id, lc_show_done done, gpointer user);
/* What lc_show_checkout of the same items and claim would cost now, without ordering or
 * reserving: {quote: {currency, currency_exponent, items: [{sku, product, title, label, qty,
 * unit_price, amount, available, hold_limit, held}], subtotal, discount, total, claim_id,
 * claims: [{id, coupon_id, discount | null, why?}]}} (claims: the user's available claims and
 * what each would take off). Same refusals as checkout except stock and hold limit, which
 * the lines report instead (an empty cart quotes zero). Answers at once; writes nothing and
 * does not remember op_ids. */
void lc_show_cart_quote(lc_show *show, const lc_show_caller *caller, const lc_show_line *items, guint n_items,
                        const char *claim_id, lc_show_done done, gpointer user);
void lc_show_flash_buy(lc_show *show, const lc_show_caller *caller, const char *sale_id, gint64 qty,
                       lc_show_done done, gpointer user);
void lc_show_coupon_claim(lc_show *show, const lc_show_caller *caller, const char *coupon_id,
                          lc_show_done done, gpointer user);
/* The buyer cancels an unpaid order of theirs. */
void lc_show_order_cancel(lc_show *show, const lc_show_caller *caller, const char *order_id,
                          lc_show_done done, gpointer user);
void lc_show_chat_send(lc_show *show, const lc_show_caller *caller, const char *text, lc_show_done done,
                       gpointer user);
/* Likes are aggregated and broadcast throttled; user may be NULL (anonymous). */
void lc_show_like(lc_show *show, const char *user, gint64 count);
/* A viewer connection joined (+1) or left (-1); user NULL for anonymous viewers. */
void lc_show_viewer(lc_show *show, const char *user, int delta);
/* The room's video state as the media side reports it. */
typedef enum {
  LC_SHOW_STREAM_OFFLINE,      /* "offline" */
  LC_SHOW_STREAM_LIVE,         /* "live" */
  LC_SHOW_STREAM_RECONNECTING, /* "reconnecting": the publisher is gone, its grace period runs */
} lc_show_stream_state;
/* Kept for snapshots ("stream", by name) and broadcast as a "stream" event when it changes.
 * Not journaled: after a restart it is offline until a publisher arrives. */
void lc_show_set_stream(lc_show *show, lc_show_stream_state state);
/* The video state as the snapshot's "stream" ("offline" until set; borrowed). */
const char *lc_show_stream(const lc_show *show);
/* Viewer connections now (the count the "viewers" event broadcasts, without its throttle). */
gint64 lc_show_viewers(const lc_show *show);

/* ---- moderator operations ---------------------------------------------------- */
void lc_show_catalog_load(lc_show *show, const json_t *catalog, lc_show_done done, gpointer user);
/* product_id NULL unpins. */
void lc_show_pin(lc_show *show, const char *product_id, lc_show_done done, gpointer user);
/* spec: {id?, sku, price, quantity, per_user_limit?, starts_at? | start_in_ms?, ends_at? | duration_ms?} */
void lc_show_flash_schedule(lc_show *show, const json_t *spec, lc_show_done done, gpointer user);
/* Starts a scheduled sale now. */
void lc_show_flash_start(lc_show *show, const char *sale_id, lc_show_done done, gpointer user);
void lc_show_flash_stop(lc_show *show, const char *sale_id, lc_show_done done, gpointer user);
void lc_show_coupon_drop(lc_show *show, const json_t *spec, lc_show_done done, gpointer user);
void lc_show_order_pay(lc_show *show, const char *order_id, const char *payment_ref, lc_show_done done,
                       gpointer user);
void lc_show_order_cancel_mod(lc_show *show, const char *order_id, const char *reason, lc_show_done done,
                              gpointer user);
void lc_show_chat_mute(lc_show *show, const char *user_id, gint64 seconds, const char *reason,
                       lc_show_done done, gpointer user);
void lc_show_chat_ban(lc_show *show, const char *user_id, bool banned, lc_show_done done, gpointer user);
void lc_show_chat_delete(lc_show *show, const char *message_id, lc_show_done done, gpointer user);
void lc_show_chat_slowmode(lc_show *show, gint64 seconds, lc_show_done done, gpointer user);

/* Orders, newest first, optionally of one user and/or in one state. transfer full. */
json_t *lc_show_orders(lc_show *show, const char *user, const char *state);
/* {viewers (cluster mode: every node's; peak and unique: this node's), peak_viewers, unique_viewers, likes, orders:{pending,paid,cancelled,expired},
 *  gmv_paid, gmv_placed, buyers, conversion, currency}. transfer full. */
json_t *lc_show_stats(lc_show *show);

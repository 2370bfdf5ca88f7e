/* The show's facts as C: one kind enum, one struct per kind, one encoder and one decoder
 * per kind (show_facts.c). JSON stays the journal's format on disk, field for field what
 * the JSON appliers wrote before (tests/unit/commerce/data/journal-v1.json), but only the
 * codec reads it: the appliers take these structs, so a field the engine forgets is a
 * compile error, and a field a stored fact lacks is a decode error (the fact is refused
 * and logged with its journal id) instead of a silent 0.
 *
 * Optional fields (NULL when absent): those the JSON marks nullable (op_id, claim_id,
 * sale_id, payment_ref, reason, the pinned product). Everything else is required.
 * Not part of the public API. Main thread only. */
#pragma once
#include "commerce/catalog.h"
#include "commerce/coupon.h"
#include "commerce/promo.h"

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef enum {
  LC__FACT_CATALOG_LOADED,  /* "catalog.loaded" */
  LC__FACT_PIN,             /* "pin" */
  LC__FACT_FLASH_SCHEDULED, /* "flash.scheduled" */
  LC__FACT_FLASH_STARTED,   /* "flash.started" */
  LC__FACT_FLASH_ENDED,     /* "flash.ended" */
  LC__FACT_COUPON_DROPPED,  /* "coupon.dropped" */
  LC__FACT_COUPON_CLAIMED,  /* "coupon.claimed" */
  LC__FACT_CART_SET,        /* "cart.set" */
  LC__FACT_ORDER_CREATED,   /* "order.created" */
  LC__FACT_ORDER_PAID,      /* "order.paid" */
  LC__FACT_ORDER_CANCELLED, /* "order.cancelled" */
  LC__FACT_ORDER_EXPIRED,   /* "order.expired" */
  LC__FACT_CHAT_MUTED,      /* "chat.muted" */
  LC__FACT_CHAT_BANNED,     /* "chat.banned" */
  LC__FACT_CHAT_SLOWMODE,   /* "chat.slowmode" */
  LC__FACT_LIKES,           /* "likes" */
  LC__FACT_PROMO_SET,       /* "promo.set" */
  LC__FACT_GIFTS_LOADED,    /* "gifts.loaded" */
  LC__FACT_GIFT_SENT,       /* "gift.sent" */
  LC__FACT_GROUP_OPENED,    /* "group.opened" */
  LC__FACT_GROUP_CLOSED,    /* "group.closed" */
  LC__FACT_TEAM_FAILED,     /* "group.team_failed" */
  LC__FACT_N
} lc__fact_kind;

typedef struct {
  lc_catalog *catalog; /* owned; the applier takes it (sets NULL) */
} lc__fact_catalog;

typedef struct {
  char *product; /* NULL: unpinned */
  gint64 at;
} lc__fact_pin;

typedef struct {
  char *id, *sku;
  gint64 price, quantity, per_user_limit, starts_at, ends_at;
} lc__fact_flash_scheduled;

typedef struct {
  char *id;
  gint64 at;
} lc__fact_flash_started;

typedef struct {
  char *id, *reason;
  gint64 at;
} lc__fact_flash_ended;

typedef struct {
  lc_coupon *coupon; /* owned; the applier takes it (sets NULL) */
  char *id;          /* the coupon's id, which stays for the committed step */
} lc__fact_coupon_dropped;

typedef struct {
  char *claim_id, *coupon_id, *user;
  char *op_id;
} lc__fact_coupon_claimed;

typedef struct {
  char *user, *sku;
  gint64 qty;
  char *op_id;
} lc__fact_cart_set;

typedef struct {
  char *sku;
  gint64 qty, unit_price;
  char *sale_id; /* NULL: a regular purchase */
  /* the promotion this line got (promo_kind NULL: none; docs/marketing.md) */
  char *promo_kind, *promo_label;
  gint64 promo_discount;
} lc__fact_order_item;

typedef struct {
  char *id, *user;
  lc__fact_order_item *items;
  int n_items;
  gint64 subtotal, discount, total;
  char *claim_id;
  gint64 created_at, expires_at;
  char *op_id;
  bool from_cart; /* the order emptied these lines from the cart */
  gint64 promo_discount; /* part of `discount` that promotions took (0: none) */
  gint64 coins;          /* > 0: a wallet top-up of this many coins (no items) */
  char *group_deal, *team; /* a group-buy seat: the deal and the team (NULL: not one) */
  char *member_name;       /* the seat holder's display name */
  gint64 team_deadline;    /* the team's fill deadline (set by its starter's order) */
} lc__fact_order_created;

/* order.paid, order.cancelled, order.expired */
typedef struct {
  char *id;
  gint64 at;
  char *payment_ref, *reason;
  char *user, *op_id; /* a buyer's cancellation: whose op_id */
} lc__fact_order_closed;

typedef struct {
  char *user;
  gint64 until; /* ms; 0 unmutes */
  char *reason;
} lc__fact_chat_muted;

typedef struct {
  char *user;
  bool banned;
} lc__fact_chat_banned;

typedef struct {
  gint64 seconds;
} lc__fact_chat_slowmode;

typedef struct {
  gint64 total;
} lc__fact_likes;

typedef struct {
  char *sku;
  lc_promo *promo; /* owned; NULL clears; the applier takes it (sets NULL) */
} lc__fact_promo_set;

typedef struct {
  char *id, *name, *icon, *cls; /* cls: small | big | fullscreen */
  gint64 coins;
} lc__gift_def;

typedef struct {
  lc__gift_def *gifts; /* owned; the applier takes them (sets NULL, n 0) */
  int n;
  gint64 coin_cents, creator_pct;
} lc__fact_gifts_loaded;

typedef struct {
  gint64 n; /* the gift's number in the show */
  char *user, *name, *gift_id;
  gint64 count, coins, value_cents, creator_cents, at;
  gint64 balance; /* the sender's coins after this gift (its answer, the same after a restart) */
  char *op_id;
} lc__fact_gift_sent;

typedef struct {
  char *id, *sku;
  gint64 price, team_size, fill_ms, quantity, per_user_limit, starts_at, ends_at;
} lc__fact_group_opened;

typedef struct {
  char *id, *reason; /* group.closed: the deal; group.team_failed: the team */
  gint64 at;
} lc__fact_group_closed;

typedef struct {
  lc__fact_kind kind;
  union {
    lc__fact_catalog catalog;
    lc__fact_pin pin;
    lc__fact_flash_scheduled flash_scheduled;
    lc__fact_flash_started flash_started;
    lc__fact_flash_ended flash_ended;
    lc__fact_coupon_dropped coupon_dropped;
    lc__fact_coupon_claimed coupon_claimed;
    lc__fact_cart_set cart_set;
    lc__fact_order_created order_created;
    lc__fact_order_closed order_closed; /* paid, cancelled, expired */
    lc__fact_chat_muted chat_muted;
    lc__fact_chat_banned chat_banned;
    lc__fact_chat_slowmode chat_slowmode;
    lc__fact_likes likes;
    lc__fact_promo_set promo_set;
    lc__fact_gifts_loaded gifts_loaded;
    lc__fact_gift_sent gift_sent;
    lc__fact_group_opened group_opened;
    lc__fact_group_closed group_closed; /* group.closed and group.team_failed */
  } u;
} lc__fact;

/* An id as the show channel's ids are ([A-Za-z0-9_.:-]{1,64}): gift and group deal ids, which
 * viewers send back. */
bool lc__wire_id_ok(const char *id);
/* A gift catalog spec {gifts: [{id, name, icon?, coins, class}], coin_cents?, creator_pct?} checked
 * into `out` (zeroed first). false + *why (g_free). Used by gifts.load and the fact decoder. */
bool lc__gifts_parse(const json_t *spec, lc__fact_gifts_loaded *out, char **why);
void lc__gift_defs_free(lc__gift_def *g, int n);

/* The journal's type name of a kind ("order.created"; static). */
const char *lc__fact_type(lc__fact_kind kind);
/* A zeroed fact of `kind` (transfer full: lc__fact_free). */
lc__fact *lc__fact_new(lc__fact_kind kind);
void lc__fact_free(lc__fact *f);
/* The fact as the journal stores it (transfer full). */
json_t *lc__fact_to_json(const lc__fact *f);
/* The same as compact JSON text (transfer full, g_free). */
char *lc__fact_encode(const lc__fact *f);
/* A stored fact back: NULL and *why (g_free) when the type is unknown, the text is not a JSON
 * object or a required field is missing or of the wrong type. low_stock_default: for the
 * catalog of catalog.loaded. */
lc__fact *lc__fact_decode(const char *type, const char *text, gint64 low_stock_default, char **why);
/* The idempotency key a viewer's operation wrote into the fact, and whose it is (NULL: none). */
const char *lc__fact_op_id(const lc__fact *f);
const char *lc__fact_op_user(const lc__fact *f);

/* Show-channel protocol v1 codec: decodes client messages (JSON text frames) into
 * validated typed structs and encodes server messages. Pure (no I/O, no globals);
 * any thread. The wire format is documented in docs/protocol.md. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stddef.h>

#include "base/show_limits.h"

#define LC_PROTO_VERSION 1          /* the "v" a client must send in hello */
#define LC_PROTO_MAX_BYTES 65536    /* hard cap; the configured frame limit is smaller */
#define LC_PROTO_MAX_ID 64          /* longest id (room, sku, op_id, ...) in bytes */
#define LC_PROTO_MAX_TOKEN 4096     /* longest hello token */
#define LC_PROTO_MAX_CHAT LC_SHOW_MAX_CHAT_BYTES /* longest chat text in bytes */
#define LC_PROTO_MAX_ITEMS LC_SHOW_MAX_LINES /* most checkout / quote items */
#define LC_PROTO_MAX_GIFT_COUNT 99  /* most gifts in one gift.send */
#define LC_PROTO_MAX_TOPUP_COINS 1000000 /* most coins in one wallet.topup */

typedef enum {
  LC_MSG_HELLO = 0,
  LC_MSG_PING,
  LC_MSG_LIKE,
  LC_MSG_CART_ADD,
  LC_MSG_CART_SET,
  LC_MSG_CART_REMOVE,
  LC_MSG_CHECKOUT,
  LC_MSG_FLASH_BUY,
  LC_MSG_COUPON_CLAIM,
  LC_MSG_ORDER_CANCEL,
  LC_MSG_CHAT_SEND,
  LC_MSG_CART_QUOTE,
  LC_MSG_GROUP_START,
  LC_MSG_GROUP_JOIN,
  LC_MSG_GIFT_SEND,
  LC_MSG_WALLET_TOPUP,
  LC_MSG_TYPE_COUNT
} lc_msg_type;

typedef struct {
  char *sku; /* [A-Za-z0-9_.:-]{1,64} */
  int qty;   /* 1..LC_SHOW_MAX_QTY */
} lc_msg_item;

/* A decoded client message. Flat: only the fields of `type` are set, the others are
 * zero/NULL. All strings are owned by the struct (release with lc_msg_clear), NUL
 * terminated, valid UTF-8 and already validated as noted. */
typedef struct {
  lc_msg_type type;
  char *op_id; /* [A-Za-z0-9_.:-]{1,64}; required for every type except hello, ping, like
                  (where it is NULL) */
  /* hello */
  gint64 v;             /* any integer: the caller answers version_unsupported unless
                           v == LC_PROTO_VERSION */
  char *room;           /* [a-z0-9_-]{1,64} */
  char *token;          /* NULL when absent or null (anonymous); else 1..4096 bytes, unverified */
  gboolean has_resume;  /* resume {epoch, seq} given (not null) */
  char *resume_epoch;   /* [A-Za-z0-9_.:-]{1,64} */
  gint64 resume_seq;    /* >= 0 */
  /* ping */
  double c;             /* client clock in ms, any finite number; echo with lc_proto_pong */
  /* like, gift.send */
  int count;            /* like: 1..100, gift.send: 1..99 (default 1 for both) */
  /* cart.add (qty 1..LC_SHOW_MAX_QTY), cart.set (qty 0..LC_SHOW_MAX_QTY, 0 removes), cart.remove,
   * flash.buy (qty 1..LC_SHOW_MAX_QTY) */
  char *sku;            /* cart.* only, [A-Za-z0-9_.:-]{1,64} */
  int qty;
  /* checkout and cart.quote */
  lc_msg_item *items;   /* NULL when absent/null: the whole cart; else 1..50 entries, no duplicate sku */
  guint n_items;
  char *claim_id;       /* NULL when absent/null; the coupon claim to apply (also group.start,
                           group.join) */
  /* flash.buy */
  char *sale_id;
  /* coupon.claim */
  char *coupon_id;
  /* order.cancel */
  char *order_id;
  /* chat.send */
  char *text;           /* 1..500 bytes, valid UTF-8, no control characters (C0, DEL, C1) */
  /* group.start {deal_id, claim_id?} */
  char *deal_id;
  /* group.join {team_id, claim_id?} */
  char *team_id;
  /* gift.send {gift_id, count?} (count above) */
  char *gift_id;
  /* wallet.topup */
  gint64 coins;         /* 1..LC_PROTO_MAX_TOPUP_COINS */
} lc_msg;

/* Decodes one client message (len bytes, need not be NUL-terminated; out need not be
 * initialised). Returns 0 with *out filled, or a negative LC_E* (LC_ETOOBIG for
 * too_large, LC_EINVAL otherwise) with *code = "bad_message" | "unknown_type" |
 * "too_large" (static) and *message (transfer full, g_free) naming the field, e.g.
 * "qty: must be an integer 1..99". On error out->op_id is still set when the message
 * carried a valid op_id, so the reply can carry it; other fields are cleared.
 * Rules: a JSON object, no NUL bytes, no duplicate keys, len <= LC_PROTO_MAX_BYTES
 * (the configured limit is enforced by the transport); unknown fields are ignored,
 * except in hello (and its resume object) where they are errors; wrong types are
 * errors (integers must be JSON integers). On both paths, release with lc_msg_clear. */
int lc_proto_decode(const char *data, size_t len, lc_msg *out, const char **code, char **message);
/* Frees the strings of m and zeroes it. Safe on a zeroed or already-cleared struct. */
void lc_msg_clear(lc_msg *m);
/* Wire name of a type ("cart.add"); "unknown" when out of range. Static. */
const char *lc_msg_type_name(lc_msg_type t);

/* Encoders: return newly allocated compact JSON text (transfer full, g_free), UTF-8 not
 * escaped. now_ms is the "t" field. json_t arguments are borrowed (their refcount is
 * touched temporarily: do not share them with another thread during the call); a NULL
 * data/result/state becomes {}. Strings that are not valid UTF-8 are repaired (U+FFFD). */
/* {"type":"welcome","v":1,"t","room","epoch","seq","user":user_or_null|null,"resumed"} */
char *lc_proto_welcome(gint64 now_ms, const char *room, const char *epoch, gint64 seq,
                       const json_t *user_or_null, gboolean resumed);
/* {"type":"snapshot","t","epoch","seq","state"} */
char *lc_proto_snapshot(gint64 now_ms, const char *epoch, gint64 seq, const json_t *state);
/* {"type":"event","t","epoch","seq","name","data"}: a room-wide sequenced event */
char *lc_proto_event(gint64 now_ms, const char *epoch, gint64 seq, const char *name, const json_t *data);
/* {"type":"private","t","name","data"}: one user's connections, not sequenced */
char *lc_proto_private(gint64 now_ms, const char *name, const json_t *data);
/* {"type":"reply","t","op_id","ok":true,"result"}; op_id NULL encodes null */
char *lc_proto_reply_ok(gint64 now_ms, const char *op_id, const json_t *result);
/* {"type":"reply","t","op_id","ok":false,"error":{"code","message"}} */
char *lc_proto_reply_error(gint64 now_ms, const char *op_id, const char *code, const char *message);
/* {"type":"pong","t","c"}: c is written as an integer when it is one */
char *lc_proto_pong(gint64 now_ms, double client_ms);
/* {"type":"error","t","error":{"code","message"}}: not tied to an op_id */
char *lc_proto_error(gint64 now_ms, const char *code, const char *message);

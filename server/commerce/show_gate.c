/* Cluster mode: the gate of each fact, the counter checks and updates that the shared
 * store runs atomically with the append (show_remote.h). They mirror what the appliers do
 * to stock, sales, holds, coupons and orders, so the store's counters are always what
 * every node's state will be once it has applied the stream; a fact whose checks fail is
 * never appended. Counter names (one hash per room; user ids and SKU ids cannot hold
 * \x1f, the control character the token check and the catalog refuse):
 *   a:SKU available units      p:SKU units in pending orders
 *   h:USER\x1fSKU held (hold limit)   cv the catalog version the order was priced on
 *   s:SALE units left           b:SALE\x1fUSER bought     e:SALE 1 once ended   x:SALE exists
 *   q:COUPON claims left        u:COUPON\x1fUSER claimed  xc:COUPON exists
 *   k:CLAIM 1 while available   o:ORDER 1 while pending
 *   group buy (show_group.c): gx:DEAL exists   gs:DEAL units left   ge:DEAL 1 once ended
 *   gb:DEAL\x1fUSER seats   t:TEAM members (1000 once failed)
 *   W:USER the user's coins, in the shop's wallet hash (not the room's: shops span rooms) */
#define LC_LOG_DOMAIN "show"
#include "commerce/show_internal.h"

#include <string.h>

#define push lc__gate_push
#define refuse_if lc__gate_refuse_if
#define k2 lc__gate_key

lc_gate_op *
lc__gate_push(GArray *ops, lc_gate_kind kind, char *field, gint64 delta)
{
  lc_gate_op op = {0};
  op.kind = kind;
  op.field = field;
  op.delta = delta;
  g_array_append_val(ops, op);
  return &g_array_index(ops, lc_gate_op, ops->len - 1);
}

void
lc__gate_refuse_if(lc_gate_op *op, bool lo, gint64 lo_v, bool hi, gint64 hi_v, const char *code, char *message)
{
  op->has_lo = lo;
  op->lo = lo_v;
  op->has_hi = hi;
  op->hi = hi_v;
  op->code = code;
  op->message = message;
}

char *
lc__gate_key(const char *prefix, const char *a, const char *b)
{
  return b ? g_strconcat(prefix, a, "\x1f", b, NULL) : g_strconcat(prefix, a, NULL);
}

static void
gate_order_created(lc_show *s, const lc__fact_order_created *f, GArray *ops)
{
  lc_gate_op *op = push(ops, LC_GATE_ADD, g_strdup("cv"), 0);
  refuse_if(op, true, s->catalog_version, true, s->catalog_version, "conflict",
            g_strdup("the catalog changed while the order was priced; retry"));
  if (f->group_deal)
    lc__group_gate_seat(s, f, ops);
  for (int i = 0; !f->group_deal && i < f->n_items; i++) {
    const lc__fact_order_item *it = &f->items[i];
    if (it->sale_id) {
      sale *sl = lc__sale_find(s, it->sale_id);
      op = push(ops, LC_GATE_ADD, k2("e:", it->sale_id, NULL), 0);
      refuse_if(op, false, 0, true, 0, "sale_not_live", g_strdup("the flash sale has ended"));
      op = push(ops, LC_GATE_ADD, k2("s:", it->sale_id, NULL), -it->qty);
      refuse_if(op, true, 0, false, 0, "sold_out", g_strdup("the flash sale is sold out"));
      op = push(ops, LC_GATE_ADD, k2("b:", it->sale_id, f->user), it->qty);
      gint64 limit = sl ? sl->per_user_limit : 1;
      refuse_if(op, false, 0, true, limit, "limit_exceeded",
                g_strdup_printf("at most %" G_GINT64_FORMAT " per person", limit));
      push(ops, LC_GATE_ADD, k2("p:", it->sku, NULL), it->qty); /* a catalog reload counts every pending unit */
      continue;
    }
    int k = s->catalog ? lc_catalog_sku(s->catalog, it->sku) : -1;
    gint64 limit = k >= 0 ? lc_catalog_hold_limit(s->catalog, k, s->cfg.hold_limit) : 0;
    op = push(ops, LC_GATE_ADD, k2("a:", it->sku, NULL), -it->qty);
    refuse_if(op, true, 0, false, 0, "out_of_stock", g_strdup_printf("%s: not enough units available", it->sku));
    push(ops, LC_GATE_ADD, k2("p:", it->sku, NULL), it->qty);
    op = push(ops, LC_GATE_ADD, k2("h:", f->user, it->sku), it->qty);
    if (limit > 0)
      refuse_if(op, false, 0, true, limit, "hold_limit_exceeded",
                g_strdup_printf("%s: at most %" G_GINT64_FORMAT " per person in unpaid orders (pay or cancel an "
                                "order first)", it->sku, limit));
  }
  if (f->claim_id) {
    op = push(ops, LC_GATE_ADD, k2("k:", f->claim_id, NULL), -1);
    refuse_if(op, true, 0, false, 0, "coupon_not_applicable", g_strdup("the coupon claim was used"));
  }
  op = push(ops, LC_GATE_ADD, g_strdup("o:o-"), 1); /* the order's number is appended */
  op->with_n = true;
}

static void
gate_order_closed(lc_show *s, const lc__fact *f, GArray *ops)
{
  const lc__fact_order_closed *x = &f->u.order_closed;
  order *o = g_hash_table_lookup(s->orders, x->id);
  lc_gate_op *op = push(ops, LC_GATE_ADD, k2("o:", x->id, NULL), -1);
  refuse_if(op, true, 0, false, 0, "invalid_state", g_strdup_printf("order %s is no longer pending", x->id));
  if (!o)
    return;
  bool paid = f->kind == LC__FACT_ORDER_PAID;
  if (o->group_deal) {
    lc__group_gate_seat_closed(s, o, paid, ops);
    return;
  }
  for (int i = 0; i < o->n_items; i++) {
    const order_item *it = &o->items[i];
    if (it->sale_id) {
      if (!paid) { /* back to the sale while it runs, to the SKU once it has ended */
        op = push(ops, LC_GATE_COND, k2("s:", it->sale_id, NULL), it->qty);
        op->field2 = k2("a:", it->sku_id, NULL);
        op->cond = k2("e:", it->sale_id, NULL);
        push(ops, LC_GATE_ADD, k2("b:", it->sale_id, o->user), -it->qty);
      }
      push(ops, LC_GATE_ADD, k2("p:", it->sku_id, NULL), -it->qty);
      continue;
    }
    push(ops, LC_GATE_ADD, k2("p:", it->sku_id, NULL), -it->qty);
    push(ops, LC_GATE_ADD, k2("h:", o->user, it->sku_id), -it->qty);
    if (!paid)
      push(ops, LC_GATE_ADD, k2("a:", it->sku_id, NULL), it->qty);
  }
  if (!paid && o->claim_id)
    push(ops, LC_GATE_ADD, k2("k:", o->claim_id, NULL), 1);
  if (paid && o->coins > 0) { /* a top-up: the wallet (per shop, "W:") gets its coins */
    op = push(ops, LC_GATE_ADD, k2("W:", o->user, NULL), o->coins);
    op->report = true;
  }
}

static void
gate_catalog(lc_show *s, const lc__fact_catalog *f, GArray *ops)
{
  const lc_catalog *c = f->catalog;
  push(ops, LC_GATE_ADD, g_strdup("cv"), 1);
  /* SKUs the new catalog drops can no longer be ordered */
  for (int i = 0; s->catalog && i < s->catalog->n_skus; i++)
    if (lc_catalog_sku(c, s->catalog->skus[i].id) < 0)
      push(ops, LC_GATE_SET, k2("a:", s->catalog->skus[i].id, NULL), 0);
  /* the file states the stock on hand; pending orders keep holding theirs */
  for (int i = 0; i < c->n_skus; i++) {
    lc_gate_op *op = push(ops, LC_GATE_REST, k2("a:", c->skus[i].id, NULL), c->skus[i].stock);
    op->field2 = k2("p:", c->skus[i].id, NULL);
  }
}

void
lc__gate_ops(lc_show *s, const lc__fact *f, GArray *ops)
{
  lc_gate_op *op;
  switch (f->kind) {
  case LC__FACT_CATALOG_LOADED:
    gate_catalog(s, &f->u.catalog, ops);
    break;
  case LC__FACT_FLASH_SCHEDULED: {
    const lc__fact_flash_scheduled *x = &f->u.flash_scheduled;
    op = push(ops, LC_GATE_ADD, k2("x:", x->id, NULL), 1);
    refuse_if(op, false, 0, true, 1, "invalid_argument", g_strdup("flash sale: a flash sale with this id exists"));
    op = push(ops, LC_GATE_ADD, k2("a:", x->sku, NULL), -x->quantity);
    refuse_if(op, true, 0, false, 0, "out_of_stock",
              g_strdup_printf("SKU %s has fewer than %" G_GINT64_FORMAT " units available", x->sku, x->quantity));
    push(ops, LC_GATE_SET, k2("s:", x->id, NULL), x->quantity);
    break;
  }
  case LC__FACT_FLASH_ENDED: {
    sale *sl = lc__sale_find(s, f->u.flash_ended.id);
    op = push(ops, LC_GATE_ADD, k2("e:", f->u.flash_ended.id, NULL), 1);
    refuse_if(op, false, 0, true, 1, "invalid_state", g_strdup_printf("flash sale '%s' has ended", f->u.flash_ended.id));
    if (sl) {
      op = push(ops, LC_GATE_MOVE, k2("s:", sl->id, NULL), 0);
      op->field2 = k2("a:", sl->sku_id, NULL);
    }
    break;
  }
  case LC__FACT_COUPON_DROPPED: {
    op = push(ops, LC_GATE_ADD, k2("xc:", f->u.coupon_dropped.id, NULL), 1);
    refuse_if(op, false, 0, true, 1, "invalid_argument",
              g_strdup_printf("a coupon with id '%s' exists", f->u.coupon_dropped.id));
    push(ops, LC_GATE_SET, k2("q:", f->u.coupon_dropped.id, NULL), f->u.coupon_dropped.coupon->quantity);
    break;
  }
  case LC__FACT_COUPON_CLAIMED: {
    const lc__fact_coupon_claimed *x = &f->u.coupon_claimed;
    op = push(ops, LC_GATE_ADD, k2("q:", x->coupon_id, NULL), -1);
    refuse_if(op, true, 0, false, 0, "coupon_unavailable", g_strdup("all coupons have been claimed"));
    op = push(ops, LC_GATE_ADD, k2("u:", x->coupon_id, x->user), 1);
    refuse_if(op, false, 0, true, 1, "coupon_unavailable", g_strdup("you have already claimed this coupon"));
    op = push(ops, LC_GATE_SET, g_strdup("k:c-"), 1); /* the claim's number is appended */
    op->with_n = true;
    break;
  }
  case LC__FACT_ORDER_CREATED:
    gate_order_created(s, &f->u.order_created, ops);
    break;
  case LC__FACT_ORDER_PAID:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_ORDER_EXPIRED:
    gate_order_closed(s, f, ops);
    break;
  case LC__FACT_PROMO_SET: /* prices changed: orders priced before are refused (cv) */
    push(ops, LC_GATE_ADD, g_strdup("cv"), 1);
    break;
  case LC__FACT_GROUP_OPENED:
  case LC__FACT_GROUP_CLOSED:
  case LC__FACT_TEAM_FAILED:
    lc__group_gate_ops(s, f, ops);
    break;
  case LC__FACT_GIFT_SENT: /* the sender's wallet (per shop): never below zero */
    op = push(ops, LC_GATE_ADD, k2("W:", f->u.gift_sent.user, NULL), -f->u.gift_sent.coins);
    refuse_if(op, true, 0, false, 0, "insufficient_coins",
              g_strdup_printf("%" G_GINT64_FORMAT " coins needed, the wallet has fewer", f->u.gift_sent.coins));
    op->report = true;
    break;
  case LC__FACT_GIFTS_LOADED:
  case LC__FACT_PIN:
  case LC__FACT_FLASH_STARTED:
  case LC__FACT_CART_SET:
  case LC__FACT_CHAT_MUTED:
  case LC__FACT_CHAT_BANNED:
  case LC__FACT_CHAT_SLOWMODE:
  case LC__FACT_LIKES:
  case LC__FACT_N:
    break;
  }
}

void
lc__gate_ops_free(GArray *ops)
{
  for (guint i = 0; ops && i < ops->len; i++) {
    lc_gate_op *op = &g_array_index(ops, lc_gate_op, i);
    g_free(op->field);
    g_free(op->field2);
    g_free(op->cond);
    g_free(op->message);
  }
  if (ops)
    g_array_free(ops, TRUE);
}

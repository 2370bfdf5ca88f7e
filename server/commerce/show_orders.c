/* Carts, coupons and their claims, checkout and flash purchases, the order life cycle
 * (pending -> paid | cancelled | expired) and the expiry of unpaid orders. */
#define LC_LOG_DOMAIN "show"
#include "base/errors.h"
#include "base/log.h"
#include "commerce/show_internal.h"
#include "base/show_limits.h"

#include <string.h>


static void hold_add(lc_show *s, const char *user, const char *sku_id, gint64 delta);

static gint64
id_number(const char *id, const char *prefix)
{
  if (!id || !g_str_has_prefix(id, prefix))
    return 0;
  gint64 n = g_ascii_strtoll(id + strlen(prefix), NULL, 10);
  return n > 0 ? n : 0;
}

bool
lc__buying_allowed(lc_show *s, lc__op *op, const lc_show_caller *caller)
{
  if (!caller || !caller->user) {
    lc__op_fail(op, "unauthorized", "sign in to shop");
    return false;
  }
  if (s->closed) {
    lc__op_fail(op, "invalid_state", "the show has ended");
    return false;
  }
  if (!s->catalog) {
    lc__op_fail(op, "invalid_state", "no catalog is loaded");
    return false;
  }
  return true;
}

/* ---- carts ------------------------------------------------------------------------ */

static GHashTable *
cart_of(lc_show *s, const char *user, bool create)
{
  GHashTable *c = g_hash_table_lookup(s->carts, user);
  if (!c && create) {
    c = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(s->carts, g_strdup(user), c);
  }
  return c;
}

static gint64
cart_qty(lc_show *s, const char *user, const char *sku)
{
  GHashTable *c = cart_of(s, user, false);
  gint64 *q = c ? g_hash_table_lookup(c, sku) : NULL;
  return q ? *q : 0;
}

static void
cart_put(lc_show *s, const char *user, const char *sku, gint64 qty)
{
  GHashTable *c = cart_of(s, user, qty > 0);
  if (!c)
    return;
  if (qty <= 0) {
    g_hash_table_remove(c, sku);
    if (g_hash_table_size(c) == 0)
      g_hash_table_remove(s->carts, user);
    return;
  }
  gint64 *q = g_new(gint64, 1);
  *q = qty;
  g_hash_table_replace(c, g_strdup(sku), q);
}

json_t *
lc__cart_json(lc_show *s, const char *user)
{
  json_t *items = json_array();
  gint64 subtotal = 0;
  GHashTable *c = user ? cart_of(s, user, false) : NULL;
  /* in catalog order, so every connection shows the same list */
  for (int i = 0; c && s->catalog && i < s->catalog->n_skus; i++) {
    const lc_sku *k = &s->catalog->skus[i];
    gint64 *q = g_hash_table_lookup(c, k->id);
    if (!q)
      continue;
    const lc_product *p = &s->catalog->products[k->product];
    json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "sku", k->id, "product",
                                           p->id, "title", p->title, "label", k->label, "image", p->image, "qty",
                                           (json_int_t)*q, "unit_price", (json_int_t)k->price, "available",
                                           (json_int_t)s->available[i]));
    subtotal += *q * k->price;
  }
  return json_pack("{s:o, s:I}", "items", items, "subtotal", (json_int_t)subtotal);
}

void
lc__apply_cart_set(lc_show *s, const lc__fact_cart_set *f)
{
  cart_put(s, f->user, f->sku, f->qty);
}

json_t *
lc__committed_cart(lc_show *s, const lc__fact *f, gpointer data)
{
  const char *user = f->u.cart_set.user;
  json_t *cart = lc__cart_json(s, user);
  lc__show_private_answer(s, user, LC_SHOW_EV_CART_UPDATED, json_pack("{s:O}", "cart", cart));
  return json_pack("{s:o}", "cart", cart);
}

void
lc_show_cart_set(lc_show *s, const lc_show_caller *caller, const char *sku, gint64 qty, bool add,
                 lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  int k = lc_catalog_sku(s->catalog, sku);
  if (k < 0) {
    lc__op_fail(op, "not_found", "no SKU '%s'", sku ? sku : "");
    return;
  }
  gint64 now_qty = cart_qty(s, caller->user, sku);
  gint64 want = add ? now_qty + qty : qty;
  GHashTable *c = cart_of(s, caller->user, false);
  if (qty < 0 || want < 0 || want > LC_SHOW_MAX_QTY) {
    lc__op_fail(op, "invalid_argument", "quantity must be from 0 to %d", LC_SHOW_MAX_QTY);
  } else if (now_qty == 0 && want > 0 && c && g_hash_table_size(c) >= LC_SHOW_MAX_LINES) {
    lc__op_fail(op, "limit_exceeded", "a cart holds at most %d different SKUs", LC_SHOW_MAX_LINES);
  } else if (want == now_qty) {
    lc__op_reply(op, json_pack("{s:o}", "cart", lc__cart_json(s, caller->user))); /* nothing changes */
  } else {
    lc__fact *f = lc__fact_new(LC__FACT_CART_SET);
    f->u.cart_set.user = g_strdup(caller->user);
    f->u.cart_set.sku = g_strdup(sku);
    f->u.cart_set.qty = want;
    f->u.cart_set.op_id = g_strdup(caller->op_id);
    lc__show_commit(s, op, f, lc__committed_cart, NULL, NULL);
  }
}

/* ---- coupons ------------------------------------------------------------------------ */

void
lc__coupon_free(gpointer p)
{
  coupon *c = p;
  lc_coupon_free(c->c);
  g_free(c);
}

void
lc__claim_free(gpointer p)
{
  claim *c = p;
  g_free(c->id);
  g_free(c->coupon_id);
  g_free(c->user);
  g_free(c->order_id);
  g_free(c);
}

static coupon *
coupon_find(lc_show *s, const char *id)
{
  for (guint i = 0; id && i < s->coupons->len; i++) {
    coupon *c = g_ptr_array_index(s->coupons, i);
    if (strcmp(c->c->id, id) == 0)
      return c;
  }
  return NULL;
}

static claim *
claim_of(lc_show *s, const char *user, const char *coupon_id)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->claims);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    claim *c = v;
    if (strcmp(c->user, user) == 0 && strcmp(c->coupon_id, coupon_id) == 0)
      return c;
  }
  return NULL;
}

json_t *
lc__coupon_json(lc_show *s, const coupon *c)
{
  json_t *j = lc_coupon_to_json(c->c);
  json_object_set_new(j, "remaining", json_integer(c->c->quantity - c->claimed));
  return j;
}

json_t *
lc__coupons_json(lc_show *s)
{
  json_t *a = json_array();
  for (guint i = 0; i < s->coupons->len; i++)
    json_array_append_new(a, lc__coupon_json(s, g_ptr_array_index(s->coupons, i)));
  return a;
}

static json_t *
claim_json(const claim *c)
{
  return json_pack("{s:s, s:s, s:s, s:s?}", "id", c->id, "coupon_id", c->coupon_id, "state",
                   c->state == CLAIM_USED ? "used" : "available", "order_id", c->order_id);
}

json_t *
lc__claims_json(lc_show *s, const char *user)
{
  json_t *a = json_array();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->claims);
  while (user && g_hash_table_iter_next(&it, NULL, &v)) {
    claim *c = v;
    if (strcmp(c->user, user) == 0)
      json_array_append_new(a, claim_json(c));
  }
  return a;
}

void
lc__apply_coupon_dropped(lc_show *s, lc__fact_coupon_dropped *f)
{
  lc_coupon *lc = f->coupon; /* taken */
  f->coupon = NULL;
  if (coupon_find(s, lc->id)) {
    LC_ERROR(s->room, NULL, "stored coupon %s is a duplicate; skipped", lc->id);
    lc_coupon_free(lc);
    return;
  }
  coupon *c = g_new0(coupon, 1);
  c->c = lc;
  g_ptr_array_add(s->coupons, c);
}

json_t *
lc__committed_coupon_dropped(lc_show *s, const lc__fact *f, gpointer data)
{
  coupon *c = coupon_find(s, f->u.coupon_dropped.id);
  if (!c)
    return json_object();
  json_t *j = lc__coupon_json(s, c);
  lc__show_event(s, LC_SHOW_EV_COUPON_DROPPED, json_incref(j));
  return json_pack("{s:o}", "coupon", j);
}

void
lc_show_coupon_drop(lc_show *s, const json_t *spec, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  char *err = NULL;
  lc_coupon *c = lc_coupon_from_json(spec, &err);
  if (!c) {
    lc__op_fail(op, "invalid_argument", "coupon: %s", err);
    g_free(err);
    return;
  }
  if (coupon_find(s, c->id)) {
    lc__op_fail(op, "invalid_argument", "a coupon with id '%s' exists", c->id);
    lc_coupon_free(c);
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_COUPON_DROPPED);
  f->u.coupon_dropped.id = g_strdup(c->id);
  f->u.coupon_dropped.coupon = c;
  lc__show_commit(s, op, f, lc__committed_coupon_dropped, NULL, NULL);
}

void
lc__apply_coupon_claimed(lc_show *s, const lc__fact_coupon_claimed *f)
{
  const char *id = f->claim_id;
  coupon *cp = coupon_find(s, f->coupon_id);
  if (!cp || g_hash_table_contains(s->claims, id))
    return;
  claim *c = g_new0(claim, 1);
  c->id = g_strdup(id);
  c->coupon_id = g_strdup(cp->c->id);
  c->user = g_strdup(f->user);
  g_hash_table_insert(s->claims, c->id, c);
  cp->claimed++;
  s->next_claim = MAX(s->next_claim, id_number(id, "c-"));
}

json_t *
lc__committed_claim(lc_show *s, const lc__fact *f, gpointer data)
{
  claim *c = g_hash_table_lookup(s->claims, f->u.coupon_claimed.claim_id);
  coupon *cp = c ? coupon_find(s, c->coupon_id) : NULL;
  if (!cp) /* a replayed fact its applier skipped (damaged journal) */
    return json_object();
  lc__show_private_answer(s, c->user, LC_SHOW_EV_COUPON_CLAIMED, json_pack("{s:o}", "claim", claim_json(c)));
  lc__show_event(s, LC_SHOW_EV_COUPON_UPDATED,
                 json_pack("{s:s, s:I}", "coupon_id", cp->c->id, "remaining",
                           (json_int_t)(cp->c->quantity - cp->claimed)));
  return json_pack("{s:o, s:o}", "claim", claim_json(c), "coupon", lc__coupon_json(s, cp));
}

void
lc_show_coupon_claim(lc_show *s, const lc_show_caller *caller, const char *coupon_id, lc_show_done done,
                     gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  coupon *cp = coupon_find(s, coupon_id);
  gint64 now = lc__show_now(s);
  if (!cp) {
    lc__op_fail(op, "not_found", "no coupon '%s'", coupon_id ? coupon_id : "");
  } else if (claim_of(s, caller->user, cp->c->id)) {
    lc__op_fail(op, "coupon_unavailable", "you have already claimed this coupon");
  } else if (cp->claimed >= cp->c->quantity) {
    lc__op_fail(op, "coupon_unavailable", "all %" G_GINT64_FORMAT " coupons have been claimed", cp->c->quantity);
  } else if ((cp->c->starts_at && now < cp->c->starts_at) || (cp->c->ends_at && now >= cp->c->ends_at)) {
    lc__op_fail(op, "coupon_unavailable", "the coupon is not valid now");
  } else {
    lc__fact *f = lc__fact_new(LC__FACT_COUPON_CLAIMED);
    f->u.coupon_claimed.claim_id =
        s->cfg.remote ? g_strdup("c-") : g_strdup_printf("c-%" G_GINT64_FORMAT, s->next_claim + 1);
    f->u.coupon_claimed.coupon_id = g_strdup(cp->c->id);
    f->u.coupon_claimed.user = g_strdup(caller->user);
    f->u.coupon_claimed.op_id = g_strdup(caller->op_id);
    lc__show_commit(s, op, f, lc__committed_claim, NULL, NULL);
  }
}

/* ---- orders ------------------------------------------------------------------------ */

void
lc__order_free(gpointer p)
{
  order *o = p;
  for (int i = 0; i < o->n_items; i++) {
    g_free(o->items[i].sku_id);
    g_free(o->items[i].sale_id);
    g_free(o->items[i].promo_kind);
    g_free(o->items[i].promo_label);
  }
  g_free(o->items);
  g_free(o->group_deal);
  g_free(o->team_id);
  g_free(o->id);
  g_free(o->user);
  g_free(o->claim_id);
  g_free(o->payment_ref);
  g_free(o->reason);
  g_free(o);
}

const char *
lc__order_state_name(order_state st)
{
  static const char *const names[] = {"pending", "paid", "cancelled", "expired"};
  return names[st];
}

json_t *
lc__order_json(lc_show *s, const order *o)
{
  json_t *items = json_array();
  for (int i = 0; i < o->n_items; i++) {
    const order_item *it = &o->items[i];
    json_t *j = json_pack("{s:s, s:I, s:I, s:I}", "sku", it->sku_id, "qty", (json_int_t)it->qty, "unit_price",
                          (json_int_t)it->unit_price, "amount", (json_int_t)(it->qty * it->unit_price));
    if (s->catalog && it->sku >= 0 && it->sku < s->catalog->n_skus &&
        strcmp(s->catalog->skus[it->sku].id, it->sku_id) == 0) {
      const lc_sku *k = &s->catalog->skus[it->sku];
      json_object_set_new(j, "product", json_string(s->catalog->products[k->product].id));
      json_object_set_new(j, "title", json_string(s->catalog->products[k->product].title));
      json_object_set_new(j, "label", json_string(k->label));
    }
    if (it->sale_id)
      json_object_set_new(j, "sale_id", json_string(it->sale_id));
    if (it->promo_kind)
      json_object_set_new(j, "promotion", json_pack("{s:s, s:s, s:I}", "kind", it->promo_kind, "label",
                                                    it->promo_label ? it->promo_label : "", "discount",
                                                    (json_int_t)it->promo_discount));
    json_array_append_new(items, j);
  }
  json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:s?, s:I, s:I}", "id", o->id, "user", o->user, "state",
                        lc__order_state_name(o->state), "items", items, "subtotal", (json_int_t)o->subtotal,
                        "discount", (json_int_t)o->discount, "total", (json_int_t)o->total, "currency",
                        s->catalog ? s->catalog->currency : NULL, "created_at", (json_int_t)o->created_at,
                        "expires_at", (json_int_t)o->expires_at);
  if (o->claim_id)
    json_object_set_new(j, "claim_id", json_string(o->claim_id));
  if (o->closed_at)
    json_object_set_new(j, "closed_at", json_integer(o->closed_at));
  if (o->payment_ref)
    json_object_set_new(j, "payment_ref", json_string(o->payment_ref));
  if (o->reason)
    json_object_set_new(j, "reason", json_string(o->reason));
  json_object_set_new(j, "kind", json_string(o->coins > 0 ? "coins" : "goods"));
  if (o->coins > 0)
    json_object_set_new(j, "coins", json_integer(o->coins));
  json_object_set_new(j, "promo_discount", json_integer(o->promo_discount));
  json_object_set_new(j, "coupon_discount", json_integer(o->discount - o->promo_discount));
  lc__group_order_json(s, o, j); /* group, payable */
  return j;
}

json_t *
lc_show_orders(lc_show *s, const char *user, const char *state)
{
  json_t *a = json_array();
  for (guint i = s->order_list->len; i-- > 0;) {
    order *o = g_ptr_array_index(s->order_list, i);
    if ((user && strcmp(o->user, user) != 0) || (state && strcmp(lc__order_state_name(o->state), state) != 0))
      continue;
    json_array_append_new(a, lc__order_json(s, o));
  }
  return a;
}

/* The order as its creation fact describes it (also what replay rebuilds). */
void
lc__apply_order_created(lc_show *s, const lc__fact_order_created *f)
{
  const char *id = f->id;
  if (g_hash_table_contains(s->orders, id)) {
    LC_ERROR(s->room, NULL, "stored order %s is a duplicate; skipped", id);
    return;
  }
  order *o = g_new0(order, 1);
  o->id = g_strdup(id);
  o->user = g_strdup(f->user);
  o->subtotal = f->subtotal;
  o->discount = f->discount;
  o->total = f->total;
  o->claim_id = g_strdup(f->claim_id);
  o->created_at = f->created_at;
  o->expires_at = f->expires_at;
  o->promo_discount = f->promo_discount;
  o->coins = f->coins;
  o->group_deal = g_strdup(f->group_deal);
  o->team_id = g_strdup(f->team);
  o->n_items = f->n_items;
  o->items = g_new0(order_item, o->n_items);
  bool from_cart = f->from_cart;
  for (int i = 0; i < o->n_items; i++) {
    const lc__fact_order_item *fi = &f->items[i];
    order_item *it = &o->items[i];
    it->sku_id = g_strdup(fi->sku);
    it->sku = s->catalog ? lc_catalog_sku(s->catalog, it->sku_id) : -1;
    it->qty = fi->qty;
    it->unit_price = fi->unit_price;
    it->sale_id = g_strdup(fi->sale_id);
    it->promo_kind = g_strdup(fi->promo_kind);
    it->promo_label = g_strdup(fi->promo_label);
    it->promo_discount = fi->promo_discount;
    if (o->group_deal) /* the deal reserved its units (lc__group_order_created) */
      continue;
    sale *sl = it->sale_id ? lc__sale_find(s, it->sale_id) : NULL;
    if (sl) {
      sl->sold += it->qty;
      gint64 *b = g_hash_table_lookup(sl->bought, o->user);
      if (!b) {
        b = g_new0(gint64, 1);
        g_hash_table_insert(sl->bought, g_strdup(o->user), b);
      }
      *b += it->qty;
      lc__show_dirty_sale(s, sl);
    } else {
      lc__stock_add(s, it->sku, -it->qty);
    }
    if (!it->sale_id)
      hold_add(s, o->user, it->sku_id, it->qty);
    if (from_cart && it->sku_id)
      cart_put(s, o->user, it->sku_id, cart_qty(s, o->user, it->sku_id) - it->qty);
  }
  claim *c = o->claim_id ? g_hash_table_lookup(s->claims, o->claim_id) : NULL;
  if (c) {
    c->state = CLAIM_USED;
    g_free(c->order_id);
    c->order_id = g_strdup(o->id);
  }
  g_hash_table_insert(s->orders, o->id, o);
  g_ptr_array_add(s->order_list, o);
  s->next_order = MAX(s->next_order, id_number(id, "o-"));
  if (o->group_deal)
    lc__group_order_created(s, o, f); /* queued for expiry once its team forms */
  else
    lc__expiry_insert(s, o);
}

void
lc__expiry_insert(lc_show *s, order *o)
{
  /* Sorted by deadline; nearly always the tail (one TTL), but the TTL may change
   * between runs and clocks may step. */
  GList *after = s->expiry.tail;
  while (after && ((order *)after->data)->expires_at > o->expires_at)
    after = after->prev;
  if (after)
    g_queue_insert_after(&s->expiry, after, o);
  else
    g_queue_push_head(&s->expiry, o);
}

json_t *
lc__committed_order_created(lc_show *s, const lc__fact *f, gpointer data)
{
  order *o = g_hash_table_lookup(s->orders, f->u.order_created.id);
  if (!o) /* a replayed fact its applier skipped (damaged journal) */
    return json_object();
  json_t *oj = lc__order_json(s, o);
  lc__show_private_answer(s, o->user, LC_SHOW_EV_ORDER_CREATED, json_pack("{s:O}", "order", oj));
  if (f->u.order_created.from_cart)
    lc__show_private(s, o->user, LC_SHOW_EV_CART_UPDATED,
                     json_pack("{s:o}", "cart", lc__cart_json(s, o->user)));
  json_t *team = o->group_deal ? lc__group_order_events(s, o, true) : NULL;
  for (int i = 0; i < o->n_items; i++) {
    sale *sl = o->items[i].sale_id ? lc__sale_find(s, o->items[i].sale_id) : NULL;
    if (sl && sl->sold >= sl->quantity && !sl->ended)
      lc__show_event(s, LC_SHOW_EV_FLASH_SOLD_OUT,
                     json_pack("{s:s, s:I}", "sale_id", sl->id, "sold", (json_int_t)sl->sold));
  }
  if (!s->replaying && !s->expiry_timer)
    lc__expiry_arm(s);
  json_t *answer = json_pack("{s:o}", "order", oj);
  if (team)
    json_object_set_new(answer, "team", team);
  return answer;
}

/* items: lc__fact_order_item, taken (the array is freed, its strings move into the fact).
 * fill: sets the fields of special orders (seats, top-ups) before the commit, or NULL. */
void
lc__order_create(lc_show *s, lc__op *op, const lc_show_caller *caller, GArray *items, gint64 subtotal,
                 const claim *cl, gint64 discount, gint64 promo_discount, bool from_cart,
                 void (*fill)(lc__fact_order_created *x, gpointer data), gpointer data)
{
  gint64 now = lc__show_now(s);
  lc__fact *f = lc__fact_new(LC__FACT_ORDER_CREATED);
  lc__fact_order_created *x = &f->u.order_created;
  /* in cluster mode the store numbers it (the entry's n) */
  x->id = s->cfg.remote ? g_strdup("o-") : g_strdup_printf("o-%" G_GINT64_FORMAT, s->next_order + 1);
  x->user = g_strdup(caller->user);
  x->n_items = (int)items->len;
  x->items = (lc__fact_order_item *)(void *)g_array_free(items, FALSE);
  x->subtotal = subtotal;
  x->discount = discount;
  x->total = subtotal - discount;
  x->claim_id = g_strdup(cl ? cl->id : NULL);
  x->created_at = now;
  x->expires_at = now + s->cfg.order_ttl_ms;
  x->op_id = g_strdup(caller->op_id);
  x->from_cart = from_cart;
  x->promo_discount = promo_discount;
  if (x->total < 0) /* promotions and a coupon together never pay the buyer */
    x->total = 0;
  if (fill)
    fill(x, data);
  lc__show_commit(s, op, f, lc__committed_order_created, NULL, NULL);
}

static void
order_items_free(GArray *items)
{
  for (guint i = 0; items && i < items->len; i++) {
    g_free(g_array_index(items, lc__fact_order_item, i).sku);
    g_free(g_array_index(items, lc__fact_order_item, i).sale_id);
    g_free(g_array_index(items, lc__fact_order_item, i).promo_kind);
    g_free(g_array_index(items, lc__fact_order_item, i).promo_label);
  }
  if (items)
    g_array_free(items, TRUE);
}

/* ---- pricing: checkout and quote ------------------------------------------------------ */

/* Units of `sku_id` that `user` holds in pending orders outside flash sales. */
static gint64
held(lc_show *s, const char *user, const char *sku_id)
{
  char *key = g_strconcat(user, "\x1f", sku_id, NULL);
  gint64 *n = g_hash_table_lookup(s->holds, key);
  g_free(key);
  return n ? *n : 0;
}

/* Called by the order appliers only, so that live and replay derive the same holds. */
static void
hold_add(lc_show *s, const char *user, const char *sku_id, gint64 delta)
{
  if (!user || !sku_id || delta == 0)
    return;
  char *key = g_strconcat(user, "\x1f", sku_id, NULL);
  gint64 *n = g_hash_table_lookup(s->holds, key);
  gint64 now = (n ? *n : 0) + delta;
  if (now <= 0) {
    g_hash_table_remove(s->holds, key);
    g_free(key);
  } else if (n) {
    *n = now;
    g_free(key);
  } else {
    n = g_new(gint64, 1);
    *n = now;
    g_hash_table_insert(s->holds, key, n);
  }
}

/* What a checkout of some lines costs. */
typedef struct {
  GArray *items;      /* lc__fact_order_item: the lines as the order fact stores them */
  json_t *quoted;     /* with `quote`: the lines as the quote shows them */
  gint64 subtotal;
  gint64 promo_discount; /* what promotions took off the lines */
  claim *cl;          /* the claim applied, or NULL */
  gint64 discount;    /* promotions + coupon */
  const char *code;   /* NULL: priced; else why not (message in `message`) */
  char *message;
} pricing;

static void
pricing_clear(pricing *p)
{
  order_items_free(p->items);
  json_decref(p->quoted);
  g_free(p->message);
}

static void
pricing_fail(pricing *p, const char *code, char *message)
{
  p->code = code;
  p->message = message;
}

/* Prices `items` (n lines; NULL: the user's cart) for `user` with the coupon
 * claim `claim_id` (may be NULL). for_order: a checkout, which also needs the stock and keeps
 * the hold limit; otherwise a quote, which reports both per line instead of refusing.
 * The checks and their order are the same for both, so a quote answers what a checkout
 * of the same lines would, except for stock and holds that others can change meanwhile. */
static void
price_lines(lc_show *s, const char *user, const lc_show_line *items, guint n_items, const char *claim_id,
            bool for_order, pricing *p)
{
  memset(p, 0, sizeof *p);
  GArray *cart = NULL; /* lc_show_line: the cart's lines, in catalog order */
  const lc_show_line *lines = items;
  size_t n = items ? n_items : 0;
  if (!items) {
    cart = g_array_new(FALSE, FALSE, sizeof(lc_show_line));
    GHashTable *c = cart_of(s, user, false);
    for (int i = 0; c && i < s->catalog->n_skus; i++) {
      gint64 *q = g_hash_table_lookup(c, s->catalog->skus[i].id);
      lc_show_line l = {s->catalog->skus[i].id, q ? *q : 0};
      if (q)
        g_array_append_val(cart, l);
    }
    lines = (const lc_show_line *)(void *)cart->data;
    n = cart->len;
  }
  p->items = g_array_new(FALSE, TRUE, sizeof(lc__fact_order_item));
  p->quoted = for_order ? NULL : json_array();
  gint64 *want = g_new0(gint64, s->catalog->n_skus); /* duplicates add up */
  if (n == 0 && for_order)
    pricing_fail(p, "cart_empty", g_strdup("nothing to check out"));
  else if (n > LC_SHOW_MAX_LINES)
    pricing_fail(p, "invalid_argument", g_strdup_printf("at most %d lines", LC_SHOW_MAX_LINES));
  for (size_t i = 0; !p->code && i < n; i++) {
    const char *sku = lines[i].sku;
    gint64 qty = lines[i].qty;
    int k = sku ? lc_catalog_sku(s->catalog, sku) : -1;
    gint64 limit = k >= 0 ? lc_catalog_hold_limit(s->catalog, k, s->cfg.hold_limit) : 0;
    gint64 mine = k >= 0 ? held(s, user, sku) : 0;
    if (k < 0) {
      pricing_fail(p, "not_found", g_strdup_printf("no SKU '%s'", sku ? sku : ""));
      break;
    }
    if (qty < 1 || qty > LC_SHOW_MAX_QTY) {
      pricing_fail(p, "invalid_argument", g_strdup_printf("quantity of %s must be from 1 to %d", sku, LC_SHOW_MAX_QTY));
      break;
    }
    want[k] += qty;
    if (for_order && limit > 0 && mine + want[k] > limit) {
      pricing_fail(p, "hold_limit_exceeded",
                   g_strdup_printf("%s: at most %" G_GINT64_FORMAT " per person in unpaid orders; you hold %" G_GINT64_FORMAT
                                   " and asked for %" G_GINT64_FORMAT " more (pay or cancel an order first)",
                                   sku, limit, mine, want[k]));
      break;
    }
    if (for_order && want[k] > s->available[k]) {
      pricing_fail(p, "out_of_stock", g_strdup_printf("%s: %" G_GINT64_FORMAT " available", sku, s->available[k]));
      break;
    }
    gint64 price = s->catalog->skus[k].price;
    p->subtotal += qty * price;
    lc__fact_order_item line = {g_strdup(sku), qty, price, NULL, NULL, NULL, 0};
    const lc_promo *pm = g_hash_table_lookup(s->promos, sku);
    gint64 off = pm ? lc_promo_discount(pm, price, qty, lc__show_now(s)) : 0;
    if (off > 0) {
      line.promo_kind = g_strdup(pm->kind == LC_PROMO_BOGO ? "bogo" : pm->kind == LC_PROMO_PERCENT ? "percent" : "fixed");
      line.promo_label = g_strdup(pm->label);
      line.promo_discount = off;
      p->promo_discount += off;
    }
    if (p->quoted) {
      const lc_sku *ks = &s->catalog->skus[k];
      const lc_product *pr = &s->catalog->products[ks->product];
      json_t *q = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "sku", sku, "product", pr->id,
                            "title", pr->title, "label", ks->label, "qty", (json_int_t)qty, "unit_price",
                            (json_int_t)price, "amount", (json_int_t)(qty * price), "available",
                            (json_int_t)s->available[k], "hold_limit", (json_int_t)limit, "held", (json_int_t)mine);
      if (off > 0)
        json_object_set_new(q, "promotion", json_pack("{s:s, s:s, s:I}", "kind", line.promo_kind, "label",
                                                      line.promo_label, "discount", (json_int_t)off));
      json_array_append_new(p->quoted, q);
    }
    g_array_append_val(p->items, line);
  }
  g_free(want);
  if (cart)
    g_array_free(cart, TRUE);
  p->discount = p->promo_discount;
  if (p->code || !claim_id)
    return;
  /* the coupon applies after promotions (docs/marketing.md) */
  gint64 coupon_off = 0;
  char *msg = NULL;
  const char *code = lc__claim_apply(s, user, claim_id, p->subtotal - p->promo_discount, &p->cl, &coupon_off, &msg);
  if (code)
    pricing_fail(p, code, msg);
  else
    p->discount += coupon_off;
}

const char *
lc__claim_apply(lc_show *s, const char *user, const char *claim_id, gint64 subtotal, claim **out,
                gint64 *discount, char **message)
{
  claim *cl = g_hash_table_lookup(s->claims, claim_id);
  coupon *cp = cl ? coupon_find(s, cl->coupon_id) : NULL;
  const char *why = NULL;
  *out = NULL;
  *discount = 0;
  if (!cl || strcmp(cl->user, user) != 0) {
    *message = g_strdup_printf("no coupon claim '%s' of yours", claim_id);
    return "not_found";
  }
  if (cl->state == CLAIM_USED) { /* applying a claim: every refusal is coupon_not_applicable */
    *message = g_strdup_printf("the coupon was used on order %s", cl->order_id);
    return "coupon_not_applicable";
  }
  if (!cp || lc_coupon_discount(cp->c, subtotal, lc__show_now(s), discount, &why) != 0) {
    *message = g_strdup_printf("the coupon does not apply: %s", why ? why : "unknown coupon");
    *discount = 0;
    return "coupon_not_applicable";
  }
  *out = cl;
  return NULL;
}

void
lc_show_checkout(lc_show *s, const lc_show_caller *caller, const lc_show_line *items, guint n_items,
                 const char *claim_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  pricing p;
  price_lines(s, caller->user, items, n_items, claim_id, true, &p);
  if (p.code)
    lc__op_fail(op, p.code, "%s", p.message);
  else {
    lc__order_create(s, op, caller, p.items, p.subtotal, p.cl, p.discount, p.promo_discount, items == NULL, NULL,
                     NULL);
    p.items = NULL; /* taken */
  }
  pricing_clear(&p);
}

static gint
claim_cmp(gconstpointer a, gconstpointer b)
{
  const claim *x = *(claim *const *)a, *y = *(claim *const *)b;
  gint64 nx = id_number(x->id, "c-"), ny = id_number(y->id, "c-");
  return nx < ny ? -1 : nx > ny ? 1 : strcmp(x->id, y->id);
}

/* Every available claim of the user, oldest first, with what it would take off `subtotal`
 * now (null and `why` when it does not apply). */
static json_t *
claims_quote(lc_show *s, const char *user, gint64 subtotal)
{
  GPtrArray *mine = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->claims);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    claim *c = v;
    if (strcmp(c->user, user) == 0 && c->state == CLAIM_AVAILABLE && coupon_find(s, c->coupon_id))
      g_ptr_array_add(mine, c);
  }
  g_ptr_array_sort(mine, claim_cmp);
  json_t *a = json_array();
  for (guint i = 0; i < mine->len; i++) {
    claim *c = g_ptr_array_index(mine, i);
    coupon *cp = coupon_find(s, c->coupon_id);
    gint64 off = 0;
    const char *why = NULL;
    json_t *j = json_pack("{s:s, s:s}", "id", c->id, "coupon_id", c->coupon_id);
    if (lc_coupon_discount(cp->c, subtotal, lc__show_now(s), &off, &why) == 0) {
      json_object_set_new(j, "discount", json_integer(off));
    } else {
      json_object_set_new(j, "discount", json_null());
      json_object_set_new(j, "why", json_string(why ? why : "not applicable"));
    }
    json_array_append_new(a, j);
  }
  g_ptr_array_free(mine, TRUE);
  return a;
}

void
lc_show_cart_quote(lc_show *s, const lc_show_caller *caller, const lc_show_line *items, guint n_items,
                   const char *claim_id, lc_show_done done, gpointer user)
{
  lc_show_result r = {0};
  json_t *result = NULL;
  pricing p = {0};
  if (s->stopping) {
    r.code = "shutting_down";
    r.message = "the server is stopping; retry after reconnecting";
  } else if (s->broken) {
    r.code = "internal_error";
    r.message = "the show is recovering from a storage error; retry";
  } else if (!caller || !caller->user) {
    r.code = "unauthorized";
    r.message = "sign in to shop";
  } else if (s->closed) {
    r.code = "invalid_state";
    r.message = "the show has ended";
  } else if (!s->catalog) {
    r.code = "invalid_state";
    r.message = "no catalog is loaded";
  } else {
    price_lines(s, caller->user, items, n_items, claim_id, false, &p);
    r.code = p.code;
    r.message = p.message;
    if (!p.code)
      result = json_pack("{s:{s:s, s:i, s:O, s:I, s:I, s:I, s:s?, s:o}}", "quote", "currency", s->catalog->currency,
                         "currency_exponent", s->catalog->exponent, "items", p.quoted, "subtotal",
                         (json_int_t)p.subtotal, "discount", (json_int_t)p.discount, "total",
                         (json_int_t)MAX(p.subtotal - p.discount, 0), "claim_id", p.cl ? p.cl->id : NULL, "claims",
                         claims_quote(s, caller->user, p.subtotal - p.promo_discount));
    if (result) {
      json_t *q = json_object_get(result, "quote");
      json_object_set_new(q, "promo_discount", json_integer(p.promo_discount));
      json_object_set_new(q, "coupon_discount", json_integer(p.discount - p.promo_discount));
    }
  }
  r.result = result;
  if (done)
    done(&r, user);
  json_decref(result);
  pricing_clear(&p);
}

void
lc_show_flash_buy(lc_show *s, const lc_show_caller *caller, const char *sale_id, gint64 qty, lc_show_done done,
                  gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  sale *sl = lc__sale_find(s, sale_id);
  if (!sl) {
    lc__op_fail(op, "not_found", "no flash sale '%s'", sale_id ? sale_id : "");
    return;
  }
  sale_state st = lc__sale_state(s, sl);
  gint64 *bought = g_hash_table_lookup(sl->bought, caller->user);
  gint64 mine = bought ? *bought : 0;
  if (st == SALE_SOLD_OUT) {
    lc__op_fail(op, "sold_out", "all %" G_GINT64_FORMAT " units are sold", sl->quantity);
  } else if (st != SALE_LIVE) {
    lc__op_fail(op, "sale_not_live", "the flash sale is %s", lc__sale_state_name(st));
  } else if (qty < 1 || qty > LC_SHOW_MAX_QTY) {
    lc__op_fail(op, "invalid_argument", "quantity must be from 1 to %d", LC_SHOW_MAX_QTY);
  } else if (mine + qty > sl->per_user_limit) {
    lc__op_fail(op, "limit_exceeded", "at most %" G_GINT64_FORMAT " per person; you have %" G_GINT64_FORMAT,
                sl->per_user_limit, mine);
  } else if (sl->sold + qty > sl->quantity) {
    lc__op_fail(op, "sold_out", "only %" G_GINT64_FORMAT " left", sl->quantity - sl->sold);
  } else {
    GArray *items = g_array_new(FALSE, TRUE, sizeof(lc__fact_order_item));
    lc__fact_order_item line = {g_strdup(s->catalog->skus[sl->sku].id), qty, sl->price, g_strdup(sl->id)};
    g_array_append_val(items, line);
    lc__order_create(s, op, caller, items, qty * sl->price, NULL, 0, 0, false, NULL, NULL);
  }
}

/* Returns the order's units to where they came from and frees its coupon claim. */
void
lc__apply_order_closed(lc_show *s, const lc__fact_order_closed *f, order_state to)
{
  order *o = g_hash_table_lookup(s->orders, f->id);
  if (!o || o->state != ORDER_PENDING)
    return;
  o->state = to;
  o->closed_at = f->at;
  o->payment_ref = g_strdup(f->payment_ref);
  o->reason = g_strdup(f->reason);
  if (o->group_deal) {
    lc__group_order_closed(s, o, to); /* the seat's unit goes back to its deal */
    goto claim;
  }
  for (int i = 0; i < o->n_items; i++) /* paid or not, the order no longer holds its units */
    if (!o->items[i].sale_id)
      hold_add(s, o->user, o->items[i].sku_id, -o->items[i].qty);
  if (to == ORDER_PAID)
    return;
  for (int i = 0; i < o->n_items; i++) {
    order_item *it = &o->items[i];
    sale *sl = it->sale_id ? lc__sale_find(s, it->sale_id) : NULL;
    if (sl && !sl->ended) {
      sl->sold -= it->qty;
      gint64 *b = g_hash_table_lookup(sl->bought, o->user);
      if (b)
        *b -= it->qty;
      lc__show_dirty_sale(s, sl);
    } else if (s->catalog && it->sku_id) {
      lc__stock_add(s, lc_catalog_sku(s->catalog, it->sku_id), it->qty);
    }
  }
claim:
  if (to == ORDER_PAID)
    return;
  claim *c = o->claim_id ? g_hash_table_lookup(s->claims, o->claim_id) : NULL;
  if (c && c->order_id && strcmp(c->order_id, o->id) == 0) {
    c->state = CLAIM_AVAILABLE;
    g_free(c->order_id);
    c->order_id = NULL;
  }
}

json_t *
lc__committed_order_closed(lc_show *s, const lc__fact *f, gpointer data)
{
  order *o = g_hash_table_lookup(s->orders, f->u.order_closed.id);
  lc_show_event_kind kind = f->kind == LC__FACT_ORDER_PAID        ? LC_SHOW_EV_ORDER_PAID
                            : f->kind == LC__FACT_ORDER_CANCELLED ? LC_SHOW_EV_ORDER_CANCELLED
                                                                  : LC_SHOW_EV_ORDER_EXPIRED;
  if (!o)
    return json_object();
  json_t *oj = lc__order_json(s, o);
  lc__show_private_answer(s, o->user, kind, json_pack("{s:O}", "order", oj));
  lc__show_alert(s, kind, json_pack("{s:s, s:O}", "room", s->room, "order", oj));
  if (o->group_deal && kind == LC_SHOW_EV_ORDER_CANCELLED)
    json_decref(lc__group_order_events(s, o, false)); /* the seat reopened */
  if (o->coins > 0 && kind == LC_SHOW_EV_ORDER_PAID)
    lc__show_private(s, o->user, LC_SHOW_EV_WALLET_UPDATED,
                     json_pack("{s:{s:I}}", "wallet", "coins", (json_int_t)lc_show_wallet_coins(s, o->user)));
  return json_pack("{s:o}", "order", oj);
}

/* caller: the buyer cancelling (its user and op_id go into the fact, so a retry after
 * a restart gets the first answer), or NULL. */
static void
close_order(lc_show *s, lc__op *op, order *o, lc__fact_kind kind, const char *payment_ref, const char *reason,
            const lc_show_caller *caller)
{
  lc__fact *f = lc__fact_new(kind);
  lc__fact_order_closed *x = &f->u.order_closed;
  x->id = g_strdup(o->id);
  x->at = lc__show_now(s);
  x->payment_ref = g_strdup(payment_ref);
  x->reason = g_strdup(reason);
  if (caller && caller->user && caller->op_id) {
    x->user = g_strdup(caller->user);
    x->op_id = g_strdup(caller->op_id);
  }
  lc__show_commit(s, op, f, lc__committed_order_closed, NULL, NULL);
}

static order *
pending_order(lc_show *s, lc__op *op, const char *order_id, const char *user)
{
  order *o = order_id ? g_hash_table_lookup(s->orders, order_id) : NULL;
  if (!o || (user && strcmp(o->user, user) != 0)) {
    lc__op_fail(op, "not_found", "no order '%s'%s", order_id ? order_id : "", user ? " of yours" : "");
    return NULL;
  }
  if (o->state != ORDER_PENDING) {
    lc__op_fail(op, "invalid_state", "order %s is %s", o->id, lc__order_state_name(o->state));
    return NULL;
  }
  return o;
}

static bool
payable(lc__op *op, lc_show *s, order *o)
{
  if (lc__group_order_payable(s, o))
    return true;
  lc__op_fail(op, "invalid_state", "order %s is a seat of team %s, which has not formed yet", o->id, o->team_id);
  return false;
}

void
lc_show_order_cancel(lc_show *s, const lc_show_caller *caller, const char *order_id, lc_show_done done,
                     gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op)
    return;
  if (!caller || !caller->user) {
    lc__op_fail(op, "unauthorized", "sign in to manage orders");
    return;
  }
  order *o = pending_order(s, op, order_id, caller->user);
  if (o)
    close_order(s, op, o, LC__FACT_ORDER_CANCELLED, NULL, "cancelled by the buyer", caller);
}

void
lc_show_order_cancel_mod(lc_show *s, const char *order_id, const char *reason, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  order *o = pending_order(s, op, order_id, NULL);
  if (o)
    close_order(s, op, o, LC__FACT_ORDER_CANCELLED, NULL, reason ? reason : "cancelled by the merchant",
                NULL);
}

void
lc_show_order_pay(lc_show *s, const char *order_id, const char *payment_ref, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  order *o = pending_order(s, op, order_id, NULL);
  if (o && payable(op, s, o))
    close_order(s, op, o, LC__FACT_ORDER_PAID, payment_ref, NULL, NULL);
}

/* ---- expiry of unpaid orders ------------------------------------------------------------ */

static gboolean
expire_due(gpointer user)
{
  lc_show *s = user;
  s->expiry_timer = 0;
  if (s->broken || s->stopping)
    return G_SOURCE_REMOVE;
  gint64 now = lc__show_now(s);
  order *o;
  if (s->cfg.remote) {
    /* Cluster mode: the order stays pending (and queued) until the expiry comes back from the
     * stream; every node sends it and the gate takes the first. Due orders still pending are
     * sent again after the answer timeout (the store may have been away). */
    bool due = false;
    for (GList *l = s->expiry.head; l && ((order *)l->data)->expires_at <= now; l = l->next)
      if (((order *)l->data)->state == ORDER_PENDING) {
        close_order(s, NULL, l->data, LC__FACT_ORDER_EXPIRED, NULL, "not paid in time", NULL);
        due = true;
      }
    if (due)
      s->expiry_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.remote->answer_timeout_ms, expire_due, s);
    else
      lc__expiry_arm(s);
    return G_SOURCE_REMOVE;
  }
  while ((o = g_queue_peek_head(&s->expiry)) && (o->state != ORDER_PENDING || o->expires_at <= now)) {
    g_queue_pop_head(&s->expiry);
    if (o->state == ORDER_PENDING)
      close_order(s, NULL, o, LC__FACT_ORDER_EXPIRED, NULL, "not paid in time", NULL);
  }
  lc__expiry_arm(s);
  return G_SOURCE_REMOVE;
}

void
lc__expiry_arm(lc_show *s)
{
  if (s->expiry_timer) {
    lc_clock_source_remove(s->cfg.clock, s->expiry_timer);
    s->expiry_timer = 0;
  }
  if (s->stopping)
    return;
  order *o;
  while ((o = g_queue_peek_head(&s->expiry)) && o->state != ORDER_PENDING)
    g_queue_pop_head(&s->expiry);
  if (!o)
    return;
  gint64 wait = MAX(o->expires_at - lc__show_now(s), 0);
  s->expiry_timer = lc_clock_timeout_add(s->cfg.clock, wait, expire_due, s);
}

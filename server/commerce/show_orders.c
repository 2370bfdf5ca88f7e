/* Carts, coupons and their claims, checkout and flash purchases, the order life cycle
 * (pending -> paid | cancelled | expired) and the expiry of unpaid orders. */
#define LC_LOG_DOMAIN "show"
#include "errors.h"
#include "log.h"
#include "show_internal.h"

#include <string.h>

#define MAX_CART_LINES 50
#define MAX_QTY 999

static gint64
id_number(const char *id, const char *prefix)
{
  if (!id || !g_str_has_prefix(id, prefix))
    return 0;
  gint64 n = g_ascii_strtoll(id + strlen(prefix), NULL, 10);
  return n > 0 ? n : 0;
}

static bool
buying_allowed(lc_show *s, lc__op *op, const lc_show_caller *caller)
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
lc__apply_cart_set(lc_show *s, const json_t *fact)
{
  cart_put(s, json_string_value(json_object_get(fact, "user")), json_string_value(json_object_get(fact, "sku")),
           json_integer_value(json_object_get(fact, "qty")));
}

json_t *
lc__committed_cart(lc_show *s, const json_t *fact, gpointer data)
{
  const char *user = json_string_value(json_object_get(fact, "user"));
  json_t *cart = lc__cart_json(s, user);
  lc__show_private_answer(s, user, "cart.updated", json_pack("{s:O}", "cart", cart));
  return json_pack("{s:o}", "cart", cart);
}

void
lc_show_cart_set(lc_show *s, const lc_show_caller *caller, const char *sku, gint64 qty, bool add,
                 lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !buying_allowed(s, op, caller))
    return;
  int k = lc_catalog_sku(s->catalog, sku);
  if (k < 0) {
    lc__op_fail(op, "not_found", "no SKU '%s'", sku ? sku : "");
    return;
  }
  gint64 now_qty = cart_qty(s, caller->user, sku);
  gint64 want = add ? now_qty + qty : qty;
  GHashTable *c = cart_of(s, caller->user, false);
  if (qty < 0 || want < 0 || want > MAX_QTY) {
    lc__op_fail(op, "invalid_argument", "quantity must be from 0 to %d", MAX_QTY);
  } else if (now_qty == 0 && want > 0 && c && g_hash_table_size(c) >= MAX_CART_LINES) {
    lc__op_fail(op, "limit_exceeded", "a cart holds at most %d different SKUs", MAX_CART_LINES);
  } else if (want == now_qty) {
    lc__op_reply(op, json_pack("{s:o}", "cart", lc__cart_json(s, caller->user))); /* nothing changes */
  } else {
    json_t *fact = json_pack("{s:s, s:s, s:I, s:s?}", "user", caller->user, "sku", sku, "qty", (json_int_t)want,
                             "op_id", caller->op_id);
    lc__show_commit(s, op, "cart.set", fact, lc__committed_cart, NULL, NULL);
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
lc__apply_coupon_dropped(lc_show *s, const json_t *fact)
{
  char *err = NULL;
  lc_coupon *lc = lc_coupon_from_json(json_object_get(fact, "coupon"), &err);
  if (!lc || coupon_find(s, lc->id)) {
    LC_ERROR(s->room, NULL, "stored coupon is invalid (%s); skipped", err ? err : "duplicate id");
    g_free(err);
    lc_coupon_free(lc);
    return;
  }
  coupon *c = g_new0(coupon, 1);
  c->c = lc;
  g_ptr_array_add(s->coupons, c);
}

static json_t *
committed_coupon_dropped(lc_show *s, const json_t *fact, gpointer data)
{
  coupon *c = coupon_find(s, json_string_value(json_object_get(json_object_get(fact, "coupon"), "id")));
  if (!c)
    return json_object();
  json_t *j = lc__coupon_json(s, c);
  lc__show_event(s, "coupon.dropped", json_incref(j));
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
  if (coupon_find(s, c->id))
    lc__op_fail(op, "invalid_argument", "a coupon with id '%s' exists", c->id);
  else
    lc__show_commit(s, op, "coupon.dropped", json_pack("{s:o}", "coupon", lc_coupon_to_json(c)),
                    committed_coupon_dropped, NULL, NULL);
  lc_coupon_free(c);
}

void
lc__apply_coupon_claimed(lc_show *s, const json_t *fact)
{
  const char *id = json_string_value(json_object_get(fact, "claim_id"));
  coupon *cp = coupon_find(s, json_string_value(json_object_get(fact, "coupon_id")));
  if (!id || !cp || g_hash_table_contains(s->claims, id))
    return;
  claim *c = g_new0(claim, 1);
  c->id = g_strdup(id);
  c->coupon_id = g_strdup(cp->c->id);
  c->user = g_strdup(json_string_value(json_object_get(fact, "user")));
  g_hash_table_insert(s->claims, c->id, c);
  cp->claimed++;
  s->next_claim = MAX(s->next_claim, id_number(id, "c-"));
}

json_t *
lc__committed_claim(lc_show *s, const json_t *fact, gpointer data)
{
  claim *c = g_hash_table_lookup(s->claims, json_string_value(json_object_get(fact, "claim_id")));
  coupon *cp = c ? coupon_find(s, c->coupon_id) : NULL;
  if (!cp) /* a replayed fact its applier skipped (damaged journal) */
    return json_object();
  lc__show_private_answer(s, c->user, "coupon.claimed", json_pack("{s:o}", "claim", claim_json(c)));
  lc__show_event(s, "coupon.updated", json_pack("{s:s, s:I}", "coupon_id", cp->c->id, "remaining",
                                                (json_int_t)(cp->c->quantity - cp->claimed)));
  return json_pack("{s:o, s:o}", "claim", claim_json(c), "coupon", lc__coupon_json(s, cp));
}

void
lc_show_coupon_claim(lc_show *s, const lc_show_caller *caller, const char *coupon_id, lc_show_done done,
                     gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !buying_allowed(s, op, caller))
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
    char *id = g_strdup_printf("c-%" G_GINT64_FORMAT, s->next_claim + 1);
    json_t *fact = json_pack("{s:s, s:s, s:s, s:s?}", "claim_id", id, "coupon_id", cp->c->id, "user", caller->user,
                             "op_id", caller->op_id);
    g_free(id);
    lc__show_commit(s, op, "coupon.claimed", fact, lc__committed_claim, NULL, NULL);
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
  }
  g_free(o->items);
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
lc__apply_order_created(lc_show *s, const json_t *fact)
{
  json_t *oj = json_object_get(fact, "order");
  const char *id = json_string_value(json_object_get(oj, "id"));
  json_t *items = json_object_get(oj, "items");
  if (!id || g_hash_table_contains(s->orders, id) || !json_is_array(items)) {
    LC_ERROR(s->room, NULL, "stored order is invalid; skipped");
    return;
  }
  order *o = g_new0(order, 1);
  o->id = g_strdup(id);
  o->user = g_strdup(json_string_value(json_object_get(oj, "user")));
  o->subtotal = json_integer_value(json_object_get(oj, "subtotal"));
  o->discount = json_integer_value(json_object_get(oj, "discount"));
  o->total = json_integer_value(json_object_get(oj, "total"));
  o->claim_id = g_strdup(json_string_value(json_object_get(oj, "claim_id")));
  o->created_at = json_integer_value(json_object_get(oj, "created_at"));
  o->expires_at = json_integer_value(json_object_get(oj, "expires_at"));
  o->n_items = (int)json_array_size(items);
  o->items = g_new0(order_item, o->n_items);
  bool from_cart = json_is_true(json_object_get(fact, "from_cart"));
  for (int i = 0; i < o->n_items; i++) {
    json_t *ij = json_array_get(items, (size_t)i);
    order_item *it = &o->items[i];
    it->sku_id = g_strdup(json_string_value(json_object_get(ij, "sku")));
    it->sku = s->catalog && it->sku_id ? lc_catalog_sku(s->catalog, it->sku_id) : -1;
    it->qty = json_integer_value(json_object_get(ij, "qty"));
    it->unit_price = json_integer_value(json_object_get(ij, "unit_price"));
    it->sale_id = g_strdup(json_string_value(json_object_get(ij, "sale_id")));
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
  /* Sorted by deadline; nearly always the tail (one TTL), but the TTL may change
   * between runs and clocks may step. */
  GList *after = s->expiry.tail;
  while (after && ((order *)after->data)->expires_at > o->expires_at)
    after = after->prev;
  if (after)
    g_queue_insert_after(&s->expiry, after, o);
  else
    g_queue_push_head(&s->expiry, o);
  s->next_order = MAX(s->next_order, id_number(id, "o-"));
}

json_t *
lc__committed_order_created(lc_show *s, const json_t *fact, gpointer data)
{
  order *o = g_hash_table_lookup(s->orders, json_string_value(json_object_get(json_object_get(fact, "order"), "id")));
  if (!o) /* a replayed fact its applier skipped (damaged journal) */
    return json_object();
  json_t *oj = lc__order_json(s, o);
  lc__show_private_answer(s, o->user, "order.created", json_pack("{s:O}", "order", oj));
  if (json_is_true(json_object_get(fact, "from_cart")))
    lc__show_private(s, o->user, "cart.updated", json_pack("{s:o}", "cart", lc__cart_json(s, o->user)));
  for (int i = 0; i < o->n_items; i++) {
    sale *sl = o->items[i].sale_id ? lc__sale_find(s, o->items[i].sale_id) : NULL;
    if (sl && sl->sold >= sl->quantity && !sl->ended)
      lc__show_event(s, "flash.sold_out", json_pack("{s:s, s:I}", "sale_id", sl->id, "sold", (json_int_t)sl->sold));
  }
  if (!s->replaying && !s->expiry_timer)
    lc__expiry_arm(s);
  return json_pack("{s:o}", "order", oj);
}

static void
create_order(lc_show *s, lc__op *op, const lc_show_caller *caller, json_t *items, gint64 subtotal,
             const claim *cl, gint64 discount, bool from_cart)
{
  gint64 now = lc__show_now(s);
  char *id = g_strdup_printf("o-%" G_GINT64_FORMAT, s->next_order + 1);
  json_t *oj = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:s?, s:I, s:I}", "id", id, "user", caller->user, "items",
                         items, "subtotal", (json_int_t)subtotal, "discount", (json_int_t)discount, "total",
                         (json_int_t)(subtotal - discount), "claim_id", cl ? cl->id : NULL, "created_at",
                         (json_int_t)now, "expires_at", (json_int_t)(now + s->cfg.order_ttl_ms));
  g_free(id);
  json_t *fact = json_pack("{s:o, s:s?, s:b}", "order", oj, "op_id", caller->op_id, "from_cart", from_cart);
  lc__show_commit(s, op, "order.created", fact, lc__committed_order_created, NULL, NULL);
}

void
lc_show_checkout(lc_show *s, const lc_show_caller *caller, const json_t *items, const char *claim_id,
                 lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !buying_allowed(s, op, caller))
    return;
  json_t *lines = json_array();
  bool from_cart = items == NULL;
  if (from_cart) {
    GHashTable *c = cart_of(s, caller->user, false);
    for (int i = 0; c && i < s->catalog->n_skus; i++) {
      gint64 *q = g_hash_table_lookup(c, s->catalog->skus[i].id);
      if (q)
        json_array_append_new(lines, json_pack("{s:s, s:I}", "sku", s->catalog->skus[i].id, "qty", (json_int_t)*q));
    }
  } else {
    json_array_extend(lines, (json_t *)items);
  }
  const char *fail_code = NULL;
  char *fail_msg = NULL;
  gint64 subtotal = 0;
  size_t n = json_array_size(lines);
  json_t *order_items = json_array();
  gint64 *want = g_new0(gint64, s->catalog->n_skus); /* duplicates add up */
  if (n == 0) {
    fail_code = "cart_empty";
    fail_msg = g_strdup("nothing to check out");
  }
  for (size_t i = 0; !fail_code && i < n; i++) {
    json_t *l = json_array_get(lines, i);
    const char *sku = json_string_value(json_object_get(l, "sku"));
    gint64 qty = json_integer_value(json_object_get(l, "qty"));
    int k = sku ? lc_catalog_sku(s->catalog, sku) : -1;
    if (k < 0) {
      fail_code = "not_found";
      fail_msg = g_strdup_printf("no SKU '%s'", sku ? sku : "");
    } else if (qty < 1 || qty > MAX_QTY) {
      fail_code = "invalid_argument";
      fail_msg = g_strdup_printf("quantity of %s must be from 1 to %d", sku, MAX_QTY);
    } else if ((want[k] += qty) > s->available[k]) {
      fail_code = "out_of_stock";
      fail_msg = g_strdup_printf("%s: %" G_GINT64_FORMAT " available", sku, s->available[k]);
    } else {
      gint64 price = s->catalog->skus[k].price;
      subtotal += qty * price;
      json_array_append_new(order_items, json_pack("{s:s, s:I, s:I}", "sku", sku, "qty", (json_int_t)qty,
                                                   "unit_price", (json_int_t)price));
    }
  }
  g_free(want);
  json_decref(lines);
  claim *cl = NULL;
  gint64 discount = 0;
  if (!fail_code && claim_id) {
    cl = g_hash_table_lookup(s->claims, claim_id);
    coupon *cp = cl ? coupon_find(s, cl->coupon_id) : NULL;
    const char *why = NULL;
    if (!cl || strcmp(cl->user, caller->user) != 0) {
      fail_code = "not_found";
      fail_msg = g_strdup_printf("no coupon claim '%s' of yours", claim_id);
    } else if (cl->state == CLAIM_USED) {
      fail_code = "coupon_unavailable";
      fail_msg = g_strdup_printf("the coupon was used on order %s", cl->order_id);
    } else if (!cp || lc_coupon_discount(cp->c, subtotal, lc__show_now(s), &discount, &why) != 0) {
      fail_code = "coupon_not_applicable";
      fail_msg = g_strdup_printf("the coupon does not apply: %s", why ? why : "unknown coupon");
    }
  }
  if (fail_code) {
    lc__op_fail(op, fail_code, "%s", fail_msg);
    json_decref(order_items);
  } else {
    create_order(s, op, caller, order_items, subtotal, cl, discount, from_cart);
  }
  g_free(fail_msg);
}

void
lc_show_flash_buy(lc_show *s, const lc_show_caller *caller, const char *sale_id, gint64 qty, lc_show_done done,
                  gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !buying_allowed(s, op, caller))
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
  } else if (qty < 1 || qty > MAX_QTY) {
    lc__op_fail(op, "invalid_argument", "quantity must be from 1 to %d", MAX_QTY);
  } else if (mine + qty > sl->per_user_limit) {
    lc__op_fail(op, "limit_exceeded", "at most %" G_GINT64_FORMAT " per person; you have %" G_GINT64_FORMAT,
                sl->per_user_limit, mine);
  } else if (sl->sold + qty > sl->quantity) {
    lc__op_fail(op, "sold_out", "only %" G_GINT64_FORMAT " left", sl->quantity - sl->sold);
  } else {
    json_t *items = json_pack("[{s:s, s:I, s:I, s:s}]", "sku", s->catalog->skus[sl->sku].id, "qty", (json_int_t)qty,
                              "unit_price", (json_int_t)sl->price, "sale_id", sl->id);
    create_order(s, op, caller, items, qty * sl->price, NULL, 0, false);
  }
}

/* Returns the order's units to where they came from and frees its coupon claim. */
void
lc__apply_order_closed(lc_show *s, const json_t *fact, order_state to)
{
  order *o = g_hash_table_lookup(s->orders, json_string_value(json_object_get(fact, "id")));
  if (!o || o->state != ORDER_PENDING)
    return;
  o->state = to;
  o->closed_at = json_integer_value(json_object_get(fact, "at"));
  o->payment_ref = g_strdup(json_string_value(json_object_get(fact, "payment_ref")));
  o->reason = g_strdup(json_string_value(json_object_get(fact, "reason")));
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
  claim *c = o->claim_id ? g_hash_table_lookup(s->claims, o->claim_id) : NULL;
  if (c && c->order_id && strcmp(c->order_id, o->id) == 0) {
    c->state = CLAIM_AVAILABLE;
    g_free(c->order_id);
    c->order_id = NULL;
  }
}

json_t *
lc__committed_order_closed(lc_show *s, const json_t *fact, gpointer data)
{
  order *o = g_hash_table_lookup(s->orders, json_string_value(json_object_get(fact, "id")));
  const char *name = data;
  if (!o)
    return json_object();
  json_t *oj = lc__order_json(s, o);
  lc__show_private_answer(s, o->user, name, json_pack("{s:O}", "order", oj));
  lc__show_alert(s, name, json_pack("{s:s, s:O}", "room", s->room, "order", oj));
  return json_pack("{s:o}", "order", oj);
}

/* caller: the buyer cancelling (its user and op_id go into the fact, so a retry after
 * a restart gets the first answer), or NULL. */
static void
close_order(lc_show *s, lc__op *op, order *o, const char *type, const char *payment_ref, const char *reason,
            const lc_show_caller *caller)
{
  json_t *fact = json_pack("{s:s, s:I, s:s?, s:s?}", "id", o->id, "at", (json_int_t)lc__show_now(s), "payment_ref",
                           payment_ref, "reason", reason);
  if (caller && caller->user && caller->op_id) {
    json_object_set_new(fact, "user", json_string(caller->user));
    json_object_set_new(fact, "op_id", json_string(caller->op_id));
  }
  lc__show_commit(s, op, type, fact, lc__committed_order_closed, (gpointer)type, NULL);
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
    close_order(s, op, o, "order.cancelled", NULL, "cancelled by the buyer", caller);
}

void
lc_show_order_cancel_mod(lc_show *s, const char *order_id, const char *reason, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  order *o = pending_order(s, op, order_id, NULL);
  if (o)
    close_order(s, op, o, "order.cancelled", NULL, reason ? reason : "cancelled by the merchant", NULL);
}

void
lc_show_order_pay(lc_show *s, const char *order_id, const char *payment_ref, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  order *o = pending_order(s, op, order_id, NULL);
  if (o)
    close_order(s, op, o, "order.paid", payment_ref, NULL, NULL);
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
  while ((o = g_queue_peek_head(&s->expiry)) && (o->state != ORDER_PENDING || o->expires_at <= now)) {
    g_queue_pop_head(&s->expiry);
    if (o->state == ORDER_PENDING)
      close_order(s, NULL, o, "order.expired", NULL, "not paid in time", NULL);
  }
  lc__expiry_arm(s);
  return G_SOURCE_REMOVE;
}

void
lc__expiry_arm(lc_show *s)
{
  if (s->expiry_timer) {
    g_source_remove(s->expiry_timer);
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
  s->expiry_timer = g_timeout_add((guint)MIN(wait, (gint64)G_MAXINT32), expire_due, s);
}

/* Encoders and decoders of the show's facts (see show_facts.h). The encoders write
 * exactly the JSON the engine wrote before typed facts, key for key and in the same
 * order, so journals of either version read the same. */
#include "commerce/show_facts.h"

#include <string.h>

/* ---- reading fields --------------------------------------------------------------- */

static bool
missing(char **why, const char *key, const char *what)
{
  if (!*why)
    *why = g_strdup_printf("field '%s' %s", key, what);
  return false;
}

/* optional: absent or null gives NULL */
static bool
get_str(const json_t *o, const char *key, bool optional, char **out, char **why)
{
  json_t *v = json_object_get(o, key);
  if (optional && (!v || json_is_null(v)))
    return true;
  if (!json_is_string(v))
    return missing(why, key, v ? "is not a string" : "is missing");
  *out = g_strdup(json_string_value(v));
  return true;
}

static bool
get_int(const json_t *o, const char *key, gint64 *out, char **why)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v))
    return missing(why, key, v ? "is not an integer" : "is missing");
  *out = json_integer_value(v);
  return true;
}

static bool
get_bool(const json_t *o, const char *key, bool *out, char **why)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_boolean(v))
    return missing(why, key, v ? "is not a boolean" : "is missing");
  *out = json_is_true(v);
  return true;
}

/* ---- one encoder and one decoder per kind ------------------------------------------ */

static json_t *
enc_catalog(const lc__fact *f)
{
  return json_pack("{s:o}", "catalog", lc_catalog_to_json(f->u.catalog.catalog));
}

static bool
dec_catalog(const json_t *j, lc__fact *f, gint64 low_stock_default, char **why)
{
  json_t *c = json_object_get(j, "catalog");
  if (!json_is_object(c))
    return missing(why, "catalog", c ? "is not an object" : "is missing");
  char *err = NULL;
  f->u.catalog.catalog = lc_catalog_from_json(c, low_stock_default, &err);
  if (!f->u.catalog.catalog) {
    *why = g_strdup_printf("catalog: %s", err);
    g_free(err);
    return false;
  }
  return true;
}

static json_t *
enc_pin(const lc__fact *f)
{
  return json_pack("{s:s?, s:I}", "product", f->u.pin.product, "at", (json_int_t)f->u.pin.at);
}

static bool
dec_pin(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return get_str(j, "product", true, &f->u.pin.product, why) && get_int(j, "at", &f->u.pin.at, why);
}

static json_t *
enc_flash_scheduled(const lc__fact *f)
{
  const lc__fact_flash_scheduled *x = &f->u.flash_scheduled;
  return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "id", x->id, "sku", x->sku, "price",
                   (json_int_t)x->price, "quantity", (json_int_t)x->quantity, "per_user_limit",
                   (json_int_t)x->per_user_limit, "starts_at", (json_int_t)x->starts_at, "ends_at",
                   (json_int_t)x->ends_at);
}

static bool
dec_flash_scheduled(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_flash_scheduled *x = &f->u.flash_scheduled;
  return get_str(j, "id", false, &x->id, why) && get_str(j, "sku", false, &x->sku, why) &&
         get_int(j, "price", &x->price, why) && get_int(j, "quantity", &x->quantity, why) &&
         get_int(j, "per_user_limit", &x->per_user_limit, why) &&
         get_int(j, "starts_at", &x->starts_at, why) && get_int(j, "ends_at", &x->ends_at, why);
}

static json_t *
enc_flash_started(const lc__fact *f)
{
  return json_pack("{s:s, s:I}", "id", f->u.flash_started.id, "at", (json_int_t)f->u.flash_started.at);
}

static bool
dec_flash_started(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return get_str(j, "id", false, &f->u.flash_started.id, why) &&
         get_int(j, "at", &f->u.flash_started.at, why);
}

static json_t *
enc_flash_ended(const lc__fact *f)
{
  const lc__fact_flash_ended *x = &f->u.flash_ended;
  return json_pack("{s:s, s:s, s:I}", "id", x->id, "reason", x->reason, "at", (json_int_t)x->at);
}

static bool
dec_flash_ended(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_flash_ended *x = &f->u.flash_ended;
  return get_str(j, "id", false, &x->id, why) && get_str(j, "reason", false, &x->reason, why) &&
         get_int(j, "at", &x->at, why);
}

static json_t *
enc_coupon_dropped(const lc__fact *f)
{
  return json_pack("{s:o}", "coupon", lc_coupon_to_json(f->u.coupon_dropped.coupon));
}

static bool
dec_coupon_dropped(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  json_t *c = json_object_get(j, "coupon");
  if (!json_is_object(c))
    return missing(why, "coupon", c ? "is not an object" : "is missing");
  char *err = NULL;
  f->u.coupon_dropped.coupon = lc_coupon_from_json(c, &err);
  if (!f->u.coupon_dropped.coupon) {
    *why = g_strdup_printf("coupon: %s", err);
    g_free(err);
    return false;
  }
  f->u.coupon_dropped.id = g_strdup(f->u.coupon_dropped.coupon->id);
  return true;
}

static json_t *
enc_coupon_claimed(const lc__fact *f)
{
  const lc__fact_coupon_claimed *x = &f->u.coupon_claimed;
  return json_pack("{s:s, s:s, s:s, s:s?}", "claim_id", x->claim_id, "coupon_id", x->coupon_id, "user",
                   x->user, "op_id", x->op_id);
}

static bool
dec_coupon_claimed(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_coupon_claimed *x = &f->u.coupon_claimed;
  return get_str(j, "claim_id", false, &x->claim_id, why) &&
         get_str(j, "coupon_id", false, &x->coupon_id, why) && get_str(j, "user", false, &x->user, why) &&
         get_str(j, "op_id", true, &x->op_id, why);
}

static json_t *
enc_cart_set(const lc__fact *f)
{
  const lc__fact_cart_set *x = &f->u.cart_set;
  return json_pack("{s:s, s:s, s:I, s:s?}", "user", x->user, "sku", x->sku, "qty", (json_int_t)x->qty,
                   "op_id", x->op_id);
}

static bool
dec_cart_set(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_cart_set *x = &f->u.cart_set;
  return get_str(j, "user", false, &x->user, why) && get_str(j, "sku", false, &x->sku, why) &&
         get_int(j, "qty", &x->qty, why) && get_str(j, "op_id", true, &x->op_id, why);
}

static json_t *
enc_order_created(const lc__fact *f)
{
  const lc__fact_order_created *x = &f->u.order_created;
  json_t *items = json_array();
  for (int i = 0; i < x->n_items; i++) {
    const lc__fact_order_item *it = &x->items[i];
    json_t *ij = json_pack("{s:s, s:I, s:I}", "sku", it->sku, "qty", (json_int_t)it->qty, "unit_price",
                           (json_int_t)it->unit_price);
    if (it->sale_id)
      json_object_set_new(ij, "sale_id", json_string(it->sale_id));
    if (it->promo_kind)
      json_object_set_new(ij, "promotion", json_pack("{s:s, s:s, s:I}", "kind", it->promo_kind, "label",
                                                     it->promo_label ? it->promo_label : "", "discount",
                                                     (json_int_t)it->promo_discount));
    json_array_append_new(items, ij);
  }
  json_t *oj = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:s?, s:I, s:I}", "id", x->id, "user", x->user,
                         "items", items, "subtotal", (json_int_t)x->subtotal, "discount",
                         (json_int_t)x->discount, "total", (json_int_t)x->total, "claim_id", x->claim_id,
                         "created_at", (json_int_t)x->created_at, "expires_at", (json_int_t)x->expires_at);
  /* fields newer than journal v1 only when set, so older facts encode as they always did */
  if (x->promo_discount)
    json_object_set_new(oj, "promo_discount", json_integer(x->promo_discount));
  if (x->coins > 0)
    json_object_set_new(oj, "coins", json_integer(x->coins));
  if (x->group_deal)
    json_object_set_new(oj, "group", json_pack("{s:s, s:s, s:I, s:s?}", "deal", x->group_deal, "team", x->team,
                                               "deadline", (json_int_t)x->team_deadline, "name", x->member_name));
  return json_pack("{s:o, s:s?, s:b}", "order", oj, "op_id", x->op_id, "from_cart", x->from_cart);
}

/* optional integer: absent gives 0 */
static bool
get_int_opt(const json_t *o, const char *key, gint64 *out, char **why)
{
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return true;
  return get_int(o, key, out, why);
}

static bool
dec_order_created(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_order_created *x = &f->u.order_created;
  json_t *oj = json_object_get(j, "order");
  if (!json_is_object(oj))
    return missing(why, "order", oj ? "is not an object" : "is missing");
  json_t *items = json_object_get(oj, "items");
  if (!json_is_array(items))
    return missing(why, "order.items", items ? "is not an array" : "is missing");
  x->n_items = (int)json_array_size(items);
  x->items = g_new0(lc__fact_order_item, MAX(x->n_items, 1));
  for (int i = 0; i < x->n_items; i++) {
    json_t *ij = json_array_get(items, (size_t)i);
    lc__fact_order_item *it = &x->items[i];
    if (!get_str(ij, "sku", false, &it->sku, why) || !get_int(ij, "qty", &it->qty, why) ||
        !get_int(ij, "unit_price", &it->unit_price, why) || !get_str(ij, "sale_id", true, &it->sale_id, why))
      return false;
    json_t *pj = json_object_get(ij, "promotion");
    if (pj && !json_is_null(pj) &&
        (!get_str(pj, "kind", false, &it->promo_kind, why) || !get_str(pj, "label", false, &it->promo_label, why) ||
         !get_int(pj, "discount", &it->promo_discount, why)))
      return false;
  }
  if (!get_int_opt(oj, "promo_discount", &x->promo_discount, why) || !get_int_opt(oj, "coins", &x->coins, why))
    return false;
  json_t *gj = json_object_get(oj, "group");
  if (gj && !json_is_null(gj) &&
      (!get_str(gj, "deal", false, &x->group_deal, why) || !get_str(gj, "team", false, &x->team, why) ||
       !get_int(gj, "deadline", &x->team_deadline, why) || !get_str(gj, "name", true, &x->member_name, why)))
    return false;
  return get_str(oj, "id", false, &x->id, why) && get_str(oj, "user", false, &x->user, why) &&
         get_int(oj, "subtotal", &x->subtotal, why) && get_int(oj, "discount", &x->discount, why) &&
         get_int(oj, "total", &x->total, why) && get_str(oj, "claim_id", true, &x->claim_id, why) &&
         get_int(oj, "created_at", &x->created_at, why) && get_int(oj, "expires_at", &x->expires_at, why) &&
         get_str(j, "op_id", true, &x->op_id, why) && get_bool(j, "from_cart", &x->from_cart, why);
}

static json_t *
enc_order_closed(const lc__fact *f)
{
  const lc__fact_order_closed *x = &f->u.order_closed;
  json_t *j = json_pack("{s:s, s:I, s:s?, s:s?}", "id", x->id, "at", (json_int_t)x->at, "payment_ref",
                        x->payment_ref, "reason", x->reason);
  if (x->user && x->op_id) {
    json_object_set_new(j, "user", json_string(x->user));
    json_object_set_new(j, "op_id", json_string(x->op_id));
  }
  return j;
}

static bool
dec_order_closed(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_order_closed *x = &f->u.order_closed;
  return get_str(j, "id", false, &x->id, why) && get_int(j, "at", &x->at, why) &&
         get_str(j, "payment_ref", true, &x->payment_ref, why) &&
         get_str(j, "reason", true, &x->reason, why) && get_str(j, "user", true, &x->user, why) &&
         get_str(j, "op_id", true, &x->op_id, why);
}

static json_t *
enc_chat_muted(const lc__fact *f)
{
  const lc__fact_chat_muted *x = &f->u.chat_muted;
  return json_pack("{s:s, s:I, s:s?}", "user", x->user, "until", (json_int_t)x->until, "reason", x->reason);
}

static bool
dec_chat_muted(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_chat_muted *x = &f->u.chat_muted;
  return get_str(j, "user", false, &x->user, why) && get_int(j, "until", &x->until, why) &&
         get_str(j, "reason", true, &x->reason, why);
}

static json_t *
enc_chat_banned(const lc__fact *f)
{
  return json_pack("{s:s, s:b}", "user", f->u.chat_banned.user, "banned", f->u.chat_banned.banned);
}

static bool
dec_chat_banned(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return get_str(j, "user", false, &f->u.chat_banned.user, why) &&
         get_bool(j, "banned", &f->u.chat_banned.banned, why);
}

static json_t *
enc_chat_slowmode(const lc__fact *f)
{
  return json_pack("{s:I}", "seconds", (json_int_t)f->u.chat_slowmode.seconds);
}

static bool
dec_chat_slowmode(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return get_int(j, "seconds", &f->u.chat_slowmode.seconds, why);
}

static json_t *
enc_likes(const lc__fact *f)
{
  return json_pack("{s:I}", "total", (json_int_t)f->u.likes.total);
}

static bool
dec_likes(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return get_int(j, "total", &f->u.likes.total, why);
}

static json_t *
enc_promo_set(const lc__fact *f)
{
  const lc__fact_promo_set *x = &f->u.promo_set;
  return json_pack("{s:s, s:o}", "sku", x->sku, "promotion", x->promo ? lc_promo_to_json(x->promo) : json_null());
}

static bool
dec_promo_set(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_promo_set *x = &f->u.promo_set;
  if (!get_str(j, "sku", false, &x->sku, why))
    return false;
  json_t *p = json_object_get(j, "promotion");
  if (!p || json_is_null(p))
    return true;
  char *err = NULL;
  x->promo = lc_promo_from_json(p, &err);
  if (!x->promo) {
    *why = g_strdup(err);
    g_free(err);
    return false;
  }
  return true;
}

void
lc__gift_defs_free(lc__gift_def *g, int n)
{
  for (int i = 0; g && i < n; i++) {
    g_free(g[i].id);
    g_free(g[i].name);
    g_free(g[i].icon);
    g_free(g[i].cls);
  }
  g_free(g);
}

bool
lc__wire_id_ok(const char *id)
{
  size_t n = strlen(id);
  if (n < 1 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isalnum(id[i]) && !strchr("_.:-", id[i]))
      return false;
  return true;
}

static bool
text_ok(const char *t, long max_chars)
{
  if (!g_utf8_validate(t, -1, NULL) || g_utf8_strlen(t, -1) > max_chars)
    return false;
  for (const char *p = t; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || (c >= 0x7f && c < 0xa0))
      return false;
  }
  return true;
}

static bool
gift_fail(char **why, char *msg)
{
  if (!*why)
    *why = msg;
  else
    g_free(msg);
  return false;
}

bool
lc__gifts_parse(const json_t *spec, lc__fact_gifts_loaded *out, char **why)
{
  memset(out, 0, sizeof *out);
  out->coin_cents = 10;
  out->creator_pct = 70;
  json_t *gifts = json_object_get(spec, "gifts");
  if (!json_is_array(gifts) || json_array_size(gifts) < 1 || json_array_size(gifts) > 100)
    return gift_fail(why, g_strdup("gifts: must be an array of 1 to 100 gifts"));
  if (!get_int_opt(spec, "coin_cents", &out->coin_cents, why) ||
      !get_int_opt(spec, "creator_pct", &out->creator_pct, why))
    return false;
  if (out->coin_cents < 1 || out->coin_cents > 100000)
    return gift_fail(why, g_strdup("coin_cents: must be from 1 to 100000"));
  if (out->creator_pct < 0 || out->creator_pct > 100)
    return gift_fail(why, g_strdup("creator_pct: must be from 0 to 100"));
  int n = (int)json_array_size(gifts);
  lc__gift_def *g = g_new0(lc__gift_def, n);
  for (int i = 0; i < n; i++) {
    json_t *gj = json_array_get(gifts, (size_t)i);
    lc__gift_def *d = &g[i];
    bool ok = json_is_object(gj) && get_str(gj, "id", false, &d->id, why) &&
              get_str(gj, "name", false, &d->name, why) && get_str(gj, "icon", true, &d->icon, why) &&
              get_int(gj, "coins", &d->coins, why) && get_str(gj, "class", false, &d->cls, why);
    if (ok && !lc__wire_id_ok(d->id))
      ok = gift_fail(why, g_strdup_printf("gifts[%d].id: 1-64 of A-Z a-z 0-9 _ . : -", i));
    if (ok && (!text_ok(d->name, 32) || !*d->name))
      ok = gift_fail(why, g_strdup_printf("gifts[%d].name: 1-32 characters, no control characters", i));
    if (ok && d->icon && !text_ok(d->icon, 256))
      ok = gift_fail(why, g_strdup_printf("gifts[%d].icon: at most 256 characters", i));
    if (ok && (d->coins < 1 || d->coins > 1000000))
      ok = gift_fail(why, g_strdup_printf("gifts[%d].coins: must be from 1 to 1000000", i));
    if (ok && strcmp(d->cls, "small") != 0 && strcmp(d->cls, "big") != 0 && strcmp(d->cls, "fullscreen") != 0)
      ok = gift_fail(why, g_strdup_printf("gifts[%d].class: small, big or fullscreen", i));
    for (int k = 0; ok && k < i; k++)
      if (strcmp(g[k].id, d->id) == 0)
        ok = gift_fail(why, g_strdup_printf("gifts[%d].id: '%s' appears twice", i, d->id));
    if (!ok) {
      if (!*why)
        *why = g_strdup_printf("gifts[%d]: must be an object", i);
      lc__gift_defs_free(g, n);
      return false;
    }
  }
  out->gifts = g;
  out->n = n;
  return true;
}

static json_t *
enc_gifts_loaded(const lc__fact *f)
{
  const lc__fact_gifts_loaded *x = &f->u.gifts_loaded;
  json_t *a = json_array();
  for (int i = 0; i < x->n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:s*, s:I, s:s}", "id", x->gifts[i].id, "name", x->gifts[i].name,
                                       "icon", x->gifts[i].icon, "coins", (json_int_t)x->gifts[i].coins, "class",
                                       x->gifts[i].cls));
  return json_pack("{s:o, s:I, s:I}", "gifts", a, "coin_cents", (json_int_t)x->coin_cents, "creator_pct",
                   (json_int_t)x->creator_pct);
}

static bool
dec_gifts_loaded(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  return lc__gifts_parse(j, &f->u.gifts_loaded, why);
}

static json_t *
enc_gift_sent(const lc__fact *f)
{
  const lc__fact_gift_sent *x = &f->u.gift_sent;
  return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "n", (json_int_t)x->n, "user",
                   x->user, "name", x->name, "gift_id", x->gift_id, "count", (json_int_t)x->count, "coins",
                   (json_int_t)x->coins, "value_cents", (json_int_t)x->value_cents, "creator_cents",
                   (json_int_t)x->creator_cents, "at", (json_int_t)x->at, "balance", (json_int_t)x->balance,
                   "op_id", x->op_id);
}

static bool
dec_gift_sent(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_gift_sent *x = &f->u.gift_sent;
  return get_int(j, "n", &x->n, why) && get_str(j, "user", false, &x->user, why) &&
         get_str(j, "name", false, &x->name, why) && get_str(j, "gift_id", false, &x->gift_id, why) &&
         get_int(j, "count", &x->count, why) && get_int(j, "coins", &x->coins, why) &&
         get_int(j, "value_cents", &x->value_cents, why) && get_int(j, "creator_cents", &x->creator_cents, why) &&
         get_int(j, "at", &x->at, why) && get_int(j, "balance", &x->balance, why) &&
         get_str(j, "op_id", true, &x->op_id, why);
}

static json_t *
enc_group_opened(const lc__fact *f)
{
  const lc__fact_group_opened *x = &f->u.group_opened;
  return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "id", x->id, "sku", x->sku, "price",
                   (json_int_t)x->price, "team_size", (json_int_t)x->team_size, "fill_ms", (json_int_t)x->fill_ms,
                   "quantity", (json_int_t)x->quantity, "per_user_limit", (json_int_t)x->per_user_limit,
                   "starts_at", (json_int_t)x->starts_at, "ends_at", (json_int_t)x->ends_at);
}

static bool
dec_group_opened(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_group_opened *x = &f->u.group_opened;
  return get_str(j, "id", false, &x->id, why) && get_str(j, "sku", false, &x->sku, why) &&
         get_int(j, "price", &x->price, why) && get_int(j, "team_size", &x->team_size, why) &&
         get_int(j, "fill_ms", &x->fill_ms, why) && get_int(j, "quantity", &x->quantity, why) &&
         get_int(j, "per_user_limit", &x->per_user_limit, why) && get_int(j, "starts_at", &x->starts_at, why) &&
         get_int(j, "ends_at", &x->ends_at, why);
}

static json_t *
enc_group_closed(const lc__fact *f)
{
  const lc__fact_group_closed *x = &f->u.group_closed;
  return json_pack("{s:s, s:s, s:I}", "id", x->id, "reason", x->reason, "at", (json_int_t)x->at);
}

static bool
dec_group_closed(const json_t *j, lc__fact *f, gint64 lsd, char **why)
{
  lc__fact_group_closed *x = &f->u.group_closed;
  return get_str(j, "id", false, &x->id, why) && get_str(j, "reason", false, &x->reason, why) &&
         get_int(j, "at", &x->at, why);
}

static const struct {
  const char *type;
  json_t *(*encode)(const lc__fact *f);
  bool (*decode)(const json_t *j, lc__fact *f, gint64 low_stock_default, char **why);
} kinds[LC__FACT_N] = {
    [LC__FACT_CATALOG_LOADED] = {"catalog.loaded", enc_catalog, dec_catalog},
    [LC__FACT_PIN] = {"pin", enc_pin, dec_pin},
    [LC__FACT_FLASH_SCHEDULED] = {"flash.scheduled", enc_flash_scheduled, dec_flash_scheduled},
    [LC__FACT_FLASH_STARTED] = {"flash.started", enc_flash_started, dec_flash_started},
    [LC__FACT_FLASH_ENDED] = {"flash.ended", enc_flash_ended, dec_flash_ended},
    [LC__FACT_COUPON_DROPPED] = {"coupon.dropped", enc_coupon_dropped, dec_coupon_dropped},
    [LC__FACT_COUPON_CLAIMED] = {"coupon.claimed", enc_coupon_claimed, dec_coupon_claimed},
    [LC__FACT_CART_SET] = {"cart.set", enc_cart_set, dec_cart_set},
    [LC__FACT_ORDER_CREATED] = {"order.created", enc_order_created, dec_order_created},
    [LC__FACT_ORDER_PAID] = {"order.paid", enc_order_closed, dec_order_closed},
    [LC__FACT_ORDER_CANCELLED] = {"order.cancelled", enc_order_closed, dec_order_closed},
    [LC__FACT_ORDER_EXPIRED] = {"order.expired", enc_order_closed, dec_order_closed},
    [LC__FACT_CHAT_MUTED] = {"chat.muted", enc_chat_muted, dec_chat_muted},
    [LC__FACT_CHAT_BANNED] = {"chat.banned", enc_chat_banned, dec_chat_banned},
    [LC__FACT_CHAT_SLOWMODE] = {"chat.slowmode", enc_chat_slowmode, dec_chat_slowmode},
    [LC__FACT_LIKES] = {"likes", enc_likes, dec_likes},
    [LC__FACT_PROMO_SET] = {"promo.set", enc_promo_set, dec_promo_set},
    [LC__FACT_GIFTS_LOADED] = {"gifts.loaded", enc_gifts_loaded, dec_gifts_loaded},
    [LC__FACT_GIFT_SENT] = {"gift.sent", enc_gift_sent, dec_gift_sent},
    [LC__FACT_GROUP_OPENED] = {"group.opened", enc_group_opened, dec_group_opened},
    [LC__FACT_GROUP_CLOSED] = {"group.closed", enc_group_closed, dec_group_closed},
    [LC__FACT_TEAM_FAILED] = {"group.team_failed", enc_group_closed, dec_group_closed},
};

/* ---- the fact --------------------------------------------------------------------- */

const char *
lc__fact_type(lc__fact_kind kind)
{
  return kind >= 0 && kind < LC__FACT_N ? kinds[kind].type : "unknown";
}

lc__fact *
lc__fact_new(lc__fact_kind kind)
{
  lc__fact *f = g_new0(lc__fact, 1);
  f->kind = kind;
  return f;
}

void
lc__fact_free(lc__fact *f)
{
  if (!f)
    return;
  switch (f->kind) {
  case LC__FACT_CATALOG_LOADED:
    lc_catalog_free(f->u.catalog.catalog);
    break;
  case LC__FACT_PIN:
    g_free(f->u.pin.product);
    break;
  case LC__FACT_FLASH_SCHEDULED:
    g_free(f->u.flash_scheduled.id);
    g_free(f->u.flash_scheduled.sku);
    break;
  case LC__FACT_FLASH_STARTED:
    g_free(f->u.flash_started.id);
    break;
  case LC__FACT_FLASH_ENDED:
    g_free(f->u.flash_ended.id);
    g_free(f->u.flash_ended.reason);
    break;
  case LC__FACT_COUPON_DROPPED:
    lc_coupon_free(f->u.coupon_dropped.coupon);
    g_free(f->u.coupon_dropped.id);
    break;
  case LC__FACT_COUPON_CLAIMED:
    g_free(f->u.coupon_claimed.claim_id);
    g_free(f->u.coupon_claimed.coupon_id);
    g_free(f->u.coupon_claimed.user);
    g_free(f->u.coupon_claimed.op_id);
    break;
  case LC__FACT_CART_SET:
    g_free(f->u.cart_set.user);
    g_free(f->u.cart_set.sku);
    g_free(f->u.cart_set.op_id);
    break;
  case LC__FACT_ORDER_CREATED: {
    lc__fact_order_created *x = &f->u.order_created;
    for (int i = 0; x->items && i < x->n_items; i++) {
      g_free(x->items[i].sku);
      g_free(x->items[i].sale_id);
      g_free(x->items[i].promo_kind);
      g_free(x->items[i].promo_label);
    }
    g_free(x->items);
    g_free(x->id);
    g_free(x->user);
    g_free(x->claim_id);
    g_free(x->op_id);
    g_free(x->group_deal);
    g_free(x->team);
    g_free(x->member_name);
    break;
  }
  case LC__FACT_PROMO_SET:
    g_free(f->u.promo_set.sku);
    lc_promo_free(f->u.promo_set.promo);
    break;
  case LC__FACT_GIFTS_LOADED:
    lc__gift_defs_free(f->u.gifts_loaded.gifts, f->u.gifts_loaded.n);
    break;
  case LC__FACT_GIFT_SENT:
    g_free(f->u.gift_sent.user);
    g_free(f->u.gift_sent.name);
    g_free(f->u.gift_sent.gift_id);
    g_free(f->u.gift_sent.op_id);
    break;
  case LC__FACT_GROUP_OPENED:
    g_free(f->u.group_opened.id);
    g_free(f->u.group_opened.sku);
    break;
  case LC__FACT_GROUP_CLOSED:
  case LC__FACT_TEAM_FAILED:
    g_free(f->u.group_closed.id);
    g_free(f->u.group_closed.reason);
    break;
  case LC__FACT_ORDER_PAID:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_ORDER_EXPIRED:
    g_free(f->u.order_closed.id);
    g_free(f->u.order_closed.payment_ref);
    g_free(f->u.order_closed.reason);
    g_free(f->u.order_closed.user);
    g_free(f->u.order_closed.op_id);
    break;
  case LC__FACT_CHAT_MUTED:
    g_free(f->u.chat_muted.user);
    g_free(f->u.chat_muted.reason);
    break;
  case LC__FACT_CHAT_BANNED:
    g_free(f->u.chat_banned.user);
    break;
  case LC__FACT_CHAT_SLOWMODE:
  case LC__FACT_LIKES:
  case LC__FACT_N:
    break;
  }
  g_free(f);
}

json_t *
lc__fact_to_json(const lc__fact *f)
{
  return kinds[f->kind].encode(f);
}

char *
lc__fact_encode(const lc__fact *f)
{
  json_t *j = lc__fact_to_json(f);
  char *text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  char *out = g_strdup(text); /* the store frees with g_free */
  free(text);
  return out;
}

lc__fact *
lc__fact_decode(const char *type, const char *text, gint64 low_stock_default, char **why)
{
  *why = NULL;
  int kind = -1;
  for (int k = 0; type && k < LC__FACT_N; k++)
    if (strcmp(kinds[k].type, type) == 0)
      kind = k;
  if (kind < 0) {
    *why = g_strdup_printf("unknown fact type '%s'", type ? type : "");
    return NULL;
  }
  json_error_t jerr;
  json_t *j = text ? json_loads(text, 0, &jerr) : NULL;
  if (!json_is_object(j)) {
    *why = g_strdup_printf("not a JSON object (%s)", j ? "wrong type" : text ? jerr.text : "no data");
    json_decref(j);
    return NULL;
  }
  lc__fact *f = lc__fact_new((lc__fact_kind)kind);
  bool ok = kinds[kind].decode(j, f, low_stock_default, why);
  json_decref(j);
  if (!ok) {
    lc__fact_free(f);
    return NULL;
  }
  return f;
}

const char *
lc__fact_op_id(const lc__fact *f)
{
  switch (f->kind) {
  case LC__FACT_COUPON_CLAIMED:
    return f->u.coupon_claimed.op_id;
  case LC__FACT_CART_SET:
    return f->u.cart_set.op_id;
  case LC__FACT_ORDER_CREATED:
    return f->u.order_created.op_id;
  case LC__FACT_ORDER_PAID:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_ORDER_EXPIRED:
    return f->u.order_closed.op_id;
  case LC__FACT_GIFT_SENT:
    return f->u.gift_sent.op_id;
  default:
    return NULL;
  }
}

const char *
lc__fact_op_user(const lc__fact *f)
{
  switch (f->kind) {
  case LC__FACT_COUPON_CLAIMED:
    return f->u.coupon_claimed.user;
  case LC__FACT_CART_SET:
    return f->u.cart_set.user;
  case LC__FACT_ORDER_CREATED:
    return f->u.order_created.user;
  case LC__FACT_ORDER_PAID:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_ORDER_EXPIRED:
    return f->u.order_closed.user;
  case LC__FACT_GIFT_SENT:
    return f->u.gift_sent.user;
  default:
    return NULL;
  }
}

/* Catalog, live stock, the pinned card and flash sales. */
#define LC_LOG_DOMAIN "show"
#include "base/errors.h"
#include "base/log.h"
#include "commerce/show_internal.h"

#include <string.h>

/* ---- stock ------------------------------------------------------------------------ */

void
lc__stock_add(lc_show *s, int sku, gint64 delta)
{
  if (!s->catalog || sku < 0 || sku >= s->catalog->n_skus || delta == 0)
    return;
  s->available[sku] += delta;
  lc__show_dirty_sku(s, sku);
  const lc_sku *k = &s->catalog->skus[sku];
  gint64 threshold = s->catalog->products[k->product].low_stock_threshold;
  if (s->available[sku] <= threshold && !s->low_alerted[sku]) {
    s->low_alerted[sku] = true;
    lc__show_alert(s, LC_SHOW_EV_STOCK_LOW,
                   json_pack("{s:s, s:s, s:s, s:I, s:I}", "room", s->room, "sku", k->id, "product",
                             s->catalog->products[k->product].id, "available", (json_int_t)s->available[sku],
                             "threshold", (json_int_t)threshold));
  } else if (s->available[sku] > threshold) {
    s->low_alerted[sku] = false;
  }
}

/* One product for viewers, with each SKU's live stock and the product's total. */
static json_t *
product_json(lc_show *s, int p)
{
  json_t *pj = lc_catalog_product_json(s->catalog, p);
  json_t *skus = json_object_get(pj, "skus");
  const lc_product *pr = &s->catalog->products[p];
  gint64 total = 0;
  for (int i = 0; i < pr->n_skus; i++) {
    gint64 avail = s->available[pr->first_sku + i];
    total += avail;
    json_t *kj = json_array_get(skus, (size_t)i);
    json_object_set_new(kj, "available", json_integer(avail));
    json_object_set_new(kj, "hold_limit",
                        json_integer(lc_catalog_hold_limit(s->catalog, pr->first_sku + i, s->cfg.hold_limit)));
    json_t *pm = lc__promo_json(s, s->catalog->skus[pr->first_sku + i].id);
    if (pm)
      json_object_set_new(kj, "promotion", pm);
  }
  json_object_set_new(pj, "available", json_integer(total));
  return pj;
}

json_t *
lc__products_json(lc_show *s)
{
  json_t *a = json_array();
  for (int p = 0; s->catalog && p < s->catalog->n_products; p++)
    json_array_append_new(a, product_json(s, p));
  return a;
}

json_t *
lc__pinned_json(lc_show *s)
{
  if (s->pinned < 0)
    return json_null();
  return json_pack("{s:o, s:I}", "product", product_json(s, s->pinned), "pinned_at", (json_int_t)s->pinned_at);
}

/* Ad-law words in a product's texts: [{product, field, word}]. product -1: all. */
static json_t *
compliance_scan(lc_show *s, const lc_catalog *c, int only)
{
  json_t *hits = json_array();
  if (!s->cfg.ad_filter)
    return hits;
  for (int p = 0; p < c->n_products; p++) {
    if (only >= 0 && p != only)
      continue;
    const lc_product *pr = &c->products[p];
    const char *word;
    struct {
      const char *field, *text;
    } texts[] = {{"title", pr->title}, {"subtitle", pr->subtitle}};
    for (unsigned t = 0; t < G_N_ELEMENTS(texts); t++)
      if (lc_wordfilter_match(s->cfg.ad_filter, texts[t].text, strlen(texts[t].text), &word))
        json_array_append_new(hits, json_pack("{s:s, s:s, s:s}", "product", pr->id, "field", texts[t].field,
                                              "word", word));
    for (int i = 0; i < pr->n_skus; i++) {
      const lc_sku *k = &c->skus[pr->first_sku + i];
      if (lc_wordfilter_match(s->cfg.ad_filter, k->label, strlen(k->label), &word))
        json_array_append_new(hits, json_pack("{s:s, s:s, s:s, s:s}", "product", pr->id, "sku", k->id, "field",
                                              "label", "word", word));
    }
  }
  return hits;
}

/* hits: borrowed */
static void
alert_compliance(lc_show *s, json_t *hits)
{
  if (json_array_size(hits) > 0)
    lc__show_alert(s, LC_SHOW_EV_COMPLIANCE_FLAGGED,
                   json_pack("{s:s, s:O}", "room", s->room, "findings", hits));
}

/* ---- catalog ----------------------------------------------------------------------- */

void
lc__apply_catalog(lc_show *s, lc__fact_catalog *f)
{
  lc_catalog *c = f->catalog; /* taken */
  f->catalog = NULL;
  const char *pinned = s->catalog && s->pinned >= 0 ? s->catalog->products[s->pinned].id : NULL;
  int new_pinned = pinned ? lc_catalog_product(c, pinned) : -1;
  lc_catalog_free(s->catalog);
  g_free(s->available);
  g_free(s->low_alerted);
  s->catalog = c;
  s->catalog_version++;
  s->available = g_new0(gint64, c->n_skus);
  s->low_alerted = g_new0(bool, c->n_skus);
  for (int i = 0; i < c->n_skus; i++)
    s->available[i] = c->skus[i].stock;
  s->pinned = new_pinned;
  g_hash_table_remove_all(s->dirty_skus);
  /* Sales (all ended: a reload is refused while one runs) find their SKU by id. */
  for (guint i = 0; i < s->sales->len; i++) {
    sale *sl = g_ptr_array_index(s->sales, i);
    sl->sku = lc_catalog_sku(c, sl->sku_id);
  }
  /* The file states the stock on hand; unpaid orders still hold their units (a
   * cancellation gives them back), so they are not available again. */
  for (guint i = 0; i < s->order_list->len; i++) {
    order *o = g_ptr_array_index(s->order_list, i);
    for (int k = 0; o->state == ORDER_PENDING && k < o->n_items; k++) {
      int sku = lc_catalog_sku(c, o->items[k].sku_id);
      if (sku >= 0)
        s->available[sku] -= o->items[k].qty;
    }
  }
}

json_t *
lc__committed_catalog(lc_show *s, const lc__fact *f, gpointer data)
{
  lc__show_event(s, LC_SHOW_EV_CATALOG_UPDATED,
                 json_pack("{s:s, s:o, s:o}", "currency", s->catalog->currency, "products",
                           lc__products_json(s), "pinned", lc__pinned_json(s)));
  json_t *hits = compliance_scan(s, s->catalog, -1);
  alert_compliance(s, hits);
  return json_pack("{s:i, s:i, s:o}", "products", s->catalog->n_products, "skus", s->catalog->n_skus,
                   "flagged", hits);
}

void
lc_show_catalog_load(lc_show *s, const json_t *catalog, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  for (guint i = 0; i < s->sales->len; i++) {
    sale *sl = g_ptr_array_index(s->sales, i);
    if (!sl->ended) {
      lc__op_fail(op, "invalid_state", "flash sale '%s' is not over: stop it before loading a catalog", sl->id);
      return;
    }
  }
  const char *deal = lc__group_open_deal(s);
  if (deal) {
    lc__op_fail(op, "invalid_state", "group deal '%s' is open: close it before loading a catalog", deal);
    return;
  }
  char *err = NULL;
  lc_catalog *c = lc_catalog_from_json(catalog, s->cfg.low_stock_default, &err);
  if (!c) {
    lc__op_fail(op, "invalid_argument", "catalog: %s", err);
    g_free(err);
    return;
  }
  json_t *hits = compliance_scan(s, c, -1);
  if (s->cfg.compliance_reject && json_array_size(hits) > 0) {
    json_t *h = json_array_get(hits, 0);
    lc__op_fail(op, "compliance", "product %s %s contains the ad-law term '%s' (%zu findings)",
                json_string_value(json_object_get(h, "product")), json_string_value(json_object_get(h, "field")),
                json_string_value(json_object_get(h, "word")), json_array_size(hits));
    json_decref(hits);
    lc_catalog_free(c);
    return;
  }
  json_decref(hits);
  lc__fact *f = lc__fact_new(LC__FACT_CATALOG_LOADED);
  f->u.catalog.catalog = c;
  lc__show_commit(s, op, f, lc__committed_catalog, NULL, NULL);
}

/* ---- pinned card ------------------------------------------------------------------------- */

void
lc__apply_pin(lc_show *s, const lc__fact_pin *f)
{
  s->pinned = f->product && s->catalog ? lc_catalog_product(s->catalog, f->product) : -1;
  s->pinned_at = f->at;
}

json_t *
lc__committed_pin(lc_show *s, const lc__fact *f, gpointer data)
{
  if (s->pinned >= 0) {
    lc__show_event(s, LC_SHOW_EV_PRODUCT_PINNED, lc__pinned_json(s));
    json_t *hits = compliance_scan(s, s->catalog, s->pinned);
    alert_compliance(s, hits);
    json_decref(hits);
  } else {
    lc__show_event(s, LC_SHOW_EV_PRODUCT_UNPINNED, json_pack("{s:I}", "at", (json_int_t)s->pinned_at));
  }
  return json_pack("{s:o}", "pinned", lc__pinned_json(s));
}

void
lc_show_pin(lc_show *s, const char *product_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  int p = -1;
  if (product_id) {
    p = s->catalog ? lc_catalog_product(s->catalog, product_id) : -1;
    if (p < 0) {
      lc__op_fail(op, "not_found", "no product '%s' in the catalog", product_id);
      return;
    }
    json_t *hits = compliance_scan(s, s->catalog, p);
    bool refuse = s->cfg.compliance_reject && json_array_size(hits) > 0;
    if (refuse) {
      json_t *h = json_array_get(hits, 0);
      lc__op_fail(op, "compliance", "the card's %s contains the ad-law term '%s'",
                  json_string_value(json_object_get(h, "field")), json_string_value(json_object_get(h, "word")));
    }
    json_decref(hits);
    if (refuse)
      return;
  } else if (s->pinned < 0) {
    lc__op_fail(op, "invalid_state", "nothing is pinned");
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_PIN);
  f->u.pin.product = g_strdup(product_id);
  f->u.pin.at = lc__show_now(s);
  lc__show_commit(s, op, f, lc__committed_pin, NULL, NULL);
}

/* ---- flash sales --------------------------------------------------------------------- */

void
lc__sale_free(gpointer p)
{
  sale *sl = p;
  if (sl->timer)
    lc_clock_source_remove(sl->show->cfg.clock, sl->timer);
  g_hash_table_destroy(sl->bought);
  g_free(sl->sku_id);
  g_free(sl->id);
  g_free(sl);
}

sale *
lc__sale_find(lc_show *s, const char *id)
{
  for (guint i = 0; id && i < s->sales->len; i++) {
    sale *sl = g_ptr_array_index(s->sales, i);
    if (strcmp(sl->id, id) == 0)
      return sl;
  }
  return NULL;
}

sale_state
lc__sale_state(lc_show *s, const sale *sl)
{
  gint64 now = lc__show_now(s);
  if (sl->ended)
    return SALE_ENDED;
  if (now < sl->starts_at)
    return SALE_SCHEDULED;
  if (sl->sold >= sl->quantity)
    return SALE_SOLD_OUT;
  if (now >= sl->ends_at)
    return SALE_ENDED;
  return SALE_LIVE;
}

const char *
lc__sale_state_name(sale_state st)
{
  static const char *const names[] = {"scheduled", "live", "sold_out", "ended"};
  return names[st];
}

json_t *
lc__sale_json(lc_show *s, const sale *sl)
{
  if (sl->sku < 0) /* an ended sale whose SKU a later catalog dropped */
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "id", sl->id, "sku", sl->sku_id, "price",
                     (json_int_t)sl->price, "quantity", (json_int_t)sl->quantity, "sold", (json_int_t)sl->sold,
                     "per_user_limit", (json_int_t)sl->per_user_limit, "starts_at", (json_int_t)sl->starts_at,
                     "ends_at", (json_int_t)sl->ends_at, "state", "ended");
  const lc_sku *k = &s->catalog->skus[sl->sku];
  const lc_product *p = &s->catalog->products[k->product];
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "id", sl->id,
                   "sku", k->id, "product", p->id, "title", p->title, "label", k->label, "image", p->image, "price",
                   (json_int_t)sl->price, "original_price", (json_int_t)k->original_price, "quantity",
                   (json_int_t)sl->quantity, "remaining", (json_int_t)(sl->ended ? 0 : sl->quantity - sl->sold),
                   "sold", (json_int_t)sl->sold, "per_user_limit", (json_int_t)sl->per_user_limit, "starts_at",
                   (json_int_t)sl->starts_at, "ends_at", (json_int_t)sl->ends_at, "state",
                   lc__sale_state_name(lc__sale_state(s, sl)), "sku_available", (json_int_t)s->available[sl->sku]);
}

static gint64
id_number(const char *id, const char *prefix)
{
  if (!g_str_has_prefix(id, prefix))
    return 0;
  gint64 n = g_ascii_strtoll(id + strlen(prefix), NULL, 10);
  return n > 0 ? n : 0;
}

void
lc__apply_flash_scheduled(lc_show *s, const lc__fact_flash_scheduled *f)
{
  if (!s->catalog || lc_catalog_sku(s->catalog, f->sku) < 0) {
    LC_ERROR(s->room, NULL, "stored flash sale %s: no SKU %s in the catalog; skipped", f->id, f->sku);
    return;
  }
  sale *sl = g_new0(sale, 1);
  sl->show = s;
  sl->id = g_strdup(f->id);
  sl->sku_id = g_strdup(f->sku);
  sl->sku = lc_catalog_sku(s->catalog, f->sku);
  sl->price = f->price;
  sl->quantity = f->quantity;
  sl->per_user_limit = f->per_user_limit;
  sl->starts_at = f->starts_at;
  sl->ends_at = f->ends_at;
  sl->bought = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_ptr_array_add(s->sales, sl);
  s->next_sale = MAX(s->next_sale, id_number(f->id, "fs-"));
  lc__stock_add(s, sl->sku, -f->quantity);
}

void
lc__apply_flash_started(lc_show *s, const lc__fact_flash_started *f)
{
  sale *sl = lc__sale_find(s, f->id);
  if (!sl || f->at >= sl->starts_at)
    return;
  sl->ends_at = f->at + (sl->ends_at - sl->starts_at);
  sl->starts_at = f->at;
}

void
lc__apply_flash_ended(lc_show *s, const lc__fact_flash_ended *f)
{
  sale *sl = lc__sale_find(s, f->id);
  if (!sl || sl->ended)
    return;
  sl->ended = true;
  if (sl->timer) {
    lc_clock_source_remove(sl->show->cfg.clock, sl->timer);
    sl->timer = 0;
  }
  lc__stock_add(s, sl->sku, sl->quantity - sl->sold);
}

json_t *
lc__committed_flash_ended(lc_show *s, const lc__fact *f, gpointer data)
{
  sale *sl = lc__sale_find(s, f->u.flash_ended.id);
  if (!sl) /* a stream entry its applier skipped (cluster mode: no such SKU or sale here) */
    return json_object();
  json_t *sj = lc__sale_json(s, sl);
  lc__show_event(s, LC_SHOW_EV_FLASH_ENDED,
                 json_pack("{s:s, s:s, s:I, s:O}", "sale_id", sl->id, "reason", f->u.flash_ended.reason,
                           "sold", (json_int_t)sl->sold, "sale", sj));
  return json_pack("{s:o}", "sale", sj);
}

static void
end_sale(lc_show *s, sale *sl, const char *reason, lc__op *op)
{
  lc__fact *f = lc__fact_new(LC__FACT_FLASH_ENDED);
  f->u.flash_ended.id = g_strdup(sl->id);
  f->u.flash_ended.reason = g_strdup(reason);
  f->u.flash_ended.at = lc__show_now(s);
  lc__show_commit(s, op, f, lc__committed_flash_ended, NULL, NULL);
}

static void arm_sale(lc_show *s, sale *sl);

void
lc__sale_announce(lc_show *s, sale *sl)
{
  if (sl->announced_live || sl->ended)
    return;
  sl->announced_live = true;
  lc__show_event(s, LC_SHOW_EV_FLASH_STARTED, lc__sale_json(s, sl));
}

static gboolean
sale_timer(gpointer user)
{
  sale *sl = user;
  lc_show *s = sl->show;
  sl->timer = 0;
  if (s->broken || s->stopping)
    return G_SOURCE_REMOVE;
  sale_state st = lc__sale_state(s, sl);
  if (!sl->announced_live && st != SALE_SCHEDULED && !sl->ended) {
    if (s->cfg.remote) /* announced by every node at the same entry */
      lc__remote_send(s, NULL, "tick.sale", json_pack("{s:s}", "id", sl->id), NULL, NULL);
    else
      lc__sale_announce(s, sl);
  }
  if (!sl->ended && lc__show_now(s) >= sl->ends_at)
    end_sale(s, sl, "time", NULL);
  if (s->cfg.remote || sl->ended || lc__show_now(s) < sl->ends_at)
    arm_sale(s, sl);
  return G_SOURCE_REMOVE;
}

static void
arm_sale(lc_show *s, sale *sl)
{
  if (sl->timer) {
    lc_clock_source_remove(sl->show->cfg.clock, sl->timer);
    sl->timer = 0;
  }
  if (sl->ended || s->stopping)
    return;
  gint64 now = lc__show_now(s);
  gint64 next = now < sl->starts_at ? sl->starts_at : sl->ends_at;
  gint64 wait = MAX(next - now, 0);
  if (s->cfg.remote) { /* what was sent (the start's announcement, the end) again if it has not come back */
    gint64 retry = s->cfg.remote->answer_timeout_ms;
    if (now >= sl->ends_at)
      wait = retry;
    else if (now >= sl->starts_at && !sl->announced_live)
      wait = MIN(wait, retry);
  }
  sl->timer = lc_clock_timeout_add(s->cfg.clock, wait, sale_timer, sl);
}

void
lc__sales_arm(lc_show *s)
{
  gint64 now = lc__show_now(s);
  for (guint i = 0; i < s->sales->len; i++) {
    sale *sl = g_ptr_array_index(s->sales, i);
    if (now >= sl->starts_at && !s->cfg.remote)
      sl->announced_live = true; /* viewers learn it from their snapshot (in cluster mode the
                                  * stream's tick.sale entry says it, on every node alike) */
    arm_sale(s, sl);
  }
}

json_t *
lc__committed_flash_scheduled(lc_show *s, const lc__fact *f, gpointer data)
{
  sale *sl = lc__sale_find(s, f->u.flash_scheduled.id);
  if (!sl) /* a stream entry its applier skipped (cluster mode: no such SKU or sale here) */
    return json_object();
  json_t *sj = lc__sale_json(s, sl);
  /* The sale event carries the SKU's stock after the reservation (sku_available):
   * no separate stock.updated broadcast to every viewer for it. */
  g_hash_table_remove(s->dirty_skus, GINT_TO_POINTER(sl->sku + 1));
  /* A sale that starts at once is announced once, as started: one broadcast to every
   * viewer instead of two with the same sale. */
  if (lc__sale_state(s, sl) == SALE_SCHEDULED) {
    lc__show_event(s, LC_SHOW_EV_FLASH_SCHEDULED, json_incref(sj));
  } else {
    sl->announced_live = true;
    lc__show_event(s, LC_SHOW_EV_FLASH_STARTED, json_incref(sj));
  }
  arm_sale(s, sl);
  return json_pack("{s:o}", "sale", sj);
}

static bool
valid_id(const char *id)
{
  size_t n = strlen(id);
  return n >= 1 && n <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

void
lc_show_flash_schedule(lc_show *s, const json_t *spec, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  const char *id = NULL, *sku_id = NULL;
  json_int_t price = -1, quantity = 0, limit = 1, starts = 0, start_in = -1, ends = 0, duration = 0;
  json_error_t jerr;
  if (json_unpack_ex((json_t *)spec, &jerr, JSON_STRICT, "{s?s, s:s, s:I, s:I, s?I, s?I, s?I, s?I, s?I}", "id", &id,
                     "sku", &sku_id, "price", &price, "quantity", &quantity, "per_user_limit", &limit, "starts_at",
                     &starts, "start_in_ms", &start_in, "ends_at", &ends, "duration_ms", &duration) != 0) {
    lc__op_fail(op, "invalid_argument", "flash sale: %s", jerr.text);
    return;
  }
  gint64 now = lc__show_now(s);
  int sku = s->catalog ? lc_catalog_sku(s->catalog, sku_id) : -1;
  if (sku < 0) {
    lc__op_fail(op, "not_found", "no SKU '%s' in the catalog", sku_id);
    return;
  }
  if (starts && start_in >= 0) {
    lc__op_fail(op, "invalid_argument", "give starts_at or start_in_ms, not both");
    return;
  }
  starts = starts ? starts : now + MAX(start_in, 0);
  if (ends && duration) {
    lc__op_fail(op, "invalid_argument", "give ends_at or duration_ms, not both");
    return;
  }
  ends = ends ? ends : starts + (duration ? duration : 5 * 60 * 1000);
  char *auto_id = id ? NULL : g_strdup_printf("fs-%" G_GINT64_FORMAT, s->next_sale + 1);
  const char *sale_id = id ? id : auto_id;
  const char *problem = NULL;
  if (!valid_id(sale_id))
    problem = "id must be 1-64 characters of letters, digits, '_', '.' and '-'";
  else if (lc__sale_find(s, sale_id))
    problem = "a flash sale with this id exists";
  else if (price < 0 || price > s->catalog->skus[sku].price)
    problem = "price must be from 0 to the SKU's regular price";
  else if (quantity < 1)
    problem = "quantity must be at least 1";
  else if (limit < 1 || limit > quantity)
    problem = "per_user_limit must be from 1 to quantity";
  else if (ends <= starts || ends <= now)
    problem = "the sale must end after it starts and in the future";
  if (problem) {
    lc__op_fail(op, "invalid_argument", "flash sale: %s", problem);
  } else if (quantity > s->available[sku]) {
    lc__op_fail(op, "out_of_stock", "SKU %s has %" G_GINT64_FORMAT " units available, the sale needs %" G_GINT64_FORMAT,
                sku_id, s->available[sku], (gint64)quantity);
  } else {
    lc__fact *f = lc__fact_new(LC__FACT_FLASH_SCHEDULED);
    lc__fact_flash_scheduled *x = &f->u.flash_scheduled;
    x->id = g_strdup(sale_id);
    x->sku = g_strdup(sku_id);
    x->price = price;
    x->quantity = quantity;
    x->per_user_limit = limit;
    x->starts_at = starts;
    x->ends_at = ends;
    lc__show_commit(s, op, f, lc__committed_flash_scheduled, NULL, NULL);
  }
  g_free(auto_id);
}

json_t *
lc__committed_flash_started(lc_show *s, const lc__fact *f, gpointer data)
{
  sale *sl = lc__sale_find(s, f->u.flash_started.id);
  if (!sl) /* a stream entry its applier skipped (cluster mode: no such SKU or sale here) */
    return json_object();
  json_t *sj = lc__sale_json(s, sl);
  sl->announced_live = true;
  lc__show_event(s, LC_SHOW_EV_FLASH_STARTED, json_incref(sj));
  arm_sale(s, sl);
  return json_pack("{s:o}", "sale", sj);
}

void
lc_show_flash_start(lc_show *s, const char *sale_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  sale *sl = lc__sale_find(s, sale_id);
  if (!sl)
    lc__op_fail(op, "not_found", "no flash sale '%s'", sale_id ? sale_id : "");
  else if (lc__sale_state(s, sl) != SALE_SCHEDULED)
    lc__op_fail(op, "invalid_state", "flash sale '%s' is %s", sl->id, lc__sale_state_name(lc__sale_state(s, sl)));
  else {
    lc__fact *f = lc__fact_new(LC__FACT_FLASH_STARTED);
    f->u.flash_started.id = g_strdup(sl->id);
    f->u.flash_started.at = lc__show_now(s);
    lc__show_commit(s, op, f, lc__committed_flash_started, NULL, NULL);
  }
}

void
lc_show_flash_stop(lc_show *s, const char *sale_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  sale *sl = lc__sale_find(s, sale_id);
  if (!sl)
    lc__op_fail(op, "not_found", "no flash sale '%s'", sale_id ? sale_id : "");
  else if (sl->ended)
    lc__op_fail(op, "invalid_state", "flash sale '%s' has ended", sl->id);
  else
    end_sale(s, sl, "stopped", op);
}

/* ---- promotions ------------------------------------------------------------------------ */

json_t *
lc__promo_json(lc_show *s, const char *sku_id)
{
  const lc_promo *p = g_hash_table_lookup(s->promos, sku_id);
  if (!p)
    return NULL;
  json_t *j = lc_promo_to_json(p);
  json_object_set_new(j, "active", json_boolean(lc_promo_active(p, lc__show_now(s))));
  return j;
}

void
lc__apply_promo_set(lc_show *s, lc__fact_promo_set *f)
{
  if (f->promo)
    g_hash_table_replace(s->promos, g_strdup(f->sku), f->promo);
  else
    g_hash_table_remove(s->promos, f->sku);
  f->promo = NULL;
  s->catalog_version++; /* prices changed: an order priced before this is refused by the cluster gate */
}

json_t *
lc__committed_promo_set(lc_show *s, const lc__fact *f, gpointer data)
{
  json_t *pm = lc__promo_json(s, f->u.promo_set.sku);
  json_t *ev = json_pack("{s:s, s:o}", "sku", f->u.promo_set.sku, "promotion", pm ? pm : json_null());
  lc__show_event(s, LC_SHOW_EV_PROMO_UPDATED, json_incref(ev));
  return ev;
}

void
lc_show_promo_set(lc_show *s, const char *sku, const json_t *spec, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (!s->catalog || !sku || lc_catalog_sku(s->catalog, sku) < 0) {
    lc__op_fail(op, "not_found", "no SKU '%s' in the catalog", sku ? sku : "");
    return;
  }
  lc_promo *p = NULL;
  if (spec) {
    char *err = NULL;
    p = lc_promo_from_json(spec, &err);
    if (!p) {
      lc__op_fail(op, "invalid_argument", "%s", err);
      g_free(err);
      return;
    }
  } else if (!g_hash_table_contains(s->promos, sku)) {
    lc__op_fail(op, "not_found", "SKU '%s' has no promotion", sku);
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_PROMO_SET);
  f->u.promo_set.sku = g_strdup(sku);
  f->u.promo_set.promo = p;
  lc__show_commit(s, op, f, lc__committed_promo_set, NULL, NULL);
}

#define LC_LOG_DOMAIN "catalog"
#include "commerce/catalog.h"
#include "base/errors.h"

#include <stdbool.h>
#include <string.h>

#define MAX_PRODUCTS 1000
#define MAX_SKUS 5000
#define MAX_PRICE G_GINT64_CONSTANT(10000000000)
#define MAX_STOCK G_GINT64_CONSTANT(1000000000)
#define MAX_TEXT_BYTES (16 * 1024 * 1024)

/* Minor-unit digits per ISO 4217 code (the currencies a room may sell in). */
static const struct {
  const char *code;
  int exponent;
  const char *symbol; /* prefix in lc_money_format, NULL: "CODE amount" */
} currencies[] = {
  {"CNY", 2, "¥"}, {"USD", 2, "$"}, {"EUR", 2, "€"}, {"GBP", 2, "£"},
  {"HKD", 2, NULL}, {"TWD", 2, NULL}, {"SGD", 2, NULL}, {"AUD", 2, NULL},
  {"CAD", 2, NULL}, {"CHF", 2, NULL}, {"MYR", 2, NULL}, {"THB", 2, NULL},
  {"PHP", 2, NULL}, {"IDR", 2, NULL}, {"INR", 2, NULL}, {"JPY", 0, NULL},
  {"KRW", 0, NULL}, {"VND", 0, NULL},
};

/* ---- validation helpers (file-static) ---------------------------------------------------- */

static bool
valid_id(const char *s, size_t len)
{
  if (len < 1 || len > 64)
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (!g_ascii_isalnum(ch) && ch != '_' && ch != '.' && ch != '-')
      return false;
  }
  return true;
}

/* Readable text: valid UTF-8, no NUL or other control characters. */
static bool
valid_text(const char *s, size_t len)
{
  if (!g_utf8_validate_len(s, len, NULL))
    return false;
  for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
    gunichar ch = g_utf8_get_char(p);
    if (ch < 0x20 || (ch >= 0x7f && ch < 0xa0))
      return false;
  }
  return true;
}

/* Fails unless every key of obj is in the NULL-terminated list `allowed`. */
static bool
check_fields(const json_t *obj, const char *const *allowed, const char *prefix, char **err)
{
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++)
      ok = strcmp(*a, key) == 0;
    if (!ok) {
      char *path = g_strdup_printf("%s%s", prefix, key);
      lc_error_set(err, path, "unknown field");
      g_free(path);
      return false;
    }
  }
  return true;
}

/* Gets obj[key] as a string: 0 (copied into *out), or LC_EINVAL with *err naming prefix+key.
 * Absent: *out = g_strdup(dflt), or an error when dflt is NULL. is_id: an id (min/max unused),
 * otherwise text of min..max bytes. */
static int
get_string(const json_t *obj, const char *key, const char *prefix, bool is_id, size_t min,
           size_t max, const char *dflt, char **out, char **err)
{
  char *path = g_strdup_printf("%s%s", prefix, key);
  int rc = LC_EINVAL;
  json_t *v = json_object_get(obj, key);
  if (!v) {
    if (!dflt) {
      lc_error_set(err, path, "required");
      goto fail;
    }
    *out = g_strdup(dflt);
    rc = 0;
    goto fail;
  }
  if (!json_is_string(v)) {
    lc_error_set(err, path, "must be a string");
    goto fail;
  }
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (is_id) {
    if (!valid_id(s, len)) {
      lc_error_set(err, path, "must be 1-64 characters of A-Z a-z 0-9 _ . -");
      goto fail;
    }
  } else {
    if (!valid_text(s, len)) {
      lc_error_set(err, path, "must be UTF-8 text without control characters");
      goto fail;
    }
    if (len < min || len > max) {
      lc_error_set(err, path, "must be %zu to %zu bytes long", min, max);
      goto fail;
    }
  }
  *out = g_strndup(s, len);
  rc = 0;
fail:
  g_free(path);
  return rc;
}

/* Gets obj[key] as an integer in [min, max]; absent: dflt, or an error when !has_dflt. */
static int
get_int(const json_t *obj, const char *key, const char *prefix, gint64 min, gint64 max,
        bool has_dflt, gint64 dflt, gint64 *out, char **err)
{
  json_t *v = json_object_get(obj, key);
  char *path = g_strdup_printf("%s%s", prefix, key);
  int rc = LC_EINVAL;
  if (!v) {
    if (!has_dflt) {
      lc_error_set(err, path, "required");
      goto fail;
    }
    *out = dflt;
    rc = 0;
    goto fail;
  }
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    lc_error_set(err, path, "must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, min, max);
    goto fail;
  }
  *out = json_integer_value(v);
  rc = 0;
fail:
  g_free(path);
  return rc;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static int
parse_sku(lc_catalog *c, const json_t *js, int pi, int si, int index, char **err)
{
  static const char *const fields[] = {"id", "label", "price", "original_price", "stock", "hold_limit", NULL};
  char *prefix = g_strdup_printf("products[%d].skus[%d].", pi, si);
  lc_sku *sku = &c->skus[index];
  int rc = LC_EINVAL;
  sku->product = pi;
  if (!json_is_object(js)) {
    char *path = g_strdup_printf("products[%d].skus[%d]", pi, si);
    lc_error_set(err, path, "must be an object");
    g_free(path);
    goto fail;
  }
  if (!check_fields(js, fields, prefix, err) ||
      get_string(js, "id", prefix, true, 1, 64, NULL, &sku->id, err) < 0 ||
      get_string(js, "label", prefix, false, 0, 100, "", &sku->label, err) < 0 ||
      get_int(js, "price", prefix, 0, MAX_PRICE, false, 0, &sku->price, err) < 0 ||
      get_int(js, "original_price", prefix, 0, MAX_PRICE, true, sku->price, &sku->original_price, err) < 0 ||
      get_int(js, "stock", prefix, 0, MAX_STOCK, false, 0, &sku->stock, err) < 0 ||
      get_int(js, "hold_limit", prefix, 0, MAX_STOCK, true, -1, &sku->hold_limit, err) < 0)
    goto fail;
  if (sku->original_price < sku->price) {
    char *path = g_strdup_printf("%soriginal_price", prefix);
    lc_error_set(err, path, "must not be below price (%" G_GINT64_FORMAT ")", sku->price);
    g_free(path);
    goto fail;
  }
  gpointer prev = g_hash_table_lookup(c->sku_index, sku->id);
  if (prev) {
    const lc_sku *other = &c->skus[GPOINTER_TO_INT(prev) - 1];
    char *path = g_strdup_printf("%sid", prefix);
    lc_error_set(err, path, "duplicate SKU id \"%s\" (also products[%d].skus[%d].id)", sku->id,
            other->product, (int)(other - c->skus) - c->products[other->product].first_sku);
    g_free(path);
    goto fail;
  }
  g_hash_table_insert(c->sku_index, sku->id, GINT_TO_POINTER(index + 1));
  rc = 0;
fail:
  g_free(prefix);
  return rc;
}

static int
parse_product(lc_catalog *c, const json_t *jp, int pi, int *next_sku, gint64 default_low, char **err)
{
  static const char *const fields[] = {"id", "title", "subtitle", "image", "low_stock_threshold",
                                       "skus", NULL};
  char *prefix = g_strdup_printf("products[%d].", pi);
  char *path = NULL;
  lc_product *p = &c->products[pi];
  int rc = LC_EINVAL;
  p->first_sku = *next_sku;
  if (!json_is_object(jp)) {
    path = g_strdup_printf("products[%d]", pi);
    lc_error_set(err, path, "must be an object");
    goto fail;
  }
  if (!check_fields(jp, fields, prefix, err) ||
      get_string(jp, "id", prefix, true, 1, 64, NULL, &p->id, err) < 0 ||
      get_string(jp, "title", prefix, false, 1, 200, NULL, &p->title, err) < 0 ||
      get_string(jp, "subtitle", prefix, false, 0, 300, "", &p->subtitle, err) < 0 ||
      get_string(jp, "image", prefix, false, 0, 1024, "", &p->image, err) < 0 ||
      get_int(jp, "low_stock_threshold", prefix, 0, MAX_STOCK, true, default_low,
              &p->low_stock_threshold, err) < 0)
    goto fail;
  gpointer prev = g_hash_table_lookup(c->product_index, p->id);
  if (prev) {
    path = g_strdup_printf("%sid", prefix);
    lc_error_set(err, path, "duplicate product id \"%s\" (also products[%d].id)", p->id,
            GPOINTER_TO_INT(prev) - 1);
    goto fail;
  }
  g_hash_table_insert(c->product_index, p->id, GINT_TO_POINTER(pi + 1));
  json_t *skus = json_object_get(jp, "skus");
  path = g_strdup_printf("%sskus", prefix);
  if (!skus) {
    lc_error_set(err, path, "required");
    goto fail;
  }
  if (!json_is_array(skus) || json_array_size(skus) < 1) {
    lc_error_set(err, path, "must be an array of at least one SKU");
    goto fail;
  }
  for (size_t i = 0; i < json_array_size(skus); i++) {
    if (parse_sku(c, json_array_get(skus, i), pi, (int)i, *next_sku, err) < 0)
      goto fail;
    (*next_sku)++;
    p->n_skus++;
  }
  rc = 0;
fail:
  g_free(path);
  g_free(prefix);
  return rc;
}

static int
find_currency(const char *code)
{
  for (size_t i = 0; i < G_N_ELEMENTS(currencies); i++)
    if (strcmp(currencies[i].code, code) == 0)
      return (int)i;
  return -1;
}

lc_catalog *
lc_catalog_from_json(const json_t *root, gint64 default_low_stock, char **err)
{
  static const char *const fields[] = {"currency", "hold_limit", "products", NULL};
  lc_catalog *c = NULL;
  if (err)
    *err = NULL;
  default_low_stock = CLAMP(default_low_stock, 0, MAX_STOCK);
  if (!json_is_object(root)) {
    lc_error_set(err, "catalog", "must be a JSON object");
    goto fail;
  }
  if (!check_fields(root, fields, "", err))
    goto fail;
  c = g_new0(lc_catalog, 1);
  c->sku_index = g_hash_table_new(g_str_hash, g_str_equal);
  c->product_index = g_hash_table_new(g_str_hash, g_str_equal);
  if (get_string(root, "currency", "", false, 0, 16, NULL, &c->currency, err) < 0)
    goto fail;
  int cur = find_currency(c->currency);
  if (cur < 0) {
    lc_error_set(err, "currency", "unknown currency \"%s\" (use an upper-case ISO 4217 code such as CNY, USD, JPY)",
            c->currency);
    goto fail;
  }
  c->exponent = currencies[cur].exponent;
  if (get_int(root, "hold_limit", "", 0, MAX_STOCK, true, -1, &c->hold_limit, err) < 0)
    goto fail;
  json_t *products = json_object_get(root, "products");
  if (!products) {
    lc_error_set(err, "products", "required");
    goto fail;
  }
  if (!json_is_array(products) || json_array_size(products) > MAX_PRODUCTS) {
    lc_error_set(err, "products", "must be an array of at most %d products", MAX_PRODUCTS);
    goto fail;
  }
  /* Count the SKUs first so both arrays are allocated once; shape errors come later, in order. */
  size_t total = 0;
  for (size_t i = 0; i < json_array_size(products); i++) {
    json_t *skus = json_object_get(json_array_get(products, i), "skus");
    if (json_is_array(skus))
      total += json_array_size(skus);
  }
  if (total > MAX_SKUS) {
    lc_error_set(err, "products", "too many SKUs (%zu, at most %d in a catalog)", total, MAX_SKUS);
    goto fail;
  }
  c->n_products = (int)json_array_size(products);
  c->products = g_new0(lc_product, c->n_products > 0 ? c->n_products : 1);
  c->n_skus = (int)total;
  c->skus = g_new0(lc_sku, total > 0 ? total : 1);
  int next_sku = 0;
  for (int i = 0; i < c->n_products; i++)
    if (parse_product(c, json_array_get(products, (size_t)i), i, &next_sku, default_low_stock, err) < 0)
      goto fail;
  g_assert(next_sku == c->n_skus);
  return c;
fail:
  lc_catalog_free(c);
  return NULL;
}

lc_catalog *
lc_catalog_parse(const char *text, size_t len, gint64 default_low_stock, char **err)
{
  json_error_t jerr;
  if (err)
    *err = NULL;
  if (len > MAX_TEXT_BYTES) {
    lc_error_set(err, "catalog", "larger than %d bytes", MAX_TEXT_BYTES);
    return NULL;
  }
  json_t *root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    if (err)
      *err = g_strdup_printf("catalog: invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                             jerr.text);
    return NULL;
  }
  lc_catalog *c = lc_catalog_from_json(root, default_low_stock, err);
  json_decref(root);
  return c;
}

void
lc_catalog_free(lc_catalog *c)
{
  if (!c)
    return;
  for (int i = 0; i < c->n_products && c->products; i++) {
    g_free(c->products[i].id);
    g_free(c->products[i].title);
    g_free(c->products[i].subtitle);
    g_free(c->products[i].image);
  }
  for (int i = 0; i < c->n_skus && c->skus; i++) {
    g_free(c->skus[i].id);
    g_free(c->skus[i].label);
  }
  g_free(c->products);
  g_free(c->skus);
  if (c->sku_index)
    g_hash_table_destroy(c->sku_index);
  if (c->product_index)
    g_hash_table_destroy(c->product_index);
  g_free(c->currency);
  g_free(c);
}

int
lc_catalog_sku(const lc_catalog *c, const char *sku_id)
{
  if (!c || !sku_id)
    return -1;
  return GPOINTER_TO_INT(g_hash_table_lookup(c->sku_index, sku_id)) - 1;
}

gint64
lc_catalog_hold_limit(const lc_catalog *c, int sku, gint64 room_default)
{
  if (c && sku >= 0 && sku < c->n_skus && c->skus[sku].hold_limit >= 0)
    return c->skus[sku].hold_limit;
  if (c && c->hold_limit >= 0)
    return c->hold_limit;
  return MAX(room_default, 0);
}

int
lc_catalog_product(const lc_catalog *c, const char *product_id)
{
  if (!c || !product_id)
    return -1;
  return GPOINTER_TO_INT(g_hash_table_lookup(c->product_index, product_id)) - 1;
}

/* ---- output ------------------------------------------------------------------------------- */

static json_t *
sku_json(const lc_sku *s, bool with_stock)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(s->id));
  json_object_set_new(o, "label", json_string(s->label));
  json_object_set_new(o, "price", json_integer(s->price));
  json_object_set_new(o, "original_price", json_integer(s->original_price));
  if (with_stock)
    json_object_set_new(o, "stock", json_integer(s->stock));
  if (with_stock && s->hold_limit >= 0)
    json_object_set_new(o, "hold_limit", json_integer(s->hold_limit));
  return o;
}

static json_t *
product_json(const lc_catalog *c, int pi, bool full)
{
  const lc_product *p = &c->products[pi];
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(p->id));
  json_object_set_new(o, "title", json_string(p->title));
  json_object_set_new(o, "subtitle", json_string(p->subtitle));
  json_object_set_new(o, "image", json_string(p->image));
  if (full)
    json_object_set_new(o, "low_stock_threshold", json_integer(p->low_stock_threshold));
  json_t *skus = json_array();
  for (int i = 0; i < p->n_skus; i++)
    json_array_append_new(skus, sku_json(&c->skus[p->first_sku + i], full));
  json_object_set_new(o, "skus", skus);
  return o;
}

json_t *
lc_catalog_to_json(const lc_catalog *c)
{
  json_t *o = json_object();
  json_object_set_new(o, "currency", json_string(c->currency));
  if (c->hold_limit >= 0)
    json_object_set_new(o, "hold_limit", json_integer(c->hold_limit));
  json_t *products = json_array();
  for (int i = 0; i < c->n_products; i++)
    json_array_append_new(products, product_json(c, i, true));
  json_object_set_new(o, "products", products);
  return o;
}

json_t *
lc_catalog_product_json(const lc_catalog *c, int product)
{
  if (!c || product < 0 || product >= c->n_products)
    return NULL;
  return product_json(c, product, false);
}

char *
lc_money_format(const char *currency, int exponent, gint64 minor)
{
  const char *code = currency ? currency : "";
  int cur = find_currency(code);
  const char *symbol = cur >= 0 ? currencies[cur].symbol : NULL;
  exponent = CLAMP(exponent, 0, 18);
  /* Magnitude as unsigned so G_MININT64 is fine. */
  guint64 mag = minor < 0 ? (guint64)0 - (guint64)minor : (guint64)minor;
  guint64 scale = 1;
  for (int i = 0; i < exponent; i++)
    scale *= 10;
  GString *s = g_string_new(minor < 0 ? "-" : "");
  if (symbol)
    g_string_append(s, symbol);
  else
    g_string_append_printf(s, "%s ", code);
  g_string_append_printf(s, "%" G_GUINT64_FORMAT, mag / scale);
  if (exponent > 0)
    g_string_append_printf(s, ".%0*" G_GUINT64_FORMAT, exponent, mag % scale);
  return g_string_free(s, FALSE);
}

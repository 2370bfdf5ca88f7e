/* Clearance promotions: the spec parser, its canonical JSON form and the discount math
 * (docs/marketing.md, "Clearance promotions"). Pure: no I/O, no globals. */
#define LC_LOG_DOMAIN "promo"
#include "commerce/promo.h"
#include "base/errors.h"

#include <string.h>

#define MAX_BOGO 10
#define MAX_PERCENT 90
#define MAX_AMOUNT_OFF G_GINT64_CONSTANT(100000000)
#define MAX_LABEL_CHARS 32

static const char *const kind_names[] = {"bogo", "percent", "fixed"};

/* Fields each kind accepts (NULL-terminated); a field of another kind is refused rather than
 * ignored, so that a moderator who mixes up kinds hears about it instead of getting a
 * promotion that silently differs from what they typed. */
static const char *const bogo_fields[] = {"kind", "buy", "free", "starts_at", "ends_at", "label", NULL};
static const char *const percent_fields[] = {"kind", "percent_off", "starts_at", "ends_at", "label", NULL};
static const char *const fixed_fields[] = {"kind", "amount_off", "starts_at", "ends_at", "label", NULL};
static const char *const all_fields[] = {"kind", "buy", "free", "percent_off", "amount_off",
                                         "starts_at", "ends_at", "label", NULL};

static bool
in_list(const char *const *list, const char *key)
{
  for (; *list; list++)
    if (strcmp(*list, key) == 0)
      return true;
  return false;
}

/* Every error reads "promotion: <field> <rule>", so the moderator's tool can show it as is. */
#define fail_with(err, ...) lc_error_set((err), "promotion", __VA_ARGS__)

/* spec[key] as an integer in [min, max]. Absent: *out = 0, an error only when required. */
static bool
get_int(const json_t *spec, const char *key, gint64 min, gint64 max, bool required, gint64 *out,
        char **err)
{
  json_t *v = json_object_get(spec, key);
  *out = 0;
  if (!v) {
    if (required)
      fail_with(err, "%s is required", key);
    return !required;
  }
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    if (max == G_MAXINT64)
      fail_with(err, "%s must be an integer >= %" G_GINT64_FORMAT, key, min);
    else
      fail_with(err, "%s must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, key, min, max);
    return false;
  }
  *out = json_integer_value(v);
  return true;
}

/* A badge label: valid UTF-8 (jansson checks what it parses, but a json_t built with the
 * _nocheck constructors may not be), 1-32 characters, no control characters (they would
 * break the overlay's layout and the logs). */
static bool
label_ok(const json_t *v)
{
  if (!json_is_string(v))
    return false;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (!g_utf8_validate_len(s, len, NULL))
    return false;
  glong chars = g_utf8_strlen(s, (gssize)len);
  if (chars < 1 || chars > MAX_LABEL_CHARS)
    return false;
  for (const char *p = s; p < s + len; p = g_utf8_next_char(p))
    if (g_unichar_iscntrl(g_utf8_get_char(p)))
      return false;
  return true;
}

/* The label shown when the spec has none. Language-neutral on purpose: the badge is seen by
 * viewers of any locale and the server does not know the viewer's language or the room's
 * currency, so the defaults are "BUY N GET M" (bogo), "-P%" (percent) and "SALE" (fixed, as
 * an amount would need a currency symbol). A moderator sets a localized label explicitly. */
static char *
default_label(const lc_promo *p)
{
  switch (p->kind) {
  case LC_PROMO_BOGO:
    return g_strdup_printf("BUY %" G_GINT64_FORMAT " GET %" G_GINT64_FORMAT, p->buy, p->free_units);
  case LC_PROMO_PERCENT:
    return g_strdup_printf("-%" G_GINT64_FORMAT "%%", p->percent_off);
  case LC_PROMO_FIXED:
    break;
  }
  return g_strdup("SALE");
}

/* "kind" and the fields it allows; sets p->kind and *allowed. */
static bool
parse_kind(const json_t *spec, lc_promo *p, const char *const **allowed, char **err)
{
  json_t *v = json_object_get(spec, "kind");
  const char *kind = json_string_value(v);
  if (!v) {
    fail_with(err, "kind is required");
    return false;
  }
  static const char *const *const fields[] = {bogo_fields, percent_fields, fixed_fields};
  for (size_t i = 0; kind && i < G_N_ELEMENTS(kind_names); i++) {
    if (strcmp(kind, kind_names[i]) == 0) {
      p->kind = (lc_promo_kind)i;
      *allowed = fields[i];
      return true;
    }
  }
  fail_with(err, "kind must be \"bogo\", \"percent\" or \"fixed\"");
  return false;
}

/* Checked before anything else: a typo such as "percentoff" is the likeliest mistake, and
 * naming it beats reporting the field it was meant to be as missing. */
static bool
check_known_keys(const json_t *spec, char **err)
{
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)spec, key, val) {
    if (!in_list(all_fields, key)) {
      fail_with(err, "%s is not a known field", key);
      return false;
    }
  }
  return true;
}

static bool
check_kind_keys(const json_t *spec, const lc_promo *p, const char *const *allowed, char **err)
{
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)spec, key, val) {
    if (!in_list(allowed, key)) {
      fail_with(err, "%s is not allowed for a %s promotion", key, kind_names[p->kind]);
      return false;
    }
  }
  return true;
}

static bool
parse_amounts(const json_t *spec, lc_promo *p, char **err)
{
  switch (p->kind) {
  case LC_PROMO_BOGO:
    return get_int(spec, "buy", 1, MAX_BOGO, true, &p->buy, err) &&
           get_int(spec, "free", 1, MAX_BOGO, true, &p->free_units, err);
  case LC_PROMO_PERCENT:
    return get_int(spec, "percent_off", 1, MAX_PERCENT, true, &p->percent_off, err);
  case LC_PROMO_FIXED:
    return get_int(spec, "amount_off", 1, MAX_AMOUNT_OFF, true, &p->amount_off, err);
  }
  return false;
}

static bool
parse_window(const json_t *spec, lc_promo *p, char **err)
{
  if (!get_int(spec, "starts_at", 0, G_MAXINT64, false, &p->starts_at, err) ||
      !get_int(spec, "ends_at", 0, G_MAXINT64, false, &p->ends_at, err))
    return false;
  /* 0 means "no bound", so the order only matters when both bounds are set. */
  if (p->starts_at != 0 && p->ends_at != 0 && p->ends_at <= p->starts_at) {
    fail_with(err, "ends_at must be after starts_at");
    return false;
  }
  return true;
}

static bool
parse_label(const json_t *spec, lc_promo *p, char **err)
{
  json_t *v = json_object_get(spec, "label");
  if (!v) {
    p->label = default_label(p);
    return true;
  }
  if (!label_ok(v)) {
    fail_with(err, "label must be 1-%d characters of UTF-8 text without control characters", MAX_LABEL_CHARS);
    return false;
  }
  p->label = g_strndup(json_string_value(v), json_string_length(v));
  return true;
}

lc_promo *
lc_promo_from_json(const json_t *spec, char **err)
{
  if (err)
    *err = NULL;
  if (!json_is_object(spec)) {
    fail_with(err, "must be a JSON object");
    return NULL;
  }
  if (!check_known_keys(spec, err))
    return NULL;
  lc_promo *p = g_new0(lc_promo, 1);
  const char *const *allowed = NULL;
  if (parse_kind(spec, p, &allowed, err) && check_kind_keys(spec, p, allowed, err) &&
      parse_amounts(spec, p, err) && parse_window(spec, p, err) && parse_label(spec, p, err))
    return p;
  lc_promo_free(p);
  return NULL;
}

json_t *
lc_promo_to_json(const lc_promo *p)
{
  json_t *o = json_object();
  json_object_set_new(o, "kind", json_string(kind_names[p->kind]));
  switch (p->kind) {
  case LC_PROMO_BOGO:
    json_object_set_new(o, "buy", json_integer(p->buy));
    json_object_set_new(o, "free", json_integer(p->free_units));
    break;
  case LC_PROMO_PERCENT:
    json_object_set_new(o, "percent_off", json_integer(p->percent_off));
    break;
  case LC_PROMO_FIXED:
    json_object_set_new(o, "amount_off", json_integer(p->amount_off));
    break;
  }
  /* Zero bounds are "no bound", which from_json reads back from an absent key. */
  if (p->starts_at != 0)
    json_object_set_new(o, "starts_at", json_integer(p->starts_at));
  if (p->ends_at != 0)
    json_object_set_new(o, "ends_at", json_integer(p->ends_at));
  json_object_set_new(o, "label", json_string(p->label));
  return o;
}

lc_promo *
lc_promo_copy(const lc_promo *p)
{
  if (!p)
    return NULL;
  lc_promo *c = g_memdup2(p, sizeof *p);
  c->label = g_strdup(p->label);
  return c;
}

void
lc_promo_free(lc_promo *p)
{
  if (!p)
    return;
  g_free(p->label);
  g_free(p);
}

bool
lc_promo_active(const lc_promo *p, gint64 now)
{
  return (p->starts_at == 0 || now >= p->starts_at) && (p->ends_at == 0 || now < p->ends_at);
}

/* a * b for a, b >= 0, saturated at G_MAXINT64. Within the documented range (unit price and
 * quantity up to 10^9) nothing saturates; beyond it the result stays a bound that never
 * exceeds the true product, so a discount is never more than the line. */
static gint64
mul_sat(gint64 a, gint64 b)
{
  guint64 r;
  if (!g_uint64_checked_mul(&r, (guint64)a, (guint64)b) || r > (guint64)G_MAXINT64)
    return G_MAXINT64;
  return (gint64)r;
}

/* floor(total * pct / 100) for 0 <= pct < 100 without forming total * pct, which overflows
 * for totals above ~10^17: with total = 100q + r it is q * pct + floor(r * pct / 100), and
 * q * pct < total. */
static gint64
percent_of(gint64 total, gint64 pct)
{
  return (total / 100) * pct + (total % 100) * pct / 100;
}

/* The amounts from_json accepts. discount() checks them again so that a struct filled in by
 * hand with nonsense (a zero group size, a percentage of 1000) takes nothing off instead of
 * dividing by zero or overflowing. */
static bool
amounts_ok(const lc_promo *p)
{
  switch (p->kind) {
  case LC_PROMO_BOGO:
    return p->buy >= 1 && p->buy <= MAX_BOGO && p->free_units >= 1 && p->free_units <= MAX_BOGO;
  case LC_PROMO_PERCENT:
    return p->percent_off >= 1 && p->percent_off <= MAX_PERCENT;
  case LC_PROMO_FIXED:
    return p->amount_off >= 1;
  }
  return false;
}

gint64
lc_promo_discount(const lc_promo *p, gint64 unit_price, gint64 qty, gint64 now)
{
  if (unit_price <= 0 || qty <= 0 || !amounts_ok(p) || !lc_promo_active(p, now))
    return 0;
  gint64 line = mul_sat(unit_price, qty);
  gint64 off = 0;
  switch (p->kind) {
  case LC_PROMO_BOGO:
    /* Free units are part of qty: every complete group of N+M units has M of them free
     * (so free units <= qty, and their price <= the line). */
    off = mul_sat(qty / (p->buy + p->free_units) * p->free_units, unit_price);
    break;
  case LC_PROMO_PERCENT:
    off = percent_of(line, p->percent_off);
    break;
  case LC_PROMO_FIXED:
    off = mul_sat(MIN(p->amount_off, unit_price), qty);
    break;
  }
  return MIN(off, line); /* already true by the rules; kept as the contract's last word */
}

#define LC_LOG_DOMAIN "coupon"
#include "commerce/coupon.h"
#include "base/errors.h"

#include <stdbool.h>
#include <string.h>

#define MAX_MONEY G_GINT64_CONSTANT(1000000000000000)   /* 10^15 minor units */
#define MAX_QUANTITY G_GINT64_CONSTANT(10000000)
#define MAX_TIME_MS G_GINT64_CONSTANT(253402300799999)  /* 9999-12-31T23:59:59.999Z */

static const char *const kind_names[] = {"fixed", "percent", "threshold"};

/* Fields each kind accepts (NULL-terminated). */
static const char *const fixed_fields[] = {"id", "title", "kind", "amount_off", "min_spend", "quantity",
                                           "starts_at", "ends_at", NULL};
static const char *const percent_fields[] = {"id", "title", "kind", "percent_off", "min_spend", "max_off",
                                             "quantity", "starts_at", "ends_at", NULL};
static const char *const threshold_fields[] = {"id", "title", "kind", "amount_off", "min_spend", "quantity",
                                               "starts_at", "ends_at", NULL};
static const char *const all_fields[] = {"id", "title", "kind", "amount_off", "percent_off", "min_spend",
                                         "max_off", "quantity", "starts_at", "ends_at", NULL};

static bool
in_list(const char *const *list, const char *key)
{
  for (; *list; list++)
    if (strcmp(*list, key) == 0)
      return true;
  return false;
}

/* obj[key] as an integer in [min, max]; absent: dflt, or "required" when !has_dflt. */
static int
get_int(const json_t *obj, const char *key, gint64 min, gint64 max, bool has_dflt, gint64 dflt,
        gint64 *out, char **err)
{
  json_t *v = json_object_get(obj, key);
  if (!v) {
    if (!has_dflt) {
      lc_error_set(err, key, "required");
      return LC_EINVAL;
    }
    *out = dflt;
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    lc_error_set(err, key, "must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, min, max);
    return LC_EINVAL;
  }
  *out = json_integer_value(v);
  return 0;
}

static int
get_id(const json_t *obj, char **out, char **err)
{
  json_t *v = json_object_get(obj, "id");
  if (!v) {
    lc_error_set(err, "id", "required");
    return LC_EINVAL;
  }
  const char *s = json_string_value(v);
  size_t len = json_is_string(v) ? json_string_length(v) : 0;
  bool ok = s && len >= 1 && len <= 64;
  for (size_t i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-';
  if (!ok) {
    lc_error_set(err, "id", "must be 1-64 characters of A-Z a-z 0-9 _ . -");
    return LC_EINVAL;
  }
  *out = g_strndup(s, len);
  return 0;
}

static int
get_title(const json_t *obj, char **out, char **err)
{
  json_t *v = json_object_get(obj, "title");
  if (!v) {
    *out = g_strdup("");
    return 0;
  }
  const char *s = json_string_value(v);
  size_t len = json_is_string(v) ? json_string_length(v) : 0;
  bool ok = s && len <= 100 && g_utf8_validate_len(s, len, NULL);
  for (const char *p = s; ok && p < s + len; p = g_utf8_next_char(p)) {
    gunichar ch = g_utf8_get_char(p);
    ok = ch >= 0x20 && !(ch >= 0x7f && ch < 0xa0);
  }
  if (!ok) {
    lc_error_set(err, "title", "must be UTF-8 text of at most 100 bytes without control characters");
    return LC_EINVAL;
  }
  *out = g_strndup(s, len);
  return 0;
}

lc_coupon *
lc_coupon_from_json(const json_t *obj, char **err)
{
  lc_coupon *c = NULL;
  if (err)
    *err = NULL;
  if (!json_is_object(obj)) {
    lc_error_set(err, "coupon", "must be a JSON object");
    goto fail;
  }
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    if (!in_list(all_fields, key)) {
      lc_error_set(err, key, "unknown field");
      goto fail;
    }
  }
  c = g_new0(lc_coupon, 1);
  if (get_id(obj, &c->id, err) < 0 || get_title(obj, &c->title, err) < 0)
    goto fail;
  json_t *jk = json_object_get(obj, "kind");
  const char *kind = json_string_value(jk);
  const char *const *allowed = NULL;
  if (!jk) {
    lc_error_set(err, "kind", "required");
    goto fail;
  } else if (kind && strcmp(kind, "fixed") == 0) {
    c->kind = LC_COUPON_FIXED;
    allowed = fixed_fields;
  } else if (kind && strcmp(kind, "percent") == 0) {
    c->kind = LC_COUPON_PERCENT;
    allowed = percent_fields;
  } else if (kind && strcmp(kind, "threshold") == 0) {
    c->kind = LC_COUPON_THRESHOLD;
    allowed = threshold_fields;
  } else {
    lc_error_set(err, "kind", "must be \"fixed\", \"percent\" or \"threshold\"");
    goto fail;
  }
  json_object_foreach((json_t *)obj, key, val) {
    if (!in_list(allowed, key)) {
      lc_error_set(err, key, "not allowed for a \"%s\" coupon", kind_names[c->kind]);
      goto fail;
    }
  }
  gint64 pct = 0;
  switch (c->kind) {
  case LC_COUPON_FIXED:
    if (get_int(obj, "amount_off", 1, MAX_MONEY, false, 0, &c->amount_off, err) < 0 ||
        get_int(obj, "min_spend", 0, MAX_MONEY, true, 0, &c->min_spend, err) < 0)
      goto fail;
    break;
  case LC_COUPON_PERCENT:
    if (get_int(obj, "percent_off", 1, 99, false, 0, &pct, err) < 0 ||
        get_int(obj, "min_spend", 0, MAX_MONEY, true, 0, &c->min_spend, err) < 0 ||
        get_int(obj, "max_off", 0, MAX_MONEY, true, 0, &c->max_off, err) < 0)
      goto fail;
    c->percent_off = (int)pct;
    break;
  case LC_COUPON_THRESHOLD:
    if (get_int(obj, "amount_off", 1, MAX_MONEY, false, 0, &c->amount_off, err) < 0 ||
        get_int(obj, "min_spend", 0, MAX_MONEY, false, 0, &c->min_spend, err) < 0)
      goto fail;
    if (c->min_spend <= c->amount_off) {
      lc_error_set(err, "min_spend", "must be greater than amount_off (%" G_GINT64_FORMAT ")", c->amount_off);
      goto fail;
    }
    break;
  }
  if (get_int(obj, "quantity", 1, MAX_QUANTITY, false, 0, &c->quantity, err) < 0 ||
      get_int(obj, "starts_at", 0, MAX_TIME_MS, true, 0, &c->starts_at, err) < 0 ||
      get_int(obj, "ends_at", 0, MAX_TIME_MS, true, 0, &c->ends_at, err) < 0)
    goto fail;
  if (c->ends_at != 0 && c->ends_at <= c->starts_at) {
    lc_error_set(err, "ends_at", "must be after starts_at (%" G_GINT64_FORMAT ")", c->starts_at);
    goto fail;
  }
  return c;
fail:
  lc_coupon_free(c);
  return NULL;
}

json_t *
lc_coupon_to_json(const lc_coupon *c)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->id));
  json_object_set_new(o, "title", json_string(c->title));
  json_object_set_new(o, "kind", json_string(kind_names[c->kind]));
  if (c->kind == LC_COUPON_PERCENT) {
    json_object_set_new(o, "percent_off", json_integer(c->percent_off));
    json_object_set_new(o, "min_spend", json_integer(c->min_spend));
    json_object_set_new(o, "max_off", json_integer(c->max_off));
  } else {
    json_object_set_new(o, "amount_off", json_integer(c->amount_off));
    json_object_set_new(o, "min_spend", json_integer(c->min_spend));
  }
  json_object_set_new(o, "quantity", json_integer(c->quantity));
  json_object_set_new(o, "starts_at", json_integer(c->starts_at));
  json_object_set_new(o, "ends_at", json_integer(c->ends_at));
  return o;
}

void
lc_coupon_free(lc_coupon *c)
{
  if (!c)
    return;
  g_free(c->id);
  g_free(c->title);
  g_free(c);
}

int
lc_coupon_discount(const lc_coupon *c, gint64 subtotal, gint64 now_ms, gint64 *discount, const char **why)
{
  const char *dummy;
  if (!why)
    why = &dummy;
  *discount = 0;
  if (subtotal < 0) {
    *why = "invalid subtotal";
    return LC_EINVAL;
  }
  if (c->starts_at != 0 && now_ms < c->starts_at) {
    *why = "not started";
    return LC_ESTATE;
  }
  if (c->ends_at != 0 && now_ms >= c->ends_at) {
    *why = "expired";
    return LC_ESTATE;
  }
  if (subtotal < c->min_spend) {
    *why = "below minimum spend";
    return LC_ESTATE;
  }
  gint64 off = 0;
  switch (c->kind) {
  case LC_COUPON_FIXED:
  case LC_COUPON_THRESHOLD:
    off = c->amount_off;
    break;
  case LC_COUPON_PERCENT: {
    /* floor(s * p / 100) without overflow for any s: s = 100q + r gives q*p + floor(r*p/100),
     * and q*p <= s because p < 100. */
    gint64 p = CLAMP(c->percent_off, 0, 100);
    off = (subtotal / 100) * p + ((subtotal % 100) * p) / 100;
    if (c->max_off > 0 && off > c->max_off)
      off = c->max_off;
    break;
  }
  }
  *discount = MIN(off, subtotal);
  *why = NULL;
  return 0;
}

/* Coupon specs and discount math. */
#include "commerce/coupon.h"
#include "base/errors.h"

#include <string.h>

static lc_coupon *
parse(const char *text)
{
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j)
    g_error("test JSON: %s: %s", text, jerr.text);
  char *err = NULL;
  lc_coupon *c = lc_coupon_from_json(j, &err);
  if (!c)
    g_error("coupon %s: %s", text, err);
  g_assert_null(err);
  json_decref(j);
  return c;
}

static gint64
discount(const lc_coupon *c, gint64 subtotal)
{
  gint64 d = -1;
  const char *why = "unset";
  g_assert_cmpint(lc_coupon_discount(c, subtotal, 1000, &d, &why), ==, 0);
  g_assert_null(why);
  g_assert_cmpint(d, >=, 0);
  g_assert_cmpint(d, <=, subtotal);
  return d;
}

static void
not_applicable(const lc_coupon *c, gint64 subtotal, gint64 now, const char *want)
{
  gint64 d = -1;
  const char *why = NULL;
  g_assert_cmpint(lc_coupon_discount(c, subtotal, now, &d, &why), ==, LC_ESTATE);
  g_assert_cmpstr(why, ==, want);
  g_assert_cmpint(d, ==, 0);
}

static void
test_fixed(void)
{
  lc_coupon *c = parse("{\"id\":\"c10\",\"kind\":\"fixed\",\"amount_off\":1000,\"quantity\":100}");
  g_assert_cmpint(c->kind, ==, LC_COUPON_FIXED);
  g_assert_cmpstr(c->title, ==, "");
  g_assert_cmpint(c->min_spend, ==, 0);
  g_assert_cmpint(discount(c, 12900), ==, 1000);
  g_assert_cmpint(discount(c, 1000), ==, 1000);
  g_assert_cmpint(discount(c, 999), ==, 999); /* never more than the subtotal */
  g_assert_cmpint(discount(c, 0), ==, 0);
  lc_coupon_free(c);

  c = parse("{\"id\":\"c10\",\"kind\":\"fixed\",\"amount_off\":1000,\"min_spend\":5000,\"quantity\":1}");
  g_assert_cmpint(discount(c, 5000), ==, 1000); /* equal passes */
  not_applicable(c, 4999, 1000, "below minimum spend");
  lc_coupon_free(c);
}

static void
test_percent(void)
{
  lc_coupon *c = parse("{\"id\":\"p33\",\"kind\":\"percent\",\"percent_off\":33,\"quantity\":5}");
  g_assert_cmpint(c->percent_off, ==, 33);
  g_assert_cmpint(discount(c, 999), ==, 329);    /* 329.67 rounds down */
  g_assert_cmpint(discount(c, 100), ==, 33);
  g_assert_cmpint(discount(c, 3), ==, 0);        /* 0.99 -> 0 */
  g_assert_cmpint(discount(c, 0), ==, 0);
  /* Huge subtotals: exact, no overflow (subtotal * 33 would overflow for the last one). */
  g_assert_cmpint(discount(c, G_GINT64_CONSTANT(1000000000000000)), ==, G_GINT64_CONSTANT(330000000000000));
  g_assert_cmpint(discount(c, G_GINT64_CONSTANT(1000000000000099)), ==, G_GINT64_CONSTANT(330000000000032));
  g_assert_cmpint(discount(c, G_MAXINT64), ==, G_GINT64_CONSTANT(3043712772162076016));
  lc_coupon_free(c);

  c = parse("{\"id\":\"p99\",\"kind\":\"percent\",\"percent_off\":99,\"quantity\":5}");
  g_assert_cmpint(discount(c, 1), ==, 0);
  g_assert_cmpint(discount(c, 101), ==, 99);
  g_assert_cmpint(discount(c, G_MAXINT64), ==, G_GINT64_CONSTANT(9131138316486228048));
  lc_coupon_free(c);

  /* Cap: 20% of 100.00 = 20.00, capped at 15.00; below the cap it is exact. */
  c = parse("{\"id\":\"p20\",\"kind\":\"percent\",\"percent_off\":20,\"max_off\":1500,\"min_spend\":100,\"quantity\":5}");
  g_assert_cmpint(discount(c, 10000), ==, 1500);
  g_assert_cmpint(discount(c, 7500), ==, 1500);
  g_assert_cmpint(discount(c, 7499), ==, 1499);
  g_assert_cmpint(discount(c, 100), ==, 20);
  not_applicable(c, 99, 0, "below minimum spend");
  lc_coupon_free(c);
}

static void
test_threshold(void)
{
  lc_coupon *c = parse("{\"id\":\"t\",\"title\":\"满200减30\",\"kind\":\"threshold\",\"amount_off\":3000,"
                       "\"min_spend\":20000,\"quantity\":10000000}");
  g_assert_cmpstr(c->title, ==, "满200减30");
  g_assert_cmpint(discount(c, 20000), ==, 3000);
  g_assert_cmpint(discount(c, G_GINT64_CONSTANT(1000000000000000)), ==, 3000);
  not_applicable(c, 19999, 0, "below minimum spend");
  not_applicable(c, 0, 0, "below minimum spend");
  lc_coupon_free(c);
}

static void
test_window(void)
{
  lc_coupon *c = parse("{\"id\":\"w\",\"kind\":\"fixed\",\"amount_off\":100,\"quantity\":1,"
                       "\"starts_at\":1700000000000,\"ends_at\":1700000060000}");
  gint64 d;
  not_applicable(c, 500, 1699999999999, "not started");
  g_assert_cmpint(lc_coupon_discount(c, 500, 1700000000000, &d, NULL), ==, 0); /* starts_at included */
  g_assert_cmpint(d, ==, 100);
  g_assert_cmpint(lc_coupon_discount(c, 500, 1700000059999, &d, NULL), ==, 0);
  not_applicable(c, 500, 1700000060000, "expired");                             /* ends_at excluded */
  lc_coupon_free(c);

  /* Open-ended on either side. */
  c = parse("{\"id\":\"w\",\"kind\":\"fixed\",\"amount_off\":100,\"quantity\":1,\"ends_at\":50}");
  g_assert_cmpint(lc_coupon_discount(c, 500, 0, &d, NULL), ==, 0);
  not_applicable(c, 500, 50, "expired");
  lc_coupon_free(c);
  c = parse("{\"id\":\"w\",\"kind\":\"fixed\",\"amount_off\":100,\"quantity\":1,\"starts_at\":50}");
  not_applicable(c, 500, 49, "not started");
  g_assert_cmpint(lc_coupon_discount(c, 500, G_MAXINT64, &d, NULL), ==, 0);
  const char *why = NULL;
  g_assert_cmpint(lc_coupon_discount(c, -1, 100, &d, &why), ==, LC_EINVAL);
  g_assert_cmpstr(why, ==, "invalid subtotal");
  lc_coupon_free(c);
}

static void
test_round_trip(void)
{
  const char *specs[] = {
    "{\"id\":\"a\",\"title\":\"\",\"kind\":\"fixed\",\"amount_off\":1,\"min_spend\":0,\"quantity\":1,"
    "\"starts_at\":0,\"ends_at\":0}",
    "{\"id\":\"b.c-d_e\",\"title\":\"九折\",\"kind\":\"percent\",\"percent_off\":10,\"min_spend\":500,"
    "\"max_off\":2000,\"quantity\":300,\"starts_at\":1,\"ends_at\":2}",
    "{\"id\":\"t\",\"title\":\"满200减30\",\"kind\":\"threshold\",\"amount_off\":3000,\"min_spend\":20000,"
    "\"quantity\":10000000,\"starts_at\":1700000000000,\"ends_at\":0}",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(specs); i++) {
    lc_coupon *c = parse(specs[i]);
    json_t *j = lc_coupon_to_json(c);
    char *s = json_dumps(j, JSON_COMPACT);
    g_assert_cmpstr(s, ==, specs[i]); /* canonical form: every field of the kind, in order */
    char *err = NULL;
    lc_coupon *d = lc_coupon_from_json(j, &err);
    g_assert_nonnull(d);
    g_assert_cmpint(d->kind, ==, c->kind);
    g_assert_cmpint(d->amount_off, ==, c->amount_off);
    g_assert_cmpint(d->percent_off, ==, c->percent_off);
    g_assert_cmpint(d->min_spend, ==, c->min_spend);
    g_assert_cmpint(d->max_off, ==, c->max_off);
    g_assert_cmpint(d->quantity, ==, c->quantity);
    g_assert_cmpint(d->starts_at, ==, c->starts_at);
    g_assert_cmpint(d->ends_at, ==, c->ends_at);
    g_assert_cmpstr(d->id, ==, c->id);
    g_assert_cmpstr(d->title, ==, c->title);
    free(s);
    json_decref(j);
    lc_coupon_free(d);
    lc_coupon_free(c);
  }
}

static void
test_invalid(void)
{
  static const struct {
    const char *json;
    const char *want;
  } bad[] = {
    {"[]", "coupon: must be a JSON object"},
    {"{\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1}", "id: required"},
    {"{\"id\":\"a/b\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1}", "id: must be 1-64 characters of A-Z a-z 0-9 _ . -"},
    {"{\"id\":\"a\",\"amount_off\":1,\"quantity\":1}", "kind: required"},
    {"{\"id\":\"a\",\"kind\":\"bogo\",\"quantity\":1}", "kind: must be \"fixed\", \"percent\" or \"threshold\""},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1,\"amout_off\":2}", "amout_off: unknown field"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"percent_off\":5,\"quantity\":1}",
     "percent_off: not allowed for a \"fixed\" coupon"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"max_off\":5,\"quantity\":1}",
     "max_off: not allowed for a \"fixed\" coupon"},
    {"{\"id\":\"a\",\"kind\":\"percent\",\"percent_off\":5,\"amount_off\":5,\"quantity\":1}",
     "amount_off: not allowed for a \"percent\" coupon"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"quantity\":1}", "amount_off: required"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":0,\"quantity\":1}",
     "amount_off: must be an integer from 1 to 1000000000000000"},
    {"{\"id\":\"a\",\"kind\":\"percent\",\"percent_off\":100,\"quantity\":1}", "percent_off: must be an integer from 1 to 99"},
    {"{\"id\":\"a\",\"kind\":\"percent\",\"percent_off\":0,\"quantity\":1}", "percent_off: must be an integer from 1 to 99"},
    {"{\"id\":\"a\",\"kind\":\"percent\",\"percent_off\":12.5,\"quantity\":1}", "percent_off: must be an integer from 1 to 99"},
    {"{\"id\":\"a\",\"kind\":\"percent\",\"percent_off\":10,\"max_off\":-1,\"quantity\":1}",
     "max_off: must be an integer from 0 to 1000000000000000"},
    {"{\"id\":\"a\",\"kind\":\"threshold\",\"amount_off\":3000,\"quantity\":1}", "min_spend: required"},
    {"{\"id\":\"a\",\"kind\":\"threshold\",\"amount_off\":3000,\"min_spend\":3000,\"quantity\":1}",
     "min_spend: must be greater than amount_off (3000)"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1}", "quantity: required"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":10000001}", "quantity: must be an integer from 1 to 10000000"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1,\"starts_at\":-5}",
     "starts_at: must be an integer from 0 to 253402300799999"},
    {"{\"id\":\"a\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1,\"starts_at\":100,\"ends_at\":100}",
     "ends_at: must be after starts_at (100)"},
    {"{\"id\":\"a\",\"title\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\","
     "\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1}",
     "title: must be UTF-8 text of at most 100 bytes without control characters"},
    {"{\"id\":\"a\",\"title\":\"a\\nb\",\"kind\":\"fixed\",\"amount_off\":1,\"quantity\":1}",
     "title: must be UTF-8 text of at most 100 bytes without control characters"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    json_error_t jerr;
    json_t *j = json_loads(bad[i].json, 0, &jerr);
    g_assert_nonnull(j);
    char *err = NULL;
    lc_coupon *c = lc_coupon_from_json(j, &err);
    if (c || g_strcmp0(err, bad[i].want) != 0)
      g_error("case %zu: expected \"%s\", got \"%s\"", i, bad[i].want, err ? err : "(success)");
    g_free(err);
    json_decref(j);
  }
  g_assert_null(lc_coupon_from_json(NULL, NULL));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/coupon/fixed", test_fixed);
  g_test_add_func("/coupon/percent", test_percent);
  g_test_add_func("/coupon/threshold", test_threshold);
  g_test_add_func("/coupon/window", test_window);
  g_test_add_func("/coupon/round-trip", test_round_trip);
  g_test_add_func("/coupon/invalid", test_invalid);
  return g_test_run();
}

/* Clearance promotions: the spec parser, the canonical form and the discount math, against
 * values worked out by hand from docs/marketing.md. */
#include "commerce/promo.h"

#include <string.h>

#define E9 G_GINT64_CONSTANT(1000000000)

static lc_promo *
parse(const char *text)
{
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j)
    g_error("test JSON: %s: %s", text, jerr.text);
  char *err = NULL;
  lc_promo *p = lc_promo_from_json(j, &err);
  if (!p)
    g_error("promo %s: %s", text, err);
  g_assert_null(err);
  json_decref(j);
  return p;
}

static void
test_discount_table(void)
{
  static const struct {
    const char *spec;
    gint64 unit, qty, now, want;
    const char *why;
  } cases[] = {
    /* BOGO 1+1: one free unit per complete pair. */
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", 1990, 1, 0, 0, "1 unit pays full price"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", 1990, 2, 0, 1990, "floor(2/2)*1 = 1 free"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", 1990, 3, 0, 1990, "floor(3/2)*1 = 1 free"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", 1990, 4, 0, 3980, "floor(4/2)*1 = 2 free"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", 1990, 5, 0, 3980, "floor(5/2)*1 = 2 free"},
    /* BOGO 2+1 on 7 units: two complete groups of 3, one free unit each. */
    {"{\"kind\":\"bogo\",\"buy\":2,\"free\":1}", 500, 7, 0, 1000, "floor(7/3)*1 = 2 free"},
    {"{\"kind\":\"bogo\",\"buy\":2,\"free\":3}", 100, 10, 0, 600, "floor(10/5)*3 = 6 free"},
    /* Percent: 30% of 999 x 3 = 899.1, rounded down. */
    {"{\"kind\":\"percent\",\"percent_off\":30}", 999, 3, 0, 899, "floor(2997 * 0.3)"},
    {"{\"kind\":\"percent\",\"percent_off\":1}", 99, 1, 0, 0, "0.99 rounds down to 0"},
    /* Fixed: per unit, never more than the unit price. */
    {"{\"kind\":\"fixed\",\"amount_off\":500}", 1990, 3, 0, 1500, "500 off each of 3"},
    {"{\"kind\":\"fixed\",\"amount_off\":5000}", 1990, 3, 0, 5970, "amount_off > unit price: the whole line"},
    /* Window [1000, 2000): start included, end excluded. */
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000,\"ends_at\":2000}", 500, 2, 999, 0, "before"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000,\"ends_at\":2000}", 500, 2, 1000, 200, "at start"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000,\"ends_at\":2000}", 500, 2, 1999, 200, "inside"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000,\"ends_at\":2000}", 500, 2, 2000, 0, "at end"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000,\"ends_at\":2000}", 500, 2, 5000, 0, "after"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"ends_at\":2000}", 500, 2, -5, 200, "open start"},
    {"{\"kind\":\"fixed\",\"amount_off\":100,\"starts_at\":1000}", 500, 2, G_MAXINT64, 200, "open end"},
    /* Nothing to discount. */
    {"{\"kind\":\"percent\",\"percent_off\":50}", 1000, 0, 0, 0, "qty 0"},
    {"{\"kind\":\"percent\",\"percent_off\":50}", 1000, -3, 0, 0, "negative qty"},
    {"{\"kind\":\"fixed\",\"amount_off\":50}", 0, 3, 0, 0, "free item"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", -1990, 4, 0, 0, "negative price"},
    /* 10^9 x 10^9: the line (10^18) times the percentage would overflow 64 bits. */
    {"{\"kind\":\"percent\",\"percent_off\":90}", E9, E9, 0, G_GINT64_CONSTANT(900000000000000000), "90% of 10^18"},
    {"{\"kind\":\"percent\",\"percent_off\":33}", E9 - 1, E9 - 1, 0, G_GINT64_CONSTANT(329999999340000000),
     "33% of 999999998000000001"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1}", E9, E9, 0, G_GINT64_CONSTANT(500000000000000000), "half free"},
    {"{\"kind\":\"fixed\",\"amount_off\":100000000}", E9, E9, 0, G_GINT64_CONSTANT(100000000000000000), "10^8 x 10^9"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    lc_promo *p = parse(cases[i].spec);
    gint64 got = lc_promo_discount(p, cases[i].unit, cases[i].qty, cases[i].now);
    if (got != cases[i].want)
      g_error("case %zu (%s): %s unit %" G_GINT64_FORMAT " qty %" G_GINT64_FORMAT ": want %" G_GINT64_FORMAT
              ", got %" G_GINT64_FORMAT, i, cases[i].why, cases[i].spec, cases[i].unit, cases[i].qty,
              cases[i].want, got);
    lc_promo_free(p);
  }
}

static void
test_active(void)
{
  lc_promo *p = parse("{\"kind\":\"percent\",\"percent_off\":10,\"starts_at\":1000,\"ends_at\":2000}");
  g_assert_false(lc_promo_active(p, 999));
  g_assert_true(lc_promo_active(p, 1000));
  g_assert_true(lc_promo_active(p, 1999));
  g_assert_false(lc_promo_active(p, 2000));
  lc_promo_free(p);
  p = parse("{\"kind\":\"percent\",\"percent_off\":10,\"starts_at\":0,\"ends_at\":0}");
  g_assert_cmpint(p->starts_at, ==, 0);
  g_assert_cmpint(p->ends_at, ==, 0);
  g_assert_true(lc_promo_active(p, G_MININT64));
  g_assert_true(lc_promo_active(p, G_MAXINT64));
  lc_promo_free(p);
}

static void
test_fields_and_labels(void)
{
  lc_promo *p = parse("{\"kind\":\"bogo\",\"buy\":2,\"free\":1}");
  g_assert_cmpint(p->kind, ==, LC_PROMO_BOGO);
  g_assert_cmpint(p->buy, ==, 2);
  g_assert_cmpint(p->free_units, ==, 1);
  g_assert_cmpstr(p->label, ==, "BUY 2 GET 1");
  lc_promo *c = lc_promo_copy(p);
  lc_promo_free(p);
  g_assert_cmpstr(c->label, ==, "BUY 2 GET 1"); /* the copy owns its label */
  g_assert_cmpint(c->buy, ==, 2);
  lc_promo_free(c);

  p = parse("{\"kind\":\"percent\",\"percent_off\":30}");
  g_assert_cmpstr(p->label, ==, "-30%");
  lc_promo_free(p);
  p = parse("{\"kind\":\"fixed\",\"amount_off\":500}");
  g_assert_cmpstr(p->label, ==, "SALE");
  lc_promo_free(p);
  p = parse("{\"kind\":\"bogo\",\"buy\":1,\"free\":1,\"label\":\"买1送1\"}");
  g_assert_cmpstr(p->label, ==, "买1送1");
  lc_promo_free(p);
  /* 32 characters (96 bytes): the limit counts characters, not bytes. */
  p = parse("{\"kind\":\"fixed\",\"amount_off\":1,\"label\":\"一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一\"}");
  g_assert_cmpint(g_utf8_strlen(p->label, -1), ==, 32);
  lc_promo_free(p);

  g_assert_null(lc_promo_copy(NULL));
  lc_promo_free(NULL);
}

static void
expect_refused(json_t *j, const char *want)
{
  char *err = NULL;
  lc_promo *p = lc_promo_from_json(j, &err);
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (p || g_strcmp0(err, want) != 0)
    g_error("%s: expected \"%s\", got \"%s\"", text ? text : "NULL", want, err ? err : "(success)");
  free(text);
  g_free(err);
}

static void
test_invalid(void)
{
  static const struct {
    const char *json;
    const char *want;
  } bad[] = {
    {"[]", "promotion: must be a JSON object"},
    {"\"bogo\"", "promotion: must be a JSON object"},
    {"{}", "promotion: kind is required"},
    {"{\"buy\":1,\"free\":1}", "promotion: kind is required"},
    {"{\"kind\":\"bxgy\"}", "promotion: kind must be \"bogo\", \"percent\" or \"fixed\""},
    {"{\"kind\":\"BOGO\",\"buy\":1,\"free\":1}", "promotion: kind must be \"bogo\", \"percent\" or \"fixed\""},
    {"{\"kind\":1}", "promotion: kind must be \"bogo\", \"percent\" or \"fixed\""},
    {"{\"kind\":\"percent\",\"percentoff\":30}", "promotion: percentoff is not a known field"},
    {"{\"kind\":\"fixed\",\"amount_off\":1,\"sku\":\"tee\"}", "promotion: sku is not a known field"},
    /* bogo */
    {"{\"kind\":\"bogo\",\"free\":1}", "promotion: buy is required"},
    {"{\"kind\":\"bogo\",\"buy\":1}", "promotion: free is required"},
    {"{\"kind\":\"bogo\",\"buy\":0,\"free\":1}", "promotion: buy must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":11,\"free\":1}", "promotion: buy must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":1.0,\"free\":1}", "promotion: buy must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":\"1\",\"free\":1}", "promotion: buy must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":0}", "promotion: free must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":11}", "promotion: free must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":null}", "promotion: free must be an integer from 1 to 10"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1,\"percent_off\":10}", "promotion: percent_off is not allowed for a bogo promotion"},
    {"{\"kind\":\"bogo\",\"buy\":1,\"free\":1,\"amount_off\":10}", "promotion: amount_off is not allowed for a bogo promotion"},
    /* percent */
    {"{\"kind\":\"percent\"}", "promotion: percent_off is required"},
    {"{\"kind\":\"percent\",\"percent_off\":0}", "promotion: percent_off must be an integer from 1 to 90"},
    {"{\"kind\":\"percent\",\"percent_off\":91}", "promotion: percent_off must be an integer from 1 to 90"},
    {"{\"kind\":\"percent\",\"percent_off\":12.5}", "promotion: percent_off must be an integer from 1 to 90"},
    {"{\"kind\":\"percent\",\"percent_off\":true}", "promotion: percent_off must be an integer from 1 to 90"},
    {"{\"kind\":\"percent\",\"percent_off\":30,\"buy\":1}", "promotion: buy is not allowed for a percent promotion"},
    {"{\"kind\":\"percent\",\"percent_off\":30,\"amount_off\":1}", "promotion: amount_off is not allowed for a percent promotion"},
    /* fixed */
    {"{\"kind\":\"fixed\"}", "promotion: amount_off is required"},
    {"{\"kind\":\"fixed\",\"amount_off\":0}", "promotion: amount_off must be an integer from 1 to 100000000"},
    {"{\"kind\":\"fixed\",\"amount_off\":-5}", "promotion: amount_off must be an integer from 1 to 100000000"},
    {"{\"kind\":\"fixed\",\"amount_off\":100000001}", "promotion: amount_off must be an integer from 1 to 100000000"},
    {"{\"kind\":\"fixed\",\"amount_off\":[500]}", "promotion: amount_off must be an integer from 1 to 100000000"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"free\":1}", "promotion: free is not allowed for a fixed promotion"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"percent_off\":1}", "promotion: percent_off is not allowed for a fixed promotion"},
    /* window */
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"starts_at\":-1}", "promotion: starts_at must be an integer >= 0"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"starts_at\":\"now\"}", "promotion: starts_at must be an integer >= 0"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"ends_at\":-1}", "promotion: ends_at must be an integer >= 0"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"ends_at\":1.5}", "promotion: ends_at must be an integer >= 0"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"starts_at\":100,\"ends_at\":100}", "promotion: ends_at must be after starts_at"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"starts_at\":100,\"ends_at\":99}", "promotion: ends_at must be after starts_at"},
    /* label */
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"\"}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"a\\nb\"}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"a\\u0085b\"}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"a\\u007fb\"}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"abcdefghijklmnopqrstuvwxyz0123456\"}", /* 33 */
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":\"一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一\"}", /* 33 */
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":7}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
    {"{\"kind\":\"fixed\",\"amount_off\":5,\"label\":null}",
     "promotion: label must be 1-32 characters of UTF-8 text without control characters"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    json_error_t jerr;
    json_t *j = json_loads(bad[i].json, JSON_DECODE_ANY, &jerr);
    if (!j)
      g_error("test JSON %zu: %s", i, jerr.text);
    expect_refused(j, bad[i].want);
    json_decref(j);
  }
  expect_refused(NULL, "promotion: must be a JSON object");
  g_assert_null(lc_promo_from_json(NULL, NULL)); /* err is optional */

  /* Invalid UTF-8 cannot come from the parser (jansson refuses it), only from a json_t built
   * without checks: a lone continuation byte, and a truncated 3-byte sequence. */
  static const char *const bad_utf8[] = {"ab\x80", "\xe4\xb8"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad_utf8); i++) {
    json_t *j = json_pack("{s:s, s:i}", "kind", "fixed", "amount_off", 5);
    json_object_set_new(j, "label", json_string_nocheck(bad_utf8[i]));
    expect_refused(j, "promotion: label must be 1-32 characters of UTF-8 text without control characters");
    json_decref(j);
  }
  /* An embedded NUL is a control character (and would truncate the label in C). */
  json_t *j = json_pack("{s:s, s:i}", "kind", "fixed", "amount_off", 5);
  json_object_set_new(j, "label", json_stringn("a\0b", 3));
  expect_refused(j, "promotion: label must be 1-32 characters of UTF-8 text without control characters");
  json_decref(j);
}

static void
test_round_trip(void)
{
  /* Canonical forms: the kind's fields, bounds only when set, the label always. */
  static const char *const specs[] = {
    "{\"kind\":\"bogo\",\"buy\":1,\"free\":1,\"label\":\"BUY 1 GET 1\"}",
    "{\"kind\":\"bogo\",\"buy\":10,\"free\":10,\"starts_at\":1,\"ends_at\":2,\"label\":\"买十送十\"}",
    "{\"kind\":\"percent\",\"percent_off\":90,\"ends_at\":1700000000000,\"label\":\"-90%\"}",
    "{\"kind\":\"fixed\",\"amount_off\":100000000,\"starts_at\":1700000000000,\"label\":\"清仓 SALE\"}",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(specs); i++) {
    lc_promo *p = parse(specs[i]);
    json_t *j = lc_promo_to_json(p);
    char *s = json_dumps(j, JSON_COMPACT);
    g_assert_cmpstr(s, ==, specs[i]);
    char *err = NULL;
    lc_promo *q = lc_promo_from_json(j, &err);
    g_assert_null(err);
    g_assert_nonnull(q);
    g_assert_cmpint(q->kind, ==, p->kind);
    g_assert_cmpint(q->buy, ==, p->buy);
    g_assert_cmpint(q->free_units, ==, p->free_units);
    g_assert_cmpint(q->percent_off, ==, p->percent_off);
    g_assert_cmpint(q->amount_off, ==, p->amount_off);
    g_assert_cmpint(q->starts_at, ==, p->starts_at);
    g_assert_cmpint(q->ends_at, ==, p->ends_at);
    g_assert_cmpstr(q->label, ==, p->label);
    free(s);
    json_decref(j);
    lc_promo_free(q);
    lc_promo_free(p);
  }

  /* Zero bounds and a default label come back as absent bounds and the label spelled out. */
  lc_promo *p = parse("{\"kind\":\"percent\",\"percent_off\":5,\"starts_at\":0,\"ends_at\":0}");
  json_t *j = lc_promo_to_json(p);
  char *s = json_dumps(j, JSON_COMPACT);
  g_assert_cmpstr(s, ==, "{\"kind\":\"percent\",\"percent_off\":5,\"label\":\"-5%\"}");
  free(s);
  json_decref(j);
  lc_promo_free(p);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/promo/discount-table", test_discount_table);
  g_test_add_func("/promo/active", test_active);
  g_test_add_func("/promo/fields-and-labels", test_fields_and_labels);
  g_test_add_func("/promo/invalid", test_invalid);
  g_test_add_func("/promo/round-trip", test_round_trip);
  return g_test_run();
}

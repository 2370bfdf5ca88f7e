/* The overlay scene without rendering: configuration errors name the field, configure is all or
 * nothing, placement and visibility, free text rules, name masking, the buyer ticker's rate
 * limit and expiry, the gift burst's choice of combo and its 3 s, the group-buy progress's
 * countdown and formed notice, all on an explicit clock; the status object and the version
 * counter. */
#include "overlays/overlay.h"

#include <glib.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "base/errors.h"
#include "overlays/overlay_int.h"

#define T0 1700000000000LL

static json_t *
parse(const char *text)
{
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  if (!j)
    g_error("bad test JSON %s: %s", text, je.text);
  return j;
}

/* The error lc_overlay_config_check gives for cfg (g_free), or NULL when it is valid. */
static char *
check_error(const char *cfg_text)
{
  json_t *cfg = parse(cfg_text);
  char *err = NULL;
  int rc = lc_overlay_config_check(cfg, &err);
  json_decref(cfg);
  if (rc == 0) {
    g_assert_null(err);
    return NULL;
  }
  g_assert_cmpint(rc, ==, LC_EINVAL);
  g_assert_nonnull(err);
  return err;
}

static void
assert_error_prefix(const char *cfg_text, const char *prefix)
{
  g_autofree char *err = check_error(cfg_text);
  if (!err || !g_str_has_prefix(err, prefix))
    g_error("config %s: expected an error starting \"%s\", got \"%s\"", cfg_text, prefix, err ? err : "(none)");
}

static void
test_config_valid(void)
{
  g_assert_cmpint(lc_overlay_config_check(NULL, NULL), ==, 0);
  g_assert_null(check_error("{}"));
  g_assert_null(check_error("{\"lang\": \"en\", \"passthrough\": false}"));
  g_assert_null(check_error("{\"elements\": {\"card\": {\"visible\": true, \"anchor\": \"bottom-left\", "
                            "\"margin\": [3, 12], \"width\": 32}, \"flash\": {\"anchor\": \"top\"}, "
                            "\"coupon\": {}, \"ticker\": {\"margin\": [0.5, 45]}, \"logo\": {\"width\": 5}, "
                            "\"text\": {\"width\": 100, \"visible\": false}, \"gift\": {\"anchor\": \"center\"}, "
                            "\"group\": {\"margin\": [3, 12]}}}"));
  const char *anchors[] = {"top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom",
                           "bottom-right"};
  for (unsigned i = 0; i < G_N_ELEMENTS(anchors); i++) {
    g_autofree char *cfg = g_strdup_printf("{\"elements\": {\"text\": {\"anchor\": \"%s\"}}}", anchors[i]);
    g_assert_null(check_error(cfg));
  }
}

static void
test_config_errors(void)
{
  assert_error_prefix("[]", "overlays: must be an object");
  assert_error_prefix("{\"bogus\": 1}", "bogus: unknown field");
  assert_error_prefix("{\"lang\": \"fr\"}", "lang: must be \"zh-CN\" or \"en\"");
  assert_error_prefix("{\"lang\": 1}", "lang: ");
  assert_error_prefix("{\"passthrough\": \"yes\"}", "passthrough: must be true or false");
  assert_error_prefix("{\"elements\": []}", "elements: must be an object");
  assert_error_prefix("{\"elements\": {\"banner\": {}}}",
                      "elements.banner: unknown element (card, flash, coupon, ticker, logo, text, gift, group)");
  assert_error_prefix("{\"elements\": {\"gift\": {\"width\": 2}}}", "elements.gift.width: ");
  assert_error_prefix("{\"elements\": {\"group\": {\"anchor\": \"up\"}}}", "elements.group.anchor: ");
  assert_error_prefix("{\"elements\": {\"card\": 3}}", "elements.card: must be an object");
  assert_error_prefix("{\"elements\": {\"card\": {\"anchor\": \"middle\"}}}",
                      "elements.card.anchor: must be one of top-left, top, top-right, left, center, right, "
                      "bottom-left, bottom, bottom-right");
  assert_error_prefix("{\"elements\": {\"card\": {\"anchor\": 4}}}", "elements.card.anchor: must be one of");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": [46, 0]}}}", "elements.flash.margin: must be [x, y]");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": [0, -1]}}}", "elements.flash.margin: ");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": [1]}}}", "elements.flash.margin: ");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": [1, 2, 3]}}}", "elements.flash.margin: ");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": [\"1\", 2]}}}", "elements.flash.margin: ");
  assert_error_prefix("{\"elements\": {\"flash\": {\"margin\": 3}}}", "elements.flash.margin: ");
  assert_error_prefix("{\"elements\": {\"logo\": {\"width\": 4.9}}}", "elements.logo.width: must be a number from 5 to 100");
  assert_error_prefix("{\"elements\": {\"logo\": {\"width\": 101}}}", "elements.logo.width: ");
  assert_error_prefix("{\"elements\": {\"logo\": {\"width\": true}}}", "elements.logo.width: ");
  assert_error_prefix("{\"elements\": {\"ticker\": {\"visible\": 1}}}", "elements.ticker.visible: must be true or false");
  assert_error_prefix("{\"elements\": {\"text\": {\"colour\": \"red\"}}}", "elements.text.colour: unknown field");
  /* a hostile key is quoted short and printable in the message */
  g_autofree char *err = check_error("{\"elements\": {\"text\": {\"x\\u0007yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\": 1}}}");
  g_assert_nonnull(err);
  g_assert_true(g_str_has_prefix(err, "elements.text.x yyy"));
  g_assert_nonnull(strstr(err, "...: unknown field"));
}

static void
test_configure_atomic(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  json_t *good = parse("{\"lang\": \"en\", \"passthrough\": false, \"elements\": {\"card\": {\"anchor\": "
                       "\"top-right\", \"margin\": [1, 2], \"width\": 50, \"visible\": false}}}");
  char *err = NULL;
  g_assert_cmpint(lc_overlay_configure(o, good, &err), ==, 0);
  g_assert_null(err);
  g_assert_false(lc_overlay_passthrough_allowed(o));
  guint64 v = lc_overlay_version(o);
  json_t *before = lc_overlay_status(o, T0);

  /* the first element is valid, the second is not: nothing of it is applied */
  json_t *bad = parse("{\"lang\": \"zh-CN\", \"passthrough\": true, \"elements\": {\"card\": {\"anchor\": \"left\"}, "
                      "\"flash\": {\"anchor\": \"nowhere\"}}}");
  g_assert_cmpint(lc_overlay_configure(o, bad, &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "elements.flash.anchor: "));
  g_clear_pointer(&err, g_free);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);
  json_t *after = lc_overlay_status(o, T0);
  g_assert_true(json_equal(before, after));
  g_assert_false(lc_overlay_passthrough_allowed(o));

  json_t *card = json_object_get(json_object_get(after, "elements"), "card");
  g_assert_cmpstr(json_string_value(json_object_get(card, "anchor")), ==, "top-right");
  g_assert_false(json_is_true(json_object_get(card, "visible")));
  g_assert_cmpfloat(json_number_value(json_object_get(card, "width")), ==, 50);
  g_assert_cmpstr(json_string_value(json_object_get(after, "lang")), ==, "en");

  /* the same configuration again changes nothing; NULL brings the defaults back */
  g_assert_cmpint(lc_overlay_configure(o, good, NULL), ==, 0);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);
  g_assert_cmpint(lc_overlay_configure(o, NULL, NULL), ==, 0);
  g_assert_cmpuint(lc_overlay_version(o), >, v);
  g_assert_true(lc_overlay_passthrough_allowed(o));
  json_t *defaults = lc_overlay_status(o, T0);
  json_t *dcard = json_object_get(json_object_get(defaults, "elements"), "card");
  g_assert_cmpstr(json_string_value(json_object_get(dcard, "anchor")), ==, "bottom-left");
  g_assert_true(json_is_true(json_object_get(dcard, "visible")));

  json_decref(defaults);
  json_decref(good);
  json_decref(bad);
  json_decref(before);
  json_decref(after);
  lc_overlay_unref(o);
}

static json_t *
element_status(lc_overlay *o, const char *name, int64_t now, json_t **whole)
{
  *whole = lc_overlay_status(o, now);
  return json_object_get(json_object_get(*whole, "elements"), name);
}

static void
test_place_and_visible(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  char *err = NULL;
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "center", 0, 45, 60, &err), ==, 0);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "middle", 0, 0, 0, &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "anchor: must be one of top-left"));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, NULL, 0, 0, 0, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "top", 46, 0, 0, &err), ==, LC_EINVAL);
  g_assert_cmpstr(err, ==, "margin x: must be from 0 to 45 (% of the frame width)");
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "top", 0, -0.1, 0, &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "margin y: "));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "top", NAN, 0, 0, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "top", 0, 0, 4, &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "width: "));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "top", 0, 0, 100.5, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_place(o, LC_OV_N, "top", 0, 0, 0, &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "element: "));
  g_clear_pointer(&err, g_free);

  json_t *st;
  json_t *f = element_status(o, "flash", T0, &st);
  g_assert_cmpstr(json_string_value(json_object_get(f, "anchor")), ==, "center");
  g_assert_cmpfloat(json_number_value(json_array_get(json_object_get(f, "margin"), 1)), ==, 45);
  g_assert_cmpfloat(json_number_value(json_object_get(f, "width")), ==, 60);
  json_decref(st);

  /* width <= 0 keeps the width */
  g_assert_cmpint(lc_overlay_place(o, LC_OV_FLASH, "bottom-right", 2, 3, 0, NULL), ==, 0);
  f = element_status(o, "flash", T0, &st);
  g_assert_cmpstr(json_string_value(json_object_get(f, "anchor")), ==, "bottom-right");
  g_assert_cmpfloat(json_number_value(json_object_get(f, "width")), ==, 60);
  json_decref(st);

  guint64 v = lc_overlay_version(o);
  lc_overlay_set_visible(o, LC_OV_LOGO, false);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  lc_overlay_set_visible(o, LC_OV_LOGO, false); /* no change, no new version */
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  lc_overlay_set_visible(o, (lc_overlay_element)99, false); /* ignored, not a crash */
  f = element_status(o, "logo", T0, &st);
  g_assert_false(json_is_true(json_object_get(f, "visible")));
  json_decref(st);
  lc_overlay_unref(o);
}

static void
test_element_names(void)
{
  for (int e = 0; e < LC_OV_N; e++)
    g_assert_cmpint(lc_overlay_element_from_name(lc_overlay_element_name(e)), ==, e);
  g_assert_null(lc_overlay_element_name(LC_OV_N));
  g_assert_null(lc_overlay_element_name((lc_overlay_element)-1));
  g_assert_cmpint(lc_overlay_element_from_name("Card"), ==, -1);
  g_assert_cmpint(lc_overlay_element_from_name("gift"), ==, LC_OV_GIFT);
  g_assert_cmpint(lc_overlay_element_from_name("group"), ==, LC_OV_GROUP);
  g_assert_cmpint(lc_overlay_element_from_name(NULL), ==, -1);
}

static void
test_text_rules(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  char *err = NULL;
  g_assert_cmpint(lc_overlay_set_text(o, "今晚 8 点返场", &err), ==, 0);
  g_assert_null(err);
  char long_text[202];
  memset(long_text, 'a', 201);
  long_text[201] = 0;
  g_assert_cmpint(lc_overlay_set_text(o, long_text, &err), ==, LC_EINVAL);
  g_assert_cmpstr(err, ==, "text: at most 200 bytes (201 given)");
  g_clear_pointer(&err, g_free);
  long_text[200] = 0;
  g_assert_cmpint(lc_overlay_set_text(o, long_text, NULL), ==, 0);
  g_assert_cmpint(lc_overlay_set_text(o, "bad \xff\xfe utf8", &err), ==, LC_EINVAL);
  g_assert_cmpstr(err, ==, "text: must be valid UTF-8");
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_set_text(o, "two\nlines", &err), ==, LC_EINVAL);
  g_assert_true(g_str_has_prefix(err, "text: must not contain control characters"));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_set_text(o, "tab\there", &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_overlay_set_text(o, "\xe2\x80\xae" "reversed", &err), ==, LC_EINVAL); /* U+202E */
  g_clear_pointer(&err, g_free);

  json_t *st;
  json_t *t = element_status(o, "text", T0, &st);
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(t, "content"), "text")), ==, long_text);
  json_decref(st);
  /* "" and NULL clear */
  g_assert_cmpint(lc_overlay_set_text(o, "", NULL), ==, 0);
  t = element_status(o, "text", T0, &st);
  g_assert_true(json_is_null(json_object_get(t, "content")));
  g_assert_false(json_is_true(json_object_get(t, "shown")));
  json_decref(st);
  g_assert_cmpint(lc_overlay_set_text(o, NULL, NULL), ==, 0);
  lc_overlay_unref(o);
}

static void
assert_mask(const char *name, const char *want)
{
  g_autofree char *got = lc_overlay_mask_name(name);
  g_assert_true(g_utf8_validate(got, -1, NULL));
  if (g_strcmp0(got, want) != 0)
    g_error("mask_name(%s): got \"%s\", want \"%s\"", name ? name : "NULL", got, want);
}

static void
test_mask_name(void)
{
  assert_mask("Lin Wei", "Lin**");
  assert_mask("Linda", "Lin**");
  assert_mask("Bob", "Bo**"); /* never the whole name */
  assert_mask("Al", "A**");
  assert_mask("X", "X**");
  assert_mask("  Zoë  ", "Zo**");
  assert_mask("王小明", "王**");
  assert_mask("李", "李**");
  assert_mask("김민준", "김**");
  assert_mask("さくら", "さ**");
  assert_mask("😀party", "😀**");
  assert_mask("\xe2\x80\x8b\xe2\x80\xae" "Eve", "Ev**"); /* zero-width space + RLO skipped */
  assert_mask("Bad\xff\xfe", "***");                     /* not UTF-8 */
  assert_mask("", "***");
  assert_mask("   ", "***");
  assert_mask(NULL, "***");
  assert_mask("Ann王", "Ann**");
}

/* The ticker lines shown at now (a new array, empty when none). */
static json_t *
ticker_lines(lc_overlay *o, int64_t now)
{
  json_t *st;
  json_t *t = element_status(o, "ticker", now, &st);
  json_t *content = json_object_get(t, "content");
  json_t *lines = json_is_null(content) ? json_array() : json_incref(json_object_get(content, "lines"));
  g_assert_cmpint(json_is_true(json_object_get(t, "shown")), ==, json_array_size(lines) > 0);
  json_decref(st);
  return lines;
}

static void
assert_lines(lc_overlay *o, int64_t now, const char *const *want, size_t n)
{
  json_t *lines = ticker_lines(o, now);
  if (json_array_size(lines) != n) {
    g_autofree char *s = json_dumps(lines, 0);
    g_error("at +%" G_GINT64_FORMAT " ms: lines %s, want %zu", (gint64)(now - T0), s, n);
  }
  for (size_t i = 0; i < n; i++)
    g_assert_cmpstr(json_string_value(json_array_get(lines, i)), ==, want[i]);
  json_decref(lines);
}

static void
test_ticker(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  assert_lines(o, T0, NULL, 0);
  lc_overlay_ticker_push(o, "Lin Wei", 2, T0);
  assert_lines(o, T0, (const char *[]){"Lin** 刚刚买了 2 件"}, 1);
  /* within 2 s: waits for its turn; a later order replaces the waiting one */
  lc_overlay_ticker_push(o, "王小明", 1, T0 + 500);
  lc_overlay_ticker_push(o, "Carol", 3, T0 + 900);
  assert_lines(o, T0 + 1999, (const char *[]){"Lin** 刚刚买了 2 件"}, 1);
  assert_lines(o, T0 + 2000, ((const char *[]){"Lin** 刚刚买了 2 件", "Car** 刚刚买了 3 件"}), 2);
  /* quantity <= 0 is no order */
  guint64 v = lc_overlay_version(o);
  lc_overlay_ticker_push(o, "Dan", 0, T0 + 2100);
  lc_overlay_ticker_push(o, "Dan", -3, T0 + 2100);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);
  /* after the gap a push shows at once */
  lc_overlay_ticker_push(o, "Dave", 1, T0 + 4500);
  assert_lines(o, T0 + 4500,
               ((const char *[]){"Lin** 刚刚买了 2 件", "Car** 刚刚买了 3 件", "Dav** 刚刚买了 1 件"}), 3);
  /* each line stays 5 s */
  assert_lines(o, T0 + 4999,
               ((const char *[]){"Lin** 刚刚买了 2 件", "Car** 刚刚买了 3 件", "Dav** 刚刚买了 1 件"}), 3);
  assert_lines(o, T0 + 5000, ((const char *[]){"Car** 刚刚买了 3 件", "Dav** 刚刚买了 1 件"}), 2);
  assert_lines(o, T0 + 7000, ((const char *[]){"Dav** 刚刚买了 1 件"}), 1);
  assert_lines(o, T0 + 9500, NULL, 0);

  /* a burst of 100 orders in one second shows one line per 2 s, never more than 3 */
  for (int i = 0; i < 100; i++) {
    g_autofree char *name = g_strdup_printf("Buyer%02d", i);
    lc_overlay_ticker_push(o, name, 1, T0 + 20000 + i * 10);
  }
  assert_lines(o, T0 + 20000, (const char *[]){"Buy** 刚刚买了 1 件"}, 1);
  assert_lines(o, T0 + 21999, (const char *[]){"Buy** 刚刚买了 1 件"}, 1);
  assert_lines(o, T0 + 22000, ((const char *[]){"Buy** 刚刚买了 1 件", "Buy** 刚刚买了 1 件"}), 2);
  for (int64_t t = T0 + 20000; t < T0 + 30000; t += 250) {
    json_t *l = ticker_lines(o, t);
    g_assert_cmpuint(json_array_size(l), <=, 3);
    json_decref(l);
  }
  assert_lines(o, T0 + 27000, NULL, 0);

  /* English */
  json_t *en = parse("{\"lang\": \"en\"}");
  g_assert_cmpint(lc_overlay_configure(o, en, NULL), ==, 0);
  json_decref(en);
  lc_overlay_ticker_push(o, "Lin", 2, T0 + 60000);
  assert_lines(o, T0 + 60000, (const char *[]){"Li** just bought 2"}, 1);
  /* a huge quantity is capped, a huge name cut before masking */
  g_autofree char *huge = g_strnfill(100000, 'z');
  lc_overlay_ticker_push(o, huge, G_MAXINT64, T0 + 70000);
  assert_lines(o, T0 + 70000, (const char *[]){"zzz** just bought 999999"}, 1);
  lc_overlay_unref(o);
}

static void
test_status_and_version(void)
{
  lc_overlay_options opt = {.font = "DejaVu Sans", .image_root = "/tmp", .room = "r1"};
  lc_overlay *o = lc_overlay_new(&opt);
  g_assert_true(lc_overlay_ref(o) == o);
  lc_overlay_unref(o);
  guint64 v = lc_overlay_version(o);

  json_t *st = lc_overlay_status(o, T0);
  g_assert_cmpstr(json_string_value(json_object_get(st, "lang")), ==, "zh-CN");
  g_assert_true(json_is_true(json_object_get(st, "passthrough")));
  g_assert_cmpint(json_integer_value(json_object_get(st, "version")), ==, (json_int_t)v);
  json_t *els = json_object_get(st, "elements");
  g_assert_cmpuint(json_object_size(els), ==, LC_OV_N);
  const char *anchors[LC_OV_N] = {"bottom-left", "top-right", "top-left", "left",
                                  "top-left",    "bottom",    "right",    "bottom-right"};
  for (int e = 0; e < LC_OV_N; e++) {
    json_t *el = json_object_get(els, lc_overlay_element_name(e));
    g_assert_nonnull(el);
    g_assert_true(json_is_true(json_object_get(el, "visible")));
    g_assert_false(json_is_true(json_object_get(el, "shown")));
    g_assert_true(json_is_null(json_object_get(el, "content")));
    g_assert_cmpstr(json_string_value(json_object_get(el, "anchor")), ==, anchors[e]);
    g_assert_cmpuint(json_array_size(json_object_get(el, "margin")), ==, 2);
  }
  json_decref(st);

  /* card: a change bumps the version, the same card again does not */
  lc_overlay_card card = {.title = "真空保温杯 600ml", .price = "¥69.00", .original_price = "¥99.00", .image = "cup.png"};
  lc_overlay_set_card(o, &card);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  lc_overlay_set_card(o, &card);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  lc_overlay_card hostile = {.title = "a\nb\x01" "c\xff", .price = "¥1", .original_price = ""};
  lc_overlay_set_card(o, &hostile);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 2);
  json_t *c = element_status(o, "card", T0, &st);
  json_t *content = json_object_get(c, "content");
  /* control characters become spaces, invalid UTF-8 the replacement character */
  g_assert_cmpstr(json_string_value(json_object_get(content, "title")), ==, "a b c\xef\xbf\xbd");
  g_assert_true(json_is_null(json_object_get(content, "original_price")));
  g_assert_true(json_is_null(json_object_get(content, "image")));
  g_assert_true(json_is_true(json_object_get(c, "shown")));
  json_decref(st);
  lc_overlay_set_card(o, NULL);
  c = element_status(o, "card", T0, &st);
  g_assert_true(json_is_null(json_object_get(c, "content")));
  json_decref(st);

  /* flash: seconds_left is ceil((ends - now) / 1000) */
  lc_overlay_flash f = {.title = "杯", .price = "¥49", .ends_at_ms = T0 + 61001, .stock_left = 23, .stock_total = 100};
  lc_overlay_set_flash(o, &f);
  json_t *fl = element_status(o, "flash", T0, &st);
  g_assert_cmpint(json_integer_value(json_object_get(json_object_get(fl, "content"), "seconds_left")), ==, 62);
  json_decref(st);
  fl = element_status(o, "flash", T0 + 61000, &st);
  g_assert_cmpint(json_integer_value(json_object_get(json_object_get(fl, "content"), "seconds_left")), ==, 1);
  json_decref(st);
  fl = element_status(o, "flash", T0 + 90000, &st);
  g_assert_cmpint(json_integer_value(json_object_get(json_object_get(fl, "content"), "seconds_left")), ==, 0);
  json_decref(st);
  guint64 before = lc_overlay_version(o);
  f.sold_out = true;
  f.stock_left = 0;
  lc_overlay_set_flash(o, &f);
  g_assert_cmpuint(lc_overlay_version(o), ==, before + 1);
  fl = element_status(o, "flash", T0, &st);
  g_assert_true(json_is_true(json_object_get(json_object_get(fl, "content"), "sold_out")));
  json_decref(st);

  /* coupon: shown until until_ms */
  lc_overlay_set_coupon(o, "满 200 减 30", T0 + 30000);
  json_t *cp = element_status(o, "coupon", T0 + 29999, &st);
  g_assert_true(json_is_true(json_object_get(cp, "shown")));
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(cp, "content"), "text")), ==, "满 200 减 30");
  json_decref(st);
  cp = element_status(o, "coupon", T0 + 30000, &st);
  g_assert_false(json_is_true(json_object_get(cp, "shown")));
  json_decref(st);
  lc_overlay_set_coupon(o, NULL, 0);
  cp = element_status(o, "coupon", T0, &st);
  g_assert_true(json_is_null(json_object_get(cp, "content")));
  json_decref(st);

  /* logo; a hidden element is not shown but keeps its content */
  lc_overlay_set_logo(o, "logo.svg");
  lc_overlay_set_visible(o, LC_OV_LOGO, false);
  json_t *lg = element_status(o, "logo", T0, &st);
  g_assert_false(json_is_true(json_object_get(lg, "shown")));
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(lg, "content"), "image")), ==, "logo.svg");
  json_decref(st);
  before = lc_overlay_version(o);
  lc_overlay_set_logo(o, "logo.svg");
  g_assert_cmpuint(lc_overlay_version(o), ==, before);
  lc_overlay_set_logo(o, NULL);
  g_assert_cmpuint(lc_overlay_version(o), ==, before + 1);
  lc_overlay_unref(o);
}

/* ---- gift burst ---- */

/* The gift element's content at now (borrowed from *st) and whether it is shown. */
static json_t *
gift_at(lc_overlay *o, int64_t now, json_t **st, bool *shown)
{
  json_t *g = element_status(o, "gift", now, st);
  *shown = json_is_true(json_object_get(g, "shown"));
  return json_object_get(g, "content");
}

/* Asserts what the burst shows at now: the combo and its count, or nothing (id NULL). */
static void
assert_gift(lc_overlay *o, int64_t now, const char *combo_id, int64_t count)
{
  json_t *st;
  bool shown;
  json_t *c = gift_at(o, now, &st, &shown);
  const char *id = json_string_value(json_object_get(c, "combo_id"));
  if (combo_id ? !shown || g_strcmp0(id, combo_id) != 0 || json_integer_value(json_object_get(c, "count")) != count
               : shown)
    g_error("at +%" G_GINT64_FORMAT " ms: gift %s x%" G_GINT64_FORMAT " shown %d, want %s x%" G_GINT64_FORMAT,
            (gint64)(now - T0), id ? id : "-", (gint64)json_integer_value(json_object_get(c, "count")), shown,
            combo_id ? combo_id : "(nothing)", (gint64)count);
  json_decref(st);
}

static lc_overlay_gift
combo(const char *id, const char *by, const char *name, int64_t count, int64_t coins)
{
  return (lc_overlay_gift){.combo_id = id, .by = by, .name = name, .icon = "🌹", .count = count, .coins = coins};
}

static void
test_gift_burst(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  assert_gift(o, T0, NULL, 0);

  /* a combo shows at once, for 3 s after its last gift */
  lc_overlay_gift rose = combo("cb-1", "张**", "玫瑰", 1, 10);
  guint64 v = lc_overlay_version(o);
  lc_overlay_gift_push(o, &rose, T0);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  assert_gift(o, T0, "cb-1", 1);
  json_t *st;
  bool shown;
  json_t *c = gift_at(o, T0, &st, &shown);
  g_assert_cmpstr(json_string_value(json_object_get(c, "by")), ==, "张**");
  g_assert_cmpstr(json_string_value(json_object_get(c, "name")), ==, "玫瑰");
  g_assert_cmpstr(json_string_value(json_object_get(c, "icon")), ==, "🌹");
  g_assert_cmpstr(json_string_value(json_object_get(c, "class")), ==, "small");
  g_assert_cmpint(json_integer_value(json_object_get(c, "until_ms")), ==, T0 + 3000);
  json_decref(st);
  /* the combo goes on: x7, 3 s from its last gift */
  rose.count = 7;
  rose.coins = 70;
  lc_overlay_gift_push(o, &rose, T0 + 1000);
  assert_gift(o, T0 + 3999, "cb-1", 7);
  assert_gift(o, T0 + 4000, NULL, 0);
  /* the same again changes nothing */
  v = lc_overlay_version(o);
  lc_overlay_gift_push(o, &rose, T0 + 1000);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);

  /* a more valuable combo takes the screen; a cheaper one waits its turn (it is dropped) */
  lc_overlay_gift rocket = combo("cb-2", "Lin**", "火箭", 1, 5000);
  rocket.gift_class = LC_OVERLAY_GIFT_FULLSCREEN;
  lc_overlay_gift_push(o, &rocket, T0 + 1500);
  assert_gift(o, T0 + 1500, "cb-2", 1);
  v = lc_overlay_version(o);
  rose.count = 8;
  rose.coins = 80;
  lc_overlay_gift_push(o, &rose, T0 + 2000);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);
  assert_gift(o, T0 + 2000, "cb-2", 1);
  /* the rocket's own combo extends it */
  rocket.count = 2;
  rocket.coins = 10000;
  lc_overlay_gift_push(o, &rocket, T0 + 2500);
  assert_gift(o, T0 + 5499, "cb-2", 2);
  assert_gift(o, T0 + 5500, NULL, 0);
  /* once it is over, any combo shows again */
  rose.count = 9;
  lc_overlay_gift_push(o, &rose, T0 + 5500);
  assert_gift(o, T0 + 5500, "cb-1", 9);
  /* an equal value replaces (the newer one) */
  lc_overlay_gift heart = combo("cb-3", "a***", "Heart", 3, 80);
  lc_overlay_gift_push(o, &heart, T0 + 5600);
  assert_gift(o, T0 + 5600, "cb-3", 3);

  /* the time of the combo's last gift counts, not when the event came; a combo over already
   * is not shown, one in the future is now */
  lc_overlay_gift late = combo("cb-4", "b***", "Star", 4, 1);
  late.last_at_ms = T0 + 10000 - 3000;
  lc_overlay_gift_push(o, &late, T0 + 10000);
  assert_gift(o, T0 + 10000, NULL, 0);
  late.last_at_ms = T0 + 10000 - 2500;
  lc_overlay_gift_push(o, &late, T0 + 10000);
  assert_gift(o, T0 + 10499, "cb-4", 4);
  assert_gift(o, T0 + 10500, NULL, 0);
  late.last_at_ms = T0 + 99999;
  late.count = 5;
  lc_overlay_gift_push(o, &late, T0 + 20000);
  assert_gift(o, T0 + 22999, "cb-4", 5);
  assert_gift(o, T0 + 23000, NULL, 0);

  /* no count, no gift; a huge one is capped */
  v = lc_overlay_version(o);
  lc_overlay_gift none = combo("cb-5", "c**", "Rose", 0, 1000000);
  lc_overlay_gift_push(o, &none, T0 + 30000);
  none.count = -1;
  lc_overlay_gift_push(o, &none, T0 + 30000);
  lc_overlay_gift_push(o, NULL, T0 + 30000);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);
  none.count = G_MAXINT64;
  lc_overlay_gift_push(o, &none, T0 + 30000);
  assert_gift(o, T0 + 30000, "cb-5", 999999);

  /* clear: off the screen at once */
  lc_overlay_gift_clear(o);
  assert_gift(o, T0 + 30000, NULL, 0);
  c = gift_at(o, T0 + 30000, &st, &shown);
  g_assert_true(json_is_null(c));
  json_decref(st);
  v = lc_overlay_version(o);
  lc_overlay_gift_clear(o);
  g_assert_cmpuint(lc_overlay_version(o), ==, v);

  /* a hidden element keeps the burst but does not show it */
  lc_overlay_gift_push(o, &rose, T0 + 40000);
  lc_overlay_set_visible(o, LC_OV_GIFT, false);
  assert_gift(o, T0 + 40000, NULL, 0);
  lc_overlay_set_visible(o, LC_OV_GIFT, true);
  assert_gift(o, T0 + 40000, "cb-1", 9);
  lc_overlay_unref(o);
}

/* What the sender, the icon and the line become. */
static void
test_gift_strings(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  struct {
    const char *by, *icon, *want_by, *want_icon;
  } cases[] = {
    {"张**", "🌹", "张**", "🌹"},
    {"Lindsay", "https://cdn.example.com/rose.png", "Lin**", NULL}, /* a whole name is masked here */
    {NULL, "rose", "***", NULL},
    {"王小明", "❤️", "王**", "❤️"},                                /* ❤ + VS16 */
    {"a***", "👍🏽", "a***", "👍🏽"},                               /* skin tone */
    {"x**", "👨‍👩‍👧", "x**", "👨‍👩‍👧"},                           /* ZWJ sequence */
    {"y**", "🌹🌹🌹🌹🌹🌹🌹🌹🌹", "y**", NULL},                     /* too long for an icon */
    {"z**", "★ Rose", "z**", NULL},                                /* text with it */
    {"q**", "1", "q**", NULL},
    {"\xe2\x80\xae" "evil**", "\xff", "evil**", NULL},              /* bidi control dropped, bad UTF-8 */
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *id = g_strdup_printf("cb-%u", i);
    lc_overlay_gift g = {.combo_id = id, .by = cases[i].by, .name = "Rose", .icon = cases[i].icon, .count = 1,
                         .coins = 100 + i};
    lc_overlay_gift_push(o, &g, T0 + i);
    json_t *st;
    bool shown;
    json_t *c = gift_at(o, T0 + i, &st, &shown);
    g_assert_true(shown);
    g_assert_cmpstr(json_string_value(json_object_get(c, "combo_id")), ==, id);
    g_assert_cmpstr(json_string_value(json_object_get(c, "by")), ==, cases[i].want_by);
    g_assert_cmpstr(json_string_value(json_object_get(c, "icon")), ==, cases[i].want_icon);
    json_decref(st);
  }
  g_assert_true(lc__ov_is_emoji("🎁"));
  g_assert_false(lc__ov_is_emoji(""));
  g_assert_false(lc__ov_is_emoji(NULL));
  g_assert_false(lc__ov_is_emoji("\xe2\x80\x8d")); /* a joiner alone */
  g_assert_false(lc__ov_is_emoji("玫"));

  /* the line in both languages, with and without the icon; the count apart */
  lc__ov_gift g = {.by = "张**", .name = "玫瑰", .icon = "🌹", .count = 7};
  g_autofree char *zh = lc__ov_gift_text(LC__OV_LANG_ZH, &g, true);
  g_assert_cmpstr(zh, ==, "张** 送出 🌹 玫瑰");
  g_autofree char *zh_plain = lc__ov_gift_text(LC__OV_LANG_ZH, &g, false);
  g_assert_cmpstr(zh_plain, ==, "张** 送出 玫瑰");
  g.name = "Rose";
  g_autofree char *en = lc__ov_gift_text(LC__OV_LANG_EN, &g, false);
  g_assert_cmpstr(en, ==, "张** sent Rose");
  g.icon = NULL;
  g_autofree char *en_icon = lc__ov_gift_text(LC__OV_LANG_EN, &g, true); /* no icon to draw */
  g_assert_cmpstr(en_icon, ==, "张** sent Rose");
  char count[32];
  lc__ov_gift_count_text(&g, count, sizeof count);
  g_assert_cmpstr(count, ==, "x7");
  lc_overlay_unref(o);
}

/* ---- group buy ---- */

static json_t *
group_content(lc_overlay *o, int64_t now, json_t **st, bool *shown)
{
  json_t *g = element_status(o, "group", now, st);
  *shown = json_is_true(json_object_get(g, "shown"));
  return json_object_get(g, "content");
}

static void
test_group_progress(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  json_t *st;
  bool shown;
  json_t *c = group_content(o, T0, &st, &shown);
  g_assert_false(shown);
  g_assert_true(json_is_null(c));
  json_decref(st);

  /* the deal alone (group.opened): no seats, no countdown */
  lc_overlay_group g = {.title = "T恤 M", .price = "¥49.00", .team_size = 3, .seats = -1, .deadline_ms = T0 + 5000};
  lc_overlay_set_group(o, &g);
  c = group_content(o, T0, &st, &shown);
  g_assert_true(shown);
  g_assert_cmpstr(json_string_value(json_object_get(c, "price")), ==, "¥49.00");
  g_assert_cmpstr(json_string_value(json_object_get(c, "title")), ==, "T恤 M");
  g_assert_cmpint(json_integer_value(json_object_get(c, "team_size")), ==, 3);
  g_assert_true(json_is_null(json_object_get(c, "seats")));
  g_assert_true(json_is_null(json_object_get(c, "deadline_ms"))); /* no team: no deadline */
  g_assert_true(json_is_null(json_object_get(c, "seconds_left")));
  g_assert_false(json_is_true(json_object_get(c, "formed")));
  json_decref(st);

  /* a team: 2/3, 08:12 left */
  g.seats = 2;
  g.deadline_ms = T0 + 492000;
  guint64 v = lc_overlay_version(o);
  lc_overlay_set_group(o, &g);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  lc_overlay_set_group(o, &g);
  g_assert_cmpuint(lc_overlay_version(o), ==, v + 1);
  c = group_content(o, T0, &st, &shown);
  g_assert_cmpint(json_integer_value(json_object_get(c, "seats")), ==, 2);
  g_assert_cmpint(json_integer_value(json_object_get(c, "seconds_left")), ==, 492);
  json_decref(st);
  c = group_content(o, T0 + 491001, &st, &shown);
  g_assert_cmpint(json_integer_value(json_object_get(c, "seconds_left")), ==, 1);
  json_decref(st);
  c = group_content(o, T0 + 600000, &st, &shown); /* past the deadline: 00:00 until the app says */
  g_assert_true(shown);
  g_assert_cmpint(json_integer_value(json_object_get(c, "seconds_left")), ==, 0);
  json_decref(st);
  char clock[32];
  lc__ov_clock_text(492, clock, sizeof clock);
  g_assert_cmpstr(clock, ==, "08:12");
  lc__ov_clock_text(3600 * 23 + 61, clock, sizeof clock);
  g_assert_cmpstr(clock, ==, "23:01:01");
  lc__ov_clock_text(-5, clock, sizeof clock);
  g_assert_cmpstr(clock, ==, "00:00");

  /* formed: the notice for its 3 s, then what comes after it (here: no other team) */
  g = (lc_overlay_group){.title = "T恤 M", .price = "¥49.00", .team_size = 3, .seats = -1,
                         .formed_until_ms = T0 + 20000 + LC_OVERLAY_GROUP_FORMED_MS};
  lc_overlay_set_group(o, &g);
  c = group_content(o, T0 + 22999, &st, &shown);
  g_assert_true(json_is_true(json_object_get(c, "formed")));
  json_decref(st);
  c = group_content(o, T0 + 23000, &st, &shown);
  g_assert_true(shown);
  g_assert_false(json_is_true(json_object_get(c, "formed")));
  json_decref(st);
  /* the views redraw when the key moves: the notice, then the team's countdown second, or the
   * deal alone */
  lc__ov_elem el = {.has = true, .place = {.visible = true}};
  el.group = (lc__ov_group){.team_size = 3, .seats = 2, .deadline_ms = T0 + 10000, .formed_until_ms = T0 + 3000};
  int64_t key;
  g_assert_true(lc__ov_shown(LC_OV_GROUP, &el, T0, &key));
  g_assert_cmpint(key, ==, -2);
  g_assert_true(lc__ov_shown(LC_OV_GROUP, &el, T0 + 3000, &key));
  g_assert_cmpint(key, ==, 7);
  el.group.seats = -1;
  g_assert_true(lc__ov_shown(LC_OV_GROUP, &el, T0 + 3000, &key));
  g_assert_cmpint(key, ==, -1);
  el.place.visible = false;
  g_assert_false(lc__ov_shown(LC_OV_GROUP, &el, T0 + 3000, &key));

  /* out-of-range numbers are clamped */
  g = (lc_overlay_group){.price = "¥1", .team_size = 0, .seats = 5, .deadline_ms = -4};
  lc_overlay_set_group(o, &g);
  c = group_content(o, T0, &st, &shown);
  g_assert_cmpint(json_integer_value(json_object_get(c, "team_size")), ==, 1);
  g_assert_cmpint(json_integer_value(json_object_get(c, "seats")), ==, 1);
  g_assert_true(json_is_null(json_object_get(c, "deadline_ms")));
  g_assert_true(json_is_null(json_object_get(c, "title")));
  json_decref(st);
  g.team_size = 1000;
  lc_overlay_set_group(o, &g);
  c = group_content(o, T0, &st, &shown);
  g_assert_cmpint(json_integer_value(json_object_get(c, "team_size")), ==, 99);
  json_decref(st);

  /* the deal closed: hidden */
  lc_overlay_set_group(o, NULL);
  c = group_content(o, T0, &st, &shown);
  g_assert_false(shown);
  g_assert_true(json_is_null(c));
  json_decref(st);
  lc_overlay_unref(o);
}

static void
test_ref_across_threads_worker(gpointer data, gpointer user)
{
  lc_overlay *o = data;
  for (int i = 0; i < 1000; i++)
    lc_overlay_unref(lc_overlay_ref(o));
  lc_overlay_unref(o);
}

static void
test_refcount(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  GThreadPool *pool = g_thread_pool_new(test_ref_across_threads_worker, NULL, 4, FALSE, NULL);
  for (int i = 0; i < 8; i++)
    g_thread_pool_push(pool, lc_overlay_ref(o), NULL);
  g_thread_pool_free(pool, FALSE, TRUE);
  json_t *st = lc_overlay_status(o, T0); /* still alive: our ref */
  json_decref(st);
  lc_overlay_unref(o);
  lc_overlay_unref(NULL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/overlays/scene/config_valid", test_config_valid);
  g_test_add_func("/overlays/scene/config_errors", test_config_errors);
  g_test_add_func("/overlays/scene/configure_atomic", test_configure_atomic);
  g_test_add_func("/overlays/scene/place_and_visible", test_place_and_visible);
  g_test_add_func("/overlays/scene/element_names", test_element_names);
  g_test_add_func("/overlays/scene/text_rules", test_text_rules);
  g_test_add_func("/overlays/scene/mask_name", test_mask_name);
  g_test_add_func("/overlays/scene/ticker", test_ticker);
  g_test_add_func("/overlays/scene/status_and_version", test_status_and_version);
  g_test_add_func("/overlays/scene/gift_burst", test_gift_burst);
  g_test_add_func("/overlays/scene/gift_strings", test_gift_strings);
  g_test_add_func("/overlays/scene/group_progress", test_group_progress);
  g_test_add_func("/overlays/scene/refcount", test_refcount);
  return g_test_run();
}

/* Catalog parsing, validation messages, canonical JSON and money formatting. */
#include "commerce/catalog.h"
#include "commerce/wordfilter.h"

#include <string.h>

static char *
src_path(const char *rel)
{
  const char *src = g_getenv("LC_SRCDIR");
  g_assert_nonnull(src); /* set by meson test */
  return g_build_filename(src, rel, NULL);
}

static lc_catalog *
load_demo(void)
{
  char *path = src_path("conf/demo/catalog.json");
  char *text = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &text, &len, NULL));
  char *err = NULL;
  lc_catalog *c = lc_catalog_parse(text, len, 10, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_nonnull(c);
  g_free(text);
  g_free(path);
  return c;
}

static void
test_demo(void)
{
  lc_catalog *c = load_demo();
  g_assert_cmpstr(c->currency, ==, "CNY");
  g_assert_cmpint(c->exponent, ==, 2);
  g_assert_cmpint(c->n_products, ==, 24);
  int seen = 0;
  for (int p = 0; p < c->n_products; p++) {
    const lc_product *pr = &c->products[p];
    g_assert_cmpint(lc_catalog_product(c, pr->id), ==, p);
    g_assert_cmpint(pr->n_skus, >=, 1);
    g_assert_cmpint(pr->n_skus, <=, 4);
    g_assert_cmpint(pr->first_sku, ==, seen);
    g_assert_true(g_str_has_prefix(pr->image, "/demo/img/"));
    g_assert_true(g_str_has_suffix(pr->image, ".svg"));
    char *img = g_strdup_printf("web%s", pr->image);
    char *img_path = src_path(img);
    g_assert_true(g_file_test(img_path, G_FILE_TEST_IS_REGULAR));
    g_free(img_path);
    g_free(img);
    for (int k = 0; k < pr->n_skus; k++) {
      int s = pr->first_sku + k;
      const lc_sku *sku = &c->skus[s];
      g_assert_cmpint(lc_catalog_sku(c, sku->id), ==, s);
      g_assert_cmpint(sku->product, ==, p);
      g_assert_cmpint(sku->original_price, >=, sku->price);
      g_assert_cmpint(sku->stock, >=, 3);
      g_assert_cmpint(sku->stock, <=, 500);
    }
    seen += pr->n_skus;
  }
  g_assert_cmpint(seen, ==, c->n_skus);
  g_assert_cmpint(lc_catalog_sku(c, "no-such-sku"), ==, -1);
  g_assert_cmpint(lc_catalog_product(c, "no-such-product"), ==, -1);
  g_assert_cmpint(lc_catalog_sku(c, NULL), ==, -1);
  /* A known entry, with a product-level threshold and the call's default elsewhere. */
  int s = lc_catalog_sku(c, "k-thermos-blue-600");
  g_assert_cmpint(s, >=, 0);
  g_assert_cmpint(c->skus[s].price, ==, 12900);
  g_assert_cmpstr(c->skus[s].label, ==, "雾蓝 600ml");
  g_assert_cmpint(c->products[c->skus[s].product].low_stock_threshold, ==, 10);
  g_assert_cmpint(c->products[lc_catalog_product(c, "s-mooncake")].low_stock_threshold, ==, 2);
  lc_catalog_free(c);
}

/* The demo catalog must pass the engine's ad-law check. */
static void
test_demo_compliant(void)
{
  lc_catalog *c = load_demo();
  lc_wordfilter *wf = lc_wordfilter_new();
  char *path = src_path("conf/wordfilter/adlaw.txt");
  char *err = NULL;
  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, 0);
  for (int p = 0; p < c->n_products; p++) {
    const char *m = NULL;
    const lc_product *pr = &c->products[p];
    if (lc_wordfilter_match(wf, pr->title, strlen(pr->title), &m) ||
        lc_wordfilter_match(wf, pr->subtitle, strlen(pr->subtitle), &m))
      g_error("product %s: ad-law word \"%s\"", pr->id, m);
  }
  g_free(path);
  lc_wordfilter_free(wf);
  lc_catalog_free(c);
}

static void
test_public_json(void)
{
  lc_catalog *c = load_demo();
  int p = lc_catalog_product(c, "k-mug");
  json_t *j = lc_catalog_product_json(c, p);
  g_assert_nonnull(j);
  g_assert_cmpstr(json_string_value(json_object_get(j, "id")), ==, "k-mug");
  g_assert_cmpint(json_object_size(j), ==, 5);
  json_t *skus = json_object_get(j, "skus");
  g_assert_cmpint(json_array_size(skus), ==, 4);
  json_t *s0 = json_array_get(skus, 0);
  g_assert_cmpint(json_object_size(s0), ==, 4);
  g_assert_null(json_object_get(s0, "stock"));
  g_assert_cmpint(json_integer_value(json_object_get(s0, "price")), ==, 4500);
  g_assert_cmpint(json_integer_value(json_object_get(s0, "original_price")), ==, 5900);
  json_decref(j);
  g_assert_null(lc_catalog_product_json(c, -1));
  g_assert_null(lc_catalog_product_json(c, c->n_products));
  lc_catalog_free(c);
}

static void
assert_equal(const lc_catalog *a, const lc_catalog *b)
{
  g_assert_cmpstr(a->currency, ==, b->currency);
  g_assert_cmpint(a->exponent, ==, b->exponent);
  g_assert_cmpint(a->n_products, ==, b->n_products);
  g_assert_cmpint(a->n_skus, ==, b->n_skus);
  for (int i = 0; i < a->n_products; i++) {
    const lc_product *x = &a->products[i], *y = &b->products[i];
    g_assert_cmpstr(x->id, ==, y->id);
    g_assert_cmpstr(x->title, ==, y->title);
    g_assert_cmpstr(x->subtitle, ==, y->subtitle);
    g_assert_cmpstr(x->image, ==, y->image);
    g_assert_cmpint(x->low_stock_threshold, ==, y->low_stock_threshold);
    g_assert_cmpint(x->first_sku, ==, y->first_sku);
    g_assert_cmpint(x->n_skus, ==, y->n_skus);
  }
  for (int i = 0; i < a->n_skus; i++) {
    const lc_sku *x = &a->skus[i], *y = &b->skus[i];
    g_assert_cmpstr(x->id, ==, y->id);
    g_assert_cmpstr(x->label, ==, y->label);
    g_assert_cmpint(x->price, ==, y->price);
    g_assert_cmpint(x->original_price, ==, y->original_price);
    g_assert_cmpint(x->stock, ==, y->stock);
    g_assert_cmpint(x->product, ==, y->product);
  }
}

static void
test_round_trip(void)
{
  lc_catalog *c = load_demo();
  json_t *j = lc_catalog_to_json(c);
  char *err = NULL;
  /* A different default must not matter: every field is explicit in the canonical form. */
  lc_catalog *d = lc_catalog_from_json(j, 99, &err);
  g_assert_cmpstr(err, ==, NULL);
  assert_equal(c, d);
  json_t *j2 = lc_catalog_to_json(d);
  g_assert_true(json_equal(j, j2));
  json_decref(j2);
  json_decref(j);
  lc_catalog_free(d);
  lc_catalog_free(c);

  /* Defaults are filled in: label "", original_price = price, subtitle/image "". */
  const char *min = "{\"currency\":\"JPY\",\"products\":[{\"id\":\"p\",\"title\":\"T\",\"skus\":"
                    "[{\"id\":\"s\",\"price\":500,\"stock\":0}]}]}";
  c = lc_catalog_parse(min, strlen(min), 7, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_cmpint(c->exponent, ==, 0);
  g_assert_cmpint(c->skus[0].original_price, ==, 500);
  g_assert_cmpstr(c->skus[0].label, ==, "");
  g_assert_cmpstr(c->products[0].subtitle, ==, "");
  g_assert_cmpint(c->products[0].low_stock_threshold, ==, 7);
  j = lc_catalog_to_json(c);
  char *s = json_dumps(j, JSON_COMPACT);
  g_assert_cmpstr(s, ==, "{\"currency\":\"JPY\",\"products\":[{\"id\":\"p\",\"title\":\"T\",\"subtitle\":\"\","
                         "\"image\":\"\",\"low_stock_threshold\":7,\"skus\":[{\"id\":\"s\",\"label\":\"\","
                         "\"price\":500,\"original_price\":500,\"stock\":0}]}]}");
  free(s);
  json_decref(j);
  lc_catalog_free(c);

  /* An empty catalog is valid. */
  const char *empty = "{\"currency\":\"USD\",\"products\":[]}";
  c = lc_catalog_parse(empty, strlen(empty), 0, &err);
  g_assert_nonnull(c);
  g_assert_cmpint(c->n_products, ==, 0);
  g_assert_cmpint(lc_catalog_sku(c, "x"), ==, -1);
  lc_catalog_free(c);
}

/* hold_limit: optional on the catalog and on each SKU (0: no cap), absent means inherited;
 * it round-trips and is kept out of the public product JSON (the engine adds the effective one). */
static void
test_hold_limit(void)
{
  const char *text = "{\"currency\":\"CNY\",\"hold_limit\":3,\"products\":[{\"id\":\"p\",\"title\":\"T\",\"skus\":["
                     "{\"id\":\"a\",\"price\":1,\"stock\":9},{\"id\":\"b\",\"price\":1,\"stock\":9,\"hold_limit\":0},"
                     "{\"id\":\"c\",\"price\":1,\"stock\":9,\"hold_limit\":12}]}]}";
  char *err = NULL;
  lc_catalog *c = lc_catalog_parse(text, strlen(text), 0, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_cmpint(c->hold_limit, ==, 3);
  g_assert_cmpint(c->skus[0].hold_limit, ==, -1);
  g_assert_cmpint(lc_catalog_hold_limit(c, 0, 10), ==, 3);
  g_assert_cmpint(lc_catalog_hold_limit(c, 1, 10), ==, 0);
  g_assert_cmpint(lc_catalog_hold_limit(c, 2, 10), ==, 12);
  g_assert_cmpint(lc_catalog_hold_limit(c, 99, 10), ==, 3); /* out of range: the catalog's */
  json_t *j = lc_catalog_to_json(c);
  lc_catalog *d = lc_catalog_from_json(j, 0, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_cmpint(d->hold_limit, ==, 3);
  g_assert_cmpint(d->skus[0].hold_limit, ==, -1);
  g_assert_cmpint(d->skus[2].hold_limit, ==, 12);
  json_t *j2 = lc_catalog_to_json(d);
  g_assert_true(json_equal(j, j2));
  json_t *pub = lc_catalog_product_json(c, 0);
  g_assert_null(json_object_get(json_array_get(json_object_get(pub, "skus"), 2), "hold_limit"));
  json_decref(pub);
  json_decref(j);
  json_decref(j2);
  lc_catalog_free(c);
  lc_catalog_free(d);
  /* without any: the room's default */
  const char *none = "{\"currency\":\"CNY\",\"products\":[{\"id\":\"p\",\"title\":\"T\",\"skus\":[{\"id\":\"a\",\"price\":1,\"stock\":9}]}]}";
  c = lc_catalog_parse(none, strlen(none), 0, &err);
  g_assert_cmpint(lc_catalog_hold_limit(c, 0, 10), ==, 10);
  g_assert_cmpint(lc_catalog_hold_limit(c, 0, -5), ==, 0);
  lc_catalog_free(c);
  static const char *const bad_limits[][2] = {
    {"{\"currency\":\"CNY\",\"hold_limit\":-1,\"products\":[]}", "hold_limit: must be an integer from 0"},
    {"{\"currency\":\"CNY\",\"hold_limit\":\"5\",\"products\":[]}", "hold_limit: must be an integer from 0"},
    {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"p\",\"title\":\"T\",\"skus\":[{\"id\":\"a\",\"price\":1,\"stock\":9,"
     "\"hold_limit\":1.5}]}]}", "products[0].skus[0].hold_limit: must be an integer from 0"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_limits); i++) {
    c = lc_catalog_parse(bad_limits[i][0], strlen(bad_limits[i][0]), 0, &err);
    g_assert_null(c);
    g_assert_true(g_str_has_prefix(err, bad_limits[i][1]));
    g_free(err);
    err = NULL;
  }
}

/* Bad catalogs: each must fail with a message starting with the exact field path. The products
 * are built from the template with one replacement. */
static const struct {
  const char *json;
  const char *prefix;
} bad[] = {
  {"[1]", "catalog: must be a JSON object"},
  {"{\"currency\":\"CNY\",\"products\":[]", "catalog: invalid JSON at line 1"},
  {"{\"currency\":\"CNY\",\"currency\":\"USD\",\"products\":[]}", "catalog: invalid JSON"},
  {"{\"products\":[]}", "currency: required"},
  {"{\"currency\":\"cny\",\"products\":[]}", "currency: unknown currency \"cny\""},
  {"{\"currency\":\"XXX\",\"products\":[]}", "currency: unknown currency"},
  {"{\"currency\":5,\"products\":[]}", "currency: must be a string"},
  {"{\"currency\":\"CNY\"}", "products: required"},
  {"{\"currency\":\"CNY\",\"products\":{}}", "products: must be an array of at most 1000 products"},
  {"{\"currency\":\"CNY\",\"products\":[],\"prodcts\":1}", "prodcts: unknown field"},
  {"{\"currency\":\"CNY\",\"products\":[7]}", "products[0]: must be an object"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]},"
   "{\"id\":\"b\",\"title\":\"B\",\"skus\":[{\"id\":\"b1\",\"price\":1,\"stock\":1,\"colour\":\"red\"}]}]}",
   "products[1].skus[0].colour: unknown field"},
  {"{\"currency\":\"CNY\",\"products\":[{\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].id: required"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a b\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].id: must be 1-64 characters of A-Z a-z 0-9 _ . -"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].title: must be 1 to 200 bytes long"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\\u0007\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].title: must be UTF-8 text without control characters"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"subtitle\":3,\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].subtitle: must be a string"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"low_stock_threshold\":-1,\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]}]}",
   "products[0].low_stock_threshold: must be an integer from 0 to 1000000000"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\"}]}", "products[0].skus: required"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[]}]}",
   "products[0].skus: must be an array of at least one SKU"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1},"
   "{\"id\":\"a2\",\"price\":1}]}]}", "products[0].skus[1].stock: required"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":10000000001,\"stock\":1}]}]}",
   "products[0].skus[0].price: must be an integer from 0 to 10000000000"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1.5,\"stock\":1}]}]}",
   "products[0].skus[0].price: must be an integer from 0 to 10000000000"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":\"100\",\"stock\":1}]}]}",
   "products[0].skus[0].price: must be an integer"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":100,\"original_price\":99,\"stock\":1}]}]}",
   "products[0].skus[0].original_price: must not be below price (100)"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1000000001}]}]}",
   "products[0].skus[0].stock: must be an integer from 0 to 1000000000"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"label\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"price\":1,\"stock\":1}]}]}",
   "products[0].skus[0].label: must be 0 to 100 bytes long"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[\"a1\"]}]}",
   "products[0].skus[0]: must be an object"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"a1\",\"price\":1,\"stock\":1}]},"
   "{\"id\":\"b\",\"title\":\"B\",\"skus\":[{\"id\":\"b1\",\"price\":1,\"stock\":1}]},"
   "{\"id\":\"a\",\"title\":\"C\",\"skus\":[{\"id\":\"c1\",\"price\":1,\"stock\":1}]}]}",
   "products[2].id: duplicate product id \"a\" (also products[0].id)"},
  {"{\"currency\":\"CNY\",\"products\":[{\"id\":\"a\",\"title\":\"A\",\"skus\":[{\"id\":\"x0\",\"price\":1,\"stock\":1},"
   "{\"id\":\"dup\",\"price\":1,\"stock\":1}]},"
   "{\"id\":\"b\",\"title\":\"B\",\"skus\":[{\"id\":\"b1\",\"price\":1,\"stock\":1},{\"id\":\"dup\",\"price\":1,\"stock\":1}]}]}",
   "products[1].skus[1].id: duplicate SKU id \"dup\" (also products[0].skus[1].id)"},
};

static void
test_errors(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *err = NULL;
    lc_catalog *c = lc_catalog_parse(bad[i].json, strlen(bad[i].json), 5, &err);
    if (c || !err || !g_str_has_prefix(err, bad[i].prefix))
      g_error("case %zu: expected \"%s...\", got \"%s\"", i, bad[i].prefix, err ? err : "(success)");
    g_free(err);
  }
  /* Embedded NUL in the text, NULL text, and err NULL are handled. */
  char *err = NULL;
  g_assert_null(lc_catalog_parse("{\"a\":\0}", 7, 5, &err));
  g_assert_nonnull(err);
  g_free(err);
  g_assert_null(lc_catalog_parse(NULL, 0, 5, NULL));
}

static void
test_limits(void)
{
  /* 1001 products -> error; 5001 SKUs -> error naming products. */
  GString *s = g_string_new("{\"currency\":\"CNY\",\"products\":[");
  for (int i = 0; i < 1001; i++)
    g_string_append_printf(s, "%s{\"id\":\"p%d\",\"title\":\"t\",\"skus\":[{\"id\":\"s%d\",\"price\":1,\"stock\":1}]}",
                           i ? "," : "", i, i);
  g_string_append(s, "]}");
  char *err = NULL;
  g_assert_null(lc_catalog_parse(s->str, s->len, 0, &err));
  g_assert_cmpstr(err, ==, "products: must be an array of at most 1000 products");
  g_free(err);
  g_string_assign(s, "{\"currency\":\"CNY\",\"products\":[");
  for (int i = 0; i < 1000; i++) {
    g_string_append_printf(s, "%s{\"id\":\"p%d\",\"title\":\"t\",\"skus\":[", i ? "," : "", i);
    for (int k = 0; k < 5 + (i == 999); k++)
      g_string_append_printf(s, "%s{\"id\":\"s%d-%d\",\"price\":1,\"stock\":1}", k ? "," : "", i, k);
    g_string_append(s, "]}");
  }
  g_string_append(s, "]}");
  err = NULL;
  g_assert_null(lc_catalog_parse(s->str, s->len, 0, &err));
  g_assert_cmpstr(err, ==, "products: too many SKUs (5001, at most 5000 in a catalog)");
  g_free(err);
  g_string_free(s, TRUE);
}

static void
test_money(void)
{
  struct {
    const char *cur;
    int exp;
    gint64 minor;
    const char *want;
  } cases[] = {
    {"CNY", 2, 12900, "¥129.00"},
    {"CNY", 2, 5, "¥0.05"},
    {"CNY", 2, 0, "¥0.00"},
    {"CNY", 2, -12345, "-¥123.45"},
    {"USD", 2, 550, "$5.50"},
    {"EUR", 2, 310, "€3.10"},
    {"JPY", 0, 500, "JPY 500"},
    {"JPY", 0, 0, "JPY 0"},
    {"JPY", 0, -7, "-JPY 7"},
    {"KRW", 0, 1000000, "KRW 1000000"},
    {"HKD", 2, 199, "HKD 1.99"},
    {"CNY", 2, G_MININT64, "-¥92233720368547758.08"},
    {"CNY", 2, G_MAXINT64, "¥92233720368547758.07"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *s = lc_money_format(cases[i].cur, cases[i].exp, cases[i].minor);
    g_assert_cmpstr(s, ==, cases[i].want);
    g_free(s);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/catalog/demo", test_demo);
  g_test_add_func("/catalog/demo-compliant", test_demo_compliant);
  g_test_add_func("/catalog/public-json", test_public_json);
  g_test_add_func("/catalog/round-trip", test_round_trip);
  g_test_add_func("/catalog/errors", test_errors);
  g_test_add_func("/catalog/hold-limit", test_hold_limit);
  g_test_add_func("/catalog/limits", test_limits);
  g_test_add_func("/catalog/money", test_money);
  return g_test_run();
}

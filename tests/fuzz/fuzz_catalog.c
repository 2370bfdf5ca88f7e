/* Fuzz target: the catalog parser (with the canonical JSON round trip), the coupon parser and
 * discount math on the same JSON, and the word filter over the raw bytes. Must never crash or
 * leak; a catalog or coupon that parses must come back equal from its own canonical JSON. */
#include "commerce/catalog.h"
#include "commerce/coupon.h"
#include "commerce/wordfilter.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_catalog(const lc_catalog *c)
{
  for (int i = 0; i < c->n_skus; i++) {
    if (lc_catalog_sku(c, c->skus[i].id) != i || c->skus[i].price > c->skus[i].original_price)
      __builtin_trap();
    char *m = lc_money_format(c->currency, c->exponent, c->skus[i].price);
    g_free(m);
  }
  for (int i = 0; i < c->n_products; i++) {
    if (lc_catalog_product(c, c->products[i].id) != i || c->products[i].n_skus < 1)
      __builtin_trap();
    json_decref(lc_catalog_product_json(c, i));
  }
  json_t *j = lc_catalog_to_json(c);
  char *err = NULL;
  lc_catalog *d = lc_catalog_from_json(j, 12345, &err);
  if (!d)
    __builtin_trap(); /* the canonical form of a valid catalog must parse */
  json_t *j2 = lc_catalog_to_json(d);
  if (!json_equal(j, j2) || d->n_skus != c->n_skus || d->exponent != c->exponent)
    __builtin_trap();
  json_decref(j2);
  json_decref(j);
  lc_catalog_free(d);
}

static void
check_coupon(const json_t *root)
{
  char *err = NULL;
  lc_coupon *c = lc_coupon_from_json(root, &err);
  if (!c) {
    if (!err)
      __builtin_trap();
    g_free(err);
    return;
  }
  json_t *j = lc_coupon_to_json(c);
  lc_coupon *d = lc_coupon_from_json(j, &err);
  if (!d)
    __builtin_trap();
  json_t *j2 = lc_coupon_to_json(d);
  if (!json_equal(j, j2))
    __builtin_trap();
  static const gint64 subtotals[] = {0, 1, 99, 999, 20000, G_GINT64_CONSTANT(1000000000000000), G_MAXINT64};
  for (size_t i = 0; i < G_N_ELEMENTS(subtotals); i++) {
    gint64 off = -1;
    const char *why = NULL;
    int rc = lc_coupon_discount(c, subtotals[i], c->starts_at, &off, &why);
    if ((rc == 0 && (off < 0 || off > subtotals[i] || why)) || (rc != 0 && (!why || off != 0)))
      __builtin_trap();
  }
  json_decref(j2);
  json_decref(j);
  lc_coupon_free(d);
  lc_coupon_free(c);
}

static lc_wordfilter *
filter(void)
{
  static lc_wordfilter *wf; /* built once; the fuzz process is single-threaded */
  static const char *const words[] = {"最佳", "第一", "全网第一名额", "ab", "abcab", "加微信", "100%", "ＢＥＳＴ", NULL};
  if (!wf) {
    wf = lc_wordfilter_new();
    for (const char *const *w = words; *w; w++)
      if (lc_wordfilter_add(wf, *w) != 0)
        __builtin_trap();
  }
  return wf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  char *err = NULL;
  lc_catalog *c = lc_catalog_parse(text, size, 10, &err);
  if (c)
    check_catalog(c);
  else if (!err)
    __builtin_trap(); /* a refusal must always say why */
  lc_catalog_free(c);
  g_free(err);

  json_t *root = json_loadb(text, size, 0, NULL);
  if (root) {
    check_coupon(root);
    json_decref(root);
  }

  const char *m = NULL;
  bool hit = lc_wordfilter_match(filter(), text, size, &m);
  if (hit != (m != NULL))
    __builtin_trap();
  return 0;
}

/* Fuzz target: the promotion spec parser, its canonical JSON round trip and the discount
 * math. Must never crash or leak; a refusal must say why; a promotion that parses must come
 * back identical from its own JSON; a discount must stay within [0, unit_price * qty]. */
#include "commerce/promo.h"

#include <stdint.h>
#include <string.h>

#define MAX_SPEC_BYTES 4096 /* a spec is a handful of small fields; larger inputs only slow the fuzzer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same(const lc_promo *a, const lc_promo *b)
{
  return a->kind == b->kind && a->buy == b->buy && a->free_units == b->free_units &&
         a->percent_off == b->percent_off && a->amount_off == b->amount_off &&
         a->starts_at == b->starts_at && a->ends_at == b->ends_at && g_strcmp0(a->label, b->label) == 0;
}

static void
check_round_trip(const lc_promo *p)
{
  json_t *j = lc_promo_to_json(p);
  char *err = NULL;
  lc_promo *q = lc_promo_from_json(j, &err);
  if (!q || err || !same(p, q))
    __builtin_trap(); /* the canonical form of a valid promotion must parse back to it */
  json_t *j2 = lc_promo_to_json(q);
  if (!json_equal(j, j2))
    __builtin_trap();
  lc_promo *c = lc_promo_copy(p);
  if (!same(p, c))
    __builtin_trap();
  lc_promo_free(c);
  json_decref(j2);
  json_decref(j);
  lc_promo_free(q);
}

static void
check_discounts(const lc_promo *p)
{
  static const gint64 units[] = {1, 3, 999, 1990, G_GINT64_CONSTANT(1000000000)};
  static const gint64 qtys[] = {0, 1, 2, 3, 7, 11, G_GINT64_CONSTANT(1000000000)};
  /* Around both bounds of the window, and far outside it. */
  const gint64 nows[] = {0, p->starts_at - 1, p->starts_at, p->ends_at - 1, p->ends_at, G_MAXINT64};
  for (size_t u = 0; u < G_N_ELEMENTS(units); u++)
    for (size_t q = 0; q < G_N_ELEMENTS(qtys); q++)
      for (size_t n = 0; n < G_N_ELEMENTS(nows); n++) {
        gint64 off = lc_promo_discount(p, units[u], qtys[q], nows[n]);
        /* unit and qty are at most 10^9 here, so the line fits in 64 bits. */
        if (off < 0 || off > units[u] * qtys[q] || (off > 0 && !lc_promo_active(p, nows[n])))
          __builtin_trap();
      }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > MAX_SPEC_BYTES)
    return 0;
  json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (!root)
    return 0;
  char *err = NULL;
  lc_promo *p = lc_promo_from_json(root, &err);
  if (p) {
    if (err)
      __builtin_trap();
    check_round_trip(p);
    check_discounts(p);
  } else if (!err) {
    __builtin_trap(); /* a refusal must always say why */
  }
  lc_promo_free(p);
  g_free(err);
  json_decref(root);
  return 0;
}

/* Clearance promotions of one SKU: buy N get M free, a percentage off, or a fixed amount
 * off per unit, with an optional window (docs/marketing.md has the rules and rounding).
 * Pure: no I/O, no globals; fuzzed (tests/fuzz/fuzz_promo.c). */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef enum { LC_PROMO_BOGO, LC_PROMO_PERCENT, LC_PROMO_FIXED } lc_promo_kind;

typedef struct {
  lc_promo_kind kind;
  gint64 buy, free_units;   /* bogo: buy N (1-10) get M (1-10) free */
  gint64 percent_off;       /* percent: 1-90 */
  gint64 amount_off;        /* fixed: minor units off each unit (> 0, <= 100,000,000) */
  gint64 starts_at, ends_at; /* ms; 0: no bound */
  char *label;              /* as shown on the badge (set to a default when the spec has none) */
} lc_promo;

/* Parses and validates a promotion spec {kind, buy?, free?, percent_off?, amount_off?,
 * starts_at?, ends_at?, label?} (unknown keys refused). NULL + *err (g_free) naming the
 * field and the rule. transfer full. */
lc_promo *lc_promo_from_json(const json_t *spec, char **err);
/* The spec form back (what from_json reads; the journal stores it). transfer full. */
json_t *lc_promo_to_json(const lc_promo *p);
lc_promo *lc_promo_copy(const lc_promo *p);
void lc_promo_free(lc_promo *p);
/* Inside its window at `now` (ms). */
bool lc_promo_active(const lc_promo *p, gint64 now);
/* What a line of qty units at unit_price gets off at `now` (0 when inactive); never more than
 * unit_price * qty. Overflow-safe for unit_price, qty <= 10^9. */
gint64 lc_promo_discount(const lc_promo *p, gint64 unit_price, gint64 qty, gint64 now);

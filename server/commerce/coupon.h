/* Coupon specs (parse/serialise) and exact integer discount math. Pure module, no I/O.
 * Immutable after parsing; readable from any thread. */
#pragma once
#include <glib.h>
#include <jansson.h>
typedef enum { LC_COUPON_FIXED, LC_COUPON_PERCENT, LC_COUPON_THRESHOLD } lc_coupon_kind;
typedef struct {
  char *id;            /* 1-64 chars [A-Za-z0-9_.-] */
  char *title;         /* shown to viewers, <= 100 bytes; default: "" */
  lc_coupon_kind kind; /* "fixed" | "percent" | "threshold" in JSON */
  gint64 amount_off;   /* fixed, threshold: minor units off (> 0) */
  int percent_off;     /* percent: 1..99 */
  gint64 min_spend;    /* threshold: required (> amount_off); fixed/percent: optional, default 0 */
  gint64 max_off;      /* percent: optional cap in minor units, 0 = none */
  gint64 quantity;     /* how many can be claimed in total, 1..10^7 */
  gint64 starts_at, ends_at; /* ms since epoch; 0 = at drop / no end; ends_at > starts_at when both set */
} lc_coupon;
/* JSON: {"id","title"?,"kind","amount_off"?,"percent_off"?,"min_spend"?,"max_off"?,"quantity","starts_at"?,"ends_at"?}.
 * Field-naming errors like catalog; fields not allowed for the kind are errors.
 * Any thread; obj borrowed; result owned by the caller (lc_coupon_free), or NULL and *err (g_free). */
lc_coupon *lc_coupon_from_json(const json_t *obj, char **err);
/* Canonical JSON (all fields of its kind present); round-trips through lc_coupon_from_json. transfer full. Any thread. */
json_t *lc_coupon_to_json(const lc_coupon *c);   /* round-trips */
/* Frees a coupon (NULL is fine). Owner's thread. */
void lc_coupon_free(lc_coupon *c);
/* The discount on `subtotal` (minor units, >= 0) at time now_ms, exact integer arithmetic:
 * fixed: min(amount_off, subtotal); percent: floor(subtotal * percent_off / 100) capped by max_off;
 * threshold: amount_off when subtotal >= min_spend. The result never exceeds the subtotal.
 * Returns 0 and *discount, or LC_ESTATE with *why (static string) when not applicable:
 * "not started", "expired", "below minimum spend". Overflow-safe for subtotal up to 10^15.
 * The window is [starts_at, ends_at): valid from starts_at included, expired at ends_at.
 * Any thread. (A negative subtotal gives LC_EINVAL with *why "invalid subtotal".) */
int lc_coupon_discount(const lc_coupon *c, gint64 subtotal, gint64 now_ms, gint64 *discount, const char **why);

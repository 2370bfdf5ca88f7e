/* Placeholder: the promo module is being written. */
#include "commerce/promo.h"
lc_promo *lc_promo_from_json(const json_t *spec, char **err) { *err = g_strdup("not built yet"); return NULL; }
json_t *lc_promo_to_json(const lc_promo *p) { return json_object(); }
lc_promo *lc_promo_copy(const lc_promo *p) { return NULL; }
void lc_promo_free(lc_promo *p) { }
bool lc_promo_active(const lc_promo *p, gint64 now) { return false; }
gint64 lc_promo_discount(const lc_promo *p, gint64 unit_price, gint64 qty, gint64 now) { return 0; }

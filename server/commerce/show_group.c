/* Group buy (拼团): placeholder until the engine lands. */
#define LC_LOG_DOMAIN "show"
#include "commerce/show_internal.h"
#include "commerce/show_market.h"

static void
unsupported(lc_show_done done, gpointer user)
{
  lc_show_result r = {"unsupported", "not built yet", NULL};
  if (done)
    done(&r, user);
}

void lc_show_group_open(lc_show *s, const json_t *spec, lc_show_done done, gpointer user) { unsupported(done, user); }
void lc_show_group_close(lc_show *s, const char *deal_id, lc_show_done done, gpointer user) { unsupported(done, user); }
json_t *lc_show_group_status(lc_show *s, const char *deal_id) { return NULL; }
void lc_show_group_start(lc_show *s, const lc_show_caller *c, const char *deal_id, const char *claim_id, lc_show_done done, gpointer user) { unsupported(done, user); }
void lc_show_group_join(lc_show *s, const lc_show_caller *c, const char *team_id, const char *claim_id, lc_show_done done, gpointer user) { unsupported(done, user); }
void lc_show_gifts_load(lc_show *s, const json_t *spec, lc_show_done done, gpointer user) { unsupported(done, user); }
json_t *lc_show_gifts_statement(lc_show *s) { return json_object(); }
void lc_show_gift_send(lc_show *s, const lc_show_caller *c, const char *gift_id, gint64 count, lc_show_done done, gpointer user) { unsupported(done, user); }
void lc_show_wallet_topup(lc_show *s, const lc_show_caller *c, gint64 coins, lc_show_done done, gpointer user) { unsupported(done, user); }
gint64 lc_show_wallet_coins(lc_show *s, const char *user) { return 0; }
const char *lc_show_shop(const lc_show *s) { return ""; }
void lc_show_promo_set(lc_show *s, const char *sku, const json_t *spec, lc_show_done done, gpointer user) { unsupported(done, user); }

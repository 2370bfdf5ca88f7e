/* The show's marketing tools: group buy (拼团), gifts (打赏) with a coin wallet, and
 * clearance promotions (docs/marketing.md). Part of the show engine (show.h): main
 * thread only; the same durability and op_id rules as the rest of the engine.
 *
 * Error codes beyond show.h's: team_full, insufficient_coins. In cluster mode the gate decides
 * a gift's coins (the shop's wallets live in Redis) and the answer quotes the balance it left. */
#pragma once
#include "commerce/show.h"

/* ---- group buy ------------------------------------------------------------------ */
/* spec: {id?, sku, price, team_size (2-10), quantity, fill_ms? (10 s - 24 h, default 10 min),
 * per_user_limit? (default 1), duration_ms? | ends_at?}. Answers {deal}. */
void lc_show_group_open(lc_show *show, const json_t *spec, lc_show_done done, gpointer user);
/* Ends the deal: open teams fail, the remainder returns to the SKU. Answers {deal}. */
void lc_show_group_close(lc_show *show, const char *deal_id, lc_show_done done, gpointer user);
/* {deals: [DEAL + teams: [every team, members' user ids unmasked]]}, of one deal when deal_id is
 * set; NULL when there is no such deal. transfer full. */
json_t *lc_show_group_status(lc_show *show, const char *deal_id);
/* A viewer starts a team of the deal / joins a team: one seat, an order of one unit held until
 * the team forms. claim_id: a coupon claim or NULL. Answers {order, team}. */
void lc_show_group_start(lc_show *show, const lc_show_caller *caller, const char *deal_id, const char *claim_id,
                         lc_show_done done, gpointer user);
void lc_show_group_join(lc_show *show, const lc_show_caller *caller, const char *team_id, const char *claim_id,
                        lc_show_done done, gpointer user);

/* ---- gifts and the wallet ------------------------------------------------------- */
/* spec: {gifts: [{id, name, icon?, coins, class: small|big|fullscreen}], coin_cents? (default 10),
 * creator_pct? (default 70)}. Replaces the room's gift catalog. Answers the catalog. */
void lc_show_gifts_load(lc_show *show, const json_t *spec, lc_show_done done, gpointer user);
/* The show's gift statement (docs/marketing.md). transfer full. */
json_t *lc_show_gifts_statement(lc_show *show);
/* count: 1-99. Answers {gift, wallet: {coins}}. */
void lc_show_gift_send(lc_show *show, const lc_show_caller *caller, const char *gift_id, gint64 count,
                       lc_show_done done, gpointer user);
/* Creates an order of kind coins for `coins` coins (1-1,000,000). Answers {order}. */
void lc_show_wallet_topup(lc_show *show, const lc_show_caller *caller, gint64 coins, lc_show_done done,
                          gpointer user);
/* The user's coin balance in the show's shop as this node knows it (cluster mode: the last
 * balance this node saw, 0 when it saw none; lc_show_wallet_get asks the store). */
gint64 lc_show_wallet_coins(lc_show *show, const char *user);
/* Answers {shop, user, coins} with the balance from the store of record (at once on one node;
 * from Redis in cluster mode, unavailable when it does not answer). */
void lc_show_wallet_get(lc_show *show, const char *user, lc_show_done done, gpointer data);
/* The shop whose wallets the show uses (borrowed). */
const char *lc_show_shop(const lc_show *show);

/* ---- promotions ----------------------------------------------------------------- */
/* spec: the promotion (promo.h, lc_promo_from_json), or NULL to clear the SKU's.
 * Answers {sku, promotion}. */
void lc_show_promo_set(lc_show *show, const char *sku, const json_t *spec, lc_show_done done, gpointer user);

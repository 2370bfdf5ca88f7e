/* Coin wallets in memory: one balance per user per shop (docs/marketing.md), shared by every
 * show of the shop. The store's wallets table is the durable truth; this is its image plus
 * the changes of facts still being committed (a gift debits here when its fact is applied,
 * before the store has it, exactly like stock; a failed write gives the coins back).
 * A shop's balances are read from the store the first time the shop is used.
 * Main thread only. */
#pragma once
#include <glib.h>

typedef struct lc_wallets lc_wallets;
typedef struct lc_store lc_store;

/* store may be NULL (nothing durable: every balance starts at 0). */
lc_wallets *lc_wallets_new(lc_store *store);
void lc_wallets_free(lc_wallets *w);
gint64 lc_wallets_coins(lc_wallets *w, const char *shop, const char *user);
/* balance += delta (the caller has checked that a debit is covered). */
void lc_wallets_add(lc_wallets *w, const char *shop, const char *user, gint64 delta);
/* Cluster mode, where the store's wallets are the truth and this is a cache of what this node
 * saw: balance = coins; and whether a user's balance was ever seen (set or added). */
void lc_wallets_set(lc_wallets *w, const char *shop, const char *user, gint64 coins);
gboolean lc_wallets_known(lc_wallets *w, const char *shop, const char *user);

/* Coin wallets in memory (wallet.h). */
#define LC_LOG_DOMAIN "wallet"
#include "commerce/wallet.h"

#include "base/log.h"
#include "store/store.h"

struct lc_wallets {
  lc_store *store;
  GHashTable *shops; /* shop -> GHashTable user -> gint64* */
};

lc_wallets *
lc_wallets_new(lc_store *store)
{
  lc_wallets *w = g_new0(lc_wallets, 1);
  w->store = store;
  w->shops = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  return w;
}

void
lc_wallets_free(lc_wallets *w)
{
  if (!w)
    return;
  g_hash_table_destroy(w->shops);
  g_free(w);
}

static void
loaded(const char *user, gint64 coins, gpointer data)
{
  gint64 *v = g_new(gint64, 1);
  *v = coins;
  g_hash_table_replace(data, g_strdup(user), v);
}

static GHashTable *
shop_of(lc_wallets *w, const char *shop)
{
  GHashTable *t = g_hash_table_lookup(w->shops, shop);
  if (t)
    return t;
  t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (w->store && lc_store_wallets_load(w->store, shop, loaded, t) != 0)
    LC_ERROR(NULL, NULL, "the wallets of shop %s could not be read; balances start from what is read", shop);
  g_hash_table_insert(w->shops, g_strdup(shop), t);
  return t;
}

gint64
lc_wallets_coins(lc_wallets *w, const char *shop, const char *user)
{
  gint64 *v = g_hash_table_lookup(shop_of(w, shop), user);
  return v ? *v : 0;
}

void
lc_wallets_add(lc_wallets *w, const char *shop, const char *user, gint64 delta)
{
  GHashTable *t = shop_of(w, shop);
  gint64 *v = g_hash_table_lookup(t, user);
  if (!v) {
    v = g_new0(gint64, 1);
    g_hash_table_insert(t, g_strdup(user), v);
  }
  *v += delta;
}

void
lc_wallets_set(lc_wallets *w, const char *shop, const char *user, gint64 coins)
{
  GHashTable *t = shop_of(w, shop);
  gint64 *v = g_new(gint64, 1);
  *v = coins;
  g_hash_table_replace(t, g_strdup(user), v);
}

gboolean
lc_wallets_known(lc_wallets *w, const char *shop, const char *user)
{
  return g_hash_table_contains(shop_of(w, shop), user);
}

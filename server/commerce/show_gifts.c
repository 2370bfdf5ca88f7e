/* Gifts (打赏): the room's gift catalog, gifts paid from the coin wallet, combos, the
 * leaderboard, the creator's earnings and the statement (docs/marketing.md). Top-ups are
 * orders of kind coins (show_orders.c); the wallet itself is wallet.c, moved by the commit
 * path (show.c) in the same store transaction as the fact. */
#define LC_LOG_DOMAIN "show"
#include "base/log.h"
#include "base/show_limits.h"
#include "commerce/show_internal.h"

#include <string.h>

#define COMBO_MS 3000     /* gifts of the same gift by the same viewer closer than this merge */
#define GIFTS_FLUSH_MS 250 /* the `gifts` broadcast, at most this often */
#define BOARD_FLUSH_MS 1000 /* the `leaderboard` broadcast, at most this often */
#define BOARD_SIZE 10
#define MAX_TOPUP 1000000

typedef struct {
  gint64 count, coins, value, creator;
  char *name; /* the gift's name when it was last sent (the catalog may change) */
} gift_total;

typedef struct {
  char *user, *name;
  gint64 coins;
} gifter;

typedef struct {
  char *id;
  char *user, *name, *gift_id;
  gint64 count, coins, last_at;
} combo;

/* A gift's combo as of that gift, kept until its answer is made (show_internal.h gift_combo). */
typedef struct {
  char *id;
  gint64 count;
} combo_at;

static void
combo_at_free(gpointer p)
{
  combo_at *a = p;
  g_free(a->id);
  g_free(a);
}

static void
gift_total_free(gpointer p)
{
  gift_total *t = p;
  g_free(t->name);
  g_free(t);
}

static void
gifter_free(gpointer p)
{
  gifter *g = p;
  g_free(g->user);
  g_free(g->name);
  g_free(g);
}

static void
combo_free(gpointer p)
{
  combo *c = p;
  g_free(c->id);
  g_free(c->user);
  g_free(c->name);
  g_free(c->gift_id);
  g_free(c);
}

void
lc__gifts_init(lc_show *s)
{
  s->coin_cents = 10;
  s->creator_pct = 70;
  s->gift_totals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, gift_total_free);
  s->gifters = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, gifter_free);
  s->combos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, combo_free);
  s->dirty_combos = g_hash_table_new(g_direct_hash, g_direct_equal);
  s->gift_combo = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, combo_at_free);
}

void
lc__gifts_stop_timers(lc_show *s)
{
  guint *timers[] = {&s->gifts_timer, &s->board_timer};
  for (unsigned i = 0; i < G_N_ELEMENTS(timers); i++)
    if (*timers[i]) {
      lc_clock_source_remove(s->cfg.clock, *timers[i]);
      *timers[i] = 0;
    }
}

void
lc__gifts_clear(lc_show *s)
{
  lc__gifts_stop_timers(s);
  lc__gift_defs_free(s->gifts, s->n_gifts);
  s->gifts = NULL;
  s->n_gifts = 0;
  g_hash_table_destroy(s->gift_combo);
  g_hash_table_destroy(s->dirty_combos);
  g_hash_table_destroy(s->combos);
  g_hash_table_destroy(s->gifters);
  g_hash_table_destroy(s->gift_totals);
}

char *
lc__mask_name(const char *name)
{
  if (!name || !*name || !g_utf8_validate(name, -1, NULL))
    return g_strdup("*");
  const char *second = g_utf8_next_char(name);
  glong rest = g_utf8_strlen(second, -1);
  GString *m = g_string_new_len(name, second - name);
  for (glong i = 0; i < CLAMP(rest, 1, 3); i++)
    g_string_append_c(m, '*');
  return g_string_free(m, FALSE);
}

static const lc__gift_def *
gift_find(lc_show *s, const char *id)
{
  for (int i = 0; id && i < s->n_gifts; i++)
    if (strcmp(s->gifts[i].id, id) == 0)
      return &s->gifts[i];
  return NULL;
}

static json_t *
catalog_json(lc_show *s)
{
  json_t *a = json_array();
  for (int i = 0; i < s->n_gifts; i++) {
    const lc__gift_def *g = &s->gifts[i];
    json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:I, s:s}", "id", g->id, "name", g->name, "icon", g->icon,
                                       "coins", (json_int_t)g->coins, "class", g->cls));
  }
  return json_pack("{s:o, s:I, s:I}", "catalog", a, "coin_cents", (json_int_t)s->coin_cents, "creator_pct",
                   (json_int_t)s->creator_pct);
}

static json_t *
combo_json(lc_show *s, const combo *c)
{
  const lc__gift_def *g = gift_find(s, c->gift_id);
  char *by = lc__mask_name(c->name);
  /* no user id: every viewer gets this, and gifters are shown by masked name only */
  json_t *j = json_pack("{s:s, s:s, s:s, s:s*, s:s, s:s, s:I, s:I, s:I}", "id", c->id, "gift_id", c->gift_id,
                        "name", g ? g->name : c->gift_id, "icon", g ? g->icon : NULL, "class", g ? g->cls : "small",
                        "by", by, "count", (json_int_t)c->count, "coins", (json_int_t)c->coins, "last_at",
                        (json_int_t)c->last_at);
  g_free(by);
  return j;
}

static gint
gifter_cmp(gconstpointer a, gconstpointer b)
{
  const gifter *x = *(gifter *const *)a, *y = *(gifter *const *)b;
  if (x->coins != y->coins)
    return x->coins > y->coins ? -1 : 1;
  return strcmp(x->user, y->user);
}

static json_t *
board_json(lc_show *s)
{
  GPtrArray *all = g_ptr_array_sized_new(g_hash_table_size(s->gifters));
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->gifters);
  while (g_hash_table_iter_next(&it, NULL, &v))
    g_ptr_array_add(all, v);
  g_ptr_array_sort(all, gifter_cmp);
  json_t *top = json_array();
  for (guint i = 0; i < all->len && i < BOARD_SIZE; i++) {
    gifter *g = g_ptr_array_index(all, i);
    char *by = lc__mask_name(g->name);
    json_array_append_new(top, json_pack("{s:I, s:s, s:I}", "rank", (json_int_t)i + 1, "by", by, "coins",
                                         (json_int_t)g->coins));
    g_free(by);
  }
  g_ptr_array_unref(all);
  return json_pack("{s:o, s:{s:I, s:I, s:I}}", "leaderboard", top, "earnings", "coins", (json_int_t)s->gift_coins,
                   "creator_cents", (json_int_t)s->gift_creator, "gifts", (json_int_t)s->gift_count);
}

json_t *
lc__gifts_json(lc_show *s)
{
  json_t *j = catalog_json(s);
  json_t *b = board_json(s);
  json_object_update(j, b);
  json_decref(b);
  json_t *recent = json_array();
  gint64 now = lc__show_now(s);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->combos);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (now - ((combo *)v)->last_at < COMBO_MS)
      json_array_append_new(recent, combo_json(s, v));
  json_object_set_new(j, "combos", recent);
  return j;
}

/* ---- throttled broadcasts ------------------------------------------------------------ */

static gboolean
flush_gifts(gpointer user)
{
  lc_show *s = user;
  s->gifts_timer = 0;
  json_t *a = json_array();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, s->dirty_combos);
  while (g_hash_table_iter_next(&it, &k, NULL))
    json_array_append_new(a, combo_json(s, k));
  g_hash_table_remove_all(s->dirty_combos);
  if (json_array_size(a) > 0)
    lc__show_event(s, LC_SHOW_EV_GIFTS, json_pack("{s:o}", "combos", a));
  else
    json_decref(a);
  return G_SOURCE_REMOVE;
}

static gboolean
flush_board(gpointer user)
{
  lc_show *s = user;
  s->board_timer = 0;
  if (s->board_dirty)
    lc__show_event(s, LC_SHOW_EV_LEADERBOARD, board_json(s));
  s->board_dirty = false;
  return G_SOURCE_REMOVE;
}

bool
lc__gifts_dirty(lc_show *s)
{
  return g_hash_table_size(s->dirty_combos) > 0 || s->board_dirty;
}

/* Cluster mode: at a tick.gifts of the stream (its time is `now`, the same on every node), the
 * broadcasts whose period has passed since the last one, so every node sends the same events
 * at the same seq. What is not due yet waits for a later tick (gifts_tick). */
void
lc__gifts_flush_due(lc_show *s, gint64 now)
{
  /* the ticks come every half GIFTS_FLUSH_MS by the store's clock, `now` is the writer's; a little
   * margin, since a node's follower may deliver two ticks closer together than they were written */
  if (g_hash_table_size(s->dirty_combos) > 0 && now - s->gifts_flushed_at >= GIFTS_FLUSH_MS + 25) {
    s->gifts_flushed_at = now;
    flush_gifts(s);
  }
  if (s->board_dirty && now - s->board_flushed_at >= BOARD_FLUSH_MS + 50) {
    s->board_flushed_at = now;
    flush_board(s);
  }
}

/* Cluster mode: while something waits for a broadcast, a tick.gifts every half GIFTS_FLUSH_MS
 * (the store keeps one per half period for the whole cluster, whichever node sends it), so a
 * broadcast is at most half a period late. */
static gboolean
gifts_tick(gpointer user)
{
  lc_show *s = user;
  s->gifts_timer = 0;
  if (s->stopping || !lc__gifts_dirty(s))
    return G_SOURCE_REMOVE;
  lc__remote_tick(s, "tick.gifts", GIFTS_FLUSH_MS / 2);
  s->gifts_timer = lc_clock_timeout_add(s->cfg.clock, GIFTS_FLUSH_MS / 2, gifts_tick, s);
  return G_SOURCE_REMOVE;
}

static void
schedule_flushes(lc_show *s)
{
  if (s->replaying || s->stopping)
    return;
  if (s->cfg.remote) {
    if (!s->gifts_timer)
      s->gifts_timer = lc_clock_timeout_add(s->cfg.clock, GIFTS_FLUSH_MS / 2, gifts_tick, s);
    return;
  }
  if (!s->gifts_timer)
    s->gifts_timer = lc_clock_timeout_add(s->cfg.clock, GIFTS_FLUSH_MS, flush_gifts, s);
  if (!s->board_timer)
    s->board_timer = lc_clock_timeout_add(s->cfg.clock, BOARD_FLUSH_MS, flush_board, s);
}

/* ---- appliers and committed steps ------------------------------------------------------ */

void
lc__apply_gifts_loaded(lc_show *s, lc__fact_gifts_loaded *f)
{
  lc__gift_defs_free(s->gifts, s->n_gifts);
  s->gifts = f->gifts;
  s->n_gifts = f->n;
  s->coin_cents = f->coin_cents;
  s->creator_pct = f->creator_pct;
  f->gifts = NULL;
  f->n = 0;
}

json_t *
lc__committed_gifts_loaded(lc_show *s, const lc__fact *f, gpointer data)
{
  json_t *c = catalog_json(s);
  lc__show_event(s, LC_SHOW_EV_GIFTS_CATALOG, json_incref(c));
  return c;
}

static char *
combo_key(const char *user, const char *gift_id)
{
  return g_strconcat(user, "\x1f", gift_id, NULL);
}

void
lc__apply_gift_sent(lc_show *s, const lc__fact_gift_sent *f)
{
  gift_total *t = g_hash_table_lookup(s->gift_totals, f->gift_id);
  if (!t) {
    t = g_new0(gift_total, 1);
    g_hash_table_insert(s->gift_totals, g_strdup(f->gift_id), t);
  }
  const lc__gift_def *def = gift_find(s, f->gift_id);
  if (def) {
    g_free(t->name);
    t->name = g_strdup(def->name);
  }
  t->count += f->count;
  t->coins += f->coins;
  t->value += f->value_cents;
  t->creator += f->creator_cents;
  gifter *g = g_hash_table_lookup(s->gifters, f->user);
  if (!g) {
    g = g_new0(gifter, 1);
    g->user = g_strdup(f->user);
    g_hash_table_insert(s->gifters, g->user, g);
  }
  g_free(g->name);
  g->name = g_strdup(f->name);
  g->coins += f->coins;
  s->gift_count += f->count;
  s->gift_coins += f->coins;
  s->gift_value += f->value_cents;
  s->gift_creator += f->creator_cents;
  s->next_gift = MAX(s->next_gift, f->n);

  char *key = combo_key(f->user, f->gift_id);
  combo *c = g_hash_table_lookup(s->combos, key);
  if (!c) {
    c = g_new0(combo, 1);
    c->user = g_strdup(f->user);
    c->gift_id = g_strdup(f->gift_id);
    g_hash_table_insert(s->combos, key, c);
  } else {
    g_free(key);
  }
  if (!c->id || f->at - c->last_at >= COMBO_MS) { /* a new combo (the struct is reused: dirty_combos holds it) */
    g_free(c->id);
    c->id = g_strdup_printf("cb-%" G_GINT64_FORMAT, ++s->next_combo);
    c->count = c->coins = 0;
  }
  g_free(c->name);
  c->name = g_strdup(f->name);
  c->count += f->count;
  c->coins += f->coins;
  c->last_at = f->at;
  g_hash_table_add(s->dirty_combos, c);
  /* the combo as of this gift, for its answer: later gifts may be applied before it is made */
  if (g_hash_table_size(s->gift_combo) > 100000) /* answers never made (facts without op_id) */
    g_hash_table_remove_all(s->gift_combo);
  gint64 *key2 = g_new(gint64, 1);
  *key2 = f->n;
  combo_at *at = g_new(combo_at, 1);
  at->id = g_strdup(c->id);
  at->count = c->count;
  g_hash_table_replace(s->gift_combo, key2, at);
  s->board_dirty = true;
  schedule_flushes(s);
}

json_t *
lc__committed_gift_sent(lc_show *s, const lc__fact *f, gpointer data)
{
  const lc__fact_gift_sent *x = &f->u.gift_sent;
  const lc__gift_def *def = gift_find(s, x->gift_id);
  const combo_at *at = g_hash_table_lookup(s->gift_combo, &x->n);
  const char *combo_id = at ? at->id : NULL;
  gint64 combo_count = at ? at->count : x->count;
  char *by = lc__mask_name(x->name);
  json_t *gift = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:s?, s:I}", "n", (json_int_t)x->n,
                           "gift_id", x->gift_id, "name", def ? def->name : x->gift_id, "class",
                           def ? def->cls : "small", "count", (json_int_t)x->count, "coins", (json_int_t)x->coins,
                           "user", x->user, "by", by, "at", (json_int_t)x->at, "combo_id", combo_id,
                           "combo", (json_int_t)combo_count);
  g_free(by);
  g_hash_table_remove(s->gift_combo, &x->n); /* after the pack copied combo_id */
  /* the balance right after this gift, as its fact says: pipelined gifts each get their own, and a
   * retry after a restart gets the same answer */
  lc__show_private_answer(s, x->user, LC_SHOW_EV_WALLET_UPDATED,
                          json_pack("{s:{s:I}}", "wallet", "coins", (json_int_t)x->balance));
  return json_pack("{s:o, s:{s:I}}", "gift", gift, "wallet", "coins", (json_int_t)x->balance);
}

/* ---- operations ----------------------------------------------------------------------- */

void
lc_show_gifts_load(lc_show *s, const json_t *spec, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  lc__fact *f = lc__fact_new(LC__FACT_GIFTS_LOADED);
  char *why = NULL;
  if (!json_is_object(spec) || !lc__gifts_parse(spec, &f->u.gifts_loaded, &why)) {
    lc__op_fail(op, "invalid_argument", "%s", why ? why : "the gift catalog must be an object");
    g_free(why);
    lc__fact_free(f);
    return;
  }
  lc__show_commit(s, op, f, lc__committed_gifts_loaded, NULL, NULL);
}

void
lc_show_gift_send(lc_show *s, const lc_show_caller *caller, const char *gift_id, gint64 count, lc_show_done done,
                  gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op)
    return;
  const lc__gift_def *def = gift_find(s, gift_id);
  if (!caller || !caller->user) {
    lc__op_fail(op, "unauthorized", "sign in to send gifts");
    return;
  }
  if (s->closed) {
    lc__op_fail(op, "invalid_state", "the show has ended");
    return;
  }
  if (s->n_gifts == 0) {
    lc__op_fail(op, "invalid_state", "this room has no gifts");
    return;
  }
  if (!def) {
    lc__op_fail(op, "not_found", "no gift '%s'", gift_id ? gift_id : "");
    return;
  }
  if (count < 1 || count > LC_SHOW_MAX_QTY) {
    lc__op_fail(op, "invalid_argument", "count must be from 1 to %d", LC_SHOW_MAX_QTY);
    return;
  }
  gint64 coins = def->coins * count;
  gint64 have = lc_show_wallet_coins(s, caller->user);
  /* cluster mode: the shop's wallet is in the store, and this node may not have seen its last
   * top-up (another room, another node): the gate checks it, and reports the balance left */
  if (!s->cfg.remote && have < coins) {
    lc__op_fail(op, "insufficient_coins", "%" G_GINT64_FORMAT " coins needed, the wallet has %" G_GINT64_FORMAT,
                coins, have);
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_GIFT_SENT);
  lc__fact_gift_sent *x = &f->u.gift_sent;
  x->n = s->next_gift + 1;
  x->user = g_strdup(caller->user);
  x->name = g_strdup(caller->name && *caller->name ? caller->name : caller->user);
  x->gift_id = g_strdup(def->id);
  x->count = count;
  x->coins = coins;
  x->value_cents = coins * s->coin_cents;
  /* the creator's share rounds down to the cent; the remainder is the platform's */
  x->creator_cents = x->value_cents * s->creator_pct / 100;
  x->at = lc__show_now(s);
  x->balance = have - coins;
  x->op_id = g_strdup(caller->op_id);
  lc__show_commit(s, op, f, lc__committed_gift_sent, NULL, NULL);
}

static void
fill_topup(lc__fact_order_created *x, gpointer data)
{
  x->coins = *(gint64 *)data;
}

void
lc_show_wallet_topup(lc_show *s, const lc_show_caller *caller, gint64 coins, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op)
    return;
  if (!caller || !caller->user)
    lc__op_fail(op, "unauthorized", "sign in to top up");
  else if (s->closed)
    lc__op_fail(op, "invalid_state", "the show has ended");
  else if (s->n_gifts == 0)
    lc__op_fail(op, "invalid_state", "this room has no gifts");
  else if (coins < 1 || coins > MAX_TOPUP)
    lc__op_fail(op, "invalid_argument", "coins must be from 1 to %d", MAX_TOPUP);
  else
    lc__order_create(s, op, caller, g_array_new(FALSE, TRUE, sizeof(lc__fact_order_item)), coins * s->coin_cents,
                     NULL, 0, 0, false, fill_topup, &coins);
}

gint64
lc_show_wallet_coins(lc_show *s, const char *user)
{
  return user ? lc_wallets_coins(s->wallets, s->shop, user) : 0;
}

typedef struct {
  char *user;
  lc_show_done done;
  gpointer data;
} wallet_ask;

static void
wallet_got(lc_show *s, gint64 coins, gpointer data)
{
  wallet_ask *w = data;
  gint64 shown = s ? lc_show_wallet_coins(s, w->user) : 0; /* what the snapshot said (0 when unseen) */
  if (s && coins >= 0)
    lc_wallets_set(s->wallets, s->shop, w->user, coins);
  if (w->done) {
    json_t *r = s && coins >= 0 ? json_pack("{s:s, s:s, s:I}", "shop", s->shop, "user", w->user, "coins", (json_int_t)coins)
                                : NULL;
    lc_show_result res = {r ? NULL : "unavailable", r ? NULL : "the shared store did not answer; retry", r};
    w->done(&res, w->data);
    json_decref(r);
  } else if (s && coins >= 0 && coins != shown) { /* a refresh for the viewer's page */
    lc__show_private(s, w->user, LC_SHOW_EV_WALLET_UPDATED, json_pack("{s:{s:I}}", "wallet", "coins", (json_int_t)coins));
  }
  g_free(w->user);
  g_free(w);
}

static void
wallet_ask_store(lc_show *s, const char *user, lc_show_done done, gpointer data)
{
  wallet_ask *w = g_new0(wallet_ask, 1);
  w->user = g_strdup(user);
  w->done = done;
  w->data = data;
  s->cfg.remote->wallet_get(s->cfg.remote->ctx, s, s->shop, user, wallet_got, w);
}

void
lc_show_wallet_get(lc_show *s, const char *user, lc_show_done done, gpointer data)
{
  if (s->cfg.remote && s->cfg.remote->wallet_get) {
    wallet_ask_store(s, user, done, data);
    return;
  }
  json_t *r = json_pack("{s:s, s:s, s:I}", "shop", s->shop, "user", user, "coins",
                        (json_int_t)lc_show_wallet_coins(s, user));
  lc_show_result res = {NULL, NULL, r};
  done(&res, data);
  json_decref(r);
}

json_t *
lc__wallet_json(lc_show *s, const char *user)
{
  /* cluster mode: a wallet this node has not seen is asked for; the page gets wallet.updated */
  if (s->cfg.remote && s->cfg.remote->wallet_get && user && s->n_gifts > 0 &&
      !lc_wallets_known(s->wallets, s->shop, user))
    wallet_ask_store(s, user, NULL, NULL);
  return json_pack("{s:I}", "coins", (json_int_t)lc_show_wallet_coins(s, user));
}

const char *
lc_show_shop(const lc_show *s)
{
  return s->shop;
}

/* ---- statement ------------------------------------------------------------------------- */

static json_t *
statement_line(const char *id, const char *name, gint64 count, gint64 coins, gint64 value, gint64 creator)
{
  return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "gift_id", id, "name", name, "count", (json_int_t)count,
                   "coins", (json_int_t)coins, "value_cents", (json_int_t)value, "creator_cents",
                   (json_int_t)creator, "platform_cents", (json_int_t)(value - creator));
}

json_t *
lc_show_gifts_statement(lc_show *s)
{
  json_t *lines = json_array();
  GList *ids = g_list_sort(g_hash_table_get_keys(s->gift_totals), (GCompareFunc)strcmp);
  for (GList *l = ids; l; l = l->next) {
    const gift_total *t = g_hash_table_lookup(s->gift_totals, l->data);
    json_array_append_new(lines, statement_line(l->data, t->name ? t->name : l->data, t->count, t->coins, t->value,
                                                t->creator));
  }
  g_list_free(ids);
  json_t *totals = statement_line("TOTAL", "", s->gift_count, s->gift_coins, s->gift_value, s->gift_creator);
  json_object_del(totals, "gift_id");
  json_object_del(totals, "name");
  return json_pack("{s:s, s:s, s:s?, s:I, s:I, s:o, s:o, s:I}", "room", s->room, "shop", s->shop, "currency",
                   s->catalog ? s->catalog->currency : NULL, "coin_cents", (json_int_t)s->coin_cents, "creator_pct",
                   (json_int_t)s->creator_pct, "gifts", lines, "totals", totals, "gifters",
                   (json_int_t)g_hash_table_size(s->gifters));
}

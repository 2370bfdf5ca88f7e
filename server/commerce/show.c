/* The show's core: open and replay, the journal commit path, op_id memory, events
 * and throttled aggregates, snapshots and stats. See show.h for the model. */
#define LC_LOG_DOMAIN "show"
#include "base/errors.h"
#include "base/log.h"
#include "commerce/show_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- time and events ------------------------------------------------------------ */

static const char *const event_names[LC_SHOW_EV_N] = {
    [LC_SHOW_EV_SHOW_RESET] = "show.reset",
    [LC_SHOW_EV_STREAM] = "stream",
    [LC_SHOW_EV_CATALOG_UPDATED] = "catalog.updated",
    [LC_SHOW_EV_PRODUCT_PINNED] = "product.pinned",
    [LC_SHOW_EV_PRODUCT_UNPINNED] = "product.unpinned",
    [LC_SHOW_EV_STOCK_UPDATED] = "stock.updated",
    [LC_SHOW_EV_FLASH_SCHEDULED] = "flash.scheduled",
    [LC_SHOW_EV_FLASH_STARTED] = "flash.started",
    [LC_SHOW_EV_FLASH_STOCK] = "flash.stock",
    [LC_SHOW_EV_FLASH_SOLD_OUT] = "flash.sold_out",
    [LC_SHOW_EV_FLASH_ENDED] = "flash.ended",
    [LC_SHOW_EV_COUPON_DROPPED] = "coupon.dropped",
    [LC_SHOW_EV_COUPON_UPDATED] = "coupon.updated",
    [LC_SHOW_EV_COUPON_CLAIMED] = "coupon.claimed",
    [LC_SHOW_EV_CART_UPDATED] = "cart.updated",
    [LC_SHOW_EV_ORDER_CREATED] = "order.created",
    [LC_SHOW_EV_ORDER_PAID] = "order.paid",
    [LC_SHOW_EV_ORDER_CANCELLED] = "order.cancelled",
    [LC_SHOW_EV_ORDER_EXPIRED] = "order.expired",
    [LC_SHOW_EV_CHAT_MESSAGE] = "chat.message",
    [LC_SHOW_EV_CHAT_DELETED] = "chat.deleted",
    [LC_SHOW_EV_CHAT_MUTED] = "chat.muted",
    [LC_SHOW_EV_CHAT_BANNED] = "chat.banned",
    [LC_SHOW_EV_CHAT_SLOWMODE] = "chat.slowmode",
    [LC_SHOW_EV_CHAT_BLOCKED] = "chat.blocked",
    [LC_SHOW_EV_LIKES] = "likes",
    [LC_SHOW_EV_VIEWERS] = "viewers",
    [LC_SHOW_EV_STOCK_LOW] = "stock.low",
    [LC_SHOW_EV_COMPLIANCE_FLAGGED] = "compliance.flagged",
    [LC_SHOW_EV_PROMO_UPDATED] = "promo.updated",
    [LC_SHOW_EV_GIFTS_CATALOG] = "gifts.catalog",
    [LC_SHOW_EV_GIFTS] = "gifts",
    [LC_SHOW_EV_LEADERBOARD] = "leaderboard",
    [LC_SHOW_EV_WALLET_UPDATED] = "wallet.updated",
    [LC_SHOW_EV_GROUP_OPENED] = "group.opened",
    [LC_SHOW_EV_GROUP_TEAM] = "group.team",
    [LC_SHOW_EV_GROUP_CLOSED] = "group.closed",
    [LC_SHOW_EV_GROUP_FORMED] = "group.formed",
};

const char *
lc__stream_name(lc_show_stream_state st)
{
  static const char *const names[] = {"offline", "live", "reconnecting"};
  return st >= 0 && st < (int)G_N_ELEMENTS(names) ? names[st] : "offline";
}

const char *
lc_show_event_name(lc_show_event_kind kind)
{
  return kind >= 0 && kind < LC_SHOW_EV_N ? event_names[kind] : "unknown";
}

gint64
lc__show_now(lc_show *s)
{
  return s->replaying || s->rentry ? s->replay_now : lc_clock_now_ms(s->cfg.clock);
}

void
lc__show_event(lc_show *s, lc_show_event_kind kind, json_t *data)
{
  if (s->replaying) {
    /* In cluster mode a node that joins late counts the events its stream already made,
     * so that a seq means the same event on every node. */
    if (s->cfg.remote)
      s->seq++;
  } else if (s->sinks.event) {
    s->seq++;
    s->sinks.event(s, s->seq, kind, data, s->sinks.user);
  }
  json_decref(data);
}

void
lc__show_private(lc_show *s, const char *user, lc_show_event_kind kind, json_t *data)
{
  if (!s->replaying && s->sinks.private_event && user)
    s->sinks.private_event(s, user, kind, data, NULL, s->sinks.user);
  json_decref(data);
}

void
lc__show_private_answer(lc_show *s, const char *user, lc_show_event_kind kind, json_t *data)
{
  if (!s->replaying && s->sinks.private_event && user)
    s->sinks.private_event(s, user, kind, data, s->origin, s->sinks.user);
  json_decref(data);
}

void
lc__show_alert(lc_show *s, lc_show_event_kind kind, json_t *data)
{
  if (!s->replaying && s->sinks.alert)
    s->sinks.alert(s, kind, data, s->sinks.user);
  json_decref(data);
}

/* ---- throttled aggregates ---------------------------------------------------------- */

void
lc__show_flush_aggregates(lc_show *s)
{
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, s->dirty_skus);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    int sku = GPOINTER_TO_INT(key) - 1;
    if (s->catalog && sku < s->catalog->n_skus)
      lc__show_event(s, LC_SHOW_EV_STOCK_UPDATED,
                     json_pack("{s:s, s:I}", "sku", s->catalog->skus[sku].id, "available",
                               (json_int_t)s->available[sku]));
  }
  g_hash_table_remove_all(s->dirty_skus);
  g_hash_table_iter_init(&it, s->dirty_sales);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    sale *sl = key;
    lc__show_event(s, LC_SHOW_EV_FLASH_STOCK,
                   json_pack("{s:s, s:I, s:I, s:s}", "sale_id", sl->id, "remaining",
                             (json_int_t)(sl->ended ? 0 : sl->quantity - sl->sold), "sold",
                             (json_int_t)sl->sold, "state", lc__sale_state_name(lc__sale_state(s, sl))));
  }
  g_hash_table_remove_all(s->dirty_sales);
}

static gboolean
flush_aggregates(gpointer user)
{
  lc_show *s = user;
  s->throttle_timer = 0;
  lc__show_flush_aggregates(s);
  return G_SOURCE_REMOVE;
}

/* Likes and the viewer count go to every viewer: at 10,000 viewers each broadcast
 * costs ~0.1 s of the main thread, so they have their own, slower clock. */
static gboolean
flush_counts(gpointer user)
{
  lc_show *s = user;
  s->counts_timer = 0;
  if (s->dirty_likes)
    lc__show_event(s, LC_SHOW_EV_LIKES, json_pack("{s:I}", "total", (json_int_t)s->likes));
  if (s->dirty_viewers)
    lc__show_event(s, LC_SHOW_EV_VIEWERS, json_pack("{s:I}", "count", (json_int_t)s->viewers));
  s->dirty_likes = s->dirty_viewers = false;
  return G_SOURCE_REMOVE;
}

static void
schedule_counts(lc_show *s)
{
  if (!s->replaying && !s->stopping && !s->counts_timer)
    s->counts_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.counts_ms, flush_counts, s);
}

static void
schedule_flush(lc_show *s)
{
  if (s->cfg.remote) {
    if (!s->replaying && !s->stopping)
      lc__remote_want_flush(s); /* every node flushes at the same entry */
    return;
  }
  if (!s->replaying && !s->stopping && !s->throttle_timer)
    s->throttle_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.throttle_ms, flush_aggregates, s);
}

void
lc__show_dirty_sku(lc_show *s, int sku)
{
  g_hash_table_add(s->dirty_skus, GINT_TO_POINTER(sku + 1));
  schedule_flush(s);
}

void
lc__show_dirty_sale(lc_show *s, sale *sl)
{
  g_hash_table_add(s->dirty_sales, sl);
  schedule_flush(s);
}

void
lc__show_dirty_likes(lc_show *s)
{
  s->dirty_likes = true;
  if (s->cfg.remote)
    lc__remote_want_counts(s);
  else
    schedule_counts(s);
}

void
lc__show_dirty_viewers(lc_show *s)
{
  s->dirty_viewers = true;
  if (s->cfg.remote)
    lc__remote_want_counts(s);
  else
    schedule_counts(s);
}

/* ---- operations and op_id memory ------------------------------------------------------ */

typedef struct {
  lc_show_done done;
  gpointer user;
} waiter;

struct lc__op {
  lc_show *s;
  gconstpointer origin;
  op_entry *entry; /* NULL without op_id */
  lc_show_done done;
  gpointer user;
};

static void
op_entry_free(op_entry *e)
{
  g_free(e->key);
  g_free(e->code);
  g_free(e->message);
  g_free(e->result);
  g_slist_free_full(e->waiters, g_free);
  g_free(e);
}

static char *
op_key(const char *user, const char *op_id)
{
  return g_strconcat(user ? user : "", "\x1f", op_id, NULL);
}

static void
answer(lc_show_done done, gpointer user, const char *code, const char *message, const json_t *result)
{
  lc_show_result r = {code, message, result};
  if (done)
    done(&r, user);
}

/* Evicts the oldest settled entries beyond the configured count and memory: a
 * client flooding requests must not be able to grow the cache without bound. */
static void
op_evict(lc_show *s)
{
  while ((int)g_queue_get_length(&s->op_order) > s->cfg.op_cache || s->op_bytes > s->cfg.op_cache_bytes) {
    op_entry *old = g_queue_peek_head(&s->op_order);
    if (!old || old->pending)
      break;
    g_queue_pop_head(&s->op_order);
    s->op_bytes -= old->bytes;
    g_hash_table_remove(s->ops, old->key);
  }
}

static op_entry *
op_insert(lc_show *s, char *key)
{
  op_entry *e = g_new0(op_entry, 1);
  e->key = key;
  e->pending = true;
  g_hash_table_replace(s->ops, e->key, e);
  g_queue_push_tail(&s->op_order, e);
  op_evict(s);
  return e;
}

/* Records the settled answer of an entry. */
static void
op_settle(lc_show *s, op_entry *e, const char *code, const char *message, const json_t *result)
{
  e->pending = false;
  e->code = g_strdup(code);
  e->message = g_strdup(message);
  e->result = result ? json_dumps(result, JSON_COMPACT) : NULL;
  e->bytes = sizeof *e + strlen(e->key) + (e->result ? strlen(e->result) : 0) + (message ? strlen(message) : 0);
  s->op_bytes += e->bytes;
  op_evict(s);
}

/* Answers from a settled entry. */
static void
answer_cached(const op_entry *e, lc_show_done done, gpointer user)
{
  json_t *result = e->result ? json_loads(e->result, 0, NULL) : NULL;
  answer(done, user, e->code, e->message, result);
  json_decref(result);
}

lc__op *
lc__op_begin(lc_show *s, const lc_show_caller *caller, lc_show_done done, gpointer user)
{
  if (s->stopping) {
    answer(done, user, "shutting_down", "the server is stopping; retry after reconnecting", NULL);
    return NULL;
  }
  if (s->broken) {
    answer(done, user, "internal_error", "the show is recovering from a storage error; retry", NULL);
    return NULL;
  }
  if (s->cfg.remote && !s->rup) {
    answer(done, user, "unavailable", "the show's shared store does not answer; retry with the same op_id", NULL);
    return NULL;
  }
  op_entry *e = NULL;
  if (caller && caller->op_id && *caller->op_id) {
    char *key = op_key(caller->user, caller->op_id);
    e = g_hash_table_lookup(s->ops, key);
    if (e) {
      g_free(key);
      if (e->pending) {
        waiter *w = g_new0(waiter, 1);
        w->done = done;
        w->user = user;
        e->waiters = g_slist_append(e->waiters, w);
      } else {
        answer_cached(e, done, user);
      }
      return NULL;
    }
    e = op_insert(s, key);
  }
  lc__op *op = g_new0(lc__op, 1);
  op->s = s;
  op->origin = caller ? caller->origin : NULL;
  op->entry = e;
  op->done = done;
  op->user = user;
  return op;
}

/* Answers everyone waiting for an entry's op_id (later duplicates of the operation). */
static void
answer_waiters(op_entry *e, const char *code, const char *message, const json_t *result)
{
  GSList *waiters = e->waiters;
  e->waiters = NULL;
  for (GSList *l = waiters; l; l = l->next) {
    waiter *w = l->data;
    answer(w->done, w->user, code, message, result);
  }
  g_slist_free_full(waiters, g_free);
}

static void
op_finish(lc__op *op, const char *code, const char *message, json_t *result)
{
  answer(op->done, op->user, code, message, result);
  op_entry *e = op->entry;
  if (e) {
    answer_waiters(e, code, message, result);
    if (code && strcmp(code, "unavailable") == 0) {
      /* Not an answer: the change may or may not be stored. A retry must ask again (and the
       * store's op_id check gives it the first answer), so nothing is remembered. */
      g_queue_remove(&op->s->op_order, e);
      g_hash_table_remove(op->s->ops, e->key);
    } else {
      op_settle(op->s, e, code, message, result); /* may evict e itself: the last use */
    }
  }
  json_decref(result);
  g_free(op);
}

void
lc__op_fail(lc__op *op, const char *code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  op_finish(op, code, msg, NULL);
  g_free(msg);
}

void
lc__op_reply(lc__op *op, json_t *result)
{
  op_finish(op, NULL, NULL, result ? result : json_object());
}

void
lc__op_remember(lc_show *s, const char *user, const char *op_id, const json_t *result)
{
  char *key = op_key(user, op_id);
  op_entry *e = g_hash_table_lookup(s->ops, key);
  if (e) {
    g_free(key);
    if (!e->pending)
      return;
    /* The same op_id is in flight here and another node wrote it first: the waiters get
     * the first answer now, the operation itself when the store says "dup". */
    answer_waiters(e, NULL, NULL, result);
    op_settle(s, e, NULL, NULL, result);
    return;
  }
  e = op_insert(s, key);
  op_settle(s, e, NULL, NULL, result);
}

bool
lc__op_answer_remembered(lc__op *op)
{
  op_entry *e = op->entry;
  if (!e || e->pending || !g_hash_table_contains(op->s->ops, e->key) ||
      g_hash_table_lookup(op->s->ops, e->key) != e)
    return false;
  answer_cached(e, op->done, op->user);
  g_free(op);
  return true;
}

gconstpointer
lc__op_origin(const lc__op *op)
{
  return op ? op->origin : NULL;
}

/* ---- facts: apply, commit, replay ----------------------------------------------- */

/* One applier per kind, the same live and in replay. A kind without a case here does
 * not compile (-Wswitch). f: the catalog and coupon appliers take what they keep. */
void
lc__show_apply(lc_show *s, lc__fact *f)
{
  switch (f->kind) {
  case LC__FACT_CATALOG_LOADED:
    lc__apply_catalog(s, &f->u.catalog);
    break;
  case LC__FACT_PIN:
    lc__apply_pin(s, &f->u.pin);
    break;
  case LC__FACT_FLASH_SCHEDULED:
    lc__apply_flash_scheduled(s, &f->u.flash_scheduled);
    break;
  case LC__FACT_FLASH_STARTED:
    lc__apply_flash_started(s, &f->u.flash_started);
    break;
  case LC__FACT_FLASH_ENDED:
    lc__apply_flash_ended(s, &f->u.flash_ended);
    break;
  case LC__FACT_COUPON_DROPPED:
    lc__apply_coupon_dropped(s, &f->u.coupon_dropped);
    break;
  case LC__FACT_COUPON_CLAIMED:
    lc__apply_coupon_claimed(s, &f->u.coupon_claimed);
    break;
  case LC__FACT_CART_SET:
    lc__apply_cart_set(s, &f->u.cart_set);
    break;
  case LC__FACT_ORDER_CREATED:
    lc__apply_order_created(s, &f->u.order_created);
    break;
  case LC__FACT_ORDER_PAID:
    lc__apply_order_closed(s, &f->u.order_closed, ORDER_PAID);
    break;
  case LC__FACT_ORDER_CANCELLED:
    lc__apply_order_closed(s, &f->u.order_closed, ORDER_CANCELLED);
    break;
  case LC__FACT_ORDER_EXPIRED:
    lc__apply_order_closed(s, &f->u.order_closed, ORDER_EXPIRED);
    break;
  case LC__FACT_CHAT_MUTED:
    lc__apply_chat_muted(s, &f->u.chat_muted);
    break;
  case LC__FACT_CHAT_BANNED:
    lc__apply_chat_banned(s, &f->u.chat_banned);
    break;
  case LC__FACT_CHAT_SLOWMODE:
    lc__apply_chat_slowmode(s, &f->u.chat_slowmode);
    break;
  case LC__FACT_LIKES:
    lc__apply_likes(s, &f->u.likes);
    break;
  case LC__FACT_PROMO_SET:
    lc__apply_promo_set(s, &f->u.promo_set);
    break;
  case LC__FACT_GIFTS_LOADED:
    lc__apply_gifts_loaded(s, &f->u.gifts_loaded);
    break;
  case LC__FACT_GIFT_SENT:
    lc__apply_gift_sent(s, &f->u.gift_sent);
    break;
  case LC__FACT_GROUP_OPENED:
    lc__apply_group_opened(s, &f->u.group_opened);
    break;
  case LC__FACT_GROUP_CLOSED:
    lc__apply_group_closed(s, &f->u.group_closed);
    break;
  case LC__FACT_TEAM_FAILED:
    lc__apply_team_failed(s, &f->u.group_closed);
    break;
  case LC__FACT_N:
    g_assert_not_reached();
  }
}

lc__committed_fn
lc__show_committed_for(lc__fact_kind kind)
{
  switch (kind) {
  case LC__FACT_CATALOG_LOADED:
    return lc__committed_catalog;
  case LC__FACT_PIN:
    return lc__committed_pin;
  case LC__FACT_FLASH_SCHEDULED:
    return lc__committed_flash_scheduled;
  case LC__FACT_FLASH_STARTED:
    return lc__committed_flash_started;
  case LC__FACT_FLASH_ENDED:
    return lc__committed_flash_ended;
  case LC__FACT_COUPON_DROPPED:
    return lc__committed_coupon_dropped;
  case LC__FACT_COUPON_CLAIMED:
    return lc__committed_claim;
  case LC__FACT_CART_SET:
    return lc__committed_cart;
  case LC__FACT_ORDER_CREATED:
    return lc__committed_order_created;
  case LC__FACT_ORDER_PAID:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_ORDER_EXPIRED:
    return lc__committed_order_closed;
  case LC__FACT_CHAT_MUTED:
  case LC__FACT_CHAT_BANNED:
  case LC__FACT_CHAT_SLOWMODE:
    return lc__committed_moderation;
  case LC__FACT_PROMO_SET:
    return lc__committed_promo_set;
  case LC__FACT_GIFTS_LOADED:
    return lc__committed_gifts_loaded;
  case LC__FACT_GIFT_SENT:
    return lc__committed_gift_sent;
  case LC__FACT_GROUP_OPENED:
  case LC__FACT_GROUP_CLOSED:
    return lc__committed_group_deal;
  case LC__FACT_TEAM_FAILED:
    return lc__committed_team_failed;
  case LC__FACT_LIKES:
  case LC__FACT_N:
    break;
  }
  return NULL;
}

/* The answer a viewer's operation got, for the facts written under a viewer's op_id. */
lc__committed_fn
lc__show_viewer_answer(lc__fact_kind kind)
{
  switch (kind) {
  case LC__FACT_COUPON_CLAIMED:
  case LC__FACT_CART_SET:
  case LC__FACT_ORDER_CREATED:
  case LC__FACT_ORDER_CANCELLED:
  case LC__FACT_GIFT_SENT:
    return lc__show_committed_for(kind);
  default:
    return NULL;
  }
}

typedef struct {
  lc_show *s;
  lc__op *op;
  lc__fact *fact;
  lc__committed_fn committed;
  gpointer data;
  GDestroyNotify data_free;
  char *wallet_user;  /* the wallet the fact moves coins of, or NULL */
  gint64 wallet_delta;
} pending_commit;

/* The coins a fact moves (docs/marketing.md): a gift debits its sender, the payment of a
 * top-up credits its buyer. Decided before the fact is applied. */
static gint64
wallet_delta(lc_show *s, const lc__fact *f, const char **user)
{
  *user = NULL;
  if (f->kind == LC__FACT_GIFT_SENT) {
    *user = f->u.gift_sent.user;
    return -f->u.gift_sent.coins;
  }
  if (f->kind == LC__FACT_ORDER_PAID) {
    order *o = g_hash_table_lookup(s->orders, f->u.order_closed.id);
    if (o && o->state == ORDER_PENDING && o->coins > 0) {
      *user = o->user;
      return o->coins;
    }
  }
  return 0;
}

static void rebuild_when_drained(lc_show *s);

static void
commit_done(int err, gpointer user)
{
  pending_commit *p = user;
  lc_show *s = p->s;
  if (err != 0 && p->wallet_user) /* the coins never moved in the store: undo the image */
    lc_wallets_add(s->wallets, s->shop, p->wallet_user, -p->wallet_delta);
  if (err != 0) {
    LC_ERROR(s->room, NULL, "a fact could not be stored (%s): rebuilding the show from its journal",
             lc_strerror(err));
    if (p->op)
      lc__op_fail(p->op, "internal_error", "the change could not be stored");
    rebuild_when_drained(s);
  } else if (!s->broken) {
    s->origin = p->op ? p->op->origin : NULL;
    json_t *result = p->committed ? p->committed(s, p->fact, p->data) : json_object();
    s->origin = NULL;
    if (p->op)
      lc__op_reply(p->op, result);
    else
      json_decref(result);
  } else if (p->op) {
    /* committed, but memory is being rebuilt: the fact is in the journal */
    lc__op_fail(p->op, "internal_error", "the show is recovering; check your orders after reconnecting");
  }
  if (p->data_free)
    p->data_free(p->data);
  lc__fact_free(p->fact);
  g_free(p->wallet_user);
  g_free(p);
}

void
lc__show_commit(lc_show *s, lc__op *op, lc__fact *f, lc__committed_fn committed, gpointer data,
                GDestroyNotify data_free)
{
  if (s->cfg.remote) {
    g_assert(!data && !data_free); /* every committed step derives from the fact and the state */
    lc__remote_commit(s, op, f, committed);
    return;
  }
  char *text = lc__fact_encode(f); /* before apply, which may take the catalog or coupon */
  const char *wuser = NULL;
  gint64 delta = wallet_delta(s, f, &wuser);
  pending_commit *p = g_new0(pending_commit, 1);
  p->s = s;
  p->op = op;
  p->fact = f;
  p->committed = committed;
  p->data = data;
  p->data_free = data_free;
  if (wuser && delta) {
    p->wallet_user = g_strdup(wuser);
    p->wallet_delta = delta;
    lc_wallets_add(s->wallets, s->shop, wuser, delta); /* like stock: the next operation sees it */
  }
  lc__show_apply(s, f);
  lc_store_journal_append_wallet(s->store, s->room, lc__fact_type(f->kind), text, s->shop, p->wallet_user,
                                 p->wallet_delta, commit_done, p);
}

typedef struct {
  lc_show *s;
  int bad;
} replay_ctx;

static void
replay_fact(gint64 id, const char *type, const char *data, gint64 ts, gpointer user)
{
  replay_ctx *rc = user;
  lc_show *s = rc->s;
  char *why = NULL;
  lc__fact *f = lc__fact_decode(type, data, s->cfg.low_stock_default, &why);
  if (!f) {
    LC_ERROR(s->room, NULL, "journal entry %" G_GINT64_FORMAT " (%s) refused: %s; skipped", id, type, why);
    g_free(why);
    rc->bad++;
    return;
  }
  s->replay_now = ts;
  lc__show_apply(s, f);
  const char *op_id = lc__fact_op_id(f), *who = lc__fact_op_user(f);
  lc__committed_fn answer_fn = lc__show_viewer_answer(f->kind);
  if (op_id && who && answer_fn) {
    json_t *result = answer_fn(s, f, NULL);
    lc__op_remember(s, who, op_id, result);
    json_decref(result);
  }
  lc__fact_free(f);
}

static void
new_epoch(lc_show *s)
{
  for (int i = 0; i < 16; i++)
    s->epoch[i] = "0123456789abcdef"[g_random_int_range(0, 16)];
  s->epoch[16] = '\0';
  s->seq = 0;
}

static void
state_init(lc_show *s)
{
  s->pinned = -1;
  s->sales = g_ptr_array_new_with_free_func(lc__sale_free);
  s->coupons = g_ptr_array_new_with_free_func(lc__coupon_free);
  s->claims = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, lc__claim_free);
  s->carts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  s->orders = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, lc__order_free);
  s->holds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  s->order_list = g_ptr_array_new();
  g_queue_init(&s->expiry);
  s->seen_users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  s->chatters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, lc__chatter_free);
  g_queue_init(&s->chat);
  s->ops = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)op_entry_free);
  g_queue_init(&s->op_order);
  s->dirty_skus = g_hash_table_new(g_direct_hash, g_direct_equal);
  s->dirty_sales = g_hash_table_new(g_direct_hash, g_direct_equal);
  s->promos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)lc_promo_free);
  lc__group_init(s);
  lc__gifts_init(s);
}

static void
state_clear(lc_show *s)
{
  if (s->throttle_timer)
    lc_clock_source_remove(s->cfg.clock, s->throttle_timer);
  if (s->counts_timer)
    lc_clock_source_remove(s->cfg.clock, s->counts_timer);
  if (s->expiry_timer)
    lc_clock_source_remove(s->cfg.clock, s->expiry_timer);
  if (s->likes_timer)
    lc_clock_source_remove(s->cfg.clock, s->likes_timer);
  s->throttle_timer = s->counts_timer = s->expiry_timer = s->likes_timer = 0;
  g_ptr_array_unref(s->sales);
  g_ptr_array_unref(s->coupons);
  g_hash_table_destroy(s->claims);
  g_hash_table_destroy(s->carts);
  g_ptr_array_unref(s->order_list);
  g_hash_table_destroy(s->orders);
  g_hash_table_destroy(s->holds);
  g_queue_clear(&s->expiry);
  g_hash_table_destroy(s->seen_users);
  g_hash_table_destroy(s->chatters);
  g_queue_clear_full(&s->chat, lc__chat_msg_free);
  g_queue_clear(&s->op_order);
  g_hash_table_destroy(s->ops);
  g_hash_table_destroy(s->dirty_skus);
  g_hash_table_destroy(s->dirty_sales);
  g_hash_table_destroy(s->promos);
  lc__group_clear(s);
  lc__gifts_clear(s);
  lc_catalog_free(s->catalog);
  g_free(s->available);
  g_free(s->low_alerted);
  s->catalog = NULL;
  s->available = NULL;
  s->low_alerted = NULL;
  /* Everything from `catalog` on is show state (see show_internal.h): zero it for
   * state_init, keeping the live connection counts, which a rebuild does not change. */
  gint64 viewers = s->viewers, peak = s->peak_viewers;
  size_t keep = offsetof(lc_show, catalog);
  memset((char *)s + keep, 0, sizeof *s - keep);
  s->viewers = viewers; /* connections survive a rebuild */
  s->peak_viewers = peak;
}

static int
replay(lc_show *s, char **err_msg)
{
  replay_ctx rc = {s, 0};
  s->replaying = true;
  int err = lc_store_journal_load(s->store, s->room, replay_fact, &rc);
  s->replaying = false;
  s->replay_now = 0;
  if (err != 0) {
    *err_msg = g_strdup_printf("cannot read the journal of room %s", s->room);
    return err;
  }
  s->likes_journaled = s->likes;
  lc__sales_arm(s);
  lc__expiry_arm(s);
  lc__group_arm(s);
  return 0;
}

static void
reopened(int err, gpointer user)
{
  lc_show *s = user;
  if (s->stopping)
    return;
  s->broken = false;
  /* Connected clients hold state of the old epoch: tell them to take a snapshot. */
  lc__show_event(s, LC_SHOW_EV_SHOW_RESET, json_pack("{s:s}", "epoch", s->epoch));
}

static void
rebuild(int err, gpointer user)
{
  lc_show *s = user;
  if (s->stopping)
    return; /* the state is about to be discarded; the journal is the truth */
  state_clear(s);
  state_init(s);
  new_epoch(s);
  char *msg = NULL;
  if (replay(s, &msg) != 0) {
    LC_ERROR(s->room, NULL, "%s; the show stays closed for operations", msg);
    g_free(msg);
    return;
  }
  LC_WARN(s->room, NULL, "show rebuilt from its journal (new epoch %s)", s->epoch);
  /* The store refuses this room's facts since the failure; take them again now. */
  lc_store_journal_reset(s->store, s->room, reopened, s);
}

static void
rebuild_when_drained(lc_show *s)
{
  if (s->broken)
    return;
  s->broken = true;
  lc_store_drain(s->store, rebuild, s);
}

/* ---- lifecycle ----------------------------------------------------------------- */

lc_show *
lc_show_open(const char *room, lc_store *store, const lc_show_config *cfg, const lc_show_sinks *sinks,
             char **err_msg)
{
  lc_show *s = g_new0(lc_show, 1);
  s->room = g_strdup(room);
  s->store = store;
  s->cfg = *cfg;
  if (s->cfg.throttle_ms <= 0)
    s->cfg.throttle_ms = 100;
  if (s->cfg.counts_ms <= 0)
    s->cfg.counts_ms = 1000;
  if (s->cfg.op_cache <= 0)
    s->cfg.op_cache = 100000;
  if (s->cfg.op_cache_bytes == 0)
    s->cfg.op_cache_bytes = 64 * 1024 * 1024;
  if (s->cfg.chat_recent <= 0)
    s->cfg.chat_recent = 50;
  if (!s->cfg.clock)
    s->cfg.clock = lc_clock_real();
  if (sinks)
    s->sinks = *sinks;
  s->shop = g_strdup(cfg->shop ? cfg->shop : room);
  s->cfg.shop = s->shop;
  if (!s->cfg.wallets) {
    s->own_wallets = lc_wallets_new(store);
    s->cfg.wallets = s->own_wallets;
  }
  s->wallets = s->cfg.wallets;
  new_epoch(s);
  state_init(s);
  if (s->cfg.remote) {
    lc__remote_init(s); /* the owner feeds the stream (lc_show_remote_entry) */
    return s;
  }
  if (replay(s, err_msg) != 0) {
    lc_show_free(s);
    return NULL;
  }
  LC_INFO(room, NULL, "show open: %d products, %u orders, %u sales, epoch %s",
          s->catalog ? s->catalog->n_products : 0, s->order_list->len, s->sales->len, s->epoch);
  return s;
}

void
lc_show_free(lc_show *s)
{
  if (!s)
    return;
  state_clear(s);
  lc__remote_clear(s);
  lc_wallets_free(s->own_wallets);
  g_free(s->shop);
  g_free(s->room);
  g_free(s);
}

const char *
lc_show_room(const lc_show *s)
{
  return s->room;
}

const char *
lc_show_epoch(const lc_show *s)
{
  return s->epoch;
}

gint64
lc_show_seq(const lc_show *s)
{
  return s->seq;
}

void
lc_show_stop_timers(lc_show *s)
{
  guint *timers[] = {&s->throttle_timer, &s->counts_timer, &s->expiry_timer, &s->likes_timer};
  for (unsigned i = 0; i < G_N_ELEMENTS(timers); i++)
    if (*timers[i]) {
      lc_clock_source_remove(s->cfg.clock, *timers[i]);
      *timers[i] = 0;
    }
  for (guint i = 0; i < s->sales->len; i++) {
    sale *sl = g_ptr_array_index(s->sales, i);
    if (sl->timer) {
      lc_clock_source_remove(s->cfg.clock, sl->timer);
      sl->timer = 0;
    }
  }
  lc__remote_stop_timers(s);
  lc__group_stop_timers(s);
  lc__gifts_stop_timers(s);
  s->stopping = true; /* refuse operations from here on; what is in flight completes normally */
}

void
lc_show_set_closed(lc_show *s, bool closed)
{
  s->closed = closed;
}

/* ---- snapshot and stats ----------------------------------------------------------- */

json_t *
lc_show_me(lc_show *s, const char *user)
{
  json_t *orders = lc_show_orders(s, user, NULL);
  json_t *me = json_pack("{s:o, s:o, s:o}", "cart", lc__cart_json(s, user), "orders", orders, "claims",
                         lc__claims_json(s, user));
  lc__chat_me(s, user, me);
  json_object_set_new(me, "wallet", lc__wallet_json(s, user));
  json_object_set_new(me, "teams", lc__group_me_json(s, user));
  return me;
}

json_t *
lc_show_snapshot(lc_show *s, const char *user)
{
  json_t *sales = json_array();
  for (guint i = 0; i < s->sales->len; i++)
    json_array_append_new(sales, lc__sale_json(s, g_ptr_array_index(s->sales, i)));
  json_t *o = json_pack("{s:s?, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:I, s:b, s:s}", "currency",
                        s->catalog ? s->catalog->currency : NULL, "products", lc__products_json(s), "pinned",
                        lc__pinned_json(s), "flash_sales", sales, "coupons", lc__coupons_json(s), "likes",
                        (json_int_t)s->likes, "viewers", (json_int_t)(s->cfg.remote ? s->viewers_total : s->viewers), "chat", lc__chat_json(s),
                        "slow_mode_s", (json_int_t)s->slow_mode_s, "closed", s->closed, "stream",
                        lc__stream_name(s->stream));
  if (s->catalog)
    json_object_set_new(o, "currency_exponent", json_integer(s->catalog->exponent));
  json_object_set_new(o, "group_deals", lc__group_deals_json(s));
  json_object_set_new(o, "gifts", lc__gifts_json(s));
  if (user)
    json_object_set_new(o, "me", lc_show_me(s, user));
  return o;
}

json_t *
lc_show_stats(lc_show *s)
{
  gint64 by_state[4] = {0}, gmv_paid = 0, gmv_placed = 0;
  GHashTable *buyers = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < s->order_list->len; i++) {
    order *o = g_ptr_array_index(s->order_list, i);
    by_state[o->state]++;
    gmv_placed += o->total;
    if (o->state == ORDER_PAID) {
      gmv_paid += o->total;
      g_hash_table_add(buyers, o->user);
    }
  }
  gint64 unique = g_hash_table_size(s->seen_users) + s->anon_joins;
  gint64 n_buyers = g_hash_table_size(buyers);
  g_hash_table_destroy(buyers);
  return json_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:f, s:s?}", "viewers",
                   (json_int_t)(s->cfg.remote ? s->viewers_total : s->viewers), "peak_viewers",
                   (json_int_t)s->peak_viewers, "unique_viewers",
                   (json_int_t)unique, "likes", (json_int_t)s->likes, "orders", "pending",
                   (json_int_t)by_state[ORDER_PENDING], "paid", (json_int_t)by_state[ORDER_PAID], "cancelled",
                   (json_int_t)by_state[ORDER_CANCELLED], "expired", (json_int_t)by_state[ORDER_EXPIRED],
                   "gmv_paid", (json_int_t)gmv_paid, "gmv_placed", (json_int_t)gmv_placed, "buyers",
                   (json_int_t)n_buyers, "conversion", unique > 0 ? (double)n_buyers / (double)unique : 0.0,
                   "currency", s->catalog ? s->catalog->currency : NULL);
}

void
lc_show_set_stream(lc_show *s, lc_show_stream_state state)
{
  if (s->cfg.remote) { /* every node shows it at the same entry */
    if (!s->stopping)
      lc__remote_send(s, NULL, "stream", json_pack("{s:s}", "state", lc__stream_name(state)), NULL, NULL);
    return;
  }
  if (s->stream == state)
    return;
  s->stream = state;
  lc__show_event(s, LC_SHOW_EV_STREAM, json_pack("{s:s}", "state", lc__stream_name(state)));
}

const char *
lc_show_stream(const lc_show *s)
{
  return lc__stream_name(s->stream);
}

gint64
lc_show_viewers(const lc_show *s)
{
  return s->viewers;
}

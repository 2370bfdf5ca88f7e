/* Cluster mode of the show engine (show_remote.h): sending facts with their gate, applying
 * the stream's entries in order, and the entries that make every node's events the same
 * (flush ticks, sale announcements, counts, chat, video state). */
#define LC_LOG_DOMAIN "show"
#include "base/log.h"
#include "commerce/show_internal.h"

#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_MS 10000 /* a node with viewers reports its count this often (the store forgets
                            * a node that has not reported for 3 of these) */

/* An entry this node sent, until it is applied (or refused, or given up). It is freed
 * when both the store's answer and the outcome are in: the answer may come before or
 * after the follower delivers the entry. */
typedef struct {
  lc_show *s;              /* NULL once the show is freed */
  char *token;
  lc__op *op;              /* answered when the entry is applied; may be NULL */
  lc__committed_fn committed;
  GArray *ops;             /* the gate (lc_gate_op), for a refusal's message */
  char *dup_id;            /* "dup": the entry that holds the first answer */
  gint64 deadline;         /* after the store said ok: applied by then (ms, the show's clock), else
                            * the op fails with unavailable; 0: none */
  gint64 likes;            /* counts: likes to give back when it fails */
  bool in_table;           /* in s->rpending */
  bool awaiting_answer;    /* the store has not answered yet */
} rpending;

int
lc_show_stream_id_cmp(const char *a, const char *b)
{
  guint64 am = 0, as = 0, bm = 0, bs = 0;
  char *end = NULL;
  am = g_ascii_strtoull(a, &end, 10);
  if (end && *end == '-')
    as = g_ascii_strtoull(end + 1, NULL, 10);
  bm = g_ascii_strtoull(b, &end, 10);
  if (end && *end == '-')
    bs = g_ascii_strtoull(end + 1, NULL, 10);
  if (am != bm)
    return am < bm ? -1 : 1;
  return as < bs ? -1 : as > bs ? 1 : 0;
}

static void
rpending_maybe_free(rpending *p)
{
  if (p->in_table || p->awaiting_answer)
    return;
  lc__gate_ops_free(p->ops);
  g_free(p->token);
  g_free(p->dup_id);
  g_free(p);
}

/* Takes p out of the show's tables (it is being answered). */
static void
rpending_detach(rpending *p)
{
  lc_show *s = p->s;
  if (!s || !p->in_table)
    return;
  g_hash_table_steal(s->rpending, p->token);
  if (p->dup_id)
    g_queue_remove(&s->rwaiting, p);
  p->in_table = false;
}

static void
rpending_fail(rpending *p, const char *code, const char *message)
{
  rpending_detach(p);
  if (p->likes && p->s)
    p->s->likes_unsent += p->likes; /* reported with the next counts entry */
  p->likes = 0;
  if (p->op)
    lc__op_fail(p->op, code, "%s", message);
  p->op = NULL;
  rpending_maybe_free(p);
}

static void
finish_dup(rpending *p)
{
  rpending_detach(p);
  if (p->op && !lc__op_answer_remembered(p->op))
    lc__op_fail(p->op, "unavailable", "the first answer of this op_id is no longer known here; check your orders");
  p->op = NULL;
  rpending_maybe_free(p);
}

/* Once a second while entries are in flight: those the store took but that have not come back
 * by their deadline fail with unavailable (one timer per show, not one per operation). */
static gboolean
sweep_late(gpointer user)
{
  lc_show *s = user;
  gint64 now = lc_clock_now_ms(s->cfg.clock);
  GPtrArray *late = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->rpending);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (((rpending *)v)->deadline && ((rpending *)v)->deadline <= now)
      g_ptr_array_add(late, v);
  if (late->len)
    LC_WARN(s->room, NULL, "%u entries were stored but not applied within %" G_GINT64_FORMAT " ms", late->len,
            s->cfg.remote->answer_timeout_ms);
  for (guint i = 0; i < late->len; i++)
    rpending_fail(g_ptr_array_index(late, i), "unavailable",
                  "stored, but this node has not caught up with the show; retry with the same op_id");
  g_ptr_array_free(late, TRUE);
  if (g_hash_table_size(s->rpending) > 0)
    return G_SOURCE_CONTINUE;
  s->rsweep_timer = 0;
  return G_SOURCE_REMOVE;
}

static void
append_done(lc_show_append_status st, const char *id, int gate, gpointer user)
{
  rpending *p = user;
  p->awaiting_answer = false;
  lc_show *s = p->s;
  if (!s || !p->in_table) { /* show gone, or the entry already applied */
    rpending_maybe_free(p);
    return;
  }
  switch (st) {
  case LC_SHOW_APPEND_OK:
    if (p->op) {
      p->deadline = lc_clock_now_ms(s->cfg.clock) + s->cfg.remote->answer_timeout_ms;
      if (!s->rsweep_timer)
        s->rsweep_timer = lc_clock_timeout_add(s->cfg.clock, 1000, sweep_late, s);
    }
    break;
  case LC_SHOW_APPEND_DUP:
    p->dup_id = g_strdup(id ? id : "0-0");
    if (lc_show_stream_id_cmp(s->rpos, p->dup_id) >= 0)
      finish_dup(p);
    else
      g_queue_push_tail(&s->rwaiting, p);
    break;
  case LC_SHOW_APPEND_GATE: {
    const lc_gate_op *op = p->ops && gate >= 0 && (guint)gate < p->ops->len ? &g_array_index(p->ops, lc_gate_op, gate)
                                                                            : NULL;
    if (!p->op)
      LC_DEBUG(s->room, NULL, "entry %s refused by the gate: %s", p->token, op && op->message ? op->message : "?");
    rpending_fail(p, op && op->code ? op->code : "conflict",
                  op && op->message ? op->message : "the show changed meanwhile; retry");
    break;
  }
  case LC_SHOW_APPEND_UNAVAILABLE:
    rpending_fail(p, "unavailable", "the show's shared store did not answer; retry with the same op_id");
    break;
  }
}

static void
send_entry(lc_show *s, lc__op *op, lc_show_append *a, lc__committed_fn committed, GArray *ops, gint64 likes)
{
  rpending *p = g_new0(rpending, 1);
  p->s = s;
  p->token = g_strdup_printf("%s%" G_GINT64_FORMAT, s->rtoken_prefix, ++s->rtoken);
  p->op = op;
  p->committed = committed;
  p->ops = ops;
  p->likes = likes;
  p->in_table = true;
  p->awaiting_answer = true;
  g_hash_table_insert(s->rpending, p->token, p);
  a->token = p->token;
  a->ts = lc__show_now(s);
  a->ops = ops ? (const lc_gate_op *)(void *)ops->data : NULL;
  a->n_ops = ops ? ops->len : 0;
  s->cfg.remote->append(s->cfg.remote->ctx, s->room, a, append_done, p);
}

void
lc__remote_commit(lc_show *s, lc__op *op, lc__fact *f, lc__committed_fn committed)
{
  GArray *ops = g_array_new(FALSE, TRUE, sizeof(lc_gate_op));
  lc__gate_ops(s, f, ops);
  char *text = lc__fact_encode(f);
  const char *op_id = lc__fact_op_id(f), *who = lc__fact_op_user(f);
  char *key = op_id && who ? g_strconcat(who, "\x1f", op_id, NULL) : NULL;
  lc_show_append a = {0};
  a.type = lc__fact_type(f->kind);
  a.data = text;
  a.op_key = key;
  a.idseq = f->kind == LC__FACT_ORDER_CREATED    ? "o"
            : f->kind == LC__FACT_COUPON_CLAIMED ? "c"
            : f->kind == LC__FACT_GIFT_SENT      ? "g"
                                                 : NULL;
  a.shop = s->shop;
  send_entry(s, op, &a, committed, ops, 0);
  g_free(key);
  g_free(text);
  lc__fact_free(f);
}

void
lc__remote_send(lc_show *s, lc__op *op, const char *type, json_t *data, const char *idseq, const char *skip_if_last)
{
  char *text = json_dumps(data, JSON_COMPACT);
  json_decref(data);
  lc_show_append a = {0};
  a.type = type;
  a.data = text;
  a.idseq = idseq;
  a.skip_if_last = skip_if_last;
  send_entry(s, op, &a, NULL, NULL, 0);
  free(text);
}

void
lc__remote_tick(lc_show *s, const char *type, gint64 skip_within_ms)
{
  lc_show_append a = {0};
  a.type = type;
  a.data = "{}";
  a.skip_within_ms = skip_within_ms;
  send_entry(s, NULL, &a, NULL, NULL, 0);
}

/* ---- timers that write ------------------------------------------------------------- */

static gboolean
tick_due(gpointer user)
{
  lc_show *s = user;
  s->rtick_timer = 0;
  if (g_hash_table_size(s->dirty_skus) || g_hash_table_size(s->dirty_sales)) {
    lc_show_append a = {0};
    a.type = "tick.flush";
    a.data = "{}";
    a.skip_if_last = "tick.flush";
    a.skip_within_ms = s->cfg.throttle_ms * 4 / 5; /* one flush per period for the cluster, not per node */
    send_entry(s, NULL, &a, NULL, NULL, 0);
    /* again if no flush has come back by then (applying one cancels this) */
    s->rtick_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.remote->answer_timeout_ms, tick_due, s);
  }
  return G_SOURCE_REMOVE;
}

void
lc__remote_want_flush(lc_show *s)
{
  if (!s->rtick_timer && !s->stopping && !s->replaying)
    s->rtick_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.throttle_ms, tick_due, s);
}

static gboolean
counts_due(gpointer user)
{
  lc_show *s = user;
  s->rcounts_timer = 0;
  if (s->stopping)
    return G_SOURCE_REMOVE;
  if (s->rup) {
    lc_show_append a = {0};
    a.type = "counts";
    a.data = "{}";
    a.likes = s->likes_unsent;
    a.viewers = s->viewers;
    gint64 likes = s->likes_unsent;
    s->likes_unsent = 0;
    send_entry(s, NULL, &a, NULL, NULL, likes);
  }
  if (s->viewers > 0 || s->likes_unsent > 0 || !s->rup) /* heartbeat, or try again */
    s->rcounts_timer = lc_clock_timeout_add(s->cfg.clock, s->rup ? HEARTBEAT_MS : s->cfg.counts_ms, counts_due, s);
  return G_SOURCE_REMOVE;
}

void
lc__remote_want_counts(lc_show *s)
{
  if (s->stopping || s->replaying)
    return;
  if (s->rcounts_timer) { /* a heartbeat is armed: report sooner */
    lc_clock_source_remove(s->cfg.clock, s->rcounts_timer);
    s->rcounts_timer = 0;
  }
  s->rcounts_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.counts_ms, counts_due, s);
}

/* ---- applying the stream ------------------------------------------------------------ */

static void
number_fact(lc__fact *f, const char *n)
{
  if (!n || !*n)
    return;
  char **id = f->kind == LC__FACT_ORDER_CREATED    ? &f->u.order_created.id
              : f->kind == LC__FACT_COUPON_CLAIMED ? &f->u.coupon_claimed.claim_id
                                                   : NULL;
  if (id && *id && g_str_has_suffix(*id, "-")) {
    char *numbered = g_strconcat(*id, n, NULL);
    g_free(*id);
    *id = numbered;
  }
  if (f->kind == LC__FACT_GIFT_SENT) /* numbered by the store: the writer's guess may be taken */
    f->u.gift_sent.n = g_ascii_strtoll(n, NULL, 10);
  char **team = f->kind == LC__FACT_ORDER_CREATED ? &f->u.order_created.team : NULL;
  if (team && *team && strcmp(*team, "t-") == 0) { /* a new team is named after its starter's order */
    g_free(*team);
    *team = g_strconcat("t-", n, NULL);
  }
}

char *
lc_show_remote_fact_text(const char *type, const char *data, const char *n, gint64 low_stock_default)
{
  char *why = NULL;
  lc__fact *f = lc__fact_decode(type, data, low_stock_default, &why);
  g_free(why);
  if (!f)
    return NULL;
  number_fact(f, n);
  char *text = lc__fact_encode(f);
  lc__fact_free(f);
  return text;
}

/* A wallet's balance the gate reported with the entry: the fact's answer quotes it, and this
 * node's image of the wallet takes it (the store's wallets are the truth in cluster mode). */
static void
wallet_reported(lc_show *s, lc__fact *f, const char *v)
{
  if (!v || !*v)
    return;
  gint64 coins = g_ascii_strtoll(v, NULL, 10);
  const char *user = NULL;
  if (f->kind == LC__FACT_GIFT_SENT) {
    f->u.gift_sent.balance = coins;
    user = f->u.gift_sent.user;
  } else if (f->kind == LC__FACT_ORDER_PAID) {
    order *o = g_hash_table_lookup(s->orders, f->u.order_closed.id);
    user = o ? o->user : NULL;
  }
  if (user)
    lc_wallets_set(s->wallets, s->shop, user, coins);
}

static json_t *
apply_fact(lc_show *s, const char *id, const char *type, const char *data, const char *n, const char *v,
           rpending *p)
{
  char *why = NULL;
  lc__fact *f = lc__fact_decode(type, data, s->cfg.low_stock_default, &why);
  if (!f) {
    LC_ERROR(s->room, NULL, "stream entry %s (%s) refused: %s; skipped", id, type, why);
    g_free(why);
    return NULL;
  }
  number_fact(f, n);
  wallet_reported(s, f, v);
  lc__show_apply(s, f);
  lc__committed_fn fn = p && p->committed ? p->committed : lc__show_committed_for(f->kind);
  s->origin = p ? lc__op_origin(p->op) : NULL;
  json_t *result = fn ? fn(s, f, NULL) : json_object();
  s->origin = NULL;
  const char *op_id = lc__fact_op_id(f), *who = lc__fact_op_user(f);
  if (!p && op_id && who && lc__show_viewer_answer(f->kind))
    lc__op_remember(s, who, op_id, result); /* a retry here gets the first answer */
  lc__fact_free(f);
  return result;
}

static void
apply_counts(lc_show *s, const json_t *d)
{
  json_int_t likes = json_integer_value(json_object_get(d, "likes"));
  json_int_t viewers = json_integer_value(json_object_get(d, "viewers"));
  if (likes != s->likes) {
    s->likes = likes;
    lc__show_event(s, LC_SHOW_EV_LIKES, json_pack("{s:I}", "total", likes));
  }
  if (viewers != s->viewers_total) {
    s->viewers_total = viewers;
    lc__show_event(s, LC_SHOW_EV_VIEWERS, json_pack("{s:I}", "count", viewers));
  }
}

static void
apply_stream(lc_show *s, const char *state)
{
  lc_show_stream_state st = LC_SHOW_STREAM_OFFLINE;
  if (g_strcmp0(state, "live") == 0)
    st = LC_SHOW_STREAM_LIVE;
  else if (g_strcmp0(state, "reconnecting") == 0)
    st = LC_SHOW_STREAM_RECONNECTING;
  if (s->stream == st)
    return;
  s->stream = st;
  lc__show_event(s, LC_SHOW_EV_STREAM, json_pack("{s:s}", "state", lc__stream_name(st)));
}

/* One entry that is not a fact. The answer of its operation (transfer full) or NULL. */
static json_t *
apply_other(lc_show *s, const char *id, const char *type, const char *data, const char *n)
{
  json_t *d = json_loads(data, 0, NULL);
  json_t *result = NULL;
  if (!json_is_object(d)) {
    LC_ERROR(s->room, NULL, "stream entry %s (%s): data is not a JSON object; skipped", id, type);
  } else if (strcmp(type, "tick.flush") == 0) {
    lc__show_flush_aggregates(s);
    if (s->rtick_timer) {
      lc_clock_source_remove(s->cfg.clock, s->rtick_timer);
      s->rtick_timer = 0;
    }

  } else if (strcmp(type, "tick.gifts") == 0) {
    lc__gifts_flush_due(s, lc__show_now(s));
  } else if (strcmp(type, "tick.sale") == 0) {
    sale *sl = lc__sale_find(s, json_string_value(json_object_get(d, "id")));
    if (sl)
      lc__sale_announce(s, sl);
  } else if (strcmp(type, "counts") == 0) {
    apply_counts(s, d);
  } else if (strcmp(type, "chat") == 0) {
    result = lc__chat_apply_message(s, d, n);
  } else if (strcmp(type, "chat.deleted") == 0) {
    result = lc__chat_apply_deleted(s, d);
  } else if (strcmp(type, "stream") == 0) {
    apply_stream(s, json_string_value(json_object_get(d, "state")));
  } else {
    LC_WARN(s->room, NULL, "stream entry %s: unknown type '%s'; skipped", id, type);
  }
  json_decref(d);
  return result ? result : json_object();
}

void
lc_show_remote_entry(lc_show *s, const char *id, const char *type, const char *data, const char *token,
                     const char *n, gint64 ts)
{
  lc_show_remote_entry_v(s, id, type, data, token, n, NULL, ts);
}

void
lc_show_remote_entry_v(lc_show *s, const char *id, const char *type, const char *data, const char *token,
                       const char *n, const char *v, gint64 ts)
{
  if (lc_show_stream_id_cmp(id, s->rpos) <= 0)
    return; /* delivered twice (a follower that re-read after a reconnect) */
  g_free(s->rpos);
  s->rpos = g_strdup(id);
  rpending *p = token && !s->replaying ? g_hash_table_lookup(s->rpending, token) : NULL;
  if (p)
    rpending_detach(p);
  s->replay_now = ts;
  s->rentry = true;
  bool fact = !g_str_has_prefix(type, "tick.") && strcmp(type, "counts") != 0 && strcmp(type, "chat") != 0 &&
              strcmp(type, "chat.deleted") != 0 && strcmp(type, "stream") != 0;
  json_t *result = fact ? apply_fact(s, id, type, data, n, v, p) : apply_other(s, id, type, data, n);
  s->rentry = false;
  if (!s->replaying)
    s->replay_now = 0;
  if (p) {
    if (p->op) {
      if (result)
        lc__op_reply(p->op, result);
      else
        lc__op_fail(p->op, "internal_error", "the stored change could not be applied");
      result = NULL;
    }
    p->op = NULL;
    rpending_maybe_free(p);
  }
  json_decref(result);
  /* answers of op_ids another node wrote first */
  for (GList *l = s->rwaiting.head; l;) {
    rpending *w = l->data;
    l = l->next;
    if (lc_show_stream_id_cmp(s->rpos, w->dup_id) >= 0)
      finish_dup(w);
  }
}

/* ---- lifecycle ------------------------------------------------------------------------ */

void
lc__remote_init(lc_show *s)
{
  s->rpending = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&s->rwaiting);
  s->rpos = g_strdup("0-0");
  char nonce[9];
  for (int i = 0; i < 8; i++)
    nonce[i] = "0123456789abcdef"[g_random_int_range(0, 16)];
  nonce[8] = '\0';
  s->rtoken_prefix = g_strdup_printf("%s/%s/", s->cfg.remote->node_id ? s->cfg.remote->node_id : "node", nonce);
  s->rup = true;
}

void
lc__remote_stop_timers(lc_show *s)
{
  if (!s->cfg.remote)
    return;
  if (s->rtick_timer)
    lc_clock_source_remove(s->cfg.clock, s->rtick_timer);
  if (s->rcounts_timer)
    lc_clock_source_remove(s->cfg.clock, s->rcounts_timer);
  if (s->rsweep_timer)
    lc_clock_source_remove(s->cfg.clock, s->rsweep_timer);
  s->rtick_timer = s->rcounts_timer = s->rsweep_timer = 0;
}

void
lc__remote_clear(lc_show *s)
{
  if (!s->cfg.remote)
    return;
  lc__remote_stop_timers(s);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->rpending);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    rpending *p = v;
    g_hash_table_iter_steal(&it);
    p->in_table = false;
    if (p->op)
      lc__op_fail(p->op, "shutting_down", "the server is stopping; retry after reconnecting");
    p->op = NULL;
    p->s = NULL; /* the store's answer may still come */
    rpending_maybe_free(p);
  }
  g_hash_table_destroy(s->rpending);
  g_queue_clear(&s->rwaiting);
  g_free(s->rpos);
  g_free(s->rtoken_prefix);
}

void
lc_show_remote_set_epoch(lc_show *s, const char *epoch)
{
  g_strlcpy(s->epoch, epoch, sizeof s->epoch);
}

void
lc_show_remote_begin_replay(lc_show *s)
{
  s->replaying = true;
}

void
lc_show_remote_end_replay(lc_show *s)
{
  s->replaying = false;
  s->replay_now = 0;
  lc__sales_arm(s);
  lc__expiry_arm(s);
  lc__group_arm(s); /* team deadlines and deal ends (one passed while no node ran fails now) */
  if (g_hash_table_size(s->dirty_skus) || g_hash_table_size(s->dirty_sales))
    lc__remote_want_flush(s);
}

const char *
lc_show_remote_position(const lc_show *s)
{
  return s->rpos;
}

void
lc_show_remote_set_up(lc_show *s, bool up)
{
  if (s->rup == up)
    return;
  s->rup = up;
  LC_INFO(s->room, NULL, "shared store %s", up ? "reachable again: taking operations" : "unreachable: operations fail with unavailable");
  if (up && (g_hash_table_size(s->dirty_skus) || g_hash_table_size(s->dirty_sales)))
    lc__remote_want_flush(s);
  if (up) { /* what the timers could not write meanwhile: sale announcements and ends, expiries,
             * team deadlines and deal ends */
    lc__sales_arm(s);
    lc__expiry_arm(s);
    lc__group_arm(s);
  }
  if (up && (s->likes_unsent || s->viewers))
    lc__remote_want_counts(s);
}

bool
lc_show_remote_is_up(const lc_show *s)
{
  return s->rup;
}

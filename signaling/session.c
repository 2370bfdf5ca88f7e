/* Show-channel sessions: see session.h. One `chan` per room with connections,
 * the history ring of serialized events and the user -> connections index; one
 * `conn` per websocket. Replies to requests that wait for a store commit hold a
 * reference on their conn, which may have closed meanwhile (then they are dropped). */
#define LC_LOG_DOMAIN "session"
#include "signaling/session.h"
#include "base/errors.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "base/metrics.h"
#include "commerce/show_market.h"
#include "signaling/proto.h"
#include "signaling/ring.h"

#include <string.h>

#define MAX_VIOLATIONS 50

typedef struct chan chan;

typedef struct {
  int refs;
  lc_session *session;
  lc_ws_conn *ws;  /* NULL once closed */
  chan *ch;        /* after hello */
  char *user;      /* NULL: anonymous */
  char *name;
  bool hello;
  int violations;
  guint hello_timer;
  gint64 resynced_us;  /* when it was last resynced with a snapshot (monotonic) */
} conn;

struct chan {
  char *room;
  lc_show *show;
  GHashTable *conns;    /* conn* set */
  GHashTable *by_user;  /* user -> GPtrArray of conn* */
  lc_ring *ring;        /* the last opts.history events (lc_ws_msg, one reference each) */
};

struct lc_session {
  lc_session_options opts;
  char *secret;
  lc_ws_handlers handlers;
  GHashTable *chans; /* room -> chan* */
  lc_metric *m_events, *m_snapshots, *m_resumes, *m_resyncs, *m_errors;
  lc_metric *m_fanout; /* histogram: seconds to hand one event to every connection */
};

static gint64
now_ms(void)
{
  return g_get_real_time() / 1000;
}

/* ---- conn references ----------------------------------------------------------------- */

static conn *
conn_ref(conn *c)
{
  c->refs++;
  return c;
}

static void
conn_unref(conn *c)
{
  if (--c->refs > 0)
    return;
  g_free(c->user);
  g_free(c->name);
  g_free(c);
}

static const char *
conn_id(conn *c)
{
  return c->ws ? lc_ws_conn_id(c->ws) : "closed";
}

/* Sends text (transfer full) to one connection. */
static void
send_text(conn *c, char *text)
{
  if (!c->ws) {
    g_free(text);
    return;
  }
  lc_ws_msg *m = lc_ws_msg_take(text, strlen(text));
  lc_ws_send(c->ws, m);
  lc_ws_msg_unref(m);
}

static void
send_error(conn *c, const char *op_id, const char *code, const char *message)
{
  lc_metric_add(c->session->m_errors, 1);
  if (op_id)
    send_text(c, lc_proto_reply_error(now_ms(), op_id, code, message));
  else
    send_text(c, lc_proto_error(now_ms(), code, message));
}

/* ---- channels ------------------------------------------------------------------------ */

static void ring_clear(lc_session *s, chan *ch);

static void
chan_free(lc_session *s, chan *ch)
{
  lc_ring_free(ch->ring);
  g_hash_table_destroy(ch->conns);
  g_hash_table_destroy(ch->by_user);
  g_free(ch->room);
  g_free(ch);
}

static chan *
chan_get(lc_session *s, lc_show *show)
{
  const char *room = lc_show_room(show);
  chan *ch = g_hash_table_lookup(s->chans, room);
  if (!ch) {
    ch = g_new0(chan, 1);
    ch->room = g_strdup(room);
    ch->show = show;
    ch->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    ch->by_user = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    ch->ring = lc_ring_new(s->opts.history, (GDestroyNotify)lc_ws_msg_unref);
    g_hash_table_insert(s->chans, ch->room, ch);
  }
  return ch;
}

static void
ring_clear(lc_session *s, chan *ch)
{
  (void)s;
  lc_ring_clear(ch->ring);
}

static void
ring_push(lc_session *s, chan *ch, gint64 seq, lc_ws_msg *m)
{
  (void)s;
  lc_ring_push(ch->ring, seq, lc_ws_msg_ref(m));
}

/* True when the ring holds every event after `after` up to the current seq. */
static bool
ring_covers(chan *ch, gint64 after)
{
  return lc_ring_covers(ch->ring, after, lc_show_seq(ch->show));
}

static bool
ring_send_one(gint64 seq, gpointer msg, gpointer user)
{
  conn *c = user;
  (void)seq;
  if (!c->ws)
    return false;
  lc_ws_send(c->ws, msg);
  return true;
}

/* Queues the ring's events after `after`: the same shared buffers as the broadcast. */
static void
ring_send(lc_session *s, chan *ch, conn *c, gint64 after)
{
  (void)s;
  lc_ring_foreach_after(ch->ring, after, ring_send_one, c);
}

static void
send_snapshot(conn *c)
{
  lc_show *show = c->ch->show;
  json_t *state = lc_show_snapshot(show, c->user);
  send_text(c, lc_proto_snapshot(now_ms(), lc_show_epoch(show), lc_show_seq(show), state));
  json_decref(state);
  lc_metric_add(c->session->m_snapshots, 1);
}

static void
chan_attach(chan *ch, conn *c)
{
  c->ch = ch;
  g_hash_table_add(ch->conns, c);
  if (c->user) {
    GPtrArray *list = g_hash_table_lookup(ch->by_user, c->user);
    if (!list) {
      list = g_ptr_array_new();
      g_hash_table_insert(ch->by_user, g_strdup(c->user), list);
    }
    g_ptr_array_add(list, c);
  }
  lc_show_viewer(ch->show, c->user, +1);
}

static void
chan_detach(conn *c)
{
  chan *ch = c->ch;
  if (!ch)
    return;
  g_hash_table_remove(ch->conns, c);
  if (c->user) {
    GPtrArray *list = g_hash_table_lookup(ch->by_user, c->user);
    if (list) {
      g_ptr_array_remove_fast(list, c);
      if (list->len == 0)
        g_hash_table_remove(ch->by_user, c->user);
    }
  }
  lc_show_viewer(ch->show, c->user, -1);
  c->ch = NULL;
}

/* ---- hello ---------------------------------------------------------------------------- */

static bool
authenticate(conn *c, const lc_msg *m)
{
  lc_session *s = c->session;
  if (!m->token) {
    if (s->opts.allow_anonymous)
      return true;
    send_error(c, NULL, "unauthorized", "this server needs a viewer token");
    lc_ws_close(c->ws, 4003, "unauthorized");
    return false;
  }
  json_t *claims = NULL;
  const char *why = NULL;
  int err = lc_jwt_verify(m->token, strlen(m->token), s->secret, strlen(s->secret), now_ms() / 1000, &claims, &why);
  const char *room = claims ? json_string_value(json_object_get(claims, "room")) : NULL;
  if (err == 0 && room && strcmp(room, m->room) != 0) {
    err = LC_EPERM;
    why = "the token is for another room";
  }
  if (err != 0) {
    char *msg = g_strdup_printf("invalid token: %s", why ? why : "rejected");
    send_error(c, NULL, "invalid_token", msg);
    g_free(msg);
    json_decref(claims);
    lc_ws_close(c->ws, 4003, "invalid token");
    return false;
  }
  c->user = g_strdup(json_string_value(json_object_get(claims, "sub")));
  const char *name = json_string_value(json_object_get(claims, "name"));
  c->name = g_strdup(name ? name : c->user);
  json_decref(claims);
  return true;
}

static void
do_hello(conn *c, const lc_msg *m)
{
  lc_session *s = c->session;
  if (c->hello) {
    send_error(c, NULL, "already_hello", "hello was already sent on this connection");
    return;
  }
  if (m->v != LC_PROTO_VERSION) {
    send_error(c, NULL, "version_unsupported", "this server speaks protocol version 1");
    lc_ws_close(c->ws, 4000, "version unsupported");
    return;
  }
  lc_show *show = s->opts.show_for(m->room, s->opts.user);
  if (!show) {
    send_error(c, NULL, "not_found", "no such room");
    lc_ws_close(c->ws, 4004, "no such room");
    return;
  }
  if (!authenticate(c, m))
    return;
  c->hello = true;
  if (c->hello_timer) {
    g_source_remove(c->hello_timer);
    c->hello_timer = 0;
  }
  chan *ch = chan_get(s, show);
  chan_attach(ch, c);
  bool resumed = m->has_resume && strcmp(m->resume_epoch, lc_show_epoch(show)) == 0 &&
                 ring_covers(ch, m->resume_seq);
  json_t *user = c->user ? json_pack("{s:s, s:s}", "id", c->user, "name", c->name) : NULL;
  /* The welcome says where the client will stand after the replay or the snapshot. */
  send_text(c, lc_proto_welcome(now_ms(), ch->room, lc_show_epoch(show), lc_show_seq(show), user, resumed));
  json_decref(user);
  if (resumed) {
    ring_send(s, ch, c, m->resume_seq);
    lc_metric_add(s->m_resumes, 1);
    if (c->user) { /* private state may have changed while away */
      json_t *me = lc_show_me(show, c->user);
      send_text(c, lc_proto_private(now_ms(), "me", me));
      json_decref(me);
    }
  } else {
    send_snapshot(c);
  }
  LC_DEBUG(ch->room, conn_id(c), "hello from %s", c->user ? c->user : "an anonymous viewer");
}

/* ---- requests -------------------------------------------------------------------------- */

typedef struct {
  conn *c;
  char *op_id;
} reply_ctx;

static void
on_result(const lc_show_result *r, gpointer user)
{
  reply_ctx *rc = user;
  if (r->code)
    send_error(rc->c, rc->op_id, r->code, r->message);
  else
    send_text(rc->c, lc_proto_reply_ok(now_ms(), rc->op_id, r->result));
  conn_unref(rc->c);
  g_free(rc->op_id);
  g_free(rc);
}

static void
dispatch(conn *c, lc_msg *m)
{
  lc_show *show = c->ch->show;
  switch (m->type) {
  case LC_MSG_PING:
    send_text(c, lc_proto_pong(now_ms(), m->c));
    return;
  case LC_MSG_LIKE:
    lc_show_like(show, c->user, m->count);
    return;
  default:
    break;
  }
  if (!c->user) {
    send_error(c, m->op_id, "unauthorized", "sign in (hello with a token) to do this");
    return;
  }
  reply_ctx *rc = g_new0(reply_ctx, 1);
  rc->c = conn_ref(c);
  rc->op_id = g_strdup(m->op_id);
  lc_show_caller caller = {c->user, c->name, m->op_id, c};
  switch (m->type) {
  case LC_MSG_CART_ADD:
    lc_show_cart_set(show, &caller, m->sku, m->qty, true, on_result, rc);
    break;
  case LC_MSG_CART_SET:
    lc_show_cart_set(show, &caller, m->sku, m->qty, false, on_result, rc);
    break;
  case LC_MSG_CART_REMOVE:
    lc_show_cart_set(show, &caller, m->sku, 0, false, on_result, rc);
    break;
  case LC_MSG_CHECKOUT:
  case LC_MSG_CART_QUOTE: {
    lc_show_line *items = NULL;
    if (m->items) {
      items = g_new0(lc_show_line, MAX(m->n_items, 1));
      for (guint i = 0; i < m->n_items; i++)
        items[i] = (lc_show_line){m->items[i].sku, m->items[i].qty};
    }
    if (m->type == LC_MSG_CHECKOUT)
      lc_show_checkout(show, &caller, items, m->n_items, m->claim_id, on_result, rc);
    else /* answered at once; nothing is written, so its op_id is not remembered */
      lc_show_cart_quote(show, &caller, items, m->n_items, m->claim_id, on_result, rc);
    g_free(items);
    break;
  }
  case LC_MSG_FLASH_BUY:
    lc_show_flash_buy(show, &caller, m->sale_id, m->qty, on_result, rc);
    break;
  case LC_MSG_COUPON_CLAIM:
    lc_show_coupon_claim(show, &caller, m->coupon_id, on_result, rc);
    break;
  case LC_MSG_ORDER_CANCEL:
    lc_show_order_cancel(show, &caller, m->order_id, on_result, rc);
    break;
  case LC_MSG_CHAT_SEND:
    lc_show_chat_send(show, &caller, m->text, on_result, rc);
    break;
  case LC_MSG_GROUP_START:
    lc_show_group_start(show, &caller, m->deal_id, m->claim_id, on_result, rc);
    break;
  case LC_MSG_GROUP_JOIN:
    lc_show_group_join(show, &caller, m->team_id, m->claim_id, on_result, rc);
    break;
  case LC_MSG_GIFT_SEND:
    lc_show_gift_send(show, &caller, m->gift_id, m->count, on_result, rc);
    break;
  case LC_MSG_WALLET_TOPUP:
    lc_show_wallet_topup(show, &caller, m->coins, on_result, rc);
    break;
  default:
    on_result(&(lc_show_result){"unknown_type", "not a request", NULL}, rc);
    break;
  }
}

static void
violation(conn *c)
{
  if (++c->violations > MAX_VIOLATIONS && c->ws) {
    LC_WARN(c->ch ? c->ch->room : NULL, conn_id(c), "closing: %d protocol violations", c->violations);
    lc_ws_close(c->ws, 4000, "protocol violations");
  }
}

/* ---- transport handlers ------------------------------------------------------------------ */

static gboolean
hello_timeout(gpointer user)
{
  conn *c = user;
  c->hello_timer = 0;
  if (c->ws && !c->hello) {
    send_error(c, NULL, "not_hello", "no hello received in time");
    lc_ws_close(c->ws, 4000, "no hello");
  }
  return G_SOURCE_REMOVE;
}

static void
on_open(lc_ws_conn *w, gpointer user)
{
  lc_session *s = user;
  conn *c = g_new0(conn, 1);
  c->refs = 1;
  c->session = s;
  c->ws = w;
  lc_ws_conn_set_data(w, c);
  if (s->opts.hello_timeout_ms)
    c->hello_timer = g_timeout_add(s->opts.hello_timeout_ms, hello_timeout, c);
}

static void
on_message(lc_ws_conn *w, const char *data, size_t len, gpointer user)
{
  conn *c = lc_ws_conn_get_data(w);
  lc_msg m;
  const char *code = NULL;
  char *message = NULL;
  if (lc_proto_decode(data, len, &m, &code, &message) != 0) {
    send_error(c, m.op_id, code, message);
    g_free(message);
    lc_msg_clear(&m);
    violation(c);
    return;
  }
  if (m.type == LC_MSG_HELLO)
    do_hello(c, &m);
  else if (!c->hello) {
    send_error(c, m.op_id, "not_hello", "the first message must be hello");
    violation(c);
  } else
    dispatch(c, &m);
  lc_msg_clear(&m);
}

static void
on_refused(lc_ws_conn *w, lc_ws_refusal why, gpointer user)
{
  conn *c = lc_ws_conn_get_data(w);
  static const char *const codes[] = {"too_large", "rate_limited", "bad_message"};
  static const char *const messages[] = {"the message is larger than the server accepts",
                                         "too many messages: slow down", "binary messages are not accepted"};
  send_error(c, NULL, codes[why], messages[why]);
}

/* A reader that falls behind gets one snapshot instead of its backlog; one that
 * falls behind again within RESYNC_GRACE_US is not reading at all and is closed,
 * so that each non-reader costs at most one snapshot. */
#define RESYNC_GRACE_US (5 * G_USEC_PER_SEC)

static void
on_overflow(lc_ws_conn *w, gpointer user)
{
  conn *c = lc_ws_conn_get_data(w);
  gint64 now = g_get_monotonic_time();
  if (c->resynced_us && now - c->resynced_us < RESYNC_GRACE_US) {
    LC_INFO(c->ch ? c->ch->room : NULL, conn_id(c), "closing a reader that does not keep up");
    lc_ws_close(w, 4002, "too slow");
    return;
  }
  c->resynced_us = now;
  lc_metric_add(c->session->m_resyncs, 1);
  LC_DEBUG(c->ch ? c->ch->room : NULL, conn_id(c), "slow reader: resynced with a snapshot");
  if (c->ch)
    send_snapshot(c);
}

static void
on_close(lc_ws_conn *w, gpointer user)
{
  conn *c = lc_ws_conn_get_data(w);
  if (!c)
    return;
  if (c->hello_timer)
    g_source_remove(c->hello_timer);
  c->hello_timer = 0;
  chan_detach(c);
  c->ws = NULL;
  conn_unref(c);
}

/* ---- API ----------------------------------------------------------------------------- */

lc_session *
lc_session_new(const lc_session_options *opts)
{
  lc_session *s = g_new0(lc_session, 1);
  s->opts = *opts;
  if (s->opts.history == 0)
    s->opts.history = 1024;
  s->secret = g_strdup(opts->jwt_secret ? opts->jwt_secret : "");
  s->opts.jwt_secret = s->secret;
  s->handlers = (lc_ws_handlers){on_open, on_message, on_refused, on_overflow, on_close, s};
  s->chans = g_hash_table_new(g_str_hash, g_str_equal);
  if (opts->metrics) {
    lc_metrics *mx = opts->metrics;
    s->m_events = lc_metrics_counter(mx, "livecart_show_events_total", NULL, "room-wide show events broadcast");
    s->m_snapshots = lc_metrics_counter(mx, "livecart_show_snapshots_total", NULL, "snapshots sent to viewers");
    s->m_resumes = lc_metrics_counter(mx, "livecart_show_resumes_total", NULL, "gapless resumes from the history ring");
    s->m_resyncs = lc_metrics_counter(mx, "livecart_show_resyncs_total", NULL, "slow readers resynced with a snapshot");
    s->m_errors = lc_metrics_counter(mx, "livecart_show_errors_total", NULL, "error answers sent to viewers");
    static const double fanout_bounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
    s->m_fanout = lc_metrics_histogram(mx, "livecart_show_fanout_seconds", NULL,
                                       "time to hand one room-wide event to every viewer connection",
                                       fanout_bounds, G_N_ELEMENTS(fanout_bounds));
  }
  return s;
}

void
lc_session_free(lc_session *s)
{
  if (!s)
    return;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, s->chans);
  while (g_hash_table_iter_next(&it, NULL, &v))
    chan_free(s, v);
  g_hash_table_destroy(s->chans);
  g_free(s->secret);
  g_free(s);
}

const lc_ws_handlers *
lc_session_ws_handlers(lc_session *s)
{
  return &s->handlers;
}

void
lc_session_event(lc_session *s, lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data)
{
  chan *ch = chan_get(s, show);
  GHashTableIter it;
  gpointer key;
  if (kind == LC_SHOW_EV_SHOW_RESET) { /* new epoch: everybody starts over from a snapshot */
    ring_clear(s, ch);
    g_hash_table_iter_init(&it, ch->conns);
    while (g_hash_table_iter_next(&it, &key, NULL))
      send_snapshot(key);
    return;
  }
  char *text = lc_proto_event(now_ms(), lc_show_epoch(show), seq, lc_show_event_name(kind), data);
  lc_ws_msg *m = lc_ws_msg_take(text, strlen(text));
  ring_push(s, ch, seq, m);
  lc_metric_add(s->m_events, 1);
  /* Sending may resync a connection (overflow -> snapshot) but never changes the set. */
  gint64 t0 = g_get_monotonic_time();
  g_hash_table_iter_init(&it, ch->conns);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    conn *c = key;
    if (c->ws)
      lc_ws_send(c->ws, m);
  }
  if (s->m_fanout)
    lc_metric_observe(s->m_fanout, (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
  lc_ws_msg_unref(m);
}

void
lc_session_private(lc_session *s, lc_show *show, const char *user, lc_show_event_kind kind,
                   const json_t *data, gconstpointer skip)
{
  chan *ch = g_hash_table_lookup(s->chans, lc_show_room(show));
  GPtrArray *list = ch && user ? g_hash_table_lookup(ch->by_user, user) : NULL;
  if (!list || (list->len == 1 && g_ptr_array_index(list, 0) == skip))
    return;
  char *text = lc_proto_private(now_ms(), lc_show_event_name(kind), data);
  lc_ws_msg *m = lc_ws_msg_take(text, strlen(text));
  for (guint i = 0; i < list->len; i++) {
    conn *c = g_ptr_array_index(list, i);
    if (c->ws && c != skip)
      lc_ws_send(c->ws, m);
  }
  lc_ws_msg_unref(m);
}

const char *
lc_session_user_name(lc_session *s, const char *room, const char *user)
{
  chan *ch = room ? g_hash_table_lookup(s->chans, room) : NULL;
  GPtrArray *list = ch && user ? g_hash_table_lookup(ch->by_user, user) : NULL;
  for (guint i = 0; list && i < list->len; i++) {
    conn *c = g_ptr_array_index(list, i);
    if (c->name)
      return c->name;
  }
  return NULL;
}

void
lc_session_close_room(lc_session *s, const char *room, const char *reason)
{
  chan *ch = g_hash_table_lookup(s->chans, room);
  if (!ch)
    return;
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, ch->conns);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    conn *c = key;
    if (c->ws)
      lc_ws_close(c->ws, 4010, reason);
  }
}

/* Calls fn on every open connection of every room. */
static void
foreach_conn(lc_session *s, void (*fn)(conn *c, gpointer user), gpointer user)
{
  GHashTableIter it;
  gpointer ch;
  g_hash_table_iter_init(&it, s->chans);
  while (g_hash_table_iter_next(&it, NULL, &ch)) {
    GHashTableIter ci;
    gpointer key;
    g_hash_table_iter_init(&ci, ((chan *)ch)->conns);
    while (g_hash_table_iter_next(&ci, &key, NULL)) {
      conn *c = key;
      if (c->ws)
        fn(c, user);
    }
  }
}

static void
close_going_away(conn *c, gpointer user)
{
  lc_ws_close(c->ws, 1001, "server shutting down");
}

void
lc_session_close_all(lc_session *s)
{
  foreach_conn(s, close_going_away, NULL);
}

static void
send_msg(conn *c, gpointer user)
{
  lc_ws_send(c->ws, user);
}

void
lc_session_notice(lc_session *s, const char *name, const json_t *data)
{
  char *text = lc_proto_private(now_ms(), name, data);
  lc_ws_msg *m = lc_ws_msg_take(text, strlen(text));
  foreach_conn(s, send_msg, m);
  lc_ws_msg_unref(m);
}

unsigned
lc_session_viewers(lc_session *s, const char *room)
{
  chan *ch = g_hash_table_lookup(s->chans, room);
  return ch ? g_hash_table_size(ch->conns) : 0;
}

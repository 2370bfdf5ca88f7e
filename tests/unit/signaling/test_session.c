/* Unit tests for signaling/session.c over a fake websocket transport: this file implements
 * the ws.h calls the session makes (lc_session links without lc_signaling, so no
 * libwebsockets), records what each connection was sent, and drives a real show (store
 * in a temp dir). Covers hello (welcome + snapshot), the first-message rule, broadcasts
 * serialized once and shared, resume from the history ring (gapless replay of exactly the
 * missed events, the ring's boundary, another epoch, a seq ahead, show.reset) and the
 * resync of a reader whose queue overflowed. */
#include <string.h>

#include "base/metrics.h"
#include "commerce/show.h"
#include "signaling/session.h"
#include "store/store.h"

/* ---- the fake transport --------------------------------------------------------------- */

struct lc_ws_msg {
  gint refs;
  size_t len;
  char *text;
};

struct lc_ws_conn {
  GPtrArray *sent;   /* lc_ws_msg*, one reference each */
  gpointer data;
  bool full;         /* the next send overflows the queue */
  int close_code;    /* 0: not closed by the session */
  char id[16];
};

static const lc_ws_handlers *handlers; /* the session's, for the overflow callback */
static int next_conn;

lc_ws_msg *
lc_ws_msg_new(const char *text, size_t len)
{
  lc_ws_msg *m = g_new0(lc_ws_msg, 1);
  m->refs = 1;
  m->len = len;
  m->text = g_strndup(text, len);
  return m;
}

lc_ws_msg *
lc_ws_msg_take(char *text, size_t len)
{
  lc_ws_msg *m = g_new0(lc_ws_msg, 1);
  m->refs = 1;
  m->len = len;
  m->text = text;
  return m;
}

lc_ws_msg *
lc_ws_msg_ref(lc_ws_msg *m)
{
  m->refs++;
  return m;
}

void
lc_ws_msg_unref(lc_ws_msg *m)
{
  if (!m || --m->refs > 0)
    return;
  g_free(m->text);
  g_free(m);
}

bool
lc_ws_send(lc_ws_conn *c, lc_ws_msg *m)
{
  if (c->close_code)
    return true; /* as ws.c: nothing goes out after the close */
  if (c->full) {
    c->full = false; /* ws.c empties the queue, then runs overflow */
    g_ptr_array_set_size(c->sent, 0);
    handlers->overflow(c, handlers->user);
    return false;
  }
  g_ptr_array_add(c->sent, lc_ws_msg_ref(m));
  return true;
}

void
lc_ws_close(lc_ws_conn *c, int code, const char *reason)
{
  (void)reason;
  if (!c->close_code)
    c->close_code = code;
}

void
lc_ws_conn_set_data(lc_ws_conn *c, gpointer data)
{
  c->data = data;
}

gpointer
lc_ws_conn_get_data(lc_ws_conn *c)
{
  return c->data;
}

const char *
lc_ws_conn_id(lc_ws_conn *c)
{
  return c->id;
}

unsigned
lc_ws_conn_queued(lc_ws_conn *c)
{
  return c->sent->len;
}

/* ---- fixture -------------------------------------------------------------------------- */

typedef struct {
  char *dir;
  lc_store *store;
  lc_show *show;
  lc_session *session;
  lc_metrics *metrics; /* the session counts into it (it needs one: lc_metric_add on its NULL counters is a critical) */
  bool live; /* the stream state last set: toggled to make one event */
} fx;

static void
sink_event(lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data, gpointer user)
{
  fx *f = user;
  if (f->session)
    lc_session_event(f->session, show, seq, kind, data);
}

static void
sink_private(lc_show *show, const char *u, lc_show_event_kind kind, const json_t *data, gconstpointer skip,
             gpointer user)
{
  fx *f = user;
  if (f->session)
    lc_session_private(f->session, show, u, kind, data, skip);
}

static lc_show *
show_for(const char *room, gpointer user)
{
  fx *f = user;
  return strcmp(room, "r1") == 0 ? f->show : NULL;
}

static void
setup(fx *f, gconstpointer data)
{
  memset(f, 0, sizeof *f);
  f->dir = g_dir_make_tmp("lc-session-XXXXXX", NULL);
  g_autofree char *db = g_build_filename(f->dir, "t.db", NULL);
  char *msg = NULL;
  f->store = lc_store_open(db, NULL, NULL, &msg);
  g_assert_cmpstr(msg, ==, NULL);
  lc_show_config cfg = {.order_ttl_ms = 60000, .chat_recent = 10, .throttle_ms = 20, .counts_ms = 1000,
                        .op_cache = 100};
  lc_show_sinks sinks = {sink_event, sink_private, NULL, f};
  f->show = lc_show_open("r1", f->store, &cfg, &sinks, &msg);
  g_assert_cmpstr(msg, ==, NULL);
  lc_session_options so = {.jwt_secret = "k", .allow_anonymous = true, .history = GPOINTER_TO_UINT(data),
                           .metrics = f->metrics = lc_metrics_new(), .show_for = show_for, .user = f};
  f->session = lc_session_new(&so);
  handlers = lc_session_ws_handlers(f->session);
}

static void
teardown(fx *f, gconstpointer data)
{
  (void)data;
  lc_session_free(f->session);
  lc_metrics_free(f->metrics);
  lc_store_close(f->store);
  lc_show_free(f->show);
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
  g_assert_cmpint(system(cmd), ==, 0);
  g_free(f->dir);
  handlers = NULL;
}

static lc_ws_conn *
conn_open(void)
{
  lc_ws_conn *c = g_new0(lc_ws_conn, 1);
  c->sent = g_ptr_array_new_with_free_func((GDestroyNotify)lc_ws_msg_unref);
  g_snprintf(c->id, sizeof c->id, "ws-%d", ++next_conn);
  handlers->open(c, handlers->user);
  return c;
}

static void
conn_close(lc_ws_conn *c)
{
  handlers->close(c, handlers->user);
  g_ptr_array_unref(c->sent);
  g_free(c);
}

static void
conn_say(lc_ws_conn *c, const char *text)
{
  handlers->message(c, text, strlen(text), handlers->user);
}

/* The i-th message sent to c, parsed (transfer full). */
static json_t *
sent(lc_ws_conn *c, guint i)
{
  g_assert_cmpuint(i, <, c->sent->len);
  lc_ws_msg *m = g_ptr_array_index(c->sent, i);
  json_error_t err;
  json_t *o = json_loadb(m->text, m->len, 0, &err);
  g_assert_nonnull(o);
  return o;
}

/* "welcome", "snapshot", "event:stream#3", "error:not_hello", ... of every message sent. */
static char *
summary(lc_ws_conn *c)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < c->sent->len; i++) {
    json_t *o = sent(c, i);
    const char *type = json_string_value(json_object_get(o, "type"));
    g_string_append_printf(s, "%s%s", i ? " " : "", type);
    if (strcmp(type, "event") == 0)
      g_string_append_printf(s, ":%s#%" JSON_INTEGER_FORMAT, json_string_value(json_object_get(o, "name")),
                             json_integer_value(json_object_get(o, "seq")));
    else if (strcmp(type, "error") == 0)
      g_string_append_printf(s, ":%s",
                             json_string_value(json_object_get(json_object_get(o, "error"), "code")));
    else if (strcmp(type, "welcome") == 0 && json_is_true(json_object_get(o, "resumed")))
      g_string_append(s, "(resumed)");
    json_decref(o);
  }
  return g_string_free(s, FALSE);
}

#define ASSERT_SENT(c, expect)                                                                     \
  do {                                                                                             \
    char *got_ = summary(c);                                                                       \
    g_assert_cmpstr(got_, ==, (expect));                                                           \
    g_free(got_);                                                                                  \
  } while (0)

static void
hello(lc_ws_conn *c, const char *epoch, gint64 seq)
{
  char *text = epoch ? g_strdup_printf("{\"type\":\"hello\",\"v\":1,\"room\":\"r1\",\"resume\":"
                                       "{\"epoch\":\"%s\",\"seq\":%" G_GINT64_FORMAT "}}",
                                       epoch, seq)
                     : g_strdup("{\"type\":\"hello\",\"v\":1,\"room\":\"r1\"}");
  conn_say(c, text);
  g_free(text);
}

/* One room-wide event from the show (the stream state toggles). */
static void
make_event(fx *f)
{
  f->live = !f->live;
  lc_show_set_stream(f->show, f->live ? LC_SHOW_STREAM_LIVE : LC_SHOW_STREAM_OFFLINE);
}

static void
clear_sent(lc_ws_conn *c)
{
  g_ptr_array_set_size(c->sent, 0);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void
test_hello_gets_welcome_and_snapshot(fx *f, gconstpointer data)
{
  (void)data;
  lc_ws_conn *c = conn_open();
  g_assert_cmpuint(lc_session_viewers(f->session, "r1"), ==, 0); /* counted from hello on */
  hello(c, NULL, 0);
  ASSERT_SENT(c, "welcome snapshot");
  json_t *w = sent(c, 0);
  g_assert_cmpstr(json_string_value(json_object_get(w, "room")), ==, "r1");
  g_assert_cmpstr(json_string_value(json_object_get(w, "epoch")), ==, lc_show_epoch(f->show));
  g_assert_cmpint(json_integer_value(json_object_get(w, "seq")), ==, lc_show_seq(f->show));
  g_assert_true(json_is_null(json_object_get(w, "user")));
  json_decref(w);
  g_assert_cmpuint(lc_session_viewers(f->session, "r1"), ==, 1);
  /* a second hello on the same connection is an error, nothing else changes */
  hello(c, NULL, 0);
  ASSERT_SENT(c, "welcome snapshot error:already_hello");
  conn_close(c);
  g_assert_cmpuint(lc_session_viewers(f->session, "r1"), ==, 0);
}

static void
test_first_message_must_be_hello(fx *f, gconstpointer data)
{
  (void)data;
  lc_ws_conn *c = conn_open();
  conn_say(c, "{\"type\":\"ping\",\"c\":1}");
  ASSERT_SENT(c, "error:not_hello");
  conn_say(c, "not json");
  g_assert_cmpuint(c->sent->len, ==, 2);
  g_assert_cmpint(c->close_code, ==, 0);
  /* an unknown room closes with 4004 */
  conn_say(c, "{\"type\":\"hello\",\"v\":1,\"room\":\"nope\"}");
  ASSERT_SENT(c, "error:not_hello error:bad_message error:not_found");
  g_assert_cmpint(c->close_code, ==, 4004);
  g_assert_cmpuint(lc_session_viewers(f->session, "r1"), ==, 0);
  conn_close(c);
}

static void
test_broadcast_is_serialized_once(fx *f, gconstpointer data)
{
  (void)data;
  lc_ws_conn *a = conn_open(), *b = conn_open(), *late = conn_open();
  hello(a, NULL, 0);
  hello(b, NULL, 0);
  clear_sent(a);
  clear_sent(b);
  make_event(f);
  gint64 seq = lc_show_seq(f->show);
  char *expect = g_strdup_printf("event:stream#%" G_GINT64_FORMAT, seq);
  ASSERT_SENT(a, expect);
  ASSERT_SENT(b, expect);
  g_free(expect);
  /* one buffer for every connection */
  g_assert_true(g_ptr_array_index(a->sent, 0) == g_ptr_array_index(b->sent, 0));
  /* a connection without hello gets no room events */
  g_assert_cmpuint(late->sent->len, ==, 0);
  conn_close(a);
  conn_close(b);
  conn_close(late);
}

static void
test_resume_replays_exactly_the_missed_events(fx *f, gconstpointer data)
{
  (void)data;
  make_event(f);
  lc_ws_conn *a = conn_open(), *watcher = conn_open();
  hello(a, NULL, 0);
  hello(watcher, NULL, 0);
  gint64 seen = lc_show_seq(f->show);
  g_autofree char *epoch = g_strdup(lc_show_epoch(f->show));
  conn_close(a); /* a drops, events go on */
  clear_sent(watcher);
  make_event(f);
  make_event(f);
  make_event(f);
  g_assert_cmpint(lc_show_seq(f->show), ==, seen + 3);

  lc_ws_conn *back = conn_open();
  hello(back, epoch, seen);
  g_autofree char *expect = g_strdup_printf("welcome(resumed) event:stream#%" G_GINT64_FORMAT
                                            " event:stream#%" G_GINT64_FORMAT " event:stream#%" G_GINT64_FORMAT,
                                            seen + 1, seen + 2, seen + 3);
  ASSERT_SENT(back, expect);
  json_t *w = sent(back, 0);
  g_assert_cmpint(json_integer_value(json_object_get(w, "seq")), ==, seen + 3); /* where it stands after */
  json_decref(w);
  /* the replay sends the very buffers of the broadcast */
  for (guint i = 0; i < 3; i++)
    g_assert_true(g_ptr_array_index(back->sent, i + 1) == g_ptr_array_index(watcher->sent, i));

  /* already up to date: resumed with nothing to replay */
  lc_ws_conn *current = conn_open();
  hello(current, epoch, seen + 3);
  ASSERT_SENT(current, "welcome(resumed)");
  conn_close(current);
  conn_close(back);
  conn_close(watcher);
}

static void
test_resume_at_the_ring_boundary(fx *f, gconstpointer data)
{
  (void)data; /* history 3 */
  gint64 start = lc_show_seq(f->show);
  for (int i = 0; i < 6; i++)
    make_event(f);
  const char *epoch = lc_show_epoch(f->show);
  /* the ring holds start+4 .. start+6 */
  lc_ws_conn *c = conn_open();
  hello(c, epoch, start + 3);
  char *expect = g_strdup_printf("welcome(resumed) event:stream#%" G_GINT64_FORMAT " event:stream#%" G_GINT64_FORMAT
                                 " event:stream#%" G_GINT64_FORMAT,
                                 start + 4, start + 5, start + 6);
  ASSERT_SENT(c, expect);
  g_free(expect);
  conn_close(c);
  /* one event further back is gone: a snapshot, never a replay with a hole */
  c = conn_open();
  hello(c, epoch, start + 2);
  ASSERT_SENT(c, "welcome snapshot");
  conn_close(c);
}

static void
test_resume_refused_cases(fx *f, gconstpointer data)
{
  (void)data;
  make_event(f);
  make_event(f);
  gint64 seq = lc_show_seq(f->show);
  lc_ws_conn *c = conn_open();
  hello(c, "another-epoch", seq - 1); /* a restart or a rebuild since */
  ASSERT_SENT(c, "welcome snapshot");
  conn_close(c);
  c = conn_open();
  hello(c, lc_show_epoch(f->show), seq + 1); /* ahead of the stream */
  ASSERT_SENT(c, "welcome snapshot");
  conn_close(c);
}

static void
test_reset_clears_the_ring(fx *f, gconstpointer data)
{
  (void)data;
  make_event(f);
  make_event(f);
  gint64 seq = lc_show_seq(f->show);
  lc_ws_conn *c = conn_open();
  hello(c, NULL, 0);
  clear_sent(c);
  /* what the show emits when it rebuilt itself: every connection gets a snapshot */
  lc_session_event(f->session, f->show, seq, LC_SHOW_EV_SHOW_RESET, NULL);
  ASSERT_SENT(c, "snapshot");
  /* and the old events cannot be replayed any more, even in the same epoch */
  lc_ws_conn *back = conn_open();
  hello(back, lc_show_epoch(f->show), seq - 1);
  ASSERT_SENT(back, "welcome snapshot");
  conn_close(back);
  conn_close(c);
}

static void
test_overflow_resyncs_then_closes(fx *f, gconstpointer data)
{
  (void)data;
  lc_ws_conn *c = conn_open();
  hello(c, NULL, 0);
  clear_sent(c);
  c->full = true;
  make_event(f);
  /* the queue was emptied: one snapshot instead of the backlog */
  ASSERT_SENT(c, "snapshot");
  g_assert_cmpint(c->close_code, ==, 0);
  /* falling behind again at once: not reading at all, closed with 4002 */
  c->full = true;
  make_event(f);
  g_assert_cmpint(c->close_code, ==, 4002);
  conn_close(c);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn, history) g_test_add(path, fx, GUINT_TO_POINTER(history), setup, fn, teardown)
  ADD("/session/hello", test_hello_gets_welcome_and_snapshot, 16);
  ADD("/session/hello-first", test_first_message_must_be_hello, 16);
  ADD("/session/broadcast-shared", test_broadcast_is_serialized_once, 16);
  ADD("/session/resume", test_resume_replays_exactly_the_missed_events, 16);
  ADD("/session/resume-boundary", test_resume_at_the_ring_boundary, 3);
  ADD("/session/resume-refused", test_resume_refused_cases, 16);
  ADD("/session/reset", test_reset_clears_the_ring, 16);
  ADD("/session/overflow", test_overflow_resyncs_then_closes, 16);
  return g_test_run();
}

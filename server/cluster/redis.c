/* Redis on the GLib loop: see redis.h. hiredis owns the socket and the reply parser; this
 * file owns the GSource that polls hiredis' fd, reconnects, and puts a deadline on every
 * command. (hiredis' own glib adapter reads after a write that may have freed the
 * context; this source checks that the context is still there between the two.) */
#define LC_LOG_DOMAIN "redis"
#include "cluster/redis.h"

#include "base/log.h"

#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define PING_TIMEOUT_MS 2000 /* a new connection is up when its PING is answered within this */

typedef struct {
  GSource base;
  GPollFD pfd;
  lc_redis *r;
} redis_source;

/* One command in flight. hiredis holds it as privdata until it answers or the context
 * goes; `done` says its callback already ran (timeout), so the late answer is dropped. */
typedef struct {
  lc_redis *r;
  lc_redis_cb cb;
  gpointer user;
  gint64 deadline_us;      /* monotonic; 0: none */
  GList link;              /* in r->fifo */
  bool done;
} pending;

struct lc_redis {
  lc_redis_addr addr;
  char *name;
  GMainContext *ctx;
  lc_redis_state_cb state_cb;
  gpointer user;
  redisAsyncContext *ac; /* NULL while down */
  redis_source *src;
  bool up;               /* connected (connect callback said so) */
  bool freeing;
  guint retry_timer;
  int backoff_ms;
  GQueue fifo;           /* pending*, in the order sent (= the order Redis answers) */
  guint deadline_timer;  /* one timer for every command's deadline */
  gint64 timer_at;       /* when it fires (monotonic us) */
  guint64 failures;      /* connect failures in a row, for the log */
};

int
lc_redis_addr_parse(const char *url, lc_redis_addr *out, char **err)
{
  memset(out, 0, sizeof *out);
  if (!url || !*url) {
    *err = g_strdup("no address");
    return -1;
  }
  if (g_str_has_prefix(url, "unix:")) {
    const char *p = url + 5;
    while (p[0] == '/' && p[1] == '/')
      p++;
    if (*p != '/') {
      *err = g_strdup_printf("'%s': a unix socket needs an absolute path (unix:/path)", url);
      return -1;
    }
    out->unix_path = g_strdup(p);
    return 0;
  }
  if (!g_str_has_prefix(url, "redis://")) {
    *err = g_strdup_printf("'%s': use redis://host:port or unix:/path", url);
    return -1;
  }
  const char *h = url + 8;
  const char *colon = strrchr(h, ':');
  const char *slash = strchr(h, '/');
  if (slash && slash[1] != '\0') {
    *err = g_strdup_printf("'%s': database numbers and paths are not supported", url);
    return -1;
  }
  size_t hl = colon ? (size_t)(colon - h) : (slash ? (size_t)(slash - h) : strlen(h));
  int port = 6379;
  if (colon) {
    char *end = NULL;
    long v = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end && *end != '/') || v < 1 || v > 65535) {
      *err = g_strdup_printf("'%s': bad port", url);
      return -1;
    }
    port = (int)v;
  }
  if (hl == 0 || hl > 253 || memchr(h, '@', hl)) {
    *err = g_strdup_printf("'%s': bad host (user:password@ is not supported)", url);
    return -1;
  }
  out->host = g_strndup(h, hl);
  out->port = port;
  return 0;
}

void
lc_redis_addr_clear(lc_redis_addr *a)
{
  g_free(a->host);
  g_free(a->unix_path);
  memset(a, 0, sizeof *a);
}

char *
lc_redis_addr_string(const lc_redis_addr *a)
{
  return a->unix_path ? g_strdup(a->unix_path) : g_strdup_printf("%s:%d", a->host, a->port);
}

/* ---- the GSource ------------------------------------------------------------------ */

static gboolean
src_prepare(GSource *s, gint *timeout)
{
  *timeout = -1;
  return FALSE;
}

static gboolean
src_check(GSource *s)
{
  redis_source *rs = (redis_source *)s;
  return (rs->pfd.revents & rs->pfd.events) != 0;
}

static gboolean
src_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
  redis_source *rs = (redis_source *)s;
  lc_redis *r = rs->r;
  gushort rev = rs->pfd.revents;
  rs->pfd.revents = 0;
  if (!r || !r->ac)
    return G_SOURCE_CONTINUE;
  if (rev & (G_IO_OUT | G_IO_ERR | G_IO_HUP))
    redisAsyncHandleWrite(r->ac);
  if (rs->r && r->ac && (rev & (G_IO_IN | G_IO_ERR | G_IO_HUP)))
    redisAsyncHandleRead(r->ac); /* may free the context (disconnect callback clears r->ac) */
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs src_funcs = {src_prepare, src_check, src_dispatch, NULL, NULL, NULL};

static void
ev_add_read(void *p)
{
  redis_source *rs = p;
  if (rs)
    rs->pfd.events |= G_IO_IN;
}
static void
ev_del_read(void *p)
{
  redis_source *rs = p;
  if (rs)
    rs->pfd.events &= (gushort)~G_IO_IN;
}
static void
ev_add_write(void *p)
{
  redis_source *rs = p;
  if (rs)
    rs->pfd.events |= G_IO_OUT;
}
static void
ev_del_write(void *p)
{
  redis_source *rs = p;
  if (rs)
    rs->pfd.events &= (gushort)~G_IO_OUT;
}
static void
ev_cleanup(void *p)
{
  redis_source *rs = p;
  if (rs)
    rs->pfd.events = 0;
}

static void
source_drop(lc_redis *r)
{
  if (!r->src)
    return;
  g_source_remove_poll(&r->src->base, &r->src->pfd);
  r->src->r = NULL;
  g_source_destroy(&r->src->base);
  g_source_unref(&r->src->base);
  r->src = NULL;
}

/* ---- connecting -------------------------------------------------------------------- */

static void connect_now(lc_redis *r);

static gboolean
retry_cb(gpointer user)
{
  lc_redis *r = user;
  r->retry_timer = 0;
  connect_now(r);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry(lc_redis *r)
{
  if (r->freeing || r->retry_timer)
    return;
  GSource *t = g_timeout_source_new((guint)r->backoff_ms);
  g_source_set_callback(t, retry_cb, r, NULL);
  r->retry_timer = g_source_attach(t, r->ctx);
  g_source_unref(t);
  r->backoff_ms = MIN(r->backoff_ms * 2, BACKOFF_MAX_MS);
}

static void
set_state(lc_redis *r, bool up)
{
  if (r->up == up)
    return;
  r->up = up;
  if (r->state_cb && !r->freeing)
    r->state_cb(r, up, r->user);
}

static void send_ping(lc_redis *r);

static void
on_connect(const redisAsyncContext *ac, int status)
{
  lc_redis *r = ac->data;
  if (!r)
    return;
  if (status != REDIS_OK) {
    /* hiredis frees the context after this callback */
    if (r->failures++ == 0 || r->failures % 50 == 0)
      LC_WARN(NULL, NULL, "redis %s (%s): cannot connect: %s; retrying", r->name,
              r->addr.unix_path ? r->addr.unix_path : r->addr.host, ac->errstr);
    ((redisAsyncContext *)ac)->ev.data = NULL; /* hiredis still cleans up through it */
    r->ac = NULL;
    source_drop(r);
    schedule_retry(r);
    return;
  }
  /* Up only once it answers: a stopped (hung) Redis still accepts connections in the kernel. */
  send_ping(r);
}

static void
ping_reply(lc_redis *r, const redisReply *reply, const char *err, gpointer user)
{
  if (!reply || reply->type == REDIS_REPLY_ERROR)
    return; /* a timeout drops the connection; a reconnect follows */
  if (r->failures > 0)
    LC_INFO(NULL, NULL, "redis %s: answering again after %" G_GUINT64_FORMAT " failed attempts", r->name,
            r->failures);
  r->failures = 0;
  r->backoff_ms = BACKOFF_MIN_MS;
  set_state(r, true);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
  lc_redis *r = ac->data;
  if (!r)
    return;
  ((redisAsyncContext *)ac)->ev.data = NULL; /* hiredis still cleans up through it */
  r->ac = NULL; /* hiredis frees it after this callback */
  source_drop(r);
  if (!r->freeing)
    LC_WARN(NULL, NULL, "redis %s: connection lost%s%s", r->name, status == REDIS_OK ? "" : ": ",
            status == REDIS_OK ? "" : ac->errstr);
  set_state(r, false);
  schedule_retry(r);
}

static void
connect_now(lc_redis *r)
{
  redisAsyncContext *ac =
      r->addr.unix_path ? redisAsyncConnectUnix(r->addr.unix_path) : redisAsyncConnect(r->addr.host, r->addr.port);
  if (!ac || ac->err) {
    if (r->failures++ == 0)
      LC_WARN(NULL, NULL, "redis %s: cannot connect: %s", r->name, ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    schedule_retry(r);
    return;
  }
  ac->data = r;
  redis_source *rs = (redis_source *)g_source_new(&src_funcs, sizeof *rs);
  rs->r = r;
  rs->pfd.fd = ac->c.fd;
  g_source_add_poll(&rs->base, &rs->pfd);
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  ac->ev.data = rs;
  r->ac = ac;
  r->src = rs;
  g_source_attach(&rs->base, r->ctx);
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

lc_redis *
lc_redis_new(const lc_redis_addr *addr, const char *name, GMainContext *ctx, lc_redis_state_cb state, gpointer user)
{
  lc_redis *r = g_new0(lc_redis, 1);
  r->addr.host = g_strdup(addr->host);
  r->addr.port = addr->port;
  r->addr.unix_path = g_strdup(addr->unix_path);
  r->name = g_strdup(name ? name : "redis");
  r->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
  r->state_cb = state;
  r->user = user;
  r->backoff_ms = BACKOFF_MIN_MS;
  g_queue_init(&r->fifo);
  connect_now(r);
  return r;
}

bool
lc_redis_up(const lc_redis *r)
{
  return r && r->up && r->ac;
}

/* ---- commands ------------------------------------------------------------------------ */

static void
pending_finish(pending *p, const redisReply *reply, const char *err)
{
  if (p->done)
    return;
  p->done = true;
  if (p->cb)
    p->cb(p->r, reply, err, p->user);
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
  pending *p = privdata;
  lc_redis *r = p->r;
  g_queue_unlink(&r->fifo, &p->link);
  pending_finish(p, reply, reply ? NULL : "disconnected");
  g_free(p);
}

static void arm_deadline(lc_redis *r, gint64 at);

/* The earliest deadline passed? A Redis that does not answer in time is treated as gone:
 * that command fails with "timeout", everything queued behind it with "disconnected" now
 * (instead of one timeout each), and "up" waits for a new connection's PING. One timer per
 * connection, not one per command: thousands of commands in flight are thousands of GSources
 * GLib would walk on every loop iteration. */
static gboolean
deadline_fired(gpointer user)
{
  lc_redis *r = user;
  r->deadline_timer = 0;
  gint64 now = g_get_monotonic_time(), next = 0;
  pending *late = NULL;
  for (GList *l = r->fifo.head; l && !late; l = l->next) {
    pending *p = l->data;
    if (!p->deadline_us || p->done)
      continue;
    if (p->deadline_us <= now)
      late = p;
    else if (!next || p->deadline_us < next)
      next = p->deadline_us;
  }
  if (!late) {
    if (next)
      arm_deadline(r, next);
    return G_SOURCE_REMOVE;
  }
  pending_finish(late, NULL, "timeout"); /* it stays with hiredis until the context goes */
  if (r->ac && !r->freeing) {
    if (r->up || r->failures++ == 0)
      LC_WARN(NULL, NULL, "redis %s: no answer within the timeout (%u commands in flight); reconnecting", r->name,
              g_queue_get_length(&r->fifo));
    /* Not redisAsyncDisconnect: that waits for the answers still due, which a hung Redis never
     * sends. Free answers every callback with NULL ("disconnected") and calls on_disconnect. */
    redisAsyncFree(r->ac);
  }
  return G_SOURCE_REMOVE;
}

static void
arm_deadline(lc_redis *r, gint64 at)
{
  if (r->deadline_timer) {
    if (r->timer_at <= at)
      return;
    g_source_destroy(g_main_context_find_source_by_id(r->ctx, r->deadline_timer));
  }
  gint64 wait_ms = MAX((at - g_get_monotonic_time() + 999) / 1000, 0);
  GSource *t = g_timeout_source_new((guint)wait_ms);
  g_source_set_callback(t, deadline_fired, r, NULL);
  r->deadline_timer = g_source_attach(t, r->ctx);
  g_source_unref(t);
  r->timer_at = at;
}

static void
send_cmd(lc_redis *r, int argc, const char **argv, const size_t *lens, int timeout_ms, lc_redis_cb cb, gpointer user)
{
  pending *p = g_new0(pending, 1);
  p->r = r;
  p->cb = cb;
  p->user = user;
  if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, lens) != REDIS_OK) {
    g_free(p);
    if (cb)
      cb(r, NULL, "not connected", user);
    return;
  }
  p->link.data = p;
  g_queue_push_tail_link(&r->fifo, &p->link);
  if (timeout_ms > 0) {
    p->deadline_us = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    arm_deadline(r, p->deadline_us);
  }
}

void
lc_redis_command(lc_redis *r, int argc, const char **argv, const size_t *lens, int timeout_ms, lc_redis_cb cb,
                 gpointer user)
{
  if (!lc_redis_up(r)) {
    if (cb)
      cb(r, NULL, "not connected", user);
    return;
  }
  send_cmd(r, argc, argv, lens, timeout_ms, cb, user);
}

static void
send_ping(lc_redis *r)
{
  const char *argv[] = {"PING"};
  size_t lens[] = {4};
  send_cmd(r, 1, argv, lens, PING_TIMEOUT_MS, ping_reply, NULL);
}

void
lc_redis_free(lc_redis *r)
{
  if (!r)
    return;
  r->freeing = true;
  if (r->retry_timer) {
    g_source_destroy(g_main_context_find_source_by_id(r->ctx, r->retry_timer));
    r->retry_timer = 0;
  }
  if (r->ac) {
    redisAsyncContext *ac = r->ac;
    /* Answers every pending callback with NULL (on_reply: "disconnected"), then calls
     * on_disconnect, which drops the source. */
    redisAsyncFree(ac);
  }
  r->ac = NULL;
  source_drop(r);
  if (r->deadline_timer)
    g_source_destroy(g_main_context_find_source_by_id(r->ctx, r->deadline_timer));
  g_free(r->name);
  lc_redis_addr_clear(&r->addr);
  g_main_context_unref(r->ctx);
  g_free(r);
}

redisContext *
lc_redis_connect_sync(const lc_redis_addr *addr, int timeout_ms, char **err)
{
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext *c = addr->unix_path ? redisConnectUnixWithTimeout(addr->unix_path, tv)
                                    : redisConnectWithTimeout(addr->host, addr->port, tv);
  if (!c || c->err) {
    char *where = lc_redis_addr_string(addr);
    *err = g_strdup_printf("cannot connect to redis at %s: %s", where, c ? c->errstr : "out of memory");
    g_free(where);
    if (c)
      redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  return c;
}

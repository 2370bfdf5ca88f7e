/* SRT publish listener (see srt_listener.h for the threads and the choice of libsrt).
 *
 * Cross-thread traffic goes through one mutex-guarded event queue drained on the main context
 * by an idle source (attached when the queue goes from empty to non-empty):
 *   AUTH    listen callback (libsrt handshake thread) -> main: run cfg auth, signal the waiter;
 *   STARTED / ENDED   listener thread -> main.
 * Close requests go the other way (main -> listener thread) through a list under the same lock.
 * An auth request is refcounted (waiter + queue): a waiter that times out just drops its ref. */
#define LC_LOG_DOMAIN "srt"
#include "ingest/srt_listener.h"
#include "base/errors.h"
#include "base/log.h"
#include "ingest/stream_key.h"
#include "srt/srt_common.h"

#include <netinet/in.h>
#include <srt/access_control.h>
#include <srt/srt.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_EVENTS 64
#define POLL_MS 100

typedef enum { EV_AUTH, EV_STARTED, EV_ENDED } ev_type;

typedef struct {
  gint refs;
  char room[LC_STREAM_KEY_MAX_ROOM + 1];
  char key[LC_STREAM_KEY_MAX_KEY + 1];
  char peer[64];
  bool done;   /* guarded by l->lock */
  int result;  /* guarded by l->lock */
} auth_req;

typedef struct {
  ev_type type;
  unsigned id;
  char *room, *peer, *reason;
  auth_req *req;
} event;

typedef struct {
  unsigned id;
  SRTSOCKET sock;
  char room[LC_STREAM_KEY_MAX_ROOM + 1];
  char peer[64];
  int64_t last_data_us;
} caller; /* listener thread only */

typedef struct {
  unsigned id;
  char *reason;
} close_req;

struct lc_srt_listener {
  lc_srt_listener_config cfg;
  lc_srt_listener_callbacks cb;
  gpointer user;
  GMainContext *ctx;
  SRTSOCKET lsn;
  int eid;
  int port;
  GThread *thread;

  GMutex lock;
  GCond cond;          /* auth answers, stopping */
  bool stopping;       /* guarded by lock */
  GQueue events;       /* event*, guarded by lock */
  GSource *drain;      /* idle source while events are queued, guarded by lock */
  GList *close_reqs;   /* close_req*, guarded by lock */

  gint n_callers;      /* atomic: accepted and not yet closed */
  GHashTable *started; /* id -> room (main thread): callers whose started was delivered */
  GHashTable *callers; /* SRTSOCKET -> caller* (listener thread) */
  unsigned next_id;    /* listener thread */
  uint64_t accepted, rejected, bytes_in; /* atomic adds */
};

/* ---- events ----------------------------------------------------------------------------- */

static void
auth_req_unref(auth_req *r)
{
  if (g_atomic_int_dec_and_test(&r->refs))
    g_free(r);
}

static void
event_free(event *e)
{
  if (e->req)
    auth_req_unref(e->req);
  g_free(e->room);
  g_free(e->peer);
  g_free(e->reason);
  g_free(e);
}

static void
deliver(lc_srt_listener *l, event *e)
{
  switch (e->type) {
  case EV_AUTH: {
    int rc = l->cb.auth ? l->cb.auth(e->req->room, e->req->key, e->req->peer, l->user) : 0;
    g_mutex_lock(&l->lock);
    e->req->result = rc;
    e->req->done = true;
    g_cond_broadcast(&l->cond);
    g_mutex_unlock(&l->lock);
    break;
  }
  case EV_STARTED:
    g_hash_table_insert(l->started, GUINT_TO_POINTER(e->id), g_strdup(e->room));
    if (l->cb.started)
      l->cb.started(e->id, e->room, e->peer, l->user);
    break;
  case EV_ENDED:
    if (g_hash_table_remove(l->started, GUINT_TO_POINTER(e->id)) && l->cb.ended)
      l->cb.ended(e->id, e->room, e->reason, l->user);
    break;
  }
}

static gboolean
on_drain(gpointer data)
{
  lc_srt_listener *l = data;
  for (;;) {
    g_mutex_lock(&l->lock);
    event *e = g_queue_pop_head(&l->events);
    if (!e) {
      g_source_unref(l->drain);
      l->drain = NULL;
      g_mutex_unlock(&l->lock);
      return G_SOURCE_REMOVE;
    }
    g_mutex_unlock(&l->lock);
    deliver(l, e);
    event_free(e);
  }
}

/* Any thread. Takes e. */
static void
post(lc_srt_listener *l, event *e)
{
  g_mutex_lock(&l->lock);
  g_queue_push_tail(&l->events, e);
  if (!l->drain && !l->stopping) {
    l->drain = g_idle_source_new();
    g_source_set_priority(l->drain, G_PRIORITY_DEFAULT);
    g_source_set_callback(l->drain, on_drain, l, NULL);
    g_source_attach(l->drain, l->ctx);
  }
  g_mutex_unlock(&l->lock);
}

/* ---- the listen callback (libsrt's handshake thread) ------------------------------------ */

static int
reject_code(int rc)
{
  switch (rc) {
  case LC_ENOENT: return SRT_REJX_NOTFOUND;
  case LC_EPERM: return SRT_REJX_UNAUTHORIZED;
  case LC_ESTATE: return SRT_REJX_FORBIDDEN;
  case LC_EBUSY:
  case LC_EEXIST: return SRT_REJX_CONFLICT;
  case LC_ELIMIT: return SRT_REJX_OVERLOAD;
  default: return SRT_REJX_BAD_REQUEST;
  }
}

static int
on_listen(void *opaq, SRTSOCKET ns, int hsversion, const struct sockaddr *peeraddr, const char *streamid)
{
  lc_srt_listener *l = opaq;
  char peer[64];
  lc_srt_format_addr(peeraddr, peer, sizeof peer);
  lc_stream_key sk;
  const char *why = NULL;
  if (lc_stream_key_parse_srt(streamid ? streamid : "", &sk, &why) != 0) {
    char shown[80];
    g_strlcpy(shown, streamid ? streamid : "", sizeof shown);
    bool in_key = false; /* mask key values: "k=..." and "key=..." up to ',' or '&' */
    for (char *p = shown; *p; p++) {
      if (*p == ',' || *p == '&')
        in_key = false;
      else if (in_key)
        *p = '*';
      else if (*p == '=' && p > shown && (p[-1] == 'k' || (p - shown >= 3 && strncmp(p - 3, "key", 3) == 0)))
        in_key = true;
      else if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
        *p = '?';
    }
    LC_WARN(NULL, NULL, "rejecting SRT caller %s: bad streamid '%s' (%s; expected #!::r=<room>,k=<key>)", peer, shown,
            why);
    srt_setrejectreason(ns, strstr(why, "mode") ? SRT_REJX_BAD_MODE : SRT_REJX_BAD_REQUEST);
    __atomic_fetch_add(&l->rejected, 1, __ATOMIC_RELAXED);
    return -1;
  }
  if ((unsigned)g_atomic_int_get(&l->n_callers) >= l->cfg.max_connections) {
    LC_WARN(sk.room, NULL, "rejecting SRT caller %s: %u callers connected (srt max_connections)", peer,
            l->cfg.max_connections);
    srt_setrejectreason(ns, SRT_REJX_OVERLOAD);
    __atomic_fetch_add(&l->rejected, 1, __ATOMIC_RELAXED);
    return -1;
  }
  auth_req *r = g_new0(auth_req, 1);
  r->refs = 2;
  memcpy(r->room, sk.room, sizeof r->room);
  memcpy(r->key, sk.key, sizeof r->key);
  g_strlcpy(r->peer, peer, sizeof r->peer);
  event *e = g_new0(event, 1);
  e->type = EV_AUTH;
  e->req = r;
  post(l, e);
  int64_t deadline = g_get_monotonic_time() + (int64_t)l->cfg.auth_timeout_ms * 1000;
  g_mutex_lock(&l->lock);
  while (!r->done && !l->stopping)
    if (!g_cond_wait_until(&l->cond, &l->lock, deadline))
      break;
  bool done = r->done;
  int rc = r->result;
  g_mutex_unlock(&l->lock);
  auth_req_unref(r);
  if (!done) {
    LC_WARN(sk.room, NULL, "rejecting SRT caller %s: no auth answer within %u ms", peer, l->cfg.auth_timeout_ms);
    srt_setrejectreason(ns, SRT_REJX_OVERLOAD);
    __atomic_fetch_add(&l->rejected, 1, __ATOMIC_RELAXED);
    return -1;
  }
  if (rc != 0) {
    LC_WARN(sk.room, NULL, "rejecting SRT caller %s: %s (reject code %d)", peer,
            rc == LC_EPERM ? (sk.key[0] ? "wrong stream key" : "missing stream key (k=)") : lc_strerror(rc),
            reject_code(rc));
    srt_setrejectreason(ns, reject_code(rc));
    __atomic_fetch_add(&l->rejected, 1, __ATOMIC_RELAXED);
    return -1;
  }
  LC_DEBUG(sk.room, NULL, "SRT caller %s authorized (handshake v%d)", peer, hsversion);
  return 0;
}

/* ---- listener thread -------------------------------------------------------------------- */

static void
caller_close(lc_srt_listener *l, caller *c, const char *reason)
{
  srt_epoll_remove_usock(l->eid, c->sock);
  srt_close(c->sock);
  g_hash_table_remove(l->callers, GINT_TO_POINTER(c->sock));
  g_atomic_int_add(&l->n_callers, -1);
  LC_INFO(c->room, NULL, "SRT caller %s (srt-%u) closed: %s", c->peer, c->id, reason);
  event *e = g_new0(event, 1);
  e->type = EV_ENDED;
  e->id = c->id;
  e->room = g_strdup(c->room);
  e->reason = g_strdup(reason);
  post(l, e);
  g_free(c);
}

static void
do_accept(lc_srt_listener *l)
{
  for (;;) {
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    SRTSOCKET s = srt_accept(l->lsn, (struct sockaddr *)&ss, &sl);
    if (s == SRT_INVALID_SOCK)
      return;
    char sid[LC_STREAM_KEY_MAX_INPUT + 1];
    int sidlen = sizeof sid - 1;
    lc_stream_key sk;
    if (srt_getsockflag(s, SRTO_STREAMID, sid, &sidlen) != 0 || sidlen < 0)
      sidlen = 0;
    sid[sidlen] = '\0';
    if (lc_stream_key_parse_srt(sid, &sk, NULL) != 0) {
      srt_close(s); /* cannot happen: the listen callback parsed the same streamid */
      continue;
    }
    caller *c = g_new0(caller, 1);
    c->id = ++l->next_id;
    c->sock = s;
    memcpy(c->room, sk.room, sizeof c->room);
    lc_srt_format_addr((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    c->last_data_us = g_get_monotonic_time();
    int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    g_hash_table_insert(l->callers, GINT_TO_POINTER(s), c);
    g_atomic_int_inc(&l->n_callers);
    __atomic_fetch_add(&l->accepted, 1, __ATOMIC_RELAXED);
    LC_INFO(c->room, NULL, "SRT caller %s connected (srt-%u)", c->peer, c->id);
    event *e = g_new0(event, 1);
    e->type = EV_STARTED;
    e->id = c->id;
    e->room = g_strdup(c->room);
    e->peer = g_strdup(c->peer);
    post(l, e);
    if (srt_epoll_add_usock(l->eid, s, &ev) != 0)
      caller_close(l, c, "cannot watch the socket");
  }
}

static void
do_read(lc_srt_listener *l, caller *c)
{
  char buf[1500];
  for (;;) {
    int n = srt_recvmsg(c->sock, buf, sizeof buf);
    if (n > 0) {
      c->last_data_us = g_get_monotonic_time();
      __atomic_fetch_add(&l->bytes_in, (uint64_t)n, __ATOMIC_RELAXED);
      if (l->cb.data)
        l->cb.data(c->id, (const uint8_t *)buf, (size_t)n, l->user);
      continue;
    }
    int errn = 0;
    int code = srt_getlasterror(&errn);
    if (n < 0 && code == SRT_EASYNCRCV)
      return;
    char *why = g_strdup_printf("%s", n == 0 ? "caller closed the connection" : srt_getlasterror_str());
    if (code == SRT_ECONNLOST || srt_getsockstate(c->sock) >= SRTS_BROKEN) {
      g_free(why);
      why = g_strdup("connection lost or closed by the caller");
    }
    srt_clearlasterror();
    caller_close(l, c, why);
    g_free(why);
    return;
  }
}

static void
do_close_requests(lc_srt_listener *l)
{
  g_mutex_lock(&l->lock);
  GList *reqs = l->close_reqs;
  l->close_reqs = NULL;
  g_mutex_unlock(&l->lock);
  for (GList *it = reqs; it; it = it->next) {
    close_req *cr = it->data;
    GHashTableIter hi;
    gpointer k, v;
    g_hash_table_iter_init(&hi, l->callers);
    while (g_hash_table_iter_next(&hi, &k, &v)) {
      caller *c = v;
      if (c->id == cr->id) {
        caller_close(l, c, cr->reason);
        break;
      }
    }
    g_free(cr->reason);
    g_free(cr);
  }
  g_list_free(reqs);
}

static void
do_idle(lc_srt_listener *l)
{
  int64_t now = g_get_monotonic_time();
  GList *vals = g_hash_table_get_values(l->callers);
  for (GList *it = vals; it; it = it->next) {
    caller *c = it->data;
    if (now - c->last_data_us > (int64_t)l->cfg.idle_timeout_ms * 1000)
      caller_close(l, c, "no data within the idle timeout");
  }
  g_list_free(vals);
}

static gpointer
thread_main(gpointer data)
{
  lc_srt_listener *l = data;
  SRT_EPOLL_EVENT evs[MAX_EVENTS];
  int64_t last_idle = g_get_monotonic_time();
  for (;;) {
    g_mutex_lock(&l->lock);
    bool stop = l->stopping;
    g_mutex_unlock(&l->lock);
    if (stop)
      break;
    do_close_requests(l);
    int n = srt_epoll_uwait(l->eid, evs, MAX_EVENTS, POLL_MS);
    for (int i = 0; i < n; i++) {
      if (evs[i].fd == l->lsn) {
        do_accept(l);
        continue;
      }
      caller *c = g_hash_table_lookup(l->callers, GINT_TO_POINTER(evs[i].fd));
      if (c)
        do_read(l, c);
    }
    int64_t now = g_get_monotonic_time();
    if (now - last_idle > 500 * 1000) {
      do_idle(l);
      last_idle = now;
    }
  }
  GList *vals = g_hash_table_get_values(l->callers);
  for (GList *it = vals; it; it = it->next)
    caller_close(l, it->data, "server stopping");
  g_list_free(vals);
  return NULL;
}

lc_srt_listener *
lc_srt_listener_new(const lc_srt_listener_config *cfg, const lc_srt_listener_callbacks *cb, gpointer user,
                    char **err)
{
  lc_srt_listener *l = g_new0(lc_srt_listener, 1);
  l->cfg = *cfg;
  l->cfg.bind = NULL;
  l->cb = *cb;
  l->user = user;
  l->ctx = g_main_context_ref_thread_default();
  l->lsn = SRT_INVALID_SOCK;
  l->eid = -1;
  g_mutex_init(&l->lock);
  g_cond_init(&l->cond);
  g_queue_init(&l->events);
  l->started = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
  l->callers = g_hash_table_new(g_direct_hash, g_direct_equal);
  if (!l->cfg.latency_ms)
    l->cfg.latency_ms = 120;
  if (!l->cfg.max_connections)
    l->cfg.max_connections = 16;
  if (!l->cfg.idle_timeout_ms)
    l->cfg.idle_timeout_ms = 10000;
  if (!l->cfg.auth_timeout_ms)
    l->cfg.auth_timeout_ms = 2500;
  lc_srt_startup();
  const char *bind = cfg->bind && *cfg->bind ? cfg->bind : "0.0.0.0";
  struct sockaddr_storage ss;
  int sl;
  if (cfg->port < 0 || cfg->port > 65535) {
    *err = g_strdup_printf("srt port %d outside 0..65535", cfg->port);
    goto fail;
  }
  if (!lc_srt_bind_address(bind, cfg->port, &ss, &sl)) {
    *err = g_strdup_printf("srt bind address '%s' is not an IP address", bind);
    goto fail;
  }
  l->lsn = srt_create_socket();
  if (l->lsn == SRT_INVALID_SOCK) {
    *err = g_strdup_printf("cannot create an SRT socket: %s", srt_getlasterror_str());
    goto fail;
  }
  bool no = false;
  int lat = l->cfg.latency_ms;
  int tt = SRTT_LIVE;
  srt_setsockflag(l->lsn, SRTO_TRANSTYPE, &tt, sizeof tt);
  srt_setsockflag(l->lsn, SRTO_RCVSYN, &no, sizeof no);
  srt_setsockflag(l->lsn, SRTO_LATENCY, &lat, sizeof lat);
  /* libsrt binds with SO_REUSEADDR by default: a second process on the same port would then share
   * it silently (callers reach one of the two at random). Fail the bind instead. */
  srt_setsockflag(l->lsn, SRTO_REUSEADDR, &no, sizeof no);
  if (srt_bind(l->lsn, (struct sockaddr *)&ss, sl) != 0) {
    *err = g_strdup_printf("cannot bind SRT to %s:%d/udp: %s", bind, cfg->port, srt_getlasterror_str());
    goto fail;
  }
  struct sockaddr_storage got;
  int gl = sizeof got;
  if (srt_getsockname(l->lsn, (struct sockaddr *)&got, &gl) != 0) {
    *err = g_strdup_printf("cannot read the SRT socket address: %s", srt_getlasterror_str());
    goto fail;
  }
  l->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
  if (srt_listen_callback(l->lsn, on_listen, l) != 0 || srt_listen(l->lsn, 16) != 0) {
    *err = g_strdup_printf("cannot listen for SRT on %s:%d: %s", bind, l->port, srt_getlasterror_str());
    goto fail;
  }
  l->eid = srt_epoll_create();
  int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (l->eid < 0 || srt_epoll_add_usock(l->eid, l->lsn, &ev) != 0) {
    *err = g_strdup_printf("cannot create the SRT epoll: %s", srt_getlasterror_str());
    goto fail;
  }
  l->thread = g_thread_new("lc-srt", thread_main, l);
  LC_INFO(NULL, NULL, "SRT listener on %s:%d/udp (latency %d ms, max %u callers)", bind, l->port, lat,
          l->cfg.max_connections);
  return l;

fail:
  lc_srt_listener_free(l);
  return NULL;
}

void
lc_srt_listener_free(lc_srt_listener *l)
{
  if (!l)
    return;
  g_mutex_lock(&l->lock);
  l->stopping = true;
  g_cond_broadcast(&l->cond);
  g_mutex_unlock(&l->lock);
  if (l->thread)
    g_thread_join(l->thread);
  if (l->lsn != SRT_INVALID_SOCK)
    srt_close(l->lsn); /* waits for a listen callback in progress: it sees `stopping` */
  if (l->eid >= 0)
    srt_epoll_release(l->eid);
  lc_srt_cleanup();
  /* Deliver what is queued (started/ended in order; auth requests are answered "no"). */
  g_mutex_lock(&l->lock);
  if (l->drain) {
    g_source_destroy(l->drain);
    g_source_unref(l->drain);
    l->drain = NULL;
  }
  event *e;
  while ((e = g_queue_pop_head(&l->events))) {
    g_mutex_unlock(&l->lock);
    if (e->type != EV_AUTH)
      deliver(l, e);
    event_free(e);
    g_mutex_lock(&l->lock);
  }
  for (GList *it = l->close_reqs; it; it = it->next) {
    close_req *cr = it->data;
    g_free(cr->reason);
    g_free(cr);
  }
  g_list_free(l->close_reqs);
  l->close_reqs = NULL;
  g_mutex_unlock(&l->lock);
  /* Callers whose started was delivered but whose ended was not (cannot happen once the
   * thread closed them all, kept as a guard). */
  GHashTableIter hi;
  gpointer k, v;
  g_hash_table_iter_init(&hi, l->started);
  while (g_hash_table_iter_next(&hi, &k, &v)) {
    if (l->cb.ended)
      l->cb.ended(GPOINTER_TO_UINT(k), v, "server stopping", l->user);
    g_hash_table_iter_remove(&hi);
  }
  g_hash_table_destroy(l->started);
  g_hash_table_destroy(l->callers);
  g_mutex_clear(&l->lock);
  g_cond_clear(&l->cond);
  g_main_context_unref(l->ctx);
  g_free(l);
}

int
lc_srt_listener_port(lc_srt_listener *l)
{
  return l->port;
}

void
lc_srt_listener_close_conn(lc_srt_listener *l, unsigned id, const char *reason)
{
  close_req *cr = g_new0(close_req, 1);
  cr->id = id;
  cr->reason = g_strdup(reason ? reason : "closed by the server");
  g_mutex_lock(&l->lock);
  l->close_reqs = g_list_append(l->close_reqs, cr);
  g_mutex_unlock(&l->lock);
}

void
lc_srt_listener_get_stats(lc_srt_listener *l, lc_srt_listener_stats *out)
{
  out->connections = (unsigned)g_atomic_int_get(&l->n_callers);
  out->accepted = __atomic_load_n(&l->accepted, __ATOMIC_RELAXED);
  out->rejected = __atomic_load_n(&l->rejected, __ATOMIC_RELAXED);
  out->bytes_in = __atomic_load_n(&l->bytes_in, __ATOMIC_RELAXED);
}

/* The relay's facade, its thread and the listener (see relay.h). The edge side is in
 * relay_pull.c, the serving side in relay_feed.c.
 *
 * Cross-thread traffic: commands (main -> relay thread) and events (relay thread -> main, drained
 * by an idle source on the main context) go through queues under r->lock. The listen callback
 * runs on a libsrt thread: it only reads the config, the hub and atomics. */
#define LC_LOG_DOMAIN "relay"
#include "relay/relay_int.h"
#include "base/errors.h"
#include "base/log.h"
#include "srt/srt_common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <srt/access_control.h>
#include <string.h>

#define MAX_EVENTS 64
#define POLL_MS 10
#define POLL_FAST_MS 2

typedef enum { CMD_WANT, CMD_RESET } cmd_type;
typedef struct {
  cmd_type type;
  char *room;
} relay_cmd;

typedef struct {
  char *room, *why;
  int status;
} relay_event;

typedef struct {
  lc_relay_ready_fn fn;
  gpointer user;
} waiter;

typedef struct {
  lc_relay *relay;
  char *room;
  GSList *list; /* waiter * */
  guint timer;
} waiters;

/* ---- small shared pieces ---- */

void
lc__relay_format_addr(const struct sockaddr *sa, char *out, size_t len)
{
  lc_srt_format_addr(sa, out, len);
}

void
lc__relay_tune(lc_relay *r, SRTSOCKET s)
{
  int tt = SRTT_LIVE, payload = LC_RELAY_MAX_MSG, idle = 2000, conn = 2000, pbk = 16;
  bool no = false;
  srt_setsockflag(s, SRTO_TRANSTYPE, &tt, sizeof tt);
  /* No TSBPD: deliver as soon as in order (a hop adds network time, not a latency window);
   * nothing is dropped as "too late", SRT resends until it gets through. */
  srt_setsockflag(s, SRTO_TSBPDMODE, &no, sizeof no);
  srt_setsockflag(s, SRTO_TLPKTDROP, &no, sizeof no);
  srt_setsockflag(s, SRTO_PAYLOADSIZE, &payload, sizeof payload);
  srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof no);
  srt_setsockflag(s, SRTO_SNDSYN, &no, sizeof no);
  srt_setsockflag(s, SRTO_PEERIDLETIMEO, &idle, sizeof idle);
  srt_setsockflag(s, SRTO_CONNTIMEO, &conn, sizeof conn);
  srt_setsockflag(s, SRTO_PBKEYLEN, &pbk, sizeof pbk);
  srt_setsockflag(s, SRTO_PASSPHRASE, r->aes_key, (int)strlen(r->aes_key));
}

bool
lc__relay_send(SRTSOCKET s, const uint8_t *buf, size_t len)
{
  /* In order: without TSBPD, libsrt would hand over the messages after a lost one before its
   * resend (the default for a NULL msgctrl is "not in order"), and the edge would take the resend
   * for a duplicate. */
  SRT_MSGCTRL mc = srt_msgctrl_default;
  mc.inorder = 1;
  return len > 0 && srt_sendmsg2(s, (const char *)buf, (int)len, &mc) == (int)len;
}

/* ---- events to the main thread ---- */

static void
waiters_fire(waiters *w, int status, const char *why)
{
  GSList *list = w->list;
  w->list = NULL;
  char *room = g_strdup(w->room);
  g_hash_table_remove(w->relay->waiters, room); /* frees w (and its timer) */
  for (GSList *it = list; it; it = it->next) {
    waiter *x = it->data;
    x->fn(room, status, why, x->user);
  }
  g_slist_free_full(list, g_free);
  g_free(room);
}

static void
waiters_free(gpointer p)
{
  waiters *w = p;
  if (w->timer)
    g_source_remove(w->timer);
  g_slist_free_full(w->list, g_free);
  g_free(w->room);
  g_free(w);
}

static gboolean
waiters_timeout(gpointer p)
{
  waiters *w = p;
  w->timer = 0;
  char *why = g_strdup_printf("the upstream relay %s did not deliver room %s within %u ms",
                              w->relay->origin_str, w->room, w->relay->cfg.connect_timeout_ms);
  waiters_fire(w, LC_ETIMEDOUT, why);
  g_free(why);
  return G_SOURCE_REMOVE;
}

static gboolean
drain_events(gpointer user)
{
  lc_relay *r = user;
  g_mutex_lock(&r->lock);
  GQueue q = r->events;
  g_queue_init(&r->events);
  g_source_unref(r->ev_src);
  r->ev_src = NULL;
  g_mutex_unlock(&r->lock);
  for (GList *l = q.head; l; l = l->next) {
    relay_event *e = l->data;
    waiters *w = g_hash_table_lookup(r->waiters, e->room);
    if (w)
      waiters_fire(w, e->status, e->why);
    g_free(e->room);
    g_free(e->why);
    g_free(e);
  }
  g_queue_clear(&q);
  return G_SOURCE_REMOVE;
}

void
lc__relay_post_ready(lc_relay *r, const char *room, int status, const char *why)
{
  relay_event *e = g_new0(relay_event, 1);
  e->room = g_strdup(room);
  e->why = g_strdup(why);
  e->status = status;
  g_mutex_lock(&r->lock);
  if (status == 0)
    g_hash_table_add(r->ready, g_strdup(room));
  g_queue_push_tail(&r->events, e);
  if (!r->ev_src && r->ctx) {
    r->ev_src = g_idle_source_new();
    g_source_set_callback(r->ev_src, drain_events, r, NULL);
    g_source_attach(r->ev_src, r->ctx);
  }
  g_mutex_unlock(&r->lock);
}

/* ---- the listener (libsrt's handshake thread) ---- */

/* At most 10 refusal lines per second (a flood of bad handshakes must not flood the log); the
 * next line says how many were left out. Any thread. */
static int
refuse(lc_relay *r, SRTSOCKET ns, int code, const char *room, const char *peer, const char *why)
{
  srt_setrejectreason(ns, code);
  __atomic_fetch_add(&r->refused, 1, __ATOMIC_RELAXED);
  gint64 sec = g_get_monotonic_time() / G_USEC_PER_SEC;
  g_mutex_lock(&r->refuse_lock);
  if (sec != r->refuse_sec) {
    r->refuse_sec = sec;
    r->refuse_logged = 0;
  }
  bool log = r->refuse_logged++ < 10;
  guint64 skipped = log ? r->refuse_skipped : 0;
  if (log)
    r->refuse_skipped = 0;
  else
    r->refuse_skipped++;
  g_mutex_unlock(&r->refuse_lock);
  if (log && skipped)
    LC_WARN(room, NULL, "relay request from %s refused: %s (and %" G_GUINT64_FORMAT " refusals not logged)", peer,
            why, skipped);
  else if (log)
    LC_WARN(room, NULL, "relay request from %s refused: %s", peer, why);
  return -1;
}

static int
on_listen(void *opaq, SRTSOCKET ns, int hsversion, const struct sockaddr *peeraddr, const char *streamid)
{
  lc_relay *r = opaq;
  char peer[64];
  lc__relay_format_addr(peeraddr, peer, sizeof peer);
  (void)hsversion;
  lc_relay_request rq;
  const char *why = NULL;
  const char *sid = streamid ? streamid : "";
  int rc = lc_relay_request_verify(sid, strlen(sid), r->cfg.secret, g_get_real_time() / G_USEC_PER_SEC, &rq, &why);
  if (rc == LC_EPERM)
    return refuse(r, ns, SRT_REJX_UNAUTHORIZED, rq.room[0] ? rq.room : NULL, peer, why);
  if (rc != 0)
    return refuse(r, ns, SRT_REJX_BAD_REQUEST, NULL, peer, why);
  if (lc_relay_request_passed(&rq, r->cfg.node_id)) {
    GString *chain = g_string_new(NULL);
    for (unsigned i = 0; i < rq.n_via; i++)
      g_string_append_printf(chain, "%s -> ", rq.via[i]);
    g_string_append(chain, r->cfg.node_id);
    char *msg = g_strdup_printf("relay loop: %s (node %s asks for a room this node would pull from it)", chain->str,
                                rq.node);
    refuse(r, ns, LC__RELAY_END_LOOP, rq.room, peer, msg);
    g_free(msg);
    g_string_free(chain, TRUE);
    return -1;
  }
  if ((unsigned)g_atomic_int_get(&r->n_feeds) >= r->cfg.max_feeds)
    return refuse(r, ns, SRT_REJX_OVERLOAD, rq.room, peer, "too many edges connected (relay.max_feeds)");
  lc_media_room *m = lc_media_hub_acquire(r->hub, rq.room);
  if (m)
    lc_media_room_unref(m);
  else if (!r->cfg.origin)
    return refuse(r, ns, SRT_REJX_NOTFOUND, rq.room, peer, "no media for this room on this node");
  return 0;
}

/* ---- the relay thread ---- */

static void
do_accept(lc_relay *r)
{
  for (;;) {
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    SRTSOCKET s = srt_accept(r->lsn, (struct sockaddr *)&ss, &sl);
    if (s == SRT_INVALID_SOCK)
      return;
    lc__relay_feed_accept(r, s, (struct sockaddr *)&ss);
  }
}

static void
do_commands(lc_relay *r)
{
  g_mutex_lock(&r->lock);
  GQueue q = r->cmds;
  g_queue_init(&r->cmds);
  g_mutex_unlock(&r->lock);
  for (GList *l = q.head; l; l = l->next) {
    relay_cmd *c = l->data;
    if (c->type == CMD_WANT) {
      lc__relay_pull_get(r, c->room, NULL);
    } else {
      lc__relay_pull *p = g_hash_table_lookup(r->pulls, c->room);
      if (p)
        lc__relay_pull_reset(r, p, "reset by the operator");
      for (guint i = r->feeds->len; i > 0; i--) {
        lc__relay_feed *f = r->feeds->pdata[i - 1];
        if (strcmp(lc__relay_feed_room(f), c->room) == 0)
          lc__relay_feed_close(r, f, "reset by the operator");
      }
    }
    g_free(c->room);
    g_free(c);
  }
  g_queue_clear(&q);
}

static void
add_link(lc_relay_link_stats *to, const lc_relay_link_stats *l)
{
  to->packets += l->packets;
  to->bytes += l->bytes;
  to->retransmitted += l->retransmitted;
  to->drops += l->drops;
  to->reconnects += l->reconnects;
  to->dups += l->dups;
  to->gaps += l->gaps;
}

void
lc__relay_account(lc_relay *r, const lc_relay_link_stats *link, bool in)
{
  add_link(in ? &r->closed_in : &r->closed_out, link);
}

static void
update_stats(lc_relay *r)
{
  lc_relay_stats *st = g_new0(lc_relay_stats, 1);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, r->pulls);
  while (g_hash_table_iter_next(&it, &k, &v) && st->n_pulls < LC_RELAY_STATS_MAX)
    lc__relay_pull_stats(r, v, &st->pulls[st->n_pulls++]);
  for (guint i = 0; i < r->feeds->len && st->n_feeds < LC_RELAY_STATS_MAX; i++)
    lc__relay_feed_stats(r->feeds->pdata[i], &st->feeds[st->n_feeds++]);
  st->total_in = r->closed_in;
  st->total_out = r->closed_out;
  for (unsigned i = 0; i < st->n_pulls; i++)
    add_link(&st->total_in, &st->pulls[i]);
  for (unsigned i = 0; i < st->n_feeds; i++)
    add_link(&st->total_out, &st->feeds[i]);
  st->refused = __atomic_load_n(&r->refused, __ATOMIC_RELAXED);
  st->pulls_failed = __atomic_load_n(&r->pulls_failed, __ATOMIC_RELAXED);
  g_mutex_lock(&r->lock);
  r->stats = *st;
  g_mutex_unlock(&r->lock);
  g_free(st);
}

static gpointer
thread_main(gpointer data)
{
  lc_relay *r = data;
  SRT_EPOLL_EVENT evs[MAX_EVENTS];
  int64_t last_tick = 0;
  for (;;) {
    g_mutex_lock(&r->lock);
    bool stop = r->stopping;
    g_mutex_unlock(&r->lock);
    if (stop)
      break;
    do_commands(r);
    /* libsrt (TSBPD off) marks a socket readable only with its periodic ACK, every 10 ms: waiting
     * for the event alone added ~14 ms per hop (tools/bench-latency --relay). So connected pulls
     * are read every turn, and turns are 2 ms apart while there are any. */
    int n = srt_epoll_uwait(r->eid, evs, MAX_EVENTS, lc__relay_pull_connected(r) ? POLL_FAST_MS : POLL_MS);
    for (int i = 0; i < n; i++) {
      if (r->lsn != SRT_INVALID_SOCK && evs[i].fd == r->lsn) {
        do_accept(r);
        continue;
      }
      lc__relay_owner *o = g_hash_table_lookup(r->socks, GINT_TO_POINTER(evs[i].fd));
      if (!o)
        continue;
      if (*o == LC__RELAY_PULL)
        lc__relay_pull_on_event(r, (lc__relay_pull *)o, evs[i].events);
      else
        lc__relay_feed_on_event(r, (lc__relay_feed *)o, evs[i].events);
    }
    lc__relay_pull_read_all(r);
    int64_t now = g_get_monotonic_time();
    if (now - last_tick >= LC__RELAY_TICK_US) {
      last_tick = now;
      lc__relay_pull_tick(r, now);
      lc__relay_feed_tick(r, now);
    }
    if (now - r->last_stats_us >= 100000) {
      r->last_stats_us = now;
      update_stats(r);
    }
  }
  while (r->feeds->len > 0)
    lc__relay_feed_close(r, r->feeds->pdata[r->feeds->len - 1], "server stopping");
  GList *pulls = g_hash_table_get_values(r->pulls);
  for (GList *l = pulls; l; l = l->next)
    lc__relay_pull_free(r, l->data);
  g_list_free(pulls);
  return NULL;
}

/* ---- lifecycle ---- */

static bool
resolve(const char *hostport, struct sockaddr_storage *ss, int *len, char **err)
{
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || !colon[1]) {
    *err = g_strdup_printf("relay.origin '%s' must be host:port", hostport);
    return false;
  }
  char *host = g_strndup(hostport, (gsize)(colon - hostport));
  if (host[0] == '[' && host[strlen(host) - 1] == ']') {
    memmove(host, host + 1, strlen(host));
    host[strlen(host) - 1] = '\0';
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  int rc = getaddrinfo(host, colon + 1, &hints, &res);
  if (rc != 0 || !res) {
    *err = g_strdup_printf("relay.origin '%s': %s", hostport, rc ? gai_strerror(rc) : "no address");
    g_free(host);
    return false;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = (int)res->ai_addrlen;
  freeaddrinfo(res);
  g_free(host);
  return true;
}

static bool
listen_on(lc_relay *r, char **err)
{
  const char *bind = r->cfg.bind && *r->cfg.bind ? r->cfg.bind : "0.0.0.0";
  struct sockaddr_storage ss;
  int sl;
  if (!lc_srt_bind_address(bind, r->cfg.port, &ss, &sl)) {
    *err = g_strdup_printf("relay.bind '%s' is not an IP address", bind);
    return false;
  }
  r->lsn = srt_create_socket();
  if (r->lsn == SRT_INVALID_SOCK) {
    *err = g_strdup_printf("cannot create an SRT socket: %s", srt_getlasterror_str());
    return false;
  }
  lc__relay_tune(r, r->lsn);
  bool no = false; /* not shared with another process (see srt_listener.c) */
  srt_setsockflag(r->lsn, SRTO_REUSEADDR, &no, sizeof no);
  if (srt_bind(r->lsn, (struct sockaddr *)&ss, sl) != 0) {
    *err = g_strdup_printf("cannot bind the relay to %s:%d/udp: %s", bind, r->cfg.port, srt_getlasterror_str());
    return false;
  }
  struct sockaddr_storage got;
  int gl = sizeof got;
  srt_getsockname(r->lsn, (struct sockaddr *)&got, &gl);
  r->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
  if (srt_listen_callback(r->lsn, on_listen, r) != 0 || srt_listen(r->lsn, 64) != 0) {
    *err = g_strdup_printf("cannot listen for relay edges on %s:%d: %s", bind, r->port, srt_getlasterror_str());
    return false;
  }
  int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_add_usock(r->eid, r->lsn, &ev);
  return true;
}

lc_relay *
lc_relay_new(const lc_relay_config *cfg, lc_media_hub *hub, char **err)
{
  if (!cfg->node_id || !lc_relay_valid_node(cfg->node_id)) {
    *err = g_strdup_printf("relay.node_id '%s' must be 1..64 of [A-Za-z0-9._:-]", cfg->node_id ? cfg->node_id : "");
    return NULL;
  }
  if (!cfg->secret || strlen(cfg->secret) < 16) {
    *err = g_strdup("relay.secret must be at least 16 bytes (the nodes share it)");
    return NULL;
  }
  if (cfg->port < 0 || cfg->port > 65535) {
    *err = g_strdup_printf("relay.port %d outside 0..65535", cfg->port);
    return NULL;
  }
  lc_relay *r = g_new0(lc_relay, 1);
  r->cfg = *cfg;
  r->cfg.node_id = g_strdup(cfg->node_id);
  r->cfg.secret = g_strdup(cfg->secret);
  r->cfg.bind = g_strdup(cfg->bind);
  r->cfg.origin = cfg->origin && *cfg->origin ? g_strdup(cfg->origin) : NULL;
  if (!r->cfg.idle_ms)
    r->cfg.idle_ms = 10000;
  if (!r->cfg.connect_timeout_ms)
    r->cfg.connect_timeout_ms = 5000;
  if (!r->cfg.max_feeds)
    r->cfg.max_feeds = 256;
  if (!r->cfg.cache_ms)
    r->cfg.cache_ms = 2000;
  r->hub = hub;
  r->lsn = SRT_INVALID_SOCK;
  r->eid = -1;
  g_mutex_init(&r->lock);
  g_mutex_init(&r->refuse_lock);
  r->want_times = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init(&r->cmds);
  g_queue_init(&r->events);
  r->ready = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  r->pulling = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  r->waiters = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, waiters_free);
  r->pulls = g_hash_table_new(g_str_hash, g_str_equal);
  r->socks = g_hash_table_new(g_direct_hash, g_direct_equal);
  r->ended = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free); /* lc__relay_ended * */
  r->feeds = g_ptr_array_new();
  r->ctx = g_main_context_ref_thread_default();

  /* AES key: derived, so that the secret itself never travels, even encrypted. */
  unsigned char mac[32];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), r->cfg.secret, (int)strlen(r->cfg.secret), (const unsigned char *)"livecart relay aes", 18, mac,
       &ml);
  for (int i = 0; i < 16; i++)
    g_snprintf(r->aes_key + 2 * i, 3, "%02x", mac[i]);

  if (r->cfg.origin) {
    if (!resolve(r->cfg.origin, &r->origin_addr, &r->origin_len, err))
      goto fail;
    lc__relay_format_addr((struct sockaddr *)&r->origin_addr, r->origin_str, sizeof r->origin_str);
  }
  lc_srt_startup();
  r->srt_started = true;
  r->eid = srt_epoll_create();
  if (r->eid < 0) {
    *err = g_strdup_printf("cannot create the relay's SRT epoll: %s", srt_getlasterror_str());
    goto fail;
  }
  srt_epoll_set(r->eid, SRT_EPOLL_ENABLE_EMPTY);
  if (r->cfg.serve && !listen_on(r, err))
    goto fail;
  r->thread = g_thread_new("lc-relay", thread_main, r);
  if (r->cfg.serve)
    LC_INFO(NULL, NULL, "relay: node %s serves edges on %s:%d/udp", r->cfg.node_id,
            r->cfg.bind && *r->cfg.bind ? r->cfg.bind : "0.0.0.0", r->port);
  if (r->cfg.origin)
    LC_INFO(NULL, NULL, "relay: node %s pulls rooms it does not hold from %s (%s)", r->cfg.node_id, r->cfg.origin,
            r->origin_str);
  return r;

fail:
  lc_relay_free(r);
  return NULL;
}

void
lc_relay_free(lc_relay *r)
{
  if (!r)
    return;
  if (r->thread) {
    g_mutex_lock(&r->lock);
    r->stopping = true;
    g_mutex_unlock(&r->lock);
    g_thread_join(r->thread);
  }
  if (r->lsn != SRT_INVALID_SOCK)
    srt_close(r->lsn); /* waits for a listen callback in progress */
  if (r->eid >= 0)
    srt_epoll_release(r->eid);
  g_mutex_lock(&r->lock);
  if (r->ev_src) {
    g_source_destroy(r->ev_src);
    g_source_unref(r->ev_src);
    r->ev_src = NULL;
  }
  g_mutex_unlock(&r->lock);
  for (GList *l = r->events.head; l; l = l->next) {
    relay_event *e = l->data;
    g_free(e->room);
    g_free(e->why);
    g_free(e);
  }
  g_queue_clear(&r->events);
  for (GList *l = r->cmds.head; l; l = l->next) {
    relay_cmd *c = l->data;
    g_free(c->room);
    g_free(c);
  }
  g_queue_clear(&r->cmds);
  /* Offers still waiting learn that the server stops. */
  GList *rooms = g_hash_table_get_keys(r->waiters);
  for (GList *l = rooms; l; l = l->next) {
    waiters *w = g_hash_table_lookup(r->waiters, l->data);
    if (w)
      waiters_fire(w, LC_ESHUTDOWN, "the server is stopping");
  }
  g_list_free(rooms);
  g_hash_table_destroy(r->waiters);
  g_hash_table_destroy(r->ready);
  g_hash_table_destroy(r->pulling);
  g_hash_table_destroy(r->pulls);
  g_hash_table_destroy(r->socks);
  g_hash_table_destroy(r->ended);
  g_ptr_array_free(r->feeds, TRUE);
  if (r->ctx)
    g_main_context_unref(r->ctx);
  g_hash_table_destroy(r->want_times);
  g_mutex_clear(&r->refuse_lock);
  g_mutex_clear(&r->lock);
  g_free((char *)r->cfg.node_id);
  g_free((char *)r->cfg.secret);
  g_free((char *)r->cfg.bind);
  g_free((char *)r->cfg.origin);
  bool started = r->srt_started;
  g_free(r);
  if (started)
    lc_srt_cleanup();
}

int
lc_relay_port(lc_relay *r)
{
  return r && r->lsn != SRT_INVALID_SOCK ? r->port : 0;
}

bool
lc_relay_has_upstream(lc_relay *r)
{
  return r && r->cfg.origin;
}

static void
push_cmd(lc_relay *r, cmd_type type, const char *room)
{
  relay_cmd *c = g_new0(relay_cmd, 1);
  c->type = type;
  c->room = g_strdup(room);
  g_mutex_lock(&r->lock);
  g_queue_push_tail(&r->cmds, c);
  g_mutex_unlock(&r->lock);
}

int
lc_relay_want(lc_relay *r, const char *room, lc_relay_ready_fn fn, gpointer user)
{
  if (!r || !r->cfg.origin)
    return LC_ESTATE;
  if (!room || !*room || strlen(room) > 64 || strspn(room, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(room))
    return LC_EINVAL;
  g_mutex_lock(&r->lock);
  bool ready = g_hash_table_contains(r->ready, room);
  /* Read by the idle check under the same lock: a pull found ready here is not closed for
   * idleness before the relay thread sees this want. */
  if (g_hash_table_size(r->want_times) < 4096 || g_hash_table_contains(r->want_times, room)) {
    gint64 *t = g_new(gint64, 1);
    *t = g_get_monotonic_time();
    g_hash_table_replace(r->want_times, g_strdup(room), t);
  }
  g_mutex_unlock(&r->lock);
  push_cmd(r, CMD_WANT, room); /* also keeps a ready pull from going idle */
  if (ready)
    return 0;
  waiters *w = g_hash_table_lookup(r->waiters, room);
  if (!w) {
    w = g_new0(waiters, 1);
    w->relay = r;
    w->room = g_strdup(room);
    w->timer = g_timeout_add(r->cfg.connect_timeout_ms, waiters_timeout, w);
    g_hash_table_insert(r->waiters, w->room, w);
  }
  waiter *x = g_new0(waiter, 1);
  x->fn = fn;
  x->user = user;
  w->list = g_slist_append(w->list, x);
  return LC_EAGAIN;
}

bool
lc_relay_pulling(lc_relay *r, const char *room)
{
  if (!r || !room)
    return false;
  g_mutex_lock(&r->lock);
  bool yes = g_hash_table_contains(r->pulling, room);
  g_mutex_unlock(&r->lock);
  return yes;
}

int
lc_relay_reset(lc_relay *r, const char *room)
{
  if (!r || !room)
    return LC_ENOENT;
  bool known = lc_relay_pulling(r, room);
  g_mutex_lock(&r->lock);
  for (unsigned i = 0; i < r->stats.n_feeds && !known; i++)
    known = strcmp(r->stats.feeds[i].room, room) == 0;
  g_mutex_unlock(&r->lock);
  if (!known)
    return LC_ENOENT;
  push_cmd(r, CMD_RESET, room);
  return 0;
}

void
lc_relay_get_stats(lc_relay *r, lc_relay_stats *out)
{
  memset(out, 0, sizeof *out);
  if (!r)
    return;
  g_mutex_lock(&r->lock);
  *out = r->stats;
  g_mutex_unlock(&r->lock);
}

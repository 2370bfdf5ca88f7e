/* The serving side of the relay: one feed per connected edge (see relay.h).
 *
 * A feed lives on the relay thread; its subscriptions' sinks run on the producers' threads and
 * send there (SRT's send is thread-safe). A new subscription starts from the rendition's cached
 * keyframe: the relay thread sends that backlog while the sink holds back the live packets that
 * arrive meanwhile (sub->lock), then sends those and lets the sink go direct, so the edge gets
 * every packet once and in order. */
#define LC_LOG_DOMAIN "relay"
#include "relay/relay_int.h"
#include "base/errors.h"
#include "base/log.h"

#include <string.h>

typedef struct {
  lc__relay_feed *feed;
  uint8_t index;
  lc_rendition *r;      /* a ref */
  unsigned id;
  GMutex lock;
  bool replaying;       /* lock: the backlog is being sent; live packets go to held */
  GPtrArray *held;      /* lock: lc_pkt refs */
} feed_sub;

struct lc__relay_feed {
  lc__relay_owner owner; /* LC__RELAY_FEED: first */
  SRTSOCKET sock;
  lc_relay_request rq;
  char peer[64];
  lc_media_room *media;  /* a ref, or NULL while the room is not (yet) in the hub */
  int64_t accepted_us;
  unsigned n_names;
  char names[LC_RELAY_MAX_RENDITIONS][16]; /* index -> name, stable for the connection */
  unsigned n_wanted;
  char wanted[LC_RELAY_MAX_RENDITIONS][16];
  feed_sub *subs[LC_RELAY_MAX_RENDITIONS]; /* by index */
  uint8_t desc[LC_RELAY_MAX_MSG];
  size_t desc_len;
  guint64 packets, bytes, drops; /* atomic: sinks add */
  char last_error[128];
};

const char *
lc__relay_feed_room(lc__relay_feed *f)
{
  return f->rq.room;
}

static void
send_pkt(feed_sub *s, lc_pkt *pkt, int64_t now)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  int64_t age = now - pkt->produced_us;
  size_t len = lc_relay_write_data(buf, s->index, pkt->keyframe, (uint32_t)CLAMP(age, 0, G_MAXUINT32), pkt->data,
                                   pkt->len);
  lc__relay_feed *f = s->feed;
  if (lc__relay_send(f->sock, buf, len)) {
    __atomic_fetch_add(&f->packets, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&f->bytes, pkt->len, __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(&f->drops, 1, __ATOMIC_RELAXED);
  }
}

/* Producer thread. */
static void
sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  feed_sub *s = user;
  (void)r;
  g_mutex_lock(&s->lock);
  if (s->replaying)
    g_ptr_array_add(s->held, lc_pkt_ref(pkt));
  else
    send_pkt(s, pkt, g_get_monotonic_time());
  g_mutex_unlock(&s->lock);
}

static void
sub_free(feed_sub *s)
{
  lc_rendition_unsubscribe(s->r, s->id); /* no sink call for s after this */
  lc_rendition_unref(s->r);
  g_ptr_array_unref(s->held);
  g_mutex_clear(&s->lock);
  g_free(s);
}

static feed_sub *
sub_new(lc__relay_feed *f, uint8_t index, lc_rendition *r)
{
  feed_sub *s = g_new0(feed_sub, 1);
  s->feed = f;
  s->index = index;
  s->r = lc_rendition_ref(r);
  g_mutex_init(&s->lock);
  s->held = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  s->replaying = true;
  GPtrArray *backlog = NULL;
  s->id = lc_rendition_subscribe_from_keyframe(r, sink, s, &backlog);
  int64_t now = g_get_monotonic_time();
  if (backlog) {
    for (guint i = 0; i < backlog->len; i++)
      send_pkt(s, backlog->pdata[i], now);
    g_ptr_array_unref(backlog);
  }
  g_mutex_lock(&s->lock);
  for (guint i = 0; i < s->held->len; i++)
    send_pkt(s, s->held->pdata[i], now);
  g_ptr_array_set_size(s->held, 0);
  s->replaying = false;
  g_mutex_unlock(&s->lock);
  if (!backlog)
    lc_rendition_request_keyframe(r);
  return s;
}

static int
index_of(lc__relay_feed *f, const char *name, bool add)
{
  for (unsigned i = 0; i < f->n_names; i++)
    if (strcmp(f->names[i], name) == 0)
      return (int)i;
  if (!add || f->n_names == LC_RELAY_MAX_RENDITIONS)
    return -1;
  g_strlcpy(f->names[f->n_names], name, sizeof f->names[0]);
  return (int)f->n_names++;
}

static void
drop_subs(lc__relay_feed *f)
{
  for (unsigned i = 0; i < LC_RELAY_MAX_RENDITIONS; i++)
    if (f->subs[i]) {
      sub_free(f->subs[i]);
      f->subs[i] = NULL;
    }
}

void
lc__relay_feed_close(lc_relay *r, lc__relay_feed *f, const char *why)
{
  drop_subs(f);
  lc_relay_link_stats last;
  lc__relay_feed_stats(f, &last);
  lc__relay_account(r, &last, false);
  g_hash_table_remove(r->socks, GINT_TO_POINTER(f->sock));
  srt_epoll_remove_usock(r->eid, f->sock);
  srt_close(f->sock);
  g_ptr_array_remove_fast(r->feeds, f);
  g_atomic_int_add(&r->n_feeds, -1);
  LC_INFO(f->rq.room, NULL, "relay: edge %s (%s) disconnected: %s", f->rq.node, f->peer, why);
  if (f->media)
    lc_media_room_unref(f->media);
  g_free(f);
}

static void
end_feed(lc_relay *r, lc__relay_feed *f, lc_relay_end_code code, const char *why)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  /* Linger so that the END leaves before the socket goes (live mode closes at once otherwise,
   * and the edge would take the silence for a drop and reconnect). srt_close does not block. */
  struct linger lg = {1, 2};
  srt_setsockflag(f->sock, SRTO_LINGER, &lg, sizeof lg);
  lc__relay_send(f->sock, buf, lc_relay_write_end(buf, code, why));
  lc__relay_feed_close(r, f, why);
}

void
lc__relay_feed_accept(lc_relay *r, SRTSOCKET s, const struct sockaddr *peer)
{
  char sid[LC_RELAY_STREAMID_MAX + 1];
  int sl = sizeof sid; /* libsrt wants room for its NUL */
  if (srt_getsockflag(s, SRTO_STREAMID, sid, &sl) != 0 || sl < 0)
    sl = 0;
  sid[MIN(sl, LC_RELAY_STREAMID_MAX)] = '\0';
  lc__relay_feed *f = g_new0(lc__relay_feed, 1);
  const char *why = NULL;
  /* The listen callback checked it; a second parse gets the fields (the clock may have moved on:
   * only the syntax matters now). */
  if (lc_relay_request_verify(sid, (size_t)sl, r->cfg.secret, g_get_real_time() / G_USEC_PER_SEC, &f->rq, &why) ==
      LC_EINVAL) {
    srt_close(s);
    g_free(f);
    return;
  }
  f->owner = LC__RELAY_FEED;
  f->sock = s;
  f->accepted_us = g_get_monotonic_time();
  lc__relay_format_addr(peer, f->peer, sizeof f->peer);
  g_ptr_array_add(r->feeds, f);
  g_hash_table_insert(r->socks, GINT_TO_POINTER(s), f);
  g_atomic_int_inc(&r->n_feeds);
  int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_add_usock(r->eid, s, &ev);
  GString *via = g_string_new(NULL);
  for (unsigned i = 0; i < f->rq.n_via; i++)
    g_string_append_printf(via, "%s%s", i ? " <- " : "", f->rq.via[i]);
  LC_INFO(f->rq.room, NULL, "relay: edge %s (%s) connected for room %s (chain %s)", f->rq.node, f->peer, f->rq.room,
          via->str);
  g_string_free(via, TRUE);
}

static void
on_message(lc_relay *r, lc__relay_feed *f, const uint8_t *buf, size_t len)
{
  lc_relay_msg *m = &r->msg;
  const char *why = NULL;
  if (lc_relay_msg_parse(buf, len, m, &why) != 0) {
    LC_WARN(f->rq.room, NULL, "relay: unreadable message from edge %s (%s): %s", f->rq.node, f->peer, why);
  } else if (m->type == LC_RELAY_MSG_SUBSCRIBE) {
    f->n_wanted = m->n;
    for (unsigned i = 0; i < m->n; i++)
      g_strlcpy(f->wanted[i], m->names[i], sizeof f->wanted[0]);
    LC_DEBUG(f->rq.room, NULL, "relay: edge %s wants %u renditions", f->rq.node, m->n);
  } else if (m->type == LC_RELAY_MSG_KEYFRAME && f->media) {
    lc_rendition *rend = lc_media_room_find(f->media, m->names[0]);
    if (rend)
      lc_rendition_request_keyframe(rend);
  }
  (void)r;
}

void
lc__relay_feed_on_event(lc_relay *r, lc__relay_feed *f, int events)
{
  uint8_t buf[LC_RELAY_MAX_MSG + 64];
  (void)events;
  for (;;) {
    int n = srt_recvmsg(f->sock, (char *)buf, sizeof buf);
    if (n > 0) {
      on_message(r, f, buf, (size_t)n);
      continue;
    }
    if (n < 0 && srt_getlasterror(NULL) == SRT_EASYNCRCV && srt_getsockstate(f->sock) == SRTS_CONNECTED) {
      srt_clearlasterror();
      return;
    }
    char *why = g_strdup(n == 0 ? "closed by the edge" : "connection lost or closed by the edge");
    srt_clearlasterror();
    lc__relay_feed_close(r, f, why);
    g_free(why);
    return;
  }
}

/* The room's renditions as a message; new names get the next index. */
static size_t
describe(lc__relay_feed *f, uint8_t *buf)
{
  lc_relay_rendition d[LC_RELAY_MAX_RENDITIONS];
  unsigned n = 0, nv = lc_media_room_n_video(f->media);
  for (unsigned i = 0; i <= nv && n < LC_RELAY_MAX_RENDITIONS; i++) {
    lc_rendition *rend = i < nv ? lc_media_room_video(f->media, i) : lc_media_room_audio(f->media);
    if (!rend)
      continue;
    lc_rendition_info info;
    lc_rendition_get_info(rend, &info);
    int idx = index_of(f, info.name, true);
    if (idx < 0)
      continue;
    lc_relay_rendition *x = &d[n++];
    memset(x, 0, sizeof *x);
    x->index = (uint8_t)idx;
    x->kind = (uint8_t)info.kind;
    x->payload_type = info.payload_type;
    x->channels = (uint8_t)info.channels;
    x->live = lc_rendition_is_live(rend);
    x->clock_rate = info.clock_rate;
    x->width = (uint16_t)CLAMP(info.width, 0, 65535);
    x->height = (uint16_t)CLAMP(info.height, 0, 65535);
    x->bitrate_kbps = (uint32_t)MAX(info.bitrate_kbps ? info.bitrate_kbps : lc_rendition_measured_kbps(rend), 0);
    g_strlcpy(x->name, info.name, sizeof x->name);
    g_strlcpy(x->fmtp, info.fmtp, sizeof x->fmtp);
  }
  return lc_relay_write_renditions(buf, d, n);
}

/* Subscriptions follow what the edge wants and what the room has now. */
static void
reconcile(lc__relay_feed *f)
{
  for (unsigned i = 0; i < f->n_names; i++) {
    bool want = false;
    for (unsigned k = 0; k < f->n_wanted && !want; k++)
      want = strcmp(f->wanted[k], f->names[i]) == 0;
    lc_rendition *rend = want ? lc_media_room_find(f->media, f->names[i]) : NULL;
    if (f->subs[i] && f->subs[i]->r != rend) {
      sub_free(f->subs[i]);
      f->subs[i] = NULL;
    }
    if (rend && !f->subs[i])
      f->subs[i] = sub_new(f, (uint8_t)i, rend);
  }
}

static void
feed_tick(lc_relay *r, lc__relay_feed *f, int64_t now)
{
  lc_media_room *cur = lc_media_hub_acquire(r->hub, f->rq.room);
  if (cur != f->media) {
    drop_subs(f);
    if (f->media)
      lc_media_room_unref(f->media);
    f->media = cur;
    cur = NULL;
    f->desc_len = 0;
  }
  if (cur)
    lc_media_room_unref(cur);
  if (!f->media) {
    const lc__relay_ended *e = g_hash_table_lookup(r->ended, f->rq.room);
    if (e && e->at_us >= f->accepted_us) { /* the pull this feed waited for failed */
      end_feed(r, f, (lc_relay_end_code)e->code, e->reason);
      return;
    }
    if (r->cfg.origin && now - f->accepted_us < (int64_t)r->cfg.connect_timeout_ms * 1000) {
      lc__relay_pull_get(r, f->rq.room, &f->rq); /* a tree: this node pulls it for the edge */
      return;
    }
    end_feed(r, f, LC_RELAY_END_GONE, "the room has no media on this node");
    return;
  }
  uint8_t buf[LC_RELAY_MAX_MSG];
  size_t len = describe(f, buf);
  if (len && (len != f->desc_len || memcmp(buf, f->desc, len) != 0) && lc__relay_send(f->sock, buf, len)) {
    memcpy(f->desc, buf, len);
    f->desc_len = len;
  }
  reconcile(f);
}

void
lc__relay_feed_tick(lc_relay *r, int64_t now)
{
  for (guint i = r->feeds->len; i > 0; i--)
    if (i - 1 < r->feeds->len)
      feed_tick(r, r->feeds->pdata[i - 1], now);
}

void
lc__relay_feed_stats(lc__relay_feed *f, lc_relay_link_stats *out)
{
  memset(out, 0, sizeof *out);
  g_strlcpy(out->room, f->rq.room, sizeof out->room);
  g_strlcpy(out->peer, f->peer, sizeof out->peer);
  g_strlcpy(out->node, f->rq.node, sizeof out->node);
  out->connected = true;
  out->packets = __atomic_load_n(&f->packets, __ATOMIC_RELAXED);
  out->bytes = __atomic_load_n(&f->bytes, __ATOMIC_RELAXED);
  out->drops = __atomic_load_n(&f->drops, __ATOMIC_RELAXED);
  for (unsigned i = 0; i < LC_RELAY_MAX_RENDITIONS && out->n_rungs < G_N_ELEMENTS(out->rungs); i++)
    if (f->subs[i])
      g_strlcpy(out->rungs[out->n_rungs++], f->names[i], sizeof out->rungs[0]);
  SRT_TRACEBSTATS st;
  if (srt_bstats(f->sock, &st, 0) == 0) {
    out->rtt_ms = st.msRTT;
    out->retransmitted = (uint64_t)st.pktRetransTotal;
  }
}

/* The edge side of the relay: one pull per room this node takes from its upstream (see relay.h).
 * Relay thread only, except the keyframe function (any thread), which only sets atomics. */
#define LC_LOG_DOMAIN "relay"
#include "relay/relay_int.h"
#include "base/errors.h"
#include "base/bytes.h"
#include "base/log.h"

#include <srt/access_control.h>
#include <string.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 1000
#define CONNECT_ATTEMPT_US (2500 * 1000)
#define DUP_WINDOW 8192 /* packets: more than a 2 s GOP of any rung */

typedef enum { P_WAIT, P_CONNECTING, P_CONNECTED, P_DONE } pull_state;

typedef struct {
  lc__relay_pull *pull;
  char name[16];
  lc_rendition *r;       /* ours, in the hub room (a ref) */
  gint kf_wanted;        /* atomic: a keyframe request waits to go upstream */
  gint64 wanted_until;   /* atomic: subscribed upstream until then (monotonic us) */
  bool video;
  bool have_in;          /* in_ssrc/in_seq: the upstream's numbering of the last packet pushed */
  bool in_set;           /* in the subscription last sent upstream */
  bool resumed;          /* subscribed again after a pause: its first packet's jump is no gap */
  uint32_t in_ssrc;
  uint16_t in_seq;
} pull_rend;

struct lc__relay_pull {
  lc__relay_owner owner; /* LC__RELAY_PULL: first */
  char room[65];
  lc_relay_request rq;   /* our request: via = the downstream's chain + this node */
  lc_media_room *media;  /* a ref: the hub room we fill */
  pull_state state;
  SRTSOCKET sock;
  int64_t next_try_us, attempt_us, created_us, last_used_us;
  unsigned backoff_ms;
  bool ready, ever_connected;
  unsigned n;
  pull_rend rends[LC_RELAY_MAX_RENDITIONS];
  int16_t slot_of[256];  /* upstream index -> slot in rends, -1 unknown (per connection) */
  char sent[LC_RELAY_MAX_RENDITIONS * 16 + 1]; /* the subscription last sent, "a,b," */
  uint64_t packets, bytes, drops, reconnects, recovered;
  uint64_t dups, gaps;   /* packets skipped as already pushed; holes in the upstream's numbering */
  double rtt_ms;
  char peer_err[128];
  int end_status;        /* when P_DONE: why (LC_E*), 0 = not a failure */
  uint8_t end_code;      /* when the upstream ended it: its lc_relay_end_code, else 0 */
};

static void
set_error(lc__relay_pull *p, const char *why)
{
  g_strlcpy(p->peer_err, why, sizeof p->peer_err);
}

static void
close_sock(lc_relay *r, lc__relay_pull *p)
{
  if (p->sock == SRT_INVALID_SOCK)
    return;
  SRT_TRACEBSTATS st;
  if (srt_bstats(p->sock, &st, 0) == 0)
    p->recovered += (uint64_t)st.pktRcvRetrans;
  g_hash_table_remove(r->socks, GINT_TO_POINTER(p->sock));
  srt_epoll_remove_usock(r->eid, p->sock);
  srt_close(p->sock);
  p->sock = SRT_INVALID_SOCK;
}

/* Any thread (an rtc worker asking for a keyframe): noted, sent by the relay thread's next turn. */
static void
on_keyframe(lc_rendition *rend, gpointer user)
{
  pull_rend *pr = user;
  (void)rend;
  g_atomic_int_set(&pr->kf_wanted, 1);
  __atomic_store_n(&pr->wanted_until, g_get_monotonic_time() + LC__RELAY_HOLD_US, __ATOMIC_RELAXED);
}

static void
start_connect(lc_relay *r, lc__relay_pull *p, int64_t now)
{
  char sid[LC_RELAY_STREAMID_MAX];
  const char *why = NULL;
  p->rq.ts = g_get_real_time() / G_USEC_PER_SEC;
  if (lc_relay_request_sign(&p->rq, r->cfg.secret, sid, &why) != 0) {
    set_error(p, why);
    p->state = P_DONE;
    p->end_status = LC_EINVAL;
    return;
  }
  SRTSOCKET s = srt_create_socket();
  if (s == SRT_INVALID_SOCK) {
    set_error(p, srt_getlasterror_str());
    p->state = P_WAIT;
    p->next_try_us = now + BACKOFF_MAX_MS * 1000;
    return;
  }
  lc__relay_tune(r, s);
  srt_setsockflag(s, SRTO_STREAMID, sid, (int)strlen(sid));
  int ev = SRT_EPOLL_IN | SRT_EPOLL_OUT | SRT_EPOLL_ERR;
  srt_epoll_add_usock(r->eid, s, &ev);
  g_hash_table_insert(r->socks, GINT_TO_POINTER(s), p);
  p->sock = s;
  p->state = P_CONNECTING;
  p->attempt_us = now;
  p->sent[0] = '\0';
  for (unsigned i = 0; i < G_N_ELEMENTS(p->slot_of); i++)
    p->slot_of[i] = -1;
  if (srt_connect(s, (struct sockaddr *)&r->origin_addr, r->origin_len) == SRT_ERROR &&
      srt_getsockstate(s) != SRTS_CONNECTING) {
    set_error(p, srt_getlasterror_str());
    close_sock(r, p);
    p->state = P_WAIT;
    p->next_try_us = now + p->backoff_ms * 1000;
  }
}

/* A connection attempt or a connection failed: retry with backoff, or give up for good when the
 * upstream refused the room or this node. */
static void
failed(lc_relay *r, lc__relay_pull *p, int64_t now)
{
  int code = p->sock != SRT_INVALID_SOCK ? srt_getrejectreason(p->sock) : 0;
  bool was_connected = p->state == P_CONNECTED;
  close_sock(r, p);
  int status = 0;
  const char *why = NULL;
  if (code == SRT_REJX_UNAUTHORIZED || code == SRT_REJ_BADSECRET) {
    status = LC_EPERM;
    why = "the upstream refused this node (wrong relay.secret?)";
  } else if (code == SRT_REJX_NOTFOUND) {
    status = LC_ENOENT;
    why = "the upstream has no media for this room";
  } else if (code == LC__RELAY_END_LOOP) {
    status = LC_ESTATE;
    why = "the upstream refused a relay loop";
  } else if (code == SRT_REJX_BAD_REQUEST) {
    status = LC_EINVAL;
    why = "the upstream could not read the request (versions differ?)";
  }
  if (status) {
    LC_WARN(p->room, NULL, "relay pull from %s refused: %s (reject code %d)", r->origin_str, why, code);
    set_error(p, why);
    p->state = P_DONE;
    p->end_status = status;
    return;
  }
  if (was_connected) {
    LC_WARN(p->room, NULL, "relay connection to %s lost (%s): reconnecting", r->origin_str,
            p->peer_err[0] ? p->peer_err : "connection closed");
    p->backoff_ms = BACKOFF_FIRST_MS;
  } else {
    p->backoff_ms = MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
    LC_DEBUG(p->room, NULL, "relay connect to %s failed (reject code %d): retry in %u ms", r->origin_str, code,
             p->backoff_ms);
  }
  p->state = P_WAIT;
  p->next_try_us = now + (int64_t)p->backoff_ms * 1000;
}

static void
connected(lc_relay *r, lc__relay_pull *p)
{
  int ev = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_update_usock(r->eid, p->sock, &ev);
  p->state = P_CONNECTED;
  r->n_connected++; /* recounted every tick */
  p->backoff_ms = BACKOFF_FIRST_MS;
  p->peer_err[0] = '\0';
  if (p->ever_connected)
    p->reconnects++;
  LC_INFO(p->room, NULL, "relay: pulling from %s (%s)%s", r->origin_str, r->cfg.origin,
          p->ever_connected ? " again" : "");
  p->ever_connected = true;
}

static pull_rend *
slot_by_name(lc__relay_pull *p, const char *name)
{
  for (unsigned i = 0; i < p->n; i++)
    if (strcmp(p->rends[i].name, name) == 0)
      return &p->rends[i];
  return NULL;
}

static void
on_renditions(lc_relay *r, lc__relay_pull *p, const lc_relay_msg *m)
{
  bool video = false;
  for (unsigned i = 0; i < m->n; i++) {
    const lc_relay_rendition *d = &m->rend[i];
    pull_rend *pr = slot_by_name(p, d->name);
    if (!pr) {
      if (p->n == LC_RELAY_MAX_RENDITIONS)
        continue;
      pr = &p->rends[p->n];
      lc_rendition_info info = {0};
      g_strlcpy(info.name, d->name, sizeof info.name);
      info.kind = d->kind == LC_MEDIA_AUDIO ? LC_MEDIA_AUDIO : LC_MEDIA_VIDEO;
      info.clock_rate = d->clock_rate;
      info.payload_type = d->payload_type;
      info.width = d->width;
      info.height = d->height;
      info.bitrate_kbps = (int)d->bitrate_kbps;
      info.channels = d->channels;
      g_strlcpy(info.fmtp, d->fmtp, sizeof info.fmtp);
      pr->pull = p;
      pr->video = info.kind == LC_MEDIA_VIDEO;
      g_strlcpy(pr->name, d->name, sizeof pr->name);
      pr->r = lc_rendition_new(&info, r->cfg.cache_ms);
      if (r->cfg.keyframe_throttle_ms)
        lc_rendition_set_keyframe_throttle(pr->r, r->cfg.keyframe_throttle_ms);
      lc_rendition_set_keyframe_fn(pr->r, on_keyframe, pr);
      lc_media_room_add(p->media, pr->r);
      p->n++;
      LC_DEBUG(p->room, NULL, "relay: rendition %s (%dx%d, %u kbit/s) from %s", d->name, d->width, d->height,
               d->bitrate_kbps, r->origin_str);
    } else {
      lc_rendition_info cur;
      lc_rendition_get_info(pr->r, &cur);
      if (cur.width != d->width || cur.height != d->height)
        lc_rendition_set_size(pr->r, d->width, d->height);
    }
    lc_rendition_set_live(pr->r, d->live);
    p->slot_of[d->index] = (int16_t)(pr - p->rends);
    video |= d->kind == LC_MEDIA_VIDEO;
  }
  if (video && !p->ready) {
    p->ready = true;
    lc__relay_post_ready(r, p->room, 0, NULL);
  }
}

/* One relayed packet into our rendition. The upstream's numbering is continuous per rendition
 * (the hub keeps it so across publisher restarts), and a new connection starts from the cached
 * keyframe: what we already have is skipped, so a reconnect shorter than the GOP loses nothing.
 * A gap (packets the upstream dropped, or a reconnect longer than its cache) passes through as a
 * gap (viewers' NACKs miss, they ask for a keyframe) and asks upstream for a keyframe at once. A
 * new upstream SSRC (the upstream restarted) is a new producer for the hub: numbering continues. */
static void
push(lc__relay_pull *p, pull_rend *pr, const lc_relay_msg *m)
{
  uint32_t ssrc = lc_rd32(m->rtp + 8);
  uint16_t seq = lc_rd16(m->rtp + 2);
  if (pr->have_in && ssrc == pr->in_ssrc) {
    int16_t d = (int16_t)(uint16_t)(seq - pr->in_seq);
    /* Behind by less than a replayed GOP can be: seen already. Further behind (a 16-bit wrap
     * after a long outage): new, with a hole before it. */
    if (d <= 0 && d > -DUP_WINDOW) {
      p->dups++;
      return;
    }
    if (d != 1 && pr->video && !pr->resumed) {
      g_atomic_int_set(&pr->kf_wanted, 1);
      __atomic_store_n(&pr->wanted_until, MAX(__atomic_load_n(&pr->wanted_until, __ATOMIC_RELAXED),
                                              g_get_monotonic_time() + LC__RELAY_HOLD_US),
                       __ATOMIC_RELAXED);
      p->gaps++;
    }
  }
  pr->have_in = true;
  pr->resumed = false; /* a subscription that paused restarts at the upstream's cached keyframe */
  pr->in_ssrc = ssrc;
  pr->in_seq = seq;
  p->packets++;
  p->bytes += m->rtp_len;
  lc_rendition_push_rtp_aged(pr->r, m->rtp, m->rtp_len, (m->flags & 1) != 0, m->age_us);
}

static void
on_message(lc_relay *r, lc__relay_pull *p, const uint8_t *buf, size_t len, int64_t now)
{
  lc_relay_msg *m = &r->msg;
  const char *why = NULL;
  if (lc_relay_msg_parse(buf, len, m, &why) != 0) {
    LC_WARN(p->room, NULL, "relay: unreadable message from %s: %s", r->origin_str, why);
    p->drops++;
  } else if (m->type == LC_RELAY_MSG_DATA) {
    int slot = p->slot_of[m->index];
    if (slot < 0)
      p->drops++;
    else
      push(p, &p->rends[slot], m);
  } else if (m->type == LC_RELAY_MSG_RENDITIONS) {
    on_renditions(r, p, m);
  } else if (m->type == LC_RELAY_MSG_END) {
    LC_INFO(p->room, NULL, "relay: %s ended the room: %s", r->origin_str, m->reason);
    set_error(p, m->reason);
    close_sock(r, p);
    p->state = P_DONE;
    p->end_code = m->end_code;
    /* A room that ended after it played is not a failure; one that never came is. */
    p->end_status = m->end_code == LC_RELAY_END_LOOP ? LC_ESTATE : p->ready && m->end_code == LC_RELAY_END_GONE ? 0 : LC_ENOENT;
  }
  (void)now;
}

void
lc__relay_pull_on_event(lc_relay *r, lc__relay_pull *p, int events)
{
  int64_t now = g_get_monotonic_time();
  if (p->state == P_CONNECTING) {
    SRT_SOCKSTATUS st = srt_getsockstate(p->sock);
    if (st == SRTS_CONNECTED)
      connected(r, p);
    else if (st != SRTS_CONNECTING || (events & SRT_EPOLL_ERR)) {
      failed(r, p, now);
      return;
    } else {
      return;
    }
  }
  if (p->state != P_CONNECTED)
    return;
  uint8_t buf[LC_RELAY_MAX_MSG + 64];
  for (;;) {
    int n = srt_recvmsg(p->sock, (char *)buf, sizeof buf);
    if (n > 0) {
      on_message(r, p, buf, (size_t)n, now);
      if (p->state != P_CONNECTED)
        return;
      continue;
    }
    if (n < 0 && srt_getlasterror(NULL) == SRT_EASYNCRCV && srt_getsockstate(p->sock) == SRTS_CONNECTED) {
      srt_clearlasterror();
      return;
    }
    set_error(p, n == 0 ? "closed by the upstream" : srt_getlasterror_str());
    srt_clearlasterror();
    failed(r, p, now);
    return;
  }
}

bool
lc__relay_pull_connected(lc_relay *r)
{
  return r->n_connected > 0;
}

void
lc__relay_pull_read_all(lc_relay *r)
{
  if (r->n_connected == 0)
    return;
  GList *pulls = g_hash_table_get_values(r->pulls);
  for (GList *l = pulls; l; l = l->next) {
    lc__relay_pull *p = l->data;
    if (p->state == P_CONNECTED)
      lc__relay_pull_on_event(r, p, SRT_EPOLL_IN);
  }
  g_list_free(pulls);
}

lc__relay_pull *
lc__relay_pull_get(lc_relay *r, const char *room, const lc_relay_request *downstream)
{
  int64_t now = g_get_monotonic_time();
  lc__relay_pull *p = g_hash_table_lookup(r->pulls, room);
  if (p) {
    p->last_used_us = now;
    return p;
  }
  if (!r->cfg.origin)
    return NULL;
  p = g_new0(lc__relay_pull, 1);
  p->owner = LC__RELAY_PULL;
  g_strlcpy(p->room, room, sizeof p->room);
  g_strlcpy(p->rq.room, room, sizeof p->rq.room);
  g_strlcpy(p->rq.node, r->cfg.node_id, sizeof p->rq.node);
  if (downstream)
    for (unsigned i = 0; i < downstream->n_via && p->rq.n_via < LC_RELAY_MAX_HOPS - 1; i++)
      g_strlcpy(p->rq.via[p->rq.n_via++], downstream->via[i], sizeof p->rq.via[0]);
  g_strlcpy(p->rq.via[p->rq.n_via++], r->cfg.node_id, sizeof p->rq.via[0]);
  p->sock = SRT_INVALID_SOCK;
  p->state = P_WAIT;
  p->backoff_ms = BACKOFF_FIRST_MS;
  p->created_us = p->last_used_us = now;
  p->media = lc_media_hub_open_ref(r->hub, room);
  g_hash_table_remove(r->ended, room);
  g_hash_table_insert(r->pulls, p->room, p);
  g_mutex_lock(&r->lock);
  g_hash_table_add(r->pulling, g_strdup(room));
  g_mutex_unlock(&r->lock);
  LC_INFO(room, NULL, "relay: pulling room %s from %s (for %s)", room, r->cfg.origin,
          downstream ? downstream->node : "viewers here");
  start_connect(r, p, now);
  return p;
}

void
lc__relay_pull_reset(lc_relay *r, lc__relay_pull *p, const char *why)
{
  if (p->state != P_CONNECTED && p->state != P_CONNECTING)
    return;
  set_error(p, why);
  close_sock(r, p);
  LC_WARN(p->room, NULL, "relay connection to %s dropped: %s: reconnecting", r->origin_str, why);
  p->backoff_ms = BACKOFF_FIRST_MS;
  p->state = P_WAIT;
  p->next_try_us = g_get_monotonic_time() + BACKOFF_FIRST_MS * 1000;
}

void
lc__relay_pull_free(lc_relay *r, lc__relay_pull *p)
{
  close_sock(r, p);
  lc_relay_link_stats last;
  lc__relay_pull_stats(r, p, &last);
  lc__relay_account(r, &last, true);
  for (unsigned i = 0; i < p->n; i++) {
    lc_rendition_clear_keyframe_fn(p->rends[i].r, on_keyframe, &p->rends[i]);
    lc_rendition_unref(p->rends[i].r);
  }
  g_hash_table_remove(r->pulls, p->room);
  g_mutex_lock(&r->lock);
  g_hash_table_remove(r->pulling, p->room);
  g_hash_table_remove(r->ready, p->room);
  g_mutex_unlock(&r->lock);
  /* Our hub room goes (viewers holding it see it not live), unless a publisher took it meanwhile. */
  lc_media_room *cur = lc_media_hub_acquire(r->hub, p->room);
  if (cur == p->media)
    lc_media_hub_close(r->hub, p->room);
  if (cur)
    lc_media_room_unref(cur);
  lc_media_room_unref(p->media);
  g_free(p);
}

/* A viewer's offer wanted the room within idle_ms (lc_relay_want, main thread). Prunes old
 * entries of the room. */
static bool
wanted_lately(lc_relay *r, lc__relay_pull *p, int64_t now)
{
  g_mutex_lock(&r->lock);
  gint64 *t = g_hash_table_lookup(r->want_times, p->room);
  bool yes = t && now - *t <= (int64_t)r->cfg.idle_ms * 1000;
  if (t && !yes)
    g_hash_table_remove(r->want_times, p->room);
  g_mutex_unlock(&r->lock);
  return yes;
}

/* Sends the subscription when it changed, then the keyframe requests waiting. */
static void
subscribe(lc_relay *r, lc__relay_pull *p, int64_t now)
{
  const char *names[LC_RELAY_MAX_RENDITIONS];
  unsigned n = 0;
  char set[sizeof p->sent] = "";
  for (unsigned i = 0; i < p->n; i++) {
    pull_rend *pr = &p->rends[i];
    if (lc_rendition_subscribers(pr->r) > 0)
      __atomic_store_n(&pr->wanted_until, now + LC__RELAY_HOLD_US, __ATOMIC_RELAXED);
    if (__atomic_load_n(&pr->wanted_until, __ATOMIC_RELAXED) > now) {
      names[n++] = pr->name;
      g_strlcat(set, pr->name, sizeof set);
      g_strlcat(set, ",", sizeof set);
    }
  }
  if (n > 0)
    p->last_used_us = now;
  uint8_t buf[LC_RELAY_MAX_MSG];
  if (strcmp(set, p->sent) != 0) {
    size_t len = lc_relay_write_subscribe(buf, names, n);
    if (!lc__relay_send(p->sock, buf, len))
      return; /* send buffer full: next tick */
    g_strlcpy(p->sent, set, sizeof p->sent);
    for (unsigned i = 0; i < p->n; i++) { /* nobody watched it meanwhile: what it skipped is no hole */
      pull_rend *pr = &p->rends[i];
      bool in = __atomic_load_n(&pr->wanted_until, __ATOMIC_RELAXED) > now;
      if (in && !pr->in_set && pr->have_in)
        pr->resumed = true;
      pr->in_set = in;
    }
    LC_DEBUG(p->room, NULL, "relay: subscribed to [%s] at %s", set, r->origin_str);
  }
  for (unsigned i = 0; i < p->n; i++) {
    pull_rend *pr = &p->rends[i];
    if (g_atomic_int_get(&pr->kf_wanted) && __atomic_load_n(&pr->wanted_until, __ATOMIC_RELAXED) > now) {
      size_t len = lc_relay_write_keyframe(buf, pr->name);
      if (lc__relay_send(p->sock, buf, len))
        g_atomic_int_set(&pr->kf_wanted, 0);
    }
  }
}

void
lc__relay_pull_tick(lc_relay *r, int64_t now)
{
  unsigned connected = 0;
  GList *pulls = g_hash_table_get_values(r->pulls);
  for (GList *l = pulls; l; l = l->next) {
    lc__relay_pull *p = l->data;
    if (p->state == P_WAIT && now >= p->next_try_us)
      start_connect(r, p, now);
    else if (p->state == P_CONNECTING && now - p->attempt_us > CONNECT_ATTEMPT_US) {
      set_error(p, "no answer from the upstream");
      failed(r, p, now);
    } else if (p->state == P_CONNECTED) {
      subscribe(r, p, now);
    }
    if (p->state != P_DONE && now - p->last_used_us > (int64_t)r->cfg.idle_ms * 1000 && !wanted_lately(r, p, now)) {
      LC_INFO(p->room, NULL, "relay: nobody here watched room %s for %u ms: closing the pull", p->room,
              r->cfg.idle_ms);
      p->state = P_DONE;
      p->end_status = 0;
    }
    if (p->state == P_DONE) {
      if (p->end_status) {
        __atomic_fetch_add(&r->pulls_failed, 1, __ATOMIC_RELAXED);
        if (!p->ready)
          lc__relay_post_ready(r, p->room, p->end_status, p->peer_err);
      }
      if (p->end_status || p->end_code) {
        lc__relay_ended *e = g_new0(lc__relay_ended, 1);
        e->at_us = now;
        e->code = p->end_status == LC_ESTATE ? LC_RELAY_END_LOOP
                  : p->end_code == LC_RELAY_END_GONE ? LC_RELAY_END_GONE : LC_RELAY_END_UPSTREAM;
        g_strlcpy(e->reason, p->peer_err, sizeof e->reason);
        g_hash_table_replace(r->ended, g_strdup(p->room), e);
      }
      lc__relay_pull_free(r, p);
    } else if (p->state == P_CONNECTED) {
      connected++;
    }
  }
  g_list_free(pulls);
  r->n_connected = connected;
  /* What ended is told to the feeds waiting then; later requests start afresh. */
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, r->ended);
  while (g_hash_table_iter_next(&it, &k, &v))
    if (now - ((lc__relay_ended *)v)->at_us > 30 * G_USEC_PER_SEC)
      g_hash_table_iter_remove(&it);
}

void
lc__relay_pull_stats(lc_relay *r, lc__relay_pull *p, lc_relay_link_stats *out)
{
  memset(out, 0, sizeof *out);
  g_strlcpy(out->room, p->room, sizeof out->room);
  g_strlcpy(out->peer, r->origin_str, sizeof out->peer);
  g_strlcpy(out->node, r->cfg.origin, sizeof out->node);
  out->connected = p->state == P_CONNECTED;
  out->packets = p->packets;
  out->bytes = p->bytes;
  out->drops = p->drops;
  out->reconnects = p->reconnects;
  out->retransmitted = p->recovered;
  out->dups = p->dups;
  out->gaps = p->gaps;
  g_strlcpy(out->last_error, p->peer_err, sizeof out->last_error);
  int64_t now = g_get_monotonic_time();
  for (unsigned i = 0; i < p->n && out->n_rungs < G_N_ELEMENTS(out->rungs); i++)
    if (__atomic_load_n(&p->rends[i].wanted_until, __ATOMIC_RELAXED) > now)
      g_strlcpy(out->rungs[out->n_rungs++], p->rends[i].name, sizeof out->rungs[0]);
  if (p->sock != SRT_INVALID_SOCK && p->state == P_CONNECTED) {
    SRT_TRACEBSTATS st;
    if (srt_bstats(p->sock, &st, 0) == 0) {
      out->rtt_ms = st.msRTT;
      out->retransmitted = p->recovered + (uint64_t)st.pktRcvRetrans;
    }
  }
}

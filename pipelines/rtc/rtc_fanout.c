/* Fan-out on a worker (see rtc_fanout.h).
 *
 * Per-packet path: a rendition's producer thread calls sink() once per worker subscribed (not
 * per viewer): a pkt ref goes into the worker's bounded ring under its mutex (the only lock on
 * the path); full -> drop and count. The worker swaps the ring out in one lock, and for each
 * packet walks its viewers of that rendition: copy into a per-thread scratch slot with the
 * viewer's SSRC/seq/ts/PT (and transport-cc extension) written there, SRTP-protect in place,
 * queue into the mmsghdr batch (rtc_send.c), sendmmsg per up to 128 datagrams. A socket that would block drops and
 * counts (send_drops); a producer or another viewer never waits. */
#define _GNU_SOURCE /* struct mmsghdr */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_fanout.h"

#include <string.h>

#include "base/log.h"
#include "rtc/rtc_send.h"
#include "rtc/rtp.h"

#define ADAPT_INTERVAL_US 500000
#define UP_HOLD_MS 4000
#define FAST_JOIN_FRESH_US 500000    /* cached keyframe this recent: replay its GOP to a new viewer */
#define FAST_JOIN_MAX_AGE_US 3000000 /* older than this: never replay it */
#define MAX_RUNGS 8
#define RUN_MAX 32 /* packets of one rendition fanned out viewer by viewer */

static void
send_media(lc__rtc_worker *w, lc__rtc_vtrack *t, const lc_pkt *pkt, const lc_rtp_header *h)
{
  uint16_t seq;
  uint32_t ts;
  if (!lc__rtc_track_map(&t->map, pkt->seq, pkt->ts, pkt->produced_us, h->payload_len, &seq, &ts))
    return;
  lc__rtc_send_rtp(w, t->s, t, pkt, h, seq, ts);
}

static void
sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  lc__rtc_wsub *ws = user;
  lc__rtc_worker *w = ws->w;
  bool wake = false, drop = false;
  lc_pkt_ref(pkt);
  g_mutex_lock(&w->qlock);
  if (w->qlen == w->qcap) {
    drop = true;
  } else {
    w->q[(w->qhead + w->qlen) % w->qcap] = (lc__rtc_qitem){ws, pkt};
    wake = w->qlen++ == 0;
  }
  g_mutex_unlock(&w->qlock);
  if (drop) {
    lc_pkt_unref(pkt);
    LC__RTC_ADD(w->ctr->queue_drops, 1);
  }
  if (wake)
    lc__rtc_worker_wake(w);
}

static lc__rtc_wsub *
wsub_get(lc__rtc_worker *w, lc_rendition *r)
{
  lc__rtc_wsub *ws = g_hash_table_lookup(w->wsubs, r);
  if (ws)
    return ws;
  ws = g_new0(lc__rtc_wsub, 1);
  ws->w = w;
  ws->r = lc_rendition_ref(r);
  lc_rendition_get_info(r, &ws->info);
  ws->tracks = g_ptr_array_new();
  g_hash_table_insert(w->wsubs, r, ws);
  ws->sub_id = lc_rendition_subscribe(r, sink, ws);
  return ws;
}

/* Unsubscribes and frees ws: queued items for it are dropped, tracks forget it as prev source. */
static void
wsub_free(lc__rtc_worker *w, lc__rtc_wsub *ws)
{
  lc_rendition_unsubscribe(ws->r, ws->sub_id); /* no sink call for ws runs after this */
  g_mutex_lock(&w->qlock);
  unsigned keep = 0;
  for (unsigned i = 0; i < w->qlen; i++) {
    lc__rtc_qitem it = w->q[(w->qhead + i) % w->qcap];
    if (it.ws == ws)
      lc_pkt_unref(it.pkt);
    else
      w->q[(w->qhead + keep++) % w->qcap] = it;
  }
  w->qlen = keep;
  g_mutex_unlock(&w->qlock);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, w->sessions);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    lc__rtc_session *s = k;
    if (s->video.map.prev_src == ws)
      s->video.map.prev_src = NULL;
    if (s->audio.map.prev_src == ws)
      s->audio.map.prev_src = NULL;
  }
  g_hash_table_remove(w->wsubs, ws->r);
  lc_rendition_unref(ws->r);
  g_ptr_array_unref(ws->tracks);
  g_free(ws);
}

void
lc__rtc_fanout_gc(lc__rtc_worker *w, bool all)
{
  GPtrArray *dead = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, w->wsubs);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    lc__rtc_wsub *ws = v;
    if (all || ws->tracks->len == 0)
      g_ptr_array_add(dead, ws);
  }
  for (guint i = 0; i < dead->len; i++)
    wsub_free(w, dead->pdata[i]);
  g_ptr_array_unref(dead);
}

void
lc__rtc_fanout_detach(lc__rtc_vtrack *t)
{
  if (t->cur)
    g_ptr_array_remove_fast(t->cur->tracks, t);
  if (t->pending && t->pending != t->cur)
    g_ptr_array_remove_fast(t->pending->tracks, t);
  t->cur = t->pending = NULL;
}

/* Makes ws the track's switch target (it starts at ws's next keyframe; audio at any packet). */
static void
track_target(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws, int index)
{
  if (t->pending && t->pending != t->cur)
    g_ptr_array_remove_fast(t->pending->tracks, t);
  t->pending = NULL;
  if (ws == t->cur)
    return;
  g_ptr_array_add(ws->tracks, t);
  t->pending = ws;
  t->pending_index = index;
  t->pending_since_us = w->now;
  t->stale_key_skipped = false;
}

/* Whether a pending video track starts at keyframe packet p. A keyframe that was already old
 * when it was pushed (p->aged) reaches a waiting viewer when a relay replays its upstream's cached
 * GOP: the GOP behind it would arrive as a burst of late frames (the browser drops them or plays
 * behind live), and the keyframe asked for at the join is a frame time behind it. So one aged
 * keyframe per switch is passed over; a second is taken (a relay lagging that much has nothing
 * fresher). Local packets are never aged: a busy worker that drains them late still starts at
 * the first keyframe. */
static bool
starts_at(lc__rtc_vtrack *t, const lc_pkt *p)
{
  if (!p->keyframe)
    return false;
  if (p->aged && !t->stale_key_skipped) {
    t->stale_key_skipped = true;
    return false;
  }
  return true;
}

static void
track_switched(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws, const lc_pkt *pkt)
{
  lc__rtc_wsub *old = t->cur;
  if (old && old != ws)
    g_ptr_array_remove_fast(old->tracks, t);
  bool was_started = t->map.started;
  t->cur = ws;
  t->pending = NULL;
  if (t->kind == LC_MEDIA_VIDEO) {
    t->cur_index = t->pending_index;
    lc__rtc_registry_count_rung(w->reg, t->s, ws->info.name);
    if (was_started)
      LC__RTC_ADD(w->ctr->rung_switches, 1);
  }
  lc__rtc_track_switch(&t->map, ws, pkt->seq, pkt->ts, pkt->produced_us);
}

void
lc__rtc_fanout_request_keyframe(lc__rtc_worker *w, lc_rendition *r)
{
  if (lc_rendition_request_keyframe(r))
    LC__RTC_ADD(w->ctr->keyframe_requests, 1);
}

/* Sends pkts[0..n) (all of ws, in order) to each viewer of ws in turn: a viewer's packets leave
 * back to back, so equal-size ones share one GSO message and its SRTP context stays in cache. */
static void
fan_out_run(lc__rtc_worker *w, lc__rtc_wsub *ws, lc_pkt *const *pkts, unsigned n)
{
  lc_rtp_header h[RUN_MAX];
  bool ok[RUN_MAX];
  if (ws->tracks->len == 0)
    return;
  for (unsigned j = 0; j < n; j++)
    ok[j] = lc_rtp_parse(pkts[j]->data, pkts[j]->len, &h[j]) == 0;
  for (guint i = 0; i < ws->tracks->len; i++) {
    lc__rtc_vtrack *t = ws->tracks->pdata[i];
    if (t->s->state != LC__RTC_MEDIA)
      continue;
    for (unsigned j = 0; j < n; j++) {
      if (!ok[j])
        continue;
      if (t->cur != ws) {
        if (t->pending != ws || (t->kind == LC_MEDIA_VIDEO && !starts_at(t, pkts[j])))
          continue;
        track_switched(w, t, ws, pkts[j]); /* removes t from another wsub's list, not this one */
      }
      send_media(w, t, pkts[j], &h[j]);
    }
  }
}

/* Groups the drained packets by rendition within windows of RUN_MAX (order kept within each
 * rendition) and fans each group out. */
static void
fan_out_batch(lc__rtc_worker *w, lc__rtc_qitem *items, unsigned n)
{
  lc_pkt *run[RUN_MAX];
  for (unsigned base = 0; base < n; base += RUN_MAX) {
    unsigned end = MIN(n, base + RUN_MAX);
    for (unsigned first = base; first < end; first++) {
      if (!items[first].pkt)
        continue;
      lc__rtc_wsub *ws = items[first].ws;
      unsigned k = 0;
      for (unsigned i = first; i < end; i++) {
        if (items[i].pkt && items[i].ws == ws) {
          run[k++] = items[i].pkt;
          items[i].pkt = NULL;
        }
      }
      fan_out_run(w, ws, run, k);
      for (unsigned i = 0; i < k; i++)
        lc_pkt_unref(run[i]);
    }
  }
}

void
lc__rtc_fanout_drain(lc__rtc_worker *w)
{
  for (int rounds = 0; rounds < 4; rounds++) {
    g_mutex_lock(&w->qlock);
    unsigned n = w->qlen;
    for (unsigned i = 0; i < n; i++)
      w->drain[i] = w->q[(w->qhead + i) % w->qcap];
    w->qhead = (w->qhead + n) % w->qcap;
    w->qlen = 0;
    g_mutex_unlock(&w->qlock);
    if (n == 0)
      return;
    fan_out_batch(w, w->drain, n);
  }
}

static int
video_index_of(lc_media_room *m, lc_rendition *r)
{
  unsigned n = lc_media_room_n_video(m);
  for (unsigned i = 0; i < n; i++)
    if (lc_media_room_video(m, i) == r)
      return (int)i;
  return -1;
}

static int
rung_by_name(lc_media_room *m, const char *name)
{
  unsigned n = lc_media_room_n_video(m);
  for (unsigned i = 0; i < n; i++) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(m, i), &info);
    if (strcmp(info.name, name) == 0)
      return (int)i;
  }
  return -1;
}

/* The first rung for a new viewer: the pinned one, else the best one within 2.5 Mbit/s. */
static int
initial_rung(lc__rtc_session *s, const char *pin)
{
  int n = (int)lc_media_room_n_video(s->media);
  if (n == 0)
    return -1;
  if (pin) {
    int i = rung_by_name(s->media, pin);
    if (i >= 0)
      return i;
  }
  for (int i = 0; i < n; i++) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(s->media, (unsigned)i), &info);
    if (info.bitrate_kbps <= 2500)
      return i;
  }
  return n - 1;
}

/* Fast join. A cached GOP whose keyframe is recent (<= FAST_JOIN_FRESH_US) is replayed at once:
 * an immediate picture at little lag. An older one would make the browser play that far behind
 * live for the whole session (its jitter buffer times frames from the first one), so a fresh
 * keyframe is requested instead (the ladder encodes one in a frame time); only when no request
 * could be forwarded (no keyframe function, or throttled) is a GOP up to FAST_JOIN_MAX_AGE_US old
 * replayed. Returns true when a keyframe is now being waited for. */
static bool
fast_join(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws)
{
  GPtrArray *back = lc_rendition_since_keyframe(ws->r);
  lc_pkt *first = back && back->len > 0 ? back->pdata[0] : NULL;
  int64_t age = first && first->keyframe ? w->now - first->produced_us : INT64_MAX;
  bool replay = age <= FAST_JOIN_FRESH_US;
  bool waiting = false;
  if (!replay) {
    if (lc_rendition_request_keyframe(ws->r)) {
      LC__RTC_ADD(w->ctr->keyframe_requests, 1);
      waiting = true;
    } else {
      replay = age < FAST_JOIN_MAX_AGE_US;
      waiting = !replay;
    }
  }
  if (replay) {
    track_switched(w, t, ws, first);
    for (guint i = 0; i < back->len; i++) {
      lc_pkt *p = back->pdata[i];
      lc_rtp_header h;
      if (lc_rtp_parse(p->data, p->len, &h) == 0)
        send_media(w, t, p, &h);
    }
  }
  if (back)
    g_ptr_array_unref(back);
  return waiting;
}

/* Clears the flag first, then reads: a pin set meanwhile raises it again. */
static void
refresh_pin(lc__rtc_worker *w, lc__rtc_session *s)
{
  g_atomic_int_set(&s->pin_changed, 0);
  g_free(s->pin_w);
  s->pin_w = lc__rtc_registry_get_pin(w->reg, s);
}

void
lc__rtc_fanout_adapt(lc__rtc_worker *w, lc__rtc_session *s)
{
  lc__rtc_vtrack *t = &s->video;
  if (!s->has_video || w->now - s->last_adapt_us < ADAPT_INTERVAL_US)
    return;
  s->last_adapt_us = w->now;
  int n = (int)lc_media_room_n_video(s->media);
  if (n <= 0)
    return;
  if (n > MAX_RUNGS)
    n = MAX_RUNGS;
  if (g_atomic_int_get(&s->pin_changed))
    refresh_pin(w, s);
  int cur = t->cur ? video_index_of(s->media, t->cur->r) : -1;
  if (cur < 0)
    cur = t->cur_index >= 0 ? t->cur_index : t->pending_index;
  int target = s->pin_w ? rung_by_name(s->media, s->pin_w) : -1;
  if (target < 0) {
    int kbps[MAX_RUNGS];
    for (int i = 0; i < n; i++) {
      lc_rendition_info info;
      lc_rendition_get_info(lc_media_room_video(s->media, (unsigned)i), &info);
      kbps[i] = info.bitrate_kbps;
    }
    target = lc__rtc_bwe_choose(s->bwe, kbps, n, cur, w->now, UP_HOLD_MS);
  }
  if (target < 0 || target >= n)
    return;
  lc_rendition *r = lc_media_room_video(s->media, (unsigned)target);
  if (t->cur && t->cur->r == r) {
    if (t->pending)
      track_target(w, t, t->cur, target); /* cancel a pending switch */
    return;
  }
  if (t->pending && t->pending->r == r) {
    if (w->now - t->pending_since_us > 1000000) { /* keyframe not seen yet: ask again */
      t->pending_since_us = w->now;
      lc__rtc_fanout_request_keyframe(w, r);
    }
    return;
  }
  track_target(w, t, wsub_get(w, r), target);
  lc__rtc_fanout_request_keyframe(w, r);
}

void
lc__rtc_fanout_join(lc__rtc_worker *w, lc__rtc_session *s)
{
  LC_INFO(s->room, s->id, "WHEP viewer connected");
  s->bwe = g_new(lc__rtc_bwe, 1);
  lc__rtc_bwe_init(s->bwe, s->twcc_id != 0);
  refresh_pin(w, s);
  int idx = initial_rung(s, s->pin_w);
  if (idx >= 0 && s->has_video) {
    lc__rtc_wsub *ws = wsub_get(w, lc_media_room_video(s->media, (unsigned)idx));
    track_target(w, &s->video, ws, idx);
    fast_join(w, &s->video, ws);
  }
  lc_rendition *a = lc_media_room_audio(s->media);
  if (a && s->has_audio)
    track_target(w, &s->audio, wsub_get(w, a), -1);
}

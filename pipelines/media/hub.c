/* Media contract: packets, renditions, rooms, hub. See media/hub.h.
 *
 * Locks of a rendition (taken in this order, never the other way round):
 *  - sub_lock (GRWLock): the subscriber list. The producer holds it for reading while it caches a
 *    packet and calls the sinks; (un)subscribe take it for writing, so when unsubscribe returns
 *    no sink call for that id is running or will run. A sink must not (un)subscribe on the
 *    rendition it is called for (that would deadlock).
 *  - cache_lock (GMutex): continuity state (offsets, last output seq/ts) and the packet ring.
 *  - info_lock (GMutex): the info record.
 *  - kf_lock (GMutex): keyframe function and throttle. The function is called with it held, so
 *    lc_rendition_set_keyframe_fn(r, NULL, NULL) returns only once no call is running. */
#include "media/hub.h"
#include "base/bytes.h"

#include <string.h>

#include "base/errors.h"

static void keyframe_pending(lc_rendition *r, bool keyframe);

#define MIN_RING 256u
#define MAX_RING 16384u

/* ---------------------------------------------------------------------------------------------- */
/* Packets */

static lc_pkt *
pkt_new(size_t len)
{
  lc_pkt *p = g_malloc(sizeof(lc_pkt) + len);
  memset(p, 0, sizeof(lc_pkt));
  p->refs = 1;
  p->len = (uint32_t)len;
  return p;
}

lc_pkt *
lc_pkt_ref(lc_pkt *pkt)
{
  g_atomic_int_inc(&pkt->refs);
  return pkt;
}

void
lc_pkt_unref(lc_pkt *pkt)
{
  if (pkt && g_atomic_int_dec_and_test(&pkt->refs))
    g_free(pkt);
}

/* ---------------------------------------------------------------------------------------------- */
/* Renditions */

typedef struct {
  unsigned id;
  lc_rendition_sink sink;
  gpointer user;
} sub_entry;

struct lc_rendition {
  gint refs;

  GMutex info_lock;
  lc_rendition_info info; /* info_lock */

  GRWLock sub_lock;
  GArray *subs;         /* sub_entry; sub_lock */
  unsigned next_sub_id; /* sub_lock (write) */
  gint n_subs;          /* atomic mirror of subs->len */

  GMutex cache_lock;
  /* Continuity: out = in + delta (mod 2^16 / 2^32). cache_lock. */
  bool have_in, have_out, discont;
  uint32_t in_ssrc;
  uint16_t seq_delta;
  uint32_t ts_delta;
  uint16_t last_out_seq;
  uint32_t last_out_ts;
  int64_t last_out_us;
  /* Ring of the last packets in push order: absolute index a lives at ring[a & mask]; it holds
   * [pushed - count, pushed). cache_lock. */
  lc_pkt **ring;
  unsigned mask, count;
  uint64_t pushed;
  bool have_kf;
  uint64_t kf_abs; /* absolute index of the last keyframe packet */
  int64_t cache_us;

  GMutex kf_lock;
  lc_rendition_keyframe_fn kf_fn; /* kf_lock */
  gpointer kf_user;
  int64_t kf_last_us;
  int64_t kf_min_us;
  gint kf_pending; /* atomic bool: a throttled request waits for its window (kf_lock to act) */

  gint live;          /* atomic bool */
  uint64_t packets;   /* __atomic */
  uint64_t keyframes; /* __atomic: packets flagged as a keyframe's first */
  /* Measured bitrate over 2 s windows (cache_lock; rate_kbps also __atomic for readers). */
  int64_t win_start_us;
  uint64_t win_bytes;
  gint rate_kbps;

  lc_media_clock_fn clock; /* set before the rendition is shared (tests); NULL = monotonic */
  gpointer clock_user;
};

static int64_t
clock_now(const lc_rendition *r)
{
  return r->clock ? r->clock(r->clock_user) : g_get_monotonic_time();
}

void
lc_rendition_set_clock(lc_rendition *r, lc_media_clock_fn clock, gpointer user)
{
  r->clock = clock;
  r->clock_user = user;
}

int
lc_rendition_measured_kbps(lc_rendition *r)
{
  return g_atomic_int_get(&r->rate_kbps);
}

uint64_t
lc_rendition_keyframes(lc_rendition *r)
{
  return __atomic_load_n(&r->keyframes, __ATOMIC_RELAXED);
}

lc_rendition *
lc_rendition_new(const lc_rendition_info *info, unsigned cache_ms)
{
  lc_rendition *r = g_new0(lc_rendition, 1);
  r->refs = 1;
  g_mutex_init(&r->info_lock);
  g_rw_lock_init(&r->sub_lock);
  g_mutex_init(&r->cache_lock);
  g_mutex_init(&r->kf_lock);
  r->info = *info;
  r->info.name[sizeof(r->info.name) - 1] = '\0';
  r->info.fmtp[sizeof(r->info.fmtp) - 1] = '\0';
  while (r->info.ssrc == 0)
    r->info.ssrc = g_random_int();
  r->subs = g_array_new(FALSE, FALSE, sizeof(sub_entry));
  r->next_sub_id = 1;
  /* Capacity: ~3 packets per ms of history is far above any rung's rate (1080p at 8 Mbit/s is
   * ~0.9 packets/ms), so time, not capacity, normally decides what is evicted. */
  unsigned want = cache_ms * 3u;
  unsigned cap = MIN_RING;
  while (cap < want && cap < MAX_RING)
    cap <<= 1;
  r->ring = g_new0(lc_pkt *, cap);
  r->mask = cap - 1;
  r->cache_us = (int64_t)cache_ms * 1000;
  r->kf_min_us = 500 * 1000;
  r->kf_last_us = G_MININT64 / 2;
  return r;
}

lc_rendition *
lc_rendition_ref(lc_rendition *r)
{
  g_atomic_int_inc(&r->refs);
  return r;
}

void
lc_rendition_unref(lc_rendition *r)
{
  if (!r || !g_atomic_int_dec_and_test(&r->refs))
    return;
  for (uint64_t a = r->pushed - r->count; a < r->pushed; a++)
    lc_pkt_unref(r->ring[a & r->mask]);
  g_free(r->ring);
  g_array_unref(r->subs);
  g_mutex_clear(&r->info_lock);
  g_rw_lock_clear(&r->sub_lock);
  g_mutex_clear(&r->cache_lock);
  g_mutex_clear(&r->kf_lock);
  g_free(r);
}

void
lc_rendition_get_info(lc_rendition *r, lc_rendition_info *out)
{
  g_mutex_lock(&r->info_lock);
  *out = r->info;
  g_mutex_unlock(&r->info_lock);
}

void
lc_rendition_set_size(lc_rendition *r, int width, int height)
{
  g_mutex_lock(&r->info_lock);
  r->info.width = width;
  r->info.height = height;
  g_mutex_unlock(&r->info_lock);
}

/* Drops the oldest cached packet. cache_lock held, count > 0. */
static void
ring_drop_oldest(lc_rendition *r)
{
  uint64_t a = r->pushed - r->count;
  lc_pkt_unref(g_steal_pointer(&r->ring[a & r->mask]));
  r->count--;
  if (r->have_kf && r->kf_abs <= a)
    r->have_kf = false;
}

/* Rewrites the header for continuity and caches the packet. cache_lock held. */
static void
cache_insert(lc_rendition *r, lc_pkt *p, uint32_t in_ssrc, uint32_t clock_rate, int64_t now)
{
  uint8_t *d = p->data;
  uint16_t in_seq = lc_rd16(d + 2);
  uint32_t in_ts = lc_rd32(d + 4);

  if (!r->have_out) {
    /* First packet ever: random start, as RFC 3550 recommends. */
    r->seq_delta = (uint16_t)(g_random_int() - in_seq);
    r->ts_delta = g_random_int() - in_ts;
  } else if (r->discont || !r->have_in || in_ssrc != r->in_ssrc) {
    /* A new producer (or a restarted one): continue where the last packet ended. */
    int64_t gap_us = now - r->last_out_us;
    if (gap_us < 0)
      gap_us = 0;
    uint64_t units = (uint64_t)gap_us * clock_rate / 1000000u;
    if (units == 0)
      units = 1; /* a new frame never shares the previous frame's timestamp */
    r->seq_delta = (uint16_t)((uint16_t)(r->last_out_seq + 1) - in_seq);
    r->ts_delta = (uint32_t)(r->last_out_ts + (uint32_t)units) - in_ts;
  }
  r->discont = false;
  r->have_in = true;
  r->in_ssrc = in_ssrc;

  uint16_t seq = (uint16_t)(in_seq + r->seq_delta);
  uint32_t ts = in_ts + r->ts_delta;
  lc_wr16(d + 2, seq);
  lc_wr32(d + 4, ts);
  p->seq = seq;
  p->ts = ts;
  r->have_out = true;
  r->last_out_seq = seq;
  r->last_out_ts = ts;
  r->last_out_us = now;

  /* Evict: a full ring drops its oldest; otherwise packets older than cache_ms go, except the
   * ones from the last keyframe on (fast join needs the whole GOP). */
  if (r->count == r->mask + 1)
    ring_drop_oldest(r);
  while (r->count > 0) {
    uint64_t a = r->pushed - r->count;
    lc_pkt *old = r->ring[a & r->mask];
    if (now - old->produced_us <= r->cache_us || (r->have_kf && a >= r->kf_abs))
      break;
    ring_drop_oldest(r);
  }
  r->ring[r->pushed & r->mask] = lc_pkt_ref(p);
  if (p->keyframe) {
    r->have_kf = true;
    r->kf_abs = r->pushed;
  }
  r->pushed++;
  r->count++;
}

void
lc_rendition_push_rtp(lc_rendition *r, const uint8_t *rtp, size_t len, bool keyframe)
{
  lc_rendition_push_rtp_aged(r, rtp, len, keyframe, 0);
}

void
lc_rendition_push_rtp_aged(lc_rendition *r, const uint8_t *rtp, size_t len, bool keyframe, int64_t age_us)
{
  if (!rtp || len < 12 || len > 65535 || (rtp[0] >> 6) != 2)
    return; /* not RTP: the producer is ours, so this is a bug upstream; drop */
  g_mutex_lock(&r->info_lock);
  uint32_t ssrc = r->info.ssrc, clock_rate = r->info.clock_rate ? r->info.clock_rate : 90000;
  uint8_t pt = r->info.payload_type;
  lc_media_kind kind = r->info.kind;
  g_mutex_unlock(&r->info_lock);

  int64_t now = clock_now(r);
  lc_pkt *p = pkt_new(len);
  memcpy(p->data, rtp, len);
  p->kind = kind;
  p->keyframe = keyframe;
  p->marker = (rtp[1] & 0x80) != 0;
  p->produced_us = now - (age_us > 0 ? age_us : 0);
  p->aged = age_us > 500000;
  p->data[1] = (uint8_t)((rtp[1] & 0x80) | (pt & 0x7f));
  lc_wr32(p->data + 8, ssrc);

  g_rw_lock_reader_lock(&r->sub_lock);
  g_mutex_lock(&r->cache_lock);
  cache_insert(r, p, lc_rd32(rtp + 8), clock_rate, now);
  r->win_bytes += len;
  if (now - r->win_start_us >= 2 * G_USEC_PER_SEC) {
    if (r->win_start_us)
      g_atomic_int_set(&r->rate_kbps, (gint)(r->win_bytes * 8 * 1000 / (uint64_t)(now - r->win_start_us)));
    r->win_start_us = now;
    r->win_bytes = 0;
  }
  g_mutex_unlock(&r->cache_lock);
  __atomic_add_fetch(&r->packets, 1, __ATOMIC_RELAXED);
  if (keyframe)
    __atomic_add_fetch(&r->keyframes, 1, __ATOMIC_RELAXED);
  for (guint i = 0; i < r->subs->len; i++) {
    sub_entry *e = &g_array_index(r->subs, sub_entry, i);
    e->sink(r, p, e->user);
  }
  g_rw_lock_reader_unlock(&r->sub_lock);
  lc_pkt_unref(p);
  keyframe_pending(r, keyframe);
}

void
lc_rendition_discontinuity(lc_rendition *r)
{
  g_mutex_lock(&r->cache_lock);
  r->discont = true;
  g_mutex_unlock(&r->cache_lock);
}

void
lc_rendition_set_keyframe_fn(lc_rendition *r, lc_rendition_keyframe_fn fn, gpointer user)
{
  g_mutex_lock(&r->kf_lock);
  r->kf_fn = fn;
  r->kf_user = user;
  g_mutex_unlock(&r->kf_lock);
}

void
lc_rendition_clear_keyframe_fn(lc_rendition *r, lc_rendition_keyframe_fn fn, gpointer user)
{
  g_mutex_lock(&r->kf_lock);
  if (r->kf_fn == fn && r->kf_user == user) {
    r->kf_fn = NULL;
    r->kf_user = NULL;
  }
  g_mutex_unlock(&r->kf_lock);
}

void
lc_rendition_set_live(lc_rendition *r, bool live)
{
  g_atomic_int_set(&r->live, live ? 1 : 0);
}

bool
lc_rendition_is_live(lc_rendition *r)
{
  return g_atomic_int_get(&r->live) != 0;
}

unsigned
lc_rendition_subscribe(lc_rendition *r, lc_rendition_sink sink, gpointer user)
{
  return lc_rendition_subscribe_from_keyframe(r, sink, user, NULL);
}

unsigned
lc_rendition_subscribe_from_keyframe(lc_rendition *r, lc_rendition_sink sink, gpointer user,
                                     GPtrArray **backlog)
{
  g_return_val_if_fail(sink != NULL, 0);
  g_rw_lock_writer_lock(&r->sub_lock);
  if (backlog)
    *backlog = lc_rendition_since_keyframe(r);
  sub_entry e = {.id = r->next_sub_id++, .sink = sink, .user = user};
  if (r->next_sub_id == 0)
    r->next_sub_id = 1;
  g_array_append_val(r->subs, e);
  g_atomic_int_set(&r->n_subs, (gint)r->subs->len);
  g_rw_lock_writer_unlock(&r->sub_lock);
  return e.id;
}

void
lc_rendition_unsubscribe(lc_rendition *r, unsigned id)
{
  g_rw_lock_writer_lock(&r->sub_lock);
  for (guint i = 0; i < r->subs->len; i++) {
    if (g_array_index(r->subs, sub_entry, i).id == id) {
      g_array_remove_index(r->subs, i);
      break;
    }
  }
  g_atomic_int_set(&r->n_subs, (gint)r->subs->len);
  g_rw_lock_writer_unlock(&r->sub_lock);
}

bool
lc_rendition_request_keyframe(lc_rendition *r)
{
  bool sent = false;
  g_mutex_lock(&r->kf_lock);
  int64_t now = clock_now(r);
  if (r->kf_fn && now - r->kf_last_us >= r->kf_min_us) {
    r->kf_last_us = now;
    g_atomic_int_set(&r->kf_pending, 0);
    r->kf_fn(r, r->kf_user);
    sent = true;
  } else if (r->kf_fn) {
    g_atomic_int_set(&r->kf_pending, 1); /* forwarded by the first packet after the window */
  }
  g_mutex_unlock(&r->kf_lock);
  return sent;
}

/* A throttled request is not lost: the first packet pushed after the throttle window forwards
 * it, unless a keyframe has come meanwhile (which is what the requester wanted). Producer
 * thread. */
static void
keyframe_pending(lc_rendition *r, bool keyframe)
{
  if (!g_atomic_int_get(&r->kf_pending))
    return;
  g_mutex_lock(&r->kf_lock);
  int64_t now = clock_now(r);
  if (keyframe) {
    g_atomic_int_set(&r->kf_pending, 0);
  } else if (g_atomic_int_get(&r->kf_pending) && r->kf_fn && now - r->kf_last_us >= r->kf_min_us) {
    g_atomic_int_set(&r->kf_pending, 0);
    r->kf_last_us = now;
    r->kf_fn(r, r->kf_user);
  }
  g_mutex_unlock(&r->kf_lock);
}

void
lc_rendition_set_keyframe_throttle(lc_rendition *r, unsigned min_interval_ms)
{
  g_mutex_lock(&r->kf_lock);
  r->kf_min_us = (int64_t)min_interval_ms * 1000;
  g_mutex_unlock(&r->kf_lock);
}

lc_pkt *
lc_rendition_lookup(lc_rendition *r, uint16_t seq)
{
  lc_pkt *found = NULL;
  g_mutex_lock(&r->cache_lock);
  if (r->count > 0) {
    uint64_t newest = r->pushed - 1;
    uint16_t d = (uint16_t)(r->ring[newest & r->mask]->seq - seq);
    if (d < r->count && r->ring[(newest - d) & r->mask]->seq == seq) {
      found = r->ring[(newest - d) & r->mask];
    } else {
      /* The input had a gap (or a restart): scan. Bounded by the ring size. */
      for (uint64_t a = r->pushed - r->count; a < r->pushed; a++) {
        if (r->ring[a & r->mask]->seq == seq)
          found = r->ring[a & r->mask]; /* keep the newest match */
      }
    }
    if (found)
      lc_pkt_ref(found);
  }
  g_mutex_unlock(&r->cache_lock);
  return found;
}

GPtrArray *
lc_rendition_since_keyframe(lc_rendition *r)
{
  GPtrArray *out = NULL;
  g_mutex_lock(&r->cache_lock);
  if (r->have_kf && r->kf_abs >= r->pushed - r->count) {
    out = g_ptr_array_new_full((guint)(r->pushed - r->kf_abs), (GDestroyNotify)lc_pkt_unref);
    for (uint64_t a = r->kf_abs; a < r->pushed; a++)
      g_ptr_array_add(out, lc_pkt_ref(r->ring[a & r->mask]));
  }
  g_mutex_unlock(&r->cache_lock);
  return out;
}

uint64_t
lc_rendition_packets(lc_rendition *r)
{
  return __atomic_load_n(&r->packets, __ATOMIC_RELAXED);
}

unsigned
lc_rendition_subscribers(lc_rendition *r)
{
  return (unsigned)g_atomic_int_get(&r->n_subs);
}

/* ---------------------------------------------------------------------------------------------- */
/* Rooms */

struct lc_media_room {
  gint refs;
  char *id;
  GMutex lock;
  GPtrArray *video;    /* lc_rendition (owned), highest bitrate first; lock */
  lc_rendition *audio; /* owned or NULL; lock */
  GPtrArray *retired;  /* replaced renditions, kept so borrowed pointers stay valid; lock */
};

static lc_media_room *
room_new(const char *id)
{
  lc_media_room *m = g_new0(lc_media_room, 1);
  m->refs = 1;
  m->id = g_strdup(id);
  g_mutex_init(&m->lock);
  m->video = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rendition_unref);
  m->retired = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rendition_unref);
  return m;
}

lc_media_room *
lc_media_room_ref(lc_media_room *m)
{
  g_atomic_int_inc(&m->refs);
  return m;
}

void
lc_media_room_unref(lc_media_room *m)
{
  if (!m || !g_atomic_int_dec_and_test(&m->refs))
    return;
  g_ptr_array_unref(m->video);
  g_ptr_array_unref(m->retired);
  lc_rendition_unref(m->audio);
  g_mutex_clear(&m->lock);
  g_free(m->id);
  g_free(m);
}

const char *
lc_media_room_id(lc_media_room *m)
{
  return m->id;
}

unsigned
lc_media_room_n_video(lc_media_room *m)
{
  g_mutex_lock(&m->lock);
  unsigned n = m->video->len;
  g_mutex_unlock(&m->lock);
  return n;
}

lc_rendition *
lc_media_room_video(lc_media_room *m, unsigned i)
{
  lc_rendition *r = NULL;
  g_mutex_lock(&m->lock);
  if (i < m->video->len)
    r = g_ptr_array_index(m->video, i);
  g_mutex_unlock(&m->lock);
  return r;
}

lc_rendition *
lc_media_room_find(lc_media_room *m, const char *name)
{
  lc_rendition *r = NULL;
  g_mutex_lock(&m->lock);
  for (guint i = 0; i < m->video->len && !r; i++) {
    lc_rendition *v = g_ptr_array_index(m->video, i);
    if (strcmp(v->info.name, name) == 0) /* name never changes after creation */
      r = v;
  }
  if (!r && m->audio && strcmp(m->audio->info.name, name) == 0)
    r = m->audio;
  g_mutex_unlock(&m->lock);
  return r;
}

lc_rendition *
lc_media_room_audio(lc_media_room *m)
{
  g_mutex_lock(&m->lock);
  lc_rendition *r = m->audio;
  g_mutex_unlock(&m->lock);
  return r;
}

static int
rendition_bitrate(lc_rendition *r)
{
  g_mutex_lock(&r->info_lock);
  int b = r->info.bitrate_kbps;
  g_mutex_unlock(&r->info_lock);
  return b;
}

void
lc_media_room_add(lc_media_room *m, lc_rendition *r)
{
  lc_rendition_info info;
  lc_rendition_get_info(r, &info);
  g_mutex_lock(&m->lock);
  lc_rendition_ref(r);
  if (info.kind == LC_MEDIA_AUDIO) {
    if (m->audio)
      g_ptr_array_add(m->retired, m->audio);
    m->audio = r;
  } else {
    for (guint i = 0; i < m->video->len; i++) {
      lc_rendition *v = g_ptr_array_index(m->video, i);
      if (strcmp(v->info.name, info.name) == 0) {
        g_ptr_array_add(m->retired, g_ptr_array_steal_index(m->video, i));
        break;
      }
    }
    guint pos = 0;
    while (pos < m->video->len && rendition_bitrate(g_ptr_array_index(m->video, pos)) >= info.bitrate_kbps)
      pos++;
    g_ptr_array_insert(m->video, (gint)pos, r);
  }
  g_mutex_unlock(&m->lock);
}

void
lc_media_room_set_live(lc_media_room *m, bool live)
{
  g_mutex_lock(&m->lock);
  for (guint i = 0; i < m->video->len; i++)
    lc_rendition_set_live(g_ptr_array_index(m->video, i), live);
  if (m->audio)
    lc_rendition_set_live(m->audio, live);
  g_mutex_unlock(&m->lock);
}

bool
lc_media_room_is_live(lc_media_room *m)
{
  bool live = false;
  g_mutex_lock(&m->lock);
  for (guint i = 0; i < m->video->len && !live; i++)
    live = lc_rendition_is_live(g_ptr_array_index(m->video, i));
  if (!live && m->audio)
    live = lc_rendition_is_live(m->audio);
  g_mutex_unlock(&m->lock);
  return live;
}

/* ---------------------------------------------------------------------------------------------- */
/* Hub */

struct lc_media_hub {
  GMutex lock;
  GHashTable *rooms; /* id -> lc_media_room (owned); lock */
};

lc_media_hub *
lc_media_hub_new(void)
{
  lc_media_hub *hub = g_new0(lc_media_hub, 1);
  g_mutex_init(&hub->lock);
  hub->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)lc_media_room_unref);
  return hub;
}

void
lc_media_hub_free(lc_media_hub *hub)
{
  if (!hub)
    return;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, hub->rooms);
  while (g_hash_table_iter_next(&it, NULL, &v))
    lc_media_room_set_live(v, false);
  g_hash_table_unref(hub->rooms);
  g_mutex_clear(&hub->lock);
  g_free(hub);
}

lc_media_room *
lc_media_hub_open(lc_media_hub *hub, const char *room_id)
{
  lc_media_room *m = lc_media_hub_open_ref(hub, room_id);
  lc_media_room_unref(m); /* the hub keeps its own */
  return m;
}

lc_media_room *
lc_media_hub_open_ref(lc_media_hub *hub, const char *room_id)
{
  g_mutex_lock(&hub->lock);
  lc_media_room *m = g_hash_table_lookup(hub->rooms, room_id);
  if (!m) {
    m = room_new(room_id);
    g_hash_table_insert(hub->rooms, m->id, m); /* key owned by the room */
  }
  lc_media_room_ref(m);
  g_mutex_unlock(&hub->lock);
  return m;
}

void
lc_media_hub_close(lc_media_hub *hub, const char *room_id)
{
  g_mutex_lock(&hub->lock);
  lc_media_room *m = NULL;
  gpointer key = NULL;
  if (g_hash_table_steal_extended(hub->rooms, room_id, &key, (gpointer *)&m)) {
    (void)key;
  }
  g_mutex_unlock(&hub->lock);
  if (m) {
    lc_media_room_set_live(m, false);
    lc_media_room_unref(m);
  }
}

lc_media_room *
lc_media_hub_acquire(lc_media_hub *hub, const char *room_id)
{
  g_mutex_lock(&hub->lock);
  lc_media_room *m = g_hash_table_lookup(hub->rooms, room_id);
  if (m)
    lc_media_room_ref(m);
  g_mutex_unlock(&hub->lock);
  return m;
}

char **
lc_media_hub_rooms(lc_media_hub *hub)
{
  g_mutex_lock(&hub->lock);
  GPtrArray *ids = g_ptr_array_new();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, hub->rooms);
  while (g_hash_table_iter_next(&it, &k, NULL))
    g_ptr_array_add(ids, g_strdup(k));
  g_mutex_unlock(&hub->lock);
  g_ptr_array_add(ids, NULL);
  return (char **)g_ptr_array_free(ids, FALSE);
}

/* The origin -> edge relay (pipelines/relay/relay.h) with two or three lc_relay in one process
 * over real SRT on 127.0.0.1: a serving relay over hub A, fed by a producer thread that pushes
 * synthetic RTP into three renditions ("720p", "360p", "opus"); an edge relay over hub B.
 *
 *  /relay/pull: the edge's lc_relay_want answers through the callback, hub B gets the same
 *    renditions; nothing flows without a subscriber on B; a subscriber on 360p + opus pulls
 *    exactly those (never 720p); B's SSRC is constant and its numbering continuous; a keyframe
 *    request on B reaches A's producer; lc_relay_reset reconnects and B continues where it was;
 *    both relays freed while everything runs.
 *  /relay/reset_audio: the audio across a reset (TODO: the reconnect's packets are lost).
 *  /relay/want_bad_room: lc_relay_want and invalid room ids (TODO: "Bad Room" is not refused).
 *  /relay/wrong_secret: a relay with another secret is refused (LC_EPERM), the origin counts it.
 *  /relay/loop: two relays that each have the other as upstream, neither with the room: the
 *    request comes back to its first node, which refuses it as a loop (LC_ESTATE).
 *  /relay/idle: a pull whose last subscriber left closes after hold + idle_ms, its hub room too.
 *
 * The test waits on conditions with deadlines, iterating the main context (where the ready
 * callbacks arrive); the deadlines are generous because the machine is slow and shared. */
#include <glib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/log.h"
#include "media/hub.h"
#include "relay/relay.h"

#define SECRET "test-relay-secret-0123456789"
#define ROOM "r1"
#define WAIT_MS 10000
#define PUSH_US 5000 /* the producer's pace: one packet per rendition every 5 ms */
#define GOP 30       /* every 30th video packet starts a keyframe */

/* ---- waiting ---- */

static gboolean
keep_awake(gpointer user)
{
  (void)user;
  return G_SOURCE_CONTINUE;
}

/* One main-context iteration (a 10 ms timer keeps it from blocking longer) while time is left. */
static bool
pump_until(int64_t end)
{
  if (g_get_monotonic_time() >= end)
    return false;
  g_main_context_iteration(NULL, TRUE);
  return true;
}

/* Deadlines stretch under valgrind (LC_TEST_TIME_SCALE, set by the meson test setup). */
static int64_t
deadline(int ms)
{
  const char *scale = g_getenv("LC_TEST_TIME_SCALE");
  int k = scale ? atoi(scale) : 1;
  return g_get_monotonic_time() + (int64_t)ms * 1000 * MAX(k, 1);
}

#define WAIT_UNTIL(cond, ms) \
  do { \
    int64_t end_ = deadline(ms); \
    while (!(cond) && pump_until(end_)) \
      ; \
  } while (0)

/* ---- the producer: hub A, room r1, three renditions, a thread pushing RTP ---- */

typedef struct {
  lc_media_hub *hub;
  lc_media_room *room;        /* borrowed from the hub */
  lc_rendition *rend[3];      /* 720p, 360p, opus (refs) */
  GThread *thread;
  gint stop;                  /* atomic */
  gint no_keyframes;          /* atomic: hold keyframes back (a long GOP) */
  gint kf_calls_360;          /* atomic: keyframe requests that reached 360p's producer */
  gint pushed;                /* atomic: rounds pushed */
} producer;

static const char *const rend_names[3] = {"720p", "360p", "opus"};

static void
on_keyframe_360(lc_rendition *r, gpointer user)
{
  (void)r;
  producer *p = user;
  g_atomic_int_inc(&p->kf_calls_360);
}

static void
mk_rtp(uint8_t *buf, size_t len, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
  memset(buf, 0, len);
  buf[0] = 0x80;
  buf[1] = 0x80 | 100;
  buf[2] = (uint8_t)(seq >> 8);
  buf[3] = (uint8_t)seq;
  buf[4] = (uint8_t)(ts >> 24);
  buf[5] = (uint8_t)(ts >> 16);
  buf[6] = (uint8_t)(ts >> 8);
  buf[7] = (uint8_t)ts;
  buf[8] = (uint8_t)(ssrc >> 24);
  buf[9] = (uint8_t)(ssrc >> 16);
  buf[10] = (uint8_t)(ssrc >> 8);
  buf[11] = (uint8_t)ssrc;
  for (size_t i = 12; i < len; i++)
    buf[i] = (uint8_t)(seq + i);
}

static gpointer
producer_main(gpointer user)
{
  producer *p = user;
  uint8_t buf[300];
  for (unsigned n = 0; !g_atomic_int_get(&p->stop); n++) {
    for (unsigned i = 0; i < 3; i++) {
      bool video = i < 2;
      bool kf = video && n % GOP == 0 && !g_atomic_int_get(&p->no_keyframes);
      size_t len = video ? 200 + i * 40 : 80;
      mk_rtp(buf, len, (uint16_t)(1000 + n), (video ? 450u : 240u) * n, 0xA0000000u + i);
      lc_rendition_push_rtp(p->rend[i], buf, len, kf);
    }
    g_atomic_int_inc(&p->pushed);
    g_usleep(PUSH_US); /* the producer's pace, not a synchronisation */
  }
  return NULL;
}

static void
producer_start(producer *p)
{
  memset(p, 0, sizeof *p);
  p->hub = lc_media_hub_new();
  p->room = lc_media_hub_open(p->hub, ROOM);
  for (unsigned i = 0; i < 3; i++) {
    lc_rendition_info info = {0};
    g_strlcpy(info.name, rend_names[i], sizeof info.name);
    if (i < 2) {
      info.kind = LC_MEDIA_VIDEO;
      info.clock_rate = 90000;
      info.payload_type = LC_MEDIA_PT_H264;
      info.width = i == 0 ? 1280 : 640;
      info.height = i == 0 ? 720 : 360;
      info.bitrate_kbps = i == 0 ? 2500 : 800;
      g_strlcpy(info.fmtp, i == 0 ? "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1"
                                  : "packetization-mode=1;profile-level-id=42e01e",
                sizeof info.fmtp);
    } else {
      info.kind = LC_MEDIA_AUDIO;
      info.clock_rate = 48000;
      info.payload_type = LC_MEDIA_PT_OPUS;
      info.channels = 2;
      info.bitrate_kbps = 64;
      g_strlcpy(info.fmtp, "minptime=10;useinbandfec=1", sizeof info.fmtp);
    }
    p->rend[i] = lc_rendition_new(&info, 2000);
    lc_media_room_add(p->room, p->rend[i]);
  }
  lc_rendition_set_keyframe_fn(p->rend[1], on_keyframe_360, p);
  lc_media_room_set_live(p->room, true);
  p->thread = g_thread_new("test-producer", producer_main, p);
  /* A keyframe cached before any edge comes: a first subscription starts from it. */
  WAIT_UNTIL(g_atomic_int_get(&p->pushed) > 2, WAIT_MS);
  g_assert_cmpint(g_atomic_int_get(&p->pushed), >, 2);
}

static void
producer_stop(producer *p)
{
  g_atomic_int_set(&p->stop, 1);
  g_thread_join(p->thread);
  lc_rendition_clear_keyframe_fn(p->rend[1], on_keyframe_360, p);
  for (unsigned i = 0; i < 3; i++)
    lc_rendition_unref(p->rend[i]);
  lc_media_hub_free(p->hub);
}

/* ---- relays ---- */

static lc_relay *
relay_new(const char *node, const char *secret, bool serve, int port, int origin_port, unsigned idle_ms,
          lc_media_hub *hub)
{
  char origin[64] = "";
  if (origin_port > 0)
    g_snprintf(origin, sizeof origin, "127.0.0.1:%d", origin_port);
  lc_relay_config cfg = {
    .node_id = node,
    .secret = secret,
    .serve = serve,
    .bind = "127.0.0.1",
    .port = port,
    .origin = origin,
    .idle_ms = idle_ms,
  };
  char *err = NULL;
  lc_relay *r = lc_relay_new(&cfg, hub, &err);
  if (!r)
    g_error("lc_relay_new(%s): %s", node, err);
  if (serve)
    g_assert_cmpint(lc_relay_port(r), >, 0);
  g_assert_cmpint(lc_relay_has_upstream(r), ==, origin_port > 0);
  return r;
}

static lc_relay_stats *
stats(lc_relay *r)
{
  static lc_relay_stats st; /* main thread only */
  lc_relay_get_stats(r, &st);
  return &st;
}

static bool
has_rung(const lc_relay_link_stats *l, const char *name)
{
  for (unsigned i = 0; i < l->n_rungs; i++)
    if (strcmp(l->rungs[i], name) == 0)
      return true;
  return false;
}

typedef struct {
  int calls;
  int status;
  char why[256];
} ready_rec;

static void
on_ready(const char *room, int status, const char *why, gpointer user)
{
  ready_rec *rec = user;
  g_assert_cmpstr(room, ==, ROOM);
  rec->calls++;
  rec->status = status;
  g_strlcpy(rec->why, why ? why : "", sizeof rec->why);
}

/* ---- a subscriber on hub B: checks the numbering of what arrives ---- */

typedef struct {
  GMutex lock;
  uint32_t want_ssrc;
  bool have;
  uint16_t last_seq;
  uint32_t last_ts;
  unsigned count;
  unsigned ssrc_changes, seq_breaks, ts_back;
  unsigned seq_back;  /* breaks that went backwards or repeated (of seq_breaks) */
  unsigned seq_lost;  /* packets missing in the forward breaks */
  char first_break[128];
} seq_sink;

static void
sink_fn(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  (void)r;
  seq_sink *s = user;
  const uint8_t *d = pkt->data;
  uint16_t seq = (uint16_t)((d[2] << 8) | d[3]);
  uint32_t ts = ((uint32_t)d[4] << 24) | ((uint32_t)d[5] << 16) | ((uint32_t)d[6] << 8) | d[7];
  uint32_t ssrc = ((uint32_t)d[8] << 24) | ((uint32_t)d[9] << 16) | ((uint32_t)d[10] << 8) | d[11];
  g_mutex_lock(&s->lock);
  if (ssrc != s->want_ssrc)
    s->ssrc_changes++;
  if (s->have) {
    int16_t step = (int16_t)(uint16_t)(seq - s->last_seq);
    if (step != 1) {
      if (!s->seq_breaks++)
        g_snprintf(s->first_break, sizeof s->first_break, "seq %u after %u (packet %u)", seq, s->last_seq, s->count);
      if (step <= 0)
        s->seq_back++;
      else
        s->seq_lost += (unsigned)(step - 1);
    }
    if ((int32_t)(ts - s->last_ts) < 0)
      s->ts_back++;
  }
  s->have = true;
  s->last_seq = seq;
  s->last_ts = ts;
  s->count++;
  g_mutex_unlock(&s->lock);
}

static unsigned
sink_count(seq_sink *s)
{
  g_mutex_lock(&s->lock);
  unsigned n = s->count;
  g_mutex_unlock(&s->lock);
  return n;
}

/* One SSRC, timestamps never backwards, sequence numbers never backwards; and at most
 * max_breaks forward jumps (0: every packet is the previous one + 1). */
static void
sink_check(seq_sink *s, const char *name, unsigned max_breaks)
{
  g_mutex_lock(&s->lock);
  if (s->seq_breaks)
    g_test_message("%s: %u breaks in the numbering (%u packets missing), first: %s", name, s->seq_breaks,
                   s->seq_lost, s->first_break);
  g_assert_cmpuint(s->ssrc_changes, ==, 0);
  g_assert_cmpuint(s->seq_back, ==, 0);
  g_assert_cmpuint(s->seq_breaks, <=, max_breaks);
  g_assert_cmpuint(s->ts_back, ==, 0);
  g_mutex_unlock(&s->lock);
}

static void
sink_init(seq_sink *s, lc_rendition *r)
{
  memset(s, 0, sizeof *s);
  g_mutex_init(&s->lock);
  lc_rendition_info info;
  lc_rendition_get_info(r, &info);
  s->want_ssrc = info.ssrc;
}

/* ---- /relay/pull ---- */

typedef struct {
  lc_relay *origin;
  bool saw_720p; /* the origin's feed ever listed 720p */
  unsigned max_rungs;
} feed_watch;

static gboolean
watch_tick(gpointer user)
{
  feed_watch *w = user;
  lc_relay_stats *st = stats(w->origin);
  for (unsigned i = 0; i < st->n_feeds; i++) {
    w->saw_720p |= has_rung(&st->feeds[i], "720p");
    w->max_rungs = MAX(w->max_rungs, st->feeds[i].n_rungs);
  }
  return G_SOURCE_CONTINUE;
}

static void
assert_same_info(lc_rendition *a, lc_rendition *b)
{
  lc_rendition_info x, y;
  lc_rendition_get_info(a, &x);
  lc_rendition_get_info(b, &y);
  g_assert_cmpstr(x.name, ==, y.name);
  g_assert_cmpint(x.kind, ==, y.kind);
  g_assert_cmpuint(x.clock_rate, ==, y.clock_rate);
  g_assert_cmpuint(x.payload_type, ==, y.payload_type);
  g_assert_cmpint(x.width, ==, y.width);
  g_assert_cmpint(x.height, ==, y.height);
  g_assert_cmpint(x.bitrate_kbps, ==, y.bitrate_kbps);
  g_assert_cmpint(x.channels, ==, y.channels);
  g_assert_cmpstr(x.fmtp, ==, y.fmtp);
  g_assert_cmpuint(y.ssrc, !=, 0);
  g_assert_true(lc_rendition_is_live(b));
}

/* Hub A with its producer and the serving relay "o"; hub B with the edge relay "e" that has
 * pulled room r1 (lc_relay_want answered 0 through the callback). */
typedef struct {
  producer prod;
  lc_relay *origin, *edge;
  lc_media_hub *hub_b;
  lc_media_room *mb;  /* a ref: room r1 in hub B */
  lc_rendition *b[3]; /* its 720p, 360p, opus (borrowed from mb) */
} world;

static void
world_start(world *w)
{
  memset(w, 0, sizeof *w);
  producer_start(&w->prod);
  w->origin = relay_new("o", SECRET, true, 0, 0, 0, w->prod.hub);
  w->hub_b = lc_media_hub_new();
  w->edge = relay_new("e", SECRET, false, 0, lc_relay_port(w->origin), 60000, w->hub_b);
  ready_rec rec = {0};
  g_assert_cmpint(lc_relay_want(w->edge, ROOM, on_ready, &rec), ==, LC_EAGAIN);
  WAIT_UNTIL(rec.calls > 0, WAIT_MS);
  g_assert_cmpint(rec.calls, ==, 1);
  g_assert_cmpint(rec.status, ==, 0);
  w->mb = lc_media_hub_acquire(w->hub_b, ROOM);
  g_assert_nonnull(w->mb);
  for (unsigned i = 0; i < 3; i++) {
    w->b[i] = lc_media_room_find(w->mb, rend_names[i]);
    g_assert_nonnull(w->b[i]);
  }
}

/* lc_relay_reset on the edge; returns once the pull is connected again. */
static void
world_reset(world *w)
{
  g_assert_cmpuint(stats(w->edge)->pulls[0].reconnects, ==, 0);
  g_assert_cmpint(lc_relay_reset(w->edge, ROOM), ==, 0);
  WAIT_UNTIL(stats(w->edge)->n_pulls == 1 && stats(w->edge)->pulls[0].reconnects >= 1 &&
               stats(w->edge)->pulls[0].connected,
             WAIT_MS);
  lc_relay_stats *st = stats(w->edge);
  g_assert_cmpuint(st->n_pulls, ==, 1);
  g_assert_cmpuint(st->pulls[0].reconnects, >=, 1);
  g_assert_true(st->pulls[0].connected);
}

/* Frees both relays while everything runs (the origin first: the edge loses it and retries).
 * The renditions of B stay valid until world_free. */
static void
world_stop(world *w)
{
  lc_relay_free(w->origin);
  lc_relay_free(w->edge);
  /* The edge closed its pulled room; our reference keeps the renditions, not live any more. */
  g_assert_null(lc_media_hub_acquire(w->hub_b, ROOM));
  for (unsigned i = 0; i < 3; i++)
    g_assert_false(lc_rendition_is_live(w->b[i]));
}

static void
world_free(world *w)
{
  lc_media_room_unref(w->mb);
  producer_stop(&w->prod);
  lc_media_hub_free(w->hub_b);
}

static void
test_pull(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  world w;
  /* a) lc_relay_want answered LC_EAGAIN, then the callback 0 (world_start); B has the room with
   * the same renditions. */
  world_start(&w);
  lc_rendition **b = w.b;
  feed_watch watch = {.origin = w.origin};
  guint watcher = g_timeout_add(20, watch_tick, &watch);
  g_assert_true(lc_relay_pulling(w.edge, ROOM));
  g_assert_cmpuint(lc_media_room_n_video(w.mb), ==, 2);
  for (unsigned i = 0; i < 3; i++)
    assert_same_info(w.prod.rend[i], b[i]);
  g_assert_true(lc_media_room_audio(w.mb) == b[2]);
  g_assert_true(lc_media_room_video(w.mb, 0) == b[0]); /* highest bitrate first */
  /* Ready now: a second want answers at once, without the callback. */
  ready_rec rec2 = {0};
  g_assert_cmpint(lc_relay_want(w.edge, ROOM, on_ready, &rec2), ==, 0);

  /* b) Nobody watches on B: nothing is pulled. The edge is connected, the origin has its feed;
   * for a while (600 ms of main loop) no packet reaches B and no rendition is subscribed. */
  WAIT_UNTIL(stats(w.origin)->n_feeds == 1 && stats(w.edge)->n_pulls == 1 && stats(w.edge)->pulls[0].connected,
             WAIT_MS);
  g_assert_cmpuint(stats(w.origin)->n_feeds, ==, 1);
  g_assert_true(stats(w.edge)->pulls[0].connected);
  g_assert_cmpstr(stats(w.edge)->pulls[0].room, ==, ROOM);
  g_assert_cmpstr(stats(w.origin)->feeds[0].node, ==, "e");
  g_assert_cmpstr(stats(w.origin)->feeds[0].room, ==, ROOM);
  int64_t idle_end = deadline(600);
  while (pump_until(idle_end))
    ;
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmpuint(lc_rendition_packets(b[i]), ==, 0);
  g_assert_cmpuint(stats(w.origin)->feeds[0].n_rungs, ==, 0);
  g_assert_cmpuint(stats(w.origin)->feeds[0].packets, ==, 0);
  g_assert_cmpuint(stats(w.edge)->pulls[0].n_rungs, ==, 0);
  g_assert_cmpuint(stats(w.edge)->pulls[0].packets, ==, 0);

  /* Subscribers on B's 360p and opus: those two are pulled, 720p never. */
  seq_sink s360, sopus;
  sink_init(&s360, b[1]);
  sink_init(&sopus, b[2]);
  unsigned id360 = lc_rendition_subscribe(b[1], sink_fn, &s360);
  unsigned idopus = lc_rendition_subscribe(b[2], sink_fn, &sopus);
  WAIT_UNTIL(sink_count(&s360) >= 100 && sink_count(&sopus) >= 100, WAIT_MS);
  g_assert_cmpuint(sink_count(&s360), >=, 100);
  g_assert_cmpuint(sink_count(&sopus), >=, 100);
  WAIT_UNTIL(stats(w.origin)->n_feeds == 1 && stats(w.origin)->feeds[0].n_rungs == 2, WAIT_MS);
  lc_relay_stats *st = stats(w.origin);
  g_assert_cmpuint(st->n_feeds, ==, 1);
  g_assert_cmpuint(st->feeds[0].n_rungs, ==, 2);
  g_assert_true(has_rung(&st->feeds[0], "360p"));
  g_assert_true(has_rung(&st->feeds[0], "opus"));
  g_assert_cmpuint(st->feeds[0].packets, >, 0);
  st = stats(w.edge);
  g_assert_cmpuint(st->pulls[0].n_rungs, ==, 2);
  g_assert_true(has_rung(&st->pulls[0], "360p") && has_rung(&st->pulls[0], "opus"));
  g_assert_cmpuint(lc_rendition_packets(b[0]), ==, 0);

  /* c) checked by the sinks all along: one SSRC, seq + 1, ts forward. */
  sink_check(&s360, "360p", 0);
  sink_check(&sopus, "opus", 0);
  /* The first 360p packet on B was a keyframe's (the feed starts from the cached keyframe). */
  g_assert_cmpuint(lc_rendition_keyframes(b[1]), >=, 1);

  /* d) A keyframe request on B's 360p reaches A's 360p producer. Requests are throttled (and a
   * throttled one is dropped when a keyframe comes first) at both hops: ask again every 600 ms
   * until one arrives. */
  int kf_before = g_atomic_int_get(&w.prod.kf_calls_360);
  int64_t kf_end = deadline(WAIT_MS);
  while (g_atomic_int_get(&w.prod.kf_calls_360) == kf_before && g_get_monotonic_time() < kf_end) {
    lc_rendition_request_keyframe(b[1]);
    int64_t again = MIN(deadline(600), kf_end);
    while (g_atomic_int_get(&w.prod.kf_calls_360) == kf_before && pump_until(again))
      ;
  }
  g_assert_cmpint(g_atomic_int_get(&w.prod.kf_calls_360), >, kf_before);

  /* e) Reset: the pull reconnects and B's 360p continues where it was: same SSRC, seq + 1
   * across, ts forward. A new connection replays from the origin's cached keyframe; keyframes
   * are held back around the reset so that the replay covers the gap (a GOP longer than the
   * reconnect: the case the relay promises to bridge without loss), and B has seen packets past
   * the last keyframe before the reset. The audio, which has no keyframe to replay from, may
   * lose the reconnect's packets: one forward jump allowed here, see /relay/reset_audio. */
  g_atomic_int_set(&w.prod.no_keyframes, 1);
  unsigned mark = sink_count(&s360);
  WAIT_UNTIL(sink_count(&s360) >= mark + GOP + 10, WAIT_MS);
  g_assert_cmpuint(sink_count(&s360), >=, mark + GOP + 10);
  g_assert_cmpint(lc_relay_reset(w.edge, "nosuch"), ==, LC_ENOENT);
  world_reset(&w);
  mark = sink_count(&s360);
  unsigned mark_opus = sink_count(&sopus);
  WAIT_UNTIL(sink_count(&s360) >= mark + 100 && sink_count(&sopus) >= mark_opus + 100, WAIT_MS);
  g_assert_cmpuint(sink_count(&s360), >=, mark + 100);
  g_assert_cmpuint(sink_count(&sopus), >=, mark_opus + 100);
  sink_check(&s360, "360p", 0);
  sink_check(&sopus, "opus", 1);
  g_atomic_int_set(&w.prod.no_keyframes, 0);
  g_assert_true(lc_relay_pulling(w.edge, ROOM));

  /* 720p was never pulled. */
  g_assert_false(watch.saw_720p);
  g_assert_cmpuint(watch.max_rungs, ==, 2);
  g_assert_cmpuint(lc_rendition_packets(b[0]), ==, 0);
  g_assert_cmpint(rec2.calls, ==, 0);

  /* i) Both relays freed with everything running. */
  g_source_remove(watcher);
  world_stop(&w);
  lc_rendition_unsubscribe(b[1], id360);
  lc_rendition_unsubscribe(b[2], idopus);
  world_free(&w);
  sink_check(&s360, "360p", 0);
  sink_check(&sopus, "opus", 1);
  g_mutex_clear(&s360.lock);
  g_mutex_clear(&sopus.lock);
  g_source_remove(awake);
}

/* ---- /relay/reset_audio ---- */

/* The audio across lc_relay_reset. A new connection's feed starts a subscription from the
 * rendition's cached keyframe (relay_feed.c sub_new: lc_rendition_subscribe_from_keyframe); the
 * audio has none, so nothing is replayed and the packets the origin pushed while the edge was
 * reconnecting never reach B (though the origin's 2 s cache holds them): B's opus numbering
 * jumps forward by the reconnect's length. Recorded as TODO while it lasts. */
static void
test_reset_audio(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  world w;
  world_start(&w);
  seq_sink sopus;
  sink_init(&sopus, w.b[2]);
  unsigned id = lc_rendition_subscribe(w.b[2], sink_fn, &sopus);
  WAIT_UNTIL(sink_count(&sopus) >= 100, WAIT_MS);
  g_assert_cmpuint(sink_count(&sopus), >=, 100);
  world_reset(&w);
  unsigned mark = sink_count(&sopus);
  WAIT_UNTIL(sink_count(&sopus) >= mark + 100, WAIT_MS);
  g_assert_cmpuint(sink_count(&sopus), >=, mark + 100);
  sink_check(&sopus, "opus", 1); /* one SSRC, nothing backwards, at most the one jump */
  g_mutex_lock(&sopus.lock);
  unsigned lost = sopus.seq_lost;
  g_mutex_unlock(&sopus.lock);
  world_stop(&w);
  lc_rendition_unsubscribe(w.b[2], id);
  world_free(&w);
  g_mutex_clear(&sopus.lock);
  g_source_remove(awake);
  if (lost > 0) {
    g_test_message("opus lost %u packets (%u ms) across the reset", lost, lost * PUSH_US / 1000);
    g_test_incomplete("the audio loses the packets pushed during a reconnect (relay_feed.c sub_new replays from a "
                      "keyframe only)");
  }
}

/* A UDP port free right now on 127.0.0.1 (bound and released: the second relay binds it next;
 * a relay's origin is fixed at creation, so one of two relays pointing at each other needs the
 * other's port before it exists). */
static int
free_udp_port(void)
{
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  g_assert_cmpint(fd, >=, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof a), ==, 0);
  socklen_t al = sizeof a;
  g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &al), ==, 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- /relay/want_bad_room ---- */

/* relay.h: lc_relay_want returns LC_EINVAL for a bad room id. relay.c only refuses an empty id
 * or one over 64 bytes; any other invalid id ("Bad Room": upper case, a space) starts a pull
 * (and opens the id in the hub) that fails when its request cannot be signed, and the callback
 * reports LC_EINVAL, a status relay.h does not list for it. Recorded as TODO while it lasts. */
static void
on_ready_bad(const char *room, int status, const char *why, gpointer user)
{
  ready_rec *rec = user;
  (void)room;
  rec->calls++;
  rec->status = status;
  g_strlcpy(rec->why, why ? why : "", sizeof rec->why);
}

static void
test_want_bad_room(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  lc_media_hub *hub = lc_media_hub_new();
  /* No upstream listens there: a valid room would only time out; a bad one never connects. */
  lc_relay *edge = relay_new("e", SECRET, false, 0, free_udp_port(), 0, hub);
  g_assert_cmpint(lc_relay_want(edge, "", on_ready_bad, NULL), ==, LC_EINVAL);
  g_assert_cmpint(lc_relay_want(edge, NULL, on_ready_bad, NULL), ==, LC_EINVAL);
  char longid[66];
  memset(longid, 'a', 65), longid[65] = '\0';
  g_assert_cmpint(lc_relay_want(edge, longid, on_ready_bad, NULL), ==, LC_EINVAL);
  ready_rec rec = {0};
  int rc = lc_relay_want(edge, "Bad Room", on_ready_bad, &rec);
  if (rc == LC_EAGAIN) {
    WAIT_UNTIL(rec.calls > 0, WAIT_MS);
    g_assert_cmpint(rec.calls, ==, 1);
    g_test_message("lc_relay_want(\"Bad Room\") returned LC_EAGAIN, then the callback %d (%s)", rec.status, rec.why);
    g_assert_cmpint(rec.status, !=, 0);
    WAIT_UNTIL(!lc_relay_pulling(edge, "Bad Room"), WAIT_MS);
    g_assert_false(lc_relay_pulling(edge, "Bad Room"));
    g_assert_null(lc_media_hub_acquire(hub, "Bad Room")); /* the pull's hub room went with it */
    g_test_incomplete("lc_relay_want does not refuse an invalid room id with LC_EINVAL (relay.c lc_relay_want)");
  } else {
    g_assert_cmpint(rc, ==, LC_EINVAL);
    g_assert_cmpint(rec.calls, ==, 0);
  }
  lc_relay_free(edge);
  lc_media_hub_free(hub);
  g_source_remove(awake);
}

/* ---- /relay/wrong_secret ---- */

static void
test_wrong_secret(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  producer prod;
  producer_start(&prod);
  lc_relay *origin = relay_new("o", SECRET, true, 0, 0, 0, prod.hub);
  lc_media_hub *hub_c = lc_media_hub_new();
  lc_relay *intruder = relay_new("w", "another-secret-of-16+bytes", false, 0, lc_relay_port(origin), 0, hub_c);
  ready_rec rec = {0};
  g_assert_cmpint(lc_relay_want(intruder, ROOM, on_ready, &rec), ==, LC_EAGAIN);
  WAIT_UNTIL(rec.calls > 0, WAIT_MS);
  g_assert_cmpint(rec.calls, ==, 1);
  g_test_message("wrong secret: status %d (%s)", rec.status, rec.why);
  g_assert_cmpint(rec.status, ==, LC_EPERM);
  WAIT_UNTIL(stats(origin)->refused >= 1, WAIT_MS);
  g_assert_cmpuint(stats(origin)->refused, >=, 1);
  g_assert_cmpuint(stats(origin)->n_feeds, ==, 0);
  /* The refused pull is gone (no retry against a refusal), and its empty hub room with it. */
  WAIT_UNTIL(!lc_relay_pulling(intruder, ROOM), WAIT_MS);
  g_assert_false(lc_relay_pulling(intruder, ROOM));
  lc_media_room *m = lc_media_hub_acquire(hub_c, ROOM);
  g_assert_null(m);
  WAIT_UNTIL(stats(intruder)->pulls_failed >= 1, WAIT_MS);
  g_assert_cmpuint(stats(intruder)->pulls_failed, ==, 1);
  lc_relay_free(intruder);
  lc_relay_free(origin);
  lc_media_hub_free(hub_c);
  producer_stop(&prod);
  g_source_remove(awake);
}

/* ---- /relay/loop ---- */

static void
test_loop(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  lc_media_hub *hub_x = lc_media_hub_new(), *hub_y = lc_media_hub_new();
  lc_relay *x = NULL, *y = NULL;
  for (int attempt = 0; attempt < 5 && !y; attempt++) {
    int py = free_udp_port();
    x = relay_new("x", SECRET, true, 0, py, 0, hub_x);
    lc_relay_config cfg = {.node_id = "y", .secret = SECRET, .serve = true, .bind = "127.0.0.1", .port = py};
    char origin[64];
    g_snprintf(origin, sizeof origin, "127.0.0.1:%d", lc_relay_port(x));
    cfg.origin = origin;
    char *err = NULL;
    y = lc_relay_new(&cfg, hub_y, &err);
    if (!y) {
      g_test_message("port %d taken meanwhile (%s): again", py, err);
      g_free(err);
      lc_relay_free(x);
      x = NULL;
    }
  }
  g_assert_nonnull(y);
  ready_rec rec = {0};
  g_assert_cmpint(lc_relay_want(x, ROOM, on_ready, &rec), ==, LC_EAGAIN);
  WAIT_UNTIL(rec.calls > 0, WAIT_MS);
  g_assert_cmpint(rec.calls, ==, 1);
  /* x -> y (y has no room: it pulls for x, via x,y) -> x: x finds itself in the via and refuses
   * (reject code 2508); y's pull ends as a loop and y ends x's feed with LC_RELAY_END_LOOP. */
  g_test_message("loop: status %d (%s)", rec.status, rec.why);
  g_assert_cmpint(rec.status, ==, LC_ESTATE);
  WAIT_UNTIL(stats(x)->refused >= 1, WAIT_MS);
  g_assert_cmpuint(stats(x)->refused, >=, 1);
  g_assert_cmpuint(stats(y)->refused, ==, 0);
  WAIT_UNTIL(!lc_relay_pulling(x, ROOM) && !lc_relay_pulling(y, ROOM), WAIT_MS);
  g_assert_false(lc_relay_pulling(x, ROOM));
  g_assert_false(lc_relay_pulling(y, ROOM));
  lc_relay_free(x);
  lc_relay_free(y);
  g_assert_null(lc_media_hub_acquire(hub_x, ROOM));
  g_assert_null(lc_media_hub_acquire(hub_y, ROOM));
  lc_media_hub_free(hub_x);
  lc_media_hub_free(hub_y);
  g_source_remove(awake);
}

/* ---- /relay/idle ---- */

typedef struct {
  lc_media_hub *hub;
  lc_media_room *room; /* a ref, taken in the callback */
  seq_sink sink;
  unsigned id;
  int status, calls;
} idle_ctx;

/* Subscribes at once, on the main thread: the pull would idle out (1 s) without a subscriber. */
static void
on_ready_subscribe(const char *room, int status, const char *why, gpointer user)
{
  idle_ctx *c = user;
  (void)why;
  c->calls++;
  c->status = status;
  if (status != 0)
    return;
  c->room = lc_media_hub_acquire(c->hub, room);
  g_assert_nonnull(c->room);
  lc_rendition *r = lc_media_room_find(c->room, "360p");
  g_assert_nonnull(r);
  sink_init(&c->sink, r);
  c->id = lc_rendition_subscribe(r, sink_fn, &c->sink);
}

static void
test_idle(void)
{
  guint awake = g_timeout_add(10, keep_awake, NULL);
  producer prod;
  producer_start(&prod);
  lc_relay *origin = relay_new("o", SECRET, true, 0, 0, 0, prod.hub);
  idle_ctx c = {0};
  c.hub = lc_media_hub_new();
  lc_relay *edge = relay_new("e", SECRET, false, 0, lc_relay_port(origin), 1000, c.hub);
  g_assert_cmpint(lc_relay_want(edge, ROOM, on_ready_subscribe, &c), ==, LC_EAGAIN);
  WAIT_UNTIL(c.calls > 0, WAIT_MS);
  g_assert_cmpint(c.calls, ==, 1);
  g_assert_cmpint(c.status, ==, 0);
  WAIT_UNTIL(sink_count(&c.sink) >= 50, WAIT_MS);
  g_assert_cmpuint(sink_count(&c.sink), >=, 50);
  sink_check(&c.sink, "360p", 0);

  /* The last subscriber goes: the upstream subscription is held 3 s (LC__RELAY_HOLD_US), then
   * the pull idles for idle_ms and closes with its hub room. */
  lc_rendition *r = lc_media_room_find(c.room, "360p");
  lc_rendition_unsubscribe(r, c.id);
  int64_t left = g_get_monotonic_time();
  WAIT_UNTIL(!lc_relay_pulling(edge, ROOM), 3000 + 1000 + WAIT_MS);
  g_assert_false(lc_relay_pulling(edge, ROOM));
  g_test_message("idle: the pull closed %" G_GINT64_FORMAT " ms after the last subscriber left",
                 (g_get_monotonic_time() - left) / 1000);
  g_assert_cmpint(g_get_monotonic_time() - left, >=, 1000 * 1000);
  g_assert_null(lc_media_hub_acquire(c.hub, ROOM));
  g_assert_false(lc_rendition_is_live(r));
  /* The origin's feed goes with it. */
  WAIT_UNTIL(stats(origin)->n_feeds == 0 && stats(edge)->n_pulls == 0, WAIT_MS); /* stats: <= 100 ms old */
  g_assert_cmpuint(stats(origin)->n_feeds, ==, 0);
  g_assert_cmpuint(stats(edge)->n_pulls, ==, 0);
  g_assert_cmpuint(stats(edge)->pulls_failed, ==, 0);

  lc_relay_free(edge);
  lc_relay_free(origin);
  lc_media_room_unref(c.room);
  lc_media_hub_free(c.hub);
  producer_stop(&prod);
  if (c.room)
    g_mutex_clear(&c.sink.lock);
  g_source_remove(awake);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  lc_log_set_level(g_test_verbose() ? LC_LOG_DEBUG : LC_LOG_WARN);
  g_test_add_func("/relay/pull", test_pull);
  g_test_add_func("/relay/reset_audio", test_reset_audio);
  g_test_add_func("/relay/want_bad_room", test_want_bad_room);
  g_test_add_func("/relay/wrong_secret", test_wrong_secret);
  g_test_add_func("/relay/loop", test_loop);
  g_test_add_func("/relay/idle", test_idle);
  return g_test_run();
}

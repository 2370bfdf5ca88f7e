/* lc_ladder with real GStreamer: H.264 (+/- B-frames) and AAC made by a helper pipeline are pushed
 * through the ES front-end (and an MPEG-TS through the TS front-end); the test subscribes to every
 * rendition and checks: rungs above the source are skipped, each rung's RTP decodes to frames of
 * its size, Opus arrives, a keyframe request yields a keyframe within a few frames, the "source"
 * rung exists only without B-frames, and create/free cycles leak nothing (ASan build).
 *
 * Nothing here depends on the machine's speed: the producer is held back by the ladder's output
 * (pace: at most PACE_LEAD frames in flight, as an encoder-bound publisher would be), and every
 * check waits for its condition with a deadline (wait_until) instead of sleeping a fixed time.
 * Under load (stress-ng --cpu 2 on 2 cores) the former fixed sleeps and the "900 ms after the
 * first packet" request of a 2.5 s clip aborted 5 runs of 8 (the 720p rung produced its first
 * packet after the clip had been pushed). One rung alone, frame by frame: test_ladder_rung.c. */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <string.h>

#include "base/errors.h"
#include "ladder/ladder.h"
#include "media/hub.h"
#include "../gst_sanitizer.h"
#include "es_material.h"

/* ---------------------------------------------------------------------------------------------- */
/* Source material */

/* H.264 AVCC access units (w x h, 30 fps, bframes) and raw AAC frames, `frames` video frames. */
static material *
make_es(int w, int h, int bframes, int frames)
{
  char *x264 = g_strdup_printf("bframes=%d b-adapt=false bitrate=2000", bframes);
  material *m = make_es_material("ball", w, h, x264, frames);
  g_free(x264);
  return m;
}

static material *
make_ts(int w, int h, int frames)
{
  char *desc = g_strdup_printf(
      "videotestsrc num-buffers=%d pattern=smpte ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 "
      "! x264enc speed-preset=superfast tune=zerolatency key-int-max=30 bitrate=1500 ! h264parse "
      "! mpegtsmux name=mux alignment=7 ! appsink name=ts sync=false wait-on-eos=false "
      "audiotestsrc num-buffers=%d samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac "
      "! aacparse ! mux.",
      frames, w, h, frames * 48000 / 30 / 1024 + 1);
  GstElement *p = run_to_eos(desc);
  g_free(desc);
  material *m = g_new0(material, 1);
  m->ts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  GstElement *ts = gst_bin_get_by_name(GST_BIN(p), "ts");
  GstSample *s;
  while ((s = gst_app_sink_try_pull_sample(GST_APP_SINK(ts), 0))) {
    g_ptr_array_add(m->ts, buffer_bytes(gst_sample_get_buffer(s)));
    gst_sample_unref(s);
  }
  gst_object_unref(ts);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  g_assert_cmpuint(m->ts->len, >, 10);
  return m;
}

/* ---------------------------------------------------------------------------------------------- */
/* Collecting a rendition's packets */

#define PACE_LEAD 8 /* video frames the producer may be ahead of the watched rung's output */
#define WAIT_S 60   /* deadline of a wait for output: only a stuck ladder gets near it */

typedef struct watch watch;

typedef struct {
  watch *w;
  lc_rendition *r;
  unsigned id;
  GMutex lock;
  GPtrArray *pkts; /* lc_pkt (ref'd), from a keyframe on */
  unsigned aus;    /* access units (video: marker packets) */
  bool kf_requested;
  unsigned kf_request_au; /* aus when the keyframe was requested */
  int kf_after_au;        /* index of the first keyframe AU after the request, or -1 */
} collector;

struct watch {
  lc_media_room *room;
  GHashTable *collectors; /* name -> collector; main thread */
  int errors;
  GMutex lock; /* guards events */
  GCond cond;  /* signalled at every packet */
  uint64_t events;
};

static void
collect(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  collector *c = user;
  g_mutex_lock(&c->lock);
  g_ptr_array_add(c->pkts, lc_pkt_ref(pkt));
  if (pkt->keyframe && c->kf_requested && c->kf_after_au < 0)
    c->kf_after_au = (int)c->aus;
  if (pkt->marker || pkt->kind == LC_MEDIA_AUDIO)
    c->aus++;
  g_mutex_unlock(&c->lock);
  g_mutex_lock(&c->w->lock);
  c->w->events++;
  g_cond_broadcast(&c->w->cond);
  g_mutex_unlock(&c->w->lock);
}

static void
collector_free(gpointer p)
{
  collector *c = p;
  lc_rendition_unsubscribe(c->r, c->id);
  lc_rendition_unref(c->r);
  g_ptr_array_unref(c->pkts);
  g_mutex_clear(&c->lock);
  g_free(c);
}

static void
watch_subscribe(watch *w, lc_rendition *r)
{
  if (!r)
    return;
  lc_rendition_info info;
  lc_rendition_get_info(r, &info);
  if (g_hash_table_contains(w->collectors, info.name))
    return;
  collector *c = g_new0(collector, 1);
  g_mutex_init(&c->lock);
  c->w = w;
  c->kf_after_au = -1;
  c->r = lc_rendition_ref(r);
  GPtrArray *backlog = NULL;
  c->pkts = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  /* Not under c->lock: the sink takes it while the producer holds the subscriber lock. Packets
   * arriving before the backlog is inserted are appended after it, so the order holds. */
  c->id = lc_rendition_subscribe_from_keyframe(r, collect, c, &backlog);
  g_mutex_lock(&c->lock);
  if (backlog) {
    for (guint i = 0; i < backlog->len; i++) {
      lc_pkt *pkt = g_ptr_array_index(backlog, i);
      g_ptr_array_insert(c->pkts, (gint)i, lc_pkt_ref(pkt));
      c->aus += pkt->marker || pkt->kind == LC_MEDIA_AUDIO;
    }
    g_ptr_array_unref(backlog);
  }
  g_mutex_unlock(&c->lock);
  g_hash_table_insert(w->collectors, g_strdup(info.name), c);
}

/* Subscribes to renditions as they appear in the room. */
static void
watch_poll(watch *w)
{
  for (unsigned i = 0; i < lc_media_room_n_video(w->room); i++)
    watch_subscribe(w, lc_media_room_video(w->room, i));
  watch_subscribe(w, lc_media_room_audio(w->room));
}

static collector *
watch_get(watch *w, const char *name)
{
  return g_hash_table_lookup(w->collectors, name);
}

static unsigned
n_pkts(collector *c)
{
  if (!c)
    return 0;
  g_mutex_lock(&c->lock);
  unsigned n = c->pkts->len;
  g_mutex_unlock(&c->lock);
  return n;
}

/* Access units collected from that rendition (0 before it exists). */
static unsigned
n_aus(watch *w, const char *name)
{
  collector *c = watch_get(w, name);
  if (!c)
    return 0;
  g_mutex_lock(&c->lock);
  unsigned n = c->aus;
  g_mutex_unlock(&c->lock);
  return n;
}

static void
on_ladder_error(lc_ladder *l, const char *message, gpointer user)
{
  watch *w = user;
  g_test_message("ladder error: %s", message);
  w->errors++;
}

typedef bool (*pred_fn)(watch *w, gpointer user);

/* Runs the main context (the ladder's bus watch) and subscribes to renditions as they appear
 * until pred holds; false at the deadline. Woken by every collected packet; renditions appearing
 * and bus messages have no wake-up of their own, so it looks again at least every 10 ms. */
static bool
wait_until(watch *w, pred_fn pred, gpointer user, int timeout_s)
{
  int64_t deadline = g_get_monotonic_time() + timeout_s * G_TIME_SPAN_SECOND;
  for (;;) {
    g_mutex_lock(&w->lock);
    uint64_t seen = w->events;
    g_mutex_unlock(&w->lock);
    while (g_main_context_iteration(NULL, FALSE))
      ;
    watch_poll(w);
    if (pred(w, user))
      return true;
    int64_t now = g_get_monotonic_time();
    if (now >= deadline)
      return false;
    g_mutex_lock(&w->lock);
    if (w->events == seen)
      g_cond_wait_until(&w->cond, &w->lock, MIN(now + 10 * G_TIME_SPAN_MILLISECOND, deadline));
    g_mutex_unlock(&w->lock);
  }
}

/* What a wait asks for: every named rendition with at least that many access units (audio:
 * packets). */
typedef struct {
  const char *name;
  unsigned aus;
} want_aus;

static bool
have_aus(watch *w, gpointer user)
{
  for (const want_aus *x = user; x->name; x++) {
    if (n_aus(w, x->name) < x->aus)
      return false;
  }
  return true;
}

static void
wait_aus(watch *w, const want_aus *want)
{
  if (wait_until(w, have_aus, (gpointer)want, WAIT_S))
    return;
  for (const want_aus *x = want; x->name; x++)
    g_test_message("%s: %u of %u access units", x->name, n_aus(w, x->name), x->aus);
  g_error("no output within %d s", WAIT_S);
}

typedef struct {
  lc_ladder *l;
  const char *rung;
} pace_ctx;

static bool
caught_up(watch *w, gpointer user)
{
  pace_ctx *p = user;
  lc_ladder_stats st;
  lc_ladder_get_stats(p->l, &st);
  return st.video_in <= n_aus(w, p->rung) + PACE_LEAD;
}

/* Holds the producer until the rung's output is within PACE_LEAD frames of the video pushed (the
 * rungs' queues are leaky: a producer far ahead loses frames in them). Not a check: after the
 * deadline the producer goes on, and the checks that follow say what is missing. */
static void
pace(watch *w, lc_ladder *l, const char *rung)
{
  pace_ctx p = {l, rung};
  if (!wait_until(w, caught_up, &p, WAIT_S))
    g_test_message("pace: %s still behind after %d s", rung, WAIT_S);
}

/* Decodes collected RTP H.264 through rtph264depay ! avdec_h264; returns frames and the first frame size in
 * *w, *h. */
static int
decode_rtp(collector *c, int *w, int *h)
{
  GError *e = NULL;
  GstElement *p =
      gst_parse_launch("appsrc name=src format=time "
                       "caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96 "
                       "! rtph264depay ! video/x-h264,stream-format=avc ! h264parse ! avdec_h264 ! appsink "
                       "name=sink sync=false",
                       &e);
  g_assert_no_error(e);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src"), *sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  gst_element_set_state(p, GST_STATE_PLAYING);
  g_mutex_lock(&c->lock);
  for (guint i = 0; i < c->pkts->len; i++) {
    lc_pkt *pkt = g_ptr_array_index(c->pkts, i);
    gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_new_memdup(pkt->data, pkt->len));
  }
  g_mutex_unlock(&c->lock);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  int frames = 0;
  *w = *h = 0;
  GstSample *s;
  while ((s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND))) {
    if (frames++ == 0) {
      const GstStructure *st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
      gst_structure_get_int(st, "width", w);
      gst_structure_get_int(st, "height", h);
    }
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(p);
  return frames;
}

static void
default_config(lc_ladder_config *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  char *err = NULL;
  g_assert_cmpint(
      lc_ladder_parse_rungs("1080p:1920x1080:4500,720p:1280x720:2500,480p:854x480:1200,360p:640x360:600", cfg,
                            &err),
      ==, 0);
  g_assert_null(err);
  cfg->keyframe_interval_ms = 2000;
  g_strlcpy(cfg->x264_preset, "ultrafast", sizeof(cfg->x264_preset));
  cfg->audio_bitrate = 64000;
  cfg->cache_ms = 3000;
  cfg->keyframe_throttle_ms = 300;
}

/* Pushes material, paced by the rung's output (see pace); calls tick after each frame. */
static void
push_es(lc_ladder *l, material *m, watch *w, const char *rung, void (*tick)(watch *, gpointer), gpointer user)
{
  g_assert_cmpint(
      lc_ladder_push_video(l, g_bytes_get_data(((es_au *)m->video->data)->data, NULL), 10, 0, 0, true), ==,
      LC_ESTATE); /* no config yet */
  gsize n;
  const uint8_t *d = g_bytes_get_data(m->avcc, &n);
  g_assert_cmpint(lc_ladder_set_video_config(l, d, n), ==, 0);
  g_assert_cmpint(lc_ladder_set_video_config(l, d, n), ==, 0); /* repeated: no-op */
  d = g_bytes_get_data(m->asc, &n);
  g_assert_cmpint(lc_ladder_set_audio_config(l, d, n), ==, 0);
  guint ai = 0;
  for (guint i = 0; i < m->video->len; i++) {
    es_au *v = &g_array_index(m->video, es_au, i);
    pace(w, l, rung);
    d = g_bytes_get_data(v->data, &n);
    int rc = lc_ladder_push_video(l, d, n, 5000 + v->dts_ms, v->cts_ms, v->key);
    g_assert_true(rc == 0 || rc == LC_ELIMIT);
    for (; ai < m->audio->len && g_array_index(m->audio, es_au, ai).dts_ms <= v->dts_ms; ai++) {
      es_au *a = &g_array_index(m->audio, es_au, ai);
      d = g_bytes_get_data(a->data, &n);
      rc = lc_ladder_push_audio(l, d, n, 5000 + a->dts_ms);
      g_assert_true(rc == 0 || rc == LC_ELIMIT);
    }
    if (tick)
      tick(w, user);
  }
}

static watch *
watch_new(lc_media_room *room)
{
  watch *w = g_new0(watch, 1);
  g_mutex_init(&w->lock);
  g_cond_init(&w->cond);
  w->room = room;
  w->collectors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, collector_free);
  return w;
}

static void
watch_free(watch *w)
{
  g_hash_table_unref(w->collectors);
  g_mutex_clear(&w->lock);
  g_cond_clear(&w->cond);
  g_free(w);
}

/* ---------------------------------------------------------------------------------------------- */

static void
test_parse_rungs(void)
{
  lc_ladder_config cfg = {0};
  char *err = NULL;
  g_assert_cmpint(lc_ladder_parse_rungs(" 720p:1280x720:2500 , 360p:640x360:600 ", &cfg, &err), ==, 0);
  g_assert_cmpuint(cfg.n_rungs, ==, 2);
  g_assert_cmpstr(cfg.rungs[0].name, ==, "720p");
  g_assert_cmpint(cfg.rungs[0].width, ==, 1280);
  g_assert_cmpint(cfg.rungs[0].height, ==, 720);
  g_assert_cmpint(cfg.rungs[0].bitrate_kbps, ==, 2500);
  g_assert_cmpstr(cfg.rungs[1].name, ==, "360p");
  const char *bad[] = {
      "",
      "720p",
      "720p:1280x720",
      "720p:1280x720:2500x",
      "720p:1281x720:2500",
      "720p:1280x720:10",
      "720p:99999x720:2500",
      "source:640x360:600",
      "a b:640x360:600",
      "x:640x360:600,x:640x360:600",
      "verylongrungname12:640x360:600",
      "a:16x16:50,b:16x16:50,c:16x16:50,d:16x16:50,e:16x16:50,f:16x16:50,g:16x16:50,h:16x16:50,i:16x16:50"};
  for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
    lc_ladder_config c2 = {0};
    g_assert_cmpint(lc_ladder_parse_rungs(bad[i], &c2, &err), ==, LC_EINVAL);
    g_assert_nonnull(err);
    g_test_message("%s -> %s", bad[i], err);
    g_clear_pointer(&err, g_free);
    g_assert_cmpuint(c2.n_rungs, ==, 0);
  }
}

typedef struct {
  bool requested;
  bool forwarded;
} kf_state;

static void
kf_tick(watch *w, gpointer user)
{
  kf_state *k = user;
  collector *c = watch_get(w, "720p");
  /* The natural keyframes are 60 frames apart (2 s at 30 fps): ask at the 10th AU. (The throttle
   * of a second request is test_ladder_rung's, on a clock of its own.) */
  if (k->requested || n_aus(w, "720p") < 10)
    return;
  g_mutex_lock(&c->lock);
  c->kf_requested = true;
  c->kf_request_au = c->aus;
  g_mutex_unlock(&c->lock);
  k->forwarded = lc_rendition_request_keyframe(c->r);
  k->requested = true;
}

static bool
kf_answered(watch *w, gpointer user)
{
  collector *c = user;
  g_mutex_lock(&c->lock);
  bool done = c->kf_after_au >= 0;
  g_mutex_unlock(&c->lock);
  return done;
}

static void
test_es_bframes(void)
{
  material *m = make_es(1280, 720, 2, 75);
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "room1");
  watch *w = watch_new(room);
  lc_ladder_config cfg;
  default_config(&cfg);
  cfg.passthrough = true;
  char *err = NULL;
  lc_ladder *l = lc_ladder_new("room1", room, LC_LADDER_INPUT_ES, &cfg, on_ladder_error, w, &err);
  g_assert_null(err);
  g_assert_nonnull(l);
  kf_state k = {0};
  push_es(l, m, w, "720p", kf_tick, &k);
  static const want_aus want_out[] = {{"720p", 40}, {"480p", 40}, {"360p", 40}, {"opus", 60}, {NULL, 0}};
  wait_aus(w, want_out);
  g_assert_cmpint(w->errors, ==, 0);

  lc_ladder_stats st;
  lc_ladder_get_stats(l, &st);
  g_test_message("in: video %" G_GUINT64_FORMAT " audio %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT
                 "; latency p50 %.1f ms p99 %.1f ms (%u)",
                 st.video_in, st.audio_in, st.dropped_in, st.latency_p50_us / 1000.0,
                 st.latency_p99_us / 1000.0, st.latency_samples);
  g_assert_true(st.source_has_bframes);
  g_assert_cmpint(st.source_width, ==, 1280);
  g_assert_cmpint(st.source_height, ==, 720);
  g_assert_cmpuint(st.video_in, ==, 75);
  g_assert_cmpuint(st.latency_samples, >, 0);

  /* 1080p skipped (the source is 720p), no passthrough with B-frames. */
  g_assert_null(lc_media_room_find(room, "1080p"));
  g_assert_null(lc_media_room_find(room, "source"));
  g_assert_cmpuint(lc_media_room_n_video(room), ==, 3);
  lc_rendition_info info;
  lc_rendition_get_info(lc_media_room_video(room, 0), &info);
  g_assert_cmpstr(info.name, ==, "720p");
  g_assert_cmpuint(info.payload_type, ==, 96);
  g_assert_cmpuint(info.clock_rate, ==, 90000);
  g_assert_cmpstr(info.fmtp, ==, "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1");
  g_assert_true(lc_media_room_is_live(room));

  const struct {
    const char *name;
    int w, h;
  } want[] = {{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}};
  for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
    collector *c = watch_get(w, want[i].name);
    g_assert_nonnull(c);
    g_assert_cmpuint(n_pkts(c), >, 20);
    g_assert_true(((lc_pkt *)g_ptr_array_index(c->pkts, 0))->keyframe);
    int dw, dh;
    int frames = decode_rtp(c, &dw, &dh);
    g_test_message("%s: %u packets, %d frames decoded at %dx%d", want[i].name, n_pkts(c), frames, dw, dh);
    g_assert_cmpint(frames, >, 10);
    g_assert_cmpint(dw, ==, want[i].w);
    g_assert_cmpint(dh, ==, want[i].h);
  }

  /* Keyframe on request: within a few frames (those already in the encoder and the payloader),
   * not at the next natural one (60 frames on). */
  g_assert_true(k.requested);
  g_assert_true(k.forwarded);
  collector *c = watch_get(w, "720p");
  g_assert_true(wait_until(w, kf_answered, c, WAIT_S));
  g_mutex_lock(&c->lock);
  int kf_delay = c->kf_after_au - (int)c->kf_request_au;
  g_mutex_unlock(&c->lock);
  g_test_message("keyframe %d access units after the request (at AU %u)", kf_delay, c->kf_request_au);
  g_assert_cmpint(kf_delay, >=, 0);
  g_assert_cmpint(kf_delay, <=, 5);

  collector *a = watch_get(w, "opus");
  g_assert_nonnull(a);
  g_assert_cmpuint(n_pkts(a), >, 50); /* 20 ms packets over 2.5 s */
  lc_rendition_get_info(a->r, &info);
  g_assert_cmpuint(info.kind, ==, LC_MEDIA_AUDIO);
  g_assert_cmpuint(info.clock_rate, ==, 48000);
  g_assert_cmpuint(info.payload_type, ==, 111);
  g_assert_cmpint(info.channels, ==, 2);

  lc_ladder_free(l);
  g_assert_false(lc_media_room_is_live(room));
  watch_free(w);
  lc_media_hub_free(hub);
  material_free(m);
}

/* The RTP timestamps of the keyframes a rung's collector holds, relative to its first packet. */
static GArray *
keyframe_offsets(collector *c)
{
  GArray *out = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  g_mutex_lock(&c->lock);
  uint32_t first = c->pkts->len ? ((lc_pkt *)g_ptr_array_index(c->pkts, 0))->ts : 0;
  for (guint i = 0; i < c->pkts->len; i++) {
    lc_pkt *p = g_ptr_array_index(c->pkts, i);
    uint32_t rel = p->ts - first;
    if (p->keyframe)
      g_array_append_val(out, rel);
  }
  g_mutex_unlock(&c->lock);
  return out;
}

typedef struct {
  bool requested;
} kf480_state;

/* One keyframe request on 480p at its 40th frame, between two scheduled keyframes. */
static void
kf480_tick(watch *w, gpointer user)
{
  kf480_state *k = user;
  if (k->requested || n_aus(w, "480p") < 40)
    return;
  lc_rendition_request_keyframe(watch_get(w, "480p")->r);
  k->requested = true;
}

/* The rungs' GOPs line up: every rung has a keyframe every 2 s (keyframe_interval_ms) of source
 * time, at the same frames, and a viewer's keyframe request on one rung adds one keyframe there
 * without moving its schedule (x264's own interval would have restarted from the requested one). */
static void
test_keyframes_aligned(void)
{
  material *m = make_es(1280, 720, 0, 150); /* 5 s: scheduled keyframes at frames 0, 60, 120 */
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "room1");
  watch *w = watch_new(room);
  lc_ladder_config cfg;
  default_config(&cfg);
  char *err = NULL;
  lc_ladder *l = lc_ladder_new("room1", room, LC_LADDER_INPUT_ES, &cfg, on_ladder_error, w, &err);
  g_assert_null(err);
  kf480_state k = {0};
  push_es(l, m, w, "720p", kf480_tick, &k);
  static const want_aus want_out[] = {{"720p", 135}, {"480p", 135}, {"360p", 135}, {NULL, 0}};
  wait_aus(w, want_out);
  g_assert_cmpint(w->errors, ==, 0);
  g_assert_true(k.requested);
  const char *rungs[] = {"720p", "480p", "360p"};
  for (unsigned i = 0; i < G_N_ELEMENTS(rungs); i++) {
    GArray *kf = keyframe_offsets(watch_get(w, rungs[i]));
    GString *list = g_string_new(NULL);
    unsigned scheduled = 0, extra = 0;
    for (guint k2 = 0; k2 < kf->len; k2++) {
      uint32_t rel = g_array_index(kf, uint32_t, k2);
      g_string_append_printf(list, " %u", rel);
      if (rel % 180000 == 0)
        scheduled++;
      else
        extra++;
    }
    g_test_message("%s keyframes at (90 kHz, from its first packet):%s", rungs[i], list->str);
    /* The collector starts at a scheduled keyframe (0 or 60); 120 is always in. */
    g_assert_cmpuint(scheduled, >=, 2);
    g_assert_cmpuint(extra, ==, strcmp(rungs[i], "480p") == 0 ? 1 : 0);
    g_string_free(list, TRUE);
    g_array_unref(kf);
  }
  lc_ladder_free(l);
  watch_free(w);
  lc_media_hub_free(hub);
  material_free(m);
}

static void
test_es_passthrough(void)
{
  material *m = make_es(1280, 720, 0, 75);
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "room2");
  watch *w = watch_new(room);
  lc_ladder_config cfg;
  default_config(&cfg);
  char *err = NULL;
  g_assert_cmpint(lc_ladder_parse_rungs("360p:640x360:600", &cfg, &err), ==, 0);
  cfg.passthrough = true;
  lc_ladder *l = lc_ladder_new("room2", room, LC_LADDER_INPUT_ES, &cfg, on_ladder_error, w, &err);
  g_assert_nonnull(l);
  push_es(l, m, w, "360p", NULL, NULL);
  /* "source" starts after 30 access units without reordering: 45 of the 75 remain. */
  static const want_aus want_out[] = {{"source", 40}, {"360p", 40}, {NULL, 0}};
  wait_aus(w, want_out);
  g_assert_cmpint(w->errors, ==, 0);
  lc_ladder_stats st;
  lc_ladder_get_stats(l, &st);
  g_assert_false(st.source_has_bframes);
  lc_rendition *src = lc_media_room_find(room, "source");
  g_assert_nonnull(src);
  lc_rendition_info info;
  lc_rendition_get_info(src, &info);
  g_assert_cmpint(info.width, ==, 1280);
  g_assert_cmpint(info.height, ==, 720);
  g_assert_cmpuint(info.payload_type, ==, 96);
  g_assert_true(g_str_has_prefix(info.fmtp, "packetization-mode=1;profile-level-id=64")); /* High */
  g_test_message("source fmtp %s, ~%d kbit/s", info.fmtp, info.bitrate_kbps);
  g_assert_cmpint(info.bitrate_kbps, >, 0);
  g_assert_false(lc_rendition_request_keyframe(src)); /* the publisher owns the source's GOP */
  collector *c = watch_get(w, "source");
  g_assert_nonnull(c);
  int dw, dh;
  int frames = decode_rtp(c, &dw, &dh);
  g_test_message("source: %u packets, %d frames at %dx%d", n_pkts(c), frames, dw, dh);
  g_assert_cmpint(frames, >, 10);
  g_assert_cmpint(dw, ==, 1280);
  g_assert_cmpint(dh, ==, 720);
  g_assert_cmpuint(n_pkts(watch_get(w, "360p")), >, 10);

  /* A second ladder on the same room (publisher reconnect) reuses the renditions: numbering goes on. */
  uint16_t last_seq;
  g_mutex_lock(&c->lock);
  last_seq = ((lc_pkt *)g_ptr_array_index(c->pkts, c->pkts->len - 1))->seq;
  guint before = c->pkts->len;
  g_mutex_unlock(&c->lock);
  lc_ladder_free(l);
  l = lc_ladder_new("room2", room, LC_LADDER_INPUT_ES, &cfg, on_ladder_error, w, &err);
  g_assert_nonnull(l);
  unsigned aus_before = n_aus(w, "source");
  push_es(l, m, w, "360p", NULL, NULL);
  const want_aus want_more[] = {{"source", aus_before + 1}, {NULL, 0}};
  wait_aus(w, want_more);
  g_assert_true(lc_media_room_find(room, "source") == src);
  g_mutex_lock(&c->lock);
  g_assert_cmpuint(c->pkts->len, >, before);
  g_assert_cmpuint(((lc_pkt *)g_ptr_array_index(c->pkts, before))->seq, ==, (uint16_t)(last_seq + 1));
  g_mutex_unlock(&c->lock);
  lc_ladder_free(l);
  watch_free(w);
  lc_media_hub_free(hub);
  material_free(m);
}

static void
test_ts_input(void)
{
  material *m = make_ts(640, 360, 60);
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "room3");
  watch *w = watch_new(room);
  lc_ladder_config cfg;
  default_config(&cfg);
  cfg.passthrough = true;
  char *err = NULL;
  lc_ladder *l = lc_ladder_new("room3", room, LC_LADDER_INPUT_TS, &cfg, on_ladder_error, w, &err);
  g_assert_nonnull(l);
  g_assert_cmpint(lc_ladder_push_video(l, (const uint8_t *)"x", 1, 0, 0, true), ==, LC_ESTATE);
  /* 2 s of TS paced by the 360p rung's output (h264parse counts the access units it sees);
   * chunks cut at odd sizes to test any slicing. */
  for (guint i = 0; i < m->ts->len; i++) {
    gsize n;
    const uint8_t *d = g_bytes_get_data(g_ptr_array_index(m->ts, i), &n);
    pace(w, l, "360p");
    for (gsize off = 0; off < n; off += 1000)
      g_assert_cmpint(lc_ladder_push_ts(l, d + off, MIN(1000, n - off)), ==, 0);
  }
  /* The TS's last frames may stay in tsdemux until more data comes: ask for less than 60. */
  static const want_aus want_out[] = {{"360p", 30}, {"opus", 25}, {"source", 20}, {NULL, 0}};
  wait_aus(w, want_out);
  g_assert_cmpint(w->errors, ==, 0);
  lc_ladder_stats st;
  lc_ladder_get_stats(l, &st);
  g_assert_cmpint(st.source_height, ==, 360);
  g_assert_null(lc_media_room_find(room, "720p"));
  g_assert_null(lc_media_room_find(room, "480p"));
  collector *c = watch_get(w, "360p");
  g_assert_nonnull(c);
  int dw, dh;
  int frames = decode_rtp(c, &dw, &dh);
  g_test_message("TS 360p: %u packets, %d frames at %dx%d; opus %u packets; source %u", n_pkts(c), frames, dw,
                 dh, n_pkts(watch_get(w, "opus")), n_pkts(watch_get(w, "source")));
  g_assert_cmpint(frames, >, 10);
  g_assert_cmpint(dw, ==, 640);
  g_assert_cmpuint(n_pkts(watch_get(w, "opus")), >, 20);
  g_assert_cmpuint(n_pkts(watch_get(w, "source")), >, 10); /* zerolatency source: no B-frames */
  lc_ladder_free(l);
  watch_free(w);
  lc_media_hub_free(hub);
  material_free(m);
}

static void
free_from_error(lc_ladder *l, const char *message, gpointer user)
{
  g_test_message("error (expected): %s", message);
  lc_ladder_free(l);
  *(int *)user = 1;
}

static bool
flag_set(watch *w, gpointer user)
{
  return *(int *)user != 0;
}

static void
test_error_and_bad_input(void)
{
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "room4");
  lc_ladder_config cfg;
  default_config(&cfg);
  char *err = NULL;
  lc_ladder_config bad = cfg;
  bad.keyframe_interval_ms = 5000;
  g_assert_null(lc_ladder_new("room4", room, LC_LADDER_INPUT_ES, &bad, NULL, NULL, &err));
  g_assert_nonnull(err);
  g_clear_pointer(&err, g_free);

  int failed = 0;
  lc_ladder *l = lc_ladder_new("room4", room, LC_LADDER_INPUT_ES, &cfg, free_from_error, &failed, &err);
  g_assert_nonnull(l);
  static const uint8_t bad_avcc[] = {2, 0x42, 0, 0x1f, 0xff, 0xe1, 0, 0};
  g_assert_cmpint(lc_ladder_set_video_config(l, bad_avcc, sizeof(bad_avcc)), ==, LC_EINVAL);
  g_assert_cmpint(lc_ladder_set_audio_config(l, (const uint8_t *)"\x00", 1), ==, LC_EINVAL);
  /* A record that parses but carries a garbage SPS: the pipeline fails -> on_error, which frees. */
  static const uint8_t junk_avcc[] = {1,    0x64, 0,    0x1f, 0xff, 0xe1, 0,    4,   0x67,
                                      0xff, 0xff, 0xff, 1,    0,    2,    0x68, 0xff};
  g_assert_cmpint(lc_ladder_set_video_config(l, junk_avcc, sizeof(junk_avcc)), ==, 0);
  static const uint8_t junk_au[] = {0, 0, 0, 6, 0x65, 0xff, 0xff, 0xff, 0xff, 0xff};
  g_assert_cmpint(lc_ladder_push_video(l, junk_au, 3, 0, 0, true), ==, LC_EINVAL); /* truncated */
  /* And an AudioSpecificConfig with a reserved sampling-frequency index. */
  static const uint8_t junk_asc[] = {0x17, 0x10};
  g_assert_cmpint(lc_ladder_set_audio_config(l, junk_asc, sizeof(junk_asc)), ==, 0);
  /* The error callback runs from the main context only (the bus watch), so l stays valid while
   * pushing; then wait for the error, or give up after 10 s (the decoders may tolerate junk). */
  for (int i = 0; i < 30; i++) {
    lc_ladder_push_video(l, junk_au, sizeof(junk_au), i * 33, 0, true);
    lc_ladder_push_audio(l, junk_au, sizeof(junk_au), i * 33);
  }
  watch *w = watch_new(room);
  if (!wait_until(w, flag_set, &failed, 10)) {
    g_test_message("the decoder tolerated the junk (no error posted)");
    lc_ladder_free(l);
  }
  watch_free(w);
  lc_media_hub_free(hub);
}

/* Runs the main context for ms: not to wait for anything, but to let the pipeline get to some
 * (unknown) point before it is freed. */
static void
run_main_for(int ms)
{
  int64_t end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time() < end) {
    while (g_main_context_iteration(NULL, FALSE))
      ;
    g_usleep(5000);
  }
}

/* Create/free cycles at different stages (no input, data in flight, after a while): leaks show
 * up in the ASan build's exit report, races as crashes. */
static void
test_create_free_loop(void)
{
  material *m = make_es(640, 360, 0, 8);
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "loop");
  lc_ladder_config cfg;
  default_config(&cfg);
  cfg.passthrough = true;
  for (int i = 0; i < 20; i++) {
    char *err = NULL;
    lc_ladder *l = lc_ladder_new("loop", room, i % 4 == 3 ? LC_LADDER_INPUT_TS : LC_LADDER_INPUT_ES, &cfg,
                                 NULL, NULL, &err);
    g_assert_nonnull(l);
    if (i % 4 != 3 && i % 2 == 0) {
      gsize n;
      const uint8_t *d = g_bytes_get_data(m->avcc, &n);
      lc_ladder_set_video_config(l, d, n);
      d = g_bytes_get_data(m->asc, &n);
      lc_ladder_set_audio_config(l, d, n);
      for (guint j = 0; j < m->video->len; j++) {
        es_au *v = &g_array_index(m->video, es_au, j);
        d = g_bytes_get_data(v->data, &n);
        lc_ladder_push_video(l, d, n, v->dts_ms, v->cts_ms, v->key);
      }
      for (guint j = 0; j < m->audio->len; j++) {
        es_au *a = &g_array_index(m->audio, es_au, j);
        d = g_bytes_get_data(a->data, &n);
        lc_ladder_push_audio(l, d, n, a->dts_ms);
      }
      run_main_for(i % 8 == 0 ? 150 : 20);
    }
    lc_ladder_free(l);
  }
  lc_media_hub_free(hub);
  material_free(m);
}

int
main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ladder/parse_rungs", test_parse_rungs);
  g_test_add_func("/ladder/es_bframes", test_es_bframes);
  g_test_add_func("/ladder/es_passthrough", test_es_passthrough);
  g_test_add_func("/ladder/keyframes_aligned", test_keyframes_aligned);
  g_test_add_func("/ladder/ts_input", test_ts_input);
  g_test_add_func("/ladder/error_and_bad_input", test_error_and_bad_input);
  g_test_add_func("/ladder/create_free_loop", test_create_free_loop);
  int rc = g_test_run();
  gst_deinit();
  return rc;
}

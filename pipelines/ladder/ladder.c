/* Transcode ladder: see ladder.h.
 *
 * Pipeline (one per room):
 *
 *   ES:  appsrc(avc) ----------------+
 *   TS:  appsrc(ts) ! tsdemux -------+-> h264parse config-interval=-1 ! capsfilter(avc,au) ! tee(stee)
 *   RTP: appsrc(rtp) ! rtpjitterbuffer ! rtph264depay -+   (WHIP: no audio branch, no "source" rung)
 *     stee ! queue ! avdec_h264 ! videoconvert ! identity name=overlay-hook ! tee(rtee)
 *       rtee ! queue leaky ! lcswscale ! capsfilter(WxH) ! x264enc ! capsfilter(constrained-baseline)
 *            ! rtph264pay ! appsink                                  (one branch per rung)
 *     stee ! queue ! rtph264pay ! appsink                            ("source", if cfg->passthrough)
 *   ES:  appsrc(aac raw) ---+
 *   TS:  tsdemux -----------+-> queue ! aacparse ! avdec_aac ! audioconvert ! audioresample
 *                              ! capsfilter(48 kHz stereo) ! opusenc ! rtpopuspay ! appsink
 *
 * Rungs and the source resolution. The rung branches are built when the first caps event reaches
 * rtee (a pad probe on its sink pad, in the decoder's streaming thread): at that moment the decoded
 * size is known, so only rungs with height <= source height are built and linked (if none
 * qualifies, the smallest rung is built anyway so the room still plays). The probe holds the caps
 * event until the branches are linked and synced to PLAYING, so they see it like every later
 * buffer. A later size change does not rebuild the ladder (the owner may rebuild it); it is
 * logged. Building lazily rather than building everything and unlinking means a skipped rung costs
 * nothing and never shows up as a rendition in the room.
 *
 * The "source" rung and B-frames. A probe on h264parse's output compares each access unit's PTS
 * and DTS: a stream with B-frames has PTS != DTS on (almost) every frame (in the ES front-end, that
 * is RTMP's composition time offset cts != 0; in TS, PES headers carrying a DTS different from the
 * PTS). After DECIDE_AUS access units (1 s at 30 fps) without reordering the stream is taken as
 * B-frame free and
 * the "source" rendition is created (info: source size, profile-level-id from its SPS); its branch
 * exists from the start (a queue and a payloader, cheap) and its appsink drops everything until
 * then. If reordering shows up later, the source rendition stops (not live) for the ladder's life.
 * The source rung cannot honour keyframe requests (the publisher decides its GOP), so it sets no
 * keyframe function.
 *
 * Renditions are created (or reused by name from the room, with lc_rendition_discontinuity) when
 * their branch starts producing: video rungs when built, "source" when decided, "opus" at its first
 * packet. Keyframe flags: a probe on each payloader's sink pad marks the start of an access unit and
 * whether it lacks GST_BUFFER_FLAG_DELTA_UNIT; the first RTP packet the payloader then produces (same
 * thread, no queue in between) carries the flag. Audio packets are all keyframes.
 *
 * x264 rungs are constrained baseline (the capsfilter after x264enc asks for it: no CABAC, no 8x8,
 * no B-frames), so every browser decodes them whatever H.264 profile it negotiated; their fmtp
 * says profile-level-id=42e01f (level 3.1) with level-asymmetry-allowed=1, which lets receivers take
 * the higher levels of the 1080p rung.
 *
 * Latency (for the benchmark): the push time of each ES video access unit is remembered by its
 * running time; when the first RTP packet of a rung's frame with the same running time leaves the
 * payloader, push-to-packet latency is recorded (bounded sample ring; lc_ladder_get_stats). */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder.h"
#include "ladder/swscale.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"

#define DECIDE_AUS 30               /* access units seen before "no B-frames" is decided */
#define MAX_AU_BYTES (16u << 20)    /* one access unit */
#define MAX_VIDEO_QUEUE_BUFFERS 90u /* appsrc queues: beyond this, drop (counted) */
#define MAX_AUDIO_QUEUE_BUFFERS 200u
#define MAX_TS_QUEUE_BYTES (8u << 20)
#define MAX_TS_CHUNK (4u << 20)
#define TS_OFFSET_MS 1000 /* ES timestamps start at 1 s (audio may precede video) */
#define LAT_MAP 256
#define LAT_SAMPLES 4096

static const char kX264Fmtp[] = "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1";

typedef struct rung rung;
struct rung {
  lc_ladder *l;
  lc_ladder_rung def;
  bool source, audio;
  GstElement *enc; /* x264enc of a video rung (keyframe requests) */
  lc_rendition *r; /* atomic pointer; NULL until the rendition exists (owned ref) */
  gint enabled;    /* atomic; the source rung turns off if B-frames appear */
  /* Streaming thread of the branch: */
  bool au_start, au_key;
  GstClockTime au_rt; /* running time of the access unit being payloaded */
};

struct lc_ladder {
  char *room_id;
  lc_media_room *media; /* ref */
  lc_ladder_input input;
  lc_ladder_config cfg;
  lc_ladder_error_cb on_error;
  gpointer user;

  GstElement *pipeline;
  GstBus *bus;
  guint bus_watch;
  GstElement *vsrc, *asrc, *tssrc; /* appsrcs of the front-end */
  GstElement *vparse, *aq;         /* where tsdemux pads go */
  GstElement *rtee;

  GMutex lock;           /* rungs, renditions, rungs_built, src_codec */
  GPtrArray *rungs;      /* rung * (owned) */
  GPtrArray *renditions; /* lc_rendition * (owned refs) this ladder produces into */
  bool rungs_built;
  int built_w, built_h;
  uint8_t src_codec[3]; /* profile_idc, constraints, level_idc from the source's avcC */
  bool have_src_codec;
  rung *source_rung; /* or NULL */
  rung *audio_rung;

  /* Producer thread (ES/TS push): */
  bool have_vconfig, have_aconfig, video_wait_kf, have_base;
  unsigned nal_len_size;
  int64_t base_ms;
  GstCaps *vcaps, *acaps;

  /* tsdemux streaming thread: */
  bool ts_video_linked, ts_audio_linked;

  /* h264parse streaming thread (atomics readable anywhere): */
  gint n_aus, reorder, decided;
  uint64_t win_bytes; /* bytes of the decision window (source bitrate estimate) */
  GstClockTime win_first, win_last;
  gint src_w, src_h;

  uint64_t video_in, audio_in, dropped_in; /* __atomic */

  /* RTP front-end: the rendition it reads (a ref) and its subscription (main thread); the
   * sequence check runs under rtp_lock (the backlog is pushed from the main thread while the
   * producer's thread may already call the sink). */
  GstElement *rtpsrc;
  lc_rendition *rtp_in;
  unsigned rtp_sub;
  GMutex rtp_lock;
  uint16_t rtp_next_seq;
  bool rtp_have_seq;

  GMutex lat_lock;
  struct {
    GstClockTime rt;
    int64_t push_us;
  } lat_map[LAT_MAP];
  unsigned lat_map_next;
  int64_t *lat_samples; /* microseconds, ring */
  unsigned lat_n, lat_next;
};

/* ---------------------------------------------------------------------------------------------- */
/* Configuration */

static bool
valid_name(const char *s)
{
  if (!s[0])
    return false;
  for (const char *p = s; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      return false;
  }
  return true;
}

int
lc_ladder_parse_rungs(const char *spec, lc_ladder_config *cfg, char **err)
{
  if (!spec || !cfg) {
    lc_error_set(err, "ladder.rungs", "missing");
    return LC_EINVAL;
  }
  lc_ladder_rung out[G_N_ELEMENTS(cfg->rungs)];
  unsigned n = 0;
  char **items = g_strsplit(spec, ",", -1);
  int rc = 0;
  for (char **it = items; *it; it++) {
    char *item = g_strstrip(*it);
    if (!item[0])
      continue;
    if (n == G_N_ELEMENTS(out)) {
      lc_error_set(err, "ladder.rungs", "at most %u rungs", (unsigned)G_N_ELEMENTS(out));
      rc = LC_EINVAL;
      break;
    }
    char name[64];
    int w = 0, h = 0, kbps = 0, used = 0;
    if (sscanf(item, "%63[^:]:%dx%d:%d%n", name, &w, &h, &kbps, &used) != 4 || item[used] != '\0') {
      lc_error_set(err, "ladder.rungs", "'%s' is not name:WIDTHxHEIGHT:KBPS (e.g. 720p:1280x720:2500)", item);
      rc = LC_EINVAL;
      break;
    }
    g_strstrip(name);
    if (strlen(name) >= sizeof(out[0].name) || !valid_name(name) || strcmp(name, "source") == 0 ||
        strcmp(name, "opus") == 0) {
      lc_error_set(err, "ladder.rungs", "bad rung name '%s' (1-15 of [A-Za-z0-9_-], not source/opus)", name);
      rc = LC_EINVAL;
      break;
    }
    if (w < 16 || h < 16 || w > 4096 || h > 4096 || (w & 1) || (h & 1)) {
      lc_error_set(err, "ladder.rungs", "rung %s: size %dx%d must be even and within 16..4096", name, w, h);
      rc = LC_EINVAL;
      break;
    }
    if (kbps < 50 || kbps > 50000) {
      lc_error_set(err, "ladder.rungs", "rung %s: bitrate %d kbit/s not within 50..50000", name, kbps);
      rc = LC_EINVAL;
      break;
    }
    for (unsigned i = 0; i < n; i++) {
      if (strcmp(out[i].name, name) == 0) {
        lc_error_set(err, "ladder.rungs", "rung %s appears twice", name);
        rc = LC_EINVAL;
      }
    }
    if (rc)
      break;
    memset(&out[n], 0, sizeof(out[n]));
    g_strlcpy(out[n].name, name, sizeof(out[n].name));
    out[n].width = w;
    out[n].height = h;
    out[n].bitrate_kbps = kbps;
    n++;
  }
  g_strfreev(items);
  if (rc == 0 && n == 0) {
    lc_error_set(err, "ladder.rungs", "no rung given");
    rc = LC_EINVAL;
  }
  if (rc == 0) {
    memcpy(cfg->rungs, out, n * sizeof(out[0]));
    cfg->n_rungs = n;
  }
  return rc;
}

/* Fills defaults and checks ranges. */
static int
check_config(const lc_ladder_config *in, lc_ladder_config *c, char **err)
{
  *c = *in;
  if (c->n_rungs > G_N_ELEMENTS(c->rungs)) {
    lc_error_set(err, "ladder", "at most %u rungs", (unsigned)G_N_ELEMENTS(c->rungs));
    return LC_EINVAL;
  }
  if (c->n_rungs == 0 && !c->passthrough) {
    lc_error_set(err, "ladder", "no rung and no passthrough: nothing to produce");
    return LC_EINVAL;
  }
  for (unsigned i = 0; i < c->n_rungs; i++) {
    lc_ladder_rung *g = &c->rungs[i];
    g->name[sizeof(g->name) - 1] = '\0';
    if (!valid_name(g->name) || g->width < 16 || g->height < 16 || g->width > 4096 || g->height > 4096 ||
        g->bitrate_kbps < 50 || g->bitrate_kbps > 50000) {
      lc_error_set(err, "ladder", "rung %u ('%s' %dx%d %d kbit/s) is invalid", i, g->name, g->width,
                   g->height, g->bitrate_kbps);
      return LC_EINVAL;
    }
  }
  if (c->keyframe_interval_ms == 0)
    c->keyframe_interval_ms = 2000;
  if (c->keyframe_interval_ms > 2000 || c->keyframe_interval_ms < 100) {
    lc_error_set(err, "ladder", "keyframe_interval_ms %u not within 100..2000", c->keyframe_interval_ms);
    return LC_EINVAL;
  }
  c->x264_preset[sizeof(c->x264_preset) - 1] = '\0';
  if (!c->x264_preset[0])
    g_strlcpy(c->x264_preset, "veryfast", sizeof(c->x264_preset));
  if (c->audio_bitrate == 0)
    c->audio_bitrate = 64000;
  if (c->audio_bitrate < 6000 || c->audio_bitrate > 510000) {
    lc_error_set(err, "ladder", "audio_bitrate %d not within 6000..510000", c->audio_bitrate);
    return LC_EINVAL;
  }
  if (c->cache_ms == 0)
    c->cache_ms = 2000;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Renditions */

/* The room's rendition of that name, reused (discontinuity) or created. l->lock held. */
static lc_rendition *
attach_rendition(lc_ladder *l, const lc_rendition_info *info)
{
  lc_rendition *r = lc_media_room_find(l->media, info->name);
  if (r) {
    lc_rendition_info old;
    lc_rendition_get_info(r, &old);
    if (old.kind != info->kind || old.clock_rate != info->clock_rate)
      r = NULL; /* a different kind under the same name: replace it */
  }
  if (r) {
    lc_rendition_ref(r);
    lc_rendition_discontinuity(r);
    lc_rendition_set_size(r, info->width, info->height);
  } else {
    r = lc_rendition_new(info, l->cfg.cache_ms);
    lc_media_room_add(l->media, r);
  }
  lc_rendition_set_keyframe_throttle(r, l->cfg.keyframe_throttle_ms);
  lc_rendition_set_live(r, true);
  g_ptr_array_add(l->renditions, lc_rendition_ref(r));
  return r; /* transfer full */
}

static void
rung_keyframe(lc_rendition *r, gpointer user)
{
  rung *g = user;
  GstPad *pad = gst_element_get_static_pad(g->enc, "src");
  if (pad) {
    /* all-headers FALSE: rtph264pay already puts SPS/PPS in front of every IDR
     * (config-interval=-1). With TRUE, the encoder's downstream force-key-unit event made the
     * payloader send the parameter sets as a packet of their own with the marker bit set, ahead of
     * the IDR with the same timestamp: Chromium decoded an SPS/PPS-only frame, failed and sent
     * a PLI, which forced the next keyframe (a PLI loop; tests: test_media marker test). */
    gst_pad_send_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, FALSE, 0));
    gst_object_unref(pad);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Latency bookkeeping */

static void
lat_note_push(lc_ladder *l, GstClockTime rt)
{
  g_mutex_lock(&l->lat_lock);
  l->lat_map[l->lat_map_next % LAT_MAP].rt = rt;
  l->lat_map[l->lat_map_next % LAT_MAP].push_us = g_get_monotonic_time();
  l->lat_map_next++;
  g_mutex_unlock(&l->lat_lock);
}

static void
lat_note_out(lc_ladder *l, GstClockTime rt)
{
  if (!GST_CLOCK_TIME_IS_VALID(rt))
    return;
  int64_t now = g_get_monotonic_time();
  g_mutex_lock(&l->lat_lock);
  for (unsigned i = 0; i < LAT_MAP; i++) {
    if (l->lat_map[i].push_us && l->lat_map[i].rt == rt) {
      l->lat_samples[l->lat_next] = now - l->lat_map[i].push_us;
      l->lat_next = (l->lat_next + 1) % LAT_SAMPLES;
      if (l->lat_n < LAT_SAMPLES)
        l->lat_n++;
      break;
    }
  }
  g_mutex_unlock(&l->lat_lock);
}

/* ---------------------------------------------------------------------------------------------- */
/* Branch outputs */

static GstFlowReturn
on_rtp_sample(GstAppSink *sink, gpointer user)
{
  rung *g = user;
  GstSample *s = gst_app_sink_pull_sample(sink);
  if (!s)
    return GST_FLOW_OK;
  GstBuffer *b = gst_sample_get_buffer(s);
  lc_rendition *r = g_atomic_pointer_get(&g->r);
  if (g->audio && !r && b) {
    lc_rendition_info info = {.kind = LC_MEDIA_AUDIO,
                              .clock_rate = 48000,
                              .payload_type = LC_MEDIA_PT_OPUS,
                              .channels = 2,
                              .bitrate_kbps = g->l->cfg.audio_bitrate / 1000};
    g_strlcpy(info.name, "opus", sizeof(info.name));
    g_mutex_lock(&g->l->lock);
    r = attach_rendition(g->l, &info);
    g_atomic_pointer_set(&g->r, r);
    g_mutex_unlock(&g->l->lock);
  }
  GstMapInfo mi;
  if (b && r && g_atomic_int_get(&g->enabled) && gst_buffer_map(b, &mi, GST_MAP_READ)) {
    bool kf = g->audio || (g->au_start && g->au_key);
    bool first = g->au_start;
    g->au_start = false;
    lc_rendition_push_rtp(r, mi.data, mi.size, kf);
    gst_buffer_unmap(b, &mi);
    if (first && !g->audio && !g->source)
      lat_note_out(g->l, g->au_rt);
  }
  gst_sample_unref(s);
  return GST_FLOW_OK;
}

/* Payloader sink pad: an access unit starts. */
static GstPadProbeReturn
pay_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  rung *g = user;
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
  g->au_start = true;
  g->au_key = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
  g->au_rt = GST_CLOCK_TIME_NONE;
  GstEvent *seg_ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (seg_ev) {
    const GstSegment *seg;
    gst_event_parse_segment(seg_ev, &seg);
    if (seg->format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID(b))
      g->au_rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(b));
    gst_event_unref(seg_ev);
  }
  return GST_PAD_PROBE_OK;
}

static GstElement *
make(const char *factory, const char *name, char **err)
{
  GstElement *e = gst_element_factory_make(factory, name);
  if (!e)
    lc_error_set(err, "ladder", "GStreamer element '%s' is not installed (gstreamer1.0-plugins-*/-libav)",
                 factory);
  return e;
}

static rung *
rung_new(lc_ladder *l, const lc_ladder_rung *def, bool source, bool audio)
{
  rung *g = g_new0(rung, 1);
  g->l = l;
  if (def)
    g->def = *def;
  g->source = source;
  g->audio = audio;
  g->enabled = 1;
  g->au_rt = GST_CLOCK_TIME_NONE;
  return g;
}

static void
rung_free(rung *g)
{
  lc_rendition_unref(g->r);
  g_free(g);
}

static GstElement *
make_appsink(rung *g, const char *name)
{
  GstElement *sink = gst_element_factory_make("appsink", name);
  if (!sink)
    return NULL;
  g_object_set(sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, "max-buffers", 64u, "drop",
               TRUE, NULL);
  GstAppSinkCallbacks cb = {.new_sample = on_rtp_sample};
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, g, NULL);
  return sink;
}

static GstElement *
make_h264pay(rung *g, const char *name)
{
  GstElement *pay = gst_element_factory_make("rtph264pay", name);
  if (!pay)
    return NULL;
  g_object_set(pay, "mtu", 1200u, "config-interval", -1, "pt", (guint)LC_MEDIA_PT_H264, NULL);
  gst_util_set_object_arg(G_OBJECT(pay), "aggregate-mode", "zero-latency");
  GstPad *sinkpad = gst_element_get_static_pad(pay, "sink");
  gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, pay_probe, g, NULL);
  gst_object_unref(sinkpad);
  return pay;
}

/* Builds one x264 rung and links it to rtee. Streaming thread (rtee caps probe), l->lock held. */
static int
build_video_rung(lc_ladder *l, const lc_ladder_rung *def, int fps_n, int fps_d, char **err)
{
  rung *g = rung_new(l, def, false, false);
  char n[64];
  GstElement *q = NULL, *scale = NULL, *cf = NULL, *enc = NULL, *pcf = NULL, *pay = NULL, *sink = NULL;
#define MK(var, factory, prefix)                                                                             \
  g_snprintf(n, sizeof(n), prefix "-%s", def->name);                                                         \
  if (!(var = make(factory, n, err)))                                                                        \
    goto fail;
  MK(q, "queue", "q");
  /* libswscale (see swscale.h for why not videoscale); LC_LADDER_SCALER=videoscale compares. */
  const char *scaler = g_getenv("LC_LADDER_SCALER") ? g_getenv("LC_LADDER_SCALER") : "lcswscale";
  if (strcmp(scaler, "videoscale") != 0)
    scaler = "lcswscale";
  MK(scale, scaler, "scale");
  MK(cf, "capsfilter", "size");
  MK(enc, "x264enc", "enc");
  MK(pcf, "capsfilter", "profile");
#undef MK
  g_snprintf(n, sizeof(n), "pay-%s", def->name);
  pay = make_h264pay(g, n);
  g_snprintf(n, sizeof(n), "sink-%s", def->name);
  sink = make_appsink(g, n);
  if (!pay || !sink) {
    lc_error_set(err, "ladder", "rtph264pay/appsink missing");
    goto fail;
  }
  /* Leaky: an encoder that falls behind loses raw frames, never delays the others. */
  g_object_set(q, "max-size-buffers", 2u, "max-size-bytes", 0u, "max-size-time", (guint64)0, NULL);
  gst_util_set_object_arg(G_OBJECT(q), "leaky", "downstream");
  GstCaps *caps = gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, def->width, "height", G_TYPE_INT,
                                      def->height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set(cf, "caps", caps, NULL);
  gst_caps_unref(caps);
  unsigned fps = (fps_n > 0 && fps_d > 0) ? (unsigned)((fps_n + fps_d - 1) / fps_d) : 30;
  unsigned kint = fps * l->cfg.keyframe_interval_ms / 1000;
  g_object_set(enc, "bframes", 0u, "key-int-max", MAX(kint, 1u), "bitrate", (guint)def->bitrate_kbps, NULL);
  gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
  gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", l->cfg.x264_preset);
  caps = gst_caps_from_string("video/x-h264,stream-format=avc,alignment=au,profile=constrained-baseline");
  g_object_set(pcf, "caps", caps, NULL);
  gst_caps_unref(caps);
  g->enc = enc;

  gst_bin_add_many(GST_BIN(l->pipeline), q, scale, cf, enc, pcf, pay, sink, NULL);
  GstElement *owned[] = {q, scale, cf, enc, pcf, pay, sink};
  q = scale = cf = enc = pcf = pay = sink = NULL; /* the bin owns them */
  if (!gst_element_link_many(owned[0], owned[1], owned[2], owned[3], owned[4], owned[5], owned[6], NULL)) {
    lc_error_set(err, "ladder", "rung %s: cannot link its branch", def->name);
    goto fail_in_bin;
  }
  for (int i = G_N_ELEMENTS(owned) - 1; i >= 0; i--)
    gst_element_sync_state_with_parent(owned[i]);
  GstPad *tpad = gst_element_request_pad_simple(l->rtee, "src_%u");
  GstPad *qpad = gst_element_get_static_pad(owned[0], "sink");
  GstPadLinkReturn lr = gst_pad_link(tpad, qpad);
  gst_object_unref(qpad);
  gst_object_unref(tpad);
  if (lr != GST_PAD_LINK_OK) {
    lc_error_set(err, "ladder", "rung %s: cannot link to the tee", def->name);
    goto fail_in_bin;
  }

  lc_rendition_info info = {.kind = LC_MEDIA_VIDEO,
                            .clock_rate = 90000,
                            .payload_type = LC_MEDIA_PT_H264,
                            .width = def->width,
                            .height = def->height,
                            .bitrate_kbps = def->bitrate_kbps};
  g_strlcpy(info.name, def->name, sizeof(info.name));
  g_strlcpy(info.fmtp, kX264Fmtp, sizeof(info.fmtp));
  lc_rendition *r = attach_rendition(l, &info);
  g_atomic_pointer_set(&g->r, r);
  lc_rendition_set_keyframe_fn(r, rung_keyframe, g);
  g_ptr_array_add(l->rungs, g);
  return 0;

fail:
  g_clear_pointer(&q, gst_object_unref);
  g_clear_pointer(&scale, gst_object_unref);
  g_clear_pointer(&cf, gst_object_unref);
  g_clear_pointer(&enc, gst_object_unref);
  g_clear_pointer(&pcf, gst_object_unref);
  g_clear_pointer(&pay, gst_object_unref);
  g_clear_pointer(&sink, gst_object_unref);
  rung_free(g);
  return LC_EINVAL;
fail_in_bin:
  /* The elements stay in the (failing) pipeline and go with it; the rung was never published. */
  g_ptr_array_add(l->rungs, g); /* freed with the ladder: its appsink may still call back */
  return LC_EINVAL;
}

/* rtee sink pad: build the rungs when the decoded size is first known. */
static GstPadProbeReturn
rtee_caps_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps(ev, &caps);
  const GstStructure *st = gst_caps_get_structure(caps, 0);
  int w = 0, h = 0, fn = 0, fd = 1;
  gst_structure_get_int(st, "width", &w);
  gst_structure_get_int(st, "height", &h);
  gst_structure_get_fraction(st, "framerate", &fn, &fd);
  g_mutex_lock(&l->lock);
  if (l->rungs_built) {
    if (w != l->built_w || h != l->built_h)
      LC_WARN(l->room_id, NULL, "source size changed %dx%d -> %dx%d: rungs kept as built", l->built_w,
              l->built_h, w, h);
    g_mutex_unlock(&l->lock);
    return GST_PAD_PROBE_OK;
  }
  l->rungs_built = true;
  l->built_w = w;
  l->built_h = h;
  int smallest = -1, built = 0;
  for (unsigned i = 0; i < l->cfg.n_rungs; i++) {
    const lc_ladder_rung *def = &l->cfg.rungs[i];
    if (smallest < 0 || def->height < l->cfg.rungs[smallest].height)
      smallest = (int)i;
  }
  for (unsigned i = 0; i <= l->cfg.n_rungs; i++) {
    const lc_ladder_rung *def;
    if (i < l->cfg.n_rungs) {
      def = &l->cfg.rungs[i];
      if (def->height > h) {
        LC_INFO(l->room_id, NULL, "rung %s skipped: source is %dx%d", def->name, w, h);
        continue;
      }
    } else {
      if (built > 0 || smallest < 0)
        break;
      def = &l->cfg.rungs[smallest]; /* the source is below every rung: still produce the smallest */
    }
    char *err = NULL;
    if (build_video_rung(l, def, fn, fd, &err) == 0) {
      built++;
      LC_INFO(l->room_id, NULL, "rung %s: %dx%d %d kbit/s from %dx%d", def->name, def->width, def->height,
              def->bitrate_kbps, w, h);
    } else {
      LC_ERROR(l->room_id, NULL, "%s", err);
      GST_ELEMENT_ERROR(l->pipeline, CORE, NEGOTIATION, ("%s", err), (NULL));
    }
    g_free(err);
  }
  g_mutex_unlock(&l->lock);
  return GST_PAD_PROBE_OK;
}

/* h264parse output: source size, SPS profile, B-frame detection, the "source" rung decision. */
static GstPadProbeReturn
vparse_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps(ev, &caps);
      const GstStructure *st = gst_caps_get_structure(caps, 0);
      int w = 0, h = 0;
      if (gst_structure_get_int(st, "width", &w) && gst_structure_get_int(st, "height", &h)) {
        g_atomic_int_set(&l->src_w, w);
        g_atomic_int_set(&l->src_h, h);
        if (l->rtp_in) /* the WHIP publisher's rendition learns its size here (media.status) */
          lc_rendition_set_size(l->rtp_in, w, h);
      }
      const GValue *cd = gst_structure_get_value(st, "codec_data");
      if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
        GstBuffer *b = gst_value_get_buffer(cd);
        uint8_t rec[4];
        if (gst_buffer_extract(b, 0, rec, 4) == 4 && rec[0] == 1) {
          g_mutex_lock(&l->lock);
          memcpy(l->src_codec, rec + 1, 3);
          l->have_src_codec = true;
          g_mutex_unlock(&l->lock);
        }
      }
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!b)
    return GST_PAD_PROBE_OK;
  if (l->input != LC_LADDER_INPUT_ES) /* the ES front-end counts what it is pushed */
    __atomic_add_fetch(&l->video_in, 1, __ATOMIC_RELAXED);
  bool reorder =
      GST_BUFFER_PTS_IS_VALID(b) && GST_BUFFER_DTS_IS_VALID(b) && GST_BUFFER_PTS(b) != GST_BUFFER_DTS(b);
  int n = g_atomic_int_add(&l->n_aus, 1) + 1;
  GstClockTime dts = GST_BUFFER_DTS_IS_VALID(b) ? GST_BUFFER_DTS(b) : GST_BUFFER_PTS(b);
  if (n == 1)
    l->win_first = dts;
  l->win_last = dts;
  l->win_bytes += gst_buffer_get_size(b);
  if (reorder && !g_atomic_int_get(&l->reorder)) {
    g_atomic_int_set(&l->reorder, 1);
    LC_INFO(l->room_id, NULL, "source has B-frames (PTS != DTS): no passthrough rung");
    rung *s = l->source_rung;
    if (s && g_atomic_int_get(&s->enabled)) {
      g_atomic_int_set(&s->enabled, 0);
      lc_rendition *r = g_atomic_pointer_get(&s->r);
      if (r)
        lc_rendition_set_live(r, false);
    }
  }
  if (!g_atomic_int_get(&l->decided) && (reorder || n >= DECIDE_AUS)) {
    g_atomic_int_set(&l->decided, 1);
    if (!reorder && l->source_rung) {
      g_mutex_lock(&l->lock);
      lc_rendition_info ri = {.kind = LC_MEDIA_VIDEO,
                              .clock_rate = 90000,
                              .payload_type = LC_MEDIA_PT_H264,
                              .width = g_atomic_int_get(&l->src_w),
                              .height = g_atomic_int_get(&l->src_h)};
      g_strlcpy(ri.name, "source", sizeof(ri.name));
      /* Bitrate over the window (it holds the first keyframe, so a little high): it orders the
       * room's renditions and guides the viewers' rung choice; 0 would rank it lowest. */
      if (GST_CLOCK_TIME_IS_VALID(l->win_first) && GST_CLOCK_TIME_IS_VALID(l->win_last) &&
          l->win_last > l->win_first) {
        GstClockTime span = (l->win_last - l->win_first) / (GstClockTime)(n - 1) * (GstClockTime)n;
        ri.bitrate_kbps = (int)MIN(l->win_bytes * 8 * GST_MSECOND / span, (uint64_t)G_MAXINT);
      }
      if (l->have_src_codec)
        g_snprintf(ri.fmtp, sizeof(ri.fmtp),
                   "packetization-mode=1;profile-level-id=%02x%02x%02x;level-asymmetry-allowed=1",
                   l->src_codec[0], l->src_codec[1], l->src_codec[2]);
      else
        g_strlcpy(ri.fmtp, kX264Fmtp, sizeof(ri.fmtp));
      lc_rendition *r = attach_rendition(l, &ri);
      g_atomic_pointer_set(&l->source_rung->r, r);
      g_mutex_unlock(&l->lock);
      LC_INFO(l->room_id, NULL, "source has no B-frames: passthrough rung 'source' %dx%d ~%d kbit/s",
              ri.width, ri.height, ri.bitrate_kbps);
    }
  }
  return GST_PAD_PROBE_OK;
}

/* tsdemux: link the first H.264 and the first AAC stream; anything else goes to a fakesink. */
static void
on_demux_pad(GstElement *demux, GstPad *pad, gpointer user)
{
  lc_ladder *l = user;
  GstCaps *caps = gst_pad_get_current_caps(pad);
  if (!caps)
    caps = gst_pad_query_caps(pad, NULL);
  const char *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  GstElement *target = NULL;
  int mpegversion = 0;
  if (g_str_equal(media, "video/x-h264") && !l->ts_video_linked) {
    target = l->vparse;
    l->ts_video_linked = true;
  } else if (g_str_equal(media, "audio/mpeg") && !l->ts_audio_linked &&
             gst_structure_get_int(gst_caps_get_structure(caps, 0), "mpegversion", &mpegversion) &&
             mpegversion != 1) {
    target = l->aq;
    l->ts_audio_linked = true;
  }
  if (target) {
    GstPad *sinkpad = gst_element_get_static_pad(target, "sink");
    if (gst_pad_link(pad, sinkpad) != GST_PAD_LINK_OK)
      LC_WARN(l->room_id, NULL, "cannot link the TS %s stream", media);
    gst_object_unref(sinkpad);
  } else {
    LC_INFO(l->room_id, NULL, "TS stream %s ignored", media);
    GstElement *fs = gst_element_factory_make("fakesink", NULL);
    g_object_set(fs, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add(GST_BIN(l->pipeline), fs);
    gst_element_sync_state_with_parent(fs);
    GstPad *sinkpad = gst_element_get_static_pad(fs, "sink");
    gst_pad_link(pad, sinkpad);
    gst_object_unref(sinkpad);
  }
  gst_caps_unref(caps);
}

static gboolean
on_bus(GstBus *bus, GstMessage *msg, gpointer user)
{
  lc_ladder *l = user;
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ERROR: {
    GError *e = NULL;
    char *dbg = NULL;
    gst_message_parse_error(msg, &e, &dbg);
    char *text = g_strdup_printf("%s: %s", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), e ? e->message : "error");
    LC_ERROR(l->room_id, NULL, "pipeline error: %s (%s)", text, dbg ? dbg : "");
    g_clear_error(&e);
    g_free(dbg);
    lc_ladder_error_cb cb = l->on_error;
    gpointer cb_user = l->user;
    if (cb)
      cb(l, text, cb_user); /* may free l: touch nothing after this */
    g_free(text);
    return G_SOURCE_CONTINUE;
  }
  case GST_MESSAGE_WARNING: {
    GError *e = NULL;
    gst_message_parse_warning(msg, &e, NULL);
    LC_WARN(l->room_id, NULL, "pipeline warning: %s: %s", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
            e ? e->message : "");
    g_clear_error(&e);
    break;
  }
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Construction */

/* Counts the TS front-end's audio frames (aq's input). */
static GstPadProbeReturn
audio_in_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  __atomic_add_fetch(&l->audio_in, 1, __ATOMIC_RELAXED);
  return GST_PAD_PROBE_OK;
}

/* RTP front-end: appsrc(RTP H.264, arrival time stamps) ! rtpjitterbuffer ! rtph264depay ! vparse.
 * The jitter buffer puts reordered packets back in order and turns the RTP timestamps into a
 * steady timeline (50 ms: WHIP publishers are near; a lost packet costs a keyframe request,
 * see rtp_sink). No audio: the publisher's Opus is already the room's audio rendition. */
static int
build_rtp_front_end(lc_ladder *l, GstElement *vparse, char **err)
{
  GstElement *src = make("appsrc", "rtpsrc", err);
  GstElement *jb = src ? make("rtpjitterbuffer", "rtpjb", err) : NULL;
  GstElement *depay = jb ? make("rtph264depay", "rtpdepay", err) : NULL;
  if (!src || !jb || !depay) {
    GstElement *all[] = {src, jb, depay};
    for (unsigned i = 0; i < G_N_ELEMENTS(all); i++)
      if (all[i])
        gst_object_unref(gst_object_ref_sink(all[i]));
    return LC_EINVAL;
  }
  GstCaps *caps = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video", "clock-rate",
                                      G_TYPE_INT, 90000, "encoding-name", G_TYPE_STRING, "H264", "payload",
                                      G_TYPE_INT, LC_MEDIA_PT_H264, NULL);
  g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE, "block", FALSE, "caps",
               caps, "max-bytes", (guint64)0, NULL);
  gst_caps_unref(caps);
  g_object_set(jb, "latency", 50u, NULL);
  gst_bin_add_many(GST_BIN(l->pipeline), src, jb, depay, NULL);
  l->rtpsrc = src;
  if (!gst_element_link_many(src, jb, depay, vparse, NULL)) {
    lc_error_set(err, "ladder", "cannot link the RTP front-end");
    return LC_EINVAL;
  }
  return 0;
}

static int
build_pipeline(lc_ladder *l, char **err)
{
  GstElement *p = l->pipeline;
  GstElement *vparse = NULL, *vcf = NULL, *stee = NULL, *dq = NULL, *dec = NULL, *conv = NULL, *hook = NULL,
             *rtee = NULL;
  GstElement *aq = NULL, *aparse = NULL, *adec = NULL, *aconv = NULL, *ares = NULL, *acf = NULL, *opus = NULL,
             *opay = NULL, *asink = NULL;
  if (!(vparse = make("h264parse", "vparse", err)) || !(vcf = make("capsfilter", "vcaps", err)) ||
      !(stee = make("tee", "stee", err)) || !(dq = make("queue", "decq", err)) ||
      !(dec = make("avdec_h264", "vdec", err)) || !(conv = make("videoconvert", "vconv", err)) ||
      !(hook = make("identity", "overlay-hook", err)) || !(rtee = make("tee", "rtee", err)) ||
      !(aq = make("queue", "aq", err)) || !(aparse = make("aacparse", "aparse", err)) ||
      !(adec = make("avdec_aac", "adec", err)) || !(aconv = make("audioconvert", "aconv", err)) ||
      !(ares = make("audioresample", "ares", err)) || !(acf = make("capsfilter", "acaps", err)) ||
      !(opus = make("opusenc", "opusenc", err)) || !(opay = make("rtpopuspay", "opay", err)))
    goto fail;
  l->audio_rung = rung_new(l, NULL, false, true);
  g_ptr_array_add(l->rungs, l->audio_rung);
  if (!(asink = make_appsink(l->audio_rung, "sink-opus"))) {
    lc_error_set(err, "ladder", "appsink missing");
    goto fail;
  }
  g_object_set(vparse, "config-interval", -1, NULL);
  GstCaps *caps = gst_caps_from_string("video/x-h264,stream-format=avc,alignment=au");
  g_object_set(vcf, "caps", caps, NULL);
  gst_caps_unref(caps);
  g_object_set(stee, "allow-not-linked", TRUE, NULL);
  g_object_set(rtee, "allow-not-linked", TRUE, NULL);
  /* The decoder queue absorbs bursts (a keyframe); it does not leak: dropping compressed frames
   * would corrupt the picture until the next keyframe. Overload shows up as appsrc drops. */
  g_object_set(dq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
               NULL);
  g_object_set(aq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
               NULL);
  /* Slice threads only: frame threading adds a frame of delay per thread. */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "thread-type"))
    gst_util_set_object_arg(G_OBJECT(dec), "thread-type", "slice");
  g_object_set(hook, "silent", TRUE, NULL);
  caps = gst_caps_from_string("audio/x-raw,rate=48000,channels=2");
  g_object_set(acf, "caps", caps, NULL);
  gst_caps_unref(caps);
  g_object_set(opus, "bitrate", l->cfg.audio_bitrate, NULL);
  g_object_set(opay, "pt", (guint)LC_MEDIA_PT_OPUS, "mtu", 1200u, NULL);

  gst_bin_add_many(GST_BIN(p), vparse, vcf, stee, dq, dec, conv, hook, rtee, aq, aparse, adec, aconv, ares,
                   acf, opus, opay, asink, NULL);
  l->vparse = vparse;
  l->aq = aq;
  l->rtee = rtee;
  if (!gst_element_link_many(vparse, vcf, stee, NULL) ||
      !gst_element_link_many(dq, dec, conv, hook, rtee, NULL) ||
      !gst_element_link_many(aq, aparse, adec, aconv, ares, acf, opus, opay, asink, NULL)) {
    lc_error_set(err, "ladder", "cannot link the decoding chain");
    return LC_EINVAL;
  }
  GstPad *tpad = gst_element_request_pad_simple(stee, "src_%u");
  GstPad *qpad = gst_element_get_static_pad(dq, "sink");
  gst_pad_link(tpad, qpad);
  gst_object_unref(qpad);
  gst_object_unref(tpad);

  GstPad *pad = gst_element_get_static_pad(vparse, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, vparse_probe, l,
                    NULL);
  gst_object_unref(pad);
  if (l->input == LC_LADDER_INPUT_TS) {
    pad = gst_element_get_static_pad(aq, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, audio_in_probe, l, NULL);
    gst_object_unref(pad);
  }
  pad = gst_element_get_static_pad(rtee, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, rtee_caps_probe, l, NULL);
  gst_object_unref(pad);

  if (l->cfg.passthrough) {
    rung *s = rung_new(l, NULL, true, false);
    g_strlcpy(s->def.name, "source", sizeof(s->def.name));
    g_ptr_array_add(l->rungs, s);
    l->source_rung = s;
    GstElement *sq = make("queue", "q-source", err);
    GstElement *spay = make_h264pay(s, "pay-source");
    GstElement *ssink = make_appsink(s, "sink-source");
    if (!sq || !spay || !ssink) {
      g_clear_pointer(&sq, gst_object_unref);
      g_clear_pointer(&spay, gst_object_unref);
      g_clear_pointer(&ssink, gst_object_unref);
      lc_error_set(err, "ladder", "queue/rtph264pay/appsink missing");
      return LC_EINVAL;
    }
    g_object_set(sq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
                 NULL);
    gst_bin_add_many(GST_BIN(p), sq, spay, ssink, NULL);
    if (!gst_element_link_many(sq, spay, ssink, NULL)) {
      lc_error_set(err, "ladder", "cannot link the passthrough branch");
      return LC_EINVAL;
    }
    tpad = gst_element_request_pad_simple(stee, "src_%u");
    qpad = gst_element_get_static_pad(sq, "sink");
    gst_pad_link(tpad, qpad);
    gst_object_unref(qpad);
    gst_object_unref(tpad);
  }

  if (l->input == LC_LADDER_INPUT_ES) {
    GstElement *vsrc = make("appsrc", "vsrc", err);
    GstElement *asrc = vsrc ? make("appsrc", "asrc", err) : NULL;
    if (!vsrc || !asrc) {
      g_clear_pointer(&vsrc, gst_object_unref);
      return LC_EINVAL;
    }
    g_object_set(vsrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "block", FALSE, "max-bytes", (guint64)0,
                 NULL);
    g_object_set(asrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "block", FALSE, "max-bytes", (guint64)0,
                 NULL);
    gst_bin_add_many(GST_BIN(p), vsrc, asrc, NULL);
    l->vsrc = vsrc;
    l->asrc = asrc;
    if (!gst_element_link(vsrc, vparse) || !gst_element_link(asrc, aq)) {
      lc_error_set(err, "ladder", "cannot link the ES front-end");
      return LC_EINVAL;
    }
  } else if (l->input == LC_LADDER_INPUT_RTP) {
    if (build_rtp_front_end(l, vparse, err) != 0)
      return LC_EINVAL;
  } else {
    GstElement *tssrc = make("appsrc", "tssrc", err);
    GstElement *demux = tssrc ? make("tsdemux", "demux", err) : NULL;
    if (!tssrc || !demux) {
      g_clear_pointer(&tssrc, gst_object_unref);
      return LC_EINVAL;
    }
    caps = gst_caps_from_string("video/mpegts,systemstream=(boolean)true,packetsize=(int)188");
    g_object_set(tssrc, "is-live", TRUE, "format", GST_FORMAT_BYTES, "block", FALSE, "caps", caps,
                 "max-bytes", (guint64)0, NULL);
    gst_caps_unref(caps);
    gst_bin_add_many(GST_BIN(p), tssrc, demux, NULL);
    l->tssrc = tssrc;
    if (!gst_element_link(tssrc, demux)) {
      lc_error_set(err, "ladder", "cannot link the TS front-end");
      return LC_EINVAL;
    }
    g_signal_connect(demux, "pad-added", G_CALLBACK(on_demux_pad), l);
  }
  return 0;

fail:
  /* Elements not yet in the bin are floating: sink and drop them. */
  {
    GstElement *all[] = {vparse, vcf,  stee,  dq,   dec, conv, hook, rtee, aq,
                         aparse, adec, aconv, ares, acf, opus, opay, asink};
    for (unsigned i = 0; i < G_N_ELEMENTS(all); i++) {
      if (all[i])
        gst_object_unref(gst_object_ref_sink(all[i]));
    }
  }
  return LC_EINVAL;
}

lc_ladder *
lc_ladder_new(const char *room_id, lc_media_room *media, lc_ladder_input input, const lc_ladder_config *cfg,
              lc_ladder_error_cb on_error, gpointer user, char **err)
{
  if (!room_id || !media || !cfg ||
      (input != LC_LADDER_INPUT_ES && input != LC_LADDER_INPUT_TS && input != LC_LADDER_INPUT_RTP)) {
    lc_error_set(err, "ladder", "room id, media and config are required");
    return NULL;
  }
  if (!gst_is_initialized()) {
    GError *e = NULL;
    if (!gst_init_check(NULL, NULL, &e)) {
      lc_error_set(err, "ladder", "GStreamer init failed: %s", e ? e->message : "?");
      g_clear_error(&e);
      return NULL;
    }
  }
  if (!lc_swscale_register()) {
    lc_error_set(err, "ladder", "cannot register the lcswscale element");
    return NULL;
  }
  lc_ladder *l = g_new0(lc_ladder, 1);
  if (check_config(cfg, &l->cfg, err) != 0) {
    g_free(l);
    return NULL;
  }
  if (input == LC_LADDER_INPUT_RTP)
    l->cfg.passthrough = false; /* the publisher's own rendition is the passthrough */
  l->room_id = g_strdup(room_id);
  l->media = lc_media_room_ref(media);
  l->input = input;
  l->on_error = on_error;
  l->user = user;
  g_mutex_init(&l->lock);
  g_mutex_init(&l->lat_lock);
  g_mutex_init(&l->rtp_lock);
  l->rungs = g_ptr_array_new_with_free_func((GDestroyNotify)rung_free);
  l->renditions = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rendition_unref);
  l->lat_samples = g_new0(int64_t, LAT_SAMPLES);
  char *pname = g_strdup_printf("ladder-%s", room_id);
  l->pipeline = gst_pipeline_new(pname);
  g_free(pname);
  gst_object_ref_sink(l->pipeline);
  if (build_pipeline(l, err) != 0)
    goto fail;
  l->bus = gst_pipeline_get_bus(GST_PIPELINE(l->pipeline));
  l->bus_watch = gst_bus_add_watch(l->bus, on_bus, l);
  if (gst_element_set_state(l->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    lc_error_set(err, "ladder", "the pipeline refused to start");
    goto fail;
  }
  LC_INFO(room_id, NULL, "ladder started (%s input, %u rungs%s)",
          input == LC_LADDER_INPUT_ES ? "ES" : input == LC_LADDER_INPUT_TS ? "TS" : "RTP",
          l->cfg.n_rungs, l->cfg.passthrough ? " + passthrough" : "");
  return l;

fail:
  lc_ladder_free(l);
  return NULL;
}

void
lc_ladder_free(lc_ladder *l)
{
  if (!l)
    return;
  /* No RTP input arrives once this returns (before the pipeline goes). */
  if (l->rtp_in) {
    lc_rendition_unsubscribe(l->rtp_in, l->rtp_sub);
    g_clear_pointer(&l->rtp_in, lc_rendition_unref);
  }
  /* No keyframe request runs once these return (the rendition calls it under its lock). */
  g_mutex_lock(&l->lock);
  for (guint i = 0; i < l->rungs->len; i++) {
    rung *g = g_ptr_array_index(l->rungs, i);
    lc_rendition *r = g_atomic_pointer_get(&g->r);
    if (r && g->enc)
      lc_rendition_clear_keyframe_fn(r, rung_keyframe, g);
  }
  g_mutex_unlock(&l->lock);
  if (l->bus) {
    gst_bus_remove_watch(l->bus);
    gst_object_unref(l->bus);
  }
  if (l->pipeline) {
    gst_element_set_state(l->pipeline, GST_STATE_NULL);
    gst_object_unref(l->pipeline);
  }
  /* Streaming threads are gone: nothing touches the rungs any more. */
  for (guint i = 0; i < l->renditions->len; i++)
    lc_rendition_set_live(g_ptr_array_index(l->renditions, i), false);
  g_ptr_array_unref(l->renditions);
  g_ptr_array_unref(l->rungs);
  g_clear_pointer(&l->vcaps, gst_caps_unref);
  g_clear_pointer(&l->acaps, gst_caps_unref);
  lc_media_room_unref(l->media);
  g_mutex_clear(&l->lock);
  g_mutex_clear(&l->lat_lock);
  g_mutex_clear(&l->rtp_lock);
  g_free(l->lat_samples);
  g_free(l->room_id);
  g_free(l);
}

/* ---------------------------------------------------------------------------------------------- */
/* RTP front-end */

static void
pkt_release(gpointer p)
{
  lc_pkt_unref(p);
}

/* A packet into the RTP appsrc (no copy: the buffer holds a ref of the packet). A gap in the
 * sequence asks the publisher for a keyframe: the decoder cannot repair a lost slice, and the
 * rungs would carry the damage until the publisher's next GOP. The rendition's producer thread. */
static void
rtp_push(lc_ladder *l, lc_rendition *r, lc_pkt *pkt)
{
  g_mutex_lock(&l->rtp_lock);
  bool gap = l->rtp_have_seq && (int16_t)(pkt->seq - l->rtp_next_seq) > 0;
  if (!l->rtp_have_seq || (int16_t)(pkt->seq - l->rtp_next_seq) >= 0) {
    l->rtp_have_seq = true;
    l->rtp_next_seq = (uint16_t)(pkt->seq + 1);
  }
  g_mutex_unlock(&l->rtp_lock);
  if (gap)
    lc_rendition_request_keyframe(r);
  GstBuffer *b =
      gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, pkt->data, pkt->len, 0, pkt->len, lc_pkt_ref(pkt),
                                  pkt_release);
  guint64 queued = gst_app_src_get_current_level_buffers(GST_APP_SRC(l->rtpsrc));
  if (queued >= MAX_VIDEO_QUEUE_BUFFERS * 16) { /* ~90 frames of packets */
    gst_buffer_unref(b);
    __atomic_add_fetch(&l->dropped_in, 1, __ATOMIC_RELAXED);
    return;
  }
  gst_app_src_push_buffer(GST_APP_SRC(l->rtpsrc), b);
}

static void
rtp_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  rtp_push(user, r, pkt);
}

int
lc_ladder_attach_rtp(lc_ladder *l, lc_rendition *video)
{
  if (!l->rtpsrc || l->rtp_in || !video)
    return LC_ESTATE;
  lc_rendition_info info;
  lc_rendition_get_info(video, &info);
  if (info.kind != LC_MEDIA_VIDEO || info.payload_type != LC_MEDIA_PT_H264)
    return LC_EINVAL;
  GPtrArray *backlog = NULL;
  l->rtp_in = lc_rendition_ref(video);
  /* The backlog (from the last cached keyframe) and the subscription are taken atomically, so
   * nothing is missed or doubled; the producer may call the sink while the backlog is still
   * being pushed here: the jitter buffer puts the packets back in sequence order. */
  l->rtp_sub = lc_rendition_subscribe_from_keyframe(video, rtp_sink, l, &backlog);
  if (backlog) {
    for (guint i = 0; i < backlog->len; i++)
      rtp_push(l, video, g_ptr_array_index(backlog, i));
    g_ptr_array_unref(backlog);
  } else {
    lc_rendition_request_keyframe(video); /* the decoder starts at a keyframe */
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* ES front-end */

int
lc_ladder_set_video_config(lc_ladder *l, const uint8_t *avcc, size_t len)
{
  if (!l->vsrc)
    return LC_ESTATE;
  /* AVCDecoderConfigurationRecord: version 1, profile, compat, level, 0xFC|lengthSizeMinusOne,
   * 0xE0|numSPS, SPS..., numPPS, PPS... (at least one SPS). */
  if (!avcc || len < 7 || len > 65536 || avcc[0] != 1 || (avcc[5] & 0x1f) == 0 || (avcc[4] & 3) == 2) {
    LC_WARN(l->room_id, NULL, "bad AVC decoder configuration record (%zu bytes)", len);
    return LC_EINVAL;
  }
  GstBuffer *cd = gst_buffer_new_memdup(avcc, len);
  GstCaps *caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "avc", "alignment",
                                      G_TYPE_STRING, "au", "codec_data", GST_TYPE_BUFFER, cd, NULL);
  gst_buffer_unref(cd);
  if (l->vcaps && gst_caps_is_equal(l->vcaps, caps)) {
    gst_caps_unref(caps);
    return 0;
  }
  gst_app_src_set_caps(GST_APP_SRC(l->vsrc), caps);
  l->video_wait_kf = true; /* first or new parameter sets: start at a keyframe */
  g_clear_pointer(&l->vcaps, gst_caps_unref);
  l->vcaps = caps;
  l->nal_len_size = (avcc[4] & 3) + 1u;
  l->have_vconfig = true;
  return 0;
}

int
lc_ladder_set_audio_config(lc_ladder *l, const uint8_t *asc, size_t len)
{
  if (!l->asrc)
    return LC_ESTATE;
  if (!asc || len < 2 || len > 64) {
    LC_WARN(l->room_id, NULL, "bad AudioSpecificConfig (%zu bytes)", len);
    return LC_EINVAL;
  }
  static const int rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                              22050, 16000, 12000, 11025, 8000,  7350};
  unsigned aot = asc[0] >> 3, fi = ((asc[0] & 7u) << 1) | (asc[1] >> 7), ch = (asc[1] >> 3) & 0xfu;
  if (aot == 0 || aot == 31) {
    LC_WARN(l->room_id, NULL, "unsupported AAC object type %u", aot);
    return LC_EINVAL;
  }
  GstBuffer *cd = gst_buffer_new_memdup(asc, len);
  GstCaps *caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format",
                                      G_TYPE_STRING, "raw", "codec_data", GST_TYPE_BUFFER, cd, NULL);
  gst_buffer_unref(cd);
  if (fi < G_N_ELEMENTS(rates))
    gst_caps_set_simple(caps, "rate", G_TYPE_INT, rates[fi], NULL);
  if (ch >= 1 && ch <= 7)
    gst_caps_set_simple(caps, "channels", G_TYPE_INT, ch == 7 ? 8 : (int)ch, NULL);
  if (l->acaps && gst_caps_is_equal(l->acaps, caps)) {
    gst_caps_unref(caps);
    return 0;
  }
  gst_app_src_set_caps(GST_APP_SRC(l->asrc), caps);
  g_clear_pointer(&l->acaps, gst_caps_unref);
  l->acaps = caps;
  l->have_aconfig = true;
  return 0;
}

/* Producer timestamps (ms) -> pipeline time; false if before the base (dropped). */
static bool
es_time(lc_ladder *l, int64_t ms, GstClockTime *out)
{
  if (!l->have_base) {
    l->have_base = true;
    l->base_ms = ms;
  }
  int64_t rel = ms - l->base_ms + TS_OFFSET_MS;
  if (rel < 0)
    return false;
  *out = (GstClockTime)rel * GST_MSECOND;
  return true;
}

/* AVCC access unit: a sequence of length-prefixed NAL units exactly filling len. */
static bool
avcc_well_formed(const uint8_t *au, size_t len, unsigned nls)
{
  size_t off = 0;
  if (len == 0)
    return false;
  while (off < len) {
    if (len - off < nls)
      return false;
    size_t n = 0;
    for (unsigned i = 0; i < nls; i++)
      n = (n << 8) | au[off + i];
    off += nls;
    if (n == 0 || n > len - off)
      return false;
    off += n;
  }
  return true;
}

static void
count_drop(lc_ladder *l)
{
  __atomic_add_fetch(&l->dropped_in, 1, __ATOMIC_RELAXED);
}

int
lc_ladder_push_video(lc_ladder *l, const uint8_t *au, size_t len, int64_t dts_ms, int32_t cts_ms,
                     bool keyframe)
{
  if (!l->vsrc || !l->have_vconfig)
    return LC_ESTATE;
  if (!au || len == 0 || len > MAX_AU_BYTES || !avcc_well_formed(au, len, l->nal_len_size) ||
      cts_ms < -10000 || cts_ms > 10000)
    return LC_EINVAL;
  __atomic_add_fetch(&l->video_in, 1, __ATOMIC_RELAXED);
  if (l->video_wait_kf && !keyframe) {
    count_drop(l);
    return LC_ELIMIT;
  }
  if (gst_app_src_get_current_level_buffers(GST_APP_SRC(l->vsrc)) >= MAX_VIDEO_QUEUE_BUFFERS) {
    count_drop(l);
    l->video_wait_kf = true; /* the next frames reference the dropped one */
    return LC_ELIMIT;
  }
  GstClockTime dts, pts;
  if (!es_time(l, dts_ms, &dts) || !es_time(l, dts_ms + cts_ms, &pts)) {
    count_drop(l);
    return LC_ELIMIT;
  }
  l->video_wait_kf = false;
  GstBuffer *b = gst_buffer_new_memdup(au, len);
  GST_BUFFER_DTS(b) = dts;
  GST_BUFFER_PTS(b) = pts;
  if (!keyframe)
    GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
  lat_note_push(l, pts);
  if (gst_app_src_push_buffer(GST_APP_SRC(l->vsrc), b) != GST_FLOW_OK) {
    count_drop(l);
    return LC_ESTATE;
  }
  return 0;
}

int
lc_ladder_push_audio(lc_ladder *l, const uint8_t *frame, size_t len, int64_t pts_ms)
{
  if (!l->asrc || !l->have_aconfig)
    return LC_ESTATE;
  if (!frame || len == 0 || len > 8192)
    return LC_EINVAL;
  __atomic_add_fetch(&l->audio_in, 1, __ATOMIC_RELAXED);
  GstClockTime pts;
  if (gst_app_src_get_current_level_buffers(GST_APP_SRC(l->asrc)) >= MAX_AUDIO_QUEUE_BUFFERS ||
      !es_time(l, pts_ms, &pts)) {
    count_drop(l);
    return LC_ELIMIT;
  }
  GstBuffer *b = gst_buffer_new_memdup(frame, len);
  GST_BUFFER_PTS(b) = pts;
  if (gst_app_src_push_buffer(GST_APP_SRC(l->asrc), b) != GST_FLOW_OK) {
    count_drop(l);
    return LC_ESTATE;
  }
  return 0;
}

int
lc_ladder_push_ts(lc_ladder *l, const uint8_t *data, size_t len)
{
  if (!l->tssrc)
    return LC_ESTATE;
  if (!data || len == 0 || len > MAX_TS_CHUNK)
    return LC_EINVAL;
  if (gst_app_src_get_current_level_bytes(GST_APP_SRC(l->tssrc)) >= MAX_TS_QUEUE_BYTES) {
    count_drop(l);
    return LC_ELIMIT;
  }
  if (gst_app_src_push_buffer(GST_APP_SRC(l->tssrc), gst_buffer_new_memdup(data, len)) != GST_FLOW_OK) {
    count_drop(l);
    return LC_ESTATE;
  }
  return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void
lc_ladder_get_stats(lc_ladder *l, lc_ladder_stats *out)
{
  memset(out, 0, sizeof(*out));
  out->video_in = __atomic_load_n(&l->video_in, __ATOMIC_RELAXED);
  out->audio_in = __atomic_load_n(&l->audio_in, __ATOMIC_RELAXED);
  out->dropped_in = __atomic_load_n(&l->dropped_in, __ATOMIC_RELAXED);
  out->source_has_bframes = g_atomic_int_get(&l->reorder) != 0;
  out->source_width = g_atomic_int_get(&l->src_w);
  out->source_height = g_atomic_int_get(&l->src_h);
  g_mutex_lock(&l->lat_lock);
  unsigned n = l->lat_n;
  int64_t *tmp = n ? g_memdup2(l->lat_samples, n * sizeof(int64_t)) : NULL;
  g_mutex_unlock(&l->lat_lock);
  if (n) {
    qsort(tmp, n, sizeof(int64_t), cmp_i64);
    out->latency_samples = n;
    out->latency_p50_us = tmp[(n - 1) / 2];
    out->latency_p99_us = tmp[(size_t)((n - 1) * 0.99)];
    g_free(tmp);
  }
}

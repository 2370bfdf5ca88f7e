/* Transcode ladder: one output branch (rung) and the latency bookkeeping. See ladder_internal.h.
 *
 * Keyframe flags: a probe on each payloader's sink pad marks the start of an access unit and
 * whether it lacks GST_BUFFER_FLAG_DELTA_UNIT; the first RTP packet the payloader then produces
 * (same thread, no queue in between) carries the flag. Audio packets are all keyframes.
 *
 * x264 rungs are constrained baseline (the capsfilter after x264enc asks for it: no CABAC, no 8x8,
 * no B-frames), so every browser decodes them whatever H.264 profile it negotiated; their fmtp
 * says profile-level-id=42e01f (level 3.1) with level-asymmetry-allowed=1, which lets receivers
 * take the higher levels of the 1080p rung.
 *
 * Latency (for the benchmark): the push time of each ES video access unit is remembered by its
 * running time; when the first RTP packet of a rung's frame with the same running time leaves
 * the payloader, push-to-packet latency is recorded (bounded sample ring; lc_ladder_get_stats).
 * The overlay stage marks the running time of the first frame carrying each new set of overlay
 * rectangles; the first x264 packet of a frame at or after it records when the change got out. */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder_internal.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"

const char lc__ladder_x264_fmtp[] = "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1";

/* ---------------------------------------------------------------------------------------------- */
/* Latency bookkeeping */

void
lc__ladder_lat_init(lc__ladder_lat *lat)
{
  memset(lat, 0, sizeof(*lat));
  g_mutex_init(&lat->lock);
  lat->samples = g_new0(int64_t, LC__LADDER_LAT_SAMPLES);
  lat->ov_rt = GST_CLOCK_TIME_NONE;
}

void
lc__ladder_lat_clear(lc__ladder_lat *lat)
{
  g_mutex_clear(&lat->lock);
  g_clear_pointer(&lat->samples, g_free);
}

void
lc__ladder_lat_note_push(lc__ladder_lat *lat, GstClockTime rt)
{
  g_mutex_lock(&lat->lock);
  lat->map[lat->map_next % LC__LADDER_LAT_MAP].rt = rt;
  lat->map[lat->map_next % LC__LADDER_LAT_MAP].push_us = g_get_monotonic_time();
  lat->map_next++;
  g_mutex_unlock(&lat->lock);
}

void
lc__ladder_lat_note_out(lc__ladder_lat *lat, GstClockTime rt)
{
  if (!GST_CLOCK_TIME_IS_VALID(rt))
    return;
  int64_t now = g_get_monotonic_time();
  g_mutex_lock(&lat->lock);
  if (GST_CLOCK_TIME_IS_VALID(lat->ov_rt) && rt >= lat->ov_rt) {
    lat->ov_out_us = now;
    lat->ov_rt = GST_CLOCK_TIME_NONE;
  }
  for (unsigned i = 0; i < LC__LADDER_LAT_MAP; i++) {
    if (lat->map[i].push_us && lat->map[i].rt == rt) {
      lat->samples[lat->next] = now - lat->map[i].push_us;
      lat->next = (lat->next + 1) % LC__LADDER_LAT_SAMPLES;
      if (lat->n < LC__LADDER_LAT_SAMPLES)
        lat->n++;
      break;
    }
  }
  g_mutex_unlock(&lat->lock);
}

void
lc__ladder_lat_note_overlay(lc__ladder_lat *lat, GstClockTime rt)
{
  int64_t now = g_get_monotonic_time();
  g_mutex_lock(&lat->lock);
  lat->ov_changes++;
  lat->ov_drawn_us = now;
  lat->ov_out_us = 0;
  lat->ov_rt = rt;
  g_mutex_unlock(&lat->lock);
}

void
lc__ladder_lat_get_overlay(lc__ladder_lat *lat, uint64_t *changes, int64_t *drawn_us, int64_t *out_us)
{
  g_mutex_lock(&lat->lock);
  *changes = lat->ov_changes;
  *drawn_us = lat->ov_drawn_us;
  *out_us = lat->ov_out_us;
  g_mutex_unlock(&lat->lock);
}

void
lc__ladder_lat_add_overlay_cpu(lc__ladder_lat *lat, uint64_t ns)
{
  __atomic_add_fetch(&lat->ov_cpu_ns, ns, __ATOMIC_RELAXED);
}

static int
cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void
lc__ladder_lat_get(lc__ladder_lat *lat, unsigned *n_out, int64_t *p50_us, int64_t *p99_us)
{
  g_mutex_lock(&lat->lock);
  unsigned n = lat->n;
  int64_t *tmp = n ? g_memdup2(lat->samples, n * sizeof(int64_t)) : NULL;
  g_mutex_unlock(&lat->lock);
  *n_out = n;
  *p50_us = *p99_us = 0;
  if (n) {
    qsort(tmp, n, sizeof(int64_t), cmp_i64);
    *p50_us = tmp[(n - 1) / 2];
    *p99_us = tmp[(size_t)((n - 1) * 0.99)];
    g_free(tmp);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Rung state */

lc__ladder_rung *
lc__ladder_rung_new(lc_ladder *l, lc__ladder_rung_kind kind, const lc_ladder_rung *def)
{
  lc__ladder_rung *g = g_new0(lc__ladder_rung, 1);
  g->l = l;
  g->lat = (l && kind == LC__LADDER_RUNG_X264) ? &l->lat : NULL;
  g->kind = kind;
  if (def)
    g->def = *def;
  g->enabled = 1;
  g->au_rt = GST_CLOCK_TIME_NONE;
  return g;
}

void
lc__ladder_rung_free(lc__ladder_rung *g)
{
  if (!g)
    return;
  lc_rendition_unref(g->r);
  g_free(g);
}

/* The rendition's keyframe function of an x264 rung: any thread (the rendition's lock held). */
static void
rung_keyframe(lc_rendition *r, gpointer user)
{
  lc__ladder_rung *g = user;
  GstPad *pad = gst_element_get_static_pad(g->enc, "src");
  if (pad) {
    /* all-headers FALSE: rtph264pay already puts SPS/PPS in front of every IDR
     * (config-interval=-1). With TRUE, the encoder's downstream force-key-unit event made the
     * payloader send the parameter sets as a packet of their own with the marker bit set, ahead of
     * the IDR with the same timestamp: Chromium decoded an SPS/PPS-only frame, failed and sent
     * a PLI, which forced the next keyframe (a PLI loop; tests: test_media marker test, and
     * tests/unit/ladder/test_ladder.c rung/requested_keyframe). */
    gst_pad_send_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, FALSE, 0));
    gst_object_unref(pad);
  }
}

void
lc__ladder_rung_publish(lc__ladder_rung *g, lc_rendition *r)
{
  g_return_if_fail(g_atomic_pointer_get(&g->r) == NULL);
  g_atomic_pointer_set(&g->r, r);
  if (g->kind == LC__LADDER_RUNG_X264 && g->enc)
    lc_rendition_set_keyframe_fn(r, rung_keyframe, g);
}

void
lc__ladder_rung_unpublish(lc__ladder_rung *g)
{
  lc_rendition *r = g_atomic_pointer_get(&g->r);
  if (r && g->kind == LC__LADDER_RUNG_X264 && g->enc)
    lc_rendition_clear_keyframe_fn(r, rung_keyframe, g);
}

/* ---------------------------------------------------------------------------------------------- */
/* Branch output: the branch's streaming thread */

/* The "opus" rendition at the audio branch's first packet (under the ladder's lock). */
static lc_rendition *
attach_opus(lc__ladder_rung *g)
{
  lc_rendition_info info = {.kind = LC_MEDIA_AUDIO,
                            .clock_rate = 48000,
                            .payload_type = LC_MEDIA_PT_OPUS,
                            .channels = 2,
                            .bitrate_kbps = g->l->cfg.audio_bitrate / 1000};
  g_strlcpy(info.name, "opus", sizeof(info.name));
  g_mutex_lock(&g->l->lock);
  lc_rendition *r = lc__ladder_attach_rendition(g->l, &info);
  g_atomic_pointer_set(&g->r, r);
  g_mutex_unlock(&g->l->lock);
  return r;
}

static GstFlowReturn
on_rtp_sample(GstAppSink *sink, gpointer user)
{
  lc__ladder_rung *g = user;
  bool audio = g->kind == LC__LADDER_RUNG_AUDIO;
  GstSample *s = gst_app_sink_pull_sample(sink);
  if (!s)
    return GST_FLOW_OK;
  GstBuffer *b = gst_sample_get_buffer(s);
  lc_rendition *r = g_atomic_pointer_get(&g->r);
  if (audio && !r && b && g->l)
    r = attach_opus(g);
  GstMapInfo mi;
  if (b && r && g_atomic_int_get(&g->enabled) && gst_buffer_map(b, &mi, GST_MAP_READ)) {
    bool kf = audio || (g->au_start && g->au_key);
    bool first = g->au_start;
    g->au_start = false;
    lc_rendition_push_rtp(r, mi.data, mi.size, kf);
    gst_buffer_unmap(b, &mi);
    if (first && g->lat)
      lc__ladder_lat_note_out(g->lat, g->au_rt);
  }
  gst_sample_unref(s);
  return GST_FLOW_OK;
}

/* Payloader sink pad: an access unit starts. */
static GstPadProbeReturn
pay_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc__ladder_rung *g = user;
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

/* ---------------------------------------------------------------------------------------------- */
/* Elements */

GstElement *
lc__ladder_rung_appsink(lc__ladder_rung *g, const char *name)
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

GstElement *
lc__ladder_rung_h264pay(lc__ladder_rung *g, const char *name)
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

static void
drop_floating(gpointer e)
{
  gst_object_unref(gst_object_ref_sink(e));
}

/* Raw frames a rung's input queue holds: two as before, plus one slot only the scheduled
 * keyframe's frame may take. */
#define RUNG_QUEUE_FRAMES 3u

/* The encoder's sink pad, every raw frame (the rung queue's thread): the first frame at or after
 * the ladder's latest scheduled keyframe (rtee_keyframe_probe) becomes an IDR, with the event sent
 * to the encoder right before it. A frame the leaky queue dropped moves the keyframe to the next
 * one, in this rung only: the GOPs stay aligned to within that frame. */
static GstPadProbeReturn
rung_schedule_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc__ladder_rung *g = user;
  gint64 due = __atomic_load_n(&g->l->kf_due_pts, __ATOMIC_ACQUIRE);
  GstClockTime pts = GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info));
  if (due < 0 || due == g->kf_forced_for || !GST_CLOCK_TIME_IS_VALID(pts) || (gint64)pts < due)
    return GST_PAD_PROBE_OK;
  g->kf_forced_for = due;
  /* all-headers FALSE: see rung_keyframe */
  gst_pad_send_event(pad, gst_video_event_new_downstream_force_key_unit(pts, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE,
                                                                        FALSE, 0));
  return GST_PAD_PROBE_OK;
}

/* The rung queue's sink pad, every raw frame (the decoder's thread, through the rung tee): an
 * encoder that falls behind loses raw frames instead of delaying the other rungs, but never the
 * frame of a scheduled keyframe (its PTS is l->kf_due_pts, set by rtee_keyframe_probe for the
 * frame going through the tee now): that one waits for room (at most one frame's encode), so
 * every rung makes the same frame an IDR and their GOPs and HLS segments line up to the frame. */
static GstPadProbeReturn
rung_admit_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc__ladder_rung *g = user;
  gint64 due = __atomic_load_n(&g->l->kf_due_pts, __ATOMIC_ACQUIRE);
  GstClockTime pts = GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info));
  if (due >= 0 && GST_CLOCK_TIME_IS_VALID(pts) && (gint64)pts >= due && g->kf_admitted_for != due) {
    g->kf_admitted_for = due;
    return GST_PAD_PROBE_OK;
  }
  guint level = 0;
  g_object_get(g->q, "current-level-buffers", &level, NULL);
  if (level < RUNG_QUEUE_FRAMES - 1)
    return GST_PAD_PROBE_OK;
  return GST_PAD_PROBE_DROP;
}

GstElement *
lc__ladder_rung_x264_bin(lc__ladder_rung *g, unsigned keyframe_interval_ms, const char *preset, int fps_n,
                         int fps_d, bool encoded_pad, char **err)
{
  const lc_ladder_rung *def = &g->def;
  GPtrArray *floating = g_ptr_array_new_with_free_func(drop_floating);
  GstElement *bin = NULL, *q = NULL, *scale = NULL, *cf = NULL, *enc = NULL, *pcf = NULL, *pay = NULL,
             *sink = NULL;
  GstCaps *caps = NULL;
  GstPad *qpad = NULL;
  char n[64];
  /* libswscale (see swscale.h for why not videoscale); LC_LADDER_SCALER=videoscale compares. */
  const char *scaler = g_getenv("LC_LADDER_SCALER");
  if (!scaler || strcmp(scaler, "videoscale") != 0)
    scaler = "lcswscale";

  g_snprintf(n, sizeof(n), "q-%s", def->name);
  if (!(q = lc__ladder_make(floating, "queue", n, err)))
    goto fail;
  g_snprintf(n, sizeof(n), "scale-%s", def->name);
  if (!(scale = lc__ladder_make(floating, scaler, n, err)))
    goto fail;
  g_snprintf(n, sizeof(n), "size-%s", def->name);
  if (!(cf = lc__ladder_make(floating, "capsfilter", n, err)))
    goto fail;
  g_snprintf(n, sizeof(n), "enc-%s", def->name);
  if (!(enc = lc__ladder_make(floating, "x264enc", n, err)))
    goto fail;
  g_snprintf(n, sizeof(n), "profile-%s", def->name);
  if (!(pcf = lc__ladder_make(floating, "capsfilter", n, err)))
    goto fail;
  g_snprintf(n, sizeof(n), "pay-%s", def->name);
  if ((pay = lc__ladder_rung_h264pay(g, n)))
    g_ptr_array_add(floating, pay);
  g_snprintf(n, sizeof(n), "sink-%s", def->name);
  if ((sink = lc__ladder_rung_appsink(g, n)))
    g_ptr_array_add(floating, sink);
  if (!pay || !sink) {
    lc_error_set(err, "ladder", "rtph264pay/appsink missing");
    goto fail;
  }

  /* An encoder that falls behind loses raw frames, never delays the others: in a ladder
   * rung_admit_probe drops them before the queue (sparing the scheduled keyframe's frame, which
   * may wait for the one slot kept for it); a rung built alone has a leaky queue. */
  g_object_set(q, "max-size-buffers", RUNG_QUEUE_FRAMES, "max-size-bytes", 0u, "max-size-time", (guint64)0, NULL);
  if (!g->l)
    gst_util_set_object_arg(G_OBJECT(q), "leaky", "downstream");
  caps = gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, def->width, "height", G_TYPE_INT,
                             def->height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set(cf, "caps", caps, NULL);
  gst_clear_caps(&caps);
  unsigned fps = (fps_n > 0 && fps_d > 0) ? (unsigned)((fps_n + fps_d - 1) / fps_d) : 30;
  unsigned kint = fps * keyframe_interval_ms / 1000;
  /* The ladder schedules the keyframes of all rungs at once (rtee_keyframe_probe in ladder.c):
   * x264's own interval is only a safety net. */
  g_object_set(enc, "bframes", 0u, "key-int-max", MAX(2 * kint, 1u), "bitrate", (guint)def->bitrate_kbps, NULL);
  gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
  gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", preset);
  caps = gst_caps_from_string("video/x-h264,stream-format=avc,alignment=au,profile=constrained-baseline");
  g_object_set(pcf, "caps", caps, NULL);
  gst_clear_caps(&caps);

  g_snprintf(n, sizeof(n), "rung-%s", def->name);
  bin = gst_bin_new(n); /* floating until the caller adds it */
  for (guint i = 0; i < floating->len; i++)
    gst_bin_add(GST_BIN(bin), g_ptr_array_index(floating, i));
  g_free(g_ptr_array_steal(floating, NULL)); /* ownership moved to the bin */
  GstElement *etee = NULL;
  if (encoded_pad) {
    g_snprintf(n, sizeof(n), "etee-%s", def->name);
    etee = gst_element_factory_make("tee", n);
    if (!etee) {
      lc_error_set(err, "ladder", "tee missing");
      goto fail;
    }
    g_object_set(etee, "allow-not-linked", TRUE, NULL);
    gst_bin_add(GST_BIN(bin), etee);
  }
  if (!(etee ? gst_element_link_many(q, scale, cf, enc, pcf, etee, NULL) && gst_element_link_many(etee, pay, sink, NULL)
             : gst_element_link_many(q, scale, cf, enc, pcf, pay, sink, NULL))) {
    lc_error_set(err, "ladder", "rung %s: cannot link its branch", def->name);
    goto fail;
  }
  if (etee) {
    GstPad *tpad = gst_element_request_pad_simple(etee, "src_%u");
    bool ok = tpad && gst_element_add_pad(bin, gst_ghost_pad_new("encoded", tpad));
    if (tpad)
      gst_object_unref(tpad);
    if (!ok) {
      lc_error_set(err, "ladder", "rung %s: no encoded pad", def->name);
      goto fail;
    }
  }
  qpad = gst_element_get_static_pad(q, "sink");
  if (!gst_element_add_pad(bin, gst_ghost_pad_new("sink", qpad))) {
    lc_error_set(err, "ladder", "rung %s: no sink pad", def->name);
    goto fail;
  }
  gst_object_unref(qpad);
  g->enc = enc;
  if (g->l) { /* in a ladder: its keyframe schedule (a rung built alone keeps x264's own) */
    g->kf_forced_for = g->kf_admitted_for = -1;
    g->q = q;
    GstPad *epad = gst_element_get_static_pad(enc, "sink");
    gst_pad_add_probe(epad, GST_PAD_PROBE_TYPE_BUFFER, rung_schedule_probe, g, NULL);
    gst_object_unref(epad);
    epad = gst_element_get_static_pad(q, "sink");
    gst_pad_add_probe(epad, GST_PAD_PROBE_TYPE_BUFFER, rung_admit_probe, g, NULL);
    gst_object_unref(epad);
  }
  g_ptr_array_unref(floating);
  return bin;

fail:
  g_clear_pointer(&qpad, gst_object_unref);
  if (bin)
    drop_floating(bin);
  g_ptr_array_unref(floating); /* what never reached the bin */
  return NULL;
}

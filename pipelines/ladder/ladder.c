/* Transcode ladder: construction and teardown. See ladder.h; the pieces and their threads are in
 * ladder_internal.h (rungs: ladder_rung.c, front-ends: ladder_input.c, config: ladder_config.c).
 *
 * Pipeline (one per room):
 *
 *   ES:  appsrc(avc) ----------------+
 *   TS:  appsrc(ts) ! tsdemux -------+-> h264parse config-interval=-1 ! capsfilter(avc,au) ! tee(stee)
 *   RTP: appsrc(rtp) ! rtpjitterbuffer ! rtph264depay -+   (WHIP: no audio branch, no "source" rung)
 *     stee ! queue ! avdec_h264 ! videoconvert [! lcoverlay] ! tee(rtee)  (keyframes scheduled here)
 *       rtee ! bin rung-<name>: queue leaky ! lcswscale ! capsfilter(WxH) ! x264enc
 *              ! capsfilter(constrained-baseline) ! rtph264pay ! appsink     (one per rung)
 *     stee ! queue ! rtph264pay ! appsink                            ("source", if cfg->passthrough)
 *   ES:  appsrc(aac raw) ---+
 *   TS:  tsdemux -----------+-> queue ! aacparse ! avdec_aac ! audioconvert ! audioresample
 *                              ! capsfilter(48 kHz stereo) ! opusenc ! rtpopuspay ! appsink
 *
 * The overlay stage (lcoverlay, ladder_overlay.c) is there only when the room has an overlay
 * (cfg->overlay_for): it blends the room's scene into every decoded frame, in place, before the
 * tee, so every x264 rung carries it and the "source" branch (off stee, before the decoder) never
 * does. Without an overlay videoconvert links straight to rtee. An overlay whose configuration
 * forbids the passthrough rung removes the "source" branch.
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
 * PTS). After LC__LADDER_DECIDE_AUS access units (1 s at 30 fps) without reordering the stream is
 * taken as B-frame free and the "source" rendition is created (info: source size, profile-level-id
 * from its SPS); its branch exists from the start (a queue and a payloader, cheap) and its appsink
 * drops everything until then. If reordering shows up later, the source rendition stops (not live)
 * for the ladder's life. The source rung cannot honour keyframe requests (the publisher decides
 * its GOP), so it sets no keyframe function.
 *
 * Renditions are created (or reused by name from the room, with lc_rendition_discontinuity) when
 * their branch starts producing: video rungs when built, "source" when decided, "opus" at its first
 * packet. */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder_internal.h"
#include "ladder/swscale.h"
#include "overlays/overlay.h"

#include <gst/video/video.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"

/* ---------------------------------------------------------------------------------------------- */
/* Shared helpers */

lc_rendition *
lc__ladder_attach_rendition(lc_ladder *l, const lc_rendition_info *info)
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

GstElement *
lc__ladder_make(GPtrArray *floating, const char *factory, const char *name, char **err)
{
  GstElement *e = gst_element_factory_make(factory, name);
  if (e)
    g_ptr_array_add(floating, e);
  else
    lc_error_set(err, "ladder", "GStreamer element '%s' is not installed (gstreamer1.0-plugins-*/-libav)",
                 factory);
  return e;
}

void
lc__ladder_count_drop(lc_ladder *l)
{
  __atomic_add_fetch(&l->dropped_in, 1, __ATOMIC_RELAXED);
}

static void
drop_floating(gpointer e)
{
  gst_object_unref(gst_object_ref_sink(e));
}

/* Links a new request pad of tee to next's sink pad. */
static bool
link_tee(GstElement *tee, GstElement *next)
{
  GstPad *tpad = gst_element_request_pad_simple(tee, "src_%u");
  GstPad *npad = gst_element_get_static_pad(next, "sink");
  bool ok = tpad && npad && gst_pad_link(tpad, npad) == GST_PAD_LINK_OK;
  if (tpad && !ok)
    gst_element_release_request_pad(tee, tpad);
  g_clear_pointer(&tpad, gst_object_unref);
  g_clear_pointer(&npad, gst_object_unref);
  return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Rungs, built at the first decoded caps */

/* Builds one x264 rung into the running pipeline, links it to rtee and publishes its rendition.
 * The decoder's streaming thread (rtee caps probe), l->lock held. */
static int
add_video_rung(lc_ladder *l, const lc_ladder_rung *def, bool top, int fps_n, int fps_d, char **err)
{
  lc__ladder_rung *g = lc__ladder_rung_new(l, LC__LADDER_RUNG_X264, def);
  GstElement *bin = NULL; /* floating until added; then the pipeline's (borrowed) */
  bool in_pipeline = false;
  bool hls = lc__ladder_hls_on(l);
  if (!(bin = lc__ladder_rung_x264_bin(g, l->cfg.keyframe_interval_ms, l->cfg.x264_preset, fps_n, fps_d, hls,
                                       err)))
    goto fail;
  gst_bin_add(GST_BIN(l->pipeline), bin); /* sinks the floating ref: the pipeline owns the bin */
  in_pipeline = true;
  if (!gst_element_sync_state_with_parent(bin)) {
    lc_error_set(err, "ladder", "rung %s: cannot start its branch", def->name);
    goto fail;
  }
  if (hls) {
    l->hls_fps = fps_n > 0 && fps_d > 0 ? (double)fps_n / fps_d : 0;
    if (lc__ladder_hls_add_rung(l, def, top, bin, err) != 0)
      goto fail;
  }
  if (!link_tee(l->rtee, bin)) {
    lc_error_set(err, "ladder", "rung %s: cannot link to the tee", def->name);
    goto fail;
  }
  lc_rendition_info info = {.kind = LC_MEDIA_VIDEO,
                            .clock_rate = 90000,
                            .payload_type = LC_MEDIA_PT_H264,
                            .width = def->width,
                            .height = def->height,
                            .bitrate_kbps = def->bitrate_kbps};
  g_strlcpy(info.name, def->name, sizeof(info.name));
  g_strlcpy(info.fmtp, lc__ladder_x264_fmtp, sizeof(info.fmtp));
  lc__ladder_rung_publish(g, lc__ladder_attach_rendition(l, &info));
  g_ptr_array_add(l->rungs, g);
  return 0;

fail:
  if (in_pipeline) {
    /* Unlinked, so no data reaches it: stop it and take it out; then nothing calls back on g. */
    gst_element_set_state(bin, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(l->pipeline), bin);
  } else if (bin) {
    drop_floating(bin);
  }
  lc__ladder_rung_free(g);
  return LC_EINVAL;
}

/* rtee sink pad: build the rungs when the decoded size is first known. The decoder's streaming
 * thread. */
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
  int smallest = -1, top = -1, built = 0;
  for (unsigned i = 0; i < l->cfg.n_rungs; i++) {
    const lc_ladder_rung *def = &l->cfg.rungs[i];
    if (smallest < 0 || def->height < l->cfg.rungs[smallest].height)
      smallest = (int)i;
    if (def->height <= h && (top < 0 || def->height > l->cfg.rungs[top].height))
      top = (int)i;
  }
  if (top < 0)
    top = smallest; /* the source is below every rung: the smallest is built, and is the top */
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
    if (add_video_rung(l, def, def == &l->cfg.rungs[top], fn, fd, &err) == 0) {
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

/* rtee sink pad, every decoded frame: the scheduled keyframes. Every keyframe_interval_ms of
 * source time a force-key-unit event goes through rtee right before the frame, so every x264 rung
 * makes that same frame an IDR: the rungs' GOPs line up (segments of several rungs cut at the
 * same media times for HLS, and a rung switch lands on the same picture). The encoders' own
 * key-int-max is twice the interval, a safety net that never fires while this runs. A keyframe
 * one rung makes for a viewer (PLI) is extra and leaves the schedule alone. A PTS going backwards
 * or jumping ahead by more than two intervals restarts the schedule at that frame. The decoder's
 * streaming thread. */
static GstPadProbeReturn
rtee_keyframe_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return GST_PAD_PROBE_OK;
  GstClockTime interval = (GstClockTime)l->cfg.keyframe_interval_ms * GST_MSECOND;
  bool restart = !GST_CLOCK_TIME_IS_VALID(l->next_kf_pts) || pts + interval < l->next_kf_pts ||
                 pts > l->next_kf_pts + 2 * interval;
  if (!restart && pts < l->next_kf_pts)
    return GST_PAD_PROBE_OK;
  l->next_kf_pts = (restart ? pts : l->next_kf_pts) + interval;
  /* Each rung forces it at its own encoder's input (rung_schedule_probe): a force-key-unit event
   * sent through the tee went into the rungs' leaky queues, which drop events with the frames
   * they drop when an encoder falls behind (GstQueue keeps only sticky ones): under load a rung
   * then made a 4 s GOP, and its HLS segments stopped lining up with the other rungs'. */
  __atomic_store_n(&l->kf_due_pts, (gint64)pts, __ATOMIC_RELEASE);
  return GST_PAD_PROBE_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* The source: size, codec, B-frames, the "source" rung decision */

/* h264parse's caps: source size and the SPS's profile/level. h264parse's streaming thread. */
static void
note_source_caps(lc_ladder *l, GstCaps *caps)
{
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

/* No B-frames in the first access units: the "source" rendition starts. n = access units seen.
 * h264parse's streaming thread. */
static void
publish_source(lc_ladder *l, int n)
{
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
    g_strlcpy(ri.fmtp, lc__ladder_x264_fmtp, sizeof(ri.fmtp));
  lc__ladder_rung_publish(l->source_rung, lc__ladder_attach_rendition(l, &ri));
  g_mutex_unlock(&l->lock);
  LC_INFO(l->room_id, NULL, "source has no B-frames: passthrough rung 'source' %dx%d ~%d kbit/s", ri.width,
          ri.height, ri.bitrate_kbps);
}

/* h264parse output: source caps, B-frame detection, the "source" rung decision. h264parse's
 * streaming thread. */
static GstPadProbeReturn
vparse_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps(ev, &caps);
      note_source_caps(l, caps);
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
    lc__ladder_rung *s = l->source_rung;
    if (s && g_atomic_int_get(&s->enabled)) {
      g_atomic_int_set(&s->enabled, 0);
      lc_rendition *r = g_atomic_pointer_get(&s->r);
      if (r)
        lc_rendition_set_live(r, false);
    }
  }
  if (!g_atomic_int_get(&l->decided) && (reorder || n >= LC__LADDER_DECIDE_AUS)) {
    g_atomic_int_set(&l->decided, 1);
    if (!reorder && l->source_rung)
      publish_source(l, n);
  }
  return GST_PAD_PROBE_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Bus: the main thread */

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
  case GST_MESSAGE_ELEMENT:
    lc__ladder_hls_on_message(l, msg);
    break;
  default:
    break;
  }
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Construction and teardown: the main thread */

/* How long lc_ladder_free waits for the last HLS segments (recordings keep the stream's end). */
#define HLS_DRAIN_TIMEOUT_US (500 * 1000)

/* Everything but the rungs, into l->pipeline (empty). Elements are made into `floating` (it drops
 * them on failure), configured, then all move to the pipeline at once; from there the pipeline
 * owns them and the locals are borrowed. One error path: what was not moved yet is dropped; what
 * was moved goes with the pipeline (lc_ladder_free). */
static int
build_pipeline(lc_ladder *l, char **err)
{
  GPtrArray *floating = g_ptr_array_new_with_free_func(drop_floating);
  GstElement *vparse = NULL, *vcf = NULL, *stee = NULL, *dq = NULL, *dec = NULL, *conv = NULL, *ovl = NULL,
             *rtee = NULL;
  GstElement *aq = NULL, *aparse = NULL, *adec = NULL, *aconv = NULL, *ares = NULL, *acf = NULL, *opus = NULL,
             *opay = NULL, *asink = NULL;
  GstElement *sq = NULL, *spay = NULL, *ssink = NULL; /* "source" branch (passthrough) */
  GstCaps *caps = NULL;
  GstPad *pad = NULL;

  /* Make. */
  if (!(vparse = lc__ladder_make(floating, "h264parse", "vparse", err)) ||
      !(vcf = lc__ladder_make(floating, "capsfilter", "vcaps", err)) ||
      !(stee = lc__ladder_make(floating, "tee", "stee", err)) ||
      !(dq = lc__ladder_make(floating, "queue", "decq", err)) ||
      !(dec = lc__ladder_make(floating, "avdec_h264", "vdec", err)) ||
      !(conv = lc__ladder_make(floating, "videoconvert", "vconv", err)) ||
      !(rtee = lc__ladder_make(floating, "tee", "rtee", err)) ||
      !(aq = lc__ladder_make(floating, "queue", "aq", err)) ||
      !(aparse = lc__ladder_make(floating, "aacparse", "aparse", err)) ||
      !(adec = lc__ladder_make(floating, "avdec_aac", "adec", err)) ||
      !(aconv = lc__ladder_make(floating, "audioconvert", "aconv", err)) ||
      !(ares = lc__ladder_make(floating, "audioresample", "ares", err)) ||
      !(acf = lc__ladder_make(floating, "capsfilter", "acaps", err)) ||
      !(opus = lc__ladder_make(floating, "opusenc", "opusenc", err)) ||
      !(opay = lc__ladder_make(floating, "rtpopuspay", "opay", err)))
    goto fail;
  if (l->overlay) {
    ovl = lc__ladder_overlay_element(l->overlay, l->room_id, &l->lat, "overlay");
    g_ptr_array_add(floating, ovl);
  }
  l->audio_rung = lc__ladder_rung_new(l, LC__LADDER_RUNG_AUDIO, NULL);
  g_ptr_array_add(l->rungs, l->audio_rung);
  if (!(asink = lc__ladder_rung_appsink(l->audio_rung, "sink-opus"))) {
    lc_error_set(err, "ladder", "appsink missing");
    goto fail;
  }
  g_ptr_array_add(floating, asink);
  if (l->cfg.passthrough) {
    l->source_rung = lc__ladder_rung_new(l, LC__LADDER_RUNG_SOURCE, NULL);
    g_strlcpy(l->source_rung->def.name, "source", sizeof(l->source_rung->def.name));
    g_ptr_array_add(l->rungs, l->source_rung);
    if (!(sq = lc__ladder_make(floating, "queue", "q-source", err)))
      goto fail;
    if ((spay = lc__ladder_rung_h264pay(l->source_rung, "pay-source")))
      g_ptr_array_add(floating, spay);
    if ((ssink = lc__ladder_rung_appsink(l->source_rung, "sink-source")))
      g_ptr_array_add(floating, ssink);
    if (!spay || !ssink) {
      lc_error_set(err, "ladder", "rtph264pay/appsink missing");
      goto fail;
    }
  }
  if (lc__ladder_front_end_make(l, floating, err) != 0)
    goto fail;
  GstElement *atee = NULL, *adq = NULL; /* HLS: the publisher's AAC to every rung's hlssink2 */
  if (lc__ladder_hls_on(l) && (!(atee = lc__ladder_hls_prepare(l, floating, err)) ||
                               !(adq = lc__ladder_make(floating, "queue", "adecq", err))))
    goto fail;

  /* Configure. */
  g_object_set(vparse, "config-interval", -1, NULL);
  caps = gst_caps_from_string("video/x-h264,stream-format=avc,alignment=au");
  g_object_set(vcf, "caps", caps, NULL);
  gst_clear_caps(&caps);
  g_object_set(stee, "allow-not-linked", TRUE, NULL);
  g_object_set(rtee, "allow-not-linked", TRUE, NULL);
  /* The decoder queue absorbs bursts (a keyframe); it does not leak: dropping compressed frames
   * would corrupt the picture until the next keyframe. Overload shows up as appsrc drops. */
  g_object_set(dq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
               NULL);
  g_object_set(aq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
               NULL);
  if (sq)
    g_object_set(sq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)2 * GST_SECOND,
                 NULL);
  /* Slice threads only: frame threading adds a frame of delay per thread. */
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "thread-type"))
    gst_util_set_object_arg(G_OBJECT(dec), "thread-type", "slice");
  caps = gst_caps_from_string("audio/x-raw,rate=48000,channels=2");
  g_object_set(acf, "caps", caps, NULL);
  gst_clear_caps(&caps);
  g_object_set(opus, "bitrate", l->cfg.audio_bitrate, NULL);
  g_object_set(opay, "pt", (guint)LC_MEDIA_PT_OPUS, "mtu", 1200u, NULL);

  /* Ownership moves to the pipeline. */
  for (guint i = 0; i < floating->len; i++)
    gst_bin_add(GST_BIN(l->pipeline), g_ptr_array_index(floating, i));
  g_free(g_ptr_array_steal(floating, NULL));
  l->vparse = vparse;
  l->aq = aq;
  l->rtee = rtee;
  l->atee = atee;

  /* Link. */
  if (!gst_element_link_many(vparse, vcf, stee, NULL) || !link_tee(stee, dq) ||
      !gst_element_link_many(dq, dec, conv, NULL) ||
      !(ovl ? gst_element_link_many(conv, ovl, rtee, NULL) : gst_element_link(conv, rtee)) ||
      !(atee ? gst_element_link_many(aq, aparse, atee, NULL) && link_tee(atee, adq) &&
                   gst_element_link_many(adq, adec, aconv, ares, acf, opus, opay, asink, NULL)
             : gst_element_link_many(aq, aparse, adec, aconv, ares, acf, opus, opay, asink, NULL))) {
    lc_error_set(err, "ladder", "cannot link the decoding chain");
    goto fail;
  }
  if (sq && (!gst_element_link_many(sq, spay, ssink, NULL) || !link_tee(stee, sq))) {
    lc_error_set(err, "ladder", "cannot link the passthrough branch");
    goto fail;
  }
  if (lc__ladder_front_end_link(l, err) != 0)
    goto fail;
  if (atee) {
    lc__ladder_hls_watch_audio(l, aparse);
    lc__ladder_hls_watch_arrival(l, vparse);
  }
  pad = gst_element_get_static_pad(vparse, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, vparse_probe, l,
                    NULL);
  gst_object_unref(pad);
  pad = gst_element_get_static_pad(rtee, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, rtee_caps_probe, l, NULL);
  l->next_kf_pts = GST_CLOCK_TIME_NONE;
  __atomic_store_n(&l->kf_due_pts, (gint64)-1, __ATOMIC_RELAXED);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, rtee_keyframe_probe, l, NULL);
  gst_object_unref(pad);
  g_ptr_array_unref(floating);
  return 0;

fail:
  g_ptr_array_unref(floating); /* drops what never reached the pipeline */
  return LC_EINVAL;
}

lc_ladder *
lc_ladder_new(const char *room_id, lc_media_room *media, lc_ladder_input input, const lc_ladder_config *cfg,
              lc_ladder_error_cb on_error, gpointer user, char **err)
{
  lc_ladder *l = NULL;
  GError *e = NULL;
  if (!room_id || !media || !cfg ||
      (input != LC_LADDER_INPUT_ES && input != LC_LADDER_INPUT_TS && input != LC_LADDER_INPUT_RTP)) {
    lc_error_set(err, "ladder", "room id, media and config are required");
    goto fail;
  }
  if (!gst_is_initialized() && !gst_init_check(NULL, NULL, &e)) {
    lc_error_set(err, "ladder", "GStreamer init failed: %s", e ? e->message : "?");
    goto fail;
  }
  if (!lc_swscale_register()) {
    lc_error_set(err, "ladder", "cannot register the lcswscale element");
    goto fail;
  }
  /* Everything lc_ladder_free needs first, so that fail can use it. */
  l = g_new0(lc_ladder, 1);
  l->room_id = g_strdup(room_id);
  l->media = lc_media_room_ref(media);
  l->input = input;
  l->on_error = on_error;
  l->user = user;
  g_mutex_init(&l->lock);
  g_mutex_init(&l->rtp_lock);
  lc__ladder_lat_init(&l->lat);
  l->rungs = g_ptr_array_new_with_free_func((GDestroyNotify)lc__ladder_rung_free);
  l->renditions = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rendition_unref);
  if (lc__ladder_check_config(cfg, &l->cfg, err) != 0)
    goto fail;
  if (input == LC_LADDER_INPUT_RTP)
    l->cfg.passthrough = false; /* the publisher's own rendition is the passthrough */
  if (l->cfg.overlay_for && (l->overlay = l->cfg.overlay_for(room_id, l->cfg.overlay_user)))
    lc_overlay_ref(l->overlay);
  if (l->overlay && l->cfg.passthrough && !lc_overlay_passthrough_allowed(l->overlay)) {
    LC_INFO(room_id, NULL, "overlays: no passthrough rung (the room's overlay configuration)");
    l->cfg.passthrough = false;
    if (l->cfg.n_rungs == 0) {
      lc_error_set(err, "ladder",
                   "no rung, and the room's overlays forbid the passthrough rung: nothing to produce");
      goto fail;
    }
  }

  char *pname = g_strdup_printf("ladder-%s", room_id);
  l->pipeline = gst_object_ref_sink(gst_pipeline_new(pname));
  g_free(pname);
  if (build_pipeline(l, err) != 0)
    goto fail;
  l->bus = gst_pipeline_get_bus(GST_PIPELINE(l->pipeline));
  l->bus_watch = gst_bus_add_watch(l->bus, on_bus, l);
  if (gst_element_set_state(l->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    lc_error_set(err, "ladder", "the pipeline refused to start");
    goto fail;
  }
  LC_INFO(room_id, NULL, "ladder started (%s input, %u rungs%s%s)", lc__ladder_input_name(input),
          l->cfg.n_rungs, l->cfg.passthrough ? " + passthrough" : "", l->overlay ? ", overlays" : "");
  return l;

fail:
  g_clear_error(&e);
  lc_ladder_free(l);
  return NULL;
}

void
lc_ladder_free(lc_ladder *l)
{
  if (!l)
    return;
  /* No RTP input arrives once this returns (before the pipeline goes). */
  lc__ladder_front_end_detach(l);
  /* No keyframe request runs once these return (the rendition calls it under its lock). */
  g_mutex_lock(&l->lock);
  for (guint i = 0; i < l->rungs->len; i++)
    lc__ladder_rung_unpublish(g_ptr_array_index(l->rungs, i));
  g_mutex_unlock(&l->lock);
  if (l->bus) {
    gst_bus_remove_watch(l->bus); /* the drain takes the bus's messages itself */
    if (l->pipeline)
      lc__ladder_hls_drain(l, HLS_DRAIN_TIMEOUT_US);
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
  lc_overlay_unref(l->overlay); /* after the pipeline: its overlay stage holds a ref of its own */
  lc__ladder_hls_free(l);
  g_mutex_clear(&l->lock);
  g_mutex_clear(&l->rtp_lock);
  lc__ladder_lat_clear(&l->lat);
  g_free(l->room_id);
  g_free(l);
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
  lc__ladder_lat_get(&l->lat, &out->latency_samples, &out->latency_p50_us, &out->latency_p99_us);
  lc__ladder_lat_get_overlay(&l->lat, &out->overlay_changes, &out->overlay_drawn_us, &out->overlay_out_us);
  out->overlay_cpu_us = __atomic_load_n(&l->lat.ov_cpu_ns, __ATOMIC_RELAXED) / 1000;
}

/* Transcode ladder: the front-ends and their push calls. See ladder.h and ladder_internal.h.
 *
 *   ES:  appsrc(avc) -------------------------------------> vparse    appsrc(aac raw) -> aq
 *   TS:  appsrc(ts) ! tsdemux -- first H.264 pad ---------> vparse    first AAC pad   -> aq
 *   RTP: appsrc(rtp) ! rtpjitterbuffer ! rtph264depay ----> vparse    (no audio)
 *
 * Every appsrc is live, non-blocking and bounded by the push calls: a full queue drops (counted),
 * a producer thread is never held up by the pipeline. */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder_internal.h"

#include <gst/app/gstappsrc.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"

#define MAX_AU_BYTES (16u << 20) /* one access unit */
#define MAX_AUDIO_QUEUE_BUFFERS 200u
#define MAX_TS_QUEUE_BYTES (8u << 20)
#define MAX_TS_CHUNK (4u << 20)
#define TS_OFFSET_MS 1000 /* ES timestamps start at 1 s (audio may precede video) */

/* ---------------------------------------------------------------------------------------------- */
/* Construction (main thread, inside lc_ladder_new) */

/* Counts the TS front-end's audio frames (aq's input): tsdemux's streaming thread. */
static GstPadProbeReturn
audio_in_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  __atomic_add_fetch(&l->audio_in, 1, __ATOMIC_RELAXED);
  return GST_PAD_PROBE_OK;
}

/* tsdemux (its streaming thread): link the first H.264 and the first AAC stream; anything else
 * goes to a fakesink. */
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

int
lc__ladder_front_end_make(lc_ladder *l, GPtrArray *floating, char **err)
{
  GstCaps *caps = NULL;
  switch (l->input) {
  case LC_LADDER_INPUT_ES: {
    GstElement *vsrc = lc__ladder_make(floating, "appsrc", "vsrc", err);
    GstElement *asrc = vsrc ? lc__ladder_make(floating, "appsrc", "asrc", err) : NULL;
    if (!asrc)
      return LC_EINVAL;
    g_object_set(vsrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "block", FALSE, "max-bytes", (guint64)0,
                 NULL);
    g_object_set(asrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "block", FALSE, "max-bytes", (guint64)0,
                 NULL);
    return 0;
  }
  case LC_LADDER_INPUT_TS: {
    GstElement *tssrc = lc__ladder_make(floating, "appsrc", "tssrc", err);
    if (!tssrc || !lc__ladder_make(floating, "tsdemux", "demux", err))
      return LC_EINVAL;
    caps = gst_caps_from_string("video/mpegts,systemstream=(boolean)true,packetsize=(int)188");
    g_object_set(tssrc, "is-live", TRUE, "format", GST_FORMAT_BYTES, "block", FALSE, "caps", caps,
                 "max-bytes", (guint64)0, NULL);
    gst_caps_unref(caps);
    return 0;
  }
  case LC_LADDER_INPUT_RTP: {
    /* appsrc(RTP H.264, arrival time stamps) ! rtpjitterbuffer ! rtph264depay. The jitter buffer
     * puts reordered packets back in order and turns the RTP timestamps into a steady timeline
     * (50 ms: WHIP publishers are near; a lost packet costs a keyframe request, see rtp_push). No
     * audio: the publisher's Opus is already the room's audio rendition. */
    GstElement *src = lc__ladder_make(floating, "appsrc", "rtpsrc", err);
    GstElement *jb = src ? lc__ladder_make(floating, "rtpjitterbuffer", "rtpjb", err) : NULL;
    if (!jb || !lc__ladder_make(floating, "rtph264depay", "rtpdepay", err))
      return LC_EINVAL;
    caps = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video", "clock-rate", G_TYPE_INT,
                               90000, "encoding-name", G_TYPE_STRING, "H264", "payload", G_TYPE_INT,
                               LC_MEDIA_PT_H264, NULL);
    g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE, "block", FALSE,
                 "caps", caps, "max-bytes", (guint64)0, NULL);
    gst_caps_unref(caps);
    g_object_set(jb, "latency", 50u, NULL);
    return 0;
  }
  }
  lc_error_set(err, "ladder", "unknown input %d", (int)l->input);
  return LC_EINVAL;
}

const char *
lc__ladder_input_name(lc_ladder_input input)
{
  switch (input) {
  case LC_LADDER_INPUT_ES:
    return "ES";
  case LC_LADDER_INPUT_TS:
    return "TS";
  case LC_LADDER_INPUT_RTP:
    return "RTP";
  }
  return "?";
}

/* The pipeline's element of that name (borrowed: the pipeline keeps it), or NULL. */
static GstElement *
by_name(lc_ladder *l, const char *name)
{
  GstElement *e = gst_bin_get_by_name(GST_BIN(l->pipeline), name);
  if (e)
    gst_object_unref(e);
  return e;
}

int
lc__ladder_front_end_link(lc_ladder *l, char **err)
{
  GstPad *pad = NULL;
  bool ok = false;
  switch (l->input) {
  case LC_LADDER_INPUT_ES:
    l->vsrc = by_name(l, "vsrc");
    l->asrc = by_name(l, "asrc");
    ok = l->vsrc && l->asrc && gst_element_link(l->vsrc, l->vparse) && gst_element_link(l->asrc, l->aq);
    break;
  case LC_LADDER_INPUT_TS: {
    GstElement *demux = by_name(l, "demux");
    l->tssrc = by_name(l, "tssrc");
    ok = demux && l->tssrc && gst_element_link(l->tssrc, demux);
    if (ok) {
      g_signal_connect(demux, "pad-added", G_CALLBACK(on_demux_pad), l);
      pad = gst_element_get_static_pad(l->aq, "sink");
      gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, audio_in_probe, l, NULL);
      gst_object_unref(pad);
    }
    break;
  }
  case LC_LADDER_INPUT_RTP: {
    GstElement *jb = by_name(l, "rtpjb"), *depay = by_name(l, "rtpdepay");
    l->rtpsrc = by_name(l, "rtpsrc");
    ok = l->rtpsrc && jb && depay && gst_element_link_many(l->rtpsrc, jb, depay, l->vparse, NULL);
    break;
  }
  }
  if (!ok) {
    lc_error_set(err, "ladder", "cannot link the %s front-end", lc__ladder_input_name(l->input));
    return LC_EINVAL;
  }
  return 0;
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
 * rungs would carry the damage until the publisher's next GOP. The rendition's producer thread,
 * or the main thread for the backlog. */
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
  GstBuffer *b = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, pkt->data, pkt->len, 0, pkt->len,
                                             lc_pkt_ref(pkt), pkt_release);
  guint64 queued = gst_app_src_get_current_level_buffers(GST_APP_SRC(l->rtpsrc));
  if (queued >= LC__LADDER_MAX_VIDEO_QUEUE_BUFFERS * 16) { /* ~90 frames of packets */
    gst_buffer_unref(b);
    lc__ladder_count_drop(l);
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

void
lc__ladder_front_end_detach(lc_ladder *l)
{
  if (l->rtp_in) {
    lc_rendition_unsubscribe(l->rtp_in, l->rtp_sub);
    g_clear_pointer(&l->rtp_in, lc_rendition_unref);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* ES front-end: the producer thread */

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
    lc__ladder_count_drop(l);
    return LC_ELIMIT;
  }
  if (gst_app_src_get_current_level_buffers(GST_APP_SRC(l->vsrc)) >= LC__LADDER_MAX_VIDEO_QUEUE_BUFFERS) {
    lc__ladder_count_drop(l);
    l->video_wait_kf = true; /* the next frames reference the dropped one */
    return LC_ELIMIT;
  }
  GstClockTime dts, pts;
  if (!es_time(l, dts_ms, &dts) || !es_time(l, dts_ms + cts_ms, &pts)) {
    lc__ladder_count_drop(l);
    return LC_ELIMIT;
  }
  l->video_wait_kf = false;
  GstBuffer *b = gst_buffer_new_memdup(au, len);
  GST_BUFFER_DTS(b) = dts;
  GST_BUFFER_PTS(b) = pts;
  if (!keyframe)
    GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
  lc__ladder_lat_note_push(&l->lat, pts);
  if (gst_app_src_push_buffer(GST_APP_SRC(l->vsrc), b) != GST_FLOW_OK) {
    lc__ladder_count_drop(l);
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
    lc__ladder_count_drop(l);
    return LC_ELIMIT;
  }
  GstBuffer *b = gst_buffer_new_memdup(frame, len);
  GST_BUFFER_PTS(b) = pts;
  if (gst_app_src_push_buffer(GST_APP_SRC(l->asrc), b) != GST_FLOW_OK) {
    lc__ladder_count_drop(l);
    return LC_ESTATE;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* TS front-end: the producer thread */

int
lc_ladder_push_ts(lc_ladder *l, const uint8_t *data, size_t len)
{
  if (!l->tssrc)
    return LC_ESTATE;
  if (!data || len == 0 || len > MAX_TS_CHUNK)
    return LC_EINVAL;
  if (gst_app_src_get_current_level_bytes(GST_APP_SRC(l->tssrc)) >= MAX_TS_QUEUE_BYTES) {
    lc__ladder_count_drop(l);
    return LC_ELIMIT;
  }
  if (gst_app_src_push_buffer(GST_APP_SRC(l->tssrc), gst_buffer_new_memdup(data, len)) != GST_FLOW_OK) {
    lc__ladder_count_drop(l);
    return LC_ESTATE;
  }
  return 0;
}

/* HLS output of the ladder (see ladder.h, cfg.hls_root): every x264 rung's encoded H.264 and the
 * publisher's own AAC (no re-encode) are muxed into MPEG-TS segments by one hlssink2 per rung:
 *
 *   rung bin "encoded" pad ! queue ! h264parse ! hlssink2(video)      <room>/<rung>/index.m3u8
 *   aparse ! atee ! queue ! hlssink2(audio) (one branch per rung)     <room>/<rung>/<t>-%05d.ts
 *   <room>/master.m3u8: the variants (BANDWIDTH, RESOLUTION, CODECS from the streams' own caps)
 *
 * Segments line up across rungs: the ladder schedules every rung's keyframes at the same frames
 * (rtee_keyframe_probe in ladder.c) and each hlssink2 cuts at the first keyframe at or after the
 * target duration, so segment N of every rung covers the same media time. hlssink2 sends no
 * keyframe requests of its own (they would reach one encoder and shift its GOP). Segment names
 * carry the ladder's start time: a rebuilt ladder never reuses a name a CDN may have cached.
 * The "source" rung and WHIP (RTP) input without AAC are not written (source GOPs are the
 * publisher's, not aligned; WHIP audio is Opus).
 *
 * Threads: prepare on the main thread (build_pipeline); add_rung in the decoder's streaming thread
 * with l->lock held (rtee_caps_probe); the caps probes on streaming threads; the master playlist is
 * written under l->hls_lock whenever a codec becomes known. */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder_internal.h"
#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

static char *
room_dir(lc_ladder *l)
{
  return g_build_filename(l->cfg.hls_root, l->room_id, NULL);
}

/* "avc1.PPCCLL" from an avc caps' codec_data (AVCDecoderConfigurationRecord), or NULL. */
static char *
avc1_of(GstCaps *caps)
{
  const GstStructure *st = gst_caps_get_structure(caps, 0);
  const GValue *v = gst_structure_get_value(st, "codec_data");
  GstBuffer *cd = v && G_VALUE_HOLDS(v, GST_TYPE_BUFFER) ? gst_value_get_buffer(v) : NULL;
  GstMapInfo m;
  if (!cd || !gst_buffer_map(cd, &m, GST_MAP_READ))
    return NULL;
  char *s = m.size >= 4 ? g_strdup_printf("avc1.%02x%02x%02x", m.data[1], m.data[2], m.data[3]) : NULL;
  gst_buffer_unmap(cd, &m);
  return s;
}

/* "mp4a.40.N" from aacparse's caps. */
static char *
mp4a_of(GstCaps *caps)
{
  const char *profile = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
  int aot = 2; /* LC */
  if (profile && strcmp(profile, "he-aac-v2") == 0)
    aot = 29;
  else if (profile && strcmp(profile, "he-aac") == 0)
    aot = 5;
  else if (profile && strcmp(profile, "main") == 0)
    aot = 1;
  return g_strdup_printf("mp4a.40.%d", aot);
}

/* Writes master.m3u8 (atomically: temp file + rename) once every rung's codec is known. */
static void
write_master(lc_ladder *l)
{
  g_mutex_lock(&l->hls_lock);
  GString *m = g_string_new("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
  bool complete = l->hls_rungs->len > 0;
  for (guint i = 0; i < l->hls_rungs->len && complete; i++) {
    lc__ladder_hls_rung *h = g_ptr_array_index(l->hls_rungs, i);
    if (!h->codec) {
      complete = false;
      break;
    }
    /* BANDWIDTH is a peak: x264's rate control overshoots its target on scene changes. */
    unsigned audio_bps = l->hls_audio_codec ? 160000 : 0;
    g_string_append_printf(m, "#EXT-X-STREAM-INF:BANDWIDTH=%u,AVERAGE-BANDWIDTH=%u,RESOLUTION=%dx%d,CODECS=\"%s%s%s\"",
                           (unsigned)h->def.bitrate_kbps * 1250 + audio_bps,
                           (unsigned)h->def.bitrate_kbps * 1000 + audio_bps, h->def.width, h->def.height, h->codec,
                           l->hls_audio_codec ? "," : "", l->hls_audio_codec ? l->hls_audio_codec : "");
    if (l->hls_fps > 0)
      g_string_append_printf(m, ",FRAME-RATE=%.3f", l->hls_fps);
    g_string_append_printf(m, "\n%s/index.m3u8\n", h->def.name);
  }
  if (complete) {
    char *dir = room_dir(l);
    char *path = g_build_filename(dir, "master.m3u8", NULL);
    GError *e = NULL;
    if (!g_file_set_contents(path, m->str, (gssize)m->len, &e)) {
      LC_WARN(l->room_id, NULL, "HLS: cannot write %s: %s", path, e->message);
      g_clear_error(&e);
    }
    g_free(path);
    g_free(dir);
  }
  g_string_free(m, TRUE);
  g_mutex_unlock(&l->hls_lock);
}

static GstPadProbeReturn
video_caps_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc__ladder_hls_rung *h = user;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps(ev, &caps);
  char *codec = avc1_of(caps);
  if (!codec)
    return GST_PAD_PROBE_OK;
  g_mutex_lock(&h->l->hls_lock);
  bool changed = !h->codec || strcmp(h->codec, codec) != 0;
  g_free(h->codec);
  h->codec = codec;
  g_mutex_unlock(&h->l->hls_lock);
  if (changed)
    write_master(h->l);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
audio_caps_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps(ev, &caps);
  char *codec = mp4a_of(caps);
  g_mutex_lock(&l->hls_lock);
  bool changed = !l->hls_audio_codec || strcmp(l->hls_audio_codec, codec) != 0;
  g_free(l->hls_audio_codec);
  l->hls_audio_codec = codec;
  g_mutex_unlock(&l->hls_lock);
  if (changed)
    write_master(l);
  return GST_PAD_PROBE_OK;
}

bool
lc__ladder_hls_on(const lc_ladder *l)
{
  return l->cfg.hls_root && *l->cfg.hls_root && l->input != LC_LADDER_INPUT_RTP;
}

GstElement *
lc__ladder_hls_prepare(lc_ladder *l, GPtrArray *floating, char **err)
{
  g_mutex_init(&l->hls_lock);
  l->hls_rungs = g_ptr_array_new();
  l->hls_started = g_get_real_time() / G_USEC_PER_SEC;
  char *dir = room_dir(l);
  int rc = g_mkdir_with_parents(dir, 0755);
  if (rc != 0)
    LC_WARN(l->room_id, NULL, "HLS: cannot create %s: %s (the room plays over WebRTC only)", dir, g_strerror(errno));
  g_free(dir);
  GstElement *atee = lc__ladder_make(floating, "tee", "atee", err);
  if (atee)
    g_object_set(atee, "allow-not-linked", TRUE, NULL);
  return atee;
}

/* vparse's sink pad, every buffer and event (the front-end's streaming thread): a frame that
 * just arrived (appsrc or the TS demuxer hand it on at once) pairs its running time with now. The
 * smallest difference is the one least delayed by queues: a segment's first frame (its running
 * time, in the fragment messages) then has the wall time it reached the server, which is when
 * the moderator's pins of the same moment were made. */
static GstPadProbeReturn
arrival_probe(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
  lc_ladder *l = user;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_SEGMENT)
      gst_event_copy_segment(ev, &l->hls_vsegment);
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
  GstClockTime t = GST_BUFFER_DTS_OR_PTS(b);
  if (l->hls_vsegment.format != GST_FORMAT_TIME || !GST_CLOCK_TIME_IS_VALID(t))
    return GST_PAD_PROBE_OK;
  guint64 rt = gst_segment_to_running_time(&l->hls_vsegment, GST_FORMAT_TIME, t);
  if (!GST_CLOCK_TIME_IS_VALID(rt))
    return GST_PAD_PROBE_OK;
  gint64 off = g_get_real_time() - (gint64)(rt / GST_USECOND);
  gint64 old = __atomic_load_n(&l->hls_wall_offset_us, __ATOMIC_RELAXED);
  while (off < old && !__atomic_compare_exchange_n(&l->hls_wall_offset_us, &old, off, false, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
    ;
  return GST_PAD_PROBE_OK;
}

void
lc__ladder_hls_watch_arrival(lc_ladder *l, GstElement *vparse)
{
  gst_segment_init(&l->hls_vsegment, GST_FORMAT_UNDEFINED);
  __atomic_store_n(&l->hls_wall_offset_us, G_MAXINT64, __ATOMIC_RELAXED);
  GstPad *pad = gst_element_get_static_pad(vparse, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, arrival_probe, l, NULL);
  gst_object_unref(pad);
}

void
lc__ladder_hls_watch_audio(lc_ladder *l, GstElement *aparse)
{
  GstPad *pad = gst_element_get_static_pad(aparse, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, audio_caps_probe, l, NULL);
  gst_object_unref(pad);
}

int
lc__ladder_hls_add_rung(lc_ladder *l, const lc_ladder_rung *def, bool top, GstElement *rung_bin, char **err)
{
  char n[64], *dir = room_dir(l), *rdir = g_build_filename(dir, def->name, NULL);
  g_free(dir);
  if (g_mkdir_with_parents(rdir, 0755) != 0) {
    LC_WARN(l->room_id, NULL, "HLS: cannot create %s: %s", rdir, g_strerror(errno));
    g_free(rdir);
    return 0; /* the rung still plays over WebRTC */
  }
  GstElement *q = NULL, *parse = NULL, *sink = NULL, *aq = NULL;
  g_snprintf(n, sizeof n, "hlsq-%s", def->name);
  q = gst_element_factory_make("queue", n);
  g_snprintf(n, sizeof n, "hlsparse-%s", def->name);
  parse = gst_element_factory_make("h264parse", n);
  g_snprintf(n, sizeof n, "hls-%s", def->name);
  sink = gst_element_factory_make("hlssink2", n);
  g_snprintf(n, sizeof n, "hlsaq-%s", def->name);
  aq = l->atee ? gst_element_factory_make("queue", n) : NULL;
  if (!q || !parse || !sink || (l->atee && !aq)) {
    lc_error_set(err, "ladder", "HLS: queue, h264parse or hlssink2 missing (gst-plugins-bad)");
    GstElement *made[] = {q, parse, sink, aq};
    for (unsigned i = 0; i < G_N_ELEMENTS(made); i++)
      if (made[i])
        gst_object_unref(gst_object_ref_sink(made[i]));
    g_free(rdir);
    return LC_EINVAL;
  }
  char *loc = g_strdup_printf("%s/%" G_GINT64_FORMAT "-%%05d.ts", rdir, l->hls_started);
  char *pl = g_build_filename(rdir, "index.m3u8", NULL);
  g_object_set(sink, "location", loc, "playlist-location", pl, "target-duration", l->cfg.hls_segment_s,
               "playlist-length", l->cfg.hls_playlist_len, "max-files", l->cfg.hls_playlist_len + 4,
               "send-keyframe-requests", FALSE, "async-handling", TRUE, NULL);
  char *prefix = g_strdup_printf("%s/%" G_GINT64_FORMAT "-", rdir, l->hls_started); /* h->seg_prefix */
  g_free(loc);
  g_free(pl);
  g_free(rdir);
  /* Generous queues: a slow disk delays segments, never the encoders (the WebRTC path). The sink
   * handles its own asynchronous state changes: added to a playing pipeline, hlssink2 (its
   * splitmuxsink) would otherwise take the pipeline out of PLAYING until it prerolls, and it never
   * prerolled (nothing was ever written). */
  g_object_set(q, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)4 * GST_SECOND, NULL);
  gst_util_set_object_arg(G_OBJECT(q), "leaky", "downstream");
  gst_bin_add_many(GST_BIN(l->pipeline), q, parse, sink, NULL);
  if (aq) {
    g_object_set(aq, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time", (guint64)4 * GST_SECOND,
                 NULL);
    gst_util_set_object_arg(G_OBJECT(aq), "leaky", "downstream");
    gst_bin_add(GST_BIN(l->pipeline), aq);
  }
  lc__ladder_hls_rung *h = g_new0(lc__ladder_hls_rung, 1);
  h->l = l;
  h->def = *def;
  h->top = top;
  h->sink = sink;
  h->seg_prefix = prefix;
  g_mutex_lock(&l->hls_lock);
  g_ptr_array_add(l->hls_rungs, h); /* freed with the ladder, linked or not */
  g_mutex_unlock(&l->hls_lock);
  /* The encoder's avc caps (with codec_data), before h264parse turns them into byte-stream. */
  GstPad *ppad = gst_element_get_static_pad(q, "sink");
  gst_pad_add_probe(ppad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, video_caps_probe, h, NULL);
  gst_object_unref(ppad);
  /* The branch is linked inside, started, and only then fed: a queue fed before its downstream
   * runs gets FLUSHING back, pauses its task and never resumes. */
  bool ok = gst_element_link(q, parse) && gst_element_link_pads(parse, "src", sink, "video") &&
            (!aq || gst_element_link_pads(aq, "src", sink, "audio"));
  GstElement *order[] = {sink, parse, q, aq};
  for (unsigned i = 0; ok && i < G_N_ELEMENTS(order); i++)
    if (order[i])
      ok = gst_element_sync_state_with_parent(order[i]);
  if (ok) {
    GstPad *enc = gst_element_get_static_pad(rung_bin, "encoded");
    GstPad *qsink = gst_element_get_static_pad(q, "sink");
    ok = enc && gst_pad_link(enc, qsink) == GST_PAD_LINK_OK;
    if (enc)
      gst_object_unref(enc);
    gst_object_unref(qsink);
  }
  if (ok && aq) {
    GstPad *tpad = gst_element_request_pad_simple(l->atee, "src_%u");
    GstPad *aqsink = gst_element_get_static_pad(aq, "sink");
    ok = tpad && gst_pad_link(tpad, aqsink) == GST_PAD_LINK_OK;
    if (tpad)
      gst_object_unref(tpad);
    gst_object_unref(aqsink);
  }
  if (!ok) {
    lc_error_set(err, "ladder", "HLS: cannot link rung %s to its hlssink2", def->name);
    return LC_EINVAL;
  }
  return 0;
}

void
lc__ladder_hls_on_message(lc_ladder *l, GstMessage *msg)
{
  const GstStructure *st = gst_message_get_structure(msg);
  if (!st || !l->hls_rungs ||
      (!gst_structure_has_name(st, "splitmuxsink-fragment-opened") &&
       !gst_structure_has_name(st, "splitmuxsink-fragment-closed")))
    return;
  GstObject *parent = gst_object_get_parent(GST_MESSAGE_SRC(msg)); /* splitmuxsink's hlssink2 */
  lc__ladder_hls_rung *h = NULL;
  g_mutex_lock(&l->hls_lock);
  for (guint i = 0; parent && i < l->hls_rungs->len; i++)
    if (((lc__ladder_hls_rung *)g_ptr_array_index(l->hls_rungs, i))->sink == (GstElement *)parent)
      h = g_ptr_array_index(l->hls_rungs, i);
  g_mutex_unlock(&l->hls_lock);
  if (parent)
    gst_object_unref(parent);
  guint64 rt = 0;
  if (!h || !gst_structure_get_uint64(st, "running-time", &rt))
    return;
  if (gst_structure_has_name(st, "splitmuxsink-fragment-opened")) {
    h->is_open = true;
    h->open_rt = rt;
    /* The arrival time of its first frame (arrival_probe). Not the message's own time: the
     * muxer opens a fragment once it holds the GOP before it, and the ladder works in bursts. */
    gint64 off = __atomic_load_n(&l->hls_wall_offset_us, __ATOMIC_RELAXED);
    h->open_wall_us = off != G_MAXINT64 ? (gint64)(rt / GST_USECOND) + off : g_get_real_time();
    h->opened++;
    return;
  }
  if (!h->is_open || rt < h->open_rt)
    return;
  h->is_open = false;
  if (!l->cfg.on_segment)
    return;
  unsigned index = h->opened - 1;
  char *path = g_strdup_printf("%s%05u.ts", h->seg_prefix, index); /* hlssink2's name for it */
  lc_ladder_segment seg = {.rung = h->def.name,
                           .top = h->top,
                           .path = path,
                           .index = index,
                           .duration_s = (double)(rt - h->open_rt) / GST_SECOND,
                           .wall_start_us = h->open_wall_us};
  l->cfg.on_segment(l->room_id, &seg, l->cfg.segment_user);
  g_free(path);
}

void
lc__ladder_hls_drain(lc_ladder *l, gint64 timeout_us)
{
  if (!l->hls_rungs || !l->cfg.on_segment || !l->bus)
    return;
  unsigned open = 0;
  g_mutex_lock(&l->hls_lock);
  GPtrArray *rungs = g_ptr_array_copy(l->hls_rungs, NULL, NULL);
  g_mutex_unlock(&l->hls_lock);
  for (guint i = 0; i < rungs->len; i++) {
    lc__ladder_hls_rung *h = g_ptr_array_index(rungs, i);
    if (!h->is_open)
      continue;
    open++;
    /* EOS behind what the branch's queues hold: the muxer writes the fragment out and closes it */
    for (unsigned k = 0; k < 2; k++) {
      char *n = g_strconcat(k == 0 ? "hlsq-" : "hlsaq-", h->def.name, NULL);
      GstElement *q = gst_bin_get_by_name(GST_BIN(l->pipeline), n);
      GstPad *pad = q ? gst_element_get_static_pad(q, "sink") : NULL;
      if (pad)
        gst_pad_send_event(pad, gst_event_new_eos());
      g_clear_pointer(&pad, gst_object_unref);
      g_clear_pointer(&q, gst_object_unref);
      g_free(n);
    }
  }
  gint64 deadline = g_get_monotonic_time() + timeout_us;
  while (open > 0) {
    gint64 left = deadline - g_get_monotonic_time();
    GstMessage *msg = left > 0 ? gst_bus_timed_pop_filtered(l->bus, (GstClockTime)left * GST_USECOND,
                                                            GST_MESSAGE_ELEMENT)
                               : NULL;
    if (!msg)
      break;
    const GstStructure *st = gst_message_get_structure(msg);
    bool closed = st && gst_structure_has_name(st, "splitmuxsink-fragment-closed");
    lc__ladder_hls_on_message(l, msg);
    gst_message_unref(msg);
    if (closed)
      open--;
  }
  if (open > 0)
    LC_WARN(l->room_id, NULL, "HLS: %u last segment(s) not written within %" G_GINT64_FORMAT " ms", open,
            timeout_us / 1000);
  g_ptr_array_unref(rungs);
}

void
lc__ladder_hls_free(lc_ladder *l)
{
  if (!l->hls_rungs)
    return;
  for (guint i = 0; i < l->hls_rungs->len; i++) {
    lc__ladder_hls_rung *h = g_ptr_array_index(l->hls_rungs, i);
    g_free(h->codec);
    g_free(h->seg_prefix);
    g_free(h);
  }
  g_ptr_array_unref(l->hls_rungs);
  g_free(l->hls_audio_codec);
  g_mutex_clear(&l->hls_lock);
}

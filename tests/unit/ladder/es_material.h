/* Test material for the ladder tests: H.264 access units (AVCC) + raw AAC frames encoded by a
 * GStreamer helper pipeline once per test, pushed into ladders as RTMP would. Shared by
 * test_ladder.c and test_ladder_overlay.c. */
#pragma once
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  GBytes *data;
  int64_t dts_ms;
  int32_t cts_ms;
  bool key;
} es_au;

typedef struct {
  GArray *video; /* es_au */
  GArray *audio; /* es_au (pts in dts_ms) */
  GBytes *avcc, *asc;
  GPtrArray *ts; /* GBytes chunks of an MPEG-TS (test_ladder's TS input), may be NULL */
} material;

static void
au_clear(gpointer p)
{
  g_bytes_unref(((es_au *)p)->data);
}

G_GNUC_UNUSED static void
material_free(material *m)
{
  if (m->video)
    g_array_unref(m->video);
  if (m->audio)
    g_array_unref(m->audio);
  if (m->ts)
    g_ptr_array_unref(m->ts);
  if (m->avcc)
    g_bytes_unref(m->avcc);
  if (m->asc)
    g_bytes_unref(m->asc);
  g_free(m);
}

/* Runs a helper pipeline to EOS (60 s deadline); returns it PLAYING so appsinks hold samples. */
G_GNUC_UNUSED static GstElement *
run_to_eos(const char *desc)
{
  GError *e = NULL;
  GstElement *p = gst_parse_launch(desc, &e);
  g_assert_no_error(e);
  g_assert_cmpint(gst_element_set_state(p, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error(msg, &err, NULL);
    g_error("helper pipeline failed: %s", err->message);
  }
  gst_message_unref(msg);
  gst_object_unref(bus);
  return p;
}

G_GNUC_UNUSED static GBytes *
buffer_bytes(GstBuffer *b)
{
  GstMapInfo mi;
  g_assert_true(gst_buffer_map(b, &mi, GST_MAP_READ));
  GBytes *out = g_bytes_new(mi.data, mi.size);
  gst_buffer_unmap(b, &mi);
  return out;
}

G_GNUC_UNUSED static GBytes *
codec_data(GstSample *s)
{
  const GValue *v = gst_structure_get_value(gst_caps_get_structure(gst_sample_get_caps(s), 0), "codec_data");
  g_assert_nonnull(v);
  return buffer_bytes(gst_value_get_buffer(v));
}

/* `frames` frames of videotestsrc `pattern` at w x h, 30 fps, as H.264 AVCC access units from
 * x264enc with `x264` options (e.g. "bframes=2 b-adapt=false bitrate=2000"), and the matching
 * AAC frames (44.1 kHz stereo). Timestamps start at 0. */
G_GNUC_UNUSED static material *
make_es_material(const char *pattern, int w, int h, const char *x264, int frames)
{
  char *desc = g_strdup_printf(
      "videotestsrc num-buffers=%d pattern=%s ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 "
      "! x264enc speed-preset=superfast key-int-max=30 %s "
      "! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false "
      "wait-on-eos=false "
      "audiotestsrc num-buffers=%d samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 ! avenc_aac "
      "! aacparse ! audio/mpeg,stream-format=raw ! appsink name=a sync=false wait-on-eos=false",
      frames, pattern, w, h, x264, frames * 44100 / 30 / 1024 + 1);
  GstElement *p = run_to_eos(desc);
  g_free(desc);
  material *m = g_new0(material, 1);
  m->video = g_array_new(FALSE, TRUE, sizeof(es_au));
  g_array_set_clear_func(m->video, au_clear);
  m->audio = g_array_new(FALSE, TRUE, sizeof(es_au));
  g_array_set_clear_func(m->audio, au_clear);
  GstElement *vs = gst_bin_get_by_name(GST_BIN(p), "v"), *as = gst_bin_get_by_name(GST_BIN(p), "a");
  GstSample *s;
  GstClockTime dts0 = GST_CLOCK_TIME_NONE;
  while ((s = gst_app_sink_try_pull_sample(GST_APP_SINK(vs), 0))) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!m->avcc)
      m->avcc = codec_data(s);
    GstClockTime dts = GST_BUFFER_DTS_IS_VALID(b) ? GST_BUFFER_DTS(b) : GST_BUFFER_PTS(b);
    if (!GST_CLOCK_TIME_IS_VALID(dts0))
      dts0 = dts;
    es_au au = {.data = buffer_bytes(b),
                .dts_ms = (int64_t)((dts - dts0) / GST_MSECOND),
                .cts_ms = (int32_t)(((int64_t)GST_BUFFER_PTS(b) - (int64_t)dts) / (int64_t)GST_MSECOND),
                .key = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)};
    g_array_append_val(m->video, au);
    gst_sample_unref(s);
  }
  GstClockTime pts0 = GST_CLOCK_TIME_NONE;
  while ((s = gst_app_sink_try_pull_sample(GST_APP_SINK(as), 0))) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!m->asc)
      m->asc = codec_data(s);
    if (!GST_CLOCK_TIME_IS_VALID(pts0))
      pts0 = GST_BUFFER_PTS(b);
    es_au au = {
        .data = buffer_bytes(b), .dts_ms = (int64_t)((GST_BUFFER_PTS(b) - pts0) / GST_MSECOND), .key = true};
    g_array_append_val(m->audio, au);
    gst_sample_unref(s);
  }
  gst_object_unref(vs);
  gst_object_unref(as);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  g_assert_cmpuint(m->video->len, ==, (guint)frames);
  g_assert_cmpuint(m->audio->len, >, 10);
  return m;
}

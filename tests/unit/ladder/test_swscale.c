/* lcswscale (pipelines/ladder/swscale.c): sizes negotiated from downstream, the picture kept
 * (a flat color stays that color, a left/right split stays split), same size passes through. */
#include "ladder/swscale.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "../gst_sanitizer.h"

typedef struct {
  int width, height;
  guint8 y[2], u[2], v[2]; /* at 1/4 and 3/4 of the width, middle row */
} picture;

/* Runs `videotestsrc PROPS ! IN,format=I420 ! lcswscale ! OUT ! appsink` for one frame and reads
 * it back. */
static bool
scale_one(const char *props, const char *in, const char *caps, picture *out)
{
  char *desc = g_strdup_printf("videotestsrc %s num-buffers=1 ! %s,format=I420 ! lcswscale ! %s ! appsink name=sink",
                               props, in, caps);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch(desc, &err);
  g_free(desc);
  g_assert_no_error(err);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstSample *smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND);
  bool ok = smp != NULL;
  if (smp) {
    GstVideoInfo info;
    g_assert_true(gst_video_info_from_caps(&info, gst_sample_get_caps(smp)));
    GstVideoFrame f;
    g_assert_true(gst_video_frame_map(&f, &info, gst_sample_get_buffer(smp), GST_MAP_READ));
    out->width = GST_VIDEO_INFO_WIDTH(&info);
    out->height = GST_VIDEO_INFO_HEIGHT(&info);
    for (int i = 0; i < 2; i++) {
      int x = out->width * (1 + 2 * i) / 4, y = out->height / 2;
      out->y[i] = ((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0))[y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0) + x];
      out->u[i] = ((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 1))[y / 2 * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 1) + x / 2];
      out->v[i] = ((guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 2))[y / 2 * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 2) + x / 2];
    }
    gst_video_frame_unmap(&f);
    gst_sample_unref(smp);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  return ok;
}

static void
assert_near(int a, int b)
{
  g_assert_cmpint(ABS(a - b), <=, 3);
}

static void
test_flat_color_any_size(void)
{
  const char *src = "pattern=solid-color foreground-color=0xff3366cc", *in = "video/x-raw,width=640,height=360";
  picture ref, p;
  g_assert_true(scale_one(src, in, "video/x-raw,width=640,height=360", &ref)); /* same size: passthrough */
  g_assert_cmpint(ref.width, ==, 640);
  const char *sizes[] = {"video/x-raw,width=320,height=180", "video/x-raw,width=854,height=480",
                         "video/x-raw,width=100,height=50"};
  int want[][2] = {{320, 180}, {854, 480}, {100, 50}};
  for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
    g_assert_true(scale_one(src, in, sizes[i], &p));
    g_assert_cmpint(p.width, ==, want[i][0]);
    g_assert_cmpint(p.height, ==, want[i][1]);
    assert_near(p.y[0], ref.y[0]);
    assert_near(p.u[0], ref.u[0]);
    assert_near(p.v[0], ref.v[0]);
  }
}

/* A picture that is not flat keeps its layout: SMPTE bars' left quarter (white/grey) and right
 * quarter (blue/red side) differ the same way after scaling. */
static void
test_layout_kept(void)
{
  const char *in = "video/x-raw,width=1280,height=720";
  picture big, small;
  g_assert_true(scale_one("pattern=smpte", in, "video/x-raw,width=1280,height=720", &big));
  g_assert_true(scale_one("pattern=smpte", in, "video/x-raw,width=640,height=360", &small));
  for (int i = 0; i < 2; i++) {
    assert_near(small.y[i], big.y[i]);
    assert_near(small.u[i], big.u[i]);
    assert_near(small.v[i], big.v[i]);
  }
  g_assert_cmpint(ABS(big.y[0] - big.y[1]), >, 20); /* the probe points really differ */
}

/* Downstream without a size: the input's size, passed through. */
static void
test_open_size_keeps_input(void)
{
  picture p;
  g_assert_true(scale_one("", "video/x-raw,width=320,height=240", "video/x-raw", &p));
  g_assert_cmpint(p.width, ==, 320);
  g_assert_cmpint(p.height, ==, 240);
}

int
main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, NULL);
  g_assert_true(lc_swscale_register());
  g_assert_true(lc_swscale_register()); /* idempotent */
  g_test_add_func("/swscale/flat-color-any-size", test_flat_color_any_size);
  g_test_add_func("/swscale/layout-kept", test_layout_kept);
  g_test_add_func("/swscale/open-size-keeps-input", test_open_size_keeps_input);
  return g_test_run();
}

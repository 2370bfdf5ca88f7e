/* Transcode ladder: the overlay stage (see ladder_internal.h), the element "lcoverlay":
 *
 *   avdec_h264 ! videoconvert ! lcoverlay ! tee(rtee) ! rungs
 *
 * A GstVideoFilter, I420 in place (the rungs' scaler takes I420 only, so videoconvert produces it
 * for them anyway). It sits before the rung tee, so every transcoded rung carries the overlays,
 * scaled with the picture; the "source" rung branches off before the decoder and stays clean.
 *
 * Per frame, in the decoder's streaming thread (before_transform, ahead of basetransform's
 * passthrough decision): lc_overlay_view_update(view, wall clock ms). That call is the only cache
 * between a scene change and the picture (it checks the scene's version, re-renders what changed,
 * and the countdown once a second), so a change made before a frame reaches this element is in
 * that frame. When the rectangles changed they are re-converted for blending (lc_ovblend_set,
 * the only allocation, once per change); with no rectangle the element is in passthrough: the
 * buffer goes on untouched (no map, no copy, no blend) and a frame costs the version check.
 *
 * Blending needs a frame of its own: avdec_h264 hands out its direct-rendered pictures while
 * libav still holds them as references, so they are never writable (writing into one would
 * corrupt the frames decoded from it). basetransform would then malloc a copy of every frame;
 * here the copy goes into a buffer pool of the negotiated size (prepare_output_buffer), so
 * blending allocates nothing per frame, and a buffer that is writable is blended in place.
 *
 * Why not GStreamer's overlaycomposition: its blend (gst_video_overlay_composition_blend) costs
 * 10-16 ms per 1080p frame for the six elements, against ~0.2 ms here (ovblend.h). The design is
 * the same: "draw" = before_transform, the cached composition = the lc_ovblend, NULL = passthrough.
 *
 * Threads: created on the main thread (lc_ladder_new); set_info, before_transform,
 * transform_frame_ip on the decoder's streaming thread; stop and finalize once it has stopped. */
#define LC_LOG_DOMAIN "ladder"
#include "ladder/ladder_internal.h"
#include "ladder/ovblend.h"

#include <time.h>

#include <gst/video/gstvideofilter.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include "base/log.h"

typedef struct {
  GstVideoFilter parent;
  /* Set at creation, read-only after: */
  lc_overlay *ov; /* ref */
  char *room_id;
  lc__ladder_lat *lat; /* borrowed (the ladder outlives its pipeline), or NULL */
  /* The streaming thread (then stop/finalize): */
  lc_overlay_view *view; /* at the negotiated size; NULL until caps */
  lc_ovblend *blend;
  GstBufferPool *pool; /* frames to blend into when the input is not writable; NULL until caps */
  lc_ovblend_color color;
  int w, h;
  bool blending; /* the last update had something to draw */
} LcLadderOverlay;

typedef struct {
  GstVideoFilterClass parent_class;
} LcLadderOverlayClass;

static GType lc_ladder_overlay_get_type(void);
G_DEFINE_TYPE(LcLadderOverlay, lc_ladder_overlay, GST_TYPE_VIDEO_FILTER)

#define CAPS "video/x-raw, format=(string)I420, width=(int)[2, 8192], height=(int)[2, 8192]"
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));

/* The frame's matrix and range, for the RGB -> YUV conversion of the rectangles. */
static lc_ovblend_color
frame_color(const GstVideoInfo *in)
{
  gdouble kr, kb;
  if (!gst_video_color_matrix_get_Kr_Kb(in->colorimetry.matrix, &kr, &kb)) {
    kr = 0.299; /* unknown: BT.601 (what decoders assume for SD) */
    kb = 0.114;
  }
  gint off[GST_VIDEO_MAX_COMPONENTS], scale[GST_VIDEO_MAX_COMPONENTS];
  gst_video_color_range_offsets(in->colorimetry.range, in->finfo, off, scale);
  lc_ovblend_color c = {.kr = kr, .kb = kb};
  for (int i = 0; i < 3; i++) {
    c.offset[i] = off[i];
    c.scale[i] = scale[i];
  }
  return c;
}

static void
drop_pool(LcLadderOverlay *self)
{
  if (self->pool) {
    gst_buffer_pool_set_active(self->pool, FALSE);
    g_clear_object(&self->pool);
  }
}

/* A pool of frames of these caps (it grows to what the rungs' queues hold, then recycles). */
static bool
set_pool(LcLadderOverlay *self, GstCaps *caps, const GstVideoInfo *in)
{
  drop_pool(self);
  self->pool = gst_video_buffer_pool_new();
  GstStructure *config = gst_buffer_pool_get_config(self->pool);
  gst_buffer_pool_config_set_params(config, caps, (guint)GST_VIDEO_INFO_SIZE(in), 2, 0);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config(self->pool, config) || !gst_buffer_pool_set_active(self->pool, TRUE)) {
    GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT, ("overlays: no buffer pool for %dx%d",
                      GST_VIDEO_INFO_WIDTH(in), GST_VIDEO_INFO_HEIGHT(in)), (NULL));
    g_clear_object(&self->pool);
    return false;
  }
  return true;
}

/* Caps (the decoder's streaming thread): a new view at the negotiated size, whose first update
 * (the next frame) draws everything at that size and colour. A view kept across caps would
 * report "nothing changed" and leave the emptied blend empty. */
static gboolean
set_info(GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in, GstCaps *outcaps, GstVideoInfo *out)
{
  LcLadderOverlay *self = (LcLadderOverlay *)filter;
  int w = GST_VIDEO_INFO_WIDTH(in), h = GST_VIDEO_INFO_HEIGHT(in);
  if (!self->view || w != self->w || h != self->h)
    LC_INFO(self->room_id, NULL, "overlays drawn at %dx%d", w, h);
  lc_overlay_view_free(self->view);
  self->view = lc_overlay_view_new(self->ov, w, h); /* NULL (size refused, logged): no overlays */
  self->w = w;
  self->h = h;
  self->color = frame_color(in);
  if (!set_pool(self, incaps, in))
    return FALSE;
  lc_ovblend_set(self->blend, NULL, 0, w, h, &self->color);
  self->blending = false;
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(filter), TRUE);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(filter), TRUE);
  return TRUE;
}

/* The streaming thread's CPU clock, ns (the stage's cost in lc_ladder_stats). */
static uint64_t
thread_cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
account(LcLadderOverlay *self, uint64_t since_ns)
{
  if (self->lat)
    lc__ladder_lat_add_overlay_cpu(self->lat, thread_cpu_ns() - since_ns);
}

/* The scene's rectangles for this frame: re-converted when they changed. */
static void
update(LcLadderOverlay *self, GstBaseTransform *trans, GstBuffer *buf)
{
  const lc_overlay_rect *rects = NULL;
  unsigned n = 0;
  if (!self->view || !lc_overlay_view_update(self->view, g_get_real_time() / 1000, &rects, &n))
    return;
  lc_ovblend_set(self->blend, rects, n, self->w, self->h, &self->color);
  bool on = !lc_ovblend_empty(self->blend);
  if (!on && !self->blending)
    return; /* nothing drawn before, nothing now: the picture did not change */
  self->blending = on;
  gst_base_transform_set_passthrough(trans, !on);
  if (self->lat) {
    GstClockTime rt = GST_CLOCK_TIME_NONE;
    if (trans->segment.format == GST_FORMAT_TIME && GST_BUFFER_PTS_IS_VALID(buf))
      rt = gst_segment_to_running_time(&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    lc__ladder_lat_note_overlay(self->lat, rt);
  }
}

/* Every frame, before basetransform decides passthrough (the decoder's streaming thread). */
static void
before_transform(GstBaseTransform *trans, GstBuffer *buf)
{
  LcLadderOverlay *self = (LcLadderOverlay *)trans;
  uint64_t t0 = thread_cpu_ns();
  update(self, trans, buf);
  account(self, t0);
}

/* Where the frame to blend goes: passthrough or a writable input is used as is; otherwise a
 * pool frame gets a copy of the picture and the input's timestamps and flags. */
static GstFlowReturn
prepare_output_buffer(GstBaseTransform *trans, GstBuffer *in, GstBuffer **out)
{
  LcLadderOverlay *self = (LcLadderOverlay *)trans;
  if (gst_base_transform_is_passthrough(trans) || gst_buffer_is_writable(in)) {
    *out = in;
    return GST_FLOW_OK;
  }
  if (!self->pool)
    return GST_FLOW_NOT_NEGOTIATED; /* never blend into a frame someone else holds */
  uint64_t t0 = thread_cpu_ns();
  GstBuffer *b = NULL;
  GstFlowReturn ret = gst_buffer_pool_acquire_buffer(self->pool, &b, NULL);
  if (ret != GST_FLOW_OK)
    return ret;
  const GstVideoInfo *info = &GST_VIDEO_FILTER(trans)->in_info;
  GstVideoFrame src, dst;
  if (!gst_video_frame_map(&src, info, in, GST_MAP_READ)) {
    gst_buffer_unref(b);
    return GST_FLOW_ERROR;
  }
  if (!gst_video_frame_map(&dst, info, b, GST_MAP_WRITE)) {
    gst_video_frame_unmap(&src);
    gst_buffer_unref(b);
    return GST_FLOW_ERROR;
  }
  bool ok = gst_video_frame_copy(&dst, &src);
  gst_video_frame_unmap(&dst);
  gst_video_frame_unmap(&src);
  if (!ok) {
    gst_buffer_unref(b);
    return GST_FLOW_ERROR;
  }
  gst_buffer_copy_into(b, in, GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  *out = b;
  account(self, t0);
  return GST_FLOW_OK;
}

static GstFlowReturn
transform_frame_ip(GstVideoFilter *filter, GstVideoFrame *f)
{
  LcLadderOverlay *self = (LcLadderOverlay *)filter;
  if (GST_VIDEO_FRAME_WIDTH(f) != self->w || GST_VIDEO_FRAME_HEIGHT(f) != self->h)
    return GST_FLOW_OK; /* cannot happen (set_info sized everything); never blend out of bounds */
  uint64_t t0 = thread_cpu_ns();
  lc_ovblend_i420(self->blend, GST_VIDEO_FRAME_PLANE_DATA(f, 0), GST_VIDEO_FRAME_PLANE_STRIDE(f, 0),
                  GST_VIDEO_FRAME_PLANE_DATA(f, 1), GST_VIDEO_FRAME_PLANE_STRIDE(f, 1),
                  GST_VIDEO_FRAME_PLANE_DATA(f, 2), GST_VIDEO_FRAME_PLANE_STRIDE(f, 2));
  account(self, t0);
  return GST_FLOW_OK;
}

/* PAUSED -> READY: the streaming thread is gone. */
static gboolean
stop(GstBaseTransform *trans)
{
  LcLadderOverlay *self = (LcLadderOverlay *)trans;
  g_clear_pointer(&self->view, lc_overlay_view_free);
  drop_pool(self);
  lc_ovblend_set(self->blend, NULL, 0, 0, 0, &self->color);
  self->blending = false;
  self->w = self->h = 0;
  return TRUE;
}

static void
finalize(GObject *obj)
{
  LcLadderOverlay *self = (LcLadderOverlay *)obj;
  lc_overlay_view_free(self->view);
  drop_pool(self);
  lc_ovblend_free(self->blend);
  lc_overlay_unref(self->ov);
  g_free(self->room_id);
  G_OBJECT_CLASS(lc_ladder_overlay_parent_class)->finalize(obj);
}

static void
lc_ladder_overlay_class_init(LcLadderOverlayClass *klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  G_OBJECT_CLASS(klass)->finalize = finalize;
  gst_element_class_set_static_metadata(ec, "livecart overlays", "Filter/Editor/Video",
                                        "Blends a room's overlays (overlays/overlay.h) into I420 video",
                                        "livecart");
  gst_element_class_add_static_pad_template(ec, &sink_template);
  gst_element_class_add_static_pad_template(ec, &src_template);
  GstBaseTransformClass *bt = GST_BASE_TRANSFORM_CLASS(klass);
  bt->before_transform = before_transform;
  bt->prepare_output_buffer = prepare_output_buffer;
  bt->stop = stop;
  bt->transform_ip_on_passthrough = FALSE; /* passthrough = nothing to draw: do not even map */
  GstVideoFilterClass *vf = GST_VIDEO_FILTER_CLASS(klass);
  vf->set_info = set_info;
  vf->transform_frame_ip = transform_frame_ip;
}

static void
lc_ladder_overlay_init(LcLadderOverlay *self)
{
  self->blend = lc_ovblend_new();
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
}

GstElement *
lc__ladder_overlay_element(lc_overlay *o, const char *room_id, lc__ladder_lat *lat, const char *name)
{
  LcLadderOverlay *self = g_object_new(lc_ladder_overlay_get_type(), "name", name, NULL);
  self->ov = lc_overlay_ref(o);
  self->room_id = g_strdup(room_id);
  self->lat = lat;
  return GST_ELEMENT(self);
}

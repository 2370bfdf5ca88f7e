/* lcswscale: see swscale.h. */
#include "ladder/swscale.h"

#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>

typedef struct {
  GstVideoFilter parent;
  struct SwsContext *sws; /* NULL when passthrough or not negotiated */
} LcSwscale;

typedef struct {
  GstVideoFilterClass parent_class;
} LcSwscaleClass;

static GType lc_swscale_get_type(void);
G_DEFINE_TYPE(LcSwscale, lc_swscale, GST_TYPE_VIDEO_FILTER)

#define CAPS "video/x-raw, format=(string)I420, width=(int)[2, 8192], height=(int)[2, 8192]"
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));

/* Either side may have any size and pixel aspect ratio; everything else passes unchanged. */
static GstCaps *
transform_caps(GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstCaps *out = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); i++) {
    GstStructure *s = gst_structure_copy(gst_caps_get_structure(caps, i));
    gst_structure_set(s, "width", GST_TYPE_INT_RANGE, 2, 8192, "height", GST_TYPE_INT_RANGE, 2, 8192, NULL);
    gst_structure_remove_field(s, "pixel-aspect-ratio");
    gst_caps_append_structure_full(out, s, gst_caps_features_copy(gst_caps_get_features(caps, i)));
  }
  if (filter) {
    GstCaps *x = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    out = x;
  }
  return out;
}

/* When downstream leaves the size open: keep the input's size and a square pixel. */
static GstCaps *
fixate_caps(GstBaseTransform *trans, GstPadDirection direction, GstCaps *caps, GstCaps *othercaps)
{
  othercaps = gst_caps_truncate(gst_caps_make_writable(othercaps));
  GstStructure *in = gst_caps_get_structure(caps, 0), *out = gst_caps_get_structure(othercaps, 0);
  int w = 0, h = 0;
  if (gst_structure_get_int(in, "width", &w))
    gst_structure_fixate_field_nearest_int(out, "width", w);
  if (gst_structure_get_int(in, "height", &h))
    gst_structure_fixate_field_nearest_int(out, "height", h);
  if (gst_structure_has_field(out, "pixel-aspect-ratio"))
    gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", 1, 1);
  return gst_caps_fixate(othercaps);
}

static gboolean
set_info(GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in, GstCaps *outcaps, GstVideoInfo *out)
{
  LcSwscale *self = (LcSwscale *)filter;
  g_clear_pointer(&self->sws, sws_freeContext);
  bool same = GST_VIDEO_INFO_WIDTH(in) == GST_VIDEO_INFO_WIDTH(out) &&
              GST_VIDEO_INFO_HEIGHT(in) == GST_VIDEO_INFO_HEIGHT(out);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(filter), same);
  if (same)
    return TRUE;
  self->sws = sws_getContext(GST_VIDEO_INFO_WIDTH(in), GST_VIDEO_INFO_HEIGHT(in), AV_PIX_FMT_YUV420P,
                             GST_VIDEO_INFO_WIDTH(out), GST_VIDEO_INFO_HEIGHT(out), AV_PIX_FMT_YUV420P,
                             SWS_BILINEAR, NULL, NULL, NULL);
  if (!self->sws)
    GST_ELEMENT_ERROR(filter, CORE, NEGOTIATION, ("libswscale cannot scale %dx%d to %dx%d",
                      GST_VIDEO_INFO_WIDTH(in), GST_VIDEO_INFO_HEIGHT(in), GST_VIDEO_INFO_WIDTH(out),
                      GST_VIDEO_INFO_HEIGHT(out)), (NULL));
  return self->sws != NULL;
}

static GstFlowReturn
transform_frame(GstVideoFilter *filter, GstVideoFrame *in, GstVideoFrame *out)
{
  LcSwscale *self = (LcSwscale *)filter;
  if (!self->sws)
    return GST_FLOW_NOT_NEGOTIATED;
  const uint8_t *src[4] = {0};
  uint8_t *dst[4] = {0};
  int src_stride[4] = {0}, dst_stride[4] = {0};
  for (int p = 0; p < 3; p++) {
    src[p] = GST_VIDEO_FRAME_PLANE_DATA(in, p);
    src_stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(in, p);
    dst[p] = GST_VIDEO_FRAME_PLANE_DATA(out, p);
    dst_stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(out, p);
  }
  sws_scale(self->sws, src, src_stride, 0, GST_VIDEO_FRAME_HEIGHT(in), dst, dst_stride);
  return GST_FLOW_OK;
}

static void
finalize(GObject *obj)
{
  g_clear_pointer(&((LcSwscale *)obj)->sws, sws_freeContext);
  G_OBJECT_CLASS(lc_swscale_parent_class)->finalize(obj);
}

static void
lc_swscale_class_init(LcSwscaleClass *klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS(klass);
  G_OBJECT_CLASS(klass)->finalize = finalize;
  gst_element_class_set_static_metadata(ec, "livecart libswscale scaler", "Filter/Converter/Video/Scaler",
                                        "Scales I420 video with libswscale (bilinear)", "livecart");
  gst_element_class_add_static_pad_template(ec, &sink_template);
  gst_element_class_add_static_pad_template(ec, &src_template);
  GstBaseTransformClass *bt = GST_BASE_TRANSFORM_CLASS(klass);
  bt->transform_caps = transform_caps;
  bt->fixate_caps = fixate_caps;
  bt->passthrough_on_same_caps = TRUE;
  GstVideoFilterClass *vf = GST_VIDEO_FILTER_CLASS(klass);
  vf->set_info = set_info;
  vf->transform_frame = transform_frame;
}

static void
lc_swscale_init(LcSwscale *self)
{
}

bool
lc_swscale_register(void)
{
  static gsize done;
  static gboolean ok;
  if (g_once_init_enter(&done)) {
    ok = gst_element_register(NULL, "lcswscale", GST_RANK_NONE, lc_swscale_get_type());
    g_once_init_leave(&done, 1);
  }
  return ok;
}

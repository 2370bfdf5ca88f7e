/* lcswscale: a GStreamer video scaler on libswscale, for the ladder's rungs.
 *
 * Why not videoscale: for the ladder's three downscales of a 1080p30 source, GStreamer's
 * videoscale (GstVideoConverter) costs ~50% more CPU than libswscale doing the same bilinear
 * scaling (docs/benchmarks.md, "Transcode"), about half of the ladder's cost above ffmpeg's.
 *
 * I420 in, I420 out, any sizes (downstream caps choose the output size; the same size is
 * passthrough). Bilinear, as ffmpeg's scale=flags=bilinear. The element runs in its rung's
 * streaming thread; one swscale context per element. */
#pragma once
#include <gst/gst.h>
#include <stdbool.h>

/* Registers the element "lcswscale" in this process (idempotent, any thread). false when
 * registration fails. */
bool lc_swscale_register(void);

/* lc_ovblend: the overlays' premultiplied ARGB rectangles (overlays/overlay.h, lc_overlay_rect)
 * blended into I420 frames, cheap enough for every frame of every room's ladder.
 *
 * Why not gst_video_overlay_composition_blend (what GStreamer's overlaycomposition element does
 * for raw video): for six element-sized rectangles covering 28% of a 1080p frame it took
 * 10-16 ms per frame on the 2-core machine (it unpacks and repacks every covered I420 line at
 * full frame width to AYUV, runs the RGB->YUV matrix with a division per pixel on every frame,
 * and blends with divisions), a third to a half of the whole ladder's ~28 ms of CPU per frame.
 * Here each rectangle is converted once, when it changes, into weights (256 - alpha) and
 * premultiplied Y, U, V in units of 1/256 (chroma averaged over its 2x2 luma pixels, so odd
 * positions and sizes blend right); a frame then costs one multiply-add per covered sample,
 * skipping each row's transparent ends. Measured (CPU time, -O2, the same six rectangles):
 * blending 0.15 ms per frame; converting all six 12 ms, once, when they first appear; a change of
 * one element (the countdown's second, a new price) 1.2 ms, because a rectangle whose element,
 * place and pixels are unchanged keeps its conversion (a memcmp against a copy of its source).
 *
 * Pure C, no GStreamer. One thread at a time per lc_ovblend (the ladder's streaming thread). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "overlays/overlay.h"

/* The frame's colour: the matrix's luma coefficients (Kr, Kb: BT.601 0.299/0.114, BT.709
 * 0.2126/0.0722) and the range: Y = offset[0] + scale[0] * E'y, Cb/Cr = offset + scale * E'pb/pr
 * (limited range: offsets 16/128/128, scales 219/224/224; full range: 0/128/128, 255/255/255). */
typedef struct {
  double kr, kb;
  int offset[3], scale[3];
} lc_ovblend_color;

typedef struct lc_ovblend lc_ovblend;

lc_ovblend *lc_ovblend_new(void);
void lc_ovblend_free(lc_ovblend *b); /* NULL is fine */
/* Replaces the rectangles for frames of frame_w x frame_h (pixels copied and converted; rects
 * borrowed). Rectangles are clipped to the frame; empty, fully transparent or malformed ones
 * (NULL pixels, stride < 4 * width) are dropped; one equal to a current one (element, place,
 * pixels; same frame size and colour) keeps its conversion. Allocates. */
void lc_ovblend_set(lc_ovblend *b, const lc_overlay_rect *rects, unsigned n, int frame_w, int frame_h,
                    const lc_ovblend_color *color);
/* True when there is nothing to blend (then a frame needs no work at all). */
bool lc_ovblend_empty(const lc_ovblend *b);
/* Blends into an I420 frame of the size given to lc_ovblend_set (planes Y, U, V). Allocates
 * nothing. */
void lc_ovblend_i420(const lc_ovblend *b, uint8_t *y, int y_stride, uint8_t *u, int u_stride, uint8_t *v,
                     int v_stride);
/* Limited-range colour of a matrix (helper for callers and tests). */
lc_ovblend_color lc_ovblend_color_limited(double kr, double kb);

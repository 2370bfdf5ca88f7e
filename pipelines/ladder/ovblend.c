/* lc_ovblend: see ovblend.h.
 *
 * Arithmetic: with A = alpha in 0..256 and P = the premultiplied sample in 1/256 units, clamped
 * to 255 * A, a sample becomes (d * (256 - A) + P + 128) >> 8. That never exceeds 65408, so the
 * whole loop runs in 16-bit lanes; A = 0 leaves d exactly as it was (the picture outside the
 * overlays is untouched, bit for bit), A = 256 writes round(P / 256). */
#include "ladder/ovblend.h"

#include <glib.h>
#include <math.h>
#include <string.h>

typedef struct {
  int x0, x1; /* covered columns [x0, x1) of a row (relative to the area); x1 <= x0: none */
} span;

/* One rectangle on one plane geometry (luma, or the 2x2-subsampled chroma). */
typedef struct {
  int x, y, w, h;    /* in samples of that plane, inside the frame */
  uint16_t *k;       /* w * h weights 256 - A */
  uint16_t *p[2];    /* w * h premultiplied samples (luma: p[0]; chroma: U, V) */
  span *rows;        /* h */
} area;

/* One converted rectangle, and what it was converted from (the clipped source pixels, tight):
 * a later set with the same element, place and pixels reuses it instead of converting again. */
typedef struct {
  lc_overlay_element element;
  int x, y, w, h; /* clipped, frame coordinates */
  uint32_t *src;  /* w * h source pixels */
  area luma, chroma;
} prect;

struct lc_ovblend {
  prect *r;
  unsigned n;
  int w, h;
  lc_ovblend_color color; /* what r was converted with */
};

/* Fixed-point RGB -> YUV of premultiplied pixels: for channel c, its value in 1/256 units is
 * (m[c][0] R + m[c][1] G + m[c][2] B + m[c][3] a + 128) >> 8. */
typedef struct {
  int32_t m[3][4];
} coef;

lc_ovblend *
lc_ovblend_new(void)
{
  return g_new0(lc_ovblend, 1);
}

static void
area_clear(area *a)
{
  g_free(a->k);
  g_free(a->p[0]);
  g_free(a->p[1]);
  g_free(a->rows);
  memset(a, 0, sizeof(*a));
}

static void
prect_clear(prect *r)
{
  area_clear(&r->luma);
  area_clear(&r->chroma);
  g_clear_pointer(&r->src, g_free);
}

static void
clear(lc_ovblend *b)
{
  for (unsigned i = 0; i < b->n; i++)
    prect_clear(&b->r[i]);
  g_clear_pointer(&b->r, g_free);
  b->n = 0;
}

void
lc_ovblend_free(lc_ovblend *b)
{
  if (!b)
    return;
  clear(b);
  g_free(b);
}

bool
lc_ovblend_empty(const lc_ovblend *b)
{
  return b->n == 0;
}

lc_ovblend_color
lc_ovblend_color_limited(double kr, double kb)
{
  lc_ovblend_color c = {.kr = kr, .kb = kb, .offset = {16, 128, 128}, .scale = {219, 224, 224}};
  return c;
}

static void
area_alloc(area *a, int x, int y, int w, int h, int planes)
{
  a->x = x;
  a->y = y;
  a->w = w;
  a->h = h;
  a->k = g_new(uint16_t, (gsize)w * h);
  for (int i = 0; i < planes; i++)
    a->p[i] = g_new(uint16_t, (gsize)w * h);
  a->rows = g_new(span, h);
}

/* Each row's covered columns: from the first to the last weight below 256. */
static void
area_spans(area *a)
{
  for (int j = 0; j < a->h; j++) {
    const uint16_t *k = a->k + (gsize)j * a->w;
    int x0 = 0, x1 = a->w;
    while (x0 < x1 && k[x0] == 256)
      x0++;
    while (x1 > x0 && k[x1 - 1] == 256)
      x1--;
    a->rows[j] = (span){x0, x1};
  }
}

static coef
coef_of(const lc_ovblend_color *c)
{
  const double kr = c->kr, kb = c->kb, kg = 1.0 - kr - kb, f = 65536.0 / 255.0;
  /* E'y, E'pb, E'pr as weights of R, G, B (premultiplied, 0..255) */
  const double w[3][3] = {{kr, kg, kb},
                          {-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5},
                          {0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))}};
  coef k;
  for (int ch = 0; ch < 3; ch++) {
    for (int i = 0; i < 3; i++)
      k.m[ch][i] = (int32_t)lround(f * c->scale[ch] * w[ch][i]);
    k.m[ch][3] = (int32_t)lround(f * c->offset[ch]);
  }
  return k;
}

/* A channel's premultiplied value in 1/256 units, within 0 .. 255 * A (see the top comment). */
static inline uint16_t
chan(const int32_t *m, int r, int g, int b, int a, int A)
{
  int32_t v = m[0] * r + m[1] * g + m[2] * b + m[3] * a + 128;
  if (v <= 0)
    return 0;
  v >>= 8;
  return (uint16_t)MIN(v, 255 * A);
}

/* Converts r's source pixels (r->src, r->w x r->h at r->x, r->y) into its areas. false when
 * nothing in it is visible. */
static bool
convert(prect *r, const coef *k)
{
  const int x = r->x, y = r->y, w = r->w, h = r->h;
  const gsize n = (gsize)w * h;
  uint16_t *a256 = g_new(uint16_t, n), *cb = g_new(uint16_t, n), *cr = g_new(uint16_t, n);
  area *L = &r->luma;
  area_alloc(L, x, y, w, h, 1);
  bool visible = false;
  for (gsize o = 0; o < n; o++) {
    uint32_t px = r->src[o]; /* cairo ARGB32: native-endian words */
    int a = (int)(px >> 24);
    if (a == 0) {
      a256[o] = cb[o] = cr[o] = L->p[0][o] = 0;
      L->k[o] = 256;
      continue;
    }
    int R = MIN((int)(px >> 16 & 0xff), a), G = MIN((int)(px >> 8 & 0xff), a), B = MIN((int)(px & 0xff), a);
    int A = (a * 256 + 127) / 255;
    a256[o] = (uint16_t)A;
    L->k[o] = (uint16_t)(256 - A);
    L->p[0][o] = chan(k->m[0], R, G, B, a, A);
    cb[o] = chan(k->m[1], R, G, B, a, A);
    cr[o] = chan(k->m[2], R, G, B, a, A);
    visible = true;
  }
  if (visible) {
    /* Chroma sample (cx, cy) covers luma (2cx..2cx+1, 2cy..2cy+1); luma pixels outside the
     * rectangle count as transparent, so averaging premultiplied values stays exact. */
    area *C = &r->chroma;
    int cx0 = x / 2, cy0 = y / 2, cx1 = (x + w - 1) / 2 + 1, cy1 = (y + h - 1) / 2 + 1;
    area_alloc(C, cx0, cy0, cx1 - cx0, cy1 - cy0, 2);
    for (int cy = cy0; cy < cy1; cy++) {
      for (int cx = cx0; cx < cx1; cx++) {
        int sa = 0, su = 0, sv = 0;
        for (int d = 0; d < 4; d++) {
          int lx = 2 * cx + (d & 1) - x, ly = 2 * cy + (d >> 1) - y;
          if (lx < 0 || ly < 0 || lx >= w || ly >= h)
            continue;
          gsize o = (gsize)ly * w + lx;
          sa += a256[o];
          su += cb[o];
          sv += cr[o];
        }
        int A = (sa + 2) / 4;
        gsize o = (gsize)(cy - cy0) * C->w + (cx - cx0);
        C->k[o] = (uint16_t)(256 - A);
        C->p[0][o] = (uint16_t)MIN((su + 2) / 4, 255 * A);
        C->p[1][o] = (uint16_t)MIN((sv + 2) / 4, 255 * A);
      }
    }
    area_spans(L);
    area_spans(C);
  } else {
    area_clear(L);
  }
  g_free(a256);
  g_free(cb);
  g_free(cr);
  return visible;
}

/* Whether old was converted from exactly these pixels at this place (then it is reused). */
static bool
same_source(const prect *old, lc_overlay_element e, int x, int y, int w, int h, const lc_overlay_rect *rc)
{
  if (!old->src || old->element != e || old->x != x || old->y != y || old->w != w || old->h != h)
    return false;
  for (int j = 0; j < h; j++) {
    const uint8_t *row = rc->pixels + (gsize)(y - rc->y + j) * (gsize)rc->stride + (gsize)(x - rc->x) * 4;
    if (memcmp(old->src + (gsize)j * w, row, (gsize)w * 4) != 0)
      return false;
  }
  return true;
}

void
lc_ovblend_set(lc_ovblend *b, const lc_overlay_rect *rects, unsigned n, int frame_w, int frame_h,
               const lc_ovblend_color *color)
{
  bool same_frame = frame_w == b->w && frame_h == b->h && memcmp(color, &b->color, sizeof(*color)) == 0;
  prect *old = b->r;
  unsigned n_old = b->n;
  b->r = NULL;
  b->n = 0;
  b->w = frame_w;
  b->h = frame_h;
  b->color = *color;
  if (n > 0 && frame_w > 0 && frame_h > 0) {
    coef k = coef_of(color);
    b->r = g_new0(prect, n);
    for (unsigned i = 0; i < n; i++) {
      const lc_overlay_rect *rc = &rects[i];
      if (!rc->pixels || rc->width <= 0 || rc->height <= 0 || rc->width > 16384 || rc->height > 16384 ||
          rc->stride < rc->width * 4)
        continue;
      int x0 = MAX(rc->x, 0), y0 = MAX(rc->y, 0);
      int64_t x1 = MIN((int64_t)rc->x + rc->width, frame_w), y1 = MIN((int64_t)rc->y + rc->height, frame_h);
      if (x1 <= x0 || y1 <= y0)
        continue;
      int w = (int)(x1 - x0), h = (int)(y1 - y0);
      prect *r = &b->r[b->n];
      bool reused = false;
      for (unsigned j = 0; same_frame && j < n_old && !reused; j++) {
        if (same_source(&old[j], rc->element, x0, y0, w, h, rc)) {
          *r = old[j]; /* moved: old[j] is left empty */
          memset(&old[j], 0, sizeof(old[j]));
          reused = true;
        }
      }
      if (!reused) {
        *r = (prect){.element = rc->element, .x = x0, .y = y0, .w = w, .h = h};
        r->src = g_new(uint32_t, (gsize)w * h);
        for (int j = 0; j < h; j++)
          memcpy(r->src + (gsize)j * w,
                 rc->pixels + (gsize)(y0 - rc->y + j) * (gsize)rc->stride + (gsize)(x0 - rc->x) * 4, (gsize)w * 4);
        if (!convert(r, &k)) {
          prect_clear(r);
          continue;
        }
      }
      b->n++;
    }
    if (b->n == 0)
      g_clear_pointer(&b->r, g_free);
  }
  for (unsigned j = 0; j < n_old; j++)
    prect_clear(&old[j]);
  g_free(old);
}

/* The hot loop: 16-bit lanes (see the top comment). GCC vectorises at -O2 only with the cheap
 * cost model, which refuses a loop needing an epilogue; the measured 0.81 -> 0.19 ms per 1080p
 * frame is this attribute. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static void
blend_row(uint8_t *restrict d, const uint16_t *restrict k, const uint16_t *restrict p, int n)
{
  for (int i = 0; i < n; i++)
    d[i] = (uint8_t)((uint16_t)(d[i] * k[i] + p[i] + 128) >> 8);
}

static void
blend_area(const area *a, int pi, uint8_t *plane, int stride)
{
  for (int j = 0; j < a->h; j++) {
    span s = a->rows[j];
    if (s.x1 <= s.x0)
      continue;
    gsize o = (gsize)j * a->w + s.x0;
    blend_row(plane + (gsize)(a->y + j) * stride + a->x + s.x0, a->k + o, a->p[pi] + o, s.x1 - s.x0);
  }
}

void
lc_ovblend_i420(const lc_ovblend *b, uint8_t *y, int y_stride, uint8_t *u, int u_stride, uint8_t *v,
                int v_stride)
{
  for (unsigned i = 0; i < b->n; i++) {
    blend_area(&b->r[i].luma, 0, y, y_stride);
    blend_area(&b->r[i].chroma, 0, u, u_stride);
    blend_area(&b->r[i].chroma, 1, v, v_stride);
  }
}

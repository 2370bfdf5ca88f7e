/* lc_ovblend (pipelines/ladder/ovblend.c) on plain memory: transparent pixels leave the frame
 * bit for bit, opaque ones write the colour's Y/U/V (BT.601 and BT.709, limited and full range),
 * half alpha mixes, chroma at odd positions averages its 2x2 luma pixels, rectangles are clipped
 * to the frame, malformed ones are dropped, and nothing outside a rectangle is touched. */
#include <glib.h>
#include <string.h>

#include "ladder/ovblend.h"

#define W 64
#define H 48

typedef struct {
  uint8_t y[W * H], u[(W / 2) * (H / 2)], v[(W / 2) * (H / 2)];
} frame;

static void
fill(frame *f, uint8_t y, uint8_t u, uint8_t v)
{
  memset(f->y, y, sizeof(f->y));
  memset(f->u, u, sizeof(f->u));
  memset(f->v, v, sizeof(f->v));
}

static void
blend(const lc_ovblend *b, frame *f)
{
  lc_ovblend_i420(b, f->y, W, f->u, W / 2, f->v, W / 2);
}

/* A w x h rectangle of one premultiplied ARGB32 colour (stride with padding). */
typedef struct {
  lc_overlay_rect r;
  uint32_t *px;
} solid;

static solid
solid_new(int x, int y, int w, int h, uint8_t a, uint8_t r, uint8_t g, uint8_t b)
{
  solid s = {0};
  int stride_px = w + 3;
  s.px = g_new0(uint32_t, (gsize)stride_px * h);
  uint32_t word = (uint32_t)a << 24 | (uint32_t)r << 16 | (uint32_t)g << 8 | b;
  for (int j = 0; j < h; j++)
    for (int i = 0; i < w; i++)
      s.px[j * stride_px + i] = word;
  s.r = (lc_overlay_rect){.element = LC_OV_CARD, .x = x, .y = y, .width = w, .height = h,
                          .stride = stride_px * 4, .pixels = (const uint8_t *)s.px};
  return s;
}

static void
assert_near(int got, int want, int tol)
{
  if (ABS(got - want) > tol)
    g_error("got %d, want %d (+/- %d)", got, want, tol);
}

static const lc_ovblend_color *
bt601(void)
{
  static lc_ovblend_color c;
  c = lc_ovblend_color_limited(0.299, 0.114);
  return &c;
}

static void
test_transparent_untouched(void)
{
  lc_ovblend *b = lc_ovblend_new();
  g_assert_true(lc_ovblend_empty(b));
  solid s = solid_new(4, 4, 20, 10, 0, 0, 0, 0);
  lc_ovblend_set(b, &s.r, 1, W, H, bt601());
  g_assert_true(lc_ovblend_empty(b)); /* fully transparent: dropped */
  frame f, ref;
  for (int i = 0; i < W * H; i++)
    f.y[i] = (uint8_t)(i * 7);
  memset(f.u, 90, sizeof(f.u));
  memset(f.v, 200, sizeof(f.v));
  ref = f;
  blend(b, &f);
  g_assert_cmpmem(&f, sizeof(f), &ref, sizeof(ref));
  g_free(s.px);
  lc_ovblend_free(b);
}

static void
test_opaque_colours(void)
{
  struct {
    double kr, kb;
    bool full;
    uint8_t r, g, b;
    int y, u, v;
  } cases[] = {
      {0.299, 0.114, false, 255, 255, 255, 235, 128, 128}, /* white */
      {0.299, 0.114, false, 0, 0, 0, 16, 128, 128},        /* black */
      {0.299, 0.114, false, 255, 0, 0, 81, 90, 240},       /* BT.601 red */
      {0.2126, 0.0722, false, 255, 0, 0, 63, 102, 240},    /* BT.709 red */
      {0.299, 0.114, true, 255, 0, 0, 76, 85, 255},        /* BT.601 full-range red */
  };
  for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
    lc_ovblend_color col = lc_ovblend_color_limited(cases[c].kr, cases[c].kb);
    if (cases[c].full) {
      col = (lc_ovblend_color){.kr = cases[c].kr, .kb = cases[c].kb, .offset = {0, 128, 128},
                               .scale = {255, 255, 255}};
    }
    lc_ovblend *b = lc_ovblend_new();
    solid s = solid_new(8, 6, 16, 12, 255, cases[c].r, cases[c].g, cases[c].b);
    lc_ovblend_set(b, &s.r, 1, W, H, &col);
    g_assert_false(lc_ovblend_empty(b));
    frame f;
    fill(&f, 50, 60, 70);
    blend(b, &f);
    for (int y = 0; y < H; y++) {
      for (int x = 0; x < W; x++) {
        bool in = x >= 8 && x < 24 && y >= 6 && y < 18;
        assert_near(f.y[y * W + x], in ? cases[c].y : 50, in ? 1 : 0);
      }
    }
    for (int y = 0; y < H / 2; y++) {
      for (int x = 0; x < W / 2; x++) {
        bool in = x >= 4 && x < 12 && y >= 3 && y < 9;
        assert_near(f.u[y * (W / 2) + x], in ? cases[c].u : 60, in ? 1 : 0);
        assert_near(f.v[y * (W / 2) + x], in ? cases[c].v : 70, in ? 1 : 0);
      }
    }
    g_free(s.px);
    lc_ovblend_free(b);
  }
}

static void
test_half_alpha_and_odd_edges(void)
{
  lc_ovblend *b = lc_ovblend_new();
  /* 50% white, premultiplied (128, 128, 128, 128), at an odd position and size. */
  solid s = solid_new(5, 3, 7, 5, 128, 128, 128, 128);
  lc_ovblend_set(b, &s.r, 1, W, H, bt601());
  frame f;
  fill(&f, 16, 128, 128); /* black */
  blend(b, &f);
  /* luma: 16 * (1 - a) + 235 * a at a = 128/255 */
  int want = (int)(16 * (1 - 128 / 255.0) + 235 * 128 / 255.0 + 0.5);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      assert_near(f.y[y * W + x], (x >= 5 && x < 12 && y >= 3 && y < 8) ? want : 16, 1);
  /* Chroma is neutral either way; the chroma sample at (2, 1) covers luma (4..5, 2..3) of which
   * only (5, 3) is inside: a quarter of the alpha. Blend a red one to see it. */
  g_free(s.px);
  s = solid_new(5, 3, 7, 5, 255, 255, 0, 0);
  lc_ovblend_set(b, &s.r, 1, W, H, bt601());
  fill(&f, 16, 128, 128);
  blend(b, &f);
  assert_near(f.v[1 * (W / 2) + 2], (int)(128 * 0.75 + 240 * 0.25 + 0.5), 1); /* 1 of 4 */
  assert_near(f.v[1 * (W / 2) + 3], (int)(128 * 0.5 + 240 * 0.5 + 0.5), 1);   /* (6..7, 2..3): 2 of 4 */
  assert_near(f.v[2 * (W / 2) + 3], 240, 1);                                   /* (6..7, 4..5): all */
  assert_near(f.v[2 * (W / 2) + 2], (int)(128 * 0.5 + 240 * 0.5 + 0.5), 1);   /* (4..5, 4..5): 2 of 4 */
  assert_near(f.v[3 * (W / 2) + 5], 240, 1);                                   /* (10..11, 6..7): all */
  assert_near(f.v[4 * (W / 2) + 5], 128, 0);                                   /* (10..11, 8..9): none */
  assert_near(f.v[3 * (W / 2) + 6], 128, 0);                                   /* (12..13, 6..7): none */
  assert_near(f.v[0], 128, 0);
  g_free(s.px);
  lc_ovblend_free(b);
}

static void
test_clip_and_malformed(void)
{
  lc_ovblend *b = lc_ovblend_new();
  solid s[4] = {
      solid_new(-10, -5, 20, 10, 255, 255, 255, 255),   /* top-left corner, clipped */
      solid_new(W - 4, H - 2, 30, 30, 255, 255, 255, 255), /* bottom-right, clipped */
      solid_new(W + 10, 0, 5, 5, 255, 255, 255, 255),   /* outside: dropped */
      solid_new(0, 20, 8, 8, 255, 255, 255, 255),
  };
  lc_overlay_rect r[6];
  for (int i = 0; i < 4; i++)
    r[i] = s[i].r;
  r[3].stride = 8; /* less than 4 * width: dropped */
  r[4] = s[0].r;
  r[4].pixels = NULL; /* dropped */
  r[5] = s[0].r;
  r[5].width = -3; /* dropped */
  lc_ovblend_set(b, r, 6, W, H, bt601());
  frame f;
  fill(&f, 16, 128, 128);
  blend(b, &f);
  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      bool in = (x < 10 && y < 5) || (x >= W - 4 && y >= H - 2);
      assert_near(f.y[y * W + x], in ? 235 : 16, in ? 1 : 0);
    }
  }
  /* Replaced by nothing: frames are left alone again. */
  lc_ovblend_set(b, NULL, 0, W, H, bt601());
  g_assert_true(lc_ovblend_empty(b));
  frame g = f;
  blend(b, &f);
  g_assert_cmpmem(&f, sizeof(f), &g, sizeof(g));
  for (int i = 0; i < 4; i++)
    g_free(s[i].px);
  lc_ovblend_free(b);
  lc_ovblend_free(NULL);
}

/* Overlapping rectangles blend in order: the later one on top. */
static void
test_order(void)
{
  lc_ovblend *b = lc_ovblend_new();
  solid s[2] = {solid_new(0, 0, 16, 16, 255, 255, 255, 255), solid_new(8, 8, 16, 16, 255, 0, 0, 0)};
  lc_overlay_rect r[2] = {s[0].r, s[1].r};
  lc_ovblend_set(b, r, 2, W, H, bt601());
  frame f;
  fill(&f, 100, 128, 128);
  blend(b, &f);
  assert_near(f.y[2 * W + 2], 235, 1);
  assert_near(f.y[10 * W + 10], 16, 1);
  assert_near(f.y[20 * W + 20], 16, 1);
  assert_near(f.y[30 * W + 30], 100, 0);
  g_free(s[0].px);
  g_free(s[1].px);
  lc_ovblend_free(b);
}

/* A set with the same rectangles reuses their conversion; a changed pixel, place or colour is
 * converted again (the result is what a fresh lc_ovblend gives). */
static void
test_reuse(void)
{
  solid s[2] = {solid_new(0, 0, 16, 16, 255, 255, 255, 255), solid_new(30, 20, 10, 10, 128, 0, 0, 128)};
  lc_overlay_rect r[2] = {s[0].r, s[1].r};
  r[1].element = LC_OV_FLASH;
  lc_ovblend *b = lc_ovblend_new();
  frame want, got;
  for (int step = 0; step < 4; step++) {
    if (step == 1)
      s[1].px[5] = 0xff00ff00; /* one pixel of the second rectangle */
    if (step == 2)
      r[0].x = 2; /* the first moves */
    const lc_ovblend_color *c = bt601();
    lc_ovblend_color c709 = lc_ovblend_color_limited(0.2126, 0.0722);
    if (step == 3)
      c = &c709; /* another matrix: everything converted again */
    lc_ovblend_set(b, r, 2, W, H, c);
    lc_ovblend *fresh = lc_ovblend_new();
    lc_ovblend_set(fresh, r, 2, W, H, c);
    fill(&got, 100, 110, 120);
    fill(&want, 100, 110, 120);
    blend(b, &got);
    blend(fresh, &want);
    g_assert_cmpmem(&got, sizeof(got), &want, sizeof(want));
    lc_ovblend_free(fresh);
  }
  g_free(s[0].px);
  g_free(s[1].px);
  lc_ovblend_free(b);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ovblend/transparent_untouched", test_transparent_untouched);
  g_test_add_func("/ovblend/opaque_colours", test_opaque_colours);
  g_test_add_func("/ovblend/half_alpha_and_odd_edges", test_half_alpha_and_odd_edges);
  g_test_add_func("/ovblend/clip_and_malformed", test_clip_and_malformed);
  g_test_add_func("/ovblend/order", test_order);
  g_test_add_func("/ovblend/reuse", test_reuse);
  return g_test_run();
}

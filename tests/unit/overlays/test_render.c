/* The overlay renderer on real pixels: CJK text draws real glyphs (not tofu), the countdown
 * redraws once a second and not in between, SOLD OUT changes the banner, hidden elements give
 * no rectangle, every anchor stays inside 1080p and 360p frames, bad images give a placeholder
 * and one log line, SVG/PNG/JPEG images draw, the gift burst draws inside its box at every
 * class and goes after 3 s, an icon without a glyph is left out (no tofu), the group progress
 * counts down once a second and shows the formed notice.
 *
 * LC_OVERLAY_SHOTS=<dir>: also writes one PNG per element on a grey 1280x720 frame there
 * (docs/overlays/ holds the committed ones). */
#include "overlays/overlay.h"

#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <fontconfig/fontconfig.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <pango/pangofc-fontmap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "overlays/overlay_int.h"

#define T0 1700000000000LL

static char *tmpdir;

/* ---- helpers ---- */

static const lc_overlay_rect *
find_rect(const lc_overlay_rect *r, unsigned n, lc_overlay_element e)
{
  for (unsigned i = 0; i < n; i++)
    if (r[i].element == e)
      return &r[i];
  return NULL;
}

static const lc_overlay_rect *
update_get(lc_overlay_view *v, int64_t now, lc_overlay_element e, bool *changed)
{
  const lc_overlay_rect *r;
  unsigned n;
  bool c = lc_overlay_view_update(v, now, &r, &n);
  if (changed)
    *changed = c;
  return find_rect(r, n, e);
}

/* An update after the images the view asked for are decoded (on a pool thread). */
static bool
update_settled(lc_overlay_view *v, int64_t now, const lc_overlay_rect **r, unsigned *n)
{
  bool changed = lc_overlay_view_update(v, now, r, n);
  g_assert_true(lc__overlay_view_wait_images(v, 120 * G_USEC_PER_SEC));
  changed |= lc_overlay_view_update(v, now, r, n);
  return changed;
}

static const lc_overlay_rect *
settled_get(lc_overlay_view *v, int64_t now, lc_overlay_element e)
{
  const lc_overlay_rect *r;
  unsigned n;
  update_settled(v, now, &r, &n);
  return find_rect(r, n, e);
}

static uint32_t
pixel(const lc_overlay_rect *r, int x, int y)
{
  g_assert_true(x >= 0 && y >= 0 && x < r->width && y < r->height);
  return *(const uint32_t *)(const void *)(r->pixels + (size_t)y * r->stride + (size_t)x * 4);
}

static guint8 *
copy_pixels(const lc_overlay_rect *r)
{
  return g_memdup2(r->pixels, (gsize)r->stride * r->height);
}

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmpdir, name, NULL);
}

static void
write_file(const char *path, const void *data, size_t n)
{
  GError *err = NULL;
  g_assert_true(g_file_set_contents(path, data, (gssize)n, &err));
}

/* A product picture: a blue cup on white, as a PNG file. */
static void
write_cup_png(const char *path, int size)
{
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, size, size);
  cairo_t *cr = cairo_create(s);
  cairo_set_source_rgb(cr, 0.96, 0.97, 1.0);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0.15, 0.35, 0.85);
  cairo_rectangle(cr, size * 0.3, size * 0.2, size * 0.4, size * 0.62);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0.1, 0.2, 0.5);
  cairo_rectangle(cr, size * 0.28, size * 0.14, size * 0.44, size * 0.08);
  cairo_fill(cr);
  cairo_destroy(cr);
  g_assert_cmpint(cairo_surface_write_to_png(s, path), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(s);
}

static const char logo_svg[] =
  "<svg xmlns='http://www.w3.org/2000/svg' width='240' height='80' viewBox='0 0 240 80'>"
  "<rect x='2' y='2' width='236' height='76' rx='18' fill='#e8243c'/>"
  "<circle cx='40' cy='40' r='22' fill='#ffffff'/>"
  "<rect x='80' y='26' width='140' height='28' rx='8' fill='#ffd84d'/></svg>";

/* The rectangles blended over a grey frame. */
static cairo_surface_t *
compose(const lc_overlay_rect *r, unsigned n, int w, int h)
{
  cairo_surface_t *frame = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  cairo_t *cr = cairo_create(frame);
  cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
  cairo_paint(cr);
  for (unsigned i = 0; i < n; i++) {
    cairo_surface_t *s = cairo_image_surface_create_for_data((unsigned char *)r[i].pixels, CAIRO_FORMAT_ARGB32,
                                                             r[i].width, r[i].height, r[i].stride);
    cairo_set_source_surface(cr, s, r[i].x, r[i].y);
    cairo_paint(cr);
    cairo_surface_destroy(s);
  }
  cairo_destroy(cr);
  return frame;
}

/* Runs fn with stderr going to a file; returns what was written (g_free). */
static char *
capture_stderr(void (*fn)(gpointer), gpointer data)
{
  g_autofree char *path = tmp_path("stderr.txt");
  fflush(stderr);
  int saved = dup(2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint(fd, >=, 0);
  dup2(fd, 2);
  close(fd);
  fn(data);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char *out = NULL;
  g_assert_true(g_file_get_contents(path, &out, NULL, NULL));
  return out;
}

static unsigned
count_substr(const char *hay, const char *needle)
{
  unsigned n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* ---- CJK ---- */

/* A font file that has no glyph for 真 (U+771F), found through fontconfig: the "empty font"
 * that shows what tofu looks like. */
static char *
font_without_cjk(void)
{
  FcPattern *pat = FcPatternCreate();
  FcObjectSet *os = FcObjectSetBuild(FC_FILE, FC_CHARSET, NULL);
  FcFontSet *fs = FcFontList(NULL, pat, os);
  char *found = NULL;
  for (int i = 0; fs && i < fs->nfont && !found; i++) {
    FcCharSet *cs = NULL;
    FcChar8 *file = NULL;
    if (FcPatternGetCharSet(fs->fonts[i], FC_CHARSET, 0, &cs) != FcResultMatch ||
        FcPatternGetString(fs->fonts[i], FC_FILE, 0, &file) != FcResultMatch)
      continue;
    if (FcCharSetHasChar(cs, 'a') && FcCharSetHasChar(cs, '6') && !FcCharSetHasChar(cs, 0x771f) &&
        g_str_has_suffix((const char *)file, ".ttf"))
      found = g_strdup((const char *)file);
  }
  if (fs)
    FcFontSetDestroy(fs);
  FcObjectSetDestroy(os);
  FcPatternDestroy(pat);
  return found;
}

typedef struct {
  cairo_surface_t *surf;
  PangoLayout *layout;
  int unknown;
} text_render;

/* Renders s at 40 px with font_map (or the default one) into a fresh surface. */
static text_render
render_text(PangoFontMap *fm, const char *family, const char *s)
{
  text_render t = {0};
  t.surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 600, 80);
  cairo_t *cr = cairo_create(t.surf);
  PangoContext *ctx = pango_font_map_create_context(fm);
  t.layout = pango_layout_new(ctx);
  PangoFontDescription *d = pango_font_description_from_string(family);
  pango_font_description_set_absolute_size(d, 40 * PANGO_SCALE);
  pango_layout_set_font_description(t.layout, d);
  pango_font_description_free(d);
  pango_layout_set_text(t.layout, s, -1);
  t.unknown = pango_layout_get_unknown_glyphs_count(t.layout);
  cairo_set_source_rgb(cr, 1, 1, 1);
  pango_cairo_show_layout(cr, t.layout);
  cairo_destroy(cr);
  cairo_surface_flush(t.surf);
  g_object_unref(ctx);
  return t;
}

/* Inked pixels (alpha > 50%) in the cell of the character at byte index i. */
static int
ink_in_cell(const text_render *t, int i, guint8 **cell_copy, int *cell_n)
{
  PangoRectangle pos;
  pango_layout_index_to_pos(t->layout, i, &pos);
  int x0 = PANGO_PIXELS(pos.x), y0 = PANGO_PIXELS(pos.y), w = PANGO_PIXELS(pos.width), h = PANGO_PIXELS(pos.height);
  const guint8 *d = cairo_image_surface_get_data(t->surf);
  int stride = cairo_image_surface_get_stride(t->surf), ink = 0;
  *cell_n = MAX(w, 0) * MAX(h, 0);
  *cell_copy = g_malloc0(MAX(*cell_n, 1));
  for (int y = y0; y < y0 + h && y < 80; y++)
    for (int x = x0; x < x0 + w && x < 600; x++) {
      guint8 a = d[(size_t)y * stride + (size_t)x * 4 + 3];
      (*cell_copy)[(y - y0) * w + (x - x0)] = a;
      ink += a > 128;
    }
  return ink;
}

static void
test_cjk_not_tofu(void)
{
  const char *title = "真空保温杯 ¥69";
  /* the module's font list draws every character */
  PangoFontMap *fm = pango_cairo_font_map_new();
  text_render good = render_text(fm, LC__OV_DEFAULT_FONT, title);
  g_assert_cmpint(good.unknown, ==, 0);

  /* the same text with a font without CJK, and no fallback: 5 unknown glyphs (tofu boxes) */
  g_autofree char *latin = font_without_cjk();
  g_assert_nonnull(latin);
  FcConfig *cfg = FcConfigCreate();
  g_assert_true(FcConfigAppFontAddFile(cfg, (const FcChar8 *)latin));
  PangoFontMap *tofu_fm = pango_cairo_font_map_new_for_font_type(CAIRO_FONT_TYPE_FT);
  pango_fc_font_map_set_config(PANGO_FC_FONT_MAP(tofu_fm), cfg);
  FcConfigDestroy(cfg);
  text_render tofu = render_text(tofu_fm, "Sans", title);
  g_assert_cmpint(tofu.unknown, ==, 5);

  /* each character's cell has ink, and every CJK cell differs from its tofu box and from the
   * other characters' cells (tofu boxes would look alike) */
  guint8 *cells[16] = {0};
  int cell_n[16] = {0}, k = 0;
  for (const char *p = title; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c == ' ')
      continue;
    int idx = (int)(p - title);
    guint8 *tcell;
    int tn;
    int ink = ink_in_cell(&good, idx, &cells[k], &cell_n[k]);
    if (ink < 30)
      g_error("character %d (U+%04X) has %d inked pixels", k, c, ink);
    ink_in_cell(&tofu, idx, &tcell, &tn);
    if (c >= 0x4e00)
      g_assert_false(tn == cell_n[k] && memcmp(tcell, cells[k], tn) == 0);
    g_free(tcell);
    k++;
  }
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      g_assert_false(cell_n[i] == cell_n[j] && memcmp(cells[i], cells[j], cell_n[i]) == 0);
  for (int i = 0; i < k; i++)
    g_free(cells[i]);

  /* and the card: the title band changes with the title, and the view drew no unknown glyph */
  lc_overlay *o = lc_overlay_new(NULL);
  lc_overlay_card card = {.title = title, .price = "¥69.00"};
  lc_overlay_set_card(o, &card);
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  const lc_overlay_rect *r = update_get(v, T0, LC_OV_CARD, NULL);
  g_assert_nonnull(r);
  g_assert_cmpuint(lc__overlay_view_unknown_glyphs(v), ==, 0);
  g_autofree guint8 *with_title = copy_pixels(r);
  int w = r->width, h = r->height, stride = r->stride;
  card.title = " ";
  lc_overlay_set_card(o, &card);
  r = update_get(v, T0, LC_OV_CARD, NULL);
  g_assert_cmpint(r->width, ==, w);
  int differing = 0;
  for (int y = 0; y < MIN(h, r->height); y++)
    for (int x = 0; x < w; x++)
      differing += *(const uint32_t *)(const void *)(with_title + (size_t)y * stride + x * 4) != pixel(r, x, y);
  g_assert_cmpint(differing, >, 5 * 200); /* five CJK glyphs at 26 px draw far more than that */
  lc_overlay_view_free(v);
  lc_overlay_unref(o);

  g_object_unref(good.layout);
  g_object_unref(tofu.layout);
  cairo_surface_destroy(good.surf);
  cairo_surface_destroy(tofu.surf);
  g_object_unref(fm);
  g_object_unref(tofu_fm);
}

/* ---- countdown ---- */

static void
test_countdown(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  lc_overlay_flash f = {.title = "真空保温杯", .price = "¥49", .ends_at_ms = T0 + 10000, .stock_left = 23,
                        .stock_total = 100};
  lc_overlay_set_flash(o, &f);
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  bool changed;
  const lc_overlay_rect *r = update_get(v, T0, LC_OV_FLASH, &changed);
  g_assert_true(changed);
  g_assert_nonnull(r);
  unsigned renders = lc__overlay_view_renders(v);
  g_autofree guint8 *at10 = copy_pixels(r);
  const uint8_t *pixels = r->pixels;
  int w = r->width, h = r->height;

  /* the same second (10 s left, rounded up): nothing to do */
  for (int64_t t = T0 + 1; t < T0 + 1000; t += 111) {
    r = update_get(v, t, LC_OV_FLASH, &changed);
    g_assert_false(changed);
  }
  g_assert_cmpuint(lc__overlay_view_renders(v), ==, renders);
  g_assert_true(memcmp(at10, r->pixels, (size_t)r->stride * r->height) == 0);

  /* the next second redraws the banner in place (same size, same memory), and it differs */
  r = update_get(v, T0 + 1000, LC_OV_FLASH, &changed);
  g_assert_true(changed);
  g_assert_cmpuint(lc__overlay_view_renders(v), ==, renders + 1);
  g_assert_true(r->pixels == pixels);
  g_assert_cmpint(r->width, ==, w);
  g_assert_cmpint(r->height, ==, h);
  g_assert_false(memcmp(at10, r->pixels, (size_t)r->stride * r->height) == 0);
  g_autofree guint8 *at9 = copy_pixels(r);
  r = update_get(v, T0 + 2000, LC_OV_FLASH, &changed);
  g_assert_true(changed);
  g_assert_false(memcmp(at9, r->pixels, (size_t)r->stride * r->height) == 0);

  /* at the end it shows 00:00 and stays */
  r = update_get(v, T0 + 10000, LC_OV_FLASH, &changed);
  g_assert_true(changed);
  g_autofree guint8 *at0 = copy_pixels(r);
  r = update_get(v, T0 + 15000, LC_OV_FLASH, &changed);
  g_assert_false(changed);

  /* SOLD OUT changes it */
  f.sold_out = true;
  f.stock_left = 0;
  lc_overlay_set_flash(o, &f);
  r = update_get(v, T0 + 15000, LC_OV_FLASH, &changed);
  g_assert_true(changed);
  g_assert_false(memcmp(at0, r->pixels, (size_t)r->stride * r->height) == 0);
  /* sold out: the clock no longer matters */
  r = update_get(v, T0 + 3000, LC_OV_FLASH, &changed);
  g_assert_false(changed);
  g_assert_cmpuint(lc__overlay_view_unknown_glyphs(v), ==, 0);
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

/* A burst of orders: the waiting line is replaced without drawing; it shows at its turn. */
static void
test_ticker_burst(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  lc_overlay_ticker_push(o, "Lin", 1, T0);
  bool changed;
  const lc_overlay_rect *r = update_get(v, T0, LC_OV_TICKER, &changed);
  g_assert_true(changed);
  int h1 = r->height;
  lc_overlay_ticker_push(o, "Amy", 1, T0 + 10); /* scheduled for T0 + 2000: redrawn once */
  update_get(v, T0 + 10, LC_OV_TICKER, NULL);
  unsigned renders = lc__overlay_view_renders(v);
  for (int i = 0; i < 200; i++) {
    g_autofree char *name = g_strdup_printf("Buyer%d", i);
    lc_overlay_ticker_push(o, name, 1, T0 + 20 + i);
    update_get(v, T0 + 20 + i, LC_OV_TICKER, &changed);
    g_assert_false(changed);
  }
  g_assert_cmpuint(lc__overlay_view_renders(v), ==, renders);
  r = update_get(v, T0 + 2000, LC_OV_TICKER, &changed);
  g_assert_true(changed);
  g_assert_cmpint(r->height, >, h1); /* two lines now */
  json_t *st = lc_overlay_status(o, T0 + 2000);
  json_t *lines = json_object_get(json_object_get(json_object_get(json_object_get(st, "elements"), "ticker"),
                                                  "content"), "lines");
  g_assert_cmpstr(json_string_value(json_array_get(lines, 1)), ==, "Buy** 刚刚买了 1 件");
  json_decref(st);
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

/* ---- gift burst, group buy ---- */

/* Pixels of r with any coverage. */
static int
inked(const lc_overlay_rect *r)
{
  int n = 0;
  for (int y = 0; y < r->height; y++)
    for (int x = 0; x < r->width; x++)
      n += (pixel(r, x, y) >> 24) > 0;
  return n;
}

/* r lies inside the frame and inside the element's box (its width from the placement). */
static void
assert_in_box(const lc_overlay_rect *r, int fw, int fh, double width_pct)
{
  g_assert_nonnull(r);
  g_assert_cmpint(r->x, >=, 0);
  g_assert_cmpint(r->y, >=, 0);
  g_assert_cmpint(r->x + r->width, <=, fw);
  g_assert_cmpint(r->y + r->height, <=, fh);
  g_assert_cmpint(r->width, <=, (int)lround(width_pct * fw / 100));
  /* a burst or a progress box is mostly ink (its panel), not a few stray pixels */
  g_assert_cmpint(inked(r), >, r->width * r->height / 2);
}

/* Whether the default font list (with fontconfig's fallback) has a glyph for every character. */
static bool
font_draws(const char *s)
{
  PangoFontMap *fm = pango_cairo_font_map_new();
  text_render t = render_text(fm, LC__OV_DEFAULT_FONT, s);
  bool ok = t.unknown == 0;
  g_object_unref(t.layout);
  cairo_surface_destroy(t.surf);
  g_object_unref(fm);
  return ok;
}

static void
test_gift_render(void)
{
  const int sizes[][2] = {{1280, 720}, {640, 360}, {1920, 1080}};
  for (unsigned s = 0; s < G_N_ELEMENTS(sizes); s++) {
    int fw = sizes[s][0], fh = sizes[s][1];
    lc_overlay *o = lc_overlay_new(NULL);
    lc_overlay_view *v = lc_overlay_view_new(o, fw, fh);
    int heights[3];
    for (int cls = LC_OVERLAY_GIFT_SMALL; cls <= LC_OVERLAY_GIFT_FULLSCREEN; cls++) {
      /* each class a new combo, worth more than the last, shown at once */
      g_autofree char *id = g_strdup_printf("cb-%d", cls);
      lc_overlay_gift g = {.combo_id = id, .by = "张**", .name = "玫瑰", .icon = "🌹", .count = 7,
                           .coins = 100 * (cls + 1), .gift_class = cls};
      lc_overlay_gift_push(o, &g, T0);
      bool changed;
      const lc_overlay_rect *r = update_get(v, T0, LC_OV_GIFT, &changed);
      g_assert_true(changed);
      assert_in_box(r, fw, fh, 34);
      heights[cls] = r->height;
      /* default place: the middle of the right edge, 3% in */
      g_assert_cmpint(abs(r->x + r->width - (fw - (int)lround(0.03 * fw))), <=, 1);
      g_assert_cmpint(abs(r->y + r->height / 2 - fh / 2), <=, 1);
    }
    g_assert_cmpint(heights[LC_OVERLAY_GIFT_BIG], >, heights[LC_OVERLAY_GIFT_SMALL]);
    g_assert_cmpint(heights[LC_OVERLAY_GIFT_FULLSCREEN], >, heights[LC_OVERLAY_GIFT_BIG]);

    /* a long name and a huge count in a narrow box: cut, never wider than the box */
    for (int cls = LC_OVERLAY_GIFT_SMALL; cls <= LC_OVERLAY_GIFT_FULLSCREEN; cls++) {
      g_assert_cmpint(lc_overlay_place(o, LC_OV_GIFT, "center", 0, 0, 12, NULL), ==, 0);
      g_autofree char *id = g_strdup_printf("long-%d", cls);
      lc_overlay_gift g = {.combo_id = id, .by = "欧阳**", .name = "超级无敌豪华至尊宇宙飞船嘉年华超级无敌豪华",
                           .count = 999999, .coins = 1000000 + cls, .gift_class = cls};
      lc_overlay_gift_push(o, &g, T0 + 100);
      const lc_overlay_rect *r = update_get(v, T0 + 100, LC_OV_GIFT, NULL);
      assert_in_box(r, fw, fh, 12);
    }
    g_assert_cmpint(lc_overlay_place(o, LC_OV_GIFT, "right", 3, 0, 34, NULL), ==, 0);

    /* the burst goes 3 s after its last gift, without a scene change */
    guint64 ver = lc_overlay_version(o);
    bool changed;
    g_assert_nonnull(update_get(v, T0 + 3099, LC_OV_GIFT, &changed));
    g_assert_null(update_get(v, T0 + 3100, LC_OV_GIFT, &changed));
    g_assert_true(changed);
    g_assert_cmpuint(lc_overlay_version(o), ==, ver);
    update_get(v, T0 + 4000, LC_OV_GIFT, &changed);
    g_assert_false(changed);
    /* an emoji the fonts do not have is left out: no tofu */
    g_assert_cmpuint(lc__overlay_view_unknown_glyphs(v), ==, 0);
    lc_overlay_view_free(v);
    lc_overlay_unref(o);
  }

  /* the icon: drawn when the fonts have it (the line is wider), left out when not (the same
   * line as without one) */
  const char *icons[] = {"❤", "🌹", "🚀"};
  for (unsigned i = 0; i < G_N_ELEMENTS(icons); i++) {
    lc_overlay *o = lc_overlay_new(NULL);
    lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
    lc_overlay_gift g = {.combo_id = "a", .by = "张**", .name = "Rose", .count = 7, .coins = 1};
    lc_overlay_gift_push(o, &g, T0);
    int plain = update_get(v, T0, LC_OV_GIFT, NULL)->width;
    g.icon = icons[i];
    g.count = 8;
    lc_overlay_gift_push(o, &g, T0);
    const lc_overlay_rect *r = update_get(v, T0, LC_OV_GIFT, NULL);
    bool drawn = font_draws(icons[i]);
    g_test_message("icon %s: the fonts %s it (%d px without, %d px with)", icons[i], drawn ? "have" : "lack", plain,
                   r->width);
    if (drawn)
      g_assert_cmpint(r->width, >, plain);
    else
      g_assert_cmpint(r->width, ==, plain);
    g_assert_cmpuint(lc__overlay_view_unknown_glyphs(v), ==, 0);
    lc_overlay_view_free(v);
    lc_overlay_unref(o);
  }
}

static void
test_group_render(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  lc_overlay_group g = {.title = "纯棉T恤 M", .price = "¥49.00", .team_size = 3, .seats = -1};
  lc_overlay_set_group(o, &g);
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  bool changed;
  const lc_overlay_rect *r = update_get(v, T0, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  assert_in_box(r, 1280, 720, 30);
  /* default place: bottom-right, 3% and 12% in */
  g_assert_cmpint(r->x + r->width, ==, 1280 - 38);
  g_assert_cmpint(r->y + r->height, ==, 720 - 86);
  int deal_h = r->height;
  g_autofree guint8 *deal = copy_pixels(r);
  /* no team: nothing moves with the clock */
  update_get(v, T0 + 5000, LC_OV_GROUP, &changed);
  g_assert_false(changed);

  /* a team of 2/3 with 08:12 left: seats as dots under the line (taller), a redraw a second */
  g.seats = 2;
  g.deadline_ms = T0 + 492000;
  lc_overlay_set_group(o, &g);
  r = update_get(v, T0, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  assert_in_box(r, 1280, 720, 30);
  g_assert_cmpint(r->height, >, deal_h);
  unsigned renders = lc__overlay_view_renders(v);
  g_autofree guint8 *at812 = copy_pixels(r);
  for (int64_t t = T0 + 1; t < T0 + 1000; t += 97) {
    update_get(v, t, LC_OV_GROUP, &changed);
    g_assert_false(changed);
  }
  g_assert_cmpuint(lc__overlay_view_renders(v), ==, renders);
  r = update_get(v, T0 + 1000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  g_assert_cmpuint(lc__overlay_view_renders(v), ==, renders + 1);
  g_assert_false(memcmp(at812, r->pixels, (size_t)r->stride * r->height) == 0);

  /* a third seat: the dots change */
  g_autofree guint8 *two = copy_pixels(r);
  g.seats = 3;
  lc_overlay_set_group(o, &g);
  r = update_get(v, T0 + 1000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  g_assert_false(memcmp(two, r->pixels, (size_t)r->stride * r->height) == 0);

  /* formed: the notice for 3 s (no countdown: no redraw a second), then the deal alone again */
  g = (lc_overlay_group){.title = "纯棉T恤 M", .price = "¥49.00", .team_size = 3, .seats = -1,
                         .formed_until_ms = T0 + 5000};
  lc_overlay_set_group(o, &g);
  r = update_get(v, T0 + 2000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  assert_in_box(r, 1280, 720, 30);
  int formed_h = r->height;
  update_get(v, T0 + 4999, LC_OV_GROUP, &changed);
  g_assert_false(changed);
  r = update_get(v, T0 + 5000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  g_assert_cmpint(r->height, ==, deal_h);
  g_assert_true(memcmp(deal, r->pixels, (size_t)r->stride * r->height) == 0);
  g_assert_cmpint(formed_h, >, deal_h); /* the notice shows the full team's dots */

  /* English, and the deal closed: no rect */
  json_t *en = json_pack("{s:s}", "lang", "en");
  g_assert_cmpint(lc_overlay_configure(o, en, NULL), ==, 0);
  json_decref(en);
  r = update_get(v, T0 + 5000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  assert_in_box(r, 1280, 720, 30);
  lc_overlay_set_group(o, NULL);
  r = update_get(v, T0 + 5000, LC_OV_GROUP, &changed);
  g_assert_true(changed);
  g_assert_null(r);
  g_assert_cmpuint(lc__overlay_view_unknown_glyphs(v), ==, 0);
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

/* ---- visibility, placement ---- */

static void
set_everything(lc_overlay *o, const char *image, const char *logo)
{
  lc_overlay_card card = {.title = "真空保温杯 600ml 316 不锈钢 长效保温 24 小时", .price = "¥69.00",
                          .original_price = "¥129.00", .image = image};
  lc_overlay_set_card(o, &card);
  lc_overlay_flash f = {.title = "真空保温杯 600ml", .price = "¥49.00", .ends_at_ms = T0 + 83500, .stock_left = 23,
                        .stock_total = 100};
  lc_overlay_set_flash(o, &f);
  lc_overlay_set_coupon(o, "满 200 减 30", T0 + 60000);
  lc_overlay_ticker_push(o, "Lin Wei", 2, T0 - 4000);
  lc_overlay_ticker_push(o, "王小明", 1, T0 - 2000);
  lc_overlay_ticker_push(o, "Carol", 3, T0);
  lc_overlay_set_logo(o, logo);
  g_assert_cmpint(lc_overlay_set_text(o, "今晚 8 点返场", NULL), ==, 0);
  lc_overlay_gift gift = {.combo_id = "cb-1", .by = "张**", .name = "玫瑰", .icon = "🌹", .count = 7, .coins = 70,
                          .gift_class = LC_OVERLAY_GIFT_BIG};
  lc_overlay_gift_push(o, &gift, T0);
  lc_overlay_group group = {.title = "纯棉T恤 M", .price = "¥49.00", .team_size = 3, .seats = 2,
                            .deadline_ms = T0 + 492000};
  lc_overlay_set_group(o, &group);
}

static void
test_hidden_gives_no_rect(void)
{
  g_autofree char *logo = tmp_path("logo.svg");
  lc_overlay *o = lc_overlay_new(NULL);
  set_everything(o, NULL, logo);
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  const lc_overlay_rect *r;
  unsigned n;
  g_assert_true(update_settled(v, T0, &r, &n));
  g_assert_cmpuint(n, ==, LC_OV_N);
  for (unsigned i = 0; i < n; i++)
    g_assert_cmpint(r[i].element, ==, (int)i); /* drawn in element order */
  lc_overlay_set_visible(o, LC_OV_CARD, false);
  lc_overlay_set_visible(o, LC_OV_TEXT, false);
  g_assert_true(lc_overlay_view_update(v, T0, &r, &n));
  g_assert_cmpuint(n, ==, LC_OV_N - 2);
  g_assert_null(find_rect(r, n, LC_OV_CARD));
  g_assert_null(find_rect(r, n, LC_OV_TEXT));
  g_assert_false(lc_overlay_view_update(v, T0, &r, &n));
  /* shown again: back, drawn again only because its generation moved */
  lc_overlay_set_visible(o, LC_OV_CARD, true);
  g_assert_true(lc_overlay_view_update(v, T0, &r, &n));
  g_assert_nonnull(find_rect(r, n, LC_OV_CARD));
  /* the coupon goes at until_ms, the ticker lines expire */
  g_assert_true(lc_overlay_view_update(v, T0 + 60000, &r, &n));
  g_assert_null(find_rect(r, n, LC_OV_COUPON));
  g_assert_null(find_rect(r, n, LC_OV_TICKER));
  /* clearing content removes the rect */
  lc_overlay_set_card(o, NULL);
  g_assert_true(lc_overlay_view_update(v, T0 + 60000, &r, &n));
  g_assert_null(find_rect(r, n, LC_OV_CARD));
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

static void
test_rects_inside_frame(void)
{
  const char *anchors[] = {"top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom",
                           "bottom-right"};
  const int sizes[][2] = {{1920, 1080}, {640, 360}, {1080, 1920}, {16, 16}};
  const double margins[] = {0, 45};
  const double widths[] = {5, 100};
  g_autofree char *logo = tmp_path("logo.svg");
  lc_overlay *o = lc_overlay_new(NULL);
  set_everything(o, "missing.png", logo);
  for (unsigned s = 0; s < G_N_ELEMENTS(sizes); s++) {
    int fw = sizes[s][0], fh = sizes[s][1];
    lc_overlay_view *v = lc_overlay_view_new(o, fw, fh);
    g_assert_nonnull(v);
    for (unsigned a = 0; a < G_N_ELEMENTS(anchors); a++)
      for (unsigned m = 0; m < G_N_ELEMENTS(margins); m++)
        for (unsigned wi = 0; wi < G_N_ELEMENTS(widths); wi++) {
          for (int e = 0; e < LC_OV_N; e++)
            g_assert_cmpint(lc_overlay_place(o, e, anchors[a], margins[m], margins[m], widths[wi], NULL), ==, 0);
          const lc_overlay_rect *r;
          unsigned n;
          update_settled(v, T0, &r, &n);
          g_assert_cmpuint(n, ==, LC_OV_N);
          for (unsigned i = 0; i < n; i++) {
            if (r[i].x < 0 || r[i].y < 0 || r[i].width < 1 || r[i].height < 1 || r[i].x + r[i].width > fw ||
                r[i].y + r[i].height > fh || r[i].stride < r[i].width * 4 || !r[i].pixels)
              g_error("%dx%d %s margin %g width %g: %s at %d,%d %dx%d", fw, fh, anchors[a], margins[m], widths[wi],
                      lc_overlay_element_name(r[i].element), r[i].x, r[i].y, r[i].width, r[i].height);
          }
        }
    lc_overlay_view_free(v);
  }
  g_assert_null(lc_overlay_view_new(o, 8, 720));
  g_assert_null(lc_overlay_view_new(o, 1280, 100000));
  lc_overlay_unref(o);
}

/* At 1080p and 360p the layout is the same picture, scaled: the card keeps its place and size
 * in % of the frame. */
static void
test_same_layout_every_size(void)
{
  lc_overlay *o = lc_overlay_new(NULL);
  set_everything(o, NULL, NULL);
  lc_overlay_view *big = lc_overlay_view_new(o, 1920, 1080), *small = lc_overlay_view_new(o, 640, 360);
  const lc_overlay_rect *rb, *rs;
  unsigned nb, ns;
  lc_overlay_view_update(big, T0, &rb, &nb);
  lc_overlay_view_update(small, T0, &rs, &ns);
  g_assert_cmpuint(nb, ==, ns);
  for (unsigned i = 0; i < nb; i++) {
    if (rb[i].element == LC_OV_LOGO)
      continue; /* placeholder */
    /* within 2% of the frame (text metrics do not scale exactly) */
    g_assert_cmpfloat(fabs(rb[i].x / 1920.0 - rs[i].x / 640.0), <, 0.02);
    g_assert_cmpfloat(fabs(rb[i].y / 1080.0 - rs[i].y / 360.0), <, 0.02);
    g_assert_cmpfloat(fabs(rb[i].width / 1920.0 - rs[i].width / 640.0), <, 0.02);
    g_assert_cmpfloat(fabs(rb[i].height / 1080.0 - rs[i].height / 360.0), <, 0.02);
  }
  lc_overlay_view_free(big);
  lc_overlay_view_free(small);
  lc_overlay_unref(o);
}

/* ---- images ---- */

typedef struct {
  lc_overlay *o;
  lc_overlay_view *v;
  const char *image;
  const lc_overlay_rect *card;
} image_case;

static void
render_card_twice(gpointer data)
{
  image_case *c = data;
  lc_overlay_card card = {.title = "杯", .price = "¥1", .image = c->image};
  lc_overlay_set_card(c->o, &card);
  c->card = settled_get(c->v, T0, LC_OV_CARD);
  card.title = "杯子"; /* redrawn: the failure comes from the cache, no second log line */
  lc_overlay_set_card(c->o, &card);
  c->card = settled_get(c->v, T0, LC_OV_CARD);
}

/* The colour at the centre of the card's picture box (pad = 1.6u, side = 24u at 1280x720 with the
 * default width: the box spans 11.5..184 px). */
static uint32_t
picture_centre(const lc_overlay_rect *card)
{
  return pixel(card, 98, 98);
}

static bool
is_placeholder_grey(uint32_t p)
{
  int a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
  return a > 200 && r > 150 && r < 215 && abs(r - g) < 12 && abs(b - g) < 12;
}

static void
test_bad_images_placeholder(void)
{
  g_autofree char *corrupt = tmp_path("corrupt.png");
  write_file(corrupt, "\x89PNG\r\n\x1a\n\0\0\0\rIHDRgarbage-garbage-garbage", 34);
  g_autofree char *truncated = tmp_path("truncated.jpg");
  g_autofree char *cup = tmp_path("cup.png");
  write_cup_png(cup, 256);
  {
    GdkPixbuf *pb = gdk_pixbuf_new_from_file(cup, NULL);
    g_assert_nonnull(pb);
    gchar *buf;
    gsize n;
    g_assert_true(gdk_pixbuf_save_to_buffer(pb, &buf, &n, "jpeg", NULL, NULL));
    write_file(truncated, buf, n / 3);
    g_free(buf);
    g_object_unref(pb);
  }
  g_autofree char *truncated_png = tmp_path("truncated.png");
  {
    gchar *buf;
    gsize n;
    g_assert_true(g_file_get_contents(cup, &buf, &n, NULL));
    write_file(truncated_png, buf, n / 2);
    g_free(buf);
  }
  g_autofree char *text_file = tmp_path("notes.png");
  write_file(text_file, "hello, not an image", 19);
  g_autofree char *empty = tmp_path("empty.png");
  write_file(empty, "", 0);
  g_autofree char *fifo = tmp_path("fifo.png");
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0); /* would block a plain open() forever */
  g_autofree char *bad_svg = tmp_path("bad.svg");
  write_file(bad_svg, "<svg><rect", 10);
  g_autofree char *missing = tmp_path("missing.png");
  /* a good picture outside image_root, reached by a link inside it: refused */
  g_autofree char *outside_dir = g_dir_make_tmp("lc-outside-XXXXXX", NULL);
  g_autofree char *outside = g_build_filename(outside_dir, "cup.png", NULL);
  write_cup_png(outside, 64);
  g_autofree char *link = tmp_path("escape.png");
  g_assert_cmpint(symlink(outside, link), ==, 0);
  /* every path resolves inside image_root: an absolute one outside it is not found there */
  const char *cases[] = {missing, corrupt, truncated, truncated_png, text_file, empty, fifo, tmpdir, bad_svg,
                         "https://cdn.example.com/cup.png", "../../etc/passwd", "http://[::1]:80/x.svg", "escape.png",
                         outside};

  lc_overlay_options opt = {.image_root = tmpdir, .room = "room-img"};
  for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
    image_case c = {lc_overlay_new(&opt), NULL, cases[i], NULL};
    c.v = lc_overlay_view_new(c.o, 1280, 720);
    g_autofree char *log = capture_stderr(render_card_twice, &c);
    g_assert_nonnull(c.card);
    uint32_t p = pixel(c.card, 25, 25); /* inside the picture box, away from the drawn hill */
    if (!is_placeholder_grey(p))
      g_error("%s: picture %08x is not the placeholder", cases[i], p);
    g_autofree char *quoted = g_strdup_printf("overlay image \"%s\"", cases[i]);
    if (count_substr(log, quoted) != 1)
      g_error("%s: want one log line, got:\n%s", cases[i], log);
    g_assert_nonnull(strstr(log, "placeholder"));
    g_assert_nonnull(strstr(log, "room=room-img"));
    lc_overlay_view_free(c.v);
    lc_overlay_unref(c.o);
  }
  g_unlink(outside);
  g_rmdir(outside_dir);
}

static void
test_images_draw(void)
{
  g_autofree char *cup = tmp_path("cup.png");
  write_cup_png(cup, 300);
  g_autofree char *jpeg = tmp_path("cup.jpg");
  {
    GdkPixbuf *pb = gdk_pixbuf_new_from_file(cup, NULL);
    g_assert_true(gdk_pixbuf_save(pb, jpeg, "jpeg", NULL, "quality", "90", NULL));
    g_object_unref(pb);
  }
  g_autofree char *svg = tmp_path("logo.svg");
  write_file(svg, logo_svg, strlen(logo_svg));

  lc_overlay_options opt = {.image_root = tmpdir};
  /* a web path (leading '/', inside image_root as catalog images are) and relative ones */
  const char *cards[] = {"/cup.png", "cup.png", "cup.jpg"};
  for (unsigned i = 0; i < G_N_ELEMENTS(cards); i++) {
    lc_overlay *o = lc_overlay_new(&opt);
    lc_overlay_card card = {.title = "杯", .price = "¥1", .image = cards[i]};
    lc_overlay_set_card(o, &card);
    lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
    /* while the picture decodes the card shows an empty white box */
    bool changed;
    const lc_overlay_rect *r = update_get(v, T0, LC_OV_CARD, &changed);
    g_assert_true(changed);
    uint32_t empty = picture_centre(r);
    g_assert_cmpuint(empty & 0xff, >, 200); /* white-ish, not blue */
    g_assert_true(lc__overlay_view_wait_images(v, 120 * G_USEC_PER_SEC));
    r = update_get(v, T0, LC_OV_CARD, &changed);
    g_assert_true(changed); /* redrawn once the picture arrived */
    uint32_t p = picture_centre(r);
    /* the cup's blue body */
    int red = (p >> 16) & 255, blue = p & 255;
    if (!(p >> 24 == 255 && blue > 150 && red < 90))
      g_error("%s: picture centre %08x is not the blue cup", cards[i], p);
    lc_overlay_view_free(v);
    lc_overlay_unref(o);
  }

  /* the SVG logo: 240x80 fitted into 10% of 1280 = 128 px wide, red and yellow inside */
  lc_overlay *o = lc_overlay_new(&opt);
  lc_overlay_set_logo(o, "logo.svg");
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  /* the logo's size comes from its image: no rect until it is decoded */
  g_assert_null(update_get(v, T0, LC_OV_LOGO, NULL));
  const lc_overlay_rect *r = settled_get(v, T0, LC_OV_LOGO);
  g_assert_nonnull(r);
  g_assert_cmpint(r->width, ==, 128);
  g_assert_cmpint(abs(r->height - 43), <=, 1);
  uint32_t red = pixel(r, 5, r->height / 2), yellow = pixel(r, 90, r->height / 2);
  g_assert_cmpuint((red >> 16) & 255, >, 150);
  g_assert_cmpuint(red & 255, <, 80);
  g_assert_cmpuint((yellow >> 8) & 255, >, 150);
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

/* ---- a view on another thread than the setters ---- */

typedef struct {
  lc_overlay *o;
  gint stop;
  gint updates;
  unsigned changes;
} race;

static gpointer
view_thread(gpointer data)
{
  race *rc = data;
  lc_overlay_view *v = lc_overlay_view_new(rc->o, 640, 360);
  int64_t now = T0;
  while (!g_atomic_int_get(&rc->stop)) {
    const lc_overlay_rect *r;
    unsigned n;
    rc->changes += lc_overlay_view_update(v, now, &r, &n);
    for (unsigned i = 0; i < n; i++)
      g_assert_true(r[i].x + r[i].width <= 640 && r[i].y + r[i].height <= 360);
    g_atomic_int_inc(&rc->updates);
    now += 40; /* a 25 fps clock */
  }
  lc_overlay_view_free(v);
  return NULL;
}

static void
test_setters_while_rendering(void)
{
  race rc = {lc_overlay_new(NULL), 0, 0, 0};
  GThread *t = g_thread_new("view", view_thread, &rc);
  /* at least 300 changes, and go on until the view thread has drawn 50 times among them */
  gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
  for (int i = 0; i < 300 || g_atomic_int_get(&rc.updates) < 50; i++) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_autofree char *title = g_strdup_printf("商品 %d", i);
    lc_overlay_card card = {.title = title, .price = "¥9"};
    lc_overlay_set_card(rc.o, &card);
    lc_overlay_ticker_push(rc.o, "Lin", 1, T0 + i * 40);
    lc_overlay_set_visible(rc.o, LC_OV_TEXT, i % 2);
    lc_overlay_set_text(rc.o, i % 3 ? "今晚 8 点返场" : NULL, NULL);
    lc_overlay_place(rc.o, LC_OV_CARD, i % 2 ? "top" : "bottom-right", i % 45, 3, 20 + i % 50, NULL);
  }
  g_atomic_int_set(&rc.stop, 1);
  g_thread_join(t);
  g_assert_cmpint(rc.updates, >=, 50);
  g_assert_cmpuint(rc.changes, >, 0);
  lc_overlay_unref(rc.o);
}

/* ---- measurements and screenshots ---- */

static void
test_measure(void)
{
  g_autofree char *cup = tmp_path("cup.png");
  write_cup_png(cup, 800);
  g_autofree char *svg = tmp_path("logo.svg");
  write_file(svg, logo_svg, strlen(logo_svg));
  lc_overlay *o = lc_overlay_new(NULL);
  set_everything(o, cup, svg);
  lc_overlay_view *v = lc_overlay_view_new(o, 1920, 1080);
  const lc_overlay_rect *r;
  unsigned n;
  gint64 t0 = g_get_monotonic_time();
  lc_overlay_view_update(v, T0, &r, &n);
  gint64 first = g_get_monotonic_time() - t0;
  t0 = g_get_monotonic_time();
  g_assert_true(lc__overlay_view_wait_images(v, 120 * G_USEC_PER_SEC));
  gint64 decode = g_get_monotonic_time() - t0;
  t0 = g_get_monotonic_time();
  lc_overlay_view_update(v, T0, &r, &n);
  gint64 with_images = g_get_monotonic_time() - t0;
  size_t bytes = 0;
  for (unsigned i = 0; i < n; i++)
    bytes += (size_t)r[i].stride * r[i].height;
  g_test_message("1080p first update (%d elements, images queued): %" G_GINT64_FORMAT " us; images decoded %"
                 G_GINT64_FORMAT " us later on a pool thread; the update drawing them: %" G_GINT64_FORMAT
                 " us; %zu bytes of pixels", LC_OV_N, first, decode, with_images, bytes);
  /* one element at a time, warm: bump its generation and redraw it 20 times */
  for (int e = 0; e < LC_OV_N; e++) {
    gint64 total = 0;
    for (int i = 0; i < 20; i++) {
      lc_overlay_set_visible(o, e, false);
      lc_overlay_view_update(v, T0, &r, &n);
      lc_overlay_set_visible(o, e, true);
      t0 = g_get_monotonic_time();
      lc_overlay_view_update(v, T0, &r, &n);
      total += g_get_monotonic_time() - t0;
    }
    const lc_overlay_rect *er = find_rect(r, n, e);
    g_test_message("1080p %-6s %4dx%-4d %7d bytes, redraw %" G_GINT64_FORMAT " us", lc_overlay_element_name(e),
                   er->width, er->height, er->stride * er->height, total / 20);
  }
  /* the frame-rate path: nothing changed */
  t0 = g_get_monotonic_time();
  for (int i = 0; i < 1000; i++)
    g_assert_false(lc_overlay_view_update(v, T0 + 100 + i % 100, &r, &n));
  g_test_message("1080p unchanged update: %.2f us", (g_get_monotonic_time() - t0) / 1000.0);
  lc_overlay_view_free(v);
  lc_overlay_unref(o);
}

static void
shot(const char *dir, const char *name, lc_overlay *o, int64_t now)
{
  lc_overlay_view *v = lc_overlay_view_new(o, 1280, 720);
  const lc_overlay_rect *r;
  unsigned n;
  update_settled(v, now, &r, &n);
  cairo_surface_t *frame = compose(r, n, 1280, 720);
  g_autofree char *file = g_strdup_printf("%s/%s.png", dir, name);
  g_assert_cmpint(cairo_surface_write_to_png(frame, file), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(frame);
  lc_overlay_view_free(v);
}

/* One scene with only element e's content. */
static lc_overlay *
only(lc_overlay_element e, const char *cup, const char *logo, bool sold_out)
{
  lc_overlay *o = lc_overlay_new(NULL);
  switch (e) {
  case LC_OV_CARD: {
    lc_overlay_card card = {.title = "真空保温杯 600ml 316 不锈钢 长效保温", .price = "¥69.00",
                            .original_price = "¥129.00", .image = cup};
    lc_overlay_set_card(o, &card);
    break;
  }
  case LC_OV_FLASH: {
    lc_overlay_flash f = {.title = "真空保温杯 600ml", .price = "¥49.00", .ends_at_ms = T0 + 83500,
                          .stock_left = sold_out ? 0 : 23, .stock_total = 100, .sold_out = sold_out};
    lc_overlay_set_flash(o, &f);
    break;
  }
  case LC_OV_COUPON:
    lc_overlay_set_coupon(o, "满 200 减 30", T0 + 60000);
    break;
  case LC_OV_TICKER:
    lc_overlay_ticker_push(o, "Lin Wei", 2, T0 - 4000);
    lc_overlay_ticker_push(o, "王小明", 1, T0 - 2000);
    lc_overlay_ticker_push(o, "Carol", 3, T0);
    break;
  case LC_OV_LOGO:
    lc_overlay_set_logo(o, logo);
    break;
  case LC_OV_TEXT:
    lc_overlay_set_text(o, "今晚 8 点返场", NULL);
    break;
  case LC_OV_GIFT: {
    lc_overlay_gift g = {.combo_id = "cb-1", .by = "张**", .name = "玫瑰", .icon = "🌹", .count = 7, .coins = 70};
    lc_overlay_gift_push(o, &g, T0);
    break;
  }
  case LC_OV_GROUP: {
    lc_overlay_group g = {.title = "纯棉T恤 M", .price = "¥49.00", .team_size = 3, .seats = 2,
                          .deadline_ms = T0 + 492000};
    lc_overlay_set_group(o, &g);
    break;
  }
  default:
    break;
  }
  return o;
}

static void
test_screenshots(void)
{
  const char *dir = g_getenv("LC_OVERLAY_SHOTS");
  if (!dir || !*dir) {
    g_test_message("LC_OVERLAY_SHOTS not set: no screenshots written");
    return;
  }
  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_autofree char *cup = tmp_path("shot-cup.png");
  write_cup_png(cup, 400);
  g_autofree char *logo = tmp_path("shot-logo.svg");
  write_file(logo, logo_svg, strlen(logo_svg));
  for (int e = 0; e < LC_OV_N; e++) {
    lc_overlay *o = only(e, cup, logo, false);
    shot(dir, lc_overlay_element_name(e), o, T0);
    lc_overlay_unref(o);
  }
  lc_overlay *o = only(LC_OV_FLASH, cup, logo, true);
  shot(dir, "flash-sold-out", o, T0);
  lc_overlay_unref(o);
  o = lc_overlay_new(NULL);
  lc_overlay_gift big = {.combo_id = "cb-2", .by = "Lin**", .name = "火箭", .icon = "🚀", .count = 3,
                         .coins = 3000, .gift_class = LC_OVERLAY_GIFT_FULLSCREEN};
  lc_overlay_gift_push(o, &big, T0);
  shot(dir, "gift-fullscreen", o, T0);
  lc_overlay_unref(o);
  o = only(LC_OV_GROUP, cup, logo, false);
  lc_overlay_group formed = {.title = "纯棉T恤 M", .price = "¥49.00", .team_size = 3, .seats = -1,
                             .formed_until_ms = T0 + 3000};
  lc_overlay_set_group(o, &formed);
  shot(dir, "group-formed", o, T0);
  lc_overlay_unref(o);
  o = lc_overlay_new(NULL);
  set_everything(o, cup, logo);
  shot(dir, "all", o, T0);
  json_t *en = json_pack("{s:s}", "lang", "en");
  g_assert_cmpint(lc_overlay_configure(o, en, NULL), ==, 0);
  json_decref(en);
  shot(dir, "all-en", o, T0);
  lc_overlay_unref(o);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  GError *err = NULL;
  tmpdir = g_dir_make_tmp("lc-overlay-XXXXXX", &err);
  g_assert_no_error(err);
  g_autofree char *svg = tmp_path("logo.svg");
  write_file(svg, logo_svg, strlen(logo_svg));
  g_test_add_func("/overlays/render/cjk_not_tofu", test_cjk_not_tofu);
  g_test_add_func("/overlays/render/countdown", test_countdown);
  g_test_add_func("/overlays/render/ticker_burst", test_ticker_burst);
  g_test_add_func("/overlays/render/gift", test_gift_render);
  g_test_add_func("/overlays/render/group", test_group_render);
  g_test_add_func("/overlays/render/hidden_gives_no_rect", test_hidden_gives_no_rect);
  g_test_add_func("/overlays/render/rects_inside_frame", test_rects_inside_frame);
  g_test_add_func("/overlays/render/same_layout_every_size", test_same_layout_every_size);
  g_test_add_func("/overlays/render/bad_images_placeholder", test_bad_images_placeholder);
  g_test_add_func("/overlays/render/images_draw", test_images_draw);
  g_test_add_func("/overlays/render/setters_while_rendering", test_setters_while_rendering);
  g_test_add_func("/overlays/render/measure", test_measure);
  g_test_add_func("/overlays/render/screenshots", test_screenshots);
  int rc = g_test_run();
  g_autofree char *cmd = NULL;
  GDir *d = g_dir_open(tmpdir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    g_autofree char *p = tmp_path(name);
    g_unlink(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(tmpdir);
  g_free(tmpdir);
  return rc;
}

/* lc_overlay_view: draws a scene with cairo + pango into one premultiplied ARGB32 surface per
 * element, for one frame size, on the ladder's streaming thread.
 *
 * Sizes: every length is a multiple of u = 1% of the frame's shorter side (fonts, padding,
 * radii) or a % of the frame width (element widths, from the placement), so a 1080p and a 720p
 * source give the same picture and the ladder's scaling keeps it. Font sizes are picked for the
 * smallest rung: at 640x360 (u = 3.6 px) the card title (3.6u) is 13 px, the ticker (3.4u) 12 px
 * and the smallest label (2.8u) 10 px, the least that stayed readable in the 360p screenshots;
 * at 1080p they are 39, 37 and 30 px.
 *
 * Work per frame: a version check under the scene's mutex and one small loop; an element is
 * drawn again only when its generation (content, placement, language) or its time key (the
 * countdown second, coupon expiry, the ticker's lines, the gift burst's end, the group's
 * countdown and formed notice) changed, into the same surface when its size did not change.
 * Images are decoded once per (path, box size) and kept in a small LRU; a file that cannot be
 * drawn is remembered too, so it is logged once and never re-read. */
#define LC_LOG_DOMAIN "overlay"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <librsvg/rsvg.h>
#include <pango/pangocairo.h>

#include "base/log.h"
#include "overlays/overlay.h"
#include "overlays/overlay_int.h"

#define FRAME_MIN 16
#define FRAME_MAX 8192
#define IMAGE_CACHE 16
#define IMAGE_FILE_MAX (16 * 1024 * 1024)
#define IMAGE_PIXELS_MAX (4096 * 4096) /* decoded size before scaling: a decompression bomb stops here */

typedef enum { IMG_LOADING, IMG_READY, IMG_FAILED } image_state;

typedef struct {
  char *path; /* as given (NULL: free entry) */
  int box_w, box_h;
  image_state state;
  cairo_surface_t *surf; /* IMG_READY only */
  guint64 used;
} image_entry;

/* Images decode on a GLib pool thread, not on the streaming thread: a 3000x2000 phone photo
 * took 125 ms (a 800x800 one 20-40 ms), 3-4 frames the ladder would have held. Until it is
 * ready the card shows an empty picture box and the logo nothing; then they are redrawn. */
typedef struct {
  GMutex mu;
  GCond cond;
  GPtrArray *done; /* decoded*, mu */
  int pending;     /* jobs queued or running, mu */
  gint ready;      /* atomic: done has results (checked without the lock every update) */
  gint cancelled;  /* atomic: the view is going; queued jobs only free themselves */
  GThreadPool *pool;
} decoder;

typedef struct {
  char *path;
  int box_w, box_h;
  cairo_surface_t *surf; /* NULL: failed (logged by the job) */
} decoded;

typedef struct {
  decoder *d;
  char *path;
  int box_w, box_h;
  const char *root, *room; /* the scene's options: immutable, and the view outlives its jobs */
} decode_job;

typedef struct {
  cairo_surface_t *surf; /* this element's pixels (NULL before its first render) */
  int sw, sh;
  bool shown;
  bool valid;   /* gen and time_key say what is drawn (or what waits for an image) */
  bool waiting; /* drawn (or left out) while an image it needs was loading */
  guint64 gen, image_epoch;
  int64_t time_key;
  lc_overlay_rect rect; /* where surf goes, when shown */
} slot;

struct lc_overlay_view {
  lc_overlay *o; /* ref */
  int fw, fh;
  double u; /* 1% of the shorter side, px */
  lc__ov_snapshot snap;
  slot slots[LC_OV_N];
  lc_overlay_rect rects[LC_OV_N];
  unsigned n_rects;
  bool updated_once;
  PangoFontMap *fontmap; /* a view's own: pango font maps are not shared across threads */
  PangoContext *pctx;
  PangoFontDescription *desc; /* the family list; size and weight set per layout */
  image_entry images[IMAGE_CACHE];
  guint64 image_clock;
  guint64 image_epoch; /* moves when decoded images arrive */
  decoder dec;
  unsigned unknown_glyphs, renders;
  bool warned_glyphs;
};

/* ---- colours (premultiplied by cairo from these straight values) ---- */

typedef struct {
  double r, g, b, a;
} rgba;

static const rgba PANEL = {0.06, 0.06, 0.09, 0.62};
static const rgba WHITE = {1, 1, 1, 1};
static const rgba MUTED = {0.80, 0.80, 0.82, 1};
static const rgba ACCENT = {1.0, 0.85, 0.30, 1};     /* prices on dark panels */
static const rgba BADGE = {1.0, 0.23, 0.36, 0.95};   /* "讲解中" */
static const rgba FLASH_A = {0.91, 0.14, 0.24, 0.90};
static const rgba FLASH_B = {1.0, 0.48, 0.18, 0.90};
static const rgba SOLD = {0.33, 0.33, 0.35, 0.88};
static const rgba COUPON_A = {1.0, 0.54, 0.0, 0.92};
static const rgba COUPON_B = {1.0, 0.31, 0.31, 0.92};
static const rgba GIFT_A = {0.56, 0.22, 0.94, 0.88};     /* small gifts: violet to pink */
static const rgba GIFT_B = {1.0, 0.27, 0.58, 0.88};
static const rgba GIFT_BIG_A = {1.0, 0.60, 0.05, 0.92}; /* big and fullscreen: gold to red */
static const rgba GIFT_BIG_B = {0.93, 0.16, 0.34, 0.92};
static const rgba FORMED = {0.11, 0.66, 0.38, 0.95};    /* "已成团" */

static void
set_color(cairo_t *cr, rgba c)
{
  cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a);
}

static void
rounded(cairo_t *cr, double x, double y, double w, double h, double r)
{
  r = MIN(r, MIN(w, h) / 2);
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + w - r, y + r, r, -G_PI / 2, 0);
  cairo_arc(cr, x + w - r, y + h - r, r, 0, G_PI / 2);
  cairo_arc(cr, x + r, y + h - r, r, G_PI / 2, G_PI);
  cairo_arc(cr, x + r, y + r, r, G_PI, 3 * G_PI / 2);
  cairo_close_path(cr);
}

static void
fill_rounded(cairo_t *cr, double x, double y, double w, double h, double r, rgba c)
{
  rounded(cr, x, y, w, h, r);
  set_color(cr, c);
  cairo_fill(cr);
}

static void
fill_gradient(cairo_t *cr, double w, double h, double r, rgba a, rgba b)
{
  cairo_pattern_t *p = cairo_pattern_create_linear(0, 0, w, h);
  cairo_pattern_add_color_stop_rgba(p, 0, a.r, a.g, a.b, a.a);
  cairo_pattern_add_color_stop_rgba(p, 1, b.r, b.g, b.b, b.a);
  rounded(cr, 0, 0, w, h, r);
  cairo_set_source(cr, p);
  cairo_fill(cr);
  cairo_pattern_destroy(p);
}

/* ---- text ---- */

typedef struct {
  PangoLayout *l;
  int w, h; /* logical size, px */
} text;

/* A layout of s at px pixels; wrap_w > 0 wraps at that width and cuts to max_lines with "…". */
static text
text_new(lc_overlay_view *v, const char *s, double px, bool bold, int wrap_w, int max_lines)
{
  text t = {pango_layout_new(v->pctx), 0, 0};
  pango_font_description_set_absolute_size(v->desc, MAX(px, 1) * PANGO_SCALE);
  pango_font_description_set_weight(v->desc, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description(t.l, v->desc);
  if (wrap_w > 0) {
    pango_layout_set_width(t.l, wrap_w * PANGO_SCALE);
    pango_layout_set_wrap(t.l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_ellipsize(t.l, PANGO_ELLIPSIZE_END);
    pango_layout_set_height(t.l, -MAX(max_lines, 1));
  }
  pango_layout_set_text(t.l, s ? s : "", -1);
  v->unknown_glyphs += (unsigned)pango_layout_get_unknown_glyphs_count(t.l);
  PangoRectangle logical;
  pango_layout_get_pixel_extents(t.l, NULL, &logical);
  t.w = logical.width;
  t.h = logical.height;
  return t;
}

static void
text_free(text *t)
{
  g_clear_object(&t->l);
}

static void
text_draw(cairo_t *cr, const text *t, double x, double y, rgba c)
{
  set_color(cr, c);
  cairo_move_to(cr, x, y);
  pango_cairo_show_layout(cr, t->l);
}

static int
baseline(const text *t)
{
  return pango_layout_get_baseline(t->l) / PANGO_SCALE;
}

/* ---- images ---- */

static bool
is_url(const char *p)
{
  return strstr(p, "://") != NULL || g_str_has_prefix(p, "data:");
}

static bool
has_dotdot(const char *p)
{
  g_auto(GStrv) parts = g_strsplit(p, "/", -1);
  for (char **s = parts; *s; s++)
    if (strcmp(*s, "..") == 0)
      return true;
  return false;
}

/* The file's bytes, read without blocking on a FIFO or device (a regular file, <= 16 MB). */
static GBytes *
read_image_file(const char *path, char **why)
{
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    *why = g_strdup(g_strerror(errno));
    return NULL;
  }
  struct stat st;
  guint8 *buf = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = g_strdup("not a regular file");
    goto fail;
  }
  if (st.st_size <= 0 || st.st_size > IMAGE_FILE_MAX) {
    *why = g_strdup_printf("size %lld bytes (1 byte to 16 MB)", (long long)st.st_size);
    goto fail;
  }
  size_t n = (size_t)st.st_size, got = 0;
  buf = g_malloc(n);
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      *why = g_strdup(r < 0 ? g_strerror(errno) : "file shrank while read");
      goto fail;
    }
    got += (size_t)r;
  }
  close(fd);
  return g_bytes_new_take(buf, n);
fail:
  g_free(buf);
  close(fd);
  return NULL;
}

/* Fits w x h into box_w x box_h keeping the aspect; never 0. */
static void
fit(double w, double h, int box_w, int box_h, int *out_w, int *out_h)
{
  double s = MIN(box_w / MAX(w, 1), box_h / MAX(h, 1));
  *out_w = CLAMP((int)lround(w * s), 1, box_w);
  *out_h = CLAMP((int)lround(h * s), 1, box_h);
}

typedef struct {
  int box_w, box_h;
  bool too_big;
} size_req;

static void
on_size_prepared(GdkPixbufLoader *l, int w, int h, gpointer data)
{
  size_req *req = data;
  if (w <= 0 || h <= 0 || (gint64)w * h > IMAGE_PIXELS_MAX) {
    req->too_big = true;
    gdk_pixbuf_loader_set_size(l, 0, 0); /* the PNG and JPEG loaders stop at a 0 size */
    return;
  }
  int fw, fh;
  fit(w, h, req->box_w, req->box_h, &fw, &fh);
  gdk_pixbuf_loader_set_size(l, fw, fh);
}

/* cairo wants premultiplied native-endian ARGB; gdk-pixbuf gives straight RGB(A) bytes. */
static cairo_surface_t *
surface_from_pixbuf(GdkPixbuf *pb)
{
  int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb);
  int nch = gdk_pixbuf_get_n_channels(pb), in_stride = gdk_pixbuf_get_rowstride(pb);
  bool alpha = gdk_pixbuf_get_has_alpha(pb);
  const guint8 *in = gdk_pixbuf_read_pixels(pb);
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    return NULL;
  }
  cairo_surface_flush(s);
  guint8 *out = cairo_image_surface_get_data(s);
  int out_stride = cairo_image_surface_get_stride(s);
  for (int y = 0; y < h; y++) {
    const guint8 *p = in + (size_t)y * in_stride;
    uint32_t *q = (uint32_t *)(void *)(out + (size_t)y * out_stride);
    for (int x = 0; x < w; x++, p += nch) {
      uint32_t a = alpha ? p[3] : 255;
      uint32_t r = (p[0] * a + 127) / 255, g = (p[1] * a + 127) / 255, b = (p[2] * a + 127) / 255;
      q[x] = a << 24 | r << 16 | g << 8 | b;
    }
  }
  cairo_surface_mark_dirty(s);
  return s;
}

/* gdk-pixbuf draws a truncated PNG or JPEG as far as it got (the rest grey) and calls it a
 * success; a product picture cut in half is a broken file here. A PNG is complete when its
 * chunks lead to IEND; a JPEG when an end-of-image marker follows the first start-of-scan
 * (embedded EXIF thumbnails end before it). */
static bool
png_complete(const guint8 *d, size_t n)
{
  size_t i = 8; /* after the signature */
  while (d && i + 12 <= n) {
    size_t len = (size_t)d[i] << 24 | (size_t)d[i + 1] << 16 | (size_t)d[i + 2] << 8 | d[i + 3];
    if (memcmp(d + i + 4, "IEND", 4) == 0)
      return true;
    if (len > n - i - 12)
      return false;
    i += 12 + len;
  }
  return false;
}

static bool
jpeg_complete(const guint8 *d, size_t n)
{
  size_t i = 2; /* after SOI */
  if (!d)
    return false;
  while (i + 4 <= n) {
    if (d[i] != 0xff)
      return false;
    guint8 m = d[i + 1];
    if (m == 0xff) { /* fill byte */
      i++;
      continue;
    }
    if (m == 0xd9)
      return false; /* end of image before any scan */
    if ((m >= 0xd0 && m <= 0xd7) || m == 0x01) {
      i += 2;
      continue;
    }
    size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
    if (len < 2)
      return false;
    if (m == 0xda) {
      for (size_t k = i + 2 + len; k + 1 < n; k++)
        if (d[k] == 0xff && d[k + 1] == 0xd9)
          return true;
      return false;
    }
    i += 2 + len;
  }
  return false;
}

static cairo_surface_t *
decode_raster(GBytes *bytes, const char *type, int box_w, int box_h, char **why)
{
  GError *gerr = NULL;
  GdkPixbufLoader *l = gdk_pixbuf_loader_new_with_type(type, &gerr);
  if (!l) {
    *why = g_strdup_printf("no %s loader: %s", type, gerr->message);
    g_error_free(gerr);
    return NULL;
  }
  size_req req = {box_w, box_h, false};
  g_signal_connect(l, "size-prepared", G_CALLBACK(on_size_prepared), &req);
  gsize n;
  const guint8 *d = g_bytes_get_data(bytes, &n);
  bool ok = gdk_pixbuf_loader_write(l, d, n, &gerr);
  ok = gdk_pixbuf_loader_close(l, ok ? &gerr : NULL) && ok;
  GdkPixbuf *pb = ok ? gdk_pixbuf_loader_get_pixbuf(l) : NULL;
  cairo_surface_t *s = NULL;
  if (req.too_big) {
    *why = g_strdup_printf("image larger than %d pixels", IMAGE_PIXELS_MAX);
  } else if (!pb) {
    *why = g_strdup_printf("corrupt %s: %s", type, gerr ? gerr->message : "no image");
  } else {
    GdkPixbuf *oriented = gdk_pixbuf_apply_embedded_orientation(pb); /* EXIF rotation of phone photos */
    if (oriented && (gdk_pixbuf_get_width(oriented) > box_w || gdk_pixbuf_get_height(oriented) > box_h)) {
      int fw, fh; /* rotated by 90°: fit again */
      fit(gdk_pixbuf_get_width(oriented), gdk_pixbuf_get_height(oriented), box_w, box_h, &fw, &fh);
      GdkPixbuf *scaled = gdk_pixbuf_scale_simple(oriented, fw, fh, GDK_INTERP_BILINEAR);
      g_object_unref(oriented);
      oriented = scaled;
    }
    s = oriented ? surface_from_pixbuf(oriented) : NULL;
    if (!s)
      *why = g_strdup("out of memory for the decoded image");
    g_clear_object(&oriented);
  }
  g_clear_error(&gerr);
  g_object_unref(l);
  return s;
}

static cairo_surface_t *
decode_svg(GBytes *bytes, int box_w, int box_h, char **why)
{
  GError *gerr = NULL;
  gsize n;
  const guint8 *d = g_bytes_get_data(bytes, &n);
  /* from memory, without a base file: the SVG cannot pull in other files */
  RsvgHandle *h = rsvg_handle_new_from_data(d, n, &gerr);
  if (!h) {
    *why = g_strdup_printf("corrupt SVG: %s", gerr ? gerr->message : "?");
    g_clear_error(&gerr);
    return NULL;
  }
  double iw = 0, ih = 0;
  if (!rsvg_handle_get_intrinsic_size_in_pixels(h, &iw, &ih) || iw <= 0 || ih <= 0) {
    gboolean has_vb = FALSE;
    RsvgRectangle vb = {0};
    rsvg_handle_get_intrinsic_dimensions(h, NULL, NULL, NULL, NULL, &has_vb, &vb);
    iw = has_vb && vb.width > 0 ? vb.width : 1;
    ih = has_vb && vb.height > 0 ? vb.height : 1;
  }
  int w, hh;
  fit(iw, ih, box_w, box_h, &w, &hh);
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, hh);
  cairo_t *cr = cairo_create(s);
  RsvgRectangle vp = {0, 0, w, hh};
  if (!rsvg_handle_render_document(h, cr, &vp, &gerr)) {
    *why = g_strdup_printf("SVG does not render: %s", gerr ? gerr->message : "?");
    cairo_surface_destroy(s);
    s = NULL;
  }
  cairo_destroy(cr);
  g_clear_error(&gerr);
  g_object_unref(h);
  return s;
}

static cairo_surface_t *
load_image(const char *root, const char *path, int box_w, int box_h, char **why)
{
  if (is_url(path)) {
    *why = g_strdup("a URL: overlays draw local files only (the catalog's image files)");
    return NULL;
  }
  if (has_dotdot(path)) {
    *why = g_strdup("a path with \"..\"");
    return NULL;
  }
  /* With a root, every path is inside it: a leading '/' is the root's (catalog images are web
   * paths such as /demo/img/x.svg), and a symlink that leads out of it is refused. */
  g_autofree char *full = NULL;
  if (root) {
    while (*path == '/')
      path++;
    full = g_build_filename(root, path, NULL);
    g_autofree char *real_root = realpath(root, NULL);
    g_autofree char *real = realpath(full, NULL);
    if (!real || !real_root) {
      *why = g_strdup(g_strerror(errno));
      return NULL;
    }
    size_t n = strlen(real_root);
    if (strncmp(real, real_root, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
      *why = g_strdup("a link that leads out of overlays.image_root");
      return NULL;
    }
  } else {
    full = g_strdup(path);
  }
  GBytes *bytes = read_image_file(full, why);
  if (!bytes)
    return NULL;
  gsize n;
  const guint8 *d = g_bytes_get_data(bytes, &n);
  size_t skip = 0;
  if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0)
    skip = 3;
  while (skip < n && g_ascii_isspace(d[skip]))
    skip++;
  cairo_surface_t *s = NULL;
  if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && !png_complete(d, n))
    *why = g_strdup("truncated PNG (its chunks do not reach IEND)");
  else if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
    s = decode_raster(bytes, "png", box_w, box_h, why);
  else if (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0 && !jpeg_complete(d, n))
    *why = g_strdup("truncated JPEG (no end-of-image marker after the image data)");
  else if (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0)
    s = decode_raster(bytes, "jpeg", box_w, box_h, why);
  else if (skip < n && d[skip] == '<')
    s = decode_svg(bytes, box_w, box_h, why);
  else
    *why = g_strdup("not a PNG, JPEG or SVG file");
  g_bytes_unref(bytes);
  return s;
}

/* A pool thread: decodes one image, logs a failure, hands the result back. */
static void
decode_run(gpointer data, gpointer user)
{
  decode_job *job = data;
  decoder *d = job->d;
  cairo_surface_t *s = NULL;
  if (!g_atomic_int_get(&d->cancelled)) {
    char *why = NULL;
    gint64 t0 = g_get_monotonic_time();
    s = load_image(job->root, job->path, job->box_w, job->box_h, &why);
    if (!s)
      LC_WARN(job->room, NULL, "overlay image \"%s\": %s; drawing a placeholder", job->path, why);
    else
      LC_DEBUG(job->room, NULL, "overlay image \"%s\" decoded to %dx%d in %lld us", job->path,
               cairo_image_surface_get_width(s), cairo_image_surface_get_height(s),
               (long long)(g_get_monotonic_time() - t0));
    g_free(why);
  }
  g_mutex_lock(&d->mu);
  if (g_atomic_int_get(&d->cancelled)) {
    if (s)
      cairo_surface_destroy(s);
    g_free(job->path);
  } else {
    decoded *r = g_new(decoded, 1);
    *r = (decoded){job->path, job->box_w, job->box_h, s};
    g_ptr_array_add(d->done, r);
    g_atomic_int_set(&d->ready, 1);
  }
  d->pending--;
  g_cond_broadcast(&d->cond);
  g_mutex_unlock(&d->mu);
  g_free(job);
}

/* Takes the decoded images into the cache (streaming thread, from update). */
static void
images_collect(lc_overlay_view *v)
{
  if (!g_atomic_int_get(&v->dec.ready))
    return;
  g_mutex_lock(&v->dec.mu);
  GPtrArray *done = v->dec.done;
  v->dec.done = g_ptr_array_new();
  g_atomic_int_set(&v->dec.ready, 0);
  g_mutex_unlock(&v->dec.mu);
  for (guint k = 0; k < done->len; k++) {
    decoded *r = done->pdata[k];
    image_entry *e = NULL;
    for (int i = 0; i < IMAGE_CACHE && !e; i++) {
      image_entry *c = &v->images[i];
      if (c->path && c->state == IMG_LOADING && c->box_w == r->box_w && c->box_h == r->box_h &&
          strcmp(c->path, r->path) == 0)
        e = c;
    }
    if (e) {
      e->state = r->surf ? IMG_READY : IMG_FAILED;
      e->surf = r->surf;
    } else if (r->surf) {
      cairo_surface_destroy(r->surf); /* evicted while it was decoding */
    }
    g_free(r->path);
    g_free(r);
  }
  g_ptr_array_unref(done);
  v->image_epoch++;
}

/* The image at path fitted into box: its state, and in *img its pixels when ready (borrowed,
 * owned by the cache). The first use of a (path, box) queues its decoding. */
static image_state
image_get(lc_overlay_view *v, const char *path, int box_w, int box_h, cairo_surface_t **img)
{
  *img = NULL;
  image_entry *victim = &v->images[0];
  for (int i = 0; i < IMAGE_CACHE; i++) {
    image_entry *e = &v->images[i];
    if (e->path && e->box_w == box_w && e->box_h == box_h && strcmp(e->path, path) == 0) {
      e->used = ++v->image_clock;
      *img = e->surf;
      return e->state;
    }
    if (!e->path || (victim->path && e->used < victim->used))
      victim = e;
  }
  g_free(victim->path);
  if (victim->surf)
    cairo_surface_destroy(victim->surf);
  *victim = (image_entry){g_strdup(path), box_w, box_h, IMG_LOADING, NULL, ++v->image_clock};
  if (!v->dec.pool)
    v->dec.pool = g_thread_pool_new(decode_run, NULL, 1, FALSE, NULL); /* GLib's shared threads */
  decode_job *job = g_new(decode_job, 1);
  *job = (decode_job){&v->dec, g_strdup(path), box_w, box_h, lc__overlay_image_root(v->o), lc__overlay_room(v->o)};
  g_mutex_lock(&v->dec.mu);
  v->dec.pending++;
  g_mutex_unlock(&v->dec.mu);
  g_thread_pool_push(v->dec.pool, job, NULL);
  return IMG_LOADING;
}

/* A picture frame with a sun and a hill: "there should be an image here". */
static void
draw_placeholder(cairo_t *cr, double x, double y, double w, double h, double r)
{
  fill_rounded(cr, x, y, w, h, r, (rgba){0.78, 0.78, 0.80, 0.92});
  double s = MIN(w, h);
  set_color(cr, (rgba){0.55, 0.55, 0.58, 1});
  cairo_arc(cr, x + w / 2 + s * 0.18, y + h / 2 - s * 0.15, s * 0.08, 0, 2 * G_PI);
  cairo_fill(cr);
  cairo_move_to(cr, x + w / 2 - s * 0.32, y + h / 2 + s * 0.25);
  cairo_line_to(cr, x + w / 2 - s * 0.08, y + h / 2 - s * 0.05);
  cairo_line_to(cr, x + w / 2 + s * 0.08, y + h / 2 + s * 0.10);
  cairo_line_to(cr, x + w / 2 + s * 0.16, y + h / 2 + s * 0.02);
  cairo_line_to(cr, x + w / 2 + s * 0.32, y + h / 2 + s * 0.25);
  cairo_close_path(cr);
  cairo_fill(cr);
}

/* The image fitted and centred in the box, the placeholder when it cannot be drawn, an empty
 * box while it loads (returns false then); clipped to rounded corners. */
static bool
draw_image(lc_overlay_view *v, cairo_t *cr, const char *path, double x, double y, int bw, int bh, double r,
           double alpha, bool backdrop)
{
  cairo_surface_t *img = NULL;
  image_state st = path ? image_get(v, path, bw, bh, &img) : IMG_FAILED;
  if (st == IMG_FAILED) {
    draw_placeholder(cr, x, y, bw, bh, r);
    return true;
  }
  if (st == IMG_LOADING) {
    if (backdrop)
      fill_rounded(cr, x, y, bw, bh, r, (rgba){1, 1, 1, 0.95});
    return false;
  }
  int iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
  cairo_save(cr);
  rounded(cr, x, y, bw, bh, r);
  cairo_clip(cr);
  if (backdrop) {
    set_color(cr, (rgba){1, 1, 1, 0.95});
    cairo_paint(cr);
  }
  cairo_set_source_surface(cr, img, x + (bw - iw) / 2, y + (bh - ih) / 2);
  cairo_paint_with_alpha(cr, alpha);
  cairo_restore(cr);
  return true;
}

/* ---- elements ---- */

/* Each element lays out its text (that gives its size), asks canvas() for a cleared surface of
 * that size, and draws into it. */
typedef struct {
  lc_overlay_view *v;
  slot *s;
  const lc__ov_elem *el;
  int64_t now_ms;
  int W; /* the element's width from its placement, px */
  double u;
  cairo_t *cr;  /* set by canvas(), destroyed by render(); NULL: nothing to show yet */
  bool waiting; /* an image it needs is still loading */
} ctx;

/* A cleared w x h surface for the element (its old one when the size is the same); w and h
 * are cut to the frame: an element larger than a tiny frame is clipped, never outside it. */
static cairo_t *
canvas(ctx *c, int *w, int *h)
{
  slot *s = c->s;
  *w = CLAMP(*w, 1, c->v->fw);
  *h = CLAMP(*h, 1, c->v->fh);
  if (!s->surf || s->sw != *w || s->sh != *h) {
    if (s->surf)
      cairo_surface_destroy(s->surf);
    s->surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, *w, *h);
    s->sw = *w;
    s->sh = *h;
  }
  c->cr = cairo_create(s->surf);
  cairo_set_operator(c->cr, CAIRO_OPERATOR_CLEAR);
  cairo_paint(c->cr);
  cairo_set_operator(c->cr, CAIRO_OPERATOR_OVER);
  return c->cr;
}

static const char *
tr(const lc__ov_elem *el, const char *zh, const char *en)
{
  return el->lang == LC__OV_LANG_EN ? en : zh;
}

static void
card(ctx *c)
{
  const lc__ov_elem *el = c->el;
  double u = c->u, pad = 1.6 * u;
  int W = c->W;
  int S = (int)MIN(W * 0.36, 24 * u);
  if (!el->image || W - S - 3 * pad < 10 * u)
    S = 0; /* no picture, or too narrow for one: text only */
  double tx = pad + (S ? S + pad : 0);
  int tw = MAX((int)(W - tx - pad), 1);
  text badge = text_new(c->v, tr(el, "讲解中", "Now showing"), 2.8 * u, true, 0, 1);
  text title = text_new(c->v, el->title, 3.6 * u, false, tw, 2);
  text price = text_new(c->v, el->price, 5.6 * u, true, tw, 1);
  text orig = text_new(c->v, el->original_price, 3.0 * u, false, 0, 1);
  if (el->original_price) {
    PangoAttrList *attrs = pango_attr_list_new();
    pango_attr_list_insert(attrs, pango_attr_strikethrough_new(TRUE));
    pango_layout_set_attributes(orig.l, attrs);
    pango_attr_list_unref(attrs);
  }
  double badge_h = badge.h + 0.8 * u, gap = 0.8 * u;
  bool orig_inline = el->original_price && price.w + u + orig.w <= tw;
  double price_h = el->price ? price.h : 0;
  double orig_h = el->original_price && !orig_inline ? orig.h : 0;
  double col_h = badge_h + gap + (el->title ? title.h + gap : 0) + price_h + orig_h;
  int w = W, h = (int)ceil(2 * pad + MAX(S, col_h));
  cairo_t *cr = canvas(c, &w, &h);
  {
    fill_rounded(cr, 0, 0, w, h, 1.6 * u, PANEL);
    if (S)
      c->waiting = !draw_image(c->v, cr, el->image, pad, pad, S, S, u, 1.0, true);
    double y = pad;
    fill_rounded(cr, tx, y, badge.w + 1.6 * u, badge_h, badge_h / 2, BADGE);
    text_draw(cr, &badge, tx + 0.8 * u, y + 0.4 * u, WHITE);
    y += badge_h + gap;
    if (el->title) {
      text_draw(cr, &title, tx, y, WHITE);
      y += title.h + gap;
    }
    if (el->price)
      text_draw(cr, &price, tx, y, ACCENT);
    if (el->original_price) {
      if (orig_inline)
        text_draw(cr, &orig, tx + price.w + u, y + baseline(&price) - baseline(&orig), MUTED);
      else
        text_draw(cr, &orig, tx, y + price_h, MUTED);
    }
  }
  text_free(&badge);
  text_free(&title);
  text_free(&price);
  text_free(&orig);
}

static void
flash(ctx *c)
{
  const lc__ov_elem *el = c->el;
  double u = c->u, pad = 1.4 * u, gap = 0.7 * u;
  int W = c->W, inner = MAX((int)(W - 2 * pad), 1);
  char clock[32], stock[48];
  int64_t secs = lc__ov_flash_seconds(el, c->now_ms);
  if (el->sold_out)
    g_strlcpy(clock, tr(el, "已抢光", "SOLD OUT"), sizeof clock);
  else
    lc__ov_clock_text(secs, clock, sizeof clock);
  if (el->lang == LC__OV_LANG_EN)
    g_snprintf(stock, sizeof stock, "%" G_GINT64_FORMAT " left", el->stock_left);
  else
    g_snprintf(stock, sizeof stock, "剩 %" G_GINT64_FORMAT " 件", el->stock_left);
  text label = text_new(c->v, tr(el, "限时秒杀", "FLASH SALE"), 3.2 * u, true, 0, 1);
  text timer = text_new(c->v, clock, 3.6 * u, true, 0, 1);
  text title = text_new(c->v, el->title, 3.0 * u, false, inner, 1);
  text price = text_new(c->v, el->price, 6.0 * u, true, inner, 1);
  if (el->sold_out) { /* the price that is gone, struck through */
    PangoAttrList *attrs = pango_attr_list_new();
    pango_attr_list_insert(attrs, pango_attr_strikethrough_new(TRUE));
    pango_layout_set_attributes(price.l, attrs);
    pango_attr_list_unref(attrs);
  }
  text left = text_new(c->v, stock, 3.0 * u, false, 0, 1);
  double pill_h = timer.h + 0.6 * u, row1 = MAX(label.h, pill_h), bar_h = 1.6 * u;
  int w = W, h = (int)ceil(pad + row1 + gap + (el->title ? title.h + gap : 0) + (el->price ? price.h + gap : 0) +
                           left.h + 0.5 * u + bar_h + pad);
  cairo_t *cr = canvas(c, &w, &h);
  {
    if (el->sold_out)
      fill_rounded(cr, 0, 0, w, h, 1.6 * u, SOLD);
    else
      fill_gradient(cr, w, h, 1.6 * u, FLASH_A, FLASH_B);
    double y = pad;
    text_draw(cr, &label, pad, y + (row1 - label.h) / 2, WHITE);
    double pill_w = timer.w + 1.6 * u;
    fill_rounded(cr, W - pad - pill_w, y + (row1 - pill_h) / 2, pill_w, pill_h, pill_h / 2,
                 el->sold_out ? FLASH_A : (rgba){0, 0, 0, 0.35});
    text_draw(cr, &timer, W - pad - pill_w + 0.8 * u, y + (row1 - timer.h) / 2, el->sold_out ? WHITE : ACCENT);
    y += row1 + gap;
    if (el->title) {
      text_draw(cr, &title, pad, y, WHITE);
      y += title.h + gap;
    }
    if (el->price) {
      text_draw(cr, &price, pad, y, el->sold_out ? MUTED : WHITE);
      y += price.h + gap;
    }
    text_draw(cr, &left, pad, y, WHITE);
    y += left.h + 0.5 * u;
    fill_rounded(cr, pad, y, inner, bar_h, bar_h / 2, (rgba){1, 1, 1, 0.3});
    double ratio = el->sold_out || el->stock_total <= 0 ? 0 : CLAMP((double)el->stock_left / el->stock_total, 0, 1);
    if (ratio > 0)
      fill_rounded(cr, pad, y, MAX(inner * ratio, bar_h), bar_h, bar_h / 2, ACCENT);
  }
  text_free(&label);
  text_free(&timer);
  text_free(&title);
  text_free(&price);
  text_free(&left);
}

static void
coupon(ctx *c)
{
  const lc__ov_elem *el = c->el;
  double u = c->u, pad = 1.2 * u;
  int W = c->W;
  text label = text_new(c->v, tr(el, "优惠券", "COUPON"), 2.8 * u, true, 0, 1);
  double label_w = label.w + 1.6 * u, label_h = label.h + 0.8 * u;
  int tw = MAX((int)(W - 3 * pad - label_w), 1);
  text body = text_new(c->v, el->text, 3.4 * u, true, tw, 2);
  int w = W, h = (int)ceil(2 * pad + MAX(label_h, body.h));
  cairo_t *cr = canvas(c, &w, &h);
  {
    fill_gradient(cr, w, h, 1.6 * u, COUPON_A, COUPON_B);
    fill_rounded(cr, pad, (h - label_h) / 2, label_w, label_h, 0.8 * u, WHITE);
    text_draw(cr, &label, pad + 0.8 * u, (h - label.h) / 2, (rgba){0.9, 0.25, 0.1, 1});
    text_draw(cr, &body, 2 * pad + label_w, (h - body.h) / 2, WHITE);
  }
  text_free(&label);
  text_free(&body);
}

static void
ticker(ctx *c)
{
  const lc__ov_elem *el = c->el;
  double u = c->u, px = 1.2 * u, py = 0.5 * u, gap = 0.8 * u;
  int first, count;
  lc__ov_ticker_shown(el, c->now_ms, &first, &count);
  text lines[LC__OV_TICKER_MAX_SHOWN] = {0};
  int widest = 1;
  double total = 0;
  for (int i = 0; i < count; i++) {
    char *s = lc__ov_ticker_text(el->lang, &el->ticker[first + i]);
    lines[i] = text_new(c->v, s, 3.4 * u, false, MAX((int)(c->W - 2 * px), 1), 1);
    g_free(s);
    widest = MAX(widest, (int)ceil(lines[i].w + 2 * px));
    total += lines[i].h + 2 * py + (i ? gap : 0);
  }
  int w = MIN(widest, c->W), h = (int)ceil(total);
  cairo_t *cr = canvas(c, &w, &h);
  {
    int col = el->place.anchor % 3; /* pills hug the side the element is anchored to */
    double y = 0;
    for (int i = 0; i < count; i++) {
      double pw = MIN(lines[i].w + 2 * px, w), ph = lines[i].h + 2 * py;
      double x = col == 0 ? 0 : col == 1 ? (w - pw) / 2 : w - pw;
      fill_rounded(cr, x, y, pw, ph, ph / 2, (rgba){0, 0, 0, 0.5});
      text_draw(cr, &lines[i], x + px, y + py, WHITE);
      y += ph + gap;
    }
  }
  for (int i = 0; i < count; i++)
    text_free(&lines[i]);
}

static void
logo(ctx *c)
{
  int bw = c->W, bh = MAX((int)(12 * c->u), 1); /* a watermark: at most 12% of the short side tall */
  cairo_surface_t *img = NULL;
  if (image_get(c->v, c->el->image, bw, bh, &img) == IMG_LOADING) {
    c->waiting = true; /* its size comes from the image: nothing to show until it is decoded */
    return;
  }
  int w = img ? cairo_image_surface_get_width(img) : MIN(bw, 2 * bh);
  int h = img ? cairo_image_surface_get_height(img) : bh;
  cairo_t *cr = canvas(c, &w, &h);
  if (!img) {
    draw_placeholder(cr, 0, 0, w, h, 0.8 * c->u);
    return;
  }
  cairo_set_source_surface(cr, img, 0, 0); /* the surface is the image's size */
  cairo_paint_with_alpha(cr, 0.9);
}

static void
free_text(ctx *c)
{
  double u = c->u, pad = 1.2 * u;
  text t = text_new(c->v, c->el->text, 3.8 * u, true, MAX((int)(c->W - 2 * pad), 1), 3);
  pango_layout_set_alignment(t.l, PANGO_ALIGN_CENTER);
  PangoRectangle ink, logical;
  pango_layout_get_pixel_extents(t.l, &ink, &logical);
  int w = (int)ceil(MIN(logical.width + 2 * pad, c->W)), h = (int)ceil(logical.height + 2 * pad);
  cairo_t *cr = canvas(c, &w, &h);
  {
    fill_rounded(cr, 0, 0, w, h, 1.6 * u, PANEL);
    text_draw(cr, &t, pad - logical.x, pad, WHITE);
  }
  text_free(&t);
}

/* Whether the view's fonts draw every character of s (an emoji needs a font that has it:
 * fonts-noto-color-emoji, or DejaVu for the plain symbols such as ❤). Asked on a layout of its
 * own, so what is left out is not counted as tofu. */
static bool
has_glyphs(lc_overlay_view *v, const char *s)
{
  PangoLayout *l = pango_layout_new(v->pctx);
  pango_font_description_set_absolute_size(v->desc, 20 * PANGO_SCALE);
  pango_font_description_set_weight(v->desc, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description(l, v->desc);
  pango_layout_set_text(l, s, -1);
  bool ok = pango_layout_get_unknown_glyphs_count(l) == 0;
  g_object_unref(l);
  return ok;
}

/* The gift burst: one pill "张** 送出 🌹 玫瑰  x7", bigger for big and fullscreen gifts; it
 * shrinks (to the small size's 85%) and then cuts the line with "…" rather than grow past the
 * element's width. */
static void
gift(ctx *c)
{
  const lc__ov_elem *el = c->el;
  const lc__ov_gift *g = &el->gift;
  double u = c->u;
  int W = c->W;
  bool big = g->gift_class != LC_OVERLAY_GIFT_SMALL;
  double scale = g->gift_class == LC_OVERLAY_GIFT_FULLSCREEN ? 1.7 : big ? 1.3 : 1.0;
  char count[32];
  lc__ov_gift_count_text(g, count, sizeof count);
  char *line = lc__ov_gift_text(el->lang, g, g->icon && has_glyphs(c->v, g->icon));
  text body = {0}, num = {0};
  double px, py, gap;
  for (;;) {
    px = 1.6 * u * scale;
    py = 0.7 * u * scale;
    gap = 1.2 * u * scale;
    body = text_new(c->v, line, 3.4 * u * scale, true, 0, 1);
    num = text_new(c->v, count, 5.0 * u * scale, true, 0, 1);
    if (body.w + gap + num.w + 2 * px <= W || scale <= 0.85)
      break;
    text_free(&body);
    text_free(&num);
    scale = MAX(scale * 0.9, 0.85);
  }
  int room = (int)(W - 2 * px - gap - num.w);
  if (body.w > room) { /* still too wide: the line gives way, the count stays whole */
    text_free(&body);
    body = text_new(c->v, line, 3.4 * u * scale, true, MAX(room, 1), 1);
  }
  g_free(line);
  int w = (int)ceil(MIN(body.w + gap + num.w + 2 * px, W)), h = (int)ceil(MAX(body.h, num.h) + 2 * py);
  cairo_t *cr = canvas(c, &w, &h);
  {
    fill_gradient(cr, w, h, h / 2.0, big ? GIFT_BIG_A : GIFT_A, big ? GIFT_BIG_B : GIFT_B);
    if (big) { /* a bright rim: the big ones stand out from the small ones at a glance */
      double lw = MAX(0.3 * u, 1);
      rounded(cr, lw / 2, lw / 2, w - lw, h - lw, (h - lw) / 2);
      cairo_set_line_width(cr, lw);
      set_color(cr, (rgba){1, 0.95, 0.7, 0.9});
      cairo_stroke(cr);
    }
    double row_base = py + MAX(baseline(&body), baseline(&num));
    text_draw(cr, &body, px, row_base - baseline(&body), WHITE);
    text_draw(cr, &num, w - px - num.w, row_base - baseline(&num), ACCENT);
  }
  text_free(&body);
  text_free(&num);
}

/* Group-buy progress: [拼团] ¥49.00 · 2/3 · 08:12, the team's seats as dots, the product's title;
 * [已成团] ¥49.00 · 3/3 for a moment when a team forms; [拼团] ¥49.00 · 3 人团 without a team. */
static void
group(ctx *c)
{
  const lc__ov_elem *el = c->el;
  const lc__ov_group *g = &el->group;
  double u = c->u, pad = 1.4 * u, gap = 0.8 * u;
  int W = c->W, inner = MAX((int)(W - 2 * pad), 1);
  bool formed = lc__ov_group_formed(el, c->now_ms);
  int64_t secs = lc__ov_group_seconds(el, c->now_ms);
  bool team = formed || g->seats >= 0;
  int seats = formed ? g->team_size : g->seats;
  GString *rest = g_string_new(NULL);
  if (team)
    g_string_append_printf(rest, " · %d/%d", seats, g->team_size);
  else if (el->lang == LC__OV_LANG_EN)
    g_string_append_printf(rest, " · team of %d", g->team_size);
  else
    g_string_append_printf(rest, " · %d 人团", g->team_size);
  if (!formed && secs >= 0) {
    char clock[32];
    lc__ov_clock_text(secs, clock, sizeof clock);
    g_string_append_printf(rest, " · %s", clock);
  }
  text badge = text_new(c->v, formed ? tr(el, "已成团", "Formed") : tr(el, "拼团", "Group buy"), 3.0 * u, true, 0, 1);
  double badge_w = badge.w + 1.6 * u, badge_h = badge.h + 0.6 * u;
  int room = MAX((int)(inner - badge_w - gap), 1);
  text price = text_new(c->v, el->price, 4.4 * u, true, room, 1);
  text info = text_new(c->v, rest->str, 3.4 * u, true, MAX(room - price.w, 1), 1);
  g_string_free(rest, TRUE);
  text title = text_new(c->v, el->title, 2.8 * u, false, inner, 1);
  double row1 = MAX(badge_h, MAX(el->price ? price.h : 0, info.h));
  /* seats as dots: taken ones filled */
  double r = 0.9 * u, step = team ? MIN(3 * r, (double)inner / MAX(g->team_size, 1)) : 0;
  r = MIN(r, step / 2.5);
  double dots_h = team ? 2 * r : 0;
  int w = W, h = (int)ceil(pad + row1 + (team ? gap + dots_h : 0) + (el->title ? gap + title.h : 0) + pad);
  cairo_t *cr = canvas(c, &w, &h);
  {
    fill_rounded(cr, 0, 0, w, h, 1.6 * u, PANEL);
    double y = pad;
    fill_rounded(cr, pad, y + (row1 - badge_h) / 2, badge_w, badge_h, badge_h / 2, formed ? FORMED : BADGE);
    text_draw(cr, &badge, pad + 0.8 * u, y + (row1 - badge.h) / 2, WHITE);
    double x = pad + badge_w + gap;
    double base = y + (row1 - MAX(el->price ? price.h : 0, info.h)) / 2 +
                  MAX(el->price ? baseline(&price) : 0, baseline(&info));
    if (el->price) {
      text_draw(cr, &price, x, base - baseline(&price), ACCENT);
      x += price.w;
    }
    text_draw(cr, &info, x, base - baseline(&info), WHITE);
    y += row1;
    if (team) {
      y += gap;
      for (int i = 0; i < g->team_size; i++) {
        cairo_arc(cr, pad + r + i * step, y + r, r, 0, 2 * G_PI);
        set_color(cr, i < seats ? (formed ? FORMED : ACCENT) : (rgba){1, 1, 1, 0.3});
        cairo_fill(cr);
      }
      y += dots_h;
    }
    if (el->title)
      text_draw(cr, &title, pad, y + gap, MUTED);
  }
  text_free(&badge);
  text_free(&price);
  text_free(&info);
  text_free(&title);
}

typedef void (*draw_fn)(ctx *c);
static const draw_fn draw_fns[LC_OV_N] = {
  [LC_OV_CARD] = card, [LC_OV_FLASH] = flash, [LC_OV_COUPON] = coupon,
  [LC_OV_TICKER] = ticker, [LC_OV_LOGO] = logo, [LC_OV_TEXT] = free_text,
  [LC_OV_GIFT] = gift, [LC_OV_GROUP] = group,
};

/* Where a w x h element goes for its anchor and margins, inside the frame. */
static void
place(const lc_overlay_view *v, const lc__ov_place *p, int w, int h, int *x, int *y)
{
  int col = p->anchor % 3, row = p->anchor / 3;
  int mx = (int)lround(p->margin_x * v->fw / 100), my = (int)lround(p->margin_y * v->fh / 100);
  *x = col == 0 ? mx : col == 1 ? (v->fw - w) / 2 : v->fw - w - mx;
  *y = row == 0 ? my : row == 1 ? (v->fh - h) / 2 : v->fh - h - my;
  *x = CLAMP(*x, 0, v->fw - w);
  *y = CLAMP(*y, 0, v->fh - h);
}

/* Draws element e into its slot; false when it has nothing to show yet (a logo whose image is
 * loading). *waiting: an image it needs is still loading. */
static bool
render(lc_overlay_view *v, lc_overlay_element e, int64_t now_ms, bool *waiting)
{
  slot *s = &v->slots[e];
  const lc__ov_elem *el = &v->snap.el[e];
  ctx c = {v, s, el, now_ms, CLAMP((int)lround(el->place.width * v->fw / 100), 1, v->fw), v->u, NULL, false};
  draw_fns[e](&c);
  *waiting = c.waiting;
  if (!c.cr)
    return false;
  cairo_destroy(c.cr);
  cairo_surface_flush(s->surf);
  s->rect.element = e;
  s->rect.width = s->sw;
  s->rect.height = s->sh;
  s->rect.stride = cairo_image_surface_get_stride(s->surf);
  s->rect.pixels = cairo_image_surface_get_data(s->surf);
  place(v, &el->place, s->sw, s->sh, &s->rect.x, &s->rect.y);
  v->renders++;
  return true;
}

/* ---- the view ---- */

lc_overlay_view *
lc_overlay_view_new(lc_overlay *o, int width, int height)
{
  if (!o || width < FRAME_MIN || height < FRAME_MIN || width > FRAME_MAX || height > FRAME_MAX) {
    LC_ERROR(o ? lc__overlay_room(o) : NULL, NULL, "overlay view: frame %dx%d outside %d..%d", width, height,
             FRAME_MIN, FRAME_MAX);
    return NULL;
  }
  lc_overlay_view *v = g_new0(lc_overlay_view, 1);
  v->o = lc_overlay_ref(o);
  v->fw = width;
  v->fh = height;
  v->u = MIN(width, height) / 100.0;
  v->fontmap = pango_cairo_font_map_new();
  v->pctx = pango_font_map_create_context(v->fontmap);
  /* Grey antialiasing, no hinting: glyphs scale with the frame the same at every size, and
   * the ladder's scaler sees no subpixel colour fringes. */
  cairo_font_options_t *fo = cairo_font_options_create();
  cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
  pango_cairo_context_set_font_options(v->pctx, fo);
  cairo_font_options_destroy(fo);
  v->desc = pango_font_description_from_string(lc__overlay_font(o));
  g_mutex_init(&v->dec.mu);
  g_cond_init(&v->dec.cond);
  v->dec.done = g_ptr_array_new();
  /* Load the faces now (fontconfig's first use in the process: ~50-130 ms, a new font map:
   * ~15 ms), not in the first update on the streaming thread. */
  for (int bold = 0; bold < 2; bold++) {
    text t = text_new(v, "讲解中 限时秒杀 拼团 已成团 送出 ¥0123456789 Now showing", 10, bold, 0, 1);
    text_free(&t);
  }
  return v;
}

void
lc_overlay_view_free(lc_overlay_view *v)
{
  if (!v)
    return;
  /* queued jobs see the flag and only free themselves; wait for the one running */
  g_atomic_int_set(&v->dec.cancelled, 1);
  if (v->dec.pool)
    g_thread_pool_free(v->dec.pool, FALSE, TRUE);
  for (guint k = 0; k < v->dec.done->len; k++) {
    decoded *r = v->dec.done->pdata[k];
    if (r->surf)
      cairo_surface_destroy(r->surf);
    g_free(r->path);
    g_free(r);
  }
  g_ptr_array_unref(v->dec.done);
  g_mutex_clear(&v->dec.mu);
  g_cond_clear(&v->dec.cond);
  for (int e = 0; e < LC_OV_N; e++)
    if (v->slots[e].surf)
      cairo_surface_destroy(v->slots[e].surf);
  for (int i = 0; i < IMAGE_CACHE; i++) {
    g_free(v->images[i].path);
    if (v->images[i].surf)
      cairo_surface_destroy(v->images[i].surf);
  }
  lc__ov_snapshot_clear(&v->snap);
  pango_font_description_free(v->desc);
  g_object_unref(v->pctx);
  g_object_unref(v->fontmap);
  lc_overlay_unref(v->o);
  g_free(v);
}

bool
lc_overlay_view_update(lc_overlay_view *v, int64_t now_ms, const lc_overlay_rect **rects, unsigned *n)
{
  bool changed = !v->updated_once;
  v->updated_once = true;
  lc__overlay_sync(v->o, &v->snap);
  images_collect(v);
  for (int e = 0; e < LC_OV_N; e++) {
    slot *s = &v->slots[e];
    const lc__ov_elem *el = &v->snap.el[e];
    int64_t key;
    if (!lc__ov_shown(e, el, now_ms, &key)) {
      changed |= s->shown;
      s->shown = s->valid = false;
      continue;
    }
    if (s->valid && s->gen == el->gen && s->time_key == key && !(s->waiting && s->image_epoch != v->image_epoch))
      continue;
    bool drawn = render(v, e, now_ms, &s->waiting);
    changed |= drawn || s->shown;
    s->shown = drawn;
    s->valid = true;
    s->gen = el->gen;
    s->time_key = key;
    s->image_epoch = v->image_epoch;
  }
  if (changed) {
    v->n_rects = 0;
    for (int e = 0; e < LC_OV_N; e++)
      if (v->slots[e].shown)
        v->rects[v->n_rects++] = v->slots[e].rect;
    if (v->unknown_glyphs && !v->warned_glyphs) {
      v->warned_glyphs = true;
      LC_WARN(lc__overlay_room(v->o), NULL,
              "overlay font \"%s\" has no glyph for some characters (they show as boxes): install "
              "fonts-wqy-microhei or name a font that has them in [overlays] font",
              lc__overlay_font(v->o));
    }
  }
  if (rects)
    *rects = v->rects;
  if (n)
    *n = v->n_rects;
  return changed;
}

unsigned
lc__overlay_view_unknown_glyphs(const lc_overlay_view *v)
{
  return v->unknown_glyphs;
}

bool
lc__overlay_view_wait_images(lc_overlay_view *v, int64_t timeout_us)
{
  gint64 deadline = g_get_monotonic_time() + timeout_us;
  g_mutex_lock(&v->dec.mu);
  while (v->dec.pending > 0 && g_cond_wait_until(&v->dec.cond, &v->dec.mu, deadline))
    ;
  bool idle = v->dec.pending == 0;
  g_mutex_unlock(&v->dec.mu);
  return idle;
}

unsigned
lc__overlay_view_renders(const lc_overlay_view *v)
{
  return v->renders;
}

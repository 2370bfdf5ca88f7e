/* Overlays in the ladder, on real frames.
 *
 * The stage alone (lcoverlay, ladder_overlay.c, in a GstHarness, raw I420 frames of a fixed
 * pattern): with nothing to show the frame passes untouched (the same buffer); a card set between
 * two frames is in the very next frame, in the card's rectangle only (outside it the frame is the
 * input, bit for bit); cleared, the next frame is the input again; the flash sale's countdown
 * gives a different flash image in each wall-clock second and the same one within a second.
 *
 * The whole ladder (ES input, a static colour-cube picture, rungs 360p + 180p, passthrough on): one run
 * without overlays, one with an overlay whose card is set half-way. Frames are matched across the
 * runs by RTP timestamp (source frame index), so a frame a rung's leaky queue dropped is simply
 * absent. Checked on the decoded rungs: frames before the card equal the overlay-off run (PSNR);
 * the first frame after it carries it; from then on the card region differs from the off run and
 * everything outside the card (dilated by the codec's reach) stays within encoder noise of it
 * (PSNR > 35 dB); the 180p rung carries it scaled; the "source" rendition stays clean; the ladder's
 * stats saw the change leave on a rung. A run with {"passthrough": false} has no "source"; a
 * WHIP publisher's ladder (RTP front-end) carries the card too.
 *
 * No fixed sleeps: every wait is for output (a condition variable with a deadline), and the
 * countdown test waits for the wall clock itself to pass a second boundary. */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

#include "base/errors.h"
#include "ladder/ladder_internal.h"
#include "media/hub.h"
#include "overlays/overlay.h"
#include "../gst_sanitizer.h"
#include "es_material.h"

#define WAIT_S 60 /* deadline of a wait for output: only a stuck pipeline gets near it */

static lc_overlay *
new_overlay(const char *room)
{
  lc_overlay_options opt = {.room = room};
  return lc_overlay_new(&opt);
}

static void
set_card(lc_overlay *o)
{
  lc_overlay_card card = {.title = "真空保温杯 600ml", .price = "¥69.00", .original_price = "¥99.00"};
  lc_overlay_set_card(o, &card);
}

/* The rectangles o shows now at w x h (what the ladder's stage draws), copied. */
static GArray *
rects_now(lc_overlay *o, int w, int h)
{
  lc_overlay_view *v = lc_overlay_view_new(o, w, h);
  g_assert_nonnull(v);
  const lc_overlay_rect *r = NULL;
  unsigned n = 0;
  lc_overlay_view_update(v, g_get_real_time() / 1000, &r, &n);
  GArray *out = g_array_new(FALSE, FALSE, sizeof(lc_overlay_rect));
  for (unsigned i = 0; i < n; i++) {
    lc_overlay_rect c = r[i];
    c.pixels = NULL; /* the view's: gone with it */
    g_array_append_val(out, c);
  }
  lc_overlay_view_free(v);
  return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* Pictures: luma planes, compared inside or outside a set of rectangles */

typedef struct {
  int w, h;
  guint8 *y; /* w * h */
} luma;

static void
luma_free(gpointer p)
{
  luma *l = p;
  if (!l)
    return;
  g_free(l->y);
  g_free(l);
}

static luma *
luma_from(GstBuffer *b, const GstVideoInfo *info)
{
  GstVideoFrame f;
  g_assert_true(gst_video_frame_map(&f, info, b, GST_MAP_READ));
  luma *l = g_new0(luma, 1);
  l->w = GST_VIDEO_FRAME_WIDTH(&f);
  l->h = GST_VIDEO_FRAME_HEIGHT(&f);
  l->y = g_malloc((gsize)l->w * l->h);
  for (int j = 0; j < l->h; j++)
    memcpy(l->y + (gsize)j * l->w,
           (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) + (gsize)j * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0), l->w);
  gst_video_frame_unmap(&f);
  return l;
}

typedef struct {
  int x0, y0, x1, y1;
} box;

/* The rectangles scaled by s and grown by pad pixels on every side. */
static GArray *
boxes_of(GArray *rects, double s, int pad)
{
  GArray *out = g_array_new(FALSE, FALSE, sizeof(box));
  for (guint i = 0; i < rects->len; i++) {
    lc_overlay_rect *r = &g_array_index(rects, lc_overlay_rect, i);
    box b = {(int)floor(r->x * s) - pad, (int)floor(r->y * s) - pad, (int)ceil((r->x + r->width) * s) + pad,
             (int)ceil((r->y + r->height) * s) + pad};
    g_array_append_val(out, b);
  }
  return out;
}

static bool
in_boxes(GArray *boxes, int x, int y)
{
  for (guint i = 0; i < boxes->len; i++) {
    box *b = &g_array_index(boxes, box, i);
    if (x >= b->x0 && x < b->x1 && y >= b->y0 && y < b->y1)
      return true;
  }
  return false;
}

/* PSNR (dB) of a against b over the pixels inside (inside = true) or outside the boxes; 99 when
 * equal. *n_out: pixels compared. */
static double
psnr(const luma *a, const luma *b, GArray *boxes, bool inside, long *n_out)
{
  g_assert_cmpint(a->w, ==, b->w);
  g_assert_cmpint(a->h, ==, b->h);
  double se = 0;
  long n = 0;
  for (int y = 0; y < a->h; y++) {
    for (int x = 0; x < a->w; x++) {
      if (boxes && in_boxes(boxes, x, y) != inside)
        continue;
      double d = (double)a->y[y * a->w + x] - b->y[y * b->w + x];
      se += d * d;
      n++;
    }
  }
  if (n_out)
    *n_out = n;
  g_assert_cmpint(n, >, 0);
  return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / (se / n));
}

/* ---------------------------------------------------------------------------------------------- */
/* The stage alone */

#define ST_W 320
#define ST_H 240

typedef struct {
  lc_overlay *o;
  GstElement *e;
  GstHarness *h;
  GstVideoInfo info;
  GstBuffer *pattern; /* the input picture, never written */
  unsigned pushed;
} stage;

static void
stage_init(stage *s)
{
  memset(s, 0, sizeof(*s));
  s->o = new_overlay("stage");
  s->e = gst_object_ref_sink(lc__ladder_overlay_element(s->o, "stage", NULL, "overlay"));
  s->h = gst_harness_new_with_element(s->e, "sink", "src");
  char *caps = g_strdup_printf("video/x-raw,format=I420,width=%d,height=%d,framerate=30/1", ST_W, ST_H);
  gst_harness_set_src_caps_str(s->h, caps);
  GstCaps *c = gst_caps_from_string(caps);
  g_assert_true(gst_video_info_from_caps(&s->info, c));
  gst_caps_unref(c);
  g_free(caps);
  s->pattern = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&s->info), NULL);
  GstVideoFrame f;
  g_assert_true(gst_video_frame_map(&f, &s->info, s->pattern, GST_MAP_WRITE));
  for (int p = 0; p < 3; p++) {
    guint8 *d = GST_VIDEO_FRAME_PLANE_DATA(&f, p);
    int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, p), w = GST_VIDEO_FRAME_COMP_WIDTH(&f, p),
        h = GST_VIDEO_FRAME_COMP_HEIGHT(&f, p);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        d[y * stride + x] = (guint8)(p == 0 ? 16 + (x * 7 + y * 3) % 220 : 64 + (x + 2 * y + 40 * p) % 128);
  }
  gst_video_frame_unmap(&f);
}

static void
stage_clear(stage *s)
{
  gst_harness_teardown(s->h);
  gst_object_unref(s->e);
  gst_buffer_unref(s->pattern);
  lc_overlay_unref(s->o);
}

/* Pushes a writable copy of the pattern, returns the output frame's luma (and whether the stage
 * passed the very buffer it was given: *same). */
static luma *
stage_frame(stage *s, bool *same)
{
  GstBuffer *in = gst_buffer_copy_deep(s->pattern);
  GST_BUFFER_PTS(in) = gst_util_uint64_scale(s->pushed, GST_SECOND, 30);
  GST_BUFFER_DURATION(in) = gst_util_uint64_scale(1, GST_SECOND, 30);
  s->pushed++;
  uintptr_t in_addr = (uintptr_t)in; /* compared, never dereferenced after the push */
  g_assert_cmpint(gst_harness_push(s->h, in), ==, GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull(s->h);
  g_assert_nonnull(out);
  if (same)
    *same = (uintptr_t)out == in_addr;
  luma *l = luma_from(out, &s->info);
  gst_buffer_unref(out);
  return l;
}

static luma *
pattern_luma(stage *s)
{
  return luma_from(s->pattern, &s->info);
}

static void
test_stage_card(void)
{
  stage s;
  stage_init(&s);
  luma *ref = pattern_luma(&s);

  /* Nothing to show: the buffer itself goes on, untouched. */
  bool same = false;
  luma *f0 = stage_frame(&s, &same);
  g_assert_true(same);
  g_assert_cmpfloat(psnr(f0, ref, NULL, true, NULL), ==, 99.0);

  /* A card set between two frames is in the next one, in place (no copy of the frame). */
  set_card(s.o);
  luma *f1 = stage_frame(&s, &same);
  g_assert_true(same);
  GArray *rects = rects_now(s.o, ST_W, ST_H);
  g_assert_cmpuint(rects->len, ==, 1);
  g_assert_cmpint(g_array_index(rects, lc_overlay_rect, 0).element, ==, LC_OV_CARD);
  GArray *exact = boxes_of(rects, 1.0, 0);
  long n_in = 0, n_out = 0;
  double in = psnr(f1, ref, exact, true, &n_in), out = psnr(f1, ref, exact, false, &n_out);
  g_test_message("card %dx%d at %d,%d: inside %.1f dB (%ld px), outside %.1f dB (%ld px)",
                 g_array_index(rects, lc_overlay_rect, 0).width, g_array_index(rects, lc_overlay_rect, 0).height,
                 g_array_index(rects, lc_overlay_rect, 0).x, g_array_index(rects, lc_overlay_rect, 0).y, in,
                 n_in, out, n_out);
  g_assert_cmpfloat(in, <, 20.0);   /* drawn */
  g_assert_cmpfloat(out, ==, 99.0); /* the rest of the frame: the input, bit for bit */

  /* Every later frame carries it (nothing cached beyond the scene's version). */
  luma *f2 = stage_frame(&s, NULL);
  g_assert_cmpfloat(psnr(f2, f1, NULL, true, NULL), ==, 99.0);

  /* Cleared: the next frame is the input again, passed through. */
  lc_overlay_set_card(s.o, NULL);
  luma *f3 = stage_frame(&s, &same);
  g_assert_true(same);
  g_assert_cmpfloat(psnr(f3, ref, NULL, true, NULL), ==, 99.0);

  /* Hidden then shown: off in the next frame, back in the one after. */
  set_card(s.o);
  luma_free(stage_frame(&s, NULL));
  lc_overlay_set_visible(s.o, LC_OV_CARD, false);
  luma *f4 = stage_frame(&s, NULL);
  g_assert_cmpfloat(psnr(f4, ref, NULL, true, NULL), ==, 99.0);
  lc_overlay_set_visible(s.o, LC_OV_CARD, true);
  luma *f5 = stage_frame(&s, NULL);
  g_assert_cmpfloat(psnr(f5, f1, NULL, true, NULL), ==, 99.0);

  /* A frame someone else still holds (the decoder keeps its reference pictures) is never written:
   * the card goes into a copy, and the copies come from a pool, not one allocation per frame. */
  GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
  for (int i = 0; i < 6; i++) {
    GstBuffer *shared = gst_buffer_copy_deep(s.pattern);
    GST_BUFFER_PTS(shared) = gst_util_uint64_scale(s.pushed++, GST_SECOND, 30);
    g_assert_cmpint(gst_harness_push(s.h, gst_buffer_ref(shared)), ==, GST_FLOW_OK);
    GstBuffer *ob = gst_harness_pull(s.h);
    g_assert_true(ob != shared);
    luma *o = luma_from(ob, &s.info), *kept = luma_from(shared, &s.info);
    g_assert_cmpfloat(psnr(kept, ref, NULL, true, NULL), ==, 99.0); /* untouched */
    g_assert_cmpfloat(psnr(o, f1, NULL, true, NULL), ==, 99.0);     /* the card, same as in place */
    g_assert_cmpuint(GST_BUFFER_PTS(ob), ==, GST_BUFFER_PTS(shared));
    g_hash_table_add(seen, ob);
    luma_free(o);
    luma_free(kept);
    gst_buffer_unref(ob);
    gst_buffer_unref(shared);
  }
  g_test_message("6 shared frames blended into %u pool buffers", g_hash_table_size(seen));
  g_assert_cmpuint(g_hash_table_size(seen), <=, 2);
  g_hash_table_unref(seen);

  /* New caps mid-stream (same size, another matrix): the card is drawn again at once, in the
   * new colours, still only inside its rectangle. */
  char *caps709 = g_strdup_printf("video/x-raw,format=I420,width=%d,height=%d,framerate=30/1,colorimetry=bt709",
                                  ST_W, ST_H);
  gst_harness_set_src_caps_str(s.h, caps709);
  g_free(caps709);
  luma *f6 = stage_frame(&s, NULL);
  g_assert_cmpfloat(psnr(f6, ref, exact, true, NULL), <, 20.0);
  g_assert_cmpfloat(psnr(f6, ref, exact, false, NULL), ==, 99.0);
  g_assert_cmpfloat(psnr(f6, f1, exact, true, NULL), <, 99.0); /* BT.709: other Y values */
  luma_free(f6);

  g_array_unref(exact);
  g_array_unref(rects);
  luma_free(f0);
  luma_free(f1);
  luma_free(f2);
  luma_free(f3);
  luma_free(f4);
  luma_free(f5);
  luma_free(ref);
  stage_clear(&s);
}

/* Waits for the wall clock itself to be past the end of second sec (ms since the epoch / 1000):
 * the thing waited for is the time, so this is a wait with nothing to race against. */
static void
wait_wall_second_after(int64_t sec)
{
  for (;;) {
    int64_t now_us = g_get_real_time();
    int64_t target_us = (sec + 1) * G_USEC_PER_SEC + 20000; /* 20 ms into the next second */
    if (now_us >= target_us)
      return;
    g_usleep((gulong)(target_us - now_us));
  }
}

/* One stage frame drawn entirely within one wall-clock second: its second and its flash region. */
static luma *
frame_in_second(stage *s, int64_t *sec)
{
  for (int tries = 0; tries < 20; tries++) {
    int64_t t0 = g_get_real_time() / 1000;
    luma *l = stage_frame(s, NULL);
    int64_t t1 = g_get_real_time() / 1000;
    if (t0 / 1000 == t1 / 1000 && t0 % 1000 != 0) {
      *sec = t0 / 1000;
      return l;
    }
    luma_free(l); /* straddled a second boundary: take another */
  }
  g_error("no frame within one wall-clock second in 20 tries");
}

/* The countdown (mm:ss on the wall clock) changes the flash image once a second: two frames in
 * the same second are equal in the flash region, frames in consecutive seconds differ. */
static void
test_stage_countdown(void)
{
  stage s;
  stage_init(&s);
  int64_t now_ms = g_get_real_time() / 1000;
  /* Ends on a whole second, so the shown seconds turn over with the wall clock's. */
  lc_overlay_flash fl = {.title = "保温杯", .price = "¥49", .ends_at_ms = (now_ms / 1000 + 120) * 1000,
                         .stock_left = 23, .stock_total = 50};
  lc_overlay_set_flash(s.o, &fl);
  GArray *rects = rects_now(s.o, ST_W, ST_H);
  g_assert_cmpuint(rects->len, ==, 1);
  g_assert_cmpint(g_array_index(rects, lc_overlay_rect, 0).element, ==, LC_OV_FLASH);
  GArray *flash = boxes_of(rects, 1.0, 0);

  int64_t sec_a, sec_a2, sec_b;
  luma *a = frame_in_second(&s, &sec_a);
  luma *a2 = frame_in_second(&s, &sec_a2);
  if (sec_a2 != sec_a) { /* the second turned over in between: start again from the new one */
    luma_free(a);
    a = a2;
    sec_a = sec_a2;
    a2 = frame_in_second(&s, &sec_a2);
  }
  wait_wall_second_after(sec_a2);
  luma *b = frame_in_second(&s, &sec_b);
  g_test_message("seconds %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT, sec_a, sec_a2, sec_b);
  g_assert_cmpint(sec_b, >, sec_a2);
  if (sec_a2 == sec_a)
    g_assert_cmpfloat(psnr(a, a2, flash, true, NULL), ==, 99.0); /* same second: same image */
  double d = psnr(a2, b, flash, true, NULL);
  g_test_message("flash region, consecutive seconds: %.1f dB", d);
  g_assert_cmpfloat(d, <, 99.0); /* the countdown moved */
  g_assert_cmpfloat(psnr(a2, b, flash, false, NULL), ==, 99.0);

  g_array_unref(flash);
  g_array_unref(rects);
  luma_free(a);
  luma_free(a2);
  luma_free(b);
  stage_clear(&s);
}

/* ---------------------------------------------------------------------------------------------- */
/* The whole ladder */

#define SRC_W 640
#define SRC_H 360
#define FRAMES 60
#define CARD_AT 30 /* the card is set once frames 0..CARD_AT-1 are out */
#define PACE_LEAD 2

/* A static picture (videotestsrc "colors": every pixel different, no noise), H.264 without
 * B-frames (so the "source" rung exists) + AAC. */
static material *
make_material(void)
{
  return make_es_material("colors", SRC_W, SRC_H, "tune=zerolatency bitrate=2500", FRAMES);
}

/* A rendition's packets; its access units by RTP timestamp. */
typedef struct {
  lc_rendition *r;
  unsigned id;
  GMutex *lock; /* the run's */
  GCond *cond;
  GPtrArray *pkts;
  bool have_ts0;
  uint32_t ts0;       /* RTP timestamp of the first access unit (source frame 0) */
  int last_index;     /* source frame index of the latest complete access unit */
} tap;

typedef struct {
  lc_media_room *room;
  GMutex lock;
  GCond cond;
  GHashTable *taps; /* name -> tap */
  int errors;
} run;

static int
frame_index(tap *t, uint32_t ts)
{
  return (int)lround((double)(uint32_t)(ts - t->ts0) / 3000.0); /* 90 kHz, 30 fps */
}

static void
tap_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  tap *t = user;
  g_mutex_lock(t->lock);
  if (!t->have_ts0) {
    t->have_ts0 = true;
    t->ts0 = pkt->ts;
  }
  g_ptr_array_add(t->pkts, lc_pkt_ref(pkt));
  if (pkt->marker)
    t->last_index = frame_index(t, pkt->ts);
  g_cond_broadcast(t->cond);
  g_mutex_unlock(t->lock);
}

static void
tap_free(gpointer p)
{
  tap *t = p;
  lc_rendition_unsubscribe(t->r, t->id);
  lc_rendition_unref(t->r);
  g_ptr_array_unref(t->pkts);
  g_free(t);
}

static void
run_init(run *u, lc_media_room *room)
{
  memset(u, 0, sizeof(*u));
  u->room = room;
  g_mutex_init(&u->lock);
  g_cond_init(&u->cond);
  u->taps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, tap_free);
}

static void
run_clear(run *u)
{
  g_hash_table_unref(u->taps);
  g_mutex_clear(&u->lock);
  g_cond_clear(&u->cond);
}

/* Subscribes to video renditions as they appear (from their start: nothing has been produced
 * before a rendition is in the room... except what a subscription made later would miss, so this
 * runs before every push). */
static void
run_poll(run *u)
{
  for (unsigned i = 0; i < lc_media_room_n_video(u->room); i++) {
    lc_rendition *r = lc_media_room_video(u->room, i);
    lc_rendition_info info;
    lc_rendition_get_info(r, &info);
    if (g_hash_table_contains(u->taps, info.name))
      continue;
    tap *t = g_new0(tap, 1);
    t->r = lc_rendition_ref(r);
    t->lock = &u->lock;
    t->cond = &u->cond;
    t->pkts = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
    t->last_index = -1;
    GPtrArray *backlog = NULL;
    t->id = lc_rendition_subscribe_from_keyframe(r, tap_sink, t, &backlog);
    g_mutex_lock(&u->lock);
    if (backlog) { /* older than anything the sink got: goes first */
      for (guint j = 0; j < backlog->len; j++)
        g_ptr_array_insert(t->pkts, (gint)j, lc_pkt_ref(g_ptr_array_index(backlog, j)));
      g_ptr_array_unref(backlog);
      if (t->pkts->len) {
        lc_pkt *first = g_ptr_array_index(t->pkts, 0);
        t->have_ts0 = true;
        t->ts0 = first->ts;
        for (guint j = 0; j < t->pkts->len; j++) {
          lc_pkt *p = g_ptr_array_index(t->pkts, j);
          if (p->marker)
            t->last_index = frame_index(t, p->ts);
        }
      }
    }
    g_mutex_unlock(&u->lock);
    g_hash_table_insert(u->taps, g_strdup(info.name), t);
  }
}

static int
last_index(run *u, const char *name)
{
  tap *t = g_hash_table_lookup(u->taps, name);
  if (!t)
    return -1;
  g_mutex_lock(&u->lock);
  int i = t->last_index;
  g_mutex_unlock(&u->lock);
  return i;
}

/* Runs the main context (bus watch) and subscribes to new renditions until every named rung's
 * output reached source frame `index`; false at the deadline. Woken by every packet; renditions
 * appearing have no wake-up, so it looks again every 10 ms. */
static bool
wait_index(run *u, const char *const *names, int index)
{
  int64_t deadline = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;
  for (;;) {
    while (g_main_context_iteration(NULL, FALSE))
      ;
    run_poll(u);
    bool all = true;
    for (const char *const *n = names; *n; n++)
      all = all && last_index(u, *n) >= index;
    if (all)
      return true;
    int64_t now = g_get_monotonic_time();
    if (now >= deadline)
      return false;
    g_mutex_lock(&u->lock);
    g_cond_wait_until(&u->cond, &u->lock, MIN(now + 10 * G_TIME_SPAN_MILLISECOND, deadline));
    g_mutex_unlock(&u->lock);
  }
}

static void
on_error(lc_ladder *l, const char *message, gpointer user)
{
  g_test_message("ladder error: %s", message);
  ((run *)user)->errors++;
}

static const char *const rungs[] = {"360p", "180p", NULL};

/* Pushes frames [from, to) (and their audio), each once the rungs are within PACE_LEAD frames. */
static void
push_frames(lc_ladder *l, run *u, material *m, guint from, guint to, guint *ai)
{
  for (guint i = from; i < to; i++) {
    if (i >= PACE_LEAD && !wait_index(u, rungs, (int)i - PACE_LEAD))
      g_error("frame %u: the rungs are stuck at %d/%d", i, last_index(u, "360p"), last_index(u, "180p"));
    es_au *v = &g_array_index(m->video, es_au, i);
    gsize n;
    const uint8_t *d = g_bytes_get_data(v->data, &n);
    int rc = lc_ladder_push_video(l, d, n, 1000 + v->dts_ms, 0, v->key);
    g_assert_true(rc == 0 || rc == LC_ELIMIT);
    for (; *ai < m->audio->len && g_array_index(m->audio, es_au, *ai).dts_ms <= v->dts_ms; (*ai)++) {
      es_au *a = &g_array_index(m->audio, es_au, *ai);
      d = g_bytes_get_data(a->data, &n);
      lc_ladder_push_audio(l, d, n, 1000 + a->dts_ms);
    }
  }
}

/* Decodes a tap's packets: decoded luma by source frame index (NULL where no frame). strict: the
 * tap starts on a keyframe, so every access unit decodes to one frame and the indexes line up;
 * otherwise (the "source" rendition starts wherever the passthrough decision fell, maybe
 * before its keyframe) only *last gets the last frame decoded. */
static GPtrArray *
decode_tap(run *u, const char *name, bool strict, luma **last)
{
  tap *t = g_hash_table_lookup(u->taps, name);
  g_assert_nonnull(t);
  GError *e = NULL;
  GstElement *p = gst_parse_launch(
      "appsrc name=src format=time "
      "caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96 ! rtph264depay "
      "! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
      &e);
  g_assert_no_error(e);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src"), *sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  gst_element_set_state(p, GST_STATE_PLAYING);
  GArray *order = g_array_new(FALSE, FALSE, sizeof(int)); /* source index of each access unit */
  g_mutex_lock(&u->lock);
  for (guint i = 0; i < t->pkts->len; i++) {
    lc_pkt *pkt = g_ptr_array_index(t->pkts, i);
    gst_app_src_push_buffer(GST_APP_SRC(src), gst_buffer_new_memdup(pkt->data, pkt->len));
    if (pkt->marker) {
      int idx = frame_index(t, pkt->ts);
      g_array_append_val(order, idx);
    }
  }
  g_mutex_unlock(&u->lock);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  GPtrArray *out = g_ptr_array_new_with_free_func(luma_free);
  g_ptr_array_set_size(out, FRAMES);
  guint k = 0;
  GstSample *s;
  while ((s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND))) {
    GstVideoInfo info;
    g_assert_true(gst_video_info_from_caps(&info, gst_sample_get_caps(s)));
    if (strict && k < order->len) {
      int idx = g_array_index(order, int, k);
      if (idx >= 0 && idx < FRAMES && !g_ptr_array_index(out, idx))
        g_ptr_array_index(out, idx) = luma_from(gst_sample_get_buffer(s), &info);
    } else if (!strict && last) {
      luma_free(*last);
      *last = luma_from(gst_sample_get_buffer(s), &info);
    }
    k++;
    gst_sample_unref(s);
  }
  g_test_message("%s: %u access units, %u frames decoded", name, order->len, k);
  if (strict)
    g_assert_cmpuint(k, ==, order->len); /* one frame per access unit: the indexes line up */
  else
    g_assert_cmpuint(k, >, 0);
  g_array_unref(order);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(p);
  return out;
}

typedef struct {
  lc_overlay *o; /* or NULL */
  int calls;
} ov_source;

static lc_overlay *
overlay_for(const char *room_id, gpointer user)
{
  ov_source *src = user;
  src->calls++;
  return src->o; /* borrowed */
}

static lc_ladder_config
config(ov_source *src)
{
  lc_ladder_config cfg = {0};
  char *err = NULL;
  g_assert_cmpint(lc_ladder_parse_rungs("360p:640x360:3000,180p:320x180:1000", &cfg, &err), ==, 0);
  g_strlcpy(cfg.x264_preset, "ultrafast", sizeof(cfg.x264_preset));
  cfg.passthrough = true;
  cfg.cache_ms = 5000;
  if (src) {
    cfg.overlay_for = overlay_for;
    cfg.overlay_user = src;
  }
  return cfg;
}

typedef struct {
  GPtrArray *f360, *f180; /* decoded luma by source index */
  luma *src_last;         /* the "source" rendition's last decoded frame, or NULL */
  lc_ladder_stats st;
  bool had_source;
} result;

static void
result_clear(result *r)
{
  g_clear_pointer(&r->f360, g_ptr_array_unref);
  g_clear_pointer(&r->f180, g_ptr_array_unref);
  g_clear_pointer(&r->src_last, luma_free);
}

/* One ladder over the material; card_o (may be NULL) gets its card once frames 0..CARD_AT-1 are
 * out of both rungs. */
static void
run_ladder(lc_media_hub *hub, const char *room_id, material *m, ov_source *src, lc_overlay *card_o, result *res)
{
  memset(res, 0, sizeof(*res));
  lc_media_room *room = lc_media_hub_open(hub, room_id);
  run u;
  run_init(&u, room);
  lc_ladder_config cfg = config(src);
  char *err = NULL;
  lc_ladder *l = lc_ladder_new(room_id, room, LC_LADDER_INPUT_ES, &cfg, on_error, &u, &err);
  g_assert_null(err);
  g_assert_nonnull(l);
  gsize n;
  const uint8_t *d = g_bytes_get_data(m->avcc, &n);
  g_assert_cmpint(lc_ladder_set_video_config(l, d, n), ==, 0);
  d = g_bytes_get_data(m->asc, &n);
  g_assert_cmpint(lc_ladder_set_audio_config(l, d, n), ==, 0);
  guint ai = 0;
  push_frames(l, &u, m, 0, CARD_AT, &ai);
  if (!wait_index(&u, rungs, CARD_AT - 1))
    g_error("%s: frames before the card did not come out", room_id);
  if (card_o)
    set_card(card_o); /* every frame from CARD_AT on reaches the stage after this */
  push_frames(l, &u, m, CARD_AT, FRAMES, &ai);
  if (!wait_index(&u, rungs, FRAMES - 1))
    g_error("%s: the last frame did not come out", room_id);
  g_assert_cmpint(u.errors, ==, 0);
  lc_ladder_get_stats(l, &res->st);
  res->had_source = lc_media_room_find(room, "source") != NULL;
  res->f360 = decode_tap(&u, "360p", true, NULL);
  res->f180 = decode_tap(&u, "180p", true, NULL);
  if (g_hash_table_contains(u.taps, "source"))
    g_ptr_array_unref(decode_tap(&u, "source", false, &res->src_last));
  lc_ladder_free(l);
  run_clear(&u);
}

/* RTP H.264 of the same picture as make_material, as a WHIP publisher sends it: packets with
 * their keyframe flag (first packet of an IDR access unit), grouped per frame. */
typedef struct {
  GPtrArray *pkts; /* GBytes */
  GArray *frame_of; /* int: frame index of each packet */
  GArray *key;      /* gboolean: keyframe flag of each packet */
} rtp_material;

static rtp_material *
make_rtp_material(void)
{
  char *desc = g_strdup_printf(
      "videotestsrc num-buffers=%d pattern=colors ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 "
      "! x264enc speed-preset=superfast tune=zerolatency key-int-max=30 bitrate=2500 "
      "! rtph264pay config-interval=-1 pt=96 mtu=1200 ! appsink name=r sync=false wait-on-eos=false",
      FRAMES, SRC_W, SRC_H);
  GError *e = NULL;
  GstElement *p = gst_parse_launch(desc, &e);
  g_free(desc);
  g_assert_no_error(e);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull(msg);
  g_assert_cmpint(GST_MESSAGE_TYPE(msg), ==, GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);
  rtp_material *m = g_new0(rtp_material, 1);
  m->pkts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  m->frame_of = g_array_new(FALSE, FALSE, sizeof(int));
  m->key = g_array_new(FALSE, FALSE, sizeof(gboolean));
  GstElement *sink = gst_bin_get_by_name(GST_BIN(p), "r");
  GstSample *smp;
  int frame = 0;
  gboolean au_start = TRUE;
  while ((smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0))) {
    GstBuffer *b = gst_sample_get_buffer(smp);
    GBytes *bytes = buffer_bytes(b);
    gsize n;
    const guint8 *d = g_bytes_get_data(bytes, &n);
    gboolean key = au_start && !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
    g_ptr_array_add(m->pkts, bytes);
    g_array_append_val(m->frame_of, frame);
    g_array_append_val(m->key, key);
    au_start = n > 1 && (d[1] & 0x80); /* marker: the next packet starts a frame */
    if (au_start)
      frame++;
    gst_sample_unref(smp);
  }
  gst_object_unref(sink);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  g_assert_cmpint(frame, ==, FRAMES);
  return m;
}

static void
rtp_material_free(rtp_material *m)
{
  g_ptr_array_unref(m->pkts);
  g_array_unref(m->frame_of);
  g_array_unref(m->key);
  g_free(m);
}

/* A ladder on the RTP front-end (a WHIP publisher's rendition), card shown from the start. */
static void
run_rtp_ladder(lc_media_hub *hub, rtp_material *m, ov_source *src, result *res)
{
  memset(res, 0, sizeof(*res));
  lc_media_room *room = lc_media_hub_open(hub, "whip");
  run u;
  run_init(&u, room);
  lc_rendition_info info = {.kind = LC_MEDIA_VIDEO, .clock_rate = 90000, .payload_type = LC_MEDIA_PT_H264,
                            .width = SRC_W, .height = SRC_H};
  g_strlcpy(info.name, "whip-in", sizeof(info.name));
  lc_rendition *in = lc_rendition_new(&info, 5000); /* the publisher's; not in the room */
  lc_ladder_config cfg = config(src);
  char *err = NULL;
  lc_ladder *l = lc_ladder_new("whip", room, LC_LADDER_INPUT_RTP, &cfg, on_error, &u, &err);
  g_assert_null(err);
  g_assert_cmpint(lc_ladder_attach_rtp(l, in), ==, 0);
  for (guint i = 0; i < m->pkts->len; i++) {
    int frame = g_array_index(m->frame_of, int, i);
    if (frame >= PACE_LEAD && (i == 0 || g_array_index(m->frame_of, int, i - 1) != frame) &&
        !wait_index(&u, rungs, frame - PACE_LEAD))
      g_error("RTP frame %d: the rungs are stuck at %d/%d", frame, last_index(&u, "360p"), last_index(&u, "180p"));
    gsize n;
    const uint8_t *d = g_bytes_get_data(g_ptr_array_index(m->pkts, i), &n);
    lc_rendition_push_rtp(in, d, n, g_array_index(m->key, gboolean, i));
  }
  if (!wait_index(&u, rungs, FRAMES - 1))
    g_error("RTP: the last frame did not come out");
  g_assert_cmpint(u.errors, ==, 0);
  lc_ladder_get_stats(l, &res->st);
  res->had_source = lc_media_room_find(room, "source") != NULL;
  res->f360 = decode_tap(&u, "360p", true, NULL);
  res->f180 = decode_tap(&u, "180p", true, NULL);
  lc_ladder_free(l);
  run_clear(&u);
  lc_rendition_unref(in);
}

/* Frames at index i of both (skipped when a rung's queue dropped one of them). */
static bool
pair(GPtrArray *a, GPtrArray *b, int i, luma **x, luma **y)
{
  *x = g_ptr_array_index(a, i);
  *y = g_ptr_array_index(b, i);
  return *x && *y;
}

static void
test_ladder_card(void)
{
  material *m = make_material();
  lc_media_hub *hub = lc_media_hub_new();

  /* Off: no callback at all. */
  result off;
  run_ladder(hub, "off", m, NULL, NULL, &off);
  g_assert_true(off.had_source);
  g_assert_cmpuint(off.st.overlay_changes, ==, 0);
  g_assert_cmpuint(off.st.overlay_cpu_us, ==, 0);

  /* On: the room's overlay, empty until the card is set half-way. */
  ov_source src = {.o = new_overlay("on")};
  result on;
  run_ladder(hub, "on", m, &src, src.o, &on);
  g_assert_cmpint(src.calls, ==, 1);
  g_assert_true(on.had_source); /* passthrough allowed by default */

  GArray *rects = rects_now(src.o, SRC_W, SRC_H);
  g_assert_cmpuint(rects->len, ==, 1);
  GArray *card = boxes_of(rects, 1.0, 0), *card_wide = boxes_of(rects, 1.0, 12);
  GArray *card180 = boxes_of(rects, 0.5, 0), *card180_wide = boxes_of(rects, 0.5, 8);

  int compared_before = 0, compared_after = 0;
  for (int i = 0; i < FRAMES; i++) {
    luma *a, *b;
    if (!pair(on.f360, off.f360, i, &a, &b))
      continue;
    double inside = psnr(a, b, card, true, NULL), outside = psnr(a, b, card_wide, false, NULL);
    if (g_getenv("LC_TEST_VERBOSE") || i == CARD_AT - 1 || i == CARD_AT || i == FRAMES - 1)
      g_test_message("360p frame %d: card region %.1f dB, outside %.1f dB against the overlay-off run", i,
                     inside, outside);
    if (i < CARD_AT) {
      g_assert_cmpfloat(psnr(a, b, NULL, true, NULL), >, 35.0); /* no overlay yet: the same picture */
      compared_before++;
    } else {
      g_assert_cmpfloat(inside, <, 20.0); /* the card is there, from the first frame after the set */
      g_assert_cmpfloat(outside, >, 35.0); /* and nowhere else */
      compared_after++;
    }
  }
  g_assert_cmpint(compared_before, >, CARD_AT / 2);
  g_assert_cmpint(compared_after, >, (FRAMES - CARD_AT) / 2);
  /* Within one frame: the first frame the stage saw after the set carries the card. */
  luma *first, *ref;
  g_assert_true(pair(on.f360, off.f360, CARD_AT, &first, &ref));
  g_assert_cmpfloat(psnr(first, ref, card, true, NULL), <, 20.0);

  /* The 180p rung: the same layout, scaled. */
  luma *a, *b;
  g_assert_true(pair(on.f180, off.f180, FRAMES - 1, &a, &b));
  double in180 = psnr(a, b, card180, true, NULL), out180 = psnr(a, b, card180_wide, false, NULL);
  g_test_message("180p last frame: card region %.1f dB, outside %.1f dB", in180, out180);
  g_assert_cmpfloat(in180, <, 20.0);
  g_assert_cmpfloat(out180, >, 33.0);

  /* The passthrough rung is the publisher's picture: no card (its last frame against the clean
   * rung's, in the card region). */
  luma *s_last = on.src_last;
  g_assert_nonnull(s_last);
  luma *clean = NULL;
  for (int i = FRAMES - 1; i >= 0 && !clean; i--)
    clean = g_ptr_array_index(off.f360, i);
  double src_card = psnr(s_last, clean, card, true, NULL);
  g_test_message("source rendition, card region against the overlay-off rung: %.1f dB", src_card);
  g_assert_cmpfloat(src_card, >, 30.0);

  /* The stats saw the change drawn and leave on a rung. */
  g_test_message("overlay: %" G_GUINT64_FORMAT " change(s), drawn -> out %.1f ms, stage CPU %.1f ms",
                 on.st.overlay_changes, (on.st.overlay_out_us - on.st.overlay_drawn_us) / 1000.0,
                 on.st.overlay_cpu_us / 1000.0);
  g_assert_cmpuint(on.st.overlay_changes, ==, 1);
  g_assert_cmpuint(on.st.overlay_cpu_us, >, 0); /* the stage's own CPU time is accounted */
  g_assert_cmpint(on.st.overlay_drawn_us, >, 0);
  g_assert_cmpint(on.st.overlay_out_us, >=, on.st.overlay_drawn_us);

  /* A WHIP publisher (RTP front-end): its rungs carry the card too (set before it starts). */
  rtp_material *rm = make_rtp_material();
  ov_source whip = {.o = new_overlay("whip")};
  set_card(whip.o);
  result w;
  run_rtp_ladder(hub, rm, &whip, &w);
  g_assert_cmpint(whip.calls, ==, 1);
  g_assert_false(w.had_source); /* the publisher's own rendition is the passthrough */
  luma *wl = NULL, *ol = NULL;
  for (int i = FRAMES - 1; i >= 0 && !wl; i--)
    wl = g_ptr_array_index(w.f360, i);
  for (int i = FRAMES - 1; i >= 0 && !ol; i--)
    ol = g_ptr_array_index(off.f360, i);
  g_assert_nonnull(wl);
  g_assert_nonnull(ol);
  double w_in = psnr(wl, ol, card, true, NULL), w_out = psnr(wl, ol, card_wide, false, NULL);
  g_test_message("WHIP input, 360p last frame against the ES overlay-off run: card region %.1f dB, "
                 "outside %.1f dB", w_in, w_out);
  g_assert_cmpfloat(w_in, <, 20.0);
  g_assert_cmpfloat(w_out, >, 30.0); /* another encode of the same picture */
  g_assert_cmpuint(w.st.overlay_changes, >=, 1);
  result_clear(&w);
  lc_overlay_unref(whip.o);
  rtp_material_free(rm);

  g_array_unref(card);
  g_array_unref(card_wide);
  g_array_unref(card180);
  g_array_unref(card180_wide);
  g_array_unref(rects);
  result_clear(&on);
  result_clear(&off);
  lc_overlay_unref(src.o);

  /* The room's overlays forbid the passthrough rung: none, though the config enables it (the
   * 30-access-unit decision point is long past when the run ends). An overlay callback that
   * returns NULL is no overlay at all. */
  ov_source nopass = {.o = new_overlay("nopass")};
  json_error_t je;
  json_t *cfg = json_loads("{\"passthrough\": false}", 0, &je);
  char *err = NULL;
  g_assert_cmpint(lc_overlay_configure(nopass.o, cfg, &err), ==, 0);
  json_decref(cfg);
  g_assert_false(lc_overlay_passthrough_allowed(nopass.o));
  result np;
  run_ladder(hub, "nopass", m, &nopass, NULL, &np);
  g_assert_false(np.had_source);
  g_assert_null(np.src_last);
  result_clear(&np);
  lc_overlay_unref(nopass.o);

  ov_source none = {.o = NULL};
  result nn;
  run_ladder(hub, "none", m, &none, NULL, &nn);
  g_assert_cmpint(none.calls, ==, 1);
  g_assert_true(nn.had_source);
  g_assert_cmpuint(nn.st.overlay_changes, ==, 0);
  result_clear(&nn);

  lc_media_hub_free(hub);
  material_free(m);
}

/* No rung and an overlay that forbids the passthrough: nothing to produce, refused clearly. */
static void
test_nothing_to_produce(void)
{
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "empty");
  ov_source src = {.o = new_overlay("empty")};
  json_t *cfg = json_pack("{s:b}", "passthrough", 0);
  char *err = NULL;
  g_assert_cmpint(lc_overlay_configure(src.o, cfg, &err), ==, 0);
  json_decref(cfg);
  lc_ladder_config c = {.passthrough = true, .overlay_for = overlay_for, .overlay_user = &src};
  g_assert_null(lc_ladder_new("empty", room, LC_LADDER_INPUT_ES, &c, NULL, NULL, &err));
  g_assert_nonnull(err);
  g_test_message("%s", err);
  g_assert_nonnull(strstr(err, "passthrough"));
  g_free(err);
  lc_overlay_unref(src.o);
  lc_media_hub_free(hub);
}

int
main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ladder_overlay/stage_card", test_stage_card);
  g_test_add_func("/ladder_overlay/stage_countdown", test_stage_countdown);
  g_test_add_func("/ladder_overlay/ladder_card", test_ladder_card);
  g_test_add_func("/ladder_overlay/nothing_to_produce", test_nothing_to_produce);
  int rc = g_test_run();
  gst_deinit();
  return rc;
}

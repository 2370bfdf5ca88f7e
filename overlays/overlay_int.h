/* Shared between overlay.c (the scene) and render.c (the views); not part of the API.
 *
 * The scene keeps one lc__ov_elem per element: placement, language and content, plus a
 * generation that changes whenever anything the element draws from changes. A view keeps its
 * own copy of the same structs (lc__overlay_sync copies the elements whose generation moved,
 * under the scene's mutex) and renders from the copy without holding the lock. What depends on
 * the clock (countdown second, coupon expiry, ticker lines) is computed from the copy and now_ms
 * by the pure helpers below, so the scene never changes on its own. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "overlays/overlay.h"

#define LC__OV_DEFAULT_FONT "WenQuanYi Micro Hei, Noto Sans CJK SC"

typedef enum { LC__OV_LANG_ZH, LC__OV_LANG_EN } lc__ov_lang;

typedef enum {
  LC__OV_TOP_LEFT, LC__OV_TOP, LC__OV_TOP_RIGHT,
  LC__OV_LEFT, LC__OV_CENTER, LC__OV_RIGHT,
  LC__OV_BOTTOM_LEFT, LC__OV_BOTTOM, LC__OV_BOTTOM_RIGHT,
  LC__OV_N_ANCHORS
} lc__ov_anchor; /* row = a / 3 (0 top, 1 middle, 2 bottom), column = a % 3 */

typedef struct {
  bool visible;
  lc__ov_anchor anchor;
  double margin_x, margin_y; /* % of the frame width / height, 0..45 */
  double width;              /* % of the frame width, 5..100 */
} lc__ov_place;

/* Ticker lines: one new line at most every LC__OV_TICKER_GAP_MS, each shown
 * LC__OV_TICKER_SHOW_MS, so at most 3 are on screen; one more slot holds the pending line. */
#define LC__OV_TICKER_GAP_MS 2000
#define LC__OV_TICKER_SHOW_MS 5000
#define LC__OV_TICKER_SLOTS 4
#define LC__OV_TICKER_MAX_SHOWN 3

typedef struct {
  char *name;        /* masked already */
  int64_t quantity;
  int64_t shown_at;  /* wall clock ms when the line appears */
  guint64 seq;       /* 1, 2, ... in push order; 0: empty slot */
} lc__ov_ticker_line;

/* The gift burst's combo (LC_OV_GIFT). */
typedef struct {
  char *combo_id, *by, *name, *icon; /* by: masked; icon: an emoji or NULL */
  lc_overlay_gift_class gift_class;
  int64_t count, coins;
  int64_t at_ms; /* the combo's last gift: shown until at_ms + LC_OVERLAY_GIFT_SHOW_MS */
} lc__ov_gift;

/* The group-buy progress (LC_OV_GROUP); title and price are the element's own fields. */
typedef struct {
  int team_size;
  int seats; /* < 0: no team */
  int64_t deadline_ms, formed_until_ms;
} lc__ov_group;

/* Everything one element draws from. Each element uses its own subset of the content fields;
 * strings are owned (g_free), valid UTF-8 without control characters. */
typedef struct {
  guint64 gen;      /* changes with what the element draws (placement, language, content) */
  guint64 sync_gen; /* changes with gen and with what it does not draw yet (the ticker's
                     * pending line): views copy the element when this moves */
  lc__ov_place place;
  lc__ov_lang lang;
  bool has; /* content set (card, flash, coupon, logo, text); the ticker uses its lines */
  char *title, *price, *original_price; /* card; flash, group: title, price */
  char *image;                          /* card image, logo path */
  char *text;                           /* coupon text, free text */
  int64_t ends_at_ms, stock_left, stock_total; /* flash */
  bool sold_out;                               /* flash */
  int64_t until_ms;                            /* coupon */
  lc__ov_ticker_line ticker[LC__OV_TICKER_SLOTS]; /* oldest first */
  lc__ov_gift gift;                               /* gift */
  lc__ov_group group;                             /* group */
} lc__ov_elem;

/* A view's copy of the scene. */
typedef struct {
  guint64 version; /* the scene version this copy reflects (0: never synced) */
  lc__ov_elem el[LC_OV_N];
} lc__ov_snapshot;

/* Copies the elements whose sync_gen differs from snap's into snap, under o's mutex.
 * Returns true when anything was copied. Allocates only for the copied elements. */
bool lc__overlay_sync(lc_overlay *o, lc__ov_snapshot *snap);
void lc__ov_snapshot_clear(lc__ov_snapshot *snap);
/* The options the scene was made with (immutable; font never NULL, image_root may be). */
const char *lc__overlay_font(const lc_overlay *o);
const char *lc__overlay_image_root(const lc_overlay *o);
const char *lc__overlay_room(const lc_overlay *o);

/* Whether e is on screen at now_ms, and a key for what it shows then that is not in its
 * generation (flash: the countdown second or -1 when sold out; coupon: 1; ticker: the first
 * shown line's seq and the count). Pure. */
bool lc__ov_shown(lc_overlay_element e, const lc__ov_elem *el, int64_t now_ms, int64_t *time_key);
/* Whole seconds left of a flash sale at now_ms, rounded up, never negative. */
int64_t lc__ov_flash_seconds(const lc__ov_elem *el, int64_t now_ms);
/* Whole seconds left until ends_ms at now_ms, rounded up, never negative. */
int64_t lc__ov_seconds_until(int64_t ends_ms, int64_t now_ms);
/* "mm:ss", "h:mm:ss" from 1 h on (into buf). */
void lc__ov_clock_text(int64_t secs, char *buf, size_t size);
/* The group element at now_ms: the formed notice is on; the team's countdown (-1: no team). */
bool lc__ov_group_formed(const lc__ov_elem *el, int64_t now_ms);
int64_t lc__ov_group_seconds(const lc__ov_elem *el, int64_t now_ms);
/* The gift burst's line: "张** 送出 🌹 玫瑰" / "张** sent 🌹 Rose" without the count, the icon only
 * when with_icon (g_free); and the count "x7" (into buf). */
char *lc__ov_gift_text(lc__ov_lang lang, const lc__ov_gift *g, bool with_icon);
void lc__ov_gift_count_text(const lc__ov_gift *g, char *buf, size_t size);
/* Whether s is an emoji (and nothing else): symbols, their joiners, selectors, modifiers, keycaps
 * and tags, at most 8 characters. */
bool lc__ov_is_emoji(const char *s);
/* The ticker lines on screen at now_ms: index of the first in el->ticker and the count. */
void lc__ov_ticker_shown(const lc__ov_elem *el, int64_t now_ms, int *first, int *count);
/* "Lin** 刚刚买了 2 件" / "Lin** just bought 2" (g_free). */
char *lc__ov_ticker_text(lc__ov_lang lang, const lc__ov_ticker_line *line);
const char *lc__ov_anchor_name(lc__ov_anchor a);

/* For tests: glyphs the view's font list could not draw (tofu) since it was made. */
unsigned lc__overlay_view_unknown_glyphs(const lc_overlay_view *v);
/* For tests: waits until no image decoding is queued or running for v (up to timeout_us);
 * true when idle. The next update takes the results. */
bool lc__overlay_view_wait_images(lc_overlay_view *v, int64_t timeout_us);
/* For tests: how many elements the view has rendered since it was made. */
unsigned lc__overlay_view_renders(const lc_overlay_view *v);

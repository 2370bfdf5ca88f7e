/* Overlays: what the show burns into the video. A room's lc_overlay holds its *scene* (the
 * elements on screen: the pinned product card, the flash-sale banner, a coupon banner, the buyer
 * ticker, the creator's logo, a moderator's free text, a gift burst, the group-buy progress; their
 * content, visibility, placement, the room's language) and renders it with cairo + pango into premultiplied ARGB rectangles that
 * the ladder blends into every transcoded rung.
 *
 * It knows no commerce engine, store, websocket or wire format: server/app translates show
 * events into the setters below (prices arrive formatted, names raw). Word filtering of free
 * text is the caller's job (the ad-law list lives in commerce).
 *
 * Placement: each element has an anchor (one of "top-left", "top", "top-right", "left",
 * "center", "right", "bottom-left", "bottom", "bottom-right") and a margin in % of the frame
 * (x, y: 0..45), and a width in % of the frame width; sizes scale with the frame, so every rung
 * gets the same layout (render at the source size, the ladder scales it down with the picture).
 *
 * Configuration JSON (a room's "overlays" object; every field optional):
 *   {"lang": "zh-CN" | "en",
 *    "passthrough": true,          -- keep the clean "source" rung (default true); false: no
 *                                     passthrough rung, so every viewer sees the overlays
 *    "elements": {"card": {"visible": true, "anchor": "bottom-left", "margin": [3, 12], "width": 32},
 *                 "flash": {...}, "coupon": {...}, "ticker": {...}, "logo": {...}, "text": {...},
 *                 "gift": {...}, "group": {...}}}
 * Unknown fields, elements or anchors are errors naming the field ("elements.card.anchor: must be
 * one of top-left, ..."). Defaults: every element visible; card bottom-left, flash top-right,
 * coupon top-left, ticker left, logo top-left, text bottom, gift right, group bottom-right. A
 * configuration is whole: what it
 * leaves out takes the default (configure(NULL) restores every default), content is kept.
 *
 * Threads: everything here runs on the main thread except lc_overlay_view_* (one streaming thread
 * at a time per view, the ladder's) and lc_overlay_ref/unref (any thread). The scene is guarded
 * by a mutex; a view copies what it needs when the scene's version changed, and re-renders an
 * element only when its content changed (the countdown once a second, not once a frame). */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
  LC_OV_CARD,   /* "card": pinned product: image, title, price, struck original price, "讲解中" */
  LC_OV_FLASH,  /* "flash": flash sale: price, countdown mm:ss, stock bar "剩 23 件", SOLD OUT */
  LC_OV_COUPON, /* "coupon": coupon drop banner ("满 200 减 30") until it expires */
  LC_OV_TICKER, /* "ticker": "Lin** 刚刚买了 2 件" from acknowledged orders, rate-limited */
  LC_OV_LOGO,   /* "logo": the creator's logo / watermark image */
  LC_OV_TEXT,   /* "text": free text a moderator sets ("今晚 8 点返场") */
  LC_OV_GIFT,   /* "gift": a gift burst "张** 送出 玫瑰 x7" for 3 s after the combo's last gift */
  LC_OV_GROUP,  /* "group": group-buy progress "拼团 ¥49.00 · 2/3 · 08:12", "已成团" */
  LC_OV_N
} lc_overlay_element;

/* "card", "flash", ... ; NULL for an out-of-range value. */
const char *lc_overlay_element_name(lc_overlay_element e);
/* The element named `name`, or -1. */
int lc_overlay_element_from_name(const char *name);

/* Process-wide options (the [overlays] config section); strings copied. */
typedef struct {
  const char *font;       /* pango family list, e.g. "WenQuanYi Micro Hei, Noto Sans CJK SC" (NULL: that) */
  const char *image_root; /* every image path resolves inside it, a leading '/' included (catalog
                           * images are web paths: "/demo/img/x.svg"); a ".." component or a
                           * symlink leading out of it is refused (placeholder). NULL: paths
                           * are used as given (tests) */
  const char *room;       /* the room id on this overlay's log lines (NULL: none) */
} lc_overlay_options;

typedef struct lc_overlay lc_overlay;

/* A room's overlay with the default scene (nothing to show yet, every element visible). */
lc_overlay *lc_overlay_new(const lc_overlay_options *opt);
lc_overlay *lc_overlay_ref(lc_overlay *o);
void lc_overlay_unref(lc_overlay *o); /* NULL is fine */

/* Validates a configuration object (see above) without applying it: 0, or LC_EINVAL and *err
 * (g_free) naming the field. NULL cfg is valid (the defaults). */
int lc_overlay_config_check(const json_t *cfg, char **err);
/* Validates and applies a configuration (placement, visibility, language); content is kept.
 * 0 or LC_EINVAL + *err; on error nothing changes. */
int lc_overlay_configure(lc_overlay *o, const json_t *cfg, char **err);
/* False when the configuration asked for no passthrough rung. */
bool lc_overlay_passthrough_allowed(lc_overlay *o);

/* Moderator controls. set_visible cannot fail for a valid element. place: anchor name,
 * margins in % (0..45), width in % (5..100; <= 0 keeps the current width): LC_EINVAL + *err
 * naming what is wrong ("anchor: must be one of ...", "margin x: must be from 0 to 45"). */
void lc_overlay_set_visible(lc_overlay *o, lc_overlay_element e, bool visible);
int lc_overlay_place(lc_overlay *o, lc_overlay_element e, const char *anchor, double margin_x,
                     double margin_y, double width, char **err);

/* Content, from show events (strings borrowed, copied). NULL clears the element's content (it
 * disappears from the picture but stays "visible" in the configuration sense). */
typedef struct {
  const char *title;          /* "真空保温杯 600ml" (UTF-8, clipped to two lines when drawn) */
  const char *price;          /* formatted: "¥69.00" */
  const char *original_price; /* formatted, struck through; NULL or "" when not discounted */
  const char *image;          /* local file (PNG, JPEG via gdk-pixbuf, SVG via librsvg); a URL,
                               * a missing or corrupt file draws a placeholder (logged once) */
} lc_overlay_card;
void lc_overlay_set_card(lc_overlay *o, const lc_overlay_card *card);

typedef struct {
  const char *title;   /* product title, may be NULL */
  const char *price;   /* formatted flash price */
  int64_t ends_at_ms;  /* server wall clock (ms since the epoch); the countdown is ends_at - now */
  int64_t stock_left;  /* units left for the sale */
  int64_t stock_total; /* units the sale started with (> 0), for the stock bar */
  bool sold_out;       /* SOLD OUT / 已抢光 state */
} lc_overlay_flash;
void lc_overlay_set_flash(lc_overlay *o, const lc_overlay_flash *flash);

/* A coupon banner ("满 200 减 30" / "¥30 off orders over ¥200"), shown until until_ms (wall clock,
 * ms since the epoch). NULL text clears it. */
void lc_overlay_set_coupon(lc_overlay *o, const char *text, int64_t until_ms);

/* An acknowledged order for the buyer ticker: the name is masked here the way live-commerce apps
 * do ("Lin**", "王**"), at most one new line every 2 s is shown (later ones replace the pending
 * one), a line stays 5 s, so up to 3 lines show at once, newest last. quantity <= 0 is ignored,
 * above 999999 shown as 999999. now_ms: wall clock. */
void lc_overlay_ticker_push(lc_overlay *o, const char *buyer_name, int64_t quantity, int64_t now_ms);

/* The creator's logo (image file as for the card; NULL clears). */
void lc_overlay_set_logo(lc_overlay *o, const char *path);

/* Free text (UTF-8, 1..200 bytes, no control characters; NULL or "" clears). LC_EINVAL + *err
 * for text that is too long or not UTF-8. */
int lc_overlay_set_text(lc_overlay *o, const char *text, char **err);

/* A gift combo for the gift burst. The burst shows one combo, from its last gift for
 * LC_OVERLAY_GIFT_SHOW_MS; a push of the combo on screen updates it (count, value, time); another
 * combo takes its place unless the one on screen is still shown and worth more coins (so the
 * most valuable of the combos that changed stays, and a small gift does not cut a big one
 * short). Strings borrowed, copied and cleaned. */
#define LC_OVERLAY_GIFT_SHOW_MS 3000
typedef enum { LC_OVERLAY_GIFT_SMALL, LC_OVERLAY_GIFT_BIG, LC_OVERLAY_GIFT_FULLSCREEN } lc_overlay_gift_class;
typedef struct {
  const char *combo_id; /* what identifies the combo ("cb-4"); NULL: every push is a new one */
  const char *by;       /* the sender as the show masks it ("张**"); a name without '*' is masked here */
  const char *name;     /* the gift's name ("Rose", "玫瑰") */
  const char *icon;     /* the catalog's icon: kept only when it is an emoji (a URL or text is dropped);
                         * drawn before the name when the view's fonts have its glyphs */
  lc_overlay_gift_class gift_class; /* big and fullscreen draw bigger, inside the same box */
  int64_t count;        /* the combo's count ("x7"), 1..999999 (<= 0: ignored) */
  int64_t coins;        /* the combo's value in coins: the more valuable combo stays on screen */
  int64_t last_at_ms;   /* wall clock of the combo's last gift (0: now_ms; later than now_ms: now_ms) */
} lc_overlay_gift;
/* now_ms: wall clock. A combo whose last gift is LC_OVERLAY_GIFT_SHOW_MS or more before now_ms is
 * ignored. */
void lc_overlay_gift_push(lc_overlay *o, const lc_overlay_gift *gift, int64_t now_ms);
/* Takes the burst off the screen at once. */
void lc_overlay_gift_clear(lc_overlay *o);

/* Group-buy progress: one deal, and the team of it that changed last. NULL hides the element
 * (the deal closed). The time-dependent parts (countdown, the formed notice) are computed when
 * drawn, from the wall clock. */
#define LC_OVERLAY_GROUP_FORMED_MS 3000
typedef struct {
  const char *title;       /* the product, drawn small under the progress line; may be NULL */
  const char *price;       /* formatted group price: "¥49.00" */
  int team_size;           /* seats per team (clamped to 1..99) */
  int seats;               /* seats taken in the team shown; < 0: no team (the deal alone: "3 人团") */
  int64_t deadline_ms;     /* that team's deadline, wall clock: the countdown mm:ss; 0: none */
  int64_t formed_until_ms; /* a team just formed: "已成团" / "formed" (seats size/size) until then */
} lc_overlay_group;
void lc_overlay_set_group(lc_overlay *o, const lc_overlay_group *group);

/* The masked form of a buyer's name (g_free): first 3 characters of a Latin name + "**", first
 * character of a CJK name (or any wide script, emoji) + "**", never the whole name ("Bob" ->
 * "Bo**"); invisible and control characters skipped; "", blank, NULL or invalid UTF-8 -> "***". */
char *lc_overlay_mask_name(const char *name);

/* What is on screen now (transfer full):
 * {"lang", "passthrough", "version",
 *  "elements": {"card": {"visible", "shown", "anchor", "margin": [x, y], "width",
 *                         "content": {...} | null}, ...}}
 * — content as set, cleaned (valid UTF-8, control characters as spaces, bidi controls dropped,
 * long strings cut); "shown": on screen at now_ms (visible, has content, not expired); flash
 * content adds "seconds_left" at now_ms; ticker: {"lines": [...]} shown at now_ms (up to 3);
 * gift: {"combo_id", "by", "name", "icon", "class", "count", "coins", "until_ms"} (the last burst;
 * "shown" is false once until_ms passed);
 * group: {"title", "price", "team_size", "seats", "deadline_ms", "seconds_left", "formed"} with
 * seats, deadline_ms and seconds_left null without a team, "formed" true during the notice. */
json_t *lc_overlay_status(lc_overlay *o, int64_t now_ms);
/* Incremented by every change of the scene (a setter given what is already there changes
 * nothing). Time alone (countdown, coupon expiry, ticker lines, the gift burst's end, the group
 * countdown and formed notice) does not change it. */
guint64 lc_overlay_version(lc_overlay *o);

/* ---- rendering (the ladder's streaming thread) ---- */

typedef struct {
  lc_overlay_element element;
  int x, y, width, height; /* in frame pixels, inside the frame */
  int stride;              /* bytes per row */
  const uint8_t *pixels;   /* premultiplied ARGB, cairo's ARGB32 (native-endian 32-bit words) */
} lc_overlay_rect;

typedef struct lc_overlay_view lc_overlay_view;

/* A renderer of o for frames of width x height (takes a ref on o); NULL (logged) for a size
 * outside 16..8192. Loads the fonts (the process's first view: 50-130 ms of fontconfig, later
 * ones ~15 ms), so make it before frames flow (at caps), not per frame. Each view has its own
 * pango font map and image cache: one thread at a time per view. */
lc_overlay_view *lc_overlay_view_new(lc_overlay *o, int width, int height);
void lc_overlay_view_free(lc_overlay_view *v); /* NULL is fine */
/* Brings the view up to date for now_ms (wall clock, ms since the epoch). Returns true when the
 * rectangles changed since the previous call (or on the first call); *rects / *n are valid until
 * the next call or view_free. Renders only elements whose content, placement or shown time
 * changed; allocates nothing when nothing changed (measured: 0 allocator calls in 1000
 * unchanged updates, well under 1 us each).
 * Pixels (borrowed, owned by the view): one surface per element, redrawn IN PLACE when the
 * element's size did not change (the countdown every second), so copy them (or convert them)
 * when this returns true if they must outlive the next call, e.g. in a buffer travelling
 * downstream. Rects come in element order (card first, group last: draw in that order); hidden
 * elements and elements without content (or expired: coupon after until_ms, ticker lines after
 * 5 s, a gift burst after its 3 s) have none. A flash sale past ends_at shows 00:00 until the app
 * clears or updates it; so does a group team past its deadline.
 * Images decode on GLib's pool threads (a phone photo: 20-125 ms), never here: a new card shows
 * at once with an empty picture box and is redrawn by the first update after its picture is
 * ready; a logo appears then. Decoded images stay in the view's cache (16, per size). */
bool lc_overlay_view_update(lc_overlay_view *v, int64_t now_ms, const lc_overlay_rect **rects,
                            unsigned *n);

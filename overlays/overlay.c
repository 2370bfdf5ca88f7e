/* The overlay scene: configuration, placement, content, the buyer ticker, status. Pure (no
 * cairo): render.c draws from copies of the elements kept here (overlay_int.h).
 *
 * Every setter compares before it writes: an unchanged value bumps neither the scene version
 * nor the element's generation, so the app may re-send a whole state without making every
 * view re-render. */
#define LC_LOG_DOMAIN "overlay"
#include "overlays/overlay.h"

#include <math.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"
#include "overlays/overlay_int.h"

/* Content limits: longer strings are cut at a character boundary (set_text refuses instead,
 * since a moderator can fix what they typed). */
#define TITLE_MAX 256
#define PRICE_MAX 64
#define PATH_MAX_BYTES 4096
#define TEXT_MAX 200
#define NAME_MAX_BYTES 256
#define QUANTITY_MAX 999999
#define GIFT_ID_MAX 128
#define GIFT_NAME_MAX 128
#define GIFT_ICON_MAX 64
#define GROUP_SIZE_MAX 99

struct lc_overlay {
  gint refs; /* atomic */
  char *font, *image_root, *room; /* immutable after new */
  GMutex mu;
  /* mu guards everything below */
  guint64 version;
  bool passthrough;
  guint64 ticker_seq; /* last seq given to a ticker line */
  lc__ov_elem el[LC_OV_N];
};

static const char *const element_names[LC_OV_N] = {"card", "flash", "coupon", "ticker",
                                                   "logo", "text", "gift",   "group"};
static const char *const anchor_names[LC__OV_N_ANCHORS] = {
  "top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"};
#define ANCHOR_LIST "top-left, top, top-right, left, center, right, bottom-left, bottom, bottom-right"
#define ELEMENT_LIST "card, flash, coupon, ticker, logo, text, gift, group"
#define MARGIN_MAX 45.0
#define WIDTH_MIN 5.0
#define WIDTH_MAX 100.0

/* Defaults: the card low on the left above where a player's controls sit, the flash banner
 * opposite it, coupon under the logo, the ticker in the middle of the left edge, the gift burst
 * in the middle of the right edge (under the flash banner), the group-buy progress low on the
 * right, opposite the card and above the free text. Widths are % of the frame width, chosen on
 * 1280x720 and checked at 640x360. */
static const lc__ov_place default_place[LC_OV_N] = {
  [LC_OV_CARD] = {true, LC__OV_BOTTOM_LEFT, 3, 12, 32},
  [LC_OV_FLASH] = {true, LC__OV_TOP_RIGHT, 3, 5, 28},
  [LC_OV_COUPON] = {true, LC__OV_TOP_LEFT, 3, 22, 30},
  [LC_OV_TICKER] = {true, LC__OV_LEFT, 3, 0, 30},
  [LC_OV_LOGO] = {true, LC__OV_TOP_LEFT, 3, 5, 10},
  [LC_OV_TEXT] = {true, LC__OV_BOTTOM, 0, 4, 40},
  [LC_OV_GIFT] = {true, LC__OV_RIGHT, 3, 0, 34},
  [LC_OV_GROUP] = {true, LC__OV_BOTTOM_RIGHT, 3, 12, 30},
};

const char *
lc_overlay_element_name(lc_overlay_element e)
{
  return (unsigned)e < LC_OV_N ? element_names[e] : NULL;
}

int
lc_overlay_element_from_name(const char *name)
{
  for (int i = 0; name && i < LC_OV_N; i++)
    if (strcmp(name, element_names[i]) == 0)
      return i;
  return -1;
}

const char *
lc__ov_anchor_name(lc__ov_anchor a)
{
  return (unsigned)a < LC__OV_N_ANCHORS ? anchor_names[a] : NULL;
}

static int
anchor_from_name(const char *name)
{
  for (int i = 0; name && i < LC__OV_N_ANCHORS; i++)
    if (strcmp(name, anchor_names[i]) == 0)
      return i;
  return -1;
}

/* ---- strings from outside ---- */

static bool
is_control(gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

/* Bidi overrides and isolates: a title could otherwise draw "¥96" as "69¥". */
static bool
is_bidi_control(gunichar c)
{
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x061c;
}

/* A copy of s fit to draw: valid UTF-8, control characters as spaces, bidi controls dropped,
 * at most max bytes (cut at a character). NULL or "" gives NULL. */
static char *
clean_string(const char *s, size_t max)
{
  if (!s || !*s)
    return NULL;
  char *valid = g_utf8_make_valid(s, -1);
  GString *out = g_string_sized_new(MIN(strlen(valid), max) + 1);
  for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (is_bidi_control(c))
      continue;
    char buf[6];
    int n = is_control(c) ? (buf[0] = ' ', 1) : g_unichar_to_utf8(c, buf);
    if (out->len + (size_t)n > max)
      break;
    g_string_append_len(out, buf, n);
  }
  g_free(valid);
  if (out->len == 0) {
    g_string_free(out, TRUE);
    return NULL;
  }
  return g_string_free(out, FALSE);
}

/* Replaces *dst with src (owned) when they differ; true when it did. */
static bool
take_string(char **dst, char *src)
{
  if (g_strcmp0(*dst, src) == 0) {
    g_free(src);
    return false;
  }
  g_free(*dst);
  *dst = src;
  return true;
}

/* A key or value quoted in an error message: at most 40 characters, printable. */
static char *
quote_for_error(const char *s)
{
  char *c = clean_string(s, 120);
  if (!c)
    return g_strdup("");
  if (g_utf8_strlen(c, -1) > 40) {
    char *cut = g_utf8_substring(c, 0, 40);
    g_free(c);
    c = g_strconcat(cut, "...", NULL);
    g_free(cut);
  }
  return c;
}

/* ---- lifecycle ---- */

static void
elem_clear_content(lc__ov_elem *el)
{
  g_clear_pointer(&el->title, g_free);
  g_clear_pointer(&el->price, g_free);
  g_clear_pointer(&el->original_price, g_free);
  g_clear_pointer(&el->image, g_free);
  g_clear_pointer(&el->text, g_free);
  for (int i = 0; i < LC__OV_TICKER_SLOTS; i++)
    g_clear_pointer(&el->ticker[i].name, g_free);
  g_clear_pointer(&el->gift.combo_id, g_free);
  g_clear_pointer(&el->gift.by, g_free);
  g_clear_pointer(&el->gift.name, g_free);
  g_clear_pointer(&el->gift.icon, g_free);
  guint64 gen = el->gen, sync_gen = el->sync_gen;
  lc__ov_place place = el->place;
  lc__ov_lang lang = el->lang;
  memset(el, 0, sizeof *el);
  el->gen = gen;
  el->sync_gen = sync_gen;
  el->place = place;
  el->lang = lang;
}

lc_overlay *
lc_overlay_new(const lc_overlay_options *opt)
{
  lc_overlay *o = g_new0(lc_overlay, 1);
  o->refs = 1;
  o->font = g_strdup(opt && opt->font && *opt->font ? opt->font : LC__OV_DEFAULT_FONT);
  o->image_root = g_strdup(opt && opt->image_root && *opt->image_root ? opt->image_root : NULL);
  o->room = g_strdup(opt ? opt->room : NULL);
  g_mutex_init(&o->mu);
  o->version = 1;
  o->passthrough = true;
  for (int e = 0; e < LC_OV_N; e++) {
    o->el[e].gen = o->el[e].sync_gen = 1;
    o->el[e].place = default_place[e];
    o->el[e].lang = LC__OV_LANG_ZH;
  }
  return o;
}

lc_overlay *
lc_overlay_ref(lc_overlay *o)
{
  g_atomic_int_inc(&o->refs);
  return o;
}

void
lc_overlay_unref(lc_overlay *o)
{
  if (!o || !g_atomic_int_dec_and_test(&o->refs))
    return;
  for (int e = 0; e < LC_OV_N; e++)
    elem_clear_content(&o->el[e]);
  g_mutex_clear(&o->mu);
  g_free(o->font);
  g_free(o->image_root);
  g_free(o->room);
  g_free(o);
}

const char *
lc__overlay_font(const lc_overlay *o)
{
  return o->font;
}

const char *
lc__overlay_image_root(const lc_overlay *o)
{
  return o->image_root;
}

const char *
lc__overlay_room(const lc_overlay *o)
{
  return o->room;
}

/* Marks e changed; caller holds mu. */
static void
touch(lc_overlay *o, lc_overlay_element e)
{
  o->el[e].gen++;
  o->el[e].sync_gen++;
  o->version++;
}

/* ---- configuration ---- */

typedef struct {
  lc__ov_lang lang;
  bool passthrough;
  lc__ov_place place[LC_OV_N];
} parsed_config;

static bool
number_in(const json_t *v, double lo, double hi, double *out)
{
  if (!json_is_number(v))
    return false;
  double d = json_number_value(v);
  if (!(d >= lo && d <= hi)) /* also refuses NaN */
    return false;
  *out = d;
  return true;
}

static int
parse_element(const char *name, const json_t *obj, lc__ov_place *p, char **err)
{
  g_autofree char *where = g_strdup_printf("elements.%s", name);
  if (!json_is_object(obj)) {
    lc_error_set(err, where, "must be an object with visible, anchor, margin, width");
    return LC_EINVAL;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    g_autofree char *k = quote_for_error(key);
    g_autofree char *field = g_strdup_printf("%s.%s", where, k);
    if (strcmp(key, "visible") == 0) {
      if (!json_is_boolean(v)) {
        lc_error_set(err, field, "must be true or false");
        return LC_EINVAL;
      }
      p->visible = json_is_true(v);
    } else if (strcmp(key, "anchor") == 0) {
      int a = json_is_string(v) ? anchor_from_name(json_string_value(v)) : -1;
      if (a < 0) {
        lc_error_set(err, field, "must be one of " ANCHOR_LIST);
        return LC_EINVAL;
      }
      p->anchor = a;
    } else if (strcmp(key, "margin") == 0) {
      if (!json_is_array(v) || json_array_size(v) != 2 ||
          !number_in(json_array_get(v, 0), 0, MARGIN_MAX, &p->margin_x) ||
          !number_in(json_array_get(v, 1), 0, MARGIN_MAX, &p->margin_y)) {
        lc_error_set(err, field, "must be [x, y], numbers from 0 to 45 (%% of the frame)");
        return LC_EINVAL;
      }
    } else if (strcmp(key, "width") == 0) {
      if (!number_in(v, WIDTH_MIN, WIDTH_MAX, &p->width)) {
        lc_error_set(err, field, "must be a number from 5 to 100 (%% of the frame width)");
        return LC_EINVAL;
      }
    } else {
      lc_error_set(err, field, "unknown field (visible, anchor, margin, width)");
      return LC_EINVAL;
    }
  }
  return 0;
}

static int
parse_config(const json_t *cfg, parsed_config *out, char **err)
{
  out->lang = LC__OV_LANG_ZH;
  out->passthrough = true;
  memcpy(out->place, default_place, sizeof out->place);
  if (!cfg || json_is_null(cfg))
    return 0;
  if (!json_is_object(cfg)) {
    lc_error_set(err, "overlays", "must be an object");
    return LC_EINVAL;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)cfg, key, v) {
    if (strcmp(key, "lang") == 0) {
      const char *s = json_string_value(v);
      if (s && strcmp(s, "zh-CN") == 0) {
        out->lang = LC__OV_LANG_ZH;
      } else if (s && strcmp(s, "en") == 0) {
        out->lang = LC__OV_LANG_EN;
      } else {
        lc_error_set(err, "lang", "must be \"zh-CN\" or \"en\"");
        return LC_EINVAL;
      }
    } else if (strcmp(key, "passthrough") == 0) {
      if (!json_is_boolean(v)) {
        lc_error_set(err, "passthrough", "must be true or false");
        return LC_EINVAL;
      }
      out->passthrough = json_is_true(v);
    } else if (strcmp(key, "elements") == 0) {
      if (!json_is_object(v)) {
        lc_error_set(err, "elements", "must be an object keyed by element (" ELEMENT_LIST ")");
        return LC_EINVAL;
      }
      const char *name;
      json_t *ev;
      json_object_foreach(v, name, ev) {
        int e = lc_overlay_element_from_name(name);
        if (e < 0) {
          g_autofree char *n = quote_for_error(name);
          g_autofree char *where = g_strdup_printf("elements.%s", n);
          lc_error_set(err, where, "unknown element (" ELEMENT_LIST ")");
          return LC_EINVAL;
        }
        int rc = parse_element(name, ev, &out->place[e], err);
        if (rc)
          return rc;
      }
    } else {
      g_autofree char *k = quote_for_error(key);
      lc_error_set(err, k, "unknown field (lang, passthrough, elements)");
      return LC_EINVAL;
    }
  }
  return 0;
}

int
lc_overlay_config_check(const json_t *cfg, char **err)
{
  parsed_config pc;
  return parse_config(cfg, &pc, err);
}

static bool
place_equal(const lc__ov_place *a, const lc__ov_place *b)
{
  return a->visible == b->visible && a->anchor == b->anchor && a->margin_x == b->margin_x &&
         a->margin_y == b->margin_y && a->width == b->width;
}

int
lc_overlay_configure(lc_overlay *o, const json_t *cfg, char **err)
{
  parsed_config pc;
  int rc = parse_config(cfg, &pc, err);
  if (rc)
    return rc;
  g_mutex_lock(&o->mu);
  if (o->passthrough != pc.passthrough) {
    o->passthrough = pc.passthrough;
    o->version++;
  }
  for (int e = 0; e < LC_OV_N; e++) {
    lc__ov_elem *el = &o->el[e];
    if (place_equal(&el->place, &pc.place[e]) && el->lang == pc.lang)
      continue;
    el->place = pc.place[e];
    el->lang = pc.lang;
    touch(o, e);
  }
  g_mutex_unlock(&o->mu);
  return 0;
}

bool
lc_overlay_passthrough_allowed(lc_overlay *o)
{
  g_mutex_lock(&o->mu);
  bool p = o->passthrough;
  g_mutex_unlock(&o->mu);
  return p;
}

void
lc_overlay_set_visible(lc_overlay *o, lc_overlay_element e, bool visible)
{
  if ((unsigned)e >= LC_OV_N)
    return;
  g_mutex_lock(&o->mu);
  if (o->el[e].place.visible != visible) {
    o->el[e].place.visible = visible;
    touch(o, e);
  }
  g_mutex_unlock(&o->mu);
}

int
lc_overlay_place(lc_overlay *o, lc_overlay_element e, const char *anchor, double margin_x,
                 double margin_y, double width, char **err)
{
  if ((unsigned)e >= LC_OV_N) {
    lc_error_set(err, "element", "must be one of " ELEMENT_LIST);
    return LC_EINVAL;
  }
  int a = anchor_from_name(anchor);
  if (a < 0) {
    lc_error_set(err, "anchor", "must be one of " ANCHOR_LIST);
    return LC_EINVAL;
  }
  if (!(margin_x >= 0 && margin_x <= MARGIN_MAX)) {
    lc_error_set(err, "margin x", "must be from 0 to 45 (%% of the frame width)");
    return LC_EINVAL;
  }
  if (!(margin_y >= 0 && margin_y <= MARGIN_MAX)) {
    lc_error_set(err, "margin y", "must be from 0 to 45 (%% of the frame height)");
    return LC_EINVAL;
  }
  if (isnan(width) || (width > 0 && !(width >= WIDTH_MIN && width <= WIDTH_MAX))) {
    lc_error_set(err, "width", "must be from 5 to 100 (%% of the frame width), or 0 to keep it");
    return LC_EINVAL;
  }
  g_mutex_lock(&o->mu);
  lc__ov_place p = o->el[e].place;
  p.anchor = a;
  p.margin_x = margin_x;
  p.margin_y = margin_y;
  if (width > 0)
    p.width = width;
  if (!place_equal(&p, &o->el[e].place)) {
    o->el[e].place = p;
    touch(o, e);
  }
  g_mutex_unlock(&o->mu);
  return 0;
}

/* ---- content ---- */

void
lc_overlay_set_card(lc_overlay *o, const lc_overlay_card *card)
{
  char *title = card ? clean_string(card->title, TITLE_MAX) : NULL;
  char *price = card ? clean_string(card->price, PRICE_MAX) : NULL;
  char *orig = card ? clean_string(card->original_price, PRICE_MAX) : NULL;
  char *image = card ? clean_string(card->image, PATH_MAX_BYTES) : NULL;
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_CARD];
  bool changed = el->has != (card != NULL);
  el->has = card != NULL;
  changed |= take_string(&el->title, title);
  changed |= take_string(&el->price, price);
  changed |= take_string(&el->original_price, orig);
  changed |= take_string(&el->image, image);
  if (changed)
    touch(o, LC_OV_CARD);
  g_mutex_unlock(&o->mu);
}

void
lc_overlay_set_flash(lc_overlay *o, const lc_overlay_flash *f)
{
  char *title = f ? clean_string(f->title, TITLE_MAX) : NULL;
  char *price = f ? clean_string(f->price, PRICE_MAX) : NULL;
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_FLASH];
  bool changed = el->has != (f != NULL);
  el->has = f != NULL;
  changed |= take_string(&el->title, title);
  changed |= take_string(&el->price, price);
  int64_t ends = f ? f->ends_at_ms : 0;
  int64_t total = f ? MAX(f->stock_total, 0) : 0;
  int64_t left = f ? CLAMP(f->stock_left, 0, MAX(total, f->stock_left)) : 0;
  bool sold_out = f ? f->sold_out : false;
  if (el->ends_at_ms != ends || el->stock_left != left || el->stock_total != total || el->sold_out != sold_out) {
    el->ends_at_ms = ends;
    el->stock_left = left;
    el->stock_total = total;
    el->sold_out = sold_out;
    changed = true;
  }
  if (changed)
    touch(o, LC_OV_FLASH);
  g_mutex_unlock(&o->mu);
}

void
lc_overlay_set_coupon(lc_overlay *o, const char *text, int64_t until_ms)
{
  char *t = clean_string(text, TEXT_MAX);
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_COUPON];
  bool has = t != NULL;
  if (!has)
    until_ms = 0;
  bool changed = take_string(&el->text, t) | (el->has != has) | (el->until_ms != until_ms);
  el->has = has;
  el->until_ms = until_ms;
  if (changed)
    touch(o, LC_OV_COUPON);
  g_mutex_unlock(&o->mu);
}

void
lc_overlay_set_logo(lc_overlay *o, const char *path)
{
  char *p = clean_string(path, PATH_MAX_BYTES);
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_LOGO];
  bool changed = take_string(&el->image, p) | (el->has != (el->image != NULL));
  el->has = el->image != NULL;
  if (changed)
    touch(o, LC_OV_LOGO);
  g_mutex_unlock(&o->mu);
}

int
lc_overlay_set_text(lc_overlay *o, const char *text, char **err)
{
  char *t = NULL;
  if (text && *text) {
    size_t n = strlen(text);
    if (n > TEXT_MAX) {
      lc_error_set(err, "text", "at most 200 bytes (%zu given)", n);
      return LC_EINVAL;
    }
    if (!g_utf8_validate(text, -1, NULL)) {
      lc_error_set(err, "text", "must be valid UTF-8");
      return LC_EINVAL;
    }
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
      gunichar c = g_utf8_get_char(p);
      if (is_control(c) || is_bidi_control(c)) {
        lc_error_set(err, "text", "must not contain control characters or line breaks (U+%04X)", c);
        return LC_EINVAL;
      }
    }
    t = g_strdup(text);
  }
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_TEXT];
  bool changed = take_string(&el->text, t) | (el->has != (el->text != NULL));
  el->has = el->text != NULL;
  if (changed)
    touch(o, LC_OV_TEXT);
  g_mutex_unlock(&o->mu);
  return 0;
}

/* ---- gift burst ---- */

/* Emoji sequences are symbols (So, and Sk for the skin tones) held together by ZWJ, variation
 * selectors, the keycap mark and tag characters; a letter, digit, space or ASCII anything is
 * not an emoji (a URL, "rose.png", a name), nor is U+FFFD (what invalid UTF-8 became). */
bool
lc__ov_is_emoji(const char *s)
{
  if (!s || !*s || !g_utf8_validate(s, -1, NULL))
    return false;
  int n = 0;
  bool symbol = false;
  for (const char *p = s; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (++n > 8)
      return false;
    if (c == 0x200d || (c >= 0xfe00 && c <= 0xfe0f) || c == 0x20e3 || (c >= 0xe0020 && c <= 0xe007f))
      continue;
    GUnicodeType t = g_unichar_type(c);
    if (c < 0x80 || c == 0xfffd || (t != G_UNICODE_OTHER_SYMBOL && t != G_UNICODE_MODIFIER_SYMBOL))
      return false;
    symbol = true;
  }
  return symbol;
}

/* The sender as drawn: the show masks names already ("张**"); one that comes without a '*' is
 * masked here, so the picture never carries a whole name. */
static char *
gift_sender(const char *by)
{
  char *bounded = g_strndup(by ? by : "", NAME_MAX_BYTES);
  char *c = clean_string(bounded, NAME_MAX_BYTES);
  g_free(bounded);
  if (c && strchr(c, '*'))
    return c;
  char *masked = lc_overlay_mask_name(c);
  g_free(c);
  return masked;
}

void
lc_overlay_gift_push(lc_overlay *o, const lc_overlay_gift *g, int64_t now_ms)
{
  if (!g || g->count <= 0)
    return;
  int64_t at = g->last_at_ms > 0 ? MIN(g->last_at_ms, now_ms) : now_ms;
  if (now_ms - at >= LC_OVERLAY_GIFT_SHOW_MS)
    return; /* over before it reached us */
  char *id = clean_string(g->combo_id, GIFT_ID_MAX);
  char *by = gift_sender(g->by);
  char *name = clean_string(g->name, GIFT_NAME_MAX);
  char *icon = clean_string(g->icon, GIFT_ICON_MAX);
  if (icon && !lc__ov_is_emoji(icon))
    g_clear_pointer(&icon, g_free);
  lc_overlay_gift_class cls = (unsigned)g->gift_class <= LC_OVERLAY_GIFT_FULLSCREEN ? g->gift_class
                                                                                     : LC_OVERLAY_GIFT_SMALL;
  int64_t count = MIN(g->count, QUANTITY_MAX), coins = MAX(g->coins, 0);
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_GIFT];
  lc__ov_gift *cur = &el->gift;
  bool same = el->has && id && cur->combo_id && strcmp(id, cur->combo_id) == 0;
  bool on_screen = el->has && now_ms - cur->at_ms < LC_OVERLAY_GIFT_SHOW_MS;
  if (!same && on_screen && cur->coins > coins) {
    /* a more valuable burst is on screen: it stays its 3 s */
    g_mutex_unlock(&o->mu);
    g_free(id);
    g_free(by);
    g_free(name);
    g_free(icon);
    return;
  }
  if (same)
    at = MAX(at, cur->at_ms);
  bool changed = !el->has;
  el->has = true;
  changed |= take_string(&cur->combo_id, id);
  changed |= take_string(&cur->by, by);
  changed |= take_string(&cur->name, name);
  changed |= take_string(&cur->icon, icon);
  if (cur->gift_class != cls || cur->count != count || cur->coins != coins || cur->at_ms != at) {
    cur->gift_class = cls;
    cur->count = count;
    cur->coins = coins;
    cur->at_ms = at;
    changed = true;
  }
  if (changed)
    touch(o, LC_OV_GIFT);
  g_mutex_unlock(&o->mu);
}

void
lc_overlay_gift_clear(lc_overlay *o)
{
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_GIFT];
  if (el->has) {
    elem_clear_content(el);
    touch(o, LC_OV_GIFT);
  }
  g_mutex_unlock(&o->mu);
}

char *
lc__ov_gift_text(lc__ov_lang lang, const lc__ov_gift *g, bool with_icon)
{
  bool en = lang == LC__OV_LANG_EN;
  const char *name = g->name ? g->name : en ? "a gift" : "礼物";
  bool icon = with_icon && g->icon;
  return g_strdup_printf(en ? "%s sent %s%s%s" : "%s 送出 %s%s%s", g->by ? g->by : "***", icon ? g->icon : "",
                         icon ? " " : "", name);
}

void
lc__ov_gift_count_text(const lc__ov_gift *g, char *buf, size_t size)
{
  g_snprintf(buf, size, "x%" G_GINT64_FORMAT, g->count);
}

static const char *
gift_class_name(lc_overlay_gift_class c)
{
  return c == LC_OVERLAY_GIFT_FULLSCREEN ? "fullscreen" : c == LC_OVERLAY_GIFT_BIG ? "big" : "small";
}

/* ---- group buy ---- */

void
lc_overlay_set_group(lc_overlay *o, const lc_overlay_group *g)
{
  char *title = g ? clean_string(g->title, TITLE_MAX) : NULL;
  char *price = g ? clean_string(g->price, PRICE_MAX) : NULL;
  lc__ov_group ng = {0};
  if (g) {
    ng.team_size = CLAMP(g->team_size, 1, GROUP_SIZE_MAX);
    ng.seats = g->seats < 0 ? -1 : MIN(g->seats, ng.team_size);
    ng.deadline_ms = ng.seats >= 0 ? MAX(g->deadline_ms, 0) : 0;
    ng.formed_until_ms = MAX(g->formed_until_ms, 0);
  }
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_GROUP];
  bool changed = el->has != (g != NULL);
  el->has = g != NULL;
  changed |= take_string(&el->title, title);
  changed |= take_string(&el->price, price);
  if (el->group.team_size != ng.team_size || el->group.seats != ng.seats ||
      el->group.deadline_ms != ng.deadline_ms || el->group.formed_until_ms != ng.formed_until_ms) {
    el->group = ng;
    changed = true;
  }
  if (changed)
    touch(o, LC_OV_GROUP);
  g_mutex_unlock(&o->mu);
}

bool
lc__ov_group_formed(const lc__ov_elem *el, int64_t now_ms)
{
  return now_ms < el->group.formed_until_ms;
}

int64_t
lc__ov_group_seconds(const lc__ov_elem *el, int64_t now_ms)
{
  if (el->group.seats < 0 || el->group.deadline_ms <= 0)
    return -1;
  return lc__ov_seconds_until(el->group.deadline_ms, now_ms);
}

/* ---- buyer ticker ---- */

/* Characters that take no room or are not letters of a name: skipped when masking. */
static bool
is_unshown(gunichar c)
{
  GUnicodeType t = g_unichar_type(c);
  return is_control(c) || is_bidi_control(c) || t == G_UNICODE_FORMAT || t == G_UNICODE_NON_SPACING_MARK ||
         t == G_UNICODE_ENCLOSING_MARK || t == G_UNICODE_SPACING_MARK || t == G_UNICODE_UNASSIGNED ||
         t == G_UNICODE_PRIVATE_USE || t == G_UNICODE_SURROGATE || (c >= 0xfe00 && c <= 0xfe0f) ||
         g_unichar_iszerowidth(c);
}

/* Wide scripts (CJK, Hangul, kana) and everything past them (emoji): one character reveals
 * enough there. */
static bool
is_wide_script(gunichar c)
{
  return g_unichar_iswide(c) || c >= 0x2e80;
}

char *
lc_overlay_mask_name(const char *name)
{
  if (!name || !g_utf8_validate(name, -1, NULL))
    return g_strdup("***");
  const char *p = name;
  while (*p && (g_unichar_isspace(g_utf8_get_char(p)) || is_unshown(g_utf8_get_char(p))))
    p = g_utf8_next_char(p);
  if (!*p)
    return g_strdup("***");
  /* Up to 3 shown characters of the first word (1 of a wide script), and never a whole name:
   * "Lin Wei" -> "Lin**", "Bob" -> "Bo**", "Al" -> "A**". */
  gunichar kept[3];
  int n = 0, total = 0;
  bool first_word = true;
  for (; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (g_unichar_isspace(c)) {
      first_word = false;
      continue;
    }
    if (is_unshown(c))
      continue;
    if (first_word && n < 3)
      kept[n++] = c;
    total++;
  }
  int keep = is_wide_script(kept[0]) ? 1 : MIN(3, total - 1);
  keep = MAX(keep, 1);
  GString *out = g_string_new(NULL);
  for (int i = 0; i < keep && i < n; i++) {
    if (i > 0 && is_wide_script(kept[i]))
      break;
    g_string_append_unichar(out, kept[i]);
  }
  g_string_append(out, "**");
  return g_string_free(out, FALSE);
}

void
lc_overlay_ticker_push(lc_overlay *o, const char *buyer_name, int64_t quantity, int64_t now_ms)
{
  if (quantity <= 0)
    return;
  quantity = MIN(quantity, QUANTITY_MAX);
  char *bounded = g_strndup(buyer_name ? buyer_name : "", NAME_MAX_BYTES);
  char *masked = lc_overlay_mask_name(bounded);
  g_free(bounded);
  g_mutex_lock(&o->mu);
  lc__ov_elem *el = &o->el[LC_OV_TICKER];
  lc__ov_ticker_line *last = NULL;
  for (int i = LC__OV_TICKER_SLOTS - 1; i >= 0 && !last; i--)
    if (el->ticker[i].seq)
      last = &el->ticker[i];
  if (last && last->shown_at > now_ms) {
    /* a line is waiting for its turn: the newer order replaces it. Nothing on screen changes,
     * so views copy it (sync_gen) without drawing again (gen): a burst of hundreds of orders
     * a second costs no redraws. */
    g_free(last->name);
    last->name = masked;
    last->quantity = quantity;
    el->sync_gen++;
    o->version++;
  } else {
    int64_t at = last ? MAX(now_ms, last->shown_at + LC__OV_TICKER_GAP_MS) : now_ms;
    g_free(el->ticker[0].name);
    memmove(&el->ticker[0], &el->ticker[1], (LC__OV_TICKER_SLOTS - 1) * sizeof el->ticker[0]);
    /* the used slots stay at the end, oldest first */
    lc__ov_ticker_line *slot = &el->ticker[LC__OV_TICKER_SLOTS - 1];
    slot->name = masked;
    slot->quantity = quantity;
    slot->shown_at = at;
    slot->seq = ++o->ticker_seq;
    touch(o, LC_OV_TICKER);
  }
  g_mutex_unlock(&o->mu);
}

void
lc__ov_ticker_shown(const lc__ov_elem *el, int64_t now_ms, int *first, int *count)
{
  *first = 0;
  *count = 0;
  for (int i = 0; i < LC__OV_TICKER_SLOTS; i++) {
    const lc__ov_ticker_line *l = &el->ticker[i];
    if (!l->seq || l->shown_at > now_ms || now_ms - l->shown_at >= LC__OV_TICKER_SHOW_MS)
      continue;
    if (*count == 0)
      *first = i;
    (*count)++;
  }
  *count = MIN(*count, LC__OV_TICKER_MAX_SHOWN);
}

char *
lc__ov_ticker_text(lc__ov_lang lang, const lc__ov_ticker_line *l)
{
  if (lang == LC__OV_LANG_EN)
    return g_strdup_printf("%s just bought %" G_GINT64_FORMAT, l->name, l->quantity);
  return g_strdup_printf("%s 刚刚买了 %" G_GINT64_FORMAT " 件", l->name, l->quantity);
}

/* ---- time-dependent views of an element (pure) ---- */

int64_t
lc__ov_seconds_until(int64_t ends_ms, int64_t now_ms)
{
  if (ends_ms <= now_ms)
    return 0;
  int64_t left = ends_ms - now_ms; /* > 0 */
  return left / 1000 + (left % 1000 != 0);
}

int64_t
lc__ov_flash_seconds(const lc__ov_elem *el, int64_t now_ms)
{
  return lc__ov_seconds_until(el->ends_at_ms, now_ms);
}

void
lc__ov_clock_text(int64_t secs, char *buf, size_t size)
{
  secs = MAX(secs, 0);
  if (secs >= 3600)
    g_snprintf(buf, size, "%d:%02d:%02d", (int)MIN(secs / 3600, 999), (int)(secs / 60 % 60), (int)(secs % 60));
  else
    g_snprintf(buf, size, "%02d:%02d", (int)(secs / 60), (int)(secs % 60));
}

bool
lc__ov_shown(lc_overlay_element e, const lc__ov_elem *el, int64_t now_ms, int64_t *time_key)
{
  *time_key = 0;
  if (!el->place.visible)
    return false;
  switch (e) {
  case LC_OV_FLASH:
    *time_key = el->sold_out ? -1 : lc__ov_flash_seconds(el, now_ms);
    return el->has;
  case LC_OV_COUPON:
    *time_key = 1;
    return el->has && now_ms < el->until_ms;
  case LC_OV_TICKER: {
    int first, count;
    lc__ov_ticker_shown(el, now_ms, &first, &count);
    *time_key = (int64_t)el->ticker[first].seq * 8 + count;
    return count > 0;
  }
  case LC_OV_GIFT:
    *time_key = 1;
    return el->has && now_ms < el->gift.at_ms + LC_OVERLAY_GIFT_SHOW_MS;
  case LC_OV_GROUP:
    /* the notice, then the team's countdown second (or no team): -2, -1, 0.. */
    *time_key = lc__ov_group_formed(el, now_ms) ? -2 : lc__ov_group_seconds(el, now_ms);
    return el->has;
  case LC_OV_CARD:
  case LC_OV_LOGO:
  case LC_OV_TEXT:
    return el->has;
  default:
    return false;
  }
}

/* ---- views' copies ---- */

static void
elem_copy(lc__ov_elem *dst, const lc__ov_elem *src)
{
  elem_clear_content(dst);
  *dst = *src;
  dst->title = g_strdup(src->title);
  dst->price = g_strdup(src->price);
  dst->original_price = g_strdup(src->original_price);
  dst->image = g_strdup(src->image);
  dst->text = g_strdup(src->text);
  for (int i = 0; i < LC__OV_TICKER_SLOTS; i++)
    dst->ticker[i].name = g_strdup(src->ticker[i].name);
  dst->gift.combo_id = g_strdup(src->gift.combo_id);
  dst->gift.by = g_strdup(src->gift.by);
  dst->gift.name = g_strdup(src->gift.name);
  dst->gift.icon = g_strdup(src->gift.icon);
}

bool
lc__overlay_sync(lc_overlay *o, lc__ov_snapshot *snap)
{
  bool copied = false;
  g_mutex_lock(&o->mu);
  if (snap->version != o->version) {
    for (int e = 0; e < LC_OV_N; e++) {
      if (snap->el[e].sync_gen == o->el[e].sync_gen)
        continue;
      elem_copy(&snap->el[e], &o->el[e]);
      copied = true;
    }
    snap->version = o->version;
  }
  g_mutex_unlock(&o->mu);
  return copied;
}

void
lc__ov_snapshot_clear(lc__ov_snapshot *snap)
{
  for (int e = 0; e < LC_OV_N; e++)
    elem_clear_content(&snap->el[e]);
  memset(snap, 0, sizeof *snap);
}

/* ---- status ---- */

static json_t *
str_or_null(const char *s)
{
  return s ? json_string(s) : json_null();
}

static json_t *
content_json(lc_overlay_element e, const lc__ov_elem *el, int64_t now_ms)
{
  switch (e) {
  case LC_OV_CARD:
    if (!el->has)
      return json_null();
    return json_pack("{s:o, s:o, s:o, s:o}", "title", str_or_null(el->title), "price", str_or_null(el->price),
                     "original_price", str_or_null(el->original_price), "image", str_or_null(el->image));
  case LC_OV_FLASH:
    if (!el->has)
      return json_null();
    return json_pack("{s:o, s:o, s:I, s:I, s:I, s:b, s:I}", "title", str_or_null(el->title), "price",
                     str_or_null(el->price), "ends_at_ms", (json_int_t)el->ends_at_ms, "stock_left",
                     (json_int_t)el->stock_left, "stock_total", (json_int_t)el->stock_total, "sold_out",
                     el->sold_out, "seconds_left", (json_int_t)lc__ov_flash_seconds(el, now_ms));
  case LC_OV_COUPON:
    if (!el->has)
      return json_null();
    return json_pack("{s:s, s:I}", "text", el->text, "until_ms", (json_int_t)el->until_ms);
  case LC_OV_TICKER: {
    int first, count;
    lc__ov_ticker_shown(el, now_ms, &first, &count);
    if (count == 0)
      return json_null();
    json_t *lines = json_array();
    for (int i = first; i < first + count; i++) {
      char *line = lc__ov_ticker_text(el->lang, &el->ticker[i]);
      json_array_append_new(lines, json_string(line));
      g_free(line);
    }
    return json_pack("{s:o}", "lines", lines);
  }
  case LC_OV_LOGO:
    return el->has ? json_pack("{s:s}", "image", el->image) : json_null();
  case LC_OV_TEXT:
    return el->has ? json_pack("{s:s}", "text", el->text) : json_null();
  case LC_OV_GIFT: {
    if (!el->has)
      return json_null();
    const lc__ov_gift *g = &el->gift;
    return json_pack("{s:o, s:s, s:o, s:o, s:s, s:I, s:I, s:I}", "combo_id", str_or_null(g->combo_id), "by", g->by,
                     "name", str_or_null(g->name), "icon", str_or_null(g->icon), "class",
                     gift_class_name(g->gift_class), "count", (json_int_t)g->count, "coins", (json_int_t)g->coins,
                     "until_ms", (json_int_t)(g->at_ms + LC_OVERLAY_GIFT_SHOW_MS));
  }
  case LC_OV_GROUP: {
    if (!el->has)
      return json_null();
    const lc__ov_group *g = &el->group;
    bool team = g->seats >= 0;
    int64_t secs = lc__ov_group_seconds(el, now_ms);
    return json_pack("{s:o, s:o, s:i, s:o, s:o, s:o, s:b}", "title", str_or_null(el->title), "price",
                     str_or_null(el->price), "team_size", g->team_size, "seats",
                     team ? json_integer(g->seats) : json_null(), "deadline_ms",
                     team && g->deadline_ms > 0 ? json_integer(g->deadline_ms) : json_null(), "seconds_left",
                     secs >= 0 ? json_integer(secs) : json_null(), "formed", lc__ov_group_formed(el, now_ms));
  }
  default:
    return json_null();
  }
}

json_t *
lc_overlay_status(lc_overlay *o, int64_t now_ms)
{
  json_t *elements = json_object();
  g_mutex_lock(&o->mu);
  for (int e = 0; e < LC_OV_N; e++) {
    const lc__ov_elem *el = &o->el[e];
    int64_t key;
    json_t *j = json_pack("{s:b, s:b, s:s, s:[f, f], s:f, s:o}", "visible", el->place.visible, "shown",
                          lc__ov_shown(e, el, now_ms, &key), "anchor", anchor_names[el->place.anchor],
                          "margin", el->place.margin_x, el->place.margin_y, "width", el->place.width,
                          "content", content_json(e, el, now_ms));
    json_object_set_new(elements, element_names[e], j);
  }
  json_t *st = json_pack("{s:s, s:b, s:I, s:o}", "lang", o->el[0].lang == LC__OV_LANG_EN ? "en" : "zh-CN",
                         "passthrough", o->passthrough, "version", (json_int_t)o->version, "elements", elements);
  g_mutex_unlock(&o->mu);
  return st;
}

guint64
lc_overlay_version(lc_overlay *o)
{
  g_mutex_lock(&o->mu);
  guint64 v = o->version;
  g_mutex_unlock(&o->mu);
  return v;
}

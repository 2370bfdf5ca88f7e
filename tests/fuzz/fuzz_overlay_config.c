/* Fuzz target for the overlay scene's outside inputs (overlays/overlay.c): a room's "overlays"
 * configuration JSON (room files, control socket), and the strings moderators and show events
 * bring (anchor names, free text, titles, buyer names, gift names, icons and senders, group-buy
 * prices and counts).
 *
 * The input is the configuration JSON; the same bytes, and its first line, serve as the
 * strings. Checked: check and configure agree and a refusal names the field and changes
 * nothing; an accepted text is valid UTF-8 of at most 200 bytes; a masked name is short valid
 * UTF-8 ending in "**"; a gift's icon is kept only when it is an emoji, its sender never empty;
 * the status object can always be built (every stored string is valid UTF-8) and round-trips
 * through JSON text. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "overlays/overlay.h"
#include "overlays/overlay_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static double
byte_double(const uint8_t *d, size_t n, size_t i)
{
  if (n == 0)
    return 0;
  uint8_t b = d[i % n];
  if (b == 0xff)
    return NAN;
  return (double)b - 40; /* -40 .. 214: both sides of every limit */
}

static void
check_status(lc_overlay *o, int64_t now)
{
  json_t *st = lc_overlay_status(o, now);
  if (!st)
    abort(); /* a stored string was not valid UTF-8, or a pack failed */
  char *text = json_dumps(st, JSON_COMPACT);
  if (!text)
    abort();
  json_error_t je;
  json_t *back = json_loads(text, 0, &je);
  if (!back || !json_equal(back, st))
    abort();
  json_decref(back);
  free(text);
  json_decref(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  json_error_t je;
  json_t *cfg = json_loadb((const char *)d, n, JSON_DECODE_ANY, &je);
  lc_overlay *o = lc_overlay_new(NULL);

  /* configuration: check and configure agree; a refusal changes nothing */
  char *err1 = NULL, *err2 = NULL;
  int rc1 = lc_overlay_config_check(cfg, &err1);
  guint64 v0 = lc_overlay_version(o);
  int rc2 = lc_overlay_configure(o, cfg, &err2);
  if (rc1 != rc2 || (rc1 == 0) != (err1 == NULL) || (rc2 == 0) != (err2 == NULL))
    abort();
  if (rc1 && (g_strcmp0(err1, err2) != 0 || lc_overlay_version(o) != v0 || !g_utf8_validate(err1, -1, NULL)))
    abort();
  g_free(err1);
  g_free(err2);

  /* the bytes as strings: the whole input (up to its first NUL) and its first line */
  char *all = g_strndup((const char *)d, n);
  const char *nl = memchr(d, '\n', n);
  char *line = g_strndup((const char *)d, nl ? (size_t)(nl - (const char *)d) : n);

  char *err = NULL;
  lc_overlay_element e = n ? (lc_overlay_element)(d[0] % (LC_OV_N + 1)) : LC_OV_CARD;
  int rc = lc_overlay_place(o, e, line, byte_double(d, n, 1), byte_double(d, n, 2), byte_double(d, n, 3), &err);
  if ((rc == 0) != (err == NULL) || (rc == 0 && lc_overlay_element_from_name(lc_overlay_element_name(e)) != (int)e))
    abort();
  g_clear_pointer(&err, g_free);
  lc_overlay_set_visible(o, e, n > 4 && d[4] & 1);

  for (int i = 0; i < 2; i++) {
    const char *s = i ? line : all;
    rc = lc_overlay_set_text(o, s, &err);
    if ((rc == 0) != (err == NULL))
      abort();
    if (rc == 0 && *s && (strlen(s) > 200 || !g_utf8_validate(s, -1, NULL)))
      abort();
    g_clear_pointer(&err, g_free);

    char *masked = lc_overlay_mask_name(s);
    if (!g_utf8_validate(masked, -1, NULL) || !g_str_has_suffix(masked, "**") || g_utf8_strlen(masked, -1) > 5)
      abort();
    g_free(masked);

    lc_overlay_card card = {.title = s, .price = line, .original_price = all, .image = line};
    lc_overlay_set_card(o, &card);
    lc_overlay_flash flash = {.title = line, .price = s, .ends_at_ms = (int64_t)n * 1000,
                              .stock_left = (int64_t)byte_double(d, n, 5), .stock_total = (int64_t)byte_double(d, n, 6),
                              .sold_out = n > 7 && d[7] & 1};
    lc_overlay_set_flash(o, &flash);
    lc_overlay_set_coupon(o, s, (int64_t)n * 500);
    lc_overlay_set_logo(o, line);
    lc_overlay_ticker_push(o, s, (int64_t)byte_double(d, n, 8), (int64_t)i * 1500);
    lc_overlay_gift gift = {.combo_id = line, .by = s, .name = line, .icon = s,
                            .gift_class = (lc_overlay_gift_class)(n > 9 ? d[9] % 4 : 0),
                            .count = (int64_t)byte_double(d, n, 10), .coins = (int64_t)byte_double(d, n, 11),
                            .last_at_ms = (int64_t)byte_double(d, n, 12) * 100};
    lc_overlay_gift_push(o, &gift, (int64_t)i * 1500);
    lc_overlay_group group = {.title = s, .price = line, .team_size = (int)byte_double(d, n, 13),
                              .seats = (int)byte_double(d, n, 14), .deadline_ms = (int64_t)byte_double(d, n, 15) * 1000,
                              .formed_until_ms = (int64_t)byte_double(d, n, 16) * 100};
    lc_overlay_set_group(o, n > 17 && d[17] == 'x' ? NULL : &group);
    check_status(o, (int64_t)i * 1500);
    json_t *st = lc_overlay_status(o, (int64_t)i * 1500);
    json_t *gc = json_object_get(json_object_get(json_object_get(st, "elements"), "gift"), "content");
    const char *icon = json_string_value(json_object_get(gc, "icon"));
    const char *by = json_string_value(json_object_get(gc, "by"));
    if ((icon && !lc__ov_is_emoji(icon)) || (json_is_object(gc) && (!by || !*by)))
      abort();
    json_decref(st);
  }

  g_free(all);
  g_free(line);
  json_decref(cfg);
  lc_overlay_unref(o);
  return 0;
}

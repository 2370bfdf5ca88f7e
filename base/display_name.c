/* Display-name rules: see display_name.h. */
#include "base/display_name.h"

#include <glib.h>
#include <string.h>

#include "base/errors.h"

static gboolean
is_bidi_control(gunichar c)
{
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x061c;
}

/* Zero-width and blank-looking characters: the ranges of the issue, the soft hyphen, the
 * combining grapheme joiner, the Mongolian vowel separator and the Hangul fillers (a name
 * of fillers looks empty). */
static gboolean
is_invisible(gunichar c)
{
  return (c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064) || c == 0xfeff || c == 0x00ad ||
         c == 0x034f || c == 0x180e || c == 0x115f || c == 0x1160 || c == 0x3164 || c == 0xffa0;
}

static int
refuse(const char **why, const char *text)
{
  if (why)
    *why = text;
  return LC_EINVAL;
}

int
lc_display_name_check(const char *name, size_t len, const char **why)
{
  if (why)
    *why = NULL;
  if (!name || len == 0)
    return refuse(why, "name: required (1-32 characters)");
  if (memchr(name, 0, len) || !g_utf8_validate_len(name, len, NULL))
    return refuse(why, "name: must be valid UTF-8 without NUL characters");
  glong chars = g_utf8_strlen(name, (gssize)len);
  if (chars > LC_SHOW_NAME_MAX_CHARS)
    return refuse(why, "name: at most 32 characters");
  gboolean visible = FALSE;
  for (const char *p = name; p < name + len; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029)
      return refuse(why, "name: must not contain control characters or line breaks");
    if (is_bidi_control(c))
      return refuse(why, "name: must not contain bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+061C)");
    if (is_invisible(c))
      return refuse(why, "name: must not contain zero-width or invisible characters (U+200B-U+200F, U+2060-U+2064, U+FEFF, ...)");
    if (!g_unichar_isspace(c))
      visible = TRUE;
  }
  if (!visible)
    return refuse(why, "name: must not be only spaces");
  return 0;
}

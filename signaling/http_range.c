/* The Range request header (RFC 9110 14.1.2, 14.2) for one file: which bytes to send. Only a
 * single byte range is honoured; a server may ignore Range altogether, so whatever is not
 * one clean range (several ranges, another unit, bad syntax) gets the whole file instead of
 * an error: multipart/byteranges answers are rarely asked for (players and CDNs ask for one
 * range) and several overlapping ranges are a known amplification trick. Pure. */
#include "signaling/http_internal.h"

#include <string.h>

static bool
ows(char c)
{
  return c == ' ' || c == '\t';
}

/* 1*DIGIT from *p up to end, saturating at G_MAXINT64; false when there is no digit. */
static bool
digits(const char **p, const char *end, gint64 *out)
{
  const char *s = *p;
  gint64 v = 0;
  while (s < end && *s >= '0' && *s <= '9') {
    int d = *s - '0';
    v = v > (G_MAXINT64 - d) / 10 ? G_MAXINT64 : v * 10 + d;
    s++;
  }
  if (s == *p)
    return false;
  *p = s;
  *out = v;
  return true;
}

/* One range-spec (no whitespace around it) against size. */
static lc__http_range_kind
range_spec(const char *s, const char *end, gint64 size, gint64 *first, gint64 *last)
{
  gint64 a = 0, b = 0;
  if (*s == '-') { /* suffix-range: the last b bytes */
    s++;
    if (!digits(&s, end, &b) || s != end)
      return LC__HTTP_RANGE_NONE;
    if (b == 0)
      return LC__HTTP_RANGE_UNSATISFIABLE;
    if (size == 0)
      return LC__HTTP_RANGE_NONE; /* the last bytes of nothing: the (empty) whole */
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return LC__HTTP_RANGE_OK;
  }
  if (!digits(&s, end, &a) || s == end || *s != '-')
    return LC__HTTP_RANGE_NONE;
  s++;
  bool has_last = s != end;
  if (has_last && (!digits(&s, end, &b) || s != end || b < a))
    return LC__HTTP_RANGE_NONE; /* an int-range with last < first is invalid, not unsatisfiable */
  if (a >= size)
    return LC__HTTP_RANGE_UNSATISFIABLE;
  *first = a;
  *last = has_last && b < size ? b : size - 1;
  return LC__HTTP_RANGE_OK;
}

lc__http_range_kind
lc__http_range_parse(const char *value, size_t len, gint64 size, gint64 *first, gint64 *last)
{
  static const char unit[] = "bytes=";
  const char *p = value, *end = value + len;
  if (size < 0)
    return LC__HTTP_RANGE_NONE;
  while (p < end && ows(*p))
    p++;
  if ((size_t)(end - p) < strlen(unit) || g_ascii_strncasecmp(p, unit, strlen(unit)) != 0)
    return LC__HTTP_RANGE_NONE; /* another unit, or no range-set */
  p += strlen(unit);
  /* range-set = 1#range-spec: list elements split at ',', empty ones skipped (RFC 9110 5.6.1) */
  const char *spec = NULL, *spec_end = NULL;
  for (;;) {
    const char *e = p;
    while (e < end && *e != ',')
      e++;
    const char *s = p, *t = e;
    while (s < t && ows(*s))
      s++;
    while (t > s && ows(t[-1]))
      t--;
    if (s < t) {
      if (spec)
        return LC__HTTP_RANGE_NONE; /* several ranges: the whole file instead */
      spec = s;
      spec_end = t;
    }
    if (e == end)
      break;
    p = e + 1;
  }
  if (!spec)
    return LC__HTTP_RANGE_NONE;
  return range_spec(spec, spec_end, size, first, last);
}

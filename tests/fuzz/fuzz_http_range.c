/* Fuzz target for signaling/http_range.c lc__http_range_parse: any bytes as a Range header
 * value, against representation sizes around the edges (empty, one byte, small, huge). The
 * result is one of the three kinds, a range lies inside the representation, the same input
 * gets the same answer, and a value that does not start with "bytes=" (any case, after
 * blanks) is always ignored. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signaling/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const gint64 sizes[] = {0, 1, 2, 10, 1000, 1 << 20, G_MAXINT64 - 1, G_MAXINT64};

static bool
starts_with_unit(const char *p, size_t n)
{
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t'))
    i++;
  return n - i >= 6 && g_ascii_strncasecmp(p + i, "bytes=", 6) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  const char *p = (const char *)d;
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
    gint64 size = sizes[i], first = -1, last = -1, first2 = -1, last2 = -1;
    lc__http_range_kind k = lc__http_range_parse(p, n, size, &first, &last);
    if (lc__http_range_parse(p, n, size, &first2, &last2) != k)
      abort();
    switch (k) {
    case LC__HTTP_RANGE_NONE:
      break;
    case LC__HTTP_RANGE_OK:
      if (first < 0 || first > last || last >= size || first != first2 || last != last2)
        abort();
      /* fallthrough */
    case LC__HTTP_RANGE_UNSATISFIABLE:
      if (!starts_with_unit(p, n))
        abort();
      break;
    default:
      abort();
    }
  }
  /* a negative size is never ranged */
  gint64 a, b;
  if (lc__http_range_parse(p, n, -1, &a, &b) != LC__HTTP_RANGE_NONE)
    abort();
  return 0;
}

/* Fuzz target for signaling/reqline.c lc__http_check_request_line: any bytes as the first
 * line of a connection. The result is 0 or LC_EINVAL with a reason, and an accepted line's
 * request target (between the first two spaces) has no NUL, no %00 and only complete
 * %-escapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/errors.h"
#include "signaling/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  const char *line = (const char *)d;
  bool may = lc__http_may_be_request_line(line, n);
  if (may && n > 0 && (line[0] < 'A' || line[0] > 'Z'))
    abort(); /* a request line starts with a method */
  const char *why = NULL;
  int rc = lc__http_check_request_line(line, n, &why);
  if (rc != 0) {
    if (rc != LC_EINVAL || !why || !*why)
      abort();
    return 0;
  }
  if (why)
    abort();
  const char *sp1 = memchr(line, ' ', n);
  if (!sp1)
    return 0;
  const char *t = sp1 + 1;
  size_t rest = n - (size_t)(t - line);
  const char *sp2 = memchr(t, ' ', rest);
  size_t tl = sp2 ? (size_t)(sp2 - t) : rest;
  for (size_t i = 0; i < tl; i++) {
    if (t[i] == '\0')
      abort();
    if (t[i] == '%') {
      if (i + 2 >= tl || !g_ascii_isxdigit(t[i + 1]) || !g_ascii_isxdigit(t[i + 2]))
        abort();
      if (t[i + 1] == '0' && t[i + 2] == '0')
        abort();
      i += 2;
    }
  }
  return 0;
}

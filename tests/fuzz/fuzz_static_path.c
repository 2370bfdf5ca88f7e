/* Fuzz target for signaling/static.c lc__static_check_path: any bytes as a decoded request
 * path. The result is 0, LC_EINVAL or LC_ENOENT, and an accepted path really is one the
 * web root may look up: starts with '/', no NUL or backslash, no empty, "." or ".." segment,
 * no segment starting with '.'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "signaling/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  const char *p = (const char *)d;
  int rc = lc__static_check_path(p, n);
  if (rc != 0 && rc != LC_EINVAL && rc != LC_ENOENT)
    abort();
  if (rc != 0)
    return 0;
  if (n == 0 || p[0] != '/' || memchr(p, '\0', n) || memchr(p, '\\', n))
    abort();
  for (size_t i = 1; i <= n; i++) {
    /* a segment starts after each '/'; only the last one may be empty ("/dir/") */
    if (p[i - 1] != '/')
      continue;
    if (i == n)
      break;
    if (p[i] == '/' || p[i] == '.')
      abort();
  }
  return 0;
}

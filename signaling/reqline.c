/* The first-line check of a new HTTP connection (http_internal.h,
 * lc__http_check_request_line): pure, fuzzed. */
#include "signaling/http_internal.h"
#include "base/errors.h"

#include <string.h>

static bool
is_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int
lc__http_check_request_line(const char *line, size_t len, const char **why)
{
  /* METHOD SP target SP version: anything else is left to lws' parser */
  const char *sp1 = memchr(line, ' ', len);
  if (!sp1)
    return 0;
  const char *target = sp1 + 1;
  size_t rest = len - (size_t)(target - line);
  const char *sp2 = memchr(target, ' ', rest);
  size_t tlen = sp2 ? (size_t)(sp2 - target) : rest;
  for (size_t i = 0; i < tlen; i++) {
    char c = target[i];
    if (c == '\0') {
      *why = "NUL in the request target";
      return LC_EINVAL;
    }
    if (c != '%')
      continue;
    if (i + 2 >= tlen || !is_hex(target[i + 1]) || !is_hex(target[i + 2])) {
      *why = "malformed percent-escape in the request target";
      return LC_EINVAL;
    }
    if (target[i + 1] == '0' && target[i + 2] == '0') {
      *why = "NUL (%00) in the request target";
      return LC_EINVAL;
    }
    i += 2;
  }
  return 0;
}

bool
lc__http_may_be_request_line(const char *buf, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    if (buf[i] == ' ')
      return i > 0;
    if (buf[i] < 'A' || buf[i] > 'Z' || i >= 16)
      return false;
  }
  return true; /* no space yet: a method so far */
}

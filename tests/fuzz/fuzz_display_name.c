/* Fuzz target: the display-name check (base/display_name.c). Never crashes, a
 * refusal always says why, and an accepted name really keeps every rule: re-checked here
 * with an independent UTF-8 decoder, so that a bug in one loop cannot hide in the other. */
#include "base/display_name.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes one UTF-8 sequence strictly (no overlongs, surrogates or > U+10FFFF); returns its
 * length, or 0 when invalid. */
static size_t
decode(const uint8_t *p, size_t n, uint32_t *cp)
{
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
  if (len == 0 || len > n || p[0] > 0xf4)
    return 0;
  uint32_t c = p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (p[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *why = NULL;
  int rc = lc_display_name_check((const char *)data, size, &why);
  if (rc != 0) {
    if (!why || strncmp(why, "name: ", 6) != 0)
      __builtin_trap();
    return 0;
  }
  if (why)
    __builtin_trap();
  size_t chars = 0;
  int visible = 0;
  for (size_t i = 0; i < size;) {
    uint32_t c;
    size_t n = decode(data + i, size - i, &c);
    if (n == 0 || c == 0 || c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
        (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || (c >= 0x200b && c <= 0x200f) ||
        (c >= 0x2060 && c <= 0x2064) || c == 0xfeff)
      __builtin_trap();
    if (c != ' ' && c != 0x3000 && c != 0xa0)
      visible = 1;
    chars++;
    i += n;
  }
  if (chars < 1 || chars > LC_SHOW_NAME_MAX_CHARS || !visible)
    __builtin_trap();
  return 0;
}

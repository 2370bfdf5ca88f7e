/* Fuzz target: the address-list parser (limits.exempt) and a guard driven by the rest of the
 * input. First line: the list text. Then 18-byte records: op, time step, 16 address bytes.
 * Must never crash or leak; a refusal must say why; the table never exceeds its cap. */
#include "base/ipguard.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr(data, '\n', size);
  size_t first = nl ? (size_t)(nl - data) : size;
  char *text = g_strndup((const char *)data, first);
  char *err = NULL;
  lc_iplist *l = lc_iplist_parse(text, &err);
  if (!l && !err)
    __builtin_trap();
  lc_ipaddr probe;
  if (lc_ipaddr_parse(text, &probe) == 0) {
    char buf[LC_IPADDR_STRLEN];
    lc_ipaddr_key_str(&probe, buf);
    (void)lc_iplist_contains(l, &probe);
  }
  lc_ipguard_config cfg = {.limit = 3, .window_us = 1000, .lockout_us = 5000, .max_addresses = 8,
                           .log_interval_us = 100, .exempt = l};
  lc_ipguard *g = lc_ipguard_new(&cfg);
  gint64 now = 0;
  size_t off = nl ? first + 1 : size;
  while (size - off >= 18) {
    const uint8_t *r = data + off;
    lc_ipaddr a;
    memcpy(a.b, r + 2, 16);
    now += r[1] * 17;
    switch (r[0] % 4) {
    case 0: (void)lc_ipguard_check(g, &a, now); break;
    case 1: (void)lc_ipguard_hit(g, &a, now); break;
    case 2: (void)lc_ipguard_refused(g, &a, now, NULL, NULL); break;
    default: lc_ipguard_flush(g, now); break;
    }
    if (lc_ipguard_size(g) > 8)
      __builtin_trap();
    off += 18;
  }
  lc_ipguard_free(g);
  lc_iplist_free(l);
  g_free(err);
  g_free(text);
  return 0;
}

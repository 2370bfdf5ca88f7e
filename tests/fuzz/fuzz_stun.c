/* Fuzz target: STUN parse, MESSAGE-INTEGRITY check with a fixed key, demux, and a
 * response built from whatever parsed. */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtc/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  static const char key[] = "VOkJxbRl1RmTxUk/WvJxBt";
  (void)lc_stun_demux(d, n);
  lc_stun_msg m;
  if (lc_stun_parse(d, n, &m) != 0)
    return 0;
  (void)lc_stun_check_integrity(&m, (const uint8_t *)key, strlen(key));
  (void)lc_stun_username_matches(&m, "evtj");
  uint8_t out[LC_STUN_MAX_RESPONSE];
  size_t len;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m.priority)};
  memcpy(&sin.sin_addr, m.tid, 4);
  if (lc_stun_build_binding_success(out, sizeof(out), m.tid, (struct sockaddr *)&sin, NULL, (const uint8_t *)key,
                                    strlen(key), &len) == 0) {
    lc_stun_msg back;
    if (lc_stun_parse(out, len, &back) != 0 || lc_stun_check_integrity(&back, (const uint8_t *)key, strlen(key)) != 0)
      __builtin_trap();
  }
  if (m.unknown_required)
    (void)lc_stun_build_error(out, sizeof(out), m.tid, 420, NULL, NULL, 0, &len);
  return 0;
}

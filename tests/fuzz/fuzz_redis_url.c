/* Fuzz target for cluster.redis (server/cluster/redis.h lc_redis_addr_parse): a config value.
 * What parses has either a host and a port in 1..65535 or an absolute socket path, and prints
 * back without crashing. Seeds: tests/fuzz/corpus/redis_url/. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "cluster/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  char *url = g_strndup((const char *)d, n);
  lc_redis_addr a;
  char *err = NULL;
  if (lc_redis_addr_parse(url, &a, &err) == 0) {
    if (a.unix_path ? a.unix_path[0] != '/' : (!a.host || !*a.host || a.port < 1 || a.port > 65535))
      __builtin_trap();
    g_free(lc_redis_addr_string(&a));
    lc_redis_addr_clear(&a);
  } else if (!err) {
    __builtin_trap();
  }
  g_free(err);
  g_free(url);
  return 0;
}

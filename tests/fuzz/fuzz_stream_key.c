/* Fuzz target for pipelines/ingest/stream_key: byte 0 picks RTMP (stream name, tcUrl split at
 * the first NUL) or SRT streamid. Accepted credentials must be a valid room id and a key within
 * bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/errors.h"
#include "ingest/stream_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  if (n < 1)
    return 0;
  char *s = g_strndup((const char *)d + 1, n - 1); /* stops at the first NUL */
  size_t sl = strlen(s);
  const char *tc = NULL;
  char *tcbuf = NULL;
  if (sl + 2 < n) {
    tcbuf = g_strndup((const char *)d + 1 + sl + 1, n - 1 - sl - 1);
    tc = tcbuf;
  }
  lc_stream_key sk;
  const char *why = NULL;
  int rc = (d[0] & 1) ? lc_stream_key_parse_srt(s, &sk, &why) : lc_stream_key_parse_rtmp(s, tc, &sk, &why);
  if (rc == 0) {
    if (!lc_stream_key_valid_room(sk.room, strlen(sk.room)))
      abort();
    if (strlen(sk.key) > LC_STREAM_KEY_MAX_KEY)
      abort();
    for (const char *p = sk.key; *p; p++)
      if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ',' || *p == '&')
        abort();
  } else if (rc != LC_EINVAL || !why) {
    abort();
  }
  g_free(s);
  g_free(tcbuf);
  return 0;
}

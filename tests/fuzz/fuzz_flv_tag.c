/* Fuzz target for pipelines/ingest/flv_tag: byte 0 picks video / audio / AVC config / AVCC
 * frame checks, the rest is the tag body. Whatever is accepted must point inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "ingest/flv_tag.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  if (n < 1)
    return 0;
  const uint8_t *b = d + 1;
  size_t len = n - 1;
  lc_flv_packet pk;
  const char *why = NULL;
  int rc;
  switch (d[0] & 3) {
  case 0:
    rc = lc_flv_parse_video(b, len, &pk, &why);
    break;
  case 1:
    rc = lc_flv_parse_audio(b, len, &pk, &why);
    break;
  case 2: {
    unsigned nls = 0;
    rc = lc_flv_check_avcc_config(b, len, &nls, &why);
    if (rc == 0 && nls != 1 && nls != 2 && nls != 4)
      abort();
    return 0;
  }
  default:
    rc = lc_flv_check_avcc_frame(b, len, 1u << ((d[0] >> 2) % 3), &why);
    if (rc != 0 && !why)
      abort();
    return 0;
  }
  if (rc != 0) {
    if (!why || (rc != LC_EINVAL && rc != LC_EPERM))
      abort();
    return 0;
  }
  if (pk.len > 0 && (pk.data < b || pk.data + pk.len > b + len))
    abort();
  if (pk.kind == LC_FLV_FRAME && pk.len == 0)
    abort();
  return 0;
}

/* Fuzz target: RTP header parse, every extension element, H.264 keyframe detection on the
 * payload, and the rewrite helpers on a copy. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  lc_rtp_header h;
  (void)lc_rtp_h264_is_keyframe_start(d, n);
  if (lc_rtp_parse(d, n, &h) != 0)
    return 0;
  if (h.header_len + h.payload_len + h.padding_len != n)
    __builtin_trap();
  lc_rtp_ext_iter it;
  uint8_t id;
  const uint8_t *data;
  size_t len, off;
  lc_rtp_ext_iter_init(&it, d, &h);
  while (lc_rtp_ext_next(&it, &id, &data, &len) == 1)
    if (data < d || data + len > d + n)
      __builtin_trap();
  if (lc_rtp_ext_find(d, &h, 3, &off, &len) == 0 && off + len > n)
    __builtin_trap();
  (void)lc_rtp_h264_is_keyframe_start(d + h.header_len, h.payload_len);
  uint8_t *copy = malloc(n);
  memcpy(copy, d, n);
  lc_rtp_set_ssrc(copy, 1);
  lc_rtp_set_seq(copy, 2);
  lc_rtp_set_timestamp(copy, 3);
  lc_rtp_set_pt(copy, 96);
  lc_rtp_set_marker(copy, true);
  lc_rtp_header h2;
  if (lc_rtp_parse(copy, n, &h2) != 0 || h2.ssrc != 1 || h2.seq != 2 || h2.pt != 96 || !h2.marker)
    __builtin_trap();
  free(copy);
  return 0;
}

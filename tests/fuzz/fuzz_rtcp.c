/* Fuzz target: the RTCP compound walker and every parser on each packet. */
#include <stddef.h>
#include <stdint.h>

#include "rtc/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
twcc_cb(void *user, uint16_t seq, int status, int64_t recv_us)
{
  (void)seq;
  (void)recv_us;
  if (status < 0 || status > 2)
    __builtin_trap();
  (*(unsigned *)user)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, d, n);
  while (lc_rtcp_iter_next(&it, &p) == 1) {
    lc_rtcp_sr sr;
    lc_rtcp_rr rr;
    lc_rtcp_bye bye;
    lc_rtcp_fb fb;
    lc_rtcp_remb remb;
    lc_rtcp_twcc tw;
    uint16_t seqs[64];
    lc_rtcp_fir_entry fir[8];
    size_t cnt;
    unsigned calls = 0;
    (void)lc_rtcp_parse_sr(&p, &sr);
    (void)lc_rtcp_parse_rr(&p, &rr);
    (void)lc_rtcp_parse_bye(&p, &bye);
    (void)lc_rtcp_parse_fb(&p, &fb);
    (void)lc_rtcp_parse_nack(&p, &fb, seqs, 64, &cnt);
    (void)lc_rtcp_parse_fir(&p, &fb, fir, 8, &cnt);
    (void)lc_rtcp_parse_remb(&p, &remb);
    if (lc_rtcp_parse_twcc(&p, &tw, twcc_cb, &calls) == 0 && calls != tw.status_count)
      __builtin_trap();
    if (p.kind == LC_RTCP_KIND_SR && lc_rtcp_parse_sr(&p, &sr) == 0) {
      uint8_t out[1024];
      size_t len;
      if (lc_rtcp_build_sr(out, sizeof(out), &sr, &len) != 0)
        __builtin_trap();
    }
  }
  return 0;
}

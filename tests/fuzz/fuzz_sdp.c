/* Fuzz target: SDP offer parse and, when it parses, the answers for both roles. */
#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtc/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  lc_sdp_offer *o = NULL;
  char *why = NULL;
  if (lc_sdp_parse((const char *)d, n, &o, &why) != 0) {
    if (!why)
      __builtin_trap();
    g_free(why);
    return 0;
  }
  lc_sdp_answer_params p = {
    .role = LC_SDP_ROLE_WHEP_VIEWER,
    .ice_ufrag = "lcsrv0001",
    .ice_pwd = "livecartserverpassword01",
    .fingerprint_sha256 =
      "B3:EA:CD:33:43:3B:31:B5:25:23:51:03:2C:9B:3E:7A:2E:7A:A7:73:8D:5D:EC:DF:0D:D6:C6:26:80:85:3C:06",
    .ip = "127.0.0.1",
    .port = 8189,
    .session_id = 1,
    .h264_profile_level_id = 0x42e01f,
    .want_audio = true,
    .video_ssrc = 1,
    .audio_ssrc = 2,
  };
  for (int role = 0; role < 2; role++) {
    p.role = role ? LC_SDP_ROLE_WHIP_INGEST : LC_SDP_ROLE_WHEP_VIEWER;
    char *ans = NULL;
    lc_sdp_answer_info info;
    if (lc_sdp_build_answer(o, &p, &ans, &info, &why) == 0) {
      /* our own answer must parse as SDP */
      lc_sdp_offer *back = NULL;
      if (lc_sdp_parse(ans, strlen(ans), &back, NULL) != 0)
        __builtin_trap();
      lc_sdp_offer_free(back);
      g_free(ans);
    } else {
      if (!why)
        __builtin_trap();
      g_free(why);
      why = NULL;
    }
  }
  lc_sdp_offer_free(o);
  return 0;
}

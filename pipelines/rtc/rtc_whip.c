/* WHIP ingest on a worker (see rtc_whip.h). */
#define _GNU_SOURCE /* struct mmsghdr */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_whip.h"

#include <string.h>

#include "base/bytes.h"
#include "base/log.h"
#include "rtc/rtc_ice.h"
#include "rtc/rtc_send.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"

void
lc__rtc_whip_handle_rtp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from)
{
  lc__rtc_session *s = lc__rtc_ice_session_by_tuple(w, from);
  size_t plain;
  if (!s || s->kind != LC__RTC_WHIP || !s->srtp || s->state != LC__RTC_MEDIA ||
      lc_srtp_unprotect_rtp(s->srtp, buf, len, &plain) != 0)
    return;
  lc__rtc_worker_dtls_trim(w, s);
  lc__rtc_ice_consent_refresh(w, s);
  lc_rtp_header h;
  if (lc_rtp_parse(buf, plain, &h) != 0)
    return;
  lc_rendition *r;
  bool video;
  if (h.pt == s->video_pt && s->whip_video) {
    r = s->whip_video;
    video = true;
    s->remote_video_ssrc = h.ssrc;
  } else if (h.pt == s->audio_pt && s->whip_audio) {
    r = s->whip_audio;
    video = false;
    s->remote_audio_ssrc = h.ssrc;
  } else {
    return;
  }
  /* Drop the publisher's header extensions: their ids mean nothing to the viewers. */
  size_t fixed = LC_RTP_HEADER_MIN + 4u * h.csrc_count;
  if (h.extension) {
    memmove(buf + fixed, buf + h.header_len, plain - h.header_len);
    plain -= h.header_len - fixed;
    buf[0] &= (uint8_t)~0x10;
  }
  /* Only the first packet of a keyframe's access unit is flagged (SPS, PPS and the IDR slices
   * share its timestamp), so a replay from the flag includes the parameter sets. */
  bool kf = false;
  if (video && lc_rtp_h264_is_keyframe_start(buf + fixed, h.payload_len)) {
    kf = !s->whip_kf_seen || h.ts != s->whip_kf_ts;
    s->whip_kf_seen = true;
    s->whip_kf_ts = h.ts;
  }
  lc_rendition_push_rtp(r, buf, plain, kf);
}

static void
whip_keyframe_fn(lc_rendition *r, gpointer user)
{
  lc__rtc_session *s = user;
  g_atomic_int_set(&s->pli_wanted, 1);
  lc__rtc_worker *w = s->owner_w;
  if (w)
    lc__rtc_worker_wake(w);
}

/* WHIP: an empty RR plus a REMB of 20 Mbit/s every second (so the publisher's encoder is not
 * held at its start bitrate), a PLI when a keyframe was asked. */
void
lc__rtc_whip_tick(lc__rtc_worker *w, lc__rtc_session *s)
{
  if (g_atomic_int_compare_and_exchange(&s->pli_wanted, 1, 0) && s->remote_video_ssrc) {
    uint8_t *o = lc__rtc_send_slot(w);
    size_t n;
    if (lc_rtcp_build_pli(o, LC__RTC_SLOT, s->video_ssrc, s->remote_video_ssrc, &n) == 0)
      lc__rtc_send_rtcp(w, s, o, n);
  }
  if (w->now - s->last_rr_us < LC__RTC_SR_INTERVAL_US)
    return;
  s->last_rr_us = w->now;
  uint8_t *o = lc__rtc_send_slot(w);
  /* RR, no blocks */
  o[0] = 0x80;
  o[1] = LC_RTCP_RR;
  o[2] = 0;
  o[3] = 1;
  lc_wr32(o + 4, s->video_ssrc);
  size_t n = 8;
  if (s->remote_video_ssrc) { /* REMB: PSFB FMT 15 */
    uint8_t *r = o + n;
    uint32_t bps = 20000000, mant = bps;
    uint8_t exp = 0;
    while (mant > 0x3FFFF) {
      mant >>= 1;
      exp++;
    }
    r[0] = 0x8F;
    r[1] = LC_RTCP_PSFB;
    r[2] = 0;
    r[3] = 5;
    lc_wr32(r + 4, s->video_ssrc);
    lc_wr32(r + 8, 0);
    memcpy(r + 12, "REMB", 4);
    lc_wr32(r + 16, (uint32_t)1 << 24 | (uint32_t)exp << 18 | mant);
    lc_wr32(r + 20, s->remote_video_ssrc);
    n += 24;
  }
  lc__rtc_send_rtcp(w, s, o, n);
}

void
lc__rtc_whip_start(lc__rtc_worker *w, lc__rtc_session *s)
{
  LC_INFO(s->room, s->id, "WHIP publisher connected");
  if (s->whip_video) {
    lc_rendition_discontinuity(s->whip_video);
    lc_rendition_set_live(s->whip_video, true);
    lc_rendition_set_keyframe_fn(s->whip_video, whip_keyframe_fn, s);
  }
  if (s->whip_audio) {
    lc_rendition_discontinuity(s->whip_audio);
    lc_rendition_set_live(s->whip_audio, true);
  }
  g_atomic_int_set(&s->pli_wanted, 1);
  lc__rtc_registry_report_publish(w->reg, s, true, NULL);
}

void
lc__rtc_whip_stop(lc__rtc_worker *w, lc__rtc_session *s, const char *reason)
{
  if (s->whip_video) {
    lc_rendition_set_keyframe_fn(s->whip_video, NULL, NULL); /* returns once no call runs */
    lc_rendition_set_live(s->whip_video, false);
  }
  if (s->whip_audio)
    lc_rendition_set_live(s->whip_audio, false);
  lc__rtc_registry_report_publish(w->reg, s, false, reason);
}

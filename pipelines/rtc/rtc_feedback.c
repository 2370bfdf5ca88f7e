/* RTCP with viewers (see rtc_feedback.h). */
#define _GNU_SOURCE /* struct mmsghdr */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_feedback.h"

#include "base/errors.h"
#include "rtc/rtc_fanout.h"
#include "rtc/rtc_ice.h"
#include "rtc/rtc_send.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"

/* An RTCP BYE that ends the session: a viewer's BYE (it sends nothing else), or a publisher's
 * BYE of its video SSRC (a BYE of the audio SSRC alone is a track going, not the session). */
static bool
peer_says_bye(const lc__rtc_session *s, const lc_rtcp_packet *p)
{
  lc_rtcp_bye bye;
  if (lc_rtcp_parse_bye(p, &bye) != 0)
    return false;
  if (s->kind == LC__RTC_WHEP)
    return true;
  for (unsigned i = 0; i < bye.n_ssrcs; i++)
    if (bye.ssrcs[i] == s->remote_video_ssrc && s->remote_video_ssrc)
      return true;
  return false;
}

static lc__rtc_vtrack *
track_for_ssrc(lc__rtc_session *s, uint32_t media_ssrc)
{
  if (media_ssrc == s->audio_ssrc && s->has_audio)
    return &s->audio;
  return &s->video;
}

static void
answer_nack(lc__rtc_worker *w, lc__rtc_session *s, const lc_rtcp_packet *p)
{
  lc_rtcp_fb fb;
  uint16_t seqs[256];
  size_t n = 0;
  int rc = lc_rtcp_parse_nack(p, &fb, seqs, G_N_ELEMENTS(seqs), &n);
  if (rc != 0 && rc != LC_ETOOBIG)
    return;
  lc__rtc_vtrack *t = track_for_ssrc(s, fb.media_ssrc);
  for (size_t i = 0; i < n; i++) {
    const void *src;
    uint16_t in_seq, sd;
    uint32_t td;
    if (!lc__rtc_track_reverse(&t->map, seqs[i], &src, &in_seq, &sd, &td)) {
      LC__RTC_ADD(w->ctr->nack_misses, 1);
      continue;
    }
    const lc__rtc_wsub *ws = src;
    lc_pkt *pkt = lc_rendition_lookup(ws->r, in_seq);
    lc_rtp_header h;
    if (!pkt || lc_rtp_parse(pkt->data, pkt->len, &h) != 0) {
      LC__RTC_ADD(w->ctr->nack_misses, 1);
      lc_pkt_unref(pkt);
      continue;
    }
    lc__rtc_send_rtp(w, s, t, pkt, &h, (uint16_t)(pkt->seq + sd), pkt->ts + td);
    LC__RTC_ADD(w->ctr->retransmissions, 1);
    lc_pkt_unref(pkt);
  }
}

static void
twcc_cb(void *user, uint16_t seq, int status, int64_t recv_us)
{
  lc__rtc_bwe_twcc_packet(user, seq, status != LC_TWCC_NOT_RECEIVED, recv_us);
}

void
lc__rtc_feedback_handle_rtcp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from)
{
  lc__rtc_session *s = lc__rtc_ice_session_by_tuple(w, from);
  size_t plain;
  if (!s || !s->srtp || s->state != LC__RTC_MEDIA || lc_srtp_unprotect_rtcp(s->srtp, buf, len, &plain) != 0)
    return;
  lc__rtc_worker_dtls_trim(w, s);
  lc__rtc_ice_consent_refresh(w, s);
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, buf, plain);
  while (lc_rtcp_iter_next(&it, &p) == 1) {
    if (p.kind == LC_RTCP_KIND_BYE) {
      if (peer_says_bye(s, &p)) {
        lc__rtc_worker_teardown(w, s, "RTCP BYE from the peer", true);
        return;
      }
      continue;
    }
    if (s->kind != LC__RTC_WHEP)
      continue; /* the publisher's SR/SDES: nothing to do yet */
    switch (p.kind) {
    case LC_RTCP_KIND_NACK:
      answer_nack(w, s, &p);
      break;
    case LC_RTCP_KIND_PLI:
    case LC_RTCP_KIND_FIR: {
      LC__RTC_ADD(w->ctr->plis_received, 1);
      lc__rtc_vtrack *t = &s->video;
      lc__rtc_wsub *ws = t->pending ? t->pending : t->cur;
      if (ws)
        lc__rtc_fanout_request_keyframe(w, ws->r);
      break;
    }
    case LC_RTCP_KIND_REMB: {
      lc_rtcp_remb remb;
      if (lc_rtcp_parse_remb(&p, &remb) == 0 && s->bwe)
        lc__rtc_bwe_on_remb(s->bwe, remb.bitrate_bps, w->now);
      break;
    }
    case LC_RTCP_KIND_TWCC: {
      lc_rtcp_twcc tw;
      if (!s->bwe || lc_rtcp_parse_twcc(&p, &tw, NULL, NULL) != 0)
        break;
      lc__rtc_bwe_twcc_begin(s->bwe);
      lc_rtcp_parse_twcc(&p, &tw, twcc_cb, s->bwe);
      lc__rtc_bwe_twcc_end(s->bwe, w->now);
      break;
    }
    case LC_RTCP_KIND_RR:
    case LC_RTCP_KIND_SR: {
      lc_rtcp_rr rr;
      lc_rtcp_sr sr;
      const lc_rtcp_report_block *blocks = NULL;
      unsigned nb = 0;
      if (p.kind == LC_RTCP_KIND_RR && lc_rtcp_parse_rr(&p, &rr) == 0) {
        blocks = rr.blocks;
        nb = rr.n_blocks;
      } else if (p.kind == LC_RTCP_KIND_SR && lc_rtcp_parse_sr(&p, &sr) == 0) {
        blocks = sr.blocks;
        nb = sr.n_blocks;
      }
      for (unsigned i = 0; i < nb && s->bwe; i++)
        if (blocks[i].ssrc == s->video_ssrc)
          lc__rtc_bwe_on_rr(s->bwe, blocks[i].fraction_lost, w->now);
      break;
    }
    default:
      break;
    }
  }
}

static uint64_t
ntp_now(void)
{
  int64_t us = g_get_real_time();
  uint64_t sec = (uint64_t)(us / 1000000) + 2208988800u;
  uint64_t frac = ((uint64_t)(us % 1000000) << 32) / 1000000u;
  return sec << 32 | frac;
}

void
lc__rtc_feedback_send_sr(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t)
{
  if (!t->map.started || w->now - t->last_sr_us < LC__RTC_SR_INTERVAL_US)
    return;
  t->last_sr_us = w->now;
  lc_rtcp_sr sr = {.ssrc = t->map.ssrc,
                   .ntp = ntp_now(),
                   .rtp_ts = lc__rtc_track_rtp_now(&t->map, w->now),
                   .packet_count = t->map.packets,
                   .octet_count = t->map.octets};
  uint8_t *o = lc__rtc_send_slot(w);
  size_t n;
  if (lc_rtcp_build_sr(o, LC__RTC_SLOT - LC_SRTP_MAX_TRAILER, &sr, &n) == 0)
    lc__rtc_send_rtcp(w, s, o, n);
}

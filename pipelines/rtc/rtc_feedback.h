/* RTCP with viewers: what they send (NACK -> retransmission from the rendition's cache, PLI/FIR
 * -> keyframe request, REMB/transport-cc/RR -> the bandwidth estimate, BYE -> the end) and the
 * sender reports we send. Publishers' RTCP comes through here too (only BYE matters). Internal to
 * lc_rtc; worker thread. */
#pragma once
#include "rtc/rtc_worker_int.h"

/* An SRTCP datagram from the tuple from (unprotected in place: buf has room after len). */
void lc__rtc_feedback_handle_rtcp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from);
/* A sender report for the track, at most once per LC__RTC_SR_INTERVAL_US. */
void lc__rtc_feedback_send_sr(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t);

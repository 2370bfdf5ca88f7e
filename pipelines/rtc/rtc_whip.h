/* WHIP ingest on a worker: the publisher's SRTP into its "source"/"opus" renditions, and what
 * we send it (RR + REMB every second, PLI when a keyframe is asked). Internal to lc_rtc; worker
 * thread unless said otherwise. */
#pragma once
#include "rtc/rtc_worker_int.h"

/* DTLS done: renditions live, keyframe requests become PLIs, the publish callback says live. */
void lc__rtc_whip_start(lc__rtc_worker *w, lc__rtc_session *s);
/* The session ends: renditions not live, the publish callback says so (reason as teardown). */
void lc__rtc_whip_stop(lc__rtc_worker *w, lc__rtc_session *s, const char *reason);
/* An SRTP datagram from the tuple from (unprotected in place). */
void lc__rtc_whip_handle_rtp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from);
/* Every tick: a pending PLI, the RR/REMB once per LC__RTC_SR_INTERVAL_US. */
void lc__rtc_whip_tick(lc__rtc_worker *w, lc__rtc_session *s);

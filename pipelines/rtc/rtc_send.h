/* A worker's send batch: datagrams written into scratch slots, protected in place, sent with
 * sendmmsg (UDP GSO for runs of equal-size datagrams to one peer). Internal to lc_rtc; worker
 * thread. A socket that would block drops and counts (send_drops): nothing here waits. */
#pragma once
#include "rtc/rtc_worker_int.h"
#include "rtc/rtp.h"

/* The next scratch slot (LC__RTC_SLOT bytes; flushes the batch when full). Fill it, then queue it
 * with lc__rtc_send_rtp / lc__rtc_send_rtcp (or leave it: the next call reuses it). */
uint8_t *lc__rtc_send_slot(lc__rtc_worker *w);
/* Sends the batch. Call before anything the batch points at (a session's address) changes. */
void lc__rtc_send_flush(lc__rtc_worker *w);
/* pkt as the track's packet (its SSRC/seq/ts/PT, our transport-cc extension): copied into a
 * slot, protected, queued to s's nominated address (nothing without one). */
void lc__rtc_send_rtp(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t, const lc_pkt *pkt,
                      const lc_rtp_header *h, uint16_t out_seq, uint32_t out_ts);
/* The RTCP packet in slot o (plain, len bytes) protected and queued to s. */
void lc__rtc_send_rtcp(lc__rtc_worker *w, lc__rtc_session *s, uint8_t *o, size_t len);
/* Unbatched: one datagram now (STUN answers), or each of out (GBytes: DTLS flights; emptied). */
void lc__rtc_send_now(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, const uint8_t *buf,
                      size_t len);
void lc__rtc_send_dtls(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, GPtrArray *out);

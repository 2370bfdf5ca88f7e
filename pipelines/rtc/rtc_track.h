/* Per-viewer outgoing stream state of the WebRTC fan-out, kept apart from the socket code so it
 * can be tested alone (internal to lc_rtc; lc__ names):
 *  - lc__rtc_track maps packets of one or more source renditions (rung switches) onto one
 *    continuous RTP stream: a fixed SSRC, sequence numbers that go on at +1 across a switch,
 *    timestamps that advance by the wall-clock gap; and back (NACKed output seq -> source seq).
 *  - lc__rtc_bwe estimates a viewer's bandwidth from REMB and transport-cc feedback and picks a
 *    rung (down at once, up only after the estimate stayed high for a while).
 * Pure: no I/O, no allocation, no locks. Runs on the worker thread owning the viewer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t ssrc;       /* what the viewer sees (from the SDP answer) */
  uint8_t pt;          /* negotiated payload type */
  uint32_t clock_rate; /* 90000 / 48000 */
  bool started;
  /* Current source: out = in + delta (mod 2^16 / 2^32). */
  const void *src;
  uint16_t seq_delta;
  uint32_t ts_delta;
  uint16_t last_in_seq;
  uint16_t first_out_seq; /* first output seq of the current source (kept within 2^15 of last) */
  uint16_t last_out_seq;
  uint32_t last_out_ts;
  int64_t last_out_us; /* produced_us of the last packet sent */
  uint32_t last_in_ts;
  /* The source before the last switch, for NACKs that straddle it. */
  const void *prev_src;
  uint16_t prev_seq_delta, prev_first_out, prev_last_out;
  uint32_t prev_ts_delta;
  /* For RTCP SR. */
  uint32_t packets, octets;
} lc__rtc_track;

void lc__rtc_track_init(lc__rtc_track *t, uint32_t ssrc, uint8_t pt, uint32_t clock_rate);
/* Makes src the current source with in_seq/in_ts (produced at produced_us) as its first packet:
 * on a started track it follows the last output packet (seq + 1, ts + the wall-clock gap, at
 * least 1); on a new track the source's numbering is kept (delta 0). */
void lc__rtc_track_switch(lc__rtc_track *t, const void *src, uint16_t in_seq, uint32_t in_ts,
                          int64_t produced_us);
/* A live packet of the current source: false when it is not newer than the last one sent
 * (duplicate, or already sent by the fast-join backlog); otherwise true with the output
 * seq/ts, and the track's last-sent state advanced (octets = payload bytes for the SR). */
bool lc__rtc_track_map(lc__rtc_track *t, uint16_t in_seq, uint32_t in_ts, int64_t produced_us,
                       size_t payload_len, uint16_t *out_seq, uint32_t *out_ts);
/* NACK: the source and source seq behind output seq out_seq, with the ts delta to apply;
 * false when out_seq is not one this track sent from a source it remembers. */
bool lc__rtc_track_reverse(const lc__rtc_track *t, uint16_t out_seq, const void **src, uint16_t *in_seq,
                           uint16_t *seq_delta, uint32_t *ts_delta);
/* The RTP timestamp (output numbering) for monotonic time now_us, extrapolated from the last
 * packet sent: for the SR's NTP/RTP pair. */
uint32_t lc__rtc_track_rtp_now(const lc__rtc_track *t, int64_t now_us);

#define LC__RTC_BWE_HISTORY 1024 /* transport-cc sequence numbers remembered (~3 s of video) */

typedef struct {
  uint16_t seq;
  uint16_t size;    /* 0 = unused */
  uint32_t sent_us; /* low 32 bits of the monotonic time (differences only) */
} lc__rtc_bwe_sent;

typedef struct {
  uint64_t remb_bps;
  int64_t remb_us; /* when the last REMB came, 0 = never */
  double twcc_bps; /* smoothed estimate from transport-cc, 0 = none yet */
  int64_t twcc_us;
  double loss;            /* last transport-cc loss fraction */
  bool twcc_congested;    /* the last transport-cc feedback showed loss > 2% or growing delay */
  uint16_t next_seq;      /* next transport-wide seq to stamp */
  lc__rtc_bwe_sent *sent; /* LC__RTC_BWE_HISTORY entries, only when transport-cc is used */
  /* per-feedback accumulators */
  uint64_t fb_bytes;
  int64_t fb_first_recv, fb_last_recv;
  uint32_t fb_first_sent, fb_last_sent;
  unsigned fb_received, fb_lost;
  /* receiver reports: the fallback when the peer sends neither REMB nor transport-cc */
  double rr_loss;        /* smoothed fraction lost */
  int64_t rr_us;         /* last RR, 0 = never */
  int64_t rr_changed_us; /* last rung change made from RR loss */
  /* rung choice */
  int64_t up_since_us; /* when the estimate first allowed a higher rung, 0 = not */
} lc__rtc_bwe;

/* twcc: keep the send history transport-cc feedback needs (8 KiB); lc__rtc_bwe_clear frees it. */
void lc__rtc_bwe_init(lc__rtc_bwe *b, bool twcc);
void lc__rtc_bwe_clear(lc__rtc_bwe *b);
/* Stamps a packet of size bytes sent at now_us: returns its transport-wide seq (history kept only
 * with twcc). */
uint16_t lc__rtc_bwe_on_send(lc__rtc_bwe *b, size_t size, int64_t now_us);
void lc__rtc_bwe_on_remb(lc__rtc_bwe *b, uint64_t bps, int64_t now_us);
/* transport-cc feedback: call begin, then packet for each status (the lc_rtcp_twcc_cb order),
 * then end. */
void lc__rtc_bwe_twcc_begin(lc__rtc_bwe *b);
void lc__rtc_bwe_twcc_packet(lc__rtc_bwe *b, uint16_t seq, bool received, int64_t recv_us);
void lc__rtc_bwe_twcc_end(lc__rtc_bwe *b, int64_t now_us);
/* A receiver report block about our video: fraction_lost as sent (x/256). */
void lc__rtc_bwe_on_rr(lc__rtc_bwe *b, uint8_t fraction_lost, int64_t now_us);
/* Current estimate in bit/s, 0 when nothing is known (no feedback in the last 5 s). */
uint64_t lc__rtc_bwe_estimate(const lc__rtc_bwe *b, int64_t now_us);
/* Rung to use: rungs_kbps[0..n) highest first (0 = unknown, taken as 2500), cur = current index.
 * With an estimate: lower rung at once when the current one does not fit; higher only when it has
 * fitted (with 15% headroom) for up_hold_ms. A transport-cc estimate alone (no fresh REMB) only
 * shows what we send, so it moves the viewer down only when that feedback shows congestion
 * (loss over 2% or growing delay): a rung whose stream arrives whole fits, whatever its nominal
 * rate (x264 undershoots it on still pictures and when the machine is busy). Without one, from receiver reports: one rung down
 * when over 10% is lost (at most every 2 s), one up after 10 s under 2%. Else keep cur. */
int lc__rtc_bwe_choose(lc__rtc_bwe *b, const int *rungs_kbps, int n, int cur, int64_t now_us,
                       unsigned up_hold_ms);

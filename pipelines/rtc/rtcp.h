/* RTCP (RFC 3550, RFC 4585, RFC 5104): a compound-packet walker, parsers for SR, RR,
 * BYE, generic NACK, PLI, FIR, REMB (draft-alvestrand-rmcat-remb) and transport-wide
 * congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01, not
 * RFC 8888), and builders for SR, NACK, PLI, FIR. Pure: no I/O, no allocation, in place
 * over const buffers (decrypted SRTCP); builders write into caller buffers. Any thread.
 * See docs/rtc-wire.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Packet types. */
#define LC_RTCP_SR 200
#define LC_RTCP_RR 201
#define LC_RTCP_SDES 202
#define LC_RTCP_BYE 203
#define LC_RTCP_APP 204
#define LC_RTCP_RTPFB 205 /* transport layer feedback: FMT 1 NACK, 15 transport-cc */
#define LC_RTCP_PSFB 206  /* payload specific feedback: FMT 1 PLI, 4 FIR, 15 AFB (REMB) */

/* What one RTCP packet of a compound is, after a look at PT, FMT and (AFB) the REMB id. */
typedef enum {
  LC_RTCP_KIND_OTHER = 0, /* unknown PT/FMT: skip */
  LC_RTCP_KIND_SR,
  LC_RTCP_KIND_RR,
  LC_RTCP_KIND_SDES,
  LC_RTCP_KIND_BYE,
  LC_RTCP_KIND_APP,
  LC_RTCP_KIND_NACK,
  LC_RTCP_KIND_TWCC,
  LC_RTCP_KIND_PLI,
  LC_RTCP_KIND_FIR,
  LC_RTCP_KIND_REMB,
} lc_rtcp_kind;

/* One packet of a compound; pointers borrow from the walked buffer. */
typedef struct {
  uint8_t count;       /* RC / SC / FMT field (5 bits) */
  uint8_t pt;
  bool padding;
  lc_rtcp_kind kind;
  const uint8_t *data; /* the packet from its header on */
  size_t len;          /* whole packet, (length + 1) * 4 bytes, padding included */
  size_t body_len;     /* len - 4 - padding */
} lc_rtcp_packet;

typedef struct {
  const uint8_t *buf;
  size_t len;
  size_t off;
} lc_rtcp_iter;

/* Starts walking the compound packet buf[0..len). Any thread. */
void lc_rtcp_iter_init(lc_rtcp_iter *it, const uint8_t *buf, size_t len);
/* Next packet: 1 and *p, 0 at the end, LC_EINVAL when the rest is malformed (version
 * not 2, length past the end, padding count 0 or larger than the packet, padding
 * anywhere but the last packet); the walk then stays at the error. Any thread. */
int lc_rtcp_iter_next(lc_rtcp_iter *it, lc_rtcp_packet *p);

/* One RTCP report block. cumulative_lost is the sign-extended 24-bit field. */
typedef struct {
  uint32_t ssrc;
  uint8_t fraction_lost;
  int32_t cumulative_lost;
  uint32_t highest_seq;
  uint32_t jitter;
  uint32_t lsr;
  uint32_t dlsr;
} lc_rtcp_report_block;

/* Sender report (with its report blocks) -- parsed and built. */
typedef struct {
  uint32_t ssrc;
  uint64_t ntp; /* 32.32 fixed point */
  uint32_t rtp_ts;
  uint32_t packet_count;
  uint32_t octet_count;
  uint8_t n_blocks; /* <= 31 */
  lc_rtcp_report_block blocks[31];
} lc_rtcp_sr;

/* Receiver report. */
typedef struct {
  uint32_t ssrc;
  uint8_t n_blocks;
  lc_rtcp_report_block blocks[31];
} lc_rtcp_rr;

/* BYE: the SSRCs leaving and an optional reason (borrowed, not NUL-terminated). */
typedef struct {
  uint8_t n_ssrcs;
  uint32_t ssrcs[31];
  const uint8_t *reason;
  size_t reason_len;
} lc_rtcp_bye;

/* The common head of RFC 4585 feedback messages. */
typedef struct {
  uint32_t sender_ssrc;
  uint32_t media_ssrc;
} lc_rtcp_fb;

/* FIR entry (RFC 5104 4.3.1). */
typedef struct {
  uint32_t ssrc;
  uint8_t seq;
} lc_rtcp_fir_entry;

#define LC_RTCP_REMB_MAX_SSRCS 16
typedef struct {
  uint32_t sender_ssrc;
  uint64_t bitrate_bps; /* mantissa << exp, saturated at UINT64_MAX */
  uint8_t n_ssrcs;      /* as sent (<= 255) */
  uint32_t ssrcs[LC_RTCP_REMB_MAX_SSRCS]; /* the first min(n_ssrcs, 16) */
} lc_rtcp_remb;

/* Head of a transport-cc feedback message. */
typedef struct {
  uint32_t sender_ssrc;
  uint32_t media_ssrc;
  uint16_t base_seq;
  uint16_t status_count;
  int32_t reference_time; /* signed 24 bits, multiples of 64 ms */
  uint8_t fb_count;       /* feedback packet count */
} lc_rtcp_twcc;

/* Packet status symbols of transport-cc. */
enum {
  LC_TWCC_NOT_RECEIVED = 0,
  LC_TWCC_SMALL_DELTA = 1,
  LC_TWCC_LARGE_DELTA = 2,
};

/* Called once per packet of a transport-cc feedback, in sequence order. recv_us is the
 * receive time in microseconds on the receiver's clock (reference_time * 64 ms plus the
 * running sum of deltas, 250 us units), meaningful only when status != NOT_RECEIVED. */
typedef void (*lc_rtcp_twcc_cb)(void *user, uint16_t seq, int status, int64_t recv_us);

/* Classification helper: the same kind lc_rtcp_iter_next stores in p->kind. */
lc_rtcp_kind lc_rtcp_classify(const uint8_t *pkt, size_t len);

/* Parsers: each takes one packet from the walker, returns 0 or LC_EINVAL (wrong kind,
 * too short, counts that do not fit the length). Any thread. */
int lc_rtcp_parse_sr(const lc_rtcp_packet *p, lc_rtcp_sr *out);
int lc_rtcp_parse_rr(const lc_rtcp_packet *p, lc_rtcp_rr *out);
int lc_rtcp_parse_bye(const lc_rtcp_packet *p, lc_rtcp_bye *out);
/* PLI, or the head of any RTPFB/PSFB packet. */
int lc_rtcp_parse_fb(const lc_rtcp_packet *p, lc_rtcp_fb *out);
/* Generic NACK: expands every PID+BLP pair into lost sequence numbers, in message order,
 * into seqs[0..cap). *n gets how many were stored; when there are more than cap, the
 * first cap are stored and LC_ETOOBIG is returned (17 per FCI at most). */
int lc_rtcp_parse_nack(const lc_rtcp_packet *p, lc_rtcp_fb *fb, uint16_t *seqs, size_t cap, size_t *n);
/* FIR: entries into entries[0..cap), LC_ETOOBIG past cap as for NACK. */
int lc_rtcp_parse_fir(const lc_rtcp_packet *p, lc_rtcp_fb *fb, lc_rtcp_fir_entry *entries, size_t cap,
                      size_t *n);
int lc_rtcp_parse_remb(const lc_rtcp_packet *p, lc_rtcp_remb *out);
/* transport-cc: validates the whole message first (chunks cover status_count, every
 * delta present), then calls cb (may be NULL: validation only) for each of the
 * status_count packets. Returns 0 or LC_EINVAL (no callback was made). */
int lc_rtcp_parse_twcc(const lc_rtcp_packet *p, lc_rtcp_twcc *out, lc_rtcp_twcc_cb cb, void *user);

/* Builders: write one RTCP packet into out[0..cap), 0 and *out_len or LC_ETOOBIG /
 * LC_EINVAL. Any thread. */
/* SR with sr->n_blocks (<= 31) report blocks. */
int lc_rtcp_build_sr(uint8_t *out, size_t cap, const lc_rtcp_sr *sr, size_t *out_len);
/* Generic NACK for seqs[0..n) (n >= 1), which must be in ascending order modulo 2^16 (as
 * a jitter buffer reports them); duplicates are merged, a seq within 16 of the current
 * PID goes into its BLP, otherwise a new FCI starts. */
int lc_rtcp_build_nack(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       const uint16_t *seqs, size_t n, size_t *out_len);
int lc_rtcp_build_pli(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, size_t *out_len);
/* Empty RR from sender_ssrc followed by a BYE of ssrcs[0..n) (1..31) with an optional reason
 * (NUL-terminated, <= 255 bytes; NULL = none): the compound a sender ends its session with. */
int lc_rtcp_build_bye(uint8_t *out, size_t cap, uint32_t sender_ssrc, const uint32_t *ssrcs, size_t n,
                      const char *reason, size_t *out_len);
/* FIR for one media source (media SSRC field 0 as RFC 5104 says) with command seq nr. */
int lc_rtcp_build_fir(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq,
                      size_t *out_len);

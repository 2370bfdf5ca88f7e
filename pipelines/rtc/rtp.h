/* RTP (RFC 3550) header parsing in place, RFC 8285 header extensions, in-place rewrite
 * helpers for the fan-out (rung switching rewrites SSRC / sequence / timestamp / PT in the
 * per-viewer scratch copy) and H.264 (RFC 6184) keyframe detection. Pure: no I/O, no
 * allocation; any thread. See docs/rtc-wire.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_RTP_HEADER_MIN 12
#define LC_RTP_EXT_ONE_BYTE 0xBEDE /* RFC 8285 one-byte header profile */
#define LC_RTP_EXT_TWO_BYTE_MASK 0xFFF0
#define LC_RTP_EXT_TWO_BYTE 0x1000 /* 0x100X: two-byte header profile */

/* A parsed RTP header. Offsets are into the packet given to lc_rtp_parse. */
typedef struct {
  uint8_t version;    /* always 2 after a successful parse */
  bool padding;
  bool extension;
  uint8_t csrc_count;
  bool marker;
  uint8_t pt;
  uint16_t seq;
  uint32_t ts;
  uint32_t ssrc;
  uint32_t csrc[15];
  uint16_t ext_profile; /* "defined by profile" of the extension header, 0 when none */
  size_t ext_offset;    /* offset of the extension data (after its 4-byte header) */
  size_t ext_len;       /* extension data length in bytes (a multiple of 4) */
  size_t header_len;    /* offset of the payload */
  size_t payload_len;   /* payload bytes, padding excluded */
  uint8_t padding_len;  /* trailing padding bytes (0 without the P bit) */
} lc_rtp_header;

/* Parses the RTP header of pkt[0..len): version 2, CSRCs, extension and padding all
 * inside len (padding count >= 1 and <= what is left after the header). Returns 0 and
 * *out, or LC_EINVAL. Any thread. */
int lc_rtp_parse(const uint8_t *pkt, size_t len, lc_rtp_header *out);

/* Iterator over RFC 8285 extension elements of a parsed packet. */
typedef struct {
  const uint8_t *pos;
  const uint8_t *end;
  bool two_byte;
} lc_rtp_ext_iter;

/* Starts iterating the extension elements of pkt (parsed into h). When the extension
 * profile is neither one-byte nor two-byte (or there is no extension) the iteration is
 * empty. Any thread. */
void lc_rtp_ext_iter_init(lc_rtp_ext_iter *it, const uint8_t *pkt, const lc_rtp_header *h);

/* Next element: returns 1 with *id (1-14 one-byte, 1-255 two-byte), *data (borrowed from
 * the packet) and *len (0-16 / 0-255), 0 at the end (padding skipped, id 15 in the
 * one-byte form stops the walk as RFC 8285 says), LC_EINVAL when an element overruns the
 * extension block. Any thread. */
int lc_rtp_ext_next(lc_rtp_ext_iter *it, uint8_t *id, const uint8_t **data, size_t *len);

/* Finds extension element id: returns 0 with *offset (of the element's data in pkt, so a
 * caller can rewrite it in its own copy) and *len, LC_ENOENT, or LC_EINVAL (malformed). */
int lc_rtp_ext_find(const uint8_t *pkt, const lc_rtp_header *h, uint8_t id, size_t *offset, size_t *len);

/* In-place rewrites of a packet at least LC_RTP_HEADER_MIN bytes long (the caller parsed
 * it). set_pt keeps the marker bit. Any thread; pkt is the caller's own (scratch) copy. */
void lc_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc);
void lc_rtp_set_seq(uint8_t *pkt, uint16_t seq);
void lc_rtp_set_timestamp(uint8_t *pkt, uint32_t ts);
void lc_rtp_set_pt(uint8_t *pkt, uint8_t pt);
void lc_rtp_set_marker(uint8_t *pkt, bool marker);

/* H.264 NAL unit types used below. */
#define LC_H264_NAL_IDR 5
#define LC_H264_NAL_SPS 7
#define LC_H264_NAL_PPS 8
#define LC_H264_NAL_STAP_A 24
#define LC_H264_NAL_FU_A 28

/* True when this RTP payload (RFC 6184, packetization-mode 0 or 1) starts a keyframe: a
 * single NAL unit IDR or SPS, a STAP-A that aggregates an SPS or IDR unit (units walked
 * with bounds checks; a truncated STAP-A is not a keyframe), or the first fragment
 * (S bit) of an FU-A carrying an IDR or SPS. Any thread. */
bool lc_rtp_h264_is_keyframe_start(const uint8_t *payload, size_t len);

/* Signed distance b - a between two 16-bit sequence numbers (RFC 3550 wrap). */
static inline int16_t
lc_rtp_seq_diff(uint16_t a, uint16_t b)
{
  return (int16_t)(uint16_t)(b - a);
}

/* RTP header parsing, RFC 8285 extensions, rewrite helpers, H.264 keyframes. See rtp.h. */
#include "rtc/rtp.h"
#include "base/bytes.h"

#include <string.h>

#include "base/errors.h"

int
lc_rtp_parse(const uint8_t *pkt, size_t len, lc_rtp_header *out)
{
  memset(out, 0, sizeof(*out));
  if (len < LC_RTP_HEADER_MIN || (pkt[0] >> 6) != 2)
    return LC_EINVAL;
  out->version = 2;
  out->padding = (pkt[0] & 0x20) != 0;
  out->extension = (pkt[0] & 0x10) != 0;
  out->csrc_count = pkt[0] & 0x0F;
  out->marker = (pkt[1] & 0x80) != 0;
  out->pt = pkt[1] & 0x7F;
  out->seq = lc_rd16(pkt + 2);
  out->ts = lc_rd32(pkt + 4);
  out->ssrc = lc_rd32(pkt + 8);
  size_t off = LC_RTP_HEADER_MIN;
  if (len - off < 4u * out->csrc_count)
    return LC_EINVAL;
  for (unsigned i = 0; i < out->csrc_count; i++, off += 4)
    out->csrc[i] = lc_rd32(pkt + off);
  if (out->extension) {
    if (len - off < 4)
      return LC_EINVAL;
    out->ext_profile = lc_rd16(pkt + off);
    size_t words = lc_rd16(pkt + off + 2);
    off += 4;
    if (len - off < 4 * words)
      return LC_EINVAL;
    out->ext_offset = off;
    out->ext_len = 4 * words;
    off += 4 * words;
  }
  size_t pad = 0;
  if (out->padding) {
    pad = pkt[len - 1];
    if (pad == 0 || pad > len - off)
      return LC_EINVAL;
  }
  out->padding_len = (uint8_t)pad;
  out->header_len = off;
  out->payload_len = len - off - pad;
  return 0;
}

void
lc_rtp_ext_iter_init(lc_rtp_ext_iter *it, const uint8_t *pkt, const lc_rtp_header *h)
{
  it->pos = it->end = NULL;
  it->two_byte = false;
  if (!h->extension || h->ext_len == 0)
    return;
  if (h->ext_profile == LC_RTP_EXT_ONE_BYTE)
    it->two_byte = false;
  else if ((h->ext_profile & LC_RTP_EXT_TWO_BYTE_MASK) == LC_RTP_EXT_TWO_BYTE)
    it->two_byte = true;
  else
    return;
  it->pos = pkt + h->ext_offset;
  it->end = it->pos + h->ext_len;
}

int
lc_rtp_ext_next(lc_rtp_ext_iter *it, uint8_t *id, const uint8_t **data, size_t *len)
{
  while (it->pos && it->pos < it->end) {
    uint8_t b = *it->pos;
    if (b == 0) { /* padding */
      it->pos++;
      continue;
    }
    size_t n;
    size_t hdr;
    if (!it->two_byte) {
      if ((b >> 4) == 15) { /* reserved: stop processing */
        it->pos = it->end;
        return 0;
      }
      *id = b >> 4;
      n = (size_t)(b & 0x0F) + 1;
      hdr = 1;
    } else {
      if (it->end - it->pos < 2)
        goto bad;
      *id = b;
      n = it->pos[1];
      hdr = 2;
    }
    if ((size_t)(it->end - it->pos) - hdr < n)
      goto bad;
    *data = it->pos + hdr;
    *len = n;
    it->pos += hdr + n;
    return 1;
  }
  return 0;
bad:
  it->pos = it->end;
  return LC_EINVAL;
}

int
lc_rtp_ext_find(const uint8_t *pkt, const lc_rtp_header *h, uint8_t id, size_t *offset, size_t *len)
{
  lc_rtp_ext_iter it;
  uint8_t eid;
  const uint8_t *data;
  size_t n;
  int rc;

  lc_rtp_ext_iter_init(&it, pkt, h);
  while ((rc = lc_rtp_ext_next(&it, &eid, &data, &n)) == 1) {
    if (eid == id) {
      *offset = (size_t)(data - pkt);
      *len = n;
      return 0;
    }
  }
  return rc < 0 ? rc : LC_ENOENT;
}

void
lc_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc)
{
  pkt[8] = (uint8_t)(ssrc >> 24);
  pkt[9] = (uint8_t)(ssrc >> 16);
  pkt[10] = (uint8_t)(ssrc >> 8);
  pkt[11] = (uint8_t)ssrc;
}

void
lc_rtp_set_seq(uint8_t *pkt, uint16_t seq)
{
  pkt[2] = (uint8_t)(seq >> 8);
  pkt[3] = (uint8_t)seq;
}

void
lc_rtp_set_timestamp(uint8_t *pkt, uint32_t ts)
{
  pkt[4] = (uint8_t)(ts >> 24);
  pkt[5] = (uint8_t)(ts >> 16);
  pkt[6] = (uint8_t)(ts >> 8);
  pkt[7] = (uint8_t)ts;
}

void
lc_rtp_set_pt(uint8_t *pkt, uint8_t pt)
{
  pkt[1] = (uint8_t)((pkt[1] & 0x80) | (pt & 0x7F));
}

void
lc_rtp_set_marker(uint8_t *pkt, bool marker)
{
  pkt[1] = (uint8_t)((pkt[1] & 0x7F) | (marker ? 0x80 : 0));
}

static bool
is_key_nal(uint8_t type)
{
  return type == LC_H264_NAL_IDR || type == LC_H264_NAL_SPS;
}

bool
lc_rtp_h264_is_keyframe_start(const uint8_t *payload, size_t len)
{
  if (len < 1 || (payload[0] & 0x80)) /* forbidden_zero_bit */
    return false;
  uint8_t type = payload[0] & 0x1F;
  if (type >= 1 && type <= 23)
    return is_key_nal(type);
  if (type == LC_H264_NAL_STAP_A) {
    size_t off = 1;
    bool key = false;
    while (off < len) {
      if (len - off < 2)
        return false;
      size_t n = lc_rd16(payload + off);
      off += 2;
      if (n == 0 || len - off < n)
        return false;
      if (is_key_nal(payload[off] & 0x1F))
        key = true;
      off += n;
    }
    return key;
  }
  if (type == LC_H264_NAL_FU_A) {
    if (len < 3) /* indicator, header and at least one byte of the fragment */
      return false;
    return (payload[1] & 0x80) && is_key_nal(payload[1] & 0x1F);
  }
  return false;
}

/* RTCP compound walker, parsers and builders. See rtcp.h. */
#include "rtc/rtcp.h"
#include "base/bytes.h"

#include <string.h>

#include "base/errors.h"

#define FB_HEAD 8     /* sender SSRC + media SSRC */
#define BLOCK_LEN 24  /* report block */
#define TWCC_HEAD 16  /* feedback head + base seq, count, ref time, fb count */
#define RTPFB_NACK 1
#define RTPFB_TWCC 15
#define PSFB_PLI 1
#define PSFB_FIR 4
#define PSFB_AFB 15

lc_rtcp_kind
lc_rtcp_classify(const uint8_t *pkt, size_t len)
{
  if (len < 4)
    return LC_RTCP_KIND_OTHER;
  uint8_t fmt = pkt[0] & 0x1F;
  switch (pkt[1]) {
  case LC_RTCP_SR:
    return LC_RTCP_KIND_SR;
  case LC_RTCP_RR:
    return LC_RTCP_KIND_RR;
  case LC_RTCP_SDES:
    return LC_RTCP_KIND_SDES;
  case LC_RTCP_BYE:
    return LC_RTCP_KIND_BYE;
  case LC_RTCP_APP:
    return LC_RTCP_KIND_APP;
  case LC_RTCP_RTPFB:
    if (fmt == RTPFB_NACK)
      return LC_RTCP_KIND_NACK;
    if (fmt == RTPFB_TWCC)
      return LC_RTCP_KIND_TWCC;
    return LC_RTCP_KIND_OTHER;
  case LC_RTCP_PSFB:
    if (fmt == PSFB_PLI)
      return LC_RTCP_KIND_PLI;
    if (fmt == PSFB_FIR)
      return LC_RTCP_KIND_FIR;
    if (fmt == PSFB_AFB && len >= 4 + FB_HEAD + 4 && memcmp(pkt + 4 + FB_HEAD, "REMB", 4) == 0)
      return LC_RTCP_KIND_REMB;
    return LC_RTCP_KIND_OTHER;
  default:
    return LC_RTCP_KIND_OTHER;
  }
}

void
lc_rtcp_iter_init(lc_rtcp_iter *it, const uint8_t *buf, size_t len)
{
  it->buf = buf;
  it->len = len;
  it->off = 0;
}

int
lc_rtcp_iter_next(lc_rtcp_iter *it, lc_rtcp_packet *p)
{
  memset(p, 0, sizeof(*p));
  if (it->off >= it->len)
    return 0;
  const uint8_t *h = it->buf + it->off;
  size_t left = it->len - it->off;
  if (left < 4 || (h[0] >> 6) != 2)
    return LC_EINVAL;
  size_t plen = ((size_t)lc_rd16(h + 2) + 1) * 4;
  if (plen > left)
    return LC_EINVAL;
  size_t pad = 0;
  if (h[0] & 0x20) {
    pad = h[plen - 1];
    if (pad == 0 || pad > plen - 4 || plen != left)
      return LC_EINVAL;
  }
  p->count = h[0] & 0x1F;
  p->pt = h[1];
  p->padding = pad != 0;
  p->data = h;
  p->len = plen;
  p->body_len = plen - 4 - pad;
  p->kind = lc_rtcp_classify(h, 4 + p->body_len);
  it->off += plen;
  return 1;
}

static void
parse_block(const uint8_t *b, lc_rtcp_report_block *out)
{
  out->ssrc = lc_rd32(b);
  out->fraction_lost = b[4];
  uint32_t lost = lc_rd24(b + 5);
  out->cumulative_lost = (lost & 0x800000) ? (int32_t)(lost | 0xFF000000u) : (int32_t)lost;
  out->highest_seq = lc_rd32(b + 8);
  out->jitter = lc_rd32(b + 12);
  out->lsr = lc_rd32(b + 16);
  out->dlsr = lc_rd32(b + 20);
}

int
lc_rtcp_parse_sr(const lc_rtcp_packet *p, lc_rtcp_sr *out)
{
  memset(out, 0, sizeof(*out));
  if (p->pt != LC_RTCP_SR || p->body_len < 24 + (size_t)BLOCK_LEN * p->count)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4;
  out->ssrc = lc_rd32(b);
  out->ntp = ((uint64_t)lc_rd32(b + 4) << 32) | lc_rd32(b + 8);
  out->rtp_ts = lc_rd32(b + 12);
  out->packet_count = lc_rd32(b + 16);
  out->octet_count = lc_rd32(b + 20);
  out->n_blocks = p->count;
  for (unsigned i = 0; i < p->count; i++)
    parse_block(b + 24 + BLOCK_LEN * i, &out->blocks[i]);
  return 0;
}

int
lc_rtcp_parse_rr(const lc_rtcp_packet *p, lc_rtcp_rr *out)
{
  memset(out, 0, sizeof(*out));
  if (p->pt != LC_RTCP_RR || p->body_len < 4 + (size_t)BLOCK_LEN * p->count)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4;
  out->ssrc = lc_rd32(b);
  out->n_blocks = p->count;
  for (unsigned i = 0; i < p->count; i++)
    parse_block(b + 4 + BLOCK_LEN * i, &out->blocks[i]);
  return 0;
}

int
lc_rtcp_parse_bye(const lc_rtcp_packet *p, lc_rtcp_bye *out)
{
  memset(out, 0, sizeof(*out));
  if (p->pt != LC_RTCP_BYE || p->body_len < 4u * p->count)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4;
  out->n_ssrcs = p->count;
  for (unsigned i = 0; i < p->count; i++)
    out->ssrcs[i] = lc_rd32(b + 4 * i);
  size_t off = 4u * p->count;
  if (off < p->body_len) {
    size_t n = b[off];
    if (n > p->body_len - off - 1)
      return LC_EINVAL;
    out->reason = n ? b + off + 1 : NULL;
    out->reason_len = n;
  }
  return 0;
}

int
lc_rtcp_parse_fb(const lc_rtcp_packet *p, lc_rtcp_fb *out)
{
  memset(out, 0, sizeof(*out));
  if ((p->pt != LC_RTCP_RTPFB && p->pt != LC_RTCP_PSFB) || p->body_len < FB_HEAD)
    return LC_EINVAL;
  out->sender_ssrc = lc_rd32(p->data + 4);
  out->media_ssrc = lc_rd32(p->data + 8);
  return 0;
}

int
lc_rtcp_parse_nack(const lc_rtcp_packet *p, lc_rtcp_fb *fb, uint16_t *seqs, size_t cap, size_t *n)
{
  *n = 0;
  if (p->kind != LC_RTCP_KIND_NACK || lc_rtcp_parse_fb(p, fb) != 0)
    return LC_EINVAL;
  size_t fci = p->body_len - FB_HEAD;
  if (fci == 0 || fci % 4 != 0)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4 + FB_HEAD;
  for (size_t off = 0; off < fci; off += 4) {
    uint16_t pid = lc_rd16(b + off);
    uint16_t blp = lc_rd16(b + off + 2);
    if (*n == cap)
      return LC_ETOOBIG;
    seqs[(*n)++] = pid;
    for (int bit = 0; bit < 16; bit++) {
      if (!(blp & (1u << bit)))
        continue;
      if (*n == cap)
        return LC_ETOOBIG;
      seqs[(*n)++] = (uint16_t)(pid + bit + 1);
    }
  }
  return 0;
}

int
lc_rtcp_parse_fir(const lc_rtcp_packet *p, lc_rtcp_fb *fb, lc_rtcp_fir_entry *entries, size_t cap, size_t *n)
{
  *n = 0;
  if (p->kind != LC_RTCP_KIND_FIR || lc_rtcp_parse_fb(p, fb) != 0)
    return LC_EINVAL;
  size_t fci = p->body_len - FB_HEAD;
  if (fci == 0 || fci % 8 != 0)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4 + FB_HEAD;
  for (size_t off = 0; off < fci; off += 8) {
    if (*n == cap)
      return LC_ETOOBIG;
    entries[*n].ssrc = lc_rd32(b + off);
    entries[*n].seq = b[off + 4];
    (*n)++;
  }
  return 0;
}

int
lc_rtcp_parse_remb(const lc_rtcp_packet *p, lc_rtcp_remb *out)
{
  memset(out, 0, sizeof(*out));
  if (p->kind != LC_RTCP_KIND_REMB || p->body_len < FB_HEAD + 8)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4;
  uint8_t num = b[12];
  if (p->body_len < FB_HEAD + 8 + 4u * num)
    return LC_EINVAL;
  out->sender_ssrc = lc_rd32(b);
  unsigned exp = b[13] >> 2;
  uint64_t mantissa = ((uint64_t)(b[13] & 0x03) << 16) | lc_rd16(b + 14);
  /* mantissa < 2^18: mantissa << exp fits in 64 bits while exp <= 46 */
  if (mantissa != 0 && exp > 46 && (mantissa >> (64 - exp)) != 0)
    out->bitrate_bps = UINT64_MAX;
  else
    out->bitrate_bps = mantissa << exp;
  out->n_ssrcs = num;
  for (unsigned i = 0; i < num && i < LC_RTCP_REMB_MAX_SSRCS; i++)
    out->ssrcs[i] = lc_rd32(b + 16 + 4 * i);
  return 0;
}

/* Walks the status chunks of a transport-cc message. Pass 1 (cb == NULL, emit false):
 * validates and returns the offset where deltas end in *end. Pass 2 emits. */
static int
twcc_walk(const uint8_t *body, size_t body_len, const lc_rtcp_twcc *t, bool emit, lc_rtcp_twcc_cb cb,
          void *user, size_t *end)
{
  size_t off = TWCC_HEAD;
  unsigned done = 0;
  /* pass 1 counts delta bytes; pass 2 knows where deltas start from pass 1's *end */
  size_t dpos = emit ? *end : 0;
  size_t dbytes = 0;
  int64_t recv_us = (int64_t)t->reference_time * 64000;

  while (done < t->status_count) {
    if (body_len - off < 2)
      return LC_EINVAL;
    uint16_t chunk = lc_rd16(body + off);
    off += 2;
    unsigned nsym, bits;
    uint8_t run_sym = 0;
    if (!(chunk & 0x8000)) { /* run length */
      run_sym = (chunk >> 13) & 0x03;
      nsym = chunk & 0x1FFF;
      bits = 0;
    } else if (!(chunk & 0x4000)) {
      nsym = 14;
      bits = 1;
    } else {
      nsym = 7;
      bits = 2;
    }
    for (unsigned i = 0; i < nsym && done < t->status_count; i++, done++) {
      uint8_t sym;
      if (bits == 0)
        sym = run_sym;
      else if (bits == 1)
        sym = (chunk >> (13 - i)) & 0x01;
      else
        sym = (chunk >> (12 - 2 * i)) & 0x03;
      if (sym == 3)
        return LC_EINVAL;
      size_t need = sym == LC_TWCC_SMALL_DELTA ? 1 : sym == LC_TWCC_LARGE_DELTA ? 2 : 0;
      if (!emit) {
        dbytes += need;
        continue;
      }
      if (sym == LC_TWCC_SMALL_DELTA)
        recv_us += (int64_t)body[dpos] * 250;
      else if (sym == LC_TWCC_LARGE_DELTA)
        recv_us += (int64_t)(int16_t)lc_rd16(body + dpos) * 250;
      dpos += need;
      if (cb)
        cb(user, (uint16_t)(t->base_seq + done), sym, recv_us);
    }
  }
  if (!emit) {
    if (dbytes > body_len - off)
      return LC_EINVAL;
    *end = off; /* deltas start right after the last chunk */
  }
  return 0;
}

int
lc_rtcp_parse_twcc(const lc_rtcp_packet *p, lc_rtcp_twcc *out, lc_rtcp_twcc_cb cb, void *user)
{
  memset(out, 0, sizeof(*out));
  if (p->kind != LC_RTCP_KIND_TWCC || p->body_len < TWCC_HEAD)
    return LC_EINVAL;
  const uint8_t *b = p->data + 4;
  out->sender_ssrc = lc_rd32(b);
  out->media_ssrc = lc_rd32(b + 4);
  out->base_seq = lc_rd16(b + 8);
  out->status_count = lc_rd16(b + 10);
  uint32_t ref = lc_rd24(b + 12);
  out->reference_time = (ref & 0x800000) ? (int32_t)(ref | 0xFF000000u) : (int32_t)ref;
  out->fb_count = b[15];
  size_t deltas = 0;
  int rc = twcc_walk(b, p->body_len, out, false, NULL, NULL, &deltas);
  if (rc != 0)
    return rc;
  if (cb)
    twcc_walk(b, p->body_len, out, true, cb, user, &deltas);
  return 0;
}

static void
write_header(uint8_t *out, uint8_t count, uint8_t pt, size_t total)
{
  out[0] = (uint8_t)(0x80 | (count & 0x1F));
  out[1] = pt;
  lc_wr16(out + 2, (uint16_t)(total / 4 - 1));
}

int
lc_rtcp_build_sr(uint8_t *out, size_t cap, const lc_rtcp_sr *sr, size_t *out_len)
{
  *out_len = 0;
  if (sr->n_blocks > 31)
    return LC_EINVAL;
  size_t total = 28 + (size_t)BLOCK_LEN * sr->n_blocks;
  if (cap < total)
    return LC_ETOOBIG;
  write_header(out, sr->n_blocks, LC_RTCP_SR, total);
  lc_wr32(out + 4, sr->ssrc);
  lc_wr32(out + 8, (uint32_t)(sr->ntp >> 32));
  lc_wr32(out + 12, (uint32_t)sr->ntp);
  lc_wr32(out + 16, sr->rtp_ts);
  lc_wr32(out + 20, sr->packet_count);
  lc_wr32(out + 24, sr->octet_count);
  for (unsigned i = 0; i < sr->n_blocks; i++) {
    const lc_rtcp_report_block *rb = &sr->blocks[i];
    uint8_t *b = out + 28 + BLOCK_LEN * i;
    uint32_t lost = (uint32_t)rb->cumulative_lost & 0xFFFFFFu;
    if (rb->cumulative_lost > 0x7FFFFF)
      lost = 0x7FFFFF;
    else if (rb->cumulative_lost < -0x800000)
      lost = 0x800000;
    lc_wr32(b, rb->ssrc);
    b[4] = rb->fraction_lost;
    b[5] = (uint8_t)(lost >> 16);
    b[6] = (uint8_t)(lost >> 8);
    b[7] = (uint8_t)lost;
    lc_wr32(b + 8, rb->highest_seq);
    lc_wr32(b + 12, rb->jitter);
    lc_wr32(b + 16, rb->lsr);
    lc_wr32(b + 20, rb->dlsr);
  }
  *out_len = total;
  return 0;
}

int
lc_rtcp_build_nack(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, const uint16_t *seqs,
                   size_t n, size_t *out_len)
{
  *out_len = 0;
  if (n == 0)
    return LC_EINVAL;
  size_t off = 12;
  if (cap < off + 4)
    return LC_ETOOBIG;
  uint16_t pid = seqs[0];
  uint16_t blp = 0;
  for (size_t i = 1; i <= n; i++) {
    if (i < n) {
      uint16_t d = (uint16_t)(seqs[i] - pid);
      if (d == 0)
        continue;
      if (d <= 16) {
        blp |= (uint16_t)(1u << (d - 1));
        continue;
      }
    }
    /* flush the current FCI */
    if (cap - off < 4 || off + 4 > 4 * 65536)
      return LC_ETOOBIG;
    lc_wr16(out + off, pid);
    lc_wr16(out + off + 2, blp);
    off += 4;
    if (i < n) {
      pid = seqs[i];
      blp = 0;
    }
  }
  write_header(out, RTPFB_NACK, LC_RTCP_RTPFB, off);
  lc_wr32(out + 4, sender_ssrc);
  lc_wr32(out + 8, media_ssrc);
  *out_len = off;
  return 0;
}

int
lc_rtcp_build_pli(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, size_t *out_len)
{
  *out_len = 0;
  if (cap < 12)
    return LC_ETOOBIG;
  write_header(out, PSFB_PLI, LC_RTCP_PSFB, 12);
  lc_wr32(out + 4, sender_ssrc);
  lc_wr32(out + 8, media_ssrc);
  *out_len = 12;
  return 0;
}

int
lc_rtcp_build_bye(uint8_t *out, size_t cap, uint32_t sender_ssrc, const uint32_t *ssrcs, size_t n,
                  const char *reason, size_t *out_len)
{
  *out_len = 0;
  size_t rlen = reason ? strlen(reason) : 0;
  if (n == 0 || n > 31 || rlen > 255)
    return LC_EINVAL;
  size_t bye = 4 + 4 * n + (rlen ? (1 + rlen + 3) / 4 * 4 : 0);
  if (cap < 8 + bye)
    return LC_ETOOBIG;
  write_header(out, 0, LC_RTCP_RR, 8);
  lc_wr32(out + 4, sender_ssrc);
  uint8_t *b = out + 8;
  write_header(b, (uint8_t)n, LC_RTCP_BYE, bye);
  for (size_t i = 0; i < n; i++)
    lc_wr32(b + 4 + 4 * i, ssrcs[i]);
  if (rlen) {
    uint8_t *r = b + 4 + 4 * n;
    memset(r, 0, bye - 4 - 4 * n);
    r[0] = (uint8_t)rlen;
    memcpy(r + 1, reason, rlen);
  }
  *out_len = 8 + bye;
  return 0;
}

int
lc_rtcp_build_fir(uint8_t *out, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq,
                  size_t *out_len)
{
  *out_len = 0;
  if (cap < 20)
    return LC_ETOOBIG;
  write_header(out, PSFB_FIR, LC_RTCP_PSFB, 20);
  lc_wr32(out + 4, sender_ssrc);
  lc_wr32(out + 8, 0);
  lc_wr32(out + 12, media_ssrc);
  out[16] = seq;
  out[17] = out[18] = out[19] = 0;
  *out_len = 20;
  return 0;
}

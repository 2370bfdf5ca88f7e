/* RTCP: hand-computed packets for each type, compound walking, truncation at every
 * offset, shortened length fields, builders byte for byte. */
#include <glib.h>
#include <string.h>

#include "base/errors.h"
#include "rtc/rtcp.h"

/* SR: ssrc 0x11223344, NTP 0xe8000000.80000000, rtp ts 90000, 100 packets, 100000 octets. */
static const uint8_t SR[] = {0x80, 0xc8, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0xe8, 0x00, 0x00, 0x00, 0x80, 0x00,
                             0x00, 0x00, 0x00, 0x01, 0x5f, 0x90, 0x00, 0x00, 0x00, 0x64, 0x00, 0x01, 0x86, 0xa0};
/* RR from 0xaabbccdd with one block about 0x11223344: fraction 16/256, cumulative -2,
 * highest seq 0x11234, jitter 32, LSR 0x12345678, DLSR 0x8000 (0.5 s). */
static const uint8_t RR[] = {0x81, 0xc9, 0x00, 0x07, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33,
                             0x44, 0x10, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x12, 0x34, 0x00, 0x00,
                             0x00, 0x20, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x80, 0x00};
/* SDES: CNAME "abcd" for 0xaabbccdd. */
static const uint8_t SDES[] = {0x81, 0xca, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd,
                               0x01, 0x04, 'a',  'b',  'c',  'd',  0x00, 0x00};
/* BYE: 0x11223344, reason "gone". */
static const uint8_t BYE[] = {0x81, 0xcb, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44,
                              0x04, 'g',  'o',  'n',  'e',  0x00, 0x00, 0x00};
/* Generic NACK: PID 100, BLP 0x8005 -> 100, 101, 103, 116. */
static const uint8_t NACK[] = {0x81, 0xcd, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd,
                               0x11, 0x22, 0x33, 0x44, 0x00, 0x64, 0x80, 0x05};
static const uint8_t PLI[] = {0x81, 0xce, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44};
/* FIR: media SSRC field 0, FCI 0x11223344 seq 7. */
static const uint8_t FIR[] = {0x84, 0xce, 0x00, 0x04, 0xaa, 0xbb, 0xcc, 0xdd, 0x00, 0x00,
                              0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x07, 0x00, 0x00, 0x00};
/* REMB: 1 SSRC, exp 2, mantissa 250000 -> 1,000,000 bps. */
static const uint8_t REMB[] = {0x8f, 0xce, 0x00, 0x05, 0xaa, 0xbb, 0xcc, 0xdd, 0x00, 0x00, 0x00, 0x00,
                               'R',  'E',  'M',  'B',  0x01, 0x0b, 0xd0, 0x90, 0x11, 0x22, 0x33, 0x44};
/* transport-cc: base 10, 5 packets, reference time 256 (16.384 s), fb count 3; one 2-bit
 * status vector chunk [1,0,2,1,1,(0,0)] = 0xd250; deltas 4, -8 (2 bytes), 255, 0; 1 pad byte. */
static const uint8_t TWCC1[] = {0x8f, 0xcd, 0x00, 0x06, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44, 0x00, 0x0a,
                                0x00, 0x05, 0x00, 0x01, 0x00, 0x03, 0xd2, 0x50, 0x04, 0xff, 0xf8, 0xff, 0x00, 0x00};
/* transport-cc across the wrap: base 65534, 20 packets, reference -1 (-64 ms), fb count 1;
 * run of 3 "small delta" (0x2003), 1-bit vector 1,0x12,1 (0xa001), run of 3 "not
 * received" (0x0003); five 1-byte deltas of 250 us; 1 pad byte. */
static const uint8_t TWCC2[] = {0x8f, 0xcd, 0x00, 0x07, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33,
                                0x44, 0xff, 0xfe, 0x00, 0x14, 0xff, 0xff, 0xff, 0x01, 0x20, 0x03,
                                0xa0, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00};

static lc_rtcp_packet
one(const uint8_t *buf, size_t len)
{
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, buf, len);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 1);
  g_assert_cmpint(p.len, ==, len);
  lc_rtcp_packet end;
  g_assert_cmpint(lc_rtcp_iter_next(&it, &end), ==, 0);
  return p;
}

static void
test_sr_rr(void)
{
  lc_rtcp_packet p = one(SR, sizeof(SR));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_SR);
  lc_rtcp_sr sr;
  g_assert_cmpint(lc_rtcp_parse_sr(&p, &sr), ==, 0);
  g_assert_cmphex(sr.ssrc, ==, 0x11223344);
  g_assert_cmphex(sr.ntp, ==, 0xe800000080000000ull);
  g_assert_cmpuint(sr.rtp_ts, ==, 90000);
  g_assert_cmpuint(sr.packet_count, ==, 100);
  g_assert_cmpuint(sr.octet_count, ==, 100000);
  g_assert_cmpint(sr.n_blocks, ==, 0);
  uint8_t out[256];
  size_t n;
  g_assert_cmpint(lc_rtcp_build_sr(out, sizeof(out), &sr, &n), ==, 0);
  g_assert_cmpmem(out, n, SR, sizeof(SR));
  g_assert_cmpint(lc_rtcp_build_sr(out, sizeof(SR) - 1, &sr, &n), ==, LC_ETOOBIG);

  p = one(RR, sizeof(RR));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_RR);
  lc_rtcp_rr rr;
  g_assert_cmpint(lc_rtcp_parse_rr(&p, &rr), ==, 0);
  g_assert_cmphex(rr.ssrc, ==, 0xaabbccdd);
  g_assert_cmpint(rr.n_blocks, ==, 1);
  g_assert_cmphex(rr.blocks[0].ssrc, ==, 0x11223344);
  g_assert_cmpint(rr.blocks[0].fraction_lost, ==, 16);
  g_assert_cmpint(rr.blocks[0].cumulative_lost, ==, -2);
  g_assert_cmphex(rr.blocks[0].highest_seq, ==, 0x11234);
  g_assert_cmpuint(rr.blocks[0].jitter, ==, 32);
  g_assert_cmphex(rr.blocks[0].lsr, ==, 0x12345678);
  g_assert_cmphex(rr.blocks[0].dlsr, ==, 0x8000);
  g_assert_cmpint(lc_rtcp_parse_sr(&p, &sr), ==, LC_EINVAL); /* wrong type */

  /* SR with that report block, built then parsed back */
  sr.n_blocks = 1;
  sr.blocks[0] = rr.blocks[0];
  g_assert_cmpint(lc_rtcp_build_sr(out, sizeof(out), &sr, &n), ==, 0);
  g_assert_cmpint(n, ==, 52);
  g_assert_cmpmem(out + 28, 24, RR + 8, 24);
  p = one(out, n);
  lc_rtcp_sr back;
  g_assert_cmpint(lc_rtcp_parse_sr(&p, &back), ==, 0);
  g_assert_cmpint(back.n_blocks, ==, 1);
  g_assert_cmpint(back.blocks[0].cumulative_lost, ==, -2);
}

static void
test_sdes_bye(void)
{
  lc_rtcp_packet p = one(SDES, sizeof(SDES));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_SDES);
  p = one(BYE, sizeof(BYE));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_BYE);
  lc_rtcp_bye bye;
  g_assert_cmpint(lc_rtcp_parse_bye(&p, &bye), ==, 0);
  g_assert_cmpint(bye.n_ssrcs, ==, 1);
  g_assert_cmphex(bye.ssrcs[0], ==, 0x11223344);
  g_assert_cmpmem(bye.reason, bye.reason_len, "gone", 4);
}

static void
test_nack(void)
{
  lc_rtcp_packet p = one(NACK, sizeof(NACK));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_NACK);
  lc_rtcp_fb fb;
  uint16_t seqs[64];
  size_t n;
  g_assert_cmpint(lc_rtcp_parse_nack(&p, &fb, seqs, G_N_ELEMENTS(seqs), &n), ==, 0);
  g_assert_cmphex(fb.sender_ssrc, ==, 0xaabbccdd);
  g_assert_cmphex(fb.media_ssrc, ==, 0x11223344);
  static const uint16_t want[] = {100, 101, 103, 116};
  g_assert_cmpmem(seqs, n * 2, want, sizeof(want));
  /* cap: the first 2 stored, ETOOBIG */
  g_assert_cmpint(lc_rtcp_parse_nack(&p, &fb, seqs, 2, &n), ==, LC_ETOOBIG);
  g_assert_cmpint(n, ==, 2);
  g_assert_cmpint(seqs[1], ==, 101);

  uint8_t out[64];
  size_t len;
  g_assert_cmpint(lc_rtcp_build_nack(out, sizeof(out), 0xaabbccdd, 0x11223344, want, 4, &len), ==, 0);
  g_assert_cmpmem(out, len, NACK, sizeof(NACK));
  /* across the wrap, a duplicate, and a gap > 16 starting a second FCI */
  static const uint16_t wrap[] = {65534, 65535, 65535, 0, 20};
  g_assert_cmpint(lc_rtcp_build_nack(out, sizeof(out), 1, 2, wrap, 5, &len), ==, 0);
  g_assert_cmpint(len, ==, 20);
  g_assert_cmpmem(out + 12, 8, "\xff\xfe\x00\x03\x00\x14\x00\x00", 8);
  p = one(out, len);
  g_assert_cmpint(lc_rtcp_parse_nack(&p, &fb, seqs, G_N_ELEMENTS(seqs), &n), ==, 0);
  static const uint16_t wrap_back[] = {65534, 65535, 0, 20};
  g_assert_cmpmem(seqs, n * 2, wrap_back, sizeof(wrap_back));
  g_assert_cmpint(lc_rtcp_build_nack(out, 19, 1, 2, wrap, 5, &len), ==, LC_ETOOBIG);
  g_assert_cmpint(lc_rtcp_build_nack(out, sizeof(out), 1, 2, wrap, 0, &len), ==, LC_EINVAL);
}

/* The goodbye compound: an empty RR, then a BYE our own walker and parser read back. */
static void
test_build_bye(void)
{
  uint8_t out[128];
  size_t len;
  const uint32_t ssrcs[] = {0x01020304, 0xa0b0c0d0};
  g_assert_cmpint(lc_rtcp_build_bye(out, sizeof(out), 0x01020304, ssrcs, 2, "session ended", &len), ==, 0);
  g_assert_cmpuint(len % 4, ==, 0);
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, out, len);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 1);
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_RR);
  lc_rtcp_rr rr;
  g_assert_cmpint(lc_rtcp_parse_rr(&p, &rr), ==, 0);
  g_assert_cmphex(rr.ssrc, ==, 0x01020304);
  g_assert_cmpuint(rr.n_blocks, ==, 0);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 1);
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_BYE);
  lc_rtcp_bye bye;
  g_assert_cmpint(lc_rtcp_parse_bye(&p, &bye), ==, 0);
  g_assert_cmpuint(bye.n_ssrcs, ==, 2);
  g_assert_cmphex(bye.ssrcs[1], ==, 0xa0b0c0d0);
  g_assert_cmpmem(bye.reason, bye.reason_len, "session ended", 13);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 0);
  /* no reason; limits */
  g_assert_cmpint(lc_rtcp_build_bye(out, sizeof(out), 1, ssrcs, 1, NULL, &len), ==, 0);
  g_assert_cmpuint(len, ==, 16);
  g_assert_cmpint(lc_rtcp_build_bye(out, 15, 1, ssrcs, 1, NULL, &len), ==, LC_ETOOBIG);
  g_assert_cmpint(lc_rtcp_build_bye(out, sizeof(out), 1, ssrcs, 0, NULL, &len), ==, LC_EINVAL);
}

static void
test_pli_fir(void)
{
  lc_rtcp_packet p = one(PLI, sizeof(PLI));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_PLI);
  lc_rtcp_fb fb;
  g_assert_cmpint(lc_rtcp_parse_fb(&p, &fb), ==, 0);
  g_assert_cmphex(fb.media_ssrc, ==, 0x11223344);
  uint8_t out[64];
  size_t len;
  g_assert_cmpint(lc_rtcp_build_pli(out, sizeof(out), 0xaabbccdd, 0x11223344, &len), ==, 0);
  g_assert_cmpmem(out, len, PLI, sizeof(PLI));

  p = one(FIR, sizeof(FIR));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_FIR);
  lc_rtcp_fir_entry e[4];
  size_t n;
  g_assert_cmpint(lc_rtcp_parse_fir(&p, &fb, e, 4, &n), ==, 0);
  g_assert_cmpint(n, ==, 1);
  g_assert_cmphex(e[0].ssrc, ==, 0x11223344);
  g_assert_cmpint(e[0].seq, ==, 7);
  g_assert_cmpint(lc_rtcp_build_fir(out, sizeof(out), 0xaabbccdd, 0x11223344, 7, &len), ==, 0);
  g_assert_cmpmem(out, len, FIR, sizeof(FIR));
  g_assert_cmpint(lc_rtcp_build_fir(out, 19, 1, 2, 3, &len), ==, LC_ETOOBIG);
}

static void
test_remb(void)
{
  lc_rtcp_packet p = one(REMB, sizeof(REMB));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_REMB);
  lc_rtcp_remb r;
  g_assert_cmpint(lc_rtcp_parse_remb(&p, &r), ==, 0);
  g_assert_cmpuint(r.bitrate_bps, ==, 1000000);
  g_assert_cmpint(r.n_ssrcs, ==, 1);
  g_assert_cmphex(r.ssrcs[0], ==, 0x11223344);
  /* exp 63, mantissa max: saturates */
  uint8_t big[sizeof(REMB)];
  memcpy(big, REMB, sizeof(REMB));
  big[17] = 0xff;
  big[18] = 0xff;
  big[19] = 0xff;
  p = one(big, sizeof(big));
  g_assert_cmpint(lc_rtcp_parse_remb(&p, &r), ==, 0);
  g_assert_cmpuint(r.bitrate_bps, ==, UINT64_MAX);
  /* AFB that is not REMB */
  memcpy(big, REMB, sizeof(REMB));
  big[12] = 'X';
  p = one(big, sizeof(big));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_OTHER);
  g_assert_cmpint(lc_rtcp_parse_remb(&p, &r), ==, LC_EINVAL);
  /* more SSRCs announced than present */
  memcpy(big, REMB, sizeof(REMB));
  big[16] = 2;
  p = one(big, sizeof(big));
  g_assert_cmpint(lc_rtcp_parse_remb(&p, &r), ==, LC_EINVAL);
}

typedef struct {
  uint16_t seq[32];
  int status[32];
  int64_t recv[32];
  int n;
} twcc_log;

static void
twcc_collect(void *user, uint16_t seq, int status, int64_t recv_us)
{
  twcc_log *l = user;
  g_assert_cmpint(l->n, <, 32);
  l->seq[l->n] = seq;
  l->status[l->n] = status;
  l->recv[l->n] = recv_us;
  l->n++;
}

static void
test_twcc(void)
{
  lc_rtcp_packet p = one(TWCC1, sizeof(TWCC1));
  g_assert_cmpint(p.kind, ==, LC_RTCP_KIND_TWCC);
  lc_rtcp_twcc t;
  twcc_log l = {0};
  g_assert_cmpint(lc_rtcp_parse_twcc(&p, &t, twcc_collect, &l), ==, 0);
  g_assert_cmpint(t.base_seq, ==, 10);
  g_assert_cmpint(t.status_count, ==, 5);
  g_assert_cmpint(t.reference_time, ==, 256);
  g_assert_cmpint(t.fb_count, ==, 3);
  g_assert_cmpint(l.n, ==, 5);
  static const int st[] = {1, 0, 2, 1, 1};
  static const int64_t rt[] = {16385000, 0, 16383000, 16446750, 16446750};
  for (int i = 0; i < 5; i++) {
    g_assert_cmpint(l.seq[i], ==, 10 + i);
    g_assert_cmpint(l.status[i], ==, st[i]);
    if (st[i])
      g_assert_cmpint(l.recv[i], ==, rt[i]);
  }

  p = one(TWCC2, sizeof(TWCC2));
  memset(&l, 0, sizeof(l));
  g_assert_cmpint(lc_rtcp_parse_twcc(&p, &t, twcc_collect, &l), ==, 0);
  g_assert_cmpint(t.reference_time, ==, -1);
  g_assert_cmpint(l.n, ==, 20);
  int received = 0;
  int64_t expect = -64000;
  for (int i = 0; i < 20; i++) {
    g_assert_cmpint(l.seq[i], ==, (uint16_t)(65534 + i));
    bool got = i < 3 || i == 3 || i == 16;
    g_assert_cmpint(l.status[i], ==, got ? LC_TWCC_SMALL_DELTA : LC_TWCC_NOT_RECEIVED);
    if (got) {
      expect += 250;
      g_assert_cmpint(l.recv[i], ==, expect);
      received++;
    }
  }
  g_assert_cmpint(received, ==, 5);

  /* status count beyond the chunks, a missing delta, a reserved symbol: rejected, no callback */
  uint8_t bad[sizeof(TWCC2)];
  memcpy(bad, TWCC2, sizeof(bad));
  bad[15] = 40;
  p = one(bad, sizeof(bad));
  memset(&l, 0, sizeof(l));
  g_assert_cmpint(lc_rtcp_parse_twcc(&p, &t, twcc_collect, &l), ==, LC_EINVAL);
  g_assert_cmpint(l.n, ==, 0);
  memcpy(bad, TWCC1, sizeof(TWCC1));
  bad[21] = 0x55; /* symbols 1,0,2,1,1,1,1 */
  bad[15] = 7;    /* all 7 used: deltas need 1+2+1+1+1+1 = 7 bytes, the body has 6 */
  p = one(bad, sizeof(TWCC1));
  g_assert_cmpint(lc_rtcp_parse_twcc(&p, &t, NULL, NULL), ==, LC_EINVAL);
  memcpy(bad, TWCC1, sizeof(TWCC1));
  bad[20] = 0xf2; /* first 2-bit symbol 3: reserved */
  p = one(bad, sizeof(TWCC1));
  g_assert_cmpint(lc_rtcp_parse_twcc(&p, &t, NULL, NULL), ==, LC_EINVAL);
}

static void
test_compound_and_padding(void)
{
  GByteArray *c = g_byte_array_new();
  g_byte_array_append(c, RR, sizeof(RR));
  g_byte_array_append(c, SDES, sizeof(SDES));
  g_byte_array_append(c, NACK, sizeof(NACK));
  g_byte_array_append(c, PLI, sizeof(PLI));
  g_byte_array_append(c, REMB, sizeof(REMB));
  g_byte_array_append(c, TWCC1, sizeof(TWCC1));
  /* a padded PLI last: P bit, 4 padding bytes */
  static const uint8_t padded[] = {0xa1, 0xce, 0x00, 0x03, 0xaa, 0xbb, 0xcc, 0xdd,
                                   0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x04};
  g_byte_array_append(c, padded, sizeof(padded));
  static const lc_rtcp_kind kinds[] = {LC_RTCP_KIND_RR,   LC_RTCP_KIND_SDES, LC_RTCP_KIND_NACK, LC_RTCP_KIND_PLI,
                                       LC_RTCP_KIND_REMB, LC_RTCP_KIND_TWCC, LC_RTCP_KIND_PLI};
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, c->data, c->len);
  for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
    g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 1);
    g_assert_cmpint(p.kind, ==, kinds[i]);
  }
  g_assert_true(p.padding);
  g_assert_cmpint(p.body_len, ==, 8);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 0);

  /* every truncation of the compound fails exactly at the cut packet */
  for (size_t n = 1; n < c->len; n++) {
    lc_rtcp_iter_init(&it, c->data, n);
    int rc;
    size_t walked = 0;
    while ((rc = lc_rtcp_iter_next(&it, &p)) == 1)
      walked += p.len;
    g_assert_cmpint(walked, <=, n);
    g_assert_cmpint(rc, ==, walked == n ? 0 : LC_EINVAL);
  }
  /* padding on a packet that is not last */
  GByteArray *d = g_byte_array_new();
  g_byte_array_append(d, padded, sizeof(padded));
  g_byte_array_append(d, PLI, sizeof(PLI));
  lc_rtcp_iter_init(&it, d->data, d->len);
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, LC_EINVAL);
  /* version 1 */
  uint8_t v1[sizeof(PLI)];
  memcpy(v1, PLI, sizeof(PLI));
  v1[0] = 0x41;
  lc_rtcp_iter_init(&it, v1, sizeof(v1));
  g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, LC_EINVAL);
  g_byte_array_unref(c);
  g_byte_array_unref(d);
}

/* Each fixture with its length field shortened to every smaller value: the parser of its
 * type rejects it (BYE without its reason is still a valid BYE). */
static void
test_short_length_fields(void)
{
  static const struct {
    const uint8_t *p;
    size_t len;
  } fx[] = {{SR, sizeof(SR)},   {RR, sizeof(RR)},     {NACK, sizeof(NACK)},   {PLI, sizeof(PLI)},
            {FIR, sizeof(FIR)}, {REMB, sizeof(REMB)}, {TWCC1, sizeof(TWCC1)}, {TWCC2, sizeof(TWCC2)},
            {BYE, sizeof(BYE)}};
  for (size_t f = 0; f < G_N_ELEMENTS(fx); f++) {
    uint8_t buf[64];
    memcpy(buf, fx[f].p, fx[f].len);
    for (unsigned words = 0; words + 1 < fx[f].len / 4; words++) {
      buf[2] = 0;
      buf[3] = (uint8_t)words;
      lc_rtcp_iter it;
      lc_rtcp_packet p;
      lc_rtcp_iter_init(&it, buf, fx[f].len);
      g_assert_cmpint(lc_rtcp_iter_next(&it, &p), ==, 1);
      g_assert_cmpint(p.len, ==, (words + 1) * 4);
      int rc;
      lc_rtcp_fb fb;
      uint16_t seqs[32];
      lc_rtcp_fir_entry e[4];
      size_t n;
      lc_rtcp_sr sr;
      lc_rtcp_rr rr;
      lc_rtcp_bye bye;
      lc_rtcp_remb remb;
      lc_rtcp_twcc tw;
      switch (fx[f].p[1]) {
      case LC_RTCP_SR:
        rc = lc_rtcp_parse_sr(&p, &sr);
        break;
      case LC_RTCP_RR:
        rc = lc_rtcp_parse_rr(&p, &rr);
        break;
      case LC_RTCP_BYE:
        rc = lc_rtcp_parse_bye(&p, &bye);
        if (words == 1) {
          g_assert_cmpint(rc, ==, 0);
          g_assert_null(bye.reason);
          continue;
        }
        break;
      default:
        if (fx[f].p == NACK)
          rc = lc_rtcp_parse_nack(&p, &fb, seqs, 32, &n);
        else if (fx[f].p == PLI)
          rc = lc_rtcp_parse_fb(&p, &fb);
        else if (fx[f].p == FIR)
          rc = lc_rtcp_parse_fir(&p, &fb, e, 4, &n);
        else if (fx[f].p == REMB)
          rc = lc_rtcp_parse_remb(&p, &remb);
        else
          rc = lc_rtcp_parse_twcc(&p, &tw, NULL, NULL);
      }
      g_assert_cmpint(rc, ==, LC_EINVAL);
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtcp/sr-rr", test_sr_rr);
  g_test_add_func("/rtcp/sdes-bye", test_sdes_bye);
  g_test_add_func("/rtcp/nack", test_nack);
  g_test_add_func("/rtcp/pli-fir", test_pli_fir);
  g_test_add_func("/rtcp/build-bye", test_build_bye);
  g_test_add_func("/rtcp/remb", test_remb);
  g_test_add_func("/rtcp/twcc", test_twcc);
  g_test_add_func("/rtcp/compound-and-padding", test_compound_and_padding);
  g_test_add_func("/rtcp/short-length-fields", test_short_length_fields);
  return g_test_run();
}

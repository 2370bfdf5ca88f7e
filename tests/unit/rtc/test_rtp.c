/* RTP: header fields, RFC 8285 extensions, bounds at every length, rewrites, H.264 keyframes. */
#include <glib.h>
#include <string.h>

#include "base/errors.h"
#include "rtc/rtp.h"

/* V=2 X=1 CC=1, M=1 PT=102, seq 0x1234, ts 0xdeadbeef, ssrc 0x11223344, csrc 0x55667788,
 * one-byte extension (2 words): id 3 len 2 (TWCC seq 0x0102), padding, id 1 len 1 (0xaa 0xbb),
 * then payload "PAYLOAD" with no padding. */
static const uint8_t PKT[] = {
  0x91, 0xe6, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
  0xbe, 0xde, 0x00, 0x02, 0x31, 0x01, 0x02, 0x00, 0x11, 0xaa, 0xbb, 0x00, 'P',  'A',  'Y',  'L',
  'O',  'A',  'D',
};

static void
test_parse_fields(void)
{
  lc_rtp_header h;
  g_assert_cmpint(lc_rtp_parse(PKT, sizeof(PKT), &h), ==, 0);
  g_assert_cmpint(h.version, ==, 2);
  g_assert_false(h.padding);
  g_assert_true(h.extension);
  g_assert_cmpint(h.csrc_count, ==, 1);
  g_assert_cmphex(h.csrc[0], ==, 0x55667788);
  g_assert_true(h.marker);
  g_assert_cmpint(h.pt, ==, 102);
  g_assert_cmphex(h.seq, ==, 0x1234);
  g_assert_cmphex(h.ts, ==, 0xdeadbeef);
  g_assert_cmphex(h.ssrc, ==, 0x11223344);
  g_assert_cmphex(h.ext_profile, ==, 0xBEDE);
  g_assert_cmpint(h.ext_offset, ==, 20);
  g_assert_cmpint(h.ext_len, ==, 8);
  g_assert_cmpint(h.header_len, ==, 28);
  g_assert_cmpint(h.payload_len, ==, 7);
  g_assert_cmpmem(PKT + h.header_len, h.payload_len, "PAYLOAD", 7);

  lc_rtp_ext_iter it;
  uint8_t id;
  const uint8_t *d;
  size_t n;
  lc_rtp_ext_iter_init(&it, PKT, &h);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 1);
  g_assert_cmpint(id, ==, 3);
  g_assert_cmpint(n, ==, 2);
  g_assert_cmpmem(d, 2, "\x01\x02", 2);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 1);
  g_assert_cmpint(id, ==, 1);
  g_assert_cmpmem(d, n, "\xaa\xbb", 2);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 0);

  size_t off, len;
  g_assert_cmpint(lc_rtp_ext_find(PKT, &h, 3, &off, &len), ==, 0);
  g_assert_cmpint(off, ==, 21);
  g_assert_cmpint(len, ==, 2);
  g_assert_cmpint(lc_rtp_ext_find(PKT, &h, 7, &off, &len), ==, LC_ENOENT);
}

static void
test_two_byte_and_padding(void)
{
  /* X=1, P=1; two-byte profile 0x1000, 2 words: id 5 len 3, id 200 len 0, pad; payload 2
   * bytes, then 3 padding bytes (count 3). */
  static const uint8_t p[] = {0xb0, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2, 0x10, 0x00, 0x00, 0x02,
                              5,    3,    'a',  'b',  'c', 200, 0, 0, 'x', 'y', 0, 0, 3};
  lc_rtp_header h;
  g_assert_cmpint(lc_rtp_parse(p, sizeof(p), &h), ==, 0);
  g_assert_true(h.padding);
  g_assert_cmpint(h.padding_len, ==, 3);
  g_assert_cmpint(h.header_len, ==, 24);
  g_assert_cmpint(h.payload_len, ==, 2);
  g_assert_false(h.marker);
  g_assert_cmpint(h.pt, ==, 96);
  lc_rtp_ext_iter it;
  uint8_t id;
  const uint8_t *d;
  size_t n;
  lc_rtp_ext_iter_init(&it, p, &h);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 1);
  g_assert_cmpint(id, ==, 5);
  g_assert_cmpmem(d, n, "abc", 3);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 1);
  g_assert_cmpint(id, ==, 200);
  g_assert_cmpint(n, ==, 0);
  g_assert_cmpint(lc_rtp_ext_next(&it, &id, &d, &n), ==, 0);

  /* padding count 0 and larger than the packet are rejected */
  uint8_t q[sizeof(p)];
  memcpy(q, p, sizeof(p));
  q[sizeof(q) - 1] = 0;
  g_assert_cmpint(lc_rtp_parse(q, sizeof(q), &h), ==, LC_EINVAL);
  q[sizeof(q) - 1] = 6; /* payload 2 + padding 3 = 5 bytes after the header */
  g_assert_cmpint(lc_rtp_parse(q, sizeof(q), &h), ==, LC_EINVAL);
  q[sizeof(q) - 1] = 5;
  g_assert_cmpint(lc_rtp_parse(q, sizeof(q), &h), ==, 0);
  g_assert_cmpint(h.payload_len, ==, 0);
}

static void
test_malformed_extensions(void)
{
  /* one-byte element claiming 16 bytes in a 4-byte block */
  static const uint8_t p[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0x00, 0x01, 0x1f, 1, 2, 3};
  lc_rtp_header h;
  g_assert_cmpint(lc_rtp_parse(p, sizeof(p), &h), ==, 0);
  size_t off, len;
  g_assert_cmpint(lc_rtp_ext_find(p, &h, 1, &off, &len), ==, LC_EINVAL);
  /* id 15 stops the walk */
  static const uint8_t q[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0x00, 0x01, 0xf0, 0x10, 0xaa, 0};
  g_assert_cmpint(lc_rtp_parse(q, sizeof(q), &h), ==, 0);
  g_assert_cmpint(lc_rtp_ext_find(q, &h, 1, &off, &len), ==, LC_ENOENT);
  /* unknown profile: no elements */
  static const uint8_t r[] = {0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x12, 0x34, 0x00, 0x01, 0x10, 0xaa, 0, 0};
  g_assert_cmpint(lc_rtp_parse(r, sizeof(r), &h), ==, 0);
  g_assert_cmphex(h.ext_profile, ==, 0x1234);
  g_assert_cmpint(lc_rtp_ext_find(r, &h, 1, &off, &len), ==, LC_ENOENT);
}

static void
test_truncated_everywhere(void)
{
  lc_rtp_header h;
  /* every prefix shorter than the header + extension is rejected; longer ones parse */
  for (size_t n = 0; n <= sizeof(PKT); n++) {
    int rc = lc_rtp_parse(PKT, n, &h);
    if (n < 28)
      g_assert_cmpint(rc, ==, LC_EINVAL);
    else
      g_assert_cmpint(rc, ==, 0);
  }
  uint8_t v1[12] = {0x40};
  g_assert_cmpint(lc_rtp_parse(v1, sizeof(v1), &h), ==, LC_EINVAL); /* version 1 */
  uint8_t cc15[12] = {0x8f};
  g_assert_cmpint(lc_rtp_parse(cc15, sizeof(cc15), &h), ==, LC_EINVAL); /* 15 CSRCs missing */
}

static void
test_rewrite(void)
{
  uint8_t p[sizeof(PKT)];
  memcpy(p, PKT, sizeof(PKT));
  lc_rtp_set_ssrc(p, 0xcafebabe);
  lc_rtp_set_seq(p, 0xfffe);
  lc_rtp_set_timestamp(p, 90000);
  lc_rtp_set_pt(p, 96);
  lc_rtp_header h;
  g_assert_cmpint(lc_rtp_parse(p, sizeof(p), &h), ==, 0);
  g_assert_cmphex(h.ssrc, ==, 0xcafebabe);
  g_assert_cmphex(h.seq, ==, 0xfffe);
  g_assert_cmpuint(h.ts, ==, 90000);
  g_assert_cmpint(h.pt, ==, 96);
  g_assert_true(h.marker); /* kept */
  lc_rtp_set_marker(p, false);
  g_assert_cmphex(p[1], ==, 96);
  /* nothing else moved */
  g_assert_cmpmem(p + 12, sizeof(p) - 12, PKT + 12, sizeof(PKT) - 12);
  g_assert_cmphex(p[0], ==, PKT[0]);
  g_assert_cmpint(lc_rtp_seq_diff(0xfffe, 2), ==, 4);
  g_assert_cmpint(lc_rtp_seq_diff(2, 0xfffe), ==, -4);
}

static void
test_h264_keyframes(void)
{
  /* single NAL units */
  g_assert_true(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x65\x88", 2));  /* IDR */
  g_assert_true(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x67\x42", 2));  /* SPS */
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x68\xce", 2)); /* PPS */
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x41\x9a", 2)); /* P slice */
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\xe5\x88", 2)); /* forbidden bit */
  g_assert_false(lc_rtp_h264_is_keyframe_start(NULL, 0));
  /* STAP-A: SPS(3 bytes) + PPS(2 bytes) */
  static const uint8_t stap[] = {0x78, 0x00, 0x03, 0x67, 0x42, 0xc0, 0x00, 0x02, 0x68, 0xce};
  g_assert_true(lc_rtp_h264_is_keyframe_start(stap, sizeof(stap)));
  for (size_t n = 1; n < sizeof(stap); n++)
    if (n != 6) /* 6 = exactly the SPS unit: a complete STAP-A with one unit */
      g_assert_false(lc_rtp_h264_is_keyframe_start(stap, n));
  g_assert_true(lc_rtp_h264_is_keyframe_start(stap, 6));
  static const uint8_t stap_pps[] = {0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x41, 0x9a};
  g_assert_false(lc_rtp_h264_is_keyframe_start(stap_pps, sizeof(stap_pps)));
  /* FU-A: start of an IDR, middle of an IDR, start of a P slice */
  g_assert_true(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x7c\x85\x00", 3));
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x7c\x05\x00", 3));
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x5c\x81\x00", 3));
  g_assert_false(lc_rtp_h264_is_keyframe_start((const uint8_t *)"\x7c\x85", 2));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtp/parse-fields", test_parse_fields);
  g_test_add_func("/rtp/two-byte-and-padding", test_two_byte_and_padding);
  g_test_add_func("/rtp/malformed-extensions", test_malformed_extensions);
  g_test_add_func("/rtp/truncated-everywhere", test_truncated_everywhere);
  g_test_add_func("/rtp/rewrite", test_rewrite);
  g_test_add_func("/rtp/h264-keyframes", test_h264_keyframes);
  return g_test_run();
}

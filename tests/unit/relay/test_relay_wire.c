/* The relay's wire format (pipelines/relay/relay_wire.h): every message type written and parsed
 * back, what the parser refuses (truncation at every length, repeats, bad names and strings,
 * trailing bytes, non-RTP data), what the writers refuse (does not fit), and the signed
 * connection request (round trip, wrong secret, clock skew both ways, tampering, malformed). */
#include <glib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "base/errors.h"
#include "relay/relay_wire.h"

#define SECRET "0123456789abcdef-relay"

static lc_relay_rendition
rend(uint8_t index, const char *name, bool video)
{
  lc_relay_rendition d = {0};
  d.index = index;
  d.kind = video ? 0 : 1;
  d.payload_type = video ? 96 : 111;
  d.channels = video ? 0 : 2;
  d.live = true;
  d.clock_rate = video ? 90000 : 48000;
  d.width = video ? 1280 : 0;
  d.height = video ? 720 : 0;
  d.bitrate_kbps = video ? 2500 : 64;
  g_strlcpy(d.name, name, sizeof d.name);
  if (video)
    g_strlcpy(d.fmtp, "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1", sizeof d.fmtp);
  return d;
}

static void
assert_rend_eq(const lc_relay_rendition *a, const lc_relay_rendition *b)
{
  g_assert_cmpuint(a->index, ==, b->index);
  g_assert_cmpuint(a->kind, ==, b->kind);
  g_assert_cmpuint(a->payload_type, ==, b->payload_type);
  g_assert_cmpuint(a->channels, ==, b->channels);
  g_assert_cmpint(a->live, ==, b->live);
  g_assert_cmpuint(a->clock_rate, ==, b->clock_rate);
  g_assert_cmpuint(a->width, ==, b->width);
  g_assert_cmpuint(a->height, ==, b->height);
  g_assert_cmpuint(a->bitrate_kbps, ==, b->bitrate_kbps);
  g_assert_cmpstr(a->name, ==, b->name);
  g_assert_cmpstr(a->fmtp, ==, b->fmtp);
}

/* Parses buf and expects LC_EINVAL with a reason. */
static void
assert_bad(const uint8_t *buf, size_t len)
{
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, LC_EINVAL);
  g_assert_nonnull(why);
  g_free(m);
}

/* Every strict prefix of a valid message is refused. */
static void
assert_prefixes_bad(const uint8_t *buf, size_t len)
{
  for (size_t l = 0; l < len; l++)
    assert_bad(buf, l);
}

static void
mk_rtp(uint8_t *p, size_t len, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
  memset(p, 0, len);
  p[0] = 0x80;
  p[1] = 0x80 | 96;
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  p[4] = (uint8_t)(ts >> 24);
  p[5] = (uint8_t)(ts >> 16);
  p[6] = (uint8_t)(ts >> 8);
  p[7] = (uint8_t)ts;
  p[8] = (uint8_t)(ssrc >> 24);
  p[9] = (uint8_t)(ssrc >> 16);
  p[10] = (uint8_t)(ssrc >> 8);
  p[11] = (uint8_t)ssrc;
  for (size_t i = 12; i < len; i++)
    p[i] = (uint8_t)(i * 7);
}

/* ---- messages: round trips ---- */

static void
test_renditions_round_trip(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  lc_relay_rendition in[LC_RELAY_MAX_RENDITIONS];
  in[0] = rend(0, "720p", true);
  in[1] = rend(1, "360p", true);
  in[1].width = 640, in[1].height = 360, in[1].bitrate_kbps = 800, in[1].live = false;
  in[2] = rend(7, "opus", false);
  size_t len = lc_relay_write_renditions(buf, in, 3);
  g_assert_cmpuint(len, >, 2);
  g_assert_cmpuint(buf[0], ==, 'R');
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpint(m->type, ==, LC_RELAY_MSG_RENDITIONS);
  g_assert_cmpuint(m->n, ==, 3);
  for (unsigned i = 0; i < 3; i++)
    assert_rend_eq(&m->rend[i], &in[i]);
  assert_prefixes_bad(buf, len);

  /* None at all (a room whose renditions went). */
  len = lc_relay_write_renditions(buf, in, 0);
  g_assert_cmpuint(len, ==, 2);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpuint(m->n, ==, 0);

  /* The maximum, 16, with names of every allowed character and the extreme values. */
  for (unsigned i = 0; i < LC_RELAY_MAX_RENDITIONS; i++) {
    char name[16];
    if (i == 0)
      g_strlcpy(name, "Aa0_-.zZ9xxxxxx", sizeof name);
    else
      g_snprintf(name, sizeof name, "r%u", i);
    in[i] = rend((uint8_t)(255 - i), name, i % 2 == 0);
    in[i].fmtp[0] = '\0';
  }
  in[3].clock_rate = 192000, in[3].payload_type = 127, in[3].width = 65535, in[3].height = 65535;
  in[3].bitrate_kbps = G_MAXUINT32, in[3].channels = 255;
  g_strlcpy(in[5].fmtp, "a=b; c ~!@#$%^&*()", sizeof in[5].fmtp);
  len = lc_relay_write_renditions(buf, in, LC_RELAY_MAX_RENDITIONS);
  g_assert_cmpuint(len, >, 0);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpuint(m->n, ==, LC_RELAY_MAX_RENDITIONS);
  for (unsigned i = 0; i < LC_RELAY_MAX_RENDITIONS; i++)
    assert_rend_eq(&m->rend[i], &in[i]);
  assert_prefixes_bad(buf, len);
  g_free(m);
}

/* A renditions message of exactly LC_RELAY_MAX_MSG bytes is written and read; one byte more is
 * not written. */
static void
test_renditions_size_limit(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG + 256];
  lc_relay_rendition in[LC_RELAY_MAX_RENDITIONS];
  unsigned n = 0;
  size_t total = 2;
  /* Full renditions (19 + 15 + 127 bytes each) while two more of at least 20 bytes fit. */
  while (total + 161 + 40 <= LC_RELAY_MAX_MSG) {
    char name[16];
    g_snprintf(name, sizeof name, "r%014u", n);
    in[n] = rend((uint8_t)n, name, true);
    memset(in[n].fmtp, 'f', 127);
    in[n].fmtp[127] = '\0';
    total += 161;
    n++;
  }
  /* The rest: one rendition "x" with an fmtp filling it up exactly, at most 127. */
  size_t left = LC_RELAY_MAX_MSG - total; /* 40..200 */
  g_assert_cmpuint(left, >=, 40);
  size_t f1 = MIN(left - 20 - 20, 127);
  in[n] = rend((uint8_t)n, "x", true);
  memset(in[n].fmtp, 'g', f1);
  in[n].fmtp[f1] = '\0';
  total += 20 + f1;
  n++;
  size_t f2 = LC_RELAY_MAX_MSG - total - 20;
  g_assert_cmpuint(f2, <=, 127);
  in[n] = rend((uint8_t)n, "y", true);
  memset(in[n].fmtp, 'h', f2);
  in[n].fmtp[f2] = '\0';
  n++;
  size_t len = lc_relay_write_renditions(buf, in, n);
  g_assert_cmpuint(len, ==, LC_RELAY_MAX_MSG);
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpuint(m->n, ==, n);
  for (unsigned i = 0; i < n; i++)
    assert_rend_eq(&m->rend[i], &in[i]);
  g_free(m);
  /* One more byte of fmtp: does not fit. */
  if (f2 < 127) {
    in[n - 1].fmtp[f2] = 'h';
    in[n - 1].fmtp[f2 + 1] = '\0';
  } else {
    g_strlcpy(in[n - 1].name, "yy", sizeof in[n - 1].name);
  }
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, n), ==, 0);
}

static void
test_data_round_trip(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  uint8_t rtp[LC_RELAY_MAX_RTP + 1];
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  size_t sizes[] = {12, 13, 200, 1200, LC_RELAY_MAX_RTP};
  for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
    for (int kf = 0; kf < 2; kf++) {
      uint32_t age = kf ? G_MAXUINT32 : 123456;
      mk_rtp(rtp, sizes[i], (uint16_t)(65535 - i), 0xdeadbeef, 0x11223344);
      size_t len = lc_relay_write_data(buf, (uint8_t)(i * 50), kf, age, rtp, sizes[i]);
      g_assert_cmpuint(len, ==, LC_RELAY_DATA_HDR + sizes[i]);
      g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
      g_assert_cmpint(m->type, ==, LC_RELAY_MSG_DATA);
      g_assert_cmpuint(m->index, ==, i * 50);
      g_assert_cmpuint(m->flags & 1, ==, (unsigned)kf);
      g_assert_cmpuint(m->age_us, ==, age);
      g_assert_cmpuint(m->rtp_len, ==, sizes[i]);
      g_assert_true(m->rtp == buf + LC_RELAY_DATA_HDR); /* points into the input */
      g_assert_cmpmem(m->rtp, m->rtp_len, rtp, sizes[i]);
    }
  }
  /* RTP too long or shorter than its header: not written. */
  mk_rtp(rtp, sizeof rtp, 1, 1, 1);
  g_assert_cmpuint(lc_relay_write_data(buf, 0, false, 0, rtp, LC_RELAY_MAX_RTP + 1), ==, 0);
  g_assert_cmpuint(lc_relay_write_data(buf, 0, false, 0, rtp, 11), ==, 0);
  g_assert_cmpuint(lc_relay_write_data(buf, 0, false, 0, rtp, 0), ==, 0);
  g_free(m);
}

static void
test_subscribe_round_trip(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  char store[LC_RELAY_MAX_RENDITIONS + 1][16];
  const char *names[LC_RELAY_MAX_RENDITIONS + 1];
  for (unsigned i = 0; i <= LC_RELAY_MAX_RENDITIONS; i++) {
    if (i == 3)
      g_strlcpy(store[i], "abcdefghijklmno", sizeof store[i]);
    else
      g_snprintf(store[i], sizeof store[i], "n%u", i);
    names[i] = store[i];
  }
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  for (unsigned n = 0; n <= LC_RELAY_MAX_RENDITIONS; n++) {
    size_t len = lc_relay_write_subscribe(buf, names, n);
    g_assert_cmpuint(len, >=, 2);
    g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
    g_assert_cmpint(m->type, ==, LC_RELAY_MSG_SUBSCRIBE);
    g_assert_cmpuint(m->n, ==, n);
    for (unsigned i = 0; i < n; i++)
      g_assert_cmpstr(m->names[i], ==, names[i]);
    assert_prefixes_bad(buf, len);
  }
  /* 17 names, a name too long, a name with a space: not written. */
  g_assert_cmpuint(lc_relay_write_subscribe(buf, names, LC_RELAY_MAX_RENDITIONS + 1), ==, 0);
  const char *bad1[] = {"720p", "abcdefghijklmnop"};
  g_assert_cmpuint(lc_relay_write_subscribe(buf, bad1, 2), ==, 0);
  const char *bad2[] = {"7 20p"};
  g_assert_cmpuint(lc_relay_write_subscribe(buf, bad2, 1), ==, 0);
  const char *bad3[] = {""};
  g_assert_cmpuint(lc_relay_write_subscribe(buf, bad3, 1), ==, 0);
  g_free(m);
}

static void
test_keyframe_and_end_round_trip(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;
  size_t len = lc_relay_write_keyframe(buf, "360p");
  g_assert_cmpuint(len, ==, 6);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpint(m->type, ==, LC_RELAY_MSG_KEYFRAME);
  g_assert_cmpstr(m->names[0], ==, "360p");
  assert_prefixes_bad(buf, len);
  g_assert_cmpuint(lc_relay_write_keyframe(buf, "36 0p"), ==, 0);
  g_assert_cmpuint(lc_relay_write_keyframe(buf, ""), ==, 0);
  g_assert_cmpuint(lc_relay_write_keyframe(buf, "0123456789abcdef"), ==, 0);

  static const lc_relay_end_code codes[] = {LC_RELAY_END_GONE, LC_RELAY_END_LOOP, LC_RELAY_END_UPSTREAM};
  for (unsigned i = 0; i < G_N_ELEMENTS(codes); i++) {
    len = lc_relay_write_end(buf, codes[i], "relay loop: e -> o -> e");
    g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
    g_assert_cmpint(m->type, ==, LC_RELAY_MSG_END);
    g_assert_cmpuint(m->end_code, ==, codes[i]);
    g_assert_cmpstr(m->reason, ==, "relay loop: e -> o -> e");
    assert_prefixes_bad(buf, len);
  }
  /* No reason, NULL reason, non-printable bytes (replaced), a reason longer than 255 (cut). */
  len = lc_relay_write_end(buf, LC_RELAY_END_GONE, "");
  g_assert_cmpuint(len, ==, 3);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpstr(m->reason, ==, "");
  len = lc_relay_write_end(buf, LC_RELAY_END_GONE, NULL);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpstr(m->reason, ==, "");
  len = lc_relay_write_end(buf, LC_RELAY_END_GONE, "a\nb\tc\x7f\xc3\xa9");
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpstr(m->reason, ==, "a?b?c???");
  char longr[400];
  memset(longr, 'z', sizeof longr - 1);
  longr[sizeof longr - 1] = '\0';
  len = lc_relay_write_end(buf, LC_RELAY_END_GONE, longr);
  g_assert_cmpuint(len, ==, 3 + 255);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  g_assert_cmpuint(strlen(m->reason), ==, 255);
  g_free(m);
}

/* ---- messages: what the parser refuses ---- */

static void
test_parse_rejects(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG + 8];
  lc_relay_msg *m = g_new0(lc_relay_msg, 1);
  const char *why = NULL;

  /* Empty, NULL, too long, unknown types. */
  g_assert_cmpint(lc_relay_msg_parse(NULL, 10, m, &why), ==, LC_EINVAL);
  assert_bad(buf, 0);
  memset(buf, 0, sizeof buf);
  buf[0] = 'D';
  mk_rtp(buf + LC_RELAY_DATA_HDR, LC_RELAY_MAX_RTP + 1, 1, 1, 1);
  g_assert_cmpint(lc_relay_msg_parse(buf, LC_RELAY_MAX_MSG, m, &why), ==, 0);
  assert_bad(buf, LC_RELAY_MAX_MSG + 1);
  static const uint8_t types[] = {0, 'X', 'r', 'd', 's', 'k', 'e', 0xff, ' '};
  for (unsigned i = 0; i < G_N_ELEMENTS(types); i++) {
    uint8_t u[4] = {types[i], 0, 0, 0};
    assert_bad(u, 1);
    assert_bad(u, sizeof u);
  }

  /* Data: RTP shorter than its header, not version 2. */
  uint8_t rtp[12];
  mk_rtp(rtp, sizeof rtp, 1, 2, 3);
  size_t len = lc_relay_write_data(buf, 1, true, 5, rtp, sizeof rtp);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  assert_prefixes_bad(buf, len); /* 7 + 11 bytes and less */
  for (uint8_t v = 0; v < 4; v++) {
    buf[LC_RELAY_DATA_HDR] = (uint8_t)((v << 6) | (rtp[0] & 0x3f));
    g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, v == 2 ? 0 : LC_EINVAL);
  }

  /* Renditions: count over 16; repeated index; repeated name; bad names; bad fields. */
  lc_relay_rendition in[3] = {rend(0, "720p", true), rend(1, "360p", true), rend(2, "opus", false)};
  len = lc_relay_write_renditions(buf, in, 3);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);
  uint8_t save = buf[1];
  buf[1] = LC_RELAY_MAX_RENDITIONS + 1;
  assert_bad(buf, len);
  buf[1] = 2; /* fewer announced than present: trailing bytes */
  assert_bad(buf, len);
  buf[1] = 4; /* more announced than present: truncated */
  assert_bad(buf, len);
  buf[1] = save;
  /* Trailing byte after a valid message. */
  buf[len] = 0;
  assert_bad(buf, len + 1);

  lc_relay_rendition rep[2] = {rend(3, "720p", true), rend(3, "360p", true)};
  len = lc_relay_write_renditions(buf, rep, 2);
  g_assert_cmpuint(len, >, 0);
  assert_bad(buf, len);
  rep[1].index = 4;
  g_strlcpy(rep[1].name, "720p", sizeof rep[1].name);
  len = lc_relay_write_renditions(buf, rep, 2);
  g_assert_cmpuint(len, >, 0);
  assert_bad(buf, len);
  g_strlcpy(rep[1].name, "360p", sizeof rep[1].name);
  len = lc_relay_write_renditions(buf, rep, 2);
  g_assert_cmpint(lc_relay_msg_parse(buf, len, m, &why), ==, 0);

  /* A name with a space or a non-printable byte, written by hand (the writer refuses it). */
  lc_relay_rendition one = rend(0, "abcd", true);
  one.fmtp[0] = '\0';
  len = lc_relay_write_renditions(buf, &one, 1);
  g_assert_cmpuint(len, ==, 2 + 17 + 1 + 4 + 1);
  size_t name_at = 2 + 17 + 1;
  static const uint8_t bad_name_bytes[] = {' ', '\t', 0, 0x7f, 0x80, '/', ',', ':'};
  for (unsigned i = 0; i < G_N_ELEMENTS(bad_name_bytes); i++) {
    uint8_t c[64];
    memcpy(c, buf, len);
    c[name_at + 1] = bad_name_bytes[i];
    assert_bad(c, len);
  }
  /* An empty name. */
  {
    uint8_t c[64];
    memcpy(c, buf, name_at - 1);
    c[name_at - 1] = 0; /* name length 0 */
    c[name_at] = 0;     /* fmtp length 0 */
    assert_bad(c, name_at + 1);
  }
  /* A 16-byte name (one over). */
  {
    uint8_t c[64];
    memcpy(c, buf, name_at - 1);
    c[name_at - 1] = 16;
    memset(c + name_at, 'a', 16);
    c[name_at + 16] = 0;
    assert_bad(c, name_at + 17);
    c[name_at - 1] = 15; /* 15 is fine */
    c[name_at + 15] = 0;
    g_assert_cmpint(lc_relay_msg_parse(c, name_at + 16, m, &why), ==, 0);
    g_assert_cmpuint(strlen(m->rend[0].name), ==, 15);
  }
  /* fmtp: non-printable; 128 bytes (one over). */
  {
    lc_relay_rendition f = rend(0, "v", true);
    g_strlcpy(f.fmtp, "ab", sizeof f.fmtp);
    len = lc_relay_write_renditions(buf, &f, 1);
    uint8_t c[300];
    memcpy(c, buf, len);
    c[len - 1] = 0x01;
    assert_bad(c, len);
    c[len - 1] = 0xe9;
    assert_bad(c, len);
    size_t fmtp_at = 2 + 17 + 1 + 1;
    c[fmtp_at] = 128;
    memset(c + fmtp_at + 1, 'q', 128);
    assert_bad(c, fmtp_at + 1 + 128);
    c[fmtp_at] = 127;
    g_assert_cmpint(lc_relay_msg_parse(c, fmtp_at + 1 + 127, m, &why), ==, 0);
  }
  /* kind, clock rate, payload type out of range. */
  {
    lc_relay_rendition f = rend(0, "v", true);
    size_t l = lc_relay_write_renditions(buf, &f, 1);
    uint8_t c[300];
    memcpy(c, buf, l);
    c[2 + 1] = 2; /* kind */
    assert_bad(c, l);
    memcpy(c, buf, l);
    c[2 + 2] = 128; /* payload type */
    assert_bad(c, l);
    memcpy(c, buf, l);
    memset(c + 2 + 5, 0, 4); /* clock 0 */
    assert_bad(c, l);
    c[2 + 5 + 1] = 0x02, c[2 + 5 + 2] = 0xee, c[2 + 5 + 3] = 0x01; /* 192001 */
    assert_bad(c, l);
    c[2 + 5 + 3] = 0x00; /* 192000 */
    g_assert_cmpint(lc_relay_msg_parse(c, l, m, &why), ==, 0);
  }

  /* Subscribe: over 16, bad name, trailing. */
  {
    uint8_t c[64] = {'S', LC_RELAY_MAX_RENDITIONS + 1};
    assert_bad(c, 2);
    uint8_t s1[] = {'S', 1, 4, '7', ' ', '0', 'p'};
    assert_bad(s1, sizeof s1);
    uint8_t s2[] = {'S', 1, 4, '7', '2', '0', 'p', 'x'};
    assert_bad(s2, sizeof s2);
    uint8_t s3[] = {'S', 1, 4, '7', '2', '0', 'p'};
    g_assert_cmpint(lc_relay_msg_parse(s3, sizeof s3, m, &why), ==, 0);
    uint8_t s4[] = {'S', 0, 0};
    assert_bad(s4, sizeof s4);
  }
  /* Keyframe: empty name, trailing, non-printable. */
  {
    uint8_t k1[] = {'K', 0};
    assert_bad(k1, sizeof k1);
    uint8_t k2[] = {'K', 2, 'a', 'b', 'c'};
    assert_bad(k2, sizeof k2);
    uint8_t k3[] = {'K', 2, 'a', 0x07};
    assert_bad(k3, sizeof k3);
  }
  /* End: trailing, non-printable reason, NUL inside. */
  {
    uint8_t e1[] = {'E', 1, 2, 'o', 'k', '!'};
    assert_bad(e1, sizeof e1);
    uint8_t e2[] = {'E', 1, 2, 'o', '\n'};
    assert_bad(e2, sizeof e2);
    uint8_t e3[] = {'E', 1, 2, 'o', 0};
    assert_bad(e3, sizeof e3);
    uint8_t e4[] = {'E', 9, 2, 'o', 'k'}; /* an unknown code is carried, not judged */
    g_assert_cmpint(lc_relay_msg_parse(e4, sizeof e4, m, &why), ==, 0);
    g_assert_cmpuint(m->end_code, ==, 9);
  }
  g_free(m);
}

static void
test_writers_refuse(void)
{
  uint8_t buf[LC_RELAY_MAX_MSG];
  lc_relay_rendition in[LC_RELAY_MAX_RENDITIONS + 1];
  for (unsigned i = 0; i <= LC_RELAY_MAX_RENDITIONS; i++) {
    char name[16];
    g_snprintf(name, sizeof name, "r%u", i);
    in[i] = rend((uint8_t)i, name, true);
    in[i].fmtp[0] = '\0';
  }
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, LC_RELAY_MAX_RENDITIONS + 1), ==, 0);
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, LC_RELAY_MAX_RENDITIONS), >, 0);
  /* 16 renditions with long fmtps do not fit in one message. */
  for (unsigned i = 0; i < LC_RELAY_MAX_RENDITIONS; i++) {
    memset(in[i].fmtp, 'f', 127);
    in[i].fmtp[127] = '\0';
  }
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, LC_RELAY_MAX_RENDITIONS), ==, 0);
  /* A bad name. */
  in[0].fmtp[0] = '\0';
  g_strlcpy(in[0].name, "bad name", sizeof in[0].name);
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, 1), ==, 0);
  g_strlcpy(in[0].name, "", sizeof in[0].name);
  g_assert_cmpuint(lc_relay_write_renditions(buf, in, 1), ==, 0);
}

/* ---- the connection request ---- */

static lc_relay_request
request(const char *room, const char *node, int64_t ts)
{
  lc_relay_request rq = {0};
  g_strlcpy(rq.room, room, sizeof rq.room);
  g_strlcpy(rq.node, node, sizeof rq.node);
  g_strlcpy(rq.via[0], node, sizeof rq.via[0]);
  rq.n_via = 1;
  rq.ts = ts;
  return rq;
}

/* body + " sig=" + HMAC-SHA256(secret, body) in hex: a request signed the way relay_wire.h says,
 * for bodies the signer would not write. */
static char *
sign_raw(const char *body, size_t body_len, const char *secret)
{
  unsigned char mac[32];
  unsigned int ml = 0;
  g_assert_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, body_len, mac, &ml));
  GString *s = g_string_new_len(body, (gssize)body_len);
  g_string_append(s, " sig=");
  for (int i = 0; i < 32; i++)
    g_string_append_printf(s, "%02x", mac[i]);
  return g_string_free(s, FALSE);
}

static int
verify(const char *sid, int64_t now, lc_relay_request *out)
{
  const char *why = NULL;
  int rc = lc_relay_request_verify(sid, strlen(sid), SECRET, now, out, &why);
  if (rc != 0)
    g_assert_nonnull(why);
  return rc;
}

static void
test_request_round_trip(void)
{
  char sid[LC_RELAY_STREAMID_MAX];
  const char *why = NULL;
  int64_t now = 1700000000;
  lc_relay_request rq = request("r1", "edge-1.eu:a_B", now), got;
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  g_assert_true(g_str_has_prefix(sid, "lcrelay1 room=r1 node=edge-1.eu:a_B via=edge-1.eu:a_B ts=1700000000 sig="));
  g_assert_cmpuint(strlen(sid), <, LC_RELAY_STREAMID_MAX);
  g_assert_cmpint(verify(sid, now, &got), ==, 0);
  g_assert_cmpstr(got.room, ==, "r1");
  g_assert_cmpstr(got.node, ==, "edge-1.eu:a_B");
  g_assert_cmpuint(got.n_via, ==, 1);
  g_assert_cmpstr(got.via[0], ==, "edge-1.eu:a_B");
  g_assert_cmpint(got.ts, ==, now);

  /* A chain of the most hops, and the longest ids that fit in SRT's streamid. */
  char room[65], node[65];
  memset(room, 'a', 64), room[64] = '\0';
  rq = request(room, "n7", now);
  rq.n_via = LC_RELAY_MAX_HOPS;
  for (unsigned i = 0; i < LC_RELAY_MAX_HOPS; i++)
    g_snprintf(rq.via[i], sizeof rq.via[i], "n%u", i);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  g_assert_cmpint(verify(sid, now, &got), ==, 0);
  g_assert_cmpstr(got.room, ==, room);
  g_assert_cmpuint(got.n_via, ==, LC_RELAY_MAX_HOPS);
  for (unsigned i = 0; i < LC_RELAY_MAX_HOPS; i++)
    g_assert_cmpstr(got.via[i], ==, rq.via[i]);
  g_assert_true(lc_relay_request_passed(&got, "n0"));
  g_assert_true(lc_relay_request_passed(&got, "n7"));
  g_assert_false(lc_relay_request_passed(&got, "n8"));
  g_assert_false(lc_relay_request_passed(&got, "n"));
  g_assert_false(lc_relay_request_passed(&got, "N0"));

  memset(node, 'N', 64), node[64] = '\0';
  rq = request(room, node, now);
  rq.n_via = 4;
  for (unsigned i = 0; i < 4; i++)
    g_strlcpy(rq.via[i], node, sizeof rq.via[i]);
  rq.via[0][0] = 'x'; /* distinct from node */
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  g_assert_cmpint(verify(sid, now, &got), ==, 0);
  g_assert_cmpstr(got.node, ==, node);
  g_assert_cmpuint(got.n_via, ==, 4);
  /* Eight hops of 64 bytes do not fit in 512: refused by the signer, not cut. */
  rq.n_via = LC_RELAY_MAX_HOPS;
  for (unsigned i = 0; i < LC_RELAY_MAX_HOPS; i++)
    g_strlcpy(rq.via[i], node, sizeof rq.via[i]);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  g_assert_nonnull(why);

  /* Negative and zero timestamps travel too. */
  rq = request("r1", "e", -5);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  g_assert_cmpint(verify(sid, 0, &got), ==, 0);
  g_assert_cmpint(got.ts, ==, -5);
}

static void
test_request_sign_rejects(void)
{
  char sid[LC_RELAY_STREAMID_MAX];
  const char *why = NULL;
  lc_relay_request rq = request("R1", "e", 1);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("r 1", "e", 1);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("", "e", 1);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("r1", "e f", 1);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("r1", "", 1);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("r1", "e", 1);
  rq.n_via = 0;
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq.n_via = LC_RELAY_MAX_HOPS + 1;
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  rq = request("r1", "e", 1);
  rq.n_via = 2;
  g_strlcpy(rq.via[0], "o,x", sizeof rq.via[0]); /* a comma would split the chain */
  g_strlcpy(rq.via[1], "e", sizeof rq.via[1]);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, LC_EINVAL);
  g_assert_nonnull(why);

  g_assert_true(lc_relay_valid_node("Aa0._:-"));
  g_assert_false(lc_relay_valid_node(NULL));
  g_assert_false(lc_relay_valid_node(""));
  g_assert_false(lc_relay_valid_node("a,b"));
  g_assert_false(lc_relay_valid_node("a b"));
  g_assert_false(lc_relay_valid_node("a=b"));
  char l[66];
  memset(l, 'x', 65), l[65] = '\0';
  g_assert_false(lc_relay_valid_node(l));
  l[64] = '\0';
  g_assert_true(lc_relay_valid_node(l));
}

static void
test_request_refused(void)
{
  char sid[LC_RELAY_STREAMID_MAX];
  const char *why = NULL;
  int64_t now = 1700000000;
  lc_relay_request rq = request("r1", "e", now), got;
  rq.n_via = 2;
  g_strlcpy(rq.via[0], "e2", sizeof rq.via[0]);
  g_strlcpy(rq.via[1], "e", sizeof rq.via[1]);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);

  /* Wrong secret (one byte off, a prefix, a longer one). */
  g_assert_cmpint(lc_relay_request_verify(sid, strlen(sid), SECRET "x", now, &got, &why), ==, LC_EPERM);
  g_assert_nonnull(why);
  g_assert_cmpint(lc_relay_request_verify(sid, strlen(sid), "0123456789abcdef-relaY", now, &got, &why), ==, LC_EPERM);
  g_assert_cmpint(lc_relay_request_verify(sid, strlen(sid), "0123456789abcdef", now, &got, &why), ==, LC_EPERM);

  /* Clock skew: exactly LC_RELAY_MAX_SKEW_S either way is fine, one second more is not. */
  g_assert_cmpint(verify(sid, now + LC_RELAY_MAX_SKEW_S, &got), ==, 0);
  g_assert_cmpint(verify(sid, now - LC_RELAY_MAX_SKEW_S, &got), ==, 0);
  g_assert_cmpint(verify(sid, now + LC_RELAY_MAX_SKEW_S + 1, &got), ==, LC_EPERM);
  g_assert_cmpint(verify(sid, now - LC_RELAY_MAX_SKEW_S - 1, &got), ==, LC_EPERM);
  g_assert_cmpint(verify(sid, 0, &got), ==, LC_EPERM);

  /* Tampering with any signed field. */
  static const char *const swaps[][2] = {
    {"room=r1 ", "room=r2 "}, {"node=e via=e2,e ", "node=f via=e2,f "}, {"via=e2,e ", "via=e3,e "},
    {"via=e2,e ", "via=e "},   {"ts=1700000000", "ts=1700000001"}, {"lcrelay1 room", "lcrelay1 room"},
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(swaps); i++) {
    g_assert_nonnull(strstr(sid, swaps[i][0]));
    GString *t = g_string_new(sid);
    g_string_replace(t, swaps[i][0], swaps[i][1], 1);
    int want = strcmp(swaps[i][0], swaps[i][1]) == 0 ? 0 : LC_EPERM;
    g_assert_cmpint(verify(t->str, now, &got), ==, want);
    g_string_free(t, TRUE);
  }
  /* A flipped signature digit. */
  char t[LC_RELAY_STREAMID_MAX];
  g_strlcpy(t, sid, sizeof t);
  char *last = t + strlen(t) - 1;
  *last = *last == '0' ? '1' : '0';
  g_assert_cmpint(verify(t, now, &got), ==, LC_EPERM);
}

static void
test_request_malformed(void)
{
  char sid[LC_RELAY_STREAMID_MAX];
  const char *why = NULL;
  int64_t now = 1700000000;
  lc_relay_request rq = request("r1", "e", now), got;
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  const char *sig = strstr(sid, " sig=");
  g_assert_nonnull(sig);

  /* Bodies signed correctly but malformed: the syntax is judged, whatever the signature says. */
  static const char *const bodies[] = {
    "lcrelay1 room=r1 node=e via=e",                      /* no ts */
    "lcrelay1 room=r1 via=e ts=1700000000",               /* no node */
    "lcrelay1 node=e via=e ts=1700000000",                /* no room */
    "lcrelay1 room=r1 node=e ts=1700000000",              /* no via */
    "lcrelay1 node=e room=r1 via=e ts=1700000000",        /* order */
    "lcrelay2 room=r1 node=e via=e ts=1700000000",        /* version */
    "lcrelay1  room=r1 node=e via=e ts=1700000000",       /* double space */
    "lcrelay1 room=R1 node=e via=e ts=1700000000",        /* room chars */
    "lcrelay1 room=r.1 node=e via=e ts=1700000000",
    "lcrelay1 room= node=e via=e ts=1700000000",
    "lcrelay1 room=r1 node=e! via=e! ts=1700000000",      /* node chars */
    "lcrelay1 room=r1 node= via= ts=1700000000",
    "lcrelay1 room=r1 node=e via=o ts=1700000000",        /* via not ending with the node */
    "lcrelay1 room=r1 node=e via=e,o ts=1700000000",
    "lcrelay1 room=r1 node=e via= ts=1700000000",
    "lcrelay1 room=r1 node=e via=o!,e ts=1700000000",     /* a bad hop */
    "lcrelay1 room=r1 node=e via=a,b,c,d,f,g,h,i,e ts=1700000000", /* nine hops */
    "lcrelay1 room=r1 node=e via=e ts=",                  /* ts */
    "lcrelay1 room=r1 node=e via=e ts=17x",
    "lcrelay1 room=r1 node=e via=e ts=0x10",
    "lcrelay1 room=r1 node=e via=e ts=1700000000 extra=1",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(bodies); i++) {
    char *s = sign_raw(bodies[i], strlen(bodies[i]), SECRET);
    if (g_test_verbose())
      g_printerr("%s\n", s);
    g_assert_cmpint(verify(s, now, &got), ==, LC_EINVAL);
    g_free(s);
  }
  /* The same check for the sample: a well-formed body signed by hand verifies. */
  const char *good = "lcrelay1 room=r1 node=e via=o,e ts=1700000000";
  char *s = sign_raw(good, strlen(good), SECRET);
  g_assert_cmpint(verify(s, now, &got), ==, 0);
  g_assert_cmpuint(got.n_via, ==, 2);
  g_free(s);

  /* Around the signature: missing, short, long, not last, trailing space. */
  GString *t = g_string_new_len(sid, sig - sid);
  g_assert_cmpint(verify(t->str, now, &got), ==, LC_EINVAL);
  g_string_append(t, " sig=");
  g_assert_cmpint(verify(t->str, now, &got), ==, LC_EINVAL);
  g_string_append_len(t, sig + 5, 63);
  g_assert_cmpint(verify(t->str, now, &got), ==, LC_EINVAL);
  g_string_assign(t, sid);
  g_string_append(t, "0");
  g_assert_cmpint(verify(t->str, now, &got), ==, LC_EINVAL);
  g_string_free(t, TRUE);

  /* NUL inside (the length says more than the string). */
  char nul[LC_RELAY_STREAMID_MAX];
  size_t sl = strlen(sid);
  memcpy(nul, sid, sl + 1);
  nul[14] = '\0';
  g_assert_cmpint(lc_relay_request_verify(nul, sl, SECRET, now, &got, &why), ==, LC_EINVAL);
  /* Empty, NULL, a length from the limit on. */
  g_assert_cmpint(lc_relay_request_verify("", 0, SECRET, now, &got, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_relay_request_verify(NULL, 10, SECRET, now, &got, &why), ==, LC_EINVAL);
  char big[LC_RELAY_STREAMID_MAX + 2];
  memset(big, 'a', sizeof big);
  memcpy(big, "lcrelay1 ", 9);
  big[sizeof big - 1] = '\0';
  g_assert_cmpint(lc_relay_request_verify(big, LC_RELAY_STREAMID_MAX, SECRET, now, &got, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_relay_request_verify(big, strlen(big), SECRET, now, &got, &why), ==, LC_EINVAL);
  /* A prefix of a valid request, at every length. */
  for (size_t l = 0; l < sl; l++)
    g_assert_cmpint(lc_relay_request_verify(sid, l, SECRET, now, &got, &why), ==, LC_EINVAL);
}

/* The parser (strtoll, strtok_r, the field splitter) accepts more spellings than the signer
 * writes: leading whitespace or '+' in ts, empty hops in via, one space after the signature.
 * The first three need the secret (the signature covers them); the trailing space is outside
 * the signature. Laxness, not a hole: recorded here (as TODO) so that a change is seen. */
static void
test_request_lax_spellings(void)
{
  int64_t now = 1700000000;
  lc_relay_request got;
  char sid[LC_RELAY_STREAMID_MAX + 1];
  const char *why = NULL;
  lc_relay_request rq = request("r1", "e", now);
  g_assert_cmpint(lc_relay_request_sign(&rq, SECRET, sid, &why), ==, 0);
  g_strlcat(sid, " ", sizeof sid);
  unsigned accepted = 0;
  if (verify(sid, now, &got) == 0) {
    accepted++;
    g_test_message("accepted a request with a space after the signature");
  }
  static const char *const lax[] = {
    "lcrelay1 room=r1 node=e via=e ts=+1700000000",
    "lcrelay1 room=r1 node=e via=e ts=\t1700000000",
    "lcrelay1 room=r1 node=e via=,e ts=1700000000",
    "lcrelay1 room=r1 node=e via=o,,e ts=1700000000",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(lax); i++) {
    char *s = sign_raw(lax[i], strlen(lax[i]), SECRET);
    int rc = verify(s, now, &got);
    g_assert_true(rc == 0 || rc == LC_EINVAL);
    if (rc == 0) {
      accepted++;
      g_test_message("accepted a non-canonical request: %s", lax[i]);
    }
    g_free(s);
  }
  if (accepted)
    g_test_incomplete("lc_relay_request_verify accepts non-canonical spellings (see the messages)");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/relay_wire/renditions_round_trip", test_renditions_round_trip);
  g_test_add_func("/relay_wire/renditions_size_limit", test_renditions_size_limit);
  g_test_add_func("/relay_wire/data_round_trip", test_data_round_trip);
  g_test_add_func("/relay_wire/subscribe_round_trip", test_subscribe_round_trip);
  g_test_add_func("/relay_wire/keyframe_and_end_round_trip", test_keyframe_and_end_round_trip);
  g_test_add_func("/relay_wire/parse_rejects", test_parse_rejects);
  g_test_add_func("/relay_wire/writers_refuse", test_writers_refuse);
  g_test_add_func("/relay_wire/request_round_trip", test_request_round_trip);
  g_test_add_func("/relay_wire/request_sign_rejects", test_request_sign_rejects);
  g_test_add_func("/relay_wire/request_refused", test_request_refused);
  g_test_add_func("/relay_wire/request_malformed", test_request_malformed);
  g_test_add_func("/relay_wire/request_lax_spellings", test_request_lax_spellings);
  return g_test_run();
}

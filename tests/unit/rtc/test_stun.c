/* STUN: RFC 5769 vectors byte for byte, demux, parse limits, builders round-trip. */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>

#include "base/errors.h"
#include "rtc/stun.h"

static const char *PWD = "VOkJxbRl1RmTxUk/WvJxBt";

/* RFC 5769 2.1: sample request (username "evtj:h6vY"). */
static const uint8_t REQ[] = {
  0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
  0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
  0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
  0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
  0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
  0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
  0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2: IPv4 response, 192.0.2.1:32853, software "test vector". */
static const uint8_t RESP4[] = {
  0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
  0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
  0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
  0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
  0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 2.3: IPv6 response, [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t RESP6[] = {
  0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
  0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
  0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
  0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
  0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
  0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static const uint8_t TID[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static void
test_demux(void)
{
  uint8_t b[2] = {0, 0};
  g_assert_cmpint(lc_stun_demux(b, 0), ==, LC_DEMUX_UNKNOWN);
  for (int i = 0; i < 256; i++) {
    b[0] = (uint8_t)i;
    b[1] = 96;
    lc_demux_kind k = lc_stun_demux(b, 2);
    if (i <= 3)
      g_assert_cmpint(k, ==, LC_DEMUX_STUN);
    else if (i >= 20 && i <= 63)
      g_assert_cmpint(k, ==, LC_DEMUX_DTLS);
    else if (i >= 128 && i <= 191)
      g_assert_cmpint(k, ==, LC_DEMUX_RTP);
    else
      g_assert_cmpint(k, ==, LC_DEMUX_UNKNOWN);
  }
  b[0] = 0x80;
  for (int pt = 0; pt < 256; pt++) {
    b[1] = (uint8_t)pt;
    g_assert_cmpint(lc_stun_demux(b, 2), ==, (pt >= 192 && pt <= 223) ? LC_DEMUX_RTCP : LC_DEMUX_RTP);
  }
  b[1] = 200;
  g_assert_cmpint(lc_stun_demux(b, 1), ==, LC_DEMUX_UNKNOWN);
  g_assert_cmpint(lc_stun_demux(REQ, sizeof(REQ)), ==, LC_DEMUX_STUN);
}

static void
test_crc32(void)
{
  g_assert_cmphex(lc_stun_crc32((const uint8_t *)"123456789", 9), ==, 0xCBF43926u);
  g_assert_cmphex(lc_stun_crc32(NULL, 0), ==, 0);
}

static void
test_rfc5769_request(void)
{
  lc_stun_msg m;
  g_assert_cmpint(lc_stun_parse(REQ, sizeof(REQ), &m), ==, 0);
  g_assert_cmphex(m.type, ==, LC_STUN_BINDING_REQUEST);
  g_assert_cmpmem(m.tid, 12, TID, 12);
  g_assert_cmpmem(m.username, m.username_len, "evtj:h6vY", 9);
  g_assert_true(m.has_priority);
  g_assert_cmphex(m.priority, ==, 0x6e0001ff);
  g_assert_true(m.ice_controlled);
  g_assert_false(m.ice_controlling);
  g_assert_cmphex(m.tiebreaker, ==, 0x932ff9b151263b36ull);
  g_assert_false(m.use_candidate);
  g_assert_true(m.has_integrity);
  g_assert_true(m.has_fingerprint);
  g_assert_cmpint(m.unknown_required, ==, 0);
  g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, 0);
  g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)"wrong", 5), ==, LC_EPERM);
  g_assert_true(lc_stun_username_matches(&m, "evtj"));
  g_assert_false(lc_stun_username_matches(&m, "evt"));
  g_assert_false(lc_stun_username_matches(&m, "h6vY"));

  /* Rebuilt from its parts, the request is the same bytes. */
  lc_stun_request r = {.software = "STUN test client", .priority = 0x6e0001ff, .controlling = false,
                       .tiebreaker = 0x932ff9b151263b36ull, .username = "evtj:h6vY",
                       .key = (const uint8_t *)PWD, .key_len = strlen(PWD)};
  uint8_t out[256];
  size_t n = 0;
  g_assert_cmpint(lc_stun_build_request(out, sizeof(out), TID, &r, &n), ==, 0);
  g_assert_cmpmem(out, n, REQ, sizeof(REQ));
}

static void
test_rfc5769_response_v4(void)
{
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(32853)};
  g_assert_cmpint(inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr), ==, 1);
  uint8_t out[LC_STUN_MAX_RESPONSE];
  size_t n = 0;
  g_assert_cmpint(lc_stun_build_binding_success(out, sizeof(out), TID, (struct sockaddr *)&sin, "test vector",
                                                (const uint8_t *)PWD, strlen(PWD), &n),
                  ==, 0);
  g_assert_cmpmem(out, n, RESP4, sizeof(RESP4));

  lc_stun_msg m;
  g_assert_cmpint(lc_stun_parse(RESP4, sizeof(RESP4), &m), ==, 0);
  g_assert_cmphex(m.type, ==, LC_STUN_BINDING_SUCCESS);
  g_assert_cmpint(m.xor_mapped.family, ==, AF_INET);
  g_assert_cmpint(m.xor_mapped.port, ==, 32853);
  g_assert_cmpmem(m.xor_mapped.addr, 4, &sin.sin_addr, 4);
  g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, 0);
  /* too small a buffer at every size */
  for (size_t cap = 0; cap < sizeof(RESP4); cap++)
    g_assert_cmpint(lc_stun_build_binding_success(out, cap, TID, (struct sockaddr *)&sin, "test vector",
                                                  (const uint8_t *)PWD, strlen(PWD), &n),
                    ==, LC_ETOOBIG);
}

static void
test_rfc5769_response_v6(void)
{
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
  g_assert_cmpint(inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr), ==, 1);
  uint8_t out[LC_STUN_MAX_RESPONSE];
  size_t n = 0;
  g_assert_cmpint(lc_stun_build_binding_success(out, sizeof(out), TID, (struct sockaddr *)&sin6, "test vector",
                                                (const uint8_t *)PWD, strlen(PWD), &n),
                  ==, 0);
  g_assert_cmpmem(out, n, RESP6, sizeof(RESP6));
  lc_stun_msg m;
  g_assert_cmpint(lc_stun_parse(RESP6, sizeof(RESP6), &m), ==, 0);
  g_assert_cmpint(m.xor_mapped.family, ==, AF_INET6);
  g_assert_cmpint(m.xor_mapped.port, ==, 32853);
  g_assert_cmpmem(m.xor_mapped.addr, 16, &sin6.sin6_addr, 16);

  struct sockaddr bad = {.sa_family = AF_UNIX};
  g_assert_cmpint(lc_stun_build_binding_success(out, sizeof(out), TID, &bad, NULL, NULL, 0, &n), ==, LC_EINVAL);
}

static void
test_error_responses(void)
{
  uint8_t out[LC_STUN_MAX_RESPONSE];
  size_t n = 0;
  lc_stun_msg m;
  static const int codes[] = {400, 401, 487};
  for (size_t i = 0; i < G_N_ELEMENTS(codes); i++) {
    bool with_key = codes[i] == 487;
    g_assert_cmpint(lc_stun_build_error(out, sizeof(out), TID, codes[i], NULL, with_key ? (const uint8_t *)PWD : NULL,
                                        with_key ? strlen(PWD) : 0, &n),
                    ==, 0);
    g_assert_cmpint(lc_stun_parse(out, n, &m), ==, 0);
    g_assert_cmphex(m.type, ==, LC_STUN_BINDING_ERROR);
    g_assert_true(m.has_error_code);
    g_assert_cmpint(m.error_code, ==, codes[i]);
    g_assert_true(m.has_fingerprint);
    g_assert_cmpint(m.has_integrity, ==, with_key);
    if (with_key)
      g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, 0);
    else
      g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, LC_ENOENT);
  }
  /* 401: header + ERROR-CODE("Unauthorized" 12 bytes -> 4+4+12) + FINGERPRINT */
  g_assert_cmpint(lc_stun_build_error(out, sizeof(out), TID, 401, NULL, NULL, 0, &n), ==, 0);
  g_assert_cmpint(n, ==, 20 + 20 + 8);
  g_assert_cmpmem(out + 24, 4, "\x00\x00\x04\x01", 4);
  g_assert_cmpmem(out + 28, 12, "Unauthorized", 12);
  g_assert_cmpint(lc_stun_build_error(out, sizeof(out), TID, 299, NULL, NULL, 0, &n), ==, LC_EINVAL);
  g_assert_cmpint(lc_stun_build_error(out, sizeof(out), TID, 700, NULL, NULL, 0, &n), ==, LC_EINVAL);
}

/* A request as Chrome sends it (ICE-CONTROLLING, USE-CANDIDATE) round-trips. */
static void
test_request_roundtrip(void)
{
  lc_stun_request r = {.priority = 1853824767, .controlling = true, .tiebreaker = 42, .use_candidate = true,
                       .username = "srvufrag:cli1", .key = (const uint8_t *)"serverpasswordserverpw", .key_len = 22};
  uint8_t out[256];
  size_t n;
  lc_stun_msg m;
  g_assert_cmpint(lc_stun_build_request(out, sizeof(out), TID, &r, &n), ==, 0);
  g_assert_cmpint(lc_stun_parse(out, n, &m), ==, 0);
  g_assert_true(m.ice_controlling);
  g_assert_true(m.use_candidate);
  g_assert_cmpuint(m.tiebreaker, ==, 42);
  g_assert_true(lc_stun_username_matches(&m, "srvufrag"));
  g_assert_cmpint(lc_stun_check_integrity(&m, r.key, r.key_len), ==, 0);
  /* A flipped bit anywhere before MESSAGE-INTEGRITY's value breaks it (or the parse). */
  for (size_t i = 0; i < m.integrity_offset; i++) {
    out[i] ^= 0x01;
    int rc = lc_stun_parse(out, n, &m);
    /* the fingerprint catches it first */
    g_assert_cmpint(rc, ==, LC_EINVAL);
    out[i] ^= 0x01;
  }
  r.username = "";
  g_assert_cmpint(lc_stun_build_request(out, sizeof(out), TID, &r, &n), ==, LC_EINVAL);
}

/* Integrity is checked independently of the fingerprint: a request without FINGERPRINT. */
static void
test_integrity_without_fingerprint(void)
{
  uint8_t msg[sizeof(REQ)];
  memcpy(msg, REQ, sizeof(REQ));
  size_t n = sizeof(REQ) - 8;
  msg[3] = (uint8_t)(n - 20);
  lc_stun_msg m;
  g_assert_cmpint(lc_stun_parse(msg, n, &m), ==, 0);
  g_assert_false(m.has_fingerprint);
  /* the MI covers the length as it was with FINGERPRINT excluded: still valid */
  g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, 0);
  msg[30] ^= 0x20; /* "STUN test client" -> change SOFTWARE */
  g_assert_cmpint(lc_stun_parse(msg, n, &m), ==, 0);
  g_assert_cmpint(lc_stun_check_integrity(&m, (const uint8_t *)PWD, strlen(PWD)), ==, LC_EPERM);
}

static void
test_malformed(void)
{
  lc_stun_msg m;
  /* every truncation of the sample request fails */
  for (size_t n = 0; n < sizeof(REQ); n++)
    g_assert_cmpint(lc_stun_parse(REQ, n, &m), ==, LC_EINVAL);
  uint8_t msg[sizeof(REQ)];
  /* bad magic cookie */
  memcpy(msg, REQ, sizeof(REQ));
  msg[4] = 0;
  g_assert_cmpint(lc_stun_parse(msg, sizeof(msg), &m), ==, LC_EINVAL);
  /* top bits set (would be RTP/DTLS) */
  memcpy(msg, REQ, sizeof(REQ));
  msg[0] = 0x80;
  g_assert_cmpint(lc_stun_parse(msg, sizeof(msg), &m), ==, LC_EINVAL);
  /* attribute length past the end: USERNAME len 9 -> 200 */
  memcpy(msg, REQ, sizeof(REQ));
  msg[63] = 200;
  g_assert_cmpint(lc_stun_parse(msg, sizeof(msg), &m), ==, LC_EINVAL);
  /* PRIORITY of the wrong size */
  static const uint8_t bad_prio[] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6,
                                     7,    8,    9,    10,   11,   12,   0x00, 0x24, 0x00, 0x02, 0, 0, 0, 0};
  g_assert_cmpint(lc_stun_parse(bad_prio, sizeof(bad_prio), &m), ==, LC_EINVAL);
  /* unknown comprehension-required attribute is reported, not fatal */
  static const uint8_t unk[] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6,
                                7,    8,    9,    10,   11,   12,   0x00, 0x33, 0x00, 0x01, 7, 0, 0, 0};
  g_assert_cmpint(lc_stun_parse(unk, sizeof(unk), &m), ==, 0);
  g_assert_cmphex(m.unknown_required, ==, 0x0033);
  /* FINGERPRINT not last */
  static const uint8_t fp_mid[] = {0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42, 1,    2,    3,    4,
                                   5,    6,    7,    8,    9,    10,   11,   12,   0x80, 0x28, 0x00, 0x04,
                                   0,    0,    0,    0,    0x00, 0x25, 0x00, 0x00, 0,    0,    0,    0};
  g_assert_cmpint(lc_stun_parse(fp_mid, sizeof(fp_mid), &m), ==, LC_EINVAL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/stun/demux", test_demux);
  g_test_add_func("/stun/crc32", test_crc32);
  g_test_add_func("/stun/rfc5769-request", test_rfc5769_request);
  g_test_add_func("/stun/rfc5769-response-ipv4", test_rfc5769_response_v4);
  g_test_add_func("/stun/rfc5769-response-ipv6", test_rfc5769_response_v6);
  g_test_add_func("/stun/error-responses", test_error_responses);
  g_test_add_func("/stun/request-roundtrip", test_request_roundtrip);
  g_test_add_func("/stun/integrity-without-fingerprint", test_integrity_without_fingerprint);
  g_test_add_func("/stun/malformed", test_malformed);
  return g_test_run();
}

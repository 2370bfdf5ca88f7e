/* DTLS-SRTP: in-memory handshakes client <-> server (both SRTP profiles, MTU, lost flights,
 * wrong fingerprints, garbage), then SRTP both ways byte for byte, replay / tamper refusal,
 * retransmission of an already protected packet; certificates generated and loaded from PEM. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "rtc/dtls_srtp.h"
#include "base/errors.h"

typedef struct {
  lc_dtls_cert *ccert, *scert;
  lc_dtls *c, *s;
  unsigned datagrams;  /* shuttled */
  size_t max_datagram; /* largest seen */
} pair;

static GPtrArray *
new_out(void)
{
  return g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
}

/* Shuttles datagrams until both sides are quiet. drop(dir, index) may drop a datagram:
 * dir 0 = client -> server, 1 = server -> client; index counts per direction. */
typedef bool (*drop_fn)(int dir, unsigned index);

static void
shuttle(pair *p, GPtrArray *to_server, drop_fn drop)
{
  GPtrArray *to_client = new_out();
  unsigned idx[2] = {0, 0};
  for (int round = 0; round < 100 && (to_server->len || to_client->len); round++) {
    GPtrArray *next_s = new_out(), *next_c = new_out();
    for (guint i = 0; i < to_server->len; i++) {
      gsize n;
      const uint8_t *b = g_bytes_get_data(to_server->pdata[i], &n);
      p->max_datagram = MAX(p->max_datagram, n);
      p->datagrams++;
      if (drop && drop(0, idx[0]++))
        continue;
      lc_dtls_feed(p->s, b, n, next_c);
    }
    for (guint i = 0; i < to_client->len; i++) {
      gsize n;
      const uint8_t *b = g_bytes_get_data(to_client->pdata[i], &n);
      p->max_datagram = MAX(p->max_datagram, n);
      p->datagrams++;
      if (drop && drop(1, idx[1]++))
        continue;
      lc_dtls_feed(p->c, b, n, next_s);
    }
    g_ptr_array_set_size(to_server, 0);
    g_ptr_array_extend_and_steal(to_server, next_s);
    g_ptr_array_unref(to_client);
    to_client = next_c;
  }
  g_ptr_array_unref(to_client);
}

static void
pair_init(pair *p, const char *cfp_override, const char *sfp_override, unsigned mtu)
{
  memset(p, 0, sizeof *p);
  char *err = NULL;
  p->ccert = lc_dtls_cert_generate(&err);
  g_assert_null(err);
  p->scert = lc_dtls_cert_generate(&err);
  g_assert_null(err);
  g_assert_nonnull(p->ccert);
  /* The client checks the server's fingerprint and vice versa. */
  p->c = lc_dtls_new(p->ccert, LC_DTLS_CLIENT, cfp_override ? cfp_override : lc_dtls_cert_fingerprint(p->scert), mtu);
  p->s = lc_dtls_new(p->scert, LC_DTLS_SERVER, sfp_override ? sfp_override : lc_dtls_cert_fingerprint(p->ccert), mtu);
}

static void
pair_clear(pair *p)
{
  lc_dtls_free(p->c);
  lc_dtls_free(p->s);
  lc_dtls_cert_unref(p->ccert);
  lc_dtls_cert_unref(p->scert);
}

static void
handshake(pair *p, drop_fn drop)
{
  GPtrArray *out = new_out();
  lc_dtls_start(p->c, out);
  g_assert_cmpuint(out->len, >=, 1);
  shuttle(p, out, drop);
  g_ptr_array_unref(out);
}

static void
assert_connected(pair *p)
{
  if (lc_dtls_get_state(p->c) != LC_DTLS_CONNECTED)
    g_error("client: %d %s", lc_dtls_get_state(p->c), lc_dtls_error(p->c));
  if (lc_dtls_get_state(p->s) != LC_DTLS_CONNECTED)
    g_error("server: %d %s", lc_dtls_get_state(p->s), lc_dtls_error(p->s));
  g_assert_null(lc_dtls_error(p->c));
  g_assert_cmpint(lc_dtls_next_timeout(p->c), ==, -1);
}

/* ---- certificates ---- */

static bool
fp_format_ok(const char *fp)
{
  return g_regex_match_simple("^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$", fp, 0, 0);
}

static void
test_cert_generate(void)
{
  char *err = NULL;
  lc_dtls_cert *a = lc_dtls_cert_generate(&err), *b = lc_dtls_cert_generate(&err);
  g_assert_null(err);
  g_assert_true(fp_format_ok(lc_dtls_cert_fingerprint(a)));
  g_assert_cmpuint(strlen(lc_dtls_cert_fingerprint(a)), ==, 8 + 32 * 3 - 1);
  g_assert_cmpstr(lc_dtls_cert_fingerprint(a), !=, lc_dtls_cert_fingerprint(b));
  g_assert_true(lc_dtls_fingerprint_valid(lc_dtls_cert_fingerprint(a)));
  lc_dtls_cert_ref(a);
  lc_dtls_cert_unref(a);
  lc_dtls_cert_unref(a);
  lc_dtls_cert_unref(b);
}

static void
test_fingerprint_valid(void)
{
  const char *sha1 = "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB";
  g_assert_true(lc_dtls_fingerprint_valid(sha1));
  g_assert_true(lc_dtls_fingerprint_valid("SHA-1 4a:ad:b9:b1:3f:82:18:3b:54:02:12:df:3e:5d:49:6b:19:e5:7c:ab"));
  g_assert_true(lc_dtls_fingerprint_valid("  sha-1   4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\r\n"));
  g_assert_false(lc_dtls_fingerprint_valid(NULL));
  g_assert_false(lc_dtls_fingerprint_valid(""));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1"));
  g_assert_false(lc_dtls_fingerprint_valid("md5 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B"));
  /* one byte short, one too many, a bad hex digit, a trailing colon, a single digit */
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C"));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:00"));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AG"));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:"));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:A"));
  g_assert_false(lc_dtls_fingerprint_valid("sha-1 4AAD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB"));
  char *lng = g_strnfill(5000, 'A');
  g_assert_false(lc_dtls_fingerprint_valid(lng));
  g_free(lng);
}

static char *
run(const char *cmd)
{
  char *out = NULL, *err = NULL;
  int status = 0;
  GError *e = NULL;
  if (!g_spawn_command_line_sync(cmd, &out, &err, &status, &e))
    g_error("%s: %s", cmd, e->message);
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("%s failed: %s", cmd, err);
  g_free(err);
  return out;
}

/* "sha256 Fingerprint=AB:..." from openssl x509 -> "sha-256 AB:..." */
static char *
openssl_fp(const char *cert)
{
  char *cmd = g_strdup_printf("openssl x509 -noout -fingerprint -sha256 -in %s", cert);
  char *out = run(cmd);
  g_free(cmd);
  char *eq = strchr(out, '=');
  g_assert_nonnull(eq);
  char *fp = g_strdup_printf("sha-256 %s", g_strstrip(eq + 1));
  g_free(out);
  return fp;
}

static void
test_cert_load(void)
{
  char *dir = g_dir_make_tmp("lc-dtls-XXXXXX", NULL);
  g_assert_nonnull(dir);
  char *ec_crt = g_build_filename(dir, "ec.crt", NULL), *ec_key = g_build_filename(dir, "ec.key", NULL);
  char *rsa_crt = g_build_filename(dir, "rsa.crt", NULL), *rsa_key = g_build_filename(dir, "rsa.key", NULL);
  char *ed_crt = g_build_filename(dir, "ed.crt", NULL), *ed_key = g_build_filename(dir, "ed.key", NULL);
  char *cmd;
  cmd = g_strdup_printf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                        "-subj /CN=t -keyout %s -out %s", ec_key, ec_crt);
  g_free(run(cmd));
  g_free(cmd);
  cmd = g_strdup_printf("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=t -keyout %s -out %s",
                        rsa_key, rsa_crt);
  g_free(run(cmd));
  g_free(cmd);
  cmd = g_strdup_printf("openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=t -keyout %s -out %s",
                        ed_key, ed_crt);
  g_free(run(cmd));
  g_free(cmd);

  char *err = NULL;
  lc_dtls_cert *ec = lc_dtls_cert_load(ec_crt, ec_key, &err);
  g_assert_null(err);
  g_assert_nonnull(ec);
  char *fp = openssl_fp(ec_crt);
  g_assert_cmpstr(lc_dtls_cert_fingerprint(ec), ==, fp);
  g_free(fp);
  lc_dtls_cert *rsa = lc_dtls_cert_load(rsa_crt, rsa_key, &err);
  g_assert_null(err);
  fp = openssl_fp(rsa_crt);
  g_assert_cmpstr(lc_dtls_cert_fingerprint(rsa), ==, fp);
  g_free(fp);

  /* An RSA server and an EC client complete a handshake. */
  lc_dtls *c = lc_dtls_new(ec, LC_DTLS_CLIENT, lc_dtls_cert_fingerprint(rsa), 1200);
  lc_dtls *s = lc_dtls_new(rsa, LC_DTLS_SERVER, lc_dtls_cert_fingerprint(ec), 1200);
  pair p = {.ccert = NULL, .scert = NULL, .c = c, .s = s};
  handshake(&p, NULL);
  assert_connected(&p);
  lc_dtls_free(c);
  lc_dtls_free(s);

  /* Errors name the file and the cause. */
  g_assert_null(lc_dtls_cert_load(ec_crt, rsa_key, &err));
  g_assert_nonnull(strstr(err, "does not match"));
  g_assert_nonnull(strstr(err, rsa_key));
  g_assert_null(lc_dtls_cert_load("/nonexistent/x.crt", ec_key, &err));
  g_assert_nonnull(strstr(err, "/nonexistent/x.crt"));
  g_assert_null(lc_dtls_cert_load(ec_key, ec_key, &err)); /* a key is no certificate */
  g_assert_nonnull(strstr(err, "certificate"));
  g_assert_null(lc_dtls_cert_load(ec_crt, ec_crt, &err)); /* a certificate is no key */
  g_assert_nonnull(strstr(err, ec_crt));
  g_assert_null(lc_dtls_cert_load(ed_crt, ed_key, &err));
  g_assert_nonnull(strstr(err, "ED25519"));
  lc_dtls_cert *again = lc_dtls_cert_load(ec_crt, ec_key, NULL); /* NULL err_msg is fine */
  g_assert_nonnull(again);
  lc_dtls_cert_unref(again);
  g_assert_null(lc_dtls_cert_load(ec_crt, rsa_key, NULL));
  g_free(err);
  lc_dtls_cert_unref(ec);
  lc_dtls_cert_unref(rsa);

  const char *files[] = {ec_crt, ec_key, rsa_crt, rsa_key, ed_crt, ed_key};
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
    g_unlink(files[i]);
  g_rmdir(dir);
  g_free(ec_crt), g_free(ec_key), g_free(rsa_crt), g_free(rsa_key), g_free(ed_crt), g_free(ed_key), g_free(dir);
}

/* ---- handshake ---- */

/* Builds an RTP packet of len bytes (header + pattern payload) into a heap buffer with exactly
 * LC_SRTP_MAX_TRAILER spare bytes, so ASan catches any overrun. */
static uint8_t *
rtp_packet(uint32_t ssrc, uint16_t seq, size_t len)
{
  uint8_t *b = g_malloc(len + LC_SRTP_MAX_TRAILER);
  b[0] = 0x80;
  b[1] = 96;
  b[2] = seq >> 8, b[3] = seq & 0xff;
  uint32_t ts = seq * 3000u;
  b[4] = ts >> 24, b[5] = ts >> 16, b[6] = ts >> 8, b[7] = ts;
  b[8] = ssrc >> 24, b[9] = ssrc >> 16, b[10] = ssrc >> 8, b[11] = ssrc;
  for (size_t i = 12; i < len; i++)
    b[i] = (uint8_t)(i * 7 + seq);
  return b;
}

/* A receiver report (RTCP RR with one block): 32 bytes. */
static uint8_t *
rtcp_packet(uint32_t ssrc, size_t *len)
{
  *len = 32;
  uint8_t *b = g_malloc0(*len + LC_SRTP_MAX_TRAILER);
  b[0] = 0x81;
  b[1] = 201;
  b[3] = 7;
  b[4] = ssrc >> 24, b[5] = ssrc >> 16, b[6] = ssrc >> 8, b[7] = ssrc;
  for (size_t i = 8; i < *len; i++)
    b[i] = (uint8_t)i;
  return b;
}

/* One way: a protects, b unprotects; byte-exact; replay and tampering refused. */
static void
srtp_one_way(lc_srtp *a, lc_srtp *b, uint32_t ssrc)
{
  for (uint16_t seq = 1000; seq < 1010; seq++) {
    size_t len = 100 + seq % 7 * 150, plen = 0, ulen = 0;
    uint8_t *pkt = rtp_packet(ssrc, seq, len), *ref = g_memdup2(pkt, len);
    g_assert_cmpint(lc_srtp_protect_rtp(a, pkt, len, &plen), ==, 0);
    g_assert_cmpuint(plen, >, len);
    g_assert_cmpuint(plen, <=, len + LC_SRTP_MAX_TRAILER);
    g_assert_cmpint(memcmp(pkt + 12, ref + 12, len - 12), !=, 0); /* encrypted */
    uint8_t *copy = g_memdup2(pkt, plen);
    g_assert_cmpint(lc_srtp_unprotect_rtp(b, pkt, plen, &ulen), ==, 0);
    g_assert_cmpuint(ulen, ==, len);
    g_assert_cmpmem(pkt, ulen, ref, len);
    /* replay */
    memcpy(pkt, copy, plen);
    g_assert_cmpint(lc_srtp_unprotect_rtp(b, pkt, plen, &ulen), ==, LC_EINVAL);
    g_free(pkt), g_free(ref), g_free(copy);
  }
  /* tampered: every region (header, payload, tag) */
  for (size_t where = 0; where < 3; where++) {
    size_t len = 200, plen = 0, ulen = 0;
    uint8_t *pkt = rtp_packet(ssrc, (uint16_t)(2000 + where), len);
    g_assert_cmpint(lc_srtp_protect_rtp(a, pkt, len, &plen), ==, 0);
    size_t at = where == 0 ? 5 : where == 1 ? 100 : plen - 1;
    pkt[at] ^= 0x01;
    g_assert_cmpint(lc_srtp_unprotect_rtp(b, pkt, plen, &ulen), ==, LC_EINVAL);
    g_free(pkt);
  }
  /* RTCP: byte-exact, replay refused, tamper refused */
  size_t len, plen, ulen;
  uint8_t *r = rtcp_packet(ssrc + 1, &len), *ref = g_memdup2(r, len);
  g_assert_cmpint(lc_srtp_protect_rtcp(a, r, len, &plen), ==, 0);
  g_assert_cmpuint(plen, <=, len + LC_SRTP_MAX_TRAILER);
  uint8_t *copy = g_memdup2(r, plen);
  g_assert_cmpint(lc_srtp_unprotect_rtcp(b, r, plen, &ulen), ==, 0);
  g_assert_cmpmem(r, ulen, ref, len);
  memcpy(r, copy, plen);
  g_assert_cmpint(lc_srtp_unprotect_rtcp(b, r, plen, &ulen), ==, LC_EINVAL);
  g_free(r), g_free(copy);
  r = rtcp_packet(ssrc + 1, &len);
  g_assert_cmpint(lc_srtp_protect_rtcp(a, r, len, &plen), ==, 0);
  r[12] ^= 0x80;
  g_assert_cmpint(lc_srtp_unprotect_rtcp(b, r, plen, &ulen), ==, LC_EINVAL);
  g_free(r), g_free(ref);
}

static void
check_profile(const lc_srtp_profile *offer, size_t n, lc_srtp_profile expect)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  if (offer)
    g_assert_cmpint(lc_dtls_set_srtp_profiles(p.c, offer, n), ==, 0);
  handshake(&p, NULL);
  assert_connected(&p);
  g_assert_cmpuint(p.max_datagram, <=, 1200);
  g_assert_cmpint(lc_dtls_get_srtp_profile(p.c), ==, expect);
  g_assert_cmpint(lc_dtls_get_srtp_profile(p.s), ==, expect);
  lc_srtp *cs = lc_srtp_new_from_dtls(p.c), *ss = lc_srtp_new_from_dtls(p.s);
  g_assert_nonnull(cs);
  g_assert_nonnull(ss);
  g_assert_cmpint(lc_srtp_get_profile(cs), ==, expect);
  srtp_one_way(cs, ss, 0x11223344);
  srtp_one_way(ss, cs, 0x55667788);
  /* Trailer sizes: GCM tag 16 (+4 SRTCP index), CM tag 10 (+4). */
  size_t len = 100, plen;
  uint8_t *pkt = rtp_packet(1, 1, len);
  g_assert_cmpint(lc_srtp_protect_rtp(ss, pkt, len, &plen), ==, 0);
  g_assert_cmpuint(plen - len, ==, expect == LC_SRTP_AEAD_AES_128_GCM ? 16 : 10);
  g_free(pkt);
  lc_srtp_free(cs);
  lc_srtp_free(ss);
  /* Settings after the start are refused. */
  g_assert_cmpint(lc_dtls_set_srtp_profiles(p.c, offer ? offer : &expect, 1), ==, LC_ESTATE);
  pair_clear(&p);
}

static void
test_handshake_profiles(void)
{
  static const lc_srtp_profile gcm[] = {LC_SRTP_AEAD_AES_128_GCM};
  static const lc_srtp_profile cm[] = {LC_SRTP_AES128_CM_SHA1_80};
  static const lc_srtp_profile cm_first[] = {LC_SRTP_AES128_CM_SHA1_80, LC_SRTP_AEAD_AES_128_GCM};
  check_profile(NULL, 0, LC_SRTP_AEAD_AES_128_GCM);
  check_profile(gcm, 1, LC_SRTP_AEAD_AES_128_GCM);
  check_profile(cm, 1, LC_SRTP_AES128_CM_SHA1_80);
  check_profile(cm_first, 2, LC_SRTP_AEAD_AES_128_GCM); /* the server's preference wins */

  pair p;
  pair_init(&p, NULL, NULL, 1200);
  static const lc_srtp_profile bad[] = {(lc_srtp_profile)5};
  g_assert_cmpint(lc_dtls_set_srtp_profiles(p.c, bad, 1), ==, LC_EINVAL);
  g_assert_cmpint(lc_dtls_set_srtp_profiles(p.c, gcm, 0), ==, LC_EINVAL);
  /* No common profile: the handshake fails on both sides. */
  g_assert_cmpint(lc_dtls_set_srtp_profiles(p.c, cm, 1), ==, 0);
  g_assert_cmpint(lc_dtls_set_srtp_profiles(p.s, gcm, 1), ==, 0);
  handshake(&p, NULL);
  g_assert_cmpint(lc_dtls_get_state(p.c), !=, LC_DTLS_CONNECTED);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_FAILED);
  g_assert_nonnull(strstr(lc_dtls_error(p.s), "no SRTP protection profile in common"));
  g_assert_null(lc_srtp_new_from_dtls(p.c));
  g_assert_null(lc_srtp_new_from_dtls(p.s));
  pair_clear(&p);
}

/* Small MTU: the server's first flight (Certificate ~400 bytes) is fragmented to fit. */
static void
test_mtu(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 300);
  handshake(&p, NULL);
  assert_connected(&p);
  g_assert_cmpuint(p.max_datagram, <=, 300);
  g_assert_cmpuint(p.datagrams, >, 4);
  pair_clear(&p);
}

static void
test_fingerprint_mismatch(void)
{
  char *err = NULL;
  lc_dtls_cert *other = lc_dtls_cert_generate(&err);
  g_assert_null(err);
  /* The server expects another certificate than the client's. */
  pair p;
  pair_init(&p, NULL, lc_dtls_cert_fingerprint(other), 1200);
  handshake(&p, NULL);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_FAILED);
  const char *e = lc_dtls_error(p.s);
  g_assert_nonnull(e);
  g_assert_nonnull(strstr(e, "fingerprint"));
  g_assert_nonnull(strstr(e, "does not match"));
  g_test_message("server: %s", e);
  /* The client got the alert. */
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_FAILED);
  g_test_message("client: %s", lc_dtls_error(p.c));
  g_assert_null(lc_srtp_new_from_dtls(p.s));
  pair_clear(&p);

  /* The client expects another server certificate. */
  pair_init(&p, lc_dtls_cert_fingerprint(other), NULL, 1200);
  handshake(&p, NULL);
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_FAILED);
  g_assert_nonnull(strstr(lc_dtls_error(p.c), "does not match the SDP a=fingerprint"));
  g_assert_cmpint(lc_dtls_get_state(p.s), !=, LC_DTLS_CONNECTED);
  pair_clear(&p);

  /* A fingerprint of the right certificate with another hash (sha-1 of the same cert would
   * pass; a sha-1 value of the wrong length is malformed): malformed -> FAILED at once. */
  lc_dtls *d = lc_dtls_new(other, LC_DTLS_SERVER, "sha-256 00:11", 1200);
  g_assert_cmpint(lc_dtls_get_state(d), ==, LC_DTLS_FAILED);
  g_assert_nonnull(strstr(lc_dtls_error(d), "remote fingerprint"));
  GPtrArray *out = new_out();
  uint8_t junk[40] = {22, 0xfe, 0xfd};
  g_assert_cmpint(lc_dtls_feed(d, junk, sizeof junk, out), ==, LC_DTLS_FAILED);
  g_assert_cmpint(lc_dtls_next_timeout(d), ==, -1);
  g_assert_cmpint(lc_dtls_on_timeout(d, out), ==, LC_DTLS_FAILED);
  g_assert_cmpuint(out->len, ==, 0);
  lc_dtls_free(d);
  d = lc_dtls_new(other, LC_DTLS_CLIENT, NULL, 1200);
  g_assert_cmpint(lc_dtls_get_state(d), ==, LC_DTLS_FAILED);
  lc_dtls_start(d, out);
  g_assert_cmpuint(out->len, ==, 0);
  lc_dtls_free(d);
  g_ptr_array_unref(out);
  lc_dtls_cert_unref(other);
}

/* sha-512 fingerprints work (the hash is the one named in the SDP). */
static void
test_fingerprint_sha512(void)
{
  char *dir = g_dir_make_tmp("lc-dtls-XXXXXX", NULL);
  char *crt = g_build_filename(dir, "c.crt", NULL), *key = g_build_filename(dir, "c.key", NULL);
  char *cmd = g_strdup_printf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                              "-subj /CN=t -keyout %s -out %s", key, crt);
  g_free(run(cmd));
  g_free(cmd);
  cmd = g_strdup_printf("openssl x509 -noout -fingerprint -sha512 -in %s", crt);
  char *o = run(cmd);
  g_free(cmd);
  char *fp = g_strdup_printf("SHA-512 %s", g_strstrip(strchr(o, '=') + 1));
  g_free(o);
  char *err = NULL;
  lc_dtls_cert *cc = lc_dtls_cert_load(crt, key, &err), *sc = lc_dtls_cert_generate(&err);
  g_assert_null(err);
  pair p = {0};
  p.c = lc_dtls_new(cc, LC_DTLS_CLIENT, lc_dtls_cert_fingerprint(sc), 1200);
  p.s = lc_dtls_new(sc, LC_DTLS_SERVER, fp, 1200);
  handshake(&p, NULL);
  assert_connected(&p);
  lc_dtls_free(p.c), lc_dtls_free(p.s);
  lc_dtls_cert_unref(cc), lc_dtls_cert_unref(sc);
  g_unlink(crt), g_unlink(key), g_rmdir(dir);
  g_free(crt), g_free(key), g_free(dir), g_free(fp);
}

/* ---- retransmission ---- */

static bool
drop_first_client_flight(int dir, unsigned index)
{
  return dir == 0 && index == 0; /* the ClientHello */
}

static bool
drop_first_server_flight(int dir, unsigned index)
{
  return dir == 1 && index == 0; /* ServerHello, Certificate, ... Done: one datagram at MTU 1200 */
}

static void
wait_and_retransmit(lc_dtls *d, GPtrArray *out)
{
  int64_t t = lc_dtls_next_timeout(d);
  g_assert_cmpint(t, >, 0);
  int64_t now = g_get_monotonic_time();
  g_assert_cmpint(t - now, <=, 60 * 1000 + 1000); /* the configured 60 ms */
  if (t > now)
    g_usleep((gulong)(t - now));
  lc_dtls_on_timeout(d, out);
  g_assert_cmpuint(out->len, >=, 1);
}

static void
test_retransmit(void)
{
  /* A lost ClientHello: the client's timer fires and resends it. */
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  lc_dtls_set_initial_timeout(p.c, 60);
  lc_dtls_set_initial_timeout(p.s, 60);
  g_assert_cmpint(lc_dtls_next_timeout(p.c), ==, -1); /* nothing sent yet */
  handshake(&p, drop_first_client_flight);
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_HANDSHAKING);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_HANDSHAKING);
  g_assert_cmpint(lc_dtls_next_timeout(p.s), ==, -1); /* the server heard nothing */
  GPtrArray *out = new_out();
  /* Too early: nothing happens. */
  lc_dtls_on_timeout(p.c, out);
  g_assert_cmpuint(out->len, ==, 0);
  wait_and_retransmit(p.c, out);
  shuttle(&p, out, NULL);
  assert_connected(&p);
  pair_clear(&p);

  /* A lost server flight: the client resends its ClientHello, the server answers again. */
  pair_init(&p, NULL, NULL, 1200);
  lc_dtls_set_initial_timeout(p.c, 60);
  lc_dtls_set_initial_timeout(p.s, 60);
  handshake(&p, drop_first_server_flight);
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_HANDSHAKING);
  g_assert_cmpint(lc_dtls_next_timeout(p.s), >, 0); /* the server waits for the client's flight */
  wait_and_retransmit(p.c, out);
  shuttle(&p, out, NULL);
  assert_connected(&p);
  pair_clear(&p);
  g_ptr_array_unref(out);
}

static bool
drop_last_server_flight(int dir, unsigned index)
{
  return dir == 1 && index >= 1; /* after the ServerHello..Done datagram: drop CCS + Finished */
}

/* The server's final flight (ChangeCipherSpec + Finished) is lost: the server is connected,
 * the client retransmits its flight and the connected server answers it again. */
static void
test_retransmit_final_flight(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  lc_dtls_set_initial_timeout(p.c, 60);
  handshake(&p, drop_last_server_flight);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_CONNECTED);
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_HANDSHAKING);
  GPtrArray *out = new_out();
  wait_and_retransmit(p.c, out);
  shuttle(&p, out, NULL);
  assert_connected(&p);
  g_ptr_array_unref(out);
  pair_clear(&p);
}

/* No answer at all: the timer doubles and the ClientHello is resent each time (the failure
 * after OpenSSL's 12 timeouts would take ~15 s even from 20 ms: not waited for here). */
static void
test_timeout_backoff(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  lc_dtls_set_initial_timeout(p.c, 20);
  GPtrArray *out = new_out();
  lc_dtls_start(p.c, out);
  int64_t prev = 0;
  for (int i = 0; i < 3; i++) {
    int64_t t = lc_dtls_next_timeout(p.c), now = g_get_monotonic_time();
    g_assert_cmpint(t - now, >, prev);
    prev = t - now;
    g_usleep((gulong)MAX(t - now, 0));
    g_ptr_array_set_size(out, 0);
    g_assert_cmpint(lc_dtls_on_timeout(p.c, out), ==, LC_DTLS_HANDSHAKING);
    g_assert_cmpuint(out->len, ==, 1); /* the ClientHello again */
  }
  g_ptr_array_unref(out);
  pair_clear(&p);
}

/* ---- hostile input ---- */

static void
feed_random(lc_dtls *d, GRand *r, unsigned n)
{
  GPtrArray *out = new_out();
  uint8_t buf[1500];
  for (unsigned i = 0; i < n; i++) {
    size_t len = g_rand_int_range(r, 0, sizeof buf + 1);
    for (size_t j = 0; j < len; j++)
      buf[j] = (uint8_t)g_rand_int(r);
    if (len > 0 && g_rand_boolean(r))
      buf[0] = (uint8_t)g_rand_int_range(r, 20, 26); /* a plausible content type */
    if (len > 3 && g_rand_boolean(r))
      buf[1] = 0xfe, buf[2] = 0xfd; /* DTLS 1.2 */
    if (len > 13 && g_rand_boolean(r)) {
      size_t rl = g_rand_int_range(r, 0, (gint32)len); /* a plausible record length */
      buf[11] = rl >> 8, buf[12] = rl & 0xff;
    }
    lc_dtls_feed(d, buf, len, out);
    g_ptr_array_set_size(out, 0);
  }
  g_ptr_array_unref(out);
}

static void
test_garbage(void)
{
  GRand *r = g_rand_new_with_seed(42);
  /* A fresh server and a handshaking client: garbage is ignored or fails the handshake. */
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  GPtrArray *out = new_out();
  lc_dtls_start(p.c, out);
  feed_random(p.s, r, 200);
  feed_random(p.c, r, 200);
  lc_dtls_state st = lc_dtls_get_state(p.s);
  g_assert_true(st == LC_DTLS_HANDSHAKING || st == LC_DTLS_FAILED);
  if (st == LC_DTLS_FAILED)
    g_assert_nonnull(lc_dtls_error(p.s));
  g_ptr_array_unref(out);
  pair_clear(&p);

  /* Connected endpoints: random records never authenticate, the session survives. */
  pair_init(&p, NULL, NULL, 1200);
  handshake(&p, NULL);
  assert_connected(&p);
  feed_random(p.s, r, 300);
  feed_random(p.c, r, 300);
  lc_dtls_state sc = lc_dtls_get_state(p.c), ss = lc_dtls_get_state(p.s);
  g_assert_true(sc == LC_DTLS_CONNECTED || sc == LC_DTLS_FAILED);
  g_assert_true(ss == LC_DTLS_CONNECTED || ss == LC_DTLS_FAILED);
  g_test_message("after garbage: client %d server %d", sc, ss);
  pair_clear(&p);

  /* Truncated real handshake datagrams, at every length, to fresh servers. */
  pair_init(&p, NULL, NULL, 1200);
  out = new_out();
  lc_dtls_start(p.c, out);
  gsize hello_len;
  const uint8_t *hello = g_bytes_get_data(out->pdata[0], &hello_len);
  GPtrArray *sink = new_out();
  for (gsize cut = 0; cut < hello_len; cut++) {
    lc_dtls *s = lc_dtls_new(p.scert, LC_DTLS_SERVER, lc_dtls_cert_fingerprint(p.ccert), 1200);
    uint8_t *copy = g_memdup2(hello, cut);
    lc_dtls_feed(s, copy, cut, sink);
    g_free(copy);
    /* then the whole ClientHello: a truncated one before it must not poison the server */
    lc_dtls_feed(s, hello, hello_len, sink);
    lc_dtls_free(s);
  }
  g_ptr_array_unref(sink);
  g_ptr_array_unref(out);
  pair_clear(&p);

  /* Not DTLS by its first byte, empty, oversized: ignored. */
  pair_init(&p, NULL, NULL, 1200);
  out = new_out();
  uint8_t rtp[100] = {0x80, 96};
  g_assert_cmpint(lc_dtls_feed(p.s, rtp, sizeof rtp, out), ==, LC_DTLS_HANDSHAKING);
  g_assert_cmpint(lc_dtls_feed(p.s, rtp, 0, out), ==, LC_DTLS_HANDSHAKING);
  g_assert_cmpint(lc_dtls_feed(p.s, NULL, 10, out), ==, LC_DTLS_HANDSHAKING);
  uint8_t *big = g_malloc0(70000);
  big[0] = 22;
  g_assert_cmpint(lc_dtls_feed(p.s, big, 70000, out), ==, LC_DTLS_HANDSHAKING);
  g_free(big);
  g_assert_cmpuint(out->len, ==, 0);
  /* A server fed junk forever gives up (bounded work before the handshake). */
  uint8_t junk[64] = {22, 0xfe, 0xfd};
  for (int i = 0; i < 300; i++)
    lc_dtls_feed(p.s, junk, sizeof junk, out);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_FAILED);
  g_assert_nonnull(strstr(lc_dtls_error(p.s), "datagrams"));
  g_ptr_array_unref(out);
  pair_clear(&p);
  g_rand_free(r);
}

static void
test_srtp_garbage(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  handshake(&p, NULL);
  assert_connected(&p);
  lc_srtp *ss = lc_srtp_new_from_dtls(p.s);
  GRand *r = g_rand_new_with_seed(7);
  for (int i = 0; i < 2000; i++) {
    size_t len = g_rand_int_range(r, 0, 1300), out_len = 0;
    uint8_t *b = g_malloc(len + LC_SRTP_MAX_TRAILER);
    for (size_t j = 0; j < len; j++)
      b[j] = (uint8_t)g_rand_int(r);
    if (len > 0)
      b[0] = 0x80 | (b[0] & 0x3f);
    int rc = i % 2 ? lc_srtp_unprotect_rtp(ss, b, len, &out_len) : lc_srtp_unprotect_rtcp(ss, b, len, &out_len);
    g_assert_cmpint(rc, ==, LC_EINVAL);
    g_free(b);
  }
  size_t out_len;
  uint8_t small[LC_SRTP_MAX_TRAILER + 4] = {0x80};
  g_assert_cmpint(lc_srtp_protect_rtp(ss, small, 4, &out_len), ==, LC_EINVAL);
  g_assert_cmpint(lc_srtp_protect_rtcp(ss, small, 4, &out_len), ==, LC_EINVAL);
  g_rand_free(r);
  lc_srtp_free(ss);
  pair_clear(&p);
}

/* NACK answers resend a packet already protected (same SSRC and seq): allowed, and the
 * receiver that missed the original accepts it; the copy it already had stays a replay. */
static void
test_srtp_retransmission(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  handshake(&p, NULL);
  assert_connected(&p);
  lc_srtp *tx = lc_srtp_new_from_dtls(p.s), *rx = lc_srtp_new_from_dtls(p.c);
  const uint32_t ssrc = 0xCAFE;
  size_t len = 300, plen, ulen;
  for (uint16_t seq = 1; seq <= 3000; seq++) {
    uint8_t *pkt = rtp_packet(ssrc, seq, len);
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, len, &plen), ==, 0);
    if (seq != 5 && seq != 2990) /* lost on the way */
      g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, 0);
    g_free(pkt);
  }
  /* Resend 2990 (recent), then 5 (~3000 packets old, inside the receiver's 1024 window? no:
   * the receiver refuses it as too old), then 10 (received already). */
  uint16_t resend[] = {2990, 5, 10};
  int expect_rx[] = {0, LC_EINVAL, LC_EINVAL};
  for (size_t i = 0; i < G_N_ELEMENTS(resend); i++) {
    uint8_t *pkt = rtp_packet(ssrc, resend[i], len), *ref = g_memdup2(pkt, len);
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, len, &plen), ==, 0);
    g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, expect_rx[i]);
    if (expect_rx[i] == 0)
      g_assert_cmpmem(pkt, ulen, ref, len);
    g_free(pkt), g_free(ref);
  }
  /* Twice the same, in a row (a duplicated NACK) */
  for (int i = 0; i < 2; i++) {
    uint8_t *pkt = rtp_packet(ssrc, 2999, len);
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, len, &plen), ==, 0);
    g_free(pkt);
  }
  /* Beyond the sender's 4096 window: refused. */
  for (uint32_t seq = 3001; seq <= 3000 + 9000; seq++) {
    uint8_t *pkt = rtp_packet(ssrc, (uint16_t)seq, 20);
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 20, &plen), ==, 0);
    g_free(pkt);
  }
  uint8_t *pkt = rtp_packet(ssrc, 100, 20);
  g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 20, &plen), ==, LC_EINVAL);
  g_free(pkt);
  lc_srtp_free(tx);
  lc_srtp_free(rx);
  pair_clear(&p);
}

/* At most 32 inbound SSRCs, then new ones are refused (known ones keep working). */
static void
test_srtp_ssrc_limit(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  handshake(&p, NULL);
  lc_srtp *tx = lc_srtp_new_from_dtls(p.c), *rx = lc_srtp_new_from_dtls(p.s);
  size_t plen, ulen;
  for (uint32_t ssrc = 1; ssrc <= 40; ssrc++) {
    uint8_t *pkt = rtp_packet(ssrc, 1, 50);
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 50, &plen), ==, 0);
    g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, ssrc <= 32 ? 0 : LC_EINVAL);
    g_free(pkt);
  }
  uint8_t *pkt = rtp_packet(7, 2, 50);
  g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 50, &plen), ==, 0);
  g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, 0);
  g_free(pkt);
  lc_srtp_free(tx);
  lc_srtp_free(rx);
  pair_clear(&p);
}

static void
test_close(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  handshake(&p, NULL);
  assert_connected(&p);
  GPtrArray *out = new_out();
  lc_dtls_close(p.c, out);
  g_assert_cmpint(lc_dtls_get_state(p.c), ==, LC_DTLS_CLOSED);
  g_assert_cmpuint(out->len, ==, 1);
  gsize n;
  const uint8_t *b = g_bytes_get_data(out->pdata[0], &n);
  GPtrArray *back = new_out();
  g_assert_cmpint(lc_dtls_feed(p.s, b, n, back), ==, LC_DTLS_CLOSED);
  g_assert_null(lc_dtls_error(p.s));
  lc_dtls_close(p.s, back); /* no-op once closed */
  lc_dtls_close(p.c, back);
  g_assert_cmpuint(back->len, ==, 0);
  g_ptr_array_unref(out);
  g_ptr_array_unref(back);
  pair_clear(&p);
}

/* trim: the OpenSSL session goes, SRTP and the state stay. */
static void
test_trim(void)
{
  pair p;
  pair_init(&p, NULL, NULL, 1200);
  lc_dtls_trim(p.s); /* not connected: no-op */
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_HANDSHAKING);
  handshake(&p, NULL);
  assert_connected(&p);
  lc_srtp *cs = lc_srtp_new_from_dtls(p.c);
  lc_dtls_trim(p.s);
  lc_dtls_trim(p.s);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_CONNECTED);
  g_assert_cmpint(lc_dtls_get_srtp_profile(p.s), ==, LC_SRTP_AEAD_AES_128_GCM);
  g_assert_cmpint(lc_dtls_next_timeout(p.s), ==, -1);
  lc_srtp *ss = lc_srtp_new_from_dtls(p.s);
  g_assert_nonnull(ss);
  srtp_one_way(cs, ss, 99);
  srtp_one_way(ss, cs, 98);
  /* The trimmed side still says goodbye: the close_notify sealed at trim reaches the peer as
   * a valid alert (the peer's session is intact). */
  GPtrArray *bye = new_out();
  lc_dtls_close(p.s, bye);
  g_assert_cmpint(lc_dtls_get_state(p.s), ==, LC_DTLS_CLOSED);
  g_assert_cmpuint(bye->len, ==, 1);
  gsize n;
  const uint8_t *b = g_bytes_get_data(bye->pdata[0], &n);
  GPtrArray *back = new_out();
  g_assert_cmpint(lc_dtls_feed(p.c, b, n, back), ==, LC_DTLS_CLOSED);
  g_assert_null(lc_dtls_error(p.c));
  lc_dtls_close(p.s, back); /* once only */
  g_assert_cmpuint(back->len, ==, 0);
  g_ptr_array_unref(bye);
  g_ptr_array_unref(back);
  /* A peer's close_notify after the trim goes unnoticed (the trimmed side has no keys). */
  pair q;
  pair_init(&q, NULL, NULL, 1200);
  handshake(&q, NULL);
  lc_dtls_trim(q.s);
  GPtrArray *out = new_out();
  lc_dtls_close(q.c, out);
  b = g_bytes_get_data(out->pdata[0], &n);
  g_assert_cmpint(lc_dtls_feed(q.s, b, n, NULL), ==, LC_DTLS_CONNECTED);
  g_ptr_array_unref(out);
  pair_clear(&q);
  lc_srtp_free(cs);
  lc_srtp_free(ss);
  pair_clear(&p);
}

/* libsrtp already initialised by another user of the process (GStreamer's srtpenc/srtpdec call
 * srtp_init() themselves): our sessions must still come up, no abort. In a subprocess, so that
 * this process's libsrtp starts uninitialised whatever ran before. */
static void
test_srtp_init_by_other(void)
{
  if (g_test_subprocess()) {
    g_assert_cmpint(srtp_init(), ==, srtp_err_status_ok); /* the other user, first */
    g_assert_cmpint(lc_srtp_init(NULL), ==, 0);
    g_assert_cmpint(lc_srtp_init(NULL), ==, 0); /* remembered */
    pair p;
    pair_init(&p, NULL, NULL, 1200);
    handshake(&p, NULL);
    assert_connected(&p);
    lc_srtp *cs = lc_srtp_new_from_dtls(p.c), *ss = lc_srtp_new_from_dtls(p.s);
    g_assert_nonnull(cs);
    g_assert_nonnull(ss);
    srtp_one_way(cs, ss, 97);
    srtp_one_way(ss, cs, 96);
    lc_srtp_free(cs);
    lc_srtp_free(ss);
    pair_clear(&p);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

/* Outbound RTP is protected by our OpenSSL path (libsrtp for the rest): libsrtp as the receiver
 * must accept it across a sequence number wrap (the rollover counter goes into the IV / the
 * tag), with CSRCs and a header extension (both authenticated, not encrypted), for both
 * profiles; LC_SRTP_TX=libsrtp gives the same results through libsrtp. */
static void
test_srtp_tx_rollover(void)
{
  static const lc_srtp_profile gcm[] = {LC_SRTP_AEAD_AES_128_GCM}, cm[] = {LC_SRTP_AES128_CM_SHA1_80};
  for (int k = 0; k < 2; k++) {
    pair p;
    pair_init(&p, NULL, NULL, 1200);
    lc_dtls_set_srtp_profiles(p.c, k ? cm : gcm, 1);
    handshake(&p, NULL);
    assert_connected(&p);
    lc_srtp *tx = lc_srtp_new_from_dtls(p.s), *rx = lc_srtp_new_from_dtls(p.c);
    g_assert_cmpint(lc_srtp_get_profile(tx), ==, k ? LC_SRTP_AES128_CM_SHA1_80 : LC_SRTP_AEAD_AES_128_GCM);
    for (uint32_t i = 0; i < 300; i++) {
      uint16_t seq = (uint16_t)(65400 + i); /* wraps after 136 packets */
      size_t len = 60 + i % 5 * 200, plen = 0, ulen = 0;
      uint8_t *pkt = rtp_packet(0xABCD, seq, len);
      if (i % 3 == 1) { /* one CSRC + a one-byte-header extension of one word */
        pkt[0] = 0x91;
        memcpy(pkt + 12, "\x01\x02\x03\x04\xBE\xDE\x00\x01\x30\x11\x22\x00", 12);
      }
      uint8_t *ref = g_memdup2(pkt, len);
      g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, len, &plen), ==, 0);
      g_assert_cmpuint(plen, ==, len + (k ? 10 : 16));
      if (i % 3 == 1)
        g_assert_cmpmem(pkt, 24, ref, 24); /* header in clear */
      if (seq != 65530) { /* lost on the way */
        g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, 0);
        g_assert_cmpmem(pkt, ulen, ref, len);
      }
      g_free(pkt), g_free(ref);
    }
    /* Its retransmission after the wrap (a NACK answer) authenticates with the old ROC. */
    uint8_t *pkt = rtp_packet(0xABCD, 65530, 100), *ref = g_memdup2(pkt, 100);
    size_t plen, ulen;
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 100, &plen), ==, 0);
    g_assert_cmpint(lc_srtp_unprotect_rtp(rx, pkt, plen, &ulen), ==, 0);
    g_assert_cmpmem(pkt, ulen, ref, 100);
    g_free(pkt), g_free(ref);
    /* A header claiming more CSRCs / extension words than the packet holds: refused. */
    pkt = rtp_packet(0xABCD, 200, 20);
    pkt[0] = 0x8F; /* 15 CSRCs */
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 20, &plen), ==, LC_EINVAL);
    pkt[0] = 0x90; /* extension header at 12..15 says 0xffff words */
    pkt[14] = pkt[15] = 0xff;
    g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 20, &plen), ==, LC_EINVAL);
    g_free(pkt);
    lc_srtp_free(tx);
    lc_srtp_free(rx);
    pair_clear(&p);
  }
}

/* Rough cost of the fan-out's hot path (not a benchmark: printed, not asserted). */
static void
test_protect_cost(void)
{
  static const lc_srtp_profile gcm[] = {LC_SRTP_AEAD_AES_128_GCM}, cm[] = {LC_SRTP_AES128_CM_SHA1_80};
  for (int k = 0; k < 2; k++) {
    pair p;
    pair_init(&p, NULL, NULL, 1200);
    lc_dtls_set_srtp_profiles(p.c, k ? cm : gcm, 1);
    handshake(&p, NULL);
    lc_srtp *tx = lc_srtp_new_from_dtls(p.s);
    uint8_t *pkt = rtp_packet(1, 0, 1200);
    size_t plen;
    const int n = 20000;
    int64_t t0 = g_get_monotonic_time();
    for (int i = 0; i < n; i++) {
      pkt[2] = (uint8_t)(i >> 8), pkt[3] = (uint8_t)i;
      g_assert_cmpint(lc_srtp_protect_rtp(tx, pkt, 1200, &plen), ==, 0);
    }
    int64_t dt = g_get_monotonic_time() - t0;
    g_test_message("protect 1200-byte RTP, %s: %.2f us/packet (%.0f Mbit/s of one core)", k ? "CM" : "GCM",
                   (double)dt / n, 1200.0 * 8 * n / dt);
    g_free(pkt);
    lc_srtp_free(tx);
    pair_clear(&p);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/dtls/cert_generate", test_cert_generate);
  g_test_add_func("/dtls/fingerprint_valid", test_fingerprint_valid);
  g_test_add_func("/dtls/cert_load", test_cert_load);
  g_test_add_func("/dtls/handshake_profiles", test_handshake_profiles);
  g_test_add_func("/dtls/mtu", test_mtu);
  g_test_add_func("/dtls/fingerprint_mismatch", test_fingerprint_mismatch);
  g_test_add_func("/dtls/fingerprint_sha512", test_fingerprint_sha512);
  g_test_add_func("/dtls/retransmit", test_retransmit);
  g_test_add_func("/dtls/retransmit_final_flight", test_retransmit_final_flight);
  g_test_add_func("/dtls/timeout_backoff", test_timeout_backoff);
  g_test_add_func("/dtls/garbage", test_garbage);
  g_test_add_func("/dtls/close", test_close);
  g_test_add_func("/dtls/trim", test_trim);
  g_test_add_func("/srtp/garbage", test_srtp_garbage);
  g_test_add_func("/srtp/init_by_other", test_srtp_init_by_other);
  g_test_add_func("/srtp/retransmission", test_srtp_retransmission);
  g_test_add_func("/srtp/tx_rollover", test_srtp_tx_rollover);
  g_test_add_func("/srtp/ssrc_limit", test_srtp_ssrc_limit);
  g_test_add_func("/srtp/protect_cost", test_protect_cost);
  return g_test_run();
}

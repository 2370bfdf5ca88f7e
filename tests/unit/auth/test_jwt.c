/* Unit tests for server/auth/jwt: HS256 mint / verify. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "base/errors.h"
#include "auth/jwt.h"

#define SECRET "livecart-test-secret"
#define SECRET_LEN (sizeof SECRET - 1)
#define NOW 1700001000 /* between the iat and exp of the known-answer token */

/* Minted independently with Python's hmac/hashlib/base64 (not with lc_jwt):
 * header {"typ":"JWT","alg":"HS256"} (note the order), payload
 * {"sub":"user_42","name":"小明","room":"demo","iat":1700000000,"exp":1700003600}. */
static const char kat_token[] =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
  "eyJzdWIiOiJ1c2VyXzQyIiwibmFtZSI6IuWwj-aYjiIsInJvb20iOiJkZW1vIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
  "3PSm_ftI-Ta0MF_j50TJOTS1Y3aiuJJwOoe4DltVPKE";
/* Python, header {"alg":"HS256","typ":"JWT"}, payload {"sub":"u1","exp":2000000000}: what
 * lc_jwt_mint must produce byte for byte. */
static const char kat_mint[] =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MjAwMDAwMDAwMH0."
  "z3c726KaeP1X6ceT_J343ysGywsa_vQpP16GducbzjY";
/* Python, same payload as kat_token, signed HS512 with the same secret. */
static const char kat_hs512[] =
  "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
  "eyJzdWIiOiJ1c2VyXzQyIiwibmFtZSI6IuWwj-aYjiIsInJvb20iOiJkZW1vIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9."
  "uVCzC8G43IrR-OyBRRVCZx0e8nH1ZsdM1I2p_mIX8V7ei87YLJN5DxVJrSuNdaOZ5A0qhJuMPOL3B5eZs-YTRg";

/* ---- test-side token builder (GLib base64 + OpenSSL HMAC, not lc_jwt code) ---- */

static char *
b64url(const void *data, size_t len)
{
  char *s = g_base64_encode(data, len);
  for (char *p = s; *p; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
    else if (*p == '=')
      *p = '\0';
  }
  return s;
}

/* header.payload.signature from raw JSON texts, signed with secret. */
static char *
build(const char *header, const char *payload, const char *secret)
{
  char *h = b64url(header, strlen(header));
  char *p = b64url(payload, strlen(payload));
  char *signing = g_strconcat(h, ".", p, NULL);
  unsigned char sig[32];
  unsigned int n = 0;
  g_assert_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing,
                        strlen(signing), sig, &n));
  g_assert_cmpuint(n, ==, 32);
  char *s = b64url(sig, sizeof sig);
  char *tok = g_strconcat(signing, ".", s, NULL);
  g_free(h);
  g_free(p);
  g_free(signing);
  g_free(s);
  return tok;
}

static const char *std_header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* Verifies tok with SECRET at now; asserts the result and returns the claims (or NULL). */
static json_t *
verify_at(const char *tok, gint64 now, int expect_rc, const char *expect_why)
{
  json_t *claims = (json_t *)0x1;
  const char *why = "unset";
  int rc = lc_jwt_verify(tok, strlen(tok), SECRET, SECRET_LEN, now, &claims, &why);
  if (rc != expect_rc || g_strcmp0(why, expect_why) != 0)
    g_test_message("token %s: rc %d why %s", tok, rc, why ? why : "(null)");
  g_assert_cmpint(rc, ==, expect_rc);
  g_assert_cmpstr(why, ==, expect_why);
  if (rc != 0)
    g_assert_null(claims);
  return claims;
}

static void
expect_reject(const char *tok, const char *why)
{
  int rc = strcmp(why, "too long") == 0 ? LC_ETOOBIG
           : (strcmp(why, "bad signature") == 0 || strcmp(why, "unsupported alg") == 0 ||
              strcmp(why, "expired") == 0 || strcmp(why, "not yet valid") == 0)
               ? LC_EPERM
               : LC_EINVAL;
  g_assert_null(verify_at(tok, NOW, rc, why));
}

/* ---- tests ---- */

static void
test_known_answer(void)
{
  json_t *c = verify_at(kat_token, NOW, 0, NULL);
  g_assert_nonnull(c);
  g_assert_cmpstr(json_string_value(json_object_get(c, "sub")), ==, "user_42");
  g_assert_cmpstr(json_string_value(json_object_get(c, "name")), ==, "小明");
  g_assert_cmpstr(json_string_value(json_object_get(c, "room")), ==, "demo");
  g_assert_cmpint(json_integer_value(json_object_get(c, "exp")), ==, 1700003600);
  json_decref(c);

  /* the same token under another secret */
  json_t *claims = NULL;
  const char *why = NULL;
  g_assert_cmpint(lc_jwt_verify(kat_token, strlen(kat_token), "other", 5, NOW, &claims, &why), ==, LC_EPERM);
  g_assert_cmpstr(why, ==, "bad signature");
  g_assert_null(claims);

  /* mint matches an independent implementation byte for byte */
  json_t *in = json_pack("{s:s, s:I}", "sub", "u1", "exp", (json_int_t)2000000000);
  char *tok = lc_jwt_mint(SECRET, SECRET_LEN, in);
  g_assert_cmpstr(tok, ==, kat_mint);
  g_free(tok);
  json_decref(in);
}

static void
test_round_trip(void)
{
  json_t *in = json_pack("{s:s, s:s, s:s, s:I, s:I}", "sub", "amy@example.com", "name", "艾米 Amy", "room",
                         "demo", "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 3600);
  char *tok = lc_jwt_mint(SECRET, SECRET_LEN, in);
  g_assert_nonnull(tok);
  g_assert_cmpint(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), ==,
                  strlen(tok));
  json_t *out = verify_at(tok, NOW, 0, NULL);
  g_assert_true(json_equal(in, out));
  json_decref(out);

  /* a token need not be NUL-terminated: verify a copy followed by garbage */
  size_t n = strlen(tok);
  char *buf = g_malloc(n + 4);
  memcpy(buf, tok, n);
  memcpy(buf + n, "xyz!", 4);
  const char *why = NULL;
  g_assert_cmpint(lc_jwt_verify(buf, n, SECRET, SECRET_LEN, NOW, &out, &why), ==, 0);
  json_decref(out);
  g_free(buf);
  g_free(tok);

  /* claims must be an object; empty secret refused */
  json_t *arr = json_array();
  g_assert_null(lc_jwt_mint(SECRET, SECRET_LEN, arr));
  g_assert_null(lc_jwt_mint("", 0, in));
  json_decref(arr);
  json_decref(in);
}

/* Replaces character i of tok with c. */
static char *
with_char(const char *tok, size_t i, char c)
{
  char *t = g_strdup(tok);
  t[i] = c;
  return t;
}

static void
test_tampered(void)
{
  const char *dot1 = strchr(kat_token, '.');
  const char *dot2 = strrchr(kat_token, '.');
  size_t p = (size_t)(dot1 - kat_token) + 5; /* inside the payload */
  size_t s = (size_t)(dot2 - kat_token) + 3; /* inside the signature */
  char *t;

  t = with_char(kat_token, p, kat_token[p] == 'A' ? 'B' : 'A');
  expect_reject(t, "bad signature");
  g_free(t);
  t = with_char(kat_token, s, kat_token[s] == 'A' ? 'B' : 'A');
  expect_reject(t, "bad signature");
  g_free(t);

  /* the last signature character carries 4 unused bits: a different non-canonical
   * encoding of the same bytes is refused (no signature malleability) */
  size_t last = strlen(kat_token) - 1;
  g_assert_cmpint(kat_token[last], ==, 'E'); /* 'E' = 4 = 000100, low 2 bits spare */
  t = with_char(kat_token, last, 'F');
  expect_reject(t, "malformed");
  g_free(t);

  /* header changed (typ dropped, still HS256): signature no longer matches */
  char *h = b64url(std_header, strlen(std_header));
  t = g_strconcat(h, dot1, NULL);
  expect_reject(t, "bad signature");
  g_free(t);
  g_free(h);

  /* payload swapped for another validly signed token's payload */
  char *other = build(std_header, "{\"sub\":\"admin\",\"exp\":2000000000}", SECRET);
  const char *o1 = strchr(other, '.');
  const char *o2 = strrchr(other, '.');
  char *mixed = g_strdup_printf("%.*s%.*s%s", (int)(dot1 - kat_token), kat_token, (int)(o2 - o1), o1, dot2);
  expect_reject(mixed, "bad signature");
  g_free(mixed);
  g_free(other);

  /* wrong secret */
  t = build(std_header, "{\"sub\":\"u1\",\"exp\":2000000000}", "not-the-secret");
  expect_reject(t, "bad signature");
  g_free(t);

  /* signature of the wrong length (valid base64url, 31 bytes) */
  unsigned char sig31[31] = {0};
  char *s31 = b64url(sig31, sizeof sig31);
  t = g_strdup_printf("%.*s.%s", (int)(dot2 - kat_token), kat_token, s31);
  expect_reject(t, "bad signature");
  g_free(t);
  g_free(s31);
}

static void
test_alg(void)
{
  const char *payload = "{\"sub\":\"u1\",\"exp\":2000000000}";
  char *t;

  /* alg none with an empty signature and with a valid HS256 signature */
  expect_reject("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSIsImV4cCI6MjAwMDAwMDAwMH0.", "malformed");
  t = build("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, SECRET);
  expect_reject(t, "unsupported alg");
  g_free(t);
  expect_reject(kat_hs512, "unsupported alg");
  const char *bad_headers[] = {
    "{\"typ\":\"JWT\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"HS256 \"}", "{\"alg\":\"RS256\"}",
    "{\"alg\":null}", "{\"alg\":256}", "{\"alg\":[\"HS256\"]}", "{}",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_headers); i++) {
    t = build(bad_headers[i], payload, SECRET);
    expect_reject(t, "unsupported alg");
    g_free(t);
  }
  /* typ: absent ok, "JWT" ok, anything else refused */
  t = build("{\"alg\":\"HS256\"}", payload, SECRET);
  json_decref(verify_at(t, NOW, 0, NULL));
  g_free(t);
  const char *bad_typ[] = {"{\"alg\":\"HS256\",\"typ\":\"JWE\"}", "{\"alg\":\"HS256\",\"typ\":1}",
                           "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                           "{\"alg\":\"HS256\",\"alg\":\"HS256\"}" /* duplicate key */};
  for (size_t i = 0; i < G_N_ELEMENTS(bad_typ); i++) {
    t = build(bad_typ[i], payload, SECRET);
    expect_reject(t, "malformed");
    g_free(t);
  }
}

static void
test_time(void)
{
  char *t = build(std_header, "{\"sub\":\"u1\",\"exp\":1000,\"nbf\":500}", SECRET);
  /* exp 1000, leeway 30: valid through 1029 */
  json_decref(verify_at(t, 999, 0, NULL));
  json_decref(verify_at(t, 1029, 0, NULL));
  g_assert_null(verify_at(t, 1030, LC_EPERM, "expired"));
  g_assert_null(verify_at(t, 100000, LC_EPERM, "expired"));
  /* nbf 500, leeway 30: valid from 470 */
  json_decref(verify_at(t, 470, 0, NULL));
  g_assert_null(verify_at(t, 469, LC_EPERM, "not yet valid"));
  g_assert_null(verify_at(t, 0, LC_EPERM, "not yet valid"));
  g_free(t);

  /* real-valued exp */
  t = build(std_header, "{\"sub\":\"u1\",\"exp\":1000.5}", SECRET);
  json_decref(verify_at(t, 1030, 0, NULL));
  g_assert_null(verify_at(t, 1031, LC_EPERM, "expired"));
  g_free(t);

  const char *bad[] = {
    "{\"sub\":\"u1\"}",                             /* exp missing */
    "{\"sub\":\"u1\",\"exp\":\"2000000000\"}",      /* exp a string */
    "{\"sub\":\"u1\",\"exp\":null}",                /* exp null */
    "{\"sub\":\"u1\",\"exp\":2000000000,\"nbf\":true}",
    "{\"sub\":\"u1\",\"exp\":2000000000,\"iat\":\"x\"}",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    t = build(std_header, bad[i], SECRET);
    expect_reject(t, "malformed");
    g_free(t);
  }
}

static void
test_claims(void)
{
  struct {
    const char *payload;
    const char *why; /* NULL: accepted */
  } cases[] = {
    {"{\"sub\":\"a\",\"exp\":2000000000}", NULL},
    {"{\"sub\":\"A-Z_a.z:0@9\",\"exp\":2000000000}", NULL},
    {"{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"exp\":2000000000}", NULL},
    {"{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"exp\":2000000000}",
     "missing sub"}, /* 65 chars */
    {"{\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":\"\",\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":42,\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":\"a b\",\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":\"a/b\",\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":\"小明\",\"exp\":2000000000}", "missing sub"},
    {"{\"sub\":\"u1\",\"name\":\"小明\",\"exp\":2000000000}", NULL},
    {"{\"sub\":\"u1\",\"name\":7,\"exp\":2000000000}", "malformed"},
    /* 32 CJK characters (96 bytes), what the development sign-in allows, pass; 129 bytes do not */
    {"{\"sub\":\"u1\",\"name\":\"测测测测测测测测测测测测测测测测测测测测测测测测测测测测测测测测\",\"exp\":2000000000}", NULL},
    {"{\"sub\":\"u1\",\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"exp\":2000000000}",
     "malformed"}, /* 129 bytes */
    {"{\"sub\":\"u1\",\"room\":[],\"exp\":2000000000}", "malformed"},
    {"{\"sub\":\"u1\",\"sub\":\"u2\",\"exp\":2000000000}", "malformed"}, /* duplicate key */
    {"[\"sub\",\"u1\"]", "malformed"},
    {"\"u1\"", "malformed"},
    {"not json", "malformed"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *t = build(std_header, cases[i].payload, SECRET);
    if (cases[i].why)
      expect_reject(t, cases[i].why);
    else
      json_decref(verify_at(t, NOW, 0, NULL));
    g_free(t);
  }
}

static void
test_structure(void)
{
  char *good = build(std_header, "{\"sub\":\"u1\",\"exp\":2000000000}", SECRET);
  json_decref(verify_at(good, NOW, 0, NULL));
  const char *d1 = strchr(good, '.');
  const char *d2 = strrchr(good, '.');
  char *h = g_strndup(good, (size_t)(d1 - good));
  char *p = g_strndup(d1 + 1, (size_t)(d2 - d1 - 1));
  char *s = g_strdup(d2 + 1);
  char *t;

  const char *malformed[] = {"", ".", "..", "...", "abc", "a.b", "a.b.c.d"};
  for (size_t i = 0; i < G_N_ELEMENTS(malformed); i++)
    expect_reject(malformed[i], "malformed");

  /* two parts, four parts, empty parts */
  t = g_strdup_printf("%s.%s", h, p);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s.%s.%s.%s", h, p, s, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s..%s", h, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf(".%s.%s", p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s.%s.", h, p);
  expect_reject(t, "malformed");
  g_free(t);

  /* padding, standard-alphabet characters, whitespace */
  t = g_strdup_printf("%s.%s.%s=", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s=.%s.%s", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s.%s+.%s", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s.%s./%s", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf(" %s.%s.%s", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  t = g_strdup_printf("%s.%s.%s\n", h, p, s);
  expect_reject(t, "malformed");
  g_free(t);
  /* base64url length that no byte string has (4n+1) */
  t = g_strdup_printf("%sA.%s.%s", h, p, s);
  g_assert_cmpuint(strlen(h) % 4, ==, 0); /* the standard header is 36 chars */
  expect_reject(t, "malformed");
  g_free(t);

  /* a NUL inside the token (length passed explicitly) */
  size_t n = strlen(good);
  char *nul = g_strdup(good);
  nul[n - 2] = '\0';
  json_t *claims = NULL;
  const char *why = NULL;
  g_assert_cmpint(lc_jwt_verify(nul, n, SECRET, SECRET_LEN, NOW, &claims, &why), ==, LC_EINVAL);
  g_assert_cmpstr(why, ==, "malformed");
  g_free(nul);

  /* header not JSON / not an object (correctly signed) */
  t = build("{\"alg\":\"HS256\"", "{\"sub\":\"u1\",\"exp\":2000000000}", SECRET);
  expect_reject(t, "malformed");
  g_free(t);
  t = build("[\"HS256\"]", "{\"sub\":\"u1\",\"exp\":2000000000}", SECRET);
  expect_reject(t, "malformed");
  g_free(t);
  t = build("\"HS256\"", "{\"sub\":\"u1\",\"exp\":2000000000}", SECRET);
  expect_reject(t, "malformed");
  g_free(t);

  /* a why pointer is optional */
  g_assert_cmpint(lc_jwt_verify("a.b", 3, SECRET, SECRET_LEN, NOW, &claims, NULL), ==, LC_EINVAL);
  g_assert_null(claims);

  g_free(h);
  g_free(p);
  g_free(s);
  g_free(good);
}

static void
test_too_long(void)
{
  /* a valid token just under the limit passes; one byte more is refused before parsing */
  GString *pad = g_string_new("{\"sub\":\"u1\",\"exp\":2000000000,\"x\":\"");
  for (;;) {
    g_string_append_c(pad, 'a');
    g_string_append(pad, "\"}");
    char *t = build(std_header, pad->str, SECRET);
    g_string_truncate(pad, pad->len - 2);
    if (strlen(t) > LC_JWT_MAX_BYTES) {
      expect_reject(t, "too long");
      g_free(t);
      break;
    }
    if (strlen(t) > LC_JWT_MAX_BYTES - 4)
      json_decref(verify_at(t, NOW, 0, NULL));
    g_free(t);
  }
  g_string_free(pad, TRUE);

  /* 1 MiB of garbage */
  gsize n = 1 << 20;
  char *huge = g_malloc(n);
  memset(huge, 'A', n);
  json_t *claims = NULL;
  const char *why = NULL;
  g_assert_cmpint(lc_jwt_verify(huge, n, SECRET, SECRET_LEN, NOW, &claims, &why), ==, LC_ETOOBIG);
  g_assert_cmpstr(why, ==, "too long");
  g_free(huge);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/jwt/known_answer", test_known_answer);
  g_test_add_func("/jwt/round_trip", test_round_trip);
  g_test_add_func("/jwt/tampered", test_tampered);
  g_test_add_func("/jwt/alg", test_alg);
  g_test_add_func("/jwt/time", test_time);
  g_test_add_func("/jwt/claims", test_claims);
  g_test_add_func("/jwt/structure", test_structure);
  g_test_add_func("/jwt/too_long", test_too_long);
  return g_test_run();
}

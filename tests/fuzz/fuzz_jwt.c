/* Fuzz target for server/auth/jwt: verify arbitrary bytes with a fixed secret, and a
 * mint + verify round trip of claims derived from the input must verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"

#define SECRET "fuzz-secret"
#define NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
verify_arbitrary(const uint8_t *d, size_t n)
{
  json_t *claims = NULL;
  const char *why = NULL;
  int rc = lc_jwt_verify((const char *)d, n, SECRET, strlen(SECRET), NOW, &claims, &why);
  if (rc == 0) {
    /* accepted: an object with a valid sub (the signature had to match) */
    if (!json_is_object(claims) || !json_is_string(json_object_get(claims, "sub")) || why)
      abort();
    json_decref(claims);
  } else if (claims || !why) {
    abort();
  }
}

static void
round_trip(const uint8_t *d, size_t n)
{
  static const char sub_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@-";
  if (n < 2)
    return;
  size_t sub_len = 1 + d[0] % 64;
  char sub[65];
  for (size_t i = 0; i < sub_len; i++)
    sub[i] = sub_chars[d[(1 + i) % n] % (sizeof sub_chars - 1)];
  sub[sub_len] = '\0';

  /* name: the input made valid UTF-8, cut at a character boundary to <= 64 bytes, no NUL */
  char *raw = g_strndup((const char *)d + 1, MIN(n - 1, 256));
  char *valid = g_utf8_make_valid(raw, -1);
  const char *end = valid;
  while (*end && (size_t)(g_utf8_next_char(end) - valid) <= 64)
    end = g_utf8_next_char(end);
  char *name = g_strndup(valid, (size_t)(end - valid));

  json_int_t exp = NOW + 1 + (json_int_t)(d[n - 1] * 1000);
  json_t *in = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "name", name, "iat", (json_int_t)NOW, "exp", exp);
  char *tok = lc_jwt_mint(SECRET, strlen(SECRET), in);
  if (!tok)
    abort();
  json_t *out = NULL;
  const char *why = NULL;
  if (strlen(tok) <= LC_JWT_MAX_BYTES) {
    if (lc_jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET), NOW, &out, &why) != 0 || !json_equal(in, out))
      abort();
    json_decref(out);
    /* any other secret must fail */
    if (lc_jwt_verify(tok, strlen(tok), "x", 1, NOW, &out, &why) == 0)
      abort();
  }
  g_free(tok);
  json_decref(in);
  g_free(name);
  g_free(valid);
  g_free(raw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  verify_arbitrary(d, n);
  round_trip(d, n);
  return 0;
}

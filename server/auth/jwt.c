/* HS256 JWT mint / verify. See jwt.h. */
#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "base/errors.h"
#include "base/show_limits.h"

#define SIG_LEN 32 /* SHA-256 */
#define MAX_SUB 64
#define MAX_NAME LC_SHOW_NAME_MAX_BYTES /* 32 characters of up to 4 bytes (display_name.h) */

static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends the unpadded base64url form of data to out. */
static void
b64url_append(GString *out, const unsigned char *data, size_t len)
{
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    guint32 v = ((guint32)data[i] << 16) | ((guint32)data[i + 1] << 8) | data[i + 2];
    g_string_append_c(out, b64url_chars[(v >> 18) & 63]);
    g_string_append_c(out, b64url_chars[(v >> 12) & 63]);
    g_string_append_c(out, b64url_chars[(v >> 6) & 63]);
    g_string_append_c(out, b64url_chars[v & 63]);
  }
  if (len - i == 1) {
    guint32 v = (guint32)data[i] << 16;
    g_string_append_c(out, b64url_chars[(v >> 18) & 63]);
    g_string_append_c(out, b64url_chars[(v >> 12) & 63]);
  } else if (len - i == 2) {
    guint32 v = ((guint32)data[i] << 16) | ((guint32)data[i + 1] << 8);
    g_string_append_c(out, b64url_chars[(v >> 18) & 63]);
    g_string_append_c(out, b64url_chars[(v >> 12) & 63]);
    g_string_append_c(out, b64url_chars[(v >> 6) & 63]);
  }
}

static int
b64url_value(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Strict decoder: only the base64url alphabet, no padding, canonical (unused trailing
 * bits zero), so that each byte string has exactly one accepted encoding. Returns the
 * decoded bytes (g_free) and *out_len, or NULL. */
static unsigned char *
b64url_decode(const char *in, size_t len, size_t *out_len)
{
  if (len % 4 == 1)
    return NULL;
  unsigned char *out = g_malloc(len / 4 * 3 + 3);
  size_t n = 0;
  guint32 acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value(in[i]);
    if (v < 0)
      goto fail;
    acc = (acc << 6) | (guint32)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    goto fail; /* non-canonical: leftover bits must be zero */
  *out_len = n;
  return out;
fail:
  g_free(out);
  return NULL;
}

static int
hs256(const char *secret, size_t secret_len, const char *data, size_t len, unsigned char sig[SIG_LEN])
{
  unsigned int sig_len = 0;
  if (secret_len == 0 || secret_len > G_MAXINT)
    return LC_EINVAL;
  if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)data, len, sig, &sig_len) ||
      sig_len != SIG_LEN)
    return LC_EINVAL;
  return 0;
}

char *
lc_jwt_mint(const char *secret, size_t secret_len, const json_t *claims)
{
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char *payload = NULL;
  GString *tok = NULL;
  unsigned char sig[SIG_LEN];

  if (!secret || !claims || !json_is_object(claims))
    goto fail;
  payload = json_dumps(claims, JSON_COMPACT);
  if (!payload)
    goto fail;
  tok = g_string_new(NULL);
  b64url_append(tok, (const unsigned char *)header, sizeof header - 1);
  g_string_append_c(tok, '.');
  b64url_append(tok, (const unsigned char *)payload, strlen(payload));
  if (hs256(secret, secret_len, tok->str, tok->len, sig) != 0)
    goto fail;
  g_string_append_c(tok, '.');
  b64url_append(tok, sig, sizeof sig);
  free(payload);
  OPENSSL_cleanse(sig, sizeof sig);
  return g_string_free(tok, FALSE);
fail:
  free(payload);
  if (tok)
    g_string_free(tok, TRUE);
  return NULL;
}

/* Parses decoded bytes holding a JSON object (no NUL, no duplicate keys). */
static json_t *
parse_object(const unsigned char *raw, size_t n)
{
  json_t *v = NULL;
  if (!memchr(raw, 0, n))
    v = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
  if (v && !json_is_object(v)) {
    json_decref(v);
    v = NULL;
  }
  return v;
}

/* Decodes one base64url part holding a JSON object. */
static json_t *
decode_json_part(const char *part, size_t len)
{
  size_t n = 0;
  unsigned char *raw = b64url_decode(part, len, &n);
  if (!raw)
    return NULL;
  json_t *v = parse_object(raw, n);
  g_free(raw);
  return v;
}

static gboolean
valid_sub(const json_t *sub)
{
  if (!json_is_string(sub))
    return FALSE;
  size_t len = json_string_length(sub);
  const char *s = json_string_value(sub);
  if (len < 1 || len > MAX_SUB)
    return FALSE;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!(g_ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '@' || c == '-'))
      return FALSE;
  }
  return TRUE;
}

/* Checks the registered time claims and livecart's own claims. */
static int
check_claims(const json_t *claims, gint64 now_s, const char **why)
{
  const json_t *exp = json_object_get(claims, "exp");
  const json_t *nbf = json_object_get(claims, "nbf");
  const json_t *iat = json_object_get(claims, "iat");
  const json_t *name = json_object_get(claims, "name");
  const json_t *room = json_object_get(claims, "room");

  if (!json_is_number(exp) || (nbf && !json_is_number(nbf)) || (iat && !json_is_number(iat))) {
    *why = "malformed";
    return LC_EINVAL;
  }
  if (name && (!json_is_string(name) || json_string_length(name) > MAX_NAME)) {
    *why = "malformed";
    return LC_EINVAL;
  }
  if (room && !json_is_string(room)) {
    *why = "malformed";
    return LC_EINVAL;
  }
  /* Doubles: exp may be a real, and now_s +- leeway never overflows this way. */
  if ((double)now_s >= json_number_value(exp) + LC_JWT_LEEWAY_S) {
    *why = "expired";
    return LC_EPERM;
  }
  if (nbf && (double)now_s < json_number_value(nbf) - LC_JWT_LEEWAY_S) {
    *why = "not yet valid";
    return LC_EPERM;
  }
  if (!valid_sub(json_object_get(claims, "sub"))) {
    *why = "missing sub";
    return LC_EINVAL;
  }
  return 0;
}

int
lc_jwt_verify(const char *token, size_t len, const char *secret, size_t secret_len, gint64 now_s,
              json_t **claims, const char **why)
{
  const char *dummy_why = NULL;
  json_t *header = NULL;
  json_t *payload = NULL;
  unsigned char *raw_payload = NULL;
  unsigned char *sig = NULL;
  unsigned char expect[SIG_LEN];
  size_t sig_len = 0;
  int rc = LC_EINVAL;

  if (!why)
    why = &dummy_why;
  *claims = NULL;
  *why = "malformed";
  if (!token)
    goto fail;
  if (len > LC_JWT_MAX_BYTES) {
    *why = "too long";
    rc = LC_ETOOBIG;
    goto fail;
  }
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
  if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
    goto fail; /* not exactly three parts */
  size_t hlen = (size_t)(dot1 - token);
  size_t plen = (size_t)(dot2 - dot1 - 1);
  size_t slen = len - (size_t)(dot2 + 1 - token);
  if (hlen == 0 || plen == 0 || slen == 0)
    goto fail;

  header = decode_json_part(token, hlen);
  if (!header)
    goto fail;
  const json_t *alg = json_object_get(header, "alg");
  if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0 ||
      json_string_length(alg) != 5) {
    *why = "unsupported alg";
    rc = LC_EPERM;
    goto fail;
  }
  const json_t *typ = json_object_get(header, "typ");
  if (typ && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0 &&
               json_string_length(typ) == 3))
    goto fail;
  if (json_object_get(header, "crit"))
    goto fail; /* RFC 7515 4.1.11: we understand no extension */

  size_t raw_len = 0;
  raw_payload = b64url_decode(dot1 + 1, plen, &raw_len);
  sig = b64url_decode(dot2 + 1, slen, &sig_len);
  if (!raw_payload || !sig)
    goto fail;
  if (sig_len != SIG_LEN || hs256(secret, secret_len, token, (size_t)(dot2 - token), expect) != 0 ||
      CRYPTO_memcmp(sig, expect, SIG_LEN) != 0) {
    *why = "bad signature";
    rc = LC_EPERM;
    goto fail;
  }

  payload = parse_object(raw_payload, raw_len);
  if (!payload)
    goto fail;
  rc = check_claims(payload, now_s, why);
  if (rc != 0)
    goto fail;

  json_decref(header);
  g_free(raw_payload);
  g_free(sig);
  *claims = payload;
  *why = NULL;
  return 0;
fail:
  json_decref(header);
  json_decref(payload);
  g_free(raw_payload);
  g_free(sig);
  return rc;
}

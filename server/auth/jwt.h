/* Viewer tokens: HS256 JSON Web Tokens (RFC 7519), HMAC-SHA256 with OpenSSL, base64url
 * without padding. Pure (no I/O, no globals); any thread.
 *
 * Claims used by livecart:
 *   "sub"  user id, required, 1-64 chars [A-Za-z0-9_.:@-]
 *   "name" display name, optional, <= 128 bytes (32 characters of up to 4 bytes)
 *   "room" optional: the token is valid only for that room (checked by the caller)
 *   "exp"  required, seconds since the epoch (integer or real)
 *   "iat", "nbf" optional, seconds since the epoch
 * See docs/protocol.md ("Authentication"). */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stddef.h>

#define LC_JWT_MAX_BYTES 4096 /* longest token lc_jwt_verify accepts */
#define LC_JWT_LEEWAY_S 30    /* clock skew allowed on exp / nbf */

/* Returns "header.payload.signature" (transfer full, g_free) with header
 * {"alg":"HS256","typ":"JWT"}, or NULL when claims is not an object or cannot be
 * serialized. claims (borrowed) is signed as given: no claim is added or checked. */
char *lc_jwt_mint(const char *secret, size_t secret_len, const json_t *claims);

/* Verifies token (len bytes, need not be NUL-terminated): size (<= LC_JWT_MAX_BYTES),
 * structure (three non-empty base64url parts, no padding), header a JSON object with
 * alg == "HS256" exactly (rejects "none", "HS512", any other and a missing alg) and typ
 * absent or "JWT", the signature (constant time: CRYPTO_memcmp), payload a JSON object,
 * exp required and nbf optional against now_s (leeway LC_JWT_LEEWAY_S: expired when
 * now_s >= exp + leeway, not yet valid when now_s < nbf - leeway), sub present and
 * valid, name (when present) a string <= 128 bytes.
 * Returns 0 and *claims (transfer full, json_decref) or a negative LC_E* (LC_ETOOBIG
 * for "too long", LC_EPERM for a bad signature / unsupported alg / expired / not yet
 * valid, LC_EINVAL otherwise) with *claims = NULL and *why a static string: "malformed",
 * "bad signature", "unsupported alg", "expired", "not yet valid", "missing sub",
 * "too long". why may be NULL. */
int lc_jwt_verify(const char *token, size_t len, const char *secret, size_t secret_len, gint64 now_s,
                  json_t **claims, const char **why);

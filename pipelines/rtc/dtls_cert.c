/* Certificates and SSL contexts of the DTLS-SRTP module, fingerprint parsing, OpenSSL error
 * text (see dtls_srtp_int.h). */
#include "rtc/dtls_srtp_int.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>

#include "base/errors.h"

/* ---- small helpers ---- */

/* "what: reason of the last OpenSSL error" (the queue is emptied). transfer full. */
char *
lc__dtls_ssl_error_string(const char *what)
{
  unsigned long e, last = 0;
  while ((e = ERR_get_error()) != 0)
    last = e; /* the last one is the most specific in practice */
  if (last == 0)
    return g_strdup(what);
  const char *reason = ERR_reason_error_string(last);
  char buf[256];
  if (!reason) {
    ERR_error_string_n(last, buf, sizeof buf);
    reason = buf;
  }
  const char *hint = "";
  if (ERR_GET_LIB(last) == ERR_LIB_SSL && ERR_GET_REASON(last) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE)
    hint = " (the peer refused our certificate: does the a=fingerprint it was given match ours?)";
  return g_strdup_printf("%s: %s%s", what, reason, hint);
}

void
lc__dtls_set_error(char **err_msg, char *msg)
{
  if (err_msg) {
    g_free(*err_msg);
    *err_msg = msg;
  } else {
    g_free(msg);
  }
}

/* Formats a digest as "XX:XX:..." into out (3 * len bytes). */
void
lc__dtls_hex_colon(const uint8_t *md, unsigned len, char *out)
{
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned i = 0; i < len; i++) {
    out[3 * i] = hex[md[i] >> 4];
    out[3 * i + 1] = hex[md[i] & 15];
    out[3 * i + 2] = i + 1 < len ? ':' : '\0';
  }
  if (len == 0)
    out[0] = '\0';
}

static int
hex_val(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parses an SDP fingerprint value. Returns the digest or NULL. */
const EVP_MD *
lc__dtls_parse_fingerprint(const char *fp, uint8_t *out, unsigned *out_len, const char **out_name)
{
  static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } names[] = {
      {"sha-1", EVP_sha1},     {"sha-224", EVP_sha224}, {"sha-256", EVP_sha256},
      {"sha-384", EVP_sha384}, {"sha-512", EVP_sha512},
  };
  if (!fp || strnlen(fp, FP_MAX + 64) > FP_MAX + 32)
    return NULL;
  while (*fp == ' ' || *fp == '\t')
    fp++;
  const char *sp = fp;
  while (*sp && *sp != ' ' && *sp != '\t')
    sp++;
  const EVP_MD *md = NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(names) && !md; i++)
    if ((size_t)(sp - fp) == strlen(names[i].name) && g_ascii_strncasecmp(fp, names[i].name, sp - fp) == 0)
      md = names[i].md();
  if (!md)
    return NULL;
  const char *p = sp;
  while (*p == ' ' || *p == '\t')
    p++;
  unsigned want = (unsigned)EVP_MD_get_size(md), n = 0;
  for (;;) {
    int hi = hex_val(p[0]), lo = hi < 0 ? -1 : hex_val(p[1]);
    if (hi < 0 || lo < 0 || n >= want)
      return NULL;
    out[n++] = (uint8_t)(hi << 4 | lo);
    p += 2;
    if (*p != ':')
      break;
    p++;
  }
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
    p++;
  if (*p != '\0' || n != want)
    return NULL;
  *out_len = n;
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
    if (names[i].md() == md)
      *out_name = names[i].name;
  return md;
}

bool
lc_dtls_fingerprint_valid(const char *fp)
{
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len;
  const char *name;
  return lc__dtls_parse_fingerprint(fp, md, &len, &name) != NULL;
}

static SSL_CTX *
ctx_new(lc_dtls_cert *c, lc_dtls_role role, char **err_msg)
{
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) {
    lc__dtls_set_error(err_msg, lc__dtls_ssl_error_string("SSL_CTX_new"));
    return NULL;
  }
  uint64_t opts = SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                  (role == LC_DTLS_SERVER ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0);
  SSL_CTX_set_options(ctx, opts);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, lc__dtls_verify_cb);
  SSL_CTX_set_verify_depth(ctx, 4);
  SSL_CTX_set_read_ahead(ctx, 1);
  const char *what = NULL;
  if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1)
    what = "DTLS 1.2 only";
  else if (SSL_CTX_use_certificate(ctx, c->x509) != 1)
    what = "SSL_CTX_use_certificate";
  else if (SSL_CTX_use_PrivateKey(ctx, c->key) != 1)
    what = "SSL_CTX_use_PrivateKey";
  else if (SSL_CTX_check_private_key(ctx) != 1)
    what = "the private key does not match the certificate";
  else if (SSL_CTX_set_cipher_list(ctx, CIPHERS) != 1)
    what = "SSL_CTX_set_cipher_list";
  else if (SSL_CTX_set1_groups_list(ctx, GROUPS) != 1)
    what = "SSL_CTX_set1_groups_list";
  else if (SSL_CTX_set_tlsext_use_srtp(ctx, DEFAULT_PROFILES) != 0) /* 0 = success here */
    what = "SSL_CTX_set_tlsext_use_srtp";
  if (what) {
    lc__dtls_set_error(err_msg, lc__dtls_ssl_error_string(what));
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Takes ownership of x509 and key (also on failure). */
static lc_dtls_cert *
cert_new(X509 *x509, EVP_PKEY *key, char **err_msg)
{
  lc_dtls_cert *c = g_new0(lc_dtls_cert, 1);
  c->refs = 1;
  c->x509 = x509;
  c->key = key;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(x509, EVP_sha256(), md, &len) != 1 || len != 32) {
    lc__dtls_set_error(err_msg, lc__dtls_ssl_error_string("X509_digest"));
    goto fail;
  }
  memcpy(c->fingerprint, FP_PREFIX, strlen(FP_PREFIX));
  lc__dtls_hex_colon(md, len, c->fingerprint + strlen(FP_PREFIX));
  for (int r = 0; r < 2; r++)
    if (!(c->ctx[r] = ctx_new(c, (lc_dtls_role)r, err_msg)))
      goto fail;
  return c;
fail:
  lc_dtls_cert_unref(c);
  return NULL;
}

lc_dtls_cert *
lc_dtls_cert_generate(char **err_msg)
{
  EVP_PKEY *key = NULL;
  X509 *x = NULL;
  X509_NAME *name = NULL;
  uint8_t serial[8];
  BIGNUM *bn = NULL;
  const char *what = NULL;

  ERR_clear_error();
  if (!(key = EVP_EC_gen("P-256"))) {
    what = "EC P-256 key generation";
    goto fail;
  }
  if (!(x = X509_new()) || X509_set_version(x, 2) != 1) {
    what = "X509_new";
    goto fail;
  }
  /* A random positive 63-bit serial: browsers reject two certificates with one serial+issuer. */
  if (RAND_bytes(serial, sizeof serial) != 1) {
    what = "RAND_bytes";
    goto fail;
  }
  serial[0] &= 0x7f;
  if (!(bn = BN_bin2bn(serial, sizeof serial, NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
    what = "serial number";
    goto fail;
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -86400L) ||
      !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L)) {
    what = "validity";
    goto fail;
  }
  if (!(name = X509_NAME_new()) ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"livecart", -1, -1, 0) !=
          1 ||
      X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1) {
    what = "subject name";
    goto fail;
  }
  if (X509_set_pubkey(x, key) != 1 || X509_sign(x, key, EVP_sha256()) <= 0) {
    what = "X509_sign";
    goto fail;
  }
  X509_NAME_free(name);
  BN_free(bn);
  return cert_new(x, key, err_msg);
fail:
  lc__dtls_set_error(err_msg, lc__dtls_ssl_error_string(what));
  X509_NAME_free(name);
  BN_free(bn);
  X509_free(x);
  EVP_PKEY_free(key);
  return NULL;
}

/* EC P-256/P-384 or RSA >= 2048 bits: what browsers accept in DTLS. NULL or the reason. */
static char *
check_key_type(EVP_PKEY *key)
{
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) < 2048)
      return g_strdup_printf("RSA key of %d bits (2048 at least)", EVP_PKEY_get_bits(key));
    return NULL;
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = "";
    size_t glen = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &glen) != 1)
      return g_strdup("EC key without a named curve");
    if (g_ascii_strcasecmp(group, "prime256v1") != 0 && g_ascii_strcasecmp(group, "P-256") != 0 &&
        g_ascii_strcasecmp(group, "secp384r1") != 0 && g_ascii_strcasecmp(group, "P-384") != 0)
      return g_strdup_printf("EC curve %s (P-256 or P-384 expected)", group);
    return NULL;
  }
  return g_strdup_printf("key type %s (ECDSA P-256 or RSA expected)", OBJ_nid2sn(id));
}

lc_dtls_cert *
lc_dtls_cert_load(const char *cert_path, const char *key_path, char **err_msg)
{
  BIO *bio = NULL;
  X509 *x = NULL;
  EVP_PKEY *key = NULL;
  char *why = NULL;

  ERR_clear_error();
  if (!cert_path || !key_path) {
    lc__dtls_set_error(err_msg, g_strdup("certificate and key paths are required"));
    return NULL;
  }
  if (!(bio = BIO_new_file(cert_path, "r"))) {
    why = lc__dtls_ssl_error_string("cannot open");
    lc__dtls_set_error(err_msg, g_strdup_printf("DTLS certificate %s: %s", cert_path, why));
    goto fail;
  }
  if (!(x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
    why = lc__dtls_ssl_error_string("no PEM certificate");
    lc__dtls_set_error(err_msg, g_strdup_printf("DTLS certificate %s: %s", cert_path, why));
    goto fail;
  }
  BIO_free(bio);
  if (!(bio = BIO_new_file(key_path, "r"))) {
    why = lc__dtls_ssl_error_string("cannot open");
    lc__dtls_set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  /* No passphrase callback: an encrypted key fails instead of prompting on the terminal. */
  if (!(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)""))) {
    why = lc__dtls_ssl_error_string("no PEM private key (or an encrypted one)");
    lc__dtls_set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  BIO_free(bio);
  bio = NULL;
  if ((why = check_key_type(key))) {
    lc__dtls_set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  if (X509_check_private_key(x, key) != 1) {
    ERR_clear_error();
    lc__dtls_set_error(err_msg,
                       g_strdup_printf("DTLS key %s does not match the certificate %s", key_path, cert_path));
    goto fail;
  }
  return cert_new(x, key, err_msg);
fail:
  g_free(why);
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return NULL;
}

lc_dtls_cert *
lc_dtls_cert_ref(lc_dtls_cert *c)
{
  g_atomic_int_inc(&c->refs);
  return c;
}

void
lc_dtls_cert_unref(lc_dtls_cert *c)
{
  if (!c || !g_atomic_int_dec_and_test(&c->refs))
    return;
  for (int r = 0; r < 2; r++)
    SSL_CTX_free(c->ctx[r]);
  X509_free(c->x509);
  EVP_PKEY_free(c->key);
  g_free(c);
}

const char *
lc_dtls_cert_fingerprint(const lc_dtls_cert *c)
{
  return c->fingerprint;
}

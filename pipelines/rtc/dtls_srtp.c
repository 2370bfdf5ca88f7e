/* DTLS 1.2 (OpenSSL) and SRTP (libsrtp2) for one WebRTC peer. See dtls_srtp.h.
 *
 * I/O goes through a BIO of our own instead of a pair of memory BIOs: a memory BIO
 * concatenates what OpenSSL writes, which loses the datagram boundaries (a flight would leave
 * as one oversized datagram). Ours turns every BIO_write into one GBytes datagram, and serves
 * the datagram being fed as exactly one read, as a UDP socket would. */
#include "rtc/dtls_srtp.h"
#include "base/bytes.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <srtp2/srtp.h>
#include <string.h>

#include "base/errors.h"

#define FP_PREFIX "sha-256 "
#define FP_MAX (16 + 3 * EVP_MAX_MD_SIZE) /* "sha-512 " + 64 hex pairs with colons */
#define MTU_MIN 256
#define MTU_MAX 16384
#define MAX_DATAGRAM 16384                /* larger input is not DTLS from a WebRTC peer */
#define MAX_HANDSHAKE_DATAGRAMS 256       /* fed before the handshake must be done */
#define MAX_READS_PER_DATAGRAM 16         /* SSL_read calls per fed datagram once connected */
#define DEFAULT_INITIAL_TIMEOUT_US 400000 /* OpenSSL's default is 1 s: costly for a viewer's join */
#define MAX_TIMEOUT_US 3200000
#define SRTP_KEY_LEN 16
#define SRTP_CM_SALT_LEN 14
#define SRTP_GCM_SALT_LEN 12
#define KEYING_MAX (2 * (SRTP_KEY_LEN + SRTP_CM_SALT_LEN))
#define EXPORTER_LABEL "EXTRACTOR-dtls_srtp"
#define SRTP_TX_WINDOW 4096 /* how old a retransmitted (NACKed) packet may be, in seq numbers */
#define SRTP_RX_WINDOW 1024
#define SRTP_MAX_INBOUND_SSRCS 32
#define SRTP_MAX_PACKET 65535

/* Preference order: GCM costs ~40% less CPU than CM + HMAC-SHA1 (measured with Janus here). */
#define DEFAULT_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
/* Forward secret AEAD suites first; CBC ones kept for older peers. Browsers offer the first. */
#define CIPHERS \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
  "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
#define GROUPS "X25519:P-256:P-384"

G_STATIC_ASSERT(LC_SRTP_MAX_TRAILER >= SRTP_MAX_TAG_LEN + 4);

struct lc_dtls_cert {
  gint refs;
  X509 *x509;
  EVP_PKEY *key;
  SSL_CTX *ctx[2]; /* [LC_DTLS_SERVER], [LC_DTLS_CLIENT]; immutable once built */
  char fingerprint[FP_MAX];
};

struct lc_dtls {
  lc_dtls_cert *cert;
  SSL *ssl; /* NULL when creation failed */
  lc_dtls_role role;
  lc_dtls_state state;
  char *error;
  bool started; /* lc_dtls_start or a feed happened: profiles and timer are fixed */
  bool slim;    /* record buffers freed while idle (see slim()) */
  unsigned handshake_datagrams;
  unsigned initial_timeout_us;
  /* The SDP fingerprint the peer's certificate must match. */
  const EVP_MD *fp_md;
  const char *fp_name; /* "sha-256", ... (static) */
  uint8_t fp[EVP_MAX_MD_SIZE];
  unsigned fp_len;
  bool fp_matched;     /* the verify callback saw a matching depth-0 certificate */
  bool fp_mismatch;    /* ... or a different one: the reason of the failure */
  char *fp_seen;       /* the mismatching certificate's fingerprint, for the error message */
  /* I/O of the call in progress (borrowed): the datagram being fed, where writes go. */
  const uint8_t *in;
  size_t in_len;
  GPtrArray *out;
  /* After CONNECTED: RFC 5764 4.2 keying material, client key | server key | client salt |
   * server salt. */
  lc_srtp_profile profile;
  size_t salt_len;
  uint8_t keys[KEYING_MAX];
  /* After lc_dtls_trim: the close_notify alert, sealed before OpenSSL's state was freed (no
   * record is sent after it, so its sequence number stays valid), for lc_dtls_close. */
  GBytes *close_notify;
};

/* Outbound RTP state of one SSRC for the OpenSSL path (RFC 3711 3.3.1: the rollover counter
 * and the highest sequence number sent). */
typedef struct {
  uint32_t ssrc;
  uint32_t roc;
  uint16_t s_l;
} tx_stream;

#define TX_MAX_SSRCS 256

struct lc_srtp {
  srtp_t tx; /* RTCP out (and RTP out when fast is false) */
  srtp_t rx;
  lc_srtp_profile profile;
  unsigned n_ssrcs;
  uint32_t ssrcs[SRTP_MAX_INBOUND_SSRCS]; /* inbound SSRCs libsrtp holds a stream for */
  /* Outbound RTP with OpenSSL (the fan-out's hot path): Debian's libsrtp2 does its crypto
   * through NSS, which allocates and locks per packet; EVP contexts keyed once cost a fraction. */
  bool fast;
  EVP_CIPHER_CTX *rtp_cipher;         /* AES-128-GCM (k_e) or AES-128-CTR (k_e) */
  EVP_MAC_CTX *rtp_mac;               /* CM only: HMAC-SHA1 (k_a) */
  uint8_t rtp_salt[SRTP_CM_SALT_LEN]; /* k_s: 12 bytes (GCM) or 14 (CM) */
  tx_stream *txs;
  unsigned n_txs, cap_txs;
};

/* ---- small helpers ---- */

/* "what: reason of the last OpenSSL error" (the queue is emptied). transfer full. */
static char *
ssl_error_string(const char *what)
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

static void
set_error(char **err_msg, char *msg)
{
  if (err_msg) {
    g_free(*err_msg);
    *err_msg = msg;
  } else {
    g_free(msg);
  }
}

static void
fail(lc_dtls *d, char *msg /* transfer full */)
{
  if (d->state == LC_DTLS_FAILED) {
    g_free(msg);
    return;
  }
  d->state = LC_DTLS_FAILED;
  g_free(d->error);
  d->error = msg;
}

/* Formats a digest as "XX:XX:..." into out (3 * len bytes). */
static void
hex_colon(const uint8_t *md, unsigned len, char *out)
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
static const EVP_MD *
parse_fingerprint(const char *fp, uint8_t *out, unsigned *out_len, const char **out_name)
{
  static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } names[] = {
    {"sha-1", EVP_sha1}, {"sha-224", EVP_sha224}, {"sha-256", EVP_sha256},
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
  return parse_fingerprint(fp, md, &len, &name) != NULL;
}

/* ---- the datagram BIO ---- */

static int
dbio_write(BIO *b, const char *data, int len)
{
  BIO_clear_retry_flags(b);
  lc_dtls *d = BIO_get_data(b);
  if (len <= 0)
    return 0;
  if (d && d->out)
    g_ptr_array_add(d->out, g_bytes_new(data, (gsize)len));
  return len; /* without an out array the datagram is lost, as on a network */
}

static int
dbio_read(BIO *b, char *buf, int size)
{
  BIO_clear_retry_flags(b);
  lc_dtls *d = BIO_get_data(b);
  if (!d || !d->in || size <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = MIN(d->in_len, (size_t)size); /* a short buffer truncates, as recv(2) does */
  memcpy(buf, d->in, n);
  d->in = NULL;
  d->in_len = 0;
  return (int)n;
}

static long
dbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_PENDING:
  case BIO_CTRL_WPENDING:
    return 0;
  default:
    return 0; /* peer address, MTU queries (SSL_OP_NO_QUERY_MTU), timers: not ours */
  }
}

static int
dbio_create(BIO *b)
{
  BIO_set_init(b, 1);
  BIO_set_data(b, NULL);
  return 1;
}

static int
dbio_destroy(BIO *b)
{
  BIO_set_data(b, NULL);
  return 1;
}

static gsize dbio_method_once;
static BIO_METHOD *dbio_method;

static BIO_METHOD *
dbio_get_method(void)
{
  if (g_once_init_enter(&dbio_method_once)) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lc_dtls datagram");
    if (!m || !BIO_meth_set_write(m, dbio_write) || !BIO_meth_set_read(m, dbio_read) ||
        !BIO_meth_set_ctrl(m, dbio_ctrl) || !BIO_meth_set_create(m, dbio_create) ||
        !BIO_meth_set_destroy(m, dbio_destroy))
      g_error("lc_dtls: cannot create the datagram BIO method (OpenSSL out of memory)");
    dbio_method = m; /* process lifetime */
    g_once_init_leave(&dbio_method_once, 1);
  }
  return dbio_method;
}

/* ---- certificates and contexts ---- */

/* Depth 0 (the peer's own certificate): accepted iff its digest is the SDP fingerprint. The
 * chain is not verified: WebRTC certificates are self-signed, the fingerprint is the trust. */
static int
verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
  if (X509_STORE_CTX_get_error_depth(store) != 0)
    return 1;
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  lc_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
  X509 *peer = X509_STORE_CTX_get_current_cert(store);
  if (!d || !peer || !d->fp_md)
    return 0;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(peer, d->fp_md, md, &len) != 1)
    return 0;
  if (len == d->fp_len && CRYPTO_memcmp(md, d->fp, len) == 0) {
    d->fp_matched = true;
    return 1;
  }
  d->fp_mismatch = true;
  g_free(d->fp_seen);
  d->fp_seen = g_malloc(3 * len + 1);
  hex_colon(md, len, d->fp_seen);
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

static unsigned int
timer_cb(SSL *ssl, unsigned int timer_us)
{
  lc_dtls *d = SSL_get_app_data(ssl);
  if (timer_us == 0)
    return d ? d->initial_timeout_us : DEFAULT_INITIAL_TIMEOUT_US;
  return timer_us >= MAX_TIMEOUT_US / 2 ? MAX_TIMEOUT_US : timer_us * 2;
}

static SSL_CTX *
ctx_new(lc_dtls_cert *c, lc_dtls_role role, char **err_msg)
{
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) {
    set_error(err_msg, ssl_error_string("SSL_CTX_new"));
    return NULL;
  }
  uint64_t opts = SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION |
                  SSL_OP_NO_COMPRESSION | (role == LC_DTLS_SERVER ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0);
  SSL_CTX_set_options(ctx, opts);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
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
    set_error(err_msg, ssl_error_string(what));
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
    set_error(err_msg, ssl_error_string("X509_digest"));
    goto fail;
  }
  memcpy(c->fingerprint, FP_PREFIX, strlen(FP_PREFIX));
  hex_colon(md, len, c->fingerprint + strlen(FP_PREFIX));
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
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"livecart", -1, -1, 0) != 1 ||
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
  set_error(err_msg, ssl_error_string(what));
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
    set_error(err_msg, g_strdup("certificate and key paths are required"));
    return NULL;
  }
  if (!(bio = BIO_new_file(cert_path, "r"))) {
    why = ssl_error_string("cannot open");
    set_error(err_msg, g_strdup_printf("DTLS certificate %s: %s", cert_path, why));
    goto fail;
  }
  if (!(x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
    why = ssl_error_string("no PEM certificate");
    set_error(err_msg, g_strdup_printf("DTLS certificate %s: %s", cert_path, why));
    goto fail;
  }
  BIO_free(bio);
  if (!(bio = BIO_new_file(key_path, "r"))) {
    why = ssl_error_string("cannot open");
    set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  /* No passphrase callback: an encrypted key fails instead of prompting on the terminal. */
  if (!(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)""))) {
    why = ssl_error_string("no PEM private key (or an encrypted one)");
    set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  BIO_free(bio);
  bio = NULL;
  if ((why = check_key_type(key))) {
    set_error(err_msg, g_strdup_printf("DTLS key %s: %s", key_path, why));
    goto fail;
  }
  if (X509_check_private_key(x, key) != 1) {
    ERR_clear_error();
    set_error(err_msg, g_strdup_printf("DTLS key %s does not match the certificate %s", key_path, cert_path));
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

/* ---- the endpoint ---- */

lc_dtls *
lc_dtls_new(lc_dtls_cert *cert, lc_dtls_role role, const char *remote_fingerprint, unsigned mtu)
{
  lc_dtls *d = g_new0(lc_dtls, 1);
  d->cert = lc_dtls_cert_ref(cert);
  d->role = role == LC_DTLS_CLIENT ? LC_DTLS_CLIENT : LC_DTLS_SERVER;
  d->state = LC_DTLS_HANDSHAKING;
  d->initial_timeout_us = DEFAULT_INITIAL_TIMEOUT_US;
  if (!(d->fp_md = parse_fingerprint(remote_fingerprint, d->fp, &d->fp_len, &d->fp_name))) {
    fail(d, g_strdup_printf("remote fingerprint %s%.80s%s is not \"<sha-1|sha-224|sha-256|sha-384|sha-512> "
                            "XX:XX:...\" with the digest's length",
                            remote_fingerprint ? "\"" : "", remote_fingerprint ? remote_fingerprint : "(none)",
                            remote_fingerprint ? "\"" : ""));
    return d;
  }
  ERR_clear_error();
  BIO *bio = NULL;
  if (!(d->ssl = SSL_new(cert->ctx[d->role])) || !(bio = BIO_new(dbio_get_method()))) {
    fail(d, ssl_error_string("SSL_new"));
    return d;
  }
  SSL_set_app_data(d->ssl, d);
  BIO_set_data(bio, d);
  SSL_set_bio(d->ssl, bio, bio); /* one reference for both directions */
  mtu = CLAMP(mtu, MTU_MIN, MTU_MAX);
  SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(d->ssl, (long)mtu) <= 0) { /* returns the MTU on success */
    fail(d, ssl_error_string("SSL_set_mtu"));
    return d;
  }
  DTLS_set_timer_cb(d->ssl, timer_cb);
  if (d->role == LC_DTLS_SERVER)
    SSL_set_accept_state(d->ssl);
  else
    SSL_set_connect_state(d->ssl);
  return d;
}

void
lc_dtls_free(lc_dtls *d)
{
  if (!d)
    return;
  if (d->ssl) {
    BIO *b = SSL_get_rbio(d->ssl);
    if (b)
      BIO_set_data(b, NULL);
    SSL_free(d->ssl);
  }
  OPENSSL_cleanse(d->keys, sizeof d->keys);
  if (d->close_notify)
    g_bytes_unref(d->close_notify);
  lc_dtls_cert_unref(d->cert);
  g_free(d->fp_seen);
  g_free(d->error);
  g_free(d);
}

int
lc_dtls_set_srtp_profiles(lc_dtls *d, const lc_srtp_profile *profiles, size_t n)
{
  if (d->started || !d->ssl || d->state != LC_DTLS_HANDSHAKING)
    return LC_ESTATE;
  if (n == 0 || n > 2)
    return LC_EINVAL;
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < n; i++) {
    const char *name = profiles[i] == LC_SRTP_AEAD_AES_128_GCM    ? "SRTP_AEAD_AES_128_GCM"
                       : profiles[i] == LC_SRTP_AES128_CM_SHA1_80 ? "SRTP_AES128_CM_SHA1_80"
                                                                  : NULL;
    if (!name) {
      g_string_free(s, TRUE);
      return LC_EINVAL;
    }
    g_string_append_printf(s, "%s%s", i ? ":" : "", name);
  }
  int r = SSL_set_tlsext_use_srtp(d->ssl, s->str); /* 0 = success */
  g_string_free(s, TRUE);
  ERR_clear_error();
  return r == 0 ? 0 : LC_EINVAL;
}

void
lc_dtls_set_initial_timeout(lc_dtls *d, unsigned ms)
{
  if (!d->started)
    d->initial_timeout_us = CLAMP(ms, 20u, MAX_TIMEOUT_US / 1000u) * 1000u;
}

/* Handshake done: the peer certificate once more, then the SRTP profile and keys. */
static void
on_handshake_done(lc_dtls *d)
{
  X509 *peer = SSL_get0_peer_certificate(d->ssl);
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!peer || !d->fp_matched || X509_digest(peer, d->fp_md, md, &len) != 1 || len != d->fp_len ||
      CRYPTO_memcmp(md, d->fp, len) != 0) {
    fail(d, g_strdup("DTLS handshake finished without a peer certificate matching the SDP a=fingerprint"));
    return;
  }
  const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
  if (!p) {
    fail(d, g_strdup("no SRTP protection profile in common with the peer (its DTLS use_srtp offer has none "
                     "of ours, or is missing)"));
    return;
  }
  if (p->id == SRTP_AEAD_AES_128_GCM) {
    d->profile = LC_SRTP_AEAD_AES_128_GCM;
    d->salt_len = SRTP_GCM_SALT_LEN;
  } else if (p->id == SRTP_AES128_CM_SHA1_80) {
    d->profile = LC_SRTP_AES128_CM_SHA1_80;
    d->salt_len = SRTP_CM_SALT_LEN;
  } else {
    fail(d, g_strdup_printf("unexpected SRTP protection profile %s", p->name));
    return;
  }
  size_t n = 2 * (SRTP_KEY_LEN + d->salt_len);
  if (SSL_export_keying_material(d->ssl, d->keys, n, EXPORTER_LABEL, strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
    d->profile = 0;
    fail(d, ssl_error_string("SSL_export_keying_material"));
    return;
  }
  d->state = LC_DTLS_CONNECTED;
}

/* Reason of an SSL_ERROR_SSL / SYSCALL during the handshake or a read. */
static void
fail_ssl(lc_dtls *d, const char *what)
{
  if (d->fp_mismatch) {
    ERR_clear_error();
    fail(d, g_strdup_printf("peer certificate fingerprint %s %s does not match the SDP a=fingerprint",
                            d->fp_name, d->fp_seen ? d->fp_seen : "?"));
    return;
  }
  fail(d, ssl_error_string(what));
}

static void
handshake_step(lc_dtls *d)
{
  ERR_clear_error();
  int r = SSL_do_handshake(d->ssl);
  if (r == 1) {
    on_handshake_done(d);
    return;
  }
  int e = SSL_get_error(d->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return;
  fail_ssl(d, "DTLS handshake failed");
}

/* Connected: processes what the fed datagram holds (retransmitted handshake flights are
 * answered by OpenSSL here, alerts end the session); application data is dropped. */
static void
read_step(lc_dtls *d)
{
  uint8_t buf[2048];
  for (int i = 0; i < MAX_READS_PER_DATAGRAM; i++) {
    ERR_clear_error();
    int r = SSL_read(d->ssl, buf, sizeof buf);
    if (r > 0)
      continue; /* no data channels: dropped */
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      d->state = LC_DTLS_CLOSED;
      return;
    }
    fail_ssl(d, "DTLS session failed");
    return;
  }
}

/* Connected and idle: the record buffers (~35 KB) go back to the heap; OpenSSL allocates them
 * again for the rare datagram that comes later (a retransmitted flight, close_notify). DTLS
 * does not honour SSL_MODE_RELEASE_BUFFERS by itself. */
static void
slim(lc_dtls *d)
{
  if (d->state == LC_DTLS_CONNECTED && d->ssl && !d->slim && SSL_free_buffers(d->ssl) == 1)
    d->slim = true; /* (SSL_free_buffers refuses when a buffer still holds data: fine) */
}

static void
begin(lc_dtls *d, const uint8_t *in, size_t in_len, GPtrArray *out)
{
  d->started = true;
  /* OpenSSL 3.0's DTLS write path does not allocate a freed write buffer again (an alert
   * after slim() dereferenced NULL): give both back before any call. */
  if (d->slim && d->ssl) {
    if (SSL_alloc_buffers(d->ssl) != 1)
      g_error("lc_dtls: out of memory (SSL_alloc_buffers)");
    d->slim = false;
  }
  d->in = in;
  d->in_len = in_len;
  d->out = out;
}

static void
end(lc_dtls *d)
{
  d->in = NULL;
  d->in_len = 0;
  d->out = NULL;
  slim(d);
}

void
lc_dtls_start(lc_dtls *d, GPtrArray *out)
{
  if (!d->ssl || d->state != LC_DTLS_HANDSHAKING || d->role != LC_DTLS_CLIENT || d->started)
    return;
  begin(d, NULL, 0, out);
  handshake_step(d);
  end(d);
}

lc_dtls_state
lc_dtls_feed(lc_dtls *d, const uint8_t *data, size_t len, GPtrArray *out)
{
  if (!d->ssl || (d->state != LC_DTLS_HANDSHAKING && d->state != LC_DTLS_CONNECTED))
    return d->state;
  if (!data || len == 0 || len > MAX_DATAGRAM || data[0] < 20 || data[0] > 63)
    return d->state;
  if (d->state == LC_DTLS_HANDSHAKING && ++d->handshake_datagrams > MAX_HANDSHAKE_DATAGRAMS) {
    fail(d, g_strdup_printf("DTLS handshake not done after %u datagrams", MAX_HANDSHAKE_DATAGRAMS));
    return d->state;
  }
  begin(d, data, len, out);
  if (d->state == LC_DTLS_HANDSHAKING)
    handshake_step(d);
  /* Connected (maybe just now: records after the Finished in the same datagram are in
   * OpenSSL's buffer), or the datagram was not consumed yet. */
  if (d->state == LC_DTLS_CONNECTED)
    read_step(d);
  end(d);
  return d->state;
}

int64_t
lc_dtls_next_timeout(lc_dtls *d)
{
  if (!d->ssl || (d->state != LC_DTLS_HANDSHAKING && d->state != LC_DTLS_CONNECTED))
    return -1;
  struct timeval tv = {0, 0};
  if (DTLSv1_get_timeout(d->ssl, &tv) != 1)
    return -1;
  return g_get_monotonic_time() + (int64_t)tv.tv_sec * G_USEC_PER_SEC + tv.tv_usec;
}

lc_dtls_state
lc_dtls_on_timeout(lc_dtls *d, GPtrArray *out)
{
  if (!d->ssl || (d->state != LC_DTLS_HANDSHAKING && d->state != LC_DTLS_CONNECTED))
    return d->state;
  begin(d, NULL, 0, out);
  ERR_clear_error();
  if (DTLSv1_handle_timeout(d->ssl) < 0)
    fail(d, ssl_error_string("DTLS handshake timed out (no answer to 12 retransmissions)"));
  end(d);
  return d->state;
}

void
lc_dtls_close(lc_dtls *d, GPtrArray *out)
{
  if (d->state != LC_DTLS_HANDSHAKING && d->state != LC_DTLS_CONNECTED)
    return;
  if (d->ssl && d->state == LC_DTLS_CONNECTED) {
    begin(d, NULL, 0, out);
    ERR_clear_error();
    (void)SSL_shutdown(d->ssl);
    ERR_clear_error();
    end(d);
  } else if (d->close_notify && d->state == LC_DTLS_CONNECTED && out) {
    g_ptr_array_add(out, g_bytes_ref(d->close_notify));
  }
  d->state = LC_DTLS_CLOSED;
}

void
lc_dtls_trim(lc_dtls *d)
{
  if (d->state != LC_DTLS_CONNECTED || !d->ssl)
    return;
  /* Seal the goodbye now: OpenSSL's keys go with d->ssl. SSL_shutdown marks the session as
   * shut down, which no longer matters: the SSL object is freed right after. */
  GPtrArray *bye = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  begin(d, NULL, 0, bye);
  ERR_clear_error();
  (void)SSL_shutdown(d->ssl);
  ERR_clear_error();
  end(d);
  if (bye->len == 1)
    d->close_notify = g_bytes_ref(g_ptr_array_index(bye, 0));
  g_ptr_array_unref(bye);
  BIO *b = SSL_get_rbio(d->ssl);
  if (b)
    BIO_set_data(b, NULL);
  SSL_free(d->ssl);
  d->ssl = NULL;
}

lc_dtls_state
lc_dtls_get_state(const lc_dtls *d)
{
  return d->state;
}

const char *
lc_dtls_error(const lc_dtls *d)
{
  return d->state == LC_DTLS_FAILED ? d->error : NULL;
}

lc_srtp_profile
lc_dtls_get_srtp_profile(const lc_dtls *d)
{
  return d->state == LC_DTLS_CONNECTED ? d->profile : 0;
}

/* ---- SRTP ---- */

/* libsrtp is process-wide and may have been initialised by another user of the process first
 * (GStreamer's srtpenc/srtpdec call srtp_init() too). libsrtp 2.x then answers a second
 * srtp_init() with srtp_err_status_bad_param (its debug module is already registered) although
 * the library is ready. So a failed srtp_init() is accepted when a throw-away session can be
 * created: that is what matters, and it fails when the crypto kernel is really not initialised.
 * A real failure is returned (and tried again on the next call); success is remembered. */
static GMutex srtp_init_lock;
static gint srtp_ready;

static srtp_t session_new(lc_srtp_profile profile, bool outbound, const uint8_t *key, const uint8_t *salt,
                          size_t salt_len);

static bool
srtp_usable(void)
{
  uint8_t zero[SRTP_KEY_LEN + SRTP_CM_SALT_LEN] = {0};
  srtp_t probe = session_new(LC_SRTP_AES128_CM_SHA1_80, true, zero, zero + SRTP_KEY_LEN, SRTP_CM_SALT_LEN);
  if (!probe)
    return false;
  srtp_dealloc(probe);
  return true;
}

int
lc_srtp_init(char **err_msg)
{
  if (g_atomic_int_get(&srtp_ready))
    return 0;
  int rc = 0;
  g_mutex_lock(&srtp_init_lock);
  if (!g_atomic_int_get(&srtp_ready)) {
    srtp_err_status_t st = srtp_init();
    if (st == srtp_err_status_ok || srtp_usable())
      g_atomic_int_set(&srtp_ready, 1);
    else {
      rc = LC_EIO;
      set_error(err_msg, g_strdup_printf("libsrtp %s cannot be initialised (srtp_init: status %d)",
                                         srtp_get_version_string(), (int)st));
    }
  }
  g_mutex_unlock(&srtp_init_lock);
  return rc;
}

static srtp_t
session_new(lc_srtp_profile profile, bool outbound, const uint8_t *key, const uint8_t *salt, size_t salt_len)
{
  uint8_t master[SRTP_KEY_LEN + SRTP_CM_SALT_LEN];
  memcpy(master, key, SRTP_KEY_LEN);
  memcpy(master + SRTP_KEY_LEN, salt, salt_len);
  srtp_policy_t p;
  memset(&p, 0, sizeof p);
  if (profile == LC_SRTP_AEAD_AES_128_GCM) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
  }
  p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  p.key = master;
  p.window_size = outbound ? SRTP_TX_WINDOW : SRTP_RX_WINDOW;
  p.allow_repeat_tx = outbound ? 1 : 0;
  p.next = NULL;
  srtp_t s = NULL;
  srtp_err_status_t st = srtp_create(&s, &p);
  OPENSSL_cleanse(master, sizeof master);
  if (st != srtp_err_status_ok) {
    if (s)
      srtp_dealloc(s);
    return NULL;
  }
  return s;
}

/* ---- outbound SRTP with OpenSSL ---- */

/* RFC 3711 4.3.1 key derivation (AES-CM PRF, key derivation rate 0): n bytes for label from the
 * master key and salt (a 12-byte GCM master salt is zero-padded to 14, as libsrtp does). */
static bool
kdf(const uint8_t *mkey, const uint8_t *msalt, size_t msalt_len, uint8_t label, uint8_t *out, size_t n)
{
  uint8_t iv[16] = {0}, zero[32] = {0};
  memcpy(iv, msalt, msalt_len);
  iv[7] ^= label;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l1 = 0, l2 = 0;
  bool ok = c && n <= sizeof zero && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, mkey, iv) == 1 &&
            EVP_EncryptUpdate(c, out, &l1, zero, (int)n) == 1 && EVP_EncryptFinal_ex(c, out + l1, &l2) == 1;
  EVP_CIPHER_CTX_free(c);
  OPENSSL_cleanse(iv, sizeof iv);
  return ok;
}

static bool
fast_init(lc_srtp *s, const uint8_t *mkey, const uint8_t *msalt, size_t msalt_len)
{
  uint8_t ke[SRTP_KEY_LEN], ka[20];
  bool gcm = s->profile == LC_SRTP_AEAD_AES_128_GCM, ok = false;
  size_t salt_len = gcm ? SRTP_GCM_SALT_LEN : SRTP_CM_SALT_LEN;
  if (!kdf(mkey, msalt, msalt_len, 0x00, ke, sizeof ke) ||
      !kdf(mkey, msalt, msalt_len, 0x02, s->rtp_salt, salt_len))
    goto out;
  if (!(s->rtp_cipher = EVP_CIPHER_CTX_new()) ||
      EVP_EncryptInit_ex(s->rtp_cipher, gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr(), NULL, ke, NULL) != 1)
    goto out;
  if (!gcm) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
                           OSSL_PARAM_construct_end()};
    s->rtp_mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    if (!s->rtp_mac || !kdf(mkey, msalt, msalt_len, 0x01, ka, sizeof ka) ||
        EVP_MAC_init(s->rtp_mac, ka, sizeof ka, params) != 1)
      goto out;
  }
  ok = true;
out:
  OPENSSL_cleanse(ke, sizeof ke);
  OPENSSL_cleanse(ka, sizeof ka);
  ERR_clear_error();
  return ok;
}

/* The packet index of seq for SSRC (RFC 3711 3.3.1 / appendix A), advancing the stream when it is
 * the newest; false for a packet more than SRTP_TX_WINDOW behind (as libsrtp refuses it). */
static bool
tx_index(lc_srtp *s, uint32_t ssrc, uint16_t seq, uint32_t *roc_out)
{
  tx_stream *t = NULL;
  for (unsigned i = 0; i < s->n_txs; i++)
    if (s->txs[i].ssrc == ssrc) {
      t = &s->txs[i];
      break;
    }
  if (!t) {
    if (s->n_txs == TX_MAX_SSRCS)
      return false;
    if (s->n_txs == s->cap_txs) {
      s->cap_txs = s->cap_txs ? s->cap_txs * 2 : 2;
      s->txs = g_renew(tx_stream, s->txs, s->cap_txs);
    }
    t = &s->txs[s->n_txs++];
    *t = (tx_stream){.ssrc = ssrc, .roc = 0, .s_l = seq};
    *roc_out = 0;
    return true;
  }
  int64_t v = t->roc;
  if (t->s_l < 32768) {
    if (seq - t->s_l > 32768)
      v = (int64_t)t->roc - 1;
  } else if (t->s_l - 32768 > seq) {
    v = (int64_t)t->roc + 1;
  }
  if (v < 0 || v > UINT32_MAX)
    return false;
  int64_t idx = v << 16 | seq, cur = (int64_t)t->roc << 16 | t->s_l;
  if (idx > cur) {
    t->roc = (uint32_t)v;
    t->s_l = seq;
  } else if (cur - idx >= SRTP_TX_WINDOW) {
    return false;
  }
  *roc_out = (uint32_t)v;
  return true;
}

/* RFC 7714 (AEAD_AES_128_GCM) or RFC 3711 (AES-CM + HMAC-SHA1-80) protection of one RTP packet. */
static int
fast_protect(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
  size_t hlen = 12 + 4u * (buf[0] & 0x0f);
  if ((buf[0] & 0xc0) != 0x80 || hlen > len)
    return LC_EINVAL;
  if (buf[0] & 0x10) {
    if (hlen + 4 > len)
      return LC_EINVAL;
    hlen += 4 + 4u * ((size_t)buf[hlen + 2] << 8 | buf[hlen + 3]);
    if (hlen > len)
      return LC_EINVAL;
  }
  uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
  uint32_t ssrc = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
  uint32_t roc;
  if (!tx_index(s, ssrc, seq, &roc))
    return LC_EINVAL;
  uint8_t *payload = buf + hlen;
  int plen = (int)(len - hlen), n = 0;
  if (s->profile == LC_SRTP_AEAD_AES_128_GCM) {
    uint8_t iv[12] = {0};
    lc_wr32(iv + 2, ssrc);
    lc_wr32(iv + 6, roc);
    iv[10] = buf[2];
    iv[11] = buf[3];
    for (int i = 0; i < 12; i++)
      iv[i] ^= s->rtp_salt[i];
    if (EVP_EncryptInit_ex(s->rtp_cipher, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(s->rtp_cipher, NULL, &n, buf, (int)hlen) != 1 ||
        (plen > 0 && EVP_EncryptUpdate(s->rtp_cipher, payload, &n, payload, plen) != 1) ||
        EVP_EncryptFinal_ex(s->rtp_cipher, payload + plen, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(s->rtp_cipher, EVP_CTRL_GCM_GET_TAG, 16, payload + plen) != 1) {
      ERR_clear_error();
      return LC_EINVAL;
    }
    *out_len = len + 16;
    return 0;
  }
  uint8_t iv[16] = {0}, tag[EVP_MAX_MD_SIZE];
  memcpy(iv, s->rtp_salt, SRTP_CM_SALT_LEN);
  iv[4] ^= buf[8], iv[5] ^= buf[9], iv[6] ^= buf[10], iv[7] ^= buf[11];
  iv[8] ^= (uint8_t)(roc >> 24), iv[9] ^= (uint8_t)(roc >> 16), iv[10] ^= (uint8_t)(roc >> 8),
      iv[11] ^= (uint8_t)roc;
  iv[12] ^= buf[2], iv[13] ^= buf[3];
  uint8_t rocb[4];
  lc_wr32(rocb, roc);
  size_t tl = 0;
  if (EVP_EncryptInit_ex(s->rtp_cipher, NULL, NULL, NULL, iv) != 1 ||
      (plen > 0 && EVP_EncryptUpdate(s->rtp_cipher, payload, &n, payload, plen) != 1) ||
      EVP_MAC_init(s->rtp_mac, NULL, 0, NULL) != 1 || EVP_MAC_update(s->rtp_mac, buf, len) != 1 ||
      EVP_MAC_update(s->rtp_mac, rocb, 4) != 1 || EVP_MAC_final(s->rtp_mac, tag, &tl, sizeof tag) != 1 ||
      tl < 10) {
    ERR_clear_error();
    return LC_EINVAL;
  }
  memcpy(buf + len, tag, 10);
  *out_len = len + 10;
  return 0;
}

lc_srtp *
lc_srtp_new_from_dtls(lc_dtls *d)
{
  if (d->state != LC_DTLS_CONNECTED || d->profile == 0)
    return NULL;
  if (lc_srtp_init(NULL) != 0)
    return NULL;
  const uint8_t *client_key = d->keys, *server_key = d->keys + SRTP_KEY_LEN;
  const uint8_t *client_salt = d->keys + 2 * SRTP_KEY_LEN, *server_salt = client_salt + d->salt_len;
  bool client = d->role == LC_DTLS_CLIENT;
  lc_srtp *s = g_new0(lc_srtp, 1);
  s->profile = d->profile;
  s->tx = session_new(d->profile, true, client ? client_key : server_key, client ? client_salt : server_salt,
                      d->salt_len);
  s->rx = session_new(d->profile, false, client ? server_key : client_key, client ? server_salt : client_salt,
                      d->salt_len);
  if (!s->tx || !s->rx) {
    lc_srtp_free(s);
    return NULL;
  }
  const char *mode = g_getenv("LC_SRTP_TX"); /* "libsrtp": the old path, for comparisons */
  if (!(mode && strcmp(mode, "libsrtp") == 0)) {
    s->fast = fast_init(s, client ? client_key : server_key, client ? client_salt : server_salt, d->salt_len);
    if (!s->fast) { /* OpenSSL without AES-GCM/CTR or HMAC: libsrtp does it all */
      g_clear_pointer(&s->rtp_cipher, EVP_CIPHER_CTX_free);
      g_clear_pointer(&s->rtp_mac, EVP_MAC_CTX_free);
    }
  }
  return s;
}

void
lc_srtp_free(lc_srtp *s)
{
  if (!s)
    return;
  if (s->tx)
    srtp_dealloc(s->tx);
  if (s->rx)
    srtp_dealloc(s->rx);
  EVP_CIPHER_CTX_free(s->rtp_cipher);
  EVP_MAC_CTX_free(s->rtp_mac);
  OPENSSL_cleanse(s->rtp_salt, sizeof s->rtp_salt);
  g_free(s->txs);
  g_free(s);
}

lc_srtp_profile
lc_srtp_get_profile(const lc_srtp *s)
{
  return s->profile;
}

int
lc_srtp_protect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
  if (G_UNLIKELY(len < 12 || len > SRTP_MAX_PACKET))
    return LC_EINVAL;
  if (G_LIKELY(s->fast))
    return fast_protect(s, buf, len, out_len);
  int l = (int)len;
  if (G_UNLIKELY(srtp_protect(s->tx, buf, &l) != srtp_err_status_ok))
    return LC_EINVAL;
  *out_len = (size_t)l;
  return 0;
}

int
lc_srtp_protect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
  if (G_UNLIKELY(len < 8 || len > SRTP_MAX_PACKET))
    return LC_EINVAL;
  int l = (int)len;
  if (G_UNLIKELY(srtp_protect_rtcp(s->tx, buf, &l) != srtp_err_status_ok))
    return LC_EINVAL;
  *out_len = (size_t)l;
  return 0;
}

/* Inbound SSRCs are bounded: libsrtp clones a stream (a few hundred bytes plus crypto
 * contexts) for every new SSRC that authenticates, so a peer could grow our memory. */
static bool
ssrc_known(const lc_srtp *s, uint32_t ssrc)
{
  for (unsigned i = 0; i < s->n_ssrcs; i++)
    if (s->ssrcs[i] == ssrc)
      return true;
  return false;
}

static int
unprotect(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len, bool rtcp)
{
  if (len < (rtcp ? 8u : 12u) || len > SRTP_MAX_PACKET)
    return LC_EINVAL;
  const uint8_t *p = buf + (rtcp ? 4 : 8);
  uint32_t ssrc = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  bool known = ssrc_known(s, ssrc);
  if (!known && s->n_ssrcs == SRTP_MAX_INBOUND_SSRCS)
    return LC_EINVAL;
  int l = (int)len;
  srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s->rx, buf, &l) : srtp_unprotect(s->rx, buf, &l);
  if (st != srtp_err_status_ok)
    return LC_EINVAL;
  if (!known)
    s->ssrcs[s->n_ssrcs++] = ssrc;
  *out_len = (size_t)l;
  return 0;
}

int
lc_srtp_unprotect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
  return unprotect(s, buf, len, out_len, false);
}

int
lc_srtp_unprotect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
{
  return unprotect(s, buf, len, out_len, true);
}

/* One WebRTC peer's DTLS 1.2 endpoint (OpenSSL). See dtls_srtp.h and dtls_srtp_int.h.
 *
 * I/O goes through a BIO of our own instead of a pair of memory BIOs: a memory BIO
 * concatenates what OpenSSL writes, which loses the datagram boundaries (a flight would leave
 * as one oversized datagram). Ours turns every BIO_write into one GBytes datagram, and serves
 * the datagram being fed as exactly one read, as a UDP socket would. */
#include "rtc/dtls_srtp_int.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

#include "base/errors.h"

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

/* ---- OpenSSL callbacks ---- */

/* Depth 0 (the peer's own certificate): accepted iff its digest is the SDP fingerprint. The
 * chain is not verified: WebRTC certificates are self-signed, the fingerprint is the trust. */
int
lc__dtls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
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
  lc__dtls_hex_colon(md, len, d->fp_seen);
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

unsigned int
lc__dtls_timer_cb(SSL *ssl, unsigned int timer_us)
{
  lc_dtls *d = SSL_get_app_data(ssl);
  if (timer_us == 0)
    return d ? d->initial_timeout_us : DEFAULT_INITIAL_TIMEOUT_US;
  return timer_us >= MAX_TIMEOUT_US / 2 ? MAX_TIMEOUT_US : timer_us * 2;
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
  if (!(d->fp_md = lc__dtls_parse_fingerprint(remote_fingerprint, d->fp, &d->fp_len, &d->fp_name))) {
    fail(d,
         g_strdup_printf("remote fingerprint %s%.80s%s is not \"<sha-1|sha-224|sha-256|sha-384|sha-512> "
                         "XX:XX:...\" with the digest's length",
                         remote_fingerprint ? "\"" : "", remote_fingerprint ? remote_fingerprint : "(none)",
                         remote_fingerprint ? "\"" : ""));
    return d;
  }
  ERR_clear_error();
  BIO *bio = NULL;
  if (!(d->ssl = SSL_new(cert->ctx[d->role])) || !(bio = BIO_new(dbio_get_method()))) {
    fail(d, lc__dtls_ssl_error_string("SSL_new"));
    return d;
  }
  SSL_set_app_data(d->ssl, d);
  BIO_set_data(bio, d);
  SSL_set_bio(d->ssl, bio, bio); /* one reference for both directions */
  mtu = CLAMP(mtu, MTU_MIN, MTU_MAX);
  SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(d->ssl, (long)mtu) <= 0) { /* returns the MTU on success */
    fail(d, lc__dtls_ssl_error_string("SSL_set_mtu"));
    return d;
  }
  DTLS_set_timer_cb(d->ssl, lc__dtls_timer_cb);
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
  if (SSL_export_keying_material(d->ssl, d->keys, n, EXPORTER_LABEL, strlen(EXPORTER_LABEL), NULL, 0, 0) !=
      1) {
    d->profile = 0;
    fail(d, lc__dtls_ssl_error_string("SSL_export_keying_material"));
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
  fail(d, lc__dtls_ssl_error_string(what));
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
    fail(d, lc__dtls_ssl_error_string("DTLS handshake timed out (no answer to 12 retransmissions)"));
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

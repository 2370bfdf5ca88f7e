/* SRTP sessions of a peer (libsrtp2; outbound RTP goes through srtp_tx.c). See dtls_srtp.h and
 * dtls_srtp_int.h. */
#include "rtc/dtls_srtp_int.h"

#include <string.h>

#include "base/errors.h"

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
      lc__dtls_set_error(err_msg, g_strdup_printf("libsrtp %s cannot be initialised (srtp_init: status %d)",
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
    s->fast = lc__srtp_tx_init(s, client ? client_key : server_key, client ? client_salt : server_salt,
                               d->salt_len);
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
    return lc__srtp_tx_protect(s, buf, len, out_len);
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

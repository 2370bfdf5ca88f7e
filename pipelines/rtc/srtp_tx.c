/* Outbound SRTP for RTP with OpenSSL EVP contexts keyed once per session (see the Decisions in
 * docs/design.md for why: Debian's libsrtp2 allocates and locks per packet through NSS). */
#include "rtc/dtls_srtp_int.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <string.h>

#include "base/bytes.h"
#include "base/errors.h"

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

bool
lc__srtp_tx_init(lc_srtp *s, const uint8_t *mkey, const uint8_t *msalt, size_t msalt_len)
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
int
lc__srtp_tx_protect(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len)
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

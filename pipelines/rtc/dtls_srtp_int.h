/* Internals of the DTLS-SRTP module shared by its files (see dtls_srtp.h for the API and the
 * threading rule: an lc_dtls_cert is immutable and shared; an lc_dtls and its lc_srtp belong
 * to one thread at a time; nothing takes a lock on the packet path):
 *   dtls_cert.c      certificates (generate, load), the SSL_CTX per role, fingerprints, errors
 *   dtls_endpoint.c  one peer's DTLS endpoint over our datagram BIO; keying material export
 *   srtp_session.c   libsrtp: init, the two sessions of a peer, RTCP out, everything in
 *   srtp_tx.c        outbound RTP protected with OpenSSL (the fan-out's hot path)
 * Internal: lc__ names. */
#pragma once
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <srtp2/srtp.h>

#include "rtc/dtls_srtp.h"

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
#define CIPHERS                                                                                              \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                               \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                               \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                               \
  "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
#define GROUPS "X25519:P-256:P-384"

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
  bool fp_matched;  /* the verify callback saw a matching depth-0 certificate */
  bool fp_mismatch; /* ... or a different one: the reason of the failure */
  char *fp_seen;    /* the mismatching certificate's fingerprint, for the error message */
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

/* ---- dtls_cert.c (any thread) ---- */
/* "what: reason of the last OpenSSL error" (the queue is emptied). transfer full. */
char *lc__dtls_ssl_error_string(const char *what);
/* *err_msg = msg (transfer full; freed when err_msg is NULL). */
void lc__dtls_set_error(char **err_msg, char *msg);
/* A digest as "XX:XX:..." into out (3 * len bytes). */
void lc__dtls_hex_colon(const uint8_t *md, unsigned len, char *out);
/* Parses an SDP fingerprint value into out (*out_len bytes) and its hash name. The digest or NULL. */
const EVP_MD *lc__dtls_parse_fingerprint(const char *fp, uint8_t *out, unsigned *out_len,
                                         const char **out_name);

/* ---- dtls_endpoint.c (OpenSSL callbacks, on the thread owning the endpoint) ---- */
/* Depth 0: accepted iff the peer certificate's digest is the endpoint's SDP fingerprint. */
int lc__dtls_verify_cb(int preverify_ok, X509_STORE_CTX *store);
/* Retransmission timer: the endpoint's first timeout, then doubled up to MAX_TIMEOUT_US. */
unsigned int lc__dtls_timer_cb(SSL *ssl, unsigned int timer_us);

/* ---- srtp_tx.c (the thread owning s) ---- */
/* Keys the EVP contexts of s for outbound RTP from the master key and salt. false when OpenSSL
 * lacks a primitive (then libsrtp protects RTP too). */
bool lc__srtp_tx_init(lc_srtp *s, const uint8_t *mkey, const uint8_t *msalt, size_t msalt_len);
/* lc_srtp_protect_rtp on the OpenSSL path (len already checked to be 12..65535). */
int lc__srtp_tx_protect(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);

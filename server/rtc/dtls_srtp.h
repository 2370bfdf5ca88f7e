/* DTLS 1.2 handshake (OpenSSL, memory BIOs: no sockets) and SRTP (libsrtp2) for one WebRTC peer.
 * The caller owns the socket: it feeds received DTLS records in and sends the datagrams this
 * module produces. Both roles: server (livecartd, `a=setup:passive`) and client (the viewer
 * emulator of tools/bench-fanout, tests).
 *
 * Threads: an lc_dtls_cert is immutable after creation and shared by all threads (refcounted).
 * An lc_dtls and its lc_srtp belong to one thread at a time (the RTC worker owning the peer). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lc_dtls_cert lc_dtls_cert;

/* Generates an ECDSA P-256 self-signed certificate (CN "livecart", valid 30 days from now-1 day).
 * transfer full; NULL + *err_msg (g_free) on failure. Any thread. */
lc_dtls_cert *lc_dtls_cert_generate(char **err_msg);
/* Loads a PEM certificate and private key (ECDSA P-256 or RSA). NULL + *err_msg on failure. */
lc_dtls_cert *lc_dtls_cert_load(const char *cert_path, const char *key_path, char **err_msg);
lc_dtls_cert *lc_dtls_cert_ref(lc_dtls_cert *c);
void lc_dtls_cert_unref(lc_dtls_cert *c);
/* "sha-256 AB:CD:..." as written in SDP a=fingerprint (borrowed, lives with c). */
const char *lc_dtls_cert_fingerprint(const lc_dtls_cert *c);

typedef enum { LC_DTLS_SERVER, LC_DTLS_CLIENT } lc_dtls_role;
typedef enum {
  LC_DTLS_HANDSHAKING,
  LC_DTLS_CONNECTED,   /* handshake done, peer certificate matched, SRTP keys available */
  LC_DTLS_FAILED,      /* see lc_dtls_error(); the peer should be torn down */
  LC_DTLS_CLOSED,      /* close_notify received */
} lc_dtls_state;

typedef struct lc_dtls lc_dtls;

/* New endpoint. remote_fingerprint = the peer's SDP a=fingerprint value ("sha-256 AB:..." — the
 * hash name case-insensitive; sha-1/sha-224/sha-256/sha-384/sha-512 accepted); the peer's
 * certificate must match it or the handshake fails. mtu = largest datagram produced (e.g. 1200).
 * transfer full. */
lc_dtls *lc_dtls_new(lc_dtls_cert *cert, lc_dtls_role role, const char *remote_fingerprint, unsigned mtu);
void lc_dtls_free(lc_dtls *d);
/* Client: produces the ClientHello (no-op for the server). Datagrams to send are appended to out
 * (each element a GBytes *, transfer full; out created by the caller with
 * g_ptr_array_new_with_free_func(g_bytes_unref)). */
void lc_dtls_start(lc_dtls *d, GPtrArray *out);
/* Feeds one received datagram (borrowed; a DTLS record per RFC 7983 first byte 20..63).
 * Appends datagrams to send to out. Returns the state after it. Never crashes on garbage:
 * a malformed record is ignored or fails the handshake. */
lc_dtls_state lc_dtls_feed(lc_dtls *d, const uint8_t *data, size_t len, GPtrArray *out);
/* Monotonic time (g_get_monotonic_time() µs) of the next retransmission, or -1 when none is
 * pending; call lc_dtls_on_timeout at or after it (appends retransmissions to out). */
int64_t lc_dtls_next_timeout(lc_dtls *d);
lc_dtls_state lc_dtls_on_timeout(lc_dtls *d, GPtrArray *out);
lc_dtls_state lc_dtls_get_state(const lc_dtls *d);
const char *lc_dtls_error(const lc_dtls *d);  /* reason of LC_DTLS_FAILED, else NULL */

/* SRTP protection profiles (RFC 5764 / RFC 7714), offered in this order of preference. */
typedef enum { LC_SRTP_AEAD_AES_128_GCM = 7, LC_SRTP_AES128_CM_SHA1_80 = 1 } lc_srtp_profile;

typedef struct lc_srtp lc_srtp;

/* After LC_DTLS_CONNECTED: the two SRTP sessions (outbound with our keys, inbound with the
 * peer's) from the exported keying material. transfer full; NULL if not connected. */
lc_srtp *lc_srtp_new_from_dtls(lc_dtls *d);
void lc_srtp_free(lc_srtp *s);
lc_srtp_profile lc_srtp_get_profile(const lc_srtp *s);
/* Largest growth of a packet when protected (auth tag + MKI); scratch buffers need len + this. */
#define LC_SRTP_MAX_TRAILER 32
/* Protects in place: buf holds len bytes of RTP (or RTCP) and has room for len +
 * LC_SRTP_MAX_TRAILER. *out_len = protected length. Returns 0 or LC_EINVAL (libsrtp refused). */
int lc_srtp_protect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int lc_srtp_protect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
/* Unprotects in place; *out_len = plain length. Returns 0, LC_EINVAL (auth failure / replay /
 * malformed). Never crashes on garbage. */
int lc_srtp_unprotect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int lc_srtp_unprotect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);

/* DTLS 1.2 handshake (OpenSSL, in-memory datagram BIO: no sockets) and SRTP (libsrtp2) for one
 * WebRTC peer. The caller owns the socket: it feeds received DTLS records in and sends the
 * datagrams this module produces (one GBytes = one UDP datagram, never larger than the MTU).
 * Both roles: server (livecartd, `a=setup:passive`) and client (the viewer emulator of
 * tools/bench, tests).
 *
 * Security: the peer's certificate is self-signed (WebRTC); it is accepted only when its digest
 * equals the SDP a=fingerprint (checked in the verify callback, so a mismatch aborts the
 * handshake with a bad_certificate alert, and again once the handshake is done). No session
 * resumption, no tickets, no renegotiation. SRTP profiles: AEAD_AES_128_GCM (preferred) and
 * AES128_CM_HMAC_SHA1_80; keys from the exporter "EXTRACTOR-dtls_srtp" (RFC 5764 4.2).
 *
 * Threads: an lc_dtls_cert is immutable after creation and shared by all threads (refcounted;
 * it holds one SSL_CTX per role). An lc_dtls and its lc_srtp belong to one thread at a time
 * (the RTC worker owning the peer); nothing here takes a lock on the packet path. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lc_dtls_cert lc_dtls_cert;

/* Generates an ECDSA P-256 self-signed certificate (CN "livecart", valid 30 days from now-1 day).
 * transfer full; NULL + *err_msg (g_free) on failure. Any thread. */
lc_dtls_cert *lc_dtls_cert_generate(char **err_msg);
/* Loads a PEM certificate and an unencrypted private key (ECDSA P-256/P-384, or RSA >= 2048
 * bits; they must match). NULL + *err_msg (naming the file and the cause) on failure. Any
 * thread (start-up: the files are read synchronously). */
lc_dtls_cert *lc_dtls_cert_load(const char *cert_path, const char *key_path, char **err_msg);
lc_dtls_cert *lc_dtls_cert_ref(lc_dtls_cert *c);
void lc_dtls_cert_unref(lc_dtls_cert *c);
/* "sha-256 AB:CD:..." as written in SDP a=fingerprint: uppercase hex, 32 bytes (borrowed,
 * lives with c). Any thread. */
const char *lc_dtls_cert_fingerprint(const lc_dtls_cert *c);
/* True when fp is a fingerprint lc_dtls_new accepts (hash name sha-1/-224/-256/-384/-512, case
 * insensitive, then the digest as colon-separated hex pairs of the right count). For the SDP
 * layer, to refuse an offer early. Any thread. */
bool lc_dtls_fingerprint_valid(const char *fp);

typedef enum { LC_DTLS_SERVER, LC_DTLS_CLIENT } lc_dtls_role;
typedef enum {
  LC_DTLS_HANDSHAKING,
  LC_DTLS_CONNECTED,   /* handshake done, peer certificate matched, SRTP keys available */
  LC_DTLS_FAILED,      /* see lc_dtls_error(); the peer should be torn down */
  LC_DTLS_CLOSED,      /* close_notify received, or lc_dtls_close() called */
} lc_dtls_state;

typedef struct lc_dtls lc_dtls;
/* Every lc_dtls_* function below runs on the thread owning d (see the top). */

/* New endpoint. remote_fingerprint = the peer's SDP a=fingerprint value ("sha-256 AB:..." — the
 * hash name case-insensitive; sha-1/sha-224/sha-256/sha-384/sha-512 accepted); the peer's
 * certificate must match it or the handshake fails. mtu = largest datagram produced (e.g. 1200;
 * clamped to 256..16384). cert is referenced (borrowed by the call). transfer full; never NULL:
 * a NULL or malformed fingerprint gives an endpoint already LC_DTLS_FAILED with the reason. */
lc_dtls *lc_dtls_new(lc_dtls_cert *cert, lc_dtls_role role, const char *remote_fingerprint, unsigned mtu);
/* Frees d (no close_notify: call lc_dtls_close first for a polite end). NULL is a no-op. */
void lc_dtls_free(lc_dtls *d);
/* SRTP protection profiles (RFC 5764 / RFC 7714), offered in this order of preference. */
typedef enum { LC_SRTP_AEAD_AES_128_GCM = 7, LC_SRTP_AES128_CM_SHA1_80 = 1 } lc_srtp_profile;
/* Restricts the SRTP profiles offered (client) or accepted (server) to profiles[0..n), in this
 * order of preference (default: GCM then CM). Call before lc_dtls_start / the first feed.
 * Returns 0, LC_EINVAL (n == 0, n > 2 or an unknown profile), LC_ESTATE (already started or
 * failed). For tests and benchmarks (e.g. a CM-only viewer). */
int lc_dtls_set_srtp_profiles(lc_dtls *d, const lc_srtp_profile *profiles, size_t n);
/* First retransmission timeout in ms, 20..3200 (default 400, where OpenSSL's own is 1 s: a lost
 * first flight would cost a viewer's join that second); doubled after each timeout up to 3.2 s;
 * OpenSSL gives up after 12 timeouts (~30 s). Call before lc_dtls_start / the first feed. */
void lc_dtls_set_initial_timeout(lc_dtls *d, unsigned ms);
/* Client: produces the ClientHello (no-op for the server). Datagrams to send are appended to out
 * (each element a GBytes *, transfer full; out created by the caller with
 * g_ptr_array_new_with_free_func(g_bytes_unref)). */
void lc_dtls_start(lc_dtls *d, GPtrArray *out);
/* Feeds one received datagram (borrowed; a DTLS record per RFC 7983 first byte 20..63; other
 * first bytes, empty or > 16 KiB datagrams are ignored). Appends datagrams to send to out (may
 * be NULL: nothing is sent). Returns the state after it. Never crashes on garbage: a malformed
 * record is ignored or fails the handshake. Bounded work: at most 256 datagrams may be fed
 * before the handshake completes (then FAILED), and application data after it (WebRTC media
 * uses none: no data channels here) is read and dropped, 16 records per datagram at most. */
lc_dtls_state lc_dtls_feed(lc_dtls *d, const uint8_t *data, size_t len, GPtrArray *out);
/* Monotonic time (g_get_monotonic_time() µs) of the next retransmission, or -1 when none is
 * pending; call lc_dtls_on_timeout at or after it (appends retransmissions to out). */
int64_t lc_dtls_next_timeout(lc_dtls *d);
lc_dtls_state lc_dtls_on_timeout(lc_dtls *d, GPtrArray *out);
/* Sends close_notify (appended to out) and moves to LC_DTLS_CLOSED. No-op once FAILED/CLOSED. */
void lc_dtls_close(lc_dtls *d, GPtrArray *out);
/* Memory: a connected endpoint keeps OpenSSL's session (~40 KB: ciphers, the peer certificate,
 * the last flight; the ~35 KB of record buffers are already given back between calls) only to answer a peer that lost our last flight and to notice close_notify.
 * Once the peer has proven it finished the handshake (a packet from it passed
 * lc_srtp_unprotect_rtp/rtcp), call this to free it: the state stays CONNECTED, later DTLS
 * datagrams are ignored (a close_notify goes unnoticed: RTCP BYE / ICE consent end the peer),
 * lc_srtp_new_from_dtls still works, and lc_dtls_close still says goodbye: the close_notify
 * record is sealed here, before the keys go (~40 bytes kept). No-op unless CONNECTED. */
void lc_dtls_trim(lc_dtls *d);
lc_dtls_state lc_dtls_get_state(const lc_dtls *d);
const char *lc_dtls_error(const lc_dtls *d);  /* reason of LC_DTLS_FAILED, else NULL (borrowed) */
/* The negotiated SRTP profile once CONNECTED; 0 before. */
lc_srtp_profile lc_dtls_get_srtp_profile(const lc_dtls *d);

typedef struct lc_srtp lc_srtp;

/* Initialises libsrtp for the process once (lc_srtp_new_from_dtls calls it; lc_rtc_new calls it
 * at start to fail early). Tolerates another user of the process (GStreamer's srtp elements)
 * having initialised libsrtp first: libsrtp 2.x refuses a second srtp_init(), which is fine as
 * long as sessions can be created. Returns 0, or LC_EIO with *err_msg (g_free; err_msg may be
 * NULL) when libsrtp is unusable; never aborts. Any thread. */
int lc_srtp_init(char **err_msg);

/* After LC_DTLS_CONNECTED: the two SRTP sessions (outbound with our keys, inbound with the
 * peer's) from the exported keying material. transfer full; NULL if not connected (or, should
 * libsrtp refuse the policy, NULL too). The lc_srtp does not reference d: d may be freed.
 * Outbound: any SSRC, retransmissions of an already protected sequence number allowed (NACK
 * answers resend the same packet), replay window 4096 packets (so a resend may be up to 4096
 * sequence numbers old). Inbound: any SSRC (at most 32 distinct ones, then packets of new SSRCs
 * are refused: each costs libsrtp a stream), replay window 1024. */
lc_srtp *lc_srtp_new_from_dtls(lc_dtls *d);
void lc_srtp_free(lc_srtp *s);
lc_srtp_profile lc_srtp_get_profile(const lc_srtp *s);
/* Largest growth of a packet when protected (RTP: 16-byte GCM or 10-byte HMAC tag; RTCP: tag +
 * 4-byte SRTCP index; no MKI); scratch buffers need len + this. */
#define LC_SRTP_MAX_TRAILER 32
/* Protects in place: buf holds len bytes of RTP (or RTCP) and has room for len +
 * LC_SRTP_MAX_TRAILER. *out_len = protected length. Returns 0 or LC_EINVAL (shorter than a
 * header, a header longer than the packet, longer than 65535, more than 4096 packets older
 * than the newest of its SSRC, or the crypto refused). The hot path of the fan-out: outbound RTP
 * is protected with OpenSSL EVP contexts keyed once per session (RFC 7714 AES-GCM, or RFC 3711
 * AES-CTR + HMAC-SHA1-80; session keys from the RFC 3711 KDF), no allocation after the first
 * packet of each SSRC (Debian's libsrtp2 goes through NSS, which allocates and locks per packet:
 * ~5x the cost). RTCP and all inbound packets go through libsrtp. The environment variable
 * LC_SRTP_TX=libsrtp (read when the session is made) sends RTP through libsrtp too, to compare. */
int lc_srtp_protect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int lc_srtp_protect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
/* Unprotects in place; *out_len = plain length. Returns 0, LC_EINVAL (auth failure / replay /
 * malformed / one SSRC too many). Never crashes on garbage. On failure the content of buf is
 * unspecified (AES-GCM may have decrypted it in place): drop the packet. */
int lc_srtp_unprotect_rtp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);
int lc_srtp_unprotect_rtcp(lc_srtp *s, uint8_t *buf, size_t len, size_t *out_len);

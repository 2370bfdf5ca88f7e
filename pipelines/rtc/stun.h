/* STUN for an ICE-lite server (RFC 5389 / RFC 8489, RFC 8445 lite) and the RFC 7983
 * first-byte demultiplexer. Pure: no I/O, no allocation, no globals beyond a const CRC
 * table; any thread. Parsing is in place over a const buffer: every pointer in a parsed
 * lc_stun_msg borrows from that buffer. Builders write into a caller buffer.
 * See docs/rtc-wire.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LC_STUN_HEADER_LEN 20
#define LC_STUN_MAGIC_COOKIE 0x2112A442u
#define LC_STUN_TID_LEN 12
#define LC_STUN_FINGERPRINT_XOR 0x5354554eu
#define LC_STUN_MAX_USERNAME 513 /* RFC 8489: USERNAME < 513 bytes */
/* Room any response built here needs (header + SOFTWARE <= 128 + XOR-MAPPED-ADDRESS v6
 * + ERROR-CODE with a <= 128 byte reason + MESSAGE-INTEGRITY + FINGERPRINT). */
#define LC_STUN_MAX_RESPONSE 512

/* Message types (method Binding). */
#define LC_STUN_BINDING_REQUEST 0x0001
#define LC_STUN_BINDING_INDICATION 0x0011
#define LC_STUN_BINDING_SUCCESS 0x0101
#define LC_STUN_BINDING_ERROR 0x0111

/* Attribute types used here. */
#define LC_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define LC_STUN_ATTR_USERNAME 0x0006
#define LC_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define LC_STUN_ATTR_ERROR_CODE 0x0009
#define LC_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define LC_STUN_ATTR_PRIORITY 0x0024
#define LC_STUN_ATTR_USE_CANDIDATE 0x0025
#define LC_STUN_ATTR_SOFTWARE 0x8022
#define LC_STUN_ATTR_FINGERPRINT 0x8028
#define LC_STUN_ATTR_ICE_CONTROLLED 0x8029
#define LC_STUN_ATTR_ICE_CONTROLLING 0x802A

/* What the first byte of a datagram on the shared media port says it is (RFC 7983,
 * with RTP and RTCP told apart by the RFC 5761 payload-type range 192-223). */
typedef enum {
  LC_DEMUX_UNKNOWN = 0, /* drop it */
  LC_DEMUX_STUN,        /* first byte 0-3 */
  LC_DEMUX_DTLS,        /* 20-63 */
  LC_DEMUX_RTP,         /* 128-191, second byte outside 192-223 */
  LC_DEMUX_RTCP,        /* 128-191, second byte (RTCP packet type) 192-223 */
} lc_demux_kind;

/* Classifies a datagram by its first byte (and the second for RTP vs RTCP); an empty
 * buffer, a 128-191 datagram shorter than 2 bytes and every other range (ZRTP, TURN
 * channels, ...) give UNKNOWN. Any thread, no side effects. */
lc_demux_kind lc_stun_demux(const uint8_t *buf, size_t len);

/* A mapped transport address (host byte order port, network order address bytes). */
typedef struct {
  int family;      /* AF_INET or AF_INET6; 0 when absent */
  uint8_t addr[16]; /* 4 or 16 bytes used */
  uint16_t port;
} lc_stun_addr;

/* A parsed STUN message. Every pointer borrows from the buffer given to lc_stun_parse. */
typedef struct {
  const uint8_t *msg; /* the whole message (borrowed) */
  size_t msg_len;     /* 20 + body length */
  uint16_t type;      /* message type, e.g. LC_STUN_BINDING_REQUEST */
  uint8_t tid[LC_STUN_TID_LEN];

  const uint8_t *username; /* USERNAME value (borrowed, not NUL-terminated) or NULL */
  size_t username_len;
  bool has_priority;
  uint32_t priority;
  bool ice_controlling; /* ICE-CONTROLLING present (tiebreaker below) */
  bool ice_controlled;  /* ICE-CONTROLLED present */
  uint64_t tiebreaker;
  bool use_candidate;
  bool has_error_code;
  uint16_t error_code; /* class*100 + number, e.g. 401 */
  lc_stun_addr xor_mapped; /* XOR-MAPPED-ADDRESS, decoded; family 0 when absent */

  bool has_integrity;      /* MESSAGE-INTEGRITY present (not yet verified) */
  size_t integrity_offset; /* offset of the MESSAGE-INTEGRITY attribute header in msg */
  bool has_fingerprint;    /* FINGERPRINT present and already verified by the parser */
  uint16_t unknown_required; /* first comprehension-required attribute not understood, or 0 */
} lc_stun_msg;

/* Parses a STUN message in buf[0..len) (the whole datagram): top two bits zero, magic
 * cookie, body length a multiple of 4 equal to len - 20, attributes with their padding
 * inside the body, known attributes of the right size, FINGERPRINT (when present) last
 * and correct. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored as
 * RFC 8489 says. Returns 0 and fills *out (borrowing buf), or LC_EINVAL for anything
 * malformed (including a bad fingerprint). Any thread, no allocation. */
int lc_stun_parse(const uint8_t *buf, size_t len, lc_stun_msg *out);

/* Checks MESSAGE-INTEGRITY of a parsed message: HMAC-SHA1 keyed with key (for ICE, the
 * password of the agent receiving the request: our local ice-pwd), over the message up
 * to the attribute with the header length adjusted to end after it. Constant-time
 * compare. Returns 0, LC_ENOENT when the message has no MESSAGE-INTEGRITY, LC_EPERM on
 * mismatch, LC_EIO if OpenSSL fails. Any thread. */
int lc_stun_check_integrity(const lc_stun_msg *m, const uint8_t *key, size_t key_len);

/* True when the USERNAME of m is "<local_ufrag>:<anything>" (RFC 8445 7.3: the first
 * part names the receiving agent). Any thread. */
bool lc_stun_username_matches(const lc_stun_msg *m, const char *local_ufrag);

/* CRC-32 (ISO-HDLC, as zlib) of buf; FINGERPRINT is this ^ LC_STUN_FINGERPRINT_XOR. */
uint32_t lc_stun_crc32(const uint8_t *buf, size_t len);

/* Builds a Binding success response to transaction tid into out[0..cap): SOFTWARE when
 * software is non-NULL (<= 128 bytes), XOR-MAPPED-ADDRESS of mapped (the request's source,
 * struct sockaddr_in or sockaddr_in6), MESSAGE-INTEGRITY with key (our ice-pwd; skipped
 * when key is NULL) and FINGERPRINT. Padding bytes are 0x20 (as in RFC 5769). Returns 0
 * and *out_len, LC_EINVAL for an unsupported address family, LC_ETOOBIG when cap is too
 * small, LC_EIO if OpenSSL fails. Any thread (typically the RTC worker owning the socket). */
int lc_stun_build_binding_success(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN],
                                  const struct sockaddr *mapped, const char *software,
                                  const uint8_t *key, size_t key_len, size_t *out_len);

/* Builds a Binding error response: ERROR-CODE code (300-699; reason NULL = the standard
 * phrase for 400, 401, 420, 487, 500), then MESSAGE-INTEGRITY when key is non-NULL (not
 * for 400/401, where the request's credentials are not trusted) and FINGERPRINT.
 * Returns 0 and *out_len, LC_EINVAL for a code out of range, LC_ETOOBIG, LC_EIO. Any thread. */
int lc_stun_build_error(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN], int code,
                        const char *reason, const uint8_t *key, size_t key_len, size_t *out_len);

/* Parameters of a Binding request, for clients (the viewer emulator, tests). */
typedef struct {
  const char *software;  /* SOFTWARE or NULL */
  uint32_t priority;     /* PRIORITY (always sent) */
  bool controlling;      /* ICE-CONTROLLING if true, else ICE-CONTROLLED */
  uint64_t tiebreaker;
  bool use_candidate;
  const char *username;  /* "<remote ufrag>:<local ufrag>", required */
  const uint8_t *key;    /* the remote agent's ice-pwd; NULL = no MESSAGE-INTEGRITY */
  size_t key_len;
} lc_stun_request;

/* Builds a Binding request (attributes in the order SOFTWARE, PRIORITY, ICE-CONTROLLED /
 * ICE-CONTROLLING, USE-CANDIDATE, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT). Returns 0 and
 * *out_len, LC_EINVAL (no or too long username), LC_ETOOBIG, LC_EIO. Any thread. */
int lc_stun_build_request(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN],
                          const lc_stun_request *req, size_t *out_len);

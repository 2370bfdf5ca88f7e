/* The origin -> edge relay's wire format (pure: no I/O, no state; any thread; fuzzed by
 * tests/fuzz/fuzz_relay_wire.c). See docs/design.md "Origin -> edge relay" for why SRT carries it.
 *
 * The connection request: the edge's SRT streamid, one line of ASCII
 *   "lcrelay1 room=<room> node=<edge node> via=<n1>,<n2>,... ts=<unix s> sig=<64 hex>"
 * room: [a-z0-9_-] 1..64; node ids: [A-Za-z0-9._:-] 1..64; via: the nodes the request passed
 * through, the requesting node last (1..LC_RELAY_MAX_HOPS); sig: HMAC-SHA256 with the relay
 * secret over everything before " sig=". The origin refuses a bad signature, a ts more than
 * LC_RELAY_MAX_SKEW_S away from its clock, and a via that names itself (a loop).
 *
 * Messages (one per SRT message, at most LC_RELAY_MAX_MSG bytes), first byte = type:
 *   'R' renditions  origin -> edge: what the room has now (sent on connect and on every change)
 *       u8 count, then per rendition: u8 index, u8 kind, u8 pt, u8 channels, u8 live,
 *       u32 clock_rate, u16 width, u16 height, u32 bitrate_kbps, u8 name_len + name,
 *       u8 fmtp_len + fmtp
 *   'D' data        origin -> edge: u8 index, u8 flags (1 = keyframe), u32 age_us (how long
 *       ago the origin's producer pushed it: a replayed GOP keeps its real age), RTP packet
 *   'S' subscribe   edge -> origin: the renditions the edge wants now: u8 count, names
 *       (u8 len + name each)
 *   'K' keyframe    edge -> origin: u8 len + name
 *   'E' end         origin -> edge: the room is gone or cannot be served; u8 code
 *       (LC_RELAY_END_*) + u8 len + reason text. No reconnect follows. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_RELAY_MAX_MSG 1456 /* SRT live mode's largest payload */
#define LC_RELAY_DATA_HDR 7
#define LC_RELAY_MAX_RTP (LC_RELAY_MAX_MSG - LC_RELAY_DATA_HDR)
#define LC_RELAY_MAX_RENDITIONS 16
#define LC_RELAY_MAX_HOPS 8
#define LC_RELAY_MAX_ID 64
#define LC_RELAY_MAX_SKEW_S 300
#define LC_RELAY_STREAMID_MAX 512 /* SRT's streamid limit */

typedef struct {
  uint8_t index;
  uint8_t kind; /* lc_media_kind */
  uint8_t payload_type, channels;
  bool live;
  uint32_t clock_rate;
  uint16_t width, height;
  uint32_t bitrate_kbps;
  char name[16];
  char fmtp[128];
} lc_relay_rendition;

typedef enum {
  LC_RELAY_END_GONE = 1,    /* the room ended or has no media here any more */
  LC_RELAY_END_LOOP = 2,    /* serving it would mean pulling from a node in the request's via */
  LC_RELAY_END_UPSTREAM = 3 /* this node's own upstream refused the room */
} lc_relay_end_code;

typedef enum { LC_RELAY_MSG_RENDITIONS = 'R', LC_RELAY_MSG_DATA = 'D', LC_RELAY_MSG_SUBSCRIBE = 'S',
               LC_RELAY_MSG_KEYFRAME = 'K', LC_RELAY_MSG_END = 'E' } lc_relay_msg_type;

/* A parsed message; pointers point into the input buffer. */
typedef struct {
  lc_relay_msg_type type;
  unsigned n; /* renditions (R) or names (S) */
  lc_relay_rendition rend[LC_RELAY_MAX_RENDITIONS]; /* R */
  char names[LC_RELAY_MAX_RENDITIONS][16];          /* S; K uses names[0] */
  uint8_t index, flags;                             /* D */
  uint32_t age_us;                                  /* D */
  const uint8_t *rtp;                               /* D */
  size_t rtp_len;                                   /* D */
  uint8_t end_code;                                 /* E */
  char reason[256];                                 /* E */
} lc_relay_msg;

/* Parses one message. 0, or LC_EINVAL with *why (static) naming what is wrong. */
int lc_relay_msg_parse(const uint8_t *buf, size_t len, lc_relay_msg *out, const char **why);

/* Writers: return the message length written into buf (>= LC_RELAY_MAX_MSG bytes), or 0 when
 * it does not fit (too many renditions, an RTP packet over LC_RELAY_MAX_RTP, a name too long). */
size_t lc_relay_write_renditions(uint8_t *buf, const lc_relay_rendition *r, unsigned n);
size_t lc_relay_write_data(uint8_t *buf, uint8_t index, bool keyframe, uint32_t age_us, const uint8_t *rtp,
                           size_t len);
size_t lc_relay_write_subscribe(uint8_t *buf, const char *const *names, unsigned n);
size_t lc_relay_write_keyframe(uint8_t *buf, const char *name);
size_t lc_relay_write_end(uint8_t *buf, lc_relay_end_code code, const char *reason);

/* The connection request. */
typedef struct {
  char room[65];
  char node[LC_RELAY_MAX_ID + 1];
  unsigned n_via;
  char via[LC_RELAY_MAX_HOPS][LC_RELAY_MAX_ID + 1];
  int64_t ts;
} lc_relay_request;

/* Writes the signed streamid into out (LC_RELAY_STREAMID_MAX bytes). 0, or LC_EINVAL when a
 * field is invalid (*why static). */
int lc_relay_request_sign(const lc_relay_request *rq, const char *secret, char *out, const char **why);
/* Parses and checks a streamid: syntax, signature (constant-time compare), ts within
 * LC_RELAY_MAX_SKEW_S of now_s. Returns 0; LC_EINVAL (malformed) or LC_EPERM (bad signature or
 * stale) with *why (static). */
int lc_relay_request_verify(const char *streamid, size_t len, const char *secret, int64_t now_s, lc_relay_request *out,
                            const char **why);
/* True when node appears in rq's via. */
bool lc_relay_request_passed(const lc_relay_request *rq, const char *node);
/* True for a valid node id ([A-Za-z0-9._:-], 1..64 bytes). */
bool lc_relay_valid_node(const char *s);

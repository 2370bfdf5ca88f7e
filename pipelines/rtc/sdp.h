/* SDP (RFC 8866) offers from WebRTC clients (Chrome, Firefox, Safari, GStreamer
 * webrtcbin) parsed into a read-only structure, H.264 profile-level-id comparison
 * (RFC 6184), and the answer of an ICE-lite server (RFC 8445 2.5, JSEP RFC 8829, BUNDLE
 * RFC 8843, DTLS-SRTP setup:passive). Pure: no I/O; allocates with GLib (signaling path,
 * not per packet); bounded by LC_SDP_MAX_BYTES and the per-section limits below.
 * Any thread. See docs/rtc-wire.md. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_SDP_MAX_BYTES 65536   /* longest offer accepted */
#define LC_SDP_MAX_MEDIA 32      /* m= sections */
#define LC_SDP_MAX_CODECS 128    /* formats per m= section (RTP PTs 0-127, duplicates dropped) */
#define LC_SDP_MAX_EXTMAPS 32    /* a=extmap per m= section */
#define LC_SDP_MAX_SSRCS 16      /* distinct a=ssrc per m= section */

#define LC_SDP_TWCC_URI "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

typedef enum { LC_SDP_AUDIO, LC_SDP_VIDEO, LC_SDP_APPLICATION, LC_SDP_OTHER } lc_sdp_kind;
typedef enum { LC_SDP_SENDRECV, LC_SDP_SENDONLY, LC_SDP_RECVONLY, LC_SDP_INACTIVE } lc_sdp_dir;

/* rtcp-fb bits (a=rtcp-fb:<pt> ... ; "*" applies to every pt of the section). */
enum {
  LC_SDP_FB_NACK = 1 << 0,
  LC_SDP_FB_NACK_PLI = 1 << 1,
  LC_SDP_FB_CCM_FIR = 1 << 2,
  LC_SDP_FB_GOOG_REMB = 1 << 3,
  LC_SDP_FB_TRANSPORT_CC = 1 << 4,
};

/* H.264 profiles as WebRTC compares them: by profile_idc and constraint flags, never as
 * strings (42e01f, 42c01f and 42001f are all the baseline family). */
typedef enum {
  LC_H264_PROFILE_UNKNOWN = 0,
  LC_H264_PROFILE_BASELINE, /* idc 66 (any constraints), or 77/88 with constraint_set1 */
  LC_H264_PROFILE_MAIN,     /* idc 77 */
  LC_H264_PROFILE_HIGH,     /* idc 100 without constraint_set4+5 */
  LC_H264_PROFILE_CONSTRAINED_HIGH, /* idc 100 with constraint_set4 and 5 (e.g. 640c1f) */
  LC_H264_PROFILE_HIGH444,  /* idc 244 (f4001f) */
} lc_h264_profile;

typedef struct {
  uint8_t pt;
  char *name;          /* encoding name as written ("H264", "opus"), NULL for static PTs without rtpmap */
  uint32_t clock_rate; /* 0 without a=rtpmap */
  uint8_t channels;    /* 0 when not given */
  char *fmtp;          /* a=fmtp parameters as written, or NULL */
  unsigned fb;         /* LC_SDP_FB_* */
  /* H.264, from fmtp */
  int packetization_mode;     /* 0 when absent */
  bool has_profile_level_id;
  uint32_t profile_level_id;  /* 0x42e01f */
  /* rtx: apt= from fmtp, -1 when absent */
  int apt;
} lc_sdp_codec;

typedef struct {
  uint8_t id;
  char *uri;
} lc_sdp_extmap;

typedef struct {
  lc_sdp_kind kind;
  char *media;   /* "video", "audio", "application", ... */
  uint16_t port;
  char *proto;   /* "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ... */
  char *formats; /* the m= line's format list as written ("96 97 98", "webrtc-datachannel") */
  char *mid;     /* a=mid or NULL */
  lc_sdp_dir dir;
  bool rtcp_mux, rtcp_mux_only, rtcp_rsize, bundle_only;
  /* Transport attributes: this section's own, falling back to the session's. */
  char *ice_ufrag, *ice_pwd;
  char *fingerprint_sha256; /* "AB:CD:..." of the first sha-256 a=fingerprint, or NULL */
  bool has_other_fingerprint; /* some a=fingerprint with another hash function was seen */
  char *setup;   /* "actpass", "active", "passive", "holdconn", or NULL */
  lc_sdp_codec *codecs;   /* in m= line order */
  size_t n_codecs;
  lc_sdp_extmap *extmaps;
  size_t n_extmaps;
  uint32_t ssrcs[LC_SDP_MAX_SSRCS]; /* distinct a=ssrc values, first seen first */
  size_t n_ssrcs;
  char *cname;   /* a=ssrc:<first ssrc> cname:, or NULL */
  char *msid;    /* a=msid value, or NULL */
  size_t n_candidates;
  bool end_of_candidates;
} lc_sdp_media;

typedef struct {
  char *origin_username;
  char *session_id;
  bool ice_lite;
  bool trickle;            /* a=ice-options containing "trickle" (session or any section) */
  char **bundle;           /* mids of the first a=group:BUNDLE (NULL-terminated), or NULL */
  lc_sdp_media *media;
  size_t n_media;
} lc_sdp_offer;

/* Parses an SDP offer text[0..len) (CRLF or LF lines; need not be NUL-terminated).
 * Returns 0 and *out (transfer full, lc_sdp_offer_free), or a negative LC_E* with *why
 * (transfer full, g_free; may be NULL) naming the problem and its line:
 * LC_ETOOBIG for more than LC_SDP_MAX_BYTES or the section limits, LC_EINVAL otherwise.
 * Unknown attributes are ignored; transport attributes are resolved (section over
 * session) before returning. Any thread. */
int lc_sdp_parse(const char *text, size_t len, lc_sdp_offer **out, char **why);
/* Frees an offer; NULL is fine. */
void lc_sdp_offer_free(lc_sdp_offer *offer);

/* Parses six hex digits of a profile-level-id; 0 or LC_EINVAL. */
int lc_sdp_parse_profile_level_id(const char *s, size_t len, uint32_t *out);
/* The profile family of a profile-level-id (level ignored). */
lc_h264_profile lc_sdp_h264_profile(uint32_t profile_level_id);
/* True when both name the same known profile family. */
bool lc_sdp_h264_same_profile(uint32_t a, uint32_t b);

typedef enum {
  LC_SDP_ROLE_WHEP_VIEWER, /* we send: a=sendonly, ssrc/msid of our tracks */
  LC_SDP_ROLE_WHIP_INGEST, /* we receive: a=recvonly */
} lc_sdp_role;

/* What the server puts in its answer. Strings are borrowed for the call. */
typedef struct {
  lc_sdp_role role;
  const char *ice_ufrag;          /* ours, 4-256 ice-chars */
  const char *ice_pwd;            /* ours, 22-256 ice-chars */
  const char *fingerprint_sha256; /* ours, "AB:CD:..." (32 bytes) */
  const char *ip;                 /* host candidate address, IPv4 or IPv6 literal */
  uint16_t port;                  /* host candidate port (the shared media port) */
  uint64_t session_id;            /* o= session id */
  uint32_t h264_profile_level_id; /* our stream's profile (preferred when offered), 0 = none */
  bool want_audio;                /* accept an Opus m=audio when offered */
  /* sendonly (WHEP) only: */
  uint32_t video_ssrc, audio_ssrc;
  const char *cname;      /* NULL = "livecart" */
  const char *msid_stream; /* NULL = "livecart" */
} lc_sdp_answer_params;

/* What the answer accepted, for the transport. */
typedef struct {
  int video_index;        /* index of the accepted m=video in offer->media, -1 */
  int audio_index;        /* index of the accepted m=audio, -1 */
  uint8_t video_pt, audio_pt;
  uint8_t video_rtx_pt;   /* 0: none (rtx is not answered) */
  uint32_t h264_profile_level_id; /* of the chosen PT (0 when the offer gave none) */
  unsigned video_fb, audio_fb;    /* LC_SDP_FB_* answered */
  uint8_t twcc_ext_id;    /* transport-cc extmap id answered, 0 = none */
  const char *remote_ufrag, *remote_pwd, *remote_fingerprint_sha256; /* borrowed from the offer */
  uint32_t remote_video_ssrc, remote_audio_ssrc; /* WHIP: first a=ssrc of each, 0 if none */
} lc_sdp_answer_info;

/* Builds the answer to offer for params: one accepted m=video (the first with an H.264
 * packetization-mode=1 format, preferring params' profile family), one m=audio with
 * Opus 48000/2 when want_audio, every other section rejected (port 0); a=ice-lite,
 * BUNDLE of the accepted mids, rtcp-mux, setup:passive, our fingerprint, one host
 * candidate. Returns 0 and *answer (transfer full, g_free) and *info (may be NULL), or
 * LC_EINVAL with *why (transfer full, g_free) naming what the offer lacks, e.g.
 * "no H.264 with packetization-mode=1 in m=video", "no a=fingerprint", or LC_EINVAL
 * for bad params. Any thread. */
int lc_sdp_build_answer(const lc_sdp_offer *offer, const lc_sdp_answer_params *params, char **answer,
                        lc_sdp_answer_info *info, char **why);

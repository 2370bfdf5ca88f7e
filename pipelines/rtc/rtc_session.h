/* A WebRTC session of lc_rtc (WHEP viewer or WHIP publisher) and the types the registry and the
 * workers share. Internal to lc_rtc: lc__ names.
 *
 * Ownership of a session:
 *  - the registry (rtc_registry.h: by ufrag, by resource id, under its lock, "reg lock" below)
 *    holds one reference from the offer until the session ends;
 *  - the worker that adopted it (first valid STUN check on its socket, claimed under the reg
 *    lock, once) holds one more and is the only thread touching the fields marked "worker";
 *  - it ends on that worker (delete flag, consent timeout, DTLS failure, the peer's BYE), or on
 *    the main thread / worker 0's reaper when no worker ever adopted it.
 * Fields marked "immutable" are set by the offer (main thread) before the session is registered. */
#pragma once
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "media/hub.h"
#include "rtc/dtls_srtp.h"
#include "rtc/rtc_track.h"

typedef struct lc__rtc_worker lc__rtc_worker;
typedef struct lc__rtc_wsub lc__rtc_wsub;
typedef struct lc__rtc_session lc__rtc_session;

typedef enum { LC__RTC_WHEP = 0, LC__RTC_WHIP = 1 } lc__rtc_kind;
typedef enum {
  LC__RTC_ICE = 0, /* waiting for the first valid check */
  LC__RTC_DTLS,    /* checked; DTLS handshake running */
  LC__RTC_MEDIA,   /* SRTP keys in place */
} lc__rtc_state;

#define LC__RTC_MAX_TUPLES 4

/* One outgoing track of a viewer (video or audio). Worker fields. */
typedef struct {
  lc__rtc_session *s;
  lc_media_kind kind;
  lc__rtc_wsub *cur;            /* rendition being sent, NULL until the first keyframe / packet */
  lc__rtc_wsub *pending;        /* switch target (waits for its keyframe), or NULL */
  int cur_index, pending_index; /* video rung index in the room, -1 */
  int64_t pending_since_us;
  bool stale_key_skipped;       /* the switch target's one stale keyframe was passed over */
  lc__rtc_track map;
  int64_t last_sr_us;
} lc__rtc_vtrack;

struct lc__rtc_session {
  gint refs;
  lc__rtc_kind kind;
  char id[33];    /* resource id (32 hex) */
  char ufrag[17]; /* ours */
  char pwd[33];   /* ours */
  char *room;
  char *remote_fp;      /* "sha-256 AB:..." */
  lc_media_room *media; /* ref */
  int64_t created_us;

  /* negotiated (immutable after the offer) */
  uint8_t video_pt, audio_pt;
  bool has_video, has_audio;
  uint8_t twcc_id;
  unsigned video_fb, audio_fb;
  uint32_t video_ssrc, audio_ssrc;               /* ours (WHEP: what we send; WHIP: RTCP sender) */
  uint32_t remote_video_ssrc, remote_audio_ssrc; /* the peer's, from the offer (0: unknown) */
  lc_rendition *whip_video, *whip_audio;         /* WHIP: where its packets go (refs) */

  /* cross-thread */
  int owner;              /* worker index, -1 none; reg lock */
  bool in_registry;       /* reg lock */
  gint closing;           /* atomic: delete asked */
  gint pli_wanted;        /* atomic: WHIP keyframe asked by the rendition */
  gint pin_changed;       /* atomic: pin field changed */
  gint ended;             /* atomic: torn down by its worker */
  char *pin;              /* rung name or NULL; reg lock */
  gint64 last_consent_us; /* __atomic_load/store_n */

  lc__rtc_worker *owner_w; /* reg lock; set with owner, never changes after (read by the WHIP
                            * keyframe fn and by workers handing datagrams over) */

  /* worker */
  lc__rtc_state state;
  struct sockaddr_storage addr; /* nominated 5-tuple's remote address */
  socklen_t addr_len;
  bool has_addr;
  struct sockaddr_storage tuples[LC__RTC_MAX_TUPLES]; /* keys in the worker's tuple map */
  socklen_t tuple_lens[LC__RTC_MAX_TUPLES];
  unsigned n_tuples;
  lc_dtls *dtls;
  bool dtls_full; /* dtls not trimmed yet (counted in dtls_held) */
  lc_srtp *srtp;
  lc__rtc_vtrack video, audio;
  lc__rtc_bwe *bwe;   /* WHEP viewers */
  char *pin_w;        /* worker's copy of pin, refreshed when pin_changed */
  char rung_name[16]; /* reg lock: video rung counted in the stats, "" none */
  int64_t last_tick_us, last_adapt_us, last_rr_us, connected_us;
  bool whip_kf_seen; /* WHIP: a keyframe start was seen, at whip_kf_ts */
  uint32_t whip_kf_ts;
};

/* Per-worker subscription to one rendition: one sink call per packet per worker, the worker
 * then serves all its viewers of that rendition. Worker fields except those noted. */
struct lc__rtc_wsub {
  lc__rtc_worker *w; /* immutable */
  lc_rendition *r;   /* ref, immutable */
  unsigned sub_id;
  lc_rendition_info info;
  GPtrArray *tracks; /* lc__rtc_vtrack * with cur or pending == this */
};

/* What the workers are told at creation (copied; immutable). */
typedef struct {
  unsigned consent_timeout_ms;
  unsigned queue_packets;
} lc__rtc_params;

/* Counters updated by workers and the registry (atomics), read into lc_rtc_stats. Owned by
 * lc_rtc, borrowed by the workers. */
typedef struct {
  guint64 packets_sent, bytes_sent, retransmissions, nack_misses, keyframe_requests, plis_received,
      queue_drops, send_drops, consent_timeouts, dtls_failures, packets_received, rung_switches, handoffs;
  guint64 dtls_held; /* gauge: sessions whose lc_dtls is not trimmed yet */
} lc__rtc_counters;

#define LC__RTC_ADD(field, n) __atomic_fetch_add(&(field), (guint64)(n), __ATOMIC_RELAXED)

/* A new session of kind for room (one ref, the caller's): random resource id, ufrag and pwd;
 * the rest zero, owner -1. Main thread. */
lc__rtc_session *lc__rtc_session_new(lc__rtc_kind kind, const char *room);
/* Any thread. unref frees at zero (its SRTP, DTLS, estimate, renditions and room refs). */
lc__rtc_session *lc__rtc_session_ref(lc__rtc_session *s);
void lc__rtc_session_unref(lc__rtc_session *s);

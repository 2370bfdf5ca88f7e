/* Internals of lc_rtc shared by rtc.c (the facade, main thread) and rtc_worker.c (the worker
 * threads). Not a public API: lc__ names.
 *
 * Ownership of a session:
 *  - the registry (lc_rtc: by ufrag and by resource id, under rtc->lock) holds one reference
 *    from the offer until the session ends;
 *  - the worker that adopted it (first valid STUN check on its socket, under rtc->lock) holds
 *    one more and is the only thread touching the fields marked "worker" below;
 *  - it ends on that worker (delete flag, consent timeout, DTLS failure), or on the main thread /
 *    worker 0's reaper when no worker ever adopted it. */
#pragma once
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rtc/dtls_srtp.h"
#include "media/hub.h"
#include "rtc/rtc.h"
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
  lc__rtc_track map;
  int64_t last_sr_us;
} lc__rtc_vtrack;

struct lc__rtc_session {
  gint refs;
  lc_rtc *rtc;
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
  int owner;              /* worker index, -1 none; rtc->lock */
  bool in_registry;       /* rtc->lock */
  gint closing;           /* atomic: delete asked */
  gint pli_wanted;        /* atomic: WHIP keyframe asked by the rendition */
  gint pin_changed;       /* atomic: pin field changed */
  gint ended;             /* atomic: torn down by its worker */
  char *pin;              /* rung name or NULL; rtc->lock */
  gint64 last_consent_us; /* __atomic_load/store_n */

  lc__rtc_worker *owner_w; /* rtc->lock; set with owner, never changes after (read by the WHIP
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
  char rung_name[16]; /* rtc->lock: video rung counted in the stats, "" none */
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

/* rtc fields the workers read: shared, set before the workers start. */
typedef struct {
  unsigned consent_timeout_ms;
  unsigned queue_packets;
} lc__rtc_params;

/* Counters updated by workers (atomics), summed into lc_rtc_stats. */
typedef struct {
  guint64 packets_sent, bytes_sent, retransmissions, nack_misses, keyframe_requests, plis_received, queue_drops,
      send_drops, consent_timeouts, dtls_failures, packets_received, rung_switches, handoffs;
  guint64 dtls_held; /* gauge: sessions whose lc_dtls is not trimmed yet */
} lc__rtc_counters;

#define LC__RTC_ADD(field, n) __atomic_fetch_add(&(field), (guint64)(n), __ATOMIC_RELAXED)

/* ---- rtc.c, called by workers ---- */
lc__rtc_session *lc__rtc_session_ref(lc__rtc_session *s);
void lc__rtc_session_unref(lc__rtc_session *s);
/* The registered, not closing session with our ufrag: a new ref, or NULL. Worker thread. */
lc__rtc_session *lc__rtc_lookup(lc_rtc *rtc, const char *ufrag, size_t ufrag_len);
/* After a check passed MESSAGE-INTEGRITY: makes worker index the owner if the session has none
 * (and is registered and not closing). Returns the owner (-1 if it could not be claimed). */
int lc__rtc_claim(lc_rtc *rtc, lc__rtc_session *s, int index);
/* Removes the session from the registry (its ufrag and id no longer resolve); if reason is
 * non-NULL and the session was still registered, reports it to the closed callback. Any thread. */
void lc__rtc_unregister(lc_rtc *rtc, lc__rtc_session *s, const char *reason);
/* Rung statistics: the session's counted rung becomes name ("" = none). Any thread. */
void lc__rtc_count_rung(lc_rtc *rtc, lc__rtc_session *s, const char *name);
void lc__rtc_count_connected(lc_rtc *rtc, lc__rtc_kind kind, int delta);
/* A WHIP session went live / ended: calls the publish callback (lc_rtc_set_publish_notify).
 * The session's worker thread. */
void lc__rtc_report_publish(lc_rtc *rtc, const lc__rtc_session *s, bool live, const char *reason);
/* Worker 0: ends sessions nobody adopted within the consent timeout. */
void lc__rtc_reap_unowned(lc_rtc *rtc, int64_t now_us);
/* The session's pin (copy, g_free) or NULL. */
char *lc__rtc_get_pin(lc_rtc *rtc, lc__rtc_session *s);
lc__rtc_counters *lc__rtc_counters_of(lc_rtc *rtc);
const lc__rtc_params *lc__rtc_params_of(lc_rtc *rtc);
lc_dtls_cert *lc__rtc_cert(lc_rtc *rtc);

/* ---- rtc_worker.c ---- */
/* Creates worker index with its socket bound to addr (port 0: the kernel picks; the others then
 * use the port worker 0 got). NULL + *err. Main thread. */
lc__rtc_worker *lc__rtc_worker_new(lc_rtc *rtc, int index, const struct sockaddr *addr, socklen_t addr_len,
                                   char **err);
int lc__rtc_worker_port(lc__rtc_worker *w);
void lc__rtc_worker_start(lc__rtc_worker *w);
/* Stops and joins the thread (its sessions stay until lc__rtc_worker_free). Main thread. */
void lc__rtc_worker_stop(lc__rtc_worker *w);
/* Stops and joins the thread, ends every session it owns, frees it. Main thread. */
void lc__rtc_worker_free(lc__rtc_worker *w);
/* Wakes the worker (a delete or pin to apply). Any thread. */
void lc__rtc_worker_wake(lc__rtc_worker *w);
unsigned lc__rtc_worker_n_sessions(lc__rtc_worker *w);
/* CPU time the worker thread used (µs, as of its last tick, <= 20 ms old). Any thread. */
int64_t lc__rtc_worker_cpu_us(lc__rtc_worker *w);
/* Frees a session's memory that no worker owns (never adopted). */
void lc__rtc_session_free_unowned(lc__rtc_session *s);

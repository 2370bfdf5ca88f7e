/* The WebRTC media core: ICE-lite + DTLS-SRTP on one UDP port for all peers, fan-out of the
 * room's renditions to WHEP viewers, WHIP ingest into a room's "source"/"opus" renditions.
 *
 * Threads: lc_rtc_new, the offer functions, lc_rtc_delete, lc_rtc_pin and lc_rtc_free run on
 * the main thread (signaling); the stats may be read from any thread; the publish and closed
 * callbacks run on a worker thread.
 * Inside, N worker threads each own a socket on the shared port (SO_REUSEPORT) and the peers
 * whose first connectivity check reached that socket (see rtc_worker.c for why that is enough
 * to keep a peer's packets on one thread). Media packets reach the workers through bounded
 * queues: a full queue drops and counts, a producer never blocks. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/hub.h"

typedef struct {
  char *bind;                  /* local address, IPv4 or IPv6 literal ("127.0.0.1", "0.0.0.0") */
  int port;                    /* UDP port shared by all peers; 0 = ephemeral (tests) */
  unsigned workers;            /* worker threads; 0 = number of cores */
  char *public_ip;             /* address in the answer's host candidate; NULL/"" = bind (which
                                  must then not be a wildcard) */
  char *cert_file, *key_file;  /* PEM; NULL/"" = generate an ECDSA P-256 certificate */
  unsigned queue_packets;      /* per-worker media queue (packets); 0 = 4096 */
  unsigned consent_timeout_ms; /* no valid STUN check for this long -> session torn down; 0 = 30000 */
  unsigned max_sessions;       /* 0 = 10000 */
} lc_rtc_config;

typedef struct lc_rtc lc_rtc;

/* Binds the port, starts the workers. hub is borrowed and must outlive rtc.
 * transfer full; NULL + *err (g_free) on failure. Main thread. */
lc_rtc *lc_rtc_new(const lc_rtc_config *cfg, lc_media_hub *hub, char **err);
/* Stops the workers and frees every session (their subscriptions are dropped, WHIP renditions
 * set not live). NULL is fine. Main thread. */
void lc_rtc_free(lc_rtc *rtc);

/* The UDP port actually bound (useful with port 0). Any thread. */
int lc_rtc_port(lc_rtc *rtc);

/* WHEP: a viewer's SDP offer (borrowed, len bytes, need not be NUL-terminated) for room.
 * Returns 0 with *answer and *resource_id (transfer full, g_free), or
 *   LC_ENOENT  the room has no video (*err says so),
 *   LC_EINVAL  the offer is unusable (*err names what is missing, for a 4xx body),
 *   LC_ELIMIT  max_sessions reached.
 * The session lives until lc_rtc_delete, consent timeout, or a DTLS failure. Main thread. */
int lc_rtc_whep_offer(lc_rtc *rtc, const char *room, const char *offer, size_t len, char **answer,
                      char **resource_id, char **err);
/* WHIP: the creator's offer (H.264 + Opus). Once connected, its packets are pushed into the
 * renditions "source" (video) and "opus" (audio) of lc_media_hub_open(hub, room), created if
 * absent and marked live; a keyframe request on "source" sends a PLI to the publisher.
 * Same returns as WHEP, plus LC_EBUSY when the room already has a WHIP publisher. Main thread. */
int lc_rtc_whip_offer(lc_rtc *rtc, const char *room, const char *offer, size_t len, char **answer,
                      char **resource_id, char **err);
/* Ends a session (WHEP/WHIP DELETE). 0 or LC_ENOENT. Memory is freed by the owning worker
 * within ~50 ms. Main thread. */
int lc_rtc_delete(lc_rtc *rtc, const char *resource_id);
/* Pins a viewer to a rung by name ("720p"); NULL = automatic (bandwidth estimate).
 * 0, LC_ENOENT (no such session), LC_EINVAL (not a viewer, or the room has no such rung).
 * The switch happens at the rung's next keyframe (requested). Main thread. */
int lc_rtc_pin(lc_rtc *rtc, const char *resource_id, const char *rung);

#define LC_RTC_STATS_WORKERS 64 /* = the most workers lc_rtc_new starts */
#define LC_RTC_STATS_RUNGS 16   /* rung names counted (a ladder has a handful) */

/* Viewers currently watching a rung of that name, in any room. */
typedef struct {
  char name[16];
  unsigned viewers;
} lc_rtc_rung_count;

/* Totals since start (counters) and current values (gauges). Plain data: the caller serialises
 * it (app_media: metrics and the media.status "rtc" object). */
typedef struct {
  unsigned sessions;     /* gauge: all sessions (any state) */
  unsigned viewers;      /* gauge: WHEP sessions with DTLS done */
  unsigned publishers;   /* gauge: WHIP sessions with DTLS done */
  uint64_t packets_sent; /* RTP/RTCP datagrams sent to viewers (retransmissions included) */
  uint64_t bytes_sent;
  uint64_t retransmissions;   /* packets resent for NACKs */
  uint64_t nack_misses;       /* NACKed packets no longer cached */
  uint64_t keyframe_requests; /* forwarded to a rendition (PLI/FIR, joins, rung switches) */
  uint64_t plis_received;     /* PLI and FIR packets received from viewers (forwarded or throttled) */
  uint64_t queue_drops;       /* media packets dropped because a worker queue was full */
  uint64_t send_drops;        /* datagrams the kernel refused (socket buffer full) */
  uint64_t consent_timeouts;  /* sessions torn down for silence */
  uint64_t dtls_failures;
  uint64_t packets_received; /* datagrams received on the media port */
  uint64_t rung_switches;
  uint64_t handoffs;      /* datagrams passed to the worker owning their session */
  uint64_t worker_cpu_us; /* CPU time of all worker threads (for CPU per Gbit/s) */
  unsigned dtls_held;     /* gauge: sessions still holding OpenSSL's DTLS state (~40 KB each): handshaking,
                             or connected but the peer has not yet proven its keys with an SRTP/SRTCP
                             packet (then it is trimmed, see lc_dtls_trim) */
  unsigned n_rungs; /* rungs[0..n_rungs): viewers per rung name (names beyond LC_RTC_STATS_RUNGS are
                       left out) */
  lc_rtc_rung_count rungs[LC_RTC_STATS_RUNGS];
  unsigned n_workers; /* per worker thread: */
  unsigned worker_sessions[LC_RTC_STATS_WORKERS]; /* sessions it owns */
  uint64_t worker_cpu_each_us[LC_RTC_STATS_WORKERS]; /* its CPU time (as of its last tick, <= 20 ms old) */
} lc_rtc_stats;

/* Fills *out. Any thread. */
void lc_rtc_get_stats(lc_rtc *rtc, lc_rtc_stats *out);

/* WHIP publisher state as it happens: live = true once its DTLS is done (its packets flow into
 * "source"/"opus"), then live = false once when its session ends, whatever ended it (reason:
 * "consent timeout", "RTCP BYE from the peer", "DTLS closed by the peer", NULL = deleted or
 * shutdown). peer = "ip:port" of its media. Strings borrowed for the call. Called on a worker
 * thread with no lock held: must not block or call into rtc (hand it to the main loop). */
typedef void (*lc_rtc_publish_fn)(const char *room, const char *resource_id, bool live, const char *reason,
                                  const char *peer, gpointer user);
/* Sets the publish callback. Main thread, before any offer. */
void lc_rtc_set_publish_notify(lc_rtc *rtc, lc_rtc_publish_fn fn, gpointer user);
/* A session the server ended by itself (consent timeout, DTLS failure, ICE never completed, the
 * peer's RTCP BYE or DTLS close_notify): resource_id and reason borrowed for the call. Sessions
 * ended by lc_rtc_delete or lc_rtc_free are not reported. Called on a worker thread with no lock
 * held: must not block or call into rtc. */
typedef void (*lc_rtc_closed_fn)(const char *resource_id, const char *reason, gpointer user);
/* Sets the closed callback (NULL: none). Main thread, before any offer. */
void lc_rtc_set_closed_notify(lc_rtc *rtc, lc_rtc_closed_fn fn, gpointer user);

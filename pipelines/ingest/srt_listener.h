/* SRT publish listener (libsrt), one UDP port for every creator.
 *
 * Why libsrt and not GStreamer's srtsrc: srtsrc (1.22) in listener mode serves one caller per
 * element and decides nothing per caller; we need several creators on one port at once, each
 * authenticated by its streamid before the connection is accepted (so a wrong key is refused
 * in the SRT handshake with a reject code the caller shows, instead of a connection that
 * silently dies), per-caller limits, and the MPEG-TS bytes handed to the room's ladder. libsrt
 * gives exactly that: srt_listen_callback() sees the streamid of every caller before it is
 * accepted, srt_epoll multiplexes every caller on one thread, and the ladder's TS front-end
 * (appsrc + tsdemux) parses the payload, so no GStreamer element is needed at this stage.
 *
 * streamid: "#!::r=<room>,k=<key>" (SRT access-control syntax; m=publish optional) or the RTMP
 * form "<room>?key=<key>" (stream_key.h).
 *
 * Threads:
 *  - lc_srt_listener_new / free / close_conn: main thread (the thread-default GMainContext at
 *    new()).
 *  - One listener thread ("lc-srt") runs srt_epoll: accepts, reads, idle timeouts.
 *  - The `data` callback runs on the listener thread (one caller at a time, never concurrently).
 *  - `auth`, `started` and `ended` run on the main thread. auth is asked synchronously from
 *    libsrt's handshake thread (the listen callback) through the main loop, waiting at most
 *    auth_timeout_ms (default 2500): a main loop that does not answer in time (or a stopping
 *    listener) rejects the caller with SRT_REJX_OVERLOAD. This keeps one auth function, on the
 *    main thread, for RTMP and SRT, with no key snapshot that could go stale. 2500 ms stays
 *    inside a caller's default 3 s connect timeout: with 1000, a main loop busy starting another
 *    room's ladder (sanitizer build, full suite) rejected ffmpeg, which gives up at the first
 *    rejection. The wait holds libsrt's receive thread of this port (other callers' packets
 *    queue meanwhile): it only lasts while the main loop is stalled anyway.
 *  - For each accepted caller: started, then (zero or more data calls and) exactly one ended,
 *    the last one at the latest inside lc_srt_listener_free. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *bind;           /* NULL: "0.0.0.0" */
  int port;                   /* 0 = any free port (lc_srt_listener_port) */
  int latency_ms;             /* SRTO_LATENCY (default 120) */
  unsigned max_connections;   /* concurrent callers (default 16); more are rejected (overload) */
  unsigned idle_timeout_ms;   /* no payload for this long -> closed (default 10000) */
  unsigned auth_timeout_ms;   /* wait for the main thread's auth answer (default 2500) */
} lc_srt_listener_config;

typedef struct lc_srt_listener lc_srt_listener;

typedef struct {
  /* Main thread. Returns 0 (accept), LC_ENOENT (reject: not found), LC_EPERM (unauthorized),
   * LC_ESTATE (forbidden: room ended), LC_EBUSY / LC_EEXIST (conflict: room already has a
   * publisher), LC_ELIMIT (overload). Strings borrowed. */
  int (*auth)(const char *room, const char *key, const char *peer, gpointer user);
  /* Main thread: caller `id` (> 0) connected and publishes into room. */
  void (*started)(unsigned id, const char *room, const char *peer, gpointer user);
  /* Listener thread: MPEG-TS payload (borrowed; one SRT message, <= 1456 bytes). */
  void (*data)(unsigned id, const uint8_t *ts, size_t len, gpointer user);
  /* Main thread: caller `id` is gone (reason borrowed). */
  void (*ended)(unsigned id, const char *room, const char *reason, gpointer user);
} lc_srt_listener_callbacks;

/* Binds and starts the thread. cfg/cb copied. NULL + *err (transfer full). Main thread. */
lc_srt_listener *lc_srt_listener_new(const lc_srt_listener_config *cfg, const lc_srt_listener_callbacks *cb,
                                     gpointer user, char **err);
/* Stops the thread, closes every caller (ended runs for each started one), frees. NULL is
 * fine. Main thread. */
void lc_srt_listener_free(lc_srt_listener *l);
/* The bound UDP port. Any thread. */
int lc_srt_listener_port(lc_srt_listener *l);
/* Asks the listener thread to close caller `id` (reason copied); `ended` follows. Main thread. */
void lc_srt_listener_close_conn(lc_srt_listener *l, unsigned id, const char *reason);

typedef struct {
  unsigned connections;
  uint64_t accepted, rejected, bytes_in;
} lc_srt_listener_stats;
/* Counters. Any thread. */
void lc_srt_listener_get_stats(lc_srt_listener *l, lc_srt_listener_stats *out);

/* Origin -> edge media relay: a node without a room's publisher (an edge) pulls the room's
 * renditions from the node that has it (its upstream: the origin, or another edge) and puts
 * them into its own media hub, where its WebRTC viewers take them like local ones.
 *
 * One SRT connection per (edge, room): the edge calls, the upstream listens. SRT gives ARQ
 * (losses are resent, no gap reaches the edge's viewers), AES (key derived from the shared
 * secret) and a handshake that carries the signed request (relay_wire.h). TSBPD is off: a
 * packet is delivered the moment it and the ones before it are in, so a hop adds network time
 * only, not a fixed latency window.
 *
 * Edge side (a "pull"): created on demand (lc_relay_want, or an edge of its own asking this node
 * for a room it does not hold); asks for the renditions that have subscribers here (viewers of
 * this node, or edges served by it), plus what a keyframe request names; relays keyframe requests
 * upstream; reconnects with backoff (first retry after 100 ms, at most 1 s apart) keeping the
 * renditions (same SSRCs; the upstream's numbering continues, the packets a new connection
 * replays from the keyframe are skipped up to the last one pushed); closed (and its
 * hub room with it) after idle_ms without a subscriber, or when the upstream ends the room.
 * Serving side (a "feed"): one per connected edge; sends the room's rendition list on connect
 * and on change, the packets of the renditions the edge subscribed (starting from the cached
 * keyframe, ages carried), and answers keyframe requests through lc_rendition_request_keyframe
 * (throttled and coalesced there with the local viewers' requests).
 *
 * Threads: one relay thread ("lc-relay") owns every SRT socket, pull and feed. Packets to an edge
 * are sent on the producer's thread (SRT's send is thread-safe; a full send buffer drops and
 * counts). lc_relay_new/free/want/reset run on the main thread; the ready callbacks are called
 * there; stats from any thread. */
#pragma once
#include "media/hub.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  const char *node_id;     /* this node's id in requests and logs ([A-Za-z0-9._:-], 1..64) */
  const char *secret;      /* shared by the nodes (at least 16 bytes): signs requests, keys AES */
  bool serve;              /* listen for edges */
  const char *bind;        /* listen address (IP literal) */
  int port;                /* listen port (UDP); 0 = ephemeral */
  const char *origin;      /* upstream "host:port" (IP literal or name); NULL/"" = pull nothing */
  unsigned idle_ms;        /* a pull without subscribers is closed this long after its renditions'
                              3 s hold ran out (so: idle_ms + 3 s after the last viewer); 0 = 10000 */
  unsigned connect_timeout_ms; /* how long lc_relay_want waits for the room's video; 0 = 5000 */
  unsigned max_feeds;      /* edges served at once; 0 = 256 */
  unsigned cache_ms;       /* history of pulled renditions for NACKs; 0 = 2000 */
  unsigned keyframe_throttle_ms; /* pulled renditions' keyframe throttle; 0 = hub default */
} lc_relay_config;

typedef struct lc_relay lc_relay;

/* Starts the relay thread (and the listener when serving). hub borrowed, outlives the relay.
 * NULL + *err (transfer full) when the config is invalid or the port cannot be bound. */
lc_relay *lc_relay_new(const lc_relay_config *cfg, lc_media_hub *hub, char **err);
/* Closes every connection (edges are told the room is gone only by the disconnect: they retry),
 * joins the thread, frees. Pulled rooms are closed in the hub. NULL is fine. */
void lc_relay_free(lc_relay *r);
/* The listen port actually bound (0 when not serving). */
int lc_relay_port(lc_relay *r);
/* Whether this node pulls rooms it does not hold (an origin is configured). */
bool lc_relay_has_upstream(lc_relay *r);

/* Called on the main thread once: status 0 = the room's video renditions are in the hub;
 * LC_ENOENT = the upstream does not have the room; LC_EPERM = the upstream refused this node
 * (bad secret); LC_ESTATE = refused as a loop; LC_ETIMEDOUT = nothing within
 * connect_timeout_ms; LC_ESHUTDOWN = the relay stops. why says it in words (borrowed). */
typedef void (*lc_relay_ready_fn)(const char *room, int status, const char *why, gpointer user);
/* The room's media is wanted here: starts pulling it if no pull runs. Returns 0 when the pull's
 * video is already in the hub (fn not called), LC_EAGAIN when fn will be called exactly once
 * (within connect_timeout_ms), LC_ESTATE without an upstream, LC_EINVAL for a bad room id. */
int lc_relay_want(lc_relay *r, const char *room, lc_relay_ready_fn fn, gpointer user);
/* True while a pull of the room exists. Any thread. */
bool lc_relay_pulling(lc_relay *r, const char *room);
/* Drops the room's connection now (a pull reconnects, a feed's edge reconnects): operations
 * and tests. 0 or LC_ENOENT. Main thread. */
int lc_relay_reset(lc_relay *r, const char *room);

#define LC_RELAY_STATS_MAX 64
typedef struct {
  char room[65];
  char peer[64];          /* "ip:port" of the other end */
  char node[65];          /* the other node's id (pull: the upstream's as configured) */
  bool connected;
  char rungs[16][16]; /* renditions subscribed */
  unsigned n_rungs;
  uint64_t packets, bytes;   /* media received (pull) or sent (feed) */
  uint64_t retransmitted;    /* pull: packets the link lost and SRT recovered; feed: packets resent */
  uint64_t drops;            /* feed: packets not sent (send buffer full); pull: unknown index */
  uint64_t reconnects;       /* pull: connections made after the first */
  double rtt_ms;
  char last_error[128];
  uint64_t dups;             /* pull: packets received twice (a reconnect's replayed GOP), skipped */
  uint64_t gaps;             /* pull: holes in the upstream's numbering (keyframe asked for) */
} lc_relay_link_stats;

typedef struct {
  unsigned n_pulls, n_feeds;
  lc_relay_link_stats pulls[LC_RELAY_STATS_MAX], feeds[LC_RELAY_STATS_MAX];
  uint64_t refused;          /* connection requests refused (bad signature, loop, unknown room, full) */
  uint64_t pulls_failed;     /* pulls that ended refused or unreachable */
  lc_relay_link_stats total_in, total_out; /* since start, links that closed included: pulls, feeds */
} lc_relay_stats;

/* Fills *out (as of the relay thread's last tick, <= 100 ms old). Any thread. */
void lc_relay_get_stats(lc_relay *r, lc_relay_stats *out);

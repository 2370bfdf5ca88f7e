/* HTTP server: libwebsockets on the GLib main loop (LWS_SERVER_OPTION_GLIB).
 *
 * Routes: GET /healthz, GET /metrics, GET /api/rooms, GET /api/rooms/{id} (the registry's
 * public room objects plus the live fields of the room_fields hook), POST
 * /api/dev/token (development sign-in, off by default), the room page at /r/{room}, HLS
 * playlists and segments from hls_root at /hls/ (docs/http.md), and static files from the
 * web root for everything else under "/". Errors are JSON:
 * {"error":{"code":"not_found","message":"..."}} with the matching 4xx/5xx status.
 * Main thread only. */
#pragma once
#include <glib.h>
#include <jansson.h>

typedef struct lc_http lc_http;
typedef struct lc_metrics lc_metrics;
typedef struct lc_rooms lc_rooms;
typedef struct lc_ws lc_ws;
typedef struct lc_ipguard lc_ipguard;
/* A request whose answer comes later (after a store commit). */
typedef struct lc_http_pending lc_http_pending;
/* A WHEP offer waiting for its room's media (see lc_http_rtc_ops.prepare). */
typedef struct lc_http_wait lc_http_wait;

/* WebRTC signaling hooks (WHEP playback, WHIP ingest; see http_rtc.c for the routes), main
 * thread. kind is "whep" or "whip". Each returns 0 or an LC_E* error with *why (transfer full,
 * may stay NULL): LC_EINVAL -> 400 bad_offer, LC_EPERM -> 401, LC_ENOENT -> 404,
 * LC_EEXIST/LC_ESTATE -> 409, LC_ELIMIT -> 503. */
typedef struct {
  /* SDP offer (len bytes, not NUL-terminated) -> *answer SDP and *resource id (transfer full).
   * bearer = the Authorization Bearer token (WHIP stream key) or NULL. */
  int (*offer)(const char *kind, const char *room, const char *bearer, const char *sdp, size_t len,
               char **answer, char **resource, char **why, gpointer user);
  /* DELETE of a session's resource. */
  int (*remove)(const char *kind, const char *room, const char *resource, gpointer user);
  /* Pins a viewer to a rung (NULL: automatic). */
  int (*layer)(const char *room, const char *resource, const char *rung, char **why, gpointer user);
  /* Optional, WHEP only: called once the offer's body is in, before `offer`. Return 0 to run the
   * offer now, or LC_EAGAIN after keeping `wait`: the room's media is being fetched (an edge
   * pulling it from its origin); call lc_http_wait_done(wait) when it is there or failed. The
   * connection is held at most 15 s (then 504 + {"error":{"code":"timeout",...}} and the wait is
   * orphaned: lc_http_wait_done then only frees it). Any other error is answered as the offer's
   * would be (LC_ENOENT -> 404 ...) and `wait` must not be kept. lc_http_wait_done may be called
   * from inside prepare (before it returns LC_EAGAIN): the offer then runs right after prepare
   * returns. The offer body waits in the server and reaches `offer` unchanged. */
  int (*prepare)(const char *kind, const char *room, lc_http_wait *wait, gpointer user);
} lc_http_rtc_ops;

typedef struct {
  const char *bind;         /* listen address, e.g. "127.0.0.1" */
  int port;
  const char *web_root;     /* folder served at "/" */
  size_t max_body;          /* largest accepted request body in bytes */
  size_t max_uri;           /* longest accepted request path + query */
  const char *cors_origin;  /* Access-Control-Allow-Origin value; "" for none */
  lc_metrics *metrics;      /* rendered at /metrics; also gets http_* counters */
  lc_rooms *rooms;          /* for /api/rooms */
  /* Adds fields to the /healthz object (status/version/uptime are always present). */
  void (*health)(json_t *obj, gpointer user);
  /* Sets the live fields of one room object of /api/rooms and /api/rooms/{id}: "stream"
   * ("live" | "reconnecting" | "offline"), "viewers" (integer) and "renditions" (array of
   * rung names). The object arrives with the defaults "offline", 0 and [] (also what is
   * answered without this hook); room_id and obj borrowed. */
  void (*room_fields)(const char *room_id, json_t *obj, gpointer user);
  gpointer user;
  /* Websocket show channel at GET /ws (optional, see ws.h). */
  lc_ws *ws;
  /* POST /api/payments/callback from the merchant's backend: the raw body must carry
   * header `X-Livecart-Signature: sha256=<hex HMAC-SHA256 of the body with
   * payment_secret>` and be JSON {"room","order_id","status":"paid"|"cancelled",
   * "payment_ref"?, "ts" (ms; within 5 minutes of server time)}. Bad signature: 401
   * unauthorized; stale ts: 401 stale; malformed: 400. A verified body goes to `payment`
   * (body borrowed), which answers later with lc_http_pending_reply. No secret or no
   * hook: the route answers 404. */
  const char *payment_secret;
  void (*payment)(const json_t *body, lc_http_pending *p, gpointer user);
  /* WHEP/WHIP at /whep/{room}, /whip/{room} (NULL: those routes answer 404). */
  const lc_http_rtc_ops *rtc;
  gpointer rtc_user;        /* passed to the rtc hooks */
  /* Development sign-in: POST /api/dev/token {"name"} mints a viewer token (HS256, 24 h)
   * with this secret (borrowed; the same as the show channel's). NULL or "": the route
   * answers 404. Set it only when [auth] dev_login is on: whoever can reach the port
   * can then sign in as anybody. */
  const char *dev_token_secret;
  /* Per-address limits (base/ipguard.h; borrowed, must outlive the server; NULL: none).
   * auth_guard counts failed credentials: a WHIP offer whose stream key is wrong or missing
   * (the offer hook returned LC_EPERM) and a payment callback with a bad signature; a locked-out
   * address gets 429 + Retry-After before anything is checked. session_guard counts WHEP and
   * WHIP offers; an address over its rate gets 429 + Retry-After before its offer is read. */
  lc_ipguard *auth_guard;
  lc_ipguard *session_guard;
  /* Folder served at /hls/ (NULL or "": the route answers 404): <hls_root>/<rest> for
   * /hls/<rest> when it is a .m3u8, .ts, .m4s, .mp4, .aac or .vtt file, never a file outside
   * the folder, with CORS "*" and byte ranges. It may be created after lc_http_new. */
  const char *hls_root;
  /* Folder of the recordings served at /rec/ (NULL or "": 404), with the same rules as /hls/:
   * <record_root>/<room>/<id>/index.m3u8 and its segments. */
  const char *record_root;
  /* GET /api/rooms/{id}/replay: the body for a known room (transfer full) and *status (200, or
   * 404 with an {"error"} body when it has no recording). NULL hook: the route answers 404. */
  json_t *(*replay)(const char *room_id, int *status, gpointer user);
} lc_http_options;

/* Answers a pending request (status and JSON body, transfer full) and frees p. If the
 * client has gone meanwhile, the answer is dropped. Must be called exactly once. */
void lc_http_pending_reply(lc_http_pending *p, int status, json_t *body);

/* The media the offer waited for is there, or will not come: the offer now runs (the offer hook
 * answers as usual, e.g. 404 when the room still has no video). If the client has gone meanwhile,
 * this only frees w. Call exactly once, on the main thread. */
void lc_http_wait_done(lc_http_wait *w);

/* Creates the lws context on `loop` and listens. On failure (port in use, bad
 * address) returns NULL and sets *err_msg (transfer full). */
lc_http *lc_http_new(const lc_http_options *opts, GMainLoop *loop, char **err_msg);
/* Number of open HTTP/websocket connections. */
unsigned lc_http_connections(lc_http *http);
/* Closes the listening socket and every connection, destroys the context. Pending answers and
 * offer waits still outstanding are orphaned: their lc_http_pending_reply / lc_http_wait_done
 * then only frees them. NULL ok. */
void lc_http_free(lc_http *http);

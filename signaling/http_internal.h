/* Shared-internal pieces of the HTTP server (not a public API).
 *
 * http.c is the HTTP side of the libwebsockets glue: connections, request parsing, writing
 * responses (the context, the vhost and the callback dispatch are lws_glue.c's, which also
 * serves ws.c's websocket protocol; http.c knows lws_glue.h only, not ws.c). http_api.c
 * holds the route handlers, static.c the file lookup under a root (the web root, the HLS root)
 * and http_hls.c the /hls/ handler; none of them touches libwebsockets, they fill an
 * lc__http_response.
 * Main thread only. */
#pragma once
#include "signaling/http.h"
#include "base/ipguard.h"

#include <stdbool.h>
#include <sys/types.h>

#define LC__HTTP_MAX_HEADERS 8

typedef struct lc_metric lc_metric;

typedef struct {
  const char *method; /* "GET", "HEAD", "POST", ... */
  bool head;          /* HEAD: send the headers of the GET answer, no body */
  const char *path;   /* decoded, starts with '/' */
  size_t path_len;
  const char *range;  /* the Range header (NUL-terminated, borrowed) or NULL: absent, too long or
                       * sent more than once (then it is ignored, RFC 9110 allows it) */
  bool if_range;      /* an If-Range header came: we send no validators, so it never matches and
                       * Range is ignored (RFC 9110 13.1.5) */
} lc__http_request;

typedef struct {
  int status;
  const char *content_type; /* static string */
  char *body;               /* owned (g_free), or NULL */
  size_t body_len;
  bool has_fd;              /* stream fd (owned) instead of body */
  int fd;
  gint64 file_size;         /* bytes of the file to send, from fd's current offset */
  lc_metric *bytes_counter; /* body bytes written are added here (borrowed; NULL: none) */
  bool close;               /* close the connection after the response */
  const char *hname[LC__HTTP_MAX_HEADERS]; /* extra headers (static names) */
  char *hvalue[LC__HTTP_MAX_HEADERS];      /* owned values */
  int n_headers;
} lc__http_response;

/* Frees what a response holds (body, file, header values) and zeroes it. */
void lc__http_response_clear(lc__http_response *res);

/* Server state shared with the route handlers (read-only for them). */
typedef struct {
  lc_http_options opts;  /* strings point into the copies below */
  char *web_root_real;   /* realpath of opts.web_root, or NULL when missing */
  char *hls_root_real;   /* realpath of opts.hls_root, or NULL when unset or missing at start
                          * (then resolved per request: the writer creates it later) */
  char *record_root_real; /* the same for opts.record_root */
  lc_metric *m_hls_requests, *m_hls_bytes; /* livecart_hls_*_total, or NULL without metrics */
  lc_metric *m_rec_requests, *m_rec_bytes; /* livecart_record_http_*_total (/rec/) */
  gint64 started_us;     /* monotonic time of lc_http_new */
} lc__http_env;

/* Adds an extra header (value copied). */
void lc__http_header(lc__http_response *res, const char *name, const char *value);
/* Sets a JSON body (takes ownership of obj, transfer full) and the status. */
void lc__http_json(lc__http_response *res, int status, json_t *obj);
/* Sets {"error":{"code","message"}} with the status. */
void lc__http_error(lc__http_response *res, int status, const char *code, const char *message);

/* Payment callback check (http_api.c): `signature` is the X-Livecart-Signature value
 * (NULL when absent), body/len the raw body (borrowed), peer the client's address (NULL
 * when unknown). Returns the parsed body (transfer full) when the HMAC, the JSON shape
 * and the timestamp are right; else NULL with the error in res (401 unauthorized / 401
 * stale / 400 bad_request; 429 while the peer is locked out by opts.auth_guard, which
 * counts every bad signature). */
json_t *lc__http_payment_check(const lc__http_env *env, const lc_ipaddr *peer, const char *signature,
                               const guint8 *body, size_t len, lc__http_response *res);
/* 429 too_many_requests with Retry-After (wait_us rounded up to whole seconds, at least 1)
 * and Cache-Control: no-store; message borrowed. http_api.c. */
void lc__http_throttled(lc__http_response *res, gint64 wait_us, const char *message);
/* True when peer is locked out by opts.auth_guard (too many failed credentials): res holds the
 * 429 and the refusal was logged (paced: the first, then a summary a minute). action names
 * the request for the log ("WHIP offer"). http_api.c. */
bool lc__http_auth_locked(const lc__http_env *env, const lc_ipaddr *peer, const char *action,
                          lc__http_response *res);
/* Counts a failed credential of peer in opts.auth_guard; logs once (WARN) when this one locks
 * the address out. what names the failure for that line. http_api.c. */
void lc__http_auth_failed(const lc__http_env *env, const lc_ipaddr *peer, const char *what);

/* Route handlers (http_api.c). */
void lc__http_healthz(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
void lc__http_metrics(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
void lc__http_rooms(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
void lc__http_room(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
void lc__http_api_unknown(const lc__http_env *env, const lc__http_request *req,
                          lc__http_response *res);
void lc__http_static(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
/* GET /hls/<rest> (http_hls.c): <opts.hls_root>/<rest> when its extension is .m3u8, .ts, .m4s,
 * .mp4, .aac or .vtt (the resolved file's too), with Cache-Control by type and byte ranges;
 * 404 not_found for everything else (no HLS root, a path lc__static_open refuses, another
 * extension, a directory). Counts opts.metrics' livecart_hls_requests_total and
 * livecart_hls_bytes_total. */
void lc__http_hls(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
/* GET /rec/<rest>: the same from opts.record_root (the recordings). */
void lc__http_rec(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
/* GET /r/{room}: the room page (web root's room.html); 404 with the same page when the
 * room id is malformed or unknown, so the browser still shows a readable answer. */
void lc__http_room_page(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
/* POST /api/dev/token {"name", "room"?}: development sign-in (opts.dev_token_secret). */
void lc__http_dev_token(const lc__http_env *env, const lc__http_request *req, const guint8 *body, size_t len,
                        lc__http_response *res);

/* reqline.c: checks the first line of a new connection (len bytes up to its '\n', a
 * '\r' may end it) before libwebsockets parses it. LC_EINVAL with *why (static) when
 * the request target (between the first two spaces) holds a NUL, a %00 or a '%' not
 * followed by two hex digits: lws 4.1 drops the connection without an answer on a
 * decoded NUL and answers a bad escape with an HTML 403, so those are refused here with
 * our JSON 400 instead. 0 otherwise, also for a line without that shape (lws' to judge).
 * Pure. */
int lc__http_check_request_line(const char *line, size_t len, const char **why);
/* reqline.c: false when the first len bytes a client sent cannot start an HTTP request
 * line (a method is 1-16 capitals, then a space): such a connection goes to lws at once
 * instead of waiting for a line end that may never come (a TLS hello). Pure. */
bool lc__http_may_be_request_line(const char *buf, size_t len);
/* static.c: checks a decoded request path (len bytes, NUL allowed inside) segment by
 * segment, without touching the disk. 0 when it may name a file; LC_EINVAL when it does
 * not start with '/', holds a NUL or a backslash, an empty segment ("//") or a "." / ".."
 * segment; LC_ENOENT for a segment starting with '.' (dotfiles are never served). lws
 * already resolves "." and ".." (plain or %2e-encoded) before we see a path, so those
 * refusals are the second line of defence. Pure. */
int lc__static_check_path(const char *path, size_t len);
/* static.c: opens the file for a request path below root (a realpath). Returns 0 and
 * an fd (transfer full), its size and MIME type; the errors of lc__static_check_path;
 * LC_ENOENT when missing, not a regular file, or resolving outside root through a
 * symlink. */
int lc__static_open(const char *root, const char *path, size_t path_len, int *fd, gint64 *size,
                    const char **mime);
/* MIME type for a file name (by extension); application/octet-stream when unknown. */
const char *lc__static_mime(const char *name);
/* static.c: fills res with an open file (fd transfer full, size bytes, mime static) answered
 * with `status`, plus Accept-Ranges: bytes. A 200 to a GET whose req->range is one satisfiable
 * byte range (and no If-Range) becomes 206 with Content-Range and the fd moved to the range's
 * first byte; an unsatisfiable one 416 range_not_satisfiable with Content-Range: bytes * /size
 * (the fd closed); anything else in Range is ignored (the whole file, 200). */
void lc__static_respond(const lc__http_request *req, int status, int fd, gint64 size, const char *mime,
                        lc__http_response *res);

/* ---- byte ranges (http_range.c, pure) ---- */
typedef enum {
  LC__HTTP_RANGE_NONE,          /* no usable single range: answer with the whole representation */
  LC__HTTP_RANGE_OK,            /* 206: bytes *first..*last, inclusive, 0 <= first <= last < size */
  LC__HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * /size */
} lc__http_range_kind;

/* A Range header value (len bytes, NUL allowed: it is malformed) against a representation of
 * size bytes (RFC 9110 14.1.2, 14.2). One range-spec "bytes=a-b", "bytes=a-" or "bytes=-n"
 * (unit case-insensitive, whitespace around list elements, empty elements skipped): OK with
 * the clipped range, or UNSATISFIABLE when a >= size or n == 0. NONE (the header is ignored,
 * as RFC 9110 allows) for anything else: another unit, b < a, bad digits, several ranges, a
 * suffix range of an empty representation, size < 0. Numbers past G_MAXINT64 saturate. Pure. */
lc__http_range_kind lc__http_range_parse(const char *value, size_t len, gint64 size, gint64 *first,
                                         gint64 *last);

/* ---- WHEP / WHIP (http_rtc.c) ---- */
enum { LC__HTTP_GET, LC__HTTP_POST, LC__HTTP_OPTIONS, LC__HTTP_PUT, LC__HTTP_PATCH, LC__HTTP_DELETE, LC__HTTP_OTHER };

typedef struct {
  int method;                 /* LC__HTTP_* */
  const char *path;           /* starts with /whep or /whip */
  size_t path_len;
  const char *content_type;   /* header values or NULL */
  const char *authorization;
  gint64 content_length;      /* 0 when absent */
  const lc_ipaddr *peer;      /* the client's address (per-address limits); NULL when unknown */
} lc__http_rtc_request;

/* True when path is under /whep or /whip; *kind = "whep" / "whip". */
bool lc__http_rtc_route(const char *path, size_t len, const char **kind);
/* Checks the request before its body: returns true when the body is to be collected and
 * passed to lc__http_rtc_body, else res holds the complete answer. */
bool lc__http_rtc_begin(const lc__http_env *env, const lc__http_rtc_request *rq, lc__http_response *res);
/* The body of a POST accepted by lc__http_rtc_begin is in: calls the media hooks, fills res.
 * A WHEP offer first goes to opts.rtc->prepare with `wait` (when both are set): if prepare keeps
 * it (LC_EAGAIN), res is left as it was and true returned; the caller holds the request and,
 * once lc_http_wait_done comes, calls this again with wait NULL to run the offer. False when res
 * holds the answer (and wait was not kept). */
bool lc__http_rtc_body(const lc__http_env *env, const lc__http_rtc_request *rq, const guint8 *body, size_t len,
                       lc_http_wait *wait, lc__http_response *res);
/* Longest hold of a WHEP offer waiting for its room's media, then 504 timeout (http.h). */
#define LC__HTTP_WAIT_TIMEOUT_S 15
/* The port the server listens on (for tests that started it on port 0). http.c. */
int lc__http_port(lc_http *http);

/* ---- the route table (http_router.c, pure) ---- */
typedef void (*lc__http_get_fn)(const lc__http_env *env, const lc__http_request *req, lc__http_response *res);
typedef void (*lc__http_post_fn)(const lc__http_env *env, const lc__http_request *req, const guint8 *body,
                                 size_t len, lc__http_response *res);

typedef enum {
  LC__HTTP_CORS_NONE,    /* no CORS headers */
  LC__HTTP_CORS_CONFIG,  /* Access-Control-Allow-Origin: opts.cors_origin (none when "") */
  LC__HTTP_CORS_ANY,     /* "*" whatever cors_origin says (public media for players and CDNs on
                          * any origin), Content-Length/Content-Range exposed, Range allowed */
} lc__http_cors;

typedef struct {
  const char *path;
  bool prefix;           /* matches path and everything below it */
  lc__http_cors cors;    /* which CORS headers the route's answers carry */
  lc__http_get_fn fn;    /* GET/HEAD handler; NULL for POST-only routes */
  lc__http_post_fn post; /* POST handler with the whole body; fn and post NULL: the payment callback */
} lc__http_route;

typedef enum {
  LC__HTTP_ROUTED_DONE,    /* res holds the whole answer (handler, 204, 400, 404, 405) */
  LC__HTTP_ROUTED_POST,    /* a POST to (*route)->post: the caller reads the body, then calls it */
  LC__HTTP_ROUTED_PAYMENT, /* a POST to the enabled payment callback: the caller checks and reads it */
} lc__http_routed;

/* The route of a decoded path (first match of the table), or NULL when none matches (the
 * path does not start with '/'). */
const lc__http_route *lc__http_find_route(const char *path, size_t len);
/* Routes one request (WHEP/WHIP excepted: lc__http_rtc_route comes first). method is an
 * LC__HTTP_* value, HEAD given as LC__HTTP_GET with req->head set (its answer is the GET's;
 * http.c drops the body). GET routes: OPTIONS -> 204 with Allow (and the CORS preflight
 * headers where the route has cors), methods other than GET/HEAD -> 405 with Allow "GET,
 * HEAD, OPTIONS", GET/HEAD -> the handler; CORS headers on every answer of a cors route.
 * POST routes: OPTIONS -> 204, others -> 405 with Allow "POST, OPTIONS"; the payment
 * callback answers 404 to everything while opts.payment or its secret are unset. No
 * route: 400. *route = the matched route (or NULL). */
lc__http_routed lc__http_dispatch_route(const lc__http_env *env, int method, const lc__http_request *req,
                                        lc__http_response *res, const lc__http_route **route);

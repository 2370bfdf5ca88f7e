/* HTTP server: libwebsockets on the GLib main loop.
 *
 * This file is the HTTP side of the lws glue: per-connection state, request checks (URI
 * length, body size, method), dispatch through a route table, and writing an
 * lc__http_response (memory body or file) back in LWS_CALLBACK_HTTP_WRITEABLE. The lws
 * context, vhost and protocol table are lws_glue.c's, which hands every plain HTTP
 * callback to on_lws here (the websocket protocol, ws.c, is the glue's business: this
 * file does not know it). The handlers live in http_api.c, the web-root lookup in
 * static.c.
 *
 * POST routes with a small JSON body (POST /api/dev/token) have a `post` handler in the
 * route table: the body (at most SMALL_BODY bytes) is collected and the handler answers
 * at once. Two answers come later, both through one `hold` (below) that keeps the connection
 * waiting: POST /api/payments/callback (the body is collected up to max_body, checked in
 * http_api.c and handed to the payment hook with an lc_http_pending until
 * lc_http_pending_reply) and a WHEP offer whose room's media is on its way (the prepare hook
 * keeps an lc_http_wait until lc_http_wait_done, at most LC__HTTP_WAIT_TIMEOUT_S, then 504). A
 * connection that closes meanwhile orphans its hold; the late answer then only frees it.
 * Main thread only (lws runs in the GLib main context of the loop given to lc_http_new). */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "signaling/lws_glue.h"
#include "base/errors.h"
#include "base/log.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Body bytes written per writeable callback, and lws' largest single send for HTTP. With
 * lws' default (tx_packet_size 0: one send is capped at its 4 KiB service buffer) every
 * 16 KiB write was cut into 4 KiB sends, the rest copied into lws' buffer and flushed over
 * further main-loop turns: 200 KB segments went out at 58-86 MB/s over loopback keep-alive.
 * 16 KiB sends: 127-454 MB/s; 64 KiB writes and sends: 337-1255 MB/s (one client, 2000
 * requests, 5 rounds alternated, release build on the busy 2-core machine; small playlists
 * did not change). Only a slow reader's unsent rest (at most one piece) stays in lws. */
#define CHUNK 65536
#define HEADER_SPACE 4096     /* response header buffer */
#define MAX_STATUS 600
#define PAYMENT_TIMEOUT_S 30  /* longest wait for the payment hook's answer */

struct lc_http {
  lc__http_env env;
  char *bind, *web_root, *cors, *hls_root, *record_root; /* owned copies of the option strings */
  GMainLoop *loop;              /* ref held */
  lc__lws *lws;                 /* the context and vhost (lws_glue.c) */
  unsigned connections;
  lc_metric *m_connections;
  lc_metric *m_requests[MAX_STATUS]; /* by status code, created on first use */
  GQueue prereads;              /* of preread: new connections whose first line is awaited */
};

typedef struct hold hold;

/* Per connection (lws allocates and zeroes it; it lives as long as the connection). */
typedef struct {
  lc__http_response res;
  bool pending;       /* res is ready but waits for the request body to end */
  bool sending;       /* headers are out, body being written */
  bool head;
  size_t off;         /* body bytes written so far */
  gint64 body_seen;   /* request body bytes received */
  bool counted;       /* this connection is in http->connections */
  bool collect;       /* keep the request body (payment callback, WHEP/WHIP offer) */
  bool collect_rtc;   /* ... and it is for http_rtc.c */
  const lc__http_route *collect_post; /* ... and it is for this route's post handler */
  GByteArray *body;   /* the collected body, at most max_body bytes */
  hold *held;         /* the answer comes later (payment hook, WHEP offer's media wait) */
  bool reply_ready;   /* res holds the held request's answer: send it when writeable */
} session;

/* A request held open until its answer can be given: the first member of lc_http_pending
 * (the payment hook's reply) and of lc_http_wait (a WHEP offer waiting for its room's media).
 * While the connection is open the session points at the hold and the hold at the session; a
 * connection that closes first (or a server freed first, which closes them all) orphans it,
 * and the late answer then only frees it. */
typedef enum { HOLD_PAYMENT, HOLD_MEDIA } hold_kind;

struct hold {
  hold_kind kind;     /* HOLD_MEDIA: this is the start of an lc_http_wait */
  struct lws *wsi;
  session *s;         /* NULL once orphaned */
};

struct lc_http_pending {
  hold h;
};

/* Largest body of a `post` route (small JSON requests). */
#define SMALL_BODY 4096

/* lws' method numbers are ours (LC__HTTP_*) up to DELETE; HEAD is mapped to GET. */
G_STATIC_ASSERT((int)LWSHUMETH_GET == LC__HTTP_GET && (int)LWSHUMETH_POST == LC__HTTP_POST &&
                (int)LWSHUMETH_OPTIONS == LC__HTTP_OPTIONS && (int)LWSHUMETH_PUT == LC__HTTP_PUT &&
                (int)LWSHUMETH_PATCH == LC__HTTP_PATCH && (int)LWSHUMETH_DELETE == LC__HTTP_DELETE);

/* ---- responses ---- */

void
lc__http_response_clear(lc__http_response *res)
{
  g_free(res->body);
  if (res->has_fd)
    close(res->fd);
  for (int i = 0; i < res->n_headers; i++)
    g_free(res->hvalue[i]);
  memset(res, 0, sizeof *res);
}

static void
session_reset(session *s)
{
  lc__http_response_clear(&s->res);
  s->pending = s->sending = s->head = false;
  s->off = 0;
  s->body_seen = 0;
  s->collect = s->collect_rtc = s->reply_ready = false;
  s->collect_post = NULL;
  g_clear_pointer(&s->body, g_byte_array_unref);
  if (s->held) {
    s->held->s = NULL; /* the late answer will just free it */
    s->held = NULL;
  }
}

static void
hold_start(hold *h, hold_kind kind, struct lws *wsi, session *s)
{
  h->kind = kind;
  h->wsi = wsi;
  h->s = s;
  s->held = h;
}

/* Ends the hold: its session, or NULL when the connection has gone (orphaned). */
static session *
hold_end(hold *h)
{
  session *s = h->s;
  if (s) {
    s->held = NULL;
    h->s = NULL;
  }
  return s;
}

/* s->res holds the answer of a request that was held: send it once the connection is
 * writeable. The answer may come from anywhere on the main thread, mostly outside lws'
 * service of this connection, where writing is not allowed: hence the writeable callback. */
static void
hold_answer(struct lws *wsi, session *s)
{
  s->reply_ready = true;
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
  lws_callback_on_writable(wsi);
}

static lc_http *
http_of(struct lws *wsi)
{
  return lc__lws_user(wsi);
}

static void
count_request(lc_http *http, int status)
{
  if (!http->env.opts.metrics || status < 100 || status >= MAX_STATUS)
    return;
  if (!http->m_requests[status]) {
    char labels[32];
    g_snprintf(labels, sizeof labels, "code=\"%d\"", status);
    http->m_requests[status] = lc_metrics_counter(http->env.opts.metrics, "livecart_http_requests_total",
                                                  labels, "HTTP requests answered, by status code");
  }
  lc_metric_add(http->m_requests[status], 1);
}

static int
add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
  char key[64];
  g_snprintf(key, sizeof key, "%s:", name);
  return lws_add_http_header_by_name(wsi, (const unsigned char *)key, (const unsigned char *)value,
                                     (int)strlen(value), p, end);
}

/* Writes the status line and headers of s->res, then asks for a writeable callback
 * for the body. Returns 0, or -1 to close the connection. */
static int
send_headers(struct lws *wsi, session *s)
{
  lc__http_response *res = &s->res;
  unsigned char buf[LWS_PRE + HEADER_SPACE];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
  gint64 len = res->has_fd ? res->file_size : (gint64)res->body_len;
  char num[32];

  count_request(http_of(wsi), res->status);
  if (lws_add_http_header_status(wsi, (unsigned)res->status, &p, end))
    return -1;
  if (res->status != 204) {
    if (res->content_type && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                                          (const unsigned char *)res->content_type,
                                                          (int)strlen(res->content_type), &p, end))
      return -1;
    if (s->head || len == 0) {
      /* lws tracks the body it expects from content_length; HEAD sends none. */
      g_snprintf(num, sizeof num, "%" G_GINT64_FORMAT, len);
      if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)num,
                                       (int)strlen(num), &p, end))
        return -1;
    } else if (lws_add_http_header_content_length(wsi, (lws_filepos_t)len, &p, end)) {
      return -1;
    }
  }
  if (add_header(wsi, "X-Content-Type-Options", "nosniff", &p, end))
    return -1;
  for (int i = 0; i < res->n_headers; i++)
    if (add_header(wsi, res->hname[i], res->hvalue[i], &p, end))
      return -1;
  if (res->close && add_header(wsi, "Connection", "close", &p, end))
    return -1;
  if (lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  s->sending = true;
  s->off = 0;
  lws_callback_on_writable(wsi);
  return 0;
}

/* Finishes the transaction: 0 to keep the connection, -1 to close it. */
static int
finish(struct lws *wsi, session *s)
{
  bool close_it = s->res.close;
  session_reset(s);
  if (close_it)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
on_writeable(struct lws *wsi, session *s)
{
  if (s->reply_ready) {
    s->reply_ready = false;
    return send_headers(wsi, s);
  }
  if (!s->sending)
    return 0;
  lc__http_response *res = &s->res;
  gint64 total = res->has_fd ? res->file_size : (gint64)res->body_len;
  if (s->head || res->status == 204 || total == 0)
    return finish(wsi, s);

  unsigned char buf[LWS_PRE + CHUNK];
  size_t want = (size_t)MIN((gint64)CHUNK, total - (gint64)s->off);
  ssize_t got;
  if (res->has_fd) {
    got = read(res->fd, buf + LWS_PRE, want);
    if (got <= 0) {
      LC_WARN(NULL, NULL, "static file shrank or failed while sending: %s",
              got < 0 ? g_strerror(errno) : "early end of file");
      return -1; /* the length is already promised: only closing is honest */
    }
  } else {
    memcpy(buf + LWS_PRE, res->body + s->off, want);
    got = (ssize_t)want;
  }
  s->off += (size_t)got;
  bool last = (gint64)s->off >= total;
  if (lws_write(wsi, buf + LWS_PRE, (size_t)got, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != got)
    return -1;
  if (res->bytes_counter)
    lc_metric_add(res->bytes_counter, got);
  if (last)
    return finish(wsi, s);
  lws_callback_on_writable(wsi);
  return 0;
}

/* ---- requests ---- */

/* Content-Length: 0 and *out, or -1 when present but malformed. Absent: 0 and *out = 0. */
static int
content_length(struct lws *wsi, gint64 *out)
{
  *out = 0;
  int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (n <= 0)
    return 0;
  char v[32];
  if (n >= (int)sizeof v || lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH) < 0)
    return -1;
  guint64 value = 0;
  if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT64, &value, NULL))
    return -1;
  *out = (gint64)value;
  return 0;
}

/* The client's address for the per-address limits (into *buf), or NULL when unknown. */
static const lc_ipaddr *
peer_addr(struct lws *wsi, lc_ipaddr *buf)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int fd = lws_get_socket_fd(wsi);
  if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
    return NULL;
  return lc_ipaddr_from_sockaddr((struct sockaddr *)&ss, sl, buf) == 0 ? buf : NULL;
}

/* A POST to the enabled payment callback (the router did the method rules): sets
 * s->collect when the request is to be checked and passed to the payment hook, else fills
 * s->res. A payment callback is a small JSON object; a larger body is refused unread. */
#define PAYMENT_MAX_BODY 16384

static void
payment_request(struct lws *wsi, session *s, gint64 clen)
{
  if (lws_hdr_custom_length(wsi, "x-livecart-signature:", 21) <= 0) {
    /* Refused before reading a byte of the body: no memory for unsigned senders. */
    s->res.close = true;
    lc__http_error(&s->res, 401, "unauthorized", "X-Livecart-Signature is missing");
  } else if (clen > PAYMENT_MAX_BODY) {
    s->res.close = true;
    lc__http_error(&s->res, 413, "too_large", "a payment callback body is at most 16 KiB");
  } else {
    s->collect = true;
  }
}

/* The payment callback's body is complete: check it and hand it to the hook, or
 * answer the error now. Returns 0, or -1 to close. */
static int
payment_dispatch(lc_http *http, struct lws *wsi, session *s)
{
  static const char hname[] = "x-livecart-signature:";
  char sig[160];
  const char *sigp = NULL;
  int n = lws_hdr_custom_length(wsi, hname, (int)strlen(hname));
  if (n > 0 && n < (int)sizeof sig && lws_hdr_custom_copy(wsi, sig, sizeof sig, hname, (int)strlen(hname)) > 0)
    sigp = sig;
  const guint8 *body = s->body ? s->body->data : (const guint8 *)"";
  size_t len = s->body ? s->body->len : 0;
  lc_ipaddr peer;
  json_t *obj = lc__http_payment_check(&http->env, peer_addr(wsi, &peer), sigp, body, len, &s->res);
  s->collect = false;
  g_clear_pointer(&s->body, g_byte_array_unref);
  if (!obj)
    return send_headers(wsi, s);
  lc_http_pending *p = g_new0(lc_http_pending, 1);
  hold_start(&p->h, HOLD_PAYMENT, wsi, s);
  /* The store normally answers within milliseconds; never hold the socket forever. */
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, PAYMENT_TIMEOUT_S);
  http->env.opts.payment(obj, p, http->env.opts.user); /* may reply (and free p) at once */
  json_decref(obj);
  return 0;
}

void
lc_http_pending_reply(lc_http_pending *p, int status, json_t *body)
{
  session *s = hold_end(&p->h);
  if (!s) {
    LC_DEBUG(NULL, NULL, "payment callback answer %d dropped: the client has gone", status);
    json_decref(body);
    g_free(p);
    return;
  }
  if (body)
    lc__http_json(&s->res, status, body);
  else
    lc__http_error(&s->res, 500, "internal_error", "no answer");
  lc__http_header(&s->res, "Cache-Control", "no-store");
  hold_answer(p->h.wsi, s);
  g_free(p);
}

/* Header value (NUL-terminated into buf) or NULL when absent or too long. */
static const char *
header_value(struct lws *wsi, enum lws_token_indexes token, char *buf, int cap)
{
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0 || n >= cap || lws_hdr_copy(wsi, buf, cap, token) < 0)
    return NULL;
  return buf;
}

typedef struct {
  lc__http_rtc_request rq;
  char content_type[128];
  char authorization[512];
  lc_ipaddr peer;
} rtc_request;

static void
rtc_request_read(struct lws *wsi, rtc_request *r)
{
  char *uri = NULL;
  int uri_len = 0;
  int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
  gint64 clen = 0;
  (void)content_length(wsi, &clen);
  r->rq = (lc__http_rtc_request){
      .method = method >= 0 && method <= LC__HTTP_DELETE ? method : LC__HTTP_OTHER,
      .path = uri ? uri : "",
      .path_len = uri && uri_len > 0 ? (size_t)uri_len : 0,
      .content_type = header_value(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->content_type, sizeof r->content_type),
      .authorization = header_value(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, r->authorization, sizeof r->authorization),
      .content_length = clen,
      .peer = peer_addr(wsi, &r->peer),
  };
}

/* A WHEP/WHIP request whose body is in; while a WHEP offer waits for its room's media, it is
 * held (h, HOLD_MEDIA) with its body in the session's s->body. */
struct lc_http_wait {
  hold h;             /* first: a HOLD_MEDIA hold is an lc_http_wait */
  lc_http *http;
  rtc_request r;      /* the request; r.rq.path points at path */
  char *path;         /* owned: lws' header buffer is not ours to keep */
  bool in_prepare;    /* the prepare hook is running */
  bool done;          /* lc_http_wait_done came while it ran */
};

static void
wait_free(lc_http_wait *w)
{
  g_free(w->path);
  g_free(w);
}

/* The request of w is over: runs its offer first when run_offer (its wait has ended), so that
 * s->res holds the answer, then drops the body and frees w. */
static void
rtc_finish(lc_http_wait *w, session *s, bool run_offer)
{
  const guint8 *body = s->body ? s->body->data : (const guint8 *)"";
  size_t len = s->body ? s->body->len : 0;
  if (run_offer)
    lc__http_rtc_body(&w->http->env, &w->r.rq, body, len, NULL, &s->res);
  LC_DEBUG(NULL, NULL, "%s (%zu bytes) -> %d", w->path, len, s->res.status);
  g_clear_pointer(&s->body, g_byte_array_unref);
  wait_free(w);
}

/* The WHEP/WHIP request body is complete: answer it, or hold the connection while a WHEP
 * offer waits for its room's media (the prepare hook kept the wait). */
static int
rtc_dispatch(lc_http *http, struct lws *wsi, session *s)
{
  lc_http_wait *w = g_new0(lc_http_wait, 1);
  w->http = http;
  rtc_request_read(wsi, &w->r);
  w->path = g_strndup(w->r.rq.path, w->r.rq.path_len);
  w->r.rq.path = w->path;
  s->collect = s->collect_rtc = false;
  const guint8 *body = s->body ? s->body->data : (const guint8 *)"";
  size_t len = s->body ? s->body->len : 0;
  w->in_prepare = true;
  bool held = lc__http_rtc_body(&http->env, &w->r.rq, body, len, w, &s->res);
  w->in_prepare = false;
  if (held && !w->done) {
    hold_start(&w->h, HOLD_MEDIA, wsi, s);
    lws_set_timer_usecs(wsi, (lws_usec_t)LC__HTTP_WAIT_TIMEOUT_S * LWS_USEC_PER_SEC);
    LC_DEBUG(NULL, NULL, "%s (%zu bytes): waiting for the room's media", w->path, len);
    return 0;
  }
  rtc_finish(w, s, held); /* held and done: lc_http_wait_done came inside prepare */
  return send_headers(wsi, s);
}

void
lc_http_wait_done(lc_http_wait *w)
{
  if (w->in_prepare) {
    w->done = true; /* rtc_dispatch runs the offer once prepare has returned */
    return;
  }
  session *s = hold_end(&w->h);
  if (!s) {
    LC_DEBUG(NULL, NULL, "%s: media wait over, but the client has gone or timed out", w->path);
    wait_free(w);
    return;
  }
  struct lws *wsi = w->h.wsi;
  rtc_finish(w, s, true);
  hold_answer(wsi, s);
}

/* LWS_CALLBACK_TIMER: a WHEP offer waited LC__HTTP_WAIT_TIMEOUT_S for its room's media in
 * vain. Its wait is orphaned (lc_http_wait_done will only free it) and 504 answered. */
static int
on_timer(struct lws *wsi, session *s)
{
  if (!s->held || s->held->kind != HOLD_MEDIA)
    return 0;
  lc_http_wait *w = (lc_http_wait *)s->held;
  hold_end(&w->h);
  LC_INFO(NULL, NULL, "%s: no media for the offer after %d s: 504", w->path, LC__HTTP_WAIT_TIMEOUT_S);
  g_clear_pointer(&s->body, g_byte_array_unref);
  lc__http_error(&s->res, 504, lc_errcode(LC_ETIMEDOUT),
                 "the room's video did not reach this server in time; try again");
  lc__http_header(&s->res, "Cache-Control", "no-store");
  hold_answer(wsi, s);
  return 0;
}

/* A POST to a route with a `post` handler (the router did the method rules): sets
 * s->collect when the body is to be read, else fills s->res (body too large). */
static void
post_request(session *s, const lc__http_route *r, gint64 clen)
{
  if (clen > SMALL_BODY) {
    s->res.close = true;
    lc__http_error(&s->res, 413, "too_large", "the body of this request is at most 4 KiB");
  } else {
    s->collect = true;
    s->collect_post = r;
  }
}

/* The body of a `post` route is in (at most SMALL_BODY bytes): answer it. */
static int
post_dispatch(lc_http *http, struct lws *wsi, session *s)
{
  char *uri = NULL;
  int uri_len = 0;
  if (lws_http_get_uri_and_method(wsi, &uri, &uri_len) < 0 || !uri || uri_len < 0)
    uri_len = 0;
  lc__http_request req = {.method = "POST", .path = uri && uri_len ? uri : "", .path_len = (size_t)uri_len};
  const lc__http_route *r = s->collect_post;
  const guint8 *body = s->body ? s->body->data : (const guint8 *)"";
  size_t len = s->body ? s->body->len : 0;
  if (len > SMALL_BODY) {
    s->res.close = true;
    lc__http_error(&s->res, 413, "too_large", "the body of this request is at most 4 KiB");
  } else {
    r->post(&http->env, &req, body, len, &s->res);
  }
  s->collect = false;
  s->collect_post = NULL;
  g_clear_pointer(&s->body, g_byte_array_unref);
  LC_DEBUG(NULL, NULL, "POST %s (%zu bytes) -> %d", r->path, len, s->res.status);
  return send_headers(wsi, s);
}

/* Which collector gets a complete body. */
static int
collected(lc_http *http, struct lws *wsi, session *s)
{
  if (s->collect_rtc)
    return rtc_dispatch(http, wsi, s);
  if (s->collect_post)
    return post_dispatch(http, wsi, s);
  return payment_dispatch(http, wsi, s);
}

/* True when the decoded request path holds a NUL (%00). lws 4.1 decodes the path in
 * place and does not count a decoded NUL in the header's length (parsers.c issue_char),
 * so "/%00" arrives as "/" and "/%00/x" as "/" NUL "/" cut one byte short. A NUL before
 * the end is inside [path, path + len); trailing ones sit between the path and its
 * terminating NUL, which pushes the next fragment lws stored further out than it lies
 * for a clean path: the query's first fragment 2 bytes after the path's end (lws skips
 * a byte after the terminator before it, parsers.c lws_parse_urldecode), else the HTTP
 * version 1 byte after. Comparing that spot with the fragment's text (and terminator)
 * tells the two apart; the fragment's text holds no NUL, so a shifted copy never
 * matches (except an empty query after "/%00", which then reads as "/": harmless). A %00
 * anywhere but right after "/", "/." or "/.." makes lws drop the connection before we
 * see the request (docs/http.md). Reads only bytes lws wrote for this request. */
static bool
path_hides_nul(struct lws *wsi, const char *path, int len)
{
  if (memchr(path, '\0', (size_t)len))
    return true;
  static const struct {
    enum lws_token_indexes token;
    int at; /* where the fragment starts for a path without a hidden NUL */
  } next[] = {{WSI_TOKEN_HTTP_URI_ARGS, 2}, {WSI_TOKEN_HTTP, 1}};
  for (size_t i = 0; i < G_N_ELEMENTS(next); i++) {
    int flen = lws_hdr_fragment_length(wsi, next[i].token, 0);
    char *frag = g_malloc((size_t)flen + 1);
    int got = lws_hdr_copy_fragment(wsi, frag, flen + 1, next[i].token, 0);
    bool hidden = got >= 0 && memcmp(path + len + next[i].at, frag, (size_t)got + 1) != 0;
    g_free(frag);
    if (got >= 0)
      return hidden;
  }
  return false; /* neither fragment: lws cut the line short, the visible part was checked */
}

/* A header's value (NUL-terminated into buf), or NULL when absent, longer than cap - 1 or sent
 * more than once (lws keeps each line as a fragment; two Range lines are not one range). */
static const char *
single_header(struct lws *wsi, enum lws_token_indexes token, char *buf, int cap)
{
  if (lws_hdr_fragment_length(wsi, token, 1) > 0)
    return NULL;
  return header_value(wsi, token, buf, cap);
}

/* Fills s->res for the request; sets *has_body when a request body is still to come. */
static void
handle_request(lc_http *http, struct lws *wsi, session *s, bool *has_body)
{
  lc__http_response *res = &s->res;
  char *uri = NULL;
  int uri_len = 0;
  int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
  *has_body = false;
  if (method < 0 || !uri || uri_len <= 0) {
    res->close = true;
    lc__http_error(res, 400, "bad_request", "malformed request line");
    return;
  }
  static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD"};
  lc__http_request req = {
      .method = method < (int)G_N_ELEMENTS(names) ? names[method] : "?",
      .head = method == LWSHUMETH_HEAD,
      .path = uri,
      .path_len = (size_t)uri_len,
  };
  char range[128];
  req.range = single_header(wsi, WSI_TOKEN_HTTP_RANGE, range, sizeof range);
  req.if_range = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_IF_RANGE) > 0;
  s->head = req.head;
  int args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if ((size_t)uri_len + (size_t)(args > 0 ? args + 1 : 0) > http->env.opts.max_uri) {
    res->close = true;
    lc__http_error(res, 414, "uri_too_long", "request URI is too long");
    return;
  }
  if (path_hides_nul(wsi, uri, uri_len)) {
    res->close = true;
    lc__http_error(res, 400, "bad_request", "malformed path (NUL)");
    return;
  }
  gint64 clen = 0;
  if (content_length(wsi, &clen) < 0) {
    res->close = true;
    lc__http_error(res, 400, "bad_request", "malformed Content-Length");
    return;
  }
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
    /* lws 4.1 passes a chunked request body through with its framing and never reports
     * its end, so such a request used to wait for a body completion that never came and
     * died at the 10 s body timeout without an answer. Every route refuses it at once
     * instead (before routing, so even a 405 or a 404 would come too late); the body is
     * not read, so the connection closes after the answer. A Content-Length beside it
     * changes nothing: RFC 9112 6.3 lets Transfer-Encoding win, and a server that read
     * either one could be smuggled past by the other. */
    *has_body = true;
    res->close = true;
    lc__http_error(res, 411, "length_required", "send the request body with a Content-Length, not chunked");
    return;
  }
  if (clen > (gint64)http->env.opts.max_body) {
    res->close = true; /* the body is not read: the connection cannot be reused */
    lc__http_error(res, 413, "too_large", "request body is too large");
    return;
  }
  *has_body = clen > 0;

  const char *rtc_kind = NULL;
  if (lc__http_rtc_route(req.path, req.path_len, &rtc_kind)) {
    rtc_request rr;
    rtc_request_read(wsi, &rr);
    if (lc__http_rtc_begin(&http->env, &rr.rq, res))
      s->collect = s->collect_rtc = true;
    LC_DEBUG(NULL, NULL, "%s %.*s -> %s", req.method, uri_len, uri, s->collect ? "reading offer" : "answered");
    return;
  }
  const lc__http_route *r = NULL;
  int m = method == LWSHUMETH_HEAD ? LC__HTTP_GET : method <= LC__HTTP_DELETE ? method : LC__HTTP_OTHER;
  switch (lc__http_dispatch_route(&http->env, m, &req, res, &r)) {
  case LC__HTTP_ROUTED_POST:
    post_request(s, r, clen);
    return;
  case LC__HTTP_ROUTED_PAYMENT:
    payment_request(wsi, s, clen);
    return;
  case LC__HTTP_ROUTED_DONE:
    break;
  }
  LC_DEBUG(NULL, NULL, "%s %.*s -> %d", req.method, uri_len, uri, res->status);
}

static int
on_http(lc_http *http, struct lws *wsi, session *s)
{
  session_reset(s);
  bool has_body = false;
  handle_request(http, wsi, s, &has_body);
  bool refused = s->res.close; /* answered without reading the body (400, 401, 413) */
  if (has_body) {
    /* lws 4.1 spins (100% CPU, no more service) when a keep-alive connection carries
     * further pipelined requests after one with a body: such connections close after
     * the answer. And the body must arrive within 10 s, however slowly it drips. */
    s->res.close = true;
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 10);
  }
  if (s->collect) {
    if (has_body)
      return 0; /* collected in on_body, dispatched in on_body_done */
    return collected(http, wsi, s);
  }
  if (has_body && !refused) {
    s->pending = true; /* answer once the body is in */
    return 0;
  }
  return send_headers(wsi, s);
}

static int
on_body(lc_http *http, struct lws *wsi, session *s, const void *in, size_t len)
{
  s->body_seen += (gint64)len;
  if (s->sending || s->body_seen <= (gint64)http->env.opts.max_body) {
    if (s->collect) {
      if (!s->body)
        s->body = g_byte_array_sized_new((guint)MIN((gint64)http->env.opts.max_body, s->body_seen));
      g_byte_array_append(s->body, in, (guint)len);
    }
    return 0;
  }
  /* A body without (or with a lying) length ran past the limit: cut it off. */
  session_reset(s);
  s->res.close = true;
  lc__http_error(&s->res, 413, "too_large", "request body is too large");
  return send_headers(wsi, s);
}

static int
on_body_done(lc_http *http, struct lws *wsi, session *s)
{
  if (s->collect)
    return collected(http, wsi, s);
  if (!s->pending)
    return 0;
  s->pending = false;
  return send_headers(wsi, s);
}

static void
connection_opened(lc_http *http, session *s)
{
  if (s->counted)
    return;
  s->counted = true;
  http->connections++;
  if (http->m_connections)
    lc_metric_set(http->m_connections, http->connections);
}

static void
connection_closed(lc_http *http, session *s)
{
  session_reset(s);
  if (!s->counted)
    return;
  s->counted = false;
  http->connections--;
  if (http->m_connections)
    lc_metric_set(http->m_connections, http->connections);
}

static int preread_start(lc_http *http, int fd);

/* lws_glue.c wrote an answer itself (a refused upgrade). */
static void
count_answer(int status, gpointer user)
{
  count_request(user, status);
}

/* Every lws callback of a plain HTTP connection (lws_glue.c dispatches them here; the
 * upgrade check goes to the websocket side there). */
static int
on_lws(struct lws *wsi, int reason, void *user, void *in, size_t len, gpointer data)
{
  lc_http *http = data;
  session *s = user;
  switch (reason) {
  case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
    return preread_start(http, (int)(lws_intptr_t)in);
  case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
    if (s)
      connection_opened(http, s);
    return 0;
  case LWS_CALLBACK_HTTP:
    return s ? on_http(http, wsi, s) : -1;
  case LWS_CALLBACK_HTTP_BODY:
    return s ? on_body(http, wsi, s, in, len) : -1;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    return s ? on_body_done(http, wsi, s) : -1;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return s ? on_writeable(wsi, s) : 0;
  case LWS_CALLBACK_TIMER:
    return s ? on_timer(wsi, s) : 0;
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (s)
      connection_closed(http, s);
    return 0;
  default:
    return 0;
  }
}

/* ---- the first line of a new connection, before lws ---- */

/* lws 4.1 drops a connection without an answer when its request target holds a %00
 * that does not follow a "/" (parsers.c lws_parse_urldecode fails the parse), before any
 * callback of ours runs. So a new connection is held back from lws until its first line
 * is in: LWS_CALLBACK_FILTER_NETWORK_CONNECTION gets the accepted socket, we keep a
 * duplicate of it and return 1 (lws closes its descriptor, the socket stays open with
 * ours), peek (MSG_PEEK) until the first '\n', check the line
 * (lc__http_check_request_line) and either answer our JSON 400 ourselves or hand the
 * socket back to lws with lws_adopt_socket_vhost, its bytes still unread in the kernel.
 * SO_RCVLOWAT makes poll wait for more bytes than were peeked, so a line that arrives
 * in pieces costs a wake-up per piece, not a spin. Later requests on a keep-alive
 * connection are lws' alone (docs/http.md). Main thread. */
#define PREREAD_MAX 8192          /* bytes peeked for the first line */
#define PREREAD_PENDING_MAX 64    /* connections held at once; more go to lws unchecked */
#define PREREAD_TIMEOUT_S 10      /* as lws' own timeout for a silent client */
#define PREREAD_LINGER_MS 2000    /* after our 400: read and drop until the client closes */

typedef struct {
  lc_http *http;
  int fd;
  GSource *io, *timer;          /* references held */
  GList link;                   /* in http->prereads */
  bool refused;                 /* our 400 is out: draining */
} preread;

static void
preread_sources_stop(preread *p)
{
  if (p->io) {
    g_source_destroy(p->io);
    g_source_unref(p->io);
    p->io = NULL;
  }
  if (p->timer) {
    g_source_destroy(p->timer);
    g_source_unref(p->timer);
    p->timer = NULL;
  }
}

/* Forgets p; closes its socket unless it went to lws. What the client sent is read
 * first (only peeked so far): closing with unread bytes would make the kernel reset the
 * connection instead of ending it. */
static void
preread_end(preread *p, bool close_fd)
{
  preread_sources_stop(p);
  g_queue_unlink(&p->http->prereads, &p->link);
  if (close_fd) {
    char drop[PREREAD_MAX];
    for (int i = 0; i < 4 && recv(p->fd, drop, sizeof drop, MSG_DONTWAIT) > 0; i++)
      ;
    close(p->fd);
  }
  g_free(p);
}

static gboolean
preread_timeout(gpointer data)
{
  preread *p = data;
  LC_DEBUG(NULL, NULL, "new connection: %s", p->refused ? "refused, closed" : "no request line in time, closed");
  preread_end(p, true);
  return G_SOURCE_REMOVE;
}

static void
set_lowat(int fd, int bytes)
{
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

/* Answers the JSON 400 on the raw socket, then drains until the client closes (closing
 * with unread bytes would reset the connection and could destroy the answer in flight). */
static void
preread_refuse(preread *p, const char *why)
{
  lc__http_response res = {0};
  lc__http_error(&res, 400, "bad_request", why);
  count_request(p->http, 400);
  char *text = g_strdup_printf("HTTP/1.1 400 Bad Request\r\nserver: livecart\r\ncontent-type: %s\r\n"
                               "content-length: %zu\r\nX-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\n%s",
                               res.content_type, res.body_len, res.body);
  /* a fresh socket's send buffer takes a few hundred bytes at once */
  if (send(p->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    LC_DEBUG(NULL, NULL, "400 not sent: %s", g_strerror(errno));
  (void)shutdown(p->fd, SHUT_WR);
  g_free(text);
  lc__http_response_clear(&res);
  LC_DEBUG(NULL, NULL, "new connection refused before lws: %s", why);
  p->refused = true;
  set_lowat(p->fd, 1);
  g_source_destroy(p->timer);
  g_source_unref(p->timer);
  p->timer = g_timeout_source_new(PREREAD_LINGER_MS);
  g_source_set_callback(p->timer, preread_timeout, p, NULL);
  g_source_attach(p->timer, g_main_loop_get_context(p->http->loop));
}

static gboolean
preread_readable(gint fd, GIOCondition cond, gpointer data)
{
  preread *p = data;
  char buf[PREREAD_MAX];
  (void)cond;
  if (p->refused) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
      return G_SOURCE_CONTINUE;
    preread_end(p, true); /* the client closed (or reset) */
    return G_SOURCE_REMOVE;
  }
  ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    preread_end(p, true); /* gone before its first line */
    return G_SOURCE_REMOVE;
  }
  const char *eol = memchr(buf, '\n', (size_t)n);
  if (!eol && (size_t)n < sizeof buf && lc__http_may_be_request_line(buf, (size_t)n)) {
    set_lowat(fd, (int)n + 1); /* wake up when more than this has come */
    return G_SOURCE_CONTINUE;
  }
  const char *why = NULL;
  if (eol && lc__http_check_request_line(buf, (size_t)(eol - buf), &why) != 0) {
    preread_refuse(p, why);
    return G_SOURCE_CONTINUE;
  }
  /* fine (or longer than we look at, or not HTTP): lws reads it from the socket as usual */
  set_lowat(fd, 1);
  lc_http *http = p->http;
  preread_end(p, false);
  if (!lc__lws_adopt(http->lws, fd))
    LC_DEBUG(NULL, NULL, "libwebsockets could not take the new connection (it closed it)");
  return G_SOURCE_REMOVE;
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: 1 when we hold the connection (lws then
 * closes its descriptor of it), 0 to let lws go on as usual. */
static int
preread_start(lc_http *http, int fd)
{
  if (fd < 0 || http->prereads.length >= PREREAD_PENDING_MAX)
    return 0;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return 0;
  preread *p = g_new0(preread, 1);
  p->http = http;
  p->fd = own;
  p->link.data = p;
  g_queue_push_tail_link(&http->prereads, &p->link);
  GMainContext *mc = g_main_loop_get_context(http->loop);
  p->io = g_unix_fd_source_new(own, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback(p->io, G_SOURCE_FUNC(preread_readable), p, NULL);
  g_source_set_can_recurse(p->io, TRUE); /* O(1) dispatch, see lc__lws_fast_dispatch */
  g_source_attach(p->io, mc);
  p->timer = g_timeout_source_new_seconds(PREREAD_TIMEOUT_S);
  g_source_set_callback(p->timer, preread_timeout, p, NULL);
  g_source_attach(p->timer, mc);
  return 1;
}

/* ---- lifecycle ---- */

static bool
numeric_address(const char *addr)
{
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1;
}

/* realpath of a media folder option ("" = unset: NULL), or NULL when it does not exist yet (normal
 * before the first live room: its writer creates it; the route looks it up again per request). */
static char *
media_root(const char *path, const char *what)
{
  if (!*path)
    return NULL;
  char *real = realpath(path, NULL);
  if (!real) {
    LC_INFO(NULL, NULL, "%s %s: %s (looked up again per request until it exists)", what, path, g_strerror(errno));
    return NULL;
  }
  char *copy = g_strdup(real);
  free(real);
  return copy;
}

lc_http *
lc_http_new(const lc_http_options *opts, GMainLoop *loop, char **err_msg)
{
  lc_http *http = g_new0(lc_http, 1);
  http->env.opts = *opts;
  http->bind = g_strdup(opts->bind ? opts->bind : "127.0.0.1");
  http->web_root = g_strdup(opts->web_root ? opts->web_root : "web");
  http->cors = g_strdup(opts->cors_origin ? opts->cors_origin : "");
  http->env.opts.bind = http->bind;
  http->env.opts.web_root = http->web_root;
  http->env.opts.cors_origin = http->cors;
  http->hls_root = g_strdup(opts->hls_root ? opts->hls_root : "");
  http->env.opts.hls_root = http->hls_root;
  http->record_root = g_strdup(opts->record_root ? opts->record_root : "");
  http->env.opts.record_root = http->record_root;
  http->env.started_us = g_get_monotonic_time();
  http->loop = g_main_loop_ref(loop);

  if (!numeric_address(http->bind) || opts->port < 0 || opts->port > 65535) {
    *err_msg = g_strdup_printf("cannot listen on %s:%d: not a numeric IPv4/IPv6 address and port",
                               http->bind, opts->port);
    goto fail;
  }
  if (strpbrk(http->cors, "\r\n")) {
    *err_msg = g_strdup("cors_origin must not contain line breaks");
    goto fail;
  }
  char *real = realpath(http->web_root, NULL);
  if (real) {
    http->env.web_root_real = g_strdup(real);
    free(real);
  } else {
    LC_WARN(NULL, NULL, "web root %s: %s (static files will answer 404)", http->web_root,
            g_strerror(errno));
  }
  http->env.hls_root_real = media_root(http->hls_root, "HLS root");
  http->env.record_root_real = media_root(http->record_root, "recordings root");
  if (opts->metrics) {
    http->env.m_hls_requests = lc_metrics_counter(opts->metrics, "livecart_hls_requests_total", NULL,
                                                  "HTTP requests under /hls/ (GET and HEAD, any answer)");
    http->env.m_hls_bytes = lc_metrics_counter(opts->metrics, "livecart_hls_bytes_total", NULL,
                                               "File bytes sent under /hls/ (playlists and segments)");
    http->env.m_rec_requests = lc_metrics_counter(opts->metrics, "livecart_record_http_requests_total", NULL,
                                                  "HTTP requests under /rec/ (GET and HEAD, any answer)");
    http->env.m_rec_bytes = lc_metrics_counter(opts->metrics, "livecart_record_http_bytes_total", NULL,
                                               "File bytes sent under /rec/ (recordings)");
    http->m_connections = lc_metrics_gauge(opts->metrics, "livecart_http_connections", NULL,
                                           "Open HTTP connections");
    lc_metrics_counter(opts->metrics, "livecart_http_requests_total", "code=\"200\"",
                       "HTTP requests answered, by status code");
  }

  lc__lws_options lo = {
      .bind = http->bind,
      .port = opts->port,
      /* The header buffer must hold the longest accepted URI plus ordinary headers. */
      .max_header = opts->max_uri + 8192,
      .loop = loop,
      .http = on_lws,
      .http_pss = sizeof(session),
      .http_tx_packet = CHUNK,
      .answered = count_answer,
      .user = http,
      .ws = opts->ws,
  };
  http->lws = lc__lws_new(&lo, err_msg);
  if (!http->lws)
    goto fail;
  LC_INFO(NULL, NULL, "listening on http://%s:%d web_root=%s", http->bind, lc__lws_port(http->lws),
          http->web_root);
  return http;

fail:
  lc_http_free(http);
  return NULL;
}

int
lc__http_port(lc_http *http)
{
  return lc__lws_port(http->lws);
}

unsigned
lc_http_connections(lc_http *http)
{
  return http ? http->connections + lc__lws_ws_connections(http->lws) : 0;
}

void
lc_http_free(lc_http *http)
{
  if (!http)
    return;
  while (http->prereads.head)
    preread_end(http->prereads.head->data, true);
  lc__lws_free(http->lws); /* closes every connection: their close callbacks still find http */
  if (http->m_connections)
    lc_metric_set(http->m_connections, 0);
  g_main_loop_unref(http->loop);
  g_free(http->env.web_root_real);
  g_free(http->env.hls_root_real);
  g_free(http->hls_root);
  g_free(http->env.record_root_real);
  g_free(http->record_root);
  g_free(http->bind);
  g_free(http->web_root);
  g_free(http->cors);
  g_free(http);
}

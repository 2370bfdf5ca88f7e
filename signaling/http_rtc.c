/* WHEP playback and WHIP ingest routes (draft-ietf-wish-whep, RFC 9725) over the media hooks of
 * lc_http_options.rtc. No libwebsockets here: http.c hands over the method, path, headers and
 * (for POST) the collected body; this file checks them and fills the response.
 *
 *   POST    /whep/{room}                  SDP offer -> 201 + SDP answer + Location
 *   POST    /whip/{room}                  same, with Authorization: Bearer <stream key>
 *   DELETE  /whep/{room}/{resource}       ends the session (200)
 *   PATCH   /whe?p/{room}/{resource}      405: trickle ICE is not needed (ICE-lite, one candidate)
 *   POST    /whep/{room}/{resource}/layer {"rung":"720p"|"auto"} pins or unpins a rung
 *   OPTIONS any of them                   CORS preflight (Location exposed to pages)
 *
 * Per-address limits, checked before an offer's body is read (429 + Retry-After, connection
 * closed): a WHIP offer from an address locked out for failed stream keys (opts.auth_guard;
 * the hook's LC_EPERM, or a missing Bearer, counts one failure), then the offer rate of
 * WHEP and WHIP together (opts.session_guard; every offer that passes counts).
 *
 * A WHEP offer whose room's media is not on this node yet (an edge that pulls it from its
 * origin) waits for it: the prepare hook keeps an lc_http_wait and the offer runs when
 * lc_http_wait_done comes (http.c holds the connection; 504 after LC__HTTP_WAIT_TIMEOUT_S).
 * Main thread only. */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "base/errors.h"
#include "base/log.h"

#include <string.h>

#define SDP_TYPE "application/sdp"
#define MAX_SEGMENT 64

static const char rtc_methods[] = "POST, DELETE, PATCH, OPTIONS";

/* Splits "/whep/a/b/c" after the prefix into at most 3 segments of [A-Za-z0-9_-], each
 * < MAX_SEGMENT bytes. Returns the count, or -1 when malformed. */
static int
split_path(const char *path, size_t len, char seg[3][MAX_SEGMENT])
{
  int n = 0;
  size_t i = 0;
  while (i < len) {
    if (path[i] != '/')
      return -1;
    i++;
    size_t start = i;
    while (i < len && path[i] != '/')
      i++;
    size_t sl = i - start;
    if (sl == 0 && i == len && n > 0)
      break; /* trailing slash */
    if (sl == 0 || sl >= MAX_SEGMENT || n == 3)
      return -1;
    for (size_t k = start; k < i; k++)
      if (!g_ascii_isalnum(path[k]) && path[k] != '-' && path[k] != '_')
        return -1;
    memcpy(seg[n], path + start, sl);
    seg[n][sl] = '\0';
    n++;
  }
  return n;
}

static void
cors(const lc__http_env *env, lc__http_response *res, bool preflight)
{
  const char *origin = env->opts.cors_origin;
  if (!origin || !*origin)
    return;
  lc__http_header(res, "Access-Control-Allow-Origin", origin);
  lc__http_header(res, "Access-Control-Expose-Headers", "Location, ETag, Link");
  if (preflight) {
    lc__http_header(res, "Access-Control-Allow-Methods", rtc_methods);
    lc__http_header(res, "Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match");
    lc__http_header(res, "Access-Control-Max-Age", "600");
  }
}

static int
status_of(int err)
{
  switch (err) {
  case LC_EINVAL: return 400;
  case LC_EPERM: return 401;
  case LC_ENOENT: return 404;
  case LC_EEXIST:
  case LC_ESTATE: return 409;
  case LC_ETOOBIG: return 413;
  case LC_ELIMIT:
  case LC_EBUSY:
  case LC_ESHUTDOWN: return 503;
  case LC_ETIMEDOUT: return 504;
  default: return 500;
  }
}

static void
fail(lc__http_response *res, int err, const char *why)
{
  lc__http_error(res, status_of(err), err == LC_EPERM ? "unauthorized" : lc_errcode(err),
                 why ? why : lc_strerror(err));
}

/* Bearer token of an Authorization value, or NULL. */
static const char *
bearer(const char *authorization)
{
  if (!authorization || g_ascii_strncasecmp(authorization, "Bearer ", 7) != 0)
    return NULL;
  const char *t = authorization + 7;
  while (*t == ' ')
    t++;
  return *t ? t : NULL;
}

/* Counts an offer against the peer's offer rate; true when over it (res = 429, the refusal
 * logged with pacing; the refused offer is not counted). */
static bool
offer_throttled(const lc__http_env *env, const lc__http_rtc_request *rq, const char *kind, lc__http_response *res)
{
  lc_ipguard *g = env->opts.session_guard;
  gint64 now = g_get_monotonic_time();
  gint64 wait = lc_ipguard_check(g, rq->peer, now);
  if (wait <= 0) {
    lc_ipguard_hit(g, rq->peer, now);
    return false;
  }
  gint64 secs = MAX(1, (wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  char *msg = g_strdup_printf("too many WebRTC sessions started from your address: retry in %" G_GINT64_FORMAT " s",
                              secs);
  char *line = g_strdup_printf("%s offer refused (429): %s (limits.whep_sessions_per_ip_per_10s)",
                               strcmp(kind, "whep") == 0 ? "WHEP" : "WHIP", msg);
  lc_ipguard_log_refusal(g, rq->peer, now, NULL, line);
  lc__http_throttled(res, wait, msg);
  g_free(line);
  g_free(msg);
  return true;
}

bool
lc__http_rtc_route(const char *path, size_t len, const char **kind)
{
  if (len >= 5 && (memcmp(path, "/whep", 5) == 0 || memcmp(path, "/whip", 5) == 0) &&
      (len == 5 || path[5] == '/')) {
    *kind = path[3] == 'e' ? "whep" : "whip";
    return true;
  }
  return false;
}

bool
lc__http_rtc_begin(const lc__http_env *env, const lc__http_rtc_request *rq, lc__http_response *res)
{
  char seg[3][MAX_SEGMENT];
  const char *kind = NULL;
  lc__http_rtc_route(rq->path, rq->path_len, &kind);
  int n = split_path(rq->path + 5, rq->path_len - 5, seg);
  bool is_whep = strcmp(kind, "whep") == 0;
  bool layer = n == 3 && is_whep && strcmp(seg[2], "layer") == 0;

  if (!env->opts.rtc || !env->opts.rtc->offer) {
    lc__http_error(res, 404, "not_found", "WebRTC is not enabled on this server");
  } else if (n < 1 || (n == 3 && !layer)) {
    lc__http_error(res, 404, "not_found", n < 0 ? "malformed path: /whep/{room}[/{resource}]"
                                                : "no such path; use /whep/{room} or /whip/{room}");
  } else if (rq->method == LC__HTTP_OPTIONS) {
    res->status = 204;
    lc__http_header(res, "Allow", n == 1 ? "POST, OPTIONS" : rtc_methods);
    if (n == 1 && is_whep)
      lc__http_header(res, "Accept-Post", SDP_TYPE);
    cors(env, res, true);
    return false;
  } else if (n == 1) {
    if (rq->method != LC__HTTP_POST) {
      lc__http_error(res, 405, "method_not_allowed", "POST an SDP offer here");
      lc__http_header(res, "Allow", "POST, OPTIONS");
    } else if (!rq->content_type || g_ascii_strncasecmp(rq->content_type, SDP_TYPE, strlen(SDP_TYPE)) != 0) {
      lc__http_error(res, 415, "unsupported_media_type", "the offer must be sent as Content-Type: application/sdp");
    } else if ((!is_whep && lc__http_auth_locked(env, rq->peer, "WHIP offer", res)) ||
               offer_throttled(env, rq, kind, res)) {
      res->close = true; /* the offer is not read */
    } else if (!is_whep && !bearer(rq->authorization)) {
      lc__http_auth_failed(env, rq->peer, "WHIP offer without a stream key");
      res->close = true;
      lc__http_error(res, 401, "unauthorized", "WHIP needs Authorization: Bearer <stream key>");
      lc__http_header(res, "WWW-Authenticate", "Bearer");
    } else if (rq->content_length <= 0) {
      lc__http_error(res, 400, "bad_offer", "the request has no SDP offer (Content-Length is missing or 0)");
    } else {
      cors(env, res, false);
      return true; /* collect the offer */
    }
  } else if (layer) {
    if (rq->method != LC__HTTP_POST) {
      lc__http_error(res, 405, "method_not_allowed", "POST {\"rung\":...} here");
      lc__http_header(res, "Allow", "POST, OPTIONS");
    } else if (rq->content_length <= 0 || rq->content_length > 1024) {
      lc__http_error(res, 400, "bad_request", "send {\"rung\": \"<name>\" | \"auto\"} (at most 1 KiB)");
    } else {
      cors(env, res, false);
      return true;
    }
  } else if (rq->method == LC__HTTP_DELETE) {
    int err = env->opts.rtc->remove ? env->opts.rtc->remove(kind, seg[0], seg[1], env->opts.rtc_user) : LC_ENOENT;
    if (err == 0)
      lc__http_json(res, 200, json_pack("{s:s}", "deleted", seg[1]));
    else
      fail(res, err, err == LC_ENOENT ? "no such session (it has ended or never existed)" : NULL);
  } else if (rq->method == LC__HTTP_PATCH) {
    lc__http_error(res, 405, "method_not_allowed",
                   "trickle ICE is not supported: the server is ICE-lite and its answer holds its candidate");
    lc__http_header(res, "Allow", "DELETE, OPTIONS");
  } else {
    lc__http_error(res, 405, "method_not_allowed", "DELETE ends the session");
    lc__http_header(res, "Allow", "DELETE, PATCH, OPTIONS");
  }
  cors(env, res, false);
  return false;
}

/* The offer (or its prepare hook) failed with err: 400 bad_offer for LC_EINVAL, else as fail(). */
static void
offer_failed(lc__http_response *res, int err, char *why)
{
  if (err == LC_EINVAL && !why)
    why = g_strdup("the SDP offer cannot be served");
  if (err == LC_EINVAL)
    lc__http_error(res, 400, "bad_offer", why);
  else
    fail(res, err, why);
  g_free(why);
}

bool
lc__http_rtc_body(const lc__http_env *env, const lc__http_rtc_request *rq, const guint8 *body, size_t len,
                  lc_http_wait *wait, lc__http_response *res)
{
  char seg[3][MAX_SEGMENT];
  const char *kind = NULL;
  lc__http_rtc_route(rq->path, rq->path_len, &kind);
  int n = split_path(rq->path + 5, rq->path_len - 5, seg);
  const lc_http_rtc_ops *ops = env->opts.rtc;
  char *why = NULL;

  if (n == 3) { /* layer */
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *rung = obj ? json_string_value(json_object_get(obj, "rung")) : NULL;
    if (!rung) {
      lc__http_error(res, 400, "bad_request", "send {\"rung\": \"<name>\" | \"auto\"}");
    } else {
      int err = ops->layer ? ops->layer(seg[0], seg[1], strcmp(rung, "auto") == 0 ? NULL : rung, &why, env->opts.rtc_user)
                           : LC_ENOENT;
      if (err == 0)
        lc__http_json(res, 200, json_pack("{s:s}", "rung", rung));
      else
        fail(res, err, why);
    }
    json_decref(obj);
    g_free(why);
    return false;
  }
  if (memchr(body, '\0', len)) {
    lc__http_error(res, 400, "bad_offer", "the SDP offer contains a NUL byte");
    return false;
  }
  if (wait && ops->prepare && strcmp(kind, "whep") == 0) {
    int err = ops->prepare(kind, seg[0], wait, env->opts.rtc_user);
    if (err == LC_EAGAIN)
      return true; /* the room's media is on its way: the offer runs when it is there */
    if (err != 0) {
      offer_failed(res, err, NULL);
      return false;
    }
  }
  char *answer = NULL, *resource = NULL;
  int err = ops->offer(kind, seg[0], bearer(rq->authorization), (const char *)body, len, &answer, &resource, &why,
                       env->opts.rtc_user);
  if (err == LC_EPERM && strcmp(kind, "whip") == 0)
    lc__http_auth_failed(env, rq->peer, "wrong WHIP stream key");
  if (err != 0) {
    offer_failed(res, err, why);
    return false;
  }
  res->status = 201;
  res->content_type = SDP_TYPE;
  res->body = answer;
  res->body_len = strlen(answer);
  char *location = g_strdup_printf("/%s/%s/%s", kind, seg[0], resource);
  lc__http_header(res, "Location", location);
  lc__http_header(res, "Cache-Control", "no-store");
  g_free(location);
  g_free(resource);
  g_free(why);
  return false;
}

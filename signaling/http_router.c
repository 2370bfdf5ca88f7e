/* The HTTP route table and its method rules (http_internal.h, lc__http_dispatch_route): which
 * handler a path reaches, what OPTIONS answers, which methods get a 405 with Allow, and
 * the CORS headers of the routes that carry them. Pure: no libwebsockets, no I/O beyond
 * what the GET handlers themselves do; http.c calls it once per request and tested alone
 * in tests/unit/signaling/test_router.c. Main thread. */
#include "signaling/http_internal.h"

#include <string.h>

/* First match wins. */
static const lc__http_route routes[] = {
    {"/healthz", false, LC__HTTP_CORS_CONFIG, lc__http_healthz, NULL},
    {"/metrics", false, LC__HTTP_CORS_NONE, lc__http_metrics, NULL},
    {"/api/rooms", false, LC__HTTP_CORS_CONFIG, lc__http_rooms, NULL},
    {"/api/rooms/", true, LC__HTTP_CORS_CONFIG, lc__http_room, NULL},
    {"/api/payments/callback", false, LC__HTTP_CORS_NONE, NULL, NULL},
    {"/api/dev/token", false, LC__HTTP_CORS_NONE, NULL, lc__http_dev_token},
    {"/api/", true, LC__HTTP_CORS_CONFIG, lc__http_api_unknown, NULL},
    {"/api", false, LC__HTTP_CORS_CONFIG, lc__http_api_unknown, NULL},
    {"/hls/", true, LC__HTTP_CORS_ANY, lc__http_hls, NULL},
    {"/rec/", true, LC__HTTP_CORS_ANY, lc__http_rec, NULL},
    {"/r/", true, LC__HTTP_CORS_NONE, lc__http_room_page, NULL},
    {"/", true, LC__HTTP_CORS_NONE, lc__http_static, NULL},
};

static const char allow_get[] = "GET, HEAD, OPTIONS";
static const char allow_post[] = "POST, OPTIONS";

const lc__http_route *
lc__http_find_route(const char *path, size_t len)
{
  for (size_t i = 0; i < G_N_ELEMENTS(routes); i++) {
    size_t rl = strlen(routes[i].path);
    if (routes[i].prefix ? (len >= rl && memcmp(path, routes[i].path, rl) == 0)
                         : (len == rl && memcmp(path, routes[i].path, rl) == 0))
      return &routes[i];
  }
  return NULL;
}

static void
cors_headers(const lc__http_env *env, lc__http_cors cors, lc__http_response *res, bool preflight)
{
  const char *origin = cors == LC__HTTP_CORS_ANY ? "*" : env->opts.cors_origin;
  if (cors == LC__HTTP_CORS_NONE || !origin || !*origin)
    return;
  lc__http_header(res, "Access-Control-Allow-Origin", origin);
  if (strcmp(origin, "*") != 0)
    lc__http_header(res, "Vary", "Origin");
  if (preflight) {
    lc__http_header(res, "Access-Control-Allow-Methods", allow_get);
    /* media requests carry Range (players seek, CDNs fetch pieces), API calls a token */
    lc__http_header(res, "Access-Control-Allow-Headers",
                    cors == LC__HTTP_CORS_ANY ? "Range" : "Content-Type, Authorization");
    lc__http_header(res, "Access-Control-Max-Age", "600");
  } else if (cors == LC__HTTP_CORS_ANY) {
    /* a player reads the length and range of what it got (hls.js checks Content-Range) */
    lc__http_header(res, "Access-Control-Expose-Headers", "Content-Length, Content-Range");
  }
}

/* OPTIONS and wrong methods of a POST-only route; true when res holds that answer. */
static bool
post_only(int method, lc__http_response *res)
{
  if (method == LC__HTTP_OPTIONS) {
    res->status = 204;
    lc__http_header(res, "Allow", allow_post);
    return true;
  }
  if (method != LC__HTTP_POST) {
    lc__http_error(res, 405, "method_not_allowed", "only POST is allowed here");
    lc__http_header(res, "Allow", allow_post);
    return true;
  }
  return false;
}

lc__http_routed
lc__http_dispatch_route(const lc__http_env *env, int method, const lc__http_request *req, lc__http_response *res,
               const lc__http_route **route)
{
  const lc__http_route *r = lc__http_find_route(req->path, req->path_len);
  *route = r;
  if (!r) {
    lc__http_error(res, 400, "bad_request", "the path must start with /");
    return LC__HTTP_ROUTED_DONE;
  }
  if (r->post)
    return post_only(method, res) ? LC__HTTP_ROUTED_DONE : LC__HTTP_ROUTED_POST;
  if (!r->fn) { /* the payment callback */
    const lc_http_options *o = &env->opts;
    if (!o->payment || !o->payment_secret || !*o->payment_secret) {
      lc__http_error(res, 404, "not_found", "payment callbacks are not enabled");
      return LC__HTTP_ROUTED_DONE;
    }
    return post_only(method, res) ? LC__HTTP_ROUTED_DONE : LC__HTTP_ROUTED_PAYMENT;
  }
  if (method == LC__HTTP_OPTIONS) {
    res->status = 204;
    lc__http_header(res, "Allow", allow_get);
    cors_headers(env, r->cors, res, true);
    return LC__HTTP_ROUTED_DONE;
  }
  if (method != LC__HTTP_GET) { /* HEAD arrives as GET with req->head */
    lc__http_error(res, 405, "method_not_allowed", "only GET, HEAD and OPTIONS are allowed here");
    lc__http_header(res, "Allow", allow_get);
  } else {
    r->fn(env, req, res);
  }
  cors_headers(env, r->cors, res, false);
  return LC__HTTP_ROUTED_DONE;
}

/* Route handlers: /healthz, /metrics, /api/rooms, /api/rooms/{id} (with the live fields of
 * opts.room_fields), the web root, the room
 * page /r/{room}, the development sign-in /api/dev/token and the payment callback check.
 * They fill an lc__http_response; http.c writes it. Main thread only. */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "base/display_name.h"
#include "base/errors.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "base/metrics.h"
#include "rooms/rooms.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <string.h>

void
lc__http_header(lc__http_response *res, const char *name, const char *value)
{
  g_return_if_fail(res->n_headers < LC__HTTP_MAX_HEADERS);
  res->hname[res->n_headers] = name;
  res->hvalue[res->n_headers] = g_strdup(value);
  res->n_headers++;
}

void
lc__http_json(lc__http_response *res, int status, json_t *obj)
{
  char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(obj);
  if (!text)
    g_error("http: json_dumps failed (out of memory)");
  g_free(res->body);
  res->status = status;
  res->content_type = "application/json";
  /* jansson allocates with malloc: copy into GLib memory so one free function fits all. */
  res->body_len = strlen(text);
  res->body = g_strndup(text, res->body_len);
  free(text);
}

void
lc__http_error(lc__http_response *res, int status, const char *code, const char *message)
{
  lc__http_json(res, status,
                json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

void
lc__http_healthz(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  gint64 uptime = (g_get_monotonic_time() - env->started_us) / G_USEC_PER_SEC;
  json_t *obj = json_pack("{s:s,s:s,s:I}", "status", "ok", "version", LC_VERSION, "uptime_s",
                          (json_int_t)uptime);
  if (env->opts.health)
    env->opts.health(obj, env->opts.user);
  lc__http_header(res, "Cache-Control", "no-store");
  lc__http_json(res, 200, obj);
}

void
lc__http_metrics(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  if (!env->opts.metrics) {
    lc__http_error(res, 404, "not_found", "metrics are not enabled");
    return;
  }
  res->status = 200;
  res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  res->body = lc_metrics_render(env->opts.metrics);
  res->body_len = strlen(res->body);
  lc__http_header(res, "Cache-Control", "no-store");
}

/* The live fields of a room object: defaults, then whatever the daemon knows. */
static void
add_live_fields(const lc__http_env *env, json_t *room)
{
  const char *id = json_string_value(json_object_get(room, "id"));
  json_object_set_new(room, "stream", json_string("offline"));
  json_object_set_new(room, "viewers", json_integer(0));
  json_object_set_new(room, "renditions", json_array());
  if (id && env->opts.room_fields)
    env->opts.room_fields(id, room, env->opts.user);
}

void
lc__http_rooms(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  if (!env->opts.rooms) {
    lc__http_error(res, 503, "unavailable", "the room registry is not ready");
    return;
  }
  json_t *list = lc_rooms_list_json(env->opts.rooms);
  size_t i;
  json_t *room;
  json_array_foreach(list, i, room)
    add_live_fields(env, room);
  lc__http_header(res, "Cache-Control", "no-store");
  lc__http_json(res, 200, json_pack("{s:o}", "rooms", list));
}

void
lc__http_room(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  static const char prefix[] = "/api/rooms/";
  if (!env->opts.rooms) {
    lc__http_error(res, 503, "unavailable", "the room registry is not ready");
    return;
  }
  static const char replay[] = "/replay";
  size_t n = req->path_len - strlen(prefix);
  bool want_replay = n > strlen(replay) && memcmp(req->path + req->path_len - strlen(replay), replay,
                                                  strlen(replay)) == 0;
  if (want_replay)
    n -= strlen(replay);
  char *id = g_strndup(req->path + strlen(prefix), n);
  /* g_strndup stops at a NUL: a NUL inside the path makes the id differ in length. */
  if (strlen(id) != n || !lc_rooms_valid_id(id)) {
    lc__http_error(res, 400, lc_errcode(LC_EINVAL), "room id must be 1-64 characters of [a-z0-9_-]");
    goto done;
  }
  lc_room *room = lc_rooms_get(env->opts.rooms, id);
  if (!room) {
    lc__http_error(res, 404, lc_errcode(LC_ENOENT), "no such room");
    goto done;
  }
  lc__http_header(res, "Cache-Control", "no-store");
  if (want_replay) {
    int status = 404;
    json_t *body = env->opts.replay ? env->opts.replay(id, &status, env->opts.user) : NULL;
    if (body)
      lc__http_json(res, status, body);
    else
      lc__http_error(res, 404, lc_errcode(LC_ENOENT), "recording is not enabled");
    goto done;
  }
  json_t *obj = lc_room_to_json(room, false);
  add_live_fields(env, obj);
  lc__http_json(res, 200, json_pack("{s:o}", "room", obj));
done:
  g_free(id);
}

void
lc__http_api_unknown(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  lc__http_error(res, 404, "not_found", "no such API endpoint");
}

/* The pages' Content-Security-Policy: scripts, styles and connections from this origin
 * only (the show channel is a websocket to it, WHEP a fetch), video from WebRTC streams,
 * product images also from https CDNs. No frame-ancestors: a shop may embed the room. */
static const char page_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'";

/* Serves the file at path below the web root with `status` (200, or 404 for a page that
 * explains a missing room; a 200 may become a 206 or 416 for req's Range). Returns the
 * lc__static_open error. */
static int
serve_file(const lc__http_env *env, const lc__http_request *req, const char *path, size_t path_len, int status,
           lc__http_response *res)
{
  int fd = -1;
  gint64 size = 0;
  const char *mime = NULL;
  int err = lc__static_open(env->web_root_real, path, path_len, &fd, &size, &mime);
  if (err)
    return err;
  lc__static_respond(req, status, fd, size, mime, res);
  lc__http_header(res, "Cache-Control", "no-cache");
  if (g_str_has_prefix(mime, "text/html"))
    lc__http_header(res, "Content-Security-Policy", page_csp);
  return 0;
}

void
lc__http_static(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  int err = serve_file(env, req, req->path, req->path_len, 200, res);
  if (err == LC_EINVAL)
    lc__http_error(res, 400, "bad_request", "malformed path");
  else if (err)
    lc__http_error(res, 404, "not_found", "no such file");
}

void
lc__http_room_page(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  static const char prefix[] = "/r/", suffix[] = "/replay";
  size_t n = req->path_len - strlen(prefix);
  /* /r/{room}/replay: the page in replay mode (the recording, chapters) */
  bool replay = n > strlen(suffix) && memcmp(req->path + req->path_len - strlen(suffix), suffix, strlen(suffix)) == 0;
  if (replay)
    n -= strlen(suffix);
  const char *page = replay ? "/replay.html" : "/room.html";
  char *id = g_strndup(req->path + strlen(prefix), n);
  /* A NUL inside the path makes the copy shorter: not a valid id either. */
  bool known = strlen(id) == n && lc_rooms_valid_id(id) && (!env->opts.rooms || lc_rooms_get(env->opts.rooms, id));
  g_free(id);
  if (serve_file(env, req, page, strlen(page), known ? 200 : 404, res) != 0)
    lc__http_error(res, 404, "not_found", known ? "the room page is missing from the web root" : "no such room");
}

/* ---- development sign-in ---- */

#define DEV_TOKEN_TTL_S (24 * 3600)

void
lc__http_dev_token(const lc__http_env *env, const lc__http_request *req, const guint8 *body, size_t len,
                   lc__http_response *res)
{
  const char *secret = env->opts.dev_token_secret;
  json_t *obj = NULL, *claims = NULL;
  char *token = NULL, *sub = NULL;
  lc__http_header(res, "Cache-Control", "no-store");
  if (!secret || !*secret) {
    lc__http_error(res, 404, "not_found", "development sign-in is not enabled ([auth] dev_login)");
    goto done;
  }
  json_error_t jerr;
  obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!obj || !json_is_object(obj)) {
    lc__http_error(res, 400, "bad_request", "the body must be a JSON object {\"name\": ...}");
    goto done;
  }
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v)
  {
    if (strcmp(key, "name") != 0 && strcmp(key, "room") != 0) {
      char *msg = g_strdup_printf("unknown field \"%.64s\"", key);
      lc__http_error(res, 400, "invalid_argument", msg);
      g_free(msg);
      goto done;
    }
  }
  const char *name = json_string_value(json_object_get(obj, "name")), *why = NULL;
  /* the display-name rules (base/display_name.h): characters, not bytes; no bidi or zero-width */
  if (lc_display_name_check(name, json_string_length(json_object_get(obj, "name")), &why) != 0) {
    lc__http_error(res, 400, "invalid_argument", why);
    goto done;
  }
  json_t *room = json_object_get(obj, "room");
  if (room && !json_is_null(room) && (!json_is_string(room) || !lc_rooms_valid_id(json_string_value(room)))) {
    lc__http_error(res, 400, "invalid_argument", "room must be 1-64 characters of [a-z0-9_-]");
    goto done;
  }
  /* The same name is the same user (a development sign-in has no password): the id is
   * derived from the name so that signing in again finds the same cart and orders. */
  char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);
  sub = g_strdup_printf("dev-%.16s", hash);
  g_free(hash);
  gint64 now_s = g_get_real_time() / G_USEC_PER_SEC;
  claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "name", name, "iat", (json_int_t)now_s, "exp",
                     (json_int_t)(now_s + DEV_TOKEN_TTL_S));
  if (json_is_string(room))
    json_object_set(claims, "room", room);
  token = lc_jwt_mint(secret, strlen(secret), claims);
  if (!token) {
    lc__http_error(res, 500, "internal_error", "cannot sign the token");
    goto done;
  }
  LC_INFO(json_string_value(room), NULL, "development sign-in: %s", sub);
  lc__http_json(res, 200, json_pack("{s:s, s:{s:s, s:s}, s:I}", "token", token, "user", "id", sub, "name", name,
                                    "expires_at", (json_int_t)(now_s + DEV_TOKEN_TTL_S) * 1000));
done:
  g_free(token);
  g_free(sub);
  json_decref(claims);
  json_decref(obj);
}

/* ---- per-address limits ---- */

void
lc__http_throttled(lc__http_response *res, gint64 wait_us, const char *message)
{
  char secs[24];
  g_snprintf(secs, sizeof secs, "%" G_GINT64_FORMAT, MAX(1, (wait_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC));
  lc__http_error(res, 429, "too_many_requests", message);
  lc__http_header(res, "Retry-After", secs);
  lc__http_header(res, "Cache-Control", "no-store");
}

bool
lc__http_auth_locked(const lc__http_env *env, const lc_ipaddr *peer, const char *action, lc__http_response *res)
{
  gint64 now = g_get_monotonic_time();
  gint64 wait = lc_ipguard_check(env->opts.auth_guard, peer, now);
  if (wait <= 0)
    return false;
  gint64 secs = MAX(1, (wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  char *msg = g_strdup_printf("too many failed credentials from your address: retry in %" G_GINT64_FORMAT " s", secs);
  char *line = g_strdup_printf("%s refused (429): %s", action, msg);
  lc_ipguard_log_refusal(env->opts.auth_guard, peer, now, NULL, line);
  lc__http_throttled(res, wait, msg);
  g_free(line);
  g_free(msg);
  return true;
}

void
lc__http_auth_failed(const lc__http_env *env, const lc_ipaddr *peer, const char *what)
{
  gint64 lock = lc_ipguard_hit(env->opts.auth_guard, peer, g_get_monotonic_time());
  char ip[LC_IPADDR_STRLEN];
  if (lock > 0)
    LC_WARN(NULL, NULL, "%s: too many failed credentials within a minute (the last: %s): its WHIP offers and "
            "payment callbacks are refused for %" G_GINT64_FORMAT " s (limits.auth_failures_per_min)",
            lc_ipaddr_key_str(peer, ip), what, lock / G_USEC_PER_SEC);
}

/* ---- payment callback ---- */

#define PAYMENT_WINDOW_MS (5 * 60 * 1000) /* accepted distance of "ts" from server time */

/* Parses "sha256=<64 hex>" into 32 bytes; false when malformed. */
static bool
parse_signature(const char *sig, unsigned char out[32])
{
  static const char prefix[] = "sha256=";
  if (!sig || g_ascii_strncasecmp(sig, prefix, strlen(prefix)) != 0)
    return false;
  const char *hex = sig + strlen(prefix);
  if (strlen(hex) != 64)
    return false;
  for (int i = 0; i < 32; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return true;
}

static bool
optional_string(json_t *obj, const char *key)
{
  json_t *v = json_object_get(obj, key);
  return !v || json_is_string(v);
}

json_t *
lc__http_payment_check(const lc__http_env *env, const lc_ipaddr *peer, const char *signature, const guint8 *body,
                       size_t len, lc__http_response *res)
{
  const char *secret = env->opts.payment_secret;
  unsigned char want[32], mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  json_t *obj = NULL;

  /* A locked-out address is refused before its signature is looked at. */
  if (lc__http_auth_locked(env, peer, "payment callback", res))
    return NULL;
  /* Authenticate before parsing: unsigned input never reaches the JSON parser. */
  if (!parse_signature(signature, want)) {
    lc__http_auth_failed(env, peer, "malformed payment signature");
    lc__http_error(res, 401, "unauthorized", "missing or malformed X-Livecart-Signature (sha256=<hex>)");
    goto fail;
  }
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &mac_len) || mac_len != 32) {
    LC_ERROR(NULL, NULL, "HMAC-SHA256 failed");
    lc__http_error(res, 500, "internal_error", "cannot check the signature");
    goto fail;
  }
  if (CRYPTO_memcmp(mac, want, 32) != 0) {
    lc__http_auth_failed(env, peer, "bad payment signature");
    lc__http_error(res, 401, "unauthorized", "bad signature");
    goto fail;
  }
  json_error_t jerr;
  obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!obj || !json_is_object(obj)) {
    lc__http_error(res, 400, "bad_request", "the body must be a JSON object");
    goto fail;
  }
  const char *status = json_string_value(json_object_get(obj, "status"));
  if (!json_is_string(json_object_get(obj, "room")) || !json_is_string(json_object_get(obj, "order_id")) ||
      !optional_string(obj, "payment_ref")) {
    lc__http_error(res, 400, "bad_request", "room and order_id must be strings, payment_ref a string if present");
    goto fail;
  }
  if (!status || (strcmp(status, "paid") != 0 && strcmp(status, "cancelled") != 0)) {
    lc__http_error(res, 400, "bad_request", "status must be \"paid\" or \"cancelled\"");
    goto fail;
  }
  json_t *ts = json_object_get(obj, "ts");
  if (!json_is_integer(ts)) {
    lc__http_error(res, 400, "bad_request", "ts must be an integer (milliseconds since the epoch)");
    goto fail;
  }
  gint64 now_ms = g_get_real_time() / 1000;
  json_int_t t = json_integer_value(ts);
  if (t < now_ms - PAYMENT_WINDOW_MS || t > now_ms + PAYMENT_WINDOW_MS) {
    lc__http_error(res, 401, "stale", "ts is more than 5 minutes away from server time");
    goto fail;
  }
  return obj;

fail:
  json_decref(obj);
  lc__http_header(res, "Cache-Control", "no-store");
  return NULL;
}

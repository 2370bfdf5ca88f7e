/* Unit tests for signaling/http_router.c: which route a path reaches (first match, exact
 * vs prefix), the method rules (OPTIONS 204 with Allow, 405 with Allow, HEAD as GET), the
 * payment callback's 404 while disabled, and the CORS headers. No libwebsockets context:
 * the router is called as http.c calls it, with a decoded path. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "signaling/http_internal.h"

typedef struct {
  lc__http_env env;
  char *root; /* temporary web root with index.html and room.html */
} fixture;

static void
fx_setup(fixture *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
  GError *err = NULL;
  f->root = g_dir_make_tmp("lc-router-XXXXXX", &err);
  g_assert_no_error(err);
  char *p = g_build_filename(f->root, "index.html", NULL);
  g_assert_true(g_file_set_contents(p, "<p>index</p>", -1, NULL));
  g_free(p);
  p = g_build_filename(f->root, "room.html", NULL);
  g_assert_true(g_file_set_contents(p, "<p>room</p>", -1, NULL));
  g_free(p);
  f->env.web_root_real = f->root;
  f->env.opts.web_root = f->root;
  f->env.opts.cors_origin = "";
  f->env.started_us = g_get_monotonic_time();
}

static void
fx_teardown(fixture *f, gconstpointer data)
{
  (void)data;
  for (const char *const *n = (const char *const[]){"index.html", "room.html", NULL}; *n; n++) {
    char *p = g_build_filename(f->root, *n, NULL);
    g_unlink(p);
    g_free(p);
  }
  g_rmdir(f->root);
  g_free(f->root);
}

static const char *
header(const lc__http_response *res, const char *name)
{
  for (int i = 0; i < res->n_headers; i++)
    if (g_ascii_strcasecmp(res->hname[i], name) == 0)
      return res->hvalue[i];
  return NULL;
}

/* Routes method + path; res must be freed with lc__http_response_clear. */
static lc__http_routed
route(fixture *f, int method, bool head, const char *path, lc__http_response *res,
      const lc__http_route **r)
{
  static const char *const names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE", "OTHER"};
  lc__http_request req = {
      .method = head ? "HEAD" : names[method],
      .head = head,
      .path = path,
      .path_len = strlen(path),
  };
  memset(res, 0, sizeof *res);
  return lc__http_dispatch_route(&f->env, method, &req, res, r);
}

/* The JSON error code of res, or NULL. */
static char *
error_code(const lc__http_response *res)
{
  if (!res->body)
    return NULL;
  json_t *obj = json_loadb(res->body, res->body_len, 0, NULL);
  const char *code = json_string_value(json_object_get(json_object_get(obj, "error"), "code"));
  char *out = g_strdup(code);
  json_decref(obj);
  return out;
}

static void
assert_error(const lc__http_response *res, int status, const char *code)
{
  g_assert_cmpint(res->status, ==, status);
  g_assert_cmpstr(res->content_type, ==, "application/json");
  char *got = error_code(res);
  g_assert_cmpstr(got, ==, code);
  g_free(got);
}

static void
test_match_table(void)
{
  static const struct {
    const char *path;
    lc__http_get_fn fn;
    lc__http_post_fn post;
  } cases[] = {
      {"/healthz", lc__http_healthz, NULL},
      {"/metrics", lc__http_metrics, NULL},
      {"/api/rooms", lc__http_rooms, NULL},
      {"/api/rooms/", lc__http_room, NULL},
      {"/api/rooms/demo", lc__http_room, NULL},
      {"/api/payments/callback", NULL, NULL},
      {"/api/dev/token", NULL, lc__http_dev_token},
      {"/api", lc__http_api_unknown, NULL},
      {"/api/", lc__http_api_unknown, NULL},
      {"/api/roomsx", lc__http_api_unknown, NULL},       /* not /api/rooms: exact only */
      {"/api/payments/callback/x", lc__http_api_unknown, NULL},
      {"/api/dev/token/", lc__http_api_unknown, NULL},
      {"/apix", lc__http_static, NULL},                  /* /api is exact, /api/ a prefix */
      {"/healthz/", lc__http_static, NULL},
      {"/healthzx", lc__http_static, NULL},
      {"/metrics.txt", lc__http_static, NULL},
      {"/hls/demo/master.m3u8", lc__http_hls, NULL},
      {"/hls/", lc__http_hls, NULL},
      {"/hls", lc__http_static, NULL},                   /* /hls/ is a prefix with its slash */
      {"/hlsx/a.ts", lc__http_static, NULL},
      {"/r/demo", lc__http_room_page, NULL},
      {"/r/", lc__http_room_page, NULL},
      {"/r", lc__http_static, NULL},
      {"/", lc__http_static, NULL},
      {"/app.mjs", lc__http_static, NULL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("%s", cases[i].path);
    const lc__http_route *r = lc__http_find_route(cases[i].path, strlen(cases[i].path));
    g_assert_nonnull(r);
    g_assert_true(r->fn == cases[i].fn);
    g_assert_true(r->post == cases[i].post);
  }
  /* A path is matched by its length, not up to a NUL: "/healthz\0x" is not /healthz. */
  const lc__http_route *r = lc__http_find_route("/healthz\0x", 10);
  g_assert_true(r->fn == lc__http_static);
  g_assert_null(lc__http_find_route("", 0));
  g_assert_null(lc__http_find_route("*", 1));
  g_assert_null(lc__http_find_route("healthz", 7));
}

static void
test_no_route_is_400(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r = (const lc__http_route *)&res; /* must be overwritten */
  g_assert_cmpint(route(f, LC__HTTP_OPTIONS, false, "*", &res, &r), ==, LC__HTTP_ROUTED_DONE);
  g_assert_null(r);
  assert_error(&res, 400, "bad_request");
  lc__http_response_clear(&res);
}

static void
test_get_routes_method_rules(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  static const char *const paths[] = {"/healthz", "/metrics", "/api/rooms", "/api/rooms/x", "/api/nope",
                                      "/r/demo", "/", "/index.html", "/hls/demo/master.m3u8"};
  static const int refused[] = {LC__HTTP_POST, LC__HTTP_PUT, LC__HTTP_PATCH, LC__HTTP_DELETE, LC__HTTP_OTHER};
  for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
    for (size_t j = 0; j < G_N_ELEMENTS(refused); j++) {
      g_test_message("%s method %d", paths[i], refused[j]);
      g_assert_cmpint(route(f, refused[j], false, paths[i], &res, &r), ==, LC__HTTP_ROUTED_DONE);
      assert_error(&res, 405, "method_not_allowed");
      g_assert_cmpstr(header(&res, "Allow"), ==, "GET, HEAD, OPTIONS");
      lc__http_response_clear(&res);
    }
    g_assert_cmpint(route(f, LC__HTTP_OPTIONS, false, paths[i], &res, &r), ==, LC__HTTP_ROUTED_DONE);
    g_assert_cmpint(res.status, ==, 204);
    g_assert_null(res.body);
    g_assert_cmpstr(header(&res, "Allow"), ==, "GET, HEAD, OPTIONS");
    lc__http_response_clear(&res);
  }
}

static void
test_get_and_head(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  /* HEAD runs the GET handler: same status, type and length (http.c leaves the body out) */
  gint64 size_get = -1;
  for (int head = 0; head <= 1; head++) {
    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/index.html", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    g_assert_true(r->fn == lc__http_static);
    g_assert_cmpint(res.status, ==, 200);
    g_assert_true(res.has_fd);
    g_assert_cmpstr(res.content_type, ==, "text/html; charset=utf-8");
    if (head)
      g_assert_cmpint(res.file_size, ==, size_get);
    size_get = res.file_size;
    lc__http_response_clear(&res);

    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/healthz", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    g_assert_cmpint(res.status, ==, 200);
    g_assert_cmpstr(res.content_type, ==, "application/json");
    g_assert_nonnull(strstr(res.body, "\"status\":\"ok\""));
    lc__http_response_clear(&res);

    /* handlers answer their own errors through the router unchanged */
    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/metrics", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    assert_error(&res, 404, "not_found"); /* no metrics registry in this env */
    lc__http_response_clear(&res);
    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/api/rooms", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    assert_error(&res, 503, "unavailable"); /* no room registry */
    lc__http_response_clear(&res);
    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/api/other", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    assert_error(&res, 404, "not_found");
    lc__http_response_clear(&res);
    g_assert_cmpint(route(f, LC__HTTP_GET, head, "/missing.html", &res, &r), ==, LC__HTTP_ROUTED_DONE);
    assert_error(&res, 404, "not_found");
    lc__http_response_clear(&res);
  }
  g_assert_cmpint(size_get, ==, (gint64)strlen("<p>index</p>"));
}

static void
test_post_route(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  g_assert_cmpint(route(f, LC__HTTP_POST, false, "/api/dev/token", &res, &r), ==, LC__HTTP_ROUTED_POST);
  g_assert_true(r->post == lc__http_dev_token);
  g_assert_cmpint(res.status, ==, 0); /* nothing answered yet: the body comes first */
  g_assert_cmpint(res.n_headers, ==, 0);
  lc__http_response_clear(&res);

  g_assert_cmpint(route(f, LC__HTTP_OPTIONS, false, "/api/dev/token", &res, &r), ==, LC__HTTP_ROUTED_DONE);
  g_assert_cmpint(res.status, ==, 204);
  g_assert_cmpstr(header(&res, "Allow"), ==, "POST, OPTIONS");
  lc__http_response_clear(&res);

  static const int refused[] = {LC__HTTP_GET, LC__HTTP_PUT, LC__HTTP_PATCH, LC__HTTP_DELETE, LC__HTTP_OTHER};
  for (size_t j = 0; j < G_N_ELEMENTS(refused); j++)
    for (int head = 0; head <= (refused[j] == LC__HTTP_GET); head++) {
      g_assert_cmpint(route(f, refused[j], head, "/api/dev/token", &res, &r), ==, LC__HTTP_ROUTED_DONE);
      assert_error(&res, 405, "method_not_allowed");
      g_assert_cmpstr(header(&res, "Allow"), ==, "POST, OPTIONS");
      lc__http_response_clear(&res);
    }
}

static void
fake_payment(const json_t *body, lc_http_pending *p, gpointer user)
{
  (void)body, (void)p, (void)user;
  g_assert_not_reached();
}

static void
test_payment_route(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  static const int methods[] = {LC__HTTP_GET, LC__HTTP_POST, LC__HTTP_OPTIONS, LC__HTTP_DELETE};
  /* disabled (no hook, no secret, or an empty secret): 404 whatever the method */
  for (int setup = 0; setup < 3; setup++) {
    f->env.opts.payment = setup == 0 ? NULL : fake_payment;
    f->env.opts.payment_secret = setup == 0 ? "s" : setup == 1 ? NULL : "";
    for (size_t j = 0; j < G_N_ELEMENTS(methods); j++) {
      g_assert_cmpint(route(f, methods[j], false, "/api/payments/callback", &res, &r), ==, LC__HTTP_ROUTED_DONE);
      assert_error(&res, 404, "not_found");
      lc__http_response_clear(&res);
    }
  }
  f->env.opts.payment = fake_payment;
  f->env.opts.payment_secret = "secret";
  g_assert_cmpint(route(f, LC__HTTP_POST, false, "/api/payments/callback", &res, &r), ==, LC__HTTP_ROUTED_PAYMENT);
  g_assert_cmpint(res.status, ==, 0);
  lc__http_response_clear(&res);
  g_assert_cmpint(route(f, LC__HTTP_OPTIONS, false, "/api/payments/callback", &res, &r), ==, LC__HTTP_ROUTED_DONE);
  g_assert_cmpint(res.status, ==, 204);
  g_assert_cmpstr(header(&res, "Allow"), ==, "POST, OPTIONS");
  lc__http_response_clear(&res);
  g_assert_cmpint(route(f, LC__HTTP_GET, true, "/api/payments/callback", &res, &r), ==, LC__HTTP_ROUTED_DONE);
  assert_error(&res, 405, "method_not_allowed");
  g_assert_cmpstr(header(&res, "Allow"), ==, "POST, OPTIONS");
  lc__http_response_clear(&res);
}

static void
test_cors(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  /* none configured: no CORS header anywhere */
  route(f, LC__HTTP_GET, false, "/healthz", &res, &r);
  g_assert_null(header(&res, "Access-Control-Allow-Origin"));
  lc__http_response_clear(&res);

  f->env.opts.cors_origin = "https://shop.example";
  route(f, LC__HTTP_GET, false, "/healthz", &res, &r);
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "https://shop.example");
  g_assert_cmpstr(header(&res, "Vary"), ==, "Origin");
  g_assert_null(header(&res, "Access-Control-Allow-Methods")); /* preflight only */
  lc__http_response_clear(&res);
  /* errors of a cors route carry it too, so the browser can read them */
  route(f, LC__HTTP_DELETE, false, "/api/rooms", &res, &r);
  g_assert_cmpint(res.status, ==, 405);
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "https://shop.example");
  lc__http_response_clear(&res);
  /* preflight: the allowed methods and headers */
  route(f, LC__HTTP_OPTIONS, false, "/api/rooms/demo", &res, &r);
  g_assert_cmpint(res.status, ==, 204);
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "https://shop.example");
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Methods"), ==, "GET, HEAD, OPTIONS");
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Headers"), ==, "Content-Type, Authorization");
  g_assert_cmpstr(header(&res, "Access-Control-Max-Age"), ==, "600");
  lc__http_response_clear(&res);
  /* routes without cors: static files, metrics, the POST routes */
  static const char *const plain[] = {"/", "/metrics", "/r/demo", "/api/dev/token", "/api/payments/callback"};
  for (size_t i = 0; i < G_N_ELEMENTS(plain); i++) {
    for (int m = LC__HTTP_GET; m <= LC__HTTP_OPTIONS; m++) {
      route(f, m, false, plain[i], &res, &r);
      g_assert_null(header(&res, "Access-Control-Allow-Origin"));
      lc__http_response_clear(&res);
    }
  }
  /* "*": no Vary */
  f->env.opts.cors_origin = "*";
  route(f, LC__HTTP_GET, false, "/api/x", &res, &r);
  g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "*");
  g_assert_null(header(&res, "Vary"));
  lc__http_response_clear(&res);
}

/* /hls/ is public media: "*" whatever cors_origin says, the length and range exposed, Range
 * allowed in a preflight; its answers without an HLS root are 404 (with CORS). */
static void
test_hls_cors(fixture *f, gconstpointer data)
{
  (void)data;
  lc__http_response res;
  const lc__http_route *r;
  static const char *const origins[] = {"", "https://shop.example"};
  for (size_t i = 0; i < G_N_ELEMENTS(origins); i++) {
    f->env.opts.cors_origin = origins[i];
    for (int head = 0; head <= 1; head++) {
      route(f, LC__HTTP_GET, head, "/hls/demo/master.m3u8", &res, &r);
      assert_error(&res, 404, "not_found"); /* no hls_root */
      g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "*");
      g_assert_cmpstr(header(&res, "Access-Control-Expose-Headers"), ==, "Content-Length, Content-Range");
      g_assert_null(header(&res, "Vary"));
      g_assert_null(header(&res, "Access-Control-Allow-Methods"));
      lc__http_response_clear(&res);
    }
    route(f, LC__HTTP_OPTIONS, false, "/hls/demo/360p/1-2.ts", &res, &r);
    g_assert_cmpint(res.status, ==, 204);
    g_assert_cmpstr(header(&res, "Allow"), ==, "GET, HEAD, OPTIONS");
    g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "*");
    g_assert_cmpstr(header(&res, "Access-Control-Allow-Methods"), ==, "GET, HEAD, OPTIONS");
    g_assert_cmpstr(header(&res, "Access-Control-Allow-Headers"), ==, "Range");
    g_assert_cmpstr(header(&res, "Access-Control-Max-Age"), ==, "600");
    lc__http_response_clear(&res);
    route(f, LC__HTTP_DELETE, false, "/hls/demo/master.m3u8", &res, &r);
    assert_error(&res, 405, "method_not_allowed");
    g_assert_cmpstr(header(&res, "Access-Control-Allow-Origin"), ==, "*");
    lc__http_response_clear(&res);
  }
  /* an empty hls_root is off too, even with the folder there */
  f->env.opts.hls_root = "";
  f->env.hls_root_real = f->root;
  route(f, LC__HTTP_GET, false, "/hls/index.html", &res, &r);
  assert_error(&res, 404, "not_found");
  lc__http_response_clear(&res);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/router/match", test_match_table);
#define ADD(name, fn) g_test_add("/router/" name, fixture, NULL, fx_setup, fn, fx_teardown)
  ADD("no-route", test_no_route_is_400);
  ADD("get/methods", test_get_routes_method_rules);
  ADD("get/head", test_get_and_head);
  ADD("post", test_post_route);
  ADD("payment", test_payment_route);
  ADD("cors", test_cors);
  ADD("hls-cors", test_hls_cors);
  return g_test_run();
}

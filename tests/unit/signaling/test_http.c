/* Unit tests for signaling/http.c over real sockets: a server on 127.0.0.1 (port 0) with fake
 * WebRTC hooks, driven by raw HTTP/1.1 clients on the same main loop (nothing blocks it: the
 * request is sent before the loop runs, the answer read from an fd watch). Covers a WHEP offer
 * that waits for its room's media (lc_http_rtc_ops.prepare + lc_http_wait_done): the answer once
 * the wait ends, with the offer's bytes unchanged; the wait ended inside prepare; a client that
 * goes while waiting; the server freed while waiting; prepare refusing (404); the 504 after
 * LC__HTTP_WAIT_TIMEOUT_S; WHIP never waits. Every wait is on an event with a deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/errors.h"
#include "signaling/http_internal.h"

#define DEADLINE_MS 20000
#define OFFER "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" \
              "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=recvonly\r\na=rtpmap:102 H264/90000\r\n"
#define ANSWER "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=fake answer\r\nt=0 0\r\n"

typedef enum {
  PREP_NOW,         /* prepare returns 0: the offer runs at once */
  PREP_WAIT,        /* keeps the wait, LC_EAGAIN */
  PREP_DONE_INSIDE, /* calls lc_http_wait_done itself, then LC_EAGAIN */
  PREP_ENOENT,      /* LC_ENOENT */
} prep_mode;

typedef struct {
  GMainLoop *loop;
  lc_http *http;
  int port;
  lc_http_rtc_ops ops;
  prep_mode mode;
  lc_http_wait *wait;  /* kept by prepare (PREP_WAIT) */
  int prepares, offers;
  char *prep_kind, *prep_room;
  GBytes *offer_body;  /* what the offer hook was given */
  int offers_at_done;  /* offers counted when the test ended the wait */
} fixture;

/* ---- fake hooks ---- */

static int
fake_prepare(const char *kind, const char *room, lc_http_wait *wait, gpointer user)
{
  fixture *f = user;
  f->prepares++;
  g_free(f->prep_kind);
  g_free(f->prep_room);
  f->prep_kind = g_strdup(kind);
  f->prep_room = g_strdup(room);
  switch (f->mode) {
  case PREP_NOW:
    return 0;
  case PREP_WAIT:
    f->wait = wait;
    return LC_EAGAIN;
  case PREP_DONE_INSIDE:
    lc_http_wait_done(wait);
    g_assert_cmpint(f->offers, ==, 0); /* the offer runs after prepare has returned */
    return LC_EAGAIN;
  case PREP_ENOENT:
    return LC_ENOENT;
  }
  return LC_EINVAL;
}

static int
fake_offer(const char *kind, const char *room, const char *bearer, const char *sdp, size_t len, char **answer,
           char **resource, char **why, gpointer user)
{
  fixture *f = user;
  (void)kind, (void)room, (void)bearer, (void)why;
  f->offers++;
  if (f->offer_body)
    g_bytes_unref(f->offer_body);
  f->offer_body = g_bytes_new(sdp, len);
  *answer = g_strdup(ANSWER);
  *resource = g_strdup("sess1");
  return 0;
}

static int
fake_remove(const char *kind, const char *room, const char *resource, gpointer user)
{
  (void)kind, (void)room, (void)resource, (void)user;
  return LC_ENOENT;
}

static void
fx_setup(fixture *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
  f->loop = g_main_loop_new(NULL, FALSE);
  f->ops = (lc_http_rtc_ops){fake_offer, fake_remove, NULL, fake_prepare};
  lc_http_options o = {
      .bind = "127.0.0.1",
      .port = 0,
      .web_root = g_get_tmp_dir(),
      .max_body = 65536,
      .max_uri = 2048,
      .cors_origin = "*",
      .rtc = &f->ops,
      .rtc_user = f,
  };
  char *err = NULL;
  f->http = lc_http_new(&o, f->loop, &err);
  g_assert_null(err);
  g_assert_nonnull(f->http);
  f->port = lc__http_port(f->http);
  g_assert_cmpint(f->port, >, 0);
}

static void
fx_teardown(fixture *f, gconstpointer data)
{
  (void)data;
  lc_http_free(f->http);
  while (g_main_context_iteration(NULL, FALSE))
    ; /* sources lws left to run */
  g_main_loop_unref(f->loop);
  g_free(f->prep_kind);
  g_free(f->prep_room);
  if (f->offer_body)
    g_bytes_unref(f->offer_body);
}

/* ---- waiting on events ---- */

static gboolean
expire(gpointer data)
{
  *(bool *)data = true;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until cond(data) holds or ms pass; returns whether it holds. */
static bool
run_until(bool (*cond)(gpointer), gpointer data, int ms)
{
  bool expired = false;
  guint t = g_timeout_add(ms, expire, &expired);
  while (!cond(data) && !expired)
    g_main_context_iteration(NULL, TRUE);
  if (!expired)
    g_source_remove(t);
  return cond(data);
}

/* ---- a raw HTTP client on the main loop ---- */

typedef struct {
  int fd;
  guint watch;
  GString *in; /* what the server sent */
  bool eof;    /* the server closed the connection */
} client;

static gboolean
client_readable(gint fd, GIOCondition cond, gpointer data)
{
  client *c = data;
  char buf[4096];
  (void)cond;
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n > 0) {
    g_string_append_len(c->in, buf, n);
    return G_SOURCE_CONTINUE;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  c->eof = true;
  c->watch = 0;
  return G_SOURCE_REMOVE;
}

/* Connects and sends a POST of body to path (the kernel takes both before the server runs). */
static client *
client_post(fixture *f, const char *path, const char *extra_headers, const char *body)
{
  client *c = g_new0(client, 1);
  c->in = g_string_new(NULL);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(c->fd, >=, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g_assert_cmpint(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
  char *req = g_strdup_printf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sdp\r\n"
                              "%sContent-Length: %zu\r\n\r\n%s",
                              path, extra_headers ? extra_headers : "", strlen(body), body);
  size_t len = strlen(req), off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
    g_assert_cmpint(n, >, 0);
    off += (size_t)n;
  }
  g_free(req);
  c->watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
  return c;
}

static void
client_free(client *c)
{
  if (c->watch)
    g_source_remove(c->watch);
  if (c->fd >= 0)
    close(c->fd);
  g_string_free(c->in, TRUE);
  g_free(c);
}

static bool
client_done(gpointer data)
{
  return ((client *)data)->eof;
}

/* The status of the answer c got (the server closes after an offer's answer). */
static int
status_of(const client *c)
{
  g_assert_true(g_str_has_prefix(c->in->str, "HTTP/1.1 "));
  return atoi(c->in->str + 9);
}

/* A header's value (transfer full), or NULL. */
static char *
header_of(const client *c, const char *name)
{
  const char *end = strstr(c->in->str, "\r\n\r\n");
  g_assert_nonnull(end);
  char *head = g_strndup(c->in->str, (gsize)(end - c->in->str));
  char **lines = g_strsplit(head, "\r\n", -1);
  char *value = NULL;
  size_t nl = strlen(name);
  for (char **l = lines + 1; *l && !value; l++)
    if (g_ascii_strncasecmp(*l, name, nl) == 0 && (*l)[nl] == ':')
      value = g_strstrip(g_strdup(*l + nl + 1));
  g_strfreev(lines);
  g_free(head);
  return value;
}

static const char *
body_of(const client *c)
{
  const char *end = strstr(c->in->str, "\r\n\r\n");
  g_assert_nonnull(end);
  return end + 4;
}

static void
assert_header(const client *c, const char *name, const char *want)
{
  char *v = header_of(c, name);
  g_assert_cmpstr(v, ==, want);
  g_free(v);
}

/* c got the 201 of the fake offer hook, for an offer of OFFER. */
static void
assert_answered(fixture *f, const client *c)
{
  g_assert_cmpint(status_of(c), ==, 201);
  g_assert_cmpstr(body_of(c), ==, ANSWER);
  assert_header(c, "Content-Type", "application/sdp");
  assert_header(c, "Location", "/whep/room1/sess1");
  assert_header(c, "Cache-Control", "no-store");
  assert_header(c, "Access-Control-Allow-Origin", "*");
  g_assert_cmpint(f->offers, ==, 1);
  g_assert_nonnull(f->offer_body);
  gsize n = 0;
  const char *seen = g_bytes_get_data(f->offer_body, &n);
  g_assert_cmpmem(seen, n, OFFER, strlen(OFFER));
}

static bool
prepared(gpointer data)
{
  return ((fixture *)data)->prepares > 0;
}

static bool
no_connections(gpointer data)
{
  return lc_http_connections(((fixture *)data)->http) == 0;
}

/* ---- tests ---- */

/* Posts OFFER to path with prepare in mode (the request is in the kernel when this returns). */
static client *
post_offer(fixture *f, prep_mode mode, const char *path, const char *headers)
{
  f->mode = mode;
  return client_post(f, path, headers, OFFER);
}

/* Posts OFFER to /whep/room1 and runs until prepare has kept its wait. */
static client *
offer_waiting(fixture *f)
{
  client *c = post_offer(f, PREP_WAIT, "/whep/room1", NULL);
  g_assert_true(run_until(prepared, f, DEADLINE_MS));
  g_assert_nonnull(f->wait);
  return c;
}

/* Posts OFFER and runs until the server has answered and closed (offers are answered with
 * Connection: close). */
static client *
offer_answered(fixture *f, prep_mode mode, const char *path, const char *headers, int deadline_ms)
{
  client *c = post_offer(f, mode, path, headers);
  g_assert_true(run_until(client_done, c, deadline_ms));
  return c;
}

/* Ends a wait whose connection is gone: only frees it, the offer never runs. */
static void
end_orphaned_wait(fixture *f)
{
  lc_http_wait_done(f->wait);
  f->wait = NULL;
  g_assert_cmpint(f->offers, ==, 0);
}

/* c got status with {"error":{"code": code}}. */
static void
assert_error(const client *c, int status, const char *code)
{
  g_assert_cmpint(status_of(c), ==, status);
  json_t *obj = json_loads(body_of(c), 0, NULL);
  g_assert_nonnull(obj);
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(obj, "error"), "code")), ==, code);
  json_decref(obj);
}

static gboolean
end_wait(gpointer data)
{
  fixture *f = data;
  f->offers_at_done = f->offers;
  lc_http_wait_done(f->wait);
  return G_SOURCE_REMOVE;
}

/* prepare keeps the wait; ~50 ms later the media is there: the offer runs with the bytes the
 * client sent and the client gets exactly the answer a direct offer gets. */
static void
test_wait_then_offer(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_waiting(f);
  g_assert_cmpstr(f->prep_kind, ==, "whep");
  g_assert_cmpstr(f->prep_room, ==, "room1");
  g_timeout_add(50, end_wait, f);
  g_assert_true(run_until(client_done, c, DEADLINE_MS));
  g_assert_cmpint(f->offers_at_done, ==, 0); /* nothing ran before the wait ended */
  assert_answered(f, c);
  g_assert_cmpint(f->prepares, ==, 1);
  client_free(c);
}

/* prepare returns 0: no wait, the same answer. */
static void
test_prepare_now(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_answered(f, PREP_NOW, "/whep/room1", NULL, DEADLINE_MS);
  g_assert_cmpint(f->prepares, ==, 1);
  assert_answered(f, c);
  client_free(c);
}

/* lc_http_wait_done inside prepare: the offer runs once prepare has returned. */
static void
test_done_inside_prepare(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_answered(f, PREP_DONE_INSIDE, "/whep/room1", NULL, DEADLINE_MS);
  assert_answered(f, c);
  client_free(c);
}

/* The client goes while its offer waits: the server forgets the connection, and the late
 * lc_http_wait_done only frees the wait (ASan: no use after free, no leak). */
static void
test_client_gone(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_waiting(f);
  g_source_remove(c->watch);
  c->watch = 0;
  close(c->fd);
  c->fd = -1;
  g_assert_true(run_until(no_connections, f, DEADLINE_MS));
  end_orphaned_wait(f);
  client_free(c);
}

/* The server is freed while an offer waits: its connection closes without an answer; the late
 * lc_http_wait_done only frees the wait. */
static void
test_server_freed(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_waiting(f);
  lc_http_free(f->http);
  f->http = NULL;
  end_orphaned_wait(f);
  g_assert_true(run_until(client_done, c, DEADLINE_MS));
  g_assert_cmpuint(c->in->len, ==, 0);
  client_free(c);
}

/* prepare refuses: the offer's error mapping (LC_ENOENT -> 404), the offer hook never runs. */
static void
test_prepare_refuses(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_answered(f, PREP_ENOENT, "/whep/room1", NULL, DEADLINE_MS);
  assert_error(c, 404, "not_found");
  g_assert_cmpint(f->offers, ==, 0);
  client_free(c);
}

/* WHIP offers never wait: prepare is WHEP only. */
static void
test_whip_no_prepare(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = offer_answered(f, PREP_WAIT, "/whip/room1", "Authorization: Bearer key\r\n", DEADLINE_MS);
  g_assert_cmpint(status_of(c), ==, 201);
  g_assert_cmpint(f->prepares, ==, 0);
  g_assert_cmpint(f->offers, ==, 1);
  client_free(c);
}

/* No media within LC__HTTP_WAIT_TIMEOUT_S: 504 timeout (CORS kept); the wait is orphaned and
 * the late lc_http_wait_done only frees it. Takes the full 15 s. */
static void
test_wait_times_out(fixture *f, gconstpointer data)
{
  (void)data;
  gint64 t0 = g_get_monotonic_time();
  client *c = offer_answered(f, PREP_WAIT, "/whep/room1", NULL, LC__HTTP_WAIT_TIMEOUT_S * 1000 + DEADLINE_MS);
  g_assert_cmpint(g_get_monotonic_time() - t0, >=, (LC__HTTP_WAIT_TIMEOUT_S - 1) * G_USEC_PER_SEC);
  assert_error(c, 504, "timeout");
  assert_header(c, "Access-Control-Allow-Origin", "*");
  g_assert_nonnull(f->wait);
  end_orphaned_wait(f);
  client_free(c);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/http/" name, fixture, NULL, fx_setup, fn, fx_teardown)
  ADD("whep-wait/then-offer", test_wait_then_offer);
  ADD("whep-wait/prepare-now", test_prepare_now);
  ADD("whep-wait/done-inside-prepare", test_done_inside_prepare);
  ADD("whep-wait/client-gone", test_client_gone);
  ADD("whep-wait/server-freed", test_server_freed);
  ADD("whep-wait/prepare-refuses", test_prepare_refuses);
  ADD("whep-wait/whip-never-waits", test_whip_no_prepare);
  ADD("whep-wait/times-out", test_wait_times_out);
  return g_test_run();
}

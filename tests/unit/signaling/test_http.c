/* Unit tests for signaling/http.c over real sockets: a server on 127.0.0.1 (port 0) with fake
 * WebRTC hooks, driven by raw HTTP/1.1 clients on the same main loop (nothing blocks it: the
 * request is sent before the loop runs, the answer read from an fd watch). Covers a WHEP offer
 * that waits for its room's media (lc_http_rtc_ops.prepare + lc_http_wait_done): the answer once
 * the wait ends, with the offer's bytes unchanged; the wait ended inside prepare; a client that
 * goes while waiting; the server freed while waiting; prepare refusing (404); the 504 after
 * LC__HTTP_WAIT_TIMEOUT_S; WHIP never waits. And /hls/ (opts.hls_root): playlists and segments
 * with their types, caching and CORS headers, HEAD, byte ranges (206, suffix, 416, ignored
 * ranges, keep-alive after a 206), traversal attempts and other files (404), the route while
 * hls_root is unset or created only after the start, the metrics; a range from the web root.
 * Every wait is on an event with a deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "base/errors.h"
#include "base/metrics.h"
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
  char *dir;           /* hls fixtures: temporary folder with web/ and hls/ (and secret.ts) */
  lc_metrics *metrics; /* hls fixtures */
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

/* Starts the server on port 0 (web_root and hls_root may be NULL). */
static void
start(fixture *f, const char *web_root, const char *hls_root)
{
  f->loop = g_main_loop_new(NULL, FALSE);
  f->ops = (lc_http_rtc_ops){fake_offer, fake_remove, NULL, fake_prepare};
  lc_http_options o = {
      .bind = "127.0.0.1",
      .port = 0,
      .web_root = web_root ? web_root : g_get_tmp_dir(),
      .max_body = 65536,
      .max_uri = 2048,
      .cors_origin = "*",
      .metrics = f->metrics,
      .rtc = &f->ops,
      .rtc_user = f,
      .hls_root = hls_root,
  };
  char *err = NULL;
  f->http = lc_http_new(&o, f->loop, &err);
  g_assert_null(err);
  g_assert_nonnull(f->http);
  f->port = lc__http_port(f->http);
  g_assert_cmpint(f->port, >, 0);
}

static void
fx_setup(fixture *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
  start(f, NULL, NULL);
}

/* Removes a folder and what it holds; symlinks are removed, never followed. */
static void
rm_rf(const char *path)
{
  if (!g_file_test(path, G_FILE_TEST_IS_SYMLINK) && g_file_test(path, G_FILE_TEST_IS_DIR)) {
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
      char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
      g_free(child);
    }
    if (d)
      g_dir_close(d);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

#define SEGMENT_BYTES 100000 /* several 16 KiB pieces, each cut into smaller writes by lws */
#define PLAYLIST "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:42\n" \
                 "#EXTINF:2.000,\n1733390000-00042.ts\n"
#define MASTER "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"
#define SEGMENT "/hls/room1/360p/1733390000-00042.ts"

/* Byte i of the segment file. */
static char
segment_byte(size_t i)
{
  return (char)((i * 7 + i / 251) % 256);
}

static void
write_file(const char *dir, const char *name, const char *data, gssize len)
{
  char *p = g_build_filename(dir, name, NULL);
  char *parent = g_path_get_dirname(p);
  g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
  GError *err = NULL;
  g_assert_true(g_file_set_contents(p, data, len, &err));
  g_assert_no_error(err);
  g_free(parent);
  g_free(p);
}

static void
symlink_at(const char *dir, const char *name, const char *target)
{
  char *p = g_build_filename(dir, name, NULL);
  g_assert_cmpint(symlink(target, p), ==, 0);
  g_free(p);
}

/* <dir>/web (web root: index.html), <dir>/secret.ts and secret.m3u8 (beside the HLS root,
 * never to be served), <dir>/hls/room1/... (the HLS root) with a master and a media
 * playlist, a segment, a file of another type, a dotfile, a folder named like a segment,
 * and symlinks: out of the root, to another type inside it, to a segment inside it. */
static void
make_tree(fixture *f)
{
  GError *err = NULL;
  f->dir = g_dir_make_tmp("lc-hls-XXXXXX", &err);
  g_assert_no_error(err);
  char *web = g_build_filename(f->dir, "web", NULL);
  char *hls = g_build_filename(f->dir, "hls", NULL);
  char *seg = g_malloc(SEGMENT_BYTES);
  for (size_t i = 0; i < SEGMENT_BYTES; i++)
    seg[i] = segment_byte(i);
  write_file(web, "index.html", "<p>index, twenty-six bytes", -1);
  write_file(f->dir, "secret.ts", "secret", -1);
  write_file(f->dir, "secret.m3u8", "#EXTM3U secret", -1);
  write_file(hls, "room1/master.m3u8", MASTER, -1);
  write_file(hls, "room1/360p/index.m3u8", PLAYLIST, -1);
  write_file(hls, "room1/360p/1733390000-00042.ts", seg, SEGMENT_BYTES);
  write_file(hls, "room1/360p/notes.txt", "not media", -1);
  write_file(hls, "room1/360p/.hidden.ts", "hidden", -1);
  write_file(hls, "room1/360p/index.m3u8.tmp", "half written", -1);
  write_file(hls, "room1/dir.ts/x", "in a folder", -1);
  char *rung = g_build_filename(hls, "room1", "360p", NULL);
  symlink_at(rung, "passwd.ts", "/etc/passwd");
  symlink_at(rung, "up.m3u8", "../../../secret.m3u8");
  symlink_at(rung, "notes.ts", "notes.txt");
  symlink_at(rung, "alias.ts", "1733390000-00042.ts");
  g_free(rung);
  g_free(seg);
  g_free(web);
  g_free(hls);
}

/* A server with the tree of make_tree: hls_root <dir>/hls, web_root <dir>/web, metrics. */
static void
fx_setup_hls(fixture *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
  make_tree(f);
  f->metrics = lc_metrics_new();
  char *web = g_build_filename(f->dir, "web", NULL);
  char *hls = g_build_filename(f->dir, "hls", NULL);
  start(f, web, hls);
  g_free(web);
  g_free(hls);
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
  if (f->dir) {
    rm_rf(f->dir);
    g_free(f->dir);
  }
  if (f->metrics)
    lc_metrics_free(f->metrics);
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

/* Sends the whole of req on c (small: the kernel takes it before the server runs). */
static void
client_send(client *c, const char *req)
{
  size_t len = strlen(req), off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
    g_assert_cmpint(n, >, 0);
    off += (size_t)n;
  }
}

/* Connects and sends the raw request req. */
static client *
client_raw(fixture *f, const char *req)
{
  client *c = g_new0(client, 1);
  c->in = g_string_new(NULL);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(c->fd, >=, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g_assert_cmpint(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
  client_send(c, req);
  c->watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
  return c;
}

/* Connects and sends a POST of body to path. */
static client *
client_post(fixture *f, const char *path, const char *extra_headers, const char *body)
{
  char *req = g_strdup_printf("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sdp\r\n"
                              "%sContent-Length: %zu\r\n\r\n%s",
                              path, extra_headers ? extra_headers : "", strlen(body), body);
  client *c = client_raw(f, req);
  g_free(req);
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

/* ---- /hls/ ---- */

/* Sends "<method> <path>" with extra headers and Connection: close, and runs until the server
 * has answered and closed. */
static client *
request(fixture *f, const char *method, const char *path, const char *headers)
{
  char *req = g_strdup_printf("%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method, path,
                              headers ? headers : "");
  client *c = client_raw(f, req);
  g_free(req);
  g_assert_true(run_until(client_done, c, DEADLINE_MS));
  return c;
}

static size_t
body_len(const client *c)
{
  return c->in->len - (size_t)(body_of(c) - c->in->str);
}

/* c's body is bytes [first, first + len) of the segment file. */
static void
assert_segment_bytes(const client *c, size_t first, size_t len)
{
  g_assert_cmpuint(body_len(c), ==, len);
  const char *b = body_of(c);
  for (size_t i = 0; i < len; i++)
    if (b[i] != segment_byte(first + i))
      g_error("byte %zu of the body is wrong", i);
  char num[32];
  g_snprintf(num, sizeof num, "%zu", len);
  assert_header(c, "Content-Length", num);
}

/* The headers every /hls/ answer carries: CORS for players and CDNs on any origin. */
static void
assert_hls_cors(const client *c)
{
  assert_header(c, "Access-Control-Allow-Origin", "*");
  assert_header(c, "Access-Control-Expose-Headers", "Content-Length, Content-Range");
  assert_header(c, "Vary", NULL);
}

static gint64
metric(fixture *f, const char *name)
{
  return lc_metric_get(lc_metrics_counter(f->metrics, name, NULL, "x"));
}

/* Playlists: their type, revalidated by caches, CORS "*", byte for byte. */
static void
test_hls_playlists(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = request(f, "GET", "/hls/room1/master.m3u8", NULL);
  g_assert_cmpint(status_of(c), ==, 200);
  g_assert_cmpstr(body_of(c), ==, MASTER);
  assert_header(c, "Content-Type", "application/vnd.apple.mpegurl");
  assert_header(c, "Cache-Control", "no-cache");
  assert_header(c, "Accept-Ranges", "bytes");
  assert_header(c, "Content-Range", NULL);
  assert_hls_cors(c);
  client_free(c);
  c = request(f, "GET", "/hls/room1/360p/index.m3u8", NULL);
  g_assert_cmpint(status_of(c), ==, 200);
  g_assert_cmpstr(body_of(c), ==, PLAYLIST);
  assert_header(c, "Content-Type", "application/vnd.apple.mpegurl");
  assert_header(c, "Cache-Control", "no-cache");
  client_free(c);
  g_assert_cmpint(metric(f, "livecart_hls_requests_total"), ==, 2);
  g_assert_cmpint(metric(f, "livecart_hls_bytes_total"), ==, strlen(MASTER) + strlen(PLAYLIST));
}

/* A segment: MPEG-TS, cached for good, all 100 000 bytes; HEAD: the same headers, no body. A
 * symlink inside the root to a segment inside it is served like the segment. */
static void
test_hls_segment(fixture *f, gconstpointer data)
{
  (void)data;
  static const char *const paths[] = {SEGMENT, "/hls/room1/360p/alias.ts"};
  for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
    client *c = request(f, "GET", paths[i], NULL);
    g_assert_cmpint(status_of(c), ==, 200);
    assert_header(c, "Content-Type", "video/mp2t");
    assert_header(c, "Cache-Control", "public, max-age=31536000, immutable");
    assert_header(c, "Accept-Ranges", "bytes");
    assert_hls_cors(c);
    assert_segment_bytes(c, 0, SEGMENT_BYTES);
    client_free(c);
  }
  client *c = request(f, "HEAD", SEGMENT, NULL);
  g_assert_cmpint(status_of(c), ==, 200);
  assert_header(c, "Content-Length", G_STRINGIFY(SEGMENT_BYTES));
  assert_header(c, "Content-Type", "video/mp2t");
  assert_header(c, "Cache-Control", "public, max-age=31536000, immutable");
  assert_hls_cors(c);
  g_assert_cmpuint(body_len(c), ==, 0);
  client_free(c);
  g_assert_cmpint(metric(f, "livecart_hls_requests_total"), ==, 3);
  g_assert_cmpint(metric(f, "livecart_hls_bytes_total"), ==, 2 * SEGMENT_BYTES);
}

/* Byte ranges: a range, an open one, a suffix, clipping; 416 past the end; ignored (the whole
 * file, 200) when malformed, several, sent twice, with If-Range, or on HEAD. */
static void
test_hls_ranges(fixture *f, gconstpointer data)
{
  (void)data;
  static const struct {
    const char *range;
    size_t first, len; /* len 0: not a 206 */
  } parts[] = {
      {"bytes=100-199", 100, 100},
      {"bytes=0-0", 0, 1},
      {"bytes=99000-", 99000, 1000},
      {"bytes=-500", SEGMENT_BYTES - 500, 500},
      {"bytes=20000-999999", 20000, SEGMENT_BYTES - 20000},
      {"bytes=-999999", 0, SEGMENT_BYTES},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
    g_test_message("%s", parts[i].range);
    char *h = g_strdup_printf("Range: %s\r\n", parts[i].range);
    client *c = request(f, "GET", SEGMENT, h);
    g_free(h);
    g_assert_cmpint(status_of(c), ==, 206);
    char *cr = g_strdup_printf("bytes %zu-%zu/%d", parts[i].first, parts[i].first + parts[i].len - 1, SEGMENT_BYTES);
    assert_header(c, "Content-Range", cr);
    g_free(cr);
    assert_header(c, "Content-Type", "video/mp2t");
    assert_header(c, "Cache-Control", "public, max-age=31536000, immutable");
    assert_hls_cors(c);
    assert_segment_bytes(c, parts[i].first, parts[i].len);
    client_free(c);
  }

  static const char *const unsatisfiable[] = {"Range: bytes=100000-\r\n", "Range: bytes=-0\r\n",
                                              "Range: bytes=99999999999999999999999999-\r\n"};
  for (size_t i = 0; i < G_N_ELEMENTS(unsatisfiable); i++) {
    client *c = request(f, "GET", SEGMENT, unsatisfiable[i]);
    assert_error(c, 416, "range_not_satisfiable");
    assert_header(c, "Content-Range", "bytes */" G_STRINGIFY(SEGMENT_BYTES));
    assert_header(c, "Cache-Control", "no-cache");
    assert_hls_cors(c);
    client_free(c);
  }

  static const char *const ignored[] = {
      "Range: bytes=5-1\r\n",     "Range: bytes=0-1,5-6\r\n", "Range: items=0-1\r\n",
      "Range: bytes=abc\r\n",     "Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
      "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(ignored); i++) {
    g_test_message("%s", ignored[i]);
    client *c = request(f, "GET", SEGMENT, ignored[i]);
    g_assert_cmpint(status_of(c), ==, 200);
    assert_header(c, "Content-Range", NULL);
    assert_segment_bytes(c, 0, SEGMENT_BYTES);
    client_free(c);
  }
  client *c = request(f, "HEAD", SEGMENT, "Range: bytes=0-9\r\n");
  g_assert_cmpint(status_of(c), ==, 200);
  assert_header(c, "Content-Length", G_STRINGIFY(SEGMENT_BYTES));
  g_assert_cmpuint(body_len(c), ==, 0);
  client_free(c);
}

static bool
answer_complete(gpointer data)
{
  const client *c = data;
  const char *end = strstr(c->in->str, "\r\n\r\n");
  if (!end)
    return c->eof;
  char *len = header_of(c, "Content-Length");
  size_t want = len ? (size_t)g_ascii_strtoull(len, NULL, 10) : 0;
  g_free(len);
  return c->eof || body_len(c) >= want;
}

/* A 206 leaves a keep-alive connection in step: the next request on it gets the whole file. */
static void
test_hls_range_keepalive(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = client_raw(f, "GET " SEGMENT " HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-20\r\n\r\n");
  g_assert_true(run_until(answer_complete, c, DEADLINE_MS));
  g_assert_false(c->eof);
  g_assert_cmpint(status_of(c), ==, 206);
  assert_segment_bytes(c, 10, 11);
  g_string_truncate(c->in, 0);
  client_send(c, "GET " SEGMENT " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  g_assert_true(run_until(client_done, c, DEADLINE_MS));
  g_assert_cmpint(status_of(c), ==, 200);
  assert_segment_bytes(c, 0, SEGMENT_BYTES);
  client_free(c);
}

/* Nothing outside the HLS root, and nothing but media inside it: 404 not_found (with CORS). A
 * dot segment is resolved by lws before routing, so /hls/../x is /x of the web root: 404 too. */
static void
test_hls_refused(fixture *f, gconstpointer data)
{
  (void)data;
  static const struct {
    const char *path;
    bool hls; /* still under /hls/ once lws has resolved the dot segments */
  } cases[] = {
      {"/hls/../secret.ts", false}, /* lws: /secret.ts, the web root's */
      {"/hls/%2e%2e/secret.ts", false},
      {"/hls/room1/../../secret.m3u8", false},
      {"/hls/%2e%2e%2f%2e%2e%2fetc/passwd", false},
      {"/hls/..%2fsecret.ts", false},
      {"/hls//etc/passwd", true},
      {"/hls/room1/360p/passwd.ts", true},      /* symlink to /etc/passwd */
      {"/hls/room1/360p/up.m3u8", true},        /* symlink to <dir>/secret.m3u8 */
      {"/hls/room1/360p/notes.ts", true},       /* symlink to a .txt inside the root */
      {"/hls/room1/360p/notes.txt", true},      /* not a media type */
      {"/hls/room1/360p/index.m3u8.tmp", true}, /* a writer's temporary file */
      {"/hls/room1/360p/.hidden.ts", true},     /* dotfile */
      {"/hls/room1/dir.ts", true},              /* a folder */
      {"/hls/room1/", true},                    /* no listings */
      {"/hls/room1/360p", true},
      {"/hls/", true},
      {"/hls/room1/missing.ts", true},
      {"/hls/room1/360p/1733390000-00042.ts/x", true},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("%s", cases[i].path);
    client *c = request(f, "GET", cases[i].path, NULL);
    assert_error(c, 404, "not_found");
    if (cases[i].hls)
      assert_hls_cors(c);
    client_free(c);
  }
  /* a NUL is refused before any route (docs/http.md): 400, never a file */
  client *c = request(f, "GET", "/hls/room1/master.m3u8%00.txt", NULL);
  assert_error(c, 400, "bad_request");
  client_free(c);
}

/* OPTIONS is the CORS preflight of a player on another origin that sends Range. */
static void
test_hls_preflight(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = request(f, "OPTIONS", SEGMENT, "Origin: https://player.example\r\n"
                                             "Access-Control-Request-Headers: range\r\n");
  g_assert_cmpint(status_of(c), ==, 204);
  assert_header(c, "Allow", "GET, HEAD, OPTIONS");
  assert_header(c, "Access-Control-Allow-Origin", "*");
  assert_header(c, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
  assert_header(c, "Access-Control-Allow-Headers", "Range");
  client_free(c);
  c = request(f, "POST", SEGMENT, "Content-Length: 0\r\n");
  assert_error(c, 405, "method_not_allowed");
  assert_hls_cors(c);
  client_free(c);
}

/* The web root gets ranges too. */
static void
test_web_root_range(fixture *f, gconstpointer data)
{
  (void)data;
  client *c = request(f, "GET", "/index.html", "Range: bytes=3-7\r\n");
  g_assert_cmpint(status_of(c), ==, 206);
  assert_header(c, "Content-Range", "bytes 3-7/26");
  g_assert_cmpstr(body_of(c), ==, "index");
  assert_header(c, "Access-Control-Allow-Origin", NULL);
  client_free(c);
  g_assert_cmpint(metric(f, "livecart_hls_bytes_total"), ==, 0);
}

/* No hls_root (NULL or ""): the route answers 404 whatever is asked for. */
static void
test_hls_disabled(fixture *f, gconstpointer data)
{
  (void)data;
  for (int round = 0; round < 2; round++) {
    if (round == 1) {
      lc_http_free(f->http);
      g_main_loop_unref(f->loop);
      start(f, NULL, "");
    }
    client *c = request(f, "GET", "/hls/room1/master.m3u8", NULL);
    assert_error(c, 404, "not_found");
    assert_hls_cors(c);
    client_free(c);
  }
}

/* The HLS root may appear after the start (the ladder makes it with the first live room). */
static void
test_hls_root_later(fixture *f, gconstpointer data)
{
  (void)data;
  GError *err = NULL;
  f->dir = g_dir_make_tmp("lc-hls-XXXXXX", &err);
  g_assert_no_error(err);
  char *hls = g_build_filename(f->dir, "hls", NULL);
  start(f, NULL, hls);
  client *c = request(f, "GET", "/hls/room1/master.m3u8", NULL);
  assert_error(c, 404, "not_found");
  client_free(c);
  write_file(hls, "room1/master.m3u8", MASTER, -1);
  c = request(f, "GET", "/hls/room1/master.m3u8", NULL);
  g_assert_cmpint(status_of(c), ==, 200);
  g_assert_cmpstr(body_of(c), ==, MASTER);
  client_free(c);
  g_free(hls);
}

static void
fx_setup_bare(fixture *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
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
#define ADD_HLS(name, fn) g_test_add("/http/hls/" name, fixture, NULL, fx_setup_hls, fn, fx_teardown)
  ADD_HLS("playlists", test_hls_playlists);
  ADD_HLS("segment", test_hls_segment);
  ADD_HLS("ranges", test_hls_ranges);
  ADD_HLS("range-keepalive", test_hls_range_keepalive);
  ADD_HLS("refused", test_hls_refused);
  ADD_HLS("preflight", test_hls_preflight);
  ADD_HLS("web-root-range", test_web_root_range);
  ADD("hls/disabled", test_hls_disabled);
  g_test_add("/http/hls/root-later", fixture, NULL, fx_setup_bare, test_hls_root_later, fx_teardown);
  return g_test_run();
}

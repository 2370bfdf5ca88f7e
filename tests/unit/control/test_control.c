/* Unit tests for server/control/control.c, the control socket server, through a real Unix
 * socket in a temp dir: request framing over the stream (a request cut into single-byte
 * reads, several in one read, CRLF, empty lines), oversized lines (refused with
 * line_too_long, the connection goes on), malformed lines, the end of input (a last line
 * without its newline is not a request), flow control (at most 32 requests in progress per
 * client; the rest wait in the socket) and replies that come after the client left.
 * Waiting is on main-loop events with a deadline, never a sleep. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control.h"

#define MAX_LINE 64
#define MAX_PENDING 32 /* control.c */

typedef struct {
  char *dir;
  char *path;
  lc_control *ctl;
  GPtrArray *deferred; /* lc_ctl_req* handed to "defer", not ended yet */
  int defer_calls;
} fx;

typedef struct {
  int fd;
  GString *in;     /* bytes received, not yet split into lines */
  GPtrArray *got;  /* json_t* lines received */
  bool eof;
  guint watch;
} client;

static void
on_echo(lc_ctl_req *req, json_t *args, gpointer user)
{
  (void)user;
  lc_ctl_req_reply(req, json_incref(args));
}

static void
on_defer(lc_ctl_req *req, json_t *args, gpointer user)
{
  (void)args;
  fx *f = user;
  f->defer_calls++;
  g_ptr_array_add(f->deferred, req);
}

static void
setup(fx *f, gconstpointer data)
{
  (void)data;
  memset(f, 0, sizeof *f);
  f->dir = g_dir_make_tmp("lc-ctl-XXXXXX", NULL);
  f->path = g_build_filename(f->dir, "ctl.sock", NULL);
  lc_control_options o = {.path = f->path, .mode = 0600, .max_line = MAX_LINE, .max_clients = 4};
  char *err = NULL;
  f->ctl = lc_control_new(&o, &err);
  g_assert_cmpstr(err, ==, NULL);
  g_assert_nonnull(f->ctl);
  f->deferred = g_ptr_array_new();
  lc_control_register(f->ctl, "echo", "answers its args", on_echo, f);
  lc_control_register(f->ctl, "defer", "answers when the test says", on_defer, f);
}

static void
teardown(fx *f, gconstpointer data)
{
  (void)data;
  lc_control_free(f->ctl);
  /* requests stay valid after the server is gone and must still be ended once */
  for (guint i = 0; i < f->deferred->len; i++)
    lc_ctl_req_reply(g_ptr_array_index(f->deferred, i), NULL);
  g_ptr_array_unref(f->deferred);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_rmdir(f->dir);
  g_free(f->path);
  g_free(f->dir);
}

/* ---- the client side -------------------------------------------------------------------- */

static gboolean
client_readable(gint fd, GIOCondition cond, gpointer data)
{
  (void)cond;
  client *c = data;
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    c->eof = true;
    c->watch = 0;
    return G_SOURCE_REMOVE;
  }
  g_string_append_len(c->in, buf, n);
  char *nl;
  while ((nl = memchr(c->in->str, '\n', c->in->len))) {
    json_error_t err;
    json_t *o = json_loadb(c->in->str, (size_t)(nl - c->in->str), 0, &err);
    g_assert_nonnull(o); /* every answer line is one JSON object */
    g_ptr_array_add(c->got, o);
    g_string_erase(c->in, 0, nl - c->in->str + 1);
  }
  return G_SOURCE_CONTINUE;
}

static client *
client_connect(fx *f)
{
  client *c = g_new0(client, 1);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(c->fd, >=, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  g_strlcpy(sa.sun_path, f->path, sizeof sa.sun_path);
  g_assert_cmpint(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
  c->in = g_string_new(NULL);
  c->got = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
  c->watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_readable, c);
  return c;
}

static void
client_free(client *c)
{
  if (c->watch)
    g_source_remove(c->watch);
  close(c->fd);
  g_string_free(c->in, TRUE);
  g_ptr_array_unref(c->got);
  g_free(c);
}

static void
client_send_len(client *c, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    g_assert_cmpint(n, >, 0);
    data += n;
    len -= (size_t)n;
  }
}

static void
client_send(client *c, const char *text)
{
  client_send_len(c, text, strlen(text));
}

static gboolean
deadline_hit(gpointer data)
{
  *(bool *)data = true;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until c has `lines` answers (or its EOF when lines < 0); fails after 5 s. */
static void
wait_for(client *c, int lines)
{
  bool late = false;
  guint timer = g_timeout_add_seconds(5, deadline_hit, &late);
  while (!late && (lines < 0 ? !c->eof : (int)c->got->len < lines))
    g_main_context_iteration(NULL, TRUE);
  if (!late)
    g_source_remove(timer);
  g_assert_false(late);
}

/* Lets every ready event run (the server reads what was sent, answers what it can). A
 * round trip through the server (a ping) proves it has read everything sent before. */
static void
settle(client *c)
{
  guint before = c->got->len;
  client_send(c, "{\"id\":\"sync\",\"cmd\":\"ping\"}\n");
  wait_for(c, (int)before + 1);
  json_t *last = g_ptr_array_steal_index(c->got, c->got->len - 1);
  g_assert_cmpstr(json_string_value(json_object_get(last, "id")), ==, "sync");
  json_decref(last);
}

/* Runs the main loop until the "defer" handler holds n requests; fails after 5 s. */
static void
wait_deferred(fx *f, guint n)
{
  bool late = false;
  guint timer = g_timeout_add_seconds(5, deadline_hit, &late);
  while (!late && f->deferred->len < n)
    g_main_context_iteration(NULL, TRUE);
  if (!late)
    g_source_remove(timer);
  g_assert_cmpuint(f->deferred->len, ==, n);
}

/* Runs every event that is ready now. */
static void
settle_server(void)
{
  while (g_main_context_iteration(NULL, FALSE))
    ;
}

static json_t *
answer(client *c, guint i)
{
  g_assert_cmpuint(i, <, c->got->len);
  return g_ptr_array_index(c->got, i);
}

static void
assert_ok(client *c, guint i, json_int_t id)
{
  json_t *a = answer(c, i);
  g_assert_cmpint(json_integer_value(json_object_get(a, "id")), ==, id);
  g_assert_true(json_is_true(json_object_get(a, "ok")));
}

static void
assert_error(client *c, guint i, const char *code)
{
  json_t *a = answer(c, i);
  g_assert_true(json_is_false(json_object_get(a, "ok")));
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(a, "error"), "code")), ==, code);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_request_in_single_bytes(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  const char *req = "{\"id\":1,\"cmd\":\"echo\",\"args\":{\"k\":\"v\"}}";
  for (const char *p = req; *p; p++) {
    client_send_len(c, p, 1);
    settle_server(); /* the server reads each byte apart */
  }
  g_assert_cmpuint(c->got->len, ==, 0); /* no newline yet: no request */
  client_send(c, "\n");
  wait_for(c, 1);
  assert_ok(c, 0, 1);
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(answer(c, 0), "result"), "k")), ==, "v");
  settle(c);
  g_assert_cmpuint(c->got->len, ==, 1);
  client_free(c);
}

static void
test_many_requests_in_one_read(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  client_send(c, "{\"id\":1,\"cmd\":\"ping\"}\n{\"id\":2,\"cmd\":\"echo\"}\r\n\n\r\n"
                 "{\"id\":3,\"cmd\":\"nope\"}\n{\"id\":4,\"cmd\":\"ping\"}\n{\"id\":5,\"cmd\":\"echo\",\"args\":{}}\n");
  wait_for(c, 5);
  assert_ok(c, 0, 1);
  assert_ok(c, 1, 2); /* CRLF ends a line like LF */
  assert_error(c, 2, "unknown_command");
  g_assert_cmpint(json_integer_value(json_object_get(answer(c, 2), "id")), ==, 3);
  assert_ok(c, 3, 4);
  assert_ok(c, 4, 5);
  settle(c); /* the empty lines were no requests */
  g_assert_cmpuint(c->got->len, ==, 5);
  client_free(c);
}

/* A request line of exactly n bytes (without the newline). */
static char *
request_of_length(int id, size_t n)
{
  char *head = g_strdup_printf("{\"id\":%d,\"cmd\":\"echo\",\"args\":{\"pad\":\"", id);
  const char *tail = "\"}}";
  g_assert_cmpuint(strlen(head) + strlen(tail), <, n);
  GString *s = g_string_new(head);
  while (s->len + strlen(tail) < n)
    g_string_append_c(s, 'x');
  g_string_append(s, tail);
  g_free(head);
  g_assert_cmpuint(s->len, ==, n);
  return g_string_free(s, FALSE);
}

static void
test_oversized_lines(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  /* exactly max_line: a request like any other, also with CRLF */
  char *fits = request_of_length(1, MAX_LINE);
  client_send(c, fits);
  client_send(c, "\r\n");
  g_free(fits);
  wait_for(c, 1);
  assert_ok(c, 0, 1);
  /* one byte more, arriving in pieces: refused once, the rest of it skipped */
  char *over = request_of_length(2, MAX_LINE + 1);
  client_send_len(c, over, 20);
  settle_server();
  client_send(c, over + 20);
  client_send(c, "\n{\"id\":3,\"cmd\":\"ping\"}\n");
  g_free(over);
  wait_for(c, 3);
  assert_error(c, 1, "line_too_long");
  g_assert_null(json_object_get(answer(c, 1), "id")); /* never parsed: no id */
  assert_ok(c, 2, 3);
  /* a line far over the limit in many reads: one refusal, the next request answered */
  char junk[1000];
  memset(junk, 'j', sizeof junk);
  for (int i = 0; i < 50; i++) {
    client_send_len(c, junk, sizeof junk);
    settle_server();
  }
  client_send(c, "\n{\"id\":4,\"cmd\":\"ping\"}\n");
  wait_for(c, 5);
  assert_error(c, 3, "line_too_long");
  assert_ok(c, 4, 4);
  settle(c);
  g_assert_cmpuint(c->got->len, ==, 5);
  g_assert_false(c->eof);
  client_free(c);
}

static void
test_malformed_lines_keep_the_connection(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  client_send(c, "not json\n{\"id\":7}\n{\"id\":8,\"cmd\":\"ping\",\"x\":1}\n");
  static const char with_nul[] = "{\"id\":9,\"cmd\":\"pi\0ng\"}\n";
  client_send_len(c, with_nul, sizeof with_nul - 1);
  client_send(c, "{\"id\":10,\"cmd\":\"ping\"}\n");
  wait_for(c, 5);
  assert_error(c, 0, "bad_json");
  assert_error(c, 1, "bad_request");
  g_assert_cmpint(json_integer_value(json_object_get(answer(c, 1), "id")), ==, 7); /* still correlated */
  g_assert_false(json_is_true(json_object_get(answer(c, 2), "ok")));
  g_assert_false(json_is_true(json_object_get(answer(c, 3), "ok"))); /* a NUL inside */
  assert_ok(c, 4, 10);
  client_free(c);
}

static void
test_end_of_input(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  /* the client stops sending: what is complete is answered, then the server closes; the
   * last line has no newline and is no request */
  client_send(c, "{\"id\":1,\"cmd\":\"ping\"}\n{\"id\":2,\"cmd\":\"ping\"}");
  shutdown(c->fd, SHUT_WR);
  wait_for(c, -1);
  g_assert_cmpuint(c->got->len, ==, 1);
  assert_ok(c, 0, 1);
  g_assert_cmpuint(c->in->len, ==, 0); /* nothing half-written either */
  g_assert_cmpuint(lc_control_clients(f->ctl), ==, 0);
  client_free(c);
}

static void
test_end_of_input_waits_for_pending_answers(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  client_send(c, "{\"id\":1,\"cmd\":\"defer\"}\n");
  shutdown(c->fd, SHUT_WR);
  /* the server saw the request and the end; it keeps the connection for the answer */
  wait_deferred(f, 1);
  settle_server();
  g_assert_false(c->eof);
  g_assert_cmpuint(lc_control_clients(f->ctl), ==, 1);
  lc_ctl_req_reply(g_ptr_array_steal_index(f->deferred, 0), json_pack("{s:i}", "n", 1));
  wait_for(c, -1);
  g_assert_cmpuint(c->got->len, ==, 1);
  assert_ok(c, 0, 1);
  client_free(c);
}

static void
test_flow_control(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  const int total = MAX_PENDING + 8;
  GString *burst = g_string_new(NULL);
  for (int i = 1; i <= total; i++)
    g_string_append_printf(burst, "{\"id\":%d,\"cmd\":\"defer\"}\n", i);
  client_send_len(c, burst->str, burst->len);
  g_string_free(burst, TRUE);
  wait_deferred(f, MAX_PENDING);
  settle_server();
  /* 32 in progress: the server stops taking requests from this client */
  g_assert_cmpint(f->defer_calls, ==, MAX_PENDING);
  /* ending one lets exactly one more in */
  lc_ctl_req_reply(g_ptr_array_steal_index(f->deferred, 0), NULL);
  wait_for(c, 1);
  settle_server();
  g_assert_cmpint(f->defer_calls, ==, MAX_PENDING + 1);
  /* end everything, in order, as it comes */
  while (f->defer_calls < total || f->deferred->len > 0) {
    if (f->deferred->len > 0)
      lc_ctl_req_reply(g_ptr_array_steal_index(f->deferred, 0), NULL);
    g_main_context_iteration(NULL, FALSE);
  }
  wait_for(c, total);
  for (int i = 0; i < total; i++)
    assert_ok(c, (guint)i, i + 1);
  client_free(c);
}

static void
test_reply_after_the_client_left(fx *f, gconstpointer data)
{
  (void)data;
  client *c = client_connect(f);
  client_send(c, "{\"id\":1,\"cmd\":\"defer\"}\n");
  wait_deferred(f, 1);
  client_free(c);
  /* the server read the end of input: it keeps the connection until its answer is out */
  settle_server();
  g_assert_cmpuint(lc_control_clients(f->ctl), ==, 1);
  /* the answer has nowhere to go: dropped, then the connection closes */
  lc_ctl_req_reply(g_ptr_array_steal_index(f->deferred, 0), NULL);
  bool late = false;
  guint timer = g_timeout_add_seconds(5, deadline_hit, &late);
  while (!late && lc_control_clients(f->ctl) > 0)
    g_main_context_iteration(NULL, TRUE);
  if (!late)
    g_source_remove(timer);
  g_assert_cmpuint(lc_control_clients(f->ctl), ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, fx, NULL, setup, fn, teardown)
  ADD("/control/framing/single-bytes", test_request_in_single_bytes);
  ADD("/control/framing/many-in-one-read", test_many_requests_in_one_read);
  ADD("/control/framing/oversized", test_oversized_lines);
  ADD("/control/framing/malformed", test_malformed_lines_keep_the_connection);
  ADD("/control/eof", test_end_of_input);
  ADD("/control/eof-pending", test_end_of_input_waits_for_pending_answers);
  ADD("/control/flow-control", test_flow_control);
  ADD("/control/reply-after-close", test_reply_after_the_client_left);
  return g_test_run();
}

/* Test helpers shared by the ingest tests: run real publishers (ffmpeg, gst-launch-1.0) as
 * child processes while the test's GMainLoop keeps serving, and a raw TCP client on a thread
 * for malformed input. Loopback only; every child is waited for (killed on timeout). */
#pragma once
#include <gio/gio.h>
#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "ingest/amf0.h"
#include "ingest/rtmp_chunk.h"

typedef struct {
  GSubprocess *proc;
  bool done;
  int status;     /* exit status, or -1 when killed / signalled */
  GBytes *errout; /* what the child wrote to stderr */
} test_proc;

static void
test_proc_done(GObject *src, GAsyncResult *res, gpointer data)
{
  test_proc *p = data;
  g_subprocess_communicate_finish(G_SUBPROCESS(src), res, NULL, &p->errout, NULL);
  p->status = g_subprocess_get_if_exited(p->proc) ? g_subprocess_get_exit_status(p->proc) : -1;
  p->done = true;
}

/* Starts argv (NULL-terminated). Its stderr is kept and shown when it fails (or always with
 * LC_TEST_VERBOSE set), so a publisher that failed on a busy CI machine says why. */
G_GNUC_UNUSED static test_proc *
test_proc_start(const char *const *argv)
{
  test_proc *p = g_new0(test_proc, 1);
  GError *err = NULL;
  p->proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                      G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
  g_assert_no_error(err);
  GBytes *no_input = g_bytes_new_static("", 0); /* stdin is closed at once: a child never waits on it */
  g_subprocess_communicate_async(p->proc, no_input, NULL, test_proc_done, p);
  g_bytes_unref(no_input);
  return p;
}

/* Iterates the default main context until cond(data) or timeout; returns cond's last value. */
G_GNUC_UNUSED static bool
test_loop_until(bool (*cond)(gpointer), gpointer data, unsigned timeout_ms)
{
  int64_t end = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
  while (!(cond && cond(data)) && g_get_monotonic_time() < end)
    if (!g_main_context_iteration(NULL, FALSE))
      g_usleep(1000);
  return cond && cond(data);
}

G_GNUC_UNUSED static void
test_loop_for(unsigned ms)
{
  test_loop_until(NULL, NULL, ms);
}

static bool
test_proc_is_done(gpointer data)
{
  return ((test_proc *)data)->done;
}

/* Waits for the child (killing it after timeout_ms), frees p, returns its exit status. */
G_GNUC_UNUSED static int
test_proc_wait(test_proc *p, unsigned timeout_ms)
{
  if (!test_loop_until(test_proc_is_done, p, timeout_ms)) {
    g_test_message("child did not exit in %u ms: killing it", timeout_ms);
    g_subprocess_force_exit(p->proc);
    test_loop_until(test_proc_is_done, p, 5000);
  }
  g_assert_true(p->done);
  int st = p->status;
  gsize n = 0;
  const char *text = p->errout ? g_bytes_get_data(p->errout, &n) : NULL;
  if (n > 0 && (st != 0 || g_getenv("LC_TEST_VERBOSE"))) {
    gsize from = n > 4096 ? n - 4096 : 0; /* the end says why */
    g_printerr("child exited %d; its stderr%s:\n%.*s\n", st, from ? " (end)" : "", (int)(n - from), text + from);
  }
  if (p->errout)
    g_bytes_unref(p->errout);
  g_object_unref(p->proc);
  g_free(p);
  return st;
}

/* Asks the child to stop (SIGINT: ffmpeg closes its connection politely, then exits), waits
 * for it like test_proc_wait and returns its exit status (ffmpeg's is 255 after SIGINT). For
 * publishers given more media than the test needs: stopped once the test saw what it waited
 * for, so a slow machine never runs them dry mid-measurement. */
G_GNUC_UNUSED static int
test_proc_stop(test_proc *p, unsigned timeout_ms)
{
  if (!p->done)
    g_subprocess_send_signal(p->proc, SIGINT);
  return test_proc_wait(p, timeout_ms);
}

/* ffmpeg publishing `secs` seconds of a test pattern + tone to url (format "flv" or "mpegts");
 * libx264 veryfast keeps its B-frames (High profile), as OBS's default x264 settings do. */
G_GNUC_UNUSED static test_proc *
test_ffmpeg_start(const char *url, const char *format, int secs, const char *size)
{
  char t[16];
  g_snprintf(t, sizeof t, "%d", secs);
  char *vsrc = g_strdup_printf("testsrc2=size=%s:rate=30", size ? size : "640x360");
  const char *argv[] = {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", vsrc,
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v", "libx264", "-preset",
                        "veryfast", "-g", "30", "-c:a", "aac", "-t", t, "-f", format, url, NULL};
  test_proc *p = test_proc_start(argv);
  g_free(vsrc);
  return p;
}

/* ---- raw TCP client on a thread ---- */

typedef struct {
  int port;
  GBytes *pre;       /* sent first (e.g. C0+C1), may be NULL */
  size_t expect;     /* bytes to read after `pre` before sending `post` (e.g. 3073) */
  GBytes *post;      /* sent after (e.g. C2 + chunks) */
  unsigned wait_ms;  /* how long to wait for the server to close */
  /* results */
  bool closed_by_server; /* EOF or reset seen within wait_ms */
  size_t received;
  gint finished;
} test_raw;

static gpointer
test_raw_thread(gpointer data)
{
  test_raw *r = data;
  GError *err = NULL;
  GSocketClient *cl = g_socket_client_new();
  g_socket_client_set_timeout(cl, 5);
  char *host = g_strdup_printf("127.0.0.1:%d", r->port);
  GSocketConnection *sc = g_socket_client_connect_to_host(cl, host, 0, NULL, &err);
  g_free(host);
  if (!sc) {
    g_clear_error(&err);
    goto out;
  }
  GSocket *s = g_socket_connection_get_socket(sc);
  g_socket_set_timeout(s, 0);
  if (r->pre) {
    gsize n;
    const char *d = g_bytes_get_data(r->pre, &n);
    g_socket_send_with_blocking(s, d, n, TRUE, NULL, NULL);
  }
  char buf[8192];
  while (r->received < r->expect) {
    gssize n = g_socket_receive_with_blocking(s, buf, MIN(sizeof buf, r->expect - r->received), TRUE, NULL, NULL);
    if (n <= 0) {
      r->closed_by_server = true;
      goto close;
    }
    r->received += (size_t)n;
  }
  if (r->post) {
    gsize n;
    const char *d = g_bytes_get_data(r->post, &n);
    g_socket_send_with_blocking(s, d, n, TRUE, NULL, NULL);
  }
  int64_t end = g_get_monotonic_time() + (int64_t)r->wait_ms * 1000;
  while (g_get_monotonic_time() < end) {
    if (!g_socket_condition_timed_wait(s, G_IO_IN, end - g_get_monotonic_time(), NULL, NULL))
      break;
    gssize n = g_socket_receive_with_blocking(s, buf, sizeof buf, FALSE, NULL, &err);
    if (n == 0 || (n < 0 && !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))) {
      r->closed_by_server = true;
      g_clear_error(&err);
      break;
    }
    g_clear_error(&err);
    if (n > 0)
      r->received += (size_t)n;
  }
close:
  g_io_stream_close(G_IO_STREAM(sc), NULL, NULL);
  g_object_unref(sc);
out:
  g_object_unref(cl);
  g_atomic_int_set(&r->finished, 1);
  return NULL;
}

static bool
test_raw_is_done(gpointer data)
{
  return g_atomic_int_get(&((test_raw *)data)->finished) != 0;
}

/* Runs the raw client while the main loop serves; returns whether the server closed it. */
G_GNUC_UNUSED static bool
test_raw_run(test_raw *r)
{
  GThread *t = g_thread_new("raw-client", test_raw_thread, r);
  test_loop_until(test_raw_is_done, r, r->wait_ms + 10000);
  g_thread_join(t);
  return r->closed_by_server;
}

/* ---- raw RTMP bytes ---- */

G_GNUC_UNUSED static GBytes *
c0c1(void)
{
  uint8_t *b = g_malloc0(1537);
  b[0] = 3;
  return g_bytes_new_take(b, 1537);
}

/* C2 followed by `tail` (borrowed). */
G_GNUC_UNUSED static GBytes *
c2_and(const uint8_t *tail, size_t n)
{
  GByteArray *a = g_byte_array_sized_new(1536 + n);
  g_byte_array_set_size(a, 1536);
  memset(a->data, 0, 1536);
  g_byte_array_append(a, tail, n);
  return g_byte_array_free_to_bytes(a);
}

/* connect, createStream, publish `name` through a chunk writer. */
G_GNUC_UNUSED static void
write_session(lc_rtmp_chunk_writer *w, GByteArray *out, const char *name)
{
  GByteArray *p = g_byte_array_new();
  lc_amf0 *obj = lc_amf0_new_object();
  lc_amf0_set(obj, "app", lc_amf0_new_string("live", -1));
  lc_amf0_set(obj, "tcUrl", lc_amf0_new_string("rtmp://127.0.0.1/live", -1));
  lc_amf0_encode_command(p, "connect", 1, obj, NULL, 0);
  lc_amf0_free(obj);
  lc_rtmp_chunk_write(w, out, 3, LC_RTMP_MSG_COMMAND_AMF0, 0, 0, p->data, p->len);
  g_byte_array_set_size(p, 0);
  lc_amf0_encode_command(p, "createStream", 2, NULL, NULL, 0);
  lc_rtmp_chunk_write(w, out, 3, LC_RTMP_MSG_COMMAND_AMF0, 0, 0, p->data, p->len);
  g_byte_array_set_size(p, 0);
  lc_amf0 *args[2] = {lc_amf0_new_string(name, -1), lc_amf0_new_string("live", -1)};
  lc_amf0_encode_command(p, "publish", 3, NULL, (const lc_amf0 *const *)args, 2);
  lc_amf0_free(args[0]);
  lc_amf0_free(args[1]);
  lc_rtmp_chunk_write(w, out, 8, LC_RTMP_MSG_COMMAND_AMF0, 0, 1, p->data, p->len);
  g_byte_array_unref(p);
}


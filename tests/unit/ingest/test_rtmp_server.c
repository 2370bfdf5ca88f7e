/* RTMP server tests with real publishers (ffmpeg, GStreamer rtmpsink = librtmp, rtmp2sink) and
 * a raw client for malformed input. The server runs on port 0 in this thread's main loop; a
 * fake consumer stands in for the ingest manager (auth: key "secret", one publisher per room). */
#include "ingest/amf0.h"
#include "base/errors.h"
#include "publisher.h"
#include "ingest/rtmp_chunk.h"
#include "ingest/rtmp_server.h"
#include "ingest/stream_key.h"

#include <string.h>

typedef struct {
  unsigned publish_calls, accepted, unpublished;
  unsigned video_cfg, video, keyframes, audio_cfg, audio;
  int64_t last_dts;
  bool dts_backwards;
  char last_key[160];
  char last_room[80];
  char last_reason[256];
  GHashTable *active; /* room -> conn */
} fake;

static int
f_publish(lc_rtmp_conn *c, const char *app, const char *name, const char *tc_url, const char **code,
          const char **desc, gpointer user)
{
  fake *f = user;
  f->publish_calls++;
  lc_stream_key sk;
  const char *why;
  if (lc_stream_key_parse_rtmp(name, tc_url, &sk, &why) != 0) {
    *code = LC_AMF0_PUBLISH_BADNAME;
    *desc = why;
    return LC_EINVAL;
  }
  g_strlcpy(f->last_key, sk.key, sizeof f->last_key);
  g_strlcpy(f->last_room, sk.room, sizeof f->last_room);
  if (strcmp(sk.key, "secret") != 0) {
    *code = LC_AMF0_PUBLISH_BADNAME;
    *desc = "wrong stream key";
    return LC_EPERM;
  }
  if (g_hash_table_contains(f->active, sk.room)) {
    *code = LC_AMF0_PUBLISH_DENIED;
    *desc = "room already has a publisher";
    return LC_EBUSY;
  }
  g_hash_table_insert(f->active, g_strdup(sk.room), c);
  lc_rtmp_conn_set_data(c, g_strdup(sk.room));
  f->accepted++;
  return 0;
}

static void
f_video_config(lc_rtmp_conn *c, const uint8_t *avcc, size_t len, gpointer user)
{
  ((fake *)user)->video_cfg++;
}

static void
f_video(lc_rtmp_conn *c, const uint8_t *au, size_t len, int64_t dts, int32_t cts, bool key, gpointer user)
{
  fake *f = user;
  f->video++;
  f->keyframes += key;
  if (dts < f->last_dts)
    f->dts_backwards = true;
  f->last_dts = dts;
}

static void
f_audio_config(lc_rtmp_conn *c, const uint8_t *asc, size_t len, gpointer user)
{
  ((fake *)user)->audio_cfg++;
}

static void
f_audio(lc_rtmp_conn *c, const uint8_t *fr, size_t len, int64_t pts, gpointer user)
{
  ((fake *)user)->audio++;
}

static void
f_unpublished(lc_rtmp_conn *c, const char *reason, gpointer user)
{
  fake *f = user;
  f->unpublished++;
  g_strlcpy(f->last_reason, reason, sizeof f->last_reason);
  char *room = lc_rtmp_conn_get_data(c);
  if (room)
    g_hash_table_remove(f->active, room);
  g_free(room);
  lc_rtmp_conn_set_data(c, NULL);
}

typedef struct {
  fake f;
  lc_rtmp_server *srv;
  int port;
} fixture;

static void
setup(fixture *fx, gconstpointer data)
{
  memset(&fx->f, 0, sizeof fx->f);
  fx->f.active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  lc_rtmp_server_config cfg;
  lc_rtmp_server_config_default(&cfg);
  cfg.bind = "127.0.0.1";
  cfg.port = 0;
  /* shorter than the defaults (10 s) so the silent-client case ends sooner, long enough for a
   * publisher on a busy machine: with 2 s / 3 s a GStreamer publisher once exited 1 in CI (why
   * was not logged then; test_proc_wait now prints a failed child's stderr) */
  cfg.handshake_timeout_ms = 5000;
  cfg.idle_timeout_ms = 6000;
  lc_rtmp_server_callbacks cb = {.publish = f_publish,
                                 .video_config = f_video_config,
                                 .video = f_video,
                                 .audio_config = f_audio_config,
                                 .audio = f_audio,
                                 .unpublished = f_unpublished};
  char *err = NULL;
  fx->srv = lc_rtmp_server_new(&cfg, &cb, &fx->f, &err);
  g_assert_no_errno(err ? -1 : 0);
  g_assert_nonnull(fx->srv);
  fx->port = lc_rtmp_server_port(fx->srv);
  g_assert_cmpint(fx->port, >, 0);
}

static void
teardown(fixture *fx, gconstpointer data)
{
  lc_rtmp_server_free(fx->srv);
  g_assert_cmpuint(g_hash_table_size(fx->f.active), ==, 0);
  g_hash_table_destroy(fx->f.active);
}

static char *
url(fixture *fx, const char *name)
{
  return g_strdup_printf("rtmp://127.0.0.1:%d/live/%s", fx->port, name);
}

static void
assert_media(fake *f)
{
  g_assert_cmpuint(f->accepted, ==, 1);
  g_assert_cmpuint(f->unpublished, ==, 1);
  g_assert_cmpuint(f->video_cfg, >=, 1);
  g_assert_cmpuint(f->audio_cfg, >=, 1);
  g_assert_cmpuint(f->video, >=, 30);
  g_assert_cmpuint(f->keyframes, >=, 1);
  g_assert_cmpuint(f->audio, >=, 30);
  g_assert_false(f->dts_backwards);
}

static void
test_ffmpeg(fixture *fx, gconstpointer data)
{
  char *u = url(fx, "room1?key=secret");
  int st = test_proc_wait(test_ffmpeg_start(u, "flv", 2, NULL), 30000);
  g_free(u);
  test_loop_for(200);
  g_assert_cmpint(st, ==, 0);
  g_assert_cmpstr(fx->f.last_room, ==, "room1");
  assert_media(&fx->f);
  lc_rtmp_server_stats s;
  lc_rtmp_server_get_stats(fx->srv, &s);
  g_assert_cmpuint(s.connections, ==, 0);
  g_assert_cmpuint(s.bytes_in, >, 10000);
}

static void
test_ffmpeg_key_in_tcurl(fixture *fx, gconstpointer data)
{
  char *u = url(fx, "room2");
  char *tc = g_strdup_printf("rtmp://127.0.0.1:%d/live?key=secret", fx->port);
  const char *argv[] = {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                        "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine", "-c:v", "libx264", "-preset",
                        "ultrafast", "-g", "30", "-c:a", "aac", "-t", "2", "-rtmp_tcurl", tc, "-f", "flv", u, NULL};
  int st = test_proc_wait(test_proc_start(argv), 30000);
  g_free(u);
  g_free(tc);
  test_loop_for(200);
  g_assert_cmpint(st, ==, 0);
  g_assert_cmpstr(fx->f.last_room, ==, "room2");
  g_assert_cmpstr(fx->f.last_key, ==, "secret");
  assert_media(&fx->f);
}

static void
test_wrong_key(fixture *fx, gconstpointer data)
{
  char *u = url(fx, "room1?key=nope");
  int st = test_proc_wait(test_ffmpeg_start(u, "flv", 2, NULL), 30000);
  g_free(u);
  g_assert_cmpint(st, !=, 0);
  g_assert_cmpuint(fx->f.publish_calls, ==, 1);
  g_assert_cmpstr(fx->f.last_key, ==, "nope");
  g_assert_cmpuint(fx->f.accepted, ==, 0);
  g_assert_cmpuint(fx->f.video, ==, 0);
  /* missing key */
  u = url(fx, "room1");
  st = test_proc_wait(test_ffmpeg_start(u, "flv", 2, NULL), 30000);
  g_free(u);
  g_assert_cmpint(st, !=, 0);
  g_assert_cmpstr(fx->f.last_key, ==, "");
  lc_rtmp_server_stats s;
  lc_rtmp_server_get_stats(fx->srv, &s);
  g_assert_cmpuint(s.refused, ==, 2);
}

static void
test_gst_rtmpsink(fixture *fx, gconstpointer data)
{
  const char *sink = data;
  char *dst;
  if (strcmp(sink, "rtmpsink") == 0)
    dst = g_strdup_printf("rtmpsink location=\"rtmp://127.0.0.1:%d/live/room3?key=secret live=1\"", fx->port);
  else
    dst = g_strdup_printf("rtmp2sink host=127.0.0.1 port=%d application=live stream=room3?key=secret", fx->port);
  char *pipe = g_strdup_printf(
    "videotestsrc num-buffers=90 is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! flvmux name=m streamable=true ! %s "
    "audiotestsrc is-live=true num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! "
    "audioconvert ! avenc_aac ! aacparse ! m.",
    dst);
  g_free(dst);
  char **argv = NULL;
  char *cmd = g_strdup_printf("gst-launch-1.0 -q -e %s", pipe);
  g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
  int st = test_proc_wait(test_proc_start((const char *const *)argv), 30000);
  g_strfreev(argv);
  g_free(cmd);
  g_free(pipe);
  test_loop_for(300);
  g_test_message("%s exit %d: video %u audio %u", sink, st, fx->f.video, fx->f.audio);
  g_assert_cmpint(st, ==, 0);
  g_assert_cmpstr(fx->f.last_room, ==, "room3");
  g_assert_cmpuint(fx->f.accepted, ==, 1);
  g_assert_cmpuint(fx->f.video_cfg, >=, 1);
  g_assert_cmpuint(fx->f.audio_cfg, >=, 1);
  g_assert_cmpuint(fx->f.video, >=, 45);
  g_assert_cmpuint(fx->f.audio, >=, 45);
  g_assert_cmpuint(fx->f.unpublished, ==, 1);
}

static void
test_second_publisher(fixture *fx, gconstpointer data)
{
  char *u = url(fx, "room1?key=secret");
  test_proc *a = test_ffmpeg_start(u, "flv", 3, "320x240");
  test_loop_for(1200);
  test_proc *b = test_ffmpeg_start(u, "flv", 2, "320x240");
  int sb = test_proc_wait(b, 30000);
  int sa = test_proc_wait(a, 30000);
  g_free(u);
  test_loop_for(200);
  g_assert_cmpint(sa, ==, 0);
  g_assert_cmpint(sb, !=, 0);
  g_assert_cmpuint(fx->f.publish_calls, ==, 2);
  g_assert_cmpuint(fx->f.accepted, ==, 1);
}

/* ---- malformed input ---- */

static bool
raw_closed(fixture *fx, GByteArray *after_hs)
{
  test_raw r = {.port = fx->port, .pre = c0c1(), .expect = 3073, .wait_ms = 12000};
  r.post = c2_and(after_hs->data, after_hs->len);
  bool closed = test_raw_run(&r);
  g_bytes_unref(r.pre);
  g_bytes_unref(r.post);
  return closed;
}

static void
test_malformed(fixture *fx, gconstpointer data)
{
  /* bad C0 version */
  test_raw r = {.port = fx->port, .wait_ms = 3000};
  uint8_t bad[1537] = {6};
  r.pre = g_bytes_new(bad, sizeof bad);
  g_assert_true(test_raw_run(&r));
  g_bytes_unref(r.pre);

  /* random bytes after the handshake */
  GRand *rnd = g_rand_new_with_seed(42);
  GByteArray *a = g_byte_array_new();
  for (int i = 0; i < 4096; i++) {
    uint8_t v = (uint8_t)g_rand_int(rnd);
    g_byte_array_append(a, &v, 1);
  }
  g_rand_free(rnd);
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);

  /* oversized Set Chunk Size */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  a = g_byte_array_new();
  lc_rtmp_chunk_write_set_chunk_size(w, a, 0x7fffffff);
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);
  lc_rtmp_chunk_writer_free(w);

  /* truncated AMF in connect */
  w = lc_rtmp_chunk_writer_new();
  a = g_byte_array_new();
  GByteArray *p = g_byte_array_new();
  lc_amf0 *obj = lc_amf0_new_object();
  lc_amf0_set(obj, "app", lc_amf0_new_string("live", -1));
  lc_amf0_encode_command(p, "connect", 1, obj, NULL, 0);
  lc_amf0_free(obj);
  lc_rtmp_chunk_write(w, a, 3, LC_RTMP_MSG_COMMAND_AMF0, 0, 0, p->data, p->len - 7);
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);
  g_byte_array_unref(p);
  lc_rtmp_chunk_writer_free(w);

  /* an oversized message length (16 MiB - 1 > 8 MiB limit) */
  uint8_t big[] = {0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0};
  a = g_byte_array_new();
  g_byte_array_append(a, big, sizeof big);
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);

  /* connected, silent: the handshake timeout (5 s) closes it */
  a = g_byte_array_new();
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);

  g_assert_cmpuint(fx->f.accepted, ==, 0);
  lc_rtmp_server_stats s;
  lc_rtmp_server_get_stats(fx->srv, &s);
  g_assert_cmpuint(s.connections, ==, 0);
  g_assert_cmpuint(s.refused, ==, 6);

  /* the server is fine: a real publisher still works */
  char *u = url(fx, "room1?key=secret");
  int st = test_proc_wait(test_ffmpeg_start(u, "flv", 2, "320x240"), 30000);
  g_free(u);
  test_loop_for(200);
  g_assert_cmpint(st, ==, 0);
  assert_media(&fx->f);
}

/* A publish followed by a refused codec: the connection is closed with a reason. */
static void
refused_codec(fixture *fx, int type, const uint8_t *body, size_t n, const char *expect)
{
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *a = g_byte_array_new();
  write_session(w, a, "room1?key=secret");
  lc_rtmp_chunk_write(w, a, 6, (uint8_t)type, 0, 1, body, n);
  g_assert_true(raw_closed(fx, a));
  g_byte_array_unref(a);
  lc_rtmp_chunk_writer_free(w);
  g_assert_cmpuint(fx->f.accepted, >=, 1);
  g_assert_nonnull(strstr(fx->f.last_reason, expect));
}

static void
test_refused_codecs(fixture *fx, gconstpointer data)
{
  const uint8_t hevc[] = {0x90, 'h', 'v', 'c', '1', 1, 2, 3};
  refused_codec(fx, LC_RTMP_MSG_VIDEO, hevc, sizeof hevc, "hvc1");
  const uint8_t av1[] = {0x90, 'a', 'v', '0', '1', 1, 2, 3};
  refused_codec(fx, LC_RTMP_MSG_VIDEO, av1, sizeof av1, "av01");
  const uint8_t vp6[] = {0x14, 0, 0, 0};
  refused_codec(fx, LC_RTMP_MSG_VIDEO, vp6, sizeof vp6, "VP6");
  const uint8_t mp3[] = {0x2f, 0xff, 0xfb, 0x90, 0x00};
  refused_codec(fx, LC_RTMP_MSG_AUDIO, mp3, sizeof mp3, "MP3");
  const uint8_t speex[] = {0xb6, 1, 2, 3};
  refused_codec(fx, LC_RTMP_MSG_AUDIO, speex, sizeof speex, "Speex");
  g_assert_cmpuint(fx->f.unpublished, ==, 5);
}

static void
test_port_in_use(void)
{
  lc_rtmp_server_config cfg;
  lc_rtmp_server_config_default(&cfg);
  cfg.bind = "127.0.0.1";
  cfg.port = 0;
  lc_rtmp_server_callbacks cb = {.publish = f_publish};
  char *err = NULL;
  lc_rtmp_server *a = lc_rtmp_server_new(&cfg, &cb, NULL, &err);
  g_assert_nonnull(a);
  cfg.port = lc_rtmp_server_port(a);
  lc_rtmp_server *b = lc_rtmp_server_new(&cfg, &cb, NULL, &err);
  g_assert_null(b);
  g_assert_nonnull(strstr(err, "cannot listen for RTMP"));
  g_free(err);
  lc_rtmp_server_free(a);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define T(name, fn, d) g_test_add("/rtmp_server/" name, fixture, d, setup, fn, teardown)
  T("ffmpeg", test_ffmpeg, NULL);
  T("ffmpeg-key-in-tcurl", test_ffmpeg_key_in_tcurl, NULL);
  T("wrong-key", test_wrong_key, NULL);
  T("gst-rtmpsink", test_gst_rtmpsink, "rtmpsink");
  T("gst-rtmp2sink", test_gst_rtmpsink, "rtmp2sink");
  T("second-publisher", test_second_publisher, NULL);
  T("malformed", test_malformed, NULL);
  T("refused-codecs", test_refused_codecs, NULL);
  g_test_add_func("/rtmp_server/port-in-use", test_port_in_use);
  return g_test_run();
}

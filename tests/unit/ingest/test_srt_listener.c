/* SRT listener tests with real callers (ffmpeg -f mpegts srt://...): streamid forms, auth on
 * the main thread, rejections, several callers on one port. */
#include "base/errors.h"
#include "publisher.h"
#include "ingest/srt_listener.h"

#include <string.h>

typedef struct {
  unsigned auth_calls, started, ended;
  char last_key[160];
  char last_room[80];
  GThread *main_thread;
  bool auth_off_main;
  GHashTable *bytes; /* room -> total bytes (guarded by lock: data runs on the SRT thread) */
  GHashTable *id_room; /* id -> room */
  GMutex lock;
} fake;

static int
f_auth(const char *room, const char *key, const char *peer, gpointer user)
{
  fake *f = user;
  f->auth_calls++;
  if (g_thread_self() != f->main_thread)
    f->auth_off_main = true;
  g_strlcpy(f->last_key, key, sizeof f->last_key);
  g_strlcpy(f->last_room, room, sizeof f->last_room);
  if (strcmp(room, "nosuch") == 0)
    return LC_ENOENT;
  return strcmp(key, "secret") == 0 ? 0 : LC_EPERM;
}

static void
f_started(unsigned id, const char *room, const char *peer, gpointer user)
{
  fake *f = user;
  f->started++;
  g_mutex_lock(&f->lock);
  g_hash_table_insert(f->id_room, GUINT_TO_POINTER(id), g_strdup(room));
  g_mutex_unlock(&f->lock);
}

static void
f_data(unsigned id, const uint8_t *ts, size_t len, gpointer user)
{
  fake *f = user;
  g_assert_cmpuint(len % 188, ==, 0);
  g_assert_cmpuint(ts[0], ==, 0x47);
  g_mutex_lock(&f->lock);
  const char *room = g_hash_table_lookup(f->id_room, GUINT_TO_POINTER(id));
  const char *key = room ? room : "(before started)";
  guint64 n = GPOINTER_TO_SIZE(g_hash_table_lookup(f->bytes, key)) + len;
  g_hash_table_insert(f->bytes, g_strdup(key), GSIZE_TO_POINTER(n));
  g_mutex_unlock(&f->lock);
}

static void
f_ended(unsigned id, const char *room, const char *reason, gpointer user)
{
  fake *f = user;
  f->ended++;
}

static size_t
room_bytes(fake *f, const char *room)
{
  g_mutex_lock(&f->lock);
  size_t n = GPOINTER_TO_SIZE(g_hash_table_lookup(f->bytes, room));
  g_mutex_unlock(&f->lock);
  return n;
}

typedef struct {
  fake f;
  lc_srt_listener *l;
  int port;
} fixture;

static void
setup(fixture *fx, gconstpointer data)
{
  memset(&fx->f, 0, sizeof fx->f);
  fx->f.main_thread = g_thread_self();
  g_mutex_init(&fx->f.lock);
  fx->f.bytes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  fx->f.id_room = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
  lc_srt_listener_config cfg = {.bind = "127.0.0.1", .port = 0, .idle_timeout_ms = 3000};
  lc_srt_listener_callbacks cb = {.auth = f_auth, .started = f_started, .data = f_data, .ended = f_ended};
  char *err = NULL;
  fx->l = lc_srt_listener_new(&cfg, &cb, &fx->f, &err);
  if (!fx->l)
    g_error("%s", err);
  fx->port = lc_srt_listener_port(fx->l);
  g_assert_cmpint(fx->port, >, 0);
}

static void
teardown(fixture *fx, gconstpointer data)
{
  lc_srt_listener_free(fx->l);
  g_assert_cmpuint(fx->f.started, ==, fx->f.ended);
  g_assert_false(fx->f.auth_off_main);
  g_hash_table_destroy(fx->f.bytes);
  g_hash_table_destroy(fx->f.id_room);
  g_mutex_clear(&fx->f.lock);
}

/* streamid is URL-encoded: ffmpeg's srt protocol decodes it. */
static char *
srt_url(fixture *fx, const char *streamid)
{
  /* ffmpeg 5.1 passes the streamid query value as is (no URL decoding). */
  char *enc = g_strdup(streamid);
  char *u = g_strdup_printf("srt://127.0.0.1:%d?streamid=%s&latency=120000", fx->port, enc);
  g_free(enc);
  return u;
}

static void
test_publish(fixture *fx, gconstpointer data)
{
  char *u = srt_url(fx, data);
  int st = test_proc_wait(test_ffmpeg_start(u, "mpegts", 2, "320x240"), 30000);
  g_free(u);
  test_loop_for(300);
  g_assert_cmpint(st, ==, 0);
  g_assert_cmpuint(fx->f.auth_calls, ==, 1);
  g_assert_cmpstr(fx->f.last_key, ==, "secret");
  g_assert_cmpstr(fx->f.last_room, ==, "room1");
  g_assert_cmpuint(fx->f.started, ==, 1);
  g_assert_cmpuint(fx->f.ended, ==, 1);
  g_assert_cmpuint(room_bytes(&fx->f, "room1") + room_bytes(&fx->f, "(before started)"), >, 50000);
  lc_srt_listener_stats s;
  lc_srt_listener_get_stats(fx->l, &s);
  g_assert_cmpuint(s.accepted, ==, 1);
  g_assert_cmpuint(s.connections, ==, 0);
}

static void
test_rejected(fixture *fx, gconstpointer data)
{
  const char *ids[] = {"#!::r=room1,k=nope", "#!::r=room1", "#!::r=nosuch,k=secret", "#!::k=secret",
                       "#!::r=room1,k=secret,m=request", "Room With Spaces?key=secret"};
  for (unsigned i = 0; i < G_N_ELEMENTS(ids); i++) {
    char *u = srt_url(fx, ids[i]);
    int st = test_proc_wait(test_ffmpeg_start(u, "mpegts", 1, "160x120"), 30000);
    g_free(u);
    g_assert_cmpint(st, !=, 0);
  }
  g_assert_cmpuint(fx->f.auth_calls, ==, 3); /* the syntax errors never reach auth */
  g_assert_cmpuint(fx->f.started, ==, 0);
  lc_srt_listener_stats s;
  lc_srt_listener_get_stats(fx->l, &s);
  g_assert_cmpuint(s.rejected, >=, G_N_ELEMENTS(ids));
}

static void
test_two_callers(fixture *fx, gconstpointer data)
{
  char *u1 = srt_url(fx, "#!::r=room-a,k=secret");
  char *u2 = srt_url(fx, "room-b?key=secret");
  test_proc *a = test_ffmpeg_start(u1, "mpegts", 2, "320x240");
  test_proc *b = test_ffmpeg_start(u2, "mpegts", 2, "320x240");
  int sa = test_proc_wait(a, 30000), sb = test_proc_wait(b, 30000);
  g_free(u1);
  g_free(u2);
  test_loop_for(300);
  g_assert_cmpint(sa, ==, 0);
  g_assert_cmpint(sb, ==, 0);
  g_assert_cmpuint(fx->f.started, ==, 2);
  g_assert_cmpuint(room_bytes(&fx->f, "room-a"), >, 20000);
  g_assert_cmpuint(room_bytes(&fx->f, "room-b"), >, 20000);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/srt_listener/publish-acl-form", fixture, "#!::r=room1,k=secret,m=publish", setup, test_publish,
             teardown);
  g_test_add("/srt_listener/publish-plain-form", fixture, "room1?key=secret", setup, test_publish, teardown);
  g_test_add("/srt_listener/rejected", fixture, NULL, setup, test_rejected, teardown);
  g_test_add("/srt_listener/two-callers", fixture, NULL, setup, test_two_callers, teardown);
  return g_test_run();
}

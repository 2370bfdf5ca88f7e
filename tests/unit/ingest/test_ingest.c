/* Publish manager tests with real publishers into real ladders: ffmpeg (RTMP and SRT),
 * GStreamer rtmpsink (librtmp) and rtmp2sink; renditions must receive video and audio;
 * auth, second publisher, takeover, grace (same SSRC, continuous seq/ts), two rooms. */
#include "base/errors.h"
#include "ingest/ingest.h"
#include "publisher.h"

#include <gst/gst.h>
#include <string.h>
#include "../gst_sanitizer.h"

typedef struct {
  GMutex lock;
  uint32_t ssrc;
  uint16_t last_seq;
  uint32_t last_ts;
  uint64_t count;
  bool mark;          /* next packet: check continuity against mark_seq/mark_ts */
  uint16_t mark_seq;
  uint32_t mark_ts;
  bool continuity_ok; /* set when the checked packet continued the numbering */
  bool checked;
} watch;

typedef struct {
  lc_media_hub *hub;
  lc_ingest *in;
  GPtrArray *events;  /* "room event" strings */
  char last_key[160];
  unsigned auth_calls;
  GHashTable *watches; /* "room/rendition" -> watch* */
  GPtrArray *subs;     /* held renditions to unsubscribe */
  GArray *sub_ids;
} fixture;

static int
f_auth(const char *room, const char *key, gpointer user)
{
  fixture *fx = user;
  fx->auth_calls++;
  g_strlcpy(fx->last_key, key, sizeof fx->last_key);
  if (strcmp(room, "ended") == 0)
    return LC_ESTATE;
  if (strncmp(room, "room", 4) != 0)
    return LC_ENOENT;
  return strcmp(key, "secret") == 0 ? 0 : LC_EPERM;
}

static void
f_event(const char *room, const char *event, const char *detail, gpointer user)
{
  fixture *fx = user;
  g_ptr_array_add(fx->events, g_strdup_printf("%s %s", room, event));
  g_test_message("event %s %s (%s)", room, event, detail);
}

static bool
has_event(fixture *fx, const char *ev)
{
  for (guint i = 0; i < fx->events->len; i++)
    if (strcmp(fx->events->pdata[i], ev) == 0)
      return true;
  return false;
}

static unsigned
count_events(fixture *fx, const char *ev)
{
  unsigned n = 0;
  for (guint i = 0; i < fx->events->len; i++)
    n += strcmp(fx->events->pdata[i], ev) == 0;
  return n;
}

static void
setup_cfg(fixture *fx, unsigned grace_ms, bool takeover)
{
  memset(fx, 0, sizeof *fx);
  fx->hub = lc_media_hub_new();
  fx->events = g_ptr_array_new_with_free_func(g_free);
  fx->watches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  fx->subs = g_ptr_array_new();
  fx->sub_ids = g_array_new(FALSE, FALSE, sizeof(unsigned));
  lc_ingest_config cfg;
  lc_ingest_config_default(&cfg);
  cfg.rtmp_bind = "127.0.0.1";
  cfg.rtmp_port = 0;
  cfg.srt_bind = "127.0.0.1";
  cfg.srt_port = 0;
  cfg.grace_ms = grace_ms;
  cfg.takeover = takeover;
  cfg.idle_timeout_ms = 4000;
  char *err = NULL;
  g_assert_cmpint(lc_ladder_parse_rungs("360p:640x360:600,180p:320x180:200", &cfg.ladder, &err), ==, 0);
  g_strlcpy(cfg.ladder.x264_preset, "ultrafast", sizeof cfg.ladder.x264_preset);
  cfg.ladder.keyframe_interval_ms = 1000;
  cfg.ladder.cache_ms = 1000;
  fx->in = lc_ingest_new(&cfg, fx->hub, f_auth, f_event, fx, &err);
  if (!fx->in)
    g_error("lc_ingest_new: %s", err);
  g_assert_cmpint(lc_ingest_rtmp_port(fx->in), >, 0);
  g_assert_cmpint(lc_ingest_srt_port(fx->in), >, 0);
}

static void
setup(fixture *fx, gconstpointer data)
{
  setup_cfg(fx, 30000, false);
}

static void
setup_short_grace(fixture *fx, gconstpointer data)
{
  setup_cfg(fx, 2500, false);
}

static void
setup_takeover(fixture *fx, gconstpointer data)
{
  setup_cfg(fx, 30000, true);
}

static void
teardown(fixture *fx, gconstpointer data)
{
  for (guint i = 0; i < fx->subs->len; i++) {
    lc_rendition_unsubscribe(fx->subs->pdata[i], g_array_index(fx->sub_ids, unsigned, i));
    lc_rendition_unref(fx->subs->pdata[i]);
  }
  lc_ingest_free(fx->in);
  lc_media_hub_free(fx->hub);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, fx->watches);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    g_mutex_clear(&((watch *)v)->lock);
    g_free(v);
  }
  g_hash_table_destroy(fx->watches);
  g_ptr_array_unref(fx->subs);
  g_array_unref(fx->sub_ids);
  g_ptr_array_unref(fx->events);
}

/* ---- rendition watching ---- */

static void
on_pkt(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  watch *w = user;
  g_mutex_lock(&w->lock);
  uint32_t ssrc = ((uint32_t)pkt->data[8] << 24) | ((uint32_t)pkt->data[9] << 16) | ((uint32_t)pkt->data[10] << 8) |
                  pkt->data[11];
  if (w->count == 0)
    w->ssrc = ssrc;
  g_assert_cmpuint(ssrc, ==, w->ssrc);
  if (w->mark) {
    w->mark = false;
    w->checked = true;
    w->continuity_ok = pkt->seq == (uint16_t)(w->mark_seq + 1) && (int32_t)(pkt->ts - w->mark_ts) > 0;
    if (!w->continuity_ok)
      g_test_message("discontinuity: seq %u -> %u, ts %u -> %u", w->mark_seq, pkt->seq, w->mark_ts, pkt->ts);
  }
  w->last_seq = pkt->seq;
  w->last_ts = pkt->ts;
  w->count++;
  g_mutex_unlock(&w->lock);
}

/* Subscribes to every rendition of the room not yet watched. */
static void
watch_room(fixture *fx, const char *room)
{
  lc_media_room *m = lc_media_hub_acquire(fx->hub, room);
  if (!m)
    return;
  unsigned nv = lc_media_room_n_video(m);
  for (unsigned i = 0; i <= nv; i++) {
    lc_rendition *r = i < nv ? lc_media_room_video(m, i) : lc_media_room_audio(m);
    if (!r)
      continue;
    lc_rendition_info info;
    lc_rendition_get_info(r, &info);
    char *key = g_strdup_printf("%s/%s", room, info.name);
    if (g_hash_table_contains(fx->watches, key)) {
      g_free(key);
      continue;
    }
    watch *w = g_new0(watch, 1);
    g_mutex_init(&w->lock);
    g_hash_table_insert(fx->watches, key, w);
    unsigned id = lc_rendition_subscribe(r, on_pkt, w);
    g_ptr_array_add(fx->subs, lc_rendition_ref(r));
    g_array_append_val(fx->sub_ids, id);
  }
  lc_media_room_unref(m);
}

static uint64_t
watched(fixture *fx, const char *room, const char *name)
{
  char *key = g_strdup_printf("%s/%s", room, name);
  watch *w = g_hash_table_lookup(fx->watches, key);
  g_free(key);
  if (!w)
    return 0;
  g_mutex_lock(&w->lock);
  uint64_t n = w->count;
  g_mutex_unlock(&w->lock);
  return n;
}

typedef struct {
  fixture *fx;
  const char *room;
  test_proc *p;
} media_wait;

static bool
room_has_media(gpointer data)
{
  media_wait *mw = data;
  watch_room(mw->fx, mw->room);
  return watched(mw->fx, mw->room, "180p") > 20 && watched(mw->fx, mw->room, "opus") > 20;
}

/* While p runs: watch the room's renditions until video and audio packets flow. */
static bool
wait_media(fixture *fx, const char *room, unsigned timeout_ms)
{
  media_wait mw = {fx, room, NULL};
  return test_loop_until(room_has_media, &mw, timeout_ms);
}

static char *
rtmp_url(fixture *fx, const char *name)
{
  return g_strdup_printf("rtmp://127.0.0.1:%d/live/%s", lc_ingest_rtmp_port(fx->in), name);
}

static char *
srt_url(fixture *fx, const char *streamid)
{
  return g_strdup_printf("srt://127.0.0.1:%d?streamid=%s&latency=120000", lc_ingest_srt_port(fx->in), streamid);
}

static test_proc *
start_publisher(fixture *fx, const char *kind, const char *room, int secs, const char *size)
{
  char *name = g_strdup_printf("%s?key=secret", room);
  test_proc *p;
  if (strcmp(kind, "ffmpeg-rtmp") == 0) {
    char *u = rtmp_url(fx, name);
    p = test_ffmpeg_start(u, "flv", secs, size);
    g_free(u);
  } else if (strcmp(kind, "ffmpeg-srt") == 0) {
    char *sid = g_strdup_printf("#!::r=%s,k=secret", room);
    char *u = srt_url(fx, sid);
    p = test_ffmpeg_start(u, "mpegts", secs, size);
    g_free(u);
    g_free(sid);
  } else {
    char *dst = strcmp(kind, "rtmpsink") == 0
                  ? g_strdup_printf("rtmpsink location=\"rtmp://127.0.0.1:%d/live/%s live=1\"",
                                    lc_ingest_rtmp_port(fx->in), name)
                  : g_strdup_printf("rtmp2sink host=127.0.0.1 port=%d application=live stream=%s",
                                    lc_ingest_rtmp_port(fx->in), name);
    char *cmd = g_strdup_printf(
      "gst-launch-1.0 -q -e videotestsrc num-buffers=%d is-live=true ! "
      "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast "
      "key-int-max=30 ! h264parse ! flvmux name=m streamable=true ! %s audiotestsrc is-live=true num-buffers=%d "
      "samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac ! aacparse ! m.",
      secs * 30, dst, secs * 50);
    char **argv = NULL;
    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    p = test_proc_start((const char *const *)argv);
    g_strfreev(argv);
    g_free(cmd);
    g_free(dst);
  }
  g_free(name);
  return p;
}

/* ---- tests ---- */

static void
test_publish(fixture *fx, gconstpointer data)
{
  const char *kind = data;
  test_proc *p = start_publisher(fx, kind, "room1", 4, strcmp(kind, "ffmpeg-rtmp") == 0 ? "1280x720" : "640x360");
  g_assert_true(wait_media(fx, "room1", 15000));
  json_t *st = lc_ingest_status(fx->in);
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(json_object_get(st, "rooms"), "room1"), "state")),
                  ==, "live");
  g_assert_cmpint(json_integer_value(json_object_get(st, "publishers")), ==, 1);
  json_decref(st);
  g_assert_true(lc_ingest_is_publishing(fx->in, "room1"));
  g_assert_false(lc_ingest_is_publishing(fx->in, "room2"));
  int rc = test_proc_wait(p, 30000);
  test_loop_for(300);
  g_assert_cmpint(rc, ==, 0);
  g_assert_true(has_event(fx, "room1 publish.start"));
  g_assert_true(has_event(fx, "room1 publish.lost"));
  g_assert_cmpstr(fx->last_key, ==, "secret");
  if (strcmp(kind, "rtmpsink") != 0 && strcmp(kind, "rtmp2sink") != 0)
    g_assert_cmpuint(watched(fx, "room1", "360p"), >, 20); /* 320x240 sources skip the 360p rung */
}

static void
test_refused(fixture *fx, gconstpointer data)
{
  char *u = rtmp_url(fx, "room1?key=wrong");
  int rc = test_proc_wait(test_ffmpeg_start(u, "flv", 1, "160x120"), 30000);
  g_free(u);
  g_assert_cmpint(rc, !=, 0);
  g_assert_cmpstr(fx->last_key, ==, "wrong");
  u = rtmp_url(fx, "ended?key=secret");
  rc = test_proc_wait(test_ffmpeg_start(u, "flv", 1, "160x120"), 30000);
  g_free(u);
  g_assert_cmpint(rc, !=, 0);
  u = srt_url(fx, "#!::r=room1,k=wrong");
  rc = test_proc_wait(test_ffmpeg_start(u, "mpegts", 1, "160x120"), 30000);
  g_free(u);
  g_assert_cmpint(rc, !=, 0);
  g_assert_cmpstr(fx->last_key, ==, "wrong");
  g_assert_cmpuint(fx->events->len, ==, 0);
}

static void
test_second_publisher(fixture *fx, gconstpointer data)
{
  test_proc *a = start_publisher(fx, "ffmpeg-rtmp", "room1", 5, NULL);
  g_assert_true(wait_media(fx, "room1", 15000));
  test_proc *b = start_publisher(fx, "ffmpeg-rtmp", "room1", 1, "160x120");
  g_assert_cmpint(test_proc_wait(b, 30000), !=, 0);
  test_proc *c = start_publisher(fx, "ffmpeg-srt", "room1", 1, "160x120");
  g_assert_cmpint(test_proc_wait(c, 30000), !=, 0);
  g_assert_cmpint(test_proc_wait(a, 30000), ==, 0);
  test_loop_for(300);
  g_assert_cmpuint(count_events(fx, "room1 publish.start"), ==, 1);
  g_assert_cmpuint(count_events(fx, "room1 publish.lost"), ==, 1);
  g_assert_cmpuint(count_events(fx, "room1 publish.resumed"), ==, 0);
}

static void
test_takeover(fixture *fx, gconstpointer data)
{
  test_proc *a = start_publisher(fx, "ffmpeg-rtmp", "room1", 6, NULL);
  g_assert_true(wait_media(fx, "room1", 15000));
  test_proc *b = start_publisher(fx, "ffmpeg-srt", "room1", 3, NULL);
  g_assert_cmpint(test_proc_wait(a, 30000), !=, 0); /* disconnected by the takeover */
  g_assert_cmpint(test_proc_wait(b, 30000), ==, 0);
  test_loop_for(300);
  g_assert_cmpuint(count_events(fx, "room1 publish.start"), ==, 1);
  g_assert_cmpuint(count_events(fx, "room1 publish.resumed"), ==, 1);
  g_assert_cmpuint(count_events(fx, "room1 publish.lost"), ==, 1);
}

static void
mark_all(fixture *fx)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, fx->watches);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    watch *w = v;
    g_mutex_lock(&w->lock);
    w->mark = true;
    w->checked = false;
    w->mark_seq = w->last_seq;
    w->mark_ts = w->last_ts;
    g_mutex_unlock(&w->lock);
  }
}

static bool
is_lost(gpointer data)
{
  return count_events(data, "room1 publish.lost") == 1;
}

static bool
is_ended(gpointer data)
{
  return has_event(data, "room1 publish.end");
}

static void
test_grace(fixture *fx, gconstpointer data)
{
  test_proc *a = start_publisher(fx, "ffmpeg-rtmp", "room1", 2, NULL);
  g_assert_true(wait_media(fx, "room1", 15000));
  g_assert_cmpint(test_proc_wait(a, 30000), ==, 0);
  g_assert_true(test_loop_until(is_lost, fx, 5000));
  test_loop_for(200);
  watch *v = g_hash_table_lookup(fx->watches, "room1/180p");
  g_assert_nonnull(v);
  uint32_t ssrc_before = v->ssrc;
  uint64_t before = watched(fx, "room1", "180p");
  mark_all(fx);
  /* back within grace (2.5 s), over SRT this time: same renditions. Its media (30 s) outlasts
   * the slowest ladder start (a 2 s publisher once ran dry under ASan before 20 packets were
   * watched, and the grace period ended the room); it is stopped once they were. */
  test_proc *b = start_publisher(fx, "ffmpeg-srt", "room1", 30, NULL);
  int64_t until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (watched(fx, "room1", "180p") < before + 20 && g_get_monotonic_time() < until)
    test_loop_for(100);
  test_proc_stop(b, 30000);
  g_assert_true(has_event(fx, "room1 publish.resumed"));
  g_assert_false(has_event(fx, "room1 publish.end"));
  g_assert_cmpuint(watched(fx, "room1", "180p"), >=, before + 20);
  g_mutex_lock(&v->lock);
  g_assert_true(v->checked);
  g_assert_true(v->continuity_ok);
  g_assert_cmpuint(v->ssrc, ==, ssrc_before); /* on_pkt also asserts one SSRC per rendition */
  g_mutex_unlock(&v->lock);
  watch *o = g_hash_table_lookup(fx->watches, "room1/opus");
  g_assert_true(o->checked && o->continuity_ok);
  /* gone for good after the grace period */
  g_assert_true(test_loop_until(is_ended, fx, 6000));
  lc_media_room *m = lc_media_hub_acquire(fx->hub, "room1");
  g_assert_null(m);
  json_t *st = lc_ingest_status(fx->in);
  g_assert_cmpuint(json_object_size(json_object_get(st, "rooms")), ==, 0);
  json_decref(st);
}

static void
test_two_rooms(fixture *fx, gconstpointer data)
{
  /* 30 s of media each, stopped once both rooms have media: a 4 s publisher ran dry on a
   * loaded machine before its room's ladder produced anything. */
  test_proc *a = start_publisher(fx, "ffmpeg-rtmp", "room1", 30, NULL);
  test_proc *b = start_publisher(fx, "ffmpeg-srt", "room2", 30, NULL);
  g_assert_true(wait_media(fx, "room1", 30000));
  g_assert_true(wait_media(fx, "room2", 30000));
  test_proc_stop(a, 30000);
  test_proc_stop(b, 30000);
  g_assert_true(has_event(fx, "room1 publish.start"));
  g_assert_true(has_event(fx, "room2 publish.start"));
}

static void
test_kick(fixture *fx, gconstpointer data)
{
  test_proc *a = start_publisher(fx, "ffmpeg-rtmp", "room1", 5, "320x240");
  g_assert_true(wait_media(fx, "room1", 15000));
  g_assert_cmpint(lc_ingest_kick(fx->in, "room1", "room ended by a moderator"), ==, 0);
  g_assert_cmpint(test_proc_wait(a, 30000), !=, 0);
  g_assert_true(has_event(fx, "room1 publish.end"));
  g_assert_false(has_event(fx, "room1 publish.lost"));
  g_assert_cmpint(lc_ingest_kick(fx->in, "room1", NULL), ==, LC_ENOENT);
  lc_ingest_end_room(fx->in, "room1"); /* unknown: fine */
  g_assert_false(lc_ingest_is_publishing(fx->in, "room1"));
}

/* A publisher whose H.264 cannot be decoded (an SPS of random bytes, random slices): the ladder
 * fails, the ingest logs it and rebuilds the ladder for the same publisher. */
typedef struct {
  fixture *fx;
  test_raw r;
} garbage_pub;

static bool
rebuilt(gpointer data)
{
  fixture *fx = data;
  json_t *st = lc_ingest_status(fx->in);
  json_t *room = json_object_get(json_object_get(st, "rooms"), "room1");
  bool ok = room && json_integer_value(json_object_get(room, "ladder_rebuilds")) >= 1;
  json_decref(st);
  return ok;
}

static void
test_ladder_error(fixture *fx, gconstpointer data)
{
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *a = g_byte_array_new();
  write_session(w, a, "room1?key=secret");
  GRand *rnd = g_rand_new_with_seed(7);
  /* FLV header (5), record header (6), SPS length (2) + 24 random bytes, 1 PPS of 4 bytes */
  uint8_t cfg[5 + 6 + 2 + 24 + 1 + 2 + 4] = {0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 24};
  for (int i = 0; i < 24; i++)
    cfg[13 + i] = (uint8_t)g_rand_int(rnd);
  cfg[13] = 0x67;
  cfg[37] = 1;
  cfg[38] = 0;
  cfg[39] = 4;
  cfg[40] = 0x68;
  cfg[41] = 0xff;
  cfg[42] = 0x12;
  cfg[43] = 0x34;
  lc_rtmp_chunk_write(w, a, 6, LC_RTMP_MSG_VIDEO, 0, 1, cfg, sizeof cfg);
  for (int f = 0; f < 60; f++) {
    uint8_t fr[5 + 4 + 400];
    fr[0] = 0x17;
    fr[1] = 1;
    fr[2] = fr[3] = fr[4] = 0;
    fr[5] = 0;
    fr[6] = 0;
    fr[7] = 400 >> 8;
    fr[8] = 400 & 0xff;
    for (int i = 0; i < 400; i++)
      fr[9 + i] = (uint8_t)g_rand_int(rnd);
    fr[9] = 0x65;
    lc_rtmp_chunk_write(w, a, 6, LC_RTMP_MSG_VIDEO, (uint32_t)(f * 33), 1, fr, sizeof fr);
  }
  /* and an AudioSpecificConfig with sampling index 15 but no explicit rate, then frames */
  const uint8_t asc[] = {0xaf, 0, 0x17, 0x80};
  lc_rtmp_chunk_write(w, a, 4, LC_RTMP_MSG_AUDIO, 0, 1, asc, sizeof asc);
  for (int f = 0; f < 40; f++) {
    uint8_t fr[2 + 100] = {0xaf, 1};
    for (int i = 0; i < 100; i++)
      fr[2 + i] = (uint8_t)g_rand_int(rnd);
    lc_rtmp_chunk_write(w, a, 4, LC_RTMP_MSG_AUDIO, (uint32_t)(f * 21), 1, fr, sizeof fr);
  }
  g_rand_free(rnd);
  test_raw r = {.port = lc_ingest_rtmp_port(fx->in), .pre = c0c1(), .expect = 3073, .wait_ms = 3000};
  r.post = c2_and(a->data, a->len);
  GThread *t = g_thread_new("garbage", test_raw_thread, &r);
  bool ok = test_loop_until(rebuilt, fx, 10000);
  test_loop_until(test_raw_is_done, &r, 15000);
  g_thread_join(t);
  g_bytes_unref(r.pre);
  g_bytes_unref(r.post);
  g_byte_array_unref(a);
  lc_rtmp_chunk_writer_free(w);
  g_assert_true(ok);
  g_assert_true(has_event(fx, "room1 publish.start"));
}

/* Publish / unpublish cycles within grace (alternating protocols): every return resumes the same
 * renditions; leaks show up in the ASan build's exit report. */
static void
test_cycles(fixture *fx, gconstpointer data)
{
  for (int i = 0; i < 4; i++) {
    test_proc *p = start_publisher(fx, i % 2 ? "ffmpeg-srt" : "ffmpeg-rtmp", "room1", 1, "320x240");
    g_assert_cmpint(test_proc_wait(p, 30000), ==, 0);
    int64_t until = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (count_events(fx, "room1 publish.lost") < (unsigned)i + 1 && g_get_monotonic_time() < until)
      test_loop_for(50);
  }
  g_assert_cmpuint(count_events(fx, "room1 publish.start"), ==, 1);
  g_assert_cmpuint(count_events(fx, "room1 publish.resumed"), ==, 3);
  g_assert_cmpuint(count_events(fx, "room1 publish.lost"), ==, 4);
}

static void
test_port_in_use(void)
{
  lc_media_hub *hub = lc_media_hub_new();
  lc_ingest_config cfg;
  lc_ingest_config_default(&cfg);
  cfg.rtmp_bind = cfg.srt_bind = "127.0.0.1";
  cfg.rtmp_port = cfg.srt_port = 0;
  char *err = NULL;
  lc_ingest *a = lc_ingest_new(&cfg, hub, NULL, NULL, NULL, &err);
  g_assert_nonnull(a);
  cfg.srt_port = lc_ingest_srt_port(a);
  lc_ingest *b = lc_ingest_new(&cfg, hub, NULL, NULL, NULL, &err);
  g_assert_null(b);
  g_assert_nonnull(strstr(err, "SRT"));
  g_free(err);
  lc_ingest_free(a);
  lc_media_hub_free(hub);
}

int
main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, NULL);
#define T(name, s, fn, d) g_test_add("/ingest/" name, fixture, d, s, fn, teardown)
  T("publish/ffmpeg-rtmp-720p", setup, test_publish, "ffmpeg-rtmp");
  T("publish/gst-rtmpsink", setup, test_publish, "rtmpsink");
  T("publish/gst-rtmp2sink", setup, test_publish, "rtmp2sink");
  T("publish/ffmpeg-srt", setup, test_publish, "ffmpeg-srt");
  T("refused", setup, test_refused, NULL);
  T("second-publisher", setup, test_second_publisher, NULL);
  T("takeover", setup_takeover, test_takeover, NULL);
  T("grace", setup_short_grace, test_grace, NULL);
  T("two-rooms", setup, test_two_rooms, NULL);
  T("kick", setup, test_kick, NULL);
  T("cycles", setup, test_cycles, NULL);
  T("ladder-error", setup, test_ladder_error, NULL);
  g_test_add_func("/ingest/port-in-use", test_port_in_use);
  return g_test_run();
}

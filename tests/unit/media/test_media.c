/* lc_media: packet refcounts, rendition continuity across producer restarts, the NACK cache
 * (wraparound, eviction by capacity and by age), fast-join backlog, subscriber safety under
 * concurrent (un)subscribe, keyframe throttling, rooms and the hub, the UDP tap. */
#include <glib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "media/hub.h"
#include "media/tap.h"

static lc_rendition_info
video_info(const char *name, int kbps)
{
  lc_rendition_info info = {0};
  g_strlcpy(info.name, name, sizeof(info.name));
  info.kind = LC_MEDIA_VIDEO;
  info.clock_rate = 90000;
  info.payload_type = LC_MEDIA_PT_H264;
  info.bitrate_kbps = kbps;
  return info;
}

/* An RTP packet from a "producer": PT 127, given seq/ts/ssrc, marker, 8 payload bytes. */
/* The renditions' clock in the time-dependent tests: time moves only when a test says so. */
static int64_t
fake_clock(gpointer user)
{
  return *(int64_t *)user;
}

static void
mk_rtp(uint8_t *buf, uint16_t seq, uint32_t ts, uint32_t ssrc, bool marker)
{
  memset(buf, 0, 20);
  buf[0] = 0x80;
  buf[1] = (uint8_t)((marker ? 0x80 : 0) | 127);
  buf[2] = (uint8_t)(seq >> 8);
  buf[3] = (uint8_t)seq;
  buf[4] = (uint8_t)(ts >> 24);
  buf[5] = (uint8_t)(ts >> 16);
  buf[6] = (uint8_t)(ts >> 8);
  buf[7] = (uint8_t)ts;
  buf[8] = (uint8_t)(ssrc >> 24);
  buf[9] = (uint8_t)(ssrc >> 16);
  buf[10] = (uint8_t)(ssrc >> 8);
  buf[11] = (uint8_t)ssrc;
  memcpy(buf + 12, "PAYLOAD!", 8);
}

static void
push(lc_rendition *r, uint16_t seq, uint32_t ts, uint32_t ssrc, bool kf)
{
  uint8_t buf[20];
  mk_rtp(buf, seq, ts, ssrc, true);
  lc_rendition_push_rtp(r, buf, sizeof(buf), kf);
}

static uint32_t
rd32(const uint8_t *p)
{
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Collects every packet it is handed (ref'd). */
static void
collect_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  g_ptr_array_add(user, lc_pkt_ref(pkt));
}

static void
test_pkt_refs(void)
{
  lc_rendition_info info = video_info("720p", 2500);
  info.ssrc = 0x01020304;
  lc_rendition *r = lc_rendition_new(&info, 2000);
  push(r, 1, 1, 9, true);
  GPtrArray *b = lc_rendition_since_keyframe(r);
  g_assert_nonnull(b);
  g_assert_cmpuint(b->len, ==, 1);
  lc_pkt *k = lc_pkt_ref(g_ptr_array_index(b, 0));
  g_ptr_array_unref(b);
  lc_rendition_unref(r); /* the packet outlives its rendition */
  g_assert_cmpuint(k->len, ==, 20);
  g_assert_cmphex(rd32(k->data + 8), ==, 0x01020304);
  g_assert_cmpint(k->data[1] & 0x7f, ==, LC_MEDIA_PT_H264);
  g_assert_true(k->marker);
  g_assert_true(k->keyframe);
  lc_pkt_unref(k);
  lc_pkt_unref(NULL);
}

static void
test_continuity(void)
{
  lc_rendition_info info = video_info("720p", 2500);
  int64_t now = 1000000;
  lc_rendition *r = lc_rendition_new(&info, 2000);
  lc_rendition_set_clock(r, fake_clock, &now);
  lc_rendition_get_info(r, &info);
  g_assert_cmpuint(info.ssrc, !=, 0);
  GPtrArray *got = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  unsigned id = lc_rendition_subscribe(r, collect_sink, got);
  g_assert_cmpuint(id, >, 0);
  g_assert_cmpuint(lc_rendition_subscribers(r), ==, 1);

  /* Producer A: seq 100.., ts +3000 per frame. */
  for (unsigned i = 0; i < 10; i++)
    push(r, (uint16_t)(100 + i), 1000 + 3000 * i, 0xAAAA, i == 0);
  g_assert_cmpuint(got->len, ==, 10);
  lc_pkt *first = g_ptr_array_index(got, 0);
  for (unsigned i = 1; i < 10; i++) {
    lc_pkt *p = g_ptr_array_index(got, i);
    g_assert_cmpuint(p->seq, ==, (uint16_t)(first->seq + i));
    g_assert_cmpuint(p->ts, ==, first->ts + 3000 * i);
    g_assert_cmphex(rd32(p->data + 8), ==, info.ssrc);
    g_assert_cmpuint(p->seq, ==, (uint16_t)((p->data[2] << 8) | p->data[3]));
    g_assert_cmpuint(p->ts, ==, rd32(p->data + 4));
  }
  lc_pkt *last = g_ptr_array_index(got, 9);

  /* Producer B after a discontinuity and a 60 ms gap: numbering continues. */
  lc_rendition_discontinuity(r);
  now += 60000;
  push(r, 5000, 777, 0xBBBB, true);
  push(r, 5001, 777 + 3000, 0xBBBB, false);
  g_assert_cmpuint(got->len, ==, 12);
  lc_pkt *b0 = g_ptr_array_index(got, 10), *b1 = g_ptr_array_index(got, 11);
  g_assert_cmpuint(b0->seq, ==, (uint16_t)(last->seq + 1));
  g_assert_cmpuint(b1->seq, ==, (uint16_t)(last->seq + 2));
  g_assert_cmpuint(b0->ts - last->ts, ==, 60 * 90); /* the 60 ms gap, in 90 kHz ticks */
  g_assert_cmpuint(b1->ts - b0->ts, ==, 3000);

  /* Producer C without a discontinuity call: a new input SSRC also continues the numbering. */
  push(r, 42, 42, 0xCCCC, true);
  lc_pkt *c0 = g_ptr_array_index(got, 12);
  g_assert_cmpuint(c0->seq, ==, (uint16_t)(b1->seq + 1));
  g_assert_cmpuint(c0->ts - b1->ts, >=, 1);
  g_assert_cmpuint(c0->ts - b1->ts, <, 90000);

  g_assert_cmpuint(lc_rendition_packets(r), ==, 13);
  lc_rendition_unsubscribe(r, id);
  g_assert_cmpuint(lc_rendition_subscribers(r), ==, 0);
  push(r, 43, 43, 0xCCCC, false);
  g_assert_cmpuint(got->len, ==, 13);
  g_ptr_array_unref(got);
  lc_rendition_unref(r);
}

static void
test_nack_wrap_and_eviction(void)
{
  lc_rendition_info info = video_info("360p", 600);
  lc_rendition *r = lc_rendition_new(&info, 2000); /* ring of 8192 */
  GPtrArray *got = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  unsigned id = lc_rendition_subscribe(r, collect_sink, got);
  push(r, 0, 0, 1, false);
  uint16_t s0 = ((lc_pkt *)g_ptr_array_index(got, 0))->seq;
  lc_rendition_unsubscribe(r, id);
  /* Push until the output sequence wraps, then 20 more. */
  unsigned to_wrap = 65536u - s0; /* packets until out seq == 0 */
  uint16_t in = 1;
  for (unsigned i = 1; i < to_wrap + 20; i++, in++)
    push(r, in, in * 10u, 1, false);
  /* Newest out seq is 19; 65530..19 are all cached and correct. */
  for (uint16_t s = 65530; s != 20; s++) {
    lc_pkt *p = lc_rendition_lookup(r, s);
    g_assert_nonnull(p);
    g_assert_cmpuint(p->seq, ==, s);
    lc_pkt_unref(p);
  }
  g_assert_null(lc_rendition_lookup(r, 20)); /* not yet sent */
  /* Capacity eviction: only the last 8192 are kept (when s0 allowed that many to be pushed). */
  if (to_wrap + 20 > 8192 + 100) {
    g_assert_null(lc_rendition_lookup(r, (uint16_t)(19 - 8192 - 5)));
    lc_pkt *p = lc_rendition_lookup(r, (uint16_t)(19 - 8191));
    g_assert_nonnull(p);
    lc_pkt_unref(p);
  }
  /* Input gap: output keeps the gap, lookups around it still work (scan path). */
  push(r, (uint16_t)(in + 5), 0, 1, false); /* out seq 25 */
  lc_pkt *p = lc_rendition_lookup(r, 25);
  g_assert_nonnull(p);
  lc_pkt_unref(p);
  g_assert_null(lc_rendition_lookup(r, 22));
  p = lc_rendition_lookup(r, 19);
  g_assert_nonnull(p);
  lc_pkt_unref(p);
  g_ptr_array_unref(got);
  lc_rendition_unref(r);

  /* Age eviction: cache_ms 50; no keyframe, so old packets go when a new one arrives. */
  int64_t now = 1000000;
  r = lc_rendition_new(&info, 50);
  lc_rendition_set_clock(r, fake_clock, &now);
  got = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  id = lc_rendition_subscribe(r, collect_sink, got);
  for (unsigned i = 0; i < 10; i++)
    push(r, (uint16_t)i, i, 2, false);
  uint16_t first = ((lc_pkt *)g_ptr_array_index(got, 0))->seq;
  p = lc_rendition_lookup(r, first);
  g_assert_nonnull(p);
  lc_pkt_unref(p);
  now += 120000;
  push(r, 10, 10, 2, false);
  g_assert_null(lc_rendition_lookup(r, first));
  g_assert_null(lc_rendition_lookup(r, (uint16_t)(first + 9)));
  p = lc_rendition_lookup(r, (uint16_t)(first + 10));
  g_assert_nonnull(p);
  lc_pkt_unref(p);

  /* ...except from the last keyframe on: the GOP stays for fast join. */
  push(r, 11, 11, 2, true);
  push(r, 12, 12, 2, false);
  now += 120000;
  push(r, 13, 13, 2, false);
  g_assert_null(lc_rendition_lookup(r, (uint16_t)(first + 10))); /* before the keyframe: gone */
  GPtrArray *b = lc_rendition_since_keyframe(r);
  g_assert_nonnull(b);
  g_assert_cmpuint(b->len, ==, 3);
  g_ptr_array_unref(b);
  lc_rendition_unsubscribe(r, id);
  g_ptr_array_unref(got);
  lc_rendition_unref(r);
}

static void
test_since_keyframe(void)
{
  lc_rendition_info info = video_info("480p", 1200);
  lc_rendition *r = lc_rendition_new(&info, 2000);
  g_assert_null(lc_rendition_since_keyframe(r));
  push(r, 1, 0, 1, false);
  push(r, 2, 0, 1, false);
  g_assert_null(lc_rendition_since_keyframe(r));
  push(r, 3, 3000, 1, true);
  push(r, 4, 3000, 1, false);
  push(r, 5, 6000, 1, false);
  GPtrArray *b = lc_rendition_since_keyframe(r);
  g_assert_nonnull(b);
  g_assert_cmpuint(b->len, ==, 3);
  g_assert_true(((lc_pkt *)g_ptr_array_index(b, 0))->keyframe);
  g_assert_false(((lc_pkt *)g_ptr_array_index(b, 1))->keyframe);
  uint16_t kseq = ((lc_pkt *)g_ptr_array_index(b, 0))->seq;
  g_assert_cmpuint(((lc_pkt *)g_ptr_array_index(b, 2))->seq, ==, (uint16_t)(kseq + 2));
  g_ptr_array_unref(b);

  /* A new keyframe restarts the backlog. */
  push(r, 6, 9000, 1, true);
  b = lc_rendition_since_keyframe(r);
  g_assert_cmpuint(b->len, ==, 1);
  g_ptr_array_unref(b);

  /* Atomic fast join: backlog then live packets, contiguous. */
  GPtrArray *got = g_ptr_array_new_with_free_func((GDestroyNotify)lc_pkt_unref);
  GPtrArray *backlog = NULL;
  unsigned id = lc_rendition_subscribe_from_keyframe(r, collect_sink, got, &backlog);
  push(r, 7, 9000, 1, false);
  g_assert_nonnull(backlog);
  g_assert_cmpuint(backlog->len, ==, 1);
  g_assert_cmpuint(got->len, ==, 1);
  g_assert_cmpuint(((lc_pkt *)g_ptr_array_index(got, 0))->seq, ==,
                   (uint16_t)(((lc_pkt *)g_ptr_array_index(backlog, 0))->seq + 1));
  g_ptr_array_unref(backlog);
  lc_rendition_unsubscribe(r, id);
  g_ptr_array_unref(got);
  lc_rendition_unref(r);
}

/* Concurrency: a producer pushes while threads subscribe and unsubscribe; a sink must never run
 * after its unsubscribe returned (the subscriber's state is freed right after: ASan would catch a
 * late call, and the `gone` flag catches it without ASan). */
typedef struct {
  gint gone;
  gint calls;
} subscriber;

static gint g_late_calls;

static void
counting_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  subscriber *s = user;
  if (g_atomic_int_get(&s->gone))
    g_atomic_int_inc(&g_late_calls);
  g_atomic_int_inc(&s->calls);
}

typedef struct {
  lc_rendition *r;
  gint stop;
  gint total_calls;
} conc_ctx;

static gpointer
producer_thread(gpointer data)
{
  conc_ctx *c = data;
  uint16_t seq = 0;
  while (!g_atomic_int_get(&c->stop)) {
    push(c->r, seq, seq * 3000u, 7, seq % 30 == 0);
    seq++;
  }
  return NULL;
}

static gpointer
churn_thread(gpointer data)
{
  conc_ctx *c = data;
  for (unsigned i = 0; i < 300; i++) {
    subscriber *s = g_new0(subscriber, 1);
    GPtrArray *backlog = NULL;
    unsigned id = (i % 2) ? lc_rendition_subscribe(c->r, counting_sink, s)
                          : lc_rendition_subscribe_from_keyframe(c->r, counting_sink, s, &backlog);
    if (backlog)
      g_ptr_array_unref(backlog);
    if (i % 3 == 0)
      g_usleep(100);
    lc_rendition_unsubscribe(c->r, id);
    g_atomic_int_set(&s->gone, 1);
    g_atomic_int_add(&c->total_calls, g_atomic_int_get(&s->calls));
    g_free(s);
    if (i % 5 == 0) {
      lc_pkt *p = lc_rendition_lookup(c->r, (uint16_t)g_random_int());
      lc_pkt_unref(p);
    }
  }
  return NULL;
}

static void
test_concurrent_subscribe(void)
{
  lc_rendition_info info = video_info("720p", 2500);
  conc_ctx c = {.r = lc_rendition_new(&info, 200)};
  GThread *prod = g_thread_new("producer", producer_thread, &c);
  GThread *churn[4];
  for (unsigned i = 0; i < 4; i++)
    churn[i] = g_thread_new("churn", churn_thread, &c);
  for (unsigned i = 0; i < 4; i++)
    g_thread_join(churn[i]);
  g_atomic_int_set(&c.stop, 1);
  g_thread_join(prod);
  g_assert_cmpint(g_atomic_int_get(&g_late_calls), ==, 0);
  g_assert_cmpuint(lc_rendition_subscribers(c.r), ==, 0);
  g_assert_cmpuint(lc_rendition_packets(c.r), >, 0);
  g_test_message("packets %" G_GUINT64_FORMAT ", sink calls %d", lc_rendition_packets(c.r), c.total_calls);
  lc_rendition_unref(c.r);
}

static void
kf_fn(lc_rendition *r, gpointer user)
{
  (*(int *)user)++;
}

static void
test_keyframe_throttle(void)
{
  lc_rendition_info info = video_info("720p", 2500);
  int64_t now = 1000000;
  lc_rendition *r = lc_rendition_new(&info, 2000);
  lc_rendition_set_clock(r, fake_clock, &now);
  int n = 0;
  g_assert_false(lc_rendition_request_keyframe(r)); /* no producer */
  lc_rendition_set_keyframe_fn(r, kf_fn, &n);
  g_assert_true(lc_rendition_request_keyframe(r));
  g_assert_false(lc_rendition_request_keyframe(r)); /* within 500 ms */
  g_assert_cmpint(n, ==, 1);
  lc_rendition_set_keyframe_throttle(r, 30);
  now += 40000;
  g_assert_true(lc_rendition_request_keyframe(r));
  g_assert_false(lc_rendition_request_keyframe(r));
  g_assert_cmpint(n, ==, 2);
  now += 40000;
  int other = 0;
  lc_rendition_clear_keyframe_fn(r, kf_fn, &other); /* not the current one: kept */
  g_assert_true(lc_rendition_request_keyframe(r));
  g_assert_cmpint(n, ==, 3);
  now += 40000;
  lc_rendition_clear_keyframe_fn(r, kf_fn, &n);
  g_assert_false(lc_rendition_request_keyframe(r));
  lc_rendition_set_keyframe_fn(r, kf_fn, &n);
  lc_rendition_set_keyframe_fn(r, NULL, NULL);
  g_assert_false(lc_rendition_request_keyframe(r));
  g_assert_cmpint(n, ==, 3);
  lc_rendition_unref(r);
}

/* A throttled request is not dropped: the first packet after the window forwards it, unless a
 * keyframe came first (a tap or viewer that asked right after another one still gets its
 * keyframe within the window, not at the next natural GOP). */
static void
test_keyframe_deferred(void)
{
  lc_rendition_info info = video_info("720p", 2500);
  int64_t now = 1000000;
  lc_rendition *r = lc_rendition_new(&info, 2000);
  lc_rendition_set_clock(r, fake_clock, &now);
  int n = 0;
  lc_rendition_set_keyframe_fn(r, kf_fn, &n);
  lc_rendition_set_keyframe_throttle(r, 30);
  g_assert_true(lc_rendition_request_keyframe(r));
  g_assert_false(lc_rendition_request_keyframe(r)); /* throttled: pending */
  push(r, 1, 3000, 0x1234, false);                  /* within the window: still pending */
  g_assert_cmpint(n, ==, 1);
  now += 40000;
  push(r, 2, 6000, 0x1234, false); /* after the window: forwarded now */
  g_assert_cmpint(n, ==, 2);
  now += 40000;
  push(r, 3, 9000, 0x1234, false); /* once */
  g_assert_cmpint(n, ==, 2);

  g_assert_true(lc_rendition_request_keyframe(r));
  g_assert_false(lc_rendition_request_keyframe(r)); /* pending again */
  push(r, 4, 12000, 0x1234, true);                   /* a keyframe came: nothing left to ask */
  now += 40000;
  push(r, 5, 15000, 0x1234, false);
  g_assert_cmpint(n, ==, 3);
  lc_rendition_set_keyframe_fn(r, NULL, NULL);
  lc_rendition_unref(r);
}

static void
test_room_and_hub(void)
{
  lc_media_hub *hub = lc_media_hub_new();
  g_assert_null(lc_media_hub_acquire(hub, "r1"));
  lc_media_room *m = lc_media_hub_open(hub, "r1");
  g_assert_true(lc_media_hub_open(hub, "r1") == m);
  g_assert_cmpstr(lc_media_room_id(m), ==, "r1");
  g_assert_false(lc_media_room_is_live(m));

  const char *names[] = {"360p", "1080p", "720p", "480p"};
  int kbps[] = {600, 4500, 2500, 1200};
  for (unsigned i = 0; i < 4; i++) {
    lc_rendition_info info = video_info(names[i], kbps[i]);
    lc_rendition *r = lc_rendition_new(&info, 100);
    lc_media_room_add(m, r);
    lc_rendition_unref(r);
  }
  lc_rendition_info ai = {.name = "opus",
                          .kind = LC_MEDIA_AUDIO,
                          .clock_rate = 48000,
                          .payload_type = LC_MEDIA_PT_OPUS,
                          .channels = 2};
  lc_rendition *a = lc_rendition_new(&ai, 100);
  lc_media_room_add(m, a);
  lc_rendition_unref(a);
  g_assert_cmpuint(lc_media_room_n_video(m), ==, 4);
  lc_rendition_info info;
  const char *order[] = {"1080p", "720p", "480p", "360p"};
  for (unsigned i = 0; i < 4; i++) {
    lc_rendition_get_info(lc_media_room_video(m, i), &info);
    g_assert_cmpstr(info.name, ==, order[i]);
  }
  g_assert_null(lc_media_room_video(m, 4));
  g_assert_true(lc_media_room_audio(m) == a);
  g_assert_true(lc_media_room_find(m, "opus") == a);
  g_assert_null(lc_media_room_find(m, "240p"));

  /* Replace 720p: the old pointer stays valid while the room lives. */
  lc_rendition *old720 = lc_media_room_find(m, "720p");
  lc_rendition_info n720 = video_info("720p", 3000);
  lc_rendition *r720 = lc_rendition_new(&n720, 100);
  lc_media_room_add(m, r720);
  lc_rendition_unref(r720);
  g_assert_cmpuint(lc_media_room_n_video(m), ==, 4);
  g_assert_true(lc_media_room_find(m, "720p") == r720);
  lc_rendition_get_info(old720, &info); /* still readable */
  g_assert_cmpint(info.bitrate_kbps, ==, 2500);

  lc_media_room_set_live(m, true);
  g_assert_true(lc_media_room_is_live(m));
  g_assert_true(lc_rendition_is_live(a));

  lc_media_room *held = lc_media_hub_acquire(hub, "r1");
  g_assert_true(held == m);
  lc_media_hub_open(hub, "r2");
  char **ids = lc_media_hub_rooms(hub);
  g_assert_cmpuint(g_strv_length(ids), ==, 2);
  g_assert_true(g_strv_contains((const char *const *)ids, "r1"));
  g_assert_true(g_strv_contains((const char *const *)ids, "r2"));
  g_strfreev(ids);

  lc_media_hub_close(hub, "r1");
  g_assert_null(lc_media_hub_acquire(hub, "r1"));
  g_assert_false(lc_media_room_is_live(held)); /* the holder still has a valid room */
  g_assert_cmpuint(lc_media_room_n_video(held), ==, 4);
  lc_media_room_unref(held);
  lc_media_hub_close(hub, "nope");
  lc_media_hub_free(hub);
}

static void
test_tap(void)
{
  int rx = socket(AF_INET, SOCK_DGRAM, 0);
  g_assert_cmpint(rx, >=, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  g_assert_cmpint(bind(rx, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
  socklen_t sl = sizeof(sa);
  g_assert_cmpint(getsockname(rx, (struct sockaddr *)&sa, &sl), ==, 0);
  struct timeval tv = {.tv_sec = 2};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  lc_rendition_info info = video_info("720p", 2500);
  info.ssrc = 0xCAFEBABE;
  lc_rendition *r = lc_rendition_new(&info, 100);
  char *err = NULL;
  g_assert_null(lc_media_tap_new(r, "not-an-ip", 5000, &err));
  g_assert_nonnull(err);
  g_clear_pointer(&err, g_free);
  g_assert_null(lc_media_tap_new(r, "127.0.0.1", 0, &err));
  g_clear_pointer(&err, g_free);
  lc_media_tap *t = lc_media_tap_new(r, "127.0.0.1", ntohs(sa.sin_port), &err);
  g_assert_nonnull(t);
  push(r, 1, 2, 3, true);
  uint8_t buf[64];
  ssize_t n = recv(rx, buf, sizeof(buf), 0);
  g_assert_cmpint(n, ==, 20);
  g_assert_cmphex(rd32(buf + 8), ==, 0xCAFEBABE);
  g_assert_cmpmem(buf + 12, 8, "PAYLOAD!", 8);
  g_assert_cmpuint(lc_media_tap_sent(t), ==, 1);
  lc_media_tap_free(t);
  g_assert_cmpuint(lc_rendition_subscribers(r), ==, 0);
  lc_rendition_unref(r);
  close(rx);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/media/pkt_refs", test_pkt_refs);
  g_test_add_func("/media/continuity", test_continuity);
  g_test_add_func("/media/nack_wrap_and_eviction", test_nack_wrap_and_eviction);
  g_test_add_func("/media/since_keyframe", test_since_keyframe);
  g_test_add_func("/media/concurrent_subscribe", test_concurrent_subscribe);
  g_test_add_func("/media/keyframe_throttle", test_keyframe_throttle);
  g_test_add_func("/media/keyframe_deferred", test_keyframe_deferred);
  g_test_add_func("/media/room_and_hub", test_room_and_hub);
  g_test_add_func("/media/tap", test_tap);
  return g_test_run();
}

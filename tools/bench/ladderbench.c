/* ladderbench: CPU cost and latency of one transcode ladder (pipelines/ladder), for
 * tools/bench-transcode. Reads an MPEG-TS file (H.264 + AAC) into memory first (not measured),
 * then pushes its access units through the ES front-end at real-time pace (times --speed) and
 * measures the process's CPU time (getrusage: user + system, all threads) from the first push
 * until every rung has drained. Prints one JSON object:
 *   {"media_s", "cpu_s", "cpu_per_media_s", "latency_p50_ms", "latency_p99_ms", "latency_samples",
 *    "frames_in", "dropped_in", "frames_out": {"720p": n, ...}, "source_width", "source_height"}
 * Latency = push of a video access unit -> its first RTP packet on a rung (lc_ladder_get_stats).
 * "keyframe_flags" checks, per video rung, the lc_pkt keyframe flag the WebRTC fan-out starts
 * viewers from (a replay from a flag must begin a decodable access unit): aus = access units
 * (packets grouped by RTP timestamp / marker), idr_aus = those holding an IDR slice, flagged_first
 * = flags on the first packet of an IDR access unit (right), flagged_other = flags anywhere else
 * (wrong), missed = IDR access units whose first packet is not flagged, sps_first = flagged
 * packets that carry the SPS (rtph264pay puts AUD, SPS, PPS in one STAP-A before the IDR).
 *
 *
 * --overlays: the room has an lc_overlay (overlays/overlay.h) with every element on: the card
 * (--card-image), a flash sale counting down, a coupon, the buyer ticker (an order every 3 s), the
 * logo (--logo), a moderator's text. Events: once a second, at .500 on the wall clock (away from
 * the countdown's turns at .000 and the ticker's at .250), the card's price changes; "overlay"
 * in the JSON gives event -> first frame carrying it drawn by the overlay stage (drawn_*) and
 * leaving as RTP on a rung (out_*; lc_ladder_stats), p50/p99 in ms over the events, and the
 * samples themselves (drawn_ms, out_ms); stage_cpu_s is the overlay stage's own CPU time
 * (lc_ladder_stats.overlay_cpu_us: scene updates and rendering, conversion, copies, blending).
 *
 * Usage: ladderbench --input FILE.ts [--rungs SPEC] [--preset veryfast] [--keyframe-ms 2000]
 *                    [--speed 1.0] [--passthrough] [--overlays [--card-image PNG] [--logo PNG]] */
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ladder/ladder.h"
#include "media/hub.h"
#include "overlays/overlay.h"

typedef struct {
  GBytes *data;
  int64_t dts_ms;
  int32_t cts_ms;
  bool key;
} au;

typedef struct {
  lc_rendition *r;
  unsigned id;
  char name[16];
  gint frames; /* RTP packets with the marker bit (video) or packets (audio) */
  /* keyframe flag check (the rendition's producer thread, read after the drain) */
  bool have_prev, prev_marker, au_flagged, au_idr;
  uint32_t prev_ts;
  unsigned aus, idr_aus, flagged_first, flagged_other, missed, sps_first;
} counter;

/* NAL types in an H.264 RTP payload: bit t set for NAL type t (STAP-A unpacked, FU-A's inner
 * type); *first = the first NAL's type. */
static uint32_t
nal_types(const uint8_t *p, size_t n, int *first)
{
  *first = -1;
  if (n < 1)
    return 0;
  int t = p[0] & 0x1f;
  if (t == 24) { /* STAP-A: 16-bit sizes */
    uint32_t m = 0;
    size_t off = 1;
    while (off + 3 <= n) {
      size_t sz = (size_t)p[off] << 8 | p[off + 1];
      if (sz == 0 || off + 2 + sz > n)
        break;
      int inner = p[off + 2] & 0x1f;
      if (*first < 0)
        *first = inner;
      m |= 1u << inner;
      off += 2 + sz;
    }
    return m;
  }
  if (t == 28 && n >= 2) { /* FU-A */
    *first = (p[1] & 0x80) ? (p[1] & 0x1f) : -1;
    return 1u << (p[1] & 0x1f);
  }
  *first = t;
  return 1u << t;
}

static void
au_end(counter *c)
{
  if (!c->have_prev)
    return;
  c->aus++;
  if (c->au_idr)
    c->idr_aus++;
  if (c->au_idr && !c->au_flagged)
    c->missed++;
  else if (c->au_flagged && c->au_idr)
    c->flagged_first++;
  else if (c->au_flagged)
    c->flagged_other++; /* a flag on an access unit without an IDR */
}

static void
check_flag(counter *c, const lc_pkt *pkt)
{
  if (pkt->len < 12)
    return;
  size_t off = 12 + 4u * (pkt->data[0] & 0x0f);
  if ((pkt->data[0] & 0x10) && off + 4 <= pkt->len)
    off += 4 + 4u * ((size_t)pkt->data[off + 2] << 8 | pkt->data[off + 3]);
  if (off >= pkt->len)
    return;
  bool first_of_au = !c->have_prev || c->prev_marker || pkt->ts != c->prev_ts;
  if (first_of_au) {
    au_end(c);
    c->au_flagged = pkt->keyframe;
    c->au_idr = false;
  }
  int first_nal; /* (unused: an AUD comes first) */
  uint32_t types = nal_types(pkt->data + off, pkt->len - off, &first_nal);
  if (types & (1u << 5))
    c->au_idr = true;
  if (pkt->keyframe) {
    if (!first_of_au)
      c->flagged_other++;
    if (types & (1u << 7))
      c->sps_first++;
  }
  c->have_prev = true;
  c->prev_marker = pkt->marker;
  c->prev_ts = pkt->ts;
}

/* After the drain: the last access unit, and flags on access units without an IDR. */
static void
check_finish(counter *c)
{
  au_end(c);
  c->have_prev = false;
}

static void
count_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  counter *c = user;
  if (pkt->marker || pkt->kind == LC_MEDIA_AUDIO)
    g_atomic_int_inc(&c->frames);
  if (pkt->kind == LC_MEDIA_VIDEO)
    check_flag(c, pkt);
}

static double
cpu_now(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static GBytes *
buf_bytes(GstBuffer *b)
{
  GstMapInfo mi;
  if (!gst_buffer_map(b, &mi, GST_MAP_READ))
    return g_bytes_new(NULL, 0);
  GBytes *out = g_bytes_new(mi.data, mi.size);
  gst_buffer_unmap(b, &mi);
  return out;
}

static GBytes *
caps_codec_data(GstSample *s)
{
  const GValue *v = gst_structure_get_value(gst_caps_get_structure(gst_sample_get_caps(s), 0), "codec_data");
  return v ? buf_bytes(gst_value_get_buffer(v)) : NULL;
}

static void
au_clear(gpointer p)
{
  g_bytes_unref(((au *)p)->data);
}

/* Demuxes the whole file into memory. */
static int
load(const char *path, GArray *video, GArray *audio, GBytes **avcc, GBytes **asc)
{
  char *loc = g_strescape(path, NULL);
  char *desc = g_strdup_printf(
      "filesrc location=\"%s\" ! tsdemux name=d "
      "d. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! h264parse "
      "! video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false wait-on-eos=false "
      "d. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! aacparse "
      "! audio/mpeg,stream-format=raw ! appsink name=a sync=false wait-on-eos=false",
      loc);
  g_free(loc);
  GError *e = NULL;
  GstElement *p = gst_parse_launch(desc, &e);
  g_free(desc);
  if (!p) {
    fprintf(stderr, "ladderbench: %s\n", e->message);
    g_error_free(e);
    return -1;
  }
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 300 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int rc = 0;
  if (!m || GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    if (m)
      gst_message_parse_error(m, &err, NULL);
    fprintf(stderr, "ladderbench: cannot read %s: %s\n", path, err ? err->message : "timeout");
    g_clear_error(&err);
    rc = -1;
  }
  if (m)
    gst_message_unref(m);
  gst_object_unref(bus);
  GstElement *vs = gst_bin_get_by_name(GST_BIN(p), "v"), *as = gst_bin_get_by_name(GST_BIN(p), "a");
  GstSample *s;
  GstClockTime t0 = GST_CLOCK_TIME_NONE;
  while (rc == 0 && (s = gst_app_sink_try_pull_sample(GST_APP_SINK(vs), 0))) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!*avcc)
      *avcc = caps_codec_data(s);
    GstClockTime dts = GST_BUFFER_DTS_IS_VALID(b) ? GST_BUFFER_DTS(b) : GST_BUFFER_PTS(b);
    if (!GST_CLOCK_TIME_IS_VALID(t0))
      t0 = dts;
    au a = {.data = buf_bytes(b),
            .dts_ms = (int64_t)(dts - t0) / 1000000,
            .cts_ms = (int32_t)(((int64_t)GST_BUFFER_PTS(b) - (int64_t)dts) / 1000000),
            .key = !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)};
    g_array_append_val(video, a);
    gst_sample_unref(s);
  }
  while (rc == 0 && (s = gst_app_sink_try_pull_sample(GST_APP_SINK(as), 0))) {
    GstBuffer *b = gst_sample_get_buffer(s);
    if (!*asc)
      *asc = caps_codec_data(s);
    au a = {
        .data = buf_bytes(b), .dts_ms = ((int64_t)GST_BUFFER_PTS(b) - (int64_t)t0) / 1000000, .key = true};
    g_array_append_val(audio, a);
    gst_sample_unref(s);
  }
  gst_object_unref(vs);
  gst_object_unref(as);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  if (rc == 0 && (video->len == 0 || !*avcc)) {
    fprintf(stderr, "ladderbench: no H.264 in %s\n", path);
    rc = -1;
  }
  return rc;
}

/* ---- overlays ---- */

typedef struct {
  lc_overlay *o;
  const char *card_image;
  int64_t next_event_s;   /* wall-clock second of the next price change (at .500) */
  int64_t next_order_s;   /* wall-clock second of the next ticker order (at .250) */
  int64_t pending_us;     /* monotonic time of the event not yet seen on a rung, or 0 */
  unsigned events;
  GArray *drawn_ms, *out_ms; /* double, per event */
} overlay_bench;

static lc_overlay *
overlay_for(const char *room_id, gpointer user)
{
  return ((overlay_bench *)user)->o;
}

static void
set_card_price(overlay_bench *ob, bool alt)
{
  lc_overlay_card card = {.title = "真空保温杯 600ml 双层不锈钢", .price = alt ? "¥59.00" : "¥69.00",
                          .original_price = "¥99.00", .image = ob->card_image};
  lc_overlay_set_card(ob->o, &card);
}

/* Every element on. The flash sale ends on a whole second, so its countdown turns at .000. */
static void
overlay_setup(overlay_bench *ob, const char *card_image, const char *logo, double media_s)
{
  lc_overlay_options opt = {.room = "bench"};
  ob->o = lc_overlay_new(&opt);
  ob->card_image = card_image;
  ob->drawn_ms = g_array_new(FALSE, FALSE, sizeof(double));
  ob->out_ms = g_array_new(FALSE, FALSE, sizeof(double));
  int64_t now_ms = g_get_real_time() / 1000;
  set_card_price(ob, false);
  lc_overlay_flash fl = {.title = "限时秒杀 保温杯", .price = "¥49.00",
                         .ends_at_ms = (now_ms / 1000 + (int64_t)media_s + 600) * 1000, .stock_left = 23,
                         .stock_total = 100};
  lc_overlay_set_flash(ob->o, &fl);
  lc_overlay_set_coupon(ob->o, "满 200 减 30", now_ms + 3600 * 1000);
  lc_overlay_set_logo(ob->o, logo);
  char *err = NULL;
  if (lc_overlay_set_text(ob->o, "今晚 8 点返场 · 关注主播不迷路", &err) != 0) {
    fprintf(stderr, "ladderbench: overlay text: %s\n", err);
    g_free(err);
  }
  lc_overlay_ticker_push(ob->o, "Lin Wei", 2, now_ms);
  ob->next_event_s = now_ms / 1000 + 2; /* after the first frames: the stage exists */
  ob->next_order_s = now_ms / 1000 + 1;
}

/* Called between pushes (main thread): samples the stats for a pending event (the first blended
 * change drawn after it carries it: the stage reads the latest scene), then fires what is due
 * (fire false: sampling only, once pushing stopped). */
static void
overlay_tick(overlay_bench *ob, lc_ladder *l, bool fire)
{
  int64_t now_ms = g_get_real_time() / 1000;
  if (ob->pending_us) {
    lc_ladder_stats st;
    lc_ladder_get_stats(l, &st);
    if (st.overlay_drawn_us >= ob->pending_us && st.overlay_out_us >= st.overlay_drawn_us) {
      double drawn = (st.overlay_drawn_us - ob->pending_us) / 1000.0;
      double out = (st.overlay_out_us - ob->pending_us) / 1000.0;
      g_array_append_val(ob->drawn_ms, drawn);
      g_array_append_val(ob->out_ms, out);
      ob->pending_us = 0;
    }
  }
  if (!fire)
    return;
  if (now_ms >= ob->next_order_s * 1000 + 250) {
    const char *buyer = ob->next_order_s % 2 ? "王小明" : "Chen Jie";
    lc_overlay_ticker_push(ob->o, buyer, 1 + ob->next_order_s % 3, now_ms);
    ob->next_order_s = now_ms / 1000 + 3;
  }
  if (now_ms >= ob->next_event_s * 1000 + 500 && !ob->pending_us) {
    ob->pending_us = g_get_monotonic_time();
    set_card_price(ob, ob->events % 2 == 0);
    ob->events++;
    ob->next_event_s = now_ms / 1000 + 1;
  }
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
pct(GArray *a, double p)
{
  if (a->len == 0)
    return 0;
  g_array_sort(a, cmp_double);
  return g_array_index(a, double, (guint)((a->len - 1) * p));
}

static void
iterate(void)
{
  while (g_main_context_iteration(NULL, FALSE))
    ;
}

static void
subscribe_new(lc_media_room *room, GPtrArray *counters)
{
  unsigned nv = lc_media_room_n_video(room);
  for (unsigned i = 0; i <= nv; i++) {
    lc_rendition *r = i < nv ? lc_media_room_video(room, i) : lc_media_room_audio(room);
    if (!r)
      continue;
    bool have = false;
    for (guint j = 0; j < counters->len && !have; j++)
      have = ((counter *)g_ptr_array_index(counters, j))->r == r;
    if (have)
      continue;
    counter *c = g_new0(counter, 1);
    c->r = lc_rendition_ref(r);
    lc_rendition_info info;
    lc_rendition_get_info(r, &info);
    g_strlcpy(c->name, info.name, sizeof(c->name));
    c->id = lc_rendition_subscribe(r, count_sink, c);
    g_ptr_array_add(counters, c);
  }
}

int
main(int argc, char **argv)
{
  char *input = NULL, *rungs = NULL, *preset = NULL;
  int keyframe_ms = 2000;
  double speed = 1.0;
  gboolean passthrough = FALSE, overlays = FALSE;
  char *card_image = NULL, *logo = NULL;
  GOptionEntry entries[] = {
      {"input", 0, 0, G_OPTION_ARG_FILENAME, &input, "MPEG-TS file with H.264 + AAC", "FILE"},
      {"rungs", 0, 0, G_OPTION_ARG_STRING, &rungs, "ladder (default: the server's default)", "SPEC"},
      {"preset", 0, 0, G_OPTION_ARG_STRING, &preset, "x264 speed preset (veryfast)", "NAME"},
      {"keyframe-ms", 0, 0, G_OPTION_ARG_INT, &keyframe_ms, "keyframe interval (2000)", "MS"},
      {"speed", 0, 0, G_OPTION_ARG_DOUBLE, &speed, "push pace relative to real time (1.0)", "X"},
      {"passthrough", 0, 0, G_OPTION_ARG_NONE, &passthrough, "enable the source rung", NULL},
      {"overlays", 0, 0, G_OPTION_ARG_NONE, &overlays, "every overlay element on, a change a second", NULL},
      {"card-image", 0, 0, G_OPTION_ARG_FILENAME, &card_image, "the card's product image", "PNG"},
      {"logo", 0, 0, G_OPTION_ARG_FILENAME, &logo, "the logo image", "PNG"},
      {NULL}};
  GOptionContext *ctx = g_option_context_new("- transcode ladder benchmark");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError *e = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &e) || !input || speed <= 0) {
    fprintf(stderr, "ladderbench: %s\n", e ? e->message : "--input FILE.ts is required (speed > 0)");
    return 2;
  }
  g_option_context_free(ctx);
  gst_init(NULL, NULL);

  lc_ladder_config cfg = {0};
  char *err = NULL;
  if (lc_ladder_parse_rungs(
          rungs ? rungs : "1080p:1920x1080:4500,720p:1280x720:2500,480p:854x480:1200,360p:640x360:600", &cfg,
          &err) != 0) {
    fprintf(stderr, "ladderbench: %s\n", err);
    return 2;
  }
  cfg.keyframe_interval_ms = (unsigned)keyframe_ms;
  g_strlcpy(cfg.x264_preset, preset ? preset : "veryfast", sizeof(cfg.x264_preset));
  cfg.audio_bitrate = 64000;
  cfg.cache_ms = 2000;
  cfg.keyframe_throttle_ms = 500;
  cfg.passthrough = passthrough;

  GArray *video = g_array_new(FALSE, TRUE, sizeof(au)), *audio = g_array_new(FALSE, TRUE, sizeof(au));
  g_array_set_clear_func(video, au_clear);
  g_array_set_clear_func(audio, au_clear);
  GBytes *avcc = NULL, *asc = NULL;
  if (load(input, video, audio, &avcc, &asc) != 0)
    return 1;

  overlay_bench ob = {0};
  if (overlays) {
    double est_s = video->len / 30.0;
    overlay_setup(&ob, card_image, logo, est_s);
    cfg.overlay_for = overlay_for;
    cfg.overlay_user = &ob;
  }
  lc_media_hub *hub = lc_media_hub_new();
  lc_media_room *room = lc_media_hub_open(hub, "bench");
  lc_ladder *l = lc_ladder_new("bench", room, LC_LADDER_INPUT_ES, &cfg, NULL, NULL, &err);
  if (!l) {
    fprintf(stderr, "ladderbench: %s\n", err);
    return 1;
  }
  GPtrArray *counters = g_ptr_array_new();
  gsize n;
  const uint8_t *d = g_bytes_get_data(avcc, &n);
  lc_ladder_set_video_config(l, d, n);
  if (asc) {
    d = g_bytes_get_data(asc, &n);
    lc_ladder_set_audio_config(l, d, n);
  }

  double cpu0 = cpu_now();
  int64_t t0 = g_get_monotonic_time();
  guint ai = 0;
  for (guint i = 0; i < video->len; i++) {
    au *v = &g_array_index(video, au, i);
    int64_t due = t0 + (int64_t)(v->dts_ms * 1000 / speed);
    int64_t now = g_get_monotonic_time();
    if (due > now)
      g_usleep((gulong)(due - now));
    d = g_bytes_get_data(v->data, &n);
    lc_ladder_push_video(l, d, n, v->dts_ms, v->cts_ms, v->key);
    for (; ai < audio->len && g_array_index(audio, au, ai).dts_ms <= v->dts_ms; ai++) {
      au *a = &g_array_index(audio, au, ai);
      d = g_bytes_get_data(a->data, &n);
      lc_ladder_push_audio(l, d, n, a->dts_ms);
    }
    iterate();
    subscribe_new(room, counters);
    if (overlays)
      overlay_tick(&ob, l, true);
  }
  /* Drain: until no rung produced anything for 300 ms (at most 5 s). */
  int64_t end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  int last_total = -1;
  int64_t quiet_since = g_get_monotonic_time();
  while (g_get_monotonic_time() < end) {
    g_usleep(50000);
    iterate();
    int total = 0;
    for (guint j = 0; j < counters->len; j++)
      total += g_atomic_int_get(&((counter *)g_ptr_array_index(counters, j))->frames);
    if (overlays)
      overlay_tick(&ob, l, false); /* samples the last event; fires no new one */
    if (total != last_total) {
      last_total = total;
      quiet_since = g_get_monotonic_time();
    } else if (g_get_monotonic_time() - quiet_since > 300000) {
      break;
    }
  }
  double cpu = cpu_now() - cpu0;
  double media_s =
      video->len > 1
          ? (g_array_index(video, au, video->len - 1).dts_ms - g_array_index(video, au, 0).dts_ms) / 1000.0 +
                1.0 / 30
          : 0;

  lc_ladder_stats st;
  lc_ladder_get_stats(l, &st);
  printf("{\"media_s\": %.3f, \"cpu_s\": %.3f, \"cpu_per_media_s\": %.4f, \"latency_p50_ms\": %.2f, "
         "\"latency_p99_ms\": %.2f, \"latency_samples\": %u, \"frames_in\": %u, \"dropped_in\": "
         "%" G_GUINT64_FORMAT ", \"source_width\": %d, \"source_height\": %d, \"frames_out\": {",
         media_s, cpu, media_s > 0 ? cpu / media_s : 0, st.latency_p50_us / 1000.0,
         st.latency_p99_us / 1000.0, st.latency_samples, video->len, st.dropped_in, st.source_width,
         st.source_height);
  for (guint j = 0; j < counters->len; j++) {
    counter *c = g_ptr_array_index(counters, j);
    printf("%s\"%s\": %d", j ? ", " : "", c->name, g_atomic_int_get(&c->frames));
  }
  printf("}, \"keyframe_flags\": {");
  bool firstv = true;
  for (guint j = 0; j < counters->len; j++) {
    counter *c = g_ptr_array_index(counters, j);
    lc_rendition_info info;
    lc_rendition_get_info(c->r, &info);
    if (info.kind != LC_MEDIA_VIDEO)
      continue;
    lc_rendition_unsubscribe(c->r, c->id); /* no sink call after this */
    c->id = 0;
    check_finish(c);
    printf("%s\"%s\": {\"aus\": %u, \"idr_aus\": %u, \"flagged_first\": %u, \"flagged_other\": %u, "
           "\"missed\": %u, \"sps_first\": %u}",
           firstv ? "" : ", ", c->name, c->aus, c->idr_aus, c->flagged_first, c->flagged_other, c->missed,
           c->sps_first);
    firstv = false;
  }
  printf("}");
  if (overlays) {
    printf(", \"overlay\": {\"events\": %u, \"samples\": %u, \"changes\": %" G_GUINT64_FORMAT
           ", \"stage_cpu_s\": %.4f, \"drawn_p50_ms\": %.2f, \"drawn_p99_ms\": %.2f, \"out_p50_ms\": %.2f, "
           "\"out_p99_ms\": %.2f",
           ob.events, ob.out_ms->len, st.overlay_changes, st.overlay_cpu_us / 1e6, pct(ob.drawn_ms, 0.5),
           pct(ob.drawn_ms, 0.99), pct(ob.out_ms, 0.5), pct(ob.out_ms, 0.99));
    GArray *lists[2] = {ob.drawn_ms, ob.out_ms};
    const char *names[2] = {"drawn_ms", "out_ms"};
    for (int k = 0; k < 2; k++) {
      printf(", \"%s\": [", names[k]);
      for (guint j = 0; j < lists[k]->len; j++)
        printf("%s%.2f", j ? ", " : "", g_array_index(lists[k], double, j));
      printf("]");
    }
    printf("}");
  }
  printf("}\n");

  for (guint j = 0; j < counters->len; j++) {
    counter *c = g_ptr_array_index(counters, j);
    if (c->id)
      lc_rendition_unsubscribe(c->r, c->id);
    lc_rendition_unref(c->r);
    g_free(c);
  }
  g_ptr_array_unref(counters);
  lc_ladder_free(l);
  lc_media_hub_free(hub);
  g_array_unref(video);
  g_array_unref(audio);
  g_bytes_unref(avcc);
  if (asc)
    g_bytes_unref(asc);
  if (overlays) {
    lc_overlay_unref(ob.o);
    g_array_unref(ob.drawn_ms);
    g_array_unref(ob.out_ms);
  }
  g_free(card_image);
  g_free(logo);
  g_free(input);
  g_free(rungs);
  g_free(preset);
  return 0;
}

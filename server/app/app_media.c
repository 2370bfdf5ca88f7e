/* The media side of livecartd wired together (see app_media.h). Main thread only.
 *
 * Ownership: the hub outlives ingest and rtc (both hold borrowed pointers to it), so it is
 * created first and freed last. Taps hold rendition refs of their own. */
#define LC_LOG_DOMAIN "media"
#include "app/app_media.h"
#include "app/app_relay.h"
#include "base/errors.h"
#include "ingest/ingest.h"
#include "ladder/ladder.h"
#include "base/log.h"
#include "media/hub.h"
#include "rtc/rtc.h"
#include "media/tap.h"

#include <string.h>

struct lc_app_media {
  lc_rooms *rooms;            /* borrowed */
  lc_metrics *metrics;        /* borrowed */
  lc_media_hub *hub;
  lc_ingest *ingest;          /* NULL when RTMP and SRT are both disabled */
  lc_rtc *rtc;                /* NULL when rtc.enabled = false */
  lc_app_relay *relay;        /* NULL when [relay] neither serves nor pulls */
  GHashTable *taps;           /* "room/rung" -> lc_media_tap* */
  GHashTable *whip_live;      /* without ingest: rooms live through a WHIP publisher (owned ids) */
  GMutex whip_lock;           /* whip_events, whip_src: filled by rtc workers */
  GQueue whip_events;         /* whip_event * */
  GSource *whip_src;          /* the pending drain on the main context, or NULL */
  GMainContext *ctx;
  bool whip_ladder;           /* [media] whip_ladder: WHIP publishers get the ladder too */
  bool stopping;              /* lc_app_media_free runs: offers still waiting get 503 */
  char *hls_root;             /* [hls] root when enabled (the ladders borrow it), else NULL */
  lc_app_media_event_fn on_event;
  gpointer user;
  guint stats_timer;
  struct {
    lc_metric *sessions, *viewers, *publishers, *packets, *bytes, *rtx, *nack_misses, *keyframes,
        *queue_drops, *send_drops, *consent, *dtls_fail, *switches, *plis;
  } m;
};

static lc_http_rtc_ops http_ops;

/* ---- WHEP / WHIP hooks ---- */

static int
http_offer(const char *kind, const char *room, const char *bearer, const char *sdp, size_t len, char **answer,
           char **resource, char **why, gpointer user)
{
  lc_app_media *m = user;
  if (strcmp(kind, "whip") == 0) {
    int err = lc_rooms_check_key(m->rooms, room, bearer);
    if (err == LC_ENOENT) {
      *why = g_strdup_printf("no room %s", room);
      return err;
    }
    if (err == LC_ESTATE) {
      *why = g_strdup_printf("room %s has ended", room);
      return err;
    }
    if (err) {
      LC_WARN(room, NULL, "WHIP publish refused: wrong stream key");
      *why = g_strdup("wrong stream key");
      return LC_EPERM;
    }
    if (m->ingest && lc_ingest_is_publishing(m->ingest, room)) {
      *why = g_strdup_printf("room %s already has a live publisher", room);
      return LC_EEXIST;
    }
    err = lc_rtc_whip_offer(m->rtc, room, sdp, len, answer, resource, why);
    if (err == LC_EBUSY)
      err = LC_EEXIST;
    if (!err)
      LC_INFO(room, NULL, "WHIP publisher session %s", *resource);
    return err;
  }
  if (m->stopping) {
    *why = g_strdup("the server is stopping");
    return LC_ESHUTDOWN;
  }
  /* An edge serves rooms it pulls from upstream: they are not in its own registry. */
  int rc = LC_ENOENT;
  if (lc_rooms_get(m->rooms, room) || lc_app_relay_pulling(m->relay, room))
    rc = lc_rtc_whep_offer(m->rtc, room, sdp, len, answer, resource, why);
  else
    *why = g_strdup_printf("no room %s", room);
  const char *failed = rc == LC_ENOENT ? lc_app_relay_failure(m->relay, room) : NULL;
  if (failed) { /* an edge that could not get the room: say why */
    g_free(*why);
    *why = g_strdup_printf("room %s is not on this node, and its upstream relay: %s", room, failed);
  }
  return rc;
}

/* WHEP on an edge: a room that is not here waits for its media from upstream. */
static int
http_prepare(const char *kind, const char *room, lc_http_wait *wait, gpointer user)
{
  lc_app_media *m = user;
  if (strcmp(kind, "whep") != 0)
    return 0;
  return lc_app_relay_prepare(m->relay, room, wait);
}

static int
http_remove(const char *kind, const char *room, const char *resource, gpointer user)
{
  lc_app_media *m = user;
  return lc_rtc_delete(m->rtc, resource);
}

static int
http_layer(const char *room, const char *resource, const char *rung, char **why, gpointer user)
{
  lc_app_media *m = user;
  int err = lc_rtc_pin(m->rtc, resource, rung);
  if (err == LC_EINVAL)
    *why = g_strdup_printf("room %s has no rung %s", room, rung ? rung : "?");
  return err;
}

const lc_http_rtc_ops *
lc_app_media_http_ops(lc_app_media *m)
{
  return m && m->rtc ? &http_ops : NULL;
}

/* ---- ingest ---- */

static int
ingest_auth(const char *room, const char *key, gpointer user)
{
  lc_app_media *m = user;
  return lc_rooms_check_key(m->rooms, room, key);
}

static void
emit(lc_app_media *m, const char *room, lc_app_media_event_kind kind, const char *event, const char *detail)
{
  json_t *data = json_pack("{s:s, s:s}", "room", room, "detail", detail);
  if (m->on_event)
    m->on_event(room, kind, event, data, m->user);
  json_decref(data);
}

/* Ingest names its events; the owner gets them typed (one lookup here, at the boundary). */
static void
ingest_event(const char *room, const char *event, const char *detail, gpointer user)
{
  static const struct {
    const char *name;
    lc_app_media_event_kind kind;
  } kinds[] = {{"publish.start", LC_MEDIA_EV_PUBLISH_START},
               {"publish.resumed", LC_MEDIA_EV_PUBLISH_RESUMED},
               {"publish.lost", LC_MEDIA_EV_PUBLISH_LOST},
               {"publish.end", LC_MEDIA_EV_PUBLISH_END}};
  lc_app_media_event_kind kind = LC_MEDIA_EV_OTHER;
  for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++)
    if (strcmp(kinds[i].name, event) == 0)
      kind = kinds[i].kind;
  emit(user, room, kind, event, detail ? detail : "");
}

/* ---- metrics ---- */

/* ---- WHIP publishers: rtc reports them (worker thread), ingest runs them (main thread) ---- */

typedef struct {
  char *room, *resource, *reason, *peer;
  bool live;
} whip_event;

static void
whip_event_free(gpointer p)
{
  whip_event *e = p;
  g_free(e->room);
  g_free(e->resource);
  g_free(e->reason);
  g_free(e->peer);
  g_free(e);
}

/* One WHIP session went live or ended. With ingest, the publisher goes through the same rules
 * as RTMP/SRT: a ladder for the rungs, grace period, publish.start/lost/resumed/end with detail
 * "whip <peer>"; a refusal (the room got another publisher meanwhile) ends the session. Without
 * ingest (RTMP and SRT both disabled) the room's state follows the session directly. */
static void
whip_apply(lc_app_media *m, const whip_event *e)
{
  if (!m->ingest) {
    bool was = g_hash_table_contains(m->whip_live, e->room);
    if (e->live && !was) {
      g_hash_table_add(m->whip_live, g_strdup(e->room));
      emit(m, e->room, LC_MEDIA_EV_PUBLISH_START, "publish.start", "whip");
    } else if (!e->live && was) {
      g_hash_table_remove(m->whip_live, e->room);
      emit(m, e->room, LC_MEDIA_EV_PUBLISH_END, "publish.end", "whip");
    }
    return;
  }
  if (!e->live) {
    lc_ingest_external_lost(m->ingest, e->room, e->resource, e->reason);
    return;
  }
  lc_media_room *mr = lc_media_hub_acquire(m->hub, e->room);
  lc_rendition *video = mr ? lc_media_room_find(mr, "source") : NULL;
  const char *why = "the publisher sends no video";
  int rc = video ? lc_ingest_external_start(m->ingest, e->room, e->peer, e->resource,
                                            m->whip_ladder ? video : NULL, &why)
                 : LC_EINVAL;
  if (mr)
    lc_media_room_unref(mr);
  if (rc != 0) {
    LC_WARN(e->room, e->resource, "WHIP publisher refused: %s", why ? why : "?");
    lc_rtc_delete(m->rtc, e->resource);
  }
}

static gboolean
whip_drain(gpointer user)
{
  lc_app_media *m = user;
  g_mutex_lock(&m->whip_lock);
  GQueue q = m->whip_events;
  g_queue_init(&m->whip_events);
  g_source_unref(m->whip_src);
  m->whip_src = NULL;
  g_mutex_unlock(&m->whip_lock);
  for (GList *l = q.head; l; l = l->next)
    whip_apply(m, l->data);
  g_queue_clear_full(&q, whip_event_free);
  return G_SOURCE_REMOVE;
}

/* rtc worker thread (or the main thread while rtc stops): queue it, in order, for the main loop. */
static void
on_whip_publish(const char *room, const char *resource, bool live, const char *reason, const char *peer,
                gpointer user)
{
  lc_app_media *m = user;
  whip_event *e = g_new0(whip_event, 1);
  e->room = g_strdup(room);
  e->resource = g_strdup(resource);
  e->reason = g_strdup(reason ? reason : "deleted");
  e->peer = g_strdup(peer);
  e->live = live;
  g_mutex_lock(&m->whip_lock);
  g_queue_push_tail(&m->whip_events, e);
  if (!m->whip_src) {
    m->whip_src = g_idle_source_new();
    g_source_set_callback(m->whip_src, whip_drain, m, NULL);
    g_source_attach(m->whip_src, m->ctx);
  }
  g_mutex_unlock(&m->whip_lock);
}

/* ingest ends a WHIP publisher (kick, room ended, takeover). Main thread. */
static void
whip_close(const char *room, const char *token, const char *reason, gpointer user)
{
  lc_app_media *m = user;
  LC_INFO(room, token, "ending the WHIP publisher: %s", reason);
  if (m->rtc)
    lc_rtc_delete(m->rtc, token);
}

static gboolean
update_metrics(gpointer user)
{
  lc_app_media *m = user;
  if (!m->rtc)
    return G_SOURCE_CONTINUE;
  lc_rtc_stats s;
  lc_rtc_get_stats(m->rtc, &s);
  lc_metric_set(m->m.sessions, s.sessions);
  lc_metric_set(m->m.viewers, s.viewers);
  lc_metric_set(m->m.publishers, s.publishers);
  lc_metric_catch_up(m->m.packets, s.packets_sent);
  lc_metric_catch_up(m->m.bytes, s.bytes_sent);
  lc_metric_catch_up(m->m.rtx, s.retransmissions);
  lc_metric_catch_up(m->m.nack_misses, s.nack_misses);
  lc_metric_catch_up(m->m.keyframes, s.keyframe_requests);
  lc_metric_catch_up(m->m.queue_drops, s.queue_drops);
  lc_metric_catch_up(m->m.send_drops, s.send_drops);
  lc_metric_catch_up(m->m.consent, s.consent_timeouts);
  lc_metric_catch_up(m->m.dtls_fail, s.dtls_failures);
  lc_metric_catch_up(m->m.switches, s.rung_switches);
  lc_metric_catch_up(m->m.plis, s.plis_received);
  return G_SOURCE_CONTINUE;
}

static void
register_metrics(lc_app_media *m)
{
  lc_metrics *x = m->metrics;
  m->m.sessions = lc_metrics_gauge(x, "livecart_rtc_sessions", NULL, "WebRTC sessions (any state)");
  m->m.viewers = lc_metrics_gauge(x, "livecart_rtc_viewers", NULL, "WHEP viewers with DTLS done");
  m->m.publishers = lc_metrics_gauge(x, "livecart_rtc_publishers", NULL, "WHIP publishers with DTLS done");
  m->m.packets = lc_metrics_counter(x, "livecart_rtc_packets_sent_total", NULL, "SRTP/SRTCP datagrams sent");
  m->m.bytes = lc_metrics_counter(x, "livecart_rtc_bytes_sent_total", NULL, "bytes sent to WebRTC peers");
  m->m.rtx = lc_metrics_counter(x, "livecart_rtc_retransmissions_total", NULL, "packets resent for NACKs");
  m->m.nack_misses = lc_metrics_counter(x, "livecart_rtc_nack_misses_total", NULL,
                                        "NACKed packets no longer in the cache");
  m->m.keyframes = lc_metrics_counter(x, "livecart_rtc_keyframe_requests_total", NULL,
                                      "keyframe requests forwarded to a rendition");
  m->m.queue_drops = lc_metrics_counter(x, "livecart_rtc_queue_drops_total", NULL,
                                        "media packets dropped because a worker queue was full");
  m->m.send_drops = lc_metrics_counter(x, "livecart_rtc_send_drops_total", NULL,
                                       "datagrams the kernel refused (socket buffer full)");
  m->m.consent = lc_metrics_counter(x, "livecart_rtc_consent_timeouts_total", NULL,
                                    "sessions torn down after consent freshness expired");
  m->m.dtls_fail = lc_metrics_counter(x, "livecart_rtc_dtls_failures_total", NULL, "DTLS handshakes that failed");
  m->m.switches = lc_metrics_counter(x, "livecart_rtc_rung_switches_total", NULL, "viewer rung switches");
  m->m.plis = lc_metrics_counter(x, "livecart_rtc_plis_received_total", NULL,
                                 "PLI and FIR keyframe requests received from viewers");
}

/* ---- lifecycle ---- */

lc_app_media *
lc_app_media_new(const lc_config *cfg, lc_rooms *rooms, lc_metrics *metrics, lc_app_media_event_fn on_event,
                 gpointer user, lc_app_media_overlay_fn overlay_for, gpointer overlay_user,
                 lc_ladder_segment_fn on_segment, gpointer segment_user, char **err_msg)
{
  lc_app_media *m = g_new0(lc_app_media, 1);
  m->rooms = rooms;
  m->metrics = metrics;
  m->on_event = on_event;
  m->user = user;
  m->hub = lc_media_hub_new();
  m->taps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)lc_media_tap_free);
  m->whip_live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_mutex_init(&m->whip_lock);
  g_queue_init(&m->whip_events);
  m->ctx = g_main_context_ref_thread_default();
  m->whip_ladder = lc_config_bool(cfg, "media", "whip_ladder");
  http_ops = (lc_http_rtc_ops){http_offer, http_remove, http_layer, http_prepare};

  lc_ladder_config ladder = {
      .passthrough = lc_config_bool(cfg, "media", "passthrough"),
      .keyframe_interval_ms = (unsigned)lc_config_int(cfg, "media", "keyframe_interval_ms"),
      .audio_bitrate = (int)lc_config_int(cfg, "media", "audio_bitrate"),
      .cache_ms = (unsigned)lc_config_int(cfg, "media", "cache_ms"),
      .keyframe_throttle_ms = (unsigned)lc_config_int(cfg, "media", "keyframe_throttle_ms"),
      .overlay_for = overlay_for,
      .overlay_user = overlay_user,
      .on_segment = on_segment,
      .segment_user = segment_user,
  };
  if (lc_config_bool(cfg, "hls", "enabled")) {
    m->hls_root = g_strdup(lc_config_string(cfg, "hls", "root"));
    ladder.hls_root = m->hls_root;
    ladder.hls_segment_s = (unsigned)lc_config_int(cfg, "hls", "segment_s");
    ladder.hls_playlist_len = (unsigned)lc_config_int(cfg, "hls", "playlist_length");
  }
  g_strlcpy(ladder.x264_preset, lc_config_string(cfg, "media", "x264_preset"), sizeof ladder.x264_preset);
  char *why = NULL;
  if (lc_ladder_parse_rungs(lc_config_string(cfg, "media", "rungs"), &ladder, &why) != 0) {
    *err_msg = g_strdup_printf("media.rungs: %s", why);
    g_free(why);
    goto fail;
  }
  bool rtmp = lc_config_bool(cfg, "rtmp", "enabled"), srt = lc_config_bool(cfg, "srt", "enabled");
  if (rtmp || srt) {
    lc_ingest_config icfg = {
        .rtmp_enabled = rtmp,
        .rtmp_bind = (char *)lc_config_string(cfg, "rtmp", "bind"),
        .rtmp_port = (int)lc_config_int(cfg, "rtmp", "port"),
        .rtmp_max_connections = (unsigned)lc_config_int(cfg, "rtmp", "max_connections"),
        .srt_enabled = srt,
        .srt_bind = (char *)lc_config_string(cfg, "srt", "bind"),
        .srt_port = (int)lc_config_int(cfg, "srt", "port"),
        .srt_latency_ms = (int)lc_config_int(cfg, "srt", "latency_ms"),
        .grace_ms = (unsigned)lc_config_int(cfg, "media", "grace_s") * 1000,
        .takeover = lc_config_bool(cfg, "media", "takeover"),
        .auth_failures_per_min = (unsigned)lc_config_int(cfg, "limits", "auth_failures_per_min"),
        .auth_lockout_s = (unsigned)lc_config_int(cfg, "limits", "auth_lockout_s"),
        .rtmp_handshakes_per_ip = (unsigned)lc_config_int(cfg, "limits", "rtmp_handshakes_per_ip"),
        .tracked_addresses = (unsigned)lc_config_int(cfg, "limits", "tracked_addresses"),
        .limits_exempt = lc_config_string(cfg, "limits", "exempt"),
        .ladder = ladder,
    };
    m->ingest = lc_ingest_new(&icfg, m->hub, ingest_auth, ingest_event, m, err_msg);
    if (!m->ingest)
      goto fail;
    lc_ingest_set_external_close(m->ingest, whip_close, m);
  }
  if (lc_config_bool(cfg, "rtc", "enabled")) {
    lc_rtc_config rcfg = {
        .bind = (char *)lc_config_string(cfg, "rtc", "bind"),
        .port = (int)lc_config_int(cfg, "rtc", "port"),
        .workers = (unsigned)lc_config_int(cfg, "rtc", "workers"),
        .public_ip = (char *)lc_config_string(cfg, "rtc", "public_ip"),
        .cert_file = (char *)lc_config_string(cfg, "rtc", "cert_file"),
        .key_file = (char *)lc_config_string(cfg, "rtc", "key_file"),
        .queue_packets = (unsigned)lc_config_int(cfg, "rtc", "queue_packets"),
        .consent_timeout_ms = (unsigned)lc_config_int(cfg, "rtc", "consent_timeout_ms"),
        .max_sessions = (unsigned)lc_config_int(cfg, "rtc", "max_sessions"),
    };
    m->rtc = lc_rtc_new(&rcfg, m->hub, err_msg);
    if (!m->rtc)
      goto fail;
    lc_rtc_set_publish_notify(m->rtc, on_whip_publish, m);
    register_metrics(m);
    m->stats_timer = g_timeout_add_seconds(1, update_metrics, m);

    LC_INFO(NULL, NULL, "WebRTC media on udp %s:%d", rcfg.bind, lc_rtc_port(m->rtc));
  }
  m->relay = lc_app_relay_new(cfg, m->hub, metrics, err_msg);
  if (!m->relay && *err_msg)
    goto fail;
  return m;

fail:
  lc_app_media_free(m);
  return NULL;
}

void
lc_app_media_free(lc_app_media *m)
{
  if (!m)
    return;
  if (m->stats_timer)
    g_source_remove(m->stats_timer);
  m->stopping = true;
  g_hash_table_destroy(m->taps);
  lc_app_relay_free(m->relay); /* a producer like ingest; offers still waiting are answered */
  lc_ingest_free(m->ingest); /* its WHIP close callback may call rtc: before lc_rtc_free */
  lc_rtc_free(m->rtc);       /* may report its last WHIP sessions: dropped below */
  g_mutex_lock(&m->whip_lock);
  if (m->whip_src) {
    g_source_destroy(m->whip_src);
    g_source_unref(m->whip_src);
  }
  g_queue_clear_full(&m->whip_events, whip_event_free);
  g_mutex_unlock(&m->whip_lock);
  g_mutex_clear(&m->whip_lock);
  if (m->ctx)
    g_main_context_unref(m->ctx);
  g_hash_table_destroy(m->whip_live);
  lc_media_hub_free(m->hub);
  g_free(m->hls_root);
  g_free(m);
}

void
lc_app_media_room_ended(lc_app_media *m, const char *room)
{
  if (!m)
    return;
  if (m->ingest)
    lc_ingest_end_room(m->ingest, room);
  lc_media_hub_close(m->hub, room);
}

/* ---- status and control commands ---- */

static json_t *
room_json(lc_media_room *mr)
{
  json_t *rends = json_array();
  unsigned n = lc_media_room_n_video(mr);
  for (unsigned i = 0; i <= n; i++) {
    lc_rendition *r = i < n ? lc_media_room_video(mr, i) : lc_media_room_audio(mr);
    if (!r)
      continue;
    lc_rendition_info info;
    lc_rendition_get_info(r, &info);
    /* bitrate_kbps: the rung's target, or what was measured when it has none (a WHIP source) */
    int kbps = info.bitrate_kbps ? info.bitrate_kbps : lc_rendition_measured_kbps(r);
    json_array_append_new(rends, json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:b, s:I, s:I, s:i}", "name",
                                           info.name, "kind", info.kind == LC_MEDIA_VIDEO ? "video" : "audio",
                                           "ssrc", (json_int_t)info.ssrc, "width", info.width, "height",
                                           info.height, "bitrate_kbps", kbps, "measured_kbps",
                                           lc_rendition_measured_kbps(r), "live", lc_rendition_is_live(r),
                                           "packets", (json_int_t)lc_rendition_packets(r), "keyframes",
                                           (json_int_t)lc_rendition_keyframes(r), "subscribers",
                                           (int)lc_rendition_subscribers(r)));
  }
  return json_pack("{s:s, s:b, s:o}", "room", lc_media_room_id(mr), "live", lc_media_room_is_live(mr),
                   "renditions", rends);
}

/* The media.status "rtc" object: lc_rtc_stats as JSON, rungs as {"720p": 3}, per-worker arrays. */
static json_t *
rtc_stats_json(lc_rtc *rtc)
{
  lc_rtc_stats st;
  lc_rtc_get_stats(rtc, &st);
  json_t *o = json_object();
  json_object_set_new(o, "sessions", json_integer(st.sessions));
  json_object_set_new(o, "viewers", json_integer(st.viewers));
  json_object_set_new(o, "publishers", json_integer(st.publishers));
  const struct {
    const char *key;
    uint64_t v;
  } counters[] = {{"packets_sent", st.packets_sent},
                  {"bytes_sent", st.bytes_sent},
                  {"retransmissions", st.retransmissions},
                  {"nack_misses", st.nack_misses},
                  {"keyframe_requests", st.keyframe_requests},
                  {"plis_received", st.plis_received},
                  {"queue_drops", st.queue_drops},
                  {"send_drops", st.send_drops},
                  {"consent_timeouts", st.consent_timeouts},
                  {"dtls_failures", st.dtls_failures},
                  {"packets_received", st.packets_received},
                  {"rung_switches", st.rung_switches},
                  {"handoffs", st.handoffs},
                  {"worker_cpu_us", st.worker_cpu_us}};
  for (size_t i = 0; i < G_N_ELEMENTS(counters); i++)
    json_object_set_new(o, counters[i].key, json_integer((json_int_t)counters[i].v));
  json_object_set_new(o, "dtls_held", json_integer(st.dtls_held));
  json_t *rungs = json_object();
  for (unsigned i = 0; i < st.n_rungs; i++)
    json_object_set_new(rungs, st.rungs[i].name, json_integer(st.rungs[i].viewers));
  json_object_set_new(o, "rungs", rungs);
  json_t *workers = json_array(), *cpu = json_array();
  for (unsigned i = 0; i < st.n_workers; i++) {
    json_array_append_new(workers, json_integer(st.worker_sessions[i]));
    json_array_append_new(cpu, json_integer((json_int_t)(st.worker_cpu_each_us[i] / 1000)));
  }
  json_object_set_new(o, "workers", workers);
  json_object_set_new(o, "worker_cpu_ms", cpu);
  return o;
}

json_t *
lc_app_media_status(lc_app_media *m)
{
  json_t *rooms = json_array();
  char **ids = lc_media_hub_rooms(m->hub);
  for (char **id = ids; id && *id; id++) {
    lc_media_room *mr = lc_media_hub_acquire(m->hub, *id);
    if (mr) {
      json_array_append_new(rooms, room_json(mr));
      lc_media_room_unref(mr);
    }
  }
  g_strfreev(ids);
  json_t *out = json_pack("{s:o}", "rooms", rooms);
  if (m->rtc) {
    json_object_set_new(out, "rtc", rtc_stats_json(m->rtc));
    json_object_set_new(out, "rtc_port", json_integer(lc_rtc_port(m->rtc)));
  }
  if (m->ingest)
    json_object_set_new(out, "ingest", lc_ingest_status(m->ingest));
  if (m->relay)
    json_object_set_new(out, "relay", lc_app_relay_status(m->relay));
  return out;
}

json_t *
lc_app_media_rung_names(lc_app_media *m, const char *room)
{
  json_t *names = json_array();
  lc_media_room *mr = m && room ? lc_media_hub_acquire(m->hub, room) : NULL;
  if (!mr)
    return names;
  unsigned n = lc_media_room_n_video(mr);
  for (unsigned i = 0; i < n; i++) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(mr, i), &info);
    if (strcmp(info.name, "source") == 0)
      json_array_insert_new(names, 0, json_string(info.name));
    else
      json_array_append_new(names, json_string(info.name));
  }
  lc_media_room_unref(mr);
  return names;
}

static void
cmd_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_media *m = user;
  const char *room = json_string_value(json_object_get(args, "room"));
  if (!room) {
    lc_ctl_req_reply(req, lc_app_media_status(m));
    return;
  }
  lc_media_room *mr = lc_media_hub_acquire(m->hub, room);
  if (!mr) {
    lc_ctl_req_fail(req, "not_found", "room %s has no media (nobody has published to it)", room);
    return;
  }
  lc_ctl_req_reply(req, room_json(mr));
  lc_media_room_unref(mr);
}

/* The rendition args.room / args.rung (transfer full: the room ref is in *mr) or NULL after failing req. */
static lc_rendition *
rendition_arg(lc_app_media *m, lc_ctl_req *req, json_t *args, lc_media_room **mr)
{
  const char *room = json_string_value(json_object_get(args, "room"));
  const char *rung = json_string_value(json_object_get(args, "rung"));
  if (!room || !rung) {
    lc_ctl_req_fail(req, "invalid_argument", "room and rung are required");
    return NULL;
  }
  *mr = lc_media_hub_acquire(m->hub, room);
  lc_rendition *r = *mr ? lc_media_room_find(*mr, rung) : NULL;
  if (!r) {
    lc_ctl_req_fail(req, "not_found", "room %s has no rendition %s", room, rung);
    if (*mr)
      lc_media_room_unref(*mr);
    return NULL;
  }
  return r;
}

static void
cmd_tap(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_media *m = user;
  json_t *port = json_object_get(args, "port");
  const char *host = json_string_value(json_object_get(args, "host"));
  if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
    lc_ctl_req_fail(req, "invalid_argument", "port must be a UDP port number (1-65535)");
    return;
  }
  /* A tap sends unencrypted media: only to this host. */
  if (host && strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0) {
    lc_ctl_req_fail(req, "invalid_argument", "a tap sends only to 127.0.0.1 or ::1");
    return;
  }
  lc_media_room *mr = NULL;
  lc_rendition *r = rendition_arg(m, req, args, &mr);
  if (!r)
    return;
  char *why = NULL;
  lc_media_tap *tap = lc_media_tap_new(r, host ? host : "127.0.0.1", (int)json_integer_value(port), &why);
  if (!tap) {
    lc_ctl_req_fail(req, "io_error", "%s", why);
    g_free(why);
  } else {
    char *key = g_strdup_printf("%s/%s", lc_media_room_id(mr), json_string_value(json_object_get(args, "rung")));
    g_hash_table_replace(m->taps, key, tap);
    lc_rendition_request_keyframe(r);
    lc_ctl_req_reply(req, json_pack("{s:s, s:s, s:O}", "tap", key, "host", host ? host : "127.0.0.1", "port", port));
  }
  lc_media_room_unref(mr);
}

static void
cmd_untap(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_media *m = user;
  const char *room = json_string_value(json_object_get(args, "room"));
  const char *rung = json_string_value(json_object_get(args, "rung"));
  char *key = g_strdup_printf("%s/%s", room ? room : "", rung ? rung : "");
  if (g_hash_table_remove(m->taps, key))
    lc_ctl_req_reply(req, json_pack("{s:s}", "untapped", key));
  else
    lc_ctl_req_fail(req, "not_found", "no tap %s", key);
  g_free(key);
}

static void
cmd_keyframe(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_media_room *mr = NULL;
  lc_rendition *r = rendition_arg(user, req, args, &mr);
  if (!r)
    return;
  bool sent = lc_rendition_request_keyframe(r);
  lc_ctl_req_reply(req, json_pack("{s:b}", "requested", sent));
  lc_media_room_unref(mr);
}

void
lc_app_media_register(lc_app_media *m, lc_control *ctl)
{
  lc_control_register(ctl, "media.status", "media of all rooms or {room}: renditions, viewers, ingest",
                      cmd_status, m);
  lc_control_register(ctl, "media.tap", "{room, rung, port, host?}: send a rendition as plain RTP to a local UDP port",
                      cmd_tap, m);
  lc_control_register(ctl, "media.untap", "{room, rung}: stop a tap", cmd_untap, m);
  lc_control_register(ctl, "media.keyframe", "{room, rung}: ask the rung's encoder for a keyframe (throttled)",
                      cmd_keyframe, m);
  lc_app_relay_register(m->relay, ctl);
}

/* Publish manager (see ingest.h).
 *
 * State: rooms (id -> room) exist while a publisher is live or the room is in its grace period;
 * everything about them is main-thread only. The one cross-thread path is SRT payload: the
 * listener thread pushes MPEG-TS into the room's ladder through `srt_sinks` (caller id -> sink),
 * guarded by srt_lock; the main thread attaches a ladder to a sink, or detaches it before
 * freeing the ladder, under the same lock, so the listener thread never sees a freed ladder.
 * Payload that arrives before the main thread has attached the ladder (the `started` event
 * travels through the main loop) is kept, bounded, and flushed into the new ladder. */
#define LC_LOG_DOMAIN "ingest"
#include "ingest/ingest.h"
#include "ingest/amf0.h"
#include "base/errors.h"
#include "base/log.h"
#include "ingest/rtmp_server.h"
#include "ingest/srt_listener.h"
#include "ingest/stream_key.h"

#include <string.h>

#define SRT_PENDING_MAX (2u << 20)   /* TS bytes kept before the ladder is attached */
#define ERROR_WINDOW_US (60 * G_USEC_PER_SEC)
#define MAX_ERRORS_IN_WINDOW 5

typedef enum { PROTO_RTMP, PROTO_SRT, PROTO_WHIP } proto;

static const char *
proto_name(proto p)
{
  return p == PROTO_RTMP ? "rtmp" : p == PROTO_SRT ? "srt" : "whip";
}
typedef enum { ROOM_LIVE, ROOM_GRACE } room_state;

typedef struct {
  lc_ladder *ladder;   /* NULL until attached / while rebuilding */
  GByteArray *pending; /* TS bytes before the ladder, bounded */
  uint64_t bytes;
} srt_sink;            /* guarded by lc_ingest.srt_lock */

typedef struct room room;

struct lc_ingest {
  lc_ingest_config cfg;
  char *rtmp_bind, *srt_bind;
  lc_media_hub *hub;
  lc_ingest_auth_fn auth;
  lc_ingest_event_fn ev;
  gpointer user;
  GMainContext *ctx;
  lc_rtmp_server *rtmp;
  lc_srt_listener *srt;
  GHashTable *rooms; /* id -> room* */
  unsigned live;     /* rooms in ROOM_LIVE */
  bool freeing;
  GMutex srt_lock;
  GHashTable *srt_sinks; /* caller id -> srt_sink*, guarded by srt_lock */
  lc_ingest_close_fn ext_close; /* ends an external (WHIP) publisher's session */
  gpointer ext_close_user;
};

struct room {
  lc_ingest *in;
  char *id;
  room_state state;
  proto proto;
  lc_rtmp_conn *rtmp; /* RTMP publisher, or NULL */
  unsigned srt_id;    /* SRT publisher, or 0 */
  char *ext_token;    /* external (WHIP) publisher: the owner's session id, or NULL */
  lc_rendition *ext_video; /* ... and the rendition its video arrives in (a ref) */
  char peer[64];
  lc_media_room *media; /* a ref */
  lc_ladder *ladder;
  bool ladder_broken;   /* on_error seen, rebuild pending: push nothing */
  GBytes *avcc, *asc;   /* RTMP configs, re-sent to a rebuilt ladder */
  guint grace_src, rebuild_src;
  int64_t since_us;
  unsigned rebuilds;
  int64_t err_window_us;
  unsigned err_in_window;
  uint64_t bytes_before; /* bytes of earlier publishers of this room */
};

static void
emit(lc_ingest *in, const char *room_id, const char *event, const char *detail)
{
  LC_INFO(room_id, NULL, "%s (%s)", event, detail);
  if (!in->freeing && in->ev)
    in->ev(room_id, event, detail, in->user);
}

/* ---- ladders ---------------------------------------------------------------------------- */

static void on_ladder_error(lc_ladder *l, const char *message, gpointer user);

static void
sink_free(gpointer p)
{
  srt_sink *s = p;
  if (s->pending)
    g_byte_array_unref(s->pending);
  g_free(s);
}

/* Points the SRT caller's sink at ladder (or NULL); flushes pending TS into a new ladder. */
static void
srt_attach(lc_ingest *in, unsigned id, lc_ladder *ladder)
{
  g_mutex_lock(&in->srt_lock);
  srt_sink *s = g_hash_table_lookup(in->srt_sinks, GUINT_TO_POINTER(id));
  if (!s && ladder) {
    s = g_new0(srt_sink, 1);
    g_hash_table_insert(in->srt_sinks, GUINT_TO_POINTER(id), s);
  }
  if (s) {
    s->ladder = ladder;
    if (ladder && s->pending) {
      lc_ladder_push_ts(ladder, s->pending->data, s->pending->len);
      g_clear_pointer(&s->pending, g_byte_array_unref);
    }
  }
  g_mutex_unlock(&in->srt_lock);
}

static void
ladder_stop(room *r)
{
  if (!r->ladder)
    return;
  if (r->proto == PROTO_SRT && r->srt_id)
    srt_attach(r->in, r->srt_id, NULL);
  lc_ladder_free(r->ladder);
  r->ladder = NULL;
  r->ladder_broken = false;
}

static int
ladder_start(room *r, char **err)
{
  lc_ingest *in = r->in;
  if (r->proto == PROTO_WHIP && !r->ext_video)
    return 0; /* a WHIP publisher without the ladder: its own rendition is all the room has */
  lc_ladder_input input = r->proto == PROTO_RTMP  ? LC_LADDER_INPUT_ES
                          : r->proto == PROTO_SRT ? LC_LADDER_INPUT_TS
                                                  : LC_LADDER_INPUT_RTP;
  r->ladder = lc_ladder_new(r->id, r->media, input, &in->cfg.ladder, on_ladder_error, r, err);
  if (!r->ladder)
    return LC_EIO;
  r->ladder_broken = false;
  if (r->proto == PROTO_SRT) {
    srt_attach(in, r->srt_id, r->ladder);
  } else if (r->proto == PROTO_WHIP) {
    if (lc_ladder_attach_rtp(r->ladder, r->ext_video) != 0) {
      lc_error_set(err, "ingest", "the publisher's video is not H.264");
      g_clear_pointer(&r->ladder, lc_ladder_free);
      return LC_EINVAL;
    }
  } else {
    if (r->avcc)
      lc_ladder_set_video_config(r->ladder, g_bytes_get_data(r->avcc, NULL), g_bytes_get_size(r->avcc));
    if (r->asc)
      lc_ladder_set_audio_config(r->ladder, g_bytes_get_data(r->asc, NULL), g_bytes_get_size(r->asc));
  }
  return 0;
}

static void
media_set_live(room *r, bool live)
{
  if (!r->media)
    return;
  for (unsigned i = 0; i < lc_media_room_n_video(r->media); i++)
    lc_rendition_set_live(lc_media_room_video(r->media, i), live);
  if (lc_media_room_audio(r->media))
    lc_rendition_set_live(lc_media_room_audio(r->media), live);
}

static void publisher_close(room *r, const char *reason);

static gboolean
on_rebuild(gpointer data)
{
  room *r = data;
  r->rebuild_src = 0;
  if (r->state != ROOM_LIVE)
    return G_SOURCE_REMOVE;
  if (r->err_in_window > MAX_ERRORS_IN_WINDOW) {
    publisher_close(r, "transcode pipeline keeps failing");
    return G_SOURCE_REMOVE;
  }
  ladder_stop(r);
  char *err = NULL;
  r->rebuilds++;
  if (ladder_start(r, &err) != 0) {
    LC_ERROR(r->id, NULL, "cannot rebuild the ladder: %s", err ? err : "?");
    char *why = g_strdup_printf("transcoder failed: %s", err ? err : "?");
    publisher_close(r, why);
    g_free(why);
  } else {
    LC_INFO(r->id, NULL, "ladder rebuilt (%u rebuilds)", r->rebuilds);
  }
  g_free(err);
  return G_SOURCE_REMOVE;
}

static void
on_ladder_error(lc_ladder *l, const char *message, gpointer user)
{
  room *r = user;
  LC_ERROR(r->id, NULL, "transcode pipeline error: %s; rebuilding it", message);
  if (l != r->ladder || r->rebuild_src)
    return;
  r->ladder_broken = true;
  if (r->proto == PROTO_SRT && r->srt_id)
    srt_attach(r->in, r->srt_id, NULL);
  int64_t now = g_get_monotonic_time();
  if (now - r->err_window_us > ERROR_WINDOW_US) {
    r->err_window_us = now;
    r->err_in_window = 0;
  }
  if (++r->err_in_window > MAX_ERRORS_IN_WINDOW) {
    LC_ERROR(r->id, NULL, "transcode pipeline failed %u times within a minute: disconnecting the publisher",
             r->err_in_window);
    /* on_rebuild disconnects: not from inside the ladder's bus callback. */
  }
  GSource *s = g_idle_source_new();
  g_source_set_callback(s, on_rebuild, r, NULL);
  r->rebuild_src = g_source_attach(s, r->in->ctx);
  g_source_unref(s);
}

/* ---- rooms ------------------------------------------------------------------------------ */

static void
remove_source(lc_ingest *in, guint *id)
{
  if (*id) {
    GSource *s = g_main_context_find_source_by_id(in->ctx, *id);
    if (s)
      g_source_destroy(s);
    *id = 0;
  }
}

static void
room_free(room *r)
{
  ladder_stop(r);
  remove_source(r->in, &r->grace_src);
  remove_source(r->in, &r->rebuild_src);
  if (r->media)
    lc_media_room_unref(r->media);
  g_free(r->ext_token);
  if (r->ext_video)
    lc_rendition_unref(r->ext_video);
  if (r->avcc)
    g_bytes_unref(r->avcc);
  if (r->asc)
    g_bytes_unref(r->asc);
  g_free(r->id);
  g_free(r);
}

static uint64_t
publisher_bytes(room *r)
{
  if (r->rtmp)
    return lc_rtmp_conn_bytes_in(r->rtmp);
  uint64_t b = 0;
  if (r->srt_id) {
    g_mutex_lock(&r->in->srt_lock);
    srt_sink *s = g_hash_table_lookup(r->in->srt_sinks, GUINT_TO_POINTER(r->srt_id));
    b = s ? s->bytes : 0;
    g_mutex_unlock(&r->in->srt_lock);
  }
  return b;
}

/* Forgets the current publisher (no event); the caller closes its connection. */
static void
detach_publisher(room *r)
{
  r->bytes_before += publisher_bytes(r);
  ladder_stop(r);
  if (r->rtmp)
    lc_rtmp_conn_set_data(r->rtmp, NULL);
  r->rtmp = NULL;
  r->srt_id = 0;
  g_clear_pointer(&r->ext_token, g_free);
  g_clear_pointer(&r->ext_video, lc_rendition_unref);
  g_clear_pointer(&r->avcc, g_bytes_unref);
  g_clear_pointer(&r->asc, g_bytes_unref);
  remove_source(r->in, &r->rebuild_src);
  if (r->state == ROOM_LIVE)
    r->in->live--;
  r->state = ROOM_GRACE;
}

/* Who a room's live publisher is, kept across detach_publisher so that its connection can be
 * closed after the room forgot it. */
typedef struct {
  proto p;
  lc_rtmp_conn *rtmp;
  unsigned srt_id;
  char *token; /* owned */
} conn_ref;

static conn_ref
conn_of(room *r)
{
  return (conn_ref){r->proto, r->rtmp, r->srt_id, g_strdup(r->ext_token)};
}

/* Closes the publisher's connection after detaching it; frees c's copy. */
static void
close_conn(lc_ingest *in, const char *room_id, conn_ref *c, const char *reason)
{
  if (c->p == PROTO_RTMP && c->rtmp)
    lc_rtmp_conn_close(c->rtmp, LC_AMF0_STREAM_FAILED, reason);
  else if (c->p == PROTO_SRT && c->srt_id && in->srt)
    lc_srt_listener_close_conn(in->srt, c->srt_id, reason);
  else if (c->p == PROTO_WHIP && c->token && in->ext_close)
    in->ext_close(room_id, c->token, reason, in->ext_close_user);
  g_clear_pointer(&c->token, g_free);
}

static void
room_end(room *r, const char *reason)
{
  lc_ingest *in = r->in;
  char *id = g_strdup(r->id);
  g_hash_table_remove(in->rooms, id); /* frees r */
  if (!in->freeing)
    lc_media_hub_close(in->hub, id);
  emit(in, id, "publish.end", reason);
  g_free(id);
}

static gboolean
on_grace_end(gpointer data)
{
  room *r = data;
  r->grace_src = 0;
  room_end(r, "grace period over");
  return G_SOURCE_REMOVE;
}

/* The live publisher went away: grace period. */
static void
publisher_lost(room *r, const char *reason)
{
  lc_ingest *in = r->in;
  detach_publisher(r);
  media_set_live(r, false);
  remove_source(in, &r->grace_src);
  GSource *s = g_timeout_source_new(in->cfg.grace_ms);
  g_source_set_callback(s, on_grace_end, r, NULL);
  r->grace_src = g_source_attach(s, in->ctx);
  g_source_unref(s);
  emit(in, r->id, "publish.lost", reason);
}

/* Disconnects the live publisher; the room goes into its grace period. */
static void
publisher_close(room *r, const char *reason)
{
  conn_ref c = conn_of(r);
  char *id = g_strdup(r->id);
  publisher_lost(r, reason);
  close_conn(r->in, id, &c, reason);
  g_free(id);
}

/* Auth (unless key is NULL: the owner has checked it) + room availability. Returns 0 or LC_E*;
 * *why says what to tell the publisher. */
static int
check_publish(lc_ingest *in, const char *room_id, const char *key, const char **why)
{
  int rc = in->auth && key ? in->auth(room_id, key, in->user) : 0;
  if (rc != 0) {
    *why = rc == LC_ENOENT  ? "no such room"
           : rc == LC_EPERM ? (*key ? "wrong stream key" : "missing stream key (<room>?key=<secret>)")
           : rc == LC_ESTATE ? "the room has ended"
                             : "publish refused";
    return rc;
  }
  room *r = g_hash_table_lookup(in->rooms, room_id);
  if (r && r->state == ROOM_LIVE) {
    if (!in->cfg.takeover) {
      *why = "the room already has a publisher";
      return LC_EBUSY;
    }
    return 0;
  }
  if (in->live >= in->cfg.max_publishers) {
    *why = "too many live rooms on this server";
    return LC_ELIMIT;
  }
  return 0;
}

/* Makes the publisher the room's live one; starts the ladder. 0 or LC_E* + *err. */
static int
attach_publisher(lc_ingest *in, const char *room_id, proto p, lc_rtmp_conn *c, unsigned srt_id, const char *peer,
                 const char *ext_token, lc_rendition *ext_video, char **err)
{
  room *r = g_hash_table_lookup(in->rooms, room_id);
  bool resumed = r != NULL;
  const char *how = "";
  if (r && r->state == ROOM_LIVE) {
    /* takeover */
    conn_ref old = conn_of(r);
    detach_publisher(r);
    close_conn(in, room_id, &old, "taken over by a new publisher");
    how = "takeover, ";
  }
  if (!r) {
    r = g_new0(room, 1);
    r->in = in;
    r->id = g_strdup(room_id);
    g_hash_table_insert(in->rooms, r->id, r);
  }
  remove_source(in, &r->grace_src);
  if (!r->media)
    r->media = lc_media_room_ref(lc_media_hub_open(in->hub, room_id));
  r->proto = p;
  r->rtmp = c;
  r->srt_id = srt_id;
  r->ext_token = g_strdup(ext_token);
  r->ext_video = ext_video ? lc_rendition_ref(ext_video) : NULL;
  g_strlcpy(r->peer, peer, sizeof r->peer);
  r->since_us = g_get_monotonic_time();
  r->state = ROOM_LIVE;
  in->live++;
  if (c)
    lc_rtmp_conn_set_data(c, r);
  int rc = ladder_start(r, err);
  if (rc != 0) {
    LC_ERROR(room_id, NULL, "cannot start the transcode ladder: %s", *err ? *err : "?");
    detach_publisher(r);
    if (!resumed) {
      g_hash_table_remove(in->rooms, room_id); /* frees r; nothing was announced */
      lc_media_hub_close(in->hub, room_id);
    } else {
      publisher_lost(r, "transcoder failed to start");
    }
    return rc;
  }
  char *detail = g_strdup_printf("%s%s %s", how, proto_name(p), peer);
  emit(in, room_id, resumed ? "publish.resumed" : "publish.start", detail);
  g_free(detail);
  return 0;
}

/* ---- RTMP ------------------------------------------------------------------------------- */

static int
rtmp_publish(lc_rtmp_conn *c, const char *app, const char *name, const char *tc_url, const char **code,
             const char **desc, gpointer user)
{
  lc_ingest *in = user;
  lc_stream_key sk;
  const char *why = NULL;
  if (lc_stream_key_parse_rtmp(name, tc_url, &sk, &why) != 0) {
    *code = LC_AMF0_PUBLISH_BADNAME;
    *desc = why;
    return LC_EINVAL;
  }
  int rc = check_publish(in, sk.room, sk.key, &why);
  if (rc != 0) {
    LC_WARN(sk.room, lc_rtmp_conn_id(c), "RTMP publish from %s refused: %s", lc_rtmp_conn_peer(c), why);
    *code = (rc == LC_EBUSY || rc == LC_ELIMIT) ? LC_AMF0_PUBLISH_DENIED : LC_AMF0_PUBLISH_BADNAME;
    *desc = why;
    return rc;
  }
  char *err = NULL;
  rc = attach_publisher(in, sk.room, PROTO_RTMP, c, 0, lc_rtmp_conn_peer(c), NULL, NULL, &err);
  g_free(err);
  if (rc != 0) {
    *code = LC_AMF0_STREAM_FAILED;
    *desc = "the transcoder could not start";
    return rc;
  }
  return 0;
}

static room *
rtmp_room(lc_rtmp_conn *c)
{
  room *r = lc_rtmp_conn_get_data(c);
  return r && r->rtmp == c ? r : NULL;
}

static void
rtmp_video_config(lc_rtmp_conn *c, const uint8_t *avcc, size_t len, gpointer user)
{
  room *r = rtmp_room(c);
  if (!r)
    return;
  if (r->avcc)
    g_bytes_unref(r->avcc);
  r->avcc = g_bytes_new(avcc, len);
  if (r->ladder && !r->ladder_broken)
    lc_ladder_set_video_config(r->ladder, avcc, len);
}

static void
rtmp_video(lc_rtmp_conn *c, const uint8_t *au, size_t len, int64_t dts, int32_t cts, bool key, gpointer user)
{
  room *r = rtmp_room(c);
  if (r && r->ladder && !r->ladder_broken)
    lc_ladder_push_video(r->ladder, au, len, dts, cts, key);
}

static void
rtmp_audio_config(lc_rtmp_conn *c, const uint8_t *asc, size_t len, gpointer user)
{
  room *r = rtmp_room(c);
  if (!r)
    return;
  if (r->asc)
    g_bytes_unref(r->asc);
  r->asc = g_bytes_new(asc, len);
  if (r->ladder && !r->ladder_broken)
    lc_ladder_set_audio_config(r->ladder, asc, len);
}

static void
rtmp_audio(lc_rtmp_conn *c, const uint8_t *fr, size_t len, int64_t pts, gpointer user)
{
  room *r = rtmp_room(c);
  if (r && r->ladder && !r->ladder_broken)
    lc_ladder_push_audio(r->ladder, fr, len, pts);
}

static void
rtmp_unpublished(lc_rtmp_conn *c, const char *reason, gpointer user)
{
  lc_ingest *in = user;
  room *r = rtmp_room(c);
  if (!r || in->freeing)
    return;
  char *detail = g_strdup_printf("rtmp %s: %s", lc_rtmp_conn_peer(c), reason);
  publisher_lost(r, detail);
  g_free(detail);
}

/* ---- SRT -------------------------------------------------------------------------------- */

static int
srt_auth(const char *room_id, const char *key, const char *peer, gpointer user)
{
  lc_ingest *in = user;
  const char *why = NULL;
  int rc = check_publish(in, room_id, key, &why);
  if (rc != 0)
    LC_WARN(room_id, NULL, "SRT publish from %s refused: %s", peer, why);
  return rc;
}

static void
srt_started(unsigned id, const char *room_id, const char *peer, gpointer user)
{
  lc_ingest *in = user;
  room *r = g_hash_table_lookup(in->rooms, room_id);
  const char *why = NULL;
  if (r && r->state == ROOM_LIVE && !in->cfg.takeover)
    why = "the room already has a publisher";
  else if ((!r || r->state != ROOM_LIVE) && in->live >= in->cfg.max_publishers)
    why = "too many live rooms on this server";
  if (why) {
    LC_WARN(room_id, NULL, "SRT publish from %s refused: %s", peer, why);
    lc_srt_listener_close_conn(in->srt, id, why);
    return;
  }
  char *err = NULL;
  if (attach_publisher(in, room_id, PROTO_SRT, NULL, id, peer, NULL, NULL, &err) != 0)
    lc_srt_listener_close_conn(in->srt, id, "the transcoder could not start");
  g_free(err);
}

static void
srt_data(unsigned id, const uint8_t *ts, size_t len, gpointer user)
{
  lc_ingest *in = user;
  g_mutex_lock(&in->srt_lock);
  srt_sink *s = g_hash_table_lookup(in->srt_sinks, GUINT_TO_POINTER(id));
  if (!s) {
    s = g_new0(srt_sink, 1);
    s->pending = g_byte_array_new();
    g_hash_table_insert(in->srt_sinks, GUINT_TO_POINTER(id), s);
  }
  s->bytes += len;
  if (s->ladder)
    lc_ladder_push_ts(s->ladder, ts, len);
  else if (s->pending && s->pending->len + len <= SRT_PENDING_MAX)
    g_byte_array_append(s->pending, ts, (guint)len);
  g_mutex_unlock(&in->srt_lock);
}

static void
srt_ended(unsigned id, const char *room_id, const char *reason, gpointer user)
{
  lc_ingest *in = user;
  room *r = g_hash_table_lookup(in->rooms, room_id);
  if (r && !in->freeing && r->state == ROOM_LIVE && r->proto == PROTO_SRT && r->srt_id == id) {
    char *detail = g_strdup_printf("srt %s: %s", r->peer, reason);
    publisher_lost(r, detail);
    g_free(detail);
  }
  g_mutex_lock(&in->srt_lock);
  g_hash_table_remove(in->srt_sinks, GUINT_TO_POINTER(id));
  g_mutex_unlock(&in->srt_lock);
}

/* ---- public ----------------------------------------------------------------------------- */

void
lc_ingest_config_default(lc_ingest_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->rtmp_enabled = true;
  cfg->rtmp_bind = "0.0.0.0";
  cfg->rtmp_port = 1935;
  cfg->srt_enabled = true;
  cfg->srt_bind = "0.0.0.0";
  cfg->srt_port = 9710;
  cfg->srt_latency_ms = 120;
  cfg->grace_ms = 30000;
  cfg->max_publishers = 16;
  cfg->rtmp_max_connections = 64;
  cfg->handshake_timeout_ms = 10000;
  cfg->idle_timeout_ms = 10000;
}

lc_ingest *
lc_ingest_new(const lc_ingest_config *cfg, lc_media_hub *hub, lc_ingest_auth_fn auth, lc_ingest_event_fn ev,
              gpointer user, char **err)
{
  lc_ingest *in = g_new0(lc_ingest, 1);
  in->cfg = *cfg;
  in->rtmp_bind = g_strdup(cfg->rtmp_bind ? cfg->rtmp_bind : "0.0.0.0");
  in->srt_bind = g_strdup(cfg->srt_bind ? cfg->srt_bind : "0.0.0.0");
  in->cfg.rtmp_bind = in->rtmp_bind;
  in->cfg.srt_bind = in->srt_bind;
  in->cfg.limits_exempt = NULL; /* only lc_ingest_new reads it (the RTMP server parses its own copy) */
  if (!in->cfg.max_publishers)
    in->cfg.max_publishers = 16;
  in->hub = hub;
  in->auth = auth;
  in->ev = ev;
  in->user = user;
  in->ctx = g_main_context_ref_thread_default();
  in->rooms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)room_free);
  g_mutex_init(&in->srt_lock);
  in->srt_sinks = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, sink_free);

  if (cfg->rtmp_enabled && cfg->rtmp_port >= 0) {
    lc_rtmp_server_config rc;
    lc_rtmp_server_config_default(&rc);
    rc.bind = in->rtmp_bind;
    rc.port = cfg->rtmp_port;
    if (cfg->rtmp_max_connections)
      rc.max_connections = cfg->rtmp_max_connections;
    if (cfg->handshake_timeout_ms)
      rc.handshake_timeout_ms = cfg->handshake_timeout_ms;
    if (cfg->idle_timeout_ms)
      rc.idle_timeout_ms = cfg->idle_timeout_ms;
    rc.auth_failures_per_min = cfg->auth_failures_per_min;
    rc.auth_lockout_s = cfg->auth_lockout_s;
    rc.handshakes_per_ip = cfg->rtmp_handshakes_per_ip;
    rc.tracked_addresses = cfg->tracked_addresses;
    rc.limits_exempt = cfg->limits_exempt;
    lc_rtmp_server_callbacks cb = {.publish = rtmp_publish,
                                   .video_config = rtmp_video_config,
                                   .video = rtmp_video,
                                   .audio_config = rtmp_audio_config,
                                   .audio = rtmp_audio,
                                   .unpublished = rtmp_unpublished};
    in->rtmp = lc_rtmp_server_new(&rc, &cb, in, err);
    if (!in->rtmp)
      goto fail;
  }
  if (cfg->srt_enabled && cfg->srt_port >= 0) {
    lc_srt_listener_config sc = {.bind = in->srt_bind,
                                 .port = cfg->srt_port,
                                 .latency_ms = cfg->srt_latency_ms,
                                 .max_connections = in->cfg.max_publishers,
                                 .idle_timeout_ms = cfg->idle_timeout_ms};
    lc_srt_listener_callbacks cb = {.auth = srt_auth, .started = srt_started, .data = srt_data, .ended = srt_ended};
    in->srt = lc_srt_listener_new(&sc, &cb, in, err);
    if (!in->srt)
      goto fail;
  }
  return in;

fail:
  lc_ingest_free(in);
  return NULL;
}

void
lc_ingest_free(lc_ingest *in)
{
  if (!in)
    return;
  in->freeing = true;
  lc_rtmp_server_free(in->rtmp);
  in->rtmp = NULL;
  lc_srt_listener_free(in->srt); /* joins the SRT thread: no push runs after this */
  in->srt = NULL;
  g_hash_table_destroy(in->rooms);
  g_hash_table_destroy(in->srt_sinks);
  g_mutex_clear(&in->srt_lock);
  g_main_context_unref(in->ctx);
  g_free(in->rtmp_bind);
  g_free(in->srt_bind);
  g_free(in);
}

int
lc_ingest_rtmp_port(lc_ingest *in)
{
  return in->rtmp ? lc_rtmp_server_port(in->rtmp) : -1;
}

int
lc_ingest_srt_port(lc_ingest *in)
{
  return in->srt ? lc_srt_listener_port(in->srt) : -1;
}

int
lc_ingest_kick(lc_ingest *in, const char *room_id, const char *reason)
{
  room *r = g_hash_table_lookup(in->rooms, room_id);
  if (!r)
    return LC_ENOENT;
  conn_ref c = conn_of(r);
  detach_publisher(r);
  close_conn(in, room_id, &c, reason ? reason : "kicked");
  room_end(r, reason ? reason : "kicked");
  return 0;
}

void
lc_ingest_end_room(lc_ingest *in, const char *room_id)
{
  if (in && room_id)
    lc_ingest_kick(in, room_id, "room ended");
}

void
lc_ingest_set_external_close(lc_ingest *in, lc_ingest_close_fn fn, gpointer user)
{
  in->ext_close = fn;
  in->ext_close_user = user;
}

int
lc_ingest_external_start(lc_ingest *in, const char *room_id, const char *peer, const char *token,
                         lc_rendition *video, const char **why)
{
  *why = NULL;
  if (!room_id || !token) {
    *why = "room and session are required";
    return LC_EINVAL;
  }
  int rc = check_publish(in, room_id, NULL, why);
  if (rc != 0) {
    LC_WARN(room_id, token, "WHIP publish from %s refused: %s", peer ? peer : "?", *why);
    return rc;
  }
  char *err = NULL;
  rc = attach_publisher(in, room_id, PROTO_WHIP, NULL, 0, peer ? peer : "", token, video, &err);
  g_free(err);
  if (rc != 0)
    *why = "the transcoder could not start";
  return rc;
}

void
lc_ingest_external_lost(lc_ingest *in, const char *room_id, const char *token, const char *reason)
{
  room *r = room_id ? g_hash_table_lookup(in->rooms, room_id) : NULL;
  if (!r || in->freeing || r->state != ROOM_LIVE || r->proto != PROTO_WHIP || !r->ext_token ||
      strcmp(r->ext_token, token) != 0)
    return; /* not the live publisher (already replaced, kicked or lost) */
  char *detail = g_strdup_printf("whip %s: %s", r->peer, reason ? reason : "session ended");
  publisher_lost(r, detail);
  g_free(detail);
}

bool
lc_ingest_is_publishing(lc_ingest *in, const char *room_id)
{
  room *r = in && room_id ? g_hash_table_lookup(in->rooms, room_id) : NULL;
  return r && r->state == ROOM_LIVE;
}

json_t *
lc_ingest_status(lc_ingest *in)
{
  json_t *o = json_object();
  json_object_set_new(o, "publishers", json_integer(in->live));
  if (in->rtmp) {
    lc_rtmp_server_stats s;
    lc_rtmp_server_get_stats(in->rtmp, &s);
    json_object_set_new(o, "rtmp", json_pack("{s:i, s:I, s:I, s:I, s:i}", "connections", (int)s.connections,
                                             "accepted", (json_int_t)s.accepted, "refused", (json_int_t)s.refused,
                                             "bytes_in", (json_int_t)s.bytes_in, "port",
                                             lc_rtmp_server_port(in->rtmp)));
  }
  if (in->srt) {
    lc_srt_listener_stats s;
    lc_srt_listener_get_stats(in->srt, &s);
    json_object_set_new(o, "srt", json_pack("{s:i, s:I, s:I, s:I, s:i}", "connections", (int)s.connections,
                                            "accepted", (json_int_t)s.accepted, "rejected", (json_int_t)s.rejected,
                                            "bytes_in", (json_int_t)s.bytes_in, "port",
                                            lc_srt_listener_port(in->srt)));
  }
  json_t *rooms = json_object();
  GHashTableIter it;
  gpointer k, v;
  int64_t now = g_get_monotonic_time();
  g_hash_table_iter_init(&it, in->rooms);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    room *r = v;
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "state", r->state == ROOM_LIVE ? "live" : "grace",
                          "protocol", proto_name(r->proto), "peer", r->peer, "since_ms",
                          (json_int_t)((now - r->since_us) / 1000), "bytes_in",
                          (json_int_t)(r->bytes_before + publisher_bytes(r)), "ladder_rebuilds", (int)r->rebuilds);
    if (r->ladder) {
      lc_ladder_stats ls;
      lc_ladder_get_stats(r->ladder, &ls);
      json_object_set_new(j, "video_in", json_integer((json_int_t)ls.video_in));
      json_object_set_new(j, "audio_in", json_integer((json_int_t)ls.audio_in));
      json_object_set_new(j, "dropped_in", json_integer((json_int_t)ls.dropped_in));
      json_object_set_new(j, "source_width", json_integer(ls.source_width));
      json_object_set_new(j, "source_height", json_integer(ls.source_height));
    }
    json_object_set_new(rooms, r->id, j);
  }
  json_object_set_new(o, "rooms", rooms);
  return o;
}

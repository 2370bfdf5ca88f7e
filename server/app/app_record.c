/* Recordings wired to the ladder, the publish sessions, the shows and the control socket (see
 * app_record.h). Main thread. */
#define LC_LOG_DOMAIN "record"
#include "app/app_record.h"
#include "base/errors.h"
#include "base/log.h"
#include "record/record.h"

#include <string.h>

#define SWEEP_INTERVAL_S 3600

/* A room being recorded (or refused: the reason is kept for record.status). */
typedef struct {
  lc_recording *rec;    /* NULL until the first segment, or after a failed start */
  bool discontinuity;   /* the publisher was lost: the next segment does not continue */
  char *failure;        /* why the last start/segment failed (NULL: fine) */
  int64_t failure_logged_us;
} room_rec;

struct lc_app_record {
  lc_record_store *store; /* NULL when record.enabled is off or HLS is off */
  lc_rooms *rooms;
  lc_app_record_hooks hooks;
  bool enabled;
  char *root;
  int retention_days;
  GHashTable *active; /* room id -> room_rec* (owned) */
  guint sweep_timer;
  lc_metric *m_segments, *m_errors, *m_bytes, *m_recordings, *m_deleted;
};

static void
room_rec_free(room_rec *rr)
{
  g_free(rr->failure);
  g_free(rr);
}

/* Gauges and counters from the store (the store counts; the metrics catch up). */
static void
update_metrics(lc_app_record *a)
{
  if (!a->store || !a->m_bytes)
    return;
  lc_record_stats st;
  lc_record_store_stats(a->store, &st);
  lc_metric_set(a->m_bytes, (gint64)st.bytes);
  lc_metric_set(a->m_recordings, st.recordings);
  lc_metric_catch_up(a->m_segments, st.segments_written);
  lc_metric_catch_up(a->m_errors, st.write_errors);
}

/* A failure of a room's recording: kept for record.status, logged at most every 30 s per room
 * (a full disk fails every segment). */
static void
room_failed(room_rec *rr, const char *room, const char *why)
{
  g_free(rr->failure);
  rr->failure = g_strdup(why);
  int64_t now = g_get_monotonic_time();
  if (!rr->failure_logged_us || now - rr->failure_logged_us > 30 * G_USEC_PER_SEC) {
    rr->failure_logged_us = now;
    LC_ERROR(room, NULL, "recording: %s (the live show goes on)", why);
  }
}

static bool
room_wants_recording(lc_app_record *a, const char *room)
{
  lc_room *r = lc_rooms_get(a->rooms, room);
  int want = r ? lc_room_record(r) : -1;
  return want < 0 ? a->enabled : want == 1;
}

static void
mark_pin(lc_app_record *a, lc_recording *rec, const json_t *product, int64_t at_ms)
{
  const char *id = json_string_value(json_object_get(product, "id"));
  if (!id)
    return;
  const char *title = json_string_value(json_object_get(product, "title"));
  char *err = NULL;
  json_t *data = json_pack("{s:s, s:s}", "product_id", id, "title", title ? title : "");
  if (lc_recording_mark(rec, at_ms, "pin", data, &err) != 0) {
    LC_WARN(lc_recording_room(rec), NULL, "recording: chapter mark for %s not kept: %s", id, err);
    g_free(err);
  }
  (void)a;
}

/* The room's recording, started at the first segment (wall_ms: its first frame), seeded with the
 * product on screen at that moment. NULL when it cannot start (logged, kept for status). */
static lc_recording *
recording_for(lc_app_record *a, room_rec *rr, const char *room, int64_t wall_ms)
{
  if (rr->rec)
    return rr->rec;
  char *err = NULL;
  rr->rec = lc_record_start(a->store, room, wall_ms, &err);
  if (!rr->rec) {
    room_failed(rr, room, err ? err : "cannot start");
    g_free(err);
    return NULL;
  }
  g_clear_pointer(&rr->failure, g_free);
  rr->discontinuity = false;
  LC_INFO(room, NULL, "recording %s started", lc_recording_id(rr->rec));
  json_t *pinned = a->hooks.pinned ? a->hooks.pinned(room, a->hooks.user) : NULL;
  if (pinned)
    mark_pin(a, rr->rec, pinned, wall_ms);
  json_decref(pinned);
  return rr->rec;
}

void
lc_app_record_segment(const char *room, const lc_ladder_segment *seg, gpointer user)
{
  lc_app_record *a = user;
  if (!a->store || !seg->top || !room_wants_recording(a, room))
    return;
  room_rec *rr = g_hash_table_lookup(a->active, room);
  if (!rr) {
    rr = g_new0(room_rec, 1);
    g_hash_table_insert(a->active, g_strdup(room), rr);
  }
  int64_t wall_ms = seg->wall_start_us / 1000;
  lc_recording *rec = recording_for(a, rr, room, wall_ms);
  if (!rec) {
    update_metrics(a);
    return;
  }
  /* A rebuilt ladder (publisher back within grace) numbers its segments from 0 again. */
  bool disc = rr->discontinuity || seg->index == 0;
  char *err = NULL;
  int rc = lc_recording_add_segment(rec, seg->path, seg->duration_s, wall_ms, disc, &err);
  if (rc == 0) {
    rr->discontinuity = false;
    g_clear_pointer(&rr->failure, g_free);
  } else if (rc != LC_ESTATE) { /* stopped: said once when it stopped */
    room_failed(rr, room, err ? err : lc_errcode(rc));
  }
  g_free(err);
  update_metrics(a);
}

void
lc_app_record_publish_lost(lc_app_record *a, const char *room)
{
  if (!a)
    return;
  room_rec *rr = g_hash_table_lookup(a->active, room);
  if (rr)
    rr->discontinuity = true;
}

void
lc_app_record_publish_end(lc_app_record *a, const char *room)
{
  if (!a)
    return;
  room_rec *rr = g_hash_table_lookup(a->active, room);
  if (!rr)
    return;
  if (rr->rec) {
    char *id = g_strdup(lc_recording_id(rr->rec));
    if (lc_recording_finish(rr->rec, g_get_real_time() / 1000) == 0)
      LC_INFO(room, NULL, "recording %s finished", id);
    g_free(id);
  }
  g_hash_table_remove(a->active, room);
  update_metrics(a);
}

void
lc_app_record_pinned(lc_app_record *a, const char *room, const json_t *product, int64_t pinned_at)
{
  if (!a)
    return;
  room_rec *rr = g_hash_table_lookup(a->active, room);
  if (rr && rr->rec)
    mark_pin(a, rr->rec, product, pinned_at > 0 ? pinned_at : g_get_real_time() / 1000);
}

/* ---- replay ---- */

static json_t *
not_found(int *status, const char *message)
{
  *status = 404;
  return json_pack("{s:{s:s, s:s}}", "error", "code", "not_found", "message", message);
}

/* The chapters of a recording (its summary): one per pin mark (a product pinned again right after itself is
 * one chapter), at its media time, with the product as the catalog has it now. */
static json_t *
chapters_of(lc_app_record *a, const char *room, const json_t *meta)
{
  json_t *out = json_array();
  const char *last = NULL;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(meta, "marks"), i, m)
  {
    if (g_strcmp0(json_string_value(json_object_get(m, "kind")), "pin") != 0)
      continue;
    json_t *data = json_object_get(m, "data");
    const char *pid = json_string_value(json_object_get(data, "product_id"));
    if (!pid || (last && strcmp(last, pid) == 0))
      continue;
    last = pid;
    double t = json_real_value(json_object_get(m, "media_s")); /* the store mapped wall -> media */
    json_t *c = json_pack("{s:f, s:s}", "t", t, "product_id", pid);
    json_t *p = a->hooks.product ? a->hooks.product(room, pid, a->hooks.user) : NULL;
    if (p)
      json_object_update(c, p);
    else /* gone from the catalog: shown, not buyable */
      json_object_set(c, "title", json_object_get(data, "title"));
    json_decref(p);
    json_array_append_new(out, c);
  }
  return out;
}

json_t *
lc_app_record_replay(lc_app_record *a, const char *room, int *status)
{
  if (!a->store)
    return not_found(status, "recording is off on this server (record.enabled, hls.enabled)");
  json_t *meta = lc_record_store_summary(a->store, room, NULL);
  if (!meta)
    return not_found(status, "this room has no finished recording");
  const char *id = json_string_value(json_object_get(meta, "id"));
  char *playlist = g_strdup_printf("/rec/%s/%s/index.m3u8", room, id);
  json_t *rec = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "id", id, "playlist", playlist, "duration_s",
                          json_object_get(meta, "duration_s"), "started_ms", json_object_get(meta, "started_ms"),
                          "ended_ms", json_object_get(meta, "ended_ms"), "state", json_object_get(meta, "state"));
  g_free(playlist);
  json_t *body = json_pack("{s:s, s:o, s:o}", "room", room, "recording", rec, "chapters", chapters_of(a, room, meta));
  json_decref(meta);
  *status = 200;
  return body;
}

const char *
lc_app_record_root(lc_app_record *a)
{
  return a->store ? a->root : "";
}

/* ---- control ---- */

static void
cmd_list(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_record *a = user;
  const char *room = json_string_value(json_object_get(args, "room"));
  if (json_object_get(args, "room") && !room) {
    lc_ctl_req_fail(req, "invalid_argument", "room must be a string");
    return;
  }
  json_t *list = a->store ? lc_record_store_list(a->store, room) : json_array();
  lc_ctl_req_reply(req, json_pack("{s:o}", "recordings", list));
}

static void
cmd_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  (void)args;
  lc_app_record *a = user;
  json_t *o = json_pack("{s:b, s:b, s:s, s:i}", "enabled", a->store != NULL, "default_on", a->enabled, "path",
                        a->root, "retention_days", a->retention_days);
  if (a->store) {
    lc_record_stats st;
    lc_record_store_stats(a->store, &st);
    json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
    json_object_set_new(o, "recordings", json_integer(st.recordings));
    json_object_set_new(o, "in_progress", json_integer(st.in_progress));
    json_object_set_new(o, "segments_written", json_integer((json_int_t)st.segments_written));
    json_object_set_new(o, "write_errors", json_integer((json_int_t)st.write_errors));
    json_object_set_new(o, "last_error", st.last_error ? json_string(st.last_error) : json_null());
  }
  json_t *rooms = json_object();
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, a->active);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    room_rec *rr = v;
    json_object_set_new(rooms, k,
                        json_pack("{s:o, s:o}", "recording", rr->rec ? json_string(lc_recording_id(rr->rec)) : json_null(),
                                  "error", rr->failure ? json_string(rr->failure) : json_null()));
  }
  json_object_set_new(o, "rooms", rooms);
  lc_ctl_req_reply(req, o);
}

static void
cmd_delete(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_record *a = user;
  const char *room = json_string_value(json_object_get(args, "room"));
  const char *id = json_string_value(json_object_get(args, "id"));
  if (!a->store) {
    lc_ctl_req_fail(req, "invalid_state", "recording is off on this server");
    return;
  }
  if (!room || !id) {
    lc_ctl_req_fail(req, "invalid_argument", "room and id are required");
    return;
  }
  char *err = NULL;
  int rc = lc_record_store_delete(a->store, room, id, &err);
  if (rc != 0) {
    lc_ctl_req_fail(req, lc_errcode(rc), "%s", err ? err : "cannot delete");
    g_free(err);
    return;
  }
  LC_INFO(room, NULL, "recording %s deleted (control)", id);
  update_metrics(a);
  lc_ctl_req_reply(req, json_pack("{s:s, s:s}", "deleted", id, "room", room));
}

void
lc_app_record_register(lc_app_record *a, lc_control *ctl)
{
  lc_control_register(ctl, "record.list", "{room?}: recordings on disk, newest first", cmd_list, a);
  lc_control_register(ctl, "record.status", "recording: disk use, errors, rooms being recorded", cmd_status, a);
  lc_control_register(ctl, "record.delete", "{room, id}: delete a finished recording", cmd_delete, a);
}

/* ---- lifecycle ---- */

static gboolean
sweep(gpointer user)
{
  lc_app_record *a = user;
  int n = lc_record_store_sweep(a->store, a->retention_days, g_get_real_time() / 1000);
  if (n > 0 && a->m_deleted)
    lc_metric_add(a->m_deleted, n);
  update_metrics(a);
  return G_SOURCE_CONTINUE;
}

lc_app_record *
lc_app_record_new(const lc_config *cfg, lc_rooms *rooms, lc_metrics *metrics, const lc_app_record_hooks *hooks)
{
  lc_app_record *a = g_new0(lc_app_record, 1);
  a->rooms = rooms;
  a->hooks = *hooks;
  a->enabled = lc_config_bool(cfg, "record", "enabled");
  a->root = g_strdup(lc_config_string(cfg, "record", "path"));
  a->retention_days = (int)lc_config_int(cfg, "record", "retention_days");
  a->active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)room_rec_free);
  if (metrics) {
    a->m_segments = lc_metrics_counter(metrics, "livecart_record_segments_total", NULL, "Segments kept in recordings");
    a->m_errors = lc_metrics_counter(metrics, "livecart_record_write_errors_total", NULL,
                                     "Recording writes that failed (disk full, unwritable path, quota)");
    a->m_deleted = lc_metrics_counter(metrics, "livecart_record_deleted_total", NULL,
                                      "Recordings deleted by the retention sweep");
    a->m_bytes = lc_metrics_gauge(metrics, "livecart_record_disk_bytes", NULL, "Disk used by recordings");
    a->m_recordings = lc_metrics_gauge(metrics, "livecart_record_recordings", NULL, "Recordings on disk");
  }
  if (!lc_config_bool(cfg, "hls", "enabled")) {
    if (a->enabled)
      LC_WARN(NULL, NULL, "record.enabled needs hls.enabled (recordings keep the HLS writer's segments): no recordings");
    return a;
  }
  lc_record_config rc = {.root = a->root,
                         .max_bytes = (uint64_t)lc_config_int(cfg, "record", "max_disk_mb") * 1024 * 1024};
  a->store = lc_record_store_open(&rc);
  if (a->retention_days > 0) {
    sweep(a);
    a->sweep_timer = g_timeout_add_seconds(SWEEP_INTERVAL_S, sweep, a);
  }
  update_metrics(a);
  return a;
}

void
lc_app_record_free(lc_app_record *a)
{
  if (!a)
    return;
  if (a->sweep_timer)
    g_source_remove(a->sweep_timer);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, a->active);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    room_rec *rr = v;
    if (rr->rec)
      lc_recording_finish(rr->rec, g_get_real_time() / 1000);
    rr->rec = NULL;
  }
  g_hash_table_destroy(a->active);
  lc_record_store_free(a->store);
  g_free(a->root);
  g_free(a);
}

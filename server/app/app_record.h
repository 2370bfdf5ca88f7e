/* Recordings wired into livecartd: [record] config -> lc_record_store (pipelines/record), the
 * ladder's finished HLS segments of each room's top rung -> its recording, the publish session
 * (a recording per session: a reconnect within grace continues it with a discontinuity, the end
 * makes it VOD), the show's pins -> chapter marks, the replay JSON of /api/rooms/{id}/replay,
 * record.list / record.status / record.delete on the control socket, metrics, and the hourly
 * retention sweep. Media and commerce meet here, never below. Main thread only. */
#pragma once
#include "base/config.h"
#include "base/metrics.h"
#include "control/control.h"
#include "ladder/ladder.h"
#include "rooms/rooms.h"

#include <jansson.h>

typedef struct lc_app_record lc_app_record;

/* What the recorder asks the show (app.c answers from the room's lc_show). Main thread. */
typedef struct {
  /* The room's pinned product now ({"id","title",...} as in product.pinned), transfer full, or NULL. */
  json_t *(*pinned)(const char *room, gpointer user);
  /* A product of the room's catalog now, as the replay shows it: {"title","price","currency",
   * "image"?,"sku"} (price: its first SKU's regular price), transfer full, or NULL. */
  json_t *(*product)(const char *room, const char *product_id, gpointer user);
  gpointer user;
} lc_app_record_hooks;

/* Opens the store at record.path (an unusable path is logged and shown in record.status: the
 * live show runs without recordings). Never NULL. hooks copied. */
lc_app_record *lc_app_record_new(const lc_config *cfg, lc_rooms *rooms, lc_metrics *metrics,
                                 const lc_app_record_hooks *hooks);
/* Finishes the recordings in progress (VOD), frees. NULL is fine. */
void lc_app_record_free(lc_app_record *a);

/* The ladder's on_segment (lc_ladder_config; user = the lc_app_record). */
void lc_app_record_segment(const char *room, const lc_ladder_segment *seg, gpointer user);
/* The room's publisher: "lost" / "resumed" -> the next segment starts a discontinuity; "end" ->
 * the recording is finished (VOD). */
void lc_app_record_publish_lost(lc_app_record *a, const char *room);
void lc_app_record_publish_end(lc_app_record *a, const char *room);
/* A product was pinned at pinned_at (ms): a chapter mark in the room's recording. product
 * borrowed ({"id","title",...}). */
void lc_app_record_pinned(lc_app_record *a, const char *room, const json_t *product, int64_t pinned_at);

/* The body of GET /api/rooms/{room}/replay (transfer full) and *status: 200 {"room",
 * "recording":{...},"chapters":[...]} for the room's newest finished recording, 404 {"error"}
 * without one. */
json_t *lc_app_record_replay(lc_app_record *a, const char *room, int *status);
/* The recordings folder (for the /rec/ route), "" when recording is off. */
const char *lc_app_record_root(lc_app_record *a);

void lc_app_record_register(lc_app_record *a, lc_control *ctl);

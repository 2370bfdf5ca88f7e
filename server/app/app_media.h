/* The media side of livecartd, wired: the room media hub, ingest (RTMP/SRT -> ladder), the
 * WebRTC core (WHEP/WHIP), test taps, media control commands and metrics. app.c owns one.
 * Main thread only. */
#pragma once
#include "ladder/ladder.h"
#include "base/config.h"
#include "control/control.h"
#include "signaling/http.h"
#include "base/metrics.h"
#include "overlays/overlay.h"
#include "rooms/rooms.h"

#include <jansson.h>

typedef struct lc_app_media lc_app_media;

/* A room's media events; `event` carries the same as a name for the control socket. */
typedef enum {
  LC_MEDIA_EV_PUBLISH_START,   /* "publish.start" */
  LC_MEDIA_EV_PUBLISH_RESUMED, /* "publish.resumed": back within the grace period, or a takeover */
  LC_MEDIA_EV_PUBLISH_LOST,    /* "publish.lost": the grace period runs */
  LC_MEDIA_EV_PUBLISH_END,     /* "publish.end" */
  LC_MEDIA_EV_OTHER            /* a name ingest added later: passed on to watchers only */
} lc_app_media_event_kind;

/* Tells the owner about a room's media state (data borrowed). */
typedef void (*lc_app_media_event_fn)(const char *room, lc_app_media_event_kind kind, const char *event,
                                      const json_t *data, gpointer user);

/* The overlay a room's ladder composites (borrowed; the ladder takes its own reference), or NULL. */
typedef lc_overlay *(*lc_app_media_overlay_fn)(const char *room, gpointer user);

/* Binds the RTMP/SRT/WebRTC ports from cfg. overlay_for (may be NULL) gives each new ladder its
 * room's overlay. NULL + *err_msg when one cannot be opened. */
lc_app_media *lc_app_media_new(const lc_config *cfg, lc_rooms *rooms, lc_metrics *metrics,
                               lc_app_media_event_fn on_event, gpointer user, lc_app_media_overlay_fn overlay_for,
                               gpointer overlay_user, lc_ladder_segment_fn on_segment, gpointer segment_user,
                               char **err_msg);
/* Stops publishers and viewers, frees everything. NULL is fine. */
void lc_app_media_free(lc_app_media *m);
/* The WHEP/WHIP hooks for lc_http_options.rtc / rtc_user (NULL when WebRTC is disabled). */
const lc_http_rtc_ops *lc_app_media_http_ops(lc_app_media *m);
/* Registers media.status, media.tap, media.untap, media.keyframe on the control socket. */
void lc_app_media_register(lc_app_media *m, lc_control *ctl);
/* A room has ended: its publisher is disconnected and its media closed. */
void lc_app_media_room_ended(lc_app_media *m, const char *room);
/* Media fields for status / healthz (transfer full). */
json_t *lc_app_media_status(lc_app_media *m);
/* The names of the room's video rungs a viewer can pin now (["source","720p",...]: "source"
 * first, then the ladder's rungs highest first), live or held for a reconnecting publisher;
 * [] when the room has no media (transfer full). */
json_t *lc_app_media_rung_names(lc_app_media *m, const char *room);

/* The overlays of livecartd's rooms, wired: one lc_overlay per room (overlays/overlay.h),
 * configured from [overlays] and the room's "overlays" object, fed from the room's show events
 * (pinned product -> card, flash sale -> banner with countdown and stock, coupon drop -> banner,
 * acknowledged orders -> buyer ticker, gifts -> gift burst, group.* -> group-buy progress),
 * driven by moderators through overlay.* commands, and handed to the ladder
 * (lc_app_overlays_for) so every transcoded rung carries the scene.
 * Scene changes go to control watchers as "overlay.changed".
 *
 * Scene content is derived, not stored: after a restart a room's overlay is seeded from its show
 * snapshot (pinned product, live flash sale, group deals and their open teams, the last 3 s of
 * gift combos); moderator changes (show/hide/place/text) last until the room's overlay is dropped
 * (room ended, restart). Main thread only, except that the ladder
 * renders the overlays on its own thread (overlays/overlay.h). */
#pragma once
#include "base/config.h"
#include "commerce/show.h"
#include "commerce/wordfilter.h"
#include "control/control.h"
#include "overlays/overlay.h"
#include "rooms/rooms.h"

#include <jansson.h>

typedef struct lc_app_overlays lc_app_overlays;

/* What the overlays need from the rest of the app (all main thread):
 * show_for: the room's show (NULL: none), for the snapshot a new overlay is seeded from;
 * user_name: a connected viewer's display name (NULL: unknown), for the buyer ticker. */
typedef struct {
  lc_show *(*show_for)(const char *room, gpointer user);
  const char *(*user_name)(const char *room, const char *user_id, gpointer user);
  gpointer user;
} lc_app_overlays_hooks;

/* NULL + *err_msg for a bad [overlays] section (e.g. an unknown lang). rooms and the word
 * filter are borrowed (must outlive it). Registers the room "overlays" check with rooms. */
lc_app_overlays *lc_app_overlays_new(const lc_config *cfg, lc_rooms *rooms, const lc_wordfilter *ad_filter,
                                     const lc_app_overlays_hooks *hooks, char **err_msg);
void lc_app_overlays_free(lc_app_overlays *ov); /* NULL is fine */
/* The room's overlay, created (configured, seeded) on first use; borrowed. NULL when overlays
 * are disabled or there is no such room. The signature of lc_ladder_config.overlay_for. */
lc_overlay *lc_app_overlays_for(const char *room, gpointer ov);
/* A show event of the room (public broadcast). Ignored for rooms without an overlay yet. The
 * marketing events (gifts, group.opened, group.team, group.closed) are recognised by their wire
 * names (lc_show_event_name). */
void lc_app_overlays_show_event(lc_app_overlays *ov, const char *room, lc_show_event_kind kind, const json_t *data);
/* A private event to one viewer: acknowledged orders feed the buyer ticker. */
void lc_app_overlays_private_event(lc_app_overlays *ov, const char *room, const char *user_id,
                                   lc_show_event_kind kind, const json_t *data);
/* The room ended: its overlay is dropped (a running ladder keeps its reference until freed). */
void lc_app_overlays_room_ended(lc_app_overlays *ov, const char *room);
/* Registers overlay.status, overlay.show, overlay.hide, overlay.place, overlay.text,
 * overlay.logo, overlay.configure; "overlay.changed" events go to ctl's watchers from then on (borrowed). */
void lc_app_overlays_register(lc_app_overlays *ov, lc_control *ctl);

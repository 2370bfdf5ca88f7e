/* The relay wired into livecartd: [relay] config -> lc_relay, the WHEP wait of an edge (a viewer's
 * offer waits until the room's media came from upstream), relay.status / relay.reset, metrics.
 * app_media owns one (it owns the hub). Main thread only. */
#pragma once
#include "base/config.h"
#include "base/metrics.h"
#include "control/control.h"
#include "media/hub.h"
#include "signaling/http.h"

#include <jansson.h>

typedef struct lc_app_relay lc_app_relay;

/* NULL without error when neither relay.serve nor relay.origin is set; NULL + *err when the
 * [relay] config is invalid or the listener cannot be bound. */
lc_app_relay *lc_app_relay_new(const lc_config *cfg, lc_media_hub *hub, lc_metrics *metrics, char **err);
void lc_app_relay_free(lc_app_relay *a); /* NULL is fine */
/* The WHEP prepare hook's answer for room: 0 when the room's video is here (or this node pulls
 * nothing), LC_EAGAIN when the offer waits (wait kept: lc_http_wait_done is called later). */
int lc_app_relay_prepare(lc_app_relay *a, const char *room, lc_http_wait *wait);
/* True while this node pulls the room (its offers are served without a local room record). */
bool lc_app_relay_pulling(lc_app_relay *a, const char *room);
/* Why the room's last pull failed (borrowed, valid until the next call), or NULL. */
const char *lc_app_relay_failure(lc_app_relay *a, const char *room);
/* The "relay" object of media.status (transfer full). */
json_t *lc_app_relay_status(lc_app_relay *a);
/* relay.status and relay.reset on the control socket (a NULL a: they say the relay is off). */
void lc_app_relay_register(lc_app_relay *a, lc_control *ctl);

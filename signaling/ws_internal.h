/* Shared-internal entry points of the websocket transport (ws.c) for the lws glue
 * (lws_glue.c), which owns the vhost and dispatches lws callbacks. Not a public API.
 * Main thread only. */
#pragma once
#include "signaling/ws.h"

#include <stddef.h>

struct lws;
struct lws_protocols;

/* The websocket subprotocol name; the vhost also makes it the default protocol so
 * that clients naming no subprotocol reach it. */
#define LC__WS_PROTOCOL "livecart.v1"
/* The only path that accepts a websocket upgrade. */
#define LC__WS_PATH "/ws"

/* Fills the lws protocol entry for LC__WS_PROTOCOL (its user pointer is ws) except its
 * callback, which is the glue's (it calls lc__ws_callback). ctx is the main context lws
 * runs in (ws.c reads established websockets from a source of its own there); ws keeps a
 * reference until lc_ws_free. */
void lc__ws_protocol(lc_ws *ws, struct lws_protocols *out, GMainContext *ctx);
/* The callbacks of a connection bound to LC__WS_PROTOCOL (reason: enum
 * lws_callback_reasons; pss: the per-session data sized by lc__ws_protocol). */
int lc__ws_callback(lc_ws *ws, struct lws *wsi, int reason, void *pss, void *in, size_t len);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE for any protocol the wsi is bound to: 0 accepts
 * the upgrade, 1 means a JSON refusal (404, 400 or 503) was written. */
int lc__ws_confirm_upgrade(lc_ws *ws, struct lws *wsi);
/* After the lws context is gone: runs `close` for any connection lws did not report
 * closed and forgets it. */
void lc__ws_detach(lc_ws *ws);

/* Shared-internal glue between http.c (the vhost) and ws.c (the show channel
 * transport). Not a public API. Main thread only. */
#pragma once
#include "signaling/ws.h"

struct lws;
struct lws_protocols;

/* The websocket subprotocol name; the vhost also makes it the default protocol so
 * that clients naming no subprotocol reach it. */
#define LC__WS_PROTOCOL "livecart.v1"
/* The only path that accepts a websocket upgrade. */
#define LC__WS_PATH "/ws"

/* Fills the lws protocol entry for LC__WS_PROTOCOL (its user pointer is ws). ctx is
 * the main context lws runs in (ws.c reads established websockets from a source of its
 * own there); ws keeps a reference until lc_ws_free. */
void lc__ws_protocol(lc_ws *ws, struct lws_protocols *out, GMainContext *ctx);
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE for any protocol the wsi is bound to: 0 accepts
 * the upgrade, 1 means a JSON refusal (404, 400 or 503) was written. */
int lc__ws_confirm_upgrade(lc_ws *ws, struct lws *wsi);
/* After the lws context is gone: runs `close` for any connection lws did not report
 * closed and forgets it. */
void lc__ws_detach(lc_ws *ws);

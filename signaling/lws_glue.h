/* The libwebsockets glue under the HTTP server (http.c) and the show channel's websocket
 * transport (ws.c), shared-internal (not a public API).
 *
 * lws_glue.c owns the lws context (on the GLib main loop) and the vhost with its protocol
 * table: "lc-http" for plain HTTP and, when a websocket service is given, "livecart.v1" on
 * the same port. One callback receives every lws callback and dispatches it: the upgrade
 * check (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, whichever protocol the connection is bound to)
 * and the websocket protocol's callbacks go to ws.c, everything else to the HTTP handler.
 * http.c and ws.c include this header only, never each other's: the glue is the one file
 * that knows both. Main thread only. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

struct lws;
typedef struct lc__lws lc__lws;
typedef struct lc_ws lc_ws;

/* An lws callback forwarded by the glue: reason is an enum lws_callback_reasons, pss the
 * connection's per-session data (zeroed by lws; NULL when the callback has no connection),
 * user the handler's pointer. Returns what lws expects (0, or -1 to close). */
typedef int (*lc__lws_handler)(struct lws *wsi, int reason, void *pss, void *in, size_t len, gpointer user);

typedef struct {
  const char *bind;      /* numeric IPv4 or IPv6 address */
  int port;              /* 0: any free port (lc__lws_port tells which) */
  size_t max_header;     /* lws' request header buffer in bytes (capped at 65535) */
  GMainLoop *loop;       /* lws runs in its context (ref held) */
  lc__lws_handler http;  /* every callback of plain HTTP connections */
  size_t http_pss;       /* bytes of per-session data for http */
  size_t http_tx_packet; /* largest single socket write of a plain HTTP connection (lws'
                          * tx_packet_size; 0: lws' default, its 4 KiB service buffer) */
  /* Counts an answer the glue wrote itself (a refused upgrade), by status. Optional. */
  void (*answered)(int status, gpointer user);
  gpointer user;         /* passed to http and answered; lc__lws_user returns it */
  lc_ws *ws;             /* the show channel at /ws (borrowed); NULL: upgrades answer 404 */
} lc__lws_options;

/* Creates the context and listens (lws 4.1 only logs a bind error, so the address is
 * probed first for a clear message). NULL with *err_msg (transfer full) on failure. */
lc__lws *lc__lws_new(const lc__lws_options *opts, char **err_msg);
/* Destroys the context (closing every connection: their close callbacks run during this
 * call), then runs `close` for any websocket lws did not report closed. NULL ok. */
void lc__lws_free(lc__lws *g);
/* The port the vhost listens on. */
int lc__lws_port(lc__lws *g);
/* Hands an accepted socket (transfer full) to lws as a new HTTP connection; false when
 * lws could not take it (it has closed it then). */
bool lc__lws_adopt(lc__lws *g, int fd);
/* Open websocket connections (0 without a websocket service). */
unsigned lc__lws_ws_connections(lc__lws *g);
/* opts.user of the context serving wsi. */
gpointer lc__lws_user(struct lws *wsi);

/* Marks the GLib source being dispatched (the libwebsockets source of the connection or
 * listen socket being served) as recursive. Why: before each dispatch GLib blocks a
 * non-recursive source by removing its fds from the context's list of poll records and
 * adds them back afterwards, and both walk that list, so with N connections every event
 * costs O(N) and a broadcast to N viewers O(N^2) (measured: 5000 viewers took 1.5 s). We
 * never run a nested main loop inside an lws callback, so recursion cannot happen and
 * nothing else changes. Sources of our own on connection sockets are made recursive when
 * created (g_source_set_can_recurse) for the same reason. */
void lc__lws_fast_dispatch(void);

/* Answers the current request right away with a JSON error {"error":{"code","message"}}
 * and closes (used while lws is in the middle of an upgrade, where the answer cannot wait
 * for a writeable callback). Counted through opts.answered. Returns 1 (lws then completes
 * the transaction) or -1 to close at once. */
int lc__lws_refuse_now(struct lws *wsi, int status, const char *code, const char *message);

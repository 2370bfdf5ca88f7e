/* Websocket transport for the show channel: connections at GET /ws (subprotocol
 * "livecart.v1") on the HTTP server's port, served by libwebsockets on the main loop.
 *
 * The transport knows framing, limits and queues, not the protocol: complete text
 * messages go up to the handlers; the session layer (session.c) sends lc_ws_msg
 * buffers, which are immutable and refcounted so that one broadcast is serialized
 * once and shared by every connection's queue.
 *
 * Limits per connection: messages larger than max_message are refused (the rest of
 * the message is discarded, the handler's `refused` is told); more than rate/s
 * (burst `burst`) messages are refused the same way, and a client that keeps sending
 * at several times the limit is closed with 4001. The send queue holds at most
 * max_queue messages; when it would overflow, the queue is emptied and `overflow`
 * runs so the session can resync the client with a snapshot.
 * Main thread only. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct lc_ws lc_ws;
typedef struct lc_ws_conn lc_ws_conn;
typedef struct lc_ws_msg lc_ws_msg;
typedef struct lc_metrics lc_metrics;

typedef enum {
  LC_WS_TOO_LARGE, /* message over max_message */
  LC_WS_RATE,      /* over the message rate */
  LC_WS_BINARY,    /* binary frames are not part of the protocol */
} lc_ws_refusal;

typedef struct {
  /* A connection completed its handshake. */
  void (*open)(lc_ws_conn *c, gpointer user);
  /* One complete text message (UTF-8 not yet validated), borrowed for the call. */
  void (*message)(lc_ws_conn *c, const char *data, size_t len, gpointer user);
  /* A message was refused by the transport's limits; the connection stays open. */
  void (*refused)(lc_ws_conn *c, lc_ws_refusal why, gpointer user);
  /* The send queue overflowed and was emptied. */
  void (*overflow)(lc_ws_conn *c, gpointer user);
  /* The connection is gone; c is invalid after this returns. */
  void (*close)(lc_ws_conn *c, gpointer user);
  gpointer user;
} lc_ws_handlers;

typedef struct {
  size_t max_message;    /* bytes */
  unsigned max_queue;    /* messages queued for sending per connection */
  unsigned rate;         /* messages per second per connection */
  unsigned burst;        /* bucket size */
  unsigned max_conns;    /* further handshakes are refused with 503 */
  lc_metrics *metrics;   /* optional: livecart_ws_connections, _messages_in/out_total, _dropped_total, _resyncs_total */
} lc_ws_options;

/* Creates the service; lc_http_new registers it on its vhost (http.h: opts.ws). */
lc_ws *lc_ws_new(const lc_ws_options *opts, const lc_ws_handlers *handlers);
/* Frees the service; call after lc_http_free (which closes every connection). */
void lc_ws_free(lc_ws *ws);
unsigned lc_ws_connections(lc_ws *ws);

/* A message: copies len bytes of text. refcount 1. Any thread. */
lc_ws_msg *lc_ws_msg_new(const char *text, size_t len);
/* Takes a g_malloc'd string (transfer full) without copying when possible. */
lc_ws_msg *lc_ws_msg_take(char *text, size_t len);
lc_ws_msg *lc_ws_msg_ref(lc_ws_msg *m);
void lc_ws_msg_unref(lc_ws_msg *m);

/* Queues m (takes its own reference; the caller keeps theirs). Returns false when
 * the queue was full: it has been emptied and `overflow` has run (synchronously,
 * before this returns). */
bool lc_ws_send(lc_ws_conn *c, lc_ws_msg *m);
/* Sends the queued messages, then a close frame with code (4000-4999, or 1001 when
 * the server is going away) and reason. */
void lc_ws_close(lc_ws_conn *c, int code, const char *reason);
/* Session data slot. */
void lc_ws_conn_set_data(lc_ws_conn *c, gpointer data);
gpointer lc_ws_conn_get_data(lc_ws_conn *c);
/* "ws-17": for log lines. */
const char *lc_ws_conn_id(lc_ws_conn *c);
/* Messages waiting in the queue. */
unsigned lc_ws_conn_queued(lc_ws_conn *c);

/* Websocket transport of the show channel (ws.h): the "livecart.v1" protocol on the
 * vhost of the lws glue (lws_glue.c, which dispatches this protocol's callbacks to
 * lc__ws_callback and every upgrade check to lc__ws_confirm_upgrade).
 *
 * lws does the handshake and all the writing; the reading is ours. lws 4.1 parses client
 * frames without telling the application about the mask bit or about pings (it accepts
 * unmasked frames, answers pings itself, so a ping flood passed every limit, and drops an
 * oversized control frame without a close frame). So once a connection is established we
 * switch lws' reading off (lws_rx_flow_control) and read the socket from a GLib source
 * of our own, parsing with ws_frame.c: protocol errors close with 1002 (1007 for a bad
 * close reason), pings and pongs take tokens from the same bucket as messages, and the
 * close handshake is ours too (we write the close frame and let lws close the socket).
 *
 * The hand-over: bytes that arrived in the same read as the handshake (a client that
 * does not wait for the 101, like our slow-reader test) are already in lws' buffer
 * (its buflist), which lws parses only at a later service; switching its reading off
 * at ESTABLISHED would strand them there for good (measured: the pipelined hello was
 * never answered). So the switch happens in a G_PRIORITY_HIGH idle source, which runs
 * at the next main-loop turn before any default-priority source (lws' sockets) can read
 * again: it first has lws drain that buffer (lws_service_fd without POLLIN: lws parses
 * buffered bytes but reads nothing new), then turns lws' reading off and starts ours,
 * exactly where lws stopped. Those early frames reach us through LWS_CALLBACK_RECEIVE
 * with lws' own checks; a message or frame cut by the hand-over closes with 1002.
 *
 * Per connection we keep one small lc_ws_conn (allocated by us, not in lws' per-session
 * data, so that lc__lws_free can still report connections lws forgot): an embedded
 * GQueue of shared lc_ws_msg buffers, a token bucket, the frame parser, the read source,
 * and an rx buffer that exists only while a message split over several pieces is being
 * assembled.
 * Main thread only, except lc_ws_msg_* (any thread). */
#define LC_LOG_DOMAIN "ws"
#include "signaling/ws_internal.h"
#include "signaling/lws_glue.h"
#include "base/log.h"
#include "base/metrics.h"
#include "signaling/ws_frame.h"

#include <errno.h>
#include <glib-unix.h>
#include <libwebsockets.h>
#include <string.h>
#include <sys/socket.h>

#define RX_BUFFER 2048     /* lws' per-connection receive buffer (lws reads only the handshake's read now) */
#define READ_CHUNK 16384   /* bytes read from a websocket per dispatch of its read source */
#define CLOSE_GRACE_S 5    /* a closing peer that does not read is dropped after this */
#define MAX_REASON 123     /* close frame payload is at most 125 bytes including the code */

struct lc_ws_msg {
  gint refs;
  size_t len;
  unsigned char *block; /* LWS_PRE bytes of headroom, then len bytes of text and a NUL */
};

struct lc_ws_conn {
  lc_ws *ws;
  struct lws *wsi;      /* NULL once lws has let go of it (detach) */
  GList link;           /* in ws->conns; data = this */
  GQueue queue;         /* lc_ws_msg*, each holding one reference */
  gpointer data;
  GByteArray *rxbuf;    /* only while a multi-piece message is being assembled */
  size_t msg_len;       /* bytes of the current message so far */
  double tokens;        /* rate limit bucket */
  double abuse;         /* rate-refused messages, leaking at `rate` per second */
  gint64 last_us;       /* last bucket update (monotonic) */
  char *close_reason;   /* set by begin_close */
  guint16 close_code;   /* 0: a close frame without a code (answering one that had none) */
  lc_ws_frames *frames; /* the client's frames */
  GSource *rx;          /* reads the socket (we hold a reference); NULL once stopped */
  GSource *handover;    /* pending take_over (we hold a reference) */
  guint8 pong[LC_WS_MAX_CONTROL]; /* payload of the pong owed to the latest ping */
  size_t pong_len;
  bool pong_pending;
  bool fast;            /* its GLib source dispatches in O(1): see lc__lws_fast_dispatch */
  bool in_handover;     /* take_over is running lws' service: conn_destroy must wait */
  bool destroy_pending; /* ... and lws closed the connection meanwhile */
  bool in_message;      /* between the first and the final piece of a message */
  bool discard;         /* the current message was refused: drop its remaining pieces */
  bool closing;         /* the close frame is to be sent (begin_close) */
  char id[24];          /* "ws-17" */
};

/* lws' per-session data for the protocol: just our pointer. */
typedef struct {
  lc_ws_conn *c;
} pss;

struct lc_ws {
  GMainContext *ctx;    /* where lws runs (ref held once lc__ws_protocol set it) */
  lc_ws_options opts;
  lc_ws_handlers handlers;
  GQueue conns;         /* of lc_ws_conn (links embedded) */
  guint64 next_id;
  lc_metric *m_connections, *m_in, *m_out, *m_dropped, *m_resyncs;
  lc_metric *m_refused[3];
  lc_metric *m_protocol_errors;
};

/* ---- messages ---- */

lc_ws_msg *
lc_ws_msg_new(const char *text, size_t len)
{
  lc_ws_msg *m = g_malloc(sizeof *m + LWS_PRE + len + 1);
  m->refs = 1;
  m->len = len;
  m->block = (unsigned char *)(m + 1);
  if (len)
    memcpy(m->block + LWS_PRE, text, len);
  m->block[LWS_PRE + len] = '\0';
  return m;
}

lc_ws_msg *
lc_ws_msg_take(char *text, size_t len)
{
  /* lws needs LWS_PRE writable bytes before the payload: grow the caller's block in
   * place (realloc often extends without moving) and slide the text up, so a large
   * snapshot never exists twice. */
  lc_ws_msg *m = g_new(lc_ws_msg, 1);
  m->refs = 1;
  m->len = len;
  m->block = g_realloc(text, LWS_PRE + len + 1);
  memmove(m->block + LWS_PRE, m->block, len);
  m->block[LWS_PRE + len] = '\0';
  return m;
}

lc_ws_msg *
lc_ws_msg_ref(lc_ws_msg *m)
{
  g_atomic_int_inc(&m->refs);
  return m;
}

void
lc_ws_msg_unref(lc_ws_msg *m)
{
  if (!m || !g_atomic_int_dec_and_test(&m->refs))
    return;
  if (m->block != (unsigned char *)(m + 1))
    g_free(m->block);
  g_free(m);
}

/* ---- service ---- */

lc_ws *
lc_ws_new(const lc_ws_options *opts, const lc_ws_handlers *handlers)
{
  lc_ws *ws = g_new0(lc_ws, 1);
  ws->opts = *opts;
  ws->handlers = *handlers;
  if (ws->opts.max_message == 0)
    ws->opts.max_message = 8192;
  if (ws->opts.max_queue == 0)
    ws->opts.max_queue = 1;
  if (ws->opts.rate == 0)
    ws->opts.rate = 1;
  if (ws->opts.burst == 0)
    ws->opts.burst = 1;
  g_queue_init(&ws->conns);
  lc_metrics *mx = opts->metrics;
  if (mx) {
    ws->m_connections = lc_metrics_gauge(mx, "livecart_ws_connections", NULL, "Open show-channel websockets");
    ws->m_in = lc_metrics_counter(mx, "livecart_ws_messages_in_total", NULL,
                                  "Websocket messages received and passed to the protocol");
    ws->m_out = lc_metrics_counter(mx, "livecart_ws_messages_out_total", NULL, "Websocket messages sent");
    ws->m_dropped = lc_metrics_counter(mx, "livecart_ws_dropped_total", NULL,
                                       "Outgoing websocket messages dropped by a full send queue");
    ws->m_resyncs = lc_metrics_counter(mx, "livecart_ws_resyncs_total", NULL,
                                       "Send queue overflows (the client is resynchronised)");
    static const char *const why[] = {"reason=\"too_large\"", "reason=\"rate\"", "reason=\"binary\""};
    for (int i = 0; i < 3; i++)
      ws->m_refused[i] = lc_metrics_counter(mx, "livecart_ws_refused_total", why[i],
                                            "Incoming websocket messages refused by the transport limits");
    ws->m_protocol_errors = lc_metrics_counter(mx, "livecart_ws_protocol_errors_total", NULL,
                                               "Websockets closed with 1002/1007 for breaking RFC 6455 framing");
  }
  return ws;
}

static void
count(lc_metric *m, gint64 n)
{
  if (m)
    lc_metric_add(m, n);
}

static void
queue_clear(lc_ws_conn *c)
{
  lc_ws_msg *m;
  while ((m = g_queue_pop_head(&c->queue)))
    lc_ws_msg_unref(m);
}

static void
stop_reading(lc_ws_conn *c)
{
  if (c->handover) {
    g_source_destroy(c->handover);
    g_source_unref(c->handover);
    c->handover = NULL;
  }
  if (!c->rx)
    return;
  g_source_destroy(c->rx);
  g_source_unref(c->rx);
  c->rx = NULL;
}

/* Runs `close` and frees c (lws is done with it, or gone). */
static void
conn_destroy(lc_ws_conn *c)
{
  lc_ws *ws = c->ws;
  if (c->in_handover) {
    c->destroy_pending = true; /* take_over finishes it */
    return;
  }
  stop_reading(c);
  g_queue_unlink(&ws->conns, &c->link);
  if (ws->m_connections)
    lc_metric_set(ws->m_connections, ws->conns.length);
  LC_DEBUG(NULL, c->id, "closed (%u queued messages dropped)", c->queue.length);
  if (ws->handlers.close)
    ws->handlers.close(c, ws->handlers.user);
  queue_clear(c);
  if (c->rxbuf)
    g_byte_array_unref(c->rxbuf);
  lc_ws_frames_free(c->frames);
  g_free(c->close_reason);
  g_free(c);
}

void
lc__ws_detach(lc_ws *ws)
{
  if (!ws)
    return;
  if (ws->conns.length)
    LC_WARN(NULL, NULL, "%u websocket connections were not reported closed by libwebsockets",
            ws->conns.length);
  while (ws->conns.head)
    conn_destroy(ws->conns.head->data);
}

void
lc_ws_free(lc_ws *ws)
{
  if (!ws)
    return;
  lc__ws_detach(ws);
  if (ws->m_connections)
    lc_metric_set(ws->m_connections, 0);
  if (ws->ctx)
    g_main_context_unref(ws->ctx);
  g_free(ws);
}

unsigned
lc_ws_connections(lc_ws *ws)
{
  return ws ? ws->conns.length : 0;
}

/* ---- sending ---- */

static int write_one(lc_ws_conn *c, lc_ws_msg *m);

bool
lc_ws_send(lc_ws_conn *c, lc_ws_msg *m)
{
  lc_ws *ws = c->ws;
  if (c->closing || !c->wsi)
    return true; /* nothing more goes out after the close was asked for */
  if (c->queue.length >= ws->opts.max_queue) {
    unsigned dropped = c->queue.length + 1;
    queue_clear(c);
    count(ws->m_dropped, dropped);
    count(ws->m_resyncs, 1);
    LC_DEBUG(NULL, c->id, "send queue full: %u messages dropped", dropped);
    if (ws->handlers.overflow)
      ws->handlers.overflow(c, ws->handlers.user);
    return false;
  }
  /* Fast path: nothing queued and nothing left over in lws from an earlier partial
   * write -> write now instead of asking for a writeable callback. That saves a
   * main-loop turn (a poll over every connection) and a dispatch per viewer and
   * message, which is most of a broadcast's cost. If the kernel takes only part of
   * the frame, lws keeps the rest and finishes it before our next WRITEABLE, so the
   * byte order stays right; that is why this is done only when lws holds nothing. */
  if (c->queue.length == 0 && !lws_partial_buffered(c->wsi)) {
    if (write_one(c, m) != 0)
      lc_ws_close(c, 4000, "write failed");
    return true;
  }
  g_queue_push_tail(&c->queue, lc_ws_msg_ref(m));
  if (c->queue.length == 1)
    lws_callback_on_writable(c->wsi);
  return true;
}

/* Starts the close: the queued messages go out first (unless `now`: dropped, with the
 * owed pong), then a close frame with code (0: none) and reason, then lws closes the
 * socket. */
static void
begin_close(lc_ws_conn *c, int code, const char *reason, bool now)
{
  if (!c->wsi)
    return;
  if (now) {
    queue_clear(c);
    c->pong_pending = false;
  }
  if (c->closing) {
    if (now)
      lws_callback_on_writable(c->wsi);
    return;
  }
  c->closing = true;
  c->close_code = (guint16)code;
  reason = reason ? reason : "";
  size_t n = strlen(reason);
  if (n > MAX_REASON) {
    /* cut on a UTF-8 character boundary */
    n = MAX_REASON;
    while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
      n--;
  }
  c->close_reason = g_strndup(reason, n);
  /* A peer that stops reading must not keep the connection (and its queue) forever. */
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
  lws_callback_on_writable(c->wsi);
}

void
lc_ws_close(lc_ws_conn *c, int code, const char *reason)
{
  if (c->closing || !c->wsi)
    return;
  begin_close(c, (code >= 4000 && code <= 4999) || code == 1001 ? code : 4000, reason, false);
}

/* Writes the close frame. Returns -1: lws closes the socket next (shutdown, then close
 * when the peer's end comes or after the timeout). Not lws_close_reason: with it lws
 * waits for the peer's close frame, which it can no longer read. The frame is built
 * here and written raw (lws 4.1 keeps its close opcode private); a server frame is
 * unmasked, and 2 + MAX_REASON <= 125 fits the 7-bit length. */
static int
write_close(lc_ws_conn *c)
{
  unsigned char buf[LWS_PRE + 2 + 2 + MAX_REASON];
  unsigned char *f = buf + LWS_PRE;
  size_t n = 0;
  if (c->close_code) {
    f[2] = (unsigned char)(c->close_code >> 8);
    f[3] = (unsigned char)c->close_code;
    size_t rl = strlen(c->close_reason);
    memcpy(f + 4, c->close_reason, rl);
    n = 2 + rl;
  }
  f[0] = 0x88; /* FIN, opcode close */
  f[1] = (unsigned char)n;
  if (lws_write(c->wsi, f, 2 + n, LWS_WRITE_RAW) < (int)(2 + n))
    LC_DEBUG(NULL, c->id, "close frame not written");
  return -1;
}

/* Writes one message (the caller keeps its reference). 0 or -1 on failure. */
static int
write_one(lc_ws_conn *c, lc_ws_msg *m)
{
  /* lws_write puts the frame header into the LWS_PRE bytes before the payload:
   * see on_writeable for why sharing one buffer between connections is safe. */
  int n = lws_write(c->wsi, m->block + LWS_PRE, m->len, LWS_WRITE_TEXT);
  if (n < 0 || (size_t)n < m->len) {
    LC_DEBUG(NULL, c->id, "write failed");
    return -1;
  }
  count(c->ws->m_out, 1);
  return 0;
}

/* One frame per writeable callback: the owed pong, then the queued messages, then the
 * close frame once the queue is empty. Returns -1 to close the connection. */
static int
on_writeable(lc_ws_conn *c)
{
  if (c->pong_pending) {
    unsigned char buf[LWS_PRE + LC_WS_MAX_CONTROL];
    memcpy(buf + LWS_PRE, c->pong, c->pong_len);
    c->pong_pending = false;
    if (lws_write(c->wsi, buf + LWS_PRE, c->pong_len, LWS_WRITE_PONG) < (int)c->pong_len)
      return -1;
    if (c->queue.length || c->closing)
      lws_callback_on_writable(c->wsi);
    return 0;
  }
  lc_ws_msg *m = g_queue_pop_head(&c->queue);
  if (m) {
    /* Server frames are unmasked, so the header lws_write puts into the LWS_PRE bytes
     * depends only on the length and opcode: it is the same for every connection, and
     * writing the one shared buffer to many connections one after the other on the
     * main thread is safe (nothing else writes it, the payload is never touched). No
     * extension (deflate) is enabled on the vhost, so lws never rewrites the payload. */
    int rc = write_one(c, m);
    lc_ws_msg_unref(m);
    if (rc != 0)
      return -1;
    if (c->queue.length || c->closing)
      lws_callback_on_writable(c->wsi);
    return 0;
  }
  if (c->closing)
    return write_close(c);
  return 0;
}

/* ---- receiving ---- */

static void
refuse(lc_ws_conn *c, lc_ws_refusal why)
{
  lc_ws *ws = c->ws;
  c->discard = true;
  if (c->rxbuf) {
    g_byte_array_unref(c->rxbuf);
    c->rxbuf = NULL;
  }
  count(ws->m_refused[why], 1);
  if (ws->handlers.refused)
    ws->handlers.refused(c, why, ws->handlers.user);
}

/* Takes a token for a new message; false when the bucket is empty. Counts refusals
 * in a second bucket that leaks at the allowed rate: a client sending at several
 * times the rate fills it and is closed with 4001. */
static bool
take_token(lc_ws_conn *c)
{
  const lc_ws_options *o = &c->ws->opts;
  gint64 now = g_get_monotonic_time();
  double dt = (double)(now - c->last_us) / G_USEC_PER_SEC;
  c->last_us = now;
  c->tokens = MIN((double)o->burst, c->tokens + dt * o->rate);
  c->abuse = MAX(0.0, c->abuse - dt * o->rate);
  if (c->tokens >= 1.0) {
    c->tokens -= 1.0;
    return true;
  }
  c->abuse += 1.0;
  return false;
}

static void
deliver(lc_ws_conn *c, const char *data, size_t len)
{
  lc_ws *ws = c->ws;
  count(ws->m_in, 1);
  if (ws->handlers.message)
    ws->handlers.message(c, data ? data : "", len, ws->handlers.user);
}

/* A client keeps sending (messages, pings or pongs) at several times the rate: close
 * it with 4001. */
static void
check_abuse(lc_ws_conn *c)
{
  lc_ws *ws = c->ws;
  if (c->abuse > 2.0 * (ws->opts.rate + ws->opts.burst) && !c->closing) {
    LC_INFO(NULL, c->id, "closing: keeps sending over the rate limit");
    lc_ws_close(c, 4001, "rate limit");
  }
}

/* A piece of a data message (ws_frame.h sink). */
static void
on_piece(void *user, bool first, bool final, bool binary, const uint8_t *piece, size_t len)
{
  lc_ws_conn *c = user;
  lc_ws *ws = c->ws;
  const char *in = (const char *)piece;

  if (first) {
    c->in_message = true;
    c->discard = false;
    c->msg_len = 0;
    if (c->closing) {
      c->discard = true; /* the session is done with this client */
    } else if (!take_token(c)) {
      refuse(c, LC_WS_RATE);
      check_abuse(c);
    } else if (binary) {
      refuse(c, LC_WS_BINARY);
    }
  }
  if (!c->discard) {
    c->msg_len += len;
    if (c->msg_len > ws->opts.max_message) {
      refuse(c, LC_WS_TOO_LARGE);
    } else if (final && !c->rxbuf) {
      deliver(c, in, len); /* the whole message in one piece: no copy */
    } else {
      if (!c->rxbuf)
        c->rxbuf = g_byte_array_sized_new((guint)MIN(ws->opts.max_message, (size_t)2 * RX_BUFFER));
      g_byte_array_append(c->rxbuf, piece, (guint)len);
      if (final)
        deliver(c, (const char *)c->rxbuf->data, c->rxbuf->len);
    }
  }
  if (final) {
    c->in_message = false;
    c->discard = false;
    if (c->rxbuf) {
      g_byte_array_unref(c->rxbuf);
      c->rxbuf = NULL;
    }
  }
}

/* A ping or a pong (ws_frame.h sink). Each takes a token like a message: one over the
 * rate is dropped unanswered and counted as a rate refusal (no error message: a ping has
 * no request to answer), and a flood fills the abuse bucket and ends in 4001 like a
 * message flood. A ping within the rate is answered with a pong (only the latest one
 * while a pong is still owed, as RFC 6455 5.5.3 allows). */
static void
on_ping(void *user, bool pong, const uint8_t *payload, size_t len)
{
  lc_ws_conn *c = user;
  if (c->closing)
    return;
  if (!take_token(c)) {
    count(c->ws->m_refused[LC_WS_RATE], 1);
    check_abuse(c);
    return;
  }
  if (pong)
    return; /* we send no pings; an unsolicited pong is allowed and needs nothing */
  memcpy(c->pong, payload, len);
  c->pong_len = len;
  c->pong_pending = true;
  lws_callback_on_writable(c->wsi);
}

/* The client's close frame (ws_frame.h sink): answer with the same code (none when it
 * had none) right away, dropping what is still queued, as RFC 6455 5.5.1 allows. */
static void
on_peer_close(void *user, int code, const char *reason, size_t len)
{
  lc_ws_conn *c = user;
  LC_DEBUG(NULL, c->id, "client closes: %d %.*s", code, (int)MIN(len, (size_t)MAX_REASON), reason);
  begin_close(c, code == LC_WS_CLOSE_NO_STATUS ? 0 : code, "", true);
}

static const lc_ws_frame_sink frame_sink = {on_piece, on_ping, on_peer_close};

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data);

/* The hand-over (top of this file): lws has parsed what came with the handshake; from
 * here on we read. */
static gboolean
take_over(gpointer data)
{
  lc_ws_conn *c = data;
  g_source_unref(c->handover);
  c->handover = NULL;
  if (!c->wsi)
    return G_SOURCE_REMOVE;
  int fd = lws_get_socket_fd(c->wsi);
  if (fd >= 0) {
    /* lws parses what it still holds from the handshake's read (RECEIVE callbacks);
     * without POLLIN in revents it reads nothing from the socket. It may close the
     * connection meanwhile (conn_destroy then leaves c to us). */
    struct lws_pollfd pfd = {.fd = fd, .events = 0, .revents = 0};
    c->in_handover = true;
    lws_service_fd(lws_get_context(c->wsi), &pfd);
    c->in_handover = false;
    if (c->destroy_pending) {
      conn_destroy(c);
      return G_SOURCE_REMOVE;
    }
  }
  if (fd < 0 || lws_rx_flow_control(c->wsi, 0) < 0) {
    LC_WARN(NULL, c->id, "cannot take over reading the websocket: closing it");
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    return G_SOURCE_REMOVE;
  }
  if (c->in_message || lws_remaining_packet_payload(c->wsi) > 0) {
    /* our parser cannot pick up inside lws' frame: the rest is read and dropped */
    count(c->ws->m_protocol_errors, 1);
    begin_close(c, LC_WS_CLOSE_PROTOCOL, "message cut by the handshake", true);
  }
  c->rx = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback(c->rx, G_SOURCE_FUNC(on_readable), c, NULL);
  g_source_set_can_recurse(c->rx, TRUE); /* O(1) dispatch: see lc__lws_fast_dispatch */
  g_source_attach(c->rx, c->ws->ctx);
  return G_SOURCE_REMOVE;
}

/* Our read source: reads what the socket has, feeds the frame parser. At the end of the
 * stream (or a socket error) lws is told to close the connection: with its reading off it
 * would not notice. After a protocol error the rest is read and dropped until the close. */
static gboolean
on_readable(gint fd, GIOCondition cond, gpointer data)
{
  lc_ws_conn *c = data;
  guint8 buf[READ_CHUNK];
  (void)cond;
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    LC_DEBUG(NULL, c->id, "end of stream%s%s", n < 0 ? ": " : "", n < 0 ? g_strerror(errno) : "");
    if (c->wsi)
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    g_source_unref(c->rx); /* the context drops its reference as we return REMOVE */
    c->rx = NULL;
    return G_SOURCE_REMOVE;
  }
  const char *why = NULL;
  int code = lc_ws_frames_feed(c->frames, buf, (size_t)n, &frame_sink, c, &why);
  if (code && !c->closing) {
    LC_INFO(NULL, c->id, "closing with %d: %s", code, why);
    count(c->ws->m_protocol_errors, 1);
    begin_close(c, code, why, true);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- connections ---- */

int
lc__ws_confirm_upgrade(lc_ws *ws, struct lws *wsi)
{
  char path[64];
  int n = lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI);
  if (n <= 0 || strcmp(path, LC__WS_PATH) != 0)
    return lc__lws_refuse_now(wsi, 404, "not_found", "websockets are served at " LC__WS_PATH " only");
  /* Clients may name no subprotocol (lws then uses the vhost default, ours); one that
   * names others must include ours, else lws would drop it without an answer. */
  char protos[256];
  n = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
  if (n > 0) {
    bool found = false;
    if (n < (int)sizeof protos && lws_hdr_copy(wsi, protos, sizeof protos, WSI_TOKEN_PROTOCOL) > 0) {
      char **names = g_strsplit(protos, ",", -1);
      for (char **p = names; *p && !found; p++)
        found = strcmp(g_strstrip(*p), LC__WS_PROTOCOL) == 0;
      g_strfreev(names);
    }
    if (!found)
      return lc__lws_refuse_now(wsi, 400, "bad_request",
                                 "unsupported websocket subprotocol (use " LC__WS_PROTOCOL ")");
  }
  if (ws->conns.length >= ws->opts.max_conns)
    return lc__lws_refuse_now(wsi, 503, "unavailable", "too many websocket connections");
  return 0;
}

static int
on_established(lc_ws *ws, struct lws *wsi, pss *p)
{
  if (ws->conns.length >= ws->opts.max_conns)
    return -1; /* checked at the upgrade already; belt and braces */
  lc_ws_conn *c = g_new0(lc_ws_conn, 1);
  c->ws = ws;
  c->wsi = wsi;
  c->link.data = c;
  g_queue_init(&c->queue);
  c->tokens = ws->opts.burst;
  c->last_us = g_get_monotonic_time();
  g_snprintf(c->id, sizeof c->id, "ws-%" G_GUINT64_FORMAT, ++ws->next_id);
  c->frames = lc_ws_frames_new();
  c->handover = g_idle_source_new();
  g_source_set_priority(c->handover, G_PRIORITY_HIGH);
  g_source_set_callback(c->handover, take_over, c, NULL);
  g_source_attach(c->handover, ws->ctx);
  g_queue_push_tail_link(&ws->conns, &c->link);
  p->c = c;
  if (ws->m_connections)
    lc_metric_set(ws->m_connections, ws->conns.length);
  LC_DEBUG(NULL, c->id, "open");
  if (ws->handlers.open)
    ws->handlers.open(c, ws->handlers.user);
  return 0;
}

int
lc__ws_callback(lc_ws *ws, struct lws *wsi, int reason, void *user, void *in, size_t len)
{
  pss *p = user;
  lc_ws_conn *c = p ? p->c : NULL;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    lc__lws_fast_dispatch();
    return p ? on_established(ws, wsi, p) : -1;
  case LWS_CALLBACK_RECEIVE:
    /* Only frames that came in the same read as the handshake, before the hand-over. */
    if (c && !c->rx)
      on_piece(c, !c->in_message, lws_is_final_fragment(wsi), lws_frame_is_binary(wsi), in, len);
    return 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (c && !c->fast) { /* in case ESTABLISHED came from lws' idle service */
      lc__lws_fast_dispatch();
      c->fast = true;
    }
    return c ? on_writeable(c) : 0;
  case LWS_CALLBACK_CLOSED:
    if (c) {
      p->c = NULL;
      conn_destroy(c);
    }
    return 0;
  case LWS_CALLBACK_HTTP:
    return -1; /* plain HTTP is dispatched to the lc-http protocol, never here */
  default:
    return 0;
  }
}

void
lc__ws_protocol(lc_ws *ws, struct lws_protocols *out, GMainContext *ctx)
{
  if (ws->ctx)
    g_main_context_unref(ws->ctx);
  ws->ctx = g_main_context_ref(ctx);
  memset(out, 0, sizeof *out);
  out->name = LC__WS_PROTOCOL;
  out->per_session_data_size = sizeof(pss);
  /* lws allocates this per connection for the whole life of the websocket: keep it
   * small, larger messages are assembled from pieces (on_piece). Since we read the
   * socket ourselves lws fills it only with what came in the handshake's read. */
  out->rx_buffer_size = RX_BUFFER;
  out->user = ws;
}

/* ---- connection accessors ---- */

void
lc_ws_conn_set_data(lc_ws_conn *c, gpointer data)
{
  c->data = data;
}

gpointer
lc_ws_conn_get_data(lc_ws_conn *c)
{
  return c->data;
}

const char *
lc_ws_conn_id(lc_ws_conn *c)
{
  return c->id;
}

unsigned
lc_ws_conn_queued(lc_ws_conn *c)
{
  return c->queue.length;
}

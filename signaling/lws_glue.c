/* The libwebsockets glue (lws_glue.h): context and vhost on the GLib main loop, the
 * protocol table, the dispatch of lws callbacks to the HTTP handler (http.c) or the
 * websocket transport (ws.c), lws' log, and the few helpers both sides share.
 *
 * The one place that knows both sides: http.c gives its handler through lc__lws_options,
 * ws.c is reached through ws_internal.h. Main thread only. */
#define LC_LOG_DOMAIN "http"
#include "signaling/lws_glue.h"
#include "signaling/ws_internal.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct lc__lws {
  lc__lws_options opts;
  char *bind;                        /* owned copy of opts.bind */
  struct lws_context *ctx;
  struct lws_context *alive;         /* lws writes NULL here when the context is fully gone */
  struct lws_vhost *vhost;
  struct lws_protocols protocols[3]; /* lc-http, livecart.v1 (when opts.ws), end */
  struct lws_protocol_vhost_options pvo_ws, pvo_default;
};

static lc__lws *
glue_of(struct lws *wsi)
{
  return lws_context_user(lws_get_context(wsi));
}

gpointer
lc__lws_user(struct lws *wsi)
{
  lc__lws *g = glue_of(wsi);
  return g ? g->opts.user : NULL;
}

void
lc__lws_fast_dispatch(void)
{
  GSource *src = g_main_current_source();
  if (src && !g_source_get_can_recurse(src))
    g_source_set_can_recurse(src, TRUE);
}

int
lc__lws_refuse_now(struct lws *wsi, int status, const char *code, const char *message)
{
  lc__lws *g = glue_of(wsi);
  const char *reason = status == 400 ? "Bad Request" : status == 404 ? "Not Found"
                     : status == 503 ? "Service Unavailable" : "Error";
  json_t *obj = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
  char *body = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(obj);
  if (!body)
    g_error("http: json_dumps failed (out of memory)");
  if (g && g->opts.answered)
    g->opts.answered(status, g->opts.user);
  /* Written by hand: during an upgrade lws has not recorded the request's HTTP version
   * yet, so lws_add_http_header_status() would say "HTTP/1.0", which websocket
   * clients (python websockets) reject as an invalid answer. */
  char *text = g_strdup_printf("HTTP/1.1 %d %s\r\nserver: livecart\r\ncontent-type: application/json\r\n"
                               "content-length: %zu\r\nX-Content-Type-Options: nosniff\r\n"
                               "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
                               status, reason, strlen(body), body);
  free(body);
  size_t n = strlen(text);
  unsigned char *buf = g_malloc(LWS_PRE + n);
  memcpy(buf + LWS_PRE, text, n);
  int ret = -1;
  if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_HEADERS) == (int)n) {
    LC_DEBUG(NULL, NULL, "upgrade refused: %d %s", status, code);
    ret = 1;
  }
  g_free(buf);
  g_free(text);
  return ret;
}

/* ---- dispatch ---- */

/* Every lws callback of both protocols. */
static int
dispatch(struct lws *wsi, enum lws_callback_reasons reason, void *pss, void *in, size_t len)
{
  lc__lws *g = glue_of(wsi);
  if (!g)
    return 0;
  const struct lws_protocols *proto = lws_get_protocol(wsi);
  bool on_ws = g->opts.ws && proto && proto->user == g->opts.ws;
  switch (reason) {
  case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
    lc__lws_fast_dispatch(); /* the listen socket: accepting is O(1) too */
    return g->opts.http(wsi, reason, NULL, in, len, g->opts.user);
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    /* Fresh connections are bound to the vhost's default protocol (ours, livecart.v1)
     * until their first request is dispatched; a keep-alive connection bound to lc-http
     * by an earlier request may ask to upgrade too. Both get the same check. */
    if (g->opts.ws)
      return lc__ws_confirm_upgrade(g->opts.ws, wsi);
    return lc__lws_refuse_now(wsi, 404, "not_found", "no websocket service here");
  default:
    break;
  }
  if (on_ws)
    return lc__ws_callback(g->opts.ws, wsi, reason, pss, in, len);
  return g->opts.http(wsi, reason, pss, in, len, g->opts.user);
}

/* ---- lws logging ---- */

/* lws logs some client mistakes (e.g. oversized headers) at ERR: at most LOG_BURST
 * lines per LOG_WINDOW so a hostile client cannot flood the log. lws runs on the
 * main thread only, so the limiter needs no lock. */
#define LOG_BURST 20
#define LOG_WINDOW (10 * G_USEC_PER_SEC)

static void
lws_log_emit(int level, const char *line)
{
  static gint64 window_start;
  static unsigned in_window, suppressed;
  lc_log_level lvl = (level & LLL_ERR) ? LC_LOG_ERROR : LC_LOG_WARN;
  if (!lc_log_enabled(lvl))
    return;
  gint64 now = g_get_monotonic_time();
  if (now - window_start > LOG_WINDOW) {
    if (suppressed)
      lc_log_write(LC_LOG_WARN, "lws", NULL, NULL, "%u libwebsockets log lines suppressed", suppressed);
    window_start = now;
    in_window = suppressed = 0;
  }
  if (++in_window > LOG_BURST) {
    suppressed++;
    return;
  }
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  /* lws prefixes its own timestamp "[date] E: "; keep the message only. */
  const char *msg = line;
  if (msg[0] == '[') {
    const char *close = memchr(msg, ']', n);
    if (close && close + 1 < line + n) {
      msg = close + 1;
      while (*msg == ' ')
        msg++;
    }
  }
  lc_log_write(lvl, "lws", NULL, NULL, "%.*s", (int)(n - (size_t)(msg - line)), msg);
}

/* ---- lifecycle ---- */

/* Tries to listen on addr:port ourselves: NULL when it works, else why not (transfer
 * full). lws 4.1 only logs bind errors, and for an address that is not on this host
 * it "waits for the interface" instead of failing; this check gives a clear error. */
static char *
probe_listen(const char *addr, int port)
{
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    sl = sizeof *v4;
  } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    sl = sizeof *v6;
  } else {
    return g_strdup("not a numeric IPv4 or IPv6 address");
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return g_strdup(g_strerror(errno));
  int one = 1;
  char *reason = NULL;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1) != 0)
    reason = g_strdup(g_strerror(errno));
  close(fd);
  return reason;
}

lc__lws *
lc__lws_new(const lc__lws_options *opts, char **err_msg)
{
  lc__lws *g = g_new0(lc__lws, 1);
  g->opts = *opts;
  g->bind = g_strdup(opts->bind);
  g->opts.bind = g->bind;
  g_main_loop_ref(opts->loop);

  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

  g->protocols[0] = (struct lws_protocols){
      .name = "lc-http",
      .callback = dispatch,
      .per_session_data_size = opts->http_pss,
      .tx_packet_size = opts->http_tx_packet,
  };
  if (opts->ws) {
    /* Same vhost, second protocol. Marking it the vhost default makes lws choose it
     * for an upgrade that names no subprotocol; fresh connections are bound to the
     * default until their first request, but every plain HTTP request is rebound to
     * protocols[0] ("no mount hit"), so HTTP keeps reaching opts.http. */
    lc__ws_protocol(opts->ws, &g->protocols[1], g_main_loop_get_context(opts->loop));
    g->protocols[1].callback = dispatch;
    g->pvo_default = (struct lws_protocol_vhost_options){.name = "default", .value = "1"};
    g->pvo_ws = (struct lws_protocol_vhost_options){.options = &g->pvo_default,
                                                    .name = LC__WS_PROTOCOL, .value = ""};
  }
  void *foreign[1] = {opts->loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                 LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  info.foreign_loops = foreign;
  info.pcontext = &g->alive;
  info.user = g;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.server_string = "livecart";
  info.max_http_header_data = (unsigned short)MIN(65535, opts->max_header);
  info.timeout_secs = 10;
  info.keepalive_timeout = 30;
  /* No fd_limit_per_thread: with one set, lws 4.1 finds the connection of every poll event by
   * walking its whole table (34% of the CPU with 5,000 websockets, docs/benchmarks.md, "Gifts").
   * The descriptor reserve for the control socket, SQLite and files is kept by the websocket
   * budget instead (app.c, ws_connection_budget: the descriptor limit minus 256). */
  g->ctx = lws_create_context(&info);
  if (!g->ctx) {
    *err_msg = g_strdup("cannot create the libwebsockets context (is the glib event library installed?)");
    goto fail;
  }
  g->alive = g->ctx;

  char *why = probe_listen(g->bind, opts->port);
  if (why) {
    *err_msg = g_strdup_printf("cannot listen on %s:%d: %s", g->bind, opts->port, why);
    g_free(why);
    goto fail;
  }
  info.port = opts->port;
  info.iface = g->bind;
  info.protocols = g->protocols;
  info.pvo = opts->ws ? &g->pvo_ws : NULL;
  info.vhost_name = "livecart";
  g->vhost = lws_create_vhost(g->ctx, &info);
  if (!g->vhost) {
    *err_msg = g_strdup_printf("cannot listen on %s:%d: libwebsockets could not create the listener",
                               g->bind, opts->port);
    goto fail;
  }
  return g;

fail:
  lc__lws_free(g);
  return NULL;
}

int
lc__lws_port(lc__lws *g)
{
  return lws_get_vhost_listen_port(g->vhost);
}

bool
lc__lws_adopt(lc__lws *g, int fd)
{
  return lws_adopt_socket_vhost(g->vhost, fd) != NULL;
}

unsigned
lc__lws_ws_connections(lc__lws *g)
{
  return g ? lc_ws_connections(g->opts.ws) : 0;
}

void
lc__lws_free(lc__lws *g)
{
  if (!g)
    return;
  if (g->ctx) {
    lws_context_destroy(g->ctx);
    /* With a foreign loop lws may finish closing from the loop: let it run a little. */
    GMainContext *mc = g_main_loop_get_context(g->opts.loop);
    for (int i = 0; g->alive && i < 1000; i++)
      g_main_context_iteration(mc, FALSE);
    if (g->alive)
      LC_WARN(NULL, NULL, "libwebsockets context did not finish closing");
  }
  lc__ws_detach(g->opts.ws); /* normally none left: lws reports every close */
  g_main_loop_unref(g->opts.loop);
  g_free(g->bind);
  g_free(g);
}

/* Control socket server: Unix stream socket, newline-delimited JSON (codec.h).
 *
 * Everything runs on the main thread's GMainContext. Each connection is a
 * non-blocking GSocket with at most two GSources: one for reading (present while
 * the connection accepts more requests) and one for writing (present while output
 * is queued and the kernel buffer is full). Closing is therefore synchronous: drop
 * the sources, close the socket; nothing is left in flight.
 *
 * Lifetimes: a conn is refcounted. The server's list holds one ref while the conn
 * is open; each lc_ctl_req holds one, so a handler that answers after the client
 * left (or after lc_control_free) still finds a valid conn, whose closed flag makes
 * the reply be discarded. A conn never points back to a freed lc_control: closing
 * sets conn->ctl to NULL.
 *
 * Flow control: reading pauses while a client has more than max_queue bytes of
 * unsent output or MAX_PENDING requests in progress, so a client that writes
 * without reading costs bounded memory. Events are never allowed to grow a queue
 * past max_queue: such a watcher is dropped. */
#define _GNU_SOURCE
#define LC_LOG_DOMAIN "control"
#include "control/control.h"
#include "control/codec.h"
#include "base/errors.h"
#include "base/log.h"
#include "base/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PENDING 32
#define READ_CHUNK 16384
#define DEFAULT_MAX_LINE (64 * 1024)
#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_MAX_QUEUE (1024 * 1024)

typedef struct conn conn;

typedef struct {
  char *help;
  lc_ctl_handler handler;
  gpointer user;
} command;

struct lc_control {
  char *path;
  unsigned mode;
  size_t max_line;
  unsigned max_clients;
  size_t max_queue;
  GSocketService *service;
  bool listening;
  dev_t sock_dev; /* identity of the socket file we created, to unlink only ours */
  ino_t sock_ino;
  GHashTable *commands; /* name -> command */
  GList *conns;         /* conn*, each holding one ref */
  unsigned n_conns;
  unsigned next_conn_id;
  lc_metric *m_clients;
  lc_metric *m_requests;
  lc_metric *m_errors;
};

struct conn {
  int refs;
  lc_control *ctl; /* NULL once closed */
  bool closed;
  bool eof;        /* the client shut its sending side: finish, then close */
  bool in_pump;
  char id[24];     /* "ctl-N" */
  GSocketConnection *sc;
  GSocket *sock;   /* borrowed from sc */
  GSource *rsrc;
  GSource *wsrc;
  lc_linebuf *lb;
  GQueue outq;     /* GBytes*, shared with other conns for events */
  size_t out_off;  /* bytes of the head already sent */
  size_t out_bytes;/* unsent bytes in outq */
  unsigned pending;/* requests handed to handlers and not yet ended */
  bool watching;
  char *watch_room;/* NULL: every room */
};

struct lc_ctl_req {
  conn *c;     /* holds a ref */
  json_t *id;
  char *cmd;
};

static void conn_pump(conn *c);
static void conn_close(conn *c, const char *why);

/* ---- connections ------------------------------------------------------- */

static conn *
conn_ref(conn *c)
{
  c->refs++;
  return c;
}

static void
conn_unref(conn *c)
{
  if (--c->refs > 0)
    return;
  g_assert(c->closed);
  g_queue_clear_full(&c->outq, (GDestroyNotify)g_bytes_unref);
  lc_linebuf_free(c->lb);
  g_free(c->watch_room);
  g_free(c);
}

static void
drop_sources(conn *c)
{
  if (c->rsrc) {
    g_source_destroy(c->rsrc);
    g_source_unref(c->rsrc);
    c->rsrc = NULL;
  }
  if (c->wsrc) {
    g_source_destroy(c->wsrc);
    g_source_unref(c->wsrc);
    c->wsrc = NULL;
  }
}

/* Closes the socket and removes c from the server; c stays allocated while refs
 * (pending requests, a running pump) remain. */
static void
conn_close(conn *c, const char *why)
{
  if (c->closed)
    return;
  c->closed = true;
  drop_sources(c);
  GError *err = NULL;
  if (!g_io_stream_close(G_IO_STREAM(c->sc), NULL, &err)) {
    LC_DEBUG(NULL, c->id, "close: %s", err->message);
    g_clear_error(&err);
  }
  g_clear_object(&c->sc);
  c->sock = NULL;
  g_queue_clear_full(&c->outq, (GDestroyNotify)g_bytes_unref);
  g_queue_init(&c->outq);
  c->out_bytes = 0;
  c->out_off = 0;
  LC_INFO(NULL, c->id, "client disconnected (%s)", why);
  lc_control *ctl = c->ctl;
  c->ctl = NULL;
  if (ctl) {
    ctl->conns = g_list_remove(ctl->conns, c);
    ctl->n_conns--;
    if (ctl->m_clients)
      lc_metric_set(ctl->m_clients, ctl->n_conns);
    conn_unref(c); /* the list's ref */
  }
}

static gboolean on_writable(GSocket *sock, GIOCondition cond, gpointer data);

/* Sends as much queued output as the socket takes now; arms the write source when
 * the kernel buffer is full. May close c. */
static void
conn_flush(conn *c)
{
  while (!c->closed && !g_queue_is_empty(&c->outq)) {
    GBytes *b = g_queue_peek_head(&c->outq);
    gsize len;
    const char *p = g_bytes_get_data(b, &len);
    GError *err = NULL;
    gssize n = g_socket_send(c->sock, p + c->out_off, len - c->out_off, NULL, &err);
    if (n < 0) {
      if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_error_free(err);
        if (!c->wsrc) {
          c->wsrc = g_socket_create_source(c->sock, G_IO_OUT, NULL);
          g_source_set_callback(c->wsrc, (GSourceFunc)(GCallback)on_writable, c, NULL);
          g_source_attach(c->wsrc, g_main_context_get_thread_default());
        }
        return;
      }
      char *why = g_strdup_printf("send failed: %s", err->message);
      g_error_free(err);
      conn_close(c, why);
      g_free(why);
      return;
    }
    c->out_off += (size_t)n;
    c->out_bytes -= (size_t)n;
    if (c->out_off == len) {
      g_bytes_unref(g_queue_pop_head(&c->outq));
      c->out_off = 0;
    }
  }
  if (c->wsrc) {
    g_source_destroy(c->wsrc);
    g_source_unref(c->wsrc);
    c->wsrc = NULL;
  }
}

static gboolean
on_writable(GSocket *sock, GIOCondition cond, gpointer data)
{
  conn *c = conn_ref(data);
  GSource *self = c->wsrc;
  g_source_ref(self);
  conn_flush(c);
  conn_pump(c);
  /* conn_flush destroyed the source when the queue emptied (or on close). */
  gboolean keep = !g_source_is_destroyed(self);
  g_source_unref(self);
  conn_unref(c);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Queues one line (shared bytes, a ref is taken) and tries to send it. May close c. */
static void
conn_send_bytes(conn *c, GBytes *b)
{
  if (c->closed)
    return;
  g_queue_push_tail(&c->outq, g_bytes_ref(b));
  c->out_bytes += g_bytes_get_size(b);
  if (!c->wsrc)
    conn_flush(c);
}

/* Queues a line (transfer full). May close c. */
static void
conn_send(conn *c, char *line)
{
  GBytes *b = g_bytes_new_take(line, strlen(line));
  conn_send_bytes(c, b);
  g_bytes_unref(b);
}

static void
conn_send_error(conn *c, const json_t *id, const char *code, const char *message)
{
  if (c->ctl && c->ctl->m_errors)
    lc_metric_add(c->ctl->m_errors, 1);
  LC_DEBUG(NULL, c->id, "error %s: %s", code, message);
  conn_send(c, lc_ctl_encode_error(id, code, message));
}

/* ---- requests ---------------------------------------------------------- */

static void
req_end(lc_ctl_req *req, char *line)
{
  conn *c = req->c;
  if (!c->closed) {
    conn_send(c, line);
  } else {
    LC_DEBUG(NULL, c->id, "reply to %s discarded: client gone", req->cmd);
    g_free(line);
  }
  c->pending--;
  json_decref(req->id);
  g_free(req->cmd);
  g_free(req);
  if (!c->closed)
    conn_pump(c);
  conn_unref(c);
}

void
lc_ctl_req_reply(lc_ctl_req *req, json_t *result)
{
  char *line = lc_ctl_encode_ok(req->id, result);
  json_decref(result);
  req_end(req, line);
}

void
lc_ctl_req_fail(lc_ctl_req *req, const char *code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (req->c->ctl && req->c->ctl->m_errors)
    lc_metric_add(req->c->ctl->m_errors, 1);
  LC_DEBUG(NULL, req->c->id, "%s failed: %s: %s", req->cmd, code, msg);
  char *line = lc_ctl_encode_error(req->id, code, msg);
  g_free(msg);
  req_end(req, line);
}

const char *
lc_ctl_req_conn(const lc_ctl_req *req)
{
  return req->c->id;
}

/* ---- built-in commands ------------------------------------------------- */

static const struct {
  const char *cmd;
  const char *help;
} builtins[] = {
  {"help", "list the commands"},
  {"ping", "check that the server answers; returns the server time"},
  {"unwatch", "stop receiving events"},
  {"watch", "receive event lines; args: {\"room\": ID} to see one room only"},
};

static bool
is_builtin(const char *cmd)
{
  for (unsigned i = 0; i < G_N_ELEMENTS(builtins); i++)
    if (strcmp(builtins[i].cmd, cmd) == 0)
      return true;
  return false;
}

static gint
cmp_cmd(gconstpointer a, gconstpointer b)
{
  return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "cmd")),
                json_string_value(json_object_get(*(json_t *const *)b, "cmd")));
}

static json_t *
help_result(lc_control *ctl)
{
  GPtrArray *items = g_ptr_array_new();
  for (unsigned i = 0; i < G_N_ELEMENTS(builtins); i++)
    g_ptr_array_add(items, json_pack("{s:s, s:s}", "cmd", builtins[i].cmd, "help", builtins[i].help));
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, ctl->commands);
  while (g_hash_table_iter_next(&it, &k, &v))
    g_ptr_array_add(items, json_pack("{s:s, s:s}", "cmd", (const char *)k, "help",
                                     ((command *)v)->help));
  g_ptr_array_sort(items, cmp_cmd);
  json_t *arr = json_array();
  for (unsigned i = 0; i < items->len; i++)
    json_array_append_new(arr, g_ptr_array_index(items, i));
  g_ptr_array_free(items, TRUE);
  return json_pack("{s:o}", "commands", arr);
}

/* Runs a built-in; returns false when cmd is not one. */
static bool
run_builtin(conn *c, const lc_ctl_request *r)
{
  json_t *result = NULL;
  if (strcmp(r->cmd, "ping") == 0) {
    result = json_pack("{s:b, s:I}", "pong", 1, "time_ms", (json_int_t)(g_get_real_time() / 1000));
  } else if (strcmp(r->cmd, "help") == 0) {
    result = help_result(c->ctl);
  } else if (strcmp(r->cmd, "watch") == 0) {
    json_t *room = json_object_get(r->args, "room");
    const char *key;
    json_t *val;
    json_object_foreach(r->args, key, val) {
      if (strcmp(key, "room") != 0) {
        conn_send_error(c, r->id, lc_errcode(LC_EINVAL), "watch: unknown argument (expected room)");
        return true;
      }
    }
    if (room && (!json_is_string(room) || json_string_length(room) == 0 ||
                 json_string_length(room) != strlen(json_string_value(room)))) {
      conn_send_error(c, r->id, lc_errcode(LC_EINVAL), "watch: 'room' must be a non-empty string");
      return true;
    }
    c->watching = true;
    g_free(c->watch_room);
    c->watch_room = room ? g_strdup(json_string_value(room)) : NULL;
    LC_INFO(c->watch_room, c->id, "watching %s", c->watch_room ? "one room" : "all rooms");
    result = json_pack("{s:b}", "watching", 1);
    if (room)
      json_object_set(result, "room", room);
  } else if (strcmp(r->cmd, "unwatch") == 0) {
    c->watching = false;
    g_clear_pointer(&c->watch_room, g_free);
    result = json_pack("{s:b}", "watching", 0);
  } else {
    return false;
  }
  conn_send(c, lc_ctl_encode_ok(r->id, result));
  json_decref(result);
  return true;
}

/* ---- reading ----------------------------------------------------------- */

static void
handle_line(conn *c, const char *line, size_t len)
{
  lc_control *ctl = c->ctl;
  lc_ctl_request r;
  const char *code = NULL;
  char *msg = NULL;

  if (ctl->m_requests)
    lc_metric_add(ctl->m_requests, 1);
  if (lc_ctl_decode_request(line, len, &r, &code, &msg) != 0) {
    conn_send_error(c, r.id, code, msg);
    g_free(msg);
    lc_ctl_request_clear(&r);
    return;
  }
  LC_DEBUG(NULL, c->id, "request %s", r.cmd);
  if (!run_builtin(c, &r)) {
    command *cmd = g_hash_table_lookup(ctl->commands, r.cmd);
    if (!cmd) {
      char *m = g_strdup_printf("unknown command '%s' (try \"help\")", r.cmd);
      conn_send_error(c, r.id, "unknown_command", m);
      g_free(m);
    } else {
      lc_ctl_req *req = g_new0(lc_ctl_req, 1);
      req->c = conn_ref(c);
      req->id = r.id ? json_incref(r.id) : NULL;
      req->cmd = g_strdup(r.cmd);
      c->pending++;
      cmd->handler(req, r.args, cmd->user); /* may end req before returning */
    }
  }
  lc_ctl_request_clear(&r);
}

static gboolean on_readable(GSocket *sock, GIOCondition cond, gpointer data);

static bool
conn_paused(const conn *c)
{
  return c->out_bytes > c->ctl->max_queue || c->pending >= MAX_PENDING;
}

/* Handles the complete lines while the client is within its limits, then reads
 * more (read source armed) or waits for output to drain / replies to end. */
static void
conn_pump(conn *c)
{
  if (c->in_pump || c->closed)
    return;
  conn_ref(c);
  c->in_pump = true;
  bool drained = false;
  while (!c->closed && !conn_paused(c)) {
    const char *line;
    size_t len;
    lc_line_status st = lc_linebuf_next(c->lb, &line, &len);
    if (st == LC_LINE_NONE) {
      drained = true;
      break;
    }
    if (st == LC_LINE_TOO_LONG) {
      if (c->ctl->m_requests)
        lc_metric_add(c->ctl->m_requests, 1);
      char *m = g_strdup_printf("request line longer than %zu bytes", c->ctl->max_line);
      conn_send_error(c, NULL, "line_too_long", m);
      g_free(m);
      continue;
    }
    handle_line(c, line, len);
  }
  c->in_pump = false;
  if (!c->closed) {
    bool want_read = !c->eof && !conn_paused(c);
    if (want_read && !c->rsrc) {
      c->rsrc = g_socket_create_source(c->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback(c->rsrc, (GSourceFunc)(GCallback)on_readable, c, NULL);
      g_source_attach(c->rsrc, g_main_context_get_thread_default());
    } else if (!want_read && c->rsrc) {
      g_source_destroy(c->rsrc);
      g_source_unref(c->rsrc);
      c->rsrc = NULL;
    }
    /* After the client's EOF: close once every answer is out. */
    if (c->eof && drained && c->pending == 0 && g_queue_is_empty(&c->outq))
      conn_close(c, "end of input");
  }
  conn_unref(c);
}

static gboolean
on_readable(GSocket *sock, GIOCondition cond, gpointer data)
{
  conn *c = conn_ref(data);
  GSource *self = g_source_ref(c->rsrc);
  char buf[READ_CHUNK];
  GError *err = NULL;
  gssize n = g_socket_receive(c->sock, buf, sizeof buf, NULL, &err);
  if (n < 0) {
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      char *why = g_strdup_printf("receive failed: %s", err->message);
      conn_close(c, why);
      g_free(why);
    }
    g_error_free(err);
  } else if (n == 0) {
    c->eof = true;
    conn_pump(c); /* drops the read source, closes when all is answered */
  } else {
    lc_linebuf_feed(c->lb, buf, (size_t)n);
    conn_pump(c);
  }
  gboolean keep = !g_source_is_destroyed(self);
  g_source_unref(self);
  conn_unref(c);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- accepting --------------------------------------------------------- */

static void
log_peer(conn *c)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(g_socket_get_fd(c->sock), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
    LC_INFO(NULL, c->id, "client connected: uid=%u gid=%u pid=%d", (unsigned)cred.uid,
            (unsigned)cred.gid, (int)cred.pid);
  else
    LC_INFO(NULL, c->id, "client connected: peer credentials unavailable (%s)", g_strerror(errno));
}

/* Refuses a client beyond max_clients with one error line (best effort: a fresh
 * socket's buffer takes it) and closes it. */
static void
refuse(lc_control *ctl, GSocketConnection *sc, unsigned num)
{
  char id[24];
  g_snprintf(id, sizeof id, "ctl-%u", num);
  char *m = g_strdup_printf("too many control clients (max %u)", ctl->max_clients);
  char *line = lc_ctl_encode_error(NULL, "too_many_clients", m);
  GSocket *sock = g_socket_connection_get_socket(sc);
  g_socket_set_blocking(sock, FALSE);
  if (g_socket_send(sock, line, strlen(line), NULL, NULL) < 0)
    LC_DEBUG(NULL, id, "could not send the refusal");
  LC_WARN(NULL, id, "client refused: %s", m);
  if (ctl->m_errors)
    lc_metric_add(ctl->m_errors, 1);
  g_io_stream_close(G_IO_STREAM(sc), NULL, NULL);
  g_free(line);
  g_free(m);
}

static gboolean
on_incoming(GSocketService *service, GSocketConnection *sc, GObject *source, gpointer data)
{
  lc_control *ctl = data;
  unsigned num = ++ctl->next_conn_id;
  if (ctl->n_conns >= ctl->max_clients) {
    refuse(ctl, sc, num);
    return TRUE;
  }
  conn *c = g_new0(conn, 1);
  c->refs = 1; /* the list's */
  c->ctl = ctl;
  g_snprintf(c->id, sizeof c->id, "ctl-%u", num);
  c->sc = g_object_ref(sc);
  c->sock = g_socket_connection_get_socket(sc);
  g_socket_set_blocking(c->sock, FALSE);
  c->lb = lc_linebuf_new(ctl->max_line);
  g_queue_init(&c->outq);
  ctl->conns = g_list_prepend(ctl->conns, c);
  ctl->n_conns++;
  if (ctl->m_clients)
    lc_metric_set(ctl->m_clients, ctl->n_conns);
  log_peer(c);
  conn_pump(c); /* arms the read source */
  return TRUE;
}

/* ---- setup ------------------------------------------------------------- */

/* Makes the socket path free: fails when a live server answers there or the path
 * is something else than a socket; removes a stale socket file. */
static int
claim_path(const char *path, char **err_msg)
{
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT)
      return 0;
    *err_msg = g_strdup_printf("control socket %s: %s", path, g_strerror(errno));
    return LC_EIO;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *err_msg = g_strdup_printf("control socket %s exists and is not a socket; not replacing it", path);
    return LC_EEXIST;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err_msg = g_strdup_printf("socket(): %s", g_strerror(errno));
    return LC_EIO;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  /* EAGAIN: a listener whose backlog is full, still alive. */
  if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
    *err_msg = g_strdup_printf("control socket %s is already in use by another instance", path);
    return LC_EBUSY;
  }
  if (unlink(path) != 0 && errno != ENOENT) {
    *err_msg = g_strdup_printf("cannot remove stale control socket %s: %s", path, g_strerror(errno));
    return LC_EIO;
  }
  LC_INFO(NULL, NULL, "removed stale control socket %s", path);
  return 0;
}

lc_control *
lc_control_new(const lc_control_options *opts, char **err_msg)
{
  lc_control *ctl = NULL;
  GSocketAddress *addr = NULL;
  GError *err = NULL;

  *err_msg = NULL;
  if (!opts->path || !*opts->path) {
    *err_msg = g_strdup("control socket path is empty");
    goto fail;
  }
  if (strlen(opts->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    *err_msg = g_strdup_printf("control socket path %s is too long (max %zu bytes)", opts->path,
                               sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    goto fail;
  }
  ctl = g_new0(lc_control, 1);
  ctl->path = g_strdup(opts->path);
  ctl->mode = opts->mode ? opts->mode : 0660;
  ctl->max_line = opts->max_line ? opts->max_line : DEFAULT_MAX_LINE;
  ctl->max_clients = opts->max_clients ? opts->max_clients : DEFAULT_MAX_CLIENTS;
  ctl->max_queue = opts->max_queue ? opts->max_queue : DEFAULT_MAX_QUEUE;
  ctl->commands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  char *dir = g_path_get_dirname(ctl->path);
  int mk = g_mkdir_with_parents(dir, 0755);
  int mk_errno = errno;
  if (mk != 0) {
    *err_msg = g_strdup_printf("cannot create directory %s for the control socket: %s", dir,
                               g_strerror(mk_errno));
    g_free(dir);
    goto fail;
  }
  g_free(dir);
  if (claim_path(ctl->path, err_msg) != 0)
    goto fail;

  ctl->service = g_socket_service_new();
  addr = g_unix_socket_address_new(ctl->path);
  if (!g_socket_listener_add_address(G_SOCKET_LISTENER(ctl->service), addr, G_SOCKET_TYPE_STREAM,
                                     G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &err)) {
    *err_msg = g_strdup_printf("cannot listen on control socket %s: %s", ctl->path, err->message);
    goto fail;
  }
  ctl->listening = true;
  struct stat st;
  if (lstat(ctl->path, &st) == 0) {
    ctl->sock_dev = st.st_dev;
    ctl->sock_ino = st.st_ino;
  }
  if (chmod(ctl->path, ctl->mode) != 0) {
    *err_msg = g_strdup_printf("cannot set mode %04o on control socket %s: %s", ctl->mode, ctl->path,
                               g_strerror(errno));
    goto fail;
  }
  g_signal_connect(ctl->service, "incoming", G_CALLBACK(on_incoming), ctl);
  g_socket_service_start(ctl->service);

  if (opts->metrics) {
    ctl->m_clients = lc_metrics_gauge(opts->metrics, "livecart_control_clients", NULL,
                                      "Connected control socket clients.");
    ctl->m_requests = lc_metrics_counter(opts->metrics, "livecart_control_requests_total", NULL,
                                         "Request lines received on the control socket.");
    ctl->m_errors = lc_metrics_counter(opts->metrics, "livecart_control_errors_total", NULL,
                                       "Error responses sent on the control socket.");
    lc_metric_set(ctl->m_clients, 0);
  }
  g_object_unref(addr);
  LC_INFO(NULL, NULL, "control socket listening on %s (mode %04o, max %u clients)", ctl->path,
          ctl->mode, ctl->max_clients);
  return ctl;

fail:
  g_clear_error(&err);
  g_clear_object(&addr);
  lc_control_free(ctl);
  return NULL;
}

void
lc_control_stop_accepting(lc_control *ctl)
{
  if (!ctl || !ctl->service)
    return;
  g_socket_service_stop(ctl->service);
  g_socket_listener_close(G_SOCKET_LISTENER(ctl->service));
  g_signal_handlers_disconnect_by_data(ctl->service, ctl);
  g_clear_object(&ctl->service);
  if (ctl->listening) {
    /* Unlink only the file we created: another instance may have replaced it. */
    struct stat st;
    if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->sock_dev && st.st_ino == ctl->sock_ino &&
        unlink(ctl->path) != 0)
      LC_WARN(NULL, NULL, "cannot remove control socket %s: %s", ctl->path, g_strerror(errno));
    ctl->listening = false;
  }
}

void
lc_control_free(lc_control *ctl)
{
  if (!ctl)
    return;
  lc_control_stop_accepting(ctl);
  while (ctl->conns)
    conn_close(ctl->conns->data, "server shutting down");
  if (ctl->commands) {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, ctl->commands);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
      command *cmd = v;
      g_free(cmd->help);
      g_free(cmd);
    }
    g_hash_table_destroy(ctl->commands);
  }
  g_free(ctl->path);
  g_free(ctl);
}

void
lc_control_register(lc_control *ctl, const char *cmd, const char *help, lc_ctl_handler handler,
                    gpointer user)
{
  g_return_if_fail(ctl && cmd && handler);
  if (is_builtin(cmd)) {
    g_critical("control: '%s' is a built-in command", cmd);
    return;
  }
  command *c = g_hash_table_lookup(ctl->commands, cmd);
  if (c) {
    g_free(c->help);
  } else {
    c = g_new0(command, 1);
    g_hash_table_insert(ctl->commands, g_strdup(cmd), c);
  }
  c->help = g_strdup(help ? help : "");
  c->handler = handler;
  c->user = user;
}

void
lc_control_publish(lc_control *ctl, const char *event, const char *room, json_t *data)
{
  if (!ctl) {
    json_decref(data);
    return;
  }
  char *line = lc_ctl_encode_event(event, data, g_get_real_time() / 1000);
  json_decref(data);
  size_t len = strlen(line);
  GBytes *b = g_bytes_new_take(line, len); /* serialized once, shared by every watcher */
  for (GList *l = ctl->conns, *next; l; l = next) {
    next = l->next; /* a failed send closes only this conn */
    conn *c = l->data;
    if (!c->watching || c->closed)
      continue;
    if (room && c->watch_room && strcmp(room, c->watch_room) != 0)
      continue;
    if (c->out_bytes + len > ctl->max_queue) {
      LC_WARN(room, c->id, "dropping slow watcher: %zu bytes unsent (max %zu)", c->out_bytes,
              ctl->max_queue);
      conn_close(c, "watcher too slow");
      continue;
    }
    conn_send_bytes(c, b);
  }
  g_bytes_unref(b);
}

unsigned
lc_control_clients(lc_control *ctl)
{
  return ctl ? ctl->n_conns : 0;
}

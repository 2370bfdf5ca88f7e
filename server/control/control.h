/* Control socket server: a Unix stream socket speaking the codec.h protocol.
 *
 * Runs on the main thread's GMainContext (GSocketService). Several clients at once;
 * each request is answered in order of completion with its id. Commands are
 * registered by name; a handler may answer at once or later (after a store commit)
 * through the lc_ctl_req it was given. Built-in commands: "ping", "help" (list of
 * commands) and "watch"/"unwatch" (event subscription, optional {"room": id} filter).
 * Peer uid/gid/pid are read with SO_PEERCRED and logged. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct lc_control lc_control;
typedef struct lc_ctl_req lc_ctl_req;
typedef struct lc_metrics lc_metrics;

typedef struct {
  const char *path;    /* socket path; parent directories are created */
  unsigned mode;       /* permission bits, e.g. 0660 */
  size_t max_line;     /* longest request line in bytes */
  unsigned max_clients;/* concurrent connections; more are refused with an error line */
  size_t max_queue;    /* bytes of unsent output per client before a watcher is dropped */
  lc_metrics *metrics; /* optional */
} lc_control_options;

/* Handler: args is borrowed for the duration of the call. The handler must end
 * req exactly once, now or later, with lc_ctl_req_reply or lc_ctl_req_fail. */
typedef void (*lc_ctl_handler)(lc_ctl_req *req, json_t *args, gpointer user);

/* Binds and listens. If the path exists and a server answers there, fails with
 * "already in use by another instance"; a stale socket file is replaced. On failure
 * returns NULL and sets *err_msg (transfer full). Main thread. */
lc_control *lc_control_new(const lc_control_options *opts, char **err_msg);
/* Stops listening and unlinks the socket; open connections stay. Main thread. */
void lc_control_stop_accepting(lc_control *ctl);
/* Closes every connection and frees. Pending requests are dropped (their replies
 * are discarded): an lc_ctl_req stays valid until its handler ends it, even after
 * its client left or lc_control_free ran, so every handler must still end it
 * exactly once. Main thread. NULL is a no-op. */
void lc_control_free(lc_control *ctl);

/* Registers `cmd` (e.g. "room.create"); help is a one-line description for "help". */
void lc_control_register(lc_control *ctl, const char *cmd, const char *help, lc_ctl_handler handler,
                         gpointer user);

/* Sends an event line to every watcher (whose room filter matches `room`, when
 * room is non-NULL). data: transfer full. Main thread. */
void lc_control_publish(lc_control *ctl, const char *event, const char *room, json_t *data);

/* Number of connected clients. */
unsigned lc_control_clients(lc_control *ctl);

/* Ends a request with a result (transfer full; NULL means {}). */
void lc_ctl_req_reply(lc_ctl_req *req, json_t *result);
/* Ends a request with an error code (snake_case) and message. */
void lc_ctl_req_fail(lc_ctl_req *req, const char *code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* A short id for the client connection ("ctl-3"), for log lines. Valid until the req ends. */
const char *lc_ctl_req_conn(const lc_ctl_req *req);

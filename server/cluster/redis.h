/* A Redis connection on the GLib main loop (hiredis' async API with our own GSource),
 * reconnecting with backoff, with a deadline on every command.
 *
 * Main thread only (the GMainContext given to lc_redis_new). A command sent while the
 * connection is down fails at once; a command without an answer after its timeout fails
 * with "timeout" (its answer, should it come later, is dropped); a connection lost with
 * commands in flight fails each of them with "disconnected". A failed command may still
 * have run on the server: callers make their writes idempotent. */
#pragma once
#include <glib.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>

typedef struct lc_redis lc_redis;

/* Where Redis listens: "redis://host:port" (port 6379 when absent), "unix:/path" or
 * "unix:///path". */
typedef struct {
  char *host;      /* NULL for a unix socket */
  int port;
  char *unix_path; /* NULL for TCP */
} lc_redis_addr;
/* 0, or -1 and *err (g_free) saying what is wrong with url. */
int lc_redis_addr_parse(const char *url, lc_redis_addr *out, char **err);
void lc_redis_addr_clear(lc_redis_addr *a);
/* "host:port" or the socket path (transfer full). */
char *lc_redis_addr_string(const lc_redis_addr *a);

/* The connection came up (connected and answering a PING: a stopped Redis still accepts
 * connections) or went down (lost, or a command got no answer in time: the connection is
 * dropped and made again). */
typedef void (*lc_redis_state_cb)(lc_redis *r, bool up, gpointer user);
/* An answer (reply borrowed for the call, err NULL; a Redis error reply is a reply of type
 * REDIS_REPLY_ERROR), or no answer: reply NULL and err "not connected", "timeout" or
 * "disconnected". */
typedef void (*lc_redis_cb)(lc_redis *r, const redisReply *reply, const char *err, gpointer user);

/* Starts connecting at once (in the background). name: for log lines ("journal"). */
lc_redis *lc_redis_new(const lc_redis_addr *addr, const char *name, GMainContext *ctx, lc_redis_state_cb state,
                       gpointer user);
/* Fails every command in flight ("disconnected", callbacks run before this returns),
 * closes the connection. NULL ok. */
void lc_redis_free(lc_redis *r);
bool lc_redis_up(const lc_redis *r);
/* Sends argv (argc strings of lens bytes; copied). timeout_ms <= 0: no deadline (blocking
 * reads whose own timeout is shorter). cb may be NULL. */
void lc_redis_command(lc_redis *r, int argc, const char **argv, const size_t *lens, int timeout_ms, lc_redis_cb cb,
                      gpointer user);

/* A blocking connection for start-up (checks, loading a journal): NULL and *err (g_free). */
redisContext *lc_redis_connect_sync(const lc_redis_addr *addr, int timeout_ms, char **err);

/* The running server: owns every module and wires their events together.
 * Start-up order: store (instance lock), rooms, HTTP, control socket. Main thread. */
#pragma once
#include <glib.h>

#include "base/config.h"

typedef struct lc_app lc_app;

/* Starts everything on `loop`. On failure returns NULL with *err_msg (transfer full)
 * naming what failed (port in use, database locked, ...). */
lc_app *lc_app_new(const lc_config *cfg, GMainLoop *loop, char **err_msg);
/* Graceful stop: stops accepting, waits (at most server.shutdown_timeout_ms) for
 * in-flight store commits and their replies, then quits the loop. Idempotent. */
void lc_app_shutdown(lc_app *app);
/* Closes connections and frees everything (after the loop has returned). NULL ok. */
void lc_app_free(lc_app *app);

/* Logging: levels, a domain per module, the room and connection id on every line.
 *
 * In each .c file: `#define LC_LOG_DOMAIN "store"` before including this header, then
 *   LC_INFO(room_id, conn_id, "format %d", x);   (room_id / conn_id may be NULL)
 * The level is checked before any formatting. Lines go to stderr, one write(2) each,
 * so lines from several threads never interleave. Any thread. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef enum {
  LC_LOG_ERROR = 0,
  LC_LOG_WARN = 1,
  LC_LOG_INFO = 2,
  LC_LOG_DEBUG = 3,
  LC_LOG_TRACE = 4,
} lc_log_level;

/* Sets the most verbose level that is written. Call at start-up or from the main thread. */
void lc_log_set_level(lc_log_level level);
/* Parses "error|warn|info|debug|trace"; returns 0 or LC_EINVAL. */
int lc_log_parse_level(const char *s, lc_log_level *out);
/* True when a line at this level would be written. */
bool lc_log_enabled(lc_log_level level);
/* Writes one line; use the LC_* macros instead. room/conn may be NULL. */
void lc_log_write(lc_log_level level, const char *domain, const char *room, const char *conn,
                  const char *fmt, ...) G_GNUC_PRINTF(5, 6);
/* Routes GLib's own g_warning()/g_critical() output through lc_log (domain "glib"). */
void lc_log_capture_glib(void);

#define LC_LOG(lvl, room, conn, ...) \
  do { \
    if (lc_log_enabled(lvl)) \
      lc_log_write((lvl), LC_LOG_DOMAIN, (room), (conn), __VA_ARGS__); \
  } while (0)
#define LC_ERROR(room, conn, ...) LC_LOG(LC_LOG_ERROR, room, conn, __VA_ARGS__)
#define LC_WARN(room, conn, ...) LC_LOG(LC_LOG_WARN, room, conn, __VA_ARGS__)
#define LC_INFO(room, conn, ...) LC_LOG(LC_LOG_INFO, room, conn, __VA_ARGS__)
#define LC_DEBUG(room, conn, ...) LC_LOG(LC_LOG_DEBUG, room, conn, __VA_ARGS__)
#define LC_TRACE(room, conn, ...) LC_LOG(LC_LOG_TRACE, room, conn, __VA_ARGS__)

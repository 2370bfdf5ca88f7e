#define LC_LOG_DOMAIN "log"
#include "base/log.h"
#include "base/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int current_level = LC_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void
lc_log_set_level(lc_log_level level)
{
  g_atomic_int_set(&current_level, (int)level);
}

int
lc_log_parse_level(const char *s, lc_log_level *out)
{
  static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
  for (int i = 0; i < 5; i++) {
    if (s && g_ascii_strcasecmp(s, names[i]) == 0) {
      *out = (lc_log_level)i;
      return 0;
    }
  }
  return LC_EINVAL;
}

bool
lc_log_enabled(lc_log_level level)
{
  return (int)level <= g_atomic_int_get(&current_level);
}

void
lc_log_write(lc_log_level level, const char *domain, const char *room, const char *conn,
             const char *fmt, ...)
{
  char line[4096];
  gint64 now = g_get_real_time();
  time_t secs = (time_t)(now / G_USEC_PER_SEC);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %-9s [room=%s conn=%s] ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)((now / 1000) % 1000), level_names[level], domain, room ? room : "-",
                   conn ? conn : "-");
  if (n < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  /* One line per record: control characters from hostile input are escaped. */
  for (size_t i = (size_t)n; i < len; i++)
    if ((unsigned char)line[i] < 0x20)
      line[i] = '?';
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

/* GLib's own messages can come in floods (GSocketService logs every failed accept,
 * e.g. at EMFILE): at most LIMIT per WINDOW are written, then one count of the rest. */
#define GLIB_LIMIT 20
#define GLIB_WINDOW_US (10 * G_USEC_PER_SEC)

static bool
glib_rate_ok(void)
{
  static gint64 window_start;
  static unsigned in_window, dropped;
  gint64 now = g_get_monotonic_time();
  if (now - window_start > GLIB_WINDOW_US) {
    if (dropped)
      lc_log_write(LC_LOG_WARN, "glib", NULL, NULL, "%u more GLib messages were not logged", dropped);
    window_start = now;
    in_window = dropped = 0;
  }
  if (++in_window <= GLIB_LIMIT)
    return true;
  dropped++;
  return false;
}

static void
glib_log_handler(const gchar *log_domain, GLogLevelFlags flags, const gchar *message, gpointer user)
{
  lc_log_level lvl = LC_LOG_DEBUG;
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    lvl = LC_LOG_ERROR;
  else if (flags & G_LOG_LEVEL_WARNING)
    lvl = LC_LOG_WARN;
  else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    lvl = LC_LOG_INFO;
  if (lc_log_enabled(lvl) && glib_rate_ok())
    lc_log_write(lvl, log_domain ? log_domain : "glib", NULL, NULL, "%s", message);
}

void
lc_log_capture_glib(void)
{
  g_log_set_default_handler(glib_log_handler, NULL);
}

/* libsrt set-up shared by the SRT listener and the relay (see srt_common.h). */
#define LC_LOG_DOMAIN "srt"
#include "srt/srt_common.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <srt/srt.h>
#include <string.h>
#include <syslog.h>

/* libsrt's own log lines, through ours. Any thread. */
static void
on_srt_log(void *opaque, int level, const char *file, int line, const char *area, const char *message)
{
  (void)opaque, (void)file, (void)line, (void)area;
  /* libsrt warns about every rejected caller: the listeners log those themselves, with the
   * reason. It also reports, at error level, the srt_accept that ends each accept loop (a
   * non-blocking listener with nothing more pending): not a problem, so debug. */
  lc_log_level lv = level <= LOG_ERR && !strstr(message, "no pending connection") ? LC_LOG_WARN : LC_LOG_DEBUG;
  while (*message == ':' || *message == ' ')
    message++;
  size_t n = strlen(message);
  while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
    n--;
  LC_LOG(lv, NULL, NULL, "libsrt: %.*s", (int)n, message);
}

void
lc_srt_startup(void)
{
  static gsize once;
  if (g_once_init_enter(&once)) {
    srt_setloghandler(NULL, on_srt_log);
    srt_setlogflags(SRT_LOGF_DISABLE_TIME | SRT_LOGF_DISABLE_THREADNAME | SRT_LOGF_DISABLE_SEVERITY |
                    SRT_LOGF_DISABLE_EOL);
    srt_setloglevel(LOG_WARNING);
    g_once_init_leave(&once, 1);
  }
  srt_startup();
}

void
lc_srt_cleanup(void)
{
  srt_cleanup();
}

bool
lc_srt_bind_address(const char *bind, int port, struct sockaddr_storage *ss, int *len)
{
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, bind, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof *s4;
    return true;
  }
  if (inet_pton(AF_INET6, bind, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof *s6;
    return true;
  }
  return false;
}

void
lc_srt_format_addr(const struct sockaddr *sa, char *out, size_t size)
{
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
      getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
    g_snprintf(out, size, "%s:%s", host, serv);
  else
    g_strlcpy(out, "?", size);
}

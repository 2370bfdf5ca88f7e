/* RTP-over-UDP debug tap: see tap.h. */
#include "media/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/errors.h"

struct lc_media_tap {
  lc_rendition *r;
  unsigned sub;
  int fd;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  uint64_t sent, dropped; /* __atomic */
};

static void
tap_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  lc_media_tap *t = user;
  ssize_t n = sendto(t->fd, pkt->data, pkt->len, MSG_DONTWAIT, (struct sockaddr *)&t->addr, t->addr_len);
  if (n == (ssize_t)pkt->len)
    __atomic_add_fetch(&t->sent, 1, __ATOMIC_RELAXED);
  else
    __atomic_add_fetch(&t->dropped, 1, __ATOMIC_RELAXED);
}

lc_media_tap *
lc_media_tap_new(lc_rendition *r, const char *host, int port, char **err)
{
  if (!r || !host || port <= 0 || port > 65535) {
    lc_error_set(err, "tap", "need a rendition, a host and a port in 1..65535");
    return NULL;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  char portstr[8];
  g_snprintf(portstr, sizeof(portstr), "%d", port);
  int rc = getaddrinfo(host, portstr, &hints, &ai);
  if (rc != 0 || !ai) {
    lc_error_set(err, "tap", "bad address '%s': %s", host, gai_strerror(rc));
    return NULL;
  }
  int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    lc_error_set(err, "tap", "socket: %s", g_strerror(errno));
    freeaddrinfo(ai);
    return NULL;
  }
  lc_media_tap *t = g_new0(lc_media_tap, 1);
  t->fd = fd;
  memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
  t->addr_len = ai->ai_addrlen;
  freeaddrinfo(ai);
  t->r = lc_rendition_ref(r);
  t->sub = lc_rendition_subscribe(r, tap_sink, t);
  return t;
}

void
lc_media_tap_free(lc_media_tap *t)
{
  if (!t)
    return;
  lc_rendition_unsubscribe(t->r, t->sub);
  lc_rendition_unref(t->r);
  close(t->fd);
  g_free(t);
}

uint64_t
lc_media_tap_sent(lc_media_tap *t)
{
  return __atomic_load_n(&t->sent, __ATOMIC_RELAXED);
}

uint64_t
lc_media_tap_dropped(lc_media_tap *t)
{
  return __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);
}

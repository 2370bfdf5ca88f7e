/* RTC worker threads: one UDP socket each on the shared media port; each runs the poll loop
 * below, classifies what it receives (RFC 7983) and hands it to ICE (rtc_ice.c), DTLS (here),
 * RTCP feedback (rtc_feedback.c) or WHIP ingest (rtc_whip.c); renditions' packets reach it
 * through its queue (rtc_fanout.c) and leave through its send batch (rtc_send.c). Every 20 ms
 * the tick ends sessions (delete, consent, DTLS timeout), adapts rungs, sends SR/RR. See
 * rtc.h, rtc_worker.h and rtc_worker_int.h.
 *
 * Demultiplexing: the kernel keeps all datagrams of one remote address:port on one worker
 * (SO_REUSEPORT; see rtc_ice.c for why, and for the rare tuples handed over).
 *
 * Memory: once a packet from the peer authenticates (SRTCP from a viewer, SRTP from a
 * publisher) its OpenSSL DTLS state is freed (lc__rtc_worker_dtls_trim; the dtls_held gauge counts
 * the rest).
 * See rtc_fanout.c for the per-packet path. */
#define _GNU_SOURCE /* recvmmsg */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_worker_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/log.h"
#include "rtc/rtc_feedback.h"
#include "rtc/rtc_fanout.h"
#include "rtc/rtc_ice.h"
#include "rtc/rtc_send.h"
#include "rtc/rtc_whip.h"
#include "rtc/rtcp.h"
#include "rtc/stun.h"

#define TICK_US 20000

/* The peer proved it holds the SRTP keys (a packet from it authenticated): our last DTLS flight
 * reached it, so OpenSSL's state (~40 KB) can go. Worker thread. */
void
lc__rtc_worker_dtls_trim(lc__rtc_worker *w, lc__rtc_session *s)
{
  if (!s->dtls_full)
    return;
  lc_dtls_trim(s->dtls);
  s->dtls_full = false;
  __atomic_fetch_sub(&w->ctr->dtls_held, 1, __ATOMIC_RELAXED);
}

static void
on_connected(lc__rtc_worker *w, lc__rtc_session *s)
{
  s->state = LC__RTC_MEDIA;
  s->connected_us = w->now;
  lc__rtc_registry_count_connected(w->reg, s->kind, 1);
  if (s->kind == LC__RTC_WHIP)
    lc__rtc_whip_start(w, s);
  else
    lc__rtc_fanout_join(w, s);
}

/* Tells a connected peer that its session is over, so that a publisher notices at once rather
 * than streaming into a void: an SRTCP compound (empty RR + BYE of our SSRCs) and the DTLS
 * close_notify (sealed at trim time if the DTLS state is trimmed). Worker thread. */
static void
say_goodbye(lc__rtc_worker *w, lc__rtc_session *s, const char *reason)
{
  if (s->state != LC__RTC_MEDIA || !s->srtp || !s->has_addr)
    return;
  uint32_t ssrcs[2];
  size_t n = 0;
  if (s->kind == LC__RTC_WHIP || s->has_video)
    ssrcs[n++] = s->video_ssrc;
  if (s->kind == LC__RTC_WHEP && s->has_audio)
    ssrcs[n++] = s->audio_ssrc;
  uint8_t *o = lc__rtc_send_slot(w);
  size_t len;
  if (n && lc_rtcp_build_bye(o, LC__RTC_SLOT - LC_SRTP_MAX_TRAILER, ssrcs[0], ssrcs, n, reason, &len) == 0)
    lc__rtc_send_rtcp(w, s, o, len);
  lc__rtc_send_flush(w);
  if (s->dtls) {
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    lc_dtls_close(s->dtls, out);
    lc__rtc_send_dtls(w, (struct sockaddr *)&s->addr, s->addr_len, out);
    g_ptr_array_unref(out);
  }
}

/* Ends a session on its worker: every trace in the worker, then the registry. peer_left: the
 * peer ended it (DTLS close_notify, RTCP BYE), so no goodbye is sent back. */
void
lc__rtc_worker_teardown(lc__rtc_worker *w, lc__rtc_session *s, const char *reason, bool peer_left)
{
  if (!peer_left)
    say_goodbye(w, s, reason ? reason : "session deleted");
  lc__rtc_send_flush(w); /* the batch may point at s->addr */
  lc__rtc_ice_drop_tuples(w, s);
  lc__rtc_fanout_detach(&s->video);
  lc__rtc_fanout_detach(&s->audio);
  if (s->kind == LC__RTC_WHIP && s->state == LC__RTC_MEDIA)
    lc__rtc_whip_stop(w, s, reason);
  if (s->state == LC__RTC_MEDIA)
    lc__rtc_registry_count_connected(w->reg, s->kind, -1);
  lc__rtc_registry_count_rung(w->reg, s, "");
  g_clear_pointer(&s->srtp, lc_srtp_free);
  if (s->dtls_full) {
    s->dtls_full = false;
    __atomic_fetch_sub(&w->ctr->dtls_held, 1, __ATOMIC_RELAXED);
  }
  g_clear_pointer(&s->dtls, lc_dtls_free);
  if (s->bwe) {
    lc__rtc_bwe_clear(s->bwe);
    g_clear_pointer(&s->bwe, g_free);
  }
  s->state = LC__RTC_ICE;
  g_atomic_int_set(&s->ended, 1); /* other workers drop their foreign tuples of it */
  LC_INFO(s->room, s->id, "session ended: %s", reason ? reason : "deleted");
  lc__rtc_registry_unregister(w->reg, s, reason);
  g_atomic_int_add(&w->n_sessions, -1);
  g_hash_table_remove(w->sessions, s); /* drops the worker's ref */
}

static void
teardown(lc__rtc_worker *w, lc__rtc_session *s, const char *reason)
{
  lc__rtc_worker_teardown(w, s, reason, false);
}

static void
handle_dtls(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
            socklen_t from_len)
{
  lc__rtc_session *s = lc__rtc_ice_session_by_tuple(w, from);
  if (!s || !s->dtls)
    return;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  lc_dtls_state st = lc_dtls_feed(s->dtls, buf, len, out);
  lc__rtc_send_dtls(w, from, from_len, out);
  g_ptr_array_unref(out);
  if (st == LC_DTLS_CONNECTED && !s->srtp) {
    s->srtp = lc_srtp_new_from_dtls(s->dtls);
    if (!s->srtp) {
      LC__RTC_ADD(w->ctr->dtls_failures, 1);
      teardown(w, s, "SRTP keys unavailable");
      return;
    }
    on_connected(w, s);
  } else if (st == LC_DTLS_FAILED) {
    LC_WARN(s->room, s->id, "DTLS failed: %s", lc_dtls_error(s->dtls) ? lc_dtls_error(s->dtls) : "?");
    LC__RTC_ADD(w->ctr->dtls_failures, 1);
    teardown(w, s, "DTLS failed");
  } else if (st == LC_DTLS_CLOSED) {
    lc__rtc_worker_teardown(w, s, "DTLS closed by the peer", true);
  }
}

void
lc__rtc_worker_datagram(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from,
                        socklen_t from_len)
{
  lc_demux_kind kind = lc_stun_demux(buf, len);
  if (kind != LC_DEMUX_STUN && kind != LC_DEMUX_UNKNOWN && g_hash_table_size(w->foreign) &&
      !lc__rtc_ice_session_by_tuple(w, from) && lc__rtc_ice_forward_foreign(w, buf, len, from, from_len))
    return;
  switch (kind) {
  case LC_DEMUX_STUN:
    lc__rtc_ice_handle_stun(w, buf, len, from, from_len);
    break;
  case LC_DEMUX_DTLS:
    handle_dtls(w, buf, len, from, from_len);
    break;
  case LC_DEMUX_RTCP:
    lc__rtc_feedback_handle_rtcp(w, buf, len, from);
    break;
  case LC_DEMUX_RTP:
    lc__rtc_whip_handle_rtp(w, buf, len, from);
    break;
  default:
    break;
  }
}

static void
receive(lc__rtc_worker *w)
{
  for (int rounds = 0; rounds < 8; rounds++) {
    for (unsigned i = 0; i < LC__RTC_RECV_BATCH; i++) {
      w->riov[i].iov_base = w->rbuf + (size_t)i * LC__RTC_SLOT;
      w->riov[i].iov_len = LC__RTC_SLOT - LC_SRTP_MAX_TRAILER;
      memset(&w->rmsgs[i].msg_hdr, 0, sizeof w->rmsgs[i].msg_hdr);
      w->rmsgs[i].msg_hdr.msg_iov = &w->riov[i];
      w->rmsgs[i].msg_hdr.msg_iovlen = 1;
      w->rmsgs[i].msg_hdr.msg_name = &w->raddr[i];
      w->rmsgs[i].msg_hdr.msg_namelen = sizeof w->raddr[i];
    }
    int n = recvmmsg(w->fd, w->rmsgs, LC__RTC_RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      return;
    LC__RTC_ADD(w->ctr->packets_received, n);
    w->now = g_get_monotonic_time();
    for (int i = 0; i < n; i++) {
      if (w->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC)
        continue;
      lc__rtc_worker_datagram(w, w->rbuf + (size_t)i * LC__RTC_SLOT, w->rmsgs[i].msg_len,
                              (struct sockaddr *)&w->raddr[i], w->rmsgs[i].msg_hdr.msg_namelen);
    }
    if (n < LC__RTC_RECV_BATCH)
      return;
  }
}

static void
tick(lc__rtc_worker *w)
{
  struct timespec cpu;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
    __atomic_store_n(&w->cpu_us, (gint64)cpu.tv_sec * 1000000 + cpu.tv_nsec / 1000, __ATOMIC_RELAXED);
  int64_t consent_us = (int64_t)w->params.consent_timeout_ms * 1000;
  GPtrArray *dead = NULL;
  GPtrArray *why = NULL;
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, w->sessions);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    lc__rtc_session *s = k;
    const char *reason = NULL;
    bool end = false;
    if (g_atomic_int_get(&s->closing)) {
      end = true;
    } else if (w->now - __atomic_load_n(&s->last_consent_us, __ATOMIC_RELAXED) > consent_us) {
      end = true;
      reason = "consent timeout";
      LC__RTC_ADD(w->ctr->consent_timeouts, 1);
    } else if (s->state == LC__RTC_DTLS && s->dtls) {
      int64_t t = lc_dtls_next_timeout(s->dtls);
      if (t >= 0 && t <= w->now) {
        GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
        lc_dtls_state st = lc_dtls_on_timeout(s->dtls, out);
        if (s->has_addr)
          lc__rtc_send_dtls(w, (struct sockaddr *)&s->addr, s->addr_len, out);
        g_ptr_array_unref(out);
        if (st == LC_DTLS_FAILED) {
          end = true;
          reason = "DTLS failed";
          LC__RTC_ADD(w->ctr->dtls_failures, 1);
        }
      }
    } else if (s->state == LC__RTC_MEDIA) {
      if (s->kind == LC__RTC_WHIP) {
        lc__rtc_whip_tick(w, s);
      } else {
        if (g_atomic_int_get(&s->pin_changed))
          s->last_adapt_us = 0;
        lc__rtc_fanout_adapt(w, s);
        lc__rtc_feedback_send_sr(w, s, &s->video);
        lc__rtc_feedback_send_sr(w, s, &s->audio);
      }
    }
    if (end) {
      if (!dead) {
        dead = g_ptr_array_new();
        why = g_ptr_array_new();
      }
      g_ptr_array_add(dead, s);
      g_ptr_array_add(why, (gpointer)reason);
    }
  }
  lc__rtc_send_flush(w);
  if (dead) {
    for (guint i = 0; i < dead->len; i++)
      teardown(w, dead->pdata[i], why->pdata[i]);
    g_ptr_array_unref(dead);
    g_ptr_array_unref(why);
  }
  lc__rtc_fanout_gc(w, false);
  if (w->now >= w->next_foreign_gc) {
    w->next_foreign_gc = w->now + 200000;
    lc__rtc_ice_foreign_gc(w, false);
  }
  if (w->index == 0 && w->now >= w->next_reap) {
    w->next_reap = w->now + 500000;
    unsigned n = lc__rtc_registry_reap_unowned(w->reg, w->now, consent_us);
    LC__RTC_ADD(w->ctr->consent_timeouts, n);
  }
}

static gpointer
worker_main(gpointer data)
{
  lc__rtc_worker *w = data;
  struct pollfd pfd[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->efd, .events = POLLIN}};
  w->now = g_get_monotonic_time();
  w->next_tick = w->now + TICK_US;
  while (!g_atomic_int_get(&w->stop)) {
    int64_t wait_us = w->next_tick - g_get_monotonic_time();
    int timeout = wait_us <= 0 ? 0 : (int)((wait_us + 999) / 1000);
    int r = poll(pfd, 2, timeout);
    w->now = g_get_monotonic_time();
    if (r > 0 && (pfd[1].revents & POLLIN)) {
      uint64_t v;
      if (read(w->efd, &v, sizeof v) < 0) {
        /* EAGAIN: another read got it */
      }
    }
    if (r > 0 && (pfd[0].revents & POLLIN))
      receive(w);
    lc__rtc_ice_drain_handoff(w);
    lc__rtc_fanout_drain(w);
    lc__rtc_send_flush(w);
    if (w->now >= w->next_tick) {
      w->next_tick = w->now + TICK_US;
      tick(w);
    }
  }
  return NULL;
}

static void
session_value_unref(gpointer p)
{
  lc__rtc_session_unref(p);
}

lc__rtc_worker *
lc__rtc_worker_new(const lc__rtc_worker_env *env, int index, const struct sockaddr *addr, socklen_t addr_len,
                   char **err)
{
  int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    lc_error_set(err, "rtc", "socket: %s", g_strerror(errno));
    return NULL;
  }
  int one = 1, buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (addr->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, addr, addr_len) < 0) {
    char host[INET6_ADDRSTRLEN] = "?";
    const void *a = addr->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)addr)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
    inet_ntop(addr->sa_family, a, host, sizeof host);
    int port = ntohs(addr->sa_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
                                                : ((const struct sockaddr_in6 *)addr)->sin6_port);
    lc_error_set(err, "rtc", "bind udp %s port %d: %s", host, port, g_strerror(errno));
    close(fd);
    return NULL;
  }
  struct sockaddr_storage got;
  socklen_t got_len = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &got_len);
  lc__rtc_worker *w = g_new0(lc__rtc_worker, 1);
  w->reg = env->reg;
  w->ctr = env->ctr;
  w->params = env->params;
  w->cert = lc_dtls_cert_ref(env->cert);
  w->index = index;
  w->fd = fd;
  w->port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                           : ((struct sockaddr_in6 *)&got)->sin6_port);
  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_mutex_init(&w->qlock);
  w->qcap = w->params.queue_packets;
  w->q = g_new(lc__rtc_qitem, w->qcap);
  w->drain = g_new(lc__rtc_qitem, w->qcap);
  w->sessions = g_hash_table_new_full(g_direct_hash, g_direct_equal, session_value_unref, NULL);
  w->wsubs = g_hash_table_new(g_direct_hash, g_direct_equal);
  lc__rtc_ice_init(w);
  w->slots = g_malloc((size_t)LC__RTC_SEND_BATCH * LC__RTC_SLOT);
  w->gso = g_getenv("LC_RTC_NO_GSO") == NULL;
  w->rbuf = g_malloc((size_t)LC__RTC_RECV_BATCH * LC__RTC_SLOT);
  return w;
}

int
lc__rtc_worker_port(lc__rtc_worker *w)
{
  return w->port;
}

void
lc__rtc_worker_start(lc__rtc_worker *w)
{
  char name[16];
  g_snprintf(name, sizeof name, "lc-rtc-%d", w->index);
  w->thread = g_thread_new(name, worker_main, w);
}

void
lc__rtc_worker_wake(lc__rtc_worker *w)
{
  uint64_t one = 1;
  if (write(w->efd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is already non-zero, the worker will wake */
  }
}

unsigned
lc__rtc_worker_n_sessions(lc__rtc_worker *w)
{
  return (unsigned)g_atomic_int_get(&w->n_sessions);
}

int64_t
lc__rtc_worker_cpu_us(lc__rtc_worker *w)
{
  return __atomic_load_n(&w->cpu_us, __ATOMIC_RELAXED);
}

void
lc__rtc_worker_stop(lc__rtc_worker *w)
{
  if (!w || !w->thread)
    return;
  g_atomic_int_set(&w->stop, 1);
  lc__rtc_worker_wake(w);
  g_thread_join(w->thread);
  w->thread = NULL;
}

void
lc__rtc_worker_free(lc__rtc_worker *w)
{
  if (!w)
    return;
  lc__rtc_worker_stop(w);
  w->now = g_get_monotonic_time();
  GList *all = g_hash_table_get_keys(w->sessions);
  for (GList *l = all; l; l = l->next)
    teardown(w, l->data, NULL);
  g_list_free(all);
  lc__rtc_fanout_gc(w, true);
  lc__rtc_ice_clear(w);
  for (unsigned i = 0; i < w->qlen; i++)
    lc_pkt_unref(w->q[(w->qhead + i) % w->qcap].pkt);
  g_hash_table_unref(w->sessions);
  g_hash_table_unref(w->wsubs);
  g_mutex_clear(&w->qlock);
  g_free(w->q);
  g_free(w->drain);
  g_free(w->slots);
  g_free(w->rbuf);
  close(w->fd);
  close(w->efd);
  lc_dtls_cert_unref(w->cert);
  g_free(w);
}

/* whep_emulator: WebRTC viewers without a browser, for the fan-out benchmarks.
 *
 * Opens N WHEP sessions against a running livecartd: POST /whep/{room} with a minimal
 * offer (BUNDLE video H.264 PT 102 + audio Opus PT 111, recvonly, rtcp-mux, setup:active),
 * then per session one UDP socket towards the answer's host candidate: an ICE check
 * (USE-CANDIDATE, ICE-CONTROLLING, short-term credentials), the DTLS client handshake,
 * and SRTP reception. Counts packets and bytes per SSRC, loss by sequence gaps, time to the
 * first H.264 keyframe; sends a receiver report every second and a consent check every 5 s.
 * One thread, epoll, non-blocking sockets, recvmmsg; no allocation per packet.
 *
 *   whep_emulator --url http://127.0.0.1:8080 --room demo --viewers 200 --ramp-per-s 50
 *                 --duration 20 [--decrypt-every 1] [--srtp any|gcm|cm] [--join-timeout 10]
 *                 [--rcvbuf BYTES] [--no-delete] [--no-rr] [--verbose]
 *   whep_emulator --self-test     (offer/answer and STUN checks against pipelines/rtc's modules)
 *
 * Prints one JSON object on stdout:
 *   {"viewers":N,"viewers_ok":..,"viewers_failed":..,"failures":{"http":..,"ice":..,"dtls":..,
 *    "no_keyframe":..},"packets":..,"bytes":..,"loss_pct":..,"join_ms_p50":..,"join_ms_p99":..,
 *    "connect_ms_p50":..,"mbps":..,"mbps_per_viewer":..,"srtp_errors":..,"decrypted":..,
 *    "steady_s":..,"plis_sent":..}
 * plis_sent: keyframe requests (PLI) the viewers sent, by a Chromium-like rule: after a lost
 * video packet (no NACK here) or when no keyframe came 1 s after the first video packet, at most
 * one per 500 ms per viewer.
 * join_ms = from sending the offer to the first keyframe packet; connect_ms = to DTLS done.
 * mbps = SRTP bytes received by all viewers during the steady phase (after the last viewer was
 * started) / its length. --decrypt-every K: unprotect 1 RTP packet in K per viewer (every
 * packet until the first keyframe is seen; 0 = none after it); RTCP is always unprotected. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rtc/dtls_srtp.h"
#include "base/errors.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/sdp.h"
#include "rtc/stun.h"

#define VIDEO_PT 102
#define AUDIO_PT 111
#define MAX_TRACKS 4
#define MAX_HTTP_RESPONSE 65536
#define STUN_RTO_MS 100
#define STUN_TRIES 30 /* 3 s of checks without an answer: ICE failed */
#define CONSENT_MS 5000
#define RR_MS 1000
#define DTLS_MTU 1200
#define BATCH 32
#define PKT_CAP 2048

typedef enum {
  S_WAITING = 0, /* not started yet (ramp) */
  S_HTTP,        /* offer being posted */
  S_ICE,         /* checks sent, waiting for the success response */
  S_DTLS,        /* handshake */
  S_MEDIA,       /* SRTP flowing */
  S_FAILED,
} sstate;

typedef enum { F_NONE = 0, F_HTTP, F_ICE, F_DTLS, F_NO_KEYFRAME } failure;

typedef struct {
  uint32_t ssrc;
  bool video;
  uint64_t packets, bytes;
  bool init;
  uint16_t base_seq, max_seq;
  uint32_t cycles;
  uint64_t received;
  uint32_t expected_prior, received_prior; /* for the RR fraction lost */
  uint32_t lsr;                           /* middle 32 bits of the last SR's NTP time */
  int64_t lsr_at;                         /* when it arrived (monotonic us), 0 = none */
} track;

typedef struct session session;
struct session {
  int idx;
  sstate st;
  failure why;
  char *detail; /* first failure message (for --verbose) */
  /* HTTP */
  int http_fd;
  GString *req;
  size_t req_off;
  GByteArray *resp;
  char *location;
  /* ICE */
  char ufrag[17], pwd[25];
  char *srv_ufrag, *srv_pwd, *srv_fp;
  struct sockaddr_in srv;
  int udp_fd;
  uint8_t tid[LC_STUN_TID_LEN];
  int stun_tries;
  int64_t next_stun;
  uint64_t tiebreaker;
  /* DTLS / SRTP */
  lc_dtls *dtls;
  lc_srtp *srtp;
  bool trimmed;
  /* media */
  track tracks[MAX_TRACKS];
  int n_tracks;
  uint32_t our_ssrc;
  uint64_t rtp_seen;
  int64_t t_start, t_connected, t_keyframe;
  int64_t next_rr, next_consent;
  /* Chromium-like keyframe requests (see want_keyframe) */
  uint32_t video_ssrc;
  int64_t t_first_video, last_pli;
  bool pli_wanted;
  unsigned plis;
};

/* epoll data: session index * 2 + (0 = HTTP socket, 1 = UDP socket) */

static struct {
  int viewers;
  double duration_s;
  char *host;
  int port;
  char *room;
  double ramp_per_s;
  int decrypt_every;
  char *srtp;
  double join_timeout_s;
  int rcvbuf;
  bool no_delete;
  bool no_rr;
  bool verbose;
  bool self_test;
} opt = {.viewers = 1, .duration_s = 10, .ramp_per_s = 50, .decrypt_every = 1, .join_timeout_s = 10,
         .rcvbuf = 1 << 20};

static struct sockaddr_in http_addr;
static lc_dtls_cert *cert;
static session *sessions;
static int ep;
static volatile sig_atomic_t stop_flag;
static uint64_t total_packets, total_bytes, srtp_errors, decrypted, total_plis;
static uint8_t scratch[BATCH][PKT_CAP];

static int64_t
now_us(void)
{
  return g_get_monotonic_time();
}

static void
on_signal(int sig)
{
  stop_flag = 1;
}

static void
set_failed(session *s, failure f, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
close_fd(int *fd)
{
  if (*fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
  }
}

static void
set_failed(session *s, failure f, const char *fmt, ...)
{
  if (s->st == S_FAILED)
    return;
  s->st = S_FAILED;
  s->why = f;
  va_list ap;
  va_start(ap, fmt);
  s->detail = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (opt.verbose)
    fprintf(stderr, "viewer %d failed: %s\n", s->idx, s->detail);
  close_fd(&s->http_fd);
  close_fd(&s->udp_fd);
}

/* ---- the offer and the answer ---- */

static void
random_ice_chars(char *out, size_t n)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i++)
    out[i] = alphabet[g_random_int_range(0, 64)];
  out[n] = '\0';
}

static void
append_transport(GString *o, const session *s, const char *fingerprint, int mid)
{
  g_string_append_printf(o,
                         "c=IN IP4 0.0.0.0\r\n"
                         "a=rtcp:9 IN IP4 0.0.0.0\r\n"
                         "a=ice-ufrag:%s\r\n"
                         "a=ice-pwd:%s\r\n"
                         "a=fingerprint:%s\r\n"
                         "a=setup:active\r\n"
                         "a=mid:%d\r\n"
                         "a=recvonly\r\n"
                         "a=rtcp-mux\r\n"
                         "a=rtcp-rsize\r\n",
                         s->ufrag, s->pwd, fingerprint, mid);
}

/* A minimal offer, as a browser viewer would send (without the codecs and extensions we do
 * not need). transfer full. */
static char *
build_offer(const session *s, const char *fingerprint)
{
  GString *o = g_string_new(NULL);
  g_string_append_printf(o,
                         "v=0\r\n"
                         "o=- %" G_GUINT64_FORMAT " 2 IN IP4 127.0.0.1\r\n"
                         "s=-\r\n"
                         "t=0 0\r\n"
                         "a=group:BUNDLE 0 1\r\n"
                         "a=msid-semantic: WMS\r\n",
                         ((guint64)g_random_int() << 20) ^ (guint64)s->idx);
  g_string_append_printf(o, "m=video 9 UDP/TLS/RTP/SAVPF %d\r\n", VIDEO_PT);
  append_transport(o, s, fingerprint, 0);
  g_string_append_printf(o,
                         "a=rtpmap:%d H264/90000\r\n"
                         "a=rtcp-fb:%d nack\r\n"
                         "a=rtcp-fb:%d nack pli\r\n"
                         "a=rtcp-fb:%d ccm fir\r\n"
                         "a=fmtp:%d level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
                         VIDEO_PT, VIDEO_PT, VIDEO_PT, VIDEO_PT, VIDEO_PT);
  g_string_append_printf(o, "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n", AUDIO_PT);
  append_transport(o, s, fingerprint, 1);
  g_string_append_printf(o,
                         "a=rtpmap:%d opus/48000/2\r\n"
                         "a=fmtp:%d minptime=10;useinbandfec=1\r\n",
                         AUDIO_PT, AUDIO_PT);
  return g_string_free(o, FALSE);
}

/* What the emulator needs from the answer. */
typedef struct {
  char *ufrag, *pwd, *fingerprint; /* fingerprint as "sha-256 AB:..." */
  bool ice_lite;
  struct sockaddr_in cand;
  bool has_cand;
} answer_info;

static void
answer_info_clear(answer_info *a)
{
  g_free(a->ufrag);
  g_free(a->pwd);
  g_free(a->fingerprint);
  memset(a, 0, sizeof *a);
}

/* Parses the answer: the first of each transport attribute (BUNDLE: they are the same in
 * every section) and the first IPv4 UDP host candidate. Returns NULL or what is missing. */
static const char *
parse_answer(const char *text, size_t len, answer_info *out)
{
  memset(out, 0, sizeof *out);
  char *copy = g_strndup(text, len);
  char **lines = g_strsplit(copy, "\n", -1);
  g_free(copy);
  for (char **l = lines; *l; l++) {
    g_strchomp(*l); /* CR */
    const char *v;
    if (strcmp(*l, "a=ice-lite") == 0)
      out->ice_lite = true;
    else if (g_str_has_prefix(*l, "a=ice-ufrag:") && !out->ufrag)
      out->ufrag = g_strdup(*l + 12);
    else if (g_str_has_prefix(*l, "a=ice-pwd:") && !out->pwd)
      out->pwd = g_strdup(*l + 10);
    else if (g_str_has_prefix(*l, "a=fingerprint:") && !out->fingerprint) {
      v = *l + 14;
      if (g_ascii_strncasecmp(v, "sha-256 ", 8) == 0)
        out->fingerprint = g_strdup(v);
    } else if (g_str_has_prefix(*l, "a=candidate:") && !out->has_cand) {
      /* a=candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> */
      char **f = g_strsplit(*l + 12, " ", 0);
      if (g_strv_length(f) >= 8 && strcmp(f[1], "1") == 0 && g_ascii_strcasecmp(f[2], "udp") == 0 &&
          strcmp(f[6], "typ") == 0) {
        char *end = NULL;
        long port = strtol(f[5], &end, 10);
        struct in_addr ia;
        if (end && *end == '\0' && port > 0 && port < 65536 && inet_pton(AF_INET, f[4], &ia) == 1) {
          out->cand.sin_family = AF_INET;
          out->cand.sin_addr = ia;
          out->cand.sin_port = htons((uint16_t)port);
          out->has_cand = true;
        }
      }
      g_strfreev(f);
    }
  }
  g_strfreev(lines);
  if (!out->ufrag)
    return "no a=ice-ufrag";
  if (!out->pwd)
    return "no a=ice-pwd";
  if (!out->fingerprint)
    return "no a=fingerprint:sha-256";
  if (!lc_dtls_fingerprint_valid(out->fingerprint))
    return "malformed a=fingerprint";
  if (!out->has_cand)
    return "no IPv4 UDP host a=candidate";
  return NULL;
}

/* ---- HTTP (non-blocking, one request per connection) ---- */

static int
nonblocking_socket(int type)
{
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd;
}

static void
http_start(session *s)
{
  char *offer = build_offer(s, lc_dtls_cert_fingerprint(cert));
  s->req = g_string_new(NULL);
  g_string_append_printf(s->req,
                         "POST /whep/%s HTTP/1.1\r\n"
                         "Host: %s:%d\r\n"
                         "Content-Type: application/sdp\r\n"
                         "Accept: application/sdp\r\n"
                         "Content-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s",
                         opt.room, opt.host, opt.port, strlen(offer), offer);
  g_free(offer);
  s->resp = g_byte_array_new();
  s->t_start = now_us();
  s->st = S_HTTP;
  s->http_fd = nonblocking_socket(SOCK_STREAM);
  if (s->http_fd < 0) {
    set_failed(s, F_HTTP, "socket: %s", g_strerror(errno));
    return;
  }
  if (connect(s->http_fd, (struct sockaddr *)&http_addr, sizeof http_addr) < 0 && errno != EINPROGRESS) {
    set_failed(s, F_HTTP, "connect: %s", g_strerror(errno));
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)s->idx * 2};
  epoll_ctl(ep, EPOLL_CTL_ADD, s->http_fd, &ev);
}

static const char *
find_header(const char *head, const char *name, size_t *vlen)
{
  size_t nl = strlen(name);
  for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
    const char *h = p + 2;
    if (g_ascii_strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
      const char *v = h + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      const char *e = strstr(v, "\r\n");
      *vlen = e ? (size_t)(e - v) : strlen(v);
      return v;
    }
  }
  return NULL;
}

/* Decodes a chunked body in place; returns the decoded length or -1. */
static gssize
dechunk(char *body, size_t len)
{
  size_t in = 0, out = 0;
  for (;;) {
    char *end = NULL;
    if (in >= len)
      return -1;
    unsigned long n = strtoul(body + in, &end, 16);
    char *crlf = g_strstr_len(body + in, (gssize)(len - in), "\r\n");
    if (!crlf || end == body + in)
      return -1;
    in = (size_t)(crlf - body) + 2;
    if (n == 0)
      return (gssize)out;
    if (n > len - in)
      return -1;
    memmove(body + out, body + in, n);
    out += n;
    in += n + 2;
  }
}

static void ice_start(session *s);

/* The whole response is in: status, Location, the answer. */
static void
http_done(session *s)
{
  close_fd(&s->http_fd);
  g_byte_array_append(s->resp, (const guint8 *)"", 1); /* NUL */
  char *text = (char *)s->resp->data;
  char *sep = strstr(text, "\r\n\r\n");
  int status = 0;
  if (!sep || sscanf(text, "HTTP/1.%*d %d", &status) != 1) {
    set_failed(s, F_HTTP, "malformed HTTP response");
    return;
  }
  *sep = '\0';
  char *body = sep + 4;
  size_t body_len = strlen(body);
  size_t vlen;
  const char *te = find_header(text, "Transfer-Encoding", &vlen);
  if (te && vlen >= 7 && g_ascii_strncasecmp(te, "chunked", 7) == 0) {
    gssize n = dechunk(body, body_len);
    if (n < 0) {
      set_failed(s, F_HTTP, "malformed chunked body");
      return;
    }
    body[n] = '\0';
    body_len = (size_t)n;
  }
  if (status != 201 && status != 200) {
    set_failed(s, F_HTTP, "POST /whep/%s: HTTP %d: %.200s", opt.room, status, body);
    return;
  }
  const char *loc = find_header(text, "Location", &vlen);
  if (loc)
    s->location = g_strndup(loc, vlen);
  answer_info a;
  const char *missing = parse_answer(body, body_len, &a);
  if (missing) {
    set_failed(s, F_HTTP, "answer: %s", missing);
    answer_info_clear(&a);
    return;
  }
  s->srv_ufrag = a.ufrag;
  s->srv_pwd = a.pwd;
  s->srv_fp = a.fingerprint;
  s->srv = a.cand;
  g_byte_array_unref(s->resp);
  s->resp = NULL;
  g_string_free(s->req, TRUE);
  s->req = NULL;
  ice_start(s);
}

static void
http_event(session *s, uint32_t events)
{
  if (s->st != S_HTTP)
    return;
  if (s->req_off < s->req->len && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    ssize_t n = send(s->http_fd, s->req->str + s->req_off, s->req->len - s->req_off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      set_failed(s, F_HTTP, "send: %s", g_strerror(errno));
      return;
    }
    if (n > 0)
      s->req_off += (size_t)n;
    if (s->req_off == s->req->len) {
      struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s->idx * 2};
      epoll_ctl(ep, EPOLL_CTL_MOD, s->http_fd, &ev);
    }
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    uint8_t buf[8192];
    for (;;) {
      ssize_t n = recv(s->http_fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (s->resp->len + (size_t)n > MAX_HTTP_RESPONSE) {
          set_failed(s, F_HTTP, "HTTP response larger than %d bytes", MAX_HTTP_RESPONSE);
          return;
        }
        g_byte_array_append(s->resp, buf, (guint)n);
        continue;
      }
      if (n == 0) {
        http_done(s);
        return;
      }
      if (errno == EAGAIN || errno == EINTR)
        break;
      set_failed(s, F_HTTP, "recv: %s", g_strerror(errno));
      return;
    }
    /* Content-Length reached: no need to wait for the close. */
    guint8 nul = 0;
    g_byte_array_append(s->resp, &nul, 1);
    g_byte_array_set_size(s->resp, s->resp->len - 1);
    char *text = (char *)s->resp->data;
    char *sep = g_strstr_len(text, s->resp->len, "\r\n\r\n");
    if (sep) {
      *sep = '\0';
      size_t vlen;
      const char *cl = find_header(text, "Content-Length", &vlen);
      long want = cl ? strtol(cl, NULL, 10) : -1;
      *sep = '\r';
      if (want >= 0 && (size_t)(sep + 4 - text) + (size_t)want <= s->resp->len)
        http_done(s);
    }
  }
}

/* DELETE of the session's resource at the end (blocking, short timeout). */
static void
http_delete(session *s)
{
  if (!s->location)
    return;
  const char *path = s->location;
  if (g_str_has_prefix(path, "http://")) {
    path = strchr(path + 7, '/');
    if (!path)
      return;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&http_addr, sizeof http_addr) == 0) {
    char *req = g_strdup_printf("DELETE %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                path, opt.host, opt.port);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) > 0) {
      char buf[512];
      (void)!recv(fd, buf, sizeof buf, 0);
    }
    g_free(req);
  }
  close(fd);
}

/* ---- ICE ---- */

static void
udp_send(session *s, const void *buf, size_t len)
{
  if (s->udp_fd >= 0 && send(s->udp_fd, buf, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != ECONNREFUSED &&
      opt.verbose)
    fprintf(stderr, "viewer %d: send: %s\n", s->idx, g_strerror(errno));
}

static void
send_binding(session *s, bool use_candidate)
{
  char *user = g_strdup_printf("%s:%s", s->srv_ufrag, s->ufrag);
  lc_stun_request req = {
    .software = NULL,
    .priority = (110u << 24) | (65535u << 8) | 255u, /* host candidate, RFC 8445 5.1.2.1 */
    .controlling = true,
    .tiebreaker = s->tiebreaker,
    .use_candidate = use_candidate,
    .username = user,
    .key = (const uint8_t *)s->srv_pwd,
    .key_len = strlen(s->srv_pwd),
  };
  uint8_t buf[LC_STUN_MAX_RESPONSE + 600];
  size_t len = 0;
  int err = lc_stun_build_request(buf, sizeof buf, s->tid, &req, &len);
  g_free(user);
  if (err) {
    set_failed(s, F_ICE, "cannot build the STUN request (%s)", lc_strerror(err));
    return;
  }
  udp_send(s, buf, len);
}

static void
new_tid(session *s)
{
  for (int i = 0; i < LC_STUN_TID_LEN; i += 4) {
    uint32_t r = g_random_int();
    memcpy(s->tid + i, &r, 4);
  }
}

static void
ice_start(session *s)
{
  s->udp_fd = nonblocking_socket(SOCK_DGRAM);
  if (s->udp_fd < 0) {
    set_failed(s, F_ICE, "socket: %s", g_strerror(errno));
    return;
  }
  int sz = opt.rcvbuf;
  if (setsockopt(s->udp_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
    setsockopt(s->udp_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  struct sockaddr_in local = {.sin_family = AF_INET};
  local.sin_addr.s_addr = s->srv.sin_addr.s_addr == htonl(INADDR_LOOPBACK) ? htonl(INADDR_LOOPBACK) : INADDR_ANY;
  if (bind(s->udp_fd, (struct sockaddr *)&local, sizeof local) < 0 ||
      connect(s->udp_fd, (struct sockaddr *)&s->srv, sizeof s->srv) < 0) {
    set_failed(s, F_ICE, "bind/connect: %s", g_strerror(errno));
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)s->idx * 2 + 1};
  epoll_ctl(ep, EPOLL_CTL_ADD, s->udp_fd, &ev);
  s->st = S_ICE;
  s->tiebreaker = ((uint64_t)g_random_int() << 32) | g_random_int();
  new_tid(s);
  s->stun_tries = 1;
  s->next_stun = now_us() + STUN_RTO_MS * 1000;
  send_binding(s, true);
}

static void
send_out(session *s, GPtrArray *out)
{
  for (guint i = 0; i < out->len; i++) {
    gsize n;
    const void *b = g_bytes_get_data(out->pdata[i], &n);
    udp_send(s, b, n);
  }
  g_ptr_array_set_size(out, 0);
}

static void
dtls_start(session *s)
{
  s->st = S_DTLS;
  s->dtls = lc_dtls_new(cert, LC_DTLS_CLIENT, s->srv_fp, DTLS_MTU);
  if (strcmp(opt.srtp, "gcm") == 0 || strcmp(opt.srtp, "cm") == 0) {
    lc_srtp_profile p = strcmp(opt.srtp, "gcm") == 0 ? LC_SRTP_AEAD_AES_128_GCM : LC_SRTP_AES128_CM_SHA1_80;
    lc_dtls_set_srtp_profiles(s->dtls, &p, 1);
  }
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  lc_dtls_start(s->dtls, out);
  send_out(s, out);
  g_ptr_array_unref(out);
  if (lc_dtls_get_state(s->dtls) == LC_DTLS_FAILED)
    set_failed(s, F_DTLS, "DTLS: %s", lc_dtls_error(s->dtls));
}

static void
on_stun(session *s, const uint8_t *buf, size_t len)
{
  lc_stun_msg m;
  if (lc_stun_parse(buf, len, &m) != 0 || memcmp(m.tid, s->tid, LC_STUN_TID_LEN) != 0)
    return; /* not ours, or an old transaction */
  if (lc_stun_check_integrity(&m, (const uint8_t *)s->srv_pwd, strlen(s->srv_pwd)) != 0) {
    if (s->st == S_ICE && m.type == LC_STUN_BINDING_ERROR)
      set_failed(s, F_ICE, "STUN error %u (without valid MESSAGE-INTEGRITY)", m.error_code);
    return;
  }
  if (m.type == LC_STUN_BINDING_ERROR) {
    if (s->st == S_ICE)
      set_failed(s, F_ICE, "STUN error %u", m.error_code);
    return;
  }
  if (m.type != LC_STUN_BINDING_SUCCESS)
    return;
  new_tid(s); /* the transaction is over: late duplicates are ignored */
  if (s->st == S_ICE) {
    s->next_consent = now_us() + CONSENT_MS * 1000;
    dtls_start(s);
  }
}

/* ---- media ---- */

static track *
get_track(session *s, uint32_t ssrc, bool video)
{
  for (int i = 0; i < s->n_tracks; i++)
    if (s->tracks[i].ssrc == ssrc)
      return &s->tracks[i];
  if (s->n_tracks == MAX_TRACKS)
    return NULL;
  track *t = &s->tracks[s->n_tracks++];
  memset(t, 0, sizeof *t);
  t->ssrc = ssrc;
  t->video = video;
  return t;
}

static void
track_seq(track *t, uint16_t seq)
{
  if (!t->init) {
    t->init = true;
    t->base_seq = t->max_seq = seq;
  } else {
    int16_t d = lc_rtp_seq_diff(t->max_seq, seq);
    if (d > 0) {
      if (seq < t->max_seq)
        t->cycles += 65536;
      t->max_seq = seq;
    }
  }
  t->received++;
}

static uint32_t
track_expected(const track *t)
{
  return t->init ? t->cycles + t->max_seq - t->base_seq + 1 : 0;
}

static void
on_rtp(session *s, uint8_t *buf, size_t len)
{
  if (len < LC_RTP_HEADER_MIN)
    return;
  /* SRTP leaves the header in clear: count and track loss without decrypting. */
  uint8_t pt = buf[1] & 0x7f;
  uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
  uint32_t ssrc = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
  track *t = get_track(s, ssrc, pt == VIDEO_PT);
  if (!t)
    return;
  if (t->packets == 0) /* the track may have been created by an SR */
    t->video = pt == VIDEO_PT;
  if (t->video) {
    if (!s->t_first_video)
      s->t_first_video = now_us();
    s->video_ssrc = ssrc;
    /* A hole in the sequence: this receiver does not NACK, so the frame is lost for it, as it
     * is for a browser whose NACK came too late: it asks for a keyframe. */
    if (t->init && lc_rtp_seq_diff(t->max_seq, seq) > 1)
      s->pli_wanted = true;
  }
  t->packets++;
  t->bytes += len;
  total_packets++;
  total_bytes += len;
  track_seq(t, seq);
  s->rtp_seen++;
  bool want = (t->video && !s->t_keyframe) ||
              (opt.decrypt_every > 0 && s->rtp_seen % (uint64_t)opt.decrypt_every == 0);
  if (!want || !s->srtp)
    return;
  size_t plain = 0;
  if (lc_srtp_unprotect_rtp(s->srtp, buf, len, &plain) != 0) {
    srtp_errors++;
    return;
  }
  decrypted++;
  if (!s->trimmed) { /* the server has our keys in use: its OpenSSL state can go */
    lc_dtls_trim(s->dtls);
    s->trimmed = true;
  }
  lc_rtp_header h;
  if (t->video && !s->t_keyframe && lc_rtp_parse(buf, plain, &h) == 0 &&
      lc_rtp_h264_is_keyframe_start(buf + h.header_len, h.payload_len)) {
    s->t_keyframe = now_us();
    if (opt.verbose)
      fprintf(stderr, "viewer %d: keyframe after %.1f ms\n", s->idx, (s->t_keyframe - s->t_start) / 1000.0);
  }
}

static void
on_rtcp(session *s, uint8_t *buf, size_t len)
{
  size_t plain = 0;
  if (!s->srtp || lc_srtp_unprotect_rtcp(s->srtp, buf, len, &plain) != 0) {
    srtp_errors++;
    return;
  }
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, buf, plain);
  while (lc_rtcp_iter_next(&it, &p) == 1) {
    lc_rtcp_sr sr;
    if (p.kind == LC_RTCP_KIND_SR && lc_rtcp_parse_sr(&p, &sr) == 0) {
      track *t = get_track(s, sr.ssrc, false);
      if (t) {
        t->lsr = (uint32_t)(sr.ntp >> 16);
        t->lsr_at = now_us();
      }
    }
  }
}

static void
put32(uint8_t *p, uint32_t v)
{
  p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v;
}

/* Chromium-like keyframe requests: a PLI when a video packet was lost (no NACK here) or when
 * no keyframe came within 1 s of the first video packet, at most one per 500 ms (Chrome
 * throttles its requests too). Without loss a viewer that joined on a keyframe asks nothing:
 * the server's keyframes per rung then stay at the GOP rate. */
static void
want_keyframe(session *s, int64_t now)
{
  if (!s->t_keyframe && s->t_first_video && now - s->t_first_video > G_USEC_PER_SEC)
    s->pli_wanted = true;
  if (!s->pli_wanted || !s->video_ssrc || !s->srtp || now - s->last_pli < 500000)
    return;
  uint8_t buf[12 + LC_SRTP_MAX_TRAILER];
  size_t len = 0, out = 0;
  if (lc_rtcp_build_pli(buf, 12, s->our_ssrc, s->video_ssrc, &len) != 0 ||
      lc_srtp_protect_rtcp(s->srtp, buf, len, &out) != 0)
    return;
  udp_send(s, buf, out);
  s->pli_wanted = false;
  s->last_pli = now;
  s->plis++;
  total_plis++;
}

/* RFC 3550 6.4.2 receiver report, one block per media SSRC seen. */
static void
send_rr(session *s)
{
  uint8_t buf[8 + 24 * MAX_TRACKS + LC_SRTP_MAX_TRAILER];
  int n = 0;
  int64_t now = now_us();
  for (int i = 0; i < s->n_tracks; i++) {
    track *t = &s->tracks[i];
    if (!t->init)
      continue;
    uint8_t *b = buf + 8 + 24 * n++;
    uint32_t expected = track_expected(t);
    int64_t lost = (int64_t)expected - (int64_t)t->received;
    uint32_t exp_int = expected - t->expected_prior, rec_int = (uint32_t)t->received - t->received_prior;
    t->expected_prior = expected;
    t->received_prior = (uint32_t)t->received;
    int64_t lost_int = (int64_t)exp_int - rec_int;
    uint8_t fraction = exp_int == 0 || lost_int <= 0 ? 0 : (uint8_t)MIN(255, (lost_int << 8) / exp_int);
    lost = CLAMP(lost, -0x800000, 0x7fffff);
    put32(b, t->ssrc);
    put32(b + 4, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xffffff));
    put32(b + 8, t->cycles + t->max_seq);
    put32(b + 12, 0); /* jitter: not measured */
    put32(b + 16, t->lsr_at ? t->lsr : 0);
    put32(b + 20, t->lsr_at ? (uint32_t)((now - t->lsr_at) * 65536 / G_USEC_PER_SEC) : 0);
  }
  size_t len = 8 + 24 * (size_t)n;
  buf[0] = 0x80 | (uint8_t)n;
  buf[1] = LC_RTCP_RR;
  buf[2] = 0;
  buf[3] = (uint8_t)(len / 4 - 1);
  put32(buf + 4, s->our_ssrc);
  size_t out = 0;
  if (lc_srtp_protect_rtcp(s->srtp, buf, len, &out) == 0)
    udp_send(s, buf, out);
}

static void
on_dtls(session *s, const uint8_t *buf, size_t len)
{
  if (!s->dtls)
    return;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  lc_dtls_state st = lc_dtls_feed(s->dtls, buf, len, out);
  send_out(s, out);
  g_ptr_array_unref(out);
  if (st == LC_DTLS_FAILED) {
    set_failed(s, F_DTLS, "DTLS: %s", lc_dtls_error(s->dtls));
  } else if (st == LC_DTLS_CONNECTED && s->st == S_DTLS) {
    s->srtp = lc_srtp_new_from_dtls(s->dtls);
    if (!s->srtp) {
      set_failed(s, F_DTLS, "SRTP: libsrtp refused the keys");
      return;
    }
    s->st = S_MEDIA;
    s->t_connected = now_us();
    s->next_rr = s->t_connected + RR_MS * 1000;
    if (opt.verbose)
      fprintf(stderr, "viewer %d: DTLS done after %.1f ms (%s)\n", s->idx, (s->t_connected - s->t_start) / 1000.0,
              lc_srtp_get_profile(s->srtp) == LC_SRTP_AEAD_AES_128_GCM ? "AEAD_AES_128_GCM" : "AES128_CM_SHA1_80");
  }
}

static void
udp_event(session *s)
{
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int round = 0; round < 4 && s->udp_fd >= 0; round++) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = scratch[i];
      iov[i].iov_len = PKT_CAP;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(s->udp_fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      return;
    for (int i = 0; i < n && s->udp_fd >= 0; i++) {
      uint8_t *b = scratch[i];
      size_t len = msgs[i].msg_len;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
        continue;
      switch (lc_stun_demux(b, len)) {
      case LC_DEMUX_STUN:
        on_stun(s, b, len);
        break;
      case LC_DEMUX_DTLS:
        on_dtls(s, b, len);
        break;
      case LC_DEMUX_RTP:
        if (s->st == S_MEDIA)
          on_rtp(s, b, len);
        break;
      case LC_DEMUX_RTCP:
        if (s->st == S_MEDIA)
          on_rtcp(s, b, len);
        break;
      default:
        break;
      }
    }
    if (n < BATCH)
      return;
  }
}

/* Retransmissions, reports, consent, join deadline. */
static void
timers(session *s, int64_t now)
{
  if (s->st == S_ICE && now >= s->next_stun) {
    if (s->stun_tries >= STUN_TRIES) {
      set_failed(s, F_ICE, "no STUN answer after %d checks", STUN_TRIES);
      return;
    }
    s->stun_tries++;
    s->next_stun = now + STUN_RTO_MS * 1000;
    send_binding(s, true);
  }
  if (s->st == S_DTLS) {
    int64_t t = lc_dtls_next_timeout(s->dtls);
    if (t >= 0 && now >= t) {
      GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
      lc_dtls_state st = lc_dtls_on_timeout(s->dtls, out);
      send_out(s, out);
      g_ptr_array_unref(out);
      if (st == LC_DTLS_FAILED)
        set_failed(s, F_DTLS, "DTLS: %s", lc_dtls_error(s->dtls));
    }
  }
  if (s->st == S_MEDIA && now >= s->next_rr && !opt.no_rr) {
    s->next_rr = now + RR_MS * 1000;
    send_rr(s);
  }
  if (s->st == S_MEDIA && !opt.no_rr)
    want_keyframe(s, now);
  if ((s->st == S_MEDIA || s->st == S_DTLS) && now >= s->next_consent) {
    s->next_consent = now + CONSENT_MS * 1000;
    new_tid(s);
    send_binding(s, false);
  }
  if (s->st != S_FAILED && s->st != S_WAITING && !s->t_keyframe &&
      now - s->t_start > (int64_t)(opt.join_timeout_s * G_USEC_PER_SEC)) {
    failure f = s->st == S_HTTP ? F_HTTP : s->st == S_ICE ? F_ICE : s->st == S_DTLS ? F_DTLS : F_NO_KEYFRAME;
    set_failed(s, f, "no keyframe %.1f s after the offer (state %d)", opt.join_timeout_s, s->st);
  }
}

/* ---- results ---- */

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
percentile(GArray *v, double p)
{
  if (v->len == 0)
    return 0;
  g_array_sort(v, cmp_double);
  size_t i = (size_t)ceil(p / 100.0 * v->len);
  i = i == 0 ? 0 : i - 1;
  return g_array_index(v, double, MIN(i, v->len - 1));
}

static void
report(double steady_s, uint64_t steady_bytes)
{
  int ok = 0, fails[5] = {0};
  uint64_t expected = 0, received = 0;
  GArray *join = g_array_new(FALSE, FALSE, sizeof(double)), *conn = g_array_new(FALSE, FALSE, sizeof(double));
  for (int i = 0; i < opt.viewers; i++) {
    session *s = &sessions[i];
    for (int k = 0; k < s->n_tracks; k++) {
      expected += track_expected(&s->tracks[k]);
      received += s->tracks[k].received;
    }
    if (s->st == S_FAILED) {
      fails[s->why]++;
      continue;
    }
    if (s->st == S_WAITING) {
      fails[F_HTTP]++; /* never started (stopped early) */
      continue;
    }
    if (!s->t_keyframe) {
      fails[s->st == S_MEDIA ? F_NO_KEYFRAME : s->st == S_DTLS ? F_DTLS : s->st == S_ICE ? F_ICE : F_HTTP]++;
      continue;
    }
    ok++;
    double j = (s->t_keyframe - s->t_start) / 1000.0, c = (s->t_connected - s->t_start) / 1000.0;
    g_array_append_val(join, j);
    g_array_append_val(conn, c);
  }
  double loss = expected > 0 && expected > received ? 100.0 * (double)(expected - received) / (double)expected : 0;
  double mbps = steady_s > 0 ? steady_bytes * 8.0 / steady_s / 1e6 : 0;
  printf("{\"viewers\":%d,\"viewers_ok\":%d,\"viewers_failed\":%d,"
         "\"failures\":{\"http\":%d,\"ice\":%d,\"dtls\":%d,\"no_keyframe\":%d},"
         "\"packets\":%" G_GUINT64_FORMAT ",\"bytes\":%" G_GUINT64_FORMAT ",\"loss_pct\":%.3f,"
         "\"join_ms_p50\":%.1f,\"join_ms_p99\":%.1f,\"connect_ms_p50\":%.1f,\"mbps\":%.2f,"
         "\"mbps_per_viewer\":%.3f,\"srtp_errors\":%" G_GUINT64_FORMAT ",\"decrypted\":%" G_GUINT64_FORMAT
         ",\"steady_s\":%.1f,\"plis_sent\":%" G_GUINT64_FORMAT "}\n",
         opt.viewers, ok, opt.viewers - ok, fails[F_HTTP], fails[F_ICE], fails[F_DTLS], fails[F_NO_KEYFRAME],
         total_packets, total_bytes, loss, percentile(join, 50), percentile(join, 99), percentile(conn, 50), mbps,
         ok > 0 ? mbps / ok : 0.0, srtp_errors, decrypted, steady_s, total_plis);
  fflush(stdout);
  g_array_unref(join);
  g_array_unref(conn);
}

static void
session_free(session *s)
{
  close_fd(&s->http_fd);
  close_fd(&s->udp_fd);
  if (s->req)
    g_string_free(s->req, TRUE);
  if (s->resp)
    g_byte_array_unref(s->resp);
  lc_srtp_free(s->srtp);
  lc_dtls_free(s->dtls);
  g_free(s->location);
  g_free(s->srv_ufrag);
  g_free(s->srv_pwd);
  g_free(s->srv_fp);
  g_free(s->detail);
}

/* ---- self-test: the offer through pipelines/rtc's SDP module, STUN both ways ---- */

static int
self_test(void)
{
  session s = {.idx = 0, .http_fd = -1, .udp_fd = -1};
  random_ice_chars(s.ufrag, 16);
  random_ice_chars(s.pwd, 24);
  char *offer = build_offer(&s, lc_dtls_cert_fingerprint(cert));
  lc_sdp_offer *o = NULL;
  char *why = NULL;
  if (lc_sdp_parse(offer, strlen(offer), &o, &why) != 0) {
    fprintf(stderr, "self-test: the offer does not parse: %s\n", why);
    return 1;
  }
  const char *fp = lc_dtls_cert_fingerprint(cert) + strlen("sha-256 ");
  lc_sdp_answer_params par = {
    .role = LC_SDP_ROLE_WHEP_VIEWER, .ice_ufrag = "srvU", .ice_pwd = "0123456789abcdefghijklmn",
    .fingerprint_sha256 = fp, .ip = "127.0.0.1", .port = 8189, .session_id = 1,
    .h264_profile_level_id = 0x42e01f, .want_audio = true, .video_ssrc = 1111, .audio_ssrc = 2222,
  };
  char *answer = NULL;
  lc_sdp_answer_info ai;
  if (lc_sdp_build_answer(o, &par, &answer, &ai, &why) != 0) {
    fprintf(stderr, "self-test: no answer to the offer: %s\n", why);
    return 1;
  }
  if (ai.video_pt != VIDEO_PT || ai.audio_pt != AUDIO_PT || ai.video_index != 0 || ai.audio_index != 1 ||
      strcmp(ai.remote_ufrag, s.ufrag) != 0 || strcmp(ai.remote_pwd, s.pwd) != 0 ||
      strcmp(ai.remote_fingerprint_sha256, fp) != 0) {
    fprintf(stderr, "self-test: the answer info does not match the offer\n");
    return 1;
  }
  answer_info a;
  const char *missing = parse_answer(answer, strlen(answer), &a);
  if (missing || !a.ice_lite || strcmp(a.ufrag, "srvU") != 0 || strcmp(a.pwd, par.ice_pwd) != 0 ||
      ntohs(a.cand.sin_port) != 8189 || a.cand.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
      strcmp(a.fingerprint + 8, fp) != 0) {
    fprintf(stderr, "self-test: answer parse: %s\n%s", missing ? missing : "wrong values", answer);
    return 1;
  }
  /* STUN: our check as the server sees it, its response as we see it. */
  uint8_t req[1024], resp[LC_STUN_MAX_RESPONSE];
  char *user = g_strdup_printf("srvU:%s", s.ufrag);
  lc_stun_request r = {.priority = 1, .controlling = true, .tiebreaker = 42, .use_candidate = true, .username = user,
                       .key = (const uint8_t *)par.ice_pwd, .key_len = strlen(par.ice_pwd)};
  uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  size_t rl = 0, pl = 0;
  lc_stun_msg m;
  struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(5000)};
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lc_stun_build_request(req, sizeof req, tid, &r, &rl) != 0 || lc_stun_parse(req, rl, &m) != 0 ||
      !m.use_candidate || !m.ice_controlling || !m.has_fingerprint || !lc_stun_username_matches(&m, "srvU") ||
      lc_stun_check_integrity(&m, r.key, r.key_len) != 0 ||
      lc_stun_build_binding_success(resp, sizeof resp, tid, (struct sockaddr *)&from, NULL, r.key, r.key_len, &pl) !=
          0 ||
      lc_stun_parse(resp, pl, &m) != 0 || m.type != LC_STUN_BINDING_SUCCESS ||
      lc_stun_check_integrity(&m, r.key, r.key_len) != 0) {
    fprintf(stderr, "self-test: STUN request/response do not check\n");
    return 1;
  }
  printf("{\"self_test\":\"ok\",\"offer_bytes\":%zu,\"answer_bytes\":%zu,\"stun_request_bytes\":%zu}\n",
         strlen(offer), strlen(answer), rl);
  g_free(user);
  answer_info_clear(&a);
  g_free(answer);
  lc_sdp_offer_free(o);
  g_free(offer);
  return 0;
}

/* ---- main ---- */

static bool
parse_url(const char *url)
{
  if (!g_str_has_prefix(url, "http://"))
    return false;
  const char *h = url + 7, *colon = strchr(h, ':'), *slash = strchr(h, '/');
  if (slash && colon && colon > slash)
    colon = NULL;
  const char *hend = colon ? colon : slash ? slash : h + strlen(h);
  opt.host = g_strndup(h, (gsize)(hend - h));
  opt.port = colon ? atoi(colon + 1) : 80;
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (opt.port <= 0 || opt.port > 65535 || getaddrinfo(opt.host, NULL, &hints, &res) != 0 || !res)
    return false;
  memcpy(&http_addr, res->ai_addr, sizeof http_addr);
  http_addr.sin_port = htons((uint16_t)opt.port);
  freeaddrinfo(res);
  return true;
}

int
main(int argc, char **argv)
{
  char *url = NULL;
  double duration = 10, ramp = 50, join_timeout = 10;
  GOptionEntry entries[] = {
    {"viewers", 'n', 0, G_OPTION_ARG_INT, &opt.viewers, "WHEP sessions to open (1)", "N"},
    {"duration", 'd', 0, G_OPTION_ARG_DOUBLE, &duration, "seconds of steady state after the ramp (10)", "S"},
    {"url", 'u', 0, G_OPTION_ARG_STRING, &url, "livecartd's HTTP base, e.g. http://127.0.0.1:8080", "URL"},
    {"room", 'r', 0, G_OPTION_ARG_STRING, &opt.room, "room to watch (demo)", "R"},
    {"ramp-per-s", 0, 0, G_OPTION_ARG_DOUBLE, &ramp, "sessions started per second (50)", "K"},
    {"decrypt-every", 0, 0, G_OPTION_ARG_INT, &opt.decrypt_every,
     "unprotect 1 RTP packet in K (1 = all, 0 = only until the first keyframe)", "K"},
    {"srtp", 0, 0, G_OPTION_ARG_STRING, &opt.srtp, "SRTP profiles offered: any, gcm, cm (any)", "P"},
    {"join-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &join_timeout, "seconds to the first keyframe (10)", "S"},
    {"rcvbuf", 0, 0, G_OPTION_ARG_INT, &opt.rcvbuf, "UDP receive buffer per session (1 MiB)", "BYTES"},
    {"no-delete", 0, 0, G_OPTION_ARG_NONE, &opt.no_delete, "leave the sessions to the consent timeout", NULL},
    {"no-rr", 0, 0, G_OPTION_ARG_NONE, &opt.no_rr,
     "send no RTCP (the server then keeps each viewer's DTLS state: for memory comparisons)", NULL},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "per-viewer events on stderr", NULL},
    {"self-test", 0, 0, G_OPTION_ARG_NONE, &opt.self_test, "check the offer/answer and STUN pieces, no server", NULL},
    {NULL},
  };
  GOptionContext *ctx = g_option_context_new("- WHEP viewer emulator");
  g_option_context_add_main_entries(ctx, entries, NULL);
  GError *gerr = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    fprintf(stderr, "whep_emulator: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  opt.duration_s = duration;
  opt.ramp_per_s = ramp;
  opt.join_timeout_s = join_timeout;
  if (!opt.room)
    opt.room = g_strdup("demo");
  if (!opt.srtp)
    opt.srtp = g_strdup("any");
  char *err = NULL;
  int rc = 0;
  cert = lc_dtls_cert_generate(&err);
  if (!cert) {
    fprintf(stderr, "whep_emulator: %s\n", err);
    g_free(err);
    rc = 1;
    goto out;
  }
  if (opt.self_test) {
    rc = self_test();
    goto out;
  }
  rc = 2;
  if (!url || !parse_url(url)) {
    fprintf(stderr, "whep_emulator: --url http://HOST:PORT is required (IPv4)\n");
    goto out;
  }
  if (opt.viewers < 1 || opt.ramp_per_s <= 0 || opt.decrypt_every < 0 ||
      (strcmp(opt.srtp, "any") && strcmp(opt.srtp, "gcm") && strcmp(opt.srtp, "cm"))) {
    fprintf(stderr, "whep_emulator: bad --viewers, --ramp-per-s, --decrypt-every or --srtp\n");
    goto out;
  }
  for (const char *p = opt.room; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_') {
      fprintf(stderr, "whep_emulator: bad --room (letters, digits, - and _)\n");
      goto out;
    }
  rc = 0;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  ep = epoll_create1(EPOLL_CLOEXEC);
  sessions = g_new0(session, opt.viewers);
  for (int i = 0; i < opt.viewers; i++) {
    session *s = &sessions[i];
    s->idx = i;
    s->http_fd = s->udp_fd = -1;
    random_ice_chars(s->ufrag, 16);
    random_ice_chars(s->pwd, 24);
    s->our_ssrc = g_random_int();
  }
  int64_t t0 = now_us(), ramp_done = 0, last_timers = 0;
  uint64_t bytes_at_ramp_done = 0;
  int started = 0;
  struct epoll_event evs[256];
  while (!stop_flag) {
    int64_t now = now_us();
    while (started < opt.viewers && started < 1 + (int)((now - t0) * opt.ramp_per_s / G_USEC_PER_SEC))
      http_start(&sessions[started++]);
    if (started == opt.viewers && !ramp_done) {
      ramp_done = now;
      bytes_at_ramp_done = total_bytes;
    }
    if (ramp_done && now - ramp_done >= (int64_t)(opt.duration_s * G_USEC_PER_SEC))
      break;
    int n = epoll_wait(ep, evs, G_N_ELEMENTS(evs), 5);
    for (int i = 0; i < n; i++) {
      session *s = &sessions[evs[i].data.u64 / 2];
      if (evs[i].data.u64 % 2 == 0)
        http_event(s, evs[i].events);
      else
        udp_event(s);
    }
    now = now_us();
    if (now - last_timers >= 10000) {
      last_timers = now;
      for (int i = 0; i < started; i++)
        timers(&sessions[i], now);
    }
  }
  int64_t end = now_us();
  double steady_s = ramp_done ? (end - ramp_done) / (double)G_USEC_PER_SEC : 0;
  report(steady_s, total_bytes - bytes_at_ramp_done);
  for (int i = 0; i < opt.viewers; i++) {
    if (!opt.no_delete)
      http_delete(&sessions[i]);
    session_free(&sessions[i]);
  }
  g_free(sessions);
  close(ep);
out:
  if (cert)
    lc_dtls_cert_unref(cert);
  g_free(url);
  g_free(opt.host);
  g_free(opt.room);
  g_free(opt.srtp);
  return rc;
}

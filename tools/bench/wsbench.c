/* wsbench: a light show-channel load generator for tools/bench-commerce.
 *
 * One process, epoll, non-blocking sockets, a minimal websocket client (RFC 6455
 * handshake, masked text frames out, unmasked frames in). Modes:
 *   broadcast N  connect N viewers (hello), then run the control command given on
 *                stdin-less argv (--trigger JSON) and time its arrival at every viewer:
 *                prints {"clients","p50_ms","p99_ms","max_ms","received"}.
 *   purchases C  C signed-in viewers send checkout requests with unique op_ids,
 *                keeping --inflight K each, for --seconds S: prints
 *                {"connections","inflight","seconds","acknowledged","rejected","per_second",
 *                "reply_latency":{p50,p99,max},"rejected_unavailable"} (after a first line
 *                {"started":C} when the timed window begins; the first refusals on stderr).
 *   idle N       connect N viewers, print {"connected":N} and wait for SIGTERM
 *                (the caller measures the server's memory meanwhile).
 * Options: --port P --room R --socket CTL --secret S --sku SKU --trigger JSON
 *          --seconds S --inflight K --match TEXT
 *          --op-prefix X      purchases: op_ids are cX<i>-<k> (runs against the same show
 *                             need distinct ones: a repeated op_id is answered from the first)
 *          --ports P1,P2,...  (cluster mode) viewer i connects to port P[i mod k]; broadcast
 *                             adds "nodes": the same figures per port, and purchases
 *                             "acknowledged_per_node". --port is the first one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"

typedef struct {
  int fd;
  int state; /* 0 handshake, 1 open */
  GByteArray *in;
  double seen_ms; /* broadcast: arrival of the awaited event */
  int inflight;
  long next_op;
  double sent_ms[64]; /* purchases: send time of op k at k % 64 (inflight <= 64) */
  bool welcomed;
} conn;

static struct {
  int port;
  const char *room, *socket_path, *secret, *sku, *trigger, *match, *op_prefix;
  int seconds, inflight;
} opt = {8080, "demo", "var/run/livecart.sock", "", "", NULL, "\"name\":\"flash.started\"", "", 10, 8};

#define MAX_PORTS 16
static int ports[MAX_PORTS], n_ports;

static long acked, rejected, unavailable;
static long acked_by_port[MAX_PORTS];
static GArray *ack_ms; /* purchases: acknowledgement latencies (double ms) */
static int seen_count; /* broadcast: viewers that have seen the awaited event */
static volatile sig_atomic_t stop_flag;

static double
now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
die(const char *what)
{
  perror(what);
  exit(1);
}

static void
send_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      usleep(100);
      continue;
    }
    if (n <= 0)
      die("send");
    p += n;
    len -= (size_t)n;
  }
}

static void
send_text(conn *c, const char *text)
{
  size_t len = strlen(text);
  guint8 hdr[14];
  size_t h = 0;
  hdr[h++] = 0x81;
  if (len < 126) {
    hdr[h++] = 0x80 | (guint8)len;
  } else {
    hdr[h++] = 0x80 | 126;
    hdr[h++] = (guint8)(len >> 8);
    hdr[h++] = (guint8)len;
  }
  guint8 mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(hdr + h, mask, 4);
  h += 4;
  GByteArray *b = g_byte_array_sized_new((guint)(h + len));
  g_byte_array_append(b, hdr, (guint)h);
  for (size_t i = 0; i < len; i++) {
    guint8 x = (guint8)text[i] ^ mask[i % 4];
    g_byte_array_append(b, &x, 1);
  }
  send_all(c->fd, b->data, b->len);
  g_byte_array_free(b, TRUE);
}

static int
connect_ws(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: livecart.v1\r\n\r\n");
  send_all(fd, req, (size_t)n);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static char *
mint(const char *user)
{
  json_t *claims = json_pack("{s:s, s:I}", "sub", user, "exp", (json_int_t)(time(NULL) + 3600));
  char *t = lc_jwt_mint(opt.secret, strlen(opt.secret), claims);
  json_decref(claims);
  return t;
}

static void
send_hello(conn *c, int i, bool signed_in)
{
  char *tok = NULL;
  if (signed_in) {
    char user[32];
    snprintf(user, sizeof user, "bench%d", i);
    tok = mint(user);
  }
  char *msg = g_strdup_printf("{\"type\":\"hello\",\"v\":1,\"room\":\"%s\"%s%s%s}", opt.room,
                              tok ? ",\"token\":\"" : "", tok ? tok : "", tok ? "\"" : "");
  send_text(c, msg);
  g_free(msg);
  g_free(tok);
}

static void
send_checkout(conn *c, int i)
{
  char msg[256];
  snprintf(msg, sizeof msg,
           "{\"type\":\"checkout\",\"op_id\":\"c%s%d-%ld\",\"items\":[{\"sku\":\"%s\",\"qty\":1}]}",
           opt.op_prefix, i, c->next_op, opt.sku);
  c->sent_ms[c->next_op++ % 64] = now_ms();
  send_text(c, msg);
  c->inflight++;
}

/* Handles one complete text message. */
static void
on_message(conn *c, int i, const char *p, size_t len, int mode)
{
  if (!c->welcomed && memmem(p, len, "\"type\":\"welcome\"", 16))
    c->welcomed = true;
  if (mode == 0 && c->seen_ms == 0 && memmem(p, len, opt.match, strlen(opt.match))) {
    c->seen_ms = now_ms();
    seen_count++;
  }
  if (mode == 1 && memmem(p, len, "\"type\":\"reply\"", 14)) {
    char tag[96];
    int tl = snprintf(tag, sizeof tag, "\"op_id\":\"c%.60s%d-", opt.op_prefix, i);
    const char *at = memmem(p, len, tag, (size_t)tl);
    if (at && ack_ms) {
      double ms = now_ms() - c->sent_ms[strtol(at + tl, NULL, 10) % 64];
      g_array_append_val(ack_ms, ms);
    }
    if (memmem(p, len, "\"ok\":true", 9)) {
      acked++;
      acked_by_port[i % n_ports]++;
    } else {
      static const char code[] = "\"code\":\"unavailable\"";
      unavailable += memmem(p, len, code, sizeof code - 1) != NULL;
      if (++rejected <= 3) /* what a refusal says, for the caller's report */
        fprintf(stderr, "refused (connection %d): %.*s\n", i, (int)MIN(len, 400), p);
    }
    c->inflight--;
    if (!stop_flag)
      send_checkout(c, i);
  }
}

/* Parses what arrived; returns -1 when the connection closed. */
static int
pump(conn *c, int i, int mode)
{
  guint8 buf[65536];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0)
      return -1;
    if (n < 0)
      return errno == EAGAIN ? 0 : -1;
    bool drained = (size_t)n < sizeof buf; /* a short read: no need for a recv that says EAGAIN */
    g_byte_array_append(c->in, buf, (guint)n);
    if (c->state == 0) {
      guint8 *end = memmem(c->in->data, c->in->len, "\r\n\r\n", 4);
      if (!end)
        continue;
      if (c->in->len < 12 || memcmp(c->in->data + 9, "101", 3) != 0) {
        fprintf(stderr, "handshake refused: %.*s\n", (int)MIN(c->in->len, 200u), c->in->data);
        exit(1);
      }
      g_byte_array_remove_range(c->in, 0, (guint)(end + 4 - c->in->data));
      c->state = 1;
    }
    for (;;) {
      guint8 *d = c->in->data;
      size_t have = c->in->len, h = 2;
      if (have < 2)
        break;
      guint64 len = d[1] & 0x7f;
      if (len == 126) {
        if (have < 4)
          break;
        len = ((guint64)d[2] << 8) | d[3];
        h = 4;
      } else if (len == 127) {
        if (have < 10)
          break;
        len = 0;
        for (int k = 0; k < 8; k++)
          len = (len << 8) | d[2 + k];
        h = 10;
      }
      if (have < h + len)
        break;
      int opcode = d[0] & 0x0f;
      if (opcode == 8)
        return -1;
      if (opcode == 1)
        on_message(c, i, (const char *)d + h, (size_t)len, mode);
      g_byte_array_remove_range(c->in, 0, (guint)(h + len));
    }
    if (drained && c->state == 1)
      return 0;
  }
}

static void
control_call(const char *json_line)
{
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  g_strlcpy(a.sun_path, opt.socket_path, sizeof a.sun_path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("control socket");
  send_all(fd, json_line, strlen(json_line));
  send_all(fd, "\n", 1);
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0 || !memmem(buf, (size_t)n, "\"ok\":true", 9)) {
    fprintf(stderr, "control command failed: %.*s\n", (int)MAX(n, 0), buf);
    exit(1);
  }
  close(fd);
}

/* Reads one sample ("name value") from the server's /metrics; -1 when missing. */
static double
metric(int port, const char *name)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("metrics connect");
  const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  send_all(fd, req, strlen(req));
  GString *body = g_string_new(NULL);
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    g_string_append_len(body, buf, n);
  close(fd);
  double v = -1;
  char *key = g_strdup_printf("\n%s ", name);
  char *at = strstr(body->str, key);
  if (at)
    v = g_ascii_strtod(at + strlen(key), NULL);
  g_free(key);
  g_string_free(body, TRUE);
  return v;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* p50 / p99 / max of sorted latencies, as the JSON fields (into out). */
static void
percentiles(GString *out, const double *lat, int m)
{
  g_string_append_printf(out, "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f", m ? lat[m / 2] : -1.0,
                         m ? lat[(int)(m * 0.99) < m ? (int)(m * 0.99) : m - 1] : -1.0,
                         m ? lat[m - 1] : -1.0);
}

static void
on_signal(int sig)
{
  stop_flag = 1;
}

int
main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: wsbench broadcast|purchases|idle N [options]\n");
    return 2;
  }
  const char *mode_s = argv[1];
  int n = atoi(argv[2]);
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--port")) opt.port = atoi(v);
    else if (!strcmp(k, "--room")) opt.room = v;
    else if (!strcmp(k, "--socket")) opt.socket_path = v;
    else if (!strcmp(k, "--secret")) opt.secret = v;
    else if (!strcmp(k, "--sku")) opt.sku = v;
    else if (!strcmp(k, "--trigger")) opt.trigger = v;
    else if (!strcmp(k, "--match")) opt.match = v;
    else if (!strcmp(k, "--op-prefix")) opt.op_prefix = v;
    else if (!strcmp(k, "--seconds")) opt.seconds = atoi(v);
    else if (!strcmp(k, "--inflight")) opt.inflight = MIN(atoi(v), 64);
    else if (!strcmp(k, "--ports")) {
      char **parts = g_strsplit(v, ",", -1);
      for (int j = 0; parts[j] && n_ports < MAX_PORTS; j++)
        ports[n_ports++] = atoi(parts[j]);
      g_strfreev(parts);
    }
    else { fprintf(stderr, "unknown option %s\n", k); return 2; }
  }
  int mode = !strcmp(mode_s, "broadcast") ? 0 : !strcmp(mode_s, "purchases") ? 1 : !strcmp(mode_s, "idle") ? 2 : -1;
  if (mode < 0 || n < 1)
    return 2;
  if (n_ports == 0)
    ports[n_ports++] = opt.port;
  opt.port = ports[0];
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int ep = epoll_create1(0);
  conn *cs = g_new0(conn, n);
  struct epoll_event evs[1024];
  /* connect in waves so the server's accept backlog is not overrun */
  int opened = 0;
  while (opened < n) {
    int wave = MIN(n - opened, 500);
    for (int i = opened; i < opened + wave; i++) {
      cs[i].fd = connect_ws(ports[i % n_ports]);
      cs[i].in = g_byte_array_new();
      struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &e);
    }
    /* wait for the handshakes, then say hello */
    int ready = 0;
    double deadline = now_ms() + 30000;
    while (ready < wave && now_ms() < deadline) {
      int k = epoll_wait(ep, evs, 1024, 100);
      for (int j = 0; j < k; j++) {
        int i = (int)evs[j].data.u32;
        int was = cs[i].state;
        if (pump(&cs[i], i, mode) < 0) {
          fprintf(stderr, "connection %d closed during set-up\n", i);
          return 1;
        }
        if (was == 0 && cs[i].state == 1) {
          send_hello(&cs[i], i, mode == 1);
          ready++;
        }
      }
    }
    opened += wave;
  }
  /* wait for every welcome */
  double deadline = now_ms() + 60000;
  for (;;) {
    int welcomed = 0;
    for (int i = 0; i < n; i++)
      welcomed += cs[i].welcomed;
    if (welcomed == n)
      break;
    if (now_ms() > deadline) {
      fprintf(stderr, "only %d of %d welcomed\n", welcomed, n);
      return 1;
    }
    int k = epoll_wait(ep, evs, 1024, 100);
    for (int j = 0; j < k; j++)
      if (pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode) < 0)
        return 1;
  }

  if (mode == 2) {
    printf("{\"connected\":%d}\n", n);
    fflush(stdout);
    while (!stop_flag) {
      int k = epoll_wait(ep, evs, 1024, 200);
      for (int j = 0; j < k; j++)
        pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode);
    }
    return 0;
  }
  if (mode == 0) {
    /* Let the connection storm settle (snapshots out, the throttled viewer count
     * broadcast) so that what is timed is one event reaching a show in progress. */
    double settle = now_ms() + 1500;
    while (now_ms() < settle) {
      int k = epoll_wait(ep, evs, 1024, 20);
      for (int j = 0; j < k; j++)
        pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode);
    }
    for (int i = 0; i < n; i++)
      cs[i].seen_ms = 0;
    seen_count = 0;
    double fan_sum0[MAX_PORTS], fan_cnt0[MAX_PORTS];
    for (int p = 0; p < n_ports; p++) {
      fan_sum0[p] = metric(ports[p], "livecart_show_fanout_seconds_sum");
      fan_cnt0[p] = metric(ports[p], "livecart_show_fanout_seconds_count");
    }
    double t0 = now_ms();
    control_call(opt.trigger);
    double end = now_ms() + 30000;
    while (seen_count < n && now_ms() < end) {
      /* Busy-poll while measuring: a client that sleeps in epoll_wait makes every
       * server send() pay for waking it up, which measures the scheduler. */
      int k = epoll_wait(ep, evs, 1024, 0);
      for (int j = 0; j < k; j++)
        pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode);
    }
    int seen = seen_count;
    double *lat = g_new(double, MAX(seen, 1));
    int m = 0;
    for (int i = 0; i < n; i++)
      if (cs[i].seen_ms > 0)
        lat[m++] = cs[i].seen_ms - t0;
    qsort(lat, (size_t)m, sizeof *lat, cmp_double);
    /* the server's share: the mean fan-out time of the events sent meanwhile, per node */
    double fan_ms[MAX_PORTS], fan_all_s = 0, fan_all_n = 0;
    for (int p = 0; p < n_ports; p++) {
      double cnt = metric(ports[p], "livecart_show_fanout_seconds_count") - fan_cnt0[p];
      double sum = metric(ports[p], "livecart_show_fanout_seconds_sum") - fan_sum0[p];
      fan_ms[p] = cnt > 0 ? sum * 1000 / cnt : -1;
      if (cnt > 0) {
        fan_all_s += sum;
        fan_all_n += cnt;
      }
    }
    GString *out = g_string_new(NULL);
    g_string_append_printf(out, "{\"clients\":%d,\"received\":%d,\"server_fanout_ms\":%.2f,", n, m,
                           n_ports == 1 ? fan_ms[0] : fan_all_n > 0 ? fan_all_s * 1000 / fan_all_n : -1.0);
    percentiles(out, lat, m);
    if (n_ports > 1) {
      g_string_append(out, ",\"nodes\":[");
      for (int p = 0; p < n_ports; p++) {
        int k = 0;
        for (int i = p; i < n; i += n_ports)
          if (cs[i].seen_ms > 0)
            lat[k++] = cs[i].seen_ms - t0;
        qsort(lat, (size_t)k, sizeof *lat, cmp_double);
        int clients = (n - p + n_ports - 1) / n_ports;
        g_string_append_printf(out, "%s{\"port\":%d,\"clients\":%d,\"received\":%d,\"server_fanout_ms\":%.2f,",
                               p ? "," : "", ports[p], clients, k, fan_ms[p]);
        percentiles(out, lat, k);
        g_string_append(out, "}");
      }
      g_string_append(out, "]");
    }
    printf("%s}\n", out->str);
    g_string_free(out, TRUE);
    return m == n ? 0 : 1;
  }
  /* purchases: a first line when the timed window starts (callers that sample the
   * servers' CPU over the window wait for it; the result is the last line) */
  printf("{\"started\":%d}\n", n);
  fflush(stdout);
  ack_ms = g_array_new(FALSE, FALSE, sizeof(double));
  for (int i = 0; i < n; i++)
    for (int k = 0; k < opt.inflight; k++)
      send_checkout(&cs[i], i);
  double t0 = now_ms(), end = t0 + opt.seconds * 1000.0;
  long acked0 = acked;
  while (now_ms() < end) {
    int k = epoll_wait(ep, evs, 1024, 50);
    for (int j = 0; j < k; j++)
      if (pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode) < 0) {
        fprintf(stderr, "a buyer connection closed\n");
        return 1;
      }
  }
  double secs = (now_ms() - t0) / 1000.0;
  printf("{\"connections\":%d,\"inflight\":%d,\"seconds\":%.2f,\"acknowledged\":%ld,\"rejected\":%ld,"
         "\"per_second\":%.0f",
         n, opt.inflight, secs, acked - acked0, rejected, (acked - acked0) / secs);
  /* the time from sending a checkout to its answer, over every answer of the window */
  g_array_sort(ack_ms, cmp_double);
  GString *lat = g_string_new(NULL);
  percentiles(lat, (const double *)(void *)ack_ms->data, (int)ack_ms->len);
  printf(",\"reply_latency\":{%s},\"rejected_unavailable\":%ld", lat->str, unavailable);
  g_string_free(lat, TRUE);
  if (n_ports > 1) {
    printf(",\"acknowledged_per_node\":[");
    for (int p = 0; p < n_ports; p++)
      printf("%s%ld", p ? "," : "", acked_by_port[p]);
    printf("]");
  }
  printf("}\n");
  return 0;
}

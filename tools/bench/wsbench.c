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
 *   once C       C signed-in viewers (bench0..) send --message once each (op_id o<prefix><i>) and
 *                print every reply, one line each (e.g. wallet top-ups the caller then pays).
 *   stream N     --senders S signed-in viewers (bench0..benchS-1) send --message --rate times a
 *                second each for --seconds, while N anonymous viewers watch: prints the requests
 *                sent/acknowledged, the messages and --match events per watching viewer per
 *                second, the server's fan-out time per second, and with --combos 1 the delivery
 *                latency of each acknowledged gift to every --sample'th viewer (send of gift.send
 *                to the arrival of a `gifts` event whose combo count covers the gift's `combo`).
 * Options: --port P --room R --socket CTL --secret S --sku SKU --trigger JSON
 *          --seconds S --inflight K --match TEXT
 *          --op-prefix X      purchases: op_ids are cX<i>-<k> (runs against the same show
 *                             need distinct ones: a repeated op_id is answered from the first)
 *          --message FIELDS   purchases, once, stream: the request's JSON fields after the op_id
 *                             (e.g. '"type":"gift.send","gift_id":"rose","count":1'); purchases
 *                             sends a checkout of --sku without it
 *          --senders S --rate R --sample K --combos 0|1   stream
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
  const char *room, *socket_path, *secret, *sku, *trigger, *match, *op_prefix, *message;
  int seconds, inflight, senders, sample, combos;
  double rate;
} opt = {8080, "demo", "var/run/livecart.sock", "", "", NULL, "\"name\":\"flash.started\"", "", NULL, 10, 8, 1, 10, 0,
         4.0};

#define MAX_PORTS 16
static int ports[MAX_PORTS], n_ports;

static long acked, rejected, unavailable;
static long acked_by_port[MAX_PORTS];
static GArray *ack_ms; /* purchases: acknowledgement latencies (double ms) */
static int seen_count; /* broadcast: viewers that have seen the awaited event */
static volatile sig_atomic_t stop_flag;

/* once: the replies, as received */
static GPtrArray *once_lines;
/* stream: connections 0..senders-1 send, the others watch */
static bool in_window, draining;
static long *msgs_in_window, *matched_in_window; /* per connection */
static long stream_sent, stream_acked, stream_rejected;
static GArray **send_times;   /* per sender: the send time (double ms) of its op k at index k */
static GHashTable *gift_sent; /* "combo_id#n" -> double ms: when the gift that made the combo n was sent */
typedef struct {
  int viewer;
  int combo; /* index into combo_ids */
  gint64 count;
  double at;
} combo_seen;
static GArray *seen_combos;   /* what sampled viewers saw, in arrival order */
static GHashTable *combo_index; /* combo id -> index + 1 */
static GPtrArray *combo_ids;

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
  char msg[512];
  if (opt.message)
    snprintf(msg, sizeof msg, "{\"op_id\":\"c%s%d-%ld\",%s}", opt.op_prefix, i, c->next_op, opt.message);
  else
    snprintf(msg, sizeof msg,
             "{\"type\":\"checkout\",\"op_id\":\"c%s%d-%ld\",\"items\":[{\"sku\":\"%s\",\"qty\":1}]}",
             opt.op_prefix, i, c->next_op, opt.sku);
  c->sent_ms[c->next_op++ % 64] = now_ms();
  send_text(c, msg);
  c->inflight++;
}

static double
op_sent_ms(int sender, const char *op_id)
{
  const char *dash = op_id ? strrchr(op_id, '-') : NULL;
  if (!dash)
    return -1;
  long k = strtol(dash + 1, NULL, 10);
  GArray *a = send_times[sender];
  return k >= 0 && (guint)k < a->len ? g_array_index(a, double, k) : -1;
}

/* stream: a sender's answer; with --combos, which combo count its gift made */
static void
on_stream_reply(int i, const char *p, size_t len)
{
  json_t *m = json_loadb(p, len, 0, NULL);
  if (!m)
    return;
  if (json_is_true(json_object_get(m, "ok"))) {
    stream_acked++;
    json_t *gift = json_object_get(json_object_get(m, "result"), "gift");
    const char *cid = json_string_value(json_object_get(gift, "combo_id"));
    json_int_t n = json_integer_value(json_object_get(gift, "combo"));
    double sent = op_sent_ms(i, json_string_value(json_object_get(m, "op_id")));
    if (opt.combos && cid && n > 0 && sent > 0) {
      double *v = g_new(double, 1);
      *v = sent;
      g_hash_table_replace(gift_sent, g_strdup_printf("%s#%" JSON_INTEGER_FORMAT, cid, n), v);
    }
  } else if (++stream_rejected <= 3) {
    fprintf(stderr, "refused (sender %d): %.*s\n", i, (int)MIN(len, 400), p);
  }
  json_decref(m);
}

/* stream: the combos of a `gifts` event as a sampled viewer sees them */
static void
on_gifts_event(int i, const char *p, size_t len)
{
  double at = now_ms();
  json_t *m = json_loadb(p, len, 0, NULL);
  json_t *combos = json_object_get(json_object_get(m, "data"), "combos");
  size_t k;
  json_t *cb;
  json_array_foreach(combos, k, cb) {
    const char *id = json_string_value(json_object_get(cb, "id"));
    if (!id)
      continue;
    int idx = GPOINTER_TO_INT(g_hash_table_lookup(combo_index, id));
    if (!idx) {
      g_ptr_array_add(combo_ids, g_strdup(id));
      idx = (int)combo_ids->len;
      g_hash_table_insert(combo_index, g_strdup(id), GINT_TO_POINTER(idx));
    }
    combo_seen x = {i, idx - 1, json_integer_value(json_object_get(cb, "count")), at};
    g_array_append_val(seen_combos, x);
  }
  json_decref(m);
}

/* Handles one complete text message. */
static void
on_message(conn *c, int i, const char *p, size_t len, int mode)
{
  if (mode == 3 && c->welcomed && memmem(p, len, "\"type\":\"reply\"", 14)) {
    g_ptr_array_add(once_lines, g_strndup(p, len));
    return;
  }
  if (mode == 4 && c->welcomed) {
    if (i < opt.senders) {
      if (memmem(p, len, "\"type\":\"reply\"", 14))
        on_stream_reply(i, p, len);
      return;
    }
    bool match = memmem(p, len, opt.match, strlen(opt.match)) != NULL;
    if (in_window) {
      msgs_in_window[i]++;
      matched_in_window[i] += match;
    }
    if (opt.combos && (in_window || draining) && (i - opt.senders) % opt.sample == 0 &&
        memmem(p, len, "\"name\":\"gifts\"", 14))
      on_gifts_event(i, p, len);
    return;
  }
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

static void
send_stream(conn *c, int i)
{
  char msg[512];
  snprintf(msg, sizeof msg, "{\"op_id\":\"g%s%d-%ld\",%s}", opt.op_prefix, i, c->next_op, opt.message);
  double t = now_ms();
  g_array_append_val(send_times[i], t); /* index next_op */
  c->next_op++;
  send_text(c, msg);
  stream_sent++;
}

static int
cmp_combo_seen(const void *a, const void *b)
{
  const combo_seen *x = a, *y = b;
  if (x->viewer != y->viewer)
    return x->viewer < y->viewer ? -1 : 1;
  if (x->combo != y->combo)
    return x->combo < y->combo ? -1 : 1;
  return x->at < y->at ? -1 : x->at > y->at; /* stable in arrival order */
}

/* stream: senders send for --seconds at --rate each while the others watch; then 2 s of drain
 * so that the last combos reach the viewers. */
static int
run_stream(int ep, conn *cs, int n)
{
  struct epoll_event evs[1024];
  int viewers = n - opt.senders;
  msgs_in_window = g_new0(long, n);
  matched_in_window = g_new0(long, n);
  double settle = now_ms() + 1500;
  while (now_ms() < settle) {
    int k = epoll_wait(ep, evs, 1024, 20);
    for (int j = 0; j < k; j++)
      pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, 4);
  }
  double fan_sum0 = metric(opt.port, "livecart_show_fanout_seconds_sum");
  double fan_cnt0 = metric(opt.port, "livecart_show_fanout_seconds_count");
  double interval = 1000.0 / opt.rate;
  double *next = g_new(double, MAX(opt.senders, 1));
  double t0 = now_ms(), end = t0 + opt.seconds * 1000.0;
  for (int i = 0; i < opt.senders; i++)
    next[i] = t0 + interval * i / opt.senders; /* staggered over one interval */
  in_window = true;
  long acked0 = stream_acked;
  for (;;) {
    double now = now_ms();
    if (now >= end)
      break;
    for (int i = 0; i < opt.senders; i++)
      while (next[i] <= now) {
        send_stream(&cs[i], i);
        next[i] += interval;
      }
    int k = epoll_wait(ep, evs, 1024, 1);
    for (int j = 0; j < k; j++)
      if (pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, 4) < 0) {
        fprintf(stderr, "connection %u closed during the window\n", evs[j].data.u32);
        return 1;
      }
  }
  double secs = (now_ms() - t0) / 1000.0;
  in_window = false;
  long acked_window = stream_acked - acked0;
  double fan_sum1 = metric(opt.port, "livecart_show_fanout_seconds_sum");
  double fan_cnt1 = metric(opt.port, "livecart_show_fanout_seconds_count");
  draining = true;
  double drain = now_ms() + 2000;
  while (now_ms() < drain) {
    int k = epoll_wait(ep, evs, 1024, 10);
    for (int j = 0; j < k; j++)
      pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, 4);
  }
  long msgs = 0, matched = 0;
  for (int i = opt.senders; i < n; i++) {
    msgs += msgs_in_window[i];
    matched += matched_in_window[i];
  }
  GString *out = g_string_new(NULL);
  g_string_append_printf(out,
                         "{\"viewers\":%d,\"senders\":%d,\"rate_per_sender\":%.2f,\"seconds\":%.2f,\"sent\":%ld,"
                         "\"acknowledged\":%ld,\"acknowledged_in_window\":%ld,\"rejected\":%ld,\"per_second\":%.1f,"
                         "\"messages_per_viewer_per_s\":%.3f,\"events_per_viewer_per_s\":%.3f,"
                         "\"fanouts\":%.0f,\"server_fanout_ms\":%.2f,\"server_fanout_ms_per_s\":%.1f",
                         viewers, opt.senders, opt.rate, secs, stream_sent, stream_acked, acked_window,
                         stream_rejected, acked_window / secs, msgs / (double)MAX(viewers, 1) / secs,
                         matched / (double)MAX(viewers, 1) / secs, fan_cnt1 - fan_cnt0,
                         fan_cnt1 > fan_cnt0 ? (fan_sum1 - fan_sum0) * 1000 / (fan_cnt1 - fan_cnt0) : -1.0,
                         (fan_sum1 - fan_sum0) * 1000 / secs);
  if (opt.combos) {
    /* per (sampled viewer, combo), in arrival order: the gifts n in (last count, count] arrived now */
    g_array_sort(seen_combos, cmp_combo_seen);
    GArray *lat = g_array_new(FALSE, FALSE, sizeof(double));
    int prev_v = -1, prev_c = -1;
    gint64 last = 0;
    for (guint k = 0; k < seen_combos->len; k++) {
      combo_seen *x = &g_array_index(seen_combos, combo_seen, k);
      if (x->viewer != prev_v || x->combo != prev_c)
        last = 0;
      prev_v = x->viewer;
      prev_c = x->combo;
      for (gint64 g = last + 1; g <= x->count; g++) {
        char key[160];
        snprintf(key, sizeof key, "%s#%" G_GINT64_FORMAT, (const char *)g_ptr_array_index(combo_ids, x->combo), g);
        double *sent = g_hash_table_lookup(gift_sent, key);
        if (sent) {
          double ms = x->at - *sent;
          g_array_append_val(lat, ms);
        }
      }
      last = MAX(last, x->count);
    }
    int sampled = (viewers + opt.sample - 1) / opt.sample;
    long expected = (long)g_hash_table_size(gift_sent) * sampled;
    g_array_sort(lat, cmp_double);
    g_string_append_printf(out, ",\"sampled_viewers\":%d,\"latency_samples\":%u,\"undelivered\":%ld,\"latency\":{",
                           sampled, lat->len, expected - (long)lat->len);
    percentiles(out, (const double *)(void *)lat->data, (int)lat->len);
    g_string_append(out, "}");
  }
  printf("%s}\n", out->str);
  return 0;
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
    else if (!strcmp(k, "--message")) opt.message = v;
    else if (!strcmp(k, "--senders")) opt.senders = MAX(atoi(v), 0);
    else if (!strcmp(k, "--rate")) opt.rate = g_ascii_strtod(v, NULL);
    else if (!strcmp(k, "--sample")) opt.sample = MAX(atoi(v), 1);
    else if (!strcmp(k, "--combos")) opt.combos = atoi(v);
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
  int mode = !strcmp(mode_s, "broadcast") ? 0 : !strcmp(mode_s, "purchases") ? 1 : !strcmp(mode_s, "idle") ? 2
           : !strcmp(mode_s, "once") ? 3 : !strcmp(mode_s, "stream") ? 4 : -1;
  if (mode < 0 || n < 1)
    return 2;
  if ((mode == 3 || mode == 4) && !opt.message) {
    fprintf(stderr, "%s needs --message\n", mode_s);
    return 2;
  }
  if (mode == 4) {
    if (opt.rate <= 0) {
      fprintf(stderr, "stream needs --rate > 0\n");
      return 2;
    }
    n += opt.senders; /* connections 0..senders-1 send, the rest watch */
    send_times = g_new0(GArray *, MAX(opt.senders, 1));
    for (int i = 0; i < opt.senders; i++)
      send_times[i] = g_array_new(FALSE, FALSE, sizeof(double));
    gift_sent = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    seen_combos = g_array_new(FALSE, FALSE, sizeof(combo_seen));
    combo_index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    combo_ids = g_ptr_array_new_with_free_func(g_free);
  }
  once_lines = g_ptr_array_new_with_free_func(g_free);
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
          send_hello(&cs[i], i, mode == 1 || mode == 3 || (mode == 4 && i < opt.senders));
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

  if (mode == 3) {
    for (int i = 0; i < n; i++) {
      char *msg = g_strdup_printf("{\"op_id\":\"o%s%d\",%s}", opt.op_prefix, i, opt.message);
      send_text(&cs[i], msg);
      g_free(msg);
    }
    double until = now_ms() + 60000;
    while ((int)once_lines->len < n && now_ms() < until) {
      int k = epoll_wait(ep, evs, 1024, 50);
      for (int j = 0; j < k; j++)
        if (pump(&cs[evs[j].data.u32], (int)evs[j].data.u32, mode) < 0)
          return 1;
    }
    for (guint i = 0; i < once_lines->len; i++)
      printf("%s\n", (const char *)g_ptr_array_index(once_lines, i));
    return (int)once_lines->len == n ? 0 : 1;
  }
  if (mode == 4)
    return run_stream(ep, cs, n);
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

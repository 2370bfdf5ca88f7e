/* lc_rtc over real sockets on 127.0.0.1: a test client does what a browser does (STUN check,
 * DTLS client, SRTP) against a room fed with synthetic H.264-looking RTP. */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtc/dtls_srtp.h"
#include "base/errors.h"
#include "media/hub.h"
#include "rtc/rtc.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/sdp.h"
#include "rtc/stun.h"

/* ---------------------------------------------------------------- fixture */

typedef struct {
  lc_media_hub *hub;
  lc_media_room *room;
  lc_rendition *hi, *lo, *audio;
  lc_rtc *rtc;
  gint kf_hi, kf_lo;
  uint16_t seq_hi, seq_lo, seq_a;
  uint32_t ts_hi, ts_lo, ts_a;
  GMutex closed_lock;
  GPtrArray *closed; /* ids reported by the closed callback (closed_lock) */
} fixture;

/* The closed callback (a worker thread): remembers the id. */
static void
on_closed(const char *id, const char *reason, gpointer user)
{
  fixture *f = user;
  g_assert_nonnull(reason);
  g_mutex_lock(&f->closed_lock);
  g_ptr_array_add(f->closed, g_strdup(id));
  g_mutex_unlock(&f->closed_lock);
}

/* The ids reported closed since the last call (NULL-terminated, g_strfreev), or NULL if none. */
static char **
take_closed(fixture *f)
{
  g_mutex_lock(&f->closed_lock);
  char **out = NULL;
  if (f->closed->len) {
    g_ptr_array_add(f->closed, NULL);
    out = (char **)g_ptr_array_steal(f->closed, NULL);
  }
  g_mutex_unlock(&f->closed_lock);
  return out;
}

/* Viewers of the rung called name in the stats (0 when it is not listed). */
static unsigned
rung_viewers(lc_rtc *rtc, const char *name)
{
  lc_rtc_stats st;
  lc_rtc_get_stats(rtc, &st);
  for (unsigned i = 0; i < st.n_rungs; i++)
    if (strcmp(st.rungs[i].name, name) == 0)
      return st.rungs[i].viewers;
  return 0;
}

static void
kf_fn(lc_rendition *r, gpointer user)
{
  g_atomic_int_inc((gint *)user);
}

static lc_rendition *
add_rendition(fixture *f, const char *name, lc_media_kind kind, int kbps)
{
  lc_rendition_info info = {0};
  g_strlcpy(info.name, name, sizeof info.name);
  info.kind = kind;
  info.clock_rate = kind == LC_MEDIA_VIDEO ? 90000 : 48000;
  info.payload_type = kind == LC_MEDIA_VIDEO ? LC_MEDIA_PT_H264 : LC_MEDIA_PT_OPUS;
  info.bitrate_kbps = kbps;
  info.channels = kind == LC_MEDIA_AUDIO ? 2 : 0;
  if (kind == LC_MEDIA_VIDEO)
    g_strlcpy(info.fmtp, "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1",
              sizeof info.fmtp);
  lc_rendition *r = lc_rendition_new(&info, 2000);
  lc_media_room_add(f->room, r);
  lc_rendition_unref(r);
  r = lc_media_room_find(f->room, name);
  lc_rendition_set_keyframe_throttle(r, 0);
  lc_rendition_set_live(r, true);
  return r;
}

static void
fixture_init(fixture *f, unsigned consent_ms, unsigned workers)
{
  memset(f, 0, sizeof *f);
  f->hub = lc_media_hub_new();
  f->room = lc_media_hub_open(f->hub, "r1");
  f->hi = add_rendition(f, "720p", LC_MEDIA_VIDEO, 2500);
  f->lo = add_rendition(f, "360p", LC_MEDIA_VIDEO, 600);
  f->audio = add_rendition(f, "opus", LC_MEDIA_AUDIO, 64);
  lc_rendition_set_keyframe_fn(f->hi, kf_fn, &f->kf_hi);
  lc_rendition_set_keyframe_fn(f->lo, kf_fn, &f->kf_lo);
  lc_rtc_config cfg = {.bind = "127.0.0.1", .port = 0, .workers = workers, .consent_timeout_ms = consent_ms};
  char *err = NULL;
  f->rtc = lc_rtc_new(&cfg, f->hub, &err);
  if (!f->rtc)
    g_error("lc_rtc_new: %s", err);
  g_assert_cmpint(lc_rtc_port(f->rtc), >, 0);
  g_mutex_init(&f->closed_lock);
  f->closed = g_ptr_array_new_with_free_func(g_free);
  lc_rtc_set_closed_notify(f->rtc, on_closed, f);
}

static void
fixture_clear(fixture *f)
{
  lc_rtc_free(f->rtc);
  g_ptr_array_unref(f->closed);
  g_mutex_clear(&f->closed_lock);
  lc_rendition_set_keyframe_fn(f->hi, NULL, NULL);
  lc_rendition_set_keyframe_fn(f->lo, NULL, NULL);
  lc_media_hub_free(f->hub);
}

/* The age push() gives its packets (as a relay's replay of its upstream's cache does). */
static int64_t push_age_us;

/* One synthetic RTP packet into r: a keyframe starts with an FU-A IDR start fragment. */
static void
push(lc_rendition *r, uint16_t *seq, uint32_t ts, bool keyframe, bool marker, bool video)
{
  uint8_t b[400];
  memset(b, 0xAB, sizeof b);
  b[0] = 0x80;
  b[1] = (uint8_t)((marker ? 0x80 : 0) | (video ? 96 : 111));
  b[2] = (uint8_t)(*seq >> 8);
  b[3] = (uint8_t)*seq;
  b[4] = (uint8_t)(ts >> 24);
  b[5] = (uint8_t)(ts >> 16);
  b[6] = (uint8_t)(ts >> 8);
  b[7] = (uint8_t)ts;
  b[8] = 0x11;
  b[9] = 0x22;
  b[10] = 0x33;
  b[11] = 0x44;
  if (video) {
    b[12] = keyframe ? 0x7C : 0x41; /* FU-A (NRI 3) or a non-IDR slice */
    b[13] = keyframe ? 0x85 : 0x9A; /* S bit + IDR */
  }
  (*seq)++;
  lc_rendition_push_rtp_aged(r, b, video ? sizeof b : 120, keyframe, push_age_us);
}

/* A frame of n packets (the first is the keyframe start when keyframe). */
static void
push_frame(lc_rendition *r, uint16_t *seq, uint32_t *ts, bool keyframe, int n)
{
  for (int i = 0; i < n; i++)
    push(r, seq, *ts, keyframe && i == 0, i == n - 1, true);
  *ts += 3000;
}

/* ---------------------------------------------------------------- client */

typedef struct {
  uint16_t seq;
  uint32_t ssrc, ts;
  uint8_t pt;
  bool keyframe;
  bool twcc; /* carries the transport-cc extension (id 3) */
} rx_pkt;

typedef struct {
  int fd;
  struct sockaddr_in srv;
  char ufrag[16], pwd[40];
  char *srv_ufrag, *srv_pwd;
  uint32_t video_ssrc, audio_ssrc;
  char *id;
  char *answer;
  lc_dtls_cert *cert;
  lc_dtls *dtls;
  lc_srtp *srtp;
  GArray *video, *audio; /* rx_pkt */
  GArray *rtcp_kinds;    /* int */
  int stun_ok, stun_err;
  unsigned rtp_seen;   /* RTP datagrams seen (before SRTP) */
  unsigned drop_at[2]; /* simulate loss: drop the RTP datagrams with these 1-based indexes */
  uint16_t dropped[2]; /* their sequence numbers */
  unsigned n_dropped;
} client;

static const char OFFER_TEMPLATE[] =
    "v=0\r\n"
    "o=- 2981723452512468733 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE video0 audio1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=setup:actpass\r\n"
    "a=ice-ufrag:@UFRAG@\r\n"
    "a=ice-pwd:@PWD@\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=@DIR@\r\n"
    "@EXT@"
    "a=rtpmap:102 H264/90000\r\n"
    "a=rtcp-fb:102 nack\r\n"
    "a=rtcp-fb:102 nack pli\r\n"
    "a=rtcp-fb:102 ccm fir\r\n"
    "a=rtcp-fb:102 goog-remb\r\n"
    "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1\r\n"
    "a=mid:video0\r\n"
    "@SSRCV@"
    "a=fingerprint:@FP@\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 109\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=setup:actpass\r\n"
    "a=ice-ufrag:@UFRAG@\r\n"
    "a=ice-pwd:@PWD@\r\n"
    "a=rtcp-mux\r\n"
    "a=@DIR@\r\n"
    "a=rtpmap:109 opus/48000/2\r\n"
    "a=mid:audio1\r\n"
    "@SSRCA@"
    "a=fingerprint:@FP@\r\n";

static char *
replace_all(const char *s, const char *from, const char *to)
{
  char **parts = g_strsplit(s, from, -1);
  char *r = g_strjoinv(to, parts);
  g_strfreev(parts);
  return r;
}

static char *
make_offer(client *c, bool whip, bool twcc)
{
  char *o = g_strdup(OFFER_TEMPLATE), *t;
  const char *fp = lc_dtls_cert_fingerprint(c->cert);
  struct {
    const char *k, *v;
  } subs[] = {
      {"@UFRAG@", c->ufrag},
      {"@PWD@", c->pwd},
      {"@FP@", fp},
      {"@DIR@", whip ? "sendonly" : "recvonly"},
      {"@EXT@", twcc ? "a=extmap:3 " LC_SDP_TWCC_URI "\r\n" : ""},
      {"@SSRCV@", whip ? "a=ssrc:1111 cname:pub\r\n" : ""},
      {"@SSRCA@", whip ? "a=ssrc:2222 cname:pub\r\n" : ""},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
    t = replace_all(o, subs[i].k, subs[i].v);
    g_free(o);
    o = t;
  }
  return o;
}

static char *
sdp_value(const char *sdp, const char *after, const char *key)
{
  const char *p = strstr(after ? strstr(sdp, after) : sdp, key);
  g_assert_nonnull(p);
  p += strlen(key);
  size_t n = strcspn(p, " \r\n");
  return g_strndup(p, n);
}

static void
client_init(client *c, fixture *f)
{
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  g_assert_cmpint(bind(c->fd, (struct sockaddr *)&me, sizeof me), ==, 0);
  c->srv.sin_family = AF_INET;
  c->srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->srv.sin_port = htons((uint16_t)lc_rtc_port(f->rtc));
  g_snprintf(c->ufrag, sizeof c->ufrag, "cl%08x", g_random_int());
  g_snprintf(c->pwd, sizeof c->pwd, "clientpassword%016x", g_random_int());
  char *err = NULL;
  c->cert = lc_dtls_cert_generate(&err);
  g_assert_nonnull(c->cert);
  c->video = g_array_new(FALSE, FALSE, sizeof(rx_pkt));
  c->audio = g_array_new(FALSE, FALSE, sizeof(rx_pkt));
  c->rtcp_kinds = g_array_new(FALSE, FALSE, sizeof(int));
}

static void
client_clear(client *c)
{
  close(c->fd);
  if (c->srtp)
    lc_srtp_free(c->srtp);
  if (c->dtls)
    lc_dtls_free(c->dtls);
  lc_dtls_cert_unref(c->cert);
  g_free(c->srv_ufrag);
  g_free(c->srv_pwd);
  g_free(c->id);
  g_free(c->answer);
  g_array_unref(c->video);
  g_array_unref(c->audio);
  g_array_unref(c->rtcp_kinds);
}

static void
client_send(client *c, const void *b, size_t n)
{
  ssize_t r = sendto(c->fd, b, n, 0, (struct sockaddr *)&c->srv, sizeof c->srv);
  g_assert_cmpint(r, ==, (ssize_t)n);
}

static int
client_post(client *c, fixture *f, bool whip, bool twcc)
{
  char *offer = make_offer(c, whip, twcc);
  char *err = NULL;
  int rc = (whip ? lc_rtc_whip_offer : lc_rtc_whep_offer)(f->rtc, "r1", offer, strlen(offer), &c->answer,
                                                          &c->id, &err);
  g_free(offer);
  if (rc != 0) {
    g_test_message("offer refused: %s", err);
    g_free(err);
    return rc;
  }
  c->srv_ufrag = sdp_value(c->answer, NULL, "a=ice-ufrag:");
  c->srv_pwd = sdp_value(c->answer, NULL, "a=ice-pwd:");
  if (!whip) {
    char *v = sdp_value(c->answer, "m=video", "a=ssrc:");
    char *a = sdp_value(c->answer, "m=audio", "a=ssrc:");
    c->video_ssrc = (uint32_t)g_ascii_strtoull(v, NULL, 10);
    c->audio_ssrc = (uint32_t)g_ascii_strtoull(a, NULL, 10);
    g_free(v);
    g_free(a);
  }
  return 0;
}

static void
client_stun(client *c, const char *key)
{
  uint8_t tid[12], b[512];
  for (int i = 0; i < 12; i++)
    tid[i] = (uint8_t)g_random_int();
  char *user = g_strdup_printf("%s:%s", c->srv_ufrag, c->ufrag);
  lc_stun_request req = {.priority = 1862270975,
                         .controlling = true,
                         .tiebreaker = 42,
                         .use_candidate = true,
                         .username = user,
                         .key = (const uint8_t *)key,
                         .key_len = strlen(key)};
  size_t n;
  g_assert_cmpint(lc_stun_build_request(b, sizeof b, tid, &req, &n), ==, 0);
  client_send(c, b, n);
  g_free(user);
}

/* Handles every datagram that arrives within timeout_ms (returns early once done() says so). */
static void
client_pump(client *c, int timeout_ms, bool (*done)(client *, void *), void *ud)
{
  /* Waits for a condition stretch under valgrind (LC_TEST_TIME_SCALE, set by the meson test
   * setup); they end as soon as the condition holds. Fixed waits (done == NULL) do not. */
  const char *scale = g_getenv("LC_TEST_TIME_SCALE");
  if (done && scale && atoi(scale) > 1)
    timeout_ms *= atoi(scale);
  int64_t end = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
  uint8_t buf[2048];
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  while (!(done && done(c, ud))) {
    int64_t left = end - g_get_monotonic_time();
    if (left <= 0)
      break;
    int64_t wait = left;
    if (c->dtls && lc_dtls_next_timeout(c->dtls) >= 0) {
      int64_t t = lc_dtls_next_timeout(c->dtls) - g_get_monotonic_time();
      if (t < wait)
        wait = t < 0 ? 0 : t;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)((wait + 999) / 1000));
    if (r == 0 && c->dtls && lc_dtls_get_state(c->dtls) == LC_DTLS_HANDSHAKING) {
      lc_dtls_on_timeout(c->dtls, out);
      for (guint i = 0; i < out->len; i++) {
        gsize n;
        const void *d = g_bytes_get_data(out->pdata[i], &n);
        client_send(c, d, n);
      }
      g_ptr_array_set_size(out, 0);
    }
    if (r <= 0)
      continue;
    ssize_t n;
    while ((n = recv(c->fd, buf, sizeof buf - 64, 0)) > 0) {
      size_t plain;
      switch (lc_stun_demux(buf, (size_t)n)) {
      case LC_DEMUX_STUN: {
        lc_stun_msg m;
        if (lc_stun_parse(buf, (size_t)n, &m) == 0) {
          if (m.type == LC_STUN_BINDING_SUCCESS &&
              lc_stun_check_integrity(&m, (const uint8_t *)c->srv_pwd, strlen(c->srv_pwd)) == 0)
            c->stun_ok++;
          else if (m.type == LC_STUN_BINDING_ERROR)
            c->stun_err++;
        }
        break;
      }
      case LC_DEMUX_DTLS:
        if (c->dtls) {
          lc_dtls_feed(c->dtls, buf, (size_t)n, out);
          for (guint i = 0; i < out->len; i++) {
            gsize dn;
            const void *d = g_bytes_get_data(out->pdata[i], &dn);
            client_send(c, d, dn);
          }
          g_ptr_array_set_size(out, 0);
          if (!c->srtp && lc_dtls_get_state(c->dtls) == LC_DTLS_CONNECTED)
            c->srtp = lc_srtp_new_from_dtls(c->dtls);
        }
        break;
      case LC_DEMUX_RTP:
        c->rtp_seen++;
        if (c->rtp_seen == c->drop_at[0] || c->rtp_seen == c->drop_at[1]) {
          c->dropped[c->n_dropped++] = (uint16_t)(buf[2] << 8 | buf[3]);
          break;
        }
        if (c->srtp && lc_srtp_unprotect_rtp(c->srtp, buf, (size_t)n, &plain) == 0) {
          lc_rtp_header h;
          g_assert_cmpint(lc_rtp_parse(buf, plain, &h), ==, 0);
          size_t eo, el;
          rx_pkt rp = {.seq = h.seq,
                       .ssrc = h.ssrc,
                       .ts = h.ts,
                       .pt = h.pt,
                       .keyframe = lc_rtp_h264_is_keyframe_start(buf + h.header_len, h.payload_len),
                       .twcc = lc_rtp_ext_find(buf, &h, 3, &eo, &el) == 0 && el == 2};
          g_array_append_val(h.ssrc == c->audio_ssrc ? c->audio : c->video, rp);
        }
        break;
      case LC_DEMUX_RTCP:
        if (c->srtp && lc_srtp_unprotect_rtcp(c->srtp, buf, (size_t)n, &plain) == 0) {
          lc_rtcp_iter it;
          lc_rtcp_packet rp;
          lc_rtcp_iter_init(&it, buf, plain);
          while (lc_rtcp_iter_next(&it, &rp) == 1) {
            int k = rp.kind;
            g_array_append_val(c->rtcp_kinds, k);
          }
        }
        break;
      default:
        break;
      }
    }
  }
  g_ptr_array_unref(out);
}

static bool
stun_answered(client *c, void *ud)
{
  return c->stun_ok + c->stun_err > 0;
}

static bool
have_srtp(client *c, void *ud)
{
  return c->srtp != NULL;
}

static bool
have_video(client *c, void *ud)
{
  return c->video->len >= GPOINTER_TO_UINT(ud);
}

static bool
have_av(client *c, void *ud)
{
  return c->video->len >= 35 && c->audio->len >= 10;
}

/* STUN check + DTLS handshake; true when SRTP keys are in place. */
static bool
client_handshake(client *c)
{
  client_stun(c, c->srv_pwd);
  client_pump(c, 2000, stun_answered, NULL);
  if (c->stun_ok < 1)
    return false;
  char *fp = sdp_value(c->answer, NULL, "a=fingerprint:sha-256 ");
  char *full = g_strconcat("sha-256 ", fp, NULL);
  c->dtls = lc_dtls_new(c->cert, LC_DTLS_CLIENT, full, 1200);
  g_free(fp);
  g_free(full);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  lc_dtls_start(c->dtls, out);
  for (guint i = 0; i < out->len; i++) {
    gsize n;
    const void *d = g_bytes_get_data(out->pdata[i], &n);
    client_send(c, d, n);
  }
  g_ptr_array_unref(out);
  client_pump(c, 3000, have_srtp, NULL);
  return c->srtp != NULL;
}

static void
send_rtcp(client *c, uint8_t *b, size_t n)
{
  size_t pn;
  g_assert_cmpint(lc_srtp_protect_rtcp(c->srtp, b, n, &pn), ==, 0);
  client_send(c, b, pn);
}

static void
assert_continuous(GArray *a, uint32_t ssrc, uint8_t pt)
{
  g_assert_cmpuint(a->len, >, 0);
  for (guint i = 0; i < a->len; i++) {
    rx_pkt *p = &g_array_index(a, rx_pkt, i);
    g_assert_cmpuint(p->ssrc, ==, ssrc);
    g_assert_cmpuint(p->pt, ==, pt);
    if (i > 0)
      g_assert_cmpuint(p->seq, ==, (uint16_t)(g_array_index(a, rx_pkt, i - 1).seq + 1));
  }
}

/* ---------------------------------------------------------------- tests */

static void
test_play(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  /* A GOP already running: the viewer gets it replayed from the keyframe. */
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2); /* before the keyframe: never sent */
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 3);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2);
  client c;
  client_init(&c, &f);
  int64_t t0 = g_get_monotonic_time();
  g_assert_cmpint(client_post(&c, &f, false, true), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(5));
  int64_t t1 = g_get_monotonic_time();
  g_test_message("POST -> 5 packets from the keyframe: %.1f ms", (t1 - t0) / 1000.0);
  g_assert_cmpuint(c.video->len, ==, 5);
  g_assert_true(g_array_index(c.video, rx_pkt, 0).keyframe);
  g_assert_true(g_array_index(c.video, rx_pkt, 0).twcc); /* negotiated: stamped */
  /* Live packets follow on the same stream. */
  for (int i = 0; i < 10; i++) {
    push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 3);
    uint16_t s = f.seq_a;
    push(f.audio, &s, f.ts_a, false, true, false);
    f.seq_a = s;
    f.ts_a += 960;
  }
  client_pump(&c, 1000, have_av, NULL);
  g_assert_cmpuint(c.video->len, ==, 35);
  assert_continuous(c.video, c.video_ssrc, 102);
  g_assert_cmpuint(c.audio->len, ==, 10);
  assert_continuous(c.audio, c.audio_ssrc, 109);
  /* An SR per stream arrives within ~1 s. */
  client_pump(&c, 1300, NULL, NULL);
  guint srs = 0;
  for (guint i = 0; i < c.rtcp_kinds->len; i++)
    srs += g_array_index(c.rtcp_kinds, int, i) == LC_RTCP_KIND_SR;
  g_assert_cmpuint(srs, >=, 2);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.viewers, ==, 1);
  g_assert_cmpuint(st.sessions, ==, 1);
  g_assert_cmpuint(st.n_workers, ==, 2);
  g_assert_cmpuint(st.worker_sessions[0] + st.worker_sessions[1], ==, 1); /* the worker it reached */
  g_assert_cmpuint(rung_viewers(f.rtc, "720p"), ==, 1);
  g_assert_cmpuint(rung_viewers(f.rtc, "360p"), ==, 0);
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, 0);
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, LC_ENOENT);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_join_requests_keyframe(void)
{
  fixture f;
  fixture_init(&f, 0, 1);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2); /* no keyframe cached */
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  for (int i = 0; i < 100 && g_atomic_int_get(&f.kf_hi) == 0; i++)
    g_usleep(10000);
  g_assert_cmpint(g_atomic_int_get(&f.kf_hi), >=, 1);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2); /* still no keyframe: nothing sent */
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(2));
  g_assert_cmpuint(c.video->len, ==, 2);
  g_assert_true(g_array_index(c.video, rx_pkt, 0).keyframe);
  client_clear(&c);
  fixture_clear(&f);
}

/* A viewer waiting for its first keyframe passes over one that is already old (a relay replaying
 * its upstream's cached GOP would make it a burst of late frames) and starts at the fresh one; a
 * second old one is taken (nothing fresher is coming). */
static void
test_join_skips_a_stale_keyframe(void)
{
  fixture f;
  fixture_init(&f, 0, 1);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  for (int i = 0; i < 100 && g_atomic_int_get(&f.kf_hi) == 0; i++)
    g_usleep(10000);
  push_age_us = 1500000;
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2); /* replayed, 1.5 s old: skipped */
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2);
  push_age_us = 0;
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2); /* live, still not a start */
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 3); /* the requested keyframe */
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(3));
  g_assert_cmpuint(c.video->len, ==, 3);
  g_assert_true(g_array_index(c.video, rx_pkt, 0).keyframe);
  client_clear(&c);

  fixture_clear(&f);

  fixture_init(&f, 0, 1); /* only old keyframes come: the second one starts the viewer */
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  for (int i = 0; i < 100 && g_atomic_int_get(&f.kf_hi) == 0; i++)
    g_usleep(10000);
  push_age_us = 1500000;
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  push_age_us = 0;
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(2));
  g_assert_cmpuint(c.video->len, ==, 2);
  g_assert_true(g_array_index(c.video, rx_pkt, 0).keyframe);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_nack_pli(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 4);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  c.drop_at[0] = 4;
  c.drop_at[1] = 11;
  g_assert_true(client_handshake(&c));
  for (int i = 0; i < 5; i++)
    push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 4);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(22));
  g_assert_cmpuint(c.video->len, ==, 22);
  g_assert_cmpuint(c.n_dropped, ==, 2);
  /* NACK the two lost packets: both come back, the same seq, ts and payload type. */
  uint16_t want[2] = {c.dropped[0], c.dropped[1]};
  g_assert_cmpuint(want[0], ==, (uint16_t)(g_array_index(c.video, rx_pkt, 2).seq + 1));
  uint8_t b[256];
  size_t n;
  g_assert_cmpint(lc_rtcp_build_nack(b, sizeof b - 64, 0x5555, c.video_ssrc, want, 2, &n), ==, 0);
  send_rtcp(&c, b, n);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(24));
  g_assert_cmpuint(c.video->len, ==, 24);
  g_assert_cmpuint(g_array_index(c.video, rx_pkt, 22).seq, ==, want[0]);
  g_assert_cmpuint(g_array_index(c.video, rx_pkt, 23).seq, ==, want[1]);
  g_assert_cmpuint(g_array_index(c.video, rx_pkt, 22).ts, ==, g_array_index(c.video, rx_pkt, 2).ts);
  g_assert_cmpuint(g_array_index(c.video, rx_pkt, 22).pt, ==, 102);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.retransmissions, ==, 2);
  /* PLI reaches the rendition's keyframe function. */
  int before = g_atomic_int_get(&f.kf_hi);
  g_assert_cmpint(lc_rtcp_build_pli(b, sizeof b - 64, 0x5555, c.video_ssrc, &n), ==, 0);
  send_rtcp(&c, b, n);
  for (int i = 0; i < 100 && g_atomic_int_get(&f.kf_hi) == before; i++)
    g_usleep(10000);
  g_assert_cmpint(g_atomic_int_get(&f.kf_hi), ==, before + 1);
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.plis_received, ==, 1);
  /* A FIR counts too, even when the rendition throttles it. */
  lc_rendition_set_keyframe_throttle(f.hi, 60000);
  g_assert_cmpint(lc_rtcp_build_fir(b, sizeof b - 64, 0x5555, c.video_ssrc, 1, &n), ==, 0);
  send_rtcp(&c, b, n);
  for (int i = 0; i < 100 && st.plis_received < 2; i++) {
    g_usleep(10000);
    lc_rtc_get_stats(f.rtc, &st);
  }
  g_assert_cmpuint(st.plis_received, ==, 2);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_pin_switch(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 3);
  f.seq_lo = 30000; /* another numbering: the viewer must not see it */
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(3));
  g_assert_cmpint(lc_rtc_pin(f.rtc, c.id, "240p"), ==, LC_EINVAL);
  g_assert_cmpint(lc_rtc_pin(f.rtc, "nope", "360p"), ==, LC_ENOENT);
  int before = g_atomic_int_get(&f.kf_lo);
  g_assert_cmpint(lc_rtc_pin(f.rtc, c.id, "360p"), ==, 0);
  for (int i = 0; i < 100 && g_atomic_int_get(&f.kf_lo) == before; i++)
    g_usleep(10000);
  g_assert_cmpint(g_atomic_int_get(&f.kf_lo), >, before); /* the switch asked 360p for a keyframe */
  /* Until 360p's keyframe, 720p goes on; 360p's delta frames are not sent. */
  push_frame(f.lo, &f.seq_lo, &f.ts_lo, false, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2);
  client_pump(&c, 500, have_video, GUINT_TO_POINTER(5));
  g_assert_cmpuint(c.video->len, ==, 5);
  push_frame(f.lo, &f.seq_lo, &f.ts_lo, true, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2); /* no longer sent */
  push_frame(f.lo, &f.seq_lo, &f.ts_lo, false, 2);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(9));
  client_pump(&c, 200, NULL, NULL);
  g_assert_cmpuint(c.video->len, ==, 9);
  g_assert_true(g_array_index(c.video, rx_pkt, 5).keyframe);
  assert_continuous(c.video, c.video_ssrc, 102); /* one stream across the switch */
  uint32_t before_ts = g_array_index(c.video, rx_pkt, 4).ts, after_ts = g_array_index(c.video, rx_pkt, 5).ts;
  g_assert_cmpint((int32_t)(after_ts - before_ts), >, 0);
  g_assert_cmpuint(rung_viewers(f.rtc, "360p"), ==, 1);
  g_assert_cmpuint(rung_viewers(f.rtc, "720p"), ==, 0);
  client_clear(&c);
  fixture_clear(&f);
}

/* REMB below the 720p rung: the viewer moves to 360p at 360p's next keyframe. */
static void
test_remb_adapt(void)
{
  fixture f;
  fixture_init(&f, 0, 1);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(2));
  g_assert_false(g_array_index(c.video, rx_pkt, 1).twcc); /* not negotiated: not stamped */
  int before = g_atomic_int_get(&f.kf_lo);
  uint8_t b[128] = {0x8F, 206, 0,   5,   0, 0, 0x55, 0x55, 0, 0, 0, 0,
                    'R',  'E', 'M', 'B', 1, 0, 0,    0,    0, 0, 0, 0};
  /* 1,000,000 bit/s = 0xF4240 = 250000 << 2: exp 2, mantissa 250000 (18 bits) */
  uint32_t v = 1u << 24 | 2u << 18 | 250000u;
  b[16] = (uint8_t)(v >> 24);
  b[17] = (uint8_t)(v >> 16);
  b[18] = (uint8_t)(v >> 8);
  b[19] = (uint8_t)v;
  b[20] = (uint8_t)(c.video_ssrc >> 24);
  b[21] = (uint8_t)(c.video_ssrc >> 16);
  b[22] = (uint8_t)(c.video_ssrc >> 8);
  b[23] = (uint8_t)c.video_ssrc;
  send_rtcp(&c, b, 24);
  for (int i = 0; i < 150 && g_atomic_int_get(&f.kf_lo) == before; i++)
    g_usleep(10000);
  g_assert_cmpint(g_atomic_int_get(&f.kf_lo), >, before);
  push_frame(f.lo, &f.seq_lo, &f.ts_lo, true, 2);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(4));
  g_assert_cmpuint(c.video->len, ==, 4);
  g_assert_true(g_array_index(c.video, rx_pkt, 2).keyframe);
  assert_continuous(c.video, c.video_ssrc, 102);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.rung_switches, ==, 1);
  client_clear(&c);
  fixture_clear(&f);
}

/* The peer checks (and nominates) from 16 more local ports: with 2 workers some of those tuples
 * hash to the worker that does not own the session and are handed over; each nomination moves
 * the media to that port. */
static void
test_other_tuples(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 1);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(1));
  int first_fd = c.fd;
  for (int i = 0; i < 16; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_assert_cmpint(bind(fd, (struct sockaddr *)&me, sizeof me), ==, 0);
    if (c.fd != first_fd)
      close(c.fd);
    c.fd = fd;
    c.stun_ok = 0;
    client_stun(&c, c.srv_pwd); /* USE-CANDIDATE */
    client_pump(&c, 1000, stun_answered, NULL);
    g_assert_cmpint(c.stun_ok, ==, 1);
    guint before = c.video->len;
    push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 1);
    client_pump(&c, 1000, have_video, GUINT_TO_POINTER(before + 1));
    g_assert_cmpuint(c.video->len, ==, before + 1);
  }
  assert_continuous(c.video, c.video_ssrc, 102);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_test_message("handoffs: %" G_GUINT64_FORMAT, st.handoffs);
  g_assert_cmpuint(st.handoffs, >, 0); /* all 16 on the owner's socket: p = 2^-16 */
  if (c.fd != first_fd)
    close(first_fd);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_consent_timeout(void)
{
  fixture f;
  fixture_init(&f, 300, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  /* A session that never gets a valid check is reaped too (a wrong password claims nothing). */
  client c2;
  client_init(&c2, &f);
  g_assert_cmpint(client_post(&c2, &f, false, false), ==, 0);
  client_stun(&c2, "wrongpassword-wrongpassword");
  client_pump(&c2, 500, stun_answered, NULL);
  g_assert_cmpint(c2.stun_err, ==, 1);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.sessions, ==, 2);
  for (int i = 0; i < 200; i++) {
    lc_rtc_get_stats(f.rtc, &st);
    if (st.sessions == 0)
      break;
    g_usleep(10000);
  }
  g_assert_cmpuint(st.sessions, ==, 0);
  g_assert_cmpuint(st.viewers, ==, 0);
  g_assert_cmpuint(st.consent_timeouts, ==, 2);
  char **closed = take_closed(&f);
  g_assert_nonnull(closed);
  g_assert_cmpuint(g_strv_length(closed), ==, 2);
  g_assert_true(g_strv_contains((const char *const *)closed, c.id));
  g_assert_true(g_strv_contains((const char *const *)closed, c2.id));
  g_strfreev(closed);
  g_assert_null(take_closed(&f));
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, LC_ENOENT);
  for (int i = 0; i < 100 && lc_rendition_subscribers(f.hi) > 0; i++)
    g_usleep(10000);
  g_assert_cmpuint(lc_rendition_subscribers(f.hi), ==, 0);
  client_clear(&c);
  client_clear(&c2);
  fixture_clear(&f);
}

/* An empty SRTCP RR from the client: what libnice/webrtcbin peers send every few seconds. */
static void
send_rr(client *c)
{
  uint8_t b[64] = {0x80, LC_RTCP_RR, 0, 1, 0xC0, 0xFF, 0xEE, 0x01};
  send_rtcp(c, b, 8);
}

/* A STUN Binding Indication (no integrity): libnice's keepalive. */
static void
send_indication(client *c)
{
  uint8_t b[20] = {0x00, 0x11, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
  for (int i = 8; i < 20; i++)
    b[i] = (uint8_t)g_random_int();
  client_send(c, b, sizeof b);
}

static bool
has_rtcp_kind(client *c, int kind)
{
  for (guint i = 0; i < c->rtcp_kinds->len; i++)
    if (g_array_index(c->rtcp_kinds, int, i) == kind)
      return true;
  return false;
}

static bool
got_goodbye(client *c, void *ud)
{
  return has_rtcp_kind(c, LC_RTCP_KIND_BYE) && c->dtls && lc_dtls_get_state(c->dtls) == LC_DTLS_CLOSED;
}

/* Consent is kept by authenticated SRTCP without any STUN check (libnice keeps its pair with
 * Binding Indications, which do not count); a peer that goes silent is torn down, and told so
 * with an RTCP BYE and a DTLS close_notify. */
static void
test_consent_kept_by_srtcp(void)
{
  fixture f;
  fixture_init(&f, 600, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client rtcp, ind;
  client_init(&rtcp, &f);
  client_init(&ind, &f);
  g_assert_cmpint(client_post(&rtcp, &f, false, false), ==, 0);
  g_assert_cmpint(client_post(&ind, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&rtcp));
  g_assert_true(client_handshake(&ind));
  /* Five consent timeouts long: RR every 100 ms from one, Binding Indications from the other. */
  int64_t end = g_get_monotonic_time() + 3000000;
  while (g_get_monotonic_time() < end) {
    send_rr(&rtcp);
    send_indication(&ind);
    client_pump(&rtcp, 50, NULL, NULL);
    client_pump(&ind, 50, NULL, NULL);
  }
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.consent_timeouts, ==, 1);
  g_assert_cmpuint(st.viewers, ==, 1);
  char **closed = take_closed(&f);
  g_assert_nonnull(closed);
  g_assert_cmpstr(closed[0], ==, ind.id);
  g_assert_null(closed[1]);
  g_strfreev(closed);
  /* The viewer kept by indications alone was told it is over. */
  client_pump(&ind, 1000, got_goodbye, NULL);
  g_assert_true(got_goodbye(&ind, NULL));
  /* Silence: the other one goes too, with the same goodbye. */
  client_pump(&rtcp, 5000, got_goodbye, NULL);
  g_assert_true(got_goodbye(&rtcp, NULL));
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.consent_timeouts, ==, 2);
  client_clear(&rtcp);
  client_clear(&ind);
  fixture_clear(&f);
}

/* A viewer's RTCP BYE ends its session at once (no consent timeout to wait for). */
static void
test_peer_bye_ends_session(void)
{
  fixture f;
  fixture_init(&f, 30000, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  uint8_t b[64];
  size_t n;
  const uint32_t me = 0xC0FFEE01;
  g_assert_cmpint(lc_rtcp_build_bye(b, sizeof b, me, &me, 1, NULL, &n), ==, 0);
  send_rtcp(&c, b, n);
  lc_rtc_stats st = {0};
  for (int i = 0; i < 300; i++) {
    lc_rtc_get_stats(f.rtc, &st);
    if (st.sessions == 0)
      break;
    g_usleep(10000);
  }
  g_assert_cmpuint(st.sessions, ==, 0);
  g_assert_cmpuint(st.consent_timeouts, ==, 0);
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, LC_ENOENT);
  char **closed = take_closed(&f); /* the peer ended it: reported */
  g_assert_nonnull(closed);
  g_assert_cmpstr(closed[0], ==, c.id);
  g_strfreev(closed);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_join_leave_cycles(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  unsigned cycles = g_test_slow() ? 200 : 200;
  for (unsigned i = 0; i < cycles; i++) {
    client c;
    client_init(&c, &f);
    g_assert_cmpint(client_post(&c, &f, false, i % 2 == 0), ==, 0);
    if (i % 4 != 3) /* every fourth leaves before connecting */
      g_assert_true(client_handshake(&c));
    if (i % 8 == 0)
      push_frame(f.hi, &f.seq_hi, &f.ts_hi, i % 16 == 0, 2);
    g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, 0);
    client_clear(&c);
  }
  lc_rtc_stats st;
  for (int i = 0; i < 200; i++) {
    lc_rtc_get_stats(f.rtc, &st);
    if (st.sessions == 0 && lc_rendition_subscribers(f.hi) == 0 && lc_rendition_subscribers(f.audio) == 0)
      break;
    g_usleep(10000);
  }
  g_assert_cmpuint(st.sessions, ==, 0);
  g_assert_cmpuint(st.viewers, ==, 0);
  g_assert_cmpuint(lc_rendition_subscribers(f.hi), ==, 0);
  g_assert_cmpuint(lc_rendition_subscribers(f.audio), ==, 0);
  g_assert_null(take_closed(&f)); /* deleted, not closed by the server */
  fixture_clear(&f);
}

static void
test_garbage(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  /* Random datagrams of every first byte and length, before and after ICE. */
  uint8_t b[1500];
  for (int i = 0; i < 2000; i++) {
    size_t n = g_random_int_range(0, 1400);
    for (size_t k = 0; k < n; k++)
      b[k] = (uint8_t)g_random_int();
    if (n > 0 && i % 4 == 0)
      b[0] = (uint8_t)(i % 256);
    client_send(&c, b, n);
  }
  /* A check with the wrong password: 401, no session adopted. */
  client_stun(&c, "wrongpassword-wrongpassword");
  client_pump(&c, 1000, stun_answered, NULL);
  g_assert_cmpint(c.stun_err, ==, 1);
  g_assert_cmpint(c.stun_ok, ==, 0);
  /* A check for an unknown ufrag: no answer. */
  char *saved = c.srv_ufrag;
  c.srv_ufrag = g_strdup("nosuchufrag");
  client_stun(&c, c.srv_pwd);
  client_pump(&c, 200, stun_answered, NULL);
  g_assert_cmpint(c.stun_err, ==, 1);
  g_free(c.srv_ufrag);
  c.srv_ufrag = saved;
  c.stun_err = 0;
  /* The real one still works, then more garbage at the connected session. */
  g_assert_true(client_handshake(&c));
  for (int i = 0; i < 2000; i++) {
    size_t n = g_random_int_range(1, 1400);
    for (size_t k = 0; k < n; k++)
      b[k] = (uint8_t)g_random_int();
    b[0] = (uint8_t)(i % 3 == 0 ? 0x80 : i % 3 == 1 ? 22 : 0x00);
    if (i % 3 == 0 && n > 1)
      b[1] = (uint8_t)(200 + i % 8); /* RTCP-looking */
    client_send(&c, b, n);
  }
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(4));
  g_assert_cmpuint(c.video->len, ==, 4);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.viewers, ==, 1);
  client_clear(&c);
  fixture_clear(&f);
}

static void
test_refusals(void)
{
  fixture f;
  fixture_init(&f, 0, 1);
  char *answer = NULL, *id = NULL, *err = NULL;
  static const char junk[] = "v=0\r\nthis is not sdp\r\n";
  g_assert_cmpint(lc_rtc_whep_offer(f.rtc, "r1", junk, strlen(junk), &answer, &id, &err), ==, LC_EINVAL);
  g_assert_nonnull(err);
  g_clear_pointer(&err, g_free);
  client c;
  client_init(&c, &f);
  char *offer = make_offer(&c, false, false);
  g_assert_cmpint(lc_rtc_whep_offer(f.rtc, "nosuchroom", offer, strlen(offer), &answer, &id, &err), ==,
                  LC_ENOENT);
  g_assert_nonnull(strstr(err, "nosuchroom"));
  g_clear_pointer(&err, g_free);
  g_assert_null(answer);
  g_assert_null(id);
  g_free(offer);
  client_clear(&c);
  fixture_clear(&f);
}

typedef struct {
  gint packets, keyframes;
} tap;

static void
tap_sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  tap *t = user;
  g_atomic_int_inc(&t->packets);
  if (pkt->keyframe)
    g_atomic_int_inc(&t->keyframes);
}

static bool
have_pli(client *c, void *ud)
{
  for (guint i = 0; i < c->rtcp_kinds->len; i++)
    if (g_array_index(c->rtcp_kinds, int, i) == LC_RTCP_KIND_PLI)
      return true;
  return false;
}

static void
test_whip(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, true, false), ==, 0);
  g_assert_nonnull(strstr(c.answer, "a=recvonly"));
  client c2;
  client_init(&c2, &f);
  g_assert_cmpint(client_post(&c2, &f, true, false), ==, LC_EBUSY);
  client_clear(&c2);
  lc_rendition *src = lc_media_room_find(f.room, "source");
  g_assert_nonnull(src);
  tap t = {0};
  unsigned sub = lc_rendition_subscribe(src, tap_sink, &t);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 500, have_pli, NULL); /* asks for a keyframe at start */
  g_assert_true(have_pli(&c, NULL));
  g_array_set_size(c.rtcp_kinds, 0);
  /* The publisher's packets (PT 102, with a header extension) land in "source". */
  for (int i = 0; i < 10; i++) {
    uint8_t b[300];
    memset(b, 0x55, sizeof b);
    b[0] = 0x90; /* X */
    b[1] = (uint8_t)(102 | (i % 2 ? 0x80 : 0));
    b[2] = 0;
    b[3] = (uint8_t)i;
    b[4] = b[5] = b[6] = 0;
    b[7] = (uint8_t)(i / 2);
    b[8] = 0;
    b[9] = 0;
    b[10] = 0x04;
    b[11] = 0x57; /* 1111 */
    b[12] = 0xBE;
    b[13] = 0xDE;
    b[14] = 0;
    b[15] = 1;
    b[16] = 0x10;
    b[17] = 0xAA;
    b[18] = b[19] = 0;
    b[20] = i == 0 ? 0x67 : i == 1 ? 0x65 : 0x41; /* SPS, then the IDR of the same frame (ts 0) */
    size_t pn;
    g_assert_cmpint(lc_srtp_protect_rtp(c.srtp, b, 250, &pn), ==, 0);
    client_send(&c, b, pn);
  }
  for (int i = 0; i < 100 && g_atomic_int_get(&t.packets) < 10; i++)
    g_usleep(10000);
  g_assert_cmpint(g_atomic_int_get(&t.packets), ==, 10);
  g_assert_cmpint(g_atomic_int_get(&t.keyframes), ==, 1);
  lc_rtc_stats wst;
  lc_rtc_get_stats(f.rtc, &wst);
  g_assert_cmpuint(wst.dtls_held, ==, 0); /* its SRTP authenticated: DTLS state trimmed */
  GPtrArray *back = lc_rendition_since_keyframe(src);
  g_assert_nonnull(back);
  lc_pkt *p0 = back->pdata[0];
  g_assert_cmpuint(p0->data[0] & 0x10, ==, 0); /* extension stripped */
  g_assert_cmpuint(p0->data[12], ==, 0x67);    /* the keyframe starts at the SPS, flagged once */
  g_ptr_array_unref(back);
  g_assert_true(lc_rendition_is_live(src));
  /* A keyframe request on "source" becomes a PLI to the publisher. */
  lc_rendition_set_keyframe_throttle(src, 0);
  g_assert_true(lc_rendition_request_keyframe(src));
  client_pump(&c, 1000, have_pli, NULL);
  g_assert_true(have_pli(&c, NULL));
  lc_rendition_unsubscribe(src, sub);
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, 0);
  for (int i = 0; i < 100 && lc_rendition_is_live(src); i++)
    g_usleep(10000);
  g_assert_false(lc_rendition_is_live(src));
  client_clear(&c);
  fixture_clear(&f);
}

/* A browser reloads the page and its new RTCPeerConnection reuses the local port: the new
 * session's checks come from the 5-tuple still mapped to the old (not yet timed out) session.
 * The tuple must move to the session whose credentials the check passed: the new DTLS handshake
 * completes, media flows on the new session's SSRC with the new keys, and the old session sends
 * nothing more to that port. */
static void
test_port_reuse(void)
{
  fixture f;
  fixture_init(&f, 0, 2);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(2));
  g_assert_cmpuint(c.video->len, ==, 2);
  char *old_id = g_strdup(c.id);
  uint32_t old_ssrc = c.video_ssrc;
  /* The "reloaded page": new ICE credentials, new certificate, same socket. */
  lc_srtp_free(c.srtp);
  lc_dtls_free(c.dtls);
  c.srtp = NULL;
  c.dtls = NULL;
  lc_dtls_cert_unref(c.cert);
  char *err = NULL;
  c.cert = lc_dtls_cert_generate(&err);
  g_assert_nonnull(c.cert);
  g_snprintf(c.ufrag, sizeof c.ufrag, "re%08x", g_random_int());
  g_snprintf(c.pwd, sizeof c.pwd, "reloadedpassword%016x", g_random_int());
  g_clear_pointer(&c.srv_ufrag, g_free);
  g_clear_pointer(&c.srv_pwd, g_free);
  g_clear_pointer(&c.id, g_free);
  g_clear_pointer(&c.answer, g_free);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_cmpstr(c.id, !=, old_id);
  c.stun_ok = 0;
  g_assert_true(client_handshake(&c)); /* DTLS reached the new session */
  g_array_set_size(c.video, 0);
  g_array_set_size(c.audio, 0);
  unsigned seen0 = c.rtp_seen;
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 3);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 3);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(6));
  client_pump(&c, 200, NULL, NULL);
  g_assert_cmpuint(c.video->len, >=, 6);
  for (guint i = 0; i < c.video->len; i++)
    g_assert_cmpuint(g_array_index(c.video, rx_pkt, i).ssrc, ==, c.video_ssrc);
  g_assert_cmpuint(c.video_ssrc, !=, old_ssrc);
  /* Every RTP datagram on the port decrypted with the new keys: none came from the old session. */
  g_assert_cmpuint(c.rtp_seen - seen0, ==, c.video->len + c.audio->len);
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.viewers, ==, 2); /* the old one waits for its consent timeout */
  g_assert_cmpint(lc_rtc_delete(f.rtc, old_id), ==, 0);
  g_free(old_id);
  client_clear(&c);
  fixture_clear(&f);
}

/* Once the viewer's first SRTCP packet authenticates, the server drops OpenSSL's DTLS state:
 * the dtls_held gauge falls to 0 and media keeps flowing. */
static void
test_dtls_trimmed(void)
{
  fixture f;
  fixture_init(&f, 0, 1);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 2);
  client c;
  client_init(&c, &f);
  g_assert_cmpint(client_post(&c, &f, false, false), ==, 0);
  g_assert_true(client_handshake(&c));
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(2));
  lc_rtc_stats st;
  lc_rtc_get_stats(f.rtc, &st);
  g_assert_cmpuint(st.dtls_held, ==, 1); /* the peer has not proven its keys yet */
  uint8_t b[128] = {0x80, LC_RTCP_RR, 0, 1, 0x12, 0x34, 0x56, 0x78}; /* RR, no blocks */
  send_rtcp(&c, b, 8);
  for (int i = 0; i < 100; i++) {
    lc_rtc_get_stats(f.rtc, &st);
    if (st.dtls_held == 0)
      break;
    g_usleep(10000);
  }
  g_assert_cmpuint(st.dtls_held, ==, 0);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, false, 2);
  client_pump(&c, 1000, have_video, GUINT_TO_POINTER(4));
  g_assert_cmpuint(c.video->len, ==, 4);
  g_assert_cmpint(lc_rtc_delete(f.rtc, c.id), ==, 0);
  client_clear(&c);
  fixture_clear(&f);
}

/* ---------------------------------------------------------------- perf (-m perf) */

typedef struct {
  int ep;
  gint stop;
  guint64 packets, bytes;
} drainer;

static gpointer
drain_main(gpointer data)
{
  drainer *d = data;
  struct epoll_event ev[64];
  static uint8_t bufs[32][1500];
  struct mmsghdr m[32];
  struct iovec iov[32];
  while (!g_atomic_int_get(&d->stop)) {
    int n = epoll_wait(d->ep, ev, 64, 20);
    for (int i = 0; i < n; i++) {
      int fd = ev[i].data.fd;
      for (;;) {
        for (int k = 0; k < 32; k++) {
          iov[k].iov_base = bufs[k];
          iov[k].iov_len = sizeof bufs[k];
          memset(&m[k].msg_hdr, 0, sizeof m[k].msg_hdr);
          m[k].msg_hdr.msg_iov = &iov[k];
          m[k].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fd, m, 32, MSG_DONTWAIT, NULL);
        if (r <= 0)
          break;
        for (int k = 0; k < r; k++) {
          d->packets++;
          d->bytes += m[k].msg_len;
        }
      }
    }
  }
  return NULL;
}

/* N viewers on one worker, a 2.5 Mbit/s rendition of 1200-byte packets for 3 s: the worker's CPU
 * per Gbit/s of SRTP and the viewers one core would carry. LC_RTC_PERF_VIEWERS sets N. */
static void
test_perf_fanout(void)
{
  const char *env = g_getenv("LC_RTC_PERF_VIEWERS");
  unsigned n = env ? (unsigned)atoi(env) : 200;
  fixture f;
  fixture_init(&f, 0, 1);
  push_frame(f.hi, &f.seq_hi, &f.ts_hi, true, 1);
  client *cs = g_new0(client, n);
  drainer d = {.ep = epoll_create1(0)};
  for (unsigned i = 0; i < n; i++) {
    client_init(&cs[i], &f);
    g_assert_cmpint(client_post(&cs[i], &f, false, false), ==, 0);
    g_assert_true(client_handshake(&cs[i]));
    int big = 4 << 20;
    setsockopt(cs[i].fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cs[i].fd};
    epoll_ctl(d.ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
  }
  GThread *th = g_thread_new("drain", drain_main, &d);
  lc_rtc_stats a, b;
  g_usleep(100000);
  lc_rtc_get_stats(f.rtc, &a);
  guint64 rx0 = d.packets;
  int64_t t0 = g_get_monotonic_time();
  unsigned pushed = 0;
  /* 30 frames/s of 9 packets of 1200 bytes (2.6 Mbit/s), each frame pushed back to back as a
   * payloader does; a keyframe every 2 s. */
  unsigned frame = 0;
  while (g_get_monotonic_time() - t0 < 3000000) {
    unsigned due = (unsigned)((g_get_monotonic_time() - t0) * 30 / 1000000);
    while (frame < due) {
      for (int k = 0; k < 9; k++) {
        uint8_t pk[1200];
        memset(pk, 0x5A, sizeof pk);
        pk[0] = 0x80;
        pk[1] = 96 | (k == 8 ? 0x80 : 0);
        pk[2] = (uint8_t)(f.seq_hi >> 8);
        pk[3] = (uint8_t)f.seq_hi++;
        uint32_t ts = f.ts_hi + frame * 3000;
        pk[4] = (uint8_t)(ts >> 24);
        pk[5] = (uint8_t)(ts >> 16);
        pk[6] = (uint8_t)(ts >> 8);
        pk[7] = (uint8_t)ts;
        bool kf = k == 0 && frame % 60 == 0;
        pk[12] = kf ? 0x7C : 0x5C; /* FU-A */
        pk[13] = (uint8_t)((k == 0 ? 0x80 : 0) | (k == 8 ? 0x40 : 0) | (kf ? 5 : 1));
        lc_rendition_push_rtp(f.hi, pk, sizeof pk, kf);
        pushed++;
      }
      frame++;
    }
    g_usleep(5000);
  }
  g_usleep(300000);
  lc_rtc_get_stats(f.rtc, &b);
  guint64 rx = d.packets - rx0;
  double secs = 3.0;
  double gbit = (double)(b.bytes_sent - a.bytes_sent) * 8 / 1e9;
  double cpu = (double)(b.worker_cpu_us - a.worker_cpu_us) / 1e6;
  g_test_message("viewers %u, pushed %u packets, sent %" G_GUINT64_FORMAT
                 " (expected %u), received %" G_GUINT64_FORMAT ", queue drops %" G_GUINT64_FORMAT
                 ", send drops %" G_GUINT64_FORMAT,
                 n, pushed, b.packets_sent - a.packets_sent, pushed * n, rx, b.queue_drops, b.send_drops);
  g_test_message(
      "egress %.2f Gbit/s, worker CPU %.2f s in %.1f s: %.2f CPU-s per Gbit, ~%.0f viewers of 2.5 Mbit/s "
      "per core",
      gbit / secs, cpu, secs, cpu / gbit, gbit > 0 ? 1.0 / (cpu / gbit * 0.0025) : 0.0);
  g_atomic_int_set(&d.stop, 1);
  g_thread_join(th);
  close(d.ep);
  for (unsigned i = 0; i < n; i++)
    client_clear(&cs[i]);
  g_free(cs);
  fixture_clear(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtc/play", test_play);
  g_test_add_func("/rtc/join_requests_keyframe", test_join_requests_keyframe);
  g_test_add_func("/rtc/join_skips_a_stale_keyframe", test_join_skips_a_stale_keyframe);
  g_test_add_func("/rtc/nack_pli", test_nack_pli);
  g_test_add_func("/rtc/pin_switch", test_pin_switch);
  g_test_add_func("/rtc/remb_adapt", test_remb_adapt);
  g_test_add_func("/rtc/other_tuples", test_other_tuples);
  g_test_add_func("/rtc/consent_timeout", test_consent_timeout);
  g_test_add_func("/rtc/consent_kept_by_srtcp", test_consent_kept_by_srtcp);
  g_test_add_func("/rtc/peer_bye_ends_session", test_peer_bye_ends_session);
  g_test_add_func("/rtc/join_leave_cycles", test_join_leave_cycles);
  g_test_add_func("/rtc/garbage", test_garbage);
  g_test_add_func("/rtc/refusals", test_refusals);
  g_test_add_func("/rtc/whip", test_whip);
  g_test_add_func("/rtc/port_reuse", test_port_reuse);
  g_test_add_func("/rtc/dtls_trimmed", test_dtls_trimmed);
  if (g_test_perf())
    g_test_add_func("/rtc/perf_fanout", test_perf_fanout);
  return g_test_run();
}

/* The WebRTC media core facade: config, WHEP/WHIP offers, delete, pin, stats. Sessions live in
 * the registry (rtc_registry.c), the per-packet work in the workers (rtc_worker.c); calls go one
 * way, rtc.c -> registry and workers, workers -> registry. See rtc.h.
 *
 * Fields of lc_rtc are set by lc_rtc_new and read-only after (the counters are atomics). */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"
#include "rtc/rtc_registry.h"
#include "rtc/rtc_worker.h"
#include "rtc/sdp.h"

#define DEFAULT_QUEUE 4096
#define DEFAULT_CONSENT_MS 30000
#define DEFAULT_MAX_SESSIONS 10000
#define NACK_CACHE_MS 2000
#define MAX_WORKERS LC_RTC_STATS_WORKERS

struct lc_rtc {
  lc__rtc_params params;
  unsigned max_sessions;
  lc__rtc_registry *reg;
  lc_media_hub *hub; /* borrowed */
  lc_dtls_cert *cert;
  char fingerprint[160]; /* "AB:CD:..." without the hash name */
  char *ip;              /* candidate address */
  int port;
  unsigned n_workers;
  lc__rtc_worker **workers;
  lc__rtc_counters ctr; /* the workers add to it (atomics) */
};

/* ---------------------------------------------------------------- helpers */

static uint32_t
random_ssrc(void)
{
  uint32_t v = 0;
  while (v == 0) {
    if (RAND_bytes((uint8_t *)&v, sizeof v) != 1)
      v = g_random_int();
  }
  return v;
}

static uint64_t
random_u63(void)
{
  uint64_t v = 0;
  if (RAND_bytes((uint8_t *)&v, sizeof v) != 1)
    v = ((uint64_t)g_random_int() << 32) | g_random_int();
  return v & 0x7fffffffffffffffull;
}

/* profile-level-id from a rendition's fmtp, or 0x42e01f. */
static uint32_t
fmtp_profile(const char *fmtp)
{
  const char *p = strstr(fmtp, "profile-level-id=");
  uint32_t v;
  if (p && strlen(p + 17) >= 6 && lc_sdp_parse_profile_level_id(p + 17, 6, &v) == 0)
    return v;
  return 0x42e01f;
}

/* ---------------------------------------------------------------- new / free */

static bool
parse_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len, bool *wildcard)
{
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *len = sizeof *in;
    *wildcard = in->sin_addr.s_addr == htonl(INADDR_ANY);
    return true;
  }
  if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    *wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    return true;
  }
  return false;
}

lc_rtc *
lc_rtc_new(const lc_rtc_config *cfg, lc_media_hub *hub, char **err)
{
  const char *bind_ip = cfg->bind && *cfg->bind ? cfg->bind : "0.0.0.0";
  struct sockaddr_storage ss;
  socklen_t ss_len;
  bool wildcard;
  if (cfg->port < 0 || cfg->port > 65535) {
    lc_error_set(err, "rtc.port", "must be 0-65535, not %d", cfg->port);
    return NULL;
  }
  if (!parse_addr(bind_ip, cfg->port, &ss, &ss_len, &wildcard)) {
    lc_error_set(err, "rtc.bind", "\"%s\" is not a numeric IPv4 or IPv6 address", bind_ip);
    return NULL;
  }
  const char *pub = cfg->public_ip && *cfg->public_ip ? cfg->public_ip : NULL;
  if (!pub && wildcard) {
    lc_error_set(err, "rtc.public_ip", "needed when rtc.bind is a wildcard (%s): the address viewers reach",
                 bind_ip);
    return NULL;
  }
  struct sockaddr_storage tmp;
  socklen_t tmp_len;
  bool tmp_wild;
  if (pub && !parse_addr(pub, 0, &tmp, &tmp_len, &tmp_wild)) {
    lc_error_set(err, "rtc.public_ip", "\"%s\" is not a numeric IPv4 or IPv6 address", pub);
    return NULL;
  }
  char *cert_err = NULL;
  if (lc_srtp_init(&cert_err) != 0) {
    lc_error_set(err, "rtc", "%s", cert_err);
    g_free(cert_err);
    return NULL;
  }
  lc_dtls_cert *cert = (cfg->cert_file && *cfg->cert_file)
                           ? lc_dtls_cert_load(cfg->cert_file, cfg->key_file, &cert_err)
                           : lc_dtls_cert_generate(&cert_err);
  if (!cert) {
    lc_error_set(err, "rtc.cert_file", "%s", cert_err ? cert_err : "certificate unavailable");
    g_free(cert_err);
    return NULL;
  }
  lc_rtc *rtc = g_new0(lc_rtc, 1);
  rtc->cert = cert;
  const char *fp = lc_dtls_cert_fingerprint(cert);
  const char *sp = strchr(fp, ' ');
  g_strlcpy(rtc->fingerprint, sp ? sp + 1 : fp, sizeof rtc->fingerprint);
  rtc->hub = hub;
  rtc->ip = g_strdup(pub ? pub : bind_ip);
  rtc->params.consent_timeout_ms = cfg->consent_timeout_ms ? cfg->consent_timeout_ms : DEFAULT_CONSENT_MS;
  rtc->params.queue_packets = cfg->queue_packets ? cfg->queue_packets : DEFAULT_QUEUE;
  rtc->max_sessions = cfg->max_sessions ? cfg->max_sessions : DEFAULT_MAX_SESSIONS;
  rtc->reg = lc__rtc_registry_new(rtc->max_sessions);
  lc__rtc_worker_env env = {.params = rtc->params, .cert = cert, .ctr = &rtc->ctr, .reg = rtc->reg};
  rtc->n_workers = cfg->workers ? cfg->workers : g_get_num_processors();
  if (rtc->n_workers > MAX_WORKERS)
    rtc->n_workers = MAX_WORKERS;
  rtc->workers = g_new0(lc__rtc_worker *, rtc->n_workers);
  for (unsigned i = 0; i < rtc->n_workers; i++) {
    rtc->workers[i] = lc__rtc_worker_new(&env, (int)i, (struct sockaddr *)&ss, ss_len, err);
    if (!rtc->workers[i])
      goto fail;
    if (i == 0) { /* the others join the port the first one got */
      rtc->port = lc__rtc_worker_port(rtc->workers[0]);
      if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)rtc->port);
      else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)rtc->port);
    }
  }
  for (unsigned i = 0; i < rtc->n_workers; i++)
    lc__rtc_worker_start(rtc->workers[i]);
  LC_INFO(NULL, NULL, "WebRTC media on udp %s:%d (candidate %s), %u workers", bind_ip, rtc->port, rtc->ip,
          rtc->n_workers);
  return rtc;
fail:
  lc_rtc_free(rtc);
  return NULL;
}

void
lc_rtc_free(lc_rtc *rtc)
{
  if (!rtc)
    return;
  for (unsigned i = 0; i < rtc->n_workers; i++)
    lc__rtc_worker_stop(rtc->workers[i]);
  for (unsigned i = 0; i < rtc->n_workers; i++)
    lc__rtc_worker_free(rtc->workers[i]);
  g_free(rtc->workers);
  lc__rtc_registry_free(rtc->reg); /* and the sessions no worker adopted */
  if (rtc->cert)
    lc_dtls_cert_unref(rtc->cert);
  g_free(rtc->ip);
  g_free(rtc);
}

int
lc_rtc_port(lc_rtc *rtc)
{
  return rtc->port;
}

/* ---------------------------------------------------------------- offers */

static lc_rendition *
whip_rendition(lc_media_room *m, const char *name, lc_media_kind kind, uint32_t profile)
{
  lc_rendition *r = lc_media_room_find(m, name);
  if (!r) {
    lc_rendition_info info = {0};
    g_strlcpy(info.name, name, sizeof info.name);
    info.kind = kind;
    if (kind == LC_MEDIA_VIDEO) {
      info.clock_rate = 90000;
      info.payload_type = LC_MEDIA_PT_H264;
      g_snprintf(info.fmtp, sizeof info.fmtp,
                 "packetization-mode=1;profile-level-id=%06x;level-asymmetry-allowed=1", profile);
    } else {
      info.clock_rate = 48000;
      info.payload_type = LC_MEDIA_PT_OPUS;
      info.channels = 2;
    }
    lc_rendition *nr = lc_rendition_new(&info, NACK_CACHE_MS);
    lc_media_room_add(m, nr);
    lc_rendition_unref(nr);
    r = lc_media_room_find(m, name);
  }
  return r ? lc_rendition_ref(r) : NULL;
}

static int
offer(lc_rtc *rtc, lc__rtc_kind kind, const char *room, const char *text, size_t len, char **answer,
      char **resource_id, char **err)
{
  lc_sdp_offer *o = NULL;
  lc_media_room *media = NULL;
  lc__rtc_session *s = NULL;
  char *why = NULL;
  int rc;
  *answer = NULL;
  *resource_id = NULL;
  if (!room || !*room) {
    lc_error_set(err, "room", "missing");
    return LC_EINVAL;
  }
  rc = lc__rtc_registry_check(rtc->reg, kind, room);
  if (rc == LC_ELIMIT) {
    lc_error_set(err, "rtc", "too many WebRTC sessions (%u)", rtc->max_sessions);
    return LC_ELIMIT;
  }
  if (rc == LC_EBUSY) {
    lc_error_set(err, "whip", "room %s already has a WHIP publisher", room);
    return LC_EBUSY;
  }
  /* A viewer of a room with nothing to play learns that first (404), whatever its offer says. */
  if (kind == LC__RTC_WHEP) {
    media = lc_media_hub_acquire(rtc->hub, room);
    if (!media || lc_media_room_n_video(media) == 0) {
      lc_error_set(err, "room", "%s has no video to play", room);
      rc = LC_ENOENT;
      goto fail;
    }
  }
  rc = lc_sdp_parse(text, len, &o, &why);
  if (rc != 0) {
    lc_error_set(err, "sdp", "%s", why ? why : "unreadable offer");
    rc = rc == LC_ETOOBIG ? LC_EINVAL : rc;
    goto fail;
  }
  lc_sdp_answer_params par = {0};
  uint32_t profile = 0x42e01f;
  bool want_audio = true;
  if (kind == LC__RTC_WHEP) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(media, 0), &info);
    profile = fmtp_profile(info.fmtp);
    want_audio = lc_media_room_audio(media) != NULL;
    par.role = LC_SDP_ROLE_WHEP_VIEWER;
  } else {
    par.role = LC_SDP_ROLE_WHIP_INGEST;
  }
  s = lc__rtc_session_new(kind, room);
  s->video_ssrc = random_ssrc();
  s->audio_ssrc = random_ssrc();
  par.ice_ufrag = s->ufrag;
  par.ice_pwd = s->pwd;
  par.fingerprint_sha256 = rtc->fingerprint;
  par.ip = rtc->ip;
  par.port = (uint16_t)rtc->port;
  par.session_id = random_u63();
  par.h264_profile_level_id = profile;
  par.want_audio = want_audio;
  par.video_ssrc = s->video_ssrc;
  par.audio_ssrc = s->audio_ssrc;
  lc_sdp_answer_info ai;
  rc = lc_sdp_build_answer(o, &par, answer, &ai, &why);
  if (rc != 0) {
    lc_error_set(err, "sdp", "%s", why ? why : "offer not usable");
    goto fail;
  }
  s->has_video = ai.video_index >= 0;
  s->has_audio = ai.audio_index >= 0;
  s->video_pt = ai.video_pt;
  s->audio_pt = ai.audio_pt;
  s->video_fb = ai.video_fb;
  s->audio_fb = ai.audio_fb;
  s->twcc_id = kind == LC__RTC_WHEP ? ai.twcc_ext_id : 0;
  s->remote_video_ssrc = ai.remote_video_ssrc;
  s->remote_audio_ssrc = ai.remote_audio_ssrc;
  s->remote_fp = g_strconcat("sha-256 ", ai.remote_fingerprint_sha256, NULL);
  lc__rtc_track_init(&s->video.map, s->video_ssrc, s->video_pt, 90000);
  lc__rtc_track_init(&s->audio.map, s->audio_ssrc, s->audio_pt, 48000);
  if (kind == LC__RTC_WHIP) {
    lc_media_room *m = lc_media_hub_open(rtc->hub, room);
    media = lc_media_room_ref(m);
    if (s->has_video)
      s->whip_video = whip_rendition(m, "source", LC_MEDIA_VIDEO,
                                     ai.h264_profile_level_id ? ai.h264_profile_level_id : 0x42e01f);
    if (s->has_audio)
      s->whip_audio = whip_rendition(m, "opus", LC_MEDIA_AUDIO, 0);
  }
  s->media = media;
  media = NULL;

  rc = lc__rtc_registry_add(rtc->reg, s);
  if (rc == LC_EBUSY)
    lc_error_set(err, "whip", "room %s already has a WHIP publisher", room);
  else if (rc == LC_ELIMIT)
    lc_error_set(err, "rtc", "too many WebRTC sessions (%u)", rtc->max_sessions);
  if (rc != 0)
    goto fail;
  *resource_id = g_strdup(s->id);
  LC_INFO(room, s->id, "%s session created", kind == LC__RTC_WHEP ? "WHEP" : "WHIP");
  lc__rtc_session_unref(s); /* the registry has its own ref */
  lc_sdp_offer_free(o);
  g_free(why);
  return 0;
fail:
  g_clear_pointer(answer, g_free);
  if (media)
    lc_media_room_unref(media);
  lc__rtc_session_unref(s);
  lc_sdp_offer_free(o);
  g_free(why);
  return rc;
}

int
lc_rtc_whep_offer(lc_rtc *rtc, const char *room, const char *text, size_t len, char **answer,
                  char **resource_id, char **err)
{
  return offer(rtc, LC__RTC_WHEP, room, text, len, answer, resource_id, err);
}

int
lc_rtc_whip_offer(lc_rtc *rtc, const char *room, const char *text, size_t len, char **answer,
                  char **resource_id, char **err)
{
  return offer(rtc, LC__RTC_WHIP, room, text, len, answer, resource_id, err);
}

int
lc_rtc_delete(lc_rtc *rtc, const char *resource_id)
{
  lc__rtc_worker *owner;
  int rc = lc__rtc_registry_close(rtc->reg, resource_id, &owner);
  if (rc == 0 && owner)
    lc__rtc_worker_wake(owner);
  return rc;
}

int
lc_rtc_pin(lc_rtc *rtc, const char *resource_id, const char *rung)
{
  lc__rtc_session *s = lc__rtc_registry_by_id(rtc->reg, resource_id);
  if (!s)
    return LC_ENOENT;
  if (s->kind != LC__RTC_WHEP) {
    lc__rtc_session_unref(s);
    return LC_EINVAL;
  }
  /* Check the rung outside the registry lock (the room has its own locks). */
  bool found = true;
  if (rung) {
    found = false;
    unsigned n = lc_media_room_n_video(s->media);
    for (unsigned i = 0; i < n && !found; i++) {
      lc_rendition_info info;
      lc_rendition_get_info(lc_media_room_video(s->media, i), &info);
      found = strcmp(info.name, rung) == 0;
    }
  }
  if (found) {
    lc__rtc_worker *owner = lc__rtc_registry_set_pin(rtc->reg, s, rung);
    if (owner)
      lc__rtc_worker_wake(owner);
  }
  lc__rtc_session_unref(s);
  return found ? 0 : LC_EINVAL;
}

/* ---------------------------------------------------------------- stats */

static guint64
ld(guint64 *p)
{
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
lc_rtc_get_stats(lc_rtc *rtc, lc_rtc_stats *out)
{
  memset(out, 0, sizeof *out);
  lc__rtc_registry_stats(rtc->reg, out);
  lc__rtc_counters *c = &rtc->ctr;
  out->packets_sent = ld(&c->packets_sent);
  out->bytes_sent = ld(&c->bytes_sent);
  out->retransmissions = ld(&c->retransmissions);
  out->nack_misses = ld(&c->nack_misses);
  out->keyframe_requests = ld(&c->keyframe_requests);
  out->plis_received = ld(&c->plis_received);
  out->queue_drops = ld(&c->queue_drops);
  out->send_drops = ld(&c->send_drops);
  out->consent_timeouts = ld(&c->consent_timeouts);
  out->dtls_failures = ld(&c->dtls_failures);
  out->packets_received = ld(&c->packets_received);
  out->rung_switches = ld(&c->rung_switches);
  out->handoffs = ld(&c->handoffs);
  out->dtls_held = (unsigned)ld(&c->dtls_held);
  out->n_workers = MIN(rtc->n_workers, LC_RTC_STATS_WORKERS);
  for (unsigned i = 0; i < rtc->n_workers; i++) {
    uint64_t cpu = (uint64_t)lc__rtc_worker_cpu_us(rtc->workers[i]);
    out->worker_cpu_us += cpu;
    if (i < out->n_workers) {
      out->worker_sessions[i] = lc__rtc_worker_n_sessions(rtc->workers[i]);
      out->worker_cpu_each_us[i] = cpu;
    }
  }
}

void
lc_rtc_set_publish_notify(lc_rtc *rtc, lc_rtc_publish_fn fn, gpointer user)
{
  lc__rtc_registry_set_publish_fn(rtc->reg, fn, user);
}

void
lc_rtc_set_closed_notify(lc_rtc *rtc, lc_rtc_closed_fn fn, gpointer user)
{
  lc__rtc_registry_set_closed_fn(rtc->reg, fn, user);
}

/* The WebRTC media core facade: config, the session registry, WHEP/WHIP offers, delete, pin,
 * stats. The per-packet work is in rtc_worker.c. See rtc.h.
 *
 * Locks: rtc->lock guards the registry (by_ufrag, by_id, whip_rooms), session owner/pin/
 * rung_name and the rung counts. It is never held while calling into a
 * worker, a rendition or the notify callback. */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"
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
  lc_media_hub *hub; /* borrowed */
  lc_dtls_cert *cert;
  char fingerprint[160]; /* "AB:CD:..." without the hash name */
  char *ip;              /* candidate address */
  int port;
  unsigned n_workers;
  lc__rtc_worker **workers;
  lc__rtc_counters ctr;

  GMutex lock;
  GHashTable *by_ufrag;   /* ufrag (session's string) -> session (the registry's ref) */
  GHashTable *by_id;      /* id -> session (same entries) */
  GHashTable *whip_rooms; /* room -> session (same entries) */
  GHashTable *rungs;      /* rung name (owned) -> count */
  unsigned n_sessions, n_viewers, n_publishers;
  lc_rtc_closed_fn closed_fn; /* set before any offer, then read-only */
  gpointer closed_user;
  lc_rtc_publish_fn publish_fn; /* set before any offer, then read-only */
  gpointer publish_user;
};

/* ---------------------------------------------------------------- helpers */

static void
random_hex(char *out, size_t n_chars)
{
  static const char hex[] = "0123456789abcdef";
  uint8_t b[64];
  size_t n = (n_chars + 1) / 2;
  g_assert(n <= sizeof b);
  if (RAND_bytes(b, (int)n) != 1) {
    for (size_t i = 0; i < n; i++)
      b[i] = (uint8_t)g_random_int();
  }
  for (size_t i = 0; i < n_chars; i++)
    out[i] = hex[(b[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
  out[n_chars] = 0;
}

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

/* ---------------------------------------------------------------- sessions */

static lc__rtc_session *
session_new(lc_rtc *rtc, lc__rtc_kind kind, const char *room)
{
  lc__rtc_session *s = g_new0(lc__rtc_session, 1);
  s->refs = 1;
  s->rtc = rtc;
  s->kind = kind;
  random_hex(s->id, 32);
  random_hex(s->ufrag, 16);
  random_hex(s->pwd, 32);
  s->room = g_strdup(room);
  s->owner = -1;
  s->created_us = g_get_monotonic_time();
  s->last_consent_us = s->created_us;
  s->video.s = s;
  s->video.kind = LC_MEDIA_VIDEO;
  s->video.cur_index = s->video.pending_index = -1;
  s->audio.s = s;
  s->audio.kind = LC_MEDIA_AUDIO;
  s->audio.cur_index = s->audio.pending_index = -1;
  return s;
}

lc__rtc_session *
lc__rtc_session_ref(lc__rtc_session *s)
{
  g_atomic_int_inc(&s->refs);
  return s;
}

void
lc__rtc_session_unref(lc__rtc_session *s)
{
  if (!s || !g_atomic_int_dec_and_test(&s->refs))
    return;
  if (s->srtp)
    lc_srtp_free(s->srtp);
  if (s->dtls)
    lc_dtls_free(s->dtls);
  if (s->bwe)
    lc__rtc_bwe_clear(s->bwe);
  g_free(s->bwe);
  g_free(s->room);
  g_free(s->remote_fp);
  g_free(s->pin);
  g_free(s->pin_w);
  if (s->whip_video)
    lc_rendition_unref(s->whip_video);
  if (s->whip_audio)
    lc_rendition_unref(s->whip_audio);
  if (s->media)
    lc_media_room_unref(s->media);
  g_free(s);
}

lc__rtc_session *
lc__rtc_lookup(lc_rtc *rtc, const char *ufrag, size_t ufrag_len)
{
  char key[17];
  if (ufrag_len == 0 || ufrag_len >= sizeof key)
    return NULL;
  memcpy(key, ufrag, ufrag_len);
  key[ufrag_len] = 0;
  g_mutex_lock(&rtc->lock);
  lc__rtc_session *s = g_hash_table_lookup(rtc->by_ufrag, key);
  if (s && !g_atomic_int_get(&s->closing))
    lc__rtc_session_ref(s);
  else
    s = NULL;
  g_mutex_unlock(&rtc->lock);
  return s;
}

int
lc__rtc_claim(lc_rtc *rtc, lc__rtc_session *s, int index)
{
  g_mutex_lock(&rtc->lock);
  if (s->owner < 0 && s->in_registry && !g_atomic_int_get(&s->closing)) {
    s->owner = index;
    s->owner_w = rtc->workers[index];
  }
  int owner = s->owner;
  g_mutex_unlock(&rtc->lock);
  return owner;
}

/* rtc->lock held. Returns true if it was registered (the caller then drops the registry ref). */
static bool
unregister_locked(lc_rtc *rtc, lc__rtc_session *s)
{
  if (!s->in_registry)
    return false;
  g_hash_table_remove(rtc->by_ufrag, s->ufrag);
  g_hash_table_remove(rtc->by_id, s->id);
  if (s->kind == LC__RTC_WHIP && g_hash_table_lookup(rtc->whip_rooms, s->room) == s)
    g_hash_table_remove(rtc->whip_rooms, s->room);
  s->in_registry = false;
  rtc->n_sessions--;
  return true;
}

void
lc__rtc_unregister(lc_rtc *rtc, lc__rtc_session *s, const char *reason)
{
  g_mutex_lock(&rtc->lock);
  bool was = unregister_locked(rtc, s);
  g_mutex_unlock(&rtc->lock);
  if (was && reason && rtc->closed_fn)
    rtc->closed_fn(s->id, reason, rtc->closed_user);
  if (was)
    lc__rtc_session_unref(s);
}

void
lc__rtc_reap_unowned(lc_rtc *rtc, int64_t now_us)
{
  int64_t limit = (int64_t)rtc->params.consent_timeout_ms * 1000;
  GPtrArray *dead = g_ptr_array_new();
  g_mutex_lock(&rtc->lock);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, rtc->by_ufrag);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    lc__rtc_session *s = v;
    if (s->owner < 0 && now_us - s->created_us > limit)
      g_ptr_array_add(dead, s);
  }
  for (guint i = 0; i < dead->len; i++) {
    lc__rtc_session *s = dead->pdata[i];
    unregister_locked(rtc, s);
    LC_INFO(s->room, s->id, "session ended: ICE never completed");
    LC__RTC_ADD(rtc->ctr.consent_timeouts, 1);
  }
  g_mutex_unlock(&rtc->lock);
  for (guint i = 0; i < dead->len; i++) {
    lc__rtc_session *s = dead->pdata[i];
    if (rtc->closed_fn)
      rtc->closed_fn(s->id, "ICE never completed", rtc->closed_user);
    lc__rtc_session_unref(s);
  }
  g_ptr_array_unref(dead);
}

char *
lc__rtc_get_pin(lc_rtc *rtc, lc__rtc_session *s)
{
  g_mutex_lock(&rtc->lock);
  char *p = g_strdup(s->pin);
  g_mutex_unlock(&rtc->lock);
  return p;
}

void
lc__rtc_count_rung(lc_rtc *rtc, lc__rtc_session *s, const char *name)
{
  g_mutex_lock(&rtc->lock);
  if (strcmp(s->rung_name, name) != 0) {
    if (s->rung_name[0]) {
      guint n = GPOINTER_TO_UINT(g_hash_table_lookup(rtc->rungs, s->rung_name));
      if (n <= 1)
        g_hash_table_remove(rtc->rungs, s->rung_name);
      else
        g_hash_table_insert(rtc->rungs, g_strdup(s->rung_name), GUINT_TO_POINTER(n - 1));
    }
    g_strlcpy(s->rung_name, name, sizeof s->rung_name);
    if (s->rung_name[0]) {
      guint n = GPOINTER_TO_UINT(g_hash_table_lookup(rtc->rungs, s->rung_name));
      g_hash_table_insert(rtc->rungs, g_strdup(s->rung_name), GUINT_TO_POINTER(n + 1));
    }
  }
  g_mutex_unlock(&rtc->lock);
}

void
lc__rtc_count_connected(lc_rtc *rtc, lc__rtc_kind kind, int delta)
{
  g_mutex_lock(&rtc->lock);
  if (kind == LC__RTC_WHEP)
    rtc->n_viewers += (unsigned)delta;
  else
    rtc->n_publishers += (unsigned)delta;
  g_mutex_unlock(&rtc->lock);
}

lc__rtc_counters *
lc__rtc_counters_of(lc_rtc *rtc)
{
  return &rtc->ctr;
}

const lc__rtc_params *
lc__rtc_params_of(lc_rtc *rtc)
{
  return &rtc->params;
}

lc_dtls_cert *
lc__rtc_cert(lc_rtc *rtc)
{
  return rtc->cert;
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
  g_mutex_init(&rtc->lock);
  rtc->by_ufrag = g_hash_table_new(g_str_hash, g_str_equal);
  rtc->by_id = g_hash_table_new(g_str_hash, g_str_equal);
  rtc->whip_rooms = g_hash_table_new(g_str_hash, g_str_equal);
  rtc->rungs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  rtc->n_workers = cfg->workers ? cfg->workers : g_get_num_processors();
  if (rtc->n_workers > MAX_WORKERS)
    rtc->n_workers = MAX_WORKERS;
  rtc->workers = g_new0(lc__rtc_worker *, rtc->n_workers);
  for (unsigned i = 0; i < rtc->n_workers; i++) {
    rtc->workers[i] = lc__rtc_worker_new(rtc, (int)i, (struct sockaddr *)&ss, ss_len, err);
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
  /* Sessions no worker adopted. */
  GList *left = g_hash_table_get_values(rtc->by_ufrag);
  for (GList *l = left; l; l = l->next)
    lc__rtc_unregister(rtc, l->data, NULL);
  g_list_free(left);
  g_hash_table_unref(rtc->by_ufrag);
  g_hash_table_unref(rtc->by_id);
  g_hash_table_unref(rtc->whip_rooms);
  g_hash_table_unref(rtc->rungs);
  g_mutex_clear(&rtc->lock);
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
  g_mutex_lock(&rtc->lock);
  bool full = rtc->n_sessions >= rtc->max_sessions;
  bool busy = kind == LC__RTC_WHIP && g_hash_table_contains(rtc->whip_rooms, room);
  g_mutex_unlock(&rtc->lock);
  if (full) {
    lc_error_set(err, "rtc", "too many WebRTC sessions (%u)", rtc->max_sessions);
    return LC_ELIMIT;
  }
  if (busy) {
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
  s = session_new(rtc, kind, room);
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

  g_mutex_lock(&rtc->lock);
  if (kind == LC__RTC_WHIP && g_hash_table_contains(rtc->whip_rooms, room)) {
    g_mutex_unlock(&rtc->lock);
    lc_error_set(err, "whip", "room %s already has a WHIP publisher", room);
    rc = LC_EBUSY;
    goto fail;
  }
  g_hash_table_insert(rtc->by_ufrag, s->ufrag, s);
  g_hash_table_insert(rtc->by_id, s->id, s);
  if (kind == LC__RTC_WHIP)
    g_hash_table_insert(rtc->whip_rooms, s->room, s);
  s->in_registry = true;
  rtc->n_sessions++;
  g_mutex_unlock(&rtc->lock);
  *resource_id = g_strdup(s->id);
  LC_INFO(room, s->id, "%s session created", kind == LC__RTC_WHEP ? "WHEP" : "WHIP");
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
  if (!resource_id)
    return LC_ENOENT;
  g_mutex_lock(&rtc->lock);
  lc__rtc_session *s = g_hash_table_lookup(rtc->by_id, resource_id);
  if (!s || g_atomic_int_get(&s->closing)) {
    g_mutex_unlock(&rtc->lock);
    return LC_ENOENT;
  }
  g_atomic_int_set(&s->closing, 1);
  int owner = s->owner;
  bool mine = owner < 0 && unregister_locked(rtc, s);
  g_mutex_unlock(&rtc->lock);
  if (mine) {
    LC_INFO(s->room, s->id, "session ended: deleted before ICE");
    lc__rtc_session_unref(s);
  } else {
    lc__rtc_worker_wake(rtc->workers[owner]);
  }
  return 0;
}

int
lc_rtc_pin(lc_rtc *rtc, const char *resource_id, const char *rung)
{
  int rc = 0;
  g_mutex_lock(&rtc->lock);
  lc__rtc_session *s = resource_id ? g_hash_table_lookup(rtc->by_id, resource_id) : NULL;
  if (!s || g_atomic_int_get(&s->closing)) {
    rc = LC_ENOENT;
  } else if (s->kind != LC__RTC_WHEP) {
    rc = LC_EINVAL;
  } else {
    lc__rtc_session_ref(s);
  }
  g_mutex_unlock(&rtc->lock);
  if (rc)
    return rc;
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
    g_mutex_lock(&rtc->lock);
    g_free(s->pin);
    s->pin = g_strdup(rung);
    int owner = s->owner;
    g_mutex_unlock(&rtc->lock);
    g_atomic_int_set(&s->pin_changed, 1);
    if (owner >= 0)
      lc__rtc_worker_wake(rtc->workers[owner]);
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
  g_mutex_lock(&rtc->lock);
  out->sessions = rtc->n_sessions;
  out->viewers = rtc->n_viewers;
  out->publishers = rtc->n_publishers;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, rtc->rungs);
  while (g_hash_table_iter_next(&it, &k, &v) && out->n_rungs < LC_RTC_STATS_RUNGS) {
    lc_rtc_rung_count *rc = &out->rungs[out->n_rungs++];
    g_strlcpy(rc->name, k, sizeof rc->name);
    rc->viewers = GPOINTER_TO_UINT(v);
  }
  g_mutex_unlock(&rtc->lock);
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
  rtc->publish_fn = fn;
  rtc->publish_user = user;
}

void
lc__rtc_report_publish(lc_rtc *rtc, const lc__rtc_session *s, bool live, const char *reason)
{
  if (!rtc->publish_fn)
    return;
  char peer[INET6_ADDRSTRLEN + 8] = "";
  if (s->has_addr) {
    char host[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
    int port = 0;
    if (sa->sa_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    g_snprintf(peer, sizeof peer, "%s:%d", host, port);
  }
  rtc->publish_fn(s->room, s->id, live, reason, peer, rtc->publish_user);
}

void
lc_rtc_set_closed_notify(lc_rtc *rtc, lc_rtc_closed_fn fn, gpointer user)
{
  rtc->closed_fn = fn;
  rtc->closed_user = user;
}

/* Session life: creation with random credentials, reference counting. See rtc_session.h. */
#include "rtc/rtc_session.h"

#include <openssl/rand.h>

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

lc__rtc_session *
lc__rtc_session_new(lc__rtc_kind kind, const char *room)
{
  lc__rtc_session *s = g_new0(lc__rtc_session, 1);
  s->refs = 1;
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

/* The relay's wire format (see relay_wire.h). Pure; any thread. */
#include "relay/relay_wire.h"
#include "base/bytes.h"
#include "base/errors.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REND_FIXED 17 /* index kind pt channels live clock(4) w(2) h(2) kbps(4) */

/* ---- a bounded reader ---- */

typedef struct {
  const uint8_t *p;
  size_t left;
  bool bad;
} reader;

static uint8_t
rd8(reader *r)
{
  if (r->left < 1) {
    r->bad = true;
    return 0;
  }
  r->left--;
  return *r->p++;
}

static const uint8_t *
take(reader *r, size_t n)
{
  if (r->left < n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *at = r->p;
  r->p += n;
  r->left -= n;
  return at;
}

/* A length-prefixed string into out (cap bytes with the NUL); printable ASCII only. */
static bool
rdstr(reader *r, char *out, size_t cap, bool allow_empty)
{
  uint8_t n = rd8(r);
  const uint8_t *s = take(r, n);
  if (!s || n >= cap || (n == 0 && !allow_empty))
    return false;
  for (unsigned i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e)
      return false;
  memcpy(out, s, n);
  out[n] = '\0';
  return true;
}

static bool
valid_name(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n >= 16)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_' || s[i] == '-' || s[i] == '.'))
      return false;
  return true;
}

int
lc_relay_msg_parse(const uint8_t *buf, size_t len, lc_relay_msg *out, const char **why)
{
  if (!buf || len < 1 || len > LC_RELAY_MAX_MSG) {
    *why = "message empty or too long";
    return LC_EINVAL;
  }
  memset(out, 0, offsetof(lc_relay_msg, rend));
  reader r = {buf + 1, len - 1, false};
  out->type = (lc_relay_msg_type)buf[0];
  switch (buf[0]) {
  case LC_RELAY_MSG_DATA: {
    const uint8_t *h = take(&r, 6);
    if (!h || r.left < 12 || (r.p[0] >> 6) != 2) {
      *why = "data message without an RTP packet";
      return LC_EINVAL;
    }
    out->index = h[0];
    out->flags = h[1];
    out->age_us = lc_rd32(h + 2);
    out->rtp = r.p;
    out->rtp_len = r.left;
    return 0;
  }
  case LC_RELAY_MSG_RENDITIONS: {
    unsigned n = rd8(&r);
    if (n > LC_RELAY_MAX_RENDITIONS) {
      *why = "too many renditions";
      return LC_EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
      lc_relay_rendition *d = &out->rend[i];
      memset(d, 0, sizeof *d);
      const uint8_t *f = take(&r, REND_FIXED);
      if (!f) {
        *why = "rendition truncated";
        return LC_EINVAL;
      }
      d->index = f[0];
      d->kind = f[1];
      d->payload_type = f[2];
      d->channels = f[3];
      d->live = f[4] != 0;
      d->clock_rate = lc_rd32(f + 5);
      d->width = lc_rd16(f + 9);
      d->height = lc_rd16(f + 11);
      d->bitrate_kbps = lc_rd32(f + 13);
      if (!rdstr(&r, d->name, sizeof d->name, false) || !valid_name(d->name)) {
        *why = "rendition name invalid";
        return LC_EINVAL;
      }
      if (!rdstr(&r, d->fmtp, sizeof d->fmtp, true)) {
        *why = "rendition fmtp invalid";
        return LC_EINVAL;
      }
      if (d->kind > 1 || d->clock_rate == 0 || d->clock_rate > 192000 || d->payload_type > 127) {
        *why = "rendition kind, clock rate or payload type invalid";
        return LC_EINVAL;
      }
      for (unsigned k = 0; k < i; k++)
        if (out->rend[k].index == d->index || strcmp(out->rend[k].name, d->name) == 0) {
          *why = "rendition index or name repeated";
          return LC_EINVAL;
        }
    }
    out->n = n;
    break;
  }
  case LC_RELAY_MSG_SUBSCRIBE: {
    unsigned n = rd8(&r);
    if (n > LC_RELAY_MAX_RENDITIONS) {
      *why = "too many names";
      return LC_EINVAL;
    }
    for (unsigned i = 0; i < n; i++)
      if (!rdstr(&r, out->names[i], sizeof out->names[i], false) || !valid_name(out->names[i])) {
        *why = "rendition name invalid";
        return LC_EINVAL;
      }
    out->n = n;
    break;
  }
  case LC_RELAY_MSG_KEYFRAME:
    if (!rdstr(&r, out->names[0], sizeof out->names[0], false) || !valid_name(out->names[0])) {
      *why = "rendition name invalid";
      return LC_EINVAL;
    }
    out->n = 1;
    break;
  case LC_RELAY_MSG_END:
    out->end_code = rd8(&r);
    if (!rdstr(&r, out->reason, sizeof out->reason, true)) {
      *why = "end reason invalid";
      return LC_EINVAL;
    }
    break;
  default:
    *why = "unknown message type";
    return LC_EINVAL;
  }
  if (r.bad || r.left != 0) {
    *why = r.bad ? "message truncated" : "trailing bytes after the message";
    return LC_EINVAL;
  }
  return 0;
}

/* ---- writers ---- */

static size_t
wrstr(uint8_t *p, const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n > max || n > 255)
    return 0;
  p[0] = (uint8_t)n;
  memcpy(p + 1, s, n);
  return n + 1;
}

size_t
lc_relay_write_renditions(uint8_t *buf, const lc_relay_rendition *rs, unsigned n)
{
  if (n > LC_RELAY_MAX_RENDITIONS)
    return 0;
  size_t at = 0;
  buf[at++] = LC_RELAY_MSG_RENDITIONS;
  buf[at++] = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) {
    const lc_relay_rendition *d = &rs[i];
    if (at + REND_FIXED + 2 + strlen(d->name) + strlen(d->fmtp) > LC_RELAY_MAX_MSG || !valid_name(d->name))
      return 0;
    uint8_t *f = buf + at;
    f[0] = d->index;
    f[1] = d->kind;
    f[2] = d->payload_type;
    f[3] = d->channels;
    f[4] = d->live ? 1 : 0;
    lc_wr32(f + 5, d->clock_rate);
    lc_wr16(f + 9, d->width);
    lc_wr16(f + 11, d->height);
    lc_wr32(f + 13, d->bitrate_kbps);
    at += REND_FIXED;
    at += wrstr(buf + at, d->name, 15);
    size_t w = wrstr(buf + at, d->fmtp, 127);
    if (w == 0)
      return 0;
    at += w;
  }
  return at;
}

size_t
lc_relay_write_data(uint8_t *buf, uint8_t index, bool keyframe, uint32_t age_us, const uint8_t *rtp, size_t len)
{
  if (len < 12 || len > LC_RELAY_MAX_RTP)
    return 0;
  buf[0] = LC_RELAY_MSG_DATA;
  buf[1] = index;
  buf[2] = keyframe ? 1 : 0;
  lc_wr32(buf + 3, age_us);
  memcpy(buf + LC_RELAY_DATA_HDR, rtp, len);
  return LC_RELAY_DATA_HDR + len;
}

size_t
lc_relay_write_subscribe(uint8_t *buf, const char *const *names, unsigned n)
{
  if (n > LC_RELAY_MAX_RENDITIONS)
    return 0;
  size_t at = 0;
  buf[at++] = LC_RELAY_MSG_SUBSCRIBE;
  buf[at++] = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) {
    if (!valid_name(names[i]))
      return 0;
    at += wrstr(buf + at, names[i], 15);
  }
  return at;
}

size_t
lc_relay_write_keyframe(uint8_t *buf, const char *name)
{
  if (!valid_name(name))
    return 0;
  buf[0] = LC_RELAY_MSG_KEYFRAME;
  return 1 + wrstr(buf + 1, name, 15);
}

size_t
lc_relay_write_end(uint8_t *buf, lc_relay_end_code code, const char *reason)
{
  char clean[256];
  size_t n = 0;
  for (const char *s = reason ? reason : ""; *s && n < sizeof clean - 1; s++)
    clean[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
  clean[n] = '\0';
  buf[0] = LC_RELAY_MSG_END;
  buf[1] = (uint8_t)code;
  return 2 + wrstr(buf + 2, clean, 255);
}

/* ---- the connection request ---- */

bool
lc_relay_valid_node(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > LC_RELAY_MAX_ID)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '.' || s[i] == '_' || s[i] == ':' || s[i] == '-'))
      return false;
  return true;
}

static bool
valid_room(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
      return false;
  return true;
}

static void
hmac_hex(const char *secret, const char *data, size_t len, char out[65])
{
  unsigned char mac[32];
  unsigned int mlen = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, len, mac, &mlen) || mlen != 32)
    memset(mac, 0, sizeof mac);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[64] = '\0';
}

int
lc_relay_request_sign(const lc_relay_request *rq, const char *secret, char *out, const char **why)
{
  if (!valid_room(rq->room) || !lc_relay_valid_node(rq->node) || rq->n_via == 0 || rq->n_via > LC_RELAY_MAX_HOPS) {
    *why = "room, node or via invalid";
    return LC_EINVAL;
  }
  char body[LC_RELAY_STREAMID_MAX];
  int at = snprintf(body, sizeof body, "lcrelay1 room=%s node=%s via=", rq->room, rq->node);
  for (unsigned i = 0; i < rq->n_via; i++) {
    if (!lc_relay_valid_node(rq->via[i])) {
      *why = "via names an invalid node";
      return LC_EINVAL;
    }
    at += snprintf(body + at, sizeof body - (size_t)at, "%s%s", i ? "," : "", rq->via[i]);
    if (at >= (int)sizeof body) {
      *why = "request too long";
      return LC_EINVAL;
    }
  }
  at += snprintf(body + at, sizeof body - (size_t)at, " ts=%lld", (long long)rq->ts);
  if (at + 5 + 64 >= LC_RELAY_STREAMID_MAX) {
    *why = "request too long";
    return LC_EINVAL;
  }
  char sig[65];
  hmac_hex(secret, body, (size_t)at, sig);
  memcpy(out, body, (size_t)at);
  memcpy(out + at, " sig=", 5);
  memcpy(out + at + 5, sig, 65);
  return 0;
}

/* Copies the value of "key=" at *p (up to the next space or the end) into out; advances *p. */
static bool
field(const char **p, const char *end, const char *key, char *out, size_t cap)
{
  size_t kl = strlen(key);
  if ((size_t)(end - *p) < kl || memcmp(*p, key, kl) != 0)
    return false;
  const char *v = *p + kl, *e = v;
  while (e < end && *e != ' ')
    e++;
  if ((size_t)(e - v) >= cap)
    return false;
  memcpy(out, v, (size_t)(e - v));
  out[e - v] = '\0';
  *p = e < end ? e + 1 : e;
  return true;
}

int
lc_relay_request_verify(const char *sid, size_t len, const char *secret, int64_t now_s, lc_relay_request *out,
                        const char **why)
{
  memset(out, 0, sizeof *out);
  *why = "malformed relay request";
  if (!sid || len < 9 || len >= LC_RELAY_STREAMID_MAX || memchr(sid, '\0', len) || memcmp(sid, "lcrelay1 ", 9) != 0)
    return LC_EINVAL;
  const char *p = sid + 9, *end = sid + len;
  char via[LC_RELAY_STREAMID_MAX], ts[24], sig[80];
  if (!field(&p, end, "room=", out->room, sizeof out->room) || !valid_room(out->room) ||
      !field(&p, end, "node=", out->node, sizeof out->node) || !lc_relay_valid_node(out->node) ||
      !field(&p, end, "via=", via, sizeof via) || !field(&p, end, "ts=", ts, sizeof ts))
    return LC_EINVAL;
  const char *sig_at = p;
  if (!field(&p, end, "sig=", sig, sizeof sig) || p != end || strlen(sig) != 64)
    return LC_EINVAL;
  char *tend = NULL;
  long long t = strtoll(ts, &tend, 10);
  if (!*ts || *tend)
    return LC_EINVAL;
  out->ts = t;
  for (char *save = NULL, *tok = strtok_r(via, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (out->n_via == LC_RELAY_MAX_HOPS || !lc_relay_valid_node(tok)) {
      *why = out->n_via == LC_RELAY_MAX_HOPS ? "too many relay hops" : "via names an invalid node";
      return LC_EINVAL;
    }
    strcpy(out->via[out->n_via++], tok);
  }
  if (out->n_via == 0 || strcmp(out->via[out->n_via - 1], out->node) != 0) {
    *why = "via must end with the requesting node";
    return LC_EINVAL;
  }
  char want[65];
  hmac_hex(secret, sid, (size_t)(sig_at - 1 - sid), want);
  if (CRYPTO_memcmp(want, sig, 64) != 0) {
    *why = "bad signature (wrong relay secret)";
    return LC_EPERM;
  }
  if (t < now_s - LC_RELAY_MAX_SKEW_S || t > now_s + LC_RELAY_MAX_SKEW_S) {
    *why = "request timestamp too far from this node's clock";
    return LC_EPERM;
  }
  return 0;
}

bool
lc_relay_request_passed(const lc_relay_request *rq, const char *node)
{
  for (unsigned i = 0; i < rq->n_via; i++)
    if (strcmp(rq->via[i], node) == 0)
      return true;
  return false;
}

/* SDP offer parser, H.264 profile comparison, ICE-lite answer builder. See sdp.h. */
#include "rtc/sdp.h"

#include <string.h>

#include "base/errors.h"

#define MAX_TOKEN 256     /* names, mids, ufrags, setup values */
#define MAX_FMTP 1024
#define MAX_URI 512

/* Session-level values, before they are folded into the media sections. */
typedef struct {
  char *ice_ufrag, *ice_pwd, *fingerprint, *setup;
  bool other_fingerprint;
  lc_sdp_dir dir;
} session_attrs;

/* A borrowed slice of the input. */
typedef struct {
  const char *p;
  size_t n;
} slice;

static bool
sl_eq(slice s, const char *lit)
{
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool
sl_caseeq(slice s, const char *lit)
{
  size_t n = strlen(lit);
  return s.n == n && g_ascii_strncasecmp(s.p, lit, n) == 0;
}

static bool
sl_starts(slice s, const char *lit)
{
  size_t n = strlen(lit);
  return s.n >= n && memcmp(s.p, lit, n) == 0;
}

/* Next space-separated token of *s (leading spaces skipped); empty when none. */
static slice
sl_token(slice *s)
{
  while (s->n && s->p[0] == ' ') {
    s->p++;
    s->n--;
  }
  slice t = {s->p, 0};
  while (t.n < s->n && s->p[t.n] != ' ')
    t.n++;
  s->p += t.n;
  s->n -= t.n;
  return t;
}

static void
sl_trim(slice *s)
{
  while (s->n && (s->p[0] == ' ' || s->p[0] == '\t')) {
    s->p++;
    s->n--;
  }
  while (s->n && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\t'))
    s->n--;
}

/* Strict unsigned decimal, at most max. */
static bool
sl_uint(slice s, uint32_t max, uint32_t *out)
{
  if (s.n == 0 || s.n > 10)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(s.p[i] - '0');
  }
  if (v > max)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* Printable token without spaces, bounded. */
static bool
sl_is_token(slice s, size_t max)
{
  if (s.n == 0 || s.n > max)
    return false;
  for (size_t i = 0; i < s.n; i++)
    if ((unsigned char)s.p[i] <= 0x20 || (unsigned char)s.p[i] == 0x7f)
      return false;
  return true;
}

static char *
sl_dup(slice s)
{
  return g_strndup(s.p, s.n);
}

/* Replaces *dst with a copy of s (later lines win, as browsers do). */
static void
set_str(char **dst, slice s)
{
  g_free(*dst);
  *dst = sl_dup(s);
}

int
lc_sdp_parse_profile_level_id(const char *s, size_t len, uint32_t *out)
{
  if (len != 6)
    return LC_EINVAL;
  uint32_t v = 0;
  for (size_t i = 0; i < 6; i++) {
    int d = g_ascii_xdigit_value(s[i]);
    if (d < 0)
      return LC_EINVAL;
    v = (v << 4) | (uint32_t)d;
  }
  *out = v;
  return 0;
}

lc_h264_profile
lc_sdp_h264_profile(uint32_t plid)
{
  uint8_t idc = (uint8_t)(plid >> 16);
  uint8_t iop = (uint8_t)(plid >> 8);
  bool cs1 = iop & 0x40, cs4 = iop & 0x08, cs5 = iop & 0x04;
  switch (idc) {
  case 66:
    return LC_H264_PROFILE_BASELINE;
  case 77:
    return cs1 ? LC_H264_PROFILE_BASELINE : LC_H264_PROFILE_MAIN;
  case 88:
    return cs1 ? LC_H264_PROFILE_BASELINE : LC_H264_PROFILE_UNKNOWN;
  case 100:
    return (cs4 && cs5) ? LC_H264_PROFILE_CONSTRAINED_HIGH : LC_H264_PROFILE_HIGH;
  case 244:
    return LC_H264_PROFILE_HIGH444;
  default:
    return LC_H264_PROFILE_UNKNOWN;
  }
}

bool
lc_sdp_h264_same_profile(uint32_t a, uint32_t b)
{
  lc_h264_profile pa = lc_sdp_h264_profile(a);
  return pa != LC_H264_PROFILE_UNKNOWN && pa == lc_sdp_h264_profile(b);
}

static void
media_clear(lc_sdp_media *m)
{
  g_free(m->media);
  g_free(m->proto);
  g_free(m->formats);
  g_free(m->mid);
  g_free(m->ice_ufrag);
  g_free(m->ice_pwd);
  g_free(m->fingerprint_sha256);
  g_free(m->setup);
  for (size_t i = 0; i < m->n_codecs; i++) {
    g_free(m->codecs[i].name);
    g_free(m->codecs[i].fmtp);
  }
  g_free(m->codecs);
  for (size_t i = 0; i < m->n_extmaps; i++)
    g_free(m->extmaps[i].uri);
  g_free(m->extmaps);
  g_free(m->cname);
  g_free(m->msid);
}

void
lc_sdp_offer_free(lc_sdp_offer *offer)
{
  if (!offer)
    return;
  for (size_t i = 0; i < offer->n_media; i++)
    media_clear(&offer->media[i]);
  g_free(offer->media);
  g_strfreev(offer->bundle);
  g_free(offer->origin_username);
  g_free(offer->session_id);
  g_free(offer);
}

static lc_sdp_codec *
find_codec(lc_sdp_media *m, uint32_t pt)
{
  for (size_t i = 0; i < m->n_codecs; i++)
    if (m->codecs[i].pt == pt)
      return &m->codecs[i];
  return NULL;
}

static bool
parse_dir(slice name, lc_sdp_dir *dir)
{
  if (sl_eq(name, "sendrecv"))
    *dir = LC_SDP_SENDRECV;
  else if (sl_eq(name, "sendonly"))
    *dir = LC_SDP_SENDONLY;
  else if (sl_eq(name, "recvonly"))
    *dir = LC_SDP_RECVONLY;
  else if (sl_eq(name, "inactive"))
    *dir = LC_SDP_INACTIVE;
  else
    return false;
  return true;
}

/* "sha-256 AB:CD:..." -> validated and upper-cased into *sha256, or *other. */
static int
parse_fingerprint(slice v, char **sha256, bool *other)
{
  slice alg = sl_token(&v);
  slice fp = sl_token(&v);
  if (alg.n == 0 || fp.n == 0)
    return LC_EINVAL;
  if (!sl_caseeq(alg, "sha-256")) {
    *other = true;
    return 0;
  }
  if (fp.n != 32 * 3 - 1)
    return LC_EINVAL;
  for (size_t i = 0; i < fp.n; i++) {
    if (i % 3 == 2 ? fp.p[i] != ':' : !g_ascii_isxdigit(fp.p[i]))
      return LC_EINVAL;
  }
  g_free(*sha256);
  *sha256 = g_ascii_strup(fp.p, (gssize)fp.n);
  return 0;
}

/* Reads the fmtp parameters we use from "k=v;k=v". */
static void
parse_fmtp_params(lc_sdp_codec *c, slice v)
{
  while (v.n) {
    slice kv = {v.p, 0};
    while (kv.n < v.n && v.p[kv.n] != ';')
      kv.n++;
    v.p += kv.n;
    v.n -= kv.n;
    if (v.n) {
      v.p++;
      v.n--;
    }
    sl_trim(&kv);
    const char *eq = memchr(kv.p, '=', kv.n);
    if (!eq)
      continue;
    slice k = {kv.p, (size_t)(eq - kv.p)};
    slice val = {eq + 1, kv.n - k.n - 1};
    sl_trim(&k);
    sl_trim(&val);
    uint32_t u;
    if (sl_caseeq(k, "packetization-mode") && sl_uint(val, 2, &u))
      c->packetization_mode = (int)u;
    else if (sl_caseeq(k, "profile-level-id") &&
             lc_sdp_parse_profile_level_id(val.p, val.n, &c->profile_level_id) == 0)
      c->has_profile_level_id = true;
    else if (sl_caseeq(k, "apt") && sl_uint(val, 127, &u))
      c->apt = (int)u;
  }
}

static unsigned
parse_fb_kind(slice v)
{
  slice type = sl_token(&v);
  slice sub = sl_token(&v);
  if (sl_eq(type, "nack"))
    return sub.n == 0 ? LC_SDP_FB_NACK : sl_eq(sub, "pli") ? LC_SDP_FB_NACK_PLI : 0;
  if (sl_eq(type, "ccm") && sl_eq(sub, "fir"))
    return LC_SDP_FB_CCM_FIR;
  if (sl_eq(type, "goog-remb"))
    return LC_SDP_FB_GOOG_REMB;
  if (sl_eq(type, "transport-cc"))
    return LC_SDP_FB_TRANSPORT_CC;
  return 0;
}

/* m=<media> <port>[/<n>] <proto> <fmt> ... */
static int
parse_m_line(lc_sdp_media *m, slice v)
{
  slice media = sl_token(&v);
  slice port = sl_token(&v);
  slice proto = sl_token(&v);
  sl_trim(&v);
  if (!sl_is_token(media, 32) || !sl_is_token(proto, 64) || v.n == 0)
    return LC_EINVAL;
  const char *slash = memchr(port.p, '/', port.n);
  if (slash)
    port.n = (size_t)(slash - port.p);
  uint32_t p;
  if (!sl_uint(port, 65535, &p))
    return LC_EINVAL;
  m->media = sl_dup(media);
  m->port = (uint16_t)p;
  m->proto = sl_dup(proto);
  m->formats = sl_dup(v);
  m->kind = sl_eq(media, "audio") ? LC_SDP_AUDIO : sl_eq(media, "video") ? LC_SDP_VIDEO
          : sl_eq(media, "application") ? LC_SDP_APPLICATION : LC_SDP_OTHER;
  if (!strstr(m->proto, "RTP/"))
    return 0;
  m->codecs = g_new0(lc_sdp_codec, LC_SDP_MAX_CODECS);
  while (v.n) {
    slice f = sl_token(&v);
    if (f.n == 0)
      break;
    if (!sl_uint(f, 127, &p))
      return LC_EINVAL;
    if (find_codec(m, p))
      continue;
    lc_sdp_codec *c = &m->codecs[m->n_codecs++];
    c->pt = (uint8_t)p;
    c->apt = -1;
  }
  return 0;
}

/* a=rtpmap:<pt> <name>/<rate>[/<channels>] */
static int
parse_rtpmap(lc_sdp_media *m, slice v)
{
  slice pt = sl_token(&v);
  slice enc = sl_token(&v);
  uint32_t n;
  if (!sl_uint(pt, 127, &n) || enc.n == 0)
    return LC_EINVAL;
  lc_sdp_codec *c = find_codec(m, n);
  if (!c)
    return 0; /* not in the m= line: ignored */
  const char *s1 = memchr(enc.p, '/', enc.n);
  if (!s1)
    return LC_EINVAL;
  slice name = {enc.p, (size_t)(s1 - enc.p)};
  slice rest = {s1 + 1, enc.n - name.n - 1};
  const char *s2 = memchr(rest.p, '/', rest.n);
  slice rate = {rest.p, s2 ? (size_t)(s2 - rest.p) : rest.n};
  uint32_t r, ch = 0;
  if (!sl_is_token(name, 64) || !sl_uint(rate, 10000000, &r))
    return LC_EINVAL;
  if (s2) {
    slice chs = {s2 + 1, rest.n - rate.n - 1};
    if (!sl_uint(chs, 255, &ch))
      return LC_EINVAL;
  }
  set_str(&c->name, name);
  c->clock_rate = r;
  c->channels = (uint8_t)ch;
  return 0;
}

/* a=fmtp:<pt> <params> */
static int
parse_fmtp(lc_sdp_media *m, slice v)
{
  slice pt = sl_token(&v);
  uint32_t n;
  sl_trim(&v);
  if (!sl_uint(pt, 127, &n) || v.n == 0 || v.n > MAX_FMTP)
    return LC_EINVAL;
  for (size_t i = 0; i < v.n; i++)
    if ((unsigned char)v.p[i] < 0x20)
      return LC_EINVAL;
  lc_sdp_codec *c = find_codec(m, n);
  if (!c)
    return 0;
  set_str(&c->fmtp, v);
  c->packetization_mode = 0;
  c->has_profile_level_id = false;
  c->apt = -1;
  parse_fmtp_params(c, v);
  return 0;
}

/* a=rtcp-fb:<pt>|* <type> [<subtype>] */
static int
parse_rtcp_fb(lc_sdp_media *m, slice v)
{
  slice pt = sl_token(&v);
  unsigned fb = parse_fb_kind(v);
  uint32_t n;
  if (sl_eq(pt, "*")) {
    for (size_t i = 0; i < m->n_codecs; i++)
      m->codecs[i].fb |= fb;
    return 0;
  }
  if (!sl_uint(pt, 127, &n))
    return LC_EINVAL;
  lc_sdp_codec *c = find_codec(m, n);
  if (c)
    c->fb |= fb;
  return 0;
}

/* a=extmap:<id>[/<direction>] <uri> [...] */
static int
parse_extmap(lc_sdp_media *m, slice v)
{
  slice id = sl_token(&v);
  slice uri = sl_token(&v);
  const char *slash = memchr(id.p, '/', id.n);
  if (slash)
    id.n = (size_t)(slash - id.p);
  uint32_t n;
  if (!sl_uint(id, 255, &n) || n == 0 || !sl_is_token(uri, MAX_URI))
    return LC_EINVAL;
  if (m->n_extmaps >= LC_SDP_MAX_EXTMAPS)
    return 0; /* beyond the limit: ignored */
  if (!m->extmaps)
    m->extmaps = g_new0(lc_sdp_extmap, LC_SDP_MAX_EXTMAPS);
  m->extmaps[m->n_extmaps].id = (uint8_t)n;
  m->extmaps[m->n_extmaps].uri = sl_dup(uri);
  m->n_extmaps++;
  return 0;
}

/* a=ssrc:<ssrc> <attribute>[:<value>] */
static int
parse_ssrc(lc_sdp_media *m, slice v)
{
  slice id = sl_token(&v);
  uint32_t ssrc;
  if (!sl_uint(id, UINT32_MAX, &ssrc))
    return LC_EINVAL;
  bool seen = false;
  for (size_t i = 0; i < m->n_ssrcs; i++)
    seen |= m->ssrcs[i] == ssrc;
  if (!seen && m->n_ssrcs < LC_SDP_MAX_SSRCS)
    m->ssrcs[m->n_ssrcs++] = ssrc;
  sl_trim(&v);
  if (sl_starts(v, "cname:") && m->ssrcs[0] == ssrc && !m->cname) {
    slice cname = {v.p + 6, v.n - 6};
    if (!sl_is_token(cname, MAX_TOKEN))
      return LC_EINVAL;
    m->cname = sl_dup(cname);
  }
  return 0;
}

/* True when the space-separated list v contains word. */
static bool
has_word(slice v, const char *word)
{
  for (slice t = sl_token(&v); t.n; t = sl_token(&v))
    if (sl_eq(t, word))
      return true;
  return false;
}

/* Splits "name[:value]". */
static void
split_attr(slice a, slice *name, slice *value)
{
  const char *colon = memchr(a.p, ':', a.n);
  name->p = a.p;
  name->n = colon ? (size_t)(colon - a.p) : a.n;
  value->p = colon ? colon + 1 : a.p + a.n;
  value->n = colon ? a.n - name->n - 1 : 0;
}

/* Attributes valid at both levels: transport ones. Returns 1 when handled. */
static int
parse_transport_attr(slice name, slice value, char **ufrag, char **pwd, char **fp, bool *other_fp, char **setup)
{
  if (sl_eq(name, "ice-ufrag") || sl_eq(name, "ice-pwd") || sl_eq(name, "setup")) {
    sl_trim(&value);
    if (!sl_is_token(value, MAX_TOKEN))
      return LC_EINVAL;
    set_str(sl_eq(name, "ice-ufrag") ? ufrag : sl_eq(name, "ice-pwd") ? pwd : setup, value);
    return 1;
  }
  if (sl_eq(name, "fingerprint")) {
    int rc = parse_fingerprint(value, fp, other_fp);
    return rc < 0 ? rc : 1;
  }
  return 0;
}

/* One a= line inside an m= section. */
static int
parse_media_attr(lc_sdp_offer *o, lc_sdp_media *m, slice a)
{
  slice name, value;
  split_attr(a, &name, &value);
  int rc = parse_transport_attr(name, value, &m->ice_ufrag, &m->ice_pwd, &m->fingerprint_sha256,
                                &m->has_other_fingerprint, &m->setup);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  if (parse_dir(name, &m->dir))
    return 0;
  if (sl_eq(name, "mid")) {
    sl_trim(&value);
    if (!sl_is_token(value, MAX_TOKEN))
      return LC_EINVAL;
    set_str(&m->mid, value);
  } else if (sl_eq(name, "rtcp-mux")) {
    m->rtcp_mux = true;
  } else if (sl_eq(name, "rtcp-mux-only")) {
    m->rtcp_mux_only = true;
    m->rtcp_mux = true;
  } else if (sl_eq(name, "rtcp-rsize")) {
    m->rtcp_rsize = true;
  } else if (sl_eq(name, "bundle-only")) {
    m->bundle_only = true;
  } else if (sl_eq(name, "rtpmap")) {
    return parse_rtpmap(m, value);
  } else if (sl_eq(name, "fmtp")) {
    return parse_fmtp(m, value);
  } else if (sl_eq(name, "rtcp-fb")) {
    return parse_rtcp_fb(m, value);
  } else if (sl_eq(name, "extmap")) {
    return parse_extmap(m, value);
  } else if (sl_eq(name, "ssrc")) {
    return parse_ssrc(m, value);
  } else if (sl_eq(name, "msid")) {
    sl_trim(&value);
    if (value.n == 0 || value.n > MAX_TOKEN)
      return LC_EINVAL;
    set_str(&m->msid, value);
  } else if (sl_eq(name, "candidate")) {
    m->n_candidates++;
  } else if (sl_eq(name, "end-of-candidates")) {
    m->end_of_candidates = true;
  } else if (sl_eq(name, "ice-options")) {
    o->trickle |= has_word(value, "trickle");
  }
  return 0;
}

/* One a= line before the first m= line. */
static int
parse_session_attr(lc_sdp_offer *o, session_attrs *s, slice a)
{
  slice name, value;
  split_attr(a, &name, &value);
  int rc = parse_transport_attr(name, value, &s->ice_ufrag, &s->ice_pwd, &s->fingerprint, &s->other_fingerprint,
                                &s->setup);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  if (parse_dir(name, &s->dir))
    return 0;
  if (sl_eq(name, "ice-lite")) {
    o->ice_lite = true;
  } else if (sl_eq(name, "ice-options")) {
    o->trickle |= has_word(value, "trickle");
  } else if (sl_eq(name, "group")) {
    slice sem = sl_token(&value);
    if (!sl_eq(sem, "BUNDLE") || o->bundle)
      return 0; /* only the first BUNDLE group is used */
    GPtrArray *mids = g_ptr_array_new_with_free_func(g_free);
    for (slice t = sl_token(&value); t.n; t = sl_token(&value)) {
      if (!sl_is_token(t, MAX_TOKEN) || mids->len >= LC_SDP_MAX_MEDIA) {
        g_ptr_array_free(mids, TRUE);
        return LC_EINVAL;
      }
      g_ptr_array_add(mids, sl_dup(t));
    }
    g_ptr_array_add(mids, NULL);
    o->bundle = (char **)g_ptr_array_free(mids, FALSE);
  }
  return 0;
}

static void
inherit(char **dst, const char *session_value)
{
  if (!*dst && session_value)
    *dst = g_strdup(session_value);
}

/* Folds session-level transport attributes into sections that have none. */
static void
resolve(lc_sdp_offer *o, const session_attrs *s)
{
  for (size_t i = 0; i < o->n_media; i++) {
    lc_sdp_media *m = &o->media[i];
    inherit(&m->ice_ufrag, s->ice_ufrag);
    inherit(&m->ice_pwd, s->ice_pwd);
    inherit(&m->fingerprint_sha256, s->fingerprint);
    inherit(&m->setup, s->setup);
    m->has_other_fingerprint |= s->other_fingerprint;
  }
}

int
lc_sdp_parse(const char *text, size_t len, lc_sdp_offer **out, char **why)
{
  int rc = LC_EINVAL;
  lc_sdp_offer *o = NULL;
  session_attrs s = {0};
  unsigned lineno = 0;
  const char *what = "malformed line";
  lc_sdp_media *m = NULL;
  bool seen_v = false;
  char attr_what[64];

  *out = NULL;
  if (why)
    *why = NULL;
  if (len > LC_SDP_MAX_BYTES) {
    rc = LC_ETOOBIG;
    what = "offer too large";
    goto fail;
  }
  if (memchr(text, '\0', len)) {
    what = "NUL byte in the offer";
    goto fail;
  }
  o = g_new0(lc_sdp_offer, 1);
  o->media = g_new0(lc_sdp_media, LC_SDP_MAX_MEDIA);
  s.dir = LC_SDP_SENDRECV;
  size_t off = 0;
  while (off < len) {
    const char *nl = memchr(text + off, '\n', len - off);
    slice line = {text + off, nl ? (size_t)(nl - (text + off)) : len - off};
    off += line.n + (nl ? 1 : 0);
    lineno++;
    if (line.n && line.p[line.n - 1] == '\r')
      line.n--;
    if (line.n == 0)
      continue;
    if (!seen_v && !sl_eq(line, "v=0")) {
      what = "the offer does not start with v=0";
      goto fail;
    }
    seen_v = true;
    if (line.n < 2 || line.p[1] != '=' || !g_ascii_islower(line.p[0])) {
      what = "malformed line";
      goto fail;
    }
    slice v = {line.p + 2, line.n - 2};
    what = "malformed line";
    switch (line.p[0]) {
    case 'o': {
      slice user = sl_token(&v), sid = sl_token(&v);
      if (!sl_is_token(user, MAX_TOKEN) || !sl_is_token(sid, 64) || m)
        goto fail;
      set_str(&o->origin_username, user);
      set_str(&o->session_id, sid);
      break;
    }
    case 'm':
      if (o->n_media >= LC_SDP_MAX_MEDIA) {
        rc = LC_ETOOBIG;
        what = "too many m= sections";
        goto fail;
      }
      m = &o->media[o->n_media++];
      m->dir = s.dir;
      if (parse_m_line(m, v) != 0) {
        what = "malformed m= line";
        goto fail;
      }
      break;
    case 'a':
      if ((m ? parse_media_attr(o, m, v) : parse_session_attr(o, &s, v)) != 0) {
        slice name, value;
        split_attr(v, &name, &value);
        g_snprintf(attr_what, sizeof(attr_what), "malformed a=%.*s", (int)MIN(name.n, 32), name.p);
        what = attr_what;
        goto fail;
      }
      break;
    default:
      break; /* s=, t=, c=, b=, ... carry nothing we use */
    }
  }
  if (!seen_v) {
    what = "empty offer";
    lineno = 0;
    goto fail;
  }
  if (o->n_media == 0) {
    what = "no m= section";
    lineno = 0;
    goto fail;
  }
  resolve(o, &s);
  g_free(s.ice_ufrag);
  g_free(s.ice_pwd);
  g_free(s.fingerprint);
  g_free(s.setup);
  *out = o;
  return 0;

fail:
  if (why)
    *why = lineno ? g_strdup_printf("line %u: %s", lineno, what) : g_strdup(what);
  g_free(s.ice_ufrag);
  g_free(s.ice_pwd);
  g_free(s.fingerprint);
  g_free(s.setup);
  lc_sdp_offer_free(o);
  return rc;
}

/* ---- answer ---- */

static bool
param_ok(const char *s, size_t min, size_t max)
{
  if (!s)
    return false;
  slice sl = {s, strlen(s)};
  return sl.n >= min && sl_is_token(sl, max);
}

static bool
usable(const lc_sdp_media *m)
{
  return (m->port != 0 || m->bundle_only) && m->codecs && m->dir != LC_SDP_INACTIVE;
}

/* First H.264 packetization-mode=1 format of m, preferring want's profile family. */
static const lc_sdp_codec *
choose_h264(const lc_sdp_media *m, uint32_t want)
{
  const lc_sdp_codec *first = NULL;
  for (size_t i = 0; i < m->n_codecs; i++) {
    const lc_sdp_codec *c = &m->codecs[i];
    if (!c->name || g_ascii_strcasecmp(c->name, "H264") != 0 || c->clock_rate != 90000 ||
        c->packetization_mode != 1)
      continue;
    if (want && c->has_profile_level_id && lc_sdp_h264_same_profile(c->profile_level_id, want))
      return c;
    if (!first)
      first = c;
  }
  return first;
}

static const lc_sdp_codec *
choose_opus(const lc_sdp_media *m)
{
  for (size_t i = 0; i < m->n_codecs; i++) {
    const lc_sdp_codec *c = &m->codecs[i];
    if (c->name && g_ascii_strcasecmp(c->name, "opus") == 0 && c->clock_rate == 48000 && c->channels == 2)
      return c;
  }
  return NULL;
}

static bool
in_bundle(const lc_sdp_offer *o, const char *mid)
{
  if (!o->bundle || !mid)
    return false;
  for (char **b = o->bundle; *b; b++)
    if (strcmp(*b, mid) == 0)
      return true;
  return false;
}

/* Does the offer's direction let us play our role? */
static bool
dir_fits(lc_sdp_dir offered, lc_sdp_role role)
{
  if (offered == LC_SDP_SENDRECV)
    return true;
  return role == LC_SDP_ROLE_WHEP_VIEWER ? offered == LC_SDP_RECVONLY : offered == LC_SDP_SENDONLY;
}

static uint8_t
twcc_id(const lc_sdp_media *m)
{
  for (size_t i = 0; i < m->n_extmaps; i++)
    if (strcmp(m->extmaps[i].uri, LC_SDP_TWCC_URI) == 0)
      return m->extmaps[i].id;
  return 0;
}

/* The offer's problem with its BUNDLE transport section, or NULL. */
static const char *
transport_problem(const lc_sdp_offer *o, const lc_sdp_media *v, lc_sdp_role role)
{
  if (o->ice_lite)
    return "the offer is ICE-lite too (one side must be a full ICE agent)";
  if (!strstr(v->proto, "SAVPF"))
    return "m=video is not UDP/TLS/RTP/SAVPF";
  if (!v->mid)
    return "no a=mid in m=video";
  if (o->bundle && !in_bundle(o, v->mid))
    return "m=video is not in a=group:BUNDLE";
  if (!v->ice_ufrag || !v->ice_pwd)
    return "no a=ice-ufrag/a=ice-pwd";
  if (!v->fingerprint_sha256)
    return v->has_other_fingerprint ? "no a=fingerprint with sha-256" : "no a=fingerprint";
  if (v->setup && strcmp(v->setup, "actpass") != 0 && strcmp(v->setup, "active") != 0)
    return "a=setup must be actpass or active (the server is DTLS passive)";
  if (!v->rtcp_mux)
    return "no a=rtcp-mux in m=video";
  if (!dir_fits(v->dir, role))
    return role == LC_SDP_ROLE_WHEP_VIEWER ? "m=video does not receive (WHEP needs recvonly or sendrecv)"
                                           : "m=video does not send (WHIP needs sendonly or sendrecv)";
  return NULL;
}

typedef struct {
  const lc_sdp_answer_params *p;
  const char *ctype; /* "IP4" / "IP6" */
  bool candidate_done;
} answer_ctx;

static void
append_fb(GString *a, uint8_t pt, unsigned fb)
{
  static const struct {
    unsigned bit;
    const char *text;
  } fbs[] = {
    {LC_SDP_FB_NACK, "nack"},           {LC_SDP_FB_NACK_PLI, "nack pli"}, {LC_SDP_FB_CCM_FIR, "ccm fir"},
    {LC_SDP_FB_GOOG_REMB, "goog-remb"}, {LC_SDP_FB_TRANSPORT_CC, "transport-cc"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(fbs); i++)
    if (fb & fbs[i].bit)
      g_string_append_printf(a, "a=rtcp-fb:%u %s\r\n", pt, fbs[i].text);
}

/* One accepted m= section. */
static void
append_accepted(GString *a, answer_ctx *ctx, const lc_sdp_media *m, const lc_sdp_codec *c, unsigned fb,
                uint8_t ext_id, uint32_t ssrc, const char *track)
{
  const lc_sdp_answer_params *p = ctx->p;
  bool send = p->role == LC_SDP_ROLE_WHEP_VIEWER;
  const char *stream = p->msid_stream ? p->msid_stream : "livecart";
  const char *cname = p->cname ? p->cname : "livecart";

  g_string_append_printf(a, "m=%s %u %s %u\r\n", m->media, p->port, m->proto, c->pt);
  g_string_append_printf(a, "c=IN %s %s\r\n", ctx->ctype, p->ip);
  g_string_append_printf(a, "a=mid:%s\r\n", m->mid);
  g_string_append(a, send ? "a=sendonly\r\n" : "a=recvonly\r\n");
  g_string_append_printf(a, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", p->ice_ufrag, p->ice_pwd);
  g_string_append_printf(a, "a=fingerprint:sha-256 %s\r\n", p->fingerprint_sha256);
  g_string_append(a, "a=setup:passive\r\na=rtcp-mux\r\n");
  if (m->rtcp_rsize)
    g_string_append(a, "a=rtcp-rsize\r\n");
  if (ext_id)
    g_string_append_printf(a, "a=extmap:%u %s\r\n", ext_id, LC_SDP_TWCC_URI);
  if (c->channels)
    g_string_append_printf(a, "a=rtpmap:%u %s/%u/%u\r\n", c->pt, c->name, c->clock_rate, c->channels);
  else
    g_string_append_printf(a, "a=rtpmap:%u %s/%u\r\n", c->pt, c->name, c->clock_rate);
  append_fb(a, c->pt, fb);
  if (c->fmtp)
    g_string_append_printf(a, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
  if (send) {
    g_string_append_printf(a, "a=msid:%s %s\r\n", stream, track);
    g_string_append_printf(a, "a=ssrc:%u cname:%s\r\n", ssrc, cname);
    g_string_append_printf(a, "a=ssrc:%u msid:%s %s\r\n", ssrc, stream, track);
  }
  if (!ctx->candidate_done) {
    g_string_append_printf(a, "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n", p->ip, p->port);
    g_string_append(a, "a=end-of-candidates\r\n");
    ctx->candidate_done = true;
  }
}

/* A rejected m= section (port 0). It still carries the transport attributes (ice-ufrag/pwd,
 * fingerprint, setup) and the mid: GStreamer webrtcbin 1.22 checks them on every section of an
 * answer and refuses the whole answer otherwise; browsers ignore them. */
static void
append_rejected(GString *a, const answer_ctx *ctx, const lc_sdp_media *m)
{
  const lc_sdp_answer_params *p = ctx->p;
  g_string_append_printf(a, "m=%s 0 %s %s\r\n", m->media, m->proto, m->formats);
  g_string_append(a, "c=IN IP4 0.0.0.0\r\n");
  if (m->mid)
    g_string_append_printf(a, "a=mid:%s\r\n", m->mid);
  if (m->codecs)
    g_string_append(a, "a=inactive\r\n");
  g_string_append_printf(a, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", p->ice_ufrag, p->ice_pwd);
  g_string_append_printf(a, "a=fingerprint:sha-256 %s\r\n", p->fingerprint_sha256);
  g_string_append(a, "a=setup:passive\r\n");
}

int
lc_sdp_build_answer(const lc_sdp_offer *offer, const lc_sdp_answer_params *params, char **answer,
                    lc_sdp_answer_info *info, char **why)
{
  const char *problem = NULL;
  int video = -1, audio = -1;
  const lc_sdp_codec *vc = NULL, *ac = NULL;
  bool any_video = false;
  lc_sdp_answer_info local;
  GString *a = NULL;

  *answer = NULL;
  if (why)
    *why = NULL;
  if (!info)
    info = &local;
  memset(info, 0, sizeof(*info));
  info->video_index = info->audio_index = -1;

  if (!param_ok(params->ice_ufrag, 4, 256) || !param_ok(params->ice_pwd, 22, 256) ||
      !param_ok(params->fingerprint_sha256, 95, 95) || !param_ok(params->ip, 2, 64) ||
      (params->cname && !param_ok(params->cname, 1, 64)) ||
      (params->msid_stream && !param_ok(params->msid_stream, 1, 64))) {
    problem = "invalid answer parameters";
    goto fail;
  }
  for (size_t i = 0; i < offer->n_media && !vc; i++) {
    const lc_sdp_media *m = &offer->media[i];
    if (m->kind != LC_SDP_VIDEO || !usable(m))
      continue;
    any_video = true;
    vc = choose_h264(m, params->h264_profile_level_id);
    if (vc)
      video = (int)i;
  }
  if (!vc) {
    problem = any_video ? "no H.264 with packetization-mode=1 in m=video" : "no m=video";
    goto fail;
  }
  const lc_sdp_media *vm = &offer->media[video];
  problem = transport_problem(offer, vm, params->role);
  if (problem)
    goto fail;
  for (size_t i = 0; i < offer->n_media && params->want_audio && !ac; i++) {
    const lc_sdp_media *m = &offer->media[i];
    if (m->kind != LC_SDP_AUDIO || !usable(m) || !m->mid || !dir_fits(m->dir, params->role) || !m->rtcp_mux)
      continue;
    if (!in_bundle(offer, m->mid) || !in_bundle(offer, vm->mid))
      continue; /* without BUNDLE only one section shares the one transport */
    ac = choose_opus(m);
    if (ac)
      audio = (int)i;
  }

  answer_ctx ctx = {params, strchr(params->ip, ':') ? "IP6" : "IP4", false};
  const char *track_v = "video0", *track_a = "audio0";
  unsigned vfb = vc->fb & (LC_SDP_FB_NACK | LC_SDP_FB_NACK_PLI | LC_SDP_FB_CCM_FIR | LC_SDP_FB_GOOG_REMB |
                           LC_SDP_FB_TRANSPORT_CC);
  unsigned afb = ac ? ac->fb & (LC_SDP_FB_NACK | LC_SDP_FB_TRANSPORT_CC) : 0;
  uint8_t vext = twcc_id(vm);
  uint8_t aext = ac ? twcc_id(&offer->media[audio]) : 0;

  a = g_string_sized_new(2048);
  g_string_append(a, "v=0\r\n");
  g_string_append_printf(a, "o=- %" G_GUINT64_FORMAT " 2 IN %s %s\r\n", params->session_id, ctx.ctype,
                         params->ip);
  g_string_append(a, "s=-\r\nt=0 0\r\na=ice-lite\r\n");
  g_string_append(a, "a=group:BUNDLE");
  for (size_t i = 0; i < offer->n_media; i++)
    if ((int)i == video || (int)i == audio)
      g_string_append_printf(a, " %s", offer->media[i].mid);
  g_string_append(a, "\r\n");
  if (params->role == LC_SDP_ROLE_WHEP_VIEWER)
    g_string_append_printf(a, "a=msid-semantic: WMS %s\r\n",
                           params->msid_stream ? params->msid_stream : "livecart");
  for (size_t i = 0; i < offer->n_media; i++) {
    const lc_sdp_media *m = &offer->media[i];
    if ((int)i == video)
      append_accepted(a, &ctx, m, vc, vfb, vext, params->video_ssrc, track_v);
    else if ((int)i == audio)
      append_accepted(a, &ctx, m, ac, afb, aext, params->audio_ssrc, track_a);
    else
      append_rejected(a, &ctx, m);
  }

  info->video_index = video;
  info->audio_index = audio;
  info->video_pt = vc->pt;
  info->audio_pt = ac ? ac->pt : 0;
  info->h264_profile_level_id = vc->has_profile_level_id ? vc->profile_level_id : 0;
  info->video_fb = vfb;
  info->audio_fb = afb;
  info->twcc_ext_id = vext;
  info->remote_ufrag = vm->ice_ufrag;
  info->remote_pwd = vm->ice_pwd;
  info->remote_fingerprint_sha256 = vm->fingerprint_sha256;
  info->remote_video_ssrc = vm->n_ssrcs ? vm->ssrcs[0] : 0;
  info->remote_audio_ssrc = (ac && offer->media[audio].n_ssrcs) ? offer->media[audio].ssrcs[0] : 0;
  *answer = g_string_free(a, FALSE);
  return 0;

fail:
  if (why)
    *why = g_strdup(problem);
  info->video_index = info->audio_index = -1;
  return LC_EINVAL;
}

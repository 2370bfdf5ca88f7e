/* Publisher credentials parsing (see stream_key.h). */
#include "ingest/stream_key.h"
#include "base/errors.h"

#include <glib.h>
#include <string.h>

bool
lc_stream_key_valid_room(const char *s, size_t len)
{
  if (len == 0 || len > LC_STREAM_KEY_MAX_ROOM)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static bool
valid_key(const char *s, size_t len)
{
  if (len > LC_STREAM_KEY_MAX_KEY)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || c == '&' || c == ',' || c == '?' || c == '#')
      return false;
  }
  return true;
}

/* Finds "key=" in a query string q[0..len) ('&'-separated); *val, *vlen = its value. */
static bool
query_key(const char *q, size_t len, const char **val, size_t *vlen)
{
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && q[j] != '&')
      j++;
    if (j - i >= 4 && memcmp(q + i, "key=", 4) == 0) {
      *val = q + i + 4;
      *vlen = j - i - 4;
      return true;
    }
    i = j + 1;
  }
  return false;
}

static int
set_key(lc_stream_key *out, const char *k, size_t klen, const char **why)
{
  if (!valid_key(k, klen)) {
    *why = klen > LC_STREAM_KEY_MAX_KEY ? "stream key longer than 128 bytes"
                                        : "stream key holds characters outside printable ASCII or one of ' &,?#'";
    return LC_EINVAL;
  }
  memcpy(out->key, k, klen);
  out->key[klen] = '\0';
  return 0;
}

static int
set_room(lc_stream_key *out, const char *r, size_t rlen, const char **why)
{
  if (!lc_stream_key_valid_room(r, rlen)) {
    *why = rlen == 0 ? "empty room id" : "room id must be 1..64 characters of [a-z0-9_-]";
    return LC_EINVAL;
  }
  memcpy(out->room, r, rlen);
  out->room[rlen] = '\0';
  return 0;
}

/* "<room>?query" or "<room>": room and, when present, key=. */
static int
parse_name_query(const char *s, lc_stream_key *out, bool *has_key, const char **why)
{
  size_t len = strlen(s);
  const char *q = memchr(s, '?', len);
  size_t rlen = q ? (size_t)(q - s) : len;
  int rc = set_room(out, s, rlen, why);
  if (rc != 0)
    return rc;
  *has_key = false;
  if (q) {
    const char *k;
    size_t klen;
    if (query_key(q + 1, len - rlen - 1, &k, &klen)) {
      *has_key = true;
      return set_key(out, k, klen, why);
    }
  }
  return 0;
}

int
lc_stream_key_parse_rtmp(const char *stream_name, const char *tc_url, lc_stream_key *out, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  memset(out, 0, sizeof *out);
  if (!stream_name || strlen(stream_name) > LC_STREAM_KEY_MAX_INPUT ||
      (tc_url && strlen(tc_url) > LC_STREAM_KEY_MAX_INPUT)) {
    *why = stream_name ? "stream name or tcUrl longer than 1024 bytes" : "no stream name";
    return LC_EINVAL;
  }
  bool has_key = false;
  int rc = parse_name_query(stream_name, out, &has_key, why);
  if (rc != 0)
    return rc;
  if (!has_key && tc_url) {
    const char *q = strchr(tc_url, '?');
    const char *k;
    size_t klen;
    if (q && query_key(q + 1, strlen(q + 1), &k, &klen))
      return set_key(out, k, klen, why);
  }
  return 0;
}

int
lc_stream_key_parse_srt(const char *streamid, lc_stream_key *out, const char **why)
{
  static const char *dummy;
  if (!why)
    why = &dummy;
  memset(out, 0, sizeof *out);
  if (!streamid || strlen(streamid) > LC_STREAM_KEY_MAX_INPUT) {
    *why = streamid ? "streamid longer than 1024 bytes" : "no streamid";
    return LC_EINVAL;
  }
  char decoded[LC_STREAM_KEY_MAX_INPUT + 1];
  if (g_ascii_strncasecmp(streamid, "%23%21", 6) == 0) {
    /* A URL-encoded access-control streamid (some tools pass the URL's query value as is). */
    size_t o = 0;
    for (const char *p = streamid; *p; p++) {
      if (p[0] == '%' && g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
        char c = (char)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2]));
        if (c == '\0') {
          *why = "streamid holds %00";
          return LC_EINVAL;
        }
        decoded[o++] = c;
        p += 2;
      } else {
        decoded[o++] = *p;
      }
    }
    decoded[o] = '\0';
    streamid = decoded;
  }
  if (strncmp(streamid, "#!::", 4) != 0) {
    bool has_key;
    return parse_name_query(streamid, out, &has_key, why);
  }
  const char *p = streamid + 4;
  bool have_room = false;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    if (!eq) {
      *why = "streamid entry without '=' (expected #!::r=<room>,k=<key>)";
      return LC_EINVAL;
    }
    size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
    const char *v = eq + 1;
    int rc = 0;
    if (klen == 1 && p[0] == 'r') {
      if (have_room) {
        *why = "streamid names the room twice";
        return LC_EINVAL;
      }
      rc = set_room(out, v, vlen, why);
      have_room = true;
    } else if (klen == 1 && p[0] == 'k') {
      rc = set_key(out, v, vlen, why);
    } else if (klen == 1 && p[0] == 'm') {
      if (!(vlen == 7 && memcmp(v, "publish", 7) == 0)) {
        *why = "streamid mode must be m=publish (this listener only ingests)";
        return LC_EINVAL;
      }
    }
    if (rc != 0)
      return rc;
    p = end ? end + 1 : p + n;
  }
  if (!have_room) {
    *why = "streamid has no r=<room>";
    return LC_EINVAL;
  }
  return 0;
}

#define LC_LOG_DOMAIN "config"
#include "base/config.h"
#include "base/errors.h"
#include "base/ipguard.h"
#include "base/log.h"

#include <string.h>

/* The schema. conf/livecart.conf mirrors it line by line (tests/unit/base/test_config.c
 * checks that every key is documented there with this default). */
static const lc_conf_key schema[] = {
  {"http", "bind", LC_CONF_STRING, "127.0.0.1", 1, 255, "address for HTTP, websockets, WHIP/WHEP, /metrics"},
  {"http", "port", LC_CONF_INT, "8080", 1, 65535, "TCP port of the HTTP server"},
  {"http", "web_root", LC_CONF_STRING, "web", 1, 4096, "folder of the viewer page, served at /"},
  {"http", "max_body_bytes", LC_CONF_INT, "1048576", 1024, 64 * 1024 * 1024, "largest accepted request body"},
  {"http", "max_uri_bytes", LC_CONF_INT, "2048", 64, 16384, "longest accepted request path and query"},
  {"http", "cors_origin", LC_CONF_STRING, "*", 0, 1024, "Access-Control-Allow-Origin for /api, /healthz (empty: none)"},
  {"rtmp", "bind", LC_CONF_STRING, "127.0.0.1", 1, 255, "address of the RTMP ingest"},
  {"rtmp", "port", LC_CONF_INT, "1935", 1, 65535, "TCP port of the RTMP ingest"},
  {"rtmp", "enabled", LC_CONF_BOOL, "true", 0, 0, "accept RTMP publishers"},
  {"rtmp", "max_connections", LC_CONF_INT, "64", 1, 10000, "RTMP connections at once (publishing or not)"},
  {"srt", "enabled", LC_CONF_BOOL, "true", 0, 0, "accept SRT publishers"},
  {"srt", "bind", LC_CONF_STRING, "127.0.0.1", 1, 255, "address of the SRT listener"},
  {"srt", "port", LC_CONF_INT, "9710", 1, 65535, "UDP port of the SRT listener"},
  {"srt", "latency_ms", LC_CONF_INT, "120", 20, 8000, "SRT receiver latency (retransmission window)"},
  {"media", "grace_s", LC_CONF_INT, "30", 0, 3600, "a publisher back within this keeps the room's renditions (same SSRC, no renegotiation)"},
  {"media", "takeover", LC_CONF_BOOL, "false", 0, 0, "a second publisher on a live room replaces the first (false: it is refused)"},
  {"media", "rungs", LC_CONF_STRING, "1080p:1920x1080:4500,720p:1280x720:2500,480p:854x480:1200,360p:640x360:600", 1, 1024, "the ladder: name:WIDTHxHEIGHT:kbps, comma-separated; rungs above the source are skipped"},
  {"media", "passthrough", LC_CONF_BOOL, "true", 0, 0, "add a 'source' rung forwarding the publisher's H.264 when it has no B-frames"},
  {"media", "whip_ladder", LC_CONF_BOOL, "true", 0, 0, "transcode WHIP publishers into the rungs too (false: their own stream is the only rung)"},
  {"media", "keyframe_interval_ms", LC_CONF_INT, "2000", 250, 2000, "largest keyframe interval of the ladder's encoders"},
  {"media", "keyframe_throttle_ms", LC_CONF_INT, "500", 0, 10000, "shortest time between two requested keyframes of one rung"},
  {"media", "x264_preset", LC_CONF_STRING, "veryfast", 1, 15, "x264 speed preset of the ladder (ultrafast .. medium)"},
  {"media", "audio_bitrate", LC_CONF_INT, "64000", 6000, 510000, "Opus bitrate (bits/s)"},
  {"media", "cache_ms", LC_CONF_INT, "2000", 100, 10000, "packets kept per rendition to answer NACKs"},
  {"rtc", "enabled", LC_CONF_BOOL, "true", 0, 0, "serve WebRTC (WHEP playback, WHIP ingest)"},
  {"rtc", "bind", LC_CONF_STRING, "127.0.0.1", 1, 255, "address of the WebRTC media socket (ICE-lite host candidate)"},
  {"rtc", "port", LC_CONF_INT, "8189", 0, 65535, "UDP port shared by all WebRTC peers (0: any free port)"},
  {"rtc", "public_ip", LC_CONF_STRING, "", 0, 255, "address announced in the ICE candidate (empty: rtc.bind)"},
  {"rtc", "workers", LC_CONF_INT, "0", 0, 256, "media worker threads (0: one per core)"},
  {"rtc", "cert_file", LC_CONF_STRING, "", 0, 4096, "DTLS certificate (PEM; empty: an ECDSA P-256 one generated at start)"},
  {"rtc", "key_file", LC_CONF_STRING, "", 0, 4096, "private key of rtc.cert_file (PEM)"},
  {"rtc", "queue_packets", LC_CONF_INT, "4096", 64, 65536, "media packets queued per RTC worker (for all its viewers) before new ones are dropped (and counted)"},
  {"rtc", "consent_timeout_ms", LC_CONF_INT, "30000", 1000, 300000, "a peer that sends no authenticated STUN check, SRTCP or SRTP for this long is torn down"},
  {"rtc", "max_sessions", LC_CONF_INT, "20000", 1, 1000000, "WebRTC sessions (viewers + publishers) at once"},
  {"control", "socket", LC_CONF_STRING, "var/run/livecart.sock", 1, 107, "path of the control socket"},
  {"control", "mode", LC_CONF_MODE, "0660", 0, 0777, "permission bits of the control socket"},
  {"control", "max_line_bytes", LC_CONF_INT, "65536", 256, 16 * 1024 * 1024, "longest accepted request line"},
  {"control", "max_clients", LC_CONF_INT, "64", 1, 10000, "concurrent control connections"},
  {"control", "max_queue_bytes", LC_CONF_INT, "1048576", 4096, 256 * 1024 * 1024, "unsent output per client before a watcher is dropped"},
  {"store", "path", LC_CONF_STRING, "var/livecart.db", 1, 4096, "SQLite database (WAL mode); <path>.lock guards it"},
  {"store", "max_batch", LC_CONF_INT, "4096", 1, 1000000, "most writes per group commit"},
  {"store", "busy_timeout_ms", LC_CONF_INT, "5000", 0, 600000, "SQLite busy timeout"},
  {"cluster", "redis", LC_CONF_STRING, "", 0, 4096, "Redis of the cluster: redis://host:port or unix:/path (empty: one node, commerce on store.path); docs/operations.md \"Cluster\""},
  {"cluster", "node_id", LC_CONF_STRING, "", 0, 32, "this node's name in the cluster, unique ([A-Za-z0-9_-]; empty: the host name)"},
  {"cluster", "advertise_url", LC_CONF_STRING, "", 0, 1024, "how viewers and other nodes reach this node (shown in status)"},
  {"cluster", "accept_volatile", LC_CONF_BOOL, "false", 0, 0, "start even when Redis does not fsync every write (appendfsync always): acknowledged orders can then be lost"},
  {"cluster", "timeout_ms", LC_CONF_INT, "2000", 100, 60000, "a Redis command without an answer after this fails: writes answer unavailable"},
  {"rooms", "max_rooms", LC_CONF_INT, "1000", 1, 1000000, "rooms that are not ended"},
  {"auth", "jwt_secret", LC_CONF_STRING, "", 0, 1024, "HS256 secret of viewer tokens (empty: a random one per start, tokens die with the process)"},
  {"auth", "allow_anonymous", LC_CONF_BOOL, "true", 0, 0, "viewers without a token may watch, like and read chat"},
  {"auth", "dev_login", LC_CONF_BOOL, "false", 0, 0, "development sign-in: POST /api/dev/token mints a viewer token for any name (never in production)"},
  {"commerce", "order_ttl_s", LC_CONF_INT, "900", 1, 7 * 24 * 3600, "unpaid orders expire and release their stock after this"},
  {"commerce", "hold_limit", LC_CONF_INT, "10", 0, 1000000000, "most units of one SKU a viewer may hold in unpaid orders (0: no cap; a catalog or SKU may set its own)"},
  {"commerce", "low_stock_threshold", LC_CONF_INT, "5", 0, 1000000, "alert moderators when a SKU falls to this (products may set their own)"},
  {"commerce", "compliance_reject", LC_CONF_BOOL, "false", 0, 0, "ad-law terms in product texts: refuse the catalog/pin (true) or flag to moderators (false)"},
  {"commerce", "compliance_words", LC_CONF_STRING, "conf/wordfilter/adlaw.txt", 0, 4096, "word list of the ad-compliance check (empty: no check)"},
  {"commerce", "throttle_ms", LC_CONF_INT, "100", 10, 10000, "interval of live-stock broadcasts (SKU stock, flash-sale remaining)"},
  {"commerce", "counts_interval_ms", LC_CONF_INT, "1000", 100, 60000, "interval of the like and viewer-count broadcasts"},
  {"commerce", "op_cache", LC_CONF_INT, "100000", 100, 10000000, "request ids remembered per room for idempotent retries"},
  {"commerce", "op_cache_bytes", LC_CONF_INT, "67108864", 1048576, 17179869184, "memory per room for the answers of those request ids (oldest forgotten first)"},
  {"chat", "filter_words", LC_CONF_STRING, "conf/wordfilter/chat.txt", 0, 4096, "word list of the chat filter, with compliance_words (empty: none)"},
  {"chat", "min_interval_ms", LC_CONF_INT, "1000", 0, 600000, "shortest time between two messages of one user"},
  {"chat", "recent", LC_CONF_INT, "50", 1, 1000, "chat messages kept for snapshots"},
  {"ws", "max_message_bytes", LC_CONF_INT, "8192", 256, 65536, "largest accepted websocket message"},
  {"ws", "queue_messages", LC_CONF_INT, "512", 8, 100000, "messages queued per connection before it is resynced with a snapshot"},
  {"ws", "rate", LC_CONF_INT, "20", 1, 10000, "messages per second a connection may send"},
  {"ws", "burst", LC_CONF_INT, "40", 1, 100000, "burst allowance of the message rate"},
  {"ws", "max_connections", LC_CONF_INT, "20000", 1, 1000000, "websocket connections at once"},
  {"ws", "history_events", LC_CONF_INT, "1024", 16, 1000000, "events kept per room for gapless resume"},
  {"ws", "hello_timeout_ms", LC_CONF_INT, "10000", 100, 600000, "a connection must send hello within this"},
  {"overlays", "enabled", LC_CONF_BOOL, "true", 0, 0, "burn the show (product card, flash sale, coupon, buyer ticker, logo, text) into every transcoded rung"},
  {"overlays", "font", LC_CONF_STRING, "WenQuanYi Micro Hei", 1, 255, "pango font family list for overlay text (needs CJK glyphs: fonts-wqy-microhei, Noto Sans CJK SC)"},
  {"overlays", "image_root", LC_CONF_STRING, "", 0, 4096, "folder that product and logo image paths resolve in (empty: http.web_root)"},
  {"overlays", "lang", LC_CONF_STRING, "zh-CN", 2, 5, "language of overlay labels unless a room sets its own: zh-CN or en"},
  {"overlays", "coupon_banner_s", LC_CONF_INT, "15", 1, 3600, "how long a dropped coupon's banner stays in the picture"},
  {"hls", "enabled", LC_CONF_BOOL, "true", 0, 0, "write every live room's transcoded rungs as HLS (MPEG-TS segments, live playlists, a master playlist) under hls.root, served at /hls/<room>/master.m3u8"},
  {"hls", "root", LC_CONF_STRING, "var/hls", 1, 4096, "folder of the live HLS output (one folder per room)"},
  {"hls", "segment_s", LC_CONF_INT, "2", 1, 10, "target segment duration (segments cut at the rungs' common keyframes, media.keyframe_interval_ms)"},
  {"hls", "playlist_length", LC_CONF_INT, "6", 3, 100, "segments listed in a live playlist (a few more are kept on disk for players that lag)"},
  {"record", "enabled", LC_CONF_BOOL, "true", 0, 0, "record every live room (its top transcoded rung + audio, from the HLS writer: needs hls.enabled) as a playlist that becomes VOD when the publisher ends; a room's \"record\": false turns it off"},
  {"record", "path", LC_CONF_STRING, "var/recordings", 1, 4096, "folder of the recordings (<room>/<id>/), served at /rec/; best on the file system of hls.root (segments are hard-linked, else copied)"},
  {"record", "retention_days", LC_CONF_INT, "30", 0, 36500, "finished recordings older than this are deleted (checked hourly and at start; 0: kept forever)"},
  {"record", "max_disk_mb", LC_CONF_INT, "0", 0, 100000000, "disk cap over all recordings: a recording that would pass it stops (the live show goes on); 0: no cap"},
  {"relay", "serve", LC_CONF_BOOL, "false", 0, 0, "serve this node's rooms to edge nodes (an SRT listener on relay.port)"},
  {"relay", "bind", LC_CONF_STRING, "127.0.0.1", 1, 255, "address of the relay listener (0.0.0.0 for edges on other machines)"},
  {"relay", "port", LC_CONF_INT, "9720", 0, 65535, "UDP port of the relay listener (0: any free port, see media.status)"},
  {"relay", "origin", LC_CONF_STRING, "", 0, 255, "upstream node's relay address host:port: rooms this node does not hold are pulled from it when a viewer asks (empty: none)"},
  {"relay", "secret", LC_CONF_STRING, "", 0, 1024, "shared by every node (at least 16 bytes): signs relay requests and keys their AES encryption; required with serve or origin"},
  {"relay", "node_id", LC_CONF_STRING, "", 0, 64, "this node's id in relay requests, loop checks and logs (empty: <hostname>-<http.port>)"},
  {"relay", "idle_s", LC_CONF_INT, "10", 1, 3600, "an edge closes a pull nobody has watched for this long"},
  {"relay", "connect_timeout_ms", LC_CONF_INT, "5000", 200, 60000, "how long a viewer's WHEP offer on an edge waits for the room's media from upstream"},
  {"relay", "max_edges", LC_CONF_INT, "256", 1, 100000, "edge connections (one per edge and room) served at once"},
  {"payments", "callback_secret", LC_CONF_STRING, "", 0, 1024, "HMAC-SHA256 secret of POST /api/payments/callback (empty: route disabled)"},
  {"limits", "auth_failures_per_min", LC_CONF_INT, "10", 0, 100000, "failed credentials (RTMP/WHIP stream keys, payment signatures) per address per minute; reaching it locks the address out (0: no limit)"},
  {"limits", "auth_lockout_s", LC_CONF_INT, "300", 1, 86400, "how long a locked-out address is refused (429 / RTMP Publish.Denied), right credentials included"},
  {"limits", "whep_sessions_per_ip_per_10s", LC_CONF_INT, "20", 0, 100000, "WHEP/WHIP offers per address per 10 s; more are answered 429 (0: no limit)"},
  {"limits", "rtmp_handshakes_per_ip", LC_CONF_INT, "8", 0, 10000, "RTMP connections of one address not yet publishing; more are closed at once (0: no limit)"},
  {"limits", "exempt", LC_CONF_ADDRS, "", 0, 8192, "addresses and prefixes never limited, comma-separated, e.g. 10.0.0.0/8, ::1 (empty: none)"},
  {"limits", "tracked_addresses", LC_CONF_INT, "4096", 16, 1000000, "addresses remembered per limit (the least recently seen is forgotten first)"},
  {"server", "shutdown_timeout_ms", LC_CONF_INT, "4000", 100, 60000, "longest wait for in-flight commits on SIGTERM"},
  {"log", "level", LC_CONF_LEVEL, "info", 0, 0, "error, warn, info, debug or trace"},
};
#define N_KEYS (sizeof schema / sizeof schema[0])

typedef struct {
  char *str;
  gint64 num;
} value;

struct lc_config {
  value values[N_KEYS];
};

const lc_conf_key *
lc_config_schema(size_t *n)
{
  *n = N_KEYS;
  return schema;
}

static int
find_key(const char *group, const char *key)
{
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(schema[i].group, group) == 0 && strcmp(schema[i].key, key) == 0)
      return (int)i;
  return -1;
}

static bool
known_group(const char *group)
{
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(schema[i].group, group) == 0)
      return true;
  return false;
}

/* Levenshtein distance, for "did you mean" hints on short names. */
static size_t
distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 99;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t cur = row[j];
      size_t sub = prev + (a[i - 1] != b[j - 1]);
      size_t del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = MIN(sub, MIN(del, ins));
      prev = cur;
    }
  }
  return row[lb];
}

static char *
hint_for_key(const char *group, const char *key)
{
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t i = 0; i < N_KEYS; i++) {
    if (strcmp(schema[i].group, group) != 0)
      continue;
    size_t d = distance(key, schema[i].key);
    if (d < best_d) {
      best_d = d;
      best = schema[i].key;
    }
  }
  return best ? g_strdup_printf(" (did you mean '%s'?)", best) : g_strdup("");
}

static void
add_error(GPtrArray *errors, const char *name, int line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static void
add_error(GPtrArray *errors, const char *name, int line, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_ptr_array_add(errors, line > 0 ? g_strdup_printf("%s:%d: %s", name, line, msg)
                                   : g_strdup_printf("%s: %s", name, msg));
  g_free(msg);
}

/* Parses and range-checks `text` for schema entry k into *out. Returns NULL or an
 * error message (transfer full). */
static char *
parse_value(size_t k, const char *text, value *out)
{
  const lc_conf_key *s = &schema[k];
  switch (s->type) {
  case LC_CONF_STRING: {
    size_t len = strlen(text);
    if (s->min > 0 && len == 0)
      return g_strdup_printf("%s.%s must not be empty", s->group, s->key);
    if ((gint64)len > s->max)
      return g_strdup_printf("%s.%s is longer than %" G_GINT64_FORMAT " bytes", s->group, s->key, s->max);
    if (!g_utf8_validate(text, -1, NULL))
      return g_strdup_printf("%s.%s is not valid UTF-8", s->group, s->key);
    out->str = g_strdup(text);
    return NULL;
  }
  case LC_CONF_INT: {
    gint64 v;
    if (!g_ascii_string_to_signed(text, 10, s->min, s->max, &v, NULL))
      return g_strdup_printf("%s.%s must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
                             ", not '%s'", s->group, s->key, s->min, s->max, text);
    out->num = v;
    return NULL;
  }
  case LC_CONF_BOOL:
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
      out->num = text[0] == 't';
      return NULL;
    }
    return g_strdup_printf("%s.%s must be true or false, not '%s'", s->group, s->key, text);
  case LC_CONF_LEVEL: {
    lc_log_level lvl;
    if (lc_log_parse_level(text, &lvl) != 0)
      return g_strdup_printf("%s.%s must be one of error, warn, info, debug, trace, not '%s'", s->group,
                             s->key, text);
    out->num = lvl;
    out->str = g_strdup(text);
    return NULL;
  }
  case LC_CONF_ADDRS: {
    char *why = NULL;
    lc_iplist *l = (gint64)strlen(text) <= s->max ? lc_iplist_parse(text, &why) : NULL;
    if (!l) {
      char *msg = why ? g_strdup_printf("%s.%s: %s", s->group, s->key, why)
                      : g_strdup_printf("%s.%s is longer than %" G_GINT64_FORMAT " bytes", s->group, s->key, s->max);
      g_free(why);
      return msg;
    }
    lc_iplist_free(l);
    out->str = g_strdup(text);
    return NULL;
  }
  case LC_CONF_MODE: {
    guint64 v;
    if (strlen(text) < 3 || strlen(text) > 4 || !g_ascii_string_to_unsigned(text, 8, 0, 0777, &v, NULL))
      return g_strdup_printf("%s.%s must be an octal mode such as 0660, not '%s'", s->group, s->key, text);
    out->num = (gint64)v;
    return NULL;
  }
  }
  return g_strdup("unknown type");
}

static void
set_value(lc_config *cfg, size_t k, value v)
{
  g_free(cfg->values[k].str);
  cfg->values[k] = v;
}

/* Walks the text line by line to find group and key lines, reporting what GKeyFile
 * would accept silently or reject without a line number: lines that are neither,
 * unknown groups and keys, duplicates. Records the line of each known key. */
static void
scan_lines(const char *data, size_t len, const char *name, int *key_line, GPtrArray *errors)
{
  char *copy = g_strndup(data, len);
  char **lines = g_strsplit(copy, "\n", -1);
  char *group = NULL;
  bool group_known = false;
  for (int i = 0; lines[i]; i++) {
    int lineno = i + 1;
    char *l = g_strstrip(lines[i]);
    if (*l == '\0' || *l == '#')
      continue;
    if (*l == '[') {
      char *end = strchr(l, ']');
      if (!end || end[1] != '\0' || end == l + 1) {
        add_error(errors, name, lineno, "malformed group header '%s'", l);
        group_known = false;
        continue;
      }
      g_free(group);
      group = g_strndup(l + 1, (size_t)(end - l - 1));
      group_known = known_group(group);
      if (!group_known)
        add_error(errors, name, lineno, "unknown group [%s]", group);
      continue;
    }
    char *eq = strchr(l, '=');
    if (!eq) {
      add_error(errors, name, lineno, "expected 'key = value', got '%s'", l);
      continue;
    }
    if (!group) {
      add_error(errors, name, lineno, "key outside of any [group]");
      continue;
    }
    if (!group_known)
      continue;
    char *key = g_strstrip(g_strndup(l, (size_t)(eq - l)));
    int k = find_key(group, key);
    if (k < 0) {
      char *hint = hint_for_key(group, key);
      add_error(errors, name, lineno, "unknown key '%s' in [%s]%s", key, group, hint);
      g_free(hint);
    } else if (key_line[k] > 0) {
      add_error(errors, name, lineno, "duplicate key '%s' in [%s] (first on line %d)", key, group,
                key_line[k]);
    } else {
      key_line[k] = lineno;
    }
    g_free(key);
  }
  g_free(group);
  g_strfreev(lines);
  g_free(copy);
}

static void
apply_file(lc_config *cfg, const char *data, size_t len, const char *name, GPtrArray *errors)
{
  int key_line[N_KEYS] = {0};
  guint before = errors->len;
  if (memchr(data, '\0', len)) {
    add_error(errors, name, 0, "file contains a NUL byte");
    return;
  }
  scan_lines(data, len, name, key_line, errors);
  if (errors->len != before)
    return;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) err = NULL;
  if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &err)) {
    add_error(errors, name, 0, "%s", err->message);
    return;
  }
  for (size_t k = 0; k < N_KEYS; k++) {
    if (!key_line[k])
      continue;
    g_autoptr(GError) e = NULL;
    char *raw = g_key_file_get_string(kf, schema[k].group, schema[k].key, &e);
    if (!raw) {
      add_error(errors, name, key_line[k], "%s", e->message);
      continue;
    }
    value v = {0};
    char *msg = parse_value(k, raw, &v);
    if (msg) {
      add_error(errors, name, key_line[k], "%s", msg);
      g_free(msg);
    } else {
      set_value(cfg, k, v);
    }
    g_free(raw);
  }
}

static void
apply_overrides(lc_config *cfg, const char *const *overrides, GPtrArray *errors)
{
  for (int i = 0; overrides && overrides[i]; i++) {
    const char *o = overrides[i];
    const char *dot = strchr(o, '.');
    const char *eq = strchr(o, '=');
    if (!dot || !eq || dot > eq) {
      add_error(errors, "--set", i + 1, "expected group.key=value, got '%s'", o);
      continue;
    }
    char *group = g_strndup(o, (size_t)(dot - o));
    char *key = g_strndup(dot + 1, (size_t)(eq - dot - 1));
    int k = find_key(group, key);
    if (k < 0) {
      if (!known_group(group)) {
        add_error(errors, "--set", i + 1, "unknown group [%s]", group);
      } else {
        char *hint = hint_for_key(group, key);
        add_error(errors, "--set", i + 1, "unknown key '%s' in [%s]%s", key, group, hint);
        g_free(hint);
      }
    } else {
      value v = {0};
      char *msg = parse_value((size_t)k, eq + 1, &v);
      if (msg) {
        add_error(errors, "--set", i + 1, "%s", msg);
        g_free(msg);
      } else {
        set_value(cfg, (size_t)k, v);
      }
    }
    g_free(group);
    g_free(key);
  }
}

static lc_config *
config_defaults(void)
{
  lc_config *cfg = g_new0(lc_config, 1);
  for (size_t k = 0; k < N_KEYS; k++) {
    char *msg = parse_value(k, schema[k].def, &cfg->values[k]);
    g_assert(msg == NULL);
  }
  return cfg;
}

static lc_config *
finish(lc_config *cfg, GPtrArray *errors, guint before)
{
  if (errors->len != before) {
    lc_config_free(cfg);
    return NULL;
  }
  return cfg;
}

lc_config *
lc_config_load_data(const char *data, size_t len, const char *name, const char *const *overrides,
                    GPtrArray *errors)
{
  guint before = errors->len;
  lc_config *cfg = config_defaults();
  if (data)
    apply_file(cfg, data, len, name, errors);
  apply_overrides(cfg, overrides, errors);
  return finish(cfg, errors, before);
}

lc_config *
lc_config_load(const char *path, const char *const *overrides, GPtrArray *errors)
{
  if (!path)
    return lc_config_load_data(NULL, 0, "defaults", overrides, errors);
  char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) err = NULL;
  if (!g_file_get_contents(path, &data, &len, &err)) {
    add_error(errors, path, 0, "cannot read: %s", err->message);
    return NULL;
  }
  if (len > 1024 * 1024) {
    add_error(errors, path, 0, "file is larger than 1 MiB");
    g_free(data);
    return NULL;
  }
  lc_config *cfg = lc_config_load_data(data, len, path, overrides, errors);
  g_free(data);
  return cfg;
}

void
lc_config_free(lc_config *cfg)
{
  if (!cfg)
    return;
  for (size_t k = 0; k < N_KEYS; k++)
    g_free(cfg->values[k].str);
  g_free(cfg);
}

static const value *
get(const lc_config *cfg, const char *group, const char *key, lc_conf_type t1, lc_conf_type t2)
{
  int k = find_key(group, key);
  if (k < 0 || (schema[k].type != t1 && schema[k].type != t2))
    g_error("config: no %s.%s of the requested type", group, key);
  return &cfg->values[k];
}

const char *
lc_config_string(const lc_config *cfg, const char *group, const char *key)
{
  int k = find_key(group, key);
  if (k >= 0 && schema[k].type == LC_CONF_ADDRS)
    return cfg->values[k].str;
  return get(cfg, group, key, LC_CONF_STRING, LC_CONF_LEVEL)->str;
}

gint64
lc_config_int(const lc_config *cfg, const char *group, const char *key)
{
  return get(cfg, group, key, LC_CONF_INT, LC_CONF_MODE)->num;
}

bool
lc_config_bool(const lc_config *cfg, const char *group, const char *key)
{
  return get(cfg, group, key, LC_CONF_BOOL, LC_CONF_BOOL)->num != 0;
}

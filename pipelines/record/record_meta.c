/* meta.json validation, the playlist text and the wall -> media time mapping (record.h). Pure:
 * no I/O, no state; any thread. Fuzzed by tests/fuzz/fuzz_record_meta.c. */
#include "base/errors.h"
#include "record/record.h"
#include "record/record_int.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_ERROR_TEXT 1024
#define MAX_SEGMENT_BYTES (INT64_C(1) << 40) /* 1 TiB: anything larger is not a 2 s segment */

static bool
valid_name(const char *s, size_t max)
{
  if (s == NULL)
    return false;
  size_t n = 0;
  for (; s[n] != '\0'; n++) {
    char c = s[n];
    if (n >= max || !(g_ascii_isalnum(c) || c == '_' || c == '-'))
      return false;
  }
  return n > 0;
}

bool
lc_record_valid_room(const char *room)
{
  return valid_name(room, LC_RECORD_MAX_ROOM);
}

bool
lc_record_valid_id(const char *id)
{
  return valid_name(id, LC_RECORD_MAX_ID);
}

bool
lc__record_segment_name(const char *name, unsigned *num)
{
  if (strlen(name) != 8 || strcmp(name + 5, ".ts") != 0)
    return false;
  unsigned v = 0;
  for (int i = 0; i < 5; i++) {
    if (!g_ascii_isdigit(name[i]))
      return false;
    v = v * 10 + (unsigned)(name[i] - '0');
  }
  if (num)
    *num = v;
  return true;
}

/* ---- the parser ---- */

/* Every check fails with the field's path in *err. */
static bool
want_time(json_t *obj, const char *key, const char *where, int64_t *out, char **err)
{
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LC_RECORD_MAX_TIME_MS) {
    lc_error_set(err, where, "%s must be an integer in 0..%" G_GINT64_FORMAT, key, LC_RECORD_MAX_TIME_MS);
    return false;
  }
  *out = json_integer_value(v);
  return true;
}

/* Exactly the keys in `keys` (NULL-terminated), no other. */
static bool
exact_keys(json_t *obj, const char *const *keys, const char *where, char **err)
{
  if (!json_is_object(obj)) {
    lc_error_set(err, where, "not an object");
    return false;
  }
  size_t n = 0;
  for (; keys[n]; n++)
    if (!json_object_get(obj, keys[n])) {
      lc_error_set(err, where, "%s is missing", keys[n]);
      return false;
    }
  if (json_object_size(obj) != n) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
      bool known = false;
      for (size_t i = 0; i < n && !known; i++)
        known = strcmp(k, keys[i]) == 0;
      if (!known) {
        lc_error_set(err, where, "unknown key \"%.64s\"", k);
        return false;
      }
    }
  }
  return true;
}

static json_t *
parse_segment(json_t *in, size_t i, int *prev_num, char **err)
{
  static const char *const keys[] = {"uri", "duration", "wall_ms", "discontinuity", "bytes", NULL};
  char where[48];
  g_snprintf(where, sizeof where, "meta.json segments[%zu]", i);
  if (!exact_keys(in, keys, where, err))
    return NULL;
  const char *uri = json_string_value(json_object_get(in, "uri"));
  unsigned num = 0;
  if (!uri || !lc__record_segment_name(uri, &num) || (int)num <= *prev_num) {
    lc_error_set(err, where, "uri must be NNNNN.ts, increasing");
    return NULL;
  }
  *prev_num = (int)num;
  json_t *d = json_object_get(in, "duration");
  double dur = json_number_value(d);
  if (!json_is_number(d) || !(dur >= 0.001 && dur <= LC_RECORD_MAX_SEGMENT_S)) {
    lc_error_set(err, where, "duration must be a number in [0.001, %g]", LC_RECORD_MAX_SEGMENT_S);
    return NULL;
  }
  int64_t wall = 0;
  if (!want_time(in, "wall_ms", where, &wall, err))
    return NULL;
  json_t *disc = json_object_get(in, "discontinuity");
  if (!json_is_boolean(disc)) {
    lc_error_set(err, where, "discontinuity must be a boolean");
    return NULL;
  }
  json_t *b = json_object_get(in, "bytes");
  if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > MAX_SEGMENT_BYTES) {
    lc_error_set(err, where, "bytes must be an integer in 0..2^40");
    return NULL;
  }
  return json_pack("{s:s, s:f, s:I, s:b, s:I}", "uri", uri, "duration", dur, "wall_ms", (json_int_t)wall,
                   "discontinuity", json_is_true(disc), "bytes", json_integer_value(b));
}

bool
lc__record_valid_kind(const char *k)
{
  if (k == NULL)
    return false;
  size_t n = 0;
  for (; k[n] != '\0'; n++) {
    char c = k[n];
    if (n >= LC_RECORD_MAX_KIND || !(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return n > 0;
}

bool
lc__record_valid_mark_data(const json_t *data)
{
  if (json_is_null(data))
    return true;
  return json_is_object(data) && json_dumpb(data, NULL, 0, JSON_COMPACT) <= LC_RECORD_MAX_MARK_BYTES;
}

static json_t *
parse_mark(json_t *in, size_t i, char **err)
{
  static const char *const keys[] = {"wall_ms", "kind", "data", NULL};
  char where[48];
  g_snprintf(where, sizeof where, "meta.json marks[%zu]", i);
  if (!exact_keys(in, keys, where, err))
    return NULL;
  int64_t wall = 0;
  if (!want_time(in, "wall_ms", where, &wall, err))
    return NULL;
  const char *kind = json_string_value(json_object_get(in, "kind"));
  if (!lc__record_valid_kind(kind)) {
    lc_error_set(err, where, "kind must match [a-z0-9_.-]{1,%d}", LC_RECORD_MAX_KIND);
    return NULL;
  }
  json_t *data = json_object_get(in, "data");
  if (!lc__record_valid_mark_data(data)) {
    lc_error_set(err, where, "data must be null or an object of at most %d bytes", LC_RECORD_MAX_MARK_BYTES);
    return NULL;
  }
  return json_pack("{s:I, s:s, s:O}", "wall_ms", (json_int_t)wall, "kind", kind, "data", data);
}

/* Checks the parsed document `in` and builds the normalised copy. */
static int
parse_doc(json_t *in, json_t **out, char **err)
{
  static const char *const keys[] = {"version", "room", "id", "state", "started_ms", "ended_ms", "error",
                                     "segments", "marks", NULL};
  json_t *o = NULL;
  if (!json_is_object(in)) {
    lc_error_set(err, "meta.json", "not an object");
    return LC_EINVAL;
  }
  json_t *ver = json_object_get(in, "version");
  if (json_is_integer(ver) && json_integer_value(ver) > 1) {
    lc_error_set(err, "meta.json", "version %" JSON_INTEGER_FORMAT " is newer than this build (1)",
                 json_integer_value(ver));
    return LC_EVERSION;
  }
  if (!exact_keys(in, keys, "meta.json", err))
    return LC_EINVAL;
  if (json_integer_value(ver) != 1 || !json_is_integer(ver)) {
    lc_error_set(err, "meta.json", "version must be 1");
    return LC_EINVAL;
  }
  const char *room = json_string_value(json_object_get(in, "room"));
  const char *id = json_string_value(json_object_get(in, "id"));
  const char *state = json_string_value(json_object_get(in, "state"));
  if (!lc_record_valid_room(room)) {
    lc_error_set(err, "meta.json", "room must match [A-Za-z0-9_-]{1,%d}", LC_RECORD_MAX_ROOM);
    return LC_EINVAL;
  }
  if (!lc_record_valid_id(id)) {
    lc_error_set(err, "meta.json", "id must match [A-Za-z0-9_-]{1,%d}", LC_RECORD_MAX_ID);
    return LC_EINVAL;
  }
  if (!state || (strcmp(state, "recording") != 0 && strcmp(state, "stopped") != 0 && strcmp(state, "complete") != 0)) {
    lc_error_set(err, "meta.json", "state must be recording, stopped or complete");
    return LC_EINVAL;
  }
  int64_t started = 0, ended = -1;
  if (!want_time(in, "started_ms", "meta.json", &started, err))
    return LC_EINVAL;
  if (!json_is_null(json_object_get(in, "ended_ms")) && !want_time(in, "ended_ms", "meta.json", &ended, err))
    return LC_EINVAL;
  json_t *error = json_object_get(in, "error");
  if (!json_is_null(error) && !(json_is_string(error) && json_string_length(error) <= MAX_ERROR_TEXT)) {
    lc_error_set(err, "meta.json", "error must be null or a string of at most %d bytes", MAX_ERROR_TEXT);
    return LC_EINVAL;
  }
  json_t *segs = json_object_get(in, "segments");
  json_t *marks = json_object_get(in, "marks");
  if (!json_is_array(segs) || json_array_size(segs) > LC_RECORD_MAX_SEGMENTS) {
    lc_error_set(err, "meta.json", "segments must be an array of at most %d", LC_RECORD_MAX_SEGMENTS);
    return LC_EINVAL;
  }
  if (!json_is_array(marks) || json_array_size(marks) > LC_RECORD_MAX_MARKS) {
    lc_error_set(err, "meta.json", "marks must be an array of at most %d", LC_RECORD_MAX_MARKS);
    return LC_EINVAL;
  }
  o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:o, s:O, s:[], s:[]}", "version", 1, "room", room, "id", id, "state",
                state, "started_ms", (json_int_t)started, "ended_ms",
                ended >= 0 ? json_integer(ended) : json_null(), "error", error, "segments", "marks");
  json_t *osegs = json_object_get(o, "segments"), *omarks = json_object_get(o, "marks");
  int prev = -1;
  for (size_t i = 0; i < json_array_size(segs); i++) {
    json_t *seg = parse_segment(json_array_get(segs, i), i, &prev, err);
    if (!seg)
      goto fail;
    json_array_append_new(osegs, seg);
  }
  for (size_t i = 0; i < json_array_size(marks); i++) {
    json_t *m = parse_mark(json_array_get(marks, i), i, err);
    if (!m)
      goto fail;
    json_array_append_new(omarks, m);
  }
  *out = o;
  return 0;
fail:
  json_decref(o);
  return LC_EINVAL;
}

int
lc_record_meta_parse(const char *buf, size_t len, json_t **out, char **err)
{
  *out = NULL;
  if (len > LC_RECORD_MAX_META_BYTES) {
    lc_error_set(err, "meta.json", "%zu bytes, more than %u", len, LC_RECORD_MAX_META_BYTES);
    return LC_ETOOBIG;
  }
  json_error_t jerr;
  json_t *in = json_loadb(buf ? buf : "", buf ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
  if (!in) {
    lc_error_set(err, "meta.json", "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return LC_EINVAL;
  }
  int rc = parse_doc(in, out, err);
  json_decref(in);
  return rc;
}

/* ---- media time ---- */

typedef struct {
  double at_ms; /* the segment's first frame, wall time */
  double dur;   /* seconds */
} span;

/* The segments' spans (g_free), values a validated meta cannot hold made harmless. */
static size_t
spans_of(const json_t *meta, span **out)
{
  json_t *segs = json_object_get(meta, "segments");
  size_t n = json_array_size(segs);
  span *sp = g_new(span, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    json_t *seg = json_array_get(segs, i);
    double dur = json_number_value(json_object_get(seg, "duration"));
    sp[i].dur = dur > 0 && dur <= LC_RECORD_MAX_SEGMENT_S ? dur : 0;
    sp[i].at_ms = (double)json_integer_value(json_object_get(seg, "wall_ms")); /* double: no overflow below */
  }
  *out = sp;
  return n;
}

static double
span_time(const span *sp, size_t n, int64_t wall_ms)
{
  double wall = (double)wall_ms, start = 0, last_start = 0;
  for (size_t i = 0; i < n; i++) {
    if (wall < sp[i].at_ms)
      return start; /* before the first (0) or in the gap before this one */
    if (wall - sp[i].at_ms < sp[i].dur * 1000.0)
      return start + (wall - sp[i].at_ms) / 1000.0;
    last_start = start;
    start += sp[i].dur;
  }
  return last_start;
}

double
lc_record_media_time(const json_t *meta, int64_t wall_ms)
{
  span *sp = NULL;
  size_t n = spans_of(meta, &sp);
  double t = span_time(sp, n, wall_ms);
  g_free(sp);
  return t;
}

void
lc__record_annotate_marks(json_t *meta)
{
  span *sp = NULL;
  size_t n = spans_of(meta, &sp);
  json_t *m;
  size_t i;
  json_array_foreach(json_object_get(meta, "marks"), i, m)
    json_object_set_new(m, "media_s", json_real(span_time(sp, n, json_integer_value(json_object_get(m, "wall_ms")))));
  g_free(sp);
}

/* ---- the playlist ---- */

int64_t
lc__record_duration_ms(double d)
{
  return (int64_t)llround(d * 1000.0);
}

static void
append_pdt(GString *out, int64_t wall_ms)
{
  time_t t = (time_t)(wall_ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm))
    return;
  g_string_append_printf(out, "#EXT-X-PROGRAM-DATE-TIME:%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\n", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

void
lc__record_playlist_head(GString *out, int64_t longest_ms, bool any, bool vod)
{
  int64_t target = any ? MAX((longest_ms + 999) / 1000, 1) : 2;
  g_string_append_printf(out,
                         "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-TARGETDURATION:%" G_GINT64_FORMAT
                         "\n#EXT-X-MEDIA-SEQUENCE:0\n",
                         vod ? "VOD" : "EVENT", target);
}

void
lc__record_playlist_entry(GString *out, const json_t *seg, bool first)
{
  bool disc = !first && json_is_true(json_object_get(seg, "discontinuity"));
  if (disc)
    g_string_append(out, "#EXT-X-DISCONTINUITY\n");
  if (first || disc)
    append_pdt(out, json_integer_value(json_object_get(seg, "wall_ms")));
  int64_t ms = lc__record_duration_ms(json_number_value(json_object_get(seg, "duration")));
  const char *uri = json_string_value(json_object_get(seg, "uri"));
  g_string_append_printf(out, "#EXTINF:%" G_GINT64_FORMAT ".%03d,\n%s\n", ms / 1000, (int)(ms % 1000),
                         uri ? uri : "");
}

char *
lc__record_playlist(const json_t *meta, bool vod)
{
  json_t *segs = json_object_get(meta, "segments");
  size_t n = json_array_size(segs);
  int64_t longest = 0;
  for (size_t i = 0; i < n; i++)
    longest = MAX(longest, lc__record_duration_ms(json_number_value(json_object_get(json_array_get(segs, i), "duration"))));
  GString *out = g_string_sized_new(160 + 64 * n);
  lc__record_playlist_head(out, longest, n > 0, vod);
  for (size_t i = 0; i < n; i++)
    lc__record_playlist_entry(out, json_array_get(segs, i), i == 0);
  if (vod)
    g_string_append(out, LC__RECORD_ENDLIST);
  return g_string_free(out, FALSE);
}

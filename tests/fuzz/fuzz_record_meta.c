/* Fuzz target for pipelines/record/record_meta: a meta.json read back from disk
 * (lc_record_meta_parse). What parses must serialise and parse again to the same object, render a
 * playlist with one #EXTINF per segment, and map any wall time to a media time inside the
 * recording. Seeds: tests/fuzz/corpus/record_meta/ (valid metas and near misses). */
#include <glib.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "record/record.h"
#include "record/record_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
check(bool ok)
{
  if (!ok)
    __builtin_trap();
}

static unsigned
count(const char *s, const char *needle)
{
  unsigned c = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    c++;
  return c;
}

static void
check_parsed(json_t *m)
{
  /* Round trip. */
  char *text = json_dumps(m, JSON_COMPACT);
  check(text != NULL);
  json_t *again = NULL;
  char *err = NULL;
  check(lc_record_meta_parse(text, strlen(text), &again, &err) == 0 && err == NULL);
  check(json_equal(m, again));
  json_decref(again);
  free(text);

  /* The playlist: one EXTINF per segment, ENDLIST only for VOD. */
  json_t *segs = json_object_get(m, "segments");
  size_t n = json_array_size(segs);
  char *pl = lc__record_playlist(m, true);
  check(count(pl, "#EXTINF:") == n && count(pl, "#EXT-X-ENDLIST") == 1);
  g_free(pl);
  pl = lc__record_playlist(m, false);
  check(count(pl, "#EXTINF:") == n && count(pl, "#EXT-X-ENDLIST") == 0);
  g_free(pl);

  /* Media time of the segments' edges and around them: inside [0, total]. */
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total += json_number_value(json_object_get(json_array_get(segs, i), "duration"));
  for (size_t i = 0; i < n && i < 64; i++) {
    int64_t at = json_integer_value(json_object_get(json_array_get(segs, i), "wall_ms"));
    const int64_t probes[] = {at - 1, at, at + 1, at + 999, at + 3600001};
    for (unsigned k = 0; k < 5; k++) {
      double t = lc_record_media_time(m, probes[k]);
      check(isfinite(t) && t >= 0 && t <= total + 1e-6);
    }
  }
  check(lc_record_media_time(m, 0) == 0 || n > 0);

  /* Every mark's media_s is lc_record_media_time of its wall time. */
  json_t *copy = json_deep_copy(m), *mark;
  size_t i;
  lc__record_annotate_marks(copy);
  json_array_foreach(json_object_get(copy, "marks"), i, mark) {
    double t = json_real_value(json_object_get(mark, "media_s"));
    check(t == lc_record_media_time(m, json_integer_value(json_object_get(mark, "wall_ms"))));
  }
  json_decref(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  /* An exact-size copy: a read past the end is seen by ASan. */
  char *buf = malloc(n ? n : 1);
  memcpy(buf, d, n);
  json_t *m = NULL;
  char *err = NULL;
  int rc = lc_record_meta_parse(buf, n, &m, &err);
  if (rc == 0) {
    check(m != NULL && err == NULL);
    check_parsed(m);
    json_decref(m);
  } else {
    check((rc == LC_EINVAL || rc == LC_ETOOBIG || rc == LC_EVERSION) && m == NULL && err != NULL);
    g_free(err);
  }
  free(buf);
  return 0;
}

/* The recordings store (pipelines/record/record.h) on real files in a temp dir: the playlists'
 * exact text (EVENT, then VOD + ENDLIST; discontinuities; TARGETDURATION), meta.json round trip,
 * marks, the wall -> media time mapping, the disk cap (stops, keeps what it has), write errors
 * (nothing half-written listed), an unusable root, recovery of what a dead daemon left, delete
 * (busy refused), retention sweep (faked mtimes), hostile names, and the copy fallback. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/log.h"
#include "record/record.h"
#include "record/record_int.h"

#define T0 INT64_C(1714586400000) /* 2024-05-01T18:00:00Z */
#define ROOM "room-1"

typedef struct {
  char *tmp;  /* the test's temp dir */
  char *hls;  /* where the "ladder" writes its segments */
  char *root; /* the recordings root */
  unsigned n; /* segments made */
} fixture;

static void
fx_init(fixture *f)
{
  f->tmp = g_dir_make_tmp("lc-record-XXXXXX", NULL);
  g_assert_nonnull(f->tmp);
  f->hls = g_build_filename(f->tmp, "hls", NULL);
  f->root = g_build_filename(f->tmp, "rec", NULL);
  g_assert_cmpint(g_mkdir(f->hls, 0755), ==, 0);
  f->n = 0;
}

static void
rm_rf(const char *path)
{
  GDir *d = g_dir_open(path, 0, NULL);
  if (d) {
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
      char *p = g_build_filename(path, name, NULL);
      rm_rf(p);
      g_free(p);
    }
    g_dir_close(d);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void
fx_clear(fixture *f)
{
  rm_rf(f->tmp);
  g_free(f->tmp);
  g_free(f->hls);
  g_free(f->root);
}

/* A segment file of `size` bytes in dir (content names it); returns its path. */
static char *
make_file(const char *dir, const char *name, size_t size, char fill)
{
  char *p = g_build_filename(dir, name, NULL);
  char *data = g_malloc(size);
  memset(data, fill, size);
  g_assert_true(g_file_set_contents(p, data, (gssize)size, NULL));
  g_free(data);
  return p;
}

static char *
make_segment(fixture *f, size_t size)
{
  char name[32];
  g_snprintf(name, sizeof name, "live-%05u.ts", f->n);
  return make_file(f->hls, name, size, (char)('a' + f->n++ % 26));
}

static char *
read_text(const char *a, const char *b, const char *c)
{
  char *p = g_build_filename(a, b, c, NULL);
  char *s = NULL;
  if (!g_file_get_contents(p, &s, NULL, NULL))
    s = NULL;
  g_free(p);
  return s;
}

static bool
exists(const char *a, const char *b, const char *c)
{
  char *p = g_build_filename(a, b, c, NULL);
  bool ok = g_file_test(p, G_FILE_TEST_EXISTS);
  g_free(p);
  return ok;
}

static lc_record_store *
open_store(fixture *f, uint64_t max_bytes)
{
  lc_record_config cfg = {.root = f->root, .max_bytes = max_bytes};
  return lc_record_store_open(&cfg);
}

static int
add(lc_recording *r, fixture *f, size_t size, double dur, int64_t wall, bool disc, char **err)
{
  char *src = make_segment(f, size);
  int rc = lc_recording_add_segment(r, src, dur, wall, disc, err);
  g_free(src);
  return rc;
}

static json_t *
list_one(lc_record_store *s, const char *room, const char *id)
{
  json_t *l = lc_record_store_list(s, room), *it, *found = NULL;
  size_t i;
  json_array_foreach(l, i, it)
    if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0)
      found = json_incref(it);
  json_decref(l);
  return found;
}

static const char *
jstr(json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

static json_int_t
jint(json_t *o, const char *k)
{
  return json_integer_value(json_object_get(o, k));
}

/* meta.json and index.m3u8 in dir are what serialising the parsed meta.json whole gives (the
 * store writes them piece by piece). */
static void
assert_texts_whole(const char *dir, bool vod)
{
  char *txt = read_text(dir, "meta.json", NULL), *err = NULL;
  json_t *meta = NULL;
  g_assert_cmpint(lc_record_meta_parse(txt, strlen(txt), &meta, &err), ==, 0);
  char *whole = json_dumps(meta, JSON_COMPACT);
  char *whole_nl = g_strconcat(whole, "\n", NULL);
  g_assert_cmpstr(txt, ==, whole_nl);
  free(whole);
  g_free(whole_nl);
  g_free(txt);
  txt = read_text(dir, "index.m3u8", NULL);
  whole = lc__record_playlist(meta, vod);
  g_assert_cmpstr(txt, ==, whole);
  g_free(whole);
  g_free(txt);
  json_decref(meta);
}

/* ---- the playlists, meta.json, list and get ---- */

static void
test_playlist_and_meta(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  g_assert_null(err);
  g_assert_nonnull(r);
  g_assert_cmpstr(lc_recording_id(r), ==, "20240501T180000Z");
  g_assert_cmpstr(lc_recording_room(r), ==, ROOM);
  char *id = g_strdup(lc_recording_id(r)); /* r's is gone once the store is freed */
  char *dir = g_build_filename(f.root, ROOM, id, NULL);

  /* Before any segment: an empty EVENT playlist. */
  char *txt = read_text(dir, "index.m3u8", NULL);
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:2\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n");
  g_free(txt);

  /* A discontinuity on the first segment is not written (nothing precedes it). */
  g_assert_cmpint(add(r, &f, 1000, 2.0004, T0 + 100, true, &err), ==, 0);
  txt = read_text(dir, "index.m3u8", NULL);
  /* 2.0004 is kept as 2.000: TARGETDURATION follows what the playlist says. */
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:2\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:00.100Z\n"
                  "#EXTINF:2.000,\n00000.ts\n");
  g_free(txt);
  g_assert_cmpint(add(r, &f, 1500, 2.5, T0 + 2100, false, &err), ==, 0);
  g_assert_cmpint(add(r, &f, 1200, 1.9996, T0 + 9000, true, &err), ==, 0);
  txt = read_text(dir, "index.m3u8", NULL);
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-TARGETDURATION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:00.100Z\n"
                  "#EXTINF:2.000,\n00000.ts\n#EXTINF:2.500,\n00001.ts\n"
                  "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:09.000Z\n"
                  "#EXTINF:2.000,\n00002.ts\n");
  g_free(txt);

  /* The segments are the sources' bytes, hard-linked (same file system here). */
  struct stat a, b;
  char *seg1 = g_build_filename(dir, "00001.ts", NULL), *src1 = g_build_filename(f.hls, "live-00001.ts", NULL);
  g_assert_cmpint(stat(seg1, &a), ==, 0);
  g_assert_cmpint(stat(src1, &b), ==, 0);
  g_assert_cmpuint(a.st_size, ==, 1500);
  g_assert_cmpuint(a.st_ino, ==, b.st_ino);
  /* The live writer deleting its file does not touch the recording. */
  g_assert_cmpint(g_unlink(src1), ==, 0);
  g_assert_cmpint(stat(seg1, &a), ==, 0);
  g_free(seg1);
  g_free(src1);

  /* In progress: list and get. */
  json_t *it = list_one(s, ROOM, id);
  g_assert_cmpstr(jstr(it, "state"), ==, "recording");
  g_assert_true(json_is_true(json_object_get(it, "in_progress")));
  g_assert_true(json_is_null(json_object_get(it, "ended_ms")));
  g_assert_cmpint(jint(it, "segments"), ==, 3);
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(it, "duration_s")), 6.5, 1e-9);
  json_decref(it);
  g_assert_null(lc_record_store_get(s, ROOM, NULL)); /* no finished one yet */

  g_assert_cmpint(lc_recording_finish(r, T0 + 11500), ==, 0);
  txt = read_text(dir, "index.m3u8", NULL);
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:00.100Z\n"
                  "#EXTINF:2.000,\n00000.ts\n#EXTINF:2.500,\n00001.ts\n"
                  "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:09.000Z\n"
                  "#EXTINF:2.000,\n00002.ts\n#EXT-X-ENDLIST\n");
  g_free(txt);
  g_assert_false(exists(dir, "index.m3u8.tmp", NULL));
  g_assert_false(exists(dir, "meta.json.tmp", NULL));

  /* meta.json on disk parses back to what get answers. */
  assert_texts_whole(dir, true);
  txt = read_text(dir, "meta.json", NULL);
  json_t *meta = NULL;
  g_assert_cmpint(lc_record_meta_parse(txt, strlen(txt), &meta, &err), ==, 0);
  g_free(txt);
  g_assert_cmpstr(jstr(meta, "state"), ==, "complete");
  g_assert_cmpint(jint(meta, "started_ms"), ==, T0);
  g_assert_cmpint(jint(meta, "ended_ms"), ==, T0 + 11500);
  json_t *segs = json_object_get(meta, "segments");
  g_assert_cmpuint(json_array_size(segs), ==, 3);
  json_t *s2 = json_array_get(segs, 2);
  g_assert_cmpstr(jstr(s2, "uri"), ==, "00002.ts");
  g_assert_cmpfloat(json_real_value(json_object_get(s2, "duration")), ==, 2.0);
  g_assert_cmpint(jint(s2, "wall_ms"), ==, T0 + 9000);
  g_assert_true(json_is_true(json_object_get(s2, "discontinuity")));
  g_assert_cmpint(jint(s2, "bytes"), ==, 1200);
  g_assert_true(json_is_false(json_object_get(json_array_get(segs, 0), "discontinuity")));

  json_t *got = lc_record_store_get(s, ROOM, NULL);
  g_assert_nonnull(got);
  g_assert_false(json_is_true(json_object_get(got, "in_progress")));
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(got, "duration_s")), 6.5, 1e-9);
  json_object_del(got, "in_progress");
  json_object_del(got, "duration_s");
  json_object_del(got, "bytes");
  g_assert_true(json_equal(got, meta));
  json_decref(got);
  json_decref(meta);

  it = list_one(s, ROOM, id);
  g_assert_cmpstr(jstr(it, "state"), ==, "complete");
  g_assert_cmpint(jint(it, "ended_ms"), ==, T0 + 11500);
  g_assert_true(json_is_null(json_object_get(it, "error")));
  /* bytes: the segments plus index.m3u8 and meta.json, as on disk */
  char *idx = g_build_filename(dir, "index.m3u8", NULL), *mj = g_build_filename(dir, "meta.json", NULL);
  g_assert_cmpint(stat(idx, &a), ==, 0);
  g_assert_cmpint(stat(mj, &b), ==, 0);
  g_assert_cmpint(jint(it, "bytes"), ==, 3700 + a.st_size + b.st_size);
  json_decref(it);

  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.recordings, ==, 1);
  g_assert_cmpuint(st.in_progress, ==, 0);
  g_assert_cmpuint(st.segments_written, ==, 3);
  g_assert_cmpuint(st.write_errors, ==, 0);
  g_assert_cmpuint(st.bytes, ==, 3700 + a.st_size + b.st_size);
  g_assert_null(st.last_error);
  lc_record_store_free(s);

  /* Reopened: the same list, the disk use summed again. */
  s = open_store(&f, 0);
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.recordings, ==, 1);
  g_assert_cmpuint(st.bytes, ==, 3700 + a.st_size + b.st_size);
  it = list_one(s, ROOM, id);
  g_assert_cmpstr(jstr(it, "state"), ==, "complete");
  g_assert_cmpint(jint(it, "segments"), ==, 3);
  json_decref(it);
  lc_record_store_free(s);
  g_free(idx);
  g_free(mj);
  g_free(dir);
  g_free(id);
  fx_clear(&f);
}

/* Ids: a second recording started in the same second gets "-2"; one room records once at a time;
 * list is newest first; get(NULL) is the newest finished one. */
static void
test_ids_and_order(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  g_assert_nonnull(r);
  g_assert_null(lc_record_start(s, ROOM, T0 + 5, &err));
  g_assert_nonnull(strstr(err, "already recording"));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 100, 2, T0, false, NULL), ==, 0);
  g_assert_cmpint(lc_recording_finish(r, T0 + 2000), ==, 0);
  r = lc_record_start(s, ROOM, T0 + 999, &err);
  g_assert_cmpstr(lc_recording_id(r), ==, "20240501T180000Z-2");
  g_assert_cmpint(add(r, &f, 100, 2, T0 + 1000, false, NULL), ==, 0);
  g_assert_cmpint(lc_recording_finish(r, T0 + 3000), ==, 0);
  lc_recording *other = lc_record_start(s, "other", T0 + 60000, &err);
  g_assert_cmpint(add(other, &f, 100, 2, T0 + 60000, false, NULL), ==, 0);
  lc_recording *third = lc_record_start(s, ROOM, T0 + 120000, &err);
  g_assert_cmpstr(lc_recording_id(third), ==, "20240501T180200Z");

  json_t *l = lc_record_store_list(s, NULL);
  g_assert_cmpuint(json_array_size(l), ==, 4);
  g_assert_cmpstr(jstr(json_array_get(l, 0), "id"), ==, "20240501T180200Z");
  g_assert_cmpstr(jstr(json_array_get(l, 1), "room"), ==, "other");
  g_assert_cmpstr(jstr(json_array_get(l, 2), "id"), ==, "20240501T180000Z-2");
  g_assert_cmpstr(jstr(json_array_get(l, 3), "id"), ==, "20240501T180000Z");
  json_decref(l);
  l = lc_record_store_list(s, ROOM);
  g_assert_cmpuint(json_array_size(l), ==, 3);
  json_decref(l);
  json_t *g = lc_record_store_get(s, ROOM, NULL); /* skips the one in progress */
  g_assert_cmpstr(jstr(g, "id"), ==, "20240501T180000Z-2");
  json_decref(g);
  g = lc_record_store_get(s, ROOM, "20240501T180200Z");
  g_assert_true(json_is_true(json_object_get(g, "in_progress")));
  json_decref(g);
  g_assert_null(lc_record_store_get(s, ROOM, "20990101T000000Z"));

  /* A recording that ends without a segment leaves nothing. */
  g_assert_cmpint(lc_recording_finish(third, T0 + 121000), ==, 0);
  g_assert_false(exists(f.root, ROOM, "20240501T180200Z"));
  g_assert_null(lc_record_store_get(s, ROOM, "20240501T180200Z"));
  /* Freeing the store finishes what is still recording (VOD). */
  lc_record_store_free(s);
  char *txt = read_text(f.root, "other", "20240501T180100Z/index.m3u8");
  g_assert_nonnull(strstr(txt, "#EXT-X-PLAYLIST-TYPE:VOD\n"));
  g_assert_true(g_str_has_suffix(txt, "#EXT-X-ENDLIST\n"));
  g_free(txt);
  s = open_store(&f, 0);
  g = lc_record_store_get(s, "other", "20240501T180100Z");
  g_assert_cmpstr(jstr(g, "state"), ==, "complete");
  g_assert_cmpint(jint(g, "ended_ms"), ==, T0 + 62000); /* its last segment's end */
  json_decref(g);
  lc_record_store_free(s);
  fx_clear(&f);
}

/* ---- marks and media time ---- */

static void
test_marks(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  g_assert_cmpint(add(r, &f, 100, 2, T0, false, NULL), ==, 0);
  g_assert_cmpint(lc_recording_mark(r, T0 + 1500, "pin", json_pack("{s:s, s:s}", "product_id", "p1", "title", "Mug"),
                                    &err), ==, 0);
  g_assert_cmpint(lc_recording_mark(r, T0 + 500, "pin", json_pack("{s:s}", "product_id", "p2"), &err), ==, 0);
  g_assert_cmpint(lc_recording_mark(r, T0 + 600, "note", NULL, &err), ==, 0);
  char *dir = g_build_filename(f.root, ROOM, lc_recording_id(r), NULL);
  assert_texts_whole(dir, false);
  json_t *live_sum = lc_record_store_summary(s, ROOM, lc_recording_id(r));
  g_assert_true(json_is_true(json_object_get(live_sum, "in_progress")));
  json_t *lm = json_object_get(live_sum, "marks");
  g_assert_cmpuint(json_array_size(lm), ==, 3);
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(json_array_get(lm, 0), "media_s")), 1.5, 1e-9);
  json_decref(live_sum);
  g_assert_null(lc_record_store_summary(s, ROOM, NULL)); /* none finished yet */
  g_assert_null(lc_record_store_summary(s, "../x", NULL));
  /* Refused: kind, data type, data size, time. Data is stolen either way (valgrind checks). */
  g_assert_cmpint(lc_recording_mark(r, T0, "Pin", NULL, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_recording_mark(r, T0, "", NULL, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_recording_mark(r, T0, "pin", json_string("x"), &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  char *big = g_strnfill(LC_RECORD_MAX_MARK_BYTES, 'x');
  g_assert_cmpint(lc_recording_mark(r, T0, "pin", json_pack("{s:s}", "t", big), &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_free(big);
  g_assert_cmpint(lc_recording_mark(r, -1, "pin", NULL, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_recording_finish(r, T0 + 2000), ==, 0);

  json_t *g = lc_record_store_get(s, ROOM, NULL);
  json_t *marks = json_object_get(g, "marks");
  g_assert_cmpuint(json_array_size(marks), ==, 3); /* call order, not time order */
  g_assert_cmpint(jint(json_array_get(marks, 0), "wall_ms"), ==, T0 + 1500);
  g_assert_cmpstr(jstr(json_object_get(json_array_get(marks, 0), "data"), "title"), ==, "Mug");
  g_assert_cmpstr(jstr(json_array_get(marks, 1), "kind"), ==, "pin");
  g_assert_cmpstr(jstr(json_array_get(marks, 2), "kind"), ==, "note");
  g_assert_true(json_is_null(json_object_get(json_array_get(marks, 2), "data")));
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(g, T0 + 1500), 1.5, 1e-9);
  /* Each mark carries its media time. */
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(json_array_get(marks, 0), "media_s")), 1.5, 1e-9);
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(json_array_get(marks, 1), "media_s")), 0.5, 1e-9);
  g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(json_array_get(marks, 2), "media_s")), 0.6, 1e-9);
  /* The summary: the list entry and the marks with their media time, no segments. */
  json_t *sum = lc_record_store_summary(s, ROOM, NULL);
  g_assert_cmpstr(jstr(sum, "id"), ==, jstr(g, "id"));
  g_assert_cmpstr(jstr(sum, "state"), ==, "complete");
  g_assert_cmpint(jint(sum, "segments"), ==, 1);
  g_assert_null(json_object_get(sum, "version"));
  g_assert_true(json_equal(json_object_get(sum, "marks"), marks));
  json_decref(sum);
  /* The caller owns what get returns: changing it changes nothing for the next get (cached). */
  json_array_clear(marks);
  json_decref(g);
  g = lc_record_store_get(s, ROOM, NULL);
  g_assert_cmpuint(json_array_size(json_object_get(g, "marks")), ==, 3);
  json_decref(g);
  assert_texts_whole(dir, true);
  /* meta.json changed on disk (restored from a backup, say): read again, not the cached one. */
  char *mpath = g_build_filename(dir, "meta.json", NULL), *text = NULL;
  g_assert_true(g_file_get_contents(mpath, &text, NULL, NULL));
  json_t *edited = json_loads(text, 0, NULL);
  json_array_remove(json_object_get(edited, "marks"), 2);
  g_assert_cmpint(json_dump_file(edited, mpath, JSON_COMPACT), ==, 0);
  json_decref(edited);
  g_free(text);
  g_free(mpath);
  g = lc_record_store_get(s, ROOM, NULL);
  g_assert_cmpuint(json_array_size(json_object_get(g, "marks")), ==, 2);
  json_decref(g);
  lc_record_store_free(s);
  g_free(dir);
  fx_clear(&f);
}

static void
test_media_time(void)
{
  /* [1000, 3000) -> [0, 2); a gap; [5000, 7500) -> [2, 4.5); [7500, 9500) -> [4.5, 6.5). */
  const char *text = "{\"version\":1,\"room\":\"r\",\"id\":\"x\",\"state\":\"complete\",\"started_ms\":900,"
                     "\"ended_ms\":9600,\"error\":null,\"segments\":["
                     "{\"uri\":\"00000.ts\",\"duration\":2,\"wall_ms\":1000,\"discontinuity\":false,\"bytes\":1},"
                     "{\"uri\":\"00001.ts\",\"duration\":2.5,\"wall_ms\":5000,\"discontinuity\":true,\"bytes\":1},"
                     "{\"uri\":\"00002.ts\",\"duration\":2,\"wall_ms\":7500,\"discontinuity\":false,\"bytes\":1}"
                     "],\"marks\":[]}";
  json_t *m = NULL;
  char *err = NULL;
  g_assert_cmpint(lc_record_meta_parse(text, strlen(text), &m, &err), ==, 0);
  g_assert_cmpfloat(lc_record_media_time(m, 0), ==, 0);       /* before the first */
  g_assert_cmpfloat(lc_record_media_time(m, 999), ==, 0);
  g_assert_cmpfloat(lc_record_media_time(m, 1000), ==, 0);    /* inside */
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, 2250), 1.25, 1e-9);
  g_assert_cmpfloat(lc_record_media_time(m, 3000), ==, 2);    /* the gap: the next start */
  g_assert_cmpfloat(lc_record_media_time(m, 4999), ==, 2);
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, 6000), 3, 1e-9);
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, 7500), 4.5, 1e-9);
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, 9499), 6.499, 1e-9);
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, 9500), 4.5, 1e-9); /* after: the last start */
  g_assert_cmpfloat_with_epsilon(lc_record_media_time(m, T0), 4.5, 1e-9);
  json_decref(m);
  json_t *empty = json_pack("{s:[]}", "segments");
  g_assert_cmpfloat(lc_record_media_time(empty, 5), ==, 0);
  json_decref(empty);
  g_assert_cmpfloat(lc_record_media_time(NULL, 5), ==, 0);
}

static void
assert_parse_fails(const char *text, int code, const char *what)
{
  json_t *m = NULL;
  char *err = NULL;
  g_assert_cmpint(lc_record_meta_parse(text, strlen(text), &m, &err), ==, code);
  g_assert_null(m);
  g_assert_nonnull(err);
  if (what && !strstr(err, what))
    g_error("\"%s\" does not name %s", err, what);
  g_free(err);
}

#define META_HEAD "{\"version\":1,\"room\":\"r\",\"id\":\"x\",\"state\":\"complete\",\"started_ms\":1,\"ended_ms\":2,\"error\":null,"
static void
test_meta_parse_refuses(void)
{
  assert_parse_fails("", LC_EINVAL, NULL);
  assert_parse_fails("[]", LC_EINVAL, "not an object");
  assert_parse_fails("{\"version\":2}", LC_EVERSION, "newer");
  assert_parse_fails(META_HEAD "\"segments\":[],\"marks\":[],\"x\":1}", LC_EINVAL, "unknown key");
  assert_parse_fails(META_HEAD "\"segments\":[]}", LC_EINVAL, "marks is missing");
  assert_parse_fails(META_HEAD "\"segments\":[],\"marks\":[],\"marks\":[]}", LC_EINVAL, "duplicate");
  assert_parse_fails("{\"version\":1,\"room\":\"../x\",\"id\":\"x\",\"state\":\"complete\",\"started_ms\":1,"
                     "\"ended_ms\":2,\"error\":null,\"segments\":[],\"marks\":[]}", LC_EINVAL, "room");
  assert_parse_fails("{\"version\":1,\"room\":\"r\",\"id\":\"x\",\"state\":\"done\",\"started_ms\":1,"
                     "\"ended_ms\":2,\"error\":null,\"segments\":[],\"marks\":[]}", LC_EINVAL, "state");
  assert_parse_fails("{\"version\":1,\"room\":\"r\",\"id\":\"x\",\"state\":\"complete\",\"started_ms\":-1,"
                     "\"ended_ms\":2,\"error\":null,\"segments\":[],\"marks\":[]}", LC_EINVAL, "started_ms");
  const char *bad_segs[] = {
    "{\"uri\":\"../a.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"0000.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":0,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":3601,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":\"2\",\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":2,\"wall_ms\":1.5,\"discontinuity\":false,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":0,\"bytes\":1}",
    "{\"uri\":\"00000.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":-1}",
    "{\"uri\":\"00000.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false}",
    "{\"uri\":\"00001.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1},"
    "{\"uri\":\"00001.ts\",\"duration\":2,\"wall_ms\":1,\"discontinuity\":false,\"bytes\":1}",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(bad_segs); i++) {
    char *t = g_strdup_printf(META_HEAD "\"segments\":[%s],\"marks\":[]}", bad_segs[i]);
    assert_parse_fails(t, LC_EINVAL, "segments[");
    g_free(t);
  }
  const char *bad_marks[] = {
    "{\"wall_ms\":1,\"kind\":\"Pin\",\"data\":null}",
    "{\"wall_ms\":1,\"kind\":\"pin\",\"data\":[]}",
    "{\"wall_ms\":1,\"kind\":\"pin\"}",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(bad_marks); i++) {
    char *t = g_strdup_printf(META_HEAD "\"segments\":[],\"marks\":[%s]}", bad_marks[i]);
    assert_parse_fails(t, LC_EINVAL, "marks[0]");
    g_free(t);
  }
  char *huge = g_malloc0(LC_RECORD_MAX_META_BYTES + 2);
  memset(huge, ' ', LC_RECORD_MAX_META_BYTES + 1);
  json_t *m = NULL;
  char *err = NULL;
  g_assert_cmpint(lc_record_meta_parse(huge, LC_RECORD_MAX_META_BYTES + 1, &m, &err), ==, LC_ETOOBIG);
  g_free(err);
  g_free(huge);
}

/* ---- limits and errors ---- */

static void
test_quota(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 25000);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  char *dir = g_build_filename(f.root, ROOM, lc_recording_id(r), NULL);
  g_assert_cmpint(add(r, &f, 10000, 2, T0, false, &err), ==, 0);
  g_assert_cmpint(add(r, &f, 10000, 2, T0 + 2000, false, &err), ==, 0);
  g_assert_null(err);
  g_assert_cmpint(add(r, &f, 10000, 2, T0 + 4000, false, &err), ==, LC_ENOSPC);
  g_assert_cmpstr(err, ==, "record.max_disk_mb reached: 0 MiB used");
  g_clear_pointer(&err, g_free);
  g_assert_false(exists(dir, "00002.ts", NULL));
  /* Stopped: playable as it is (VOD of the two), refuses more, keeps the reason. */
  char *txt = read_text(dir, "index.m3u8", NULL);
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:00.000Z\n"
                  "#EXTINF:2.000,\n00000.ts\n#EXTINF:2.000,\n00001.ts\n#EXT-X-ENDLIST\n");
  g_free(txt);
  assert_texts_whole(dir, true);
  g_assert_cmpint(add(r, &f, 10, 2, T0 + 6000, false, &err), ==, LC_ESTATE);
  g_assert_nonnull(strstr(err, "max_disk_mb"));
  g_clear_pointer(&err, g_free);
  json_t *it = list_one(s, ROOM, lc_recording_id(r));
  g_assert_cmpstr(jstr(it, "state"), ==, "stopped");
  g_assert_true(json_is_true(json_object_get(it, "in_progress")));
  g_assert_cmpstr(jstr(it, "error"), ==, "record.max_disk_mb reached: 0 MiB used");
  g_assert_cmpint(jint(it, "segments"), ==, 2);
  json_decref(it);
  /* A mark is still taken while stopped. */
  g_assert_cmpint(lc_recording_mark(r, T0 + 5000, "pin", NULL, &err), ==, 0);
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpstr(st.last_error, ==, "record.max_disk_mb reached: 0 MiB used");
  g_assert_cmpuint(st.write_errors, ==, 0);
  g_assert_cmpuint(st.in_progress, ==, 1);
  char *id = g_strdup(lc_recording_id(r));
  g_assert_cmpint(lc_recording_finish(r, T0 + 7000), ==, 0);
  json_t *g = lc_record_store_get(s, ROOM, id);
  g_assert_cmpstr(jstr(g, "state"), ==, "stopped"); /* finished, and says why it is short */
  g_assert_cmpint(jint(g, "ended_ms"), ==, T0 + 7000);
  g_assert_cmpuint(json_array_size(json_object_get(g, "marks")), ==, 1);
  json_decref(g);
  lc_record_store_free(s);
  g_free(id);
  g_free(dir);
  fx_clear(&f);
}

/* A segment that cannot be kept is not listed and leaves no file; the next one is a discontinuity. */
static void
test_write_errors(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  char *dir = g_build_filename(f.root, ROOM, lc_recording_id(r), NULL);
  g_assert_cmpint(add(r, &f, 100, 2, T0, false, &err), ==, 0);

  /* The source is gone. */
  char *missing = g_build_filename(f.hls, "nope.ts", NULL);
  g_assert_cmpint(lc_recording_add_segment(r, missing, 2, T0 + 2000, false, &err), ==, LC_EIO);
  g_assert_nonnull(strstr(err, missing));
  g_assert_nonnull(strstr(err, g_strerror(ENOENT)));
  g_clear_pointer(&err, g_free);
  g_free(missing);

  /* meta.json cannot be replaced (its tmp path is a directory): the linked segment is removed
   * again, index.m3u8 and meta.json stay as they were. */
  char *meta_before = read_text(dir, "meta.json", NULL), *index_before = read_text(dir, "index.m3u8", NULL);
  char *blocker = g_build_filename(dir, "meta.json.tmp", NULL);
  g_assert_cmpint(g_mkdir(blocker, 0755), ==, 0);
  g_assert_cmpint(add(r, &f, 100, 2, T0 + 4000, false, &err), ==, LC_EIO);
  g_assert_nonnull(strstr(err, blocker));
  g_assert_nonnull(strstr(err, g_strerror(EISDIR)));
  g_clear_pointer(&err, g_free);
  g_assert_false(exists(dir, "00001.ts", NULL));
  g_assert_false(exists(dir, "index.m3u8.tmp", NULL));
  char *t = read_text(dir, "meta.json", NULL);
  g_assert_cmpstr(t, ==, meta_before);
  g_free(t);
  t = read_text(dir, "index.m3u8", NULL);
  g_assert_cmpstr(t, ==, index_before);
  g_free(t);
  g_assert_cmpint(g_rmdir(blocker), ==, 0);

  /* The target name is taken by a directory: cannot be placed. */
  char *taken = g_build_filename(dir, "00001.ts", NULL);
  g_assert_cmpint(g_mkdir(taken, 0755), ==, 0);
  g_assert_cmpint(add(r, &f, 100, 2, T0 + 6000, false, &err), ==, LC_EIO);
  g_assert_nonnull(strstr(err, taken));
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(g_rmdir(taken), ==, 0);

  /* Recovered: the next one is listed as 00001.ts, after a discontinuity. */
  g_assert_cmpint(add(r, &f, 100, 2, T0 + 8000, false, &err), ==, 0);
  json_t *g = lc_record_store_get(s, ROOM, lc_recording_id(r));
  json_t *segs = json_object_get(g, "segments");
  g_assert_cmpuint(json_array_size(segs), ==, 2);
  g_assert_cmpstr(jstr(json_array_get(segs, 1), "uri"), ==, "00001.ts");
  g_assert_true(json_is_true(json_object_get(json_array_get(segs, 1), "discontinuity")));
  g_assert_nonnull(jstr(g, "error")); /* the last write error, kept */
  json_decref(g);
  assert_texts_whole(dir, false); /* the undone appends left nothing behind */
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.write_errors, ==, 3);
  g_assert_cmpuint(st.segments_written, ==, 2);
  g_assert_nonnull(strstr(st.last_error, taken));

  /* Bad arguments are not write errors. */
  g_assert_cmpint(lc_recording_add_segment(r, NULL, 2, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, 0, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, 0.0004, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, INFINITY, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, NAN, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, 1e300, T0, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(add(r, &f, 10, 2, -1, false, &err), ==, LC_EINVAL);
  g_clear_pointer(&err, g_free);
  /* A symlink as the source is refused (it would link the link). */
  char *target = make_file(f.hls, "real.ts", 10, 'x');
  char *link = g_build_filename(f.hls, "link.ts", NULL);
  g_assert_cmpint(symlink(target, link), ==, 0);
  g_assert_cmpint(lc_recording_add_segment(r, link, 2, T0 + 10000, false, &err), ==, LC_EIO);
  g_assert_nonnull(strstr(err, "regular file"));
  g_clear_pointer(&err, g_free);
  g_free(target);
  g_free(link);
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.write_errors, ==, 4);

  lc_recording_finish(r, T0 + 10000);
  lc_record_store_free(s);
  g_free(taken);
  g_free(blocker);
  g_free(meta_before);
  g_free(index_before);
  g_free(dir);
  fx_clear(&f);
}

/* The root sits under a regular file: ENOTDIR, even for root. */
static void
test_unusable_root(void)
{
  fixture f;
  fx_init(&f);
  char *file = make_file(f.tmp, "file", 3, 'x');
  g_free(f.root);
  f.root = g_build_filename(file, "rec", NULL);
  lc_record_store *s = open_store(&f, 0);
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.write_errors, ==, 1);
  g_assert_nonnull(strstr(st.last_error, f.root));
  g_assert_nonnull(strstr(st.last_error, g_strerror(ENOTDIR)));
  char *err = NULL;
  g_assert_null(lc_record_start(s, ROOM, T0, &err));
  g_assert_nonnull(strstr(err, file));
  g_assert_nonnull(strstr(err, g_strerror(ENOTDIR)));
  g_clear_pointer(&err, g_free);
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.write_errors, ==, 2);
  g_assert_cmpuint(st.recordings, ==, 0);
  json_t *l = lc_record_store_list(s, NULL);
  g_assert_cmpuint(json_array_size(l), ==, 0);
  json_decref(l);
  g_assert_cmpint(lc_record_store_sweep(s, 1, T0), ==, 0);
  lc_record_store_free(s);

  /* No root at all: the same, never a crash. */
  lc_record_config none = {0};
  s = lc_record_store_open(&none);
  g_assert_null(lc_record_start(s, ROOM, T0, &err));
  g_clear_pointer(&err, g_free);
  g_assert_null(lc_record_store_get(s, ROOM, NULL));
  g_assert_cmpint(lc_record_store_delete(s, ROOM, "x", &err), ==, LC_ENOENT);
  g_clear_pointer(&err, g_free);
  lc_record_store_free(s);
  g_free(file);
  fx_clear(&f);
}

/* ---- recovery at open ---- */

static void
copy_dir(const char *from, const char *to)
{
  g_assert_cmpint(g_mkdir_with_parents(to, 0755), ==, 0);
  GDir *d = g_dir_open(from, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    char *a = g_build_filename(from, name, NULL), *b = g_build_filename(to, name, NULL), *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(a, &data, &len, NULL));
    g_assert_true(g_file_set_contents(b, data, (gssize)len, NULL));
    g_free(data);
    g_free(a);
    g_free(b);
  }
  g_dir_close(d);
}

static void
test_crash_recovery(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  lc_recording *r = lc_record_start(s, ROOM, T0, &err);
  char *id = g_strdup(lc_recording_id(r));
  char *dir = g_build_filename(f.root, ROOM, id, NULL);
  g_assert_cmpint(add(r, &f, 1000, 2, T0, false, NULL), ==, 0);
  g_assert_cmpint(add(r, &f, 1000, 2.5, T0 + 2000, false, NULL), ==, 0);
  g_assert_cmpint(lc_recording_mark(r, T0 + 3000, "pin", json_pack("{s:s}", "product_id", "p9"), NULL), ==, 0);
  /* A second recording, dead before its first segment. */
  lc_recording *r2 = lc_record_start(s, "early", T0, &err);
  char *dir2 = g_build_filename(f.root, "early", lc_recording_id(r2), NULL);

  /* The state a kill -9 leaves, copied to a second root: meta.json says "recording", a third
   * segment half-written and unlisted, tmp files of an interrupted rewrite. */
  char *root2 = g_build_filename(f.tmp, "rec2", NULL);
  char *crashed = g_build_filename(root2, ROOM, id, NULL);
  char *crashed2 = g_build_filename(root2, "early", lc_recording_id(r2), NULL);
  copy_dir(dir, crashed);
  copy_dir(dir2, crashed2);
  g_free(make_file(crashed, "00002.ts", 333, 'z'));
  g_free(make_file(crashed, "meta.json.tmp", 10, '{'));
  g_free(make_file(crashed, "index.m3u8.tmp", 10, '#'));
  /* Beside it: a directory that is not a recording, a deletion a crash interrupted, junk. */
  char *junk = g_build_filename(root2, ROOM, "20240101T000000Z", NULL);
  g_assert_cmpint(g_mkdir_with_parents(junk, 0755), ==, 0);
  g_free(make_file(junk, "meta.json", 5, '!'));
  char *trash = g_build_filename(root2, ROOM, ".deleting-20230101T000000Z", NULL);
  g_assert_cmpint(g_mkdir_with_parents(trash, 0755), ==, 0);
  g_free(make_file(trash, "00000.ts", 5, 't'));
  g_free(make_file(root2, "README", 5, 'r'));
  lc_recording_finish(r, T0 + 5000);
  lc_recording_finish(r2, T0 + 5000);
  lc_record_store_free(s);

  lc_record_config cfg = {.root = root2};
  s = lc_record_store_open(&cfg);
  json_t *g = lc_record_store_get(s, ROOM, id);
  g_assert_nonnull(g);
  g_assert_cmpstr(jstr(g, "state"), ==, "complete");
  g_assert_cmpint(jint(g, "ended_ms"), ==, T0 + 4500); /* the last listed segment's end */
  g_assert_cmpuint(json_array_size(json_object_get(g, "segments")), ==, 2);
  g_assert_cmpuint(json_array_size(json_object_get(g, "marks")), ==, 1);
  json_decref(g);
  g_assert_false(exists(crashed, "00002.ts", NULL));
  g_assert_false(exists(crashed, "meta.json.tmp", NULL));
  g_assert_false(exists(crashed, "index.m3u8.tmp", NULL));
  char *txt = read_text(crashed, "index.m3u8", NULL);
  g_assert_cmpstr(txt, ==,
                  "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T18:00:00.000Z\n"
                  "#EXTINF:2.000,\n00000.ts\n#EXTINF:2.500,\n00001.ts\n#EXT-X-ENDLIST\n");
  g_free(txt);
  g_assert_false(g_file_test(crashed2, G_FILE_TEST_EXISTS)); /* no segment: removed */
  g_assert_true(exists(junk, "meta.json", NULL));            /* left alone */
  g_assert_false(g_file_test(trash, G_FILE_TEST_EXISTS));    /* deletion finished */
  g_assert_true(exists(root2, "README", NULL));
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.recordings, ==, 1);
  struct stat a, b;
  char *idx = g_build_filename(crashed, "index.m3u8", NULL), *mj = g_build_filename(crashed, "meta.json", NULL);
  g_assert_cmpint(stat(idx, &a), ==, 0);
  g_assert_cmpint(stat(mj, &b), ==, 0);
  g_assert_cmpuint(st.bytes, ==, 2000 + a.st_size + b.st_size);
  lc_record_store_free(s);

  /* A listed segment that is gone (or short) is dropped; the next one becomes a discontinuity. */
  char *meta_text = read_text(dir, "meta.json", NULL);
  rm_rf(crashed);
  copy_dir(dir, crashed);
  char *m = g_build_filename(crashed, "meta.json", NULL);
  /* Put "recording" back, as if the daemon had died before finishing. */
  json_t *mj_json = json_loads(meta_text, 0, NULL);
  json_object_set_new(mj_json, "state", json_string("recording"));
  json_object_set_new(mj_json, "ended_ms", json_null());
  json_t *segs = json_object_get(mj_json, "segments");
  json_array_append_new(segs, json_pack("{s:s, s:f, s:I, s:b, s:I}", "uri", "00002.ts", "duration", 2.0, "wall_ms",
                                        (json_int_t)(T0 + 4500), "discontinuity", 0, "bytes", (json_int_t)10));
  g_free(make_file(crashed, "00002.ts", 10, 'q'));
  g_assert_cmpint(json_dump_file(mj_json, m, JSON_COMPACT), ==, 0);
  json_decref(mj_json);
  char *seg0 = g_build_filename(crashed, "00000.ts", NULL);
  g_assert_cmpint(g_unlink(seg0), ==, 0);
  s = lc_record_store_open(&cfg);
  g = lc_record_store_get(s, ROOM, id);
  segs = json_object_get(g, "segments");
  g_assert_cmpuint(json_array_size(segs), ==, 2);
  g_assert_cmpstr(jstr(json_array_get(segs, 0), "uri"), ==, "00001.ts");
  g_assert_true(json_is_false(json_object_get(json_array_get(segs, 0), "discontinuity")));
  g_assert_cmpstr(jstr(json_array_get(segs, 1), "uri"), ==, "00002.ts");
  g_assert_cmpint(jint(g, "ended_ms"), ==, T0 + 6500);
  json_decref(g);
  lc_record_store_free(s);

  g_free(seg0);
  g_free(m);
  g_free(meta_text);
  g_free(idx);
  g_free(mj);
  g_free(junk);
  g_free(trash);
  g_free(crashed);
  g_free(crashed2);
  g_free(root2);
  g_free(dir);
  g_free(dir2);
  g_free(id);
  fx_clear(&f);
}

/* ---- delete, sweep ---- */

static char *
finished(lc_record_store *s, fixture *f, const char *room, int64_t t)
{
  lc_recording *r = lc_record_start(s, room, t, NULL);
  g_assert_nonnull(r);
  g_assert_cmpint(add(r, f, 100, 2, t, false, NULL), ==, 0);
  char *id = g_strdup(lc_recording_id(r));
  g_assert_cmpint(lc_recording_finish(r, t + 2000), ==, 0);
  return id;
}

static void
test_delete(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *err = NULL;
  char *done = finished(s, &f, ROOM, T0);
  lc_recording *r = lc_record_start(s, "live", T0, &err);
  g_assert_cmpint(lc_record_store_delete(s, "live", lc_recording_id(r), &err), ==, LC_EBUSY);
  g_assert_nonnull(err);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(lc_record_store_delete(s, ROOM, "20990101T000000Z", &err), ==, LC_ENOENT);
  g_clear_pointer(&err, g_free);
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  uint64_t before = st.bytes;
  json_t *it = list_one(s, ROOM, done);
  uint64_t its = (uint64_t)jint(it, "bytes");
  json_decref(it);
  g_assert_cmpint(lc_record_store_delete(s, ROOM, done, &err), ==, 0);
  g_assert_false(exists(f.root, ROOM, done));
  g_assert_false(exists(f.root, ROOM, NULL)); /* the room's last one: its directory goes too */
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.bytes, ==, before - its);
  g_assert_cmpuint(st.recordings, ==, 1);
  g_assert_cmpint(lc_record_store_delete(s, ROOM, done, &err), ==, LC_ENOENT);
  g_clear_pointer(&err, g_free);

  /* A foreign file in the directory: the recording is deleted (renamed away, its files
   * removed); the foreign file is left in the .deleting- directory, never touched. */
  char *foreign = finished(s, &f, ROOM, T0 + 10000);
  char *fdir = g_build_filename(f.root, ROOM, foreign, NULL);
  g_free(make_file(fdir, "notes.txt", 4, 'n'));
  g_assert_cmpint(lc_record_store_delete(s, ROOM, foreign, &err), ==, 0);
  g_assert_false(g_file_test(fdir, G_FILE_TEST_EXISTS));
  char *trash_name = g_strconcat(".deleting-", foreign, NULL);
  char *trash = g_build_filename(f.root, ROOM, trash_name, NULL);
  g_assert_true(exists(trash, "notes.txt", NULL));
  g_assert_false(exists(trash, "meta.json", NULL));
  g_assert_false(exists(trash, "00000.ts", NULL));
  g_assert_null(list_one(s, ROOM, foreign));

  /* A recording removed by hand: delete says so without an error, sweep forgets it. */
  char *by_hand = finished(s, &f, "gone", T0 + 20000), *by_hand2 = finished(s, &f, "gone2", T0 + 30000);
  char *hd = g_build_filename(f.root, "gone", NULL), *hd2 = g_build_filename(f.root, "gone2", NULL);
  rm_rf(hd);
  rm_rf(hd2);
  g_assert_cmpint(lc_record_store_delete(s, "gone", by_hand, &err), ==, 0);
  g_assert_cmpint(lc_record_store_sweep(s, 1, T0), ==, 0);
  g_assert_null(list_one(s, "gone2", by_hand2));
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.recordings, ==, 1); /* the one in progress */

  lc_recording_finish(r, T0);
  lc_record_store_free(s);
  g_free(hd);
  g_free(hd2);
  g_free(by_hand);
  g_free(by_hand2);
  g_free(trash);
  g_free(trash_name);
  g_free(fdir);
  g_free(foreign);
  g_free(done);
  fx_clear(&f);
}

static void
set_mtime(fixture *f, const char *room, const char *id, int64_t ms)
{
  char *p = g_build_filename(f->root, room, id, "meta.json", NULL);
  struct timeval tv[2] = {{.tv_sec = ms / 1000}, {.tv_sec = ms / 1000}};
  g_assert_cmpint(utimes(p, tv), ==, 0);
  g_free(p);
}

static void
test_sweep(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  const int64_t day = INT64_C(86400000), now = T0 + 30 * day;
  char *old1 = finished(s, &f, ROOM, T0);
  char *old2 = finished(s, &f, "b", T0 + 1000);
  char *fresh = finished(s, &f, ROOM, T0 + 5000);
  lc_recording *live = lc_record_start(s, "c", T0, NULL);
  g_assert_cmpint(add(live, &f, 100, 2, T0, false, NULL), ==, 0);
  set_mtime(&f, ROOM, old1, now - 8 * day);
  set_mtime(&f, "b", old2, now - 7 * day - 1000);
  set_mtime(&f, ROOM, fresh, now - 6 * day);
  set_mtime(&f, "c", lc_recording_id(live), now - 100 * day); /* in progress: kept anyway */
  g_assert_cmpint(lc_record_store_sweep(s, 0, now), ==, 0);
  g_assert_cmpint(lc_record_store_sweep(s, 7, now), ==, 2);
  g_assert_false(exists(f.root, ROOM, old1));
  g_assert_false(exists(f.root, "b", old2));
  g_assert_true(exists(f.root, ROOM, fresh));
  g_assert_true(exists(f.root, "c", lc_recording_id(live)));
  json_t *l = lc_record_store_list(s, NULL);
  g_assert_cmpuint(json_array_size(l), ==, 2);
  json_decref(l);
  g_assert_cmpint(lc_record_store_sweep(s, 7, now), ==, 0);
  lc_recording_finish(live, T0 + 2000);
  lc_record_store_free(s);
  g_free(old1);
  g_free(old2);
  g_free(fresh);
  fx_clear(&f);
}

/* ---- names ---- */

static void
test_hostile_names(void)
{
  fixture f;
  fx_init(&f);
  lc_record_store *s = open_store(&f, 0);
  char *long_room = g_strnfill(65, 'a'), *max_room = g_strnfill(64, 'a');
  char *long_id = g_strnfill(41, '1');
  const char *bad[] = {"..", ".", "a/b", "", "../../etc", "a b", "a\nb", "é", long_room, NULL};
  for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *err = NULL;
    g_assert_false(lc_record_valid_room(bad[i]));
    g_assert_null(lc_record_start(s, bad[i], T0, &err));
    g_assert_nonnull(err);
    g_free(err);
    err = NULL;
    g_assert_null(lc_record_store_get(s, bad[i], NULL));
    g_assert_cmpint(lc_record_store_delete(s, bad[i], "x", &err), ==, LC_EINVAL);
    g_free(err);
    err = NULL;
    g_assert_cmpint(lc_record_store_delete(s, ROOM, bad[i], &err), ==, LC_EINVAL);
    g_free(err);
    json_t *l = lc_record_store_list(s, bad[i] ? bad[i] : "");
    g_assert_cmpuint(json_array_size(l), ==, 0);
    json_decref(l);
  }
  g_assert_false(lc_record_valid_id(long_id));
  g_assert_null(lc_record_store_get(s, ROOM, long_id));
  g_assert_true(lc_record_valid_room(max_room));
  g_assert_true(lc_record_valid_room("Room_1-x"));
  lc_record_stats st;
  lc_record_store_stats(s, &st);
  g_assert_cmpuint(st.write_errors, ==, 0); /* refused before any file was touched */
  /* Nothing was created outside the root (nor inside). */
  GDir *d = g_dir_open(f.tmp, 0, NULL);
  unsigned n = 0;
  while (g_dir_read_name(d))
    n++;
  g_dir_close(d);
  g_assert_cmpuint(n, ==, 2); /* hls, rec */
  lc_recording *r = lc_record_start(s, max_room, T0, NULL);
  g_assert_nonnull(r);
  lc_recording_finish(r, T0);
  lc_record_store_free(s);
  g_free(long_room);
  g_free(max_room);
  g_free(long_id);
  fx_clear(&f);
}

/* ---- the copy fallback ---- */

static void
test_copy_fallback(void)
{
  fixture f;
  fx_init(&f);
  char *src = make_file(f.hls, "a.ts", 300000, 'k'); /* more than one copy chunk */
  char *dst = g_build_filename(f.tmp, "copy.ts", NULL);
  char *err = NULL;
  uint64_t bytes = 0;
  g_assert_cmpint(lc__record_place_segment(src, dst, false, &bytes, &err), ==, 0);
  g_assert_cmpuint(bytes, ==, 300000);
  struct stat a, b;
  g_assert_cmpint(stat(src, &a), ==, 0);
  g_assert_cmpint(stat(dst, &b), ==, 0);
  g_assert_cmpuint(a.st_ino, !=, b.st_ino);
  char *x = NULL, *y = NULL;
  gsize lx = 0, ly = 0;
  g_assert_true(g_file_get_contents(src, &x, &lx, NULL));
  g_assert_true(g_file_get_contents(dst, &y, &ly, NULL));
  g_assert_cmpmem(x, lx, y, ly);
  g_free(x);
  g_free(y);
  /* The copy path's errors: a missing source leaves no file. */
  char *missing = g_build_filename(f.hls, "none.ts", NULL), *dst2 = g_build_filename(f.tmp, "copy2.ts", NULL);
  g_assert_cmpint(lc__record_place_segment(missing, dst2, false, &bytes, &err), ==, LC_EIO);
  g_assert_nonnull(strstr(err, missing));
  g_clear_pointer(&err, g_free);
  g_assert_false(g_file_test(dst2, G_FILE_TEST_EXISTS));

  /* Across file systems (EXDEV) through the API, when /dev/shm is another one. */
  struct stat shm, tmp;
  char *shm_dir = g_build_filename("/dev/shm", "lc-record-XXXXXX", NULL);
  if (stat("/dev/shm", &shm) == 0 && stat(f.tmp, &tmp) == 0 && shm.st_dev != tmp.st_dev &&
      g_mkdtemp(shm_dir) != NULL) {
    char *shm_src = make_file(shm_dir, "s.ts", 4096, 'm');
    lc_record_store *s = open_store(&f, 0);
    lc_recording *r = lc_record_start(s, ROOM, T0, &err);
    g_assert_cmpint(lc_recording_add_segment(r, shm_src, 2, T0, false, &err), ==, 0);
    char *seg = g_build_filename(f.root, ROOM, lc_recording_id(r), "00000.ts", NULL);
    g_assert_cmpint(stat(seg, &b), ==, 0);
    g_assert_cmpuint(b.st_size, ==, 4096);
    lc_recording_finish(r, T0 + 2000);
    lc_record_store_free(s);
    g_free(seg);
    g_unlink(shm_src);
    g_rmdir(shm_dir);
    g_free(shm_src);
  } else {
    g_test_message("/dev/shm is not another file system here: the copy was tested directly only");
  }
  g_free(shm_dir);
  g_free(missing);
  g_free(dst2);
  g_free(src);
  g_free(dst);
  fx_clear(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  lc_log_set_level(LC_LOG_ERROR); /* the warnings here are expected */
  g_test_add_func("/record/playlist_and_meta", test_playlist_and_meta);
  g_test_add_func("/record/ids_and_order", test_ids_and_order);
  g_test_add_func("/record/marks", test_marks);
  g_test_add_func("/record/media_time", test_media_time);
  g_test_add_func("/record/meta_parse_refuses", test_meta_parse_refuses);
  g_test_add_func("/record/quota", test_quota);
  g_test_add_func("/record/write_errors", test_write_errors);
  g_test_add_func("/record/unusable_root", test_unusable_root);
  g_test_add_func("/record/crash_recovery", test_crash_recovery);
  g_test_add_func("/record/delete", test_delete);
  g_test_add_func("/record/sweep", test_sweep);
  g_test_add_func("/record/hostile_names", test_hostile_names);
  g_test_add_func("/record/copy_fallback", test_copy_fallback);
  return g_test_run();
}

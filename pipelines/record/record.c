/* The recordings store (record.h): recordings in progress, the index of those on disk, recovery
 * at open, quota, retention. Main thread; the file work is in record_fs.c, the meta.json and
 * playlist text in record_meta.c. */
#define LC_LOG_DOMAIN "record"
#include "record/record.h"
#include "base/errors.h"
#include "base/log.h"
#include "record/record_int.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)
#define MAX_ERROR_TEXT 1024 /* record_meta.c's bound on meta.json "error" */
#define TRASH_PREFIX ".deleting-"

/* One recording on disk: the summary that list answers from. */
typedef struct {
  char *room, *id;
  const char *state; /* static: "recording", "stopped", "complete" */
  int64_t started_ms;
  int64_t ended_ms; /* -1 while in progress */
  double duration_s;
  unsigned segments;
  uint64_t bytes; /* segments + index.m3u8 + meta.json */
  char *error;
  lc_recording *live; /* while in progress */
} rec_entry;

/* meta.json and index.m3u8 are rewritten whole for every segment (atomic replace), but their
 * text is not re-serialised: the segments' JSON and playlist lines are kept as text and appended
 * to, so a segment costs O(1) CPU plus one copy of the text. Re-serialising a 4 h recording
 * (7200 segments: 800 KB of JSON, 170 KB of playlist) took 35-40 ms of main-thread time per
 * segment (docs/design.md "Recordings"). */
struct lc_recording {
  lc_record_store *store;
  rec_entry *e;
  char *dir;
  json_t *meta;       /* what meta.json says (segments and marks included) */
  GString *seg_text;  /* meta's "segments" items as compact JSON, comma-separated */
  GString *mark_text; /* meta's "marks" items likewise */
  GString *pl_body;   /* the playlist's segment lines */
  int64_t longest_ms; /* the longest segment, as printed */
  double duration_s;
  unsigned next_num;  /* the next segment file's number */
  bool lost;          /* a segment was lost since the last listed one: the next is discontinuous */
  bool stopped;
  uint64_t seg_bytes; /* listed segments */
  size_t index_len, meta_len;
};

/* get's parsed meta of a finished recording, kept: a replay page asks for the same few again and
 * again, and parsing a 4 h one (800 KB) costs ~30 ms of main-thread time, a copy ~2 ms. */
#define META_CACHE 4
typedef struct {
  rec_entry *e;
  json_t *meta;  /* as get answers it */
  struct stat st; /* meta.json's when read: a change on disk reads it again */
} cached_meta;

struct lc_record_store {
  char *root; /* NULL when not configured */
  uint64_t max_bytes;
  GPtrArray *entries; /* rec_entry *, owned */
  GQueue cache;       /* cached_meta *, most recently used first, at most META_CACHE */
  uint64_t bytes;
  uint64_t segments_written, write_errors;
  char *last_error;
};

/* ---- small helpers ---- */

/* Hands msg (owned) to the caller's err, or frees it. */
static void
give(char **err, char *msg)
{
  if (err) {
    g_free(*err);
    *err = msg;
  } else {
    g_free(msg);
  }
}

/* A file error: counted, kept as the last error, logged. */
static void
note_error(lc_record_store *s, const char *room, const char *msg)
{
  s->write_errors++;
  g_free(s->last_error);
  s->last_error = g_strdup(msg);
  LC_WARN(room, NULL, "%s", msg);
}

/* msg as meta.json "error": valid UTF-8 (a path may not be), at most MAX_ERROR_TEXT bytes. */
static json_t *
error_json(const char *msg)
{
  char *v = g_utf8_make_valid(msg, -1);
  if (strlen(v) > MAX_ERROR_TEXT) {
    const char *end = v + MAX_ERROR_TEXT;
    while (end > v && (*end & 0xc0) == 0x80) /* not inside a character */
      end--;
    v[end - v] = '\0';
  }
  json_t *j = json_string(v);
  g_free(v);
  return j;
}

static const char *
state_name(const char *s)
{
  if (strcmp(s, "recording") == 0)
    return "recording";
  return strcmp(s, "stopped") == 0 ? "stopped" : "complete";
}

static double
meta_duration(const json_t *meta)
{
  json_t *segs = json_object_get(meta, "segments"), *seg;
  size_t i;
  double d = 0;
  json_array_foreach(segs, i, seg)
    d += json_number_value(json_object_get(seg, "duration"));
  return d;
}

static uint64_t
meta_segment_bytes(const json_t *meta)
{
  json_t *segs = json_object_get(meta, "segments"), *seg;
  size_t i;
  uint64_t b = 0;
  json_array_foreach(segs, i, seg)
    b += (uint64_t)json_integer_value(json_object_get(seg, "bytes"));
  return b;
}

/* The wall time a recording's last segment ends (its start without segments). */
static int64_t
meta_last_end(const json_t *meta)
{
  json_t *segs = json_object_get(meta, "segments");
  size_t n = json_array_size(segs);
  if (n == 0)
    return json_integer_value(json_object_get(meta, "started_ms"));
  json_t *last = json_array_get(segs, n - 1);
  return json_integer_value(json_object_get(last, "wall_ms")) +
         (int64_t)llround(json_number_value(json_object_get(last, "duration")) * 1000.0);
}

static rec_entry *
entry_new(lc_record_store *s, const char *room, const char *id)
{
  rec_entry *e = g_new0(rec_entry, 1);
  e->room = g_strdup(room);
  e->id = g_strdup(id);
  e->state = "recording";
  e->ended_ms = -1;
  g_ptr_array_add(s->entries, e);
  return e;
}

static void
entry_free(gpointer p)
{
  rec_entry *e = p;
  g_free(e->room);
  g_free(e->id);
  g_free(e->error);
  g_free(e);
}

/* The summary from a (valid) meta. */
static void
entry_sync(rec_entry *e, const json_t *meta)
{
  e->state = state_name(json_string_value(json_object_get(meta, "state")));
  e->started_ms = json_integer_value(json_object_get(meta, "started_ms"));
  json_t *ended = json_object_get(meta, "ended_ms");
  e->ended_ms = json_is_integer(ended) ? json_integer_value(ended) : -1;
  e->duration_s = meta_duration(meta);
  e->segments = (unsigned)json_array_size(json_object_get(meta, "segments"));
  g_free(e->error);
  e->error = g_strdup(json_string_value(json_object_get(meta, "error")));
}

static void
set_bytes(lc_record_store *s, rec_entry *e, uint64_t bytes)
{
  s->bytes = s->bytes - e->bytes + bytes;
  e->bytes = bytes;
}

static void
cache_free(gpointer p)
{
  cached_meta *c = p;
  json_decref(c->meta);
  g_free(c);
}

static void
cache_forget(lc_record_store *s, rec_entry *e)
{
  for (GList *l = s->cache.head; l; l = l->next) {
    cached_meta *c = l->data;
    if (c->e == e) {
      g_queue_delete_link(&s->cache, l);
      cache_free(c);
      return;
    }
  }
}

static void
entry_drop(lc_record_store *s, rec_entry *e)
{
  cache_forget(s, e);
  set_bytes(s, e, 0);
  g_ptr_array_remove(s->entries, e);
}

static rec_entry *
entry_find(lc_record_store *s, const char *room, const char *id)
{
  for (guint i = 0; i < s->entries->len; i++) {
    rec_entry *e = s->entries->pdata[i];
    if (strcmp(e->room, room) == 0 && strcmp(e->id, id) == 0)
      return e;
  }
  return NULL;
}

/* Newer first: started_ms, then the id ("...Z-10" after "...Z-9": longer is later). */
static int
entry_newer_first(gconstpointer pa, gconstpointer pb)
{
  const rec_entry *a = *(rec_entry *const *)pa, *b = *(rec_entry *const *)pb;
  if (a->started_ms != b->started_ms)
    return a->started_ms > b->started_ms ? -1 : 1;
  size_t la = strlen(a->id), lb = strlen(b->id);
  if (la != lb)
    return la > lb ? -1 : 1;
  return -strcmp(a->id, b->id);
}

/* Writes dir's index.m3u8 (unless NULL) and meta.json, atomically. */
static int
write_texts(const char *dir, const GString *index, const GString *meta, size_t *index_len, size_t *meta_len,
            char **err)
{
  const char *names[2], *datas[2];
  size_t lens[2];
  unsigned n = 0;
  if (index) {
    names[n] = "index.m3u8";
    datas[n] = index->str;
    lens[n++] = index->len;
  }
  names[n] = "meta.json";
  datas[n] = meta->str;
  lens[n++] = meta->len;
  int rc = lc__record_write_files(dir, n, names, datas, lens, err);
  if (rc == 0) {
    if (index)
      *index_len = index->len;
    *meta_len = meta->len;
  }
  return rc;
}

/* The same from a whole meta (recovery): serialised here. */
static int
write_meta(const char *dir, const json_t *meta, bool vod, size_t *index_len, size_t *meta_len, char **err)
{
  char *m = json_dumps(meta, JSON_COMPACT);
  GString *meta_text = g_string_new(m);
  g_string_append_c(meta_text, '\n');
  free(m);
  char *pl = lc__record_playlist(meta, vod);
  GString *index = g_string_new(pl);
  g_free(pl);
  int rc = write_texts(dir, index, meta_text, index_len, meta_len, err);
  g_string_free(index, TRUE);
  g_string_free(meta_text, TRUE);
  return rc;
}

/* meta.json's text for r: its scalar fields serialised, then the kept segments and marks text.
 * Equal to json_dumps(r->meta, JSON_COMPACT) + "\n" (the unit test checks). */
static GString *
meta_text(const lc_recording *r)
{
  static const char *const head_keys[] = {"version", "room", "id", "state", "started_ms", "ended_ms", "error"};
  json_t *head = json_object();
  for (unsigned i = 0; i < G_N_ELEMENTS(head_keys); i++)
    json_object_set(head, head_keys[i], json_object_get(r->meta, head_keys[i]));
  char *h = json_dumps(head, JSON_COMPACT);
  json_decref(head);
  size_t hl = strlen(h);
  GString *out = g_string_sized_new(hl + r->seg_text->len + r->mark_text->len + 32);
  g_string_append_len(out, h, (gssize)hl - 1); /* without its closing brace */
  free(h);
  g_string_append(out, ",\"segments\":[");
  g_string_append_len(out, r->seg_text->str, (gssize)r->seg_text->len);
  g_string_append(out, "],\"marks\":[");
  g_string_append_len(out, r->mark_text->str, (gssize)r->mark_text->len);
  g_string_append(out, "]}\n");
  return out;
}

static GString *
playlist_text(const lc_recording *r, bool vod)
{
  GString *out = g_string_sized_new(r->pl_body->len + 200);
  lc__record_playlist_head(out, r->longest_ms, json_array_size(json_object_get(r->meta, "segments")) > 0, vod);
  g_string_append_len(out, r->pl_body->str, (gssize)r->pl_body->len);
  if (vod)
    g_string_append(out, LC__RECORD_ENDLIST);
  return out;
}

/* Appends an item's compact JSON to a comma-separated list. */
static void
append_item(GString *list, const json_t *item)
{
  char *t = json_dumps(item, JSON_COMPACT);
  if (list->len)
    g_string_append_c(list, ',');
  g_string_append(list, t);
  free(t);
}

/* The summary of a recording in progress (without walking its segments). */
static void
entry_sync_live(lc_recording *r)
{
  rec_entry *e = r->e;
  e->state = state_name(json_string_value(json_object_get(r->meta, "state")));
  e->started_ms = json_integer_value(json_object_get(r->meta, "started_ms"));
  json_t *ended = json_object_get(r->meta, "ended_ms");
  e->ended_ms = json_is_integer(ended) ? json_integer_value(ended) : -1;
  e->duration_s = r->duration_s;
  e->segments = (unsigned)json_array_size(json_object_get(r->meta, "segments"));
  g_free(e->error);
  e->error = g_strdup(json_string_value(json_object_get(r->meta, "error")));
}

/* Writes r's files (index.m3u8 only when with_index); the summary follows. A failure is
 * counted. */
static int
commit(lc_recording *r, bool with_index, bool vod, char **err)
{
  char *msg = NULL;
  GString *meta = meta_text(r), *index = with_index ? playlist_text(r, vod) : NULL;
  int rc = write_texts(r->dir, index, meta, &r->index_len, &r->meta_len, &msg);
  g_string_free(meta, TRUE);
  if (index)
    g_string_free(index, TRUE);
  if (rc != 0) {
    note_error(r->store, r->e->room, msg);
    give(err, msg);
    return rc;
  }
  entry_sync_live(r);
  set_bytes(r->store, r->e, r->seg_bytes + r->index_len + r->meta_len);
  return 0;
}

/* Stops taking segments: state "stopped" with the reason, VOD playlist (it will not grow). */
static void
stop(lc_recording *r, const char *reason)
{
  r->stopped = true;
  json_object_set_new(r->meta, "state", json_string("stopped"));
  json_object_set_new(r->meta, "error", error_json(reason));
  LC_WARN(r->e->room, NULL, "recording %s stopped: %s", r->e->id, reason);
  if (commit(r, true, true, NULL) != 0)
    entry_sync_live(r); /* in memory at least; the next write or open puts it on disk */
}

static void
recording_free(lc_recording *r)
{
  json_decref(r->meta);
  g_string_free(r->seg_text, TRUE);
  g_string_free(r->mark_text, TRUE);
  g_string_free(r->pl_body, TRUE);
  g_free(r->dir);
  g_free(r);
}

/* ---- open: the scan and the recovery ---- */

/* Reads and validates dir/meta.json; it must name this room and id. */
static int
read_meta(const char *dir, const char *room, const char *id, json_t **out, char **err)
{
  char *path = g_build_filename(dir, "meta.json", NULL);
  char *buf = NULL;
  gsize len = 0;
  GError *gerr = NULL;
  int rc = 0;
  struct stat st;
  *out = NULL;
  if (stat(path, &st) != 0) {
    lc_error_set(err, path, "%s", g_strerror(errno));
    rc = LC_ENOENT;
  } else if ((uint64_t)st.st_size > LC_RECORD_MAX_META_BYTES) {
    lc_error_set(err, path, "larger than %u bytes", LC_RECORD_MAX_META_BYTES);
    rc = LC_ETOOBIG;
  } else if (!g_file_get_contents(path, &buf, &len, &gerr)) {
    lc_error_set(err, path, "%s", gerr->message);
    g_error_free(gerr);
    rc = LC_EIO;
  } else if ((rc = lc_record_meta_parse(buf, len, out, err)) == 0 &&
             (strcmp(json_string_value(json_object_get(*out, "room")), room) != 0 ||
              strcmp(json_string_value(json_object_get(*out, "id")), id) != 0)) {
    lc_error_set(err, path, "names another recording (%s/%s)", json_string_value(json_object_get(*out, "room")),
                 json_string_value(json_object_get(*out, "id")));
    json_decref(*out);
    *out = NULL;
    rc = LC_EINVAL;
  }
  g_free(buf);
  g_free(path);
  return rc;
}

static uint64_t
file_size(const char *dir, const char *name)
{
  char *p = g_build_filename(dir, name, NULL);
  struct stat st;
  uint64_t n = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
  g_free(p);
  return n;
}

/* Keeps the listed segments whose file is there with its size; the one after a dropped one is
 * marked discontinuous. Returns how many were dropped. */
static unsigned
recover_segments(const char *room, const char *dir, json_t *meta)
{
  json_t *segs = json_object_get(meta, "segments"), *kept = json_array();
  unsigned dropped = 0;
  bool gap = false;
  for (size_t i = 0; i < json_array_size(segs); i++) {
    json_t *seg = json_array_get(segs, i);
    const char *uri = json_string_value(json_object_get(seg, "uri"));
    char *p = g_build_filename(dir, uri, NULL);
    struct stat st;
    if (stat(p, &st) != 0 || (uint64_t)st.st_size != (uint64_t)json_integer_value(json_object_get(seg, "bytes"))) {
      LC_WARN(room, NULL, "%s: listed but missing or of another size: dropped from the recording", p);
      dropped++;
      gap = true;
    } else {
      if (gap && json_array_size(kept) > 0)
        json_object_set_new(seg, "discontinuity", json_true());
      if (json_array_size(kept) == 0)
        json_object_set_new(seg, "discontinuity", json_false());
      json_array_append(kept, seg);
      gap = false;
    }
    g_free(p);
  }
  json_object_set_new(meta, "segments", kept);
  return dropped;
}

/* Deletes the segment files meta does not list and the tmp files: nothing half-written stays. */
static unsigned
remove_unlisted(const char *room, const char *dir, const json_t *meta)
{
  GHashTable *listed = g_hash_table_new(g_str_hash, g_str_equal);
  json_t *seg;
  size_t i;
  json_array_foreach(json_object_get(meta, "segments"), i, seg)
    g_hash_table_add(listed, (gpointer)json_string_value(json_object_get(seg, "uri")));
  unsigned removed = 0;
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d)) != NULL) {
    bool seg_file = lc__record_segment_name(name, NULL);
    if ((!seg_file || g_hash_table_contains(listed, name)) && !g_str_has_suffix(name, ".tmp"))
      continue;
    char *p = g_build_filename(dir, name, NULL);
    if (unlink(p) == 0)
      removed++;
    else
      LC_WARN(room, NULL, "%s: cannot remove: %s", p, g_strerror(errno));
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_hash_table_destroy(listed);
  return removed;
}

/* A recording the daemon left in progress: finished with what it lists (VOD). */
static void
recover(lc_record_store *s, const char *room, const char *id, const char *room_dir, const char *dir, json_t *meta)
{
  unsigned dropped = recover_segments(room, dir, meta);
  unsigned removed = remove_unlisted(room, dir, meta);
  char *msg = NULL;
  if (json_array_size(json_object_get(meta, "segments")) == 0) {
    if (lc__record_remove_dir(room_dir, id, &msg) != 0)
      note_error(s, room, msg);
    else
      LC_INFO(room, NULL, "recording %s was interrupted before its first segment: removed", id);
    g_free(msg);
    return;
  }
  if (strcmp(json_string_value(json_object_get(meta, "state")), "recording") == 0)
    json_object_set_new(meta, "state", json_string("complete"));
  if (json_is_null(json_object_get(meta, "ended_ms")))
    json_object_set_new(meta, "ended_ms", json_integer(meta_last_end(meta)));
  size_t il = 0, ml = 0;
  if (write_meta(dir, meta, true, &il, &ml, &msg) != 0) {
    note_error(s, room, msg);
    g_clear_pointer(&msg, g_free);
  }
  rec_entry *e = entry_new(s, room, id);
  entry_sync(e, meta);
  set_bytes(s, e, meta_segment_bytes(meta) + file_size(dir, "index.m3u8") + file_size(dir, "meta.json"));
  LC_INFO(room, NULL, "recording %s was interrupted (the daemon stopped): finished with %u segments (%.1f s); "
          "%u listed segments missing, %u unlisted files removed", id, e->segments, e->duration_s, dropped, removed);
}

static void
load_recording(lc_record_store *s, const char *room, const char *id, const char *room_dir, const char *dir)
{
  json_t *meta = NULL;
  char *msg = NULL;
  if (read_meta(dir, room, id, &meta, &msg) != 0) {
    LC_WARN(room, NULL, "%s: not a recording, left alone (%s)", dir, msg);
    g_free(msg);
    return;
  }
  if (strcmp(json_string_value(json_object_get(meta, "state")), "recording") == 0 ||
      json_is_null(json_object_get(meta, "ended_ms"))) {
    recover(s, room, id, room_dir, dir, meta);
  } else {
    rec_entry *e = entry_new(s, room, id);
    entry_sync(e, meta);
    set_bytes(s, e, meta_segment_bytes(meta) + file_size(dir, "index.m3u8") + file_size(dir, "meta.json"));
  }
  json_decref(meta);
}

static bool
is_dir(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
scan_room(lc_record_store *s, const char *room, const char *room_dir)
{
  GDir *d = g_dir_open(room_dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d)) != NULL) {
    char *dir = g_build_filename(room_dir, name, NULL);
    char *msg = NULL;
    if (g_str_has_prefix(name, TRASH_PREFIX) && lc_record_valid_id(name + strlen(TRASH_PREFIX)) && is_dir(dir)) {
      if (lc__record_remove_trash(room_dir, name, &msg) != 0)
        note_error(s, room, msg);
      else
        LC_INFO(room, NULL, "finished deleting recording %s", name + strlen(TRASH_PREFIX));
    } else if (lc_record_valid_id(name) && is_dir(dir)) {
      load_recording(s, room, name, room_dir, dir);
    } else {
      LC_WARN(room, NULL, "%s: not a recording, left alone", dir);
    }
    g_free(msg);
    g_free(dir);
  }
  if (d)
    g_dir_close(d);
}

static void
scan(lc_record_store *s)
{
  GError *gerr = NULL;
  GDir *d = g_dir_open(s->root, 0, &gerr);
  if (!d) {
    char *msg = g_strdup_printf("%s: cannot read the recordings root: %s", s->root, gerr->message);
    note_error(s, NULL, msg);
    g_free(msg);
    g_error_free(gerr);
    return;
  }
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    char *room_dir = g_build_filename(s->root, name, NULL);
    if (lc_record_valid_room(name) && is_dir(room_dir))
      scan_room(s, name, room_dir);
    else
      LC_WARN(NULL, NULL, "%s: not a room's recordings, left alone", room_dir);
    g_free(room_dir);
  }
  g_dir_close(d);
}

lc_record_store *
lc_record_store_open(const lc_record_config *cfg)
{
  lc_record_store *s = g_new0(lc_record_store, 1);
  s->entries = g_ptr_array_new_with_free_func(entry_free);
  s->max_bytes = cfg ? cfg->max_bytes : 0;
  if (!cfg || !cfg->root || !cfg->root[0]) {
    note_error(s, NULL, "record: the recordings root is not set");
    return s;
  }
  s->root = g_strdup(cfg->root);
  if (g_mkdir_with_parents(s->root, 0755) != 0) {
    char *msg = g_strdup_printf("%s: cannot create the recordings root: %s", s->root, g_strerror(errno));
    note_error(s, NULL, msg);
    g_free(msg);
    return s;
  }
  scan(s);
  LC_INFO(NULL, NULL, "recordings in %s: %u, %.1f MiB (cap %s)", s->root, s->entries->len, (double)s->bytes / MIB,
          s->max_bytes ? "set" : "none");
  return s;
}

void
lc_record_store_free(lc_record_store *s)
{
  if (!s)
    return;
  GPtrArray *live = g_ptr_array_new();
  for (guint i = 0; i < s->entries->len; i++) {
    rec_entry *e = s->entries->pdata[i];
    if (e->live)
      g_ptr_array_add(live, e->live);
  }
  for (guint i = 0; i < live->len; i++) {
    lc_recording *r = live->pdata[i];
    lc_recording_finish(r, meta_last_end(r->meta));
  }
  g_ptr_array_free(live, TRUE);
  g_queue_clear_full(&s->cache, cache_free);
  g_ptr_array_free(s->entries, TRUE);
  g_free(s->root);
  g_free(s->last_error);
  g_free(s);
}

/* ---- a recording ---- */

/* Creates room_dir/<id> for wall_ms: "YYYYMMDDTHHMMSSZ", then "-2", "-3", ... */
static char *
make_recording_dir(lc_record_store *s, const char *room, const char *room_dir, int64_t wall_ms, char **err)
{
  time_t t = (time_t)(wall_ms / 1000);
  struct tm tm;
  char base[32];
  if (!gmtime_r(&t, &tm) || strftime(base, sizeof base, "%Y%m%dT%H%M%SZ", &tm) != 16) {
    lc_error_set(err, "record", "wall time %" PRId64 " cannot name a recording", wall_ms);
    return NULL;
  }
  for (unsigned k = 1; k <= 1000; k++) {
    char *id = k == 1 ? g_strdup(base) : g_strdup_printf("%s-%u", base, k);
    if (entry_find(s, room, id)) { /* known, though its directory is gone */
      g_free(id);
      continue;
    }
    char *dir = g_build_filename(room_dir, id, NULL);
    int rc = g_mkdir(dir, 0755), e = errno;
    g_free(dir);
    if (rc == 0)
      return id;
    g_free(id);
    if (e != EEXIST) {
      lc_error_set(err, room_dir, "cannot create a recording directory: %s", g_strerror(e));
      return NULL;
    }
  }
  lc_error_set(err, room_dir, "1000 recordings started at %s", base);
  return NULL;
}

lc_recording *
lc_record_start(lc_record_store *s, const char *room, int64_t wall_ms, char **err)
{
  char *msg = NULL, *room_dir = NULL, *id = NULL, *dir = NULL;
  json_t *meta = NULL;
  bool io = false;
  if (!lc_record_valid_room(room)) {
    msg = g_strdup_printf("record: the room id must match [A-Za-z0-9_-]{1,%d}", LC_RECORD_MAX_ROOM);
    goto fail;
  }
  if (wall_ms < 0 || wall_ms > LC_RECORD_MAX_TIME_MS) {
    msg = g_strdup_printf("record: start time %" PRId64 " out of range", wall_ms);
    goto fail;
  }
  if (!s->root) {
    msg = g_strdup("record: the recordings root is not set");
    goto fail;
  }
  for (guint i = 0; i < s->entries->len; i++) {
    rec_entry *e = s->entries->pdata[i];
    if (e->live && strcmp(e->room, room) == 0) {
      msg = g_strdup_printf("record: room %s is already recording (%s)", room, e->id);
      goto fail;
    }
  }
  io = true;
  room_dir = g_build_filename(s->root, room, NULL);
  if (g_mkdir_with_parents(room_dir, 0755) != 0) {
    msg = g_strdup_printf("%s: cannot create: %s", room_dir, g_strerror(errno));
    goto fail;
  }
  id = make_recording_dir(s, room, room_dir, wall_ms, &msg);
  if (!id)
    goto fail;
  dir = g_build_filename(room_dir, id, NULL);
  meta = json_pack("{s:i, s:s, s:s, s:s, s:I, s:n, s:n, s:[], s:[]}", "version", 1, "room", room, "id", id,
                   "state", "recording", "started_ms", (json_int_t)wall_ms, "ended_ms", "error", "segments",
                   "marks");
  size_t il = 0, ml = 0;
  /* The new directory entries too: the recording's in its room's, the room's in the root. */
  if (write_meta(dir, meta, false, &il, &ml, &msg) != 0 || lc__record_fsync_dir(room_dir, &msg) != 0 ||
      lc__record_fsync_dir(s->root, &msg) != 0) {
    char *ignored = NULL;
    lc__record_remove_dir(room_dir, id, &ignored);
    g_free(ignored);
    goto fail;
  }
  lc_recording *r = g_new0(lc_recording, 1);
  r->store = s;
  r->dir = dir;
  r->meta = meta;
  r->seg_text = g_string_new(NULL);
  r->mark_text = g_string_new(NULL);
  r->pl_body = g_string_new(NULL);
  r->index_len = il;
  r->meta_len = ml;
  r->e = entry_new(s, room, id);
  r->e->live = r;
  entry_sync_live(r);
  set_bytes(s, r->e, il + ml);
  LC_INFO(room, NULL, "recording %s started in %s", id, dir);
  g_free(room_dir);
  g_free(id);
  return r;
fail:
  if (io)
    note_error(s, lc_record_valid_room(room) ? room : NULL, msg);
  give(err, msg);
  json_decref(meta);
  g_free(dir);
  g_free(id);
  g_free(room_dir);
  return NULL;
}

const char *
lc_recording_id(const lc_recording *r)
{
  return r->e->id;
}

const char *
lc_recording_room(const lc_recording *r)
{
  return r->e->room;
}

int
lc_recording_add_segment(lc_recording *r, const char *src_path, double duration_s, int64_t wall_start_ms,
                         bool discontinuity, char **err)
{
  lc_record_store *s = r->store;
  json_t *segs = json_object_get(r->meta, "segments");
  char *msg = NULL, *dst = NULL;
  int rc = 0;
  /* Kept to the millisecond, as the playlist prints it. */
  double dur = duration_s > 0 && duration_s <= LC_RECORD_MAX_SEGMENT_S ? (double)llround(duration_s * 1000.0) / 1000.0
                                                                       : 0; /* NaN too */
  if (!src_path || !(dur > 0 && dur <= LC_RECORD_MAX_SEGMENT_S) || wall_start_ms < 0 ||
      wall_start_ms > LC_RECORD_MAX_TIME_MS) {
    lc_error_set(err, "record", "segment: need a path, a duration in [0.001, %g] s and a wall time >= 0",
                 LC_RECORD_MAX_SEGMENT_S);
    return LC_EINVAL;
  }
  if (r->stopped) {
    lc_error_set(err, r->e->id, "the recording is stopped: %s", r->e->error ? r->e->error : "");
    return LC_ESTATE;
  }
  if (json_array_size(segs) >= LC_RECORD_MAX_SEGMENTS) {
    msg = g_strdup_printf("%s/%s: %d segments, the most a recording keeps", r->e->room, r->e->id,
                          LC_RECORD_MAX_SEGMENTS);
    stop(r, msg);
    give(err, msg);
    return LC_ELIMIT;
  }
  struct stat st;
  if (s->max_bytes && stat(src_path, &st) == 0 && s->bytes + (uint64_t)st.st_size > s->max_bytes) {
    msg = g_strdup_printf("record.max_disk_mb reached: %" PRIu64 " MiB used", s->bytes >> 20);
    g_free(s->last_error);
    s->last_error = g_strdup(msg);
    stop(r, msg);
    give(err, msg);
    return LC_ENOSPC;
  }
  char name[16];
  g_snprintf(name, sizeof name, LC__RECORD_SEG_FMT, r->next_num);
  dst = g_build_filename(r->dir, name, NULL);
  uint64_t bytes = 0;
  rc = lc__record_place_segment(src_path, dst, true, &bytes, &msg);
  if (rc != 0) {
    note_error(s, r->e->room, msg);
    goto lost;
  }
  bool first = json_array_size(segs) == 0, disc = !first && (discontinuity || r->lost);
  json_t *seg = json_pack("{s:s, s:f, s:I, s:b, s:I}", "uri", name, "duration", dur, "wall_ms",
                          (json_int_t)wall_start_ms, "discontinuity", disc, "bytes", (json_int_t)bytes);
  /* Appended in memory, then written; undone if the write fails. */
  size_t seg_mark = r->seg_text->len, pl_mark = r->pl_body->len;
  int64_t longest = r->longest_ms;
  double duration = r->duration_s;
  json_array_append_new(segs, seg);
  append_item(r->seg_text, seg);
  lc__record_playlist_entry(r->pl_body, seg, first);
  r->longest_ms = MAX(r->longest_ms, lc__record_duration_ms(dur));
  r->duration_s += dur;
  r->seg_bytes += bytes;
  rc = commit(r, true, false, &msg);
  if (rc != 0) {
    json_array_remove(segs, json_array_size(segs) - 1);
    g_string_truncate(r->seg_text, seg_mark);
    g_string_truncate(r->pl_body, pl_mark);
    r->longest_ms = longest;
    r->duration_s = duration;
    r->seg_bytes -= bytes;
    unlink(dst); /* never listed; a leftover is replaced by the next attempt anyway */
    goto lost;
  }
  r->next_num++;
  r->lost = false;
  s->segments_written++;
  g_free(dst);
  return 0;
lost:
  /* This segment is missing from the recording: the next one is a discontinuity. */
  r->lost = true;
  json_object_set_new(r->meta, "error", error_json(msg));
  g_free(r->e->error);
  r->e->error = g_strdup(msg);
  give(err, msg);
  g_free(dst);
  return LC_EIO;
}

int
lc_recording_mark(lc_recording *r, int64_t wall_ms, const char *kind, json_t *data, char **err)
{
  json_t *marks = json_object_get(r->meta, "marks");
  if (!lc__record_valid_kind(kind) || wall_ms < 0 || wall_ms > LC_RECORD_MAX_TIME_MS ||
      (data && !lc__record_valid_mark_data(data))) {
    lc_error_set(err, "record", "mark: kind must match [a-z0-9_.-]{1,%d}, data be an object of at most %d bytes, "
                 "the time >= 0", LC_RECORD_MAX_KIND, LC_RECORD_MAX_MARK_BYTES);
    json_decref(data);
    return LC_EINVAL;
  }
  if (json_array_size(marks) >= LC_RECORD_MAX_MARKS) {
    lc_error_set(err, r->e->id, "%d marks, the most a recording keeps", LC_RECORD_MAX_MARKS);
    json_decref(data);
    return LC_ELIMIT;
  }
  json_t *mark = json_pack("{s:I, s:s, s:o}", "wall_ms", (json_int_t)wall_ms, "kind", kind, "data",
                           data ? data : json_null());
  size_t mark_at = r->mark_text->len;
  json_array_append_new(marks, mark);
  append_item(r->mark_text, mark);
  int rc = commit(r, false, false, err);
  if (rc != 0) {
    json_array_remove(marks, json_array_size(marks) - 1);
    g_string_truncate(r->mark_text, mark_at);
  }
  return rc;
}

int
lc_recording_finish(lc_recording *r, int64_t wall_ms)
{
  lc_record_store *s = r->store;
  rec_entry *e = r->e;
  char *msg = NULL;
  int rc = 0;
  e->live = NULL;
  if (json_array_size(json_object_get(r->meta, "segments")) == 0) {
    char *room_dir = g_build_filename(s->root, e->room, NULL);
    rc = lc__record_remove_dir(room_dir, e->id, &msg);
    if (rc != 0)
      note_error(s, e->room, msg); /* the next open removes it: its meta still says "recording" */
    else
      LC_INFO(e->room, NULL, "recording %s ended without a segment: removed", e->id);
    g_rmdir(room_dir); /* the room's only one: fails harmlessly otherwise */
    g_free(room_dir);
    entry_drop(s, e);
  } else {
    if (!r->stopped)
      json_object_set_new(r->meta, "state", json_string("complete"));
    int64_t ended = wall_ms >= 0 && wall_ms <= LC_RECORD_MAX_TIME_MS ? wall_ms : meta_last_end(r->meta);
    json_object_set_new(r->meta, "ended_ms", json_integer(ended));
    rc = commit(r, true, true, NULL);
    if (rc != 0)
      entry_sync_live(r); /* finished here; the next open finishes the files */
    LC_INFO(e->room, NULL, "recording %s %s: %u segments, %.1f s, %.1f MiB", e->id, e->state, e->segments,
            e->duration_s, (double)e->bytes / MIB);
  }
  g_free(msg);
  recording_free(r);
  return rc;
}

/* ---- the store's queries ---- */

static json_t *
entry_json(const rec_entry *e)
{
  return json_pack("{s:s, s:s, s:s, s:b, s:I, s:o, s:f, s:I, s:I, s:o}", "room", e->room, "id", e->id, "state",
                   e->state, "in_progress", e->live != NULL, "started_ms", (json_int_t)e->started_ms, "ended_ms",
                   e->ended_ms >= 0 ? json_integer(e->ended_ms) : json_null(), "duration_s", e->duration_s,
                   "segments", (json_int_t)e->segments, "bytes", (json_int_t)e->bytes, "error",
                   e->error ? error_json(e->error) : json_null());
}

/* The entries of room (NULL = all), newest first (a new array of borrowed pointers). */
static GPtrArray *
entries_of(lc_record_store *s, const char *room)
{
  GPtrArray *out = g_ptr_array_new();
  for (guint i = 0; i < s->entries->len; i++) {
    rec_entry *e = s->entries->pdata[i];
    if (!room || strcmp(e->room, room) == 0)
      g_ptr_array_add(out, e);
  }
  g_ptr_array_sort(out, entry_newer_first);
  return out;
}

json_t *
lc_record_store_list(lc_record_store *s, const char *room)
{
  json_t *out = json_array();
  if (room && !lc_record_valid_room(room))
    return out;
  GPtrArray *es = entries_of(s, room);
  for (guint i = 0; i < es->len; i++)
    json_array_append_new(out, entry_json(es->pdata[i]));
  g_ptr_array_free(es, TRUE);
  return out;
}

/* What get adds to a meta: in_progress, duration_s, bytes, each mark's media_s. */
static void
decorate(json_t *meta, const rec_entry *e)
{
  json_object_set_new(meta, "in_progress", json_boolean(e->live != NULL));
  json_object_set_new(meta, "duration_s", json_real(meta_duration(meta)));
  json_object_set_new(meta, "bytes", json_integer((json_int_t)e->bytes));
  lc__record_annotate_marks(meta);
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A finished recording's meta as get answers it, borrowed from the cache (valid until the next
 * call on the store): read and parsed only when meta.json changed since. NULL when unreadable. */
static json_t *
finished_meta(lc_record_store *s, rec_entry *e)
{
  char *dir = g_build_filename(s->root, e->room, e->id, NULL), *path = g_build_filename(dir, "meta.json", NULL);
  char *msg = NULL;
  json_t *meta = NULL;
  struct stat st;
  if (stat(path, &st) != 0) {
    LC_WARN(e->room, NULL, "recording %s: %s: %s", e->id, path, g_strerror(errno));
    goto done;
  }
  for (GList *l = s->cache.head; l; l = l->next) {
    cached_meta *c = l->data;
    if (c->e != e)
      continue;
    if (same_file(&c->st, &st)) {
      g_queue_unlink(&s->cache, l);
      g_queue_push_head_link(&s->cache, l);
      meta = c->meta;
      goto done;
    }
    g_queue_delete_link(&s->cache, l);
    cache_free(c);
    break;
  }
  if (read_meta(dir, e->room, e->id, &meta, &msg) != 0) {
    LC_WARN(e->room, NULL, "recording %s: %s", e->id, msg);
    goto done;
  }
  decorate(meta, e);
  cached_meta *c = g_new0(cached_meta, 1);
  c->e = e;
  c->meta = meta;
  c->st = st;
  g_queue_push_head(&s->cache, c);
  if (s->cache.length > META_CACHE)
    cache_free(g_queue_pop_tail(&s->cache));
done:
  g_free(msg);
  g_free(path);
  g_free(dir);
  return meta;
}

/* The recording get and summary answer for: room/id, or the room's newest finished one. */
static rec_entry *
pick_entry(lc_record_store *s, const char *room, const char *id)
{
  if (!lc_record_valid_room(room) || (id && !lc_record_valid_id(id)) || !s->root)
    return NULL;
  if (id)
    return entry_find(s, room, id);
  rec_entry *e = NULL;
  GPtrArray *es = entries_of(s, room);
  for (guint i = 0; i < es->len && !e; i++)
    if (!((rec_entry *)es->pdata[i])->live)
      e = es->pdata[i];
  g_ptr_array_free(es, TRUE);
  return e;
}

json_t *
lc_record_store_get(lc_record_store *s, const char *room, const char *id)
{
  rec_entry *e = pick_entry(s, room, id);
  if (!e)
    return NULL;
  if (!e->live) {
    json_t *meta = finished_meta(s, e);
    return meta ? json_deep_copy(meta) : NULL;
  }
  json_t *meta = json_deep_copy(e->live->meta);
  decorate(meta, e);
  return meta;
}

json_t *
lc_record_store_summary(lc_record_store *s, const char *room, const char *id)
{
  rec_entry *e = pick_entry(s, room, id);
  if (!e)
    return NULL;
  json_t *marks = NULL;
  if (e->live) {
    /* Annotated on a copy of the marks beside the live segments (borrowed). */
    json_t *tmp = json_pack("{s:O, s:o}", "segments", json_object_get(e->live->meta, "segments"), "marks",
                            json_deep_copy(json_object_get(e->live->meta, "marks")));
    lc__record_annotate_marks(tmp);
    marks = json_incref(json_object_get(tmp, "marks"));
    json_decref(tmp);
  } else {
    json_t *meta = finished_meta(s, e);
    if (!meta)
      return NULL;
    marks = json_deep_copy(json_object_get(meta, "marks"));
  }
  json_t *o = entry_json(e);
  json_object_set_new(o, "marks", marks);
  return o;
}

/* Deletes a finished recording's directory and forgets it. */
static int
delete_entry(lc_record_store *s, rec_entry *e, char **err)
{
  char *room_dir = g_build_filename(s->root, e->room, NULL), *msg = NULL;
  int rc = lc__record_remove_dir(room_dir, e->id, &msg);
  if (rc != 0) {
    note_error(s, e->room, msg);
    give(err, msg);
  } else {
    g_rmdir(room_dir); /* the room's last recording: fails harmlessly otherwise */
    entry_drop(s, e);
  }
  g_free(room_dir);
  return rc;
}

int
lc_record_store_delete(lc_record_store *s, const char *room, const char *id, char **err)
{
  if (!lc_record_valid_room(room) || !lc_record_valid_id(id)) {
    lc_error_set(err, "record", "room and recording ids must match [A-Za-z0-9_-]");
    return LC_EINVAL;
  }
  rec_entry *e = s->root ? entry_find(s, room, id) : NULL;
  if (!e) {
    lc_error_set(err, "record", "no recording %s/%s", room, id);
    return LC_ENOENT;
  }
  if (e->live) {
    lc_error_set(err, "record", "recording %s/%s is in progress", room, id);
    return LC_EBUSY;
  }
  int rc = delete_entry(s, e, err);
  if (rc == 0)
    LC_INFO(room, NULL, "recording %s deleted", id);
  return rc;
}

int
lc_record_store_sweep(lc_record_store *s, int retention_days, int64_t now_ms)
{
  if (retention_days <= 0 || !s->root)
    return 0;
  int64_t keep_ms = (int64_t)retention_days * 86400 * 1000;
  int n = 0;
  for (guint i = s->entries->len; i-- > 0;) {
    rec_entry *e = s->entries->pdata[i];
    if (e->live)
      continue;
    char *dir = g_build_filename(s->root, e->room, e->id, NULL), *path = g_build_filename(dir, "meta.json", NULL);
    struct stat st;
    bool found = stat(path, &st) == 0, gone = !found && errno == ENOENT && !is_dir(dir);
    bool old = found && now_ms - ((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000) > keep_ms;
    g_free(path);
    g_free(dir);
    if (gone) { /* removed by hand: forget it */
      LC_INFO(e->room, NULL, "recording %s is gone from disk", e->id);
      entry_drop(s, e);
      continue;
    }
    if (!old)
      continue;
    char *room = g_strdup(e->room), *id = g_strdup(e->id);
    if (delete_entry(s, e, NULL) == 0) {
      LC_INFO(room, NULL, "recording %s deleted: older than %d days", id, retention_days);
      n++;
    }
    g_free(room);
    g_free(id);
  }
  return n;
}

void
lc_record_store_stats(lc_record_store *s, lc_record_stats *out)
{
  memset(out, 0, sizeof *out);
  out->bytes = s->bytes;
  out->recordings = s->entries->len;
  for (guint i = 0; i < s->entries->len; i++)
    if (((rec_entry *)s->entries->pdata[i])->live)
      out->in_progress++;
  out->segments_written = s->segments_written;
  out->write_errors = s->write_errors;
  out->last_error = s->last_error;
}

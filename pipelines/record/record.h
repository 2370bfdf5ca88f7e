/* Recordings: every publish session of a room kept on disk as an HLS playlist of the top rung's
 * MPEG-TS segments, playable while it grows (EVENT) and afterwards (VOD). No GStreamer: the
 * ladder's HLS writer reports each finished segment and this module keeps it.
 *
 * Layout: <root>/<room>/<id>/ with id = the start time in UTC, "YYYYMMDDTHHMMSSZ" ("-2", "-3", ...
 * when that directory exists). Inside: the segments 00000.ts, 00001.ts, ..., index.m3u8 and
 * meta.json (the recording's truth: state, segments, marks; see lc_record_meta_parse).
 * A segment is hard-linked from the live HLS directory (copied when the link fails: another file
 * system, or not allowed), so the live window's deletions never touch a recording and keeping a
 * segment costs no I/O.
 *
 * Durability: a segment's file is fsynced, then index.m3u8 and meta.json are rewritten atomically
 * (tmp file, fsync, rename, fsync of the directory). meta.json lists a segment only once its file
 * is complete and durable, so a crash or power loss leaves at worst an unlisted file. At open, a
 * recording whose meta.json still says "recording" (the daemon died) is finished with what it
 * lists; unlisted segment files and tmp files are deleted. A directory without a readable, valid
 * meta.json is left alone (logged once, at open). Deletion renames the directory to
 * ".deleting-<id>" before emptying it, so a crash never leaves half a recording; open finishes it.
 *
 * Threads: every function runs on the main thread (no locks inside); the store does its file
 * I/O there (measured: docs/design.md "Recordings"). lc_record_meta_parse, lc_record_media_time
 * and the lc_record_valid_* checks are pure (any thread).
 *
 * Errors: 0 or a negative LC_E* (base/errors.h) with an allocated message (transfer full, g_free)
 * in *err naming what failed (the path and strerror for file errors); err may be NULL. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define LC_RECORD_MAX_ROOM 64          /* room ids: [A-Za-z0-9_-]{1,64} */
#define LC_RECORD_MAX_ID 40            /* recording ids: [A-Za-z0-9_-]{1,40} */
#define LC_RECORD_MAX_SEGMENTS 50000   /* ~28 h of 2 s segments; then the recording stops */
#define LC_RECORD_MAX_MARKS 10000
#define LC_RECORD_MAX_MARK_BYTES 4096  /* a mark's data as compact JSON */
#define LC_RECORD_MAX_KIND 32          /* mark kinds: [a-z0-9_.-]{1,32} */
#define LC_RECORD_MAX_SEGMENT_S 3600.0 /* longest segment accepted */
#define LC_RECORD_MAX_META_BYTES (16u << 20)
#define LC_RECORD_MAX_TIME_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

typedef struct {
  const char *root;   /* copied */
  uint64_t max_bytes; /* disk cap over every recording under root; 0 = no cap */
} lc_record_config;

typedef struct lc_record_store lc_record_store; /* every recording under root */
typedef struct lc_recording lc_recording;       /* one in progress; owned by its store */

typedef struct {
  uint64_t bytes;            /* every recording's files (segments, index.m3u8, meta.json) */
  unsigned recordings;       /* on disk, those in progress included */
  unsigned in_progress;      /* started and not finished (a stopped one included) */
  uint64_t segments_written; /* since open */
  uint64_t write_errors;     /* since open (an unusable root at open counts one) */
  const char *last_error;    /* borrowed, valid until the next call on the store; NULL if none */
} lc_record_stats;

/* Opens the store at cfg->root (created with its parents if missing). Never fails: an unusable
 * root is logged, counted and kept in last_error, and every lc_record_start reports it again.
 * Scans the root: recovers recordings the daemon left "recording" (see above), finishes
 * interrupted deletions, sums the disk use. */
lc_record_store *lc_record_store_open(const lc_record_config *cfg);
/* Finishes every recording still in progress (VOD, ended at its last segment's end) and frees
 * the store. NULL is a no-op. */
void lc_record_store_free(lc_record_store *s);

/* Starts a recording of room at wall_ms (ms since the epoch, UTC): creates its directory,
 * an empty EVENT index.m3u8 and meta.json. Returns it (owned by the store, valid until
 * lc_recording_finish or lc_record_store_free) or NULL with *err: an invalid room id, a room
 * already recording (finish that one first), an unusable root or any file error. */
lc_recording *lc_record_start(lc_record_store *s, const char *room, int64_t wall_ms, char **err);

/* Keeps a finished segment (src_path is not modified: hard-linked, or copied when link() fails
 * with EXDEV/EPERM/EMLINK/ENOTSUP) as the next NNNNN.ts, then rewrites index.m3u8 and meta.json.
 * duration_s: [0.001, LC_RECORD_MAX_SEGMENT_S], kept to the ms as the playlist prints it;
 * wall_start_ms: the wall time of its first frame;
 * discontinuity: the segment does not continue the previous one (publisher reconnected). Set
 * on the next listed segment anyway after a segment was lost to a write error.
 * Returns 0 once the segment is durable and listed, or:
 *   LC_EINVAL  bad arguments;
 *   LC_ESTATE  the recording is stopped (its reason in *err);
 *   LC_ENOSPC  the store's cap would be exceeded ("record.max_disk_mb reached: N MiB used"): the
 *              recording stops (state "stopped", reason kept, VOD playlist of what it has);
 *   LC_ELIMIT  LC_RECORD_MAX_SEGMENTS reached: the recording stops likewise;
 *   LC_EIO     a file error (src missing, EACCES, ENOSPC, EIO...): nothing of this segment is
 *              listed or left behind, counted in the stats; the recording goes on. */
int lc_recording_add_segment(lc_recording *r, const char *src_path, double duration_s, int64_t wall_start_ms,
                             bool discontinuity, char **err);

/* Appends a timestamped mark (e.g. kind "pin", data {"product_id":..., "title":...}) to
 * meta.json "marks" (kept in call order) and rewrites meta.json. data: a JSON object or NULL,
 * stolen on success and on failure. 0 once durable; LC_EINVAL (kind not [a-z0-9_.-]{1,32}, data
 * not an object or over LC_RECORD_MAX_MARK_BYTES, wall_ms < 0), LC_ELIMIT (LC_RECORD_MAX_MARKS),
 * LC_EIO (not written: the mark is dropped). Allowed while stopped. */
int lc_recording_mark(lc_recording *r, int64_t wall_ms, const char *kind, json_t *data, char **err);

/* Ends the recording at wall_ms: VOD playlist (#EXT-X-PLAYLIST-TYPE:VOD, #EXT-X-ENDLIST), state
 * "complete" (a stopped one stays "stopped"), ended_ms. A recording without any segment is
 * removed entirely. r is freed in every case. 0, or LC_EIO when the final files could not be
 * written (logged and counted; the next open finishes it from its meta.json). */
int lc_recording_finish(lc_recording *r, int64_t wall_ms);

/* The recording's id ("20240501T180000Z") and room; borrowed, valid as long as r. */
const char *lc_recording_id(const lc_recording *r);
const char *lc_recording_room(const lc_recording *r);

/* The recordings of room (NULL = every room), newest first (started_ms, then id), as a new
 * array (transfer full) of {room, id, state ("recording" | "stopped" | "complete"), in_progress,
 * started_ms, ended_ms (null while in progress), duration_s, segments, bytes, error (null or the
 * reason it stopped / its last write error)}. An invalid room gives an empty array. */
json_t *lc_record_store_list(lc_record_store *s, const char *room);

/* The full meta of one recording (transfer full), or NULL (no such recording, invalid names,
 * meta.json unreadable: logged). id NULL = the room's newest finished one. The object is
 * meta.json's {version, room, id, state, started_ms, ended_ms, error, segments [{uri, duration,
 * wall_ms, discontinuity, bytes}], marks [{wall_ms, kind, data}]} plus "in_progress",
 * "duration_s", "bytes", and on every mark "media_s" (lc_record_media_time of its wall_ms).
 * A finished one is read from disk once and then answered from a small cache (LRU of 4) while
 * its meta.json is unchanged. */
json_t *lc_record_store_get(lc_record_store *s, const char *room, const char *id);

/* What a replay page needs, without the segments (transfer full, or NULL like get): the
 * recording's list entry plus "marks" [{wall_ms, kind, data, media_s}]. Cheap: the summary is in
 * memory, the marks of a finished recording come from get's cache (a copy of a 4 h recording's
 * whole meta costs ~2-15 ms of main-thread time, its marks microseconds). */
json_t *lc_record_store_summary(lc_record_store *s, const char *room, const char *id);

/* Deletes a finished recording's directory. 0; LC_EINVAL (invalid names), LC_ENOENT,
 * LC_EBUSY (in progress: finish it first), LC_EIO. */
int lc_record_store_delete(lc_record_store *s, const char *room, const char *id, char **err);

/* Deletes every finished recording whose meta.json was last modified more than retention_days
 * before now_ms (never one in progress); logs each. Returns how many were deleted (0 when
 * retention_days <= 0). */
int lc_record_store_sweep(lc_record_store *s, int retention_days, int64_t now_ms);

/* The store's counters and disk use. */
void lc_record_store_stats(lc_record_store *s, lc_record_stats *out);

/* ---- pure (any thread) ---------------------------------------------------------------------- */

/* Validates a meta.json (buf need not be NUL-terminated): an object with exactly the keys
 * version (1), room, id (valid ids), state, started_ms, ended_ms (null or an integer),
 * error (null or a string <= 1024 bytes), segments (<= LC_RECORD_MAX_SEGMENTS of {uri "NNNNN.ts"
 * strictly increasing, duration [0.001, LC_RECORD_MAX_SEGMENT_S], wall_ms, discontinuity, bytes}),
 * marks (<= LC_RECORD_MAX_MARKS of {wall_ms, kind, data (object or null)}); times are
 * 0..LC_RECORD_MAX_TIME_MS. 0 with *out (transfer full: a new object, the keys in this order);
 * LC_EINVAL, LC_ETOOBIG (over LC_RECORD_MAX_META_BYTES) or LC_EVERSION (a newer version) with
 * *err naming the field. */
int lc_record_meta_parse(const char *buf, size_t len, json_t **out, char **err);

/* The media time (seconds from the recording's start, as a player's currentTime) of a wall
 * instant, from a meta's "segments": inside a segment, its start plus the offset; in a gap
 * (publisher reconnecting), the next segment's start; before the first, 0; after the last
 * segment's end, that segment's start. 0 without segments. */
double lc_record_media_time(const json_t *meta, int64_t wall_ms);

/* True for a valid room id ([A-Za-z0-9_-]{1,64}) / recording id ([A-Za-z0-9_-]{1,40}). */
bool lc_record_valid_room(const char *room);
bool lc_record_valid_id(const char *id);

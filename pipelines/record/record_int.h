/* Shared inside pipelines/record (and its unit test): the playlist writer and the file helpers.
 * Main thread, like the store, except lc__record_playlist (pure). */
#pragma once
#include "record/record.h"

#include <glib.h>
#include <stddef.h>

/* Segment file names: "%05u.ts". */
#define LC__RECORD_SEG_FMT "%05u.ts"

/* index.m3u8 for a meta's segments (transfer full, g_free): EVENT while live, VOD + ENDLIST
 * when vod. TARGETDURATION = the longest EXTINF (3 decimals) rounded up (2 without segments);
 * #EXT-X-DISCONTINUITY before a flagged segment (never the first); #EXT-X-PROGRAM-DATE-TIME on
 * the first segment and on every discontinuity, so a player can show the wall time. */
char *lc__record_playlist(const json_t *meta, bool vod);
/* Its pieces, for a recording that appends one segment at a time (the same text by
 * construction): the header (longest_ms: the longest segment as printed; any: there is one),
 * one segment's lines, the VOD end. */
void lc__record_playlist_head(GString *out, int64_t longest_ms, bool any, bool vod);
void lc__record_playlist_entry(GString *out, const json_t *seg, bool first);
#define LC__RECORD_ENDLIST "#EXT-X-ENDLIST\n"
/* A segment's duration in ms as the playlist prints it ("%.3f" of the seconds). */
int64_t lc__record_duration_ms(double seconds);

/* Sets "media_s" (lc_record_media_time of its wall_ms) on every mark of meta: one pass over the
 * segments for all the marks. */
void lc__record_annotate_marks(json_t *meta);

/* Puts src at dst (which must not be listed anywhere: a leftover there is replaced) and makes it
 * durable (fsync of the file). Hard link first when allow_link, a copy when link() fails with
 * EXDEV, EPERM, EMLINK or ENOTSUP; src must be a regular file (a symlink is refused). *bytes =
 * dst's size. 0 or LC_EIO with *err (the path and strerror); dst is never left behind on error. */
int lc__record_place_segment(const char *src, const char *dst, bool allow_link, uint64_t *bytes, char **err);

/* Replaces the n files dir/names[i] with datas[i] atomically: every "name.tmp" is written and
 * fsynced first, then each is renamed over its file in order, then dir is fsynced. On error
 * (LC_EIO, *err with path and strerror) the tmp files are removed; a file renamed before the
 * error stays replaced. */
int lc__record_write_files(const char *dir, unsigned n, const char *const *names, const char *const *datas,
                           const size_t *lens, char **err);

/* fsync of a directory (a new, renamed or removed entry in it becomes durable). */
int lc__record_fsync_dir(const char *dir, char **err);

/* Removes the recording directory parent/id: renames it to parent/.deleting-<id> (atomic: a
 * crash never leaves half a recording), then removes the files this module writes there
 * (NNNNN.ts, index.m3u8, meta.json, *.tmp) and the directory. 0 once renamed (or when parent/id
 * does not exist): what cannot be emptied (foreign files, an error) is logged and left for
 * lc__record_remove_trash at the next open. LC_EIO with *err when it cannot be renamed. */
int lc__record_remove_dir(const char *parent, const char *id, char **err);

/* Finishes a removal that a crash interrupted: parent/name is a ".deleting-<id>" directory. */
int lc__record_remove_trash(const char *parent, const char *name, char **err);

/* A mark's kind: [a-z0-9_.-]{1,LC_RECORD_MAX_KIND}. */
bool lc__record_valid_kind(const char *kind);
/* A mark's data: null or an object of at most LC_RECORD_MAX_MARK_BYTES as compact JSON. */
bool lc__record_valid_mark_data(const json_t *data);

/* True for "NNNNN.ts" (5 digits); *num = its number. */
bool lc__record_segment_name(const char *name, unsigned *num);

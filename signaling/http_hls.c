/* GET /hls/<rest>: the HLS root (opts.hls_root), written by the transcode ladder, served to
 * players and CDNs: <root>/<room>/master.m3u8, <root>/<room>/<rung>/index.m3u8 and its
 * segments. GET /rec/<rest>: the recordings (opts.record_root, pipelines/record) by the same
 * rules: <root>/<room>/<id>/index.m3u8 and its segments. The writer replaces files by rename, so an open descriptor always reads one whole
 * version. Only the media types below are served, whatever else lies in the folder (temporary
 * files, notes): the path rules and the symlink check are the web root's (lc__static_open).
 * Main thread. */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "base/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Playlists change with every segment: caches revalidate them each time. Segments (media
 * names carry their start time and sequence number, and are never reused) never change.
 * .mp4 is an init segment or a whole recording whose name may be written again (a stream
 * restarted with another encoder setup), so it is revalidated too. */
static const char cache_live[] = "no-cache";
static const char cache_forever[] = "public, max-age=31536000, immutable";

typedef struct {
  const char *ext;
  const char *cache;
} hls_type;

static const hls_type hls_types[] = {
    {".m3u8", cache_live},    {".ts", cache_forever},  {".m4s", cache_forever},
    {".mp4", cache_live},     {".aac", cache_forever}, {".vtt", cache_forever},
};

/* The media type of a request path (len bytes), or NULL when it is not one of ours. */
static const hls_type *
hls_type_of(const char *path, size_t len)
{
  size_t dot = len;
  for (size_t i = len; i > 0 && path[i - 1] != '/'; i--)
    if (path[i - 1] == '.') {
      dot = i - 1;
      break;
    }
  if (dot == len)
    return NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(hls_types); i++) {
    size_t el = strlen(hls_types[i].ext);
    if (len - dot == el && g_ascii_strncasecmp(path + dot, hls_types[i].ext, el) == 0)
      return &hls_types[i];
  }
  return NULL;
}

static void
not_found(lc__http_response *res, const char *message)
{
  lc__http_error(res, 404, "not_found", message);
  /* a segment or playlist missing now may exist in a second: no negative caching */
  lc__http_header(res, "Cache-Control", "no-cache");
}

/* One media folder: root_opt (the option, "" = off), root_real (its realpath at start or NULL),
 * prefix = the route without its last '/' (the rest keeps it). */
typedef struct {
  const char *root_opt, *root_real, *prefix, *off_message;
  lc_metric *requests, *bytes;
} media_folder;

static void
serve_media(const media_folder *f, const lc__http_request *req, lc__http_response *res)
{
  const char *root = f->root_real;
  char *late_root = NULL;
  int fd = -1;
  gint64 size = 0;
  const char *mime = NULL;
  if (f->requests)
    lc_metric_add(f->requests, 1);
  if (!f->root_opt || !*f->root_opt) {
    not_found(res, f->off_message);
    return;
  }
  if (!root) /* missing at start: its writer creates it with the first live room */
    root = late_root = realpath(f->root_opt, NULL);
  const char *rest = req->path + strlen(f->prefix);
  size_t rest_len = req->path_len - strlen(f->prefix);
  const hls_type *type = hls_type_of(rest, rest_len);
  if (!type || !root) {
    not_found(res, "no such file");
    goto done;
  }
  if (lc__static_open(root, rest, rest_len, &fd, &size, &mime) != 0) {
    not_found(res, "no such file");
    goto done;
  }
  /* A symlink inside the root must not turn a .ts request into another kind of file: the
   * resolved name's type (mime) must be the requested one. */
  if (strcmp(mime, lc__static_mime(type->ext)) != 0) {
    close(fd);
    not_found(res, "no such file");
    goto done;
  }
  lc__static_respond(req, 200, fd, size, mime, res);
  if (res->status == 200 || res->status == 206) {
    lc__http_header(res, "Cache-Control", type->cache);
    res->bytes_counter = f->bytes;
  } else {
    lc__http_header(res, "Cache-Control", "no-cache");
  }

done:
  free(late_root);
}

void
lc__http_hls(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  media_folder f = {env->opts.hls_root, env->hls_root_real, "/hls", "HLS is not enabled", env->m_hls_requests,
                    env->m_hls_bytes};
  serve_media(&f, req, res);
}

void
lc__http_rec(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  media_folder f = {env->opts.record_root, env->record_root_real, "/rec", "recording is not enabled",
                    env->m_rec_requests, env->m_rec_bytes};
  serve_media(&f, req, res);
}

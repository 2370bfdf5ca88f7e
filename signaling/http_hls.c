/* GET /hls/<rest>: the HLS root (opts.hls_root), written by the transcode ladder, served to
 * players and CDNs: <root>/<room>/master.m3u8, <root>/<room>/<rung>/index.m3u8 and its
 * segments. The writer replaces files by rename, so an open descriptor always reads one whole
 * version. Only the media types below are served, whatever else lies in the folder (temporary
 * files, notes): the path rules and the symlink check are the web root's (lc__static_open).
 * Main thread. */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "base/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prefix[] = "/hls"; /* the route is "/hls/": the rest keeps its '/' */

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

void
lc__http_hls(const lc__http_env *env, const lc__http_request *req, lc__http_response *res)
{
  const char *root = env->hls_root_real;
  char *late_root = NULL;
  int fd = -1;
  gint64 size = 0;
  const char *mime = NULL;
  if (env->m_hls_requests)
    lc_metric_add(env->m_hls_requests, 1);
  if (!env->opts.hls_root || !*env->opts.hls_root) {
    not_found(res, "HLS is not enabled");
    return;
  }
  if (!root) /* missing at start: the ladder creates it with the first live room */
    root = late_root = realpath(env->opts.hls_root, NULL);
  const char *rest = req->path + strlen(prefix);
  size_t rest_len = req->path_len - strlen(prefix);
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
    res->bytes_counter = env->m_hls_bytes;
  } else {
    lc__http_header(res, "Cache-Control", "no-cache");
  }

done:
  free(late_root);
}

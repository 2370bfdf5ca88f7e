/* Files under a root (the web root, the HLS root): maps a request path to a file without ever
 * leaving the root, and answers it whole or as one byte range. */
#define LC_LOG_DOMAIN "http"
#include "signaling/http_internal.h"
#include "base/errors.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
  const char *ext;
  const char *mime;
} mime_table[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".wasm", "application/wasm"},
    /* HLS (http_hls.c serves only these under /hls/) */
    {".m3u8", "application/vnd.apple.mpegurl"},
    {".ts", "video/mp2t"},
    {".m4s", "video/iso.segment"},
    {".mp4", "video/mp4"},
    {".aac", "audio/aac"},
    {".vtt", "text/vtt"},
};

const char *
lc__static_mime(const char *name)
{
  const char *dot = strrchr(name, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < G_N_ELEMENTS(mime_table); i++)
      if (g_ascii_strcasecmp(dot, mime_table[i].ext) == 0)
        return mime_table[i].mime;
  return "application/octet-stream";
}

int
lc__static_check_path(const char *path, size_t len)
{
  if (len == 0 || path[0] != '/')
    return LC_EINVAL;
  if (memchr(path, '\0', len) || memchr(path, '\\', len))
    return LC_EINVAL;
  size_t i = 1;
  while (i < len) {
    size_t j = i;
    while (j < len && path[j] != '/')
      j++;
    size_t seg = j - i;
    if (seg == 0 && j < len)
      return LC_EINVAL; /* "//" */
    if ((seg == 1 && path[i] == '.') || (seg == 2 && path[i] == '.' && path[i + 1] == '.'))
      return LC_EINVAL;
    if (seg > 0 && path[i] == '.')
      return LC_ENOENT; /* .git, .env, ... are never served */
    i = j + 1;
  }
  return 0;
}

int
lc__static_open(const char *root, const char *path, size_t path_len, int *fd_out, gint64 *size,
                const char **mime)
{
  char *joined = NULL, *real = NULL;
  int fd = -1;
  int err = lc__static_check_path(path, path_len);
  if (err)
    goto fail;
  err = LC_ENOENT;
  if (!root)
    goto fail;
  bool dir_request = path[path_len - 1] == '/';
  joined = g_strconcat(root, path, dir_request ? "index.html" : "", NULL);
  real = realpath(joined, NULL);
  if (!real)
    goto fail;
  /* The resolved file must stay below the (already resolved) root. */
  size_t rlen = strlen(root);
  if (strncmp(real, root, rlen) != 0 || real[rlen] != '/')
    goto fail;
  fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    goto fail;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    goto fail; /* directories are never listed */
  *fd_out = fd;
  *size = (gint64)st.st_size;
  *mime = lc__static_mime(real);
  free(real);
  g_free(joined);
  return 0;

fail:
  if (fd >= 0)
    close(fd);
  free(real);
  g_free(joined);
  return err;
}

void
lc__static_respond(const lc__http_request *req, int status, int fd, gint64 size, const char *mime,
                   lc__http_response *res)
{
  res->status = status;
  res->content_type = mime;
  res->has_fd = true;
  res->fd = fd;
  res->file_size = size;
  lc__http_header(res, "Accept-Ranges", "bytes");
  /* Ranges are defined for GET only (RFC 9110 14.2): HEAD gets the whole file's headers. */
  if (status != 200 || req->head || req->if_range || !req->range)
    return;
  gint64 first = 0, last = 0;
  char value[64];
  switch (lc__http_range_parse(req->range, strlen(req->range), size, &first, &last)) {
  case LC__HTTP_RANGE_NONE:
    return;
  case LC__HTTP_RANGE_UNSATISFIABLE:
    close(fd);
    res->has_fd = false;
    res->fd = -1;
    res->file_size = 0;
    lc__http_error(res, 416, "range_not_satisfiable", "the range starts past the end of the file");
    g_snprintf(value, sizeof value, "bytes */%" G_GINT64_FORMAT, size);
    lc__http_header(res, "Content-Range", value);
    return;
  case LC__HTTP_RANGE_OK:
    /* a fresh descriptor of a regular file: the sender reads on from here */
    if (lseek(fd, (off_t)first, SEEK_SET) != (off_t)first) {
      LC_WARN(NULL, NULL, "cannot seek to byte %" G_GINT64_FORMAT ": %s (sending the whole file)", first,
              g_strerror(errno));
      (void)lseek(fd, 0, SEEK_SET);
      return;
    }
    res->status = 206;
    res->file_size = last - first + 1;
    g_snprintf(value, sizeof value, "bytes %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, first,
               last, size);
    lc__http_header(res, "Content-Range", value);
    return;
  }
}

/* File helpers of the recordings store (record_int.h): a segment linked or copied and made
 * durable, files replaced atomically, a recording directory removed. Main thread. */
#define LC_LOG_DOMAIN "record"
#include "base/errors.h"
#include "base/log.h"
#include "record/record_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRASH_PREFIX ".deleting-"
#define COPY_CHUNK (256 * 1024)

static int
io_error(char **err, const char *path, const char *what, int e)
{
  lc_error_set(err, path, "%s: %s", what, g_strerror(e));
  return LC_EIO;
}

static bool
write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = EIO;
      return false;
    }
    p += w;
    len -= (size_t)w;
  }
  return true;
}

/* fsync of a file by path (a hard link's data was written by someone else, unsynced). */
static int
sync_file(const char *path, uint64_t *bytes, char **err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_error(err, path, "cannot open", errno);
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0)
    rc = io_error(err, path, "cannot stat", errno);
  else if (fsync(fd) != 0)
    rc = io_error(err, path, "cannot fsync", errno);
  close(fd);
  if (rc == 0)
    *bytes = (uint64_t)st.st_size;
  return rc;
}

/* A copy of src at dst (created here, exclusive), fsynced; dst is removed on any error. */
static int
copy_file(const char *src, const char *dst, uint64_t *bytes, char **err)
{
  int in = -1, out = -1, rc = 0;
  bool created = false;
  char *buf = NULL;
  uint64_t total = 0;
  struct stat st;
  in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) {
    rc = io_error(err, src, "cannot open", errno);
    goto fail;
  }
  if (fstat(in, &st) != 0) {
    rc = io_error(err, src, "cannot stat", errno);
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    lc_error_set(err, src, "the segment is not a regular file");
    rc = LC_EIO;
    goto fail;
  }
  out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    rc = io_error(err, dst, "cannot create", errno);
    goto fail;
  }
  created = true;
  buf = g_malloc(COPY_CHUNK);
  for (;;) {
    ssize_t r = read(in, buf, COPY_CHUNK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = io_error(err, src, "cannot read", errno);
      goto fail;
    }
    if (r == 0)
      break;
    if (!write_all(out, buf, (size_t)r)) {
      rc = io_error(err, dst, "cannot write", errno);
      goto fail;
    }
    total += (uint64_t)r;
  }
  if (fsync(out) != 0) {
    rc = io_error(err, dst, "cannot fsync", errno);
    goto fail;
  }
  int fd = out;
  out = -1;
  if (close(fd) != 0) {
    rc = io_error(err, dst, "cannot close", errno);
    goto fail;
  }
  close(in);
  g_free(buf);
  *bytes = total;
  return 0;
fail:
  if (out >= 0)
    close(out);
  if (created)
    unlink(dst);
  if (in >= 0)
    close(in);
  g_free(buf);
  return rc;
}

int
lc__record_place_segment(const char *src, const char *dst, bool allow_link, uint64_t *bytes, char **err)
{
  struct stat st;
  if (lstat(src, &st) != 0)
    return io_error(err, src, "cannot stat the segment", errno);
  if (!S_ISREG(st.st_mode)) {
    lc_error_set(err, src, "the segment is not a regular file");
    return LC_EIO;
  }
  /* A file at dst was never listed (a failed earlier attempt): replace it. */
  if (unlink(dst) != 0 && errno != ENOENT)
    return io_error(err, dst, "cannot remove a stale file", errno);
  if (allow_link) {
    if (link(src, dst) == 0) {
      int rc = sync_file(dst, bytes, err);
      if (rc != 0)
        unlink(dst);
      return rc;
    }
    int e = errno;
    if (e != EXDEV && e != EPERM && e != EMLINK && e != ENOTSUP && e != EOPNOTSUPP) {
      lc_error_set(err, dst, "cannot link %s here: %s", src, g_strerror(e));
      return LC_EIO;
    }
    LC_DEBUG(NULL, NULL, "link %s -> %s: %s; copying", src, dst, g_strerror(e));
  }
  return copy_file(src, dst, bytes, err);
}

int
lc__record_fsync_dir(const char *dir, char **err)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_error(err, dir, "cannot open the directory", errno);
  int rc = fsync(fd) == 0 ? 0 : io_error(err, dir, "cannot fsync the directory", errno);
  close(fd);
  return rc;
}

/* dir/name.tmp with data, fsynced. */
static int
write_tmp(const char *tmp, const char *data, size_t len, char **err)
{
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error(err, tmp, "cannot create", errno);
  int rc = 0;
  if (!write_all(fd, data, len))
    rc = io_error(err, tmp, "cannot write", errno);
  else if (fsync(fd) != 0)
    rc = io_error(err, tmp, "cannot fsync", errno);
  if (close(fd) != 0 && rc == 0)
    rc = io_error(err, tmp, "cannot close", errno);
  return rc;
}

int
lc__record_write_files(const char *dir, unsigned n, const char *const *names, const char *const *datas,
                       const size_t *lens, char **err)
{
  char *tmp[4] = {0}, *dst[4] = {0};
  unsigned written = 0, renamed = 0;
  int rc = 0;
  g_assert(n <= 4);
  for (unsigned i = 0; i < n; i++) {
    dst[i] = g_build_filename(dir, names[i], NULL);
    tmp[i] = g_strconcat(dst[i], ".tmp", NULL);
  }
  for (; written < n && rc == 0; written++)
    rc = write_tmp(tmp[written], datas[written], lens[written], err);
  for (; renamed < n && rc == 0; renamed++)
    if (rename(tmp[renamed], dst[renamed]) != 0)
      rc = io_error(err, dst[renamed], "cannot rename the new version over it", errno);
  if (rc == 0)
    rc = lc__record_fsync_dir(dir, err);
  else
    for (unsigned i = renamed; i < n; i++)
      unlink(tmp[i]); /* the one that failed too, if it was created */
  for (unsigned i = 0; i < n; i++) {
    g_free(tmp[i]);
    g_free(dst[i]);
  }
  return rc;
}

/* Files of ours inside a recording directory. */
static bool
ours(const char *name)
{
  return lc__record_segment_name(name, NULL) || strcmp(name, "index.m3u8") == 0 || strcmp(name, "meta.json") == 0 ||
         g_str_has_suffix(name, ".tmp");
}

/* Removes our files in dir, then dir. */
static int
empty_and_remove(const char *dir, char **err)
{
  DIR *d = opendir(dir);
  if (!d)
    return io_error(err, dir, "cannot open the directory", errno);
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!ours(de->d_name))
      continue;
    char *p = g_build_filename(dir, de->d_name, NULL);
    if (unlink(p) != 0 && errno != ENOENT && rc == 0)
      rc = io_error(err, p, "cannot remove", errno);
    g_free(p);
  }
  closedir(d);
  if (rc == 0 && rmdir(dir) != 0)
    rc = io_error(err, dir, errno == ENOTEMPTY || errno == EEXIST ? "holds files that are not a recording's"
                                                                  : "cannot remove the directory",
                  errno);
  return rc;
}

int
lc__record_remove_trash(const char *parent, const char *name, char **err)
{
  char *dir = g_build_filename(parent, name, NULL);
  int rc = empty_and_remove(dir, err);
  if (rc == 0)
    rc = lc__record_fsync_dir(parent, err);
  g_free(dir);
  return rc;
}

int
lc__record_remove_dir(const char *parent, const char *id, char **err)
{
  char *name = g_strconcat(TRASH_PREFIX, id, NULL);
  char *from = g_build_filename(parent, id, NULL);
  char *to = g_build_filename(parent, name, NULL);
  int rc = 0;
  struct stat st;
  char *msg = NULL;
  /* A trash directory of the same id left by an earlier failure: finish that one first. */
  if (lstat(to, &st) == 0)
    rc = lc__record_remove_trash(parent, name, err);
  if (rc == 0 && rename(from, to) != 0 && errno != ENOENT) /* ENOENT: gone already */
    rc = io_error(err, from, "cannot rename for deletion", errno);
  /* Renamed: the recording is gone. What cannot be emptied now is retried at the next open. */
  if (rc == 0 && lstat(to, &st) == 0 && lc__record_remove_trash(parent, name, &msg) != 0)
    LC_WARN(NULL, NULL, "%s (left for the next start)", msg);
  g_free(msg);
  g_free(name);
  g_free(from);
  g_free(to);
  return rc;
}

#include "base/errors.h"

#include <glib.h>
#include <stdarg.h>

static const struct {
  int err;
  const char *code;
  const char *msg;
} table[] = {
  {LC_OK, "ok", "success"},
  {LC_EINVAL, "invalid_argument", "invalid argument"},
  {LC_ENOENT, "not_found", "not found"},
  {LC_EEXIST, "already_exists", "already exists"},
  {LC_ESTATE, "invalid_state", "not allowed in the current state"},
  {LC_ELIMIT, "limit_reached", "a configured limit was reached"},
  {LC_ETOOBIG, "too_large", "input too large"},
  {LC_EIO, "io_error", "I/O or database failure"},
  {LC_ECORRUPT, "corrupt", "stored data is damaged"},
  {LC_EVERSION, "version_mismatch", "stored data is from a newer version"},
  {LC_EBUSY, "busy", "resource is held by another process"},
  {LC_ESHUTDOWN, "shutting_down", "the server is stopping"},
  {LC_EPERM, "forbidden", "not allowed"},
  {LC_EAGAIN, "pending", "not ready yet"},
  {LC_ETIMEDOUT, "timeout", "timed out"},
  {LC_ENOSPC, "no_space", "out of storage space"},
};

void
lc_error_set(char **err, const char *where, const char *fmt, ...)
{
  if (!err)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_free(*err);
  *err = g_strdup_printf("%s: %s", where, msg);
  g_free(msg);
}

const char *
lc_errcode(int err)
{
  for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].err == err)
      return table[i].code;
  return "internal_error";
}

const char *
lc_strerror(int err)
{
  for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].err == err)
      return table[i].msg;
  return "internal error";
}

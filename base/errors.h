/* livecart error codes: functions return 0 or a negative LC_E* value.
 * Each code has a stable wire name (used in JSON error bodies) and a message. */
#pragma once

enum {
  LC_OK = 0,
  LC_EINVAL = -1,     /* malformed or out-of-range input */
  LC_ENOENT = -2,     /* no such object */
  LC_EEXIST = -3,     /* object already exists */
  LC_ESTATE = -4,     /* operation not allowed in the object's current state */
  LC_ELIMIT = -5,     /* a configured limit was reached */
  LC_ETOOBIG = -6,    /* input larger than allowed */
  LC_EIO = -7,        /* I/O or database failure */
  LC_ECORRUPT = -8,   /* stored data is damaged */
  LC_EVERSION = -9,   /* stored data is from a newer version */
  LC_EBUSY = -10,     /* resource held by someone else (another instance) */
  LC_ESHUTDOWN = -11, /* the server is stopping */
  LC_EPERM = -12,     /* not allowed */
  LC_EAGAIN = -13,    /* not ready yet: the answer comes later (a callback says when) */
  LC_ETIMEDOUT = -14, /* what was waited for did not happen in time */
  LC_ENOSPC = -15,    /* out of storage space: a configured disk cap was reached */
};

/* Replaces *err (freed with g_free) with "where: message"; for validators that name
 * the field at fault. err may be NULL (then nothing happens). Any thread. */
void lc_error_set(char **err, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Stable snake_case name for an error code, e.g. "not_found". Any thread. */
const char *lc_errcode(int err);
/* Short English description of an error code. Any thread. */
const char *lc_strerror(int err);

/* Configuration: a GKeyFile INI file checked against a fixed schema.
 *
 * Every key the server knows is in the schema (config.c) with its type, default,
 * limits and a one-line description; conf/livecart.conf mirrors it. Unknown groups
 * and keys, wrong types and out-of-range values are errors reported as
 * "file:line: message". `group.key=value` overrides (from --set) are applied after
 * the file and validated the same way (reported as "--set:N: message").
 * A loaded lc_config is immutable; read it from any thread. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct lc_config lc_config;

typedef enum {
  LC_CONF_STRING,
  LC_CONF_INT,
  LC_CONF_BOOL,
  LC_CONF_LEVEL, /* log level name */
  LC_CONF_MODE,  /* octal file mode such as 0660 */
  LC_CONF_ADDRS, /* IP addresses and prefixes (lc_iplist_parse); read with lc_config_string */
} lc_conf_type;

typedef struct {
  const char *group;
  const char *key;
  lc_conf_type type;
  const char *def; /* default, as it would be written in the file */
  gint64 min, max; /* LC_CONF_INT: inclusive range; LC_CONF_STRING: max length (min 0/1 = may/must not be empty) */
  const char *help;
} lc_conf_key;

/* The schema: every known key, in file order. *n receives the count. */
const lc_conf_key *lc_config_schema(size_t *n);

/* Loads `path` (NULL: the built-in defaults only) and applies `overrides`
 * (NULL-terminated "group.key=value" strings, may be NULL). On any error returns NULL
 * and appends one newly allocated "file:line: message" string per problem to
 * `errors` (a GPtrArray with g_free as its free func). Main thread (start-up). */
lc_config *lc_config_load(const char *path, const char *const *overrides, GPtrArray *errors);

/* Same as lc_config_load but parses `data` (len bytes, need not be NUL-terminated);
 * `name` is used in error messages. Pure: no I/O. */
lc_config *lc_config_load_data(const char *data, size_t len, const char *name,
                               const char *const *overrides, GPtrArray *errors);

void lc_config_free(lc_config *cfg);

/* Typed getters. Asking for a key that is not in the schema, or with the wrong
 * type, is a programming error and aborts. Returned strings are borrowed from cfg. */
const char *lc_config_string(const lc_config *cfg, const char *group, const char *key);
gint64 lc_config_int(const lc_config *cfg, const char *group, const char *key);
bool lc_config_bool(const lc_config *cfg, const char *group, const char *key);

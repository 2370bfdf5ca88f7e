/* Config parsing: defaults, file values, overrides, and every kind of error with its line. */
#include "base/config.h"

#include <string.h>

static GPtrArray *
new_errors(void)
{
  return g_ptr_array_new_with_free_func(g_free);
}

static lc_config *
load(const char *text, const char *const *overrides, GPtrArray *errors)
{
  return lc_config_load_data(text, text ? strlen(text) : 0, "t.conf", overrides, errors);
}

/* Asserts that loading fails with exactly one error equal to `expected`. */
static void
assert_single_error(const char *text, const char *const *overrides, const char *expected)
{
  g_autoptr(GPtrArray) errors = new_errors();
  lc_config *cfg = load(text, overrides, errors);
  g_assert_null(cfg);
  g_assert_cmpuint(errors->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(errors, 0), ==, expected);
}

static void
test_defaults(void)
{
  g_autoptr(GPtrArray) errors = new_errors();
  lc_config *cfg = load(NULL, NULL, errors);
  g_assert_nonnull(cfg);
  g_assert_cmpstr(lc_config_string(cfg, "http", "bind"), ==, "127.0.0.1");
  g_assert_cmpint(lc_config_int(cfg, "http", "port"), ==, 8080);
  g_assert_cmpint(lc_config_int(cfg, "rtmp", "port"), ==, 1935);
  g_assert_cmpint(lc_config_int(cfg, "srt", "port"), ==, 9710);
  g_assert_cmpint(lc_config_int(cfg, "rtc", "port"), ==, 8189);
  g_assert_cmpint(lc_config_int(cfg, "control", "mode"), ==, 0660);
  g_assert_cmpstr(lc_config_string(cfg, "control", "socket"), ==, "var/run/livecart.sock");
  g_assert_cmpstr(lc_config_string(cfg, "store", "path"), ==, "var/livecart.db");
  g_assert_cmpstr(lc_config_string(cfg, "log", "level"), ==, "info");
  g_assert_cmpstr(lc_config_string(cfg, "limits", "exempt"), ==, "");
  lc_config_free(cfg);
}

static void
test_file_and_overrides(void)
{
  const char *text = "# comment\n  # indented comment\n\n[http]\nport = 9090\nbind=0.0.0.0\n"
                     "[control]\nmode = 0600\n[log]\nlevel = debug\n";
  const char *const overrides[] = {"http.port=9191", "store.path=/tmp/x.db", NULL};
  g_autoptr(GPtrArray) errors = new_errors();
  lc_config *cfg = load(text, overrides, errors);
  g_assert_nonnull(cfg);
  g_assert_cmpint(lc_config_int(cfg, "http", "port"), ==, 9191); /* --set wins over the file */
  g_assert_cmpstr(lc_config_string(cfg, "http", "bind"), ==, "0.0.0.0");
  g_assert_cmpint(lc_config_int(cfg, "control", "mode"), ==, 0600);
  g_assert_cmpstr(lc_config_string(cfg, "store", "path"), ==, "/tmp/x.db");
  g_assert_cmpstr(lc_config_string(cfg, "log", "level"), ==, "debug");
  g_assert_cmpint(lc_config_int(cfg, "rtmp", "port"), ==, 1935); /* untouched default */
  lc_config_free(cfg);
}

static void
test_errors_name_the_line(void)
{
  assert_single_error("[http]\nport = 80800\n", NULL,
                      "t.conf:2: http.port must be an integer from 1 to 65535, not '80800'");
  assert_single_error("[http]\n\nprot = 1\n", NULL, "t.conf:3: unknown key 'prot' in [http] (did you mean 'port'?)");
  assert_single_error("[htp]\nport = 1\n", NULL, "t.conf:1: unknown group [htp]");
  assert_single_error("[http]\nport 8080\n", NULL, "t.conf:2: expected 'key = value', got 'port 8080'");
  assert_single_error("port = 1\n", NULL, "t.conf:1: key outside of any [group]");
  assert_single_error("[http]\nport = 1\nport = 2\n", NULL,
                      "t.conf:3: duplicate key 'port' in [http] (first on line 2)");
  assert_single_error("[control]\nmode = 0999\n", NULL,
                      "t.conf:2: control.mode must be an octal mode such as 0660, not '0999'");
  assert_single_error("[log]\nlevel = loud\n", NULL,
                      "t.conf:2: log.level must be one of error, warn, info, debug, trace, not 'loud'");
  assert_single_error("[store]\npath =\n", NULL, "t.conf:2: store.path must not be empty");
  assert_single_error("[http\n", NULL, "t.conf:1: malformed group header '[http'");
  assert_single_error("[limits]\nexempt = 10.0.0.1, intranet\n", NULL,
                      "t.conf:2: limits.exempt: 'intranet' is not an IP address or prefix");
  const char *const exempt[] = {"limits.exempt=::1/129", NULL};
  assert_single_error(NULL, exempt, "--set:1: limits.exempt: '::1/129': the prefix length must be 0..128");
}

static void
test_all_errors_reported(void)
{
  g_autoptr(GPtrArray) errors = new_errors();
  lc_config *cfg = load("[http]\nport = x\nfoo = 1\n[rtmp]\nport = -1\n", NULL, errors);
  g_assert_null(cfg);
  /* unknown keys are found first; values are checked only once the structure is sound */
  g_assert_cmpuint(errors->len, ==, 1);
  g_assert_true(g_str_has_prefix(g_ptr_array_index(errors, 0), "t.conf:3: unknown key 'foo'"));

  g_ptr_array_set_size(errors, 0);
  cfg = load("[http]\nport = x\n[rtmp]\nport = -1\n", NULL, errors);
  g_assert_null(cfg);
  g_assert_cmpuint(errors->len, ==, 2);
  g_assert_true(g_str_has_prefix(g_ptr_array_index(errors, 0), "t.conf:2: http.port"));
  g_assert_true(g_str_has_prefix(g_ptr_array_index(errors, 1), "t.conf:4: rtmp.port"));
}

static void
test_override_errors(void)
{
  const char *const bad_form[] = {"httpport=1", NULL};
  assert_single_error(NULL, bad_form, "--set:1: expected group.key=value, got 'httpport=1'");
  const char *const bad_key[] = {"http.port=1", "http.prt=2", NULL};
  assert_single_error(NULL, bad_key, "--set:2: unknown key 'prt' in [http] (did you mean 'port'?)");
  const char *const bad_val[] = {"rtc.workers=many", NULL};
  assert_single_error(NULL, bad_val, "--set:1: rtc.workers must be an integer from 0 to 256, not 'many'");
}

static void
test_binary_input(void)
{
  g_autoptr(GPtrArray) errors = new_errors();
  const char data[] = "[http]\nport = 1\0\n";
  lc_config *cfg = lc_config_load_data(data, sizeof data - 1, "t.conf", NULL, errors);
  g_assert_null(cfg);
  g_assert_cmpstr(g_ptr_array_index(errors, 0), ==, "t.conf: file contains a NUL byte");
}

static void
test_missing_file(void)
{
  g_autoptr(GPtrArray) errors = new_errors();
  g_assert_null(lc_config_load("/nonexistent/livecart.conf", NULL, errors));
  g_assert_cmpuint(errors->len, ==, 1);
  g_assert_true(g_str_has_prefix(g_ptr_array_index(errors, 0), "/nonexistent/livecart.conf: cannot read"));
}

/* conf/livecart.conf documents every key with its default, and nothing else. */
static void
test_shipped_config_matches_schema(void)
{
  const char *src = g_getenv("LC_SRCDIR");
  if (!src) {
    g_test_skip("LC_SRCDIR not set");
    return;
  }
  g_autofree char *path = g_build_filename(src, "conf", "livecart.conf", NULL);
  g_autoptr(GPtrArray) errors = new_errors();
  lc_config *cfg = lc_config_load(path, NULL, errors);
  g_assert_nonnull(cfg);
  lc_config_free(cfg);

  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, NULL));
  size_t n;
  const lc_conf_key *keys = lc_config_schema(&n);
  gsize total = 0;
  g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
  for (int i = 0; groups[i]; i++) {
    g_auto(GStrv) k = g_key_file_get_keys(kf, groups[i], NULL, NULL);
    total += g_strv_length(k);
  }
  g_assert_cmpuint(total, ==, n);
  for (size_t i = 0; i < n; i++) {
    g_autofree char *v = g_key_file_get_string(kf, keys[i].group, keys[i].key, NULL);
    g_assert_cmpstr(v, ==, keys[i].def);
    g_autofree char *comment = g_key_file_get_comment(kf, keys[i].group, keys[i].key, NULL);
    g_assert_nonnull(comment);
    g_assert_nonnull(strstr(comment, keys[i].help));
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/config/defaults", test_defaults);
  g_test_add_func("/config/file-and-overrides", test_file_and_overrides);
  g_test_add_func("/config/errors-name-the-line", test_errors_name_the_line);
  g_test_add_func("/config/all-errors-reported", test_all_errors_reported);
  g_test_add_func("/config/override-errors", test_override_errors);
  g_test_add_func("/config/binary-input", test_binary_input);
  g_test_add_func("/config/missing-file", test_missing_file);
  g_test_add_func("/config/shipped-config-matches-schema", test_shipped_config_matches_schema);
  return g_test_run();
}

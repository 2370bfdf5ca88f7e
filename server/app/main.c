/* livecartd: parses the command line and the config, runs the main loop.
 * Exit status: 0 after a clean stop, 1 when start-up fails (port in use, database
 * locked or damaged), 2 for usage and configuration errors. */
#define LC_LOG_DOMAIN "main"
#include "app/app.h"
#include "base/config.h"
#include "base/log.h"

#include <glib-unix.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "conf/livecart.conf"

static gboolean
on_signal(gpointer user)
{
  static int count;
  lc_app *app = user;
  if (++count > 1) {
    LC_WARN(NULL, NULL, "second signal: exiting now");
    _exit(1);
  }
  lc_app_shutdown(app);
  return G_SOURCE_CONTINUE;
}

static void
dump_config(void)
{
  size_t n;
  const lc_conf_key *keys = lc_config_schema(&n);
  printf("# livecart configuration. Every key with its default; livecartd --dump-config\n"
         "# prints this file. Relative paths are relative to the working directory.\n"
         "# Any key can be overridden with: livecartd --set group.key=value\n");
  const char *group = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!group || strcmp(group, keys[i].group) != 0) {
      group = keys[i].group;
      printf("\n[%s]\n", group);
    }
    printf("# %s\n%s = %s\n", keys[i].help, keys[i].key, keys[i].def);
  }
}

int
main(int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_auto(GStrv) overrides = NULL;
  gboolean check = FALSE, version = FALSE, dump = FALSE;
  GOptionEntry entries[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "configuration file (default " DEFAULT_CONFIG ")",
     "FILE"},
    {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &overrides, "override a key (repeatable)", "GROUP.KEY=VALUE"},
    {"check-config", 0, 0, G_OPTION_ARG_NONE, &check, "validate the configuration and exit", NULL},
    {"dump-config", 0, 0, G_OPTION_ARG_NONE, &dump, "print every key with its default and exit", NULL},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) opts = g_option_context_new("- livestream commerce media server");
  g_option_context_add_main_entries(opts, entries, NULL);
  g_autoptr(GError) err = NULL;
  if (!g_option_context_parse(opts, &argc, &argv, &err) || argc > 1) {
    fprintf(stderr, "livecartd: %s\n", err ? err->message : "unexpected argument");
    return 2;
  }
  if (version) {
    printf("livecartd %s\n", LC_VERSION);
    return 0;
  }
  if (dump) {
    dump_config();
    return 0;
  }

  const char *path = config_path;
  if (!path && g_file_test(DEFAULT_CONFIG, G_FILE_TEST_EXISTS))
    path = DEFAULT_CONFIG;
  g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
  lc_config *cfg = lc_config_load(path, (const char *const *)overrides, errors);
  if (!cfg) {
    for (guint i = 0; i < errors->len; i++)
      fprintf(stderr, "%s\n", (char *)g_ptr_array_index(errors, i));
    return 2;
  }
  if (check) {
    printf("%s: configuration is valid\n", path ? path : "built-in defaults");
    lc_config_free(cfg);
    return 0;
  }

  lc_log_level level = LC_LOG_INFO;
  lc_log_parse_level(lc_config_string(cfg, "log", "level"), &level);
  lc_log_set_level(level);
  lc_log_capture_glib();
  signal(SIGPIPE, SIG_IGN);
  /* Viewers are connections: use every descriptor the system allows us. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  LC_INFO(NULL, NULL, "livecartd %s starting (config: %s, pid %d)", LC_VERSION,
          path ? path : "built-in defaults", (int)getpid());

  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  g_autofree char *msg = NULL;
  lc_app *app = lc_app_new(cfg, loop, &msg);
  if (!app) {
    LC_ERROR(NULL, NULL, "cannot start: %s", msg);
    g_main_loop_unref(loop);
    lc_config_free(cfg);
    return 1;
  }
  guint sig_term = g_unix_signal_add(SIGTERM, on_signal, app);
  guint sig_int = g_unix_signal_add(SIGINT, on_signal, app);
  g_main_loop_run(loop);
  g_source_remove(sig_term);
  g_source_remove(sig_int);
  lc_app_free(app);
  g_main_loop_unref(loop);
  lc_config_free(cfg);
  LC_INFO(NULL, NULL, "stopped");
  return 0;
}

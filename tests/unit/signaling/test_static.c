/* Unit tests for signaling/static.c: the request-path check (lc__static_check_path) and
 * the MIME table. The path check sees paths after libwebsockets has decoded %xx and
 * resolved "." / ".." segments; it is the second line of defence, so it is tested here on
 * inputs lws would never pass too. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"
#include "signaling/http_internal.h"

static int
check(const char *path)
{
  return lc__static_check_path(path, strlen(path));
}

static void
test_accepts_ordinary_paths(void)
{
  static const char *const ok[] = {"/", "/index.html", "/app.mjs", "/demo/img/k-pan.svg", "/sub/",
                                   "/a/b/c/", "/a.b", "/a..b", "/a...", "/x/y.z.", "/%", "/中文.html",
                                   "/a b"};
  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    g_test_message("%s", ok[i]);
    g_assert_cmpint(check(ok[i]), ==, 0);
  }
}

static void
test_refuses_malformed_paths(void)
{
  static const char *const bad[] = {"", "index.html", "//", "//etc/passwd", "/a//b", "/.", "/..",
                                    "/./x", "/../x", "/a/./b", "/a/../b", "/a/.", "/a/..", "/a\\b",
                                    "/..\\x", "\\", "/a/b//"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_test_message("%s", bad[i]);
    g_assert_cmpint(check(bad[i]), ==, LC_EINVAL);
  }
}

static void
test_refuses_nul_anywhere(void)
{
  static const char with_nul[][8] = {"/\0", "/a\0b", "/\0/x", "/x/\0"};
  static const size_t lens[] = {2, 4, 4, 4};
  for (size_t i = 0; i < G_N_ELEMENTS(lens); i++)
    g_assert_cmpint(lc__static_check_path(with_nul[i], lens[i]), ==, LC_EINVAL);
  /* the length is what counts: a NUL just past it is not looked at */
  g_assert_cmpint(lc__static_check_path("/a\0", 2), ==, 0);
}

static void
test_dotfiles_are_not_found(void)
{
  static const char *const hidden[] = {"/.git", "/.git/config", "/.env", "/a/.htaccess", "/.well-known/x",
                                       "/a/...", "/a/.b/c"};
  for (size_t i = 0; i < G_N_ELEMENTS(hidden); i++) {
    g_test_message("%s", hidden[i]);
    g_assert_cmpint(check(hidden[i]), ==, LC_ENOENT);
  }
}

static void
test_open_applies_the_check_before_the_disk(void)
{
  int fd = -1;
  gint64 size = 0;
  const char *mime = NULL;
  /* malformed paths are refused even with no web root at all */
  g_assert_cmpint(lc__static_open(NULL, "/a/../b", 7, &fd, &size, &mime), ==, LC_EINVAL);
  g_assert_cmpint(lc__static_open(NULL, "/\0", 2, &fd, &size, &mime), ==, LC_EINVAL);
  g_assert_cmpint(lc__static_open(NULL, "/index.html", 11, &fd, &size, &mime), ==, LC_ENOENT);
  g_assert_cmpint(fd, ==, -1);
}

/* ---- lc__static_open on a real web root ---- */

typedef struct {
  char *base; /* temp dir holding web/ (the root) and its neighbours */
  char *root; /* realpath of base/web, as http.c passes it */
} webroot;

static void
put(const char *dir, const char *name, const char *text)
{
  char *p = g_build_filename(dir, name, NULL);
  char *parent = g_path_get_dirname(p);
  g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
  g_assert_true(g_file_set_contents(p, text, -1, NULL));
  g_free(parent);
  g_free(p);
}

static void
link_to(const char *dir, const char *name, const char *target)
{
  char *p = g_build_filename(dir, name, NULL);
  g_assert_cmpint(symlink(target, p), ==, 0);
  g_free(p);
}

static void
webroot_setup(webroot *w, gconstpointer data)
{
  (void)data;
  w->base = g_dir_make_tmp("lc-static-XXXXXX", NULL);
  g_assert_nonnull(w->base);
  char *web = g_build_filename(w->base, "web", NULL);
  put(web, "index.html", "<p>home</p>");
  put(web, "app.mjs", "export {};");
  put(web, "sub/index.html", "<p>sub</p>");
  put(web, "sub/img/a.svg", "<svg/>");
  put(web, "empty/.keep", "");
  put(w->base, "secret.txt", "outside the root");
  put(w->base, "web2/secret.txt", "a neighbour whose name starts like the root");
  link_to(web, "inside.js", "app.mjs");                       /* a symlink staying inside */
  link_to(web, "out.txt", "../secret.txt");                   /* leaving the root */
  link_to(web, "prefix.txt", "../web2/secret.txt");           /* "web2" starts with "web" */
  link_to(web, "outdir", "..");                               /* a directory outside */
  link_to(web, "dangling.html", "missing.html");
  char *fifo = g_build_filename(web, "pipe.html", NULL);
  g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
  g_free(fifo);
  char *real = realpath(web, NULL);
  w->root = g_strdup(real);
  free(real);
  g_free(web);
}

static void
webroot_teardown(webroot *w, gconstpointer data)
{
  (void)data;
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", w->base);
  g_assert_cmpint(system(cmd), ==, 0);
  g_free(w->root);
  g_free(w->base);
}

/* Opens path below w's root: the error, and on success the file's bytes in *text. */
static int
open_path(webroot *w, const char *path, char **text, const char **mime)
{
  int fd = -1;
  gint64 size = -1;
  *text = NULL;
  *mime = NULL;
  int err = lc__static_open(w->root, path, strlen(path), &fd, &size, mime);
  if (err) {
    g_assert_cmpint(fd, ==, -1);
    return err;
  }
  g_assert_cmpint(fd, >=, 0);
  *text = g_malloc0((gsize)size + 1);
  g_assert_cmpint(read(fd, *text, (size_t)size + 1), ==, size);
  close(fd);
  return 0;
}

static void
test_open_serves_files_below_the_root(webroot *w, gconstpointer data)
{
  (void)data;
  static const struct {
    const char *path, *text, *mime;
  } ok[] = {
      {"/index.html", "<p>home</p>", "text/html; charset=utf-8"},
      {"/", "<p>home</p>", "text/html; charset=utf-8"},               /* a folder serves its index */
      {"/sub/", "<p>sub</p>", "text/html; charset=utf-8"},
      {"/sub/img/a.svg", "<svg/>", "image/svg+xml"},
      {"/app.mjs", "export {};", "text/javascript; charset=utf-8"},
      {"/inside.js", "export {};", "text/javascript; charset=utf-8"}, /* type of what it resolves to */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    char *text;
    const char *mime;
    g_test_message("%s", ok[i].path);
    g_assert_cmpint(open_path(w, ok[i].path, &text, &mime), ==, 0);
    g_assert_cmpstr(text, ==, ok[i].text);
    g_assert_cmpstr(mime, ==, ok[i].mime);
    g_free(text);
  }
}

static void
test_open_refuses_what_is_not_a_file_below_the_root(webroot *w, gconstpointer data)
{
  (void)data;
  static const char *const missing[] = {
      "/nope.html",
      "/sub",            /* a folder without its slash: never listed, no redirect */
      "/empty/",         /* a folder without index.html */
      "/index.html/",    /* a file asked as a folder */
      "/out.txt",        /* symlink to a file outside the root */
      "/prefix.txt",     /* ... to a neighbour whose path starts with the root's */
      "/outdir/secret.txt", /* through a symlinked folder outside */
      "/dangling.html",
      "/pipe.html",      /* not a regular file (and opening it must not block) */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(missing); i++) {
    char *text;
    const char *mime;
    g_test_message("%s", missing[i]);
    g_assert_cmpint(open_path(w, missing[i], &text, &mime), ==, LC_ENOENT);
  }
  char *text;
  const char *mime;
  /* dotfiles exist on disk but are never served; malformed paths never reach the disk */
  g_assert_cmpint(open_path(w, "/empty/.keep", &text, &mime), ==, LC_ENOENT);
  g_assert_cmpint(open_path(w, "/sub/../index.html", &text, &mime), ==, LC_EINVAL);
  g_assert_cmpint(open_path(w, "//index.html", &text, &mime), ==, LC_EINVAL);
}

static void
test_mime_types(void)
{
  g_assert_cmpstr(lc__static_mime("/a/index.HTML"), ==, "text/html; charset=utf-8");
  g_assert_cmpstr(lc__static_mime("app.mjs"), ==, "text/javascript; charset=utf-8");
  g_assert_cmpstr(lc__static_mime("/x.tar.gz"), ==, "application/octet-stream");
  g_assert_cmpstr(lc__static_mime("/dir.png/file"), ==, "application/octet-stream");
  g_assert_cmpstr(lc__static_mime("noext"), ==, "application/octet-stream");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/static/check/ordinary", test_accepts_ordinary_paths);
  g_test_add_func("/static/check/malformed", test_refuses_malformed_paths);
  g_test_add_func("/static/check/nul", test_refuses_nul_anywhere);
  g_test_add_func("/static/check/dotfiles", test_dotfiles_are_not_found);
  g_test_add_func("/static/open/check-first", test_open_applies_the_check_before_the_disk);
  g_test_add_func("/static/mime", test_mime_types);
  g_test_add("/static/open/serves", webroot, NULL, webroot_setup, test_open_serves_files_below_the_root,
             webroot_teardown);
  g_test_add("/static/open/refuses", webroot, NULL, webroot_setup,
             test_open_refuses_what_is_not_a_file_below_the_root, webroot_teardown);
  return g_test_run();
}

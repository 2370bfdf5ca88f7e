/* Unit tests for signaling/static.c: the request-path check (lc__static_check_path) and
 * the MIME table. The path check sees paths after libwebsockets has decoded %xx and
 * resolved "." / ".." segments; it is the second line of defence, so it is tested here on
 * inputs lws would never pass too. */
#include <string.h>

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
  return g_test_run();
}

/* Unit tests for signaling/reqline.c: the first-line check a new connection gets before
 * libwebsockets parses it (lws drops a %00 it cannot place and answers a bad escape with
 * an HTML 403; we answer both with JSON 400). */
#include <string.h>

#include "base/errors.h"
#include "signaling/http_internal.h"

static int
check(const char *line, const char **why)
{
  *why = NULL;
  return lc__http_check_request_line(line, strlen(line), why);
}

static void
test_ordinary_lines_pass(void)
{
  static const char *const ok[] = {
      "GET / HTTP/1.1\r", "GET /index.html HTTP/1.1", "GET /a%20b?q=%E4%BD%A0&x=1 HTTP/1.1\r",
      "POST /api/payments/callback HTTP/1.1\r", "GET /ws HTTP/1.1", "GET /%2e%2E/x HTTP/1.0\r",
      "GET /%0a HTTP/1.1", "GET /x%ff HTTP/1.1",
      /* shapes that are lws' to judge */
      "", "garbage", "\x16\x03\x01\x02", "GET", "GET /no-version",
      /* only the target is looked at */
      "GET / HTTP/%00", "G%00T / HTTP/1.1"};
  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    const char *why;
    g_test_message("%s", ok[i]);
    g_assert_cmpint(check(ok[i], &why), ==, 0);
    g_assert_null(why);
  }
}

static void
test_nul_is_refused(void)
{
  static const char *const bad[] = {"GET /%00 HTTP/1.1\r", "GET /index.html%00.txt HTTP/1.1\r",
                                    "GET /x?q=%00 HTTP/1.1", "GET /ws%00 HTTP/1.1", "GET /%00"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    const char *why;
    g_test_message("%s", bad[i]);
    g_assert_cmpint(check(bad[i], &why), ==, LC_EINVAL);
    g_assert_cmpstr(why, ==, "NUL (%00) in the request target");
  }
  /* a raw NUL byte in the target */
  const char raw[] = "GET /a\0b HTTP/1.1";
  const char *why = NULL;
  g_assert_cmpint(lc__http_check_request_line(raw, sizeof raw - 1, &why), ==, LC_EINVAL);
  g_assert_cmpstr(why, ==, "NUL in the request target");
}

static void
test_bad_escapes_are_refused(void)
{
  static const char *const bad[] = {"GET /a%zz HTTP/1.1", "GET /%4 HTTP/1.1", "GET /% HTTP/1.1",
                                    "GET /x?%g1 HTTP/1.1", "GET /%4", "GET /a%2 b HTTP/1.1"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    const char *why;
    g_test_message("%s", bad[i]);
    g_assert_cmpint(check(bad[i], &why), ==, LC_EINVAL);
    g_assert_cmpstr(why, ==, "malformed percent-escape in the request target");
  }
}

static void
test_length_bounds_the_scan(void)
{
  /* the escape's digits lie past len: malformed within the line given */
  const char *why = NULL;
  g_assert_cmpint(lc__http_check_request_line("GET /%41 HTTP/1.1", 7, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc__http_check_request_line("GET /%41 HTTP/1.1", 8, &why), ==, 0);
}

static void
test_may_be_request_line(void)
{
  static const char *const yes[] = {"", "G", "GET", "GET ", "GET /x", "OPTIONS * HTTP/1.1", "PROPFIND /"};
  static const char *const no[] = {"\x16\x03\x01", " GET /", "get /", "GE7 /", "\r\n", "ABCDEFGHIJKLMNOPQ"};
  for (size_t i = 0; i < G_N_ELEMENTS(yes); i++)
    g_assert_true(lc__http_may_be_request_line(yes[i], strlen(yes[i])));
  for (size_t i = 0; i < G_N_ELEMENTS(no); i++)
    g_assert_false(lc__http_may_be_request_line(no[i], strlen(no[i])));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/reqline/ordinary", test_ordinary_lines_pass);
  g_test_add_func("/reqline/nul", test_nul_is_refused);
  g_test_add_func("/reqline/bad-escapes", test_bad_escapes_are_refused);
  g_test_add_func("/reqline/length", test_length_bounds_the_scan);
  g_test_add_func("/reqline/may-be", test_may_be_request_line);
  return g_test_run();
}

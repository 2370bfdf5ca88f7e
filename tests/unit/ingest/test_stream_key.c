/* Publisher credential parsing: RTMP stream name / tcUrl, SRT streamid forms, bounds. */
#include "base/errors.h"
#include "ingest/stream_key.h"

#include <glib.h>
#include <string.h>

static void
test_rtmp(void)
{
  lc_stream_key sk;
  const char *why = NULL;
  g_assert_cmpint(lc_stream_key_parse_rtmp("room1?key=secret", NULL, &sk, &why), ==, 0);
  g_assert_cmpstr(sk.room, ==, "room1");
  g_assert_cmpstr(sk.key, ==, "secret");
  g_assert_cmpint(lc_stream_key_parse_rtmp("room-2?x=1&key=k_2&y=2", NULL, &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "k_2");
  /* key in the tcUrl */
  g_assert_cmpint(lc_stream_key_parse_rtmp("room1", "rtmp://h:1935/live?key=abc", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "abc");
  /* the stream name wins */
  g_assert_cmpint(lc_stream_key_parse_rtmp("room1?key=one", "rtmp://h/live?key=two", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "one");
  /* no key: accepted by the parser with "", refused by the auth */
  g_assert_cmpint(lc_stream_key_parse_rtmp("room1", "rtmp://h/live", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "");
  g_assert_cmpint(lc_stream_key_parse_rtmp("Room1?key=x", NULL, &sk, &why), ==, LC_EINVAL);
  g_assert_nonnull(why);
  g_assert_cmpint(lc_stream_key_parse_rtmp("?key=x", NULL, &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_rtmp("room1?key=a b", NULL, &sk, &why), ==, LC_EINVAL);
  char *long_key = g_strnfill(129, 'k');
  char *name = g_strdup_printf("room1?key=%s", long_key);
  g_assert_cmpint(lc_stream_key_parse_rtmp(name, NULL, &sk, &why), ==, LC_EINVAL);
  g_free(name);
  g_free(long_key);
  char *long_room = g_strnfill(65, 'r');
  g_assert_cmpint(lc_stream_key_parse_rtmp(long_room, NULL, &sk, &why), ==, LC_EINVAL);
  g_free(long_room);
  char *huge = g_strnfill(5000, 'a');
  g_assert_cmpint(lc_stream_key_parse_rtmp(huge, NULL, &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt(huge, &sk, &why), ==, LC_EINVAL);
  g_free(huge);
  g_assert_cmpint(lc_stream_key_parse_rtmp(NULL, NULL, &sk, &why), ==, LC_EINVAL);
}

static void
test_srt(void)
{
  lc_stream_key sk;
  const char *why = NULL;
  g_assert_cmpint(lc_stream_key_parse_srt("#!::r=room1,k=secret", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.room, ==, "room1");
  g_assert_cmpstr(sk.key, ==, "secret");
  g_assert_cmpint(lc_stream_key_parse_srt("#!::k=secret,m=publish,u=alice,r=room1", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.room, ==, "room1");
  g_assert_cmpint(lc_stream_key_parse_srt("room1?key=secret", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "secret");
  g_assert_cmpint(lc_stream_key_parse_srt("%23%21%3A%3Ar%3Droom1%2Ck%3Dsecret", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.room, ==, "room1");
  g_assert_cmpstr(sk.key, ==, "secret");
  g_assert_cmpint(lc_stream_key_parse_srt("#!::r=room1", &sk, &why), ==, 0);
  g_assert_cmpstr(sk.key, ==, "");
  g_assert_cmpint(lc_stream_key_parse_srt("#!::k=secret", &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt("#!::r=room1,m=request", &sk, &why), ==, LC_EINVAL);
  g_assert_nonnull(strstr(why, "mode"));
  g_assert_cmpint(lc_stream_key_parse_srt("#!::r=a,r=b", &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt("#!::garbage", &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt("#!::r=room1,k=a&b", &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt("%23%21%3A%3Ar%3Droom1%00", &sk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_stream_key_parse_srt("", &sk, &why), ==, LC_EINVAL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/stream_key/rtmp", test_rtmp);
  g_test_add_func("/stream_key/srt", test_srt);
  return g_test_run();
}

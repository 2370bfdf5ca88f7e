/* FLV tag bodies: AVC/AAC accepted, Enhanced RTMP and other codecs refused, malformed bodies. */
#include "base/errors.h"
#include "ingest/flv_tag.h"

#include <glib.h>
#include <string.h>

static const uint8_t avcc[] = {1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee};

static void
test_video(void)
{
  lc_flv_packet pk;
  const char *why = NULL;
  uint8_t cfg[5 + sizeof avcc] = {0x17, 0, 0, 0, 0};
  memcpy(cfg + 5, avcc, sizeof avcc);
  g_assert_cmpint(lc_flv_parse_video(cfg, sizeof cfg, &pk, &why), ==, 0);
  g_assert_cmpint(pk.kind, ==, LC_FLV_CONFIG);
  g_assert_cmpuint(pk.len, ==, sizeof avcc);
  unsigned nls = 0;
  g_assert_cmpint(lc_flv_check_avcc_config(pk.data, pk.len, &nls, &why), ==, 0);
  g_assert_cmpuint(nls, ==, 4);

  const uint8_t key[] = {0x17, 1, 0, 0, 0x42, 0, 0, 0, 2, 0x65, 0x88};
  g_assert_cmpint(lc_flv_parse_video(key, sizeof key, &pk, &why), ==, 0);
  g_assert_cmpint(pk.kind, ==, LC_FLV_FRAME);
  g_assert_true(pk.keyframe);
  g_assert_cmpint(pk.cts, ==, 0x42);
  g_assert_cmpint(lc_flv_check_avcc_frame(pk.data, pk.len, 4, &why), ==, 0);
  g_assert_cmpint(lc_flv_check_avcc_frame(pk.data, pk.len - 1, 4, &why), ==, LC_EINVAL);

  const uint8_t inter[] = {0x27, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x41};
  g_assert_cmpint(lc_flv_parse_video(inter, sizeof inter, &pk, &why), ==, 0);
  g_assert_false(pk.keyframe);
  g_assert_cmpint(pk.cts, ==, -33);

  const uint8_t hevc[] = {0x90, 'h', 'v', 'c', '1', 0};
  g_assert_cmpint(lc_flv_parse_video(hevc, sizeof hevc, &pk, &why), ==, LC_EPERM);
  g_assert_nonnull(strstr(why, "hvc1"));
  const uint8_t av1[] = {0x90, 'a', 'v', '0', '1'};
  g_assert_cmpint(lc_flv_parse_video(av1, sizeof av1, &pk, &why), ==, LC_EPERM);
  g_assert_nonnull(strstr(why, "AV1"));
  const uint8_t h263[] = {0x12, 0, 0};
  g_assert_cmpint(lc_flv_parse_video(h263, sizeof h263, &pk, &why), ==, LC_EPERM);
  const uint8_t info[] = {0x57, 0};
  g_assert_cmpint(lc_flv_parse_video(info, sizeof info, &pk, &why), ==, 0);
  g_assert_cmpint(pk.kind, ==, LC_FLV_IGNORE);
  const uint8_t shortv[] = {0x17, 1, 0};
  g_assert_cmpint(lc_flv_parse_video(shortv, sizeof shortv, &pk, &why), ==, LC_EINVAL);
  g_assert_cmpint(lc_flv_parse_video(NULL, 0, &pk, &why), ==, LC_EINVAL);
  /* broken configuration records */
  uint8_t bad[sizeof avcc];
  memcpy(bad, avcc, sizeof bad);
  bad[7] = 40; /* SPS length past the end */
  g_assert_cmpint(lc_flv_check_avcc_config(bad, sizeof bad, NULL, &why), ==, LC_EINVAL);
  memcpy(bad, avcc, sizeof bad);
  bad[0] = 2;
  g_assert_cmpint(lc_flv_check_avcc_config(bad, sizeof bad, NULL, &why), ==, LC_EINVAL);
  memcpy(bad, avcc, sizeof bad);
  bad[5] = 0xe0; /* no SPS */
  g_assert_cmpint(lc_flv_check_avcc_config(bad, sizeof bad, NULL, &why), ==, LC_EINVAL);
}

static void
test_audio(void)
{
  lc_flv_packet pk;
  const char *why = NULL;
  const uint8_t cfg[] = {0xaf, 0, 0x11, 0x90};
  g_assert_cmpint(lc_flv_parse_audio(cfg, sizeof cfg, &pk, &why), ==, 0);
  g_assert_cmpint(pk.kind, ==, LC_FLV_CONFIG);
  g_assert_cmpuint(pk.len, ==, 2);
  const uint8_t raw[] = {0xaf, 1, 0x21, 0x10};
  g_assert_cmpint(lc_flv_parse_audio(raw, sizeof raw, &pk, &why), ==, 0);
  g_assert_cmpint(pk.kind, ==, LC_FLV_FRAME);
  const uint8_t mp3[] = {0x2f, 0xff};
  g_assert_cmpint(lc_flv_parse_audio(mp3, sizeof mp3, &pk, &why), ==, LC_EPERM);
  g_assert_nonnull(strstr(why, "MP3"));
  const uint8_t speex[] = {0xb6, 0};
  g_assert_cmpint(lc_flv_parse_audio(speex, sizeof speex, &pk, &why), ==, LC_EPERM);
  g_assert_nonnull(strstr(why, "Speex"));
  const uint8_t ex[] = {0x90, 'O', 'p', 'u', 's'};
  g_assert_cmpint(lc_flv_parse_audio(ex, sizeof ex, &pk, &why), ==, LC_EPERM);
  const uint8_t shorta[] = {0xaf};
  g_assert_cmpint(lc_flv_parse_audio(shorta, sizeof shorta, &pk, &why), ==, LC_EINVAL);
  const uint8_t badcfg[] = {0xaf, 0, 0x01};
  g_assert_cmpint(lc_flv_parse_audio(badcfg, sizeof badcfg, &pk, &why), ==, LC_EINVAL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/flv_tag/video", test_video);
  g_test_add_func("/flv_tag/audio", test_audio);
  return g_test_run();
}

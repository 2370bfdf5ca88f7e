/* Per-viewer track mapping (rung switches keep one continuous stream) and the bandwidth estimate. */
#include <glib.h>

#include "rtc/rtc_track.h"

static void
test_first_source_kept(void)
{
  lc__rtc_track t;
  lc__rtc_track_init(&t, 0x1234, 102, 90000);
  int a;
  uint16_t seq;
  uint32_t ts;
  g_assert_false(lc__rtc_track_map(&t, 100, 9000, 0, 10, &seq, &ts)); /* not started */
  lc__rtc_track_switch(&t, &a, 100, 9000, 1000000);
  g_assert_true(lc__rtc_track_map(&t, 100, 9000, 1000000, 10, &seq, &ts));
  g_assert_cmpuint(seq, ==, 100);
  g_assert_cmpuint(ts, ==, 9000);
  g_assert_false(lc__rtc_track_map(&t, 100, 9000, 1000000, 10, &seq, &ts)); /* duplicate */
  g_assert_false(lc__rtc_track_map(&t, 99, 9000, 1000000, 10, &seq, &ts));  /* older */
  g_assert_true(lc__rtc_track_map(&t, 102, 12000, 1033000, 10, &seq, &ts)); /* gap kept */
  g_assert_cmpuint(seq, ==, 102);
  g_assert_cmpuint(t.packets, ==, 2);
  g_assert_cmpuint(t.octets, ==, 20);
}

static void
test_switch_continuous(void)
{
  lc__rtc_track t;
  lc__rtc_track_init(&t, 1, 102, 90000);
  int a, b;
  uint16_t seq;
  uint32_t ts;
  lc__rtc_track_switch(&t, &a, 65530, 1000, 0);
  for (uint16_t i = 0; i < 10; i++)
    g_assert_true(lc__rtc_track_map(&t, (uint16_t)(65530 + i), 1000 + i * 3000u, i * 33333, 100, &seq, &ts));
  g_assert_cmpuint(seq, ==, 3); /* wrapped */
  uint16_t last = seq;
  uint32_t last_ts = ts;
  /* switch to b 40 ms later: seq + 1, ts + 3600 */
  lc__rtc_track_switch(&t, &b, 5000, 777777, 9 * 33333 + 40000);
  g_assert_true(lc__rtc_track_map(&t, 5000, 777777, 9 * 33333 + 40000, 100, &seq, &ts));
  g_assert_cmpuint(seq, ==, (uint16_t)(last + 1));
  g_assert_cmpuint(ts, ==, last_ts + 3600);
  g_assert_true(lc__rtc_track_map(&t, 5001, 777777 + 3000, 0, 100, &seq, &ts));
  g_assert_cmpuint(seq, ==, (uint16_t)(last + 2));
  g_assert_cmpuint(ts, ==, last_ts + 6600);
  /* reverse: new source and the previous one */
  const void *src;
  uint16_t in, sd;
  uint32_t td;
  g_assert_true(lc__rtc_track_reverse(&t, (uint16_t)(last + 2), &src, &in, &sd, &td));
  g_assert_true(src == &b);
  g_assert_cmpuint(in, ==, 5001);
  g_assert_true(lc__rtc_track_reverse(&t, last, &src, &in, &sd, &td));
  g_assert_true(src == &a);
  g_assert_cmpuint(in, ==, 65539 & 0xffff);
  g_assert_cmpuint((uint32_t)(1000 + 9 * 3000u + td), ==, last_ts);
  g_assert_false(lc__rtc_track_reverse(&t, (uint16_t)(last + 100), &src, &in, &sd, &td));
}

static void
test_bwe_remb_and_choice(void)
{
  lc__rtc_bwe b;
  lc__rtc_bwe_init(&b, true);
  int rungs[] = {4000, 2500, 1000, 500};
  int64_t now = 10000000;
  g_assert_cmpuint(lc__rtc_bwe_estimate(&b, now), ==, 0);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 1, now, 4000), ==, 1); /* unknown: keep */
  lc__rtc_bwe_on_remb(&b, 1500000, now);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 1, now, 4000), ==, 2); /* down at once */
  lc__rtc_bwe_on_remb(&b, 10000000, now);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 2, now, 4000), ==, 2); /* up: wait */
  lc__rtc_bwe_on_remb(&b, 10000000, now + 4100000);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 2, now + 4100000, 4000), ==, 1); /* one step */
  g_assert_cmpuint(lc__rtc_bwe_estimate(&b, now + 20000000), ==, 0);                /* stale */
  lc__rtc_bwe_clear(&b);
}

/* No REMB/transport-cc (webrtcbin): receiver-report loss moves one rung at a time. */
static void
test_bwe_rr(void)
{
  lc__rtc_bwe b;
  lc__rtc_bwe_init(&b, false);
  int rungs[] = {4000, 2500, 1000};
  int64_t now = 100000000;
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 0, now, 4000), ==, 0);
  lc__rtc_bwe_on_rr(&b, 64, now); /* 25% */
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 0, now, 4000), ==, 1);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 1, now + 500000, 4000), ==, 1); /* not twice in 2 s */
  lc__rtc_bwe_on_rr(&b, 64, now + 2500000);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 1, now + 2500000, 4000), ==, 2);
  for (int i = 0; i < 6; i++)
    lc__rtc_bwe_on_rr(&b, 0, now + 3000000 + i * 1000000);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 2, now + 8000000, 4000), ==, 2); /* starts the hold */
  lc__rtc_bwe_on_rr(&b, 0, now + 18100000);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 3, 2, now + 18100000, 4000), ==, 1);
  lc__rtc_bwe_clear(&b);
}

static void
test_bwe_twcc(void)
{
  lc__rtc_bwe b;
  lc__rtc_bwe_init(&b, true);
  int64_t t0 = 1000000;
  uint16_t first = 0;
  for (int i = 0; i < 100; i++) { /* 100 x 1000 bytes over 100 ms = 8 Mbit/s */
    uint16_t s = lc__rtc_bwe_on_send(&b, 1000, t0 + i * 1000);
    if (i == 0)
      first = s;
  }
  lc__rtc_bwe_twcc_begin(&b);
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_twcc_packet(&b, (uint16_t)(first + i), true, 5000000 + i * 1000);
  lc__rtc_bwe_twcc_end(&b, t0 + 200000);
  uint64_t est = lc__rtc_bwe_estimate(&b, t0 + 200000);
  g_assert_cmpuint(est, >, 8000000); /* no loss: headroom above the receive rate */
  g_assert_cmpuint(est, <, 14000000);
  /* heavy loss: below the rate */
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_on_send(&b, 1000, t0 + 300000 + i * 1000);
  lc__rtc_bwe_twcc_begin(&b);
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_twcc_packet(&b, (uint16_t)(first + 100 + i), i % 3 != 0, 6000000 + i * 1000);
  lc__rtc_bwe_twcc_end(&b, t0 + 400000);
  g_assert_cmpuint(lc__rtc_bwe_estimate(&b, t0 + 400000), <, 6000000);
  lc__rtc_bwe_clear(&b);
}

/* A rung whose stream arrives whole is kept even when transport-cc's receive-rate estimate is
 * under its nominal rate (x264 undershoots; a busy machine drops frames): only congestion moves
 * the viewer down. Chromium on a clean loopback used to step 720p -> 480p -> 360p. */
static void
test_bwe_twcc_keeps_an_uncongested_rung(void)
{
  lc__rtc_bwe b;
  lc__rtc_bwe_init(&b, true);
  const int rungs[] = {4500, 2500, 1200, 600};
  int64_t t = 1000000;
  /* 100 kB sent and received over 800 ms: 1 Mbit/s, no loss, no delay growth */
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_on_send(&b, 1000, t + i * 8000);
  lc__rtc_bwe_twcc_begin(&b);
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_twcc_packet(&b, (uint16_t)(1 + i), true, t + 2000 + i * 8000);
  lc__rtc_bwe_twcc_end(&b, t + 900000);
  uint64_t est = lc__rtc_bwe_estimate(&b, t + 900000);
  g_assert_cmpuint(est, <, 2500000 * 115 / 100); /* the 720p rung "does not fit" by rate alone */
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 1, t + 900000, 4000), ==, 1); /* kept */
  /* the same rate with 5% loss: congestion, down at once */
  t += 1000000;
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_on_send(&b, 1000, t + i * 8000);
  lc__rtc_bwe_twcc_begin(&b);
  for (int i = 0; i < 100; i++)
    lc__rtc_bwe_twcc_packet(&b, (uint16_t)(101 + i), i % 20 != 0, t + 2000 + i * 8000);
  lc__rtc_bwe_twcc_end(&b, t + 900000);
  g_assert_cmpint(lc__rtc_bwe_choose(&b, rungs, 4, 1, t + 900000, 4000), >, 1);
  lc__rtc_bwe_clear(&b);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtc_track/first_source_kept", test_first_source_kept);
  g_test_add_func("/rtc_track/switch_continuous", test_switch_continuous);
  g_test_add_func("/rtc_track/bwe_remb_and_choice", test_bwe_remb_and_choice);
  g_test_add_func("/rtc_track/bwe_twcc", test_bwe_twcc);
  g_test_add_func("/rtc_track/bwe_rr", test_bwe_rr);
  g_test_add_func("/rtc_track/bwe_twcc_keeps_an_uncongested_rung", test_bwe_twcc_keeps_an_uncongested_rung);
  return g_test_run();
}

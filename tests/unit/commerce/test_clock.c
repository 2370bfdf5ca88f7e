/* The manual clock: timers run in deadline order (ties in the order added) with the clock
 * at their deadline, only when advanced; removed timers never run; repeating ones repeat. */
#include "commerce/clock.h"

typedef struct {
  lc_clock *c;
  GString *log;
  guint other; /* a timer the first one cancels */
  int repeats;
} ctx;

static gboolean
mark_a(gpointer p)
{
  ctx *x = p;
  g_string_append_printf(x->log, "a@%" G_GINT64_FORMAT " ", lc_clock_now_ms(x->c));
  lc_clock_source_remove(x->c, x->other);
  return G_SOURCE_REMOVE;
}

static gboolean
mark_b(gpointer p)
{
  ctx *x = p;
  g_string_append_printf(x->log, "b@%" G_GINT64_FORMAT " ", lc_clock_now_ms(x->c));
  return G_SOURCE_REMOVE;
}

static gboolean
chain(gpointer p) /* adds a timer due inside the same advance */
{
  ctx *x = p;
  g_string_append_printf(x->log, "c@%" G_GINT64_FORMAT " ", lc_clock_now_ms(x->c));
  lc_clock_timeout_add(x->c, 5, mark_b, x);
  return G_SOURCE_REMOVE;
}

static gboolean
tick(gpointer p)
{
  ctx *x = p;
  g_string_append_printf(x->log, "t@%" G_GINT64_FORMAT " ", lc_clock_now_ms(x->c));
  return ++x->repeats < 3 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
test_manual_order(void)
{
  ctx x = {lc_clock_manual_new(1000), g_string_new(NULL), 0, 0};
  lc_clock_timeout_add(x.c, 20, mark_b, &x);
  lc_clock_timeout_add(x.c, 10, mark_a, &x);
  x.other = lc_clock_timeout_add(x.c, 15, mark_b, &x); /* cancelled by a at 1010 */
  lc_clock_timeout_add(x.c, 20, chain, &x);
  lc_clock_advance(x.c, 9);
  g_assert_cmpstr(x.log->str, ==, "");
  g_assert_cmpint(lc_clock_now_ms(x.c), ==, 1009);
  lc_clock_advance(x.c, 16);
  g_assert_cmpstr(x.log->str, ==, "a@1010 b@1020 c@1020 b@1025 ");
  g_assert_cmpint(lc_clock_now_ms(x.c), ==, 1025);
  g_assert_cmpint(lc_clock_monotonic_ms(x.c), ==, 1025);
  g_string_truncate(x.log, 0);
  lc_clock_timeout_add(x.c, 10, tick, &x);
  lc_clock_advance(x.c, 100);
  g_assert_cmpstr(x.log->str, ==, "t@1035 t@1045 t@1055 ");
  guint gone = lc_clock_timeout_add(x.c, 1, mark_b, &x);
  lc_clock_source_remove(x.c, gone);
  lc_clock_timeout_add(x.c, 50, mark_b, &x); /* dropped with the clock */
  g_string_truncate(x.log, 0);
  lc_clock_advance(x.c, 10);
  g_assert_cmpstr(x.log->str, ==, "");
  lc_clock_free(x.c);
  g_string_free(x.log, TRUE);
}

static gboolean
quit(gpointer p)
{
  g_main_loop_quit(p);
  return G_SOURCE_REMOVE;
}

static void
test_real(void)
{
  lc_clock *c = lc_clock_real();
  gint64 now = lc_clock_now_ms(c);
  g_assert_cmpint(now, >, 1700000000000);
  lc_clock_advance(c, 1000000); /* no-op */
  g_assert_cmpint(lc_clock_now_ms(c) - now, <, 1000000);
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  gint64 t0 = lc_clock_monotonic_ms(c);
  lc_clock_timeout_add(c, 5, quit, loop);
  g_main_loop_run(loop);
  g_assert_cmpint(lc_clock_monotonic_ms(c) - t0, >=, 5);
  g_main_loop_unref(loop);
  lc_clock_free(c); /* ignored */
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/clock/manual-order", test_manual_order);
  g_test_add_func("/clock/real", test_real);
  return g_test_run();
}

/* The commerce engine's sense of time: the wall clock (fact timestamps, sale windows,
 * order deadlines, mutes, chat intervals) and timers on the GLib main loop (sale
 * start/end, order expiry, throttled broadcasts, the likes journal).
 *
 * The real clock is GLib's (g_get_real_time, g_timeout_add). A manual clock stands
 * still until its owner advances it, then runs the timers that fell due, in deadline
 * order, with "now" at each timer's deadline: what a countdown or an expiry does can
 * be tested in microseconds and without races against the machine's load (the same
 * idea as GstTestClock). Main thread only. */
#pragma once
#include <glib.h>

typedef struct lc_clock lc_clock;

/* The real clock (a shared, stateless object: never freed). */
lc_clock *lc_clock_real(void);
/* A manual clock that reads `start_ms` (ms since the epoch) until advanced. */
lc_clock *lc_clock_manual_new(gint64 start_ms);
/* Frees a manual clock (its pending timers are dropped); NULL and the real clock are ignored. */
void lc_clock_free(lc_clock *c);
/* Moves a manual clock forward by `ms`, running every timer due by then (also those the
 * callbacks add), each with the clock at its deadline. No-op on the real clock. */
void lc_clock_advance(lc_clock *c, gint64 ms);

/* Wall-clock time in ms since the epoch. */
gint64 lc_clock_now_ms(lc_clock *c);
/* Monotonic time in ms (manual clock: the same as now_ms). */
gint64 lc_clock_monotonic_ms(lc_clock *c);
/* Calls fn(data) after `ms` (clamped to 0..G_MAXINT32) on the main loop until it returns
 * G_SOURCE_REMOVE; returns an id > 0 for lc_clock_source_remove. */
guint lc_clock_timeout_add(lc_clock *c, gint64 ms, GSourceFunc fn, gpointer data);
/* Cancels a timer that has not run (or returned G_SOURCE_CONTINUE). */
void lc_clock_source_remove(lc_clock *c, guint id);

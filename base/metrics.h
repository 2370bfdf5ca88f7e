/* Metrics registry rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * Families are created once (main thread, at start-up or when a module starts);
 * updating a metric is lock-free and may happen from any thread. A family is
 * identified by its name; children of one family differ by their label string
 * (e.g. `room="demo"`), which must already be in Prometheus syntax. */
#pragma once
#include <glib.h>

typedef struct lc_metrics lc_metrics;
typedef struct lc_metric lc_metric;

lc_metrics *lc_metrics_new(void);
void lc_metrics_free(lc_metrics *m);

/* Returns the metric (borrowed, lives as long as the registry) for name+labels,
 * creating it on first use. labels may be NULL. Asking for an existing name with
 * another type aborts (programming error). Any thread. */
lc_metric *lc_metrics_counter(lc_metrics *m, const char *name, const char *labels, const char *help);
lc_metric *lc_metrics_gauge(lc_metrics *m, const char *name, const char *labels, const char *help);
/* bounds: ascending upper bounds (the +Inf bucket is implicit); copied. */
lc_metric *lc_metrics_histogram(lc_metrics *m, const char *name, const char *labels, const char *help,
                                const double *bounds, size_t n_bounds);

/* Counter: add a non-negative amount. Gauge: add any amount. Any thread. */
void lc_metric_add(lc_metric *metric, gint64 delta);
/* Counter mirroring a running total kept elsewhere (a module's own counters): moves it forward to
 * total, never back. Any thread (one updater at a time). */
void lc_metric_catch_up(lc_metric *counter, guint64 total);
/* Gauge: set. Any thread. */
void lc_metric_set(lc_metric *metric, gint64 value);
/* Current value of a counter or gauge. Any thread. */
gint64 lc_metric_get(const lc_metric *metric);
/* Histogram: record one observation. Any thread. */
void lc_metric_observe(lc_metric *metric, double value);

/* Renders every family, followed by process_cpu_seconds_total,
 * process_resident_memory_bytes and process_start_time_seconds.
 * Returns a newly allocated string (transfer full). Any thread. */
char *lc_metrics_render(lc_metrics *m);

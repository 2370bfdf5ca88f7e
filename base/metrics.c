/* Metrics registry: families under a mutex, lock-free updates, Prometheus text 0.0.4.
 *
 * Locking: lc_metrics.lock guards the family list, every family's child table and
 * the child arrays. A metric's values (value, buckets, sum_bits) are only touched
 * with __atomic builtins, so updates never take the lock. */
#define LC_LOG_DOMAIN "metrics"
#include "base/metrics.h"
#include "base/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM } metric_type;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

typedef struct family family;

struct lc_metric {
  family *fam;         /* borrowed; the family outlives its children */
  char *labels;        /* "" when none */
  gint64 value;        /* counter / gauge; atomic */
  double *bounds;      /* histogram upper bounds (n_bounds), ascending */
  size_t n_bounds;
  gint64 *buckets;     /* histogram: n_bounds + 1 non-cumulative counts; atomic */
  guint64 sum_bits;    /* histogram: the double sum's bit pattern; atomic CAS */
};

struct family {
  char *name;
  char *help;
  metric_type type;
  GHashTable *children; /* labels -> lc_metric* (owned through `list`) */
  GPtrArray *list;      /* lc_metric*, owns them, sorted by labels at render */
};

struct lc_metrics {
  GMutex lock;
  GPtrArray *families; /* family*, registration order */
  GHashTable *by_name; /* name -> family* (borrowed) */
  double start_time;   /* fallback for process_start_time_seconds */
};

static void
metric_free(gpointer p)
{
  lc_metric *metric = p;
  g_free(metric->labels);
  g_free(metric->bounds);
  g_free(metric->buckets);
  g_free(metric);
}

static void
family_free(gpointer p)
{
  family *f = p;
  g_hash_table_unref(f->children);
  g_ptr_array_unref(f->list);
  g_free(f->name);
  g_free(f->help);
  g_free(f);
}

lc_metrics *
lc_metrics_new(void)
{
  lc_metrics *m = g_new0(lc_metrics, 1);
  g_mutex_init(&m->lock);
  m->families = g_ptr_array_new_with_free_func(family_free);
  m->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  m->start_time = (double)g_get_real_time() / G_USEC_PER_SEC;
  return m;
}

void
lc_metrics_free(lc_metrics *m)
{
  if (!m)
    return;
  g_hash_table_unref(m->by_name);
  g_ptr_array_unref(m->families);
  g_mutex_clear(&m->lock);
  g_free(m);
}

static bool
valid_name(const char *name)
{
  if (!name || !*name)
    return false;
  for (const char *p = name; *p; p++) {
    bool alpha = g_ascii_isalpha(*p) || *p == '_' || *p == ':';
    if (!alpha && !(p != name && g_ascii_isdigit(*p)))
      return false;
  }
  return true;
}

/* Finds or creates name+labels. Programming errors (bad name, type clash, bad
 * bounds) abort: metric names are constants in the code, never outside input. */
static lc_metric *
lookup(lc_metrics *m, metric_type type, const char *name, const char *labels, const char *help,
       const double *bounds, size_t n_bounds)
{
  if (!valid_name(name))
    g_error("metrics: invalid metric name '%s'", name ? name : "(null)");
  for (size_t i = 1; i < n_bounds; i++)
    if (!(bounds[i] > bounds[i - 1]))
      g_error("metrics: histogram %s bounds are not ascending", name);
  if (!labels)
    labels = "";

  g_mutex_lock(&m->lock);
  family *f = g_hash_table_lookup(m->by_name, name);
  if (!f) {
    f = g_new0(family, 1);
    f->name = g_strdup(name);
    f->help = g_strdup(help ? help : "");
    f->type = type;
    f->children = g_hash_table_new(g_str_hash, g_str_equal);
    f->list = g_ptr_array_new_with_free_func(metric_free);
    g_ptr_array_add(m->families, f);
    g_hash_table_insert(m->by_name, f->name, f);
  } else if (f->type != type) {
    g_error("metrics: %s registered as %s, requested as %s", name, type_names[f->type],
            type_names[type]);
  }
  lc_metric *metric = g_hash_table_lookup(f->children, labels);
  if (!metric) {
    metric = g_new0(lc_metric, 1);
    metric->fam = f;
    metric->labels = g_strdup(labels);
    if (type == TYPE_HISTOGRAM) {
      metric->n_bounds = n_bounds;
      metric->bounds = g_memdup2(bounds, n_bounds * sizeof *bounds);
      metric->buckets = g_new0(gint64, n_bounds + 1);
      double zero = 0.0;
      memcpy(&metric->sum_bits, &zero, sizeof zero);
    }
    g_ptr_array_add(f->list, metric);
    g_hash_table_insert(f->children, metric->labels, metric);
  }
  g_mutex_unlock(&m->lock);
  return metric;
}

lc_metric *
lc_metrics_counter(lc_metrics *m, const char *name, const char *labels, const char *help)
{
  return lookup(m, TYPE_COUNTER, name, labels, help, NULL, 0);
}

lc_metric *
lc_metrics_gauge(lc_metrics *m, const char *name, const char *labels, const char *help)
{
  return lookup(m, TYPE_GAUGE, name, labels, help, NULL, 0);
}

lc_metric *
lc_metrics_histogram(lc_metrics *m, const char *name, const char *labels, const char *help,
                     const double *bounds, size_t n_bounds)
{
  return lookup(m, TYPE_HISTOGRAM, name, labels, help, bounds, n_bounds);
}

void
lc_metric_add(lc_metric *metric, gint64 delta)
{
  g_return_if_fail(metric && metric->fam->type != TYPE_HISTOGRAM);
  g_return_if_fail(metric->fam->type != TYPE_COUNTER || delta >= 0);
  __atomic_fetch_add(&metric->value, delta, __ATOMIC_RELAXED);
}

void
lc_metric_set(lc_metric *metric, gint64 value)
{
  g_return_if_fail(metric && metric->fam->type == TYPE_GAUGE);
  __atomic_store_n(&metric->value, value, __ATOMIC_RELAXED);
}

void
lc_metric_catch_up(lc_metric *counter, guint64 total)
{
  gint64 delta = (gint64)total - lc_metric_get(counter);
  if (delta > 0)
    lc_metric_add(counter, delta);
}

gint64
lc_metric_get(const lc_metric *metric)
{
  g_return_val_if_fail(metric && metric->fam->type != TYPE_HISTOGRAM, 0);
  return __atomic_load_n(&metric->value, __ATOMIC_RELAXED);
}

void
lc_metric_observe(lc_metric *metric, double value)
{
  g_return_if_fail(metric && metric->fam->type == TYPE_HISTOGRAM);
  if (isnan(value))
    return; /* would poison the sum forever */
  size_t i = 0;
  while (i < metric->n_bounds && value > metric->bounds[i])
    i++;
  guint64 old = __atomic_load_n(&metric->sum_bits, __ATOMIC_RELAXED);
  for (;;) {
    double sum;
    memcpy(&sum, &old, sizeof sum);
    sum += value;
    guint64 next;
    memcpy(&next, &sum, sizeof next);
    if (__atomic_compare_exchange_n(&metric->sum_bits, &old, next, true, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      break;
  }
  __atomic_fetch_add(&metric->buckets[i], 1, __ATOMIC_RELAXED);
}

/* ---- rendering ---- */

/* Shortest of %.15g / %.17g that reads back as the same double; Prometheus spellings
 * for the infinities and NaN. Locale independent. */
static void
append_double(GString *out, double v)
{
  if (isnan(v)) {
    g_string_append(out, "NaN");
    return;
  }
  if (isinf(v)) {
    g_string_append(out, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(buf, sizeof buf, "%.15g", v);
  if (g_ascii_strtod(buf, NULL) != v)
    g_ascii_formatd(buf, sizeof buf, "%.17g", v);
  g_string_append(out, buf);
}

static void
append_help(GString *out, const char *name, const char *help, const char *type)
{
  g_string_append_printf(out, "# HELP %s ", name);
  for (const char *p = help; *p; p++) {
    if (*p == '\\')
      g_string_append(out, "\\\\");
    else if (*p == '\n')
      g_string_append(out, "\\n");
    else
      g_string_append_c(out, *p);
  }
  g_string_append_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,extra]} (braces left out when both are empty). */
static void
append_series(GString *out, const char *name, const char *suffix, const char *labels,
              const char *extra)
{
  g_string_append(out, name);
  g_string_append(out, suffix);
  if (!*labels && !extra)
    return;
  g_string_append_c(out, '{');
  g_string_append(out, labels);
  if (extra) {
    if (*labels)
      g_string_append_c(out, ',');
    g_string_append(out, extra);
  }
  g_string_append_c(out, '}');
}

static void
render_histogram(GString *out, const family *f, const lc_metric *metric)
{
  gint64 cumulative = 0;
  for (size_t i = 0; i <= metric->n_bounds; i++) {
    cumulative += __atomic_load_n(&metric->buckets[i], __ATOMIC_RELAXED);
    GString *le = g_string_new("le=\"");
    if (i < metric->n_bounds)
      append_double(le, metric->bounds[i]);
    else
      g_string_append(le, "+Inf");
    g_string_append_c(le, '"');
    append_series(out, f->name, "_bucket", metric->labels, le->str);
    g_string_append_printf(out, " %" G_GINT64_FORMAT "\n", cumulative);
    g_string_free(le, TRUE);
  }
  guint64 bits = __atomic_load_n(&metric->sum_bits, __ATOMIC_RELAXED);
  double sum;
  memcpy(&sum, &bits, sizeof sum);
  append_series(out, f->name, "_sum", metric->labels, NULL);
  g_string_append_c(out, ' ');
  append_double(out, sum);
  g_string_append_c(out, '\n');
  /* _count is the sum of the same bucket snapshot, so it always equals le="+Inf". */
  append_series(out, f->name, "_count", metric->labels, NULL);
  g_string_append_printf(out, " %" G_GINT64_FORMAT "\n", cumulative);
}

static int
compare_labels(gconstpointer a, gconstpointer b)
{
  const lc_metric *x = *(const lc_metric *const *)a;
  const lc_metric *y = *(const lc_metric *const *)b;
  return strcmp(x->labels, y->labels);
}

/* Start of this process in seconds since the epoch from /proc, or `fallback`. */
static double
process_start_time(double fallback)
{
  char *stat = NULL, *sys = NULL;
  double result = fallback;
  if (!g_file_get_contents("/proc/self/stat", &stat, NULL, NULL) ||
      !g_file_get_contents("/proc/stat", &sys, NULL, NULL))
    goto fail;
  /* Field 22 (starttime, clock ticks after boot); p starts at the space before field 3. */
  const char *p = strrchr(stat, ')');
  if (!p)
    goto fail;
  p++;
  for (int field = 3; field < 22 && p; field++)
    p = strchr(p + 1, ' ');
  if (!p)
    goto fail;
  unsigned long long ticks = g_ascii_strtoull(p + 1, NULL, 10);
  const char *bt = strstr(sys, "\nbtime ");
  long hz = sysconf(_SC_CLK_TCK);
  if (!bt || hz <= 0)
    goto fail;
  unsigned long long btime = g_ascii_strtoull(bt + 7, NULL, 10);
  result = (double)btime + (double)ticks / (double)hz;
fail:
  g_free(stat);
  g_free(sys);
  return result;
}

static void
render_process(GString *out, double fallback_start)
{
  struct rusage ru;
  double cpu = 0;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  append_help(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              "counter");
  g_string_append(out, "process_cpu_seconds_total ");
  append_double(out, cpu);
  g_string_append_c(out, '\n');

  double rss = 0;
  char *statm = NULL;
  if (g_file_get_contents("/proc/self/statm", &statm, NULL, NULL)) {
    unsigned long long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    if (sscanf(statm, "%llu %llu", &size, &resident) == 2 && page > 0)
      rss = (double)resident * (double)page;
    g_free(statm);
  }
  append_help(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
  g_string_append(out, "process_resident_memory_bytes ");
  append_double(out, rss);
  g_string_append_c(out, '\n');

  append_help(out, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", "gauge");
  g_string_append(out, "process_start_time_seconds ");
  append_double(out, process_start_time(fallback_start));
  g_string_append_c(out, '\n');
}

char *
lc_metrics_render(lc_metrics *m)
{
  GString *out = g_string_sized_new(4096);
  g_mutex_lock(&m->lock);
  for (guint i = 0; i < m->families->len; i++) {
    family *f = g_ptr_array_index(m->families, i);
    append_help(out, f->name, f->help, type_names[f->type]);
    g_ptr_array_sort(f->list, compare_labels);
    for (guint j = 0; j < f->list->len; j++) {
      const lc_metric *metric = g_ptr_array_index(f->list, j);
      if (f->type == TYPE_HISTOGRAM) {
        render_histogram(out, f, metric);
        continue;
      }
      append_series(out, f->name, "", metric->labels, NULL);
      g_string_append_printf(out, " %" G_GINT64_FORMAT "\n",
                             (gint64)__atomic_load_n(&metric->value, __ATOMIC_RELAXED));
    }
  }
  double fallback = m->start_time;
  g_mutex_unlock(&m->lock);
  render_process(out, fallback);
  return g_string_free(out, FALSE);
}

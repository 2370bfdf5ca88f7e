/* Unit tests for base/metrics.c: exact lock-free counting, histogram math, and
 * the rendered Prometheus text parsed back and checked line by line. */
#include "base/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- a small Prometheus text-format parser ---- */

typedef struct {
  char *name;   /* series name, e.g. x_bucket */
  char *labels; /* raw text between the braces, "" when none */
  char *le;     /* value of le="..." or NULL */
  double value;
} sample;

typedef struct {
  GHashTable *types; /* family name -> type */
  GHashTable *helps; /* family name -> help (unescaped) */
  GPtrArray *samples;
  GPtrArray *family_order;
} parsed;

static void
sample_free(gpointer p)
{
  sample *s = p;
  g_free(s->name);
  g_free(s->labels);
  g_free(s->le);
  g_free(s);
}

static void
parsed_free(parsed *p)
{
  g_hash_table_unref(p->types);
  g_hash_table_unref(p->helps);
  g_ptr_array_unref(p->samples);
  g_ptr_array_unref(p->family_order);
  g_free(p);
}

static double
parse_value(const char *s)
{
  if (strcmp(s, "+Inf") == 0)
    return INFINITY;
  if (strcmp(s, "-Inf") == 0)
    return -INFINITY;
  char *end = NULL;
  double v = g_ascii_strtod(s, &end);
  g_assert_true(end != s);
  g_assert_cmpstr(end, ==, "");
  return v;
}

/* The family a sample belongs to: a declared name, or for histograms the name
 * without _bucket/_sum/_count. */
static const char *
family_of(parsed *p, const char *name, char **owned)
{
  *owned = NULL;
  if (g_hash_table_contains(p->types, name))
    return name;
  static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
  for (unsigned i = 0; i < 3; i++) {
    if (g_str_has_suffix(name, suffixes[i])) {
      char *base = g_strndup(name, strlen(name) - strlen(suffixes[i]));
      const char *type = g_hash_table_lookup(p->types, base);
      if (type && strcmp(type, "histogram") == 0) {
        *owned = base;
        return base;
      }
      g_free(base);
    }
  }
  return NULL;
}

static parsed *
parse_text(const char *text)
{
  parsed *p = g_new0(parsed, 1);
  p->types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  p->helps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  p->samples = g_ptr_array_new_with_free_func(sample_free);
  p->family_order = g_ptr_array_new_with_free_func(g_free);
  g_assert_true(g_str_has_suffix(text, "\n"));
  char **lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l; l++) {
    const char *line = *l;
    if (!*line)
      continue;
    if (g_str_has_prefix(line, "# HELP ")) {
      const char *rest = line + 7;
      const char *sp = strchr(rest, ' ');
      g_assert_nonnull(sp);
      GString *help = g_string_new(NULL);
      for (const char *c = sp + 1; *c; c++) {
        if (*c == '\\') {
          c++;
          g_assert_true(*c == '\\' || *c == 'n');
          g_string_append_c(help, *c == 'n' ? '\n' : '\\');
        } else {
          g_string_append_c(help, *c);
        }
      }
      g_hash_table_insert(p->helps, g_strndup(rest, (gsize)(sp - rest)), g_string_free(help, FALSE));
      continue;
    }
    if (g_str_has_prefix(line, "# TYPE ")) {
      char **parts = g_strsplit(line + 7, " ", -1);
      g_assert_cmpuint(g_strv_length(parts), ==, 2);
      g_assert_true(strcmp(parts[1], "counter") == 0 || strcmp(parts[1], "gauge") == 0 ||
                    strcmp(parts[1], "histogram") == 0);
      /* HELP comes right before its TYPE; a family is declared once. */
      g_assert_true(g_hash_table_contains(p->helps, parts[0]));
      g_assert_false(g_hash_table_contains(p->types, parts[0]));
      g_hash_table_insert(p->types, g_strdup(parts[0]), g_strdup(parts[1]));
      g_ptr_array_add(p->family_order, g_strdup(parts[0]));
      g_strfreev(parts);
      continue;
    }
    g_assert_true(line[0] != '#');
    sample *s = g_new0(sample, 1);
    const char *c = line;
    while (g_ascii_isalnum(*c) || *c == '_' || *c == ':')
      c++;
    s->name = g_strndup(line, (gsize)(c - line));
    g_assert_cmpuint(strlen(s->name), >, 0);
    if (*c == '{') {
      const char *close = strchr(c, '}');
      g_assert_nonnull(close);
      s->labels = g_strndup(c + 1, (gsize)(close - c - 1));
      const char *le = strstr(s->labels, "le=\"");
      if (le) {
        const char *q = strchr(le + 4, '"');
        g_assert_nonnull(q);
        s->le = g_strndup(le + 4, (gsize)(q - le - 4));
      }
      c = close + 1;
    } else {
      s->labels = g_strdup("");
    }
    g_assert_cmpint(*c, ==, ' ');
    s->value = parse_value(c + 1);
    char *owned = NULL;
    const char *fam = family_of(p, s->name, &owned);
    if (!fam)
      g_error("sample %s has no declared family", s->name);
    g_free(owned);
    g_ptr_array_add(p->samples, s);
  }
  g_strfreev(lines);
  return p;
}

/* Strips ,le="..." / le="..." from a label string so bucket series can be grouped. */
static char *
labels_without_le(const char *labels)
{
  const char *le = strstr(labels, "le=\"");
  if (!le)
    return g_strdup(labels);
  GString *s = g_string_new_len(labels, le - labels);
  if (s->len && s->str[s->len - 1] == ',')
    g_string_truncate(s, s->len - 1);
  const char *q = strchr(le + 4, '"');
  const char *after = q + 1;
  if (*after == ',')
    after++;
  if (*after && s->len)
    g_string_append_c(s, ',');
  g_string_append(s, after);
  return g_string_free(s, FALSE);
}

/* Every histogram series: cumulative buckets, ascending le, ending with +Inf == _count. */
static void
check_histograms(parsed *p)
{
  guint checked = 0;
  for (guint i = 0; i < p->samples->len; i++) {
    sample *s = g_ptr_array_index(p->samples, i);
    if (!g_str_has_suffix(s->name, "_count"))
      continue;
    char *owned = NULL;
    const char *fam = family_of(p, s->name, &owned);
    if (!owned)
      continue;
    char *bucket_name = g_strconcat(fam, "_bucket", NULL);
    double prev_le = -INFINITY, prev_count = -1, last_le = 0, last_count = -1;
    guint n = 0;
    for (guint j = 0; j < p->samples->len; j++) {
      sample *b = g_ptr_array_index(p->samples, j);
      if (strcmp(b->name, bucket_name) != 0)
        continue;
      char *bl = labels_without_le(b->labels);
      bool same = strcmp(bl, s->labels) == 0;
      g_free(bl);
      if (!same)
        continue;
      g_assert_nonnull(b->le);
      double le = parse_value(b->le);
      g_assert_cmpfloat(le, >, prev_le);
      g_assert_cmpfloat(b->value, >=, prev_count);
      prev_le = last_le = le;
      prev_count = last_count = b->value;
      n++;
    }
    g_assert_cmpuint(n, >=, 1);
    g_assert_true(isinf(last_le) && last_le > 0);
    g_assert_cmpfloat(last_count, ==, s->value);
    checked++;
    g_free(bucket_name);
    g_free(owned);
  }
  (void)checked;
}

static const sample *
find_sample(parsed *p, const char *name, const char *labels)
{
  for (guint i = 0; i < p->samples->len; i++) {
    const sample *s = g_ptr_array_index(p->samples, i);
    if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
      return s;
  }
  return NULL;
}

/* ---- tests ---- */

#define THREADS 4
#define ADDS 100000

static gpointer
adder(gpointer data)
{
  lc_metric **pair = data;
  for (int i = 0; i < ADDS; i++) {
    lc_metric_add(pair[0], 1);
    lc_metric_add(pair[1], (i & 1) ? 1 : -1);
    lc_metric_observe(pair[2], 0.5);
  }
  return NULL;
}

static void
test_threads_exact(void)
{
  lc_metrics *m = lc_metrics_new();
  static const double b[] = {1.0};
  lc_metric *pair[3] = {
      lc_metrics_counter(m, "t_total", NULL, "adds"),
      lc_metrics_gauge(m, "t_gauge", NULL, "up and down"),
      lc_metrics_histogram(m, "t_seconds", NULL, "halves", b, 1),
  };
  GThread *th[THREADS];
  for (int i = 0; i < THREADS; i++)
    th[i] = g_thread_new("adder", adder, pair);
  for (int i = 0; i < THREADS; i++)
    g_thread_join(th[i]);
  g_assert_cmpint(lc_metric_get(pair[0]), ==, (gint64)THREADS * ADDS);
  g_assert_cmpint(lc_metric_get(pair[1]), ==, 0);

  char *text = lc_metrics_render(m);
  parsed *p = parse_text(text);
  g_assert_cmpfloat(find_sample(p, "t_total", "")->value, ==, THREADS * ADDS);
  g_assert_cmpfloat(find_sample(p, "t_seconds_count", "")->value, ==, THREADS * ADDS);
  /* 0.5 is exact in binary, so the CAS-summed double is exact too. */
  g_assert_cmpfloat(find_sample(p, "t_seconds_sum", "")->value, ==, THREADS * ADDS * 0.5);
  check_histograms(p);
  parsed_free(p);
  g_free(text);
  lc_metrics_free(m);
}

static void
test_same_metric_returned(void)
{
  lc_metrics *m = lc_metrics_new();
  lc_metric *a = lc_metrics_counter(m, "x_total", "k=\"a\"", "x");
  lc_metric *a2 = lc_metrics_counter(m, "x_total", "k=\"a\"", "other help ignored");
  lc_metric *b = lc_metrics_counter(m, "x_total", "k=\"b\"", "x");
  g_assert_true(a == a2);
  g_assert_true(a != b);
  lc_metric_add(a, 3);
  lc_metric_add(a2, 4);
  g_assert_cmpint(lc_metric_get(a), ==, 7);
  g_assert_cmpint(lc_metric_get(b), ==, 0);
  lc_metric *g = lc_metrics_gauge(m, "g", NULL, "g");
  lc_metric_set(g, -42);
  g_assert_cmpint(lc_metric_get(g), ==, -42);
  lc_metric_add(g, 2);
  g_assert_cmpint(lc_metric_get(g), ==, -40);
  lc_metrics_free(m);
}

static void
test_histogram_math(void)
{
  lc_metrics *m = lc_metrics_new();
  static const double b[] = {0.005, 0.1, 1, 10};
  lc_metric *h = lc_metrics_histogram(m, "lat_seconds", "room=\"r1\"", "latency", b, 4);
  /* boundaries are inclusive (le): 0.005 goes to the first bucket. */
  const double obs[] = {0.001, 0.005, 0.05, 0.1, 0.5, 5, 50, 1000};
  double sum = 0;
  for (unsigned i = 0; i < G_N_ELEMENTS(obs); i++) {
    lc_metric_observe(h, obs[i]);
    sum += obs[i];
  }
  char *text = lc_metrics_render(m);
  parsed *p = parse_text(text);
  struct {
    const char *labels;
    double count;
  } want[] = {
      {"room=\"r1\",le=\"0.005\"", 2}, {"room=\"r1\",le=\"0.1\"", 4}, {"room=\"r1\",le=\"1\"", 5},
      {"room=\"r1\",le=\"10\"", 6},    {"room=\"r1\",le=\"+Inf\"", 8},
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
    const sample *s = find_sample(p, "lat_seconds_bucket", want[i].labels);
    g_assert_nonnull(s);
    g_assert_cmpfloat(s->value, ==, want[i].count);
  }
  g_assert_cmpfloat(find_sample(p, "lat_seconds_count", "room=\"r1\"")->value, ==, 8);
  g_assert_cmpfloat_with_epsilon(find_sample(p, "lat_seconds_sum", "room=\"r1\"")->value, sum, 1e-9);
  g_assert_cmpstr(g_hash_table_lookup(p->types, "lat_seconds"), ==, "histogram");
  check_histograms(p);
  parsed_free(p);
  g_free(text);

  /* Without labels: only le inside the braces. */
  lc_metric *h2 = lc_metrics_histogram(m, "size_bytes", NULL, "sizes", b, 4);
  lc_metric_observe(h2, 3);
  text = lc_metrics_render(m);
  p = parse_text(text);
  g_assert_cmpfloat(find_sample(p, "size_bytes_bucket", "le=\"1\"")->value, ==, 0);
  g_assert_cmpfloat(find_sample(p, "size_bytes_bucket", "le=\"10\"")->value, ==, 1);
  g_assert_cmpfloat(find_sample(p, "size_bytes_sum", "")->value, ==, 3);
  check_histograms(p);
  parsed_free(p);
  g_free(text);
  lc_metrics_free(m);
}

static void
test_render_format(void)
{
  lc_metrics *m = lc_metrics_new();
  lc_metric *c = lc_metrics_counter(m, "b_requests_total", "code=\"500\"", "Requests.\nBy code \\ class");
  lc_metrics_counter(m, "b_requests_total", "code=\"200\"", NULL);
  lc_metric *g = lc_metrics_gauge(m, "a_rooms", NULL, "Rooms");
  lc_metric *n = lc_metrics_gauge(m, "ns:x_y1", NULL, "colon name");
  lc_metric_add(c, 5);
  lc_metric_set(g, 3);
  lc_metric_set(n, G_MININT64 + 1);
  char *text = lc_metrics_render(m);
  parsed *p = parse_text(text);

  /* Registration order of families; children sorted by labels. */
  g_assert_cmpstr(g_ptr_array_index(p->family_order, 0), ==, "b_requests_total");
  g_assert_cmpstr(g_ptr_array_index(p->family_order, 1), ==, "a_rooms");
  g_assert_cmpstr(g_ptr_array_index(p->family_order, 2), ==, "ns:x_y1");
  const char *first = strstr(text, "b_requests_total{code=\"200\"} 0\n");
  const char *second = strstr(text, "b_requests_total{code=\"500\"} 5\n");
  g_assert_nonnull(first);
  g_assert_nonnull(second);
  g_assert_true(first < second);
  g_assert_nonnull(strstr(text, "# HELP b_requests_total Requests.\\nBy code \\\\ class\n"));
  g_assert_cmpstr(g_hash_table_lookup(p->helps, "b_requests_total"), ==, "Requests.\nBy code \\ class");
  g_assert_cmpfloat(find_sample(p, "a_rooms", "")->value, ==, 3);
  g_assert_cmpstr(g_hash_table_lookup(p->types, "a_rooms"), ==, "gauge");
  g_assert_cmpstr(g_hash_table_lookup(p->types, "b_requests_total"), ==, "counter");

  /* Process metrics, plausible values. */
  const sample *cpu = find_sample(p, "process_cpu_seconds_total", "");
  const sample *rss = find_sample(p, "process_resident_memory_bytes", "");
  const sample *start = find_sample(p, "process_start_time_seconds", "");
  g_assert_nonnull(cpu);
  g_assert_nonnull(rss);
  g_assert_nonnull(start);
  g_assert_cmpfloat(cpu->value, >=, 0);
  g_assert_cmpfloat(rss->value, >, 1024 * 1024);
  double now = (double)g_get_real_time() / G_USEC_PER_SEC;
  g_assert_cmpfloat(start->value, <=, now + 1);
  g_assert_cmpfloat(start->value, >, now - 120); /* this test process started moments ago */
  g_assert_cmpstr(g_hash_table_lookup(p->types, "process_cpu_seconds_total"), ==, "counter");
  g_assert_cmpstr(g_hash_table_lookup(p->types, "process_resident_memory_bytes"), ==, "gauge");
  parsed_free(p);
  g_free(text);
  lc_metrics_free(m);
}

static void
test_empty_registry(void)
{
  lc_metrics *m = lc_metrics_new();
  char *text = lc_metrics_render(m);
  parsed *p = parse_text(text);
  g_assert_cmpuint(p->family_order->len, ==, 3);
  g_assert_cmpuint(p->samples->len, ==, 3);
  parsed_free(p);
  g_free(text);
  lc_metrics_free(NULL);
  lc_metrics_free(m);
}

static void
test_bad_name_aborts(void)
{
  if (g_test_subprocess()) {
    lc_metrics *m = lc_metrics_new();
    lc_metrics_counter(m, "9starts_with_digit", NULL, "x");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
  g_test_trap_assert_stderr("*invalid metric name*");
}

static void
test_type_clash_aborts(void)
{
  if (g_test_subprocess()) {
    lc_metrics *m = lc_metrics_new();
    lc_metrics_counter(m, "clash", NULL, "x");
    lc_metrics_gauge(m, "clash", NULL, "x");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
  g_test_trap_assert_stderr("*registered as counter*");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/metrics/threads-exact", test_threads_exact);
  g_test_add_func("/metrics/same-metric", test_same_metric_returned);
  g_test_add_func("/metrics/histogram-math", test_histogram_math);
  g_test_add_func("/metrics/render-format", test_render_format);
  g_test_add_func("/metrics/empty", test_empty_registry);
  g_test_add_func("/metrics/bad-name-aborts", test_bad_name_aborts);
  g_test_add_func("/metrics/type-clash-aborts", test_type_clash_aborts);
  return g_test_run();
}

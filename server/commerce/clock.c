/* Real and manual clocks (see clock.h). */
#include "commerce/clock.h"

#include <stdbool.h>

typedef struct {
  guint id;
  gint64 due;      /* ms on the clock */
  gint64 interval; /* for G_SOURCE_CONTINUE */
  GSourceFunc fn;
  gpointer data;
} timer;

struct lc_clock {
  bool manual;
  gint64 now; /* manual: ms since the epoch */
  guint next_id;
  GList *timers; /* timer*, by (due, id): equal deadlines run in the order they were added */
};

static lc_clock real_clock = {0};

lc_clock *
lc_clock_real(void)
{
  return &real_clock;
}

lc_clock *
lc_clock_manual_new(gint64 start_ms)
{
  lc_clock *c = g_new0(lc_clock, 1);
  c->manual = true;
  c->now = start_ms;
  return c;
}

void
lc_clock_free(lc_clock *c)
{
  if (!c || !c->manual)
    return;
  g_list_free_full(c->timers, g_free);
  g_free(c);
}

gint64
lc_clock_now_ms(lc_clock *c)
{
  return c && c->manual ? c->now : g_get_real_time() / 1000;
}

gint64
lc_clock_monotonic_ms(lc_clock *c)
{
  return c && c->manual ? c->now : g_get_monotonic_time() / 1000;
}

static gint
timer_cmp(gconstpointer a, gconstpointer b)
{
  const timer *x = a, *y = b;
  if (x->due != y->due)
    return x->due < y->due ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

guint
lc_clock_timeout_add(lc_clock *c, gint64 ms, GSourceFunc fn, gpointer data)
{
  ms = CLAMP(ms, 0, (gint64)G_MAXINT32);
  if (!c || !c->manual)
    return g_timeout_add((guint)ms, fn, data);
  timer *t = g_new0(timer, 1);
  t->id = ++c->next_id;
  t->due = c->now + ms;
  t->interval = ms;
  t->fn = fn;
  t->data = data;
  c->timers = g_list_insert_sorted(c->timers, t, timer_cmp);
  return t->id;
}

void
lc_clock_source_remove(lc_clock *c, guint id)
{
  if (!c || !c->manual) {
    g_source_remove(id);
    return;
  }
  for (GList *l = c->timers; l; l = l->next)
    if (((timer *)l->data)->id == id) {
      g_free(l->data);
      c->timers = g_list_delete_link(c->timers, l);
      return;
    }
}

void
lc_clock_advance(lc_clock *c, gint64 ms)
{
  if (!c || !c->manual || ms < 0)
    return;
  gint64 until = c->now + ms;
  timer *t;
  while (c->timers && (t = c->timers->data)->due <= until) {
    c->timers = g_list_delete_link(c->timers, c->timers);
    c->now = MAX(c->now, t->due);
    if (t->fn(t->data) == G_SOURCE_CONTINUE) {
      t->due = c->now + MAX(t->interval, 1);
      c->timers = g_list_insert_sorted(c->timers, t, timer_cmp);
    } else {
      g_free(t);
    }
  }
  c->now = until;
}

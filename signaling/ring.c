/* The history ring (ring.h): a fixed array used circularly, start = the oldest event. */
#include "signaling/ring.h"

typedef struct {
  gint64 seq;
  gpointer item;
} slot;

struct lc_ring {
  slot *slots;
  guint cap;
  guint start, len;
  GDestroyNotify free_item;
};

lc_ring *
lc_ring_new(guint capacity, GDestroyNotify free_item)
{
  lc_ring *r = g_new0(lc_ring, 1);
  r->cap = MAX(capacity, 1);
  r->slots = g_new0(slot, r->cap);
  r->free_item = free_item;
  return r;
}

void
lc_ring_clear(lc_ring *r)
{
  for (guint i = 0; i < r->len; i++) {
    slot *s = &r->slots[(r->start + i) % r->cap];
    if (r->free_item)
      r->free_item(s->item);
    s->item = NULL;
  }
  r->start = r->len = 0;
}

void
lc_ring_free(lc_ring *r)
{
  if (!r)
    return;
  lc_ring_clear(r);
  g_free(r->slots);
  g_free(r);
}

void
lc_ring_push(lc_ring *r, gint64 seq, gpointer item)
{
  if (r->len == r->cap) {
    slot *oldest = &r->slots[r->start];
    if (r->free_item)
      r->free_item(oldest->item);
    oldest->item = NULL;
    r->start = (r->start + 1) % r->cap;
    r->len--;
  }
  slot *s = &r->slots[(r->start + r->len) % r->cap];
  s->seq = seq;
  s->item = item;
  r->len++;
}

guint
lc_ring_length(const lc_ring *r)
{
  return r->len;
}

bool
lc_ring_covers(const lc_ring *r, gint64 after, gint64 current)
{
  if (after > current)
    return false;
  return after == current || (r->len > 0 && r->slots[r->start].seq <= after + 1);
}

guint
lc_ring_foreach_after(const lc_ring *r, gint64 after, bool (*fn)(gint64 seq, gpointer item, gpointer user),
                      gpointer user)
{
  guint n = 0;
  for (guint i = 0; i < r->len; i++) {
    const slot *s = &r->slots[(r->start + i) % r->cap];
    if (s->seq <= after)
      continue;
    if (!fn(s->seq, s->item, user))
      break;
    n++;
  }
  return n;
}

/* The show channel's history ring: the last `capacity` room-wide events of a room, each
 * kept with its sequence number, so that a viewer who reconnects with the seq it last saw
 * gets exactly what it missed (docs/protocol.md, resume) instead of a snapshot. Items are
 * opaque to the ring (session.c keeps shared lc_ws_msg buffers). Pure, no I/O; not
 * thread-safe (session.c: main thread only). */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct lc_ring lc_ring;

/* capacity: events kept (0 counts as 1). free_item releases an item the ring lets go of
 * (dropped as the oldest, cleared, freed); NULL when items need no release. */
lc_ring *lc_ring_new(guint capacity, GDestroyNotify free_item);
/* Releases every item and the ring. NULL ok. */
void lc_ring_free(lc_ring *r);
/* Releases every item (a new epoch: the old events mean nothing to a resume). */
void lc_ring_clear(lc_ring *r);
/* Appends item (transfer full) as event seq; when full, the oldest event is released
 * first. seq must be larger than every seq in the ring. */
void lc_ring_push(lc_ring *r, gint64 seq, gpointer item);
/* Events held. */
guint lc_ring_length(const lc_ring *r);
/* True when a client that saw every event up to `after` can be brought to `current` (the
 * stream's latest seq) from the ring alone: nothing is missing (after == current), or
 * the oldest event kept is at most after + 1. False for after > current (a client ahead
 * of the stream has seen another history). */
bool lc_ring_covers(const lc_ring *r, gint64 after, gint64 current);
/* Calls fn(seq, item, user) (item borrowed) for the events with seq > after, oldest
 * first, until fn returns false. Returns how many calls returned true. */
guint lc_ring_foreach_after(const lc_ring *r, gint64 after,
                            bool (*fn)(gint64 seq, gpointer item, gpointer user), gpointer user);

/* Unit tests for signaling/ring.c, the history ring that resume replays from: what it
 * keeps when full, when a resume is possible (covers), what is replayed (foreach_after),
 * and that every item it lets go of is released exactly once. */
#include "signaling/ring.h"

/* Items are counted boxes: `released` tells the test which ones the ring let go of. */
typedef struct {
  gint64 seq;
  int *released; /* per-seq release count, owned by the test */
} item;

static item *
item_new(gint64 seq, int *released)
{
  item *it = g_new0(item, 1);
  it->seq = seq;
  it->released = released;
  return it;
}

static void
item_free(gpointer p)
{
  item *it = p;
  it->released[it->seq]++;
  g_free(it);
}

typedef struct {
  GArray *seqs;
  guint stop_after; /* 0: never stop */
} collect_ctx;

static bool
collect(gint64 seq, gpointer p, gpointer user)
{
  collect_ctx *ctx = user;
  item *it = p;
  if (it) /* NULL in the tests whose items are not boxes */
    g_assert_cmpint(it->seq, ==, seq); /* the item given with that seq */
  if (ctx->stop_after && ctx->seqs->len == ctx->stop_after)
    return false;
  g_array_append_val(ctx->seqs, seq);
  return true;
}

/* The seqs replayed after `after`, as "a,b,c". */
static char *
replay(lc_ring *r, gint64 after, guint stop_after)
{
  collect_ctx ctx = {g_array_new(FALSE, FALSE, sizeof(gint64)), stop_after};
  guint n = lc_ring_foreach_after(r, after, collect, &ctx);
  g_assert_cmpuint(n, ==, ctx.seqs->len);
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < ctx.seqs->len; i++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? "," : "", g_array_index(ctx.seqs, gint64, i));
  g_array_free(ctx.seqs, TRUE);
  return g_string_free(s, FALSE);
}

#define ASSERT_REPLAY(r, after, expect)                                                            \
  do {                                                                                             \
    char *got_ = replay((r), (after), 0);                                                          \
    g_assert_cmpstr(got_, ==, (expect));                                                           \
    g_free(got_);                                                                                  \
  } while (0)

static void
test_keeps_the_last_capacity_events(void)
{
  int released[32] = {0};
  lc_ring *r = lc_ring_new(4, item_free);
  g_assert_cmpuint(lc_ring_length(r), ==, 0);
  ASSERT_REPLAY(r, 0, "");
  for (gint64 seq = 1; seq <= 3; seq++)
    lc_ring_push(r, seq, item_new(seq, released));
  g_assert_cmpuint(lc_ring_length(r), ==, 3);
  ASSERT_REPLAY(r, 0, "1,2,3");
  for (gint64 seq = 4; seq <= 10; seq++)
    lc_ring_push(r, seq, item_new(seq, released));
  g_assert_cmpuint(lc_ring_length(r), ==, 4);
  ASSERT_REPLAY(r, 0, "7,8,9,10"); /* wrapped around: oldest first */
  ASSERT_REPLAY(r, 8, "9,10");
  ASSERT_REPLAY(r, 10, "");
  ASSERT_REPLAY(r, 99, "");
  /* the dropped ones were released once, the kept ones not yet */
  for (int seq = 1; seq <= 6; seq++)
    g_assert_cmpint(released[seq], ==, 1);
  for (int seq = 7; seq <= 10; seq++)
    g_assert_cmpint(released[seq], ==, 0);
  lc_ring_free(r);
  for (int seq = 1; seq <= 10; seq++)
    g_assert_cmpint(released[seq], ==, 1);
  lc_ring_free(NULL);
}

static void
test_capacity_one_and_zero(void)
{
  for (guint cap = 0; cap <= 1; cap++) {
    int released[8] = {0};
    lc_ring *r = lc_ring_new(cap, item_free);
    lc_ring_push(r, 1, item_new(1, released));
    lc_ring_push(r, 2, item_new(2, released));
    g_assert_cmpuint(lc_ring_length(r), ==, 1);
    ASSERT_REPLAY(r, 0, "2");
    g_assert_true(lc_ring_covers(r, 1, 2));
    g_assert_false(lc_ring_covers(r, 0, 2));
    g_assert_cmpint(released[1], ==, 1);
    lc_ring_free(r);
    g_assert_cmpint(released[2], ==, 1);
  }
}

static void
test_clear(void)
{
  int released[8] = {0};
  lc_ring *r = lc_ring_new(3, item_free);
  for (gint64 seq = 1; seq <= 5; seq++)
    lc_ring_push(r, seq, item_new(seq, released));
  lc_ring_clear(r);
  g_assert_cmpuint(lc_ring_length(r), ==, 0);
  for (int seq = 1; seq <= 5; seq++)
    g_assert_cmpint(released[seq], ==, 1);
  ASSERT_REPLAY(r, 0, "");
  /* a new epoch starts over from seq 1, in a ring whose start was mid-array */
  lc_ring_push(r, 1, item_new(6, released)); /* item 6 stands for the new epoch's seq 1 */
  g_assert_cmpuint(lc_ring_length(r), ==, 1);
  lc_ring_clear(r);
  g_assert_cmpint(released[6], ==, 1);
  lc_ring_clear(r); /* twice: nothing more released */
  g_assert_cmpint(released[6], ==, 1);
  lc_ring_free(r);
  for (int seq = 1; seq <= 6; seq++)
    g_assert_cmpint(released[seq], ==, 1);
}

static bool
noop(gint64 seq, gpointer p, gpointer user)
{
  (void)seq, (void)p, (void)user;
  return true;
}

static void
test_covers(void)
{
  lc_ring *r = lc_ring_new(3, NULL); /* items need no release */
  /* empty ring: only a client that has seen everything resumes */
  g_assert_true(lc_ring_covers(r, 0, 0));
  g_assert_true(lc_ring_covers(r, 5, 5));
  g_assert_false(lc_ring_covers(r, 4, 5));
  g_assert_false(lc_ring_covers(r, 6, 5)); /* ahead of the stream */
  for (gint64 seq = 1; seq <= 3; seq++)
    lc_ring_push(r, seq, NULL);
  /* holds 1..3, the stream is at 3 */
  g_assert_true(lc_ring_covers(r, 0, 3)); /* missed 1..3, all kept */
  g_assert_true(lc_ring_covers(r, 2, 3));
  g_assert_true(lc_ring_covers(r, 3, 3));
  g_assert_false(lc_ring_covers(r, 4, 3));
  g_assert_false(lc_ring_covers(r, -1, 3)); /* would need seq 0 */
  lc_ring_push(r, 4, NULL);
  lc_ring_push(r, 5, NULL);
  /* holds 3..5 */
  g_assert_false(lc_ring_covers(r, 0, 5));
  g_assert_false(lc_ring_covers(r, 1, 5)); /* seq 2 is gone: snapshot */
  g_assert_true(lc_ring_covers(r, 2, 5));  /* oldest kept (3) == after + 1 */
  g_assert_true(lc_ring_covers(r, 4, 5));
  g_assert_true(lc_ring_covers(r, 5, 5));
  g_assert_false(lc_ring_covers(r, 6, 5));
  g_assert_false(lc_ring_covers(r, G_MAXINT64, 5));
  g_assert_false(lc_ring_covers(r, G_MININT64 + 1, 5));
  g_assert_cmpuint(lc_ring_foreach_after(r, 2, noop, NULL), ==, 3);
  lc_ring_free(r);
}

static void
test_replay_stops_when_told(void)
{
  int released[16] = {0};
  lc_ring *r = lc_ring_new(8, item_free);
  for (gint64 seq = 1; seq <= 6; seq++)
    lc_ring_push(r, seq, item_new(seq, released));
  /* the sender stops when its connection closes mid-replay */
  char *got = replay(r, 1, 2);
  g_assert_cmpstr(got, ==, "2,3");
  g_free(got);
  got = replay(r, 4, 1);
  g_assert_cmpstr(got, ==, "5");
  g_free(got);
  /* replay does not consume: the events stay for the next client */
  ASSERT_REPLAY(r, 0, "1,2,3,4,5,6");
  g_assert_cmpuint(lc_ring_length(r), ==, 6);
  for (int seq = 1; seq <= 6; seq++)
    g_assert_cmpint(released[seq], ==, 0);
  lc_ring_free(r);
}

/* Seqs with gaps (the stream's numbering, not the ring's, decides): replay is by value. */
static void
test_sparse_seqs(void)
{
  lc_ring *r = lc_ring_new(4, NULL);
  static const gint64 seqs[] = {10, 20, 21, 40, 41};
  for (size_t i = 0; i < G_N_ELEMENTS(seqs); i++)
    lc_ring_push(r, seqs[i], NULL);
  ASSERT_REPLAY(r, 0, "20,21,40,41");
  ASSERT_REPLAY(r, 20, "21,40,41");
  ASSERT_REPLAY(r, 30, "40,41");
  g_assert_true(lc_ring_covers(r, 19, 41));
  g_assert_false(lc_ring_covers(r, 18, 41));
  lc_ring_free(r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ring/keeps-last", test_keeps_the_last_capacity_events);
  g_test_add_func("/ring/capacity-one", test_capacity_one_and_zero);
  g_test_add_func("/ring/clear", test_clear);
  g_test_add_func("/ring/covers", test_covers);
  g_test_add_func("/ring/replay-stops", test_replay_stops_when_told);
  g_test_add_func("/ring/sparse", test_sparse_seqs);
  return g_test_run();
}

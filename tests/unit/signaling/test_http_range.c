/* Unit tests for signaling/http_range.c: the Range header against a representation size
 * (RFC 9110 14.1.2, 14.2): the three forms of a single byte range, clipping, what is
 * unsatisfiable (416) and what is ignored (the whole file: other units, malformed values,
 * several ranges). */
#include <string.h>

#include "signaling/http_internal.h"

typedef struct {
  const char *value;
  gint64 size;
  lc__http_range_kind kind;
  gint64 first, last; /* for LC__HTTP_RANGE_OK */
} range_case;

#define OK LC__HTTP_RANGE_OK
#define NONE LC__HTTP_RANGE_NONE
#define UNSAT LC__HTTP_RANGE_UNSATISFIABLE

static const range_case cases[] = {
    /* the three forms */
    {"bytes=0-499", 1000, OK, 0, 499},
    {"bytes=500-999", 1000, OK, 500, 999},
    {"bytes=500-", 1000, OK, 500, 999},
    {"bytes=-200", 1000, OK, 800, 999},
    {"bytes=0-0", 1000, OK, 0, 0},
    {"bytes=999-999", 1000, OK, 999, 999},
    /* clipping to the representation */
    {"bytes=900-5000", 1000, OK, 900, 999},
    {"bytes=-5000", 1000, OK, 0, 999},
    {"bytes=0-99999999999999999999999", 1000, OK, 0, 999},
    {"bytes=-99999999999999999999999", 1000, OK, 0, 999},
    {"bytes=0-", 1, OK, 0, 0},
    {"bytes=-1", 1, OK, 0, 0},
    /* spelling the RFC allows */
    {"Bytes=1-2", 1000, OK, 1, 2},
    {"BYTES=1-2", 1000, OK, 1, 2},
    {"bytes= 1-2 ", 1000, OK, 1, 2},
    {"bytes=1-2,", 1000, OK, 1, 2},
    {"bytes=,1-2", 1000, OK, 1, 2},
    {"bytes=\t1-2\t, ,", 1000, OK, 1, 2},
    {" bytes=1-2", 1000, OK, 1, 2},
    {"bytes=007-010", 1000, OK, 7, 10},
    /* unsatisfiable: 416 */
    {"bytes=1000-", 1000, UNSAT, 0, 0},
    {"bytes=1000-2000", 1000, UNSAT, 0, 0},
    {"bytes=99999999999999999999999-", 1000, UNSAT, 0, 0},
    {"bytes=-0", 1000, UNSAT, 0, 0},
    {"bytes=0-", 0, UNSAT, 0, 0},
    {"bytes=0-0", 0, UNSAT, 0, 0},
    /* ignored: the whole file */
    {"", 1000, NONE, 0, 0},
    {"bytes=", 1000, NONE, 0, 0},
    {"bytes= , ", 1000, NONE, 0, 0},
    {"bytes=-", 1000, NONE, 0, 0},
    {"bytes=5-1", 1000, NONE, 0, 0},
    {"bytes=0-1,5-6", 1000, NONE, 0, 0},
    {"bytes=0-1,-1", 1000, NONE, 0, 0},
    {"bytes=0-1,2000-3000", 1000, NONE, 0, 0},
    {"items=0-1", 1000, NONE, 0, 0},
    {"bytes 0-1", 1000, NONE, 0, 0},
    {"bytes =0-1", 1000, NONE, 0, 0},
    {"bytes=0 -1", 1000, NONE, 0, 0},
    {"bytes=0- 1", 1000, NONE, 0, 0},
    {"bytes=+1-2", 1000, NONE, 0, 0},
    {"bytes=1-+2", 1000, NONE, 0, 0},
    {"bytes=0x10-", 1000, NONE, 0, 0},
    {"bytes=1-2-3", 1000, NONE, 0, 0},
    {"bytes=--1", 1000, NONE, 0, 0},
    {"bytes=1", 1000, NONE, 0, 0},
    {"bytes=a-b", 1000, NONE, 0, 0},
    {"bytes=-1", 0, NONE, 0, 0},   /* the end of nothing: the (empty) whole */
    {"bytes=0-1", -1, NONE, 0, 0}, /* no size known */
};

static void
test_cases(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const range_case *c = &cases[i];
    gint64 first = -1, last = -1;
    lc__http_range_kind k = lc__http_range_parse(c->value, strlen(c->value), c->size, &first, &last);
    g_test_message("%s (size %" G_GINT64_FORMAT ")", c->value, c->size);
    g_assert_cmpint(k, ==, c->kind);
    if (k == OK) {
      g_assert_cmpint(first, ==, c->first);
      g_assert_cmpint(last, ==, c->last);
    }
  }
}

/* The length is what counts, not a NUL: bytes after it are part of the value (malformed). */
static void
test_nul(void)
{
  static const char v[] = "bytes=0-1\0garbage";
  gint64 first = -1, last = -1;
  g_assert_cmpint(lc__http_range_parse(v, sizeof v - 1, 1000, &first, &last), ==, NONE);
  g_assert_cmpint(lc__http_range_parse(v, strlen(v), 1000, &first, &last), ==, OK);
  g_assert_cmpint(last, ==, 1);
}

/* The largest sizes do not overflow. */
static void
test_huge_size(void)
{
  gint64 first = -1, last = -1;
  const char *v = "bytes=-9223372036854775807";
  g_assert_cmpint(lc__http_range_parse(v, strlen(v), G_MAXINT64, &first, &last), ==, OK);
  g_assert_cmpint(first, ==, 0);
  g_assert_cmpint(last, ==, G_MAXINT64 - 1);
  v = "bytes=9223372036854775806-";
  g_assert_cmpint(lc__http_range_parse(v, strlen(v), G_MAXINT64, &first, &last), ==, OK);
  g_assert_cmpint(first, ==, G_MAXINT64 - 1);
  g_assert_cmpint(last, ==, G_MAXINT64 - 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/http_range/cases", test_cases);
  g_test_add_func("/http_range/nul", test_nul);
  g_test_add_func("/http_range/huge-size", test_huge_size);
  return g_test_run();
}

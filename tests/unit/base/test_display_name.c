/* Display names: characters are counted, not bytes (CJK, emoji); bidi controls, zero-width
 * and control characters are refused with a message naming the rule. */
#include "base/display_name.h"
#include "base/errors.h"

#include <glib.h>
#include <string.h>

static const char *
why_of(const char *name)
{
  const char *why = NULL;
  int rc = lc_display_name_check(name, name ? strlen(name) : 0, &why);
  if (rc == 0) {
    g_assert_null(why);
    return NULL;
  }
  g_assert_cmpint(rc, ==, LC_EINVAL);
  g_assert_nonnull(why);
  g_assert_true(g_str_has_prefix(why, "name: "));
  return why;
}

static char *
repeat(const char *unit, int n)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; i < n; i++)
    g_string_append(s, unit);
  return g_string_free(s, FALSE);
}

static void
test_counts_characters(void)
{
  g_assert_null(why_of("小明"));
  g_assert_null(why_of("Carol 测试"));
  g_assert_null(why_of("x"));
  /* the case of the issue: 22 CJK characters are 66 bytes, and were refused */
  g_autofree char *cjk22 = repeat("测", 22);
  g_assert_cmpuint(strlen(cjk22), ==, 66);
  g_assert_null(why_of(cjk22));
  g_autofree char *cjk32 = repeat("测", 32);
  g_assert_null(why_of(cjk32));
  g_autofree char *cjk33 = repeat("测", 33);
  g_assert_cmpstr(why_of(cjk33), ==, "name: at most 32 characters");
  /* emoji: 4 bytes each, 32 of them (128 bytes) still fit */
  g_autofree char *emoji32 = repeat("😀", 32);
  g_assert_cmpuint(strlen(emoji32), ==, 128);
  g_assert_null(why_of(emoji32));
  g_autofree char *emoji33 = repeat("😀", 33);
  g_assert_nonnull(why_of(emoji33));
  g_assert_null(why_of("🎉 party 🎉"));
  g_assert_null(why_of("🇨🇳")); /* a flag: two regional indicators, no joiner */
  g_autofree char *ascii32 = repeat("a", 32), *ascii33 = repeat("a", 33);
  g_assert_null(why_of(ascii32));
  g_assert_nonnull(why_of(ascii33));
  g_assert_null(why_of("Zoë")); /* precomposed */
  g_assert_null(why_of("Zoe\xcc\x88")); /* combining diaeresis: a mark, not invisible */
}

static void
test_refuses_bidi_and_invisible(void)
{
  static const char *const bidi[] = {
    "admin\u202egnp.exe", /* RLO */
    "\u202aleft", "\u202bright", "x\u202c", "\u202dltr",
    "a\u2066b", "a\u2067b", "a\u2068b", "a\u2069b", /* isolates */
    "a\u061cb",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bidi); i++) {
    const char *why = why_of(bidi[i]);
    g_assert_nonnull(why);
    g_assert_nonnull(strstr(why, "bidirectional"));
  }
  static const char *const zw[] = {
    "a\u200bb", "a\u200cb", "a\u200db", "a\u200eb", "a\u200fb", "a\u2060b", "\ufeffbom", "a\u00adb",
    "\u3164", "\u3164\u3164x", "👨\u200d👩\u200d👧", /* a ZWJ family is joined by U+200D */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(zw); i++) {
    const char *why = why_of(zw[i]);
    g_assert_nonnull(why);
    g_assert_nonnull(strstr(why, "zero-width"));
  }
}

static void
test_refuses_controls_and_bad_input(void)
{
  g_assert_nonnull(strstr(why_of("a\007b"), "control"));
  g_assert_nonnull(strstr(why_of("a\nb"), "control"));
  g_assert_nonnull(strstr(why_of("a\tb"), "control"));
  g_assert_nonnull(strstr(why_of("a\x7f" "b"), "control"));
  g_assert_nonnull(strstr(why_of("a\xc2\x85" "b"), "control")); /* NEL, C1 */
  g_assert_nonnull(strstr(why_of("a\u2028b"), "control"));
  g_assert_cmpstr(why_of("   "), ==, "name: must not be only spaces");
  g_assert_cmpstr(why_of("\u3000\u3000"), ==, "name: must not be only spaces"); /* ideographic spaces */
  g_assert_nonnull(why_of(""));
  g_assert_nonnull(why_of(NULL));
  g_assert_nonnull(strstr(why_of("\xc3\x28"), "UTF-8"));
  g_assert_nonnull(strstr(why_of("\xed\xa0\x80"), "UTF-8")); /* a surrogate */
  g_assert_nonnull(strstr(why_of("\xc0\xaf"), "UTF-8"));     /* overlong */
  const char *why = NULL;
  g_assert_cmpint(lc_display_name_check("a\0b", 3, &why), ==, LC_EINVAL); /* an inner NUL */
  g_assert_nonnull(strstr(why, "NUL"));
  g_assert_cmpint(lc_display_name_check("abc", 2, NULL), ==, 0); /* len is honoured, why may be NULL */
  g_assert_cmpint(lc_display_name_check("测", 2, NULL), ==, LC_EINVAL); /* a cut sequence */
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/display-name/counts-characters", test_counts_characters);
  g_test_add_func("/display-name/refuses-bidi-and-invisible", test_refuses_bidi_and_invisible);
  g_test_add_func("/display-name/refuses-controls-and-bad-input", test_refuses_controls_and_bad_input);
  return g_test_run();
}

/* Word filter: normalisation, Aho-Corasick matching, list files. */
#include "commerce/wordfilter.h"
#include "base/errors.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *
found(const lc_wordfilter *wf, const char *text)
{
  const char *m = "unset";
  bool hit = lc_wordfilter_match(wf, text, strlen(text), &m);
  g_assert_true(hit == (m != NULL));
  return m;
}

static lc_wordfilter *
filter_of(const char *const *words)
{
  lc_wordfilter *wf = lc_wordfilter_new();
  for (; *words; words++)
    g_assert_cmpint(lc_wordfilter_add(wf, *words), ==, 0);
  return wf;
}

static void
test_normalisation(void)
{
  static const char *const words[] = {"最佳", "BEST", "加微信", "100%", NULL};
  lc_wordfilter *wf = filter_of(words);
  g_assert_cmpuint(lc_wordfilter_size(wf), ==, 4);
  g_assert_cmpstr(found(wf, "这款是最佳选择"), ==, "最佳");
  g_assert_cmpstr(found(wf, "最 佳"), ==, "最佳");
  g_assert_cmpstr(found(wf, "最.佳"), ==, "最佳");
  g_assert_cmpstr(found(wf, "最、佳"), ==, "最佳");
  g_assert_cmpstr(found(wf, "最\u3000佳"), ==, "最佳");       /* ideographic space */
  g_assert_cmpstr(found(wf, "最\u200b佳"), ==, "最佳");       /* zero-width space */
  g_assert_cmpstr(found(wf, "「最」「佳」"), ==, "最佳");
  g_assert_cmpstr(found(wf, "the ＢＥＳＴ one"), ==, "BEST"); /* full-width */
  g_assert_cmpstr(found(wf, "b.e.s.t"), ==, "BEST");
  g_assert_cmpstr(found(wf, "BeSt"), ==, "BEST");
  g_assert_cmpstr(found(wf, "加 微-信 聊"), ==, "加微信");
  g_assert_cmpstr(found(wf, "１００％纯棉"), ==, "100%");    /* full-width digits and percent */
  g_assert_cmpstr(found(wf, "100 %"), ==, "100%");
  /* Near misses. */
  g_assert_null(found(wf, "最好的选择"));
  g_assert_null(found(wf, "佳最"));
  g_assert_null(found(wf, "bet; beast; bust"));
  g_assert_null(found(wf, "100ml 装"));                        /* % is not a separator */
  g_assert_null(found(wf, "加个微信号"));
  g_assert_null(found(wf, ""));
  g_assert_false(lc_wordfilter_match(wf, NULL, 0, NULL));
  /* Duplicates (after normalisation) count once and keep the first spelling. */
  g_assert_cmpint(lc_wordfilter_add(wf, "ｂｅｓｔ"), ==, 0);
  g_assert_cmpuint(lc_wordfilter_size(wf), ==, 4);
  g_assert_cmpstr(found(wf, "best"), ==, "BEST");
  lc_wordfilter_free(wf);
}

static void
test_overlap(void)
{
  /* "第一" is only reachable through an output link: the trie walk follows "全网第一名额" deep. */
  static const char *const words[] = {"全网第一名额", "第一", "网红", NULL};
  lc_wordfilter *wf = filter_of(words);
  g_assert_cmpstr(found(wf, "全网第一名"), ==, "第一");
  g_assert_cmpstr(found(wf, "我们是全网第一名额度"), ==, "第一"); /* the match that ends first */
  g_assert_cmpstr(found(wf, "网 红"), ==, "网红");
  g_assert_null(found(wf, "全网第二名"));
  lc_wordfilter_free(wf);

  /* Classic overlapping set: he / she / his / hers. */
  static const char *const en[] = {"he", "she", "his", "hers", NULL};
  wf = filter_of(en);
  g_assert_cmpstr(found(wf, "ushers"), ==, "she");
  g_assert_cmpstr(found(wf, "ahis"), ==, "his");
  g_assert_null(found(wf, "hxsx ihs"));
  lc_wordfilter_free(wf);

  /* A short word inside a longer one that fails late. */
  static const char *const w3[] = {"abcdef", "cd", NULL};
  wf = filter_of(w3);
  g_assert_cmpstr(found(wf, "abcdx"), ==, "cd");
  g_assert_cmpstr(found(wf, "xxabcdef"), ==, "cd"); /* earliest end wins */
  g_assert_null(found(wf, "abcxdef"));
  lc_wordfilter_free(wf);
}

static void
test_invalid(void)
{
  lc_wordfilter *wf = lc_wordfilter_new();
  g_assert_cmpint(lc_wordfilter_add(wf, ""), ==, LC_EINVAL);
  g_assert_cmpint(lc_wordfilter_add(wf, " .,。 "), ==, LC_EINVAL);      /* empty once separators go */
  g_assert_cmpint(lc_wordfilter_add(wf, "\xff\xfe"), ==, LC_EINVAL);
  g_assert_cmpint(lc_wordfilter_add(wf, NULL), ==, LC_EINVAL);
  char long_word[102];
  memset(long_word, 'a', 101);
  long_word[101] = '\0';
  g_assert_cmpint(lc_wordfilter_add(wf, long_word), ==, LC_EINVAL);
  long_word[100] = '\0';
  g_assert_cmpint(lc_wordfilter_add(wf, long_word), ==, 0);
  g_assert_cmpuint(lc_wordfilter_size(wf), ==, 1);
  g_assert_cmpint(lc_wordfilter_add(wf, "刷单"), ==, 0);
  /* Invalid UTF-8 and NUL bytes in text: replaced, matching continues and cannot split a word. */
  g_assert_true(lc_wordfilter_match(wf, "\xff\xfe\xc3 刷单", strlen("\xff\xfe\xc3 刷单"), NULL));
  g_assert_true(lc_wordfilter_match(wf, "刷\xff单", 7, NULL));
  g_assert_true(lc_wordfilter_match(wf, "刷\0单", 7, NULL));
  g_assert_false(lc_wordfilter_match(wf, "\xe5\x88", 2, NULL)); /* truncated 刷 */
  /* The length is honoured: text beyond len is not read. */
  g_assert_false(lc_wordfilter_match(wf, "刷单", 3, NULL));
  lc_wordfilter_free(wf);
  /* An empty filter matches nothing. */
  wf = lc_wordfilter_new();
  g_assert_false(lc_wordfilter_match(wf, "anything", 8, NULL));
  lc_wordfilter_free(wf);
}

/* Each shipped list loads, has a sensible size and catches every one of its own entries,
 * also when spaced out and written full-width. */
static void
check_list(const char *rel, unsigned min_size)
{
  const char *src = g_getenv("LC_SRCDIR");
  g_assert_nonnull(src); /* set by meson test */
  char *path = g_build_filename(src, rel, NULL);
  lc_wordfilter *wf = lc_wordfilter_new();
  char *err = NULL;
  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, 0);
  g_assert_null(err);
  g_assert_cmpuint(lc_wordfilter_size(wf), >=, min_size);
  char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_true(text[0] == '#'); /* a header comment says what the list is for */
  char **lines = g_strsplit(text, "\n", -1);
  unsigned n = 0;
  for (int i = 0; lines[i]; i++) {
    char *w = g_strstrip(lines[i]);
    if (!*w || *w == '#')
      continue;
    n++;
    char *in = g_strdup_printf("主播说：%s！", w);
    const char *m = NULL;
    if (!lc_wordfilter_match(wf, in, strlen(in), &m))
      g_error("%s: entry \"%s\" not caught", rel, w);
    g_free(in);
    /* Spaced out: one space between characters. */
    GString *sp = g_string_new("");
    for (const char *p = w; *p; p = g_utf8_next_char(p))
      g_string_append_printf(sp, "%.*s ", (int)(g_utf8_next_char(p) - p), p);
    if (!lc_wordfilter_match(wf, sp->str, sp->len, NULL))
      g_error("%s: spaced entry \"%s\" not caught", rel, sp->str);
    g_string_free(sp, TRUE);
  }
  g_assert_cmpuint(n, >=, lc_wordfilter_size(wf));
  g_strfreev(lines);
  g_free(text);
  g_free(path);
  lc_wordfilter_free(wf);
}

static void
test_shipped_lists(void)
{
  check_list("conf/wordfilter/adlaw.txt", 35);
  check_list("conf/wordfilter/chat.txt", 25);
}

static void
test_shipped_no_false_positives(void)
{
  const char *src = g_getenv("LC_SRCDIR");
  g_assert_nonnull(src);
  lc_wordfilter *wf = lc_wordfilter_new();
  char *a = g_build_filename(src, "conf/wordfilter/adlaw.txt", NULL);
  char *c = g_build_filename(src, "conf/wordfilter/chat.txt", NULL);
  g_assert_cmpint(lc_wordfilter_load_file(wf, a, NULL), ==, 0);
  g_assert_cmpint(lc_wordfilter_load_file(wf, c, NULL), ==, 0);
  static const char *const ok[] = {
    "这个保温杯多少钱？", "主播好漂亮", "最近天气冷了", "蓝色还有货吗", "已下单，期待发货",
    "100ml 装的有吗", "top 10 好物", "best-before date?", "请问几号发货", NULL,
  };
  for (const char *const *t = ok; *t; t++) {
    const char *m = NULL;
    if (lc_wordfilter_match(wf, *t, strlen(*t), &m))
      g_error("false positive: \"%s\" matched \"%s\"", *t, m);
  }
  g_assert_cmpstr(found(wf, "加 V 私聊优惠"), ==, "加V");
  g_assert_cmpstr(found(wf, "今天全网最低价"), ==, "全网最低");
  /* the examples of docs/config.md, against the shipped lists */
  g_assert_cmpstr(found(wf, "最 佳"), ==, "最佳");
  g_assert_cmpstr(found(wf, "ＴＨＥ\u3000ＢＥＳＴ"), ==, "the best");
  g_assert_cmpstr(found(wf, "ＴＨＥ ＢＥＳＴ"), ==, "the best");
  g_assert_null(found(wf, "ＢＥＳＴ")); /* not in the list alone ("best-before" must pass) */
  g_free(a);
  g_free(c);
  lc_wordfilter_free(wf);
}

static void
test_load_errors(void)
{
  char *dir = g_dir_make_tmp("lc-wordfilter-XXXXXX", NULL);
  g_assert_nonnull(dir);
  char *path = g_build_filename(dir, "list.txt", NULL);
  char *err = NULL;
  lc_wordfilter *wf = lc_wordfilter_new();

  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, LC_EIO);
  g_assert_true(g_str_has_prefix(err, path));
  g_free(err);

  g_assert_true(g_file_set_contents(path, "\xEF\xBB\xBF# header\n\n  刷单  \r\n# c\nvx\n", -1, NULL));
  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, 0);
  g_assert_null(err);
  g_assert_cmpuint(lc_wordfilter_size(wf), ==, 2);
  g_assert_cmpstr(found(wf, "帮忙刷单"), ==, "刷单");
  g_assert_null(found(wf, "header"));

  g_assert_true(g_file_set_contents(path, "good\n\n--\n", -1, NULL));
  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, LC_EINVAL);
  char *want = g_strdup_printf("%s:3: empty after normalisation", path);
  g_assert_cmpstr(err, ==, want);
  g_free(want);
  g_free(err);
  g_assert_null(found(wf, "good")); /* a bad file adds nothing */
  g_assert_cmpuint(lc_wordfilter_size(wf), ==, 2);

  g_assert_true(g_file_set_contents(path, "ok\nbad\xff\n", -1, NULL));
  g_assert_cmpint(lc_wordfilter_load_file(wf, path, &err), ==, LC_EINVAL);
  want = g_strdup_printf("%s:2: not valid UTF-8", path);
  g_assert_cmpstr(err, ==, want);
  g_free(want);
  g_free(err);

  g_assert_cmpint(g_unlink(path), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
  g_free(path);
  g_free(dir);
  lc_wordfilter_free(wf);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/wordfilter/normalisation", test_normalisation);
  g_test_add_func("/wordfilter/overlap", test_overlap);
  g_test_add_func("/wordfilter/invalid", test_invalid);
  g_test_add_func("/wordfilter/shipped-lists", test_shipped_lists);
  g_test_add_func("/wordfilter/shipped-no-false-positives", test_shipped_no_false_positives);
  g_test_add_func("/wordfilter/load-errors", test_load_errors);
  return g_test_run();
}

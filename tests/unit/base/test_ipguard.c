/* Unit tests for base/ipguard.c on a fake clock: address keys (IPv4, IPv6 /64),
 * exempt lists, the lockout and rate buckets, the bounded table, and refusal log pacing. */
#include "base/ipguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define S (G_USEC_PER_SEC)

static lc_ipaddr
ip(const char *text)
{
  lc_ipaddr a;
  g_assert_cmpint(lc_ipaddr_parse(text, &a), ==, 0);
  return a;
}

static void
test_addresses(void)
{
  lc_ipaddr a, b;
  char buf[LC_IPADDR_STRLEN];
  g_assert_cmpint(lc_ipaddr_parse("192.0.2.7", &a), ==, 0);
  g_assert_true(lc_ipaddr_is_v4(&a));
  g_assert_cmpstr(lc_ipaddr_key_str(&a, buf), ==, "192.0.2.7");
  g_assert_cmpint(lc_ipaddr_parse("::ffff:192.0.2.7", &b), ==, 0);
  g_assert_true(lc_ipaddr_same_key(&a, &b)); /* IPv4-mapped IPv6 is IPv4 */
  g_assert_cmpint(lc_ipaddr_parse("192.0.2.8", &b), ==, 0);
  g_assert_false(lc_ipaddr_same_key(&a, &b));

  /* IPv6 counts by /64 */
  a = ip("2001:db8:1:2::1");
  b = ip("2001:db8:1:2:ffff:ffff:ffff:ffff");
  g_assert_false(lc_ipaddr_is_v4(&a));
  g_assert_true(lc_ipaddr_same_key(&a, &b));
  b = ip("2001:db8:1:3::1");
  g_assert_false(lc_ipaddr_same_key(&a, &b));
  g_assert_cmpstr(lc_ipaddr_key_str(&a, buf), ==, "2001:db8:1:2::/64");

  const char *bad[] = {"", "1.2.3", "1.2.3.4.5", "[::1]", "1.2.3.4:80", "example.org", "1.2.3.256",
                       "2001:db8::1::2", " 1.2.3.4", NULL};
  for (int i = 0; bad[i]; i++)
    g_assert_cmpint(lc_ipaddr_parse(bad[i], &a), !=, 0);
  g_assert_cmpint(lc_ipaddr_parse(NULL, &a), !=, 0);

  struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1935)};
  inet_pton(AF_INET, "198.51.100.9", &s4.sin_addr);
  g_assert_cmpint(lc_ipaddr_from_sockaddr((struct sockaddr *)&s4, sizeof s4, &a), ==, 0);
  g_assert_cmpstr(lc_ipaddr_key_str(&a, buf), ==, "198.51.100.9");
  g_assert_cmpint(lc_ipaddr_from_sockaddr((struct sockaddr *)&s4, 4, &a), !=, 0); /* short */
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "::1", &s6.sin6_addr);
  g_assert_cmpint(lc_ipaddr_from_sockaddr((struct sockaddr *)&s6, sizeof s6, &a), ==, 0);
  g_assert_cmpstr(lc_ipaddr_key_str(&a, buf), ==, "::/64");
  struct sockaddr un = {.sa_family = AF_UNIX};
  g_assert_cmpint(lc_ipaddr_from_sockaddr(&un, sizeof un, &a), !=, 0);
}

static void
test_iplist(void)
{
  char *err = NULL;
  lc_iplist *l = lc_iplist_parse("127.0.0.1, 10.0.0.0/8 ::1\t2001:db8::/32,,", &err);
  g_assert_nonnull(l);
  g_assert_null(err);
  g_assert_cmpuint(lc_iplist_count(l), ==, 4);
  lc_ipaddr a = ip("127.0.0.1");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("127.0.0.2");
  g_assert_false(lc_iplist_contains(l, &a));
  a = ip("10.200.3.4");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("11.0.0.1");
  g_assert_false(lc_iplist_contains(l, &a));
  a = ip("::ffff:10.1.1.1");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("::1");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("2001:db8:ffff::9");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("2001:db9::9");
  g_assert_false(lc_iplist_contains(l, &a));
  g_assert_false(lc_iplist_contains(NULL, &a));
  lc_iplist_free(l);

  l = lc_iplist_parse("", &err);
  g_assert_nonnull(l);
  g_assert_cmpuint(lc_iplist_count(l), ==, 0);
  lc_iplist_free(l);
  l = lc_iplist_parse("0.0.0.0/0", &err);
  a = ip("203.0.113.1");
  g_assert_true(lc_iplist_contains(l, &a));
  a = ip("2001:db8::1");
  g_assert_false(lc_iplist_contains(l, &a)); /* an IPv4 /0 is all of IPv4, not IPv6 */
  lc_iplist_free(l);

  const struct {
    const char *text, *err;
  } bad[] = {
      {"10.0.0.0/33", "'10.0.0.0/33': the prefix length must be 0..32"},
      {"::/129", "'::/129': the prefix length must be 0..128"},
      {"1.2.3.4/", "'1.2.3.4/': the prefix length must be 0..32"},
      {"1.2.3.4/-1", "'1.2.3.4/-1': the prefix length must be 0..32"},
      {"127.0.0.1, localhost", "'localhost' is not an IP address or prefix"},
      {"/8", "'/8' is not an IP address or prefix"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_null(lc_iplist_parse(bad[i].text, &err));
    g_assert_cmpstr(err, ==, bad[i].err);
    g_clear_pointer(&err, g_free);
  }
  GString *many = g_string_new("");
  for (int i = 0; i < 257; i++)
    g_string_append_printf(many, "10.0.%d.%d ", i / 256, i % 256);
  g_assert_null(lc_iplist_parse(many->str, &err));
  g_assert_cmpstr(err, ==, "more than 256 addresses or prefixes");
  g_free(err);
  g_string_free(many, TRUE);
}

static lc_ipguard *
auth_guard(unsigned per_min, gint64 lockout_us, const lc_iplist *exempt)
{
  lc_ipguard_config cfg = {.what = "failed keys", .limit = per_min, .window_us = 60 * S,
                           .lockout_us = lockout_us, .exempt = exempt};
  return lc_ipguard_new(&cfg);
}

static void
test_lockout(void)
{
  lc_ipguard *g = auth_guard(5, 300 * S, NULL);
  lc_ipaddr a = ip("192.0.2.1"), other = ip("192.0.2.2");
  gint64 t = 1000 * S;
  for (int i = 0; i < 4; i++) {
    g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, 0);
    g_assert_cmpint(lc_ipguard_hit(g, &a, t), ==, 0);
    t += S;
  }
  /* the 5th failure within the minute locks the address */
  g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, 0);
  g_assert_cmpint(lc_ipguard_hit(g, &a, t), ==, 300 * S);
  g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, 300 * S);
  g_assert_cmpint(lc_ipguard_check(g, &a, t + 100 * S), ==, 200 * S);
  g_assert_cmpint(lc_ipguard_check(g, &other, t), ==, 0); /* others untouched */
  g_assert_cmpint(lc_ipguard_check(g, &a, t + 300 * S - 1), ==, 1);
  /* the lock over, the bucket is empty: 4 more failures go unpunished, the 5th locks again */
  t += 300 * S;
  for (int i = 0; i < 4; i++)
    g_assert_cmpint(lc_ipguard_hit(g, &a, t), ==, 0);
  g_assert_cmpint(lc_ipguard_hit(g, &a, t), ==, 300 * S);
  lc_ipguard_free(g);
}

static void
test_slow_failures_never_lock(void)
{
  /* 5 per minute drains one every 12 s: a failure every 12 s forever is within the limit,
   * one every 11 s is not, and is locked after a while. */
  lc_ipguard *g = auth_guard(5, 300 * S, NULL);
  lc_ipaddr a = ip("192.0.2.1"), b = ip("192.0.2.2");
  gint64 t = 0;
  for (int i = 0; i < 1000; i++, t += 12 * S)
    g_assert_cmpint(lc_ipguard_hit(g, &a, t), ==, 0);
  int locked_at = -1;
  for (int i = 0; i < 1000 && locked_at < 0; i++, t += 11 * S)
    if (lc_ipguard_hit(g, &b, t) > 0)
      locked_at = i;
  g_assert_cmpint(locked_at, >, 4);
  g_assert_cmpint(locked_at, <, 100);
  lc_ipguard_free(g);
}

static void
test_rate_without_lockout(void)
{
  lc_ipguard_config cfg = {.what = "sessions", .limit = 20, .window_us = 10 * S};
  lc_ipguard *g = lc_ipguard_new(&cfg);
  lc_ipaddr a = ip("2001:db8::5");
  gint64 t = 50 * S;
  for (int i = 0; i < 20; i++) {
    g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, 0);
    lc_ipguard_hit(g, &a, t);
  }
  /* full: room for the next one in 10 s / 20 */
  g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, S / 2);
  lc_ipaddr same64 = ip("2001:db8::6");
  g_assert_cmpint(lc_ipguard_check(g, &same64, t), ==, S / 2);
  lc_ipaddr other64 = ip("2001:db8:0:1::6");
  g_assert_cmpint(lc_ipguard_check(g, &other64, t), ==, 0);
  g_assert_cmpint(lc_ipguard_check(g, &a, t + S / 2), ==, 0);
  lc_ipguard_hit(g, &a, t + S / 2);
  g_assert_cmpint(lc_ipguard_check(g, &a, t + S / 2), ==, S / 2);
  /* a whole window later it is all free again */
  t += 11 * S;
  for (int i = 0; i < 20; i++) {
    g_assert_cmpint(lc_ipguard_check(g, &a, t), ==, 0);
    lc_ipguard_hit(g, &a, t);
  }
  g_assert_cmpint(lc_ipguard_check(g, &a, t), >, 0);
  lc_ipguard_free(g);
}

static void
test_exempt_and_unlimited(void)
{
  char *err = NULL;
  lc_iplist *ex = lc_iplist_parse("127.0.0.0/8", &err);
  lc_ipguard *g = auth_guard(1, 60 * S, ex);
  lc_ipaddr lo = ip("127.0.0.1"), a = ip("192.0.2.1");
  for (int i = 0; i < 100; i++)
    g_assert_cmpint(lc_ipguard_hit(g, &lo, i), ==, 0);
  g_assert_cmpint(lc_ipguard_check(g, &lo, 100), ==, 0);
  g_assert_cmpuint(lc_ipguard_size(g), ==, 0);
  g_assert_cmpint(lc_ipguard_hit(g, &a, 0), ==, 60 * S); /* limit 1: the first failure locks */
  g_assert_cmpint(lc_ipguard_check(g, NULL, 0), ==, 0);   /* unknown peer */
  g_assert_cmpint(lc_ipguard_hit(g, NULL, 0), ==, 0);
  lc_ipguard_free(g);
  lc_iplist_free(ex);

  g = auth_guard(0, 60 * S, NULL); /* limit 0: no limit */
  for (int i = 0; i < 100; i++)
    g_assert_cmpint(lc_ipguard_hit(g, &a, i), ==, 0);
  g_assert_cmpuint(lc_ipguard_size(g), ==, 0);
  lc_ipguard_free(g);
  g_assert_cmpint(lc_ipguard_check(NULL, &a, 0), ==, 0);
  lc_ipguard_free(NULL);
}

static void
test_bounded_table(void)
{
  lc_ipguard_config cfg = {.limit = 1, .window_us = 60 * S, .lockout_us = 600 * S, .max_addresses = 3};
  lc_ipguard *g = lc_ipguard_new(&cfg);
  lc_ipaddr a = ip("192.0.2.1"), b = ip("192.0.2.2"), c = ip("192.0.2.3"), d = ip("192.0.2.4");
  lc_ipguard_hit(g, &a, 0);
  lc_ipguard_hit(g, &b, 1);
  lc_ipguard_hit(g, &c, 2);
  g_assert_cmpuint(lc_ipguard_size(g), ==, 3);
  lc_ipguard_refused(g, &a, 3, NULL, NULL); /* a is used again: b is now the oldest */
  lc_ipguard_hit(g, &d, 4);
  g_assert_cmpuint(lc_ipguard_size(g), ==, 3);
  g_assert_cmpint(lc_ipguard_check(g, &a, 5), >, 0);
  g_assert_cmpint(lc_ipguard_check(g, &b, 5), ==, 0); /* forgotten */
  g_assert_cmpint(lc_ipguard_check(g, &c, 5), >, 0);
  g_assert_cmpint(lc_ipguard_check(g, &d, 5), >, 0);
  /* many addresses: memory stays at the cap */
  for (int i = 0; i < 10000; i++) {
    lc_ipaddr x = a;
    x.b[14] = (uint8_t)(i >> 8);
    x.b[15] = (uint8_t)i;
    lc_ipguard_hit(g, &x, 10 + i);
    lc_ipguard_refused(g, &x, 10 + i, NULL, NULL);
  }
  g_assert_cmpuint(lc_ipguard_size(g), ==, 3);
  lc_ipguard_flush(g, 1000 * S);
  lc_ipguard_free(g);
}

static void
test_refusal_log_pacing(void)
{
  lc_ipguard_config cfg = {.limit = 1, .window_us = 60 * S, .lockout_us = 600 * S, .log_interval_us = 60 * S};
  lc_ipguard *g = lc_ipguard_new(&cfg);
  lc_ipaddr a = ip("192.0.2.1"), b = ip("192.0.2.2");
  unsigned n = 0;
  gint64 span = 0;
  gint64 t = 10 * S;
  g_assert_cmpint(lc_ipguard_refused(g, &a, t, &n, &span), ==, LC_IPGUARD_LOG_FIRST);
  for (int i = 1; i <= 200; i++) /* 200 refusals in 20 s: not one line */
    g_assert_cmpint(lc_ipguard_refused(g, &a, t + i * S / 10, &n, &span), ==, LC_IPGUARD_QUIET);
  g_assert_cmpint(lc_ipguard_refused(g, &b, t, &n, &span), ==, LC_IPGUARD_LOG_FIRST); /* per address */
  /* the interval over: one summary counting them all, this one included */
  g_assert_cmpint(lc_ipguard_refused(g, &a, t + 60 * S, &n, &span), ==, LC_IPGUARD_LOG_SUMMARY);
  g_assert_cmpuint(n, ==, 201);
  g_assert_cmpint(span, ==, 60 * S);
  g_assert_cmpint(lc_ipguard_refused(g, &a, t + 61 * S, &n, &span), ==, LC_IPGUARD_QUIET);
  /* the attacker stops: flush writes the summary once it is due, not before */
  lc_ipguard_flush(g, t + 100 * S);
  g_assert_cmpint(lc_ipguard_refused(g, &a, t + 119 * S, &n, &span), ==, LC_IPGUARD_QUIET);
  lc_ipguard_flush(g, t + 121 * S); /* summary: 2 refusals */
  /* quiet for a whole interval since that line: the next refusal is a first line again */
  g_assert_cmpint(lc_ipguard_refused(g, &a, t + 200 * S, &n, &span), ==, LC_IPGUARD_LOG_FIRST);

  /* a lock is logged by the caller; the refusals after it are summarised */
  lc_ipaddr c = ip("192.0.2.3");
  g_assert_cmpint(lc_ipguard_hit(g, &c, t), >, 0);
  g_assert_cmpint(lc_ipguard_refused(g, &c, t + S, &n, &span), ==, LC_IPGUARD_QUIET);
  g_assert_cmpint(lc_ipguard_refused(g, &c, t + 60 * S, &n, &span), ==, LC_IPGUARD_LOG_SUMMARY);
  g_assert_cmpuint(n, ==, 2);
  /* the logging helper writes through lc_log; it must accept unknown peers */
  lc_ipguard_log_refusal(g, &c, t + 61 * S, "conn-1", "refused: test");
  lc_ipguard_log_refusal(g, NULL, t, NULL, "refused: unknown peer");
  lc_ipguard_free(g);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ipguard/addresses", test_addresses);
  g_test_add_func("/ipguard/iplist", test_iplist);
  g_test_add_func("/ipguard/lockout", test_lockout);
  g_test_add_func("/ipguard/slow_failures_never_lock", test_slow_failures_never_lock);
  g_test_add_func("/ipguard/rate_without_lockout", test_rate_without_lockout);
  g_test_add_func("/ipguard/exempt_and_unlimited", test_exempt_and_unlimited);
  g_test_add_func("/ipguard/bounded_table", test_bounded_table);
  g_test_add_func("/ipguard/refusal_log_pacing", test_refusal_log_pacing);
  return g_test_run();
}

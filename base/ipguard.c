/* Per-address throttling (see ipguard.h). One hash table of entries keyed by the address key,
 * and an intrusive LRU queue over the same entries for eviction: both O(1) per call. */
#define LC_LOG_DOMAIN "limits"
#include "base/ipguard.h"
#include "base/errors.h"
#include "base/log.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_MAX_ADDRESSES 4096
#define DEFAULT_LOG_INTERVAL_US (60 * G_USEC_PER_SEC)
#define MAX_LIST_ENTRIES 256

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ---- addresses ---- */

int
lc_ipaddr_from_sockaddr(const struct sockaddr *sa, size_t len, lc_ipaddr *out)
{
  if (!sa || len < sizeof(sa_family_t))
    return LC_EINVAL;
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
    memcpy(out->b, v4_mapped, 12);
    memcpy(out->b + 12, &v4->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
    memcpy(out->b, &v6->sin6_addr, 16);
    return 0;
  }
  return LC_EINVAL;
}

int
lc_ipaddr_parse(const char *text, lc_ipaddr *out)
{
  struct in_addr a4;
  if (!text || strlen(text) >= INET6_ADDRSTRLEN)
    return LC_EINVAL;
  if (inet_pton(AF_INET, text, &a4) == 1) {
    memcpy(out->b, v4_mapped, 12);
    memcpy(out->b + 12, &a4, 4);
    return 0;
  }
  return inet_pton(AF_INET6, text, out->b) == 1 ? 0 : LC_EINVAL;
}

bool
lc_ipaddr_is_v4(const lc_ipaddr *a)
{
  return memcmp(a->b, v4_mapped, 12) == 0;
}

/* The address as counted: IPv4 whole, IPv6 with its last 64 bits zeroed. */
static lc_ipaddr
key_of(const lc_ipaddr *a)
{
  lc_ipaddr k = *a;
  if (!lc_ipaddr_is_v4(a))
    memset(k.b + 8, 0, 8);
  return k;
}

bool
lc_ipaddr_same_key(const lc_ipaddr *a, const lc_ipaddr *b)
{
  lc_ipaddr ka = key_of(a), kb = key_of(b);
  return memcmp(ka.b, kb.b, 16) == 0;
}

const char *
lc_ipaddr_key_str(const lc_ipaddr *a, char buf[LC_IPADDR_STRLEN])
{
  char text[INET6_ADDRSTRLEN];
  lc_ipaddr k = key_of(a);
  if (lc_ipaddr_is_v4(&k)) {
    inet_ntop(AF_INET, k.b + 12, text, sizeof text);
    g_strlcpy(buf, text, LC_IPADDR_STRLEN);
  } else {
    inet_ntop(AF_INET6, k.b, text, sizeof text);
    g_snprintf(buf, LC_IPADDR_STRLEN, "%s/64", text);
  }
  return buf;
}

/* ---- address lists ---- */

typedef struct {
  lc_ipaddr prefix; /* masked to bits */
  unsigned bits;    /* 0..128 over the 16 bytes (an IPv4 /n is 96 + n) */
} list_entry;

struct lc_iplist {
  unsigned n;
  list_entry e[];
};

static void
mask(lc_ipaddr *a, unsigned bits)
{
  for (unsigned i = 0; i < 16; i++) {
    unsigned keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? bits - i * 8 : 0;
    a->b[i] &= (uint8_t)(0xff00u >> keep);
  }
}

/* One entry "addr" or "addr/bits" (NUL-terminated token). */
static int
parse_entry(const char *tok, list_entry *out, char **err)
{
  char addr[INET6_ADDRSTRLEN];
  const char *slash = strchr(tok, '/');
  size_t alen = slash ? (size_t)(slash - tok) : strlen(tok);
  if (alen == 0 || alen >= sizeof addr) {
    *err = g_strdup_printf("'%s' is not an IP address or prefix", tok);
    return LC_EINVAL;
  }
  memcpy(addr, tok, alen);
  addr[alen] = '\0';
  if (lc_ipaddr_parse(addr, &out->prefix) != 0) {
    *err = g_strdup_printf("'%s' is not an IP address or prefix", tok);
    return LC_EINVAL;
  }
  bool v4 = strchr(addr, ':') == NULL;
  unsigned max = v4 ? 32 : 128;
  guint64 bits = max;
  if (slash && !g_ascii_string_to_unsigned(slash + 1, 10, 0, max, &bits, NULL)) {
    *err = g_strdup_printf("'%s': the prefix length must be 0..%u", tok, max);
    return LC_EINVAL;
  }
  out->bits = (unsigned)bits + (v4 ? 96 : 0);
  mask(&out->prefix, out->bits);
  return 0;
}

lc_iplist *
lc_iplist_parse(const char *text, char **err)
{
  char **toks = g_strsplit_set(text ? text : "", ", \t", -1);
  list_entry *tmp = g_new0(list_entry, MAX_LIST_ENTRIES);
  unsigned n = 0;
  lc_iplist *l = NULL;
  for (char **t = toks; *t; t++) {
    if (!**t)
      continue;
    if (n == MAX_LIST_ENTRIES) {
      *err = g_strdup_printf("more than %d addresses or prefixes", MAX_LIST_ENTRIES);
      goto fail;
    }
    if (parse_entry(*t, &tmp[n], err) != 0)
      goto fail;
    n++;
  }
  l = g_malloc0(sizeof *l + n * sizeof(list_entry));
  l->n = n;
  memcpy(l->e, tmp, n * sizeof(list_entry));
fail:
  g_free(tmp);
  g_strfreev(toks);
  return l;
}

bool
lc_iplist_contains(const lc_iplist *l, const lc_ipaddr *a)
{
  for (unsigned i = 0; l && i < l->n; i++) {
    lc_ipaddr m = *a;
    mask(&m, l->e[i].bits);
    if (memcmp(m.b, l->e[i].prefix.b, 16) == 0)
      return true;
  }
  return false;
}

unsigned
lc_iplist_count(const lc_iplist *l)
{
  return l ? l->n : 0;
}

void
lc_iplist_free(lc_iplist *l)
{
  g_free(l);
}

/* ---- the guard ---- */

typedef struct {
  lc_ipaddr key;         /* hash key (points here) */
  gint64 tat;            /* GCRA theoretical arrival time: the bucket is empty when tat <= now */
  gint64 locked_until;   /* refused before this (lockout guards) */
  gint64 last_line_us;   /* when a line about this address was last written */
  unsigned unlogged;     /* refusals since that line */
  bool logged;           /* a line has been written */
  GList lru;             /* link in g->lru (data = this entry); head = most recently used */
} entry;

struct lc_ipguard {
  lc_ipguard_config cfg;
  gint64 emission_us;    /* window / limit: what one event adds to the bucket */
  GHashTable *table;     /* &entry.key -> entry (owned) */
  GQueue lru;
  unsigned pending;      /* entries with unlogged > 0 */
};

static guint
key_hash(gconstpointer p)
{
  const uint8_t *b = p;
  guint h = 2166136261u; /* FNV-1a */
  for (int i = 0; i < 16; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
key_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, 16) == 0;
}

lc_ipguard *
lc_ipguard_new(const lc_ipguard_config *cfg)
{
  lc_ipguard *g = g_new0(lc_ipguard, 1);
  g->cfg = *cfg;
  if (!g->cfg.what)
    g->cfg.what = "events";
  if (!g->cfg.max_addresses)
    g->cfg.max_addresses = DEFAULT_MAX_ADDRESSES;
  if (g->cfg.log_interval_us <= 0)
    g->cfg.log_interval_us = DEFAULT_LOG_INTERVAL_US;
  if (g->cfg.window_us <= 0)
    g->cfg.window_us = G_USEC_PER_SEC;
  if (g->cfg.lockout_us < 0)
    g->cfg.lockout_us = 0;
  g->emission_us = g->cfg.limit ? MAX(1, g->cfg.window_us / g->cfg.limit) : 0;
  g->table = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
  g_queue_init(&g->lru);
  return g;
}

void
lc_ipguard_free(lc_ipguard *g)
{
  if (!g)
    return;
  g_hash_table_destroy(g->table); /* frees the entries; the queue links live in them */
  g_free(g);
}

unsigned
lc_ipguard_size(const lc_ipguard *g)
{
  return g ? g_hash_table_size(g->table) : 0;
}

static entry *
lookup(lc_ipguard *g, const lc_ipaddr *a)
{
  lc_ipaddr k = key_of(a);
  entry *e = g_hash_table_lookup(g->table, &k);
  if (e) { /* most recently used first */
    g_queue_unlink(&g->lru, &e->lru);
    g_queue_push_head_link(&g->lru, &e->lru);
  }
  return e;
}

static entry *
lookup_or_add(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us)
{
  entry *e = lookup(g, a);
  if (e)
    return e;
  if (g_hash_table_size(g->table) >= g->cfg.max_addresses) {
    GList *old = g_queue_pop_tail_link(&g->lru);
    entry *victim = old->data;
    if (victim->unlogged)
      g->pending--;
    g_hash_table_remove(g->table, &victim->key);
  }
  e = g_new0(entry, 1);
  e->key = key_of(a);
  e->tat = now_us;
  e->lru.data = e;
  g_hash_table_insert(g->table, &e->key, e);
  g_queue_push_head_link(&g->lru, &e->lru);
  return e;
}

static bool
unlimited(const lc_ipguard *g, const lc_ipaddr *a)
{
  return !g || !a || !g->cfg.limit || lc_iplist_contains(g->cfg.exempt, a);
}

/* Microseconds until one more event fits in e's bucket (<= 0: it fits now). */
static gint64
bucket_wait(const lc_ipguard *g, const entry *e, gint64 now_us)
{
  return MAX(e->tat, now_us) + g->emission_us - g->cfg.window_us - now_us;
}

gint64
lc_ipguard_check(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us)
{
  if (unlimited(g, a))
    return 0;
  lc_ipaddr k = key_of(a);
  const entry *e = g_hash_table_lookup(g->table, &k); /* a check alone does not refresh the LRU */
  if (!e)
    return 0;
  if (e->locked_until > now_us)
    return e->locked_until - now_us;
  return MAX(0, bucket_wait(g, e, now_us));
}

gint64
lc_ipguard_hit(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us)
{
  if (unlimited(g, a))
    return 0;
  entry *e = lookup_or_add(g, a, now_us);
  if (e->locked_until > now_us)
    return e->locked_until - now_us;
  e->tat = MAX(e->tat, now_us) + g->emission_us;
  gint64 wait = bucket_wait(g, e, now_us);
  if (wait <= 0)
    return 0;
  if (g->cfg.lockout_us > 0) {
    e->locked_until = now_us + g->cfg.lockout_us;
    e->tat = now_us; /* empty once the lock ends */
    /* The caller logs the lock; the refusals that follow go into the summaries. */
    e->logged = true;
    e->last_line_us = now_us;
    return g->cfg.lockout_us;
  }
  return wait;
}

lc_ipguard_log
lc_ipguard_refused(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us, unsigned *n, gint64 *span_us)
{
  if (g && g->cfg.refusals)
    lc_metric_add(g->cfg.refusals, 1);
  if (!g || !a)
    return LC_IPGUARD_LOG_FIRST;
  entry *e = lookup_or_add(g, a, now_us);
  gint64 since = now_us - e->last_line_us;
  if (!e->logged || (e->unlogged == 0 && since >= g->cfg.log_interval_us)) {
    e->logged = true;
    e->last_line_us = now_us;
    return LC_IPGUARD_LOG_FIRST;
  }
  if (e->unlogged++ == 0)
    g->pending++;
  if (since < g->cfg.log_interval_us)
    return LC_IPGUARD_QUIET;
  if (n)
    *n = e->unlogged;
  if (span_us)
    *span_us = since;
  e->unlogged = 0;
  g->pending--;
  e->last_line_us = now_us;
  return LC_IPGUARD_LOG_SUMMARY;
}

static void
log_summary(const lc_ipguard *g, const lc_ipaddr *a, unsigned n, gint64 span_us)
{
  char ip[LC_IPADDR_STRLEN];
  LC_WARN(NULL, NULL, "%u more refusal%s (%s) from %s in the last %" G_GINT64_FORMAT " s", n, n == 1 ? "" : "s",
          g->cfg.what, lc_ipaddr_key_str(a, ip), (span_us + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
}

void
lc_ipguard_log_refusal(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us, const char *conn, const char *text)
{
  unsigned n = 0;
  gint64 span = 0;
  lc_ipguard_log what = lc_ipguard_refused(g, a, now_us, &n, &span);
  if (what == LC_IPGUARD_LOG_FIRST) {
    char ip[LC_IPADDR_STRLEN];
    LC_WARN(NULL, conn, "%s: %s", a ? lc_ipaddr_key_str(a, ip) : "?", text);
  } else if (what == LC_IPGUARD_LOG_SUMMARY) {
    log_summary(g, a, n, span);
  }
}

void
lc_ipguard_flush(lc_ipguard *g, gint64 now_us)
{
  if (!g || !g->pending)
    return;
  for (GList *l = g->lru.head; l && g->pending; l = l->next) {
    entry *e = l->data;
    gint64 since = now_us - e->last_line_us;
    if (!e->unlogged || since < g->cfg.log_interval_us)
      continue;
    log_summary(g, &e->key, e->unlogged, since);
    e->unlogged = 0;
    e->last_line_us = now_us;
    g->pending--;
  }
}

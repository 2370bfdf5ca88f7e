/* The session registry (see rtc_registry.h). */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_registry.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/errors.h"
#include "base/log.h"

struct lc__rtc_registry {
  unsigned max_sessions;        /* immutable */
  lc_rtc_publish_fn publish_fn; /* set before any offer, then read-only */
  gpointer publish_user;
  lc_rtc_closed_fn closed_fn; /* same */
  gpointer closed_user;

  GMutex lock;
  GHashTable *by_ufrag;   /* ufrag (session's string) -> session (the registry's ref) */
  GHashTable *by_id;      /* id -> session (same entries) */
  GHashTable *whip_rooms; /* room -> session (same entries) */
  GHashTable *rungs;      /* rung name (owned) -> count */
  unsigned n_sessions, n_viewers, n_publishers;
};

lc__rtc_registry *
lc__rtc_registry_new(unsigned max_sessions)
{
  lc__rtc_registry *reg = g_new0(lc__rtc_registry, 1);
  reg->max_sessions = max_sessions;
  g_mutex_init(&reg->lock);
  reg->by_ufrag = g_hash_table_new(g_str_hash, g_str_equal);
  reg->by_id = g_hash_table_new(g_str_hash, g_str_equal);
  reg->whip_rooms = g_hash_table_new(g_str_hash, g_str_equal);
  reg->rungs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  return reg;
}

void
lc__rtc_registry_free(lc__rtc_registry *reg)
{
  if (!reg)
    return;
  GList *left = g_hash_table_get_values(reg->by_ufrag);
  for (GList *l = left; l; l = l->next)
    lc__rtc_registry_unregister(reg, l->data, NULL);
  g_list_free(left);
  g_hash_table_unref(reg->by_ufrag);
  g_hash_table_unref(reg->by_id);
  g_hash_table_unref(reg->whip_rooms);
  g_hash_table_unref(reg->rungs);
  g_mutex_clear(&reg->lock);
  g_free(reg);
}

void
lc__rtc_registry_set_publish_fn(lc__rtc_registry *reg, lc_rtc_publish_fn fn, gpointer user)
{
  reg->publish_fn = fn;
  reg->publish_user = user;
}

void
lc__rtc_registry_set_closed_fn(lc__rtc_registry *reg, lc_rtc_closed_fn fn, gpointer user)
{
  reg->closed_fn = fn;
  reg->closed_user = user;
}

/* reg->lock held. */
static int
check_locked(lc__rtc_registry *reg, lc__rtc_kind kind, const char *room)
{
  if (reg->n_sessions >= reg->max_sessions)
    return LC_ELIMIT;
  if (kind == LC__RTC_WHIP && g_hash_table_contains(reg->whip_rooms, room))
    return LC_EBUSY;
  return 0;
}

int
lc__rtc_registry_check(lc__rtc_registry *reg, lc__rtc_kind kind, const char *room)
{
  g_mutex_lock(&reg->lock);
  int rc = check_locked(reg, kind, room);
  g_mutex_unlock(&reg->lock);
  return rc;
}

int
lc__rtc_registry_add(lc__rtc_registry *reg, lc__rtc_session *s)
{
  g_mutex_lock(&reg->lock);
  int rc = check_locked(reg, s->kind, s->room);
  if (rc == 0) {
    lc__rtc_session_ref(s);
    g_hash_table_insert(reg->by_ufrag, s->ufrag, s);
    g_hash_table_insert(reg->by_id, s->id, s);
    if (s->kind == LC__RTC_WHIP)
      g_hash_table_insert(reg->whip_rooms, s->room, s);
    s->in_registry = true;
    reg->n_sessions++;
  }
  g_mutex_unlock(&reg->lock);
  return rc;
}

/* reg->lock held: a new ref of the session in table under key if it is not closing. */
static lc__rtc_session *
find_locked(GHashTable *table, const char *key)
{
  lc__rtc_session *s = g_hash_table_lookup(table, key);
  if (s && !g_atomic_int_get(&s->closing))
    return lc__rtc_session_ref(s);
  return NULL;
}

lc__rtc_session *
lc__rtc_registry_by_ufrag(lc__rtc_registry *reg, const char *ufrag, size_t ufrag_len)
{
  char key[17];
  if (ufrag_len == 0 || ufrag_len >= sizeof key)
    return NULL;
  memcpy(key, ufrag, ufrag_len);
  key[ufrag_len] = 0;
  g_mutex_lock(&reg->lock);
  lc__rtc_session *s = find_locked(reg->by_ufrag, key);
  g_mutex_unlock(&reg->lock);
  return s;
}

lc__rtc_session *
lc__rtc_registry_by_id(lc__rtc_registry *reg, const char *id)
{
  if (!id)
    return NULL;
  g_mutex_lock(&reg->lock);
  lc__rtc_session *s = find_locked(reg->by_id, id);
  g_mutex_unlock(&reg->lock);
  return s;
}

int
lc__rtc_registry_claim(lc__rtc_registry *reg, lc__rtc_session *s, int index, lc__rtc_worker *w)
{
  g_mutex_lock(&reg->lock);
  if (s->owner < 0 && s->in_registry && !g_atomic_int_get(&s->closing)) {
    s->owner = index;
    s->owner_w = w;
  }
  int owner = s->owner;
  g_mutex_unlock(&reg->lock);
  return owner;
}

/* reg->lock held. Returns true if it was registered (the caller then drops the registry ref). */
static bool
unregister_locked(lc__rtc_registry *reg, lc__rtc_session *s)
{
  if (!s->in_registry)
    return false;
  g_hash_table_remove(reg->by_ufrag, s->ufrag);
  g_hash_table_remove(reg->by_id, s->id);
  if (s->kind == LC__RTC_WHIP && g_hash_table_lookup(reg->whip_rooms, s->room) == s)
    g_hash_table_remove(reg->whip_rooms, s->room);
  s->in_registry = false;
  reg->n_sessions--;
  return true;
}

int
lc__rtc_registry_close(lc__rtc_registry *reg, const char *id, lc__rtc_worker **owner)
{
  *owner = NULL;
  if (!id)
    return LC_ENOENT;
  g_mutex_lock(&reg->lock);
  lc__rtc_session *s = g_hash_table_lookup(reg->by_id, id);
  if (!s || g_atomic_int_get(&s->closing)) {
    g_mutex_unlock(&reg->lock);
    return LC_ENOENT;
  }
  g_atomic_int_set(&s->closing, 1);
  bool mine = s->owner < 0 && unregister_locked(reg, s);
  *owner = s->owner_w;
  g_mutex_unlock(&reg->lock);
  if (mine) {
    LC_INFO(s->room, s->id, "session ended: deleted before ICE");
    lc__rtc_session_unref(s);
  }
  return 0;
}

void
lc__rtc_registry_unregister(lc__rtc_registry *reg, lc__rtc_session *s, const char *reason)
{
  g_mutex_lock(&reg->lock);
  bool was = unregister_locked(reg, s);
  g_mutex_unlock(&reg->lock);
  if (was && reason && reg->closed_fn)
    reg->closed_fn(s->id, reason, reg->closed_user);
  if (was)
    lc__rtc_session_unref(s);
}

unsigned
lc__rtc_registry_reap_unowned(lc__rtc_registry *reg, int64_t now_us, int64_t limit_us)
{
  GPtrArray *dead = g_ptr_array_new();
  g_mutex_lock(&reg->lock);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, reg->by_ufrag);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    lc__rtc_session *s = v;
    if (s->owner < 0 && now_us - s->created_us > limit_us)
      g_ptr_array_add(dead, s);
  }
  for (guint i = 0; i < dead->len; i++)
    unregister_locked(reg, dead->pdata[i]);
  g_mutex_unlock(&reg->lock);
  unsigned n = dead->len;
  for (guint i = 0; i < dead->len; i++) {
    lc__rtc_session *s = dead->pdata[i];
    LC_INFO(s->room, s->id, "session ended: ICE never completed");
    if (reg->closed_fn)
      reg->closed_fn(s->id, "ICE never completed", reg->closed_user);
    lc__rtc_session_unref(s);
  }
  g_ptr_array_unref(dead);
  return n;
}

lc__rtc_worker *
lc__rtc_registry_set_pin(lc__rtc_registry *reg, lc__rtc_session *s, const char *pin)
{
  g_mutex_lock(&reg->lock);
  g_free(s->pin);
  s->pin = g_strdup(pin);
  lc__rtc_worker *owner = s->owner_w;
  g_mutex_unlock(&reg->lock);
  g_atomic_int_set(&s->pin_changed, 1);
  return owner;
}

char *
lc__rtc_registry_get_pin(lc__rtc_registry *reg, lc__rtc_session *s)
{
  g_mutex_lock(&reg->lock);
  char *p = g_strdup(s->pin);
  g_mutex_unlock(&reg->lock);
  return p;
}

void
lc__rtc_registry_count_rung(lc__rtc_registry *reg, lc__rtc_session *s, const char *name)
{
  g_mutex_lock(&reg->lock);
  if (strcmp(s->rung_name, name) != 0) {
    if (s->rung_name[0]) {
      guint n = GPOINTER_TO_UINT(g_hash_table_lookup(reg->rungs, s->rung_name));
      if (n <= 1)
        g_hash_table_remove(reg->rungs, s->rung_name);
      else
        g_hash_table_insert(reg->rungs, g_strdup(s->rung_name), GUINT_TO_POINTER(n - 1));
    }
    g_strlcpy(s->rung_name, name, sizeof s->rung_name);
    if (s->rung_name[0]) {
      guint n = GPOINTER_TO_UINT(g_hash_table_lookup(reg->rungs, s->rung_name));
      g_hash_table_insert(reg->rungs, g_strdup(s->rung_name), GUINT_TO_POINTER(n + 1));
    }
  }
  g_mutex_unlock(&reg->lock);
}

void
lc__rtc_registry_count_connected(lc__rtc_registry *reg, lc__rtc_kind kind, int delta)
{
  g_mutex_lock(&reg->lock);
  if (kind == LC__RTC_WHEP)
    reg->n_viewers += (unsigned)delta;
  else
    reg->n_publishers += (unsigned)delta;
  g_mutex_unlock(&reg->lock);
}

void
lc__rtc_registry_stats(lc__rtc_registry *reg, lc_rtc_stats *out)
{
  g_mutex_lock(&reg->lock);
  out->sessions = reg->n_sessions;
  out->viewers = reg->n_viewers;
  out->publishers = reg->n_publishers;
  out->n_rungs = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, reg->rungs);
  while (g_hash_table_iter_next(&it, &k, &v) && out->n_rungs < LC_RTC_STATS_RUNGS) {
    lc_rtc_rung_count *rc = &out->rungs[out->n_rungs++];
    g_strlcpy(rc->name, k, sizeof rc->name);
    rc->viewers = GPOINTER_TO_UINT(v);
  }
  g_mutex_unlock(&reg->lock);
}

void
lc__rtc_registry_report_publish(lc__rtc_registry *reg, const lc__rtc_session *s, bool live,
                                const char *reason)
{
  if (!reg->publish_fn)
    return;
  char peer[INET6_ADDRSTRLEN + 8] = "";
  if (s->has_addr) {
    char host[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
    int port = 0;
    if (sa->sa_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    g_snprintf(peer, sizeof peer, "%s:%d", host, port);
  }
  reg->publish_fn(s->room, s->id, live, reason, peer, reg->publish_user);
}

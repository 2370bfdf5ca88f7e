/* ICE-lite on a worker (see rtc_ice.h).
 *
 * Demultiplexing across workers (why no hand-off queue is needed on the media path):
 * every worker binds its own socket to the same address:port with SO_REUSEPORT. For UDP the
 * kernel picks the socket of a group by a hash of the datagram's 4-tuple (reuseport_select_sock
 * over udp_ehashfn), which is stable while the group does not change — all sockets are created
 * at start and live until stop. So all datagrams of one remote address:port land on the same
 * worker. A session is adopted (claimed in the registry, once) by the worker whose socket
 * received its first valid STUN check; from then on that worker alone touches its ICE/DTLS/SRTP state and
 * sends from its own socket (same local port, so the browser sees one 5-tuple). The shared map
 * ufrag -> session is consulted only for checks from tuples the worker does not know yet
 * (one lock per new tuple, not per packet); everything else is a worker-local hash lookup.
 * A peer with several tuples (a browser checking from several local candidates, a NAT rebinding)
 * may have some hash to another worker B. B verifies such a check (the password is immutable),
 * remembers the tuple as foreign (tuple -> session, owner elsewhere) and hands the datagram to the
 * owner A through A's hand-off queue; later datagrams from that tuple take the same way. A
 * handles them as if its own socket had received them, and answers from its own socket — every
 * socket has the same local address and port, so the peer cannot tell. This costs a copy and a
 * lock per datagram, but only for tuples that are not the kernel's pick, which are rare.
 * A tuple belongs to the session whose credentials its latest valid check passed (tuple_take):
 * a browser that reloads reuses its port while its old session waits for the consent timeout;
 * the old session then loses the tuple (and stops sending if it was its nominated address).
 * Known gap: when the old session lives on another worker (its first check came from another
 * of the peer's tuples), that worker keeps sending to the tuple until the old session's consent
 * timeout; the peer drops those packets (unknown SSRC/keys). */
#define _GNU_SOURCE /* struct mmsghdr */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_ice.h"

#include <string.h>

#include "base/log.h"
#include "rtc/rtc_send.h"
#include "rtc/stun.h"

#define SOFTWARE "livecart"

static void
key_from_addr(lc__rtc_tuple_key *k, const struct sockaddr *sa)
{
  memset(k, 0, sizeof *k);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    k->fam = 4;
    k->port = in->sin_port;
    memcpy(k->addr, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    k->fam = 6;
    k->port = in6->sin6_port;
    memcpy(k->addr, &in6->sin6_addr, 16);
  }
}

static guint
key_hash(gconstpointer p)
{
  const uint8_t *b = p;
  guint h = 2166136261u;
  for (size_t i = 0; i < sizeof(lc__rtc_tuple_key); i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
key_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, sizeof(lc__rtc_tuple_key)) == 0;
}

lc__rtc_session *
lc__rtc_ice_session_by_tuple(lc__rtc_worker *w, const struct sockaddr *from)
{
  lc__rtc_tuple_key k;
  key_from_addr(&k, from);
  return g_hash_table_lookup(w->tuples, &k);
}

static void
handoff(lc__rtc_worker *w, lc__rtc_worker *to, const uint8_t *buf, size_t len, const struct sockaddr *from,
        socklen_t from_len)
{
  lc__rtc_fwd_dgram *d = g_malloc(sizeof *d + len + LC_SRTP_MAX_TRAILER);
  memcpy(&d->from, from, from_len);
  d->from_len = from_len;
  d->len = len;
  memcpy(d->data, buf, len);
  bool wake = false;
  g_mutex_lock(&to->hlock);
  if (to->handoff.length < LC__RTC_HANDOFF_MAX) {
    g_queue_push_tail(&to->handoff, d);
    wake = to->handoff.length == 1;
    d = NULL;
  }
  g_mutex_unlock(&to->hlock);
  if (d) {
    g_free(d);
    LC__RTC_ADD(w->ctr->queue_drops, 1);
    return;
  }
  LC__RTC_ADD(w->ctr->handoffs, 1);
  if (wake)
    lc__rtc_worker_wake(to);
}

void
lc__rtc_ice_drain_handoff(lc__rtc_worker *w)
{
  GQueue q = G_QUEUE_INIT;
  g_mutex_lock(&w->hlock);
  q = w->handoff;
  g_queue_init(&w->handoff);
  g_mutex_unlock(&w->hlock);
  lc__rtc_fwd_dgram *d;
  while ((d = g_queue_pop_head(&q))) {
    lc__rtc_worker_datagram(w, d->data, d->len, (struct sockaddr *)&d->from, d->from_len);
    g_free(d);
  }
}

/* A datagram from a tuple this worker knows as another worker's: hand it over. */
bool
lc__rtc_ice_forward_foreign(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
                            socklen_t from_len)
{
  lc__rtc_tuple_key k;
  key_from_addr(&k, from);
  lc__rtc_session *s = g_hash_table_lookup(w->foreign, &k);
  if (!s)
    return false;
  if (!g_atomic_int_get(&s->ended) && s->owner_w)
    handoff(w, s->owner_w, buf, len, from, from_len);
  return true;
}

void
lc__rtc_ice_foreign_gc(lc__rtc_worker *w, bool all)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, w->foreign);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (all || g_atomic_int_get(&((lc__rtc_session *)v)->ended))
      g_hash_table_iter_remove(&it);
}

/* Drops k from s's tuple list; s loses its nominated address if that was k (it then sends
 * nothing until a check nominates another of its tuples). Worker thread owning s. */
static void
tuple_forget(lc__rtc_session *s, const lc__rtc_tuple_key *k)
{
  for (unsigned i = 0; i < s->n_tuples; i++) {
    lc__rtc_tuple_key o;
    key_from_addr(&o, (struct sockaddr *)&s->tuples[i]);
    if (!key_equal(&o, k))
      continue;
    memmove(&s->tuples[i], &s->tuples[i + 1], sizeof s->tuples[0] * (s->n_tuples - 1 - i));
    memmove(&s->tuple_lens[i], &s->tuple_lens[i + 1], sizeof s->tuple_lens[0] * (s->n_tuples - 1 - i));
    s->n_tuples--;
    break;
  }
  if (s->has_addr) {
    lc__rtc_tuple_key nom;
    key_from_addr(&nom, (struct sockaddr *)&s->addr);
    if (key_equal(&nom, k))
      s->has_addr = false;
  }
}

/* A check from k passed s's MESSAGE-INTEGRITY: k belongs to s from now on. Browsers reuse
 * their ports (a reload, a new RTCPeerConnection), so k may still be mapped to an older session
 * on this worker (still waiting for its consent timeout), or known as another worker's session:
 * both mappings are dropped, else the new session's DTLS and SRTP would reach the old one.
 * Worker thread. */
static void
tuple_take(lc__rtc_worker *w, lc__rtc_session *s, const lc__rtc_tuple_key *k)
{
  lc__rtc_session *old = g_hash_table_lookup(w->tuples, k);
  if (old && old != s) {
    LC_INFO(old->room, old->id, "its 5-tuple now belongs to session %s", s->id);
    lc__rtc_send_flush(w); /* the batch may point at old->addr */
    tuple_forget(old, k);
    g_hash_table_remove(w->tuples, k);
  }
  lc__rtc_session *f = g_hash_table_lookup(w->foreign, k);
  if (f && f != s)
    g_hash_table_remove(w->foreign, k);
}

/* Consent freshness (RFC 7675 asks the browser; the server only needs proof that the peer
 * still wants the traffic): an authenticated STUN Binding Request, or any SRTP/SRTCP packet
 * that authenticates with the session's keys, from one of the session's ICE-checked tuples.
 * libnice (webrtcbin, hence whipsink/whepsrc) keeps its pair alive with Binding Indications,
 * which carry no integrity and do not count; its RTCP (every few seconds) and its media do.
 * Worker thread. */
void
lc__rtc_ice_consent_refresh(lc__rtc_worker *w, lc__rtc_session *s)
{
  __atomic_store_n(&s->last_consent_us, w->now, __ATOMIC_RELAXED);
}

void
lc__rtc_ice_handle_stun(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
                        socklen_t from_len)
{
  lc_stun_msg m;
  if (lc_stun_parse(buf, len, &m) != 0 || m.type != LC_STUN_BINDING_REQUEST || !m.username)
    return;
  const uint8_t *colon = memchr(m.username, ':', m.username_len);
  size_t ufrag_len = colon ? (size_t)(colon - m.username) : m.username_len;
  lc__rtc_session *s = lc__rtc_ice_session_by_tuple(w, from), *ref = NULL;
  if (s && (strlen(s->ufrag) != ufrag_len || memcmp(s->ufrag, m.username, ufrag_len) != 0))
    s = NULL;
  if (!s) {
    ref = lc__rtc_registry_by_ufrag(w->reg, (const char *)m.username, ufrag_len);
    s = ref;
  }
  if (!s)
    return; /* unknown ufrag: no answer (no reflection for spoofed sources) */
  uint8_t out[LC_STUN_MAX_RESPONSE];
  size_t out_len;
  size_t pwd_len = strlen(s->pwd);
  if (lc_stun_check_integrity(&m, (const uint8_t *)s->pwd, pwd_len) != 0) {
    if (lc_stun_build_error(out, sizeof out, m.tid, 401, NULL, NULL, 0, &out_len) == 0)
      lc__rtc_send_now(w, from, from_len, out, out_len);
    goto done;
  }
  if (m.unknown_required) {
    if (lc_stun_build_error(out, sizeof out, m.tid, 420, NULL, (const uint8_t *)s->pwd, pwd_len, &out_len) ==
        0)
      lc__rtc_send_now(w, from, from_len, out, out_len);
    goto done;
  }
  if (m.ice_controlled) { /* we are lite, hence controlled: the peer must control */
    if (lc_stun_build_error(out, sizeof out, m.tid, 487, NULL, (const uint8_t *)s->pwd, pwd_len, &out_len) ==
        0)
      lc__rtc_send_now(w, from, from_len, out, out_len);
    goto done;
  }
  int owner = ref ? lc__rtc_registry_claim(w->reg, s, w->index, w) : w->index; /* a known tuple: ours */
  if (owner < 0)
    goto done;             /* ended meanwhile */
  if (owner != w->index) { /* the session lives on another worker: hand the check over */
    if (s->owner_w) {
      lc__rtc_tuple_key k;
      key_from_addr(&k, from);
      tuple_take(w, s, &k);
      if (!g_hash_table_contains(w->foreign, &k) && g_hash_table_size(w->foreign) < 65536)
        g_hash_table_insert(w->foreign, g_memdup2(&k, sizeof k), lc__rtc_session_ref(s));
      handoff(w, s->owner_w, buf, len, from, from_len);
    }
    goto done;
  }
  if (lc_stun_build_binding_success(out, sizeof out, m.tid, from, SOFTWARE, (const uint8_t *)s->pwd, pwd_len,
                                    &out_len) == 0)
    lc__rtc_send_now(w, from, from_len, out, out_len);
  lc__rtc_ice_consent_refresh(w, s);
  if (!g_hash_table_contains(w->sessions, s)) { /* just adopted: the worker's ref */
    g_hash_table_add(w->sessions, lc__rtc_session_ref(s));
    g_atomic_int_inc(&w->n_sessions);
  }
  lc__rtc_tuple_key k;
  key_from_addr(&k, from);
  tuple_take(w, s, &k);
  if (!g_hash_table_contains(w->tuples, &k)) {
    if (s->n_tuples == LC__RTC_MAX_TUPLES) { /* forget the oldest one that is not nominated */
      lc__rtc_tuple_key nom, old;
      key_from_addr(&nom, (struct sockaddr *)&s->addr);
      unsigned i = 0;
      key_from_addr(&old, (struct sockaddr *)&s->tuples[0]);
      if (s->has_addr && key_equal(&old, &nom))
        key_from_addr(&old, (struct sockaddr *)&s->tuples[i = 1]);
      g_hash_table_remove(w->tuples, &old);
      memmove(&s->tuples[i], &s->tuples[i + 1], sizeof s->tuples[0] * (LC__RTC_MAX_TUPLES - 1 - i));
      memmove(&s->tuple_lens[i], &s->tuple_lens[i + 1],
              sizeof s->tuple_lens[0] * (LC__RTC_MAX_TUPLES - 1 - i));
      s->n_tuples--;
    }
    memcpy(&s->tuples[s->n_tuples], from, from_len);
    s->tuple_lens[s->n_tuples++] = from_len;
    g_hash_table_insert(w->tuples, g_memdup2(&k, sizeof k), s);
  }
  if (m.use_candidate || !s->has_addr) {
    memcpy(&s->addr, from, from_len);
    s->addr_len = from_len;
    s->has_addr = true;
  }
  if (s->state == LC__RTC_ICE) {
    s->state = LC__RTC_DTLS;
    s->dtls = lc_dtls_new(w->cert, LC_DTLS_SERVER, s->remote_fp, 1200);
    s->dtls_full = true;
    LC__RTC_ADD(w->ctr->dtls_held, 1);
    LC_DEBUG(s->room, s->id, "ICE check ok (worker %d)", w->index);
  }
done:
  if (ref)
    lc__rtc_session_unref(ref);
}

void
lc__rtc_ice_drop_tuples(lc__rtc_worker *w, lc__rtc_session *s)
{
  for (unsigned i = 0; i < s->n_tuples; i++) {
    lc__rtc_tuple_key k;
    key_from_addr(&k, (struct sockaddr *)&s->tuples[i]);
    g_hash_table_remove(w->tuples, &k);
  }
  s->n_tuples = 0;
}

static void
session_value_unref(gpointer p)
{
  lc__rtc_session_unref(p);
}

void
lc__rtc_ice_init(lc__rtc_worker *w)
{
  w->tuples = g_hash_table_new_full(key_hash, key_equal, g_free, NULL);
  w->foreign = g_hash_table_new_full(key_hash, key_equal, g_free, session_value_unref);
  g_mutex_init(&w->hlock);
  g_queue_init(&w->handoff);
}

void
lc__rtc_ice_clear(lc__rtc_worker *w)
{
  g_hash_table_unref(w->foreign);
  g_queue_clear_full(&w->handoff, g_free);
  g_mutex_clear(&w->hlock);
  g_hash_table_unref(w->tuples);
}

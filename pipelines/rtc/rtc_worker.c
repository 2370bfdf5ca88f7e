/* RTC worker threads: one UDP socket each on the shared media port, ICE-lite, DTLS-SRTP, fan-out
 * of renditions to viewers, RTCP, WHIP ingest. See rtc.h and rtc_worker.h.
 *
 * Demultiplexing across workers (why no hand-off queue is needed on the media path):
 * every worker binds its own socket to the same address:port with SO_REUSEPORT. For UDP the
 * kernel picks the socket of a group by a hash of the datagram's 4-tuple (reuseport_select_sock
 * over udp_ehashfn), which is stable while the group does not change — all sockets are created
 * at start and live until stop. So all datagrams of one remote address:port land on the same
 * worker. A session is adopted (claimed in the registry, once) by the worker whose socket received its
 * first valid STUN check; from then on that worker alone touches its ICE/DTLS/SRTP state and
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
 * timeout; the peer drops those packets (unknown SSRC/keys).
 *
 * Memory: once a packet from the peer authenticates (SRTCP from a viewer, SRTP from a
 * publisher) its OpenSSL DTLS state is freed (dtls_trim; the dtls_held gauge counts the rest).
 *
 * Per-packet path: a rendition's producer thread calls sink() once per worker subscribed (not
 * per viewer): a pkt ref goes into the worker's bounded ring under its mutex (the only lock on
 * the path); full -> drop and count. The worker swaps the ring out in one lock, and for each
 * packet walks its viewers of that rendition: copy into a per-thread scratch slot with the
 * viewer's SSRC/seq/ts/PT (and transport-cc extension) written there, SRTP-protect in place,
 * queue into an mmsghdr batch, sendmmsg per 64 datagrams. A socket that would block drops and
 * counts (send_drops); a producer or another viewer never waits. */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_worker.h"
#include "base/bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/log.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/stun.h"

#define SEND_BATCH 128
#define RECV_BATCH 32
#define SLOT 2048
#define TICK_US 20000
#define SR_INTERVAL_US 1000000
#define ADAPT_INTERVAL_US 500000
#define UP_HOLD_MS 4000
#define FAST_JOIN_FRESH_US 500000    /* cached keyframe this recent: replay its GOP to a new viewer */
#define FAST_JOIN_MAX_AGE_US 3000000 /* older than this: never replay it */
#define MAX_RUNGS 8
#define SOFTWARE "livecart"

typedef struct {
  lc__rtc_wsub *ws;
  lc_pkt *pkt;
} qitem;

/* A datagram handed from the worker that received it to the owner of its session. */
typedef struct {
  struct sockaddr_storage from;
  socklen_t from_len;
  size_t len;
  uint8_t data[]; /* len + LC_SRTP_MAX_TRAILER bytes */
} fwd_dgram;

#define HANDOFF_MAX 4096

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define GSO_MAX_SEGS 32

/* One message of the send batch. */
typedef struct {
  const lc__rtc_session *s;
  unsigned first, segs; /* slots */
  size_t seg_size, last_len;
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl;
} msg_meta;

typedef struct {
  uint8_t fam;
  uint8_t pad;
  uint16_t port;
  uint8_t addr[16];
} tuple_key;

struct lc__rtc_worker {
  lc__rtc_registry *reg; /* borrowed */
  lc__rtc_counters *ctr; /* borrowed */
  lc__rtc_params params;
  lc_dtls_cert *cert; /* ref */
  int index;
  int fd, efd, port;
  GThread *thread;
  gint stop;
  gint n_sessions;
  gint64 cpu_us; /* the thread's CPU time, updated every tick (__atomic) */

  /* media queue: qlock */
  GMutex qlock;
  qitem *q;
  unsigned qcap, qhead, qlen;

  /* worker thread only */
  GHashTable *tuples;   /* tuple_key * -> session (borrowed) */
  GHashTable *sessions; /* session -> session (the worker's ref) */
  GHashTable *wsubs;    /* lc_rendition * -> lc__rtc_wsub * */
  GHashTable *foreign;  /* tuple_key * -> session owned by another worker (a ref) */
  int64_t next_foreign_gc;

  /* datagrams handed over by other workers: hlock */
  GMutex hlock;
  GQueue handoff; /* fwd_dgram * */
  qitem *drain;
  int64_t now;
  int64_t next_tick, next_reap;

  /* send batch: datagrams in slots (one iovec each); consecutive equal-size datagrams to one
   * peer share a message sent with UDP GSO (UDP_SEGMENT) when the kernel supports it */
  uint8_t *slots; /* SEND_BATCH * SLOT */
  struct iovec iov[SEND_BATCH];
  unsigned n_slots;
  struct mmsghdr msgs[SEND_BATCH];
  msg_meta meta[SEND_BATCH];
  unsigned n_msgs;
  bool gso;
  uint64_t acc_pkts, acc_bytes;

  uint8_t *rbuf; /* RECV_BATCH * SLOT */
  struct mmsghdr rmsgs[RECV_BATCH];
  struct iovec riov[RECV_BATCH];
  struct sockaddr_storage raddr[RECV_BATCH];
};

/* ---------------------------------------------------------------- tuples */

static void
key_from_addr(tuple_key *k, const struct sockaddr *sa)
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
  for (size_t i = 0; i < sizeof(tuple_key); i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
key_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, sizeof(tuple_key)) == 0;
}

static lc__rtc_session *
session_by_tuple(lc__rtc_worker *w, const struct sockaddr *from)
{
  tuple_key k;
  key_from_addr(&k, from);
  return g_hash_table_lookup(w->tuples, &k);
}

/* ---------------------------------------------------------------- sending */

static void
flush(lc__rtc_worker *w)
{
  for (unsigned i = 0; i < w->n_msgs; i++) {
    msg_meta *m = &w->meta[i];
    struct msghdr *h = &w->msgs[i].msg_hdr;
    h->msg_iov = &w->iov[m->first];
    h->msg_iovlen = m->segs;
    if (m->segs > 1) {
      h->msg_control = m->ctl.buf;
      h->msg_controllen = sizeof m->ctl.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gs = (uint16_t)m->seg_size;
      memcpy(CMSG_DATA(c), &gs, sizeof gs);
    }
  }
  unsigned off = 0;
  while (off < w->n_msgs) {
    int r = sendmmsg(w->fd, w->msgs + off, w->n_msgs - off, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      unsigned lost = 0;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        for (unsigned i = off; i < w->n_msgs; i++)
          lost += w->meta[i].segs;
        LC__RTC_ADD(w->ctr->send_drops, lost);
        break;
      }
      if (w->meta[off].segs > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
        if (w->gso)
          LC_WARN(NULL, NULL, "UDP GSO refused (%s): sending datagrams one by one", g_strerror(errno));
        w->gso = false;
      }
      LC__RTC_ADD(w->ctr->send_drops, w->meta[off].segs); /* this message failed: skip it */
      off++;
      continue;
    }
    for (unsigned i = off; i < off + (unsigned)r; i++) {
      w->acc_bytes += w->msgs[i].msg_len;
      w->acc_pkts += w->meta[i].segs;
    }
    off += (unsigned)r;
  }
  w->n_msgs = 0;
  w->n_slots = 0;
  if (w->acc_pkts) {
    LC__RTC_ADD(w->ctr->packets_sent, w->acc_pkts);
    LC__RTC_ADD(w->ctr->bytes_sent, w->acc_bytes);
    w->acc_pkts = w->acc_bytes = 0;
  }
}

/* Next scratch slot (flushing the batch when full). */
static uint8_t *
slot_get(lc__rtc_worker *w)
{
  if (w->n_slots == SEND_BATCH || w->n_msgs == SEND_BATCH)
    flush(w);
  return w->slots + (size_t)w->n_slots * SLOT;
}

/* Queues the slot just written (len bytes) to s's nominated address. */
static void
slot_commit(lc__rtc_worker *w, lc__rtc_session *s, size_t len)
{
  unsigned i = w->n_slots++;
  w->iov[i].iov_base = w->slots + (size_t)i * SLOT;
  w->iov[i].iov_len = len;
  if (w->gso && w->n_msgs > 0) {
    msg_meta *m = &w->meta[w->n_msgs - 1];
    if (m->s == s && m->first + m->segs == i && m->segs < GSO_MAX_SEGS && m->last_len == m->seg_size &&
        len <= m->seg_size) {
      m->segs++;
      m->last_len = len;
      return;
    }
  }
  unsigned n = w->n_msgs++;
  w->meta[n] = (msg_meta){.s = s, .first = i, .segs = 1, .seg_size = len, .last_len = len};
  memset(&w->msgs[n].msg_hdr, 0, sizeof w->msgs[n].msg_hdr);
  w->msgs[n].msg_hdr.msg_name = &s->addr;
  w->msgs[n].msg_hdr.msg_namelen = s->addr_len;
}

static void
send_now(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, const uint8_t *buf, size_t len)
{
  if (sendto(w->fd, buf, len, MSG_DONTWAIT, to, to_len) < 0)
    LC__RTC_ADD(w->ctr->send_drops, 1);
}

static void
send_dtls_out(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, GPtrArray *out)
{
  for (guint i = 0; i < out->len; i++) {
    gsize n;
    const uint8_t *d = g_bytes_get_data(out->pdata[i], &n);
    send_now(w, to, to_len, d, n);
  }
  g_ptr_array_set_size(out, 0);
}

/* Copies pkt into a scratch slot as the viewer's packet (SSRC/seq/ts/PT, our transport-cc
 * extension instead of the source's), protects it and queues it. */
static void
emit_rtp(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t, const lc_pkt *pkt, const lc_rtp_header *h,
         uint16_t out_seq, uint32_t out_ts)
{
  size_t fixed = LC_RTP_HEADER_MIN + 4u * h->csrc_count;
  size_t body = pkt->len - h->header_len; /* payload + padding */
  if (!s->has_addr || fixed + 8 + body + LC_SRTP_MAX_TRAILER > SLOT)
    return; /* (no address: its 5-tuple went to another session, see tuple_take) */
  uint8_t *o = slot_get(w);
  memcpy(o, pkt->data, fixed);
  size_t n = fixed;
  if (s->twcc_id && s->bwe) {
    o[0] |= 0x10;
    uint16_t tseq = lc__rtc_bwe_on_send(s->bwe, fixed + 8 + body, w->now);
    uint8_t ext[8] = {0xBE,          0xDE, 0x00, 0x01, (uint8_t)(s->twcc_id << 4 | 1), (uint8_t)(tseq >> 8),
                      (uint8_t)tseq, 0};
    memcpy(o + n, ext, 8);
    n += 8;
  } else {
    o[0] &= (uint8_t)~0x10;
  }
  memcpy(o + n, pkt->data + h->header_len, body);
  n += body;
  lc_rtp_set_ssrc(o, t->map.ssrc);
  lc_rtp_set_seq(o, out_seq);
  lc_rtp_set_timestamp(o, out_ts);
  lc_rtp_set_pt(o, t->map.pt);
  size_t plen;
  if (lc_srtp_protect_rtp(s->srtp, o, n, &plen) != 0)
    return;
  slot_commit(w, s, plen);
}

static void
send_media(lc__rtc_worker *w, lc__rtc_vtrack *t, const lc_pkt *pkt, const lc_rtp_header *h)
{
  uint16_t seq;
  uint32_t ts;
  if (!lc__rtc_track_map(&t->map, pkt->seq, pkt->ts, pkt->produced_us, h->payload_len, &seq, &ts))
    return;
  emit_rtp(w, t->s, t, pkt, h, seq, ts);
}

/* One RTCP packet (plain in buf[0..len), room for the trailer) protected and queued. */
static void
emit_rtcp(lc__rtc_worker *w, lc__rtc_session *s, uint8_t *o, size_t len)
{
  size_t plen;
  if (!s->has_addr || lc_srtp_protect_rtcp(s->srtp, o, len, &plen) != 0)
    return;
  slot_commit(w, s, plen);
}

/* ---------------------------------------------------------------- subscriptions */

static void
sink(lc_rendition *r, lc_pkt *pkt, gpointer user)
{
  lc__rtc_wsub *ws = user;
  lc__rtc_worker *w = ws->w;
  bool wake = false, drop = false;
  lc_pkt_ref(pkt);
  g_mutex_lock(&w->qlock);
  if (w->qlen == w->qcap) {
    drop = true;
  } else {
    w->q[(w->qhead + w->qlen) % w->qcap] = (qitem){ws, pkt};
    wake = w->qlen++ == 0;
  }
  g_mutex_unlock(&w->qlock);
  if (drop) {
    lc_pkt_unref(pkt);
    LC__RTC_ADD(w->ctr->queue_drops, 1);
  }
  if (wake)
    lc__rtc_worker_wake(w);
}

static lc__rtc_wsub *
wsub_get(lc__rtc_worker *w, lc_rendition *r)
{
  lc__rtc_wsub *ws = g_hash_table_lookup(w->wsubs, r);
  if (ws)
    return ws;
  ws = g_new0(lc__rtc_wsub, 1);
  ws->w = w;
  ws->r = lc_rendition_ref(r);
  lc_rendition_get_info(r, &ws->info);
  ws->tracks = g_ptr_array_new();
  g_hash_table_insert(w->wsubs, r, ws);
  ws->sub_id = lc_rendition_subscribe(r, sink, ws);
  return ws;
}

/* Unsubscribes and frees ws: queued items for it are dropped, tracks forget it as prev source. */
static void
wsub_free(lc__rtc_worker *w, lc__rtc_wsub *ws)
{
  lc_rendition_unsubscribe(ws->r, ws->sub_id); /* no sink call for ws runs after this */
  g_mutex_lock(&w->qlock);
  unsigned keep = 0;
  for (unsigned i = 0; i < w->qlen; i++) {
    qitem it = w->q[(w->qhead + i) % w->qcap];
    if (it.ws == ws)
      lc_pkt_unref(it.pkt);
    else
      w->q[(w->qhead + keep++) % w->qcap] = it;
  }
  w->qlen = keep;
  g_mutex_unlock(&w->qlock);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, w->sessions);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    lc__rtc_session *s = k;
    if (s->video.map.prev_src == ws)
      s->video.map.prev_src = NULL;
    if (s->audio.map.prev_src == ws)
      s->audio.map.prev_src = NULL;
  }
  g_hash_table_remove(w->wsubs, ws->r);
  lc_rendition_unref(ws->r);
  g_ptr_array_unref(ws->tracks);
  g_free(ws);
}

static void
wsub_gc(lc__rtc_worker *w, bool all)
{
  GPtrArray *dead = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, w->wsubs);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    lc__rtc_wsub *ws = v;
    if (all || ws->tracks->len == 0)
      g_ptr_array_add(dead, ws);
  }
  for (guint i = 0; i < dead->len; i++)
    wsub_free(w, dead->pdata[i]);
  g_ptr_array_unref(dead);
}

static void
track_detach(lc__rtc_vtrack *t)
{
  if (t->cur)
    g_ptr_array_remove_fast(t->cur->tracks, t);
  if (t->pending && t->pending != t->cur)
    g_ptr_array_remove_fast(t->pending->tracks, t);
  t->cur = t->pending = NULL;
}

/* Makes ws the track's switch target (it starts at ws's next keyframe; audio at any packet). */
static void
track_target(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws, int index)
{
  if (t->pending && t->pending != t->cur)
    g_ptr_array_remove_fast(t->pending->tracks, t);
  t->pending = NULL;
  if (ws == t->cur)
    return;
  g_ptr_array_add(ws->tracks, t);
  t->pending = ws;
  t->pending_index = index;
  t->pending_since_us = w->now;
}

static void
track_switched(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws, const lc_pkt *pkt)
{
  lc__rtc_wsub *old = t->cur;
  if (old && old != ws)
    g_ptr_array_remove_fast(old->tracks, t);
  bool was_started = t->map.started;
  t->cur = ws;
  t->pending = NULL;
  if (t->kind == LC_MEDIA_VIDEO) {
    t->cur_index = t->pending_index;
    lc__rtc_registry_count_rung(w->reg, t->s, ws->info.name);
    if (was_started)
      LC__RTC_ADD(w->ctr->rung_switches, 1);
  }
  lc__rtc_track_switch(&t->map, ws, pkt->seq, pkt->ts, pkt->produced_us);
}

static void
request_keyframe(lc__rtc_worker *w, lc_rendition *r)
{
  if (lc_rendition_request_keyframe(r))
    LC__RTC_ADD(w->ctr->keyframe_requests, 1);
}

/* ---------------------------------------------------------------- fan-out */

#define RUN_MAX 32 /* packets of one rendition fanned out viewer by viewer */

/* Sends pkts[0..n) (all of ws, in order) to each viewer of ws in turn: a viewer's packets leave
 * back to back, so equal-size ones share one GSO message and its SRTP context stays in cache. */
static void
fan_out_run(lc__rtc_worker *w, lc__rtc_wsub *ws, lc_pkt *const *pkts, unsigned n)
{
  lc_rtp_header h[RUN_MAX];
  bool ok[RUN_MAX];
  if (ws->tracks->len == 0)
    return;
  for (unsigned j = 0; j < n; j++)
    ok[j] = lc_rtp_parse(pkts[j]->data, pkts[j]->len, &h[j]) == 0;
  for (guint i = 0; i < ws->tracks->len; i++) {
    lc__rtc_vtrack *t = ws->tracks->pdata[i];
    if (t->s->state != LC__RTC_MEDIA)
      continue;
    for (unsigned j = 0; j < n; j++) {
      if (!ok[j])
        continue;
      if (t->cur != ws) {
        if (t->pending != ws || (t->kind == LC_MEDIA_VIDEO && !pkts[j]->keyframe))
          continue;
        track_switched(w, t, ws, pkts[j]); /* removes t from another wsub's list, not this one */
      }
      send_media(w, t, pkts[j], &h[j]);
    }
  }
}

/* Groups the drained packets by rendition within windows of RUN_MAX (order kept within each
 * rendition) and fans each group out. */
static void
fan_out_batch(lc__rtc_worker *w, qitem *items, unsigned n)
{
  lc_pkt *run[RUN_MAX];
  for (unsigned base = 0; base < n; base += RUN_MAX) {
    unsigned end = MIN(n, base + RUN_MAX);
    for (unsigned first = base; first < end; first++) {
      if (!items[first].pkt)
        continue;
      lc__rtc_wsub *ws = items[first].ws;
      unsigned k = 0;
      for (unsigned i = first; i < end; i++) {
        if (items[i].pkt && items[i].ws == ws) {
          run[k++] = items[i].pkt;
          items[i].pkt = NULL;
        }
      }
      fan_out_run(w, ws, run, k);
      for (unsigned i = 0; i < k; i++)
        lc_pkt_unref(run[i]);
    }
  }
}

static void
drain_queue(lc__rtc_worker *w)
{
  for (int rounds = 0; rounds < 4; rounds++) {
    g_mutex_lock(&w->qlock);
    unsigned n = w->qlen;
    for (unsigned i = 0; i < n; i++)
      w->drain[i] = w->q[(w->qhead + i) % w->qcap];
    w->qhead = (w->qhead + n) % w->qcap;
    w->qlen = 0;
    g_mutex_unlock(&w->qlock);
    if (n == 0)
      return;
    fan_out_batch(w, w->drain, n);
  }
}

/* ---------------------------------------------------------------- session life */

static int
video_index_of(lc_media_room *m, lc_rendition *r)
{
  unsigned n = lc_media_room_n_video(m);
  for (unsigned i = 0; i < n; i++)
    if (lc_media_room_video(m, i) == r)
      return (int)i;
  return -1;
}

static int
rung_by_name(lc_media_room *m, const char *name)
{
  unsigned n = lc_media_room_n_video(m);
  for (unsigned i = 0; i < n; i++) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(m, i), &info);
    if (strcmp(info.name, name) == 0)
      return (int)i;
  }
  return -1;
}

/* The first rung for a new viewer: the pinned one, else the best one within 2.5 Mbit/s. */
static int
initial_rung(lc__rtc_session *s, const char *pin)
{
  int n = (int)lc_media_room_n_video(s->media);
  if (n == 0)
    return -1;
  if (pin) {
    int i = rung_by_name(s->media, pin);
    if (i >= 0)
      return i;
  }
  for (int i = 0; i < n; i++) {
    lc_rendition_info info;
    lc_rendition_get_info(lc_media_room_video(s->media, (unsigned)i), &info);
    if (info.bitrate_kbps <= 2500)
      return i;
  }
  return n - 1;
}

/* Fast join. A cached GOP whose keyframe is recent (<= FAST_JOIN_FRESH_US) is replayed at once:
 * an immediate picture at little lag. An older one would make the browser play that far behind
 * live for the whole session (its jitter buffer times frames from the first one), so a fresh
 * keyframe is requested instead (the ladder encodes one in a frame time); only when no request
 * could be forwarded (no keyframe function, or throttled) is a GOP up to FAST_JOIN_MAX_AGE_US old
 * replayed. Returns true when a keyframe is now being waited for. */
static bool
fast_join(lc__rtc_worker *w, lc__rtc_vtrack *t, lc__rtc_wsub *ws)
{
  GPtrArray *back = lc_rendition_since_keyframe(ws->r);
  lc_pkt *first = back && back->len > 0 ? back->pdata[0] : NULL;
  int64_t age = first && first->keyframe ? w->now - first->produced_us : INT64_MAX;
  bool replay = age <= FAST_JOIN_FRESH_US;
  bool waiting = false;
  if (!replay) {
    if (lc_rendition_request_keyframe(ws->r)) {
      LC__RTC_ADD(w->ctr->keyframe_requests, 1);
      waiting = true;
    } else {
      replay = age < FAST_JOIN_MAX_AGE_US;
      waiting = !replay;
    }
  }
  if (replay) {
    track_switched(w, t, ws, first);
    for (guint i = 0; i < back->len; i++) {
      lc_pkt *p = back->pdata[i];
      lc_rtp_header h;
      if (lc_rtp_parse(p->data, p->len, &h) == 0)
        send_media(w, t, p, &h);
    }
  }
  if (back)
    g_ptr_array_unref(back);
  return waiting;
}

/* Clears the flag first, then reads: a pin set meanwhile raises it again. */
static void
refresh_pin(lc__rtc_worker *w, lc__rtc_session *s)
{
  g_atomic_int_set(&s->pin_changed, 0);
  g_free(s->pin_w);
  s->pin_w = lc__rtc_registry_get_pin(w->reg, s);
}

static void
whip_keyframe_fn(lc_rendition *r, gpointer user)
{
  lc__rtc_session *s = user;
  g_atomic_int_set(&s->pli_wanted, 1);
  lc__rtc_worker *w = s->owner_w;
  if (w)
    lc__rtc_worker_wake(w);
}

static void
on_connected(lc__rtc_worker *w, lc__rtc_session *s)
{
  s->state = LC__RTC_MEDIA;
  s->connected_us = w->now;
  lc__rtc_registry_count_connected(w->reg, s->kind, 1);
  if (s->kind == LC__RTC_WHIP) {
    LC_INFO(s->room, s->id, "WHIP publisher connected");
    if (s->whip_video) {
      lc_rendition_discontinuity(s->whip_video);
      lc_rendition_set_live(s->whip_video, true);
      lc_rendition_set_keyframe_fn(s->whip_video, whip_keyframe_fn, s);
    }
    if (s->whip_audio) {
      lc_rendition_discontinuity(s->whip_audio);
      lc_rendition_set_live(s->whip_audio, true);
    }
    g_atomic_int_set(&s->pli_wanted, 1);
    lc__rtc_registry_report_publish(w->reg, s, true, NULL);
    return;
  }
  LC_INFO(s->room, s->id, "WHEP viewer connected");
  s->bwe = g_new(lc__rtc_bwe, 1);
  lc__rtc_bwe_init(s->bwe, s->twcc_id != 0);
  refresh_pin(w, s);
  int idx = initial_rung(s, s->pin_w);
  if (idx >= 0 && s->has_video) {
    lc__rtc_wsub *ws = wsub_get(w, lc_media_room_video(s->media, (unsigned)idx));
    track_target(w, &s->video, ws, idx);
    fast_join(w, &s->video, ws);
  }
  lc_rendition *a = lc_media_room_audio(s->media);
  if (a && s->has_audio)
    track_target(w, &s->audio, wsub_get(w, a), -1);
}

/* Tells a connected peer that its session is over, so that a publisher notices at once rather
 * than streaming into a void: an SRTCP compound (empty RR + BYE of our SSRCs) and the DTLS
 * close_notify (sealed at trim time if the DTLS state is trimmed). Worker thread. */
static void
say_goodbye(lc__rtc_worker *w, lc__rtc_session *s, const char *reason)
{
  if (s->state != LC__RTC_MEDIA || !s->srtp || !s->has_addr)
    return;
  uint32_t ssrcs[2];
  size_t n = 0;
  if (s->kind == LC__RTC_WHIP || s->has_video)
    ssrcs[n++] = s->video_ssrc;
  if (s->kind == LC__RTC_WHEP && s->has_audio)
    ssrcs[n++] = s->audio_ssrc;
  uint8_t *o = slot_get(w);
  size_t len;
  if (n && lc_rtcp_build_bye(o, SLOT - LC_SRTP_MAX_TRAILER, ssrcs[0], ssrcs, n, reason, &len) == 0)
    emit_rtcp(w, s, o, len);
  flush(w);
  if (s->dtls) {
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    lc_dtls_close(s->dtls, out);
    send_dtls_out(w, (struct sockaddr *)&s->addr, s->addr_len, out);
    g_ptr_array_unref(out);
  }
}

/* Ends a session on its worker: every trace in the worker, then the registry. peer_left: the
 * peer ended it (DTLS close_notify, RTCP BYE), so no goodbye is sent back. */
static void
teardown_from(lc__rtc_worker *w, lc__rtc_session *s, const char *reason, bool peer_left)
{
  if (!peer_left)
    say_goodbye(w, s, reason ? reason : "session deleted");
  flush(w); /* the batch may point at s->addr */
  for (unsigned i = 0; i < s->n_tuples; i++) {
    tuple_key k;
    key_from_addr(&k, (struct sockaddr *)&s->tuples[i]);
    g_hash_table_remove(w->tuples, &k);
  }
  s->n_tuples = 0;
  track_detach(&s->video);
  track_detach(&s->audio);
  if (s->kind == LC__RTC_WHIP && s->state == LC__RTC_MEDIA) {
    if (s->whip_video) {
      lc_rendition_set_keyframe_fn(s->whip_video, NULL, NULL); /* returns once no call runs */
      lc_rendition_set_live(s->whip_video, false);
    }
    if (s->whip_audio)
      lc_rendition_set_live(s->whip_audio, false);
    lc__rtc_registry_report_publish(w->reg, s, false, reason);
  }
  if (s->state == LC__RTC_MEDIA)
    lc__rtc_registry_count_connected(w->reg, s->kind, -1);
  lc__rtc_registry_count_rung(w->reg, s, "");
  g_clear_pointer(&s->srtp, lc_srtp_free);
  if (s->dtls_full) {
    s->dtls_full = false;
    __atomic_fetch_sub(&w->ctr->dtls_held, 1, __ATOMIC_RELAXED);
  }
  g_clear_pointer(&s->dtls, lc_dtls_free);
  if (s->bwe) {
    lc__rtc_bwe_clear(s->bwe);
    g_clear_pointer(&s->bwe, g_free);
  }
  s->state = LC__RTC_ICE;
  g_atomic_int_set(&s->ended, 1); /* other workers drop their foreign tuples of it */
  LC_INFO(s->room, s->id, "session ended: %s", reason ? reason : "deleted");
  lc__rtc_registry_unregister(w->reg, s, reason);
  g_atomic_int_add(&w->n_sessions, -1);
  g_hash_table_remove(w->sessions, s); /* drops the worker's ref */
}

static void
teardown(lc__rtc_worker *w, lc__rtc_session *s, const char *reason)
{
  teardown_from(w, s, reason, false);
}

/* ---------------------------------------------------------------- hand-off */

static void
handoff(lc__rtc_worker *w, lc__rtc_worker *to, const uint8_t *buf, size_t len, const struct sockaddr *from,
        socklen_t from_len)
{
  fwd_dgram *d = g_malloc(sizeof *d + len + LC_SRTP_MAX_TRAILER);
  memcpy(&d->from, from, from_len);
  d->from_len = from_len;
  d->len = len;
  memcpy(d->data, buf, len);
  bool wake = false;
  g_mutex_lock(&to->hlock);
  if (to->handoff.length < HANDOFF_MAX) {
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

static void handle_datagram(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from,
                            socklen_t from_len);

static void
drain_handoff(lc__rtc_worker *w)
{
  GQueue q = G_QUEUE_INIT;
  g_mutex_lock(&w->hlock);
  q = w->handoff;
  g_queue_init(&w->handoff);
  g_mutex_unlock(&w->hlock);
  fwd_dgram *d;
  while ((d = g_queue_pop_head(&q))) {
    handle_datagram(w, d->data, d->len, (struct sockaddr *)&d->from, d->from_len);
    g_free(d);
  }
}

/* A datagram from a tuple this worker knows as another worker's: hand it over. */
static bool
forward_foreign(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
                socklen_t from_len)
{
  tuple_key k;
  key_from_addr(&k, from);
  lc__rtc_session *s = g_hash_table_lookup(w->foreign, &k);
  if (!s)
    return false;
  if (!g_atomic_int_get(&s->ended) && s->owner_w)
    handoff(w, s->owner_w, buf, len, from, from_len);
  return true;
}

static void
foreign_gc(lc__rtc_worker *w, bool all)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, w->foreign);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (all || g_atomic_int_get(&((lc__rtc_session *)v)->ended))
      g_hash_table_iter_remove(&it);
}

/* ---------------------------------------------------------------- tuple ownership */

/* Drops k from s's tuple list; s loses its nominated address if that was k (it then sends
 * nothing until a check nominates another of its tuples). Worker thread owning s. */
static void
tuple_forget(lc__rtc_session *s, const tuple_key *k)
{
  for (unsigned i = 0; i < s->n_tuples; i++) {
    tuple_key o;
    key_from_addr(&o, (struct sockaddr *)&s->tuples[i]);
    if (!key_equal(&o, k))
      continue;
    memmove(&s->tuples[i], &s->tuples[i + 1], sizeof s->tuples[0] * (s->n_tuples - 1 - i));
    memmove(&s->tuple_lens[i], &s->tuple_lens[i + 1], sizeof s->tuple_lens[0] * (s->n_tuples - 1 - i));
    s->n_tuples--;
    break;
  }
  if (s->has_addr) {
    tuple_key nom;
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
tuple_take(lc__rtc_worker *w, lc__rtc_session *s, const tuple_key *k)
{
  lc__rtc_session *old = g_hash_table_lookup(w->tuples, k);
  if (old && old != s) {
    LC_INFO(old->room, old->id, "its 5-tuple now belongs to session %s", s->id);
    flush(w); /* the batch may point at old->addr */
    tuple_forget(old, k);
    g_hash_table_remove(w->tuples, k);
  }
  lc__rtc_session *f = g_hash_table_lookup(w->foreign, k);
  if (f && f != s)
    g_hash_table_remove(w->foreign, k);
}

/* The peer proved it holds the SRTP keys (a packet from it authenticated): our last DTLS flight
 * reached it, so OpenSSL's state (~40 KB) can go. Worker thread. */
static void
dtls_trim(lc__rtc_worker *w, lc__rtc_session *s)
{
  if (!s->dtls_full)
    return;
  lc_dtls_trim(s->dtls);
  s->dtls_full = false;
  __atomic_fetch_sub(&w->ctr->dtls_held, 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- STUN */

/* Consent freshness (RFC 7675 asks the browser; the server only needs proof that the peer
 * still wants the traffic): an authenticated STUN Binding Request, or any SRTP/SRTCP packet
 * that authenticates with the session's keys, from one of the session's ICE-checked tuples.
 * libnice (webrtcbin, hence whipsink/whepsrc) keeps its pair alive with Binding Indications,
 * which carry no integrity and do not count; its RTCP (every few seconds) and its media do.
 * Worker thread. */
static void
consent_refresh(lc__rtc_worker *w, lc__rtc_session *s)
{
  __atomic_store_n(&s->last_consent_us, w->now, __ATOMIC_RELAXED);
}


static void
handle_stun(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
            socklen_t from_len)
{
  lc_stun_msg m;
  if (lc_stun_parse(buf, len, &m) != 0 || m.type != LC_STUN_BINDING_REQUEST || !m.username)
    return;
  const uint8_t *colon = memchr(m.username, ':', m.username_len);
  size_t ufrag_len = colon ? (size_t)(colon - m.username) : m.username_len;
  lc__rtc_session *s = session_by_tuple(w, from), *ref = NULL;
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
      send_now(w, from, from_len, out, out_len);
    goto done;
  }
  if (m.unknown_required) {
    if (lc_stun_build_error(out, sizeof out, m.tid, 420, NULL, (const uint8_t *)s->pwd, pwd_len, &out_len) ==
        0)
      send_now(w, from, from_len, out, out_len);
    goto done;
  }
  if (m.ice_controlled) { /* we are lite, hence controlled: the peer must control */
    if (lc_stun_build_error(out, sizeof out, m.tid, 487, NULL, (const uint8_t *)s->pwd, pwd_len, &out_len) ==
        0)
      send_now(w, from, from_len, out, out_len);
    goto done;
  }
  int owner = ref ? lc__rtc_registry_claim(w->reg, s, w->index, w) : w->index; /* a known tuple: ours */
  if (owner < 0)
    goto done;             /* ended meanwhile */
  if (owner != w->index) { /* the session lives on another worker: hand the check over */
    if (s->owner_w) {
      tuple_key k;
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
    send_now(w, from, from_len, out, out_len);
  consent_refresh(w, s);
  if (!g_hash_table_contains(w->sessions, s)) { /* just adopted: the worker's ref */
    g_hash_table_add(w->sessions, lc__rtc_session_ref(s));
    g_atomic_int_inc(&w->n_sessions);
  }
  tuple_key k;
  key_from_addr(&k, from);
  tuple_take(w, s, &k);
  if (!g_hash_table_contains(w->tuples, &k)) {
    if (s->n_tuples == LC__RTC_MAX_TUPLES) { /* forget the oldest one that is not nominated */
      tuple_key nom, old;
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

/* ---------------------------------------------------------------- DTLS */

static void
handle_dtls(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
            socklen_t from_len)
{
  lc__rtc_session *s = session_by_tuple(w, from);
  if (!s || !s->dtls)
    return;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  lc_dtls_state st = lc_dtls_feed(s->dtls, buf, len, out);
  send_dtls_out(w, from, from_len, out);
  g_ptr_array_unref(out);
  if (st == LC_DTLS_CONNECTED && !s->srtp) {
    s->srtp = lc_srtp_new_from_dtls(s->dtls);
    if (!s->srtp) {
      LC__RTC_ADD(w->ctr->dtls_failures, 1);
      teardown(w, s, "SRTP keys unavailable");
      return;
    }
    on_connected(w, s);
  } else if (st == LC_DTLS_FAILED) {
    LC_WARN(s->room, s->id, "DTLS failed: %s", lc_dtls_error(s->dtls) ? lc_dtls_error(s->dtls) : "?");
    LC__RTC_ADD(w->ctr->dtls_failures, 1);
    teardown(w, s, "DTLS failed");
  } else if (st == LC_DTLS_CLOSED) {
    teardown_from(w, s, "DTLS closed by the peer", true);
  }
}

/* ---------------------------------------------------------------- RTCP in */

/* An RTCP BYE that ends the session: a viewer's BYE (it sends nothing else), or a publisher's
 * BYE of its video SSRC (a BYE of the audio SSRC alone is a track going, not the session). */
static bool
peer_says_bye(const lc__rtc_session *s, const lc_rtcp_packet *p)
{
  lc_rtcp_bye bye;
  if (lc_rtcp_parse_bye(p, &bye) != 0)
    return false;
  if (s->kind == LC__RTC_WHEP)
    return true;
  for (unsigned i = 0; i < bye.n_ssrcs; i++)
    if (bye.ssrcs[i] == s->remote_video_ssrc && s->remote_video_ssrc)
      return true;
  return false;
}

static lc__rtc_vtrack *
track_for_ssrc(lc__rtc_session *s, uint32_t media_ssrc)
{
  if (media_ssrc == s->audio_ssrc && s->has_audio)
    return &s->audio;
  return &s->video;
}

static void
answer_nack(lc__rtc_worker *w, lc__rtc_session *s, const lc_rtcp_packet *p)
{
  lc_rtcp_fb fb;
  uint16_t seqs[256];
  size_t n = 0;
  int rc = lc_rtcp_parse_nack(p, &fb, seqs, G_N_ELEMENTS(seqs), &n);
  if (rc != 0 && rc != LC_ETOOBIG)
    return;
  lc__rtc_vtrack *t = track_for_ssrc(s, fb.media_ssrc);
  for (size_t i = 0; i < n; i++) {
    const void *src;
    uint16_t in_seq, sd;
    uint32_t td;
    if (!lc__rtc_track_reverse(&t->map, seqs[i], &src, &in_seq, &sd, &td)) {
      LC__RTC_ADD(w->ctr->nack_misses, 1);
      continue;
    }
    const lc__rtc_wsub *ws = src;
    lc_pkt *pkt = lc_rendition_lookup(ws->r, in_seq);
    lc_rtp_header h;
    if (!pkt || lc_rtp_parse(pkt->data, pkt->len, &h) != 0) {
      LC__RTC_ADD(w->ctr->nack_misses, 1);
      lc_pkt_unref(pkt);
      continue;
    }
    emit_rtp(w, s, t, pkt, &h, (uint16_t)(pkt->seq + sd), pkt->ts + td);
    LC__RTC_ADD(w->ctr->retransmissions, 1);
    lc_pkt_unref(pkt);
  }
}

static void
twcc_cb(void *user, uint16_t seq, int status, int64_t recv_us)
{
  lc__rtc_bwe_twcc_packet(user, seq, status != LC_TWCC_NOT_RECEIVED, recv_us);
}

static void
handle_rtcp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from)
{
  lc__rtc_session *s = session_by_tuple(w, from);
  size_t plain;
  if (!s || !s->srtp || s->state != LC__RTC_MEDIA || lc_srtp_unprotect_rtcp(s->srtp, buf, len, &plain) != 0)
    return;
  dtls_trim(w, s);
  consent_refresh(w, s);
  lc_rtcp_iter it;
  lc_rtcp_packet p;
  lc_rtcp_iter_init(&it, buf, plain);
  while (lc_rtcp_iter_next(&it, &p) == 1) {
    if (p.kind == LC_RTCP_KIND_BYE) {
      if (peer_says_bye(s, &p)) {
        teardown_from(w, s, "RTCP BYE from the peer", true);
        return;
      }
      continue;
    }
    if (s->kind != LC__RTC_WHEP)
      continue; /* the publisher's SR/SDES: nothing to do yet */
    switch (p.kind) {
    case LC_RTCP_KIND_NACK:
      answer_nack(w, s, &p);
      break;
    case LC_RTCP_KIND_PLI:
    case LC_RTCP_KIND_FIR: {
      LC__RTC_ADD(w->ctr->plis_received, 1);
      lc__rtc_vtrack *t = &s->video;
      lc__rtc_wsub *ws = t->pending ? t->pending : t->cur;
      if (ws)
        request_keyframe(w, ws->r);
      break;
    }
    case LC_RTCP_KIND_REMB: {
      lc_rtcp_remb remb;
      if (lc_rtcp_parse_remb(&p, &remb) == 0 && s->bwe)
        lc__rtc_bwe_on_remb(s->bwe, remb.bitrate_bps, w->now);
      break;
    }
    case LC_RTCP_KIND_TWCC: {
      lc_rtcp_twcc tw;
      if (!s->bwe || lc_rtcp_parse_twcc(&p, &tw, NULL, NULL) != 0)
        break;
      lc__rtc_bwe_twcc_begin(s->bwe);
      lc_rtcp_parse_twcc(&p, &tw, twcc_cb, s->bwe);
      lc__rtc_bwe_twcc_end(s->bwe, w->now);
      break;
    }
    case LC_RTCP_KIND_RR:
    case LC_RTCP_KIND_SR: {
      lc_rtcp_rr rr;
      lc_rtcp_sr sr;
      const lc_rtcp_report_block *blocks = NULL;
      unsigned nb = 0;
      if (p.kind == LC_RTCP_KIND_RR && lc_rtcp_parse_rr(&p, &rr) == 0) {
        blocks = rr.blocks;
        nb = rr.n_blocks;
      } else if (p.kind == LC_RTCP_KIND_SR && lc_rtcp_parse_sr(&p, &sr) == 0) {
        blocks = sr.blocks;
        nb = sr.n_blocks;
      }
      for (unsigned i = 0; i < nb && s->bwe; i++)
        if (blocks[i].ssrc == s->video_ssrc)
          lc__rtc_bwe_on_rr(s->bwe, blocks[i].fraction_lost, w->now);
      break;
    }
    default:
      break;
    }
  }
}

/* ---------------------------------------------------------------- RTP in (WHIP) */

static void
handle_rtp(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from)
{
  lc__rtc_session *s = session_by_tuple(w, from);
  size_t plain;
  if (!s || s->kind != LC__RTC_WHIP || !s->srtp || s->state != LC__RTC_MEDIA ||
      lc_srtp_unprotect_rtp(s->srtp, buf, len, &plain) != 0)
    return;
  dtls_trim(w, s);
  consent_refresh(w, s);
  lc_rtp_header h;
  if (lc_rtp_parse(buf, plain, &h) != 0)
    return;
  lc_rendition *r;
  bool video;
  if (h.pt == s->video_pt && s->whip_video) {
    r = s->whip_video;
    video = true;
    s->remote_video_ssrc = h.ssrc;
  } else if (h.pt == s->audio_pt && s->whip_audio) {
    r = s->whip_audio;
    video = false;
    s->remote_audio_ssrc = h.ssrc;
  } else {
    return;
  }
  /* Drop the publisher's header extensions: their ids mean nothing to the viewers. */
  size_t fixed = LC_RTP_HEADER_MIN + 4u * h.csrc_count;
  if (h.extension) {
    memmove(buf + fixed, buf + h.header_len, plain - h.header_len);
    plain -= h.header_len - fixed;
    buf[0] &= (uint8_t)~0x10;
  }
  /* Only the first packet of a keyframe's access unit is flagged (SPS, PPS and the IDR slices
   * share its timestamp), so a replay from the flag includes the parameter sets. */
  bool kf = false;
  if (video && lc_rtp_h264_is_keyframe_start(buf + fixed, h.payload_len)) {
    kf = !s->whip_kf_seen || h.ts != s->whip_kf_ts;
    s->whip_kf_seen = true;
    s->whip_kf_ts = h.ts;
  }
  lc_rendition_push_rtp(r, buf, plain, kf);
}

/* ---------------------------------------------------------------- receive */

static void
handle_datagram(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from, socklen_t from_len)
{
  lc_demux_kind kind = lc_stun_demux(buf, len);
  if (kind != LC_DEMUX_STUN && kind != LC_DEMUX_UNKNOWN && g_hash_table_size(w->foreign) &&
      !session_by_tuple(w, from) && forward_foreign(w, buf, len, from, from_len))
    return;
  switch (kind) {
  case LC_DEMUX_STUN:
    handle_stun(w, buf, len, from, from_len);
    break;
  case LC_DEMUX_DTLS:
    handle_dtls(w, buf, len, from, from_len);
    break;
  case LC_DEMUX_RTCP:
    handle_rtcp(w, buf, len, from);
    break;
  case LC_DEMUX_RTP:
    handle_rtp(w, buf, len, from);
    break;
  default:
    break;
  }
}

static void
receive(lc__rtc_worker *w)
{
  for (int rounds = 0; rounds < 8; rounds++) {
    for (unsigned i = 0; i < RECV_BATCH; i++) {
      w->riov[i].iov_base = w->rbuf + (size_t)i * SLOT;
      w->riov[i].iov_len = SLOT - LC_SRTP_MAX_TRAILER;
      memset(&w->rmsgs[i].msg_hdr, 0, sizeof w->rmsgs[i].msg_hdr);
      w->rmsgs[i].msg_hdr.msg_iov = &w->riov[i];
      w->rmsgs[i].msg_hdr.msg_iovlen = 1;
      w->rmsgs[i].msg_hdr.msg_name = &w->raddr[i];
      w->rmsgs[i].msg_hdr.msg_namelen = sizeof w->raddr[i];
    }
    int n = recvmmsg(w->fd, w->rmsgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      return;
    LC__RTC_ADD(w->ctr->packets_received, n);
    w->now = g_get_monotonic_time();
    for (int i = 0; i < n; i++) {
      if (w->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC)
        continue;
      handle_datagram(w, w->rbuf + (size_t)i * SLOT, w->rmsgs[i].msg_len, (struct sockaddr *)&w->raddr[i],
                      w->rmsgs[i].msg_hdr.msg_namelen);
    }
    if (n < RECV_BATCH)
      return;
  }
}

/* ---------------------------------------------------------------- timers */

static uint64_t
ntp_now(void)
{
  int64_t us = g_get_real_time();
  uint64_t sec = (uint64_t)(us / 1000000) + 2208988800u;
  uint64_t frac = ((uint64_t)(us % 1000000) << 32) / 1000000u;
  return sec << 32 | frac;
}

static void
send_sr(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t)
{
  if (!t->map.started || w->now - t->last_sr_us < SR_INTERVAL_US)
    return;
  t->last_sr_us = w->now;
  lc_rtcp_sr sr = {.ssrc = t->map.ssrc,
                   .ntp = ntp_now(),
                   .rtp_ts = lc__rtc_track_rtp_now(&t->map, w->now),
                   .packet_count = t->map.packets,
                   .octet_count = t->map.octets};
  uint8_t *o = slot_get(w);
  size_t n;
  if (lc_rtcp_build_sr(o, SLOT - LC_SRTP_MAX_TRAILER, &sr, &n) == 0)
    emit_rtcp(w, s, o, n);
}

/* WHIP: an empty RR plus a REMB of 20 Mbit/s every second (so the publisher's encoder is not
 * held at its start bitrate), a PLI when a keyframe was asked. */
static void
whip_tick(lc__rtc_worker *w, lc__rtc_session *s)
{
  if (g_atomic_int_compare_and_exchange(&s->pli_wanted, 1, 0) && s->remote_video_ssrc) {
    uint8_t *o = slot_get(w);
    size_t n;
    if (lc_rtcp_build_pli(o, SLOT, s->video_ssrc, s->remote_video_ssrc, &n) == 0)
      emit_rtcp(w, s, o, n);
  }
  if (w->now - s->last_rr_us < SR_INTERVAL_US)
    return;
  s->last_rr_us = w->now;
  uint8_t *o = slot_get(w);
  /* RR, no blocks */
  o[0] = 0x80;
  o[1] = LC_RTCP_RR;
  o[2] = 0;
  o[3] = 1;
  lc_wr32(o + 4, s->video_ssrc);
  size_t n = 8;
  if (s->remote_video_ssrc) { /* REMB: PSFB FMT 15 */
    uint8_t *r = o + n;
    uint32_t bps = 20000000, mant = bps;
    uint8_t exp = 0;
    while (mant > 0x3FFFF) {
      mant >>= 1;
      exp++;
    }
    r[0] = 0x8F;
    r[1] = LC_RTCP_PSFB;
    r[2] = 0;
    r[3] = 5;
    lc_wr32(r + 4, s->video_ssrc);
    lc_wr32(r + 8, 0);
    memcpy(r + 12, "REMB", 4);
    lc_wr32(r + 16, (uint32_t)1 << 24 | (uint32_t)exp << 18 | mant);
    lc_wr32(r + 20, s->remote_video_ssrc);
    n += 24;
  }
  emit_rtcp(w, s, o, n);
}

static void
adapt(lc__rtc_worker *w, lc__rtc_session *s)
{
  lc__rtc_vtrack *t = &s->video;
  if (!s->has_video || w->now - s->last_adapt_us < ADAPT_INTERVAL_US)
    return;
  s->last_adapt_us = w->now;
  int n = (int)lc_media_room_n_video(s->media);
  if (n <= 0)
    return;
  if (n > MAX_RUNGS)
    n = MAX_RUNGS;
  if (g_atomic_int_get(&s->pin_changed))
    refresh_pin(w, s);
  int cur = t->cur ? video_index_of(s->media, t->cur->r) : -1;
  if (cur < 0)
    cur = t->cur_index >= 0 ? t->cur_index : t->pending_index;
  int target = s->pin_w ? rung_by_name(s->media, s->pin_w) : -1;
  if (target < 0) {
    int kbps[MAX_RUNGS];
    for (int i = 0; i < n; i++) {
      lc_rendition_info info;
      lc_rendition_get_info(lc_media_room_video(s->media, (unsigned)i), &info);
      kbps[i] = info.bitrate_kbps;
    }
    target = lc__rtc_bwe_choose(s->bwe, kbps, n, cur, w->now, UP_HOLD_MS);
  }
  if (target < 0 || target >= n)
    return;
  lc_rendition *r = lc_media_room_video(s->media, (unsigned)target);
  if (t->cur && t->cur->r == r) {
    if (t->pending)
      track_target(w, t, t->cur, target); /* cancel a pending switch */
    return;
  }
  if (t->pending && t->pending->r == r) {
    if (w->now - t->pending_since_us > 1000000) { /* keyframe not seen yet: ask again */
      t->pending_since_us = w->now;
      request_keyframe(w, r);
    }
    return;
  }
  track_target(w, t, wsub_get(w, r), target);
  request_keyframe(w, r);
}

static void
tick(lc__rtc_worker *w)
{
  struct timespec cpu;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
    __atomic_store_n(&w->cpu_us, (gint64)cpu.tv_sec * 1000000 + cpu.tv_nsec / 1000, __ATOMIC_RELAXED);
  int64_t consent_us = (int64_t)w->params.consent_timeout_ms * 1000;
  GPtrArray *dead = NULL;
  GPtrArray *why = NULL;
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, w->sessions);
  while (g_hash_table_iter_next(&it, &k, NULL)) {
    lc__rtc_session *s = k;
    const char *reason = NULL;
    bool end = false;
    if (g_atomic_int_get(&s->closing)) {
      end = true;
    } else if (w->now - __atomic_load_n(&s->last_consent_us, __ATOMIC_RELAXED) > consent_us) {
      end = true;
      reason = "consent timeout";
      LC__RTC_ADD(w->ctr->consent_timeouts, 1);
    } else if (s->state == LC__RTC_DTLS && s->dtls) {
      int64_t t = lc_dtls_next_timeout(s->dtls);
      if (t >= 0 && t <= w->now) {
        GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
        lc_dtls_state st = lc_dtls_on_timeout(s->dtls, out);
        if (s->has_addr)
          send_dtls_out(w, (struct sockaddr *)&s->addr, s->addr_len, out);
        g_ptr_array_unref(out);
        if (st == LC_DTLS_FAILED) {
          end = true;
          reason = "DTLS failed";
          LC__RTC_ADD(w->ctr->dtls_failures, 1);
        }
      }
    } else if (s->state == LC__RTC_MEDIA) {
      if (s->kind == LC__RTC_WHIP) {
        whip_tick(w, s);
      } else {
        if (g_atomic_int_get(&s->pin_changed))
          s->last_adapt_us = 0;
        adapt(w, s);
        send_sr(w, s, &s->video);
        send_sr(w, s, &s->audio);
      }
    }
    if (end) {
      if (!dead) {
        dead = g_ptr_array_new();
        why = g_ptr_array_new();
      }
      g_ptr_array_add(dead, s);
      g_ptr_array_add(why, (gpointer)reason);
    }
  }
  flush(w);
  if (dead) {
    for (guint i = 0; i < dead->len; i++)
      teardown(w, dead->pdata[i], why->pdata[i]);
    g_ptr_array_unref(dead);
    g_ptr_array_unref(why);
  }
  wsub_gc(w, false);
  if (w->now >= w->next_foreign_gc) {
    w->next_foreign_gc = w->now + 200000;
    foreign_gc(w, false);
  }
  if (w->index == 0 && w->now >= w->next_reap) {
    w->next_reap = w->now + 500000;
    unsigned n = lc__rtc_registry_reap_unowned(w->reg, w->now, consent_us);
    LC__RTC_ADD(w->ctr->consent_timeouts, n);
  }
}

/* ---------------------------------------------------------------- thread */

static gpointer
worker_main(gpointer data)
{
  lc__rtc_worker *w = data;
  struct pollfd pfd[2] = {{.fd = w->fd, .events = POLLIN}, {.fd = w->efd, .events = POLLIN}};
  w->now = g_get_monotonic_time();
  w->next_tick = w->now + TICK_US;
  while (!g_atomic_int_get(&w->stop)) {
    int64_t wait_us = w->next_tick - g_get_monotonic_time();
    int timeout = wait_us <= 0 ? 0 : (int)((wait_us + 999) / 1000);
    int r = poll(pfd, 2, timeout);
    w->now = g_get_monotonic_time();
    if (r > 0 && (pfd[1].revents & POLLIN)) {
      uint64_t v;
      if (read(w->efd, &v, sizeof v) < 0) {
        /* EAGAIN: another read got it */
      }
    }
    if (r > 0 && (pfd[0].revents & POLLIN))
      receive(w);
    drain_handoff(w);
    drain_queue(w);
    flush(w);
    if (w->now >= w->next_tick) {
      w->next_tick = w->now + TICK_US;
      tick(w);
    }
  }
  return NULL;
}

static void
session_value_unref(gpointer p)
{
  lc__rtc_session_unref(p);
}

lc__rtc_worker *
lc__rtc_worker_new(const lc__rtc_worker_env *env, int index, const struct sockaddr *addr, socklen_t addr_len,
                   char **err)
{
  int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    lc_error_set(err, "rtc", "socket: %s", g_strerror(errno));
    return NULL;
  }
  int one = 1, buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (addr->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, addr, addr_len) < 0) {
    char host[INET6_ADDRSTRLEN] = "?";
    const void *a = addr->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)addr)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
    inet_ntop(addr->sa_family, a, host, sizeof host);
    int port = ntohs(addr->sa_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port
                                                : ((const struct sockaddr_in6 *)addr)->sin6_port);
    lc_error_set(err, "rtc", "bind udp %s port %d: %s", host, port, g_strerror(errno));
    close(fd);
    return NULL;
  }
  struct sockaddr_storage got;
  socklen_t got_len = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &got_len);
  lc__rtc_worker *w = g_new0(lc__rtc_worker, 1);
  w->reg = env->reg;
  w->ctr = env->ctr;
  w->params = env->params;
  w->cert = lc_dtls_cert_ref(env->cert);
  w->index = index;
  w->fd = fd;
  w->port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                           : ((struct sockaddr_in6 *)&got)->sin6_port);
  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_mutex_init(&w->qlock);
  w->qcap = w->params.queue_packets;
  w->q = g_new(qitem, w->qcap);
  w->drain = g_new(qitem, w->qcap);
  w->tuples = g_hash_table_new_full(key_hash, key_equal, g_free, NULL);
  w->sessions = g_hash_table_new_full(g_direct_hash, g_direct_equal, session_value_unref, NULL);
  w->wsubs = g_hash_table_new(g_direct_hash, g_direct_equal);
  w->foreign = g_hash_table_new_full(key_hash, key_equal, g_free, session_value_unref);
  g_mutex_init(&w->hlock);
  g_queue_init(&w->handoff);
  w->slots = g_malloc((size_t)SEND_BATCH * SLOT);
  w->gso = g_getenv("LC_RTC_NO_GSO") == NULL;
  w->rbuf = g_malloc((size_t)RECV_BATCH * SLOT);
  return w;
}

int
lc__rtc_worker_port(lc__rtc_worker *w)
{
  return w->port;
}

void
lc__rtc_worker_start(lc__rtc_worker *w)
{
  char name[16];
  g_snprintf(name, sizeof name, "lc-rtc-%d", w->index);
  w->thread = g_thread_new(name, worker_main, w);
}

void
lc__rtc_worker_wake(lc__rtc_worker *w)
{
  uint64_t one = 1;
  if (write(w->efd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is already non-zero, the worker will wake */
  }
}

unsigned
lc__rtc_worker_n_sessions(lc__rtc_worker *w)
{
  return (unsigned)g_atomic_int_get(&w->n_sessions);
}

int64_t
lc__rtc_worker_cpu_us(lc__rtc_worker *w)
{
  return __atomic_load_n(&w->cpu_us, __ATOMIC_RELAXED);
}

void
lc__rtc_worker_stop(lc__rtc_worker *w)
{
  if (!w || !w->thread)
    return;
  g_atomic_int_set(&w->stop, 1);
  lc__rtc_worker_wake(w);
  g_thread_join(w->thread);
  w->thread = NULL;
}

void
lc__rtc_worker_free(lc__rtc_worker *w)
{
  if (!w)
    return;
  lc__rtc_worker_stop(w);
  w->now = g_get_monotonic_time();
  GList *all = g_hash_table_get_keys(w->sessions);
  for (GList *l = all; l; l = l->next)
    teardown(w, l->data, NULL);
  g_list_free(all);
  wsub_gc(w, true);
  g_hash_table_unref(w->foreign);
  g_queue_clear_full(&w->handoff, g_free);
  g_mutex_clear(&w->hlock);
  for (unsigned i = 0; i < w->qlen; i++)
    lc_pkt_unref(w->q[(w->qhead + i) % w->qcap].pkt);
  g_hash_table_unref(w->tuples);
  g_hash_table_unref(w->sessions);
  g_hash_table_unref(w->wsubs);
  g_mutex_clear(&w->qlock);
  g_free(w->q);
  g_free(w->drain);
  g_free(w->slots);
  g_free(w->rbuf);
  close(w->fd);
  close(w->efd);
  lc_dtls_cert_unref(w->cert);
  g_free(w);
}

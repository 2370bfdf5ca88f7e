/* The state of one RTC worker, shared by the files that make it up (internal to lc_rtc):
 *   rtc_worker.c    the thread: poll loop, receive + demux, tick, DTLS, session start and end
 *   rtc_ice.c       STUN checks, tuple maps, hand-off between workers, consent (rtc_ice.h)
 *   rtc_send.c      the send batch: scratch slots, GSO, sendmmsg, SRTP-protected emit (rtc_send.h)
 *   rtc_fanout.c    media queue, rendition subscriptions, fan-out to viewers, rung choice (rtc_fanout.h)
 *   rtc_feedback.c  RTCP with viewers: NACK answers, PLI/FIR, REMB/TWCC/RR, BYE, SR (rtc_feedback.h)
 *   rtc_whip.c      WHIP ingest: RTP in, RR/REMB/PLI to the publisher (rtc_whip.h)
 * Every function of these files runs on the worker's own thread unless its header says
 * otherwise; fields are tagged with the lock that guards them where other threads touch them. */
#pragma once
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rtc/rtc_worker.h"

#define LC__RTC_SEND_BATCH 128 /* datagrams per sendmmsg */
#define LC__RTC_RECV_BATCH 32  /* datagrams per recvmmsg */
#define LC__RTC_SLOT 2048      /* one datagram's scratch buffer */
#define LC__RTC_GSO_MAX_SEGS 32
#define LC__RTC_SR_INTERVAL_US 1000000 /* SR to viewers, RR/REMB to publishers */
#define LC__RTC_HANDOFF_MAX 4096

/* A media packet queued for the worker (a pkt ref), from the rendition ws. */
typedef struct {
  lc__rtc_wsub *ws;
  lc_pkt *pkt;
} lc__rtc_qitem;

/* A datagram handed from the worker that received it to the owner of its session. */
typedef struct {
  struct sockaddr_storage from;
  socklen_t from_len;
  size_t len;
  uint8_t data[]; /* len + LC_SRTP_MAX_TRAILER bytes */
} lc__rtc_fwd_dgram;

/* One message of the send batch. */
typedef struct {
  const lc__rtc_session *s;
  unsigned first, segs; /* slots */
  size_t seg_size, last_len;
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl;
} lc__rtc_msg_meta;

/* A remote address:port as a hash key. */
typedef struct {
  uint8_t fam;
  uint8_t pad;
  uint16_t port;
  uint8_t addr[16];
} lc__rtc_tuple_key;

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

  /* media queue (rtc_fanout.c): qlock; producers' threads push */
  GMutex qlock;
  lc__rtc_qitem *q;
  unsigned qcap, qhead, qlen;
  lc__rtc_qitem *drain; /* worker: the queue swapped out */

  /* worker thread only */
  GHashTable *sessions; /* session -> session (the worker's ref) */
  GHashTable *wsubs;    /* lc_rendition * -> lc__rtc_wsub * (rtc_fanout.c) */
  GHashTable *tuples;   /* lc__rtc_tuple_key * -> session (borrowed) (rtc_ice.c) */
  GHashTable *foreign;  /* lc__rtc_tuple_key * -> session owned by another worker (a ref) (rtc_ice.c) */
  int64_t next_foreign_gc;
  int64_t now; /* g_get_monotonic_time() of the current loop turn */
  int64_t next_tick, next_reap;

  /* datagrams handed over by other workers (rtc_ice.c): hlock */
  GMutex hlock;
  GQueue handoff; /* lc__rtc_fwd_dgram * */

  /* send batch (rtc_send.c): datagrams in slots (one iovec each); consecutive equal-size
   * datagrams to one peer share a message sent with UDP GSO (UDP_SEGMENT) when the kernel
   * supports it */
  uint8_t *slots; /* LC__RTC_SEND_BATCH * LC__RTC_SLOT */
  struct iovec iov[LC__RTC_SEND_BATCH];
  unsigned n_slots;
  struct mmsghdr msgs[LC__RTC_SEND_BATCH];
  lc__rtc_msg_meta meta[LC__RTC_SEND_BATCH];
  unsigned n_msgs;
  bool gso;
  uint64_t acc_pkts, acc_bytes;

  uint8_t *rbuf; /* LC__RTC_RECV_BATCH * LC__RTC_SLOT */
  struct mmsghdr rmsgs[LC__RTC_RECV_BATCH];
  struct iovec riov[LC__RTC_RECV_BATCH];
  struct sockaddr_storage raddr[LC__RTC_RECV_BATCH];
};

/* ---- rtc_worker.c ---- */
/* One received datagram (buf has LC_SRTP_MAX_TRAILER bytes of room after len): classified
 * (RFC 7983) and handled as if this worker's socket got it (hand-offs come through here too). */
void lc__rtc_worker_datagram(lc__rtc_worker *w, uint8_t *buf, size_t len, const struct sockaddr *from,
                             socklen_t from_len);
/* The peer proved it holds the SRTP keys: frees its OpenSSL DTLS state (the dtls_held gauge). */
void lc__rtc_worker_dtls_trim(lc__rtc_worker *w, lc__rtc_session *s);
/* Ends s on its worker: every trace in the worker, then the registry (reason NULL: deleted or
 * shutdown; else reported as closed). peer_left: the peer ended it (DTLS close_notify, RTCP
 * BYE), so no goodbye is sent back. */
void lc__rtc_worker_teardown(lc__rtc_worker *w, lc__rtc_session *s, const char *reason, bool peer_left);

/* A worker's send batch (see rtc_send.h). */
#define _GNU_SOURCE /* sendmmsg */
#define LC_LOG_DOMAIN "rtc"
#include "rtc/rtc_send.h"

#include <errno.h>
#include <netinet/udp.h>
#include <string.h>

#include "base/log.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

void
lc__rtc_send_flush(lc__rtc_worker *w)
{
  for (unsigned i = 0; i < w->n_msgs; i++) {
    lc__rtc_msg_meta *m = &w->meta[i];
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
uint8_t *
lc__rtc_send_slot(lc__rtc_worker *w)
{
  if (w->n_slots == LC__RTC_SEND_BATCH || w->n_msgs == LC__RTC_SEND_BATCH)
    lc__rtc_send_flush(w);
  return w->slots + (size_t)w->n_slots * LC__RTC_SLOT;
}

/* Queues the slot just written (len bytes) to s's nominated address. */
static void
slot_commit(lc__rtc_worker *w, lc__rtc_session *s, size_t len)
{
  unsigned i = w->n_slots++;
  w->iov[i].iov_base = w->slots + (size_t)i * LC__RTC_SLOT;
  w->iov[i].iov_len = len;
  if (w->gso && w->n_msgs > 0) {
    lc__rtc_msg_meta *m = &w->meta[w->n_msgs - 1];
    if (m->s == s && m->first + m->segs == i && m->segs < LC__RTC_GSO_MAX_SEGS &&
        m->last_len == m->seg_size && len <= m->seg_size) {
      m->segs++;
      m->last_len = len;
      return;
    }
  }
  unsigned n = w->n_msgs++;
  w->meta[n] = (lc__rtc_msg_meta){.s = s, .first = i, .segs = 1, .seg_size = len, .last_len = len};
  memset(&w->msgs[n].msg_hdr, 0, sizeof w->msgs[n].msg_hdr);
  w->msgs[n].msg_hdr.msg_name = &s->addr;
  w->msgs[n].msg_hdr.msg_namelen = s->addr_len;
}

void
lc__rtc_send_now(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, const uint8_t *buf,
                 size_t len)
{
  if (sendto(w->fd, buf, len, MSG_DONTWAIT, to, to_len) < 0)
    LC__RTC_ADD(w->ctr->send_drops, 1);
}

void
lc__rtc_send_dtls(lc__rtc_worker *w, const struct sockaddr *to, socklen_t to_len, GPtrArray *out)
{
  for (guint i = 0; i < out->len; i++) {
    gsize n;
    const uint8_t *d = g_bytes_get_data(out->pdata[i], &n);
    lc__rtc_send_now(w, to, to_len, d, n);
  }
  g_ptr_array_set_size(out, 0);
}

/* Copies pkt into a scratch slot as the viewer's packet (SSRC/seq/ts/PT, our transport-cc
 * extension instead of the source's), protects it and queues it. */
void
lc__rtc_send_rtp(lc__rtc_worker *w, lc__rtc_session *s, lc__rtc_vtrack *t, const lc_pkt *pkt,
                 const lc_rtp_header *h, uint16_t out_seq, uint32_t out_ts)
{
  size_t fixed = LC_RTP_HEADER_MIN + 4u * h->csrc_count;
  size_t body = pkt->len - h->header_len; /* payload + padding */
  if (!s->has_addr || fixed + 8 + body + LC_SRTP_MAX_TRAILER > LC__RTC_SLOT)
    return; /* (no address: its 5-tuple went to another session, see tuple_take) */
  uint8_t *o = lc__rtc_send_slot(w);
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

/* One RTCP packet (plain in buf[0..len), room for the trailer) protected and queued. */
void
lc__rtc_send_rtcp(lc__rtc_worker *w, lc__rtc_session *s, uint8_t *o, size_t len)
{
  size_t plen;
  if (!s->has_addr || lc_srtp_protect_rtcp(s->srtp, o, len, &plen) != 0)
    return;
  slot_commit(w, s, plen);
}

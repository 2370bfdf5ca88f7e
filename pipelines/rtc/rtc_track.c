/* Per-viewer outgoing stream mapping and bandwidth estimate. See rtc_track.h. */
#include "rtc/rtc_track.h"

#include <stdlib.h>
#include <string.h>

#include "rtc/rtp.h"

#define SPAN_MAX 30000 /* output seqs remembered for NACK per source (well past the 2 s cache) */

void
lc__rtc_track_init(lc__rtc_track *t, uint32_t ssrc, uint8_t pt, uint32_t clock_rate)
{
  memset(t, 0, sizeof *t);
  t->ssrc = ssrc;
  t->pt = pt;
  t->clock_rate = clock_rate ? clock_rate : 90000;
}

void
lc__rtc_track_switch(lc__rtc_track *t, const void *src, uint16_t in_seq, uint32_t in_ts, int64_t produced_us)
{
  if (!t->started) {
    t->seq_delta = 0;
    t->ts_delta = 0;
    t->src = src;
    t->last_in_seq = (uint16_t)(in_seq - 1);
    t->last_in_ts = in_ts;
    t->first_out_seq = in_seq;
    t->last_out_seq = (uint16_t)(in_seq - 1);
    t->last_out_ts = in_ts;
    t->last_out_us = produced_us;
    t->started = true;
    return;
  }
  if (t->src != src) {
    t->prev_src = t->src;
    t->prev_seq_delta = t->seq_delta;
    t->prev_ts_delta = t->ts_delta;
    t->prev_first_out = t->first_out_seq;
    t->prev_last_out = t->last_out_seq;
  }
  int64_t gap_us = produced_us - t->last_out_us;
  if (gap_us < 0)
    gap_us = 0;
  uint32_t gap = (uint32_t)((uint64_t)gap_us * t->clock_rate / 1000000u);
  if (gap == 0)
    gap = 1;
  uint16_t out_seq = (uint16_t)(t->last_out_seq + 1);
  uint32_t out_ts = t->last_out_ts + gap;
  t->src = src;
  t->seq_delta = (uint16_t)(out_seq - in_seq);
  t->ts_delta = out_ts - in_ts;
  t->first_out_seq = out_seq;
  t->last_in_seq = (uint16_t)(in_seq - 1);
  t->last_in_ts = in_ts;
}

bool
lc__rtc_track_map(lc__rtc_track *t, uint16_t in_seq, uint32_t in_ts, int64_t produced_us, size_t payload_len,
                  uint16_t *out_seq, uint32_t *out_ts)
{
  if (!t->started || lc_rtp_seq_diff(t->last_in_seq, in_seq) <= 0)
    return false;
  t->last_in_seq = in_seq;
  t->last_in_ts = in_ts;
  *out_seq = (uint16_t)(in_seq + t->seq_delta);
  *out_ts = in_ts + t->ts_delta;
  t->last_out_seq = *out_seq;
  t->last_out_ts = *out_ts;
  t->last_out_us = produced_us;
  if (lc_rtp_seq_diff(t->first_out_seq, t->last_out_seq) > SPAN_MAX)
    t->first_out_seq = (uint16_t)(t->last_out_seq - SPAN_MAX);
  t->packets++;
  t->octets += (uint32_t)payload_len;
  return true;
}

static bool
in_window(uint16_t first, uint16_t last, uint16_t s)
{
  return lc_rtp_seq_diff(first, s) >= 0 && lc_rtp_seq_diff(s, last) >= 0;
}

bool
lc__rtc_track_reverse(const lc__rtc_track *t, uint16_t out_seq, const void **src, uint16_t *in_seq,
                      uint16_t *seq_delta, uint32_t *ts_delta)
{
  if (!t->started)
    return false;
  if (in_window(t->first_out_seq, t->last_out_seq, out_seq)) {
    *src = t->src;
    *seq_delta = t->seq_delta;
    *ts_delta = t->ts_delta;
  } else if (t->prev_src && in_window(t->prev_first_out, t->prev_last_out, out_seq)) {
    *src = t->prev_src;
    *seq_delta = t->prev_seq_delta;
    *ts_delta = t->prev_ts_delta;
  } else {
    return false;
  }
  *in_seq = (uint16_t)(out_seq - *seq_delta);
  return true;
}

uint32_t
lc__rtc_track_rtp_now(const lc__rtc_track *t, int64_t now_us)
{
  int64_t d = now_us - t->last_out_us;
  if (d < 0)
    d = 0;
  return t->last_out_ts + (uint32_t)((uint64_t)d * t->clock_rate / 1000000u);
}

/* ---- bandwidth estimate ---- */

void
lc__rtc_bwe_init(lc__rtc_bwe *b, bool twcc)
{
  memset(b, 0, sizeof *b);
  b->next_seq = 1;
  if (twcc)
    b->sent = calloc(LC__RTC_BWE_HISTORY, sizeof *b->sent);
}

void
lc__rtc_bwe_clear(lc__rtc_bwe *b)
{
  free(b->sent);
  b->sent = NULL;
}

uint16_t
lc__rtc_bwe_on_send(lc__rtc_bwe *b, size_t size, int64_t now_us)
{
  uint16_t seq = b->next_seq++;
  if (b->sent) {
    lc__rtc_bwe_sent *e = &b->sent[seq % LC__RTC_BWE_HISTORY];
    e->seq = seq;
    e->size = (uint16_t)(size == 0 ? 1 : size > 65535 ? 65535 : size);
    e->sent_us = (uint32_t)now_us;
  }
  return seq;
}

void
lc__rtc_bwe_on_rr(lc__rtc_bwe *b, uint8_t fraction_lost, int64_t now_us)
{
  double f = fraction_lost / 256.0;
  b->rr_loss = b->rr_us ? 0.5 * b->rr_loss + 0.5 * f : f;
  b->rr_us = now_us;
}

void
lc__rtc_bwe_on_remb(lc__rtc_bwe *b, uint64_t bps, int64_t now_us)
{
  b->remb_bps = bps;
  b->remb_us = now_us;
}

void
lc__rtc_bwe_twcc_begin(lc__rtc_bwe *b)
{
  b->fb_bytes = 0;
  b->fb_first_recv = b->fb_last_recv = -1;
  b->fb_first_sent = b->fb_last_sent = 0;
  b->fb_received = b->fb_lost = 0;
}

void
lc__rtc_bwe_twcc_packet(lc__rtc_bwe *b, uint16_t seq, bool received, int64_t recv_us)
{
  if (!b->sent)
    return;
  const lc__rtc_bwe_sent *e = &b->sent[seq % LC__RTC_BWE_HISTORY];
  if (e->seq != seq || e->size == 0)
    return; /* not ours, or too old */
  if (!received) {
    b->fb_lost++;
    return;
  }
  b->fb_received++;
  b->fb_bytes += e->size;
  if (b->fb_first_recv < 0) {
    b->fb_first_recv = recv_us;
    b->fb_first_sent = e->sent_us;
  }
  b->fb_last_recv = recv_us;
  b->fb_last_sent = e->sent_us;
}

void
lc__rtc_bwe_twcc_end(lc__rtc_bwe *b, int64_t now_us)
{
  unsigned total = b->fb_received + b->fb_lost;
  if (total == 0)
    return;
  b->loss = (double)b->fb_lost / total;
  int64_t span = b->fb_last_recv - b->fb_first_recv;
  if (b->fb_received < 2 || span < 20000)
    return; /* too little to measure a rate */
  double rate = (double)b->fb_bytes * 8.0 * 1e6 / (double)span;
  /* Queueing delay grew across the feedback: the path is saturated. */
  int64_t growth =
      (b->fb_last_recv - b->fb_first_recv) - (int64_t)(int32_t)(b->fb_last_sent - b->fb_first_sent);
  double target;
  b->twcc_congested = b->loss > 0.02 || growth > 30000;
  if (b->loss > 0.10 || growth > 30000)
    target = rate * 0.85;
  else if (b->loss > 0.02)
    target = rate;
  else
    target = rate * 1.5; /* receive rate only shows what we send: allow headroom to step up */
  b->twcc_bps = b->twcc_bps == 0 ? target : 0.7 * b->twcc_bps + 0.3 * target;
  if (target < b->twcc_bps)
    b->twcc_bps = target; /* go down at once */
  b->twcc_us = now_us;
}

uint64_t
lc__rtc_bwe_estimate(const lc__rtc_bwe *b, int64_t now_us)
{
  uint64_t est = 0;
  bool have = false;
  if (b->remb_us && now_us - b->remb_us < 5000000) {
    est = b->remb_bps;
    have = true;
  }
  if (b->twcc_us && now_us - b->twcc_us < 5000000) {
    uint64_t t = (uint64_t)b->twcc_bps;
    est = have ? (t < est ? t : est) : t;
    have = true;
  }
  return have ? (est ? est : 1) : 0;
}

int
lc__rtc_bwe_choose(lc__rtc_bwe *b, const int *rungs_kbps, int n, int cur, int64_t now_us, unsigned up_hold_ms)
{
  if (n <= 0)
    return -1;
  if (cur < 0 || cur >= n)
    cur = n - 1;
  uint64_t est = lc__rtc_bwe_estimate(b, now_us);
  if (est == 0) {
    if (!b->rr_us || now_us - b->rr_us > 5000000)
      return cur;
    if (b->rr_loss > 0.10) {
      b->up_since_us = 0;
      if (cur < n - 1 && now_us - b->rr_changed_us >= 2000000) {
        b->rr_changed_us = now_us;
        return cur + 1;
      }
      return cur;
    }
    if (b->rr_loss >= 0.02 || cur == 0) {
      b->up_since_us = 0;
      return cur;
    }
    if (b->up_since_us == 0)
      b->up_since_us = now_us;
    if (now_us - b->up_since_us >= 10000000) {
      b->up_since_us = 0;
      b->rr_changed_us = now_us;
      return cur - 1;
    }
    return cur;
  }
  int fit = n - 1;
  for (int i = 0; i < n; i++) {
    uint64_t need = (uint64_t)(rungs_kbps[i] > 0 ? rungs_kbps[i] : 2500) * 1150u; /* bps + 15% */
    if (need <= est) {
      fit = i;
      break;
    }
  }
  bool remb_fresh = b->remb_us && now_us - b->remb_us < 5000000;
  if (fit > cur && !remb_fresh && !b->twcc_congested) { /* arrives whole: it fits */
    b->up_since_us = 0;
    return cur;
  }
  if (fit > cur) { /* lower rung: now */
    b->up_since_us = 0;
    return fit;
  }
  if (fit == cur) {
    b->up_since_us = 0;
    return cur;
  }
  if (b->up_since_us == 0)
    b->up_since_us = now_us;
  if (now_us - b->up_since_us >= (int64_t)up_hold_ms * 1000) {
    b->up_since_us = 0;
    return cur - 1; /* one step up at a time */
  }
  return cur;
}

/* Fuzz target for pipelines/relay/relay_wire: byte 0 picks what the rest is.
 *   0 mod 3: a relay message (lc_relay_msg_parse); what parses is written again with the
 *            writers, which must accept it, and parsed again to the same fields.
 *   1 mod 3: an SRT streamid (lc_relay_request_verify) with a fixed secret and clock.
 *   2 mod 3: a streamid body that this target signs (" sig=" + HMAC appended) before verifying,
 *            so the checks after the signature (ts, skew, via) are reached too.
 * A request that verifies is signed again from its fields and must verify to the same fields.
 * Seeds: tests/fuzz/corpus/relay_wire/ (msg_*: byte 0 = 0; req_*: 1; body_*: 2). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "relay/relay_wire.h"

#define SECRET "fuzz-relay-secret-0123456789"
#define NOW_S 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
check(bool ok)
{
  if (!ok)
    __builtin_trap();
}

static bool
rend_eq(const lc_relay_rendition *a, const lc_relay_rendition *b)
{
  return a->index == b->index && a->kind == b->kind && a->payload_type == b->payload_type &&
         a->channels == b->channels && a->live == b->live && a->clock_rate == b->clock_rate &&
         a->width == b->width && a->height == b->height && a->bitrate_kbps == b->bitrate_kbps &&
         strcmp(a->name, b->name) == 0 && strcmp(a->fmtp, b->fmtp) == 0;
}

/* Writes m again and checks that it parses to the same. */
static void
rewrite(const lc_relay_msg *m, size_t in_len)
{
  static uint8_t buf[LC_RELAY_MAX_MSG];
  static lc_relay_msg again;
  size_t len = 0;
  const char *names[LC_RELAY_MAX_RENDITIONS];
  switch (m->type) {
  case LC_RELAY_MSG_RENDITIONS:
    len = lc_relay_write_renditions(buf, m->rend, m->n);
    check(len == in_len); /* same fields, same sizes */
    break;
  case LC_RELAY_MSG_DATA:
    check(m->rtp_len >= 12 && m->rtp_len <= LC_RELAY_MAX_RTP && (m->rtp[0] >> 6) == 2);
    len = lc_relay_write_data(buf, m->index, (m->flags & 1) != 0, m->age_us, m->rtp, m->rtp_len);
    check(len == in_len);
    break;
  case LC_RELAY_MSG_SUBSCRIBE:
    for (unsigned i = 0; i < m->n; i++)
      names[i] = m->names[i];
    len = lc_relay_write_subscribe(buf, names, m->n);
    check(len == in_len);
    break;
  case LC_RELAY_MSG_KEYFRAME:
    len = lc_relay_write_keyframe(buf, m->names[0]);
    check(len == in_len);
    break;
  case LC_RELAY_MSG_END:
    len = lc_relay_write_end(buf, (lc_relay_end_code)m->end_code, m->reason);
    check(len == in_len);
    break;
  default:
    check(false);
  }
  const char *why = NULL;
  check(lc_relay_msg_parse(buf, len, &again, &why) == 0);
  check(again.type == m->type);
  switch (m->type) {
  case LC_RELAY_MSG_RENDITIONS:
    check(again.n == m->n);
    for (unsigned i = 0; i < m->n; i++)
      check(rend_eq(&again.rend[i], &m->rend[i]));
    break;
  case LC_RELAY_MSG_DATA:
    check(again.index == m->index && (again.flags & 1) == (m->flags & 1) && again.age_us == m->age_us);
    check(again.rtp_len == m->rtp_len && memcmp(again.rtp, m->rtp, m->rtp_len) == 0);
    break;
  case LC_RELAY_MSG_SUBSCRIBE:
    check(again.n == m->n);
    for (unsigned i = 0; i < m->n; i++)
      check(strcmp(again.names[i], m->names[i]) == 0);
    break;
  case LC_RELAY_MSG_KEYFRAME:
    check(strcmp(again.names[0], m->names[0]) == 0);
    break;
  case LC_RELAY_MSG_END:
    check(again.end_code == m->end_code && strcmp(again.reason, m->reason) == 0);
    break;
  }
}

static void
fuzz_msg(const uint8_t *d, size_t n)
{
  static lc_relay_msg m;
  const char *why = NULL;
  int rc = lc_relay_msg_parse(d, n, &m, &why);
  if (rc != 0) {
    check(rc == LC_EINVAL && why != NULL);
    return;
  }
  check(n >= 1 && n <= LC_RELAY_MAX_MSG && (m.type == d[0]));
  if (m.type == LC_RELAY_MSG_DATA)
    check(m.rtp >= d && m.rtp + m.rtp_len == d + n);
  if (m.type == LC_RELAY_MSG_RENDITIONS || m.type == LC_RELAY_MSG_SUBSCRIBE)
    check(m.n <= LC_RELAY_MAX_RENDITIONS);
  rewrite(&m, n);
}

static bool
rq_eq(const lc_relay_request *a, const lc_relay_request *b)
{
  if (strcmp(a->room, b->room) != 0 || strcmp(a->node, b->node) != 0 || a->n_via != b->n_via || a->ts != b->ts)
    return false;
  for (unsigned i = 0; i < a->n_via; i++)
    if (strcmp(a->via[i], b->via[i]) != 0)
      return false;
  return true;
}

static void
fuzz_request(const char *sid, size_t n)
{
  static lc_relay_request rq, again;
  const char *why = NULL;
  int rc = lc_relay_request_verify(sid, n, SECRET, NOW_S, &rq, &why);
  if (rc != 0) {
    check((rc == LC_EINVAL || rc == LC_EPERM) && why != NULL);
    return;
  }
  check(rq.n_via >= 1 && rq.n_via <= LC_RELAY_MAX_HOPS && strcmp(rq.via[rq.n_via - 1], rq.node) == 0);
  check(rq.ts >= NOW_S - LC_RELAY_MAX_SKEW_S && rq.ts <= NOW_S + LC_RELAY_MAX_SKEW_S);
  check(lc_relay_request_passed(&rq, rq.node));
  for (unsigned i = 0; i < rq.n_via; i++)
    check(lc_relay_valid_node(rq.via[i]));
  char out[LC_RELAY_STREAMID_MAX];
  check(lc_relay_request_sign(&rq, SECRET, out, &why) == 0);
  check(lc_relay_request_verify(out, strlen(out), SECRET, NOW_S, &again, &why) == 0);
  check(rq_eq(&rq, &again));
  /* Another secret never verifies. */
  check(lc_relay_request_verify(out, strlen(out), SECRET "!", NOW_S, &again, &why) == LC_EPERM);
}

/* body + " sig=" + HMAC-SHA256(SECRET, body) hex. */
static void
fuzz_signed_body(const uint8_t *d, size_t n)
{
  if (n > LC_RELAY_STREAMID_MAX)
    return;
  unsigned char mac[32];
  unsigned int ml = 0;
  if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), d, n, mac, &ml))
    return;
  size_t len = n + 5 + 64;
  char *sid = malloc(len);
  memcpy(sid, d, n);
  memcpy(sid + n, " sig=", 5);
  for (int i = 0; i < 32; i++) {
    static const char hex[] = "0123456789abcdef";
    sid[n + 5 + 2 * i] = hex[mac[i] >> 4];
    sid[n + 5 + 2 * i + 1] = hex[mac[i] & 15];
  }
  fuzz_request(sid, len);
  free(sid);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  if (n < 1)
    return 0;
  switch (d[0] % 3) {
  case 0:
    fuzz_msg(d + 1, n - 1);
    break;
  case 1: {
    /* An exact-size copy: a read past the streamid's end is seen by ASan. */
    char *sid = malloc(n - 1 ? n - 1 : 1);
    memcpy(sid, d + 1, n - 1);
    fuzz_request(sid, n - 1);
    free(sid);
    break;
  }
  default:
    fuzz_signed_body(d + 1, n - 1);
  }
  return 0;
}

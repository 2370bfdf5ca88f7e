/* RTMP server handshake: see rtmp_handshake.h. */
#include "ingest/rtmp_handshake.h"
#include "base/bytes.h"

#include <string.h>

#include "base/errors.h"

struct lc_rtmp_handshake {
  lc_rtmp_hs_state state;
  uint32_t time_ms;
  uint8_t version;      /* C0 */
  size_t have;          /* bytes of the current block (C1 or C2) received */
  uint8_t c1[LC_RTMP_HANDSHAKE_SIZE];
  uint8_t s1[LC_RTMP_HANDSHAKE_SIZE];
  bool c2_echoed;
};

lc_rtmp_handshake *
lc_rtmp_handshake_new(uint32_t time_ms)
{
  lc_rtmp_handshake *hs = g_new0(lc_rtmp_handshake, 1);
  hs->state = LC_RTMP_HS_WAIT_C0C1;
  hs->time_ms = time_ms;
  return hs;
}

void
lc_rtmp_handshake_free(lc_rtmp_handshake *hs)
{
  g_free(hs);
}

/* C1 complete: build S1 and send S0 S1 S2 (S2 = C1 echoed). */
static void
reply(lc_rtmp_handshake *hs, GByteArray *out)
{
  lc_wr32(hs->s1, hs->time_ms);
  memset(hs->s1 + 4, 0, 4); /* zero field 0: clients skip FP9 digest checks of S1 */
  for (size_t i = 8; i < LC_RTMP_HANDSHAKE_SIZE; i += 4)
    lc_wr32(hs->s1 + i, g_random_int());
  uint8_t s0 = LC_RTMP_HANDSHAKE_VERSION;
  g_byte_array_append(out, &s0, 1);
  g_byte_array_append(out, hs->s1, LC_RTMP_HANDSHAKE_SIZE);
  g_byte_array_append(out, hs->c1, LC_RTMP_HANDSHAKE_SIZE);
}

int
lc_rtmp_handshake_feed(lc_rtmp_handshake *hs, const uint8_t *data, size_t len, size_t *consumed, GByteArray *out)
{
  size_t pos = 0;
  int rc = 0;

  while (pos < len && hs->state != LC_RTMP_HS_DONE) {
    if (hs->state == LC_RTMP_HS_FAILED) {
      rc = LC_EINVAL;
      goto fail;
    }
    if (hs->state == LC_RTMP_HS_WAIT_C0C1 && hs->version == 0) {
      hs->version = data[pos++];
      if (hs->version != LC_RTMP_HANDSHAKE_VERSION) {
        hs->state = LC_RTMP_HS_FAILED; /* 6 = RTMPE, 'G'/'P' = HTTP, ... */
        rc = LC_EINVAL;
        goto fail;
      }
      continue;
    }
    size_t take = MIN(len - pos, (size_t)LC_RTMP_HANDSHAKE_SIZE - hs->have);
    if (hs->state == LC_RTMP_HS_WAIT_C0C1) {
      memcpy(hs->c1 + hs->have, data + pos, take);
    } else {
      /* C2: compare with S1 on the fly (informative only); the 4 "time2" bytes are free */
      for (size_t i = 0; i < take; i++) {
        size_t at = hs->have + i;
        if (at >= 8 && data[pos + i] != hs->s1[at])
          hs->c2_echoed = false;
      }
    }
    hs->have += take;
    pos += take;
    if (hs->have < LC_RTMP_HANDSHAKE_SIZE)
      continue;
    hs->have = 0;
    if (hs->state == LC_RTMP_HS_WAIT_C0C1) {
      reply(hs, out);
      hs->c2_echoed = true;
      hs->state = LC_RTMP_HS_WAIT_C2;
    } else {
      hs->state = LC_RTMP_HS_DONE;
    }
  }
  if (hs->state == LC_RTMP_HS_FAILED) {
    rc = LC_EINVAL;
    goto fail;
  }
  if (hs->state == LC_RTMP_HS_DONE && pos == 0 && len > 0) {
    rc = LC_ESTATE;
    goto fail;
  }
  *consumed = pos;
  return 0;

fail:
  *consumed = pos;
  return rc;
}

lc_rtmp_hs_state
lc_rtmp_handshake_state(const lc_rtmp_handshake *hs)
{
  return hs->state;
}

uint8_t
lc_rtmp_handshake_client_version(const lc_rtmp_handshake *hs)
{
  return hs->version;
}

bool
lc_rtmp_handshake_c2_echoed(const lc_rtmp_handshake *hs)
{
  return hs->state == LC_RTMP_HS_DONE && hs->c2_echoed;
}

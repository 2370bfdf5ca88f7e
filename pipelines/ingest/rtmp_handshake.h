/* RTMP handshake, server side (pure: no I/O).
 *
 * The simple handshake that OBS, ffmpeg and librtmp send: C0 (version 3) + C1 (1536 bytes)
 * -> S0 + S1 + S2, then C2 (1536 bytes). S1 carries our time, a zero "zero" field and random
 * bytes; S2 is C1 echoed byte for byte, which also satisfies clients that put an FP9 digest in
 * C1 (ffmpeg): no digest is validated and none is required from the client. C1's "zero" field
 * may be anything; C2's content is not checked (lc_rtmp_handshake_c2_echoed tells, for logs).
 *
 * Usage (socket glue, main thread): feed every received byte until the state is DONE; send
 * what lands in `out`; the bytes after C2 in the same read (consumed < len) belong to the chunk
 * stream (lc_rtmp_chunk_reader). One object per connection; not thread-safe. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_RTMP_HANDSHAKE_VERSION 3
#define LC_RTMP_HANDSHAKE_SIZE 1536 /* C1, C2, S1, S2 */

typedef enum {
  LC_RTMP_HS_WAIT_C0C1 = 0, /* waiting for C0 + C1 */
  LC_RTMP_HS_WAIT_C2,       /* S0 S1 S2 produced, waiting for C2 */
  LC_RTMP_HS_DONE,          /* handshake complete: chunk stream follows */
  LC_RTMP_HS_FAILED,        /* wrong version; close the connection */
} lc_rtmp_hs_state;

typedef struct lc_rtmp_handshake lc_rtmp_handshake;

/* New server handshake; time_ms goes into S1's time field (e.g. server uptime). Any thread;
 * returns (transfer full), free with lc_rtmp_handshake_free. */
lc_rtmp_handshake *lc_rtmp_handshake_new(uint32_t time_ms);
/* Frees hs (NULL is fine). Owner's thread. */
void lc_rtmp_handshake_free(lc_rtmp_handshake *hs);
/* Consumes bytes from data[0..len) up to the end of C2 (*consumed says how many) and appends
 * bytes to send to `out` (borrowed; S0+S1+S2 once C1 is complete). Returns 0, or LC_EINVAL
 * when C0 is not version 3 (state FAILED; every later call fails too), or LC_ESTATE when called
 * after DONE. Owner's thread. */
int lc_rtmp_handshake_feed(lc_rtmp_handshake *hs, const uint8_t *data, size_t len, size_t *consumed,
                           GByteArray *out);
/* Current state. Owner's thread. */
lc_rtmp_hs_state lc_rtmp_handshake_state(const lc_rtmp_handshake *hs);
/* Version byte the client sent in C0 (0 before C0 arrived). Owner's thread. */
uint8_t lc_rtmp_handshake_client_version(const lc_rtmp_handshake *hs);
/* True when C2 echoed S1's random bytes exactly (spec behaviour; informative only). Owner's thread. */
bool lc_rtmp_handshake_c2_echoed(const lc_rtmp_handshake *hs);

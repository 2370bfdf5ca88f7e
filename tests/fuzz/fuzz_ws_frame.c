/* Fuzz target for signaling/ws_frame: any bytes as what a websocket client sends,
 * fed in cuts chosen by the first byte. Checks the parser's promises: data pieces come
 * as messages (a first piece, then pieces, then a final one, never interleaved), control
 * payloads are at most 125 bytes, a close code is one an endpoint may send, nothing is
 * reported after a close or an error, and an error is sticky. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "signaling/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

typedef struct {
  bool in_message;
  bool closed;
  bool failed;
} state;

static void
on_data(void *user, bool first, bool final, bool binary, const uint8_t *piece, size_t len)
{
  state *s = user;
  (void)binary;
  (void)piece;
  (void)len;
  if (s->closed || s->failed || first == s->in_message)
    abort();
  s->in_message = !final;
}

static void
on_ping(void *user, bool pong, const uint8_t *payload, size_t len)
{
  state *s = user;
  (void)pong;
  (void)payload;
  if (s->closed || s->failed || len > LC_WS_MAX_CONTROL)
    abort();
}

static void
on_close(void *user, int code, const char *reason, size_t len)
{
  state *s = user;
  if (s->closed || s->failed || len > LC_WS_MAX_CONTROL - 2)
    abort();
  if (code != LC_WS_CLOSE_NO_STATUS && (code < 1000 || code > 4999 || code == 1004 || code == 1005 || code == 1006))
    abort();
  if (!g_utf8_validate(reason, (gssize)len, NULL))
    abort();
  s->closed = true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  if (n < 1)
    return 0;
  static const lc_ws_frame_sink sink = {on_data, on_ping, on_close};
  size_t cut = d[0] ? d[0] : n;
  uint8_t *buf = g_memdup2(d + 1, n - 1);
  lc_ws_frames *p = lc_ws_frames_new();
  state s = {0};
  int first_error = 0;
  for (size_t at = 0; at < n - 1; at += cut) {
    const char *why = NULL;
    int rc = lc_ws_frames_feed(p, buf + at, MIN(cut, n - 1 - at), &sink, &s, &why);
    if (rc) {
      if ((rc != LC_WS_CLOSE_PROTOCOL && rc != LC_WS_CLOSE_BAD_DATA) || !why || !*why || strlen(why) > 123)
        abort();
      if (first_error && rc != first_error)
        abort();
      first_error = rc;
      s.failed = true;
    } else if (first_error) {
      abort();
    }
  }
  if (s.closed != lc_ws_frames_closed(p))
    abort();
  lc_ws_frames_free(p);
  g_free(buf);
  return 0;
}

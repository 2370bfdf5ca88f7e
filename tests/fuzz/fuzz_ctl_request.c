/* Fuzz target: bytes from a control-socket client. They go through the bounded line
 * framing (max 4096 bytes a line), each line is decoded and answered with an encoded
 * ok or error line exactly as the server would; every answer must be one valid JSON
 * line. No leaks: each request is cleared. */
#include <glib.h>

#include "control/codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(char *out)
{
  size_t n = strlen(out);
  if (n == 0 || out[n - 1] != '\n' || memchr(out, '\n', n - 1))
    abort();
  json_error_t e;
  json_t *v = json_loadb(out, n, JSON_REJECT_DUPLICATES, &e);
  if (!json_is_object(v))
    abort();
  json_decref(v);
  g_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lc_linebuf *lb = lc_linebuf_new(4096);
  /* Feed in uneven pieces so that lines are split across feeds. */
  size_t off = 0, step = 1;
  while (off < size) {
    size_t n = size - off < step ? size - off : step;
    lc_linebuf_feed(lb, (const char *)data + off, n);
    off += n;
    step = step * 3 + 1;
    const char *line;
    size_t len;
    lc_line_status st;
    while ((st = lc_linebuf_next(lb, &line, &len)) != LC_LINE_NONE) {
      if (st == LC_LINE_TOO_LONG) {
        check_line(lc_ctl_encode_error(NULL, "line_too_long", "line too long"));
        continue;
      }
      if (len == 0 || len > 4096 || memchr(line, '\n', len))
        abort();
      lc_ctl_request req;
      const char *code = NULL;
      char *msg = NULL;
      if (lc_ctl_decode_request(line, len, &req, &code, &msg) == 0) {
        if (!req.cmd || !json_is_object(req.args) || code || msg)
          abort();
        check_line(lc_ctl_encode_ok(req.id, req.args));
        check_line(lc_ctl_encode_event(req.cmd, req.args, 1));
      } else {
        if (!code || !msg || req.cmd || req.args)
          abort();
        check_line(lc_ctl_encode_error(req.id, code, msg));
        g_free(msg);
      }
      lc_ctl_request_clear(&req);
    }
  }
  lc_linebuf_free(lb);
  return 0;
}

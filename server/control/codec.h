/* Control-socket wire format: newline-delimited JSON, one object per line. Pure, no I/O.
 *
 * Request:   {"id": 7, "cmd": "room.create", "args": {"id": "demo"}}
 *            id: optional, a number or a string (echoed back); args: optional object.
 * Response:  {"id": 7, "ok": true, "result": {...}}
 *            {"id": 7, "ok": false, "error": {"code": "not_found", "message": "..."}}
 * Event:     {"event": "room.created", "ts": 1763790000123, "data": {...}}
 * See docs/control.md. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stddef.h>

typedef struct {
  json_t *id;   /* the request id (number or string), or NULL when absent */
  char *cmd;    /* command name, e.g. "room.create" */
  json_t *args; /* object; an empty object when absent */
} lc_ctl_request;

/* Parses one line (without its newline; need not be NUL-terminated). Returns 0 and
 * fills *req (release with lc_ctl_request_clear), or a negative LC_E* with
 * *err_code ("bad_json", "bad_request") and *err_msg set (static / transfer full,
 * see below) and req->id set when the id could be read, so the error can still be
 * correlated. err_msg is newly allocated (g_free). */
int lc_ctl_decode_request(const char *line, size_t len, lc_ctl_request *req, const char **err_code,
                          char **err_msg);
void lc_ctl_request_clear(lc_ctl_request *req);

/* Encoders return a newly allocated line ending in "\n" (g_free). id may be NULL;
 * result/data are borrowed (may be NULL: result becomes {} ). */
char *lc_ctl_encode_ok(const json_t *id, const json_t *result);
char *lc_ctl_encode_error(const json_t *id, const char *code, const char *message);
char *lc_ctl_encode_event(const char *event, const json_t *data, gint64 ts_ms);

/* Line framing over a byte stream, bounded: a line longer than max_line bytes is
 * reported once as too long and skipped up to its newline. */
typedef struct lc_linebuf lc_linebuf;
typedef enum { LC_LINE_NONE, LC_LINE_OK, LC_LINE_TOO_LONG } lc_line_status;
lc_linebuf *lc_linebuf_new(size_t max_line);
void lc_linebuf_free(lc_linebuf *lb);
/* Appends received bytes. */
void lc_linebuf_feed(lc_linebuf *lb, const char *data, size_t len);
/* Takes the next complete line: LC_LINE_OK with *line and *len pointing into the buffer
 * (valid until the next feed/next call; no newline, a trailing \r is removed),
 * LC_LINE_TOO_LONG once per oversized line, or LC_LINE_NONE when no full line is left. */
lc_line_status lc_linebuf_next(lc_linebuf *lb, const char **line, size_t *len);

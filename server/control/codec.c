/* Control-socket codec: request decoding, response/event encoding, line framing.
 * Pure (no I/O); every function may run on any thread on its own objects. */
#include <glib.h>

#include "control/codec.h"
#include "base/errors.h"

#include <stdbool.h>
#include <string.h>

#define CMD_MAX 64
#define ID_STR_MAX 128
#define FIELD_NAME_SHOWN 64

/* ---- decoding ---------------------------------------------------------- */

static bool
cmd_name_valid(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > CMD_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* A field name as shown in an error message: valid UTF-8 (jansson guarantees it),
 * cut to FIELD_NAME_SHOWN characters. Newly allocated. */
static char *
shown_name(const char *key)
{
  if (g_utf8_strlen(key, -1) <= FIELD_NAME_SHOWN)
    return g_strdup(key);
  char *cut = g_utf8_substring(key, 0, FIELD_NAME_SHOWN);
  char *s = g_strconcat(cut, "...", NULL);
  g_free(cut);
  return s;
}

int
lc_ctl_decode_request(const char *line, size_t len, lc_ctl_request *req, const char **err_code,
                      char **err_msg)
{
  json_t *root = NULL;
  json_error_t jerr;
  const char *code = "bad_request";
  char *msg = NULL;

  memset(req, 0, sizeof *req);
  *err_code = NULL;
  *err_msg = NULL;

  const char *nul = line ? memchr(line, '\0', len) : NULL;
  if (nul) {
    code = "bad_json";
    msg = g_strdup_printf("invalid JSON at byte %zu: NUL byte in input", (size_t)(nul - line));
    goto fail;
  }
  /* JSON_DECODE_ANY: a scalar parses, so it is reported as "not an object" below
   * rather than as a syntax error. Depth is bounded by jansson (2048 levels). */
  root = json_loadb(line ? line : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root) {
    code = "bad_json";
    msg = g_strdup_printf("invalid JSON at byte %d (line %d, column %d): %s", jerr.position,
                          jerr.line, jerr.column, jerr.text);
    goto fail;
  }
  if (!json_is_object(root)) {
    msg = g_strdup("a request must be a JSON object");
    goto fail;
  }

  /* The id first, so that every later error can still be correlated. */
  json_t *id = json_object_get(root, "id");
  if (id) {
    bool ok = json_is_integer(id) ||
              (json_is_string(id) && json_string_length(id) <= ID_STR_MAX);
    if (!ok) {
      msg = g_strdup_printf("field 'id' must be an integer or a string of at most %d bytes",
                            ID_STR_MAX);
      goto fail;
    }
    req->id = json_incref(id);
  }

  json_t *cmd = json_object_get(root, "cmd");
  if (!cmd) {
    msg = g_strdup("missing field 'cmd'");
    goto fail;
  }
  if (!json_is_string(cmd)) {
    msg = g_strdup("field 'cmd' must be a string");
    goto fail;
  }
  if (json_string_length(cmd) != strlen(json_string_value(cmd)) ||
      !cmd_name_valid(json_string_value(cmd))) {
    msg = g_strdup_printf("field 'cmd' must be 1 to %d characters of [a-z0-9._-]", CMD_MAX);
    goto fail;
  }

  json_t *args = json_object_get(root, "args");
  if (args && !json_is_object(args)) {
    msg = g_strdup("field 'args' must be an object");
    goto fail;
  }

  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    if (strcmp(key, "id") != 0 && strcmp(key, "cmd") != 0 && strcmp(key, "args") != 0) {
      char *shown = shown_name(key);
      msg = g_strdup_printf("unknown field '%s' (expected id, cmd, args)", shown);
      g_free(shown);
      goto fail;
    }
  }

  req->cmd = g_strdup(json_string_value(cmd));
  req->args = args ? json_incref(args) : json_object();
  json_decref(root);
  return 0;

fail:
  json_decref(root);
  *err_code = code;
  *err_msg = msg;
  return LC_EINVAL;
}

void
lc_ctl_request_clear(lc_ctl_request *req)
{
  if (!req)
    return;
  json_decref(req->id);
  json_decref(req->args);
  g_free(req->cmd);
  memset(req, 0, sizeof *req);
}

/* ---- encoding ---------------------------------------------------------- */

/* Serializes obj (consumed) as one compact line ending in "\n". */
static char *
dump_line(json_t *obj)
{
  char *s = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  if (!s) {
    /* Only reachable with values jansson cannot encode; never emit a broken line. */
    return g_strdup("{\"ok\":false,\"error\":{\"code\":\"internal_error\","
                    "\"message\":\"response could not be encoded\"}}\n");
  }
  char *line = g_strconcat(s, "\n", NULL);
  free(s);
  return line;
}

/* A JSON string from arbitrary bytes: invalid UTF-8 is replaced, never dropped. */
static json_t *
string_value(const char *s)
{
  if (!s)
    s = "";
  if (g_utf8_validate(s, -1, NULL))
    return json_string(s);
  char *valid = g_utf8_make_valid(s, -1);
  json_t *v = json_string(valid);
  g_free(valid);
  return v;
}

char *
lc_ctl_encode_ok(const json_t *id, const json_t *result)
{
  json_t *o = json_object();
  if (id)
    json_object_set(o, "id", (json_t *)id);
  json_object_set_new(o, "ok", json_true());
  json_object_set_new(o, "result", result ? json_incref((json_t *)result) : json_object());
  return dump_line(o);
}

char *
lc_ctl_encode_error(const json_t *id, const char *code, const char *message)
{
  json_t *o = json_object();
  if (id)
    json_object_set(o, "id", (json_t *)id);
  json_object_set_new(o, "ok", json_false());
  json_t *e = json_object();
  json_object_set_new(e, "code", string_value(code ? code : "internal_error"));
  json_object_set_new(e, "message", string_value(message));
  json_object_set_new(o, "error", e);
  return dump_line(o);
}

char *
lc_ctl_encode_event(const char *event, const json_t *data, gint64 ts_ms)
{
  json_t *o = json_object();
  json_object_set_new(o, "event", string_value(event));
  json_object_set_new(o, "ts", json_integer(ts_ms));
  json_object_set_new(o, "data", data ? json_incref((json_t *)data) : json_object());
  return dump_line(o);
}

/* ---- line framing ------------------------------------------------------ */

/* buf holds finished records, each ending in '\n' with any trailing '\r' removed,
 * followed by the unfinished tail (from tail_start). Empty input lines are never
 * stored, so an empty record is free to mean "a line was too long". Memory: the
 * records not yet taken plus at most max_line + 1 bytes of tail. */
struct lc_linebuf {
  GByteArray *buf;
  size_t rpos;       /* next record to hand out */
  size_t tail_start; /* start of the unfinished line */
  size_t max_line;
  bool discarding;   /* inside a too-long line (already reported), until its newline */
};

lc_linebuf *
lc_linebuf_new(size_t max_line)
{
  lc_linebuf *lb = g_new0(lc_linebuf, 1);
  lb->buf = g_byte_array_new();
  lb->max_line = max_line ? max_line : 1;
  return lb;
}

void
lc_linebuf_free(lc_linebuf *lb)
{
  if (!lb)
    return;
  g_byte_array_unref(lb->buf);
  g_free(lb);
}

static void
push_too_long(lc_linebuf *lb)
{
  g_byte_array_set_size(lb->buf, (guint)lb->tail_start);
  g_byte_array_append(lb->buf, (const guint8 *)"\n", 1);
  lb->tail_start = lb->buf->len;
}

void
lc_linebuf_feed(lc_linebuf *lb, const char *data, size_t len)
{
  /* Drop the records already taken (pointers handed out die with this call). */
  if (lb->rpos > 0) {
    g_byte_array_remove_range(lb->buf, 0, (guint)lb->rpos);
    lb->tail_start -= lb->rpos;
    lb->rpos = 0;
  }
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t seg = nl ? (size_t)(nl - data) : len;
    size_t step = nl ? seg + 1 : seg;

    if (lb->discarding) {
      if (nl)
        lb->discarding = false;
    } else {
      size_t tail = lb->buf->len - lb->tail_start;
      if (nl) {
        size_t total = tail + seg;
        bool cr = seg > 0 ? data[seg - 1] == '\r' : (tail > 0 && lb->buf->data[lb->buf->len - 1] == '\r');
        size_t content = cr ? total - 1 : total;
        if (content > lb->max_line) {
          push_too_long(lb);
        } else if (content == 0) {
          g_byte_array_set_size(lb->buf, (guint)lb->tail_start); /* empty line: skipped */
        } else {
          g_byte_array_append(lb->buf, (const guint8 *)data, (guint)seg);
          g_byte_array_set_size(lb->buf, (guint)(lb->tail_start + content));
          g_byte_array_append(lb->buf, (const guint8 *)"\n", 1);
          lb->tail_start = lb->buf->len;
        }
      } else {
        size_t total = tail + seg;
        /* One byte of slack for a '\r' that a following "\n" would remove. */
        if (total > lb->max_line + 1 || (total == lb->max_line + 1 && data[seg - 1] != '\r')) {
          push_too_long(lb);
          lb->discarding = true;
        } else {
          g_byte_array_append(lb->buf, (const guint8 *)data, (guint)seg);
        }
      }
    }
    data += step;
    len -= step;
  }
}

lc_line_status
lc_linebuf_next(lc_linebuf *lb, const char **line, size_t *len)
{
  *line = NULL;
  *len = 0;
  if (lb->rpos >= lb->tail_start)
    return LC_LINE_NONE;
  const char *start = (const char *)lb->buf->data + lb->rpos;
  const char *nl = memchr(start, '\n', lb->tail_start - lb->rpos);
  size_t n = (size_t)(nl - start); /* records always end in '\n' */
  lb->rpos += n + 1;
  if (n == 0)
    return LC_LINE_TOO_LONG;
  *line = start;
  *len = n;
  return LC_LINE_OK;
}

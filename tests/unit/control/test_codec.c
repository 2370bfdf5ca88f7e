/* Control codec: request decoding (valid, every rejection with its code and message),
 * encoders (shape and round trips) and the bounded line framing. */
#include <glib.h>

#include "control/codec.h"
#include "base/errors.h"

#include <string.h>

/* Decodes s expecting success. */
static void
decode_ok(const char *s, lc_ctl_request *req)
{
  const char *code = NULL;
  char *msg = NULL;
  int rc = lc_ctl_decode_request(s, strlen(s), req, &code, &msg);
  if (rc != 0)
    g_error("unexpected failure for %s: %s: %s", s, code, msg);
  g_assert_null(code);
  g_assert_null(msg);
}

/* Decodes buf expecting failure with `want_code` and a message containing `want_msg`.
 * Returns the request (its id may be set); clear it. */
static void
decode_fail_n(const char *buf, size_t len, const char *want_code, const char *want_msg,
              lc_ctl_request *req)
{
  const char *code = NULL;
  char *msg = NULL;
  int rc = lc_ctl_decode_request(buf, len, req, &code, &msg);
  g_assert_cmpint(rc, ==, LC_EINVAL);
  g_assert_cmpstr(code, ==, want_code);
  g_assert_nonnull(msg);
  if (!strstr(msg, want_msg))
    g_error("message '%s' does not contain '%s'", msg, want_msg);
  g_assert_null(req->cmd);
  g_assert_null(req->args);
  g_free(msg);
}

static void
decode_fail(const char *s, const char *want_code, const char *want_msg)
{
  lc_ctl_request req;
  decode_fail_n(s, strlen(s), want_code, want_msg, &req);
  g_assert_null(req.id);
  lc_ctl_request_clear(&req);
}

static void
test_valid_full(void)
{
  lc_ctl_request req;
  decode_ok("{\"id\": 7, \"cmd\": \"room.create\", \"args\": {\"id\": \"demo\", \"n\": [1,2]}}", &req);
  g_assert_true(json_is_integer(req.id));
  g_assert_cmpint(json_integer_value(req.id), ==, 7);
  g_assert_cmpstr(req.cmd, ==, "room.create");
  g_assert_true(json_is_object(req.args));
  g_assert_cmpstr(json_string_value(json_object_get(req.args, "id")), ==, "demo");
  g_assert_cmpuint(json_array_size(json_object_get(req.args, "n")), ==, 2);
  lc_ctl_request_clear(&req);
  g_assert_null(req.cmd);
  g_assert_null(req.args);
}

static void
test_valid_minimal(void)
{
  lc_ctl_request req;
  decode_ok("{\"cmd\":\"ping\"}", &req);
  g_assert_null(req.id);
  g_assert_cmpstr(req.cmd, ==, "ping");
  g_assert_true(json_is_object(req.args));
  g_assert_cmpuint(json_object_size(req.args), ==, 0);
  lc_ctl_request_clear(&req);

  /* Not NUL-terminated: only len bytes are read. */
  const char buf[] = "{\"cmd\":\"help\"}GARBAGE";
  decode_ok("{\"cmd\":\"help\"}", &req);
  lc_ctl_request_clear(&req);
  const char *code;
  char *msg;
  g_assert_cmpint(lc_ctl_decode_request(buf, 14, &req, &code, &msg), ==, 0);
  g_assert_cmpstr(req.cmd, ==, "help");
  lc_ctl_request_clear(&req);

  /* Every allowed character, and exactly 64 of them. */
  decode_ok("{\"cmd\":\"a-z_0.9\"}", &req);
  lc_ctl_request_clear(&req);
  char *cmd64 = g_strnfill(64, 'x');
  char *line = g_strdup_printf("{\"cmd\":\"%s\"}", cmd64);
  decode_ok(line, &req);
  g_assert_cmpuint(strlen(req.cmd), ==, 64);
  lc_ctl_request_clear(&req);
  g_free(line);
  g_free(cmd64);

  /* Whitespace around the object is fine. */
  decode_ok("  {\"cmd\":\"ping\"}\t ", &req);
  lc_ctl_request_clear(&req);
}

static void
test_ids(void)
{
  lc_ctl_request req;
  decode_ok("{\"id\":\"abc-1\",\"cmd\":\"ping\"}", &req);
  g_assert_cmpstr(json_string_value(req.id), ==, "abc-1");
  lc_ctl_request_clear(&req);

  decode_ok("{\"id\":-9007199254740993,\"cmd\":\"ping\"}", &req);
  g_assert_cmpint(json_integer_value(req.id), ==, G_GINT64_CONSTANT(-9007199254740993));
  lc_ctl_request_clear(&req);

  decode_ok("{\"id\":\"\",\"cmd\":\"ping\"}", &req);
  g_assert_cmpstr(json_string_value(req.id), ==, "");
  lc_ctl_request_clear(&req);

  char *id128 = g_strnfill(128, 'i');
  char *line = g_strdup_printf("{\"id\":\"%s\",\"cmd\":\"ping\"}", id128);
  decode_ok(line, &req);
  g_assert_cmpstr(json_string_value(req.id), ==, id128);
  lc_ctl_request_clear(&req);
  g_free(line);

  /* 129 bytes: rejected, and the id is not echoed. */
  line = g_strdup_printf("{\"id\":\"%si\",\"cmd\":\"ping\"}", id128);
  decode_fail(line, "bad_request", "'id'");
  g_free(line);
  g_free(id128);

  decode_fail("{\"id\":1.5,\"cmd\":\"ping\"}", "bad_request", "'id'");
  decode_fail("{\"id\":null,\"cmd\":\"ping\"}", "bad_request", "'id'");
  decode_fail("{\"id\":true,\"cmd\":\"ping\"}", "bad_request", "'id'");
  decode_fail("{\"id\":[1],\"cmd\":\"ping\"}", "bad_request", "'id'");
  decode_fail("{\"id\":{},\"cmd\":\"ping\"}", "bad_request", "'id'");
}

/* A request with a readable id that fails later keeps its id for the error reply. */
static void
test_error_keeps_id(void)
{
  lc_ctl_request req;
  const char *s = "{\"id\":42,\"cmd\":\"BAD\"}";
  decode_fail_n(s, strlen(s), "bad_request", "'cmd'", &req);
  g_assert_cmpint(json_integer_value(req.id), ==, 42);
  lc_ctl_request_clear(&req);

  s = "{\"cmd\":\"ping\",\"id\":\"x\",\"extra\":1}";
  decode_fail_n(s, strlen(s), "bad_request", "unknown field 'extra'", &req);
  g_assert_cmpstr(json_string_value(req.id), ==, "x");
  lc_ctl_request_clear(&req);

  s = "{\"id\":\"y\",\"cmd\":\"ping\",\"args\":[]}";
  decode_fail_n(s, strlen(s), "bad_request", "'args'", &req);
  g_assert_cmpstr(json_string_value(req.id), ==, "y");
  lc_ctl_request_clear(&req);
}

static void
test_bad_cmd(void)
{
  decode_fail("{}", "bad_request", "missing field 'cmd'");
  decode_fail("{\"args\":{}}", "bad_request", "missing field 'cmd'");
  decode_fail("{\"cmd\":1}", "bad_request", "'cmd' must be a string");
  decode_fail("{\"cmd\":null}", "bad_request", "'cmd' must be a string");
  decode_fail("{\"cmd\":\"\"}", "bad_request", "'cmd'");
  decode_fail("{\"cmd\":\"Ping\"}", "bad_request", "[a-z0-9._-]");
  decode_fail("{\"cmd\":\"room create\"}", "bad_request", "'cmd'");
  decode_fail("{\"cmd\":\"room/x\"}", "bad_request", "'cmd'");
  decode_fail("{\"cmd\":\"caf\\u00e9\"}", "bad_request", "'cmd'");
  char *cmd65 = g_strnfill(65, 'x');
  char *line = g_strdup_printf("{\"cmd\":\"%s\"}", cmd65);
  decode_fail(line, "bad_request", "'cmd'");
  g_free(line);
  g_free(cmd65);
}

static void
test_bad_args_and_fields(void)
{
  decode_fail("{\"cmd\":\"ping\",\"args\":null}", "bad_request", "'args' must be an object");
  decode_fail("{\"cmd\":\"ping\",\"args\":\"x\"}", "bad_request", "'args' must be an object");
  decode_fail("{\"cmd\":\"ping\",\"args\":[1]}", "bad_request", "'args' must be an object");
  decode_fail("{\"cmd\":\"ping\",\"arg\":{}}", "bad_request", "unknown field 'arg'");
  decode_fail("{\"cmd\":\"ping\",\"\":1}", "bad_request", "unknown field ''");
  /* A huge unknown key is cut in the message. */
  char *key = g_strnfill(5000, 'k');
  char *line = g_strdup_printf("{\"cmd\":\"ping\",\"%s\":1}", key);
  lc_ctl_request req;
  const char *code;
  char *msg;
  g_assert_cmpint(lc_ctl_decode_request(line, strlen(line), &req, &code, &msg), ==, LC_EINVAL);
  g_assert_cmpstr(code, ==, "bad_request");
  g_assert_cmpuint(strlen(msg), <, 200);
  g_assert_nonnull(strstr(msg, "..."));
  g_free(msg);
  lc_ctl_request_clear(&req);
  g_free(line);
  g_free(key);
}

static void
test_not_object(void)
{
  decode_fail("[]", "bad_request", "must be a JSON object");
  decode_fail("[{\"cmd\":\"ping\"}]", "bad_request", "must be a JSON object");
  decode_fail("42", "bad_request", "must be a JSON object");
  decode_fail("\"ping\"", "bad_request", "must be a JSON object");
  decode_fail("null", "bad_request", "must be a JSON object");
}

static void
test_bad_json(void)
{
  decode_fail("", "bad_json", "invalid JSON at byte");
  decode_fail("{", "bad_json", "invalid JSON at byte");
  decode_fail("{\"cmd\":\"ping\"", "bad_json", "invalid JSON");
  decode_fail("{\"cmd\":'ping'}", "bad_json", "invalid JSON");
  decode_fail("{\"cmd\":\"ping\"} {}", "bad_json", "invalid JSON");
  decode_fail("{\"cmd\":\"ping\",}", "bad_json", "invalid JSON");
  /* Invalid UTF-8 and an escaped NUL. */
  decode_fail("{\"cmd\":\"p\xff\"}", "bad_json", "invalid JSON");
  decode_fail("{\"cmd\":\"ping\",\"args\":{\"a\":\"x\\u0000y\"}}", "bad_json", "invalid JSON");
  /* The message carries jansson's position: "{" then garbage at byte 1. */
  lc_ctl_request req;
  const char *code;
  char *msg;
  g_assert_cmpint(lc_ctl_decode_request("{x", 2, &req, &code, &msg), ==, LC_EINVAL);
  g_assert_cmpstr(code, ==, "bad_json");
  g_assert_nonnull(strstr(msg, "line 1"));
  g_free(msg);
}

static void
test_nul_byte(void)
{
  static const char buf[] = "{\"cmd\":\"ping\"}\0";
  lc_ctl_request req;
  decode_fail_n(buf, sizeof buf - 1, "bad_json", "NUL byte", &req);
  g_assert_null(req.id);
  static const char buf2[] = "{\"cmd\":\"pi\0ng\"}";
  decode_fail_n(buf2, sizeof buf2 - 1, "bad_json", "at byte 10", &req);
}

static void
test_duplicates(void)
{
  decode_fail("{\"cmd\":\"ping\",\"cmd\":\"help\"}", "bad_json", "duplicate");
  decode_fail("{\"cmd\":\"ping\",\"args\":{\"a\":1,\"a\":2}}", "bad_json", "duplicate");
}

static void
test_deep_nesting(void)
{
  /* 100 levels is a legal request; 100000 levels is refused, not a stack overflow. */
  GString *s = g_string_new("{\"cmd\":\"x\",\"args\":{\"a\":");
  for (int i = 0; i < 100; i++)
    g_string_append_c(s, '[');
  for (int i = 0; i < 100; i++)
    g_string_append_c(s, ']');
  g_string_append(s, "}}");
  lc_ctl_request req;
  decode_ok(s->str, &req);
  lc_ctl_request_clear(&req);
  g_string_free(s, TRUE);

  s = g_string_new("{\"cmd\":\"x\",\"args\":{\"a\":");
  for (int i = 0; i < 100000; i++)
    g_string_append_c(s, '[');
  decode_fail(s->str, "bad_json", "invalid JSON");
  g_string_free(s, TRUE);
}

/* ---- encoders ---------------------------------------------------------- */

static json_t *
parse_line(const char *line)
{
  size_t n = strlen(line);
  g_assert_cmpuint(n, >, 0);
  g_assert_cmpint(line[n - 1], ==, '\n');
  g_assert_null(memchr(line, '\n', n - 1)); /* exactly one line */
  json_error_t e;
  json_t *v = json_loadb(line, n, JSON_REJECT_DUPLICATES, &e);
  if (!v)
    g_error("encoder produced invalid JSON: %s (%s)", line, e.text);
  return v;
}

static void
test_encode_ok(void)
{
  json_t *id = json_integer(7);
  json_t *result = json_pack("{s:s, s:{s:s}}", "x", "multi\nline", "room", "id", "demo");
  char *line = lc_ctl_encode_ok(id, result);
  g_assert_cmpstr(line, ==,
                  "{\"id\":7,\"ok\":true,\"result\":{\"x\":\"multi\\nline\",\"room\":{\"id\":\"demo\"}}}\n");
  json_t *v = parse_line(line);
  g_assert_true(json_equal(json_object_get(v, "result"), result));
  g_assert_true(json_equal(json_object_get(v, "id"), id));
  json_decref(v);
  g_free(line);
  /* Borrowed arguments stay usable and owned by the caller. */
  g_assert_cmpint(result->refcount, ==, 1);
  g_assert_cmpint(id->refcount, ==, 1);
  json_decref(result);
  json_decref(id);

  line = lc_ctl_encode_ok(NULL, NULL);
  g_assert_cmpstr(line, ==, "{\"ok\":true,\"result\":{}}\n");
  g_free(line);
}

static void
test_encode_error(void)
{
  json_t *id = json_string("req-1");
  char *line = lc_ctl_encode_error(id, "not_found", "no room \"demo\"");
  g_assert_cmpstr(line, ==,
                  "{\"id\":\"req-1\",\"ok\":false,\"error\":{\"code\":\"not_found\","
                  "\"message\":\"no room \\\"demo\\\"\"}}\n");
  g_free(line);
  json_decref(id);

  /* Invalid UTF-8 in a message must still give a valid line. */
  line = lc_ctl_encode_error(NULL, "bad_request", "field '\xff\xfe'");
  json_t *v = parse_line(line);
  const char *msg = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
  g_assert_nonnull(msg);
  g_assert_true(g_str_has_prefix(msg, "field '"));
  g_assert_null(json_object_get(v, "id"));
  json_decref(v);
  g_free(line);
}

static void
test_encode_event(void)
{
  json_t *data = json_pack("{s:s, s:s}", "id", "demo", "state", "live");
  char *line = lc_ctl_encode_event("room.updated", data, G_GINT64_CONSTANT(1763790000123));
  g_assert_cmpstr(line, ==,
                  "{\"event\":\"room.updated\",\"ts\":1763790000123,"
                  "\"data\":{\"id\":\"demo\",\"state\":\"live\"}}\n");
  g_free(line);
  json_decref(data);

  line = lc_ctl_encode_event("x", NULL, 0);
  g_assert_cmpstr(line, ==, "{\"event\":\"x\",\"ts\":0,\"data\":{}}\n");
  g_free(line);
}

/* What a client encodes as a request, the server decodes to the same values; the
 * error the server encodes carries the decoder's id back. */
static void
test_round_trip(void)
{
  const char *lines[] = {
    "{\"id\":1,\"cmd\":\"ping\"}",
    "{\"id\":\"s\",\"cmd\":\"room.create\",\"args\":{\"id\":\"demo\",\"title\":\"\\u4e2d\\u6587\"}}",
    "{\"cmd\":\"watch\",\"args\":{\"room\":\"r\"}}",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(lines); i++) {
    lc_ctl_request req;
    decode_ok(lines[i], &req);
    json_t *o = json_object();
    if (req.id)
      json_object_set(o, "id", req.id);
    json_object_set_new(o, "cmd", json_string(req.cmd));
    json_object_set(o, "args", req.args);
    char *again = json_dumps(o, JSON_COMPACT);
    lc_ctl_request req2;
    decode_ok(again, &req2);
    g_assert_true(json_equal(req.id, req2.id) || (!req.id && !req2.id));
    g_assert_cmpstr(req.cmd, ==, req2.cmd);
    g_assert_true(json_equal(req.args, req2.args));

    char *ok = lc_ctl_encode_ok(req.id, req.args);
    json_t *v = parse_line(ok);
    g_assert_true(json_equal(json_object_get(v, "result"), req.args));
    g_assert_true(json_is_true(json_object_get(v, "ok")));
    if (req.id)
      g_assert_true(json_equal(json_object_get(v, "id"), req.id));
    json_decref(v);
    g_free(ok);

    free(again);
    json_decref(o);
    lc_ctl_request_clear(&req);
    lc_ctl_request_clear(&req2);
  }
}

/* ---- line framing ------------------------------------------------------ */

/* Takes every available line into a "|"-joined string; too-long lines show as "<LONG>". */
static char *
drain(lc_linebuf *lb)
{
  GString *out = g_string_new(NULL);
  const char *line;
  size_t len;
  lc_line_status st;
  while ((st = lc_linebuf_next(lb, &line, &len)) != LC_LINE_NONE) {
    if (out->len)
      g_string_append_c(out, '|');
    if (st == LC_LINE_TOO_LONG) {
      g_assert_null(line);
      g_string_append(out, "<LONG>");
    } else {
      g_assert_cmpuint(len, >, 0);
      g_string_append_len(out, line, (gssize)len);
    }
  }
  return g_string_free(out, FALSE);
}

static void
expect_drain(lc_linebuf *lb, const char *want)
{
  char *got = drain(lb);
  g_assert_cmpstr(got, ==, want);
  g_free(got);
}

static void
feed(lc_linebuf *lb, const char *s)
{
  lc_linebuf_feed(lb, s, strlen(s));
}

static void
test_linebuf_split(void)
{
  lc_linebuf *lb = lc_linebuf_new(100);
  expect_drain(lb, "");
  feed(lb, "{\"cmd\":");
  expect_drain(lb, "");
  feed(lb, "\"ping\"}");
  expect_drain(lb, "");
  feed(lb, "\nab");
  expect_drain(lb, "{\"cmd\":\"ping\"}");
  feed(lb, "c\nd\ne");
  expect_drain(lb, "abc|d");
  feed(lb, "\n");
  expect_drain(lb, "e");
  /* Byte by byte. */
  const char *s = "one\ntwo\r\nthree\n";
  for (const char *p = s; *p; p++)
    lc_linebuf_feed(lb, p, 1);
  expect_drain(lb, "one|two|three");
  lc_linebuf_free(lb);
}

static void
test_linebuf_crlf_and_empty(void)
{
  lc_linebuf *lb = lc_linebuf_new(100);
  feed(lb, "a\r\n\n\r\n\n  \nb\r");
  expect_drain(lb, "a|  ");
  feed(lb, "\n");
  expect_drain(lb, "b");
  /* Only the last \r goes; inner ones stay; a \r split from its \n still goes. */
  feed(lb, "x\ry\r\r");
  feed(lb, "\n");
  expect_drain(lb, "x\ry\r");
  /* NUL bytes inside a line are kept (the decoder rejects them). */
  lc_linebuf_feed(lb, "a\0b\n", 4);
  const char *line;
  size_t len;
  g_assert_cmpint(lc_linebuf_next(lb, &line, &len), ==, LC_LINE_OK);
  g_assert_cmpuint(len, ==, 3);
  g_assert_cmpmem(line, len, "a\0b", 3);
  g_assert_cmpint(lc_linebuf_next(lb, &line, &len), ==, LC_LINE_NONE);
  lc_linebuf_free(lb);
}

static void
test_linebuf_too_long(void)
{
  lc_linebuf *lb = lc_linebuf_new(8);
  /* Exactly 8 is fine, also with \r\n. */
  feed(lb, "12345678\n12345678\r\n");
  expect_drain(lb, "12345678|12345678");
  /* 9 bytes in one feed with its newline. */
  feed(lb, "123456789\nok\n");
  expect_drain(lb, "<LONG>|ok");
  /* A long line arriving in pieces is reported once, as soon as it is too long,
   * then skipped to its newline; the next line is delivered. */
  feed(lb, "before\nAAAAA");
  expect_drain(lb, "before");
  feed(lb, "AAAAA");
  expect_drain(lb, "<LONG>");
  for (int i = 0; i < 1000; i++)
    feed(lb, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
  expect_drain(lb, "");
  feed(lb, "CCC\nnext\n");
  expect_drain(lb, "next");
  /* Two long lines in a row: two reports. */
  feed(lb, "xxxxxxxxxxxxxxxxxxxx\nyyyyyyyyyyyyyyyyyy\nz\n");
  expect_drain(lb, "<LONG>|<LONG>|z");
  /* 8 bytes + \r, then not a newline: too long. */
  feed(lb, "12345678\r");
  expect_drain(lb, "");
  feed(lb, "9\nw\n");
  expect_drain(lb, "<LONG>|w");
  /* 8 bytes + \r split from its \n: fine. */
  feed(lb, "abcdefgh\r");
  feed(lb, "\n");
  expect_drain(lb, "abcdefgh");
  lc_linebuf_free(lb);
}

/* Memory stays bounded however much junk arrives without a newline. */
static void
test_linebuf_bounded(void)
{
  lc_linebuf *lb = lc_linebuf_new(16);
  char junk[4096];
  memset(junk, 'j', sizeof junk);
  for (int i = 0; i < 4096; i++)
    lc_linebuf_feed(lb, junk, sizeof junk); /* 16 MiB, nothing taken */
  expect_drain(lb, "<LONG>");
  feed(lb, "\nhello\n");
  expect_drain(lb, "hello");
  lc_linebuf_free(lb);
  lc_linebuf_free(NULL);
}

/* The framing of docs/control.md written the plain way, for whole streams: split at '\n',
 * drop one '\r' before it, skip empty lines, a line over max bytes is "<LONG>". */
static GString *
reference_lines(const char *stream, size_t len, size_t max)
{
  GString *out = g_string_new(NULL);
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (stream[i] != '\n')
      continue;
    size_t n = i - start;
    if (n > 0 && stream[i - 1] == '\r')
      n--;
    if (n > 0) {
      if (out->len)
        g_string_append_c(out, '|');
      if (n > max)
        g_string_append(out, "<LONG>");
      else
        g_string_append_len(out, stream + start, (gssize)n);
    }
    start = i + 1;
  }
  return out;
}

/* bytes as C-escaped text, NULs included (for failure messages; transfer full) */
static char *
escape_bytes(const char *data, size_t len)
{
  GString *out = g_string_new(NULL);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)data[i];
    if (ch == '\r')
      g_string_append(out, "\\r");
    else if (ch == '\n')
      g_string_append(out, "\\n");
    else if (ch < 0x20)
      g_string_append_printf(out, "\\%03o", ch);
    else
      g_string_append_c(out, (char)ch);
  }
  return g_string_free(out, FALSE);
}

/* Takes at most `most` lines (0: all) and appends them to acc the way drain() prints. */
static void
take_some(lc_linebuf *lb, GString *acc, guint most)
{
  const char *line;
  size_t len;
  lc_line_status st;
  for (guint i = 0; (most == 0 || i < most) && (st = lc_linebuf_next(lb, &line, &len)) != LC_LINE_NONE; i++) {
    if (acc->len)
      g_string_append_c(acc, '|');
    if (st == LC_LINE_TOO_LONG)
      g_string_append(acc, "<LONG>");
    else
      g_string_append_len(acc, line, (gssize)len);
  }
}

/* Partial reads: however a stream is cut into reads (down to single bytes, a '\r' apart
 * from its '\n', a cut right at max_line), and however many lines the reader takes between
 * reads, the lines are those of the whole stream. Lines around max_line, CRLF, lone '\r',
 * empty lines and NUL bytes; each run is reproducible with its seed (-p ... --seed). */
static void
test_linebuf_any_split(void)
{
  static const char alphabet[] = "ab{}\"\r\r\n\n\n";
  const size_t max = 8;
  for (int run = 0; run < 400; run++) {
    /* a stream of lines of 0 .. 2*max+2 bytes */
    GString *stream = g_string_new(NULL);
    int lines = g_test_rand_int_range(1, 30);
    for (int l = 0; l < lines; l++) {
      int n = g_test_rand_int_range(0, (int)(2 * max + 3));
      for (int i = 0; i < n; i++) {
        char ch = alphabet[g_test_rand_int_range(0, (int)sizeof alphabet - 4)]; /* no '\n' inside */
        if (g_test_rand_int_range(0, 40) == 0)
          ch = '\0';
        g_string_append_c(stream, ch);
      }
      if (g_test_rand_bit())
        g_string_append_c(stream, '\r');
      g_string_append_c(stream, '\n');
    }
    GString *want = reference_lines(stream->str, stream->len, max);
    lc_linebuf *lb = lc_linebuf_new(max);
    GString *got = g_string_new(NULL);
    for (size_t off = 0; off < stream->len;) {
      size_t n = (size_t)g_test_rand_int_range(1, 3 * (int)max); /* not inside MIN: evaluated twice */
      n = MIN(n, stream->len - off);
      lc_linebuf_feed(lb, stream->str + off, n);
      off += n;
      take_some(lb, got, (guint)g_test_rand_int_range(0, 3));
    }
    take_some(lb, got, 0);
    if (got->len != want->len || memcmp(got->str, want->str, got->len) != 0) {
      char *e1 = escape_bytes(stream->str, stream->len), *e2 = escape_bytes(got->str, got->len),
           *e3 = escape_bytes(want->str, want->len);
      g_test_message("stream: \"%s\"\n got: \"%s\"\nwant: \"%s\"", e1, e2, e3);
      g_free(e1);
      g_free(e2);
      g_free(e3);
    }
    g_assert_cmpmem(got->str, got->len, want->str, want->len);
    g_string_free(want, TRUE);
    g_string_free(got, TRUE);
    g_string_free(stream, TRUE);
    lc_linebuf_free(lb);
  }
}

/* What control.c does at the end of a client's input: a last line without its newline is
 * never handed out (a request is a whole line), however it was read. */
static void
test_linebuf_unterminated_tail(void)
{
  lc_linebuf *lb = lc_linebuf_new(16);
  feed(lb, "{\"cmd\":\"ping\"}\n{\"cmd\":");
  expect_drain(lb, "{\"cmd\":\"ping\"}");
  feed(lb, "\"ping\"}");
  expect_drain(lb, "");
  expect_drain(lb, ""); /* asking again takes nothing */
  /* an empty feed changes nothing either */
  lc_linebuf_feed(lb, "", 0);
  expect_drain(lb, "");
  feed(lb, "\n");
  expect_drain(lb, "{\"cmd\":\"ping\"}");
  lc_linebuf_free(lb);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/codec/decode/valid-full", test_valid_full);
  g_test_add_func("/codec/decode/valid-minimal", test_valid_minimal);
  g_test_add_func("/codec/decode/ids", test_ids);
  g_test_add_func("/codec/decode/error-keeps-id", test_error_keeps_id);
  g_test_add_func("/codec/decode/bad-cmd", test_bad_cmd);
  g_test_add_func("/codec/decode/bad-args-fields", test_bad_args_and_fields);
  g_test_add_func("/codec/decode/not-object", test_not_object);
  g_test_add_func("/codec/decode/bad-json", test_bad_json);
  g_test_add_func("/codec/decode/nul-byte", test_nul_byte);
  g_test_add_func("/codec/decode/duplicates", test_duplicates);
  g_test_add_func("/codec/decode/deep-nesting", test_deep_nesting);
  g_test_add_func("/codec/encode/ok", test_encode_ok);
  g_test_add_func("/codec/encode/error", test_encode_error);
  g_test_add_func("/codec/encode/event", test_encode_event);
  g_test_add_func("/codec/round-trip", test_round_trip);
  g_test_add_func("/codec/linebuf/split", test_linebuf_split);
  g_test_add_func("/codec/linebuf/crlf-empty", test_linebuf_crlf_and_empty);
  g_test_add_func("/codec/linebuf/too-long", test_linebuf_too_long);
  g_test_add_func("/codec/linebuf/bounded", test_linebuf_bounded);
  g_test_add_func("/codec/linebuf/any-split", test_linebuf_any_split);
  g_test_add_func("/codec/linebuf/unterminated-tail", test_linebuf_unterminated_tail);
  return g_test_run();
}

/* Unit tests for signaling/ws_frame: the server-side websocket frame parser. Frames are
 * built here by hand (RFC 6455 5.2), fed whole, byte by byte and in random cuts; the
 * events are recorded as text so each test states what the parser must report. */
#include <string.h>

#include <glib.h>

#include "signaling/ws_frame.h"

/* ---- frames ---- */

enum { TEXT = 1, BINARY = 2, CONT = 0, CLOSE = 8, PING = 9, PONG = 10 };

/* Appends one frame; len_mode 0 picks the shortest length form, 126/127 forces one. */
static void
frame_ex(GByteArray *out, bool fin, unsigned rsv, unsigned op, bool masked, const void *payload, size_t n,
         unsigned len_mode)
{
  guint8 h[14];
  size_t hl = 0;
  h[hl++] = (guint8)((fin ? 0x80 : 0) | (rsv << 4) | op);
  guint8 m = masked ? 0x80 : 0;
  if (len_mode == 127 || (len_mode == 0 && n > 65535)) {
    h[hl++] = m | 127;
    for (int i = 7; i >= 0; i--)
      h[hl++] = (guint8)((guint64)n >> (8 * i));
  } else if (len_mode == 126 || (len_mode == 0 && n > 125)) {
    h[hl++] = m | 126;
    h[hl++] = (guint8)(n >> 8);
    h[hl++] = (guint8)n;
  } else {
    h[hl++] = (guint8)(m | n);
  }
  static const guint8 key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked)
    for (int i = 0; i < 4; i++)
      h[hl++] = key[i];
  g_byte_array_append(out, h, (guint)hl);
  for (size_t i = 0; i < n; i++) {
    guint8 b = ((const guint8 *)payload)[i] ^ (masked ? key[i & 3] : 0);
    g_byte_array_append(out, &b, 1);
  }
}

static void
frame(GByteArray *out, bool fin, unsigned op, const char *payload)
{
  frame_ex(out, fin, 0, op, true, payload, strlen(payload), 0);
}

/* ---- recording ---- */

typedef struct {
  GString *log;
} rec;

static void
on_data(void *user, bool first, bool final, bool binary, const uint8_t *piece, size_t len)
{
  /* "<T[" starts a message, "]>" ends it; pieces are appended as they come, so the log
   * does not depend on where the stream was cut (control frames land between pieces). */
  rec *r = user;
  if (first)
    g_string_append(r->log, binary ? "<B[" : "<T[");
  g_string_append_len(r->log, (const char *)piece, (gssize)len);
  if (final)
    g_string_append(r->log, "]>");
}

static void
on_ping(void *user, bool pong, const uint8_t *payload, size_t len)
{
  rec *r = user;
  g_string_append_printf(r->log, "%s(%.*s)", pong ? "pong" : "ping", (int)len, (const char *)payload);
}

static void
on_close(void *user, int code, const char *reason, size_t len)
{
  rec *r = user;
  g_string_append_printf(r->log, "close %d '%.*s'", code, (int)len, reason);
}

static const lc_ws_frame_sink sink = {on_data, on_ping, on_close};

/* Feeds data in pieces of `cut` bytes (0: at once); returns the log plus " ERR code why". */
static char *
run(const GByteArray *data, size_t cut)
{
  rec r = {g_string_new(NULL)};
  lc_ws_frames *p = lc_ws_frames_new();
  guint8 *copy = g_memdup2(data->data, data->len);
  size_t step = cut ? cut : MAX(data->len, 1);
  int rc = 0;
  const char *why = NULL;
  for (size_t at = 0; at < data->len && !rc; at += step)
    rc = lc_ws_frames_feed(p, copy + at, MIN(step, data->len - at), &sink, &r, &why);
  if (rc)
    g_string_append_printf(r.log, " ERR %d %s", rc, why);
  g_free(copy);
  lc_ws_frames_free(p);
  return g_string_free(r.log, FALSE);
}

/* Asserts the events, fed at once, byte by byte and in cuts of 3 and 7 bytes. */
static void
expect(const GByteArray *data, const char *want)
{
  static const size_t cuts[] = {0, 1, 3, 7};
  for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
    char *got = run(data, cuts[i]);
    if (strcmp(got, want) != 0)
      g_test_message("cut %zu: got %s, want %s", cuts[i], got, want);
    g_assert_cmpstr(got, ==, want);
    g_free(got);
  }
}

static GByteArray *
bytes(void)
{
  return g_byte_array_new();
}

/* ---- tests ---- */

static void
test_masked_messages(void)
{
  GByteArray *b = bytes();
  frame(b, true, TEXT, "hello");
  frame_ex(b, true, 0, BINARY, true, "\x01\x02", 2, 0);
  frame(b, true, TEXT, "");
  expect(b, "<T[hello]><B[\x01\x02]><T[]>");
  g_byte_array_unref(b);
}

static void
test_fragments_with_control_frames_between(void)
{
  GByteArray *b = bytes();
  frame(b, false, TEXT, "ab");
  frame(b, true, PING, "p1");
  frame(b, false, CONT, "cd");
  frame(b, true, PONG, "");
  frame(b, true, CONT, "ef");
  frame(b, true, TEXT, "next");
  expect(b, "<T[abping(p1)cdpong()ef]><T[next]>");
  g_byte_array_unref(b);
}

static void
test_long_lengths(void)
{
  GByteArray *b = bytes();
  char *big = g_strnfill(300, 'x');
  char *huge = g_strnfill(70000, 'y');
  frame(b, true, TEXT, big);
  frame(b, true, TEXT, huge);
  frame_ex(b, true, 0, TEXT, true, "z", 1, 127); /* a long form for a short length is accepted */
  char *want = g_strdup_printf("<T[%s]><T[%s]><T[z]>", big, huge);
  char *got = run(b, 0);
  g_assert_cmpstr(got, ==, want);
  g_free(got);
  got = run(b, 1000);
  g_assert_cmpstr(got, ==, want);
  g_free(got);
  g_free(want);
  g_free(huge);
  g_free(big);
  g_byte_array_unref(b);
}

static void
test_unmasked_frame_is_refused_at_its_second_byte(void)
{
  GByteArray *b = bytes();
  frame_ex(b, true, 0, TEXT, false, "hello", 5, 0);
  expect(b, " ERR 1002 unmasked client frame");
  /* the refusal needs only the first two bytes */
  lc_ws_frames *p = lc_ws_frames_new();
  rec r = {g_string_new(NULL)};
  const char *why = NULL;
  guint8 two[2] = {0x81, 0x05};
  g_assert_cmpint(lc_ws_frames_feed(p, two, 2, &sink, &r, &why), ==, LC_WS_CLOSE_PROTOCOL);
  /* sticky: whatever comes next is refused the same way and reported nowhere */
  guint8 more[7] = {0x81, 0x85, 1, 2, 3, 4, 'x'};
  why = NULL;
  g_assert_cmpint(lc_ws_frames_feed(p, more, sizeof more, &sink, &r, &why), ==, LC_WS_CLOSE_PROTOCOL);
  g_assert_cmpstr(why, ==, "unmasked client frame");
  g_assert_cmpstr(r.log->str, ==, "");
  g_string_free(r.log, TRUE);
  lc_ws_frames_free(p);
  g_byte_array_unref(b);
}

static void
test_control_frame_limits(void)
{
  char *p125 = g_strnfill(125, 'p');
  GByteArray *b = bytes();
  frame(b, true, PING, p125);
  char *want = g_strdup_printf("ping(%s)", p125);
  expect(b, want);
  g_free(want);
  g_byte_array_unref(b);

  /* 126 bytes need the 16-bit length form: refused at the length byte */
  char *p126 = g_strnfill(126, 'p');
  b = bytes();
  frame(b, true, PING, p126);
  expect(b, " ERR 1002 control frame longer than 125 bytes");
  g_byte_array_unref(b);
  /* even a short payload in the long form */
  b = bytes();
  frame_ex(b, true, 0, PONG, true, "x", 1, 126);
  expect(b, " ERR 1002 control frame longer than 125 bytes");
  g_byte_array_unref(b);
  b = bytes();
  frame_ex(b, true, 0, CLOSE, true, "\x03\xe8", 2, 127);
  expect(b, " ERR 1002 control frame longer than 125 bytes");
  g_byte_array_unref(b);

  b = bytes();
  frame(b, false, PING, "x");
  expect(b, " ERR 1002 fragmented control frame");
  g_byte_array_unref(b);
  g_free(p126);
  g_free(p125);
}

static void
test_framing_errors(void)
{
  GByteArray *b = bytes();
  frame_ex(b, true, 4, TEXT, true, "x", 1, 0); /* RSV1 */
  expect(b, " ERR 1002 reserved bits set");
  g_byte_array_unref(b);

  for (unsigned op = 3; op <= 15; op++) {
    if (op == CLOSE || op == PING || op == PONG)
      continue;
    b = bytes();
    frame_ex(b, true, 0, op, true, "x", 1, 0);
    expect(b, " ERR 1002 unknown opcode");
    g_byte_array_unref(b);
  }

  b = bytes();
  frame(b, true, CONT, "x");
  expect(b, " ERR 1002 continuation frame outside a message");
  g_byte_array_unref(b);

  b = bytes();
  frame(b, false, TEXT, "a");
  frame(b, true, TEXT, "b");
  expect(b, "<T[a ERR 1002 new message inside a fragmented one");
  g_byte_array_unref(b);

  b = bytes();
  guint8 h[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
  g_byte_array_append(b, h, sizeof h);
  expect(b, " ERR 1002 frame length out of range");
  g_byte_array_unref(b);
}

static void
test_close_frames(void)
{
  GByteArray *b = bytes();
  frame(b, true, CLOSE, "");
  frame(b, true, TEXT, "ignored after the close");
  guint8 junk[3] = {0xff, 0xff, 0xff};
  g_byte_array_append(b, junk, sizeof junk);
  expect(b, "close 1005 ''");
  g_byte_array_unref(b);

  b = bytes();
  frame(b, true, CLOSE, "\x03\xe8" "bye \xe5\x86\x8d\xe8\xa7\x81");
  expect(b, "close 1000 'bye \xe5\x86\x8d\xe8\xa7\x81'");
  g_byte_array_unref(b);

  b = bytes();
  frame(b, true, CLOSE, "\x0f\xa1"); /* 4001 */
  expect(b, "close 4001 ''");
  g_byte_array_unref(b);

  static const guint16 bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
  for (size_t i = 0; i < G_N_ELEMENTS(bad_codes); i++) {
    guint8 pl[2] = {(guint8)(bad_codes[i] >> 8), (guint8)bad_codes[i]};
    b = bytes();
    frame_ex(b, true, 0, CLOSE, true, pl, 2, 0);
    expect(b, " ERR 1002 invalid close code");
    g_byte_array_unref(b);
  }

  b = bytes();
  frame_ex(b, true, 0, CLOSE, true, "\x03", 1, 0);
  expect(b, " ERR 1002 close frame of one byte");
  g_byte_array_unref(b);

  b = bytes();
  frame(b, true, CLOSE, "\x03\xe8\xff\xfe");
  expect(b, " ERR 1007 close reason is not UTF-8");
  g_byte_array_unref(b);
}

static void
test_closed_flag(void)
{
  GByteArray *b = bytes();
  frame(b, true, CLOSE, "\x03\xe9");
  lc_ws_frames *p = lc_ws_frames_new();
  rec r = {g_string_new(NULL)};
  g_assert_false(lc_ws_frames_closed(p));
  g_assert_cmpint(lc_ws_frames_feed(p, b->data, b->len, &sink, &r, NULL), ==, 0);
  g_assert_true(lc_ws_frames_closed(p));
  g_assert_cmpstr(r.log->str, ==, "close 1001 ''");
  g_string_free(r.log, TRUE);
  lc_ws_frames_free(p);
  g_byte_array_unref(b);
}

static void
test_random_cuts(void)
{
  /* many frames, cut at random places: the same events as fed at once */
  GByteArray *b = bytes();
  GRand *rnd = g_rand_new_with_seed(7);
  for (int i = 0; i < 200; i++) {
    size_t n = (size_t)g_rand_int_range(rnd, 0, 400);
    char *s = g_strnfill(n, (gchar)('a' + i % 26));
    int kind = g_rand_int_range(rnd, 0, 4);
    if (kind == 0) {
      frame(b, false, TEXT, s);
      frame(b, true, PING, "x");
      frame(b, true, CONT, s);
    } else if (kind == 1) {
      frame(b, true, PONG, n > 125 ? "" : s);
    } else {
      frame(b, true, kind == 2 ? TEXT : BINARY, s);
    }
    g_free(s);
  }
  char *want = run(b, 0);
  for (int round = 0; round < 20; round++) {
    rec r = {g_string_new(NULL)};
    lc_ws_frames *p = lc_ws_frames_new();
    guint8 *copy = g_memdup2(b->data, b->len);
    for (size_t at = 0; at < b->len;) {
      size_t want = (size_t)g_rand_int_range(rnd, 1, 600); /* MIN evaluates twice */
      size_t n = MIN(want, b->len - at);
      g_assert_cmpint(lc_ws_frames_feed(p, copy + at, n, &sink, &r, NULL), ==, 0);
      at += n;
    }
    g_assert_cmpstr(r.log->str, ==, want);
    g_free(copy);
    lc_ws_frames_free(p);
    g_string_free(r.log, TRUE);
  }
  g_free(want);
  g_rand_free(rnd);
  g_byte_array_unref(b);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ws_frame/messages", test_masked_messages);
  g_test_add_func("/ws_frame/fragments", test_fragments_with_control_frames_between);
  g_test_add_func("/ws_frame/long-lengths", test_long_lengths);
  g_test_add_func("/ws_frame/unmasked", test_unmasked_frame_is_refused_at_its_second_byte);
  g_test_add_func("/ws_frame/control-limits", test_control_frame_limits);
  g_test_add_func("/ws_frame/framing-errors", test_framing_errors);
  g_test_add_func("/ws_frame/close", test_close_frames);
  g_test_add_func("/ws_frame/closed-flag", test_closed_flag);
  g_test_add_func("/ws_frame/random-cuts", test_random_cuts);
  return g_test_run();
}

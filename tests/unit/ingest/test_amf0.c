/* Unit tests for pipelines/ingest/amf0. Byte sequences are written by hand from the AMF0
 * specification (Adobe, "Action Message Format -- AMF 0"), not produced with lc_amf0. */
#include <math.h>
#include <string.h>

#include "ingest/amf0.h"
#include "base/errors.h"

#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* Decodes exactly one value from the literal and checks it re-encodes to the same bytes. */
static lc_amf0 *
decode_exact(const uint8_t *d, size_t n)
{
  lc_amf0 *v = NULL;
  size_t used = 0;
  g_assert_cmpint(lc_amf0_decode(d, n, &used, &v), ==, 0);
  g_assert_nonnull(v);
  g_assert_cmpuint(used, ==, n);
  GByteArray *out = g_byte_array_new();
  lc_amf0_encode(v, out);
  g_assert_cmpmem(out->data, out->len, d, n);
  g_byte_array_unref(out);
  return v;
}

static void
test_scalars(void)
{
  lc_amf0 *v = decode_exact(LIT("\x00\x3F\xF0\x00\x00\x00\x00\x00\x00")); /* 1.0 */
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_NUMBER);
  g_assert_cmpfloat(lc_amf0_number(v), ==, 1.0);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x00\xC0\x5E\xDD\x2F\x1A\x9F\xBE\x77")); /* -123.456 */
  g_assert_cmpfloat(lc_amf0_number(v), ==, -123.456);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x01\x01"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_BOOLEAN);
  g_assert_true(lc_amf0_boolean(v));
  lc_amf0_free(v);
  v = decode_exact(LIT("\x01\x00"));
  g_assert_false(lc_amf0_boolean(v));
  lc_amf0_free(v);
  v = decode_exact(LIT("\x02\x00\x07" "connect"));
  size_t len = 0;
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_STRING);
  g_assert_cmpstr(lc_amf0_string(v, &len), ==, "connect");
  g_assert_cmpuint(len, ==, 7);
  g_assert_cmpstr(lc_amf0_cstr(v), ==, "connect");
  lc_amf0_free(v);
  v = decode_exact(LIT("\x02\x00\x00"));
  g_assert_cmpstr(lc_amf0_cstr(v), ==, "");
  lc_amf0_free(v);
  v = decode_exact(LIT("\x02\x00\x03" "a\0b")); /* embedded NUL: a string, but not a C string */
  g_assert_nonnull(lc_amf0_string(v, &len));
  g_assert_cmpuint(len, ==, 3);
  g_assert_null(lc_amf0_cstr(v));
  lc_amf0_free(v);
  v = decode_exact(LIT("\x02\x00\x06" "\xE5\xB0\x8F\xE6\x98\x8E")); /* UTF-8 */
  g_assert_cmpstr(lc_amf0_cstr(v), ==, "小明");
  lc_amf0_free(v);
  v = decode_exact(LIT("\x0C\x00\x00\x00\x03" "abc")); /* long string marker kept on re-encode */
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_STRING);
  g_assert_cmpstr(lc_amf0_cstr(v), ==, "abc");
  lc_amf0_free(v);
  v = decode_exact(LIT("\x05"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_NULL);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x06"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_UNDEFINED);
  lc_amf0_free(v);
  /* date: 2023-11-14T22:13:20Z = 1700000000000 ms (double bits from Python struct.pack(">d")), tz 0 */
  v = decode_exact(LIT("\x0B\x42\x78\xBC\xFE\x56\x80\x00\x00\x00\x00"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_DATE);
  g_assert_cmpfloat(lc_amf0_number(v), ==, 1700000000000.0);
  g_assert_cmpint(lc_amf0_date_tz(v), ==, 0);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x0B\x00\x00\x00\x00\x00\x00\x00\x00\xFF\x88")); /* tz -120 */
  g_assert_cmpint(lc_amf0_date_tz(v), ==, -120);
  lc_amf0_free(v);
}

static void
test_containers(void)
{
  /* object {app: "live", n: 2, ok: true} */
  lc_amf0 *v = decode_exact(LIT("\x03" "\x00\x03" "app" "\x02\x00\x04" "live" "\x00\x01" "n"
                                "\x00\x40\x00\x00\x00\x00\x00\x00\x00" "\x00\x02" "ok" "\x01\x01" "\x00\x00\x09"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_OBJECT);
  g_assert_cmpuint(lc_amf0_count(v), ==, 3);
  g_assert_cmpstr(lc_amf0_key_at(v, 0, NULL), ==, "app");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(v, "app")), ==, "live");
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(v, "n")), ==, 2);
  g_assert_true(lc_amf0_boolean(lc_amf0_get(v, "ok")));
  g_assert_null(lc_amf0_get(v, "missing"));
  g_assert_null(lc_amf0_key_at(v, 3, NULL));
  lc_amf0_free(v);
  /* empty object, ECMA array with count 2, strict array [1, "x", null] */
  v = decode_exact(LIT("\x03\x00\x00\x09"));
  g_assert_cmpuint(lc_amf0_count(v), ==, 0);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x08\x00\x00\x00\x02" "\x00\x05" "width" "\x00\x40\x94\x00\x00\x00\x00\x00\x00"
                       "\x00\x06" "height" "\x00\x40\x86\x80\x00\x00\x00\x00\x00" "\x00\x00\x09"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_ECMA_ARRAY);
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(v, "width")), ==, 1280);
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(v, "height")), ==, 720);
  lc_amf0_free(v);
  v = decode_exact(LIT("\x0A\x00\x00\x00\x03" "\x00\x3F\xF0\x00\x00\x00\x00\x00\x00" "\x02\x00\x01" "x" "\x05"));
  g_assert_cmpint(lc_amf0_get_type(v), ==, LC_AMF0_STRICT_ARRAY);
  g_assert_cmpuint(lc_amf0_count(v), ==, 3);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_value_at(v, 1)), ==, "x");
  g_assert_cmpint(lc_amf0_get_type(lc_amf0_value_at(v, 2)), ==, LC_AMF0_NULL);
  g_assert_null(lc_amf0_key_at(v, 0, NULL));
  lc_amf0_free(v);
  /* an ECMA array whose count field lies (encoders write 0): the end marker ends it */
  lc_amf0 *w = NULL;
  size_t used = 0;
  g_assert_cmpint(lc_amf0_decode(LIT("\x08\x00\x00\x00\x00" "\x00\x01" "a" "\x05" "\x00\x00\x09"), &used, &w), ==, 0);
  g_assert_cmpuint(lc_amf0_count(w), ==, 1);
  lc_amf0_free(w);
}

/* A tree holding every type, nested; encode -> decode -> equal; also every prefix fails. */
static lc_amf0 *
every_type(void)
{
  lc_amf0 *o = lc_amf0_new_object();
  lc_amf0_set(o, "num", lc_amf0_new_number(29.97));
  lc_amf0_set(o, "neg0", lc_amf0_new_number(-0.0));
  lc_amf0_set(o, "inf", lc_amf0_new_number(INFINITY));
  lc_amf0_set(o, "nan", lc_amf0_new_number(NAN));
  lc_amf0_set(o, "t", lc_amf0_new_boolean(true));
  lc_amf0_set(o, "s", lc_amf0_new_string("héllo", -1));
  lc_amf0_set(o, "nul", lc_amf0_new_null());
  lc_amf0_set(o, "undef", lc_amf0_new_undefined());
  lc_amf0_set(o, "date", lc_amf0_new_date(1.5e12, 60));
  lc_amf0_set(o, "", lc_amf0_new_string("empty key", -1));
  lc_amf0_set(o, "dup", lc_amf0_new_number(1));
  lc_amf0_set(o, "dup", lc_amf0_new_number(2));
  lc_amf0 *e = lc_amf0_new_ecma_array();
  lc_amf0_set(e, "inner", lc_amf0_new_object());
  lc_amf0 *arr = lc_amf0_new_strict_array();
  lc_amf0_append(arr, lc_amf0_new_number(1));
  lc_amf0_append(arr, lc_amf0_new_strict_array());
  lc_amf0_append(arr, e);
  lc_amf0_set(o, "arr", arr);
  char *big = g_malloc(70000);
  memset(big, 'z', 70000);
  lc_amf0_set(o, "long", lc_amf0_new_string(big, 70000));
  g_free(big);
  return o;
}

static void
test_round_trip_and_truncation(void)
{
  lc_amf0 *o = every_type();
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(o, "dup")), ==, 1); /* first match */
  GByteArray *out = g_byte_array_new();
  lc_amf0_encode(o, out);
  lc_amf0 *back = NULL;
  size_t used = 0;
  g_assert_cmpint(lc_amf0_decode(out->data, out->len, &used, &back), ==, 0);
  g_assert_cmpuint(used, ==, out->len);
  g_assert_true(lc_amf0_equal(o, back));
  g_assert_true(isnan(lc_amf0_number(lc_amf0_get(back, "nan"))));
  g_assert_true(signbit(lc_amf0_number(lc_amf0_get(back, "neg0"))));
  size_t len = 0;
  g_assert_nonnull(lc_amf0_string(lc_amf0_get(back, "long"), &len));
  g_assert_cmpuint(len, ==, 70000);
  g_assert_cmpint(lc_amf0_date_tz(lc_amf0_get(back, "date")), ==, 60);
  /* a modified tree is not equal */
  lc_amf0_set(back, "extra", lc_amf0_new_null());
  g_assert_false(lc_amf0_equal(o, back));
  lc_amf0_free(back);

  /* every strict prefix is an error (and never a crash or leak); the long string is cut short to
   * keep this quick, then the value is re-encoded */
  GByteArray *small = g_byte_array_new();
  lc_amf0 *o2 = lc_amf0_new_object();
  lc_amf0_set(o2, "all", o);
  lc_amf0_encode(o2, small);
  for (size_t cut = 0; cut < small->len; cut += (cut > 200 && cut < small->len - 200) ? 997 : 1) {
    lc_amf0 *v = (lc_amf0 *)0x1;
    g_assert_cmpint(lc_amf0_decode(small->data, cut, &used, &v), ==, LC_EINVAL);
    g_assert_null(v);
    g_assert_cmpuint(used, ==, 0);
  }
  g_assert_cmpint(lc_amf0_decode(small->data, small->len, &used, &back), ==, 0);
  lc_amf0_free(back);
  lc_amf0_free(o2);
  g_byte_array_unref(small);
  g_byte_array_unref(out);
}

static void
test_malformed(void)
{
  static const struct {
    const char *bytes;
    size_t len;
  } bad[] = {
    {"\x04", 1},                             /* movieclip (reserved) */
    {"\x07\x00\x01", 3},                     /* reference */
    {"\x09", 1},                             /* object end out of place */
    {"\x0D", 1},                             /* unsupported */
    {"\x0E", 1},                             /* recordset */
    {"\x0F\x00\x00\x00\x01" "x", 6},         /* XML document */
    {"\x10\x00\x01" "C" "\x00\x00\x09", 7},  /* typed object */
    {"\x11\x01", 2},                         /* AMF3 switch */
    {"\xFF", 1},
    {"\x02\x00\x05" "abc", 6},               /* string longer than the input */
    {"\x0C\xFF\xFF\xFF\xFF" "abc", 8},       /* long string length 4 GiB */
    {"\x0A\xFF\xFF\xFF\xFF" "\x05\x05", 7},  /* strict array count far above the input */
    {"\x03\x00\x01" "a" "\x09", 5},          /* object: value is a bare object end */
    {"\x03\x00\x01" "a" "\x05", 5},          /* object without end marker */
    {"\x03\x00\x00\x05", 4},                 /* empty key then not the end marker: truncated pair */
    {"\x08\x00\x00", 3},                     /* ECMA array count truncated */
    {"\x0B\x00\x00\x00", 4},                 /* date truncated */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    lc_amf0 *v = NULL;
    size_t used = 0;
    int rc = lc_amf0_decode((const uint8_t *)bad[i].bytes, bad[i].len, &used, &v);
    g_assert_cmpint(rc, ==, LC_EINVAL);
    g_assert_null(v);
    GPtrArray *all = NULL;
    g_assert_cmpint(lc_amf0_decode_all((const uint8_t *)bad[i].bytes, bad[i].len, &all), ==, LC_EINVAL);
    g_assert_null(all);
  }
  lc_amf0 *v = NULL;
  size_t used = 0;
  g_assert_cmpint(lc_amf0_decode(NULL, 0, &used, &v), ==, LC_EINVAL);
  GPtrArray *all = NULL;
  g_assert_cmpint(lc_amf0_decode_all(NULL, 0, &all), ==, 0); /* nothing is an empty list */
  g_assert_cmpuint(all->len, ==, 0);
  g_ptr_array_unref(all);
}

static void
test_depth_and_count_limits(void)
{
  /* exactly LC_AMF0_MAX_DEPTH nested strict arrays decode; one more is refused */
  for (int depth = LC_AMF0_MAX_DEPTH; depth <= LC_AMF0_MAX_DEPTH + 1; depth++) {
    GByteArray *a = g_byte_array_new();
    for (int i = 0; i < depth - 1; i++)
      g_byte_array_append(a, (const guint8 *)"\x0A\x00\x00\x00\x01", 5);
    g_byte_array_append(a, (const guint8 *)"\x05", 1);
    lc_amf0 *v = NULL;
    size_t used = 0;
    int rc = lc_amf0_decode(a->data, a->len, &used, &v);
    g_assert_cmpint(rc, ==, depth <= LC_AMF0_MAX_DEPTH ? 0 : LC_ELIMIT);
    lc_amf0_free(v);
    g_byte_array_unref(a);
  }
  /* a million nested objects ("a": {"a": {...) : refused early, no stack blow-up */
  GByteArray *bomb = g_byte_array_new();
  for (int i = 0; i < 1000000; i++)
    g_byte_array_append(bomb, (const guint8 *)"\x03\x00\x01" "a", 4);
  lc_amf0 *v = NULL;
  size_t used = 0;
  g_assert_cmpint(lc_amf0_decode(bomb->data, bomb->len, &used, &v), ==, LC_ELIMIT);
  g_assert_null(v);
  g_byte_array_unref(bomb);
  /* 100000 one-byte values in a strict array: over the value limit */
  GByteArray *wide = g_byte_array_new();
  g_byte_array_append(wide, (const guint8 *)"\x0A\x00\x01\x86\xA0", 5);
  for (int i = 0; i < 100000; i++)
    g_byte_array_append(wide, (const guint8 *)"\x05", 1);
  g_assert_cmpint(lc_amf0_decode(wide->data, wide->len, &used, &v), ==, LC_ELIMIT);
  /* the limit spans a decode_all call too */
  GPtrArray *all = NULL;
  g_assert_cmpint(lc_amf0_decode_all(wide->data + 5, wide->len - 5, &all), ==, LC_ELIMIT);
  g_assert_null(all);
  g_assert_cmpint(lc_amf0_decode_all(wide->data + 5, LC_AMF0_MAX_VALUES, &all), ==, 0);
  g_assert_cmpuint(all->len, ==, LC_AMF0_MAX_VALUES);
  g_ptr_array_unref(all);
  g_byte_array_unref(wide);
}

static void
test_builder_misuse(void)
{
  lc_amf0 *n = lc_amf0_new_number(1);
  g_assert_cmpint(lc_amf0_set(n, "k", lc_amf0_new_null()), ==, LC_EINVAL); /* value freed */
  g_assert_cmpint(lc_amf0_append(n, lc_amf0_new_null()), ==, LC_EINVAL);
  g_assert_cmpuint(lc_amf0_count(n), ==, 0);
  g_assert_null(lc_amf0_string(n, NULL));
  g_assert_false(lc_amf0_boolean(n));
  lc_amf0_free(n);
  lc_amf0 *o = lc_amf0_new_object();
  char *long_key = g_malloc0(70000);
  memset(long_key, 'k', 69999);
  g_assert_cmpint(lc_amf0_set(o, long_key, lc_amf0_new_null()), ==, LC_EINVAL);
  g_free(long_key);
  g_assert_cmpint(lc_amf0_append(o, lc_amf0_new_null()), ==, LC_EINVAL);
  g_assert_cmpuint(lc_amf0_count(o), ==, 0);
  lc_amf0_free(o);
  g_assert_cmpint(lc_amf0_get_type(NULL), ==, LC_AMF0_UNDEFINED);
  g_assert_cmpfloat(lc_amf0_number(NULL), ==, 0);
  g_assert_null(lc_amf0_get(NULL, "x"));
  g_assert_true(lc_amf0_equal(NULL, NULL));
}

/* ---- commands ---- */

static void
test_command_parse(void)
{
  /* OBS's connect, by hand: "connect", 1, {app:"live", type:"nonprivate", tcUrl:...} */
  const uint8_t connect[] = "\x02\x00\x07" "connect" "\x00\x3F\xF0\x00\x00\x00\x00\x00\x00"
                            "\x03" "\x00\x03" "app" "\x02\x00\x04" "live"
                            "\x00\x04" "type" "\x02\x00\x0A" "nonprivate"
                            "\x00\x05" "tcUrl" "\x02\x00\x1A" "rtmp://127.0.0.1:1935/live"
                            "\x00\x00\x09";
  lc_amf0_command *cmd = NULL;
  g_assert_cmpint(lc_amf0_command_parse(connect, sizeof connect - 1, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "connect");
  g_assert_cmpfloat(cmd->transaction_id, ==, 1);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(cmd->command_object, "app")), ==, "live");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(cmd->command_object, "tcUrl")), ==, "rtmp://127.0.0.1:1935/live");
  g_assert_cmpuint(cmd->args->len, ==, 0);
  g_assert_null(lc_amf0_command_arg(cmd, 0));
  lc_amf0_command_free(cmd);

  /* "publish", 5, null, "demo?key=abc", "live" */
  const uint8_t publish[] = "\x02\x00\x07" "publish" "\x00\x40\x14\x00\x00\x00\x00\x00\x00" "\x05"
                            "\x02\x00\x0C" "demo?key=abc" "\x02\x00\x04" "live";
  g_assert_cmpint(lc_amf0_command_parse(publish, sizeof publish - 1, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "publish");
  g_assert_cmpfloat(cmd->transaction_id, ==, 5);
  g_assert_null(cmd->command_object);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_command_arg(cmd, 0)), ==, "demo?key=abc");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_command_arg(cmd, 1)), ==, "live");
  lc_amf0_command_free(cmd);

  /* a name alone is fine (transaction 0) */
  g_assert_cmpint(lc_amf0_command_parse(LIT("\x02\x00\x04" "ping"), &cmd), ==, 0);
  g_assert_cmpfloat(cmd->transaction_id, ==, 0);
  lc_amf0_command_free(cmd);

  /* refused: empty, name not a string, name with NUL, transaction id not a number, truncated */
  g_assert_cmpint(lc_amf0_command_parse(NULL, 0, &cmd), ==, LC_EINVAL);
  g_assert_cmpint(lc_amf0_command_parse(LIT("\x05"), &cmd), ==, LC_EINVAL);
  g_assert_cmpint(lc_amf0_command_parse(LIT("\x02\x00\x03" "a\0b" "\x00\x00\x00\x00\x00\x00\x00\x00\x00"), &cmd),
                  ==, LC_EINVAL);
  g_assert_cmpint(lc_amf0_command_parse(LIT("\x02\x00\x01" "a" "\x02\x00\x01" "1"), &cmd), ==, LC_EINVAL);
  g_assert_null(cmd);
  for (size_t cut = 1; cut < sizeof publish - 1; cut++) {
    int rc = lc_amf0_command_parse(publish, cut, &cmd);
    /* a cut at a value boundary leaves a shorter valid command; anything else is an error */
    if (rc == 0)
      lc_amf0_command_free(cmd);
    else
      g_assert_cmpint(rc, ==, LC_EINVAL);
  }
}

static void
test_reply_builders(void)
{
  /* onStatus publish start: the exact bytes */
  GByteArray *out = g_byte_array_new();
  lc_amf0_encode_on_status(out, "status", LC_AMF0_PUBLISH_START, "ok");
  const char want[] = "\x02\x00\x08" "onStatus" "\x00\x00\x00\x00\x00\x00\x00\x00\x00" "\x05"
                      "\x03" "\x00\x05" "level" "\x02\x00\x06" "status"
                      "\x00\x04" "code" "\x02\x00\x17" "NetStream.Publish.Start"
                      "\x00\x0B" "description" "\x02\x00\x02" "ok" "\x00\x00\x09";
  g_assert_cmpmem(out->data, out->len, want, sizeof want - 1);

  /* _error with BadName */
  g_byte_array_set_size(out, 0);
  lc_amf0_encode_error(out, 5, LC_AMF0_PUBLISH_BADNAME, "wrong stream key");
  lc_amf0_command *cmd = NULL;
  g_assert_cmpint(lc_amf0_command_parse(out->data, out->len, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "_error");
  g_assert_cmpfloat(cmd->transaction_id, ==, 5);
  g_assert_null(cmd->command_object);
  const lc_amf0 *info = lc_amf0_command_arg(cmd, 0);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(info, "level")), ==, "error");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(info, "code")), ==, "NetStream.Publish.BadName");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(info, "description")), ==, "wrong stream key");
  lc_amf0_command_free(cmd);

  /* connect _result */
  g_byte_array_set_size(out, 0);
  lc_amf0_encode_connect_result(out, 1);
  g_assert_cmpint(lc_amf0_command_parse(out->data, out->len, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "_result");
  g_assert_cmpfloat(cmd->transaction_id, ==, 1);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(cmd->command_object, "fmsVer")), ==, "FMS/3,0,1,123");
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(cmd->command_object, "capabilities")), ==, 31);
  info = lc_amf0_command_arg(cmd, 0);
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(info, "code")), ==, "NetConnection.Connect.Success");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(info, "level")), ==, "status");
  g_assert_cmpfloat(lc_amf0_number(lc_amf0_get(info, "objectEncoding")), ==, 0);
  lc_amf0_command_free(cmd);

  /* createStream _result: exact bytes "_result", 4, null, 1 */
  g_byte_array_set_size(out, 0);
  lc_amf0_encode_result_number(out, 4, 1);
  const char want_cs[] = "\x02\x00\x07" "_result" "\x00\x40\x10\x00\x00\x00\x00\x00\x00" "\x05"
                         "\x00\x3F\xF0\x00\x00\x00\x00\x00\x00";
  g_assert_cmpmem(out->data, out->len, want_cs, sizeof want_cs - 1);
  g_byte_array_unref(out);
}

static void
test_metadata(void)
{
  /* what OBS sends: "@setDataFrame", "onMetaData", ECMA array */
  const uint8_t obs[] = "\x02\x00\x0D" "@setDataFrame" "\x02\x00\x0A" "onMetaData"
                        "\x08\x00\x00\x00\x07"
                        "\x00\x05" "width" "\x00\x40\x9E\x00\x00\x00\x00\x00\x00"              /* 1920 */
                        "\x00\x06" "height" "\x00\x40\x90\xE0\x00\x00\x00\x00\x00"             /* 1080 */
                        "\x00\x09" "framerate" "\x00\x40\x3E\x00\x00\x00\x00\x00\x00"          /* 30 */
                        "\x00\x0C" "videocodecid" "\x00\x40\x1C\x00\x00\x00\x00\x00\x00"       /* 7 */
                        "\x00\x0C" "audiocodecid" "\x00\x40\x24\x00\x00\x00\x00\x00\x00"       /* 10 */
                        "\x00\x0F" "audiosamplerate" "\x00\x40\xE5\x88\x80\x00\x00\x00\x00"    /* 44100 */
                        "\x00\x07" "encoder" "\x02\x00\x0C" "obs-output 1"
                        "\x00\x00\x09";
  lc_amf0_metadata m;
  g_assert_cmpint(lc_amf0_metadata_parse(obs, sizeof obs - 1, &m), ==, 0);
  g_assert_cmpfloat(m.width, ==, 1920);
  g_assert_cmpfloat(m.height, ==, 1080);
  g_assert_cmpfloat(m.framerate, ==, 30);
  g_assert_cmpfloat(m.videocodecid, ==, 7);
  g_assert_cmpfloat(m.audiocodecid, ==, 10);
  g_assert_cmpfloat(m.audiosamplerate, ==, 44100);
  g_assert_cmpfloat(m.videodatarate, <, 0); /* absent */
  g_assert_cmpstr(m.encoder, ==, "obs-output 1");
  g_assert_cmpstr(m.video_codec_name, ==, "");

  /* "onMetaData" with an object and a string codec id (enhanced RTMP style) */
  const uint8_t plain[] = "\x02\x00\x0A" "onMetaData" "\x03"
                          "\x00\x0C" "videocodecid" "\x02\x00\x04" "hvc1"
                          "\x00\x05" "width" "\x00\x40\x94\x00\x00\x00\x00\x00\x00" "\x00\x00\x09";
  g_assert_cmpint(lc_amf0_metadata_parse(plain, sizeof plain - 1, &m), ==, 0);
  g_assert_cmpfloat(m.width, ==, 1280);
  g_assert_cmpfloat(m.height, <, 0);
  g_assert_cmpfloat(m.videocodecid, <, 0);
  g_assert_cmpstr(m.video_codec_name, ==, "hvc1");

  /* other data messages, and malformed ones */
  g_assert_cmpint(lc_amf0_metadata_parse(LIT("\x02\x00\x0A" "onTextData" "\x03\x00\x00\x09"), &m), ==, LC_ENOENT);
  g_assert_cmpint(lc_amf0_metadata_parse(LIT("\x02\x00\x0D" "@setDataFrame"), &m), ==, LC_ENOENT);
  g_assert_cmpint(lc_amf0_metadata_parse(LIT("\x02\x00\x0A" "onMetaData"), &m), ==, LC_EINVAL);
  g_assert_cmpint(lc_amf0_metadata_parse(LIT("\x02\x00\x0A" "onMetaData" "\x05"), &m), ==, LC_EINVAL);
  g_assert_cmpint(lc_amf0_metadata_parse(obs, sizeof obs - 2, &m), ==, LC_EINVAL);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/amf0/scalars", test_scalars);
  g_test_add_func("/amf0/containers", test_containers);
  g_test_add_func("/amf0/round_trip_and_truncation", test_round_trip_and_truncation);
  g_test_add_func("/amf0/malformed", test_malformed);
  g_test_add_func("/amf0/depth_and_count_limits", test_depth_and_count_limits);
  g_test_add_func("/amf0/builder_misuse", test_builder_misuse);
  g_test_add_func("/amf0/command_parse", test_command_parse);
  g_test_add_func("/amf0/reply_builders", test_reply_builders);
  g_test_add_func("/amf0/metadata", test_metadata);
  return g_test_run();
}

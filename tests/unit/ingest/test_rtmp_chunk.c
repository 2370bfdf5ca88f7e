/* Unit tests for pipelines/ingest/rtmp_handshake and rtmp_chunk. Byte sequences marked "spec" are
 * written by hand from the Adobe RTMP specification 1.0 (section 5.3), not with lc_rtmp code. */
#include <string.h>

#include "ingest/amf0.h"
#include "base/errors.h"
#include "ingest/rtmp_chunk.h"
#include "ingest/rtmp_handshake.h"

/* ---------------- handshake ---------------- */

static void
make_c0c1(uint8_t *buf, uint8_t version, uint32_t zero_field)
{
  buf[0] = version;
  buf[1] = 0, buf[2] = 0, buf[3] = 0x12, buf[4] = 0x34; /* client time */
  buf[5] = (uint8_t)(zero_field >> 24), buf[6] = (uint8_t)(zero_field >> 16);
  buf[7] = (uint8_t)(zero_field >> 8), buf[8] = (uint8_t)zero_field;
  for (size_t i = 9; i < 1 + LC_RTMP_HANDSHAKE_SIZE; i++)
    buf[i] = (uint8_t)(i * 7 + 3);
}

static void
check_s0s1s2(const GByteArray *out, const uint8_t *c0c1, uint32_t time_ms)
{
  g_assert_cmpuint(out->len, ==, 1 + 2 * LC_RTMP_HANDSHAKE_SIZE);
  g_assert_cmpuint(out->data[0], ==, 3);
  const uint8_t *s1 = out->data + 1;
  g_assert_cmpuint(((uint32_t)s1[0] << 24) | ((uint32_t)s1[1] << 16) | ((uint32_t)s1[2] << 8) | s1[3], ==, time_ms);
  g_assert_cmpuint(s1[4] | s1[5] | s1[6] | s1[7], ==, 0); /* zero field */
  /* S2 echoes C1 byte for byte */
  g_assert_cmpmem(out->data + 1 + LC_RTMP_HANDSHAKE_SIZE, LC_RTMP_HANDSHAKE_SIZE, c0c1 + 1, LC_RTMP_HANDSHAKE_SIZE);
}

static void
test_hs_one_read(void)
{
  /* C0 C1 in one read; then C2 (echo of S1) + the first chunk bytes in the next read */
  uint8_t c0c1[1 + LC_RTMP_HANDSHAKE_SIZE];
  make_c0c1(c0c1, 3, 0);
  lc_rtmp_handshake *hs = lc_rtmp_handshake_new(777);
  GByteArray *out = g_byte_array_new();
  size_t used = 0;
  g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_WAIT_C0C1);
  g_assert_cmpint(lc_rtmp_handshake_feed(hs, c0c1, sizeof c0c1, &used, out), ==, 0);
  g_assert_cmpuint(used, ==, sizeof c0c1);
  g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_WAIT_C2);
  g_assert_cmpuint(lc_rtmp_handshake_client_version(hs), ==, 3);
  check_s0s1s2(out, c0c1, 777);

  uint8_t c2[LC_RTMP_HANDSHAKE_SIZE + 5];
  memcpy(c2, out->data + 1, LC_RTMP_HANDSHAKE_SIZE);
  memcpy(c2 + LC_RTMP_HANDSHAKE_SIZE, "\x03\x00\x00\x00\x00", 5);
  g_byte_array_set_size(out, 0);
  g_assert_cmpint(lc_rtmp_handshake_feed(hs, c2, sizeof c2, &used, out), ==, 0);
  g_assert_cmpuint(used, ==, LC_RTMP_HANDSHAKE_SIZE); /* the chunk bytes are left for the reader */
  g_assert_cmpuint(out->len, ==, 0);
  g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_DONE);
  g_assert_true(lc_rtmp_handshake_c2_echoed(hs));
  /* feeding after DONE is a caller bug */
  g_assert_cmpint(lc_rtmp_handshake_feed(hs, c2 + LC_RTMP_HANDSHAKE_SIZE, 5, &used, out), ==, LC_ESTATE);
  g_assert_cmpuint(used, ==, 0);
  g_byte_array_unref(out);
  lc_rtmp_handshake_free(hs);
}

static void
test_hs_byte_by_byte_fp9(void)
{
  /* ffmpeg-style C1: non-zero "zero" field (9.0.124.2) and a digest we do not check; C2 garbage */
  uint8_t c0c1[1 + LC_RTMP_HANDSHAKE_SIZE];
  make_c0c1(c0c1, 3, 0x09007c02);
  lc_rtmp_handshake *hs = lc_rtmp_handshake_new(0);
  GByteArray *out = g_byte_array_new();
  size_t used = 0;
  for (size_t i = 0; i < sizeof c0c1; i++) {
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpint(lc_rtmp_handshake_feed(hs, c0c1 + i, 1, &used, out), ==, 0);
    g_assert_cmpuint(used, ==, 1);
  }
  check_s0s1s2(out, c0c1, 0);
  uint8_t c2[LC_RTMP_HANDSHAKE_SIZE];
  memset(c2, 0xAB, sizeof c2);
  for (size_t i = 0; i < sizeof c2; i++) {
    g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_WAIT_C2);
    g_assert_cmpint(lc_rtmp_handshake_feed(hs, c2 + i, 1, &used, out), ==, 0);
  }
  g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_DONE);
  g_assert_false(lc_rtmp_handshake_c2_echoed(hs));
  g_byte_array_unref(out);
  lc_rtmp_handshake_free(hs);
}

static void
test_hs_wrong_version(void)
{
  const uint8_t versions[] = {6 /* RTMPE */, 'G' /* HTTP GET */, 0, 0x16 /* TLS */};
  for (size_t i = 0; i < G_N_ELEMENTS(versions); i++) {
    uint8_t c0c1[1 + LC_RTMP_HANDSHAKE_SIZE];
    make_c0c1(c0c1, versions[i], 0);
    lc_rtmp_handshake *hs = lc_rtmp_handshake_new(0);
    GByteArray *out = g_byte_array_new();
    size_t used = 99;
    g_assert_cmpint(lc_rtmp_handshake_feed(hs, c0c1, sizeof c0c1, &used, out), ==, LC_EINVAL);
    g_assert_cmpuint(used, ==, 1);
    g_assert_cmpuint(out->len, ==, 0);
    g_assert_cmpint(lc_rtmp_handshake_state(hs), ==, LC_RTMP_HS_FAILED);
    g_assert_cmpint(lc_rtmp_handshake_feed(hs, c0c1 + 1, 10, &used, out), ==, LC_EINVAL);
    g_byte_array_unref(out);
    lc_rtmp_handshake_free(hs);
  }
}

/* ---------------- chunk reader: helpers ---------------- */

typedef struct {
  lc_rtmp_chunk_reader *r;
  GPtrArray *msgs; /* lc_rtmp_chunk_msg * */
  int rc;
} rd;

static void
rd_init(rd *t, const lc_rtmp_chunk_limits *lim)
{
  t->r = lc_rtmp_chunk_reader_new(lim);
  t->msgs = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rtmp_chunk_msg_free);
  t->rc = 0;
}

static void
rd_clear(rd *t)
{
  lc_rtmp_chunk_reader_free(t->r);
  g_ptr_array_unref(t->msgs);
}

/* Feeds everything in pieces of `step` bytes (0 = all at once), collecting messages; stops at an error. */
static int
rd_feed(rd *t, const uint8_t *d, size_t n, size_t step)
{
  size_t pos = 0;
  while (pos < n) {
    size_t piece = step ? MIN(step, n - pos) : n - pos;
    size_t off = 0;
    while (off < piece) {
      size_t used = 0;
      lc_rtmp_chunk_msg *m = NULL;
      t->rc = lc_rtmp_chunk_reader_feed(t->r, d + pos + off, piece - off, &used, &m);
      if (t->rc != 0) {
        g_assert_null(m);
        g_assert_nonnull(lc_rtmp_chunk_reader_error(t->r));
        return t->rc;
      }
      g_assert_true(used > 0 || m);
      off += used;
      if (m)
        g_ptr_array_add(t->msgs, m);
    }
    pos += piece;
  }
  return 0;
}

static const lc_rtmp_chunk_msg *
msg_at(rd *t, guint i)
{
  g_assert_cmpuint(i, <, t->msgs->len);
  return t->msgs->pdata[i];
}

static void
check_msg(const lc_rtmp_chunk_msg *m, uint32_t csid, uint8_t type, uint32_t msid, uint32_t ts, size_t len)
{
  g_assert_cmpuint(m->csid, ==, csid);
  g_assert_cmpuint(m->type_id, ==, type);
  g_assert_cmpuint(m->msg_stream_id, ==, msid);
  g_assert_cmpuint(m->timestamp, ==, ts);
  g_assert_cmpuint(m->len, ==, len);
}

/* Builds chunk bytes by hand. */
static void
b(GByteArray *a, const char *bytes, size_t n)
{
  g_byte_array_append(a, (const guint8 *)bytes, (guint)n);
}
#define B(a, lit) b((a), (lit), sizeof(lit) - 1)

static void
fill(GByteArray *a, uint8_t v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    g_byte_array_append(a, &v, 1);
}

/* Spec 5.3.2.1, example 1: four 32-byte audio messages on csid 3, msg stream 12345, at 1000, 1020,
 * 1040, 1060: fmt 0, fmt 2 (delta 20), fmt 3, fmt 3. */
static GByteArray *
spec_example1(void)
{
  GByteArray *a = g_byte_array_new();
  B(a, "\x03" "\x00\x03\xE8" "\x00\x00\x20" "\x08" "\x39\x30\x00\x00"); /* 12345 = 0x3039, little endian */
  fill(a, 1, 32);
  B(a, "\x83" "\x00\x00\x14");
  fill(a, 2, 32);
  B(a, "\xC3");
  fill(a, 3, 32);
  B(a, "\xC3");
  fill(a, 4, 32);
  return a;
}

static void
test_spec_example1(void)
{
  GByteArray *a = spec_example1();
  const size_t steps[] = {0, 1, 2, 7, 13, 50};
  for (size_t s = 0; s < G_N_ELEMENTS(steps); s++) {
    rd t;
    rd_init(&t, NULL);
    g_assert_cmpint(rd_feed(&t, a->data, a->len, steps[s]), ==, 0);
    g_assert_cmpuint(t.msgs->len, ==, 4);
    for (guint i = 0; i < 4; i++) {
      const lc_rtmp_chunk_msg *m = msg_at(&t, i);
      check_msg(m, 3, LC_RTMP_MSG_AUDIO, 12345, 1000 + 20 * i, 32);
      g_assert_cmpint(m->timestamp64, ==, 1000 + 20 * i);
      for (size_t k = 0; k < 32; k++)
        g_assert_cmpuint(m->payload[k], ==, i + 1);
    }
    g_assert_cmpuint(lc_rtmp_chunk_reader_bytes_received(t.r), ==, a->len);
    rd_clear(&t);
  }
  /* our writer compresses the same messages into exactly the spec's bytes */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  for (int i = 0; i < 4; i++) {
    uint8_t p[32];
    memset(p, i + 1, sizeof p);
    g_assert_cmpint(lc_rtmp_chunk_write(w, out, 3, LC_RTMP_MSG_AUDIO, 1000 + 20 * i, 12345, p, sizeof p), ==, 0);
  }
  g_assert_cmpmem(out->data, out->len, a->data, a->len);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
  g_byte_array_unref(a);
}

static void
test_spec_example2(void)
{
  /* Spec 5.3.2.2: a 307-byte video message, csid 4, stream 12346, ts 1000, chunk size 128 */
  GByteArray *a = g_byte_array_new();
  B(a, "\x04" "\x00\x03\xE8" "\x00\x01\x33" "\x09" "\x3A\x30\x00\x00");
  for (int i = 0; i < 128; i++)
    g_byte_array_append(a, (guint8[]){(guint8)i}, 1);
  B(a, "\xC4");
  for (int i = 128; i < 256; i++)
    g_byte_array_append(a, (guint8[]){(guint8)i}, 1);
  B(a, "\xC4");
  for (int i = 256; i < 307; i++)
    g_byte_array_append(a, (guint8[]){(guint8)i}, 1);
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len - 1, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 0); /* one byte short */
  g_assert_cmpint(rd_feed(&t, a->data + a->len - 1, 1, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 1);
  const lc_rtmp_chunk_msg *m = msg_at(&t, 0);
  check_msg(m, 4, LC_RTMP_MSG_VIDEO, 12346, 1000, 307);
  for (int i = 0; i < 307; i++)
    g_assert_cmpuint(m->payload[i], ==, (uint8_t)i);

  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 4, LC_RTMP_MSG_VIDEO, 1000, 12346, m->payload, m->len), ==, 0);
  g_assert_cmpmem(out->data, out->len, a->data, a->len);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_fmt1_fmt2_fmt3(void)
{
  GByteArray *a = g_byte_array_new();
  B(a, "\x06" "\x00\x00\x00" "\x00\x00\x02" "\x09" "\x01\x00\x00\x00" "V0");  /* video ts 0, 2 bytes */
  B(a, "\x46" "\x00\x00\x21" "\x00\x00\x03" "\x08" "A01");                    /* fmt 1: +33, audio, 3 bytes */
  B(a, "\x86" "\x00\x00\x0A" "A02");                                          /* fmt 2: +10 */
  B(a, "\xC6" "A03");                                                         /* fmt 3: +10 again */
  B(a, "\x46" "\x00\x00\x00" "\x00\x00\x01" "\x09" "X");                      /* fmt 1: +0 */
  B(a, "\xC6" "Y");                                                           /* fmt 3: +0 */
  B(a, "\x06" "\x00\x01\x00" "\x00\x00\x01" "\x12" "\x05\x00\x00\x00" "Z");  /* fmt 0: 256, stream 5 */
  B(a, "\xC6" "W");                                 /* fmt 3 after fmt 0: repeats the field: 256 + 256 */
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 3), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 8);
  check_msg(msg_at(&t, 0), 6, 9, 1, 0, 2);
  check_msg(msg_at(&t, 1), 6, 8, 1, 33, 3);
  check_msg(msg_at(&t, 2), 6, 8, 1, 43, 3);
  check_msg(msg_at(&t, 3), 6, 8, 1, 53, 3);
  g_assert_cmpmem(msg_at(&t, 3)->payload, 3, "A03", 3);
  check_msg(msg_at(&t, 4), 6, 9, 1, 53, 1);
  check_msg(msg_at(&t, 5), 6, 9, 1, 53, 1);
  check_msg(msg_at(&t, 6), 6, 18, 5, 256, 1);
  check_msg(msg_at(&t, 7), 6, 18, 5, 512, 1);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_extended_timestamps(void)
{
  GByteArray *a = g_byte_array_new();
  /* fmt 0 with absolute 0x01000000 in the extended field; 200-byte message: the fmt 3 continuation
   * repeats the extended timestamp (the last fmt 0/1/2 header of the stream had one) */
  B(a, "\x05" "\xFF\xFF\xFF" "\x00\x00\xC8" "\x09" "\x01\x00\x00\x00" "\x01\x00\x00\x00");
  fill(a, 0x11, 128);
  B(a, "\xC5" "\x01\x00\x00\x00");
  fill(a, 0x22, 72);
  /* fmt 3 starting a new message: extended field present, it is the delta (here 0x01000000) */
  B(a, "\xC5" "\x01\x00\x00\x00");
  fill(a, 0x33, 128);
  B(a, "\xC5" "\x01\x00\x00\x00");
  fill(a, 0x44, 72);
  /* fmt 2 with a delta of exactly 0xFFFFFF: needs the extended field too */
  B(a, "\x85" "\xFF\xFF\xFF" "\x00\xFF\xFF\xFF");
  fill(a, 0x55, 128);
  B(a, "\xC5" "\x00\xFF\xFF\xFF");
  fill(a, 0x66, 72);
  /* fmt 2 with a small delta: no extended field any more, nor in its fmt 3 continuation */
  B(a, "\x85" "\x00\x00\x07");
  fill(a, 0x77, 128);
  B(a, "\xC5");
  fill(a, 0x88, 72);
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 5), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 4);
  check_msg(msg_at(&t, 0), 5, 9, 1, 0x01000000, 200);
  check_msg(msg_at(&t, 1), 5, 9, 1, 0x02000000, 200);
  check_msg(msg_at(&t, 2), 5, 9, 1, 0x02FFFFFF, 200);
  check_msg(msg_at(&t, 3), 5, 9, 1, 0x03000006, 200);
  g_assert_cmpuint(msg_at(&t, 0)->payload[127], ==, 0x11);
  g_assert_cmpuint(msg_at(&t, 0)->payload[128], ==, 0x22);
  g_assert_cmpuint(msg_at(&t, 3)->payload[199], ==, 0x88);

  /* the writer: fmt 0 + extended field (repeated in the continuation), then fmt 2 with an
   * extended delta (never fmt 3 right after fmt 0: readers disagree on its meaning) */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  for (guint i = 0; i < 4; i++) {
    const lc_rtmp_chunk_msg *m = msg_at(&t, i);
    g_assert_cmpint(lc_rtmp_chunk_write(w, out, 5, 9, m->timestamp, 1, m->payload, m->len), ==, 0);
  }
  g_assert_cmpmem(out->data, 16 + 128 + 5, a->data, 16 + 128 + 5);
  g_assert_cmpmem(out->data + 16 + 128 + 5 + 72, 8, "\x85\xFF\xFF\xFF\x01\x00\x00\x00", 8);
  g_assert_cmpmem(out->data + out->len - 72 - 1 - 128 - 4, 4, "\x85\x00\x00\x07", 4);
  rd t2;
  rd_init(&t2, NULL);
  g_assert_cmpint(rd_feed(&t2, out->data, out->len, 0), ==, 0);
  g_assert_cmpuint(t2.msgs->len, ==, 4);
  for (guint i = 0; i < 4; i++) {
    check_msg(msg_at(&t2, i), 5, 9, 1, msg_at(&t, i)->timestamp, 200);
    g_assert_cmpmem(msg_at(&t2, i)->payload, 200, msg_at(&t, i)->payload, 200);
  }
  rd_clear(&t2);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_wraparound(void)
{
  GByteArray *a = g_byte_array_new();
  B(a, "\x04" "\xFF\xFF\xFF" "\x00\x00\x01" "\x08" "\x01\x00\x00\x00" "\xFF\xFF\xFF\xF0" "a"); /* 2^32 - 16 */
  B(a, "\x84" "\x00\x00\x20" "b");  /* +32: wraps to 16 */
  B(a, "\xC4" "c");                 /* +32: 48 */
  B(a, "\x04" "\x00\x00\x10" "\x00\x00\x01" "\x08" "\x01\x00\x00\x00" "d"); /* fmt 0 absolute 16 */
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 4);
  check_msg(msg_at(&t, 0), 4, 8, 1, 0xFFFFFFF0u, 1);
  g_assert_cmpint(msg_at(&t, 0)->timestamp64, ==, 0xFFFFFFF0LL);
  check_msg(msg_at(&t, 1), 4, 8, 1, 16, 1);
  g_assert_cmpint(msg_at(&t, 1)->timestamp64, ==, 0x100000010LL);
  check_msg(msg_at(&t, 2), 4, 8, 1, 48, 1);
  g_assert_cmpint(msg_at(&t, 2)->timestamp64, ==, 0x100000030LL);
  /* an absolute timestamp slightly behind (serial arithmetic): still on the unwrapped timeline */
  check_msg(msg_at(&t, 3), 4, 8, 1, 16, 1);
  g_assert_cmpint(msg_at(&t, 3)->timestamp64, ==, 0x100000010LL);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_basic_header_sizes(void)
{
  const uint32_t ids[] = {2, 63, 64, 65, 319, 320, 321, 1000, 65599};
  GByteArray *a = g_byte_array_new();
  /* hand-made for 63 (1 byte), 64 (2 bytes: 0, 0), 319 (2 bytes: 0, 255), 320 (3 bytes: 1, 0, 1),
   * 65599 (3 bytes: 1, 255, 255) */
  B(a, "\x3F" "\x00\x00\x01" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "a");
  B(a, "\x00\x00" "\x00\x00\x02" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "b");
  B(a, "\x00\xFF" "\x00\x00\x03" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "c");
  B(a, "\x01\x00\x01" "\x00\x00\x04" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "d");
  B(a, "\x01\xFF\xFF" "\x00\x00\x05" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "e");
  B(a, "\xC1\xFF\xFF" "f"); /* fmt 3 on 65599 with a 3-byte basic header */
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 1), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 6);
  check_msg(msg_at(&t, 0), 63, 9, 1, 1, 1);
  check_msg(msg_at(&t, 1), 64, 9, 1, 2, 1);
  check_msg(msg_at(&t, 2), 319, 9, 1, 3, 1);
  check_msg(msg_at(&t, 3), 320, 9, 1, 4, 1);
  check_msg(msg_at(&t, 4), 65599, 9, 1, 5, 1);
  check_msg(msg_at(&t, 5), 65599, 9, 1, 10, 1);
  rd_clear(&t);

  /* writer: every basic header size parses back */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  for (size_t i = 0; i < G_N_ELEMENTS(ids); i++)
    g_assert_cmpint(lc_rtmp_chunk_write(w, out, ids[i], 20, (uint32_t)i, 0, (const uint8_t *)"xyz", 3), ==, 0);
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 1, 20, 0, 0, NULL, 0), ==, LC_EINVAL);
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 65600, 20, 0, 0, NULL, 0), ==, LC_EINVAL);
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, out->data, out->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, G_N_ELEMENTS(ids));
  for (size_t i = 0; i < G_N_ELEMENTS(ids); i++)
    check_msg(msg_at(&t, (guint)i), ids[i], 20, 0, (uint32_t)i, 3);
  rd_clear(&t);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
  g_byte_array_unref(a);
}

static void
test_chunk_size_change_interleaved(void)
{
  GByteArray *a = g_byte_array_new();
  /* video (csid 6) 300 bytes: first 128-byte chunk at the default size */
  B(a, "\x06" "\x00\x00\x28" "\x00\x01\x2C" "\x09" "\x01\x00\x00\x00");
  fill(a, 0xA0, 128);
  /* audio (csid 4) 10 bytes, whole, interleaved */
  B(a, "\x04" "\x00\x00\x28" "\x00\x00\x0A" "\x08" "\x01\x00\x00\x00");
  fill(a, 0xB0, 10);
  /* Set Chunk Size 4096 on csid 2 */
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x01" "\x00\x00\x00\x00" "\x00\x00\x10\x00");
  /* the rest of the video message (172 bytes) now fits one chunk */
  B(a, "\xC6");
  fill(a, 0xA1, 172);
  /* a 1000-byte audio message in a single chunk at the new size */
  B(a, "\x44" "\x00\x00\x17" "\x00\x03\xE8" "\x08");
  fill(a, 0xB1, 1000);
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 4);
  check_msg(msg_at(&t, 0), 4, 8, 1, 40, 10);
  check_msg(msg_at(&t, 1), 2, LC_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, 4);
  check_msg(msg_at(&t, 2), 6, 9, 1, 40, 300);
  g_assert_cmpuint(msg_at(&t, 2)->payload[127], ==, 0xA0);
  g_assert_cmpuint(msg_at(&t, 2)->payload[128], ==, 0xA1);
  check_msg(msg_at(&t, 3), 4, 8, 1, 63, 1000);
  g_assert_cmpuint(lc_rtmp_chunk_reader_chunk_size(t.r), ==, 4096);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_abort(void)
{
  GByteArray *a = g_byte_array_new();
  B(a, "\x06" "\x00\x00\x00" "\x00\x01\x2C" "\x09" "\x01\x00\x00\x00");
  fill(a, 0xA0, 128);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x02" "\x00\x00\x00\x00" "\x00\x00\x00\x06"); /* Abort csid 6 */
  B(a, "\x46" "\x00\x00\x01" "\x00\x00\x02" "\x09" "ok"); /* a new message on 6 is fine after the abort */
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 2);
  check_msg(msg_at(&t, 0), 2, LC_RTMP_MSG_ABORT, 0, 0, 4);
  check_msg(msg_at(&t, 1), 6, 9, 1, 1, 2);
  g_assert_cmpmem(msg_at(&t, 1)->payload, 2, "ok", 2);
  rd_clear(&t);
  g_byte_array_unref(a);
}

static void
test_zero_length_and_user_control(void)
{
  GByteArray *a = g_byte_array_new();
  B(a, "\x03" "\x00\x00\x00" "\x00\x00\x00" "\x14" "\x00\x00\x00\x00"); /* empty command */
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x06" "\x04" "\x00\x00\x00\x00" "\x00\x06" "\x00\x01\x02\x03"); /* ping */
  B(a, "\x42" "\x00\x00\x00" "\x00\x00\x0A" "\x04" "\x00\x03" "\x00\x00\x00\x01" "\x00\x00\x0B\xB8");
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 3);
  check_msg(msg_at(&t, 0), 3, 20, 0, 0, 0);
  g_assert_null(msg_at(&t, 0)->payload);
  uint16_t ev = 0;
  uint32_t v = 0, v2 = 1;
  g_assert_cmpint(lc_rtmp_chunk_parse_user_control(msg_at(&t, 1), &ev, &v, &v2), ==, 0);
  g_assert_cmpuint(ev, ==, LC_RTMP_UC_PING_REQUEST);
  g_assert_cmpuint(v, ==, 0x00010203);
  g_assert_cmpuint(v2, ==, 0);
  g_assert_cmpint(lc_rtmp_chunk_parse_user_control(msg_at(&t, 2), &ev, &v, &v2), ==, 0);
  g_assert_cmpuint(ev, ==, LC_RTMP_UC_SET_BUFFER_LENGTH);
  g_assert_cmpuint(v, ==, 1);
  g_assert_cmpuint(v2, ==, 3000);
  g_assert_cmpint(lc_rtmp_chunk_parse_user_control(msg_at(&t, 0), &ev, &v, NULL), ==, LC_EINVAL);
  g_assert_cmpint(lc_rtmp_chunk_msg_u32(msg_at(&t, 0), &v), ==, LC_EINVAL);
  rd_clear(&t);
  g_byte_array_unref(a);

  /* the writer's ping response parses back */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  lc_rtmp_chunk_write_user_control(w, out, LC_RTMP_UC_PING_RESPONSE, 0x00010203);
  g_assert_cmpmem(out->data, out->len, "\x02\x00\x00\x00\x00\x00\x06\x04\x00\x00\x00\x00\x00\x07\x00\x01\x02\x03", 18);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
}

/* Expects feeding `bytes` to fail with `err` (also byte by byte), and the reader to stay failed. */
static void
expect_error(const lc_rtmp_chunk_limits *lim, const GByteArray *bytes, int err, guint msgs_before)
{
  const size_t steps[] = {0, 1};
  for (size_t s = 0; s < G_N_ELEMENTS(steps); s++) {
    rd t;
    rd_init(&t, lim);
    g_assert_cmpint(rd_feed(&t, bytes->data, bytes->len, steps[s]), ==, err);
    g_assert_cmpuint(t.msgs->len, ==, msgs_before);
    g_test_message("error: %s", lc_rtmp_chunk_reader_error(t.r));
    size_t used = 0;
    lc_rtmp_chunk_msg *m = NULL;
    g_assert_cmpint(lc_rtmp_chunk_reader_feed(t.r, (const uint8_t *)"\x03", 1, &used, &m), ==, err);
    g_assert_null(m);
    rd_clear(&t);
  }
}

static void
test_limits(void)
{
  lc_rtmp_chunk_limits lim;
  lc_rtmp_chunk_limits_default(&lim);
  g_assert_cmpuint(lim.max_message_size, ==, 8u << 20);
  g_assert_cmpuint(lim.max_chunk_size, ==, 65536);
  g_assert_cmpuint(lim.max_chunk_streams, ==, 64);
  GByteArray *a = g_byte_array_new();

  /* message larger than max_message_size (8 MiB + 1) */
  B(a, "\x06" "\x00\x00\x00" "\x80\x00\x01" "\x09" "\x01\x00\x00\x00");
  expect_error(NULL, a, LC_ETOOBIG, 0);
  /* exactly the limit is accepted (no error while its bytes are missing) */
  g_byte_array_set_size(a, 0);
  B(a, "\x06" "\x00\x00\x00" "\x80\x00\x00" "\x09" "\x01\x00\x00\x00");
  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  rd_clear(&t);

  /* fmt 1, 2, 3 on a chunk stream that never had fmt 0 */
  g_byte_array_set_size(a, 0);
  B(a, "\x47" "\x00\x00\x00" "\x00\x00\x01" "\x09" "x");
  expect_error(NULL, a, LC_EINVAL, 0);
  g_byte_array_set_size(a, 0);
  B(a, "\x87" "\x00\x00\x00" "x");
  expect_error(NULL, a, LC_EINVAL, 0);
  g_byte_array_set_size(a, 0);
  B(a, "\xC7" "x");
  expect_error(NULL, a, LC_EINVAL, 0);

  /* a new fmt 0 header while the stream's message is incomplete */
  g_byte_array_set_size(a, 0);
  B(a, "\x06" "\x00\x00\x00" "\x00\x01\x00" "\x09" "\x01\x00\x00\x00");
  fill(a, 0, 128);
  B(a, "\x06" "\x00\x00\x00" "\x00\x00\x01" "\x09" "\x01\x00\x00\x00" "x");
  expect_error(NULL, a, LC_EINVAL, 0);

  /* Set Chunk Size: above the limit, zero, top bit set, short payload */
  const char *bad_sizes[] = {"\x00\x01\x00\x01", "\x00\x00\x00\x00", "\x80\x00\x00\x80"};
  const int bad_errs[] = {LC_ETOOBIG, LC_EINVAL, LC_EINVAL};
  for (size_t i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
    g_byte_array_set_size(a, 0);
    B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x01" "\x00\x00\x00\x00");
    b(a, bad_sizes[i], 4);
    expect_error(NULL, a, bad_errs[i], 0);
  }
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x02" "\x01" "\x00\x00\x00\x00" "\x10\x00");
  expect_error(NULL, a, LC_EINVAL, 0);
  /* the largest accepted size is the configured maximum */
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x01" "\x00\x00\x00\x00" "\x00\x01\x00\x00");
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(lc_rtmp_chunk_reader_chunk_size(t.r), ==, 65536);
  rd_clear(&t);
  lc_rtmp_chunk_limits small = {.max_chunk_size = 4096};
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x01" "\x00\x00\x00\x00" "\x00\x00\x10\x01");
  expect_error(&small, a, LC_ETOOBIG, 0);

  /* Abort / Window Ack Size with short payloads */
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x01" "\x02" "\x00\x00\x00\x00" "\x06");
  expect_error(NULL, a, LC_EINVAL, 0);
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x03" "\x05" "\x00\x00\x00\x00" "\x00\x00\x10");
  expect_error(NULL, a, LC_EINVAL, 0);

  /* too many chunk streams: 64 are fine, the 65th is refused */
  g_byte_array_set_size(a, 0);
  for (uint32_t csid = 2; csid < 2 + 65; csid++) {
    uint8_t h[13] = {(uint8_t)(csid < 64 ? csid : 0), 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 'x'};
    if (csid < 64) {
      g_byte_array_append(a, h, 1);
    } else {
      uint8_t bh[2] = {0, (uint8_t)(csid - 64)};
      g_byte_array_append(a, bh, 2);
    }
    g_byte_array_append(a, h + 1, 12);
  }
  expect_error(NULL, a, LC_ELIMIT, 64);

  /* total buffered bytes: two incomplete 600 KiB messages against a 1 MiB budget */
  lc_rtmp_chunk_limits buf_lim = {.max_buffered = 1 << 20};
  g_byte_array_set_size(a, 0);
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x01" "\x00\x00\x00\x00" "\x00\x01\x00\x00");
  B(a, "\x06" "\x00\x00\x00" "\x09\x60\x00" "\x09" "\x01\x00\x00\x00");
  fill(a, 1, 65536);
  for (int i = 0; i < 8; i++) {
    B(a, "\xC6");
    fill(a, 1, 65536);
  }
  B(a, "\x07" "\x00\x00\x00" "\x09\x60\x00" "\x09" "\x01\x00\x00\x00");
  fill(a, 1, 65536);
  for (int i = 0; i < 8; i++) {
    B(a, "\xC7");
    fill(a, 1, 65536);
  }
  expect_error(&buf_lim, a, LC_ELIMIT, 1);
  g_byte_array_unref(a);
}

static void
test_ack_bookkeeping(void)
{
  GByteArray *a = g_byte_array_new();
  /* the peer asks for acks every 100 bytes (Window Acknowledgement Size) */
  B(a, "\x02" "\x00\x00\x00" "\x00\x00\x04" "\x05" "\x00\x00\x00\x00" "\x00\x00\x00\x64"); /* 16 bytes */
  rd t;
  rd_init(&t, NULL);
  uint32_t seq = 0;
  g_assert_false(lc_rtmp_chunk_reader_take_ack(t.r, &seq));
  g_assert_cmpint(rd_feed(&t, a->data, a->len, 0), ==, 0);
  g_assert_cmpuint(lc_rtmp_chunk_reader_peer_window(t.r), ==, 100);
  lc_rtmp_chunk_reader_add_received(t.r, 3073); /* the handshake */
  g_assert_true(lc_rtmp_chunk_reader_take_ack(t.r, &seq));
  g_assert_cmpuint(seq, ==, 3073 + 16);
  g_assert_false(lc_rtmp_chunk_reader_take_ack(t.r, &seq));
  /* 99 more bytes: not yet; one more: due */
  g_byte_array_set_size(a, 0);
  B(a, "\x06" "\x00\x00\x00" "\x00\x00\x64" "\x09" "\x01\x00\x00\x00");
  fill(a, 7, 128);
  g_assert_cmpint(rd_feed(&t, a->data, 99, 0), ==, 0);
  g_assert_false(lc_rtmp_chunk_reader_take_ack(t.r, &seq));
  g_assert_cmpint(rd_feed(&t, a->data + 99, 1, 0), ==, 0);
  g_assert_true(lc_rtmp_chunk_reader_take_ack(t.r, &seq));
  g_assert_cmpuint(seq, ==, 3073 + 16 + 100);
  rd_clear(&t);
  g_byte_array_unref(a);

  /* the writer's Ack / Window Ack Size / Set Peer Bandwidth bytes (spec 5.4.3-5.4.5) */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  lc_rtmp_chunk_write_ack(w, out, seq);
  lc_rtmp_chunk_write_window_ack_size(w, out, 2500000);
  lc_rtmp_chunk_write_set_peer_bandwidth(w, out, 2500000, LC_RTMP_BW_DYNAMIC);
  g_assert_cmpmem(out->data, out->len,
                  "\x02\x00\x00\x00\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x0c\x75"
                  "\x42\x00\x00\x00\x00\x00\x04\x05\x00\x26\x25\xa0"
                  "\x42\x00\x00\x00\x00\x00\x05\x06\x00\x26\x25\xa0\x02",
                  16 + 12 + 13);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
}

/* A client's publish session built with the writer and AMF0 encoder, parsed back. */
static void
write_cmd(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t csid, uint32_t msid, const char *name, double txn,
          const lc_amf0 *obj, const lc_amf0 *const *args, size_t n)
{
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_command(p, name, txn, obj, args, n);
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, csid, LC_RTMP_MSG_COMMAND_AMF0, 0, msid, p->data, p->len), ==, 0);
  g_byte_array_unref(p);
}

static void
test_publish_session(void)
{
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  /* what OBS sends after the handshake */
  g_assert_cmpint(lc_rtmp_chunk_write_set_chunk_size(w, out, 4096), ==, 0);
  lc_amf0 *app = lc_amf0_new_object();
  lc_amf0_set(app, "app", lc_amf0_new_string("live", -1));
  lc_amf0_set(app, "type", lc_amf0_new_string("nonprivate", -1));
  lc_amf0_set(app, "flashVer", lc_amf0_new_string("FMLE/3.0 (compatible; FMSc/1.0)", -1));
  lc_amf0_set(app, "swfUrl", lc_amf0_new_string("rtmp://127.0.0.1:1935/live", -1));
  lc_amf0_set(app, "tcUrl", lc_amf0_new_string("rtmp://127.0.0.1:1935/live", -1));
  write_cmd(w, out, 3, 0, "connect", 1, app, NULL, 0);
  lc_amf0 *key = lc_amf0_new_string("demo?key=s3cret", -1);
  lc_amf0 *live = lc_amf0_new_string("live", -1);
  const lc_amf0 *key_args[] = {key, live};
  write_cmd(w, out, 3, 0, "releaseStream", 2, NULL, key_args, 1);
  write_cmd(w, out, 3, 0, "FCPublish", 3, NULL, key_args, 1);
  write_cmd(w, out, 3, 0, "createStream", 4, NULL, NULL, 0);
  write_cmd(w, out, 4, 1, "publish", 5, NULL, key_args, 2);
  /* @setDataFrame onMetaData, AVC sequence header, AAC sequence header, a 9000-byte key frame */
  lc_amf0 *md = lc_amf0_new_ecma_array();
  lc_amf0_set(md, "width", lc_amf0_new_number(1280));
  lc_amf0_set(md, "height", lc_amf0_new_number(720));
  lc_amf0_set(md, "videocodecid", lc_amf0_new_number(7));
  lc_amf0_set(md, "audiocodecid", lc_amf0_new_number(10));
  lc_amf0 *sdf = lc_amf0_new_string("@setDataFrame", -1), *omd = lc_amf0_new_string("onMetaData", -1);
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode(sdf, p);
  lc_amf0_encode(omd, p);
  lc_amf0_encode(md, p);
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 4, LC_RTMP_MSG_DATA_AMF0, 0, 1, p->data, p->len), ==, 0);
  const uint8_t avc_seq[] = {0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb};
  const uint8_t aac_seq[] = {0xaf, 0, 0x11, 0x90};
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 6, LC_RTMP_MSG_VIDEO, 0, 1, avc_seq, sizeof avc_seq), ==, 0);
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 5, LC_RTMP_MSG_AUDIO, 0, 1, aac_seq, sizeof aac_seq), ==, 0);
  uint8_t *kf = g_malloc(9000);
  for (int i = 0; i < 9000; i++)
    kf[i] = (uint8_t)(i * 31);
  kf[0] = 0x17, kf[1] = 1;
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 6, LC_RTMP_MSG_VIDEO, 33, 1, kf, 9000), ==, 0);
  write_cmd(w, out, 3, 1, "FCUnpublish", 6, NULL, key_args, 1);
  lc_amf0 *sid = lc_amf0_new_number(1);
  const lc_amf0 *del_args[] = {sid};
  write_cmd(w, out, 3, 1, "deleteStream", 7, NULL, del_args, 1);

  const size_t steps[] = {0, 1, 100, 4097};
  for (size_t s = 0; s < G_N_ELEMENTS(steps); s++) {
    rd t;
    rd_init(&t, NULL);
    g_assert_cmpint(rd_feed(&t, out->data, out->len, steps[s]), ==, 0);
    g_assert_cmpuint(t.msgs->len, ==, 12);
    g_assert_cmpuint(lc_rtmp_chunk_reader_chunk_size(t.r), ==, 4096);
    const char *names[] = {NULL, "connect", "releaseStream", "FCPublish", "createStream", "publish"};
    for (guint i = 1; i <= 5; i++) {
      const lc_rtmp_chunk_msg *m = msg_at(&t, i);
      g_assert_cmpuint(m->type_id, ==, LC_RTMP_MSG_COMMAND_AMF0);
      lc_amf0_command *cmd = NULL;
      g_assert_cmpint(lc_amf0_command_parse(m->payload, m->len, &cmd), ==, 0);
      g_assert_cmpstr(cmd->name, ==, names[i]);
      g_assert_cmpfloat(cmd->transaction_id, ==, i);
      if (i == 1) {
        g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(cmd->command_object, "app")), ==, "live");
        g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(cmd->command_object, "tcUrl")), ==, "rtmp://127.0.0.1:1935/live");
      } else {
        g_assert_null(cmd->command_object);
      }
      if (i == 5) {
        g_assert_cmpuint(m->msg_stream_id, ==, 1);
        g_assert_cmpstr(lc_amf0_cstr(lc_amf0_command_arg(cmd, 0)), ==, "demo?key=s3cret");
        g_assert_cmpstr(lc_amf0_cstr(lc_amf0_command_arg(cmd, 1)), ==, "live");
      }
      lc_amf0_command_free(cmd);
    }
    lc_amf0_metadata meta;
    g_assert_cmpint(lc_amf0_metadata_parse(msg_at(&t, 6)->payload, msg_at(&t, 6)->len, &meta), ==, 0);
    g_assert_cmpfloat(meta.width, ==, 1280);
    g_assert_cmpfloat(meta.videocodecid, ==, 7);
    check_msg(msg_at(&t, 7), 6, 9, 1, 0, sizeof avc_seq);
    g_assert_cmpmem(msg_at(&t, 7)->payload, msg_at(&t, 7)->len, avc_seq, sizeof avc_seq);
    check_msg(msg_at(&t, 8), 5, 8, 1, 0, sizeof aac_seq);
    check_msg(msg_at(&t, 9), 6, 9, 1, 33, 9000);
    g_assert_cmpmem(msg_at(&t, 9)->payload, 9000, kf, 9000);
    check_msg(msg_at(&t, 11), 3, 20, 1, 0, msg_at(&t, 11)->len);
    rd_clear(&t);
  }
  g_free(kf);
  g_byte_array_unref(p);
  lc_amf0_free(sdf);
  lc_amf0_free(omd);
  lc_amf0_free(md);
  lc_amf0_free(sid);
  lc_amf0_free(key);
  lc_amf0_free(live);
  lc_amf0_free(app);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
}

/* The server's replies (what a client reads) parse back through a reader. */
static void
test_server_replies(void)
{
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  lc_rtmp_chunk_write_window_ack_size(w, out, 2500000);
  lc_rtmp_chunk_write_set_peer_bandwidth(w, out, 2500000, LC_RTMP_BW_DYNAMIC);
  g_assert_cmpint(lc_rtmp_chunk_write_set_chunk_size(w, out, 0), ==, LC_EINVAL);
  g_assert_cmpint(lc_rtmp_chunk_write_set_chunk_size(w, out, 0x80000000u), ==, LC_EINVAL);
  g_assert_cmpint(lc_rtmp_chunk_write_set_chunk_size(w, out, 60), ==, 0);
  g_assert_cmpuint(lc_rtmp_chunk_writer_chunk_size(w), ==, 60);
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_connect_result(p, 1);
  g_assert_cmpuint(p->len, >, 120); /* spans several 60-byte chunks */
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 3, 20, 0, 0, p->data, p->len), ==, 0);
  lc_rtmp_chunk_write_user_control(w, out, LC_RTMP_UC_STREAM_BEGIN, 1);
  g_byte_array_set_size(p, 0);
  lc_amf0_encode_on_status(p, "status", LC_AMF0_PUBLISH_START, "demo is now published.");
  g_assert_cmpint(lc_rtmp_chunk_write(w, out, 5, 20, 0, 1, p->data, p->len), ==, 0);

  rd t;
  rd_init(&t, NULL);
  g_assert_cmpint(rd_feed(&t, out->data, out->len, 0), ==, 0);
  g_assert_cmpuint(t.msgs->len, ==, 6);
  uint32_t v = 0;
  g_assert_cmpint(lc_rtmp_chunk_msg_u32(msg_at(&t, 0), &v), ==, 0);
  g_assert_cmpuint(v, ==, 2500000);
  check_msg(msg_at(&t, 1), 2, LC_RTMP_MSG_SET_PEER_BANDWIDTH, 0, 0, 5);
  g_assert_cmpuint(lc_rtmp_chunk_reader_chunk_size(t.r), ==, 60);
  lc_amf0_command *cmd = NULL;
  g_assert_cmpint(lc_amf0_command_parse(msg_at(&t, 3)->payload, msg_at(&t, 3)->len, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "_result");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(lc_amf0_command_arg(cmd, 0), "code")), ==, LC_AMF0_CONNECT_SUCCESS);
  lc_amf0_command_free(cmd);
  uint16_t ev = 9;
  g_assert_cmpint(lc_rtmp_chunk_parse_user_control(msg_at(&t, 4), &ev, &v, NULL), ==, 0);
  g_assert_cmpuint(ev, ==, LC_RTMP_UC_STREAM_BEGIN);
  g_assert_cmpuint(v, ==, 1);
  g_assert_cmpint(lc_amf0_command_parse(msg_at(&t, 5)->payload, msg_at(&t, 5)->len, &cmd), ==, 0);
  g_assert_cmpstr(cmd->name, ==, "onStatus");
  g_assert_cmpstr(lc_amf0_cstr(lc_amf0_get(lc_amf0_command_arg(cmd, 0), "code")), ==, LC_AMF0_PUBLISH_START);
  g_assert_cmpuint(msg_at(&t, 5)->msg_stream_id, ==, 1);
  lc_amf0_command_free(cmd);
  rd_clear(&t);
  g_byte_array_unref(p);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
}

/* Random messages (sizes, csids, timestamps incl. > 2^24 and wraps) written then read in random
 * pieces, with chunk size changes: every field comes back. */
static void
test_random_round_trip(void)
{
  GRand *rnd = g_rand_new_with_seed(42);
  for (int round = 0; round < 20; round++) {
    lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
    GByteArray *out = g_byte_array_new();
    GPtrArray *want = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rtmp_chunk_msg_free);
    uint32_t ts[4] = {g_rand_int(rnd), 0, 0xFFFFF0, g_rand_int(rnd)};
    for (int i = 0; i < 60; i++) {
      if (g_rand_int_range(rnd, 0, 10) == 0) {
        uint32_t cs = (uint32_t)g_rand_int_range(rnd, 1, 3000);
        g_assert_cmpint(lc_rtmp_chunk_write_set_chunk_size(w, out, cs), ==, 0);
        lc_rtmp_chunk_msg *m = g_new0(lc_rtmp_chunk_msg, 1);
        m->csid = 2, m->type_id = 1, m->len = 4;
        m->payload = g_memdup2((uint8_t[]){(uint8_t)(cs >> 24), (uint8_t)(cs >> 16), (uint8_t)(cs >> 8), (uint8_t)cs}, 4);
        g_ptr_array_add(want, m);
      }
      int k = g_rand_int_range(rnd, 0, 4);
      const uint32_t csids[4] = {4, 6, 300, 70000 % 65600};
      uint32_t step = g_rand_boolean(rnd) ? 33 : (uint32_t)g_rand_int_range(rnd, 0, 0x2000000);
      ts[k] += step;
      lc_rtmp_chunk_msg *m = g_new0(lc_rtmp_chunk_msg, 1);
      m->csid = csids[k];
      m->type_id = (uint8_t)(8 + (k & 1));
      m->msg_stream_id = 1 + (uint32_t)g_rand_int_range(rnd, 0, 2);
      m->timestamp = ts[k];
      bool fixed_len = g_rand_int_range(rnd, 0, 3) == 0; /* same length: fmt 2/3 headers */
      m->len = fixed_len ? 7 : (size_t)g_rand_int_range(rnd, 0, 5000);
      m->payload = g_malloc(m->len + 1);
      for (size_t j = 0; j < m->len; j++)
        m->payload[j] = (uint8_t)g_rand_int(rnd);
      g_assert_cmpint(lc_rtmp_chunk_write(w, out, m->csid, m->type_id, m->timestamp, m->msg_stream_id, m->payload, m->len), ==, 0);
      g_ptr_array_add(want, m);
    }
    rd t;
    rd_init(&t, NULL);
    size_t pos = 0;
    while (pos < out->len) {
      size_t piece = (size_t)g_rand_int_range(rnd, 1, 700); /* not inside MIN(): evaluated once */
      size_t n = MIN(out->len - pos, piece);
      g_assert_cmpint(rd_feed(&t, out->data + pos, n, 0), ==, 0);
      pos += n;
    }
    for (guint i = 0; i < MIN(want->len, t.msgs->len); i++) {
      const lc_rtmp_chunk_msg *a = want->pdata[i], *got = msg_at(&t, i);
      check_msg(got, a->csid, a->type_id, a->msg_stream_id, a->timestamp, a->len);
      if (a->len)
        g_assert_cmpmem(got->payload, got->len, a->payload, a->len);
    }
    g_assert_cmpuint(t.msgs->len, ==, want->len);
    rd_clear(&t);
    g_ptr_array_unref(want);
    g_byte_array_unref(out);
    lc_rtmp_chunk_writer_free(w);
  }
  g_rand_free(rnd);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/rtmp_handshake/one_read", test_hs_one_read);
  g_test_add_func("/rtmp_handshake/byte_by_byte_fp9", test_hs_byte_by_byte_fp9);
  g_test_add_func("/rtmp_handshake/wrong_version", test_hs_wrong_version);
  g_test_add_func("/rtmp_chunk/spec_example1", test_spec_example1);
  g_test_add_func("/rtmp_chunk/spec_example2", test_spec_example2);
  g_test_add_func("/rtmp_chunk/fmt1_fmt2_fmt3", test_fmt1_fmt2_fmt3);
  g_test_add_func("/rtmp_chunk/extended_timestamps", test_extended_timestamps);
  g_test_add_func("/rtmp_chunk/wraparound", test_wraparound);
  g_test_add_func("/rtmp_chunk/basic_header_sizes", test_basic_header_sizes);
  g_test_add_func("/rtmp_chunk/chunk_size_change_interleaved", test_chunk_size_change_interleaved);
  g_test_add_func("/rtmp_chunk/abort", test_abort);
  g_test_add_func("/rtmp_chunk/zero_length_and_user_control", test_zero_length_and_user_control);
  g_test_add_func("/rtmp_chunk/limits", test_limits);
  g_test_add_func("/rtmp_chunk/ack_bookkeeping", test_ack_bookkeeping);
  g_test_add_func("/rtmp_chunk/publish_session", test_publish_session);
  g_test_add_func("/rtmp_chunk/server_replies", test_server_replies);
  g_test_add_func("/rtmp_chunk/random_round_trip", test_random_round_trip);
  return g_test_run();
}

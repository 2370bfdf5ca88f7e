/* Fuzz target for pipelines/ingest/rtmp_chunk (and rtmp_handshake): a valid handshake, then the
 * input as the chunk stream, fed in pieces whose sizes the input drives. Every message must be
 * within the limits; the messages are re-written with lc_rtmp_chunk_writer and must parse back
 * identical through a second reader.
 * Input: byte 0 picks the limits, byte 1 seeds the piece sizes, the rest is the chunk stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/amf0.h"
#include "base/errors.h"
#include "ingest/rtmp_chunk.h"
#include "ingest/rtmp_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static uint32_t
next_rand(uint32_t *s)
{
  *s = *s * 1103515245u + 12345u;
  return *s >> 16;
}

/* Runs the handshake on a synthetic client; returns the handshake byte count (3073). */
static size_t
handshake(uint32_t *seed)
{
  uint8_t c0c1[1 + LC_RTMP_HANDSHAKE_SIZE];
  memset(c0c1, 0x5A, sizeof c0c1);
  c0c1[0] = 3;
  lc_rtmp_handshake *hs = lc_rtmp_handshake_new(1);
  GByteArray *out = g_byte_array_new();
  size_t pos = 0, used = 0;
  while (pos < sizeof c0c1) {
    size_t piece = 1 + next_rand(seed) % 700;
    if (lc_rtmp_handshake_feed(hs, c0c1 + pos, MIN(piece, sizeof c0c1 - pos), &used, out) != 0)
      abort();
    pos += used;
  }
  if (out->len != 1 + 2 * LC_RTMP_HANDSHAKE_SIZE || lc_rtmp_handshake_state(hs) != LC_RTMP_HS_WAIT_C2)
    abort();
  /* C2 = S1 echoed, followed by junk that must be left unconsumed */
  uint8_t c2[LC_RTMP_HANDSHAKE_SIZE + 8];
  memcpy(c2, out->data + 1, LC_RTMP_HANDSHAKE_SIZE);
  memset(c2 + LC_RTMP_HANDSHAKE_SIZE, 0xEE, 8);
  if (lc_rtmp_handshake_feed(hs, c2, sizeof c2, &used, out) != 0 || used != LC_RTMP_HANDSHAKE_SIZE ||
      lc_rtmp_handshake_state(hs) != LC_RTMP_HS_DONE || !lc_rtmp_handshake_c2_echoed(hs))
    abort();
  g_byte_array_unref(out);
  lc_rtmp_handshake_free(hs);
  return sizeof c0c1 + LC_RTMP_HANDSHAKE_SIZE;
}

/* Exercises the parsers the server glue will call on each message. */
static void
inspect(const lc_rtmp_chunk_msg *m)
{
  if (m->type_id == LC_RTMP_MSG_COMMAND_AMF0) {
    lc_amf0_command *cmd = NULL;
    if (lc_amf0_command_parse(m->payload, m->len, &cmd) == 0) {
      if (!cmd->name || !cmd->args)
        abort();
      lc_amf0_command_free(cmd);
    } else if (cmd) {
      abort();
    }
  } else if (m->type_id == LC_RTMP_MSG_DATA_AMF0) {
    lc_amf0_metadata md;
    (void)lc_amf0_metadata_parse(m->payload, m->len, &md);
  } else if (m->type_id == LC_RTMP_MSG_USER_CONTROL) {
    uint16_t ev;
    uint32_t v, v2;
    (void)lc_rtmp_chunk_parse_user_control(m, &ev, &v, &v2);
  }
}

/* Feeds data in input-driven pieces; collects messages (when msgs is non-NULL). Returns the error. */
static int
feed_all(lc_rtmp_chunk_reader *r, const lc_rtmp_chunk_limits *lim, const uint8_t *data, size_t len, uint32_t *seed,
         GPtrArray *msgs)
{
  size_t pos = 0;
  while (pos < len) {
    size_t piece = 1 + next_rand(seed) % (next_rand(seed) % 4 == 0 ? 4 : 5000);
    size_t end = MIN(len, pos + piece);
    while (pos < end) {
      size_t used = 0;
      lc_rtmp_chunk_msg *m = NULL;
      int rc = lc_rtmp_chunk_reader_feed(r, data + pos, end - pos, &used, &m);
      if (rc != 0) {
        if (m || !lc_rtmp_chunk_reader_error(r) || rc > 0)
          abort();
        /* a failed reader stays failed */
        if (lc_rtmp_chunk_reader_feed(r, data, 1, &used, &m) != rc || m)
          abort();
        return rc;
      }
      if (used == 0 && !m)
        abort(); /* no progress */
      pos += used;
      if (m) {
        if (m->csid < LC_RTMP_CSID_MIN || m->csid > LC_RTMP_CSID_MAX || m->len > lim->max_message_size ||
            (m->len > 0) != (m->payload != NULL))
          abort();
        if (m->len)
          (void)*(volatile uint8_t *)&m->payload[m->len - 1];
        inspect(m);
        if (msgs)
          g_ptr_array_add(msgs, m);
        else
          lc_rtmp_chunk_msg_free(m);
      }
    }
    uint32_t seq;
    (void)lc_rtmp_chunk_reader_take_ack(r, &seq);
  }
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  if (n < 2)
    return 0;
  lc_rtmp_chunk_limits lim;
  lc_rtmp_chunk_limits_default(&lim);
  if (d[0] & 1) {
    lim.max_message_size = 1 + (d[0] >> 1) * 97u;
    lim.max_chunk_size = 1 + (d[0] >> 2) * 31u;
    lim.max_chunk_streams = 1 + (d[0] >> 4);
    lim.max_buffered = lim.max_message_size * 2;
  } else {
    lim.max_message_size = 1 << 20; /* keep iterations fast */
    lim.max_buffered = 4 << 20;
  }
  uint32_t seed = d[1];
  size_t hs_bytes = handshake(&seed);

  lc_rtmp_chunk_reader *r = lc_rtmp_chunk_reader_new(&lim);
  lc_rtmp_chunk_reader_add_received(r, hs_bytes);
  GPtrArray *msgs = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rtmp_chunk_msg_free);
  (void)feed_all(r, &lim, d + 2, n - 2, &seed, msgs);
  if (lc_rtmp_chunk_reader_bytes_received(r) > hs_bytes + n - 2)
    abort();
  lc_rtmp_chunk_reader_free(r);

  /* re-write every message and read it back: the same messages come out */
  lc_rtmp_chunk_writer *w = lc_rtmp_chunk_writer_new();
  GByteArray *out = g_byte_array_new();
  for (guint i = 0; i < msgs->len; i++) {
    const lc_rtmp_chunk_msg *m = msgs->pdata[i];
    uint32_t v;
    if (m->type_id == LC_RTMP_MSG_SET_CHUNK_SIZE) {
      if (lc_rtmp_chunk_msg_u32(m, &v) != 0 || lc_rtmp_chunk_write_set_chunk_size(w, out, v) != 0)
        abort();
    } else if (lc_rtmp_chunk_write(w, out, m->csid, m->type_id, m->timestamp, m->msg_stream_id, m->payload, m->len) != 0) {
      abort();
    }
  }
  lc_rtmp_chunk_limits lim2 = lim;
  lim2.max_chunk_streams += 1; /* Set Chunk Size is re-written on csid 2 */
  lim2.max_buffered = MAX(lim2.max_buffered, lim2.max_message_size);
  lc_rtmp_chunk_reader *r2 = lc_rtmp_chunk_reader_new(&lim2);
  GPtrArray *back = g_ptr_array_new_with_free_func((GDestroyNotify)lc_rtmp_chunk_msg_free);
  if (feed_all(r2, &lim2, out->data, out->len, &seed, back) != 0 || back->len != msgs->len)
    abort();
  for (guint i = 0; i < msgs->len; i++) {
    const lc_rtmp_chunk_msg *a = msgs->pdata[i], *b = back->pdata[i];
    if (a->type_id != b->type_id)
      abort();
    if (a->type_id == LC_RTMP_MSG_SET_CHUNK_SIZE) {
      uint32_t va, vb;
      if (lc_rtmp_chunk_msg_u32(a, &va) != 0 || lc_rtmp_chunk_msg_u32(b, &vb) != 0 || va != vb)
        abort();
      continue;
    }
    if (a->csid != b->csid || a->msg_stream_id != b->msg_stream_id || a->timestamp != b->timestamp ||
        a->len != b->len || (a->len && memcmp(a->payload, b->payload, a->len) != 0))
      abort();
  }
  g_ptr_array_unref(back);
  lc_rtmp_chunk_reader_free(r2);
  g_byte_array_unref(out);
  lc_rtmp_chunk_writer_free(w);
  g_ptr_array_unref(msgs);
  return 0;
}

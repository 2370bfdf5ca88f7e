/* RTMP chunk stream reader and writer: see rtmp_chunk.h. */
#include "ingest/rtmp_chunk.h"
#include "base/bytes.h"

#include <string.h>

#include "base/errors.h"

#define HDR_MAX 18 /* 3-byte basic header + 11-byte fmt 0 header + 4-byte extended timestamp */
#define TS_EXT 0xFFFFFFu

static const size_t kMsgHeaderLen[4] = {11, 7, 3, 0};

/* Reader state of one chunk stream. */
typedef struct {
  uint32_t csid;
  bool ext;           /* the last fmt 0/1/2 header had an extended timestamp */
  bool last_was_fmt0; /* ts_field is an absolute timestamp */
  uint32_t ts_field;  /* last timestamp field: absolute (fmt 0) or delta (fmt 1/2), 32-bit */
  uint32_t msg_len;
  uint8_t type_id;
  uint32_t msid;
  uint32_t ts;        /* timestamp of the current / last message */
  int64_t ts64;
  bool in_msg;        /* a message is being assembled */
  uint8_t *payload;   /* its bytes so far (NULL when idle) */
  size_t got, cap;
} rstream;

struct lc_rtmp_chunk_reader {
  lc_rtmp_chunk_limits lim;
  uint32_t chunk_size;
  GHashTable *streams; /* csid -> rstream * (owned) */
  uint8_t hdr[HDR_MAX];
  size_t hdr_have;
  rstream *cur;        /* stream whose chunk body is being read, NULL while reading a header */
  size_t chunk_left;   /* body bytes left in the current chunk */
  size_t buffered;     /* capacity of all partial payloads */
  uint64_t received;
  uint64_t acked_at;
  uint32_t peer_window;
  int err;
  char *errmsg;
};

void
lc_rtmp_chunk_limits_default(lc_rtmp_chunk_limits *limits)
{
  limits->max_message_size = 8u << 20;
  limits->max_chunk_size = 65536;
  limits->max_chunk_streams = 64;
  limits->max_buffered = 16u << 20;
}

void
lc_rtmp_chunk_msg_free(lc_rtmp_chunk_msg *msg)
{
  if (!msg)
    return;
  g_free(msg->payload);
  g_free(msg);
}

static void
rstream_free(gpointer p)
{
  rstream *s = p;
  g_free(s->payload);
  g_free(s);
}

lc_rtmp_chunk_reader *
lc_rtmp_chunk_reader_new(const lc_rtmp_chunk_limits *limits)
{
  lc_rtmp_chunk_reader *r = g_new0(lc_rtmp_chunk_reader, 1);
  lc_rtmp_chunk_limits_default(&r->lim);
  if (limits) {
    if (limits->max_message_size)
      r->lim.max_message_size = limits->max_message_size;
    if (limits->max_chunk_size)
      r->lim.max_chunk_size = limits->max_chunk_size;
    if (limits->max_chunk_streams)
      r->lim.max_chunk_streams = limits->max_chunk_streams;
    if (limits->max_buffered)
      r->lim.max_buffered = limits->max_buffered;
  }
  r->chunk_size = LC_RTMP_DEFAULT_CHUNK_SIZE;
  r->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, rstream_free);
  return r;
}

void
lc_rtmp_chunk_reader_free(lc_rtmp_chunk_reader *r)
{
  if (!r)
    return;
  g_hash_table_destroy(r->streams);
  g_free(r->errmsg);
  g_free(r);
}

static uint32_t
le32(const uint8_t *p)
{
  return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static int
set_error(lc_rtmp_chunk_reader *r, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static int
set_error(lc_rtmp_chunk_reader *r, int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_free(r->errmsg);
  r->errmsg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  r->err = err;
  return err;
}

static size_t
basic_len(uint8_t b0)
{
  switch (b0 & 0x3f) {
  case 0:
    return 2;
  case 1:
    return 3;
  default:
    return 1;
  }
}

static uint32_t
hdr_csid(const uint8_t *h)
{
  switch (h[0] & 0x3f) {
  case 0:
    return 64u + h[1];
  case 1:
    return 64u + h[1] + 256u * h[2];
  default:
    return h[0] & 0x3fu;
  }
}

/* Total header length given the bytes so far (grows as fields are learnt); 0 + error when the
 * header refers to a chunk stream without a fmt 0 header. */
static int
header_need(lc_rtmp_chunk_reader *r, size_t *need)
{
  size_t bl = basic_len(r->hdr[0]);
  if (r->hdr_have < bl) {
    *need = bl;
    return 0;
  }
  unsigned fmt = r->hdr[0] >> 6;
  size_t n = bl + kMsgHeaderLen[fmt];
  if (r->hdr_have < n) {
    *need = n;
    return 0;
  }
  bool ext;
  if (fmt < 3) {
    ext = lc_rd24(r->hdr + bl) == TS_EXT;
  } else {
    uint32_t csid = hdr_csid(r->hdr);
    rstream *s = g_hash_table_lookup(r->streams, GUINT_TO_POINTER(csid));
    if (!s)
      return set_error(r, LC_EINVAL, "fmt 3 chunk on chunk stream %u that never had a fmt 0 header", csid);
    ext = s->ext;
  }
  *need = n + (ext ? 4 : 0);
  return 0;
}

static void
unwrap(rstream *s, bool first)
{
  if (first)
    s->ts64 = s->ts;
  else
    s->ts64 += (int32_t)(s->ts - (uint32_t)s->ts64);
}

/* A complete header is in r->hdr: update the stream state, start or continue its message. */
static int
process_header(lc_rtmp_chunk_reader *r)
{
  size_t bl = basic_len(r->hdr[0]);
  unsigned fmt = r->hdr[0] >> 6;
  uint32_t csid = hdr_csid(r->hdr);
  const uint8_t *mh = r->hdr + bl;
  rstream *s = g_hash_table_lookup(r->streams, GUINT_TO_POINTER(csid));
  bool first = false;

  if (!s) {
    if (fmt != 0)
      return set_error(r, LC_EINVAL, "fmt %u chunk on chunk stream %u that never had a fmt 0 header", fmt, csid);
    if (g_hash_table_size(r->streams) >= r->lim.max_chunk_streams)
      return set_error(r, LC_ELIMIT, "more than %u chunk streams (new csid %u)", r->lim.max_chunk_streams, csid);
    s = g_new0(rstream, 1);
    s->csid = csid;
    g_hash_table_insert(r->streams, GUINT_TO_POINTER(csid), s);
    first = true;
  }
  if (s->in_msg) {
    if (fmt != 3)
      return set_error(r, LC_EINVAL, "fmt %u header on chunk stream %u while its message is incomplete (%zu of %u bytes)",
                       fmt, csid, s->got, s->msg_len);
    /* continuation: its extended timestamp (if any) repeats the header's and is ignored */
  } else {
    uint32_t field = 0;
    if (fmt < 3) {
      field = lc_rd24(mh);
      s->ext = field == TS_EXT;
      if (s->ext)
        field = lc_rd32(mh + kMsgHeaderLen[fmt]);
    } else if (s->ext) {
      field = lc_rd32(mh); /* fmt 3 starting a message: its extended timestamp is the delta */
    } else {
      field = s->ts_field;
    }
    if (fmt <= 1) {
      s->msg_len = lc_rd24(mh + 3);
      s->type_id = mh[6];
    }
    if (fmt == 0) {
      s->msid = le32(mh + 7);
      s->ts = field;
      s->last_was_fmt0 = true;
    } else {
      s->ts += field; /* modulo 2^32 */
      if (fmt < 3)
        s->last_was_fmt0 = false;
    }
    s->ts_field = field;
    unwrap(s, first);
    if (s->msg_len > r->lim.max_message_size)
      return set_error(r, LC_ETOOBIG, "message of %u bytes on chunk stream %u exceeds the limit of %u", s->msg_len,
                       csid, r->lim.max_message_size);
    s->in_msg = true;
    s->got = 0;
  }
  r->cur = s;
  r->chunk_left = MIN((size_t)r->chunk_size, (size_t)s->msg_len - s->got);
  return 0;
}

/* Makes room for n more payload bytes on s, within the buffered-bytes limit. */
static int
reserve(lc_rtmp_chunk_reader *r, rstream *s, size_t n)
{
  if (s->got + n <= s->cap)
    return 0;
  size_t cap = MAX(s->cap * 2, s->got + n);
  cap = MIN(MAX(cap, (size_t)4096), (size_t)s->msg_len);
  if (r->buffered - s->cap + cap > r->lim.max_buffered)
    return set_error(r, LC_ELIMIT, "more than %zu bytes of incomplete messages buffered", r->lim.max_buffered);
  r->buffered = r->buffered - s->cap + cap;
  s->payload = g_realloc(s->payload, cap);
  s->cap = cap;
  return 0;
}

/* Applies the protocol control messages that change how the rest of the stream is read. */
static int
apply_control(lc_rtmp_chunk_reader *r, const lc_rtmp_chunk_msg *m)
{
  uint32_t v = 0;
  switch (m->type_id) {
  case LC_RTMP_MSG_SET_CHUNK_SIZE:
    if (lc_rtmp_chunk_msg_u32(m, &v) != 0 || v == 0 || (v & 0x80000000u))
      return set_error(r, LC_EINVAL, "invalid Set Chunk Size (%zu bytes, value %u)", m->len, v);
    if (v > r->lim.max_chunk_size)
      return set_error(r, LC_ETOOBIG, "Set Chunk Size %u exceeds the limit of %u", v, r->lim.max_chunk_size);
    r->chunk_size = v;
    return 0;
  case LC_RTMP_MSG_ABORT: {
    if (lc_rtmp_chunk_msg_u32(m, &v) != 0)
      return set_error(r, LC_EINVAL, "Abort message of %zu bytes", m->len);
    rstream *s = g_hash_table_lookup(r->streams, GUINT_TO_POINTER(v));
    if (s && s->in_msg) {
      r->buffered -= s->cap;
      g_clear_pointer(&s->payload, g_free);
      s->cap = s->got = 0;
      s->in_msg = false;
    }
    return 0;
  }
  case LC_RTMP_MSG_WINDOW_ACK_SIZE:
    if (lc_rtmp_chunk_msg_u32(m, &v) != 0)
      return set_error(r, LC_EINVAL, "Window Acknowledgement Size message of %zu bytes", m->len);
    r->peer_window = v;
    return 0;
  default:
    return 0;
  }
}

/* The message on s is complete: hand it out. */
static int
finish(lc_rtmp_chunk_reader *r, rstream *s, lc_rtmp_chunk_msg **out)
{
  lc_rtmp_chunk_msg *m = g_new0(lc_rtmp_chunk_msg, 1);
  m->csid = s->csid;
  m->type_id = s->type_id;
  m->msg_stream_id = s->msid;
  m->timestamp = s->ts;
  m->timestamp64 = s->ts64;
  m->len = s->msg_len;
  m->payload = s->msg_len ? g_realloc(s->payload, s->msg_len) : (g_free(s->payload), NULL);
  r->buffered -= s->cap;
  s->payload = NULL;
  s->cap = s->got = 0;
  s->in_msg = false;
  int rc = apply_control(r, m);
  if (rc != 0) {
    lc_rtmp_chunk_msg_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int
lc_rtmp_chunk_reader_feed(lc_rtmp_chunk_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                          lc_rtmp_chunk_msg **msg)
{
  size_t pos = 0;
  int rc = 0;
  *msg = NULL;

  if (r->err) {
    rc = r->err;
    goto fail;
  }
  while (pos < len && !*msg) {
    if (!r->cur) {
      /* header: take bytes until the (growing) required length is reached */
      bool complete = false;
      for (;;) {
        size_t need = 1;
        if (r->hdr_have > 0 && (rc = header_need(r, &need)) != 0)
          goto fail;
        if (r->hdr_have >= need) {
          complete = true;
          break;
        }
        if (pos == len)
          break;
        size_t take = MIN(need - r->hdr_have, len - pos);
        memcpy(r->hdr + r->hdr_have, data + pos, take);
        r->hdr_have += take;
        pos += take;
      }
      if (!complete)
        break; /* header incomplete: wait for more */
      rc = process_header(r);
      r->hdr_have = 0;
      if (rc != 0)
        goto fail;
    }
    rstream *s = r->cur;
    size_t take = MIN(r->chunk_left, len - pos);
    if (take) {
      rc = reserve(r, s, take);
      if (rc != 0)
        goto fail;
      memcpy(s->payload + s->got, data + pos, take);
      s->got += take;
      pos += take;
      r->chunk_left -= take;
    }
    if (r->chunk_left == 0) {
      r->cur = NULL;
      if (s->got == s->msg_len) {
        rc = finish(r, s, msg);
        if (rc != 0)
          goto fail;
      }
    }
  }
  r->received += pos;
  *consumed = pos;
  return 0;

fail:
  r->received += pos;
  *consumed = pos;
  return rc;
}

const char *
lc_rtmp_chunk_reader_error(const lc_rtmp_chunk_reader *r)
{
  return r->err ? r->errmsg : NULL;
}

uint32_t
lc_rtmp_chunk_reader_chunk_size(const lc_rtmp_chunk_reader *r)
{
  return r->chunk_size;
}

uint64_t
lc_rtmp_chunk_reader_bytes_received(const lc_rtmp_chunk_reader *r)
{
  return r->received;
}

uint32_t
lc_rtmp_chunk_reader_peer_window(const lc_rtmp_chunk_reader *r)
{
  return r->peer_window;
}

void
lc_rtmp_chunk_reader_add_received(lc_rtmp_chunk_reader *r, uint64_t n)
{
  r->received += n;
}

bool
lc_rtmp_chunk_reader_take_ack(lc_rtmp_chunk_reader *r, uint32_t *sequence)
{
  if (r->peer_window == 0 || r->received - r->acked_at < r->peer_window)
    return false;
  r->acked_at = r->received;
  *sequence = (uint32_t)r->received;
  return true;
}

int
lc_rtmp_chunk_msg_u32(const lc_rtmp_chunk_msg *msg, uint32_t *value)
{
  if (msg->len < 4)
    return LC_EINVAL;
  *value = lc_rd32(msg->payload);
  return 0;
}

int
lc_rtmp_chunk_parse_user_control(const lc_rtmp_chunk_msg *msg, uint16_t *event, uint32_t *value, uint32_t *value2)
{
  if (msg->type_id != LC_RTMP_MSG_USER_CONTROL || msg->len < 6)
    return LC_EINVAL;
  uint16_t ev = (uint16_t)((msg->payload[0] << 8) | msg->payload[1]);
  uint32_t v2 = 0;
  if (ev == LC_RTMP_UC_SET_BUFFER_LENGTH) {
    if (msg->len < 10)
      return LC_EINVAL;
    v2 = lc_rd32(msg->payload + 6);
  }
  *event = ev;
  *value = lc_rd32(msg->payload + 2);
  if (value2)
    *value2 = v2;
  return 0;
}

/* ---- writer ---- */

typedef struct {
  uint32_t msid, len, ts, field;
  uint8_t type_id;
  bool ext, last_was_fmt0;
} wstream;

struct lc_rtmp_chunk_writer {
  uint32_t chunk_size;
  GHashTable *streams; /* csid -> wstream * (owned) */
};

lc_rtmp_chunk_writer *
lc_rtmp_chunk_writer_new(void)
{
  lc_rtmp_chunk_writer *w = g_new0(lc_rtmp_chunk_writer, 1);
  w->chunk_size = LC_RTMP_DEFAULT_CHUNK_SIZE;
  w->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
  return w;
}

void
lc_rtmp_chunk_writer_free(lc_rtmp_chunk_writer *w)
{
  if (!w)
    return;
  g_hash_table_destroy(w->streams);
  g_free(w);
}

uint32_t
lc_rtmp_chunk_writer_chunk_size(const lc_rtmp_chunk_writer *w)
{
  return w->chunk_size;
}

static void
put_be(GByteArray *out, uint32_t v, int bytes)
{
  uint8_t b[4];
  for (int i = 0; i < bytes; i++)
    b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  g_byte_array_append(out, b, (guint)bytes);
}

static void
put_basic(GByteArray *out, unsigned fmt, uint32_t csid)
{
  uint8_t b[3];
  if (csid < 64) {
    b[0] = (uint8_t)((fmt << 6) | csid);
    g_byte_array_append(out, b, 1);
  } else if (csid < 64 + 256) {
    b[0] = (uint8_t)(fmt << 6);
    b[1] = (uint8_t)(csid - 64);
    g_byte_array_append(out, b, 2);
  } else {
    b[0] = (uint8_t)((fmt << 6) | 1);
    b[1] = (uint8_t)((csid - 64) & 0xff);
    b[2] = (uint8_t)((csid - 64) >> 8);
    g_byte_array_append(out, b, 3);
  }
}

int
lc_rtmp_chunk_write(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t csid, uint8_t type_id, uint32_t timestamp,
                    uint32_t msg_stream_id, const uint8_t *payload, size_t len)
{
  if (csid < LC_RTMP_CSID_MIN || csid > LC_RTMP_CSID_MAX)
    return LC_EINVAL;
  if (len > LC_RTMP_MAX_MESSAGE_LEN)
    return LC_ETOOBIG;
  wstream *s = g_hash_table_lookup(w->streams, GUINT_TO_POINTER(csid));
  unsigned fmt = 0;
  uint32_t field = timestamp;
  if (s && s->msid == msg_stream_id && timestamp >= s->ts) {
    field = timestamp - s->ts;
    if (s->type_id == type_id && s->len == len)
      fmt = (!s->last_was_fmt0 && field == s->field) ? 3 : 2;
    else
      fmt = 1;
  }
  if (!s) {
    s = g_new0(wstream, 1);
    g_hash_table_insert(w->streams, GUINT_TO_POINTER(csid), s);
  }
  if (fmt < 3)
    s->ext = field >= TS_EXT;
  s->msid = msg_stream_id;
  s->len = (uint32_t)len;
  s->ts = timestamp;
  s->field = field;
  s->type_id = type_id;
  if (fmt < 3)
    s->last_was_fmt0 = fmt == 0;

  put_basic(out, fmt, csid);
  if (fmt < 3)
    put_be(out, s->ext ? TS_EXT : field, 3);
  if (fmt < 2) {
    put_be(out, (uint32_t)len, 3);
    g_byte_array_append(out, &type_id, 1);
  }
  if (fmt == 0) {
    uint8_t le[4] = {(uint8_t)msg_stream_id, (uint8_t)(msg_stream_id >> 8), (uint8_t)(msg_stream_id >> 16),
                     (uint8_t)(msg_stream_id >> 24)};
    g_byte_array_append(out, le, 4);
  }
  if (s->ext)
    put_be(out, field, 4);
  size_t off = 0;
  for (;;) {
    size_t n = MIN(len - off, (size_t)w->chunk_size);
    if (n)
      g_byte_array_append(out, payload + off, (guint)n);
    off += n;
    if (off >= len)
      break;
    put_basic(out, 3, csid);
    if (s->ext)
      put_be(out, field, 4);
  }
  return 0;
}

static void
write_control(lc_rtmp_chunk_writer *w, GByteArray *out, uint8_t type_id, const uint8_t *p, size_t n)
{
  int rc = lc_rtmp_chunk_write(w, out, LC_RTMP_CSID_CONTROL, type_id, 0, 0, p, n);
  g_assert(rc == 0); /* fixed csid and tiny payloads cannot fail */
}

int
lc_rtmp_chunk_write_set_chunk_size(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size)
{
  if (size == 0 || (size & 0x80000000u))
    return LC_EINVAL;
  uint8_t p[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8), (uint8_t)size};
  write_control(w, out, LC_RTMP_MSG_SET_CHUNK_SIZE, p, 4);
  w->chunk_size = size;
  return 0;
}

static void
write_u32_msg(lc_rtmp_chunk_writer *w, GByteArray *out, uint8_t type_id, uint32_t v)
{
  uint8_t p[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  write_control(w, out, type_id, p, 4);
}

void
lc_rtmp_chunk_write_window_ack_size(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size)
{
  write_u32_msg(w, out, LC_RTMP_MSG_WINDOW_ACK_SIZE, size);
}

void
lc_rtmp_chunk_write_set_peer_bandwidth(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size, uint8_t limit_type)
{
  uint8_t p[5] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8), (uint8_t)size, limit_type};
  write_control(w, out, LC_RTMP_MSG_SET_PEER_BANDWIDTH, p, 5);
}

void
lc_rtmp_chunk_write_ack(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t sequence)
{
  write_u32_msg(w, out, LC_RTMP_MSG_ACK, sequence);
}

void
lc_rtmp_chunk_write_user_control(lc_rtmp_chunk_writer *w, GByteArray *out, uint16_t event, uint32_t value)
{
  uint8_t p[6] = {(uint8_t)(event >> 8), (uint8_t)event, (uint8_t)(value >> 24), (uint8_t)(value >> 16),
                  (uint8_t)(value >> 8), (uint8_t)value};
  write_control(w, out, LC_RTMP_MSG_USER_CONTROL, p, 6);
}

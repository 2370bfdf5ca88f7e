/* RTMP chunk stream (Adobe RTMP spec 1.0, section 5.3): incremental reader, writer and the
 * protocol control messages. Pure: no I/O, no GLib main loop; one reader and one writer per
 * connection, used from the connection's thread (the main thread). Not thread-safe.
 *
 * Reader: feed received bytes; it returns complete messages one at a time (pull model, so the
 * caller can stop at any message, e.g. after a refused publish). It parses all four chunk header
 * types, 1/2/3-byte basic headers (csid 2..65599), extended timestamps (fmt 3 chunks carry one
 * exactly when the last fmt 0/1/2 header of their chunk stream did), and applies Set Chunk Size,
 * Abort and Window Acknowledgement Size itself (they are still returned, for logging). Every
 * length field is bounded (lc_rtmp_chunk_limits); any violation is a clear error and the reader
 * stays failed. Memory per connection is bounded by limits->max_buffered plus a few hundred bytes
 * per chunk stream: message buffers grow with the bytes actually received, never from a length
 * field alone.
 *
 * Timestamps: 32-bit milliseconds. fmt 0 carries the absolute value, fmt 1/2 a delta; a fmt 3
 * chunk that starts a new message reuses the last timestamp field of its chunk stream (the delta
 * of a fmt 1/2 header, or the absolute value of a fmt 0 header, as ffmpeg and librtmp read it).
 * Sums wrap modulo 2^32; timestamp64 unwraps them per chunk stream with serial-number arithmetic
 * (RFC 1982, as the spec recommends), so it keeps increasing past 49.7 days.
 *
 * Writer: serializes messages into chunks of the outgoing chunk size, compressing headers
 * (fmt 1/2/3) where the previous message on the csid allows it. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message type ids (spec 5.4, 7.1). */
enum {
  LC_RTMP_MSG_SET_CHUNK_SIZE = 1,
  LC_RTMP_MSG_ABORT = 2,
  LC_RTMP_MSG_ACK = 3,
  LC_RTMP_MSG_USER_CONTROL = 4,
  LC_RTMP_MSG_WINDOW_ACK_SIZE = 5,
  LC_RTMP_MSG_SET_PEER_BANDWIDTH = 6,
  LC_RTMP_MSG_AUDIO = 8,
  LC_RTMP_MSG_VIDEO = 9,
  LC_RTMP_MSG_DATA_AMF3 = 15,
  LC_RTMP_MSG_SHARED_OBJECT_AMF3 = 16,
  LC_RTMP_MSG_COMMAND_AMF3 = 17,
  LC_RTMP_MSG_DATA_AMF0 = 18,
  LC_RTMP_MSG_SHARED_OBJECT_AMF0 = 19,
  LC_RTMP_MSG_COMMAND_AMF0 = 20,
  LC_RTMP_MSG_AGGREGATE = 22,
};

/* User Control event types (spec 7.1.7). */
enum {
  LC_RTMP_UC_STREAM_BEGIN = 0,
  LC_RTMP_UC_STREAM_EOF = 1,
  LC_RTMP_UC_STREAM_DRY = 2,
  LC_RTMP_UC_SET_BUFFER_LENGTH = 3,
  LC_RTMP_UC_STREAM_IS_RECORDED = 4,
  LC_RTMP_UC_PING_REQUEST = 6,
  LC_RTMP_UC_PING_RESPONSE = 7,
};

/* Set Peer Bandwidth limit types. */
enum { LC_RTMP_BW_HARD = 0, LC_RTMP_BW_SOFT = 1, LC_RTMP_BW_DYNAMIC = 2 };

#define LC_RTMP_CSID_MIN 2
#define LC_RTMP_CSID_MAX 65599
#define LC_RTMP_CSID_CONTROL 2          /* protocol control messages, msg stream 0 */
#define LC_RTMP_DEFAULT_CHUNK_SIZE 128  /* both directions until Set Chunk Size */
#define LC_RTMP_MAX_MESSAGE_LEN 0xFFFFFF /* the message length field is 24 bits */

/* Reader limits. Zero fields mean "the default". */
typedef struct {
  uint32_t max_message_size;  /* largest message accepted (default 8 MiB: video key frames) */
  uint32_t max_chunk_size;    /* largest Set Chunk Size accepted (default 65536; spec allows 2^31-1) */
  uint32_t max_chunk_streams; /* distinct chunk stream ids per connection (default 64) */
  size_t max_buffered;        /* bytes of incomplete messages over all chunk streams (default 16 MiB) */
} lc_rtmp_chunk_limits;

/* One complete message. A plain record: the reader hands it out (transfer full), free it with
 * lc_rtmp_chunk_msg_free; payload is owned by the record (g_malloc'd, may be taken with
 * g_steal_pointer as long as len is honoured; NULL when len is 0). */
typedef struct {
  uint32_t csid;          /* chunk stream id it arrived on, 2..65599 */
  uint8_t type_id;        /* LC_RTMP_MSG_* */
  uint32_t msg_stream_id; /* message stream id (0 for control and NetConnection commands) */
  uint32_t timestamp;     /* milliseconds, 32-bit, wraps modulo 2^32 */
  int64_t timestamp64;    /* same, unwrapped on this chunk stream (RFC 1982 serial arithmetic) */
  uint8_t *payload;
  size_t len;
} lc_rtmp_chunk_msg;

typedef struct lc_rtmp_chunk_reader lc_rtmp_chunk_reader;
typedef struct lc_rtmp_chunk_writer lc_rtmp_chunk_writer;

/* Fills *limits with the defaults. Any thread. */
void lc_rtmp_chunk_limits_default(lc_rtmp_chunk_limits *limits);
/* Frees a message and its payload (NULL is fine). Any thread. */
void lc_rtmp_chunk_msg_free(lc_rtmp_chunk_msg *msg);

/* New reader (transfer full); limits borrowed and copied, NULL = defaults. Owner's thread. */
lc_rtmp_chunk_reader *lc_rtmp_chunk_reader_new(const lc_rtmp_chunk_limits *limits);
/* Frees the reader and every partial message (NULL is fine). Owner's thread. */
void lc_rtmp_chunk_reader_free(lc_rtmp_chunk_reader *r);
/* Parses data[0..len) until one message is complete or the input is used up. *consumed = bytes
 * used (all of them when *msg is NULL); *msg = the message (transfer full) or NULL. Call again
 * with the rest while *consumed < len. Returns 0, or on a protocol violation LC_EINVAL (malformed),
 * LC_ETOOBIG (message / chunk size over the limit) or LC_ELIMIT (too many chunk streams, too much
 * buffered); the reader then stays failed (same error on every call) and the connection should
 * be closed. lc_rtmp_chunk_reader_error() has the reason. Owner's thread. */
int lc_rtmp_chunk_reader_feed(lc_rtmp_chunk_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                              lc_rtmp_chunk_msg **msg);
/* Human-readable reason of the failure, or NULL while healthy (borrowed, lives with r). */
const char *lc_rtmp_chunk_reader_error(const lc_rtmp_chunk_reader *r);
/* Incoming chunk size now in force (128 until the peer's Set Chunk Size). Owner's thread. */
uint32_t lc_rtmp_chunk_reader_chunk_size(const lc_rtmp_chunk_reader *r);
/* Total bytes consumed by the reader so far (64-bit; the Ack sequence number is this mod 2^32). */
uint64_t lc_rtmp_chunk_reader_bytes_received(const lc_rtmp_chunk_reader *r);
/* Window size the peer asked for with Window Acknowledgement Size (0 = none yet: no acks due). */
uint32_t lc_rtmp_chunk_reader_peer_window(const lc_rtmp_chunk_reader *r);
/* Counts n bytes received outside the reader (the 3073 handshake bytes) in the ack sequence. */
void lc_rtmp_chunk_reader_add_received(lc_rtmp_chunk_reader *r, uint64_t n);
/* True when an Acknowledgement is due (a whole peer window received since the last one); then
 * *sequence = bytes received mod 2^32 and the ack counts as sent: write it with
 * lc_rtmp_chunk_write_ack. Call after each feed. Owner's thread. */
bool lc_rtmp_chunk_reader_take_ack(lc_rtmp_chunk_reader *r, uint32_t *sequence);

/* Reads the 4-byte big-endian value of a Set Chunk Size, Abort, Ack or Window Ack Size message
 * (borrowed). Returns 0 or LC_EINVAL (payload shorter than 4 bytes). Any thread. */
int lc_rtmp_chunk_msg_u32(const lc_rtmp_chunk_msg *msg, uint32_t *value);
/* Parses a User Control message (borrowed): event type and its first 4-byte value (stream id or
 * ping timestamp); *value2 (may be NULL) = buffer length for Set Buffer Length, else 0.
 * Returns 0 or LC_EINVAL (not type 4, or too short for the event). Any thread. */
int lc_rtmp_chunk_parse_user_control(const lc_rtmp_chunk_msg *msg, uint16_t *event, uint32_t *value,
                                     uint32_t *value2);

/* New writer with outgoing chunk size 128 (transfer full). Owner's thread. */
lc_rtmp_chunk_writer *lc_rtmp_chunk_writer_new(void);
/* Frees the writer (NULL is fine). Owner's thread. */
void lc_rtmp_chunk_writer_free(lc_rtmp_chunk_writer *w);
/* Outgoing chunk size now in force. Owner's thread. */
uint32_t lc_rtmp_chunk_writer_chunk_size(const lc_rtmp_chunk_writer *w);
/* Serializes one message (payload borrowed, len <= 0xFFFFFF) into chunks appended to out (borrowed).
 * csid 2..65599. Returns 0 or LC_EINVAL (bad csid) / LC_ETOOBIG (len). Owner's thread. */
int lc_rtmp_chunk_write(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t csid, uint8_t type_id,
                        uint32_t timestamp, uint32_t msg_stream_id, const uint8_t *payload, size_t len);
/* Writes a Set Chunk Size message (csid 2) and switches the writer to `size` for what follows.
 * size 1..0x7FFFFFFF; returns 0 or LC_EINVAL. Owner's thread. */
int lc_rtmp_chunk_write_set_chunk_size(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size);
/* Writes a Window Acknowledgement Size message (csid 2). Owner's thread. */
void lc_rtmp_chunk_write_window_ack_size(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size);
/* Writes a Set Peer Bandwidth message (csid 2); limit_type LC_RTMP_BW_*. Owner's thread. */
void lc_rtmp_chunk_write_set_peer_bandwidth(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t size,
                                            uint8_t limit_type);
/* Writes an Acknowledgement message (csid 2) with the given sequence number. Owner's thread. */
void lc_rtmp_chunk_write_ack(lc_rtmp_chunk_writer *w, GByteArray *out, uint32_t sequence);
/* Writes a User Control message (csid 2): event LC_RTMP_UC_* with one 4-byte value (Stream Begin:
 * the stream id; Ping Response: the request's timestamp). Owner's thread. */
void lc_rtmp_chunk_write_user_control(lc_rtmp_chunk_writer *w, GByteArray *out, uint16_t event, uint32_t value);

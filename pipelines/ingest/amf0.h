/* AMF0 (Adobe AMF0 spec) decoder / encoder and the RTMP command helpers. Pure, any thread
 * (no shared state); a value tree belongs to one thread at a time.
 *
 * Values decode into a small tagged tree (lc_amf0), not jansson's json_t: JSON cannot tell null
 * from undefined, an object from an ECMA array, a date from a number, and has no duplicate or
 * ordered keys, so a json_t could not re-encode what the client sent. Objects and ECMA arrays
 * keep their keys in wire order, duplicates included (lookups return the first match).
 *
 * Bounds: nesting depth <= LC_AMF0_MAX_DEPTH, at most LC_AMF0_MAX_VALUES values per decode call
 * (so a small input cannot expand into a huge tree), counts and lengths checked against the bytes
 * actually left; no allocation is sized from a count field. Reference (0x07), AMF3 switch (0x11),
 * typed object, XML, movieclip and recordset markers are refused (LC_EINVAL): publishers do not
 * send them in AMF0 command and data messages. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_AMF0_MAX_DEPTH 32
#define LC_AMF0_MAX_VALUES 65536

/* Value types; the numbers are the AMF0 type markers. */
typedef enum {
  LC_AMF0_NUMBER = 0x00,
  LC_AMF0_BOOLEAN = 0x01,
  LC_AMF0_STRING = 0x02,      /* short and long strings (a value decoded from a long-string marker
                               * keeps it when re-encoded; otherwise > 65535 bytes picks it) */
  LC_AMF0_OBJECT = 0x03,
  LC_AMF0_NULL = 0x05,
  LC_AMF0_UNDEFINED = 0x06,
  LC_AMF0_ECMA_ARRAY = 0x08,
  LC_AMF0_OBJECT_END = 0x09, /* wire marker only; never a value in a tree */
  LC_AMF0_STRICT_ARRAY = 0x0A,
  LC_AMF0_DATE = 0x0B,
  LC_AMF0_LONG_STRING = 0x0C, /* wire marker only; lc_amf0_get_type says LC_AMF0_STRING */
} lc_amf0_type;

typedef struct lc_amf0 lc_amf0;

/* ---- building values; every constructor returns (transfer full) ---- */
lc_amf0 *lc_amf0_new_number(double v);
lc_amf0 *lc_amf0_new_boolean(bool v);
/* String of len bytes (copied; len -1 = strlen). Encoded as a long string when > 65535 bytes. */
lc_amf0 *lc_amf0_new_string(const char *s, gssize len);
lc_amf0 *lc_amf0_new_null(void);
lc_amf0 *lc_amf0_new_undefined(void);
lc_amf0 *lc_amf0_new_object(void);
lc_amf0 *lc_amf0_new_ecma_array(void);
lc_amf0 *lc_amf0_new_strict_array(void);
/* Date: milliseconds since the Unix epoch, time zone field (reserved, normally 0). */
lc_amf0 *lc_amf0_new_date(double ms, int16_t tz);
/* Appends key -> value to an object or ECMA array; takes value (transfer full), key copied.
 * Returns 0, or LC_EINVAL (obj of another type, or key longer than 65535 bytes: value freed). */
int lc_amf0_set(lc_amf0 *obj, const char *key, lc_amf0 *value);
/* Appends value to a strict array (transfer full). Returns 0 or LC_EINVAL (value freed). */
int lc_amf0_append(lc_amf0 *arr, lc_amf0 *value);
/* Frees a value and its children (NULL is fine). */
void lc_amf0_free(lc_amf0 *v);

/* ---- reading values (all borrowed; NULL-safe: a NULL or wrong-typed value gives 0/NULL/false) ---- */
lc_amf0_type lc_amf0_get_type(const lc_amf0 *v);
double lc_amf0_number(const lc_amf0 *v);            /* number or date ms; else 0 */
bool lc_amf0_boolean(const lc_amf0 *v);
/* String bytes (NUL-terminated copy inside v) and length; NULL when not a string. */
const char *lc_amf0_string(const lc_amf0 *v, size_t *len);
/* Like lc_amf0_string but NULL also when the string holds a NUL byte: safe as a C string. */
const char *lc_amf0_cstr(const lc_amf0 *v);
int16_t lc_amf0_date_tz(const lc_amf0 *v);
/* Entries of an object / ECMA array / strict array (0 for other types). */
size_t lc_amf0_count(const lc_amf0 *v);
/* i-th key (objects and ECMA arrays) or NULL; keys are NUL-terminated, klen may be NULL. */
const char *lc_amf0_key_at(const lc_amf0 *v, size_t i, size_t *klen);
/* i-th value (objects, ECMA arrays, strict arrays) or NULL. */
const lc_amf0 *lc_amf0_value_at(const lc_amf0 *v, size_t i);
/* First value under key in an object / ECMA array, or NULL. */
const lc_amf0 *lc_amf0_get(const lc_amf0 *obj, const char *key);
/* Deep equality (numbers compared bit for bit, so NaN equals the same NaN). */
bool lc_amf0_equal(const lc_amf0 *a, const lc_amf0 *b);

/* ---- wire ---- */
/* Decodes one value from data[0..len) (borrowed); *consumed = its size, *out (transfer full).
 * Returns 0, LC_EINVAL (malformed, truncated, unsupported marker), LC_ELIMIT (depth or value
 * count over the limits). On error *out is NULL. */
int lc_amf0_decode(const uint8_t *data, size_t len, size_t *consumed, lc_amf0 **out);
/* Decodes consecutive values until the end of data; *out = array of lc_amf0 * (transfer full,
 * free with g_ptr_array_unref: it owns its values). Same errors; the value limit spans the call. */
int lc_amf0_decode_all(const uint8_t *data, size_t len, GPtrArray **out);
/* Appends the encoding of v (borrowed) to out. */
void lc_amf0_encode(const lc_amf0 *v, GByteArray *out);

/* ---- RTMP commands (AMF0 command messages, type 20; for type 17 skip its leading 0x00) ---- */
typedef struct {
  char *name;              /* "connect", "publish", ... (no NUL inside) */
  double transaction_id;
  lc_amf0 *command_object; /* the object after the transaction id; NULL when AMF null/undefined/absent */
  GPtrArray *args;         /* further values (lc_amf0 *), owned, possibly empty */
} lc_amf0_command;

/* Parses a command message payload (borrowed) into *out (transfer full). The name must be a
 * string without NUL, the transaction id a number (a missing one reads as 0, as some clients send
 * `onStatus`-style notifications). Returns 0 or the decode errors / LC_EINVAL. */
int lc_amf0_command_parse(const uint8_t *data, size_t len, lc_amf0_command **out);
/* Frees a parsed command (NULL is fine). */
void lc_amf0_command_free(lc_amf0_command *cmd);
/* i-th further argument or NULL (borrowed). */
const lc_amf0 *lc_amf0_command_arg(const lc_amf0_command *cmd, size_t i);

/* Encodes name, transaction id, command object (borrowed; NULL = AMF null) and n_args further
 * values (borrowed) as one command payload appended to out. */
void lc_amf0_encode_command(GByteArray *out, const char *name, double transaction_id, const lc_amf0 *command_object,
                            const lc_amf0 *const *args, size_t n_args);
/* New {level, code, description} info object (transfer full), the status payload of replies. */
lc_amf0 *lc_amf0_new_status(const char *level, const char *code, const char *description);
/* `_result` for connect: {fmsVer, capabilities} and {level:"status", code:
 * "NetConnection.Connect.Success", description, objectEncoding:0}. */
void lc_amf0_encode_connect_result(GByteArray *out, double transaction_id);
/* `_result` with a null command object and one number (createStream: the new stream id). */
void lc_amf0_encode_result_number(GByteArray *out, double transaction_id, double value);
/* `_error` with a null command object and {level:"error", code, description}. */
void lc_amf0_encode_error(GByteArray *out, double transaction_id, const char *code, const char *description);
/* `onStatus`, transaction id 0, null, {level, code, description}: e.g. level "status", code
 * LC_AMF0_PUBLISH_START; level "error", code LC_AMF0_PUBLISH_BADNAME. Send on the publishing
 * message stream id. */
void lc_amf0_encode_on_status(GByteArray *out, const char *level, const char *code, const char *description);

#define LC_AMF0_CONNECT_SUCCESS "NetConnection.Connect.Success"
#define LC_AMF0_CONNECT_REJECTED "NetConnection.Connect.Rejected"
#define LC_AMF0_PUBLISH_START "NetStream.Publish.Start"
#define LC_AMF0_PUBLISH_BADNAME "NetStream.Publish.BadName"
#define LC_AMF0_PUBLISH_DENIED "NetStream.Publish.Denied"
#define LC_AMF0_UNPUBLISH_SUCCESS "NetStream.Unpublish.Success"
#define LC_AMF0_STREAM_FAILED "NetStream.Failed"

/* ---- stream metadata (`@setDataFrame`, "onMetaData", {...} or "onMetaData", {...}) ---- */
typedef struct {
  /* < 0 when absent. Codec ids: FLV numbers (7 = AVC, 10 = AAC, 2 = MP3, 11 = Speex) or, for
   * enhanced RTMP / some encoders, a FourCC given as a number (e.g. 0x68766331 'hvc1'). */
  double width, height, framerate, videocodecid, audiocodecid;
  double videodatarate, audiodatarate, audiosamplerate, audiochannels;
  /* Codec id given as a string (e.g. "avc1", "mp4a"), truncated; "" when it was a number/absent. */
  char video_codec_name[16];
  char audio_codec_name[16];
  char encoder[64]; /* "encoder" property (e.g. "obs-output module (libobs version 30.0.0)"), truncated */
} lc_amf0_metadata;

/* Parses a data message payload (type 18, borrowed): `@setDataFrame` "onMetaData" {obj} or
 * "onMetaData" {obj}, the properties in an object or ECMA array. Returns 0, LC_ENOENT when it is
 * another data message (e.g. onTextData; the caller ignores it), or the decode errors. */
int lc_amf0_metadata_parse(const uint8_t *data, size_t len, lc_amf0_metadata *out);

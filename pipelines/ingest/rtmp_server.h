/* RTMP publish server on the GLib main loop: the socket glue around the pure parsers
 * (rtmp_handshake, rtmp_chunk, amf0, flv_tag, stream_key). Publish only: play is refused.
 *
 * Threads: everything, callbacks included, runs on the thread whose GMainContext was the
 * thread-default when lc_rtmp_server_new ran (the main thread). Each connection is a
 * non-blocking GSocket with one read source (and a write source while output is queued).
 *
 * Session: handshake (C0+C1 -> S0 S1 S2, C2) -> connect (Window Ack Size, Set Peer Bandwidth,
 * Set Chunk Size 4096, _result NetConnection.Connect.Success) -> releaseStream / FCPublish
 * (onFCPublish) -> createStream (_result stream id 1) -> publish (the `publish` callback
 * decides: onStatus NetStream.Publish.Start, or an error status and close) -> @setDataFrame /
 * onMetaData, AVC and AAC sequence headers and frames -> FCUnpublish / deleteStream / close.
 *
 * Refusals close the connection after a clear log line and, when the client is at the command
 * stage, an error status: a bad or missing key (NetStream.Publish.BadName), a refused codec
 * (Enhanced RTMP / HEVC / AV1, MP3, Speex: NetStream.Failed), any protocol violation.
 *
 * Limits (lc_rtmp_server_config): connections, bytes accepted before publish succeeds, time to
 * finish the handshake and to start publishing, idle time without media, outgoing queue, and the
 * chunk reader's own limits (message and chunk sizes, chunk streams, buffered bytes). Per
 * address: connections still in their handshake (so one address cannot take every slot of
 * max_connections), and wrong stream keys (a lockout). Refusals by these two are logged through
 * the guards' pacing (the first one, then a summary a minute), not one line per attempt. */
#pragma once
#include "ingest/rtmp_chunk.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *bind;              /* address to listen on, e.g. "0.0.0.0" (NULL: "0.0.0.0") */
  int port;                      /* 0 = any free port (lc_rtmp_server_port tells) */
  unsigned max_connections;      /* concurrent TCP connections (default 64); more are closed at once */
  size_t max_bytes_before_publish; /* bytes a client may send before a publish is accepted (default 64 KiB) */
  unsigned handshake_timeout_ms; /* accept -> publish accepted (default 10000) */
  unsigned idle_timeout_ms;      /* publishing without any audio/video message (default 10000) */
  size_t max_out_queue;          /* unsent bytes per connection before it is dropped (default 256 KiB) */
  uint32_t chunk_size;           /* our outgoing chunk size (default 4096) */
  uint32_t window_ack_size;      /* Window Acknowledgement Size we announce (default 2500000) */
  lc_rtmp_chunk_limits chunk;    /* reader limits; zero fields = defaults */
  /* Per-address limits (base/ipguard.h; IPv6 counted by /64). Zero = no limit. */
  unsigned auth_failures_per_min; /* refused publishes with a wrong/missing key (publish callback
                                   * returned LC_EPERM) per minute; reaching it locks the address out */
  unsigned auth_lockout_s;       /* how long: every publish from it is refused with
                                  * NetStream.Publish.Denied without asking the callback (0 = 300) */
  unsigned handshakes_per_ip;    /* connections of one address not yet publishing; more are closed at accept */
  unsigned tracked_addresses;    /* addresses remembered by the limits (0 = 4096) */
  const char *limits_exempt;     /* addresses/prefixes never limited (lc_iplist_parse syntax; copied) */
} lc_rtmp_server_config;

typedef struct lc_rtmp_server lc_rtmp_server;
typedef struct lc_rtmp_conn lc_rtmp_conn;

/* Callbacks (main thread). Strings and buffers are borrowed for the call. A callback may call
 * lc_rtmp_conn_close on any connection, its own included (the close takes effect at once:
 * nothing more is delivered for it; the memory goes away later). */
typedef struct {
  /* publish: app = the connect "app" ("live"), name = the publish stream name, tc_url = the
   * connect tcUrl (may be NULL). Return 0 to accept (Publish.Start is sent), or LC_E* with a
   * status code (LC_AMF0_PUBLISH_BADNAME, LC_AMF0_PUBLISH_DENIED...) and description in
   * *code / *description (static or borrowed strings living past the call): an error
   * onStatus is sent and the connection closed. Required. */
  int (*publish)(lc_rtmp_conn *c, const char *app, const char *name, const char *tc_url, const char **code,
                 const char **description, gpointer user);
  /* AVCDecoderConfigurationRecord (checked: version 1, SPS present). */
  void (*video_config)(lc_rtmp_conn *c, const uint8_t *avcc, size_t len, gpointer user);
  /* One AVCC access unit (checked: whole length-prefixed NAL units); dts = unwrapped RTMP
   * timestamp (ms), cts = composition offset (ms). */
  void (*video)(lc_rtmp_conn *c, const uint8_t *au, size_t len, int64_t dts_ms, int32_t cts_ms, bool keyframe,
                gpointer user);
  /* AudioSpecificConfig. */
  void (*audio_config)(lc_rtmp_conn *c, const uint8_t *asc, size_t len, gpointer user);
  /* One raw AAC frame; pts = unwrapped RTMP timestamp (ms). */
  void (*audio)(lc_rtmp_conn *c, const uint8_t *frame, size_t len, int64_t pts_ms, gpointer user);
  /* A connection whose publish was accepted ended (client left, FCUnpublish/deleteStream,
   * error, timeout, lc_rtmp_conn_close, server freed). Called once; reason borrowed. */
  void (*unpublished)(lc_rtmp_conn *c, const char *reason, gpointer user);
} lc_rtmp_server_callbacks;

/* Fills *cfg with the defaults (bind "0.0.0.0", port 1935). Any thread. */
void lc_rtmp_server_config_default(lc_rtmp_server_config *cfg);
/* Binds and listens (cfg and cb copied). NULL + *err (transfer full; e.g. port in use, a
 * malformed limits_exempt). Main thread. */
lc_rtmp_server *lc_rtmp_server_new(const lc_rtmp_server_config *cfg, const lc_rtmp_server_callbacks *cb,
                                   gpointer user, char **err);
/* Closes every connection (unpublished is called for publishing ones) and the listener.
 * NULL is fine. Main thread. */
void lc_rtmp_server_free(lc_rtmp_server *s);
/* The bound port. Main thread. */
int lc_rtmp_server_port(lc_rtmp_server *s);

typedef struct {
  unsigned connections;     /* open TCP connections */
  unsigned publishing;      /* of which publishing */
  uint64_t accepted;        /* connections accepted since start */
  uint64_t refused;         /* closed by a refusal (limit, auth, codec, protocol error, timeout) */
  uint64_t bytes_in;        /* bytes received, all connections, since start */
} lc_rtmp_server_stats;
void lc_rtmp_server_get_stats(lc_rtmp_server *s, lc_rtmp_server_stats *out);

/* Closes the connection (reason borrowed, logged and given to `unpublished`). When
 * `status_code` is not NULL and the connection has a stream, an error onStatus with that code
 * is sent first (best effort). Idempotent. Main thread. */
void lc_rtmp_conn_close(lc_rtmp_conn *c, const char *status_code, const char *reason);
/* "rtmp-7": the connection id for log lines (borrowed, lives with c). */
const char *lc_rtmp_conn_id(lc_rtmp_conn *c);
/* "127.0.0.1:53211" (borrowed, lives with c). */
const char *lc_rtmp_conn_peer(lc_rtmp_conn *c);
/* Bytes received on this connection. */
uint64_t lc_rtmp_conn_bytes_in(lc_rtmp_conn *c);
/* Per-connection user data for the callbacks' owner (not freed by the server). */
void lc_rtmp_conn_set_data(lc_rtmp_conn *c, gpointer data);
gpointer lc_rtmp_conn_get_data(lc_rtmp_conn *c);

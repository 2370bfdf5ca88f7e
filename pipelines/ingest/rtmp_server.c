/* RTMP publish server: socket glue around the pure RTMP parsers (see rtmp_server.h).
 *
 * Everything runs on the main thread's GMainContext. A connection is refcounted: the server's
 * list holds one ref while it is open and every handler running for it holds one, so a
 * callback may close it (or the server may close it) in the middle of a read without freeing
 * memory still in use. Closing is synchronous (sources dropped, socket closed); the last unref
 * frees. One 1 s timer on the server enforces the handshake/publish and idle timeouts. */
#define LC_LOG_DOMAIN "rtmp"
#include "ingest/rtmp_server.h"
#include "ingest/amf0.h"
#include "base/errors.h"
#include "ingest/flv_tag.h"
#include "base/ipguard.h"
#include "base/log.h"
#include "ingest/rtmp_handshake.h"

#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <string.h>

#define READ_CHUNK 65536
#define CSID_COMMAND 3
#define CSID_STATUS 5
#define PUBLISH_STREAM_ID 1
#define MAX_STREAMS 4

struct lc_rtmp_server {
  lc_rtmp_server_config cfg;
  lc_rtmp_server_callbacks cb;
  gpointer user;
  GMainContext *ctx;
  GSocketService *service;
  int port;
  GList *conns; /* lc_rtmp_conn*, one ref each */
  unsigned n_conns;
  unsigned n_publishing;
  unsigned next_id;
  guint tick;
  uint64_t accepted, refused, bytes_in;
  lc_iplist *exempt;       /* cfg.limits_exempt parsed */
  lc_ipguard *auth_guard;  /* wrong stream keys per address (lockout) */
  lc_ipguard *hs_guard;    /* no limit of its own: paces the log of handshake-cap refusals */
};

struct lc_rtmp_conn {
  int refs;
  lc_rtmp_server *srv; /* NULL once closed */
  bool closed;
  char id[24];
  char peer[64];
  lc_ipaddr addr;       /* the peer's address, for the per-address limits */
  bool has_addr;
  bool quiet;           /* refused by a per-address limit: its close is logged at debug */
  GSocketConnection *sc;
  GSocket *sock; /* borrowed from sc */
  GSource *rsrc;
  GSource *wsrc;
  lc_rtmp_handshake *hs;
  lc_rtmp_chunk_reader *rd;
  lc_rtmp_chunk_writer *wr;
  GByteArray *out;
  size_t out_off;
  uint64_t bytes_in;
  bool connected;       /* connect answered */
  unsigned streams;     /* createStream calls answered */
  bool publishing;      /* publish accepted */
  bool unpublished;     /* deleteStream seen: waiting for the client to close */
  unsigned metadata_msgs;
  uint32_t publish_msid;
  char *app, *tc_url, *stream_name;
  char shown_name[80];  /* stream name without its query (keys never reach the log) */
  unsigned nal_length_size; /* 0 until the AVC sequence header */
  bool have_audio_config;
  int64_t accepted_us, last_media_us;
  uint64_t video_msgs, audio_msgs;
  gpointer data;
};

typedef lc_rtmp_conn conn;

/* ---- connection lifetime -------------------------------------------------------------- */

static conn *
conn_ref(conn *c)
{
  c->refs++;
  return c;
}

static void
conn_unref(conn *c)
{
  if (--c->refs > 0)
    return;
  g_assert(c->closed);
  lc_rtmp_handshake_free(c->hs);
  lc_rtmp_chunk_reader_free(c->rd);
  lc_rtmp_chunk_writer_free(c->wr);
  g_byte_array_unref(c->out);
  g_free(c->app);
  g_free(c->tc_url);
  g_free(c->stream_name);
  g_free(c);
}

static void
drop_source(GSource **s)
{
  if (*s) {
    g_source_destroy(*s);
    g_source_unref(*s);
    *s = NULL;
  }
}

static void conn_flush(conn *c);

static void
send_status(conn *c, const char *level, const char *code, const char *description)
{
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_on_status(p, level, code, description);
  lc_rtmp_chunk_write(c->wr, c->out, CSID_STATUS, LC_RTMP_MSG_COMMAND_AMF0, 0,
                      c->publish_msid ? c->publish_msid : PUBLISH_STREAM_ID, p->data, p->len);
  g_byte_array_unref(p);
}

void
lc_rtmp_conn_close(lc_rtmp_conn *c, const char *status_code, const char *reason)
{
  if (!c || c->closed)
    return;
  if (status_code && c->streams > 0 && c->sock) {
    send_status(c, "error", status_code, reason);
    conn_flush(c); /* best effort: non-blocking, whatever the kernel takes */
    if (c->closed)
      return;
  }
  c->closed = true;
  drop_source(&c->rsrc);
  drop_source(&c->wsrc);
  if (c->sock)
    g_socket_shutdown(c->sock, FALSE, TRUE, NULL);
  GError *err = NULL;
  if (c->sc && !g_io_stream_close(G_IO_STREAM(c->sc), NULL, &err)) {
    LC_DEBUG(NULL, c->id, "close: %s", err->message);
    g_clear_error(&err);
  }
  g_clear_object(&c->sc);
  c->sock = NULL;
  lc_rtmp_server *s = c->srv;
  c->srv = NULL;
  bool was_publishing = c->publishing;
  c->publishing = false;
  LC_LOG(c->quiet ? LC_LOG_DEBUG : LC_LOG_INFO, NULL, c->id, "connection from %s closed (%s)%s%s", c->peer,
         reason ? reason : "closed", was_publishing ? "; was publishing " : "", was_publishing ? c->shown_name : "");
  if (!s)
    return;
  s->conns = g_list_remove(s->conns, c);
  s->n_conns--;
  if (was_publishing) {
    s->n_publishing--;
    if (s->cb.unpublished)
      s->cb.unpublished(c, reason ? reason : "closed", s->user);
  }
  conn_unref(c); /* the list's ref */
}

/* Closes after a refusal (counted). */
static void
conn_refuse(conn *c, const char *status_code, const char *reason)
{
  if (c->closed)
    return;
  if (c->srv)
    c->srv->refused++;
  LC_WARN(NULL, c->id, "refusing %s%s%s: %s", c->peer, c->stream_name ? " publishing " : "",
          c->stream_name ? c->shown_name : "", reason);
  lc_rtmp_conn_close(c, status_code, reason);
}

/* ---- output --------------------------------------------------------------------------- */

static gboolean
on_writable(GSocket *sock, GIOCondition cond, gpointer data)
{
  conn *c = conn_ref(data);
  GSource *self = g_source_ref(c->wsrc);
  conn_flush(c);
  gboolean keep = !g_source_is_destroyed(self);
  g_source_unref(self);
  conn_unref(c);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Sends what the kernel takes; arms the write source when it is full. May close c. */
static void
conn_flush(conn *c)
{
  while (!c->closed && c->out_off < c->out->len) {
    GError *err = NULL;
    gssize n = g_socket_send(c->sock, (const char *)c->out->data + c->out_off, c->out->len - c->out_off, NULL, &err);
    if (n < 0) {
      if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        g_error_free(err);
        if (!c->wsrc) {
          c->wsrc = g_socket_create_source(c->sock, G_IO_OUT, NULL);
          g_source_set_callback(c->wsrc, (GSourceFunc)(GCallback)on_writable, c, NULL);
          g_source_attach(c->wsrc, c->srv->ctx);
        }
        if (c->out->len - c->out_off > c->srv->cfg.max_out_queue)
          conn_refuse(c, NULL, "client does not read: output queue over its limit");
        return;
      }
      char *why = g_strdup_printf("send failed: %s", err->message);
      g_error_free(err);
      lc_rtmp_conn_close(c, NULL, why);
      g_free(why);
      return;
    }
    c->out_off += (size_t)n;
  }
  if (c->closed)
    return;
  g_byte_array_set_size(c->out, 0);
  c->out_off = 0;
  drop_source(&c->wsrc);
}

static void
send_command(conn *c, uint32_t msid, GByteArray *payload)
{
  lc_rtmp_chunk_write(c->wr, c->out, msid ? CSID_STATUS : CSID_COMMAND, LC_RTMP_MSG_COMMAND_AMF0, 0, msid,
                      payload->data, payload->len);
}

/* ---- commands ------------------------------------------------------------------------- */

static char *
dup_cstr(const lc_amf0 *v, size_t max)
{
  size_t len;
  const char *s = lc_amf0_string(v, &len);
  if (!s || len > max || memchr(s, '\0', len))
    return NULL;
  return g_strndup(s, len);
}

static void
on_connect(conn *c, const lc_amf0_command *cmd)
{
  if (c->connected) {
    conn_refuse(c, NULL, "second connect on one connection");
    return;
  }
  const lc_amf0 *app = lc_amf0_get(cmd->command_object, "app");
  const lc_amf0 *tc = lc_amf0_get(cmd->command_object, "tcUrl");
  c->app = dup_cstr(app, 256);
  c->tc_url = tc ? dup_cstr(tc, 1024) : NULL;
  if (!c->app) {
    GByteArray *p = g_byte_array_new();
    lc_amf0_encode_error(p, cmd->transaction_id, LC_AMF0_CONNECT_REJECTED, "connect without a valid app name");
    send_command(c, 0, p);
    g_byte_array_unref(p);
    conn_flush(c);
    conn_refuse(c, NULL, "connect without a valid app name");
    return;
  }
  double enc = lc_amf0_number(lc_amf0_get(cmd->command_object, "objectEncoding"));
  const char *q = c->tc_url ? strchr(c->tc_url, '?') : NULL;
  LC_DEBUG(NULL, c->id, "connect app=%s tcUrl=%.*s%s objectEncoding=%g", c->app,
           c->tc_url ? (int)(q ? q - c->tc_url : (int)strlen(c->tc_url)) : 1, c->tc_url ? c->tc_url : "-",
           q ? "?..." : "", enc);
  c->connected = true;
  lc_rtmp_chunk_write_window_ack_size(c->wr, c->out, c->srv->cfg.window_ack_size);
  lc_rtmp_chunk_write_set_peer_bandwidth(c->wr, c->out, c->srv->cfg.window_ack_size, LC_RTMP_BW_DYNAMIC);
  lc_rtmp_chunk_write_user_control(c->wr, c->out, LC_RTMP_UC_STREAM_BEGIN, 0);
  lc_rtmp_chunk_write_set_chunk_size(c->wr, c->out, c->srv->cfg.chunk_size);
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_connect_result(p, cmd->transaction_id);
  send_command(c, 0, p);
  g_byte_array_unref(p);
}

static void
on_fc_publish(conn *c, const lc_amf0_command *cmd)
{
  const char *name = lc_amf0_cstr(lc_amf0_command_arg(cmd, 0));
  lc_amf0 *info = lc_amf0_new_status("status", LC_AMF0_PUBLISH_START, name ? name : "");
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_command(p, "onFCPublish", 0, NULL, (const lc_amf0 *const *)&info, 1);
  send_command(c, 0, p);
  g_byte_array_unref(p);
  lc_amf0_free(info);
}

static void
on_create_stream(conn *c, const lc_amf0_command *cmd)
{
  if (!c->connected || c->streams >= MAX_STREAMS) {
    conn_refuse(c, NULL, c->connected ? "too many createStream calls" : "createStream before connect");
    return;
  }
  c->streams++;
  GByteArray *p = g_byte_array_new();
  lc_amf0_encode_result_number(p, cmd->transaction_id, PUBLISH_STREAM_ID);
  send_command(c, 0, p);
  g_byte_array_unref(p);
}

/* The peer is locked out after too many wrong keys: refuses this publish (Publish.Denied, the
 * time left in its description) without asking the callback, so a right key is refused too
 * and a guesser learns nothing. Returns true when c was closed. */
static bool
publish_locked_out(conn *c)
{
  lc_rtmp_server *s = c->srv;
  int64_t now = g_get_monotonic_time();
  gint64 wait = c->has_addr ? lc_ipguard_check(s->auth_guard, &c->addr, now) : 0;
  if (wait <= 0)
    return false;
  char *why = g_strdup_printf("too many wrong stream keys from this address: retry in %" G_GINT64_FORMAT " s",
                              (wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  char *line = g_strdup_printf("RTMP publish %s refused: %s", c->shown_name, why);
  lc_ipguard_log_refusal(s->auth_guard, &c->addr, now, c->id, line);
  s->refused++;
  c->quiet = true;
  lc_rtmp_conn_close(c, LC_AMF0_PUBLISH_DENIED, why);
  g_free(line);
  g_free(why);
  return true;
}

static void
on_publish(conn *c, const lc_amf0_command *cmd, uint32_t msid)
{
  if (!c->connected || c->streams == 0) {
    conn_refuse(c, NULL, "publish before connect/createStream");
    return;
  }
  if (c->publishing || c->stream_name) {
    conn_refuse(c, NULL, "second publish on one connection");
    return;
  }
  c->publish_msid = msid ? msid : PUBLISH_STREAM_ID;
  c->stream_name = dup_cstr(lc_amf0_command_arg(cmd, 0), 1024);
  if (!c->stream_name || !*c->stream_name) {
    g_clear_pointer(&c->stream_name, g_free);
    conn_refuse(c, LC_AMF0_PUBLISH_BADNAME, "publish without a stream name (expected <room>?key=<secret>)");
    return;
  }
  size_t plain = strcspn(c->stream_name, "?");
  g_snprintf(c->shown_name, sizeof c->shown_name, "%.*s%s", (int)MIN(plain, 64), c->stream_name,
             c->stream_name[plain] ? "?..." : "");
  const char *type = lc_amf0_cstr(lc_amf0_command_arg(cmd, 1));
  if (type && strcmp(type, "live") != 0)
    LC_DEBUG(NULL, c->id, "publish type '%s' treated as live", type);
  if (publish_locked_out(c))
    return;
  const char *code = LC_AMF0_PUBLISH_BADNAME, *desc = "publish refused";
  lc_rtmp_server *s = c->srv;
  int rc = s->cb.publish(c, c->app, c->stream_name, c->tc_url, &code, &desc, s->user);
  if (rc == LC_EPERM && c->has_addr) {
    gint64 lock = lc_ipguard_hit(s->auth_guard, &c->addr, g_get_monotonic_time());
    char ip[LC_IPADDR_STRLEN];
    if (lock > 0)
      LC_WARN(NULL, c->id, "%s: %u wrong stream keys within a minute: its publishes are refused for %" G_GINT64_FORMAT
              " s (limits.auth_failures_per_min)", lc_ipaddr_key_str(&c->addr, ip), s->cfg.auth_failures_per_min,
              lock / G_USEC_PER_SEC);
  }
  if (c->closed)
    return;
  if (rc != 0) {
    conn_refuse(c, code ? code : LC_AMF0_PUBLISH_BADNAME, desc ? desc : lc_strerror(rc));
    return;
  }
  c->publishing = true;
  c->srv->n_publishing++;
  c->last_media_us = g_get_monotonic_time();
  lc_rtmp_chunk_write_user_control(c->wr, c->out, LC_RTMP_UC_STREAM_BEGIN, c->publish_msid);
  send_status(c, "status", LC_AMF0_PUBLISH_START, "publishing");
  LC_INFO(NULL, c->id, "%s publishing app=%s", c->peer, c->app);
}

/* The client ended its stream but may keep the TCP connection (rtmp2sink expects to close it
 * itself): the publish ends now, the connection a moment later (the 1 s tick). */
static void
end_publish(conn *c, const char *reason)
{
  if (!c->publishing)
    return;
  lc_rtmp_server *s = c->srv;
  c->publishing = false;
  c->unpublished = true;
  s->n_publishing--;
  LC_INFO(NULL, c->id, "%s stopped publishing %s (%s)", c->peer, c->shown_name, reason);
  if (s->cb.unpublished)
    s->cb.unpublished(c, reason, s->user);
}

static void
handle_command(conn *c, const lc_rtmp_chunk_msg *m)
{
  const uint8_t *d = m->payload;
  size_t len = m->len;
  if (m->type_id == LC_RTMP_MSG_COMMAND_AMF3 && len > 0 && d[0] == 0) {
    d++;
    len--;
  }
  lc_amf0_command *cmd = NULL;
  int rc = lc_amf0_command_parse(d, len, &cmd);
  if (rc != 0) {
    conn_refuse(c, NULL, "malformed AMF0 command");
    return;
  }
  LC_DEBUG(NULL, c->id, "command %s (transaction %g, stream %u)", cmd->name, cmd->transaction_id, m->msg_stream_id);
  if (strcmp(cmd->name, "connect") == 0)
    on_connect(c, cmd);
  else if (strcmp(cmd->name, "FCPublish") == 0)
    on_fc_publish(c, cmd);
  else if (strcmp(cmd->name, "createStream") == 0)
    on_create_stream(c, cmd);
  else if (strcmp(cmd->name, "publish") == 0)
    on_publish(c, cmd, m->msg_stream_id);
  else if (strcmp(cmd->name, "deleteStream") == 0 || strcmp(cmd->name, "closeStream") == 0)
    end_publish(c, "client unpublished (deleteStream)");
  else if (strcmp(cmd->name, "play") == 0 || strcmp(cmd->name, "play2") == 0)
    conn_refuse(c, "NetStream.Play.Failed", "play is not supported: this server only takes publishers");
  /* releaseStream, FCUnpublish, _checkbw, getStreamLength, ...: nothing to answer. */
  lc_amf0_command_free(cmd);
}

static void
handle_data(conn *c, const lc_rtmp_chunk_msg *m)
{
  const uint8_t *d = m->payload;
  size_t len = m->len;
  if (m->type_id == LC_RTMP_MSG_DATA_AMF3 && len > 0 && d[0] == 0) {
    d++;
    len--;
  }
  lc_amf0_metadata md;
  int rc = lc_amf0_metadata_parse(d, len, &md);
  if (rc == LC_ENOENT)
    return;
  if (rc != 0) {
    conn_refuse(c, NULL, "malformed AMF0 data message");
    return;
  }
  lc_log_level lvl = c->metadata_msgs++ ? LC_LOG_DEBUG : LC_LOG_INFO; /* repeated by some encoders */
  LC_LOG(lvl, NULL, c->id, "metadata: %gx%g @%g fps, video %s%g %g kbps, audio %s%g %g Hz, encoder '%s'", md.width,
          md.height, md.framerate, md.video_codec_name, md.videocodecid, md.videodatarate, md.audio_codec_name,
          md.audiocodecid, md.audiosamplerate, md.encoder);
}

/* The result of parsing an FLV tag body: true to go on; otherwise the connection is refused
 * (an unsupported codec, LC_EPERM, with the StreamFailed status; malformed data without one). */
static bool
flv_parsed(conn *c, int rc, const char *why)
{
  if (rc == 0)
    return true;
  conn_refuse(c, rc == LC_EPERM ? LC_AMF0_STREAM_FAILED : NULL, why);
  return false;
}

static void
handle_video(conn *c, const uint8_t *body, size_t len, int64_t ts)
{
  lc_flv_packet pk;
  const char *why = NULL;
  int rc = lc_flv_parse_video(body, len, &pk, &why);
  if (!flv_parsed(c, rc, why))
    return;
  lc_rtmp_server *s = c->srv;
  c->last_media_us = g_get_monotonic_time();
  c->video_msgs++;
  switch (pk.kind) {
  case LC_FLV_CONFIG:
    lc_flv_check_avcc_config(pk.data, pk.len, &c->nal_length_size, NULL);
    LC_INFO(NULL, c->id, "AVC sequence header: profile %u level %u, NAL length size %u", pk.data[1], pk.data[3],
            c->nal_length_size);
    if (s->cb.video_config)
      s->cb.video_config(c, pk.data, pk.len, s->user);
    break;
  case LC_FLV_FRAME:
    if (c->nal_length_size == 0) {
      LC_DEBUG(NULL, c->id, "video frame before the AVC sequence header dropped");
      break;
    }
    if (lc_flv_check_avcc_frame(pk.data, pk.len, c->nal_length_size, &why) != 0) {
      conn_refuse(c, NULL, why);
      return;
    }
    if (s->cb.video)
      s->cb.video(c, pk.data, pk.len, ts, pk.cts, pk.keyframe, s->user);
    break;
  default:
    break;
  }
}

static void
handle_audio(conn *c, const uint8_t *body, size_t len, int64_t ts)
{
  lc_flv_packet pk;
  const char *why = NULL;
  int rc = lc_flv_parse_audio(body, len, &pk, &why);
  if (!flv_parsed(c, rc, why))
    return;
  lc_rtmp_server *s = c->srv;
  c->last_media_us = g_get_monotonic_time();
  c->audio_msgs++;
  if (pk.kind == LC_FLV_CONFIG) {
    c->have_audio_config = true;
    LC_INFO(NULL, c->id, "AAC sequence header: object type %u", pk.data[0] >> 3);
    if (s->cb.audio_config)
      s->cb.audio_config(c, pk.data, pk.len, s->user);
  } else if (pk.kind == LC_FLV_FRAME) {
    if (!c->have_audio_config) {
      LC_DEBUG(NULL, c->id, "audio frame before the AAC sequence header dropped");
      return;
    }
    if (s->cb.audio)
      s->cb.audio(c, pk.data, pk.len, ts, s->user);
  }
}

/* Aggregate message (type 22): FLV tags back to back, each followed by its 4-byte size. */
static void
handle_aggregate(conn *c, const lc_rtmp_chunk_msg *m)
{
  size_t off = 0;
  int64_t base = -1;
  while (off < m->len && !c->closed) {
    if (m->len - off < 11) {
      conn_refuse(c, NULL, "aggregate message truncated in a tag header");
      return;
    }
    const uint8_t *h = m->payload + off;
    uint8_t type = h[0] & 0x1f;
    size_t dlen = ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    uint32_t ts = ((uint32_t)h[7] << 24) | ((uint32_t)h[4] << 16) | ((uint32_t)h[5] << 8) | h[6];
    if (dlen > m->len - off - 11 || m->len - off - 11 - dlen < 4) {
      conn_refuse(c, NULL, "aggregate message tag length outside the message");
      return;
    }
    if (base < 0)
      base = ts;
    int64_t t = m->timestamp64 + ((int64_t)ts - base);
    if (type == LC_RTMP_MSG_VIDEO)
      handle_video(c, h + 11, dlen, t);
    else if (type == LC_RTMP_MSG_AUDIO)
      handle_audio(c, h + 11, dlen, t);
    off += 11 + dlen + 4;
  }
}

static void
handle_message(conn *c, const lc_rtmp_chunk_msg *m)
{
  switch (m->type_id) {
  case LC_RTMP_MSG_COMMAND_AMF0:
  case LC_RTMP_MSG_COMMAND_AMF3:
    handle_command(c, m);
    break;
  case LC_RTMP_MSG_DATA_AMF0:
  case LC_RTMP_MSG_DATA_AMF3:
    handle_data(c, m);
    break;
  case LC_RTMP_MSG_VIDEO:
  case LC_RTMP_MSG_AUDIO:
  case LC_RTMP_MSG_AGGREGATE:
    if (!c->publishing) {
      if (c->unpublished)
        return; /* in flight when the client unpublished */
      conn_refuse(c, NULL, "media before an accepted publish");
      return;
    }
    if (m->type_id == LC_RTMP_MSG_VIDEO)
      handle_video(c, m->payload, m->len, m->timestamp64);
    else if (m->type_id == LC_RTMP_MSG_AUDIO)
      handle_audio(c, m->payload, m->len, m->timestamp64);
    else
      handle_aggregate(c, m);
    break;
  case LC_RTMP_MSG_USER_CONTROL: {
    uint16_t ev;
    uint32_t v;
    if (lc_rtmp_chunk_parse_user_control(m, &ev, &v, NULL) == 0 && ev == LC_RTMP_UC_PING_REQUEST)
      lc_rtmp_chunk_write_user_control(c->wr, c->out, LC_RTMP_UC_PING_RESPONSE, v);
    break;
  }
  case LC_RTMP_MSG_SET_CHUNK_SIZE:
    LC_DEBUG(NULL, c->id, "peer chunk size %u", lc_rtmp_chunk_reader_chunk_size(c->rd));
    break;
  default:
    /* Ack, Window Ack Size, Abort (applied by the reader), Set Peer Bandwidth, shared objects. */
    break;
  }
}

/* ---- input ---------------------------------------------------------------------------- */

static void
conn_input(conn *c, const uint8_t *data, size_t len)
{
  size_t off = 0;
  if (lc_rtmp_handshake_state(c->hs) != LC_RTMP_HS_DONE) {
    size_t used = 0;
    int rc = lc_rtmp_handshake_feed(c->hs, data, len, &used, c->out);
    if (rc != 0) {
      conn_refuse(c, NULL, "bad RTMP handshake (C0 version is not 3)");
      return;
    }
    lc_rtmp_chunk_reader_add_received(c->rd, used);
    off = used;
    if (lc_rtmp_handshake_state(c->hs) == LC_RTMP_HS_DONE)
      LC_DEBUG(NULL, c->id, "handshake done (client version %u, C2 %s)", lc_rtmp_handshake_client_version(c->hs),
               lc_rtmp_handshake_c2_echoed(c->hs) ? "echoed S1" : "did not echo S1");
  }
  while (off < len && !c->closed) {
    size_t used = 0;
    lc_rtmp_chunk_msg *m = NULL;
    int rc = lc_rtmp_chunk_reader_feed(c->rd, data + off, len - off, &used, &m);
    if (rc != 0) {
      char *why = g_strdup_printf("chunk stream error: %s", lc_rtmp_chunk_reader_error(c->rd));
      conn_refuse(c, NULL, why);
      g_free(why);
      return;
    }
    off += used;
    uint32_t seq;
    if (lc_rtmp_chunk_reader_take_ack(c->rd, &seq))
      lc_rtmp_chunk_write_ack(c->wr, c->out, seq);
    if (m) {
      handle_message(c, m);
      lc_rtmp_chunk_msg_free(m);
    }
  }
}

static gboolean
on_readable(GSocket *sock, GIOCondition cond, gpointer data)
{
  conn *c = conn_ref(data);
  GSource *self = g_source_ref(c->rsrc);
  uint8_t *buf = g_malloc(READ_CHUNK);
  GError *err = NULL;
  gssize n = g_socket_receive(c->sock, (char *)buf, READ_CHUNK, NULL, &err);
  if (n < 0) {
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      char *why = g_strdup_printf("receive failed: %s", err->message);
      lc_rtmp_conn_close(c, NULL, why);
      g_free(why);
    }
    g_error_free(err);
  } else if (n == 0) {
    lc_rtmp_conn_close(c, NULL, "client closed the connection");
  } else {
    c->bytes_in += (uint64_t)n;
    c->srv->bytes_in += (uint64_t)n;
    if (!c->publishing && !c->unpublished && c->bytes_in > c->srv->cfg.max_bytes_before_publish)
      conn_refuse(c, NULL, "too many bytes before an accepted publish");
    else
      conn_input(c, buf, (size_t)n);
    if (!c->closed)
      conn_flush(c);
  }
  g_free(buf);
  gboolean keep = !g_source_is_destroyed(self);
  g_source_unref(self);
  conn_unref(c);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- accepting, timers ---------------------------------------------------------------- */

static void
format_peer(GSocketConnection *sc, char *out, size_t size)
{
  GSocketAddress *a = g_socket_connection_get_remote_address(sc, NULL);
  g_strlcpy(out, "?", size);
  if (a && G_IS_INET_SOCKET_ADDRESS(a)) {
    char *ip = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
    g_snprintf(out, size, "%s:%u", ip, g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a)));
    g_free(ip);
  }
  g_clear_object(&a);
}

/* The peer's IP address; false when it has none (not an IP socket). */
static bool
peer_addr(GSocketConnection *sc, lc_ipaddr *out)
{
  GSocketAddress *a = g_socket_connection_get_remote_address(sc, NULL);
  struct sockaddr_storage ss;
  bool ok = a && g_socket_address_to_native(a, &ss, sizeof ss, NULL) &&
            lc_ipaddr_from_sockaddr((struct sockaddr *)&ss, (size_t)g_socket_address_get_native_size(a), out) == 0;
  g_clear_object(&a);
  return ok;
}

/* Connections from a's address (IPv6: its /64) that have not started publishing. */
static unsigned
handshakes_from(lc_rtmp_server *s, const lc_ipaddr *a)
{
  unsigned n = 0;
  for (GList *l = s->conns; l; l = l->next) {
    conn *c = l->data;
    if (c->has_addr && !c->publishing && !c->unpublished && lc_ipaddr_same_key(&c->addr, a))
      n++;
  }
  return n;
}

static gboolean
on_incoming(GSocketService *svc, GSocketConnection *sc, GObject *src, gpointer data)
{
  lc_rtmp_server *s = data;
  char peer[64];
  format_peer(sc, peer, sizeof peer);
  if (s->n_conns >= s->cfg.max_connections) {
    s->refused++;
    LC_WARN(NULL, NULL, "refusing RTMP connection from %s: %u connections open (rtmp max_connections)", peer,
            s->n_conns);
    g_io_stream_close(G_IO_STREAM(sc), NULL, NULL);
    return TRUE;
  }
  lc_ipaddr addr;
  bool has_addr = peer_addr(sc, &addr);
  if (has_addr && s->cfg.handshakes_per_ip && !lc_iplist_contains(s->exempt, &addr) &&
      handshakes_from(s, &addr) >= s->cfg.handshakes_per_ip) {
    s->refused++;
    char *line = g_strdup_printf("RTMP connection refused: %u connections from this address are still before "
                                 "publishing (limits.rtmp_handshakes_per_ip)", s->cfg.handshakes_per_ip);
    lc_ipguard_log_refusal(s->hs_guard, &addr, g_get_monotonic_time(), NULL, line);
    g_free(line);
    g_io_stream_close(G_IO_STREAM(sc), NULL, NULL);
    return TRUE;
  }
  conn *c = g_new0(conn, 1);
  c->refs = 1;
  c->srv = s;
  g_snprintf(c->id, sizeof c->id, "rtmp-%u", ++s->next_id);
  g_strlcpy(c->peer, peer, sizeof c->peer);
  c->addr = addr;
  c->has_addr = has_addr;
  c->sc = g_object_ref(sc);
  c->sock = g_socket_connection_get_socket(sc);
  g_socket_set_blocking(c->sock, FALSE);
  g_socket_set_option(c->sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  c->hs = lc_rtmp_handshake_new((uint32_t)(g_get_monotonic_time() / 1000));
  c->rd = lc_rtmp_chunk_reader_new(&s->cfg.chunk);
  c->wr = lc_rtmp_chunk_writer_new();
  c->out = g_byte_array_new();
  c->accepted_us = g_get_monotonic_time();
  s->conns = g_list_prepend(s->conns, c);
  s->n_conns++;
  s->accepted++;
  c->rsrc = g_socket_create_source(c->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback(c->rsrc, (GSourceFunc)(GCallback)on_readable, c, NULL);
  g_source_attach(c->rsrc, s->ctx);
  LC_DEBUG(NULL, c->id, "connection from %s", c->peer);
  return TRUE;
}

static gboolean
on_tick(gpointer data)
{
  lc_rtmp_server *s = data;
  int64_t now = g_get_monotonic_time();
  GList *copy = g_list_copy(s->conns);
  for (GList *l = copy; l; l = l->next)
    conn_ref(l->data);
  for (GList *l = copy; l; l = l->next) {
    conn *c = l->data;
    if (c->closed)
      continue;
    if (c->unpublished)
      lc_rtmp_conn_close(c, NULL, "stream ended by the client");
    else if (!c->publishing && now - c->accepted_us > (int64_t)s->cfg.handshake_timeout_ms * 1000)
      conn_refuse(c, NULL, "no accepted publish within the handshake timeout");
    else if (c->publishing && now - c->last_media_us > (int64_t)s->cfg.idle_timeout_ms * 1000)
      conn_refuse(c, LC_AMF0_STREAM_FAILED, "no audio or video within the idle timeout");
  }
  g_list_free_full(copy, (GDestroyNotify)conn_unref);
  lc_ipguard_flush(s->auth_guard, now);
  lc_ipguard_flush(s->hs_guard, now);
  return G_SOURCE_CONTINUE;
}

/* ---- server --------------------------------------------------------------------------- */

void
lc_rtmp_server_config_default(lc_rtmp_server_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->bind = "0.0.0.0";
  cfg->port = 1935;
  cfg->max_connections = 64;
  cfg->max_bytes_before_publish = 64 * 1024;
  cfg->handshake_timeout_ms = 10000;
  cfg->idle_timeout_ms = 10000;
  cfg->max_out_queue = 256 * 1024;
  cfg->chunk_size = 4096;
  cfg->window_ack_size = 2500000;
}

lc_rtmp_server *
lc_rtmp_server_new(const lc_rtmp_server_config *cfg, const lc_rtmp_server_callbacks *cb, gpointer user, char **err)
{
  lc_rtmp_server_config def;
  lc_rtmp_server_config_default(&def);
  lc_rtmp_server *s = g_new0(lc_rtmp_server, 1);
  GSocketAddress *addr = NULL, *eff = NULL;
  GInetAddress *ia = NULL;
  GError *gerr = NULL;
  s->cfg = *cfg;
  s->cfg.bind = NULL;
  s->cfg.limits_exempt = NULL;
  s->cb = *cb;
  s->user = user;
  s->ctx = g_main_context_ref_thread_default();
#define DEF(f) if (!s->cfg.f) s->cfg.f = def.f
  DEF(max_connections);
  DEF(max_bytes_before_publish);
  DEF(handshake_timeout_ms);
  DEF(idle_timeout_ms);
  DEF(max_out_queue);
  DEF(chunk_size);
  DEF(window_ack_size);
#undef DEF
  const char *bind = cfg->bind && *cfg->bind ? cfg->bind : "0.0.0.0";
  char *why = NULL;
  s->exempt = lc_iplist_parse(cfg->limits_exempt, &why);
  if (!s->exempt) {
    *err = g_strdup_printf("rtmp limits exempt list: %s", why);
    g_free(why);
    goto fail;
  }
  lc_ipguard_config gc = {.what = "RTMP publishes after wrong stream keys",
                          .limit = cfg->auth_failures_per_min,
                          .window_us = 60 * G_USEC_PER_SEC,
                          .lockout_us = (cfg->auth_lockout_s ? cfg->auth_lockout_s : 300) * G_USEC_PER_SEC,
                          .max_addresses = cfg->tracked_addresses,
                          .exempt = s->exempt};
  s->auth_guard = lc_ipguard_new(&gc);
  gc = (lc_ipguard_config){.what = "RTMP connections over the per-address handshake cap",
                           .max_addresses = cfg->tracked_addresses};
  s->hs_guard = lc_ipguard_new(&gc);
  if (cfg->port < 0 || cfg->port > 65535) {
    *err = g_strdup_printf("rtmp port %d outside 0..65535", cfg->port);
    goto fail;
  }
  ia = g_inet_address_new_from_string(bind);
  if (!ia) {
    *err = g_strdup_printf("rtmp bind address '%s' is not an IP address", bind);
    goto fail;
  }
  addr = g_inet_socket_address_new(ia, (guint16)cfg->port);
  s->service = g_socket_service_new();
  if (!g_socket_listener_add_address(G_SOCKET_LISTENER(s->service), addr, G_SOCKET_TYPE_STREAM,
                                     G_SOCKET_PROTOCOL_TCP, NULL, &eff, &gerr)) {
    *err = g_strdup_printf("cannot listen for RTMP on %s:%d: %s", bind, cfg->port, gerr->message);
    goto fail;
  }
  s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(eff));
  g_signal_connect(s->service, "incoming", G_CALLBACK(on_incoming), s);
  g_socket_service_start(s->service);
  GSource *t = g_timeout_source_new_seconds(1);
  g_source_set_callback(t, on_tick, s, NULL);
  s->tick = g_source_attach(t, s->ctx);
  g_source_unref(t);
  LC_INFO(NULL, NULL, "RTMP server listening on %s:%d (max %u connections, chunk size %u)", bind, s->port,
          s->cfg.max_connections, s->cfg.chunk_size);
  g_object_unref(ia);
  g_object_unref(addr);
  g_object_unref(eff);
  return s;

fail:
  g_clear_error(&gerr);
  g_clear_object(&ia);
  g_clear_object(&addr);
  g_clear_object(&eff);
  lc_rtmp_server_free(s);
  return NULL;
}

void
lc_rtmp_server_free(lc_rtmp_server *s)
{
  if (!s)
    return;
  if (s->service) {
    g_socket_service_stop(s->service);
    g_socket_listener_close(G_SOCKET_LISTENER(s->service));
    g_signal_handlers_disconnect_by_data(s->service, s);
    g_clear_object(&s->service);
  }
  while (s->conns)
    lc_rtmp_conn_close(s->conns->data, NULL, "server stopping");
  if (s->tick) {
    GSource *t = g_main_context_find_source_by_id(s->ctx, s->tick);
    if (t)
      g_source_destroy(t);
  }
  g_main_context_unref(s->ctx);
  lc_ipguard_free(s->auth_guard);
  lc_ipguard_free(s->hs_guard);
  lc_iplist_free(s->exempt);
  g_free(s);
}

int
lc_rtmp_server_port(lc_rtmp_server *s)
{
  return s->port;
}

void
lc_rtmp_server_get_stats(lc_rtmp_server *s, lc_rtmp_server_stats *out)
{
  out->connections = s->n_conns;
  out->publishing = s->n_publishing;
  out->accepted = s->accepted;
  out->refused = s->refused;
  out->bytes_in = s->bytes_in;
}

const char *
lc_rtmp_conn_id(lc_rtmp_conn *c)
{
  return c->id;
}

const char *
lc_rtmp_conn_peer(lc_rtmp_conn *c)
{
  return c->peer;
}

uint64_t
lc_rtmp_conn_bytes_in(lc_rtmp_conn *c)
{
  return c->bytes_in;
}

void
lc_rtmp_conn_set_data(lc_rtmp_conn *c, gpointer data)
{
  c->data = data;
}

gpointer
lc_rtmp_conn_get_data(lc_rtmp_conn *c)
{
  return c->data;
}

/* Websocket frame parser for the server side (RFC 6455 5): the frames a client sends,
 * fed as they come off the socket, in pieces of any size.
 *
 * Why our own: libwebsockets 4.1 parses client frames internally and shows the
 * application neither the mask bit (it accepts unmasked client frames, which 5.1 says
 * the server must refuse), nor pings (it answers them itself, so a ping flood passed
 * every rate limit), and it drops a control frame with a 16-bit length by closing the
 * TCP connection without a close frame. ws.c therefore reads the socket of an
 * established websocket itself and gives the bytes to this parser; lws keeps doing
 * the handshake and the writing.
 *
 * Checks, each a protocol error (close code 1002) unless noted: a frame without the
 * mask bit; reserved bits set (no extension is negotiated); an unknown opcode; a control
 * frame (close, ping, pong) that is fragmented or longer than 125 bytes (refused as soon
 * as its length byte arrives); a continuation frame outside a message, or a new text or
 * binary frame inside one; a 64-bit length with the top bit set; a close frame with a
 * 1-byte payload or a code no endpoint may send; a close reason that is not UTF-8
 * (1007). Text payloads are not checked for UTF-8 here (the protocol layer does).
 *
 * Pure: no I/O, no clock, no allocation after lc_ws_frames_new. Any thread, one parser
 * per connection. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lc_ws_frames lc_ws_frames;

/* Close codes the parser produces. */
#define LC_WS_CLOSE_PROTOCOL 1002
#define LC_WS_CLOSE_BAD_DATA 1007
/* The close code of a close frame without one (never sent on the wire). */
#define LC_WS_CLOSE_NO_STATUS 1005
/* Largest control frame payload. */
#define LC_WS_MAX_CONTROL 125

typedef struct {
  /* A piece of a text or binary message's payload, unmasked (borrowed for the call).
   * first: the first piece of the message; final: its last piece (the one ending the
   * frame with FIN). A message may arrive as many pieces, an empty one as one piece of
   * length 0. */
  void (*data)(void *user, bool first, bool final, bool binary, const uint8_t *piece, size_t len);
  /* A complete ping (pong = false) or pong, payload at most 125 bytes (borrowed). */
  void (*ping)(void *user, bool pong, const uint8_t *payload, size_t len);
  /* A valid close frame: code (LC_WS_CLOSE_NO_STATUS when it had none) and reason (UTF-8,
   * not NUL-terminated, borrowed). The parser ignores every byte after it. */
  void (*close)(void *user, int code, const char *reason, size_t len);
} lc_ws_frame_sink;

/* A parser at the start of a stream. Free with lc_ws_frames_free. */
lc_ws_frames *lc_ws_frames_new(void);
void lc_ws_frames_free(lc_ws_frames *p);

/* Parses len bytes of the stream (buf is unmasked in place, so it must be writable) and
 * calls the sink for what completes. Returns 0, or on the first protocol error its close
 * code (LC_WS_CLOSE_PROTOCOL / LC_WS_CLOSE_BAD_DATA) with *why (a static string saying
 * what was wrong, fit for a close frame's reason); from then on every call returns the
 * same error and calls nothing. */
int lc_ws_frames_feed(lc_ws_frames *p, uint8_t *buf, size_t len, const lc_ws_frame_sink *sink, void *user,
                      const char **why);
/* True once a close frame was parsed (what follows it is ignored). */
bool lc_ws_frames_closed(const lc_ws_frames *p);

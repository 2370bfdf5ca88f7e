/* Websocket frame parser, server side (ws_frame.h). A byte-at-a-time header state
 * machine (a header may be split anywhere) and a bulk path for payload bytes. */
#include "signaling/ws_frame.h"

#include <glib.h>
#include <string.h>

enum {
  OP_CONT = 0x0,
  OP_TEXT = 0x1,
  OP_BINARY = 0x2,
  OP_CLOSE = 0x8,
  OP_PING = 0x9,
  OP_PONG = 0xA,
};

struct lc_ws_frames {
  uint8_t hdr[14];       /* the current frame's header so far */
  size_t hdr_len, hdr_need;
  bool in_payload;       /* header done, `remaining` payload bytes to come */
  uint64_t remaining;
  uint8_t mask[4];
  unsigned mask_at;      /* position in the mask of the next payload byte */
  uint8_t opcode;
  bool fin;
  bool in_message;       /* between the first and the final frame of a data message */
  bool binary;           /* ... and it is binary */
  bool first_piece;      /* the message's first piece is still to be passed on */
  uint8_t ctl[LC_WS_MAX_CONTROL]; /* a control frame's payload */
  size_t ctl_len;
  int error;             /* sticky close code, 0 while fine */
  const char *why;
  bool closed;           /* a close frame was parsed */
};

lc_ws_frames *
lc_ws_frames_new(void)
{
  lc_ws_frames *p = g_new0(lc_ws_frames, 1);
  p->hdr_need = 2;
  return p;
}

void
lc_ws_frames_free(lc_ws_frames *p)
{
  g_free(p);
}

bool
lc_ws_frames_closed(const lc_ws_frames *p)
{
  return p->closed;
}

static int
fail(lc_ws_frames *p, int code, const char *why)
{
  p->error = code;
  p->why = why;
  return code;
}

static bool
is_control(uint8_t opcode)
{
  return opcode & 0x8;
}

/* First header byte: FIN, RSV1-3, opcode. */
static int
first_byte(lc_ws_frames *p, uint8_t b)
{
  p->fin = b & 0x80;
  p->opcode = b & 0x0F;
  if (b & 0x70)
    return fail(p, LC_WS_CLOSE_PROTOCOL, "reserved bits set");
  switch (p->opcode) {
  case OP_CONT:
    if (!p->in_message)
      return fail(p, LC_WS_CLOSE_PROTOCOL, "continuation frame outside a message");
    return 0;
  case OP_TEXT:
  case OP_BINARY:
    if (p->in_message)
      return fail(p, LC_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    return 0;
  case OP_CLOSE:
  case OP_PING:
  case OP_PONG:
    if (!p->fin)
      return fail(p, LC_WS_CLOSE_PROTOCOL, "fragmented control frame");
    return 0;
  default:
    return fail(p, LC_WS_CLOSE_PROTOCOL, "unknown opcode");
  }
}

/* Second header byte: MASK, 7-bit length; sets how long the header is. */
static int
second_byte(lc_ws_frames *p, uint8_t b)
{
  if (!(b & 0x80))
    return fail(p, LC_WS_CLOSE_PROTOCOL, "unmasked client frame");
  unsigned len7 = b & 0x7F;
  if (is_control(p->opcode) && len7 > LC_WS_MAX_CONTROL)
    return fail(p, LC_WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
  p->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
  return 0;
}

/* The close frame's payload is complete: check it and pass it on. */
static int
close_frame(lc_ws_frames *p, const lc_ws_frame_sink *sink, void *user)
{
  int code = LC_WS_CLOSE_NO_STATUS;
  if (p->ctl_len == 1)
    return fail(p, LC_WS_CLOSE_PROTOCOL, "close frame of one byte");
  if (p->ctl_len >= 2) {
    code = (p->ctl[0] << 8) | p->ctl[1];
    /* RFC 6455 7.4: codes an endpoint may send (1004-1006 and 1015 are reserved, below
     * 1000 and 1016-2999 unassigned; 1012-1014 were registered later). */
    bool ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    if (!ok)
      return fail(p, LC_WS_CLOSE_PROTOCOL, "invalid close code");
    if (!g_utf8_validate((const char *)p->ctl + 2, (gssize)(p->ctl_len - 2), NULL))
      return fail(p, LC_WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
  }
  p->closed = true;
  if (sink->close)
    sink->close(user, code, p->ctl_len > 2 ? (const char *)p->ctl + 2 : "", p->ctl_len > 2 ? p->ctl_len - 2 : 0);
  return 0;
}

/* The header is complete: read the length and the mask, start the payload. */
static int
header_done(lc_ws_frames *p)
{
  unsigned len7 = p->hdr[1] & 0x7F;
  size_t at = 2;
  uint64_t len = len7;
  if (len7 == 126) {
    len = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
    at = 4;
  } else if (len7 == 127) {
    if (p->hdr[2] & 0x80)
      return fail(p, LC_WS_CLOSE_PROTOCOL, "frame length out of range");
    len = 0;
    for (int i = 0; i < 8; i++)
      len = (len << 8) | p->hdr[2 + i];
    at = 10;
  }
  memcpy(p->mask, p->hdr + at, 4);
  p->mask_at = 0;
  p->remaining = len;
  p->in_payload = true;
  p->ctl_len = 0;
  if (!is_control(p->opcode) && p->opcode != OP_CONT) {
    p->in_message = true;
    p->binary = p->opcode == OP_BINARY;
    p->first_piece = true;
  }
  return 0;
}

/* The current frame's payload is all in. */
static int
frame_done(lc_ws_frames *p, const lc_ws_frame_sink *sink, void *user)
{
  p->in_payload = false;
  p->hdr_len = 0;
  p->hdr_need = 2;
  switch (p->opcode) {
  case OP_CLOSE:
    return close_frame(p, sink, user);
  case OP_PING:
  case OP_PONG:
    if (sink->ping)
      sink->ping(user, p->opcode == OP_PONG, p->ctl, p->ctl_len);
    return 0;
  default:
    if (p->fin)
      p->in_message = false;
    return 0;
  }
}

/* Unmasks n payload bytes in place. */
static void
unmask(lc_ws_frames *p, uint8_t *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    b[i] ^= p->mask[(p->mask_at + i) & 3];
  p->mask_at = (unsigned)((p->mask_at + n) & 3);
}

int
lc_ws_frames_feed(lc_ws_frames *p, uint8_t *buf, size_t len, const lc_ws_frame_sink *sink, void *user,
                  const char **why)
{
  size_t i = 0;
  int rc = p->error;
  while (!rc && !p->closed) {
    if (!p->in_payload) {
      if (i == len)
        break;
      uint8_t b = buf[i++];
      p->hdr[p->hdr_len++] = b;
      if (p->hdr_len == 1)
        rc = first_byte(p, b);
      else if (p->hdr_len == 2)
        rc = second_byte(p, b);
      if (!rc && p->hdr_len == p->hdr_need)
        rc = header_done(p);
      if (rc || !p->in_payload || p->remaining)
        continue;
      /* an empty frame: nothing more to wait for */
    }
    size_t n = (size_t)MIN(p->remaining, (uint64_t)(len - i));
    if (n == 0 && p->remaining)
      break; /* wait for more bytes */
    unmask(p, buf + i, n);
    p->remaining -= n;
    if (is_control(p->opcode)) {
      memcpy(p->ctl + p->ctl_len, buf + i, n); /* at most 125 in all: checked at the length byte */
      p->ctl_len += n;
    } else {
      bool first = p->first_piece;
      p->first_piece = false;
      if (sink->data)
        sink->data(user, first, p->fin && p->remaining == 0, p->binary, buf + i, n);
    }
    i += n;
    if (p->remaining == 0)
      rc = frame_done(p, sink, user);
  }
  if (rc && why)
    *why = p->why;
  return rc;
}

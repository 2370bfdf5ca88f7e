"""Websocket transport and payment-callback route of the real livecartd: the limits
and edge cases of signaling/ws.c and the POST /api/payments/callback checks in
signaling/http*.c (the protocol itself is covered by test_show.py)."""
import asyncio
import hashlib
import hmac
import json
import os
import socket
import struct
import time

import pytest
import websockets

import lc
from showlib import run, server_args, setup_room

PAY_SECRET = "merchant-secret-ws"


@pytest.fixture(scope="module")
def server():
    s = lc.Server(extra=server_args() + ["ws.max_connections=4", "ws.rate=20", "ws.burst=40",
                                         "ws.max_message_bytes=8192",
                                         f"payments.callback_secret={PAY_SECRET}"]).start()
    setup_room(s)
    yield s
    assert s.stop() == 0, s.log_text()[-3000:]
    s.close()


def url(s, path="/ws"):
    return f"ws://127.0.0.1:{s.http_port}{path}"


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, t, timeout=5):
    """Skips messages until one of type t arrives."""
    deadline = time.time() + timeout
    while True:
        m = await recv_json(ws, max(0.1, deadline - time.time()))
        if m["type"] == t:
            return m


def hello():
    return json.dumps({"type": "hello", "v": 1, "room": "demo"})


def test_no_subprotocol_and_fragmented_hello(server):
    async def go():
        async with websockets.connect(url(server), ping_interval=None) as ws:  # names no subprotocol
            h = hello()
            await ws.send([h[:5], h[5:20], h[20:]])  # one message in three frames
            w = await recv_json(ws)
            assert w["type"] == "welcome" and w["room"] == "demo"
    run(go())


def test_too_large_and_binary_are_refused_connection_stays(server):
    async def go():
        async with websockets.connect(url(server), subprotocols=["livecart.v1"], ping_interval=None) as ws:
            await ws.send(hello())
            await recv_type(ws, "snapshot")
            await ws.send("x" * 8193)
            e = await recv_type(ws, "error")
            assert e["error"]["code"] == "too_large"
            await ws.send(["y" * 5000, "y" * 5000])  # too large across fragments
            e = await recv_type(ws, "error")
            assert e["error"]["code"] == "too_large"
            await ws.send(b"\x01\x02")
            e = await recv_type(ws, "error")
            assert e["error"]["code"] == "bad_message"
            await ws.send(json.dumps({"type": "ping", "c": 7}))
            p = await recv_type(ws, "pong")
            assert p["c"] == 7
    run(go())


def test_rate_limit_then_close_4001(server):
    async def go():
        async with websockets.connect(url(server), subprotocols=["livecart.v1"], ping_interval=None,
                                      max_queue=None) as ws:
            await ws.send(hello())
            await recv_type(ws, "snapshot")
            for i in range(60):
                await ws.send(json.dumps({"type": "ping", "c": i}))
            e = await recv_type(ws, "error")
            assert e["error"]["code"] == "rate_limited"
            with pytest.raises(websockets.ConnectionClosed) as ei:
                for i in range(3000):
                    await ws.send(json.dumps({"type": "ping", "c": i}))
                    await asyncio.sleep(0.0005)
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert ei.value.code == 4001
    run(go())


def test_handshake_refusals_are_json(server):
    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            await websockets.connect(url(server, "/elsewhere"))
        assert ei.value.status_code == 404
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            await websockets.connect(url(server), subprotocols=["chat"])
        assert ei.value.status_code == 400
        conns = [await websockets.connect(url(server), ping_interval=None) for _ in range(4)]
        try:
            with pytest.raises(websockets.InvalidStatusCode) as ei:
                await websockets.connect(url(server))
            assert ei.value.status_code == 503
            assert ei.value.headers["content-type"] == "application/json"
        finally:
            for c in conns:
                await c.close()
        await asyncio.sleep(0.3)
        async with websockets.connect(url(server), ping_interval=None) as ws:  # room again
            await ws.send(hello())
            assert (await recv_json(ws))["type"] == "welcome"
    run(go())
    # the body of a refusal, read raw
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"}}" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert json.loads(body)["error"]["code"] == "not_found"


def test_ws_metrics(server):
    async def go():
        async with websockets.connect(url(server), ping_interval=None) as ws:
            await ws.send(hello())
            await recv_type(ws, "snapshot")
            st, _, body = server.request("GET", "/metrics")
            return st, body.decode()
    st, text = run(go())
    assert st == 200
    values = {}
    for line in text.splitlines():
        if line.startswith("livecart_ws_") or line.startswith("livecart_http_connections"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert values["livecart_ws_connections"] == 1
    assert values["livecart_ws_messages_in_total"] >= 1
    assert values["livecart_ws_messages_out_total"] >= 2
    assert values['livecart_ws_refused_total{reason="too_large"}'] >= 0
    assert "livecart_ws_dropped_total" in values and "livecart_ws_resyncs_total" in values


# ---- hostile frames on a raw socket (RFC 6455 5): our own parser, not lws', reads them ----

WS_UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def frame(op, payload=b"", fin=True, mask=True, rsv=0, long16=False):
    """One client frame built by hand (RFC 6455 5.2)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    m = 0x80 if mask else 0
    if long16 or 126 <= n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    elif n >= 65536:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    else:
        head += bytes([m | n])
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWs:
    """A websocket client on a plain socket: sends any bytes, reads the server's frames."""

    def __init__(self, server, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout)
        self.s.sendall(WS_UPGRADE)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, data):
        self.s.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)  # socket.timeout: the test fails
            if not chunk:
                raise EOFError
            self.buf += chunk

    def frame(self):
        """(opcode, payload) of the next server frame; EOFError at the end of the stream."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames are never masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        assert b0 & 0x80, "the server does not fragment"
        return b0 & 0x0F, payload

    def until_close(self):
        """Reads up to the server's close frame: (close code or None, reason, frames before it);
        then asserts that the server ends the TCP stream right after it."""
        before = []
        while True:
            op, payload = self.frame()
            if op == CLOSE:
                break
            before.append((op, payload))
        code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
        t0 = time.monotonic()
        with pytest.raises(EOFError):
            self.frame()
        assert time.monotonic() - t0 < 2, "the server kept the socket open after its close frame"
        return code, payload[2:].decode(), before

    def close(self):
        self.s.close()


def ws_metric(server, name):
    _, _, body = server.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def assert_serves_a_new_client(server):
    async def go():
        async with websockets.connect(url(server), ping_interval=None) as ws:
            await ws.send(hello())
            assert (await recv_json(ws))["type"] == "welcome"
    run(go())


HOSTILE_FRAMES = {
    # RFC 6455 5.1: a server must close on an unmasked client frame (lws 4.1 accepted it)
    "unmasked text": frame(TEXT, hello().encode(), mask=False),
    "unmasked ping": frame(PING, b"x", mask=False),
    # 5.5: control frames carry at most 125 bytes (lws 4.1 dropped the TCP connection, no close frame)
    "ping of 126 bytes": frame(PING, b"p" * 126),
    "pong of 300 bytes": frame(PONG, b"p" * 300),
    "short ping in the 16-bit length form": frame(PING, b"p", long16=True),
    "fragmented ping": frame(PING, b"p", fin=False),
    "reserved bit": frame(TEXT, b"{}", rsv=4),
    "unknown opcode": frame(3, b"x"),
    "continuation first": frame(CONT, b"x"),
    "new message inside a fragmented one": frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
    "close of one byte": frame(CLOSE, b"\x03"),
    "reserved close code": frame(CLOSE, b"\x03\xed"),
    "64-bit length with the top bit": bytes([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]) + os.urandom(4),
}


@pytest.mark.parametrize("what", list(HOSTILE_FRAMES))
def test_protocol_violation_closes_1002(server, what):
    before = ws_metric(server, "livecart_ws_protocol_errors_total")
    c = RawWs(server)
    try:
        c.send(frame(TEXT, hello().encode()))
        op, payload = c.frame()
        assert op == TEXT and json.loads(payload)["type"] == "welcome"
        c.send(HOSTILE_FRAMES[what])
        code, reason, _ = c.until_close()
        assert code == 1002, (code, reason)
        assert reason
    finally:
        c.close()
    assert ws_metric(server, "livecart_ws_protocol_errors_total") == before + 1
    assert_serves_a_new_client(server)


def test_close_reason_not_utf8_closes_1007(server):
    c = RawWs(server)
    try:
        c.send(frame(CLOSE, b"\x03\xe8\xff\xfe"))
        code, _, _ = c.until_close()
        assert code == 1007
    finally:
        c.close()


def test_unmasked_hello_is_never_answered(server):
    # the frame is refused before its payload is looked at: no welcome, only the close
    c = RawWs(server)
    try:
        c.send(frame(TEXT, hello().encode(), mask=False))
        code, reason, before = c.until_close()
        assert (code, reason, before) == (1002, "unmasked client frame", [])
    finally:
        c.close()
    assert_serves_a_new_client(server)


def test_ping_is_answered_with_its_payload(server):
    c = RawWs(server)
    try:
        for payload in (b"", b"abc", b"p" * 125):
            c.send(frame(PING, payload))
            assert c.frame() == (PONG, payload)
        c.send(frame(PONG, b"unsolicited"))  # allowed, needs no answer
        h = hello().encode()
        c.send(frame(TEXT, h[:1], fin=False) + frame(PING, b"mid") + frame(CONT, h[1:]))
        got = []  # the pong, the welcome and the snapshot, in any order
        while (PONG, b"mid") not in got or len(got) < 3:
            got.append(c.frame())
        assert any(op == TEXT and json.loads(p)["type"] == "welcome" for op, p in got), got
    finally:
        c.close()


def test_ping_flood_is_rate_limited_and_closed_4001(server):
    """Pings take tokens from the message bucket (rate 20/s, burst 40 here): a flood gets no more
    pongs than the bucket allows and is closed with 4001 like a message flood."""
    before = ws_metric(server, 'livecart_ws_refused_total{reason="rate"}')
    c = RawWs(server)
    try:
        c.send(frame(TEXT, hello().encode()))
        c.send(b"".join(frame(PING, b"%d" % i) for i in range(3000)))
        code, reason, frames = c.until_close()
        assert (code, reason) == (4001, "rate limit")
        pongs = [p for op, p in frames if op == PONG]
        assert 1 <= len(pongs) <= 41, len(pongs)
    finally:
        c.close()
    assert ws_metric(server, 'livecart_ws_refused_total{reason="rate"}') >= before + 100
    assert_serves_a_new_client(server)


def test_client_close_is_answered_at_once(server):
    for sent, want in ((b"\x03\xe8bye", b"\x03\xe8"), (b"", b""), (b"\x0f\xa0", b"\x0f\xa0")):
        c = RawWs(server)
        try:
            c.send(frame(TEXT, hello().encode()))
            assert json.loads(c.frame()[1])["type"] == "welcome"
            t0 = time.monotonic()
            c.send(frame(CLOSE, sent))
            while True:
                op, payload = c.frame()
                if op == CLOSE:
                    break
            assert payload == want  # the code echoed, no reason
            with pytest.raises(EOFError):
                c.frame()
            assert time.monotonic() - t0 < 2
        finally:
            c.close()


def test_peer_gone_without_close_is_noticed(server):
    c = RawWs(server)
    c.send(frame(TEXT, hello().encode()))
    assert json.loads(c.frame()[1])["type"] == "welcome"
    c.close()  # no close frame, just the TCP end

    def connections():
        return ws_metric(server, "livecart_ws_connections")
    deadline = time.monotonic() + 5
    while connections() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections() == 0


# ---- POST /api/payments/callback: the checks before the store is involved ----

def sign(body, secret=PAY_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(server, body, sig=None, headers=None):
    h = {"Content-Type": "application/json"}
    if sig is not False:
        h["X-Livecart-Signature"] = sig if sig is not None else sign(body)
    h.update(headers or {})
    st, _, resp = server.request("POST", "/api/payments/callback", body=body, headers=h)
    return st, json.loads(resp) if resp else None


def payload(**kw):
    d = {"room": "demo", "order_id": "o-missing", "status": "paid", "ts": int(time.time() * 1000)}
    d.update(kw)
    return json.dumps(d).encode()


@pytest.mark.parametrize("sig", [False, "sha256=abc", "md5=" + "0" * 64, "sha256=" + "z" * 64])
def test_payment_malformed_signature_is_401(server, sig):
    st, b = post(server, payload(), sig=sig)
    assert st == 401 and b["error"]["code"] == "unauthorized"


def test_payment_signature_with_other_secret_is_401(server):
    body = payload()
    st, b = post(server, body, sig=sign(body, "not-the-secret"))
    assert st == 401 and b["error"]["code"] == "unauthorized"


def test_payment_stale_timestamp_is_401(server):
    for ts in (int(time.time() * 1000) - 6 * 60_000, int(time.time() * 1000) + 6 * 60_000):
        st, b = post(server, payload(ts=ts))
        assert st == 401 and b["error"]["code"] == "stale"


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b"",
                                  payload(status="refunded"), payload(ts="123"), payload(order_id=5),
                                  payload(payment_ref=7)])
def test_payment_malformed_signed_body_is_400(server, body):
    st, b = post(server, body)
    assert st == 400 and b["error"]["code"] == "bad_request"


def test_payment_verified_body_reaches_the_hook(server):
    # a verified callback for an order that does not exist: the daemon's hook answers 404
    # (the route itself would have said 400/401); the header name is case-insensitive
    body = payload()
    st, b = post(server, body, sig=False, headers={"x-LIVECART-signature": sign(body)})
    assert st == 404 and b["error"]["code"] == "not_found", b


def test_payment_route_methods_and_limits(server):
    st, h, _ = server.request("GET", "/api/payments/callback")
    assert st == 405 and {k.lower(): v for k, v in h.items()}["allow"] == "POST, OPTIONS"
    st, _, _ = server.request("OPTIONS", "/api/payments/callback")
    assert st == 204
    # chunked bodies cannot be read with lws 4.1: 411
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        body = payload()
        s.sendall(b"POST /api/payments/callback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"X-Livecart-Signature: " + sign(body).encode() + b"\r\n\r\n"
                  + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 411")


def test_payment_client_gone_before_answer_is_harmless(server):
    body = payload()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(b"POST /api/payments/callback HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                  b"X-Livecart-Signature: %s\r\n\r\n" % (len(body), sign(body).encode()) + body)
    time.sleep(0.3)
    st, _, _ = server.request("GET", "/healthz")
    assert st == 200


def test_payment_route_disabled_without_secret():
    s = lc.Server(extra=server_args()).start()
    try:
        body = payload()
        st, b = post(s, body)
        assert st == 404 and b["error"]["code"] == "not_found"
        assert s.stop() == 0
    finally:
        s.close()


def test_unsigned_payment_callbacks_are_refused_before_their_body():
    s = lc.Server(extra=["payments.callback_secret=sekrit"]).start()
    try:
        with socket.create_connection(("127.0.0.1", s.http_port), timeout=5) as c:
            # announces 1 MiB but sends none of it: answered at once, nothing buffered
            c.sendall(b"POST /api/payments/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
            head = c.recv(4096).split(b"\r\n", 1)[0]
        assert b"401" in head
        with socket.create_connection(("127.0.0.1", s.http_port), timeout=5) as c:
            c.sendall(b"POST /api/payments/callback HTTP/1.1\r\nHost: x\r\nX-Livecart-Signature: sha256=00\r\n"
                      b"Content-Length: 1048576\r\n\r\n")
            head = c.recv(4096).split(b"\r\n", 1)[0]
        assert b"413" in head
        assert s.stop() == 0
    finally:
        s.close()

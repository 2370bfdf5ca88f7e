"""Per-address limits ([limits], base/ipguard.c) on the real livecartd with real clients:
a burst of failed credentials from one address (WHIP Bearer, payment signature, RTMP stream key
over a raw RTMP client) is locked out with 429 / NetStream.Publish.Denied, a right credential
from that address is refused too while the lock lasts, the log holds a few lines instead of one
per attempt, another address (127.0.0.2, also loopback) is not affected, and everything is
allowed again once the lockout or the rate window has passed. Also the WHEP/WHIP offer rate and
the per-address cap of RTMP connections still before publishing."""
import hashlib
import hmac
import http.client
import json
import re
import socket
import struct
import time

import pytest

import lc
from medialib import create_room

USES_MEDIA = True  # a right RTMP key starts a ladder (GStreamer) in the server

A, B = "127.0.0.1", "127.0.0.2"  # two client addresses on loopback
PAY_SECRET = "limits-secret"
LOCKOUT_S = 3
FAILS = 5


def start(extra=()):
    """A server with small limits; the offer rate stays high (every WHIP offer counts in it too)
    except where a test sets it."""
    s = lc.Server(extra=[f"limits.auth_failures_per_min={FAILS}", f"limits.auth_lockout_s={LOCKOUT_S}",
                         "limits.whep_sessions_per_ip_per_10s=1000", "limits.rtmp_handshakes_per_ip=3",
                         f"payments.callback_secret={PAY_SECRET}", "log.level=info", *extra])
    from conftest import media_env
    s.env.update(media_env())
    s.start()
    create_room(s, "r1", "right-key")
    return s


@pytest.fixture
def server():
    s = start()
    yield s
    rc = s.stop()
    log = s.log_text()
    s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def request(s, method, path, body=None, headers=None, source=A):
    c = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=10, source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def whip(s, key, source=A):
    h = {"Content-Type": "application/sdp"}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    return request(s, "POST", "/whip/r1", body=b"v=0\r\n", headers=h, source=source)


def whep(s, source=A):
    """A WHEP offer to r1, where nothing is published: an offer the limiter lets through gets 404
    (nothing to play, checked before the offer is read), a refused one 429."""
    return request(s, "POST", "/whep/r1", body=b"v=0\r\n", headers={"Content-Type": "application/sdp"}, source=source)


def pay(s, secret, source=A):
    body = json.dumps({"room": "r1", "order_id": "o-none", "status": "paid",
                       "ts": int(time.time() * 1000)}).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return request(s, "POST", "/api/payments/callback", body=body,
                   headers={"Content-Type": "application/json", "X-Livecart-Signature": f"sha256={sig}"},
                   source=source)


def warn_lines(s, needle=""):
    return [l for l in s.log_text().splitlines() if " WARN " in l and needle in l]


def error_code(body):
    return json.loads(body)["error"]["code"]


def until_allowed(attempt, refused_status, deadline_s):
    """Repeats attempt() until its status is not refused_status; returns (status, seconds waited).
    A refused attempt is not counted by the limits, so polling does not extend them."""
    t0 = time.monotonic()
    while True:
        st = attempt()
        if st != refused_status:
            return st, time.monotonic() - t0
        assert time.monotonic() - t0 < deadline_s, f"still {refused_status} after {deadline_s} s"
        time.sleep(0.1)


# ---- a raw RTMP publisher: handshake, connect, createStream, publish ----

def amf_str(v):
    b = v.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(v):
    return b"\x00" + struct.pack(">d", v)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + amf_str(v)
    return out + b"\x00\x00\x09"


def rtmp_message(msid, payload, csid=3):
    """An AMF0 command (type 20) in 128-byte chunks (the default chunk size)."""
    out = bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", len(payload))[1:] + b"\x14" + struct.pack("<I", msid)
    for i in range(0, len(payload), 128):
        if i:
            out += bytes([0xC0 | csid])
        out += payload[i:i + 128]
    return out


def rtmp_connect(s, source=A, timeout=10):
    sock = socket.create_connection(("127.0.0.1", s.rtmp_port), timeout=timeout, source_address=(source, 0))
    return sock


def rtmp_handshake(sock):
    sock.sendall(b"\x03" + b"\x00" * 1536)
    got = b""
    while len(got) < 1 + 1536 + 1536:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        got += chunk
    sock.sendall(got[1:1 + 1536])  # C2 echoes S1


def rtmp_publish(s, key, source=A):
    """Publishes to r1 with key; returns the first NetStream.Publish.* status the server sends
    and its description (or ("closed", "")), reading until that status or the connection ends."""
    sock = rtmp_connect(s, source)
    try:
        rtmp_handshake(sock)
        url = f"rtmp://127.0.0.1:{s.rtmp_port}/live"
        sock.sendall(rtmp_message(0, amf_str("connect") + amf_num(1) + amf_obj({"app": "live", "tcUrl": url})))
        sock.sendall(rtmp_message(0, amf_str("createStream") + amf_num(2) + b"\x05"))
        sock.sendall(rtmp_message(1, amf_str("publish") + amf_num(3) + b"\x05" + amf_str(f"r1?key={key}")
                                  + amf_str("live"), csid=5))
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = re.search(rb"NetStream\.Publish\.(\w+)\x00\x0bdescription\x02(..)", got, re.S)
            if m:
                n = struct.unpack(">H", m.group(2))[0]
                start = m.end()
                if len(got) >= start + n:
                    return m.group(1).decode(), got[start:start + n].decode()
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return "closed", ""
            got += chunk
        raise AssertionError(f"no publish status: {got[-200:]!r}")
    finally:
        sock.close()


# ---- WHIP Bearer ----

def test_whip_wrong_keys_lock_the_address_out(server):
    s = server
    for i in range(FAILS):
        st, _, body = whip(s, f"wrong-{i}")
        assert st == 401, body
    before = len(warn_lines(s))
    # Locked: a burst of 200 more is refused before the key is even looked at.
    t0 = time.monotonic()
    for i in range(200):
        st, h, body = whip(s, f"wrong-{i}")
        assert st == 429, body
    burst_s = time.monotonic() - t0
    assert error_code(body) == "too_many_requests"
    assert 1 <= int(h["Retry-After"]) <= LOCKOUT_S
    # The right key from the same address is refused too while the lock lasts (a guesser must
    # not learn which key was right), and so is a WHIP offer without any key.
    st, h, body = whip(s, "right-key")
    assert st == 429 and "Retry-After" in h, body
    assert whip(s, None)[0] == 429
    # Another address is not affected: its right key reaches the offer check (a bad SDP: 400).
    st, _, body = whip(s, "right-key", source=B)
    assert st == 400 and error_code(body) == "bad_offer", body
    # WHEP (no credentials) from the locked address still works: only credentials are locked.
    assert whep(s)[0] == 404
    # The log: one line per failure before the lock, one for the lock; the 202 refusals after it
    # go into the per-minute summary, so not one more line now.
    assert len(warn_lines(s, "limits.auth_failures_per_min")) == 1, warn_lines(s)
    assert len(warn_lines(s, "WHIP publish refused: wrong stream key")) == FAILS, warn_lines(s)
    assert len(warn_lines(s)) - before <= 1, warn_lines(s)[before:]
    print(f"200 locked-out WHIP offers answered in {burst_s:.2f} s; WARN lines {before} -> {len(warn_lines(s))}")
    # After the lockout the right key is accepted again (400: the key passed, the SDP did not).
    st, waited = until_allowed(lambda: whip(s, "right-key")[0], 429, LOCKOUT_S + 5)
    assert st == 400
    assert waited >= LOCKOUT_S - 1.5, waited
    # and the bucket starts empty: FAILS-1 more failures are answered 401, not 429.
    for i in range(FAILS - 1):
        assert whip(s, "wrong")[0] == 401


# ---- payment callback signatures ----

def test_bad_payment_signatures_lock_the_address_out(server):
    s = server
    for _ in range(FAILS):
        st, _, body = pay(s, "not-the-secret")
        assert st == 401 and error_code(body) == "unauthorized", body
    before = len(warn_lines(s))
    for _ in range(300):
        st, h, body = pay(s, "not-the-secret")
        assert st == 429 and error_code(body) == "too_many_requests", body
    # A rightly signed callback is refused too while locked; from another address it goes through
    # (the order does not exist: 404 from the store, so the signature was accepted).
    st, h, _ = pay(s, PAY_SECRET)
    assert st == 429 and int(h["Retry-After"]) >= 1
    st, _, body = pay(s, PAY_SECRET, source=B)
    assert st == 404, body
    assert len(warn_lines(s, "the last: bad payment signature")) == 1, warn_lines(s)  # the lock
    assert len(warn_lines(s)) - before <= 1, warn_lines(s)[before:]
    st, waited = until_allowed(lambda: pay(s, PAY_SECRET)[0], 429, LOCKOUT_S + 5)
    assert st == 404 and waited >= LOCKOUT_S - 1.5


# ---- WHEP/WHIP offer rate ----

@pytest.fixture
def rate_server():
    s = start(extra=["limits.whep_sessions_per_ip_per_10s=5"])
    yield s
    rc = s.stop()
    log = s.log_text()
    s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def test_whep_offer_rate_per_address(rate_server):
    s = rate_server
    # 5 offers per 10 s: a burst of 5 reaches the offer check (nothing published: 404), then 429.
    for _ in range(5):
        assert whep(s)[0] == 404
    refused = 0
    for _ in range(500):
        st, h, body = whep(s)
        if st == 429:
            refused += 1
            assert error_code(body) == "too_many_requests"
            assert 1 <= int(h["Retry-After"]) <= 2  # one more fits every 2 s
    assert refused >= 495, refused  # at most what drained meanwhile got through
    assert whep(s, source=B)[0] == 404  # another address has its own budget
    assert len(warn_lines(s, "WHEP offer refused (429)")) == 1, warn_lines(s)
    # The bucket drains: one more offer is allowed within ~2 s, not the whole burst.
    st, waited = until_allowed(lambda: whep(s)[0], 429, 5)
    assert st == 404
    assert whep(s)[0] == 429


# ---- RTMP ----

def test_rtmp_wrong_keys_lock_the_address_out(server):
    s = server
    for i in range(FAILS):
        code, desc = rtmp_publish(s, f"wrong-{i}")
        assert code == "BadName", (code, desc)
    before = len(warn_lines(s))
    t0 = time.monotonic()
    for i in range(30):
        code, desc = rtmp_publish(s, f"wrong-{i}")
        assert code == "Denied", (code, desc)
    burst_s = time.monotonic() - t0
    assert "too many wrong stream keys" in desc and "retry in" in desc, desc
    code, desc = rtmp_publish(s, "right-key")  # refused during the lock, right key or not
    assert code == "Denied", (code, desc)
    assert len(warn_lines(s, "limits.auth_failures_per_min")) == 1, warn_lines(s)  # the lock
    assert len(warn_lines(s)) - before <= 1, warn_lines(s)[before:]  # 31 refusals: summarised
    print(f"31 locked-out RTMP publishes refused in {burst_s:.2f} s")
    # After the lock the right key publishes.
    deadline = time.monotonic() + LOCKOUT_S + 10
    while True:
        code, desc = rtmp_publish(s, "right-key")
        if code != "Denied":
            break
        assert time.monotonic() < deadline, desc
        time.sleep(0.2)
    assert code == "Start", (code, desc)


def test_rtmp_handshakes_per_address_are_capped(server):
    s = server
    idle = [rtmp_connect(s) for _ in range(3)]  # three half-open connections (no C0/C1 yet)
    try:
        # Wait until the server has accepted all three (its connection count says so).
        deadline = time.monotonic() + 10
        while s.call("media.status")["result"]["ingest"]["rtmp"]["connections"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A fourth from the same address is closed at once, before any byte is answered.
        extra = rtmp_connect(s)
        assert extra.recv(65536) == b""  # closed by the server (EOF), nothing sent
        extra.close()
        # Another address still gets in and publishes with its key.
        assert rtmp_publish(s, "right-key", source=B)[0] == "Start"
        # One of the three leaves: a new connection from A is served again.
        idle.pop().close()
        deadline = time.monotonic() + 10
        while True:
            c = rtmp_connect(s)
            try:
                rtmp_handshake(c)
                break
            except (ConnectionError, OSError):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            finally:
                c.close()
        assert len(warn_lines(s, "limits.rtmp_handshakes_per_ip")) == 1, warn_lines(s)
    finally:
        for c in idle:
            c.close()


def test_bad_exempt_list_stops_the_start():
    s = lc.Server(extra=["limits.exempt=10.0.0.0/8, intranet"])
    s.spawn()
    try:
        assert s.proc.wait(timeout=30) == 2
        assert "limits.exempt: 'intranet' is not an IP address or prefix" in s.log_text()
    finally:
        s.close()


def test_exempt_addresses_are_not_limited():
    s = start(extra=["limits.exempt=127.0.0.2"])
    try:
        for _ in range(3 * FAILS):
            assert whip(s, "wrong", source=B)[0] == 401
            assert whep(s, source=B)[0] == 404
        for _ in range(FAILS):
            whip(s, "wrong")
        assert whip(s, "wrong")[0] == 429  # 127.0.0.1 is not exempt
    finally:
        assert s.stop() == 0, s.log_text()[-3000:]
        s.close()

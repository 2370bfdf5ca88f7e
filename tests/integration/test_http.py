"""The HTTP server of the real livecartd: routes, JSON errors, limits, hostile input,
static files and the Prometheus /metrics text (parsed, not grepped)."""
import http.client
import json
import math
import os
import re
import socket
import time

import pytest

import lc
from conftest import media_env
from medialib import create_room, ffmpeg_rtmp, renditions, wait_for
from showlib import Viewer, run, server_args


# ---- helpers ---------------------------------------------------------------

def raw(server, data, timeout=5, read=True):
    """Sends raw bytes on a new connection; returns everything read until close/timeout."""
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        if read:
            while True:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        s.close()
    return out


def parse_raw_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def assert_json_error(status, headers, body, want_status, want_code):
    assert status == want_status, (status, body)
    assert lower(headers)["content-type"].startswith("application/json")
    err = json.loads(body)["error"]
    assert err["code"] == want_code
    assert isinstance(err["message"], str) and err["message"]


def assert_alive(server):
    status, body = server.get_json("/healthz")
    assert status == 200 and body["status"] == "ok"


# A small parser for the Prometheus text format 0.0.4.
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Returns (types, samples); samples are (name, labels dict, value). Asserts the
    structure: HELP then TYPE once per family, every sample in a declared family."""
    assert text.endswith("\n")
    types, helps, samples = {}, set(), []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name in helps, f"TYPE without HELP: {line}"
            assert name not in types, f"family declared twice: {name}"
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE_RE.match(line)
        assert m, f"malformed sample line: {line!r}"
        name, _, labeltext, value = m.groups()
        labels = dict(LABEL_RE.findall(labeltext or ""))
        if labeltext:
            rebuilt = ",".join(f'{k}="{v}"' for k, v in LABEL_RE.findall(labeltext))
            assert rebuilt == labeltext, f"malformed labels: {line!r}"
        v = float(value)  # accepts +Inf / NaN spelled the Prometheus way
        family = name
        if family not in types:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)]
                if name.endswith(suffix) and types.get(base) == "histogram":
                    family = base
                    break
        assert family in types, f"sample {name} has no declared family"
        samples.append((name, labels, v))
    return types, samples


def check_histograms(types, samples):
    """Buckets ascend in le and count, end at +Inf, and +Inf equals _count."""
    checked = 0
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for name, labels, v in samples:
            if name == fam + "_bucket":
                key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
                series.setdefault(key, []).append((float(labels["le"]), v))
        counts = {tuple(sorted(l.items())): v for n, l, v in samples if n == fam + "_count"}
        sums = {tuple(sorted(l.items())): v for n, l, v in samples if n == fam + "_sum"}
        assert series, f"histogram {fam} without buckets"
        for key, buckets in series.items():
            les = [le for le, _ in buckets]
            assert les == sorted(les) and len(set(les)) == len(les), f"{fam}: le not ascending"
            assert math.isinf(les[-1]) and les[-1] > 0, f"{fam}: no +Inf bucket"
            values = [c for _, c in buckets]
            assert values == sorted(values), f"{fam}: buckets not cumulative"
            assert counts[key] == values[-1], f"{fam}: +Inf bucket != _count"
            assert key in sums
            checked += 1
    return checked


def metrics(server):
    status, headers, body = server.request("GET", "/metrics")
    assert status == 200
    assert lower(headers)["content-type"].startswith("text/plain; version=0.0.4")
    return parse_prometheus(body.decode("utf-8"))


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == x for k, x in labels.items()):
            return v
    return None


# ---- routes ----------------------------------------------------------------

def test_healthz_fields(server):
    status, headers, body = server.request("GET", "/healthz")
    assert status == 200
    h = lower(headers)
    assert h["content-type"] == "application/json"
    assert h["access-control-allow-origin"] == "*"  # the default cors_origin
    doc = json.loads(body)
    assert doc["status"] == "ok"
    assert doc["version"] == lc_version()
    assert isinstance(doc["uptime_s"], int) and 0 <= doc["uptime_s"] < 300
    # fields added by the daemon's health callback
    assert doc["rooms"] == 0


def lc_version():
    with open(os.path.join(lc.SRCDIR, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def test_metrics_text_is_well_formed(server):
    server.request("GET", "/healthz")
    server.request("GET", "/does-not-exist")
    types, samples = metrics(server)
    assert check_histograms(types, samples) >= 1
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"):
        assert value(samples, name) is not None, name
    assert types["process_cpu_seconds_total"] == "counter"
    assert value(samples, "process_resident_memory_bytes") > 1e6
    assert abs(value(samples, "process_start_time_seconds") - time.time()) < 600
    assert types["livecart_rooms"] == "gauge"
    assert types["livecart_http_requests_total"] == "counter"
    assert types["livecart_http_connections"] == "gauge"
    assert value(samples, "livecart_http_requests_total", code="200") >= 2  # start-up polls + ours
    assert value(samples, "livecart_http_requests_total", code="404") == 1
    # the connection that asks for /metrics is open while it renders
    assert value(samples, "livecart_http_connections") >= 1


def test_metrics_count_connections(server):
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    c2 = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    try:
        c.request("GET", "/healthz")
        c.getresponse().read()
        c2.request("GET", "/healthz")
        c2.getresponse().read()
        # both keep-alive connections are idle but open
        c.request("GET", "/metrics")
        _, samples = parse_prometheus(c.getresponse().read().decode())
        assert value(samples, "livecart_http_connections") == 2
    finally:
        c.close()
        c2.close()
    deadline = time.monotonic() + 5
    while True:
        _, samples = metrics(server)
        if value(samples, "livecart_http_connections") == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert value(samples, "livecart_http_connections") == 1


def test_rooms_api(server):
    status, doc = server.get_json("/api/rooms")
    assert status == 200 and doc == {"rooms": []}
    r = server.call("room.create", {"id": "show-1", "title": "Autumn drop", "creator": "Lin"})
    assert r["ok"], r
    assert server.call("room.create", {"id": "show-2"})["ok"]
    status, doc = server.get_json("/api/rooms")
    assert status == 200
    assert [x["id"] for x in doc["rooms"]] == ["show-1", "show-2"]
    status, headers, body = server.request("GET", "/api/rooms/show-1")
    assert status == 200
    assert lower(headers)["access-control-allow-origin"] == "*"
    room = json.loads(body)["room"]
    assert room["id"] == "show-1" and room["title"] == "Autumn drop"
    assert "stream_key" not in room  # never public
    for bad in ("/api/rooms/BAD!", "/api/rooms/" + "a" * 65, "/api/rooms/a%20b", "/api/rooms/"):
        assert_json_error(*server.request("GET", bad), 400, "invalid_argument")
    assert_json_error(*server.request("GET", "/api/rooms/nope"), 404, "not_found")
    assert_json_error(*server.request("GET", "/api/rooms/show-1/extra"), 400, "invalid_argument")
    assert_json_error(*server.request("GET", "/api/nothing-here"), 404, "not_found")
    _, samples = metrics(server)
    assert value(samples, "livecart_rooms", state="scheduled") == 2


def test_rooms_api_live_fields():
    """Each room carries its show's stream state, its viewer count and the rungs a viewer can pin
    now: checked against the show channel's own snapshot and the media hub (media.status) while a
    real publisher goes live, drops (grace) and ends; a room without show or media stays at the
    defaults throughout."""
    s = lc.Server(extra=server_args() + ["media.grace_s=2"])
    s.env.update(media_env())
    s.start()
    pub = None
    key = "k3y-for-http-0001"

    def room(rid):
        status, doc = s.get_json(f"/api/rooms/{rid}")
        assert status == 200, doc
        return doc["room"]

    def live(r):
        return (r["stream"], r["viewers"], r["renditions"])

    def listed():
        status, doc = s.get_json("/api/rooms")
        assert status == 200
        return {r["id"]: r for r in doc["rooms"]}

    def video_rungs():
        return {n for n, r in renditions(s, "onair").items() if r["kind"] == "video"}

    try:
        create_room(s, "onair", key)
        assert s.call("room.create", {"id": "quiet", "title": "Nobody here"})["ok"]
        assert {k: live(r) for k, r in listed().items()} == {"onair": ("offline", 0, []), "quiet": ("offline", 0, [])}

        async def go():
            viewers = [await Viewer(s, room="onair").connect(), await Viewer(s, room="onair").connect(),
                       await Viewer(s, room="onair", user="amy", name="Amy").connect()]
            assert room("onair")["viewers"] == 3 and room("quiet")["viewers"] == 0
            await viewers.pop().close()
            wait_for(lambda: room("onair")["viewers"] == 2, timeout=5, what="a viewer gone")

            nonlocal pub
            pub = ffmpeg_rtmp(s, "onair", key, seconds=120, size="640x360", bframes=0)
            # The ladder adds each rung as its first packets come out: wait for both. 640x360 without
            # B-frames: the 360p rung and the publisher's own H.264 ("source"), nothing above.
            r = wait_for(lambda: (lambda r: r if r["stream"] == "live" and {"source", "360p"} <= set(r["renditions"])
                                  else None)(room("onair")), timeout=40, what="onair live with its rungs")
            assert set(r["renditions"]) == video_rungs(), (r, video_rungs())
            assert r["renditions"] == ["source", "360p"], r
            assert len(set(r["renditions"])) == len(r["renditions"]), r
            assert listed()["onair"] == r          # the list and the single room agree
            assert live(room("quiet")) == ("offline", 0, [])
            fresh = await Viewer(s, room="onair").connect()   # what the show channel says
            assert fresh.snapshot["state"]["stream"] == "live"
            assert room("onair")["viewers"] == 3 == fresh.snapshot["state"]["viewers"]
            rungs = r["renditions"]

            pub.kill()
            pub.wait()
            r = wait_for(lambda: (lambda r: r if r["stream"] == "reconnecting" else None)(room("onair")), timeout=10,
                         what="onair reconnecting")
            assert r["renditions"] == rungs, r     # held for the grace period: still pinnable
            r = wait_for(lambda: (lambda r: r if r["stream"] == "offline" else None)(room("onair")), timeout=10,
                         what="onair offline after the grace period")
            assert r["renditions"] == [] and r["viewers"] == 3, r
            await fresh.wait_for(lambda: any(e["name"] == "stream" and e["data"]["state"] == "offline"
                                             for e in fresh.events), 5)
            for v in viewers + [fresh]:
                await v.close()
            wait_for(lambda: room("onair")["viewers"] == 0, timeout=5, what="every viewer gone")
        run(go())
    finally:
        if pub:
            pub.kill()
            pub.wait()
        rc = s.stop()
        log = s.log_text()
        s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def test_head_and_options(server):
    status, headers, body = server.request("HEAD", "/healthz")
    assert status == 200 and body == b""
    assert int(lower(headers)["content-length"]) > 10
    status, headers, body = server.request("OPTIONS", "/api/rooms", headers={
        "Origin": "http://shop.example", "Access-Control-Request-Method": "GET"})
    h = lower(headers)
    assert status == 204 and body == b""
    assert h["access-control-allow-origin"] == "*"
    assert "GET" in h["access-control-allow-methods"]
    assert "access-control-allow-headers" in h
    # /metrics is not a CORS resource
    assert "access-control-allow-origin" not in lower(server.request("GET", "/metrics")[1])


def test_method_not_allowed(server):
    for method, path in (("POST", "/healthz"), ("DELETE", "/api/rooms"), ("PUT", "/metrics"),
                         ("POST", "/index.html"), ("PATCH", "/api/rooms/x")):
        status, headers, body = server.request(method, path, body=b"{}")
        assert_json_error(status, headers, body, 405, "method_not_allowed")
        assert "GET" in lower(headers)["allow"]


def test_request_with_body_keeps_the_connection_in_sync(server):
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    try:
        c.request("POST", "/api/rooms", body=b"x" * 5000)
        r = c.getresponse()
        assert r.status == 405
        r.read()
        c.request("GET", "/healthz")  # same connection: the body was consumed, not parsed as a request
        r = c.getresponse()
        assert r.status == 200 and json.loads(r.read())["status"] == "ok"
    finally:
        c.close()


def test_not_found_is_json(server):
    assert_json_error(*server.request("GET", "/no/such/file.js"), 404, "not_found")
    assert_json_error(*server.request("GET", "/.hidden"), 404, "not_found")


# ---- limits ----------------------------------------------------------------

@pytest.fixture
def small_server():
    s = lc.Server(extra=["http.max_body_bytes=1024", "http.max_uri_bytes=256",
                         "http.cors_origin=https://shop.example"]).start()
    yield s
    rc = s.stop()
    s.close()
    assert rc == 0, s.log_text()[-4000:]


def test_too_large_by_content_length(small_server):
    data = raw(small_server, b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    assert_json_error(*parse_raw_response(data), 413, "too_large")
    assert_alive(small_server)


def test_large_chunked_body_is_refused_unread(small_server):
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    req = b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 4
    data = raw(small_server, req)
    assert_json_error(*parse_raw_response(data), 411, "length_required")
    assert_alive(small_server)


CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"


@pytest.mark.parametrize("method,path", [
    ("POST", "/healthz"), ("POST", "/api/rooms"), ("POST", "/api/rooms/x"), ("POST", "/index.html"),
    ("POST", "/no/such/file"), ("POST", "/api/dev/token"), ("POST", "/api/payments/callback"),
    ("POST", "/whep/demo"), ("POST", "/whip/demo"), ("POST", "/r/demo"), ("PUT", "/api/rooms"),
    ("GET", "/healthz"), ("DELETE", "/whep/demo/abc")])
def test_chunked_request_is_411_on_every_route(server, method, path):
    """lws 4.1 never reports the end of a chunked request body: every route refuses one right after
    its headers (it used to wait 10 s for a body end that never came, then close without answering)."""
    t0 = time.monotonic()
    data = raw(server, f"{method} {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
               + CHUNKED_BODY, timeout=8)
    elapsed = time.monotonic() - t0
    status, headers, body = parse_raw_response(data)
    assert_json_error(status, headers, body, 411, "length_required")
    assert headers["connection"] == "close"
    assert elapsed < 3, f"answered after {elapsed:.1f} s"  # raw() returns at the server's close
    assert_alive(server)


def test_chunked_body_that_never_ends_is_answered_at_once(server):
    # only the headers and the start of a chunk: the answer must not wait for the body
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=3) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
        data = b""
        while b"}}" not in data:
            chunk = s.recv(4096)  # socket.timeout (a failure) after 3 s
            if not chunk:
                break
            data += chunk
    assert_json_error(*parse_raw_response(data), 411, "length_required")
    assert_alive(server)


def test_transfer_encoding_with_content_length_is_refused(server):
    # the classic request-smuggling pair: neither length is trusted
    req = (b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = raw(server, req)
    assert_json_error(*parse_raw_response(data), 411, "length_required")
    assert data.count(b"HTTP/1.1 ") == 1  # the smuggled GET was not answered
    assert_alive(server)


def test_uri_too_long(small_server):
    assert_json_error(*small_server.request("GET", "/" + "a" * 300), 414, "uri_too_long")
    assert_json_error(*small_server.request("GET", "/api/rooms?" + "q=1&" * 80), 414, "uri_too_long")
    status, _, _ = small_server.request("GET", "/api/rooms?" + "q=1&" * 10)
    assert status == 200


def test_configured_cors_origin(small_server):
    status, headers, _ = small_server.request("GET", "/api/rooms")
    h = lower(headers)
    assert h["access-control-allow-origin"] == "https://shop.example"
    assert h["vary"] == "Origin"


def test_empty_cors_origin_sends_none():
    s = lc.Server(extra=["http.cors_origin="]).start()
    try:
        status, headers, _ = s.request("GET", "/healthz")
        assert status == 200 and "access-control-allow-origin" not in lower(headers)
    finally:
        assert s.stop() == 0, s.log_text()[-4000:]
        s.close()


# ---- hostile input ---------------------------------------------------------

TRAVERSALS = [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2f%2E%2E%2fetc%2fpasswd",
    "/..%2f..%2f..%2fetc/passwd",
    "/static/../../../etc/passwd",
    "//etc/passwd",
    "/%2fetc%2fpasswd",
    "/..\\..\\etc\\passwd",
    "/index.html/../../meson.build",
    "/a/%00/b",
]


def test_path_traversal_is_refused(server):
    for path in TRAVERSALS:
        data = raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = parse_raw_response(data)
        assert status in (400, 404), (path, status)
        assert b"root:" not in body and b"project(" not in body, path
        assert_json_error(status, headers, body, status, "bad_request" if status == 400 else "not_found")


NUL_PATHS = ["/%00", "/%00/index.html", "/a/%00/b", "/index.html/%00", "/sub/%00", "/.%00", "/..%00",
             "/%00?x=1", "/%00?", "/api/rooms/%00", "/api/%00", "/r/%00", "/healthz/%00", "/%2e%00"]


def test_nul_in_the_path_is_bad_request(server):
    """A decoded NUL (%00) is 400 on every route; lws hides a trailing one from the path's length,
    so "/%00" used to serve index.html."""
    for path in NUL_PATHS:
        data = raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, headers, body = parse_raw_response(data)
        assert status == 400, (path, data[:200])
        assert_json_error(status, headers, body, 400, "bad_request")
    # clean look-alikes are unaffected: a query, an empty query, a directory
    for path, want in (("/?x=1", 200), ("/?", 200), ("/index.html?a=b&c=d", 200), ("/api/rooms?", 200),
                       ("/healthz?%41=1", 200), ("/no-such/", 404)):
        status, _, _ = server.request("GET", path)
        assert status == want, path


def test_nul_after_a_good_request_on_the_same_connection(server):
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /%00 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    first, _, rest = data.partition(b"HTTP/1.1 400")
    assert first.startswith(b"HTTP/1.1 200") and b'"bad_request"' in rest
    assert_alive(server)


def test_first_request_line_is_checked_before_lws(server):
    """lws 4.1 drops a connection without an answer on a %00 that does not follow a "/" and answers
    a bad %-escape with an HTML 403; the first line of a new connection is checked before lws
    sees it, so these get our JSON 400 (http.c preread)."""
    for path in ("/index.html%00.txt", "/x%00", "/api/rooms%00", "/?q=%00", "/ws%00", "/a%zz", "/%4", "/x?%g1"):
        data = raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert data.startswith(b"HTTP/1.1 400"), (path, data[:200])
        assert_json_error(*parse_raw_response(data), 400, "bad_request")
    # the same line dripping in byte by byte, and a good one that way too
    for line, want in ((b"GET /index.html%00.txt HTTP/1.1\r\n", b"HTTP/1.1 400"),
                       (b"GET /healthz HTTP/1.1\r\n", b"HTTP/1.1 200")):
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
            for b in line:
                s.sendall(bytes([b]))
                time.sleep(0.002)
            s.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(want), (line, data[:200])
    assert_alive(server)


def test_non_http_bytes_are_not_held_back(server):
    # a TLS hello has no line end to wait for: it goes to lws at once, which refuses it
    hello = bytes(b if b != 0x0A else 0x0B for b in b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(500))
    t0 = time.monotonic()
    raw(server, hello, timeout=8)
    assert time.monotonic() - t0 < 3
    assert_alive(server)


def test_nul_lws_drops_on_a_keep_alive_connection(server):
    """Only a connection's first line is checked before lws: on a later request of a keep-alive
    connection such a %00 still makes lws close without an answer (documented). The first
    answer arrives, the file is never served, the server serves the next client."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html%00.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.count(b"HTTP/1.1 ") == 1, data[:300]
    assert_alive(server)


def test_many_connections_waiting_for_their_first_line(server):
    # more silent connections than are held for the check (64): the rest go to lws as before,
    # and a normal client is still served at once
    socks = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(100)]
    try:
        t0 = time.monotonic()
        assert_alive(server)
        assert time.monotonic() - t0 < 2
        socks[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        socks[0].settimeout(5)
        assert socks[0].recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()
    assert_alive(server)


def test_dot_segments_are_normalised(tmp_path):
    """"." and ".." segments (plain or %2e) are resolved before routing, like a browser does
    (RFC 3986 5.2.4, done by lws), and never climb above "/"; what is left must lie in the web root."""
    root = tmp_path / "web"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<p>root</p>")
    (root / "sub" / "inner.css").write_text("p{}")
    s = lc.Server(extra=[f"http.web_root={root}"]).start()
    try:
        for path in ("/./index.html", "/a/../index.html", "/%2e/index.html", "/a/%2e%2e/index.html",
                     "/a/b/../../index.html", "/.%2e/index.html", "/../index.html", "/..", "/a/..", "/a/../",
                     "/sub/..", "/.", "/sub/./../index.html"):
            data = raw(s, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            status, _, body = parse_raw_response(data)
            assert (status, body) == (200, b"<p>root</p>"), (path, data[:200])
        for path in ("/sub/./inner.css", "/x/../sub/inner.css", "/sub/%2e/inner.css", "/./sub//inner.css"):
            status, _, body = s.request("GET", path)
            assert (status, body) == (200, b"p{}"), path
        # ".." at the root stays at the root: the server's own tree is out of reach
        assert_json_error(*s.request("GET", "/../../meson.build"), 404, "not_found")
        # a dot segment in an API path is resolved the same way before routing
        status, _, _ = s.request("GET", "/api/x/../rooms")
        assert status == 200
    finally:
        assert s.stop() == 0, s.log_text()[-4000:]
        s.close()


def test_symlink_out_of_the_web_root_is_refused(tmp_path):
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<p>hi</p>")
    (root / "app.mjs").write_text("export {};")
    (root / "secret-link").symlink_to("/etc/passwd")
    (root / "dir-link").symlink_to("/etc")
    (root / "sub").mkdir()
    (root / "sub" / "inner.css").write_text("p{}")
    s = lc.Server(extra=[f"http.web_root={root}"]).start()
    try:
        assert_json_error(*s.request("GET", "/secret-link"), 404, "not_found")
        assert_json_error(*s.request("GET", "/dir-link/passwd"), 404, "not_found")
        assert_json_error(*s.request("GET", "/sub"), 404, "not_found")   # no listing
        assert_json_error(*s.request("GET", "/sub/"), 404, "not_found")  # no index.html there
        status, headers, body = s.request("GET", "/sub/inner.css")
        assert status == 200 and lower(headers)["content-type"].startswith("text/css") and body == b"p{}"
        status, headers, body = s.request("GET", "/app.mjs")
        assert status == 200 and lower(headers)["content-type"].startswith("text/javascript")
    finally:
        assert s.stop() == 0, s.log_text()[-4000:]
        s.close()


def test_garbage_and_broken_requests_do_not_hurt_the_server(server):
    raw(server, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(500))  # a TLS hello
    raw(server, b"garbage garbage\r\n\r\n")
    raw(server, b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n")
    raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 2000 + b"\r\n")
    raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n")
    raw(server, b"GET /heal", read=False)  # half a request, then close
    raw(server, b"\r\n" * 5000)
    raw(server, b"GET /healthz HTTP/9.9\r\n\r\n")
    # many half-open connections at once
    socks = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(20)]
    for i, s in enumerate(socks):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHo"[: i + 1])
    assert_alive(server)
    for s in socks:
        s.close()
    assert_alive(server)


def test_malformed_content_length_is_bad_request(server):
    data = raw(server, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert_json_error(*parse_raw_response(data), 400, "bad_request")


# ---- static ----------------------------------------------------------------

def test_index_html_is_served(server):
    status, headers, body = server.request("GET", "/")
    assert status == 200
    assert lower(headers)["content-type"].startswith("text/html")
    assert b"livecart" in body and b"/healthz" in body
    with open(os.path.join(lc.SRCDIR, "web", "index.html"), "rb") as f:
        assert body == f.read()
    status, headers, body2 = server.request("GET", "/index.html")
    assert status == 200 and body2 == body
    status, headers, empty = server.request("HEAD", "/")
    assert status == 200 and empty == b"" and int(lower(headers)["content-length"]) == len(body)


def test_large_static_file_streams_completely(tmp_path):
    root = tmp_path / "web"
    root.mkdir()
    blob = os.urandom(3 * 1024 * 1024 + 17)
    (root / "big.png").write_bytes(blob)
    s = lc.Server(extra=[f"http.web_root={root}"]).start()
    try:
        status, headers, body = s.request("GET", "/big.png", timeout=30)
        assert status == 200 and lower(headers)["content-type"] == "image/png"
        assert body == blob
    finally:
        assert s.stop() == 0, s.log_text()[-4000:]
        s.close()


# ---- start-up --------------------------------------------------------------

def test_second_server_on_the_same_port_fails_with_the_reason(server):
    other = lc.Server()
    other.http_port = server.http_port
    try:
        other.spawn()
        assert other.proc.wait(timeout=30) != 0
        assert f"cannot listen on 127.0.0.1:{server.http_port}: Address already in use" in other.log_text()
        assert "Sanitizer" not in other.log_text()  # the failed start cleans up after itself
    finally:
        other.close()
    assert_alive(server)


@pytest.mark.parametrize("bind,why", [("192.0.2.1", "Cannot assign requested address"),
                                      ("localhost", "not a numeric")])
def test_bad_bind_address_fails(bind, why):
    s = lc.Server(extra=[f"http.bind={bind}"])
    try:
        s.spawn()
        assert s.proc.wait(timeout=30) != 0
        assert f"cannot listen on {bind}:" in s.log_text() and why in s.log_text()
        assert "Sanitizer" not in s.log_text()
    finally:
        s.close()


def test_stop_with_open_connections_is_clean():
    s = lc.Server().start()
    try:
        idle = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=5)
        idle.request("GET", "/healthz")
        idle.getresponse().read()  # keep-alive, left open
        half = socket.create_connection(("127.0.0.1", s.http_port))
        half.sendall(b"GET /heal")
        body = socket.create_connection(("127.0.0.1", s.http_port))
        body.sendall(b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n" + b"z" * 100)
        time.sleep(0.2)
        assert s.stop() == 0, s.log_text()[-4000:]  # exit 0: no sanitizer or leak report
        for c in (half, body):
            c.settimeout(5)
            assert c.recv(100) == b""  # closed by the server
            c.close()
        idle.close()
    finally:
        s.close()


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_pipelined_requests_after_a_body_do_not_hang_the_server(server):
    # lws 4.1 spun at 100% CPU when a keep-alive connection carried more requests
    # after one with a body; such connections are now closed after the answer.
    body = b"x" * 10
    req = (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + body) * 2 + \
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        s.sendall(req)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
    assert b"405" in got.split(b"\r\n", 1)[0]
    t0 = _cpu_ticks(server.proc.pid)
    time.sleep(1.0)
    assert _cpu_ticks(server.proc.pid) - t0 < 30, "the server is spinning"
    status, _, _ = server.request("GET", "/healthz", timeout=5)
    assert status == 200

"""The replay page (/r/{room}/replay: web/replay.html, web/js/replay.js) in headless Chromium against
the real livecartd, inside a private network namespace (meson runs this file under `unshare -n`).

A room with two products is published for ~20 s by ffmpeg over RTMP; product A is pinned when the
video is live, product B once the recording holds ~8 s of media. When the publisher has ended and
GET /api/rooms/{room}/replay answers with a complete recording, Chromium (tests/e2e/replay_case.mjs)
opens the replay page: the video plays (hls.js from /vendor/, served from web/vendor/), the chapter
list shows both products at their times, a click on B's chapter seeks there and shows B's card, and
buying B from the card makes an order at B's regular price. A room without a recording, and a room
that does not exist, say so. Screenshots go to LC_ARTIFACTS (default: <build>/e2e-artifacts)."""
import glob
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lc  # noqa: E402
from conftest import media_env  # noqa: E402
from medialib import ffmpeg_rtmp, renditions, wait_for  # noqa: E402
from showlib import SECRET, token  # noqa: E402
from test_webrtc_browser import _network_namespace  # noqa: E402,F401  (autouse: fail outside the namespace)

ROOM = "replay1"
EMPTY = "replay2"   # created, never published: no recording
KEY = "replay-key-0001"
ARTIFACTS = os.environ.get("LC_ARTIFACTS", os.path.join(os.environ.get("LC_BUILDDIR", "/tmp"), "e2e-artifacts"))
VENDOR = os.path.join(lc.SRCDIR, "web", "vendor", "hls.min.js")
A, B = "rp-cup", "rp-pan"
CATALOG = {"currency": "CNY", "products": [
    {"id": A, "title": "真空保温杯", "image": "/demo/img/k-thermos.svg",
     "skus": [{"id": "rp-cup-600", "label": "600ml", "price": 12900, "original_price": 19900, "stock": 50}]},
    {"id": B, "title": "不粘煎锅 Non-stick pan", "image": "/demo/img/k-pan.svg",
     "skus": [{"id": "rp-pan-28", "label": "28cm", "price": 15900, "original_price": 23900, "stock": 30}]},
]}
PRICE = {A: 12900, B: 15900}
PUBLISH_S = 20


def ok(resp):
    assert resp.get("ok"), resp
    return resp["result"]


def case(server, *args, timeout=120):
    os.makedirs(ARTIFACTS, exist_ok=True)
    cmd = ["node", os.path.join(HERE, "replay_case.mjs"), "--base", f"http://127.0.0.1:{server.http_port}",
           "--shots", ARTIFACTS, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    assert lines, f"replay case printed nothing: rc={p.returncode}\n{p.stderr[-3000:]}"
    res = json.loads(lines[-1])
    print("replay case", args[:4], json.dumps(res, ensure_ascii=False))
    return res


def unexpected(errors, *allowed):
    """Page errors, and console errors other than 404s of the allowed paths (and the favicon)."""
    ok_paths = ("/favicon.ico",) + allowed
    return [e for e in errors if not (e.startswith("console: Failed to load resource: the server responded with a status "
                                                   "of 404") and e.split("/", 3)[-1].rstrip(")").startswith(
                                                       tuple(p.lstrip("/") for p in ok_paths)))]


def media_time(t):
    s = int(t)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def replay_doc(server, room):
    status, _, body = server.request("GET", f"/api/rooms/{room}/replay")
    return status, (json.loads(body) if body else None)


@pytest.fixture(scope="module")
def env():
    if not os.path.isfile(VENDOR):
        pytest.fail(f"{VENDOR} is missing: tools/test and tools/demo copy it from npm "
                    "(`. tools/lib/common.sh; ensure_web_vendor`)")
    s = lc.Server(extra=["log.level=info", f"auth.jwt_secret={SECRET}", "media.rungs=360p:640x360:800",
                         "media.grace_s=1"])
    s.extra.append(f"record.path={os.path.join(s.workdir, 'rec')}")
    s.env.update(media_env())
    s.start()
    pub = None
    try:
        with s.ctl() as c:
            for room in (ROOM, EMPTY):
                ok(c.call("room.create", {"id": room, "title": "回放 · Replay test", "creator": "Lin's Kitchen",
                                          "stream_key": KEY}))
                ok(c.call("catalog.load", {"room": room, "catalog": CATALOG}))
        pub = ffmpeg_rtmp(s, ROOM, KEY, seconds=PUBLISH_S, size="640x360", bframes=0)
        wait_for(lambda: any(r["kind"] == "video" and r["live"] for r in renditions(s, ROOM).values()), timeout=40,
                 what="the room's video")
        ok(s.call("product.pin", {"room": ROOM, "product": A}))
        # B once the recording holds about 8 s of media (4 segments of 2 s on disk): its chapter
        # lands mid-recording whatever the machine's speed.
        segments = lambda: glob.glob(os.path.join(s.workdir, "rec", ROOM, "*", "*.ts"))  # noqa: E731
        try:
            wait_for(lambda: len(segments()) >= 4, timeout=40, what="4 recorded segments")
        except AssertionError:
            print(s.log_text()[-3000:], "\n", [os.path.join(a, f) for a, _, fs in os.walk(s.workdir) for f in fs])
            raise
        ok(s.call("product.pin", {"room": ROOM, "product": B}))
        assert pub.wait(timeout=PUBLISH_S + 60) == 0, pub.stderr.read()[-2000:]
        doc = wait_for(lambda: (lambda st, d: st == 200 and d["recording"]["state"] == "complete" and d)(
            *replay_doc(s, ROOM)), timeout=60, what="a complete recording")
        yield s, doc
    finally:
        if pub and pub.poll() is None:
            pub.kill()
            pub.wait()
        rc = s.stop()
        log = s.log_text()
        s.close()
        assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def test_replay_api_and_files(env):
    s, doc = env
    rec = doc["recording"]
    assert doc["room"] == ROOM and rec["playlist"].startswith(f"/rec/{ROOM}/"), doc
    assert PUBLISH_S - 6 <= rec["duration_s"] <= PUBLISH_S + 2, rec
    chapters = doc["chapters"]
    assert [c["product_id"] for c in chapters] == [A, B], chapters
    assert all(c["price"] == PRICE[c["product_id"]] and c["currency"] == "CNY" for c in chapters), chapters
    assert chapters[0]["t"] <= 2.0 and 5.0 <= chapters[1]["t"] <= rec["duration_s"] - 4, chapters
    st, headers, body = s.request("GET", rec["playlist"])
    assert st == 200 and b"#EXT-X-ENDLIST" in body, (st, body[:300])
    st, headers, body = s.request("GET", "/vendor/hls.min.js")
    headers = {k.lower(): v for k, v in headers.items()}
    assert st == 200 and headers.get("content-type", "").startswith("text/javascript") and len(body) > 100000, headers
    st, headers, body = s.request("GET", f"/r/{ROOM}/replay")
    headers = {k.lower(): v for k, v in headers.items()}
    assert st == 200 and b"/js/replay.js" in body and b"/vendor/hls.min.js" in body, (st, body[:200])
    assert "script-src 'self'" in headers.get("content-security-policy", ""), headers


def test_replay_plays_seeks_and_buys(env):
    s, doc = env
    chapters = {c["product_id"]: c for c in doc["chapters"]}
    res = case(s, "--room", ROOM, "--mode", "play", "--token", token("alice", name="小明"), "--buy", B)
    assert "error" not in res, res
    assert unexpected(res["errors"]) == [], res["errors"]
    assert res["engine"] == "hls.js", res
    # Plays on with the wall clock, without a stall (3 s measured once playing).
    play = res["play"]
    assert play["played"] >= 0.8 * play["wall"] - 0.3 and play["stalls"] == 0, play
    # Frames shown, not dropped (a stream Chromium cannot decode drops nearly all; a busy 2-core
    # machine drops a few).
    assert play["frames"] >= 30 and play["dropped"] <= 0.25 * play["frames"] + 5, play
    assert abs(res["duration"] - doc["recording"]["duration_s"]) <= 2.5, (res["duration"], doc["recording"])
    # The chapter list: both products, at their times, in order.
    assert [(c["product"], c["time"], c["title"]) for c in res["chapters"]] == [
        (p, media_time(chapters[p]["t"]), chapters[p]["title"]) for p in (A, B)], res["chapters"]
    assert all(c["visible"] for c in res["chapters"]) and res["marks"] == 2, res
    assert res["unlabelled"] == [], res["unlabelled"]
    # Chapter B: the video lands within a segment of B's time, plays on, and shows B's card.
    seek = res["seek"]
    assert seek["chapter"] == B and abs(seek["landed"] - chapters[B]["t"]) <= 2.0, (seek, chapters[B])
    assert seek["playsOn"] > 0.5, seek
    card = res["card"]
    assert card["product"] == B and card["current"] == B and card["price"] == PRICE[B], card
    assert card["priceText"] == "¥159.00" and card["tag"] == "讲解回放" and card["title"] == chapters[B]["title"], card
    # Bought from the card: an order at the regular price.
    order = res["order"]
    assert order["total"] == PRICE[B] and order["totalText"] == "¥159.00" and order["state"] == "pending", order
    orders = ok(s.call("order.list", {"room": ROOM, "user": "alice"}))["orders"]
    assert [o["id"] for o in orders] == [order["id"]], orders
    assert orders[0]["total"] == PRICE[B] and [(i["product"], i["qty"], i["unit_price"]) for i in orders[0]["items"]] == [
        (B, 1, PRICE[B])], orders[0]
    # Phone: the chapters under the video; desktop: beside it. Nothing wider than the window.
    assert res["narrow"]["scrollWidth"] <= 390 and res["narrow"]["panel"][0] >= sum(res["narrow"]["stage"]) - 1, res["narrow"]
    assert res["wide"]["scrollWidth"] <= 1280 and res["wide"]["panel"][0] >= sum(res["wide"]["stage"]), res["wide"]
    assert not res["quality"]["errors"], res["quality"]   # no fatal hls.js error all along


def test_no_recording_says_so(env):
    s, _ = env
    st, doc = replay_doc(s, EMPTY)
    assert st == 404 and doc["error"]["code"] == "not_found", (st, doc)
    res = case(s, "--room", EMPTY, "--mode", "missing", "--locale", "en-US")
    assert "error" not in res, res
    assert unexpected(res["errors"], f"/api/rooms/{EMPTY}/replay") == [], res["errors"]
    assert (res["status"], res["state"], res["text"], res["visible"]) == (200, "none", "This show has no replay yet", True), res
    assert not res["card"] and res["chapters"] == 0 and res["engine"] is None, res
    res = case(s, "--room", "no-such-room", "--mode", "missing")
    assert unexpected(res["errors"], "/r/no-such-room/replay", "/api/rooms/no-such-room") == [], res["errors"]
    assert (res["status"], res["state"], res["text"]) == (404, "no_room", "直播间不存在"), res

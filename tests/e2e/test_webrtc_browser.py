"""Headless Chromium against the real livecartd, inside a private network namespace (meson runs
this file under `unshare -n`; see tests/e2e/meson.build): WHEP playback of a room fed over RTMP,
WHIP publishing of Chromium's fake camera watched by a second page, and NACK recovery under 5%
packet loss injected with nftables in the namespace."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lc  # noqa: E402
from conftest import media_env  # noqa: E402
from medialib import create_room, ffmpeg_rtmp, renditions, wait_for  # noqa: E402

KEY = "browser-key-0001"
ARTIFACTS = os.environ.get("LC_ARTIFACTS", os.path.join(os.environ.get("LC_BUILDDIR", "/tmp"), "e2e-artifacts"))


def isolated():
    """True inside a network namespace whose only interface is lo (nothing can leave the machine).
    /proc/net/dev lists the reader's namespace; /sys/class/net would list the host's unless sysfs
    were remounted inside the namespace."""
    with open("/proc/net/dev") as f:
        names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
    return names == ["lo"]


@pytest.fixture(autouse=True)
def _network_namespace():
    # Not a skip: a browser test that silently skips cannot fail.
    if not isolated():
        pytest.fail("run under `unshare -n` with lo up (meson test does: tests/e2e/meson.build)")


@pytest.fixture
def server():
    s = lc.Server(extra=["log.level=info"])
    s.env.update(media_env())
    s.start()
    yield s
    rc = s.stop()
    log = s.log_text()
    s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def chromium(mode, server, room, seconds=6, **kw):
    os.makedirs(ARTIFACTS, exist_ok=True)
    cmd = ["node", os.path.join(HERE, "webrtc_case.mjs"), mode, "--base", f"http://127.0.0.1:{server.http_port}",
           "--room", room, "--seconds", str(seconds)]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90, cwd=HERE)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"chromium case printed nothing: rc={p.returncode}\n{p.stderr[-3000:]}"
    return json.loads(lines[-1])


def assert_few_frames_dropped(res, seconds):
    """framesDropped <= 10% of framesDecoded, when Chrome played the 30 fps stream steadily.

    framesDropped is 0 on an idle loopback, but Chrome also counts frames that missed their
    display deadline, which a busy machine produces with no loss and no PLI (under stress-ng: 20
    of 452 at full rate, 48 of 207 decoded at 14 fps; 0 PLIs each time). So the bound holds when
    Chrome decoded 25-33 fps in each half of the session, and the count is reported otherwise:
    below, it could not keep up; above, it was catching up with frames its own decoder had fallen
    behind on (the full suite: 244 frames in the first 5.2 s then 21 fps, 138 dropped, 0 loss, 0
    PLI). A PLI loop or lost packets show in the PLI, keyframe and NACK counts the tests assert
    either way."""
    first_s = seconds / 2 - (res["firstFrameMs"] or 0) / 1000  # the mid sample is ~half-way
    rates = (res["framesDecodedMid"] / first_s if first_s > 0.5 else 0,
             (res["framesDecoded"] - res["framesDecodedMid"]) / (seconds / 2))
    if all(25 <= r <= 33 for r in rates):
        assert res["framesDropped"] <= 0.10 * res["framesDecoded"], res
    else:
        print(f"machine too busy for a framesDropped bound: {res['framesDecoded']} frames decoded, "
              f"{rates[0]:.1f} then {rates[1]:.1f} fps, {res['framesDropped']} dropped")


def test_chromium_plays_room_over_whep(server):
    create_room(server, "b1", KEY)
    pub = ffmpeg_rtmp(server, "b1", KEY, seconds=40, size="1280x720")
    try:
        wait_for(lambda: all(n in renditions(server, "b1") for n in ("720p", "opus")), timeout=30, what="ladder")
        res = chromium("whep", server, "b1", seconds=6, shot=os.path.join(ARTIFACTS, "whep-chromium.png"))
        print("chromium auto:", res)
        assert "error" not in res, res
        assert res["dtlsState"] == "connected"
        assert res["framesDecoded"] > res["framesDecodedMid"] > 0, res  # still growing at the end
        # It plays on: at least 10 fps from the first frame on (30 on an idle machine; 18 under
        # stress-ng --cpu 1 with the machine's other work: 91 frames, first at 1.0 s of 6).
        playing_s = 6 - (res["firstFrameMs"] or 0) / 1000
        assert res["framesDecoded"] >= 10 * playing_s, res
        heights = {r["height"] for r in renditions(server, "b1").values() if r["kind"] == "video"}
        assert res["frameHeight"] in heights, (res, heights)
        assert res["pliCount"] + res["firCount"] <= 2, res  # no keyframe loop (see the rung test)
        # Automatic: it starts on 720p (the highest rung at or below 2.5 Mbit/s) and stays there on
        # loopback, where nothing is congested (it used to step down to 480p and 360p).
        assert res["frameHeight"] == 720, res
    finally:
        pub.kill()
        pub.wait()


@pytest.mark.parametrize("rung", ["720p", "360p"])
def test_chromium_on_a_ladder_rung_sends_no_pli_and_drops_no_frame(server, rung):
    """Chromium pinned to a transcoded rung for 15 s on loopback: the keyframes it decodes are the
    GOP's (2 s) plus the join and the pin's switch, it asks for at most 2 (PLI), drops (almost)
    no frame.
    A stray marker packet ahead of requested keyframes once made it decode an SPS/PPS-only frame,
    fail and send a PLI every 0.5 s (30 PLIs, 30 keyframes, 29 frames dropped in 15 s)."""
    create_room(server, "b4", KEY)
    pub = ffmpeg_rtmp(server, "b4", KEY, seconds=90, size="1280x720")
    try:
        wait_for(lambda: rung in renditions(server, "b4"), timeout=30, what="ladder")
        res = chromium("whep", server, "b4", seconds=15, pin=rung)
        print(f"chromium on {rung} for 15 s:", res)
        assert "error" not in res, res
        assert res["pinned"] is True, res
        assert res["frameHeight"] == int(rung[:-1]), res
        assert res["framesDecoded"] > res["framesDecodedMid"] > 0, res
        assert res["pliCount"] + res["firCount"] <= 2, res
        # The GOP's 7.5 plus the join's and the pin's: a requested keyframe no longer restarts the
        # rung's 2 s schedule (the rungs' keyframes are aligned), so it adds one; 11 seen with 0
        # PLIs. A keyframe loop shows up as PLIs and twice as many keyframes.
        assert res["keyFramesDecoded"] <= 15 / 2 + 4, res
        assert_few_frames_dropped(res, seconds=15)
    finally:
        pub.kill()
        pub.wait()


def test_chromium_on_an_edge_plays_a_relayed_room():
    """A second livecartd (an edge: relay.origin = this one) pulls the room when Chromium asks it
    for the room over WHEP: same checks as on the origin (frames, PLIs, dropped frames)."""
    import socket
    secret = "browser-relay-secret-01"
    origin = lc.Server(extra=["log.level=info", "relay.serve=true", f"relay.secret={secret}", "relay.node_id=o",
                              f"relay.port={lc.free_port(socket.SOCK_DGRAM)}"])
    origin.env.update(media_env())
    origin.start()
    edge = None
    pub = None
    try:
        create_room(origin, "b5", KEY)
        # A 360p source: two sanitizer-built daemons, a ladder and Chromium share two cores here,
        # and a 720p ladder left Chrome missing display deadlines (34 of 291 frames, 0 loss/PLI).
        pub = ffmpeg_rtmp(origin, "b5", KEY, seconds=60, size="640x360")
        wait_for(lambda: "360p" in renditions(origin, "b5"), timeout=30, what="ladder")
        relay_port = origin.call("media.status")["result"]["relay"]["port"]
        edge = lc.Server(extra=["log.level=info", f"relay.secret={secret}", "relay.node_id=e",
                                f"relay.origin=127.0.0.1:{relay_port}"])
        edge.env.update(media_env())
        edge.start()
        res = chromium("whep", edge, "b5", seconds=10, pin="360p")
        print("chromium on the edge:", res)
        assert "error" not in res, res
        assert res["dtlsState"] == "connected"
        assert res["frameHeight"] == 360, res
        assert res["framesDecoded"] > res["framesDecodedMid"] > 0, res
        assert res["pliCount"] + res["firCount"] <= 2, res
        assert_few_frames_dropped(res, seconds=10)
        pulls = edge.call("relay.status")["result"]["pulls"]
        assert [p["room"] for p in pulls] == ["b5"], pulls
    finally:
        if pub:
            pub.kill()
            pub.wait()
        for s in (edge, origin):
            if s:
                rc = s.stop()
                log = s.log_text()
                s.close()
                assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def test_chromium_whip_publisher_watched_over_whep(server):
    create_room(server, "b2", KEY)
    with server.ctl() as watcher:
        assert "error" not in watcher.call("watch", {"room": "b2"})
        # The watching page pins the ladder's 360p rung: a WHIP creator gets the ladder too.
        res = chromium("whip", server, "b2", seconds=6, key=KEY, pin="360p")
        assert "error" not in res, res
        assert res["pinned"] is True, res
        assert res["framesDecoded"] >= 10 * (6 - (res["firstFrameMs"] or 0) / 1000), res  # plays on (>= 10 fps)
        assert (res["frameWidth"], res["frameHeight"]) == (640, 360), res
        assert res["pliCount"] + res["firCount"] <= 2, res
        # The room's stream state followed the WHIP creator: live, then "publisher lost" at once
        # when the page closed (DTLS close alert / RTCP BYE), not after a consent timeout.
        watcher.sock.settimeout(40)
        media = []  # the publish.* events, in order (show events such as "stream" pass by too)
        while not media or media[-1]["event"] != "publish.lost":
            ev = watcher.next_event()
            if ev["event"].startswith("publish."):
                media.append(ev)
        assert [e["event"] for e in media] == ["publish.start", "publish.lost"], media
        assert all(e["data"]["detail"].startswith("whip ") for e in media), media
    snap = server.call("show.snapshot", {"room": "b2"})["result"]
    assert snap["state"]["stream"] == "reconnecting", snap


def test_nack_recovery_under_5_percent_loss(server):
    create_room(server, "b3", KEY)
    pub = ffmpeg_rtmp(server, "b3", KEY, seconds=40, size="640x360", bframes=0)
    rule = None
    try:
        wait_for(lambda: "360p" in renditions(server, "b3"), timeout=30, what="ladder")
        # 5% of the server's media datagrams are lost on the way to the browser.
        table = f"lcloss{os.getpid()}"  # two runs on one machine never share a table
        nft = f"""table inet {table} {{
  chain out {{ type filter hook output priority 0; udp sport {server.rtc_port} numgen random mod 100 < 5 drop; }}
}}"""
        subprocess.run(["nft", "-f", "-"], input=nft, text=True, check=True)
        rule = True
        res = chromium("whep", server, "b3", seconds=8)
        assert "error" not in res, res
        assert res["framesDecoded"] > res["framesDecodedMid"] > 0, res
        assert res["nackCount"] > 0, res
        print("under 5% loss:", res)
        # NACKs recover the losses: few frames are dropped and the picture keeps going; without
        # retransmission 5% packet loss breaks most frames of a 640x360 stream (several packets
        # each). Measured 0-3% dropped on an idle machine; under stress-ng 52 of 248 with Chrome
        # decoding at 8 fps, which is display-deadline misses, not loss.
        assert_few_frames_dropped(res, seconds=8)
        metrics = server.request("GET", "/metrics")[2].decode()
        rtx = [l for l in metrics.splitlines() if l.startswith("livecart_rtc_retransmissions_total")]
        assert rtx and float(rtx[0].split()[-1]) > 0, rtx
    finally:
        if rule:
            subprocess.run(["nft", "delete", "table", "inet", table], check=False)
        pub.kill()
        pub.wait()

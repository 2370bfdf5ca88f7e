"""Headless Chromium playing a room's live HLS with hls.js (npm, not a CDN), inside a private network
namespace (see tests/e2e/meson.build), the room fed over RTMP by ffmpeg."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lc  # noqa: E402
from conftest import media_env  # noqa: E402
from medialib import create_room, ffmpeg_rtmp, renditions, wait_for  # noqa: E402
from test_webrtc_browser import _network_namespace  # noqa: E402,F401  (autouse: fail outside the namespace)

KEY = "hls-browser-key-1"


def hls_case(server, room, seconds):
    cmd = ["node", os.path.join(HERE, "hls_case.mjs"), "--base", f"http://127.0.0.1:{server.http_port}", "--room",
           room, "--seconds", str(seconds)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90, cwd=HERE)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"hls case printed nothing: rc={p.returncode}\n{p.stderr[-3000:]}"
    return json.loads(lines[-1])


def test_chromium_hlsjs_plays_live_hls():
    with tempfile.TemporaryDirectory(prefix="lc-hls-") as root:
        s = lc.Server(extra=["log.level=info", "hls.enabled=true", f"hls.root={root}",
                             "media.rungs=720p:1280x720:2500,360p:640x360:800"])
        s.env.update(media_env())
        s.start()
        pub = None
        try:
            create_room(s, "hb1", KEY)
            pub = ffmpeg_rtmp(s, "hb1", KEY, seconds=90, size="1280x720", bframes=0)
            wait_for(lambda: "360p" in renditions(s, "hb1"), timeout=40, what="the ladder")
            # A live playlist with 3 segments: what hls.js needs to start at its live edge.
            def three_segments():
                d = os.path.join(root, "hb1", "360p")
                return (os.path.exists(os.path.join(root, "hb1", "master.m3u8")) and os.path.isdir(d)
                        and sum(n.endswith(".ts") for n in os.listdir(d)) >= 3)
            try:
                wait_for(three_segments, timeout=60, what="3 segments")
            except AssertionError:
                print(s.log_text()[-3000:], "\n", [os.path.join(a, f) for a, _, fs in os.walk(root) for f in fs])
                raise
            res = hls_case(s, "hb1", seconds=14)
            print("hls.js in chromium:", res)
            assert "error" not in res and not res["errors"], res
            assert sorted(l["height"] for l in res["levels"]) == [360, 720], res
            assert res["firstPlayMs"] is not None, res
            # The video time advances with the wall clock: no stall once playing.
            assert res["played"] >= 0.8 * res["playingFor"] - 1, res
            assert res["waiting"] <= 1, res
            assert res["totalFrames"] > 0 and res["droppedFrames"] <= 0.1 * res["totalFrames"] + 5, res
        finally:
            if pub:
                pub.kill()
                pub.wait()
            rc = s.stop()
            log = s.log_text()
            s.close()
            assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]

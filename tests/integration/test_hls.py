"""Live HLS output: a real RTMP publisher (ffmpeg), the real livecartd writing HLS, read back over
its HTTP by ffprobe/ffmpeg as a CDN or a player would. Debian's python3."""
import os
import re
import subprocess
import tempfile

import pytest

import lc
from conftest import media_env
from medialib import create_room, ffmpeg_rtmp, renditions, wait_for

USES_MEDIA = True
KEY = "hls-key-1234"
RUNGS = "720p:1280x720:2500,360p:640x360:800"


@pytest.fixture
def hls_server():
    tmp = tempfile.TemporaryDirectory(prefix="lc-hls-")
    s = lc.Server(extra=["hls.enabled=true", f"hls.root={tmp.name}", f"media.rungs={RUNGS}"])
    s.env.update(media_env())
    s.start()
    s.hls_dir = tmp.name
    yield s
    rc = s.stop()
    log = s.log_text()
    s.close()
    tmp.cleanup()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def get(server, path, headers=None):
    status, hdrs, body = server.request("GET", path, headers=headers)
    return status, {k.lower(): v for k, v in hdrs.items()}, body


def playlist_segments(text):
    """[(duration, uri)] of a media playlist."""
    out, dur = [], None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            dur = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            out.append((dur, line))
    return out


def variants(master):
    """[(attrs dict, uri)] of a master playlist."""
    out, attrs = [], None
    for line in master.splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line[18:]))
            attrs = {k: v.strip('"') for k, v in attrs.items()}
        elif line and not line.startswith("#") and attrs is not None:
            out.append((attrs, line))
            attrs = None
    return out


def ffprobe(url, *args):
    p = subprocess.run(["ffprobe", "-v", "error", *args, "-of", "csv=p=0", url], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_master_variants_segments_over_http(hls_server):
    s = hls_server
    create_room(s, "h1", KEY)
    pub = ffmpeg_rtmp(s, "h1", KEY, seconds=60, size="1280x720", bframes=0)
    try:
        wait_for(lambda: "360p" in renditions(s, "h1"), timeout=40, what="the ladder")
        # Four segments per rung: enough to compare boundaries.
        def enough():
            st, _, body = get(s, "/hls/h1/360p/index.m3u8")
            st2, _, body2 = get(s, "/hls/h1/720p/index.m3u8")
            return (st == 200 and st2 == 200 and len(playlist_segments(body.decode())) >= 4
                    and len(playlist_segments(body2.decode())) >= 4)
        wait_for(enough, timeout=60, what="4 segments per rung")
        st, hdrs, body = get(s, "/hls/h1/master.m3u8")
        assert st == 200, (st, body)
        assert hdrs["content-type"].startswith("application/vnd.apple.mpegurl"), hdrs
        master = body.decode()
        vs = variants(master)
        assert [uri for _, uri in vs] == ["720p/index.m3u8", "360p/index.m3u8"], master
        base = f"http://127.0.0.1:{s.http_port}/hls/h1/"
        for attrs, uri in vs:
            w, h = map(int, attrs["RESOLUTION"].split("x"))
            kbps = {"720p": 2500, "360p": 800}[uri.split("/")[0]]
            assert int(attrs["BANDWIDTH"]) >= kbps * 1000, attrs
            video_codec, audio_codec = attrs["CODECS"].split(",")
            assert audio_codec == "mp4a.40.2", attrs
            # CODECS is what the stream really is: profile and level from ffprobe.
            probe = ffprobe(base + uri, "-select_streams", "v", "-show_entries", "stream=profile,level,width,height")
            profile, width, height, level = probe.strip().splitlines()[0].split(",")
            assert (int(width), int(height)) == (w, h), (probe, attrs)
            assert profile == "Constrained Baseline", probe
            assert int(video_codec[-2:], 16) == int(level), (video_codec, level)
            # The variant decodes (video and audio) from its playlist over HTTP.
            frames = ffprobe(base + uri, "-count_frames", "-select_streams", "v", "-show_entries",
                             "stream=nb_read_frames")
            assert int(frames.strip().splitlines()[0]) >= 60, frames
        # Segments: <= target + one frame, each starts with a keyframe, and segment N of every
        # rung starts at the same media time (the rungs' keyframes are scheduled together).
        starts = {}
        dropped = s.call("media.status")["result"]["ingest"]["rooms"]["h1"].get("dropped_in", 0)
        for rung in ("720p", "360p"):
            _, hdrs, body = get(s, f"/hls/h1/{rung}/index.m3u8")
            assert "no-cache" in hdrs.get("cache-control", ""), hdrs
            text = body.decode()
            target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))
            assert target == 2 or dropped > 0, text
            seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
            for i, (dur, seg) in enumerate(playlist_segments(text)):
                # Frames the ladder dropped at its input (a machine too busy for the 720p encoder)
                # leave a hole in a segment: longer, never misaligned (checked below).
                assert dur <= target + 1 / 30 + 1e-6 or dropped > 0, (rung, dur, seg)
                st, shdrs, _ = get(s, f"/hls/h1/{rung}/{seg}", headers={"Range": "bytes=0-187"})
                assert st == 206 and shdrs["content-type"] == "video/mp2t", (st, shdrs)
                pkts = ffprobe(os.path.join(s.hls_dir, "h1", rung, seg), "-select_streams", "v",
                               "-show_entries", "packet=pts_time,flags", "-read_intervals", "%+#1")
                pts, flags = pkts.strip().splitlines()[0].split(",")[:2]
                assert flags.startswith("K"), (rung, seg, pkts)
                starts.setdefault(rung, {})[seq + i] = float(pts)
        # Segment boundaries are the same media times on every rung. (The media sequence numbers
        # are not aligned yet: each rung's writer counts from its own first segment; issue 14 note.)
        t720 = {round(t, 3) for t in starts["720p"].values()}
        t360 = {round(t, 3) for t in starts["360p"].values()}
        common = sorted(t720 & t360)
        assert len(common) >= 3, starts
        lo, hi = max(min(t720), min(t360)), min(max(t720), max(t360))
        assert {t for t in t720 if lo <= t <= hi} == {t for t in t360 if lo <= t <= hi}, starts
        # Nothing outside the HLS root.
        for bad in ("/hls/../livecartd.log", "/hls/h1/../../etc/passwd", "/hls/%2e%2e/x.m3u8", "/hls/h1/720p/x.sh"):
            st, _, _ = get(s, bad)
            assert st == 404, (bad, st)
    finally:
        pub.kill()
        pub.wait()

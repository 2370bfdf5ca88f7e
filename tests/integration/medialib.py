"""Media helpers for the integration tests: real publishers (ffmpeg, GStreamer) and real
receivers (GStreamer decoding a tap's RTP, the webrtcbin WHEP client). Debian's python3."""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def create_room(server, room, key):
    r = server.call("room.create", {"id": room, "title": room, "stream_key": key})
    assert "error" not in r, r
    return r


def ffmpeg_rtmp(server, room, key, seconds=10, size="1280x720", fps=30, bframes=None, extra=(), url=None,
                source="testsrc2"):
    """ffmpeg publishing testsrc2 (or another lavfi source: "smptebars" is still) + a tone as
    H.264 (High, B-frames by default) + AAC over RTMP."""
    url = url or f"rtmp://127.0.0.1:{server.rtmp_port}/live/{room}?key={key}"
    v = ["-c:v", "libx264", "-preset", "veryfast", "-g", str(fps * 2), "-pix_fmt", "yuv420p"]
    if bframes is not None:
        v += ["-bf", str(bframes)]
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
           "-f", "lavfi", "-i", f"{source}=size={size}:rate={fps}",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", str(seconds), *v, "-c:a", "aac", "-b:a", "96k", *extra, "-f", "flv", url]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def ffmpeg_srt(server, room, key, seconds=10, size="1280x720", fps=30):
    streamid = f"#!::r={room},k={key}"
    url = f"srt://127.0.0.1:{server.srt_port}?streamid={streamid}&latency=120000"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-g", str(fps * 2), "-bf", "0",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "mpegts", url]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def gst_rtmp(server, room, key, element="rtmpsink", seconds=6, size=(1280, 720), fps=30):
    """GStreamer publishing: rtmpsink (librtmp, the client family of OBS) or rtmp2sink."""
    n = seconds * fps
    url = f"rtmp://127.0.0.1:{server.rtmp_port}/live/{room}?key={key}"
    prop = f"location=\"{url} live=1\"" if element == "rtmpsink" else f"location=\"{url}\""
    pipeline = (f"videotestsrc num-buffers={n} is-live=true pattern=ball ! video/x-raw,width={size[0]},height={size[1]},"
                f"framerate={fps}/1 ! x264enc tune=zerolatency speed-preset=veryfast key-int-max={fps * 2} ! "
                f"h264parse ! queue ! mux. audiotestsrc is-live=true num-buffers={seconds * 47} ! "
                f"audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! mux. "
                f"flvmux name=mux streamable=true ! {element} {prop}")
    return subprocess.Popen(["sh", "-c", "exec gst-launch-1.0 -q -e " + pipeline],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(pred, timeout=20, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def media_status(server, room):
    r = server.call("media.status", {"room": room})
    return r.get("result") if "result" in r else None


def media_state(server, room):
    """The ingest state of a room ("live", "grace") or None when it has no publisher record."""
    r = server.call("media.status")
    rooms = r.get("result", {}).get("ingest", {}).get("rooms", {})
    return rooms.get(room, {}).get("state")


def renditions(server, room):
    st = media_status(server, room)
    return {x["name"]: x for x in st["renditions"]} if st else {}


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def decode_tap(server, room, rung, seconds, video=True):
    """Taps a rendition to a local UDP port and decodes it with GStreamer for `seconds`.
    Returns {"frames", "width", "height"} (video) or {"buffers", "samples"} (audio)."""
    port = free_udp_port()
    script = os.path.join(HERE, "rtp_decode.py")
    proc = subprocess.Popen(["/usr/bin/python3", script, "--port", str(port), "--seconds", str(seconds),
                             "--kind", "video" if video else "audio"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The receiver says when its socket is bound (python + GStreamer start slowly on a loaded
    # machine): a tap started earlier would lose the keyframe it asks for.
    ready = proc.stdout.readline()
    assert ready.strip() == "ready", (ready, proc.stderr.read() if proc.poll() is not None else "")
    r = server.call("media.tap", {"room": room, "rung": rung, "port": port})
    assert "error" not in r, r
    out, err = proc.communicate(timeout=seconds + 30)
    server.call("media.untap", {"room": room, "rung": rung})
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


class RawTap:
    """Receives a tap's plain RTP with a socket: SSRC, seq and timestamps as sent."""

    def __init__(self, server, room, rung):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.packets = []  # (arrival, ssrc, seq, ts, marker)
        self.payloads = []  # the RTP payload's first bytes of each packet, same order
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        r = server.call("media.tap", {"room": room, "rung": rung, "port": self.sock.getsockname()[1]})
        assert "error" not in r, r

    def _run(self):
        while not self.stop_flag:
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            if len(data) >= 12:
                b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
                off = 12 + 4 * (b0 & 0x0F)
                if b0 & 0x10 and len(data) >= off + 4:  # header extension
                    off += 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
                self.payloads.append(data[off:off + 64])
                self.packets.append((time.monotonic(), ssrc, seq, ts, bool(b1 & 0x80)))

    def close(self):
        self.stop_flag = True
        self.thread.join()
        self.sock.close()


def h264_nal_types(payload):
    """The H.264 NAL unit types an RTP payload (RFC 6184) carries: STAP-A lists its units, an FU-A
    start fragment names its unit's type, a continuation fragment gives []."""
    if not payload:
        return []
    nal = payload[0] & 0x1F
    if nal == 28:  # FU-A
        return [payload[1] & 0x1F] if len(payload) > 1 and payload[1] & 0x80 else []
    if nal == 24:  # STAP-A: 16-bit size + NAL, repeated
        types, i = [], 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i:i + 2], "big")
            types.append(payload[i + 2] & 0x1F)
            i += 2 + size
        return types
    return [nal]


def access_units(tap):
    """A RawTap's packets grouped into access units (runs of one RTP timestamp, in arrival order):
    [{"ts", "markers": [index of each marker packet within the unit], "n", "types": NAL types}].
    The first and last units are left out (the tap may have started or stopped inside them)."""
    units = []
    for (_, _, _, ts, marker), payload in zip(list(tap.packets), list(tap.payloads)):
        if not units or units[-1]["ts"] != ts:
            units.append({"ts": ts, "markers": [], "n": 0, "types": []})
        u = units[-1]
        if marker:
            u["markers"].append(u["n"])
        u["types"] += h264_nal_types(payload)
        u["n"] += 1
    return units[1:-1]


def whip_publisher(server, room, key, seconds, size="854x480"):
    """tests/integration/whip_client.py (webrtcbin, libnice defaults) publishing into room; it
    prints its JSON result when it ends (after `seconds`)."""
    url = f"http://127.0.0.1:{server.http_port}/whip/{room}"
    return subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "whip_client.py"), "--url", url, "--bearer", key,
                             "--seconds", str(seconds), "--size", size],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def whep_client_async(server, room, seconds, extra=()):
    """whep_client.py started in the background; finish_whep_client() collects its result."""
    url = f"http://127.0.0.1:{server.http_port}/whep/{room}"
    return subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "whep_client.py"), "--url", url,
                             "--seconds", str(seconds), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_client(proc, timeout=90):
    out, err = proc.communicate(timeout=timeout)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    assert lines, f"client printed nothing: rc={proc.returncode} stderr={err[-2000:]}"
    return json.loads(lines[-1])


def whep_client(server, room, seconds=6, extra=()):
    """Runs tests/integration/whep_client.py (GStreamer webrtcbin) and returns its JSON result."""
    url = f"http://127.0.0.1:{server.http_port}/whep/{room}"
    p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "whep_client.py"), "--url", url,
                        "--seconds", str(seconds), *extra],
                       capture_output=True, text=True, timeout=seconds + 60)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, f"whep client printed nothing: rc={p.returncode} stderr={p.stderr[-2000:]}"
    return json.loads(lines[-1])

#!/usr/bin/python3
"""Decodes plain RTP arriving on a local UDP port with GStreamer and prints what it saw as JSON:
video (H.264, PT 96): {"frames" (decoded), "rtp_frames" (frames that arrived from the first
keyframe on: RTP marker bits), "width", "height"}; audio (Opus, PT 111): {"buffers", "samples"}.
With --frames-out FILE, every decoded video frame's luma plane (width x height bytes) is
appended to FILE and the result gets "frame_times" (wall clock ms of each frame's decoding).
Used by the integration tests on the server's test taps (media.tap)."""
import argparse
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def is_keyframe_start(pkt):
    """True when an H.264 RTP packet (RFC 6184) starts an IDR or carries an SPS."""
    if len(pkt) < 13:
        return False
    off = 12 + 4 * (pkt[0] & 0x0F)
    if pkt[0] & 0x10 and len(pkt) >= off + 4:  # header extension
        off += 4 + 4 * int.from_bytes(pkt[off + 2:off + 4], "big")
    p = pkt[off:]
    if not p:
        return False
    nal = p[0] & 0x1F
    if nal == 28 and len(p) > 1:  # FU-A: the start fragment names the type
        return bool(p[1] & 0x80) and (p[1] & 0x1F) in (5, 7)
    if nal == 24:  # STAP-A: 16-bit size + NAL, repeated
        i = 1
        while i + 2 < len(p):
            size = int.from_bytes(p[i:i + 2], "big")
            if (p[i + 2] & 0x1F) in (5, 7):
                return True
            i += 2 + size
        return False
    return nal in (5, 7)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--kind", choices=["video", "audio"], default="video")
    ap.add_argument("--frames-out", default=None)
    a = ap.parse_args()
    Gst.init(None)
    if a.kind == "video":
        desc = (f"udpsrc name=src address=127.0.0.1 port={a.port} buffer-size=4194304 caps=\"application/x-rtp,media=video,"
                "clock-rate=90000,encoding-name=H264,payload=96\" ! rtpjitterbuffer latency=200 ! "
                "rtph264depay ! h264parse ! avdec_h264 ! "
                + ("videoconvert ! video/x-raw,format=GRAY8 ! " if a.frames_out else "")
                + "fakesink name=sink sync=false signal-handoffs=true")
    else:
        desc = (f"udpsrc address=127.0.0.1 port={a.port} caps=\"application/x-rtp,media=audio,clock-rate=48000,"
                "encoding-name=OPUS,payload=111\" ! rtpjitterbuffer latency=200 ! rtpopusdepay ! opusdec ! "
                "fakesink name=sink sync=false signal-handoffs=true")
    pipe = Gst.parse_launch(desc)
    res = {"frames": 0, "rtp_frames": 0, "width": 0, "height": 0} if a.kind == "video" else {"buffers": 0, "samples": 0}

    seen = {"keyframe": False}
    frames_out = open(a.frames_out, "wb") if a.frames_out else None
    if frames_out:
        res["frame_times"] = []

    def on_rtp(pad, info):
        ok, m = info.get_buffer().map(Gst.MapFlags.READ)
        if ok:
            data = bytes(m.data)
            info.get_buffer().unmap(m)
            # Frames count from the first keyframe on: before it nothing is decodable.
            if not seen["keyframe"] and is_keyframe_start(data):
                seen["keyframe"] = True
                res["keyframe_ms"] = round((time.monotonic() - seen["t0"]) * 1000)
            if seen["keyframe"] and len(data) > 1 and data[1] & 0x80:
                res["rtp_frames"] += 1
        return Gst.PadProbeReturn.OK

    def on_handoff(sink, buf, pad):
        if a.kind == "video":
            res["frames"] += 1
            if not res["width"]:
                s = pad.get_current_caps().get_structure(0)
                res["width"], res["height"] = s.get_value("width"), s.get_value("height")
            if frames_out:
                ok, m = buf.map(Gst.MapFlags.READ)
                if ok:  # GRAY8 rows are padded to 4 bytes: keep width bytes of each
                    w, h = res["width"], res["height"]
                    stride = (w + 3) // 4 * 4
                    data = bytes(m.data)
                    buf.unmap(m)
                    frames_out.write(b"".join(data[y * stride:y * stride + w] for y in range(h)))
                    frames_out.flush()
                    res["frame_times"].append(round(time.time() * 1000))
        else:
            res["buffers"] += 1
            res["samples"] += buf.get_size() // 4  # S16 stereo

    pipe.get_by_name("sink").connect("handoff", on_handoff)
    if a.kind == "video":
        pipe.get_by_name("src").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_rtp)
    loop = GLib.MainLoop()
    bus = pipe.get_bus()
    bus.add_signal_watch()

    def on_error(_, msg):
        err, dbg = msg.parse_error()
        res["error"] = err.message
        loop.quit()

    bus.connect("message::error", on_error)
    pipe.set_state(Gst.State.PLAYING)
    pipe.get_state(5 * Gst.SECOND)  # udpsrc has bound its port
    seen["t0"] = time.monotonic()
    print("ready", flush=True)  # the caller starts the tap only now: nothing sent is lost
    GLib.timeout_add(int(a.seconds * 1000), loop.quit)
    # SIGTERM ends the run early with its result (a test that saw what it waited for)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, lambda: loop.quit() or False)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    if frames_out:
        frames_out.close()
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

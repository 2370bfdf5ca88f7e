#!/usr/bin/python3
"""A WHEP viewer built on GStreamer webrtcbin (a real WebRTC stack: libnice ICE, DTLS, SRTP,
jitter buffer, depayloaders, libav decoders), for the integration tests and by hand:

    /usr/bin/python3 tests/integration/whep_client.py --url http://127.0.0.1:8080/whep/demo --seconds 5

It POSTs its offer, plays what arrives, counts decoded video frames and audio buffers, and prints
one JSON object: {"status", "frames", "frames_last_5s", "max_gap_ms" (longest time between two
decoded frames), "width", "height", "audio_buffers",
"first_frame_ms", "connect_ms", "location", "pinned"?, "error"?}. Then it DELETEs its session.

libnice skips loopback interfaces when gathering (see docs/webrtc.md): the client adds 127.0.0.1
to the agent itself before gathering, so it works on a host (or namespace) with only `lo`.
"""
import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstWebRTC, Nice  # noqa: E402

import webrtc_http  # noqa: E402
from rtp_decode import is_keyframe_start  # noqa: E402


class WhepClient:
    def __init__(self, url, video=True, audio=True, bearer=None, pin=None):
        self.url = url
        self.pin = pin
        self.frame_times = []  # monotonic time of every decoded frame
        self.bearer = bearer
        self.keyframe_seen = False
        self.result = {"status": None, "frames": 0, "rtp_frames": 0, "width": 0, "height": 0, "audio_buffers": 0,
                       "first_frame_ms": None, "connect_ms": None, "location": None}
        self.lock = threading.Lock()
        self.t0 = None
        self.loop = GLib.MainLoop()
        self.pipe = Gst.Pipeline.new("whep")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.webrtc.set_property("latency", 100)
        self.pipe.add(self.webrtc)
        # Keep the ICE object referenced for the client's life: PyGObject drops one reference
        # too many on the "ice-agent" property's object when its wrapper is collected.
        self.ice = self.webrtc.get_property("ice-agent")
        agent = self.ice.get_property("agent")
        addr = Nice.Address.new()
        addr.set_from_string("127.0.0.1")
        agent.add_local_address(addr)
        if video:
            caps = Gst.Caps.from_string("application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,"
                                        "payload=102,packetization-mode=(string)1,"
                                        "profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1")
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
        if audio:
            caps = Gst.Caps.from_string("application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,"
                                        "payload=111,encoding-params=(string)2")
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
        self.webrtc.connect("pad-added", self.on_pad)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self.on_ice)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    # -- signaling --
    def start(self):
        self.pipe.set_state(Gst.State.PLAYING)
        promise = Gst.Promise.new_with_change_func(self.on_offer, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer(self, promise, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering(self, *_):
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and self.t0 is None:
            GLib.idle_add(self.post_offer)

    def post_offer(self):
        self.t0 = time.monotonic()
        if not webrtc_http.exchange(self.webrtc, self.url, self.result, self.bearer):
            self.loop.quit()
            return False
        if self.pin and self.result["location"]:
            req = urllib.request.Request(self.result["location"] + "/layer", method="POST",
                                         data=json.dumps({"rung": self.pin}).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    self.result["pinned"] = resp.status
            except urllib.error.HTTPError as e:
                self.result["pinned"] = e.code
        return False

    def on_ice(self, *_):
        state = self.webrtc.get_property("ice-connection-state")
        if state in (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED):
            with self.lock:
                if self.result["connect_ms"] is None and self.t0:
                    self.result["connect_ms"] = round((time.monotonic() - self.t0) * 1000, 1)

    # -- media --
    def on_pad(self, _, pad):
        if pad.direction != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        media = caps.get_structure(0).get_string("media")
        if media == "video":
            pad.add_probe(Gst.PadProbeType.BUFFER, self.on_video_rtp)
            desc = ("rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! "
                    "fakesink name=vsink sync=false signal-handoffs=true")
        else:
            desc = "rtpopusdepay ! opusdec ! audioconvert ! fakesink name=asink sync=false signal-handoffs=true"
        bin_ = Gst.parse_bin_from_description(desc, True)
        self.pipe.add(bin_)
        bin_.sync_state_with_parent()
        pad.link(bin_.get_static_pad("sink"))
        sink = bin_.get_by_name("vsink" if media == "video" else "asink")
        sink.connect("handoff", self.on_video if media == "video" else self.on_audio)

    def on_video_rtp(self, pad, info):
        """Counts the frames that arrived (RTP marker bits, after SRTP and the jitterbuffer) from
        the first keyframe on: what the decoder could have decoded."""
        ok, m = info.get_buffer().map(Gst.MapFlags.READ)
        if ok:
            data = bytes(m.data)
            info.get_buffer().unmap(m)
            with self.lock:
                if not self.keyframe_seen and is_keyframe_start(data):
                    self.keyframe_seen = True
                if self.keyframe_seen and len(data) > 1 and data[1] & 0x80:
                    self.result["rtp_frames"] += 1
        return Gst.PadProbeReturn.OK

    def on_video(self, sink, buf, pad):
        with self.lock:
            if self.result["frames"] == 0 and self.t0:
                self.result["first_frame_ms"] = round((time.monotonic() - self.t0) * 1000, 1)
            self.result["frames"] += 1
            self.frame_times.append(time.monotonic())
            if not self.result["width"]:
                s = pad.get_current_caps().get_structure(0)
                self.result["width"] = s.get_value("width")
                self.result["height"] = s.get_value("height")

    def on_audio(self, sink, buf, pad):
        with self.lock:
            self.result["audio_buffers"] += 1

    def on_error(self, _, msg):
        err, dbg = msg.parse_error()
        self.result.setdefault("error", f"{err.message} ({dbg})")
        self.loop.quit()

    def delete(self):
        webrtc_http.delete(self.result)

    def run(self, seconds):
        self.start()
        GLib.timeout_add(int(seconds * 1000), self.loop.quit)
        self.loop.run()
        end = time.monotonic()
        self.pipe.set_state(Gst.State.NULL)
        with self.lock:  # still decoding at the end?
            self.result["frames_last_5s"] = sum(1 for t in self.frame_times if t > end - 5)
            # The longest stall a viewer saw between two decoded frames (0 with fewer than 2).
            gaps = [b - a for a, b in zip(self.frame_times, self.frame_times[1:])]
            self.result["max_gap_ms"] = round(max(gaps) * 1000, 1) if gaps else 0
        self.delete()
        return self.result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http://HOST:PORT/whep/ROOM")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--bearer")
    ap.add_argument("--pin", help="pin a rung (POST {location}/layer) once the answer is in")
    a = ap.parse_args()
    Gst.init(None)
    res = WhepClient(a.url, video=not a.no_video, audio=not a.no_audio, bearer=a.bearer, pin=a.pin).run(a.seconds)
    print(json.dumps(res))
    return 0 if res.get("status") == 201 else 1


if __name__ == "__main__":
    sys.exit(main())

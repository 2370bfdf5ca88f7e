#!/usr/bin/python3
"""A WHIP publisher built on GStreamer webrtcbin with libnice as shipped (its keepalives are
STUN Binding Indications), for the integration tests and by hand:

    /usr/bin/python3 tests/integration/whip_client.py --url http://127.0.0.1:8080/whip/demo \\
        --bearer KEY --seconds 60 [--size 854x480]

It publishes videotestsrc (x264, constrained baseline, zerolatency) and a tone (Opus), says
"connected" on stdout once ICE is connected, and at the end prints one JSON object: {"status",
"location", "connect_ms", "dtls_state" (of the video sender at the end: "connected", or "closed"
when the server said goodbye), "server_closed_ms" (when the DTLS transport closed, if it did),
"error"?}. It DELETEs its session unless the server closed it.
"""
import argparse
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstWebRTC, Nice  # noqa: E402

import webrtc_http  # noqa: E402


class WhipClient:
    def __init__(self, url, bearer, size, fps):
        self.url, self.bearer = url, bearer
        self.result = {"status": None, "location": None, "connect_ms": None, "dtls_state": None,
                       "server_closed_ms": None}
        self.t0 = None
        self.stopping = False
        self.loop = GLib.MainLoop()
        w, h = size
        self.pipe = Gst.parse_launch(
            f"webrtcbin name=webrtc bundle-policy=max-bundle "
            f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 ! "
            f"x264enc tune=zerolatency speed-preset=veryfast key-int-max={fps * 2} bitrate=1500 ! "
            f"video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=102 ! "
            f"application/x-rtp,media=video,encoding-name=H264,payload=102 ! webrtc. "
            f"audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 ! "
            f"application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! webrtc.")
        self.webrtc = self.pipe.get_by_name("webrtc")
        # See whep_client.py: keep the ICE object referenced; libnice skips lo when gathering.
        self.ice = self.webrtc.get_property("ice-agent")
        addr = Nice.Address.new()
        addr.set_from_string("127.0.0.1")
        self.ice.get_property("agent").add_local_address(addr)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self.on_ice)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    def on_negotiation_needed(self, *_):
        promise = Gst.Promise.new_with_change_func(self.on_offer, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer(self, promise, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer")  # the reply owns the offer: keep it alive meanwhile
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_gathering(self, *_):
        if self.webrtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE \
                and self.t0 is None:
            GLib.idle_add(self.post_offer)

    def post_offer(self):
        self.t0 = time.monotonic()
        if not webrtc_http.exchange(self.webrtc, self.url, self.result, self.bearer):
            self.loop.quit()
        return False

    def on_ice(self, *_):
        state = self.webrtc.get_property("ice-connection-state")
        if state in (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED):
            if self.result["connect_ms"] is None and self.t0:
                self.result["connect_ms"] = round((time.monotonic() - self.t0) * 1000, 1)
                print("connected", flush=True)
                t = self.webrtc.emit("get-transceiver", 0)
                transport = t.get_property("sender").get_property("transport") if t else None
                if transport:
                    transport.connect("notify::state", self.on_dtls)

    def on_dtls(self, transport, _):
        if transport.get_property("state") == GstWebRTC.WebRTCDTLSTransportState.CLOSED and not self.stopping \
                and self.result["server_closed_ms"] is None:
            self.result["server_closed_ms"] = round((time.monotonic() - self.t0) * 1000, 1)

    def on_error(self, _, msg):
        err, dbg = msg.parse_error()
        self.result.setdefault("error", f"{err.message} ({dbg})")
        self.loop.quit()

    def run(self, seconds):
        self.pipe.set_state(Gst.State.READY)  # the transceivers of the linked pads exist now
        for i in range(2):
            t = self.webrtc.emit("get-transceiver", i)
            if t:
                t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add(int(seconds * 1000), self.loop.quit)
        self.loop.run()
        t = self.webrtc.emit("get-transceiver", 0)
        transport = t.get_property("sender").get_property("transport") if t else None
        if transport:
            self.result["dtls_state"] = transport.get_property("state").value_nick
        self.stopping = True
        self.pipe.set_state(Gst.State.NULL)
        if self.result["server_closed_ms"] is None:
            webrtc_http.delete(self.result)
        return self.result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http://HOST:PORT/whip/ROOM")
    ap.add_argument("--bearer", required=True, help="the room's stream key")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--fps", type=int, default=30)
    a = ap.parse_args()
    Gst.init(None)
    w, h = (int(x) for x in a.size.split("x"))
    res = WhipClient(a.url, a.bearer, (w, h), a.fps).run(a.seconds)
    print(json.dumps(res), flush=True)
    return 0 if res.get("status") == 201 else 1


if __name__ == "__main__":
    sys.exit(main())

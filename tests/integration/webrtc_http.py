"""The HTTP half of a WHIP/WHEP client, shared by whep_client.py and whip_client.py: POST the
offer, apply the answer to webrtcbin, DELETE the session. Debian's python3 with GI."""
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstSdp, GstWebRTC  # noqa: E402


def exchange(webrtc, url, result, bearer=None):
    """POSTs webrtc's local description to url; on 201 sets the answer as its remote description.
    Fills result["status"], ["location"] (absolute) or ["error"]. True when the answer is set."""
    sdp = webrtc.get_property("local-description").sdp.as_text()
    headers = {"Content-Type": "application/sdp"}
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    req = urllib.request.Request(url, data=sdp.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            result["status"] = resp.status
            loc = resp.headers.get("Location")
            result["location"] = urllib.parse.urljoin(url, loc) if loc else None
            answer_text = resp.read().decode()
    except urllib.error.HTTPError as e:
        result["status"] = e.code
        result["error"] = e.read().decode(errors="replace")
        return False
    except Exception as e:  # noqa: BLE001 (connection refused, timeout)
        result["error"] = repr(e)
        return False
    _, msg = GstSdp.SDPMessage.new_from_text(answer_text)
    answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
    webrtc.emit("set-remote-description", answer, Gst.Promise.new())
    return True


def delete(result):
    """DELETEs result["location"] if any; result["deleted"] = the status (or the error)."""
    loc = result.get("location")
    if not loc:
        return
    try:
        with urllib.request.urlopen(urllib.request.Request(loc, method="DELETE"), timeout=5) as r:
            result["deleted"] = r.status
    except urllib.error.HTTPError as e:
        result["deleted"] = e.code
    except Exception as e:  # noqa: BLE001
        result["deleted"] = repr(e)

/* SDP: four realistic offers (Chrome 120+, Firefox, Safari, GStreamer webrtcbin 1.22)
 * parsed field by field and answered line by line; profile comparison; the errors an
 * offer we cannot serve gets; malformed input. */
#include <glib.h>
#include <string.h>

#include "base/errors.h"
#include "rtc/sdp.h"

/* Chrome 120+ WHEP viewer: addTransceiver("audio"/"video", {direction: "recvonly"}).
 * Port 9, candidates only in the first m=, VP8 first, rtx/red/ulpfec, H.264 42001f/42e01f/
 * 4d001f/f4001f in both packetization modes. */
static const char CHROME_OFFER[] =
  "v=0\r\n"
  "o=- 4215775240449105457 2 IN IP4 127.0.0.1\r\n"
  "s=-\r\n"
  "t=0 0\r\n"
  "a=group:BUNDLE 0 1\r\n"
  "a=extmap-allow-mixed\r\n"
  "a=msid-semantic: WMS\r\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=candidate:1467250027 1 udp 2122260223 127.0.0.1 46243 typ host generation 0 network-id 1\r\n"
  "a=ice-ufrag:Fk4u\r\n"
  "a=ice-pwd:c1R3mVxS6vZ8yFd0uQxTq3lA\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 93:90:EF:32:AD:DF:32:BF:DE:A7:86:BC:1E:20:67:95:92:49:80:68:BC:BF:CD:35:7E:A1:0A:B6:4E:A3:5E:47\r\n"
  "a=setup:actpass\r\n"
  "a=mid:0\r\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=recvonly\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=rtpmap:111 opus/48000/2\r\n"
  "a=rtcp-fb:111 transport-cc\r\n"
  "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
  "a=rtpmap:63 red/48000/2\r\n"
  "a=fmtp:63 111/111\r\n"
  "a=rtpmap:9 G722/8000\r\n"
  "a=rtpmap:0 PCMU/8000\r\n"
  "a=rtpmap:8 PCMA/8000\r\n"
  "a=rtpmap:13 CN/8000\r\n"
  "a=rtpmap:110 telephone-event/48000\r\n"
  "a=rtpmap:126 telephone-event/8000\r\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=ice-ufrag:Fk4u\r\n"
  "a=ice-pwd:c1R3mVxS6vZ8yFd0uQxTq3lA\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 93:90:EF:32:AD:DF:32:BF:DE:A7:86:BC:1E:20:67:95:92:49:80:68:BC:BF:CD:35:7E:A1:0A:B6:4E:A3:5E:47\r\n"
  "a=setup:actpass\r\n"
  "a=mid:1\r\n"
  "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:13 urn:3gpp:video-orientation\r\n"
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
  "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\n"
  "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\n"
  "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\n"
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
  "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n"
  "a=recvonly\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=rtpmap:96 VP8/90000\r\n"
  "a=rtcp-fb:96 goog-remb\r\n"
  "a=rtcp-fb:96 transport-cc\r\n"
  "a=rtcp-fb:96 ccm fir\r\n"
  "a=rtcp-fb:96 nack\r\n"
  "a=rtcp-fb:96 nack pli\r\n"
  "a=rtpmap:97 rtx/90000\r\n"
  "a=fmtp:97 apt=96\r\n"
  "a=rtpmap:102 H264/90000\r\n"
  "a=rtcp-fb:102 goog-remb\r\n"
  "a=rtcp-fb:102 transport-cc\r\n"
  "a=rtcp-fb:102 ccm fir\r\n"
  "a=rtcp-fb:102 nack\r\n"
  "a=rtcp-fb:102 nack pli\r\n"
  "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
  "a=rtpmap:103 rtx/90000\r\n"
  "a=fmtp:103 apt=102\r\n"
  "a=rtpmap:104 H264/90000\r\n"
  "a=rtcp-fb:104 goog-remb\r\n"
  "a=rtcp-fb:104 transport-cc\r\n"
  "a=rtcp-fb:104 ccm fir\r\n"
  "a=rtcp-fb:104 nack\r\n"
  "a=rtcp-fb:104 nack pli\r\n"
  "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n"
  "a=rtpmap:105 rtx/90000\r\n"
  "a=fmtp:105 apt=104\r\n"
  "a=rtpmap:106 H264/90000\r\n"
  "a=rtcp-fb:106 goog-remb\r\n"
  "a=rtcp-fb:106 transport-cc\r\n"
  "a=rtcp-fb:106 ccm fir\r\n"
  "a=rtcp-fb:106 nack\r\n"
  "a=rtcp-fb:106 nack pli\r\n"
  "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
  "a=rtpmap:107 rtx/90000\r\n"
  "a=fmtp:107 apt=106\r\n"
  "a=rtpmap:108 H264/90000\r\n"
  "a=rtcp-fb:108 goog-remb\r\n"
  "a=rtcp-fb:108 transport-cc\r\n"
  "a=rtcp-fb:108 ccm fir\r\n"
  "a=rtcp-fb:108 nack\r\n"
  "a=rtcp-fb:108 nack pli\r\n"
  "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n"
  "a=rtpmap:109 rtx/90000\r\n"
  "a=fmtp:109 apt=108\r\n"
  "a=rtpmap:127 H264/90000\r\n"
  "a=rtcp-fb:127 goog-remb\r\n"
  "a=rtcp-fb:127 transport-cc\r\n"
  "a=rtcp-fb:127 ccm fir\r\n"
  "a=rtcp-fb:127 nack\r\n"
  "a=rtcp-fb:127 nack pli\r\n"
  "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n"
  "a=rtpmap:125 rtx/90000\r\n"
  "a=fmtp:125 apt=127\r\n"
  "a=rtpmap:39 H264/90000\r\n"
  "a=rtcp-fb:39 goog-remb\r\n"
  "a=rtcp-fb:39 transport-cc\r\n"
  "a=rtcp-fb:39 ccm fir\r\n"
  "a=rtcp-fb:39 nack\r\n"
  "a=rtcp-fb:39 nack pli\r\n"
  "a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f\r\n"
  "a=rtpmap:40 rtx/90000\r\n"
  "a=fmtp:40 apt=39\r\n"
  "a=rtpmap:45 AV1/90000\r\n"
  "a=rtcp-fb:45 goog-remb\r\n"
  "a=rtcp-fb:45 transport-cc\r\n"
  "a=rtcp-fb:45 ccm fir\r\n"
  "a=rtcp-fb:45 nack\r\n"
  "a=rtcp-fb:45 nack pli\r\n"
  "a=fmtp:45 level-idx=5;profile=0;tier=0\r\n"
  "a=rtpmap:46 rtx/90000\r\n"
  "a=fmtp:46 apt=45\r\n"
  "a=rtpmap:98 VP9/90000\r\n"
  "a=rtcp-fb:98 goog-remb\r\n"
  "a=rtcp-fb:98 transport-cc\r\n"
  "a=rtcp-fb:98 ccm fir\r\n"
  "a=rtcp-fb:98 nack\r\n"
  "a=rtcp-fb:98 nack pli\r\n"
  "a=fmtp:98 profile-id=0\r\n"
  "a=rtpmap:99 rtx/90000\r\n"
  "a=fmtp:99 apt=98\r\n"
  "a=rtpmap:100 VP9/90000\r\n"
  "a=rtcp-fb:100 goog-remb\r\n"
  "a=rtcp-fb:100 transport-cc\r\n"
  "a=rtcp-fb:100 ccm fir\r\n"
  "a=rtcp-fb:100 nack\r\n"
  "a=rtcp-fb:100 nack pli\r\n"
  "a=fmtp:100 profile-id=2\r\n"
  "a=rtpmap:101 rtx/90000\r\n"
  "a=fmtp:101 apt=100\r\n"
  "a=rtpmap:112 H264/90000\r\n"
  "a=rtcp-fb:112 goog-remb\r\n"
  "a=rtcp-fb:112 transport-cc\r\n"
  "a=rtcp-fb:112 ccm fir\r\n"
  "a=rtcp-fb:112 nack\r\n"
  "a=rtcp-fb:112 nack pli\r\n"
  "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=f4001f\r\n"
  "a=rtpmap:113 rtx/90000\r\n"
  "a=fmtp:113 apt=112\r\n"
  "a=rtpmap:116 red/90000\r\n"
  "a=rtpmap:117 rtx/90000\r\n"
  "a=fmtp:117 apt=116\r\n"
  "a=rtpmap:118 ulpfec/90000\r\n"
  ;

/* Firefox: session-level fingerprint, fmtp before rtpmap, extmap with direction,
 * a=ssrc cname even on recvonly sections. */
static const char FIREFOX_OFFER[] =
  "v=0\r\n"
  "o=mozilla...THIS_IS_SDPARTA-99.0 7140936046009463839 0 IN IP4 0.0.0.0\r\n"
  "s=-\r\n"
  "t=0 0\r\n"
  "a=fingerprint:sha-256 16:e5:f6:0f:20:7a:1a:00:73:45:1c:35:a9:d3:15:d1:7f:dc:17:d7:fa:b6:64:49:b0:0c:df:aa:dc:8b:24:9e\r\n"
  "a=group:BUNDLE 0 1\r\n"
  "a=ice-options:trickle\r\n"
  "a=msid-semantic:WMS *\r\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=recvonly\r\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
  "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n"
  "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n"
  "a=fmtp:101 0-15\r\n"
  "a=ice-pwd:4e4f0f2b3d6f1c1e0e6f6c2a8b9d0e1f\r\n"
  "a=ice-ufrag:2a7c1d3f\r\n"
  "a=mid:0\r\n"
  "a=rtcp-mux\r\n"
  "a=rtpmap:109 opus/48000/2\r\n"
  "a=rtpmap:9 G722/8000/1\r\n"
  "a=rtpmap:0 PCMU/8000\r\n"
  "a=rtpmap:8 PCMA/8000\r\n"
  "a=rtpmap:101 telephone-event/8000\r\n"
  "a=setup:actpass\r\n"
  "a=ssrc:1385413411 cname:{b2a7c6e4-3f0a-4d8e-9a51-2c1f7e0d6b33}\r\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98 123 122 119\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=recvonly\r\n"
  "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset\r\n"
  "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n"
  "a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\n"
  "a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1\r\n"
  "a=fmtp:120 max-fs=12288;max-fr=60\r\n"
  "a=fmtp:124 apt=120\r\n"
  "a=fmtp:121 max-fs=12288;max-fr=60\r\n"
  "a=fmtp:125 apt=121\r\n"
  "a=fmtp:127 apt=126\r\n"
  "a=fmtp:98 apt=97\r\n"
  "a=fmtp:119 apt=122\r\n"
  "a=ice-pwd:4e4f0f2b3d6f1c1e0e6f6c2a8b9d0e1f\r\n"
  "a=ice-ufrag:2a7c1d3f\r\n"
  "a=mid:1\r\n"
  "a=rtcp-fb:120 nack\r\n"
  "a=rtcp-fb:120 nack pli\r\n"
  "a=rtcp-fb:120 ccm fir\r\n"
  "a=rtcp-fb:120 goog-remb\r\n"
  "a=rtcp-fb:120 transport-cc\r\n"
  "a=rtcp-fb:121 nack\r\n"
  "a=rtcp-fb:121 nack pli\r\n"
  "a=rtcp-fb:121 ccm fir\r\n"
  "a=rtcp-fb:121 goog-remb\r\n"
  "a=rtcp-fb:121 transport-cc\r\n"
  "a=rtcp-fb:126 nack\r\n"
  "a=rtcp-fb:126 nack pli\r\n"
  "a=rtcp-fb:126 ccm fir\r\n"
  "a=rtcp-fb:126 goog-remb\r\n"
  "a=rtcp-fb:126 transport-cc\r\n"
  "a=rtcp-fb:97 nack\r\n"
  "a=rtcp-fb:97 nack pli\r\n"
  "a=rtcp-fb:97 ccm fir\r\n"
  "a=rtcp-fb:97 goog-remb\r\n"
  "a=rtcp-fb:97 transport-cc\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=rtpmap:120 VP8/90000\r\n"
  "a=rtpmap:124 rtx/90000\r\n"
  "a=rtpmap:121 VP9/90000\r\n"
  "a=rtpmap:125 rtx/90000\r\n"
  "a=rtpmap:126 H264/90000\r\n"
  "a=rtpmap:127 rtx/90000\r\n"
  "a=rtpmap:97 H264/90000\r\n"
  "a=rtpmap:98 rtx/90000\r\n"
  "a=rtpmap:123 ulpfec/90000\r\n"
  "a=rtpmap:122 red/90000\r\n"
  "a=rtpmap:119 rtx/90000\r\n"
  "a=setup:actpass\r\n"
  "a=ssrc:2719473540 cname:{b2a7c6e4-3f0a-4d8e-9a51-2c1f7e0d6b33}\r\n"
  ;

/* Safari 17 as a WHIP publisher: sendonly, video first, H.264 640c1f (constrained high)
 * before 42e01f, H265, host + srflx candidates, ssrc-group FID. */
static const char SAFARI_OFFER[] =
  "v=0\r\n"
  "o=- 6385211519375209347 2 IN IP4 127.0.0.1\r\n"
  "s=-\r\n"
  "t=0 0\r\n"
  "a=group:BUNDLE 0 1\r\n"
  "a=extmap-allow-mixed\r\n"
  "a=msid-semantic: WMS 3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11\r\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 127 125 104\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=candidate:3284525123 1 udp 2113937151 192.168.1.23 56412 typ host generation 0 network-cost 999\r\n"
  "a=candidate:842163049 1 udp 1677729535 203.0.113.9 56412 typ srflx raddr 192.168.1.23 rport 56412 generation 0 network-cost 999\r\n"
  "a=ice-ufrag:r2Qm\r\n"
  "a=ice-pwd:9XqXa0Yj8c7yOzH1KzTtAbWd\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 D8:E6:0E:BB:BB:2B:1A:9D:5F:0D:D2:CF:C7:E8:10:68:85:83:AD:8A:FB:62:6F:CC:6C:35:7F:75:6E:79:95:30\r\n"
  "a=setup:actpass\r\n"
  "a=mid:0\r\n"
  "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:3 urn:3gpp:video-orientation\r\n"
  "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=sendonly\r\n"
  "a=msid:3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 9a0e8f7d-2c3b-4a5e-8f61-0d9c7b6a5e41\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=rtpmap:96 H264/90000\r\n"
  "a=rtcp-fb:96 goog-remb\r\n"
  "a=rtcp-fb:96 transport-cc\r\n"
  "a=rtcp-fb:96 ccm fir\r\n"
  "a=rtcp-fb:96 nack\r\n"
  "a=rtcp-fb:96 nack pli\r\n"
  "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f\r\n"
  "a=rtpmap:97 rtx/90000\r\n"
  "a=fmtp:97 apt=96\r\n"
  "a=rtpmap:98 H264/90000\r\n"
  "a=rtcp-fb:98 goog-remb\r\n"
  "a=rtcp-fb:98 transport-cc\r\n"
  "a=rtcp-fb:98 ccm fir\r\n"
  "a=rtcp-fb:98 nack\r\n"
  "a=rtcp-fb:98 nack pli\r\n"
  "a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
  "a=rtpmap:99 rtx/90000\r\n"
  "a=fmtp:99 apt=98\r\n"
  "a=rtpmap:100 H265/90000\r\n"
  "a=rtcp-fb:100 goog-remb\r\n"
  "a=rtcp-fb:100 transport-cc\r\n"
  "a=rtcp-fb:100 ccm fir\r\n"
  "a=rtcp-fb:100 nack\r\n"
  "a=rtcp-fb:100 nack pli\r\n"
  "a=rtpmap:101 rtx/90000\r\n"
  "a=fmtp:101 apt=100\r\n"
  "a=rtpmap:127 VP8/90000\r\n"
  "a=rtcp-fb:127 goog-remb\r\n"
  "a=rtcp-fb:127 transport-cc\r\n"
  "a=rtcp-fb:127 ccm fir\r\n"
  "a=rtcp-fb:127 nack\r\n"
  "a=rtcp-fb:127 nack pli\r\n"
  "a=rtpmap:125 rtx/90000\r\n"
  "a=fmtp:125 apt=127\r\n"
  "a=rtpmap:104 red/90000\r\n"
  "a=ssrc-group:FID 1711396453 3417829004\r\n"
  "a=ssrc:1711396453 cname:hK1pR4dE8qW2xZ7c\r\n"
  "a=ssrc:1711396453 msid:3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 9a0e8f7d-2c3b-4a5e-8f61-0d9c7b6a5e41\r\n"
  "a=ssrc:3417829004 cname:hK1pR4dE8qW2xZ7c\r\n"
  "a=ssrc:3417829004 msid:3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 9a0e8f7d-2c3b-4a5e-8f61-0d9c7b6a5e41\r\n"
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=rtcp:9 IN IP4 0.0.0.0\r\n"
  "a=ice-ufrag:r2Qm\r\n"
  "a=ice-pwd:9XqXa0Yj8c7yOzH1KzTtAbWd\r\n"
  "a=ice-options:trickle\r\n"
  "a=fingerprint:sha-256 D8:E6:0E:BB:BB:2B:1A:9D:5F:0D:D2:CF:C7:E8:10:68:85:83:AD:8A:FB:62:6F:CC:6C:35:7F:75:6E:79:95:30\r\n"
  "a=setup:actpass\r\n"
  "a=mid:1\r\n"
  "a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
  "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
  "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
  "a=sendonly\r\n"
  "a=msid:3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e\r\n"
  "a=rtcp-mux\r\n"
  "a=rtpmap:111 opus/48000/2\r\n"
  "a=rtcp-fb:111 transport-cc\r\n"
  "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
  "a=rtpmap:63 red/48000/2\r\n"
  "a=fmtp:63 111/111\r\n"
  "a=rtpmap:9 G722/8000\r\n"
  "a=rtpmap:0 PCMU/8000\r\n"
  "a=rtpmap:8 PCMA/8000\r\n"
  "a=rtpmap:13 CN/8000\r\n"
  "a=rtpmap:110 telephone-event/48000\r\n"
  "a=rtpmap:126 telephone-event/8000\r\n"
  "a=ssrc:2453916322 cname:hK1pR4dE8qW2xZ7c\r\n"
  "a=ssrc:2453916322 msid:3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e\r\n"
  ;

/* GStreamer webrtcbin 1.22 WHEP client: one H.264 42c01f format, second m= at port 0
 * with bundle-only and rtcp-mux-only, upper-case OPUS, trickle without candidates. */
static const char GST_OFFER[] =
  "v=0\r\n"
  "o=- 2981723452512468733 0 IN IP4 0.0.0.0\r\n"
  "s=-\r\n"
  "t=0 0\r\n"
  "a=ice-options:trickle\r\n"
  "a=group:BUNDLE video0 audio1\r\n"
  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=setup:actpass\r\n"
  "a=ice-ufrag:Q4ZxWbTq3sYkd0q0R8b1wGZ8cJq7nHc2\r\n"
  "a=ice-pwd:f0Cq4wB3nT5tS0mYxH2vJ8kLp6rZ1aQe\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-rsize\r\n"
  "a=recvonly\r\n"
  "a=rtpmap:96 H264/90000\r\n"
  "a=rtcp-fb:96 nack\r\n"
  "a=rtcp-fb:96 nack pli\r\n"
  "a=rtcp-fb:96 ccm fir\r\n"
  "a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;level-asymmetry-allowed=1\r\n"
  "a=mid:video0\r\n"
  "a=fingerprint:sha-256 B4:08:F4:A3:4B:41:27:61:55:C0:BE:B0:5C:A8:5B:FB:06:71:8A:5E:5B:37:2B:5A:D8:D0:AF:69:C1:6B:30:11\r\n"
  "m=audio 0 UDP/TLS/RTP/SAVPF 97\r\n"
  "c=IN IP4 0.0.0.0\r\n"
  "a=bundle-only\r\n"
  "a=setup:actpass\r\n"
  "a=ice-ufrag:Q4ZxWbTq3sYkd0q0R8b1wGZ8cJq7nHc2\r\n"
  "a=ice-pwd:f0Cq4wB3nT5tS0mYxH2vJ8kLp6rZ1aQe\r\n"
  "a=rtcp-mux\r\n"
  "a=rtcp-mux-only\r\n"
  "a=rtcp-rsize\r\n"
  "a=recvonly\r\n"
  "a=rtpmap:97 OPUS/48000/2\r\n"
  "a=rtcp-fb:97 nack\r\n"
  "a=rtcp-fb:97 nack pli\r\n"
  "a=fmtp:97 sprop-stereo=1\r\n"
  "a=mid:audio1\r\n"
  "a=fingerprint:sha-256 B4:08:F4:A3:4B:41:27:61:55:C0:BE:B0:5C:A8:5B:FB:06:71:8A:5E:5B:37:2B:5A:D8:D0:AF:69:C1:6B:30:11\r\n"
  ;

#define SERVER_FP \
  "B3:EA:CD:33:43:3B:31:B5:25:23:51:03:2C:9B:3E:7A:2E:7A:A7:73:8D:5D:EC:DF:0D:D6:C6:26:80:85:3C:06"
#define TWCC_URI "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

static lc_sdp_answer_params
viewer_params(void)
{
  lc_sdp_answer_params p = {
    .role = LC_SDP_ROLE_WHEP_VIEWER,
    .ice_ufrag = "lcsrv0001",
    .ice_pwd = "livecartserverpassword01",
    .fingerprint_sha256 = SERVER_FP,
    .ip = "127.0.0.1",
    .port = 8189,
    .session_id = 12345,
    .h264_profile_level_id = 0x42e01f,
    .want_audio = true,
    .video_ssrc = 4096,
    .audio_ssrc = 8192,
  };
  return p;
}

static lc_sdp_offer *
parse_ok(const char *text)
{
  lc_sdp_offer *o = NULL;
  char *why = NULL;
  int rc = lc_sdp_parse(text, strlen(text), &o, &why);
  if (rc != 0)
    g_error("parse failed: %s", why);
  g_assert_null(why);
  return o;
}

static char *
answer_ok(const lc_sdp_offer *o, const lc_sdp_answer_params *p, lc_sdp_answer_info *info)
{
  char *ans = NULL, *why = NULL;
  int rc = lc_sdp_build_answer(o, p, &ans, info, &why);
  if (rc != 0)
    g_error("answer failed: %s", why);
  return ans;
}

/* Asserts that the answer's lines are exactly want (NULL-terminated), CRLF-separated. */
static void
assert_lines(const char *answer, const char *const *want)
{
  g_assert_true(g_str_has_suffix(answer, "\r\n"));
  char **lines = g_strsplit(answer, "\r\n", -1);
  guint n = g_strv_length(lines) - 1; /* trailing empty piece */
  guint i = 0;
  for (; want[i]; i++) {
    g_assert_cmpuint(i, <, n);
    g_assert_cmpstr(lines[i], ==, want[i]);
  }
  g_assert_cmpuint(i, ==, n);
  g_strfreev(lines);
}

/* The lines of the m= section number idx (0-based) of an answer, NULL-terminated. */
static char **
section(const char *answer, int idx)
{
  char **lines = g_strsplit(answer, "\r\n", -1);
  GPtrArray *out = g_ptr_array_new();
  int cur = -1;
  for (char **l = lines; *l && **l; l++) {
    if (g_str_has_prefix(*l, "m="))
      cur++;
    if (cur == idx)
      g_ptr_array_add(out, g_strdup(*l));
  }
  g_ptr_array_add(out, NULL);
  g_strfreev(lines);
  return (char **)g_ptr_array_free(out, FALSE);
}

static bool
has_line(char **lines, const char *line)
{
  return g_strv_contains((const char *const *)lines, line);
}

static void
test_profiles(void)
{
  uint32_t v;
  g_assert_cmpint(lc_sdp_parse_profile_level_id("42e01f", 6, &v), ==, 0);
  g_assert_cmphex(v, ==, 0x42e01f);
  g_assert_cmpint(lc_sdp_parse_profile_level_id("42E01F", 6, &v), ==, 0);
  g_assert_cmpint(lc_sdp_parse_profile_level_id("42e01", 5, &v), ==, LC_EINVAL);
  g_assert_cmpint(lc_sdp_parse_profile_level_id("42e0g1", 6, &v), ==, LC_EINVAL);
  g_assert_true(lc_sdp_h264_same_profile(0x42e01f, 0x42c01f));
  g_assert_true(lc_sdp_h264_same_profile(0x42e01f, 0x42001f));
  g_assert_true(lc_sdp_h264_same_profile(0x42c01f, 0x42e034)); /* level does not matter */
  g_assert_true(lc_sdp_h264_same_profile(0x4de01f, 0x42e01f)); /* main with constraint_set1 = CB */
  g_assert_false(lc_sdp_h264_same_profile(0x42e01f, 0x4d001f));
  g_assert_false(lc_sdp_h264_same_profile(0x4d001f, 0x64001f));
  g_assert_false(lc_sdp_h264_same_profile(0x64001f, 0xf4001f));
  g_assert_false(lc_sdp_h264_same_profile(0x64001f, 0x640c1f));
  g_assert_false(lc_sdp_h264_same_profile(0x010203, 0x010203)); /* unknown is never "same" */
  g_assert_cmpint(lc_sdp_h264_profile(0x4d001f), ==, LC_H264_PROFILE_MAIN);
  g_assert_cmpint(lc_sdp_h264_profile(0x64001f), ==, LC_H264_PROFILE_HIGH);
  g_assert_cmpint(lc_sdp_h264_profile(0x640c1f), ==, LC_H264_PROFILE_CONSTRAINED_HIGH);
  g_assert_cmpint(lc_sdp_h264_profile(0xf4001f), ==, LC_H264_PROFILE_HIGH444);
}

static void
test_chrome_parse(void)
{
  lc_sdp_offer *o = parse_ok(CHROME_OFFER);
  g_assert_cmpstr(o->session_id, ==, "4215775240449105457");
  g_assert_false(o->ice_lite);
  g_assert_true(o->trickle);
  g_assert_nonnull(o->bundle);
  g_assert_cmpstr(o->bundle[0], ==, "0");
  g_assert_cmpstr(o->bundle[1], ==, "1");
  g_assert_null(o->bundle[2]);
  g_assert_cmpuint(o->n_media, ==, 2);
  lc_sdp_media *a = &o->media[0], *v = &o->media[1];
  g_assert_cmpint(a->kind, ==, LC_SDP_AUDIO);
  g_assert_cmpint(a->port, ==, 9);
  g_assert_cmpstr(a->mid, ==, "0");
  g_assert_cmpint(a->dir, ==, LC_SDP_RECVONLY);
  g_assert_cmpuint(a->n_candidates, ==, 1);
  g_assert_cmpuint(a->n_codecs, ==, 8);
  g_assert_cmpstr(a->codecs[0].name, ==, "opus");
  g_assert_cmpuint(a->codecs[0].clock_rate, ==, 48000);
  g_assert_cmpuint(a->codecs[0].channels, ==, 2);
  g_assert_cmpuint(a->codecs[0].fb, ==, LC_SDP_FB_TRANSPORT_CC);
  g_assert_cmpint(v->kind, ==, LC_SDP_VIDEO);
  g_assert_cmpstr(v->proto, ==, "UDP/TLS/RTP/SAVPF");
  g_assert_cmpuint(v->n_candidates, ==, 0);
  g_assert_cmpuint(v->n_codecs, ==, 25);
  g_assert_cmpstr(v->codecs[0].name, ==, "VP8");
  g_assert_cmpstr(v->codecs[1].name, ==, "rtx");
  g_assert_cmpint(v->codecs[1].apt, ==, 96);
  lc_sdp_codec *h = &v->codecs[2];
  g_assert_cmpint(h->pt, ==, 102);
  g_assert_cmpstr(h->name, ==, "H264");
  g_assert_cmpint(h->packetization_mode, ==, 1);
  g_assert_true(h->has_profile_level_id);
  g_assert_cmphex(h->profile_level_id, ==, 0x42001f);
  g_assert_cmpuint(h->fb, ==, LC_SDP_FB_NACK | LC_SDP_FB_NACK_PLI | LC_SDP_FB_CCM_FIR | LC_SDP_FB_GOOG_REMB |
                                   LC_SDP_FB_TRANSPORT_CC);
  g_assert_cmpint(v->codecs[4].packetization_mode, ==, 0);
  g_assert_cmpstr(v->ice_ufrag, ==, "Fk4u");
  g_assert_cmpstr(v->ice_pwd, ==, "c1R3mVxS6vZ8yFd0uQxTq3lA");
  g_assert_cmpstr(v->fingerprint_sha256, ==,
                  "93:90:EF:32:AD:DF:32:BF:DE:A7:86:BC:1E:20:67:95:92:49:80:68:BC:BF:CD:35:7E:A1:0A:B6:4E:A3:5E:47");
  g_assert_cmpstr(v->setup, ==, "actpass");
  g_assert_true(v->rtcp_mux);
  g_assert_true(v->rtcp_rsize);
  g_assert_cmpuint(v->n_extmaps, ==, 11);
  g_assert_cmpint(v->extmaps[3].id, ==, 3);
  g_assert_cmpstr(v->extmaps[3].uri, ==, TWCC_URI);
  lc_sdp_offer_free(o);
}

static void
test_chrome_answer(void)
{
  lc_sdp_offer *o = parse_ok(CHROME_OFFER);
  lc_sdp_answer_params p = viewer_params();
  lc_sdp_answer_info info;
  char *ans = answer_ok(o, &p, &info);
  static const char *const want[] = {
    "v=0",
    "o=- 12345 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=ice-lite",
    "a=group:BUNDLE 0 1",
    "a=msid-semantic: WMS livecart",
    "m=audio 8189 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 127.0.0.1",
    "a=mid:0",
    "a=sendonly",
    "a=ice-ufrag:lcsrv0001",
    "a=ice-pwd:livecartserverpassword01",
    "a=fingerprint:sha-256 " SERVER_FP,
    "a=setup:passive",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=extmap:3 " TWCC_URI,
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=msid:livecart audio0",
    "a=ssrc:8192 cname:livecart",
    "a=ssrc:8192 msid:livecart audio0",
    "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host",
    "a=end-of-candidates",
    "m=video 8189 UDP/TLS/RTP/SAVPF 102",
    "c=IN IP4 127.0.0.1",
    "a=mid:1",
    "a=sendonly",
    "a=ice-ufrag:lcsrv0001",
    "a=ice-pwd:livecartserverpassword01",
    "a=fingerprint:sha-256 " SERVER_FP,
    "a=setup:passive",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=extmap:3 " TWCC_URI,
    "a=rtpmap:102 H264/90000",
    "a=rtcp-fb:102 nack",
    "a=rtcp-fb:102 nack pli",
    "a=rtcp-fb:102 ccm fir",
    "a=rtcp-fb:102 goog-remb",
    "a=rtcp-fb:102 transport-cc",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=msid:livecart video0",
    "a=ssrc:4096 cname:livecart",
    "a=ssrc:4096 msid:livecart video0",
    NULL,
  };
  assert_lines(ans, want);
  g_assert_cmpint(info.video_index, ==, 1);
  g_assert_cmpint(info.audio_index, ==, 0);
  g_assert_cmpint(info.video_pt, ==, 102);
  g_assert_cmpint(info.audio_pt, ==, 111);
  g_assert_cmpint(info.twcc_ext_id, ==, 3);
  g_assert_cmphex(info.h264_profile_level_id, ==, 0x42001f);
  g_assert_cmpstr(info.remote_ufrag, ==, "Fk4u");
  g_assert_cmpstr(info.remote_pwd, ==, "c1R3mVxS6vZ8yFd0uQxTq3lA");
  g_free(ans);

  /* Main profile stream: 4d001f (PT 127) is chosen over the first H.264 */
  p.h264_profile_level_id = 0x4d001f;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 127);
  char **v = section(ans, 1);
  g_assert_cmpstr(v[0], ==, "m=video 8189 UDP/TLS/RTP/SAVPF 127");
  g_assert_true(has_line(v, "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"));
  g_strfreev(v);
  g_free(ans);
  /* High is not offered: the first packetization-mode=1 H.264 */
  p.h264_profile_level_id = 0x64001f;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 102);
  g_free(ans);
  /* Video only: audio rejected with port 0, out of the BUNDLE group */
  p.want_audio = false;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.audio_index, ==, -1);
  char **a = section(ans, 0);
  g_assert_cmpstr(a[0], ==, "m=audio 0 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126");
  g_assert_true(has_line(a, "a=mid:0"));
  g_assert_true(has_line(a, "a=inactive"));
  /* transport attributes on the rejected section too (webrtcbin refuses the answer without) */
  g_assert_true(has_line(a, "a=ice-ufrag:lcsrv0001"));
  g_assert_true(has_line(a, "a=ice-pwd:livecartserverpassword01"));
  g_assert_true(has_line(a, "a=fingerprint:sha-256 " SERVER_FP));
  g_assert_true(has_line(a, "a=setup:passive"));
  g_assert_false(has_line(a, "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host"));
  g_strfreev(a);
  g_assert_nonnull(strstr(ans, "\r\na=group:BUNDLE 1\r\n"));
  v = section(ans, 1);
  g_assert_true(has_line(v, "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host")); /* moved to video */
  g_strfreev(v);
  g_free(ans);
  lc_sdp_offer_free(o);
}

static void
test_firefox(void)
{
  lc_sdp_offer *o = parse_ok(FIREFOX_OFFER);
  g_assert_cmpuint(o->n_media, ==, 2);
  lc_sdp_media *v = &o->media[1];
  /* session-level fingerprint inherited, lower-case hex normalized */
  g_assert_cmpstr(v->fingerprint_sha256, ==,
                  "16:E5:F6:0F:20:7A:1A:00:73:45:1C:35:A9:D3:15:D1:7F:DC:17:D7:FA:B6:64:49:B0:0C:DF:AA:DC:8B:24:9E");
  g_assert_cmpstr(o->media[0].fingerprint_sha256, ==, v->fingerprint_sha256);
  g_assert_cmpstr(v->ice_ufrag, ==, "2a7c1d3f");
  g_assert_cmpuint(v->n_ssrcs, ==, 1);
  g_assert_cmpuint(v->ssrcs[0], ==, 2719473540u);
  g_assert_cmpstr(v->cname, ==, "{b2a7c6e4-3f0a-4d8e-9a51-2c1f7e0d6b33}");
  /* fmtp before rtpmap still attaches to the PT */
  lc_sdp_codec *h = NULL;
  for (size_t i = 0; i < v->n_codecs; i++)
    if (v->codecs[i].pt == 126)
      h = &v->codecs[i];
  g_assert_nonnull(h);
  g_assert_cmpstr(h->name, ==, "H264");
  g_assert_cmpint(h->packetization_mode, ==, 1);
  g_assert_cmphex(h->profile_level_id, ==, 0x42e01f);
  g_assert_cmpint(o->media[1].extmaps[3].id, ==, 6); /* "6/recvonly" */

  lc_sdp_answer_params p = viewer_params();
  lc_sdp_answer_info info;
  char *ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 126);
  g_assert_cmpint(info.audio_pt, ==, 109);
  char **a = section(ans, 0), **vs = section(ans, 1);
  g_assert_cmpstr(a[0], ==, "m=audio 8189 UDP/TLS/RTP/SAVPF 109");
  g_assert_true(has_line(a, "a=rtpmap:109 opus/48000/2"));
  g_assert_true(has_line(a, "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1"));
  g_assert_false(has_line(a, "a=rtcp-rsize")); /* not offered for audio */
  g_assert_false(g_str_has_prefix(a[0], "a=extmap")); /* no transport-cc extmap offered in audio */
  for (char **l = a; *l; l++)
    g_assert_false(g_str_has_prefix(*l, "a=extmap"));
  g_assert_cmpstr(vs[0], ==, "m=video 8189 UDP/TLS/RTP/SAVPF 126");
  g_assert_true(has_line(vs, "a=extmap:7 " TWCC_URI));
  g_assert_true(has_line(vs, "a=rtcp-fb:126 goog-remb"));
  g_assert_true(has_line(vs, "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1"));
  g_assert_true(has_line(vs, "a=setup:passive"));
  g_strfreev(a);
  g_strfreev(vs);
  g_free(ans);
  lc_sdp_offer_free(o);
}

static void
test_safari_whip(void)
{
  lc_sdp_offer *o = parse_ok(SAFARI_OFFER);
  lc_sdp_media *v = &o->media[0];
  g_assert_cmpint(v->dir, ==, LC_SDP_SENDONLY);
  g_assert_cmpuint(v->n_candidates, ==, 2);
  g_assert_cmpuint(v->n_ssrcs, ==, 2);
  g_assert_cmpuint(v->ssrcs[0], ==, 1711396453u);
  g_assert_cmpuint(v->ssrcs[1], ==, 3417829004u);
  g_assert_cmpstr(v->cname, ==, "hK1pR4dE8qW2xZ7c");
  g_assert_cmpstr(v->msid, ==, "3f1c0c4e-7d1e-4a3b-b1de-6a8b2b7f0a11 9a0e8f7d-2c3b-4a5e-8f61-0d9c7b6a5e41");

  /* A viewer answer is impossible: Safari only sends */
  lc_sdp_answer_params p = viewer_params();
  char *ans = NULL, *why = NULL;
  g_assert_cmpint(lc_sdp_build_answer(o, &p, &ans, NULL, &why), ==, LC_EINVAL);
  g_assert_null(ans);
  g_assert_cmpstr(why, ==, "m=video does not receive (WHEP needs recvonly or sendrecv)");
  g_free(why);

  /* WHIP ingest preferring constrained baseline: 98 (42e01f), not the first (640c1f) */
  p.role = LC_SDP_ROLE_WHIP_INGEST;
  lc_sdp_answer_info info;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 98);
  g_assert_cmpuint(info.remote_video_ssrc, ==, 1711396453u);
  g_assert_cmpuint(info.remote_audio_ssrc, ==, 2453916322u);
  g_assert_cmpint(info.twcc_ext_id, ==, 4);
  char **vs = section(ans, 0), **as = section(ans, 1);
  static const char *const want_video[] = {
    "m=video 8189 UDP/TLS/RTP/SAVPF 98",
    "c=IN IP4 127.0.0.1",
    "a=mid:0",
    "a=recvonly",
    "a=ice-ufrag:lcsrv0001",
    "a=ice-pwd:livecartserverpassword01",
    "a=fingerprint:sha-256 " SERVER_FP,
    "a=setup:passive",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=extmap:4 " TWCC_URI,
    "a=rtpmap:98 H264/90000",
    "a=rtcp-fb:98 nack",
    "a=rtcp-fb:98 nack pli",
    "a=rtcp-fb:98 ccm fir",
    "a=rtcp-fb:98 goog-remb",
    "a=rtcp-fb:98 transport-cc",
    "a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host",
    "a=end-of-candidates",
    NULL,
  };
  g_assert_cmpuint(g_strv_length(vs), ==, G_N_ELEMENTS(want_video) - 1);
  for (size_t i = 0; want_video[i]; i++)
    g_assert_cmpstr(vs[i], ==, want_video[i]);
  g_assert_cmpstr(as[0], ==, "m=audio 8189 UDP/TLS/RTP/SAVPF 111");
  g_assert_true(has_line(as, "a=recvonly"));
  for (char **l = as; *l; l++) /* no ssrc/msid of ours when receiving, one candidate in all */
    g_assert_false(g_str_has_prefix(*l, "a=ssrc:") || g_str_has_prefix(*l, "a=msid:") ||
                   g_str_has_prefix(*l, "a=candidate:"));
  g_strfreev(vs);
  g_strfreev(as);
  g_free(ans);

  /* Any profile (0): the first packetization-mode=1 H.264, 640c1f */
  p.h264_profile_level_id = 0;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 96);
  g_assert_cmphex(info.h264_profile_level_id, ==, 0x640c1f);
  g_free(ans);
  lc_sdp_offer_free(o);
}

static void
test_webrtcbin(void)
{
  lc_sdp_offer *o = parse_ok(GST_OFFER);
  g_assert_cmpstr(o->bundle[0], ==, "video0");
  g_assert_cmpstr(o->bundle[1], ==, "audio1");
  g_assert_true(o->trickle);
  lc_sdp_media *a = &o->media[1];
  g_assert_cmpint(a->port, ==, 0);
  g_assert_true(a->bundle_only);
  g_assert_true(a->rtcp_mux_only);
  g_assert_true(a->rtcp_mux);
  g_assert_cmpstr(a->codecs[0].name, ==, "OPUS");

  lc_sdp_answer_params p = viewer_params();
  p.ip = "::1";
  lc_sdp_answer_info info;
  char *ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.video_pt, ==, 96); /* 42c01f is our 42e01f family */
  g_assert_cmpint(info.audio_index, ==, 1);
  g_assert_cmpint(info.twcc_ext_id, ==, 0);
  g_assert_cmpuint(info.video_fb, ==, LC_SDP_FB_NACK | LC_SDP_FB_NACK_PLI | LC_SDP_FB_CCM_FIR);
  g_assert_nonnull(strstr(ans, "\r\na=group:BUNDLE video0 audio1\r\n"));
  g_assert_nonnull(strstr(ans, "o=- 12345 2 IN IP6 ::1\r\n"));
  char **vs = section(ans, 0), **as = section(ans, 1);
  g_assert_cmpstr(vs[0], ==, "m=video 8189 UDP/TLS/RTP/SAVPF 96");
  g_assert_true(has_line(vs, "c=IN IP6 ::1"));
  g_assert_true(has_line(vs, "a=candidate:1 1 udp 2130706431 ::1 8189 typ host"));
  g_assert_true(has_line(vs, "a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;level-asymmetry-allowed=1"));
  g_assert_false(has_line(vs, "a=rtcp-fb:96 goog-remb")); /* not offered, not answered */
  g_assert_false(has_line(vs, "a=rtcp-fb:96 transport-cc"));
  g_assert_cmpstr(as[0], ==, "m=audio 8189 UDP/TLS/RTP/SAVPF 97"); /* bundle-only accepted */
  g_assert_true(has_line(as, "a=rtpmap:97 OPUS/48000/2"));
  g_assert_true(has_line(as, "a=rtcp-fb:97 nack"));
  g_assert_false(has_line(as, "a=rtcp-fb:97 nack pli"));
  g_assert_true(has_line(as, "a=sendonly"));
  g_strfreev(vs);
  g_strfreev(as);
  g_free(ans);
  /* Video only: webrtcbin's audio section rejected, yet complete enough for webrtcbin to take
   * the answer: mid, ICE credentials, fingerprint, setup. */
  p.want_audio = false;
  ans = answer_ok(o, &p, &info);
  g_assert_cmpint(info.audio_index, ==, -1);
  as = section(ans, 1);
  g_assert_cmpstr(as[0], ==, "m=audio 0 UDP/TLS/RTP/SAVPF 97");
  g_assert_true(has_line(as, "a=mid:audio1"));
  g_assert_true(has_line(as, "a=ice-ufrag:lcsrv0001"));
  g_assert_true(has_line(as, "a=ice-pwd:livecartserverpassword01"));
  g_assert_true(has_line(as, "a=fingerprint:sha-256 " SERVER_FP));
  g_assert_true(has_line(as, "a=setup:passive"));
  g_assert_nonnull(strstr(ans, "\r\na=group:BUNDLE video0\r\n"));
  g_strfreev(as);
  g_free(ans);
  lc_sdp_offer_free(o);
}

/* An offer edited by replacing from..to (first occurrence each time) */
static char *
edit(const char *offer, const char *from, const char *to)
{
  GString *s = g_string_new(offer);
  g_assert_nonnull(strstr(s->str, from));
  g_string_replace(s, from, to, 0);
  return g_string_free(s, FALSE);
}

static void
expect_answer_error(const char *offer, const lc_sdp_answer_params *p, const char *why_want)
{
  lc_sdp_offer *o = parse_ok(offer);
  char *ans = NULL, *why = NULL;
  g_assert_cmpint(lc_sdp_build_answer(o, p, &ans, NULL, &why), ==, LC_EINVAL);
  g_assert_null(ans);
  g_assert_cmpstr(why, ==, why_want);
  g_free(why);
  lc_sdp_offer_free(o);
}

static void
test_unservable(void)
{
  lc_sdp_answer_params p = viewer_params();
  char *s;
  s = edit(GST_OFFER, "a=fingerprint:sha-256", "a=x-fingerprint:sha-256");
  expect_answer_error(s, &p, "no a=fingerprint");
  g_free(s);
  s = edit(GST_OFFER, "a=fingerprint:sha-256 B4", "a=fingerprint:sha-1 B4");
  expect_answer_error(s, &p, "no a=fingerprint with sha-256");
  g_free(s);
  s = edit(GST_OFFER, "packetization-mode=1", "packetization-mode=0");
  expect_answer_error(s, &p, "no H.264 with packetization-mode=1 in m=video");
  g_free(s);
  s = edit(GST_OFFER, "a=rtpmap:96 H264/90000", "a=rtpmap:96 VP8/90000");
  expect_answer_error(s, &p, "no H.264 with packetization-mode=1 in m=video");
  g_free(s);
  s = edit(GST_OFFER, "m=video 9", "m=text 9");
  expect_answer_error(s, &p, "no m=video");
  g_free(s);
  s = edit(GST_OFFER, "a=rtcp-mux\r\na=rtcp-rsize\r\na=recvonly\r\na=rtpmap:96", "a=rtcp-rsize\r\na=recvonly\r\na=rtpmap:96");
  expect_answer_error(s, &p, "no a=rtcp-mux in m=video");
  g_free(s);
  s = edit(GST_OFFER, "a=setup:actpass", "a=setup:passive");
  expect_answer_error(s, &p, "a=setup must be actpass or active (the server is DTLS passive)");
  g_free(s);
  s = edit(GST_OFFER, "a=ice-pwd:", "a=x-ice-pwd:");
  expect_answer_error(s, &p, "no a=ice-ufrag/a=ice-pwd");
  g_free(s);
  s = edit(GST_OFFER, "a=ice-options:trickle", "a=ice-lite");
  expect_answer_error(s, &p, "the offer is ICE-lite too (one side must be a full ICE agent)");
  g_free(s);
  s = edit(GST_OFFER, "BUNDLE video0 audio1", "BUNDLE audio1");
  expect_answer_error(s, &p, "m=video is not in a=group:BUNDLE");
  g_free(s);
  s = edit(GST_OFFER, "a=mid:video0", "a=x-mid:video0");
  expect_answer_error(s, &p, "no a=mid in m=video");
  g_free(s);
  s = edit(CHROME_OFFER, "a=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96", "a=inactive\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96");
  expect_answer_error(s, &p, "no m=video");
  g_free(s);
  p.ice_pwd = "short";
  expect_answer_error(GST_OFFER, &p, "invalid answer parameters");
  p = viewer_params();
  p.ip = "127.0.0.1\r\na=evil";
  expect_answer_error(GST_OFFER, &p, "invalid answer parameters");
}

static void
expect_parse_error(const char *text, size_t len, int rc_want, const char *why_want)
{
  lc_sdp_offer *o = NULL;
  char *why = NULL;
  g_assert_cmpint(lc_sdp_parse(text, len, &o, &why), ==, rc_want);
  g_assert_null(o);
  g_assert_cmpstr(why, ==, why_want);
  g_free(why);
}

static void
test_malformed(void)
{
  char *s;
  expect_parse_error("", 0, LC_EINVAL, "empty offer");
  expect_parse_error("v=1\r\n", 5, LC_EINVAL, "line 1: the offer does not start with v=0");
  expect_parse_error("v=0\r\ns=-\r\n", 10, LC_EINVAL, "no m= section");
  expect_parse_error("v=0\r\nbogus\r\n", 12, LC_EINVAL, "line 2: malformed line");
  expect_parse_error("v=0\r\nm=video x UDP/TLS/RTP/SAVPF 96\r\n", 36, LC_EINVAL, "line 2: malformed m= line");
  expect_parse_error("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 128\r\n", 38, LC_EINVAL, "line 2: malformed m= line");
  expect_parse_error("v=0\r\nm=video 9 RTP/AVP 96\r\na=rtpmap:96 H264\r\n", 44, LC_EINVAL,
                     "line 3: malformed a=rtpmap");
  expect_parse_error("v=0\0\r\n", 6, LC_EINVAL, "NUL byte in the offer");
  s = edit(CHROME_OFFER, "a=fingerprint:sha-256 93:90:EF", "a=fingerprint:sha-256 93:90EF");
  expect_parse_error(s, strlen(s), LC_EINVAL, "line 15: malformed a=fingerprint");
  g_free(s);
  /* too large */
  GString *big = g_string_new(GST_OFFER);
  while (big->len <= LC_SDP_MAX_BYTES)
    g_string_append(big, "a=x-filler:0123456789012345678901234567890123456789\r\n");
  expect_parse_error(big->str, big->len, LC_ETOOBIG, "offer too large");
  g_string_free(big, TRUE);
  /* too many m= sections */
  GString *many = g_string_new("v=0\r\n");
  for (int i = 0; i <= LC_SDP_MAX_MEDIA; i++)
    g_string_append(many, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
  char *want = g_strdup_printf("line %d: too many m= sections", LC_SDP_MAX_MEDIA + 2);
  expect_parse_error(many->str, many->len, LC_ETOOBIG, want);
  g_free(want);
  g_string_free(many, TRUE);

  /* LF-only line ends parse the same */
  s = g_strdup(GST_OFFER);
  GString *lf = g_string_new(s);
  g_string_replace(lf, "\r\n", "\n", 0);
  lc_sdp_offer *o = NULL;
  g_assert_cmpint(lc_sdp_parse(lf->str, lf->len, &o, NULL), ==, 0);
  g_assert_cmpuint(o->n_media, ==, 2);
  g_assert_cmpstr(o->media[1].mid, ==, "audio1");
  lc_sdp_offer_free(o);
  g_string_free(lf, TRUE);
  g_free(s);

  /* every truncation of a real offer either parses or fails cleanly with a reason */
  size_t n = strlen(FIREFOX_OFFER);
  for (size_t cut = 0; cut < n; cut += 7) {
    char *why = NULL;
    int rc = lc_sdp_parse(FIREFOX_OFFER, cut, &o, &why);
    if (rc == 0) {
      g_assert_null(why);
      lc_sdp_offer_free(o);
    } else {
      g_assert_nonnull(why);
      g_assert_null(o);
      g_free(why);
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sdp/profiles", test_profiles);
  g_test_add_func("/sdp/chrome-parse", test_chrome_parse);
  g_test_add_func("/sdp/chrome-answer", test_chrome_answer);
  g_test_add_func("/sdp/firefox", test_firefox);
  g_test_add_func("/sdp/safari-whip", test_safari_whip);
  g_test_add_func("/sdp/webrtcbin", test_webrtcbin);
  g_test_add_func("/sdp/unservable", test_unservable);
  g_test_add_func("/sdp/malformed", test_malformed);
  return g_test_run();
}

// WHEP playback and WHIP publishing over livecartd (plain ES module, no dependencies).
// web/js/player.js builds the room page's self-healing player on top of whepPlay.
//
//   const player = await whepPlay('/whep/demo', videoElement);   // -> {pc, resource, stop(), pin(rung)}
//   const pub = await whipPublish('/whip/demo', streamKey, mediaStream);
//
// The server is ICE-lite and puts its one candidate in the answer, so the offer is sent once
// ICE gathering has finished (no trickle). DELETE on the Location ends the session.

async function gathered(pc, timeoutMs = 2000) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    const done = () => { clearTimeout(t); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const t = setTimeout(done, timeoutMs); // the host candidate is enough; don't wait for STUN
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function exchange(pc, url, headers) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', ...headers },
    body: pc.localDescription.sdp,
    signal: AbortSignal.timeout ? AbortSignal.timeout(15000) : undefined, // a hung server is retried
  });
  if (res.status !== 201) {
    let detail = '';
    try { detail = (await res.json()).error?.message ?? ''; } catch { /* not JSON */ }
    throw new Error(`${url}: ${res.status} ${detail}`);
  }
  const location = new URL(res.headers.get('Location'), new URL(url, location_base())).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return location;
}

function location_base() {
  return typeof window !== 'undefined' ? window.location.href : 'http://localhost/';
}

function session(pc, resource) {
  return {
    pc,
    resource,
    async stop() {
      pc.close();
      try { await fetch(resource, { method: 'DELETE' }); } catch { /* server gone */ }
    },
    async pin(rung) { // rung name or 'auto'
      const res = await fetch(`${resource}/layer`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rung }),
      });
      return res.ok;
    },
  };
}

export async function whepPlay(url, video) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.ontrack = (ev) => {
    stream.addTrack(ev.track);
    if (video && video.srcObject !== stream) video.srcObject = stream;
  };
  let resource;
  try {
    resource = await exchange(pc, url, {});
  } catch (e) {
    pc.close(); // no answer (e.g. 404: nothing published yet): free the peer connection
    throw e;
  }
  return session(pc, resource);
}

export async function whipPublish(url, streamKey, mediaStream) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  for (const track of mediaStream.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [mediaStream] });
    if (track.kind === 'video' && RTCRtpSender.getCapabilities) {
      // The server forwards H.264 as it comes (no transcode for WebRTC sources).
      const codecs = RTCRtpSender.getCapabilities('video').codecs;
      const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine ?? ''));
      if (h264.length) tr.setCodecPreferences(h264);
    }
  }
  let resource;
  try {
    resource = await exchange(pc, url, { Authorization: `Bearer ${streamKey}` });
  } catch (e) {
    pc.close();
    throw e;
  }
  return session(pc, resource);
}

// Inbound video statistics: {framesDecoded, frameWidth, frameHeight, packetsLost, framesDropped,
// packetsReceived, nackCount, pliCount, firCount, keyFramesDecoded}.
export async function videoStats(pc) {
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      return {
        framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
        packetsLost: s.packetsLost ?? 0, framesDropped: s.framesDropped ?? 0, packetsReceived: s.packetsReceived ?? 0,
        nackCount: s.nackCount ?? 0, pliCount: s.pliCount ?? 0, firCount: s.firCount ?? 0,
        keyFramesDecoded: s.keyFramesDecoded ?? 0,
      };
    }
  }
  return null;
}

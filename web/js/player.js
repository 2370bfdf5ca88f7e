// The room's video: WHEP playback that keeps itself alive (docs/webrtc.md).
//
//   const player = new Player(videoElement, '/whep/demo');
//   player.setWanted(true);          // the show channel says the stream is live / reconnecting
//   await player.setRung('480p');    // or 'auto'; false when the room has no such rung
//   player.addEventListener('state', (e) => e.detail.state);  // idle|connecting|playing|stalled
//
// A session that fails (ICE/DTLS failed, disconnected for 3 s, or no new frame for 8 s while
// the stream is live) is replaced by a new one; failed offers (no media yet) are retried
// with a backoff of 0.5 s doubling to 5 s. A pinned rung is pinned again on the new session.

import { whepPlay, videoStats } from './webrtc.js';

const STALL_MS = 8000;
const DISCONNECTED_MS = 3000;

export class Player extends EventTarget {
  constructor(video, url) {
    super();
    this.video = video;
    this.url = url;
    this.wanted = false;
    this.holding = false;     // the creator is reconnecting: keep the player, do not restart it
    this.session = null;
    this.connecting = false;
    this.rung = 'auto';
    this.retry = 0;
    this.state = 'idle';
    this.stats = null;
    this.lastFrames = 0;
    this.lastProgress = 0;
    this.disconnectedSince = 0;
    this.restarts = 0;
    this.watch = setInterval(() => this._watchdog(), 1000);
  }

  _set(state, extra = {}) {
    if (this.state === state && !extra.force) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...extra } }));
  }

  setWanted(on, { holding = false } = {}) {
    this.wanted = on;
    this.holding = holding;
    if (!on) {
      this._stopSession();
      this.video.srcObject = null; // the stage shows its own message, not a frozen frame
      this._set('idle');
    } else if (!this.session && !this.connecting) {
      this.retry = 0;
      this._connect();
    }
  }

  async setRung(rung) {
    this.rung = rung;
    if (!this.session) return true;
    try {
      return await this.session.pin(rung);
    } catch {
      return false;
    }
  }

  async _connect() {
    if (!this.wanted || this.connecting) return;
    this.connecting = true;
    this._set('connecting');
    clearTimeout(this.retryTimer);
    try {
      const s = await whepPlay(this.url, this.video);
      if (!this.wanted) {
        s.stop();
        return;
      }
      this.session = s;
      this.retry = 0;
      this.lastFrames = 0;
      this.lastProgress = performance.now();
      this.disconnectedSince = 0;
      this.video.play().catch(() => {}); // muted autoplay; the page offers tap-to-unmute
      if (this.rung !== 'auto' && !(await s.pin(this.rung).catch(() => false))) {
        this.rung = 'auto';
        this.dispatchEvent(new CustomEvent('rung', { detail: { rung: 'auto' } }));
      }
    } catch (e) {
      this.lastError = String(e?.message ?? e);
      const delay = Math.min(5000, 500 * 2 ** this.retry++);
      this.retryTimer = setTimeout(() => this._connect(), delay);
    } finally {
      this.connecting = false;
    }
  }

  _stopSession() {
    clearTimeout(this.retryTimer);
    const s = this.session;
    this.session = null;
    if (s) s.stop();
  }

  restart(why) {
    this.restarts++;
    this.lastRestart = why;
    this._stopSession();
    this._set('stalled', { why });
    this._connect();
  }

  async _watchdog() {
    const s = this.session;
    if (!s) return;
    const now = performance.now();
    const pcState = s.pc.connectionState;
    if (pcState === 'failed' || pcState === 'closed') return this.restart(`connection ${pcState}`);
    if (pcState === 'disconnected') {
      this.disconnectedSince ||= now;
      if (now - this.disconnectedSince > DISCONNECTED_MS && !this.holding) return this.restart('disconnected');
    } else {
      this.disconnectedSince = 0;
    }
    let st = null;
    try { st = await videoStats(s.pc); } catch { /* closed meanwhile */ }
    if (s !== this.session) return;
    this.stats = st;
    const frames = st?.framesDecoded ?? 0;
    if (frames > this.lastFrames) {
      this.lastFrames = frames;
      this.lastProgress = now;
      this._set('playing');
    } else if (now - this.lastProgress > STALL_MS && !this.holding) {
      return this.restart('no frames');
    }
    this.dispatchEvent(new CustomEvent('stats', { detail: st }));
    return undefined;
  }

  destroy() {
    clearInterval(this.watch);
    this.wanted = false;
    this._stopSession();
  }
}

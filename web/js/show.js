// The show channel client (docs/protocol.md): one websocket per room.
//
//   const ch = new ShowChannel({room: 'demo', token});
//   ch.addEventListener('snapshot', (e) => ...);   // e.detail = {state, epoch, seq}
//   ch.addEventListener('event', (e) => ...);      // e.detail = {name, data, seq, t}, in seq order
//   ch.addEventListener('private', (e) => ...);    // e.detail = {name, data}
//   ch.start();
//   const result = await ch.request('cart.add', {sku, qty});   // rejects with err.code
//
// What it guarantees to the page: events are handed over exactly once and in order. After
// a drop it reconnects (backoff 0.3 s doubling to 30 s, with jitter) and resumes from the
// last applied {epoch, seq}: the server replays what was missed, or sends a snapshot when
// it cannot. An event that repeats an applied seq is dropped; a gap makes it reconnect.
// Requests carry an op_id and are sent again with the same op_id after a reconnect until
// their reply arrives, so a retry never buys twice. The server clock is estimated from
// ping/pong (the sample with the smallest round trip); now() is the server's time.

const PING_EVERY_MS = 30000;
const PONG_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 5000;
const CLOCK_SAMPLES = 8;

function randomId() {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(36).padStart(2, '0')).join('').slice(0, 10);
}

export function defaultUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

export class RequestError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class ShowChannel extends EventTarget {
  constructor({ room, token = null, url = defaultUrl() }) {
    super();
    this.room = room;
    this.token = token;
    this.url = url;
    this.ws = null;
    this.ready = false;        // welcome received on the current socket
    this.epoch = null;         // position of the last applied event / snapshot
    this.seq = -1;
    this.synced = false;       // a snapshot of this epoch has been applied
    this.awaitSnapshot = false;
    this.user = null;
    this.clientId = randomId();
    this.opSeq = 0;
    this.pending = new Map();  // op_id -> {msg, resolve, reject}
    this.attempt = 0;
    this.stopped = true;
    this.fatal = null;
    this.timers = {};
    this.clock = { offset: 0, rtt: Infinity, samples: [], synced: false };
    this.stats = { connects: 0, welcomes: 0, resumes: 0, snapshots: 0, events: 0, duplicates: 0, gaps: 0, closes: [] };
    this.onOnline = () => { if (!this.ws && !this.stopped && !this.fatal) this._connectSoon(0); };
  }

  start() {
    this.stopped = false;
    addEventListener('online', this.onOnline);
    this._connect();
  }

  stop() {
    this.stopped = true;
    removeEventListener('online', this.onOnline);
    for (const k of Object.keys(this.timers)) this._clear(k);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
  }

  // A new identity (sign-in / sign-out): a new connection with a fresh snapshot, since the
  // private state belongs to the user. Requests of the old identity are dropped.
  setToken(token) {
    this.token = token;
    for (const p of this.pending.values()) p.reject(new RequestError('cancelled', 'signed out'));
    this.pending.clear();
    this.synced = false;
    this._reconnect(0);
  }

  // Server time in ms (local clock + offset from ping/pong).
  now() {
    return Date.now() + this.clock.offset;
  }

  get connected() {
    return this.ready;
  }

  request(type, fields = {}) {
    if (this.fatal) return Promise.reject(new RequestError('closed', this.fatal.reason));
    const op_id = `w${this.clientId}-${++this.opSeq}`;
    const msg = { type, op_id, ...fields };
    return new Promise((resolve, reject) => {
      this.pending.set(op_id, { msg, resolve, reject });
      if (this.ready) this._send(msg);
    });
  }

  like(count) {
    if (this.ready) this._send({ type: 'like', count: Math.max(1, Math.min(100, count)) });
  }

  // ---- internals ----

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _clear(name) {
    clearTimeout(this.timers[name]);
    clearInterval(this.timers[name]);
    delete this.timers[name];
  }

  _send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  _connect() {
    if (this.stopped || this.fatal) return;
    this.stats.connects++;
    this.ready = false;
    let ws;
    try {
      ws = new WebSocket(this.url, 'livecart.v1');
    } catch (e) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this._emit('status', { state: 'connecting', attempt: this.attempt });
    this.timers.connect = setTimeout(() => { if (ws.readyState !== WebSocket.OPEN) ws.close(); }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      this._clear('connect');
      const hello = { type: 'hello', v: 1, room: this.room };
      if (this.token) hello.token = this.token;
      if (this.synced && this.epoch !== null) hello.resume = { epoch: this.epoch, seq: this.seq };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this._onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._onClose(ev.code, ev.reason);
    };
  }

  _onClose(code, reason) {
    this.ws = null;
    this.ready = false;
    this._clear('connect');
    this._clear('ping');
    this._clear('pong');
    this.stats.closes.push(code);
    if (this.stats.closes.length > 20) this.stats.closes.shift();
    if (this.stopped) return;
    if (code === 4004 || code === 4010) {
      this.fatal = { code, reason };
      for (const p of this.pending.values()) p.reject(new RequestError('closed', reason));
      this.pending.clear();
      this._emit('fatal', { code, reason });
      return;
    }
    this._emit('status', { state: 'closed', code });
    if (code === 4003) { // the token was refused (or the server wants one)
      const hadToken = !!this.token;
      this.token = null;
      this.synced = false;
      this._emit('auth', { code: 'invalid_token', hadToken });
      if (hadToken) this._connectSoon(0); // go on as an anonymous viewer
      return; // else: wait for setToken()
    }
    this._scheduleReconnect(code === 4001 ? 10000 : 0);
  }

  _scheduleReconnect(atLeast = 0) {
    const base = Math.min(30000, 300 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    this._connectSoon(Math.max(atLeast, base * (0.5 + Math.random() / 2)));
  }

  _connectSoon(ms) {
    this._clear('reconnect');
    this.timers.reconnect = setTimeout(() => this._connect(), ms);
  }

  // Drops the current socket and connects again (resuming when possible).
  _reconnect(ms) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    this._clear('ping');
    this._clear('pong');
    if (ws) ws.close(1000, 'reconnect');
    this._connectSoon(ms);
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'welcome': return this._onWelcome(msg);
      case 'snapshot': return this._onSnapshot(msg);
      case 'event': return this._onEvent(msg);
      case 'private': return this._emit('private', { name: msg.name, data: msg.data, t: msg.t });
      case 'reply': return this._onReply(msg);
      case 'pong': return this._onPong(msg);
      case 'error':
        if (msg.error?.code === 'invalid_token') return; // the close (4003) follows
        return this._emit('error', msg.error ?? {});
      default: return undefined; // a newer server: ignore what we do not know
    }
  }

  _onWelcome(msg) {
    this.ready = true;
    this.attempt = 0;
    this.user = msg.user ?? null;
    this.stats.welcomes++;
    if (msg.resumed) this.stats.resumes++;
    else this.awaitSnapshot = true;
    if (!this.clock.synced) this.clock.offset = msg.t - Date.now(); // rough until the first pong
    this._emit('welcome', { user: this.user, resumed: !!msg.resumed });
    this._emit('status', { state: 'open', resumed: !!msg.resumed });
    for (const p of this.pending.values()) this._send(p.msg); // same op_id: never done twice
    this._startClock();
  }

  _onSnapshot(msg) {
    this.epoch = msg.epoch;
    this.seq = msg.seq;
    this.synced = true;
    this.awaitSnapshot = false;
    this.stats.snapshots++;
    this._emit('snapshot', { state: msg.state, epoch: msg.epoch, seq: msg.seq, t: msg.t });
  }

  _onEvent(msg) {
    if (!this.synced || this.awaitSnapshot) return; // a snapshot is on its way
    if (msg.name === 'show.reset') { // the show was rebuilt: a snapshot follows
      this.awaitSnapshot = true;
      this._emit('event', { name: msg.name, data: msg.data, seq: msg.seq, t: msg.t });
      return;
    }
    if (msg.epoch !== this.epoch) { // the sequence restarted: start over with a snapshot
      this.stats.gaps++;
      this.synced = false;
      this._reconnect(0);
      return;
    }
    if (msg.seq <= this.seq) { // already applied (never shown twice)
      this.stats.duplicates++;
      return;
    }
    if (msg.seq !== this.seq + 1) { // missed something: resume from where we are
      this.stats.gaps++;
      this._reconnect(0);
      return;
    }
    this.seq = msg.seq;
    this.stats.events++;
    this._emit('event', { name: msg.name, data: msg.data, seq: msg.seq, t: msg.t });
  }

  _onReply(msg) {
    const p = this.pending.get(msg.op_id);
    if (!p) return;
    this.pending.delete(msg.op_id);
    if (msg.ok) p.resolve(msg.result ?? {});
    else p.reject(new RequestError(msg.error?.code ?? 'error', msg.error?.message));
  }

  // Five samples a second apart, then one every 30 s; a missing pong means a dead link.
  _startClock() {
    this._clear('ping');
    let n = 0;
    const tick = () => {
      this._ping();
      n++;
      this.timers.ping = setTimeout(tick, n < 5 ? 1000 : PING_EVERY_MS);
    };
    tick();
  }

  _ping() {
    if (!this.ready) return;
    this._send({ type: 'ping', c: Date.now() });
    if (!this.timers.pong) {
      this.timers.pong = setTimeout(() => {
        delete this.timers.pong;
        this.stats.closes.push('pong-timeout');
        this._reconnect(0);
      }, PONG_TIMEOUT_MS);
    }
  }

  _onPong(msg) {
    this._clear('pong');
    const r = Date.now();
    const rtt = r - msg.c;
    if (!(rtt >= 0)) return;
    const s = this.clock.samples;
    s.push({ rtt, offset: msg.t - (msg.c + rtt / 2) });
    if (s.length > CLOCK_SAMPLES) s.shift();
    const best = s.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.clock.offset = best.offset;
    this.clock.rtt = best.rtt;
    this.clock.synced = true;
    this._emit('clock', { offset: best.offset, rtt: best.rtt });
  }
}

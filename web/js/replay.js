// The replay page (/r/{room}/replay): a finished show's recording, its chapters (the products
// pinned during the show, at the media time they were pinned) and the product of the chapter
// playing, bought through the room's show channel exactly as on the live page (shop.js).
//
// Comes up as: GET /api/rooms/{room} (title, creator) and GET /api/rooms/{room}/replay (the
// recording's playlist and the chapters; 404: no finished recording) in parallel; then the
// video (hls.js from /vendor/, or the browser's own HLS on Safari/iOS) and the show channel.
// window.__replay exposes the chapters, the current chapter, seek() and the player's state for
// the e2e tests (tests/e2e/test_replay_browser.py). See docs/viewer.md.

import { t, money, mediaTime, dateTime, translate } from './i18n.js';
import { ShowChannel } from './show.js';
import * as S from './state.js';
import { createShop, priceOf } from './shop.js';
import { loadIdentity } from './auth.js';
import { $, h, setText, modal } from './dom.js';

const room = (() => {
  const m = /^\/r\/([^/]+)\/replay\/?$/.exec(location.pathname);
  return m ? decodeURIComponent(m[1]) : new URLSearchParams(location.search).get('room') ?? '';
})();

const st = S.emptyState();
const ident0 = loadIdentity(room); // once: it takes a token out of the address
const ch = new ShowChannel({ room, token: ident0?.token ?? null });
const video = $('#video');
const ui = { info: null };
const shop = createShop({ room, st, ch, ui, ident: ident0, hooks: { identity: renderHeader } });

// state: loading | playing | paused | ended | none (no finished recording) | failed (the
// playlist or its media) | no_room | no_player (neither hls.js nor native HLS)
const rp = {
  state: 'loading', recording: null, chapters: [], current: -1, pendingSeek: null, hls: null, engine: null,
  ready: false, waiting: false, dragging: false, recovered: false, errors: [], stalls: 0, chapterKey: '',
};

window.__replay = {
  room, state: st, channel: ch, video, shop, rp,
  get chapters() { return rp.chapters; },
  get ready() { return rp.ready; },
  currentChapter() { return rp.chapters[chapterAt(rp.chapters, video.currentTime)] ?? null; },
  seek,
};

// ---- chapters ---------------------------------------------------------------------------------

// The chapters the server sent that can be used, in time order: {t >= 0, product_id, title, price}.
function cleanChapters(list) {
  return (Array.isArray(list) ? list : [])
    .filter((c) => c && Number.isFinite(c.t) && c.t >= 0 && typeof c.product_id === 'string')
    .map((c) => ({ ...c, title: String(c.title ?? c.product_id), price: Number.isFinite(c.price) ? c.price : null }))
    .sort((a, b) => a.t - b.t);
}

// Index of the chapter playing at `time`: the last one that starts at or before it (-1: none yet).
function chapterAt(chapters, time) {
  let i = -1;
  for (let k = 0; k < chapters.length && chapters[k].t <= time; k++) i = k;
  return i;
}

const priceText = (c) => (c.price === null ? '' :
  money(c.price, c.currency ?? st.currency, c.currency_exponent ?? (!c.currency || c.currency === st.currency ? st.exp : 2)));

function renderChapters() {
  const list = $('#chapters');
  const image = (c) => c.image ?? st.products.find((p) => p.id === c.product_id)?.image;
  list.replaceChildren(...rp.chapters.map((c, i) => h('li', { dataset: { i: String(i), t: String(c.t), product: c.product_id } },
    h('button', {
      type: 'button', class: 'chapter', 'aria-label': t('chapter_go', { time: mediaTime(c.t), title: c.title }),
      onclick: () => seek(c.t),
    },
    h('span', { class: 'ch-time', text: mediaTime(c.t) }),
    image(c) ? h('img', { class: 'ch-img', src: image(c), alt: '', loading: 'lazy' }) : h('span', { class: 'ch-img' }),
    h('span', { class: 'ch-title', text: c.title }),
    h('b', { class: 'price ch-price', text: priceText(c) })))));
  $('#chapters-empty').hidden = rp.chapters.length > 0 || !rp.recording;
  renderMarks();
  rp.current = -2; // mark again
  renderCurrent();
}

// Ticks on the seek bar where chapters start.
function renderMarks() {
  const d = duration();
  $('#marks').replaceChildren(...(d > 0 ? rp.chapters : []).map((c) => {
    const el = h('i', { title: `${mediaTime(c.t)} ${c.title}` });
    el.style.setProperty('left', `${Math.min(100, (100 * c.t) / d)}%`);
    return el;
  }));
}

function renderCurrent() {
  const i = chapterAt(rp.chapters, video.currentTime);
  if (i !== rp.current) {
    rp.current = i;
    for (const li of $('#chapters').children) {
      const on = Number(li.dataset.i) === i;
      li.classList.toggle('current', on);
      const btn = li.firstElementChild;
      if (on) btn.setAttribute('aria-current', 'true');
      else btn.removeAttribute('aria-current');
      if (on) { // keep it in view in its own list (a horizontal strip on a phone), not the page
        const box = $('#chapters');
        const r = li.getBoundingClientRect(), b = box.getBoundingClientRect();
        if (r.left < b.left || r.right > b.right) box.scrollLeft += r.left - b.left - 8;
        if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += r.top - b.top - 8;
      }
    }
  }
  renderCard();
}

// The card of the chapter playing: the product as the show channel has it now (SKUs, regular
// price, live stock), or what the chapter says until the snapshot is in.
function renderCard() {
  const c = rp.chapters[rp.current];
  const card = $('#card');
  if (!c) {
    card.hidden = true;
    rp.chapterKey = '';
    delete card.dataset.product;
    return;
  }
  const key = `${rp.current}:${c.product_id}`;
  if (rp.chapterKey !== key) {
    rp.chapterKey = key;
    card.classList.remove('pop');
    void card.offsetWidth;
    card.classList.add('pop');
  }
  card.hidden = false;
  card.dataset.product = c.product_id;
  card.dataset.t = String(c.t);
  const p = st.products.find((x) => x.id === c.product_id);
  if (p) {
    shop.renderCard('card', p);
    card.dataset.price = String(priceOf(p).price);
    return;
  }
  const img = $('#card-img');
  if (img.getAttribute('src') !== (c.image ?? '')) img.src = c.image ?? '';
  setText($('#card-title'), c.title);
  setText($('#card-price'), priceText(c));
  setText($('#card-orig'), '');
  card.dataset.price = c.price === null ? '' : String(c.price);
  const gone = ui.synced; // the show's catalog has it no longer
  setText($('#card-stock'), gone ? t('not_available') : '');
  const buy = $('#card-buy');
  buy.disabled = true;
  setText(buy, gone ? t('not_available') : t('buy'));
}

// ---- the player ---------------------------------------------------------------------------------

function duration() {
  if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
  return Number(rp.recording?.duration_s) || 0;
}

// Moves the video to `time` (seconds) and plays; before the video has its metadata the seek is
// kept and done when it has.
function seek(time) {
  const d = duration();
  const to = Math.max(0, d > 0 ? Math.min(Number(time) || 0, d - 0.05) : Number(time) || 0);
  if (video.readyState >= 1) video.currentTime = to;
  else rp.pendingSeek = to;
  video.play().catch(() => {});
  renderCurrent();
  return to;
}

function setState(state, why) {
  rp.state = state;
  if (why) rp.errors.push(why);
  renderStage();
}

function startPlayer() {
  const url = rp.recording.playlist;
  const Hls = window.Hls;
  if (Hls?.isSupported()) {
    rp.engine = 'hls.js';
    const hls = new Hls({ workerPath: '/vendor/hls.worker.js', startPosition: rp.pendingSeek ?? -1 });
    rp.hls = hls;
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !rp.recovered) { // once: a decoder hiccup
        rp.recovered = true;
        hls.recoverMediaError();
        return;
      }
      setState('failed', `${d.type}/${d.details}`);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) { // Safari, iOS: HLS built in
    rp.engine = 'native';
    video.src = url;
  } else {
    setState('no_player');
    return;
  }
  video.play().catch(() => {}); // muted autoplay; the page offers tap-to-unmute
}

function stopPlayer() {
  rp.hls?.destroy();
  rp.hls = null;
  video.removeAttribute('src');
  video.load();
  rp.ready = false;
  rp.recovered = false;
}

function renderStage() {
  const msg = { loading: 'replay_loading', none: 'replay_none', failed: 'replay_failed', no_room: 'replay_no_room',
    no_player: 'replay_no_player' }[rp.state] ?? (rp.waiting ? 'replay_loading' : null);
  const box = $('#stage-msg');
  box.hidden = !msg;
  const playable = rp.state === 'playing' || rp.state === 'paused' || rp.state === 'ended';
  box.classList.toggle('busy', rp.state === 'loading' || (playable && rp.waiting));
  if (msg) setText($('#stage-text'), t(msg));
  if (!playable && rp.state !== 'loading') video.pause();
  $('#retry').hidden = rp.state !== 'failed';
  const nothing = !rp.recording || rp.state === 'failed'; // nothing to play: no controls, no chapters
  $('.replay-bar').hidden = nothing;
  $('.chapters-panel').hidden = nothing;
  $('#stage').dataset.replay = rp.state;
  $('#stage').dataset.video = rp.state === 'playing' ? 'playing' : 'idle';
  $('#unmute').hidden = !(rp.ready && video.muted);
  renderControls();
}

function renderControls() {
  const d = duration();
  const seekEl = $('#seek');
  seekEl.disabled = !rp.ready;
  seekEl.max = String(d);
  if (!rp.dragging) seekEl.value = String(video.currentTime);
  const at = rp.dragging ? Number(seekEl.value) : video.currentTime;
  setText($('#time'), `${mediaTime(at)} / ${mediaTime(d)}`);
  seekEl.setAttribute('aria-valuetext', mediaTime(at));
  const play = $('#play');
  play.disabled = !rp.ready;
  const paused = video.paused || video.ended;
  play.setAttribute('aria-label', paused ? t('play') : t('pause'));
  play.title = play.getAttribute('aria-label');
  $('#play-icon').setAttribute('d', paused ? 'M7 4v16l13-8z' : 'M6 4h4v16H6zM14 4h4v16h-4z');
}

function onTime() {
  renderCurrent();
  renderControls();
}

video.addEventListener('loadedmetadata', () => {
  rp.ready = true;
  if (rp.pendingSeek !== null) {
    video.currentTime = rp.pendingSeek;
    rp.pendingSeek = null;
  }
  if (rp.state === 'loading') rp.state = video.paused ? 'paused' : 'playing';
  renderMarks();
  renderStage();
});
video.addEventListener('durationchange', () => { renderMarks(); renderControls(); });
video.addEventListener('timeupdate', onTime);
video.addEventListener('seeking', onTime);
video.addEventListener('seeked', onTime);
video.addEventListener('playing', () => { rp.waiting = false; if (rp.ready) setState('playing'); });
video.addEventListener('pause', () => { if (rp.state === 'playing') setState('paused'); });
video.addEventListener('ended', () => setState('ended'));
video.addEventListener('waiting', () => { rp.waiting = true; rp.stalls++; renderStage(); });
video.addEventListener('canplay', () => { rp.waiting = false; renderStage(); });
video.addEventListener('volumechange', renderStage);
video.addEventListener('error', () => { // the native player's (hls.js reports its own)
  if (rp.engine === 'native') setState('failed', `media error ${video.error?.code ?? ''}`);
});

// ---- header -------------------------------------------------------------------------------------

function renderHeader() {
  const info = ui.info;
  setText($('#creator-name'), info?.creator || room);
  setText($('#room-title'), info?.title ?? '');
  setText($('#avatar'), (info?.creator || room || '·').trim().charAt(0).toUpperCase());
  const started = rp.recording?.started_ms;
  const when = $('#recorded-at');
  when.hidden = !started;
  if (started) setText(when, t('replay_streamed', { time: dateTime(started) }));
  const ident = shop.ident;
  const acct = $('#account');
  setText(acct, ident ? ident.user.name : t('sign_in'));
  acct.setAttribute('aria-label', ident ? t('signed_in_as', { name: ident.user.name }) : t('sign_in'));
}

// ---- the show channel: the catalog, the cart, orders --------------------------------------------

function onChange(changed) {
  shop.render(changed);
  if (changed.has('products') || changed.has('closed')) renderCard();
}

ch.addEventListener('snapshot', (e) => {
  const changed = S.applySnapshot(st, e.detail.state);
  ui.synced = true;
  onChange(changed);
  renderChapters(); // prices in the snapshot's currency
});
ch.addEventListener('event', (e) => onChange(S.applyEvent(st, e.detail.name, e.detail.data)));
ch.addEventListener('private', (e) => onChange(S.applyPrivate(st, e.detail.name, e.detail.data, shop.ident?.user.id)));
ch.addEventListener('welcome', renderHeader);
ch.addEventListener('fatal', (e) => { // 4010: the show was ended by a moderator, 4004: no room
  st.closed = true;
  onChange(new Set(['closed', 'products']));
  if (e.detail.code === 4004 && !rp.recording) setState('no_room');
});

// ---- loading ----------------------------------------------------------------------------------

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  return { status: res.status, body };
}

// The room (title, creator) and its replay, asked together.
async function loadReplay() {
  setState('loading');
  const id = encodeURIComponent(room);
  const failed = (e) => ({ status: 0, body: null, why: String(e?.message ?? e) });
  const [info, r] = await Promise.all([getJson(`/api/rooms/${id}`).catch(failed), getJson(`/api/rooms/${id}/replay`).catch(failed)]);
  if (info.status === 200 && info.body?.room) {
    ui.info = info.body.room;
    document.title = `${ui.info.title || room} · ${t('replay')} · livecart`;
  }
  renderHeader();
  if (r.status === 400 || (r.status === 404 && (info.status === 404 || info.status === 400))) {
    setState('no_room', r.body?.error?.message);
    return;
  }
  if (r.status === 404) {
    setState('none', r.body?.error?.message);
    return;
  }
  const rec = r.body?.recording;
  if (r.status !== 200 || typeof rec?.playlist !== 'string' || !rec.playlist) {
    setState('failed', r.why ?? `replay answered ${r.status}`);
    return;
  }
  rp.recording = rec;
  rp.chapters = cleanChapters(r.body.chapters);
  renderHeader();
  renderChapters();
  startPlayer();
  if (!ch.ws && ch.stopped) ch.start();
}

function wire() {
  translate();
  for (const d of document.querySelectorAll('dialog')) modal(d);
  document.addEventListener('click', (e) => {
    const c = e.target.closest('[data-close]');
    if (c) c.closest('dialog')?.close();
  });
  shop.wire();
  $('#card-buy').addEventListener('click', () => { const c = rp.chapters[rp.current]; if (c) shop.openProduct(c.product_id); });
  $('#card-img').addEventListener('click', () => { const c = rp.chapters[rp.current]; if (c) shop.openProduct(c.product_id); });
  $('#unmute').addEventListener('click', () => {
    video.muted = false;
    video.play().catch(() => {});
  });
  $('#play').addEventListener('click', () => {
    if (video.paused || video.ended) video.play().catch(() => {});
    else video.pause();
  });
  $('#seek').addEventListener('input', () => { rp.dragging = true; renderControls(); });
  $('#seek').addEventListener('change', (e) => { rp.dragging = false; seek(Number(e.currentTarget.value)); });
  $('#retry').addEventListener('click', () => {
    stopPlayer();
    rp.errors = [];
    rp.recording = null;
    loadReplay();
  });
}

wire();
renderHeader();
renderStage();
setInterval(() => shop.tick(), 250); // the payment deadline's countdown
if (room) loadReplay();
else setState('no_room');

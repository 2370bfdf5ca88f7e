// The live room page (/r/{room}): video, the show's commerce state, chat. See docs/viewer.md.
// Modules: show.js (the websocket), state.js (the model), shop.js (card, product sheet, cart,
// checkout, orders, sign-in: shared with the replay page), player.js (WHEP), auth.js (tokens),
// i18n.js (texts, money), dom.js (helpers). This file renders the model and wires the controls.

import { t, errorText, clockTime, countdown, compact, translate } from './i18n.js';
import { ShowChannel } from './show.js';
import * as S from './state.js';
import { createShop, priceOf, stockText } from './shop.js';
import { createMarket } from './market.js';
import { Player } from './player.js';
import { loadIdentity } from './auth.js';
import { $, h, setText, modal } from './dom.js';

const room = (() => {
  const m = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  return m ? decodeURIComponent(m[1]) : new URLSearchParams(location.search).get('room') ?? '';
})();

const st = S.emptyState();
const ident0 = loadIdentity(room); // once: it takes a token out of the address
const ch = new ShowChannel({ room, token: ident0?.token ?? null });
const video = $('#video');
const player = new Player(video, `/whep/${encodeURIComponent(room)}`);
const ui = {
  fatal: null, info: null, synced: false, likesShown: 0, likesPending: 0, chatWaitUntil: 0, netTimer: 0, netShown: false,
  pinnedKey: '', rungGen: 0, rungTimer: 0, rungStream: 'offline',
};
const shop = createShop({
  room, st, ch, ui, ident: ident0,
  hooks: {
    identity: () => renderAll(), orders: () => renderFlash(),
    busy: () => { renderFlash(); renderChatNotice(); market.render(new Set(['busy'])); },
  },
});
const market = createMarket({ room, st, ch, ui, shop });
const { fmt, toast, fail, once, requireUser, openProduct, showOrder } = shop;
const wall = () => Math.round(performance.timeOrigin + performance.now()); // real time, for the tests

// Exposed for debugging in the console and for the end-to-end tests.
window.livecart = {
  room, state: st, channel: ch, player, ui,
  flashRemaining() {
    const sale = S.currentSale(st, ch.now());
    if (!sale) return null;
    const target = sale.state === 'scheduled' ? sale.starts_at : sale.ends_at;
    return { sale: sale.id, state: sale.state, remaining: target - ch.now(), wall: wall(), text: $('#flash-countdown').textContent };
  },
};

// ---- header, stage ---------------------------------------------------------------------

function renderHeader() {
  const info = ui.info;
  setText($('#creator-name'), info?.creator || room);
  setText($('#room-title'), info?.title ?? '');
  setText($('#avatar'), (info?.creator || room || '·').trim().charAt(0).toUpperCase());
  const state = ui.fatal?.code === 4010 || st.closed ? 'ended' : st.stream;
  const badge = $('#live-badge');
  badge.dataset.state = state;
  setText(badge, t(state === 'live' ? 'live' : state));
  setText($('#viewer-n'), compact(st.viewers));
  $('#viewer-count').setAttribute('aria-label', t('viewers', { n: st.viewers }));
  $('#viewer-count').title = t('viewers', { n: st.viewers });
  const acct = $('#account');
  const ident = shop.ident;
  setText(acct, ident ? ident.user.name : t('sign_in'));
  acct.setAttribute('aria-label', ident ? t('signed_in_as', { name: ident.user.name }) : t('sign_in'));
}

function renderStage() {
  let msg = null;
  let spin = false;
  if (ui.fatal) msg = ui.fatal.code === 4004 ? 'stage_no_room' : 'stage_ended';
  else if (st.closed) msg = 'stage_ended';
  else if (!ui.synced) { msg = 'stage_connecting'; spin = true; }
  else if (st.stream === 'offline') msg = 'stage_offline';
  else if (st.stream === 'reconnecting') { msg = 'stage_creator_reconnecting'; spin = true; }
  else if (player.state !== 'playing') { msg = player.state === 'stalled' ? 'stage_video_retry' : 'stage_connecting'; spin = true; }
  const box = $('#stage-msg');
  box.hidden = !msg;
  box.classList.toggle('busy', spin);
  if (msg) setText($('#stage-text'), t(msg));
  $('#stage').dataset.video = player.state;
  $('#unmute').hidden = !(player.state === 'playing' && video.muted);
}

function syncPlayer() {
  const on = !ui.fatal && !st.closed && (st.stream === 'live' || st.stream === 'reconnecting');
  player.setWanted(on, { holding: st.stream === 'reconnecting' });
  renderStage();
}

// ---- pinned card, bag -------------------------------------------------------------

function renderPinned() {
  const p = S.pinnedProduct(st);
  const card = $('#pinned');
  if (!p) {
    card.hidden = true;
    ui.pinnedKey = '';
    delete card.dataset.product;
    return;
  }
  const key = `${p.id}@${st.pinned.at}`;
  if (ui.pinnedKey !== key) { // a new pin: note when it became visible
    ui.pinnedKey = key;
    card.dataset.shownAt = String(wall());
    card.classList.remove('pop');
    void card.offsetWidth;
    card.classList.add('pop');
  }
  card.hidden = false;
  card.dataset.product = p.id;
  shop.renderCard('pinned', p);
  card.dataset.stock = String(p.available ?? 0);
}

function bagItem(p) {
  const { price, orig, from } = priceOf(p);
  const out = (p.available ?? 0) <= 0;
  const promo = S.productPromo(p, ch.now());
  return h('li', { class: 'bag-item', dataset: { product: p.id } },
    h('img', { src: p.image ?? '', alt: '', loading: 'lazy' }),
    h('div', { class: 'bag-text' },
      h('div', { class: 'bag-title', text: p.title }),
      p.subtitle ? h('div', { class: 'muted small', text: p.subtitle }) : null,
      h('div', { class: 'price-row' }, h('b', { class: 'price', text: from ? t('from_price', { price: fmt(price) }) : fmt(price) }),
        ' ', orig > price ? h('s', { class: 'orig', text: fmt(orig) }) : null),
      promo ? h('span', { class: 'promo-badge', text: shop.promoLabel(promo) }) : null,
      h('div', { class: 'stock', text: stockText(p.available ?? 0) })),
    h('button', {
      type: 'button', class: 'buy-btn small', text: out ? t('sold_out') : t('buy'), disabled: out || st.closed,
      'aria-label': `${t('buy')}: ${p.title}`,
      onclick: () => { $('#bag').close(); openProduct(p.id); },
    }));
}

function renderBag() {
  const items = st.products.map(bagItem);
  $('#bag-list').replaceChildren(...items);
  $('#side-bag').replaceChildren(...st.products.map(bagItem));
  setText($('#bag-count'), String(st.products.length));
  $('#bag-btn').setAttribute('aria-label', t('bag_count', { n: st.products.length }));
}

// ---- flash sale --------------------------------------------------------------------------

function renderFlash() {
  const now = ch.now();
  const sale = st.closed || ui.fatal ? null : S.currentSale(st, now);
  const box = $('#flash');
  if (!sale) { box.hidden = true; delete box.dataset.sale; return; }
  box.hidden = false;
  box.dataset.sale = sale.id;
  box.dataset.state = sale.state;
  box.dataset.remaining = String(sale.remaining ?? 0);
  const img = $('#flash-img');
  if (img.getAttribute('src') !== sale.image) img.src = sale.image ?? '';
  setText($('#flash-title'), `${sale.title ?? ''} · ${sale.label ?? ''}`);
  setText($('#flash-price'), fmt(sale.price));
  setText($('#flash-orig'), sale.original_price > sale.price ? fmt(sale.original_price) : '');
  setText($('#flash-limit'), sale.per_user_limit > 0 ? t('flash_limit', { n: sale.per_user_limit }) : '');
  const live = sale.state === 'live' || sale.state === 'sold_out';
  setText($('#flash-when'), sale.state === 'ended' ? t('flash_ended') : live ? t('flash_ends_in') : t('flash_starts_in'));
  setText($('#flash-countdown'), sale.state === 'ended' ? '' : countdown((live ? sale.ends_at : sale.starts_at) - now));
  const qty = Math.max(1, sale.quantity ?? 1);
  const sold = sale.sold ?? qty - (sale.remaining ?? 0);
  $('#flash-bar-fill').style.setProperty('width', `${Math.min(100, (100 * sold) / qty)}%`);
  const bar = $('#flash-bar');
  bar.setAttribute('aria-valuemax', String(qty));
  bar.setAttribute('aria-valuenow', String(sold));
  bar.setAttribute('aria-valuetext', t('flash_progress', { sold, left: sale.remaining ?? 0 }));
  setText($('#flash-progress'), t('flash_progress', { sold, left: sale.remaining ?? 0 }));
  const bought = S.boughtInSale(st, sale.id);
  const limitReached = sale.per_user_limit > 0 && bought >= sale.per_user_limit;
  let label = t('flash_grab');
  let enabled = sale.state === 'live' && (sale.remaining ?? 0) > 0 && !st.closed;
  if (sale.state === 'sold_out' || (live && (sale.remaining ?? 0) <= 0)) { label = t('sold_out'); enabled = false; }
  else if (sale.state === 'ended') { label = t('flash_ended'); enabled = false; }
  else if (sale.state === 'scheduled') { label = t('flash_soon'); enabled = false; }
  else if (limitReached) { label = t('flash_limit_reached'); enabled = false; }
  const btn = $('#flash-buy');
  setText(btn, label);
  btn.disabled = !enabled || ui.busy.has('flash');
  box.dataset.soldOut = String(!!(live && (sale.remaining ?? 0) <= 0));
}

async function flashBuy() {
  const sale = S.currentSale(st, ch.now());
  if (!sale || !requireUser()) return;
  const r = await once('flash', () => ch.request('flash.buy', { sale_id: sale.id, qty: 1 }));
  if (r?.order) showOrder(r.order);
}

// ---- chat ----------------------------------------------------------------------------------

function chatItem(m) {
  const me = shop.ident?.user.id;
  const mine = me && m.user === me;
  return h('li', { class: `msg ${mine ? 'mine' : ''} ${m.only_me ? 'only-me' : ''}`, dataset: { id: m.id, user: m.user } },
    h('b', { class: 'who', text: m.name ?? m.user }), ' ', h('span', { class: 'text', text: m.text }),
    m.only_me ? h('small', { class: 'only', text: ` (${t('only_you')})` }) : null);
}

function renderChat() {
  const list = $('#chat-list');
  const want = new Set(st.chat.map((m) => m.id));
  for (const li of [...list.children]) if (!want.has(li.dataset.id)) li.remove();
  const have = new Set([...list.children].map((li) => li.dataset.id));
  for (const m of st.chat) if (!have.has(m.id)) list.append(chatItem(m));
  list.scrollTop = list.scrollHeight;
}

function renderChatNotice() {
  const now = ch.now();
  const box = $('#chat-notice');
  let text = '';
  let blocked = false;
  if (st.banned) { text = t('banned'); blocked = true; }
  else if (st.mute && st.mute.until > now) {
    const time = clockTime(st.mute.until - ch.clock.offset);
    text = st.mute.reason ? t('muted_until', { time, reason: st.mute.reason }) : t('muted_noreason', { time });
    blocked = true;
  } else if (st.slowMode > 0) text = t('slow_mode', { n: st.slowMode });
  box.hidden = !text;
  box.dataset.kind = blocked ? 'blocked' : 'info';
  setText(box, text);
  const input = $('#chat-input');
  input.disabled = blocked || !!ui.fatal || st.closed;
  input.placeholder = shop.ident ? t('chat_placeholder') : t('chat_signin');
  const wait = Math.ceil((ui.chatWaitUntil - Date.now()) / 1000);
  const send = $('#chat-send');
  send.disabled = blocked || wait > 0 || ui.busy.has('chat') || !!ui.fatal;
  setText(send, wait > 0 ? `${wait}s` : t('send'));
  send.setAttribute('aria-label', wait > 0 ? t('wait_s', { n: wait }) : t('send'));
}

async function sendChat(e) {
  e.preventDefault();
  const input = $('#chat-input');
  const text = input.value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  if (!text || !requireUser()) return;
  try {
    ui.busy.add('chat');
    renderChatNotice();
    const r = await ch.request('chat.send', { text });
    input.value = '';
    if (r.message) {
      S.applyEvent(st, 'chat.message', r.visibility === 'sender' ? { ...r.message, only_me: true } : r.message);
      renderChat();
    }
    ui.chatWaitUntil = Date.now() + Math.max(st.slowMode * 1000, 1000);
  } catch (err) {
    const secs = /(\d+) more seconds/.exec(err.message ?? '');
    const ms = /wait (\d+) ms/.exec(err.message ?? '');
    if (err.code === 'muted' && secs) {
      st.mute = { until: ch.now() + Number(secs[1]) * 1000, reason: st.mute?.reason ?? '' };
    } else if (err.code === 'banned') st.banned = true;
    else if (ms) ui.chatWaitUntil = Date.now() + Number(ms[1]);
    fail(err);
  } finally {
    ui.busy.delete('chat');
    renderChatNotice();
  }
}

// ---- likes ---------------------------------------------------------------------------------

function heart(x, y) {
  const box = $('#hearts');
  if (box.children.length > 30) return;
  const el = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  el.setAttribute('viewBox', '0 0 24 24');
  el.setAttribute('class', 'heart');
  el.append($('#heart-path').cloneNode());
  el.style.setProperty('color', ['#fe2c55', '#ff7eb3', '#ffb347', '#b18cff', '#ff5a7a'][Math.floor(Math.random() * 5)]);
  const r = box.getBoundingClientRect();
  el.style.setProperty('left', `${x === undefined ? r.width - 48 : x - r.left}px`);
  el.style.setProperty('top', `${y === undefined ? r.height - 120 : y - r.top}px`);
  el.style.setProperty('--drift', `${Math.round(Math.random() * 60 - 30)}px`);
  el.addEventListener('animationend', () => el.remove());
  box.append(el);
}

function like(x, y) {
  ui.likesPending++;
  ui.likesShown = Math.max(ui.likesShown, st.likes) + 1;
  heart(x, y);
  renderLikes();
}

function renderLikes() {
  ui.likesShown = Math.max(ui.likesShown, st.likes);
  setText($('#like-count'), ui.likesShown ? compact(ui.likesShown) : '');
  $('#like-btn').setAttribute('aria-label', `${t('like')} · ${t('likes_label', { n: ui.likesShown })}`);
}

setInterval(() => { // taps are sent in batches (docs/protocol.md: like)
  if (ui.likesPending && ch.connected) {
    ch.like(ui.likesPending);
    ui.likesPending = 0;
  }
}, 500);

// ---- rendering ----------------------------------------------------------------------------

function render(changed) {
  const has = (k) => changed.has(k);
  if (has('stream') || has('closed')) syncPlayer();
  if (has('stream') && st.stream !== ui.rungStream) {
    ui.rungStream = st.stream;
    refreshRungs();
  }
  if (has('viewers') || has('stream') || has('closed')) renderHeader();
  if (has('pinned') || has('products') || has('closed')) renderPinned();
  if (has('products') || has('closed')) renderBag();
  shop.render(changed); // the product sheet, the cart, the order sheet
  if (has('flash') || has('products') || has('orders') || has('closed')) renderFlash();
  if (has('chat')) renderChat();
  if (has('slow') || has('mute') || has('closed')) renderChatNotice();
  if (has('likes')) renderLikes();
  market.render(changed);
}

function renderAll() {
  renderHeader();
  renderStage();
  render(new Set(['products', 'pinned', 'flash', 'coupons', 'likes', 'viewers', 'chat', 'slow', 'stream', 'closed', 'cart', 'orders',
    'claims', 'mute', 'group', 'gifts', 'wallet', 'board']));
}

// Promotions start and end by the server's clock: the badges follow.
function promoKey() {
  const now = ch.now();
  let k = '';
  for (const [id, e] of st.skus) if (S.promoOn(e.sku.promotion, now)) k += `${id},`;
  return k;
}

// ---- the show channel -------------------------------------------------------------------

ch.addEventListener('snapshot', (e) => {
  const changed = S.applySnapshot(st, e.detail.state);
  ui.synced = true;
  render(changed);
  renderStage();
});

ch.addEventListener('event', (e) => {
  const { name, data } = e.detail;
  const changed = S.applyEvent(st, name, data);
  render(changed);
  if (name === 'coupon.dropped' && shop.claimable(data)) {
    toast(`🎁 ${t('coupon_drop', { title: data.title || data.id })} · ${shop.couponDesc(data)}`,
      { timeout: 10000, kind: 'coupon', action: { label: t('claim'), fn: () => shop.claimCoupon(data.id) } });
  }
});

ch.addEventListener('private', (e) => {
  const { name, data } = e.detail;
  const changed = S.applyPrivate(st, name, data, shop.ident?.user.id);
  render(changed);
  if (name === 'chat.muted' && data.until) renderChatNotice();
  if (name === 'group.formed') market.formed(data);
  if (name === 'store') { // cluster mode: this node lost its shared store; video goes on, buying waits
    const banner = $('#net-banner');
    if (data.state === 'reconnecting') {
      ui.storeShown = true;
      banner.hidden = false;
      setText(banner, t('store_lost'));
    } else if (ui.storeShown) {
      ui.storeShown = false;
      if (!ui.netShown) banner.hidden = true;
      toast(t('conn_back'));
    }
  }
});

ch.addEventListener('welcome', renderHeader); // shop.js forgot a token the server refused

ch.addEventListener('status', (e) => {
  const banner = $('#net-banner');
  if (e.detail.state === 'open') {
    clearTimeout(ui.netTimer);
    ui.netTimer = 0;
    if (ui.netShown) toast(t('conn_back'));
    ui.netShown = false;
    banner.hidden = true;
  } else if (e.detail.state === 'closed' && !ui.netTimer && !ui.netShown) {
    ui.netTimer = setTimeout(() => { // a quick resume needs no banner
      ui.netTimer = 0;
      if (ch.connected) return;
      ui.netShown = true;
      banner.hidden = false;
      setText(banner, t('conn_lost'));
    }, 1500);
  }
});

ch.addEventListener('fatal', (e) => {
  ui.fatal = e.detail;
  if (e.detail.code === 4010) st.closed = true;
  $('#net-banner').hidden = true;
  syncPlayer();
  renderAll();
});

ch.addEventListener('error', (e) => {
  if (e.detail.code === 'rate_limited') toast(errorText('rate_limited'), { kind: 'error' });
});

ch.addEventListener('clock', () => renderFlash());

// ---- player --------------------------------------------------------------------------------

player.addEventListener('state', renderStage);
player.addEventListener('stats', (e) => {
  const height = e.detail?.frameHeight;
  if (height) setText($('#quality option[value="auto"]'), t('auto_rung', { rung: `${height}p` }));
});
player.addEventListener('rung', (e) => { $('#quality').value = e.detail.rung; });
video.addEventListener('volumechange', renderStage);

// ---- controls ------------------------------------------------------------------------------

function wire() {
  translate();
  for (const d of document.querySelectorAll('dialog')) modal(d);
  document.addEventListener('click', (e) => {
    const c = e.target.closest('[data-close]');
    if (c) c.closest('dialog')?.close();
  });
  $('#unmute').addEventListener('click', () => {
    video.muted = false;
    video.play().catch(() => {});
    renderStage();
  });
  $('#quality').addEventListener('change', async (e) => {
    const sel = e.currentTarget;
    const rung = sel.value;
    const ok = await player.setRung(rung);
    if (!ok) { // the room's rungs changed since the menu was filled
      toast(t('rung_unavailable', { rung }), { kind: 'error' });
      sel.value = 'auto';
      player.setRung('auto');
      refreshRungs();
    }
  });
  shop.wire();
  $('#pinned-buy').addEventListener('click', () => { const p = S.pinnedProduct(st); if (p) openProduct(p.id); });
  $('#pinned-img').addEventListener('click', () => { const p = S.pinnedProduct(st); if (p) openProduct(p.id); });
  $('#bag-btn').addEventListener('click', () => $('#bag').showModal());
  $('#group-btn').addEventListener('click', market.openGroup);
  $('#gift-btn').addEventListener('click', market.openGifts);
  $('#board-btn').addEventListener('click', market.openGifts);
  $('#flash-buy').addEventListener('click', flashBuy);
  $('#chat-form').addEventListener('submit', sendChat);
  $('#chat-input').addEventListener('focus', () => { if (!shop.ident) requireUser(); });
  $('#like-btn').addEventListener('click', () => like());
  $('#stage').addEventListener('dblclick', (e) => {
    if (e.target === video || e.target.id === 'hearts' || e.target.id === 'stage') like(e.clientX, e.clientY);
  });
}

// GET /api/rooms/{id}: title, creator, state and the rungs the room has now. null on failure.
async function fetchRoom() {
  try {
    const res = await fetch(`/api/rooms/${encodeURIComponent(room)}`, { cache: 'no-store' });
    if (res.ok) {
      ui.info = (await res.json()).room;
      document.title = `${ui.info.title || room} · livecart`;
      if (ui.info.state === 'ended') st.closed = true;
      return ui.info;
    }
    if (res.status === 404 || res.status === 400) ui.fatal = { code: 4004, reason: 'no such room' };
  } catch { /* the show channel will tell */ }
  return null;
}

async function loadRoom() {
  const gen = ui.rungGen;
  const info = await fetchRoom();
  if (info && gen === ui.rungGen) renderQuality(info.renditions ?? []); // else a newer answer is in
  renderAll();
}

// ---- the quality menu: the room's own rungs (renditions of GET /api/rooms/{id}) ------------

function renderQuality(names) {
  const sel = $('#quality');
  if ([...sel.options].map((o) => o.value).join() !== ['auto', ...names].join()) {
    sel.replaceChildren(sel.options[0], ...names.map((n) => h('option', { value: n, text: n === 'source' ? t('source') : n })));
  }
  if (player.rung !== 'auto' && !names.includes(player.rung)) player.setRung('auto');
  sel.value = player.rung;
  sel.disabled = !names.length;
}

// The rungs change with the stream (another publisher, another source size), and the ladder
// adds each rung when its first packets come out: fetch again when the stream state changes,
// then after 1, 2, 4, 8 s while live until two answers agree.
const RUNG_RETRY_MS = [1000, 2000, 4000, 8000];

function refreshRungs() {
  clearTimeout(ui.rungTimer);
  ui.rungGen++;
  pollRungs(ui.rungGen, 0, null);
}

async function pollRungs(gen, tries, last) {
  const info = await fetchRoom();
  if (gen !== ui.rungGen || !info) return; // a newer refresh runs, or the room is gone
  const names = info.renditions ?? [];
  renderQuality(names);
  renderHeader();
  const settled = names.length > 0 && names.join() === last;
  if (st.stream === 'live' && !settled && tries < RUNG_RETRY_MS.length) {
    ui.rungTimer = setTimeout(() => pollRungs(gen, tries + 1, names.join()), RUNG_RETRY_MS[tries]);
  }
}

wire();
renderAll();
loadRoom();
if (room) ch.start();
else ui.fatal = { code: 4004, reason: 'no room in the address' };

setInterval(() => { // countdowns (flash sale, payment deadline, mute, slow mode, teams), promotion windows
  renderFlash();
  renderChatNotice();
  shop.tick();
  market.tick();
  const k = promoKey();
  if (k !== ui.promoKey) {
    ui.promoKey = k;
    render(new Set(['products', 'pinned', 'cart']));
  }
}, 250);

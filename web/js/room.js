// The live room page (/r/{room}): video, the show's commerce state, chat. See docs/viewer.md.
// Modules: show.js (the websocket), state.js (the model), player.js (WHEP), auth.js (tokens),
// i18n.js (texts, money), dom.js (helpers). This file renders the model and wires the controls.

import { t, errorText, money, clockTime, countdown, compact, translate } from './i18n.js';
import { ShowChannel } from './show.js';
import * as S from './state.js';
import { Player } from './player.js';
import { loadIdentity, devSignIn, forget } from './auth.js';
import { $, h, setText, modal } from './dom.js';

const room = (() => {
  const m = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  return m ? decodeURIComponent(m[1]) : new URLSearchParams(location.search).get('room') ?? '';
})();

const st = S.emptyState();
let ident = loadIdentity(room);
const ch = new ShowChannel({ room, token: ident?.token ?? null });
const video = $('#video');
const player = new Player(video, `/whep/${encodeURIComponent(room)}`);
const ui = {
  fatal: null, info: null, synced: false, product: null, sku: null, qty: 1, order: null, claimChoice: undefined,
  quote: null, quoting: null, // the cart's server quote {key, quote}, and the one being asked
  busy: new Set(), likesShown: 0, likesPending: 0, chatWaitUntil: 0, netTimer: 0, netShown: false,
  pinnedKey: '', rungGen: 0, rungTimer: 0, rungStream: 'offline',
};
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

// ---- small pieces ----------------------------------------------------------------------

const fmt = (minor) => money(minor, st.currency, st.exp);

function priceOf(p) {
  const skus = p.skus ?? [];
  if (!skus.length) return { price: 0, orig: 0, from: false };
  const best = skus.reduce((a, b) => (b.price < a.price ? b : a));
  return { price: best.price, orig: best.original_price ?? 0, from: skus.some((s) => s.price !== best.price) };
}

function stockText(n) {
  if (n <= 0) return t('sold_out');
  return n <= 10 ? t('low_stock', { n }) : t('stock', { n });
}

function toast(text, { action, timeout = 3500, kind = '' } = {}) {
  const box = $('#toasts');
  const el = h('div', { class: `toast ${kind}` }, h('span', { text }));
  if (action) {
    el.append(h('button', {
      type: 'button', class: 'toast-btn', text: action.label,
      onclick: async (e) => { e.currentTarget.disabled = true; await action.fn(); el.remove(); },
    }));
  }
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  // Above any open dialog: a popover shown last is the top of the top layer.
  const r = $('#stage').getBoundingClientRect();
  box.style.setProperty('left', `${r.left + r.width / 2}px`);
  if (box.showPopover) {
    if (box.matches(':popover-open')) box.hidePopover();
    box.showPopover();
  }
  setTimeout(() => el.remove(), timeout);
  return el;
}

function fail(err) {
  if (err?.code === 'cancelled') return;
  toast(errorText(err?.code ?? 'internal_error'), { kind: 'error' });
}

// Runs a request once at a time per key (a double tap does not buy twice).
async function once(key, fn) {
  if (ui.busy.has(key)) return undefined;
  ui.busy.add(key);
  renderBusy();
  try {
    return await fn();
  } catch (e) {
    fail(e);
    return undefined;
  } finally {
    ui.busy.delete(key);
    renderBusy();
  }
}

function requireUser() {
  if (ident) return true;
  openSignIn(t('sign_in_needed'));
  return false;
}

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

// ---- pinned card, bag, product sheet ---------------------------------------------------

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
  const img = $('#pinned-img');
  if (img.getAttribute('src') !== p.image) img.src = p.image ?? '';
  setText($('#pinned-title'), p.title);
  const { price, orig, from } = priceOf(p);
  setText($('#pinned-price'), from ? t('from_price', { price: fmt(price) }) : fmt(price));
  setText($('#pinned-orig'), orig > price ? fmt(orig) : '');
  setText($('#pinned-stock'), stockText(p.available ?? 0));
  card.dataset.stock = String(p.available ?? 0);
  const buy = $('#pinned-buy');
  buy.disabled = st.closed || (p.available ?? 0) <= 0;
  setText(buy, (p.available ?? 0) <= 0 ? t('sold_out') : t('buy'));
}

function bagItem(p) {
  const { price, orig, from } = priceOf(p);
  const out = (p.available ?? 0) <= 0;
  return h('li', { class: 'bag-item', dataset: { product: p.id } },
    h('img', { src: p.image ?? '', alt: '', loading: 'lazy' }),
    h('div', { class: 'bag-text' },
      h('div', { class: 'bag-title', text: p.title }),
      p.subtitle ? h('div', { class: 'muted small', text: p.subtitle }) : null,
      h('div', { class: 'price-row' }, h('b', { class: 'price', text: from ? t('from_price', { price: fmt(price) }) : fmt(price) }),
        ' ', orig > price ? h('s', { class: 'orig', text: fmt(orig) }) : null),
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

function openProduct(id) {
  if (!st.products.find((p) => p.id === id) && S.pinnedProduct(st)?.id !== id) return;
  ui.product = id;
  const p = st.products.find((x) => x.id === id) ?? S.pinnedProduct(st);
  const first = (p.skus ?? []).find((s) => s.available > 0) ?? p.skus?.[0];
  ui.sku = first?.id ?? null;
  ui.qty = 1;
  renderProduct();
  $('#product').showModal();
}

function renderProduct() {
  const dlg = $('#product');
  if (!ui.product) return;
  const p = st.products.find((x) => x.id === ui.product) ?? S.pinnedProduct(st);
  if (!p) { dlg.close(); return; }
  const sku = (p.skus ?? []).find((s) => s.id === ui.sku) ?? p.skus?.[0];
  setText($('#product-title'), p.title);
  setText($('#product-sub'), p.subtitle ?? '');
  const img = $('#product-img');
  if (img.getAttribute('src') !== p.image) img.src = p.image ?? '';
  setText($('#product-price'), sku ? fmt(sku.price) : '');
  setText($('#product-orig'), sku && sku.original_price > sku.price ? fmt(sku.original_price) : '');
  setText($('#product-stock'), stockText(sku?.available ?? 0));
  const fs = $('#product-skus');
  const legend = fs.querySelector('legend');
  fs.replaceChildren(legend, ...(p.skus ?? []).map((s) => h('label', { class: `sku ${s.available <= 0 ? 'out' : ''}` },
    h('input', {
      type: 'radio', name: 'sku', value: s.id, checked: s.id === sku?.id, disabled: s.available <= 0,
      onchange: () => { ui.sku = s.id; ui.qty = 1; renderProduct(); },
    }), h('span', { text: s.label }))));
  const max = Math.max(1, Math.min(maxQty(sku?.id), sku?.available ?? 1));
  ui.qty = Math.min(Math.max(1, ui.qty), max);
  setText($('#product-qty'), String(ui.qty));
  $('#product-minus').disabled = ui.qty <= 1;
  $('#product-plus').disabled = ui.qty >= max;
  const out = !sku || sku.available <= 0 || st.closed;
  $('#product-add').disabled = out || ui.busy.has('cart');
  $('#product-buy').disabled = out || ui.busy.has('buy');
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

// ---- cart, coupons, orders ----------------------------------------------------------------

function cart() {
  return st.me?.cart ?? { items: [], subtotal: 0 };
}

// The most units of a SKU one line may have: the protocol's limit, or the SKU's hold limit
// (units one viewer may keep in unpaid orders; 0: none) when lower.
function maxQty(skuId) {
  const limit = st.skus.get(skuId)?.sku?.hold_limit ?? 0;
  return limit > 0 ? Math.min(limit, S.MAX_QTY) : S.MAX_QTY;
}

// The claim to apply among a quote's offers ({id, coupon_id, discount|null}): the viewer's
// choice while it applies, else the largest discount; null for none.
function chooseClaim(offers) {
  if (ui.claimChoice === '') return null;
  const usable = (offers ?? []).filter((o) => o.discount !== null && o.discount > 0);
  return usable.find((o) => o.id === ui.claimChoice) ??
    usable.reduce((best, o) => (!best || o.discount > best.discount ? o : best), null);
}

// The server's price of `items` (null: the cart) with the best or chosen claim: one
// `cart.quote` for the offers, a second with the claim for the totals checkout will charge.
async function serverQuote(items) {
  const base = items ? { items } : {};
  const first = (await ch.request('cart.quote', base)).quote;
  const offer = chooseClaim(first.claims);
  if (!offer) return first;
  return { ...(await ch.request('cart.quote', { ...base, claim_id: offer.id })).quote, claims: first.claims };
}

// What the cart's quote depends on: lines, usable claims and the choice.
function quoteKey() {
  const lines = cart().items.map((it) => `${it.sku}:${it.qty}`).join(',');
  const claims = (st.me?.claims ?? []).filter((cl) => S.claimState(st, cl) === 'available').map((cl) => cl.id).join(',');
  return `${lines}|${claims}|${ui.claimChoice ?? '*'}`;
}

// The cart's quote (a promise): asked when what it depends on changed, rendered when it
// arrives. A failed quote is remembered under its key (quote null), so it is not retried in
// a loop; the next change of the cart or claims asks again.
function refreshQuote() {
  const key = quoteKey();
  if (ui.quote?.key === key) return Promise.resolve(ui.quote.quote ?? undefined);
  if (ui.quoting?.key === key) return ui.quoting.promise;
  const promise = serverQuote(null).then((quote) => quote, (e) => {
    if (e?.code !== 'unauthorized') fail(e);
    return undefined;
  }).then((quote) => {
    if (ui.quoting?.key === key) {
      ui.quoting = null;
      ui.quote = { key, quote: quote ?? null };
      if ($('#cart').open) renderCart();
    }
    return quote;
  });
  ui.quoting = { key, promise };
  return promise;
}

function couponDesc(c) {
  if (!c) return '';
  if (c.kind === 'threshold') return t('coupon_threshold', { amount: fmt(c.amount_off), min: fmt(c.min_spend) });
  if (c.kind === 'percent') {
    const s = t('coupon_percent', { pct: c.percent_off });
    return c.max_off > 0 ? `${s}, ${t('coupon_cap', { amount: fmt(c.max_off) })}` : s;
  }
  const s = t('coupon_fixed', { amount: fmt(c.amount_off) });
  return c.min_spend > 0 ? `${s}, ${t('coupon_min', { min: fmt(c.min_spend) })}` : s;
}

function claimable(c) {
  const now = ch.now();
  if ((c.remaining ?? 0) <= 0 || (c.starts_at && now < c.starts_at) || (c.ends_at && now >= c.ends_at)) return false;
  return !st.me?.claims.some((cl) => cl.coupon_id === c.id);
}

async function claimCoupon(id) {
  if (!requireUser()) return;
  const r = await once(`claim:${id}`, () => ch.request('coupon.claim', { coupon_id: id }));
  if (r?.claim) {
    S.applyPrivate(st, 'coupon.claimed', { claim: r.claim });
    if (r.coupon) st.coupons.set(r.coupon.id, r.coupon);
    toast(t('coupon_claimed', { title: r.coupon?.title || id }));
    renderCart();
  }
}

function renderCart() {
  const c = cart();
  const count = c.items.reduce((n, it) => n + it.qty, 0);
  const badge = $('#cart-count');
  badge.hidden = count === 0;
  setText(badge, String(count));
  $('#cart-btn').setAttribute('aria-label', t('cart_count', { n: count }));
  const dlg = $('#cart');
  if (!dlg.open) return;
  $('#cart-lines').replaceChildren(...c.items.map((it) => h('li', { class: 'cart-line', dataset: { sku: it.sku } },
    h('img', { src: it.image ?? '', alt: '' }),
    h('div', { class: 'bag-text' }, h('div', { class: 'bag-title', text: it.title }),
      h('div', { class: 'muted small', text: it.label ?? '' }),
      h('b', { class: 'price', text: fmt(it.unit_price) }),
      it.available < it.qty ? h('div', { class: 'error small', text: stockText(it.available) }) : null),
    h('div', { class: 'stepper' },
      h('button', { type: 'button', text: '−', 'aria-label': `${t('decrease')}: ${it.title}`, disabled: ui.busy.has('cart'), onclick: () => setQty(it.sku, it.qty - 1) }),
      h('output', { text: String(it.qty), 'aria-label': t('quantity') }),
      h('button', { type: 'button', text: '+', 'aria-label': `${t('increase')}: ${it.title}`, disabled: ui.busy.has('cart') || it.qty >= maxQty(it.sku), onclick: () => setQty(it.sku, it.qty + 1) })),
    h('button', { type: 'button', class: 'link-btn', text: t('remove'), 'aria-label': `${t('remove')}: ${it.title}`, onclick: () => setQty(it.sku, 0) }))));
  $('#cart-empty').hidden = c.items.length > 0;

  const offers = [...st.coupons.values()].filter(claimable);
  $('#coupon-offers').replaceChildren(...offers.map((cp) => h('li', { class: 'coupon', dataset: { coupon: cp.id } },
    h('div', {}, h('b', { text: cp.title || cp.id }), h('div', { class: 'muted small', text: `${couponDesc(cp)} · ${t('coupon_left', { n: cp.remaining })}` })),
    h('button', { type: 'button', class: 'ghost-btn small', text: t('claim'), disabled: ui.busy.has(`claim:${cp.id}`), onclick: () => claimCoupon(cp.id) }))));

  // Totals and coupon offers come from the server's quote; until it arrives (or when the
  // cart changed since) the subtotal is the cart's and the total is left unset.
  const key = quoteKey();
  const q = ui.quote?.key === key ? ui.quote.quote : null;
  if (ui.quote?.key !== key) refreshQuote();
  const subtotal = q ? q.subtotal : c.subtotal ?? 0;
  const sel = $('#coupon-select');
  const opts = [h('option', { value: '', text: t('coupon_none') })];
  for (const o of q?.claims ?? []) {
    const cp = st.coupons.get(o.coupon_id);
    const what = o.discount !== null ? `−${fmt(o.discount)}` : cp?.min_spend ? t('coupon_needs', { min: fmt(cp.min_spend) }) : '';
    opts.push(h('option', { value: o.id, text: `${cp?.title || o.coupon_id} (${what})`, disabled: o.discount === null }));
  }
  sel.replaceChildren(...opts);
  sel.value = q?.claim_id ?? '';
  const off = q?.discount ?? 0;
  setText($('#cart-subtotal'), fmt(subtotal));
  setText($('#cart-discount'), off ? `−${fmt(off)}` : fmt(0));
  setText($('#cart-total'), q ? fmt(q.total) : '…');
  $('#cart-total').dataset.minor = q ? String(q.total) : '';
  $('#checkout').disabled = !c.items.length || st.closed || ui.busy.has('checkout');
  renderOrders();
}

function orderState(o) {
  return t(`state_${o.state}`);
}

function renderOrders() {
  const list = st.me?.orders ?? [];
  const now = ch.now();
  $('#orders').replaceChildren(...list.slice(0, 20).map((o) => h('li', { class: `order ${o.state}`, dataset: { order: o.id } },
    h('span', { class: 'mono', text: o.id }), h('span', { text: orderState(o) }), h('b', { text: fmt(o.total) }),
    o.state === 'pending' ? h('span', { class: 'muted small', text: t('pay_left', { time: countdown(o.expires_at - now) }) }) : null)));
}

async function setQty(sku, qty) {
  const r = await once('cart', () => ch.request(qty > 0 ? 'cart.set' : 'cart.remove', qty > 0 ? { sku, qty } : { sku }));
  if (r?.cart && st.me) st.me.cart = r.cart;
  renderCart();
}

async function addToCart() {
  if (!requireUser() || !ui.sku) return;
  const r = await once('cart', () => ch.request('cart.add', { sku: ui.sku, qty: ui.qty }));
  if (r?.cart) {
    if (st.me) st.me.cart = r.cart;
    $('#product').close();
    toast(t('added'));
    renderCart();
  }
}

async function buyNow() {
  if (!requireUser() || !ui.sku) return;
  const req = { items: [{ sku: ui.sku, qty: ui.qty }] };
  const r = await once('buy', async () => {
    const q = await serverQuote(req.items); // the best claim for this one line, priced by the server
    if (q.claim_id) req.claim_id = q.claim_id;
    return ch.request('checkout', req);
  });
  if (r?.order) {
    $('#product').close();
    showOrder(r.order);
  }
}

async function checkout() {
  if (!requireUser()) return;
  const r = await once('checkout', async () => {
    const q = await refreshQuote(); // the claim shown is the claim applied
    if (!q) return undefined; // the quote failed and said why
    return ch.request('checkout', q.claim_id ? { claim_id: q.claim_id } : {});
  });
  if (r?.order) {
    ui.claimChoice = undefined;
    $('#cart').close();
    showOrder(r.order);
  }
}

function showOrder(order) {
  S.applyPrivate(st, 'order.created', { order });
  ui.order = order.id;
  renderOrder();
  const dlg = $('#order');
  if (!dlg.open) dlg.showModal();
  renderFlash();
}

function renderOrder() {
  const o = st.me?.orders.find((x) => x.id === ui.order);
  const dlg = $('#order');
  if (!o) return;
  dlg.dataset.order = o.id;
  dlg.dataset.state = o.state;
  setText($('#order-id'), o.id);
  setText($('#order-subtotal'), fmt(o.subtotal));
  setText($('#order-discount'), o.discount ? `−${fmt(o.discount)}` : fmt(0));
  setText($('#order-total'), fmt(o.total));
  $('#order-total').dataset.minor = String(o.total);
  $('#order-items').replaceChildren(...(o.items ?? []).map((it) => h('li', {},
    h('span', { text: `${it.title} · ${it.label ?? ''}` }), h('span', { text: `× ${it.qty}` }), h('b', { text: fmt(it.amount) }))));
  const now = ch.now();
  const pending = o.state === 'pending';
  // The deadline in the viewer's clock: when it shows this time, the server's shows expires_at.
  setText($('#order-deadline'), pending ? t('pay_by', { time: clockTime(o.expires_at - ch.clock.offset) }) : orderState(o));
  setText($('#order-left'), pending ? t('pay_left', { time: countdown(o.expires_at - now) }) : '');
  $('#order-deadline').dataset.expiresAt = String(o.expires_at);
  $('#order-cancel').hidden = !pending;
}

async function cancelOrder() {
  const id = ui.order;
  const r = await once('cancel', () => ch.request('order.cancel', { order_id: id }));
  if (r?.order) {
    S.applyPrivate(st, 'order.cancelled', { order: r.order });
    renderOrder();
    renderFlash();
  }
}

// ---- chat ----------------------------------------------------------------------------------

function chatItem(m) {
  const mine = ident && m.user === ident.user.id;
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
  input.placeholder = ident ? t('chat_placeholder') : t('chat_signin');
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

// ---- sign-in -------------------------------------------------------------------------------

function openSignIn(note) {
  const dlg = $('#signin');
  $('#signin-error').hidden = true;
  setText($('#signin-note'), note ? `${note}. ${t('dev_note')}` : t('dev_note'));
  $('#signin-who').hidden = !ident;
  if (ident) setText($('#signin-who'), t('signed_in_as', { name: ident.user.name }));
  $('#signout').hidden = !ident;
  $('#signin-field').hidden = !!ident;
  $('#signin-go').hidden = !!ident;
  if (!dlg.open) dlg.showModal();
  if (!ident) $('#signin-name').focus();
}

async function signIn(e) {
  e.preventDefault();
  const name = $('#signin-name').value.trim();
  if (!name) return;
  const err = $('#signin-error');
  try {
    $('#signin-go').disabled = true;
    ident = await devSignIn(name);
    ch.setToken(ident.token); // the snapshot's `me` brings this viewer's mute or ban
    st.mute = null;
    st.banned = false;
    $('#signin').close();
    renderAll();
  } catch (x) {
    err.hidden = false;
    setText(err, x.status === 404 ? t('sign_in_off') : x.message || errorText('internal_error'));
  } finally {
    $('#signin-go').disabled = false;
  }
}

function signOut() {
  forget();
  ident = null;
  st.mute = null;
  st.banned = false;
  ch.setToken(null);
  $('#signin').close();
  renderAll();
}

// ---- rendering ----------------------------------------------------------------------------

function renderBusy() {
  renderProduct();
  renderFlash();
  renderChatNotice();
  if ($('#cart').open) renderCart();
}

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
  if (has('products') || has('pinned')) renderProduct();
  if (has('flash') || has('products') || has('orders') || has('closed')) renderFlash();
  if (has('cart') || has('claims') || has('coupons') || has('orders') || has('products')) renderCart();
  if (has('orders')) renderOrder();
  if (has('chat')) renderChat();
  if (has('slow') || has('mute') || has('closed')) renderChatNotice();
  if (has('likes')) renderLikes();
}

function renderAll() {
  renderHeader();
  renderStage();
  render(new Set(['products', 'pinned', 'flash', 'coupons', 'likes', 'viewers', 'chat', 'slow', 'stream', 'closed', 'cart', 'orders', 'claims', 'mute']));
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
  if (name === 'coupon.dropped' && claimable(data)) {
    toast(`🎁 ${t('coupon_drop', { title: data.title || data.id })} · ${couponDesc(data)}`,
      { timeout: 10000, kind: 'coupon', action: { label: t('claim'), fn: () => claimCoupon(data.id) } });
  }
});

ch.addEventListener('private', (e) => {
  const { name, data } = e.detail;
  const changed = S.applyPrivate(st, name, data, ident?.user.id);
  render(changed);
  if (name === 'chat.muted' && data.until) renderChatNotice();
});

ch.addEventListener('welcome', (e) => {
  if (!e.detail.user && ident) { // the server did not accept the token
    ident = null;
    forget();
  }
  renderHeader();
});

ch.addEventListener('auth', (e) => {
  forget();
  ident = null;
  renderAll();
  if (e.detail.hadToken) toast(t('err_token'), { kind: 'error' });
  else openSignIn(t('sign_in_needed')); // this server has no anonymous viewers
});

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
  $('#account').addEventListener('click', () => openSignIn());
  $('#signin-form').addEventListener('submit', signIn);
  $('#signout').addEventListener('click', signOut);
  $('#pinned-buy').addEventListener('click', () => { const p = S.pinnedProduct(st); if (p) openProduct(p.id); });
  $('#pinned-img').addEventListener('click', () => { const p = S.pinnedProduct(st); if (p) openProduct(p.id); });
  $('#bag-btn').addEventListener('click', () => $('#bag').showModal());
  $('#cart-btn').addEventListener('click', () => {
    if (!requireUser()) return;
    $('#cart').showModal();
    renderCart();
  });
  $('#product-minus').addEventListener('click', () => { ui.qty--; renderProduct(); });
  $('#product-plus').addEventListener('click', () => { ui.qty++; renderProduct(); });
  $('#product-add').addEventListener('click', addToCart);
  $('#product-buy').addEventListener('click', buyNow);
  $('#product').addEventListener('close', () => { ui.product = null; });
  $('#flash-buy').addEventListener('click', flashBuy);
  $('#coupon-select').addEventListener('change', (e) => { ui.claimChoice = e.currentTarget.value; renderCart(); });
  $('#checkout').addEventListener('click', checkout);
  $('#order-cancel').addEventListener('click', cancelOrder);
  $('#chat-form').addEventListener('submit', sendChat);
  $('#chat-input').addEventListener('focus', () => { if (!ident) requireUser(); });
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

setInterval(() => { // countdowns (flash sale, payment deadline, mute, slow mode)
  renderFlash();
  renderChatNotice();
  if ($('#order').open) renderOrder();
  if ($('#cart').open) renderOrders();
}, 250);

// Shopping on a room's pages, shared by the live page (room.js) and the replay page (replay.js):
// the product card, the product sheet, the cart with its server quote and coupons, checkout,
// the order sheet, the viewer's orders, sign-in, toasts. It renders into the elements both
// pages have (room.html, replay.html: the same dialogs and ids) from the show channel's state;
// the page owns the channel and the state and calls render(changed) after applying a change.
//
//   const shop = createShop({ room, st, ch, ui, ident, hooks: { identity, busy, orders } });
//   shop.wire();                 // dialogs and their controls
//   shop.render(changed);        // after S.applySnapshot / applyEvent / applyPrivate
//   shop.openProduct(id);        // the sheet of a product of st.products
//
// hooks (all optional): identity() after a sign-in or sign-out, busy() when a request starts or
// ends (the page's own buttons), orders() when an order was placed or cancelled here.

import { t, errorText, money, clockTime, countdown } from './i18n.js';
import * as S from './state.js';
import { devSignIn, forget } from './auth.js';
import { $, h, setText } from './dom.js';

// The cheapest SKU's price of a product, its original price, and whether SKUs differ in price.
export function priceOf(p) {
  const skus = p.skus ?? [];
  if (!skus.length) return { price: 0, orig: 0, from: false };
  const best = skus.reduce((a, b) => (b.price < a.price ? b : a));
  return { price: best.price, orig: best.original_price ?? 0, from: skus.some((s) => s.price !== best.price) };
}

export function stockText(n) {
  if (n <= 0) return t('sold_out');
  return n <= 10 ? t('low_stock', { n }) : t('stock', { n });
}

export function createShop({ room, st, ch, ui, ident: initial = null, hooks = {} }) {
  let ident = initial;
  Object.assign(ui, {
    product: null, sku: null, qty: 1, order: null, claimChoice: undefined,
    quote: null, quoting: null, // the cart's server quote {key, quote}, and the one being asked
    busy: ui.busy ?? new Set(),
  });
  const call = (name) => hooks[name]?.();
  const fmt = (minor) => money(minor, st.currency, st.exp);
  // A promotion's badge text (the server's label, else one made from its kind).
  const promoLabel = (pr) => pr.label || (pr.kind === 'bogo' ? t('promo_bogo', pr)
    : pr.kind === 'percent' ? t('promo_pct', { n: pr.percent_off }) : t('promo_fixed', { amount: fmt(pr.amount_off) }));
  // Fills a badge element with promotion pr (hidden when null).
  function badge(el, pr) {
    if (!el) return;
    el.hidden = !pr;
    setText(el, pr ? promoLabel(pr) : '');
  }
  // A SKU's promotion while it runs, or null.
  const skuPromo = (id) => { const pr = st.skus.get(id)?.sku.promotion; return S.promoOn(pr, ch.now()) ? pr : null; };
  // A line's promotion as the server applied it ({kind, label, discount}), or null.
  const linePromo = (it) => (it.promotion ? h('span', { class: 'promo-badge', text: `${promoLabel(it.promotion)}${it.promotion.discount ? ` −${fmt(it.promotion.discount)}` : ''}` }) : null);
  // The promotion and coupon rows of a totals list (prefix-promo, prefix-discount).
  function discountRows(prefix, x) {
    const promo = x?.promo_discount ?? 0;
    const coupon = x?.coupon_discount ?? Math.max(0, (x?.discount ?? 0) - promo);
    $(`#${prefix}-promo`).hidden = $(`#${prefix}-promo-dt`).hidden = !promo;
    setText($(`#${prefix}-promo`), `−${fmt(promo)}`);
    setText($(`#${prefix}-discount`), coupon ? `−${fmt(coupon)}` : fmt(0));
  }

  // ---- toasts, errors, one request at a time -------------------------------------------

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

  function renderBusy() {
    renderProduct();
    if ($('#cart').open) renderCart();
    call('busy');
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

  // ---- a product card (the live page's pinned product, the replay's chapter) ----------

  // Fills the card whose parts have ids `${prefix}-img`, -title, -price, -orig, -stock, -buy
  // with product p (a product of the snapshot: SKUs with prices and live stock).
  function renderCard(prefix, p) {
    const img = $(`#${prefix}-img`);
    if (img.getAttribute('src') !== p.image) img.src = p.image ?? '';
    setText($(`#${prefix}-title`), p.title);
    const { price, orig, from } = priceOf(p);
    setText($(`#${prefix}-price`), from ? t('from_price', { price: fmt(price) }) : fmt(price));
    setText($(`#${prefix}-orig`), orig > price ? fmt(orig) : '');
    setText($(`#${prefix}-stock`), stockText(p.available ?? 0));
    badge($(`#${prefix}-promo`), S.productPromo(p, ch.now()));
    const buy = $(`#${prefix}-buy`);
    buy.disabled = st.closed || (p.available ?? 0) <= 0;
    setText(buy, (p.available ?? 0) <= 0 ? t('sold_out') : t('buy'));
    return { price };
  }

  // ---- the product sheet ------------------------------------------------------------------

  const productById = (id) => st.products.find((x) => x.id === id) ?? (S.pinnedProduct(st)?.id === id ? S.pinnedProduct(st) : null);

  function openProduct(id) {
    const p = productById(id);
    if (!p) return;
    ui.product = id;
    const first = (p.skus ?? []).find((s) => s.available > 0) ?? p.skus?.[0];
    ui.sku = first?.id ?? null;
    ui.qty = 1;
    renderProduct();
    $('#product').showModal();
  }

  function renderProduct() {
    const dlg = $('#product');
    if (!ui.product) return;
    const p = productById(ui.product);
    if (!p) { dlg.close(); return; }
    const sku = (p.skus ?? []).find((s) => s.id === ui.sku) ?? p.skus?.[0];
    setText($('#product-title'), p.title);
    setText($('#product-sub'), p.subtitle ?? '');
    const img = $('#product-img');
    if (img.getAttribute('src') !== p.image) img.src = p.image ?? '';
    setText($('#product-price'), sku ? fmt(sku.price) : '');
    setText($('#product-orig'), sku && sku.original_price > sku.price ? fmt(sku.original_price) : '');
    setText($('#product-stock'), stockText(sku?.available ?? 0));
    badge($('#product-promo'), sku ? skuPromo(sku.id) : null);
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
    const key = quoteKey();
    const q = ui.quote?.key === key ? ui.quote.quote : null;
    const qline = (sku) => q?.items?.find((x) => x.sku === sku);
    $('#cart-lines').replaceChildren(...c.items.map((it) => h('li', { class: 'cart-line', dataset: { sku: it.sku } },
      h('img', { src: it.image ?? '', alt: '' }),
      h('div', { class: 'bag-text' }, h('div', { class: 'bag-title', text: it.title }),
        h('div', { class: 'muted small', text: it.label ?? '' }),
        h('b', { class: 'price', text: fmt(it.unit_price) }), ' ',
        linePromo(q ? qline(it.sku) ?? {} : { promotion: skuPromo(it.sku) }),
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
    setText($('#cart-subtotal'), fmt(subtotal));
    discountRows('cart', q);
    setText($('#cart-total'), q ? fmt(q.total) : '…');
    $('#cart-total').dataset.minor = q ? String(q.total) : '';
    $('#checkout').disabled = !c.items.length || st.closed || ui.busy.has('checkout');
    renderOrders();
  }

  // A group order waits for its team before it can be paid (payable false).
  const waiting = (o) => o.state === 'pending' && o.payable === false;
  function orderState(o) {
    return waiting(o) ? t('waiting_team') : t(`state_${o.state}`);
  }
  const orderWhat = (o) => (o.kind === 'coins' ? `🪙 ${t('coins_order', { n: o.coins })}` : o.group ? t('group_order') : '');

  function renderOrders() {
    const list = st.me?.orders ?? [];
    const now = ch.now();
    $('#orders').replaceChildren(...list.slice(0, 20).map((o) => h('li', { class: `order ${o.state}`, dataset: { order: o.id } },
      h('span', { class: 'mono', text: `${o.id} ${orderWhat(o)}` }), h('span', { text: orderState(o) }), h('b', { text: fmt(o.total) }),
      o.state === 'pending' && !waiting(o) ? h('span', { class: 'muted small', text: t('pay_left', { time: countdown(o.expires_at - now) }) }) : null)));
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
    call('orders');
  }

  function renderOrder() {
    const o = st.me?.orders.find((x) => x.id === ui.order);
    const dlg = $('#order');
    if (!o) return;
    dlg.dataset.order = o.id;
    dlg.dataset.state = o.state;
    dlg.dataset.payable = String(!waiting(o));
    setText($('#order-id'), o.id);
    setText($('#order-subtotal'), fmt(o.subtotal));
    discountRows('order', o);
    setText($('#order-total'), fmt(o.total));
    $('#order-total').dataset.minor = String(o.total);
    const items = o.kind === 'coins' ? [{ title: orderWhat(o), qty: 1, amount: o.total }] : o.items ?? [];
    $('#order-items').replaceChildren(...items.map((it) => h('li', {},
      h('span', {}, `${it.title}${it.label ? ` · ${it.label}` : ''}`, ' ', linePromo(it)), h('span', { text: `× ${it.qty}` }), h('b', { text: fmt(it.amount) }))));
    const now = ch.now();
    const pending = o.state === 'pending' && !waiting(o);
    // The deadline in the viewer's clock: when it shows this time, the server's shows expires_at.
    setText($('#order-deadline'), pending ? t('pay_by', { time: clockTime(o.expires_at - ch.clock.offset) }) : orderState(o));
    setText($('#order-left'), pending ? t('pay_left', { time: countdown(o.expires_at - now) }) : '');
    $('#order-deadline').dataset.expiresAt = String(o.expires_at);
    $('#order-cancel').hidden = o.state !== 'pending';
  }

  async function cancelOrder() {
    const id = ui.order;
    const r = await once('cancel', () => ch.request('order.cancel', { order_id: id }));
    if (r?.order) {
      S.applyPrivate(st, 'order.cancelled', { order: r.order });
      renderOrder();
      call('orders');
    }
  }

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
      call('identity');
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
    call('identity');
  }

  // The channel's answers about the token: refused on welcome (go on anonymously), or the
  // server wants one (this server has no anonymous viewers).
  ch.addEventListener('welcome', (e) => {
    if (!e.detail.user && ident) {
      ident = null;
      forget();
    }
  });
  ch.addEventListener('auth', (e) => {
    forget();
    ident = null;
    call('identity');
    if (e.detail.hadToken) toast(t('err_token'), { kind: 'error' });
    else openSignIn(t('sign_in_needed'));
  });

  // ---- wiring and rendering -------------------------------------------------------------------

  function wire() {
    $('#account').addEventListener('click', () => openSignIn());
    $('#signin-form').addEventListener('submit', signIn);
    $('#signout').addEventListener('click', signOut);
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
    $('#coupon-select').addEventListener('change', (e) => { ui.claimChoice = e.currentTarget.value; renderCart(); });
    $('#checkout').addEventListener('click', checkout);
    $('#order-cancel').addEventListener('click', cancelOrder);
  }

  // The parts of the page that show `changed` (state.js's names).
  function render(changed) {
    const has = (k) => changed.has(k);
    if (has('products') || has('pinned')) renderProduct();
    if (has('cart') || has('claims') || has('coupons') || has('orders') || has('products')) renderCart();
    if (has('orders')) renderOrder();
  }

  // Countdowns of the open sheets (the payment deadline).
  function tick() {
    if ($('#order').open) renderOrder();
    if ($('#cart').open) renderOrders();
  }

  return {
    get ident() { return ident; },
    fmt, promoLabel, toast, fail, once, requireUser, openSignIn, renderCard, openProduct, renderProduct,
    renderCart, renderOrder, showOrder, couponDesc, claimable, claimCoupon, wire, render, tick,
  };
}

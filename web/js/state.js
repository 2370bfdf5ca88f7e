// The room's state as the page sees it, built from the show channel's snapshot, events and
// private events (docs/protocol.md). Pure: no DOM, no network. Each apply function returns
// the set of parts that changed, so the page re-renders only those:
// products, pinned, flash, coupons, likes, viewers, chat, slow, stream, closed, cart,
// orders, claims, mute; marketing (docs/marketing.md): group (deals, teams), gifts (catalog),
// wallet, board (leaderboard, earnings), combos (the gifts that changed last).

export function emptyState() {
  return {
    currency: 'CNY', exp: 2, products: [], skus: new Map(), pinned: null, flash: new Map(),
    coupons: new Map(), likes: 0, viewers: 0, chat: [], slowMode: 0, closed: false, stream: 'offline',
    me: null, mute: null, banned: false, deals: new Map(), gifts: null, board: null, combos: [],
  };
}

const ALL = ['products', 'pinned', 'flash', 'coupons', 'likes', 'viewers', 'chat', 'slow', 'stream', 'closed',
  'cart', 'orders', 'claims', 'mute', 'group', 'gifts', 'wallet', 'board', 'combos'];
const CHAT_KEEP = 100;

function indexProducts(st, products) {
  st.products = products ?? [];
  st.skus = new Map();
  for (const p of st.products) for (const s of p.skus ?? []) st.skus.set(s.id, { product: p, sku: s });
}

function setPinned(st, pinned) {
  if (!pinned) {
    st.pinned = null;
    return;
  }
  const fresh = pinned.product;
  // Keep one object per product: the pinned card shows the bag's product with live stock.
  const i = st.products.findIndex((p) => p.id === fresh.id);
  if (i >= 0) {
    st.products[i] = fresh;
    indexProducts(st, st.products);
  }
  st.pinned = { id: fresh.id, product: fresh, at: pinned.pinned_at };
}

export function pinnedProduct(st) {
  if (!st.pinned) return null;
  return st.products.find((p) => p.id === st.pinned.id) ?? st.pinned.product;
}

// `me` also carries the viewer's chat moderation (muted_until: ms, 0 when not muted; banned),
// so a reload or a resume shows it at once.
function setMe(st, me) {
  st.me = me ? {
    cart: me.cart ?? { items: [], subtotal: 0 }, orders: me.orders ?? [], claims: me.claims ?? [],
    wallet: me.wallet?.coins ?? 0, teams: me.teams ?? [],
  } : null;
  if (me && 'muted_until' in me) {
    st.mute = me.muted_until > 0 ? { until: me.muted_until, reason: me.mute_reason ?? '' } : null;
    st.banned = !!me.banned;
  }
}

export function applySnapshot(st, s) {
  st.currency = s.currency ?? 'CNY';
  st.exp = s.currency_exponent ?? 2;
  indexProducts(st, s.products);
  setPinned(st, s.pinned);
  st.flash = new Map((s.flash_sales ?? []).map((f) => [f.id, f]));
  st.coupons = new Map((s.coupons ?? []).map((c) => [c.id, c]));
  st.likes = s.likes ?? 0;
  st.viewers = s.viewers ?? 0;
  st.chat = (s.chat ?? []).slice(-CHAT_KEEP);
  st.slowMode = s.slow_mode_s ?? 0;
  st.closed = !!s.closed;
  st.stream = s.stream ?? 'offline';
  setMe(st, s.me);
  st.deals = new Map((s.group_deals ?? []).map((d) => [d.id, { teams: [], ...d }]));
  st.gifts = st.board = s.gifts ?? null; // {catalog, coin_cents}, {leaderboard, earnings}
  st.combos = s.gifts?.combos ?? [];
  return new Set(ALL);
}

function recountProduct(p) {
  p.available = (p.skus ?? []).reduce((n, s) => n + Math.max(0, s.available ?? 0), 0);
}

function setSkuAvailable(st, skuId, available) {
  const e = st.skus.get(skuId);
  if (!e || typeof available !== 'number') return false;
  e.sku.available = available;
  recountProduct(e.product);
  return true;
}

// A team's new state, in its deal's list (failed ones leave it) and in the user's teams.
function setTeam(st, team, deal) {
  const x = st.deals.get(team.deal_id);
  if (x) {
    if (typeof deal?.left === 'number') x.left = deal.left;
    const i = x.teams.findIndex((y) => y.id === team.id);
    if (team.state === 'failed') { if (i >= 0) x.teams.splice(i, 1); }
    else if (i >= 0) x.teams[i] = team;
    else x.teams.unshift(team);
    if (x.teams.length > 50) x.teams.length = 50;
  }
  const mine = st.me?.teams ?? [];
  const j = mine.findIndex((y) => y.id === team.id);
  if (j >= 0) mine[j] = team;
}

export function addMyTeam(st, team) {
  if (!st.me) return;
  st.me.teams = [team, ...st.me.teams.filter((y) => y.id !== team.id)];
  setTeam(st, team);
}

// The user's teams, less open ones the user left (the order cancelled or expired).
export function myTeams(st) {
  const os = st.me?.orders ?? [];
  const left = (id) => {
    const mine = os.filter((o) => o.group?.team_id === id);
    return mine.length > 0 && mine.every((o) => o.state === 'cancelled' || o.state === 'expired');
  };
  return (st.me?.teams ?? []).filter((tm) => tm.state !== 'open' || !left(tm.id));
}

// A promotion counts inside its window only, by the server's clock (now).
export function promoOn(pr, now) {
  return !!pr && (!pr.starts_at || now >= pr.starts_at) && (!pr.ends_at || now < pr.ends_at);
}

export function productPromo(p, now) {
  return (p?.skus ?? []).map((s) => s.promotion).find((pr) => promoOn(pr, now)) ?? null;
}

function pushChat(st, m, extra) {
  if (st.chat.some((x) => x.id === m.id)) return false;
  st.chat.push(extra ? { ...m, ...extra } : m);
  if (st.chat.length > CHAT_KEEP) st.chat.splice(0, st.chat.length - CHAT_KEEP);
  return true;
}

export function applyEvent(st, name, d) {
  const changed = new Set();
  switch (name) {
    case 'product.pinned': setPinned(st, d); changed.add('pinned').add('products'); break;
    case 'product.unpinned': st.pinned = null; changed.add('pinned'); break;
    case 'catalog.updated':
      st.currency = d.currency ?? st.currency;
      indexProducts(st, d.products);
      setPinned(st, d.pinned);
      changed.add('products').add('pinned').add('flash').add('cart');
      break;
    case 'flash.scheduled':
    case 'flash.started':
      st.flash.set(d.id, d);
      if (setSkuAvailable(st, d.sku, d.sku_available)) changed.add('products').add('pinned');
      changed.add('flash');
      break;
    case 'flash.stock': {
      const f = st.flash.get(d.sale_id);
      if (f) Object.assign(f, { remaining: d.remaining, sold: d.sold, state: d.state ?? f.state });
      changed.add('flash');
      break;
    }
    case 'flash.sold_out': {
      const f = st.flash.get(d.sale_id);
      if (f) Object.assign(f, { remaining: 0, sold: d.sold ?? f.sold, state: 'sold_out' });
      changed.add('flash');
      break;
    }
    case 'flash.ended': {
      const f = d.sale ?? { ...st.flash.get(d.sale_id), state: 'ended' };
      f.state = 'ended';
      f.ended_reason = d.reason;
      if (f.id) st.flash.set(f.id, f);
      changed.add('flash');
      break;
    }
    case 'coupon.dropped': st.coupons.set(d.id, d); changed.add('coupons'); break;
    case 'coupon.updated': {
      const c = st.coupons.get(d.coupon_id);
      if (c) c.remaining = d.remaining;
      changed.add('coupons');
      break;
    }
    case 'stock.updated':
      if (setSkuAvailable(st, d.sku, d.available)) changed.add('products').add('pinned').add('cart');
      break;
    case 'likes': st.likes = d.total ?? st.likes; changed.add('likes'); break;
    case 'viewers': st.viewers = d.count ?? st.viewers; changed.add('viewers'); break;
    case 'chat.message': if (pushChat(st, d)) changed.add('chat'); break;
    case 'chat.deleted': {
      const n = st.chat.length;
      st.chat = st.chat.filter((m) => m.id !== d.id);
      if (st.chat.length !== n) changed.add('chat');
      break;
    }
    case 'chat.slowmode': st.slowMode = d.seconds ?? 0; changed.add('slow'); break;
    case 'stream': st.stream = d.state ?? 'offline'; changed.add('stream'); break;
    case 'group.opened': st.deals.set(d.deal.id, { teams: [], ...d.deal }); changed.add('group'); break;
    case 'group.team': setTeam(st, d.team, d.deal); changed.add('group'); break;
    case 'group.closed': {
      const x = st.deals.get(d.deal_id);
      if (x) Object.assign(x, { state: 'ended', teams: x.teams.filter((y) => y.state === 'formed'), reason: d.reason });
      changed.add('group');
      break;
    }
    case 'gifts': st.combos = d.combos ?? []; changed.add('combos'); break;
    case 'leaderboard': st.board = d; changed.add('board'); break;
    case 'gifts.catalog': st.gifts = d; changed.add('gifts'); break;
    case 'promo.updated': {
      const e = st.skus.get(d.sku);
      if (e) {
        if (d.promotion) e.sku.promotion = d.promotion;
        else delete e.sku.promotion;
        changed.add('products').add('pinned').add('cart');
      }
      break;
    }
    default: break; // show.reset (a snapshot follows) and events of newer servers
  }
  return changed;
}

function upsertOrder(st, order) {
  if (!st.me) return;
  const list = st.me.orders.filter((o) => o.id !== order.id);
  list.push(order);
  list.sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
  st.me.orders = list;
}

export function applyPrivate(st, name, d, me) {
  const changed = new Set();
  if (name === 'me') {
    setMe(st, d);
    return changed.add('cart').add('orders').add('claims').add('mute').add('group').add('wallet');
  }
  if (!st.me && /^(cart|order|coupon|group|wallet)\./.test(name)) setMe(st, {});
  switch (name) {
    case 'cart.updated': st.me.cart = d.cart; changed.add('cart'); break;
    case 'coupon.claimed': {
      st.me.claims = st.me.claims.filter((c) => c.id !== d.claim.id).concat([d.claim]);
      changed.add('claims').add('coupons');
      break;
    }
    case 'order.created':
    case 'order.paid':
    case 'order.cancelled':
    case 'order.expired':
      upsertOrder(st, d.order);
      changed.add('orders').add('flash').add('claims');
      break;
    case 'chat.message': if (pushChat(st, d, { only_me: true })) changed.add('chat'); break;
    case 'group.formed':
      if (d.order) upsertOrder(st, d.order);
      addMyTeam(st, d.team);
      changed.add('orders').add('group');
      break;
    case 'wallet.updated': st.me.wallet = d.wallet?.coins ?? st.me.wallet; changed.add('wallet'); break;
    case 'chat.muted':
      if (!me || d.user === me) {
        st.mute = d.until ? { until: d.until, reason: d.reason ?? '' } : null;
        changed.add('mute');
      }
      break;
    case 'chat.banned':
      if (!me || d.user === me) {
        st.banned = !!d.banned;
        changed.add('mute');
      }
      break;
    default: break;
  }
  return changed;
}

// Claims change state with orders (used / released): keep them in step with the orders.
export function claimState(st, claim) {
  const orders = st.me?.orders ?? [];
  const live = (o) => o.state === 'pending' || o.state === 'paid';
  if (orders.some((o) => o.claim_id === claim.id && live(o))) return 'used';
  const o = claim.order_id && orders.find((x) => x.id === claim.order_id);
  if (o && !live(o)) return 'available'; // its order was cancelled or expired: released
  return claim.state;
}

// Units of a flash sale this user holds in pending or paid orders (its per-user limit).
export function boughtInSale(st, saleId) {
  let n = 0;
  for (const o of st.me?.orders ?? []) {
    if (o.state !== 'pending' && o.state !== 'paid') continue;
    for (const it of o.items ?? []) if (it.sale_id === saleId) n += it.qty;
  }
  return n;
}

// Most units of one SKU in a cart line, a checkout line or a flash purchase
// (LC_SHOW_MAX_QTY in server/base/show_limits.h; the server refuses more).
export const MAX_QTY = 99;

// Coupon discounts are not computed here: the server prices the cart (`cart.quote`,
// docs/protocol.md) with the same code as checkout, so the page cannot disagree with the order.

// The flash sale to show in the banner: a live one first, then sold out, then the next
// scheduled, then one that ended less than `keepEndedMs` ago.
export function currentSale(st, now, keepEndedMs = 8000) {
  const rank = { live: 0, sold_out: 1, scheduled: 2, ended: 3 };
  let best = null;
  for (const f of st.flash.values()) {
    if (f.state === 'ended' && now - (f.ended_seen ??= now) > keepEndedMs) continue;
    if (!best || rank[f.state] < rank[best.state] ||
        (rank[f.state] === rank[best.state] && (f.starts_at ?? 0) < (best.starts_at ?? 0))) best = f;
  }
  return best;
}

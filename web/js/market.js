// The live page's group buy, gifts, gift animations and leaderboard (docs/viewer.md). Renders
// state.js's model; requests go through shop.once() (the channel resends them with their op_id).

import { t, countdown, clockTime, compact } from './i18n.js';
import * as S from './state.js';
import { $, h, setText } from './dom.js';

const BIG_MS = 1500;   // a big gift's animation
const FULL_MS = 1800;  // a fullscreen one: under 2 s, whatever the CSS does
const COMBO_MS = 3000; // a combo's banner stays this long after its last gift (the combo window)
const TOPUPS = [60, 300, 980]; // coins

export function createMarket({ room, st, ch, ui, shop }) {
  const { fmt, toast, once, requireUser, showOrder } = shop;
  const invite = new URLSearchParams(location.search).get('team');
  let invited = !invite; // the ?team= link was looked at (once, after the first snapshot)
  let inviting = false;  // and the invitation is shown
  const lanes = new Map(); // combo id -> {el, count, timer}
  const calm = matchMedia('(prefers-reduced-motion: reduce)');
  const isMine = (id) => (st.me?.teams ?? []).some((x) => x.id === id);
  const icon = (g) => (/^(https?:|\/)/.test(g.icon ?? '')
    ? h('img', { class: 'gift-icon', src: g.icon, alt: '' }) : h('span', { class: 'gift-icon', text: g.icon || '🎁' }));
  const liveDeals = () => [...st.deals.values()].filter((d) => d.state !== 'ended');

  // ---- group buy ------------------------------------------------------------------------------

  function share(id) {
    const input = h('input', {
      class: 'share', readonly: true, 'aria-label': t('team_share'),
      value: `${location.origin}/r/${encodeURIComponent(room)}?team=${encodeURIComponent(id)}`,
    });
    return h('div', { class: 'share-row' }, input, h('button', {
      type: 'button', class: 'ghost-btn small', text: t('copy'),
      onclick: async () => {
        try { await navigator.clipboard.writeText(input.value); } catch { input.select(); document.execCommand('copy'); }
        toast(t('copied'));
      },
    }));
  }

  // Masked members, empty seats, N/size, countdown (server clock), Join; share link when mine.
  function teamEl(tm, mine) {
    const n = tm.members?.length ?? 0;
    const open = tm.state === 'open';
    const member = isMine(tm.id);
    return h('li', { class: `team ${tm.state}${tm.id === invite ? ' hl' : ''}`, dataset: { team: tm.id, state: tm.state } },
      h('span', { class: 'members' }, (tm.members ?? []).map((m) => h('i', { text: m.name })),
        Array.from({ length: Math.max(0, tm.size - n) }, () => h('i', { class: 'empty', text: '?' }))),
      h('b', { class: 'seats', text: `${n}/${tm.size}` }),
      open ? h('span', { class: 'small' }, `${t('team_need', { n: tm.size - n })} · `,
        h('b', { class: 'cd', dataset: { deadline: tm.deadline }, text: countdown(tm.deadline - ch.now()) }))
        : h('b', { class: 'team-state', text: tm.state === 'formed' ? `✓ ${t('team_formed')}` : `${t('team_failed')}${tm.reason ? `: ${tm.reason}` : ''}` }),
      open && !member ? h('button', {
        type: 'button', class: 'buy-btn small join', text: t('group_join'), disabled: st.closed || ui.busy.has(`join:${tm.id}`),
        onclick: () => seat('join', tm.id),
      }) : open && !mine ? h('span', { class: 'muted small', text: t('team_in') }) : null,
      mine && open ? share(tm.id) : null);
  }

  function dealEl(d) {
    const p = st.products.find((x) => x.id === d.product);
    const left = d.left ?? 0;
    return h('li', { class: 'deal', dataset: { deal: d.id } },
      h('div', { class: 'deal-head' }, p?.image ? h('img', { src: p.image, alt: '' }) : null,
        h('div', { class: 'bag-text' },
          h('div', { class: 'bag-title', text: `${d.title ?? p?.title ?? ''} · ${d.label ?? ''}` }),
          h('div', { class: 'price-row' }, h('span', { class: 'promo-badge', text: t('group_size', { n: d.team_size }) }), ' ',
            h('b', { class: 'price', text: fmt(d.price) }), ' ', d.list_price > d.price ? h('s', { class: 'orig', text: fmt(d.list_price) }) : null),
          h('div', { class: 'stock', text: left > 0 ? t('group_left', { n: left }) : t('sold_out') })),
        h('button', {
          type: 'button', class: 'buy-btn small start', text: t('group_start'),
          disabled: st.closed || left <= 0 || ui.busy.has(`start:${d.id}`), onclick: () => seat('start', d.id),
        })),
      h('ul', { class: 'teams' }, d.teams.map((tm) => teamEl(tm, false))));
  }

  function renderGroup() {
    const deals = liveDeals();
    $('#deals').replaceChildren(...deals.map(dealEl));
    $('#deals-none').hidden = deals.length > 0;
    const mine = S.myTeams(st);
    $('#my-teams-box').hidden = !mine.length;
    $('#my-teams').replaceChildren(...mine.map((tm) => teamEl(tm, true)));
    const pill = $('#group-btn');
    pill.hidden = !deals.length || st.closed;
    if (deals.length) setText(pill, t('group_from', { price: fmt(Math.min(...deals.map((d) => d.price))) }));
    $('#group-invite').hidden = !inviting || isMine(invite);
    if (!invited && ui.synced) welcome();
  }

  // Opened with ?team=ID: that team, highlighted, with its Join button (or why not).
  function welcome() {
    invited = true;
    const tm = [...st.deals.values()].flatMap((d) => d.teams).concat(st.me?.teams ?? []).find((x) => x.id === invite);
    if (!tm || (tm.state !== 'open' && !isMine(invite))) {
      toast(t('team_gone'), { kind: 'error' });
      return;
    }
    inviting = tm.state === 'open' && !isMine(invite);
    setText($('#group-invite'), t('team_invite', { name: tm.members?.[0]?.name ?? '' }));
    $('#group-invite').hidden = !inviting;
    openGroup();
    $('#group li.team.hl')?.scrollIntoView({ block: 'nearest' });
  }

  function openGroup() {
    if (!$('#group').open) $('#group').showModal();
  }

  // group.start / group.join: a seat, i.e. an order held until the team forms.
  async function seat(kind, id) {
    if (!requireUser()) return;
    const r = await once(`${kind}:${id}`, () => ch.request(`group.${kind}`, kind === 'start' ? { deal_id: id } : { team_id: id }));
    if (!r?.order) return;
    S.applyPrivate(st, 'order.created', { order: r.order });
    if (r.team) S.addMyTeam(st, r.team);
    shop.render(new Set(['orders']));
    renderGroup();
  }

  // Private group.formed: this viewer's order can be paid now.
  function formed(d) {
    const o = d.order;
    if (!o) return;
    toast(t('team_formed_pay', { time: clockTime(o.expires_at - ch.clock.offset) }), {
      timeout: 10000, kind: 'coupon',
      action: { label: t('pay'), fn: () => showOrder(st.me?.orders.find((x) => x.id === o.id) ?? o) },
    });
  }

  // ---- gifts, wallet, leaderboard -------------------------------------------------------------

  function renderGifts() {
    const g = st.gifts;
    const on = !!g?.catalog?.length && !st.closed;
    $('#gift-btn').hidden = !on;
    const wallet = $('#wallet');
    wallet.dataset.coins = String(st.me?.wallet ?? 0);
    setText(wallet, `🪙 ${t('coins', { n: st.me?.wallet ?? 0 })}`);
    if (!on) return;
    const cents = g.coin_cents ?? 10;
    $('#topups').replaceChildren(...TOPUPS.map((n) => h('button', {
      type: 'button', class: 'ghost-btn small', dataset: { coins: n }, text: `${n} · ${fmt(n * cents)}`,
      disabled: ui.busy.has('topup'),
      onclick: () => topUp(n),
    })));
    $('#gift-list').replaceChildren(...g.catalog.map((x) => h('li', {}, h('button', {
      type: 'button', class: `gift ${x.class}`, dataset: { gift: x.id },
      disabled: ui.busy.has('gift'), onclick: () => send(x.id),
    }, icon(x), h('span', { text: x.name }), h('small', { text: t('coins', { n: x.coins }) })))));
  }

  async function send(id) {
    if (!requireUser()) return;
    const r = await once('gift', () => ch.request('gift.send', { gift_id: id, count: 1 }));
    if (r?.wallet && st.me) {
      st.me.wallet = r.wallet.coins;
      renderGifts();
    }
  }

  // A top-up is an order like the others: it is paid the same way, then wallet.updated.
  async function topUp(n) {
    if (!requireUser()) return;
    const r = await once('topup', () => ch.request('wallet.topup', { coins: n }));
    if (r?.order) showOrder(r.order);
  }

  function renderBoard() {
    const lb = st.board?.leaderboard ?? [];
    const e = st.board?.earnings;
    const items = () => (lb.length ? lb.map((x, i) => h('li', { dataset: { by: x.by, coins: x.coins } },
      h('b', { class: 'rank', text: String(i + 1) }), h('span', { class: 'who', text: x.by }), h('span', { text: t('coins', { n: x.coins }) })))
      : [h('li', { class: 'muted small', text: t('board_empty') })]);
    for (const id of ['', 'side-']) {
      $(`#${id}board`).replaceChildren(...items());
      setText($(`#${id}earnings`), e ? t('earnings', { coins: e.coins, money: fmt(e.creator_cents) }) : '');
    }
    const on = !!st.gifts?.catalog?.length;
    $('#side-board-box').hidden = !on;
    const pill = $('#board-btn');
    pill.hidden = !on || st.closed;
    setText(pill, `🏆 ${lb[0] ? `${lb[0].by} ${compact(lb[0].coins)}` : t('leaderboard')}`);
  }

  function openGifts() {
    renderGifts();
    renderBoard();
    if (!$('#gifts').open) $('#gifts').showModal();
  }

  // ---- gift animations: a banner per combo id (x7 counting up), at most 3; big and fullscreen
  // effects one at a time, under every control (#gift-fx: painted first, no clicks), none with
  // reduced motion.

  function drop(id) {
    const l = lanes.get(id);
    if (!l) return;
    clearTimeout(l.timer);
    l.el.remove();
    lanes.delete(id);
  }

  function burst(c) {
    const cls = c.class === 'fullscreen' ? 'fx-full' : 'fx-big';
    const fx = $('#gift-fx');
    if (fx.querySelector(`.${cls}`)) return;
    const el = h('div', { class: cls, dataset: { combo: c.id } }, icon(c));
    fx.append(el);
    setTimeout(() => el.remove(), cls === 'fx-full' ? FULL_MS : BIG_MS);
  }

  function renderCombos() {
    const now = ch.now();
    for (const c of st.combos) {
      let l = lanes.get(c.id);
      if (l && l.count >= c.count) continue;
      if (!l) {
        l = { el: h('div', { class: `gift-card ${c.class}`, dataset: { combo: c.id } }, icon(c),
          h('span', { class: 'gift-text' }, h('b', { text: c.by }), ' ', t('gift_sent', { name: c.name })), h('b', { class: 'gift-x' })), count: 0 };
        lanes.set(c.id, l);
        $('#gift-lane').append(l.el);
        while (lanes.size > 3) drop(lanes.keys().next().value);
      }
      l.count = c.count;
      l.el.dataset.count = String(c.count);
      setText(l.el.lastChild, `x${c.count}`);
      l.el.classList.remove('bump');
      void l.el.offsetWidth;
      l.el.classList.add('bump');
      clearTimeout(l.timer);
      l.timer = setTimeout(() => drop(c.id), COMBO_MS);
      // Not for a combo of a snapshot or a replay after a reconnect: only what happens now.
      if (c.class !== 'small' && !calm.matches && now - (c.last_at ?? now) < COMBO_MS) burst(c);
    }
  }

  // ---- the page's hooks -----------------------------------------------------------------------

  function render(changed) {
    const has = (k) => changed.has(k);
    if (has('group') || has('orders') || has('products') || has('closed') || has('busy')) renderGroup();
    if (has('gifts') || has('wallet') || has('closed') || has('busy')) renderGifts();
    if (has('board') || has('gifts') || has('closed')) renderBoard();
    if (has('combos')) renderCombos();
  }

  // Countdowns to the teams' deadlines.
  function tick() {
    const now = ch.now();
    for (const el of document.querySelectorAll('#group [data-deadline]')) setText(el, countdown(Number(el.dataset.deadline) - now));
  }

  return { render, tick, formed, openGroup, openGifts };
}

// The start page (/): live and upcoming rooms from GET /api/rooms (with their viewer counts),
// refreshed every 15 s.
import { t, dateTime, translate } from './i18n.js';
import { $, h, setText } from './dom.js';

function card(r) {
  const live = r.state === 'live';
  const initial = (r.creator || r.title || r.id).trim().charAt(0).toUpperCase();
  return h('li', { class: 'room-card', dataset: { room: r.id, state: r.state, stream: r.stream ?? 'offline' } },
    h('a', { href: `/r/${encodeURIComponent(r.id)}`, 'aria-label': `${t('home_watch')}: ${r.title || r.id}` },
      h('div', { class: 'cover', 'aria-hidden': 'true' }, initial,
        h('span', { class: 'badge', dataset: { state: live ? 'live' : 'offline' }, text: live ? t('live') : t('home_upcoming') })),
      h('b', { text: r.title || r.id }),
      h('span', { class: 'muted', text: r.creator || '' }),
      live ? h('div', { class: 'small muted viewers', text: t('viewers', { n: r.viewers ?? 0 }) }) : null,
      !live && r.scheduled_at ? h('div', { class: 'small muted', text: t('home_starts', { time: dateTime(r.scheduled_at) }) }) : null));
}

async function load() {
  const status = $('#home-status');
  try {
    const res = await fetch('/api/rooms');
    if (!res.ok) throw new Error(String(res.status));
    const rooms = (await res.json()).rooms ?? [];
    const live = rooms.filter((r) => r.state === 'live');
    const upcoming = rooms.filter((r) => r.state === 'scheduled')
      .sort((a, b) => (a.scheduled_at || a.created_at) - (b.scheduled_at || b.created_at));
    $('#live-rooms').replaceChildren(...live.map(card));
    $('#upcoming-rooms').replaceChildren(...upcoming.map(card));
    $('#live-rooms').parentElement.hidden = !live.length;
    $('#upcoming-rooms').parentElement.hidden = !upcoming.length;
    setText(status, live.length || upcoming.length ? '' : t('home_empty'));
  } catch {
    setText(status, t('home_error'));
  }
}

translate();
load();
setInterval(load, 15000);

// Viewer tokens for the show channel (docs/protocol.md, "Authentication"; docs/viewer.md).
//
// Anonymous viewers watch, like and read chat. To buy and chat a viewer needs a token, which
// comes from one of:
//   - the shop: its page links to /r/{room}#token=<JWT> (the fragment never reaches a
//     server log); the token is kept in localStorage and the fragment removed;
//   - the development sign-in, POST /api/dev/token {"name"} (only when livecartd runs with
//     [auth] dev_login = true, e.g. tools/demo). A real deployment replaces it by the
//     merchant's login, which mints the same kind of token on the merchant's backend.

const KEY = 'livecart.token';

function payload(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part + '='.repeat((4 - (part.length % 4)) % 4)), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

// {token, user: {id, name}} from a token, or null when it is malformed or expired.
export function identity(token) {
  const p = token && payload(token);
  if (!p || typeof p.sub !== 'string' || (p.exp && p.exp * 1000 < Date.now())) return null;
  return { token, user: { id: p.sub, name: p.name || p.sub }, room: p.room ?? null };
}

function store(token) {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch { /* storage disabled: the token lives as long as the page */ }
}

// The token this page should use for `room` (or null: anonymous).
export function loadIdentity(room) {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    const id = identity(decodeURIComponent(m[1]));
    if (id) store(id.token);
    history.replaceState(null, '', location.pathname + location.search);
  }
  let token = null;
  try { token = localStorage.getItem(KEY); } catch { /* disabled */ }
  const id = identity(token);
  if (!id || (id.room && id.room !== room)) {
    if (token && !id) store(null);
    return null;
  }
  return id;
}

export function forget() {
  store(null);
}

export class SignInError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// Development sign-in. Throws SignInError (status 404: not enabled on this server).
export async function devSignIn(name) {
  const res = await fetch('/api/dev/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name }),
  });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new SignInError(res.status, body?.error?.code ?? 'error', body?.error?.message);
  const id = identity(body.token);
  if (!id) throw new SignInError(500, 'bad_token', 'the server sent an unusable token');
  store(id.token);
  return id;
}

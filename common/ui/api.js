// The REST API client: JSON in and out, the session's CSRF token on every change, and
// one place that notices a lost session.
import { session } from './session.js';

let onLost = () => {};
export function onSessionLost(fn) {
  onLost = fn;
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session.me && session.me.csrf_token && method !== 'GET') headers['X-CSRF-Token'] = session.me.csrf_token;
  let r;
  try {
    r = await fetch(`api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { status: 0, ok: false, json: null, text: null, headers: new Headers() };
  }
  const ctype = r.headers.get('Content-Type') || '';
  let json = null;
  let text = null;
  if (ctype.includes('json')) json = await r.json().catch(() => null);
  else text = await r.text();
  if (r.status === 401 && path !== '/session' && session.me) {
    session.me = null;
    onLost();
  }
  return { status: r.status, ok: r.ok, json, text, headers: r.headers };
}

// A fresh key per user intent: a retried or doubled click of the same intent reuses it.
export function idempotencyKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
}

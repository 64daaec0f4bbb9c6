// Pieces several views share: status badges with the next step, the draw guard, the
// balance in the header.
import { api } from '../api.js';
import { fill, h, render } from '../dom.js';
import { fresh } from '../router.js';
import { session } from '../session.js';
import { nextStep, statusLabel, t } from '../i18n.js';

export const LOW_BALANCE = 50;

// Draws only if no newer navigation started meanwhile.
export function draw(seq, ...nodes) {
  if (!fresh(seq)) return false;
  render(...nodes);
  return true;
}

export function statusBadge(status) {
  return h('span', { class: `status ${status}`, 'data-status': status }, statusLabel(status));
}

// Orders that came over the ACME server (issue 13): "ACME", the credential's name as its title.
export function viaBadge(o) {
  if (o.via !== 'acme') return null;
  return h(
    'span',
    { class: 'via', 'data-via': 'acme', title: t('via.acme', { credential: o.via_credential || '?' }) },
    'ACME',
  );
}

export const served = (o) => o.status === 'issued' && !!o.certificate && o.certificate.status === 'active';

export function nextLine(o) {
  const text = nextStep(o, session.me, served(o));
  if (!text) return null;
  if (o.status === 'superseded' && o.superseded_by) {
    const [before, after] = text.split(o.superseded_by);
    return h('span', { class: 'next' }, before, h('a', { href: `#/order/${o.superseded_by}` }, o.superseded_by), after);
  }
  return h('span', { class: 'next' }, text);
}

export async function refreshBalance() {
  const r = await api('GET', '/account');
  if (r.ok) session.credits = r.json.credits;
  const el = document.getElementById('balance');
  if (!el) return session.credits;
  if (session.credits === null) {
    el.hidden = true;
    return null;
  }
  el.hidden = false;
  const low = session.credits < LOW_BALANCE;
  el.className = low ? 'balance low' : 'balance';
  fill(
    el,
    t('header.credits', { n: session.credits }),
    low ? h('span', { class: 'low-tag' }, ` · ${t('header.low')}`) : null,
  );
  return session.credits;
}

// Orders waiting for this viewer: approvals for admins, payments for requesters.
export async function refreshWaiting() {
  const me = session.me;
  const badge = document.getElementById('waiting');
  if (!me || !badge) return;
  const status = me.user.role === 'admin' ? 'pending_approval' : 'awaiting_payment';
  const r = await api('GET', `/orders?status=${status}&limit=100`);
  if (!r.ok) return;
  const n = r.json.orders.filter((o) => o.actions.includes(status === 'pending_approval' ? 'approve' : 'pay')).length;
  badge.hidden = n === 0;
  badge.textContent = String(n);
  badge.setAttribute('aria-label', t('nav.waiting', { n }));
  badge.title = t('nav.waiting', { n });
}

export function saveBlob(data, name, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const link = h('a', { href: url, download: name, id: 'download-link', hidden: true }, name);
  document.body.append(link);
  link.click();
  setTimeout(() => {
    URL.revokeObjectURL(url);
    link.remove();
  }, 5000);
}

export function errorPage(seq, text) {
  draw(seq, h('h1', {}, t('title.error')), h('p', { class: 'error-text', role: 'alert' }, text));
}

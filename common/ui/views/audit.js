// The audit log (admins): filters by user, action and date, in plain words.
import { api } from '../api.js';
import { field, fmtTime, h, problemText } from '../dom.js';
import { auditLabel, peerName, t } from '../i18n.js';
import { navigate } from '../router.js';
import { pager, table } from '../table.js';
import { draw, errorPage } from './common.js';
import { actorName } from './order.js';

const ACTIONS = [
  'order.create',
  'order.approve',
  'order.reject',
  'order.pay',
  'order.issued',
  'order.cancel',
  'order.revoke',
  'order.renew',
  'order.reissue',
  'order.sans',
  'order.key_download',
  'order.failed',
  'session.login',
  'session.login_failed',
  'user.create',
  'user.update',
  'token.create',
  'token.delete',
  'credits.add',
];
const state = { cursors: [''], actor: '', action: '', since: '', until: '' };

export async function auditView(seq) {
  const p = new URLSearchParams({ limit: '50' });
  const cursor = state.cursors[state.cursors.length - 1];
  if (cursor) p.set('cursor', cursor);
  for (const k of ['actor', 'action', 'since', 'until']) if (state[k]) p.set(k, state[k]);
  const res = await api('GET', `/audit?${p}`);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const actor = h('input', { id: 'audit-actor', value: state.actor, autocomplete: 'off' });
  const action = h(
    'select',
    { id: 'audit-action' },
    h('option', { value: '' }, 'Any action'),
    ACTIONS.map((a) => h('option', { value: a, selected: a === state.action }, auditLabel(a))),
  );
  const since = h('input', { id: 'audit-since', type: 'date', value: state.since });
  const until = h('input', { id: 'audit-until', type: 'date', value: state.until });
  const filters = h(
    'form',
    {
      class: 'row panel filters',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        Object.assign(state, {
          actor: actor.value.trim(),
          action: action.value,
          since: since.value,
          until: until.value,
          cursors: [''],
        });
        navigate('#/audit');
      },
    },
    field('User', actor, null, 'actor'),
    field('Action', action, null, 'action'),
    field('From', since, null, 'since'),
    field('To', until, null, 'until'),
    h('div', { class: 'field' }, h('button', { type: 'submit', id: 'audit-filter' }, 'Filter')),
  );
  const tbl = table({
    id: 'audit',
    rows: res.json.events,
    empty: 'No events match.',
    columns: [
      { key: 'at', label: 'When', cell: (e) => fmtTime(e.at) },
      { key: 'actor', label: 'Who', cell: (e) => actorName(e.actor) },
      { key: 'action', label: 'What', cell: (e) => auditLabel(e.action) },
      { key: 'order', label: 'Order', cell: (e) => (e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—') },
      { key: 'peer', label: 'From', cls: 'names', cell: (e) => peerName(e.peer) },
      { key: 'detail', label: 'Detail', cls: 'wrap', cell: (e) => e.detail || '' },
    ],
  });
  draw(
    seq,
    h('h1', {}, t('title.audit')),
    filters,
    h(
      'div',
      { class: 'panel table-wrap' },
      tbl,
      pager(state, res.json.next_cursor, () => navigate('#/audit')),
    ),
  );
}

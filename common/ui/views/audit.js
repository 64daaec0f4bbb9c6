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
    h('option', { value: '' }, t('audit.any_action')),
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
    field(t('audit.user'), actor, null, 'actor'),
    field(t('audit.action'), action, null, 'action'),
    field(t('audit.from'), since, null, 'since'),
    field(t('audit.to'), until, null, 'until'),
    h('div', { class: 'field' }, h('button', { type: 'submit', id: 'audit-filter' }, t('audit.filter'))),
  );
  const tbl = table({
    id: 'audit',
    rows: res.json.events,
    empty: t('audit.no_events_match'),
    columns: [
      { key: 'at', label: t('audit.when'), cell: (e) => fmtTime(e.at) },
      { key: 'actor', label: t('audit.who'), cell: (e) => actorName(e.actor) },
      { key: 'action', label: t('audit.what'), cell: (e) => auditLabel(e.action) },
      {
        key: 'order',
        label: t('audit.order'),
        cell: (e) => (e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—'),
      },
      { key: 'peer', label: t('audit.from'), cls: 'names', cell: (e) => peerName(e.peer) },
      { key: 'detail', label: t('audit.detail'), cls: 'wrap', cell: (e) => e.detail || '' },
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

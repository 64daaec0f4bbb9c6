// The orders list: search, status filter, sortable columns, the next step for each order,
// expiry warnings (30/7/1 days) and a CSV export.
import { api } from '../api.js';
import { actionButton, field, flash, fmtDate, fmtTime, h, problemText } from '../dom.js';
import { STATUSES, productName, statusLabel, t } from '../i18n.js';
import { navigate } from '../router.js';
import { isAdmin } from '../session.js';
import { pager, table } from '../table.js';
import { actionClass, actionLabel, downloadChain } from './actions.js';
import { draw, errorPage, nextLine, statusBadge, viaBadge } from './common.js';

const state = { status: '', q: '', cursors: [''], sort: { key: 'created', dir: -1 } };

export function expiryWarnings(certs) {
  const soon = certs.filter((c) => c.days_left <= 30 && c.status !== 'expired');
  if (!soon.length) return null;
  return h(
    'div',
    {
      class: 'panel warn-panel',
      id: 'expiry-warnings',
      role: 'region',
      'aria-label': t('orders.certificates_expiring_soon'),
    },
    h('h2', {}, t('orders.expiring_soon')),
    h(
      'ul',
      {},
      soon.map((c) => {
        const level = c.days_left <= 1 ? 'd1' : c.days_left <= 7 ? 'd7' : 'd30';
        const vars = { name: c.common_name || c.names[0], days: c.days_left, date: fmtDate(new Date(c.not_after)) };
        return h(
          'li',
          { class: `expiry ${level}`, 'data-days': c.days_left },
          h('a', { href: `#/order/${c.order}` }, c.days_left <= 1 ? t('expiry.today', vars) : t('expiry.warn', vars)),
          c.auto_renew ? t('orders.renews_automatically') : t('orders.renew_keep_site_secure'),
        );
      }),
    ),
  );
}

// a column's key → the field GET /orders sorts by
const SERVER_SORT = {
  id: 'id',
  order_number: 'order_number',
  names: 'common_name',
  product: 'product',
  status: 'status',
  requester: 'requester',
  account: 'account',
  created: 'created',
};

const tableColumns = () => [
  { key: 'id', label: t('orders.request'), sortable: true, cell: (o) => h('a', { href: `#/order/${o.id}` }, o.id) },
  { key: 'order_number', label: t('orders.order_id'), sortable: true, cell: (o) => o.order_number || '—' },
  { key: 'names', label: t('orders.names'), cls: 'names', sortable: true, cell: (o) => o.sans.join(', ') },
  { key: 'product', label: t('orders.product'), sortable: true, cell: (o) => productName(o.product) },
  {
    key: 'status',
    label: t('orders.status'),
    sortable: true,
    cell: (o) =>
      h(
        'div',
        { class: 'status-cell' },
        statusBadge(o.status),
        viaBadge(o),
        nextLine(o),
        o.rejection_reason ? h('span', { class: 'reason' }, t('orders.reason', { reason: o.rejection_reason })) : null,
      ),
  },
  { key: 'requester', label: t('orders.requester'), sortable: true, cell: (o) => o.requester },
  { key: 'created', label: t('orders.created'), sortable: true, cell: (o) => fmtTime(o.created_at) },
  { key: 'actions', label: t('orders.actions'), cell: (o) => rowActions(o) },
];

// A parent's administrator sees more than one account's orders: each row names its account.
const accountColumn = () => ({ key: 'account', label: t('orders.account'), sortable: true, cell: (o) => o.account });
const withAccount = (cols) => [...cols.slice(0, 3), accountColumn(), ...cols.slice(3)];

// Opens the list filtered (e.g. the orders waiting for a parent's approval).
export function showOrders({ status = '', q = '' } = {}) {
  state.status = status;
  state.q = q;
  state.cursors = [''];
  navigate('#/orders');
}

function rowActions(o) {
  // the list offers the common steps; the others are on the order's page
  const shown = o.actions.filter((a) => ['approve', 'reject', 'pay', 'download', 'renew'].includes(a));
  return h(
    'div',
    { class: 'actions' },
    shown.map((a) => {
      const attrs = {
        class: actionClass(a),
        'data-action': a,
        'aria-label': t('action.for', { action: actionLabel(a), id: o.id }),
      };
      if (a === 'download') return actionButton(actionLabel(a), () => downloadChain(o), attrs);
      return h(
        'button',
        {
          type: 'button',
          ...attrs,
          onclick: () => navigate(a === 'pay' ? `#/summary/${o.id}` : `#/order/${o.id}/${a}`),
        },
        actionLabel(a),
      );
    }),
  );
}

function csvHref(path, params) {
  const p = new URLSearchParams(params);
  p.set('format', 'csv');
  return `api/v1${path}?${p}`;
}

export async function ordersView(seq) {
  const params = new URLSearchParams({ limit: '20' });
  if (state.status) params.set('status', state.status);
  if (state.q) params.set('q', state.q);
  // the server sorts and pages (GET /orders?sort=field|-field); newest first is its default
  if (state.sort.key !== 'created' || state.sort.dir > 0)
    params.set('sort', `${state.sort.dir < 0 ? '-' : ''}${SERVER_SORT[state.sort.key]}`);
  const cursor = state.cursors[state.cursors.length - 1];
  if (cursor) params.set('cursor', cursor);
  const [res, certs, accts] = await Promise.all([
    api('GET', `/orders?${params}`),
    api('GET', '/certificates?expiring_within_days=30'),
    isAdmin() ? api('GET', '/accounts') : null,
  ]);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }

  const statusSel = h(
    'select',
    { id: 'filter-status' },
    h('option', { value: '' }, t('orders.all_statuses')),
    STATUSES.map((k) => h('option', { value: k, selected: k === state.status }, statusLabel(k))),
  );
  const q = h('input', {
    id: 'filter-q',
    type: 'search',
    placeholder: t('orders.search_placeholder'),
    value: state.q,
  });
  const filters = h(
    'form',
    {
      class: 'row panel filters',
      role: 'search',
      onsubmit: (ev) => {
        ev.preventDefault();
        state.status = statusSel.value;
        state.q = q.value.trim();
        state.cursors = [''];
        flash('');
        navigate('#/orders');
      },
    },
    field(t('orders.status'), statusSel, null, 'status'),
    field(t('orders.search'), q, null, 'q'),
    h('div', { class: 'field' }, h('button', { type: 'submit', id: 'filter-submit' }, t('orders.search'))),
  );
  statusSel.addEventListener('change', () => filters.requestSubmit());

  const onSort = (key) => {
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    state.cursors = [''];
    navigate('#/orders');
  };
  const columns = accts && accts.ok && accts.json.accounts.length > 1 ? withAccount(tableColumns()) : tableColumns();
  const rows = res.json.orders;
  const tbl = table({
    id: 'orders',
    columns,
    rows,
    empty: t('orders.no_orders'),
    rowAttrs: (o) => ({ 'data-order': o.id }),
    sort: state.sort,
    onSort,
  });
  const exportParams = {};
  if (state.status) exportParams.status = state.status;
  if (state.q) exportParams.q = state.q;
  draw(
    seq,
    h(
      'div',
      { class: 'row heading' },
      h('h1', {}, t('title.orders')),
      h('a', { class: 'button', href: '#/new', id: 'new-link' }, t('orders.new_request')),
      h(
        'a',
        { class: 'button', href: csvHref('/orders', exportParams), id: 'export-orders', download: 'orders.csv' },
        t('export.csv'),
      ),
    ),
    certs.ok ? expiryWarnings(certs.json.certificates) : null,
    filters,
    h(
      'div',
      { class: 'panel table-wrap' },
      tbl,
      pager(state, res.json.next_cursor, () => navigate('#/orders')),
    ),
  );
}

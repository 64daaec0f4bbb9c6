// The certificates report: what is live for each name, sortable, with a CSV export.
import { api } from '../api.js';
import { field, fmtTime, h, problemText } from '../dom.js';
import { has, issuerName, t } from '../i18n.js';
import { navigate } from '../router.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

// how a certificate's lineage began: AutoSSL's and imported ones say so
export function originBadge(origin) {
  return has(`origin.${origin}`)
    ? h('span', { class: 'status origin', 'data-origin': origin }, t(`origin.${origin}`))
    : null;
}

const state = { sort: { key: 'not_after', dir: 1 }, within: '' };

const COLUMNS = [
  {
    key: 'common_name',
    label: 'Names',
    cls: 'names',
    sortable: true,
    cell: (c) => [c.names.join(', '), originBadge(c.origin)],
  },
  { key: 'order', label: 'Order', sortable: true, cell: (c) => h('a', { href: `#/order/${c.order}` }, c.order) },
  { key: 'serial', label: 'Serial', cls: 'names', sortable: true, cell: (c) => c.serial },
  { key: 'issuer', label: 'Issuer', sortable: true, cell: (c) => issuerName(c.issuer) },
  { key: 'not_after', label: 'Expires', sortable: true, cell: (c) => fmtTime(c.not_after) },
  {
    key: 'days_left',
    label: 'Days left',
    sortable: true,
    cell: (c) =>
      h('span', { class: c.days_left <= 7 ? 'error-text' : c.days_left <= 30 ? 'warn-text' : '' }, String(c.days_left)),
  },
  {
    key: 'renewal',
    label: 'Renewal',
    cell: (c) =>
      c.renewal_alert
        ? h('span', { class: 'error-text' }, c.renewal_alert.detail || 'The automatic renewal failed.')
        : c.auto_renew
          ? 'automatic'
          : 'manual',
  },
];

// the server sorts (GET /certificates?sort=field|-field): a column's key → its field
const SERVER_SORT = {
  common_name: 'common_name',
  order: 'order',
  serial: 'serial',
  issuer: 'issuer',
  not_after: 'not_after',
  days_left: 'not_after',
};

export async function certificatesView(seq) {
  const params = new URLSearchParams({
    sort: `${state.sort.dir < 0 ? '-' : ''}${SERVER_SORT[state.sort.key] || 'not_after'}`,
  });
  if (state.within) params.set('expiring_within_days', state.within);
  const res = await api('GET', `/certificates?${params}`);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const rows = res.json.certificates;
  const within = h(
    'select',
    {
      id: 'expiring',
      onchange: (e) => {
        state.within = e.target.value;
        navigate('#/certificates');
      },
    },
    [
      ['', 'All live certificates'],
      ['30', 'Expiring within 30 days'],
      ['7', 'Within 7 days'],
      ['1', 'Within a day'],
    ].map(([v, l]) => h('option', { value: v, selected: v === state.within }, l)),
  );
  const onSort = (key) => {
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    navigate('#/certificates');
  };
  draw(
    seq,
    h(
      'div',
      { class: 'row heading' },
      h('h1', {}, t('title.certificates')),
      h(
        'a',
        {
          class: 'button',
          href: `api/v1/certificates?format=csv${state.within ? `&expiring_within_days=${state.within}` : ''}`,
          download: 'certificates.csv',
          id: 'export-certificates',
        },
        'Export CSV',
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      'The certificates live now, one per order. Replaced ones are on their orders, marked Superseded.',
    ),
    h('div', { class: 'row panel' }, field('Show', within, null, 'expiring')),
    h(
      'div',
      { class: 'panel table-wrap' },
      table({ id: 'certificates', columns: COLUMNS, rows, empty: 'No live certificates.', sort: state.sort, onSort }),
    ),
  );
}

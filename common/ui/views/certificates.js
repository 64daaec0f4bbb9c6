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

const tableColumns = () => [
  {
    key: 'common_name',
    label: t('certificates.names'),
    cls: 'names',
    sortable: true,
    cell: (c) => [c.names.join(', '), originBadge(c.origin)],
  },
  {
    key: 'order',
    label: t('certificates.order'),
    sortable: true,
    cell: (c) => h('a', { href: `#/order/${c.order}` }, c.order),
  },
  { key: 'serial', label: t('certificates.serial'), cls: 'names', sortable: true, cell: (c) => c.serial },
  { key: 'issuer', label: t('certificates.issuer'), sortable: true, cell: (c) => issuerName(c.issuer) },
  { key: 'not_after', label: t('certificates.expires'), sortable: true, cell: (c) => fmtTime(c.not_after) },
  {
    key: 'days_left',
    label: t('certificates.days_left'),
    sortable: true,
    cell: (c) =>
      h('span', { class: c.days_left <= 7 ? 'error-text' : c.days_left <= 30 ? 'warn-text' : '' }, String(c.days_left)),
  },
  {
    key: 'renewal',
    label: t('certificates.renewal'),
    cell: (c) =>
      c.renewal_alert
        ? h('span', { class: 'error-text' }, c.renewal_alert.detail || t('certificates.automatic_renewal_failed'))
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
      ['', t('certificates.all_live_certificates')],
      ['30', t('certificates.expiring_within_30_days')],
      ['7', t('certificates.within_7_days')],
      ['1', t('certificates.within_day')],
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
        t('export.csv'),
      ),
    ),
    h('p', { class: 'muted' }, t('certificates.certificates_live_now_one')),
    h('div', { class: 'row panel' }, field(t('certificates.show'), within, null, 'expiring')),
    h(
      'div',
      { class: 'panel table-wrap' },
      table({
        id: 'certificates',
        columns: tableColumns(),
        rows,
        empty: t('certificates.no_live_certificates'),
        sort: state.sort,
        onSort,
      }),
    ),
  );
}

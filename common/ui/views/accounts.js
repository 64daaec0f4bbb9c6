// A parent's view of the accounts below it, and of the orders waiting for its approval.
import { api } from '../api.js';
import { h, problemText } from '../dom.js';
import { statusLabel, t } from '../i18n.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';
import { showOrders } from './orders.js';

export async function accountsView(seq) {
  const res = await api('GET', '/accounts');
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const pending = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      id: 'parent-pending',
      onclick: () => showOrders({ status: 'pending_parent_approval' }),
    },
    statusLabel('pending_parent_approval'),
  );
  const accounts = table({
    id: 'accounts',
    rows: res.json.accounts,
    empty: t('accounts.no_sub_accounts'),
    rowAttrs: (a) => ({ 'data-account': a.name }),
    columns: [
      { key: 'name', label: t('accounts.account'), cell: (a) => a.name },
      { key: 'parent', label: t('accounts.parent'), cell: (a) => a.parent || '—' },
      { key: 'credits', label: t('accounts.credits'), cell: (a) => String(a.credits) },
      { key: 'billing', label: t('accounts.billing'), cell: (a) => a.billing },
      {
        key: 'approval',
        label: t('accounts.parent_approval'),
        cell: (a) => (a.requires_parent_approval ? t('accounts.required') : t('accounts.no')),
      },
    ],
  });
  draw(
    seq,
    h('div', { class: 'row heading' }, h('h1', {}, t('title.accounts')), pending),
    h('div', { class: 'panel table-wrap' }, accounts),
  );
}

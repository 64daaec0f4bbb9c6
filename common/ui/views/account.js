// The account: balance (with the low-balance warning) and, for admins, the ledger with
// a CSV export.
import { api } from '../api.js';
import { t } from '../i18n.js';
import { clearErrors, field, flash, fmtTime, h, onceSubmit, showProblem } from '../dom.js';
import { isAdmin, session } from '../session.js';
import { table } from '../table.js';
import { draw, LOW_BALANCE, refreshBalance } from './common.js';

export async function accountView(seq) {
  const [acct] = await Promise.all([api('GET', '/account'), refreshBalance()]);
  const credits = acct.json ? acct.json.credits : null;
  const parts = [
    h('h1', {}, t('title.account')),
    h(
      'div',
      { class: 'panel' },
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Account'),
        h('dd', {}, acct.json ? acct.json.name : '—'),
        h('dt', {}, 'Credits'),
        h('dd', { id: 'account-credits', class: 'total' }, credits === null ? '—' : String(credits)),
      ),
      credits !== null && credits < LOW_BALANCE
        ? h(
            'p',
            { class: 'error-text', id: 'low-balance' },
            'Your balance is low: ask your provider for more credits before the next renewal.',
          )
        : null,
    ),
  ];
  const auto = acct.json && acct.json.autossl;
  if (auto) parts.push(autosslPanel(auto));
  if (isAdmin()) {
    const led = await api('GET', '/ledger?limit=100');
    parts.push(
      h(
        'div',
        { class: 'panel table-wrap' },
        h(
          'div',
          { class: 'row heading' },
          h('h2', {}, 'Ledger'),
          h(
            'a',
            {
              class: 'button',
              href: 'api/v1/ledger?format=csv&limit=1000',
              download: 'ledger.csv',
              id: 'export-ledger',
            },
            'Export CSV',
          ),
        ),
        table({
          id: 'ledger',
          rows: led.json ? led.json.ledger : [],
          empty: 'No credit movements yet.',
          columns: [
            { key: 'at', label: 'When', cell: (e) => fmtTime(e.at) },
            { key: 'delta', label: 'Change', cell: (e) => (e.delta > 0 ? '+' : '') + e.delta },
            { key: 'balance', label: 'Balance', cell: (e) => String(e.balance) },
            {
              key: 'order',
              label: 'Order',
              cell: (e) => (e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—'),
            },
            { key: 'reason', label: 'Reason', cls: 'wrap', cell: (e) => e.reason },
            { key: 'actor', label: 'By', cell: (e) => e.actor || '' },
          ],
        }),
      ),
    );
  }
  parts.splice(2, 0, await notificationsPanel());
  void session;
  draw(seq, ...parts);
}

// AutoSSL: the provider's policy, and the domains it could not order for.
function autosslPanel(auto) {
  const alerts = auto.alerts || [];
  return h(
    'div',
    { class: 'panel', id: 'autossl' },
    h('h2', {}, 'Automatic certificates'),
    h(
      'p',
      {},
      `Every domain of this account gets a ${auto.product} certificate automatically${auto.include_www ? ' (with www.)' : ''}.`,
    ),
    alerts.length
      ? h(
          'ul',
          { class: 'error-text', id: 'autossl-alerts' },
          alerts.map((a) => h('li', { 'data-name': a.name }, `${a.detail} (tried again ${fmtTime(a.retry_at)})`)),
        )
      : null,
  );
}

// The user's own e-mail address for notifications, and the opt-out.
async function notificationsPanel() {
  const r = await api('GET', '/notifications');
  const prefs = r.ok ? r.json : { email: null, notify: true };
  const email = h('input', { id: 'notify-email', type: 'email', autocomplete: 'email', value: prefs.email || '' });
  const on = h('input', { id: 'notify-on', type: 'checkbox', checked: prefs.notify });
  const form = h(
    'form',
    { class: 'panel', id: 'notifications', novalidate: true },
    h('h2', {}, 'E-mail notifications'),
    h(
      'p',
      { class: 'hint' },
      'Administrators hear of requests waiting for approval; requesters of approvals, rejections and issued certificates; both of failed renewals.',
    ),
    field('Your e-mail address', email, null, 'email'),
    h('div', { class: 'field check' }, h('label', {}, on, ' Send me these e-mails')),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { type: 'submit', class: 'primary', id: 'notify-save' }, 'Save'),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const res = await api('PUT', '/notifications', { email: email.value.trim(), notify: on.checked });
    if (!res.ok) {
      showProblem(form, res);
      return;
    }
    flash(t('ok.notifications'));
  });
  return form;
}

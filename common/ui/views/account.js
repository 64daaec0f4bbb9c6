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
        h('dt', {}, t('account.account')),
        h('dd', {}, acct.json ? acct.json.name : '—'),
        h('dt', {}, t('account.credits')),
        h('dd', { id: 'account-credits', class: 'total' }, credits === null ? '—' : String(credits)),
      ),
      credits !== null && credits < LOW_BALANCE
        ? h('p', { class: 'error-text', id: 'low-balance' }, t('account.low'))
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
          h('h2', {}, t('account.ledger')),
          h(
            'a',
            {
              class: 'button',
              href: 'api/v1/ledger?format=csv&limit=1000',
              download: 'ledger.csv',
              id: 'export-ledger',
            },
            t('export.csv'),
          ),
        ),
        table({
          id: 'ledger',
          rows: led.json ? led.json.ledger : [],
          empty: t('ledger.empty'),
          columns: [
            { key: 'at', label: t('ledger.when'), cell: (e) => fmtTime(e.at) },
            { key: 'delta', label: t('ledger.change'), cell: (e) => (e.delta > 0 ? '+' : '') + e.delta },
            { key: 'balance', label: t('ledger.balance'), cell: (e) => String(e.balance) },
            {
              key: 'order',
              label: t('ledger.order'),
              cell: (e) => (e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—'),
            },
            { key: 'reason', label: t('ledger.reason'), cls: 'wrap', cell: (e) => e.reason },
            { key: 'actor', label: t('ledger.by'), cell: (e) => e.actor || '' },
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
    h('h2', {}, t('autossl.title')),
    h('p', {}, t(auto.include_www ? 'autossl.every_www' : 'autossl.every', { product: auto.product })),
    alerts.length
      ? h(
          'ul',
          { class: 'error-text', id: 'autossl-alerts' },
          alerts.map((a) =>
            h('li', { 'data-name': a.name }, t('autossl.alert', { detail: a.detail, when: fmtTime(a.retry_at) })),
          ),
        )
      : null,
  );
}

// The user's own e-mail address for notifications and the e-mails they want (per event);
// administrators also set the account's addresses and any user's address (issue 15).
async function notificationsPanel() {
  const r = await api('GET', '/notifications');
  const prefs = r.ok ? r.json : { email: null, notify: true, muted: [], events: [] };
  const muted = new Set(prefs.muted || []);
  const email = h('input', { id: 'notify-email', type: 'email', autocomplete: 'email', value: prefs.email || '' });
  const on = h('input', { id: 'notify-on', type: 'checkbox', checked: prefs.notify });
  const boxes = (prefs.events || []).map((ev) =>
    h('input', {
      type: 'checkbox',
      id: `notify-ev-${ev.replace('.', '-')}`,
      'data-event': ev,
      checked: !muted.has(ev),
    }),
  );
  const form = h(
    'form',
    { class: 'panel', id: 'notifications', novalidate: true },
    h('h2', {}, t('notify.title')),
    h('p', { class: 'hint' }, t('notify.hint')),
    field(t('notify.email'), email, null, 'email'),
    h('div', { class: 'field check' }, h('label', {}, on, ' ', t('notify.on'))),
    h(
      'fieldset',
      { class: 'field', 'data-field': 'muted', id: 'notify-events' },
      h('legend', {}, t('notify.events')),
      ...boxes.map((b) => h('div', { class: 'check' }, h('label', {}, b, ' ', t(`event.${b.dataset.event}`)))),
      h('span', { class: 'error-text' }),
    ),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { type: 'submit', class: 'primary', id: 'notify-save' }, t('form.save')),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const res = await api('PUT', '/notifications', {
      email: email.value.trim(),
      notify: on.checked,
      muted: boxes.filter((b) => !b.checked).map((b) => b.dataset.event),
    });
    if (!res.ok) {
      showProblem(form, res);
      return;
    }
    flash(t('ok.notifications'));
  });
  return isAdmin() && prefs.account_emails ? h('div', {}, form, await adminAddresses(prefs)) : form;
}

const addressList = (v) =>
  v
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

// An administrator: the account's own addresses, and a user's address.
async function adminAddresses(prefs) {
  const acct = h('input', {
    id: 'notify-account-emails',
    type: 'text',
    value: (prefs.account_emails || []).join(', '),
  });
  const acctForm = h(
    'form',
    { class: 'panel', id: 'notify-account', novalidate: true },
    h('h2', {}, t('notify.account_title')),
    field(t('notify.account_emails'), acct, t('notify.account_hint'), 'account_emails'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { type: 'submit', class: 'primary', id: 'notify-account-save' }, t('form.save')),
  );
  onceSubmit(acctForm, async () => {
    clearErrors(acctForm);
    const res = await api('PUT', '/notifications', { account_emails: addressList(acct.value) });
    if (!res.ok) return showProblem(acctForm, res);
    return flash(t('ok.notifications'));
  });
  const users = await api('GET', '/users');
  const names = users.ok ? users.json.users.map((u) => u.name).filter((n) => n !== session.me.user.name) : [];
  if (!names.length) return acctForm;
  const who = h(
    'select',
    { id: 'notify-user' },
    names.map((n) => h('option', { value: n }, n)),
  );
  const addr = h('input', { id: 'notify-user-email', type: 'email', autocomplete: 'off' });
  const load = async () => {
    const r = await api('GET', `/notifications?user=${encodeURIComponent(who.value)}`);
    addr.value = r.ok && r.json.email ? r.json.email : '';
  };
  who.addEventListener('change', load);
  await load();
  const userForm = h(
    'form',
    { class: 'panel', id: 'notify-user-form', novalidate: true },
    h('h2', {}, t('notify.user_title')),
    field(t('notify.user'), who, null, 'user'),
    field(t('notify.user_email'), addr, t('notify.user_hint'), 'email'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { type: 'submit', class: 'primary', id: 'notify-user-save' }, t('form.save')),
  );
  onceSubmit(userForm, async () => {
    clearErrors(userForm);
    const res = await api('PUT', '/notifications', { user: who.value, email: addr.value.trim() });
    if (!res.ok) return showProblem(userForm, res);
    return flash(t('ok.notifications'));
  });
  return h('div', {}, acctForm, userForm);
}

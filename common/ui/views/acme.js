// ACME credentials: the directory URL, a credential made here (its HMAC key shown once,
// with certbot and lego command lines), the account's credentials, deleting one.
import { api } from '../api.js';
import { clearErrors, field, flash, h, onceSubmit, problemText, showFieldError } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { isAdmin, session } from '../session.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

export function acmeCommands(dir, kid, key, name) {
  return [
    `certbot certonly --server ${dir} --eab-kid ${kid} --eab-hmac-key=${key} --webroot -w /var/www/html -d ${name}`,
    `lego --server ${dir} --eab --kid ${kid} --hmac=${key} --email you@${name} --accept-tos --http --http.webroot /var/www/html -d ${name} run`,
  ];
}

// the credential just made, shown once on the page the creation leads to
let created = null;

export async function acmeView(seq) {
  const res = await api('GET', '/acme/credentials');
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const dir = res.json.directory || '';
  const admin = isAdmin();
  const name = h('input', { id: 'acme-name', placeholder: 'my server' });
  const user = h('input', { id: 'acme-user', placeholder: session.me.user.name });
  const product = h('input', { id: 'acme-product', placeholder: t('acme.product_placeholder') });
  const autoPay = h('input', { id: 'acme-auto-pay', type: 'checkbox' });
  const shown = h('div', { id: 'acme-new', 'aria-live': 'polite' });
  if (created) {
    shown.append(
      h('p', {}, t('acme.copy_hmac_key_now')),
      h('p', {}, t('acme.key_id_prefix'), h('span', { class: 'secret', id: 'acme-kid' }, created.key_id)),
      h('p', {}, 'HMAC key: ', h('span', { class: 'secret', id: 'acme-hmac' }, created.hmac_key)),
      ...acmeCommands(created.directory || dir, created.key_id, created.hmac_key, 'www.example.com').map((c) =>
        h('pre', { class: 'secret' }, c),
      ),
    );
    created = null;
  }
  const form = h(
    'form',
    { class: 'panel', novalidate: true },
    h('h2', {}, t('acme.create_acme_credential')),
    h('p', {}, 'ACME directory: ', h('span', { class: 'names', id: 'acme-directory' }, dir)),
    h(
      'div',
      { class: 'row' },
      field(t('acme.name'), name, null, 'acme-name'),
      admin ? field(t('acme.for_user'), user, t('acme.for_user_hint'), 'acme-user') : null,
      field(t('acme.product'), product, null, 'acme-product'),
    ),
    admin
      ? h('div', { class: 'field check' }, h('label', {}, autoPay, t('acme.pay_automatically_administrators_only')))
      : null,
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text', role: 'alert' })),
    h('button', { class: 'primary', type: 'submit', id: 'acme-create' }, t('acme.create_credential')),
    shown,
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const body = { name: name.value.trim() };
    if (user.value) body.user = user.value.trim();
    if (product.value) body.product = product.value.trim();
    if (autoPay.checked) body.auto_pay = true;
    const r = await api('POST', '/acme/credentials', body);
    if (!r.ok) {
      showFieldError(form, 'acme-name', problemText(r));
      return;
    }
    created = r.json;
    navigate('#/acme');
  });
  const creds = table({
    id: 'acme-credentials',
    rows: res.json.credentials,
    empty: t('acme.no_acme_credentials_yet'),
    rowAttrs: (c) => ({ 'data-credential': c.id }),
    columns: [
      { key: 'name', label: t('acme.name'), cell: (c) => c.name },
      { key: 'user', label: t('acme.user'), cell: (c) => c.user },
      { key: 'kid', label: t('acme.key_id'), cls: 'names', cell: (c) => c.key_id },
      { key: 'product', label: t('acme.product'), cell: (c) => c.product || 'DV' },
      { key: 'pays', label: t('acme.payment'), cell: (c) => (c.auto_pay ? t('acme.automatically') : t('action.pay')) },
      {
        key: 'certbot',
        label: 'certbot',
        cls: 'wrap',
        cell: (c) => h('pre', {}, acmeCommands(dir, c.key_id, '<HMAC key>', 'www.example.com')[0]),
      },
      {
        key: 'act',
        label: t('acme.actions'),
        cell: (c) =>
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': t('acme.delete_acme_credential', { name: c.name }),
              onclick: async () => {
                const r = await api('DELETE', `/acme/credentials/${c.id}`);
                if (r.status === 204) {
                  flash(t('ok.acme_deleted'));
                  navigate('#/acme');
                } else flash(problemText(r), false);
              },
            },
            t('acme.delete'),
          ),
      },
    ],
  });
  draw(seq, h('h1', {}, t('title.acme')), form, h('div', { class: 'panel table-wrap' }, creds));
}

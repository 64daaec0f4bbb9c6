// Users of the account (admins): every change confirmed, and an admin cannot disable
// or demote their own account from here.
import { api } from '../api.js';
import { clearErrors, confirmPanel, field, flash, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

const ROLES = [
  ['basic', 'Basic User'],
  ['standard', 'Standard User'],
  ['admin', 'Administrator'],
];

export async function usersView(seq) {
  const res = await api('GET', '/users');
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const confirmHost = h('div', { id: 'user-confirm' });
  const name = h('input', { id: 'new-user-name', autocomplete: 'off' });
  const role = h(
    'select',
    { id: 'new-user-role' },
    ROLES.map(([r, l]) => h('option', { value: r }, l)),
  );
  const email = h('input', { id: 'new-user-email', type: 'email', autocomplete: 'off' });
  const pw = h('input', { id: 'new-user-password', type: 'password', autocomplete: 'new-password' });
  const sig = h('input', { id: 'new-user-signatory', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'panel' },
    h('h2', {}, 'Add a user'),
    h(
      'div',
      { class: 'row' },
      field('User name', name, 'a-z 0-9 . _ -', 'name'),
      field('Role', role, null, 'role'),
      field('Password', pw, 'At least 8 characters; or leave empty for API tokens only.', 'password'),
    ),
    h('div', { class: 'field check' }, h('label', {}, sig, ' Authorized signatory (EV consent)')),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit' }, 'Add user'),
  );
  void email;
  onceSubmit(form, async () => {
    clearErrors(form);
    const body = { name: name.value, role: role.value, authorized_signatory: sig.checked };
    if (pw.value) body.password = pw.value;
    const r = await api('POST', '/users', body);
    if (!r.ok) {
      showProblem(form, r);
      return;
    }
    flash(t('ok.user_added', { name: r.json.name }));
    navigate('#/users');
  });
  const ask = (u, title, body, danger, revert) => {
    confirmHost.replaceChildren(
      confirmPanel({
        id: 'confirm-user',
        title,
        danger,
        onYes: async () => {
          const r = await api('PATCH', `/users/${encodeURIComponent(u.name)}`, body);
          if (!r.ok) {
            flash(problemText(r), false);
            return;
          }
          flash(t('ok.user_updated', { name: u.name }));
          navigate('#/users');
        },
        onClose: revert,
      }),
    );
    confirmHost.scrollIntoView({ block: 'nearest' });
    confirmHost.querySelector('button').focus();
  };
  const self = (u) => u.name === session.me.user.name;
  const tbl = table({
    id: 'users',
    rows: res.json.users,
    rowAttrs: (u) => ({ 'data-user': u.name }),
    columns: [
      { key: 'name', label: 'User', cell: (u) => (self(u) ? `${u.name} (you)` : u.name) },
      {
        key: 'role',
        label: 'Role',
        cell: (u) => {
          const sel = h(
            'select',
            { 'aria-label': `Role of ${u.name}`, disabled: self(u), 'data-role-of': u.name },
            ROLES.map(([r, l]) => h('option', { value: r, selected: r === u.role }, l)),
          );
          sel.addEventListener('change', () =>
            ask(u, `Make ${u.name} ${ROLES.find(([r]) => r === sel.value)[1]}?`, { role: sel.value }, false, () => {
              sel.value = u.role;
            }),
          );
          return sel;
        },
      },
      {
        key: 'sig',
        label: 'Signatory',
        cell: (u) =>
          h(
            'button',
            {
              type: 'button',
              'aria-label': `${u.authorized_signatory ? 'Yes — remove' : 'No — make signatory'} (${u.name})`,
              onclick: () =>
                ask(
                  u,
                  u.authorized_signatory
                    ? `Remove ${u.name} as authorized signatory?`
                    : `Make ${u.name} an authorized signatory (EV consent)?`,
                  { authorized_signatory: !u.authorized_signatory },
                  false,
                ),
            },
            u.authorized_signatory ? 'Yes — remove' : 'No — make signatory',
          ),
      },
      { key: 'state', label: 'State', cell: (u) => (u.disabled ? 'disabled' : 'active') },
      {
        key: 'act',
        label: 'Actions',
        cell: (u) =>
          self(u)
            ? h('span', { class: 'muted' }, 'Your own account')
            : h(
                'button',
                {
                  type: 'button',
                  class: u.disabled ? '' : 'danger',
                  'data-disable': u.name,
                  'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.name}`,
                  onclick: () =>
                    ask(
                      u,
                      u.disabled
                        ? `Enable ${u.name}?`
                        : `Disable ${u.name}? They can no longer log in or use their API tokens.`,
                      { disabled: !u.disabled },
                      !u.disabled,
                    ),
                },
                u.disabled ? 'Enable' : 'Disable',
              ),
      },
    ],
  });
  draw(seq, h('h1', {}, t('title.users')), confirmHost, h('div', { class: 'panel table-wrap' }, tbl), form);
}

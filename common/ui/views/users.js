// Users of the account (admins): every change confirmed, and an admin cannot disable
// or demote their own account from here.
import { api } from '../api.js';
import { clearErrors, confirmPanel, field, flash, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { roleLabel, t } from '../i18n.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

const ROLES = ['basic', 'standard', 'admin'];

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
    ROLES.map((r) => h('option', { value: r }, roleLabel(r))),
  );
  const email = h('input', { id: 'new-user-email', type: 'email', autocomplete: 'off' });
  const pw = h('input', { id: 'new-user-password', type: 'password', autocomplete: 'new-password' });
  const sig = h('input', { id: 'new-user-signatory', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'panel' },
    h('h2', {}, t('users.add_heading')),
    h(
      'div',
      { class: 'row' },
      field(t('users.user_name'), name, 'a-z 0-9 . _ -', 'name'),
      field(t('users.role'), role, null, 'role'),
      field(t('users.password'), pw, t('users.at_least_8_characters'), 'password'),
    ),
    h('div', { class: 'field check' }, h('label', {}, sig, t('users.authorized_signatory_ev_consent'))),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit' }, t('users.add_user')),
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
      { key: 'name', label: t('users.user'), cell: (u) => (self(u) ? t('users.you', { name: u.name }) : u.name) },
      {
        key: 'role',
        label: t('users.role'),
        cell: (u) => {
          const sel = h(
            'select',
            { 'aria-label': t('users.role_of', { name: u.name }), disabled: self(u), 'data-role-of': u.name },
            ROLES.map((r) => h('option', { value: r, selected: r === u.role }, roleLabel(r))),
          );
          sel.addEventListener('change', () =>
            ask(
              u,
              t('users.confirm_role', { name: u.name, role: roleLabel(sel.value) }),
              { role: sel.value },
              false,
              () => {
                sel.value = u.role;
              },
            ),
          );
          return sel;
        },
      },
      {
        key: 'sig',
        label: t('users.signatory'),
        cell: (u) =>
          h(
            'button',
            {
              type: 'button',
              'aria-label': t('users.signatory_of', {
                answer: u.authorized_signatory ? t('users.yes_remove') : t('users.no_make_signatory'),
                name: u.name,
              }),
              onclick: () =>
                ask(
                  u,
                  u.authorized_signatory
                    ? t('users.remove_as_authorized_signatory', { name: u.name })
                    : t('users.make_authorized_signatory_ev', { name: u.name }),
                  { authorized_signatory: !u.authorized_signatory },
                  false,
                ),
            },
            u.authorized_signatory ? t('users.yes_remove') : t('users.no_make_signatory'),
          ),
      },
      {
        key: 'state',
        label: t('users.state'),
        cell: (u) => (u.disabled ? t('users.state_disabled') : t('users.state_active')),
      },
      {
        key: 'act',
        label: t('users.actions'),
        cell: (u) =>
          self(u)
            ? h('span', { class: 'muted' }, t('users.your_own_account'))
            : h(
                'button',
                {
                  type: 'button',
                  class: u.disabled ? '' : 'danger',
                  'data-disable': u.name,
                  'aria-label': u.disabled
                    ? t('users.enable_of', { name: u.name })
                    : t('users.disable_of', { name: u.name }),
                  onclick: () =>
                    ask(
                      u,
                      u.disabled
                        ? t('users.confirm_enable', { name: u.name })
                        : t('users.confirm_disable', { name: u.name }),
                      { disabled: !u.disabled },
                      !u.disabled,
                    ),
                },
                u.disabled ? t('users.enable') : t('users.disable'),
              ),
      },
    ],
  });
  draw(seq, h('h1', {}, t('title.users')), confirmHost, h('div', { class: 'panel table-wrap' }, tbl), form);
}

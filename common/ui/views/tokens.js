// API tokens: created with a name and an optional lifetime, the secret shown once;
// deleting asks first.
import { api } from '../api.js';
import { clearErrors, confirmPanel, field, flash, fmtTime, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { table } from '../table.js';
import { draw } from './common.js';

let shownSecret = null;

export async function tokensView(seq) {
  const res = await api('GET', '/tokens');
  const name = h('input', { id: 'token-name', placeholder: 'control panel' });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, max: 3650, placeholder: 'never' });
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  if (shownSecret) {
    shown.append(
      h('p', {}, 'Copy the token now: it is shown only this once.'),
      h('p', { class: 'secret', id: 'token-secret' }, shownSecret),
    );
    shownSecret = null;
  }
  const confirmHost = h('div', { id: 'token-confirm' });
  const form = h(
    'form',
    { class: 'panel' },
    h('h2', {}, 'Create a token'),
    h(
      'div',
      { class: 'row' },
      field('Name', name, null, 'name'),
      field('Expires in days', days, null, 'expires_in_days'),
    ),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit' }, 'Create token'),
    shown,
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    flash('');
    const body = { name: name.value };
    if (days.value) body.expires_in_days = Number(days.value);
    const r = await api('POST', '/tokens', body);
    if (!r.ok) {
      showProblem(form, r);
      return;
    }
    shownSecret = r.json.token;
    navigate('#/tokens');
  });
  const tbl = table({
    id: 'tokens',
    rows: res.json ? res.json.tokens : [],
    empty: 'No tokens.',
    columns: [
      { key: 'name', label: 'Name', cell: (tk) => tk.name },
      { key: 'user', label: 'User', cell: (tk) => tk.user },
      { key: 'prefix', label: 'Token', cls: 'names', cell: (tk) => `cin_${tk.prefix}_…` },
      { key: 'expires', label: 'Expires', cell: (tk) => (tk.expires_at ? fmtTime(tk.expires_at) : 'never') },
      {
        key: 'act',
        label: 'Actions',
        cell: (tk) =>
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': `Delete token ${tk.name}`,
              'data-delete-token': tk.id,
              onclick: () => {
                confirmHost.replaceChildren(
                  confirmPanel({
                    id: 'confirm-token',
                    danger: true,
                    yes: 'Delete the token',
                    title: `Delete the token "${tk.name}"? Programs using it stop working at once.`,
                    onYes: async () => {
                      const r = await api('DELETE', `/tokens/${tk.id}`);
                      if (r.status === 204) {
                        flash(t('ok.token_deleted'));
                        navigate('#/tokens');
                      } else flash(problemText(r), false);
                    },
                  }),
                );
                confirmHost.querySelector('button').focus();
              },
            },
            'Delete',
          ),
      },
    ],
  });
  draw(seq, h('h1', {}, t('title.tokens')), form, confirmHost, h('div', { class: 'panel table-wrap' }, tbl));
}

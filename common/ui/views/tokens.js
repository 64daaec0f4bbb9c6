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
  const name = h('input', { id: 'token-name', placeholder: t('tokens.name_placeholder') });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, max: 3650, placeholder: t('tokens.never') });
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  if (shownSecret) {
    shown.append(
      h('p', {}, t('tokens.copy_token_now_shown')),
      h('p', { class: 'secret', id: 'token-secret' }, shownSecret),
    );
    shownSecret = null;
  }
  const confirmHost = h('div', { id: 'token-confirm' });
  const form = h(
    'form',
    { class: 'panel' },
    h('h2', {}, t('tokens.create_heading')),
    h(
      'div',
      { class: 'row' },
      field(t('tokens.name'), name, null, 'name'),
      field(t('tokens.expires_in_days'), days, null, 'expires_in_days'),
    ),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit' }, t('tokens.create_token')),
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
    empty: t('tokens.no_tokens'),
    columns: [
      { key: 'name', label: t('tokens.name'), cell: (tk) => tk.name },
      { key: 'user', label: t('tokens.user'), cell: (tk) => tk.user },
      { key: 'prefix', label: t('tokens.token'), cls: 'names', cell: (tk) => `cin_${tk.prefix}_…` },
      {
        key: 'expires',
        label: t('tokens.expires'),
        cell: (tk) => (tk.expires_at ? fmtTime(tk.expires_at) : t('tokens.never')),
      },
      {
        key: 'act',
        label: t('tokens.actions'),
        cell: (tk) =>
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': t('tokens.delete_label', { name: tk.name }),
              'data-delete-token': tk.id,
              onclick: () => {
                confirmHost.replaceChildren(
                  confirmPanel({
                    id: 'confirm-token',
                    danger: true,
                    yes: t('tokens.delete_title'),
                    title: t('tokens.delete_question', { name: tk.name }),
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
            t('tokens.delete'),
          ),
      },
    ],
  });
  draw(seq, h('h1', {}, t('title.tokens')), form, confirmHost, h('div', { class: 'panel table-wrap' }, tbl));
}

// Domains (administrators, issue 14): the account's domains; claiming one in two steps
// (publish the TXT record shown, then verify); and, when a CA or root the account's
// certificates depend on was distrusted, how their replacement is going.
import { api } from '../api.js';
import { t } from '../i18n.js';
import { actionButton, clearErrors, field, flash, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { navigate } from '../router.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

// The last verify's answer per name, shown with the claim until the next draw.
const outcome = new Map();

function claimRow(c) {
  const said = outcome.get(c.name);
  return h(
    'div',
    { class: 'panel', 'data-claim': c.name },
    h('h3', {}, c.name),
    h(
      'ol',
      { class: 'steps' },
      h(
        'li',
        {},
        t('domains.publish'),
        h('code', { class: 'txt-name' }, c.txt_name),
        ' = ',
        h('code', { class: 'txt-value' }, c.txt_value),
      ),
      h(
        'li',
        {},
        t('domains.then_verify'),
        actionButton(
          t('domains.verify'),
          async () => {
            const r = await api('POST', `/domains/${encodeURIComponent(c.name)}/verify`);
            if (r.ok) {
              outcome.delete(c.name);
              flash(t('domains.verified', { name: c.name }));
            } else {
              outcome.set(c.name, problemText(r));
            }
            navigate('#/domains');
          },
          { class: 'primary', 'data-verify': c.name },
        ),
      ),
    ),
    h(
      'p',
      { class: said ? 'error-text claim-state' : 'claim-state', 'aria-live': 'polite' },
      said ? t('domains.not_verified', { why: said }) : t('domains.pending'),
    ),
  );
}

function distrustPanel(d) {
  const total = d.queued + d.replacing + d.replaced + d.failed + d.stranded;
  if (!total) return null;
  const pending = d.queued + d.replacing;
  const cell = (id, label, n) => [h('dt', {}, label), h('dd', { id }, String(n))];
  return h(
    'div',
    { class: 'panel', id: 'distrust' },
    h('h2', {}, t('distrust.title')),
    h('p', {}, t('distrust.summary', { replaced: d.replaced, total })),
    h('progress', { id: 'distrust-progress', max: String(total), value: String(d.replaced) }, `${d.replaced}/${total}`),
    h(
      'dl',
      { class: 'facts' },
      cell('distrust-replaced', t('distrust.replaced'), d.replaced),
      cell('distrust-pending', t('distrust.pending'), pending),
      cell('distrust-failed', t('distrust.failed'), d.failed),
      cell('distrust-stranded', t('distrust.stranded'), d.stranded),
    ),
    d.stranded ? h('p', { class: 'error-text' }, t('distrust.stranded_hint')) : null,
  );
}

export async function domainsView(seq) {
  const [doms, claims, distrust] = await Promise.all([
    api('GET', '/domains'),
    api('GET', '/domains/claims'),
    api('GET', '/distrust'),
  ]);
  if (!doms.ok || !claims.ok) {
    errorPage(seq, problemText(doms.ok ? claims : doms));
    return;
  }
  const name = h('input', { id: 'claim-name', name: 'name', placeholder: 'example.org', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'panel', novalidate: true, id: 'claim-form' },
    h('h2', {}, t('domains.claim_title')),
    field(t('domains.domain'), name, t('domains.claim_hint'), 'name'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit', id: 'claim-submit' }, t('domains.claim')),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const r = await api('POST', '/domains', { name: name.value.trim() });
    if (!r.ok) {
      showProblem(form, r);
      return;
    }
    outcome.delete(r.json.name);
    navigate('#/domains');
  });
  draw(
    seq,
    h('h1', {}, t('title.domains')),
    distrust.ok ? distrustPanel(distrust.json) : null,
    table({
      id: 'domains',
      rows: doms.json.domains,
      empty: t('domains.empty'),
      rowAttrs: (d) => ({ 'data-domain': d.name }),
      columns: [{ key: 'name', label: t('domains.domain'), cls: 'names', cell: (d) => d.name }],
    }),
    form,
    claims.json.claims.length ? h('h2', {}, t('domains.claims_waiting')) : null,
    ...claims.json.claims.map(claimRow),
  );
}

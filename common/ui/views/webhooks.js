// Webhooks for control panels (administrators): add one (its secret shown once), see its
// delivery log, remove it.
import { api } from '../api.js';
import { clearErrors, confirmPanel, field, flash, fmtTime, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

const events = () => [
  ['order.created', t('webhooks.created')],
  ['order.approved', t('webhooks.approved')],
  ['order.rejected', t('webhooks.rejected')],
  ['order.paid', t('webhooks.paid')],
  ['order.issued', t('webhooks.issued')],
  ['order.cancelled', t('webhooks.cancelled')],
  ['order.revoked', t('webhooks.revoked')],
  ['order.failed', t('webhooks.issuance_failed')],
  ['order.renewal_failed', t('webhooks.automatic_renewal_failed')],
  ['order.expiring', t('webhooks.expiring_soon_30_7')],
];
let shownSecret = null;

export async function webhooksView(seq, id) {
  const res = await api('GET', '/webhooks');
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const url = h('input', { id: 'webhook-url', type: 'url', placeholder: 'https://panel.example.com/hooks/certinext' });
  const boxes = events().map(([e, l]) =>
    h('label', { class: 'check-item' }, h('input', { type: 'checkbox', value: e, checked: true }), ` ${l}`),
  );
  const secretBox = h('div', { id: 'webhook-secret-box', 'aria-live': 'polite' });
  if (shownSecret) {
    secretBox.append(
      h('p', {}, t('webhooks.copy_signing_secret_now')),
      h('p', { class: 'secret', id: 'webhook-secret' }, shownSecret),
    );
    shownSecret = null;
  }
  const form = h(
    'form',
    { class: 'panel', novalidate: true },
    h('h2', {}, t('webhooks.add_heading')),
    field('URL', url, t('webhooks.json_deliveries_signed_with'), 'url'),
    h(
      'fieldset',
      { class: 'field', 'data-field': 'events' },
      h('legend', {}, t('webhooks.events')),
      boxes,
      h('span', { class: 'error-text' }),
    ),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit', id: 'webhook-add' }, t('webhooks.add_webhook')),
    secretBox,
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const events = boxes
      .map((b) => b.querySelector('input'))
      .filter((i) => i.checked)
      .map((i) => i.value);
    const r = await api('POST', '/webhooks', { url: url.value.trim(), events });
    if (!r.ok) {
      showProblem(form, r);
      return;
    }
    shownSecret = r.json.secret;
    flash(t('ok.webhook_added', { id: r.json.id }));
    navigate('#/webhooks');
  });
  const confirmHost = h('div', { id: 'webhook-confirm' });
  const hooks = table({
    id: 'webhooks',
    rows: res.json.webhooks,
    empty: t('webhooks.no_webhooks'),
    rowAttrs: (w) => ({ 'data-webhook': w.id }),
    columns: [
      { key: 'url', label: 'URL', cls: 'names', cell: (w) => w.url },
      { key: 'events', label: t('webhooks.events'), cls: 'wrap', cell: (w) => w.events.join(', ') },
      { key: 'by', label: t('webhooks.added'), cell: (w) => `${w.created_by}, ${fmtTime(w.created_at)}` },
      {
        key: 'act',
        label: t('webhooks.actions'),
        cell: (w) =>
          h(
            'div',
            { class: 'actions' },
            h(
              'a',
              {
                class: 'button',
                href: `#/webhooks/${w.id}`,
                'aria-label': t('webhooks.deliveries_webhook', { id: w.id }),
              },
              t('webhooks.deliveries'),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': t('webhooks.remove_webhook', { id: w.id }),
                onclick: () => {
                  confirmHost.replaceChildren(
                    confirmPanel({
                      id: 'confirm-webhook',
                      danger: true,
                      title: t('webhooks.remove_webhook_deliveries_not', { url: w.url }),
                      onYes: async () => {
                        const r = await api('DELETE', `/webhooks/${w.id}`);
                        if (r.status === 204) {
                          flash(t('ok.webhook_removed'));
                          navigate('#/webhooks');
                        } else flash(problemText(r), false);
                      },
                    }),
                  );
                  confirmHost.querySelector('button').focus();
                },
              },
              t('webhooks.remove'),
            ),
          ),
      },
    ],
  });
  let log = null;
  if (id) {
    const d = await api('GET', `/webhooks/${id}/deliveries`);
    log = h(
      'div',
      { class: 'panel table-wrap' },
      h('h2', {}, t('webhooks.deliveries_webhook', { id })),
      d.ok
        ? table({
            id: 'deliveries',
            rows: d.json.deliveries,
            empty: t('webhooks.nothing_delivered_yet'),
            columns: [
              { key: 'at', label: t('webhooks.queued'), cell: (x) => fmtTime(x.created_at) },
              { key: 'event', label: t('webhooks.event'), cell: (x) => x.event },
              {
                key: 'order',
                label: t('webhooks.order'),
                cell: (x) => (x.order ? h('a', { href: `#/order/${x.order}` }, x.order) : '—'),
              },
              { key: 'state', label: t('webhooks.state'), cell: (x) => x.state },
              { key: 'attempts', label: t('webhooks.attempts'), cell: (x) => String(x.attempts) },
              {
                key: 'result',
                label: t('webhooks.last_answer'),
                cls: 'wrap',
                cell: (x) =>
                  x.last_error
                    ? `${x.last_error}${x.next_attempt_at ? t('webhooks.next_try', { when: fmtTime(x.next_attempt_at) }) : ''}`
                    : x.last_status
                      ? t('webhooks.http_status', { status: x.last_status })
                      : '—',
              },
            ],
          })
        : h('p', { class: 'error-text' }, problemText(d)),
    );
  }
  draw(seq, h('h1', {}, t('title.webhooks')), log, confirmHost, h('div', { class: 'panel table-wrap' }, hooks), form);
}

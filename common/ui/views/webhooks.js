// Webhooks for control panels (administrators): add one (its secret shown once), see its
// delivery log, remove it.
import { api } from '../api.js';
import { clearErrors, confirmPanel, field, flash, fmtTime, h, onceSubmit, problemText, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { table } from '../table.js';
import { draw, errorPage } from './common.js';

const EVENTS = [
  ['order.created', 'A request is placed'],
  ['order.approved', 'Approved'],
  ['order.rejected', 'Rejected'],
  ['order.paid', 'Paid'],
  ['order.issued', 'Issued'],
  ['order.cancelled', 'Cancelled'],
  ['order.revoked', 'Revoked'],
  ['order.failed', 'Issuance failed'],
  ['order.renewal_failed', 'Automatic renewal failed'],
  ['order.expiring', 'Expiring soon (30, 7, 1 days)'],
];
let shownSecret = null;

export async function webhooksView(seq, id) {
  const res = await api('GET', '/webhooks');
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const url = h('input', { id: 'webhook-url', type: 'url', placeholder: 'https://panel.example.com/hooks/certinext' });
  const boxes = EVENTS.map(([e, l]) =>
    h('label', { class: 'check-item' }, h('input', { type: 'checkbox', value: e, checked: true }), ` ${l}`),
  );
  const secretBox = h('div', { id: 'webhook-secret-box', 'aria-live': 'polite' });
  if (shownSecret) {
    secretBox.append(
      h('p', {}, 'Copy the signing secret now: it is shown only this once.'),
      h('p', { class: 'secret', id: 'webhook-secret' }, shownSecret),
    );
    shownSecret = null;
  }
  const form = h(
    'form',
    { class: 'panel', novalidate: true },
    h('h2', {}, 'Add a webhook'),
    field('URL', url, 'JSON deliveries, signed with X-Certinext-Signature: t=TIME,v1=HMAC-SHA256.', 'url'),
    h(
      'fieldset',
      { class: 'field', 'data-field': 'events' },
      h('legend', {}, 'Events'),
      boxes,
      h('span', { class: 'error-text' }),
    ),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { class: 'primary', type: 'submit', id: 'webhook-add' }, 'Add webhook'),
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
    empty: 'No webhooks.',
    rowAttrs: (w) => ({ 'data-webhook': w.id }),
    columns: [
      { key: 'url', label: 'URL', cls: 'names', cell: (w) => w.url },
      { key: 'events', label: 'Events', cls: 'wrap', cell: (w) => w.events.join(', ') },
      { key: 'by', label: 'Added', cell: (w) => `${w.created_by}, ${fmtTime(w.created_at)}` },
      {
        key: 'act',
        label: 'Actions',
        cell: (w) =>
          h(
            'div',
            { class: 'actions' },
            h(
              'a',
              { class: 'button', href: `#/webhooks/${w.id}`, 'aria-label': `Deliveries of webhook ${w.id}` },
              'Deliveries',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Remove webhook ${w.id}`,
                onclick: () => {
                  confirmHost.replaceChildren(
                    confirmPanel({
                      id: 'confirm-webhook',
                      danger: true,
                      title: `Remove the webhook to ${w.url}? Deliveries not yet made are dropped.`,
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
              'Remove',
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
      h('h2', {}, `Deliveries of webhook ${id}`),
      d.ok
        ? table({
            id: 'deliveries',
            rows: d.json.deliveries,
            empty: 'Nothing delivered yet.',
            columns: [
              { key: 'at', label: 'Queued', cell: (x) => fmtTime(x.created_at) },
              { key: 'event', label: 'Event', cell: (x) => x.event },
              {
                key: 'order',
                label: 'Order',
                cell: (x) => (x.order ? h('a', { href: `#/order/${x.order}` }, x.order) : '—'),
              },
              { key: 'state', label: 'State', cell: (x) => x.state },
              { key: 'attempts', label: 'Attempts', cell: (x) => String(x.attempts) },
              {
                key: 'result',
                label: 'Last answer',
                cls: 'wrap',
                cell: (x) =>
                  x.last_error
                    ? `${x.last_error}${x.next_attempt_at ? ` — next try ${fmtTime(x.next_attempt_at)}` : ''}`
                    : x.last_status
                      ? `HTTP ${x.last_status}`
                      : '—',
              },
            ],
          })
        : h('p', { class: 'error-text' }, problemText(d)),
    );
  }
  draw(seq, h('h1', {}, t('title.webhooks')), log, confirmHost, h('div', { class: 'panel table-wrap' }, hooks), form);
}

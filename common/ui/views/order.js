// One order: its status and next step, the certificate's life (live on this server,
// superseded by a newer order), the actions, installation help and the audit trail.
import { api } from '../api.js';
import { fmtTime, h, problemText } from '../dom.js';
import { auditLabel, issuerName, peerName, productName, t } from '../i18n.js';
import { session } from '../session.js';
import { table } from '../table.js';
import { actionClass, actionLabel, openAction } from './actions.js';
import { draw, errorPage, nextLine, served, statusBadge, viaBadge } from './common.js';
import { installHelp } from './install.js';

function kindText(o) {
  if (o.kind === 'automatic' || o.kind === 'import') return t(`kind.${o.kind}`);
  if (o.kind === 'new' || !o.parent) return t('kind.new');
  return h('span', {}, t(`kind.${o.kind}`, { parent: '' }), h('a', { href: `#/order/${o.parent}` }, o.parent));
}

export function actorName(a) {
  return a === 'agent' ? t('order.server_automatic') : a;
}

export async function orderView(seq, id, focusAction) {
  const [res, ev] = await Promise.all([api('GET', `/orders/${id}`), api('GET', `/orders/${id}/events`)]);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const o = res.json;
  const facts = [
    [t('order.status'), h('div', { class: 'status-cell' }, statusBadge(o.status), viaBadge(o), nextLine(o))],
    [t('order.request'), o.id],
    [t('order.order_id'), o.order_number || '—'],
    [t('order.product'), productName(o.product)],
    [t('order.names'), h('span', { class: 'names' }, o.sans.join(', '))],
    [t('order.key'), t(o.key_source === 'csr' ? 'order.key_csr' : 'order.key_server', { type: o.key_type })],
    [t('order.validity'), t('order.days', { n: o.validity_days })],
    [t('order.automatic_renewal'), o.auto_renew ? t('order.yes') : t('order.no')],
    [t('order.price'), t('money.credits', { n: o.price })],
    [t('order.kind'), kindText(o)],
    [t('order.requester'), o.requester],
    [t('order.approved_by'), o.approved_by ? `${o.approved_by}, ${fmtTime(o.approved_at)}` : '—'],
    [t('order.created'), fmtTime(o.created_at)],
    [t('order.updated'), fmtTime(o.updated_at)],
  ];
  // a sub-account's order, seen from above; the account's custom fields
  if (o.account && o.account !== session.me.user.account)
    facts.push([t('order.account'), h('span', { id: 'order-account' }, o.account)]);
  for (const [k, v] of Object.entries(o.fields || {})) facts.push([k, h('span', { 'data-custom-field': k }, v)]);
  if (o.superseded_by)
    facts.splice(1, 0, [
      t('order.superseded_by'),
      h('a', { href: `#/order/${o.superseded_by}`, id: 'superseded-by' }, o.superseded_by),
    ]);
  if (o.signatory_by) facts.push([t('order.signatory'), `${o.signatory_by}, ${fmtTime(o.signatory_at)}`]);
  if (o.rejection_reason)
    facts.push([t('order.rejection_reason'), h('span', { id: 'rejection-reason' }, o.rejection_reason)]);
  if (o.certificate) {
    facts.push([t('order.serial'), h('span', { class: 'names', id: 'cert-serial' }, o.certificate.serial)]);
    facts.push([t('order.valid'), `${fmtTime(o.certificate.not_before)} – ${fmtTime(o.certificate.not_after)}`]);
    facts.push([t('order.issuer'), issuerName(o.certificate.issuer)]);
    facts.push([t('order.on_this_server'), h('span', { id: 'served' }, served(o) ? t('served.yes') : t('served.no'))]);
  }
  if (o.attempts) facts.push([t('order.issuance_attempts'), String(o.attempts)]);
  const errorBox =
    o.error && o.status === 'failed'
      ? h(
          'div',
          { class: 'panel', id: 'ca-error' },
          h('h2', {}, t('order.why_issuance_failed')),
          h('p', {}, o.error.title || ''),
          h('p', { class: 'error-text' }, o.error.detail || ''),
        )
      : null;

  const forms = h('div', { id: 'action-forms' });
  const events = ev.ok ? ev.json.events : [];
  const trail = table({
    id: 'events',
    rows: events,
    empty: t('order.no_events_yet'),
    columns: [
      { key: 'at', label: t('order.when'), cell: (e) => fmtTime(e.at) },
      { key: 'actor', label: t('order.who'), cell: (e) => actorName(e.actor) },
      { key: 'action', label: t('order.what'), cell: (e) => auditLabel(e.action) },
      { key: 'peer', label: t('order.from'), cls: 'names', cell: (e) => peerName(e.peer) },
      { key: 'detail', label: t('order.detail'), cls: 'wrap', cell: (e) => e.detail || '' },
    ],
  });
  const actions = o.actions.length
    ? h(
        'div',
        { class: 'actions' },
        o.actions.map((a) =>
          h(
            'button',
            {
              type: 'button',
              'data-action': a,
              class: actionClass(a),
              onclick: () => openAction(o, a, forms),
            },
            actionLabel(a),
          ),
        ),
      )
    : h(
        'p',
        { class: 'muted', id: 'no-actions' },
        o.status === 'superseded' ? t('order.this_order_was_replaced') : t('order.nothing_to_do'),
      );

  if (
    !draw(
      seq,
      h('h1', {}, t('title.order', { id: o.id })),
      h(
        'div',
        { class: 'panel' },
        h(
          'dl',
          { class: 'facts' },
          facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
      ),
      errorBox,
      h('div', { class: 'panel' }, h('h2', {}, t('order.actions')), actions, forms),
      o.status === 'issued' ? installHelp(o) : null,
      h('div', { class: 'panel' }, h('h2', {}, t('order.history')), trail),
    )
  )
    return;
  if (focusAction && o.actions.includes(focusAction)) openAction(o, focusAction, forms);
}

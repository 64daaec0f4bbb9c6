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
  return a === 'agent' ? 'The server (automatic)' : a;
}

export async function orderView(seq, id, focusAction) {
  const [res, ev] = await Promise.all([api('GET', `/orders/${id}`), api('GET', `/orders/${id}/events`)]);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const o = res.json;
  const facts = [
    ['Status', h('div', { class: 'status-cell' }, statusBadge(o.status), viaBadge(o), nextLine(o))],
    ['Request', o.id],
    ['Order ID', o.order_number || '—'],
    ['Product', productName(o.product)],
    ['Names', h('span', { class: 'names' }, o.sans.join(', '))],
    [
      'Key',
      `${o.key_type} (${o.key_source === 'csr' ? 'your own key, from your CSR' : 'made and kept by the server'})`,
    ],
    ['Validity', `${o.validity_days} days`],
    ['Automatic renewal', o.auto_renew ? 'yes' : 'no'],
    ['Price', `${o.price} credits`],
    ['Kind', kindText(o)],
    ['Requester', o.requester],
    ['Approved by', o.approved_by ? `${o.approved_by}, ${fmtTime(o.approved_at)}` : '—'],
    ['Created', fmtTime(o.created_at)],
    ['Updated', fmtTime(o.updated_at)],
  ];
  // a sub-account's order, seen from above; the account's custom fields
  if (o.account && o.account !== session.me.user.account)
    facts.push(['Account', h('span', { id: 'order-account' }, o.account)]);
  for (const [k, v] of Object.entries(o.fields || {})) facts.push([k, h('span', { 'data-custom-field': k }, v)]);
  if (o.superseded_by)
    facts.splice(1, 0, [
      'Superseded by',
      h('a', { href: `#/order/${o.superseded_by}`, id: 'superseded-by' }, o.superseded_by),
    ]);
  if (o.signatory_by) facts.push(['Signatory', `${o.signatory_by}, ${fmtTime(o.signatory_at)}`]);
  if (o.rejection_reason) facts.push(['Rejection reason', h('span', { id: 'rejection-reason' }, o.rejection_reason)]);
  if (o.certificate) {
    facts.push(['Serial', h('span', { class: 'names', id: 'cert-serial' }, o.certificate.serial)]);
    facts.push(['Valid', `${fmtTime(o.certificate.not_before)} – ${fmtTime(o.certificate.not_after)}`]);
    facts.push(['Issuer', issuerName(o.certificate.issuer)]);
    facts.push(['On this server', h('span', { id: 'served' }, served(o) ? t('served.yes') : t('served.no'))]);
  }
  if (o.attempts) facts.push(['Issuance attempts', String(o.attempts)]);
  const errorBox =
    o.error && o.status === 'failed'
      ? h(
          'div',
          { class: 'panel', id: 'ca-error' },
          h('h2', {}, 'Why issuance failed'),
          h('p', {}, o.error.title || ''),
          h('p', { class: 'error-text' }, o.error.detail || ''),
        )
      : null;

  const forms = h('div', { id: 'action-forms' });
  const events = ev.ok ? ev.json.events : [];
  const trail = table({
    id: 'events',
    rows: events,
    empty: 'No events yet.',
    columns: [
      { key: 'at', label: 'When', cell: (e) => fmtTime(e.at) },
      { key: 'actor', label: 'Who', cell: (e) => actorName(e.actor) },
      { key: 'action', label: 'What', cell: (e) => auditLabel(e.action) },
      { key: 'peer', label: 'From', cls: 'names', cell: (e) => peerName(e.peer) },
      { key: 'detail', label: 'Detail', cls: 'wrap', cell: (e) => e.detail || '' },
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
        o.status === 'superseded'
          ? 'This order was replaced: act on the newer order.'
          : 'Nothing to do on this order now.',
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
      h('div', { class: 'panel' }, h('h2', {}, 'Actions'), actions, forms),
      o.status === 'issued' ? installHelp(o) : null,
      h('div', { class: 'panel' }, h('h2', {}, 'History'), trail),
    )
  )
    return;
  if (focusAction && o.actions.includes(focusAction)) openAction(o, focusAction, forms);
}

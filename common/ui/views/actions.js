// The forms behind an order's actions, the same from the list and from the detail: every
// state or money action is confirmed (money ones with price, balance before → after and
// the resulting expiry), runs once, and can be closed without doing anything.
import { api, idempotencyKey } from '../api.js';
import {
  actionButton,
  clearErrors,
  confirmPanel,
  field,
  flash,
  fmtDate,
  h,
  onceSubmit,
  problemText,
  showProblem,
} from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { session, isAdmin } from '../session.js';
import { refreshBalance, refreshWaiting, saveBlob } from './common.js';

const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];
const revokeReasons = () => [
  ['unspecified', t('actions.no_particular_reason')],
  ['keyCompromise', t('actions.private_key_was_exposed')],
  ['affiliationChanged', t('actions.organization_changed')],
  ['superseded', t('actions.replaced_by_another_certificate')],
  ['cessationOfOperation', t('actions.site_closed')],
];

export function actionLabel(a) {
  return t(`action.${a}`);
}

export function actionClass(a) {
  if (a === 'pay' || a === 'approve') return 'primary';
  if (['reject', 'revoke', 'cancel', 'signatory_reject'].includes(a)) return 'danger';
  return '';
}

const lines = (el) =>
  el.value
    .split(/\s+/)
    .map((x) => x.trim())
    .filter(Boolean);

function closeBtn(host) {
  return h(
    'button',
    { type: 'button', class: 'close', 'data-close': '1', onclick: () => host.replaceChildren() },
    t('form.close'),
  );
}

// What a renewal (or paying) would do to the balance and the expiry.
function moneyLines(o, price, renewal = false) {
  const out = [];
  const bal = session.credits;
  out.push(
    h(
      'p',
      { class: 'money' },
      `${t('money.price')}: `,
      h('strong', { class: 'confirm-price' }, t('money.credits', { n: price })),
    ),
  );
  if (bal !== null && bal !== undefined) {
    out.push(h('p', { class: 'money confirm-balance' }, t('money.balance', { before: bal, after: bal - price })));
    if (bal < price) out.push(h('p', { class: 'error-text' }, t('money.short', { price, balance: bal })));
  }
  // a renewal: the server says what it gives (the time left carried over, within the CA's maximum)
  const r = renewal ? o.renewal : null;
  const days = r ? r.validity_days : o.validity_days;
  const until = r ? new Date(r.not_after) : new Date(Date.now() + o.validity_days * 86400000);
  const carried = r && r.carries_over && r.carried_over_days > 0;
  out.push(
    h(
      'p',
      { class: 'money confirm-expiry' },
      carried
        ? t(r.capped ? 'money.renewal_expiry_capped' : 'money.renewal_expiry', {
            date: fmtDate(until),
            days,
            carried: r.carried_over_days,
          })
        : t('money.expiry', { days, date: fmtDate(until) }),
    ),
  );
  if (r && r.capped)
    out.push(h('p', { class: 'muted confirm-capped' }, t('money.renewal_capped', { max: r.max_days })));
  if (r && !r.carries_over) out.push(h('p', { class: 'muted confirm-capped' }, t('money.renewal_no_carry')));
  if (o.certificate && o.certificate.not_after) {
    out.push(
      h('p', { class: 'muted' }, t('money.current_expiry', { date: fmtDate(new Date(o.certificate.not_after)) })),
    );
  }
  return out;
}

function reasonForm(o, host, { label, button, path, bodyKey, required, danger, done }) {
  const input = h('textarea', { id: `reason-${path.replace('/', '-')}`, maxlength: 1024, rows: 3 });
  const go = h(
    'button',
    {
      type: 'submit',
      class: danger ? 'danger' : 'primary',
      disabled: required,
      id: `confirm-${path.replace('/', '-')}`,
    },
    button,
  );
  if (required)
    input.addEventListener('input', () => {
      go.disabled = input.value.trim() === '';
    });
  const form = h(
    'form',
    { class: 'inline-form action-form' },
    field(label, input, required ? t('actions.required_up_1024_characters') : t('actions.optional'), 'reason'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('div', { class: 'actions' }, go, closeBtn(host)),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    if (required && input.value.trim() === '') return;
    const body = {};
    if (input.value.trim()) body[bodyKey] = input.value;
    const res = await api('POST', `/orders/${o.id}/${path}`, body);
    if (!res.ok) {
      showProblem(form, res, { [bodyKey]: 'reason' });
      return;
    }
    flash(t('ok.done', { action: button }));
    refreshWaiting();
    if (done) done(res.json);
    else navigate(`#/order/${o.id}`);
  });
  host.replaceChildren(form);
  input.focus();
}

export async function downloadChain(o, which = 'chain') {
  const res = await api('GET', `/orders/${o.id}/certificate`);
  if (!res.ok) {
    flash(problemText(res), false);
    return;
  }
  let pem = res.text;
  let name = `${o.id}.pem`;
  if (which === 'leaf') {
    pem = `${pem.split('-----END CERTIFICATE-----')[0]}-----END CERTIFICATE-----\n`;
    name = `${o.id}-certificate.pem`;
  } else if (which === 'chain-only') {
    const parts = pem
      .split(/(?<=-----END CERTIFICATE-----\n?)/)
      .slice(1)
      .join('');
    pem = parts.trim() ? `${parts.trim()}\n` : '';
    name = `${o.id}-chain.pem`;
  }
  saveBlob(pem, name, 'application/pem-certificate-chain');
  flash(t('ok.downloaded', { id: o.id, name }));
}

export function openAction(o, a, host) {
  flash('');
  if (a === 'reject')
    return reasonForm(o, host, {
      label: t('actions.reason_for_rejection'),
      button: t('actions.reject_order'),
      path: 'reject',
      bodyKey: 'reason',
      required: true,
      danger: true,
    });
  if (a === 'signatory_reject')
    return reasonForm(o, host, {
      label: t('actions.reason_for_refusing_consent'),
      button: t('actions.refuse_consent'),
      path: 'signatory/reject',
      bodyKey: 'reason',
      required: true,
      danger: true,
    });
  if (a === 'cancel')
    return reasonForm(o, host, {
      label: t('actions.note_why_order_cancelled'),
      button: t('actions.cancel_order'),
      path: 'cancel',
      bodyKey: 'note',
      required: false,
      danger: true,
      done: () => {
        refreshBalance();
        navigate(`#/order/${o.id}`);
      },
    });
  if (a === 'approve') {
    return reasonForm(o, host, {
      label: t('actions.comment'),
      button: t('actions.approve_order'),
      path: 'approve',
      bodyKey: 'comment',
      required: false,
      // the same next page from the list and the detail: the payment when this viewer pays
      done: (n) => navigate(n.actions.includes('pay') ? `#/summary/${o.id}` : `#/order/${o.id}`),
    });
  }
  if (a === 'signatory_approve') {
    host.replaceChildren(
      confirmPanel({
        id: 'confirm-signatory',
        title: t('actions.give_signatory_consent_extended', { id: o.id }),
        onYes: async () => {
          const r = await api('POST', `/orders/${o.id}/signatory/approve`, {});
          if (!r.ok) {
            flash(problemText(r), false);
            return;
          }
          flash(t('ok.done', { action: actionLabel(a) }));
          navigate(`#/order/${o.id}`);
        },
      }),
    );
    return host.querySelector('button').focus();
  }
  if (a === 'retry') {
    host.replaceChildren(
      confirmPanel({
        id: 'confirm-retry',
        title: t('actions.try_issuing_again', { id: o.id }),
        onYes: async () => {
          const r = await api('POST', `/orders/${o.id}/retry`, {});
          if (!r.ok) {
            flash(problemText(r), false);
            return;
          }
          flash(t('ok.done', { action: actionLabel(a) }));
          navigate(`#/order/${o.id}`);
        },
      }),
    );
    return host.querySelector('button').focus();
  }
  if (a === 'pay') return navigate(`#/summary/${o.id}`);
  if (a === 'download') return downloadPanel(o, host);
  if (a === 'renew') {
    host.replaceChildren(
      confirmPanel({
        id: 'confirm-renew',
        title: t('actions.renew_for', { id: o.id, names: o.sans.join(', ') }),
        lines: [
          ...moneyLines(o, o.price, true),
          h(
            'p',
            { class: 'muted' },
            isAdmin() ? t('actions.renewal_charged_when_you') : t('actions.renewal_goes_your_administrator'),
          ),
        ],
        yes: t('actions.create_renewal'),
        onYes: async () => {
          const r = await api('POST', `/orders/${o.id}/renew`, {}, { 'Idempotency-Key': idempotencyKey() });
          if (!r.ok) {
            flash(problemText(r), false);
            return;
          }
          flash(t('renew.created', { id: r.json.id }));
          refreshWaiting();
          navigate(r.json.actions.includes('pay') ? `#/summary/${r.json.id}` : `#/order/${r.json.id}`);
        },
      }),
    );
    return host.querySelector('button').focus();
  }
  if (a === 'key') return keyPanel(o, host);
  if (a === 'revoke') {
    const sel = h(
      'select',
      { id: 'revoke-reason' },
      revokeReasons().map(([v, l]) => h('option', { value: v }, l)),
    );
    const form = h(
      'form',
      { class: 'inline-form action-form' },
      h('p', {}, t('actions.revoking_stops_being_served', { id: o.id })),
      field(t('actions.reason'), sel, null, 'reason'),
      h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
      h(
        'div',
        { class: 'actions' },
        h('button', { class: 'danger', type: 'submit', id: 'confirm-revoke' }, t('actions.revoke_certificate')),
        closeBtn(host),
      ),
    );
    onceSubmit(form, async () => {
      const res = await api('POST', `/orders/${o.id}/revoke`, { reason: sel.value });
      if (!res.ok) {
        showProblem(form, res);
        return;
      }
      flash(t('ok.revoked'));
      navigate(`#/order/${o.id}`);
    });
    host.replaceChildren(form);
    return sel.focus();
  }
  if (a === 'sans') {
    const add = h('textarea', { id: 'sans-add', rows: 3 });
    const rm = h('textarea', { id: 'sans-remove', rows: 3 });
    const form = h(
      'form',
      { class: 'action-form' },
      h('p', {}, t('actions.current_names', { names: o.sans.join(', ') })),
      field(t('actions.names_add_one_per'), add, t('actions.added_names_are_charged'), 'add'),
      field(t('actions.names_remove_one_per'), rm, null, 'remove'),
      h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
      h(
        'div',
        { class: 'actions' },
        h('button', { class: 'primary', type: 'submit', id: 'confirm-sans' }, t('actions.reissue_with_these_names')),
        closeBtn(host),
      ),
    );
    onceSubmit(form, async () => {
      clearErrors(form);
      const res = await api('POST', `/orders/${o.id}/sans`, { add: lines(add), remove: lines(rm) });
      if (!res.ok) {
        showProblem(form, res, { sans: 'add', common_name: 'remove' });
        return;
      }
      flash(t('reissue.created', { id: res.json.id }));
      navigate(`#/order/${res.json.id}`);
    });
    host.replaceChildren(form);
    return add.focus();
  }
  if (a === 'reissue' || a === 'csr') {
    const csr = h('textarea', { id: `${a}-csr`, rows: 6, placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
    const kt = h(
      'select',
      { id: 'reissue-key-type' },
      h('option', { value: '' }, t('actions.key_same_as_before')),
      KEY_TYPES.map((k) => h('option', { value: k }, k)),
    );
    const form = h(
      'form',
      { class: 'action-form' },
      a === 'reissue' ? h('p', {}, t('actions.reissue_gives_s_names', { id: o.id })) : null,
      field(a === 'csr' ? 'CSR (PEM)' : t('actions.your_own_csr_optional'), csr, null, 'csr'),
      a === 'reissue' ? field(t('actions.key_type'), kt, null, 'key_type') : null,
      h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { class: 'primary', type: 'submit', id: `confirm-${a}` },
          a === 'csr' ? t('actions.submit_csr') : t('actions.reissue'),
        ),
        closeBtn(host),
      ),
    );
    onceSubmit(form, async () => {
      clearErrors(form);
      let res;
      if (a === 'csr') {
        res = await api('PUT', `/orders/${o.id}/csr`, { csr: csr.value });
      } else {
        const body = {};
        if (csr.value.trim()) body.csr = csr.value;
        if (kt.value) body.key_type = kt.value;
        res = await api('POST', `/orders/${o.id}/reissue`, body, { 'Idempotency-Key': idempotencyKey() });
      }
      if (!res.ok) {
        showProblem(form, res);
        return;
      }
      flash(a === 'csr' ? t('actions.csr_submitted') : t('reissue.created', { id: res.json.id }));
      navigate(`#/order/${res.json.id}`);
    });
    host.replaceChildren(form);
    return csr.focus();
  }
  return null;
}

function keyPanel(o, host) {
  host.replaceChildren(
    confirmPanel({
      id: 'confirm-key-panel',
      danger: true,
      title: t('actions.private_key_secret_whoever'),
      yes: t('actions.download_private_key'),
      onYes: async () => {
        const res = await api('GET', `/orders/${o.id}/key`);
        if (!res.ok) {
          flash(problemText(res), false);
          return;
        }
        saveBlob(res.text, `${o.id}.key`, 'application/x-pem-file');
        flash(t('ok.key'));
      },
    }),
  );
  host.querySelector('button').id = 'confirm-key';
  host.querySelector('button').focus();
}

function downloadPanel(o, host) {
  const btns = [
    actionButton(t('actions.full_chain_certificate_intermediates'), () => downloadChain(o, 'chain'), {
      id: 'download-chain',
      class: 'primary',
    }),
    actionButton(t('actions.certificate_only'), () => downloadChain(o, 'leaf'), { id: 'download-leaf' }),
    actionButton(t('actions.intermediates_only_pem_chain'), () => downloadChain(o, 'chain-only'), {
      id: 'download-intermediates',
    }),
  ];
  // PKCS#12 holds the private key: administrators only, like the key download, audited
  const p12 = o.actions.includes('key') ? pkcs12Form(o) : null;
  host.replaceChildren(
    h(
      'div',
      { class: 'panel action-form', id: 'download-panel' },
      h('p', {}, t('actions.download_of', { id: o.id })),
      h('div', { class: 'actions' }, btns, closeBtn(host)),
      p12,
    ),
  );
  btns[0].focus();
}

function pkcs12Form(o) {
  const pw = h('input', { id: 'p12-password', type: 'password', autocomplete: 'new-password' });
  const form = h(
    'form',
    { class: 'inline-form', id: 'p12-form' },
    h('h3', {}, t('actions.pkcs_12_file_p12')),
    h('p', { class: 'hint' }, t('actions.contains_private_key_protected')),
    field(t('actions.password_for_file'), pw, t('actions.at_least_8_characters'), 'password'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
    h('button', { type: 'submit', class: 'danger', id: 'p12-download' }, t('actions.download_pkcs_12')),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const r = await fetch(`api/v1/orders/${o.id}/pkcs12`, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {
        Accept: 'application/x-pkcs12, application/problem+json',
        'Content-Type': 'application/json',
        'X-CSRF-Token': session.me.csrf_token,
      },
      body: JSON.stringify({ password: pw.value }),
    }).catch(() => null);
    if (!r || !r.ok) {
      const json = r ? await r.json().catch(() => null) : null;
      showProblem(form, { status: r ? r.status : 0, json });
      return;
    }
    saveBlob(await r.arrayBuffer(), `${o.id}.p12`, 'application/x-pkcs12');
    pw.value = '';
    flash(t('ok.pkcs12', { id: o.id }));
  });
  return form;
}

// certinext web page: orders, approval, payment and certificates, over the REST API only.
// Every piece of text from the API is placed with textContent, never parsed as HTML.

const STATUS = {
  pending_parent_approval: 'Order Pending for Parent Approval',
  pending_approval: 'Order Pending for Approval',
  awaiting_payment: 'Order Summary & Payment',
  pending_signatory: 'Pending Signatory Approval',
  pending_csr: 'Waiting for CSR',
  processing: 'Processing',
  issued: 'Issued',
  rejected: 'Rejected',
  cancelled: 'Cancelled',
  failed: 'Failed',
  revoked: 'Revoked',
  expired: 'Expired',
};
const ACTION_LABEL = {
  approve: 'Approve', reject: 'Reject', signatory_approve: 'Give signatory consent',
  signatory_reject: 'Refuse consent', pay: 'Pay now', csr: 'Submit CSR', cancel: 'Cancel',
  download: 'Download', key: 'Private key', renew: 'Renew', reissue: 'Reissue',
  sans: 'Add/remove SANs', revoke: 'Revoke', retry: 'Retry',
};
const REVOKE_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded',
  'cessationOfOperation'];
const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

let me = null; // {user, csrf_token}
const main = () => document.getElementById('main');

// ---- DOM helpers -----------------------------------------------------------------

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function render(...nodes) {
  const m = main();
  m.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
  m.focus();
}

function flash(text, ok = true) {
  const f = document.getElementById('flash');
  f.className = ok ? 'ok' : 'bad';
  f.textContent = text || '';
}

function statusBadge(status) {
  return h('span', { class: `status ${status}`, 'data-status': status }, STATUS[status] || status);
}

function field(label, input, hint, name) {
  const id = input.id || `f-${name || label.replace(/\W+/g, '-').toLowerCase()}`;
  input.id = id;
  return h('div', { class: 'field', 'data-field': name || '' },
    h('label', { for: id }, label), input, hint ? h('span', { class: 'hint' }, hint) : null,
    h('span', { class: 'error-text', 'aria-live': 'polite' }));
}

function showFieldError(form, name, text) {
  const f = form.querySelector(`[data-field="${name}"]`) || form.querySelector('[data-field="form"]');
  if (!f) { flash(text, false); return; }
  f.classList.add('invalid');
  f.querySelector('.error-text').textContent = text;
}

function clearErrors(form) {
  form.querySelectorAll('.field').forEach((f) => {
    f.classList.remove('invalid');
    const e = f.querySelector('.error-text');
    if (e) e.textContent = '';
  });
}

function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

// ---- API ---------------------------------------------------------------------------

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (me && me.csrf_token && method !== 'GET') headers['X-CSRF-Token'] = me.csrf_token;
  const r = await fetch(`api/v1${path}`, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const ctype = r.headers.get('Content-Type') || '';
  let json = null;
  let text = null;
  if (ctype.includes('json')) json = await r.json().catch(() => null);
  else text = await r.text();
  if (r.status === 401 && path !== '/session') {
    me = null;
    location.hash = '#/login';
  }
  return { status: r.status, ok: r.ok, json, text, headers: r.headers };
}

function problemText(res) {
  if (res.json && res.json.detail) return res.json.detail;
  return `The request failed (HTTP ${res.status}).`;
}

// ---- login ------------------------------------------------------------------------

function loginView() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error-text', id: 'login-error', role: 'alert' });
  // the second factor, asked for when the server says it is needed (issue 16)
  const totp = h('input', { name: 'totp', autocomplete: 'one-time-code', inputmode: 'numeric' });
  const totpField = field('Authenticator code (or a recovery code)', totp, null, 'totp');
  totpField.hidden = true;
  const form = h('form', {
    class: 'panel login',
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const body = { username: user.value, password: pass.value };
      if (!totpField.hidden) body.totp = totp.value.trim();
      const res = await api('POST', '/session', body);
      if (res.status === 200) {
        me = res.json;
        pass.value = '';
        setupChrome();
        location.hash = me.user.totp_enrolment_required ? '#/security' : '#/orders';
      } else if (res.status === 429) {
        err.textContent = `Your account is locked for now: ${problemText(res)}`;
      } else if (res.status === 401 && res.json && /totp_required$/.test(res.json.type)) {
        totpField.hidden = false;
        err.textContent = 'Enter the 6-digit code of your authenticator app.';
        totp.focus();
      } else if (res.status === 401 && !totpField.hidden) {
        err.textContent = 'Wrong or already used code.';
        totp.value = '';
      } else if (res.status === 401) {
        err.textContent = 'Wrong user name or password.';
      } else {
        err.textContent = problemText(res);
      }
    },
  }, h('h1', {}, 'Log in'), field('User name', user, null, 'username'),
  field('Password', pass, null, 'password'), totpField, err,
  h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in'));
  render(form);
  user.focus();
}

function setupChrome() {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  nav.querySelectorAll('[data-admin]').forEach((a) => { a.hidden = me.user.role !== 'admin'; });
  document.getElementById('who').hidden = false;
  const roles = { admin: 'Administrator', standard: 'Standard User', basic: 'Basic User' };
  document.getElementById('who-name').textContent =
    `${me.user.name} · ${roles[me.user.role] || me.user.role} · ${me.user.account}`;
}

// ---- orders list -------------------------------------------------------------------

const listState = { status: '', q: '', cursors: [''] };

async function ordersView() {
  const params = new URLSearchParams({ limit: '20' });
  if (listState.status) params.set('status', listState.status);
  if (listState.q) params.set('q', listState.q);
  const cursor = listState.cursors[listState.cursors.length - 1];
  if (cursor) params.set('cursor', cursor);
  const res = await api('GET', `/orders?${params}`);
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }

  const statusSel = h('select', { id: 'filter-status', 'aria-label': 'Filter by status' },
    h('option', { value: '' }, 'All statuses'),
    Object.entries(STATUS).map(([k, v]) => h('option', { value: k, selected: k === listState.status }, v)));
  const q = h('input', { id: 'filter-q', type: 'search', placeholder: 'Search names', value: listState.q, 'aria-label': 'Search names' });
  const filters = h('form', {
    class: 'row panel',
    onsubmit: (ev) => {
      ev.preventDefault();
      listState.status = statusSel.value;
      listState.q = q.value.trim();
      listState.cursors = [''];
      ordersView();
    },
  }, field('Status', statusSel, null, 'status'), field('Search', q, null, 'q'),
  h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));
  statusSel.addEventListener('change', () => filters.requestSubmit());

  const rows = res.json.orders.map((o) => h('tr', { 'data-order': o.id },
    h('td', { 'data-label': 'Request' }, h('a', { href: `#/order/${o.id}` }, o.id)),
    h('td', { 'data-label': 'Order ID' }, o.order_number || '—'),
    h('td', { 'data-label': 'Names', class: 'names' }, o.sans.join(', ')),
    h('td', { 'data-label': 'Product' }, o.product),
    h('td', { 'data-label': 'Status' }, statusBadge(o.status)),
    h('td', { 'data-label': 'Requester' }, o.requester),
    h('td', { 'data-label': 'Created' }, fmtTime(o.created_at)),
    h('td', { 'data-label': 'Actions' }, actionButtons(o))));
  const table = h('table', { class: 'responsive', id: 'orders' },
    h('thead', {}, h('tr', {}, ['Request', 'Order ID', 'Names', 'Product', 'Status', 'Requester', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No orders.'))));
  const pager = h('div', { class: 'pager' },
    h('button', {
      disabled: listState.cursors.length <= 1,
      onclick: () => { listState.cursors.pop(); ordersView(); },
    }, '← Newer'),
    h('button', {
      disabled: !res.json.next_cursor,
      onclick: () => { listState.cursors.push(res.json.next_cursor); ordersView(); },
    }, 'Older →'));
  render(h('div', { class: 'row' }, h('h1', {}, 'Orders')), filters,
    h('div', { class: 'panel' }, table, pager));
}

function actionButtons(o) {
  return h('div', { class: 'actions' }, o.actions.map((a) => h('button', {
    type: 'button',
    class: a === 'pay' || a === 'approve' ? 'primary' : (a === 'reject' || a === 'revoke' ? 'danger' : ''),
    'data-action': a,
    onclick: () => runAction(o, a),
  }, ACTION_LABEL[a] || a)));
}

// Actions that need no more input run here; the others open the order with its form.
async function runAction(o, a) {
  flash('');
  if (a === 'approve') {
    const res = await api('POST', `/orders/${o.id}/approve`, {});
    if (!res.ok) { flash(problemText(res), false); return; }
    location.hash = res.json.status === 'awaiting_payment' ? `#/summary/${o.id}` : `#/order/${o.id}`;
  } else if (a === 'pay') {
    location.hash = `#/summary/${o.id}`;
  } else if (a === 'download') {
    await downloadChain(o);
  } else if (['renew', 'retry', 'signatory_approve'].includes(a)) {
    const path = a === 'signatory_approve' ? 'signatory/approve' : a;
    const res = await api('POST', `/orders/${o.id}/${path}`, {});
    if (!res.ok) { flash(problemText(res), false); return; }
    flash(a === 'renew' ? `Renewal ${res.json.id} created.` : `${ACTION_LABEL[a]}: done.`);
    location.hash = `#/order/${res.json.id}`;
    route();
  } else {
    location.hash = `#/order/${o.id}/${a}`;
  }
}

function saveBlob(text, name, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: name, id: 'download-link' }, name);
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(url); link.remove(); }, 5000);
}

async function downloadChain(o) {
  const res = await api('GET', `/orders/${o.id}/certificate`);
  if (!res.ok) { flash(problemText(res), false); return; }
  saveBlob(res.text, `${o.id}.pem`, 'application/pem-certificate-chain');
  flash(`Certificate chain of ${o.id} downloaded.`);
}

// ---- order detail ---------------------------------------------------------------------

async function orderView(id, focusAction) {
  const [res, ev] = await Promise.all([api('GET', `/orders/${id}`), api('GET', `/orders/${id}/events`)]);
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const o = res.json;
  const facts = [
    ['Status', statusBadge(o.status)], ['Request', o.id], ['Order ID', o.order_number || '—'],
    ['Product', o.product], ['Common name', o.common_name], ['Names', h('span', { class: 'names' }, o.sans.join(', '))],
    ['Key', `${o.key_type} (${o.key_source === 'csr' ? 'your CSR' : 'made by the server'})`],
    ['Validity', `${o.validity_days} days`], ['Automatic renewal', o.auto_renew ? 'yes' : 'no'],
    ['Price', `${o.price} credits`], ['Kind', o.parent ? `${o.kind} of ${o.parent}` : (KIND_LABEL[o.kind] || o.kind)],
    ['Requester', o.requester], ['Approved by', o.approved_by ? `${o.approved_by}, ${fmtTime(o.approved_at)}` : '—'],
    ['Created', fmtTime(o.created_at)], ['Updated', fmtTime(o.updated_at)],
  ];
  if (o.signatory_by) facts.push(['Signatory', `${o.signatory_by}, ${fmtTime(o.signatory_at)}`]);
  // a sub-account's order, seen from above; custom fields (issue 16)
  if (o.account !== me.user.account) facts.push(['Account', h('span', { id: 'order-account' }, o.account)]);
  for (const [k, v] of Object.entries(o.fields || {})) facts.push([k, h('span', { 'data-custom-field': k }, v)]);
  if (o.rejection_reason) facts.push(['Rejection reason', h('span', { id: 'rejection-reason' }, o.rejection_reason)]);
  if (o.certificate) {
    facts.push(['Serial', h('span', { class: 'names', id: 'cert-serial' }, o.certificate.serial)]);
    facts.push(['Valid', `${fmtTime(o.certificate.not_before)} – ${fmtTime(o.certificate.not_after)}`]);
    facts.push(['Issuer', o.certificate.issuer]);
  }
  if (o.attempts) facts.push(['Issuance attempts', String(o.attempts)]);
  const errorBox = o.error ? h('div', { class: 'panel', id: 'ca-error' }, h('h2', {}, 'CA error'),
    h('p', {}, o.error.title || ''), h('p', { class: 'error-text' }, o.error.detail || ''),
    h('p', { class: 'muted names' }, o.error.type || '')) : null;

  const forms = h('div', { id: 'action-forms' });
  const events = ev.ok ? ev.json.events : [];
  const trail = h('table', { class: 'responsive', id: 'events' },
    h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'From', 'Detail'].map((t) => h('th', {}, t)))),
    h('tbody', {}, events.map((e) => h('tr', {},
      h('td', { 'data-label': 'When' }, fmtTime(e.at)), h('td', { 'data-label': 'Who' }, e.actor),
      h('td', { 'data-label': 'What' }, e.action), h('td', { 'data-label': 'From' }, e.peer || ''),
      h('td', { 'data-label': 'Detail' }, e.detail || '')))));

  render(h('h1', {}, `Order ${o.id}`),
    h('div', { class: 'panel' }, h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
    errorBox,
    h('div', { class: 'panel' }, h('h2', {}, 'Actions'),
      o.actions.length ? h('div', { class: 'actions' }, o.actions.map((a) => h('button', {
        type: 'button', 'data-action': a,
        class: a === 'pay' || a === 'approve' ? 'primary' : (a === 'reject' || a === 'revoke' ? 'danger' : ''),
        onclick: () => showActionForm(o, a, forms),
      }, ACTION_LABEL[a] || a))) : h('p', { class: 'muted' }, 'Nothing to do on this order now.'), forms),
    h('div', { class: 'panel' }, h('h2', {}, 'Audit trail'), trail));
  if (focusAction && o.actions.includes(focusAction)) showActionForm(o, focusAction, forms);
}

function reasonForm(o, forms, { label, button, path, bodyKey, required, danger }) {
  const input = h('textarea', { id: `reason-${path.replace('/', '-')}`, maxlength: 1024, rows: 3 });
  const go = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', disabled: required, id: `confirm-${path.replace('/', '-')}` }, button);
  if (required) input.addEventListener('input', () => { go.disabled = input.value.trim() === ''; });
  const form = h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      if (required && input.value.trim() === '') { showFieldError(form, 'reason', 'Please give a reason.'); return; }
      const body = {};
      if (input.value.trim()) body[bodyKey] = input.value;
      const res = await api('POST', `/orders/${o.id}/${path}`, body);
      if (!res.ok) { showFieldError(form, 'reason', problemText(res)); return; }
      flash(`${button}: done.`);
      orderView(o.id);
    },
  }, field(label, input, required ? 'Required, up to 1024 characters.' : 'Optional.', 'reason'), go);
  forms.replaceChildren(form);
  input.focus();
}

function showActionForm(o, a, forms) {
  flash('');
  if (a === 'reject') return reasonForm(o, forms, { label: 'Reason for the rejection', button: 'Reject order', path: 'reject', bodyKey: 'reason', required: true, danger: true });
  if (a === 'signatory_reject') return reasonForm(o, forms, { label: 'Reason for refusing consent', button: 'Refuse consent', path: 'signatory/reject', bodyKey: 'reason', required: true, danger: true });
  if (a === 'cancel') return reasonForm(o, forms, { label: 'Note', button: 'Cancel order', path: 'cancel', bodyKey: 'note', required: false, danger: true });
  if (a === 'approve') return reasonForm(o, forms, { label: 'Comment', button: 'Approve order', path: 'approve', bodyKey: 'comment', required: false });
  if (a === 'pay') { location.hash = `#/summary/${o.id}`; return null; }
  if (a === 'download') return downloadChain(o);
  if (a === 'key') {
    forms.replaceChildren(h('div', { class: 'panel', role: 'alert' },
      h('p', {}, 'The private key is a secret: whoever holds it can impersonate this site. The download is written to the audit log.'),
      h('button', {
        class: 'danger', id: 'confirm-key',
        onclick: async () => {
          const res = await api('GET', `/orders/${o.id}/key`);
          if (!res.ok) { flash(problemText(res), false); return; }
          saveBlob(res.text, `${o.id}.key`, 'application/x-pem-file');
          flash('Private key downloaded; the download was audited.');
        },
      }, 'Download the private key')));
    return null;
  }
  if (a === 'revoke') {
    const sel = h('select', { id: 'revoke-reason' }, REVOKE_REASONS.map((r) => h('option', { value: r }, r)));
    const form = h('form', {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const res = await api('POST', `/orders/${o.id}/revoke`, { reason: sel.value });
        if (!res.ok) { showFieldError(form, 'reason', problemText(res)); return; }
        flash('Revoked: the certificate is no longer served.');
        orderView(o.id);
      },
    }, field('Reason (RFC 5280)', sel, null, 'reason'), h('button', { class: 'danger', type: 'submit', id: 'confirm-revoke' }, 'Revoke certificate'));
    forms.replaceChildren(form);
    return sel.focus();
  }
  if (a === 'sans') {
    const add = h('textarea', { id: 'sans-add', rows: 3 });
    const rm = h('textarea', { id: 'sans-remove', rows: 3 });
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        const lines = (t) => t.value.split(/\s+/).map((x) => x.trim()).filter(Boolean);
        const res = await api('POST', `/orders/${o.id}/sans`, { add: lines(add), remove: lines(rm) });
        if (!res.ok) { showFieldError(form, 'add', problemText(res)); return; }
        flash(`Reissue ${res.json.id} created with the new names.`);
        location.hash = `#/order/${res.json.id}`;
      },
    }, field('Names to add (one per line)', add, 'Added names are charged.', 'add'),
    field('Names to remove (one per line)', rm, null, 'remove'),
    h('button', { class: 'primary', type: 'submit' }, 'Reissue with these names'));
    forms.replaceChildren(form);
    return add.focus();
  }
  if (a === 'reissue' || a === 'csr') {
    const csr = h('textarea', { id: `${a}-csr`, rows: 6, placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
    const kt = h('select', { id: 'reissue-key-type' }, h('option', { value: '' }, 'same as before'), KEY_TYPES.map((k) => h('option', { value: k }, k)));
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        let res;
        if (a === 'csr') {
          res = await api('PUT', `/orders/${o.id}/csr`, { csr: csr.value });
        } else {
          const body = {};
          if (csr.value.trim()) body.csr = csr.value;
          if (kt.value) body.key_type = kt.value;
          res = await api('POST', `/orders/${o.id}/reissue`, body);
        }
        if (!res.ok) { showFieldError(form, 'csr', problemText(res)); return; }
        flash(a === 'csr' ? 'CSR submitted.' : `Reissue ${res.json.id} created.`);
        location.hash = `#/order/${res.json.id}`;
        route();
      },
    }, field(a === 'csr' ? 'CSR (PEM)' : 'Your own CSR (optional)', csr, null, 'csr'),
    a === 'reissue' ? field('Key type', kt, null, 'key_type') : null,
    h('button', { class: 'primary', type: 'submit' }, a === 'csr' ? 'Submit CSR' : 'Reissue'));
    forms.replaceChildren(form);
    return csr.focus();
  }
  return runAction(o, a);
}

// ---- Order Summary & Payment ---------------------------------------------------------------

async function summaryView(id) {
  const [res, acct] = await Promise.all([api('GET', `/orders/${id}`), api('GET', '/account')]);
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const o = res.json;
  const credits = acct.ok ? acct.json.credits : null;
  const result = h('div', { id: 'pay-result', 'aria-live': 'polite' });
  const payBtn = o.actions.includes('pay') ? h('button', {
    class: 'primary', id: 'pay-now',
    onclick: async () => {
      payBtn.disabled = true;
      const key = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
      const r = await api('POST', `/orders/${o.id}/pay`, {}, { 'Idempotency-Key': key });
      if (!r.ok) {
        payBtn.disabled = false;
        result.replaceChildren(h('p', { class: 'error-text' }, problemText(r)));
        return;
      }
      result.replaceChildren(h('p', {}, 'Payment done. Your Order ID is'),
        h('p', { class: 'order-id', id: 'order-id' }, r.json.order_number),
        h('p', {}, h('a', { href: '#/orders', id: 'back-to-orders' }, 'Back to the orders')));
      payBtn.remove();
    },
  }, 'Pay now') : null;
  render(h('h1', {}, 'Order Summary & Payment'),
    h('div', { class: 'panel summary' },
      h('dl', { class: 'facts' },
        h('dt', {}, 'Request'), h('dd', {}, o.id),
        h('dt', {}, 'Names'), h('dd', { class: 'names' }, o.sans.join(', ')),
        h('dt', {}, 'Product'), h('dd', {}, o.product),
        h('dt', {}, 'Validity'), h('dd', {}, `${o.validity_days} days`),
        h('dt', {}, 'Status'), h('dd', {}, statusBadge(o.status)),
        h('dt', {}, 'Credits available'), h('dd', { id: 'credits' }, credits === null ? '—' : String(credits)),
        h('dt', {}, 'Price'), h('dd', { class: 'total', id: 'price' }, `${o.price} credits`)),
      o.order_number ? h('p', {}, 'Order ID: ', h('span', { class: 'order-id', id: 'order-id' }, o.order_number)) : null,
      payBtn, result));
  if (payBtn) payBtn.focus();
}

// ---- new request ----------------------------------------------------------------------------

async function newView() {
  const res = await api('GET', '/products');
  const products = res.ok ? res.json.products : [];
  const product = h('select', { id: 'product' }, products.map((p) => h('option', { value: p.code },
    `${p.code} — ${p.type.toUpperCase()}, up to ${p.max_sans} name${p.max_sans > 1 ? 's' : ''}${p.wildcard ? ', wildcard' : ''}, ${p.price} credits${p.price_per_additional_name ? ` + ${p.price_per_additional_name}/name` : ''}`)));
  const names = h('textarea', { id: 'names', rows: 4, placeholder: 'www.example.com' });
  const keyType = h('select', { id: 'key-type' }, KEY_TYPES.map((k) => h('option', { value: k }, k)));
  const useCsr = h('input', { type: 'checkbox', id: 'use-csr' });
  const csr = h('textarea', { id: 'csr', rows: 6, placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
  const validity = h('input', { id: 'validity', type: 'number', min: 1, placeholder: 'the product maximum' });
  const autoRenew = h('input', { type: 'checkbox', id: 'auto-renew' });
  const csrField = field('CSR (PEM)', csr, 'Its names must equal the names above.', 'csr');
  csrField.hidden = true;
  // the account's custom fields for the chosen product (issue 16)
  const fdefs = await api('GET', '/fields');
  const custom = h('div', { id: 'custom-fields' });
  const customInputs = {};
  const drawCustom = () => {
    custom.replaceChildren();
    for (const d of (fdefs.ok ? fdefs.json.fields : [])) {
      if (d.products && !d.products.includes(product.value)) continue;
      const input = d.type === 'choice'
        ? h('select', { name: `field-${d.name}` }, h('option', { value: '' }, '—'), d.choices.map((c) => h('option', { value: c }, c)))
        : h('input', { name: `field-${d.name}`, type: d.type === 'number' ? 'number' : 'text', required: d.required });
      customInputs[d.name] = { input, type: d.type };
      custom.append(field(d.required ? `${d.name} (required)` : d.name, input, null, `fields.${d.name}`));
    }
  };
  product.addEventListener('change', drawCustom);
  drawCustom();
  useCsr.addEventListener('change', () => { csrField.hidden = !useCsr.checked; });
  const form = h('form', {
    class: 'panel',
    id: 'new-request',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const list = names.value.split(/\s+/).map((x) => x.trim()).filter(Boolean);
      if (!list.length) { showFieldError(form, 'names', 'Enter at least one name.'); return; }
      const body = { product: product.value, common_name: list[0], sans: list, key_type: keyType.value, auto_renew: autoRenew.checked };
      if (validity.value) body.validity_days = Number(validity.value);
      if (useCsr.checked) { body.key_source = 'csr'; body.csr = csr.value; }
      const fields = {};
      for (const [k, { input, type }] of Object.entries(customInputs)) {
        if (input.isConnected && input.value !== '') fields[k] = type === 'number' ? Number(input.value) : input.value;
      }
      if (Object.keys(fields).length) body.fields = fields;
      const r = await api('POST', '/orders', body);
      if (r.status === 201) {
        flash(r.json.status === 'pending_approval'
          ? `Request ${r.json.id} is waiting for an administrator's approval.`
          : `Request ${r.json.id} created.`);
        location.hash = r.json.status === 'awaiting_payment' ? `#/summary/${r.json.id}` : '#/orders';
        return;
      }
      const code = r.json && r.json.type ? r.json.type.split(':').pop() : '';
      const detail = problemText(r);
      if (['invalid_domain', 'domain_not_owned'].includes(code)) showFieldError(form, 'names', detail);
      else if (['invalid_csr', 'weak_key'].includes(code)) showFieldError(form, 'csr', detail);
      else if (/validity/.test(detail)) showFieldError(form, 'validity', detail);
      else if (r.json && r.json.field && r.json.field.startsWith('fields.')) showFieldError(form, r.json.field, detail);
      else if (/product/.test(detail)) showFieldError(form, 'product', detail);
      else if (/names?\b|SAN/.test(detail)) showFieldError(form, 'names', detail);
      else showFieldError(form, 'form', detail);
    },
  }, field('Product', product, null, 'product'),
  field('Names, one per line', names, 'The first is the common name. A wildcard (*.example.com) only where the product allows it.', 'names'),
  h('div', { class: 'row' }, field('Key type', keyType, null, 'key_type'), field('Validity (days)', validity, null, 'validity')),
  h('div', { class: 'field' }, h('label', {}, useCsr, ' I have my own key: paste a CSR')), csrField,
  h('div', { class: 'field' }, h('label', {}, autoRenew, ' Renew automatically')), custom,
  h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text' })),
  h('button', { class: 'primary', type: 'submit', id: 'submit-request' }, 'Submit request'));
  render(h('h1', {}, 'New certificate request'), form);
  names.focus();
}

// ---- account, users, tokens, audit, certificates ----------------------------------------------

async function accountView() {
  const acct = await api('GET', '/account');
  const parts = [h('h1', {}, 'Account'), h('div', { class: 'panel' }, h('dl', { class: 'facts' },
    h('dt', {}, 'Account'), h('dd', {}, acct.json ? acct.json.name : '—'),
    h('dt', {}, 'Credits'), h('dd', { id: 'account-credits', class: 'total' }, acct.json ? String(acct.json.credits) : '—')))];
  const auto = acct.json && acct.json.autossl;
  if (auto) {
    // AutoSSL: the provider's policy, and the domains it could not order for
    parts.push(h('div', { class: 'panel', id: 'autossl' }, h('h2', {}, 'Automatic certificates'),
      h('p', {}, `Every domain of this account gets a ${auto.product} certificate automatically${auto.include_www ? ' (with www.)' : ''}.`),
      auto.alerts.length ? h('ul', { class: 'error-text', id: 'autossl-alerts' },
        auto.alerts.map((a) => h('li', { 'data-name': a.name }, `${a.detail} (tried again ${fmtTime(a.retry_at)})`))) : null));
  }
  if (me.user.role === 'admin') {
    const led = await api('GET', '/ledger?limit=100');
    parts.push(h('div', { class: 'panel' }, h('h2', {}, 'Ledger'), h('table', { class: 'responsive', id: 'ledger' },
      h('thead', {}, h('tr', {}, ['When', 'Change', 'Balance', 'Order', 'Reason', 'By'].map((t) => h('th', {}, t)))),
      h('tbody', {}, (led.json ? led.json.ledger : []).map((e) => h('tr', {},
        h('td', { 'data-label': 'When' }, fmtTime(e.at)), h('td', { 'data-label': 'Change' }, (e.delta > 0 ? '+' : '') + e.delta),
        h('td', { 'data-label': 'Balance' }, String(e.balance)), h('td', { 'data-label': 'Order' }, e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—'),
        h('td', { 'data-label': 'Reason' }, e.reason), h('td', { 'data-label': 'By' }, e.actor || '')))))));
  }
  render(...parts);
}

async function usersView() {
  const res = await api('GET', '/users');
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const name = h('input', { id: 'new-user-name', autocomplete: 'off' });
  const role = h('select', { id: 'new-user-role' }, ['basic', 'standard', 'admin'].map((r) => h('option', { value: r }, r)));
  const pw = h('input', { id: 'new-user-password', type: 'password', autocomplete: 'new-password' });
  const sig = h('input', { id: 'new-user-signatory', type: 'checkbox' });
  const form = h('form', {
    class: 'panel',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const body = { name: name.value, role: role.value, authorized_signatory: sig.checked };
      if (pw.value) body.password = pw.value;
      const r = await api('POST', '/users', body);
      if (!r.ok) { showFieldError(form, 'name', problemText(r)); return; }
      flash(`User ${r.json.name} added.`);
      usersView();
    },
  }, h('h2', {}, 'Add a user'), h('div', { class: 'row' }, field('User name', name, 'a-z 0-9 . _ -', 'name'),
    field('Role', role, null, 'role'), field('Password', pw, 'At least 8 characters; or leave empty for API tokens only.', 'password')),
  h('div', { class: 'field' }, h('label', {}, sig, ' Authorized signatory (EV consent)')),
  h('button', { class: 'primary', type: 'submit' }, 'Add user'));
  const patch = async (u, body) => {
    const r = await api('PATCH', `/users/${encodeURIComponent(u.name)}`, body);
    if (!r.ok) flash(problemText(r), false); else { flash(`User ${u.name} updated.`); usersView(); }
  };
  const table = h('table', { class: 'responsive', id: 'users' },
    h('thead', {}, h('tr', {}, ['User', 'Role', 'Signatory', 'State', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, res.json.users.map((u) => {
      const sel = h('select', { 'aria-label': `Role of ${u.name}`, onchange: (e) => patch(u, { role: e.target.value }) },
        ['basic', 'standard', 'admin'].map((r) => h('option', { value: r, selected: r === u.role }, r)));
      return h('tr', {},
        h('td', { 'data-label': 'User' }, u.name), h('td', { 'data-label': 'Role' }, sel),
        h('td', { 'data-label': 'Signatory' }, h('button', { onclick: () => patch(u, { authorized_signatory: !u.authorized_signatory }) }, u.authorized_signatory ? 'Yes — remove' : 'No — make signatory')),
        h('td', { 'data-label': 'State' }, u.disabled ? 'disabled' : 'active'),
        h('td', {}, h('button', { class: u.disabled ? '' : 'danger', onclick: () => patch(u, { disabled: !u.disabled }) }, u.disabled ? 'Enable' : 'Disable')));
    })));
  render(h('h1', {}, 'Users'), h('div', { class: 'panel' }, table), form);
}

async function tokensView() {
  const res = await api('GET', '/tokens');
  const name = h('input', { id: 'token-name', placeholder: 'control panel' });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, max: 3650, placeholder: 'never' });
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  const form = h('form', {
    class: 'panel',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const body = { name: name.value };
      if (days.value) body.expires_in_days = Number(days.value);
      const r = await api('POST', '/tokens', body);
      if (!r.ok) { showFieldError(form, 'token-name', problemText(r)); return; }
      await tokensView();
      document.getElementById('new-token').replaceChildren(
        h('p', {}, 'Copy the token now: it is shown only this once.'),
        h('p', { class: 'secret', id: 'token-secret' }, r.json.token));
    },
  }, h('h2', {}, 'Create a token'), h('div', { class: 'row' }, field('Name', name, null, 'token-name'), field('Expires in days', days, null, 'token-days')),
  h('button', { class: 'primary', type: 'submit' }, 'Create token'), shown);
  const rows = (res.json ? res.json.tokens : []).map((t) => h('tr', {},
    h('td', { 'data-label': 'Name' }, t.name), h('td', { 'data-label': 'User' }, t.user),
    h('td', { 'data-label': 'Prefix' }, h('span', { class: 'names' }, `cin_${t.prefix}_…`)),
    h('td', { 'data-label': 'Expires' }, t.expires_at ? fmtTime(t.expires_at) : 'never'),
    h('td', {}, h('button', {
      class: 'danger',
      onclick: async () => {
        const r = await api('DELETE', `/tokens/${t.id}`);
        if (r.status === 204) { flash('Token deleted.'); tokensView(); } else flash(problemText(r), false);
      },
    }, 'Delete'))));
  render(h('h1', {}, 'API tokens'), form, h('div', { class: 'panel' }, h('table', { class: 'responsive', id: 'tokens' },
    h('thead', {}, h('tr', {}, ['Name', 'User', 'Token', 'Expires', ''].map((t) => h('th', {}, t)))), h('tbody', {}, rows))));
}

const auditState = { cursors: [''] };
async function auditView() {
  const cursor = auditState.cursors[auditState.cursors.length - 1];
  const res = await api('GET', `/audit?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const table = h('table', { class: 'responsive', id: 'audit' },
    h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Order', 'From', 'Detail'].map((t) => h('th', {}, t)))),
    h('tbody', {}, res.json.events.map((e) => h('tr', {},
      h('td', { 'data-label': 'When' }, fmtTime(e.at)), h('td', { 'data-label': 'Who' }, e.actor),
      h('td', { 'data-label': 'What' }, e.action), h('td', { 'data-label': 'Order' }, e.order ? h('a', { href: `#/order/${e.order}` }, e.order) : '—'),
      h('td', { 'data-label': 'From' }, e.peer || ''), h('td', { 'data-label': 'Detail' }, e.detail || '')))));
  render(h('h1', {}, 'Audit log'), h('div', { class: 'panel' }, table, h('div', { class: 'pager' },
    h('button', { disabled: auditState.cursors.length <= 1, onclick: () => { auditState.cursors.pop(); auditView(); } }, '← Newer'),
    h('button', { disabled: !res.json.next_cursor, onclick: () => { auditState.cursors.push(res.json.next_cursor); auditView(); } }, 'Older →'))));
}

const certState = { sort: 'not_after', dir: 1, within: '' };
// how a certificate's lineage began: AutoSSL's and imported ones say so
const ORIGIN_LABEL = { automatic: 'Automatic', import: 'Imported' };
const KIND_LABEL = { automatic: 'Automatic (AutoSSL)', import: 'Imported' };

async function certificatesView() {
  const res = await api('GET', `/certificates${certState.within ? `?expiring_within_days=${certState.within}` : ''}`);
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const list = res.json.certificates.slice().sort((a, b) => {
    const x = a[certState.sort]; const y = b[certState.sort];
    return (x < y ? -1 : x > y ? 1 : 0) * certState.dir;
  });
  const sortBtn = (key, label) => h('button', {
    class: 'sort', 'data-sort': key,
    onclick: () => { certState.dir = certState.sort === key ? -certState.dir : 1; certState.sort = key; certificatesView(); },
  }, label + (certState.sort === key ? (certState.dir > 0 ? ' ▲' : ' ▼') : ''));
  const within = h('select', { id: 'expiring', onchange: (e) => { certState.within = e.target.value; certificatesView(); } },
    [['', 'All'], ['30', 'Expiring within 30 days'], ['7', 'Within 7 days']].map(([v, t]) => h('option', { value: v, selected: v === certState.within }, t)));
  render(h('h1', {}, 'Certificates'), h('div', { class: 'row panel' }, field('Show', within, null, 'expiring')),
    h('div', { class: 'panel' }, h('table', { class: 'responsive', id: 'certificates' },
      h('thead', {}, h('tr', {}, h('th', {}, sortBtn('common_name', 'Name')), h('th', {}, 'Order'), h('th', {}, 'Serial'),
        h('th', {}, sortBtn('not_after', 'Expires')), h('th', {}, sortBtn('days_left', 'Days left')), h('th', {}, 'Renewal'))),
      h('tbody', {}, list.map((c) => h('tr', {},
        h('td', { 'data-label': 'Name', class: 'names' }, c.names.join(', '),
          ORIGIN_LABEL[c.origin] ? h('span', { class: 'status origin', 'data-origin': c.origin }, ORIGIN_LABEL[c.origin]) : null),
        h('td', { 'data-label': 'Order' }, h('a', { href: `#/order/${c.order}` }, c.order)),
        h('td', { 'data-label': 'Serial', class: 'names' }, c.serial),
        h('td', { 'data-label': 'Expires' }, fmtTime(c.not_after)),
        h('td', { 'data-label': 'Days left' }, String(c.days_left)),
        h('td', { 'data-label': 'Renewal' }, c.renewal_alert ? h('span', { class: 'error-text' }, c.renewal_alert.detail || 'renewal failed') : (c.auto_renew ? 'automatic' : 'manual'))))))));
}

// ---- ACME credentials (issue 13): a self-contained view ---------------------------------

function acmeCommands(dir, kid, key, name) {
  return [
    `certbot certonly --server ${dir} --eab-kid ${kid} --eab-hmac-key ${key} --webroot -w /var/www/html -d ${name}`,
    `lego --server ${dir} --eab --kid ${kid} --hmac ${key} --email you@${name} --accept-tos --http --http.webroot /var/www/html -d ${name} run`,
  ];
}

async function acmeView() {
  const res = await api('GET', '/acme/credentials');
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const dir = res.json.directory || '';
  const admin = me.user.role === 'admin';
  const name = h('input', { id: 'acme-name', placeholder: 'my server' });
  const user = h('input', { id: 'acme-user', placeholder: me.user.name });
  const product = h('input', { id: 'acme-product', placeholder: 'the DV product that fits' });
  const autoPay = h('input', { id: 'acme-auto-pay', type: 'checkbox' });
  const shown = h('div', { id: 'acme-new', 'aria-live': 'polite' });
  const form = h('form', {
    class: 'panel',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const body = { name: name.value };
      if (user.value) body.user = user.value;
      if (product.value) body.product = product.value;
      if (autoPay.checked) body.auto_pay = true;
      const r = await api('POST', '/acme/credentials', body);
      if (!r.ok) { showFieldError(form, 'acme-name', problemText(r)); return; }
      await acmeView();
      document.getElementById('acme-new').replaceChildren(
        h('p', {}, 'Copy the HMAC key now: it is shown only this once.'),
        h('p', {}, 'Key id: ', h('span', { class: 'secret', id: 'acme-kid' }, r.json.key_id)),
        h('p', {}, 'HMAC key: ', h('span', { class: 'secret', id: 'acme-hmac' }, r.json.hmac_key)),
        ...acmeCommands(r.json.directory, r.json.key_id, r.json.hmac_key, 'www.example.com')
          .map((c) => h('pre', { class: 'secret' }, c)));
    },
  }, h('h2', {}, 'Create an ACME credential'),
  h('p', {}, 'ACME directory: ', h('span', { class: 'names', id: 'acme-directory' }, dir)),
  h('div', { class: 'row' }, field('Name', name, null, 'acme-name'),
    admin ? field('For user', user, 'an administrator may create one for any user', 'acme-user') : null,
    field('Product', product, null, 'acme-product')),
  admin ? h('div', { class: 'field' }, h('label', {}, autoPay, ' Pay automatically (administrators only)')) : null,
  h('button', { class: 'primary', type: 'submit' }, 'Create credential'), shown);
  const rows = res.json.credentials.map((c) => h('tr', {},
    h('td', { 'data-label': 'Name' }, c.name), h('td', { 'data-label': 'User' }, c.user),
    h('td', { 'data-label': 'Key id' }, h('span', { class: 'names' }, c.key_id)),
    h('td', { 'data-label': 'Product' }, c.product || 'DV'),
    h('td', { 'data-label': 'Pays' }, c.auto_pay ? 'automatically' : 'Pay now'),
    h('td', { 'data-label': 'certbot' }, h('pre', {}, acmeCommands(dir, c.key_id, '<HMAC key>', 'www.example.com')[0])),
    h('td', {}, h('button', {
      class: 'danger',
      onclick: async () => {
        const r = await api('DELETE', `/acme/credentials/${c.id}`);
        if (r.status === 204) { flash('Credential deleted; its ACME accounts stop working.'); acmeView(); } else flash(problemText(r), false);
      },
    }, 'Delete'))));
  render(h('h1', {}, 'ACME credentials'), form, h('div', { class: 'panel' }, h('table', { class: 'responsive', id: 'acme-credentials' },
    h('thead', {}, h('tr', {}, ['Name', 'User', 'Key id', 'Product', 'Payment', 'certbot', ''].map((t) => h('th', {}, t)))), h('tbody', {}, rows))));
// ---- two-factor login and sub-accounts (issue 16) ----------------------------------------

// The authenticator: enrol (QR code drawn by the server as SVG, shown as an image, never
// parsed as HTML), confirm with a code, then the recovery codes, shown this once.
async function securityView() {
  const st = await api('GET', '/totp');
  const parts = [h('h1', {}, 'Two-factor login')];
  if (!st.ok) { render(h('p', { class: 'error-text' }, problemText(st))); return; }
  if (st.json.enrolled) {
    parts.push(h('div', { class: 'panel', id: 'totp-on' },
      h('p', {}, 'Your logins ask for a code from your authenticator app.'),
      st.json.required ? h('p', { class: 'muted' }, 'Your account requires it.') : null,
      h('button', {
        type: 'button', class: 'danger', id: 'totp-off',
        onclick: async () => {
          const r = await api('DELETE', '/totp');
          flash(r.ok ? 'Two-factor login is off.' : problemText(r), r.ok);
          securityView();
        },
      }, 'Turn off')));
    render(...parts);
    return;
  }
  if (st.json.required) {
    parts.push(h('p', { class: 'error-text', id: 'totp-required' },
      'Your account requires two-factor login: set up an authenticator app to continue.'));
  }
  const start = h('button', {
    type: 'button', class: 'primary', id: 'totp-start',
    onclick: async () => {
      const r = await api('POST', '/totp');
      if (!r.ok) { flash(problemText(r), false); return; }
      const img = h('img', {
        id: 'totp-qr', alt: 'QR code for your authenticator app', width: 220, height: 220,
        src: `data:image/svg+xml;base64,${btoa(r.json.qr_svg)}`,
      });
      const code = h('input', { name: 'code', id: 'totp-code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true });
      const out = h('div', { id: 'totp-result' });
      const form = h('form', {
        class: 'panel',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const c = await api('POST', '/totp/confirm', { code: code.value.trim() });
          if (!c.ok) { out.replaceChildren(h('p', { class: 'error-text' }, problemText(c))); return; }
          me.user.totp_enrolled = true;
          me.user.totp_enrolment_required = false;
          render(h('h1', {}, 'Two-factor login is on'), h('div', { class: 'panel' },
            h('p', {}, 'Keep these recovery codes somewhere safe. Each works once, instead of a code, if you lose your device. They are shown only now.'),
            h('ul', { id: 'recovery-codes', class: 'codes' }, c.json.recovery_codes.map((x) => h('li', {}, h('code', {}, x)))),
            h('a', { href: '#/orders' }, 'Continue')));
        },
      }, h('p', {}, 'Scan this code with your authenticator app, or type the key below; then enter the code it shows.'),
      img, h('p', {}, h('code', { id: 'totp-secret' }, r.json.secret)),
      field('Code from the app', code, null, 'code'), out,
      h('button', { class: 'primary', type: 'submit', id: 'totp-confirm' }, 'Turn on'));
      render(...parts, form);
      code.focus();
    },
  }, 'Set up an authenticator app');
  parts.push(h('div', { class: 'panel' }, h('p', {}, 'Log in with a code from an app on your phone as well as your password.'), start));
  render(...parts);
}

// A parent's view of the accounts below it, and of the orders waiting for its approval.
async function accountsView() {
  const res = await api('GET', '/accounts');
  if (!res.ok) { render(h('p', { class: 'error-text' }, problemText(res))); return; }
  const rows = res.json.accounts.map((a) => h('tr', { 'data-account': a.name },
    h('td', { 'data-label': 'Account' }, a.name), h('td', { 'data-label': 'Parent' }, a.parent || '—'),
    h('td', { 'data-label': 'Credits' }, String(a.credits)), h('td', { 'data-label': 'Billing' }, a.billing),
    h('td', { 'data-label': 'Parent approval' }, a.requires_parent_approval ? 'required' : 'no')));
  const pending = h('button', {
    type: 'button', class: 'primary', id: 'parent-pending',
    onclick: () => {
      listState.status = 'pending_parent_approval';
      listState.q = '';
      listState.cursors = [''];
      location.hash = '#/orders';
    },
  }, STATUS.pending_parent_approval);
  render(h('div', { class: 'row' }, h('h1', {}, 'Sub-accounts'), pending),
    h('div', { class: 'panel' }, h('table', { class: 'responsive', id: 'accounts' },
      h('thead', {}, h('tr', {}, ['Account', 'Parent', 'Credits', 'Billing', 'Parent approval'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
}

// ---- routing -----------------------------------------------------------------------------

async function route() {
  const parts = (location.hash || '#/orders').slice(2).split('/');
  if (!me) {
    const who = await api('GET', '/session');
    if (who.ok) { me = who.json; setupChrome(); }
  }
  if (!me || parts[0] === 'login') { loginView(); return; }
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === parts[0]));
  switch (parts[0]) {
    case 'order': return orderView(parts[1], parts[2]);
    case 'summary': return summaryView(parts[1]);
    case 'new': return newView();
    case 'account': return accountView();
    case 'users': return usersView();
    case 'tokens': return tokensView();
    case 'acme': return acmeView();
    case 'audit': return auditView();
    case 'certificates': return certificatesView();
    case 'security': return securityView();
    case 'accounts': return accountsView();
    default: return ordersView();
  }
}

document.getElementById('logout').addEventListener('click', async () => {
  await api('DELETE', '/session');
  me = null;
  flash('');
  location.hash = '#/login';
});
window.addEventListener('hashchange', () => { route(); });
// a new page from the menu starts without the previous page's message
document.getElementById('nav').addEventListener('click', (ev) => { if (ev.target.closest('a')) flash(''); });
route();

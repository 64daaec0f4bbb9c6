// A new request: products in customer words with a live total, the account's domains,
// the key choice with a CSR helper, errors beside the field the API names.
import { api } from '../api.js';
import { clearErrors, field, flash, h, onceSubmit, showFieldError, showProblem } from '../dom.js';
import { PRODUCTS, productName, t } from '../i18n.js';
import { navigate } from '../router.js';
import { draw } from './common.js';
import { copyButton, csrCommand } from './install.js';

const KEY_TYPES = [
  ['ec-p256', 'ECDSA P-256 (recommended)'],
  ['ec-p384', 'ECDSA P-384'],
  ['rsa-2048', 'RSA 2048'],
  ['rsa-3072', 'RSA 3072'],
  ['rsa-4096', 'RSA 4096'],
];

export function priceOf(p, n) {
  return p.price + Math.max(0, n - 1) * (p.price_per_additional_name || 0);
}

export async function newView(seq) {
  const [res, dom, fdefs] = await Promise.all([api('GET', '/products'), api('GET', '/domains'), api('GET', '/fields')]);
  const products = res.ok ? res.json.products : [];
  const product = h(
    'select',
    { id: 'product' },
    products.map((p) =>
      h(
        'option',
        { value: p.code, selected: p.code === 'dv-ssl' },
        `${productName(p.code)} — ${p.price} credits${p.price_per_additional_name ? ` + ${p.price_per_additional_name} per extra name` : ''}`,
      ),
    ),
  );
  const desc = h('p', { class: 'hint', id: 'product-desc' });
  const names = h('textarea', { id: 'names', rows: 4, placeholder: 'www.example.com' });
  const total = h('p', { class: 'total', id: 'total', 'aria-live': 'polite' });
  const keyType = h(
    'select',
    { id: 'key-type' },
    KEY_TYPES.map(([k, l]) => h('option', { value: k }, l)),
  );
  const useCsr = h('input', { type: 'checkbox', id: 'use-csr' });
  const csr = h('textarea', { id: 'csr', rows: 6, placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
  const cmd = h('pre', { id: 'csr-command' });
  const validity = h('input', { id: 'validity', type: 'number', min: 1, placeholder: 'the product maximum' });
  const autoRenew = h('input', { type: 'checkbox', id: 'auto-renew' });
  const csrField = h(
    'div',
    { hidden: true, id: 'csr-part' },
    h('p', { class: 'hint' }, 'Make the key and the CSR on your server with this command, then paste the .csr file:'),
    cmd,
    copyButton(() => cmd.textContent, 'Copy the openssl command'),
    field('CSR (PEM)', csr, 'Its names must equal the names above.', 'csr'),
  );
  const list = () =>
    names.value
      .split(/\s+/)
      .map((x) => x.trim())
      .filter(Boolean);
  const update = () => {
    const p = products.find((x) => x.code === product.value);
    desc.textContent =
      p && PRODUCTS[p.code]
        ? `${PRODUCTS[p.code][1]} Up to ${p.max_sans} name${p.max_sans > 1 ? 's' : ''}, ${p.validity_days} days at most.`
        : '';
    const n = Math.max(1, list().length);
    total.textContent = p ? `Total: ${priceOf(p, n)} credits for ${n} name${n > 1 ? 's' : ''}` : '';
    cmd.textContent = csrCommand(list(), keyType.value);
  };
  [product, names, keyType].forEach((el) => {
    el.addEventListener('input', update);
    el.addEventListener('change', update);
  });
  useCsr.addEventListener('change', () => {
    csrField.hidden = !useCsr.checked;
  });
  // the account's custom fields for the chosen product
  const custom = h('div', { id: 'custom-fields' });
  const customInputs = {};
  const drawCustom = () => {
    custom.replaceChildren();
    for (const d of fdefs.ok ? fdefs.json.fields : []) {
      if (d.products && !d.products.includes(product.value)) continue;
      const input =
        d.type === 'choice'
          ? h(
              'select',
              { name: `field-${d.name}` },
              h('option', { value: '' }, '—'),
              d.choices.map((c) => h('option', { value: c }, c)),
            )
          : h('input', {
              name: `field-${d.name}`,
              type: d.type === 'number' ? 'number' : 'text',
              required: d.required,
            });
      customInputs[d.name] = { input, type: d.type };
      custom.append(field(d.required ? `${d.name} (required)` : d.name, input, null, `fields.${d.name}`));
    }
  };
  product.addEventListener('change', drawCustom);
  drawCustom();
  const domains = dom.ok ? dom.json.domains.map((d) => d.name) : [];
  const form = h(
    'form',
    { class: 'panel', id: 'new-request' },
    field('Product', product, null, 'product'),
    desc,
    field(
      'Names, one per line',
      names,
      'The first is the common name. A wildcard (*.example.com) only where the product allows it.',
      'names',
    ),
    domains.length
      ? h(
          'p',
          { class: 'hint', id: 'domains' },
          `Your account may order for: ${domains.join(', ')} and their subdomains.`,
        )
      : null,
    total,
    h(
      'div',
      { class: 'row' },
      field('Key type', keyType, null, 'key_type'),
      field('Validity (days)', validity, null, 'validity'),
    ),
    h('div', { class: 'field check' }, h('label', {}, useCsr, ' I have my own key: paste a CSR')),
    csrField,
    h('div', { class: 'field check' }, h('label', {}, autoRenew, ' Renew automatically')),
    custom,
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text', role: 'alert' })),
    h('button', { class: 'primary', type: 'submit', id: 'submit-request' }, 'Submit request'),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    flash('');
    const l = list();
    if (!l.length) {
      showFieldError(form, 'names', 'Enter at least one name.');
      return;
    }
    const body = {
      product: product.value,
      common_name: l[0],
      sans: l,
      key_type: keyType.value,
      auto_renew: autoRenew.checked,
    };
    const fields = {};
    for (const [k, { input, type }] of Object.entries(customInputs)) {
      if (input.isConnected && input.value !== '') fields[k] = type === 'number' ? Number(input.value) : input.value;
    }
    if (Object.keys(fields).length) body.fields = fields;
    if (validity.value) body.validity_days = Number(validity.value);
    if (useCsr.checked) {
      body.key_source = 'csr';
      body.csr = csr.value;
    }
    const r = await api('POST', '/orders', body);
    if (r.status === 201) {
      flash(
        r.json.status === 'pending_approval'
          ? `Request ${r.json.id} is waiting for an administrator's approval.`
          : `Request ${r.json.id} created.`,
      );
      navigate(r.json.status === 'awaiting_payment' ? `#/summary/${r.json.id}` : '#/orders');
      return;
    }
    showProblem(form, r, { sans: 'names', common_name: 'names', validity_days: 'validity', key_source: 'csr' });
  });
  update();
  if (draw(seq, h('h1', {}, t('title.new')), form)) names.focus();
}

// A new request: products in customer words with a live total, the account's domains,
// the key choice with a CSR helper, errors beside the field the API names.
import { api } from '../api.js';
import { clearErrors, field, flash, h, onceSubmit, showFieldError, showProblem } from '../dom.js';
import { productDescription, productName, t } from '../i18n.js';
import { navigate } from '../router.js';
import { draw } from './common.js';
import { copyButton, csrCommand } from './install.js';

const keyTypes = () => [
  ['ec-p256', t('new.key_ec_p256')],
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
        p.price_per_additional_name
          ? t('new.product_option_extra', {
              product: productName(p.code),
              price: p.price,
              extra: p.price_per_additional_name,
            })
          : t('new.product_option', { product: productName(p.code), price: p.price }),
      ),
    ),
  );
  const desc = h('p', { class: 'hint', id: 'product-desc' });
  const names = h('textarea', { id: 'names', rows: 4, placeholder: 'www.example.com' });
  const total = h('p', { class: 'total', id: 'total', 'aria-live': 'polite' });
  const keyType = h(
    'select',
    { id: 'key-type' },
    keyTypes().map(([k, l]) => h('option', { value: k }, l)),
  );
  const useCsr = h('input', { type: 'checkbox', id: 'use-csr' });
  const csr = h('textarea', { id: 'csr', rows: 6, placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
  const cmd = h('pre', { id: 'csr-command' });
  const validity = h('input', { id: 'validity', type: 'number', min: 1, placeholder: t('new.validity_placeholder') });
  const autoRenew = h('input', { type: 'checkbox', id: 'auto-renew' });
  const csrField = h(
    'div',
    { hidden: true, id: 'csr-part' },
    h('p', { class: 'hint' }, t('new.make_key_and_csr')),
    cmd,
    copyButton(() => cmd.textContent, t('new.copy_openssl_command')),
    field('CSR (PEM)', csr, t('new.its_names_must_equal'), 'csr'),
  );
  const list = () =>
    names.value
      .split(/\s+/)
      .map((x) => x.trim())
      .filter(Boolean);
  const update = () => {
    const p = products.find((x) => x.code === product.value);
    const about = p ? productDescription(p.code) : '';
    desc.textContent = about
      ? t(p.max_sans > 1 ? 'new.product_desc' : 'new.product_desc_one', {
          desc: about,
          n: p.max_sans,
          days: p.validity_days,
        })
      : '';
    const n = Math.max(1, list().length);
    total.textContent = p ? t(n > 1 ? 'new.total' : 'new.total_one', { price: priceOf(p, n), n }) : '';
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
      custom.append(
        field(d.required ? t('new.field_required', { name: d.name }) : d.name, input, null, `fields.${d.name}`),
      );
    }
  };
  product.addEventListener('change', drawCustom);
  drawCustom();
  const domains = dom.ok ? dom.json.domains.map((d) => d.name) : [];
  const form = h(
    'form',
    { class: 'panel', id: 'new-request' },
    field(t('new.product'), product, null, 'product'),
    desc,
    field(t('new.names_one_per_line'), names, t('new.first_common_name_wildcard'), 'names'),
    domains.length
      ? h('p', { class: 'hint', id: 'domains' }, t('new.your_account_may_order', { domains: domains.join(', ') }))
      : null,
    total,
    h(
      'div',
      { class: 'row' },
      field(t('new.key_type'), keyType, null, 'key_type'),
      field(t('new.validity_days'), validity, null, 'validity'),
    ),
    h('div', { class: 'field check' }, h('label', {}, useCsr, t('new.own_csr'))),
    csrField,
    h('div', { class: 'field check' }, h('label', {}, autoRenew, t('new.renew_automatically'))),
    custom,
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text', role: 'alert' })),
    h('button', { class: 'primary', type: 'submit', id: 'submit-request' }, t('new.submit_request')),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    flash('');
    const l = list();
    if (!l.length) {
      showFieldError(form, 'names', t('new.enter_at_least_one'));
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
          ? t('new.request_waiting_for_administrator', { id: r.json.id })
          : t('new.request_created', { id: r.json.id }),
      );
      navigate(r.json.status === 'awaiting_payment' ? `#/summary/${r.json.id}` : '#/orders');
      return;
    }
    showProblem(form, r, { sans: 'names', common_name: 'names', validity_days: 'validity', key_source: 'csr' });
  });
  update();
  if (draw(seq, h('h1', {}, t('title.new')), form)) names.focus();
}

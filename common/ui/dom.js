// DOM helpers shared by every view. Text from the API is placed with textContent
// (never parsed as HTML).
import { t } from './i18n.js';

export function h(tag, attrs = {}, ...kids) {
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

// Replaces el's children, leaving out null, undefined and false (as h() does).
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

export const main = () => document.getElementById('main');

// Draws a page: the title follows its h1, the page starts at the top, focus moves to it.
export function render(...nodes) {
  const m = main();
  m.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
  const h1 = m.querySelector('h1');
  document.title = h1 ? `${h1.textContent} · ${t('title.suffix')}` : t('title.suffix');
  m.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// A message is shown on the page an action leads to, and goes at the navigation after.
let flashAge = 0;
export function flash(text, ok = true) {
  const f = document.getElementById('flash');
  f.className = ok ? 'ok' : 'bad';
  f.setAttribute('role', ok ? 'status' : 'alert');
  f.textContent = text || '';
  flashAge = 0;
}

// Called once per navigation.
export function flashNavigated() {
  const f = document.getElementById('flash');
  flashAge += 1;
  // a success message shows on the page its action leads to; an error is about the page left
  if (f.textContent && (flashAge > 1 || f.classList.contains('bad'))) flash('');
}

let fieldSeq = 0;
export function field(label, input, hint, name) {
  fieldSeq += 1;
  const id = input.id || `f-${name || 'x'}-${fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  const err = h('span', { class: 'error-text', id: `${id}-error`, 'aria-live': 'polite' });
  input.setAttribute('aria-describedby', [hintEl ? hintEl.id : null, err.id].filter(Boolean).join(' '));
  // an error goes once the user changes the input
  const clear = () => clearField(input.closest('.field'));
  input.addEventListener('input', clear);
  input.addEventListener('change', clear);
  return h('div', { class: 'field', 'data-field': name || '' }, h('label', { for: id }, label), input, hintEl, err);
}

function clearField(f) {
  if (!f) return;
  f.classList.remove('invalid');
  f.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
  const e = f.querySelector('.error-text');
  if (e) e.textContent = '';
}

export function showFieldError(form, name, text) {
  const f = form.querySelector(`[data-field="${name}"]`) || form.querySelector('[data-field="form"]');
  if (!f) {
    flash(text, false);
    return;
  }
  f.classList.add('invalid');
  const input = f.querySelector('input, select, textarea');
  if (input) input.setAttribute('aria-invalid', 'true');
  f.querySelector('.error-text').textContent = text;
}

// A problem answer beside the field it names (the API's `field`), else at the form's foot.
export function showProblem(form, res, fieldMap = {}) {
  const p = res.json || {};
  const name = p.field ? fieldMap[p.field] || p.field : 'form';
  const known = form.querySelector(`[data-field="${name}"]`);
  showFieldError(form, known ? name : 'form', problemText(res));
}

export function clearErrors(form) {
  form.querySelectorAll('.field').forEach(clearField);
}

export function problemText(res) {
  if (res.json && res.json.detail) return plain(res.json.detail);
  if (res.status === 0) return t('error.network');
  return t('error.http', { status: res.status });
}

// API details are written for developers too: drop paths and field names for customers.
export function plain(detail) {
  let s = String(detail)
    .replace(/\s*\((?:see |at )?\/?api\/v1\/[^)]*\)/g, '')
    .replace(/\/?api\/v1\/\S+/g, t('plain.server'))
    .replace(/\bvalidity_days\b/g, t('plain.validity'))
    .replace(/\bcommon_name\b/g, t('plain.common_name'))
    .replace(/\bkey_source csr\b/g, t('plain.key_csr'))
    .replace(/\bkey_source server\b/g, t('plain.key_server'))
    .replace(/\bkey_type\b/g, t('plain.key_type'))
    .replace(/\bsans\b/g, t('plain.sans'));
  // a sentence starts with a capital, unless it starts with a name (www.example.com)
  if (!/^\S*[.:@/]/.test(s)) s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

// Dates in the browser's locale, with the time zone shown.
export function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  });
}

export function fmtDate(d) {
  return d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

// A button whose work runs once at a time: disabled (and saying so) while it runs.
export function actionButton(label, work, attrs = {}) {
  const btn = h('button', { type: 'button', ...attrs }, label);
  btn.addEventListener('click', async (ev) => {
    if (btn.disabled || btn.dataset.busy) return;
    btn.dataset.busy = '1';
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      await work(ev, btn);
    } finally {
      delete btn.dataset.busy;
      btn.removeAttribute('aria-busy');
      if (btn.isConnected) btn.disabled = false;
    }
  });
  return btn;
}

// Runs a form's submit handler once at a time, with its submit button disabled meanwhile.
export function onceSubmit(form, work) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = '1';
    const btns = [...form.querySelectorAll('button[type="submit"]')];
    btns.forEach((b) => {
      b.disabled = true;
    });
    try {
      await work(ev);
    } finally {
      delete form.dataset.busy;
      btns.forEach((b) => {
        if (b.isConnected && !b.dataset.keepDisabled) b.disabled = false;
      });
    }
  });
  return form;
}

// A confirmation panel: the question, what it changes, and Yes / Close.
export function confirmPanel({ id, title, lines = [], yes, danger, onYes, onClose }) {
  const panel = h('div', { class: 'confirm panel', id, role: 'group', 'aria-label': title });
  const yesBtn = actionButton(
    yes || t('confirm.yes'),
    async () => {
      await onYes(panel);
    },
    {
      class: danger ? 'danger' : 'primary',
      id: id ? `${id}-yes` : null,
    },
  );
  const close = h(
    'button',
    {
      type: 'button',
      class: 'close',
      onclick: () => {
        panel.remove();
        if (onClose) onClose();
      },
    },
    t('form.close'),
  );
  panel.append(
    h('p', { class: 'confirm-title' }, title),
    ...lines.map((l) => (l instanceof Node ? l : h('p', {}, l))),
    h('div', { class: 'actions' }, yesBtn, close),
  );
  return panel;
}

// Two-factor login: enrol an authenticator (the QR code drawn by the server as SVG and
// shown as an image, never parsed as HTML), confirm with a code, then the recovery
// codes, shown this once; or turn it off.
import { api } from '../api.js';
import { clearErrors, field, flash, h, onceSubmit, problemText, showFieldError, showProblem } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { draw, errorPage } from './common.js';

export async function securityView(seq) {
  const st = await api('GET', '/totp');
  if (!st.ok) {
    errorPage(seq, problemText(st));
    return;
  }
  const title = h('h1', {}, t('title.security'));
  if (st.json.enrolled) {
    draw(
      seq,
      title,
      h(
        'div',
        { class: 'panel', id: 'totp-on' },
        h('p', {}, t('security.your_logins_ask_for')),
        st.json.required ? h('p', { class: 'muted' }, t('security.required')) : null,
        turnOffForm(),
      ),
    );
    return;
  }
  const required = st.json.required
    ? h('p', { class: 'error-text', id: 'totp-required' }, t('security.required_setup'))
    : null;
  const host = h('div', { id: 'totp-enrol' });
  const start = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      id: 'totp-start',
      onclick: async () => {
        const r = await api('POST', '/totp');
        if (!r.ok) {
          flash(problemText(r), false);
          return;
        }
        host.replaceChildren(enrolForm(seq, r.json));
        host.querySelector('#totp-code').focus();
      },
    },
    t('security.set_up_authenticator_app'),
  );
  draw(seq, title, required, h('div', { class: 'panel' }, h('p', {}, t('security.log_in_with_code')), start), host);
}

// Turning it off needs proof that the person at the keyboard is the user: a code of
// the app, a recovery code, or the password (a session alone is not enough).
function turnOffForm() {
  const code = h('input', { name: 'code', id: 'totp-off-code', autocomplete: 'one-time-code' });
  const password = h('input', {
    name: 'password',
    id: 'totp-off-password',
    type: 'password',
    autocomplete: 'current-password',
  });
  const form = h(
    'form',
    { id: 'totp-off-form' },
    field(t('totp.off_code'), code, null, 'code'),
    field(t('totp.off_password'), password, null, 'password'),
    h('div', { class: 'field', 'data-field': 'form' }, h('span', { class: 'error-text', role: 'alert' })),
    h('button', { type: 'submit', class: 'danger', id: 'totp-off' }, t('totp.off')),
  );
  onceSubmit(form, async () => {
    clearErrors(form);
    const body = code.value.trim() ? { code: code.value.trim() } : { password: password.value };
    if (!code.value.trim() && !password.value) {
      showFieldError(form, 'code', t('totp.off_need'));
      return;
    }
    const r = await api('DELETE', '/totp', body);
    if (!r.ok) {
      showProblem(form, r);
      return;
    }
    session.me.user.totp_enrolled = false;
    flash(t('ok.totp_off'), true);
    navigate('#/security');
  });
  return form;
}

function enrolForm(seq, enrol) {
  const img = h('img', {
    id: 'totp-qr',
    alt: t('security.qr_alt'),
    width: 220,
    height: 220,
    src: `data:image/svg+xml;base64,${btoa(enrol.qr_svg)}`,
  });
  const code = h('input', {
    name: 'code',
    id: 'totp-code',
    autocomplete: 'one-time-code',
    inputmode: 'numeric',
    required: true,
  });
  const out = h('div', { id: 'totp-result', role: 'alert' });
  const form = h(
    'form',
    { class: 'panel' },
    h('p', {}, t('security.scan_this_code_with')),
    img,
    h('p', {}, h('code', { id: 'totp-secret' }, enrol.secret)),
    field(t('security.code_from_app'), code, null, 'code'),
    out,
    h('button', { class: 'primary', type: 'submit', id: 'totp-confirm' }, t('security.turn_on')),
  );
  onceSubmit(form, async () => {
    const c = await api('POST', '/totp/confirm', { code: code.value.trim() });
    if (!c.ok) {
      out.replaceChildren(h('p', { class: 'error-text' }, problemText(c)));
      return;
    }
    session.me.user.totp_enrolled = true;
    session.me.user.totp_enrolment_required = false;
    draw(
      seq,
      h('h1', {}, t('title.security.on')),
      h(
        'div',
        { class: 'panel' },
        h('p', {}, t('security.keep_these_recovery_codes')),
        h(
          'ul',
          { id: 'recovery-codes', class: 'codes' },
          c.json.recovery_codes.map((x) => h('li', {}, h('code', {}, x))),
        ),
        h('a', { href: '#/orders' }, t('security.continue')),
      ),
    );
  });
  return form;
}

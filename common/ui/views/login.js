// The login page; after a lost session it says so and returns to where the user was.
import { api } from '../api.js';
import { field, h, render } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { setupChrome } from '../chrome.js';

export function loginView() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  // the second factor, asked for when the server says it is needed
  const totp = h('input', { name: 'totp', autocomplete: 'one-time-code', inputmode: 'numeric' });
  const totpField = field(t('login.authenticator_code_or_recovery'), totp, null, 'totp');
  totpField.hidden = true;
  const err = h('p', { class: 'error-text', id: 'login-error', role: 'alert' });
  const lost = session.lost ? h('p', { class: 'notice', id: 'session-lost', role: 'status' }, t('session.lost')) : null;
  const form = h(
    'form',
    {
      class: 'panel login',
      onsubmit: async (ev) => {
        ev.preventDefault();
        err.textContent = '';
        const body = { username: user.value, password: pass.value };
        if (!totpField.hidden) body.totp = totp.value.trim();
        const res = await api('POST', '/session', body);
        if (res.status === 200) {
          session.me = res.json;
          session.lost = false;
          pass.value = '';
          setupChrome();
          const back = session.returnTo;
          session.returnTo = null;
          if (session.me.user.totp_enrolment_required) navigate('#/security');
          else navigate(back && !back.startsWith('#/login') ? back : '#/orders');
        } else if (res.status === 429) {
          err.textContent = t('login.locked', { detail: res.json && res.json.detail ? res.json.detail : '' });
        } else if (res.status === 401 && res.json && /totp_required$/.test(res.json.type || '')) {
          totpField.hidden = false;
          err.textContent = t('login.totp');
          totp.focus();
        } else if (res.status === 401 && !totpField.hidden) {
          err.textContent = t('login.totp_wrong');
          totp.value = '';
          totp.focus();
        } else if (res.status === 401) {
          err.textContent = t('login.wrong_user_name_or');
          pass.setAttribute('aria-invalid', 'true');
          pass.setAttribute('aria-describedby', 'login-error');
        } else {
          err.textContent = res.json && res.json.detail ? res.json.detail : t('error.http', { status: res.status });
        }
      },
    },
    h('h1', {}, t('title.login')),
    lost,
    field(t('login.user_name'), user, null, 'username'),
    field(t('login.password'), pass, null, 'password'),
    totpField,
    err,
    h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, t('login.log_in')),
  );
  render(form);
  user.focus();
}

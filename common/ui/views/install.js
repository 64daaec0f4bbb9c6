// Installation help: nothing to do for names this server serves; per-server steps with
// copy buttons otherwise; and the openssl command that makes a CSR for given names.
import { t } from '../i18n.js';
import { h } from '../dom.js';
import { served } from './common.js';

export function copyButton(getText, label) {
  const btn = h('button', { type: 'button', class: 'copy', 'aria-label': label }, t('install.copy'));
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(getText());
      btn.textContent = t('install.copied');
    } catch {
      btn.textContent = t('install.select_and_copy');
    }
  });
  return btn;
}

function block(title, text) {
  return h(
    'div',
    { class: 'snippet' },
    h('h3', {}, title),
    h('pre', {}, text),
    copyButton(() => text, t('install.copy_instructions', { title })),
  );
}

export function installSteps(o) {
  const base = `${o.common_name.replace(/^\*\./, 'wildcard.')}`;
  return [
    [
      'nginx',
      `ssl_certificate     /etc/ssl/${base}/fullchain.pem;  # "Full chain" download\nssl_certificate_key /etc/ssl/${base}/privkey.pem;\n# then: nginx -t && systemctl reload nginx`,
    ],
    [
      'Apache',
      `SSLCertificateFile    /etc/ssl/${base}/fullchain.pem\nSSLCertificateKeyFile /etc/ssl/${base}/privkey.pem\n# then: apachectl configtest && systemctl reload apache2`,
    ],
    ['IIS', t('install.steps_iis')],
    ['cPanel', t('install.steps_cpanel')],
    ['Plesk', t('install.steps_plesk')],
  ];
}

export function installHelp(o) {
  if (served(o)) {
    return h(
      'div',
      { class: 'panel', id: 'install-help' },
      h('h2', {}, t('install.installation')),
      h('p', { class: 'ok-text' }, t('install.this_server_already_serves', { names: o.sans.join(', ') })),
      h(
        'details',
        {},
        h('summary', {}, t('install.installing_on_another_server')),
        installSteps(o).map(([n, s]) => block(n, s)),
      ),
    );
  }
  return h(
    'div',
    { class: 'panel', id: 'install-help' },
    h('h2', {}, t('install.installation')),
    h('p', {}, t('install.download_certificate_full_chain')),
    installSteps(o).map(([n, s]) => block(n, s)),
  );
}

// The exact command that makes a key and a CSR for these names.
export function csrCommand(names, keyType) {
  const cn = names[0] || 'www.example.com';
  const file = cn.replace(/^\*\./, 'wildcard.').replace(/[^a-z0-9.-]/gi, '_');
  const key = keyType.startsWith('rsa')
    ? `-newkey rsa:${keyType.split('-')[1]}`
    : `-newkey ec -pkeyopt ec_paramgen_curve:${keyType === 'ec-p384' ? 'P-384' : 'P-256'}`;
  const san = names.map((n) => `DNS:${n}`).join(',');
  return `openssl req -new ${key} -nodes -keyout ${file}.key -out ${file}.csr \\\n  -subj "/CN=${cn}" -addext "subjectAltName=${san}"`;
}

// Installation help: nothing to do for names this server serves; per-server steps with
// copy buttons otherwise; and the openssl command that makes a CSR for given names.
import { h } from '../dom.js';
import { served } from './common.js';

export function copyButton(getText, label) {
  const btn = h('button', { type: 'button', class: 'copy', 'aria-label': label }, 'Copy');
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(getText());
      btn.textContent = 'Copied';
    } catch {
      btn.textContent = 'Select and copy';
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
    copyButton(() => text, `Copy the ${title} instructions`),
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
    [
      'IIS',
      'Download the PKCS#12 file (ask your administrator), then in IIS Manager:\nServer Certificates → Import… → choose the .p12 file and its password;\nSite → Bindings… → https → select the certificate.',
    ],
    [
      'cPanel',
      'SSL/TLS → Manage SSL sites → paste the "Certificate only" download into Certificate (CRT),\nyour private key into Private Key (KEY) and the "Intermediates only" download into\nCertificate Authority Bundle (CABUNDLE) → Install Certificate.',
    ],
    [
      'Plesk',
      'Websites & Domains → SSL/TLS Certificates → Upload the certificate files:\nthe private key, the "Certificate only" download and the "Intermediates only" download as CA certificate.',
    ],
  ];
}

export function installHelp(o) {
  if (served(o)) {
    return h(
      'div',
      { class: 'panel', id: 'install-help' },
      h('h2', {}, 'Installation'),
      h(
        'p',
        { class: 'ok-text' },
        `This server already serves ${o.sans.join(', ')} with this certificate: nothing needs installing here.`,
      ),
      h(
        'details',
        {},
        h('summary', {}, 'Installing it on another server'),
        installSteps(o).map(([n, s]) => block(n, s)),
      ),
    );
  }
  return h(
    'div',
    { class: 'panel', id: 'install-help' },
    h('h2', {}, 'Installation'),
    h('p', {}, 'Download the certificate (full chain), then follow the steps for your server.'),
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

// The page's words, in one catalog: a translation replaces this file (or adds a locale
// to MESSAGES) and nothing else. t('key', {name: value}) fills {name} placeholders.

const MESSAGES = {
  en: {
    'app.name': 'certinext',
    'title.suffix': 'certinext — certificates',
    'title.account': 'Account',
    'title.audit': 'Audit log',
    'title.certificates': 'Certificates',
    'title.error': 'Something went wrong',
    'title.login': 'Log in',
    'title.new': 'New certificate request',
    'title.orders': 'Orders',
    'title.summary': 'Order Summary & Payment',
    'title.tokens': 'API tokens',
    'title.users': 'Users',
    'title.webhooks': 'Webhooks',
    'title.order': 'Order {id}',
    'title.acme': 'ACME credentials',
    'title.security': 'Two-factor login',
    'title.security.on': 'Two-factor login is on',
    'title.accounts': 'Sub-accounts',
    'title.domains': 'Domains',
    'nav.orders': 'Orders',
    'nav.new': 'New request',
    'nav.certificates': 'Certificates',
    'nav.account': 'Account',
    'nav.tokens': 'API tokens',
    'nav.users': 'Users',
    'nav.audit': 'Audit log',
    'nav.webhooks': 'Webhooks',
    'nav.acme': 'ACME',
    'nav.accounts': 'Sub-accounts',
    'nav.domains': 'Domains',
    'nav.security': 'Security',
    'nav.waiting': '{n} waiting for you',
    'status.pending_parent_approval': 'Order Pending for Parent Approval',
    'status.pending_approval': 'Order Pending for Approval',
    'status.awaiting_payment': 'Order Summary & Payment',
    'status.pending_signatory': 'Waiting for signatory consent',
    'status.pending_csr': 'Waiting for your CSR',
    'status.processing': 'Being issued',
    'status.issued': 'Issued',
    'status.rejected': 'Rejected',
    'status.cancelled': 'Cancelled',
    'status.failed': 'Issuance failed',
    'status.revoked': 'Revoked',
    'status.expired': 'Expired',
    'status.superseded': 'Superseded',
    'next.pending_approval.admin': 'Waiting for your approval.',
    'next.pending_approval': "Waiting for your administrator's approval.",
    'next.pending_parent_approval': "Waiting for the parent account's approval.",
    'next.awaiting_payment': 'Approved — pay to continue.',
    'next.pending_signatory': "Waiting for an authorized signatory's consent (EV).",
    'next.pending_csr': 'Paid — submit your CSR so the certificate can be issued.',
    'next.processing': 'Being issued: the certificate authority is at work; this takes a moment.',
    'next.issued.served': 'Live on this server: nothing needs installing.',
    'next.issued': 'Issued: download it and install it on your server.',
    'next.rejected': 'Rejected: see the reason. You can place a new request.',
    'next.cancelled': 'Cancelled: nothing more will happen.',
    'next.failed': 'Issuance failed: an administrator can retry it.',
    'next.revoked': 'Revoked: this certificate is no longer trusted or served.',
    'next.expired': 'Expired: place a renewal to keep the site secure.',
    'next.superseded': 'Superseded by {id}: that order holds the live certificate.',
    'kind.new': 'New certificate',
    'kind.renewal': 'Renewal of {parent}',
    'kind.reissue': 'Reissue of {parent}',
    'kind.automatic': 'Automatic (AutoSSL)',
    'kind.import': 'Imported',
    'origin.automatic': 'Automatic',
    'origin.import': 'Imported',
    'action.approve': 'Approve',
    'action.reject': 'Reject',
    'action.signatory_approve': 'Give signatory consent',
    'action.signatory_reject': 'Refuse consent',
    'action.pay': 'Pay now',
    'action.csr': 'Submit CSR',
    'action.cancel': 'Cancel order',
    'action.download': 'Download',
    'action.key': 'Private key',
    'action.renew': 'Renew',
    'action.reissue': 'Reissue',
    'action.sans': 'Add/remove names',
    'action.revoke': 'Revoke',
    'action.retry': 'Retry',
    'action.pkcs12': 'PKCS#12 file',
    'action.for': '{action} {id}',
    'form.close': 'Close',
    'form.save': 'Save',
    'form.working': 'Working…',
    'confirm.yes': 'Yes, go ahead',
    'money.price': 'Price',
    'money.balance': 'Credits: {before} → {after}',
    'money.short': 'Not enough credits: {price} needed, {balance} available.',
    'money.expiry': 'The new certificate is valid for {days} days from issuance, until about {date}.',
    'money.free': 'No charge.',
    'money.renewal_expiry':
      'The renewal is valid until about {date}: {days} days counted from the end of the current certificate, so the {carried} days it has left are not lost.',
    'money.renewal_expiry_capped':
      'The renewal is valid until about {date}: the {days} days bought, plus {carried} days of the time the current certificate has left.',
    'money.renewal_capped':
      'The built-in CA issues certificates of at most {max} days, so not all of the time the current certificate has left can be carried over.',
    'money.renewal_no_carry':
      "This product's CA counts the validity from issuance: the time the current certificate has left is not carried over.",
    'money.current_expiry': 'The current certificate expires {date}.',
    'summary.expiry': '{date} ({days} days from issuance)',
    'summary.expiry_renewal': '{date} ({days} days after the renewed certificate ends)',
    'summary.expiry_capped':
      "{date} (the built-in CA's maximum: not all of the renewed certificate's time could be carried over)",
    'header.credits': '{n} credits',
    'header.low': 'Low balance',
    'session.lost': 'Your session ended. Log in again to continue where you were.',
    'error.http': 'The request failed (HTTP {status}).',
    'error.network': 'The server could not be reached. Check your connection and try again.',
    'ok.done': '{action}: done.',
    'ok.notifications': 'Notification settings saved.',
    'account.account': 'Account',
    'account.credits': 'Credits',
    'account.low': 'Your balance is low: ask your provider for more credits before the next renewal.',
    'account.ledger': 'Ledger',
    'export.csv': 'Export CSV',
    'ledger.empty': 'No credit movements yet.',
    'ledger.when': 'When',
    'ledger.change': 'Change',
    'ledger.balance': 'Balance',
    'ledger.order': 'Order',
    'ledger.reason': 'Reason',
    'ledger.by': 'By',
    'autossl.title': 'Automatic certificates',
    'autossl.every': 'Every domain of this account gets a {product} certificate automatically.',
    'autossl.every_www': 'Every domain of this account gets a {product} certificate automatically (with www.).',
    'notify.title': 'E-mail notifications',
    'notify.hint':
      'Administrators hear of requests waiting for approval; requesters of approvals, rejections and issued certificates; both of expiring certificates and failed renewals.',
    'notify.email': 'Your e-mail address',
    'notify.on': 'Send me e-mails',
    'notify.events': 'The e-mails I want',
    'notify.account_title': "The account's notification addresses",
    'notify.account_emails': 'Addresses',
    'notify.account_hint':
      'Separated by commas. They receive what goes to administrators: requests waiting for approval, expiry warnings, failed renewals.',
    'notify.user_title': "A user's notification address",
    'notify.user': 'User',
    'notify.user_email': 'Their e-mail address',
    'notify.user_hint': 'Leave it empty to remove the address.',
    'event.order.created': 'A request waits for approval',
    'event.order.approved': 'My request was approved',
    'event.order.rejected': 'My request was rejected',
    'event.order.issued': 'My certificate was issued',
    'event.order.expiring': 'A certificate expires soon (30, 7 and 1 days before)',
    'event.order.renewal_failed': 'An automatic renewal failed',
    'ok.downloaded': 'Certificate {id} downloaded ({name}).',
    'ok.revoked': 'Revoked: the certificate is no longer served.',
    'ok.key': 'Private key downloaded; the download was audited.',
    'ok.pkcs12': 'PKCS#12 file of {id} downloaded; the download was audited.',
    'ok.token_deleted': 'Token deleted.',
    'ok.user_added': 'User {name} added.',
    'ok.user_updated': 'User {name} updated.',
    'ok.webhook_added': 'Webhook {id} added.',
    'ok.webhook_removed': 'Webhook removed.',
    'ok.acme_deleted': 'Credential deleted; its ACME accounts stop working.',
    'ok.totp_off': 'Two-factor login is off.',
    'domains.publish': 'Publish this TXT record in the domain’s DNS: ',
    'domains.then_verify': 'Then verify it: ',
    'domains.verify': 'Verify',
    'domains.verified': '{name} is now one of your domains.',
    'domains.not_verified': 'Not verified yet: {why}',
    'domains.pending': 'Pending: waiting for the TXT record.',
    'domains.claim_title': 'Claim a domain',
    'domains.domain': 'Domain',
    'domains.claim_hint': 'You will be given a TXT record to publish, to prove the domain is yours.',
    'domains.claim': 'Claim',
    'domains.empty': 'No domains yet.',
    'domains.claims_waiting': 'Claims waiting for their TXT record',
    'distrust.title': 'Replacement of distrusted certificates',
    'distrust.summary':
      '{replaced} of {total} certificates that depended on a distrusted CA are replaced (free of charge).',
    'distrust.replaced': 'Replaced',
    'distrust.pending': 'Pending',
    'distrust.failed': 'Failed',
    'distrust.stranded': 'No other CA',
    'distrust.stranded_hint': 'Some products have no other CA: ask your provider to bind them to one.',
    'via.acme': 'Ordered over ACME (credential {credential})',
    'orders.account': 'Account',
    'totp.off': 'Turn off',
    'totp.off_code': 'A code from your app, or a recovery code',
    'totp.off_password': 'or your password',
    'totp.off_need': 'To turn two-factor login off, enter a code from your app, a recovery code or your password.',
    'login.totp': 'Enter the 6-digit code of your authenticator app.',
    'login.totp_wrong': 'Wrong or already used code.',
    'renew.created': 'Renewal {id} created.',
    'reissue.created': 'Reissue {id} created.',
    'served.yes': 'Served by this server now',
    'served.no': 'Not served by this server',
    'expiry.warn': '{name} expires in {days} days ({date}).',
    'expiry.today': '{name} expires within a day ({date}).',
  },
};

const STATUS_KEYS = Object.keys(MESSAGES.en).filter((k) => k.startsWith('status.'));
let lang = 'en';

export function setLanguage(code) {
  if (MESSAGES[code]) lang = code;
}

export function t(key, vars = {}) {
  const s = (MESSAGES[lang] && MESSAGES[lang][key]) || MESSAGES.en[key];
  if (s === undefined) return key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

export function has(key) {
  return MESSAGES.en[key] !== undefined;
}

export const STATUSES = STATUS_KEYS.map((k) => k.slice('status.'.length));

export function statusLabel(status) {
  return has(`status.${status}`) ? t(`status.${status}`) : status;
}

// What happens next, and who acts, for an order as this viewer sees it.
export function nextStep(o, me, served) {
  if (o.status === 'pending_approval' && me && me.user.role === 'admin' && o.requester !== me.user.name)
    return t('next.pending_approval.admin');
  if (o.status === 'superseded') return t('next.superseded', { id: o.superseded_by || '—' });
  if (o.status === 'issued' && served) return t('next.issued.served');
  return has(`next.${o.status}`) ? t(`next.${o.status}`) : '';
}

// Product names and descriptions for customers (the API gives codes and figures).
export const PRODUCTS = {
  'dv-ssl': ['Standard SSL (one name)', 'Domain validated; for one website name.'],
  'dv-multi': ['Multi-domain SSL', 'Domain validated; several names on one certificate.'],
  'dv-wildcard': ['Wildcard SSL', 'Domain validated; every subdomain (*.example.com) and the domain.'],
  'ov-ssl': ['Organization SSL', 'Shows your verified organization in the certificate.'],
  'ev-ssl': ['Extended Validation SSL', 'The highest validation; needs consent from an authorized signatory.'],
  'intranet-ssl': ['Intranet certificate', 'For internal names (e.g. .lan, .internal); not trusted publicly.'],
};

export function productName(code) {
  return PRODUCTS[code] ? PRODUCTS[code][0] : code;
}

// Audit actions in plain words; unknown codes are shown with dots turned into spaces.
const AUDIT = {
  'order.create': 'Request placed',
  'order.approve': 'Approved',
  'order.reject': 'Rejected',
  'order.pay': 'Paid',
  'order.issued': 'Certificate issued',
  'order.cancel': 'Cancelled',
  'order.revoke': 'Revoked',
  'order.failed': 'Issuance failed',
  'order.retry': 'Issuance retried',
  'order.retry_later': 'Issuance will be retried',
  'order.renew': 'Renewal placed',
  'order.auto_renew': 'Automatic renewal placed',
  'order.renewal_failed': 'Automatic renewal failed',
  'order.reissue': 'Reissue placed',
  'order.sans': 'Names changed (reissue placed)',
  'order.csr': 'CSR submitted',
  'order.expired': 'Certificate expired',
  'order.key_download': 'Private key downloaded',
  'order.pkcs12_download': 'PKCS#12 file downloaded',
  'order.ca_cleanup': 'Replaced certificate retired at the CA',
  'order.ca_cleanup_later': 'Retiring the replaced certificate at the CA later',
  'order.signatory_approve': 'Signatory consent given',
  'order.signatory_reject': 'Signatory consent refused',
  'session.login': 'Logged in',
  'session.login_failed': 'Failed login',
  'session.logout': 'Logged out',
  'account.create': 'Account created',
  'credits.add': 'Credits added',
  'domain.add': 'Domain added',
  'domain.remove': 'Domain removed',
  'user.create': 'User added',
  'user.update': 'User changed',
  'token.create': 'API token created',
  'token.delete': 'API token deleted',
};

export function auditLabel(code) {
  if (AUDIT[code]) return AUDIT[code];
  const s = String(code || '').replace(/[._]/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// "host:pid:thread" holder strings and DNs in plain words
export function issuerName(dn) {
  const m = /CN\s*=\s*([^,/]+)/.exec(dn || '');
  return m ? m[1].trim() : dn || '—';
}

export function peerName(peer) {
  if (!peer) return '';
  if (/^[^:\s]+:\d+:[0-9a-fx]+$/i.test(peer)) return 'the server (automatic)';
  return peer;
}

// certinext web page: orders, approval, payment and certificates, over the REST API only.
// The entry point: the routes (one line per view), the session and the page's frame.
// A new view is one module under views/ plus one register() line here.
import { api, onSessionLost } from './api.js';
import { markNav, setupChrome } from './chrome.js';
import { flash, flashNavigated } from './dom.js';
import { beforeEach, navigate, register, setFallback, start } from './router.js';
import { session } from './session.js';
import { accountView } from './views/account.js';
import { accountsView } from './views/accounts.js';
import { acmeView } from './views/acme.js';
import { auditView } from './views/audit.js';
import { certificatesView } from './views/certificates.js';
import { domainsView } from './views/domains.js';
import { loginView } from './views/login.js';
import { newView } from './views/new.js';
import { orderView } from './views/order.js';
import { ordersView } from './views/orders.js';
import { securityView } from './views/security.js';
import { summaryView } from './views/summary.js';
import { tokensView } from './views/tokens.js';
import { usersView } from './views/users.js';
import { webhooksView } from './views/webhooks.js';

register('orders', ordersView);
register('order', orderView);
register('summary', summaryView);
register('new', newView);
register('certificates', certificatesView);
register('account', accountView);
register('users', usersView);
register('tokens', tokensView);
register('audit', auditView);
register('webhooks', webhooksView);
register('acme', acmeView);
register('security', securityView);
register('accounts', accountsView);
register('domains', domainsView); // issue 14: claims and distrust progress
setFallback('orders');

beforeEach(async (parts) => {
  flashNavigated();
  if (!session.me) {
    const who = await api('GET', '/session');
    if (who.ok) {
      session.me = who.json;
      setupChrome();
    }
  }
  if (!session.me || parts[0] === 'login') {
    if (!session.me && parts[0] && parts[0] !== 'login') session.returnTo = location.hash;
    loginView();
    return false;
  }
  markNav(parts[0] || 'orders');
  return true;
});

onSessionLost(() => {
  session.lost = true;
  session.returnTo = location.hash;
  navigate('#/login');
});

document.getElementById('logout').addEventListener('click', async () => {
  await api('DELETE', '/session');
  session.me = null;
  session.credits = null;
  flash('');
  navigate('#/login');
});
// a new page from the menu starts without the previous page's message
document.getElementById('nav').addEventListener('click', (ev) => {
  if (ev.target.closest('a')) flash('');
});
// an error message goes once the user changes the input it was about
document.getElementById('main').addEventListener('input', () => {
  if (document.getElementById('flash').classList.contains('bad')) flash('');
});

// the skip link moves focus without touching the route in the address
document.querySelector('.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  document.getElementById('main').focus();
});

start();

// The page's frame: the menu (with the current page marked and the count of orders
// waiting for the viewer), the user, the balance and logging out.
import { has, roleLabel, t } from './i18n.js';
import { session } from './session.js';
import { refreshBalance, refreshWaiting } from './views/common.js';

export function setupChrome() {
  const me = session.me;
  const nav = document.getElementById('nav');
  nav.hidden = false;
  // the menu's words from the catalog (the count badge of Orders stays)
  nav.querySelectorAll('a[data-nav]').forEach((a) => {
    const key = `nav.${a.dataset.nav}`;
    if (has(key) && a.firstChild && a.firstChild.nodeType === Node.TEXT_NODE)
      a.firstChild.textContent = a.querySelector('.count') ? `${t(key)} ` : t(key);
  });
  nav.querySelectorAll('[data-admin]').forEach((a) => {
    a.hidden = me.user.role !== 'admin';
  });
  document.getElementById('who').hidden = false;
  document.getElementById('who-name').textContent = `${me.user.name} · ${roleLabel(me.user.role)} · ${me.user.account}`;
  refreshBalance();
  refreshWaiting();
}

export function markNav(name) {
  document.querySelectorAll('#nav a').forEach((a) => {
    const on =
      a.dataset.nav === name ||
      (name === 'order' && a.dataset.nav === 'orders') ||
      (name === 'summary' && a.dataset.nav === 'orders');
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

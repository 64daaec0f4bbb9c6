// Order Summary & Payment: the price, the balance before → after and the resulting expiry
// before paying; afterwards the order's new status, the new balance and the way on.
import { api, idempotencyKey } from '../api.js';
import { actionButton, fill, fmtDate, h, problemText } from '../dom.js';
import { productName, t } from '../i18n.js';
import { session } from '../session.js';
import { downloadChain } from './actions.js';
import { draw, errorPage, nextLine, refreshBalance, refreshWaiting, statusBadge } from './common.js';

export async function summaryView(seq, id) {
  const [res] = await Promise.all([api('GET', `/orders/${id}`), refreshBalance()]);
  if (!res.ok) {
    errorPage(seq, problemText(res));
    return;
  }
  const o = res.json;
  const credits = session.credits;
  const after = credits === null ? null : credits - o.price;
  // a renewal ends validity_days after the certificate it renews (the server says when)
  const until = fmtDate(new Date(o.expected_not_after || Date.now() + o.validity_days * 86400000));
  const expiryKey = !o.expected_not_after
    ? 'summary.expiry'
    : o.expected_capped
      ? 'summary.expiry_capped'
      : 'summary.expiry_renewal';
  const result = h('div', { id: 'pay-result', 'aria-live': 'polite' });
  const statusDd = h('dd', { id: 'summary-status' }, statusBadge(o.status), ' ', nextLine(o));
  const creditsDd = h('dd', { id: 'credits' }, credits === null ? '—' : String(credits));
  const afterDd = h('dd', { id: 'credits-after' }, after === null ? '—' : String(after));
  const payBtn = o.actions.includes('pay')
    ? actionButton(
        t('summary.pay_now'),
        async (ev, btn) => {
          const r = await api('POST', `/orders/${o.id}/pay`, {}, { 'Idempotency-Key': key });
          if (!r.ok) {
            result.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, problemText(r)));
            return;
          }
          btn.remove();
          await showPaid(r.json);
        },
        { class: 'primary', id: 'pay-now', disabled: after !== null && after < 0 },
      )
    : null;
  // one key for this page's payment: a second click or a retry cannot charge twice
  const key = idempotencyKey();

  async function showPaid(paid) {
    const [fresh] = await Promise.all([api('GET', `/orders/${paid.id}`), refreshBalance()]);
    const n = fresh.ok ? fresh.json : paid;
    refreshWaiting();
    fill(statusDd, statusBadge(n.status), ' ', nextLine(n));
    creditsDd.textContent = session.credits === null ? '—' : String(session.credits);
    creditsLabel.textContent = t('summary.credits_now');
    afterRow.forEach((el) => el.remove());
    const heading = h('h2', { id: 'paid-heading', tabindex: '-1' }, t('summary.payment_done'));
    const dl =
      n.status === 'issued' && n.actions.includes('download')
        ? actionButton(t('summary.download_certificate'), () => downloadChain(n), { id: 'paid-download' })
        : null;
    fill(
      result,
      heading,
      h('p', {}, t('summary.your_order_id')),
      h('p', { class: 'order-id', id: 'order-id' }, n.order_number),
      h(
        'p',
        {},
        h('a', { href: `#/order/${n.id}`, id: 'to-order' }, t('summary.follow_order', { id: n.id })),
        ' · ',
        h('a', { href: '#/orders', id: 'back-to-orders' }, t('summary.back_orders')),
      ),
      dl,
    );
    heading.focus();
  }

  const creditsLabel = h('dt', {}, t('summary.credits_available'));
  const afterRow = [
    h('dt', {}, t('summary.credits_after_paying')),
    afterDd,
    h('dt', {}, t('summary.valid_until_about')),
    h('dd', { id: 'expiry-after' }, t(expiryKey, { date: until, days: o.validity_days })),
  ];
  const short =
    after !== null && after < 0 && payBtn
      ? h('p', { class: 'error-text', role: 'alert' }, t('money.short', { price: o.price, balance: credits }))
      : null;
  draw(
    seq,
    h('h1', {}, t('title.summary')),
    h(
      'div',
      { class: 'panel summary' },
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, t('summary.request')),
        h('dd', {}, h('a', { href: `#/order/${o.id}` }, o.id)),
        h('dt', {}, t('summary.names')),
        h('dd', { class: 'names' }, o.sans.join(', ')),
        h('dt', {}, t('summary.product')),
        h('dd', {}, productName(o.product)),
        h('dt', {}, t('summary.validity')),
        h('dd', {}, t('order.days', { n: o.validity_days })),
        h('dt', {}, t('summary.status')),
        statusDd,
        h('dt', {}, t('summary.price')),
        h('dd', { class: 'total', id: 'price' }, t('money.credits', { n: o.price })),
        creditsLabel,
        creditsDd,
        ...(payBtn ? afterRow : []),
      ),
      o.order_number
        ? h('p', {}, t('summary.order_id_prefix'), h('span', { class: 'order-id', id: 'order-id' }, o.order_number))
        : null,
      short,
      payBtn,
      result,
    ),
  );
  if (payBtn && !payBtn.disabled) payBtn.focus();
}

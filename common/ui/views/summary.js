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
        'Pay now',
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
    creditsLabel.textContent = 'Credits now';
    afterRow.forEach((el) => el.remove());
    const heading = h('h2', { id: 'paid-heading', tabindex: '-1' }, 'Payment done');
    const dl =
      n.status === 'issued' && n.actions.includes('download')
        ? actionButton('Download the certificate', () => downloadChain(n), { id: 'paid-download' })
        : null;
    fill(
      result,
      heading,
      h('p', {}, 'Your Order ID is'),
      h('p', { class: 'order-id', id: 'order-id' }, n.order_number),
      h(
        'p',
        {},
        h('a', { href: `#/order/${n.id}`, id: 'to-order' }, `Follow order ${n.id}`),
        ' · ',
        h('a', { href: '#/orders', id: 'back-to-orders' }, 'Back to the orders'),
      ),
      dl,
    );
    heading.focus();
  }

  const creditsLabel = h('dt', {}, 'Credits available');
  const afterRow = [
    h('dt', {}, 'Credits after paying'),
    afterDd,
    h('dt', {}, 'Valid until about'),
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
        h('dt', {}, 'Request'),
        h('dd', {}, h('a', { href: `#/order/${o.id}` }, o.id)),
        h('dt', {}, 'Names'),
        h('dd', { class: 'names' }, o.sans.join(', ')),
        h('dt', {}, 'Product'),
        h('dd', {}, productName(o.product)),
        h('dt', {}, 'Validity'),
        h('dd', {}, `${o.validity_days} days`),
        h('dt', {}, 'Status'),
        statusDd,
        h('dt', {}, 'Price'),
        h('dd', { class: 'total', id: 'price' }, `${o.price} credits`),
        creditsLabel,
        creditsDd,
        ...(payBtn ? afterRow : []),
      ),
      o.order_number
        ? h('p', {}, 'Order ID: ', h('span', { class: 'order-id', id: 'order-id' }, o.order_number))
        : null,
      short,
      payBtn,
      result,
    ),
  );
  if (payBtn && !payBtn.disabled) payBtn.focus();
}

/**
 * The screens the payment page sends the buyer back to (order mode, spec/miniapps.md §6).
 *
 * success: points loader «Ждём подтверждение оплаты», polling GET /api/orders/{id} until the
 *          platform's notification reached the backend → «Заказ оплачен» with the paid lines;
 *          after ~60 s an info banner, polling goes on more slowly. A paid order offers
 *          «Вернуть деньги» (a second press confirms: POST /api/orders/{id}/refund, a full
 *          refund through the SDK); the refund's status shows under the lines and is polled
 *          until the money is back. A lounge pass shows its shipment («Пропуск в зал выдан»).
 * fail:    «Оплата не прошла» (first HTML); «Попробовать снова» appears when the order can
 *          still be paid and hands its payment URL to the host (`done`), «Изменить заказ»
 *          goes back to the selection.
 *
 * The host is optional: the page may be opened top-level or inside the marketplace frame.
 */
import {
  ICONS,
  config,
  connectHost,
  fetchJson,
  finish,
  formatMoney,
  h,
  routeLinks,
  setLocale,
  shopUrl,
  showBanner,
  showView,
  t,
  toMinor,
  tr,
  trackHeight,
} from './common.js';

const FAST_POLL_MS = 2000;
const SLOW_POLL_MS = 5000;
const SLOW_AFTER_MS = 60000;
const GIVE_UP_AFTER_MS = 30 * 60000;
const REFUND_POLL_MS = 5000;
const REFUND_POLL_FOR_MS = 10 * 60000;

async function connectOptional() {
  try {
    return await connectHost({ timeoutMs: 4000 });
  } catch {
    return { client: null, framed: false, init: { fullHeight: true } };
  }
}

async function fetchOrder() {
  try {
    return { order: (await fetchJson(`/api/orders/${encodeURIComponent(config.order)}`)).data };
  } catch (error) {
    return { missing: error.status === 404 };
  }
}

function statusView({ icon, title, text, children = [] }) {
  return showView(
    h('div', { class: 'status' },
      h('div', { class: `status__icon status__icon--${icon}`, 'aria-hidden': 'true', html: icon === 'ok' ? ICONS.check : ICONS.cross }),
      h('h1', { class: 'status__title' }, title),
      text ? h('p', { class: 'status__text' }, text) : null,
      ...children,
    ),
  );
}

function money(amount) {
  return formatMoney(toMinor(amount), { cents: true });
}

function refundBanner(refund) {
  const key = { completed: 'refundDone', canceled: 'refundCanceled' }[refund.status] ?? 'refundCreated';
  const slot = h('div', { class: 'status__banner', 'data-refund-status': refund.status });
  showBanner(slot, refund.status === 'canceled' ? 'error' : 'info', t(key, { amount: money(refund.amount) }));
  return slot;
}

function refundButton(order) {
  const label = h('span', {}, t('refund'));
  const button = h('button', { type: 'button', class: 'btn btn--secondary', 'data-refund': '' },
    label, h('span', { class: 'btn__loader', 'aria-hidden': 'true' }));
  const problem = h('div', { class: 'status__banner', hidden: '' });
  button.addEventListener('click', async () => {
    if (!button.dataset.confirm) {
      button.dataset.confirm = 'true';  // a second press does it: money never moves on one tap
      label.textContent = t('refundConfirm', { amount: money(order.amount) });
      return;
    }
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      const path = `/api/orders/${encodeURIComponent(config.order)}/refund`;
      const updated = (await fetchJson(path, { method: 'POST', body: '{}' })).data;
      paidView(updated);
      followRefund(updated);
    } catch {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      showBanner(problem, 'error', t('refundFailed'));
    }
  });
  return [button, problem];
}

async function followRefund(order) {
  const started = Date.now();
  let status = order.refund?.status;
  while ((status === 'created' || status === 'draft') && Date.now() - started < REFUND_POLL_FOR_MS) {
    await new Promise((resolve) => setTimeout(resolve, REFUND_POLL_MS));
    const { order: fresh } = await fetchOrder();
    if (fresh?.refund && fresh.refund.status !== status) {
      paidView(fresh);
      status = fresh.refund.status;
    }
  }
}

function paidView(order) {
  const lines = order.lines.map((line) =>
    h('li', { class: 'cell' },
      h('span', { class: 'cell__content' },
        h('span', { class: 'cell__title' }, line.name),
        h('span', { class: 'cell__subtitle num' },
          t('pieces', { n: line.quantity, price: formatMoney(toMinor(line.amount), { cents: true }) })),
      ),
      h('span', { class: 'cell__value num' }, formatMoney(toMinor(line.totalAmount), { cents: true })),
    ),
  );
  statusView({
    icon: 'ok',
    title: t('paidTitle'),
    children: [
      h('p', { class: 'status__amount num' }, formatMoney(toMinor(order.amount), { cents: true })),
      h('p', { class: 'caption' }, `${tr(order.title)} · ${t('orderNumber', { number: order.number })}`),
      h('ul', { class: 'order-list' }, lines),
      order.shipment
        ? h('p', { class: 'caption', 'data-shipment': '' }, t('passIssued', { number: order.shipment.documentNumber }))
        : null,
      order.refund ? refundBanner(order.refund) : null,
      h('div', { class: 'status__actions' },
        h('a', { class: 'btn btn--primary', href: shopUrl(order.servicePath) }, t('newOrder')),
        ...(order.refundable ? refundButton(order) : []),
      ),
    ],
  });
}

async function success() {
  const started = Date.now();
  let slowShown = false;
  for (;;) {
    const { order, missing } = await fetchOrder();
    if (missing) {
      statusView({ icon: 'fail', title: t('notFound') });
      return;
    }
    if (order?.status === 'paid') {
      paidView(order);
      await followRefund(order);
      return;
    }
    if (order && (order.status === 'canceled' || order.status === 'expired')) {
      statusView({
        icon: 'fail',
        title: t('closed'),
        children: [h('div', { class: 'status__actions' },
          h('a', { class: 'btn btn--primary', href: shopUrl(order.servicePath) }, t('newOrder')))],
      });
      return;
    }
    const elapsed = Date.now() - started;
    if (elapsed > SLOW_AFTER_MS && !slowShown) {
      slowShown = true;
      const slot = h('div', { class: 'status__banner' });
      config.root.querySelector('[data-view]')?.append(slot);
      showBanner(slot, 'info', t('slow'));
    }
    if (elapsed > GIVE_UP_AFTER_MS) return;
    await new Promise((resolve) => setTimeout(resolve, slowShown ? SLOW_POLL_MS : FAST_POLL_MS));
  }
}

async function fail(host) {
  const { order } = await fetchOrder();
  const change = config.root.querySelector('[data-change]');
  if (order && change) change.href = shopUrl(order.servicePath);
  const retry = config.root.querySelector('[data-retry]');
  if (order?.paymentUrl && retry) {
    retry.hidden = false;
    retry.addEventListener('click', () => {
      retry.setAttribute('aria-busy', 'true');
      retry.disabled = true;
      finish(host.client ? host : { framed: false }, order.paymentUrl);
    });
  }
}

async function main() {
  setLocale(config.lang);
  const host = await connectOptional();
  if (host.client && host.init.locale) setLocale(host.init.locale);
  if (host.client) {
    trackHeight(host);
    routeLinks(host);
  }
  const texts = config.root.querySelector('.points__text');
  if (texts) texts.textContent = t('waiting');
  if (config.screen === 'success') await success();
  else if (config.screen === 'fail') await fail(host);
}

main();

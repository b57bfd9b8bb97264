/**
 * Shared pieces of the demo shop's screens: talking to the host through the platform's
 * mini-app client (the official protocol, spec/miniapps.md §3), texts in Russian and English,
 * money in kopecks (never floats), height reporting, links, small DOM helpers.
 *
 * Outside a frame (the page opened directly, e.g. while developing) there is no host: the
 * shop then runs "standalone": order mode, the page scrolls itself, links open normally and
 * `done` becomes a plain navigation to the payment page.
 */
import { createMinappClient } from './minapp-client.js';

const appRoot = document.querySelector('[data-app]');

export const config = Object.freeze({
  root: appRoot,
  base: appRoot?.dataset.base ?? '',
  screen: appRoot?.dataset.screen ?? '',
  service: appRoot?.dataset.service ?? '',
  order: appRoot?.dataset.order ?? '',
  lang: appRoot?.dataset.lang ?? '',
  parentOrigins: JSON.parse(appRoot?.dataset.parentOrigins || '[]'),
});

// --- texts -------------------------------------------------------------------------------------

const STRINGS = {
  ru: {
    loading: 'Загрузка…',
    orderButton: 'Оформить заказ',
    suborderButton: 'Добавить к заказу',
    total: 'Итого',
    vatIncluded: 'в т. ч. НДС {rate} %',
    consent: 'Нажимая кнопку, вы соглашаетесь с',
    terms: 'условиями услуги',
    flight: 'Рейс {number}',
    departure: 'вылет {time}',
    pickup: 'Подача в {time}',
    chooseSomething: 'Выберите хотя бы одну позицию',
    decrease: 'Меньше: {name}',
    increase: 'Больше: {name}',
    orderFailed: 'Не удалось оформить заказ. Попробуйте ещё раз',
    launchRefused: 'Магазин не смог проверить данные площадки. Откройте услугу заново со страницы заказа или витрины',
    catalogueFailed: 'Не удалось загрузить каталог',
    retry: 'Повторить',
    noHost: 'Не удалось связаться с площадкой',
    unavailable: 'Услуга недоступна для этого заказа',
    added: 'Услуга добавлена к заказу',
    redirecting: 'Переходим к оплате…',
    waiting: 'Ждём подтверждение оплаты',
    slow: 'Оплата обрабатывается: страница обновится, как только магазин получит подтверждение',
    paidTitle: 'Заказ оплачен',
    orderNumber: 'заказ №\u00a0{number}',
    newOrder: 'Новый заказ',
    notFound: 'Заказ не найден',
    closed: 'Заказ отменён или срок оплаты истёк',
    failTitle: 'Оплата не прошла',
    pieces: '{n} × {price}',
    refund: 'Вернуть деньги',
    refundConfirm: 'Подтвердить возврат {amount}',
    refundCreated: 'Возврат {amount} оформлен. Деньги вернутся на карту в течение 2 рабочих дней',
    refundDone: 'Деньги возвращены: {amount}',
    refundCanceled: 'Возврат отменён',
    refundFailed: 'Не удалось оформить возврат. Попробуйте ещё раз',
    passIssued: 'Пропуск в зал выдан · документ №\u00a0{number}',
  },
  en: {
    loading: 'Loading…',
    orderButton: 'Place order',
    suborderButton: 'Add to order',
    total: 'Total',
    vatIncluded: 'incl. VAT {rate} %',
    consent: 'By pressing the button you accept the',
    terms: 'terms of service',
    flight: 'Flight {number}',
    departure: 'departs {time}',
    pickup: 'Pickup at {time}',
    chooseSomething: 'Choose at least one item',
    decrease: 'Fewer: {name}',
    increase: 'More: {name}',
    orderFailed: 'Could not place the order. Please try again',
    launchRefused: 'The shop could not verify the marketplace data. Open the service again from the order or marketplace page',
    catalogueFailed: 'Could not load the catalogue',
    retry: 'Retry',
    noHost: 'Could not connect to the marketplace',
    unavailable: 'This service is not available for this order',
    added: 'The service was added to your order',
    redirecting: 'Going to payment…',
    waiting: 'Waiting for the payment confirmation',
    slow: 'The payment is being processed; this page updates as soon as the shop is told it is paid',
    paidTitle: 'Order paid',
    orderNumber: 'order No.\u00a0{number}',
    newOrder: 'New order',
    notFound: 'Order not found',
    closed: 'The order was canceled or has expired',
    failTitle: 'Payment failed',
    pieces: '{n} × {price}',
    refund: 'Refund',
    refundConfirm: 'Confirm the refund of {amount}',
    refundCreated: 'Refund of {amount} requested. The money will be back on your card within 2 business days',
    refundDone: 'Refunded: {amount}',
    refundCanceled: 'The refund was canceled',
    refundFailed: 'Could not request the refund. Please try again',
    passIssued: 'Lounge pass issued · document No.\u00a0{number}',
  },
};

let locale = 'ru';

export function pickLocale(value) {
  return String(value || '').toLowerCase().startsWith('en') ? 'en' : 'ru';
}

export function setLocale(value) {
  locale = pickLocale(value);
  document.documentElement.lang = locale;
  return locale;
}

export function getLocale() {
  return locale;
}

export function t(key, vars = {}) {
  const template = STRINGS[locale][key] ?? STRINGS.ru[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** A `{ru, en}` catalogue text in the current locale. */
export function tr(value) {
  if (value == null) return '';
  return typeof value === 'string' ? value : value[locale] ?? value.ru ?? '';
}

// --- money ---------------------------------------------------------------------------------------

/** Kopecks from a decimal string such as "1200.00" (the shop's API never sends floats). */
export function toMinor(text) {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text).trim());
  if (!match) throw new Error(`not an amount: ${text}`);
  const minor = Number(match[2]) * 100 + Number((match[3] ?? '').padEnd(2, '0'));
  return match[1] ? -minor : minor;
}

const NBSP = '\u00a0';

/** «1 200 ₽», «1 234,56 ₽» (ru) or «1,200 ₽», «1,234.56 ₽» (en): kopecks only when present. */
export function formatMoney(minor, { cents = false } = {}) {
  const sign = minor < 0 ? '\u2212' : '';
  const abs = Math.abs(minor);
  const rub = Math.floor(abs / 100);
  const kop = abs % 100;
  const group = locale === 'en' ? ',' : NBSP;
  const whole = String(rub).replace(/\B(?=(\d{3})+(?!\d))/g, group);
  const fraction = cents || kop ? `${locale === 'en' ? '.' : ','}${String(kop).padStart(2, '0')}` : '';
  return `${sign}${whole}${fraction}${NBSP}₽`;
}

/** «1 августа, 10:00» in the time zone of the ISO string's own offset (the airport's). */
export function formatLocalTime(iso, { date = true } = {}) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(iso || ''));
  if (!match) return '';
  const [, , month, day, hh, mm] = match;
  const monthsRu = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа',
    'сентября', 'октября', 'ноября', 'декабря'];
  const monthsEn = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
    'September', 'October', 'November', 'December'];
  const time = `${hh}:${mm}`;
  if (!date) return time;
  const m = Number(month) - 1;
  return locale === 'en'
    ? `${monthsEn[m]} ${Number(day)}, ${time}`
    : `${Number(day)}${NBSP}${monthsRu[m]}, ${time}`;
}

/** The ISO local time `hours` earlier, keeping the offset ("…T10:00+03:00" → "…T07:00+03:00"). */
export function shiftLocalTime(iso, hours) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(String(iso || ''));
  if (!match) return '';
  const minutes = Number(match[2]) * 60 + Number(match[3]) - hours * 60;
  const wrapped = ((minutes % 1440) + 1440) % 1440;
  const hh = String(Math.floor(wrapped / 60)).padStart(2, '0');
  const mm = String(wrapped % 60).padStart(2, '0');
  return `${match[1]}T${hh}:${mm}`;
}

// --- host ----------------------------------------------------------------------------------------

export function isFramed() {
  return Boolean(window.ReactNativeWebView) || window.parent !== window;
}

/**
 * Connect to the host and wait for its `init` (at most `timeoutMs`). Resolves with
 * `{client, framed, init}`; `init` is the host's `public` data, or standalone defaults when the
 * page is not framed; rejects with Error('no-host') when a host never answers.
 */
export async function connectHost({ timeoutMs = 15000 } = {}) {
  const origins = config.parentOrigins.length ? config.parentOrigins : null;
  const client = createMinappClient({ parentOrigin: origins });
  client.connect();
  const framed = isFramed();
  if (!framed) {
    return {
      client,
      framed,
      init: { minappType: 'order', fullHeight: true, locale: config.lang || navigator.language },
    };
  }
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no-host')), timeoutMs);
  });
  try {
    const init = await Promise.race([client.getInitialData(), timeout]);
    const host = { client, framed, init: init || {} };
    // Protocol v2: the host's data changed (the buyer saved new contact details, the invoice
    // gained an order); what the shop reads from host.init later is the new data.
    client.onUpdateData((data) => {
      host.init = { ...host.init, ...data };
    });
    return host;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Height: with `fullHeight` the mini-app fills its frame (html, body and the root get
 * height 100 %); otherwise every layout change of the root is reported with `height`.
 */
export function trackHeight(host) {
  const root = config.root;
  if (host.init.fullHeight || !host.framed) {
    document.documentElement.classList.add('is-full-height');
    return;
  }
  document.documentElement.classList.remove('is-full-height');
  let last = -1;
  const send = () => {
    const height = Math.ceil(root.getBoundingClientRect().height);
    if (height !== last && host.client.isConnected()) {
      last = height;
      host.client.onHeightChange(height);
    }
  };
  new ResizeObserver(send).observe(root);
  send();
}

/** Links marked `data-external` open through the host (`link`), as the protocol asks. */
export function routeLinks(host) {
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-external]');
    if (!link || !host.framed) return;
    event.preventDefault();
    host.client.onLink(link.href);
  });
}

/** Tell the host about an error (it shows a toast); standalone, show it in `banner`. */
export function reportError(host, message, banner) {
  if (host?.framed && host.client.isConnected()) {
    host.client.onError(message || undefined);
    return;
  }
  if (banner) showBanner(banner, 'error', message || t('orderFailed'));
}

/** Hand the payment URL to the host (`done`); standalone, go there ourselves. */
export function finish(host, url) {
  if (host.framed) host.client.onDone(url);
  else window.location.assign(url);
}

/** A URL of this shop that keeps the frame's `id`, so the host recognises the next `init`. */
export function shopUrl(path, params = {}) {
  const url = new URL(`${config.base}${path}`, window.location.origin);
  const frameId = new URL(window.location.href).searchParams.get('id');
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  if (frameId !== null) url.searchParams.set('id', frameId);
  return url.pathname + url.search;
}

export async function fetchJson(path, options = {}) {
  const response = await fetch(`${config.base}${path}`, {
    ...options,
    headers: { Accept: 'application/json', ...(options.body ? { 'Content-Type': 'application/json' } : {}) },
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = new Error(payload?.error?.message || `HTTP ${response.status}`);
    error.status = response.status;
    error.code = payload?.error?.code;
    throw error;
  }
  return payload;
}

// --- DOM -----------------------------------------------------------------------------------------

/** h('div', {class: 'x', dataset: {a: 1}, onclick}, child, 'text', …) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'html') el.innerHTML = value; // only for our own constant SVG icons
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function showView(...nodes) {
  const view = h('div', { class: 'view', dataset: { view: '' } }, ...nodes);
  config.root.replaceChildren(view);
  return view;
}

export function showBanner(container, kind, text) {
  container.replaceChildren(h('div', { class: `banner banner--${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));
  container.hidden = false;
}

export const ICONS = {
  check:
    '<svg width="32" height="32" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M5 12.5l4.5 4.5L19 7.5"/></svg>',
  cross:
    '<svg width="32" height="32" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><path d="M7 7l10 10M17 7L7 17"/></svg>',
  plane:
    '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"><path d="M10.5 13.5L3 11l1.5-1.5 8 .5 4-4.5c1-1 2.5-1.5 3-1s0 2-1 3l-4.5 4 .5 8L13 21l-2.5-7.5z"/></svg>',
};

// The terms page loads this module only for the shared look; nothing to start there.

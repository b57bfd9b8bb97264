/**
 * Point-of-sale page: hosts the point of sale's mini-app in order mode (spec/design.md §3,
 * spec/miniapps.md §8). Plain ES module, no build step, no globals.
 *
 * Reads its configuration from <script type="application/json" id="…"> named by the
 * `data-config` attribute of [data-pos-miniapp] (built by marketplace/host.py frame_config):
 *   {url, origins, mode, fullHeight, title, locale, paymentUrlPrefix, initData}
 * and hands it to the host bridge. Mini-app messages:
 *   done(url)    → top-level navigation to the payment page (url already checked by the bridge
 *                  to be paymentUrlPrefix + UUID); done(null) → a success toast, no navigation
 *   error(text)  → error toast (the bridge supplies the default text)
 *   link(url)    → the bridge opens a new tab; we also show a visible fallback link
 *   unavailable  → the frame is gone; show the "unavailable" banner
 *   checkout(url) → the payment page opens in a new tab (the click in the frame lends its user
 *                  activation; a visible link in the banner in case the popup was blocked), the
 *                  mini-app stays; the shell follows the invoice (GET /order/{id}/summary.json
 *                  every POLL_MS, at most WATCH_MS) and sends `paymentResult` each time its
 *                  outcome changes (a new decline: `pending`), showing it in the banner too
 * The buyer card's «Указать контакты» / «Изменить» opens a sheet with the contact form (without
 * JS, a link to /marketplace/buyer); saved through the same POST, the page fetches the frame's
 * new init data (GET /marketplace/shop/{id}/frame.json, built by the server) and hands it to
 * the bridge: a v2 mini-app gets `updateData`, a v1 one is re-opened (a new frame, whose init
 * carries the new data). A form the server refuses is submitted the plain way and shows its errors.
 * After the payment page sent the buyer back (?payment=<invoice>), config.paymentResult holds the
 * invoice's outcome; it is sent to the mini-app as `paymentResult` once the handshake is done.
 */
import { openMiniApp } from '/static/miniapp/bridge.js';

const TOAST_MS = 5000;
// Following an invoice after `checkout`: a look every POLL_MS (at once when the buyer comes
// back to this tab), for at most WATCH_MS; after FAILURES_MAX failed looks in a row, or when
// the time is up with the invoice still open, the mini-app is told `unknown`.
const POLL_MS = 2000;
const WATCH_MS = 30 * 60 * 1000;
const FAILURES_MAX = 5;

function readJson(id) {
  const node = id && document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function toast(kind, text) {
  const region = document.querySelector('[data-toast-region]');
  const template = document.querySelector(`template[data-toast-template="${kind}"]`);
  if (!region || !template) return;
  const node = template.content.firstElementChild.cloneNode(true);
  node.querySelector('[data-toast-text]').textContent = text;
  region.append(node);
  let timer = null;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      // Not while the buyer is reading it (hovered or focused).
      if (node.matches(':hover') || node.contains(document.activeElement)) schedule();
      else node.remove();
    }, TOAST_MS);
  };
  schedule();
}

function showLinkFallback(href) {
  const banner = document.querySelector('[data-miniapp-link-fallback]');
  const anchor = banner && banner.querySelector('[data-miniapp-link-anchor]');
  if (!anchor) return;
  anchor.href = href;
  anchor.textContent = href;
  banner.hidden = false;
}

let refitFrame = () => {};

function showCheckout(kind, fill) {
  const region = document.querySelector('[data-checkout-region]');
  const template = document.querySelector(`template[data-checkout-template="${kind}"]`);
  if (!region || !template) return null;
  const node = template.content.firstElementChild.cloneNode(true);
  fill(node);
  region.replaceChildren(node);
  refitFrame(); // the banner moved the frame down
  return node;
}

/**
 * Follow the invoice behind a checked payment URL until its outcome is final (or the time is
 * up), calling onChange(result, summary) each time the outcome changes (summary null when
 * it could not be read). Returns stop().
 */
function watchInvoice(paymentUrl, locale, onChange) {
  const containerId = new URL(paymentUrl).pathname.split('/').pop();
  const summaryUrl = `/order/${containerId}/summary.json?lang=${locale}`;
  const deadline = Date.now() + WATCH_MS;
  let last = null; // {result, declineId}
  let failures = 0;
  let timer = null;
  let stopped = false;
  let busy = false;

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(look, POLL_MS);
  };
  async function look() {
    if (stopped || busy) return;
    if (Date.now() > deadline) {
      stop();
      onChange('unknown', null);
      return;
    }
    busy = true;
    let summary = null;
    try {
      const response = await fetch(summaryUrl, { cache: 'no-store', credentials: 'same-origin' });
      if (response.ok) summary = await response.json();
    } catch {
      summary = null;
    }
    busy = false;
    if (stopped) return;
    if (!summary) {
      failures += 1;
      if (failures >= FAILURES_MAX) {
        stop();
        onChange('unknown', null);
      } else schedule();
      return;
    }
    failures = 0;
    const declineId = summary.decline ? summary.decline.id : null;
    const now = { result: summary.paymentResult, declineId };
    if (last === null) {
      // The first look sets the baseline: a decline from before this checkout is old news.
      if (now.result !== 'pending') onChange(now.result, summary);
    } else if (now.result !== last.result) {
      onChange(now.result, summary);
    } else if (now.result === 'pending' && declineId && declineId !== last.declineId) {
      onChange('pending', summary);
    }
    last = now;
    if (summary.final) stop();
    else schedule();
  }
  function onVisible() {
    if (document.visibilityState === 'visible') look();
  }
  document.addEventListener('visibilitychange', onVisible);
  look();
  return stop;
}

function start() {
  const host = document.querySelector('[data-pos-miniapp]');
  if (!host) return;
  const config = readJson(host.dataset.config);
  const texts = readJson('pos-miniapp-texts') || {};
  if (!config) return;
  let stopWatching = null;

  function onCheckout(url) {
    // Inside the click's user activation, lent by the frame for a few seconds. With
    // 'noopener' window.open returns null even when it worked: the banner's link stays.
    window.open(url, '_blank', 'noopener');
    showCheckout('waiting', (node) => {
      node.querySelector('[data-checkout-link]').href = url;
    });
    host.dataset.checkoutState = 'waiting';
    if (stopWatching) stopWatching();
    stopWatching = watchInvoice(url, config.locale, (result, summary) => {
      handle.sendPaymentResult(result);
      host.dataset.paymentResultSent = result;
      const invoiceUrl = `/order/${new URL(url).pathname.split('/').pop()}`;
      if (result === 'completed' || result === 'hold') {
        showCheckout('paid', (node) => {
          node.querySelector('[data-checkout-title]').textContent = (texts.paid || '').replace(
            '{amount}',
            summary ? summary.formattedAmount : '',
          );
          node.querySelector('[data-checkout-receipt]').href =
            `${invoiceUrl}/receipt?lang=${config.locale}`;
        });
      } else if (result === 'pending') {
        showCheckout('declined', (node) => {
          node.querySelector('[data-checkout-text]').textContent =
            summary && summary.decline ? summary.decline.text : '';
          node.querySelector('[data-checkout-link]').href = url;
        });
      } else {
        showCheckout('closed', (node) => {
          node.querySelector('[data-checkout-title]').textContent = texts[result] || '';
        });
      }
      host.dataset.checkoutState = result;
    });
  }

  const handle = openMiniApp({
    container: host,
    url: config.url,
    origins: config.origins,
    mode: config.mode,
    initData: config.initData,
    paymentUrlPrefix: config.paymentUrlPrefix,
    fullHeight: config.fullHeight,
    title: config.title,
    locale: config.locale,
    onReady() {
      host.dataset.ready = '';
      // Back from the payment page: hand its outcome to the mini-app (miniapps.md §3.2; an SDK
      // without onPaymentResult ignores it, and the page says it above the frame anyway).
      if (config.paymentResult) {
        handle.sendPaymentResult(config.paymentResult);
        host.dataset.paymentResultSent = config.paymentResult;
      }
    },
    onDone(url) {
      if (url) window.location.assign(url);
      else toast('success', texts.done || '');
    },
    onError(text) {
      toast('error', text);
    },
    onLink(href) {
      showLinkFallback(href);
    },
    onCheckout,
    onUnavailable() {
      if (stopWatching) stopWatching();
      host.hidden = true;
      const banner = document.querySelector('[data-miniapp-unavailable]');
      if (banner) banner.hidden = false;
    },
  });
  startBuyerSheet(handle, texts);
}

/** The buyer card's sheet: save the contact details in place and tell the mini-app. */
function startBuyerSheet(handle, texts) {
  const edit = document.querySelector('[data-buyer-edit]');
  const sheet = document.querySelector('[data-buyer-sheet]');
  const form = sheet && sheet.querySelector('[data-buyer-form]');
  if (!edit || !form || typeof sheet.showModal !== 'function') return;
  const save = form.querySelector('[data-buyer-save]');
  edit.addEventListener('click', (event) => {
    event.preventDefault();
    sheet.showModal();
  });
  sheet.querySelector('[data-buyer-sheet-close]').addEventListener('click', () => sheet.close());
  sheet.addEventListener('close', () => edit.focus());
  let busy = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    save.setAttribute('aria-busy', 'true');
    try {
      const saved = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
      });
      if (saved.status === 422) {
        // The server's own page says what to fix.
        HTMLFormElement.prototype.submit.call(form);
        return;
      }
      if (!saved.ok) throw new Error(`buyer: HTTP ${saved.status}`);
      const answer = await fetch(texts.frameUrl, { cache: 'no-store', credentials: 'same-origin' });
      if (!answer.ok) throw new Error(`frame: HTTP ${answer.status}`);
      const fresh = await answer.json();
      // A v1 mini-app cannot take updateData: it is re-opened, and its init has the new data.
      if (!handle.updateData(fresh.initData)) handle.retry();
      showBuyer(fresh.buyer);
      edit.textContent = texts.buyerEdit;
      sheet.close();
      toast('success', texts.buyerSaved);
    } catch {
      toast('error', texts.buyerFailed);
    } finally {
      busy = false;
      save.removeAttribute('aria-busy');
    }
  });
}

function showBuyer(text) {
  let summary = document.querySelector('[data-buyer-summary]');
  if (!summary) {
    summary = document.createElement('p');
    summary.className = 'buyer-card__summary';
    summary.dataset.buyerSummary = '';
    const hint = document.querySelector('[data-buyer-hint]');
    if (hint) hint.replaceWith(summary);
  }
  summary.textContent = text;
}

/**
 * On a phone the frame takes the rest of the first screen below the shell (navbar, buyer
 * card), so the mini-app's own main button, at the bottom of its viewport, shows without
 * scrolling the page (issue 10, item 9). The CSS reads --pos-frame-top (marketbox.css §20).
 */
function fitFrameToFirstScreen() {
  const host = document.querySelector('[data-pos-miniapp]');
  if (!host) return;
  const phone = window.matchMedia('(max-width: 767px)');
  const fit = () => {
    if (!phone.matches) {
      host.style.removeProperty('--pos-frame-top');
      return;
    }
    const top = host.getBoundingClientRect().top + window.scrollY;
    host.style.setProperty('--pos-frame-top', `${Math.round(top)}px`);
  };
  fit();
  window.addEventListener('resize', fit, { passive: true });
  refitFrame = fit;
}

fitFrameToFirstScreen();
start();

/**
 * Add-on services on the payment page (spec/design.md §3 "Payment page" item 4, spec/miniapps.md
 * §1.1 suborder mode, §8). Plain ES module, no build step.
 *
 * The page renders the service cards ([data-addon-card="<shopId>"]) inside the hidden section
 * [data-addons], the sheet (<dialog data-addon-sheet>) and a JSON block named by the section's
 * `data-config`:
 *   {ordersUrl, addonsUrl, frames: [frame config per card], shopIds: [...], texts: {...},
 *    paymentResult}
 * where each frame config is marketplace/host.py frame_config(mode="suborder") for this invoice,
 * and paymentResult is "pending" after a declined payment of this invoice (sent to each add-on
 * opened), null otherwise.
 *
 * «Добавить услугу» opens the card's mini-app in the sheet through the host bridge. Messages:
 *   done(url | null) → close the sheet, toast «Услуга добавлена», re-draw the order list from
 *                      GET /order/{id}/orders.html and refreshTotals() (total, expected_amount,
 *                      live region), then re-match the strip (below); no page reload. The bridge
 *                      has already refused URLs of another container.
 *   checkout(url)    → in suborder mode the URL is this invoice's, whose payment page the buyer
 *                      is on: nothing opens. The sub-order is in the invoice: re-draw it and
 *                      re-match the strip as after done, but keep the mini-app open (it gets
 *                      `updateData` with the new container data if it speaks v2) and say in the
 *                      sheet that the invoice is paid on this page («К оплате» closes the sheet).
 *   unavailable      → close the sheet, remove the card, say so under the strip
 *   error(text)      → error toast (the mini-app stays open)
 *   link(url)        → the bridge opened a new tab; a fallback link shows in the sheet
 *   height           → the bridge sizes the frame; the sheet scrolls within 90 dvh
 *
 * Re-matching the strip (refreshStrip): POST {addonsUrl} with the buyer data typed into the
 * payer form answers the cards the invoice offers now (marketplace/addons.py's one rule over the
 * new metaData) as HTML, and their frames' fresh init data. The cards are swapped in place
 * (one may appear, another go; an added one shows its one-line summary), the open frame gets
 * `updateData` (the bridge sends it only to a child that declared version >= 2). The same
 * happens, debounced, when the buyer changes the payer's name, e-mail or phone.
 *
 * The host bridge is imported on the buyer's first move towards a card (pointer over or focus
 * in the strip), not with the page: a first visit stays within its weight budget
 * (tests/browser/test_page_weight.py), and the click finds the module already there.
 */

const TOAST_MS = 5000;
const BUYER_DEBOUNCE_MS = 400;

const section = document.querySelector('[data-addons]');
const sheet = document.querySelector('[data-addon-sheet]');
const config = readJson(section && section.dataset.config);

let current = null; // {handle, shopId, trigger}
// Cards whose mini-app said `unavailable`: a re-match does not bring them back.
const unavailable = new Set();

function readJson(id) {
  const node = id && document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function toast(kind, text) {
  // While the sheet is open it is in the top layer: a toast outside it would be covered.
  const region = sheet && sheet.open
    ? sheet.querySelector('[data-sheet-toast-region]')
    : document.querySelector('[data-toast-region]');
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

function setBusy(button, busy) {
  if (!button) return;
  if (busy) button.setAttribute('aria-busy', 'true');
  else button.removeAttribute('aria-busy');
}

function frameFor(shopId) {
  const index = config.shopIds.indexOf(shopId);
  return index >= 0 ? config.frames[index] : null;
}

function cardFor(shopId) {
  return section.querySelector(`[data-addon-card="${shopId}"]`);
}

function closeSheet() {
  if (!current) return;
  const { handle, trigger } = current;
  current = null;
  handle.close();
  setBusy(trigger, false);
  sheet.querySelector('[data-addon-sheet-body]').replaceChildren();
  sheet.querySelector('[data-addon-link-fallback]').hidden = true;
  sheet.querySelector('[data-addon-checkout]').hidden = true;
  sheet.querySelector('[data-sheet-toast-region]').replaceChildren();
  if (sheet.open) sheet.close();
  return trigger;
}

function markAdded(card) {
  card.dataset.added = '';
  card.classList.add('service-card--added');
  const chip = card.querySelector('[data-addon-added-chip]');
  if (chip) chip.hidden = false;
  const button = card.querySelector('[data-addon-open]');
  if (button) {
    button.classList.remove('btn--secondary');
    button.classList.add('btn--ghost');
    const label = button.querySelector('[data-addon-open-label]');
    if (label) label.textContent = config.texts.addMore;
  }
}

function removeCard(card) {
  const title = card.querySelector('.service-card__title');
  card.remove();
  const message = section.querySelector('[data-addons-message]');
  if (message) {
    message.textContent = config.texts.unavailable.replace('{title}', title ? title.textContent : '');
    message.hidden = false;
  }
  if (!section.querySelector('[data-addon-card]') && !message) section.hidden = true;
}

/** Re-draw the order list and the totals from the server (no page reload). */
async function refreshInvoice() {
  const response = await fetch(config.ordersUrl, {
    headers: { Accept: 'text/html' },
    cache: 'no-store',
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`orders: HTTP ${response.status}`);
  const html = await response.text();
  const fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('[data-order-list]');
  const list = document.querySelector('[data-order-list]');
  if (fresh && list) list.replaceWith(document.importNode(fresh, true));
  const page = window.marketbox && window.marketbox.paymentPage;
  const summary = page ? await page.refreshTotals() : null;
  if (summary && summary.status !== 'pending') {
    // Paid, canceled or expired meanwhile: the page shows the status block instead of the form.
    window.location.reload();
  }
}

/** What the buyer has typed into the payer form (valid fields only). */
function enteredBuyer() {
  const entered = {};
  for (const [key, id] of [['name', 'payer-name'], ['email', 'payer-email'], ['phone', 'payer-phone']]) {
    const input = document.getElementById(id);
    if (input && input.value.trim() && input.checkValidity()) entered[key] = input.value.trim();
  }
  return entered;
}

/**
 * Re-match the strip against the invoice as it is now (no page reload): swap the cards, take
 * the frames' fresh configuration, send the open frame `updateData`.
 */
let stripRequests = 0;

async function refreshStrip() {
  // Answers may cross (a buyer edit and an added service): only the latest request's counts.
  const request = ++stripRequests;
  const response = await fetch(config.addonsUrl, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(enteredBuyer()),
    cache: 'no-store',
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`addons: HTTP ${response.status}`);
  const fresh = await response.json();
  if (request !== stripRequests) return;
  if (fresh.status !== 'pending') {
    window.location.reload();
    return;
  }
  const parsed = new DOMParser().parseFromString(fresh.html, 'text/html');
  const cards = Array.from(parsed.body.querySelectorAll('[data-addon-card]')).filter(
    (card) => !unavailable.has(Number(card.dataset.addonCard)),
  );
  const list = section.querySelector('[data-addons-list]');
  list.replaceChildren(...cards.map((card) => document.importNode(card, true)));
  const message = section.querySelector('[data-addons-message]');
  section.hidden = cards.length === 0 && (!message || message.hidden);
  config.frames = fresh.frames;
  config.shopIds = fresh.shopIds;
  if (current) {
    const frame = frameFor(current.shopId);
    if (frame) current.handle.updateData(frame.initData);
    const card = cardFor(current.shopId);
    const button = card && card.querySelector('[data-addon-open]');
    if (button) {
      current.trigger = button;
      setBusy(button, current.handle.state === 'loading');
    }
  }
  section.dataset.refreshed = String(Number(section.dataset.refreshed || '0') + 1);
}

let buyerTimer = null;
function onBuyerChanged() {
  clearTimeout(buyerTimer);
  buyerTimer = setTimeout(() => {
    refreshStrip().catch(() => {});
  }, BUYER_DEBOUNCE_MS);
}

async function onAdded(shopId) {
  const trigger = closeSheet();
  const card = cardFor(shopId);
  if (card) markAdded(card);
  toast('success', config.texts.added);
  try {
    await refreshInvoice();
    await refreshStrip();
  } catch {
    toast('error', config.texts.refreshFailed);
    return;
  }
  const list = document.querySelector('[data-order-list]');
  if (list) list.focus({ preventScroll: false });
  else if (trigger && trigger.isConnected) trigger.focus();
}

async function onCheckout() {
  // Suborder mode: the URL is this invoice's (the bridge refused any other); it is paid here.
  const note = sheet.querySelector('[data-addon-checkout]');
  note.hidden = false;
  try {
    await refreshInvoice();
    await refreshStrip();
  } catch {
    toast('error', config.texts.refreshFailed);
  }
}

let bridge = null;

function loadBridge() {
  if (!bridge) {
    bridge = import('/static/miniapp/bridge.js').catch((error) => {
      bridge = null; // a later click tries again
      throw error;
    });
  }
  return bridge;
}

async function open(card, trigger) {
  const shopId = Number(card.dataset.addonCard);
  const frame = frameFor(shopId);
  if (!frame) return;
  setBusy(trigger, true);
  let openMiniApp;
  try {
    ({ openMiniApp } = await loadBridge());
  } catch {
    setBusy(trigger, false);
    toast('error', config.texts.loadFailed);
    return;
  }
  if (current) closeSheet();
  const body = sheet.querySelector('[data-addon-sheet-body]');
  sheet.querySelector('[data-addon-sheet-title]').textContent = frame.title;
  setBusy(trigger, true);
  const handle = openMiniApp({
    container: body,
    url: frame.url,
    origins: frame.origins,
    mode: frame.mode,
    initData: frame.initData,
    paymentUrlPrefix: frame.paymentUrlPrefix,
    fullHeight: frame.fullHeight,
    title: frame.title,
    locale: frame.locale,
    onReady() {
      setBusy(trigger, false);
      // The invoice's last payment was declined (the banner above the form says why): tell
      // the add-on's mini-app too (miniapps.md §3.2); an SDK without onPaymentResult ignores it.
      if (config.paymentResult) handle.sendPaymentResult(config.paymentResult);
    },
    onDone() {
      onAdded(shopId);
    },
    onCheckout() {
      onCheckout();
    },
    onError(text) {
      toast('error', text);
    },
    onLink(href) {
      const banner = sheet.querySelector('[data-addon-link-fallback]');
      const anchor = banner.querySelector('[data-addon-link-anchor]');
      anchor.href = href;
      anchor.textContent = href;
      banner.hidden = false;
    },
    onUnavailable() {
      const back = closeSheet();
      unavailable.add(shopId);
      const shown = cardFor(shopId);
      if (shown) removeCard(shown);
      const next = section.querySelector('[data-addon-open]');
      (next || back || document.querySelector('[data-order-list]'))?.focus();
    },
  });
  current = { handle, shopId, trigger };
  if (!sheet.open) sheet.showModal();
}

function start() {
  if (!section || !sheet || !config) return;
  for (const type of ['pointerover', 'focusin']) {
    section.addEventListener(type, () => loadBridge().catch(() => {}), { once: true });
  }
  section.addEventListener('click', (event) => {
    const trigger = event.target.closest('[data-addon-open]');
    if (!trigger) return;
    const card = trigger.closest('[data-addon-card]');
    if (card) open(card, trigger);
  });
  sheet.querySelector('[data-addon-sheet-close]').addEventListener('click', () => {
    const trigger = closeSheet();
    if (trigger) trigger.focus();
  });
  // Esc (the dialog's cancel) and a click on the backdrop close it too.
  sheet.addEventListener('close', () => {
    const trigger = closeSheet();
    if (trigger && trigger.isConnected) trigger.focus();
  });
  sheet.querySelector('[data-addon-checkout-close]').addEventListener('click', () => {
    closeSheet();
    const pay = document.querySelector('[data-pay-button]');
    if (pay) pay.focus();
  });
  for (const id of ['payer-name', 'payer-email', 'payer-phone']) {
    const input = document.getElementById(id);
    if (input) input.addEventListener('change', onBuyerChanged);
  }
  sheet.addEventListener('click', (event) => {
    if (event.target === sheet) {
      const trigger = closeSheet();
      if (trigger) trigger.focus();
    }
  });
  section.hidden = false;
}

start();

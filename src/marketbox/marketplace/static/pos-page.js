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
 * After the payment page sent the buyer back (?payment=<invoice>), config.paymentResult holds the
 * invoice's outcome; it is sent to the mini-app as `paymentResult` once the handshake is done.
 */
import { openMiniApp } from '/static/miniapp/bridge.js';

const TOAST_MS = 5000;

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

function start() {
  const host = document.querySelector('[data-pos-miniapp]');
  if (!host) return;
  const config = readJson(host.dataset.config);
  const texts = readJson('pos-miniapp-texts') || {};
  if (!config) return;
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
    onUnavailable() {
      host.hidden = true;
      const banner = document.querySelector('[data-miniapp-unavailable]');
      if (banner) banner.hidden = false;
    },
  });
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
}

fitFrameToFirstScreen();
start();

/**
 * marketbox mini-app host bridge (plain ES module, no build step).
 *
 * Embeds a shop's mini-app in an iframe and speaks the Invoicebox mini-app protocol with it
 * (spec/miniapps.md §3 and the protocol-v2 addendum). Messages are plain objects
 * `{id, action, data?}`:
 *
 *   child → host: init {version?}, height, done, error, link, unavailable, checkout
 *   host → child: init, updateData (only to children whose init said version >= 2), paymentResult
 *
 * Lifecycle of one opening:
 *
 *   loading ──init──▶ ready ──unavailable / close()──▶ closed
 *      │ no init within initTimeoutMs
 *      ▼
 *   failed ──«Повторить»──▶ loading (a new iframe with a new frame id)
 *
 * Usage (the module does not care under which URL it is served; import it relatively or by path):
 *
 *   import { openMiniApp } from '/static/bridge.js';
 *   const handle = openMiniApp({
 *     container,                       // Element the bridge renders into (required)
 *     url,                             // mini-app URL, http(s) (required)
 *     origins,                         // allowed mini-app origins, array; default [origin of url]
 *     mode,                            // 'order' | 'suborder'; default initData.public.minappType
 *     initData,                        // {public: {...}, private: {metaData: [...]}} (required)
 *     paymentUrlPrefix,                // e.g. 'https://pay.example/order/'; default
 *                                      //   location.origin + '/order/'. done/checkout URLs must be
 *                                      //   exactly this prefix followed by a UUID.
 *     fullHeight,                      // default initData.public.fullHeight, else mode === 'order'
 *     title,                           // service / shop name → iframe title «Приложение: title»
 *     locale,                          // 'ru' | 'en'; default initData.public.locale, else 'ru'
 *     initialHeight,                   // px before the first `height` message (not fullHeight); 300
 *     initTimeoutMs,                   // default 15000
 *     onReady({frameId, version}),     // handshake completed (every init answered calls it)
 *     onDone(url | null),              // url passed the payment-URL check; null = done without URL
 *     onError(text),                   // text to show (never empty; default by locale)
 *     onUnavailable(),                 // the frame is already closed when this runs
 *     onLink(url),                     // after window.open(url, '_blank', 'noopener'): show a
 *                                      //   visible fallback link, the popup may have been blocked
 *     onHeight(px),                    // after the iframe height was set (clamped 100–5000)
 *     onCheckout(url),                 // url passed the payment-URL check; open it, keep the frame,
 *                                      //   later call handle.sendPaymentResult(status)
 *     onLog(event),                    // {kind: 'ignored'|'refused'|'received'|'sent'|'state'|'warning',
 *                                      //   message, action?, origin?, reason?, value?, payload?}
 *                                      //   — diagnostics only (the playground's protocol log).
 *                                      //   payload: the message as posted (untrusted, any type);
 *                                      //   reason of an 'ignored' one: 'source' | 'origin' |
 *                                      //   'type' (not an object) | 'id' | 'fullHeight' | 'height';
 *                                      //   of a 'refused' one: 'type' (not a string) |
 *                                      //   'payment_url' | 'container' | 'link', with the
 *                                      //   refused `value` (cut to 200 characters)
 *   });
 *   handle.frameId / handle.iframe     // current ones (both change on retry)
 *   handle.state                       // 'loading' | 'ready' | 'failed' | 'closed'
 *   handle.version                     // protocol version declared by the child (1 if none)
 *   handle.updateData(data)            // new init data; sent as updateData to v2+ children,
 *                                      //   always used for later (re-)inits; returns true if sent
 *   handle.sendPaymentResult(status)   // one of PAYMENT_RESULTS; returns true if sent
 *   handle.retry()                     // re-create the frame with a new id
 *   handle.close()                     // idempotent; removes the listener, timers and the DOM
 *
 * Callbacks receive untrusted text (error text, URLs): render it with textContent, never as HTML.
 *
 * Security rules (spec §3.3 and STYLE.md §9): a message is accepted only if its `event.source`
 * is the current iframe's window, its `event.origin` is one of `origins`, and `data.id` is the
 * current frame id; replies are posted to that origin, never to '*'. The iframe gets no
 * allow-top-navigation: the page navigates on `done`, through the callbacks.
 *
 * DOM (hooks are data- attributes; looks come from the stylesheet, layout-critical styles are set
 * through CSSOM):
 *
 *   <div data-miniapp-host data-miniapp-state="loading|ready|failed|closed" [data-ready]>
 *     <div data-miniapp-skeleton class="miniapp-frame__skeleton" role="status" aria-busy="true">
 *       <div class="skeleton skeleton--title"></div> … cells, button …
 *       <span class="visually-hidden">Загрузка…</span>
 *     </div>
 *     <div data-miniapp-failure class="banner banner--error miniapp-frame__error" role="alert" hidden>
 *       <div class="banner__body">
 *         <p class="banner__title">Не удалось загрузить приложение</p>
 *         <button type="button" class="btn btn--secondary btn--m" data-miniapp-retry>Повторить</button>
 *       </div>
 *     </div>
 *     <iframe data-miniapp-frame class="miniapp-frame__iframe" …>
 *   </div>
 *
 * The page supplies the sized container (e.g. `.miniapp-frame` on the point-of-sale page, a sheet
 * body on the payment page); in full-height mode the frame fills it.
 */

// Wire constants, written down once. Keep in sync with marketbox/miniapp_host/protocol.py
// (tests/unit/test_miniapp_protocol.py parses the JSON between the markers below).
/* protocol:begin */
const WIRE = {
  "version": 2,
  "childToHost": {
    "INIT": "init",
    "HEIGHT": "height",
    "DONE": "done",
    "ERROR": "error",
    "LINK": "link",
    "UNAVAILABLE": "unavailable",
    "CHECKOUT": "checkout"
  },
  "hostToChild": {
    "INIT": "init",
    "UPDATE_DATA": "updateData",
    "PAYMENT_RESULT": "paymentResult"
  },
  "paymentResults": ["pending", "completed", "canceled", "expired", "hold", "unknown"],
  "heightMin": 100,
  "heightMax": 5000,
  "initTimeoutMs": 15000,
  "defaultErrorText": {"ru": "Что-то пошло не так", "en": "Something went wrong"}
};
/* protocol:end */

/** Protocol version this host speaks. */
export const PROTOCOL_VERSION = WIRE.version;

/** Message actions: ACTIONS.CHILD.* (mini-app → host) and ACTIONS.HOST.* (host → mini-app). */
export const ACTIONS = Object.freeze({
  CHILD: Object.freeze({ ...WIRE.childToHost }),
  HOST: Object.freeze({ ...WIRE.hostToChild }),
});

/** Statuses for handle.sendPaymentResult(). */
export const PAYMENT_RESULTS = Object.freeze([...WIRE.paymentResults]);

export const HEIGHT_MIN = WIRE.heightMin;
export const HEIGHT_MAX = WIRE.heightMax;
export const INIT_TIMEOUT_MS = WIRE.initTimeoutMs;
export const DEFAULT_ERROR_TEXT = Object.freeze({ ...WIRE.defaultErrorText });

export const IFRAME_SANDBOX =
  'allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox';

const MAX_ERROR_TEXT = 500;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMERIC_RE = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

const TEXTS = {
  ru: {
    titlePrefix: 'Приложение: ',
    loading: 'Загрузка…',
    failed: 'Не удалось загрузить приложение',
    retry: 'Повторить',
  },
  en: {
    titlePrefix: 'App: ',
    loading: 'Loading…',
    failed: 'Could not load the app',
    retry: 'Retry',
  },
};

/** A fresh URL-safe frame id: 32 lowercase hex characters (128 random bits). */
export function newFrameId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The mini-app URL with `id=<frameId>` in its query (an existing `id` is replaced). */
export function frameUrl(url, frameId) {
  const u = new URL(url);
  if (u.searchParams.has('id')) {
    u.searchParams.set('id', frameId);
  } else {
    // Appending by hand keeps the rest of the query byte-for-byte as the shop wrote it.
    const param = 'id=' + encodeURIComponent(frameId);
    u.search = u.search.length > 1 ? u.search + '&' + param : '?' + param;
  }
  return u.href;
}

/**
 * The UUID in `url` if it is exactly `prefix` + UUID (no query, no fragment, no extra path),
 * else null.
 */
export function paymentUrlContainerId(url, prefix) {
  if (typeof url !== 'string' || typeof prefix !== 'string' || prefix === '') return null;
  if (!url.startsWith(prefix)) return null;
  const rest = url.slice(prefix.length);
  return UUID_RE.test(rest) ? rest.toLowerCase() : null;
}

/** A height in px from a `height` message, clamped to 100–5000, or null when unusable. */
export function coerceHeight(value) {
  let n;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && NUMERIC_RE.test(value)) n = Number(value);
  else return null;
  if (!Number.isFinite(n) || n < 0) return null;
  return Math.min(HEIGHT_MAX, Math.max(HEIGHT_MIN, Math.ceil(n)));
}

/** An absolute http(s) URL for a `link` message (resolved against `base`), or null. */
export function safeLinkUrl(value, base) {
  if (typeof value !== 'string' || value.trim() === '') return null;
  let u;
  try {
    u = new URL(value, base);
  } catch {
    return null;
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
}

function normalizeOrigins(origins, url) {
  const list = origins == null ? [new URL(url).origin] : Array.from(origins);
  if (list.length === 0) throw new TypeError('openMiniApp: origins must not be empty');
  return list.map((o) => {
    const origin = new URL(String(o)).origin;
    if (origin === 'null') throw new TypeError(`openMiniApp: not an origin: ${o}`);
    return origin;
  });
}

function call(fn, ...args) {
  if (typeof fn !== 'function') return undefined;
  try {
    return fn(...args);
  } catch (err) {
    // A failing page callback must not break the message loop.
    setTimeout(() => {
      throw err;
    });
    return undefined;
  }
}

// `hidden` alone loses against a stylesheet's `display: flex` (.banner, .miniapp-frame__skeleton).
function setVisible(element, visible) {
  element.hidden = !visible;
  element.style.display = visible ? '' : 'none';
}

function prefersReducedMotion() {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

/**
 * Open a mini-app inside `options.container`. See the module comment for options and the handle.
 */
export function openMiniApp(options) {
  const {
    container,
    url,
    title = '',
    initialHeight = 300,
    initTimeoutMs = INIT_TIMEOUT_MS,
  } = options;
  if (!container || typeof container.append !== 'function') {
    throw new TypeError('openMiniApp: container must be an element');
  }
  const appUrl = new URL(url);
  if (appUrl.protocol !== 'http:' && appUrl.protocol !== 'https:') {
    throw new TypeError('openMiniApp: url must be http(s)');
  }
  if (!options.initData || typeof options.initData !== 'object') {
    throw new TypeError('openMiniApp: initData is required');
  }
  const origins = normalizeOrigins(options.origins, appUrl.href);
  let initData = options.initData;
  const pub = initData.public || {};
  const mode = options.mode || pub.minappType || 'order';
  const fullHeight =
    typeof options.fullHeight === 'boolean'
      ? options.fullHeight
      : typeof pub.fullHeight === 'boolean'
        ? pub.fullHeight
        : mode === 'order';
  const locale = (options.locale || pub.locale || 'ru') === 'en' ? 'en' : 'ru';
  const texts = TEXTS[locale];
  const paymentUrlPrefix = options.paymentUrlPrefix || `${location.origin}/order/`;
  const expectedContainerId =
    mode === 'suborder' && typeof pub.orderContainerId === 'string'
      ? pub.orderContainerId.toLowerCase()
      : null;

  const log = (kind, message, extra = {}) => call(options.onLog, { kind, message, ...extra });
  if (!origins.includes(appUrl.origin)) {
    log('warning', `url origin ${appUrl.origin} is not among the allowed origins`);
  }

  let state = 'loading';
  let frameId = null;
  let iframe = null;
  let childOrigin = null;
  let version = 1;
  let timer = null;
  let fadeTimer = null;

  // --- DOM -------------------------------------------------------------------------------------
  const root = document.createElement('div');
  root.dataset.miniappHost = '';
  root.style.position = 'relative';
  root.style.width = '100%';
  if (fullHeight) root.style.height = '100%';

  const skeleton = document.createElement('div');
  skeleton.dataset.miniappSkeleton = '';
  skeleton.className = 'miniapp-frame__skeleton';
  skeleton.setAttribute('role', 'status');
  skeleton.setAttribute('aria-busy', 'true');
  for (const part of ['title', 'cell', 'cell', 'cell', 'button']) {
    const block = document.createElement('div');
    block.className = `skeleton skeleton--${part}`;
    block.setAttribute('aria-hidden', 'true');
    skeleton.append(block);
  }
  const loadingText = document.createElement('span');
  loadingText.className = 'visually-hidden';
  loadingText.textContent = texts.loading;
  skeleton.append(loadingText);
  Object.assign(skeleton.style, { position: 'absolute', inset: '0', zIndex: '1', overflow: 'hidden' });

  const failure = document.createElement('div');
  failure.dataset.miniappFailure = '';
  failure.className = 'banner banner--error miniapp-frame__error';
  failure.setAttribute('role', 'alert');
  setVisible(failure, false);
  const failureBody = document.createElement('div');
  failureBody.className = 'banner__body';
  const failureText = document.createElement('p');
  failureText.className = 'banner__title';
  failureText.textContent = texts.failed;
  const retryButton = document.createElement('button');
  retryButton.type = 'button';
  retryButton.className = 'btn btn--secondary btn--m';
  retryButton.dataset.miniappRetry = '';
  retryButton.textContent = texts.retry;
  retryButton.addEventListener('click', () => retry());
  failureBody.append(failureText, retryButton);
  failure.append(failureBody);

  function setState(next) {
    state = next;
    root.dataset.miniappState = next;
    root.toggleAttribute('data-ready', next === 'ready');
    log('state', next);
  }

  function createFrame() {
    frameId = newFrameId();
    childOrigin = null;
    version = 1;
    const frame = document.createElement('iframe');
    frame.dataset.miniappFrame = '';
    frame.className = 'miniapp-frame__iframe';
    frame.setAttribute('sandbox', IFRAME_SANDBOX);
    frame.setAttribute('allow', 'payment');
    frame.setAttribute('referrerpolicy', 'strict-origin');
    frame.setAttribute('title', texts.titlePrefix + title);
    if (!fullHeight) frame.setAttribute('scrolling', 'no');
    Object.assign(frame.style, {
      display: 'block',
      border: '0',
      width: '100%',
      height: fullHeight ? '100%' : `${coerceHeight(initialHeight) ?? 300}px`,
    });
    frame.src = frameUrl(appUrl.href, frameId);
    return frame;
  }

  function showSkeleton() {
    clearTimeout(fadeTimer);
    setVisible(skeleton, true);
    skeleton.style.transition = '';
    skeleton.style.opacity = '1';
  }

  function hideSkeleton() {
    skeleton.setAttribute('aria-busy', 'false');
    if (prefersReducedMotion()) {
      setVisible(skeleton, false);
      return;
    }
    skeleton.style.transition = 'opacity 200ms ease-in-out';
    skeleton.style.opacity = '0';
    fadeTimer = setTimeout(() => {
      setVisible(skeleton, false);
    }, 200);
  }

  function startTimer() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (state !== 'loading') return;
      setState('failed');
      setVisible(skeleton, false);
      if (iframe) setVisible(iframe, false);
      setVisible(failure, true);
    }, initTimeoutMs);
  }

  function mount() {
    // The listener is attached before the iframe exists: the child's init often arrives before
    // the iframe's load event (spec addendum, "Handshake timing").
    iframe = createFrame();
    setState('loading');
    showSkeleton();
    setVisible(failure, false);
    startTimer();
    root.append(iframe);
  }

  function retry() {
    if (state === 'closed') return;
    if (iframe) iframe.remove();
    mount();
  }

  function post(message) {
    if (!iframe || !iframe.contentWindow || !childOrigin) return false;
    iframe.contentWindow.postMessage(message, childOrigin);
    log('sent', message.action, { action: message.action, origin: childOrigin, payload: message });
    return true;
  }

  // --- messages ----------------------------------------------------------------------------------
  function acceptPaymentUrl(action, value) {
    if (typeof value !== 'string') {
      log('refused', `refused ${action}: not a string`, { action, reason: 'type' });
      return null;
    }
    const containerId = paymentUrlContainerId(value, paymentUrlPrefix);
    if (!containerId) {
      log('refused', `refused ${action}: not a payment URL: ${value.slice(0, 200)}`, {
        action,
        reason: 'payment_url',
        value: value.slice(0, 200),
      });
      return null;
    }
    if (expectedContainerId && containerId !== expectedContainerId) {
      log('refused', `refused ${action}: a different order container: ${containerId}`, {
        action,
        reason: 'container',
        value: containerId,
      });
      return null;
    }
    return value;
  }

  function onMessage(event) {
    if (state === 'closed') return;
    const data = event.data;
    if (!iframe || event.source !== iframe.contentWindow) {
      // Not ours (another frame, an extension, a nested frame of the mini-app): stay quiet unless
      // it looks like our protocol.
      if (data && typeof data === 'object' && 'action' in data) {
        log('ignored', 'ignored: message from another window', {
          origin: event.origin,
          reason: 'source',
          payload: data,
        });
      }
      return;
    }
    if (!origins.includes(event.origin)) {
      log('ignored', `ignored: origin ${event.origin} is not allowed`, {
        origin: event.origin,
        reason: 'origin',
        payload: data,
      });
      return;
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) {
      log('ignored', 'ignored: not an object', {
        origin: event.origin,
        reason: 'type',
        payload: data,
      });
      return;
    }
    if (data.id !== frameId) {
      log('ignored', 'ignored: wrong id', {
        origin: event.origin,
        reason: 'id',
        action: data.action,
        payload: data,
      });
      return;
    }
    const action = data.action;
    log('received', String(action), { action, origin: event.origin, payload: data });
    const A = ACTIONS.CHILD;
    switch (action) {
      case A.INIT: {
        version = Number.isInteger(data.version) && data.version >= 1 ? data.version : 1;
        childOrigin = event.origin;
        // Answer every init, re-inits included: the SDK never retries and caches the last reply.
        post({ id: frameId, action: ACTIONS.HOST.INIT, data: initData });
        clearTimeout(timer);
        if (state !== 'ready') {
          setState('ready');
          setVisible(failure, false);
          setVisible(iframe, true);
          hideSkeleton();
        }
        call(options.onReady, { frameId, version });
        break;
      }
      case A.HEIGHT: {
        if (fullHeight) {
          log('ignored', 'ignored height: full-height frame', { action, reason: 'fullHeight' });
          break;
        }
        const px = coerceHeight(data.data);
        if (px === null) {
          log('ignored', 'ignored height: not a usable number', { action, reason: 'height' });
          break;
        }
        iframe.style.height = `${px}px`;
        call(options.onHeight, px);
        break;
      }
      case A.DONE: {
        if (data.data === null) {
          call(options.onDone, null);
          break;
        }
        const paymentUrl = acceptPaymentUrl(action, data.data);
        if (paymentUrl) call(options.onDone, paymentUrl);
        break;
      }
      case A.ERROR: {
        const raw = typeof data.data === 'string' ? data.data.trim() : '';
        const text = raw ? raw.slice(0, MAX_ERROR_TEXT) : DEFAULT_ERROR_TEXT[locale];
        call(options.onError, text);
        break;
      }
      case A.LINK: {
        const href = safeLinkUrl(data.data, appUrl.href);
        if (!href) {
          const value = String(data.data).slice(0, 200);
          log('refused', `refused link: ${value}`, { action, reason: 'link', value });
          break;
        }
        // With 'noopener' window.open returns null even when it worked, so a blocked popup cannot
        // be detected: onLink lets the page offer a visible link as well.
        window.open(href, '_blank', 'noopener');
        call(options.onLink, href);
        break;
      }
      case A.UNAVAILABLE: {
        close();
        call(options.onUnavailable);
        break;
      }
      case A.CHECKOUT: {
        const paymentUrl = acceptPaymentUrl(action, data.data);
        if (paymentUrl) call(options.onCheckout, paymentUrl);
        break;
      }
      default:
        // Unknown actions are ignored (forward compatibility, protocol v2 addendum).
        break;
    }
  }

  function updateData(data) {
    if (!data || typeof data !== 'object') throw new TypeError('updateData: data must be an object');
    initData = data;
    if (state !== 'ready' || version < 2) return false;
    return post({ id: frameId, action: ACTIONS.HOST.UPDATE_DATA, data });
  }

  function sendPaymentResult(status) {
    if (!PAYMENT_RESULTS.includes(status)) {
      throw new TypeError(`sendPaymentResult: unknown status ${status}`);
    }
    if (state !== 'ready') return false;
    return post({ id: frameId, action: ACTIONS.HOST.PAYMENT_RESULT, data: status });
  }

  function close() {
    if (state === 'closed') return;
    window.removeEventListener('message', onMessage);
    clearTimeout(timer);
    clearTimeout(fadeTimer);
    setState('closed');
    root.remove();
    iframe = null;
    childOrigin = null;
  }

  window.addEventListener('message', onMessage);
  root.append(skeleton, failure);
  mount();
  container.append(root);

  return {
    get frameId() {
      return frameId;
    },
    get iframe() {
      return iframe;
    },
    get state() {
      return state;
    },
    get version() {
      return version;
    },
    element: root,
    updateData,
    sendPaymentResult,
    retry,
    close,
  };
}

export default openMiniApp;

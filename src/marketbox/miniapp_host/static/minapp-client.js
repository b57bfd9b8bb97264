/**
 * marketbox mini-app client: the mini-app side of the Invoicebox mini-app protocol
 * (spec/miniapps.md §3–§5 and the protocol-v2 addendum), a drop-in for `@invoicebox/minapp-sdk`.
 * Plain ES module with no imports and no build step; a shop serves this one file itself.
 *
 *   import { createMinappClient } from '/static/minapp-client.js';
 *   const minapp = createMinappClient({ parentOrigin: 'https://market.example' });  // recommended
 *   // or: import { invoiceboxMinapp as minapp } from '/static/minapp-client.js';   // SDK-like
 *   minapp.connect();                          // sends {id, action: 'init', version: 2}
 *   const data = await minapp.getInitialData(); // init data `public` part
 *
 * Same surface and semantics as the SDK:
 *   connect() / disconnect() / isConnected()   'Already connected' / 'Already disconnected';
 *                                              disconnect() rejects pending getInitialData()
 *                                              with Error('Disconnected') and forgets the data
 *   getInitialData() → Promise<public>         waits for the host's init
 *   matchMetaDataValues(key, values) → Promise<boolean>      deep search, spec §5
 *   getMetaDataValues(key | keys) → Promise<unknown[]>       deep search, spec §5
 *   onHeightChange(px), onDone(url | null), onError(text?), onLink(href), onUnavailable(),
 *   onCheckout(url)                            each throws Error('not connected') before connect()
 *   onPaymentResult(handler)                   handler(status); the 5.x spelling 'paid' is passed
 *                                              on as 'completed'
 *   onUpdateData(handler)                      handler(public) on a v2 `updateData`; the new data
 *                                              also replaces what the helpers above search
 *   getFrameId()                               the `id` query parameter (null when absent)
 *
 * Transport (as the SDK): inside a React-Native WebView, a JSON string to
 * window.ReactNativeWebView.postMessage; not framed, nothing is sent; otherwise an object to
 * window.parent.postMessage.
 *
 * Parent origin: the SDK posts with targetOrigin '*' and accepts messages from anyone carrying its
 * id. Pass `parentOrigin` (a string or an array of origins of the platforms allowed to embed the
 * mini-app) to do better: incoming messages are then accepted only from window.parent at one of
 * those origins, `init` is posted to each of them (it carries nothing but the id), and later
 * messages go only to the origin that answered. Without `parentOrigin` it behaves like the SDK.
 */

// Wire constants. Keep in sync with bridge.js and marketbox/miniapp_host/protocol.py
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
  "paymentResults": ["pending", "completed", "canceled", "expired", "hold", "unknown"]
};
/* protocol:end */

export const PROTOCOL_VERSION = WIRE.version;
export const ACTIONS = Object.freeze({
  CHILD: Object.freeze({ ...WIRE.childToHost }),
  HOST: Object.freeze({ ...WIRE.hostToChild }),
});
export const PAYMENT_RESULTS = Object.freeze([...WIRE.paymentResults]);

const C = ACTIONS.CHILD;
const H = ACTIONS.HOST;

// --- metadata search (lodash isEqual / uniqWith semantics for JSON-like data) -----------------------

const objectTag = (v) => Object.prototype.toString.call(v);

/** Deep equality as lodash `isEqual` for JSON-like values: NaN equals NaN, "1" !== 1. */
export function isEqual(a, b) {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (objectTag(a) !== objectTag(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    return a.every((item, i) => isEqual(item, b[i]));
  }
  if (a instanceof Date) return a.getTime() === b.getTime();
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && isEqual(a[k], b[k]));
}

function matchSomeProperty(struct, targetKey, targetValues) {
  if (typeof struct !== 'object' || struct === null) return false;
  for (const sourceKey in struct) {
    const sourceValue = struct[sourceKey];
    if (targetKey === sourceKey && targetValues.some((t) => isEqual(t, sourceValue))) return true;
    if (matchSomeProperty(sourceValue, targetKey, targetValues)) return true;
  }
  return false;
}

function collectProperties(struct, targetKey, out) {
  if (typeof struct !== 'object' || struct === null) return out;
  for (const sourceKey in struct) {
    const sourceValue = struct[sourceKey];
    if (targetKey === sourceKey) out.push(sourceValue);
    collectProperties(sourceValue, targetKey, out);
  }
  return out;
}

function uniqDeep(values) {
  const out = [];
  for (const v of values) if (!out.some((u) => isEqual(u, v))) out.push(v);
  return out;
}

/** spec §5 `matchMetaDataValues` on a metaData array. */
export function matchMetaData(metaData, targetKey, targetValues) {
  return matchSomeProperty(metaData, targetKey, targetValues);
}

/** spec §5 `getMetaDataValues` on a metaData array. */
export function getMetaData(metaData, targetKey) {
  const keys = Array.isArray(targetKey) ? targetKey : [targetKey];
  const found = [];
  for (const key of keys) collectProperties(metaData, key, found);
  return uniqDeep(found);
}

// --- client ------------------------------------------------------------------------------------------

export class MinappClient {
  constructor({ parentOrigin = null, window: win = globalThis.window } = {}) {
    if (!win) throw new Error('MinappClient needs a window');
    this._window = win;
    this._id = new URL(win.location.href).searchParams.get('id');
    this._origins =
      parentOrigin == null ? null : (Array.isArray(parentOrigin) ? parentOrigin : [parentOrigin]).map(
        (o) => new URL(o).origin,
      );
    this._targetOrigin = null; // the origin that answered init (only with parentOrigin)
    this._connected = false;
    this._data = null;
    this._resolvers = [];
    this._rejectors = [];
    this._paymentResultHandler = null;
    this._updateDataHandlers = [];
    this._onMessage = this._onMessage.bind(this);
  }

  getFrameId() {
    return this._id;
  }

  connect() {
    if (this._connected) throw new Error('Already connected');
    this._connected = true;
    this._window.addEventListener('message', this._onMessage);
    this._send({ id: this._id, action: C.INIT, version: PROTOCOL_VERSION });
  }

  disconnect() {
    if (!this._connected) throw new Error('Already disconnected');
    this._connected = false;
    this._data = null;
    this._targetOrigin = null;
    this._resolvers = [];
    const rejectors = this._rejectors;
    this._rejectors = [];
    rejectors.forEach((reject) => reject(new Error('Disconnected')));
    this._window.removeEventListener('message', this._onMessage);
  }

  isConnected() {
    return this._connected;
  }

  getInitialData() {
    return this._allData().then((data) => data.public);
  }

  matchMetaDataValues(targetKey, targetValues) {
    return this._allData().then((data) => matchMetaData(data.private.metaData, targetKey, targetValues));
  }

  getMetaDataValues(targetKey) {
    return this._allData().then((data) => getMetaData(data.private.metaData, targetKey));
  }

  onHeightChange(height) {
    this._send({ id: this._id, action: C.HEIGHT, data: height });
  }

  onDone(paymentUrl) {
    this._send({ id: this._id, action: C.DONE, data: paymentUrl ?? null });
  }

  onError(message) {
    this._send({ id: this._id, action: C.ERROR, data: message || null });
  }

  onLink(href) {
    this._send({ id: this._id, action: C.LINK, data: href });
  }

  onUnavailable() {
    this._send({ id: this._id, action: C.UNAVAILABLE, data: null });
  }

  onCheckout(paymentUrl) {
    this._send({ id: this._id, action: C.CHECKOUT, data: paymentUrl });
  }

  onPaymentResult(handler) {
    this._paymentResultHandler = typeof handler === 'function' ? handler : null;
  }

  /** Register a handler for v2 `updateData`; returns a function that unregisters it. */
  onUpdateData(handler) {
    if (typeof handler !== 'function') throw new TypeError('onUpdateData: handler must be a function');
    this._updateDataHandlers.push(handler);
    return () => {
      this._updateDataHandlers = this._updateDataHandlers.filter((h) => h !== handler);
    };
  }

  _allData() {
    if (this._data) return Promise.resolve(this._data);
    return new Promise((resolve, reject) => {
      this._resolvers.push(resolve);
      this._rejectors.push(reject);
    });
  }

  _setData(data) {
    this._data = data;
    const resolvers = this._resolvers;
    this._resolvers = [];
    this._rejectors = [];
    resolvers.forEach((resolve) => resolve(data));
  }

  _send(message) {
    if (!this._connected) throw new Error('not connected');
    const win = this._window;
    if (win.ReactNativeWebView) {
      win.ReactNativeWebView.postMessage(JSON.stringify(message));
      return;
    }
    if (win.parent === win) return;
    if (!this._origins) {
      win.parent.postMessage(message, '*');
    } else if (this._targetOrigin) {
      win.parent.postMessage(message, this._targetOrigin);
    } else {
      // The browser delivers to at most one of these: the one the parent really has.
      for (const origin of this._origins) win.parent.postMessage(message, origin);
    }
  }

  _onMessage(event) {
    try {
      const data = event.data;
      if (!data || typeof data !== 'object' || data.id !== this._id) return;
      if (this._origins) {
        // A React-Native host injects messages into this window itself.
        const fromParent = event.source === this._window.parent && this._origins.includes(event.origin);
        const fromNative = !!this._window.ReactNativeWebView && event.source === this._window;
        if (!fromParent && !fromNative) return;
        if (fromParent) this._targetOrigin = event.origin;
      }
      switch (data.action) {
        case H.INIT:
          this._setData(data.data);
          break;
        case H.UPDATE_DATA:
          this._setData(data.data);
          this._updateDataHandlers.forEach((handler) => handler(data.data.public));
          break;
        case H.PAYMENT_RESULT:
          if (this._paymentResultHandler && typeof data.data === 'string') {
            this._paymentResultHandler(data.data === 'paid' ? 'completed' : data.data);
          }
          break;
        default:
          break; // unknown actions are ignored (protocol v2)
      }
    } catch {
      // Like the SDK: a broken message or a failing handler must not break the listener.
    }
  }
}

/** A new client for this window (see the module comment for `parentOrigin`). */
export function createMinappClient(options = {}) {
  return new MinappClient(options);
}

/** SDK-compatible singleton (posts with '*', no origin checks); null outside a browser. */
export const invoiceboxMinapp = typeof window === 'undefined' ? null : new MinappClient();

export default invoiceboxMinapp;

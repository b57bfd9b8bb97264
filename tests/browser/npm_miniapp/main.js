// A minimal mini-app on the unmodified official SDK, as a third party would write it.
// Exposes the SDK and what it received for the browser tests (tests/browser/test_bridge.py,
// test_flows.py).
//
// «Оформить заказ» posts the init data to its own backend (`POST api/order`, relative to the
// page, on the mini-app's origin; tests/browser/test_flows.py serves one) and hands the answered
// payment URL to the host with onDone. Without a backend, or when the backend refuses (its
// `error.message`), the button reports onError. The signed launch data
// (`public.signedLaunchData`, marketbox) goes along verbatim: the backend trusts only what it
// verifies. `window.__tamper`, if a test sets it, may change the request body first.
import { invoiceboxMinapp } from '@invoicebox/minapp-sdk';

window.__sdk = invoiceboxMinapp;
window.__initial = null;
window.__tamper = null;

async function order(data) {
  const button = document.querySelector('[data-order]');
  button.disabled = true;
  try {
    let payload = {
      shopId: data.shopId,
      orderContainerId: data.orderContainerId || null,
      userName: data.userName,
      userEmail: data.userEmail,
      userPhone: data.userPhone,
      signedLaunchData: data.signedLaunchData,
    };
    if (typeof window.__tamper === 'function') payload = window.__tamper(payload);
    const response = await fetch(new URL('api/order', location.href), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload),
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => null);
      throw new Error(answer?.error?.message || `HTTP ${response.status}`);
    }
    const { url } = await response.json();
    invoiceboxMinapp.onDone(url);
  } catch (err) {
    button.disabled = false;
    invoiceboxMinapp.onError(err instanceof Error ? err.message : String(err));
  }
}

invoiceboxMinapp.connect();
invoiceboxMinapp.getInitialData().then((data) => {
  window.__initial = data;
  document.body.dataset.ready = 'true';
  document.querySelector('[data-status]').textContent = `Магазин ${data.shopId}`;
  const button = document.querySelector('[data-order]');
  button.hidden = false;
  button.addEventListener('click', () => order(data));
  if (!data.fullHeight) invoiceboxMinapp.onHeightChange(document.documentElement.offsetHeight);
});

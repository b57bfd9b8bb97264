// A minimal mini-app on the unmodified official SDK, as a third party would write it.
// Exposes the SDK and what it received for the browser tests (tests/browser/test_bridge.py,
// test_flows.py).
//
// «Оформить заказ» posts the init data to its own backend (`POST api/order`, relative to the
// page, on the mini-app's origin; tests/browser/test_flows.py serves one) and hands the answered
// payment URL to the host with onDone. Without a backend the button reports onError.
import { invoiceboxMinapp } from '@invoicebox/minapp-sdk';

window.__sdk = invoiceboxMinapp;
window.__initial = null;

async function order(data) {
  const button = document.querySelector('[data-order]');
  button.disabled = true;
  try {
    const response = await fetch(new URL('api/order', location.href), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        shopId: data.shopId,
        orderContainerId: data.orderContainerId || null,
        userName: data.userName,
        userEmail: data.userEmail,
        userPhone: data.userPhone,
      }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { url } = await response.json();
    invoiceboxMinapp.onDone(url);
  } catch (err) {
    button.disabled = false;
    invoiceboxMinapp.onError(String(err));
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

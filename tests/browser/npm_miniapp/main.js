// A minimal mini-app on the unmodified official SDK, as a third party would write it.
// Exposes the SDK and what it received for the browser test (tests/browser/test_bridge.py).
import { invoiceboxMinapp } from '@invoicebox/minapp-sdk';

window.__sdk = invoiceboxMinapp;
window.__initial = null;

invoiceboxMinapp.connect();
invoiceboxMinapp.getInitialData().then((data) => {
  window.__initial = data;
  document.body.dataset.ready = 'true';
  document.querySelector('[data-status]').textContent = `Магазин ${data.shopId}`;
  if (!data.fullHeight) invoiceboxMinapp.onHeightChange(document.documentElement.offsetHeight);
});

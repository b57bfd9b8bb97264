// Payment page enhancements (payment_page/templates/payment_page/*.html). The pages work
// without this file: it only prevents a double submit, shows the loading state, groups the
// card number, focuses the error banner, wires «Распечатать», and offers refreshTotals() to
// the add-on strip. The one global is window.marketbox.paymentPage.

const form = document.querySelector("[data-pay-form]");

function setBusy(busy) {
  const button = form && form.querySelector("[data-pay-button]");
  if (!button) return;
  if (busy) {
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
  } else {
    button.removeAttribute("aria-busy");
    button.removeAttribute("aria-disabled");
  }
}

if (form) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.submitting) {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "true";
    setBusy(true);
  });
  // Back/forward cache: a page restored after leaving must be usable again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      delete form.dataset.submitting;
      setBusy(false);
    }
  });

  const number = form.querySelector("[data-card-number]");
  if (number) {
    number.addEventListener("input", () => {
      const digits = number.value.replace(/\D/g, "").slice(0, 19);
      const grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
      if (grouped !== number.value) number.value = grouped;
    });
  }
  const expiry = form.querySelector("[data-card-expiry]");
  if (expiry) {
    expiry.addEventListener("input", (event) => {
      if (event.inputType && event.inputType.startsWith("delete")) return;
      const digits = expiry.value.replace(/\D/g, "").slice(0, 4);
      expiry.value = digits.length > 2 ? `${digits.slice(0, 2)}/${digits.slice(2)}` : digits;
    });
  }
}

const banner = document.querySelector("[data-autofocus]");
if (banner && document.activeElement !== banner) banner.focus();

for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

/** Re-read the invoice total (after an add-on joined) and show it everywhere. */
async function refreshTotals() {
  if (!form) return null;
  const response = await fetch(form.dataset.summaryUrl + location.search, {
    headers: { Accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`summary: HTTP ${response.status}`);
  const summary = await response.json();
  for (const node of document.querySelectorAll("[data-total]")) {
    node.textContent = summary.formattedAmount;
  }
  const expected = form.querySelector("[data-expected-amount]");
  if (expected) expected.value = String(summary.amount);
  const live = document.querySelector("[data-total-live]");
  if (live) live.textContent = summary.formattedAmount;
  return summary;
}

window.marketbox = window.marketbox || {};
window.marketbox.paymentPage = { refreshTotals };

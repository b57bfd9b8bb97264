// Payment page enhancements (payment_page/templates/payment_page/*.html). The pages work
// without this file: it checks the card, e-mail and phone as the buyer types and on blur
// (the server checks them again), prevents a double submit, shows the loading state, groups
// the card number and shows its brand, focuses the error banner, wires «Распечатать», and
// offers refreshTotals() to the add-on strip. The one global is window.marketbox.paymentPage.

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

// --- live checks -------------------------------------------------------------------------
// The same rules as the server's (payments/sandbox.py check_card, payment_page/forms.py), in
// the server's words (the form's data-live-texts); the server checks everything again behind them.

const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const MAX_YEARS_AHEAD = 20;
// First digits -> brand (Мир / Mir is named in data-live-texts).
const BRANDS = [
  { key: "mir", test: (d) => /^220[0-4]/.test(d) },
  { key: "visa", test: (d) => d.startsWith("4") },
  {
    key: "mastercard",
    test: (d) => /^5[1-5]/.test(d) || (d.length >= 4 && +d.slice(0, 4) >= 2221 && +d.slice(0, 4) <= 2720),
  },
];

function readTexts() {
  try {
    return form ? JSON.parse(form.dataset.liveTexts || "{}") : {};
  } catch {
    return {};
  }
}

const texts = readTexts();

export function luhnValid(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let n = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

export function cardBrand(digits) {
  const brand = BRANDS.find((b) => b.test(digits));
  return brand ? brand.key : null;
}

/** The message for a value (or "" when it is fine). `final`: the buyer left the field or
 * submits; while typing, an unfinished value is not an error yet. */
function problem(kind, raw, { final, required }) {
  const value = raw.trim();
  if (!value) return final && required ? texts.required || "" : "";
  if (kind === "card_number") {
    const digits = value.replace(/[\s-]/g, "");
    if (!/^[0-9]+$/.test(digits) || digits.length > 19) return texts.card_number;
    // While typing, a number is judged once it has 16 digits (Visa, Mastercard, Мир); a
    // longer valid one clears the message again.
    if (!final && digits.length < 16) return "";
    return digits.length >= 12 && luhnValid(digits) ? "" : texts.card_number;
  }
  if (kind === "card_expiry") {
    const match = /^([0-9]{1,2})\s*\/?\s*([0-9]{2})$/.exec(value);
    if (!match) return final || value.replace(/\D/g, "").length >= 4 ? texts.card_expiry : "";
    const month = +match[1];
    const year = 2000 + +match[2];
    if (month < 1 || month > 12) return texts.card_expiry;
    const now = new Date();
    if (year * 12 + month < now.getFullYear() * 12 + now.getMonth() + 1) return texts.card_expired;
    if (year > now.getFullYear() + MAX_YEARS_AHEAD) return texts.card_expiry;
    return "";
  }
  if (kind === "card_cvc") {
    if (/^[0-9]{3}$/.test(value)) return "";
    return final || value.length > 3 || /[^0-9]/.test(value) ? texts.card_cvc : "";
  }
  if (kind === "email") return EMAIL_RE.test(value) ? "" : final ? texts.email : "";
  if (kind === "phone") {
    const digits = value.replace(/[^0-9]/g, "").length;
    const ok = digits >= 10 && digits <= 15 && !/[^0-9\s()+-]/.test(value);
    return ok ? "" : final ? texts.phone : "";
  }
  return "";
}

function kindOf(input) {
  if (input.dataset.check) return input.dataset.check;
  if (input.name === "email" || input.name === "phone") return input.name;
  return null;
}

function isShown(input) {
  return input.getClientRects().length > 0;
}

function isRequired(input) {
  if (input.required) return true;
  const types = (input.dataset.requiredFor || "").split(" ");
  const chosen = form.querySelector('input[name="customer_type"]:checked');
  return Boolean(chosen && types.includes(chosen.value));
}

/** Show (or clear, when `message` is "") the field's error, as the server renders it. */
function showError(input, message) {
  const errorId = `${input.id}-error`;
  let node = document.getElementById(errorId);
  const hint = document.getElementById(`${input.id}-hint`);
  if (!message) {
    if (node) node.remove();
    input.removeAttribute("aria-invalid");
    if (hint) {
      hint.hidden = false;
      input.setAttribute("aria-describedby", hint.id);
    } else {
      input.removeAttribute("aria-describedby");
    }
    return;
  }
  if (!node) {
    const template = document.querySelector("template[data-field-error]");
    node = template.content.firstElementChild.cloneNode(true);
    node.id = errorId;
    input.closest(".field__box").after(node);
  }
  const text = node.querySelector("span");
  if (text.textContent !== message) text.textContent = message;
  if (hint) hint.hidden = true;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", errorId);
}

function check(input, final) {
  const kind = kindOf(input);
  if (!kind || !isShown(input)) return true;
  const message = problem(kind, input.value, { final, required: isRequired(input) });
  // While typing, only clear an error or report one that is already certain.
  if (!final && !message && input.getAttribute("aria-invalid") !== "true") return true;
  showError(input, message);
  return !message;
}

function showBrand(number) {
  const slot = form.querySelector("[data-card-brand]");
  if (!slot) return;
  const brand = cardBrand(number.value.replace(/\D/g, ""));
  slot.hidden = !brand;
  slot.textContent = brand ? texts[`brand_${brand}`] || brand : "";
  slot.dataset.brand = brand || "";
}

if (form) {
  const checked = [...form.querySelectorAll("input")].filter((input) => kindOf(input));
  for (const input of checked) {
    input.addEventListener("input", () => check(input, false));
    input.addEventListener("blur", () => {
      if (input.value.trim()) check(input, true);
    });
  }

  form.addEventListener("submit", (event) => {
    if (form.dataset.submitting) {
      event.preventDefault();
      return;
    }
    const invalid = checked.filter((input) => !check(input, true));
    if (invalid.length) {
      event.preventDefault();
      invalid[0].focus();
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

  const number = form.querySelector('[data-check="card_number"]');
  if (number) {
    number.addEventListener("input", () => {
      const digits = number.value.replace(/\D/g, "").slice(0, 19);
      const grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
      if (grouped !== number.value) number.value = grouped;
      showBrand(number);
      check(number, false);
    });
    showBrand(number);
  }
  const expiry = form.querySelector('[data-check="card_expiry"]');
  if (expiry) {
    expiry.addEventListener("input", (event) => {
      if (event.inputType && event.inputType.startsWith("delete")) return;
      const digits = expiry.value.replace(/\D/g, "").slice(0, 4);
      expiry.value = digits.length > 2 ? `${digits.slice(0, 2)}/${digits.slice(2)}` : digits;
      check(expiry, false);
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

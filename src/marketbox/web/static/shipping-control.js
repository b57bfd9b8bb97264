// Shipping control's waiting page (payment_page/templates/payment_page/confirming.html).
// The page works without this file (it reloads itself every few seconds); with it, the page
// asks confirmation.json instead, and once the shop has answered (or the time limit passed)
// loads the page again, which shows the answer or moves on to the shop. Bounded: it stops
// asking after the limit plus a few seconds, and at most MAX_POLLS times.

const root = document.querySelector("[data-confirming]");
const INTERVAL_MS = 500;
const MAX_POLLS = 120;

function reload() {
  window.location.replace(root.dataset.confirmingUrl);
}

async function waitForAnswer() {
  const waitMs = (Number(root.dataset.waitSeconds) || 0) * 1000;
  const polls = Math.min(MAX_POLLS, Math.ceil(waitMs / INTERVAL_MS) + 6);
  for (let i = 0; i < polls; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
    try {
      const answer = await fetch(root.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (answer.ok) {
        const body = await answer.json();
        if (body.state !== "waiting") {
          reload();
          return;
        }
      }
    } catch {
      // a network hiccup: ask again on the next turn
    }
  }
  reload();
}

if (root) waitForAnswer();

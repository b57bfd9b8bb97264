"""Fixture mini-apps for the playground tests: one that follows every rule, and broken ones,
each breaking one rule (playground/rules.py), served by a StaticSite on a free port.

Each speaks the protocol by hand (no SDK, so it can break it). The platform's origin comes from
`document.referrer` (the host frame sends `strict-origin`), so the same page works under the
test's live server and under the in-process marketbox of `marketbox miniapp check`.
"""

from __future__ import annotations

from tests.browser.bridge_support import StaticSite

# The common part: `send`, the frame id, the host's init data once it answered, a payment URL
# of the platform (the container's own in suborder mode).
PRELUDE = """
const id = new URLSearchParams(location.search).get('id');
const platform = document.referrer ? new URL(document.referrer).origin : location.origin;
const send = (message) => window.parent.postMessage(message, '*');
const later = (fn, ms) => setTimeout(fn, ms);
function paymentUrl(init) {
  const cid = init.public.orderContainerId || '0190f0a1-0000-7000-8000-0000000000c1';
  return `${platform}/order/${cid}`;
}
function onInit(handler) {
  window.addEventListener('message', (event) => {
    const data = event.data;
    if (data && data.id === id && data.action === 'init') handler(data.data);
  });
}
"""

# name -> (script, the rule it breaks or None)
APPS: dict[str, tuple[str, str | None]] = {
    "good": (
        """
onInit((init) => {
  if (!init.public.fullHeight) send({ id, action: 'height', data: 420 });
  send({ id, action: 'link', data: 'https://example.com/offer' });
  later(() => send({ id, action: 'done', data: paymentUrl(init) }), 100);
});
send({ id, action: 'init', version: 2 });
""",
        None,
    ),
    "never_init": ("/* shows a page, never speaks */", "init"),
    "wrong_id": (
        """
onInit((init) => {
  send({ id: 'not-the-frame-id', action: 'error', data: 'oops' });
  later(() => send({ id, action: 'done', data: paymentUrl(init) }), 100);
});
send({ id, action: 'init' });
""",
        "id",
    ),
    "before_init": (
        """
send({ id, action: 'error', data: 'too early' });
onInit((init) => later(() => send({ id, action: 'done', data: null }), 50));
later(() => send({ id, action: 'init', version: 2 }), 50);
""",
        "order",
    ),
    "bad_heights": (
        """
onInit((init) => {
  send({ id, action: 'height', data: '300' });
  send({ id, action: 'height', data: 12 });
  later(() => send({ id, action: 'done', data: paymentUrl(init) }), 100);
});
send({ id, action: 'init', version: 2 });
""",
        "height",
    ),
    "foreign_done": (
        """
const foreign = 'https://pay.elsewhere.example/x';
onInit(() => later(() => send({ id, action: 'done', data: foreign }), 50));
send({ id, action: 'init', version: 2 });
""",
        "done",
    ),
    "strings": (
        """
onInit((init) => {
  send(JSON.stringify({ id, action: 'height', data: 300 }));
  later(() => send({ id, action: 'done', data: paymentUrl(init) }), 100);
});
send({ id, action: 'init', version: 2 });
""",
        "objects",
    ),
    "bad_link": (
        """
onInit(() => {
  send({ id, action: 'link', data: 'javascript:alert(1)' });
  later(() => send({ id, action: 'unavailable', data: null }), 100);
});
send({ id, action: 'init' });
""",
        "link",
    ),
    "unavailable_with_data": (
        """
onInit(() => later(() => send({ id, action: 'unavailable', data: { reason: 'no flights' } }), 50));
send({ id, action: 'init', version: 2 });
""",
        "unavailable",
    ),
    "error_object": (
        """
onInit(() => {
  send({ id, action: 'error', data: { message: 'bad' } });
  later(() => send({ id, action: 'done', data: null }), 100);
});
send({ id, action: 'init', version: 2 });
""",
        "error",
    ),
    "unknown_action": (
        """
onInit(() => {
  send({ id, action: 'futureThing', data: 1 });
  later(() => send({ id, action: 'done', data: null }), 100);
});
send({ id, action: 'init', version: 3 });
""",
        None,  # a warning only: forward-compatible
    ),
}


def page(script: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>fixture</title></head>"
        "<body><h1>Fixture mini-app</h1><p>It speaks the protocol by hand.</p>"
        f"<script>{PRELUDE}\n{script}</script></body></html>"
    )


def serve_apps() -> StaticSite:
    site = StaticSite()
    for name, (script, _) in APPS.items():
        site.page(f"/{name}.html", page(script))
    return site

"""Support for the bridge browser tests: tiny static sites on three origins, the test pages, the
Chromium launch settings, and the build of a mini-app on the official npm SDK.

Origins (all 127.0.0.1, different free ports, hence different origins):

* host:  ``/host.html`` imports the real ``bridge.js`` from ``/static/bridge.js`` and records every
  bridge callback into ``window.__events`` instead of acting on it;
* app:   the registered mini-app origin: ``/app.html`` (our ``minapp-client.js``), ``/raw.html``
  (speaks the protocol by hand, v1 unless told), ``/hostile.html``, ``/nested.html``,
  ``/redirect?to=<url>`` (302), and ``/npm/`` (the npm-SDK mini-app, once mounted);
* evil:  an origin the host never registers: the same pages.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC_DIR = REPO / "src" / "marketbox" / "miniapp_host" / "static"
# The platform stylesheet, so the tests see the bridge's DOM as the real pages style it.
STYLESHEET = REPO / "src" / "marketbox" / "web" / "static" / "marketbox.css"
NPM_MINIAPP_SRC = Path(__file__).resolve().parent / "npm_miniapp"
NPM_BUILD_DIR = REPO / "build" / "npm_miniapp"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    """The distribution's Chromium (``MARKETBOX_CHROMIUM`` or /usr/bin/chromium), if present."""
    path = os.environ.get("MARKETBOX_CHROMIUM", "/usr/bin/chromium")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


# `pytestmark` of every browser test module. Without Chromium they skip locally; in CI
# (MARKETBOX_REQUIRE_BROWSER=1) tests/conftest.py fails the whole run instead.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="no Chromium at /usr/bin/chromium (or $MARKETBOX_CHROMIUM); browsers are never "
        "downloaded by the tests",
    ),
]


# --- static sites ----------

Body = Callable[[], bytes]


@dataclass
class StaticSite:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> serving a route table and directory mounts."""

    routes: dict[str, tuple[str, Body]] = field(default_factory=dict)
    mounts: dict[str, Path] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == "/redirect":
                    target = parse_qs(parts.query).get("to", [""])[0]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                found = site._lookup(parts.path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def page(self, path: str, html: str) -> None:
        self.routes[path] = ("text/html; charset=utf-8", lambda: html.encode())

    def file(self, path: str, source: Path) -> None:
        """Serve `source`, read on every request (edits show up without a restart)."""
        content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        if content_type in ("text/javascript", "application/javascript"):
            content_type = "text/javascript; charset=utf-8"
        self.routes[path] = (content_type, source.read_bytes)

    def mount(self, prefix: str, directory: Path) -> None:
        self.mounts[prefix] = directory

    def _lookup(self, path: str) -> tuple[str, bytes] | None:
        if path in self.routes:
            content_type, body = self.routes[path]
            return content_type, body()
        for prefix, directory in self.mounts.items():
            if path.startswith(prefix):
                relative = path[len(prefix) :] or "index.html"
                target = (directory / relative).resolve()
                if directory.resolve() in target.parents and target.is_file():
                    content_type = mimetypes.guess_type(target.name)[0] or "text/plain"
                    if target.suffix == ".js":
                        content_type = "text/javascript; charset=utf-8"
                    return content_type, target.read_bytes()
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class Sites:
    host: StaticSite
    app: StaticSite
    evil: StaticSite

    @property
    def payment_url_prefix(self) -> str:
        return self.host.url("/order/")

    def close(self) -> None:
        for site in (self.host, self.app, self.evil):
            site.close()


def start_sites() -> Sites:
    host, app, evil = StaticSite(), StaticSite(), StaticSite()
    host.page("/host.html", HOST_PAGE)
    host.file("/static/bridge.js", STATIC_DIR / "bridge.js")
    if STYLESHEET.is_file():
        host.file("/static/marketbox.css", STYLESHEET)
    for site in (app, evil):
        site.file("/static/minapp-client.js", STATIC_DIR / "minapp-client.js")
        site.page("/app.html", APP_PAGE)
        site.page("/raw.html", RAW_PAGE)
        site.page("/hostile.html", HOSTILE_PAGE)
        site.page("/nested.html", NESTED_PAGE)
    return Sites(host=host, app=app, evil=evil)


# --- pages ----------

# The test host. `__open(name, options)` opens a mini-app into `options.container` (a selector) with
# every callback recorded as {frame, type, args} in window.__events; window.open is recorded too.
HOST_PAGE = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>Bridge test host</title>
<link rel="stylesheet" href="/static/marketbox.css">
<style>
  [data-slot] { height: 600px; margin-bottom: 16px; }
  [data-slot="small"] { height: auto; }
</style>
</head>
<body>
<div class="miniapp-frame" data-slot="main"></div>
<div data-slot="second"></div>
<div data-slot="small"></div>
<script type="module">
import * as bridge from '/static/bridge.js';

window.__bridge = bridge;
window.__events = [];
window.__handles = {};
window.__realOpen = window.open;
window.open = (...args) => {
  window.__events.push({ frame: null, type: 'window.open', args });
  return null;
};
window.__open = (name, options) => {
  const record = (type) => (...args) => window.__events.push({ frame: name, type, args });
  const handle = bridge.openMiniApp({
    ...options,
    container: document.querySelector(options.container || '[data-slot="main"]'),
    onReady: record('ready'),
    onDone: record('done'),
    onError: record('error'),
    onUnavailable: record('unavailable'),
    onLink: record('link'),
    onHeight: record('height'),
    onCheckout: record('checkout'),
    onLog: record('log'),
  });
  window.__handles[name] = handle;
  return handle.frameId;
};
window.__hostReady = true;
</script>
</body>
</html>
"""

# A mini-app on our own client. `?parent=<origin>` makes it use the parentOrigin option.
APP_PAGE = """<!doctype html>
<html lang="ru">
<head><meta charset="utf-8"><title>client mini-app</title></head>
<body>
<p>client mini-app</p>
<script type="module">
import { createMinappClient } from '/static/minapp-client.js';

const parent = new URL(location.href).searchParams.get('parent');
const client = createMinappClient(parent ? { parentOrigin: parent } : {});
window.__client = client;
window.__received = [];
client.onUpdateData((data) => window.__received.push({ type: 'updateData', data }));
client.onPaymentResult((status) => window.__received.push({ type: 'paymentResult', data: status }));
client.connect();
client.getInitialData().then((data) => {
  window.__received.push({ type: 'init', data });
  document.body.dataset.ready = 'true';
});
</script>
</body>
</html>
"""

# Speaks the protocol by hand and records every message it gets. Sends a v1 init at once unless
# `?init=0`; `?version=N` adds a version to that init.
RAW_PAGE = """<!doctype html>
<html lang="ru">
<head><meta charset="utf-8"><title>raw mini-app</title>
<script>
  const params = new URL(location.href).searchParams;
  window.__id = params.get('id');
  window.__received = [];
  window.addEventListener('message', (event) => {
    window.__received.push({ origin: event.origin, data: event.data });
  });
  window.__post = (message) => window.parent.postMessage(message, '*');
  window.__init = () => {
    const message = { id: window.__id, action: 'init' };
    if (params.get('version')) message.version = Number(params.get('version'));
    window.__post(message);
  };
  if (params.get('init') !== '0') window.__init();
</script>
</head>
<body><p>raw mini-app</p></body>
</html>
"""

# Posts `?msg=<JSON>` (with `"id"` replaced by `?id=`) to its grandparent: a frame nested inside a
# mini-app trying to talk to the host directly.
NESTED_PAGE = """<!doctype html>
<html lang="ru">
<head><meta charset="utf-8"><title>nested</title>
<script>
  const params = new URL(location.href).searchParams;
  const message = JSON.parse(params.get('msg'));
  message.id = params.get('id');
  window.parent.parent.postMessage(message, '*');
</script>
</head>
<body><p>nested</p></body>
</html>
"""

# Completes the handshake, then tries every trick it knows, then reports `error: hostile-finished`
# (accepted, so the test knows the run is over). `?pay=` is a valid payment URL of the host,
# `?evil=` the evil origin.
HOSTILE_PAGE = """<!doctype html>
<html lang="ru">
<head><meta charset="utf-8"><title>hostile mini-app</title></head>
<body>
<script>
  const params = new URL(location.href).searchParams;
  const id = params.get('id');
  const pay = params.get('pay');
  const evil = params.get('evil');
  const post = (message) => window.parent.postMessage(message, '*');
  window.__received = [];
  window.addEventListener('message', (event) => window.__received.push(event.data));

  function nest(origin) {
    return new Promise((resolve) => {
      const frame = document.createElement('iframe');
      const url = new URL('/nested.html', origin);
      url.searchParams.set('id', id);
      url.searchParams.set('msg', JSON.stringify({ action: 'done', data: pay }));
      frame.addEventListener('load', resolve);
      frame.src = url.href;
      document.body.append(frame);
    });
  }

  async function attack() {
    post({ id, action: 'init' });
    post({ id: id + '0', action: 'done', data: pay });              // wrong id
    post({ id: null, action: 'done', data: pay });                  // no id
    post(JSON.stringify({ id, action: 'done', data: pay }));        // a string, not an object
    post({ id, action: 'done', data: 'https://evil.example/order/' + pay.split('/').pop() });
    post({ id, action: 'done', data: pay + '/../../evil' });
    post({ id, action: 'done', data: { href: pay } });
    post({ id, action: 'checkout', data: 'https://evil.example/pay' });
    post({ id, action: 'link', data: 'javascript:alert(1)' });
    post({ id, action: 'link', data: 'data:text/html,<script>alert(1)<\\/script>' });
    post({ id, action: 'link', data: 'JAVASCRIPT:alert(1)' });
    post({ id, action: 'selfDestruct', data: null });               // unknown action
    await nest(evil);                                               // other-origin nested frame
    await nest(location.origin);                                    // same-origin nested frame
    setTimeout(() => post({ id, action: 'error', data: 'hostile-finished' }), 50);
  }
  attack();
</script>
</body>
</html>
"""


# --- the npm-SDK mini-app ----------


class NpmUnavailableError(RuntimeError):
    """npm (Node.js) is not installed; the npm-SDK mini-app cannot be built."""


# The TypeScript check of the SDK's types against our init data (typecheck_npm_miniapp).
_TYPE_CHECKED = ("launch-data.ts", "tsconfig.json")


def _source_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json", "main.js", "index.html", *_TYPE_CHECKED):
        path = NPM_MINIAPP_SRC / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_npm_miniapp(build_dir: Path | None = None) -> Path:
    """Install `@invoicebox/minapp-sdk` from npm and bundle tests/browser/npm_miniapp with esbuild.

    Returns the directory to serve (``index.html`` + ``main.js``). The work happens in
    `build_dir` (default ``<repo>/build/npm_miniapp``, or ``MARKETBOX_NPM_BUILD_DIR``); when the
    sources are unchanged since the last build, nothing is run again.
    """
    build_dir = build_dir or Path(os.environ.get("MARKETBOX_NPM_BUILD_DIR", NPM_BUILD_DIR))
    dist = build_dir / "dist"
    stamp = build_dir / ".source-digest"
    digest = _source_digest()
    if stamp.is_file() and stamp.read_text() == digest and (dist / "main.js").is_file():
        return dist

    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailableError(
            "npm is not on PATH: install Node.js and npm to build the npm-SDK test mini-app "
            f"({NPM_MINIAPP_SRC})"
        )
    build_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "main.js", *_TYPE_CHECKED):
        if (NPM_MINIAPP_SRC / name).exists():
            shutil.copy2(NPM_MINIAPP_SRC / name, build_dir / name)
    install = "ci" if (build_dir / "package-lock.json").exists() else "install"
    _run([npm, install, "--no-audit", "--no-fund", "--loglevel=error"], build_dir)
    esbuild = build_dir / "node_modules" / ".bin" / "esbuild"
    dist.mkdir(exist_ok=True)
    _run(
        [str(esbuild), "main.js", "--bundle", "--format=iife", f"--outfile={dist / 'main.js'}"],
        build_dir,
    )
    shutil.copy2(NPM_MINIAPP_SRC / "index.html", dist / "index.html")
    stamp.write_text(digest)
    return dist


def typecheck_npm_miniapp(dist: Path) -> None:
    """Run ``tsc`` (strict, no output) over npm_miniapp/launch-data.ts against the installed
    SDK's own type declarations; raises with the compiler's messages when they disagree.
    `dist` is what `build_npm_miniapp` returned."""
    build_dir = dist.parent
    for name in _TYPE_CHECKED:
        shutil.copy2(NPM_MINIAPP_SRC / name, build_dir / name)
    _run([str(build_dir / "node_modules" / ".bin" / "tsc"), "-p", "."], build_dir)


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed in {cwd} (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )

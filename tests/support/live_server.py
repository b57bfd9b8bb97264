"""A real uvicorn server in a background thread, for browser tests (httpx's tests/conftest.py
does the same).

The port is taken first (a bound socket handed to uvicorn), so the app can be built with
``public_url`` equal to the server's own base URL and every ``paymentUrl`` points at it.

    with live_server(database_url) as base_url:
        httpx.get(f"{base_url}/order/…")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from marketbox.app import create_app
from tests.conftest import make_settings

START_TIMEOUT_SECONDS = 15.0


@contextmanager
def live_server(
    database_url: str, *, run_worker: bool = False, **settings_overrides: Any
) -> Iterator[str]:
    """Serve a marketbox app on a free 127.0.0.1 port; yields its base URL.

    The app runs its lifespan (migrations, the demo shop seed in sandbox mode) before the
    first request, exactly as in production; with `run_worker` it also runs the notification
    dispatcher, as `marketbox serve` does.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(database_url, public_url=base_url, **settings_overrides)
    config = uvicorn.Config(
        create_app(settings, run_worker=run_worker),
        log_level="warning",
        lifespan="on",
        ws="none",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the live server at {base_url} did not start")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)
        sock.close()

"""A tiny real HTTP server that answers from a script, for the retry tests.

    with ScriptedServer(Answer(429, headers={"Retry-After": "0.2"}), Answer(200, ok)) as server:
        client = mb.Client(TOKEN, base_url=server.url)

Each request takes the next step of the script (the last one repeats): an `Answer`, or `DROP`
(the connection is closed without an answer). Every request is recorded with its arrival time.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop"


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to trip a client timeout)


@dataclasses.dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        step = self.server.script.next(
            Seen(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
        )
        if step == DROP:
            self.close_connection = True
            return
        assert isinstance(step, Answer)
        if step.delay:
            time.sleep(step.delay)
        self.send_response(step.status)
        headers = {"Content-Type": "application/json", **step.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(step.body)))
        self.end_headers()
        self.wfile.write(step.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass


class _Script:
    def __init__(self, steps: tuple[Answer | str, ...]) -> None:
        self.steps = list(steps)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def next(self, seen: Seen) -> Answer | str:
        with self.lock:
            self.seen.append(seen)
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: _Script


class ScriptedServer:
    def __init__(self, *steps: Answer | str) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.script = _Script(steps)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def seen(self) -> list[Seen]:
        return self._server.script.seen

    def then(self, *steps: Answer | str) -> None:
        """Answer the next requests with `steps` instead of what is left of the script."""
        with self._server.script.lock:
            self._server.script.steps = list(steps)

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests."""
        times = [s.at for s in self.seen]
        return [b - a for a, b in itertools.pairwise(times)]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

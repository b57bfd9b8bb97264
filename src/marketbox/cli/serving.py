"""Listening on a port and saying so only once it answers (`serve` and `demo`), and
`serve --workers N`: N uvicorn processes on one port under one supervisor.

The sockets are bound before the server starts, so a port in use or a host that is not ours
is one clear line instead of a server that fails after claiming to run; the announcement is
printed by the server itself right after its start-up, when the port accepts connections.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from marketbox import logs
from marketbox.cli.errors import CommandError
from marketbox.config import Settings, prometheus_multiproc_dir, set_prometheus_multiproc_dir

log = logging.getLogger("marketbox.serve")
_SPAWN = multiprocessing.get_context("spawn")
# How long each API process of `serve --workers N` may take to start before we give up on it.
WORKER_START_TIMEOUT_SECONDS = 60.0
# How long the dispatcher process may take to finish its deliveries in flight when stopped.
DISPATCHER_STOP_TIMEOUT_SECONDS = 30.0
DISPATCHER_RESTART_SECONDS = 10.0

# Addresses that mean "every interface": a browser on this machine reaches them via loopback.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def local_url(host: str, port: int) -> str:
    """The base URL a browser on this machine uses for a server listening on host:port."""
    host = _ANY_ADDRESS.get(host, host)
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def listen(host: str, port: int, *, option: str = "--port") -> list[socket.socket]:
    """Sockets bound to every address of `host` on `port` (uvicorn or aiohttp listens on them).

    `option` names the command-line option to change when the port is taken.
    """
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}: {exc.strerror} (check --host)") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio does: one socket per address family
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use: stop the program listening there "
                f"or choose another {option}"
            ) from None
        raise CommandError(
            f"cannot listen on {host} port {port}: {exc.strerror} (check --host and {option})"
        ) from None
    return sockets


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls `announce` once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announce()


def make_server(
    app: Any, announce: Callable[[], None], log_format: str = "text"
) -> AnnouncingServer:
    return AnnouncingServer(make_config(app, log_format), announce)


def make_config(app: Any, log_format: str, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for our servers: no access log of its own (ours is
    MARKETBOX_ACCESS_LOG), warnings only, and in JSON its records go through our handler."""
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        log_config=logs.uvicorn_log_config(log_format),
        **options,
    )


# --- `serve --workers N`: N API processes on one port, plus one dispatcher process ----------


def api_process_app(settings: Settings) -> Any:
    """The app of one API process of `serve --workers N` (called in the new process)."""
    from marketbox.app import create_app

    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings, run_worker=False, migrate=False)


def dispatcher_process(settings: Settings) -> None:
    """The notification worker of `serve --workers N`, a process of its own (SIGTERM stops it
    gracefully: deliveries in flight finish and are recorded)."""
    from marketbox.notifications import worker

    logs.configure(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        worker.main(settings)


class Supervisor(Multiprocess):
    """uvicorn's supervisor of N API processes sharing the listening sockets, which also keeps
    one dispatcher process alive (unless `with_dispatcher` is off) and announces once every
    API process has finished its start-up.

    SIGTERM or SIGINT: every process is asked to stop (SIGTERM), and waited for; uvicorn's
    processes finish the requests in flight, the dispatcher the deliveries in flight.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        *,
        settings: Settings,
        with_dispatcher: bool,
        announce: Callable[[], None],
    ) -> None:
        super().__init__(config, sockets)
        self.settings = settings
        self.with_dispatcher = with_dispatcher
        self.announce = announce
        self.dispatcher: multiprocessing.process.BaseProcess | None = None
        self.dispatcher_started_at = 0.0
        self.started = False

    def _start_dispatcher(self) -> None:
        self.dispatcher = _SPAWN.Process(
            target=dispatcher_process, args=(self.settings,), name="marketbox-dispatcher"
        )
        self.dispatcher.start()
        self.dispatcher_started_at = time.monotonic()

    def init_processes(self) -> None:
        if self.with_dispatcher:
            self._start_dispatcher()
        super().init_processes()
        for process in self.processes:
            if not process.wait_until_ready(WORKER_START_TIMEOUT_SECONDS, self.should_exit):
                return  # keep_subprocess_alive sees why (a failed start-up stops everything)
        self.started = True
        self.announce()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        if self.should_exit.is_set() or self.dispatcher is None:
            return
        if self.dispatcher.is_alive():
            return
        # At most one new dispatcher every DISPATCHER_RESTART_SECONDS: one that cannot start
        # (its log says why) is not restarted in a tight loop.
        if time.monotonic() - self.dispatcher_started_at >= DISPATCHER_RESTART_SECONDS:
            log.error("the dispatcher process [%s] died; starting another", self.dispatcher.pid)
            self._start_dispatcher()

    def terminate_all(self) -> None:
        if self.dispatcher is not None and self.dispatcher.is_alive():
            assert self.dispatcher.pid is not None
            os.kill(self.dispatcher.pid, signal.SIGTERM)
        super().terminate_all()

    def join_all(self) -> None:
        super().join_all()
        if self.dispatcher is not None:
            self.dispatcher.join(DISPATCHER_STOP_TIMEOUT_SECONDS)
            if self.dispatcher.is_alive():
                self.dispatcher.kill()
                self.dispatcher.join()


def prepare_metrics_directory(settings: Settings, *, create: bool) -> str | None:
    """With metrics on: the multiprocess directory the processes of this `serve` write their
    counters to (PROMETHEUS_MULTIPROC_DIR, or with `create` a new temporary one), emptied of
    a previous run's files. Returns the directory this call created (to remove at exit).

    Call it before prometheus_client is first imported: the variable decides its mode.
    """
    if not settings.metrics_enabled:
        return None
    directory = prometheus_multiproc_dir()
    created = None
    if directory is None:
        if not create:
            return None  # one process: plain in-memory counters
        created = directory = tempfile.mkdtemp(prefix="marketbox-metrics-")
        set_prometheus_multiproc_dir(directory)
    path = Path(directory)
    if not path.is_dir():
        raise CommandError(
            f"PROMETHEUS_MULTIPROC_DIR={directory} is not a directory: create it (empty) first"
        )
    for stale in path.glob("*.db"):
        stale.unlink()
    return created


def remove_metrics_directory(created: str | None) -> None:
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)

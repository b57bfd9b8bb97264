"""Listening on a port and saying so only once it answers (`serve` and `demo`).

The sockets are bound before the server starts, so a port in use or a host that is not ours
is one clear line instead of a server that fails after claiming to run; the announcement is
printed by the server itself right after its start-up, when the port accepts connections.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from marketbox.cli.errors import CommandError

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


def make_server(app: Any, announce: Callable[[], None]) -> AnnouncingServer:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    return AnnouncingServer(config, announce)

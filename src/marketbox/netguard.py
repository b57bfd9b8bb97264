"""Which addresses the platform may send requests to (server-side request forgery guard).

In production mode every URL the platform stores on a merchant's word and later visits or
hands to a buyer's browser (an order's `notificationUrl`, a merchant's default notification
URL, a point of sale's mini-app URL) must lead to the public internet. Refused:

    loopback          127.0.0.0/8, ::1
    private           10/8, 172.16/12, 192.168/16, fc00::/7 (unique local, fd00:ec2::254 too)
    link-local        169.254/16 (169.254.169.254: cloud metadata), fe80::/10
    CGNAT             100.64.0.0/10
    everything else that is not globally routable: unspecified, documentation, benchmark,
                      reserved (240/4), broadcast, multicast; IPv6 forms that embed an IPv4
                      address (::ffff:a.b.c.d, 6to4, Teredo, 64:ff9b::/96) by that address

Two checks use this policy: `check_url` when a URL is saved (resolving the host off the event
loop), and `GuardedResolver` when the dispatcher connects, so that a name re-pointed at a private
address after it was saved (DNS rebinding) is refused at the moment of the connection. Sandbox
mode checks nothing: delivering to a shop on localhost is what the sandbox is for.

This module is neutral: no web framework, no domain imports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from marketbox.errors import FieldError, ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# How long saving a URL may wait for DNS. A name that does not resolve in time (or at all) is
# accepted: it may not exist yet, and the dispatcher checks the address it really connects to.
SAVE_RESOLVE_TIMEOUT_SECONDS = 3.0

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class BlockedAddress(OSError):
    """A host that resolves to an address production mode never connects to."""

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        where = host if host == address else f"{host} resolves to {address}"
        super().__init__(f"{where}: a private, loopback or reserved address is not allowed")


def is_public_address(address: str | IPAddress) -> bool:
    """Whether `address` is a globally routable unicast address (see the module docstring)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback:
        return False
    if ip.is_link_local or ip.is_private or (ip.version == 4 and ip in _CGNAT):
        return False
    return ip.is_global


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address a URL's host names literally (``[::1]`` included), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_host_literal(host: str) -> None:
    """Raise BlockedAddress when `host` is an IP literal outside the public internet."""
    ip = literal_address(host)
    if ip is not None and not is_public_address(ip):
        raise BlockedAddress(host, str(ip))


async def blocked_address_of(url: str) -> BlockedAddress | None:
    """The reason `url` must not be used, or None. Resolves names without blocking the loop."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None  # not a URL at all: the caller's own validation says so
    if not host:
        return None
    if literal_address(host) is not None:
        try:
            check_host_literal(host)
        except BlockedAddress as exc:
            return exc
        return None
    try:
        async with asyncio.timeout(SAVE_RESOLVE_TIMEOUT_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError, UnicodeError):
        return None
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if not is_public_address(address):
            return BlockedAddress(host, address)
    return None


async def check_url(url: str | None, *, field: str) -> None:
    """Refuse to save a URL that leads to a private network: 422 naming `field`.

    Call it in production mode only (sandbox allows localhost by design).
    """
    if not url:
        return
    blocked = await blocked_address_of(url)
    if blocked is not None:
        raise ValidationFailed(
            f"{field} must lead to the public internet ({blocked})",
            fields=[FieldError(field, "wrong_value", str(blocked))],
        )


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops every non-public address a name resolves to.

    The connector connects only to addresses this returns, so the address checked is the
    address used. A name left with no public address raises BlockedAddress (an OSError, which
    aiohttp wraps in ClientConnectorError with the BlockedAddress as its cause). IP literals
    never reach a resolver: callers check them with `check_host_literal`.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if is_public_address(str(r["host"]).split("%", 1)[0])]
        if not allowed and results:
            raise BlockedAddress(host, str(results[0]["host"]))
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def blocked_cause(exc: BaseException) -> BlockedAddress | None:
    """The BlockedAddress behind an exception aiohttp raised, if that is what it was."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedAddress):
            return current
        seen.add(id(current))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return None

"""The address policy of netguard.py: which addresses production mode never connects to."""

from __future__ import annotations

import pytest

from marketbox import netguard

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "192.0.2.10",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00:ec2::254",  # cloud metadata over IPv6 (unique local)
    "fc00::1",
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "2001:db8::1",  # documentation
]
ALLOWED = ["1.1.1.1", "8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_reserved_addresses_are_refused(address: str) -> None:
    assert not netguard.is_public_address(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert netguard.is_public_address(address)


def test_an_ip_literal_host_is_checked_with_or_without_brackets() -> None:
    with pytest.raises(netguard.BlockedAddress, match="::1"):
        netguard.check_host_literal("[::1]")
    with pytest.raises(netguard.BlockedAddress, match=r"169\.254\.169\.254"):
        netguard.check_host_literal("169.254.169.254")
    netguard.check_host_literal("8.8.8.8")
    netguard.check_host_literal("shop.example")  # a name: the resolver's business


def test_garbage_is_never_public() -> None:
    assert not netguard.is_public_address("not-an-address")

"""Whose request this is, for per-IP limits: the socket's peer, or, when the peer is one of our
proxies (ENROLLWIRE_TRUSTED_PROXIES), the last hop of `X-Forwarded-For` that is not ours.

Only the right end of `X-Forwarded-For` is believed: each proxy appends the address it saw, and
anything to the left of our first proxy's entry was written by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    """ValueError naming the setting for anything that is not an address or a CIDR."""
    networks: list[Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"ENROLLWIRE_TRUSTED_PROXIES: {cidr!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_ip(scope: Scope, proxies: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else UNKNOWN
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, proxies):
        return peer
    hops = [
        hop
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a proxy of ours would not write this: believe nothing further left
        if not _trusted(address, proxies):
            return str(address)
    return peer

"""Who is asking: the client's address, seen through the proxies the operator trusts.

Behind a TLS terminator every request comes from the proxy's address, so limits counted per
address would lump all agents and visitors together. A proxy listed in `[gateway]
trusted_proxies` appends the address it saw to `X-Forwarded-For`; walking that header from the
right, the first address that is not a trusted proxy is the client. Entries a client wrote
itself sit further left and are never believed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: an IPv6 client usually holds a whole /64, so limits count the /64 rather than one address
IPV6_GROUP_PREFIX = 64


def parse_networks(values: Sequence[str]) -> list[Network]:
    """`["10.0.0.0/8", "127.0.0.1"]` as networks; raises ValueError naming a bad entry."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network") from None
    return networks


# Every request parses its peer's address, and most requests come from a few addresses (the
# provider's, a proxy's): parsing each distinct text once saves the ipaddress module's work.
@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The client's address: the peer's, or the nearest untrusted `X-Forwarded-For` entry.

    `forwarded_for` holds every `X-Forwarded-For` header of the request, in order.
    """
    current = _address(peer or "")
    if current is None:
        return peer or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while _trusted(current, trusted) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break  # a garbled entry: trust stops at the last proxy we know
        current = previous
    return str(current)


@functools.lru_cache(maxsize=4096)
def address_group(address: str) -> str:
    """The key limits count an address under: itself, or its /64 for IPv6."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False)
        return str(network)
    return str(parsed) if parsed is not None else address


def of_request(request: web.Request, trusted: Sequence[Network]) -> str:
    """The client address of an aiohttp request."""
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)

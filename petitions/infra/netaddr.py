"""Client addresses as sortable keys, so that 'in this network' is an indexed range query."""

from __future__ import annotations

import ipaddress

_MAPPED = 0xFFFF << 32  # ::ffff:0:0/96, where IPv4 addresses sit in IPv6


def _v6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv4Address):
        return ipaddress.IPv6Address(_MAPPED | int(address))
    return address


def ip_key(address: str | None) -> str | None:
    """32 hex digits of the address in IPv6 form (IPv4 mapped into ::ffff:0:0/96), or None."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    # Arithmetic, not a second parse of "::ffff:a.b.c.d" (every signing computes this twice).
    return f"{int(parsed) | (_MAPPED if parsed.version == 4 else 0):032x}"


def network_range(cidr: str) -> tuple[str, str]:
    """The first and last key of a network such as 203.0.113.0/24 or 2001:db8::/32.

    Raises ValueError with a readable message for anything else.
    """
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{cidr!r} is not an IP address or network like 203.0.113.0/24") from None
    first, last = _v6(network.network_address), _v6(network.broadcast_address)
    return f"{int(first):032x}", f"{int(last):032x}"

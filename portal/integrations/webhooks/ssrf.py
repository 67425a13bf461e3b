"""Where a webhook may point (the SSRF guard).

Receivers on private or loopback addresses are refused unless
``SQUADRON_WEBHOOK_ALLOW_PRIVATE`` is on, link-local ones (a cloud's metadata
service) always, and so is an IPv6 address that carries such an IPv4 address
(IPv4-mapped, -compatible or -translated, NAT64, 6to4, Teredo): the IPv4
address is where the packet ends up. ``delivery.post`` checks the address
when the request is sent and connects to that very address, so a DNS answer
that changes between check and use cannot bypass the check.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 500


# IPv6 addresses that carry an IPv4 address, which the host's own stack, a
# NAT64 gateway or a 6to4/Teredo relay then reaches: a receiver "at" one of
# them is at that IPv4 address, and is judged by it.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # ::a.b.c.d (deprecated, RFC 4291)
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
# Where RFC 6052 lets a NAT64 prefix end; an operator may cut the local-use
# /48 to any of these, so each reading of the address is judged.
_NAT64_PREFIX_LENGTHS = (48, 56, 64, 96)
_IPV4_BITS = 0xFFFFFFFF


def _nat64_ipv4(ip: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address behind a NAT64 prefix of ``prefix_length`` bits
    (RFC 6052, section 2.2): bits 64-71 are a reserved octet the address
    skips, so drop them first and read the 32 bits after the prefix."""
    bits = int(ip)
    if prefix_length == 96:
        return ipaddress.IPv4Address(bits & _IPV4_BITS)
    without_reserved_octet = ((bits >> 64) << 56) | (bits & ((1 << 56) - 1))
    return ipaddress.IPv4Address((without_reserved_octet >> (120 - prefix_length - 32)) & _IPV4_BITS)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a connection to ``ip`` may end up at (none for a
    plain IPv6 address)."""
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return [ip.teredo[1]]  # the client, inverted in the last 32 bits
    if ip in _NAT64_LOCAL_USE:
        return [_nat64_ipv4(ip, length) for length in _NAT64_PREFIX_LENGTHS]
    # ``::`` and ``::1`` are IPv6's own unspecified and loopback addresses.
    compatible = ip in _IPV4_COMPATIBLE and int(ip) > 1
    if compatible or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(ip) & _IPV4_BITS)]
    return []


def _one_address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Link-local is refused even where private addresses are allowed (dev):
    # no receiver lives there, but a cloud's metadata service (169.254.169.254,
    # with the machine's credentials) does.
    if ip.is_multicast or ip.is_unspecified or ip.is_link_local:
        return False
    return bool(settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE or ip.is_global)


def address_refused(address: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """What makes ``address`` no place for a receiver: the IPv4 addresses it
    carries that are refused, then itself if refused; empty when allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return [] if _one_address_allowed(ip) else [ip]
    embedded = embedded_ipv4(ip)
    refused: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = list(
        dict.fromkeys(one for one in embedded if not _one_address_allowed(one))
    )
    # A mapped address is the IPv4 host spelled in IPv6 (and its range is
    # "private" as IPv6): only the IPv4 address counts. Every other form must
    # pass both as itself and as the address it carries.
    if not ip.ipv4_mapped and not _one_address_allowed(ip):
        refused.append(ip)
    return refused


def address_allowed(address: str) -> bool:
    return not address_refused(address)


def url_problem(url: object) -> str | None:
    """Why ``url`` cannot receive webhooks, or None. Host names are resolved
    only when sending (they may not resolve from here yet)."""
    if not isinstance(url, str) or not url.strip():
        return "Give the URL that receives the events."
    if len(url) > MAX_URL_LENGTH:
        return f"A webhook URL has at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"This is not a valid URL ({error})."
    if parts.scheme not in ("http", "https"):
        return "A webhook URL starts with https:// (or http://)."
    if not parts.hostname:
        return "A webhook URL names a host."
    if parts.username or parts.password:
        return "Put no credentials in the URL: receivers check the signature instead."
    if port == 0:
        return "Port 0 cannot receive anything."
    if any(char.isspace() or ord(char) < 0x20 for char in url):
        return "A URL has no spaces or control characters."
    host = parts.hostname
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        return "This host name is too long to exist (at most 63 characters between dots, 253 in all)."
    private = "is on a private, loopback or link-local address"
    if host == "localhost" or host.endswith(".localhost"):
        return None if settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE else f"{host} {private}."
    try:
        refused = address_refused(host)
    except ValueError:
        return None  # a host name
    if not refused:
        return None
    carried = [str(one) for one in refused if isinstance(one, ipaddress.IPv4Address)]
    if not carried or ":" not in host:
        return f"{host} {private}."
    leads_to = carried[0] if len(carried) == 1 else ", ".join(carried[:-1]) + f" or {carried[-1]}"
    return (
        f"{host} leads to the IPv4 address {leads_to} (written inside the IPv6 one), "
        "which is a private, loopback or link-local address."
    )

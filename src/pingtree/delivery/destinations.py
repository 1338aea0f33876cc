"""Where buyer requests may go.

Link-local/metadata, private, loopback and unspecified destinations are refused unless the
allowlist (PINGTREE_BUYER_URL_ALLOW) names them, and so are URLs with credentials in them.
Checked twice: on the URL when the configuration is validated, and on the address actually
connected to (after DNS, redirects included), so a name that later resolves somewhere
inside (DNS rebinding) is still refused.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_SETTING = "PINGTREE_BUYER_URL_ALLOW"


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


FORBIDDEN_NETWORKS: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("link-local/metadata", _nets("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("shared (carrier-grade NAT)", _nets("100.64.0.0/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def address_category(ip: IPAddress) -> str | None:
    """Why an address is off limits (e.g. 'loopback'), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for category, networks in FORBIDDEN_NETWORKS:
        if any(ip.version == net.version and ip in net for net in networks):
            return category
    return None


def name_category(host: str) -> str | None:
    """Why a host name is off limits by its name alone, or None."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    if name in METADATA_NAMES:
        return "link-local/metadata"
    return None


@dataclass(frozen=True)
class AllowEntry:
    """One allowlist entry: a network or a host name, on one port or any."""

    network: IPNetwork | None = None
    name: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        """'127.0.0.1:9100', '10.0.0.0/8', '[::1]:9100', 'buyer.internal:8443', 'localhost'."""
        host, port = text, None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest:
                port = _port(rest.removeprefix(":"), text)
        elif text.count(":") == 1:
            host, raw_port = text.split(":")
            port = _port(raw_port, text)
        try:
            return cls(network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            pass
        if not host or "/" in host or not all(part for part in host.rstrip(".").split(".")):
            raise ValueError(f"{text!r} is not a host[:port], address[:port] or CIDR")
        return cls(name=host.lower().rstrip("."), port=port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r} has no valid port")
    return int(text)


@dataclass(frozen=True)
class Allowlist:
    """Destinations allowed although they are private, loopback or link-local.

    A name entry lets the name pass validation; the address it resolves to must be allowed
    too (by an address or CIDR entry), or the connection is refused.
    """

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """Comma- or space-separated entries, as PINGTREE_BUYER_URL_ALLOW holds them."""
        items = [item for item in text.replace(",", " ").split() if item]
        return cls(tuple(AllowEntry.parse(item) for item in items))

    def allows_address(self, ip: IPAddress, port: int) -> bool:
        """Whether an address and port is named by an address or CIDR entry."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(
            e.network is not None
            and e.network.version == ip.version
            and ip in e.network
            and e.port in (None, port)
            for e in self.entries
        )

    def allows_name(self, host: str, port: int) -> bool:
        """Whether a host name and port is named by a name entry."""
        name = host.lower().rstrip(".")
        return any(e.name == name and e.port in (None, port) for e in self.entries)


def address_problem(host: str, port: int, allow: Allowlist) -> str | None:
    """Why connecting to this address is refused, or None."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return f"{host} is not an IP address"
    category = address_category(ip)
    if category is None or allow.allows_address(ip, port):
        return None
    shown = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    return f"{shown} is {_a(category)} address; allow it in {ALLOW_SETTING}"


def url_problem(url: str, allow: Allowlist) -> str | None:
    """Why a buyer URL is refused, or None. Host names are judged by name here, not resolved."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if "@" in parts.netloc:
        return "credentials in the URL (user:pass@) are refused; use delivery.auth or secrets"
    host = parts.hostname
    if not host:
        return "has no host"
    if "{" in host or "}" in host:
        return "the host must be written out, not templated"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "has an invalid port"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return address_problem(host, port, allow)
    if _legacy_ipv4(host):
        return f"{host} is not a canonical IPv4 address (write it as a.b.c.d)"
    category = name_category(host)
    if category is None or allow.allows_name(host, port):
        return None
    return f"{host} is {_a(category)} name; allow it in {ALLOW_SETTING}"


def _a(category: str) -> str:
    return f"{'an' if category[0] in 'aeiou' else 'a'} {category}"


def _legacy_ipv4(host: str) -> bool:
    # 2130706433, 0x7f.1 or 127.1 connect to 127.0.0.1 through inet_aton.
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


SocketFactory = Callable[[tuple[Any, ...]], socket.socket]


def guarded_socket_factory(allow: Allowlist) -> SocketFactory:
    """An aiohttp socket_factory refusing disallowed addresses at connect time.

    It sees the address really being connected to, after DNS (cached or not) and for IP
    literals and redirects alike, which a resolver alone does not.
    """

    def open_socket(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        problem = address_problem(str(sockaddr[0]), int(sockaddr[1]), allow)
        if problem is not None:
            raise OSError(errno.EACCES, f"refused: {problem}")
        return socket.socket(family=family, type=type_, proto=proto)

    return open_socket

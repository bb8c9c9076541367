"""Which hosts identity may travel to, judged as the host a client will connect to.

A URL's host is text, and clients do not connect to the text: `0x08080808`, `134744072`,
`01002004010` and `8.8.8.8` are one address to the resolver (`inet_aton`, which
`getaddrinfo` uses); `evil\u3002example` (an ideographic full stop) is `evil.example`
to httpx, requests and aiohttp, which encode hosts by IDNA; `API.Example.` is
`api.example`. So a host is first brought to the form the client connects to, and then
judged; a host that cannot be brought to one is barred.
"""

from __future__ import annotations

import ipaddress
import re
import socket

# Every form inet_aton accepts: 1-4 parts, each decimal, octal (0...) or hex (0x...).
_INET_ATON = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.ASCII)
# The full stops IDNA splits labels on (RFC 3490 section 3.1).
_FULL_STOPS = re.compile("[\u3002\uff0e\uff61]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _idna(host: str) -> str | None:
    """The ASCII host an IDNA-encoding client connects to, or None if it has none: the
    `idna` package's UTS 46 encoding when present (httpx, requests and yarl use it), else,
    as yarl falls back to, the standard library's IDNA 2003 codec."""
    try:
        import idna  # noqa: PLC0415 - the clients' encoder, when installed

        return str(idna.encode(host, uts46=True).decode("ascii"))
    except (ImportError, ValueError, UnicodeError):  # idna.IDNAError is a UnicodeError
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def connect_host(host: str) -> str | IPAddress | None:
    """The address or the ASCII name a client connects to for `host`; None if unknowable."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host.isascii():
        encoded = _idna(_FULL_STOPS.sub(".", host).rstrip("."))
        if encoded is None:
            return None
        host = encoded.lower()
    host = host.rstrip(".")
    if _INET_ATON.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:  # 08, 0x1ffffffff: no address; the resolver takes it as a name
            pass
    return host


def _is_ip(pattern: str) -> bool:
    try:
        ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False
    return True


class Destinations:
    """Host patterns: exact names, `.suffix` names, "single-label", IP addresses, networks."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self._networks = [ipaddress.ip_network(p, strict=False) for p in patterns if _is_ip(p)]
        names = [p for p in patterns if not _is_ip(p)]
        self._single_label = "single-label" in names
        self._suffixes = tuple(p for p in names if p.startswith("."))
        self._exact = frozenset(p for p in names if not p.startswith("."))
        self._decided: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        decided = self._decided.get(host)
        if decided is None:
            decided = self._decide(connect_host(host))
            if len(self._decided) > 4096:  # hosts are few; a flood of them must not grow us
                self._decided.clear()
            self._decided[host] = decided
        return decided

    def _decide(self, host: str | IPAddress | None) -> bool:
        if host is None:
            return False
        if isinstance(host, str):
            return (
                host in self._exact
                or host.endswith(self._suffixes)
                or (self._single_label and bool(host) and "." not in host)
            )
        mapped = getattr(host, "ipv4_mapped", None)  # ::ffff:8.8.8.8 is 8.8.8.8
        return any(
            address in network
            for address in (host, mapped)
            if address
            for network in self._networks
        )

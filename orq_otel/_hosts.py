"""Where a client sends its requests, and whether that host takes the `orq` payload.

Decided once per client and base URL (a client's base_url can be reassigned), never
re-parsed on the per-call path.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiProviderNameValues,
)

_DEFAULT_PORTS = {"https": 443, "http": 80}
ORQ_PROVIDER = "orq"


@dataclass(frozen=True)
class Route:
    """What one client's base URL means to us."""

    base_url: object  # the client's URL object, compared by identity to detect changes
    address: str | None
    port: int | None
    injects: bool  # whether requests get the `orq` payload
    provider: str


def host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    """The host is an entry or a subdomain of one, on a dot boundary (`evilorq.ai` is not)."""
    host = host.lower().rstrip(".")
    return any(host == pattern or host.endswith("." + pattern) for pattern in patterns)


def _provider(host: str, injects: bool) -> str:
    if injects:
        return ORQ_PROVIDER
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
        return GenAiProviderNameValues.AZURE_AI_OPENAI.value
    return GenAiProviderNameValues.OPENAI.value


def _route_for(base_url: Any, inject_hosts: tuple[str, ...]) -> Route:
    host = str(getattr(base_url, "host", "") or "")
    scheme = str(getattr(base_url, "scheme", "") or "")
    port = getattr(base_url, "port", None) or _DEFAULT_PORTS.get(scheme)
    injects = bool(host) and host_matches(host, inject_hosts)
    return Route(base_url, host or None, port, injects, _provider(host.lower(), injects))


class RouteCache:
    """Routes per client object, forgotten with the client."""

    def __init__(self, inject_hosts: tuple[str, ...]) -> None:
        self._inject_hosts = inject_hosts
        self._routes: weakref.WeakKeyDictionary[object, Route] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def route(self, client: Any) -> Route:
        base_url = getattr(client, "base_url", None)
        try:
            route = self._routes.get(client)
        except TypeError:  # a client that cannot be weakly referenced: decide every time
            return _route_for(base_url, self._inject_hosts)
        if route is None or route.base_url is not base_url:
            route = _route_for(base_url, self._inject_hosts)
            with self._lock:
                self._routes[client] = route
        return route

"""Where a client sends its requests, and whether that host takes the `orq` payload.

Decided once per client and base URL (a client's base_url can be reassigned), never
re-parsed on the per-call path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiProviderNameValues,
)

_DEFAULT_PORTS = {"https": 443, "http": 80}
ORQ_PROVIDER = "orq"


class Route(NamedTuple):
    """What one client's base URL means to us."""

    base_url: object  # the client's URL object, compared by identity to detect changes
    address: str | None
    port: int | None
    takes_orq_payload: bool  # whether requests get the identity and thread from us
    provider: str


def host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    """The host is an entry or a subdomain of one, on a dot boundary (`evilorq.ai` is not)."""
    host = host.lower().rstrip(".")
    return any(host == pattern or host.endswith("." + pattern) for pattern in patterns)


def _provider(host: str, takes_orq_payload: bool) -> str:
    if takes_orq_payload:
        return ORQ_PROVIDER
    if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")):
        return GenAiProviderNameValues.AZURE_AI_OPENAI.value
    return GenAiProviderNameValues.OPENAI.value


def _route_for(base_url: Any, inject_hosts: tuple[str, ...]) -> Route:
    host = str(getattr(base_url, "host", "") or "")
    scheme = str(getattr(base_url, "scheme", "") or "")
    port = getattr(base_url, "port", None) or _DEFAULT_PORTS.get(scheme)
    orq = bool(host) and host_matches(host, inject_hosts)
    return Route(base_url, host or None, port, orq, _provider(host.lower(), orq))


class RouteCache:
    """Routes per client object, kept on the client itself.

    A dictionary lookup on the client's `__dict__` is the cheapest per-call check; the
    route goes away with the client. The route is decided again when the client's base
    URL object changes (openai allows reassigning `client.base_url`).
    """

    def __init__(self, inject_hosts: tuple[str, ...]) -> None:
        self._inject_hosts = inject_hosts
        # One attribute name per cache: routes from an earlier instrument() (other
        # inject_hosts) are not reused.
        self._attribute = f"_orq_otel_route_{id(self)}"

    def route(self, client: Any) -> Route:
        base_url = getattr(client, "_base_url", None)
        if base_url is None:  # not an openai client we know: no caching
            return _route_for(getattr(client, "base_url", None), self._inject_hosts)
        state = getattr(client, "__dict__", None)
        route = state.get(self._attribute) if state is not None else None
        if route is None or route.base_url is not base_url:
            route = _route_for(base_url, self._inject_hosts)
            if state is not None:
                state[self._attribute] = route
        return route

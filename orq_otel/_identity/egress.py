"""Identity and thread baggage leave the process only toward hosts in `propagate_to`.

HTTP client instrumentations write baggage through a propagator that is never told where
the request goes. So the guard notes the destination where each HTTP client starts a
request (httpx, httpx2, requests, aiohttp), and the baggage-writing propagators (W3C,
Jaeger, OT Trace), wrapped, leave our entries out unless that host is allowed; openai
calls go to no host this way. Where an instrumentation writes headers before our wrapper
can note the host (requests, urllib3), the headers themselves are filtered: by requests'
adapter, and as urllib3 puts each request on the wire. No method another instrumentation
wraps is wrapped here: their `uninstrument()` removes the outermost wrapper, whoever's.
Other baggage entries are never touched, and `propagate.inject()` called by the
application itself (into a queue message, say) has no host to judge: it writes everything,
as before.

Installed once (by `instrument()` or the first identity or thread written) for the life
of the process: modules not imported yet are wrapped when they are.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import wrapt
from opentelemetry import baggage
from opentelemetry.context import Context

from orq_otel._config import current_settings
from orq_otel._identity.destination import LLM_CALLS, back, destination, in_llm_call, toward
from orq_otel._identity.header import is_entry_header_ours, members_without
from orq_otel._identity.hosts import Destinations
from orq_otel._identity.keys import is_guarded_key
from orq_otel._identity.properties import noted_extract
from orq_otel._log import exception_once

__all__ = ["Destinations", "install", "policy", "scoped_context"]

_installed = False
_install_lock = threading.Lock()


_policy: Destinations | None = None


def policy() -> Destinations:
    """The destinations of the settings in force (rebuilt when they change)."""
    global _policy  # noqa: PLW0603 - one policy per process, following the settings
    patterns = current_settings.get().propagate_to
    current = _policy
    if current is None or current.patterns != patterns:
        current = _policy = Destinations(patterns)
    return current


def _blocked(host: str | None) -> bool:
    return host in LLM_CALLS or (host is not None and not policy().allows(host))


def scoped_context(context: Context | None) -> Context | None:
    """The context to write baggage from: without our entries if the destination is barred."""
    if not _blocked(destination.get()):
        return context
    ours = [key for key in baggage.get_all(context) if is_guarded_key(key)]
    for key in ours:
        context = baggage.remove_baggage(key, context)
    return context


# --- propagators ---------------------------------------------------------------------


def _scoped_inject(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    # inject(carrier, context=None, setter=...)
    context = args[1] if len(args) > 1 else kwargs.get("context")
    try:
        scoped = scoped_context(context)
    except Exception:  # noqa: BLE001 - fail closed: no identity rather than a broken call
        exception_once("internal:egress", "orq_otel failed to scope baggage; identity left out")
        scoped = _without_ours(context)
    if scoped is context:
        return wrapped(*args, **kwargs)
    if len(args) > 1:
        return wrapped(args[0], scoped, *args[2:], **kwargs)
    return wrapped(*args, **{**kwargs, "context": scoped})


def _without_ours(context: Context | None) -> Context | None:
    try:
        for key in [key for key in baggage.get_all(context) if is_guarded_key(key)]:
            context = baggage.remove_baggage(key, context)
    except Exception:  # noqa: BLE001 - nothing more we can do; the call goes on
        exception_once("internal:egress-fallback", "orq_otel could not remove identity baggage")
    return context


# --- HTTP clients --------------------------------------------------------------------


def _host_of(url: Any) -> str:
    host = getattr(url, "host", None)  # httpx URL objects, yarl URLs
    if isinstance(host, str):
        return host
    return urlsplit(str(url)).hostname or ""


def _filter_headers(headers: MutableMapping[str, Any], host: str) -> None:
    """Remove our entries from headers already written (in place: they are the request's)."""
    if not _blocked(host):
        return
    for name in list(headers):
        lowered = name.lower()
        if lowered == "baggage":
            remaining = members_without([str(headers[name])], is_guarded_key)
            if remaining:
                headers[name] = remaining
            else:
                del headers[name]
        elif is_entry_header_ours(name, is_guarded_key):
            del headers[name]


# Where a client starts a request: (wrapped's instance, args, kwargs) -> the host, and the
# request's own headers (to filter in place) or None.
HostOf = Callable[[Any, tuple[Any, ...], Any], str]
HeadersOf = Callable[[Any, tuple[Any, ...], Any], Any]


def _no_headers(instance: Any, args: tuple[Any, ...], kwargs: Any) -> None:
    return None


def _noted(host_of: HostOf, headers_of: HeadersOf, instance: Any, args: Any, kwargs: Any) -> Any:
    """The token of the host noted for this request, after filtering its headers (those
    carried over from the hop before a redirect, say)."""
    if in_llm_call():  # an openai call keeps its mark: no host to work out
        return None
    host = host_of(instance, args, kwargs)
    headers = headers_of(instance, args, kwargs)
    if headers is not None:
        _guarded(_filter_headers, headers, host)
    return toward(host)


def _sync_send(host_of: HostOf, headers_of: HeadersOf = _no_headers) -> Callable[..., Any]:
    def send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
        if destination.get() in LLM_CALLS:  # an openai call's own request: nothing to note
            return wrapped(*args, **kwargs)
        token = _noted(host_of, headers_of, instance, args, kwargs)
        try:
            return wrapped(*args, **kwargs)
        finally:
            back(token)

    return send


def _async_send(host_of: HostOf, headers_of: HeadersOf = _no_headers) -> Callable[..., Any]:
    async def send(
        wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...], kwargs: Any
    ) -> Any:
        if destination.get() in LLM_CALLS:  # as in _sync_send
            return await wrapped(*args, **kwargs)
        token = _noted(host_of, headers_of, instance, args, kwargs)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            back(token)

    return send


def _httpx_request(instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    return args[0] if args else kwargs.get("request")


def _httpx_host(instance: Any, args: tuple[Any, ...], kwargs: Any) -> str:
    return _host_of(getattr(_httpx_request(instance, args, kwargs), "url", ""))


def _httpx_headers(instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    return getattr(_httpx_request(instance, args, kwargs), "headers", None)


def _aiohttp_host(instance: Any, args: tuple[Any, ...], kwargs: Any) -> str:
    # ClientSession._request(method, str_or_url, ...), relative to the session's base URL
    url = args[1] if len(args) > 1 else kwargs.get("str_or_url", "")
    host = _host_of(url)
    return host or _host_of(getattr(instance, "_base_url", None) or "")


def _aiohttp_request_host(instance: Any, args: tuple[Any, ...], kwargs: Any) -> str:
    # ClientRequest.send(conn): the host aiohttp connects to is yarl's encoded (IDNA) one.
    return str(getattr(instance.url, "raw_host", None) or _host_of(instance.url))


def _aiohttp_request_headers(instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    return instance.headers


def _requests_send(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    # HTTPAdapter.send(request, ...): below Session.send, where requests' instrumentation
    # has already written its headers; above urllib3, whose instrumentation writes them later.
    request = args[0] if args else kwargs["request"]
    host = _host_of(request.url)
    _guarded(_filter_headers, request.headers, host)
    token = toward(host)
    try:
        return wrapped(*args, **kwargs)
    finally:
        back(token)


def _urllib3_make_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    # HTTPConnectionPool._make_request(conn, method, url, body=None, headers=None, ...): each
    # request urllib3 puts on the wire (retries and redirects included), its headers final.
    # Not `urlopen`: urllib3's instrumentation wraps that, and its `unwrap` removes whatever
    # wrapper is outermost, ours, leaving its own in place for good.
    headers = args[4] if len(args) > 4 else kwargs.get("headers")
    if headers:
        url = args[2] if len(args) > 2 else kwargs.get("url", "")
        copied = dict(headers)  # the caller's mapping is not ours to change
        _guarded(_filter_headers, copied, _urllib3_target(instance, url))
        if copied != headers:  # otherwise urllib3 keeps the caller's own mapping
            if len(args) > 4:
                args = (*args[:4], copied, *args[5:])
            else:
                kwargs = {**kwargs, "headers": copied}
    return wrapped(*args, **kwargs)


def _urllib3_target(pool: Any, url: Any) -> str:
    """The host a request goes to: behind a plain-HTTP proxy the pool is the proxy's, and
    the URL, in absolute form, names the target."""
    text = str(url or "")
    if "://" in text.split("?", 1)[0]:
        return _host_of(text)
    return str(getattr(pool, "host", "") or "")


def _guarded(function: Callable[..., None], *args: Any) -> None:
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - the boundary where our failures stop
        exception_once("internal:egress-headers", "orq_otel failed to scope outgoing headers")


_PATCHES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("opentelemetry.baggage.propagation", "W3CBaggagePropagator.inject", _scoped_inject),
    ("opentelemetry.propagators.jaeger", "JaegerPropagator.inject", _scoped_inject),
    ("opentelemetry.propagators.ot_trace", "OTTracePropagator.inject", _scoped_inject),
    ("opentelemetry.baggage.propagation", "W3CBaggagePropagator.extract", noted_extract),
    ("httpx", "Client.send", _sync_send(_httpx_host)),
    ("httpx", "AsyncClient.send", _async_send(_httpx_host)),
    ("httpx2", "Client.send", _sync_send(_httpx_host)),
    ("httpx2", "AsyncClient.send", _async_send(_httpx_host)),
    # Each request httpx sends, redirects included (`send` sees only the first).
    ("httpx", "Client._send_single_request", _sync_send(_httpx_host, _httpx_headers)),
    ("httpx", "AsyncClient._send_single_request", _async_send(_httpx_host, _httpx_headers)),
    ("httpx2", "Client._send_single_request", _sync_send(_httpx_host, _httpx_headers)),
    ("httpx2", "AsyncClient._send_single_request", _async_send(_httpx_host, _httpx_headers)),
    ("requests.adapters", "HTTPAdapter.send", _requests_send),
    ("urllib3.connectionpool", "HTTPConnectionPool._make_request", _urllib3_make_request),
    ("aiohttp.client", "ClientSession._request", _async_send(_aiohttp_host)),
    # Each request aiohttp sends, redirects included (headers are injected for the first).
    (
        "aiohttp.client_reqrep",
        "ClientRequest.send",
        _async_send(_aiohttp_request_host, _aiohttp_request_headers),
    ),
)


def _wrap(module: Any, attribute: str, wrapper: Callable[..., Any]) -> None:
    try:
        wrapt.wrap_function_wrapper(module, attribute, wrapper)
    except Exception:  # noqa: BLE001 - a library we do not know how to guard: say so once
        exception_once(
            f"egress-wrap:{module.__name__}.{attribute}",
            "orq_otel cannot scope identity baggage for %s.%s",
            module.__name__,
            attribute,
        )


def install() -> None:
    """Guard every baggage-writing propagator and HTTP client, now or when imported."""
    global _installed  # noqa: PLW0603 - once per process
    with _install_lock:
        if _installed:
            return
        _installed = True
    for module, attribute, wrapper in _PATCHES:
        wrapt.register_post_import_hook(
            partial(_wrap, attribute=attribute, wrapper=wrapper), module
        )

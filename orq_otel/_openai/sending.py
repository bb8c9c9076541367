"""Our additions to an orq-host request, made where openai builds each attempt's request.

openai's `request()` copies the options it is given, and copies that copy again for each
attempt, before `_build_request` turns it into an HTTP request. So the body additions go
into that per-attempt copy (the caller's options are never copied by us nor changed), and
the headers into the request openai built, unless it carries them already: a header the
caller set anywhere (`extra_headers`, the client's `default_headers`) wins. Copying the
options ourselves, as before, cost a chat call about 40,000 instructions more.

A call's additions are pending, in the context, only while its `request()` runs
(`Call.__enter__` / `__exit__`); a request that is not an instrumented call clears them,
so an openai call made while another is being sent never gets that one's identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from orq_otel._log import exception_once


class Additions(NamedTuple):
    """What one call adds to its request: top-level body keys and headers."""

    body: Mapping[str, Any]
    headers: Mapping[str, str]


_pending: ContextVar[Additions | None] = ContextVar("orq_otel.pending_additions", default=None)


def pend(additions: Additions | None) -> Token[Additions | None]:
    """Make `additions` (None: none) the ones the next request built here gets."""
    return _pending.set(additions)


def unpend(token: Token[Additions | None]) -> None:
    _pending.reset(token)


def has_pending() -> bool:
    return _pending.get() is not None


def build_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """`BaseClient._build_request(options, *, retries_taken=0)`, with the pending additions."""
    additions = _pending.get()
    if additions is None:
        return wrapped(*args, **kwargs)
    options = args[0] if args else kwargs.get("options")
    try:  # inline rather than `guarded`: this runs on every orq-host call
        if additions.body:
            # Replaced, not changed: the dict's keys may be the caller's `extra_body`.
            options.extra_json = {**(options.extra_json or {}), **additions.body}
    except Exception:  # noqa: BLE001 - the boundary where our failures stop
        exception_once("internal:body", "orq_otel failed to add the identity to a request body")
    request = wrapped(*args, **kwargs)
    try:
        if additions.headers:
            _add_headers(request, additions.headers, options, instance)
    except Exception:  # noqa: BLE001 - the boundary where our failures stop
        exception_once("internal:headers", "orq_otel failed to add a header to a request")
    return request


def _add_headers(request: Any, headers: Mapping[str, str], options: Any, client: Any) -> None:
    # The caller's headers are this request's (`extra_headers`) and the client's
    # (`default_headers`, kept as given in `_custom_headers`): read there, not in the built
    # request, where a lookup makes httpx work out the encoding of every header first.
    caller = (options.headers, getattr(client, "_custom_headers", None))
    given = [names for names in caller if names]
    for name, value in headers.items():
        if not given or not _named(name, given):
            request.headers[name] = value


def _named(name: str, given: list[Any]) -> bool:
    lowered = name.lower()
    return any(
        isinstance(names, Mapping) and any(key.lower() == lowered for key in names)
        for names in given
    )

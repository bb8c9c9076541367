"""The one place we wrap: the openai client's `request()`, sync and async.

Every openai call passes through it, whether made by a resource method, a method bound
before `instrument()`, a `with_raw_response` view, `client.post(...)` or a framework.
The wrappers look up the live instrumentation on every call and pass straight through
when there is none, so `uninstrument()` and a new `instrument()` reach every caller at
once, even one that kept a reference to a wrapped method.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context

from orq_otel._request import with_options

if TYPE_CHECKING:
    from orq_otel._call import Telemetry


@dataclass(frozen=True)
class Patch:
    module: str
    owner: str  # class name in `module`
    method: str
    is_async: bool


PATCHES = (
    Patch("openai._base_client", "SyncAPIClient", "request", is_async=False),
    Patch("openai._base_client", "AsyncAPIClient", "request", is_async=True),
)


class _Live:
    """The instrumentation in force, or None: set by `instrument()`, cleared by `uninstrument()`."""

    telemetry: Telemetry | None = None


live = _Live()

Wrapped = Callable[..., Any]


def sync_request(
    wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = live.telemetry
    request = telemetry.request(args, kwargs) if telemetry is not None else None
    if telemetry is None or request is None:
        return wrapped(*args, **kwargs)
    given, identity = telemetry.caller_identity(request)
    if not given:
        identity = telemetry.identity()
    call = telemetry.start(request, instance, identity)
    if call is None:
        return wrapped(*args, **kwargs)
    if call.send_options is not request.options:
        args, kwargs = with_options(args, kwargs, call.send_options)
    token = call.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as error:
        call.fail(error)
        raise
    finally:
        context.detach(token)
    return call.finish(result)


async def async_request(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    telemetry = live.telemetry
    request = telemetry.request(args, kwargs) if telemetry is not None else None
    if telemetry is None or request is None:
        return await wrapped(*args, **kwargs)
    given, identity = telemetry.caller_identity(request)
    if not given:
        identity = await telemetry.identity_async()
    call = telemetry.start(request, instance, identity)
    if call is None:
        return await wrapped(*args, **kwargs)
    if call.send_options is not request.options:
        args, kwargs = with_options(args, kwargs, call.send_options)
    token = call.activate()
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as error:
        call.fail(error)
        raise
    finally:
        context.detach(token)
    return call.finish(result)


def wrapper_for(patch: Patch) -> Callable[..., Any]:
    return async_request if patch.is_async else sync_request

"""The one place we wrap: the openai client's `request()`, sync and async.

Every openai call passes through it, whether made by a resource method, a method bound
before `instrument()`, a `with_raw_response` view, `client.post(...)` or a framework.
The wrappers look up the live instrumentation on every call and pass straight through
when there is none, so `uninstrument()` and a new `instrument()` reach every caller at
once, even one that kept a reference to a wrapped method.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from opentelemetry import context

from orq_otel._identity.destination import LLM_CALL, LLM_CALL_LINKED, destination
from orq_otel._log import exception_once

if TYPE_CHECKING:
    from orq_otel._openai.call import Call
    from orq_otel._openai.request import OutgoingRequest
    from orq_otel._openai.telemetry import Telemetry


class Patch(NamedTuple):
    module: str
    owner: str  # class name in `module`
    method: str
    is_async: bool


PATCHES = (
    Patch("openai._base_client", "SyncAPIClient", "request", is_async=False),
    Patch("openai._base_client", "AsyncAPIClient", "request", is_async=True),
)


class _Live:
    """The instrumentation in force, if any.

    `instrument()` arms it with a builder; the per-call machinery is imported and built on
    the first call, so that start-up (which auto-instrumentation adds to every process)
    pays only for the wrapping.
    """

    def __init__(self) -> None:
        self.telemetry: Telemetry | None = None
        self._build: Callable[[], Telemetry] | None = None
        self._lock = threading.Lock()

    def arm(self, build: Callable[[], Telemetry]) -> None:
        with self._lock:
            self._build, self.telemetry = build, None

    def disarm(self) -> None:
        with self._lock:
            self._build, self.telemetry = None, None

    def get(self) -> Telemetry | None:
        telemetry = self.telemetry
        if telemetry is not None or self._build is None:
            return telemetry
        with self._lock:
            if self.telemetry is None and self._build is not None:
                try:
                    self.telemetry = self._build()
                except Exception:  # noqa: BLE001 - the boundary where our failures stop
                    exception_once("internal:build", "orq_otel failed to start; calls go on")
                    self._build = None
            return self.telemetry


live = _Live()


# `request(cast_to, options, *, stream=False, stream_cls=None)`, in every openai >= 1.92.
def _options_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("options")


def _with_options(
    args: tuple[Any, ...], kwargs: dict[str, Any], options: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if len(args) > 1:
        return (args[0], options, *args[2:]), kwargs
    return args, {**kwargs, "options": options}


Wrapped = Callable[..., Any]


def sync_request(
    wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    # No baggage of ours goes to an LLM host: the orq router gets the identity in the body.
    mark = destination.set(LLM_CALL)
    try:
        telemetry = live.get()
        request = _request_of(telemetry, args, kwargs)
        if telemetry is None or request is None:
            return wrapped(*args, **kwargs)
        call = telemetry.start(request, instance, telemetry.subject(request))
        if call is None:
            return wrapped(*args, **kwargs)
        args, kwargs = _prepared(call, request, args, kwargs)
        token = call.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            context.detach(token)
        return call.finish(result)
    finally:
        destination.reset(mark)


async def async_request(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    # One coroutine, not two: every await level costs each call a frame.
    mark = destination.set(LLM_CALL)  # as in sync_request
    try:
        telemetry = live.get()
        request = _request_of(telemetry, args, kwargs)
        if telemetry is None or request is None:
            return await wrapped(*args, **kwargs)
        subject = (
            await telemetry.subject_async(request)
            if telemetry.resolver is not None  # an async resolver runs on this loop
            else telemetry.subject(request)
        )
        call = telemetry.start(request, instance, subject)
        if call is None:
            return await wrapped(*args, **kwargs)
        args, kwargs = _prepared(call, request, args, kwargs)
        token = call.activate()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            context.detach(token)
        return call.finish(result)
    finally:
        destination.reset(mark)


def _request_of(
    telemetry: Telemetry | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> OutgoingRequest | None:
    if telemetry is None:
        return None
    return telemetry.request(_options_in(args, kwargs), kwargs.get("stream") is True)


def _prepared(
    call: Call, request: OutgoingRequest, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with our options, and the destination marked for router linking."""
    if call.links_router_trace:
        destination.set(LLM_CALL_LINKED)  # undone with the openai-call mark
    if call.send_options is request.options:
        return args, kwargs
    return _with_options(args, kwargs, call.send_options)


def wrapper_for(patch: Patch) -> Callable[..., Any]:
    return async_request if patch.is_async else sync_request

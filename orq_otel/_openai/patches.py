"""Where we wrap: the openai client's `request()`, sync and async, and `_build_request`.

Every openai call passes through `request()`, whether made by a resource method, a method
bound before `instrument()`, a `with_raw_response` view, `client.post(...)` or a
framework. The wrappers look up the live instrumentation on every call and pass straight
through when there is none, so `uninstrument()` and a new `instrument()` reach every
caller at once, even one that kept a reference to a wrapped method. `_build_request`,
which builds each attempt's HTTP request inside `request()`, gets the call's additions
for an orq host (`sending.py`) and nothing otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from orq_otel._identity.destination import LLM_CALL, destination
from orq_otel._log import exception_once
from orq_otel._openai.sending import build_request, has_pending, pend, unpend

if TYPE_CHECKING:
    from orq_otel._openai.instrumentation import Instrumentation


class Patch(NamedTuple):
    module: str
    class_name: str  # in `module`
    method: str
    wrapper: Callable[..., Any]  # wrapt's (wrapped, instance, args, kwargs) form


class _Live:
    """The instrumentation in force, if any.

    `instrument()` arms it with a builder; the per-call machinery is imported and built on
    the first call, so that start-up (which auto-instrumentation adds to every process)
    pays only for the wrapping.
    """

    def __init__(self) -> None:
        self.instrumentation: Instrumentation | None = None
        self._build: Callable[[], Instrumentation] | None = None
        self._lock = threading.Lock()

    def arm(self, build: Callable[[], Instrumentation]) -> None:
        with self._lock:
            self._build, self.instrumentation = build, None

    def disarm(self) -> None:
        with self._lock:
            self._build, self.instrumentation = None, None

    def get(self) -> Instrumentation | None:
        instrumentation = self.instrumentation
        if instrumentation is not None or self._build is None:
            return instrumentation
        with self._lock:
            if self.instrumentation is None and self._build is not None:
                try:
                    self.instrumentation = self._build()
                except Exception:  # noqa: BLE001 - the boundary where our failures stop
                    exception_once("internal:build", "orq_otel failed to start; calls go on")
                    self._build = None
            return self.instrumentation


live = _Live()


Wrapped = Callable[..., Any]


def sync_request(
    wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    # No baggage of ours goes to an LLM host: the orq router gets the identity in the body.
    mark = destination.set(LLM_CALL)
    try:
        instrumentation = live.get()
        call = None if instrumentation is None else instrumentation.begin(instance, args, kwargs)
        if call is None:
            return _uninstrumented(wrapped, args, kwargs)
        with call:
            result = wrapped(*args, **kwargs)
        return call.deliver(result)
    finally:
        destination.reset(mark)


async def async_request(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    mark = destination.set(LLM_CALL)  # as in sync_request
    try:
        instrumentation = live.get()
        if instrumentation is None:
            return await _uninstrumented_async(wrapped, args, kwargs)
        # Awaited only when it must be: every await level costs each call a frame.
        call = (
            await instrumentation.begin_async(instance, args, kwargs)
            if instrumentation.awaits_resolver
            else instrumentation.begin(instance, args, kwargs)
        )
        if call is None:
            return await _uninstrumented_async(wrapped, args, kwargs)
        with call:
            result = await wrapped(*args, **kwargs)
        return call.deliver(result)
    finally:
        destination.reset(mark)


def _uninstrumented(wrapped: Wrapped, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A request we leave alone: it must not get the additions of a call being sent."""
    if not has_pending():
        return wrapped(*args, **kwargs)
    token = pend(None)
    try:
        return wrapped(*args, **kwargs)
    finally:
        unpend(token)


async def _uninstrumented_async(
    wrapped: Callable[..., Awaitable[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not has_pending():  # as in _uninstrumented
        return await wrapped(*args, **kwargs)
    token = pend(None)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        unpend(token)


PATCHES = (
    Patch("openai._base_client", "SyncAPIClient", "request", sync_request),
    Patch("openai._base_client", "AsyncAPIClient", "request", async_request),
    # Where each attempt's request is built, sync and async: our additions (sending.py).
    Patch("openai._base_client", "BaseClient", "_build_request", build_request),
)

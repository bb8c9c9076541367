"""The openai methods we wrap, and the wrapper for each (sync or async)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOperationNameValues,
)

from orq_otel._call import Endpoint, Telemetry
from orq_otel._stream_observers import (
    CompletionChunkObserver,
    ResponseEventObserver,
    StreamObserver,
)

_CHAT = Endpoint(GenAiOperationNameValues.CHAT.value, True, CompletionChunkObserver)
_TEXT = Endpoint(GenAiOperationNameValues.TEXT_COMPLETION.value, True, CompletionChunkObserver)
_EMBEDDINGS = Endpoint(GenAiOperationNameValues.EMBEDDINGS.value, False, StreamObserver)
_RESPONSES = Endpoint(GenAiOperationNameValues.CHAT.value, False, ResponseEventObserver)


@dataclass(frozen=True)
class Patch:
    module: str
    owner: str  # class name in `module`
    method: str
    endpoint: Endpoint
    is_async: bool


def _both(module: str, sync_owner: str, method: str, endpoint: Endpoint) -> tuple[Patch, Patch]:
    return (
        Patch(module, sync_owner, method, endpoint, False),
        Patch(module, "Async" + sync_owner, method, endpoint, True),
    )


PATCHES: tuple[Patch, ...] = (
    *_both("openai.resources.chat.completions.completions", "Completions", "create", _CHAT),
    *_both("openai.resources.chat.completions.completions", "Completions", "parse", _CHAT),
    *_both("openai.resources.completions", "Completions", "create", _TEXT),
    *_both("openai.resources.embeddings", "Embeddings", "create", _EMBEDDINGS),
    *_both("openai.resources.responses.responses", "Responses", "create", _RESPONSES),
)

Wrapped = Callable[..., Any]


def sync_wrapper(telemetry: Telemetry, endpoint: Endpoint) -> Callable[..., Any]:
    def wrapper(
        wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        identity = telemetry.identity()
        call = telemetry.start(endpoint, getattr(instance, "_client", None), kwargs, identity)
        if call is None:
            return wrapped(*args, **kwargs)
        token = call.activate()
        try:
            result = wrapped(*args, **call.send_kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            context.detach(token)
        return call.finish(result)

    return wrapper


def async_wrapper(telemetry: Telemetry, endpoint: Endpoint) -> Callable[..., Awaitable[Any]]:
    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        identity = await telemetry.identity_async()
        call = telemetry.start(endpoint, getattr(instance, "_client", None), kwargs, identity)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = call.activate()
        try:
            result = await wrapped(*args, **call.send_kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            context.detach(token)
        return call.finish(result)

    return wrapper


def wrapper_for(telemetry: Telemetry, patch: Patch) -> Callable[..., Any]:
    factory = async_wrapper if patch.is_async else sync_wrapper
    return factory(telemetry, patch.endpoint)

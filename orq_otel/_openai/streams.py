"""Proxies that let a call's span outlive the call: streams and raw responses.

Each proxy is a `wrapt.ObjectProxy`, so `isinstance(stream, openai.Stream)`, `.response`
and context-manager use keep working. The span ends exactly once: when the stream is
exhausted, fails, is closed, leaves its `with` block, or is garbage-collected unconsumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy  # not subscriptable at run time before wrapt 2


class ProxiedCall(Protocol):
    """What a proxy needs of its call (`orq_otel._openai.call.Call`, which imports this
    module: a Protocol, so that the two need not import each other)."""

    def end(self, response: Any = None) -> None: ...

    def fail(self, error: BaseException) -> None: ...

    def observe_chunk(self, chunk: Any) -> bool: ...

    def deliver(self, result: Any) -> Any: ...


class _EndsCallOnClose(_Proxy):
    """A proxy whose object, once closed, ends the call's span."""

    def __init__(self, wrapped: Any, call: ProxiedCall) -> None:
        super().__init__(wrapped)
        self._self_call = call

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_call.end()

    async def aclose(self) -> Any:
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_call.end()


class _HTTPResponseProxy(_EndsCallOnClose):
    """The stream's HTTP response: openai's stream helpers close it directly, not the stream."""


class _StreamProxyBase(_EndsCallOnClose):
    def __init__(self, stream: Any, call: ProxiedCall) -> None:
        super().__init__(stream, call)
        self._self_response: Any = None

    @property
    def response(self) -> Any:
        if self._self_response is None:
            self._self_response = _HTTPResponseProxy(self.__wrapped__.response, self._self_call)
        return self._self_response


class StreamProxy(_StreamProxyBase):
    """Wraps `openai.Stream`: the caller sees every chunk it would see without us."""

    def __init__(self, stream: Any, call: ProxiedCall) -> None:
        super().__init__(stream, call)
        # No __del__ here: `for chunk in create(...)` drops the proxy at once and keeps only
        # this generator, which ends the call when it is exhausted or dropped.
        self._self_chunks = _observed_chunks(stream, call)
        next(self._self_chunks)  # primed: from now on, dropping it ends the call

    def __iter__(self) -> Iterator[Any]:
        return self._self_chunks

    def __next__(self) -> Any:
        return next(self._self_chunks)

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(kind, error, tb)
        finally:
            self._self_call.end()


def _observed_chunks(stream: Any, call: ProxiedCall) -> Iterator[Any]:
    """The stream's chunks as the caller sees them; ends the call however the stream ends.

    A generator, not a `__next__` on the proxy: resuming it costs about a third of a
    method call through the proxy, and it runs for every chunk. It first yields None to
    its proxy, so that it is started: a started generator that is dropped gets
    GeneratorExit, which ends the call (an unstarted one would run nothing).
    """
    try:
        yield None
        for chunk in stream:
            if call.observe_chunk(chunk):
                yield chunk
    except GeneratorExit:  # dropped or closed before the stream's end
        call.end()
        raise
    except BaseException as error:
        call.fail(error)
        raise
    call.end()


class AsyncStreamProxy(_StreamProxyBase):
    """Wraps `openai.AsyncStream`, as `StreamProxy` does for sync streams."""

    def __del__(self) -> None:  # dropped unconsumed: the span still ends
        self._self_call.end()

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        call = self._self_call
        while True:
            try:
                chunk = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                call.end()
                raise
            except BaseException as error:
                call.fail(error)
                raise
            if call.observe_chunk(chunk):
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(kind, error, tb)
        finally:
            self._self_call.end()

    async def close(self) -> None:  # AsyncStream.close() is a coroutine
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.end()


class RawResponseProxy(_EndsCallOnClose):
    """Wraps the raw response of `with_raw_response` / `with_streaming_response` calls.

    The body is the caller's to read: the span takes the response's attributes when the
    caller parses it (a parsed stream is proxied in turn), and ends at the latest when
    the response is closed or collected.
    """

    def __init__(self, response: Any, call: ProxiedCall) -> None:
        super().__init__(response, call)
        self._self_parsed: tuple[Any, Any] | None = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        return self._deliver_parsed(parsed)

    def _deliver_parsed(self, parsed: Any) -> Any:
        # openai caches what parse() returns; return the same proxy for the same object.
        if self._self_parsed is not None and self._self_parsed[0] is parsed:
            return self._self_parsed[1]
        delivered = self._self_call.deliver(parsed)
        self._self_parsed = (parsed, delivered)
        return delivered

    def _stream_owns_end(self) -> bool:
        """A parsed stream ends the span itself, however long it outlives this response."""
        return self._self_parsed is not None and self._self_parsed[1] is not self._self_parsed[0]

    def __del__(self) -> None:
        if not self._stream_owns_end():
            self._self_call.end()


class AsyncRawResponseProxy(RawResponseProxy):
    """`RawResponseProxy` for `AsyncAPIResponse`, whose parse() and close() are awaitable."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = await self.__wrapped__.parse(*args, **kwargs)
        return self._deliver_parsed(parsed)

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_call.end()


# --- which proxy wraps which result ----------------------------------------------------


class ResultProxies:
    """Resolved once at `instrument()`; isinstance checks only on the per-call path."""

    def __init__(self) -> None:
        # Imported here, not at the top: importing orq_otel must not import openai.
        import openai  # noqa: PLC0415
        from openai._legacy_response import LegacyAPIResponse  # noqa: PLC0415
        from openai._response import APIResponse, AsyncAPIResponse  # noqa: PLC0415

        self._stream = openai.Stream
        self._async_stream = openai.AsyncStream
        self._legacy = LegacyAPIResponse
        self._api_response = APIResponse
        self._async_api_response = AsyncAPIResponse

    def proxy_for(self, result: Any, call: ProxiedCall, streamed: bool) -> Any:
        """The proxy the caller gets instead of `result`, or None to return it as is."""
        if isinstance(result, self._stream):
            return StreamProxy(result, call)
        if isinstance(result, self._async_stream):
            return AsyncStreamProxy(result, call)
        if isinstance(result, self._async_api_response):
            return AsyncRawResponseProxy(result, call)
        if isinstance(result, self._api_response):
            return RawResponseProxy(result, call)
        if isinstance(result, self._legacy) and streamed:
            return RawResponseProxy(result, call)
        return None

    def is_eager_raw_response(self, result: Any) -> bool:
        """`with_raw_response` without streaming: the body is read, parse() is cached."""
        return isinstance(result, self._legacy)

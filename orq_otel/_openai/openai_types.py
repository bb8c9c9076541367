"""The openai classes a call can return, and what each needs from us."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orq_otel._openai.streams import (
    AsyncRawResponseProxy,
    AsyncStreamProxy,
    RawResponseProxy,
    StreamProxy,
)

if TYPE_CHECKING:
    from orq_otel._openai.call import Call


class OpenAITypes:
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

    def proxy_for(self, result: Any, call: Call) -> Any:
        """The proxy the caller gets instead of `result`, or None to return it as is."""
        if isinstance(result, self._stream):
            return StreamProxy(result, call)
        if isinstance(result, self._async_stream):
            return AsyncStreamProxy(result, call)
        if isinstance(result, self._async_api_response):
            return AsyncRawResponseProxy(result, call)
        if isinstance(result, self._api_response):
            return RawResponseProxy(result, call)
        if isinstance(result, self._legacy) and call.streamed:
            return RawResponseProxy(result, call)
        return None

    def is_eager_raw_response(self, result: Any) -> bool:
        """`with_raw_response` without streaming: the body is read, parse() is cached."""
        return isinstance(result, self._legacy)

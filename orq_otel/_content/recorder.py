"""One call's content, from its request to its end, and what every call shares.

The order is the conventions' (util-genai reverses the last two): decide the mode, build
the parts, redact, cap, hand them to the completion hook, then set the attributes and
emit the event. With the ceiling at `no_content` and no hook, no `ContentCapture` is made
(`orq_otel._openai.content`): this module is not imported and calls pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import LogRecord, get_logger
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS
from opentelemetry.trace import Span, set_span_in_context

from orq_otel._config import Settings
from orq_otel._content import chat, responses
from orq_otel._content.assembly import Budget, CompletionAssembler, ResponseAssembler
from orq_otel._content.bounds import Cut, bound
from orq_otel._content.hooks import call_hook
from orq_otel._content.modes import Mode
from orq_otel._content.policy import ContentCall, decide
from orq_otel._content.redaction import redact
from orq_otel._log import warn_once
from orq_otel._names import CONTENT_TRUNCATED, IDENTITY_ID
from orq_otel._version import __version__

EVENT_NAME = "gen_ai.client.inference.operation.details"
_ATTRIBUTES = {
    "system_instructions": gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS,
    "input": gen_ai.GEN_AI_INPUT_MESSAGES,
    "output": gen_ai.GEN_AI_OUTPUT_MESSAGES,
    "tool_definitions": gen_ai.GEN_AI_TOOL_DEFINITIONS,
}


def api_of(operation: str, top_level_fields: bool) -> str | None:
    """Which API an endpoint is (embeddings carry no content in the conventions)."""
    if top_level_fields:
        return "responses"
    return {"chat": "chat_completions", "text_completion": "completions"}.get(operation)


class ContentCapture:
    """The ceiling, the hook and the event logger: made once per `instrument()`."""

    def __init__(self, settings: Settings, ceiling: Mode, hook: Any, logger_provider: Any) -> None:
        self.settings = settings
        self.ceiling = ceiling
        self.hook = hook
        self.logger = (
            get_logger(__name__, __version__, logger_provider) if ceiling.on_event else None
        )

    def recorder(
        self,
        span: Span,
        request: Any,
        identity: Any,
        trusted: bool,
        attributes: Mapping[str, Any],
    ) -> Recorder | None:
        """The recorder of a call (an `OutgoingRequest`), or None when it records nothing.

        `trusted`: the identity was set in this process, given in the body, or verified.
        """
        try:
            return self._recorder(span, request, identity, trusted, attributes)
        except Exception as error:  # noqa: BLE001 - the boundary where our failures stop
            warn_once("content:start", "orq_otel failed to read content (%s)", type(error).__name__)
            return None

    def _recorder(
        self, span: Span, request: Any, identity: Any, trusted: bool, attributes: Mapping[str, Any]
    ) -> Recorder | None:
        endpoint = request.endpoint
        api = api_of(endpoint.operation, endpoint.payload == "top_level")
        if api is None:
            return None
        model = attributes.get(gen_ai.GEN_AI_REQUEST_MODEL)
        address = attributes.get(SERVER_ADDRESS)
        call = ContentCall(endpoint.operation, api, model, address, request.stream)
        body = request.body
        allowed = decide(Mode.SPAN_AND_EVENT, self.settings, identity, trusted, call)
        mode = self.ceiling & allowed
        if not mode.on_span or not span.is_recording():
            mode &= Mode.EVENT_ONLY  # an unsampled span takes no content: nobody would see it
        with_hook = self.hook is not None and bool(allowed)
        if not mode and not with_hook:
            return None
        return Recorder(
            self,
            mode=mode,
            with_hook=with_hook,
            body=body,
            call=call,
            identity=identity,
            attributes=attributes,
        )


class Recorder:
    """A call that records content: its input (read at once: the caller may change its
    lists afterwards), its streamed output, and what it records when it ends."""

    def __init__(
        self,
        capture: ContentCapture,
        *,
        mode: Mode,
        with_hook: bool,
        body: Mapping[str, Any],
        call: ContentCall,
        identity: Any,
        attributes: Mapping[str, Any],
    ) -> None:
        self._capture = capture
        self._mode = mode
        self._with_hook = with_hook
        self._identity = identity
        self._attributes = attributes
        self._api = call.api
        settings = capture.settings
        self._inline = settings.content_blobs == "inline"
        self._budget = Budget(settings.content_max_bytes)
        self._assembler: CompletionAssembler | ResponseAssembler | None = None
        self._response: Any = None  # a whole response; a stream's output is assembled
        self._content = self._request(body)

    def _request(self, body: Mapping[str, Any]) -> dict[str, list[Any]]:
        if self._api == "responses":
            return {
                "system_instructions": responses.system_instructions(body),
                "input": responses.request(body, self._inline),
                "tool_definitions": responses.tool_definitions(body),
            }
        if self._api == "completions":
            return {"input": chat.completion_request(body)}
        return {
            "input": chat.chat_request(body, self._inline),
            "tool_definitions": chat.tool_definitions(body),
        }

    def on_chunk(self, chunk: Any) -> None:
        try:
            self._on_chunk(chunk)
        except Exception as error:  # noqa: BLE001 - the boundary where our failures stop
            warn_once(
                "content:chunk",
                "orq_otel failed to read a chunk's content (%s)",
                type(error).__name__,
            )

    def _on_chunk(self, chunk: Any) -> None:
        assembler = self._assembler
        if assembler is None:
            if self._api == "responses":
                assembler = ResponseAssembler(self._budget, self._inline)
            else:
                assembler = CompletionAssembler(self._budget)
            self._assembler = assembler
        assembler.on_chunk(chunk)

    def _output(self, response: Any) -> list[Any]:
        if response is None:
            return self._assembler.messages() if self._assembler is not None else []
        if self._api == "responses":
            return responses.response(response, self._inline)
        if self._api == "completions":
            return chat.completion_response(response)
        return chat.chat_response(response)

    def on_response(self, response: Any) -> None:
        """The response (None at the end of a stream, whose chunks were heard already)."""
        self._response = response

    def on_end(self, span: Span) -> None:
        """Record the content (once, before the span ends); never raises."""
        try:
            self._finish(span, self._response)
        except Exception as error:  # noqa: BLE001 - the boundary where our failures stop
            warn_once(
                "content:finish", "orq_otel failed to record content (%s)", type(error).__name__
            )

    def _finish(self, span: Span, response: Any) -> None:
        settings = self._capture.settings
        content = {**self._content, "output": self._output(response)}
        redacted = redact(
            content, self._identity, settings.content_redactor, settings.content_redact_identity
        )
        if redacted is None:
            return
        cut = Cut(self._budget.cut)
        bounded = bound(redacted, settings.content_max_length, settings.content_max_bytes, cut)
        record = self._event(span) if self._mode.on_event else None
        if self._with_hook:
            call_hook(
                self._capture.hook, {key: value[0] for key, value in bounded.items()}, span, record
            )
        if self._mode.on_span:
            span.set_attributes({_ATTRIBUTES[key]: text for key, (_, text) in bounded.items()})
        if cut.cut:
            span.set_attribute(CONTENT_TRUNCATED, True)
        if record is not None and self._capture.logger is not None:
            structured = {_ATTRIBUTES[key]: items for key, (items, _) in bounded.items()}
            record.attributes = {**(record.attributes or {}), **structured}
            self._capture.logger.emit(record)

    def _event(self, span: Span) -> LogRecord:
        attributes = dict(self._attributes)
        if self._identity is not None:
            attributes[IDENTITY_ID] = self._identity.id
        return LogRecord(
            event_name=EVENT_NAME, attributes=attributes, context=set_span_in_context(span)
        )

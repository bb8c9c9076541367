"""What a stream tells us chunk by chunk: ids, model, finish reasons and usage.

Called for every chunk, so each observer does a few attribute reads and nothing else.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.util.types import AttributeValue

from orq_otel._attributes import Usage, response_attributes, usage_of


class StreamObserver:
    """Base: remembers the first chunk time and the usage; shows every chunk."""

    def __init__(self, hides_usage: bool) -> None:
        # True when we asked for usage on the caller's behalf: the usage-only chunk is ours.
        self.hides_usage = hides_usage
        self.first_chunk_at: float | None = None
        self.usage: Usage | None = None
        self._attributes: dict[str, AttributeValue] = {}

    def observe(self, chunk: Any) -> bool:
        return True

    def attributes(self) -> dict[str, AttributeValue]:
        return dict(self._attributes)


class CompletionChunkObserver(StreamObserver):
    """Chat Completions and (legacy) Completions chunks."""

    def __init__(self, hides_usage: bool) -> None:
        super().__init__(hides_usage)
        self._finish_reasons: dict[int, str] = {}

    def observe(self, chunk: Any) -> bool:
        if not self._attributes:
            self._attributes = response_attributes(chunk)
            self._attributes.pop(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, None)
        choices = chunk.choices
        for choice in choices:
            if choice.finish_reason:
                self._finish_reasons[choice.index] = choice.finish_reason
        usage = chunk.usage
        if usage is not None:
            self.usage = usage_of(usage)
            return not (self.hides_usage and not choices)
        if self.hides_usage:
            # The server says "usage": null on every chunk once usage is asked for; without
            # us it would not have, so the chunk must not show it as explicitly set either.
            chunk.__pydantic_fields_set__.discard("usage")
        return True

    def attributes(self) -> dict[str, AttributeValue]:
        attributes = dict(self._attributes)
        if self._finish_reasons:
            attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(
                reason for _, reason in sorted(self._finish_reasons.items())
            )
        return attributes


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponseEventObserver(StreamObserver):
    """Responses API events: the response object arrives with the first and last events."""

    def observe(self, chunk: Any) -> bool:
        event_type = getattr(chunk, "type", None)
        if event_type == "response.created" or event_type in _FINAL_EVENTS:
            response = chunk.response
            self._attributes = response_attributes(response)
            if event_type in _FINAL_EVENTS:
                self.usage = usage_of(response.usage)
            else:  # "in_progress" is no finish reason: the stream may still be cut short
                self._attributes.pop(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, None)
        return True

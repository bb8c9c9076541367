"""What a stream tells us chunk by chunk: ids, model, finish reasons and usage.

Called for every chunk, so each observer does a few attribute reads and nothing else. A
chunk reaches the caller exactly as the server sent it; the one exception is a chunk that
exists only because we asked for usage (usage and no choices), which is hidden.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.util.types import AttributeValue

from orq_otel._openai.attributes import Usage, response_attributes, usage_of


class StreamObserver:
    """Base: remembers the first chunk time and the usage; shows every chunk."""

    def __init__(self, hides_usage: bool) -> None:
        # True when we asked for usage on the caller's behalf: the usage-only chunk is ours.
        self.hides_usage = hides_usage
        self.first_chunk_at: float | None = None
        self.usage: Usage | None = None
        self._attributes: dict[str, AttributeValue] = {}

    def admit(self, chunk: Any) -> bool:
        """Note what the chunk says; False for a chunk the caller must not see."""
        return True

    def attributes(self) -> dict[str, AttributeValue]:
        return dict(self._attributes)


class CompletionChunkObserver(StreamObserver):
    """Chat Completions and (legacy) Completions chunks."""

    def __init__(self, hides_usage: bool) -> None:
        super().__init__(hides_usage)
        self._finish_reasons: dict[int, str] = {}

    def admit(self, chunk: Any) -> bool:
        attributes = self._attributes
        # Each from the first chunk that has it: Azure's first chunk has an empty id and
        # model (it carries only the prompt filter results).
        if gen_ai.GEN_AI_RESPONSE_ID not in attributes and chunk.id:
            attributes[gen_ai.GEN_AI_RESPONSE_ID] = chunk.id
        if gen_ai.GEN_AI_RESPONSE_MODEL not in attributes and chunk.model:
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = chunk.model
        choices = chunk.choices
        for choice in choices:
            if choice.finish_reason:
                self._finish_reasons[choice.index] = choice.finish_reason
        usage = chunk.usage
        if usage is None:
            return True
        self.usage = usage_of(usage)
        # Hidden only when it exists solely because we asked: usage and no choices. A
        # content chunk keeps its usage, which some servers (DeepSeek) send unasked.
        return bool(choices) or not self.hides_usage

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

    def admit(self, chunk: Any) -> bool:
        event_type = getattr(chunk, "type", None)
        if event_type == "response.created" or event_type in _FINAL_EVENTS:
            response = chunk.response
            self._attributes = response_attributes(response)
            if event_type in _FINAL_EVENTS:
                self.usage = usage_of(response.usage)
            else:  # "in_progress" is no finish reason: the stream may still be cut short
                self._attributes.pop(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, None)
        return True


class TranscriptEventObserver(StreamObserver):
    """Audio transcription events: the usage arrives with `transcript.text.done`."""

    def admit(self, chunk: Any) -> bool:
        if getattr(chunk, "type", None) == "transcript.text.done":
            self.usage = usage_of(getattr(chunk, "usage", None))
        return True

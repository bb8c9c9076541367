"""Span attributes of a call: at its start from the request (and who it is for), at its
end from the response. The identity's and thread's own are `orq_otel._identity.attributes`.

No prompt or completion content is read here: content capture records it beside these,
through the call's recorders (`orq_otel._openai.call.CallRecorder`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.util.types import AttributeValue

from orq_otel._identity.attributes import IdentityAttributes, thread_attributes
from orq_otel._identity.model import Identity, Thread
from orq_otel._openai.hosts import Route

# Request keyword -> attribute, for plain numeric parameters.
_NUMERIC_PARAMETERS = {
    "temperature": gen_ai.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": gen_ai.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": gen_ai.GEN_AI_REQUEST_SEED,
    "max_tokens": gen_ai.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": gen_ai.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": gen_ai.GEN_AI_REQUEST_MAX_TOKENS,
    "dimensions": gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
}


def _stop_sequences(value: object) -> AttributeValue | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _choice_count(value: object) -> AttributeValue | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value != 1 else None


def _encoding_formats(value: object) -> AttributeValue | None:
    return (value,) if isinstance(value, str) else None


def _stream(value: object) -> AttributeValue | None:
    return True if value is True else None


# Request keyword -> (attribute, converter to an attribute value or None to skip).
_OTHER_PARAMETERS: dict[str, tuple[str, Callable[[object], AttributeValue | None]]] = {
    "n": (gen_ai.GEN_AI_REQUEST_CHOICE_COUNT, _choice_count),
    "stop": (gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES, _stop_sequences),
    "encoding_format": (gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS, _encoding_formats),
    "stream": (gen_ai.GEN_AI_REQUEST_STREAM, _stream),
}


def common_attributes(
    operation: str, route: Route, body: Mapping[str, Any]
) -> dict[str, AttributeValue]:
    """What a call's span and every one of its metric points share."""
    common: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: route.provider,
    }
    if route.address is not None:
        common[SERVER_ADDRESS] = route.address
    if route.port is not None:
        common[SERVER_PORT] = route.port
    model = body.get("model")
    if isinstance(model, str):
        common[gen_ai.GEN_AI_REQUEST_MODEL] = model
    return common


def span_name(common: Mapping[str, AttributeValue]) -> str:
    """`{gen_ai.operation.name} {gen_ai.request.model}`, or the operation alone."""
    operation = str(common[gen_ai.GEN_AI_OPERATION_NAME])
    model = common.get(gen_ai.GEN_AI_REQUEST_MODEL)
    return f"{operation} {model}" if model is not None else operation


class StartAttributes:
    """A span's attributes at its start: the request's and who and what it is for."""

    def __init__(self, record_email: bool) -> None:
        self._identity = IdentityAttributes(record_email)

    def of(
        self,
        common: Mapping[str, AttributeValue],
        body: Mapping[str, Any],
        identity: Identity | None,
        thread: Thread | None,
    ) -> dict[str, AttributeValue]:
        attributes = {**common, **request_attributes(body)}
        if identity is not None:
            attributes.update(self._identity.of(identity))
        if thread is not None:
            attributes.update(thread_attributes(thread))
        return attributes


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """GenAI request attributes for the parameters the caller gave.

    One pass over the (few) keywords given, rather than a lookup per known parameter.
    """
    attributes: dict[str, AttributeValue] = {}
    for name, value in kwargs.items():
        key = _NUMERIC_PARAMETERS.get(name)
        if key is not None:
            # openai's NOT_GIVEN / omit sentinels and None are not parameters the caller gave.
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[key] = value
            continue
        other = _OTHER_PARAMETERS.get(name)
        if other is not None:
            converted = other[1](value)
            if converted is not None:
                attributes[other[0]] = converted
    return attributes


class Usage(NamedTuple):
    """Token counts as reported by the server (None where not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_of(usage: object) -> Usage | None:
    """Usage from a Chat/Completions/Embeddings `usage` or a Responses `usage` object."""
    if usage is None:
        return None
    fields = fields_of(usage)
    if "prompt_tokens" in fields:  # Chat Completions, Completions, Embeddings
        return Usage(
            _int_or_none(fields["prompt_tokens"]),
            _int_or_none(fields.get("completion_tokens")),
            _int_or_none(_field(fields.get("prompt_tokens_details"), "cached_tokens")),
            _int_or_none(_field(fields.get("completion_tokens_details"), "reasoning_tokens")),
        )
    if "input_tokens" in fields:  # Responses API
        return Usage(
            _int_or_none(fields["input_tokens"]),
            _int_or_none(fields.get("output_tokens")),
            _int_or_none(_field(fields.get("input_tokens_details"), "cached_tokens")),
            _int_or_none(_field(fields.get("output_tokens_details"), "reasoning_tokens")),
        )
    return None


def _field(details: object, name: str) -> object:
    return fields_of(details).get(name)


def usage_attributes(usage: Usage) -> dict[str, AttributeValue]:
    pairs = (
        (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
        (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
        (gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cached_input_tokens),
        (gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_output_tokens),
    )
    return {key: value for key, value in pairs if value is not None}


def fields_of(model: object) -> Mapping[str, Any]:
    """An openai model's fields, read from the instance: a field a response lacks (an
    embeddings response has no `id`, no `choices`) would go through pydantic's slow
    `__getattr__`, which raises, on every call."""
    fields = getattr(model, "__dict__", None)
    return fields if isinstance(fields, dict) else {}


def finish_reasons_of(response: object) -> tuple[str, ...]:
    """Finish reasons of a completion, or the status of a Responses API response."""
    fields = fields_of(response)
    choices = fields.get("choices")
    if isinstance(choices, list):
        return tuple(
            str(reason) for choice in choices if (reason := fields_of(choice).get("finish_reason"))
        )
    status = fields.get("status")
    return (status,) if isinstance(status, str) else ()


def response_attributes(response: object) -> dict[str, AttributeValue]:
    """Attributes of a complete (non-streamed) response object."""
    attributes: dict[str, AttributeValue] = {}
    fields = fields_of(response)
    response_id = fields.get("id")
    if isinstance(response_id, str):
        attributes[gen_ai.GEN_AI_RESPONSE_ID] = response_id
    model = fields.get("model")
    if isinstance(model, str):
        attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = model
    reasons = finish_reasons_of(response)
    if reasons:
        attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return attributes

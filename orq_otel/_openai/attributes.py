"""Span attributes of a call: from the request body and the response (the identity's and
the thread's are `orq_otel._identity.attributes`).

No prompt or completion content is ever read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    pass


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


@dataclass
class Usage:
    """Token counts as reported by the server (None where not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_of(usage: object) -> Usage | None:
    """Usage from a Chat/Completions/Embeddings `usage` or a Responses `usage` object."""
    if usage is None:
        return None
    # Read the instance's own fields: a missing attribute on a pydantic model goes through
    # a slow __getattr__ that raises, and this runs on every call.
    fields = getattr(usage, "__dict__", {})
    if "prompt_tokens" in fields:  # Chat Completions, Completions, Embeddings
        return Usage(
            _int(fields["prompt_tokens"]),
            _int(fields.get("completion_tokens")),
            _int(_field(fields.get("prompt_tokens_details"), "cached_tokens")),
            _int(_field(fields.get("completion_tokens_details"), "reasoning_tokens")),
        )
    if "input_tokens" in fields:  # Responses API
        return Usage(
            _int(fields["input_tokens"]),
            _int(fields.get("output_tokens")),
            _int(_field(fields.get("input_tokens_details"), "cached_tokens")),
            _int(_field(fields.get("output_tokens_details"), "reasoning_tokens")),
        )
    return None


def _field(details: object, name: str) -> object:
    return getattr(details, "__dict__", {}).get(name)


def usage_attributes(usage: Usage) -> dict[str, AttributeValue]:
    pairs = (
        (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
        (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
        (gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cached_input_tokens),
        (gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_output_tokens),
    )
    return {key: value for key, value in pairs if value is not None}


def finish_reasons_of(response: object) -> tuple[str, ...]:
    """Finish reasons of a completion, or the status of a Responses API response."""
    choices = getattr(response, "choices", None)
    if isinstance(choices, list):
        return tuple(
            str(reason) for choice in choices if (reason := getattr(choice, "finish_reason", None))
        )
    status = getattr(response, "status", None)
    return (status,) if isinstance(status, str) else ()


def response_attributes(response: object) -> dict[str, AttributeValue]:
    """Attributes of a complete (non-streamed) response object."""
    attributes: dict[str, AttributeValue] = {}
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str):
        attributes[gen_ai.GEN_AI_RESPONSE_ID] = response_id
    model = getattr(response, "model", None)
    if isinstance(model, str):
        attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = model
    reasons = finish_reasons_of(response)
    if reasons:
        attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return attributes

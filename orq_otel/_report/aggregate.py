"""Per-identity totals from LLM spans: memory grows with the groups, never with the spans."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ddsketch import DDSketch
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID

from orq_otel._names import COST, IDENTITY_ID, IDENTITY_METADATA_PREFIX, IDENTITY_TAGS
from orq_otel._report.readers import SpanRecord

_FALLBACK_IDS = (ENDUSER_ID, USER_ID)
NO_GROUP = "(none)"
TOP_MODELS = 3


class Latencies:
    """Exact percentiles for small groups; a DDSketch (1 % relative error) past EXACT_LIMIT.

    Either way its size is bounded: memory does not grow with the number of spans.
    """

    EXACT_LIMIT = 1024

    def __init__(self) -> None:
        self._values: list[float] | None = []
        self._sketch = DDSketch(relative_accuracy=0.01)

    def add(self, value: float) -> None:
        self._sketch.add(value)
        if self._values is not None:
            self._values.append(value)
            if len(self._values) > self.EXACT_LIMIT:
                self._values = None

    def quantile(self, q: float) -> float | None:
        if self._values is not None:
            if not self._values:
                return None
            ordered = sorted(self._values)  # nearest rank
            return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)], 1)
        value = self._sketch.get_quantile_value(q)
        return None if value is None else round(float(value), 1)


@dataclass
class GroupStats:
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    priced: int = 0  # requests with a known cost
    latency_ms: Latencies = field(default_factory=Latencies)
    models: Counter[str] = field(default_factory=Counter)

    def add(self, span: SpanRecord) -> None:
        attributes = span.attributes
        self.requests += 1
        self.errors += span.error
        self.input_tokens += _int_or_zero(attributes.get(GEN_AI_USAGE_INPUT_TOKENS))
        self.output_tokens += _int_or_zero(attributes.get(GEN_AI_USAGE_OUTPUT_TOKENS))
        cost = attributes.get(COST)
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            self.cost += cost
            self.priced += 1
        self.latency_ms.add(max(span.end_ns - span.start_ns, 0) / 1e6)
        model = attributes.get(GEN_AI_RESPONSE_MODEL) or attributes.get(GEN_AI_REQUEST_MODEL)
        if isinstance(model, str):
            self.models[model] += 1

    def row(self, group: str) -> dict[str, Any]:
        return {
            "group": group,
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost, 6) if self.priced else None,
            "p50_ms": self.latency_ms.quantile(0.5),
            "p95_ms": self.latency_ms.quantile(0.95),
            "top_models": [model for model, _ in self.models.most_common(TOP_MODELS)],
        }


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def group_keys(attributes: Any, by: str) -> Iterator[str]:
    """The groups a span belongs to: its identity id, each of its tags, or a metadata value."""
    if by == "identity":
        identity = attributes.get(IDENTITY_ID)
        for fallback in _FALLBACK_IDS:
            identity = identity or attributes.get(fallback)
        yield str(identity) if identity else NO_GROUP
    elif by == "tag":
        tags = attributes.get(IDENTITY_TAGS)
        if isinstance(tags, str):  # Jaeger may render arrays as JSON text
            tags = _json_list(tags)
        yield from ([str(tag) for tag in tags] if tags else [NO_GROUP])
    else:  # "metadata.<key>"
        value = attributes.get(IDENTITY_METADATA_PREFIX + by.removeprefix("metadata."))
        yield NO_GROUP if value is None else str(value)


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [text]


def aggregate(
    spans: Iterable[SpanRecord], by: str, since_ns: int | None, until_ns: int | None
) -> dict[str, GroupStats]:
    groups: dict[str, GroupStats] = {}
    for span in spans:
        if since_ns is not None and span.start_ns < since_ns:
            continue
        if until_ns is not None and span.start_ns >= until_ns:
            continue
        for key in group_keys(span.attributes, by):
            stats = groups.get(key)
            if stats is None:
                stats = groups[key] = GroupStats()
            stats.add(span)
    return groups

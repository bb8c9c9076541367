"""The GenAI client metrics, created once per `instrument()`."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_TOKEN_USAGE,
)
from opentelemetry.util.types import AttributeValue

from orq_otel._names import CLIENT_COST, IDENTITY_OVERFLOW, IDENTITY_REJECTED

if TYPE_CHECKING:  # a type only: importing orq_otel's call machinery at start-up costs time
    from orq_otel._openai.attributes import Usage
    from orq_otel._openai.metric_attributes import PointAttributes

# Bucket boundaries the GenAI semantic conventions recommend for these two histograms.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)  # fmt: skip
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                    20.48, 40.96, 81.92)  # fmt: skip


# Attribute sets the cost totals keep apart; later ones share the SDK's overflow set.
MAX_COST_SERIES = 2000
_OVERFLOW_SET = frozenset({("otel.metric.overflow", True)})


class CostTotals:
    """USD per attribute set, summed here and reported by an observable counter.

    A call's cost is one more metric point, and the SDK cleans and hashes every attribute
    of every point (about 11 µs a point here); a sum kept by attribute set costs a
    fraction of that. The counter is cumulative, as a counter's sum is; the SDK turns it
    into deltas for exporters that want them.
    """

    def __init__(self, max_series: int = MAX_COST_SERIES) -> None:
        self._totals: dict[frozenset[tuple[str, AttributeValue]], float] = {}
        self._max_series = max_series
        self._lock = threading.Lock()

    def add(self, usd: float, key: frozenset[tuple[str, AttributeValue]]) -> None:
        """Add `usd` to the total of the attribute set `key` (`frozenset(attributes.items())`)."""
        with self._lock:
            if key not in self._totals and len(self._totals) >= self._max_series:
                key = _OVERFLOW_SET
            self._totals[key] = self._totals.get(key, 0.0) + usd

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            totals = list(self._totals.items())
        return [Observation(usd, dict(key)) for key, usd in totals]


class Instruments:
    """`gen_ai.client.token.usage` and `gen_ai.client.operation.duration`."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self.duration = meter.create_histogram(
            GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.costs = CostTotals()
        meter.create_observable_counter(
            CLIENT_COST,
            callbacks=[self.costs.observe],
            unit="{USD}",
            description="Estimated cost of GenAI calls in US dollars (genai-prices).",
        )
        self.overflowed = meter.create_counter(
            IDENTITY_OVERFLOW,
            unit="{call}",
            description="Calls whose identity was recorded on metrics as the overflow value "
            "(more identities than metric_identity_limit).",
        )
        self.rejected = meter.create_counter(
            IDENTITY_REJECTED,
            unit="{identity}",
            description="Identities in baggage not trusted (identity_secret set), by reason.",
        )

    def record(
        self,
        points: PointAttributes,
        seconds: float,
        usage: Usage | None,
        cost: float | None = None,
    ) -> None:
        self.duration.record(seconds, points.duration)
        if cost is not None:
            self.costs.add(cost, points.cost_key)
        if usage is None:
            return
        if usage.input_tokens is not None:
            self.token_usage.record(usage.input_tokens, points.input_tokens)
        if usage.output_tokens is not None:
            self.token_usage.record(usage.output_tokens, points.output_tokens)
